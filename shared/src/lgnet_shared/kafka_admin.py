"""lgnet-kafka-admin: provision who may use the shared Kafka cluster (SCRAM credentials + ACLs from the registry).

    lgnet-kafka-admin tls --out DIR --host kafka.example     a CA and the broker's certificate (no broker needed)
    lgnet-kafka-admin add-deployment --city torino --service intake [--deployment NAME] [--drain-old-inbound]
    lgnet-kafka-admin add-partner coop-aurora --city torino
    lgnet-kafka-admin add-auditor eu-audit
    lgnet-kafka-admin add-national [NAME]            (default: main → coordination.main)
    lgnet-kafka-admin add-notary [NAME]              the notary (default: national → notary.national)
    lgnet-kafka-admin rotate partner.coop-aurora     new password, same ACLs
    lgnet-kafka-admin revoke partner.coop-aurora     credentials and ACLs deleted
    lgnet-kafka-admin acls partner.coop-aurora       ACLs the broker has vs what the registry derives (a partner's
                                                     city: as recorded, or --city)
    lgnet-kafka-admin list                           every SCRAM user and its ACL count
    lgnet-kafka-admin create-topics                  the registry's topics (add-* also creates what it needs);
                                                     fact topics of before switched to the broker's time
    lgnet-kafka-admin old-inbound [--delete]         after the upgrade: records left on the old shared inbound
                                                     topic per draining deployment and per city; --delete once
                                                     each city's records are read by a deployment of that city
    lgnet-kafka-admin strimzi --deployment torino [--services intake,...] [--topics] [--notary] [--partners a,b]
                                                     Strimzi KafkaTopic/KafkaUser specs as Helm values (no broker)

Runs as the cluster's admin: KAFKA_BOOTSTRAP_SERVERS and the admin's KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_*,
KAFKA_SSL_CAFILE (`make` loads them from .local/infra.env); LGNET_TOPIC_PREFIX or --topic-prefix. A new password is
printed once, as the KAFKA_* lines the new party puts in its environment (or written to --env-file, mode 600).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from aiokafka.structs import TopicPartition

from lgnet_shared import admin_actions, broker_time, old_inbound
from lgnet_shared import kafka_acls as ka
from lgnet_shared.cities import (
    CITIES,
    NATIONAL,
    PROGRAMME_VAR,
    SERVED_VAR,
    deployment_rule,
    outside_programme,
    programme_cities,
    served_cities,
)
from lgnet_shared.kafka import (
    READ_AND_GO,
    KafkaConfigError,
    KafkaSecurity,
    client_kwargs,
    offset_bounds,
    refused_login,
    unread_count,
)
from lgnet_shared.kafka_tls import make_tls, write_private
from lgnet_shared.topics import (
    OLD_INBOUND,
    SERVICES,
    TOPICS,
    TopicsNotCreated,
    broker_stamped,
    city_topics,
    ensure_topics,
    for_partner,
    for_writer,
    partner_inbound,
    physical,
    used_by,
)

CITIES_AND_NATIONAL = (*CITIES, NATIONAL)
PARTNER_CITIES = "partner.cities"  # which city each partner works in: the operator's own record
# Who writes the partners' answer topics (rejections, reminders): intake and housing deployments
ANSWERERS = frozenset().union(*(t.writers for t in TOPICS.values() if t.per_partner))


class Fail(Exception):
    pass


def check_programme(principal: ka.Principal) -> None:
    """Fail for a party of a city not taking part on this cluster (LGNET_PROGRAMME_CITIES): the national
    deployments would never read its partners, nor its deployment's city be served by them."""
    if why := outside_programme(principal.city):
        raise Fail(f"{principal.name}: {why}")


