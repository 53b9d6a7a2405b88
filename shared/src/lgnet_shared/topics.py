"""Topic registry: every Kafka topic LgNet uses, created explicitly at start-up (never by auto-creation).

Fact topics keep their records forever (retention.ms=-1): the log is the system of record auditors replay. The
services' fact topics carry the broker's time on every record (LogAppendTime: `Topic.broker_time`, broker_time.py).
Logical names ('intake.events') become physical names with an optional prefix: '<prefix>lgnet.intake.events'.

Each topic also says who writes and who reads it, by role: a service (`intake`, `housing`, `payments`,
`reporting`: any deployment of it, a city's or the national one), `partner`, `auditor`, `national` (the national
coordination), `notary` (the notary's own principal: reads the fact topics, writes the checkpoints). The broker's
ACLs are derived from these sets (lgnet_shared.kafka_acls), never hand-listed.
A per-partner topic (`partner.rejections.{partner}`, `partner.reminders.{partner}`) is a family: one physical topic
per partner, created when the partner is provisioned (or by its writer, first), so a partner's ACL can name exactly
its own. A per-writer topic (`signing-keys.{writer}`, writer = `<deployment>.<service>`) is a family too: one topic
per service deployment, which only that deployment's service may write (its fact-signing keys), so no deployment can
register a key in another's name. A per-city topic (`partner.inbound.{city}`) is a family of the 16 cities' topics:
a partner writes its own city's only and a city's intake reads its own city's only (a `national` intake, every
city's), so no city reads another city's partners' records (needs assessments are special-category data).
"""

from __future__ import annotations

import contextlib
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code

from lgnet_shared.broker_time import LOG_APPEND_TIME, TIMESTAMP_TYPE
from lgnet_shared.cities import CITIES, NATIONAL, programme_cities, served_cities
from lgnet_shared.kafka import KafkaSecurity, client_kwargs
from lgnet_shared.kafka_health import existing_topics, wait_until_writable

log = logging.getLogger(__name__)
FOREVER = "-1"
DAY_MS = 24 * 3600 * 1000
SERVICES = ("intake", "housing", "payments", "reporting")
ROLES = (*SERVICES, "partner", "auditor", "national", "notary")
# Auditors and the national level read canonical facts only; the notary reads them to hash them into its trees.
FACT_READERS = frozenset({"auditor", "national", "notary"})
PARTNER = "{partner}"
WRITER = "{writer}"  # '<deployment>.<service>': a per-writer family's member
CITY = "{city}"  # one of the 16 cities: a per-city family's member
OLD_INBOUND = "partner.inbound"  # every city's partners' records, before the per-city topics (drained, then removed)


@dataclass(frozen=True)
class Topic:
    name: str
    partitions: int
    key: str
    fact: bool
    description: str
    retention_ms: str = FOREVER
    writers: frozenset[str] = field(default_factory=frozenset)  # roles that may produce to it
    readers: frozenset[str] = field(default_factory=frozenset)  # roles that may consume it
    compacted: bool = False  # the latest record per key is kept forever (a registry, not a log)
    # No longer written: kept where a cluster from before holds it (history, a drain), never made anew.
    retired: bool = False
    # Each record stamped with the broker's time (LogAppendTime), not its producer's: the services' fact topics, whose
    # facts the national consumers judge by it (owned_ids.judged, broker_time).
    broker_time: bool = False

    @property
    def per_partner(self) -> bool:
        return PARTNER in self.name

    @property
    def per_writer(self) -> bool:
        return WRITER in self.name

    @property
    def per_city(self) -> bool:
        return CITY in self.name

    @property
    def family(self) -> bool:
        """One physical topic per partner, per writer or per city, not one topic."""
        return self.per_partner or self.per_writer or self.per_city

    @property
    def placeholder(self) -> str:
        return PARTNER if self.per_partner else WRITER if self.per_writer else CITY

    def physical(
        self, prefix: str = "", partner: str | None = None, writer: str | None = None, city: str | None = None
    ) -> str:
        if self.per_city:
            if city not in CITIES:
                raise ValueError(f"topic {self.name} is per city: name one of the 16 cities, not {city!r}")
            return f"{prefix}lgnet.{self.name.replace(CITY, city)}"
        if self.per_partner:
            if partner is None:
                raise ValueError(f"topic {self.name} is per partner: name the partner")
            return f"{prefix}lgnet.{self.name.replace(PARTNER, partner)}"
        if self.per_writer:
            if writer is None:
                raise ValueError(f"topic {self.name} is per writer: name the deployment and service")
            return f"{prefix}lgnet.{self.name.replace(WRITER, writer)}"
        return f"{prefix}lgnet.{self.name}"

    def family_prefix(self, prefix: str = "") -> str:
        """Physical name prefix shared by every topic of a family ('<prefix>lgnet.partner.rejections.')."""
        return f"{prefix}lgnet.{self.name.split('{')[0]}"

    def configs(self) -> dict[str, str]:
        if self.compacted:
            return {"cleanup.policy": "compact", "retention.ms": FOREVER}
        cfg = {"retention.ms": self.retention_ms if not self.fact else FOREVER, "cleanup.policy": "delete"}
        if self.fact:
            cfg["retention.bytes"] = "-1"
        if self.broker_time:
            cfg[TIMESTAMP_TYPE] = LOG_APPEND_TIME
        return cfg


