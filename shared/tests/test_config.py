"""Configuration is validated at start-up and every bad variable is named."""

from __future__ import annotations

import base64
import os
import ssl
from pathlib import Path

import pytest
from lgnet_shared.config import ConfigError, load

GOOD = {
    "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:19092",
    "DATABASE_URL": "postgresql://lgnet@127.0.0.1:15432/lgnet",
    "LGNET_CITY": "Trieste",
    "LGNET_MASTER_KEY": base64.b64encode(b"k" * 32).decode(),
}


def test_valid_environment_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in GOOD.items():
        monkeypatch.setenv(k, v)
    s = load()
    assert s.city == "trieste" and s.city_filter == "trieste"
    assert s.master_key_bytes() == b"k" * 32
    assert "lgnet@" not in repr(s)  # secrets are not printed


def test_national_deployment_reads_every_city(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in {**GOOD, "LGNET_CITY": "national"}.items():
        monkeypatch.setenv(k, v)
    assert load().city_filter is None


def test_bad_variables_are_named_with_reasons(monkeypatch: pytest.MonkeyPatch) -> None:
    bad = {
        **GOOD,
        "KAFKA_BOOTSTRAP_SERVERS": "kafka",
        "LGNET_CITY": "atlantis",
        "LGNET_MASTER_KEY": "c2hvcnQ=",
        "LGNET_HTTP_PORT": "99999",
        "OTEL_TRACES_EXPORTER": "jaeger-thrift",
        "LGNET_PROGRAMME_CITIES": "torino,turin",  # said with the others, not after they are fixed
    }
    for k, v in bad.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("DATABASE_URL")
    with pytest.raises(ConfigError) as info:
        load()
    msg = str(info.value)
    for var, why in [
        ("KAFKA_BOOTSTRAP_SERVERS", "host:port"),
        ("LGNET_CITY", "must be one of"),
        ("LGNET_MASTER_KEY", "32 bytes"),
        ("LGNET_HTTP_PORT", "less than or equal"),
        ("DATABASE_URL", "Field required"),
        ("OTEL_TRACES_EXPORTER", "'none', 'console' or 'otlp'"),
        ("LGNET_PROGRAMME_CITIES", "'turin' is not one of the 16 cities"),
    ]:
        line = next((x for x in msg.splitlines() if x.startswith(f"  {var}: ")), "")  # the documented name itself
        assert why in line, (var, msg)


def test_consumer_fetch_settings_default_to_the_products_and_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in GOOD.items():
        monkeypatch.setenv(k, v)
    for var in ("LGNET_CONSUMER_FETCH_MIN_BYTES", "LGNET_CONSUMER_FETCH_MAX_WAIT_MS"):  # unset: the defaults
        monkeypatch.delenv(var, raising=False)
    s = load()
    assert (s.consumer_fetch_min_bytes, s.consumer_fetch_max_wait_ms) == (64 * 1024, 10)
    monkeypatch.setenv("LGNET_CONSUMER_FETCH_MIN_BYTES", "1")
    monkeypatch.setenv("LGNET_CONSUMER_FETCH_MAX_WAIT_MS", "500")
    s = load()
    assert (s.consumer_fetch_min_bytes, s.consumer_fetch_max_wait_ms) == (1, 500)
    monkeypatch.setenv("LGNET_CONSUMER_FETCH_MAX_WAIT_MS", "0")
    with pytest.raises(ConfigError) as info:
        load()
    msg = str(info.value)
    assert "LGNET_CONSUMER_FETCH_MAX_WAIT_MS" in msg and "greater than or equal to 1" in msg, msg


def test_the_idle_fetch_pace_defaults_to_half_a_second_and_may_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in GOOD.items():
        monkeypatch.setenv(k, v)
    assert load().consumer_idle_fetch_max_wait_ms == 500
    monkeypatch.setenv("LGNET_CONSUMER_IDLE_FETCH_MAX_WAIT_MS", "0")
    assert load().consumer_idle_fetch_max_wait_ms == 0
    monkeypatch.setenv("LGNET_CONSUMER_IDLE_FETCH_MAX_WAIT_MS", "60000")
    with pytest.raises(ConfigError) as info:
        load()
    msg = str(info.value)
    assert "LGNET_CONSUMER_IDLE_FETCH_MAX_WAIT_MS" in msg and "less than or equal to 30000" in msg, msg


KAFKA_VARS = ("KAFKA_SECURITY_PROTOCOL", "KAFKA_SASL_MECHANISM", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD",
              "KAFKA_SSL_CAFILE")  # fmt: skip


def test_kafka_security_settings_make_the_clients_secure(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not parsed here")
    for k, v in {
        **GOOD,
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "KAFKA_SASL_USERNAME": "service.trieste.intake",
        "KAFKA_SASL_PASSWORD": "s3cret",
        "KAFKA_SSL_CAFILE": str(ca),
    }.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("KAFKA_SASL_MECHANISM", raising=False)
    security = load().kafka_security()
    assert security.sasl_mechanism == "SCRAM-SHA-512"  # the default with SASL
    assert "s3cret" not in repr(security)
    monkeypatch.setattr("ssl.SSLContext.load_verify_locations", lambda *_a, **_k: None)
    kwargs = security.aiokafka()
    assert kwargs["security_protocol"] == "SASL_SSL" and kwargs["sasl_plain_password"] == "s3cret"
    assert kwargs["ssl_context"].check_hostname is True


@pytest.mark.parametrize(
    ("env", "var", "why"),
    [
        ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD", "required"),
        ({"KAFKA_SECURITY_PROTOCOL": "TLS"}, "KAFKA_SECURITY_PROTOCOL", "'PLAINTEXT', 'SSL'"),
        ({"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CAFILE": "/nowhere/ca.pem"}, "KAFKA_SSL_CAFILE", "no such"),
        ({"KAFKA_SASL_USERNAME": "x"}, "KAFKA_SASL_USERNAME/KAFKA_SASL_MECHANISM", "use SASL_SSL"),
    ],
)
def test_bad_kafka_security_is_named(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], var: str, why: str) -> None:
    for k in KAFKA_VARS:
        monkeypatch.delenv(k, raising=False)
    for k, v in {**GOOD, **env}.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(ConfigError) as info:
        load()
    line = next(x for x in str(info.value).splitlines() if var in x)
    assert why in line.split(var, 1)[1], line


def test_help_lists_the_variables_and_starts_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """From an outside test: `lgnet-intake --help` started the service and failed on the missing variables."""
    from lgnet_shared import service
    from lgnet_shared.testing.service_help import help_lines

    lines = help_lines(service.ServiceSpec(name="intake", default_port=8001, migrations=[]), monkeypatch, capsys)
    assert lines[0].startswith("usage: lgnet-intake")
    for line in ("  KAFKA_BOOTSTRAP_SERVERS  (required)", "  DATABASE_URL  (required)", "  LGNET_CITY  (required)"):
        assert line in lines, line
    assert "  LGNET_LOG_LEVEL  (default 'INFO')" in lines


@pytest.mark.parametrize("deployment", ["genova", "torinese", "national", "trieste-north", "north"])
def test_a_deployment_name_must_belong_to_its_city(monkeypatch: pytest.MonkeyPatch, deployment: str) -> None:
    """A deployment's city is read off its name (the operator provisions it): a name of another city, or of none,
    would let a deployment claim a city that is not its own."""
    for k, v in {**GOOD, "LGNET_CITY": "torino", "LGNET_DEPLOYMENT": deployment}.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(ConfigError) as info:
        load()
    lines = str(info.value).splitlines()[1:]
    assert len(lines) == 1 and lines[0].startswith("  LGNET_DEPLOYMENT: "), lines
    assert "not a deployment of torino" in lines[0]
    for good in ("torino", "torino-north", "torino-4f3a9c21"):
        monkeypatch.setenv("LGNET_DEPLOYMENT", good)
        assert load().deployment_name == good


def test_the_broker_ca_is_loaded_once_per_file_version(tmp_path: Path) -> None:
    """Every Kafka client of a process shares one TLS context per CA file (loading a CA bundle is 0.3 ms for the
    project's CA, 20 ms for the system's); a CA file rewritten in place (a rotation) gives a new context."""
    from lgnet_shared.kafka import KafkaSecurity
    from lgnet_shared.kafka_tls import make_tls

    make_tls(tmp_path / "a", say=lambda _: None)
    make_tls(tmp_path / "b", say=lambda _: None)
    ca = tmp_path / "ca.pem"
    ca.write_bytes((tmp_path / "a" / "ca.pem").read_bytes())
    security = KafkaSecurity(security_protocol="SSL", ssl_cafile=ca)
    first = security.ssl_context()
    assert first is not None and first.check_hostname and first.verify_mode is ssl.CERT_REQUIRED
    assert KafkaSecurity(security_protocol="SSL", ssl_cafile=ca).ssl_context() is first
    assert security.aiokafka()["ssl_context"] is first
    ca.write_bytes((tmp_path / "b" / "ca.pem").read_bytes())
    os.utime(ca, ns=(ca.stat().st_atime_ns, ca.stat().st_mtime_ns + 1_000_000))
    rotated = security.ssl_context()
    assert rotated is not None and rotated is not first
    assert [c["serialNumber"] for c in rotated.get_ca_certs()] != [c["serialNumber"] for c in first.get_ca_certs()]
    assert KafkaSecurity(security_protocol="PLAINTEXT").ssl_context() is None


@pytest.mark.parametrize(
    ("var", "value", "why"),
    [
        ("LGNET_DB_SCHEMA", "Intake_North", "lower-case"),  # created quoted, then not on the search path
        ("LGNET_DB_SCHEMA", 'bad"schema', "lower-case"),
        ("LGNET_TOPIC_PREFIX", "torino test.", "A-Z a-z 0-9 . _ -"),
    ],
)
def test_a_schema_or_topic_prefix_the_servers_would_refuse_is_named(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str, why: str
) -> None:
    """A city IT team naming its second deployment's schema `Intake_North` got a traceback from PostgreSQL at start
    ("no schema has been selected to create in"), naming no variable."""
    for k, v in {**GOOD, var: value}.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(ConfigError) as info:
        load()
    line = next((x for x in str(info.value).splitlines() if x.startswith(f"  {var}: ")), "")
    assert why in line, str(info.value)


def test_usual_schemas_and_prefixes_load(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in {**GOOD, "LGNET_DB_SCHEMA": "intake_torino-north", "LGNET_TOPIC_PREFIX": "t-3f.lgnet_"}.items():
        monkeypatch.setenv(k, v)
    s = load()
    assert (s.db_schema, s.topic_prefix) == ("intake_torino-north", "t-3f.lgnet_")


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"LGNET_CITY": "trieste"}, "service.trieste.intake: LGNET_DEPLOYMENT, else LGNET_CITY, is 'trieste'"),
        ({"LGNET_DEPLOYMENT": "genova-north"}, "service.genova-north.intake"),
        ({"KAFKA_SASL_USERNAME": "service.genova.housing"}, "service.genova.intake"),
    ],
)
def test_another_deployments_principal_is_named_before_connecting(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: str
) -> None:
    """A city IT team running Genova's intake with LGNET_CITY=trieste (or a deployment name, or credentials, of
    another) got only the broker's refusals of its topics and groups, one by one."""
    from lgnet_shared.service import ServiceSpec
    from lgnet_shared.testing.service_start import start_refused

    monkeypatch.delenv("KAFKA_SSL_CAFILE", raising=False)  # the suite's broker's: this test's clients are not TLS
    provisioned = {
        "LGNET_CITY": "genova",
        "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "KAFKA_SASL_USERNAME": "service.genova.intake",
        "KAFKA_SASL_PASSWORD": "x",
    }
    lines = start_refused(ServiceSpec(name="intake", default_port=8001), monkeypatch, **{**provisioned, **env})
    user = env.get("KAFKA_SASL_USERNAME", "service.genova.intake")
    assert lines[1].startswith(f"  KAFKA_SASL_USERNAME: {user} is not the principal of this deployment's intake"), lines
    assert expected in lines[1], lines


