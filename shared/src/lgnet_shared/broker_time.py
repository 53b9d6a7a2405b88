"""The broker's own time on the services' fact topics (`message.timestamp.type=LogAppendTime`): every record appended
gets the broker's clock as its timestamp and timestamp type 1, whatever its producer sent. A deployment sets its
facts' times (its relay signs whatever its code says) and its records' producer timestamps, never the broker's
stamp: the owners' rule judges by it (owned_ids.judged). New topics are made so (`topics.Topic.configs`); topics a
cluster already holds are switched by provisioning (`lgnet-kafka-admin create-topics`, `add-*`), as the cluster's
admin: no service principal may alter a topic's configuration (kafka_acls grants no ALTER_CONFIGS).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import for_code

log = logging.getLogger(__name__)
TIMESTAMP_TYPE = "message.timestamp.type"
LOG_APPEND_TIME = "LogAppendTime"
CREATE_TIME = "CreateTime"
_DYNAMIC_TOPIC_CONFIG = 1  # DescribeConfigs' config_source of a topic's own setting (not the broker's default)
APPLIED_WITHIN_S = 30.0  # how long `set_timestamp_type` waits for the broker to apply what the controller took


class NotStamped(RuntimeError):
    """The broker refused to describe or alter a topic's configuration."""


async def stamp(client: AIOKafkaAdminClient, names: Sequence[str]) -> list[str]:
    """Switch the existing topics of `names` (physical) to the broker's time; returns those it switched (the others
    were already, or do not exist: `ensure_topics` makes them so)."""
    return await set_timestamp_type(client, names, LOG_APPEND_TIME)


async def set_timestamp_type(client: AIOKafkaAdminClient, names: Sequence[str], kind: str) -> list[str]:
    """Set `message.timestamp.type` of the existing topics of `names` to `kind`, keeping their other settings;
    returns those it changed, once the broker describes the new value. AlterConfigs (the request aiokafka sends)
    replaces a topic's whole set of settings, so each topic's own ones are read first and sent again with it; it
    returns when the controller has the change, and the broker applies it a moment later (a describe right after
    it showed the old value 7 times in 20): a record sent in between would still carry its producer's time."""
    if not names:
        return []
    changed: list[ConfigResource] = []
    for name, own in (await _own_settings(client, names)).items():
        if own.get(TIMESTAMP_TYPE) != kind:
            changed.append(ConfigResource(ConfigResourceType.TOPIC, name, {**own, TIMESTAMP_TYPE: kind}))
    if changed:
        for response in await client.alter_configs(changed):
            for resource in response.to_object()["resources"]:
                _raise(resource, "alter")
        await _applied(client, [r.name for r in changed], kind)
        log.info("topics' timestamp type set to %s: %s", kind, [r.name for r in changed])
    return sorted(r.name for r in changed)


async def _own_settings(client: AIOKafkaAdminClient, names: Sequence[str]) -> dict[str, dict[str, str]]:
    """Each existing topic's own settings (not the broker's defaults); a topic that does not exist is left out."""
    described = await client.describe_configs([ConfigResource(ConfigResourceType.TOPIC, n) for n in names])
    settings: dict[str, dict[str, str]] = {}
    for response in described:
        for resource in response.to_object()["resources"]:
            if resource["error_code"] == 3:  # UNKNOWN_TOPIC_OR_PARTITION: nothing to switch
                continue
            _raise(resource, "describe")
            settings[resource["resource_name"]] = {
                e["config_names"]: e["config_value"]
                for e in resource["config_entries"]
                if e["config_source"] == _DYNAMIC_TOPIC_CONFIG
            }
    return settings


async def _applied(client: AIOKafkaAdminClient, names: Sequence[str], kind: str) -> None:
    """Until the broker describes `kind` for every topic of `names`; NotStamped after APPLIED_WITHIN_S."""
    deadline = time.monotonic() + APPLIED_WITHIN_S
    pending = list(names)
    while True:
        settings = await _own_settings(client, pending)
        pending = [n for n in pending if settings.get(n, {}).get(TIMESTAMP_TYPE) != kind]
        if not pending:
            return
        if time.monotonic() > deadline:
            raise NotStamped(
                f"the broker took {TIMESTAMP_TYPE}={kind} for {', '.join(pending)} but does not apply it after"
                f" {APPLIED_WITHIN_S:.0f} s: check the controller and the brokers' logs, then run it again"
            )
        await asyncio.sleep(0.05)


def _raise(resource: dict[str, object], what: str) -> None:
    code = resource["error_code"]
    if code:
        assert isinstance(code, int)
        raise NotStamped(
            f"cannot {what} the configuration of topic {resource['resource_name']}: {for_code(code).__name__}"
            f" ({resource['error_message'] or 'no detail'}); provisioning runs as the cluster's admin"
        )
