"""Topic registry: every Kafka topic LgNet uses, created explicitly at start-up (never by auto-creation).

Fact topics keep their records forever (retention.ms=-1): the log is the system of record auditors replay.
Logical names ('intake.events') become physical names with an optional prefix: '<prefix>lgnet.intake.events'.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

log = logging.getLogger(__name__)
FOREVER = "-1"
DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class Topic:
    name: str
    partitions: int
    key: str
    fact: bool
    description: str
    retention_ms: str = FOREVER
    # Need-to-know: a restricted topic is read only by the deployments of the services named in `readers` (and the
    # principals named there, e.g. "auditor"); the broker's ACLs are derived from it. Unrestricted: every reader
    # the default policy allows.
    restricted: bool = False
    readers: tuple[str, ...] = ()

    def physical(self, prefix: str = "") -> str:
        return f"{prefix}lgnet.{self.name}"

    def configs(self) -> dict[str, str]:
        cfg = {"retention.ms": self.retention_ms if not self.fact else FOREVER, "cleanup.policy": "delete"}
        if self.fact:
            cfg["retention.bytes"] = "-1"
        return cfg


# Who needs special-category data: housing matches specialist-support needs and weighs vulnerabilities; reporting
# counts persons by vulnerability; auditors replay those counts (docs/operators.md, "Special-category data").
SPECIAL_READERS = ("housing", "reporting", "auditor")

TOPICS: dict[str, Topic] = {
    t.name: t
    for t in (
        Topic(
            "intake.events",
            6,
            "person, household or case id",
            True,
            "Canonical intake facts: persons, households, referrals, cases, plans, consent, erasure",
        ),
        Topic(
            "intake.special",
            6,
            "case id",
            True,
            "Special-category intake facts (needs assessments: vulnerabilities such as psychiatric condition or"
            " addiction, specialist support, income): need-to-know",
            restricted=True,
            readers=SPECIAL_READERS,
        ),
        Topic(
            "housing.events",
            6,
            "opportunity, household or match id",
            True,
            "Housing facts: catalogue, proposals, placements, leases, holds",
        ),
        Topic(
            "payments.events",
            6,
            "budget line, request, batch or voucher id",
            True,
            "Payment facts: budgets, contribution requests, approvals, disbursements, vouchers",
        ),
        Topic(
            "reporting.events",
            1,
            "report id",
            True,
            "Published reports with their digest and the log positions they cover",
        ),
        Topic(
            "partner.inbound",
            6,
            "partner's aggregate id",
            True,
            "What partners' systems send (CloudEvents, structured or binary); intake gatekeeps it",
            restricted=True,
            readers=("intake",),
        ),
        Topic(
            "partner.rejections",
            3,
            "partner id",
            False,
            "Answers to inbound events intake refused, naming the field and reason",
            str(400 * DAY_MS),
        ),
        Topic(
            "deadletter",
            3,
            "original key",
            True,
            "Records a consumer could not process after bounded retries, with origin and error headers",
        ),
    )
}


def physical(logical: str, prefix: str = "") -> str:
    return TOPICS[logical].physical(prefix)


async def ensure_topics(
    bootstrap: str, prefix: str = "", names: list[str] | None = None, replication: int = 1
) -> list[str]:
    """Create the registry's topics that do not exist yet; returns the physical names created."""
    wanted = [TOPICS[n] for n in (names or list(TOPICS))]
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in wanted if t.physical(prefix) not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # another service created it meanwhile
                await admin.create_topics(
                    [
                        NewTopic(t.physical(prefix), t.partitions, replication, topic_configs=t.configs())
                        for t in missing
                    ]
                )
            log.info("created topics %s", [t.physical(prefix) for t in missing])
        return [t.physical(prefix) for t in missing]
    finally:
        await admin.close()
