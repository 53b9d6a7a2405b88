"""Contributions paid as of a date and for a period, when payments are returned and made to stand again (national
review): a request is paid as of D when its latest paid/failed event dated on or before D is a payment; its amount
counts once, on the date of the payment that stands."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from lgnet_reporting.domain.canonical import digest
from lgnet_reporting.domain.indicators import Window, city_row, summary
from lgnet_reporting.domain.national import city_summary, national
from lgnet_reporting.domain.projection import Tables, project
from lgnet_shared.codec import to_envelope
from lgnet_shared.envelope import Envelope
from lgnet_shared.events import intake as i
from lgnet_shared.events import payments as p

d = date
RENT = p.ContributionKind.RENT


def _paid(request: str, on: date, batch: str = "b1", city: str = "torino", cents: int = 30_000) -> p.ContributionPaid:
    return p.ContributionPaid(
        request_id=request, batch_id=batch, case_id=f"c-{city}", household_id=f"h-{city}", city=city, kind=RENT,
        budget_line_id=f"l-{city}", amount_cents=cents, paid_on=on,
    )  # fmt: skip


def _failed(request: str, on: date, batch: str = "b1") -> p.ContributionPaymentFailed:
    return p.ContributionPaymentFailed(request_id=request, batch_id=batch, reason="ac04", on=on)


def _envelopes(events: list[Any]) -> list[tuple[Envelope, Any]]:
    """Each event with its envelope (as the consumer reads it)."""
    out = []
    for e in events:
        source = "/lgnet/payments" if e.type.startswith("lgnet.payments") else "/lgnet/intake"
        env = to_envelope(e, source=source, city=getattr(e, "city", None) or "torino",
                          time=datetime(2025, 11, 1, tzinfo=UTC))  # fmt: skip
        out.append((env, e))
    return out


def _facts(envelopes: list[tuple[Envelope, Any]]) -> dict[str, list[dict[str, Any]]]:
    t = Tables()
    for env, e in envelopes:
        t.apply(project(env, e))
    return t.facts()


def _case(city: str) -> list[Any]:
    h, c = f"h-{city}", f"c-{city}"
    return [
        i.HouseholdFormed(household_id=h, city=city, reference_person_id=f"p-{city}", member_ids=[f"p-{city}"]),
        i.CaseOpened(case_id=c, household_id=h, city=city, action_area=i.ActionArea.HOUSING_INCLUSION,
                     channel=i.Channel.DESK, partner="x", opened_on=d(2025, 11, 3)),
        p.BudgetAllocated(budget_line_id=f"l-{city}", city=city, line="rent", amount_cents=10_000_000,
                          on=d(2025, 11, 1)),
    ]  # fmt: skip


# contrib.py: paid 2025-12-20, returned 2026-01-20, the bank reversed the return 2026-01-25 (payments publishes
# contribution_paid again, paid_on = the reversal's booking date).
REVERSED = [_paid("r1", d(2025, 12, 20)), _failed("r1", d(2026, 1, 20)), _paid("r1", d(2026, 1, 25))]


def _paid_figures(facts: dict[str, list[dict[str, Any]]], window: Window) -> tuple[Any, ...]:
    s = summary(facts, window, "torino")
    months = {m["month"]: m["paid_cents"] for m in s["monthly"] if m["paid_cents"]}
    return s["contributions_paid"]["count"], s["contributions_paid"]["amount_cents"], months


def test_a_returned_payment_made_to_stand_again_counts_on_every_day_it_stood_and_once() -> None:
    envelopes = _envelopes([*_case("torino"), *REVERSED])
    envelopes.append(envelopes[-1])  # the reversal's payment redelivered: the same event, nothing doubles
    facts = _facts(envelopes)
    dec, jan = d(2025, 12, 1), d(2026, 1, 1)
    assert _paid_figures(facts, Window(d(2025, 12, 19))) == (0, 0, {})
    assert _paid_figures(facts, Window(d(2025, 12, 31))) == (1, 30_000, {"2025-12": 30_000})  # the money stood
    assert _paid_figures(facts, Window(d(2025, 12, 31), dec)) == (1, 30_000, {"2025-12": 30_000})
    assert _paid_figures(facts, Window(d(2026, 1, 15))) == (1, 30_000, {"2025-12": 30_000})
    assert _paid_figures(facts, Window(d(2026, 1, 22))) == (0, 0, {})  # returned
    assert _paid_figures(facts, Window(d(2026, 1, 31))) == (1, 30_000, {"2026-01": 30_000})  # once
    assert _paid_figures(facts, Window(d(2026, 1, 31), jan)) == (1, 30_000, {"2026-01": 30_000})
    assert _paid_figures(facts, Window(d(2026, 1, 31), dec)) == (1, 30_000, {"2026-01": 30_000})
    assert summary(facts, Window(d(2026, 1, 31)), "torino")["contribution_payments_failed"] == 1
    row = city_row(facts, Window(d(2025, 12, 31)), "torino")
    assert (row["paid_count"], row["paid_cents"]) == (1, 30_000)
    nat = national(facts, Window(d(2025, 12, 31)), 0)
    assert nat["by_city"]["torino"]["paid_cents"] == nat["indicators"]["contributions_paid"]["amount_cents"] == 30_000


def test_the_statement_and_the_drill_down_read_the_payment_that_stands() -> None:
    from lgnet_reporting.domain.drilldown import behind
    from lgnet_reporting.domain.statement import statement

    facts = _facts(_envelopes([*_case("torino"), *REVERSED]))

    def line(window: Window) -> tuple[int, int, list[str]]:
        (only,) = statement(facts, window, "torino")["lines"]
        return only["paid_cents"], only["paid_in_period_cents"], [x["paid_on"] for x in only["payments"]]

    assert line(Window(d(2025, 12, 31))) == (30_000, 30_000, ["2025-12-20"])
    assert line(Window(d(2026, 1, 15), d(2026, 1, 1))) == (30_000, 0, [])
    assert line(Window(d(2026, 1, 22))) == (0, 0, [])
    assert line(Window(d(2026, 1, 31), d(2026, 1, 1))) == (30_000, 30_000, ["2026-01-25"])
    early = behind(facts, Window(d(2025, 12, 31)), "torino", "contributions_paid.count")
    assert [x["paid_on"] for x in early["items"]] == ["2025-12-20"]
    late = behind(facts, Window(d(2026, 1, 31)), "torino", "contributions_paid.count")
    assert [x["paid_on"] for x in late["items"]] == ["2026-01-25"]


def test_a_request_paid_again_by_a_later_batch_after_a_return_counts_once() -> None:
    facts = _facts(_envelopes([*_case("torino"), _paid("r1", d(2026, 1, 5)), _failed("r1", d(2026, 1, 10)),
                               _paid("r1", d(2026, 2, 3), batch="b2")]))  # fmt: skip
    assert _paid_figures(facts, Window(d(2026, 1, 7))) == (1, 30_000, {"2026-01": 30_000})
    assert _paid_figures(facts, Window(d(2026, 1, 31), d(2026, 1, 1))) == (0, 0, {})
    assert _paid_figures(facts, Window(d(2026, 2, 28), d(2026, 1, 1))) == (1, 30_000, {"2026-02": 30_000})


# Digests recorded with the code before method 6 (commit 4b807522, method 5) for a log of plain payments, a transfer
# that failed then was paid by a later batch, and a payment returned for good, in two cities (_UNCHANGED); and for
# the payment returned and made to stand again (REVERSED), which that code counted wrongly.
_UNCHANGED = [
    *_case("torino"), *_case("trieste"),
    _paid("t1", d(2025, 12, 2)), _paid("t2", d(2025, 12, 20), cents=12_345), _failed("t3", d(2026, 1, 8)),
    _paid("t3", d(2026, 1, 14), batch="b2", cents=45_000), _paid("t4", d(2026, 1, 9), cents=7_000),
    _failed("t4", d(2026, 2, 2)),
    _paid("s1", d(2025, 12, 10), city="trieste", cents=50_000), _paid("s2", d(2026, 2, 1), city="trieste"),
]  # fmt: skip
_WINDOWS = [(d(2025, 12, 31), None), (d(2026, 1, 10), None), (d(2026, 1, 31), d(2026, 1, 1)), (d(2026, 2, 28), None),
            (d(2026, 2, 28), d(2025, 12, 1))]  # fmt: skip
RECORDED = [
    "4e231b7344f0f86c",
    "ec6ecc2c023802f2",
    "8c460ba9bbe02216",
    "59e4d12249501410",
    "d83e1ad3796c4f5d",
    "a7c9847dd2f7bfb5",
    "457c2e3ae5438cac",
    "884212ba8df3beb7",
    "60b5834cc33c817e",
    "56ac54d5bebe7c09",
    "9b5030f938506afc",
    "9c7d2d2fece6824c",
    "daeb3067c57baf27",
    "b2469b6f72222341",
    "94cac93858293eb8",
]
RECORDED_REVERSED = ["4400245199a1e9d6", "edebd85ff8bbe067", "c88e799b996fca7e", "ca790bf2990a1772",
                     "9d25d26548d3ca3f", "6df42932cb8ebd0b", "444a4ec151316947", "f359099a7c63d0b2",
                     "c46aec6287ea0b73", "e2650e21fef93e5a", "b132db78edbb7f7b", "a9427e597e7a16cd",
                     "db5ffc8f510fd4d5", "ddb6f95db8df21a0", "3b6f1f31cfcce035"]  # fmt: skip


def _documents(facts: dict[str, list[dict[str, Any]]], method: int) -> list[dict[str, Any]]:
    out = []
    for as_of, start in _WINDOWS:
        w = Window(as_of, start, method)
        out += [city_summary(facts, w, "torino"), city_summary(facts, w, "trieste"), national(facts, w, 5)]
    return out


def _digests(facts: dict[str, list[dict[str, Any]]], method: int = 5) -> list[str]:
    return [digest(doc)[:16] for doc in _documents(facts, method)]


def test_reports_published_before_method_6_replay_to_their_digests() -> None:
    """The auditors' replay recomputes a published report with its own method: 5 counts as it did, returns and all."""
    assert _digests(_facts(_envelopes(_UNCHANGED))) == RECORDED
    assert _digests(_facts(_envelopes([*_case("torino"), *REVERSED]))) == RECORDED_REVERSED


