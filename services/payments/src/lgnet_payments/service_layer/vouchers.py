"""Vouchers (issued against the city's voucher_<kind> budget line, redeemed by registered providers, expiring,
providers reimbursed in batches) (money tutoring: service_layer/tutoring.py).

A provider's bank data (IBAN, BIC) follows the four-eyes rule of contribution requests (issue #23): set at
registration or changed later by one staff member, approved by another; until then its reimbursements wait."""

from __future__ import annotations

from typing import Any

from lgnet_shared.access import Role, id_taken
from lgnet_shared.db import checked_then_locked
from lgnet_shared.errors import Conflict, ContractError, Forbidden, NotFound
from lgnet_shared.events import payments as ev
from lgnet_shared.events.payments import VoucherKind
from lgnet_shared.ids import new_id
from lgnet_shared.pseudonymous import check_pseudonymous_id

from lgnet_payments.adapters import ledger_store
from lgnet_payments.adapters import repository as repo
from lgnet_payments.adapters.sepa import check_name, normalise_bic, normalise_iban
from lgnet_payments.domain import ledger, requests, vouchers
from lgnet_payments.service_layer import commands as cmd
from lgnet_payments.service_layer.context import Context, UnitOfWork, staffs_row
from lgnet_payments.service_layer.contributions import known_case, open_sealed


def voucher_line(kind: VoucherKind) -> str:
    return f"voucher_{kind.value}"


def _bank_data(iban: str, bic: str | None) -> dict[str, str]:
    data = {"iban": normalise_iban(iban)}
    if bic:
        data["bic"] = normalise_bic(bic)
    return data


async def register_provider(uow: UnitOfWork, ctx: Context, c: cmd.RegisterProvider) -> dict[str, Any]:
    ctx.staff(ctx.city, "register service providers")
    check_pseudonymous_id(c.provider_id, "provider_id")  # in clear on payments' topic, never erased
    kid = f"provider:{c.provider_id}"
    fields = {"name": check_name(c.name, "name")}
    if c.iban:
        fields |= _bank_data(c.iban, c.bic)
    elif c.bic:
        raise ContractError("bic", "a BIC needs an IBAN")
    sealed = await uow.key_store().seal_all(uow.conn, kid, fields)
    inserted = await repo.insert_provider(
        uow.conn,
        {
            "provider_id": c.provider_id,
            "city": ctx.city,
            "kinds": [k.value for k in c.kinds],
            "name": sealed["name"].model_dump(),
            "iban": sealed["iban"].model_dump() if "iban" in sealed else None,
            "bic": sealed["bic"].model_dump() if "bic" in sealed else None,
            "registered_by": ctx.actor.id,
            "bank_data_version": 1 if c.iban else 0,
            "bank_data_set_by": ctx.actor.id if c.iban else None,
            "bank_data_set_on": ctx.today if c.iban else None,
        },
    )
    if not inserted:
        holder = await repo.provider_holder(uow.conn, c.provider_id)
        raise id_taken(ctx.actor, "provider_id", f"provider {c.provider_id} is already registered", *holder)
    if c.iban:
        await _bank_data_changed(uow, ctx, c.provider_id, [f for f in ("iban", "bic") if f in fields], 1)
    return await provider_view(uow, c.provider_id)


async def _bank_data_changed(uow: UnitOfWork, ctx: Context, provider_id: str, fields: list[str], version: int) -> None:
    await uow.emit(
        ctx,
        ctx.city,
        ev.ProviderBankDataChanged(
            provider_id=provider_id,
            city=ctx.city,
            changed_by=ctx.actor.id,
            fields=[ev.BankDataField(f) for f in fields],
            bank_data_version=version,
            on=ctx.today,
        ),
    )


async def _provider_row(uow: UnitOfWork, ctx: Context, provider_id: str) -> dict[str, Any]:
    return await staffs_row(uow, ctx, "providers", provider_id, "manage service providers' bank data")


def provider_bank(row: dict[str, Any]) -> vouchers.ProviderBankData:
    return vouchers.ProviderBankData(
        row["provider_id"], row["bank_data_version"], row["bank_data_set_by"], row["approved_bank_data_version"]
    )


