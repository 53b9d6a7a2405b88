"""Who may do what on the shared Kafka cluster: principals, the ACLs derived from the topic registry, and the
Admin API requests that apply them (CreateAcls, DescribeAcls, DeleteAcls, AlterUserScramCredentials,
DescribeUserScramCredentials) sent through an aiokafka admin client.

Principals (SCRAM user names; the ACL principal is `User:<name>`):

    service.<deployment>.<service>   a deployment of one service (deployment: the city, `national`, or a name)
    partner.<partner id>             a partner cooperative's system
    auditor.<name>                   an auditor (reads the fact topics)
    coordination.<name>              the national coordination (reads the fact topics)
    notary.<name>                    the notary (reads the fact topics, writes the checkpoints; name: its deployment)

The broker denies whatever no ACL allows (StandardAuthorizer, allow.everyone.if.no.acl.found=false). Derived
from `topics.TOPICS` (writers/readers by role):
- a service deployment: WRITE (implies DESCRIBE; an idempotent producer needs no IDEMPOTENT_WRITE since Kafka 3.0,
  KIP-679) on the topics its service writes, READ on those it reads, READ on its consumer groups
  `<prefix><deployment>.<service>.` (PREFIXED); intake also WRITE+CREATE on the rejection topics, and intake and
  housing on the reminder topics, of its own city's partners (LITERAL `<prefix>lgnet.partner.rejections.<partner>`;
  the city read off the deployment's name, the partner's as provisioned), a national deployment on every partner's
  (PREFIXED `<prefix>lgnet.partner.rejections.`: it serves every city); WRITE and CREATE on
  its own signing-key registry `<prefix>lgnet.signing-keys.<deployment>.<service>` (LITERAL) and READ on every
  deployment's (PREFIXED `<prefix>lgnet.signing-keys.`), so it registers its own key only;
  An intake deployment READs its city's `partner.inbound.<city>` (LITERAL; a `national` one each of the 16 cities'),
  and the old shared `partner.inbound` only while it drains it after the upgrade (`drain_old_inbound`);
- a partner: WRITE on its city's `partner.inbound.<city>`, READ on its own `partner.rejections.<partner>` and
  `partner.reminders.<partner>` (LITERAL), READ on every signing-key registry (PREFIXED: public keys, with which its
  SDK verifies who signed each answer), READ on groups `<prefix>partner.<id>.` (PREFIXED);
- an auditor or the national coordination: READ on the canonical fact topics and the signing-key registries,
  groups `<prefix><principal>.`;
- the notary: the same READs, and the only WRITE on `lgnet.checkpoints`: no service deployment (a city's reporting
  included) can publish a checkpoint, so a rogue deployment cannot make audits fail with checkpoints of its own.
Topic ACLs cannot tell one city's records from another's on a shared fact topic: a Torino deployment may read
(and its service write) records of Trieste on `lgnet.intake.events`. Producer signatures (a later issue) close
that: consumers will verify which deployment signed each fact.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, ClassVar, TypeAlias

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import for_code
from aiokafka.protocol.admin import (
    CreateAclsRequest_v1,
    DeleteAclsRequest_v1,
    DescribeAclsRequest_v1,
)
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import (
    CompactArray,
    CompactBytes,
    CompactString,
    Int8,
    Int16,
    Int32,
    Schema,
    TaggedFields,
)

from lgnet_shared.cities import CITIES, NATIONAL, city_of, deployment_rule
from lgnet_shared.topics import OLD_INBOUND, PARTNER, SERVICES, TOPICS, Topic, cities_served

DEPLOYMENT = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")  # as LGNET_DEPLOYMENT
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
RESERVED_DEPLOYMENTS = frozenset({"partner", "auditor", "coordination", "notary"})  # their group prefixes are taken
KINDS = ("service", "partner", "auditor", "coordination", "notary")


class ResourceType(IntEnum):
    ANY = 1
    TOPIC = 2
    GROUP = 3
    CLUSTER = 4
    TRANSACTIONAL_ID = 5


class Pattern(IntEnum):
    ANY = 1
    MATCH = 2
    LITERAL = 3
    PREFIXED = 4


class Op(IntEnum):
    ANY = 1
    ALL = 2
    READ = 3
    WRITE = 4
    CREATE = 5
    DELETE = 6
    ALTER = 7
    DESCRIBE = 8
    CLUSTER_ACTION = 9
    DESCRIBE_CONFIGS = 10
    ALTER_CONFIGS = 11
    IDEMPOTENT_WRITE = 12


ALLOW = 3
ANY_PERMISSION = 1


class PrincipalError(ValueError):
    pass


@dataclass(frozen=True)
class Principal:
    """One party on the cluster. `name` is its SCRAM user name."""

    kind: str
    name: str
    role: str  # the topic registry's role: a service name, partner, auditor or national
    deployment: str | None = None
    partner: str | None = None
    # A service deployment's: read off its name (cities.city_of; None for a name that follows no city); a partner's:
    # the city it works in, as the operator provisions it (None when not told: only national deployments answer it).
    # It decides which per-city topics it may use (`national`: every city's).
    city: str | None = None
    # An intake deployment that was there before the per-city inbound topics reads the old shared one until drained.
    drain_old_inbound: bool = False

    @property
    def user(self) -> str:
        return f"User:{self.name}"

    @classmethod
    def service(
        cls, deployment: str, service: str, *, city: str | None = None, drain_old_inbound: bool = False
    ) -> Principal:
        """`city`: the deployment's (`add-deployment --city`), when told: it must be the one its name says
        (`cities.city_of`: `torino`, `torino-<suffix>`), which is the deployment's city either way."""
        if service not in SERVICES:
            raise PrincipalError(f"unknown service {service!r}: choose one of {', '.join(SERVICES)}")
        if not DEPLOYMENT.fullmatch(deployment):
            raise PrincipalError(
                f"deployment {deployment!r}: 1-40 lower-case letters, digits, '-' or '_',"
                " starting with a letter or digit"
            )
        if deployment in RESERVED_DEPLOYMENTS:
            raise PrincipalError(f"deployment name {deployment!r} is reserved")
        if city is not None and (why := deployment_rule(deployment, city)):
            raise PrincipalError(why)
        if drain_old_inbound and service != "intake":
            raise PrincipalError("only an intake deployment drains the old inbound topic")
        return cls(
            "service",
            f"service.{deployment}.{service}",
            service,
            deployment=deployment,
            city=city_of(deployment),
            drain_old_inbound=drain_old_inbound,
        )

    @classmethod
    def partner_(cls, partner: str, *, city: str | None = None) -> Principal:
        """`city`: the partner's (`add-partner --city`), where it works."""
        if not NAME.fullmatch(partner):
            raise PrincipalError(f"partner id {partner!r}: letters, digits, '-' or '_', at most 64")
        if city is not None and city not in CITIES:
            raise PrincipalError(f"city {city!r} of partner {partner}: one of {', '.join(CITIES)}")
        return cls("partner", f"partner.{partner}", "partner", partner=partner, city=city)

    @classmethod
    def auditor(cls, name: str) -> Principal:
        return cls._reader("auditor", name, "auditor")

    @classmethod
    def national(cls, name: str) -> Principal:
        return cls._reader("coordination", name, "national")

    @classmethod
    def notary(cls, name: str) -> Principal:
        return cls._reader("notary", name, "notary")

    @classmethod
    def _reader(cls, kind: str, name: str, role: str) -> Principal:
        if not NAME.fullmatch(name):
            raise PrincipalError(f"{kind} name {name!r}: letters, digits, '-' or '_', at most 64")
        return cls(kind, f"{kind}.{name}", role)

    @classmethod
    def parse(cls, name: str) -> Principal:
        """From a SCRAM user name ('service.torino.intake', 'partner.coop-aurora', ...)."""
        kind, _, rest = name.removeprefix("User:").partition(".")
        if kind == "service":
            deployment, _, service = rest.partition(".")
            return cls.service(deployment, service)
        if kind == "partner":
            return cls.partner_(rest)
        if kind == "auditor":
            return cls.auditor(rest)
        if kind == "coordination":
            return cls.national(rest)
        if kind == "notary":
            return cls.notary(rest)
        raise PrincipalError(
            f"principal {name!r}: expected service.<deployment>.<service>, partner.<id>, auditor.<name>,"
            " coordination.<name> or notary.<name>"
        )

    def group_prefix(self, topic_prefix: str = "") -> str:
        """Consumer groups this principal may use start with this ('<prefix><deployment>.<service>.' for a
        service, as Settings.consumer_group makes them; '<prefix><name>.' otherwise)."""
        if self.kind == "service":
            return f"{topic_prefix}{self.deployment}.{self.role}."
        return f"{topic_prefix}{self.name}."


