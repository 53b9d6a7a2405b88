"""Housing's HTTP API for desk operators, social workers and partners (OpenAPI at /docs). Thin: authenticate,
open a transaction, call the use case, answer. Creates need an Idempotency-Key; errors are problem+json.

Every success answer's body is documented by a model of `responses` (`responses={200: {"model": ...}}`: the
OpenAPI only; what is sent is the handler's answer as it is). Routes return `Any` rather than `Json`: FastAPI
would make a `dict[str, Any]` return type the documented body too, merged into the model's schema."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from lgnet_shared import clock
from lgnet_shared.auth import Before, Client, LogLimit, LogPrincipal, LogSubject, ReaderCity, Since, Staff, Who, Writer
from lgnet_shared.errors import Forbidden, NotFound
from lgnet_shared.http import (
    IF_MATCH_FIELD,
    ChangeKey,
    CreateKey,
    IfMatch,
    etagged,
    idempotent,
    if_match_version,
    problem_response,
    problem_responses,
    replayable,
    transition,
)
from lgnet_shared.read_log_readers import via_of
from lgnet_shared.service import Runtime
from pydantic import BaseModel

from lgnet_housing.adapters import read_log
from lgnet_housing.entrypoints import responses as r
from lgnet_housing.service_layer import commands as cmd
from lgnet_housing.service_layer.handlers import Context, Housing

Actor = Any
Json = dict[str, Any]
# A match's state asked for, or `any`: every state, in one answer (the desk's cartella asked six times per household)
StatusAsked = Literal["proposed", "accepted", "placed", "declined", "cancelled", "ended", "any"]
OPPORTUNITY: dict[int | str, dict[str, Any]] = {200: {"model": r.HousingOpportunity, "description": "The opportunity"}}
RULES: dict[int | str, dict[str, Any]] = {200: {"model": r.CityMatchingRules, "description": "The rules in force"}}
MATCH: dict[int | str, dict[str, Any]] = {200: {"model": r.MatchDetail, "description": "The match"}}
ERRORS = problem_responses(
    s403="Not allowed for this actor (other city, other partner, national role)",
    s409="Conflicts with what is recorded (wrong step, already done)",
)


def each_household(answer: list[Json]) -> list[str]:
    return [str(item["household_id"]) for item in answer]


def one_household(answer: Json) -> list[str]:
    return [str(answer["household_id"])]


def every_household_of_a_run(answer: Json) -> list[str]:
    """A matching run's answer: its proposals' households, the unmatched ones with their reasons, those not waiting."""
    return [str(x["household_id"]) for part in ("proposals", "unmatched", "not_waiting") for x in answer[part]]


def router(runtime: Runtime) -> APIRouter:
    api = APIRouter(tags=["housing"], responses=ERRORS)

    @asynccontextmanager
    async def use_case(actor: Actor, write: bool = True) -> AsyncIterator[tuple[Housing, Context]]:
        # The national role acts on nothing here (it reads reporting's aggregates): refused by role before anything
        # it names is looked up, so that it cannot tell an id that exists from one that does not.
        Context(today=clock.today(), actor=actor).city()
        async with runtime.pool.acquire() as conn, conn.transaction():
            housing = Housing(conn)
            if write and actor.city is not None:  # changes may re-match: the city's lock before any row lock
                await housing.lock_city(actor.city)
            yield housing, Context(today=clock.today(), actor=actor)

    async def create(
        actor: Actor, key: str | None, body: BaseModel, run: Callable[[Housing, Context], Awaitable[Json]]
    ) -> JSONResponse:
        async with use_case(actor) as (housing, ctx):
            return await idempotent(
                housing.conn,
                actor.id,
                key,
                {"path": run.__name__, **body.model_dump(mode="json")},
                lambda: run(housing, ctx),
            )

    async def change(
        actor: Actor,
        key: str | None,
        route: str,
        body: BaseModel | None,
        run: Callable[[Housing, Context], Awaitable[Any]],
        *,
        one_shot: bool = False,
        shown: tuple[str, Callable[[Any], Iterable[str]], str | None] | None = None,
    ) -> Any:
        """A state change other than a create: replayed with an Idempotency-Key; a one-shot transition repeated
        by the same actor without a key is answered as the success it was. `shown` (kind, the households the answer
        shows, the client): an answer that shows households' data is kept in the read log, in the change's
        transaction."""
        payload = body.model_dump(mode="json") if body is not None else {}
        async with use_case(actor) as (housing, ctx):
            if one_shot:
                answer = await transition(housing.conn, actor.id, key, route, payload, lambda: run(housing, ctx))
            else:
                request = {"route": route, **payload}
                answer = await replayable(housing.conn, actor.id, key, request, lambda: run(housing, ctx))
            if shown is not None:  # the first answer or a replay of it: both show the households' data
                kind, households, client = shown
                seen = json.loads(bytes(answer.body)) if isinstance(answer, JSONResponse) else answer
                await read_log.record(housing.conn, actor, kind, households(seen), "shown", via_of(client))
            return answer

    async def read(actor: Actor, run: Callable[[Housing, Context], Awaitable[Any]]) -> Any:
        async with use_case(actor, write=False) as (housing, ctx):
            return await run(housing, ctx)

    async def logged_read(
        actor: Actor,
        client: str | None,
        kind: str,
        run: Callable[[Housing, Context], Awaitable[Any]],
        households: Callable[[Any], Iterable[str]],
        household_id: str | None = None,
    ) -> Any:
        """A read of households' data, kept in the read log (one entry per household the answer shows, in the read's
        transaction: no entry, no answer); refused, for `household_id` if it exists, in a transaction of its own."""
        try:
            async with use_case(actor, write=False) as (housing, ctx):
                answer = await run(housing, ctx)
                await read_log.record(housing.conn, actor, kind, households(answer), "shown", via_of(client))
                return answer
        except (Forbidden, NotFound):
            if household_id is not None:
                async with runtime.pool.acquire() as conn:
                    await read_log.record(conn, actor, kind, [household_id], "denied", via_of(client))
            raise

    # ------------------------------------------------------------ catalogue

    @api.post(
        "/opportunities",
        status_code=201,
        summary="List a housing opportunity in the actor's city",
        responses={201: {"model": r.HousingOpportunity, "description": "The opportunity as listed"}},
    )
    async def list_opportunity(body: cmd.ListOpportunity, actor: Writer, key: CreateKey) -> JSONResponse:
        async def run(h: Housing, c: Context) -> Json:
            return await h.list_opportunity(c, body)

        return await create(actor, key, body, run)

    @api.get(
        "/opportunities",
        summary="The city's opportunities",
        responses={200: {"model": list[r.CatalogueOpportunity], "description": "By opportunity_id"}},
    )
    async def opportunities(actor: Who, status: Literal["open", "withdrawn"] | None = None) -> Any:
        return await read(actor, lambda h, c: h.list_opportunities(c, status))

    @api.get("/opportunities/{opportunity_id}", summary="An opportunity", responses=OPPORTUNITY)
    async def opportunity(opportunity_id: str, actor: Who) -> Any:
        return await read(actor, lambda h, c: h.read_opportunity(c, opportunity_id))

    @api.patch(
        "/opportunities/{opportunity_id}",
        summary="Change an open opportunity (only the fields given)",
        responses=OPPORTUNITY,
    )
    async def update(opportunity_id: str, body: cmd.UpdateOpportunity, actor: Writer, key: ChangeKey = None) -> Any:
        route = f"PATCH /opportunities/{opportunity_id}"
        return await change(actor, key, route, body, lambda h, c: h.update_opportunity(c, opportunity_id, body))

    @api.post(
        "/opportunities/{opportunity_id}/withdrawal",
        summary="Withdraw an opportunity from the catalogue",
        responses=OPPORTUNITY,
    )
    async def withdraw(opportunity_id: str, body: cmd.WithdrawOpportunity, actor: Writer, key: ChangeKey = None) -> Any:
        route = f"POST /opportunities/{opportunity_id}/withdrawal"
        run = lambda h, c: h.withdraw_opportunity(c, opportunity_id, body)  # noqa: E731
        return await change(actor, key, route, body, run, one_shot=True)

    # ------------------------------------------------------------ rules and matching

    def rules_version(rules: dict[str, Any]) -> int:
        return int(rules["version"])

    @api.get("/rules", summary="The city's matching rules and score weights (ETag: their version)", responses=RULES)
    async def read_rules(actor: Who) -> Any:
        return etagged(await read(actor, lambda h, c: h.read_rules(c)), rules_version)

    @api.put(
        "/rules",
        summary="Staff: set the city's matching rules and score weights (all of them; If-Match: over the version read)",
        responses=RULES | {412: problem_response("Changed since the version read: read them again")},
    )
    async def save_rules(body: cmd.SetRules, actor: Staff, key: ChangeKey = None, if_match: IfMatch = None) -> Any:
        version = if_match_version(if_match)
        said_at = IF_MATCH_FIELD if version is not None else "version"
        version = body.version if version is None else version
        run = lambda h, c: h.save_rules(c, body.rules(), version, said_at, body.city)  # noqa: E731
        # the condition is part of the request: the same key with another If-Match is another request
        return etagged(await change(actor, key, f"PUT /rules over {version}", body, run), rules_version)

    @api.post(
        "/matching/runs",
        summary="Run the city-wide matching now; answers proposals and the unmatched",
        responses={200: {"model": r.MatchingRun, "description": "The proposals made and why the others got none"}},
    )
    async def run_matching(actor: Staff, key: ChangeKey = None, client: Client = None) -> Any:
        run = lambda h, c: h.matching_for(c)  # noqa: E731
        shown = ("matching_run", every_household_of_a_run, client)
        return await change(actor, key, "POST /matching/runs", None, run, shown=shown)

    @api.get(
        "/households",
        summary="The city's waiting list with priorities, first served first",
        responses={200: {"model": list[r.WaitingHousehold], "description": "First served first"}},
    )
    async def waiting(actor: Who, client: Client = None) -> Any:
        return await logged_read(actor, client, "waiting_list", lambda h, c: h.waiting_list(c), each_household)

    @api.get(
        "/households/{household_id}",
        summary="A household's entry of the waiting list (404 if not on the caller's list)",
        responses={200: {"model": r.WaitingHousehold, "description": "As its element of GET /households"}},
    )
    async def waiting_household(household_id: str, actor: Who, client: Client = None) -> Any:
        run = lambda h, c: h.waiting_entry(c, household_id)  # noqa: E731
        return await logged_read(actor, client, "household", run, one_household, household_id)

    @api.get(
        "/households/{household_id}/why",
        summary="Why isn't this household matching?",
        responses={200: {"model": r.WhyNotMatching, "description": "Its state, then the reasons"}},
    )
    async def why(household_id: str, actor: Who, client: Client = None) -> Any:
        return await logged_read(actor, client, "why", lambda h, c: h.why(c, household_id), one_household, household_id)

    @api.get(
        "/proposals",
        summary="Matches of the city (partners: those of their cases or opportunities), or of one household",
        responses={200: {"model": list[r.Match], "description": "By proposal day, then match_id"}},
    )
    async def proposals(
        actor: Who,
        status: Annotated[
            StatusAsked | None,
            Query(description="The matches in this state (default `proposed`); `any`: in every state, in one answer"),
        ] = "proposed",
        household_id: Annotated[str | None, Query(description="Only this household's matches")] = None,
        client: Client = None,
    ) -> Any:
        state = None if status == "any" else status
        run = lambda h, c: h.list_matches(c, state, household_id)  # noqa: E731
        return await logged_read(actor, client, "matches", run, each_household)

    @api.get("/matches/{match_id}", summary="A match with its explanation and score breakdown", responses=MATCH)
    async def read_match(match_id: str, actor: Who, client: Client = None) -> Any:
        return await logged_read(actor, client, "match", lambda h, c: h.read_match(c, match_id), one_household)

    @api.get(
        "/read-log",
        summary="The city's read log (DPO): who read which household's data through the API, newest first; read with"
        " a read-log token (`lgnet-admin --schema housing issue-read-log-token`), never an actor's",
        responses={200: {"model": list[r.ReadLogEntry], "description": "Newest first"}},
    )
    async def read_log_entries(
        city: ReaderCity,
        household_id: LogSubject = None,
        person_id: LogSubject = None,  # a member's: the reads of her households when read
        principal: LogPrincipal = None,  # one reader's ("what did this operator look at?")
        limit: LogLimit = 500,
        since: Since = None,
        before: Before = None,
    ) -> Any:
        async with runtime.pool.acquire() as conn:
            rows = await read_log.entries(
                conn, city, household_id or None, limit, since, before, person_id or None, principal or None
            )
        return jsonable_encoder(rows)

    # ------------------------------------------------------------ workflow

    @api.post("/matches/{match_id}/acceptance", summary="The proposal is accepted", responses=MATCH)
    async def accept(
        match_id: str, body: cmd.AcceptMatch, actor: Writer, key: ChangeKey = None, client: Client = None
    ) -> Any:
        route, run = f"POST /matches/{match_id}/acceptance", lambda h, c: h.accept(c, match_id, body)
        return await change(actor, key, route, body, run, one_shot=True, shown=("match", one_household, client))

    @api.post(
        "/matches/{match_id}/decline",
        summary="Decline (household or provider, coded reason); re-matches",
        responses=MATCH,
    )
    async def decline(
        match_id: str, body: cmd.DeclineMatch, actor: Writer, key: ChangeKey = None, client: Client = None
    ) -> Any:
        route, run = f"POST /matches/{match_id}/decline", lambda h, c: h.decline(c, match_id, body)
        return await change(actor, key, route, body, run, one_shot=True, shown=("match", one_household, client))

    @api.post(
        "/matches/{match_id}/placement",
        status_code=201,
        summary="Start the placement of an accepted match",
        responses={201: {"model": r.Placement, "description": "The placement started"}},
    )
    async def place(match_id: str, body: cmd.StartPlacement, actor: Writer, key: CreateKey) -> JSONResponse:
        async def start_placement(h: Housing, c: Context) -> Json:
            return await h.start_placement(c, match_id, body)

        return await create(actor, key, body, start_placement)

    @api.post(
        "/placements/{placement_id}/lease",
        status_code=201,
        summary="Record the signed lease or sub-lease",
        responses={201: {"model": r.Lease, "description": "The lease recorded (the lease_signed event's data)"}},
    )
    async def lease(placement_id: str, body: cmd.SignLease, actor: Writer, key: CreateKey) -> JSONResponse:
        async def sign_lease(h: Housing, c: Context) -> Json:
            return await h.sign_lease(c, placement_id, body)

        return await create(actor, key, body, sign_lease)

    @api.post(
        "/placements/{placement_id}/end",
        summary="End a placement (autonomy reached, moved, dropped out)",
        responses={200: {"model": r.Placement, "description": "The placement, ended"}},
    )
    async def end(placement_id: str, body: cmd.EndPlacement, actor: Writer, key: ChangeKey = None) -> Any:
        route = f"POST /placements/{placement_id}/end"
        run = lambda h, c: h.end_placement(c, placement_id, body)  # noqa: E731
        return await change(actor, key, route, body, run, one_shot=True)

    @api.post(
        "/households/{household_id}/park",
        summary="Put a household on hold until a date",
        responses={200: {"model": r.Hold, "description": "The hold"}},
    )
    async def park(household_id: str, body: cmd.ParkHousehold, actor: Writer, key: ChangeKey = None) -> Any:
        route = f"POST /households/{household_id}/park"
        return await change(actor, key, route, body, lambda h, c: h.park(c, household_id, body))

    @api.post(
        "/households/{household_id}/unpark",
        summary="Take a household off hold",
        responses={200: {"model": r.HoldLifted, "description": "Off hold from `on`"}},
    )
    async def unpark(household_id: str, body: cmd.UnparkHousehold, actor: Writer, key: ChangeKey = None) -> Any:
        route = f"POST /households/{household_id}/unpark"
        return await change(actor, key, route, body, lambda h, c: h.unpark(c, household_id, body))

    @api.post(
        "/matching/stalled-check",
        summary="Staff: remind stalled match steps; release expired holds",
        responses={200: {"model": r.StalledCheckOutcome, "description": "The reminders emitted, the holds released"}},
    )
    async def stalled(body: cmd.StalledCheck, actor: Staff, key: ChangeKey = None) -> Any:
        async def run(h: Housing, c: Context) -> Json:
            return await h.stalled_check(c, c.city(), body.on)

        return await change(actor, key, "POST /matching/stalled-check", body, run)

    @api.get(
        "/reminders",
        summary="Open reminders (stalled match steps, holds ending within a week): the city's for staff, a"
        " partner's own cases' for a partner",
        responses={200: {"model": list[r.Reminder], "description": "Oldest step first, then the holds by end"}},
    )
    async def reminders(actor: Who, client: Client = None) -> Any:
        # a hold's reason may be health ("hospitalised"): each household a reminder shows is kept in the read log
        return await logged_read(actor, client, "reminders", lambda h, c: h.reminders(c), each_household)

    return api
