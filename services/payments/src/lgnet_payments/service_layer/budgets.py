"""Budget lines of the grant per city: allocation, adjustment, balances; the city's payment policy."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, replace
from datetime import date
from typing import Any

from lgnet_shared.db import checked_then_locked
from lgnet_shared.errors import ContractError, Forbidden, NotFound, PreconditionFailed
from lgnet_shared.events import payments as ev
from lgnet_shared.http import IF_MATCH_FIELD, check_echoed_city
from lgnet_shared.ids import new_id
from lgnet_shared.pseudonymous import check_no_identifying_text

from lgnet_payments.adapters import ledger_store
from lgnet_payments.adapters import repository as repo
from lgnet_payments.adapters.sepa import check_name, normalise_bic, normalise_iban
from lgnet_payments.domain import ledger
from lgnet_payments.domain.money import within_line
from lgnet_payments.domain.policy import CityPolicy, check_line
from lgnet_payments.service_layer import commands as cmd
from lgnet_payments.service_layer.context import Context, UnitOfWork


async def _line_for(uow: UnitOfWork, ctx: Context, budget_line_id: str, may: Callable[[str], None]) -> dict[str, Any]:
    """The budget line, of the caller's city (another city's: as none) and one it `may` change (given the line's
    city), locked once the caller is seen allowed (`checked_then_locked`): locked first, another city's staff,
    refused, held it until its transaction ended and the city's staff waited for it."""

    def check(line: Any) -> None:
        if line is None or ctx.elsewhere(line["city"]):
            raise NotFound("budget_line_id", f"no budget line {budget_line_id}")
        may(line["city"])

    line: dict[str, Any] | None = await checked_then_locked(
        lambda lock: repo.budget_line(uow.conn, budget_line_id, lock=lock), check
    )
    assert line is not None
    return line


async def allocate(uow: UnitOfWork, ctx: Context, c: cmd.AllocateBudget) -> dict[str, Any]:
    ctx.staff(ctx.city, "allocate budgets")
    check_line(c.line)
    city = ctx.city
    line: dict[str, Any] | None
    if c.budget_line_id is not None:
        line = await _line_for(uow, ctx, c.budget_line_id, lambda city: ctx.write(city, "budget_line_id"))
        if line["line"] != c.line:
            raise ContractError("line", f"budget line {c.budget_line_id} is {line['line']}, not {c.line}")
    else:
        # Locked, as a line named by its id: two allocations at once each check the allocation the other left
        line = await repo.budget_line_for(uow.conn, city, c.line, lock=True)
        if line is None:  # a concurrent first allocation may win the (city, line) race: then use its line
            await repo.insert_budget_line(uow.conn, new_id(), city, c.line)
            line = await repo.budget_line_for(uow.conn, city, c.line, lock=True)
            assert line is not None
    budget_line_id = line["budget_line_id"]
    within_line(line["allocated_cents"], c.amount_cents, "amount_cents")
    ref = new_id()
    await repo.add_allocated(uow.conn, budget_line_id, c.amount_cents)
    await ledger_store.append(uow.conn, ledger.allocation(ref, ctx.today, city, budget_line_id, c.amount_cents))
    await uow.emit(
        ctx,
        city,
        ev.BudgetAllocated(
            budget_line_id=budget_line_id, city=city, line=c.line, amount_cents=c.amount_cents, on=ctx.today
        ),
    )
    return await line_view(uow, budget_line_id)


async def adjust(uow: UnitOfWork, ctx: Context, budget_line_id: str, c: cmd.AdjustBudget) -> dict[str, Any]:
    if c.delta_cents == 0:
        raise ContractError("delta_cents", "must not be zero")
    check_no_identifying_text(c.reason, "reason")  # in clear on payments' topic, never erased
    line = await _line_for(uow, ctx, budget_line_id, lambda city: ctx.staff(city, "adjust budgets"))
    if line["available_cents"] + c.delta_cents < 0:
        raise ContractError(
            "delta_cents", f"would leave the line below zero: {line['available_cents']} cents available"
        )
    if line["allocated_cents"] + c.delta_cents < 0:
        raise ContractError("delta_cents", "would leave the line's allocation below zero")
    within_line(line["allocated_cents"], c.delta_cents, "delta_cents")
    await repo.add_allocated(uow.conn, budget_line_id, c.delta_cents)
    tx = ledger.allocation(new_id(), ctx.today, line["city"], budget_line_id, c.delta_cents, kind="adjustment")
    await ledger_store.append(uow.conn, tx, field="delta_cents")
    await uow.emit(
        ctx,
        line["city"],
        ev.BudgetAdjusted(budget_line_id=budget_line_id, delta_cents=c.delta_cents, reason=c.reason, on=ctx.today),
    )
    return await line_view(uow, budget_line_id)


