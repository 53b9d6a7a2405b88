"""One tick of the scheduler: take the lock, and for every job and city run the steps the rules plan, recording
each attempt in the ledger before the call and its outcome after."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from lgnet_shared import logs, tls
from lgnet_shared.db import Pool
from lgnet_shared.scheduler import ledger
from lgnet_shared.scheduler.metrics import record_outcome
from lgnet_shared.scheduler.rules import Job, Status, latest_due_day, plan

log = logs.get_logger("lgnet.scheduler")


@dataclass
class Scheduler:
    pool: Pool
    jobs: Sequence[Job]
    cities: Sequence[str]
    urls: Mapping[str, str]  # service -> base URL
    tokens: Mapping[str, Mapping[str, str]]  # service -> city -> a staff token of that city
    at: time
    tz: ZoneInfo
    max_catch_up_days: int = 7
    max_attempts: int = 5
    http_timeout_s: float = 60.0
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    transport: httpx.AsyncBaseTransport | None = None  # tests only

    async def tick(self) -> dict[str, Any]:
        """Run what is due. Answers what was done, or {"leader": False} when another replica holds the lock."""
        latest = latest_due_day(self.clock(), self.at, self.tz)
        done: list[dict[str, Any]] = []
        async with self.pool.acquire() as lock_conn:
            if not await ledger.try_lock(lock_conn):
                return {"leader": False, "runs": done}
            try:
                for job in self.jobs:
                    for city in self.cities:
                        done += await self._job_for_city(job, city, latest)
            finally:
                await ledger.unlock(lock_conn)
        return {"leader": True, "day": latest.isoformat(), "runs": done}

    async def _job_for_city(self, job: Job, city: str, latest: date) -> list[dict[str, Any]]:
        async with self.pool.acquire() as conn:
            entries = await ledger.entries(conn, job.name, city)
        out = []
        for step in plan(
            job, latest, entries, max_catch_up_days=self.max_catch_up_days, max_attempts=self.max_attempts
        ):
            if step.action == "skip":
                async with self.pool.acquire() as conn:
                    await ledger.finish(conn, job.name, city, step.day, Status.SKIPPED, step.reason)
                record_outcome(job.name, city, "skipped")
                out.append({"job": job.name, "city": city, "day": step.day.isoformat(), "status": "skipped"})
                continue
            status = await self._call(job, city, step.day)
            if status is None:
                continue  # done meanwhile: never run a day twice
            out.append({"job": job.name, "city": city, "day": step.day.isoformat(), "status": status.value})
        return out

    async def _call(self, job: Job, city: str, day: date) -> Status | None:
        async with self.pool.acquire() as conn:
            if not await ledger.start(conn, job.name, city, day):
                return None
        token = self.tokens.get(job.service, {}).get(city)
        try:
            if token is None:
                raise LookupError(f"no staff token of {city} for {job.service} (LGNET_SCHEDULER_TOKENS)")
            async with httpx.AsyncClient(
                base_url=self.urls[job.service],
                timeout=self.http_timeout_s,
                transport=self.transport,
                verify=tls.http_verify(),
            ) as client:
                r = await client.request(
                    job.method,
                    job.path,
                    json=job.request_body(city, day),
                    headers={"Authorization": f"Bearer {token}", "Idempotency-Key": job.idempotency_key(city, day)},
                )
            status = Status.DONE if r.is_success else Status.FAILED
            detail = f"HTTP {r.status_code} {summary(r)}"
        except (httpx.HTTPError, LookupError, KeyError) as e:
            status, detail = Status.FAILED, f"{type(e).__name__}: {e}"
        async with self.pool.acquire() as conn:
            await ledger.finish(conn, job.name, city, day, status, detail)
        record_outcome(job.name, city, "ok" if status is Status.DONE else "failed")
        said = log.info if status is Status.DONE else log.warning  # a failed day is for the operator to see
        said("scheduled job", job=job.name, city=city, day=day.isoformat(), status=status.value, detail=detail)
        return status


def summary(r: httpx.Response) -> str:
    """What the answer says, without personal data: counts of the lists a success returns (e.g. stalled: 2), the
    field and reason of a problem+json."""
    try:
        body = r.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return f"{len(body)} item(s)" if isinstance(body, list) else ""
    if not r.is_success:
        return f"{body.get('field', '')}: {body.get('reason', body.get('detail', ''))}"
    return ", ".join(f"{k}: {len(v)}" for k, v in body.items() if isinstance(v, list))
