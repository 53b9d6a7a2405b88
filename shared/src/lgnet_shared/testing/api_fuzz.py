"""Property-based fuzzing of a service's HTTP API from its own OpenAPI document (schemathesis), in-process (ASGI)
against the real app on real PostgreSQL, bounded in examples and time.

Every documented operation gets valid and invalid requests (`positive` and `negative` generation, NUL characters
allowed) as a staff member and as a partner of the city; every answer must be no 5xx, a status code and content
type the OpenAPI documents, a body conforming to the documented schema, and — for every 4xx — problem+json naming
the field and the reason (`problem_json`). Failures are collected per operation and reported together."""

from __future__ import annotations

import os
import secrets
import time
import traceback
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.core.result import Ok
from schemathesis.python import asgi
from schemathesis.specs.openapi._hypothesis import _draw_negated_locations
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from lgnet_shared import auth, db, pii
from lgnet_shared.service import ServiceSpec, all_migrations, create_app
from lgnet_shared.testing import schema_pool
from lgnet_shared.testing.inprocess import ACTORS, InProcessService, settings_for

PROBLEM = "application/problem+json"
Seed = Callable[[InProcessService], Awaitable[dict[str, str]]]
"""Makes objects (as the service's own users would) and answers the ids to put in path parameters by name: with
them the fuzzed requests reach the handlers' logic, not only the 404 of an unknown id."""