class Admin:
    """An admin connection plus what provisioning needs."""

    def __init__(
        self, bootstrap: str, security: KafkaSecurity, topic_prefix: str = "", replication: int | None = None
    ) -> None:
        # Topics it creates: as replicated as the deployment's (LGNET_TOPIC_REPLICATION), unless told.
        replication = replication or int(os.environ.get("LGNET_TOPIC_REPLICATION") or 1)
        self.bootstrap, self.security, self.prefix, self.replication = bootstrap, security, topic_prefix, replication
        self.client = AIOKafkaAdminClient(**client_kwargs(bootstrap, security), request_timeout_ms=10000)
        self.stamped: list[str] = []  # topics of a cluster from before it switched to the broker's time

    async def __aenter__(self) -> Admin:
        try:
            async with asyncio.timeout(20):
                await self.client.start()
        except (TimeoutError, KafkaError, OSError) as exc:
            await self.client.close()
            if refused := refused_login(exc):  # reached, login refused
                raise Fail(
                    f"Kafka at {self.bootstrap} refused the login of {self.security.sasl_username!r}"
                    f" (KAFKA_SASL_USERNAME / KAFKA_SASL_PASSWORD: a wrong password or an unknown user): {refused}"
                ) from None
            raise Fail(
                f"cannot reach Kafka at {self.bootstrap} as {self.security.sasl_username or 'anonymous'}"
                f" ({type(exc).__name__}: {exc}); check KAFKA_BOOTSTRAP_SERVERS and the admin's KAFKA_* settings"
            ) from None
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.client.close()

    async def topics_for(self, principal: ka.Principal) -> list[str]:
        """Create the topics the principal uses (per-partner ones included) that are missing."""
        names = used_by(principal.role)
        if principal.partner is not None:
            names += [for_partner(t.name, principal.partner) for t in TOPICS.values() if t.per_partner]
        if principal.deployment is not None:  # its own signing-key registry
            names += [for_writer(t.name, principal.deployment, principal.role) for t in TOPICS.values() if t.per_writer]
        if principal.city is not None:  # its city's inbound topic (a national intake: every city's)
            names += city_topics(principal.role, principal.city)
        return await self.create_topics(names)

    async def create_topics(self, names: list[str] | None = None) -> list[str]:
        """The missing topics of `names` (None: the registry's) created, and those a cluster from before holds
        switched to the broker's time where the registry wants it (broker_time: what the owners' rule judges by);
        returns the physical names created."""
        created = await ensure_topics(self.bootstrap, self.prefix, names, self.replication, self.security)
        older = [n for n in broker_stamped(names, self.prefix) if n not in created]
        self.stamped += await broker_time.stamp(self.client, older)
        return created

    async def exists(self, user: str) -> bool:
        return user in await ka.users(self.client, [user])

    async def partner_cities(self) -> dict[str, str]:
        """Every partner's city, as provisioned (`add-partner --city`): the operator's own compacted topic, read to
        its end (the latest record per partner; a tombstone: revoked)."""
        await self.create_topics([PARTNER_CITIES])
        tp = TopicPartition(physical(PARTNER_CITIES, self.prefix), 0)
        consumer = AIOKafkaConsumer(
            **client_kwargs(self.bootstrap, self.security), **READ_AND_GO, enable_auto_commit=False
        )
        await consumer.start()
        try:
            consumer.assign([tp])
            consumer.seek(tp, (await consumer.beginning_offsets([tp]))[tp])  # set at once (see old_inbound)
            end, found = (await consumer.end_offsets([tp]))[tp], dict[str, str]()
            while await consumer.position(tp) < end:
                for r in (await consumer.getmany(tp, timeout_ms=1000)).get(tp, []):
                    partner = (r.key or b"").decode()
                    if r.value is None:
                        found.pop(partner, None)
                    else:
                        found[partner] = r.value.decode()
            return found
        finally:
            await consumer.stop()

    async def set_partner_city(self, partner: str, city: str | None) -> None:
        """Record a partner's city (None: forget it, when it is revoked)."""
        await self.create_topics([PARTNER_CITIES])
        # Acknowledged by every in-sync replica: with acks=1 a leader's loss could drop it, and until the followers
        # have it, it sits above the high watermark, where a read-back to the end does not see it.
        producer = AIOKafkaProducer(**client_kwargs(self.bootstrap, self.security), acks="all")
        await producer.start()
        try:
            value = city.encode() if city is not None else None
            await producer.send_and_wait(physical(PARTNER_CITIES, self.prefix), value, key=partner.encode())
        finally:
            await producer.stop()

    async def answering_deployments(self, city: str) -> list[ka.Principal]:
        """The city's deployments that answer partners (intake, housing) under this topic prefix: the service users
        whose consumer-group ACL is this prefix's (a deployment's city is read off its name)."""
        found = set()
        for acl in await ka.describe_acls(self.client):
            if acl.resource_type != ka.ResourceType.GROUP:
                continue
            try:
                principal = ka.Principal.parse(acl.principal)
            except ka.PrincipalError:
                continue  # not an LgNet principal, or a deployment named before the naming rule
            if (
                principal.role in ANSWERERS
                and principal.city == city
                and acl.resource_name == principal.group_prefix(self.prefix)
            ):
                found.add(principal)
        return sorted(found, key=lambda p: p.name)

    async def revoke(self, principal: ka.Principal) -> tuple[bool, int]:
        """Delete the principal's credentials and ACLs (and a partner's city: its city's deployments no longer get
        its topics when added again, and lose their rights on its answer topics now); whether it had credentials, and
        how many ACLs went (its own and the deployments' on its answer topics)."""
        had = await ka.delete_credentials(self.client, principal.name)
        removed = await ka.delete_acls(self.client, principal.user)
        if principal.partner is not None:
            await self.set_partner_city(principal.partner, None)
            removed += await self.take_back_answers(principal.partner, None)
        return had, removed

    async def check_leaving(self, principal: ka.Principal) -> None:
        """A national intake provisioned for a smaller programme loses READ on the inbound topics of the cities that
        left it, whose records are kept for ever: refused while such a city still has partners on record (they could
        go on writing, unread and unanswered) or records on its topic that the national gatekeeper has not read. Only
        a READ it holds now is at stake: once dropped, the city's topic is no longer its concern (its group's offsets
        there expire), nor is it ever for a national intake that never read it. A city left out of
        LGNET_SERVED_CITIES loses it the same way, and is held the same way unless another deployment (the city's own
        intake) reads its topic: its partners and records are then that deployment's, as the city runs its own."""
        if principal.role != "intake" or principal.city != NATIONAL:
            return
        taking_part, served = programme_cities(), served_cities()
        reads = {
            a.resource_name
            for a in await ka.describe_acls(self.client, principal.user)
            if a.operation == ka.Op.READ and a.resource_type == ka.ResourceType.TOPIC
        }
        dropped = [c for c in CITIES if c not in served and partner_inbound(c, self.prefix) in reads]
        if not dropped:
            return
        # A city still taking part but not served, whose topic another principal reads: the city's own deployment's.
        read_elsewhere = {
            a.resource_name
            for a in await ka.describe_acls(self.client)
            if a.operation == ka.Op.READ and a.resource_type == ka.ResourceType.TOPIC and a.principal != principal.user
        }
        leaving = [c for c in dropped if c not in taking_part or partner_inbound(c, self.prefix) not in read_elsewhere]
        partners = await self.partner_cities()
        group = principal.group_prefix(self.prefix) + old_inbound.GATEKEEPER
        problems = []
        for city in leaving:
            topic = partner_inbound(city, self.prefix)
            named = sorted(p for p, c in partners.items() if c == city)
            unread = await self.unread(topic, group)
            if named:
                problems.append(f"{city}: partners {', '.join(named)} still on record (lgnet-kafka-admin revoke)")
            if unread:
                problems.append(f"{city}: {unread} record(s) on {topic} not yet read by {principal.name}")
        if problems:
            whose, fixes = [], []
            if any(c not in taking_part for c in leaving):
                whose.append(f"cities leaving the programme ({PROGRAMME_VAR}={','.join(taking_part)})")
                fixes.append(
                    "Keep the city in the programme until its partners are revoked and its records read"
                    ' (docs/operators.md, "A city leaves the programme")'
                )
            if any(c in taking_part for c in leaving):
                whose.append(f"cities no longer served ({SERVED_VAR}={','.join(served)}) that nothing else reads")
                fixes.append(
                    "Provision the city's own intake first (lgnet-kafka-admin add-deployment --city <city> --service"
                    " intake: it reads them), or keep the city served until its partners are revoked and its records"
                    ' read (docs/operators.md, "A city joins an existing cluster")'
                )
            raise Fail(
                f"{principal.name} would stop reading the inbound topics of {' and '.join(whose)}: "
                + "; ".join(problems)
                + ". "
                + ". ".join(fixes)
            )

    async def check_served_elsewhere(self, principal: ka.Principal) -> None:
        """A new intake deployment of a city whose partners' topic another intake deployment already reads (the
        national one serving the city, or another of the city's) cannot take over its partners: their records are
        sealed to that deployment's inbound key and signed with keys registered in its schema, so every one would be
        dead-lettered (unknown partner key) and refused again when re-driven. Refused while the city has partners on
        record or records on the topic; a city new to the platform (neither) is not held, so that its own intake can
        be provisioned before the national one stops serving it. Re-provisioning a deployment that already reads the
        topic only refreshes it. No override: nothing makes those records readable by the new deployment."""
        if principal.role != "intake" or principal.city in (None, NATIONAL):
            return
        city, topic = principal.city or "", partner_inbound(principal.city or "", self.prefix)
        readers = {
            a.principal
            for a in await ka.describe_acls(self.client)
            if a.operation == ka.Op.READ and a.resource_type == ka.ResourceType.TOPIC and a.resource_name == topic
        }
        if principal.user in readers:
            return
        others = sorted(_intake_name(user) for user in readers if _intake_name(user))
        if not others:
            return
        named = sorted(p for p, c in (await self.partner_cities()).items() if c == city)
        records = await self.unread(topic, None)
        if not named and not records:
            return
        held = ([f"partners {', '.join(named)} on record"] if named else []) + (
            [f"{records} record(s) on {topic}"] if records else []
        )
        raise Fail(
            f"{principal.name}: {city} is already served by {', '.join(others)}, which reads {topic} ("
            + " and ".join(held)
            + f"): its partners' records are sealed to that deployment's key and signed with keys registered there, so"
            f" {principal.name} would dead-letter every one. Moving a city off a deployment that serves it is not"
            f" supported: keep {city} served there, or add its own intake only for a city new to the platform"
            ' (docs/operators.md, "A city joins an existing cluster")'
        )

    async def unread(self, topic: str, group: str | None) -> int:
        """Records on `topic` past the consumer group's committed offsets (past the first retained one where it has
        none; None: every record retained)."""
        [described] = await self.client.describe_topics([topic])
        if described["error_code"] or not described["partitions"]:  # never counted as read for want of a look
            raise Fail(f"cannot describe {topic} (error code {described['error_code']}): its records cannot be counted")
        partitions = [TopicPartition(topic, p["partition"]) for p in described["partitions"]]
        read = {}
        if group is not None:
            committed = await self.client.list_consumer_group_offsets(group, partitions=partitions)
            read = {tp: meta.offset for tp, meta in committed.items() if meta.offset >= 0}
        firsts, ends = await offset_bounds(client_kwargs(self.bootstrap, self.security), partitions)
        return unread_count(firsts, ends, read)

    async def take_back_answers(self, partner: str, city: str | None) -> int:
        """Delete the LITERAL ACLs on the partner's answer topics of every deployment not of `city` (None: of every
        party: it is revoked), so that no other city's deployment writes (forges) its answers after it moved; a
        national deployment's are PREFIXED and stay. Returns how many went."""
        topics = {physical(for_partner(t.name, partner), self.prefix) for t in TOPICS.values() if t.per_partner}
        if city is None:
            return sum([await ka.delete_topic_acls(self.client, topic) for topic in sorted(topics)])
        stale = set()
        for acl in await ka.describe_acls(self.client):
            if acl.resource_name in topics and acl.pattern == ka.Pattern.LITERAL and _of_another_city(acl, city):
                stale.add((acl.resource_name, acl.principal))
        return sum([await ka.delete_topic_acls(self.client, topic, user) for topic, user in sorted(stale)])

    async def provision(
        self, principal: ka.Principal, *, password: str | None = None, exclusive: bool = True
    ) -> tuple[str | None, list[ka.Acl]]:
        """Topics, ACLs and (for a new user, or when `password` is given) SCRAM credentials. Returns the new
        password (None when the user existed and keeps its own) and the ACLs (`exclusive`: see `ka.grant`). A
        partner with a city is recorded as that city's, and the city's running intake and housing deployments get
        WRITE on its answer topics (another city's, after a move, lose it); a deployment that answers partners gets
        WRITE on its city's partners' ones."""
        check_programme(principal)
        await self.check_leaving(principal)
        await self.check_served_elsewhere(principal)
        await self.topics_for(principal)
        partner_of_city = principal.partner is not None and principal.city is not None
        if partner_of_city:
            await self.set_partner_city(principal.partner or "", principal.city)
        cities = await self.partner_cities() if partner_of_city or principal.role in ANSWERERS else None
        if partner_of_city and cities is not None:  # as just written, whether or not the read-back has it yet
            cities[principal.partner or ""] = principal.city or ""
        new = password
        if password is None and not await self.exists(principal.name):
            new = ka.new_password()
        if new is not None:
            await ka.set_password(self.client, principal.name, new)
        acls = await ka.grant(self.client, principal, self.prefix, exclusive=exclusive, partner_cities=cities)
        if partner_of_city:
            await self.take_back_answers(principal.partner or "", principal.city)
            for deployment in await self.answering_deployments(principal.city or ""):
                # Added only (never replaced): the deployment is running and keeps its other rights throughout.
                await ka.grant(self.client, deployment, self.prefix, exclusive=False, partner_cities=cities)
        return new, acls


