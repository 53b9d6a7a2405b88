"""Unit tests of the pure parts: projection writes, suppression (also by difference), canonical digests, ages."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lgnet_reporting.domain.canonical import canonical_json, digest
from lgnet_reporting.domain.indicators import METHOD, Window, age_on, canonical_ids, summary
from lgnet_reporting.domain.national import national, of_city, plan_for
from lgnet_reporting.domain.projection import TABLES, Tables, Write, project
from lgnet_reporting.domain.suppression import Group, Plan, hidden_cells, suppress
from lgnet_shared.codec import to_envelope
from lgnet_shared.events import Event
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
    e: Event
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
    doc: dict[str, Any] = {"t": {"a": 2, "b": 10, "c": 7}, "total": 19}
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
    doc: dict[str, Any] = {"cell": {str(r): {str(c): v for c, v in enumerate(row)} for r, row in enumerate(grid)},
           "row": {str(r): sum(row) for r, row in enumerate(grid)},
           "col": {str(c): sum(row[c] for row in grid) for c in range(3)}}  # fmt: skip
    cells: list[tuple[str | int, ...]] = [("cell", str(r), str(c)) for r in range(len(grid)) for c in range(3)]
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
    ind = summary(_facts(), Window(date(2026, 6, 30)), "torino")
    assert ind["persons"] == {"total": 2, "minors": 1, "adults": 1, "age_unknown": 0}
    assert ind["households"]["multi_person"] == 1
    assert summary(_facts(), Window(date(2026, 1, 9)), "torino")["persons"]["total"] == 0


def test_national_report_is_deterministic_and_hides_small_cells() -> None:
    w = Window(date(2026, 6, 30))
    a = national(_facts(), w, 3)
    b = national(_facts(), w, 3)
    assert canonical_json(a) == canonical_json(b) and digest(a) == digest(b)
    assert a["indicators"]["persons"]["total"] is None  # 2 < 3
    assert a["by_city"]["torino"]["persons"] is None
    assert plan_for(a).groups  # the plan covers the report's tables


def test_a_citys_cut_of_the_facts_gives_the_same_summary() -> None:
    facts = _facts()
    for day in (date(2026, 1, 9), date(2026, 6, 30)):
        w = Window(day)
        assert summary(of_city(facts, "torino"), w, "torino") == summary(facts, w, "torino")


def test_the_replays_decoding_equals_the_live_consumers() -> None:
    from lgnet_reporting.service_layer.replay import _decode
    from lgnet_shared.codec import decode
    from lgnet_shared.errors import InvalidEventData

    current = i.PersonRegistered(person_id="p", registered_by="x", birth_date=date(1990, 1, 1), sex=i.Sex.MALE,
                                 nationality="MA")  # fmt: skip
    env = to_envelope(current, source="/lgnet/intake", city="torino")
    old = env.model_copy(update={"dataschema": "urn:lgnet:schema:lgnet.intake.person_registered:v1"})
    assert _decode(env) == decode(env) and _decode(old) == decode(old)
    read = decode(old)
    assert isinstance(read, i.PersonRegistered)
    assert read.third_country is True
    bad = env.model_copy(update={"data": {**env.data, "birth_date": "soon"}})
    for fn in (_decode, decode):
        with pytest.raises(InvalidEventData) as err:
            fn(bad)
        assert err.value.field == "data.birth_date"


def test_the_replays_one_pass_read_takes_the_same_decisions_as_the_two_step_one() -> None:
    """The fold reads a usual record (structured, latest version, reported type) in one pass, envelope and data
    together; every other record, and every one it refuses, goes the two-step way, which decides as live does."""
    import json

    from aiokafka.structs import ConsumerRecord
    from lgnet_reporting.service_layer.replay import Fold, _decode, _read
    from lgnet_shared.envelope import from_record

    def record(value: bytes, offset: int) -> ConsumerRecord[bytes, bytes]:
        return ConsumerRecord("t", 0, offset, 0, 0, b"k", value, None, 1, len(value), [])

    current = i.PersonRegistered(person_id="p", registered_by="x", birth_date=date(1990, 1, 1), sex=i.Sex.MALE,
                                 nationality="MA")  # fmt: skip
    env = to_envelope(current, source="/lgnet/intake", city="torino")
    value, _ = env.to_structured()
    doc = json.loads(value)
    variants = {
        "usual": value,
        "old version": json.dumps({**doc, "dataschema": "urn:lgnet:schema:lgnet.intake.person_registered:v1",
                                   "data": {k: v for k, v in doc["data"].items() if k != "third_country"}}).encode(),
        "bad data": json.dumps({**doc, "data": {**doc["data"], "birth_date": "soon"}}).encode(),
        "extra data": json.dumps({**doc, "data": {**doc["data"], "x": 1}}).encode(),
        "naive time": json.dumps({**doc, "time": "2026-01-01T09:00:00"}).encode(),
        "not reported": json.dumps({**doc, "type": "lgnet.intake.nothing"}).encode(),
        "control char": json.dumps({**doc, "city": "tor\u0001ino"}).encode(),
    }  # fmt: skip
    for name, raw in variants.items():
        r = record(raw, 0)
        try:
            two_step = from_record(r.value, r.headers, r.key)
            expected: object = (two_step, _decode(two_step))
        except Exception as exc:  # the two-step read's verdict, whatever it is
            expected = type(exc)
        try:
            read = _read(r)
            got: object = (read[0], read[1]) if read[1] is not None else (read[0], _decode(read[0]))
        except Exception as exc:
            got = type(exc)
        if isinstance(expected, tuple) and isinstance(got, tuple):
            assert got[1] == expected[1], name
            assert (got[0].id, got[0].source, got[0].type, got[0].city, got[0].time) == (
                expected[0].id, expected[0].source, expected[0].type, expected[0].city, expected[0].time
            ), name  # fmt: skip
        else:
            assert got == expected, name
    one, two = Fold(), Fold()
    records = [record(raw, n) for n, raw in enumerate([*variants.values(), value])]
    one.add(records)
    assert one.applied == 1 and one.skipped == {"invalid": 4, "not_reported": 1, "redelivered": 2}
    two.add(records[::-1])
    assert (two.applied, two.skipped) == (one.applied, one.skipped)


@pytest.mark.integration
async def test_replaying_beyond_the_end_of_the_log_fails(kafka_bootstrap: str, topic_prefix: str) -> None:
    from lgnet_reporting.adapters import log
    from lgnet_shared.topics import ensure_topics, physical

    await ensure_topics(kafka_bootstrap, topic_prefix, ["intake.events"])
    topic = physical("intake.events", topic_prefix)
    with pytest.raises(log.LogTooShort, match=r"\[2\] ends at 0, expected 5"):
        async for _ in log.read(kafka_bootstrap, {topic: {"2": 5}}):
            pass


def _paid_facts(*events: Event) -> dict[str, list[dict[str, object]]]:
    facts = _facts()
    t = Tables()
    for e in events:
        t.apply(project(to_envelope(e, source="/lgnet/payments", city="torino"), e))
    for name in ("contributions", "contribution_failures", "contribution_payments"):
        facts[name] = [dict(zip(TABLES[name].names, r, strict=True)) for r in sorted(t.records(name), key=str)]
    return facts


def test_a_transfer_that_failed_then_was_paid_again_counts_once_as_paid() -> None:
    fail = p.ContributionPaymentFailed(request_id="r1", batch_id="b1", reason="ac04", on=date(2026, 3, 1))
    paid = p.ContributionPaid(
        request_id="r1", batch_id="b2", case_id="c1", household_id="h1", city="torino",
        kind=p.ContributionKind.RENT, budget_line_id="l1", amount_cents=30_000, paid_on=date(2026, 3, 5),
    )  # fmt: skip
    facts = _paid_facts(fail, paid)
    after = summary(facts, Window(date(2026, 3, 31)), "torino")
    assert after["contributions_paid"] == {"count": 1, "amount_cents": 30_000}
    assert after["contribution_payments_failed"] == 1
    between = summary(facts, Window(date(2026, 3, 2)), "torino")
    assert between["contributions_paid"]["count"] == 0 and between["contribution_payments_failed"] == 1


def test_a_transfer_returned_after_payment_is_paid_only_until_the_return() -> None:
    paid = p.ContributionPaid(
        request_id="r1", batch_id="b1", case_id="c1", household_id="h1", city="torino",
        kind=p.ContributionKind.RENT, budget_line_id="l1", amount_cents=30_000, paid_on=date(2026, 3, 5),
    )  # fmt: skip
    returned = p.ContributionPaymentFailed(request_id="r1", batch_id="b1", reason="ac04", on=date(2026, 3, 9))
    facts = _paid_facts(paid, returned)
    assert summary(facts, Window(date(2026, 3, 6)), "torino")["contributions_paid"]["count"] == 1
    assert summary(facts, Window(date(2026, 3, 31)), "torino")["contributions_paid"]["count"] == 0


def _summary_of(events: list[Event], as_of: date = date(2026, 6, 30)) -> dict[str, int]:
    t = Tables()
    for e in events:
        t.apply(
            project(to_envelope(e, source="/lgnet/intake", city="torino", time=datetime(2026, 1, 1, tzinfo=UTC)), e)
        )
    facts = {name: [dict(zip(TABLES[name].names, r, strict=True)) for r in t.records(name)] for name in TABLES}
    persons: dict[str, int] = summary(facts, Window(as_of), "torino")["persons"]
    return persons


def test_minors_are_counted_from_intakes_facts_when_birth_dates_are_sealed() -> None:
    """person_registered v3 carries no birth date: the same household counts the same from intake's minor facts
    (case opening, joining, correction) as it did from clear birth dates (old events)."""
    opened_on = date(2026, 1, 10)
    births = {"p1": date(1980, 1, 1), "p2": date(2010, 1, 1), "p3": date(2008, 2, 1)}

    def person(pid: str, clear: bool) -> i.PersonRegistered:
        return i.PersonRegistered(person_id=pid, registered_by="x", birth_date=births[pid] if clear else None,
                                  sex=i.Sex.FEMALE, nationality="MA", third_country=True)  # fmt: skip

    def events(clear: bool) -> list[Event]:
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


def _facts_of(events: list[Event]) -> dict[str, list[dict[str, object]]]:
    t = Tables()
    for e in events:
        source = f"/lgnet/{e.type.split('.')[1]}"
        t.apply(project(to_envelope(e, source=source, city="torino", time=datetime(2026, 1, 1, tzinfo=UTC)), e))
    return {name: [dict(zip(TABLES[name].names, r, strict=True)) for r in t.records(name)] for name in TABLES}


def _assessed_household(*extra: Event) -> list[Event]:
    return [
        *_household_events(),
        i.NeedsAssessed(case_id="c1", household_id="h1", vulnerabilities=["addiction"],
                        housing_situation=i.HousingSituation.HOMELESS, monthly_income_cents=0,
                        employment_status=i.EmploymentStatus.UNEMPLOYED, assessed_on=date(2026, 1, 12)),
        i.EmploymentRecorded(person_id="p1", status=i.EmploymentStatus.UNEMPLOYED, as_of=date(2026, 1, 5)),
        *extra,
    ]  # fmt: skip


def _household_events() -> list[Event]:
    return [
        i.HouseholdFormed(household_id="h1", city="torino", reference_person_id="p1", member_ids=["p1", "p2"]),
        i.CaseOpened(case_id="c1", household_id="h1", city="torino", action_area=i.ActionArea.HOUSING_INCLUSION,
                     channel=i.Channel.DESK, partner="x", opened_on=date(2026, 1, 10)),
        i.PersonRegistered(person_id="p1", household_id="h1", registered_by="x", birth_date=date(1980, 1, 1),
                           sex=i.Sex.FEMALE, nationality="MA", third_country=True),
        i.PersonRegistered(person_id="p2", household_id="h1", registered_by="x", birth_date=date(2020, 1, 1),
                           sex=i.Sex.MALE, nationality="MA", third_country=True),
    ]  # fmt: skip


def _consent(person: str, granted: bool, on: date) -> i.ConsentRecorded:
    return i.ConsentRecorded(person_id=person, purpose=i.ConsentPurpose.REPORTING, granted=granted, recorded_on=on)


def test_a_person_who_withdrew_the_reporting_consent_is_not_counted_where_consent_is_the_legal_basis() -> None:
    """Persons, ages, sex, nationality are the funded project's legal obligation (counted regardless); the
    vulnerability and employment indicators rest on the `reporting` consent, as it stood on `as_of`."""
    granted = [_consent("p1", True, date(2026, 1, 10)), _consent("p2", True, date(2026, 1, 10))]
    withdrawn = _consent("p1", False, date(2026, 5, 1))
    facts = _facts_of(_assessed_household(*granted, withdrawn))
    before = summary(facts, Window(date(2026, 4, 30)), "torino")
    after = summary(facts, Window(date(2026, 6, 30)), "torino")
    assert before["persons_by_vulnerability"] == {"addiction": 2}
    assert after["persons_by_vulnerability"] == {"addiction": 1}  # p2 only: p1 withdrew on 1 May
    assert before["employment"]["at_opening"] == {"unemployed": 1, "unknown": 1}
    assert after["employment"]["at_opening"] == {"unknown": 1}
    assert after["persons"]["total"] == 2 and after["persons_by_sex"] == {"female": 1, "male": 1}
    assert after["reporting_consent"] == {"granted": 1, "not_granted": 1}
    # Never asked is not consent: nobody counts in the consent-based indicators.
    silent = summary(_facts_of(_assessed_household()), Window(date(2026, 6, 30)), "torino")
    assert silent["persons_by_vulnerability"] == {} and silent["reporting_consent"]["granted"] == 0


def test_reports_published_with_method_1_are_recomputed_with_method_1() -> None:
    """Method 1 (before the consent check) counted everyone: the auditors' replay of a report published then must
    still give its digest, so the method travels with the published report and the computation follows it."""
    facts = _facts_of(_assessed_household(_consent("p1", False, date(2026, 5, 1))))
    old = summary(facts, Window(date(2026, 6, 30), method=1), "torino")
    assert old["persons_by_vulnerability"] == {"addiction": 2} and "reporting_consent" not in old
    doc = national(facts, Window(date(2026, 6, 30), method=1), 3)
    assert "method" not in doc  # method-1 documents are byte-identical to what was published
    assert national(facts, Window(date(2026, 6, 30)), 3)["method"] == METHOD


def _registered(pid: str, hh: str, born: date, sex: i.Sex) -> i.PersonRegistered:
    return i.PersonRegistered(person_id=pid, household_id=hh, registered_by="x", birth_date=born, sex=sex,
                              nationality="MA", third_country=True)  # fmt: skip


def _old_assessment_events() -> list[Event]:
    """Both cities, households of 1 to 4 members, assessed per household with v1 and v2 (one unknown code)."""
    ev: list[Event] = []
    for city in ("torino", "trieste"):
        for h in range(4):
            hh = f"{city}-h{h}"
            members = [f"{hh}-p{k}" for k in range(h + 1)]
            sexes = [i.Sex.FEMALE if k % 2 else i.Sex.MALE for k in range(h + 1)]
            ev += [_registered(m, hh, date(1980 + 12 * k, 1, 1), sexes[k]) for k, m in enumerate(members)]
            ev.append(i.HouseholdFormed(household_id=hh, city=city, reference_person_id=members[0], member_ids=members))
            ev.append(
                i.CaseOpened(
                    case_id=f"{hh}-c",
                    household_id=hh,
                    city=city,
                    action_area=i.ActionArea.HOUSING_INCLUSION,
                    channel=i.Channel.DESK,
                    partner="x",
                    opened_on=date(2026, 1, 10 + h),
                )
            )
            model = i.NeedsAssessedV1 if h % 2 else i.NeedsAssessedV2
            ev.append(
                model(
                    case_id=f"{hh}-c",
                    household_id=hh,
                    vulnerabilities=["psychiatric_condition", "anything_goes_xyz"][: 1 + h % 2],
                    housing_situation=i.HousingSituation.HOMELESS,
                    monthly_income_cents=0,
                    employment_status=i.EmploymentStatus.UNEMPLOYED,
                    assessed_on=date(2026, 2, 1),
                )
            )
    return ev  # fmt: skip


def _decoded_facts(events: list[Event]) -> dict[str, list[dict[str, object]]]:
    """Through the envelope and codec.decode, as the consumer reads them (old versions are upcast)."""
    from lgnet_shared.codec import decode

    t = Tables()
    for e in events:
        city = getattr(e, "city", "torino")
        env = to_envelope(e, source="/lgnet/intake", city=city, time=datetime(2026, 1, 1, tzinfo=UTC))
        t.apply(project(env, decode(env)))
    return {name: [dict(zip(TABLES[name].names, r, strict=True)) for r in t.records(name)] for name in TABLES}


def test_old_household_assessments_replay_to_the_digests_they_produced_then() -> None:
    """Digests computed by the code before #18 (commit cf486cb) from these v1/v2 events: the upcast (v3 with
    `vulnerabilities_by_person` null) and method 1 must give them byte for byte."""
    from lgnet_reporting.domain.national import city_summary

    facts = _decoded_facts(_old_assessment_events())
    w = Window(date(2026, 6, 30), method=1)
    assert digest(national(facts, w, 3)) == "2ab6e41987d59d6de6a80bc0a1bd35a94481fd99f69123d19b8ec882aad9d067"
    assert digest(city_summary(facts, w, "torino")) == (
        "1554e0df99b82325868e047709dc42774a7cdf14b4b912a1ad8e7952b1fade2d"
    )


def test_vulnerabilities_assessed_per_person_count_for_that_person_only() -> None:
    """A newborn is not counted under `psychiatric_condition` because the parent is: v3 says whose it is."""
    consents = [_consent(p, True, date(2026, 1, 1)) for p in ("p1", "p2")]
    per_person = i.NeedsAssessed(
        case_id="c1", household_id="h1", vulnerabilities=["psychiatric_condition", "single_parent"],
        vulnerabilities_by_person={"p1": ["psychiatric_condition", "single_parent"]},
        housing_situation=i.HousingSituation.HOMELESS, monthly_income_cents=0,
        employment_status=i.EmploymentStatus.UNEMPLOYED, assessed_on=date(2026, 1, 12),
    )  # fmt: skip
    facts = _decoded_facts([*_household_events(), *consents, per_person])
    ind = summary(facts, Window(date(2026, 6, 30)), "torino")
    assert ind["persons"]["total"] == 2
    assert ind["persons_by_vulnerability"] == {"psychiatric_condition": 1, "single_parent": 1}
    # An old household-level assessment of the same household still counts on every member (as it did then).
    old = i.NeedsAssessedV2(
        case_id="c1", household_id="h1", vulnerabilities=["elderly"], housing_situation=i.HousingSituation.HOMELESS,
        monthly_income_cents=0, employment_status=i.EmploymentStatus.UNEMPLOYED, assessed_on=date(2026, 1, 11),
    )  # fmt: skip
    both = _decoded_facts([*_household_events(), *consents, old, per_person])
    assert summary(both, Window(date(2026, 6, 30)), "torino")["persons_by_vulnerability"] == {
        "elderly": 2, "psychiatric_condition": 1, "single_parent": 1,
    }  # fmt: skip


def _taken_in(city: str, n: int, national_key: str | None) -> list[Event]:
    """A person (p<n>) registered in `city` with the cross-city key, alone in a household with a case."""
    hh, pid = f"h{n}", f"p{n}"
    return [
        i.PersonRegistered(person_id=pid, household_id=hh, registered_by="x", sex=i.Sex.FEMALE, nationality="MA",
                           third_country=True, minor=False, national_key=national_key),
        i.HouseholdFormed(household_id=hh, city=city, reference_person_id=pid, member_ids=[pid]),
        i.CaseOpened(case_id=f"c{n}", household_id=hh, city=city, action_area=i.ActionArea.TAKING_CHARGE,
                     channel=i.Channel.DESK, partner="x", opened_on=date(2026, 1, n), minors={pid: False}),
    ]  # fmt: skip


def test_a_fiscal_code_given_after_the_registration_makes_the_person_one_nationally() -> None:
    """From an outside test: Roma registered a man without a fiscal code (it came later), Milano with it; the key
    came only with person_registered, so the national report counted him twice. person_updated v3 brings it."""
    events = [e for city, n, key in (("torino", 1, None), ("trieste", 2, "a" * 64)) for e in _taken_in(city, n, key)]
    w = Window(date(2026, 6, 30))
    assert national(_facts_of(events), w, 1)["indicators"]["persons"]["total"] == 2
    events.append(i.PersonUpdated(person_id="p1", national_key="a" * 64))
    assert national(_facts_of(events), w, 1)["indicators"]["persons"]["total"] == 1


def test_a_person_who_moved_between_cities_is_one_person_nationally() -> None:
    """Two registrations (Torino, then Trieste) of one person: each city counts its own; nationally the
    pseudonymous cross-city key (a keyed hash of the fiscal code under the national key) makes them one."""
    cities = (("torino", 1, "a" * 64), ("trieste", 2, "a" * 64), ("trieste", 3, "b" * 64))
    events = [e for city, n, key in cities for e in _taken_in(city, n, key)]
    facts = _facts_of(events)
    w = Window(date(2026, 6, 30))
    assert summary(facts, w, None)["persons"]["total"] == 2
    doc = national(facts, w, 1)
    assert doc["indicators"]["persons"]["total"] == 2
    assert {c: r["persons"] for c, r in doc["by_city"].items()} == {"torino": 1, "trieste": 2}
    assert summary(facts, Window(date(2026, 6, 30), method=1), None)["persons"]["total"] == 3


def _one_man_under_two_keys() -> list[Event]:
    """Roma merged a registration under a temporary fiscal code (key K1) into one under the definitive code (K2);
    Milano has the man under K1, Napoli under K2 (natkey.py)."""
    k1, k2 = "1" * 64, "2" * 64
    events: list[Event] = []
    for city, pid, key, day in (
        ("roma", "p-roma-a", k1, 5),
        ("roma", "p-roma-b", k2, 6),
        ("milano", "p-mil", k1, 7),
        ("napoli", "p-nap", k2, 8),
    ):
        hh = f"h-{pid}"
        events += [
            i.HouseholdFormed(household_id=hh, city=city, reference_person_id=pid, member_ids=[pid]),
            i.CaseOpened(case_id=f"c-{pid}", household_id=hh, city=city, action_area=i.ActionArea.TAKING_CHARGE,
                         channel=i.Channel.DESK, partner="x", opened_on=date(2026, 1, day), minors={pid: False}),
            i.PersonRegistered(person_id=pid, household_id=hh, registered_by="x", sex=i.Sex.MALE, nationality="MA",
                               third_country=True, national_key=key),
        ]  # fmt: skip
    events.append(i.PersonsMerged(surviving_person_id="p-roma-b", merged_person_id="p-roma-a", decided_by="op"))
    return events


def test_cross_city_keys_link_one_person_transitively_through_a_merge() -> None:
    """National review: the man of `_one_man_under_two_keys` is one person nationally, in every count of persons
    (method 6): groups of keys sharing a member are joined before the representative is chosen."""
    facts = _facts_of(_one_man_under_two_keys())
    w = Window(date(2026, 6, 30))
    ind = summary(facts, w, None)
    assert ind["persons"] == {"total": 1, "minors": 0, "adults": 1, "age_unknown": 0}
    assert ind["third_country_nationals"] == 1
    assert ind["persons_by_nationality"] == {"MA": 1} and ind["persons_by_sex"] == {"male": 1}
    assert ind["persons_by_action_area"] == {"taking_charge": 1} and ind["persons_by_channel"] == {"desk": 1}
    assert sum(ind["reporting_consent"].values()) == 1
    assert [m["new_persons"] for m in ind["monthly"]] == [1, 0, 0, 0, 0, 0]  # January to June
    assert ind["households"]["total"] == 4  # households stay the cities' own
    doc = national(facts, w, 0)
    assert doc["indicators"]["persons"]["total"] == 1
    assert {c: r["persons"] for c, r in doc["by_city"].items()} == {"milano": 1, "napoli": 1, "roma": 1}
    # Reports published with method 5 joined each key alone: they replay to their digest (code of commit 4b807522).
    then = national(facts, Window(date(2026, 6, 30), method=5), 0)
    assert then["indicators"]["persons"]["total"] == 2
    assert digest(then) == "bfc33404b751764312b2b7aac7a05844d67b9b9f27f5a004200de0cc57b31754"


def test_fund_indicators_come_from_the_reports_by_a_mapping_kept_as_data() -> None:
    """Annex VIII of Regulation (EU) 2021/1147 and the FAMI 2014-2020 indicators: each maps to a figure of the report
    (or says why LgNet cannot derive it yet); individual guidance = persons with an individual plan agreed."""
    from lgnet_reporting.domain import fund

    plan = i.IndividualPlanAgreed(case_id="c1", plan_id="pl1", objectives=["housing_autonomy"],
                                  agreed_on=date(2026, 2, 1))  # fmt: skip
    facts = _facts_of([*_household_events(), plan])
    doc = {"indicators": summary(facts, Window(date(2026, 6, 30)), "torino")}
    assert doc["indicators"]["persons_with_individual_plan"] == 2
    figures = {f["code"]: f for f in fund.figures(doc)}
    assert figures["AMIF.O.2.3"]["value"] == 2  # participants supported
    assert figures["AMIF.O.2.3.3"]["value"] == 2  # individual guidance: the plan
    assert figures["AMIF.R.2.9"]["value"] is None and figures["AMIF.R.2.9"]["derivable"] is False
    assert figures["AMIF.R.2.9"]["why_not"]
    assert figures["AMIF.R.2.8"]["value"] == 0  # CEFR progress, from civic engagement (#19; test_civic.py)
    assert figures["FAMI.destinatari"]["value"] == 2
    assert all(f["label"] and f["definition"] for f in figures.values())  # from the vocabulary
    early = {"indicators": summary(facts, Window(date(2026, 1, 31)), "torino")}
    assert {f["code"]: f["value"] for f in fund.figures(early)}["AMIF.O.2.3.3"] == 0


def test_a_figure_drills_down_to_its_pseudonymous_ids_and_cases() -> None:
    from lgnet_reporting.domain.drilldown import NoDrillDown, behind

    facts = _facts_of(_household_events())
    w = Window(date(2026, 6, 30))
    got = behind(facts, w, "torino", "persons.total")
    assert got["count"] == summary(facts, w, "torino")["persons"]["total"] == 2
    assert got["items"] == [{"person_id": "p1", "cases": ["c1"]}, {"person_id": "p2", "cases": ["c1"]}]
    assert behind(facts, w, "torino", "persons_by_action_area.housing_inclusion")["count"] == 2
    assert behind(facts, w, "torino", "cases.opened")["items"] == [{"case_id": "c1", "opened_on": "2026-01-10"}]
    with pytest.raises(NoDrillDown, match="supported"):
        behind(facts, w, "torino", "persons_by_vulnerability.addiction")


def test_the_financial_statement_per_budget_line_balances_like_the_ledger() -> None:
    """budget = allocations + adjustments; paid = confirmed transfers (a returned one goes back to committed);
    committed = approved, not paid, not released; vouchers = issued less expired remainders; remaining = what the
    ledger's budget_available holds."""
    from lgnet_reporting.domain.statement import statement

    d = date
    events: list[Any] = [
        p.BudgetAllocated(budget_line_id="BL1", city="torino", line="rent", amount_cents=1_000_000, on=d(2026, 1, 1)),
        p.BudgetAdjusted(budget_line_id="BL1", delta_cents=-100_000, reason="rebudget", on=d(2026, 2, 1)),
        p.BudgetAllocated(budget_line_id="BL2", city="torino", line="voucher", amount_cents=50_000, on=d(2026, 1, 1)),
    ]
    for n, amount in ((1, 30_000), (2, 45_000), (3, 12_345)):
        events += [
            p.ContributionRequested(request_id=f"R{n}", case_id="c1", household_id="h1", city="torino",
                                    kind=p.ContributionKind.RENT, budget_line_id="BL1", amount_cents=amount,
                                    requested_by="staff", on=d(2026, 3, 1)),
            p.ContributionApproved(request_id=f"R{n}", approved_by="boss", on=d(2026, 3, 2)),
        ]  # fmt: skip
    paid = {"batch_id": "B1", "case_id": "c1", "household_id": "h1", "city": "torino",
            "kind": p.ContributionKind.RENT, "budget_line_id": "BL1"}  # fmt: skip
    events += [
        p.ContributionPaid(request_id="R1", amount_cents=30_000, paid_on=d(2026, 3, 5), **paid),
        p.ContributionPaid(request_id="R2", amount_cents=45_000, paid_on=d(2026, 3, 5), **paid),
        p.ContributionPaymentFailed(request_id="R2", batch_id="B1", reason="ac04", on=d(2026, 3, 9)),  # back
        p.VoucherIssued(voucher_id="V1", household_id="h1", case_id="c1", city="torino",
                        kind=p.VoucherKind.PUBLIC_TRANSPORT, value_cents=5_000, budget_line_id="BL2",
                        valid_until=d(2026, 4, 30), on=d(2026, 3, 1)),
        p.VoucherRedeemed(voucher_id="V1", provider_id="gtt", amount_cents=2_000, on=d(2026, 3, 10)),
        p.VoucherExpired(voucher_id="V1", remaining_cents=3_000, on=d(2026, 4, 30)),
    ]  # fmt: skip
    t = Tables()
    for e in events:
        t.apply(project(to_envelope(e, source="/lgnet/payments", city="torino"), e))
    facts = {name: [dict(zip(TABLES[name].names, r, strict=True)) for r in t.records(name)] for name in TABLES}
    lines = {s["budget_line_id"]: s for s in statement(facts, Window(d(2026, 6, 30)), "torino")["lines"]}
    rent, voucher = lines["BL1"], lines["BL2"]
    assert (rent["budget_cents"], rent["paid_cents"], rent["committed_cents"]) == (900_000, 30_000, 57_345)
    assert rent["remaining_cents"] == 900_000 - 30_000 - 57_345 == 812_655
    assert [x["request_id"] for x in rent["payments"]] == ["R1"]
    assert (voucher["vouchers_cents"], voucher["remaining_cents"]) == (2_000, 48_000)


