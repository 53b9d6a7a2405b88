"""`lgnet-partner-admin`: onboard or offboard a partner cooperative in one command (for the city's IT team).

    lgnet-partner-admin onboard coop-aurora --city torino --name "Cooperativa Aurora" \\
        --signing-key-id coop-aurora-2026 --signing-public-key <base64 Ed25519 public key> --out coop-aurora.json \\
        [--token-days 365]
    lgnet-partner-admin offboard coop-aurora [--deployment national]

`onboard` creates the partner's actor in every service it uses (`--services`; by default every service of intake,
housing, payments and reporting whose schema is in the database, and it refuses, naming them, when some are not: a
city running only some services names them, one provisioned before its service first starts is named too),
registers its Ed25519 signing key with intake, creates its Kafka user, ACLs and rejection topic (as
`lgnet-kafka-admin add-partner` does) and issues an API token per service, then writes everything the partner's
developer needs into one JSON bundle (mode 600: it holds secrets; see docs/partners.md). Running it again for the
same partner issues a new Kafka password and new tokens (revoking the old ones) and keeps its signing keys; with fewer
`--services` than before, its tokens on the others are revoked. Each schema must belong to a deployment of the
partner's city (its `deployment_identity`), or to the one `--deployment` names (a national deployment serving every
city): another deployment's schema is refused, naming it and the variable to set, before anything is written.
`offboard` revokes everything: tokens in every service, signing keys, Kafka credentials and ACLs; its schemas are held
to the same rule (the partner's city read off its actor; `--deployment` alike), refused before anything is revoked:
offboarding from another deployment's schemas revoked nothing there and left the partner's real tokens working.
Both are recorded in each schema they change (`admin_actions`, read with `lgnet-intake-admin history` or `lgnet-admin
--schema <schema> history`) with who ran them: `--by NAME`, else LGNET_ADMIN_BY, else the OS login.

Environment: DATABASE_URL (or LGNET_<SERVICE>_DATABASE_URL for a service in another database),
LGNET_<SERVICE>_DB_SCHEMA (default: the service's name), KAFKA_BOOTSTRAP_SERVERS with the cluster admin's
KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_*, KAFKA_SSL_CAFILE, LGNET_TOPIC_PREFIX, and LGNET_<SERVICE>_URL (where the
partner reaches each service; default http://127.0.0.1:8001..8004).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka.errors import KafkaError
from lgnet_shared import actors, admin_actions, db
from lgnet_shared import kafka_acls as ka
from lgnet_shared.admin import days as whole_days
from lgnet_shared.cities import CITIES
from lgnet_shared.errors import Conflict, ContractError
from lgnet_shared.kafka import KafkaConfigError, KafkaSecurity
from lgnet_shared.kafka_admin import Admin, Fail
from lgnet_shared.kafka_tls import write_private
from lgnet_shared.runtime_schema import all_migrations, held_by_others
from lgnet_shared.topics import TopicsNotCreated, for_partner, partner_inbound, physical

from lgnet_intake.adapters import credentials
from lgnet_intake.adapters.schema import MIGRATIONS
from lgnet_intake.entrypoints.admin import public_key_bytes

PROG = "lgnet-partner-admin"
SERVICES = ("intake", "housing", "payments", "reporting")
DEFAULT_PORTS = {"intake": 8001, "housing": 8002, "payments": 8003, "reporting": 8004}
BUNDLE_FORMAT = "lgnet-partner-onboarding/1"


@dataclass(frozen=True)
class Place:
    """Where one service keeps its actors, and where partners reach it."""

    service: str
    database_url: str
    schema: str
    url: str


async def chosen_places(services: Sequence[str] | None, env: dict[str, str], command: str) -> list[Place]:
    """Where the partner is (on)boarded: the services named, or, none named, every service whose schema is in its
    database. An unnamed service without a schema is one the city may not run (a city running intake and reporting
    only): onboarding refuses, naming them, rather than make their schema and hand the partner a URL and a token of a
    service nobody runs; offboarding has nothing to revoke there."""
    if services is not None:
        return places(services, env)
    everywhere = places(SERVICES, env)
    found = [p for p in everywhere if p.service == "intake" or await db.schema_exists(p.database_url, p.schema)]
    if command == "onboard" and (missing := [p for p in everywhere if p not in found]):
        absent = ", ".join(f"{p.service} (schema {p.schema!r})" for p in missing)
        raise ContractError(
            "services",
            f"no schema of {absent} in the database: does this city run them? Name the services the partner uses"
            f" (--services {','.join(p.service for p in found)}), or start those services first",
        )
    return found


async def check_owner(place: Place, city: str, deployment: str | None, named: bool) -> None:
    """The schema is the service's own (no other service's migrations), of a deployment serving the partner's city
    (`--deployment` names a national one on purpose), not, by the default names, another deployment's sharing the
    database. `named`: --services was given (else a service the city does not run is left out with it)."""
    setting = f"LGNET_{place.service.upper()}_DB_SCHEMA"
    conn = await asyncpg.connect(place.database_url)
    try:
        owner = await actors.schema_owner(conn, place.schema)
        recorded = await db.recorded_migrations_of(conn, place.schema)
    finally:
        await conn.close()
    if held := held_by_others(recorded, place.service):  # another service's schema (intake's named for housing)
        raise ContractError(setting, f"schema {place.schema!r} holds {held}, not {place.service}'s: name its own")
    try:
        actors.check_party_owner(place.schema, owner, city, deployment, setting)
    except ContractError as exc:
        if named or place.service == "intake":  # intake: every partner uses it
            raise
        hint = f"; or name the services {city} runs (--services), without {place.service} if it runs none"
        raise ContractError(setting, exc.reason + hint) from None


async def revoke_elsewhere(partner: str, named: Sequence[str], env: dict[str, str]) -> list[str]:
    """Onboarding again with fewer `--services`: the partner's services are those the last onboarding named, so its
    tokens on the others are revoked — a token left there kept working — whichever deployment owns their schema (a
    partner id is one partner on the whole cluster, and revoking gives nothing away: the national deployment's, where
    the default names put it before the owner check, included). The services where some were revoked."""
    revoked = []
    for place in places([s for s in SERVICES if s not in named], env):
        if not await db.schema_exists(place.database_url, place.schema):
            continue

        async def revoke(conn: Any) -> int:
            if await conn.fetchval("select to_regclass('actors')") is None:
                return 0
            return await actors.revoke_tokens(conn, partner)

        if await _in_schema(place, revoke, migrate=False):
            revoked.append(place.service)
    return revoked


def places(services: Sequence[str], env: dict[str, str]) -> list[Place]:
    found = []
    for s in services:
        url = env.get(f"LGNET_{s.upper()}_DATABASE_URL") or env.get("DATABASE_URL")
        if not url:
            raise ContractError("DATABASE_URL", f"not set (nor LGNET_{s.upper()}_DATABASE_URL): where is {s}'s schema?")
        schema = env.get(f"LGNET_{s.upper()}_DB_SCHEMA") or s
        public = env.get(f"LGNET_{s.upper()}_URL") or f"http://127.0.0.1:{DEFAULT_PORTS[s]}"
        found.append(Place(s, url, schema, public.rstrip("/")))
    return found


async def _in_schema(place: Place, work: Any, migrate: bool = True, action: tuple[str, str, str] | None = None) -> Any:
    """`work(conn)` in one transaction of the place's schema. With `action` (who, the command, the partner) it is
    recorded there in the same transaction (lgnet_shared.admin_actions): `work` answers (its result, the outcome)."""
    pool = await db.create_pool(place.database_url, place.schema)
    try:
        # The whole schema as the service makes it (intake), or the actors' tables: provisioning may come first.
        if migrate:
            own = [actors.MIGRATION, admin_actions.MIGRATION]
            await db.migrate(pool, all_migrations(MIGRATIONS) if place.service == "intake" else own)
        async with pool.acquire() as conn:
            if action is None:
                async with conn.transaction():
                    return await work(conn)
            by, command, target = action
            async with admin_actions.recorded(conn, by, PROG, command, target) as recording:
                result, recording.outcome = await work(conn)
                return result
    finally:
        await pool.close()


async def _ensure_actor(conn: Any, partner: str, city: str, name: str) -> None:
    """The partner's actor: created, or the same one again (onboarding twice is re-issuing)."""
    row = await conn.fetchrow("select role, city from actors where actor_id = $1", partner)
    if row is None:
        await actors.add_actor(conn, partner, actors.Role.PARTNER, city, name)
    elif (row["role"], row["city"]) != ("partner", city):
        raise Conflict("partner", f"{partner} already exists as {row['role']} of {row['city'] or 'national'}")