def _intake_name(user: str) -> str:
    """An intake deployment's principal name ('service.national.intake') from an ACL's 'User:…', else ''."""
    try:
        principal = ka.Principal.parse(user)
    except ka.PrincipalError:
        return ""
    return principal.name if principal.kind == "service" and principal.role == "intake" else ""


def _of_another_city(acl: ka.Acl, city: str) -> bool:
    """Whether the ACL is a service deployment's whose name says another city (or none); the partner's own, or any
    other party's, is not."""
    try:
        principal = ka.Principal.parse(acl.principal)
    except ka.PrincipalError:
        return False
    return principal.kind == "service" and principal.city != city


def credentials_lines(admin: Admin, user: str, password: str) -> list[str]:
    sec = admin.security
    lines = [
        f"KAFKA_BOOTSTRAP_SERVERS={admin.bootstrap}",
        f"KAFKA_SECURITY_PROTOCOL={sec.security_protocol}",
        "KAFKA_SASL_MECHANISM=SCRAM-SHA-512",
        f"KAFKA_SASL_USERNAME={user}",
        f"KAFKA_SASL_PASSWORD={password}",
    ]
    if sec.ssl_cafile:
        lines.append(f"KAFKA_SSL_CAFILE={sec.ssl_cafile}")
    return lines