@dataclass(frozen=True, order=True)
class Acl:
    resource_type: ResourceType
    resource_name: str
    pattern: Pattern
    principal: str
    operation: Op
    host: str = "*"
    permission: int = ALLOW

    def __str__(self) -> str:
        return (
            f"{self.principal} {self.operation.name} {self.resource_type.name} {self.resource_name}"
            f" ({self.pattern.name.lower()})"
        )


def derive(principal: Principal, topic_prefix: str = "", partner_cities: Mapping[str, str] | None = None) -> list[Acl]:
    """Every ACL the principal gets: computed from the registry's writers and readers. `partner_cities` (partner id
    -> its city, as provisioned) decides whose answer topics a city's deployment writes: its own city's partners'."""
    user, acls = principal.user, set[Acl]()
    for topic in TOPICS.values():
        if topic.per_city:  # a partner's or deployment's own city's topics only (a national deployment: every city's)
            uses = {Op.WRITE} if principal.role in topic.writers else set()
            uses |= {Op.READ} if principal.role in topic.readers else set()
            if uses and principal.city is None:
                raise PrincipalError(f"{principal.name}: its city is needed for {topic.name} (--city)")
            for city in cities_served(principal.city or NATIONAL) if uses else ():
                name = topic.physical(topic_prefix, city=city)
                acls.update(Acl(ResourceType.TOPIC, name, Pattern.LITERAL, user, op) for op in uses)
            continue
        if topic.per_writer:  # e.g. the signing-key registries: each deployment's service writes its own only
            if principal.role in topic.writers and principal.deployment is not None:
                own = topic.physical(topic_prefix, writer=f"{principal.deployment}.{principal.role}")
                acls.add(Acl(ResourceType.TOPIC, own, Pattern.LITERAL, user, Op.WRITE))
                acls.add(Acl(ResourceType.TOPIC, own, Pattern.LITERAL, user, Op.CREATE))  # made at its start
            if principal.role in topic.readers:
                acls.add(Acl(ResourceType.TOPIC, topic.family_prefix(topic_prefix), Pattern.PREFIXED, user, Op.READ))
            continue
        if topic.per_partner:
            if principal.role in topic.writers:
                for name, pattern in _answer_topics(topic, principal, topic_prefix, partner_cities or {}):
                    acls.add(Acl(ResourceType.TOPIC, name, pattern, user, Op.WRITE))
                    acls.add(Acl(ResourceType.TOPIC, name, pattern, user, Op.CREATE))  # its first answer makes it
            if principal.role in topic.readers:
                if principal.partner is None:
                    raise PrincipalError(f"topic {topic.name} is read per partner, not by {principal.name}")
                own = topic.physical(topic_prefix, principal.partner)
                acls.add(Acl(ResourceType.TOPIC, own, Pattern.LITERAL, user, Op.READ))
            continue
        name = topic.physical(topic_prefix)
        if principal.role in topic.writers:
            acls.add(Acl(ResourceType.TOPIC, name, Pattern.LITERAL, user, Op.WRITE))
        if principal.role in topic.readers or (principal.drain_old_inbound and topic.name == OLD_INBOUND):
            acls.add(Acl(ResourceType.TOPIC, name, Pattern.LITERAL, user, Op.READ))
    if any(principal.role in t.readers for t in TOPICS.values()):
        acls.add(Acl(ResourceType.GROUP, principal.group_prefix(topic_prefix), Pattern.PREFIXED, user, Op.READ))
    return sorted(acls)


