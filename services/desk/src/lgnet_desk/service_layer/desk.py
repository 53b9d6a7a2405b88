"""The desk's use cases over the services' APIs. Each view of a person's data is written to the access log (shown or
denied) before the page is answered; the services decide what the operator may see."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from lgnet_shared.db import Conn
from lgnet_shared.phones import phone_problem

from lgnet_desk.adapters import store
from lgnet_desk.adapters.services import ServiceRefusal, Services, ServiceUnavailable, service_path
from lgnet_desk.domain import countries, days, fiscal_codes, languages, resubmission
from lgnet_desk.domain.operators import Operator
from lgnet_desk.domain.persons import full_name, same_person


def new_id(prefix: str, key: str | None = None) -> str:
    """A new id; derived from a form's call key when there is one (a form sent twice creates the same thing)."""
    return resubmission.derived_id(prefix, key) if key else f"{prefix}-{uuid.uuid4().hex[:12]}"


class PartnerDirectory:
    """The city's partner organisations by name, from intake's `GET /partners`, kept a few minutes per city: many
    pages name partners and the list rarely changes. Unreadable: the last list read, else none (pages show ids). An
    intake that does not answer is asked again only after `retry_s`, so pages that need only other services do not
    each wait for its timeout; a refusal (an operator with no identity on intake) is the operator's, not kept."""

    def __init__(self, ttl_s: float = 300, retry_s: float = 30) -> None:
        self.ttl_s, self.retry_s = ttl_s, retry_s
        self._by_city: dict[str, tuple[float, list[dict[str, str]]]] = {}

    async def of(self, services: Services, city: str) -> list[dict[str, str]]:
        kept = self._by_city.get(city)
        if kept is not None and kept[0] > time.monotonic():
            return kept[1]
        try:
            found = [
                {"partner_id": str(p["partner_id"]), "name": str(p["name"])}
                for p in await services.get("intake", "/partners")
            ]
        except ServiceRefusal:
            return kept[1] if kept is not None else []
        except httpx.HTTPError:
            last = kept[1] if kept is not None else []
            self._by_city[city] = (time.monotonic() + self.retry_s, last)
            return last
        self._by_city[city] = (time.monotonic() + self.ttl_s, found)
        return found


@dataclass
class FieldErrors(Exception):
    """Refusals to show next to the form's fields: {form field name: reason}."""

    errors: dict[str, str] = field(default_factory=dict)
    kept: dict[str, str] = field(default_factory=dict)  # form fields to keep on the form shown again
    on_file: dict[str, str] = field(default_factory=dict)  # a registration form's row ("m0") → the person it names


async def read_logged(
    conn: Conn, services: Services, op: Operator, subject: str, path: str, action: str, purpose: str = "case_work"
) -> Any:
    """What intake shows of a person (or a street person), the view recorded in the access log: shown, or denied
    (the refusal raised on)."""
    try:
        found = await services.get("intake", path)
    except ServiceRefusal:
        await store.log_access(conn, op, subject, purpose, action, "denied")
        raise
    # A person's view is logged under the record intake showed; a street person's under her own id (the person_id
    # in her answer is the person she was linked to, not the one this view showed).
    shown = shown_as(found, subject) if path.startswith("/persons/") else subject
    await store.log_access(conn, op, shown, purpose, action, "shown")
    return found


def shown_as(found: Any, asked: str) -> str:
    """The person a view showed: intake answers a registration merged into another with the surviving record (the id
    the page shows beside the name, which the DPO is given); the id asked for left that view out of her printout."""
    person = found.get("person", found) if isinstance(found, dict) else None
    shown = person.get("person_id") if isinstance(person, dict) else None
    return str(shown) if shown else asked


async def search_logged(
    conn: Conn, services: Services, op: Operator, terms: dict[str, str | None], purpose: str
) -> list[dict[str, Any]]:
    """Intake's search as the operator (the terms in the body, never in an address), each person it shows in the
    access log as `search`: the results name them with their birth date, sex and nationality."""
    found: list[dict[str, Any]] = await services.post("intake", "/persons/search", terms)
    for person in found:
        await store.log_access(conn, op, str(person["person_id"]), purpose, "search", "shown")
    return found


NAMES_PER_CALL = 100  # the most ids intake's POST /persons/search (and /street-persons/nicknames) takes in one call


