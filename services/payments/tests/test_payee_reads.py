"""Reads of a contribution request's payee through payments' HTTP API (its name, its IBAN masked): each kept in
payments' read log for the city's DPO, as intake keeps the reads of a person (DESIGN §2); and the payee as it is on
file, answered so that a form opens filled in, the IBAN kept when not given again."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from lgnet_shared import read_log_readers
from lgnet_shared.testing.inprocess import InProcessService
from payments_testkit import a_month, call, call_ok, refused
from test_bank_data import COOP, LANDLORD_IBAN, MALLORY, STAFF, torino_payments

pytestmark = pytest.mark.integration
PAYEE = {"name": "Immobiliare Po srl", "iban": LANDLORD_IBAN}


@pytest.fixture
async def payments(database_url: str, pg_schema: str) -> AsyncIterator[InProcessService]:
    async with torino_payments(database_url, pg_schema) as service:
        yield service


async def a_request(service: InProcessService, payee: dict[str, Any] | None = PAYEE) -> str:
    body = {"case_id": "c1", "kind": "rent", "amount_cents": 45_000, **a_month(), "beneficiary": payee}
    return str((await call_ok(service, COOP, "POST", "/contribution-requests", body))["request_id"])


async def read_log(service: InProcessService, token: str, **params: str) -> list[dict[str, Any]]:
    async with service.client(headers={"Authorization": f"Bearer {token}"}) as c:
        r = await c.get("/read-log", params=params)
    assert r.status_code == 200, r.text
    entries: list[dict[str, Any]] = r.json()
    return entries


async def dpo(service: InProcessService, city: str = "torino") -> str:
    async with service.pool.acquire() as conn:
        return await read_log_readers.issue_reader_token(conn, city, f"RPD {city}")


async def test_a_read_of_a_payee_is_kept_in_payments_read_log_for_the_dpo(payments: InProcessService) -> None:
    """Payments answers a request's payee by name (`payee_name`) and its IBAN masked to the city's staff and the
    case's cooperative, and nobody could tell the DPO who had read them. Each read through the API is kept: who (the
    principal, its role and cooperative), when, which request of which case and household (the members when read:
    the payee may be a landlord, not a person of intake; the log's subject is the household paid for), what
    (`payee`: the name and the masked IBAN), through what (`via`); a refused read of an existing request, `denied`.
    The DPO reads it with her payments read-log token (`GET /read-log`), by person, household or principal."""
    rid = await a_request(payments)
    bare = await a_request(payments, None)  # no payee on file: nothing of one is read
    async with payments.client(STAFF, headers={"LgNet-Client": "desk"}) as c:
        assert (await c.get(f"/contribution-requests/{rid}")).json()["payee_name"] == PAYEE["name"]
        assert (await c.get(f"/contribution-requests/{bare}")).status_code == 200
    listed = await call_ok(payments, COOP, "GET", "/contribution-requests?case_id=c1")
    assert {r["request_id"] for r in listed} == {rid, bare}
    async with payments.client("staff-trieste") as c:  # another city's staff: as if there were none, and logged
        assert (await c.get(f"/contribution-requests/{rid}")).status_code == 404
    token = await dpo(payments)
    entries = await read_log(payments, token)
    said = [(e["principal"], e["kind"], e["request_id"], e["case_id"], e["household_id"], e["outcome"], e["via"])
            for e in entries]  # fmt: skip
    assert said == [
        ("staff-trieste", "payee", rid, "c1", "h1", "denied", "api"),
        (COOP, "payee", rid, "c1", "h1", "shown", "api"),
        (STAFF, "payee", rid, "c1", "h1", "shown", "desk"),
        (COOP, "iban_masked", rid, "c1", "h1", "shown", "api"),  # the creation's answer: the IBAN masked alone
    ], entries
    assert [e["person_ids"] for e in entries] == [["p"]] * 4
    assert [(e["role"], e["partner"]) for e in entries[1:3]] == [("partner", COOP), ("staff", None)]
    assert [e["principal"] for e in await read_log(payments, token, person_id="p", principal=COOP)] == [COOP, COOP]
    assert len(await read_log(payments, token, household_id="h1")) == 4
    assert await read_log(payments, token, person_id="someone-else") == []
    assert await read_log(payments, await dpo(payments, "trieste")) == []  # another city's DPO: none of Torino's
    # a change's answer shows the IBAN masked (the name stays out of an answer kept for a retry): kept too
    body = {"name": "Immobiliare Po srl", "iban": "GB33BUKB20201555555555"}
    await call_ok(payments, COOP, "PUT", f"/contribution-requests/{rid}/beneficiary", body)
    await call_ok(payments, STAFF, "POST", f"/contribution-requests/{rid}/approval")
    changes = [(e["principal"], e["kind"], e["request_id"]) for e in (await read_log(payments, token))[:2]]
    assert changes == [(STAFF, "iban_masked", rid), (COOP, "iban_masked", rid)], changes
    async with payments.client(STAFF) as c:  # an actor's token never opens the log
        assert (await c.get("/read-log")).status_code == 403
    async with payments.pool.acquire() as conn:  # no entry is changed (past its retention one is deleted)
        with pytest.raises(Exception, match="append-only"):
            await conn.execute("update read_log set principal = 'someone-else'")


async def test_the_payee_on_file_is_answered_and_an_iban_not_given_again_is_kept(payments: InProcessService) -> None:
    """The desk's payee form opened empty: a social worker retyped the IBAN to fix one letter of the name. A read
    of the request answers what may be shown (the name, the BIC, the IBAN masked, never the IBAN); a `PUT
    …/beneficiary` without an IBAN keeps the one on file (a new approval all the same: the name changed), one with an
    IBAN replaces it, checked as always; without an IBAN on file, one is required, said at the field."""
    rid = await a_request(payments)
    read = await call_ok(payments, STAFF, "GET", f"/contribution-requests/{rid}")
    assert (read["payee_name"], read["iban_masked"], read["bic"]) == (PAYEE["name"], "••••3000", None)
    assert LANDLORD_IBAN not in str(read)
    await call_ok(payments, STAFF, "POST", f"/contribution-requests/{rid}/approval")
    fixed = await call_ok(
        payments, COOP, "PUT", f"/contribution-requests/{rid}/beneficiary", {"name": "Immobiliare Po s.r.l."}
    )
    assert (fixed["iban_masked"], fixed["bank_data_changed_fields"], fixed["status"]) == (
        "••••3000",
        ["name"],
        "requested",
    ), fixed
    again = await call_ok(payments, MALLORY, "GET", f"/contribution-requests/{rid}")
    assert (again["payee_name"], again["iban_masked"]) == ("Immobiliare Po s.r.l.", "••••3000")
    r = await call(payments, COOP, "PUT", f"/contribution-requests/{rid}/beneficiary", {"name": "X", "iban": "IT00"})
    refused(r, 422, "iban")  # a new IBAN is checked as always
    bare = await a_request(payments, None)
    r = await call(payments, COOP, "PUT", f"/contribution-requests/{bare}/beneficiary", {"name": "ATER Torino"})
    assert "no IBAN on file" in refused(r, 422, "iban"), r.text
    body = {"case_id": "c1", "kind": "rent", "amount_cents": 1_000, **a_month(), "beneficiary": {"name": "ATER"}}
    r = await call(payments, COOP, "POST", "/contribution-requests", body)
    assert refused(r, 422, "beneficiary.iban"), r.text
