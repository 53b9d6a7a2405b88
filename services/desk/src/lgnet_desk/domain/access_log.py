"""The DPO's access log: the desk's own entries, intake's, housing's and payments' read logs (reads through their
APIs: payments' of a request's payee) and payments' download log (its SEPA files, which hold payees' names and
IBANs), one list. Pure: rows as the page and its
CSV show them, newest first.

An entry of the desk says the operator and the purpose; one of intake says the principal (a partner's id, a staff
operator's actor `desk.op-…`, or `desk.<username>` for one added before) and no purpose (an API call states none). Both
are kept, each with its source: a read the desk made is in both (the desk's with the operator and purpose, intake's
marked `via` desk), since intake cannot tell the desk's calls from a partner's own software by anything a caller could
not forge."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from lgnet_desk.domain.days import iso_day

SOURCES = ("desk", "intake", "housing", "payments")
CITY_ZONE = ZoneInfo("Europe/Rome")  # a period's days are the city's, as the page shows its times
NOT_A_DAY = "Input should be a valid date"
REVERSED = "the end of the period is before its start"
NOT_AN_ID = "give the person's identifier (from her cartella), not her name"
NO_SUCH_OPERATOR = "no operator of the city has this username"
INTAKE_ACTION = "api "  # intake's kinds, as actions: `api record`, `api notes`, …
HOUSING_ACTION = "api housing "  # with the kind and the household's id: `api housing why h-1`
PAYMENTS_ACTION = "api sepa file "  # with the batch's (or reimbursement run's) id, as the desk's `sepa file <id>`
# payments' read log, by its kind: a request's payee read (its name and IBAN masked; a change's answer: the IBAN
# masked alone), with the request's id
PAYEE_ACTIONS = {"payee": "api payee ", "iban_masked": "api iban masked "}


def from_service(source: str, entry: dict[str, Any]) -> dict[str, Any]:
    """An entry of a service's log as a row of the page: intake's `GET /read-log` (a person), housing's (a household,
    named by its id in the action, its members then as the row's persons), payments' `GET /download-log` (a file,
    the members of the households it pays as its persons) or payments' `GET /read-log` (a request's payee — a
    landlord, a company, a member —, the request named by its id in the action, the members of the household it pays
    for as its persons: the payee is never named in the log)."""
    person = str(entry["person_id"]) if source == "intake" else None
    # housing's: the household's members when it was read; payments': those of the households its file pays (none
    # from a service older than housing-read-log-2 / payments-18)
    persons = [person] if person else [str(p) for p in entry.get("person_ids") or []]
    action = {
        "intake": lambda: INTAKE_ACTION + str(entry["kind"]),
        "housing": lambda: f"{HOUSING_ACTION}{entry['kind']} {entry['household_id']}",
        # payments' two logs: a file downloaded (`batch_id`), or a request's payee read (`request_id`)
        "payments": lambda: (
            PAYEE_ACTIONS.get(str(entry.get("kind")), f"api payments {entry.get('kind')} ") + str(entry["request_id"])
            if "request_id" in entry
            else PAYMENTS_ACTION + str(entry["batch_id"])
        ),
    }[source]()
    return {
        "at": datetime.fromisoformat(str(entry["at"])),
        "source": source,
        "operator": None,
        "actor": str(entry["principal"]),
        "actor_name": entry.get("principal_name"),
        "person_id": person,
        "persons": persons,
        "purpose": None,
        "action": action,
        "outcome": str(entry.get("outcome") or "shown"),
        "via": str(entry.get("via") or "api"),
    }


def from_desk(entry: dict[str, Any]) -> dict[str, Any]:
    """`persons`: every person the view named (a list's view is one entry), else the entry's one person."""
    persons = list(entry.get("persons") or []) or [p for p in [entry["person_id"]] if p]  # a file's: none
    return {**entry, "persons": persons, "source": "desk", "actor": None, "actor_name": None, "via": None}


def merged(
    desk: list[dict[str, Any]], logs: dict[str, list[dict[str, Any]]], source: str | None = None
) -> list[dict[str, Any]]:
    """The desk's rows and the services' logs' (`logs` by service: `intake`, `housing`, `payments`), newest first;
    `source` keeps one of them."""
    rows = [from_desk(e) for e in desk if source in (None, "desk")]
    rows += [from_service(s, e) for s, entries in logs.items() if source in (None, s) for e in entries]
    return sorted(rows, key=lambda r: r["at"], reverse=True)


def period(
    since: str | None, until: str | None, zone: ZoneInfo = CITY_ZONE
) -> tuple[datetime | None, datetime | None, dict[str, str]]:
    """The entries' period from the days typed (`gg/mm/aaaa`, or ISO): from the first day's start (included) to the
    start of the day after the last (not included), in the city's zone; a bound not given is open. A day that is no
    day is an error at its field (`since`, `until`), its bound left open."""
    bounds: dict[str, datetime | None] = {}
    errors: dict[str, str] = {}
    for field, typed, days_after in (("since", since, 0), ("until", until, 1)):
        bounds[field] = None
        if not (typed or "").strip():
            continue
        try:
            day = date.fromisoformat(iso_day(str(typed)))
        except ValueError:
            errors[field] = NOT_A_DAY
            continue
        bounds[field] = datetime.combine(day + timedelta(days=days_after), time(0), zone)
    since_, until_ = bounds["since"], bounds["until"]
    if since_ and until_ and until_ <= since_:  # "Nessuna voce." read as nobody having looked
        errors["until"] = REVERSED
    return since_, until_, errors


def person_error(typed: str | None) -> dict[str, str]:
    """The identifier box's error, if what was typed is a name rather than an identifier: a space, a letter outside
    ASCII ("Traoré") or no digit at all ("Okafor") — the ids of persons and households hold digits (the desk's and
    the partners' are hex or UUIDs). A name gave "Nessuna voce." and a printout offered "for the person" named so;
    the DPO sees no person's data and takes the identifier from the operator who checked the person's identity."""
    value = (typed or "").strip()
    if value and (not value.isascii() or any(c.isspace() for c in value) or not any(c.isdigit() for c in value)):
        return {"person_id": NOT_AN_ID}
    return {}


def csv_time(at: datetime, zone: ZoneInfo = CITY_ZONE) -> str:
    """An entry's time in the CSV: ISO 8601 with its offset, in the city's zone and to the second, as the page shows
    it (the CSV gave UTC, 10:17:20+00:00, for the page's 11:17:20)."""
    return at.astimezone(zone).isoformat(timespec="seconds")
