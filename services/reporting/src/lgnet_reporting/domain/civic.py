"""Civic engagement in the reports (issue #19, point 2; docs/civic-engagement.md): activities, sessions,
participants, hours of participation, completions and CEFR progress per activity kind, city and month, from intake's
`civic_*` facts. Pure; the tables and projectors are wired in projection.py, the indicators in indicators.summary
(from method 3), their suppression in national.py. Only ids, dates, codes and minutes are kept.

Definitions:
- a session counts in the window it was held in; its *participants* are the persons marked present in its register
  (the latest mark of a person for a session wins); a person counts once per kind (and once in the total) however
  many sessions they attended; merged persons count as their survivor;
- *activities* of a kind: those with at least one session held in the window;
- *participation minutes*: the sum, over present marks, of the session's length;
- *completed*: certificates of attendance issued in the window; *cefr_improved*: of those, the ones whose level
  reached is at least one CEFR level above the level at entry (AMIF result indicator R.2.8).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date
from typing import Any

from lgnet_shared.envelope import Envelope
from lgnet_shared.events import civic as c

Row = dict[str, Any]
ACTIVITIES, SESSIONS, ATTENDANCE, CERTIFICATES = (
    "civic_activities",
    "civic_sessions",
    "civic_attendance",
    "civic_certificates",
)
# table -> (key, columns): every row is written by events of one activity (one Kafka key, one partition).
TABLES: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
    ACTIVITIES: (("activity_id",), {"activity_id": "text", "city": "text", "kind": "text", "partner": "text",
                                    "starts_on": "date"}),
    SESSIONS: (("session_id",), {"session_id": "text", "activity_id": "text", "city": "text", "held_on": "date",
                                 "minutes": "integer", "volunteer_ids": "text[]"}),
    ATTENDANCE: (("session_id", "person_id"), {"session_id": "text", "person_id": "text", "activity_id": "text",
                                               "present": "boolean"}),
    CERTIFICATES: (("certificate_id",), {"certificate_id": "text", "activity_id": "text", "person_id": "text",
                                         "city": "text", "issued_on": "date",
                                         "level_at_entry": "text", "level_reached": "text"}),
}  # fmt: skip
FACTS = [m.type for m in (c.CivicActivityOrganised, c.CivicSessionHeld, c.CivicAttendanceRecorded,
                          c.CivicCertificateIssued)]  # fmt: skip
KINDS = [k.value for k in c.CivicActivityKind]
FIGURES = ("activities", "sessions", "participants", "participation_minutes", "completed", "cefr_improved")
# Write: (mode, table, row), built by projection.py into its own Write.
Writes = list[tuple[str, str, Row]]


def improved(entry: str | None, reached: str | None) -> bool:
    order = [lv.value for lv in c.CEFR_ORDER]
    if entry not in order or reached not in order:
        return False
    return order.index(reached) > order.index(entry)


def project(env: Envelope, e: Any) -> Writes:
    """The writes of one civic fact (rows keyed by session or certificate are written by one activity's events)."""
    if isinstance(e, c.CivicActivityOrganised):
        return [("upsert", ACTIVITIES, {"activity_id": e.activity_id, "city": e.city, "kind": e.kind.value,
                                        "partner": e.partner, "starts_on": e.starts_on})]  # fmt: skip
    if isinstance(e, c.CivicSessionHeld):
        return [("insert", SESSIONS, {"session_id": e.session_id, "activity_id": e.activity_id, "city": env.city,
                                      "held_on": e.held_on, "minutes": e.duration_minutes,
                                      "volunteer_ids": sorted(set(e.volunteer_ids))})]  # fmt: skip
    if isinstance(e, c.CivicAttendanceRecorded):
        marks = [(p, True) for p in e.present] + [(p, False) for p in e.absent]
        return [("upsert", ATTENDANCE, {"session_id": e.session_id, "person_id": p, "activity_id": e.activity_id,
                                        "present": present}) for p, present in marks]  # fmt: skip
    if isinstance(e, c.CivicCertificateIssued):
        return [("insert", CERTIFICATES, {"certificate_id": e.certificate_id, "activity_id": e.activity_id,
                                          "person_id": e.person_id, "city": env.city,
                                          "issued_on": e.issued_on,
                                          "level_at_entry": e.level_at_entry and e.level_at_entry.value,
                                          "level_reached": e.level_reached and e.level_reached.value})]  # fmt: skip
    return []


def _month(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def indicators(
    facts: dict[str, list[Row]],
    in_window: Callable[[date | None], bool],
    here: Callable[[Row], bool],
    canonical: Callable[[str], str],
) -> dict[str, Any]:
    """`civic_engagement` (in total), `civic_by_kind` and `civic_monthly` (months with a session only)."""
    kind_of = {a["activity_id"]: a["kind"] for a in facts[ACTIVITIES]}
    sessions = {s["session_id"]: s for s in facts[SESSIONS] if here(s) and in_window(s["held_on"])}
    per_kind: dict[str, dict[str, Any]] = {k: _empty() for k in KINDS}
    monthly: dict[str, dict[str, Any]] = {}
    volunteers: set[str] = set()
    for s in sessions.values():
        kind = kind_of.get(s["activity_id"], "unknown")
        cell = per_kind.setdefault(kind, _empty())
        cell["_activities"].add(s["activity_id"])
        cell["sessions"] += 1
        month = monthly.setdefault(_month(s["held_on"]), _empty())
        month["sessions"] += 1
        volunteers.update(canonical(v) for v in s["volunteer_ids"] or [])
    for mark in facts[ATTENDANCE]:
        held = sessions.get(mark["session_id"])
        if held is None or not mark["present"]:
            continue
        kind, person = kind_of.get(held["activity_id"], "unknown"), canonical(mark["person_id"])
        for cell in (per_kind[kind], monthly[_month(held["held_on"])]):
            cell["_participants"].add(person)
            cell["participation_minutes"] += held["minutes"]
    for cert in facts[CERTIFICATES]:
        if here(cert) and in_window(cert["issued_on"]):
            cell = per_kind.setdefault(kind_of.get(cert["activity_id"], "unknown"), _empty())
            cell["completed"] += 1
            cell["cefr_improved"] += improved(cert["level_at_entry"], cert["level_reached"])
    total = _empty()
    for cell in per_kind.values():
        total["_activities"] |= cell["_activities"]
        total["_participants"] |= cell["_participants"]
        for f in ("sessions", "participation_minutes", "completed", "cefr_improved"):
            total[f] += cell[f]
    return {
        "civic_engagement": _done(total) | {"volunteers": len(volunteers)},
        "civic_by_kind": {k: _done(v) for k, v in sorted(per_kind.items())},
        "civic_monthly": [
            {"month": m, **{f: _done(v)[f] for f in ("sessions", "participants", "participation_minutes")}}
            for m, v in sorted(monthly.items())
        ],
    }


def _empty() -> dict[str, Any]:
    return {"_activities": set(), "_participants": set(), "sessions": 0, "participation_minutes": 0, "completed": 0,
            "cefr_improved": 0}  # fmt: skip


def _done(cell: dict[str, Any]) -> dict[str, int]:
    return {
        "activities": len(cell["_activities"]),
        "sessions": cell["sessions"],
        "participants": len(cell["_participants"]),
        "participation_minutes": cell["participation_minutes"],
        "completed": cell["completed"],
        "cefr_improved": cell["cefr_improved"],
    }


def person_cells(ind: dict[str, Any]) -> Iterable[tuple[str | int, ...]]:
    """Paths (under `indicators`) of the civic cells that count persons: the national report suppresses them."""
    for f in ("participants", "completed", "cefr_improved", "volunteers"):
        yield ("civic_engagement", f)
    for kind in ind["civic_by_kind"]:
        for f in ("participants", "completed", "cefr_improved"):
            yield ("civic_by_kind", kind, f)
    for n in range(len(ind["civic_monthly"])):
        yield ("civic_monthly", n, "participants")
