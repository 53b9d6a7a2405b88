"""What the gatekeeper checks in a partner's record that needs no state: signature, envelope, claims, type, schema
(strictly), sealing, and the rules of a person and of each event that depend only on what the record says.

The gatekeeper (entrypoints/gatekeeper.py) and the use cases (handlers.py) call these functions on every record;
`lgnet-partner check` (entrypoints/partner_check.py) calls the very same ones on a partner's files, offline, so the
kit refuses exactly what intake would refuse, with the same kind, field and reason. What needs intake's state
(unknown person, another partner's case, an id already used) only the gatekeeper, or its sandbox, can judge.
"""

from __future__ import annotations

import contextlib
import enum
import json
import re
from collections.abc import Awaitable, Callable, Iterator
from datetime import date

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from lgnet_shared import codec, pii
from lgnet_shared.countries import check_languages
from lgnet_shared.envelope import Envelope, check_partner_record
from lgnet_shared.errors import ContractError, Forbidden, UnknownEventType, from_pydantic, noted
from lgnet_shared.events import Event, Sealed, versions
from lgnet_shared.events import civic as civic_in
from lgnet_shared.events import outreach as outreach_in
from lgnet_shared.events import partner as cmd_in
from lgnet_shared.events.types import Part
from lgnet_shared.storable import text_problem
from pydantic import ValidationError

from lgnet_intake.domain import appointments, cases, civic, outreach, people
from lgnet_intake.service_layer import commands as cmd

# What partners may send: the gatekeeper has a handler for each, and refuses any other type.
ACCEPTED: tuple[type[Event], ...] = (
    cmd_in.PersonRegistrationSubmitted,
    cmd_in.HouseholdFormationSubmitted,
    cmd_in.HouseholdMemberChangeSubmitted,
    cmd_in.HouseholdReferencePersonChangeSubmitted,
    cmd_in.ReferralSubmitted,
    cmd_in.CaseOpeningSubmitted,
    cmd_in.NeedsAssessmentSubmitted,
    cmd_in.PlanSubmitted,
    cmd_in.PlanObjectiveUpdateSubmitted,
    cmd_in.EmploymentReported,
    cmd_in.ConsentReported,
    cmd_in.CaseClosureSubmitted,
    *civic.SUBMISSIONS,
)
# Outreach (#19): outings, street contacts and their link to a person, appointments (entrypoints/outreach_gate.py).
ACCEPTED += (
    outreach_in.OutingSubmitted,
    outreach_in.StreetContactSubmitted,
    outreach_in.StreetContactLinkSubmitted,
    outreach_in.AppointmentBookingSubmitted,
    outreach_in.AppointmentChangeSubmitted,
)
V1_ACCEPTED_UNTIL = date.fromisoformat(cmd_in.BIRTH_DATE_V1_UNTIL)
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
ALL = "all"  # registration v3: the whole identity sealed at once, in `identity.all`
WHOLE_LIMIT = 8192  # characters: the six identifying fields at their longest, with room for JSON escapes
PrivateKeyOf = Callable[[str], Awaitable[X25519PrivateKey | None]]
Destroyed = Callable[[str], Awaitable[bool]]


PARTNER_SOURCE = "/partners/"


class Unkeyed(enum.Enum):
    UNKEYED = "unkeyed"  # a bare value (the kit's): no Kafka record, so no record key to check


UNKEYED = Unkeyed.UNKEYED


def check_claims(env: Envelope, sender: str | None, signer_city: str | None) -> None:
    """The record speaks for its signer: the partner it names is the signer, so is the partner its `source` names
    (`/partners/<id>[/...]`: intake keeps one event per (source, id), so another partner's source would take that
    partner's event ids and its real events would be dropped as duplicates), the city the signer's city. First, the
    record is a partner's CloudEvent: it names its partner and carries no attribute only facts carry."""
    check_partner_record(env)
    if env.partner != sender:
        raise Forbidden("partner", f"the record is signed by {sender}, not {env.partner}")
    if env.source.startswith(PARTNER_SOURCE) and env.source[len(PARTNER_SOURCE) :].split("/", 1)[0] != sender:
        raise Forbidden(
            "source", f"the record is signed by {sender}: its source is {PARTNER_SOURCE}{sender}, not another partner's"
        )
    if env.city != signer_city:
        raise Forbidden("city", f"partner {sender} works in {signer_city}, not {env.city}")


