"""Where the scenario looks for the services: the ports `make up` started them on."""

from __future__ import annotations

import pytest
from lgnet_scenario.platform import Endpoints


def test_the_services_ports_are_read_like_make_up_sets_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    monkeypatch.delenv("LGNET_INTAKE_URL", raising=False)  # a port is read when no URL is given
    monkeypatch.setenv("LGNET_INTAKE_PORT", "28101")
    monkeypatch.delenv("LGNET_HOUSING_PORT", raising=False)
    monkeypatch.delenv("LGNET_HOUSING_URL", raising=False)
    monkeypatch.setenv("LGNET_PAYMENTS_URL", "http://payments.example:9000")
    monkeypatch.setenv("LGNET_PAYMENTS_PORT", "28103")  # an explicit URL wins
    urls = Endpoints.from_env().urls
    assert urls["intake"] == "http://127.0.0.1:28101"
    assert urls["housing"] == "http://127.0.0.1:8002"
    assert urls["payments"] == "http://payments.example:9000"


def test_the_scenarios_cooperatives_have_names_the_desk_can_show() -> None:
    """`make up`'s desk offers the city's partners by name (intake's GET /partners): the scenario named every actor
    after its id, so the list read "coop-aurora"."""
    from lgnet_scenario.platform import actor_name
    from lgnet_shared.access import Role

    assert actor_name("coop-aurora", Role.PARTNER) == "Cooperativa Aurora"
    assert actor_name("coop-duino", Role.PARTNER) == "Cooperativa Duino"
    assert actor_name("staff-torino", Role.STAFF) == "staff-torino"