def test_without_a_return_made_to_stand_again_method_6_gives_the_numbers_of_method_5() -> None:
    facts = _facts(_envelopes(_UNCHANGED))
    for now, then in zip(_documents(facts, 6), _documents(facts, 5), strict=True):
        assert now["method"] == 6 and {**now, "method": 5} == then


@pytest.mark.integration
async def test_the_sql_projection_keeps_every_payment_and_a_redelivery_changes_nothing(
    database_url: str, pg_schema: str
) -> None:
    """The live consumer's writes (store.apply) build the same history as the replay's fold."""
    from lgnet_reporting.adapters import store
    from lgnet_reporting.adapters.schema import MIGRATIONS
    from lgnet_shared import db

    envelopes = _envelopes([*_case("torino"), *REVERSED])
    pool = await db.create_pool(database_url, pg_schema, max_size=2)
    try:
        await db.migrate(pool, MIGRATIONS)
        async with pool.acquire() as conn:
            for env, e in [*envelopes, envelopes[-1]]:
                await store.apply(conn, project(env, e))
            facts = await store.load_facts(conn)
    finally:
        await pool.close()
    assert _paid_figures(facts, Window(d(2025, 12, 31))) == (1, 30_000, {"2025-12": 30_000})
    assert _paid_figures(facts, Window(d(2026, 1, 22))) == (0, 0, {})
    assert _paid_figures(facts, Window(d(2026, 1, 31), d(2025, 12, 1))) == (1, 30_000, {"2026-01": 30_000})


