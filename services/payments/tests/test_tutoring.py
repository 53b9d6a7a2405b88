"""Money tutoring read over HTTP (issue #17): the case's partner and the city's staff read a case's sessions;
a listing shows staff the city's and a partner only its own cases'; the event carries the outcome (v2)."""

from __future__ import annotations

import json

import pytest
from lgnet_shared import clock
from lgnet_shared.codec import decode, to_envelope
from lgnet_shared.events import payments as pev
from lgnet_shared.events.types import DATE_REASON
from lgnet_shared.testing.inprocess import InProcessService, fixtures_per_module
from payments_testkit import call, call_ok, open_case, outbox, refused
from test_bank_data import (
    COOP,
    STAFF,
    torino_payments,
)

# One in-process payments (test_bank_data's) for the module; each test records sessions on a case of its own (`uid`).
pytestmark = [pytest.mark.integration, pytest.mark.shared_service]

payments, payments_own, payments_shared, payments_view = fixtures_per_module("payments", torino_payments)


@pytest.fixture
async def case(payments: InProcessService, uid: str) -> tuple[str, str]:
    """This test's case of Coop Aurora and its household: (case_id, household_id)."""
    await open_case(payments, f"c1-{uid}", f"h1-{uid}")
    return f"c1-{uid}", f"h1-{uid}"


async def test_sessions_are_read_back_under_the_case_rules(payments: InProcessService, case: tuple[str, str]) -> None:
    case_id, household_id = case
    body = {"case_id": case_id, "topics": ["budgeting", "banking"], "outcome": "bank_account_opened"}
    made = await call_ok(payments, COOP, "POST", "/tutoring-sessions", body)
    assert made["outcome"] == "bank_account_opened" and made["on"] == clock.today().isoformat()
    second = await call_ok(payments, STAFF, "POST", "/tutoring-sessions", {"case_id": case_id, "topics": ["debt"]})
    assert second["outcome"] is None and second["recorded_by"] == STAFF

    assert await call_ok(payments, COOP, "GET", f"/tutoring-sessions/{made['session_id']}") == made
    assert await call_ok(payments, STAFF, "GET", f"/tutoring-sessions/{made['session_id']}") == made
    listed = await call_ok(payments, STAFF, "GET", f"/tutoring-sessions?case_id={case_id}")
    assert {s["session_id"] for s in listed} == {made["session_id"], second["session_id"]}
    assert len(await call_ok(payments, STAFF, "GET", f"/tutoring-sessions?household_id={household_id}")) == 2
    # a household that is not the caller's (here: no case anywhere) is refused as one, never listed empty
    refused(await call(payments, STAFF, "GET", "/tutoring-sessions?household_id=nobody"), 404, "query.household_id")
    refused(await call(payments, STAFF, "GET", "/tutoring-sessions/nope"), 404, "session_id")
    # The listing's case is a query parameter: named as one, as GET /contribution-requests?case_id= names it.
    refused(await call(payments, STAFF, "GET", "/tutoring-sessions?case_id=nope"), 404, "query.case_id")
    bad = await call(payments, COOP, "POST", "/tutoring-sessions", {**body, "outcome": "rich"})
    refused(bad, 422, "outcome")

    events = [  # this test's case's (the only ones the original had)
        e
        for e in await outbox(payments)
        if e["type"].endswith("tutoring_session_recorded") and e["data"]["case_id"] == case_id
    ]
    assert [e["data"].get("outcome") for e in events] == ["bank_account_opened", None]
    assert "banking" in json.dumps(events)


def test_a_v1_session_event_reads_as_v2_with_no_outcome() -> None:
    v1 = pev.TutoringSessionRecordedV1(
        session_id="s", household_id="h", case_id="c", city="torino", topics=["x"], on=clock.today()
    )
    read = decode(to_envelope(v1, source="/lgnet/payments", city="torino"))
    assert isinstance(read, pev.TutoringSessionRecorded) and read.outcome is None


async def test_a_topic_holding_a_fiscal_code_or_iban_is_refused(
    payments: InProcessService, case: tuple[str, str]
) -> None:
    """A DPO's review (DESIGN section 5): a session's topics travel in clear on payments' topic (tutoring_session_
    recorded) for good. A topic is a code, and a fiscal code or an IBAN in lower case is one: a partner noting the
    person's there had it taken (201) and published. Such a topic is refused at its item; nothing is recorded. It is
    no code of the `tutoring_topic` list either, which the refusal says without repeating it."""
    for topic, held in (("rssmra85t10a562s", "a fiscal code"), ("it60x0542811101000000123456", "an IBAN")):
        body = {"case_id": case[0], "topics": ["budgeting", topic]}
        reason = refused(await call(payments, COOP, "POST", "/tutoring-sessions", body), 422, "topics.1")
        assert f"unknown tutoring_topic code, which holds {held}" in reason and topic not in reason, reason


async def test_a_topic_no_list_has_is_refused_with_the_valid_ones(
    payments: InProcessService, case: tuple[str, str]
) -> None:
    """From an outside test: `bogus` was recorded as a session's topic and shown raw at the desk and on reports.
    Topics are codes of the `tutoring_topic` list; a refusal names the item and every valid code."""
    body = {"case_id": case[0], "topics": ["budgeting", "bogus"]}
    reason = refused(await call(payments, COOP, "POST", "/tutoring-sessions", body), 422, "topics.1")
    assert "unknown tutoring_topic code 'bogus'" in reason, reason
    assert all(code in reason for code in ("budgeting", "bills", "banking", "savings", "debt")), reason
    assert await call_ok(payments, STAFF, "GET", f"/tutoring-sessions?case_id={case[0]}") == []


async def test_a_session_dated_on_no_calendar_day_is_refused_with_the_documented_reason(
    payments: InProcessService, case: tuple[str, str]
) -> None:
    """From an outside test: `"on": "2026-02-30"` was answered "day is out of range for month" (Python's words)."""
    for day in ("2026-02-30", "2026-31-12"):
        bad = await call(
            payments, COOP, "POST", "/tutoring-sessions", {"case_id": case[0], "topics": ["debt"], "on": day}
        )
        assert refused(bad, 422, "on") == DATE_REASON