# Who needs special-category data: housing matches specialist-support needs and weighs vulnerabilities; reporting
# counts persons by vulnerability; auditors replay those counts (docs/operators.md, "Special-category data").
# Need-to-know: special-category data is read by the services that use it (matching, counts) and by auditors,
# who must reproduce the counts by vulnerability; not by payments, partners or the national coordination.
# The notary hashes every fact topic's records (it never decodes them).
SPECIAL_READERS = frozenset({"housing", "reporting", "auditor", "notary"})

TOPICS: dict[str, Topic] = {
    t.name: t
    for t in (
        Topic(
            "intake.events",
            6,
            "person, household or case id",
            True,
            "Canonical intake facts: persons, households, referrals, cases, plans, consent, erasure",
            writers=frozenset({"intake"}),
            readers=frozenset({"housing", "payments", "reporting"}) | FACT_READERS,
            broker_time=True,
        ),
        Topic(
            "intake.special",
            6,
            "case id",
            True,
            "Special-category intake facts (needs assessments: vulnerabilities such as psychiatric condition or"
            " addiction, specialist support, income): need-to-know",
            writers=frozenset({"intake"}),
            readers=SPECIAL_READERS,
            broker_time=True,
        ),
        Topic(
            "housing.events",
            6,
            "opportunity, household or match id",
            True,
            "Housing facts: catalogue, proposals, placements, leases, holds",
            writers=frozenset({"housing"}),
            readers=frozenset({"payments", "reporting"}) | FACT_READERS,
            broker_time=True,
        ),
        Topic(
            "payments.events",
            6,
            "budget line, request, batch or voucher id",
            True,
            "Payment facts: budgets, contribution requests, approvals, disbursements, vouchers",
            writers=frozenset({"payments"}),
            readers=frozenset({"reporting"}) | FACT_READERS,
            broker_time=True,
        ),
        Topic(
            "reporting.events",
            1,
            "report id",
            True,
            "Published reports with their digest and the log positions they cover",
            writers=frozenset({"reporting"}),
            readers=frozenset({"reporting"}) | FACT_READERS,
            broker_time=True,
        ),
        Topic(
            "partner.inbound.{city}",
            # One city's partners (a few cooperatives), not every city's: 2 partitions let two gatekeeper processes
            # share a city's records; 16 topics of 6 (96 partitions a national intake fetches) made every idle fetch
            # and every test's topic creation dearer (the suite took half as long again).
            2,
            "the partner id (one partner's events stay in order)",
            True,
            "What one city's partners' systems send (CloudEvents, structured or binary); the city's intake (and a"
            " national one) gatekeeps it. Per city, so that no city reads another's partners' records",
            writers=frozenset({"partner"}),  # each partner its own city's topic only
            readers=frozenset({"intake"}),  # a city's deployment its city's topic only, a national one every city's
        ),
        Topic(
            OLD_INBOUND,
            6,
            "the partner id",
            True,
            "Before per-city topics: every city's partners' records in one topic. No longer written; read only by"
            " an intake deployment draining it after the upgrade (lgnet-kafka-admin add-deployment"
            " --drain-old-inbound), since an ACL cannot filter one city's records (docs/operators.md)",
            retired=True,
        ),
        Topic(
            "partner.rejections.{partner}",
            1,
            "partner id",
            False,
            "One partner's answers to its inbound events intake refused, naming the field and reason",
            str(400 * DAY_MS),
            writers=frozenset({"intake"}),
            readers=frozenset({"partner"}),  # each partner its own topic of the family only
        ),
        Topic(
            "partner.reminders.{partner}",
            1,
            "partner id",
            False,
            "One partner's reminders about its own cases: appointments due tomorrow (intake), match steps stalled"
            " past the city's limit (housing). Ids and codes only, no personal data; each record signed by its"
            " producer like every record LgNet publishes. A notification feed derived from the facts, not a fact",
            str(400 * DAY_MS),
            writers=frozenset({"intake", "housing"}),
            readers=frozenset({"partner"}),  # each partner its own topic of the family only
        ),
        Topic(
            "partner.rejections",
            3,
            "partner id",
            False,
            "Before per-partner topics: every partner's rejections in one topic. No longer written; kept for"
            " history, readable by operators (admin) only, since an ACL cannot filter one partner's records",
            str(400 * DAY_MS),
            retired=True,
        ),
        Topic(
            "partner.cities",
            1,
            "partner id",
            False,
            "Which city each partner works in (value: the city; a tombstone once revoked), as the operator provisions"
            " it (lgnet-kafka-admin add-partner --city): a city's intake and housing deployments get WRITE on"
            " exactly their own city's partners' answer topics. The operator's (admin) only",
            compacted=True,
        ),
        Topic(
            "signing-keys.{writer}",
            1,
            "key id",
            False,
            "One service deployment's registry of the public keys it signs its facts with"
            " (lgnet_shared.fact_signing): only that deployment's service may write it (literal ACL), so no"
            " deployment can register a key in another's name; consumers, auditors and partners (who verify"
            " their answers: the SDK) read every one",
            writers=frozenset(SERVICES),  # each its own member of the family only
            readers=frozenset(SERVICES) | FACT_READERS | {"partner"},  # public keys: nothing secret to read
            compacted=True,
        ),
        Topic(
            "checkpoints",
            1,
            "origin (lgnet/<fact topic>/<partition>)",
            True,
            "The notary's signed checkpoints of every fact topic-partition (C2SP tlog-checkpoint signed notes):"
            " written by the notary's own principal only, so no deployment can publish checkpoints",
            writers=frozenset({"notary"}),
            readers=frozenset({"reporting"}) | FACT_READERS,
        ),
        Topic(
            "deadletter",
            3,
            "original key",
            True,
            "Records a consumer could not process after bounded retries, with origin and error headers",
            writers=frozenset(SERVICES),  # read and replayed by operators (lgnet-deadletters, admin)
        ),
    )
}


