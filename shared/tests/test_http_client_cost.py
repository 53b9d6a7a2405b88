"""An HTTP call through httpx (the SDK's client, the desk's, the scenario's) searches for no module.

httpcore asks `import sniffio` each time it makes a lock, an event or a semaphore — several times per request. With
sniffio missing (httpx ≥ 0.28 no longer brings it), each ask is an import that fails after searching every folder
of `sys.path`: ≈ 190 µs of CPU each, a quarter of the scenario driver's CPU (docs/benchmarks.md, twelfth pass).
lgnet-shared depends on sniffio so that the answer is found once and kept."""

from __future__ import annotations

import asyncio
import ssl
import sys
from collections.abc import Sequence
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any

import httpx
import pytest
from lgnet_shared.testing import HTTP_TIMEOUT_S


class Asked(MetaPathFinder):
    """Records every module Python searches for (it asks the finders only for modules not imported yet)."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        self.names.append(fullname)
        return None


async def test_requests_through_httpx_search_for_no_module() -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.readuntil(b"\r\n\r\n"):
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}")
            await writer.drain()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    asked = Asked()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=HTTP_TIMEOUT_S) as client:
            assert (await client.get("/warm-up")).status_code == 200  # what a first request imports, imported
            sys.meta_path.insert(0, asked)
            try:
                for _ in range(20):
                    assert (await client.get("/x")).json() == {}
            finally:
                sys.meta_path.remove(asked)
    finally:
        server.close()
    assert asked.names == [], f"modules searched for on every request: {sorted(set(asked.names))}"


def test_lgnet_http_clients_load_the_ca_bundle_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """httpx loads the CA bundle (≈ 30 ms of CPU) for every client or transport made without a context: the
    scheduler made one per job, the SDK one per client, the tests one per service start."""
    from lgnet_shared import sdk, tls

    tls.http_verify()  # this process's one load
    loads: list[object] = []
    load = ssl.SSLContext.load_verify_locations

    def counted(self: ssl.SSLContext, *args: Any, **kwargs: Any) -> None:
        loads.append(args)
        load(self, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", counted)
    clients = [sdk.http_client("https://intake.example", "token") for _ in range(3)]
    clients += [httpx.AsyncClient(verify=tls.http_verify(), timeout=HTTP_TIMEOUT_S) for _ in range(3)]
    assert loads == []
    assert tls.http_verify().verify_mode is ssl.CERT_REQUIRED and tls.http_verify().check_hostname
