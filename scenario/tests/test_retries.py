"""The scenario's partners retry as a partner's system should: a service restarting under them (connection
refused, a connection dropped mid-request, 503) delays a step, it does not end the scenario; every attempt of a
step carries the same Idempotency-Key."""

from __future__ import annotations

import asyncio

from lgnet_scenario.housing_steps import call
from lgnet_scenario.platform import Actors, Endpoints, Platform
from lgnet_shared.testing.flaky import FlakyServer
from lgnet_shared.testing.process import free_port


async def test_a_step_survives_a_restarting_service() -> None:
    port = free_port()
    ep = Endpoints(kafka="", database_url="", urls={"housing": f"http://127.0.0.1:{port}"}, schemas={})
    platform = Platform(ep, Actors(tokens={("housing", "coop-aurora"): "tok"}))
    server = FlakyServer(drops=2, unavailable=1)
    try:
        step = asyncio.create_task(call(platform.http("housing", "coop-aurora"), "POST", "/matches/m/acceptance", {}))
        await asyncio.sleep(0.5)  # the service is still down: connection refused meanwhile
        await server.start(port)
        answer = await asyncio.wait_for(step, 60)
    finally:
        await platform.close()
        if server.server is not None:
            await server.stop()
    assert answer == {"key": server.keys[0]}
    assert len(server.keys) == 4 and len(set(server.keys)) == 1
