"""Reports of a federation where some cities run only some services: a city that runs no housing (or no payments)
service has no data for what that service records, which the report must not read as zero, and a national total
that leaves such a city out says so where it is read (the PDF's cover, the XLSX's and CSV's parameters)."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import pytest
from lgnet_reporting.adapters import exports
from lgnet_reporting.domain import no_data
from lgnet_reporting.domain.fund import figures
from lgnet_reporting.domain.indicators import Window
from lgnet_reporting.domain.national import city_summary, national
from lgnet_reporting.domain.projection import Tables, project
from lgnet_shared.codec import to_envelope
from lgnet_shared.envelope import Envelope
from lgnet_shared.events import housing as h
from lgnet_shared.events import intake as i
from lgnet_shared.events import payments as p

if TYPE_CHECKING:
    from conftest import ReportingUnderTest

d = date
SOURCES = {"lgnet.payments": "/lgnet/payments", "lgnet.housing": "/lgnet/housing"}
AS_OF = Window(d(2025, 12, 31))


def _envelopes(events: list[Any]) -> list[tuple[Envelope, Any]]:
    out = []
    for e in events:
        source = next((s for prefix, s in SOURCES.items() if e.type.startswith(prefix)), "/lgnet/intake")
        env = to_envelope(e, source=source, city=getattr(e, "city", None) or "torino",
                          time=datetime(2025, 11, 2, tzinfo=UTC))  # fmt: skip
        out.append((env, e))
    return out


def _facts(events: list[Any]) -> dict[str, list[dict[str, Any]]]:
    t = Tables()
    for env, e in _envelopes(events):
        t.apply(project(env, e))
    return t.facts()


def _case(city: str) -> list[Any]:
    hh, c = f"h-{city}", f"c-{city}"
    return [
        i.HouseholdFormed(household_id=hh, city=city, reference_person_id=f"p-{city}", member_ids=[f"p-{city}"]),
        i.CaseOpened(case_id=c, household_id=hh, city=city, action_area=i.ActionArea.HOUSING_INCLUSION,
                     channel=i.Channel.DESK, partner="x", opened_on=d(2025, 11, 3)),
    ]  # fmt: skip


def _listed(city: str) -> h.OpportunityListed:
    return h.OpportunityListed(
        opportunity_id=f"o-{city}", city=city, partner="coop", kind=h.HousingKind.PRIVATE_RENTAL, capacity=2,
        bedrooms=1, monthly_rent_cents=50_000, available_from=d(2025, 11, 1),
    )  # fmt: skip


def _housed(city: str) -> list[Any]:
    return [
        h.PlacementStarted(placement_id=f"pl-{city}", match_id=f"m-{city}", household_id=f"h-{city}",
                           case_id=f"c-{city}", opportunity_id=f"o-{city}", city=city,
                           kind=h.HousingKind.PRIVATE_RENTAL, started_on=d(2025, 12, 1)),
        h.LeaseSigned(lease_id=f"l-{city}", placement_id=f"pl-{city}", household_id=f"h-{city}", case_id=f"c-{city}",
                      city=city, lease_type=h.LeaseType.LEASE, monthly_rent_cents=50_000, deposit_cents=0,
                      start_date=d(2025, 12, 1), signed_on=d(2025, 12, 1)),
    ]  # fmt: skip


def _paid(city: str) -> list[Any]:
    return [
        p.BudgetAllocated(budget_line_id=f"bl-{city}", city=city, line="rent", amount_cents=10_000_000,
                          on=d(2025, 11, 1)),
        p.ContributionPaid(request_id=f"r-{city}", batch_id="b1", case_id=f"c-{city}", household_id=f"h-{city}",
                           city=city, kind=p.ContributionKind.RENT, budget_line_id=f"bl-{city}", amount_cents=30_000,
                           paid_on=d(2025, 12, 2)),
    ]  # fmt: skip


# Torino runs every service; Bologna runs housing (an opportunity listed) but has housed nobody yet, and no payments;
# Trieste runs intake alone (its housing and its contributions are handled outside LgNet).
FEDERATION = [*_case("torino"), _listed("torino"), *_housed("torino"), *_paid("torino"),
              *_case("bologna"), _listed("bologna"), *_case("trieste")]  # fmt: skip
HOUSING_CELLS = {
    "indicators.placements.started", "indicators.placements.ended", "indicators.placements.active_at_as_of",
    "indicators.days_to_placement.placements", "indicators.days_to_placement.median",
    "indicators.monthly.0.placements_started", "indicators.monthly.1.placements_started",
}  # fmt: skip


def test_a_city_that_runs_no_housing_reads_no_data_for_its_placements_not_zero() -> None:
    """Trieste runs no housing service: its report read 0 placements started, 0 active, 0 leases, 0 days to
    placement's placements — figures of a service it does not run, which nobody could tell from "housed nobody yet".
    From method 9 a report names the cities of which it has no housing fact on or before as_of (no opportunity
    listed, no placement started, no lease signed: `housing_not_reported`) and their housing cells read "n.d.";
    Bologna, which listed an opportunity and housed nobody yet, reads its zeros."""
    facts = _facts(FEDERATION)
    own = city_summary(facts, AS_OF, "trieste")
    assert own["housing_not_reported"] == ["trieste"]
    assert set(no_data.paths(own)) >= HOUSING_CELLS, sorted(set(HOUSING_CELLS) - set(no_data.paths(own)))
    rows = [r for r in exports.to_csv(own).decode().splitlines() if r.startswith("placements;;started")]
    assert rows and rows[0].endswith(";n.d."), rows
    fund = {f["code"]: f for f in figures(own)}["FAMI.inserimenti_abitativi"]
    assert (fund["value"], fund["no_data"]) == (None, True) and "alloggi" in (fund["why_not"] or ""), fund
    bologna = city_summary(facts, AS_OF, "bologna")
    counted = HOUSING_CELLS - {"indicators.days_to_placement.median"}  # a median over nobody has no data anyway
    assert bologna["housing_not_reported"] == [] and not counted & set(no_data.paths(bologna))
    assert bologna["indicators"]["placements"]["started"] == 0
    nat = national(facts, AS_OF, 0)
    assert nat["housing_not_reported"] == ["trieste"]
    assert "by_city.trieste.placements_started" in no_data.paths(nat)
    assert not any(path.startswith(("by_city.bologna.placements", "by_city.torino.")) for path in no_data.paths(nat))
    assert not counted & set(no_data.paths(nat))  # Torino's placements are there
    # Before Torino listed anything (2 November) it ran no housing either.
    assert national(facts, Window(d(2025, 11, 1)), 0)["housing_not_reported"] == ["bologna", "torino", "trieste"]
    # Reports of an earlier method replay as they were published: no such key.
    assert "housing_not_reported" not in city_summary(facts, Window(AS_OF.as_of, None, 8), "trieste")
    assert "housing_not_reported" not in national(facts, Window(AS_OF.as_of, None, 8), 0)


def _pdf_pages(data: bytes) -> list[str]:
    from pypdf import PdfReader

    return [page.extract_text() for page in PdfReader(io.BytesIO(data)).pages]


def test_the_national_cover_names_the_cities_its_totals_leave_out() -> None:
    """The national PDF's cover read "Contributi pagati — Importo 300,00 €" (Torino's payments only) and said nowhere
    on it that Bologna's and Trieste's payments are not reported: the "n.d." was only in the by-city table. The
    cover, and the parameters heading the XLSX and CSV, name them next to the total, in the reader's language."""
    nat = national(_facts(FEDERATION), AS_OF, 0)
    assert nat["payments_not_reported"] == ["bologna", "trieste"]
    for lang, paid, payments, housing in (
        ("it", "Contributi pagati", "Pagamenti non rilevati", "Alloggi non rilevati"),
        ("en", "Contributions paid", "Payments not reported", "Housing not reported"),
    ):
        cover = _pdf_pages(exports.to_pdf(nat, lang))[0]
        assert paid in cover, cover
        assert (
            f"{payments} (non compresi nel totale): Bologna, Trieste" in cover.replace("\n", " ")
            if lang == "it"
            else (f"{payments} (not in the total): Bologna, Trieste" in cover.replace("\n", " "))
        ), cover
        assert f"{housing}" in cover and "Trieste" in cover.split(housing, 1)[1], cover
        head = dict(r for r in exports.title(nat, lang))
        assert head[payments] == "Bologna, Trieste" and head[housing] == "Trieste", head
        said = f"# {payments};Bologna, Trieste" if lang == "it" else f'# {payments},"Bologna, Trieste"'
        assert said in exports.to_csv(nat, lang).decode()  # Italian: ";" separates, the "," needs no quotes
    # A city's own cover: its money and its placements read "n.d." there too (the cover read "0,00 €").
    trieste = _pdf_pages(exports.to_pdf(city_summary(_facts(FEDERATION), AS_OF, "trieste")))[0]
    assert "Importo n.d." in trieste.replace("\n", " ") and "0,00" not in trieste, trieste