def check_partition_key(env: Envelope, sender: str | None, key: bytes | Unkeyed | None = None) -> None:
    """docs/partners.md, "The envelope": `partitionkey` and the Kafka record key are the signer's partner id. Keyed
    otherwise, its records land on other partitions (out of order with the ones before them: a household processed
    before the registration it names), and a key naming another partner is not the signer's to use. `key` is the
    record's Kafka key (`None`: the record has none, which places it on any partition), or `UNKEYED` for a bare
    value that has no record (the kit's). The value sent is never repeated: a key may be anything, a person's
    fiscal code included. Records left on the retired shared topic are read as before (the gatekeeper leaves
    them out: sent before the rule)."""
    if env.partitionkey != sender:
        raise Forbidden(
            "partitionkey",
            f"must be your partner id {sender} (the record is signed by {sender}): intake reads each partner's records"
            " in order by it",
        )
    if key is not UNKEYED and key != (sender or "").encode():
        raise Forbidden(
            "partitionkey",
            f"the Kafka record key must be your partner id {sender}, as partitionkey: keyed otherwise, your records"
            " land on other partitions and are processed out of order",
        )


def read(env: Envelope) -> Event:
    """The record's event, as the gatekeeper's consumer reads it: an accepted type, JSON types strictly."""
    if env.type not in {m.type for m in ACCEPTED}:
        raise UnknownEventType("type", f"{env.type!r} is not accepted here")
    return codec.decode(env, strict=True)


async def open_identity(identity: Part, private_key: PrivateKeyOf, destroyed: Destroyed) -> dict[str, str]:
    """Each sealed field opened with intake's key its `kid` names (HPKE, info `lgnet:<kid>:<field>`); a whole
    identity sealed at once (`identity.all`, registration v3) gives its fields."""
    check_identity_form(identity)
    opened: dict[str, str] = {}
    for field, sealed in identity:
        if sealed is None:
            continue
        assert isinstance(sealed, Sealed)
        check_sealed_header(field, sealed)
        key_id = sealed.kid.removeprefix(pii.HPKE_PREFIX)
        key = await private_key(key_id)
        if key is None:
            if await destroyed(key_id):
                raise ContractError(
                    f"identity.{field}.kid", "intake key retired and destroyed: seal to the key GET /inbound-key gives"
                )
            raise ContractError(f"identity.{field}.kid", "unknown intake key id")
        try:
            opened[field] = pii.open_from(key, sealed, field)
        except ValueError as exc:
            raise ContractError(f"identity.{field}", str(exc)) from None
        if reason := text_problem(opened[field]):  # as HTTP bodies are read: a NUL cannot be stored as text
            raise ContractError(f"identity.{field}", reason)
    return fields_of(opened[ALL]) if ALL in opened else opened


def check_sealed_header(field: str, sealed: Sealed) -> None:
    """A sealed value as docs/partners.md, "Sealing", makes it: `kid` is `hpke:` + intake's key id, `n` is empty
    (HPKE carries its own nonce in `ct`). The gatekeeper and the offline kit hold it to this one rule."""
    if not sealed.kid.startswith(pii.HPKE_PREFIX):
        raise ContractError(
            f"identity.{field}.kid", f"must be {pii.HPKE_PREFIX}<key_id>, the key_id GET /inbound-key gives"
        )
    if sealed.n != "":
        raise ContractError(f"identity.{field}.n", "must be the empty string (HPKE's ct carries what it needs)")


def check_identity_form(identity: Part) -> None:
    """The whole identity sealed at once leaves no field to send one by one beside it (which would win?)."""
    beside = [field for field, sealed in identity if sealed is not None and field != ALL]
    if getattr(identity, ALL, None) is not None and beside:
        raise ContractError(
            f"identity.{ALL}",
            f"holds the whole identity: leave out {', '.join(beside)}, or send each field alone without `{ALL}`",
        )


class _Members(list[tuple[str, object]]):
    """A JSON object's members in their order, duplicates kept (told apart from a JSON array)."""


def fields_of(whole: str) -> dict[str, str]:
    """The fields of an identity sealed at once: a JSON object of strings, each member an identifying field given
    once. A member is named in errors as the field it is (`identity.given_name`), as when sealed alone; a name that
    is no identifying field is never repeated (it is the partner's text, and may be anything)."""
    if len(whole) > WHOLE_LIMIT:
        raise ContractError(f"identity.{ALL}", f"opened, it is longer than {WHOLE_LIMIT} characters")
    try:
        doc = json.loads(whole, object_pairs_hook=_Members)
    except (ValueError, RecursionError):  # not JSON, an integer of too many digits, nesting too deep
        raise ContractError(
            f"identity.{ALL}", 'opened, it is not JSON: seal an object such as {"birth_date": "1991-04-02"}'
        ) from None
    if not isinstance(doc, _Members):
        raise ContractError(f"identity.{ALL}", "opened, it is not a JSON object of identifying fields")
    fields: dict[str, str] = {}
    for name, value in doc:
        if name not in cmd_in.IDENTITY_FIELDS:
            raise ContractError(
                f"identity.{ALL}",
                f"holds a member that is not an identifying field ({', '.join(cmd_in.IDENTITY_FIELDS)})",
            )
        if name in fields:
            raise ContractError(f"identity.{name}", f"given twice in `{ALL}`")
        if not isinstance(value, str):
            raise ContractError(f"identity.{name}", "must be a string")
        if reason := text_problem(value):
            raise ContractError(f"identity.{name}", reason)
        fields[name] = value
    return fields