async def _ensure_signing_key(conn: Any, key_id: str, partner: str, public: bytes) -> None:
    row = await conn.fetchrow("select actor_id, public_key, revoked_at from signing_keys where key_id = $1", key_id)
    if row is None:
        await credentials.add_signing_key(conn, key_id, partner, public)
    elif row["actor_id"] != partner or bytes(row["public_key"]) != public or row["revoked_at"] is not None:
        raise Conflict("signing_key_id", f"signing key {key_id} is already registered with another key or revoked")


async def onboard(args: argparse.Namespace, env: dict[str, str]) -> list[str]:
    partner, city = args.partner, args.city
    principal = ka.Principal.partner_(partner, city=city)  # a bad id fails before anything is touched
    if not args.signing_key_id or ";" in args.signing_key_id:
        raise ContractError("signing_key_id", "must be non-empty and contain no ';'")
    public = public_key_bytes(args.signing_public_key, "signing_public_key")
    if len(public) != 32:
        raise ContractError("signing_public_key", f"an Ed25519 public key is 32 bytes, not {len(public)}")
    out = Path(args.out)
    if not out.parent.is_dir():
        raise ContractError("out", f"no folder {out.parent}")
    security, bootstrap, prefix = _kafka(env)
    where = await chosen_places(args.services, env, "onboard")
    deployment = args.deployment or env.get("LGNET_DEPLOYMENT") or None
    for place in where:  # before anything is written
        await check_owner(place, city, deployment, named=args.services is not None)
    tokens: dict[str, str] = {}
    async with Admin(bootstrap, security, prefix, int(env.get("LGNET_TOPIC_REPLICATION") or 1)) as admin:
        for place in where:  # the databases first: a refusal there leaves Kafka untouched

            async def provision(conn: Any, place: Place = place) -> tuple[str, str]:
                await _ensure_actor(conn, partner, city, args.name or partner)
                if place.service == "intake":
                    await _ensure_signing_key(conn, args.signing_key_id, partner, public)
                revoked = await actors.revoke_tokens(conn, partner)
                token = await actors.issue_token(conn, partner, args.token_days)
                key = f"signing key {args.signing_key_id}, " if place.service == "intake" else ""
                return token, f"partner of {city}: {key}token issued, {revoked} earlier token(s) revoked"

            tokens[place.service] = await _in_schema(place, provision, action=(args.by, "onboard", partner))
        password, acls = await admin.provision(principal, password=ka.new_password())
    assert password is not None
    dropped = await revoke_elsewhere(partner, args.services, env) if args.services is not None else []
    ca = _ca_pem(security)
    # the tokens' last day (the 401 after it says so), or none: until revoked (offboard, or onboarding again)
    ends = (datetime.now(UTC) + timedelta(days=args.token_days)).date().isoformat() if args.token_days else None
    bundle = {
        "format": BUNDLE_FORMAT,
        "partner": partner,
        "city": city,
        "issued_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "kafka": {
            "bootstrap_servers": bootstrap,
            "security_protocol": security.security_protocol,
            "sasl_mechanism": "SCRAM-SHA-512",
            "username": principal.name,
            "password": password,
            "ca_pem": ca,
            "topic_prefix": prefix,
            "inbound_topic": partner_inbound(city, prefix),
            "rejections_topic": physical(for_partner("partner.rejections.{partner}", partner), prefix),
            "reminders_topic": physical(for_partner("partner.reminders.{partner}", partner), prefix),
            "group_prefix": f"partner.{partner}.",
        },
        "signing": {"key_id": args.signing_key_id, "public_key": args.signing_public_key, "header": "lgnet-signature"},
        "services": {p.service: {"url": p.url, "token": tokens[p.service], "expires_at": ends} for p in where},
        "inbound_key_url": next((f"{p.url}/inbound-key" for p in where if p.service == "intake"), None),
    }
    write_private(out, json.dumps(bundle, indent=2) + "\n")
    return [
        f"onboarded {partner} ({city}): actor and token in {', '.join(p.service for p in where)};"
        f" signing key {args.signing_key_id}; Kafka user {principal.name} with {len(acls)} ACLs",
        f"bundle written to {out} (mode 600; it holds the password and tokens: hand it over safely)",
        *([f"tokens revoked in {', '.join(dropped)} (not in --services)"] if dropped else []),
    ]


