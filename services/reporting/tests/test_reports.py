"""Every indicator checked against expectations computed by hand from the scenario (conftest.scenario_events),
through the real service (Kafka → projections in PostgreSQL → HTTP API), as of dates and for a period.

The story, Torino: household H1 (P1 adult, P2 and P3 minors; P8 joins on 15 March, its reference person from 25
April in P1's place) with case C1 (housing
inclusion, desk, 10 Jan - closed 20 Apr, autonomy); H2 (P4 alone) case C2 (taking charge, mobile unit, 15 Feb);
H3 (P5 aged 17, P7) case C3 (taking charge, desk, 1 Feb); H4 (P6, a duplicate of P5, merged into P5) case C4
(civic engagement, 1 Mar - dropped out 20 Mar). Trieste: H5 (P9, P10 minor, P10 later erased) case C5.
Bologna: H6 (P11) case C6. Placements, a lease, contributions (one failed) and vouchers around C1 and C2.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
from lgnet_shared import clock
from lgnet_shared.cities import programme_cities
from lgnet_shared.events import intake as i
from lgnet_shared.topics import physical
from openpyxl import load_workbook

if TYPE_CHECKING:
    from conftest import ReportingUnderTest

# One loaded reporting for the module (`loaded_shared`), which its tests only read. A test that sends facts or
# publishes a report takes one of its own (`own_service`): every fact counts in its city's figures, and the replays
# and `/reports/published` the others assert on take every report published on the log.
pytestmark = [pytest.mark.integration, pytest.mark.shared_service]
PERSON_IDS = [f"P{n}" for n in range(1, 12)] + ["H1", "H2", "C1", "RQ1", "V1", "PL1"]


async def get(rt: ReportingUnderTest, actor: str, path: str, **params: str) -> dict[str, Any]:
    async with rt.client(actor) as c:
        r = await c.get(path, params=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_city_summary_as_of_end_of_june(loaded_shared: ReportingUnderTest) -> None:
    body = await get(loaded_shared, "staff-torino", "/reports/city_summary", as_of="2026-06-30")
    ind = body["indicators"]
    assert (body["report"], body["scope"], body["as_of"]) == ("city_summary", "torino", "2026-06-30")
    # P5 and its duplicate P6 are one person; P8 joined H1 while C1 was open.
    assert ind["persons"] == {"total": 7, "minors": 3, "adults": 4, "age_unknown": 0}
    assert ind["third_country_nationals"] == 7
    assert ind["households"] == {"total": 4, "single_person": 2, "multi_person": 2, "no_known_member": 0}
    assert ind["persons_by_action_area"] == {"civic_engagement": 1, "housing_inclusion": 4, "taking_charge": 3}
    assert ind["persons_by_channel"] == {"desk": 6, "mobile_unit": 1}
    # P4 (addiction) withdrew the reporting consent on 1 May: not in the consent-based indicators any more.
    # H1's and H2's assessments were recorded per household (v1, v2): every member, as then. H3's says whose.
    assert ind["persons_by_vulnerability"] == {"eviction": 4, "victim_of_violence": 1}
    assert ind["reporting_consent"] == {"granted": 6, "not_granted": 1}
    assert ind["persons_by_nationality"] == {"AF": 1, "AL": 1, "MA": 4, "NG": 1}
    assert ind["persons_by_sex"] == {"female": 3, "male": 4}
    assert ind["persons_by_referral_source"] == {"reception_exit": 2, "social_district": 4, "territory": 1}
    assert ind["cases"] == {"opened": 4, "closed": 2, "open_at_as_of": 2}
    assert ind["case_outcomes"] == {"dropped_out": 1, "housing_autonomy": 1}
    assert ind["placements"] == {"started": 1, "ended": 0, "active_at_as_of": 1}
    assert ind["placements_by_kind"] == {"private_rental": 1}
    assert ind["leases_by_type"] == {"lease": 1}
    assert ind["days_to_placement"] == {"placements": 1, "median": 50.0}  # 10 Jan -> 1 Mar
    # RQ3 was paid then failed: not counted as paid.
    assert ind["contributions_paid"] == {"count": 2, "amount_cents": 170000}
    assert ind["contributions_paid_by_kind"] == {
        "lease_activation": {"count": 1, "amount_cents": 120000},
        "rent": {"count": 1, "amount_cents": 50000},
    }
    assert ind["contributions_paid_by_budget_line"] == ind["contributions_paid_by_kind"]
    assert ind["contribution_payments_failed"] == 1
    assert ind["vouchers_issued_by_kind"] == {
        "babysitting": {"count": 1, "amount_cents": 8000},
        "public_transport": {"count": 1, "amount_cents": 5000},
    }
    assert ind["vouchers_redeemed_by_kind"] == {"public_transport": {"count": 2, "amount_cents": 3500}}
    assert ind["vouchers_expired"] == {"count": 1, "remaining_cents": 8000}
    assert ind["employment"] == {
        "at_opening": {"employed_permanent": 1, "unemployed": 1, "unknown": 4},
        "at_close": {"employed_fixed_term": 1, "unknown": 4},
        "persons_closed": 5,
        "employed_at_opening": 1,
        "employed_at_close": 1,
    }
    assert [(m["month"], m["cases_opened"], m["new_persons"], m["placements_started"], m["paid_cents"])
            for m in ind["monthly"]] == [
        ("2026-01", 1, 4, 0, 0), ("2026-02", 2, 3, 0, 0), ("2026-03", 1, 0, 1, 170000),
        ("2026-04", 0, 0, 0, 0), ("2026-05", 0, 0, 0, 0), ("2026-06", 0, 0, 0, 0),
    ]  # fmt: skip
    assert len(body["digest"]) == 64 and body["positions"]


async def test_as_of_a_past_date(loaded_shared: ReportingUnderTest) -> None:
    ind = (await get(loaded_shared, "staff-torino", "/reports/city_summary", as_of="2026-02-20"))["indicators"]
    # C4 not yet opened, P8 not yet joined, nothing closed, placed or paid.
    assert ind["persons"] == {"total": 6, "minors": 3, "adults": 3, "age_unknown": 0}
    assert ind["households"] == {"total": 3, "single_person": 1, "multi_person": 2, "no_known_member": 0}
    assert ind["cases"] == {"opened": 3, "closed": 0, "open_at_as_of": 3}
    assert ind["placements"]["started"] == 0 and ind["contributions_paid"]["count"] == 0
    assert ind["employment"]["at_opening"] == {"employed_permanent": 1, "unemployed": 2, "unknown": 3}
    assert ind["persons_by_vulnerability"] == {"addiction": 1, "eviction": 3, "victim_of_violence": 1}  # P4's
    # consent still stood then


async def test_for_a_period(loaded_shared: ReportingUnderTest) -> None:
    body = await get(
        loaded_shared, "staff-torino", "/reports/city_summary", **{"from": "2026-03-01", "to": "2026-03-31"}
    )
    ind = body["indicators"]
    assert (body["as_of"], body["period_from"]) == ("2026-03-31", "2026-03-01")
    assert ind["persons"]["total"] == 7  # every case was open at some time in March
    assert ind["cases"] == {"opened": 1, "closed": 1, "open_at_as_of": 3}
    assert ind["case_outcomes"] == {"dropped_out": 1}
    assert ind["contributions_paid"] == {"count": 2, "amount_cents": 170000}
    assert ind["contribution_payments_failed"] == 1
    assert ind["vouchers_redeemed_by_kind"] == {"public_transport": {"count": 1, "amount_cents": 2000}}
    assert ind["vouchers_expired"] == {"count": 0, "remaining_cents": 0}
    assert [m["month"] for m in ind["monthly"]] == ["2026-03"]
    assert ind["monthly"][0]["new_persons"] == 0  # P5's first case opened in February


async def test_national_aggregate_is_suppressed_and_has_no_personal_data(loaded_shared: ReportingUnderTest) -> None:
    body = await get(loaded_shared, "coordination", "/reports/national", as_of="2026-06-30")
    ind, by_city = body["indicators"], body["by_city"]
    assert body["suppression"]["threshold"] == 3
    # Method 7: the cities' minors (Torino 3, Trieste 1) are both hidden, but Torino's staff know their own 3, so the
    # national minors (4) would give Trieste's 1 back: hidden too, and with them the national adults (ages add up).
    assert ind["persons"] == {"total": 10, "minors": None, "adults": None, "age_unknown": 0}
    # Method 12: the 6 households less Torino's own 4 (its staff's exact report) are the other cities' 2: hidden.
    assert ind["households"]["total"] is None
    # Primary: Bologna (1 person) and Trieste (2) are under 3.
    assert by_city["bologna"]["persons"] is None and by_city["trieste"]["persons"] is None
    # Method 7: Bologna's staff know their own 1, so Torino's 7 would give Trieste's 2 back (10 - 7 - 1): hidden.
    assert by_city["torino"]["persons"] is None
    # By difference: national minors 4 = Torino 3 + Trieste 1, so hiding Trieste's 1 hides Torino's 3 too; Torino's
    # row (7 = minors + adults) then has two hidden cells, its persons and minors (method 11 hid its adults instead).
    assert by_city["trieste"]["minors"] is None and by_city["torino"]["minors"] is None
    assert by_city["torino"]["adults"] == 4
    assert by_city["bologna"]["minors"] == 0
    # Placements 2 in all (< 3): hidden, with the amounts tied to hidden counts.
    assert ind["placements"]["started"] is None
    assert ind["contributions_paid"] == {"count": None, "amount_cents": None}
    # Civic engagement (1) is small; the smallest other area (taking charge, 5) goes with it; method 13 hides
    # housing inclusion (6) too (the difference with a city's own report, and the sums it opens).
    assert ind["persons_by_action_area"] == {"civic_engagement": None, "housing_inclusion": None, "taking_charge": None}
    text = str(body)
    assert not [pid for pid in PERSON_IDS if f"'{pid}'" in text]
    # Erased P10 still counts in Trieste's (exact) report.
    trieste = await get(loaded_shared, "staff-trieste", "/reports/city_summary", as_of="2026-06-30")
    assert trieste["indicators"]["persons"] == {"total": 2, "minors": 1, "adults": 1, "age_unknown": 0}


@pytest.mark.own_service  # sends facts again: the shared state's positions
async def test_redelivered_and_repeated_events_change_nothing(loaded: ReportingUnderTest, scenario: Any) -> None:
    before = await get(loaded, "staff-torino", "/reports/city_summary", as_of="2026-06-30")
    await loaded.send(scenario(loaded)[:20])  # the same facts again, with new event ids
    await loaded.settle()
    after = await get(loaded, "staff-torino", "/reports/city_summary", as_of="2026-06-30")
    assert after["digest"] == before["digest"] and after["positions"] != before["positions"]


async def test_a_households_reference_person_changed_is_projected_through_kafka(
    loaded_shared: ReportingUnderTest,
) -> None:
    """household_reference_person_changed, read from Kafka: H1's row names P8, its reference person now (P1 stays
    a member: the memberships keep her formation row, and no leaving); counted as before (the summaries above)."""
    async with loaded_shared.pool.acquire() as conn:
        row = await conn.fetchrow("select city, reference_person_id from households where household_id = 'H1'")
        left = await conn.fetchval("select count(*) from memberships where person_id = 'P1' and change = 'left'")
    assert (row["city"], row["reference_person_id"], left) == ("torino", "P8", 0), row


async def test_access_and_bad_input(loaded_shared: ReportingUnderTest) -> None:
    async with loaded_shared.client(None) as c:
        assert (await c.get("/reports/national")).status_code == 401
    async with loaded_shared.client("staff-torino") as c:
        r = await c.get("/reports/city_summary", params={"city": "trieste"})
        assert r.status_code == 403 and r.json()["field"] == "query.city"
        r = await c.get("/reports/city_summary", params={"as_of": "2026-13-01"})
        assert r.status_code == 422 and r.json()["field"] == "query.as_of"
        # a date is YYYY-MM-DD, as the OpenAPI's `format: date` says: `0` was the report as of 1970-01-01, `86400`
        # as of the day after, a date-time as of its day (pydantic's lax dates)
        for name, value in (("as_of", "0"), ("as_of", "86400"), ("from", "2026-05-01T00:00:00"), ("to", "1e5")):
            r = await c.get("/reports/city_summary", params={name: value})
            assert r.status_code == 422 and r.json()["field"] == f"query.{name}", (name, value, r.text)
        r = await c.get("/reports/city_summary", params={"from": "2026-05-01", "to": "2026-04-01"})
        assert r.status_code == 422 and r.json()["field"] == "query.from"
    # A report as of a date still to come would show today's figures under a later date, and a published one could
    # never be reproduced (events of the days until then arrive after it): refused, naming the date's field.
    tomorrow = (clock.today() + timedelta(days=1)).isoformat()
    async with loaded_shared.client("staff-torino") as c:
        period = {"from": "2026-01-01", "to": tomorrow}
        for params, field in (({"as_of": tomorrow}, "query.as_of"), (period, "query.to")):
            r = await c.get("/reports/city_summary", params=params)
            assert r.status_code == 422 and r.json()["field"] == field, r.text
            assert "in the future" in r.json()["reason"]
        for body, field in (({"as_of": tomorrow}, "as_of"), ({"to": "2026-04-01", "from": "2026-05-01"}, "from")):
            r = await c.post("/reports/city_summary/publish", json=body, headers={"Idempotency-Key": f"f-{field}"})
            assert r.status_code == 422 and r.json()["field"] == field, r.text
    # The report asked for is the path's `report`; a role that may not call a route at all is refused with the field
    # "" (partners.md). Reporting said `report` and `authorization`, names no contract has.
    async with loaded_shared.client("coordination") as c:
        r = await c.get("/reports/city_summary", params={"city": "torino"})
        assert r.status_code == 403 and r.json()["field"] == "path.report"
    async with loaded_shared.client("coop-aurora") as c:  # a Torino partner reads Torino
        assert (await c.get("/reports/city_summary")).json()["indicators"]["persons"]["total"] == 7
        for refused in (
            c.get("/reports/financial_statement"),
            c.get("/reports/city_summary/drilldown", params={"figure": "persons.total"}),
            c.post("/reports/city_summary/publish", json={}, headers={"Idempotency-Key": "p1"}),
        ):
            r = await refused
            assert r.status_code == 403 and r.json()["field"] == "", r.text
    async with loaded_shared.client("staff-torino") as c:  # staff publish, but not this report
        r = await c.post("/reports/national/publish", json={}, headers={"Idempotency-Key": "s1"})
        assert r.status_code == 403 and r.json()["field"] == "path.report", r.text


async def test_exports_show_the_json_numbers(loaded_shared: ReportingUnderTest) -> None:
    body = await get(loaded_shared, "staff-torino", "/reports/city_summary", as_of="2026-06-30")
    async with loaded_shared.client("staff-torino") as c:
        params = {"as_of": "2026-06-30"}
        csv_r = await c.get("/reports/city_summary/export", params={**params, "format": "csv"})
        xlsx_r = await c.get("/reports/city_summary/export", params={**params, "format": "xlsx"})
        pdf_r = await c.get("/reports/city_summary/export", params={**params, "format": "pdf"})
    assert csv_r.headers["x-report-digest"] == body["digest"]
    italian_csv = csv_r.content.decode("utf-8-sig")  # a byte order mark, ";" as an Italian Excel splits cells
    rows = {(r[0], r[1], r[2]): r[6] for r in csv.reader(io.StringIO(italian_csv), delimiter=";") if len(r) == 7}
    assert rows[("persons", "", "total")] == "7"
    assert rows[("persons_by_nationality", "MA", "")] == "4"
    assert rows[("contributions_paid_by_kind", "rent", "amount_cents")] == "50000"
    assert rows[("employment", "at_opening", "unemployed")] == "1"
    assert "persons;;total;Persone;;Totale;7" in csv_r.text  # Italian by default: codes and labels
    # Every code a person reads has its label (an outside test found money_tutoring, households_followed,
    # budget_plan and persons_with_individual_plan shown raw in the PDF and the CSV).
    unlabelled = {
        code
        for r in csv.reader(io.StringIO(italian_csv), delimiter=";")
        if len(r) == 7 and r[0] != "indicator"
        for code, label in ((r[0], r[3]), (r[1], r[4]), (r[2], r[5]))
        if code and label == code
    }
    assert unlabelled == {"eviction"}, ", ".join(sorted(unlabelled))  # a code of old events, outside today's lists
    sheet = load_workbook(io.BytesIO(xlsx_r.content)).active
    cells = {(r[0], r[1] or "", r[2] or ""): r[6] for r in sheet.iter_rows(values_only=True) if len(r) >= 7}
    assert cells[("persons", "", "minors")] == 3
    assert cells[("cases", "", "opened")] == 4
    assert pdf_r.content.startswith(b"%PDF") and pdf_r.headers["content-type"] == "application/pdf"
    async with loaded_shared.client("staff-torino") as c:
        again = await c.get("/reports/city_summary/export", params={**params, "format": "xlsx"})
        english = await c.get("/reports/city_summary/export", params={**params, "format": "csv", "lang": "en"})
        labels = (await c.get("/reports/labels", params={"lang": "en"})).json()
    assert again.content == xlsx_r.content  # byte-identical downloads
    assert "persons,,total,Persons,,Total,7" in english.text
    assert labels["indicators"]["persons_by_vulnerability"]["label"] == "Persons by vulnerability"
    # the programme's cities on the cluster, named (the auditor's chooser on the dashboard)
    assert labels["cities"] == {c: c.title() for c in programme_cities()}, labels["cities"]
    async with loaded_shared.client("coordination") as c:
        national = await c.get("/reports/national/export", params={**params, "format": "csv"})
    assert "by_city;bologna;persons;Per città;Bologna;Persone;soppresso" in national.text


@pytest.mark.own_service  # publishes, sends facts; its replay counts the log's
async def test_replay_rebuilds_identical_reports_deterministically(loaded: ReportingUnderTest, tmp_path: Any) -> None:
    async with loaded.client("coordination") as c:
        r = await c.post("/reports/national/publish", json={"as_of": "2026-06-30"}, headers={"Idempotency-Key": "n1"})
        assert r.status_code == 201, r.text
        again = await c.post(
            "/reports/national/publish", json={"as_of": "2026-06-30"}, headers={"Idempotency-Key": "n1"}
        )
        assert again.json() == r.json()
    published = r.json()
    async with loaded.client("staff-torino") as c:
        t = await c.post(
            "/reports/city_summary/publish", json={"as_of": "2026-06-30"}, headers={"Idempotency-Key": "t1"}
        )
        assert t.status_code == 201, t.text
    async with loaded.client("coordination") as c:
        listed = (await c.get("/reports/published")).json()
        assert [x["scope"] for x in listed] == ["national"]
        body = await c.get(f"/reports/published/{t.json()['report_id']}")
        assert body.status_code == 404  # the national role never sees a city's report: one never published
    async with loaded.client("staff-torino") as c:
        mine = (await c.get(f"/reports/published/{t.json()['report_id']}")).json()
        assert mine["digest"] == t.json()["digest"] and mine["body"]["indicators"]["persons"]["total"] == 7
    live = await get(loaded, "coordination", "/reports/national", as_of="2026-06-30")
    assert published["digest"] == live["digest"] and published["positions"] == live["positions"]
    # More events after publication: the published reports must still be reproducible at their positions.
    late = i.CaseOpened(case_id="C9", household_id="H2", city="torino", action_area=i.ActionArea.TAKING_CHARGE,
                        channel=i.Channel.DESK, partner="coop", opened_on=live["as_of"])  # fmt: skip
    await loaded.send([loaded.envelope(late, "torino")])
    # Not an event at all: live dead-letters it, the replay skips it; neither changes a number.
    await loaded.producer.send_and_wait(physical("intake.events", loaded.prefix), b"not json", key=b"C1")
    await loaded.settle()

    code, lines = await loaded.replay("--published")
    checks = [x for x in lines if "equal" in x and "report" in x]
    assert code == 0, lines
    assert lines[0]["replay"]["skipped"] == {"redelivered": 20}  # case_opened, contribution_paid, registrations
    assert {(x["report"], x["scope"], x["report_id"]) for x in checks} == {
        ("national", "national", published["report_id"]),
        ("city_summary", "torino", t.json()["report_id"]),
    }
    assert all(x["replayed_digest"] == x["expected_digest"] for x in checks)

    out1, out2 = tmp_path / "one", tmp_path / "two"
    code1, lines1 = await loaded.replay("--as-of", "2026-06-30", "--out", str(out1))
    code2, _ = await loaded.replay("--as-of", "2026-06-30", "--out", str(out2), "--workers", "1")
    assert (code1, code2) == (0, 0), lines1
    # "not json" is unsigned too: live refuses it for that first (its signature is checked before it is read)
    assert lines1[0]["replay"]["skipped"] == {"signature": 1, "redelivered": 20}
    scopes = {(x["report"], x["scope"]) for x in lines1 if "equal" in x and "report" in x}
    assert scopes == {("national", "national"), *(("city_summary", c) for c in ("bologna", "torino", "trieste"))}
    files = sorted(p.name for p in out1.iterdir())
    assert len(files) == 4 and all((out1 / f).read_bytes() == (out2 / f).read_bytes() for f in files)

    # The same report, scope and as-of published again (now at later positions): a report of its own, whose file
    # overwrote the first one's (an outside test: 5 reports checked, 4 files written). Each file names its report.
    async with loaded.client("coordination") as c:
        r2 = await c.post("/reports/national/publish", json={"as_of": "2026-06-30"}, headers={"Idempotency-Key": "n2"})
        assert r2.status_code == 201, r2.text
    assert r2.json()["report_id"] != published["report_id"]
    out3 = tmp_path / "published"
    code, lines = await loaded.replay("--published", "--out", str(out3))
    checks = [x for x in lines if "equal" in x and "report" in x]
    assert code == 0 and len(checks) == 3, lines
    assert sorted(p.name for p in out3.iterdir()) == sorted(
        f"{x['report']}-{x['scope']}-{x['as_of']}-{x['report_id']}.json" for x in checks
    )


async def test_fund_indicators_financial_statement_and_drill_down(loaded_shared: ReportingUnderTest) -> None:
    june = {"as_of": "2026-06-30"}
    fund = await get(loaded_shared, "staff-torino", "/reports/city_summary/fund", **june)
    figures = {f["code"]: f for f in fund["figures"]}
    assert figures["AMIF.O.2.3"]["value"] == 7 and figures["AMIF.O.2.3"]["label"] == "Partecipanti sostenuti"
    assert figures["FAMI.autonomia_abitativa"]["value"] == 1
    assert figures["AMIF.R.2.9"]["derivable"] is False and figures["AMIF.R.2.9"]["why_not"]
    city = await get(loaded_shared, "staff-torino", "/reports/city_summary", **june)
    assert fund["digest"] == city["digest"]  # the figures are the report's own numbers
    async with loaded_shared.client("staff-torino") as c:
        table = await c.get("/reports/city_summary/fund/export", params={**june, "format": "csv"})
        sheet = await c.get("/reports/city_summary/fund/export", params={**june, "format": "xlsx"})
        again = await c.get("/reports/city_summary/fund/export", params={**june, "format": "xlsx"})
    assert "AMIF.O.2.3;AMIF;Realizzazione;Partecipanti sostenuti;7;persone;persons.total;" in table.text
    assert sheet.content == again.content and table.headers["x-report-digest"] == city["digest"]
    national = await get(loaded_shared, "coordination", "/reports/national/fund", **june)
    assert {f["code"]: f["value"] for f in national["figures"]}["AMIF.O.2.2"] == 3  # cities supported

    money = await get(loaded_shared, "staff-torino", "/reports/financial_statement", **june)
    lines = {x["budget_line_id"]: x for x in money["lines"]}
    # BL1 (rent): 100,000.00 allocated; RQ1 paid 500.00; RQ3 paid then returned (never approved here: not committed).
    assert (lines["BL1"]["budget_cents"], lines["BL1"]["paid_cents"], lines["BL1"]["remaining_cents"]) == (
        10_000_000, 50_000, 9_950_000,
    )  # fmt: skip
    assert [x["request_id"] for x in lines["BL1"]["payments"]] == ["RQ1"]
    # BL3 (vouchers): 5,000.00; V1 issued 50.00, V2 80.00 expired unused (back to the line). No line below zero.
    assert (lines["BL3"]["vouchers_cents"], lines["BL3"]["remaining_cents"]) == (5_000, 495_000)
    assert all(x["remaining_cents"] >= 0 for x in lines.values())
    assert money["totals"]["paid_cents"] == ind_paid(city)

    persons = await get(
        loaded_shared, "staff-torino", "/reports/city_summary/drilldown", figure="persons.total", **june
    )
    assert persons["count"] == 7 and {x["person_id"] for x in persons["items"]} >= {"P1", "P5", "P8"}
    assert "P6" not in {x["person_id"] for x in persons["items"]}  # merged into P5
    async with loaded_shared.client("staff-torino") as c:
        bad = await c.get("/reports/city_summary/drilldown", params={"figure": "persons_by_vulnerability.x"})
    assert bad.status_code == 422 and bad.json()["field"] == "query.figure"
    async with loaded_shared.client("coop-aurora") as c:
        assert (await c.get("/reports/financial_statement")).status_code == 403

    # The auditor: Torino's statement as its staff read it, but no payment behind a line (request and case ids are
    # the drill-down, refused); Trieste's and the national figures alike (any city, naming it).
    audited = await get(loaded_shared, "audit-office", "/reports/financial_statement", city="torino", **june)
    assert audited["totals"] == money["totals"] and len(audited["lines"]) == len(money["lines"])
    assert [x["payments"] for x in audited["lines"]] == [None] * len(money["lines"])
    assert [{**x, "payments": None} for x in money["lines"]] == audited["lines"]
    assert (await get(loaded_shared, "audit-office", "/reports/city_summary", city="torino", **june)) == city
    async with loaded_shared.client("audit-office") as c:
        r = await c.get("/reports/city_summary/drilldown", params={"figure": "persons.total", "city": "torino"})
        said = "Only the city's staff see ids and payments behind the figures"  # field "": the reason alone
        assert r.status_code == 403 and r.json()["detail"] == said, r.text
        r = await c.get("/reports/city_summary", params=june)  # no city of its own to default to
        assert r.status_code == 422 and r.json()["field"] == "query.city", r.text
        r = await c.post("/reports/city_summary/publish", json={"city": "torino"}, headers={"Idempotency-Key": "a1"})
        assert r.status_code == 403 and r.json()["reason"] == "the auditor role reads reports and never publishes them"


def ind_paid(report: dict[str, Any]) -> int:
    return int(report["indicators"]["contributions_paid"]["amount_cents"])


@pytest.mark.own_service  # publishes; its replay checks every published report
async def test_published_reports_replay_with_their_own_threshold_whatever_the_auditors(
    loaded: ReportingUnderTest,
) -> None:
    """National review (thr.py): the threshold is in the digested document, but `report_published` did not carry it
    and the replay took the auditor's LGNET_REPORTING_MIN_CELL: every national report of a deployment whose
    threshold is not 5 failed an auditor's replay. v3 carries it; an older event (v1, v2) is replayed with 5."""
    from datetime import UTC, date, datetime

    from lgnet_reporting.domain.indicators import Window
    from lgnet_reporting.service_layer.reports import Request, compute
    from lgnet_shared.codec import to_envelope
    from lgnet_shared.events.reporting import ReportPublishedV2
    from lgnet_shared.testing.facts import signed_fact

    async with loaded.client("coordination") as c:  # this deployment's threshold: 3 (conftest.MIN_CELL)
        r = await c.post("/reports/national/publish", json={"as_of": "2026-06-30"}, headers={"Idempotency-Key": "n"})
    assert r.status_code == 201, r.text
    assert r.json()["threshold"] == 3
    # A report announced before v3 (no threshold), computed with the default 5.
    (old,) = await compute(loaded.pool, [Request("national", "national", Window(date(2026, 6, 30)))], 5)
    v2 = ReportPublishedV2(
        report_id="old-1", report="national", scope="national", as_of=date(2026, 6, 30), digest=old.digest,
        positions=old.positions, published_at=datetime.now(UTC), method=old.request.window.method,
    )  # fmt: skip
    env = to_envelope(v2, source="/lgnet/reporting", city="national")
    value, headers = await signed_fact(loaded.producer, loaded.prefix, env, "reporting.events")  # a national key
    topic = physical("reporting.events", loaded.prefix)
    await loaded.producer.send_and_wait(topic, value, key=b"old-1", headers=headers)

    auditor = {k: v for k, v in loaded.env.items() if k != "LGNET_REPORTING_MIN_CELL"}  # the default, 5
    code, lines = await loaded.replay("--published", env=auditor)
    assert code == 0, lines
    assert {x["report_id"]: x["equal"] for x in lines if "report_id" in x} == {
        r.json()["report_id"]: True,
        "old-1": True,
    }
    # The auditor's setting names the threshold of the events that do not say it (a deployment that published with
    # another one before v3), never of those that do.
    code, lines = await loaded.replay("--published", env={**auditor, "LGNET_REPORTING_MIN_CELL": "4"})
    assert code == 1, lines
    assert {x["report_id"]: x["equal"] for x in lines if "report_id" in x} == {
        r.json()["report_id"]: True,
        "old-1": False,
    }


