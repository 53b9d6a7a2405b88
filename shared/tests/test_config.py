"""Configuration is validated at start-up and every bad variable is named."""

from __future__ import annotations

import base64

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
    ]:
        assert var in msg and why in msg.split(var, 1)[1].splitlines()[0], (var, msg)