async def partner_city(where: Sequence[Place], partner: str) -> str | None:
    """The partner's city, as its actor says in the first of these schemas that has it (None: in none)."""
    for place in where:
        conn = await asyncpg.connect(place.database_url)
        try:
            actors_table = await conn.fetchval("select to_regclass($1)", f'"{place.schema}".actors')
            if actors_table is not None and (
                city := await conn.fetchval(f"select city from {actors_table} where actor_id = $1", partner)
            ):
                return str(city)
        finally:
            await conn.close()
    return None


async def offboard(args: argparse.Namespace, env: dict[str, str]) -> list[str]:
    principal = ka.Principal.partner_(args.partner)
    security, bootstrap, prefix = _kafka(env)
    said: list[str] = []
    known = False
    where = await chosen_places(args.services, env, "offboard")
    deployment = args.deployment or env.get("LGNET_DEPLOYMENT") or None
    city = await partner_city(where, args.partner)
    if city is not None or deployment is not None:
        for place in where:  # before anything is revoked: tokens left in the right deployment's schemas kept working
            await check_owner(place, city or "", deployment, named=args.services is not None)
    for place in where:

        async def revoke(conn: Any, place: Place = place) -> tuple[tuple[bool, int, int], str]:
            exists = bool(await conn.fetchval("select exists (select 1 from actors where actor_id = $1)", args.partner))
            tokens = await actors.revoke_tokens(conn, args.partner)
            keys = await credentials.revoke_signing_keys(conn, args.partner) if place.service == "intake" else 0
            return (exists, tokens, keys), f"{tokens} token(s) and {keys} signing key(s) revoked"

        exists, tokens, keys = await _in_schema(place, revoke, action=(args.by, "offboard", args.partner))
        known = known or exists
        said.append(f"{place.service}: {tokens} token(s) revoked" + (f", {keys} signing key(s)" if keys else ""))
    async with Admin(bootstrap, security, prefix) as admin:
        had, removed = await admin.revoke(principal)
    if not known and not had and not removed:
        raise ContractError("partner", f"{args.partner} is not onboarded here (no actor, no Kafka user)")
    said.append(f"kafka: {principal.name} credentials {'deleted' if had else 'absent'}, {removed} ACL(s) deleted")
    return [f"offboarded {args.partner}: {'; '.join(said)}", "its rejection topic is kept (400 days of answers)"]


