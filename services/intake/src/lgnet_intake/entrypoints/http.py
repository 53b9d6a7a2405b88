"""Intake's HTTP API for desk operators and partners (OpenAPI at /docs). Thin: authenticate, open a
transaction, call the use case, answer. Every create needs an Idempotency-Key; errors are problem+json.

Every success answer's body is documented by a model of `responses` (`responses=`: the OpenAPI only; what is sent is
the handler's answer as it is). Routes return `Any` rather than `dict[str, Any]`: FastAPI would make that return
type the documented body too, merged into the model's schema."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from lgnet_shared import pii
from lgnet_shared.auth import Client, Staff, Who, Writer
from lgnet_shared.db import Conn
from lgnet_shared.events import partner as inbound
from lgnet_shared.http import ChangeKey, CreateKey, problem_responses, replayable, request_secret, transition
from lgnet_shared.service import Runtime

from lgnet_intake import settings
from lgnet_intake.adapters import credentials
from lgnet_intake.entrypoints import responses as r
from lgnet_intake.entrypoints.calls import Calls
from lgnet_intake.service_layer import commands as cmd
from lgnet_intake.service_layer.handlers import Intake

ERRORS = problem_responses()


def router(runtime: Runtime) -> APIRouter:
    api = APIRouter(tags=["intake"], responses=ERRORS)

    def fiscal_secret() -> bytes:
        return pii.derive(runtime.settings.master_key_bytes(), "fiscal-code-hash")

    # Registration bodies hold names: their idempotency fingerprint is keyed, so a copy of the table alone cannot
    # confirm a guessed name (and erasure blanks the fingerprints of the person's requests).
    key_policy = settings.inbound_key_policy()
    publish = not settings.sandbox(runtime.settings.topic_prefix, runtime.settings.db_schema)
    national_secret = settings.national_pseudonym_key()
    earliest = settings.earliest_date()  # read at start: a bad value stops the service, naming the variable
    secret = request_secret(runtime.settings.master_key_bytes())

    def build(conn: Conn) -> Intake:
        assert runtime.keys is not None
        return Intake(conn, runtime.keys, fiscal_secret(), national_secret, publish=publish, earliest_date=earliest)

    calls = Calls(runtime, build, secret)
    use_case, create, act = calls.use_case, calls.create, calls.act

    @api.get(
        "/inbound-key",
        summary="Intake's current public key: partners seal identifying fields to it (HPKE); it rotates",
        responses=r.answers(r.InboundKey, "The key in use"),
    )
    async def inbound_key(actor: Who) -> Any:
        async with runtime.pool.acquire() as conn, conn.transaction():
            key_id, _, public = await credentials.inbound_key(conn, runtime.settings.master_key_bytes(), key_policy)
        return {"key_id": key_id, "public_key": public, "suite": "HPKE X25519 / HKDF-SHA256 / AES-128-GCM"}

    @api.get(
        "/partners",
        summary="The city's partner organisations by name (whom a case may be assigned to)",
        responses=r.answers(list[r.Partner], "By name"),
    )
    async def partners(actor: Who, city: Annotated[str | None, Query(max_length=64)] = None) -> Any:
        return await act(actor, lambda i, c: i.partners(c, city), national=True)

    @api.post(
        "/persons",
        status_code=201,
        summary="Register a person (duplicates are detected)",
        responses=r.answers(r.Registration, "The person registered", 201),
    )
    async def register_person(body: cmd.RegisterPerson, actor: Writer, key: CreateKey) -> JSONResponse:
        return await create(actor, key, body, lambda i, c: i.register_person(c, body))

    @api.post(
        "/persons/check",
        summary="Check a registration without registering it: the rules of POST /persons on what is given, nothing"
        " stored",
        responses=r.answers(r.PersonRef, "The registration would be accepted (duplicates aside)"),
    )
    async def check_person(body: cmd.CheckRegistration, actor: Writer) -> Any:
        return await act(actor, lambda i, c: i.check_person(c, body))

    @api.get(
        "/persons/{person_id}",
        summary="A person, with identity if allowed and consented",
        responses=r.answers(r.Person, "The person"),
    )
    async def read_person(person_id: str, actor: Who, client: Client = None) -> Any:
        # Logged as the record shown: a partner's own registration merged into another party's record is read as
        # itself (`Intake.read_person`), not as that record.
        return await calls.read(
            actor, client, "person", person_id, lambda i, c: i.read_person(c, person_id), lambda p: [p["person_id"]]
        )

    @api.patch(
        "/persons/{person_id}",
        summary="Correct or complete a person's data",
        responses=r.answers(r.PersonRef, "The person updated"),
    )
    async def update_person(person_id: str, body: cmd.UpdatePerson, actor: Writer, key: ChangeKey = None) -> Any:
        async with use_case(actor) as (intake, ctx):
            request = {"route": f"PATCH /persons/{person_id}", **body.model_dump(mode="json")}
            return await replayable(
                intake.conn, actor.id, key, request, lambda: intake.update_person(ctx, person_id, body)
            )

    @api.post(
        "/persons/{person_id}/merge",
        status_code=201,
        summary="Staff: the other person is the same as this one",
        responses=r.answers(r.PersonsMerged, "The persons merged", 201),
    )
    async def merge(person_id: str, body: cmd.MergePersons, actor: Staff, key: CreateKey) -> JSONResponse:
        return await create(actor, key, body, lambda i, c: i.merge_persons(c, person_id, body))

    @api.post(
        "/persons/{person_id}/erasure",
        summary="Staff: erase the person (right to be forgotten)",
        responses=r.answers(r.PersonErased, "The person erased"),
    )
    async def erase(person_id: str, actor: Staff, key: ChangeKey = None) -> Any:
        async with use_case(actor) as (intake, ctx):
            route = f"POST /persons/{person_id}/erasure"
            return await transition(intake.conn, actor.id, key, route, {}, lambda: intake.erase_person(ctx, person_id))

    @api.get(
        "/duplicates",
        summary="Staff: likely duplicates waiting for review",
        responses=r.answers(list[r.DuplicateFlag], "By person_id"),
    )
    async def duplicates(actor: Who) -> Any:
        return await act(actor, lambda i, c: i.duplicates(c))

    @api.post(
        "/consents",
        status_code=201,
        summary="Record consent given or withdrawn for a purpose",
        responses=r.answers(r.ConsentRecorded, "The consent recorded", 201),
    )
    async def consent(body: inbound.ConsentReported, actor: Writer, key: CreateKey) -> JSONResponse:
        return await create(actor, key, body, lambda i, c: i.record_consent(c, body))

    @api.post(
        "/employment",
        status_code=201,
        summary="Record a person's employment status (monitoring)",
        responses=r.answers(r.EmploymentRecorded, "The status recorded", 201),
    )
    async def employment(body: inbound.EmploymentReported, actor: Writer, key: CreateKey) -> JSONResponse:
        return await create(actor, key, body, lambda i, c: i.record_employment(c, body))

    @api.post(
        "/households",
        status_code=201,
        summary="Form a household of registered persons",
        responses=r.answers(r.HouseholdFormed, "The household formed", 201),
    )
    async def household(body: inbound.HouseholdFormationSubmitted, actor: Writer, key: CreateKey) -> JSONResponse:
        return await create(actor, key, body, lambda i, c: i.form_household(c, body))

    @api.post(
        "/households/members",
        status_code=201,
        summary="A person joins or leaves a household (its reference person does not leave it: 409 at person_id;"
        " name another member reference person first)",
        responses=r.answers(r.HouseholdChanged, "The change recorded", 201),
    )
    async def member(body: inbound.HouseholdMemberChangeSubmitted, actor: Writer, key: CreateKey) -> JSONResponse:
        return await create(actor, key, body, lambda i, c: i.change_household(c, body))

    @api.post(
        "/households/reference-person",
        status_code=201,
        summary="Name another current member the household's reference person (409 at person_id: not a member, or"
        " the reference person already; who may change its members may)",
        responses=r.answers(r.ReferencePersonChanged, "The change recorded", 201),
    )
    async def reference_person(
        body: inbound.HouseholdReferencePersonChangeSubmitted, actor: Writer, key: CreateKey
    ) -> JSONResponse:
        return await create(actor, key, body, lambda i, c: i.change_reference_person(c, body))

    @api.post(
        "/referrals",
        status_code=201,
        summary="Receive a referral",
        responses=r.answers(r.ReferralReceived, "The referral received", 201),
    )
    async def referral(body: inbound.ReferralSubmitted, actor: Writer, key: CreateKey) -> JSONResponse:
        return await create(actor, key, body, lambda i, c: i.receive_referral(c, body))

    @api.post(
        "/referrals/{referral_id}/outcome",
        status_code=201,
        summary="Record a referral's outcome",
        responses=r.answers(r.ReferralOutcome, "The outcome recorded", 201),
    )
    async def referral_outcome(
        referral_id: str, body: cmd.RecordReferralOutcome, actor: Writer, key: CreateKey
    ) -> JSONResponse:
        return await create(actor, key, body, lambda i, c: i.record_referral_outcome(c, referral_id, body))

    @api.post(
        "/cases",
        status_code=201,
        summary="Open a case (take a household in charge)",
        responses=r.answers(r.CaseOfPartner, "The case opened, and its partner", 201),
    )
    async def open_case(body: cmd.OpenCase, actor: Writer, key: CreateKey) -> JSONResponse:
        return await create(actor, key, body, lambda i, c: i.open_case(c, body))

    @api.get("/cases/{case_id}", summary="A case", responses=r.answers(r.Case, "The case"))
    async def read_case(case_id: str, actor: Who, client: Client = None) -> Any:
        # a case holds its members' vulnerabilities: a read of each member (a refusal names no person: not logged)
        return await calls.read(
            actor, client, "case", None, lambda i, c: i.read_case(c, case_id), lambda case: case["member_ids"]
        )

    @api.post(
        "/cases/assessments",
        status_code=201,
        summary="Record the needs assessment of a case",
        responses=r.answers(r.CaseRef, "The case assessed", 201),
    )
    async def assess(body: inbound.NeedsAssessmentSubmitted, actor: Writer, key: CreateKey) -> JSONResponse:
        return await create(actor, key, body, lambda i, c: i.assess_needs(c, body))

    @api.post(
        "/cases/plans",
        status_code=201,
        summary="Agree the individual plan of a case",
        responses=r.answers(r.PlanAgreed, "The plan agreed", 201),
    )
    async def plan(body: inbound.PlanSubmitted, actor: Writer, key: CreateKey) -> JSONResponse:
        return await create(actor, key, body, lambda i, c: i.agree_plan(c, body))

    @api.post(
        "/cases/plans/objectives",
        status_code=201,
        summary="Update an objective of a plan",
        responses=r.answers(r.PlanObjectives, "The plan's objectives now", 201),
    )
    async def objective(body: inbound.PlanObjectiveUpdateSubmitted, actor: Writer, key: CreateKey) -> JSONResponse:
        return await create(actor, key, body, lambda i, c: i.update_objective(c, body))

    @api.post(
        "/cases/{case_id}/transfer",
        status_code=201,
        summary="Transfer a case to another partner",
        responses=r.answers(r.CaseOfPartner, "The case, and its new partner", 201),
    )
    async def transfer(case_id: str, body: cmd.TransferCase, actor: Writer, key: CreateKey) -> JSONResponse:
        return await create(actor, key, body, lambda i, c: i.transfer_case(c, case_id, body))

    @api.post(
        "/cases/closures",
        status_code=201,
        summary="Close a case with its outcome",
        responses=r.answers(r.CaseClosed, "The case closed", 201),
    )
    async def close(body: inbound.CaseClosureSubmitted, actor: Writer, key: CreateKey) -> JSONResponse:
        return await create(actor, key, body, lambda i, c: i.close_case(c, body))

    return api
