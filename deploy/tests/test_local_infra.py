"""Smoke tests: the Kafka broker and PostgreSQL server the tests use are real and behave as we rely on."""

from __future__ import annotations

import asyncio
import base64
import importlib.util
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import ModuleType

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from lgnet_shared.kafka import client_kwargs

pytestmark = pytest.mark.integration
NewTopic = Callable[..., Awaitable[str]]


async def _drain(consumer: AIOKafkaConsumer, want: int, timeout: float = 15) -> list[bytes]:
    got: list[bytes] = []
    deadline = asyncio.get_running_loop().time() + timeout
    while len(got) < want and asyncio.get_running_loop().time() < deadline:
        batch = await consumer.getmany(timeout_ms=500)
        got += [r.value for records in batch.values() for r in records]
    return got


async def test_produce_and_consume(kafka_bootstrap: str, new_topic: NewTopic) -> None:
    topic = await new_topic("smoke", partitions=3)
    producer = AIOKafkaProducer(**client_kwargs(kafka_bootstrap), enable_idempotence=True)
    await producer.start()
    try:
        for i in range(30):
            await producer.send_and_wait(topic, f"m{i}".encode(), key=f"k{i % 5}".encode())
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(topic, **client_kwargs(kafka_bootstrap), auto_offset_reset="earliest")
    await consumer.start()
    try:
        got = await _drain(consumer, 30)
    finally:
        await consumer.stop()
    assert sorted(got) == sorted(f"m{i}".encode() for i in range(30))


async def test_aborted_transaction_is_invisible_to_read_committed(kafka_bootstrap: str, new_topic: NewTopic) -> None:
    topic = await new_topic("tx")
    producer = AIOKafkaProducer(**client_kwargs(kafka_bootstrap), transactional_id=f"smoke-{uuid.uuid4()}")
    await producer.start()
    try:
        async with producer.transaction():
            await producer.send(topic, b"committed-1")
            await producer.send(topic, b"committed-2")
        await producer.begin_transaction()
        await producer.send(topic, b"aborted")
        await producer.abort_transaction()
        async with producer.transaction():
            await producer.send(topic, b"committed-3")
    finally:
        await producer.stop()

    async def read(isolation: str) -> list[bytes]:
        consumer = AIOKafkaConsumer(
            topic, **client_kwargs(kafka_bootstrap), auto_offset_reset="earliest", isolation_level=isolation
        )
        await consumer.start()
        try:
            return await _drain(consumer, 4, timeout=5)
        finally:
            await consumer.stop()

    assert await read("read_committed") == [b"committed-1", b"committed-2", b"committed-3"]
    # The aborted record is really in the log: a read_uncommitted consumer sees it.
    assert b"aborted" in await read("read_uncommitted")


async def test_group_offsets_survive_consumer_restart(kafka_bootstrap: str, new_topic: NewTopic) -> None:
    topic = await new_topic("group")
    group = f"smoke-{uuid.uuid4()}"
    producer = AIOKafkaProducer(**client_kwargs(kafka_bootstrap))
    await producer.start()
    try:
        for i in range(10):
            await producer.send_and_wait(topic, f"m{i}".encode())
    finally:
        await producer.stop()

    def consumer() -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            topic,
            **client_kwargs(kafka_bootstrap),
            group_id=group,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            max_poll_records=4,
        )

    first = consumer()
    await first.start()
    try:
        record = await first.getone()
        seen = [record.value]
        while len(seen) < 4:
            seen.append((await first.getone()).value)
        await first.commit()
    finally:
        await first.stop()
    assert seen == [f"m{i}".encode() for i in range(4)]

    second = consumer()
    await second.start()
    try:
        rest = await _drain(second, 6)
        assert await second.committed(TopicPartition(topic, 0)) == 4
    finally:
        await second.stop()
    assert rest == [f"m{i}".encode() for i in range(4, 10)]


async def test_postgres_round_trip(database_url: str, pg_schema: str) -> None:
    conn = await asyncpg.connect(database_url, server_settings={"search_path": pg_schema})
    try:
        await conn.execute("create table t (id bigint primary key, body jsonb not null)")
        async with conn.transaction():
            await conn.execute("insert into t values (1, $1::jsonb)", '{"city": "Trieste"}')
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.execute("insert into t values (1, '{}'::jsonb)")
        assert await conn.fetchval("select body->>'city' from t where id = 1") == "Trieste"
        assert await conn.fetchval("select current_schema()") == pg_schema
    finally:
        await conn.close()


