"""Money tutoring in the reports (issue #17): sessions, households followed and outcomes, per city and window;
a v1 session (no outcome) counts as `not_recorded`; the national aggregate suppresses its small cells."""

from __future__ import annotations

from datetime import date

from lgnet_reporting.domain.indicators import Window, summary
from lgnet_reporting.domain.projection import TABLES, Tables, project
from lgnet_shared.codec import decode, to_envelope
from lgnet_shared.events import payments as p


def _facts() -> dict[str, list[dict[str, object]]]:
    t = Tables()
    sessions = [
        p.TutoringSessionRecorded(session_id="s1", household_id="h1", case_id="c1", city="torino",
                                  topics=["budgeting"], on=date(2026, 2, 1), outcome=p.TutoringOutcome.BUDGET_PLAN),
        p.TutoringSessionRecorded(session_id="s2", household_id="h1", case_id="c1", city="torino",
                                  topics=["banking"], on=date(2026, 3, 1),
                                  outcome=p.TutoringOutcome.BANK_ACCOUNT_OPENED),
        p.TutoringSessionRecordedV1(session_id="s3", household_id="h2", case_id="c2", city="torino", topics=["debt"],
                                    on=date(2026, 3, 5)),
        p.TutoringSessionRecorded(session_id="s4", household_id="h9", case_id="c9", city="trieste",
                                  topics=["bills"], on=date(2026, 3, 5), outcome=p.TutoringOutcome.BUDGET_PLAN),
    ]  # fmt: skip
    for e in [*sessions, sessions[0]]:  # a redelivered event counts once
        env = to_envelope(e, source="/lgnet/payments", city=e.city)
        t.apply(project(env, decode(env)))  # as read from the log: v1 upcast to v2
    return {name: list(t.rows[name].values()) for name in TABLES}


def test_sessions_households_and_outcomes_are_counted_per_city_and_window() -> None:
    facts = _facts()
    torino = summary(facts, Window(date(2026, 3, 31)), "torino")["money_tutoring"]
    assert torino == {
        "sessions": 3,
        "households_followed": 2,
        "outcomes": {"bank_account_opened": 1, "budget_plan": 1, "not_recorded": 1},
    }
    march = summary(facts, Window(date(2026, 3, 31), date(2026, 3, 1)), "torino")
    assert march["money_tutoring"]["sessions"] == 2 and march["money_tutoring"]["households_followed"] == 2
    everywhere = summary(facts, Window(date(2026, 3, 31)), None)
    assert everywhere["money_tutoring"]["outcomes"]["budget_plan"] == 2
    assert TABLES["tutoring_sessions"].columns["topics"] == "text[]"  # codes only: no free text is kept