def test_the_funds_national_totals_say_which_cities_they_leave_out() -> None:
    """The fund's table of the national aggregate (GET /reports/national/fund, the managing authority's figures) gave
    FAMI.contributi_erogati 30000 and FAMI.inserimenti_abitativi 1 with `why_not` empty: read as the programme's
    contributions and placements, though Bologna's and Trieste's payments and Trieste's housing are not on LgNet.
    Each such figure says which cities its total leaves out, in the reader's language."""
    fund = {f["code"]: f for f in figures(national(_facts(FEDERATION), AS_OF, 0))}
    paid, placed = fund["FAMI.contributi_erogati"], fund["FAMI.inserimenti_abitativi"]
    assert (paid["value"], paid["no_data"], placed["value"], placed["no_data"]) == (30_000, False, 1, False)
    assert "Bologna, Trieste" in (paid["why_not"] or "") and "pagamenti non rilevati" in paid["why_not"], paid
    assert "Trieste" in (placed["why_not"] or "") and "Bologna" not in placed["why_not"], placed
    english = {f["code"]: f for f in figures(national(_facts(FEDERATION), AS_OF, 0), "en")}["FAMI.contributi_erogati"]
    assert "Bologna, Trieste" in (english["why_not"] or "") and "payments not reported" in english["why_not"], english
    assert fund["FAMI.destinatari"]["why_not"] is None  # intake's figures leave nobody out