def test_the_deployments_own_principal_and_the_admin_start(monkeypatch: pytest.MonkeyPatch) -> None:
    from lgnet_shared.config import check_principal

    monkeypatch.delenv("KAFKA_SSL_CAFILE", raising=False)
    for user, deployment in (("service.genova-north.intake", "genova-north"), ("admin", "")):
        for k, v in {
            **GOOD,
            "LGNET_CITY": "genova",
            "LGNET_DEPLOYMENT": deployment,
            "KAFKA_SASL_USERNAME": user,
        }.items():
            monkeypatch.setenv(k, v)
        monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
        monkeypatch.setenv("KAFKA_SASL_PASSWORD", "x")
        check_principal(load(), "intake")


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("postgresql://lgnet:pw@db.example:notaport/lgnet", "host db.example: its port is not a number from 1"),
        ("postgresql://lgnet@db.example:99999/lgnet", "host db.example: its port is not a number from 1"),
        ("postgresql://lgnet@[::1/lgnet", "host '[::1': an IPv6 address needs its closing ']'"),
        ("postgresql://lgnet:pa/ss@db.example/lgnet", "host lgnet: its port is not a number from 1"),
        ("postgresql://lgnet@pg-a:5432,pg-b:x/lgnet", "host pg-b: its port is not a number from 1"),
    ],
)
def test_a_database_url_asyncpg_cannot_read_is_named_at_start(
    monkeypatch: pytest.MonkeyPatch, url: str, why: str
) -> None:
    """A city IT team's DATABASE_URL with a port that is not a number (`…:notaport/lgnet`) or a broken IPv6 host
    loaded, then ended the start on asyncpg's "ValueError: invalid literal for int()" traceback — and, with the
    broker also unreachable, a `start refused` naming Kafka only. The services, the scheduler and the desk read it
    alike: one line naming DATABASE_URL (never its password)."""
    from lgnet_desk.settings import DeskSettings
    from lgnet_shared.scheduler.main import SchedulerSettings

    for k, v in GOOD.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("DATABASE_URL", url)
    with pytest.raises(ConfigError) as info:
        load()
    assert (
        f"  DATABASE_URL: {why}" in str(info.value) and "pw" not in str(info.value) and "pa" not in str(info.value)
    ), str(info.value)
    for settings in (SchedulerSettings, DeskSettings):
        with pytest.raises(ValueError, match=r"DATABASE_URL|database_url") as refused:
            settings()
        assert why in str(refused.value), refused.value


