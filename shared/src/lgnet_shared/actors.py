"""Who may call a service's HTTP API (DESIGN section 5, "Tenancy and access"), the same in every service: actors
and their API tokens, without a web framework (the admin commands use it; `auth` is the HTTP side).

Each service keeps its own actors and API tokens in its own schema (no service reads another's tables); tokens
are 256-bit random secrets stored as SHA-256 (high-entropy tokens need no slow password hash). `lgnet-admin`
provisions them. The rules here are the city-wide ones; a service adds its own (e.g. intake's case assignment).
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from lgnet_shared import runtime_schema
from lgnet_shared.access import PROGRAMME_WIDE, Actor, Role, may_read_city, may_write_in_city
from lgnet_shared.db import Conn
from lgnet_shared.errors import Conflict, ContractError, NotFound
from lgnet_shared.pseudonymous import check_pseudonymous_id

__all__ = ["Actor", "Role", "add_actor", "issue_token", "may_read_city", "may_write_in_city"]
TOKEN_PREFIX = "lgn_"

MIGRATION = runtime_schema.ACTORS


async def deployment_city(conn: Conn) -> str | None:
    """The city of the deployment that owns this schema (None before the service first started)."""
    if await conn.fetchval("select to_regclass('deployment_identity')") is None:
        return None
    city: str | None = await conn.fetchval("select city from deployment_identity")
    return city


async def schema_owner(conn: Conn, schema: str) -> tuple[str, str] | None:
    """The deployment (name, city) recorded as `schema`'s owner (`deployment_identity`), None when the schema, its
    table or its row is not there yet (provisioning may come before the service's first start). `conn`: any
    connection to the database (the name is qualified)."""
    if await conn.fetchval("select to_regclass(format('%I.deployment_identity', $1::text))", schema) is None:
        return None
    row = await conn.fetchrow(f'select deployment, city from "{schema}".deployment_identity')
    return None if row is None else (str(row["deployment"]), str(row["city"]))


def check_party_owner(
    schema: str, owner: tuple[str, str] | None, city: str, deployment: str | None, schema_setting: str
) -> None:
    """A city's partner or staff goes into a schema of a deployment that serves that city: the city's own (`bologna`,
    `bologna-north`) or, when the operator names it (`--deployment`, LGNET_DEPLOYMENT), a deployment that serves
    every city (`national`). Without this an admin command's default schema names (`intake`, …: the national demo's)
    put a Bologna cooperative's actor and tokens into the national deployment of a shared database while Bologna ran
    its own. `schema_setting`: the flag or variable that names the right schema."""
    if owner is None:
        return
    name, served = owner
    if deployment is not None:
        if name != deployment:
            raise ContractError(
                schema_setting,
                f"schema {schema!r} belongs to deployment {name!r} ({served}), not {deployment!r} (--deployment):"
                f" name {deployment}'s schema with {schema_setting}",
            )
        return
    if served != city:
        raise ContractError(
            schema_setting,
            f"schema {schema!r} belongs to deployment {name!r} ({served}), not to a deployment of {city}: name"
            f" {city}'s schema with {schema_setting}, or pass --deployment {name} if {name} serves {city}'s parties",
        )


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def add_actor(conn: Conn, actor_id: str, role: Role, city: str | None, display_name: str) -> None:
    """A new actor. Its id travels in clear on every topic (`partner`, `booked_by`, `recorded_by`) and is never
    erased: one holding recognisable identifying data is refused (`pseudonymous`); one kept from before is a conflict,
    as any existing actor."""
    if role not in PROGRAMME_WIDE and not city:
        raise ValueError("partners and staff belong to a city")
    if role is Role.AUDITOR and city:
        raise ContractError("city", "an auditor reads every city's reports: add it without --city")
    if await conn.fetchval("select exists (select 1 from actors where actor_id = $1)", actor_id):
        raise Conflict("actor_id", f"actor {actor_id} already exists")
    check_pseudonymous_id(actor_id, "actor_id")
    served = await deployment_city(conn)
    if served not in (None, "national") and role not in PROGRAMME_WIDE and city != served:
        raise ContractError("city", f"this schema's deployment serves {served}; {city}'s actors belong to its own")
    status = await conn.execute(
        "insert into actors (actor_id, role, city, display_name) values ($1, $2, $3, $4) on conflict do nothing",
        actor_id,
        role.value,
        city if role not in PROGRAMME_WIDE else None,
        display_name,
    )
    if status.endswith(" 0"):
        raise Conflict("actor_id", f"actor {actor_id} already exists")


async def partner_city(conn: Conn, actor_id: str) -> str | None:
    """The city of partner `actor_id` as this service knows it (onboarded here: docs/operators.md); None for an id
    that is no partner here."""
    city: str | None = await conn.fetchval("select city from actors where actor_id = $1 and role = 'partner'", actor_id)
    return city


async def issue_token(conn: Conn, actor_id: str, days: int | None = None) -> str:
    """A new API token; shown once, only its hash is kept. `days`: it opens nothing after that many days (none:
    until revoked)."""
    if not await conn.fetchval("select exists (select 1 from actors where actor_id = $1)", actor_id):
        raise NotFound("actor_id", f"no actor {actor_id}: add it first (add-actor)")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    await conn.execute(
        "insert into api_tokens (token_hash, actor_id, expires_at)"
        " values ($1, $2, now() + make_interval(days => $3::int))",
        token_hash(token),
        actor_id,
        days,
    )
    return token


LIVE = "t.revoked_at is null and (t.expires_at is null or t.expires_at > now())"  # a token that opens the API


async def rename_actor(conn: Conn, actor_id: str, display_name: str) -> bool:
    """The name the service's access review shows for an actor (a staff operator renamed at the desk); its id, which
    the facts carry, never changes. False if the service knows no such actor."""
    status: str = await conn.execute("update actors set display_name = $2 where actor_id = $1", actor_id, display_name)
    return status.split()[-1] != "0"


async def revoke_tokens(conn: Conn, actor_id: str) -> int:
    status = await conn.execute(
        "update api_tokens set revoked_at = now() where actor_id = $1 and revoked_at is null", actor_id
    )
    return int(status.split()[-1])


async def revoke_token(conn: Conn, token: str) -> bool:
    """One token revoked (a cooperative's operator who left: her colleagues' tokens of the same actor stay)."""
    status = await conn.execute(
        "update api_tokens set revoked_at = now() where token_hash = $1 and revoked_at is null", token_hash(token)
    )
    return bool(status.endswith(" 1"))


async def review(conn: Conn, city: str | None = None) -> list[dict[str, Any]]:
    """Who may call the service, for an access review: each actor (of `city`, if given) with its live tokens and
    when one was last issued and revoked. Never a token nor its hash."""
    rows = await conn.fetch(
        "select a.actor_id, a.role, a.city, a.display_name as name, a.created_at as since,"
        f" count(t.token_hash) filter (where {LIVE}) as live_tokens, min(t.expires_at) filter (where {LIVE})"
        " as expires_at, max(t.created_at) as last_issued_at, max(t.revoked_at) as last_revoked_at"
        " from actors a left join api_tokens t using (actor_id)"
        " where $1::text is null or a.city = $1 group by a.actor_id order by a.city, a.role, a.actor_id",
        city,
    )
    return [dict(r) for r in rows]


async def tokens_ending(conn: Conn, within_days: int) -> int:
    """How many live tokens end within `within_days` days (a partner's integration stops that day)."""
    n = await conn.fetchval(
        f"select count(*) from api_tokens t where {LIVE} and t.expires_at < now() + make_interval(days => $1)",
        within_days,
    )
    return int(n)


async def actor_by_token(conn: Conn, token: str) -> Actor | None:
    row = await conn.fetchrow(
        f"select a.actor_id, a.role, a.city from api_tokens t join actors a using (actor_id)"
        f" where t.token_hash = $1 and {LIVE}",
        token_hash(token),
    )
    return None if row is None else Actor(row["actor_id"], Role(row["role"]), row["city"])


async def token_refusal(conn: Conn, token: str) -> str:
    """Why a token that opens nothing is refused: its end, when it had one (said to whoever holds it), else
    generically."""
    ended = await conn.fetchval(
        "select expires_at from api_tokens where token_hash = $1 and revoked_at is null and expires_at <= now()",
        token_hash(token),
    )
    if ended is None:
        return "unknown or revoked token"
    return f"token expired on {ended.date().isoformat()}: ask for a new one"