async def in_calls(
    ids: list[str], search: Callable[[list[str]], Awaitable[list[dict[str, Any]]]]
) -> list[dict[str, Any]]:
    """`search` over `ids` in as few calls as intake takes them (a longer list is refused whole)."""
    found: list[dict[str, Any]] = []
    for start in range(0, len(ids), NAMES_PER_CALL):
        found += await search(ids[start : start + NAMES_PER_CALL])
    return found


async def person_names(
    conn: Conn, services: Services, op: Operator, person_ids: list[str], action: str
) -> dict[str, str]:
    """Each person's name as the cartella names them, read in one call (intake's `POST /persons/search` with
    `person_ids`, as the operator: those it shows), the view one entry of the access log as `action` (the page that
    named them: "agenda", "to-do") naming the persons shown, and one naming those intake did not show (`denied`). A
    person shown without a recorded name is "" (the page says so, as the cartella's title: "nome non registrato");
    those not shown, and all of them when intake does not answer, are absent (the page shows their identifier)."""
    wanted = list(dict.fromkeys(person_ids))
    if not wanted:
        return {}
    try:
        found = await in_calls(wanted, lambda ids: services.post("intake", "/persons/search", {"person_ids": ids}))
    except ServiceRefusal:
        found = []
    except httpx.HTTPError:
        return {}
    shown = {str(p["person_id"]): p for p in found}
    await store.log_view(conn, op, [pid for pid in wanted if pid in shown], "case_work", action, "shown")
    await store.log_view(conn, op, [pid for pid in wanted if pid not in shown], "case_work", action, "denied")
    return {pid: full_name(p) or "" for pid, p in shown.items()}


async def street_nicknames(
    conn: Conn, services: Services, op: Operator, street_ids: list[str], action: str
) -> dict[str, str]:
    """Each street person's nickname as the units gave it ("" for none recorded or erased), read in one call
    (intake's `POST /street-persons/nicknames`, as the operator: those it shows), each read in the access log as
    `action` (the page that said it: "agenda", "to-do") as the street person's own page logs it: shown, or denied
    for one intake does not show (absent: the page says "person met on the street"). Intake away: none, nothing
    logged (nothing was read)."""
    wanted = list(dict.fromkeys(street_ids))
    if not wanted:
        return {}
    try:
        found = await in_calls(
            wanted, lambda ids: services.post("intake", "/street-persons/nicknames", {"street_ids": ids})
        )
    except ServiceRefusal:
        found = []
    except httpx.HTTPError:
        return {}
    shown = {str(s["street_id"]): str(s.get("nickname") or "") for s in found}
    for sid in wanted:  # an entry each, as when each was read alone (the DPO's printouts unchanged)
        await store.log_access(conn, op, sid, "case_work", action, "shown" if sid in shown else "denied")
    return shown


async def folder(conn: Conn, services: Services, op: Operator, person_id: str, purpose: str) -> dict[str, Any]:
    """The cartella sociale: intake's record plus housing's and payments' views of the person's cases."""
    record: dict[str, Any] = await read_logged(
        conn, services, op, person_id, service_path("/persons/{}/record", person_id), "cartella", purpose
    )
    # The page shows the household's members too (name, birth date, vulnerabilities): each such view is theirs.
    for member in household_members_shown(record, person_id):
        await store.log_access(conn, op, member, purpose, f"member of {person_id}", "shown")
    case_ids = {c["case_id"] for c in record["cases"]}
    household_ids = {h["household_id"] for h in record["households"]}
    # Housing's and payments' parts are shown when they answer; the page names a service that does not (`unavailable`)
    # rather than fail as a whole: the cartella is intake's. A service the city does not run is not asked (the page
    # has no part of it): it is not unavailable.
    unavailable: list[str] = []
    contributions: list[dict[str, Any]] = []
    vouchers: list[dict[str, Any]] = []
    tutoring: list[dict[str, Any]] = []
    try:
        for cid in sorted(case_ids) if services.runs("payments") else ():
            # payments may not know the case yet (it learns it from intake's events)
            with contextlib.suppress(ServiceRefusal):
                contributions += await services.get("payments", "/contribution-requests", case_id=cid)
        for hid in sorted(household_ids) if services.runs("payments") else ():
            # a voucher is the household's (refused to a role that may not see them)
            with contextlib.suppress(ServiceRefusal):
                vouchers += await services.get("payments", "/vouchers", household_id=hid)
            with contextlib.suppress(ServiceRefusal):  # money tutoring, the household's too
                tutoring += await services.get("payments", "/tutoring-sessions", household_id=hid)
    except httpx.HTTPError:
        unavailable.append("payments")
    housing: list[dict[str, Any]] = []
    try:
        housing = await household_matches(services, household_ids) if services.runs("housing") else []
    except httpx.HTTPError:
        unavailable.append("housing")
    record["notes"] = await services.get("intake", service_path("/persons/{}/notes", person_id))
    record["documents"] = await services.get("intake", service_path("/persons/{}/documents", person_id))
    record["contributions"] = contributions
    record["vouchers"] = vouchers
    record["tutoring"] = sorted(tutoring, key=lambda t: str(t.get("on")), reverse=True)  # the latest first
    record["housing"] = housing
    record["unavailable"] = sorted(unavailable)
    return record