def principal_of(args: argparse.Namespace) -> ka.Principal:
    if args.command == "add-deployment":
        if args.deployment and (why := deployment_rule(args.deployment, args.city)):
            raise ka.PrincipalError(f"--deployment: {why}")
        return ka.Principal.service(
            args.deployment or args.city, args.service, city=args.city, drain_old_inbound=args.drain_old_inbound
        )
    if args.command == "add-partner":
        return ka.Principal.partner_(args.partner, city=args.city)
    if args.command == "add-auditor":
        return ka.Principal.auditor(args.name)
    if args.command == "add-national":
        return ka.Principal.national(args.name)
    if args.command == "add-notary":
        return ka.Principal.notary(args.name)
    principal = ka.Principal.parse(args.principal)
    if getattr(args, "city", None) is None:
        return principal
    if principal.kind == "partner":
        return ka.Principal.partner_(principal.partner or "", city=args.city)
    if principal.kind == "service":
        return ka.Principal.service(
            principal.deployment or "", principal.role, city=args.city, drain_old_inbound=args.drain_old_inbound
        )
    return principal


def show_acls(acls: Sequence[ka.Acl], out: list[str]) -> None:
    out.extend(f"  {acl}" for acl in acls)


async def run(args: argparse.Namespace, security: KafkaSecurity) -> list[str]:
    out: list[str] = []
    async with Admin(args.bootstrap, security, args.topic_prefix, args.replication) as admin:
        if args.command == "create-topics":
            created = await admin.create_topics()
            switched = [f"{name}: records stamped with the broker's time from now on" for name in admin.stamped]
            # Every time, so that an operator confirms the switch after an upgrade even when `make up` or an `add-*`
            # made it before (each such topic was described, and switched where it was not, or made so).
            stamping = "the broker stamps the records of (message.timestamp.type=LogAppendTime): " + ", ".join(
                sorted(broker_stamped(None, admin.prefix))
            )
            return ([f"created {name}" for name in created] + switched or ["every registry topic exists"]) + [stamping]
        if args.command == "old-inbound":
            return await drain_old_inbound_topic(admin, args.delete)
        if args.command == "list":
            found = await ka.users(admin.client)
            every = await ka.describe_acls(admin.client)
            for user in sorted(found):
                count = sum(1 for a in every if a.principal == f"User:{user}")
                out.append(f"{user:50} {count} ACLs")
            return out
        principal = principal_of(args)
        if args.command.startswith("add-"):
            password, acls = await admin.provision(principal)
            out.append(f"{principal.name}: {len(acls)} ACLs (groups: {principal.group_prefix(args.topic_prefix)}*)")
            show_acls(acls, out)
            if password is None:
                out.append("already provisioned: ACLs refreshed, password unchanged (`rotate` issues a new one)")
            else:
                emit_credentials(args, admin, principal.name, password, out)
        elif args.command == "rotate":
            if not await admin.exists(principal.name):
                raise Fail(f"{principal.name} has no credentials; add it first")
            password = ka.new_password()
            await ka.set_password(admin.client, principal.name, password)
            out.append(
                f"{principal.name}: new password; the old one no longer logs in (open connections end at their"
                " next re-authentication, within connections.max.reauth.ms)"
            )
            emit_credentials(args, admin, principal.name, password, out)
        elif args.command == "revoke":
            had, removed = await admin.revoke(principal)
            if not had and not removed:
                raise Fail(f"{principal.name} has neither credentials nor ACLs")
            out.append(f"{principal.name}: credentials {'deleted' if had else 'absent'}, {removed} ACLs deleted")
        elif args.command == "acls":
            cities = await admin.partner_cities()
            if principal.kind == "partner" and principal.city is None:  # the city `add-partner --city` recorded
                if (city := cities.get(principal.partner or "")) is None:
                    raise Fail(f"{principal.name} has no recorded city (add-partner records it): pass --city")
                principal = ka.Principal.partner_(principal.partner or "", city=city)
            have = set(await ka.describe_acls(admin.client, principal.user))
            wanted = set(ka.derive(principal, args.topic_prefix, cities))
            exists = await admin.exists(principal.name)
            out.append(f"{principal.name}: credentials {'present' if exists else 'absent'}; {len(have)} ACLs")
            for acl in sorted(have | wanted):
                mark = " " if acl in have and acl in wanted else ("+" if acl in have else "-")
                out.append(f"{mark} {acl}")
            if have != wanted:
                out.append("(+ on the broker but not derived, - derived but missing: `add-*` again repairs it)")
    return out