@pytest.mark.integration
async def test_a_deployment_upgraded_without_a_rebuild_keeps_the_digests_of_its_reports(
    database_url: str, pg_schema: str
) -> None:
    """A schema written by the version before the payments' history (contributions and failures only), migrated:
    reporting-11 fills the history from what that version kept, so its reports are what they were."""
    from lgnet_reporting.adapters import store
    from lgnet_reporting.adapters.schema import MIGRATIONS
    from lgnet_shared import db

    pool = await db.create_pool(database_url, pg_schema, max_size=2)
    try:
        await db.migrate(pool, [m for m in MIGRATIONS if m[0] != "reporting-11"])
        async with pool.acquire() as conn:
            for env, e in _envelopes(_UNCHANGED):
                await store.apply(conn, [w for w in project(env, e) if w.table != "contribution_payments"])
        await db.migrate(pool, MIGRATIONS)
        async with pool.acquire() as conn:
            facts = await store.load_facts(conn)
    finally:
        await pool.close()
    assert _digests(facts) == RECORDED
    assert _documents(facts, 6) == _documents(_facts(_envelopes(_UNCHANGED)), 6)


def test_a_city_that_runs_no_payments_is_not_reported_as_paying_nothing() -> None:
    """Trieste runs intake (and housing) but not payments: its contributions are paid by its own accounting, and no
    payments fact of Trieste is on the log. The national aggregate showed Trieste's row as 0 payments, EUR 0.00 —
    as if Trieste had paid nobody — and its total as every city's money. From method 8 the report names the cities
    whose payments it has no fact of (`payments_not_reported`: no budget line allocated on or before as_of) and
    their money cells read "no data" wherever the report is shown; the numbers and the suppression are unchanged."""
    from lgnet_reporting.domain import no_data

    trieste = [e for e in _case("trieste") if not isinstance(e, p.BudgetAllocated)]
    facts = _facts(_envelopes([*_case("torino"), *trieste, _paid("t1", d(2025, 12, 2))]))
    nat = national(facts, Window(d(2025, 12, 31)), 0)
    assert nat["payments_not_reported"] == ["trieste"]
    assert {"by_city.trieste.paid_count", "by_city.trieste.paid_cents"} <= set(no_data.paths(nat))
    assert not any(path.startswith("by_city.torino.paid") for path in no_data.paths(nat))  # (no housing: method 9)
    assert nat["by_city"]["torino"]["paid_cents"] == nat["indicators"]["contributions_paid"]["amount_cents"] == 30_000
    from lgnet_reporting.adapters import exports

    rows = [line for line in exports.to_csv(nat).decode().splitlines() if line.startswith("by_city;trieste;paid")]
    assert len(rows) == 2 and all(line.endswith(";n.d.") for line in rows), rows
    # Torino's payments began on 1 November: a report as of 31 October has no payments fact of Torino either.
    assert national(facts, Window(d(2025, 10, 31)), 0)["payments_not_reported"] == ["torino", "trieste"]
    # Reports of an earlier method replay as they were published: no such key.
    assert "payments_not_reported" not in national(facts, Window(d(2025, 12, 31), None, 7), 0)