def _infra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """deploy/local/infra.py as a module whose .local/ is a temporary folder."""
    monkeypatch.setenv("LGNET_LOCAL_DIR", str(tmp_path))
    spec = importlib.util.spec_from_file_location("lgnet_infra", Path(__file__).parents[1] / "local" / "infra.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_the_local_broker_is_secured_by_configuration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    infra = _infra(tmp_path, monkeypatch)
    kafka = infra.Kafka(home=tmp_path / "kafka", nodes=1)
    props = dict(
        line.split("=", 1) for line in kafka.configure().read_text().splitlines() if line and not line.startswith("#")
    )
    listeners = props["listeners"].split(",")
    assert [x.split("://")[0] for x in listeners] == ["SASL_SSL", "CONTROLLER"]
    assert all("://127.0.0.1:" in x for x in listeners)  # loopback only
    assert props["listener.security.protocol.map"] == "SASL_SSL:SASL_SSL,CONTROLLER:SSL"  # no PLAINTEXT at all
    assert props["listener.name.controller.ssl.client.auth"] == "required"
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert props["authorizer.class.name"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["ssl.keystore.type"] == props["ssl.truststore.type"] == "PEM"
    assert (tmp_path / "kafka" / "server.properties").stat().st_mode & 0o077 == 0  # holds the broker's password
    assert (tmp_path / "kafka" / "credentials.json").stat().st_mode & 0o077 == 0
    env = kafka.security()
    assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL" and env["KAFKA_SASL_USERNAME"] == "admin"


def test_formatting_makes_the_cluster_id_without_starting_a_jvm_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`StorageTool random-uuid` was a JVM start (≈ 1.7 CPU-s) per formatted cluster, only to print 16 random bytes."""
    infra = _infra(tmp_path, monkeypatch)
    kafka = infra.Kafka(home=tmp_path / "kafka", nodes=3)
    calls: list[list[str]] = []

    def run(args: list[str], **_: object) -> object:
        calls.append(args)
        return infra.subprocess.CompletedProcess(args, 0, "", "")

    monkeypatch.setattr(infra.subprocess, "run", run)
    kafka.format(["java"], "cp")
    assert [a[a.index("kafka.tools.StorageTool") + 1] for a in calls] == ["format"] * 3  # one per node, no other
    ids = {a[a.index("-t") + 1] for a in calls}
    assert len(ids) == 1  # one cluster
    (cluster_id,) = ids
    # Kafka's Uuid text: the 16 bytes in URL-safe base64 without padding, never starting with "-" (Uuid.randomUuid)
    assert len(cluster_id) == 22 and not cluster_id.startswith("-")
    assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16
    assert infra.kafka_uuid() != infra.kafka_uuid()


def test_the_project_ca_signs_a_broker_certificate_for_loopback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

    infra = _infra(tmp_path, monkeypatch)
    tls = tmp_path / "tls"
    infra.make_tls(tls)
    ca = x509.load_pem_x509_certificate((tls / "ca.pem").read_bytes())
    pem = (tls / "broker.pem").read_bytes()
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS#8 first, then the chain: Kafka's PEM key store
    broker = x509.load_pem_x509_certificates(pem)[0]
    public_key = ca.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    broker.verify_directly_issued_by(ca)
    san = broker.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert (tls / "ca.key").stat().st_mode & 0o077 == 0 and (tls / "broker.pem").stat().st_mode & 0o077 == 0
    infra.make_tls(tls)  # idempotent: the CA is kept, a valid broker certificate too
    assert x509.load_pem_x509_certificate((tls / "ca.pem").read_bytes()) == ca
    assert x509.load_pem_x509_certificates((tls / "broker.pem").read_bytes())[0] == broker


def _free_ports(n: int) -> tuple[tuple[int, int], ...]:
    from lgnet_shared.testing.process import free_port

    return tuple((free_port(), free_port()) for _ in range(n))


def _snapshots(node_home: Path) -> list[Path]:
    return sorted((node_home / "data" / "__cluster_metadata-0").glob("*.checkpoint"))


async def _join_a_group(bootstrap: str, security: dict[str, str], caplog: pytest.LogCaptureFixture) -> list[str]:
    """A consumer group joined on `bootstrap` (one consumer, its offset committed): its error lines meanwhile."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from lgnet_shared.kafka import KafkaSecurity

    kwargs = client_kwargs(bootstrap, KafkaSecurity.from_env(security))
    admin = AIOKafkaAdminClient(**kwargs)
    await admin.start()
    try:
        await admin.create_topics([NewTopic("first-group", 1, 1)])
    finally:
        await admin.close()
    caplog.clear()
    consumer = AIOKafkaConsumer(
        "first-group", group_id="first", auto_offset_reset="earliest", enable_auto_commit=False, **kwargs
    )
    with caplog.at_level("ERROR", logger="aiokafka"):
        await consumer.start()
        try:
            await consumer.getmany(timeout_ms=500)
            await consumer.commit({TopicPartition("first-group", 0): 0})
        finally:
            await consumer.stop()
    # The group's own lines only: a topic created a moment ago may be missing from the first metadata (another line).
    return [r.getMessage() for r in caplog.records if r.levelname == "ERROR" and "group_coordinator" in r.name]


@pytest.mark.timeout(600)
def test_a_fresh_broker_serves_groups_at_once_and_its_super_users_log_in_after_a_snapshot_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A broker is ready once consumer groups can join: a service started right after a fresh `make infra` logged
    aiokafka's "Group Coordinator Request failed" ERROR while the broker created `__consumer_offsets` (the first
    `make up`). The super users are `StorageTool format --add-scram` bootstrap records: a broker that snapshots its
    metadata (a tiny threshold, many topics) and restarts from the snapshot still lets the admin and the
    inter-broker user log in."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from lgnet_shared.kafka import KafkaSecurity

    infra = _infra(tmp_path, monkeypatch)
    kafka = infra.Kafka(
        home=tmp_path / "kafka",
        nodes=1,
        ports=_free_ports(1),
        extra=(("metadata.log.max.record.bytes.between.snapshots", "2048"),),
        heap="-Xmx384m",
        jvm=infra.SHORT_LIVED_JVM,
    )
    try:
        kafka.start()
        assert asyncio.run(_join_a_group(kafka.bootstrap, kafka.security(), caplog)) == []
        admin_security = KafkaSecurity.from_env(kafka.security())

        async def create_topics() -> None:
            admin = AIOKafkaAdminClient(**client_kwargs(kafka.bootstrap, admin_security))
            await admin.start()
            try:
                for batch in range(6):
                    await admin.create_topics([NewTopic(f"many-{batch}-{i}", 1, 1) for i in range(10)])
            finally:
                await admin.close()

        asyncio.run(create_topics())
        for _ in range(120):
            if _snapshots(kafka.node_home(1)):
                break
            time.sleep(0.5)
        assert _snapshots(kafka.node_home(1)), "the broker took no metadata snapshot"
        kafka.stop()
        kafka.start_node(1, wait=False)
        for user in ("admin", "broker"):
            password = kafka.credentials()[user]
            security = {**kafka.security(), "KAFKA_SASL_USERNAME": user, "KAFKA_SASL_PASSWORD": password}
            infra.wait_kafka(kafka.bootstrap, security, timeout=120)
    finally:
        kafka.stop()


def _java_hashmap_order(keys: list[str]) -> list[str]:
    """The iteration order of a java.util.HashMap<String, _> holding `keys` put in this order (no tree bins):
    buckets by String.hashCode() spread as HashMap.hash() does, in a table grown at 3/4 load; a bucket keeps
    insertion order."""
    capacity = 16
    while len(keys) > capacity * 3 // 4:
        capacity *= 2
    buckets: dict[int, list[str]] = {}
    for key in keys:
        h = 0
        for unit in key.encode("utf-16-be").hex(" ", 2).split():
            h = (31 * h + int(unit, 16)) & 0xFFFFFFFF
        buckets.setdefault((h ^ (h >> 16)) & (capacity - 1), []).append(key)
    return [key for index in sorted(buckets) for key in buckets[index]]


_SCRAM_REPLAY = """
import org.apache.kafka.common.metadata.RemoveUserScramCredentialRecord;
import org.apache.kafka.common.metadata.UserScramCredentialRecord;
import org.apache.kafka.image.ScramDelta;
import org.apache.kafka.image.ScramImage;

public class ScramReplay {
    static UserScramCredentialRecord user(String name) {
        return new UserScramCredentialRecord().setName(name).setMechanism((byte) 2).setSalt(new byte[32])
            .setStoredKey(new byte[64]).setServerKey(new byte[64]).setIterations(8192);
    }

    public static void main(String[] args) {
        ScramDelta delta = new ScramDelta(ScramImage.EMPTY);  // a restarted broker, no metadata snapshot
        for (String name : args[0].split(",")) delta.replay(user(name));
        for (String name : args[1].split(",")) {
            delta.replay(user(name));
            delta.replay(new RemoveUserScramCredentialRecord().setName(name).setMechanism((byte) 2));
        }
        System.out.println(String.join(",", new java.util.TreeSet<>(
            delta.apply().mechanisms().getOrDefault(org.apache.kafka.clients.admin.ScramMechanism.SCRAM_SHA_512,
                java.util.Map.of()).keySet())));
    }
}
"""


@pytest.mark.timeout(300)
def test_kafkas_scram_delta_loses_every_user_and_the_patched_one_does_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The root cause of issue 14, without a broker: Kafka's ScramDelta replays users created and deleted into an
    empty image and keeps none of the living ones; the patched class keeps them. When a Kafka upgrade fixes the
    class, the first assertion fails: then delete deploy/local/kafka-patches."""
    import subprocess

    infra = _infra(tmp_path, monkeypatch)
    patched, _, jars = infra.Kafka(home=tmp_path / "kafka").classpath().partition(":")
    (tmp_path / "ScramReplay.java").write_text(_SCRAM_REPLAY)
    subprocess.run(
        ["javac", "-nowarn", "-cp", jars, "-d", str(tmp_path), str(tmp_path / "ScramReplay.java")], check=True
    )
    living, gone = ["admin", "broker", "kept"], [f"gone-{i:02d}" for i in range(10)]
    assert _java_hashmap_order(living + gone)[0] in gone

    def replay(classpath: str) -> str:
        args = ["java", "-cp", classpath, "ScramReplay", ",".join(living), ",".join(gone)]
        return subprocess.run(args, check=True, capture_output=True, text=True).stdout.strip()

    assert replay(f"{tmp_path}:{jars}") == "", "Kafka's own ScramDelta is fixed: drop the patch"
    assert replay(f"{tmp_path}:{patched}:{jars}") == "admin,broker,kept"


@pytest.mark.timeout(600)
def test_scram_users_still_log_in_after_a_restart_that_replays_deleted_users(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 14: after `make test` (which creates and deletes many principals) and `make down`, `make up` saw
    every SCRAM login refused. A restarted broker without a metadata snapshot replays its whole metadata log as
    one delta from an empty image; Kafka's ScramDelta.apply() (4.1.1 to 4.3.1) dropped the whole SCRAM-SHA-512
    map when a deleted user came first in HashMap order, and the authenticator is initialised from that image.
    Here users are created and deleted through the Admin API, the broker restarts, and the admin, the
    inter-broker user and a user never deleted all log in (the patched class, deploy/local/kafka-patches)."""
    from aiokafka.admin import AIOKafkaAdminClient
    from lgnet_shared import kafka_acls
    from lgnet_shared.kafka import KafkaSecurity

    gone = [f"service.gone-{i:02d}.intake" for i in range(12)]
    # The precondition of the bug, so that a change of names cannot make this test pass by luck: a deleted user
    # is the first of the replayed users in the broker's HashMap.
    assert _java_hashmap_order(["admin", "broker", "kept", *gone])[0] in gone
    infra = _infra(tmp_path, monkeypatch)
    kafka = infra.Kafka(
        home=tmp_path / "kafka", nodes=1, ports=_free_ports(1), heap="-Xmx384m", jvm=infra.SHORT_LIVED_JVM
    )
    try:
        kafka.start()

        async def create_and_delete_users() -> None:
            admin = AIOKafkaAdminClient(**client_kwargs(kafka.bootstrap, KafkaSecurity.from_env(kafka.security())))
            await admin.start()
            try:
                await kafka_acls.set_password(admin, "kept", "kept-password")
                for user in gone:
                    await kafka_acls.set_password(admin, user, kafka_acls.new_password())
                for user in gone:
                    assert await kafka_acls.delete_credentials(admin, user)
                # The broker answers from its metadata cache, which applies the last deletion a moment later.
                for _ in range(50):
                    if (users := set(await kafka_acls.users(admin))) == {"admin", "broker", "kept"}:
                        break
                    await asyncio.sleep(0.2)
                assert users == {"admin", "broker", "kept"}
            finally:
                await admin.close()

        asyncio.run(create_and_delete_users())
        assert not _snapshots(kafka.node_home(1)), "a metadata snapshot would hide the replay this test needs"
        kafka.stop()
        kafka.start_node(1, wait=False)
        passwords = {**kafka.credentials(), "kept": "kept-password"}
        for user, password in passwords.items():
            security = {**kafka.security(), "KAFKA_SASL_USERNAME": user, "KAFKA_SASL_PASSWORD": password}
            infra.wait_kafka(kafka.bootstrap, security, timeout=120 if user == "admin" else 20)
    finally:
        kafka.stop()