def test_a_citys_row_of_the_national_aggregate_equals_its_summary() -> None:
    from lgnet_reporting.domain.indicators import city_row
    from lgnet_reporting.domain.national import _row, split_by_city

    facts = _decoded_facts(_old_assessment_events())
    for w in (Window(date(2026, 6, 30)), Window(date(2026, 1, 11)), Window(date(2026, 6, 30), date(2026, 1, 12))):
        for city, cut in split_by_city(facts, ["torino", "trieste"]).items():
            assert city_row(cut, w, city) == _row(summary(cut, w, city))


def test_the_national_rows_are_each_citys_own_summary() -> None:
    """#18, speed: the national report reads its city rows off its own population in one pass (no per-city cut);
    each row must still be what the city's own summary says, with and without the first case in another city."""
    from lgnet_reporting.domain.national import _row, national, split_by_city

    facts = _decoded_facts(_old_assessment_events())
    for w in (Window(date(2026, 6, 30)), Window(date(2026, 1, 11)), Window(date(2026, 6, 30), date(2026, 1, 12))):
        doc = national(facts, w, 0)
        for city, cut in split_by_city(facts, ["torino", "trieste"]).items():
            assert doc["by_city"][city] == _row(summary(cut, w, city)), (city, w)


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


_ROW_TABLES = ("cases", "memberships", "member_ages", "referrals")  # one-, two- and three-column keys