def _ca_pem(security: KafkaSecurity) -> str | None:
    """The cluster's CA certificate (public), so the partner can verify the brokers."""
    return Path(security.ssl_cafile).read_text() if security.ssl_cafile else None


def _kafka(env: dict[str, str]) -> tuple[KafkaSecurity, str, str]:
    bootstrap = env.get("KAFKA_BOOTSTRAP_SERVERS")
    if not bootstrap:
        raise ContractError("KAFKA_BOOTSTRAP_SERVERS", "not set (and the cluster admin's KAFKA_* settings)")
    return KafkaSecurity.from_env(env), bootstrap, env.get("LGNET_TOPIC_PREFIX", "")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def services(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "--services",
            type=lambda v: [s.strip() for s in v.split(",") if s.strip()],
            default=None,
            help="comma-separated services the partner uses (default: those whose schema is in the database, onboard"
            " refusing when one of the four has none; intake is always needed)",
        )

    o = sub.add_parser("onboard", help="actor, signing key, Kafka credentials and tokens; writes the bundle")
    o.add_argument("partner", help="partner id, as in its events (letters, digits, '-', '_')")
    o.add_argument("--city", required=True, choices=CITIES, metavar="CITY", help="the partner's city (torino, …)")
    o.add_argument("--name", help="the partner's display name")
    o.add_argument("--signing-key-id", required=True, help="the key id the partner's records name")
    o.add_argument("--signing-public-key", required=True, help="base64 of the raw 32-byte Ed25519 public key")
    o.add_argument("--out", required=True, help="where to write the onboarding bundle (JSON, mode 600)")
    o.add_argument("--token-days", type=whole_days, help="the API tokens open nothing after this many days")
    o.add_argument(
        "--deployment",
        help="the deployment whose schemas get the partner (default: LGNET_DEPLOYMENT; unset, one of the partner's"
        " city): a schema another deployment owns is refused; name a national one (`national`) on purpose",
    )
    services(o)
    f = sub.add_parser("offboard", help="revoke tokens, signing keys, Kafka credentials and ACLs")
    f.add_argument("partner")
    f.add_argument(
        "--deployment",
        help="the deployment whose schemas hold the partner (default: LGNET_DEPLOYMENT; unset, one of the partner's"
        " city, as its actor says): a schema another deployment owns is refused before anything is revoked; name a"
        " national one (`national`) on purpose",
    )
    services(f)
    admin_actions.add_by_option(p, sub)
    return p


def main(argv: Sequence[str] | None = None, env: dict[str, str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    unknown = [s for s in args.services or () if s not in SERVICES]
    if args.services is not None and (unknown or "intake" not in args.services):
        p.error(f"--services: choose among {', '.join(SERVICES)}, intake included (got {', '.join(args.services)})")
    environment = dict(os.environ if env is None else env)
    try:
        args.by = admin_actions.who(args.by, environment)
        work = onboard if args.command == "onboard" else offboard
        lines = asyncio.run(work(args, environment))
    except (ContractError, ka.PrincipalError, KafkaConfigError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except (Fail, ka.AdminError, TopicsNotCreated, KafkaError) as exc:
        print(f"{PROG}: error: kafka: {exc}", file=sys.stderr)
        return 1
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"{PROG}: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
