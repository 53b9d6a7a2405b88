"""Street outreach and the agenda in the reports (issue #19, method 3): outings, contacts, distinct people
contacted, the share later taken in charge and the median days to it, per city and month; appointments; method-2
reports stay as they were; the national aggregate suppresses small cells of people contacted."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Any

import pytest
from lgnet_reporting.domain import national
from lgnet_reporting.domain.indicators import METHOD, Window, summary
from lgnet_reporting.domain.projection import TABLES, Tables, project
from lgnet_shared.codec import decode, to_envelope
from lgnet_shared.events import Event
from lgnet_shared.events import outreach as o

if TYPE_CHECKING:
    from playwright.async_api import Browser

    from conftest import ReportingUnderTest


def outing(oid: str, on: date, city: str = "torino", minutes: int = 180) -> o.OutingRecorded:
    return o.OutingRecorded(outing_id=oid, unit_id=f"u-{city}", city=city, on=on, start_time=time(20),
                            end_time=time(23), minutes=minutes, places=["Stazione"], staff=["op-1"])  # fmt: skip


def contact(
    cid: str, sid: str, on: date, city: str = "torino", first: date | None = None,
    services: tuple[str, ...] = ("food", "information"),
) -> o.StreetContactRecorded:  # fmt: skip
    return o.StreetContactRecorded(contact_id=cid, street_id=sid, outing_id="x", unit_id=f"u-{city}", city=city,
                                   contacted_on=on, first_contact_on=first or on, age_band="30_44", sex="male",
                                   services_offered=[o.StreetService(s) for s in services],
                                   place="Stazione")  # fmt: skip


def link(sid: str, pid: str, on: date, first: date) -> o.StreetPersonLinked:
    return o.StreetPersonLinked(street_id=sid, person_id=pid, city="torino", linked_on=on, first_contact_on=first)


def booked(aid: str, day: int) -> o.AppointmentBooked:
    at = datetime(2026, 3, day, 9, tzinfo=UTC)
    return o.AppointmentBooked(appointment_id=aid, city="torino", agenda="desk", operator="op-1", person_id="p-1",
                               purpose="first_interview", starts_at=at, ends_at=at.replace(hour=10),
                               booked_by="staff")  # fmt: skip


def facts(events: list[Event]) -> dict[str, list[dict[str, Any]]]:
    t = Tables()
    for e in [*events, events[0]]:  # a redelivered event counts once
        env = to_envelope(e, source="/lgnet/intake", city=getattr(e, "city", "torino"))
        t.apply(project(env, decode(env)))
    return {name: list(t.rows[name].values()) for name in TABLES}


FEB, MAR = date(2026, 2, 10), date(2026, 3, 5)
EVENTS: list[Event] = [
    outing("o1", FEB), outing("o2", MAR, minutes=240), outing("o3", MAR, city="trieste"),
    contact("c1", "s1", FEB), contact("c2", "s1", MAR, first=FEB),  # s1 met twice, taken in charge 20 days later
    link("s1", "p-1", date(2026, 3, 2), FEB),
    contact("c3", "s2", FEB), contact("c4", "s3", MAR),  # s2 never taken in charge; s3 is the same person as s1
    link("s3", "p-1", date(2026, 3, 20), MAR),
    contact("c5", "s4", MAR), link("s4", "p-4", date(2026, 3, 15), MAR),
    contact("c9", "s9", MAR, city="trieste"),
    booked("a1", 2), booked("a2", 3), booked("a3", 4),
    o.AppointmentOutcomeRecorded(appointment_id="a1", outcome="no_show", on=date(2026, 3, 2)),
    o.AppointmentOutcomeRecorded(appointment_id="a2", outcome="attended", on=date(2026, 3, 3)),
    o.AppointmentCancelled(appointment_id="a3", reason="by_person", cancelled_on=date(2026, 3, 1)),
]  # fmt: skip


def test_outings_contacts_people_and_taking_in_charge_per_city_and_month() -> None:
    torino = summary(facts(EVENTS), Window(date(2026, 3, 31), date(2026, 2, 1)), "torino")
    street = torino["outreach"]
    assert street["outings"] == 2 and street["outing_hours"] == 7.0 and street["contacts"] == 5
    # s1 and s3 are one person (p-1): people contacted are p-1, s2 and p-4.
    assert street["persons_contacted"] == 3 and street["first_contacts"] == 3
    assert street["taken_in_charge"] == 2 and street["taken_in_charge_share"] == round(2 / 3, 4)
    # p-1: first contact 10 February (kept through both links), taken in charge 2 March: 20 days; p-4: 10 days.
    assert street["days_to_taking_in_charge_median"] == 15.0
    assert torino["contacts_by_service_offered"] == {"food": 5, "information": 5}
    months = {m["month"]: m for m in torino["outreach_monthly"]}
    assert months["2026-02"] | {} == {"month": "2026-02", "outings": 1, "contacts": 2, "persons_contacted": 2,
                                      "first_contacts": 2, "taken_in_charge": 1,
                                      "days_to_taking_in_charge_median": 20.0}  # fmt: skip
    assert months["2026-03"]["persons_contacted"] == 2 and months["2026-03"]["first_contacts"] == 1
    assert torino["appointments"] == {"booked": 2, "attended": 1, "no_show": 1, "cancelled": 1}


def test_links_after_as_of_do_not_count_yet() -> None:
    early = summary(facts(EVENTS), Window(date(2026, 2, 28)), "torino")["outreach"]
    assert early["persons_contacted"] == 2 and early["taken_in_charge"] == 0
    assert early["days_to_taking_in_charge_median"] is None and early["taken_in_charge_share"] == 0.0


def test_method_two_reports_stay_without_outreach() -> None:
    old = summary(facts(EVENTS), Window(date(2026, 3, 31), method=2), "torino")
    assert "outreach" not in old and "appointments" not in old


def test_the_national_aggregate_suppresses_small_cells_of_people_contacted() -> None:
    doc = national.national(facts(EVENTS), Window(date(2026, 3, 31)), threshold=5)
    street = doc["indicators"]["outreach"]
    assert street["outings"] == 3  # not persons: never suppressed
    assert street["persons_contacted"] is None and street["taken_in_charge"] is None
    assert street["days_to_taking_in_charge_median"] is None


def test_the_national_aggregate_suppresses_small_counts_of_appointments() -> None:
    """Each appointment is one person's (docs/reporting.md, method 10): under method 9 the national aggregate
    published 1 no-show and 1 cancellation while hiding every other count from 1 to threshold - 1."""
    doc = national.national(facts(EVENTS), Window(date(2026, 3, 31)), threshold=5)
    assert doc["method"] == METHOD
    assert doc["indicators"]["appointments"] == {"booked": None, "attended": None, "no_show": None, "cancelled": None}
    shown = national.national(facts(EVENTS), Window(date(2026, 3, 31)), threshold=1)
    assert shown["indicators"]["appointments"] == {"booked": 2, "attended": 1, "no_show": 1, "cancelled": 1}


# Digests of the national aggregate of EVENTS as of 31 March 2026 (threshold 5) under methods 3 and 9, computed with
# the code before method 10 (appointments not suppressed): published reports of those methods must replay to them.
RECORDED = {
    3: "64190db9e6b5ed1a6d735a7909764686695ada864839edb8c61fbe8051446864",
    9: "7dcc169250e4f4e397a315e02f72a6eb501a00f2eb0c071c559763da6e548a24",
}


def test_national_reports_of_earlier_methods_keep_their_appointments_and_digests() -> None:
    from lgnet_reporting.domain.canonical import digest

    for method, recorded in RECORDED.items():
        doc = national.national(facts(EVENTS), Window(date(2026, 3, 31), None, method), threshold=5)
        assert doc["indicators"]["appointments"]["no_show"] == 1, method
        assert digest(doc) == recorded, method


# One more street contact in Torino in March, offered only a hygiene kit: 2 contacts in February, 5 in March (one of
# them Trieste's), 7 in all; food and information 6 each, hygiene kits 1.
STREET: list[Event] = [*EVENTS, contact("c6", "s6", MAR, services=("hygiene_kit",))]


def _contacts(doc: dict[str, Any]) -> tuple[Any, list[Any], dict[str, Any]]:
    ind = doc["indicators"]
    return (
        ind["outreach"]["contacts"],
        [m["contacts"] for m in ind["outreach_monthly"]],
        ind["contacts_by_service_offered"],
    )


def test_the_national_aggregate_suppresses_small_counts_of_street_contacts() -> None:
    """Each street contact is one person's (docs/reporting.md, method 11): under method 10 the national aggregate
    published February's 2 contacts beside its hidden 2 people contacted, so the reader had them back. The months'
    contacts add up to the contacts: February hidden, March's 5 would be the 7 less February's 2, so it is hidden too.
    A contact may be offered several services (or none): they do not add up to the contacts, each small one is hidden
    on its own (1 hygiene kit). From method 13 the rest is hidden too: each of them less Torino's own (its staff's
    exact report: 6 contacts, 4 in March, 5 food and information) is Trieste's 1 contact."""
    doc = national.national(facts(STREET), Window(date(2026, 3, 31), None, 11), threshold=3)
    assert _contacts(doc) == (7, [None, None], {"food": 6, "hygiene_kit": None, "information": 6})
    now = national.national(facts(STREET), Window(date(2026, 3, 31)), threshold=3)
    assert now["method"] == METHOD == 13
    assert _contacts(now) == (None, [None, None], {"food": None, "hygiene_kit": None, "information": None})
    assert _contacts(national.national(facts(STREET), Window(date(2026, 3, 31)), threshold=1)) == (
        7, [2, 5], {"food": 6, "hygiene_kit": 1, "information": 6}
    )  # fmt: skip
    # A city's own report stays exact: Torino's staff read their 1 hygiene kit and February's 2 contacts.
    own = national.city_summary(facts(STREET), Window(date(2026, 3, 31)), "torino")
    assert _contacts(own) == (6, [2, 4], {"food": 5, "hygiene_kit": 1, "information": 5})


