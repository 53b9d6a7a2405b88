"""The street-outreach year is the same for the same seed, however the services' answers interleave: its mobile
units play side by side, and each draws from its own random sequence (one shared sequence made Torino's contacts
depend on which unit's call came back first: 1,053 contacts in one `make up`, 1,023 in the next)."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import httpx
from lgnet_scenario import outreach_steps


class AnsweringPlatform:
    """Stands in for the services: every call succeeds after a random short delay, which reorders the units'
    calls from one play to the next."""

    def __init__(self, delays: random.Random) -> None:
        self.delays = delays

    def http(self, service: str, actor: str) -> httpx.AsyncClient:
        async def answer(request: httpx.Request) -> httpx.Response:
            await asyncio.sleep(self.delays.random() / 2000)
            if request.url.path == "/appointments/reminders":
                return httpx.Response(200, json={"emitted": ["r1", "r2"]})
            return httpx.Response(201, json=json.loads(request.content or b"{}"))

        return httpx.AsyncClient(transport=httpx.MockTransport(answer), base_url=f"http://{service}")


async def year(delays_seed: int) -> Any:
    platform: Any = AnsweringPlatform(random.Random(delays_seed))
    return await outreach_steps.play(platform, "torino", ("coop-aurora", "coop-borgo"), persons=41, seed=2026)


async def test_the_outreach_year_does_not_depend_on_the_order_answers_come_back() -> None:
    first, second = await year(1), await year(2)
    assert first.contacts > 0 and first.taken_in_charge > 0
    assert first == second