async def drain_old_inbound_topic(admin: Admin, delete: bool) -> list[str]:
    topic = physical(OLD_INBOUND, admin.prefix)
    left = await old_inbound.records_left(admin.client, admin.bootstrap, admin.security, admin.prefix)
    if left is None:
        return [f"{topic} does not exist: nothing to drain"]
    out = left.lines()
    if not left.deployments and left.cities:  # nobody read what is there: deleting it would lose it
        records = sum(c.records for c in left.cities.values())
        why = (
            f"no deployment drains {topic} (none has --drain-old-inbound) and it holds {records} record(s):"
            " add the intake deployments that ran before the upgrade with --drain-old-inbound and let them read it"
        )
        if delete:
            raise Fail(f"{why}; the old topic is kept")
        raise NotDrained("\n".join([*out, why]))
    if not left.drained:
        if delete:
            raise Fail("not drained: " + "; ".join(out) + " (the old topic is kept)")
        raise NotDrained("\n".join(out))
    if delete:
        removed = await old_inbound.remove(admin.client, admin.prefix)
        out.append(f"{topic} deleted with its {removed} ACL(s)")
    return out or [f"{topic} is empty and no deployment drains it (none has --drain-old-inbound)"]


class NotDrained(Exception):
    """Records are left: printed as the answer, with exit status 1 (so a script can wait for 0)."""


