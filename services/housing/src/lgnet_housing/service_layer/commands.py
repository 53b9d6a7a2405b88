"""What callers ask housing to do (HTTP bodies). Validation errors name the field (problem+json)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from lgnet_shared.events.housing import (
    CLEARABLE,
    Clearable,
    DeclinedBy,
    HoldReasonCode,
    HousingKind,
    LeaseType,
    PlacementEndReason,
    SupportLevel,
)
from lgnet_shared.events.types import Code, Id, IsoDate, StrictCents
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationInfo, field_validator

from lgnet_housing.domain.rules import CityRules

Restriction = Literal["women_only", "men_only", "families_only", "singles_only", "no_minors"]
Language = Annotated[str, Field(pattern=r"^[a-z]{2,3}$")]


class Command(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def later_than(value: date | None, info: ValidationInfo, earlier: str) -> date | None:
    """A field's rule against an earlier field, so that the error names this field (a model-wide rule is reported at
    `body`). An earlier field that failed its own validation is absent from `info.data`: reported on its own."""
    first = info.data.get(earlier)
    if value is not None and first is not None and value <= first:
        raise ValueError(f"must be after {earlier}")
    return value


class ListOpportunity(Command):
    opportunity_id: Id
    partner: Id | None = Field(default=None, description="Owning partner; a partner lists its own (default)")
    kind: HousingKind
    capacity: StrictInt = Field(ge=1, le=50)
    bedrooms: StrictInt = Field(ge=0, le=30)
    accessible: StrictBool = False
    monthly_rent_cents: StrictCents
    available_from: IsoDate
    available_until: IsoDate | None = None
    support_level: SupportLevel = SupportLevel.NONE
    restrictions: list[Restriction] = Field(default_factory=list)
    area: Code | None = None
    languages: list[Language] = Field(default_factory=list)

    @field_validator("available_until")
    @classmethod
    def _after_from(cls, until: date | None, info: ValidationInfo) -> date | None:
        return later_than(until, info, "available_from")


class UpdateOpportunity(Command):
    """Only the fields given change; a field given as null is not changed either. `clear` names the optional fields
    to empty (`available_until`: open-ended from now on; `area`: none)."""

    kind: HousingKind | None = None
    capacity: StrictInt | None = Field(default=None, ge=1, le=50)
    bedrooms: StrictInt | None = Field(default=None, ge=0, le=30)
    accessible: StrictBool | None = None
    monthly_rent_cents: StrictCents | None = None
    available_from: IsoDate | None = None
    available_until: IsoDate | None = None
    support_level: SupportLevel | None = None
    restrictions: list[Restriction] | None = None
    area: Code | None = None
    languages: list[Language] | None = None
    clear: list[Clearable] = Field(
        default_factory=list,
        max_length=len(CLEARABLE),
        description="Optional fields to empty: available_until (open-ended from now on), area. Not given as well.",
    )
    above_affordable: StrictBool = Field(
        default=False,
        description="Staff: raise the rent of housing a household accepted or lives in above what it affords (the"
        " affordability rule), its rent support covering the difference; otherwise such a raise is a 409",
    )

    @field_validator("clear")
    @classmethod
    def _not_given_too(cls, clear: list[str], info: ValidationInfo) -> list[str]:
        both = [name for name in clear if info.data.get(name) is not None]
        if both:
            raise ValueError(f"{', '.join(both)} is both given and cleared: give a value or clear it")
        return list(dict.fromkeys(clear))


class WithdrawOpportunity(Command):
    reason: Code
    on: IsoDate | None = None


class AcceptMatch(Command):
    on: IsoDate | None = None


class DeclineMatch(Command):
    by: DeclinedBy
    reason: Code = Field(description="Coded reason, e.g. too_far, too_expensive, household_not_suitable")
    on: IsoDate | None = None


class StartPlacement(Command):
    started_on: IsoDate


class SignLease(Command):
    lease_type: LeaseType
    monthly_rent_cents: StrictCents
    deposit_cents: StrictCents
    start_date: IsoDate
    end_date: IsoDate | None = None
    signed_on: IsoDate

    @field_validator("end_date")
    @classmethod
    def _after_start(cls, end: date | None, info: ValidationInfo) -> date | None:
        return later_than(end, info, "start_date")


class EndPlacement(Command):
    reason: PlacementEndReason
    ended_on: IsoDate


class ParkHousehold(Command):
    reason: HoldReasonCode = Field(
        description="hospitalised, temporarily_away, documents_pending, household_request, other (hold_reason)"
    )
    until: IsoDate


class UnparkHousehold(Command):
    on: IsoDate | None = None


class StalledCheck(Command):
    on: IsoDate | None = Field(
        default=None,
        description="The day to count waiting to and compare holds with (default today; at most one day after"
        " the server's UTC date, for clock skew and time zones). What the check creates is dated today.",
    )


class SetRules(CityRules):
    """The whole of the city's rules, and optionally the version they were read at."""

    city: str | None = Field(default=None, description="The city read (GET's `city`), sent back: the caller's only")
    version: Annotated[StrictInt, Field(ge=0)] | None = Field(
        default=None,
        description="The version read (GET's `version`, its ETag): saved only if it is still the recorded one, as with"
        " If-Match (which wins when both are given); a client sending back what it read is safe by default",
    )

    def rules(self) -> CityRules:
        return CityRules.model_validate(self.model_dump(exclude={"version", "city"}))
