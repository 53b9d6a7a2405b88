"""Contribution requests: creation (staff, partners, or a city's policy on a signed lease), approval with a
second approver above the city's threshold, rejection. Approval commits the budget in the ledger."""

from __future__ import annotations

from datetime import date
from typing import Any

from lgnet_shared.errors import ContractError, NotFound
from lgnet_shared.events import payments as ev
from lgnet_shared.events.payments import ContributionKind
from lgnet_shared.ids import new_id

from lgnet_payments.adapters import ledger_store
from lgnet_payments.adapters import repository as repo
from lgnet_payments.adapters.sepa import normalise_iban
from lgnet_payments.domain import ledger, requests
from lgnet_payments.domain.policy import requests_for_lease
from lgnet_payments.domain.requests import RequestStatus
from lgnet_payments.service_layer import commands as cmd
from lgnet_payments.service_layer.context import Context, UnitOfWork

BUDGET_LINE_OF = {kind: kind.value for kind in ContributionKind}  # voucher lines are per voucher kind


async def known_case(uow: UnitOfWork, ctx: Context, case_id: str) -> dict[str, Any]:
    case = await repo.case(uow.conn, case_id)
    if case is None:
        raise NotFound("case_id", f"unknown case {case_id}")
    ctx.on_case(case, "case_id")
    if case["closed_on"] is not None:
        raise ContractError("case_id", f"case {case_id} was closed on {case['closed_on'].isoformat()}")
    return case


async def seal_beneficiary(uow: UnitOfWork, household_id: str, b: cmd.Beneficiary, field: str) -> dict[str, Any]:
    """Name and IBAN sealed with the household's key: unreadable once the household's data is erased."""
    iban = normalise_iban(b.iban, f"{field}.iban" if field else "iban")
    sealed = await uow.key_store().seal_all(uow.conn, f"household:{household_id}", {"name": b.name, "iban": iban})
    return {k: v.model_dump() for k, v in sealed.items()}


async def request_contribution(uow: UnitOfWork, ctx: Context, c: cmd.RequestContribution) -> dict[str, Any]:
    case = await known_case(uow, ctx, c.case_id)
    if c.period_from and c.period_to and c.period_to < c.period_from:
        raise ContractError("period_to", "is before period_from")
    line = await repo.budget_line_for(uow.conn, case["city"], BUDGET_LINE_OF[c.kind])
    if line is None:
        raise ContractError("kind", f"no {c.kind.value} budget line in {case['city']}")
    requests.check_budget(line["available_cents"], c.amount_cents)
    beneficiary = (
        await seal_beneficiary(uow, case["household_id"], c.beneficiary, "beneficiary") if c.beneficiary else None
    )
    request_id = new_id()
    await _insert(
        uow,
        ctx,
        request_id,
        case,
        c.kind,
        line["budget_line_id"],
        c.amount_cents,
        c.lease_id,
        c.period_from,
        c.period_to,
        beneficiary,
    )
    return await view(uow, request_id)


async def _insert(
    uow: UnitOfWork,
    ctx: Context,
    request_id: str,
    case: dict[str, Any],
    kind: ContributionKind,
    budget_line_id: str,
    amount: int,
    lease_id: str | None,
    period_from: date | None,
    period_to: date | None,
    beneficiary: dict[str, Any] | None,
) -> bool:
    inserted = await repo.insert_request(
        uow.conn,
        {
            "request_id": request_id,
            "case_id": case["case_id"],
            "household_id": case["household_id"],
            "city": case["city"],
            "kind": kind.value,
            "budget_line_id": budget_line_id,
            "amount_cents": amount,
            "lease_id": lease_id,
            "period_from": period_from,
            "period_to": period_to,
            "requested_by": ctx.actor.id,
            "requested_on": ctx.today,
            "status": RequestStatus.REQUESTED.value,
            "beneficiary": beneficiary,
        },
    )
    if not inserted:
        if lease_id is not None:
            period = f" for the period from {period_from}" if period_from else ""
            raise ContractError("lease_id", f"lease {lease_id} already has a {kind.value} request{period}")
        raise ContractError("request_id", "already exists")
    await uow.emit(
        ctx,
        case["city"],
        ev.ContributionRequested(
            request_id=request_id,
            case_id=case["case_id"],
            household_id=case["household_id"],
            city=case["city"],
            kind=kind,
            budget_line_id=budget_line_id,
            amount_cents=amount,
            lease_id=lease_id,
            period_from=period_from,
            period_to=period_to,
            requested_by=ctx.actor.id,
            on=ctx.today,
        ),
    )
    return True