def test_a_total_of_street_contacts_is_hidden_when_no_month_is_left_to_hide() -> None:
    """One month of 2 contacts: the month is hidden, and the total (the month itself) with it."""
    doc = national.national(facts([contact("c1", "s1", FEB), contact("c3", "s2", FEB)]), Window(date(2026, 2, 28)), 3)
    assert _contacts(doc) == (None, [None], {"food": None, "information": None})


def test_months_that_leave_contacts_out_form_no_group() -> None:
    """The months show at most ten years: 5 contacts of 2015 are in the contacts (12) but in no month, so February's
    hidden 2 cannot be taken back from them and March's 5 stays shown (a group would hide it for nothing)."""
    old = [contact(f"c-old{n}", f"s-old{n}", date(2015, 6, 1)) for n in range(5)]
    recent = [
        contact("c1", "s1", FEB),
        contact("c3", "s2", FEB),
        *(contact(f"c-m{n}", f"s-m{n}", MAR) for n in range(5)),
    ]
    doc = national.national(facts([*old, *recent]), Window(date(2026, 3, 31)), 3)
    total, months, _ = _contacts(doc)
    assert total == 12 and months[-2:] == [None, 5] and len(months) == 120


# The same log's digests under method 10, computed with the code before method 11 (street contacts not suppressed).
RECORDED_BEFORE_11 = {**RECORDED, 10: "bf0e6ebe67c225ef83a0f809b05177070482472c17610be833e487062045aed8"}


