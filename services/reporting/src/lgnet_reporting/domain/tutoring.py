"""Money tutoring in the reports (issue #17): sessions held, households followed and what the sessions led to,
from payments' `tutoring_session_recorded`. Pure; the table and its projection are wired in projection.py, the
indicators in indicators.summary, their suppression in national.py.

Only ids, dates and codes are kept (no names, no free text): a session's topics and outcome are codes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from lgnet_shared.events import payments as p

TABLE = "tutoring_sessions"
KEY = ("session_id",)
COLUMNS = {
    "session_id": "text",
    "household_id": "text",
    "case_id": "text",
    "city": "text",
    "on_date": "date",
    "outcome": "text",
    "topics": "text[]",
}
NOT_SAID = "not_recorded"  # sessions recorded before outcomes were (v1 events) or without one


def row(e: p.TutoringSessionRecorded) -> dict[str, Any]:
    """The session's report row: a fact that never changes (first write wins)."""
    return {
        "session_id": e.session_id,
        "household_id": e.household_id,
        "case_id": e.case_id,
        "city": e.city,
        "on_date": e.on,
        "outcome": e.outcome.value if e.outcome else None,
        "topics": sorted(set(e.topics)),
    }


def indicators(
    sessions: Iterable[dict[str, Any]], in_window: Callable[[Any], bool], here: Callable[..., bool]
) -> dict[str, Any]:
    """Sessions held in the window, the households they followed, and their outcomes (each session counted once)."""
    held = [s for s in sessions if here(s) and in_window(s["on_date"])]
    outcomes: dict[str, int] = {}
    for s in held:
        outcomes[s["outcome"] or NOT_SAID] = outcomes.get(s["outcome"] or NOT_SAID, 0) + 1
    return {
        "money_tutoring": {
            "sessions": len(held),
            "households_followed": len({s["household_id"] for s in held}),
            "outcomes": dict(sorted(outcomes.items())),
        }
    }