def household_members_shown(record: dict[str, Any], person_id: str) -> list[str]:
    """The other members whose data the cartella shows: those intake names to the reader (a member it hides has no
    name, and the page says "not visible to you")."""
    own = {person_id, str(record.get("person", {}).get("person_id", person_id))}
    members = [m for h in record.get("households", []) for m in h.get("members", []) if m.get("name")]
    return list(dict.fromkeys(str(m["person_id"]) for m in members if m["person_id"] not in own))


async def household_matches(services: Services, household_ids: set[str]) -> list[dict[str, Any]]:
    """The households' matches in every state housing shows the operator, each with its opportunity (a household
    housing refuses the operator is left out; housing away: httpx.HTTPError). Each household's asked alone
    (`household_id`): housing keeps every household its answer shows in its read log, and the whole city's matches,
    filtered here, put reads of dozens of households the page never showed in the DPO's access log. One call per
    household (`status=any`: every state), not one per state."""
    found: list[dict[str, Any]] = []
    for hid in sorted(household_ids):
        with contextlib.suppress(ServiceRefusal):
            found += await services.get("housing", "/proposals", status="any", household_id=hid)
    await _with_opportunities(services, found)
    return found


async def _with_opportunities(services: Services, matches: list[dict[str, Any]]) -> None:
    """Each match with what housing says of its opportunity (kind, area, places: no personal data), so the cartella
    names the housing rather than print its id; None where housing does not show it."""
    seen: dict[str, Any] = {}
    for m in matches:
        oid = m.get("opportunity_id")
        if oid and oid not in seen:
            seen[oid] = None
            with contextlib.suppress(ServiceRefusal):
                seen[oid] = await services.get("housing", service_path("/opportunities/{}", oid))
        m["opportunity"] = seen.get(oid or "")


READS_AT_ONCE = 8  # reads of one page side by side: a page of forty cases is five round trips, not forty


async def cases_by_id(services: Services, case_ids: list[str]) -> dict[str, dict[str, Any]]:
    """What intake shows of each case (action area, opening date) the operator may read, to name a case rather than
    print its id; a case intake does not show is left out, and all of them when intake does not answer (the page then
    shows ids, and says which service is away where it reads from it). The first read alone (an intake that is away
    is asked once), the others side by side."""
    ids = list(dict.fromkeys(case_ids))
    gate = asyncio.Semaphore(READS_AT_ONCE)

    async def read(cid: str) -> dict[str, Any] | None:
        async with gate:
            try:
                case: dict[str, Any] = await services.get("intake", service_path("/cases/{}", cid))
            except ServiceRefusal:
                return None
            return case

    try:
        first = [await read(ids[0])] if ids else []
    except httpx.HTTPError:
        return {}
    rest = await asyncio.gather(*(read(cid) for cid in ids[1:]), return_exceptions=True)
    for failed in rest:  # intake answered the first: a later read it drops leaves that case out; a fault is raised
        if isinstance(failed, BaseException) and not isinstance(failed, httpx.HTTPError):
            raise failed
    return {cid: case for cid, case in zip(ids, [*first, *rest], strict=True) if isinstance(case, dict)}