def _write_to(name: str) -> st.SearchStrategy[Write]:
    """A write to one table: its key drawn from two values per column (so that inserts and upserts collide), and
    some of its other columns. Built once per table: a strategy built inside every draw costs more than the test."""
    table = TABLES[name]
    others = [c for c in table.names if c not in table.key]
    value = st.one_of(st.none(), st.integers(0, 3), st.text(max_size=2))
    return st.builds(
        lambda mode, key, rest: Write(mode, name, {**dict(zip(table.key, key, strict=True)), **rest}),
        st.sampled_from(("insert", "upsert")),
        st.tuples(*(st.sampled_from(("a", "b")) for _ in table.key)),
        st.dictionaries(st.sampled_from(others), value),
    )


_WRITES = st.lists(st.one_of(*(_write_to(name) for name in _ROW_TABLES)), max_size=40)


@settings(max_examples=200, deadline=None)
@given(batches=st.lists(_WRITES, max_size=4))
def test_the_in_memory_tables_write_as_the_sql_does(batches: list[list[Any]]) -> None:
    """Tables (the replay's fold) against the plain statement of the rule: a row is keyed by its key columns;
    an insert keeps the first write, an upsert overwrites only the columns it gives; a record has every column, in
    the table's order, None where never written. Rows are copied: a write's row is never the table's."""
    t = Tables()
    expected: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {name: {} for name in TABLES}
    for writes in batches:
        t.apply(writes)
        for w in writes:
            key = tuple(w.row[k] for k in TABLES[w.table].key)
            assert w.key == key
            rows = expected[w.table]
            if key not in rows:
                rows[key] = dict(w.row)
            elif w.mode == "upsert":
                rows[key].update(w.row)
    for w in (w for writes in batches for w in writes):
        w.row.clear()  # the tables hold copies
    assert t.rows == expected
    for name in _ROW_TABLES:
        names = TABLES[name].names
        assert t.records(name) == [tuple(row.get(c) for c in names) for row in expected[name].values()]