def test_the_financial_statement_of_a_city_without_payments_says_so_not_a_budget_of_zero() -> None:
    """Trieste's staff asked for their financial statement: budget 0, paid 0, committed 0, remaining 0 and no line —
    a city with no money, not one whose money is not on LgNet. The statement names the city's payments as not
    reported (as its summary does), and a city running payments reads its lines as before."""
    from lgnet_reporting.domain.statement import statement

    facts = _facts(FEDERATION)
    trieste = statement(facts, AS_OF, "trieste")
    assert trieste["payments_not_reported"] == ["trieste"], trieste
    torino = statement(facts, AS_OF, "torino")
    assert torino["payments_not_reported"] == [] and torino["totals"]["paid_cents"] == 30_000


def test_the_drill_down_of_a_figure_with_no_data_says_so_not_zero_items() -> None:
    """The drill-down's count is the figure's (docs/reporting.md): Trieste's placements.started drilled down to
    count 0, no item, where its report reads "n.d." (no housing service of its). The answer says the figure has no
    data; a city that runs the service drills down as before."""
    from lgnet_reporting.domain.drilldown import behind

    facts = _facts(FEDERATION)
    for figure in ("placements.started", "contributions_paid.count"):
        trieste = behind(facts, AS_OF, "trieste", figure)
        assert (trieste["count"], trieste["no_data"]) == (0, True), trieste
        torino = behind(facts, AS_OF, "torino", figure)
        assert (torino["count"], torino["no_data"]) == (1, False), torino
    assert behind(facts, AS_OF, "trieste", "persons.total")["no_data"] is False


