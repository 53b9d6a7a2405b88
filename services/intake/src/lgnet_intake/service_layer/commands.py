"""Commands intake accepts from desk operators (HTTP). Partners send the same through Kafka as the
`lgnet.partner.*` events of the shared catalogue; identifying fields then arrive sealed, not plain."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from lgnet_shared.events.intake import ReferralOutcomeCode, Sex
from lgnet_shared.events.partner import CaseOpeningSubmitted
from lgnet_shared.events.types import Country, Id, IsoDate
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints

# Surrounding spaces are not part of a name: a name of spaces only was accepted, and the person then showed as
# "(not visible to you)" in their own household.
Text = Annotated[str, StringConstraints(strip_whitespace=True), Field(min_length=1, max_length=200)]


class Command(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PlainIdentity(Command):
    """Identifying fields in clear (HTTP over TLS only); intake seals them with the person's key at once."""

    given_name: Text | None = None
    family_name: Text | None = None
    fiscal_code: Annotated[str, Field(min_length=16, max_length=16)] | None = None
    # its shape is a rule of the person's (`lgnet_shared.phones`), checked with the others: `inbound.checked_person`
    phone: Annotated[str, Field(min_length=1, max_length=30)] | None = None
    address: Text | None = None


class RegisterPerson(Command):
    person_id: Id
    birth_date: IsoDate
    sex: Sex
    nationality: Country
    languages: list[Annotated[str, Field(pattern=r"^[a-z]{2,3}$")]] = Field(default_factory=list)
    literate: StrictBool | None = None
    identity: PlainIdentity = Field(default_factory=PlainIdentity)

    birth_date_field: ClassVar[str] = "birth_date"  # what a refusal of the birth date names: the field as sent


class CheckRegistration(RegisterPerson):
    """`POST /persons/check`'s body: a registration whose birth date, sex or nationality may be left out (a field its
    caller refused already: a day the calendar has not, a country's name no country has), so that the rules of the
    rest are checked all the same (`inbound.checked_person`)."""

    birth_date: IsoDate | None = None  # type: ignore[assignment]
    sex: Sex | None = None  # type: ignore[assignment]
    nationality: Country | None = None  # type: ignore[assignment]


class SealedRegistration(RegisterPerson):
    """A partner's registration whose birth date came sealed (`identity.birth_date`, alone or in `identity.all`): its
    refusals name that field, the one the partner sent."""

    birth_date_field: ClassVar[str] = "identity.birth_date"


# What a correction may take away: a wrong phone or address could be replaced, never removed (an outside test at the
# desk); a fiscal code typed for a person who has none, and literacy back to not recorded, neither (the desk, again).
# The name and surname stay required: named, they are refused saying so (`Intake._cleared`), not as an unknown value.
Clearable = Literal[
    "identity.phone", "identity.address", "identity.fiscal_code", "literate", "identity.given_name",
    "identity.family_name",
]  # fmt: skip


class UpdatePerson(Command):
    birth_date: IsoDate | None = None
    sex: Sex | None = None
    nationality: Country | None = None
    languages: list[Annotated[str, Field(pattern=r"^[a-z]{2,3}$")]] | None = None
    literate: StrictBool | None = None
    identity: PlainIdentity | None = None
    clear: list[Clearable] | None = Field(
        default=None,
        description="what to take away: identity.phone, identity.address, identity.fiscal_code (the person no longer"
        " matches on it: not found by it, not merged with nor flagged as a registration with it), literate (back to"
        " not recorded, null). identity.given_name and identity.family_name stay required: refused",
    )


class MergePersons(Command):
    merged_person_id: Id


class OpenCase(CaseOpeningSubmitted):
    """Staff name the partner the case is assigned to; a partner opening a case is assigned itself."""

    partner: Id | None = None


class TransferCase(Command):
    to_partner: Id
    on: IsoDate


class RecordReferralOutcome(Command):
    outcome: ReferralOutcomeCode = Field(
        description="taken_in_charge, redirected, not_eligible, withdrawn (referral_outcome)"
    )
    case_id: Id | None = None