def given(body: dict[str, Any]) -> dict[str, Any]:
    """A request without the fields left blank: a service names a missing field "required" ("campo obbligatorio"),
    while a null one read as a wrong value ("non è una data valida" for a birth date left empty)."""
    return {k: v for k, v in body.items() if v is not None}


def member_body(form: dict[str, str], i: int | str) -> dict[str, Any]:
    """intake's registration of the form's row `i` (its `m<i>_` fields); her phone and address (and languages and
    literacy, where a form has them) read as the cartella's details form reads them (`person_details`)."""
    identity = {k: form.get(f"m{i}_{k}", "").strip() or None for k in ("given_name", "family_name", "fiscal_code")}
    details = person_details(form, f"m{i}_")
    return given(
        {
            "person_id": new_id("p", resubmission.call_key(form, f"m{i}")),
            "birth_date": form.get(f"m{i}_birth_date") or None,
            "sex": form.get(f"m{i}_sex") or None,
            "nationality": countries.country_code(form.get(f"m{i}_nationality") or ""),
            "identity": {k: v for k, v in identity.items() if v} | details.pop("identity", {}),
        }
        | details
    )


async def register_household(
    services: Services, form: dict[str, str], members: int, today: date, partner: str | None = None
) -> str:
    """Register each member, record their consents, form the household (the first is the reference person).

    A cooperative's operator (`partner`) also opens the household's case, assigned to the cooperative: a partner
    sees only persons of its own cases who consent to sharing with partners, so without the case the cooperative
    was refused the person it had just registered. The sharing consent is therefore required first.

    Every fault of every member is found first, and nobody is registered while there is one
    (`registration_faults`: a member refused left those accepted before registered without a household, and the
    operator learnt the faults in stages, one kind per round).

    Intake registers one person at a time: should it still refuse a member, those accepted before are kept on the
    form shown again (`m<i>_person_id`, their fields read-only) and not registered a second time when it is sent
    corrected (an outside test found the resubmission made a duplicate of every member accepted the first time, and
    the first copies stayed without a household or a consent)."""
    chosen = persons_chosen(form, members)  # persons on file put in the household: not registered again
    form = form | chosen
    if refused := await registration_faults(services, form, members, partner):  # before anyone is registered
        refused.kept = chosen | refused.kept
        raise refused
    kept: dict[str, str] = {}
    try:
        return await _register_each(services, form, members, today, partner, kept)
    except ServiceUnavailable as away:  # the members registered before it went away are kept, as after a refusal
        away.kept = kept
        raise


SHARING_NEEDED = "a cooperative follows a household that consents to sharing"  # a partner sees only those persons
# A row naming a person the city has on file (an outside test: registering her again made her a new household each
# time, her consents recorded again and, for a cooperative, a second case): the page links her cartella.
ALREADY_ON_FILE = "already registered with this fiscal code: open the person's record (link below)"
SAME_NAME_ON_FILE = (
    "a person with this name and birth date is already registered: open the record (link below), or tick that this"
    " is another person"
)


async def registration_faults(
    services: Services, form: dict[str, str], members: int, partner: str | None = None
) -> FieldErrors | None:
    """Every fault of the registration form at once, each at its field, or None: the sharing consent a cooperative
    needs, each member's required fields, what the desk checks itself (`row_faults`), intake's rules for each member
    (`POST /persons/check`, registering nobody) and the members on file (`row_on_file`)."""
    errors: dict[str, str] = {}
    if partner is not None and not form.get("consent_partner_sharing"):
        errors["consent_partner_sharing"] = SHARING_NEEDED
    errors |= unnamed_members(form, members)
    rows = [i for i in range(members) if not form.get(f"m{i}_person_id") and typed_member(form, i)]
    for i in rows:
        errors = row_faults(form, i) | errors
    checked = await asyncio.gather(*(_intake_check(services, form, i, errors) for i in rows))
    found = await _rows_on_file(services, form, members)
    for more in [*checked, {f"{row}_{name}": reason for row, (name, reason, _) in found.items()}]:
        errors = more | errors  # the desk's own reason first, where both name a field
    if not errors:
        return None
    return FieldErrors(errors, {}, {row: person for row, (_, _, person) in found.items()})


