"""The SDK's HTTP client retries like a partner's system should: a service that is down (connection refused),
then drops the connection of the first attempts without answering (a crash mid-request), then answers 503,
finally answers — and every attempt carried the same Idempotency-Key. An answer cut off between its head and its
body is asked for again too."""

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


async def test_an_answer_cut_off_after_its_head_is_asked_again() -> None:
    """A service killed after sending the status line and headers, before the body: the client gets
    RemoteProtocolError while reading the body, and must try again (same key) as for a refused connection."""
    port = free_port()
    server = FlakyServer(drops=0, truncated=2)
    await server.start(port)
    try:
        async with http_client(f"http://127.0.0.1:{port}", "tok", base=0.01, cap=0.02, attempts=10) as api:
            answer = await asyncio.wait_for(api.post("/contribution-requests", json={}), 20)
    finally:
        await server.stop()
    assert answer.status_code == 200
    assert len(server.keys) == 3 and len(set(server.keys)) == 1, server.keys  # two cut off, then the answer
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


async def test_emit_sends_the_same_event_again_after_a_connection_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import date

    from aiokafka.errors import KafkaConnectionError
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from lgnet_shared import sdk
    from lgnet_shared.events.partner import EmploymentReported

    sent: list[tuple[str, bytes]] = []

    class Flaky:
        async def send_and_wait(self, topic: str, value: bytes, **_: object) -> None:
            sent.append((topic, value))
            if len(sent) < 3:
                raise KafkaConnectionError("broker restarting")

    monkeypatch.setattr(sdk, "backoff", lambda attempt: 0.0)
    client = sdk.PartnerClient(
        "unused:9092",
        partner="coop-aurora",
        city="torino",
        signing_key=Ed25519PrivateKey.generate(),
        signing_key_id="coop-aurora-2026",
    )
    client._producer = Flaky()
    env = await client.emit(EmploymentReported(person_id="p-1", status="training", as_of=date(2026, 3, 1)))
    assert len(sent) == 3 and len({value for _, value in sent}) == 1  # the same record, so the same event id
    assert env.id.encode() in sent[0][1]
