"""Unit tests of the pure parts: projection writes, suppression (also by difference), canonical digests, ages."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lgnet_reporting.domain.canonical import canonical_json, digest
from lgnet_reporting.domain.indicators import Window, age_on, canonical_ids, summary
from lgnet_reporting.domain.national import national, of_city, plan_for
from lgnet_reporting.domain.projection import TABLES, Tables, project
from lgnet_reporting.domain.suppression import Group, Plan, hidden_cells, suppress
from lgnet_shared.codec import to_envelope
from lgnet_shared.events import intake as i
from lgnet_shared.events import payments as p


def test_age_at_a_date() -> None:
    assert age_on(date(2008, 5, 10), date(2026, 5, 9)) == 17
    assert age_on(date(2008, 5, 10), date(2026, 5, 10)) == 18


def test_merge_chains_resolve_to_the_last_survivor() -> None:
    merges = [
        {"merged_person_id": "a", "surviving_person_id": "b"},
        {"merged_person_id": "b", "surviving_person_id": "c"},
    ]
    assert canonical_ids(merges) == {"a": "c", "b": "c"}


def test_insert_keeps_the_first_write_and_upsert_overwrites_only_given_columns() -> None:
    t = Tables()
    opened = i.CaseOpened(
        case_id="c1", household_id="h1", city="torino", action_area=i.ActionArea.TAKING_CHARGE,
        channel=i.Channel.DESK, partner="p", opened_on=date(2026, 1, 2),
    )  # fmt: skip
    closed = i.CaseClosed(case_id="c1", outcome=i.CaseOutcome.OTHER, closed_on=date(2026, 2, 1))
    for e in (opened, closed):
        t.apply(project(to_envelope(e, source="/lgnet/intake", city="torino"), e))
    row = t.rows["cases"][("c1",)]
    assert (row["opened_on"], row["closed_on"], row["outcome"], row["partner"]) == (
        date(2026, 1, 2), date(2026, 2, 1), "other", "p",
    )  # fmt: skip
    referral = i.ReferralReceived(
        referral_id="r1", household_id="h1", source=i.ReferralSource.TERRITORY, received_on=date(2026, 1, 1)
    )
    again = referral.model_copy(update={"source": i.ReferralSource.SELF})
    for e in (referral, again):
        t.apply(project(to_envelope(e, source="/lgnet/intake", city="torino"), e))
    assert t.rows["referrals"][("r1",)]["source"] == "territory"
    assert len(t.records("cases")[0]) == len(TABLES["cases"].columns)


def test_primary_and_complementary_suppression() -> None:
    doc = {"t": {"a": 2, "b": 10, "c": 7}, "total": 19}
    plan = Plan(counts=[("t", "a"), ("t", "b"), ("t", "c"), ("total",)],
                groups=[Group([("t", "a"), ("t", "b"), ("t", "c")], ("total",))])  # fmt: skip
    hidden = hidden_cells(doc, plan, threshold=5)
    # a is small; alone it could be computed as 19 - 10 - 7, so the smallest other cell (c) goes too.
    assert hidden == {("t", "a"), ("t", "c")}
    out, n = suppress(doc, plan, 5)
    assert out == {"t": {"a": None, "b": 10, "c": None}, "total": 19} and n == 2
    assert doc["t"]["a"] == 2  # the input is not changed


def test_the_total_is_hidden_when_no_other_part_can_protect_the_cell() -> None:
    doc = {"t": {"a": 2, "b": 0}, "total": 2, "amount": 500, "amounts": {"a": 500, "b": 0}}
    plan = Plan(
        counts=[("t", "a"), ("t", "b"), ("total",)],
        groups=[Group([("amounts", "a"), ("amounts", "b")], ("amount",))],
        links=[(("t", "a"), ("amounts", "a"))],
    )
    assert hidden_cells(doc, plan, 5) == {("t", "a"), ("total",), ("amounts", "a"), ("amount",)}


def test_zero_cells_are_not_small_cells() -> None:
    doc = {"t": {"a": 0, "b": 9}, "total": 9}
    plan = Plan(counts=[("t", "a"), ("t", "b")], groups=[Group([("t", "a"), ("t", "b")], ("total",))])
    assert hidden_cells(doc, plan, 5) == set()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.integers(0, 12), min_size=3, max_size=3), min_size=2, max_size=5), st.integers(2, 6))
def test_no_group_ever_has_exactly_one_hidden_cell(grid: list[list[int]], threshold: int) -> None:
    """Rows and columns of a table with margins: whatever the numbers, nothing is derivable by difference."""
    doc = {"cell": {str(r): {str(c): v for c, v in enumerate(row)} for r, row in enumerate(grid)},
           "row": {str(r): sum(row) for r, row in enumerate(grid)},
           "col": {str(c): sum(row[c] for row in grid) for c in range(3)}}  # fmt: skip
    cells = [("cell", str(r), str(c)) for r in range(len(grid)) for c in range(3)]
    groups = [Group([("cell", str(r), str(c)) for c in range(3)], ("row", str(r))) for r in range(len(grid))]
    groups += [Group([("cell", str(r), str(c)) for r in range(len(grid))], ("col", str(c))) for c in range(3)]
    hidden = hidden_cells(doc, Plan(counts=cells, groups=groups), threshold)
    for g in groups:
        assert sum(1 for m in (*g.parts, g.total) if m in hidden) != 1
    for path in cells:
        value = doc["cell"][path[1]][path[2]]
        assert (0 < value < threshold) <= (path in hidden)


def _facts() -> dict[str, list[dict[str, object]]]:
    facts: dict[str, list[dict[str, object]]] = {name: [] for name in TABLES}
    t = Tables()
    events = [
        i.HouseholdFormed(household_id="h1", city="torino", reference_person_id="p1", member_ids=["p1", "p2"]),
        i.CaseOpened(case_id="c1", household_id="h1", city="torino", action_area=i.ActionArea.HOUSING_INCLUSION,
                     channel=i.Channel.DESK, partner="x", opened_on=date(2026, 1, 10)),
        i.PersonRegistered(person_id="p1", household_id="h1", registered_by="x", birth_date=date(1980, 1, 1),
                           sex=i.Sex.FEMALE, nationality="MA", third_country=True),
        i.PersonRegistered(person_id="p2", household_id="h1", registered_by="x", birth_date=date(2020, 1, 1),
                           sex=i.Sex.MALE, nationality="MA", third_country=True),
    ]  # fmt: skip
    for e in events:
        t.apply(
            project(to_envelope(e, source="/lgnet/intake", city="torino", time=datetime(2026, 1, 1, tzinfo=UTC)), e)
        )
    for name in TABLES:
        facts[name] = [dict(zip(TABLES[name].names, r, strict=True)) for r in sorted(t.records(name), key=str)]
    return facts


def test_summary_counts_a_household() -> None:
    ind = summary(_facts(), Window(date(2026, 6, 30)), "torino")  # type: ignore[arg-type]
    assert ind["persons"] == {"total": 2, "minors": 1, "adults": 1, "age_unknown": 0}
    assert ind["households"]["multi_person"] == 1
    assert summary(_facts(), Window(date(2026, 1, 9)), "torino")["persons"]["total"] == 0  # type: ignore[arg-type]


def test_national_report_is_deterministic_and_hides_small_cells() -> None:
    w = Window(date(2026, 6, 30))
    a = national(_facts(), w, 3)  # type: ignore[arg-type]
    b = national(_facts(), w, 3)  # type: ignore[arg-type]
    assert canonical_json(a) == canonical_json(b) and digest(a) == digest(b)
    assert a["indicators"]["persons"]["total"] is None  # 2 < 3
    assert a["by_city"]["torino"]["persons"] is None
    assert plan_for(a).groups  # the plan covers the report's tables


def test_a_citys_cut_of_the_facts_gives_the_same_summary() -> None:
    facts = _facts()
    for day in (date(2026, 1, 9), date(2026, 6, 30)):
        w = Window(day)
        assert summary(of_city(facts, "torino"), w, "torino") == summary(facts, w, "torino")  # type: ignore[arg-type]


def test_the_replays_decoding_equals_the_live_consumers() -> None:
    from lgnet_reporting.service_layer.replay import _decode
    from lgnet_shared.codec import decode
    from lgnet_shared.errors import InvalidEventData

    current = i.PersonRegistered(person_id="p", registered_by="x", birth_date=date(1990, 1, 1), sex=i.Sex.MALE,
                                 nationality="MA")  # fmt: skip
    env = to_envelope(current, source="/lgnet/intake", city="torino")
    old = env.model_copy(update={"dataschema": "urn:lgnet:schema:lgnet.intake.person_registered:v1"})
    assert _decode(env) == decode(env) and _decode(old) == decode(old)
    assert decode(old).third_country is True  # type: ignore[attr-defined]
    bad = env.model_copy(update={"data": {**env.data, "birth_date": "soon"}})
    for fn in (_decode, decode):
        with pytest.raises(InvalidEventData) as err:
            fn(bad)
        assert err.value.field == "data.birth_date"


@pytest.mark.integration
async def test_replaying_beyond_the_end_of_the_log_fails(kafka_bootstrap: str, topic_prefix: str) -> None:
    from lgnet_reporting.adapters import log
    from lgnet_shared.topics import ensure_topics, physical

    await ensure_topics(kafka_bootstrap, topic_prefix, ["intake.events"])
    topic = physical("intake.events", topic_prefix)
    with pytest.raises(log.LogTooShort, match=r"\[2\] ends at 0, expected 5"):
        async for _ in log.read(kafka_bootstrap, {topic: {"2": 5}}):
            pass


def _paid_facts(*events: object) -> dict[str, list[dict[str, object]]]:
    facts = _facts()
    t = Tables()
    for e in events:
        t.apply(project(to_envelope(e, source="/lgnet/payments", city="torino"), e))  # type: ignore[arg-type]
    for name in ("contributions", "contribution_failures"):
        facts[name] = [dict(zip(TABLES[name].names, r, strict=True)) for r in sorted(t.records(name), key=str)]
    return facts


def test_a_transfer_that_failed_then_was_paid_again_counts_once_as_paid() -> None:
    fail = p.ContributionPaymentFailed(request_id="r1", batch_id="b1", reason="ac04", on=date(2026, 3, 1))
    paid = p.ContributionPaid(
        request_id="r1", batch_id="b2", case_id="c1", household_id="h1", city="torino",
        kind=p.ContributionKind.RENT, budget_line_id="l1", amount_cents=30_000, paid_on=date(2026, 3, 5),
    )  # fmt: skip
    facts = _paid_facts(fail, paid)
    after = summary(facts, Window(date(2026, 3, 31)), "torino")  # type: ignore[arg-type]
    assert after["contributions_paid"] == {"count": 1, "amount_cents": 30_000}
    assert after["contribution_payments_failed"] == 1
    between = summary(facts, Window(date(2026, 3, 2)), "torino")  # type: ignore[arg-type]
    assert between["contributions_paid"]["count"] == 0 and between["contribution_payments_failed"] == 1


def test_a_transfer_returned_after_payment_is_paid_only_until_the_return() -> None:
    paid = p.ContributionPaid(
        request_id="r1", batch_id="b1", case_id="c1", household_id="h1", city="torino",
        kind=p.ContributionKind.RENT, budget_line_id="l1", amount_cents=30_000, paid_on=date(2026, 3, 5),
    )  # fmt: skip
    returned = p.ContributionPaymentFailed(request_id="r1", batch_id="b1", reason="ac04", on=date(2026, 3, 9))
    facts = _paid_facts(paid, returned)
    assert summary(facts, Window(date(2026, 3, 6)), "torino")["contributions_paid"]["count"] == 1  # type: ignore[arg-type]
    assert summary(facts, Window(date(2026, 3, 31)), "torino")["contributions_paid"]["count"] == 0  # type: ignore[arg-type]


def _summary_of(events: list[i.Event], as_of: date = date(2026, 6, 30)) -> dict[str, int]:
    t = Tables()
    for e in events:
        t.apply(
            project(to_envelope(e, source="/lgnet/intake", city="torino", time=datetime(2026, 1, 1, tzinfo=UTC)), e)
        )
    facts = {name: [dict(zip(TABLES[name].names, r, strict=True)) for r in t.records(name)] for name in TABLES}
    return summary(facts, Window(as_of), "torino")["persons"]  # type: ignore[arg-type,no-any-return]


def test_minors_are_counted_from_intakes_facts_when_birth_dates_are_sealed() -> None:
    """person_registered v3 carries no birth date: the same household counts the same from intake's minor facts
    (case opening, joining, correction) as it did from clear birth dates (old events)."""
    opened_on = date(2026, 1, 10)
    births = {"p1": date(1980, 1, 1), "p2": date(2010, 1, 1), "p3": date(2008, 2, 1)}

    def person(pid: str, clear: bool) -> i.PersonRegistered:
        return i.PersonRegistered(person_id=pid, registered_by="x", birth_date=births[pid] if clear else None,
                                  sex=i.Sex.FEMALE, nationality="MA", third_country=True)  # fmt: skip

    def events(clear: bool) -> list[i.Event]:
        return [
            person("p1", clear), person("p2", clear), person("p3", clear),
            i.HouseholdFormed(household_id="h1", city="torino", reference_person_id="p1", member_ids=["p1", "p2"]),
            i.CaseOpened(case_id="c1", household_id="h1", city="torino", action_area=i.ActionArea.HOUSING_INCLUSION,
                         channel=i.Channel.DESK, partner="x", opened_on=opened_on,
                         minors=None if clear else {"p1": False, "p2": True}),
            # p3 joins after the opening; she was 17 on the opening date, 18 when joining.
            i.HouseholdMemberJoined(household_id="h1", person_id="p3", reason="reunification", on=date(2026, 3, 1),
                                    minor_in_cases=None if clear else {"c1": True}),
        ]  # fmt: skip

    assert _summary_of(events(clear=True)) == {"total": 3, "minors": 2, "adults": 1, "age_unknown": 0}
    assert _summary_of(events(clear=False)) == _summary_of(events(clear=True))
    # A corrected birth date: intake recomputes the person's age at each case's opening; the correction wins.
    corrected = i.PersonUpdated(person_id="p2", minor=False, minor_in_cases={"c1": False})
    assert _summary_of([*events(clear=False), corrected]) == {"total": 3, "minors": 1, "adults": 2, "age_unknown": 0}
    assert _summary_of([corrected, *reversed(events(clear=False))]) == _summary_of([*events(clear=False), corrected])


def test_replayed_report_file_names_carry_the_whole_period(tmp_path: object) -> None:
    """#16: `--from` runs overwrote as-of runs: the file name now carries the period's start too."""
    from pathlib import Path

    from lgnet_reporting.entrypoints.replay import _write
    from lgnet_reporting.service_layer.reports import Request

    out = Path(str(tmp_path))
    _write(out, Request("city_summary", "torino", Window(date(2026, 6, 30))), {"a": 1})
    _write(out, Request("city_summary", "torino", Window(date(2026, 6, 30), date(2026, 1, 1))), {"a": 2})
    assert sorted(p.name for p in out.iterdir()) == [
        "city_summary-torino-2026-01-01--2026-06-30.json",
        "city_summary-torino-2026-06-30.json",
    ]


@pytest.mark.integration
async def test_a_log_shorter_than_the_published_positions_is_a_summary_line_and_exit_1_not_a_traceback(
    kafka_bootstrap: str, topic_prefix: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from lgnet_reporting.entrypoints import replay

    async def short(*_: object) -> list[dict[str, object]]:
        from lgnet_reporting.adapters.log import LogTooShort

        raise LogTooShort("the log is shorter than the positions to replay: t[2] ends at 0, expected 5")

    monkeypatch.setattr(replay, "against_published", short)
    assert await replay.run(["--published"]) == 1
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last["ok"] is False and "t[2] ends at 0, expected 5" in last["error"]