@pytest.mark.integration
async def test_a_parallel_replay_into_a_used_schema_fails_without_folding_the_whole_log(
    kafka_bootstrap: str, topic_prefix: str, database_url: str, pg_schema: str
) -> None:
    """The workers read while the schema is prepared; when it cannot be (here: not empty), the replay fails with
    that reason, and no worker waits for tables that will never be ready."""
    from aiokafka import AIOKafkaProducer
    from lgnet_reporting.adapters import log
    from lgnet_reporting.service_layer import replay
    from lgnet_shared import db
    from lgnet_shared.kafka import client_kwargs
    from lgnet_shared.topics import ensure_topics, physical

    await ensure_topics(kafka_bootstrap, topic_prefix, ["intake.events"])
    topic = physical("intake.events", topic_prefix)
    e = i.ReferralReceived(referral_id="r1", household_id="h1", source=i.ReferralSource.TERRITORY,
                           received_on=date(2026, 1, 1))  # fmt: skip
    producer = AIOKafkaProducer(**client_kwargs(kafka_bootstrap))
    await producer.start()
    try:
        for n in range(6):
            value, _ = to_envelope(e, source="/lgnet/intake", city="torino").to_structured()
            await producer.send_and_wait(topic, value, key=b"r1", partition=n)
    finally:
        await producer.stop()
    positions = await log.end_positions(kafka_bootstrap, [topic])
    pool = await db.create_pool(database_url, pg_schema, max_size=2)
    try:
        await replay.prepare(pool)
        async with pool.acquire() as conn:
            await conn.execute("insert into cases (case_id) values ('c0')")
        with pytest.raises(RuntimeError, match="not empty"):
            await asyncio.wait_for(
                replay.rebuild(
                    kafka_bootstrap, pool, positions, None, workers=2, database_url=database_url, schema=pg_schema
                ),
                timeout=120,
            )
        async with pool.acquire() as conn:
            assert await conn.fetchval("select count(*) from referrals") == 0
    finally:
        await pool.close()


