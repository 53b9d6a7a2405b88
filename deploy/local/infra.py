"""Local infrastructure without Docker: a real Apache Kafka broker (KRaft) and a PostgreSQL cluster.

    python deploy/local/infra.py start|stop|status|env [kafka|postgres]

Kafka's jars come from Maven Central (deploy/local/pom.xml), with the fixed Kafka classes of deploy/local/kafka-patches
compiled and put before them (see PATCHES); PostgreSQL from Debian's packages (installed
automatically when missing and running as root). Everything lives under .local/ (git-ignored). Starting twice
is harmless. When KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL are set, those servers are used and nothing is
started. `start` writes .local/infra.env with the connection strings the Makefile and tests read.

The broker is secured by default (docs/operators.md): its only client listener speaks SASL_SSL (TLS with a project
CA generated here with `cryptography`, PEM files in .local/kafka/tls/; SCRAM-SHA-512 logins), the controller
listener is mutual TLS on loopback (only a holder of the broker's key gets in), and the StandardAuthorizer denies
whatever no ACL allows. The `admin` (super user) and `broker` (inter-broker) SCRAM credentials are bootstrapped
when the storage is formatted; infra.env carries the admin's KAFKA_SECURITY_PROTOCOL / KAFKA_SASL_* /
KAFKA_SSL_CAFILE for tests and tools. Services get their own principals (deploy/local/services.py).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import glob
import json
import logging
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lgnet_shared.kafka_tls import make_tls, write_private
from lgnet_shared.topics import min_insync

if TYPE_CHECKING:
    from lgnet_shared.kafka import KafkaSecurity

ROOT = Path(__file__).resolve().parents[2]
LOCAL = Path(os.environ.get("LGNET_LOCAL_DIR", ROOT / ".local"))
HERE = Path(__file__).resolve().parent
KAFKA_PORT = int(os.environ.get("LGNET_KAFKA_PORT", "19092"))
CONTROLLER_PORT = int(os.environ.get("LGNET_KAFKA_CONTROLLER_PORT", "19093"))
PG_PORT = int(os.environ.get("LGNET_PG_PORT", "15432"))
# LGNET_THROWAWAY_INFRA=1 (set by .ci/run, whose fresh clone is deleted after the run; never by `make up`): the data
# need not survive a crash of the machine, so PostgreSQL skips what only protects against one — the test suite
# commits tens of thousands of small transactions, and each waited for a WAL flush to disk. A server already running
# keeps the settings it was started with.
THROWAWAY = os.environ.get("LGNET_THROWAWAY_INFRA") == "1"
THROWAWAY_POSTGRES = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")
PG_USER = PG_DB = "lgnet"
# JVM options for a broker that lives minutes, not days: the brokers tests start, kill and restart themselves. The
# C2 compiler was half of such a JVM's CPU (a node of the broker-loss cluster: 29 of 71 CPU-s, still compiling six
# minutes after its start) for code that never ran long enough to repay it; the C1 compiler alone halves the CPU to
# ready (7.3 against 14.7 CPU-s, one node) and the serial collector spares the concurrent G1 threads a small heap does
# not need. Kafka's own jars (fetched by Maven from Maven Central over HTTPS) are not verified class by class at each
# start either: a third of what is left (5.7 → 4.0 CPU-s to ready, a node of three). What the broker does is
# unchanged (the same classes and settings); the long-running local broker of `make up` and `make test` keeps the
# JVM's defaults.
SHORT_LIVED_JVM = (
    "-XX:TieredStopAtLevel=1",
    "-XX:+UseSerialGC",
    "-XX:+UnlockDiagnosticVMOptions",
    "-XX:-BytecodeVerificationRemote",
)


def kafka_uuid() -> str:
    """A random cluster id as Kafka's `Uuid.randomUuid()` prints it (`StorageTool random-uuid`, a JVM start for 16
    random bytes): URL-safe base64 without padding, never starting with "-"; a version-4 UUID is never one of the
    ids Kafka reserves (all zeros, or 1)."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def say(msg: str) -> None:
    print(f"[infra] {msg}", flush=True)


def fail(msg: str) -> None:
    print(f"[infra] ERROR: {msg}", file=sys.stderr, flush=True)
    raise SystemExit(1)