@pytest.mark.own_service  # publishes; its replay counts every published report
async def test_a_city_auditors_replay_names_the_reports_of_other_scopes_instead_of_failing_them(
    loaded: ReportingUnderTest,
) -> None:
    """Torino's auditor (LGNET_CITY=torino: the replay folds only Torino's facts) replays what was published. The
    national aggregate and Trieste's report cover other cities' facts: recomputed from Torino's alone they came out
    `"equal": false` and the run failed (exit 1), read as a tampered log. They are named as not replayable here (with
    how to replay them) and Torino's own report is checked."""
    async with loaded.client("coordination") as c:
        n = await c.post("/reports/national/publish", json={"as_of": "2026-06-30"}, headers={"Idempotency-Key": "a"})
    async with loaded.client("staff-torino") as c:
        t = await c.post(
            "/reports/city_summary/publish", json={"as_of": "2026-06-30"}, headers={"Idempotency-Key": "b"}
        )
    async with loaded.client("staff-trieste") as c:
        s = await c.post(
            "/reports/city_summary/publish", json={"as_of": "2026-06-30"}, headers={"Idempotency-Key": "c"}
        )
    assert {n.status_code, t.status_code, s.status_code} == {201}, (n.text, t.text, s.text)
    code, lines = await loaded.replay("--published", env={**loaded.env, "LGNET_CITY": "torino"})
    reports = {x["report_id"]: x for x in lines if "report_id" in x}
    assert reports[t.json()["report_id"]]["equal"] is True, lines
    for other in (n, s):
        line = reports[other.json()["report_id"]]
        assert line["equal"] is None and "LGNET_CITY=national" in line["skipped"], line
    assert code == 0 and lines[-1] == {"reports": 1, "equal": 1, "ok": True, "skipped": 2}, lines


