"""The controller commits new ACLs at once, but each broker's authorizer applies them from the metadata log a moment
later: a partner whose client started in that moment was refused (CI: `TopicAuthorizationFailedError:
pgrestart….lgnet.partner.inbound.torino` at the scenario's first emit, right after `add-partner`). Granting returns
only once every broker describes the ACLs, as setting a password already waits for the broker to know the user."""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace
from typing import Any

import pytest
from lgnet_shared import kafka_acls as ka


def fake_cluster(*nodes: int) -> Any:
    brokers = [SimpleNamespace(nodeId=n) for n in nodes]
    return SimpleNamespace(_client=SimpleNamespace(cluster=SimpleNamespace(brokers=lambda: brokers)))


@pytest.fixture
def broker_lag(monkeypatch: pytest.MonkeyPatch) -> Counter[int | None]:
    """Broker 1 shows created ACLs at its 3rd describe, broker 2 at its 5th; `None` (any broker) never."""
    created: list[ka.Acl] = []
    asked: Counter[int | None] = Counter()
    lag = {1: 3, 2: 5}

    async def create_acls(admin: Any, acls: list[ka.Acl]) -> None:
        created.extend(acls)

    async def describe_acls(admin: Any, user: str | None = None, node_id: int | None = None) -> list[ka.Acl]:
        asked[node_id] += 1
        return list(created) if node_id in lag and asked[node_id] >= lag[node_id] else []

    monkeypatch.setattr(ka, "create_acls", create_acls)
    monkeypatch.setattr(ka, "describe_acls", describe_acls)
    monkeypatch.setattr(ka, "PROPAGATION_POLL_S", 0.001)
    return asked


async def test_grant_returns_once_every_broker_applies_the_acls(broker_lag: Counter[int | None]) -> None:
    principal = ka.Principal.partner_("coop-lag", city="torino")
    wanted = await ka.grant(fake_cluster(1, 2), principal, "p.", exclusive=False)
    assert wanted and broker_lag[1] == 3 and broker_lag[2] == 5


async def test_acls_that_never_reach_a_broker_are_an_error_naming_it(
    broker_lag: Counter[int | None], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ka, "PROPAGATION_TIMEOUT_S", 0.05)
    principal = ka.Principal.partner_("coop-lag", city="torino")
    with pytest.raises(ka.AdminError, match=r"User:partner\.coop-lag .* broker 7"):
        await ka.grant(fake_cluster(1, 7), principal, "p.", exclusive=False)


async def test_a_right_taken_back_by_an_exclusive_grant_is_gone_everywhere_when_it_returns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Re-provisioned for a smaller programme, a national intake loses its read on a leaving city's topic: grant
    deleted it, but returned as soon as the brokers showed the wanted ACLs, while a broker still held the old one (CI:
    `test_programme_leaving` saw the read right after provisioning). It now waits until no broker holds it."""
    principal = ka.Principal.service("national-lag", "intake")
    stale = ka.Acl(
        ka.ResourceType.TOPIC, "p.lgnet.partner.inbound.milano", ka.Pattern.LITERAL, principal.user, ka.Op.READ
    )
    held: list[ka.Acl] = [stale]
    deleted: list[ka.Acl] = []
    asked: Counter[int | None] = Counter()

    async def create_acls(admin: Any, acls: list[ka.Acl]) -> None:
        held.extend(acls)

    async def delete_acls(admin: Any, user: str) -> int:
        deleted.append(stale)  # the controller took it; broker 1 still holds it for its first three describes
        return 1

    async def describe_acls(admin: Any, user: str | None = None, node_id: int | None = None) -> list[ka.Acl]:
        asked[node_id] += 1
        late = node_id == 1 and asked[node_id] < 4
        return [a for a in held if a not in deleted or late]

    monkeypatch.setattr(ka, "create_acls", create_acls)
    monkeypatch.setattr(ka, "delete_acls", delete_acls)
    monkeypatch.setattr(ka, "describe_acls", describe_acls)
    monkeypatch.setattr(ka, "PROPAGATION_POLL_S", 0.001)
    wanted = await ka.grant(fake_cluster(1), principal, "p.")
    assert stale not in wanted and asked[1] >= 4
