"""What every LgNet service is made of, assembled once: configuration, logs, traces, PostgreSQL schema and
migrations, topics, the outbox relay, FastStream subscribers running the effectively-once consumers, and an HTTP
app with health, readiness and metrics. A service supplies a `ServiceSpec`; its entrypoint stays thin.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from aiokafka import AIOKafkaProducer
from fastapi import APIRouter, FastAPI, Response
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.message import StreamMessage
from faststream.middlewares import AckPolicy
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from lgnet_shared import auth, config, consumer, db, http, logs, outbox, pii
from lgnet_shared.consumer import Consumer, Handler, InvalidHook, VerifyHook
from lgnet_shared.deadletter import DeadLetters
from lgnet_shared.topics import ensure_topics, physical

log = logs.get_logger(__name__)


def all_migrations(own: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """The runtime's tables (outbox, inbox, keys, idempotency, actors), then the service's own: what a service
    applies at start, and what its tests apply to use its adapters without the process."""
    return [*outbox.MIGRATIONS, consumer.MIGRATION, pii.MIGRATION, http.MIGRATION, auth.MIGRATION, *own]


@dataclass
class ConsumerSpec:
    name: str  # consumer group suffix: the group is "<service>.<name>"
    topics: Sequence[str]  # logical topic names
    handlers: dict[str, Handler]
    on_invalid: InvalidHook | None = None
    verify: VerifyHook | None = None
    strict: bool = False


@dataclass
class ServiceSpec:
    name: str
    default_port: int
    migrations: Sequence[tuple[str, str]] = ()
    consumers: Callable[[Runtime], Sequence[ConsumerSpec]] = lambda _: ()
    routers: Callable[[Runtime], Sequence[APIRouter]] = lambda _: ()
    produces: Sequence[str] = ()  # logical topics this service writes to


@dataclass
class Runtime:
    spec: ServiceSpec
    settings: config.Settings
    pool: Any = None
    keys: pii.KeyStore | None = None
    relay: outbox.OutboxRelay | None = None
    broker: KafkaBroker | None = None
    producer: AIOKafkaProducer | None = None
    consumers: list[Consumer] = field(default_factory=list)
    consumers_started: bool = False
    consumers_error: str | None = None
    _consumers_task: asyncio.Task[None] | None = None

    @property
    def schema(self) -> str:
        return self.settings.db_schema or self.spec.name

    async def start(self) -> None:
        """Ready in well under 3 s after a crash (docs/operators.md, "Restart"): the independent steps run
        together (PostgreSQL: pool and migrations; Kafka: topics and the producer), and the consumers join their
        groups in the background — a group may wait for a crashed member's session to expire (6 s) before it
        assigns partitions, which HTTP need not wait for. Each step's duration is in the "service started" line."""
        s = self.settings
        began = time.monotonic()
        steps: dict[str, float] = {}

        async def timed(name: str, step: Awaitable[Any]) -> Any:
            t0 = time.monotonic()
            try:
                return await step
            finally:
                steps[name] = round(time.monotonic() - t0, 3)

        async def postgres() -> None:
            self.pool = await timed("pool", db.create_pool(s.database_url.get_secret_value(), self.schema))
            await timed("migrations", db.migrate(self.pool, all_migrations(self.spec.migrations)))

        async def kafka() -> None:
            self.producer = AIOKafkaProducer(bootstrap_servers=s.kafka_bootstrap_servers, enable_idempotence=True)
            await asyncio.gather(
                timed(
                    "topics", ensure_topics(s.kafka_bootstrap_servers, s.topic_prefix, replication=s.topic_replication)
                ),
                timed("producer", self.producer.start()),
            )

        await asyncio.gather(postgres(), kafka())
        self.keys = pii.KeyStore(s.master_key_bytes())
        self.relay = outbox.OutboxRelay(self.pool, s.kafka_bootstrap_servers, topic_prefix=s.topic_prefix)
        await timed("relay", self.relay.start())
        self.broker = KafkaBroker(
            s.kafka_bootstrap_servers,
            client_id=f"lgnet-{self.spec.name}",
            # FastStream's own lines go through our JSON logs; its per-batch received/processed lines are DEBUG.
            logger=logging.getLogger("lgnet.kafka"),
            log_level=logging.DEBUG,
        )
        for cspec in self.spec.consumers(self):
            self._subscribe(cspec)
        self._consumers_task = asyncio.create_task(self._start_consumers(), name="consumers-start")
        steps["total"] = round(time.monotonic() - began, 3)
        log.info("service started", schema=self.schema, city=s.city, start_seconds=steps)

    async def _start_consumers(self) -> None:
        """The consumers join their groups; retried while Kafka refuses (readiness says "joining" meanwhile)."""
        assert self.broker is not None
        t0 = time.monotonic()
        attempt = 0
        while True:
            try:
                await self.broker.start()
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                attempt += 1
                self.consumers_error = f"{type(exc).__name__}"
                log.warning("consumers could not start; retrying", error=repr(exc), attempt=attempt)
                with contextlib.suppress(Exception):
                    await self.broker.stop()
                await asyncio.sleep(min(5.0, 0.5 * 2**attempt))
        self.consumers_error = None
        self.consumers_started = True
        log.info("consumers joined their groups", seconds=round(time.monotonic() - t0, 3))

    def _subscribe(self, cspec: ConsumerSpec) -> None:
        assert self.broker is not None and self.producer is not None
        group = f"{self.spec.name}.{cspec.name}"
        cons = Consumer(
            name=group,
            pool=self.pool,
            handlers=cspec.handlers,
            city=self.settings.city_filter,
            on_invalid=cspec.on_invalid,
            verify=cspec.verify,
            strict=cspec.strict,
            dead_letters=DeadLetters(self.producer, group, self.settings.topic_prefix),
        )
        self.consumers.append(cons)

        # Batches: one PostgreSQL transaction per batch; offsets committed after it (NACK rewinds on error).
        @self.broker.subscriber(
            *[physical(t, self.settings.topic_prefix) for t in cspec.topics],
            group_id=group,
            batch=True,
            max_records=2000,
            # Under load, let the broker gather bigger batches (one transaction and commit each); when idle,
            # a record waits at most fetch_max_wait_ms.
            fetch_min_bytes=256 * 1024,
            fetch_max_wait_ms=50,
            auto_offset_reset="earliest",
            # A crashed member holds its partitions until its session expires: the broker's minimum (6 s, not
            # aiokafka's 10 s) brings a killed service's consumers back sooner.
            session_timeout_ms=6000,
            heartbeat_interval_ms=1500,
            isolation_level="read_committed",
            ack_policy=AckPolicy.NACK_ON_ERROR,
            decoder=_undecoded,
        )
        async def on_batch(message: KafkaMessage) -> None:
            raw = message.raw_message
            await cons.process(raw if isinstance(raw, tuple) else (raw,))

    async def stop(self) -> None:
        if self._consumers_task is not None and not self._consumers_task.done():
            self._consumers_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._consumers_task
        # The broker first: its consumers leave their groups (LeaveGroup), so a restarted replica is assigned
        # partitions at once instead of after the old member's session timeout.
        for closer in (
            self.broker.stop if self.broker else None,
            self.relay.stop if self.relay else None,
            self.producer.stop if self.producer else None,
            self.pool.close if self.pool else None,
        ):
            if closer is not None:
                with contextlib.suppress(Exception):
                    await closer()

    async def ready(self) -> dict[str, str]:
        checks: dict[str, str] = {}
        try:
            async with self.pool.acquire() as conn:
                await asyncio.wait_for(conn.fetchval("select 1"), 2)
            checks["postgres"] = "ok"
        except Exception as exc:
            checks["postgres"] = f"error: {type(exc).__name__}"
        try:
            assert self.producer is not None
            await asyncio.wait_for(self.producer.client.fetch_all_metadata(), 3)
            checks["kafka"] = "ok"
        except Exception as exc:
            checks["kafka"] = f"error: {type(exc).__name__}"
        checks["outbox_relay"] = "ok" if self.relay and self.relay.healthy else "error: not running"
        return checks

    def consumers_state(self) -> str:
        """Informational in /health/ready (not a readiness condition): "ok", "joining" or "retrying: <error>"."""
        if self.consumers_started:
            return "ok"
        return f"retrying: {self.consumers_error}" if self.consumers_error else "joining"