@pytest.mark.integration
async def test_an_unknown_report_id_in_the_replay_is_named_not_a_silent_failure(
    kafka_bootstrap: str, topic_prefix: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """From an outside test: `--published --report-id <unknown>` printed {"reports": 0, "ok": false} and exited 1,
    saying nothing of why. It names the argument and the id, as the HTTP API does."""
    import json

    from lgnet_reporting.entrypoints import replay

    async def none_published(*_: object) -> tuple[list[object], list[object]]:
        return [], []  # none announced, none refused

    async def no_keys(*_: object) -> None:
        return None  # as with LGNET_FACT_SIGNATURES=off: the announcements are what this test is about

    monkeypatch.setattr(replay, "published_reports", none_published)
    monkeypatch.setattr(replay, "_registered", no_keys)
    monkeypatch.setenv("DATABASE_URL", "postgresql://unused")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_bootstrap)
    assert await replay.run(["--published", "--report-id", "01a23cde-0000-0000-0000-000000000000"]) == 2
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last["ok"] is False
    assert last["error"] == "--report-id: no published report 01a23cde-0000-0000-0000-000000000000", last
    assert await replay.run(["--published"]) == 1
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last["ok"] is False and last["error"] == "no report published on lgnet.reporting.events yet", last


def test_the_replay_checks_each_facts_claims_after_its_key_passed_on_another() -> None:
    """The replay remembers the (key, claimed key, city) a fact passed `check_claims` with; a later fact of the same
    key claiming another city or another key is still skipped, in the same batch, as the live consumer skips it."""
    import os

    from aiokafka.structs import ConsumerRecord
    from lgnet_reporting.service_layer.replay import Fold
    from lgnet_shared.fact_signing import FactSigner, SigningKey

    torino, other = (FactSigner(os.urandom(32), "torino", "intake", "torino") for _ in range(2))
    records = []
    signers: dict[int, SigningKey | None] = {}
    for n, (city, signer) in enumerate((("torino", torino), ("milano", torino), ("torino", other), ("torino", torino))):
        event = i.EmploymentRecorded(person_id=f"p{n}", status=i.EmploymentStatus.TRAINING, as_of=date(2026, 3, 1))
        env = to_envelope(event, source="/lgnet/intake", city=city)
        value, signature = signer.sign(*env.to_structured())
        r = ConsumerRecord("lgnet.intake.events", 0, n, 0, 0, b"k", value, None, 1, len(value), [signature])
        records.append(r)
        signers[id(r)] = torino.key  # the key that verified it; the second claims milano, the third another key
    f = Fold("torino")
    f.add(records, signers)
    assert f.applied == 2 and f.skipped == {"signature": 2}
    assert len(f.tables.rows["employment"]) == 2