def forged_case(case_id: str, opened_on: str) -> i.CaseOpened:
    """A case of Torino's household H2 that no intake opened."""
    return i.CaseOpened(case_id=case_id, household_id="H2", city="torino", action_area=i.ActionArea.TAKING_CHARGE,
                        channel=i.Channel.DESK, partner="coop", opened_on=opened_on)  # fmt: skip


async def counted_neither_live_nor_in_the_replay(loaded: ReportingUnderTest, before: dict[str, Any]) -> None:
    """The forged case just sent: dead-lettered live (Torino's cases as `before`), skipped by the replay as a bad
    signature (and the replay still equal)."""
    await loaded.settle()
    after = await get(loaded, "staff-torino", "/reports/city_summary", as_of="2026-06-30")
    assert after["indicators"]["cases"] == before["indicators"]["cases"]  # dead-lettered live
    code, lines = await loaded.replay("--as-of", "2026-06-30")
    assert code == 0 and lines[-1]["ok"] is True, lines
    assert lines[0]["replay"]["skipped"].get("signature") == 1, lines[0]


@pytest.mark.own_service  # sends a forged fact; its replay counts the log's skips
async def test_a_fact_live_refused_for_its_signature_is_refused_by_the_replay_too(loaded: ReportingUnderTest) -> None:
    """Someone with write access to the broker adds a case to `intake.events`, unsigned (or signed by a key no
    service registered). Live, the projections dead-letter it (LGNET_FACT_SIGNATURES=required): no number changes.
    The replay, which promises the live consumer's decisions record by record, folded it: the live report came out
    `"equal": false` — the auditor was told the live numbers did not follow from the log, when they did."""
    before = await get(loaded, "staff-torino", "/reports/city_summary", as_of="2026-06-30")
    value, headers = loaded.envelope(forged_case("C99", before["as_of"]), "torino").to_structured()
    await loaded.producer.send_and_wait(physical("intake.events", loaded.prefix), value, key=b"C99", headers=headers)
    await counted_neither_live_nor_in_the_replay(loaded, before)