async def _undecoded(_: StreamMessage[Any]) -> None:
    """The consumer decodes records itself (naming the field at fault); FastStream's own per-record JSON
    decoding of every batch would be thrown away."""
    return None


def configure_tracing(service: str, exporter: str = "none") -> None:
    """Spans are recorded only when they go somewhere (recording and dropping a span per event would cost
    ~20-80 µs at backbone rates). Either way every event carries its `traceparent` onwards."""
    if exporter == "none" or isinstance(trace.get_tracer_provider(), TracerProvider):
        return
    # Imported only when spans go somewhere: the OTLP exporter alone is ~0.1-0.4 s of every start.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor

    # Sampling: the standard OTEL_TRACES_SAMPLER(_ARG); default parent-based always-on.
    provider = TracerProvider(resource=Resource.create({"service.name": f"lgnet-{service}"}))
    if exporter == "otlp":  # endpoint, headers, protocol: the standard OTEL_EXPORTER_OTLP_* variables
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    else:
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(provider)


def create_app(spec: ServiceSpec, settings: config.Settings) -> FastAPI:
    runtime = Runtime(spec, settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        app.state.runtime = runtime
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(title=f"LgNet {spec.name}", lifespan=lifespan, version="0.1.0")
    http.install_problem_handlers(app)
    health = APIRouter(tags=["operations"])

    @health.get("/health/live", summary="The process is up")
    async def live() -> dict[str, str]:
        return {"status": "ok", "service": spec.name}

    @health.get("/health/ready", summary="Dependencies answer: PostgreSQL, Kafka, the outbox relay")
    async def ready(response: Response) -> dict[str, Any]:
        checks = await runtime.ready()
        ok = all(v == "ok" for v in checks.values())
        response.status_code = 200 if ok else 503
        return {
            "status": "ok" if ok else "unavailable",
            "service": spec.name,
            "checks": checks,
            "consumers": runtime.consumers_state(),
        }

    @health.get("/metrics", summary="Prometheus metrics")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    app.include_router(health)
    for router in spec.routers(runtime):
        app.include_router(router)
    app.state.runtime = runtime
    app.state.spec = spec
    return app


def run(spec: ServiceSpec) -> None:
    """Console entry point of a service: validate config, then serve until stopped."""
    settings = config.load()
    logs.configure(spec.name, settings.log_level)
    configure_tracing(spec.name, settings.traces_exporter)
    app = create_app(spec, settings)
    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.http_port or spec.default_port,
        log_config=None,
        access_log=False,
    )
