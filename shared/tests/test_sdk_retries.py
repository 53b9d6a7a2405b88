"""The SDK's HTTP client retries like a partner's system should: a service that is down (connection refused),
then drops the connection of the first attempts without answering (a crash mid-request), then answers 503,
finally answers — and every attempt carried the same Idempotency-Key."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from lgnet_shared.sdk import RetryingTransport, http_client
from lgnet_shared.testing.flaky import FlakyServer
from lgnet_shared.testing.process import free_port


async def test_down_then_dropping_then_unavailable_then_answering() -> None:
    port = free_port()
    server = FlakyServer(drops=2, unavailable=1)
    async with http_client(f"http://127.0.0.1:{port}", "tok", base=0.05, cap=0.2, attempts=30) as api:
        call = asyncio.create_task(api.post("/matches/m-1/acceptance", json={}))
        await asyncio.sleep(0.4)  # refused meanwhile: nothing listens yet
        await server.start(port)
        try:
            answer = await asyncio.wait_for(call, 20)
        finally:
            await server.stop()
    assert answer.status_code == 200
    assert len(server.keys) == 4  # two dropped, one 503, the answer
    assert len(set(server.keys)) == 1 and server.keys[0], server.keys  # the same key on every attempt
    assert answer.json()["key"] == server.keys[0]


async def test_the_callers_key_is_kept_and_attempts_are_bounded() -> None:
    port = free_port()
    server = FlakyServer(drops=100)
    await server.start(port)
    try:
        transport = RetryingTransport(attempts=3, base=0.01, cap=0.02)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", transport=transport) as api:
            with pytest.raises(httpx.TransportError):
                await api.post("/persons", json={"person_id": "p-1"}, headers={"Idempotency-Key": "mine"})
    finally:
        await server.stop()
    assert server.keys == ["mine"] * 3
