"""Run the scheduler locally next to the services: start | stop | status (the Makefile's `up`, `down`, `status`).

`start` provisions, once, a staff actor `scheduler-<city>` and its API token in the schema of each of intake, housing
and payments that runs (`services.py start intake housing`: a city without payments) for each city the scheduler
serves (LGNET_SCHEDULER_CITIES, default LGNET_CITY for a city's deployment, else the scenario's: torino,trieste),
keeps the tokens in .local/scheduler-tokens.json (mode 600), hands the scheduler those of the running services only
(.local/scheduler-tokens.running.json: a service given no token is not called; one started later is given its token
when the scheduler is started again), and starts `.venv/bin/lgnet-scheduler` on LGNET_SCHEDULER_PORT (default 8006).
The daily run is at LGNET_SCHEDULER_AT (06:00) Europe/Rome unless LGNET_SCHEDULER_AT / LGNET_SCHEDULER_TZ say
otherwise; on start it catches up what is due (docs/operators.md)."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

from background import LOCAL, ROOT, Background, command_line, pid_of

from services import port

SERVICES = ("intake", "housing", "payments")
TOKENS = LOCAL / "scheduler-tokens.json"
RUNNING_TOKENS = LOCAL / "scheduler-tokens.running.json"  # what the scheduler is given: the running services' tokens


def scheduler_port() -> int:
    return int(os.environ.get("LGNET_SCHEDULER_PORT", 8006))


SCHEDULER = Background("scheduler", scheduler_port())


def cities() -> list[str]:
    """LGNET_SCHEDULER_CITIES, else the city a city's deployment serves (LGNET_CITY), else the scenario's two: a
    Trieste deployment's schemas refuse another city's actor (it ended on that refusal's traceback)."""
    city = os.environ.get("LGNET_CITY", "national")
    default = "torino,trieste" if city == "national" else city
    return [c.strip() for c in os.environ.get("LGNET_SCHEDULER_CITIES", default).split(",") if c.strip()]


def env() -> dict[str, str]:
    return {
        **os.environ,
        "LGNET_DB_SCHEMA": "scheduler",
        "LGNET_HTTP_PORT": str(scheduler_port()),
        "LGNET_SCHEDULER_CITIES": ",".join(cities()),
        "LGNET_SCHEDULER_TOKENS_FILE": str(RUNNING_TOKENS),
        **{f"LGNET_{s.upper()}_URL": f"http://127.0.0.1:{port(s)}" for s in (*SERVICES, "reporting")},
    }


def running() -> list[str]:
    """The services with a daily job that run here: a city may run only some (a service that does not run has no
    schema to hold the scheduler's actor, and nothing to answer its calls)."""
    return [s for s in SERVICES if pid_of(s)]


def provision(services: list[str]) -> None:
    """A staff token per service and city, created the first time (lgnet-admin's own code); the scheduler is given
    those of `services`."""
    known: dict[str, dict[str, str]] = json.loads(TOKENS.read_text()) if TOKENS.exists() else {}
    missing = [(s, c) for s in services for c in cities() if c not in known.get(s, {})]
    if missing:
        _issue(known, missing)
        _write(TOKENS, known)
    _write(RUNNING_TOKENS, {s: known[s] for s in services if s in known})


def _issue(known: dict[str, dict[str, str]], missing: list[tuple[str, str]]) -> None:
    from lgnet_shared import actors, db
    from lgnet_shared.access import Role

    async def add() -> None:
        for service, city in missing:
            pool = await db.create_pool(os.environ["DATABASE_URL"], service, max_size=1)
            try:
                async with pool.acquire() as conn:
                    actor = f"scheduler-{city}"
                    if not await conn.fetchval("select exists (select 1 from actors where actor_id = $1)", actor):
                        await actors.add_actor(conn, actor, Role.STAFF, city, f"LgNet scheduler ({city})")
                    known.setdefault(service, {})[city] = await actors.issue_token(conn, actor)
            finally:
                await pool.close()

    asyncio.run(add())


def _write(path: Path, tokens: dict[str, dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(tokens, f)


def start() -> int:
    if not os.environ.get("DATABASE_URL"):
        print("[scheduler] DATABASE_URL is not set: run `make up`")
        return 2
    services = running()
    if not services:
        print(f"[scheduler] none of {', '.join(SERVICES)} runs: no daily job to call (start the services first)")
    provision(services)
    if not SCHEDULER.start([str(ROOT / ".venv" / "bin" / "lgnet-scheduler")], env()):
        return 1
    at, tz = os.environ.get("LGNET_SCHEDULER_AT", "06:00"), os.environ.get("LGNET_SCHEDULER_TZ", "Europe/Rome")
    print(f"[scheduler] daily jobs for {', '.join(cities())} at {at} {tz}: {SCHEDULER.url}/runs")
    return 0


def stop() -> int:
    SCHEDULER.stop()
    return 0


def status() -> int:
    print(SCHEDULER.status_line("runs /runs  "))
    return 0


if __name__ == "__main__":
    command_line(__doc__, start=start, stop=stop, status=status)
