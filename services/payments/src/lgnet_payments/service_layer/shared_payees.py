"""Known shared payees: a payee the city pays for many households (a utility, a social-housing agency). Its
requests are compared by amount as well when duplicates are looked for (adapters/repository.possible_duplicates),
since the same payee, kind and period alone flags every household's request. The city's staff keep the list; the
IBAN is kept only as its keyed blind index and its last four characters."""

from __future__ import annotations

from typing import Any

from lgnet_shared.errors import Conflict, NotFound

from lgnet_payments.adapters import repository as repo
from lgnet_payments.adapters.sepa import normalise_iban
from lgnet_payments.service_layer import commands as cmd
from lgnet_payments.service_layer.context import Context, UnitOfWork

WHAT = "keep the list of shared payees"


async def register(uow: UnitOfWork, ctx: Context, c: cmd.RegisterSharedPayee) -> dict[str, Any]:
    city = ctx.city
    ctx.staff(city, WHAT)
    iban = normalise_iban(c.iban, "iban")
    made = await repo.add_shared_payee(
        uow.conn, city, uow.iban_index(iban), iban[-4:], c.label, ctx.actor.id, ctx.today
    )
    if made is None:
        raise Conflict("iban", "this IBAN is already on the city's list of shared payees")
    return made


async def listing(uow: UnitOfWork, ctx: Context) -> list[dict[str, Any]]:
    city = ctx.city
    ctx.staff(city, WHAT)
    return await repo.shared_payees(uow.conn, city)


async def withdraw(uow: UnitOfWork, ctx: Context, shared_payee_id: int) -> None:
    city = ctx.city
    ctx.staff(city, WHAT)
    if not await repo.withdraw_shared_payee(uow.conn, city, shared_payee_id, ctx.actor.id, ctx.today):
        raise NotFound("shared_payee_id", f"no shared payee {shared_payee_id} on the city's list")