def persons_chosen(form: dict[str, str], members: int) -> dict[str, str]:
    """The rows filled with a person on file, {`m<i>_person_id`: her id}: the operator ticked "use this person in
    the household" where the form named her (`m<i>_use_on_file`), or the form came from her cartella
    (`household_with`). She is neither looked up, nor checked, nor registered again, nor are her consents recorded
    again: a person left without a household by a half-finished registration could be put in none (registering her
    again was refused as on file, and "another person" made a deliberate duplicate)."""
    return {
        f"m{i}_person_id": form[f"m{i}_use_on_file"]
        for i in range(members)
        if form.get(f"m{i}_use_on_file") and not form.get(f"m{i}_person_id")
    }


async def household_with(
    conn: Conn, services: Services, op: Operator, person_id: str, as_member: bool
) -> dict[str, str]:
    """The registration form with a person on file in it, from her cartella (a person in no household): the
    reference person's row, or the first member's (`as_member`); read as the cartella reads her, the view in the
    access log (`household forming`)."""
    path = service_path("/persons/{}", person_id)
    person = await read_logged(conn, services, op, person_id, path, "household forming")
    row, pid = ("m1" if as_member else "m0"), str(person["person_id"])
    identity = person.get("identity") or {}
    shown = {k: identity.get(k) for k in ("given_name", "family_name")}
    shown |= {k: person.get(k) for k in ("birth_date", "sex", "nationality")}
    return {f"{row}_person_id": pid, f"{row}_use_on_file": pid} | {f"{row}_{k}": str(v) for k, v in shown.items() if v}


def row_faults(form: dict[str, str], i: int | str) -> dict[str, str]:
    """What the desk sees wrong in the form's row `i` itself, {field: reason}: a birth date that is no day, a
    nationality no country has, a phone that is no phone number (`lgnet_shared.phones`, intake's own rule), a fiscal
    code of the wrong shape or check character (`fiscal_codes.problem`, as intake checks it)."""
    errors: dict[str, str] = {}
    if problem := days.day_problem(form.get(f"m{i}_birth_date", "")):
        errors[f"m{i}_birth_date"] = problem
    try:
        countries.country_code(form.get(f"m{i}_nationality", ""))
    except ValueError as unknown:
        errors[f"m{i}_nationality"] = str(unknown)
    if (phone := form.get(f"m{i}_phone", "").strip()) and (problem := phone_problem(phone)):
        errors[f"m{i}_phone"] = problem
    if problem := fiscal_codes.problem(form.get(f"m{i}_fiscal_code", "")):
        errors[f"m{i}_fiscal_code"] = problem
    return errors


async def _intake_check(services: Services, form: dict[str, str], i: int, faults: dict[str, str]) -> dict[str, str]:
    """intake's refusals of the row `i` as a registration (`POST /persons/check`: nothing registered), the fields
    already at fault left out, so that what intake says is about the rest. An intake without the check: none."""
    try:
        await services.post(
            "intake", "/persons/check", member_body({k: v for k, v in form.items() if k not in faults}, i)
        )
    except ServiceRefusal as r:
        if r.status in (404, 405):
            return {}
        return row_refusals(r, i)
    return {}


async def _rows_on_file(services: Services, form: dict[str, str], members: int) -> dict[str, tuple[str, str, str]]:
    """{row: (field, reason, person id)} of the rows to register that name a person on file (`row_on_file`)."""
    found: dict[str, tuple[str, str, str]] = {}
    for i in range(members):
        if not form.get(f"m{i}_person_id") and typed_member(form, i) and (row := await row_on_file(services, form, i)):
            found[f"m{i}"] = row
    return found


async def row_on_file(services: Services, form: dict[str, str], i: int | str) -> tuple[str, str, str] | None:
    """(field, reason, person id) when the form's row `i` (its `m<i>_` fields: a registration's member, a newcomer
    to a household, `mn_`) names a person on file the operator may see: by her fiscal code (the same person, whatever
    else is typed), else by her name and birth date, unless the operator said she is another person
    (`m<i>_not_on_file`). None otherwise."""
    code = form.get(f"m{i}_fiscal_code", "").strip()
    if code and (same := await _search(services, {"fiscal_code": code})):
        return ("fiscal_code", ALREADY_ON_FILE, str(same[0]["person_id"]))
    name = " ".join(form.get(f"m{i}_{k}", "").strip() for k in ("given_name", "family_name")).strip()
    if name and not form.get(f"m{i}_not_on_file"):
        person = same_person(await _search(services, {"name": name}), name, form.get(f"m{i}_birth_date", ""))
        if person is not None:
            return ("given_name", SAME_NAME_ON_FILE, str(person["person_id"]))
    return None


