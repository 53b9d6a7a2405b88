"""Which days a daily job must run, from its ledger and the clock: pure rules, no I/O.

A job's day D is *due* once D's local run time (`at` in the city's time zone) has passed. Every (job, city, day)
has at most one ledger entry. The rules:

- a day recorded `done` (or `skipped`) is never run again;
- a day that failed (or was `running` when the process died) is retried, up to `max_attempts`, with the same
  Idempotency-Key, so a call whose answer was lost is replayed by the service rather than done twice;
- after downtime, the days missed since the last recorded day are caught up in order (`catch_up = "each"`),
  at most `max_catch_up_days` back (older ones are recorded `skipped`); a job whose missed days are worthless
  (`catch_up = "latest"`, e.g. appointment reminders for a day gone) runs only the latest and skips the rest;
- a job never run before starts with the latest due day: there is nothing to catch up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any, Literal
from zoneinfo import ZoneInfo

CatchUp = Literal["each", "latest"]


class Status(StrEnum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Job:
    """A staff HTTP route called once a day per city. `body` values may hold `{city}` and `{day}` (ISO date of
    the run's day plus `day_offset`, e.g. 1 for "tomorrow's appointments")."""

    name: str
    service: str
    path: str
    body: Mapping[str, Any] = field(default_factory=dict)
    catch_up: CatchUp = "each"
    day_offset: int = 0
    method: str = "POST"

    def request_body(self, city: str, day: date) -> dict[str, Any]:
        target = (day + timedelta(days=self.day_offset)).isoformat()
        return {k: _fill(v, city, target) for k, v in self.body.items()}

    def idempotency_key(self, city: str, day: date) -> str:
        """The same for every attempt of one (job, city, day): a retry is replayed, never done again."""
        return f"lgnet-scheduler:{self.name}:{city}:{day.isoformat()}"


def _fill(value: Any, city: str, day: str) -> Any:
    return value.replace("{city}", city).replace("{day}", day) if isinstance(value, str) else value


@dataclass(frozen=True)
class Entry:
    status: Status
    attempts: int


@dataclass(frozen=True)
class Step:
    day: date
    action: Literal["run", "skip"]
    reason: str


def latest_due_day(now: datetime, at: time, tz: ZoneInfo) -> date:
    """The latest local day whose run time has passed at `now` (an aware datetime)."""
    local = now.astimezone(tz)
    return local.date() if local.time() >= at else local.date() - timedelta(days=1)


def plan(
    job: Job,
    latest: date,
    ledger: Mapping[date, Entry],
    *,
    max_catch_up_days: int = 7,
    max_attempts: int = 5,
) -> list[Step]:
    """The steps to take now, oldest day first. `ledger`: the job's entries for the city (any age)."""
    window_start = latest - timedelta(days=max_catch_up_days - 1)
    recorded = [d for d in ledger if d <= latest]
    if not recorded:
        return [Step(latest, "run", "first run")]
    steps: list[Step] = []
    day = min(max(recorded) + timedelta(days=1), window_start)
    while day <= latest:
        entry = ledger.get(day)
        if entry is None:
            if day > max(recorded):
                steps.append(_new_day(job, day, latest, window_start))
        elif _retry(job, entry, day, latest, window_start, max_attempts):
            steps.append(Step(day, "run", f"retry after {entry.attempts} attempt(s)"))
        day += timedelta(days=1)
    return steps


def _new_day(job: Job, day: date, latest: date, window_start: date) -> Step:
    if day < window_start:
        return Step(day, "skip", "older than the catch-up window")
    if day < latest and job.catch_up == "latest":
        return Step(day, "skip", "missed; only the latest day is worth running")
    return Step(day, "run", "due" if day == latest else "catch-up")


def _retry(job: Job, entry: Entry, day: date, latest: date, window_start: date, max_attempts: int) -> bool:
    """A failed (or interrupted) day inside the window, not given up on, and still worth running."""
    unfinished = entry.status in (Status.FAILED, Status.RUNNING)
    worth = job.catch_up == "each" or day == latest
    return unfinished and window_start <= day and entry.attempts < max_attempts and worth