def pid_alive(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        return None
    try:  # a process this one started (a test's broker) stays a zombie until reaped: reap it, it is gone
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return None
    except ChildProcessError:  # not our child: `make infra`'s, left to init, which may reap it seconds late
        with contextlib.suppress(OSError, IndexError):
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                return None
    return pid


def require_free(port: int, what: str) -> None:
    """A port another process holds (the other topology's broker, another checkout's) fails here, by name,
    instead of as a readiness timeout against the wrong server."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            fail(
                f"port {port} for {what} is taken by another process (`make down` the other topology, CLUSTER=1 or"
                " CLUSTER=3, or choose other ports with LGNET_KAFKA_PORT / LGNET_KAFKA_CONTROLLER_PORT / LGNET_PG_PORT)"
            )


async def _retry(probe: object, what: str, timeout: float) -> None:
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # "not yet" is expected while starting
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            await probe()  # type: ignore[operator]
            return
        except GiveUp as exc:
            fail(f"{what}: {exc}")
        except Exception as exc:  # readiness: any failure means "not yet"
            last = exc
            await asyncio.sleep(0.5)
    fail(f"{what} not ready after {timeout:.0f}s: {last!r}")


class GiveUp(Exception):
    """A readiness probe's answer that waiting longer will not change."""


# A broker opens its client listener once its metadata is loaded: a login still refused this long after the first
# refusal will stay refused (a wrong password, or credentials missing from the broker's metadata).
LOGIN_REFUSED_FOR = 30.0


def wait_kafka(
    bootstrap: str, security: dict[str, str], timeout: float = 300, brokers: int = 1, groups: bool = False
) -> None:
    """Ready = a real client, authenticated over TLS like every other, gets metadata listing `brokers` brokers; with
    `groups`, a group coordinator answers too. A fresh cluster creates `__consumer_offsets` at the first coordinator
    look-up, and until it is there every consumer logs aiokafka's "Group Coordinator Request failed" at ERROR: a
    first `make up` showed operators two such lines. Waiting here takes that look-up off the services."""
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.errors import KafkaConnectionError, SaslAuthenticationFailed
    from lgnet_shared.kafka import KafkaSecurity, client_kwargs

    sec = KafkaSecurity.from_env(security)
    refused_since: list[float] = []

    async def probe() -> None:
        admin = AIOKafkaAdminClient(**client_kwargs(bootstrap, sec), request_timeout_ms=3000)
        try:
            await admin.start()
        except KafkaConnectionError:
            await admin.close()
            try:
                await why_not_connected(bootstrap, sec)
            except SaslAuthenticationFailed as exc:
                refused_since[:1] = refused_since[:1] or [time.monotonic()]
                if time.monotonic() - refused_since[0] > LOGIN_REFUSED_FOR:
                    raise GiveUp(
                        f"the broker answers but has refused the SCRAM login of {sec.sasl_username!r} for"
                        f" {LOGIN_REFUSED_FOR:.0f}s ({exc}); see docs/operators.md, 'SCRAM users after a restart'"
                    ) from exc
            raise
        try:
            cluster = await admin.describe_cluster()
            if len(cluster.get("brokers") or []) < brokers:
                raise RuntimeError(f"{len(cluster.get('brokers') or [])} of {brokers} brokers in metadata")
            if groups:
                await admin.find_coordinator("lgnet-readiness")
        finally:
            await admin.close()

    asyncio.run(_retry(probe, f"Kafka at {bootstrap}", timeout))


async def why_not_connected(bootstrap: str, security: KafkaSecurity) -> None:
    """aiokafka's bootstrap says only "Unable to bootstrap"; one direct connection raises the real cause (a refused
    SCRAM login, a TLS error), so that a readiness timeout names it."""
    from aiokafka.conn import create_conn

    host, port = bootstrap.split(",")[0].rsplit(":", 1)
    conn = await create_conn(host, int(port), request_timeout_ms=3000, **security.aiokafka())
    conn.close()


def wait_postgres(url: str, timeout: float = 60) -> None:
    """Ready = a real client connects and runs a query."""
    import asyncpg

    async def probe() -> None:
        conn = await asyncpg.connect(url, timeout=3)
        try:
            await conn.fetchval("select 1")
        finally:
            await conn.close()

    asyncio.run(_retry(probe, f"PostgreSQL at {url}", timeout))


# --------------------------------------------------------------------------- Kafka


SUPER_USERS = ("admin", "broker")
NODES = int(os.environ.get("LGNET_KAFKA_NODES", "1") or 1)
# The jars are the same for every data folder (a cluster's, a test's): resolved once, under the checkout's .local.
LIBS = Path(os.environ.get("LGNET_KAFKA_LIBS", ROOT / ".local" / "kafka" / "libs"))
# Fixed copies of Kafka classes (deploy/local/kafka-patches, Java sources), compiled next to the jars and put
# before them on the class path. Today one: ScramDelta, whose bug drops every SCRAM credential when a broker
# replays a metadata log holding deleted users (issue 14; docs/operators.md "SCRAM users after a restart").
PATCHES = HERE / "kafka-patches"


@dataclass(frozen=True)
class Kafka:
    """One KRaft broker (`nodes=1`, the default) or a cluster of `nodes` combined broker+controller nodes on
    loopback (`make up CLUSTER=3`). Node n listens on port + 2(n-1) (clients) and controller_port + 2(n-1), unless
    `ports` names them. One CA, one broker certificate and one pair of super users serve every node."""

    home: Path = LOCAL / "kafka"
    nodes: int = NODES
    port: int = KAFKA_PORT
    controller_port: int = CONTROLLER_PORT
    ports: tuple[tuple[int, int], ...] = ()  # (client, controller) per node; computed from port when empty
    extra: tuple[tuple[str, str], ...] = ()  # more server properties (tests: snapshot thresholds)
    heap: str = ""
    jvm: tuple[str, ...] = ()  # more JVM options (tests' own short-lived brokers: SHORT_LIVED_JVM)

    def node_ports(self) -> list[tuple[int, int]]:
        if self.ports:
            return list(self.ports)
        return [(self.port + 2 * i, self.controller_port + 2 * i) for i in range(self.nodes)]

    @property
    def node_ids(self) -> list[int]:
        return list(range(1, self.nodes + 1))

    def node_home(self, node: int) -> Path:
        """A single broker keeps the layout it always had (.local/kafka/data ...); a cluster's nodes get folders."""
        return self.home if self.nodes == 1 else self.home / f"node{node}"

    @property
    def replication(self) -> int:
        return min(3, self.nodes)

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{client}" for client, _ in self.node_ports())

    def pid_path(self, node: int) -> Path:
        return self.node_home(node) / "kafka.pid"

    @property
    def pid_file(self) -> Path:
        return self.pid_path(1)

    @property
    def tls(self) -> Path:
        return self.home / "tls"

    @property
    def credentials_file(self) -> Path:
        return self.home / "credentials.json"

    def formatted(self) -> bool:
        return any((self.node_home(n) / "data" / "meta.properties").exists() for n in self.node_ids)

    def credentials(self) -> dict[str, str]:
        """Passwords of the super users `admin` and `broker`; made once, before the storage is formatted."""
        try:
            return dict(json.loads(self.credentials_file.read_text()))
        except FileNotFoundError:
            if self.formatted():
                fail(
                    f"{self.home} was formatted without SCRAM credentials (before the broker was secured)"
                    f" or {self.credentials_file} was lost. Stop Kafka and delete its data folders (local topics"
                    " are lost), then start again."
                )
            creds = {user: secrets.token_urlsafe(24) for user in SUPER_USERS}
            write_private(self.credentials_file, json.dumps(creds))
            return creds

    def security(self) -> dict[str, str]:
        """The admin's client settings, as KAFKA_* variables."""
        return {
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "KAFKA_SASL_USERNAME": "admin",
            "KAFKA_SASL_PASSWORD": self.credentials()["admin"],
            "KAFKA_SSL_CAFILE": str(self.tls / "ca.pem"),
        }

    def libs(self) -> Path:
        libs = LIBS
        marker = libs / ".resolved"
        pom = HERE / "pom.xml"
        if marker.exists() and marker.read_text() == pom.read_text():
            return libs
        if not shutil.which("mvn") or not shutil.which("java"):
            fail(
                "Java 17+ and Maven are needed to run Kafka locally (apt-get install openjdk-17-jdk maven), "
                "or set KAFKA_BOOTSTRAP_SERVERS to an existing broker."
            )
        say("resolving Kafka jars from Maven Central (first run only) ...")
        shutil.rmtree(libs, ignore_errors=True)
        subprocess.run(
            [
                "mvn",
                "-B",
                "-q",
                "-f",
                str(pom),
                "dependency:copy-dependencies",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={libs}",
            ],
            check=True,
        )
        marker.write_text(pom.read_text())
        return libs

    def classpath(self) -> str:
        """The broker's class path: the patched Kafka classes first, then Kafka's jars."""
        libs = self.libs()
        classes = libs.parent / "libs-patched"
        sources = sorted(PATCHES.rglob("*.java"))
        stamp = (HERE / "pom.xml").read_text() + "".join(src.read_text() for src in sources)
        marker = classes / ".compiled"
        # Test workers may start brokers at once: one compiles, the others wait for it.
        with (libs.parent / ".libs-patched.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (marker.exists() and marker.read_text() == stamp):
                if not shutil.which("javac"):
                    fail("javac (a JDK, not only a JRE) is needed here (apt-get install openjdk-17-jdk)")
                shutil.rmtree(classes, ignore_errors=True)
                res = subprocess.run(
                    ["javac", "-nowarn", "-cp", f"{libs}/*", "-d", str(classes), *map(str, sources)],
                    capture_output=True,
                    text=True,
                )
                if res.returncode != 0:
                    fail(f"compiling the Kafka patches in {PATCHES} failed (new Kafka?): {res.stderr[-2000:]}")
                marker.write_text(stamp)
        return f"{classes}{os.pathsep}{libs}/*"

    def properties(self, node: int = 1, creds: dict[str, str] | None = None) -> list[str]:
        """server.properties of one node."""
        tls, creds = self.tls, creds or self.credentials()
        client, controller = self.node_ports()[node - 1]
        voters = ",".join(f"{n}@127.0.0.1:{c}" for n, (_, c) in zip(self.node_ids, self.node_ports(), strict=True))
        rf, isr = self.replication, min_insync(self.replication)
        return [
            # Combined mode (every node a broker and a controller voter): three JVMs instead of six on a developer's
            # machine or a CI runner, and losing a node costs a controller too, the harder case (docs/operators.md).
            "process.roles=broker,controller",
            f"node.id={node}",
            f"controller.quorum.voters={voters}",
            # Clients: SASL_SSL only. Controller: mutual TLS on loopback (the broker's own certificate).
            f"listeners=SASL_SSL://127.0.0.1:{client},CONTROLLER://127.0.0.1:{controller}",
            f"advertised.listeners=SASL_SSL://127.0.0.1:{client}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=SASL_SSL",
            "listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:SSL",
            "listener.name.controller.ssl.client.auth=required",
            "sasl.enabled.mechanisms=SCRAM-SHA-512",
            "sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512",
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config="
            "org.apache.kafka.common.security.scram.ScramLoginModule required"
            f' username="broker" password="{creds["broker"]}";',
            "ssl.keystore.type=PEM",
            f"ssl.keystore.location={tls / 'broker.pem'}",
            "ssl.truststore.type=PEM",
            f"ssl.truststore.location={tls / 'ca.pem'}",
            "ssl.enabled.protocols=TLSv1.3,TLSv1.2",
            # Deny by default: only ACLs (lgnet-kafka-admin, derived from the topic registry) allow.
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "allow.everyone.if.no.acl.found=false",
            "super.users=User:admin;User:broker;User:CN=lgnet-broker",
            # A rotated or revoked password ends open sessions too, within the hour.
            "connections.max.reauth.ms=3600000",
            f"log.dirs={self.node_home(node) / 'data'}",
            "num.partitions=3",
            # Internal topics as replicated as the cluster allows (one node: no replicas that never come).
            f"offsets.topic.replication.factor={rf}",
            f"transaction.state.log.replication.factor={rf}",
            f"transaction.state.log.min.isr={isr}",
            f"share.coordinator.state.topic.replication.factor={rf}",
            f"share.coordinator.state.topic.min.isr={isr}",
            f"default.replication.factor={rf}",
            # acks=all producers wait for 2 of 3 replicas: one broker may go, nothing acknowledged is lost.
            f"min.insync.replicas={isr}",
            "unclean.leader.election.enable=false",
            "group.initial.rebalance.delay.ms=0",
            # Topics are created explicitly by the services (issue 3); never by accident.
            "auto.create.topics.enable=false",
            "log.retention.hours=-1",
            *(f"{k}={v}" for k, v in self.extra),
            "",
        ]

    def configure(self, creds: dict[str, str] | None = None, node: int = 1) -> Path:
        home = self.node_home(node)
        home.mkdir(parents=True, exist_ok=True)
        props = home / "server.properties"
        props.write_text("\n".join(self.properties(node, creds)))
        props.chmod(0o600)  # holds the broker's password
        log4j = home / "log4j2.properties"
        log4j.write_text(
            "\n".join(
                [
                    "status = warn",
                    "appender.file.type = File",
                    "appender.file.name = FILE",
                    f"appender.file.fileName = {home / 'server.log'}",
                    "appender.file.layout.type = PatternLayout",
                    "appender.file.layout.pattern = [%d] %p %m (%c)%n",
                    "rootLogger.level = INFO",
                    "rootLogger.appenderRef.file.ref = FILE",
                    "logger.kafka.name = kafka",
                    "logger.kafka.level = INFO",
                    "logger.apache.name = org.apache",
                    "logger.apache.level = WARN",
                    "",
                ]
            )
        )
        return props

    def java(self, node: int = 1) -> list[str]:
        heap = self.heap or ("-Xmx1g" if self.nodes == 1 else "-Xmx512m")
        log4j = self.node_home(node) / "log4j2.properties"
        return ["java", "-Xms256m", heap, *self.jvm, f"-Dlog4j2.configurationFile={log4j}"]

    def needs_upgrade(self) -> bool:
        """Storage formatted before the broker was secured (or its passwords lost): no known SCRAM users."""
        return self.formatted() and not self.credentials_file.exists()

    def upgrade(self, java: list[str], cp: str) -> None:
        """Secure a data folder in place, keeping its topics: run the broker once on loopback the old way
        (PLAINTEXT, no authoriser), store the admin's and the broker's SCRAM credentials, stop it."""
        from lgnet_shared.kafka import KafkaSecurity

        if self.nodes != 1:
            fail(f"{self.home}: a cluster without SCRAM credentials cannot be upgraded in place; delete it")
        say("securing Kafka data formatted before TLS + SASL (one plaintext start on loopback to add SCRAM users)")
        creds = {user: secrets.token_urlsafe(24) for user in SUPER_USERS}
        props = self.home / "server-upgrade.properties"
        secured = self.properties(1, creds)
        plain = [
            line
            for line in secured
            if not line.startswith(("listener", "advertised", "inter.broker", "sasl.", "ssl.", "authorizer", "allow."))
            and not line.startswith(("super.users", "connections.max.reauth"))
        ]
        plain += [
            f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "",
        ]
        props.write_text("\n".join(plain))
        with (self.home / "stdout.log").open("ab") as out:
            proc = subprocess.Popen(
                [*java, "-cp", cp, "kafka.Kafka", str(props)], stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        try:
            wait_kafka(self.bootstrap, {})
            asyncio.run(set_passwords(self.bootstrap, KafkaSecurity(), creds))
        finally:
            proc.terminate()
            proc.wait(60)
            props.unlink(missing_ok=True)
        write_private(self.credentials_file, json.dumps(creds))
        say(f"SCRAM users {', '.join(SUPER_USERS)} added; the data folder's topics are kept")

    def format(self, java: list[str], cp: str) -> None:
        """Format every node's storage with one cluster id and the super users' SCRAM credentials (bootstrap
        records of the metadata log: the very first start needs them to log in at all)."""
        cluster_id = kafka_uuid()
        scram = [
            arg
            for user, password in self.credentials().items()
            for arg in ("--add-scram", f"SCRAM-SHA-512=[name={user},password={password}]")
        ]
        for node in self.node_ids:
            props = self.node_home(node) / "server.properties"
            res = subprocess.run(
                [*java, "-cp", cp, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props), *scram],
                capture_output=True,
                text=True,
            )
            if res.returncode != 0:
                fail(f"formatting the KRaft storage of node {node} failed: {res.stdout[-2000:]}{res.stderr[-2000:]}")
        say(f"formatted KRaft storage of {self.nodes} node(s) (cluster id {cluster_id}), SCRAM users bootstrapped")

    def start(self) -> None:
        running = [n for n in self.node_ids if self.node_pid(n)]
        if running and self.needs_upgrade():
            say("Kafka runs unsecured: restarting it secured")
            self.stop()
            running = []
        if len(running) == self.nodes:
            say(f"Kafka already running ({self.describe()})")
            wait_kafka(self.bootstrap, self.security(), brokers=self.nodes, groups=True)
            return
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "scram-in-metadata-log").unlink(missing_ok=True)  # a marker of older versions, meaningless now
        cp = self.classpath()
        make_tls(self.tls, say=say)
        if self.needs_upgrade():
            self.upgrade(self.java(), cp)
        for node in self.node_ids:
            self.configure(node=node)
        if not self.formatted():
            self.format(self.java(), cp)
        for node in self.node_ids:
            if node not in running:
                for port in self.node_ports()[node - 1]:
                    require_free(port, f"Kafka node {node}")
                self.start_node(node, wait=False)
        say(f"Kafka starting ({self.describe()}), TLS + SASL/SCRAM-SHA-512, logs {self.home}/**/server.log")
        wait_kafka(self.bootstrap, self.security(), brokers=self.nodes, groups=True)

    def describe(self) -> str:
        pids = ", ".join(f"node {n} pid {self.node_pid(n)}" for n in self.node_ids)
        return f"{self.nodes} node(s): {pids}"

    def node_pid(self, node: int) -> int | None:
        return pid_alive(self.pid_path(node))

    def start_node(self, node: int, wait: bool = True) -> int:
        """Start one node's JVM (its storage formatted, its properties written); `wait`: until it serves."""
        home = self.node_home(node)
        cp = self.classpath()
        props = home / "server.properties"
        with (home / "stdout.log").open("ab") as out:
            proc = subprocess.Popen(
                [*self.java(node), "-cp", cp, "kafka.Kafka", str(props)], stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        self.pid_path(node).write_text(str(proc.pid))
        if wait:
            wait_kafka(f"127.0.0.1:{self.node_ports()[node - 1][0]}", self.security(), brokers=self.nodes)
        return proc.pid

    def kill_node(self, node: int) -> None:
        """SIGKILL: a crash, no controlled shutdown."""
        pid = self.node_pid(node)
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 30
            while pid_alive(self.pid_path(node)) and time.monotonic() < deadline:
                time.sleep(0.05)
        self.pid_path(node).unlink(missing_ok=True)

    def stop_node(self, node: int) -> None:
        stop_pid(self.pid_path(node), f"Kafka node {node}" if self.nodes > 1 else "Kafka", timeout=60)

    def stop(self) -> None:
        # All nodes at once: stopped one by one, the last one has lost its quorum and waits out the timeout.
        with ThreadPoolExecutor(max_workers=len(self.node_ids)) as pool:
            list(pool.map(self.stop_node, self.node_ids))

    def running(self) -> bool:
        return all(self.node_pid(n) is not None for n in self.node_ids)


async def set_passwords(bootstrap: str, security: KafkaSecurity, creds: dict[str, str]) -> None:
    """Create or replace SCRAM-SHA-512 credentials through the Admin API (AlterUserScramCredentials)."""
    from aiokafka.admin import AIOKafkaAdminClient
    from lgnet_shared import kafka_acls
    from lgnet_shared.kafka import client_kwargs

    admin = AIOKafkaAdminClient(**client_kwargs(bootstrap, security), request_timeout_ms=10000)
    await admin.start()
    try:
        for user, password in creds.items():
            await kafka_acls.set_password(admin, user, password)
    finally:
        await admin.close()


def stop_pid(pid_file: Path, what: str, timeout: float = 30) -> None:
    pid = pid_alive(pid_file)
    if pid is None:
        say(f"{what} not running")
        pid_file.unlink(missing_ok=True)
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and pid_alive(pid_file):
        time.sleep(0.2)
    if pid_alive(pid_file):
        os.kill(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)
    say(f"{what} stopped")


# --------------------------------------------------------------------------- PostgreSQL


@dataclass(frozen=True)
class Postgres:
    home: Path = LOCAL / "postgres"
    port: int = PG_PORT  # a test that restarts PostgreSQL runs a server of its own on another port

    @property
    def url(self) -> str:
        return f"postgresql://{PG_USER}@127.0.0.1:{self.port}/{PG_DB}"

    @property
    def data(self) -> Path:
        return self.home / "data"

    def bindir(self) -> Path:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
        if found:
            return Path(found[-1]).parent
        if shutil.which("pg_ctl"):
            return Path(shutil.which("pg_ctl") or "").parent
        if os.geteuid() != 0:
            fail(
                "PostgreSQL server binaries not found. Install them with `sudo apt-get install postgresql` "
                "or set DATABASE_URL to an existing server."
            )
        say("installing PostgreSQL from Debian packages ...")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "postgresql"], check=True, env=env)
        return self.bindir()

    def _as_owner(self) -> tuple[list[str], int | None, int | None]:
        """initdb and postgres refuse to run as root: then they run as the `postgres` system user."""
        if os.geteuid() != 0:
            return [], None, None
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", "postgres"], check=True)
            pw = pwd.getpwnam("postgres")
        return ["runuser", "-u", "postgres", "--"], pw.pw_uid, pw.pw_gid

    def _initdb(self, command: list[str]) -> None:
        """initdb, once more if it fails (a test's own server once failed there in CI, its reason not kept): each
        failure says initdb's own words."""
        for attempt in (1, 2):
            done = subprocess.run([*command, "-E", "UTF8", "--locale=C.UTF-8"], capture_output=True, text=True)
            if done.returncode == 0:
                return
            said = (done.stderr or done.stdout).strip()
            say(f"initdb failed (attempt {attempt}, exit {done.returncode}): {said}")
            shutil.rmtree(self.data, ignore_errors=True)
        fail(f"initdb could not initialise {self.data}: {said}")

    def start(self) -> None:
        bindir = self.bindir()
        prefix, uid, gid = self._as_owner()
        self.home.mkdir(parents=True, exist_ok=True)
        if uid is not None:
            os.chown(self.home, uid, gid or -1)
            # The server user must be able to reach its data folder (a mktemp clone is mode 700).
            for parent in self.home.parents:
                mode = parent.stat().st_mode
                if not mode & 0o001:
                    os.chmod(parent, mode | 0o001)
        if not (self.data / "PG_VERSION").exists():
            self._initdb([*prefix, str(bindir / "initdb"), "-D", str(self.data), "-U", PG_USER, "--auth=trust"])
            say(f"initialised PostgreSQL cluster in {self.data}")
        status = subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(self.data), "status"], capture_output=True)
        if status.returncode != 0:
            require_free(self.port, "PostgreSQL")
            opts = (
                f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.home} "
                "-c max_connections=300 -c shared_buffers=256MB"
            )
            if THROWAWAY:
                opts += " " + " ".join(f"-c {setting}" for setting in THROWAWAY_POSTGRES)
            subprocess.run(
                [
                    *prefix,
                    str(bindir / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-l",
                    str(self.home / "server.log"),
                    "-o",
                    opts,
                    "-w",
                    "-t",
                    "60",
                    "start",
                ],
                check=True,
                capture_output=True,
            )
            say(f"PostgreSQL started on 127.0.0.1:{self.port}, log {self.home / 'server.log'}")
        else:
            say("PostgreSQL already running")
        psql = [str(bindir / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", PG_USER, "-d", "postgres"]
        exists = subprocess.run(
            [*psql, "-qtAc", f"select 1 from pg_database where datname='{PG_DB}'"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        if exists != "1":
            subprocess.run([*psql, "-qc", f"create database {PG_DB}"], check=True, capture_output=True)
        wait_postgres(self.url)

    def stop(self) -> None:
        if not (self.data / "PG_VERSION").exists():
            say("PostgreSQL not initialised")
            return
        prefix, _, _ = self._as_owner()
        res = subprocess.run(
            [*prefix, str(self.bindir() / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"],
            capture_output=True,
            text=True,
        )
        say("PostgreSQL stopped" if res.returncode == 0 else "PostgreSQL not running")

    def running(self) -> bool:
        if not (self.data / "PG_VERSION").exists():
            return False
        prefix, _, _ = self._as_owner()
        return (
            subprocess.run(
                [*prefix, str(self.bindir() / "pg_ctl"), "-D", str(self.data), "status"], capture_output=True
            ).returncode
            == 0
        )


# --------------------------------------------------------------------------- commands


SECURITY_VARS = (
    "KAFKA_SECURITY_PROTOCOL",
    "KAFKA_SASL_MECHANISM",
    "KAFKA_SASL_USERNAME",
    "KAFKA_SASL_PASSWORD",
    "KAFKA_SSL_CAFILE",
)


def kafka_security() -> dict[str, str]:
    """The admin's settings of the local broker, or the KAFKA_* ones given with an external broker."""
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        return {k: os.environ[k] for k in SECURITY_VARS if os.environ.get(k)}
    kafka = Kafka()
    return kafka.security() if kafka.credentials_file.exists() else {}


def effective() -> dict[str, str]:
    external = bool(os.environ.get("KAFKA_BOOTSTRAP_SERVERS"))
    return {
        "KAFKA_BOOTSTRAP_SERVERS": os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or Kafka().bootstrap,
        **kafka_security(),
        # Topics the services (and lgnet-kafka-admin) create: replicated on every broker of a local cluster.
        **({} if external else {"LGNET_TOPIC_REPLICATION": str(Kafka().replication)}),
        "DATABASE_URL": os.environ.get("DATABASE_URL") or Postgres().url,
    }


def write_env() -> Path:
    env_file = LOCAL / "infra.env"
    write_private(env_file, "".join(f"{k}={v}\n" for k, v in effective().items()))  # holds the admin password
    return env_file


def start(which: set[str]) -> None:
    t0 = time.monotonic()
    if "kafka" in which:
        if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
            say(f"using KAFKA_BOOTSTRAP_SERVERS={os.environ['KAFKA_BOOTSTRAP_SERVERS']} (nothing started)")
            wait_kafka(os.environ["KAFKA_BOOTSTRAP_SERVERS"], kafka_security())
        else:
            Kafka().start()
    if "postgres" in which:
        if os.environ.get("DATABASE_URL"):
            say("using DATABASE_URL from the environment (nothing started)")
            wait_postgres(os.environ["DATABASE_URL"])
        else:
            Postgres().start()
    env_file = write_env()
    for k, v in effective().items():
        say(f"{k}={'***' if 'PASSWORD' in k else v}")
    say(f"ready in {time.monotonic() - t0:.1f}s; connection strings in {env_file}")


def stop(which: set[str]) -> None:
    if "kafka" in which and not os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        Kafka().stop()
    if "postgres" in which and not os.environ.get("DATABASE_URL"):
        Postgres().stop()


def status() -> int:
    ok = True
    for name, comp, external in (
        ("Kafka", Kafka(), "KAFKA_BOOTSTRAP_SERVERS"),
        ("PostgreSQL", Postgres(), "DATABASE_URL"),
    ):
        if os.environ.get(external):
            print(f"{name:11} external  {os.environ[external]}")
            continue
        up = comp.running()
        ok &= up
        where = (
            f"{comp.bootstrap} ({comp.nodes} node(s); SASL_SSL, SCRAM-SHA-512; CA {comp.tls / 'ca.pem'})"
            if isinstance(comp, Kafka)
            else comp.url
        )
        print(f"{name:11} {'running' if up else 'stopped':9} {where}")
    return 0 if ok else 3


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"start", "stop", "status", "env"}:
        print(__doc__)
        return 2
    which = set(argv[1:]) or {"kafka", "postgres"}
    if unknown := which - {"kafka", "postgres"}:
        fail(f"unknown component(s) {sorted(unknown)}; choose kafka or postgres")
    if argv[0] == "start":
        start(which)
    elif argv[0] == "stop":
        stop(which)
    elif argv[0] == "status":
        return status()
    else:
        for k, v in effective().items():
            print(f"export {k}={v}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