def test_national_reports_of_methods_3_to_10_keep_their_contact_counts_and_digests() -> None:
    from lgnet_reporting.domain.canonical import digest

    for method, recorded in RECORDED_BEFORE_11.items():
        doc = national.national(facts(EVENTS), Window(date(2026, 3, 31), None, method), threshold=5)
        assert _contacts(doc) == (6, [2, 4], {"food": 6, "information": 6}), method
        assert digest(doc) == recorded, method


@pytest.mark.integration
async def test_the_published_national_aggregate_hides_small_appointment_counts_and_replays(
    reporting: ReportingUnderTest,
) -> None:
    """On the service (real Kafka and PostgreSQL, threshold 3): Torino's 2 booked, 1 attended, 1 no-show and 1
    cancelled appointments of March are hidden in the national aggregate, published with the live method (10 and
    later); the auditors' replay reproduces its digest."""
    await reporting.send([reporting.envelope(e, "torino", date(2026, 3, 1)) for e in EVENTS[-6:]])
    await reporting.settle()
    async with reporting.client("coordination") as c:
        r = await c.get("/reports/national", params={"as_of": "2026-03-31"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["method"] == METHOD and body["suppression"]["threshold"] == 3
        assert body["indicators"]["appointments"] == dict.fromkeys(("booked", "attended", "no_show", "cancelled"))
        r = await c.post("/reports/national/publish", json={"as_of": "2026-03-31"}, headers={"Idempotency-Key": "ap-1"})
    assert r.status_code in (200, 201), r.text
    code, lines = await reporting.replay("--published")
    checks = [x for x in lines if "equal" in x and "report" in x]
    assert code == 0 and checks and all(x["equal"] for x in checks), lines


@pytest.mark.integration
async def test_hidden_street_contacts_read_suppressed_in_every_export_and_on_the_dashboard(
    reporting: ReportingUnderTest, browser: Browser
) -> None:
    """On the service (real Kafka and PostgreSQL, threshold 3): the national aggregate of STREET hides both months'
    contacts and the 1 hygiene kit (method 11), and from method 13 the contacts and the services offered too (each
    less Torino's own is Trieste's 1 contact); the CSV, the XLSX, the PDF and the dashboard's street units' table
    read them "soppresso", like every other hidden cell; the published report replays to its digest."""
    await reporting.send([reporting.envelope(e, getattr(e, "city", "torino"), date(2026, 3, 1)) for e in STREET])
    await reporting.settle()
    params = {"as_of": "2026-03-31"}
    async with reporting.client("coordination") as c:
        body = (await c.get("/reports/national", params=params)).json()
        hidden = (None, [None, None], {"food": None, "hygiene_kit": None, "information": None})
        assert body["method"] == METHOD and _contacts(body) == hidden
        export = "/reports/national/export"
        files = {f: await c.get(export, params={**params, "format": f}) for f in ("csv", "xlsx", "pdf")}
        assert all(r.status_code == 200 for r in files.values()), {f: r.text[:200] for f, r in files.items()}
        r = await c.post("/reports/national/publish", json=params, headers={"Idempotency-Key": "sc-1"})
    assert r.status_code in (200, 201), r.text
    lines = files["csv"].text.splitlines()
    months = [x.rsplit(";", 1)[1] for x in lines if x.startswith("outreach_monthly;") and ";contacts;" in x]
    assert months == ["soppresso"] * 2
    assert [x.rsplit(";", 1)[1] for x in lines if x.startswith("contacts_by_service_offered;")] == ["soppresso"] * 3

    import io

    from openpyxl import load_workbook
    from pypdf import PdfReader

    sheet = load_workbook(io.BytesIO(files["xlsx"].content)).active
    cells = {(r[0], r[1], r[2]): r[-1] for r in sheet.iter_rows(values_only=True) if r and r[0]}
    assert [cells["outreach_monthly", m, "contacts"] for m in ("2026-02", "2026-03")] == ["soppresso"] * 2
    assert cells["contacts_by_service_offered", "hygiene_kit", None] == "soppresso"
    assert cells["outreach", None, "contacts"] == "soppresso"
    text = "".join("".join((p.extract_text() or "").split()) for p in PdfReader(io.BytesIO(files["pdf"].content)).pages)
    assert "Kitigienicosoppresso" in text and "Contattisoppresso" in text, text
    assert "feb2026Contattisoppresso" in text and "mar2026Contattisoppresso" in text, text

    page = await browser.new_page()
    token = reporting.tokens["coordination"]
    await page.goto(f"{reporting.process.url}/dashboard#token={token}&report=national&as_of=2026-03-31")
    await page.wait_for_selector("body[data-loaded='national']", timeout=20000)
    shown = [await c.inner_text() for c in await page.query_selector_all("#outreach tbody tr td:nth-child(3)")]
    await page.close()
    assert shown == ["soppresso"] * 2  # the contacts column, one cell per month

    code, out = await reporting.replay("--published")
    checks = [x for x in out if "equal" in x and "report" in x]
    assert code == 0 and checks and all(x["equal"] for x in checks), out
