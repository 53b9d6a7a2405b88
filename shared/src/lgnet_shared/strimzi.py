"""Strimzi resources from the topic registry and the ACL derivation: what a Kubernetes deployment declares instead
of running `lgnet-kafka-admin` against the cluster. Nothing here is hand-listed: topics come from
`topics.TOPICS`, each user's ACLs from `kafka_acls.derive` — the same functions the broker-side provisioning uses.

    lgnet-kafka-admin strimzi --deployment torino [--services intake,housing,payments,reporting] [--topics]

prints a Helm values file (JSON, which is YAML) with `strimzi.topics` (KafkaTopic specs) and `strimzi.users`
(KafkaUser specs); deploy/helm/lgnet wraps them into resources for the cluster named in its values.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

from lgnet_shared import kafka_acls as ka
from lgnet_shared.cities import PROGRAMME_VAR, city_of, outside_programme, programme_cities
from lgnet_shared.topics import TOPICS, family_of, min_insync, physical, registry_topics, retired_topics

STRIMZI_API = "kafka.strimzi.io/v1"
_OPERATIONS = {
    ka.Op.READ: "Read",
    ka.Op.WRITE: "Write",
    ka.Op.CREATE: "Create",
    ka.Op.DELETE: "Delete",
    ka.Op.ALTER: "Alter",
    ka.Op.DESCRIBE: "Describe",
    ka.Op.DESCRIBE_CONFIGS: "DescribeConfigs",
    ka.Op.ALTER_CONFIGS: "AlterConfigs",
    ka.Op.IDEMPOTENT_WRITE: "IdempotentWrite",
}
_RESOURCES = {ka.ResourceType.TOPIC: "topic", ka.ResourceType.GROUP: "group", ka.ResourceType.CLUSTER: "cluster"}
_PATTERNS = {ka.Pattern.LITERAL: "literal", ka.Pattern.PREFIXED: "prefix"}


def resource_name(name: str) -> str:
    """A Kubernetes object name (DNS-1123 subdomain) for a topic or user name: lower case, '_' → '-'."""
    out = re.sub(r"[^a-z0-9.-]", "-", name.lower()).strip(".-")
    return out[:253]


# The Topic Operator leaves an unmanaged KafkaTopic's topic alone: it does not make it, make it again once deleted
# in Kafka, or delete it with the resource.
UNMANAGED = {"strimzi.io/managed": "false"}


def topics(prefix: str = "", replication: int = 3) -> list[dict[str, Any]]:
    """One KafkaTopic per registry topic, and per city for a per-city one (per-partner families are created when
    a partner is provisioned; a service creates its own signing-key registry, per-writer, at start). A retired topic
    gets an unmanaged one: on a cluster from before, its topic stays until `lgnet-kafka-admin old-inbound --delete`
    removes it, and nothing makes it again; a managed KafkaTopic would have recreated it, and dropping the resource
    would have deleted it with records not yet drained."""
    out = [_topic(name, physical(name, prefix), replication) for name in registry_topics()]
    return out + [{**_topic(n, physical(n, prefix), replication), "annotations": UNMANAGED} for n in retired_topics()]


def _topic(name: str, physical: str, replication: int) -> dict[str, Any]:
    t = TOPICS[name] if name in TOPICS else family_of(name)[0]
    return {
        "name": resource_name(physical),
        "spec": {
            "topicName": physical,
            "partitions": t.partitions,
            "replicas": replication,
            "config": {**t.configs(), "min.insync.replicas": str(min_insync(replication))},
        },
    }


def acl(a: ka.Acl) -> dict[str, Any]:
    return {
        "type": "allow",
        "resource": {"type": _RESOURCES[a.resource_type], "name": a.resource_name, "patternType": _PATTERNS[a.pattern]},
        "operations": [_OPERATIONS[a.operation]],
        "host": a.host,
    }


def user(principal: ka.Principal, prefix: str = "", partner_cities: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A KafkaUser: SCRAM-SHA-512 (Strimzi keeps the password in a Secret named like the user) and exactly the
    derived ACLs. Strimzi names the user after the resource, so the principal must already be a Kubernetes name."""
    if resource_name(principal.name) != principal.name:
        raise ka.PrincipalError(
            f"{principal.name!r} cannot be a KafkaUser name (lower-case letters, digits, '.', '-'): rename the"
            " deployment without '_' or capitals"
        )
    return {
        "name": resource_name(principal.name),
        "principal": principal.name,
        "spec": {
            "authentication": {"type": "scram-sha-512"},
            "authorization": {
                "type": "simple",
                "acls": [acl(a) for a in ka.derive(principal, prefix, partner_cities)],
            },
        },
    }


def values(
    deployment: str,
    services: list[str],
    prefix: str = "",
    replication: int = 3,
    with_topics: bool = False,
    *,
    notary: bool = False,
    partners: Sequence[str] = (),
) -> dict[str, Any]:
    """The Helm values a deployment's chart needs: its services' users (and, for whoever owns the cluster, the
    topics; for the deployment that runs the notary, the notary's user `notary.<deployment>`). `partners`: the
    city's partners, whose answer topics its intake and housing write (a national deployment writes every
    partner's)."""
    city = city_of(deployment)
    if city is None:
        raise ka.PrincipalError(f"--deployment {deployment!r}: a city or national, or one of them, '-' and a suffix")
    if why := outside_programme(city):
        raise ka.PrincipalError(f"--deployment {deployment}: {why}")
    cities = {p: city for p in partners}
    users = [user(ka.Principal.service(deployment, s), prefix, cities) for s in services]
    if notary:
        users.append(user(ka.Principal.notary(deployment), prefix))
    found: dict[str, Any] = {"strimzi": {"topics": topics(prefix, replication) if with_topics else [], "users": users}}
    if os.environ.get(PROGRAMME_VAR, "").strip():  # the chart's ConfigMap: the programme these were derived from
        found["programmeCities"] = ",".join(programme_cities())  # (unset: the operator's own values, default all 16)
    return found
