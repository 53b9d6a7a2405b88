"""Strimzi resources and replication settings come from the registry and the ACL derivation, nothing else."""

from __future__ import annotations

import json

import pytest
from lgnet_shared import kafka_acls as ka
from lgnet_shared import strimzi
from lgnet_shared.kafka_admin import main
from lgnet_shared.topics import min_insync, physical, registry_topics, retired_topics


def test_min_insync_lets_one_broker_of_three_go() -> None:
    assert [min_insync(r) for r in (1, 2, 3, 5)] == [1, 1, 2, 2]


def test_topics_are_the_registry_s_replicated() -> None:
    topics = {t["spec"]["topicName"]: t["spec"] for t in strimzi.topics("p-", 3) if "annotations" not in t}
    assert sorted(topics) == sorted(physical(t, "p-") for t in registry_topics())
    assert "p-lgnet.partner.inbound.genova" in topics  # each city's partners' topic, made up front
    assert all(s["replicas"] == 3 and s["config"]["min.insync.replicas"] == "2" for s in topics.values())
    assert topics["p-lgnet.intake.events"]["config"]["retention.ms"] == "-1"


def test_the_retired_shared_topics_are_never_made_and_their_kafkatopics_unmanaged() -> None:
    """`lgnet.partner.inbound` and the shared `lgnet.partner.rejections` are no longer written: `create-topics` does
    not make them, and the cluster owner's KafkaTopics for them are unmanaged — the Topic Operator neither recreates
    the old inbound topic once `old-inbound --delete` has drained and deleted it, nor deletes it before."""
    assert sorted(retired_topics()) == ["partner.inbound", "partner.rejections"]
    assert not set(retired_topics()) & set(registry_topics())
    unmanaged = {t["spec"]["topicName"]: t for t in strimzi.topics("p-", 3) if "annotations" in t}
    assert sorted(unmanaged) == ["p-lgnet.partner.inbound", "p-lgnet.partner.rejections"]
    assert all(t["annotations"] == {"strimzi.io/managed": "false"} for t in unmanaged.values())
    assert unmanaged["p-lgnet.partner.inbound"]["spec"]["partitions"] == 6  # as the topic was made before


def test_a_user_carries_the_derived_acls_and_a_kubernetes_name() -> None:
    principal = ka.Principal.service("torino", "housing")
    user = strimzi.user(principal)
    assert user["name"] == "service.torino.housing"
    assert user["spec"]["authorization"]["acls"] == [strimzi.acl(a) for a in ka.derive(principal)]
    with pytest.raises(ka.PrincipalError, match="KafkaUser name"):
        strimzi.user(ka.Principal.service("torino_2", "housing"))


def test_the_cli_prints_helm_values(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["strimzi", "--deployment", "trieste", "--services", "intake,payments", "--topics"]) == 0
    values = json.loads(capsys.readouterr().out)["strimzi"]
    assert [u["name"] for u in values["users"]] == ["service.trieste.intake", "service.trieste.payments"]
    assert len(values["topics"]) == len(registry_topics()) + len(retired_topics())


def test_a_citys_users_write_the_answer_topics_of_the_partners_it_names_only(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A city's intake and housing write its own partners' rejections and reminders (named with --partners), not
    every partner's; a deployment name that belongs to no city is refused."""
    assert main(["strimzi", "--deployment", "torino-north", "--services", "intake", "--partners", "coop-a"]) == 0
    acls = json.loads(capsys.readouterr().out)["strimzi"]["users"][0]["spec"]["authorization"]["acls"]
    answers = {
        a["resource"]["name"]: a["resource"]["patternType"] for a in acls if "partner.r" in a["resource"]["name"]
    }
    assert answers == {"lgnet.partner.rejections.coop-a": "literal", "lgnet.partner.reminders.coop-a": "literal"}
    with pytest.raises(SystemExit):
        main(["strimzi", "--deployment", "north", "--services", "intake"])
    assert "'north': a city or national" in capsys.readouterr().err
