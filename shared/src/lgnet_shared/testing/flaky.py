"""An HTTP server that fails the way a crashing service does, for clients' retry tests."""

from __future__ import annotations

import asyncio
import json


class FlakyServer:
    """Drops the first `drops` connections after reading the request, then sends only the head of its answer
    (status and headers, no body) `truncated` times, then answers 503 `unavailable` times, then 200 with the
    Idempotency-Key it saw."""

    def __init__(self, drops: int, unavailable: int = 0, truncated: int = 0) -> None:
        self.drops, self.unavailable, self.truncated = drops, unavailable, truncated
        self.keys: list[str | None] = []
        self.server: asyncio.Server | None = None

    async def start(self, port: int) -> None:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", port)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        headers = dict(line.split(": ", 1) for line in head.split("\r\n")[1:] if ": " in line)
        headers = {k.lower(): v for k, v in headers.items()}
        await reader.readexactly(int(headers.get("content-length", 0)))
        self.keys.append(headers.get("idempotency-key"))
        if len(self.keys) <= self.drops:
            writer.transport.abort()  # killed mid-request: no answer at all
            return
        cut = len(self.keys) <= self.drops + self.truncated
        unavailable = not cut and len(self.keys) <= self.drops + self.truncated + self.unavailable
        status = "503 Service Unavailable" if unavailable else "200 OK"
        body = json.dumps({"key": headers.get("idempotency-key")}).encode()
        writer.write(
            f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
            "connection: close\r\n\r\n".encode()
        )
        await writer.drain()
        if cut:
            writer.transport.abort()  # killed between the head of its answer and the body
            return
        writer.write(body)
        await writer.drain()
        writer.close()

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()
