"""Contribution requests: creation (staff, partners, or a city's policy on a signed lease), approval with a
second approver above the city's threshold, rejection. Approval commits the budget in the ledger.

Bank data is approved with the request (four eyes, issue #23): a change of it returns the request to `requested`
(the commitment stays: the amount was approved, the payee must be again) and nobody who set it, nor the requester,
approves it. Answers show the IBAN masked (`••••` and its last four characters) and whether the bank data changed
since the last approval."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from lgnet_shared import pii
from lgnet_shared.db import checked_then_locked
from lgnet_shared.errors import Conflict, ContractError, NotFound, noted
from lgnet_shared.events import Sealed
from lgnet_shared.events import payments as ev
from lgnet_shared.events.payments import ContributionKind
from lgnet_shared.ids import new_id
from lgnet_shared.pseudonymous import check_no_identifying_text

from lgnet_payments.adapters import ledger_store
from lgnet_payments.adapters import repository as repo
from lgnet_payments.adapters.sepa import check_name, normalise_bic, normalise_iban
from lgnet_payments.domain import ledger, requests
from lgnet_payments.domain.policy import requests_for_lease
from lgnet_payments.domain.requests import RequestStatus
from lgnet_payments.service_layer import commands as cmd
from lgnet_payments.service_layer.context import Context, UnitOfWork

# A voucher's line is per voucher kind (`voucher_<kind>`): vouchers are issued, not requested.
BUDGET_LINE_OF: dict[ContributionKind, str] = {
    k: k.value for k in ContributionKind if k is not ContributionKind.VOUCHER
}


def no_request(request_id: str) -> NotFound:
    """A request id that exists nowhere: what another city's, and another partner's, request is answered too."""
    return NotFound("request_id", f"no contribution request {request_id}")


async def known_case(uow: UnitOfWork, ctx: Context, case_id: str) -> dict[str, Any]:
    case = await repo.case(uow.conn, case_id)
    ctx.on_case(case, "case_id", absent=NotFound("case_id", f"unknown case {case_id}"))
    assert case is not None
    if case["closed_on"] is not None:
        raise ContractError("case_id", f"case {case_id} was closed on {case['closed_on'].isoformat()}")
    return case


async def _lease_of_household(uow: UnitOfWork, lease_id: str, household_id: str) -> None:
    """A request names a lease of its case's household, as payments learnt it (lease_signed). Any other — another
    household's (of this city or another), one not learnt (yet) — is one 404 said the same way: a lease is its
    household's, and the request would hold that household's own request for the lease and period."""
    lease = await repo.lease(uow.conn, lease_id)
    if lease is None or lease["household_id"] != household_id:
        raise NotFound("lease_id", f"no lease {lease_id} of the case's household (learnt from housing once signed)")


NO_IBAN_ON_FILE = "required: no IBAN on file to keep"


def bank_data(b: cmd.Beneficiary, field: str, iban_on_file: str | None = None) -> dict[str, str]:
    """The bank data as it is kept: IBAN and BIC in electronic form (a ContractError names each field at fault).
    No IBAN given: `iban_on_file`, the request's (a change of the name or BIC alone), else an error at the field."""
    prefix = f"{field}." if field else ""
    data: dict[str, str] = {}
    broken: list[ContractError] = []
    with noted(broken):
        data["name"] = check_name(b.name, f"{prefix}name")
    with noted(broken):
        if b.iban is not None:
            data["iban"] = normalise_iban(b.iban, f"{prefix}iban")
        elif iban_on_file is not None:
            data["iban"] = iban_on_file
        else:
            raise ContractError(f"{prefix}iban", NO_IBAN_ON_FILE)
    if b.bic:
        with noted(broken):
            data["bic"] = normalise_bic(b.bic, f"{prefix}bic")
    if broken:
        raise ContractError.all_of(broken)
    return data


async def seal_beneficiary(uow: UnitOfWork, household_id: str, data: dict[str, str]) -> dict[str, Any]:
    """Name, IBAN (and BIC) sealed with the household's key: unreadable once the household's data is erased."""
    try:
        sealed = await uow.key_store().seal_all(uow.conn, f"household:{household_id}", data)
    except PermissionError:  # a member was erased (docs/payments.md, "Erasure and retention")
        raise Conflict("beneficiary", "the household's bank data was erased: no new bank data may be stored") from None
    return {k: v.model_dump() for k, v in sealed.items()}