def _answer_topics(
    topic: Topic, principal: Principal, topic_prefix: str, partner_cities: Mapping[str, str]
) -> list[tuple[str, Pattern]]:
    """The partners' answer topics (rejections, reminders) a service deployment writes: the national deployment
    serves every city, so every partner's (the family's prefix, partners added later included); a city's deployment
    its own city's partners' only, so no city can answer (or forge an answer to) another city's partner."""
    if principal.city == NATIONAL:
        return [(topic.family_prefix(topic_prefix), Pattern.PREFIXED)]
    return [
        (topic.physical(topic_prefix, partner), Pattern.LITERAL)
        for partner, city in sorted(partner_cities.items())
        if principal.city is not None and city == principal.city
    ]


def allowed(
    principal: Principal,
    operation: str,
    physical_topic: str,
    topic_prefix: str = "",
    partner_cities: Mapping[str, str] | None = None,
) -> bool:
    """What the derived ACLs say about producing ('write') or consuming ('read') one topic (for tests/docs)."""
    op = {"write": Op.WRITE, "read": Op.READ}[operation]
    for acl in derive(principal, topic_prefix, partner_cities):
        if acl.resource_type != ResourceType.TOPIC or acl.operation != op:
            continue
        if acl.pattern == Pattern.LITERAL and acl.resource_name == physical_topic:
            return True
        if acl.pattern == Pattern.PREFIXED and physical_topic.startswith(acl.resource_name):
            return True
    return False