PARTNER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
# '<deployment>.<service>' as a topic name may hold it (principals' deployments are stricter: kafka_acls.DEPLOYMENT)
WRITER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,120}\.[A-Za-z0-9_-]{1,40}")


def physical(logical: str, prefix: str = "") -> str:
    """'<prefix>lgnet.<logical>'; `logical` is a registry name or one member of a per-partner family
    ('partner.rejections.coop-aurora')."""
    if logical in TOPICS:
        return TOPICS[logical].physical(prefix)
    family, member = family_of(logical)
    if family.per_writer:
        return family.physical(prefix, writer=member)
    if family.per_city:
        return family.physical(prefix, city=member)
    return family.physical(prefix, member)


def family_of(logical: str) -> tuple[Topic, str]:
    """The family (per-partner, per-writer or per-city topic) a logical name belongs to, and the member (the
    partner, '<deployment>.<service>' or the city); KeyError if none."""
    for t in TOPICS.values():
        if not t.family:
            continue
        head, _, tail = t.name.partition(t.placeholder)
        if logical.startswith(head) and logical.endswith(tail) and len(logical) > len(head) + len(tail):
            member = logical[len(head) : len(logical) - len(tail)]
            if t.per_city and member in CITIES:
                return t, member
            if t.per_partner and PARTNER_ID.fullmatch(member):
                return t, member
            if t.per_writer and WRITER_ID.fullmatch(member):
                return t, member
    raise KeyError(f"no topic {logical!r} in the registry")


def for_writer(logical: str, deployment: str, service: str) -> str:
    """Logical name of a per-writer topic for one service deployment ('signing-keys.torino.intake')."""
    member = f"{deployment}.{service}"
    if not WRITER_ID.fullmatch(member):
        raise ValueError(f"{member!r} cannot name a topic: <deployment>.<service>")
    return TOPICS[logical].name.replace(WRITER, member)


def for_partner(logical: str, partner: str) -> str:
    """Logical name of a per-partner topic for one partner ('partner.rejections.coop-aurora')."""
    if not PARTNER_ID.fullmatch(partner):
        raise ValueError(f"partner id {partner!r} cannot name a topic: letters, digits, '-' or '_', at most 64")
    return TOPICS[logical].name.replace(PARTNER, partner)


def for_city(logical: str, city: str) -> str:
    """Logical name of a per-city topic for one city ('partner.inbound.torino')."""
    if city not in CITIES:
        raise ValueError(f"city {city!r}: one of {', '.join(CITIES)}")
    return TOPICS[logical].name.replace(CITY, city)


def city_of_topic(logical: str) -> str | None:
    """The city of a per-city topic ('partner.inbound.torino' → 'torino'); None for any other topic."""
    try:
        family, member = family_of(logical)
    except KeyError:
        return None
    return member if family.per_city else None