@pytest.mark.own_service  # sends a forged fact; its replay counts the log's skips
async def test_an_intake_fact_a_housing_key_signs_on_housing_events_counts_neither_live_nor_in_the_replay(
    loaded: ReportingUnderTest,
) -> None:
    """As a compromised housing deployment: its principal may write `housing.events` and its key signs housing
    facts, so it publishes a correctly signed intake `case_opened` there. Reporting's consumer counted the case in
    Torino's summary, and the replay folded it too (`"equal": true`: the audit vouched for the inflated report).
    Live, it is dead-lettered (a type foreign to its topic); the replay skips it as a bad signature."""
    from lgnet_shared.testing.facts import signed_fact

    before = await get(loaded, "staff-torino", "/reports/city_summary", as_of="2026-06-30")
    env = loaded.envelope(forged_case("C98", before["as_of"]), "torino")
    value, headers = await signed_fact(loaded.producer, loaded.prefix, env, "housing.events")  # housing's key
    await loaded.producer.send_and_wait(physical("housing.events", loaded.prefix), value, key=b"C98", headers=headers)
    await counted_neither_live_nor_in_the_replay(loaded, before)


@pytest.mark.own_service  # publishes a Torino report: another test asserts none
async def test_a_published_period_report_replays_to_its_digest(loaded: ReportingUnderTest) -> None:
    """A national and a city report for a period (and a one-day period) published, then replayed from the log."""
    ids = []
    asked = [
        ("coordination", "national", {"from": "2026-02-01", "to": "2026-03-31"}),
        ("staff-torino", "city_summary", {"from": "2026-03-01", "to": "2026-03-01"}),
    ]
    for actor, report, body in asked:
        async with loaded.client(actor) as c:
            r = await c.post(f"/reports/{report}/publish", json=body, headers={"Idempotency-Key": report})
        assert r.status_code == 201 and r.json()["period_from"] == body["from"], r.text
        ids.append(r.json()["report_id"])
    code, lines = await loaded.replay("--published", *(a for i in ids for a in ("--report-id", i)))
    assert code == 0 and [x["equal"] for x in lines if "report_id" in x] == [True, True], lines


