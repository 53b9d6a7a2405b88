"""Who calls a service's HTTP API: the FastAPI dependency that finds the actor behind a request's bearer token.
Actors, tokens and the city-wide rules are in `actors` (re-exported here); a service adds its own rules (e.g.
intake's case assignment)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from lgnet_shared.access import AUDITOR_READS_REPORTS_ONLY, PROGRAMME_WIDE, not_national
from lgnet_shared.actors import (
    MIGRATION,
    TOKEN_PREFIX,
    Actor,
    Role,
    actor_by_token,
    add_actor,
    deployment_city,
    issue_token,
    may_read_city,
    may_write_in_city,
    revoke_tokens,
    token_hash,
    token_refusal,
)
from lgnet_shared.errors import Forbidden, Unauthenticated
from lgnet_shared.events.types import Instant
from lgnet_shared.http import answers, bearer_token, problem_responses
from lgnet_shared.read_log_readers import reader_city

__all__ = [
    "MIGRATION",
    "TOKEN_PREFIX",
    "Actor",
    "Role",
    "Staff",
    "Who",
    "Writer",
    "actor_by_token",
    "add_actor",
    "deployment_city",
    "issue_token",
    "may_read_city",
    "may_write_in_city",
    "revoke_tokens",
    "token_hash",
    "token_refusal",
]


# Declares the bearer scheme in the OpenAPI document (every operation that needs a token carries `security`), so a
# generated client sends the token; it refuses nothing itself: `bearer_token` answers a missing or malformed header.
BEARER = HTTPBearer(
    auto_error=False, scheme_name="bearer", description="Your API token for this service (the onboarding bundle's)"
)
Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]


async def authenticate(request: Request, _: Bearer) -> Actor:
    """FastAPI dependency: the actor behind the request's bearer token, or 401 naming the header."""
    token = bearer_token(request)
    async with request.app.state.runtime.pool.acquire() as conn:
        actor = await actor_by_token(conn, token)
        if actor is None:
            raise Unauthenticated("headers.authorization", await token_refusal(conn, token))
    runtime = request.app.state.runtime
    refuse_auditor(runtime, actor)
    served = runtime.settings.city_filter
    if served is not None and actor.role not in PROGRAMME_WIDE and actor.city != served:
        raise Forbidden("headers.authorization", f"this deployment serves {served}, not {actor.city}")
    if actor.city in (runtime.leaves_out or ()):  # a national deployment's city that runs its own (SERVED_CITIES)
        raise Forbidden("headers.authorization", f"this deployment does not serve {actor.city}: it runs its own")
    return actor


def refuse_auditor(runtime: Any, actor: Actor) -> None:
    """Deny by default, once, at authentication: an auditor's token is refused (403) by every service but the one that
    admits auditors (reporting), on every route, so that no auditor ever reaches a route's `role is not
    Role.PARTNER` (the city's staff's) branch."""
    if actor.role is Role.AUDITOR and not runtime.spec.admits_auditors:
        raise Forbidden("headers.authorization", f"{AUDITOR_READS_REPORTS_ONLY}: {runtime.spec.name} refuses it")


Who = Annotated[Actor, Depends(authenticate)]


class Me(BaseModel):
    """Who the token is, and nothing else: what a client (the reporting dashboard) asks first, so that it requests only
    what its user may read."""

    actor_id: str
    role: Role = Field(description="partner, staff, national or auditor")
    city: str | None = Field(description="The actor's city; null for the national role and the auditor")


def me_router() -> APIRouter:
    """`GET /me` on every service (the app factory's): the caller's actor id, role and city. A service that refuses
    the caller (an auditor anywhere but reporting) refuses this too, saying why."""
    api = APIRouter(tags=["identity"], responses=problem_responses(without=(404, 409, 413, 422)))

    @api.get("/me", summary="Who calls: actor id, role and city", responses=answers(Me, "The caller"))
    async def me(actor: Who) -> Any:
        return {"actor_id": actor.id, "role": actor.role.value, "city": actor.city}

    return api


async def writer(actor: Who) -> Actor:
    """The caller of a route that changes something: the national role (read-only) refused by role before the
    request is read (a create without its Idempotency-Key, or with a body that would not validate, was answered 422
    naming the header or the fields before the 403). The use cases check their own rules again."""
    not_national(actor)
    return actor


Writer = Annotated[Actor, Depends(writer)]  # in place of `Who` on every route the national role may not use to write


async def staff_only(actor: Who) -> Actor:
    """The caller, if the city's staff: checked before the request is read, so that another role learns nothing from
    a validation error (a partner got 422 naming the fields before the 403). The use case checks it again."""
    if actor.role is not Role.STAFF:
        raise Forbidden("", "this is for the city's staff")
    return actor


Staff = Annotated[Actor, Depends(staff_only)]  # a staff-only route's caller, in place of `Who`


async def reader(request: Request, _: Bearer) -> str:
    """The city whose log the bearer's DPO read-log token opens (intake's `GET /read-log`, payments'
    `GET /download-log`); an actor's token is refused (403), anything else 401."""
    token = bearer_token(request)
    async with request.app.state.runtime.pool.acquire() as conn:
        city = await reader_city(conn, token)
        actor = None if city is not None else await actor_by_token(conn, token)
    if actor is not None:
        refuse_auditor(request.app.state.runtime, actor)
        raise Forbidden("headers.authorization", "the log is read with a DPO's read-log token, not an actor's")
    if city is None:
        raise Unauthenticated("headers.authorization", "not a read-log token, or revoked")
    return city


# Who says it calls: `desk` when the desk calls with its operator's token. A label in the logs, nothing more (a
# partner's software could send it too: the desk's own access log is what says the operator and the purpose).
Client = Annotated[
    str | None, Header(alias="LgNet-Client", max_length=20, description="`desk` from the desk: a label in the read log")
]

# A read log's route: the city its read-log token opens, how many entries (newest first), and a period (the DPO's
# page asks for whole days of the city): from `since` (included) to `before` (not).
ReaderCity = Annotated[str, Depends(reader)]
LogLimit = Annotated[int, Query(ge=1, le=100_000)]
# Whose entries a read log is asked for (a subject-access request): a person's id, or a household's in housing's.
LogSubject = Annotated[
    str | None, Query(max_length=200, description="A person's id (a household's at `household_id`): her entries")
]
LogPrincipal = Annotated[
    str | None, Query(max_length=200, description="A reader's id (a staff actor, a partner): its entries only")
]
Since = Annotated[Instant | None, Query(description="Entries at or after this time (ISO 8601 with its offset)")]
Before = Annotated[Instant | None, Query(description="Entries before this time (ISO 8601 with its offset)")]
