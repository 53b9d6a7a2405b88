"""How long the desk waits for intake's person search, as a city grows: BENCH_PERSONS (default "500,2000") persons
registered in Torino (given and family names sealed with each person's key), then BENCH_QUERIES (default 30) of
each kind, timed through intake's HTTP app in-process on real PostgreSQL:

- a fuzzy name search by the city's staff (opens the sealed names of every person the caller may see),
- a search by a name's beginning ("dia": its first three letters, matched before any fuzzy match),
- a fiscal-code search (one keyed-hash lookup),
- the baseline: reading one person (`GET /persons/{id}`), measured in the same run.

    set -a; . .local/infra.env; set +a; .venv/bin/python bench/bench_desk_search.py
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import time
import uuid

from lgnet_intake.entrypoints.main import SPEC
from lgnet_shared.testing.inprocess import in_process
from lgnet_shared.testing.plugin import fresh_schema

GIVEN = ["Amina", "Bashir", "Chidi", "Fatima", "Ibrahim", "Joy", "Karim", "Leila", "Moussa", "Nadia", "Omar", "Rania"]
FAMILY = ["Okafor", "N'Diaye", "Diallo", "El Amrani", "Haile", "Mensah", "Traoré", "Benali", "Yusuf", "Kamara"]


async def timed(client: object, path: str, params: dict[str, str] | None, runs: int) -> float:
    laps = []
    for _ in range(runs):
        start = time.perf_counter()
        r = await client.get(path, params=params)  # type: ignore[attr-defined]
        laps.append(time.perf_counter() - start)
        assert r.status_code == 200, r.text
    return statistics.median(laps) * 1000


async def one(database_url: str, persons: int, queries: int) -> None:
    rng = random.Random(7)
    async with fresh_schema(database_url) as schema, in_process(SPEC, database_url, schema) as intake:
        async with intake.client("staff-torino") as c:
            first = ""
            for i in range(persons):
                pid = f"p-{uuid.uuid4()}"
                body = {
                    "person_id": pid,
                    "birth_date": f"19{rng.randrange(50, 99)}-0{rng.randrange(1, 9)}-1{rng.randrange(0, 9)}",
                    "sex": "female",
                    "nationality": "NG",
                    "identity": {"given_name": rng.choice(GIVEN), "family_name": f"{rng.choice(FAMILY)} {i}"},
                }
                r = await c.post("/persons", json=body, headers={"Idempotency-Key": pid})
                assert r.status_code == 201, r.text
                first = first or pid
            read = await timed(c, f"/persons/{first}", None, queries)
            fuzzy = await timed(c, "/persons", {"name": "amina okafr"}, queries)
            prefix = await timed(c, "/persons", {"name": "dia"}, queries)
            fiscal = await timed(c, "/persons", {"fiscal_code": "NDYLDE80A41Z330Z"}, queries)
        print(
            f"persons={persons:6d}  read one (baseline) {read:7.1f} ms  fiscal code {fiscal:7.1f} ms "
            f"({fiscal / read:4.1f}x)  fuzzy name {fuzzy:8.1f} ms ({fuzzy / read:6.1f}x)  name's beginning"
            f" {prefix:8.1f} ms ({prefix / read:6.1f}x)   medians of {queries}"
        )


async def main() -> None:
    url = os.environ["DATABASE_URL"]
    queries = int(os.environ.get("BENCH_QUERIES", 30))
    for n in [int(x) for x in os.environ.get("BENCH_PERSONS", "500,2000").split(",")]:
        await one(url, n, queries)


if __name__ == "__main__":
    asyncio.run(main())