def emit_credentials(args: argparse.Namespace, admin: Admin, user: str, password: str, out: list[str]) -> None:
    lines = credentials_lines(admin, user, password)
    if args.env_file:
        write_private(Path(args.env_file), "\n".join(lines) + "\n")
        out.append(f"credentials written to {args.env_file} (mode 600)")
    else:
        out.append("credentials (shown once; give them to the party over a safe channel):")
        out.extend(lines)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lgnet-kafka-admin",
        description="Provision principals (SCRAM-SHA-512) and their ACLs, derived from the topic registry.",
    )
    p.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS"), help="Kafka bootstrap servers")
    p.add_argument("--topic-prefix", default=os.environ.get("LGNET_TOPIC_PREFIX", ""), help="prefix of topic names")
    p.add_argument("--replication", type=int, default=int(os.environ.get("LGNET_TOPIC_REPLICATION", "1") or 1))
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def creds(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--env-file", help="write the new credentials here (mode 600) instead of printing them")

    d = sub.add_parser("add-deployment", help="a city's (or the national) deployment of one service")
    d.add_argument("--city", required=True, choices=CITIES_AND_NATIONAL, metavar="CITY", help="torino, …, national")
    d.add_argument("--service", required=True, choices=SERVICES)
    d.add_argument(
        "--deployment", help="deployment name (LGNET_DEPLOYMENT): the city or CITY-<suffix>; default: the city"
    )
    drain_old_inbound(d)
    creds(d)
    a = sub.add_parser(
        "add-partner", help="a partner: writes its city's partner.inbound.<city>, reads its own rejections"
    )
    a.add_argument("partner", help="partner id, as in its events")
    a.add_argument(
        "--city",
        required=True,
        choices=CITIES,
        metavar="CITY",
        help="the city it works in: that city's intake and housing (and the national ones) answer it",
    )
    creds(a)
    a = sub.add_parser("add-auditor", help="an auditor: reads the fact topics")
    a.add_argument("name")
    creds(a)
    a = sub.add_parser("add-national", help="the national coordination: reads the fact topics")
    a.add_argument("name", nargs="?", default="main")
    creds(a)
    a = sub.add_parser("add-notary", help="the notary: reads the fact topics, alone writes the checkpoints")
    a.add_argument("name", nargs="?", default="national", help="the deployment that runs it (default: national)")
    creds(a)
    for name, what in (("rotate", "issue a new password"), ("revoke", "delete credentials and ACLs")):
        r = sub.add_parser(name, help=what)
        r.add_argument(
            "principal", help="service.<deployment>.<service>, partner.<id>, auditor.<n>, coordination.<n>, notary.<n>"
        )
        if name == "rotate":
            creds(r)
    r = sub.add_parser("acls", help="show a principal's ACLs against the derived ones")
    r.add_argument("principal")
    r.add_argument(
        "--city",
        choices=CITIES_AND_NATIONAL,
        metavar="CITY",
        help="a partner's or deployment's city (default: a partner's recorded one, a deployment's off its name)",
    )
    drain_old_inbound(r)
    sub.add_parser("list", help="every SCRAM user with its ACL count")
    sub.add_parser("create-topics", help="create the registry's topics")
    o = sub.add_parser("old-inbound", help="after the upgrade: what draining deployments have left to read")
    o.add_argument(
        "--delete", action="store_true", help="delete the old topic and its ACLs once each city's records are read"
    )
    z = sub.add_parser("strimzi", help="Strimzi KafkaTopic/KafkaUser specs as Helm values (JSON); needs no broker")
    z.add_argument("--deployment", required=True, help="deployment name (LGNET_DEPLOYMENT), e.g. torino or national")
    z.add_argument("--services", default=",".join(SERVICES), help="comma-separated services it runs (default: all)")
    z.add_argument("--topics", action="store_true", help="also the registry's topics (whoever owns the cluster)")
    z.add_argument("--notary", action="store_true", help="also the notary's user (the deployment that runs it)")
    z.add_argument("--partners", default="", help="comma-separated partners of the city, whose answer topics it writes")
    z.add_argument("--replicas", type=int, default=3, help="replication factor of the topics (default 3)")
    t = sub.add_parser("tls", help="make (or renew) a CA and the broker's certificate; needs no broker")
    t.add_argument("--out", required=True, type=Path, help="folder for ca.pem (public), ca.key and broker.pem")
    t.add_argument("--host", action="append", required=True, help="a name or IP address clients reach the broker by")
    admin_actions.add_by_option(p, sub)
    return p


CHANGES = ("add-deployment", "add-partner", "add-auditor", "add-national", "add-notary", "rotate", "revoke")


def said(args: argparse.Namespace) -> None:
    """A change to the cluster as the admin commands record theirs (who, the command, its target), in the JSON line
    alone: the cluster keeps no table of ours. Reads (`acls`, `list`, `old-inbound` without `--delete`) say nothing."""
    if args.command in CHANGES:
        target = principal_of(args).name
    elif args.command == "create-topics" or (args.command == "old-inbound" and args.delete):
        target = f"{args.topic_prefix}*" if args.topic_prefix else "the registry's topics"
    else:
        return
    command = "old-inbound --delete" if args.command == "old-inbound" else args.command
    action = admin_actions.Action(args.by, "lgnet-kafka-admin", command, target)
    admin_actions.log(action, cluster=args.bootstrap)


def drain_old_inbound(sp: argparse.ArgumentParser) -> None:
    sp.add_argument(
        "--drain-old-inbound",
        action="store_true",
        help="an intake deployment of before the per-city inbound topics: may read the old shared"
        " lgnet.partner.inbound until it has drained it (docs/operators.md, upgrade); add again without it after",
    )


def main(argv: Sequence[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    if args.command == "strimzi":
        return strimzi_values(p, args)
    if args.command == "tls":
        try:
            make_tls(args.out, args.host, say=print)
        except OSError as exc:
            print(f"lgnet-kafka-admin: error: {args.out}: {exc.strerror or exc}", file=sys.stderr)
            return 1
        return 0
    if not args.bootstrap:
        p.error("no Kafka: pass --bootstrap or set KAFKA_BOOTSTRAP_SERVERS")
    try:
        args.by = admin_actions.who(args.by)
        security = KafkaSecurity.from_env()
        if args.command not in ("list", "create-topics", "old-inbound"):
            principal = principal_of(args)  # a bad name fails before any connection
            # and so does a new party of a city outside the programme (as provisioning checks again); a city's
            # parties of before it left may still be revoked, rotated and listed.
            if args.command.startswith("add-") and (why := outside_programme(principal.city)):
                raise ValueError(f"{principal.name}: {why}")
        lines = asyncio.run(run(args, security))
    except (KafkaConfigError, ka.PrincipalError, ValueError) as exc:
        p.error(str(exc))
    except NotDrained as exc:
        print(exc)
        return 1
    except (Fail, ka.AdminError, TopicsNotCreated, broker_time.NotStamped, KafkaError) as exc:
        print(f"lgnet-kafka-admin: error: {exc}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    said(args)
    return 0


def strimzi_values(p: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from lgnet_shared import strimzi

    services = [s.strip() for s in args.services.split(",") if s.strip()]
    partners = [s.strip() for s in args.partners.split(",") if s.strip()]
    try:
        found = strimzi.values(
            args.deployment,
            services,
            args.topic_prefix,
            args.replicas,
            args.topics,
            notary=args.notary,
            partners=partners,
        )
    except (ka.PrincipalError, ValueError) as exc:
        p.error(str(exc))
    print(json.dumps(found, indent=1))
    return 0


__all__ = ["Admin", "main"]

if __name__ == "__main__":
    raise SystemExit(main())