async def change_provider_bank_data(
    uow: UnitOfWork, ctx: Context, provider_id: str, c: cmd.ProviderBankData
) -> dict[str, Any]:
    """Staff change where a provider is paid: a new version that another staff member approves before any
    reimbursement uses it. The same data again changes nothing."""
    row = await _provider_row(uow, ctx, provider_id)
    data = _bank_data(c.iban, c.bic)
    key = await uow.key_store().key(uow.conn, f"provider:{provider_id}")
    current = open_sealed({f: row[f] for f in ("iban", "bic") if row[f] is not None}, key)
    changed = [f for f in ("iban", "bic") if data.get(f) != current.get(f)]
    if not changed:
        return await provider_view(uow, provider_id)
    sealed = await uow.key_store().seal_all(uow.conn, f"provider:{provider_id}", data)
    version = row["bank_data_version"] + 1
    await uow.conn.execute(
        "update providers set iban = $2, bic = $3, bank_data_version = $4, bank_data_set_by = $5,"
        " bank_data_set_on = $6 where provider_id = $1",
        provider_id,
        sealed["iban"].model_dump(),
        sealed["bic"].model_dump() if "bic" in sealed else None,
        version,
        ctx.actor.id,
        ctx.today,
    )
    await _bank_data_changed(uow, ctx, provider_id, changed, version)
    return await provider_view(uow, provider_id)


async def approval_subject(uow: UnitOfWork, ctx: Context, provider_id: str) -> str:
    """What an approval of the provider's bank data approves: its current version, the provider locked (as for a
    request's approval, `contributions.approval_subject`): approving a changed IBAN is not the earlier approval
    replayed."""
    return f"bank data version {(await _provider_row(uow, ctx, provider_id))['bank_data_version']}"


async def approve_provider_bank_data(
    uow: UnitOfWork, ctx: Context, provider_id: str, c: cmd.ApproveBankData | None = None
) -> dict[str, Any]:
    row = await _provider_row(uow, ctx, provider_id)
    bank = provider_bank(row)
    vouchers.approve_bank_data(bank, ctx.actor.id, c.bank_data_version if c else None)
    await uow.conn.execute(
        "update providers set approved_bank_data_version = bank_data_version, approved_iban = iban,"
        " approved_bic = bic, bank_data_approved_by = $2 where provider_id = $1",
        provider_id,
        ctx.actor.id,
    )
    await uow.emit(
        ctx,
        row["city"],
        ev.ProviderBankDataApproved(
            provider_id=provider_id,
            city=row["city"],
            approved_by=ctx.actor.id,
            bank_data_version=bank.version,
            on=ctx.today,
        ),
    )
    return await provider_view(uow, provider_id)


async def read_provider(uow: UnitOfWork, ctx: Context, provider_id: str) -> dict[str, Any]:
    ctx.staff(ctx.city, "read service providers' bank data")  # by role before the lookup: no existence oracle
    row = await uow.conn.fetchrow("select city from providers where provider_id = $1", provider_id)
    if row is None or ctx.elsewhere(row["city"]):
        raise NotFound("provider_id", f"no provider {provider_id}")
    return await provider_view(uow, provider_id)


async def providers(uow: UnitOfWork, ctx: Context) -> list[dict[str, Any]]:
    """The city's providers (the payments office's list), by id: staff only, as a provider is."""
    ctx.staff(ctx.city, "read service providers' bank data")
    return [await provider_view(uow, p) for p in await repo.provider_ids(uow.conn, ctx.city)]


async def provider_name(uow: UnitOfWork, provider_id: str) -> str | None:
    """The provider's name, opened from its sealed row."""
    return (await provider_view(uow, provider_id))["name"]  # type: ignore[no-any-return]


async def provider_view(uow: UnitOfWork, provider_id: str) -> dict[str, Any]:
    """The provider by name, its IBAN masked, who set it and whether it awaits approval (the approved one masked)."""
    row = dict(await uow.conn.fetchrow("select * from providers where provider_id = $1", provider_id))
    key = await uow.key_store().key(uow.conn, f"provider:{provider_id}")
    current = open_sealed({f: row[f] for f in ("name", "iban", "bic") if row[f] is not None}, key)
    approved = open_sealed({f: row[f"approved_{f}"] for f in ("iban", "bic") if row[f"approved_{f}"]}, key)
    bank = provider_bank(row)
    return {
        "provider_id": provider_id,
        "name": current.get("name"),
        "city": row["city"],
        "kinds": list(row["kinds"]),
        "registered_by": row["registered_by"],
        "iban_masked": requests.mask_iban(current.get("iban")),
        "bic": current.get("bic"),
        "bank_data_version": bank.version,
        "bank_data_changed_by": row["bank_data_set_by"],
        "bank_data_changed_on": row["bank_data_set_on"],
        "bank_data_changed_since_approval": bank.pending,
        "bank_data_approved_by": row["bank_data_approved_by"],
        "approved_iban_masked": requests.mask_iban(approved.get("iban")),
    }


