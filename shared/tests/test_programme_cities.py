"""The cities taking part on one cluster (LGNET_PROGRAMME_CITIES; default all 16). A national deployment serves them,
not the registry's whole list: a pilot of two cities, or a test run, made a national intake create, be granted and
fetch sixteen cities' inbound topics, fourteen of them empty for good (each topic's partitions in every fetch)."""

from __future__ import annotations

import pytest
from lgnet_shared import cities, strimzi, topics
from lgnet_shared import kafka_acls as ka
from lgnet_shared.config import Settings
from lgnet_shared.kafka_admin import Fail, check_programme
from lgnet_shared.kafka_admin import main as admin_main
from lgnet_shared.scheduler.main import SchedulerSettings

VAR = "LGNET_PROGRAMME_CITIES"


def settings(city: str) -> Settings:
    return Settings(city=city, master_key="A" * 43 + "=", kafka_bootstrap_servers="x:1", database_url="postgresql://x")


def test_by_default_every_city_takes_part(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(VAR, raising=False)
    assert cities.programme_cities() == cities.CITIES
    assert topics.cities_served(cities.NATIONAL) == cities.CITIES
    assert len([t for t in topics.registry_topics() if topics.city_of_topic(t)]) == 16


def test_a_national_deployment_serves_the_programme_cities_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(VAR, " Trieste,torino ")
    assert cities.programme_cities() == ("torino", "trieste")  # the registry's order, whatever the variable's
    assert topics.cities_served(cities.NATIONAL) == ("torino", "trieste")
    assert topics.city_topics("intake", cities.NATIONAL) == ["partner.inbound.torino", "partner.inbound.trieste"]
    assert [t for t in topics.registry_topics() if topics.city_of_topic(t)] == [
        "partner.inbound.torino",
        "partner.inbound.trieste",
    ]
    granted = {
        a.resource_name for a in ka.derive(ka.Principal.service("national", "intake")) if "inbound." in a.resource_name
    }
    assert granted == {"lgnet.partner.inbound.torino", "lgnet.partner.inbound.trieste"}
    assert topics.cities_served("torino") == ("torino",)


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("torino,turin", "'turin' is not one of the 16 cities"),
        ("torino,torino", "'torino' is named twice"),
        ("national", "'national' is not one of the 16 cities"),
        (" , ", "names no city"),
    ],
)
def test_a_bad_list_is_named(monkeypatch: pytest.MonkeyPatch, value: str, said: str) -> None:
    monkeypatch.setenv(VAR, value)
    with pytest.raises(ValueError, match=f"{VAR}: .*{said}"):
        cities.programme_cities()
    with pytest.raises(ValueError, match=said):  # load() names the variable: test_config.py
        settings("torino")


def test_a_city_outside_the_programme_is_refused_at_start_and_by_the_admin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(VAR, "torino,trieste")
    with pytest.raises(ValueError, match=f"milano does not take part .*{VAR}"):
        settings("milano")
    assert settings("national").city == "national"
    assert settings("trieste").city == "trieste"
    with pytest.raises(Fail, match=f"milano does not take part .*{VAR}"):
        check_programme(ka.Principal.partner_("coop-m", city="milano"))
    with pytest.raises(Fail, match="milano does not take part"):
        check_programme(ka.Principal.service("milano", "intake"))
    check_programme(ka.Principal.service("national", "intake"))
    check_programme(ka.Principal.partner_("coop-t", city="torino"))
    check_programme(ka.Principal.auditor("audit-1"))


def test_the_admin_command_refuses_a_party_outside_the_programme_before_connecting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Refused by name, with no broker needed (review: it connected first and said "cannot reach Kafka"), and by
    the Strimzi values too (review: they granted milano's deployment its inbound topic)."""
    monkeypatch.setenv(VAR, "torino,trieste")
    for args in (
        ["--bootstrap", "127.0.0.1:1", "add-partner", "coop-m", "--city", "milano"],
        ["--bootstrap", "127.0.0.1:1", "add-deployment", "--city", "milano", "--service", "intake"],
        ["strimzi", "--deployment", "milano", "--services", "intake"],
    ):
        with pytest.raises(SystemExit) as stop:
            admin_main(args)
        err = capsys.readouterr().err
        assert stop.value.code == 2 and f"milano does not take part on this cluster ({VAR}=torino,trieste)" in err, err
        assert "cannot reach Kafka" not in err
    # A party of a city that has left may still be revoked (review: refused before connecting).
    assert admin_main(["--bootstrap", "127.0.0.1:1", "revoke", "service.milano.intake"]) == 1
    assert "cannot reach Kafka" in capsys.readouterr().err


def test_the_strimzi_values_carry_the_programme_the_topics_and_users_were_derived_from(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The chart's ConfigMap gives the pods the programme the KafkaTopics and KafkaUsers follow (review: generated
    under `torino,trieste`, the chart's default `""` made national pods read 14 topics never created or granted)."""
    monkeypatch.setenv(VAR, "trieste,torino")
    found = strimzi.values("national", ["intake"], with_topics=True)
    assert found["programmeCities"] == "torino,trieste"
    names = [t["spec"]["topicName"] for t in found["strimzi"]["topics"]]
    inbound = sorted(n for n in names if ".partner.inbound." in n)
    assert inbound == ["lgnet.partner.inbound.torino", "lgnet.partner.inbound.trieste"]
    monkeypatch.delenv(VAR)
    assert "programmeCities" not in strimzi.values("torino", ["intake"])  # the operator's values decide (default 16)


def test_the_scheduler_of_a_city_outside_the_programme_names_the_programme(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(VAR, "torino,trieste")
    monkeypatch.setenv("LGNET_CITY", "milano")
    monkeypatch.setenv("DATABASE_URL", "postgresql://x")
    monkeypatch.delenv("LGNET_SCHEDULER_CITIES", raising=False)
    with pytest.raises(ValueError, match=f"milano does not take part .*{VAR}"):
        SchedulerSettings().city_list()
    monkeypatch.setenv("LGNET_SCHEDULER_CITIES", "torino,turin")
    with pytest.raises(ValueError, match="LGNET_SCHEDULER_CITIES: 'turin' is not a city"):
        SchedulerSettings().city_list()
    monkeypatch.setenv("LGNET_SCHEDULER_CITIES", "trieste,torino")
    assert SchedulerSettings().city_list() == ["trieste", "torino"]