def written_version(env: Envelope) -> int:
    """The version the partner wrote (its `dataschema`), the latest when it names none."""
    if env.dataschema and ":v" in env.dataschema:
        tail = env.dataschema.rsplit(":v", 1)[1]
        if tail.isdigit():
            return int(tail)
    return versions(env.type)[-1]


def clear_birth_date_allowed(env: Envelope, today: date) -> bool:
    """Registration v1 carries the birth date in clear: accepted until its deprecation date, refused after."""
    if written_version(env) >= 2:
        return False
    if today > V1_ACCEPTED_UNTIL:
        raise ContractError(
            "birth_date",
            f"registration v1 (birth date in clear) is no longer accepted since {V1_ACCEPTED_UNTIL.isoformat()}:"
            " send v2 with identity.birth_date sealed to intake's key",
        )
    return True


def sealed_registration(
    c: cmd_in.PersonRegistrationSubmitted,
    opened: dict[str, str],
    *,
    clear_birth_date: bool = False,
    today: date | None = None,
) -> cmd.RegisterPerson:
    """A partner's registration, its identity already opened from HPKE by the gatekeeper. From v2 the birth date
    is sealed (`identity.birth_date`); only v1 records (`clear_birth_date`) may carry it in clear. An opened value of
    the wrong form is refused with the person's rules (`checked_person` as of `today`, given) broken by the rest:
    every field at fault in one answer, as over HTTP."""
    opened = dict(opened)
    sealed_birth = opened.pop("birth_date", None)
    if c.birth_date is not None and not clear_birth_date:
        raise ContractError("birth_date", "v2 carries the birth date sealed in identity.birth_date, never in clear")
    if sealed_birth is not None:
        try:  # fromisoformat alone also reads 19910402 and 1991-W14-2
            if not ISO_DATE.fullmatch(sealed_birth):
                raise ValueError(sealed_birth)
            birth_date = date.fromisoformat(sealed_birth)
        except ValueError:
            raise ContractError("identity.birth_date", "not an ISO 8601 date (YYYY-MM-DD)") from None
    elif c.birth_date is not None:
        birth_date = c.birth_date
    else:
        raise ContractError("identity.birth_date", "missing: seal the birth date to intake's key")
    command = cmd.RegisterPerson if sealed_birth is None else cmd.SealedRegistration

    def registration(identity: cmd.PlainIdentity) -> cmd.RegisterPerson:
        return command(
            person_id=c.person_id,
            birth_date=birth_date,
            sex=c.sex,
            nationality=c.nationality,
            languages=c.languages,
            literate=c.literate,
            identity=identity,
        )

    try:
        identity = cmd.PlainIdentity(**opened)
    except ValidationError as exc:  # an opened value too long or short (e.g. a fiscal code of 15 characters)
        form = from_pydantic(exc, "identity")
        if today is None:
            raise form from None
        at_fault = {str(e["loc"][0]) for e in exc.errors() if e["loc"]}
        rest = {f: v for f, v in opened.items() if f not in at_fault}
        broken: list[ContractError] = []
        with noted(broken), contextlib.suppress(ValidationError):  # the rest, under the person's rules
            checked_person(registration(cmd.PlainIdentity(**rest)), today)
        raise ContractError.all_of([*broken, form, *form.also]) from None
    return registration(identity)


def checked_person(c: cmd.RegisterPerson, today: date) -> tuple[str, bool, dict[str, str]]:
    """The rules of a person: birth date, nationality, phone, fiscal code (format, check character, birthplace,
    agreement with birth date and sex). Returns the normalised nationality, whether it is a third country, the plain
    identity. Every rule is checked: the error raised is the first broken, carrying the others
    (`ContractError.all_of`)."""
    broken: list[ContractError] = []
    with noted(broken):
        people.check_pseudonymous_id(c.person_id, "person_id")
    born: date | None = c.birth_date  # left out of a check only (`cmd.CheckRegistration`), as are sex and nationality
    if born is not None:
        with noted(broken):
            people.check_birth_date(born, today, c.birth_date_field)
    nationality, third = "", False
    if c.nationality is not None:
        with noted(broken):
            nationality, third = people.nationality(c.nationality)
    with noted(broken):
        check_languages(c.languages)
    plain = c.identity.model_dump(exclude_none=True)
    if "phone" in plain:
        with noted(broken):
            plain["phone"] = people.phone(plain["phone"])
    if "fiscal_code" in plain and born is not None:
        sex = c.sex.value if c.sex is not None else ""
        with noted(broken):
            plain["fiscal_code"] = people.fiscal_code(
                plain["fiscal_code"], birth_date=born, sex=sex, field="identity.fiscal_code"
            )
    if broken:
        raise ContractError.all_of(broken)
    return nationality, third, plain