def problem_json(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every 4xx is problem+json with the field (maybe '' for the whole request) and the reason."""
    if not 400 <= response.status_code < 500:
        return None
    headers = {k.lower(): v for k, v in response.headers.items()}
    content_type = headers.get("content-type", [""])
    content_type = content_type[0] if isinstance(content_type, list) else content_type
    assert content_type.startswith(PROBLEM), f"{response.status_code} answered {content_type!r}, not {PROBLEM}"
    body = response.json()
    assert isinstance(body, dict), f"problem body is not an object: {body!r}"
    for key in ("type", "title", "status", "detail", "field", "reason"):
        assert key in body, f"problem body without {key!r}: {body}"
    assert body["status"] == response.status_code, body
    if response.status_code == 422:
        assert body["field"], f"a 422 must name the field: {body}"
    return True


class OutOfTime(Exception):
    pass


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@dataclass
class FuzzOutcome:
    requests: int = 0
    operations: int = 0
    failures: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    runs: int = 0
    skipped: int = 0  # runs (operation, mode, caller) left out when the time budget was spent
    not_negatable: int = 0  # negative runs not made: the operation has no value that can be made invalid

    def report(self, service: str) -> str:
        return (
            f"{service}: {self.requests} fuzzed requests over {self.operations} operations "
            f"({self.runs - self.skipped} of {self.runs} runs; {self.not_negatable} operations with nothing to "
            f"make invalid) in {self.seconds:.0f} s, {len(self.failures)} failing"
        )


def fuzz_app(
    spec: ServiceSpec, database_url: str, seed: Seed | None = None, known: dict[str, str] | None = None
) -> tuple[FastAPI, dict[str, str]]:
    """The service's app, whose lifespan (run by schemathesis' ASGI client in its own event loop) makes a fresh
    schema, migrates it, provisions the actors with the returned tokens, and drops the schema at the end."""
    schema = f"fz_{uuid.uuid4().hex[:12]}"
    app = create_app(spec, settings_for(database_url, schema))
    runtime = app.state.runtime
    tokens = {actor_id: auth.TOKEN_PREFIX + secrets.token_urlsafe(32) for actor_id, _, _ in ACTORS}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute(f'create schema "{schema}"')
        finally:
            await conn.close()
        runtime.pool = await db.create_pool(database_url, schema)
        try:
            await db.migrate(runtime.pool, all_migrations(spec.migrations))
            runtime.keys = pii.KeyStore(runtime.settings.master_key_bytes())
            async with runtime.pool.acquire() as c:
                for actor_id, role, city in ACTORS:
                    await auth.add_actor(c, actor_id, role, city, actor_id)
                    await c.execute(
                        "insert into api_tokens (token_hash, actor_id) values ($1, $2)",
                        auth.token_hash(tokens[actor_id]),
                        actor_id,
                    )
            if seed is not None:
                found = await seed(InProcessService(app, runtime.pool, tokens))
                if known is not None:
                    known.update(found)
            yield
        finally:
            await runtime.pool.close()
            conn = await asyncpg.connect(database_url)
            try:
                await schema_pool.keep_or_drop(conn, schema)
            finally:
                await conn.close()

    app.router.lifespan_context = lifespan
    return app, tokens


BUDGET_VAR = "LGNET_FUZZ_SECONDS"
DEFAULT_BUDGET_S = 45.0


def budget() -> float:
    """Seconds each service's fuzzer may take: LGNET_FUZZ_SECONDS, else 45. The suite's four fuzzers are bounded by
    time, not by cases, so their budget is their share of a CPU-bound suite (75 s each was 300 worker-seconds of
    ≈ 2,100); every operation is still fuzzed in each pass, with fewer examples. A longer fuzz (e.g. 600 s, nightly
    or before a release) is `LGNET_FUZZ_SECONDS=600 make test`."""
    value = os.environ.get(BUDGET_VAR, "")
    try:
        seconds = float(value) if value else DEFAULT_BUDGET_S
    except ValueError:
        raise ValueError(f"{BUDGET_VAR}: {value!r} is not a number of seconds") from None
    if seconds <= 0:
        raise ValueError(f"{BUDGET_VAR}: must be more than 0 seconds")
    return seconds


def fuzz(
    spec: ServiceSpec,
    database_url: str,
    *,
    actors: tuple[str, ...] = ("staff-torino", "coop-aurora"),
    max_examples: int = 25,
    budget_seconds: float | None = None,
    seed: Seed | None = None,
) -> FuzzOutcome:
    """Fuzz every documented operation but the operational ones (health, metrics), within `budget_seconds` (default:
    `budget()`)."""
    budget_seconds = budget() if budget_seconds is None else budget_seconds
    known: dict[str, str] = {}
    app, tokens = fuzz_app(spec, database_url, seed, known)
    outcome = FuzzOutcome()
    started = time.monotonic()
    try:
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        schema.config.generation.update(allow_x00=True, max_examples=max_examples)
        operations = []
        for result in schema.get_all_operations():
            if isinstance(result, Ok):
                if "operations" not in (result.ok().tags or []):
                    operations.append(result.ok())
            else:
                outcome.failures[f"(schema) {result.err()}"] = "an operation of the OpenAPI document is invalid"
        assert seed is None or known, "the seed ran before the operations were fuzzed"
        # Passes over every operation, the most telling first (valid data as staff), so that a spent time budget
        # leaves out only later passes, never an operation.
        negatable = [op for op in operations if not nothing_to_negate(op)]
        outcome.not_negatable = len(operations) - len(negatable)
        runs = [
            (op, mode, actor, ids)
            for mode in GenerationMode
            for actor in actors
            for op in (operations if mode is GenerationMode.POSITIVE else negatable)
            for ids in _path_choices(op, known, mode)
        ]
        outcome.operations, outcome.runs = len(operations), len(runs)
        for n, (op, mode, actor, ids) in enumerate(runs):
            left = budget_seconds - (time.monotonic() - started)
            if left <= 0:
                outcome.skipped = len(runs) - n
                break
            deadline = time.monotonic() + left / (len(runs) - n)  # an equal share of what is left
            name = f"{op.method.upper()} {op.path} [{mode.value}, {actor}{', seeded' if ids else ''}]"
            headers = {"Authorization": f"Bearer {tokens[actor]}"}

            run = _hypothesis_test(op, mode, ids, headers, deadline, max_examples, outcome)
            try:
                run()
            except Unsatisfiable:
                pass  # e.g. no invalid value exists for a free-text path parameter: nothing to send
            except OutOfTime:
                pass
            except (Exception, BaseExceptionGroup) as exc:  # one failure per operation is enough to report it
                # Where it broke, not only what: a failure seen once under load may not come back on demand.
                where = "".join(traceback.format_exception(exc)[-8:])[-3000:]
                outcome.failures.setdefault(name, f"{type(exc).__name__}: {str(exc)[:1500]}\n{where}")
    finally:
        asgi.shutdown_lifespans()
        outcome.seconds = time.monotonic() - started
    return outcome


def nothing_to_negate(op: Any) -> bool:
    """Whether no parameter and no body of the operation can be made invalid (only free-text path parameters, say),
    by schemathesis' own choice of what a negative case breaks. Such a negative run would search for an invalid case
    until Hypothesis gives up (Unsatisfiable, after some 450 attempts) and send nothing: a quarter of a fuzzer's CPU
    (docs/benchmarks.md). shared/tests/test_api_fuzz_negation.py holds this to what Hypothesis does."""
    explicit: dict[ParameterLocation, dict[str, Any] | None] = dict.fromkeys(ParameterLocation)
    # The draw is never reached when nothing can be negated; otherwise any answer will do.
    always: Any = lambda _strategy, _label=None: True  # noqa: E731 (a DrawFn; what it picks does not matter here)
    picked = _draw_negated_locations(always, op, GenerationMode.NEGATIVE, explicit=explicit, body_is_generated=True)
    return picked is None


def _path_choices(op: Any, known: dict[str, str], mode: GenerationMode) -> list[dict[str, str] | None]:
    """Random path parameters always; valid data on the seeded objects as well, when the path names them."""
    names = [p.name for p in op.path_parameters]
    if mode is GenerationMode.POSITIVE and names and all(n in known for n in names):
        return [None, {n: known[n] for n in names}]
    return [None]


def _hypothesis_test(
    op: Any,
    mode: GenerationMode,
    ids: dict[str, str] | None,
    headers: dict[str, str],
    deadline: float,
    max_examples: int,
    outcome: FuzzOutcome,
) -> Callable[[], None]:
    @given(case=op.as_strategy(generation_mode=mode, path_parameters=ids))
    @settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        if time.monotonic() > deadline:
            raise OutOfTime  # its share of the budget is spent: on to the next run
        response = case.call(headers=headers)
        outcome.requests += 1
        case.validate_response(response, checks=CHECKS, additional_checks=[problem_json], headers=headers)

    return run
