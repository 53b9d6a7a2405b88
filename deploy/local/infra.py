"""Local infrastructure without Docker: a real Apache Kafka broker (KRaft) and a PostgreSQL cluster.

    python deploy/local/infra.py start|stop|status|env [kafka|postgres]

Kafka's jars come from Maven Central (deploy/local/pom.xml); PostgreSQL from Debian's packages (installed
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
import glob
import json
import logging
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from lgnet_shared.kafka_tls import make_tls, write_private

ROOT = Path(__file__).resolve().parents[2]
LOCAL = Path(os.environ.get("LGNET_LOCAL_DIR", ROOT / ".local"))
HERE = Path(__file__).resolve().parent
KAFKA_PORT = int(os.environ.get("LGNET_KAFKA_PORT", "19092"))
CONTROLLER_PORT = int(os.environ.get("LGNET_KAFKA_CONTROLLER_PORT", "19093"))
PG_PORT = int(os.environ.get("LGNET_PG_PORT", "15432"))
PG_USER = PG_DB = "lgnet"


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
    return pid


async def _retry(probe: object, what: str, timeout: float) -> None:
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # "not yet" is expected while starting
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            await probe()  # type: ignore[operator]
            return
        except Exception as exc:  # readiness: any failure means "not yet"
            last = exc
            await asyncio.sleep(0.5)
    fail(f"{what} not ready after {timeout:.0f}s: {last!r}")


def wait_kafka(bootstrap: str, security: dict[str, str], timeout: float = 300) -> None:
    """Ready = a real client, authenticated over TLS like every other, gets metadata listing a broker."""
    from aiokafka.admin import AIOKafkaAdminClient
    from lgnet_shared.kafka import KafkaSecurity, client_kwargs

    sec = KafkaSecurity.from_env(security)

    async def probe() -> None:
        admin = AIOKafkaAdminClient(**client_kwargs(bootstrap, sec), request_timeout_ms=3000)
        await admin.start()
        try:
            cluster = await admin.describe_cluster()
            if not cluster.get("brokers"):
                raise RuntimeError("no brokers in metadata")
        finally:
            await admin.close()

    asyncio.run(_retry(probe, f"Kafka at {bootstrap}", timeout))


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


@dataclass(frozen=True)
class Kafka:
    home: Path = LOCAL / "kafka"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{KAFKA_PORT}"

    @property
    def pid_file(self) -> Path:
        return self.home / "kafka.pid"

    @property
    def tls(self) -> Path:
        return self.home / "tls"

    @property
    def credentials_file(self) -> Path:
        return self.home / "credentials.json"

    def credentials(self) -> dict[str, str]:
        """Passwords of the super users `admin` and `broker`; made once, before the storage is formatted."""
        try:
            return dict(json.loads(self.credentials_file.read_text()))
        except FileNotFoundError:
            if (self.home / "data" / "meta.properties").exists():
                fail(
                    f"{self.home / 'data'} was formatted without SCRAM credentials (before the broker was secured)"
                    f" or {self.credentials_file} was lost. Stop Kafka and delete {self.home / 'data'} (local topics"
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
        libs = self.home / "libs"
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

    def configure(self, creds: dict[str, str] | None = None) -> Path:
        data = self.home / "data"
        props = self.home / "server.properties"
        tls, creds = self.tls, creds or self.credentials()
        props.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@127.0.0.1:{CONTROLLER_PORT}",
                    # Clients: SASL_SSL only. Controller: mutual TLS on loopback (the broker's own certificate).
                    f"listeners=SASL_SSL://127.0.0.1:{KAFKA_PORT},CONTROLLER://127.0.0.1:{CONTROLLER_PORT}",
                    f"advertised.listeners=SASL_SSL://127.0.0.1:{KAFKA_PORT}",
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
                    f"log.dirs={data}",
                    "num.partitions=3",
                    # One node: internal topics must not wait for replicas that never come.
                    "offsets.topic.replication.factor=1",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "share.coordinator.state.topic.replication.factor=1",
                    "share.coordinator.state.topic.min.isr=1",
                    "default.replication.factor=1",
                    "min.insync.replicas=1",
                    "group.initial.rebalance.delay.ms=0",
                    # Topics are created explicitly by the services (issue 3); never by accident.
                    "auto.create.topics.enable=false",
                    "log.retention.hours=-1",
                    "",
                ]
            )
        )
        props.chmod(0o600)  # holds the broker's password
        log4j = self.home / "log4j2.properties"
        log4j.write_text(
            "\n".join(
                [
                    "status = warn",
                    "appender.file.type = File",
                    "appender.file.name = FILE",
                    f"appender.file.fileName = {self.home / 'server.log'}",
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

    def needs_upgrade(self) -> bool:
        """Storage formatted before the broker was secured (or its passwords lost): no known SCRAM users."""
        return (self.home / "data" / "meta.properties").exists() and not self.credentials_file.exists()

    def upgrade(self, java: list[str], cp: str) -> None:
        """Secure a data folder in place, keeping its topics: run the broker once on loopback the old way
        (PLAINTEXT, no authoriser), store the admin's and the broker's SCRAM credentials, stop it."""
        from lgnet_shared import kafka_acls
        from lgnet_shared.kafka import KafkaSecurity, client_kwargs

        say("securing Kafka data formatted before TLS + SASL (one plaintext start on loopback to add SCRAM users)")
        creds = {user: secrets.token_urlsafe(24) for user in SUPER_USERS}
        props = self.home / "server-upgrade.properties"
        secured = self.configure(creds).read_text().splitlines()
        plain = [
            line
            for line in secured
            if not line.startswith(("listener", "advertised", "inter.broker", "sasl.", "ssl.", "authorizer", "allow."))
            and not line.startswith(("super.users", "connections.max.reauth"))
        ]
        plain += [
            f"listeners=PLAINTEXT://127.0.0.1:{KAFKA_PORT},CONTROLLER://127.0.0.1:{CONTROLLER_PORT}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{KAFKA_PORT}",
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

            async def add_users() -> None:
                from aiokafka.admin import AIOKafkaAdminClient

                admin = AIOKafkaAdminClient(**client_kwargs(self.bootstrap, KafkaSecurity()))
                await admin.start()
                try:
                    for user, password in creds.items():
                        await kafka_acls.set_password(admin, user, password)
                finally:
                    await admin.close()

            asyncio.run(add_users())
        finally:
            proc.terminate()
            proc.wait(60)
            props.unlink(missing_ok=True)
        write_private(self.credentials_file, json.dumps(creds))
        say(f"SCRAM users {', '.join(SUPER_USERS)} added; the data folder's topics are kept")

    def start(self) -> None:
        if pid_alive(self.pid_file):
            if not self.needs_upgrade():
                say(f"Kafka already running (pid {pid_alive(self.pid_file)})")
                wait_kafka(self.bootstrap, self.security())
                return
            say("Kafka runs unsecured: restarting it secured")
            self.stop()
        self.home.mkdir(parents=True, exist_ok=True)
        cp = f"{self.libs()}/*"
        make_tls(self.tls, say=say)
        java = ["java", "-Xms256m", "-Xmx1g", f"-Dlog4j2.configurationFile={self.home / 'log4j2.properties'}"]
        if self.needs_upgrade():
            self.upgrade(java, cp)
        props = self.configure()
        if not (self.home / "data" / "meta.properties").exists():
            cluster_id = (
                subprocess.run(
                    [*java, "-cp", cp, "kafka.tools.StorageTool", "random-uuid"],
                    check=True,
                    capture_output=True,
                    text=True,
                )
                .stdout.strip()
                .splitlines()[-1]
            )
            scram = [
                arg
                for user, password in self.credentials().items()
                for arg in ("--add-scram", f"SCRAM-SHA-512=[name={user},password={password}]")
            ]
            res = subprocess.run(
                [*java, "-cp", cp, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props), *scram],
                capture_output=True,
                text=True,
            )
            if res.returncode != 0:
                fail(f"formatting the KRaft storage failed: {res.stdout[-2000:]}{res.stderr[-2000:]}")
            say(f"formatted KRaft storage (cluster id {cluster_id}) with the SCRAM users {', '.join(SUPER_USERS)}")
        out = (self.home / "stdout.log").open("ab")
        proc = subprocess.Popen(
            [*java, "-cp", cp, "kafka.Kafka", str(props)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.pid_file.write_text(str(proc.pid))
        say(f"Kafka starting (pid {proc.pid}), TLS + SASL/SCRAM-SHA-512, log {self.home / 'server.log'}")
        wait_kafka(self.bootstrap, self.security())

    def stop(self) -> None:
        stop_pid(self.pid_file, "Kafka")

    def running(self) -> bool:
        return pid_alive(self.pid_file) is not None


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

    @property
    def url(self) -> str:
        return f"postgresql://{PG_USER}@127.0.0.1:{PG_PORT}/{PG_DB}"

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
            subprocess.run(
                [
                    *prefix,
                    str(bindir / "initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    PG_USER,
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                ],
                check=True,
                capture_output=True,
            )
            say(f"initialised PostgreSQL cluster in {self.data}")
        status = subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(self.data), "status"], capture_output=True)
        if status.returncode != 0:
            opts = (
                f"-p {PG_PORT} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.home} "
                "-c max_connections=300 -c shared_buffers=256MB"
            )
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
            say(f"PostgreSQL started on 127.0.0.1:{PG_PORT}, log {self.home / 'server.log'}")
        else:
            say("PostgreSQL already running")
        psql = [str(bindir / "psql"), "-h", "127.0.0.1", "-p", str(PG_PORT), "-U", PG_USER, "-d", "postgres"]
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
    return {
        "KAFKA_BOOTSTRAP_SERVERS": os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or Kafka().bootstrap,
        **kafka_security(),
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
            f"{comp.bootstrap} (SASL_SSL, SCRAM-SHA-512; CA {comp.tls / 'ca.pem'})"
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
