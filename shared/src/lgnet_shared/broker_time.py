"""The broker's own time on the services' fact topics (`message.timestamp.type=LogAppendTime`): every record appended
gets the broker's clock as its timestamp and timestamp type 1, whatever its producer sent. A deployment sets its
facts' times (its relay signs whatever its code says) and its records' producer timestamps, never the broker's
stamp: the owners' rule judges by it (owned_ids.judged). New topics are made so (`topics.Topic.configs`); topics a
cluster already holds are switched by provisioning (`lgnet-kafka-admin create-topics`, `add-*`), as the cluster's
admin: no service principal may alter a topic's configuration (kafka_acls grants no ALTER_CONFIGS).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import for_code

log = logging.getLogger(__name__)
TIMESTAMP_TYPE = "message.timestamp.type"
LOG_APPEND_TIME = "LogAppendTime"
CREATE_TIME = "CreateTime"
_DYNAMIC_TOPIC_CONFIG = 1  # DescribeConfigs' config_source of a topic's own setting (not the broker's default)


class NotStamped(RuntimeError):
    """The broker refused to describe or alter a topic's configuration."""


async def stamp(client: AIOKafkaAdminClient, names: Sequence[str]) -> list[str]:
    """Switch the existing topics of `names` (physical) to the broker's time; returns those it switched (the others
    were already, or do not exist: `ensure_topics` makes them so)."""
    return await set_timestamp_type(client, names, LOG_APPEND_TIME)


async def set_timestamp_type(client: AIOKafkaAdminClient, names: Sequence[str], kind: str) -> list[str]:
    """Set `message.timestamp.type` of the existing topics of `names` to `kind`, keeping their other settings;
    returns those it changed. AlterConfigs (the request aiokafka sends) replaces a topic's whole set of settings,
    so each topic's own ones are read first and sent again with it."""
    if not names:
        return []
    described = await client.describe_configs([ConfigResource(ConfigResourceType.TOPIC, n) for n in names])
    changed: list[ConfigResource] = []
    for response in described:
        for resource in response.to_object()["resources"]:
            if resource["error_code"] == 3:  # UNKNOWN_TOPIC_OR_PARTITION: nothing to switch
                continue
            _raise(resource, "describe")
            own = {
                e["config_names"]: e["config_value"]
                for e in resource["config_entries"]
                if e["config_source"] == _DYNAMIC_TOPIC_CONFIG
            }
            if own.get(TIMESTAMP_TYPE) != kind:
                changed.append(
                    ConfigResource(ConfigResourceType.TOPIC, resource["resource_name"], {**own, TIMESTAMP_TYPE: kind})
                )
    if changed:
        for response in await client.alter_configs(changed):
            for resource in response.to_object()["resources"]:
                _raise(resource, "alter")
        log.info("topics' timestamp type set to %s: %s", kind, [r.name for r in changed])
    return sorted(r.name for r in changed)


def _raise(resource: dict[str, object], what: str) -> None:
    code = resource["error_code"]
    if code:
        assert isinstance(code, int)
        raise NotStamped(
            f"cannot {what} the configuration of topic {resource['resource_name']}: {for_code(code).__name__}"
            f" ({resource['error_message'] or 'no detail'}); provisioning runs as the cluster's admin"
        )