async def _search(services: Services, terms: dict[str, str]) -> list[Any]:
    """intake's search (the persons the operator may see; logged there as a search); terms it refuses find none."""
    try:
        return list(await services.post("intake", "/persons/search", terms))
    except ServiceRefusal:
        return []


async def _register_each(
    services: Services, form: dict[str, str], members: int, today: date, partner: str | None, kept: dict[str, str]
) -> str:
    """`register_household`'s members one by one (each registered is put in `kept`), then all of them together."""
    errors: dict[str, str] = {}
    on_file: dict[str, str] = {}
    ids: list[str] = []
    for i in range(members):
        if registered := form.get(f"m{i}_person_id"):
            kept[f"m{i}_person_id"] = registered
            ids.append(registered)
            continue
        if not typed_member(form, i):
            continue
        try:
            ids.append(await register_row(services, form, i))
        except FieldErrors as refused:
            errors |= refused.errors
            on_file |= refused.on_file
            continue
        kept[f"m{i}_person_id"] = ids[-1]
    if errors:
        raise FieldErrors(errors, kept, on_file)
    if not ids:
        raise FieldErrors({"m0_given_name": "required"})
    chosen = {form[f"m{i}_use_on_file"] for i in range(members) if form.get(f"m{i}_use_on_file")}
    try:
        return await _register_together(services, form, ids, today, partner, chosen)
    except FieldErrors as e:  # the members stay registered: shown as such, so a resend does not register them again
        raise FieldErrors(e.errors, {**kept, **e.kept}) from None
    except ServiceRefusal as r:
        raise FieldErrors({"m0_given_name": r.reason}, kept) from None


async def register_row(services: Services, form: dict[str, str], i: int | str) -> str:
    """Register the person of the form's row `i` (its `m<i>_` fields: a registration's member, a newcomer to a
    household, `mn_`): her id. Refused, a FieldErrors at the row's fields, every field intake names at once; on file
    all the same (intake's `same_as`: the search missed her), at her fiscal code, with her id (`on_file`)."""
    try:
        body = member_body(form, i)
    except ValueError as unknown:  # a nationality that names no country: said here, intake never asked
        raise FieldErrors({f"m{i}_nationality": str(unknown)}) from None
    try:
        answer = await services.post("intake", "/persons", body, resubmission.call_key(form, f"m{i}"))
    except ServiceRefusal as r:
        raise FieldErrors(row_refusals(r, i)) from None
    if same := answer.get("same_as"):  # on file all the same: not put in a household as someone new
        raise FieldErrors({f"m{i}_fiscal_code": ALREADY_ON_FILE}, {}, {f"m{i}": same})
    return str(body["person_id"])


def row_refusals(refusal: ServiceRefusal, i: int | str) -> dict[str, str]:
    """intake's refusal of the row `i`'s registration at the row's fields, every field intake names at once."""
    errors: dict[str, str] = {}
    for at, reason in refusal.each:
        name = at.removeprefix("identity.").split(".")[0]
        # A field the row does not have (the 409 of a key reused with other data, `headers.idempotency-key`) is said
        # at its first field: it was said at none.
        errors.setdefault(f"m{i}_{name if name in MEMBER_FIELDS else 'given_name'}", reason)
    return errors