async def test_a_live_replay_with_another_city_than_the_live_deployments_is_refused(
    loaded_shared: ReportingUnderTest,
) -> None:
    """The live mode compares with the live deployment's tables, so it must fold what that deployment folds. This
    one is national: with LGNET_CITY=torino (or a name that is no city) the replay folded Torino's facts alone and
    said the national report differed (exit 1), as if the log had been tampered with."""
    import asyncio
    import json
    import sys

    for city in ("torino", "atlantide"):
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "lgnet_reporting.entrypoints.replay", "--as-of", "2026-06-30",
            env={**loaded_shared.env, "LGNET_CITY": city},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), 120)
        lines = [json.loads(x) for x in out.decode().splitlines() if x.strip()]
        assert proc.returncode == 2 and len(lines) == 1 and not err, (lines, err.decode()[-2000:])
        assert lines[0]["error"].startswith(f"LGNET_CITY {city}: "), lines


async def test_a_publication_with_a_field_it_does_not_know_is_refused_not_published_otherwise(
    loaded_shared: ReportingUnderTest,
) -> None:
    """`{"as_of": "2026-06-30", "form": "2026-01-01"}` (from, mistyped) published the report as of 30 June —
    announced on Kafka and anchored by the notary, for ever — instead of the period's; the field dropped unsaid."""
    async with loaded_shared.client("staff-torino") as c:
        r = await c.post("/reports/city_summary/publish", json={"as_of": "2026-06-30", "form": "2026-01-01"},
                         headers={"Idempotency-Key": "typo"})  # fmt: skip
        assert r.status_code == 422 and r.json()["field"] == "form", r.text  # as "from" and "as_of" are named
        assert [x for x in (await c.get("/reports/published")).json() if x["scope"] == "torino"] == []


