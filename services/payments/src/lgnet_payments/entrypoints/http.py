"""Payments' HTTP API (OpenAPI at /docs). Thin: authenticate, open a transaction, call the use case, answer.
Every create needs an Idempotency-Key; errors are problem+json naming the field and reason. Every success answer's
body is documented by a model of `responses` (`responses={200: {"model": ...}}`: the OpenAPI only; what is sent is
the handler's answer as it is)."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response
from lgnet_shared import clock
from lgnet_shared.access import Actor
from lgnet_shared.auth import Before, Client, LogLimit, LogPrincipal, LogSubject, ReaderCity, Since, Staff, Who, Writer
from lgnet_shared.errors import Forbidden, NotFound
from lgnet_shared.events.types import IsoDate
from lgnet_shared.http import (
    ChangeKey,
    CreateKey,
    IfMatch,
    Sealed,
    etagged,
    idempotent,
    if_match_version,
    problem_response,
    problem_responses,
    replayable,
    request_secret,
    transition,
)
from lgnet_shared.read_log_readers import via_of
from lgnet_shared.service import Runtime

from lgnet_payments.adapters import bank_files, read_log
from lgnet_payments.entrypoints import responses as r
from lgnet_payments.service_layer import (
    budgets,
    contributions,
    disbursement,
    payment_files,
    reimbursements,
    shared_payees,
    tutoring,
    vouchers,
)
from lgnet_payments.service_layer import commands as cmd
from lgnet_payments.service_layer.context import Context, UnitOfWork

RequestStatus = Literal["requested", "approved", "rejected", "batched", "paid"]  # the schema's check constraint
# YYYY-MM-DD (`IsoDate`), as the OpenAPI's `format: date` says: pydantic's lax `date` took `0` as 1970-01-01.
AsOf = Annotated[IsoDate | None, Query(description="Balances at the end of this day (default: now)")]
REQUEST: dict[int | str, dict[str, Any]] = {200: {"model": r.ContributionRequest, "description": "The request"}}
PROVIDER: dict[int | str, dict[str, Any]] = {200: {"model": r.Provider, "description": "The provider"}}
ERRORS = problem_responses(s409="Conflicts with what is recorded (wrong state, over budget, spent voucher)")
Run = Callable[[UnitOfWork, Context], Awaitable[Any]]
Subject = Callable[[UnitOfWork, Context], Awaitable[str]]
BANK_FILE = {
    "requestBody": {
        "required": True,
        "content": {
            "application/xml": {"schema": {"type": "string", "description": "camt.054 (ISO 20022)"}},
            "text/csv": {"schema": {"type": "string", "description": "CSV, see docs/payments.md"}},
        },
    }
}


def file_response(file: dict[str, Any], xml: bytes, filename: str) -> Response:
    """A stored payment file with its digest (RFC 9530 Repr-Digest, and the hex SHA-256 as ETag)."""
    digest = base64.b64encode(bytes.fromhex(file["sha256"])).decode()
    return Response(
        xml,
        media_type="application/xml",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "ETag": f'"{file["sha256"]}"',
            "Repr-Digest": f"sha-256=:{digest}:",
            "X-Message-Id": file["message_id"],
        },
    )


def payees_shown(answer: Any) -> list[tuple[str, str]]:
    """The requests an answer (one, a list, or a replay's JSONResponse) shows something of the payee of, each with
    what (read_log.KINDS): `payee`, the name (and the IBAN masked); `iban_masked`, the IBAN masked alone."""
    seen = json.loads(bytes(answer.body)) if isinstance(answer, JSONResponse) else answer
    shown = []
    for one in seen if isinstance(seen, list) else [seen]:
        if isinstance(one, dict) and "request_id" in one:
            if one.get("payee_name") is not None:
                shown.append((str(one["request_id"]), "payee"))
            elif one.get("iban_masked") is not None or one.get("approved_iban_masked") is not None:
                shown.append((str(one["request_id"]), "iban_masked"))
    return shown


def router(runtime: Runtime) -> APIRouter:
    api = APIRouter(tags=["payments"], responses=ERRORS)
    # A request's body may hold a payee's name and IBAN: the stored fingerprint that recognises a retry is keyed.
    secret = request_secret(runtime.settings.master_key_bytes())

    @asynccontextmanager
    async def unit(actor: Actor, *, totals: bool = False) -> AsyncIterator[tuple[UnitOfWork, Context]]:
        """`totals`: the route reads the cities' money totals, which the national role may read too."""
        ctx = Context(actor, clock.today())
        if not totals:
            ctx.acts_in_a_city()
        async with runtime.pool.acquire() as conn, conn.transaction():
            yield UnitOfWork(conn, runtime.keys), ctx

    @asynccontextmanager
    async def logged_refusal(actor: Actor, batch_id: str, client: str | None) -> AsyncIterator[None]:
        """A payment file's download refused is kept in the download log, `denied`, then answered as it was."""
        try:
            yield
        except (Forbidden, NotFound):
            async with runtime.pool.acquire() as conn:
                await payment_files.refused(conn, actor.id, batch_id, via_of(client))
            raise

    async def create(
        actor: Actor,
        key: str | None,
        body: Any,
        run: Run,
        sealed: Callable[[UnitOfWork], Sealed] | None = None,
        payee: str | Literal[False] | None = False,
    ) -> JSONResponse:
        """`payee`: the answer may show a request's payee (the IBAN masked): kept in the read log, `payee` the
        caller's `LgNet-Client` (False: not such a route)."""
        async with unit(actor) as (uow, ctx):

            async def once() -> dict[str, Any]:
                return jsonable_encoder(await run(uow, ctx))  # type: ignore[no-any-return]

            apart = sealed(uow) if sealed is not None else None
            answer = await idempotent(uow.conn, actor.id, key, body, once, secret=secret, sealed=apart)
            if payee is not False:
                await read_log.record(uow.conn, actor, payees_shown(answer), "shown", via_of(payee))
            return answer

    def provider_name(uow: UnitOfWork) -> Sealed:
        """A provider's name is sealed in its row (a babysitter is a natural person): not kept in the stored answer."""

        async def read(answer: dict[str, Any]) -> dict[str, Any]:
            return {"name": await vouchers.provider_name(uow, answer["provider_id"])}

        return Sealed(frozenset({"name"}), read)

    async def act(actor: Actor, run: Run, *, totals: bool = False) -> Any:
        async with unit(actor, totals=totals) as (uow, ctx):
            return jsonable_encoder(await run(uow, ctx))

    async def payee_read(actor: Actor, client: str | None, run: Run, request_id: str | None = None) -> Any:
        """A read answering requests' payees (the name, the IBAN masked): one entry per request whose payee it shows
        in payments' read log, in the read's transaction (no entry, no answer); refused, for `request_id` if it
        exists, `denied` in a transaction of its own."""
        try:
            async with unit(actor) as (uow, ctx):
                answer = jsonable_encoder(await run(uow, ctx))
                await read_log.record(uow.conn, actor, payees_shown(answer), "shown", via_of(client))
                return answer
        except (Forbidden, NotFound):
            if request_id is not None:
                async with runtime.pool.acquire() as conn:
                    await read_log.record(conn, actor, [(request_id, "payee")], "denied", via_of(client))
            raise

    async def change(
        actor: Actor,
        key: str | None,
        route: str,
        body: Any,
        run: Run,
        *,
        one_shot: bool = False,
        status: int = 200,
        subject: Subject | None = None,
        sealed: Callable[[UnitOfWork], Sealed] | None = None,
        payee: str | Literal[False] | None = False,
    ) -> Any:
        """A state change other than a create: replayed with an Idempotency-Key; a one-shot transition repeated
        by the same actor without a key is answered as the success it was. `subject`: what the transition acts on
        when it can be taken again later on something new (an approval, of bank data changed since): without a key,
        the same transition of another subject is a new one, not the first one's answer replayed. `sealed`,
        `payee`: as `create`'s (the first answer or a replay of it: both show the payee)."""
        async with unit(actor) as (uow, ctx):

            async def once() -> Any:
                return jsonable_encoder(await run(uow, ctx))

            apart = sealed(uow) if sealed is not None else None
            if one_shot:
                if key is None and subject is not None:
                    route = f"{route} ({await subject(uow, ctx)})"
                answer = await transition(uow.conn, actor.id, key, route, body, once, status, apart)
            else:
                answer = await replayable(
                    uow.conn, actor.id, key, {"route": route, **body}, once, status, secret, apart
                )
            if payee is not False:
                await read_log.record(uow.conn, actor, payees_shown(answer), "shown", via_of(payee))
            return answer

    # ------------------------------------------------------------ policy and budgets

    def policy_version(policy: dict[str, Any]) -> int:
        return int(policy["version"])

    @api.get(
        "/policies/{city}",
        summary="The city's payment policy (thresholds, automatic requests, paying account)",
        responses={
            200: {
                "model": r.PaymentPolicy,
                "description": "The policy in force (the defaults until set); ETag: its version",
            }
        },
    )
    async def get_policy(city: str, actor: Who) -> Any:
        return etagged(await act(actor, lambda u, c: budgets.get_policy(u, c, city)), policy_version)

    @api.put(
        "/policies/{city}",
        summary="Staff: set the city's payment policy (the whole of it; If-Match: only over the version read)",
        responses={
            200: {"model": r.PaymentPolicy, "description": "The policy set; ETag: its new version"},
            412: problem_response("Changed since the version If-Match names: read it again"),
        },
    )
    async def put_policy(
        city: str, body: cmd.SetPolicy, actor: Staff, key: ChangeKey = None, if_match: IfMatch = None
    ) -> Any:
        version = if_match_version(if_match)
        payload = body.model_dump(mode="json") | {"if_match": version}
        run: Run = lambda u, c: budgets.set_policy(u, c, city, body, version)  # noqa: E731
        return etagged(await change(actor, key, f"PUT /policies/{city}", payload, run), policy_version)

    @api.post(
        "/budget-lines",
        status_code=201,
        summary="Staff: allocate money to a budget line of the grant",
        responses={201: {"model": r.BudgetLine, "description": "The budget line after the allocation"}},
    )
    async def allocate(body: cmd.AllocateBudget, actor: Staff, key: CreateKey) -> JSONResponse:
        return await create(actor, key, body.model_dump(mode="json"), lambda u, c: budgets.allocate(u, c, body))

    @api.post(
        "/budget-lines/{budget_line_id}/adjustments",
        status_code=201,
        summary="Staff: adjust a budget line",
        responses={201: {"model": r.BudgetLine, "description": "The budget line after the adjustment"}},
    )
    async def adjust(budget_line_id: str, body: cmd.AdjustBudget, actor: Staff, key: CreateKey) -> JSONResponse:
        payload = {"budget_line_id": budget_line_id, **body.model_dump(mode="json")}
        return await create(actor, key, payload, lambda u, c: budgets.adjust(u, c, budget_line_id, body))

    @api.get(
        "/budget-lines",
        summary="Budget lines of a city with their ledger balances",
        responses={200: {"model": list[r.BudgetLineBalances], "description": "By line"}},
    )
    async def lines(actor: Who, city: str | None = None, as_of: AsOf = None) -> Any:
        return await act(actor, lambda u, c: budgets.lines(u, c, city, as_of), totals=True)

    @api.get(
        "/ledger/balances",
        summary="Ledger balances per account, for a city, budget line, case or household",
        responses={200: {"model": r.LedgerBalances, "description": "The balances asked for"}},
    )
    async def balances(
        actor: Who,
        city: str | None = None,
        as_of: AsOf = None,
        budget_line_id: str | None = None,
        case_id: str | None = None,
        household_id: str | None = None,
    ) -> Any:
        return await act(
            actor,
            lambda u, c: budgets.balances(
                u, c, city=city, as_of=as_of, budget_line_id=budget_line_id, case_id=case_id, household_id=household_id
            ),
            totals=True,
        )

    # ------------------------------------------------------------ contribution requests

    @api.post(
        "/contribution-requests",
        status_code=201,
        summary="Request a contribution for a case",
        responses={201: {"model": r.ContributionRequest, "description": "The request"}},
    )
    async def request(
        body: cmd.RequestContribution, actor: Writer, key: CreateKey, client: Client = None
    ) -> JSONResponse:
        payload = body.model_dump(mode="json")
        run: Run = lambda u, c: contributions.request_contribution(u, c, body)  # noqa: E731
        return await create(actor, key, payload, run, payee=client)

    @api.get(
        "/contribution-requests",
        summary="Contribution requests of the actor's city",
        responses={200: {"model": list[r.ContributionRequest], "description": "By request_id"}},
    )
    async def list_requests(
        actor: Who, status: RequestStatus | None = None, case_id: str | None = None, client: Client = None
    ) -> Any:
        return await payee_read(actor, client, lambda u, c: contributions.listing(u, c, status, case_id))

    @api.get(
        "/reminders",
        summary="Requests waiting for the payee's bank data (never given, or refused by the payee's bank): the city's"
        " for staff, a partner's own cases' for a partner",
        responses={200: {"model": list[r.BankDataReminder], "description": "Longest waiting first"}},
    )
    async def reminders(actor: Who) -> Any:
        return await act(actor, lambda u, c: contributions.reminders(u, c))

    @api.get("/contribution-requests/{request_id}", summary="A contribution request", responses=REQUEST)
    async def read_request(request_id: str, actor: Who, client: Client = None) -> Any:
        return await payee_read(actor, client, lambda u, c: contributions.read(u, c, request_id), request_id)

    @api.put(
        "/contribution-requests/{request_id}/beneficiary",
        summary="Set or change who is paid (name, IBAN, BIC; sealed): a change needs a new approval by someone else;"
        " a batched or paid request refuses it (409)",
        responses=REQUEST,
    )
    async def beneficiary(
        request_id: str, body: cmd.Beneficiary, actor: Writer, key: ChangeKey = None, client: Client = None
    ) -> Any:
        # The body carries the IBAN: only its digest is kept with the key.
        payload = {"sha256": hashlib.sha256(body.model_dump_json().encode()).hexdigest()}
        route = f"PUT /contribution-requests/{request_id}/beneficiary"
        run: Run = lambda u, c: contributions.set_beneficiary(u, c, request_id, body)  # noqa: E731
        return await change(actor, key, route, payload, run, payee=client)

    @api.post(
        "/contribution-requests/{request_id}/approval",
        summary="Staff: approve (second approver above threshold); a possible duplicate only with duplicate_reason",
        responses=REQUEST,
    )
    async def approve(
        request_id: str, actor: Staff, body: cmd.Approve | None = None, key: ChangeKey = None, client: Client = None
    ) -> Any:
        route = f"POST /contribution-requests/{request_id}/approval"
        payload = body.model_dump(mode="json", exclude_none=True) if body else {}
        run: Run = lambda u, c: contributions.approve(u, c, request_id, body)  # noqa: E731
        subject: Subject = lambda u, c: contributions.approval_subject(u, c, request_id)  # noqa: E731
        return await change(actor, key, route, payload, run, one_shot=True, subject=subject, payee=client)

    @api.post("/contribution-requests/{request_id}/rejection", summary="Staff: reject with a reason", responses=REQUEST)
    async def reject(
        request_id: str, body: cmd.Reject, actor: Staff, key: ChangeKey = None, client: Client = None
    ) -> Any:
        route = f"POST /contribution-requests/{request_id}/rejection"
        run: Run = lambda u, c: contributions.reject(u, c, request_id, body)  # noqa: E731
        return await change(actor, key, route, body.model_dump(mode="json"), run, one_shot=True, payee=client)

    @api.post(
        "/contribution-requests/{request_id}/withdrawal",
        summary="Staff: withdraw an approved request not yet batched, with a reason (its commitment is released)",
        responses=REQUEST,
    )
    async def withdraw(
        request_id: str, body: cmd.Withdraw, actor: Staff, key: ChangeKey = None, client: Client = None
    ) -> Any:
        route = f"POST /contribution-requests/{request_id}/withdrawal"
        run: Run = lambda u, c: contributions.withdraw(u, c, request_id, body)  # noqa: E731
        return await change(actor, key, route, body.model_dump(mode="json"), run, one_shot=True, payee=client)

    # ------------------------------------------------------------ batches and reconciliation

    @api.post(
        "/batches",
        status_code=201,
        summary="Staff: batch every approved request for payment",
        responses={201: {"model": r.Batch, "description": "The batch made and its file"}},
    )
    async def batch(body: cmd.CreateBatch, actor: Staff, key: CreateKey) -> JSONResponse:
        return await create(
            actor, key, body.model_dump(mode="json"), lambda u, c: disbursement.create_batch(u, c, body)
        )

    @api.get(
        "/batches",
        summary="Staff: the city's batches, newest first, with where their payments stand",
        responses={200: {"model": list[r.BatchSummary], "description": "The batches"}},
    )
    async def list_batches(actor: Who, limit: Annotated[int, Query(ge=1, le=500)] = 50) -> Any:
        return await act(actor, lambda u, c: disbursement.batches(u, c, limit))

    @api.get(
        "/batches/{batch_id}",
        summary="A batch and the state of its payments",
        responses={200: {"model": r.BatchPayments, "description": "The batch, its file and its payments"}},
    )
    async def read_batch(batch_id: str, actor: Who) -> Any:
        return await act(actor, lambda u, c: disbursement.batch_view(u, c, batch_id))

    @api.get(
        "/batches/{batch_id}/pain.001",
        summary="Staff: the batch's SEPA credit transfer file (pain.001.001.09 or .03), as stored when the batch was"
        " made: byte-identical at every download, its SHA-256 in the ETag and Repr-Digest headers",
        response_class=Response,
        responses={200: {"content": {"application/xml": {}}}},
    )
    async def pain001(batch_id: str, actor: Who, client: Client = None) -> Response:
        async with logged_refusal(actor, batch_id, client), unit(actor) as (uow, ctx):
            file = await disbursement.batch_file(uow, ctx, batch_id)
            xml = await payment_files.served(uow, ctx, file, via_of(client))  # recorded in the file's download log
        return file_response(file, xml, f"pain.001-{batch_id}.xml")

    @api.get(
        "/download-log",
        summary="The city's download log of its payment files (DPO): who downloaded which file, when, newest first;"
        " read with a read-log token (`lgnet-admin --schema payments issue-read-log-token`), never an actor's",
        responses={200: {"model": list[r.DownloadLogEntry], "description": "Newest first"}},
    )
    async def download_log(
        city: ReaderCity,
        person_id: LogSubject = None,  # the files paying her households
        principal: LogPrincipal = None,  # one downloader's ("what did this operator look at?")
        limit: LogLimit = 500,
        since: Since = None,
        before: Before = None,
    ) -> Any:
        async with runtime.pool.acquire() as conn:
            rows = await payment_files.download_log(
                conn, city, limit, since, before, person_id or None, principal or None
            )
        return jsonable_encoder(rows)

    @api.get(
        "/read-log",
        summary="The city's read log (DPO): who read which request's payee (its name, its IBAN masked) through the API,"
        " newest first; read with a read-log token (`lgnet-admin --schema payments issue-read-log-token`), never an"
        " actor's",
        responses={200: {"model": list[r.ReadLogEntry], "description": "Newest first"}},
    )
    async def read_log_entries(
        city: ReaderCity,
        person_id: LogSubject = None,  # a member's: the reads of her households' payees when read
        household_id: LogSubject = None,
        principal: LogPrincipal = None,  # one reader's ("what did this operator look at?")
        limit: LogLimit = 500,
        since: Since = None,
        before: Before = None,
    ) -> Any:
        async with runtime.pool.acquire() as conn:
            rows = await read_log.entries(
                conn, city, limit, since, before, person_id or None, household_id or None, principal or None
            )
        return jsonable_encoder(rows)

    @api.post(
        "/reconciliations",
        status_code=201,
        summary="Staff: import the bank's result (camt.054 XML or CSV) to mark payments paid or failed",
        openapi_extra=BANK_FILE,
        responses={201: {"model": r.Reconciliation, "description": "What the file changed"}},
    )
    async def reconcile(request: Request, actor: Staff, key: CreateKey) -> JSONResponse:
        data = await request.body()
        results = bank_files.parse(data, request.headers.get("content-type", ""))
        digest = {"sha256": hashlib.sha256(data).hexdigest()}
        return await create(actor, key, digest, lambda u, c: disbursement.reconcile(u, c, results))

    # ------------------------------------------------------------ vouchers and tutoring

    @api.post(
        "/providers",
        status_code=201,
        summary="Staff: register a service provider that redeems vouchers",
        responses={201: {"model": r.Provider, "description": "The provider registered"}},
    )
    async def provider(body: cmd.RegisterProvider, actor: Staff, key: CreateKey) -> JSONResponse:
        return await create(
            actor,
            key,
            body.model_dump(mode="json"),
            lambda u, c: vouchers.register_provider(u, c, body),
            provider_name,
        )

    @api.get(
        "/providers",
        summary="Staff: the city's service providers, by id, each named, its IBAN masked and its approval",
        responses={200: {"model": list[r.Provider], "description": "The providers"}},
    )
    async def list_providers(actor: Who) -> Any:
        return await act(actor, lambda u, c: vouchers.providers(u, c))

    @api.get(
        "/providers/{provider_id}",
        summary="Staff: a provider, its IBAN masked and its bank data's approval",
        responses=PROVIDER,
    )
    async def read_provider(provider_id: str, actor: Who) -> Any:
        return await act(actor, lambda u, c: vouchers.read_provider(u, c, provider_id))

    @api.put(
        "/providers/{provider_id}/bank-data",
        summary="Staff: change where a provider is reimbursed (IBAN, BIC; sealed); another staff member approves it",
        responses=PROVIDER,
    )
    async def provider_bank_data(
        provider_id: str, body: cmd.ProviderBankData, actor: Staff, key: ChangeKey = None
    ) -> Any:
        # The body carries the IBAN: only its digest is kept with the key.
        payload = {"sha256": hashlib.sha256(body.model_dump_json().encode()).hexdigest()}
        route = f"PUT /providers/{provider_id}/bank-data"
        return await change(
            actor,
            key,
            route,
            payload,
            lambda u, c: vouchers.change_provider_bank_data(u, c, provider_id, body),
            sealed=provider_name,
        )

    @api.post(
        "/providers/{provider_id}/bank-data/approval",
        summary="Staff: approve a provider's new bank data (not whoever set it); reimbursements wait until then",
        responses=PROVIDER,
    )
    async def approve_provider_bank_data(
        provider_id: str, actor: Staff, body: cmd.ApproveBankData | None = None, key: ChangeKey = None
    ) -> Any:
        route = f"POST /providers/{provider_id}/bank-data/approval"
        payload = body.model_dump(mode="json", exclude_none=True) if body else {}
        run: Run = lambda u, c: vouchers.approve_provider_bank_data(u, c, provider_id, body)  # noqa: E731
        subject: Subject = lambda u, c: vouchers.approval_subject(u, c, provider_id)  # noqa: E731
        return await change(actor, key, route, payload, run, one_shot=True, subject=subject, sealed=provider_name)

    @api.post(
        "/vouchers",
        status_code=201,
        summary="Issue a voucher to a case's household",
        responses={201: {"model": r.VoucherRedemptions, "description": "The voucher issued"}},
    )
    async def issue(body: cmd.IssueVoucher, actor: Writer, key: CreateKey) -> JSONResponse:
        return await create(actor, key, body.model_dump(mode="json"), lambda u, c: vouchers.issue(u, c, body))

    @api.get(
        "/vouchers",
        summary="Vouchers of the actor's city",
        responses={200: {"model": list[r.Voucher], "description": "By voucher_id"}},
    )
    async def list_vouchers(actor: Who, household_id: str | None = None) -> Any:
        return await act(actor, lambda u, c: vouchers.listing(u, c, household_id))

    @api.get(
        "/vouchers/{voucher_id}",
        summary="A voucher and its redemptions",
        responses={200: {"model": r.VoucherRedemptions, "description": "The voucher and its redemptions"}},
    )
    async def read_voucher(voucher_id: str, actor: Who) -> Any:
        return await act(actor, lambda u, c: vouchers.read(u, c, voucher_id))

    @api.post(
        "/vouchers/{voucher_id}/redemptions",
        status_code=201,
        summary="A registered provider redeems (part of) a voucher; the same redemption_id again is a replay",
        responses={201: {"model": r.VoucherRedemptions, "description": "The voucher after the redemption"}},
    )
    async def redeem(voucher_id: str, body: cmd.Redeem, actor: Writer, key: ChangeKey = None) -> JSONResponse:
        route = f"POST /vouchers/{voucher_id}/redemptions"
        run: Run = lambda u, c: vouchers.redeem(u, c, voucher_id, body)  # noqa: E731
        answer = await change(actor, key, route, body.model_dump(mode="json"), run, status=201)
        return answer if isinstance(answer, JSONResponse) else JSONResponse(status_code=201, content=answer)

    @api.post(
        "/vouchers/expiry",
        summary="Staff: expire vouchers past their validity (the rest returns)",
        responses={200: {"model": r.ExpiredVouchers, "description": "The vouchers expired"}},
    )
    async def expire(actor: Staff, key: ChangeKey = None) -> Any:
        return await change(actor, key, "POST /vouchers/expiry", {}, lambda u, c: vouchers.expire_due(u, c))

    @api.post(
        "/provider-reimbursements",
        status_code=201,
        summary="Staff: reimburse providers for redemptions",
        responses={
            201: {"model": r.ReimbursementRun, "description": "The reimbursements made, the providers held back"}
        },
    )
    async def reimburse(actor: Staff, key: CreateKey) -> JSONResponse:
        return await create(actor, key, {}, lambda u, c: reimbursements.run(u, c))

    @api.get(
        "/reimbursement-runs",
        summary="Staff: the city's reimbursement runs, newest first, with where their transfers stand",
        responses={200: {"model": list[r.ReimbursementRunSummary], "description": "The runs"}},
    )
    async def list_runs(actor: Who, limit: Annotated[int, Query(ge=1, le=500)] = 50) -> Any:
        return await act(actor, lambda u, c: reimbursements.runs(u, c, limit))

    @api.get(
        "/reimbursement-runs/{run_id}",
        summary="Staff: a reimbursement run and the state of its transfers",
        responses={200: {"model": r.ReimbursementRunTransfers, "description": "The run, its file and its transfers"}},
    )
    async def read_run(run_id: str, actor: Who) -> Any:
        return await act(actor, lambda u, c: reimbursements.run_view(u, c, run_id))

    @api.get(
        "/reimbursement-runs/{run_id}/pain.001",
        summary="Staff: the run's SEPA credit transfer file to the providers, as stored (SHA-256 in ETag/Repr-Digest)",
        response_class=Response,
        responses={200: {"content": {"application/xml": {}}}},
    )
    async def run_pain001(run_id: str, actor: Who, client: Client = None) -> Response:
        async with logged_refusal(actor, run_id, client), unit(actor) as (uow, ctx):
            file = await reimbursements.run_file(uow, ctx, run_id)
            xml = await payment_files.served(uow, ctx, file, via_of(client))  # recorded in the file's download log
        return file_response(file, xml, f"pain.001-{run_id}.xml")

    @api.post(
        "/tutoring-sessions",
        status_code=201,
        summary="Record a money tutoring session of a household",
        responses={201: {"model": r.TutoringSession, "description": "The session recorded"}},
    )
    async def record_tutoring(body: cmd.RecordTutoring, actor: Writer, key: CreateKey) -> JSONResponse:
        return await create(actor, key, body.model_dump(mode="json"), lambda u, c: tutoring.record(u, c, body))

    @api.get(
        "/tutoring-sessions",
        summary="Money tutoring sessions of the actor's city (a partner: its own cases')",
        responses={200: {"model": list[r.TutoringSession], "description": "The sessions"}},
    )
    async def list_tutoring(actor: Who, case_id: str | None = None, household_id: str | None = None) -> Any:
        return await act(actor, lambda u, c: tutoring.listing(u, c, case_id, household_id))

    @api.get(
        "/tutoring-sessions/{session_id}",
        summary="A money tutoring session (the case's partner, city staff)",
        responses={200: {"model": r.TutoringSession, "description": "The session"}},
    )
    async def read_tutoring(session_id: str, actor: Who) -> Any:
        return await act(actor, lambda u, c: tutoring.read(u, c, session_id))

    # ------------------------------------------------------------ shared payees (duplicates)

    @api.post(
        "/shared-payees",
        status_code=201,
        summary="Put a payee paid for many households on the city's list: its requests compared by amount too",
        responses={201: {"model": r.SharedPayee, "description": "On the list"}},
    )
    async def add_shared_payee(body: cmd.RegisterSharedPayee, actor: Staff, key: CreateKey) -> JSONResponse:
        return await create(actor, key, body.model_dump(mode="json"), lambda u, c: shared_payees.register(u, c, body))

    @api.get(
        "/shared-payees",
        summary="The city's known shared payees (staff)",
        responses={200: {"model": list[r.SharedPayee], "description": "The list"}},
    )
    async def list_shared_payees(actor: Who) -> Any:
        return await act(actor, shared_payees.listing)

    @api.post(
        "/shared-payees/{shared_payee_id}/withdrawal",
        summary="Take a payee off the city's list: its requests compared by payee and period alone again",
        responses={200: {"model": r.SharedPayee, "description": "Off the list (kept for the record: who and when)"}},
    )
    async def withdraw_shared_payee(shared_payee_id: str, actor: Staff, key: ChangeKey = None) -> Any:
        route = f"POST /shared-payees/{shared_payee_id}/withdrawal"
        run: Run = lambda u, c: shared_payees.withdraw(u, c, shared_payee_id)  # noqa: E731
        return await change(actor, key, route, {}, run, one_shot=True)

    return api