def person_details(form: dict[str, str], row: str = "") -> dict[str, Any]:
    """intake's PATCH of a person's contact, languages and literacy from the cartella's details form: only what
    differs from what the page showed (`was_<field>`), an emptied phone or address cleared; languages typed by name,
    sent as codes (a name no language has: refused at the field). With a
    `row` (`m0_`: a member of the registration form, where nothing was shown), what its fields hold, for her
    registration."""
    typed = {k: form.get(f"{row}{k}", "").strip() for k in ("phone", "address", "languages", "literate")}
    # a field the form sent that differs from what it showed (one it did not send: unchanged, never emptied)
    changed = {k for k, v in typed.items() if f"{row}{k}" in form and v != form.get(f"was_{row}{k}", "")}
    body: dict[str, Any] = {}
    if identity := {k: typed[k] for k in ("phone", "address") if k in changed and typed[k]}:
        body["identity"] = identity
    cleared = [f"identity.{k}" for k in ("phone", "address") if k in changed and not typed[k]]
    if "literate" in changed and not typed["literate"] and not row:
        cleared.append("literate")  # "Non indicata": not recorded again (it could not be set back)
    if cleared:
        body["clear"] = cleared  # emptied: taken away (it was dropped, the form saying "registered")
    if "languages" in changed:
        try:
            body["languages"] = languages.codes_of(typed["languages"])
        except ValueError as unknown:
            raise FieldErrors({f"{row}languages": str(unknown)}) from None
    if "literate" in changed and typed["literate"] in ("yes", "no"):
        body["literate"] = typed["literate"] == "yes"
    return body


MEMBER_FIELDS = frozenset(
    {"given_name", "family_name", "fiscal_code", "birth_date", "sex", "nationality", "phone", "address"}
)
NAMING_FIELDS = ("given_name", "birth_date")  # what the desk registers a household member by (intake: the birth date)
REQUIRED_FIELDS = (*NAMING_FIELDS, "sex", "nationality")  # a registration's: intake requires sex and nationality


def typed_member(form: dict[str, str], i: int | str) -> bool:
    """Whether anything of the registration form's row `i` was typed or chosen (an empty row is no member)."""
    return any(form.get(f"m{i}_{name}", "").strip() for name in MEMBER_FIELDS)


def unnamed_members(form: dict[str, str], members: int) -> dict[str, str]:
    """The missing name, birth date, sex and nationality of each row typed in part and not registered yet: {field:
    "required"}. A row with neither name nor birth date was left out without a word (a review: the second member,
    surname, sex, nationality and fiscal code typed, missing from the household registered); one without sex or
    nationality was refused by intake after the members before it were registered."""
    return {
        f"m{i}_{name}": "required"
        for i in range(members)
        if not form.get(f"m{i}_person_id") and typed_member(form, i)
        for name in REQUIRED_FIELDS
        if not form.get(f"m{i}_{name}", "").strip()
    }


async def record_consents(services: Services, form: dict[str, str], pid: str, today: date, row: str = "") -> None:
    """The consents the form ticks (`<row>consent_<purpose>`: none is preset) recorded for the person registered."""
    for purpose in ("service", "partner_sharing"):
        if form.get(f"{row}consent_{purpose}"):
            await services.post(
                "intake",
                "/consents",
                {"person_id": pid, "purpose": purpose, "granted": True, "recorded_on": today.isoformat()},
                resubmission.call_key(form, "consent", pid, purpose),
            )


async def _register_together(
    services: Services,
    form: dict[str, str],
    ids: list[str],
    today: date,
    partner: str | None,
    on_file: set[str],
) -> str:
    """The registered members' consents (not those of the persons on file put in the household: theirs are on file),
    their household and (a cooperative's) its case."""
    for pid in ids:
        if pid not in on_file:
            await record_consents(services, form, pid, today)
    household = new_id("h", resubmission.call_key(form, "household"))
    await services.post(
        "intake",
        "/households",
        {"household_id": household, "reference_person_id": ids[0], "member_ids": ids},
        resubmission.call_key(form, "household"),
    )
    if partner is not None:
        case = {
            "case_id": new_id("c", resubmission.call_key(form, "case")),
            "household_id": household,
            "action_area": form.get("action_area") or "taking_charge",
            "channel": form.get("channel") or "desk",
            "opened_on": today.isoformat(),
            "housing_need": form.get("housing_need") == "on",
            "partner": partner,
        }
        fields = {"action_area": "action_area", "channel": "channel"}
        await submit(services, "intake", "/cases", case, fields, resubmission.call_key(form, "case"))
    return ids[0]