@pytest.mark.own_service  # publishes, forges announcements; its replay reads all
async def test_a_report_announced_for_another_city_by_a_citys_deployment_is_not_replayed_as_that_citys(
    loaded: ReportingUnderTest,
) -> None:
    """Read as Trieste's IT team would attack the audit (#16): Trieste's reporting deployment, whose key is
    registered like every city's, may write `reporting.events`. It announces a "Torino" city summary (scope torino,
    its own envelope city trieste, so the consumers' claims rule passes) with a digest Torino never published.
    `lgnet-replay --published` took every announcement on the topic, unsigned or not, as a published report: Torino's
    auditor was told a Torino report does not reproduce ("equal": false, exit 1). An announcement is a published
    report only when signed by a registered reporting key whose deployment may speak for its scope (its city's
    summary, or any report for the national deployment's key); the others are named and not replayed."""
    import os
    from datetime import UTC, datetime

    from lgnet_shared.codec import to_envelope
    from lgnet_shared.events.reporting import ReportPublished
    from lgnet_shared.fact_signing import FactSigner, publish_key
    from lgnet_shared.partitioning import partition_of

    async with loaded.client("staff-torino") as c:
        r = await c.post(
            "/reports/city_summary/publish", json={"as_of": "2026-06-30"}, headers={"Idempotency-Key": "genuine"}
        )
    assert r.status_code == 201, r.text
    genuine = r.json()
    trieste = FactSigner(os.urandom(32), "trieste", "reporting", "trieste")
    await publish_key(loaded.producer, trieste.key, loaded.prefix)
    forged = ReportPublished(
        report_id="forged-by-trieste",
        report="city_summary",
        scope="torino",
        as_of=genuine["as_of"],
        digest="0" * 64,
        positions=genuine["positions"],
        published_at=datetime.now(UTC),
        method=genuine.get("method", 1),
        threshold=3,
    )
    for city in ("trieste", "torino"):  # its own city (claims pass), Torino's (claims fail)
        env = to_envelope(forged.model_copy(update={"report_id": f"forged-{city}"}), source="/x", city=city)
        value, signature = trieste.sign(*env.to_structured())
        await loaded.producer.send_and_wait(
            physical("reporting.events", loaded.prefix),
            value,
            key=env.key,
            headers=[*env.to_structured()[1], signature],
            partition=partition_of(env.key, 1) or 0,
        )
    code, lines = await loaded.replay("--published")
    reports = {x["report_id"]: x for x in lines if "report_id" in x}
    assert reports[genuine["report_id"]]["equal"] is True, lines
    for city in ("trieste", "torino"):
        line = reports[f"forged-{city}"]
        assert line["equal"] is None and "trieste" in line["skipped"] and "torino" in line["skipped"], line
    assert code == 0 and lines[-1]["ok"] is True, lines