async def requests_for_signed_lease(
    uow: UnitOfWork,
    ctx: Context,
    *,
    lease_id: str,
    case_id: str,
    household_id: str,
    city: str,
    monthly_rent_cents: int,
    deposit_cents: int,
) -> list[str]:
    """The city's policy turns a signed lease into lease-activation (and deposit) requests, once per lease."""
    await repo.upsert_case(uow.conn, case_id, household_id, city, None, None)
    case = await repo.case(uow.conn, case_id)
    assert case is not None
    policy = await repo.policy(uow.conn, city)
    created = []
    for kind, amount in requests_for_lease(policy, monthly_rent_cents, deposit_cents):
        line = await repo.budget_line_for(uow.conn, city, BUDGET_LINE_OF[kind])
        if line is None:
            continue  # the city has no such line in its grant: nothing to request
        exists = await uow.conn.fetchval(
            "select 1 from contribution_requests where lease_id = $1 and kind = $2", lease_id, kind.value
        )
        if exists:
            continue
        request_id = new_id()
        await _insert(uow, ctx, request_id, case, kind, line["budget_line_id"], amount, lease_id, None, None, None)
        created.append(request_id)
    return created


async def set_beneficiary(uow: UnitOfWork, ctx: Context, request_id: str, b: cmd.Beneficiary) -> dict[str, Any]:
    req = await repo.request(uow.conn, request_id, lock=True)
    if req is None:
        raise NotFound("request_id", f"no contribution request {request_id}")
    ctx.on_case(await repo.case(uow.conn, req.case_id), "request_id")  # the case's partner or the city's staff
    if req.status not in (RequestStatus.REQUESTED, RequestStatus.APPROVED):
        raise ContractError("request_id", f"request is {req.status.value}: bank data can no longer change")
    await repo.update_request(uow.conn, request_id, beneficiary=await seal_beneficiary(uow, req.household_id, b, ""))
    return await view(uow, request_id)


async def approve(uow: UnitOfWork, ctx: Context, request_id: str) -> dict[str, Any]:
    req = await repo.request(uow.conn, request_id, lock=True)  # concurrent approvals of one request serialise
    if req is None:
        raise NotFound("request_id", f"no contribution request {request_id}")
    ctx.staff(req.city, "approve contributions")
    policy = await repo.policy(uow.conn, req.city)
    outcome = requests.approve(req, ctx.actor.id, policy.second_approval_threshold_cents)
    if not outcome.final:
        await repo.update_request(uow.conn, request_id, first_approver=ctx.actor.id)
        return await view(uow, request_id)
    line = await repo.budget_line(uow.conn, req.budget_line_id)
    assert line is not None
    requests.check_budget(line["available_cents"], req.amount_cents)
    party = ledger.Party(req.budget_line_id, req.case_id, req.household_id)
    # The database refuses it too if a concurrent commitment got there first (available_cents >= 0).
    await ledger_store.append(uow.conn, ledger.commitment(request_id, ctx.today, req.city, req.amount_cents, party))
    await repo.update_request(
        uow.conn,
        request_id,
        status=RequestStatus.APPROVED.value,
        approved_by=outcome.approved_by,
        second_approver=outcome.second_approver,
    )
    await uow.emit(
        ctx,
        req.city,
        ev.ContributionApproved(
            request_id=request_id,
            approved_by=outcome.approved_by,
            second_approver=outcome.second_approver,
            on=ctx.today,
        ),
    )
    return await view(uow, request_id)


async def reject(uow: UnitOfWork, ctx: Context, request_id: str, c: cmd.Reject) -> dict[str, Any]:
    req = await repo.request(uow.conn, request_id, lock=True)
    if req is None:
        raise NotFound("request_id", f"no contribution request {request_id}")
    ctx.staff(req.city, "reject contributions")
    requests.reject(req)
    await repo.update_request(
        uow.conn, request_id, status=RequestStatus.REJECTED.value, rejected_by=ctx.actor.id, reason=c.reason
    )
    await uow.emit(
        ctx,
        req.city,
        ev.ContributionRejected(request_id=request_id, rejected_by=ctx.actor.id, reason=c.reason, on=ctx.today),
    )
    return await view(uow, request_id)


async def view(uow: UnitOfWork, request_id: str) -> dict[str, Any]:
    row = await repo.request_row(uow.conn, request_id)
    assert row is not None
    has = row.pop("beneficiary") is not None
    return {**row, "has_beneficiary": has}


async def read(uow: UnitOfWork, ctx: Context, request_id: str) -> dict[str, Any]:
    req = await repo.request(uow.conn, request_id)
    if req is None:
        raise NotFound("request_id", f"no contribution request {request_id}")
    ctx.on_case(await repo.case(uow.conn, req.case_id), "request_id", read=True)
    return await view(uow, request_id)


async def listing(uow: UnitOfWork, ctx: Context, status: str | None, case_id: str | None) -> list[dict[str, Any]]:
    """The city's requests for staff; a partner's own cases' only."""
    return await repo.requests(uow.conn, ctx.city, status, case_id, ctx.partner)