async def submit(
    services: Services,
    service: str,
    path: str,
    body: dict[str, Any],
    fields: dict[str, str],
    key: str | None = None,
    method: str = "POST",
) -> Any:
    """Post a form's body (with the form's call `key`, if any), its fields left blank (None) left out (`given`); a
    refusal becomes a FieldErrors on the form field that caused it (`fields` maps the service's field names to the
    form's; unknown ones go to the form's first field). A date field's value that is no day is refused here, at its
    field, before any service is asked (`days.day_problem`: the desk says it, not a service's text)."""
    if wrong := wrong_days({form: body.get(sent) for sent, form in fields.items()}):
        raise FieldErrors(wrong)
    try:
        send = {"PUT": services.put, "PATCH": services.patch}.get(method, services.post)
        return await send(service, path, given(body), key)
    except ServiceRefusal as r:
        errors: dict[str, str] = {}
        for field, reason in r.each:  # every field the service names, at once (`identity.phone`, else `identity`)
            errors.setdefault(fields.get(field, fields.get(field.split(".")[0], next(iter(fields.values())))), reason)
        raise FieldErrors(errors) from None


def wrong_days(values: dict[str, Any]) -> dict[str, str]:
    """{form field: why it is no day} of the date fields among `values` (form field names: `days.is_day_field`)."""
    return {
        name: problem
        for name, value in values.items()
        if days.is_day_field(name) and isinstance(value, str) and (problem := days.day_problem(value))
    }


def blank(form: dict[str, str], names: tuple[str, ...]) -> dict[str, str]:
    """{form field: "required"} of the fields among `names` left blank (or only spaces): the desk's own refusal, said
    with the form's others before anything is sent."""
    return {name: "required" for name in names if not form.get(name, "").strip()}


MAX_UPLOAD = 10 * 1024 * 1024


async def upload(
    services: Services,
    person_id: str,
    kind: str,
    filename: str,
    media_type: str,
    data: bytes,
    key: str | None = None,
) -> None:
    """Attach a document: intake checks type and size again, hashes it and seals it with the person's key."""
    if not data:
        raise FieldErrors({"document": "empty file"})
    if len(data) > MAX_UPLOAD:
        raise FieldErrors({"document": "larger than 10 MB"})
    body = {
        "kind": kind,
        "filename": filename or "documento",
        "media_type": media_type,
        "content_base64": base64.b64encode(data).decode(),
    }
    await submit(
        services,
        "intake",
        service_path("/persons/{}/documents", person_id),
        body,
        {"kind": "document_kind", "content_base64": "document", "media_type": "document", "filename": "document"},
        key,
    )


# Where the to-do list's reminders come from: each service that raises reminders answers with the caller's own
# (staff: the city's; a partner: its cases'), built from its own state: housing's stalled match steps, intake's
# appointments reminded the day before and still waiting for their outcome.
AGENDA_ZONE = ZoneInfo("Europe/Rome")  # the agenda's days are the city's (intake's agenda: the same zone)
REMINDER_SOURCES: tuple[tuple[str, str], ...] = (
    ("housing", "/reminders"),
    ("intake", "/appointments/reminders/open"),
    ("payments", "/reminders"),  # requests waiting for the payee's bank data
)


async def todo(services: Services, operator: str | None = None) -> tuple[list[dict[str, Any]], list[str]]:
    """The operator's reminders, longest waiting first, and the services that could not answer (named on the page
    rather than failing it: one service down must not hide the others' reminders). `operator`: an operator's code,
    her appointments' reminders only (intake reads it within the caller's party: a cooperative's own operator, the
    city's staff's own); the other reminders are the cases', not an operator's, and stay."""
    items: list[dict[str, Any]] = []
    unavailable: list[str] = []
    for service, path in REMINDER_SOURCES:
        if service not in services.tokens or not services.runs(service):
            continue  # no identity there, or not run by the city: nothing to remind of, not a service missing
        narrowed = {"operator": operator} if path == "/appointments/reminders/open" else {}
        try:
            items += [_reminder(r, service) for r in await services.get(service, path, **narrowed)]
        except (ServiceRefusal, httpx.HTTPError):
            unavailable.append(service)
    items.sort(key=lambda r: (-int(r.get("waiting_days", 0)), str(r.get("case_id") or "")))
    return items, unavailable


def _reminder(r: dict[str, Any], service: str) -> dict[str, Any]:
    """A reminder as the page shows it: an appointment's start as a time, and its agenda's day (the city's)."""
    if not r.get("starts_at"):
        return {**r, "service": service}
    starts = datetime.fromisoformat(r["starts_at"])
    return {**r, "starts": starts, "agenda_day": starts.astimezone(AGENDA_ZONE).date().isoformat(), "service": service}