def partner_inbound(city: str, prefix: str = "") -> str:
    """The physical topic a partner of `city` sends its records to ('<prefix>lgnet.partner.inbound.torino')."""
    return physical(for_city("partner.inbound.{city}", city), prefix)


def cities_served(city: str) -> tuple[str, ...]:
    """The cities a deployment or partner of `city` serves: its own, or for `national` every city taking part on the
    cluster (`programme_cities`: all 16 unless the operator names fewer) but those LGNET_SERVED_CITIES leaves out
    (cities running their own deployment of the service)."""
    return served_cities() if city == NATIONAL else (city,)


def city_topics(role: str, city: str) -> list[str]:
    """Logical per-city topics a role uses as a party of `city` ('partner.inbound.torino'); a national party's:
    every city's."""
    return [
        for_city(t.name, c)
        for t in TOPICS.values()
        if t.per_city and role in t.readers | t.writers
        for c in cities_served(city)
    ]


def registry_topics() -> list[str]:
    """Logical names of the topics made up front (`create-topics`, the cluster owner's KafkaTopics): every topic
    that is not a family and not retired, and each programme city's member of a per-city one
    ('partner.inbound.torino'). Per-partner and per-writer topics are made when their partner or deployment is
    provisioned."""
    out = []
    for t in TOPICS.values():
        if t.per_city:
            out += [for_city(t.name, city) for city in programme_cities()]
        elif not t.family and not t.retired:
            out.append(t.name)
    return out


def broker_stamped(names: list[str] | None = None, prefix: str = "") -> list[str]:
    """Physical names of the topics among `names` (logical; None: `registry_topics()`) whose records the broker
    stamps (`Topic.broker_time`): those provisioning switches where a cluster from before holds them."""
    return [physical(n, prefix) for n in names or registry_topics() if n in TOPICS and TOPICS[n].broker_time]


def retired_topics() -> list[str]:
    """Logical names of the topics no longer written ('partner.inbound', the shared 'partner.rejections'): a cluster
    from before keeps them (a drain, history) until an operator removes them; none is made anew."""
    return [t.name for t in TOPICS.values() if t.retired]


def used_by(role: str) -> list[str]:
    """Logical topics a role reads or writes (families excluded)."""
    return [t.name for t in TOPICS.values() if not t.family and role in t.readers | t.writers]


def min_insync(replication: int) -> int:
    """In-sync replicas an acks=all write needs (topic config `min.insync.replicas`): with 3 replicas or more, 2 —
    one broker may go and writes go on, and no acknowledged record was ever on one broker only; with fewer, 1 (a
    lone broker must accept writes)."""
    return 2 if replication >= 3 else 1


class TopicsNotCreated(RuntimeError):
    pass


async def ensure_topics(
    bootstrap: str,
    prefix: str = "",
    names: list[str] | None = None,
    replication: int = 1,
    security: KafkaSecurity | None = None,
) -> list[str]:
    """Create the registry's topics that do not exist yet; returns the physical names created. Names may be
    members of a family ('partner.rejections.coop-aurora'); None means `registry_topics()`.
    Security: `security`, else the KAFKA_* environment. Raises TopicsNotCreated when the broker refuses."""
    wanted: list[tuple[str, Topic]] = []
    for n in names or registry_topics():
        topic = TOPICS[n] if n in TOPICS else family_of(n)[0]
        wanted.append((physical(n, prefix), topic))
    admin = AIOKafkaAdminClient(**client_kwargs(bootstrap, security))
    await admin.start()
    try:
        # Only the wanted topics (a shared cluster's whole list is every deployment's); those this principal may
        # not describe come back as errors and count as missing, as they did in the whole list.
        existing = await existing_topics(admin._client, [name for name, _ in wanted])
        missing = [(name, t) for name, t in wanted if name not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # another service created it meanwhile
                response = await admin.create_topics(
                    [
                        NewTopic(
                            name,
                            t.partitions,
                            replication,
                            topic_configs={**t.configs(), "min.insync.replicas": str(min_insync(replication))},
                        )
                        for name, t in missing
                    ]
                )
                _raise_errors(response)
            await wait_until_writable(admin._client, [name for name, _ in missing])
            log.info("created topics %s", [name for name, _ in missing])
        return [name for name, _ in missing]
    finally:
        await admin.close()


def _raise_errors(response: Any) -> None:
    errors = []
    for topic_error in response.topic_errors:
        name, code = topic_error[0], topic_error[1]
        if code == TopicAlreadyExistsError.errno or code == 0:
            continue
        errors.append(f"{name}: {for_code(code).__name__}")
    if errors:
        raise TopicsNotCreated(
            "could not create topics (" + ", ".join(errors) + "); topics are created by an operator with"
            " `lgnet-kafka-admin add-deployment` (or `create-topics`), or the principal lacks CREATE"
        )
