"""Known shared payees: a payee the city pays for many households (a utility, a social-housing agency). Its
requests are compared by amount as well when duplicates are looked for (adapters/repository.possible_duplicates),
since the same payee, kind and period alone flags every household's request. The city's staff keep the list; the
IBAN is kept only as its keyed blind index and its last four characters."""

from __future__ import annotations

from typing import Any

from lgnet_shared.errors import Conflict, ContractError, NotFound
from lgnet_shared.pseudonymous import check_no_identifying_text

from lgnet_payments.adapters import repository as repo
from lgnet_payments.adapters.sepa import normalise_iban
from lgnet_payments.service_layer import commands as cmd
from lgnet_payments.service_layer.context import Context, UnitOfWork
from lgnet_payments.service_layer.contributions import no_request, open_sealed

WHAT = "keep the list of shared payees"


async def register(uow: UnitOfWork, ctx: Context, c: cmd.RegisterSharedPayee) -> dict[str, Any]:
    city = ctx.city
    ctx.staff(city, WHAT)
    check_no_identifying_text(c.label, "label")  # in clear: an IBAN typed into it would undo the blind index
    index, last4 = await _payee(uow, ctx, c)
    made = await repo.add_shared_payee(uow.conn, city, index, last4, c.label, ctx.actor.id, ctx.today)
    if made is None:
        raise Conflict("iban", "this IBAN is already on the city's list of shared payees")
    return made


async def _payee(uow: UnitOfWork, ctx: Context, c: cmd.RegisterSharedPayee) -> tuple[str, str]:
    """The payee's blind index and last four characters: of the IBAN given, or of the payee of a request."""
    if (c.iban is None) == (c.request_id is None):
        field = "iban" if c.iban is None else "request_id"
        raise ContractError(field, "give either the payee's IBAN or the request_id whose payee it is")
    if c.iban is not None:
        iban = normalise_iban(c.iban, "iban")
        return uow.iban_index(iban), iban[-4:]
    row = await repo.request_row(uow.conn, c.request_id or "")
    if row is None or ctx.elsewhere(row["city"]):
        raise no_request(c.request_id or "")
    key = await uow.key_store().key(uow.conn, f"household:{row['household_id']}")
    sealed_iban = open_sealed(row["beneficiary"], key).get("iban")
    if row["iban_index"] is None or sealed_iban is None:
        raise Conflict("request_id", "the request has no bank data (not given yet, or erased)")
    return str(row["iban_index"]), sealed_iban[-4:]


async def listing(uow: UnitOfWork, ctx: Context) -> list[dict[str, Any]]:
    city = ctx.city
    ctx.staff(city, WHAT)
    return await repo.shared_payees(uow.conn, city)


async def withdraw(uow: UnitOfWork, ctx: Context, shared_payee_id: str) -> dict[str, Any]:
    """An id that is no number is one that does not exist (the same 404: ids are not told apart by their shape)."""
    city = ctx.city
    ctx.staff(city, WHAT)
    number = int(shared_payee_id) if shared_payee_id.isdigit() and len(shared_payee_id) < 19 else 0
    withdrawn = await repo.withdraw_shared_payee(uow.conn, city, number, ctx.actor.id, ctx.today)
    if withdrawn is None:
        raise NotFound("shared_payee_id", f"no shared payee {shared_payee_id} on the city's list")
    return withdrawn
