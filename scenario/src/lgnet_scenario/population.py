"""The scenario's fictional people: households of two cities of the programme, generated deterministically.

The default sizes reproduce what the programme published: Trieste, 106 beneficiaries in 29 households, 47 of
them minors; Torino, more than 160 people (164 here), about 60 minors (61). Everything is pure: the same seed and
sizes give the same people, so the scenario knows the truth the reports must show.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import date, timedelta

THIRD_COUNTRIES = ["NG", "AF", "PK", "BD", "MA", "TN", "EG", "SN", "AL", "ER", "SO", "GM", "ML", "CI", "PE", "GN"]
LANGUAGES = {
    "NG": "en",
    "AF": "fa",
    "PK": "ur",
    "BD": "bn",
    "MA": "ar",
    "TN": "ar",
    "EG": "ar",
    "SN": "fr",
    "AL": "sq",
    "ER": "ti",
    "SO": "so",
    "GM": "en",
    "ML": "fr",
    "CI": "fr",
    "PE": "es",
    "GN": "fr",
}
GIVEN = [
    "Amina",
    "Bashir",
    "Chiamaka",
    "Dawit",
    "Esi",
    "Farid",
    "Grace",
    "Hamza",
    "Idris",
    "Jamila",
    "Kofi",
    "Layla",
    "Musa",
    "Nadia",
    "Omar",
    "Precious",
    "Rahim",
    "Salma",
    "Tariq",
    "Uche",
    "Wafa",
    "Yusuf",
    "Zainab",
]
FAMILY = [
    "Abebe",
    "Bangura",
    "Camara",
    "Diallo",
    "Eze",
    "Fofana",
    "Haddad",
    "Iqbal",
    "Jallow",
    "Kamara",
    "Lahlou",
    "Mensah",
    "Nwosu",
    "Okafor",
    "Rahman",
    "Sesay",
    "Touré",
    "Uddin",
    "Yilmaz",
]
VULNERABILITIES = [
    "woman_social_emergency",
    "psychiatric_condition",
    "addiction",
    "elderly",
    "illiterate",
    "disability",
]
REFERRAL_SOURCES = ["social_district", "territory", "reception_exit", "self", "partner"]


@dataclass(frozen=True)
class CityPlan:
    city: str
    persons: int
    households: int
    minors: int
    partners: tuple[str, ...]


DEFAULT_CITIES = (
    CityPlan("trieste", persons=106, households=29, minors=47, partners=("coop-carso", "coop-duino")),
    CityPlan("torino", persons=164, households=52, minors=61, partners=("coop-aurora", "coop-borgo")),
)


@dataclass
class Person:
    person_id: str
    given_name: str
    family_name: str
    birth_date: date
    sex: str
    nationality: str
    minor: bool


@dataclass
class Household:
    household_id: str
    case_id: str
    referral_id: str
    city: str
    partner: str
    members: list[Person]
    channel: str  # desk | mobile_unit
    action_area: str
    referral_source: str
    vulnerabilities: list[str]
    housing_situation: str
    monthly_income_cents: int
    employment_at_opening: str
    employment_at_close: str
    accessibility_needs: bool
    specialist_support: bool
    opened_on: date
    # what happens later in the year
    will_decline_first: bool = False
    outcome: str = "housing_autonomy"
    closes: bool = True

    @property
    def vulnerabilities_by_person(self) -> dict[str, list[str]]:
        """Whose each vulnerability is: being elderly is the oldest member's, the others the reference adult's (the
        first member): a child is never counted under a parent's vulnerability."""
        oldest = min(self.members, key=lambda p: p.birth_date)
        whose: dict[str, list[str]] = {}
        for v in self.vulnerabilities:
            whose.setdefault((oldest if v == "elderly" else self.members[0]).person_id, []).append(v)
        return {person: sorted(codes) for person, codes in sorted(whose.items())}

    @property
    def reference(self) -> Person:
        return self.members[0]

    @property
    def minors(self) -> int:
        return sum(p.minor for p in self.members)

    @property
    def housing_need(self) -> bool:
        return self.action_area == "housing_inclusion"


