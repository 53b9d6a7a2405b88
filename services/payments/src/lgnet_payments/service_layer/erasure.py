"""Erasure and retention (docs/payments.md, "Erasure and retention").

Payments keeps, for the legal retention period (codice civile art. 2220: ten years), its accounting records:
the ledger, requests, payments, batches, reimbursements, amounts, dates, statuses, pseudonymous ids (request,
case, household, payment = EndToEndId) and each payment file's MsgId, SHA-256 and totals. What identifies a
person there — names, IBANs, BICs — is not needed for that and goes when a member of the household is erased:

- the household's key in payments is destroyed (crypto-shredding): every sealed name, IBAN and BIC of its
  requests and payments is unreadable at once, and none can be stored again;
- each stored payment file with one of its payments loses its content (the plain names and IBANs a bank file
  must carry) as soon as none of that file's payments is still with the bank; a file still in flight keeps it
  until its last payment is settled (GDPR art. 17(3)(b): the payment is a legal obligation), then reconciliation
  shreds it.
"""

from __future__ import annotations

from datetime import date

from lgnet_shared import partner_sharing, pii
from lgnet_shared.db import Conn

from lgnet_payments.adapters import payment_files
from lgnet_payments.domain.retention import file_shreddable


async def households_of(conn: Conn, person_id: str) -> list[str]:
    rows = await conn.fetch("select household_id from household_members where person_id = $1", person_id)
    return [r["household_id"] for r in rows]


async def erase_person(conn: Conn, keys: pii.KeyStore, person_id: str, on: date) -> list[str]:
    """Shred the bank data of every household the person belongs to; the payment files due now. Idempotent."""
    await conn.execute(
        "insert into erasures (person_id, erased_on) values ($1, $2) on conflict (person_id) do nothing",
        person_id,
        on,
    )
    await partner_sharing.forget(conn, person_id)
    households = await households_of(conn, person_id)
    await erase_households(conn, keys, households, on)
    return households


async def erase_if_a_member_was_erased(conn: Conn, keys: pii.KeyStore, household_id: str, members: list[str]) -> None:
    """A household fact read after a member's erasure (intake's facts are on different partitions: a person's
    erasure keyed by the person, a household's by the household) gets the erasure's treatment, dated as it."""
    on = await conn.fetchval("select min(erased_on) from erasures where person_id = any($1::text[])", members)
    if on is not None:
        await erase_households(conn, keys, [household_id], on)


async def erase_households(conn: Conn, keys: pii.KeyStore, households: list[str], on: date) -> None:
    for household_id in households:
        await keys.erase(conn, f"household:{household_id}")
    # The IBAN's blind index is a pseudonym of the bank data: it goes with it.
    await conn.execute(
        "update contribution_requests set iban_index = null where household_id = any($1::text[])", households
    )
    await forget_stored_answers(conn, households)
    batches = await conn.fetch(
        "select distinct p.batch_id from payments p join contribution_requests r using (request_id)"
        " where r.household_id = any($1::text[])",
        households,
    )
    for b in batches:
        await conn.execute(
            "update payment_files set shred_when_settled = true where batch_id = $1 and content is not null",
            b["batch_id"],
        )
        await shred_if_settled(conn, b["batch_id"], on)


async def forget_stored_answers(conn: Conn, households: list[str]) -> None:
    """The stored answers of the households' requests (what an Idempotency-Key's retry gets back) lose their bank
    data (the IBAN's last four characters, the BIC), and the fingerprints of their bodies (of the payee's name and
    IBAN with the rest of the request: keyed, or plain SHA-256 if stored by an earlier release) become "erased": a
    retry is then a conflict, as in intake. A transition's fingerprint holds no body worth hiding (its key is its
    route), so it stays."""
    await conn.execute(
        "update idempotency_keys set"
        " request_hash = case when key like 'transition:%' then request_hash else 'erased' end,"
        " response = case when response ? 'iban_masked' then response || $2::jsonb else response end"
        " where response->>'request_id' in"
        " (select request_id from contribution_requests where household_id = any($1::text[]))",
        households,
        {"iban_masked": None, "approved_iban_masked": None, "bic": None, "bank_data_erased": True},
    )


async def shred_if_settled(conn: Conn, batch_id: str, on: date) -> bool:
    """A file marked for shredding loses its content once none of its payments is still with the bank."""
    marked = await conn.fetchval(
        "select shred_when_settled from payment_files where batch_id = $1 and content is not null", batch_id
    )
    if not marked:
        return False
    rows = await conn.fetch(
        "select status from payments where batch_id = $1 union all select status from reimbursements where run_id = $1",
        batch_id,
    )
    statuses = [r["status"] for r in rows]
    return file_shreddable(statuses) and await payment_files.shred(conn, batch_id, on)