@pytest.mark.parametrize("named", [True, False], ids=["workers", "in_log_order"])
def test_a_national_replay_counts_the_facts_it_applied_unjudged(named: bool) -> None:
    """As the live consumers count them (lgnet_facts_unjudged_total): a fact whose record the broker did not stamp,
    made before the owners' rule, is applied as it was — the auditor reads how many, whichever way the replay folded.
    A city's replay judges none: it counts none."""
    from dataclasses import replace

    from aiokafka.structs import ConsumerRecord
    from lgnet_reporting.service_layer.replay import Fold, Timing
    from lgnet_shared.owned_ids import JUDGED_FROM

    def fact(n: int, at: datetime, stamped: bool) -> ConsumerRecord[bytes, bytes]:
        event = i.EmploymentRecorded(person_id=f"p{n}", status=i.EmploymentStatus.TRAINING, as_of=date(2026, 3, 1))
        value, headers = to_envelope(event, source="/lgnet/intake", city="torino", time=at).to_structured()
        r = ConsumerRecord("lgnet.intake.events", 0, n, 0, 0, b"k", value, None, 1, len(value), headers)
        return replace(r, timestamp_type=1) if stamped else r

    old = datetime(2026, 12, 6, tzinfo=UTC)
    records = [fact(0, old, False), fact(1, old, True), fact(2, JUDGED_FROM, False), fact(3, old, False)]
    national = Fold(None)
    if named:
        national.named = {}
    national.add(records)
    assert (national.applied, national.unjudged) == (4, 2)
    assert Timing(0.0, 0.0, national, "in_parallel").as_dict()["applied_unjudged"] == 2
    torino = Fold("torino")
    torino.add(records)
    assert (torino.applied, torino.unjudged) == (4, 0)
    assert Timing(0.0, 0.0, torino).as_dict()["applied_unjudged"] is None


