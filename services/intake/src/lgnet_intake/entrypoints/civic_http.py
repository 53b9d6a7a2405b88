"""Civic engagement's HTTP API (docs/civic-engagement.md): activities, sessions, attendance registers, certificates.
Thin like http.py: authenticate, open a transaction, call the use case; creates take an Idempotency-Key. Answers
documented as in http.py."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from lgnet_shared.auth import Who, Writer
from lgnet_shared.db import Conn
from lgnet_shared.events import civic as ev
from lgnet_shared.http import CreateKey, problem_responses, request_secret
from lgnet_shared.service import Runtime

from lgnet_intake import settings
from lgnet_intake.entrypoints import responses as r
from lgnet_intake.entrypoints.calls import Calls
from lgnet_intake.service_layer import civic
from lgnet_intake.service_layer.handlers import Intake


def router(runtime: Runtime) -> APIRouter:
    api = APIRouter(prefix="/civic", tags=["civic engagement"], responses=problem_responses())
    publish = not settings.sandbox(runtime.settings.topic_prefix, runtime.settings.db_schema)
    secret = request_secret(runtime.settings.master_key_bytes())

    def build(conn: Conn) -> Intake:
        assert runtime.keys is not None
        # No registration happens here: the fiscal-code and national secrets are not needed.
        return Intake(conn, runtime.keys, b"", None, publish=publish)

    calls = Calls(runtime, build, secret)
    create, read = calls.create, calls.act

    @api.post(
        "/activities",
        status_code=201,
        summary="Organise an activity (course, orientation, community, peers)",
        responses=r.answers(r.ActivityOrganised, "The activity organised", 201),
    )
    async def organise(body: civic.OrganiseActivity, actor: Writer, key: CreateKey) -> JSONResponse:
        return await create(actor, key, body, lambda i, c: civic.organise_activity(i, c, body))

    @api.get(
        "/activities",
        summary="The city's activities (a partner's own), with sessions and participants",
        responses=r.answers(list[r.Activity], "The latest first"),
    )
    async def activities(actor: Who) -> Any:
        return await read(actor, civic.list_activities)

    @api.get(
        "/activities/{activity_id}",
        summary="An activity with its sessions and certificates",
        responses=r.answers(r.ActivityDetail, "The activity"),
    )
    async def activity(activity_id: str, actor: Who) -> Any:
        return await read(actor, lambda i, c: civic.read_activity(i, c, activity_id))

    @api.post(
        "/sessions",
        status_code=201,
        summary="Record a session held of an activity",
        responses=r.answers(r.SessionHeld, "The session recorded", 201),
    )
    async def session(body: ev.CivicSessionSubmitted, actor: Writer, key: CreateKey) -> JSONResponse:
        return await create(actor, key, body, lambda i, c: civic.hold_session(i, c, body))

    @api.get(
        "/activities/{activity_id}/sessions/{session_id}",
        summary="A session with its attendance register",
        responses=r.answers(r.SessionRegister, "The session"),
    )
    async def register(activity_id: str, session_id: str, actor: Who) -> Any:
        return await read(actor, lambda i, c: civic.read_register(i, c, activity_id, session_id))

    @api.post(
        "/attendance",
        status_code=201,
        summary="Record (or correct) the attendance register of a session",
        responses=r.answers(r.AttendanceRecorded, "The register recorded", 201),
    )
    async def attendance(body: ev.CivicAttendanceSubmitted, actor: Writer, key: CreateKey) -> JSONResponse:
        return await create(actor, key, body, lambda i, c: civic.record_attendance(i, c, body))

    @api.post(
        "/certificates",
        status_code=201,
        summary="Issue a certificate of attendance (with the CEFR level)",
        responses=r.answers(r.CertificateIssued, "The certificate issued", 201),
    )
    async def certificate(body: ev.CivicCertificateSubmitted, actor: Writer, key: CreateKey) -> JSONResponse:
        return await create(actor, key, body, lambda i, c: civic.issue_certificate(i, c, body))

    return api
