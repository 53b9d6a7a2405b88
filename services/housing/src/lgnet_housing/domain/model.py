"""What matching is about: a waiting Household (built from intake's events) and a HousingOpportunity (the
catalogue). Pure values; no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from lgnet_shared.events.housing import HousingKind, SupportLevel

# Restriction codes an opportunity may carry; each one is a hard rule of the same name (domain/rules.py).
RESTRICTIONS = ("women_only", "men_only", "families_only", "singles_only", "no_minors")
ADULT_AGE = 18


def age_on(birth_date: date, today: date) -> int:
    years = today.year - birth_date.year
    return years - ((today.month, today.day) < (birth_date.month, birth_date.day))


@dataclass(frozen=True)
class Member:
    person_id: str
    birth_date: date | None  # in clear only in intake's older events; sealed since person_registered v3
    sex: str  # intake's Sex: female, male, other, undisclosed
    languages: tuple[str, ...] = ()
    minor: bool | None = None  # intake's latest word (registration, case opening, correction) when no birth date

    def is_minor(self, today: date) -> bool:
        if self.birth_date is not None:
            return age_on(self.birth_date, today) < ADULT_AGE
        return bool(self.minor)


@dataclass(frozen=True)
class Household:
    """A household on the waiting list: an open case with a housing need, composition known, needs assessed."""

    household_id: str
    case_id: str
    city: str
    partner: str
    members: tuple[Member, ...]
    waiting_since: date
    monthly_income_cents: int = 0
    accessibility_needs: bool = False
    specialist_support: bool = False
    eviction_date: date | None = None
    vulnerabilities: tuple[str, ...] = ()
    housing_situation: str | None = None

    @property
    def size(self) -> int:
        return len(self.members)

    def minors(self, today: date) -> int:
        return sum(1 for m in self.members if m.is_minor(today))

    @property
    def all_women(self) -> bool:
        return bool(self.members) and all(m.sex == "female" for m in self.members)

    @property
    def all_men(self) -> bool:
        return bool(self.members) and all(m.sex == "male" for m in self.members)

    def is_family(self, today: date) -> bool:
        """A family: at least one minor living with at least one adult."""
        minors = self.minors(today)
        return 0 < minors < self.size

    @property
    def languages(self) -> frozenset[str]:
        return frozenset(lang for m in self.members for lang in m.languages)


@dataclass(frozen=True)
class Opportunity:
    """A HousingOpportunity of the catalogue: one opportunity houses one household."""

    opportunity_id: str
    city: str
    partner: str
    kind: HousingKind
    capacity: int
    bedrooms: int
    accessible: bool
    monthly_rent_cents: int
    available_from: date
    available_until: date | None = None
    support_level: SupportLevel = SupportLevel.NONE
    restrictions: frozenset[str] = field(default_factory=frozenset)
    area: str | None = None
    languages: frozenset[str] = field(default_factory=frozenset)