def open_sealed(sealed: dict[str, Any] | None, key: bytes | None) -> dict[str, str]:
    """Sealed bank data in clear, to compare or mask it (never answered or logged); {} if none or erased."""
    if sealed is None or key is None:
        return {}
    return {f: pii.open_with(key, Sealed.model_validate(v), f) for f, v in sealed.items()}


async def _bank_data_changed(
    uow: UnitOfWork, ctx: Context, req: requests.ContributionRequest, change: requests.BankDataChange
) -> None:
    await uow.emit(
        ctx,
        req.city,
        ev.ContributionBankDataChanged(
            request_id=req.request_id,
            changed_by=ctx.actor.id,
            fields=[ev.BankDataField(f) for f in change.fields],
            bank_data_version=req.bank_data_version + 1,
            approval_withdrawn=change.approval_withdrawn,
            on=ctx.today,
        ),
    )


async def request_contribution(uow: UnitOfWork, ctx: Context, c: cmd.RequestContribution) -> dict[str, Any]:
    # The body's own rules first, all at once (one round to correct them); then what depends on the record, alone.
    broken: list[ContractError] = []
    with noted(broken):
        if c.kind is ContributionKind.VOUCHER:  # the kind exists in the facts: a voucher issued is a contribution
            said = "a voucher is issued with POST /vouchers (its kind, value and validity), not asked"
            raise ContractError("kind", said)
    with noted(broken):
        requests.check_period(c.kind.value, c.period_from, c.period_to, ctx.today)
    data = None
    with noted(broken):
        data = bank_data(c.beneficiary, "beneficiary") if c.beneficiary else None
    if broken:
        raise ContractError.all_of(broken)
    case = await known_case(uow, ctx, c.case_id)
    if c.lease_id is not None:
        await _lease_of_household(uow, c.lease_id, case["household_id"])
    line = await repo.budget_line_for(uow.conn, case["city"], BUDGET_LINE_OF[c.kind])
    if line is None:
        raise ContractError("kind", f"no {c.kind.value} budget line in {case['city']}")
    requests.check_budget(line["available_cents"], c.amount_cents)
    if c.kind.value in requests.PERIODIC and c.period_from and c.period_to:
        other = await repo.overlapping_request(uow.conn, case["household_id"], c.kind.value, c.period_from, c.period_to)
        requests.check_period_paid_once(c.kind.value, other, ctx.partner)
    if c.kind.value in requests.LEASE_KINDS and c.lease_id is None:
        since = ctx.today - timedelta(days=requests.ONE_OFF_WINDOW_DAYS)
        other = await repo.live_lease_request(uow.conn, case["household_id"], c.kind.value, since)
        requests.check_one_per_lease(c.kind.value, other, ctx.partner)
    beneficiary = await seal_beneficiary(uow, case["household_id"], data) if data else None
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
        uow.iban_index(data["iban"]) if data else None,
    )
    return await view(uow, request_id, ctx.partner)


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
    iban_index: str | None = None,
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
            "bank_data_version": 0 if beneficiary is None else 1,
            "bank_data_set_by": None if beneficiary is None else ctx.actor.id,
            "bank_data_set_on": None if beneficiary is None else ctx.today,
            "bank_data_fields": None if beneficiary is None else sorted(beneficiary),
            "iban_index": iban_index,
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
    if beneficiary is not None:
        await uow.emit(
            ctx,
            case["city"],
            ev.ContributionBankDataChanged(
                request_id=request_id,
                changed_by=ctx.actor.id,
                fields=[ev.BankDataField(f) for f in requests.BANK_FIELDS if f in beneficiary],
                bank_data_version=1,
                approval_withdrawn=False,
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
    signed_on: date,
) -> list[str]:
    """The city's policy turns a signed lease into lease-activation (and deposit) requests, once per lease (none
    for a lease signed after its case closed)."""
    await repo.upsert_case(uow.conn, case_id, household_id, city, None, None)
    await repo.record_lease(uow.conn, lease_id, household_id, city)
    case = await repo.case(uow.conn, case_id)
    assert case is not None
    if not requests.signed_while_open(signed_on, case["closed_on"]):
        return []
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
        # Asked by hand already, without naming the lease: that request is this lease's (linked, as asked).
        since = ctx.today - timedelta(days=requests.ONE_OFF_WINDOW_DAYS)
        manual = await repo.live_lease_request(uow.conn, household_id, kind.value, since, unlinked=True)
        if manual is not None:
            await repo.update_request(uow.conn, manual["request_id"], lease_id=lease_id)
            continue
        request_id = new_id()
        await _insert(uow, ctx, request_id, case, kind, line["budget_line_id"], amount, lease_id, None, None, None)
        created.append(request_id)
    return created


async def set_beneficiary(uow: UnitOfWork, ctx: Context, request_id: str, b: cmd.Beneficiary) -> dict[str, Any]:
    """Set or change who is paid. The same data again changes nothing; other data is a new version that needs a
    new approval by someone else (an approved request returns to requested); a batched or paid request: 409. No IBAN
    given keeps the one on file (the desk's form shows it masked and sends none unless a new one is typed)."""
    seen = await _request_for(uow, ctx, request_id)
    # the case's partner or the city's staff
    ctx.on_case(await repo.case(uow.conn, seen.case_id), "request_id", absent=no_request(request_id))
    req = await _request_for(uow, ctx, request_id, lock=True, seen=seen)
    row = await repo.request_row(uow.conn, request_id)
    assert row is not None
    key = await uow.key_store().key(uow.conn, f"household:{req.household_id}")
    current = open_sealed(row["beneficiary"], key)
    data = bank_data(b, "", current.get("iban"))  # no IBAN given: the one on file is kept
    changed = [f for f in requests.BANK_FIELDS if data.get(f) != current.get(f)]
    change = requests.change_bank_data(req, changed)
    if not change.fields:
        return await view(uow, request_id, ctx.partner)  # the same bank data again: nothing changes
    await repo.update_request(
        uow.conn,
        request_id,
        beneficiary=await seal_beneficiary(uow, req.household_id, data),
        iban_index=uow.iban_index(data["iban"]),
        bank_data_version=req.bank_data_version + 1,
        bank_data_set_by=ctx.actor.id,
        bank_data_set_on=ctx.today,
        bank_data_fields=list(change.fields),
        status=change.status.value,
        first_approver=None,  # an approval given to other bank data does not count for this one
    )
    await _bank_data_changed(uow, ctx, req, change)
    return await view(uow, request_id, ctx.partner)


async def approval_subject(uow: UnitOfWork, ctx: Context, request_id: str) -> str:
    """What an approval of the request approves: its current bank data (version), the request locked (by staff of
    its city: see `_request_for`) so that it cannot change before the approval has run. An approval sent again without
    an Idempotency-Key after the bank data changed (a new payee, or the payee's new account after its bank refused the
    transfer) approves other data: a new transition, not the earlier approval's answer replayed."""
    req = await _request_for(uow, ctx, request_id, "approve contributions", lock=True)
    return f"bank data version {req.bank_data_version}"


async def _request_for(
    uow: UnitOfWork,
    ctx: Context,
    request_id: str,
    staff: str | None = None,
    *,
    lock: bool = False,
    seen: requests.ContributionRequest | None = None,
) -> requests.ContributionRequest:
    """The request, of the caller's city (another city's: as none), and for `staff` (what it is for: the city's
    staff's only) when given; `lock`ed only once the caller is seen allowed (`checked_then_locked`): locked first,
    another city's staff, refused, held it until its transaction ended and the city's staff waited for it."""

    def check(req: requests.ContributionRequest | None) -> None:
        if req is None or ctx.elsewhere(req.city):
            raise no_request(request_id)
        if staff is not None:
            ctx.staff(req.city, staff)

    req: requests.ContributionRequest | None
    if lock:
        req = await checked_then_locked(lambda locked: repo.request(uow.conn, request_id, lock=locked), check, seen)
    else:
        check(req := await repo.request(uow.conn, request_id))
    assert req is not None
    return req


async def approve(uow: UnitOfWork, ctx: Context, request_id: str, c: cmd.Approve | None = None) -> dict[str, Any]:
    # concurrent approvals of one request serialise
    req = await _request_for(uow, ctx, request_id, "approve contributions", lock=True)
    policy = await repo.policy(uow.conn, req.city)
    seen = c.bank_data_version if c else None
    outcome = requests.approve(req, ctx.actor.id, policy.second_approval_threshold_cents, seen)
    case = await repo.case(uow.conn, req.case_id)
    requests.check_case_open(req, case["closed_on"] if case else None)
    # A likely duplicate (the same payee, kind and period in another live request) is approved only when the
    # approver says why it is not paid twice; each approver of the request (first and second) says it.
    duplicates = (await repo.possible_duplicates(uow.conn, [request_id])).get(request_id, [])
    reason = c.duplicate_reason if c else None
    if requests.check_duplicates(duplicates, reason):
        assert reason is not None
        duplicate_of = [d["request_id"] for d in duplicates]
        await repo.record_duplicate_confirmation(uow.conn, request_id, ctx.actor.id, reason, duplicate_of, ctx.today)
        await uow.emit(
            ctx,
            req.city,
            ev.ContributionDuplicateConfirmed(
                request_id=request_id, duplicate_of=duplicate_of, confirmed_by=ctx.actor.id, reason=reason, on=ctx.today
            ),
        )
    if not outcome.final:
        await repo.update_request(uow.conn, request_id, first_approver=ctx.actor.id)
        return await view(uow, request_id)
    if not await repo.committed(uow.conn, request_id):  # approved before, then its bank data changed: committed
        line = await repo.budget_line(uow.conn, req.budget_line_id)
        assert line is not None
        requests.check_budget(line["available_cents"], req.amount_cents)
        party = ledger.Party(req.budget_line_id, req.case_id, req.household_id)
        # The database refuses it too if a concurrent commitment got there first (available_cents >= 0).
        await ledger_store.append(uow.conn, ledger.commitment(request_id, ctx.today, req.city, req.amount_cents, party))
    await uow.conn.execute(
        "update contribution_requests set status = $2, approved_by = $3, second_approver = $4,"
        " approved_bank_data_version = bank_data_version, approved_beneficiary = beneficiary where request_id = $1",
        request_id,
        RequestStatus.APPROVED.value,
        outcome.approved_by,
        outcome.second_approver,
    )
    await uow.emit(
        ctx,
        req.city,
        ev.ContributionApproved(
            request_id=request_id,
            approved_by=outcome.approved_by,
            second_approver=outcome.second_approver,
            bank_data_version=req.bank_data_version,
            bank_data_set_by=req.bank_data_set_by,
            on=ctx.today,
        ),
    )
    return await view(uow, request_id)


async def reject(uow: UnitOfWork, ctx: Context, request_id: str, c: cmd.Reject) -> dict[str, Any]:
    req = await _request_for(uow, ctx, request_id, "reject contributions", lock=True)
    requests.reject(req)
    return await _end(uow, ctx, req, c.reason)


async def withdraw(uow: UnitOfWork, ctx: Context, request_id: str, c: cmd.Withdraw) -> dict[str, Any]:
    """An approved request not yet batched, withdrawn by staff with a reason: rejected after its approval, its
    commitment released (the log says `contribution_rejected`, as for a request whose new bank data was not
    approved: reports then count it neither committed nor paid)."""
    # a batch locks the row too: one of the two wins
    req = await _request_for(uow, ctx, request_id, "withdraw approved contributions", lock=True)
    requests.withdraw(req)
    return await _end(uow, ctx, req, c.reason)


async def _end(uow: UnitOfWork, ctx: Context, req: requests.ContributionRequest, reason: str) -> dict[str, Any]:
    """Rejected: never paid; a commitment made by an approval returns to the budget line."""
    check_no_identifying_text(reason, "reason")  # the staff's code: in clear on payments' topic, never erased
    request_id = req.request_id
    if await repo.committed(uow.conn, request_id):  # approved once, then its new bank data was not: released
        party = ledger.Party(req.budget_line_id, req.case_id, req.household_id)
        tx = ledger.commitment_released(request_id, ctx.today, req.city, req.amount_cents, party)
        await ledger_store.append(uow.conn, tx)
    await repo.update_request(
        uow.conn, request_id, status=RequestStatus.REJECTED.value, rejected_by=ctx.actor.id, reason=reason
    )
    await uow.emit(
        ctx,
        req.city,
        ev.ContributionRejected(request_id=request_id, rejected_by=ctx.actor.id, reason=reason, on=ctx.today),
    )
    return await view(uow, request_id)


async def view(uow: UnitOfWork, request_id: str, partner: str | None = None, payee: bool = False) -> dict[str, Any]:
    row = await repo.request_row(uow.conn, request_id)
    assert row is not None
    return (await shown(uow, [row], partner, payee))[0]


BANK_COLUMNS = (
    "beneficiary",
    "approved_beneficiary",
    "bank_data_set_by",
    "bank_data_set_on",
    "bank_data_fields",
    "iban_index",
    "payee_refused_version",
    "payee_refused_reason",
    "payee_refused_on",
)


async def shown(
    uow: UnitOfWork, rows: list[dict[str, Any]], partner: str | None = None, payee: bool = False
) -> list[dict[str, Any]]:
    """Requests as answered: bank data never, the IBAN masked (last four characters), who last set the bank data
    and whether it changed since the last approval (then also the approved IBAN, masked); the requests it may
    duplicate (a partner: among its own cases') and the latest confirmation that it does not. `payee`: a read
    (`GET`) by the city's staff or the case's cooperative, the only callers: the payee's name too (`payee_name`,
    a landlord's, a utility's), so the approver sees whom she approves; never in an answer kept for a retry."""
    keys: dict[str, bytes | None] = {}  # one key lookup per household
    ids = [row["request_id"] for row in rows]
    duplicates = await repo.possible_duplicates(uow.conn, ids, partner)
    confirmations = await repo.duplicate_confirmations(uow.conn, ids)
    out = []
    for row in rows:
        kid = f"household:{row['household_id']}"
        if kid not in keys and (row["beneficiary"] or row["approved_beneficiary"]):
            keys[kid] = await uow.key_store().key(uow.conn, kid)
        key = keys.get(kid)
        current, approved = open_sealed(row["beneficiary"], key), open_sealed(row["approved_beneficiary"], key)
        changed = row["approved_bank_data_version"] is not None and (
            row["approved_bank_data_version"] != row["bank_data_version"]
        )
        shown_row = {k: v for k, v in row.items() if k not in BANK_COLUMNS}
        out.append(
            shown_row
            | {
                "has_beneficiary": row["beneficiary"] is not None,
                "iban_masked": requests.mask_iban(current.get("iban")),
                "payee_name": current.get("name") if payee else None,
                "bic": current.get("bic"),
                "bank_data_erased": row["beneficiary"] is not None and key is None,
                "bank_data_changed_by": row["bank_data_set_by"],
                "bank_data_changed_on": row["bank_data_set_on"],
                "bank_data_changed_fields": row["bank_data_fields"],
                "bank_data_changed_since_approval": changed,
                "approved_iban_masked": requests.mask_iban(approved.get("iban")) if changed else None,
                "possible_duplicates": duplicates.get(row["request_id"], []),
                "duplicate_confirmation": confirmations.get(row["request_id"]),
                "payee_refused": (
                    {"reason": row["payee_refused_reason"], "on": row["payee_refused_on"]}
                    if requests.awaits_new_bank_data(row["payee_refused_version"], row["bank_data_version"])
                    else None
                ),
            }
        )
    return out


async def reminders(uow: UnitOfWork, ctx: Context) -> list[dict[str, Any]]:
    """What the desk's to-do list shows for payments: the requests waiting for the payee's bank data, the city's for
    its staff, a partner's own cases' (the case's operator gives it)."""
    ctx.read(ctx.city)
    out = []
    for r in await repo.awaiting_bank_data(uow.conn, ctx.city, ctx.partner):
        since = r["payee_refused_on"] or r["requested_on"]
        out.append(
            {
                "kind": "payee_refused" if r["payee_refused_on"] else "bank_data_missing",
                "request_id": r["request_id"],
                "case_id": r["case_id"],
                "household_id": r["household_id"],
                "contribution_kind": r["kind"],
                "amount_cents": r["amount_cents"],
                "reason": r["payee_refused_reason"],
                "since": since,
                "waiting_days": (ctx.today - since).days,
            }
        )
    out.sort(key=lambda x: (-x["waiting_days"], x["request_id"]))
    return out


async def read(uow: UnitOfWork, ctx: Context, request_id: str) -> dict[str, Any]:
    req = await repo.request(uow.conn, request_id)
    if req is None or ctx.elsewhere(req.city):
        raise no_request(request_id)
    ctx.on_case(await repo.case(uow.conn, req.case_id), "request_id", read=True, absent=no_request(request_id))
    return await view(uow, request_id, ctx.partner, payee=True)  # staff, or the case's cooperative: named


async def listing(uow: UnitOfWork, ctx: Context, status: str | None, case_id: str | None) -> list[dict[str, Any]]:
    """The city's requests for staff; a partner's own cases' only. A case asked for by name is checked like any other
    read of it: another partner's case is refused, not answered with an empty list."""
    if case_id is not None:
        ctx.on_case(await repo.case(uow.conn, case_id), "query.case_id", read=True)
    listed = await repo.requests(uow.conn, ctx.city, status, case_id, ctx.partner)  # a partner: its own cases'
    return await shown(uow, listed, ctx.partner, payee=True)