def test_the_replay_skips_a_fact_of_another_services_type_signed_by_the_topics_writer() -> None:
    """Torino's housing key signs a payments `contribution_paid` and the housing deployment publishes it on
    housing.events: the replay folded it into Torino's payments (the live consumer's decisions, `check_claims`,
    looked at the key id and city only). It is skipped as a bad signature is; the same fact on payments.events,
    signed by payments, is applied."""
    import os

    from aiokafka.structs import ConsumerRecord
    from lgnet_reporting.service_layer.replay import Fold
    from lgnet_shared.fact_signing import FactSigner, SigningKey

    paid = p.ContributionPaid(
        request_id="req-forged", batch_id="b-1", case_id="c-1", household_id="h-1", city="torino",
        kind=p.ContributionKind.RENT, budget_line_id="bl-1", amount_cents=500_000, paid_on=date(2026, 3, 1),
    )  # fmt: skip
    env = to_envelope(paid, source="/lgnet/housing", city="torino")
    records = []
    signers: dict[int, SigningKey | None] = {}
    for n, service in enumerate(("housing", "payments")):
        s = FactSigner(os.urandom(32), "torino", service, "torino")
        value, signature = s.sign(*env.to_structured())
        headers = [*env.to_structured()[1], signature]
        r = ConsumerRecord(f"lgnet.{service}.events", 0, n, 0, 0, b"k", value, None, 1, len(value), headers)
        records.append(r)
        signers[id(r)] = s.key
    f = Fold("torino")
    f.add(records[:1], signers)
    assert (f.applied, f.skipped) == (0, {"signature": 1})
    f.add(records[1:], signers)
    assert (f.applied, f.skipped) == (1, {"signature": 1})


