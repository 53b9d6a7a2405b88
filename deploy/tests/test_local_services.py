"""The local services can be run a few at a time (deploy/local/services.py start|stop|status [SERVICE ...]): a city
IT team that runs only some services (DESIGN.md: "the freedom to run only the components they need") could start or
stop only all four — `services.py stop housing` printed the usage and stopped nothing."""

from __future__ import annotations

import contextlib
import http.server
import importlib.util
import json
import os
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from lgnet_shared import config

LOCAL = Path(__file__).parents[1] / "local"


@pytest.fixture
def services(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("LGNET_LOCAL_DIR", str(tmp_path))
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    monkeypatch.setenv("LGNET_MASTER_KEY", "A" * 43 + "=")
    monkeypatch.setenv("LGNET_NATIONAL_PSEUDONYM_KEY", "A" * 43 + "=")
    monkeypatch.syspath_prepend(str(LOCAL))
    for name, path in (("background", LOCAL / "background.py"), ("lgnet_local_services", LOCAL / "services.py")):
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        monkeypatch.setitem(sys.modules, name, module)
        spec.loader.exec_module(module)
    return module


def recording(started: list[dict[str, str]]) -> Callable[[Any, list[str], dict[str, str]], bool]:
    """A `Background.start` that starts nothing and keeps the environment it was given."""

    def start(self: Any, argv: list[str], env: dict[str, str]) -> bool:
        started.append(env)
        return True

    return start


def test_start_and_stop_take_the_services_to_act_on(services: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    running: set[str] = set()
    stopped: list[str] = []

    class Proc:
        pid = 4242

    def spawn(self: Any, argv: list[str], env: dict[str, str]) -> Proc:
        running.add(self.name)
        return Proc()

    def stop(self: Any) -> bool:
        stopped.append(self.name)
        return True

    monkeypatch.setattr(services, "principals", lambda names, city: {n: {} for n in names})
    monkeypatch.setattr(services, "pid_of", lambda name: 4242 if name in running else None)
    monkeypatch.setattr(services, "ready", lambda name: (name in running, "ok"))
    monkeypatch.setattr(services.Background, "spawn", spawn)
    monkeypatch.setattr(services.Background, "stop", stop)

    assert services.start(["reporting", "intake"]) == 0
    assert running == {"intake", "reporting"}  # and it did not wait for the two it was not asked to start
    assert services.stop(["intake"]) == 0 and stopped == ["intake"]
    assert services.start(["nosuch"]) == 2 and services.stop(["housing", "nosuch"]) == 2
    assert running == {"intake", "reporting"} and stopped == ["intake"]  # a wrong name: nothing done
    assert services.stop([]) == 0 and stopped == ["intake", "intake", "housing", "payments", "reporting"]


def test_a_wrong_name_is_named() -> None:
    done = subprocess.run(
        [sys.executable, str(LOCAL / "services.py"), "stop", "housing", "nosuch"], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "not a service: nosuch (choose among intake, housing, payments, reporting)" in done.stdout


class FakePool:
    """A service's pool as `scheduler.py` uses it: whether its actor exists already, nothing else."""

    def __init__(self, actor_exists: bool) -> None:
        self.actor_exists = actor_exists

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[Any]:
        yield self

    async def fetchval(self, *_: Any) -> bool:
        return self.actor_exists

    async def close(self) -> None:
        return None


def test_the_scheduler_calls_only_the_services_that_run(
    services: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A city running intake and housing only (`services.py start intake housing`; its contributions paid by its own
    accounting): `scheduler.py start` provisioned a staff token in payments' schema too — creating an empty
    `payments` schema, then failing on its missing `actors` table, so the scheduler never started — and, with a
    payments schema left from before, handed the scheduler a payments token: `payments.voucher_expiry` failed every
    day against nothing (`lgnet_scheduler_failing` 1). It provisions and hands over the tokens of the services that
    run only; a service started later gets its token at the next `scheduler.py start`."""
    spec = importlib.util.spec_from_file_location("lgnet_local_scheduler", LOCAL / "scheduler.py")
    assert spec and spec.loader
    monkeypatch.setitem(sys.modules, "services", services)
    scheduler = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(scheduler)
    from lgnet_shared import actors, db

    asked: list[str] = []

    async def create_pool(url: str, schema: str, **_: Any) -> FakePool:
        asked.append(schema)
        return FakePool(actor_exists=True)

    async def issue_token(conn: Any, actor: str, *_: Any, **__: Any) -> str:
        return f"lgn_{asked[-1]}_{actor}"

    monkeypatch.setattr(db, "create_pool", create_pool)
    monkeypatch.setattr(actors, "issue_token", issue_token)
    monkeypatch.setenv("LGNET_SCHEDULER_CITIES", "genova")
    monkeypatch.setattr(scheduler, "pid_of", lambda name: 4242 if name in ("intake", "housing") else None)
    started: list[dict[str, str]] = []
    monkeypatch.setattr(scheduler.Background, "start", recording(started))

    assert scheduler.start() == 0
    assert sorted(asked) == ["housing", "intake"]  # no schema of payments made, nor asked for an actor
    handed = json.loads(Path(started[0]["LGNET_SCHEDULER_TOKENS_FILE"]).read_text())
    assert sorted(handed) == ["housing", "intake"]
    assert handed["intake"] == {"genova": "lgn_intake_scheduler-genova"}
    # Payments starts later: its token is provisioned and handed over at the next start, the others' kept.
    monkeypatch.setattr(scheduler, "pid_of", lambda name: 4242 if name != "reporting" else None)
    assert scheduler.start() == 0
    assert sorted(asked) == ["housing", "intake", "payments"]
    assert sorted(json.loads(Path(started[1]["LGNET_SCHEDULER_TOKENS_FILE"]).read_text())) == [
        "housing",
        "intake",
        "payments",
    ]


def test_the_local_desk_provisions_and_shows_only_the_services_that_run(
    services: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """After `services.py start intake housing` (a city without payments), `desk.py start` stopped on "no schema
    'payments'" provisioning the demo operators' tokens and the DPO's read-log tokens, and the desk it would have
    started showed payments' pages, 503 for ever. It provisions the services that run only, and gives the desk
    LGNET_DESK_SERVICES naming them; without intake it says the desk needs it and starts nothing."""
    spec = importlib.util.spec_from_file_location("lgnet_local_desk", LOCAL / "desk.py")
    assert spec and spec.loader
    monkeypatch.setitem(sys.modules, "services", services)
    desk = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(desk)
    from lgnet_desk.entrypoints import admin

    provisioned: list[tuple[str, tuple[str, ...], list[str]]] = []
    logs: list[str] = []

    deployments: set[str | None] = set()  # whose schemas get the demo operators: the services' deployment, said

    recorded_by: set[str | None] = set()

    async def add_operator(settings: Any, op: Any, password: str, schemas: Any, *_: Any, **kw: Any) -> None:
        provisioned.append((op.username, settings.services, sorted(kw.get("read_log_tokens") or {})))
        deployments.add(kw.get("deployment"))
        recorded_by.add(os.environ.get("LGNET_ADMIN_BY"))  # who `admin_actions` says added her
        print('{"event": "admin action", "command": "add-operator"}', file=sys.stderr)  # as the real one says

    async def read_log_token(database_url: str, schema: str, city: str, name: str) -> str:
        logs.append(schema)
        return f"lgr_{schema}"

    given: list[tuple[str, tuple[str, ...], list[str]]] = []

    async def give_services(
        settings: Any, username: str, schemas: Any, readers: Any, deployment: str | None = None
    ) -> list[str]:
        given.append((username, settings.services, sorted(readers)))
        deployments.add(deployment)
        return []

    monkeypatch.setattr(admin, "add_operator", add_operator)
    monkeypatch.setattr(admin, "give_services", give_services)
    monkeypatch.setattr(desk, "read_log_token", read_log_token)
    monkeypatch.setattr(desk, "PASSWORDS", tmp_path / "desk-demo.txt")
    monkeypatch.setattr(desk, "LOCAL", tmp_path)
    monkeypatch.setattr(desk, "PROVISIONED", tmp_path / "desk-demo-services.txt", raising=False)
    monkeypatch.setattr(desk, "pid_of", lambda name: 4242 if name in ("intake", "housing") else None, raising=False)
    started: list[dict[str, str]] = []
    monkeypatch.setattr(desk.Background, "start", recording(started))

    before = dict(os.environ)
    assert desk.start() == 0
    # The desk's settings are read from its variables without leaving them in the caller's environment (a test
    # worker then saw LGNET_INTAKE_URL=…:8001 in every later test: the scenario's endpoints read it).
    assert dict(os.environ) == before
    assert sorted(set(logs)) == ["housing", "intake"], logs  # no read-log token asked of payments
    assert provisioned and {services for _, services, _ in provisioned} == {("intake", "housing")}, provisioned
    assert [tokens for name, _, tokens in provisioned if name == "rpd"] == [["housing", "intake"]]
    assert started[0]["LGNET_DESK_SERVICES"] == "intake,housing"
    assert deployments == {config.deployment_of()}  # national unless LGNET_CITY/LGNET_DEPLOYMENT say otherwise
    # `make up` records itself as who added the demo operators, and keeps the records' lines out of its output
    # (21 JSON lines came between the reports and the desk's address)
    assert recorded_by == {"make up"}, recorded_by
    assert '"admin action"' not in capsys.readouterr().err
    assert '"admin action"' in (tmp_path / "logs" / "desk-admin.log").read_text()

    assert desk.start() == 0 and not given  # started again: nothing new to provision
    # Payments starts later: the demo operators are given their token there (the DPO her read-log token), once.
    monkeypatch.setattr(desk, "pid_of", lambda name: 4242 if name != "reporting" else None, raising=False)
    assert desk.start() == 0
    assert {services for _, services, _ in given} == {("intake", "housing", "payments")}, given
    assert [readers for name, _, readers in given if name == "rpd"] == [["payments"]], given
    assert started[-1]["LGNET_DESK_SERVICES"] == "intake,housing,payments"
    assert desk.start() == 0 and len(given) == len(desk.DEMO)

    monkeypatch.setattr(desk, "pid_of", lambda name: None, raising=False)
    assert desk.start() == 2  # intake does not run: the desk cannot work
    assert len(started) == 4


STUCK = (
    "error: national.reporting.projections stuck on lgnet.intake.events partition 2 offset 576 for 131s"
    " (ConnectionResetError)"
)


@contextlib.contextmanager
def answering(status: int, body: dict[str, Any]) -> Iterator[int]:
    """An HTTP server on a free port answering every GET with `status` and `body` (a service's /health/ready)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_status_says_why_a_running_service_is_not_ready(
    services: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`make status` said "starting/unhealthy" and nothing more for a service whose /health/ready answered 503 naming
    the stuck consumer: the operator had to curl it to learn why."""
    checks = {"postgres": "ok", "kafka": "ok", "outbox_relay": "ok", "consumers": STUCK}
    unready = {"status": "unavailable", "service": "reporting", "checks": checks, "consumer_groups": "ok"}
    with answering(503, unready) as unready_port, answering(200, {"status": "ok", "checks": {}}) as ready_port:
        monkeypatch.setenv("LGNET_REPORTING_PORT", str(unready_port))
        monkeypatch.setenv("LGNET_INTAKE_PORT", str(ready_port))
        monkeypatch.setattr(services, "existing", lambda: ["intake", "reporting"])
        monkeypatch.setattr(services, "pid_of", lambda name: 4242)
        assert services.status() == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("intake      ready (ok)"), lines
    assert lines[1].startswith("reporting   starting/unhealthy"), lines
    assert f"consumers: {STUCK}" in "\n".join(lines[1:]), lines
    assert "postgres" not in "\n".join(lines), "only what fails is said"


def test_a_service_running_older_code_is_said_so(
    services: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An upgrade's reviewer ran `make up` on a newer checkout with the platform running: "intake already running",
    `make status` ready — and the old code went on judging facts by the old rule, nothing said so."""
    running: set[str] = set()

    class Proc:
        pid = 4242

    def spawn(self: Any, argv: list[str], env: dict[str, str]) -> Proc:
        running.add(self.name)
        return Proc()

    monkeypatch.setattr(services, "principals", lambda names, city: {n: {} for n in names})
    monkeypatch.setattr(services, "pid_of", lambda name: 4242 if name in running else None)
    monkeypatch.setattr(services, "ready", lambda name: (name in running, "ok"))
    monkeypatch.setattr(services.Background, "spawn", spawn)
    monkeypatch.setattr(services, "code_version", lambda: "1e5dec28")
    assert services.start(["intake"]) == 0
    capsys.readouterr()
    assert services.start(["intake"]) == 0
    assert "runs the code of" not in capsys.readouterr().out  # the same code: nothing to say
    monkeypatch.setattr(services, "code_version", lambda: "3a62062c")
    assert services.start(["intake"]) == 0
    said = capsys.readouterr().out
    assert "intake already running (pid 4242) runs the code of 1e5dec28, not this checkout's 3a62062c" in said, said
    assert "make down" in said


def test_a_city_deployments_scheduler_and_desk_serve_its_city(
    services: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A city IT team running Trieste's own intake and payments (`LGNET_CITY=trieste services.py start intake
    payments`): `scheduler.py start` ended on a traceback ("ContractError: city: this schema's deployment serves
    trieste; torino's actors belong to its own"), provisioning the scenario's Torino and Trieste whatever the city,
    and `desk.py start` the same, for its Torino demo operators. A city's deployment serves its city: the scheduler
    calls for it alone, and the demo staff and DPO are the city's (its partners' operators only)."""
    monkeypatch.setenv("LGNET_CITY", "trieste")
    monkeypatch.delenv("LGNET_SCHEDULER_CITIES", raising=False)
    monkeypatch.delenv("LGNET_DEPLOYMENT", raising=False)
    spec = importlib.util.spec_from_file_location("lgnet_local_scheduler", LOCAL / "scheduler.py")
    assert spec and spec.loader
    monkeypatch.setitem(sys.modules, "services", services)
    scheduler = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(scheduler)
    from lgnet_shared import actors, db

    cities: list[str] = []

    async def create_pool(url: str, schema: str, **_: Any) -> FakePool:
        return FakePool(actor_exists=False)

    async def add_actor(conn: Any, actor: str, role: Any, city: str, name: str) -> None:
        cities.append(city)

    async def issue_token(conn: Any, actor: str, *_: Any, **__: Any) -> str:
        return f"lgn_{actor}"

    monkeypatch.setattr(db, "create_pool", create_pool)
    monkeypatch.setattr(actors, "add_actor", add_actor)
    monkeypatch.setattr(actors, "issue_token", issue_token)
    monkeypatch.setattr(scheduler, "pid_of", lambda name: 4242 if name in ("intake", "payments") else None)
    started: list[dict[str, str]] = []
    monkeypatch.setattr(scheduler.Background, "start", recording(started))
    assert scheduler.start() == 0
    assert set(cities) == {"trieste"}, cities
    assert started[0]["LGNET_SCHEDULER_CITIES"] == "trieste"

    desk_spec = importlib.util.spec_from_file_location("lgnet_local_desk", LOCAL / "desk.py")
    assert desk_spec and desk_spec.loader
    desk = importlib.util.module_from_spec(desk_spec)
    desk_spec.loader.exec_module(desk)
    from lgnet_desk.entrypoints import admin

    operators: dict[str, str] = {}

    async def add_operator(settings: Any, op: Any, *_: Any, **__: Any) -> None:
        operators[op.username] = op.city

    async def read_log_token(database_url: str, schema: str, city: str, name: str) -> str:
        return f"lgr_{schema}"

    monkeypatch.setattr(admin, "add_operator", add_operator)
    monkeypatch.setattr(desk, "read_log_token", read_log_token)
    monkeypatch.setattr(desk, "PASSWORDS", tmp_path / "desk-demo.txt")
    monkeypatch.setattr(desk, "PROVISIONED", tmp_path / "desk-demo-services.txt")
    monkeypatch.setattr(desk, "pid_of", lambda name: 4242 if name in ("intake", "payments") else None)
    monkeypatch.setattr(desk.Background, "start", recording(started))
    assert desk.start() == 0
    assert set(operators.values()) == {"trieste"}, operators
    assert "aurora" not in operators and {"operatrice", "rpd", "carso"} <= set(operators), operators


async def test_a_citys_own_intake_beside_the_national_one_serving_its_partners_is_not_started(
    services: Any, kafka_bootstrap: str, topic_prefix: str, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """`LGNET_CITY=trieste services.py start intake` on a platform whose national intake onboarded Trieste's partners:
    its provisioning is refused (lgnet_shared.kafka_admin, `shared/tests/test_city_served_elsewhere.py`), said in one
    line, and nothing is started (it was a traceback from the admin code). Against the real broker."""
    import asyncio
    import uuid

    from lgnet_shared import kafka_acls as ka
    from lgnet_shared.kafka import KafkaSecurity
    from lgnet_shared.kafka_admin import Admin

    security, uid = KafkaSecurity.from_env(), uuid.uuid4().hex[:8]
    national = ka.Principal.service(f"national-{uid}", "intake")
    partner = ka.Principal.partner_(f"coop-t-{uid}", city="trieste")
    for name, value in {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "LGNET_TOPIC_PREFIX": topic_prefix,
        "LGNET_CITY": "trieste",
        "LGNET_DEPLOYMENT": f"trieste-{uid}",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("LGNET_SERVED_CITIES", raising=False)
    spawned: list[str] = []
    monkeypatch.setattr(services, "pid_of", lambda name: None)
    monkeypatch.setattr(services.Background, "spawn", lambda self, *_: spawned.append(self.name))
    async with Admin(kafka_bootstrap, security, topic_prefix) as admin:
        await admin.provision(national)
        await admin.provision(partner)
    try:
        assert await asyncio.to_thread(services.start, ["intake"]) == 1
        # The runner's own lines; the JSON log lines of the admin client (structlog on stdout when an earlier test of
        # this worker configured it: "Authenticated as admin …") are not what the operator is told.
        said = [line for line in capsys.readouterr().out.strip().splitlines() if not line.startswith("{")]
        assert len(said) == 1 and said[0].startswith("[services] not started: service.trieste-"), said
        assert f"trieste is already served by {national.name}" in said[0], said
        assert spawned == []
    finally:
        async with Admin(kafka_bootstrap, security, topic_prefix) as admin:
            await admin.revoke(partner)
            await ka.delete_credentials(admin.client, national.name)
            await ka.delete_acls(admin.client, national.user)