def check_household(c: cmd_in.HouseholdFormationSubmitted) -> None:
    people.check_pseudonymous_id(c.household_id, "household_id")
    if c.reference_person_id not in c.member_ids:
        raise ContractError("reference_person_id", "must be one of member_ids")
    if len(set(c.member_ids)) != len(c.member_ids):
        raise ContractError("member_ids", "lists a person twice")


def check_referrer(c: cmd_in.ReferralSubmitted) -> None:
    """Who referred the household (a service's id): in clear on intake's topic for good, never a person's data."""
    if c.referrer is not None:
        people.check_pseudonymous_id(c.referrer, "referrer")


def check_not_future(on: date, today: date, field: str) -> None:
    if on > today:
        raise ContractError(field, "is in the future")


def check_dated(on: date, field: str, today: date, earliest: date) -> None:
    """A fact of the taking charge that has happened: not ahead of today, not before the programme."""
    check_not_future(on, today, field)
    cases.check_within_programme(on, field, earliest)


# The dated facts with no rule of their own but `check_dated`: the event type and its date's field.
DATED = {
    cmd_in.ConsentReported: "recorded_on",
    cmd_in.EmploymentReported: "as_of",
    cmd_in.HouseholdMemberChangeSubmitted: "on",
    cmd_in.HouseholdReferencePersonChangeSubmitted: "on",
}


# The new identifier each partner event chooses (a person's and a household's have rules of their own above): in clear
# on every topic and never erased, refused holding identifying data, by the kit offline as by the gatekeeper.
NEW_IDS: dict[type[Event], str] = {
    cmd_in.ReferralSubmitted: "referral_id",
    cmd_in.CaseOpeningSubmitted: "case_id",
    cmd_in.PlanSubmitted: "plan_id",
    outreach_in.OutingSubmitted: "outing_id",
    outreach_in.StreetContactSubmitted: "contact_id",
    outreach_in.AppointmentBookingSubmitted: "appointment_id",
    civic_in.CivicActivitySubmitted: "activity_id",
    civic_in.CivicSessionSubmitted: "session_id",
    civic_in.CivicCertificateSubmitted: "certificate_id",
}


def check_event(event: Event, today: date, earliest: date) -> None:
    """The rules of each event that need no state (the use cases apply them in their place too). `earliest`: the
    programme's earliest date (settings.earliest_date)."""
    if (id_field := NEW_IDS.get(type(event))) is not None:
        people.check_pseudonymous_id(getattr(event, id_field), id_field)
    if isinstance(event, cmd_in.HouseholdMemberChangeSubmitted | cmd_in.HouseholdReferencePersonChangeSubmitted):
        # a free code, in clear for good
        people.check_no_identifying_text(event.reason, "reason")
    check_outreach(event, today)
    if isinstance(event, cmd_in.HouseholdFormationSubmitted):
        check_household(event)
    elif isinstance(event, cmd_in.ReferralSubmitted):
        check_referrer(event)
        check_dated(event.received_on, "received_on", today, earliest)
    elif isinstance(event, cmd_in.CaseOpeningSubmitted):
        check_dated(event.opened_on, "opened_on", today, earliest)
    elif (field := DATED.get(type(event))) is not None:
        check_dated(getattr(event, field), field, today, earliest)
    else:
        civic.check_submission(event, today)


@contextlib.contextmanager
def partner_fields() -> Iterator[None]:
    """Errors name fields as partners see them: inside the event's `data`."""
    try:
        yield
    except ContractError as err:
        for e in (err, *err.also):
            if e.field and not e.field.startswith("data."):
                e.field = f"data.{e.field}"
        raise


def check_outreach(event: Event, today: date) -> None:
    """The stateless rules of partners' outreach requests (#19)."""
    if isinstance(event, outreach_in.OutingSubmitted):
        check_not_future(event.on, today, "on")
        outreach.outing_minutes(event.start_time, event.end_time)
        for n, operator in enumerate(event.staff):  # operators' ids, in clear for good: never their e-mail or phone
            people.check_pseudonymous_id(operator, f"staff.{n}")
    elif isinstance(event, outreach_in.StreetContactSubmitted):
        check_not_future(event.contacted_on, today, "contacted_on")
    elif isinstance(event, outreach_in.StreetContactLinkSubmitted):
        check_not_future(event.linked_on, today, "linked_on")
    elif isinstance(event, outreach_in.AppointmentBookingSubmitted):
        people.check_pseudonymous_id(event.operator, "operator")
        appointments.check_one_party(event.person_id, event.contact_id)
        appointments.check_interval(event.starts_at, event.ends_at)
