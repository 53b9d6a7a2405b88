"""Civic engagement in the reports (domain/civic.py), without I/O: participants, hours and completions per kind and
month from the projected facts; a corrected register counts its latest mark; merged persons count once; CEFR
progress; method 2 reports stay without it; the national report suppresses its small person counts."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from lgnet_reporting.adapters import exports
from lgnet_reporting.domain import fund
from lgnet_reporting.domain.indicators import Window, summary
from lgnet_reporting.domain.national import national
from lgnet_reporting.domain.projection import Tables, project
from lgnet_shared.codec import to_envelope
from lgnet_shared.events import Event
from lgnet_shared.events import civic as c
from lgnet_shared.events import intake as i

K = c.CivicActivityKind


def facts(events: list[tuple[str, Event]]) -> dict[str, list[dict[str, Any]]]:
    t = Tables()
    for city, e in events:
        env = to_envelope(e, source="/lgnet/intake", city=city, time=datetime(2026, 1, 1, tzinfo=UTC))
        t.apply(project(env, e))
    return t.facts()


def course(aid: str, kind: K = K.ITALIAN_LANGUAGE_COURSE, city: str = "torino") -> tuple[str, Event]:
    return city, c.CivicActivityOrganised(activity_id=aid, city=city, kind=kind, title="Corso",
                                          starts_on=date(2026, 2, 1))  # fmt: skip


def held(aid: str, sid: str, on: date, minutes: int = 120, city: str = "torino", vols: tuple[str, ...] = ()) -> Any:
    return city, c.CivicSessionHeld(activity_id=aid, session_id=sid, held_on=on, place="Sala",
                                    duration_minutes=minutes, volunteer_ids=list(vols))  # fmt: skip


def register(aid: str, sid: str, present: list[str], absent: list[str] = [], city: str = "torino") -> Any:  # noqa: B006
    return city, c.CivicAttendanceRecorded(activity_id=aid, session_id=sid, present=present, absent=absent)


def cert(aid: str, cid: str, pid: str, entry: c.CefrLevel | None, reached: c.CefrLevel | None) -> Any:
    return "torino", c.CivicCertificateIssued(activity_id=aid, certificate_id=cid, person_id=pid,
                                              issued_on=date(2026, 6, 26), attended_sessions=3, held_sessions=3,
                                              level_at_entry=entry, level_reached=reached)  # fmt: skip


def year() -> list[tuple[str, Event]]:
    return [
        course("a1"),
        course("g1", K.PEER_GROUP),
        held("a1", "s1", date(2026, 3, 2), vols=("v1",)),
        held("a1", "s2", date(2026, 4, 6), vols=("v1", "v2")),
        held("g1", "s3", date(2026, 4, 7), minutes=90),
        register("a1", "s1", ["p1", "p2"], ["p3"]),
        register("a1", "s2", ["p1", "p3"]),
        register("a1", "s2", [], ["p3"]),  # corrected: p3 was absent after all
        register("g1", "s3", ["p1", "p4"]),
        cert("a1", "c1", "p1", c.CefrLevel.A1, c.CefrLevel.A2),
        cert("a1", "c2", "p2", c.CefrLevel.A2, c.CefrLevel.A2),
        ("torino", i.PersonsMerged(surviving_person_id="p1", merged_person_id="p4", decided_by="x")),
    ]


def test_counts_per_kind_month_and_in_total() -> None:
    report = summary(facts(year()), Window(date(2026, 12, 31)), "torino")
    by_kind = report["civic_by_kind"]
    lang = by_kind["italian_language_course"]
    assert lang == {"activities": 1, "sessions": 2, "participants": 2, "participation_minutes": 3 * 120,
                    "completed": 2, "cefr_improved": 1}  # fmt: skip
    group = by_kind["peer_group"]
    assert (group["participants"], group["participation_minutes"]) == (1, 180)  # p4 merged into p1: one person
    assert by_kind["civic_orientation"]["sessions"] == 0
    assert report["civic_engagement"] == {"activities": 2, "sessions": 3, "participants": 2,
                                          "participation_minutes": 540, "completed": 2, "cefr_improved": 1,
                                          "volunteers": 2}  # fmt: skip
    assert report["civic_monthly"] == [
        {"month": "2026-03", "sessions": 1, "participants": 2, "participation_minutes": 240},
        {"month": "2026-04", "sessions": 2, "participants": 1, "participation_minutes": 300},
    ]


def test_a_period_and_another_city_see_only_their_sessions() -> None:
    events = [*year(), course("t1", city="trieste"), held("t1", "s9", date(2026, 3, 3), city="trieste"),
              register("t1", "s9", ["q1"], city="trieste")]  # fmt: skip
    april = summary(facts(events), Window(date(2026, 4, 30), date(2026, 4, 1)), "torino")["civic_engagement"]
    assert (april["sessions"], april["participants"], april["completed"]) == (2, 1, 0)
    trieste = summary(facts(events), Window(date(2026, 12, 31)), "trieste")["civic_engagement"]
    assert (trieste["sessions"], trieste["participants"]) == (1, 1)


def test_reports_of_method_2_stay_without_civic_engagement() -> None:
    old = summary(facts(year()), Window(date(2026, 12, 31), method=2), "torino")
    assert "civic_engagement" not in old and "civic_by_kind" not in old


def test_a_fund_indicator_a_reports_method_never_counted_reads_no_data_not_suppressed() -> None:
    """The fund's table read "soppresso" for the civic indicators of a report made before civic engagement was
    counted (method 2): nothing was hidden, nothing was counted (an outside review)."""
    old = {"report": "city_summary", "scope": "torino", "as_of": "2026-12-31", "period_from": None, "digest": "d",
           "positions": {}, "method": 2,
           "indicators": summary(facts(year()), Window(date(2026, 12, 31), method=2), "torino")}  # fmt: skip
    civic = next(f for f in fund.figures(old) if f["code"] == "AMIF.O.2.3.1")
    assert civic["value"] is None and civic["no_data"] is True and "metodo" in civic["why_not"], civic
    rows = exports.fund_csv(old, fund.figures(old)).decode().splitlines()
    [row] = [r for r in rows if r.startswith("AMIF.O.2.3.1;")]
    assert ";n.d.;" in row and "soppresso" not in row, row


def test_fund_indicators_read_language_and_orientation_participants_and_cefr_progress() -> None:
    doc = {"indicators": summary(facts(year()), Window(date(2026, 12, 31)), "torino")}
    values = {f["code"]: f["value"] for f in fund.figures(doc)}
    assert (values["AMIF.O.2.3.1"], values["AMIF.O.2.3.2"], values["AMIF.R.2.8"]) == (2, 0, 1)


def test_the_national_report_suppresses_small_person_counts() -> None:
    doc = national(facts(year()), Window(date(2026, 12, 31)), 5)
    civic = doc["indicators"]["civic_engagement"]
    assert civic["participants"] is None and civic["participation_minutes"] is None
    assert civic["sessions"] == 3  # sessions are not persons