def test_a_database_url_listing_a_primary_and_its_standbys_loads_and_is_named_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """operators.md's replicated PostgreSQL: `DATABASE_URL=postgresql://lgnet:…@pg-a…:5432,pg-b…:5432/lgnet?…`. It
    loads; a start the database refuses names it with both hosts (it said "DATABASE_URL (unparsable)")."""
    from lgnet_shared import setup_errors

    url = "postgresql://lgnet:s3cret@pg-a.example:5432,[::1]:5433/lgnet?target_session_attrs=read-write"
    for k, v in {**GOOD, "DATABASE_URL": url}.items():
        monkeypatch.setenv(k, v)
    assert load().database_url.get_secret_value() == url
    assert setup_errors.database_url(url) == "DATABASE_URL postgresql://lgnet@pg-a.example:5432,[::1]:5433/lgnet"


def test_an_admin_command_names_a_database_url_it_cannot_read(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`lgnet-admin` with a port that is not a number said "lgnet-admin: error: invalid literal for int() with base
    10: 'notaport'" (asyncpg's words, no variable named), where the services name DATABASE_URL at start. Every
    command that connects through `setup_errors.database` names it the same way, before any connection."""
    from lgnet_shared import admin

    monkeypatch.setenv("DATABASE_URL", "postgresql://lgnet:s3cret@127.0.0.1:notaport/lgnet")
    assert admin.main(["--schema", "intake", "outbox"]) == 1
    said = capsys.readouterr().err
    assert said.startswith("lgnet-admin: error: DATABASE_URL: host 127.0.0.1: its port is not a number"), said
    assert "s3cret" not in said and "notaport" not in said and "Traceback" not in said
