"""Fewer and cheaper connections to the brokers, for every aiokafka client of the process.

A connection to the secured broker is a TLS handshake and a SCRAM-SHA-512 exchange: ≈ 15 ms of the client's CPU and
≈ 13 ms of the broker's (`bench/bench_connections.py`). Two habits of aiokafka (0.14, pinned in uv.lock) multiplied
them — a service's start opened 14 to 17:

- **The bootstrap connection was thrown away.** A client connects to a bootstrap address, asks for the cluster's
  brokers, closes that connection and opens a new one to the broker it has just left. `bootstrap` below keeps it as
  the connection to that broker when the broker advertises the very address bootstrapped from; otherwise (a load
  balancer's name, say) it is closed as before.
- **The salted password was derived for every connection.** SCRAM's `SaltedPassword` is PBKDF2 over the password,
  with the salt and iteration count the broker keeps for the user (4,096 iterations of HMAC-SHA-512: 6.4 ms). RFC 5802
  §5.1 lets a client cache it for the same salt and iteration count; it is kept per (hash, password, salt,
  iterations), so a changed password or a re-salted credential is derived afresh, and the broker still checks the
  proof of every exchange, and the client the broker's signature.
- **A stop waited for the broker's held fetch.** Closing a TLS connection waits for the broker's close_notify, and
  the broker reads a connection's next bytes only once it has answered the request in flight — for an idle
  consumer, a fetch it holds for up to `fetch_max_wait_ms`. `close` below gives the connections `CLOSE_WAIT_S` to
  close cleanly, then drops the ones still waiting: by then the client has had every request it cares about
  answered (a consumer's offsets and its leave of the group, a producer's records); only the held fetch is lost.

`install()` is idempotent; `KafkaSecurity.aiokafka` (behind `kafka.client_kwargs` and the partner SDK) and
`KafkaSecurity.faststream`, which every LgNet client goes through, call it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
from collections.abc import Iterable
from typing import Any

import aiokafka
from aiokafka.client import AIOKafkaClient, ConnectionGroup
from aiokafka.conn import CloseReason, ScramAuthenticator, create_conn
from aiokafka.errors import KafkaConnectionError, KafkaError
from aiokafka.protocol.metadata import MetadataRequest
from aiokafka.structs import BrokerMetadata
from aiokafka.util import create_task

log = logging.getLogger("aiokafka.client")  # where aiokafka's own bootstrap says what failed
_installed = False


def advertised_node(brokers: Iterable[BrokerMetadata], host: str, port: int) -> int | None:
    """The broker that advertises exactly this address, if one does."""
    return next((b.nodeId for b in brokers if (b.host, b.port) == (host, port)), None)


@functools.lru_cache(maxsize=64)
def _salted_password(hash_name: str, password: bytes, salt: bytes, iterations: int) -> bytes:
    return hashlib.pbkdf2_hmac(hash_name, password, salt, iterations)


def _create_salted_password(self: Any, salt: bytes, iterations: int) -> None:
    self._salted_password = _salted_password(self._hashname, self._sasl_plain_password, salt, iterations)


async def _bootstrap(self: Any) -> None:
    """aiokafka's `AIOKafkaClient.bootstrap`, keeping the connection for the broker it reached. When no address
    answers, the last one's failure is the error's cause (a login the broker refused is not an unreachable broker:
    a command can say which)."""
    failure: BaseException | None = None
    for host, port, _ in self.hosts:
        try:
            conn = await create_conn(
                host,
                port,
                client_id=self._client_id,
                request_timeout_ms=self._request_timeout_ms,
                ssl_context=self._ssl_context,
                security_protocol=self._security_protocol,
                on_close=self._on_connection_closed,
                max_idle_ms=self._connections_max_idle_ms,
                sasl_mechanism=self._sasl_mechanism,
                sasl_plain_username=self._sasl_plain_username,
                sasl_plain_password=self._sasl_plain_password,
                sasl_kerberos_service_name=self._sasl_kerberos_service_name,
                sasl_kerberos_domain_name=self._sasl_kerberos_domain_name,
                sasl_oauth_token_provider=self._sasl_oauth_token_provider,
            )
        except (OSError, KafkaError, TimeoutError) as err:
            log.error('Unable connect to "%s:%s": %s', host, port, err)
            failure = err
            continue
        try:
            metadata = await conn.send(MetadataRequest([]))
        except (KafkaError, TimeoutError) as err:
            log.warning('Unable to request metadata from "%s:%s": %s', host, port, err)
            conn.close()
            failure = err
            continue
        self.cluster.update_metadata(metadata)
        brokers = self.cluster.brokers()
        node = advertised_node(brokers, host, port)
        if not brokers:  # a cluster with no topics may list no brokers yet: aiokafka keeps this one to ask again
            self._conns[("bootstrap", ConnectionGroup.DEFAULT)] = conn
        elif node is not None and (node, ConnectionGroup.DEFAULT) not in self._conns:
            self._conns[(node, ConnectionGroup.DEFAULT)] = conn
        else:
            conn.close()
        break
    else:
        raise KafkaConnectionError(f"Unable to bootstrap from {self.hosts}") from failure
    if self._sync_task is None:
        self._sync_task = create_task(self._md_synchronizer())


# How long a client's connections may take to close cleanly at its stop before they are dropped.
CLOSE_WAIT_S = 0.1


async def _close(self: Any) -> None:
    """aiokafka's `AIOKafkaClient.close`, dropping the connections that do not close within `CLOSE_WAIT_S`."""
    if self._sync_task:
        self._sync_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._sync_task
        self._sync_task = None
    conns = list(self._conns.values())
    transports = [conn._writer.transport if conn._writer is not None else None for conn in conns]
    closing = [asyncio.ensure_future(conn.close(reason=CloseReason.SHUTDOWN)) for conn in conns]
    if not closing:
        return
    _, late = await asyncio.wait(closing, timeout=CLOSE_WAIT_S)
    for transport, fut in zip(transports, closing, strict=True):
        if fut in late and transport is not None:
            transport.abort()  # the socket goes now; the connection's end is reported on the next turn of the loop
    if late:
        await asyncio.wait(late, timeout=1)


def install() -> None:
    global _installed
    if not _installed:
        # `_bootstrap` and `_close` are aiokafka 0.14's own, each changed in one place: another version keeps its own
        # (shared/tests/test_kafka_connections.py then fails on the connections it counts).
        if aiokafka.__version__.startswith("0.14."):
            AIOKafkaClient.bootstrap = _bootstrap
            AIOKafkaClient.close = _close
        ScramAuthenticator.create_salted_password = _create_salted_password
        _installed = True