def _split(total: int, parts: int, rng: random.Random, minimum: int) -> list[int]:
    """`total` split into `parts` numbers of at least `minimum`, at random but reproducibly."""
    sizes = [minimum] * parts
    for _ in range(total - minimum * parts):
        sizes[rng.randrange(parts)] += 1
    return sizes


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def city_households(plan: CityPlan, opened_from: date, seed: int) -> list[Household]:
    rng = random.Random(f"{seed}:{plan.city}")
    adults = plan.persons - plan.minors
    if adults < plan.households:
        raise ValueError(f"{plan.city}: every household needs an adult ({adults} adults, {plan.households} households)")
    adult_sizes = _split(adults, plan.households, rng, 1)
    # Minors only in households that are families; a quarter of the households are single adults.
    singles = {i for i in range(plan.households) if adult_sizes[i] == 1 and rng.random() < 0.35}
    families = [i for i in range(plan.households) if i not in singles] or list(range(plan.households))
    minor_sizes = [0] * plan.households
    for _ in range(plan.minors):
        minor_sizes[rng.choice(families)] += 1
    households = []
    for i in range(plan.households):
        nationality = rng.choice(THIRD_COUNTRIES)
        family = rng.choice(FAMILY)
        opened_on = opened_from + timedelta(days=rng.randrange(0, 120))
        members = []
        for _ in range(adult_sizes[i]):
            age = rng.randrange(19, 68)
            members.append(_person(rng, family, nationality, opened_on, age))
        for _ in range(minor_sizes[i]):
            members.append(_person(rng, family, nationality, opened_on, rng.randrange(0, 17)))
        vulnerabilities = sorted(set(rng.sample(VULNERABILITIES, rng.choice([0, 1, 1, 2]))))
        if members[0].sex == "female" and minor_sizes[i] and rng.random() < 0.4:
            vulnerabilities = sorted({*vulnerabilities, "woman_social_emergency"})
        households.append(
            Household(
                household_id=_uuid(rng),
                case_id=_uuid(rng),
                referral_id=_uuid(rng),
                city=plan.city,
                partner=plan.partners[i % len(plan.partners)],
                members=members,
                channel="mobile_unit" if rng.random() < 0.3 else "desk",
                action_area="housing_inclusion" if rng.random() < 0.8 else "taking_charge",
                referral_source=rng.choice(REFERRAL_SOURCES),
                vulnerabilities=vulnerabilities,
                housing_situation=rng.choice(["homeless", "reception_project", "precarious", "facing_eviction"]),
                monthly_income_cents=rng.randrange(0, 160_000, 5_000),
                employment_at_opening=rng.choice(["unemployed", "unemployed", "training", "employed_fixed_term"]),
                employment_at_close=rng.choice(["employed_fixed_term", "employed_permanent", "unemployed", "training"]),
                accessibility_needs=rng.random() < 0.1,
                specialist_support="psychiatric_condition" in vulnerabilities or "addiction" in vulnerabilities,
                opened_on=opened_on,
                will_decline_first=rng.random() < 0.1,
                outcome=rng.choice(
                    ["housing_autonomy", "housing_autonomy", "housing_autonomy", "moved_away", "dropped_out"]
                ),
                closes=rng.random() < 0.6,
            )
        )
    return households


def _person(rng: random.Random, family: str, nationality: str, on: date, age: int) -> Person:
    birth = on - timedelta(days=age * 365 + rng.randrange(30, 330))
    sex = rng.choice(["female", "male"])
    return Person(
        person_id=_uuid(rng),
        given_name=rng.choice(GIVEN),
        family_name=family,
        birth_date=birth,
        sex=sex,
        nationality=nationality,
        minor=age < 18,
    )


def population(
    cities: tuple[CityPlan, ...] = DEFAULT_CITIES, *, opened_from: date = date(2026, 1, 12), seed: int = 2026
) -> dict[str, list[Household]]:
    return {plan.city: city_households(plan, opened_from, seed) for plan in cities}


def scaled(factor: float) -> tuple[CityPlan, ...]:
    """Smaller (or larger) cities with the same proportions, for quick runs and tests."""
    out = []
    for p in DEFAULT_CITIES:
        households = max(2, round(p.households * factor))
        persons = max(households + 1, round(p.persons * factor))
        minors = min(persons - households, round(p.minors * factor))
        out.append(CityPlan(p.city, persons, households, minors, p.partners))
    return tuple(out)
