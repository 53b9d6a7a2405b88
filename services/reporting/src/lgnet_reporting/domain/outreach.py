"""Street outreach in the reports (issue #19, method 3): outings, contacts, distinct people contacted, the share
later taken in charge and the days from first contact to taking in charge, per city and month; the agenda's
appointments. Pure; its tables and projectors are wired in projection.py, the indicators in indicators.summary.

Definitions (docs/outreach.md):
- A *person contacted* is a street person (intake's pseudonymous `street_id`); street persons linked to the same
  registered person count once (as that person, merges resolved).
- Their *first contact* is the earliest of their contacts (all street persons of one person together).
- *Taken in charge*: linked to a registered person on or before `as_of`. The share is over the people first
  contacted in the window (a cohort: later links raise it when the report is asked again later); the days are
  from the first contact to the link, their median over that cohort.
- Appointments count by their (local) start day: booked (not cancelled), attended, no-shows, cancelled.
Only ids, dates and codes are kept (never the nickname, sealed anyway).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import date
from typing import Any, Literal
from zoneinfo import ZoneInfo

from lgnet_shared.envelope import Envelope
from lgnet_shared.events import outreach as o

LOCAL = ZoneInfo("Europe/Rome")
Row = dict[str, Any]
Facts = dict[str, list[Row]]
OUTINGS, CONTACTS, LINKS, APPOINTMENTS = (
    "outreach_outings",
    "outreach_contacts",
    "outreach_links",
    "outreach_appointments",
)
TABLES: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
    OUTINGS: (("outing_id",), {"outing_id": "text", "unit_id": "text", "city": "text", "on_date": "date",
                               "minutes": "integer"}),
    CONTACTS: (("contact_id",), {"contact_id": "text", "street_id": "text", "city": "text", "contacted_on": "date",
                                 "services_offered": "text[]"}),
    LINKS: (("street_id",), {"street_id": "text", "person_id": "text", "city": "text", "linked_on": "date"}),
    APPOINTMENTS: (("appointment_id",), {"appointment_id": "text", "city": "text", "agenda": "text",
                                         "starts_on": "date", "cancelled": "boolean", "outcome": "text"}),
}  # fmt: skip


def _local_day(at: Any) -> date:
    return at.astimezone(LOCAL).date()  # type: ignore[no-any-return]


# table, mode, row
Writes = list[tuple[str, Literal["insert", "upsert"], Row]]


def writes(env: Envelope, e: Any) -> Writes:
    if isinstance(e, o.OutingRecorded):
        return [(OUTINGS, "insert", {"outing_id": e.outing_id, "unit_id": e.unit_id, "city": e.city, "on_date": e.on,
                                     "minutes": e.minutes})]  # fmt: skip
    if isinstance(e, o.StreetContactRecorded):
        services = sorted({s.value for s in e.services_offered})
        return [(CONTACTS, "insert", {"contact_id": e.contact_id, "street_id": e.street_id, "city": e.city,
                                      "contacted_on": e.contacted_on, "services_offered": services})]  # fmt: skip
    if isinstance(e, o.StreetPersonLinked):
        return [(LINKS, "insert", {"street_id": e.street_id, "person_id": e.person_id, "city": e.city,
                                   "linked_on": e.linked_on})]  # fmt: skip
    if isinstance(e, o.AppointmentBooked):
        return [(APPOINTMENTS, "upsert", {"appointment_id": e.appointment_id, "city": e.city, "agenda": e.agenda.value,
                                          "starts_on": _local_day(e.starts_at), "cancelled": False})]  # fmt: skip
    if isinstance(e, o.AppointmentMoved):
        return [(APPOINTMENTS, "upsert", {"appointment_id": e.appointment_id, "starts_on": _local_day(e.starts_at)})]
    if isinstance(e, o.AppointmentCancelled):
        return [(APPOINTMENTS, "upsert", {"appointment_id": e.appointment_id, "cancelled": True})]
    if isinstance(e, o.AppointmentOutcomeRecorded):
        return [(APPOINTMENTS, "upsert", {"appointment_id": e.appointment_id, "outcome": e.outcome.value})]
    return []


PROJECTED = (o.OutingRecorded, o.StreetContactRecorded, o.StreetPersonLinked, o.AppointmentBooked,
             o.AppointmentMoved, o.AppointmentCancelled, o.AppointmentOutcomeRecorded)  # fmt: skip


def _month(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def _months(first: date, last: date) -> list[str]:
    out, y, m = [], first.year, first.month
    while (y, m) <= (last.year, last.month):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out[-120:]  # at most ten years, like the report's own monthly series


def _median(values: list[int]) -> float | None:
    if not values:
        return None
    s = sorted(values)
    mid = len(s) // 2
    return float(s[mid]) if len(s) % 2 else (s[mid - 1] + s[mid]) / 2


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def indicators(
    facts: Facts, window: Any, here: Callable[[Row], bool], canonical: Callable[[str], str]
) -> dict[str, Any]:
    """`window`: the report's (indicators.Window: `in`, `closed`, `as_of`, `period_from`); `canonical`: a person's
    surviving id. The monthly series runs from the period's start (or the first outing or contact) to as_of."""

    def in_window(day: date | None) -> bool:
        return bool(day in window)

    closed = window.closed
    outings = [r for r in facts[OUTINGS] if here(r) and in_window(r["on_date"])]
    links = {r["street_id"]: r for r in facts[LINKS] if closed(r["linked_on"])}

    def who(street_id: str) -> str:
        link = links.get(street_id)
        return f"person:{canonical(link['person_id'])}" if link else f"street:{street_id}"

    first: dict[str, date] = {}
    city_of: dict[str, str] = {}
    for c in facts[CONTACTS]:
        if closed(c["contacted_on"]):
            w = who(c["street_id"])
            first[w] = min(first.get(w, c["contacted_on"]), c["contacted_on"])
            city_of.setdefault(w, c["city"])
    linked_on: dict[str, date] = {}
    for street_id, link in links.items():
        w = who(street_id)
        linked_on[w] = min(linked_on.get(w, link["linked_on"]), link["linked_on"])
    contacts = [c for c in facts[CONTACTS] if here(c) and in_window(c["contacted_on"])]
    cohort = [w for w, day in first.items() if in_window(day) and here({"city": city_of[w]})]
    taken = [w for w in cohort if w in linked_on]
    days = [(linked_on[w] - first[w]).days for w in taken]
    services = Counter(s for c in contacts for s in c["services_offered"] or [])

    active: list[date] = [r["on_date"] for r in outings] + [c["contacted_on"] for c in contacts]
    months = _months(window.period_from or min(active, default=window.as_of), window.as_of)
    monthly: dict[str, dict[str, Any]] = {
        m: {"outings": 0, "contacts": 0, "persons": set(), "first_contacts": 0, "taken_in_charge": 0, "days": []}
        for m in months
    }
    for r in outings:
        if (cell := monthly.get(_month(r["on_date"]))) is not None:
            cell["outings"] += 1
    for c in contacts:
        if (cell := monthly.get(_month(c["contacted_on"]))) is not None:
            cell["contacts"] += 1
            cell["persons"].add(who(c["street_id"]))
    for w in cohort:
        if (cell := monthly.get(_month(first[w]))) is not None:
            cell["first_contacts"] += 1
            if w in linked_on:
                cell["taken_in_charge"] += 1
                cell["days"].append((linked_on[w] - first[w]).days)
    blank = {"city": None, "agenda": None, "starts_on": None, "cancelled": None, "outcome": None}  # as SQL reads
    agenda = [blank | a for a in facts[APPOINTMENTS]]
    booked = [a for a in agenda if here(a) and in_window(a["starts_on"])]
    return {
        "outreach": {
            "outings": len(outings),
            "outing_hours": round(sum(r["minutes"] for r in outings) / 60, 1),
            "contacts": len(contacts),
            "persons_contacted": len({who(c["street_id"]) for c in contacts}),
            "first_contacts": len(cohort),
            "taken_in_charge": len(taken),
            "taken_in_charge_share": _share(len(taken), len(cohort)),
            "days_to_taking_in_charge_median": _median(days),
        },
        "contacts_by_service_offered": dict(sorted(services.items())),
        "outreach_monthly": [
            {
                "month": m,
                "outings": c["outings"],
                "contacts": c["contacts"],
                "persons_contacted": len(c["persons"]),
                "first_contacts": c["first_contacts"],
                "taken_in_charge": c["taken_in_charge"],
                "days_to_taking_in_charge_median": _median(c["days"]),
            }
            for m, c in monthly.items()
        ],
        "appointments": {
            "booked": sum(1 for a in booked if not a["cancelled"]),
            "attended": sum(1 for a in booked if a["outcome"] == "attended"),
            "no_show": sum(1 for a in booked if a["outcome"] == "no_show"),
            "cancelled": sum(1 for a in booked if a["cancelled"]),
        },
    }


def _monthly_row(month: str, c: dict[str, Any]) -> dict[str, Any]:
    return {
        "month": month,
        "outings": c["outings"],
        "contacts": c["contacts"],
        "persons_contacted": len(c["persons"]),
        "first_contacts": c["first_contacts"],
        "taken_in_charge": c["taken_in_charge"],
        "days_to_taking_in_charge_median": _median(c["days"]),
    }