def test_a_city_without_payments_reads_no_data_for_its_money_in_its_own_report() -> None:
    """Trieste's own reporting (intake, housing and reporting, no payments): its summary read 0 contributions paid,
    EUR 0.00, no failed payment, no voucher expired, no money tutoring — figures of a service it does not run. From
    method 8 its summary names its payments as not reported and those cells read "no data"; a city running payments
    reads its zeros as before, and so does a national aggregate in which some city reports payments."""
    from lgnet_reporting.domain import no_data

    trieste = [e for e in _case("trieste") if not isinstance(e, p.BudgetAllocated)]
    facts = _facts(_envelopes([*_case("torino"), *trieste]))
    own = city_summary(facts, Window(d(2025, 12, 31)), "trieste")
    assert own["payments_not_reported"] == ["trieste"]
    money = {"indicators.contributions_paid.count", "indicators.contributions_paid.amount_cents",
             "indicators.contribution_payments_failed", "indicators.vouchers_expired.count",
             "indicators.vouchers_expired.remaining_cents", "indicators.money_tutoring.sessions",
             "indicators.money_tutoring.households_followed", "indicators.monthly.0.paid_cents",
             "indicators.monthly.1.paid_cents"}  # fmt: skip
    assert money <= set(no_data.paths(own))
    torino = city_summary(facts, Window(d(2025, 12, 31)), "torino")
    assert torino["payments_not_reported"] == [] and not money & set(no_data.paths(torino))
    assert not money & set(no_data.paths(national(facts, Window(d(2025, 12, 31)), 0)))  # Torino's money is there
    nobody = _facts(_envelopes(trieste))
    assert money <= set(no_data.paths(national(nobody, Window(d(2025, 12, 31)), 0)))  # no city reports payments
    assert "payments_not_reported" not in city_summary(facts, Window(d(2025, 12, 31), None, 7), "trieste")


def test_the_funds_contributions_paid_of_a_city_without_payments_is_not_reported_not_zero() -> None:
    """The fund's table (AMIF/FAMI indicators) read FAMI.contributi_erogati 0 for a city running no payments service:
    a figure the managing authority reads as "nothing paid". It has no data, and says why."""
    from lgnet_reporting.domain.fund import figures

    trieste = [e for e in _case("trieste") if not isinstance(e, p.BudgetAllocated)]
    facts = _facts(_envelopes([*_case("torino"), *trieste]))
    paid = {f["code"]: f for f in figures(city_summary(facts, Window(d(2025, 12, 31)), "trieste"))}
    figure = paid["FAMI.contributi_erogati"]
    assert (figure["value"], figure["no_data"]) == (None, True), figure
    assert "pagamenti" in (figure["why_not"] or ""), figure
    torino = {f["code"]: f for f in figures(city_summary(facts, Window(d(2025, 12, 31)), "torino"))}
    assert (torino["FAMI.contributi_erogati"]["value"], torino["FAMI.contributi_erogati"]["no_data"]) == (0, False)
