"""The scenario's fictional people: households of two cities of the programme, generated deterministically.

The default sizes reproduce what the programme published: Trieste, 106 beneficiaries in 29 households, 47 of
them minors; Torino, more than 160 people (164 here), about 60 minors (61). Everything is pure: the same seed and
sizes give the same people, so the scenario knows the truth the reports must show.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
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
class MemberChange:
    """A change of a household's members during the year: `person` joins (`birth`, `reunification`) on `on`, after
    the case opened, or leaves (`autonomy`) on the day the case closes (`on` None: today, when the scenario plays)."""

    person: Person
    change: str  # joined | left
    reason: str  # a code of member_joined_reason / member_left_reason
    on: date | None


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
    changes: list[MemberChange] = field(default_factory=list)  # `members` are everyone the case reaches

    @property
    def initial_members(self) -> list[Person]:
        """The members the household is formed with: not those who join later."""
        later = {c.person.person_id for c in self.changes if c.change == "joined"}
        return [p for p in self.members if p.person_id not in later]

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
    _changes(households, random.Random(f"{seed}:{plan.city}:changes"))
    return households


def _changes(households: list[Household], rng: random.Random) -> None:
    """Some households change during the year, chosen from the seed with an rng of their own (the people drawn
    before stay the same): two babies are born (a family's youngest child, born after the case opened, joins), a
    relative is reunited (an adult of the household joins after the opening) and an adult leaves on reaching
    autonomy. Only adults other than the reference person with no vulnerability of their own join or leave (the
    assessment at the opening names members only), never in the last household (its last member is erased)."""
    candidates = households[:-1]

    def free_adults(h: Household) -> list[Person]:
        taken = {c.person.person_id for c in h.changes}
        return [
            p for p in h.members[1:]
            if not p.minor and p.person_id not in h.vulnerabilities_by_person and p.person_id not in taken
        ]  # fmt: skip

    families = [h for h in candidates if h.members[-1].minor]
    for h in rng.sample(families, min(2, len(families))):
        baby = h.members[-1]
        baby.birth_date = h.opened_on + timedelta(days=rng.randrange(20, 120))
        h.changes.append(MemberChange(baby, "joined", "birth", baby.birth_date + timedelta(days=rng.randrange(3, 15))))
    for change, reason in (("joined", "reunification"), ("left", "autonomy")):
        pool = [h for h in candidates if free_adults(h) and not h.changes]
        if pool:
            h = rng.choice(pool)
            person = free_adults(h)[-1]
            on = h.opened_on + timedelta(days=rng.randrange(30, 150)) if change == "joined" else None
            h.changes.append(MemberChange(person, change, reason, on))


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