def test_a_change_of_reference_person_names_the_household_after_the_new_one_and_counts_the_same() -> None:
    """household_reference_person_changed: the household's row names its reference person now, its city and day
    formed kept, its memberships untouched (she was a member already), every count the same; keyed by the household,
    the change follows its formation in the log, and applying it again (redelivery, the replay) changes nothing."""
    formed = i.HouseholdFormed(household_id="h1", city="torino", reference_person_id="p1", member_ids=["p1", "p2"])
    changed = i.HouseholdReferencePersonChanged(
        household_id="h1", person_id="p2", previous_person_id="p1", reason="moved", on=date(2026, 3, 2)
    )
    others: list[Event] = [
        i.CaseOpened(case_id="c1", household_id="h1", city="torino", action_area=i.ActionArea.HOUSING_INCLUSION,
                     channel=i.Channel.DESK, partner="x", opened_on=date(2026, 1, 10)),
        *(i.PersonRegistered(person_id=pid, household_id="h1", registered_by="x", birth_date=date(1980, 1, 1),
                             sex=i.Sex.FEMALE, nationality="MA", third_country=True) for pid in ("p1", "p2")),
    ]  # fmt: skip
    at = datetime(2026, 1, 1, tzinfo=UTC)
    before, after = Tables(), Tables()
    for t, events in ((before, [formed, *others]), (after, [formed, *others, changed, changed])):
        for e in events:
            t.apply(project(to_envelope(e, source="/lgnet/intake", city="torino", time=at), e))
    assert after.rows["households"][("h1",)] == {
        "household_id": "h1", "city": "torino", "reference_person_id": "p2", "formed_on": date(2026, 1, 1)
    }  # fmt: skip

    def memberships(t: Tables) -> list[tuple[Any, ...]]:  # each row but its event's id (a new one each run)
        return sorted((r["person_id"], r["household_id"], r["change"], r["on_date"]) for r in t.facts()["memberships"])

    assert memberships(after) == memberships(before)
    window = Window(date(2026, 6, 30))
    assert summary(after.facts(), window, "torino") == summary(before.facts(), window, "torino")


def test_a_partners_own_registration_merged_into_another_partners_person_counts_her_once() -> None:
    """Intake (docs/partners.md, "What is not yours"): a partner whose registration was merged into another
    partner's person by her fiscal code forms its household and opens its case under its own registration's id — the
    merge comes before them, and they name the merged id. One woman all the same: one person, two households, two
    cases; her sex and nationality from the surviving record."""
    events: list[Event] = []
    for pid, partner, day in (("p-a", "coop-a", 5), ("p-c", "coop-c", 8)):
        events.append(i.PersonRegistered(person_id=pid, registered_by=partner, sex=i.Sex.FEMALE, nationality="NG",
                                         third_country=True, minor=False))  # fmt: skip
        if pid == "p-c":  # merged at its registration, before anything names it
            events.append(i.PersonsMerged(surviving_person_id="p-a", merged_person_id="p-c",
                                          decided_by="fiscal_code_match"))  # fmt: skip
        hh = f"h-{pid}"
        events += [
            i.HouseholdFormed(household_id=hh, city="torino", reference_person_id=pid, member_ids=[pid]),
            i.CaseOpened(case_id=f"c-{pid}", household_id=hh, city="torino", action_area=i.ActionArea.TAKING_CHARGE,
                         channel=i.Channel.DESK, partner=partner, opened_on=date(2026, 1, day), minors={pid: False}),
        ]  # fmt: skip
    ind = summary(_facts_of(events), Window(date(2026, 6, 30)), None)
    assert ind["persons"]["total"] == 1, ind["persons"]
    assert ind["persons_by_sex"] == {"female": 1}
    assert ind["households"]["total"] == 2 and ind["cases"]["opened"] == 2, (ind["households"], ind["cases"])