async def issue(uow: UnitOfWork, ctx: Context, c: cmd.IssueVoucher) -> dict[str, Any]:
    case = await known_case(uow, ctx, c.case_id)
    vouchers.check_valid_until(c.valid_until, ctx.today)
    city = case["city"]
    line = await repo.budget_line_for(uow.conn, city, voucher_line(c.kind))
    if line is None:
        raise ContractError("kind", f"no {voucher_line(c.kind)} budget line in {city}")
    requests.check_budget(line["available_cents"], c.value_cents, "value_cents")
    voucher_id = new_id()
    party = ledger.Party(line["budget_line_id"], case["case_id"], case["household_id"])
    await ledger_store.append(
        uow.conn, ledger.voucher_issued(voucher_id, ctx.today, city, c.value_cents, party), field="value_cents"
    )
    await repo.insert_voucher(
        uow.conn,
        {
            "voucher_id": voucher_id,
            "household_id": case["household_id"],
            "case_id": case["case_id"],
            "city": city,
            "kind": c.kind.value,
            "value_cents": c.value_cents,
            "remaining_cents": c.value_cents,
            "budget_line_id": line["budget_line_id"],
            "valid_until": c.valid_until,
            "issued_on": ctx.today,
        },
    )
    await uow.emit(
        ctx,
        city,
        ev.VoucherIssued(
            voucher_id=voucher_id,
            household_id=case["household_id"],
            case_id=case["case_id"],
            city=city,
            kind=c.kind,
            value_cents=c.value_cents,
            budget_line_id=line["budget_line_id"],
            valid_until=c.valid_until,
            on=ctx.today,
        ),
    )
    return await view(uow, voucher_id)


async def redeem(uow: UnitOfWork, ctx: Context, voucher_id: str, c: cmd.Redeem) -> dict[str, Any]:
    """A provider (or staff for them) redeems part of a voucher. The same redemption_id again is a replay."""

    def check(found: tuple[vouchers.Voucher, dict[str, Any]] | None) -> None:
        if found is None or ctx.elsewhere(found[0].city):
            raise NotFound("voucher_id", f"no voucher {voucher_id}")
        ctx.write(found[0].city, "voucher_id")
        if ctx.actor.role is Role.PARTNER and ctx.actor.id != c.provider_id:
            raise Forbidden("provider_id", "a provider redeems only for itself")

    # redemptions of one voucher serialise; the caller's rights first (`checked_then_locked`)
    found = await checked_then_locked(lambda lock: repo.voucher(uow.conn, voucher_id, lock=lock), check)
    assert found is not None
    v, row = found
    case = None  # the voucher's case, read once for a partner (its own case's vouchers; whose redemptions it sees)
    if ctx.actor.role is Role.PARTNER:
        case = await repo.case(uow.conn, row["case_id"])
        vouchers.check_not_own_case(c.provider_id, case["partner"] if case else None)
    # The provider's own id: another provider's redemption of the same number is another redemption.
    previous = await uow.conn.fetchrow(
        "select * from voucher_redemptions where provider_id = $1 and coalesce(provider_ref, redemption_id) = $2",
        c.provider_id,
        c.redemption_id,
    )
    if previous is not None:
        if (previous["voucher_id"], previous["provider_id"], previous["amount_cents"]) != (
            voucher_id,
            c.provider_id,
            c.amount_cents,
        ):
            raise Conflict("redemption_id", "already used for a different redemption")
        return await view(uow, voucher_id, _only_provider(ctx, case))
    check_pseudonymous_id(c.redemption_id, "redemption_id")  # a new one (a retry of one kept is answered above)
    remaining = vouchers.redeem(v, await repo.provider(uow.conn, c.provider_id), c.amount_cents, ctx.today)
    key = vouchers.redemption_key(c.provider_id, c.redemption_id)
    # No conflict target: the key and the provider's (provider_id, provider_ref) index both say "this id is taken",
    # and whichever of them a concurrent insert meets first must be a conflict, not an error (a CI run met the second).
    inserted = await uow.conn.fetchval(
        "insert into voucher_redemptions (redemption_id, voucher_id, provider_id, amount_cents, on_date, provider_ref)"
        " values ($1, $2, $3, $4, $5, $6) on conflict do nothing returning true",
        key,
        voucher_id,
        c.provider_id,
        c.amount_cents,
        ctx.today,
        c.redemption_id,
    )
    if not inserted:  # the same id redeemed at this moment on another voucher (that one holds its lock): it counts
        raise Conflict("redemption_id", "already used for a different redemption")
    await uow.conn.execute("update vouchers set remaining_cents = $2 where voucher_id = $1", voucher_id, remaining)
    party = ledger.Party(row["budget_line_id"], row["case_id"], row["household_id"], c.provider_id)
    await ledger_store.append(uow.conn, ledger.voucher_redeemed(key, ctx.today, v.city, c.amount_cents, party))
    await uow.emit(
        ctx,
        v.city,
        ev.VoucherRedeemed(voucher_id=voucher_id, provider_id=c.provider_id, amount_cents=c.amount_cents, on=ctx.today),
    )
    return await view(uow, voucher_id, _only_provider(ctx, case))


