"""Deployments named before a name said its city (`north` for Torino's). Consumers read a signing key's city off its
deployment's name and dropped such keys for good: every fact they signed before the upgrade was refused on any
re-read (a reporting replay, a new deployment), and `lgnet-audit keys` no longer listed the key for auditors to pin
(review). The operator declares each such name's city in LGNET_LEGACY_DEPLOYMENTS, on every deployment and for the
auditors, as it provisions names: the name then binds that city, and only that one."""

from __future__ import annotations

import pytest
from lgnet_shared import cities
from lgnet_shared.config import Settings
from lgnet_shared.envelope import Envelope
from lgnet_shared.fact_signing import FactSignatureError, SigningKey, check_claims

VAR = "LGNET_LEGACY_DEPLOYMENTS"


def envelope_of_city(city: str, key_id: str) -> Envelope:
    return Envelope(
        specversion="1.0",
        id="e-1",
        source="intake",
        type="x",
        city=city,
        partitionkey="p-1",
        signingkey=key_id,
        data={},
    )


def key(deployment: str, city: str) -> SigningKey:
    return SigningKey(f"{deployment}.intake.00", deployment, "intake", city, "AAAA")


def test_an_undeclared_old_name_binds_no_city(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(VAR, raising=False)
    assert key("north", "torino").deployment_city is None
    with pytest.raises(FactSignatureError):
        check_claims(key("north", "torino"), envelope_of_city("torino", "north.intake.00"))


def test_a_declared_old_name_binds_its_city_and_only_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(VAR, "north=torino, test=national")
    assert key("north", "torino").deployment_city == "torino"
    assert key("test", "national").deployment_city == "national"
    check_claims(key("north", "torino"), envelope_of_city("torino", "north.intake.00"))
    with pytest.raises(FactSignatureError, match="city"):
        check_claims(key("north", "torino"), envelope_of_city("trieste", "north.intake.00"))
    assert cities.deployment_rule("north", "torino") is None
    assert cities.deployment_rule("north", "trieste") is not None
    assert cities.city_of("torino-2") == "torino"  # conforming names as before


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("north", "'north' is not <deployment>=<city>"),
        ("north=turin", "'turin' is not one of the 16 cities or national"),
        ("north=torino,north=trieste", "'north' is declared twice"),
        ("torino-x=trieste", "'torino-x' already names a city's deployment"),
    ],
)
def test_a_bad_declaration_stops_the_service_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, value: str, said: str
) -> None:
    monkeypatch.setenv(VAR, value)
    with pytest.raises(ValueError, match=VAR) as err:
        Settings(city="torino", master_key="A" * 43 + "=", kafka_bootstrap_servers="x:1", database_url="postgresql://x")
    assert said in str(err.value)


def test_a_deployment_may_keep_its_declared_old_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(VAR, "north=torino")
    s = Settings(
        city="torino",
        deployment="north",
        master_key="A" * 43 + "=",
        kafka_bootstrap_servers="x:1",
        database_url="postgresql://x",
    )
    assert s.deployment_name == "north"