async def line_view(uow: UnitOfWork, budget_line_id: str) -> dict[str, Any]:
    line = await repo.budget_line(uow.conn, budget_line_id)
    assert line is not None
    return line


async def lines(uow: UnitOfWork, ctx: Context, city: str | None, as_of: date | None) -> list[dict[str, Any]]:
    """Every budget line of the city with its ledger balances (per account) at `as_of`."""
    city = ctx.city_read(city)
    ctx.read_aggregates(city, "query.city")
    out = []
    for line in await repo.budget_lines(uow.conn, city):
        balances = await ledger_store.balances(uow.conn, city=city, as_of=as_of, budget_line_id=line["budget_line_id"])
        out.append({**line, "balances": balances})
    return out


async def balances(
    uow: UnitOfWork,
    ctx: Context,
    *,
    city: str | None,
    as_of: date | None,
    budget_line_id: str | None,
    case_id: str | None,
    household_id: str | None,
) -> dict[str, Any]:
    """A filter naming what the caller may not see is refused as its own route refuses it, never answered with empty
    balances: a case as the case's routes, a household as `Context.on_household`, a budget line of another city
    (or of none) as one that does not exist."""
    if case_id is not None or household_id is not None:
        ctx.acts_in_a_city()  # one case's or household's money: never the national role's, whatever the city
    city = ctx.city_read(city)
    if case_id is None and household_id is None and ctx.partner is None:
        ctx.read_aggregates(city, "query.city")  # the city's totals: its staff, and the national role
    else:  # one case's or household's money: the city's staff; a partner its own cases' only; never the national
        ctx.read(city, "query.city")
        if ctx.partner is not None and case_id is None:
            raise Forbidden("query.case_id", "a partner reads the balances of its own cases: give case_id")
    if case_id is not None:
        ctx.on_case(await repo.case(uow.conn, case_id), "query.case_id", read=True)
    if household_id is not None:
        ctx.on_household(await repo.household_cases(uow.conn, household_id), "query.household_id")
    if budget_line_id is not None:
        line = await repo.budget_line(uow.conn, budget_line_id)
        if line is None or line["city"] != city:
            raise NotFound("query.budget_line_id", f"no budget line {budget_line_id}")
    got = await ledger_store.balances(
        uow.conn, city=city, as_of=as_of, budget_line_id=budget_line_id, case_id=case_id, household_id=household_id
    )
    return {
        "city": city,
        "as_of": as_of.isoformat() if as_of else None,
        "budget_line_id": budget_line_id,
        "case_id": case_id,
        "household_id": household_id,
        "balances": got,
    }


async def get_policy(uow: UnitOfWork, ctx: Context, city: str) -> dict[str, Any]:
    # the city's paying account and thresholds: staff's business
    ctx.staff(city, "read the payment policy", "path.city")
    return asdict(await repo.policy(uow.conn, city))


async def set_policy(
    uow: UnitOfWork, ctx: Context, city: str, c: cmd.SetPolicy, if_version: int | None = None
) -> dict[str, Any]:
    """The whole policy set. `if_version` (a client's If-Match): only if it is still the recorded version, so that a
    save from an older read cannot undo another staff member's change made since."""
    ctx.staff(city, "set the payment policy", "path.city")
    check_echoed_city(c.city, city)
    said_at = IF_MATCH_FIELD if if_version is not None else "version"  # where the version read was given
    if_version = c.version if if_version is None else if_version
    p = CityPolicy(
        city=city,
        second_approval_threshold_cents=c.second_approval_threshold_cents,
        lease_activation_months=c.lease_activation_months,
        lease_activation_cap_cents=c.lease_activation_cap_cents,
        deposit_cap_cents=c.deposit_cap_cents,
        debtor_name=check_name(c.debtor_name, "debtor_name") if c.debtor_name is not None else None,
        debtor_iban=normalise_iban(c.debtor_iban, "debtor_iban") if c.debtor_iban else None,
        debtor_bic=normalise_bic(c.debtor_bic, "debtor_bic") if c.debtor_bic else None,
        pain_version=c.pain_version,
    )
    version = await repo.save_policy(uow.conn, p, ctx.actor.id, if_version)
    if version is None:
        recorded = (await repo.policy(uow.conn, city)).version
        raise PreconditionFailed(
            said_at,
            f"the policy was changed since it was read (version {recorded} now, {if_version} read): read it again"
            " and send what should be kept",
        )
    return asdict(replace(p, version=version))