def _only_provider(ctx: Context, case: dict[str, Any] | None) -> str | None:
    """Whose redemptions a redemption's answer shows: a provider redeeming a voucher of a case not assigned to it sees
    its own only (the other providers' business with the household is not its to read: GET /vouchers/{id} refuses
    it); the city's staff and the case's partner see all (None). `case`: the voucher's, read for a partner."""
    if ctx.actor.role is not Role.PARTNER:
        return None
    return None if case is not None and case["partner"] == ctx.actor.id else ctx.actor.id


async def expire_due(uow: UnitOfWork, ctx: Context) -> dict[str, Any]:
    """Vouchers past their validity: the rest returns to the budget line."""
    ctx.staff(ctx.city, "expire vouchers")
    expired = []
    for row in await repo.expirable(uow.conn, ctx.city, ctx.today):
        await uow.conn.execute(
            "update vouchers set expired_on = $2 where voucher_id = $1", row["voucher_id"], ctx.today
        )
        if row["remaining_cents"] > 0:
            party = ledger.Party(row["budget_line_id"], row["case_id"], row["household_id"])
            tx = ledger.voucher_expired(row["voucher_id"], ctx.today, ctx.city, row["remaining_cents"], party)
            await ledger_store.append(uow.conn, tx)
        await uow.emit(
            ctx,
            ctx.city,
            ev.VoucherExpired(voucher_id=row["voucher_id"], remaining_cents=row["remaining_cents"], on=ctx.today),
        )
        expired.append(row["voucher_id"])
    return {"expired": expired}


async def view(uow: UnitOfWork, voucher_id: str, only_provider: str | None = None) -> dict[str, Any]:
    """The voucher with its redemptions (`only_provider`: that provider's only)."""
    found = await repo.voucher(uow.conn, voucher_id)
    assert found is not None
    redemptions = await uow.conn.fetch(
        "select coalesce(provider_ref, redemption_id) as redemption_id, provider_id, amount_cents, on_date,"
        " reimbursement_id from voucher_redemptions where voucher_id = $1 and ($2::text is null or provider_id = $2)"
        " order by provider_id, 1",
        voucher_id,
        only_provider,
    )
    return {**found[1], "redemptions": [dict(r) for r in redemptions]}


async def read(uow: UnitOfWork, ctx: Context, voucher_id: str) -> dict[str, Any]:
    found = await repo.voucher(uow.conn, voucher_id)
    absent = NotFound("voucher_id", f"no voucher {voucher_id}")
    if found is None or ctx.elsewhere(found[0].city):
        raise absent
    ctx.on_case(await repo.case(uow.conn, found[1]["case_id"]), "voucher_id", read=True, absent=absent)
    return await view(uow, voucher_id)


async def listing(uow: UnitOfWork, ctx: Context, household_id: str | None) -> list[dict[str, Any]]:
    """The city's vouchers for staff; a partner's own cases' only. A household asked for by id is checked as every
    household filter is (`Context.on_household`): not the caller's is a 404, never an empty list."""
    if household_id is not None:
        ctx.on_household(await repo.household_cases(uow.conn, household_id), "query.household_id")
    return await repo.vouchers(uow.conn, ctx.city, household_id, ctx.partner)