# --------------------------------------------------------------------------- Admin API requests


class AdminError(RuntimeError):
    pass


def _check(code: int, message: str | None, what: str) -> None:
    if code:
        raise AdminError(f"{what}: {for_code(code).__name__}{': ' + message if message else ''}")


class _CreateAcls(Request[CreateAclsRequest_v1]):  # type: ignore[misc]
    API_KEY = 30

    def __init__(self, acls: list[Acl]) -> None:
        self.acls = acls

    def build(self, request_struct_class: type[CreateAclsRequest_v1]) -> CreateAclsRequest_v1:
        return request_struct_class(
            [
                (a.resource_type, a.resource_name, a.pattern, a.principal, a.host, a.operation, a.permission)
                for a in self.acls
            ]
        )


class _DeleteAcls(Request[DeleteAclsRequest_v1]):  # type: ignore[misc]
    """Every ACL of one principal, or every ACL naming one topic (literally)."""

    API_KEY = 31

    def __init__(self, principal: str | None, topic: str | None = None) -> None:
        self.principal, self.topic = principal, topic

    def build(self, request_struct_class: type[DeleteAclsRequest_v1]) -> DeleteAclsRequest_v1:
        resource: tuple[ResourceType, str | None, Pattern] = (ResourceType.ANY, None, Pattern.ANY)
        if self.topic is not None:
            resource = (ResourceType.TOPIC, self.topic, Pattern.LITERAL)
        return request_struct_class([(*resource, self.principal, None, Op.ANY, ANY_PERMISSION)])


class _DescribeAcls(Request[DescribeAclsRequest_v1]):  # type: ignore[misc]
    API_KEY = 29

    def __init__(self, principal: str | None) -> None:
        self.principal = principal

    def build(self, request_struct_class: type[DescribeAclsRequest_v1]) -> DescribeAclsRequest_v1:
        return request_struct_class(ResourceType.ANY, None, Pattern.ANY, self.principal, None, Op.ANY, ANY_PERMISSION)