def test_a_city_whose_payments_service_records_money_tutoring_only_is_not_read_as_not_reporting_payments() -> None:
    """Bologna's payments service records money tutoring sessions (no budget line allocated yet: tutoring asks for
    none). Method 8 knew a payments service only by its budget facts, so Bologna's report named its payments not
    reported and read its 1 tutoring session "n.d.": a figure it has, hidden as no data. From method 9 a tutoring
    session recorded is a payments fact too; a report of method 8 replays as published."""
    tutoring = p.TutoringSessionRecorded(session_id="s-bologna", household_id="h-bologna", case_id="c-bologna",
                                         city="bologna", topics=["budgeting"], on=d(2025, 12, 3))  # fmt: skip
    facts = _facts([*FEDERATION, tutoring])
    own = city_summary(facts, AS_OF, "bologna")
    assert own["indicators"]["money_tutoring"]["sessions"] == 1
    assert own["payments_not_reported"] == [], own["payments_not_reported"]
    assert "indicators.money_tutoring.sessions" not in no_data.paths(own)
    assert national(facts, AS_OF, 0)["payments_not_reported"] == ["trieste"]
    assert city_summary(facts, Window(AS_OF.as_of, None, 8), "bologna")["payments_not_reported"] == ["bologna"]


# The digests of FEDERATION's reports as of 31 December 2025 under methods 7 and 8, computed with the code before
# method 9 (the main branch before it, its opportunities not projected): (national, Bologna, Torino, Trieste).
RECORDED = {
    7: ("49a84af75e933a4f83ba1854fae8479e568cee12a91994e74fbbd1d31a3f68a3",
        "2b74dc50d9cf69773c5af93fa631f90cb0ed44fc4d945926b45b4784763d9176",
        "2b67df1157e5d016b8d769c62f8fdbf4ba4f10b8b1d33f8d3de06aa0fe73244a",
        "8c6b5b0e2c1fe11f2b0b8f55806059e4a9ee53c70680746b5ee5c8ff620d9c01"),
    8: ("3859ab30b6ffd66738467f3b1fac0b5f96f299815a9a66d138b5e83e7abf436e",
        "914bfe7507a58704db02e573edd198530705e06c01c1041366bb95493d61d5ab",
        "5309252a88ad96cc7d2b0db9a507b547a9478bdbc3511dfc49cb3f5e1336fe8f",
        "09ab574ec464b5c8d1179529e95509ea821ca3ff32a6784a1db251f338c80f1f"),
}  # fmt: skip


def test_reports_of_earlier_methods_replay_to_the_digests_they_were_published_with() -> None:
    """Method 9 adds `housing_not_reported` and projects the opportunities listed: a report published with method 7
    or 8 is recomputed by the replay with its own method, to the digest it had."""
    from lgnet_reporting.domain.canonical import digest

    facts = _facts(FEDERATION)
    for method, recorded in RECORDED.items():
        window = Window(AS_OF.as_of, None, method)
        docs = [national(facts, window, 0), *(city_summary(facts, window, c) for c in ("bologna", "torino", "trieste"))]
        assert tuple(map(digest, docs)) == recorded, method


@pytest.mark.integration
async def test_an_opportunity_listed_on_the_live_log_says_the_city_runs_housing(loaded: ReportingUnderTest) -> None:
    """On the service (real Kafka and PostgreSQL, migration reporting-12): Bologna has housed nobody and listed
    nothing, so its placements read n.d.; once housing lists an opportunity of Bologna's, the consumer projects it and
    Bologna's 0 placements read 0. The published report's replay reproduces it (the replay projects the same)."""

    async def nat() -> dict[str, Any]:
        async with loaded.client("coordination") as c:
            r = await c.get("/reports/national", params={"as_of": "2026-06-30"})
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    before = await nat()
    assert before["housing_not_reported"] == ["bologna"], before["housing_not_reported"]
    assert "by_city.bologna.placements_started" in before["no_data"]
    await loaded.send([loaded.envelope(_listed("bologna"), "bologna", d(2026, 5, 4))])
    await loaded.settle()
    after = await nat()
    assert after["housing_not_reported"] == [] and "by_city.bologna.placements_started" not in after["no_data"]
    assert after["by_city"]["bologna"]["placements_started"] == 0
    async with loaded.client("coordination") as c:
        r = await c.post("/reports/national/publish", json={"as_of": "2026-06-30"}, headers={"Idempotency-Key": "nd-1"})
    assert r.status_code in (200, 201), r.text
    code, lines = await loaded.replay("--published")
    checks = [x for x in lines if "equal" in x and "report" in x]
    assert code == 0 and checks and all(x["equal"] for x in checks), lines
