"""What every LgNet service is made of, assembled once: configuration, logs, traces, PostgreSQL schema and
migrations, topics, the outbox relay, FastStream subscribers running the effectively-once consumers, and an HTTP
app with health, readiness and metrics. A service supplies a `ServiceSpec`; its entrypoint stays thin.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
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
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor
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

    @property
    def schema(self) -> str:
        return self.settings.db_schema or self.spec.name

    async def start(self) -> None:
        s = self.settings
        self.pool = await db.create_pool(s.database_url.get_secret_value(), self.schema)
        await db.migrate(self.pool, all_migrations(self.spec.migrations))
        await ensure_topics(s.kafka_bootstrap_servers, s.topic_prefix, replication=s.topic_replication)
        self.keys = pii.KeyStore(s.master_key_bytes())
        self.producer = AIOKafkaProducer(bootstrap_servers=s.kafka_bootstrap_servers, enable_idempotence=True)
        await self.producer.start()
        self.relay = outbox.OutboxRelay(self.pool, s.kafka_bootstrap_servers, topic_prefix=s.topic_prefix)
        await self.relay.start()
        self.broker = KafkaBroker(
            s.kafka_bootstrap_servers,
            client_id=f"lgnet-{self.spec.name}",
            # FastStream's own lines go through our JSON logs; its per-batch received/processed lines are DEBUG.
            logger=logging.getLogger("lgnet.kafka"),
            log_level=logging.DEBUG,
        )
        for cspec in self.spec.consumers(self):
            self._subscribe(cspec)
        await self.broker.start()
        log.info("service started", schema=self.schema, city=s.city)

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
            isolation_level="read_committed",
            ack_policy=AckPolicy.NACK_ON_ERROR,
            decoder=_undecoded,
        )
        async def on_batch(message: KafkaMessage) -> None:
            raw = message.raw_message
            await cons.process(raw if isinstance(raw, tuple) else (raw,))

    async def stop(self) -> None:
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


async def _undecoded(_: StreamMessage[Any]) -> None:
    """The consumer decodes records itself (naming the field at fault); FastStream's own per-record JSON
    decoding of every batch would be thrown away."""
    return None


def configure_tracing(service: str, exporter: str = "none") -> None:
    """Spans are recorded only when they go somewhere (recording and dropping a span per event would cost
    ~20-80 µs at backbone rates). Either way every event carries its `traceparent` onwards."""
    if exporter == "none" or isinstance(trace.get_tracer_provider(), TracerProvider):
        return
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

    @health.get(
        "/health/ready",
        summary="Dependencies answer: PostgreSQL, Kafka, the outbox relay",
        responses={503: {"description": "A dependency does not answer: the failing check is named in `checks`"}},
    )
    async def ready(response: Response) -> dict[str, Any]:
        checks = await runtime.ready()
        ok = all(v == "ok" for v in checks.values())
        response.status_code = 200 if ok else 503
        return {"status": "ok" if ok else "unavailable", "service": spec.name, "checks": checks}

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