class AlterUserScramCredentialsResponse_v0(Response):  # type: ignore[misc]
    API_KEY = 51
    API_VERSION = 0
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        (
            "results",
            CompactArray(
                ("user", CompactString("utf-8")),
                ("error_code", Int16),
                ("error_message", CompactString("utf-8")),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class AlterUserScramCredentialsRequest_v0(RequestStruct):  # type: ignore[misc]
    FLEXIBLE_VERSION = True
    API_KEY = 51
    API_VERSION = 0
    RESPONSE_TYPE = AlterUserScramCredentialsResponse_v0
    SCHEMA = Schema(
        (
            "deletions",
            CompactArray(("name", CompactString("utf-8")), ("mechanism", Int8), ("tags", TaggedFields)),
        ),
        (
            "upsertions",
            CompactArray(
                ("name", CompactString("utf-8")),
                ("mechanism", Int8),
                ("iterations", Int32),
                ("salt", CompactBytes),
                ("salted_password", CompactBytes),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class DescribeUserScramCredentialsResponse_v0(Response):  # type: ignore[misc]
    API_KEY = 50
    API_VERSION = 0
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("error_code", Int16),
        ("error_message", CompactString("utf-8")),
        (
            "results",
            CompactArray(
                ("user", CompactString("utf-8")),
                ("error_code", Int16),
                ("error_message", CompactString("utf-8")),
                (
                    "credential_infos",
                    CompactArray(("mechanism", Int8), ("iterations", Int32), ("tags", TaggedFields)),
                ),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class DescribeUserScramCredentialsRequest_v0(RequestStruct):  # type: ignore[misc]
    FLEXIBLE_VERSION = True
    API_KEY = 50
    API_VERSION = 0
    RESPONSE_TYPE = DescribeUserScramCredentialsResponse_v0
    SCHEMA = Schema(
        ("users", CompactArray(("name", CompactString("utf-8")), ("tags", TaggedFields))), ("tags", TaggedFields)
    )


_Struct: TypeAlias = RequestStruct


class _Raw(Request[_Struct]):  # type: ignore[misc]
    """Sends one prepared struct (the SCRAM requests have a single version, 0)."""

    API_KEY = 0
    ALLOW_UNKNOWN_API_VERSION: ClassVar[bool] = True

    def __init__(self, struct: RequestStruct) -> None:
        self.struct = struct
        self.API_KEY = struct.API_KEY

    def prepare(self, versions: dict[int, tuple[int, int]]) -> RequestStruct:
        low, high = versions.get(self.struct.API_KEY, (0, 0))
        if not low <= self.struct.API_VERSION <= high:
            raise AdminError(f"the broker does not support API {self.struct.API_KEY} v{self.struct.API_VERSION}")
        return self.struct

    def build(self, request_struct_class: type[RequestStruct]) -> RequestStruct:
        return self.struct


SCRAM_SHA_512 = 2
RESOURCE_NOT_FOUND = 91  # Kafka's error code (aiokafka has no class for it)
ITERATIONS = 8192


def salted_password(password: str, salt: bytes, iterations: int = ITERATIONS) -> bytes:
    """RFC 5802 Hi(): PBKDF2 with HMAC-SHA-512, what the broker stores (with the salt) instead of the password."""
    return hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)


def new_password() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(24)).decode().rstrip("=")


async def _send(admin: AIOKafkaAdminClient, request: Request[Any], node_id: int | None = None) -> Any:
    return await admin._send_request(request, node_id)


async def set_password(admin: AIOKafkaAdminClient, user: str, password: str) -> None:
    """Create or replace the user's SCRAM-SHA-512 credential."""
    salt = secrets.token_bytes(32)
    struct = AlterUserScramCredentialsRequest_v0(
        [], [(user, SCRAM_SHA_512, ITERATIONS, salt, salted_password(password, salt), {})], {}
    )
    response = await _send(admin, _Raw(struct))
    for _user, code, message, _tags in response.results:
        _check(code, message, f"setting the password of {user}")
    # The controller has committed it; the broker applies it from the metadata log a moment later.
    for _ in range(100):
        if user in await users(admin, [user]):
            await asyncio.sleep(0.2)  # published to the authenticator with the same metadata image
            return
        await asyncio.sleep(0.1)
    raise AdminError(f"the credentials of {user} did not reach the broker within 10 s")


async def delete_credentials(admin: AIOKafkaAdminClient, user: str) -> bool:
    """Remove the user's SCRAM-SHA-512 credential; False if it had none."""
    response = await _send(admin, _Raw(AlterUserScramCredentialsRequest_v0([(user, SCRAM_SHA_512, {})], [], {})))
    for _user, code, message, _tags in response.results:
        if code == RESOURCE_NOT_FOUND:
            return False
        _check(code, message, f"deleting the credentials of {user}")
    return True


async def users(admin: AIOKafkaAdminClient, names: list[str] | None = None) -> dict[str, int]:
    """SCRAM users (all, or those named that exist) → iterations of their SHA-512 credential."""
    struct = DescribeUserScramCredentialsRequest_v0(None if names is None else [(n, {}) for n in names], {})
    response = await _send(admin, _Raw(struct))
    _check(response.error_code, response.error_message, "listing SCRAM users")
    found = {}
    for user, code, _message, infos, _tags in response.results:
        if code == 0:
            found[user] = next((it for mech, it, _ in infos if mech == SCRAM_SHA_512), 0)
    return found


async def create_acls(admin: AIOKafkaAdminClient, acls: list[Acl]) -> None:
    if not acls:
        return
    response = await _send(admin, _CreateAcls(acls))
    for acl, (code, message) in zip(acls, response.creation_responses, strict=True):
        _check(code, message, f"creating ACL {acl}")


async def delete_acls(admin: AIOKafkaAdminClient, user: str) -> int:
    """Delete every ACL naming the principal; returns how many."""
    return len(await _deleted(await _send(admin, _DeleteAcls(user)), f"deleting the ACLs of {user}"))


async def delete_topic_acls(admin: AIOKafkaAdminClient, topic: str, principal: str | None = None) -> int:
    """Delete every ACL naming the topic literally (one principal's, or whoever holds it; a PREFIXED one that covers
    it stays); returns how many, once no broker's authorizer holds them any more (a right taken back is gone when
    this returns, as a granted one is there)."""
    gone = await _deleted(await _send(admin, _DeleteAcls(principal, topic)), f"deleting the ACLs on {topic}")
    await _everywhere(admin, principal, lambda held: not gone & held, f"the removal of the ACLs on {topic}")
    return len(gone)


async def _deleted(response: Any, what: str) -> set[Acl]:
    found = set()
    for code, message, matching in response.filter_responses:
        _check(code, message, what)
        for _code, _message, rtype, rname, pattern, principal, host, op, permission in matching:
            found.add(Acl(ResourceType(rtype), rname, Pattern(pattern), principal, Op(op), host, permission))
    return found


async def describe_acls(admin: AIOKafkaAdminClient, user: str | None = None, node_id: int | None = None) -> list[Acl]:
    """The ACLs as one broker's authorizer holds them (`node_id`; any broker when None)."""
    response = await _send(admin, _DescribeAcls(user), node_id)
    _check(response.error_code, response.error_message, "describing ACLs")
    out = []
    for rtype, rname, pattern, acls in response.resources:
        for principal, host, op, permission in acls:
            out.append(
                Acl(ResourceType(rtype), rname, Pattern(pattern), principal, Op(op), host=host, permission=permission)
            )
    return sorted(out)


async def grant(
    admin: AIOKafkaAdminClient,
    principal: Principal,
    topic_prefix: str = "",
    *,
    exclusive: bool = True,
    partner_cities: Mapping[str, str] | None = None,
) -> list[Acl]:
    """Make the principal's ACLs exactly the derived ones (extra ones removed); returns them. A principal serves
    one topic prefix: granting it under another prefix replaces its ACLs. With `exclusive=False` the derived ACLs
    are only added (a test or demo party that plays under several prefixes at once keeps each one's)."""
    wanted = derive(principal, topic_prefix, partner_cities)
    have = await describe_acls(admin, principal.user)
    removed = set(have) - set(wanted) if exclusive else set()
    if removed:
        await delete_acls(admin, principal.user)
        have = []
    await create_acls(admin, [a for a in wanted if a not in set(have)])
    # The controller has committed the change; each broker's authorizer applies it from the metadata log a moment
    # later: a client the party starts in that moment is refused a right just granted, or keeps one just taken back.
    await _everywhere(
        admin, principal.user, lambda held: set(wanted) <= held and not removed & held, f"the ACLs of {principal.user}"
    )
    return wanted


PROPAGATION_TIMEOUT_S = 10.0
PROPAGATION_POLL_S = 0.1


async def _everywhere(
    admin: AIOKafkaAdminClient, user: str | None, done: Callable[[set[Acl]], bool], what: str
) -> None:
    """Wait until every broker's ACLs (the user's, or all) are `done`."""
    deadline = asyncio.get_running_loop().time() + PROPAGATION_TIMEOUT_S
    for node in sorted(b.nodeId for b in admin._client.cluster.brokers()):
        while not done(set(await describe_acls(admin, user, node))):
            if asyncio.get_running_loop().time() > deadline:
                raise AdminError(f"{what} did not reach broker {node} within {PROPAGATION_TIMEOUT_S:g} s")
            await asyncio.sleep(PROPAGATION_POLL_S)


__all__ = [
    "KINDS",
    "PARTNER",
    "Acl",
    "AdminError",
    "Principal",
    "PrincipalError",
    "allowed",
    "create_acls",
    "delete_acls",
    "delete_credentials",
    "delete_topic_acls",
    "derive",
    "describe_acls",
    "grant",
    "new_password",
    "set_password",
    "users",
]
