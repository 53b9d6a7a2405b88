"""What a voucher's provider sees when it redeems: the voucher it was shown and its own redemptions, not the other
providers' business with the household. From an outside test: a provider (a partner actor of the city, registered for
the voucher's kind) that redeemed part of a bus voucher of another cooperative's case was answered every redemption of
the voucher — the other providers' ids, amounts, days and reimbursements — which it may not read otherwise
(GET /vouchers/{id} refuses it: 404, as a voucher that exists nowhere, the case being another partner's)."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from lgnet_payments.adapters import schema
from lgnet_shared import auth, clock
from lgnet_shared.access import ID_TAKEN, Role
from lgnet_shared.testing.inprocess import InProcessService, fixtures_per_module
from lgnet_shared.testing.tables import everything_in
from payments_testkit import call, call_ok, refused
from test_bank_data import (
    COOP,
    LANDLORD_IBAN,
    MALLORY,
    STAFF,
    torino_payments,
)

# One in-process payments (test_bank_data's) for the module: the providers (and their actors) a test registers carry
# its `uid`; the voucher lines are only ever topped up.
pytestmark = [pytest.mark.integration, pytest.mark.shared_service]

payments, payments_own, payments_shared, payments_view = fixtures_per_module("payments", torino_payments)


async def test_a_provider_sees_its_own_redemptions_of_a_voucher_only(payments: InProcessService, uid: str) -> None:
    BUS, TRAM = (
        f"bus-coop-{uid}",
        f"tram-srl-{uid}",
    )  # two providers of public transport, each a partner actor of Torino
    await call_ok(
        payments, STAFF, "POST", "/budget-lines", {"line": "voucher_public_transport", "amount_cents": 50_000}
    )
    for pid in (BUS, TRAM):
        provider = {"provider_id": pid, "name": pid, "kinds": ["public_transport"], "iban": LANDLORD_IBAN}
        await call_ok(payments, STAFF, "POST", "/providers", provider)
        async with payments.pool.acquire() as conn:
            await auth.add_actor(conn, pid, Role.PARTNER, "torino", pid)
            payments.tokens[pid] = await auth.issue_token(conn, pid)
    voucher = {"case_id": "c1", "kind": "public_transport", "value_cents": 1_000,
               "valid_until": str(clock.today() + timedelta(days=60))}  # fmt: skip
    vid = (await call_ok(payments, COOP, "POST", "/vouchers", voucher))["voucher_id"]
    path = f"/vouchers/{vid}/redemptions"
    bus = await call_ok(payments, BUS, "POST", path, {"redemption_id": "1", "provider_id": BUS, "amount_cents": 300})
    assert [(r["provider_id"], r["amount_cents"]) for r in bus["redemptions"]] == [(BUS, 300)], bus
    tram = await call_ok(payments, TRAM, "POST", path, {"redemption_id": "1", "provider_id": TRAM, "amount_cents": 200})
    assert tram["remaining_cents"] == 500, tram
    assert [(r["provider_id"], r["amount_cents"]) for r in tram["redemptions"]] == [(TRAM, 200)], tram
    again = await call_ok(payments, BUS, "POST", path, {"redemption_id": "1", "provider_id": BUS, "amount_cents": 300})
    assert [r["provider_id"] for r in again["redemptions"]] == [BUS], again  # its retry: its own still
    refused(await call(payments, TRAM, "GET", f"/vouchers/{vid}"), 404, "voucher_id")  # not its case's: as none
    for who in (COOP, STAFF):  # the case's partner and the city's staff see all of them
        seen = await call_ok(payments, who, "GET", f"/vouchers/{vid}")
        assert sorted(r["provider_id"] for r in seen["redemptions"]) == [BUS, TRAM], seen


async def test_the_cases_partner_does_not_redeem_its_own_cases_voucher_itself(payments: InProcessService) -> None:
    """A cooperative that is also a registered provider issued a voucher on its own case (no approval: vouchers are
    issued, not asked) and redeemed it to itself, reimbursed from the city's budget with nobody else's eyes on it.
    The city's staff records such a redemption for it; the cooperative redeems other cooperatives' cases' vouchers."""
    await call_ok(
        payments, STAFF, "POST", "/budget-lines", {"line": "voucher_public_transport", "amount_cents": 50_000}
    )
    provider = {"provider_id": COOP, "name": COOP, "kinds": ["public_transport"], "iban": LANDLORD_IBAN}
    await call_ok(payments, STAFF, "POST", "/providers", provider)
    voucher = {"case_id": "c1", "kind": "public_transport", "value_cents": 1_000,
               "valid_until": str(clock.today() + timedelta(days=60))}  # fmt: skip
    vid = (await call_ok(payments, COOP, "POST", "/vouchers", voucher))["voucher_id"]
    path = f"/vouchers/{vid}/redemptions"
    redemption = {"redemption_id": "1", "provider_id": COOP, "amount_cents": 300}
    reason = refused(await call(payments, COOP, "POST", path, redemption), 403, "provider_id")
    assert "staff" in reason, reason
    assert (await call_ok(payments, COOP, "GET", f"/vouchers/{vid}"))["remaining_cents"] == 1_000
    recorded = await call_ok(payments, STAFF, "POST", path, redemption)  # the city's staff records it for the provider
    assert recorded["remaining_cents"] == 700 and [r["provider_id"] for r in recorded["redemptions"]] == [COOP]


# Its own: it asserts every stored answer of the service and runs a migration over them all.
@pytest.mark.own_service
async def test_a_providers_name_is_not_kept_in_clear_in_its_registrations_stored_answer(
    payments: InProcessService,
) -> None:
    """A DPO's review: the providers table seals a provider's name (a babysitter paid by voucher is a natural person),
    but the stored answer of `POST /providers`, kept to answer a retry, held it in clear. It keeps no name; a retry
    with the same Idempotency-Key still gets the provider as registered, its name read from the sealed row."""
    name = "Maria Rossi babysitter"
    provider = {"provider_id": "prov-maria", "name": name, "kinds": ["babysitting"], "iban": LANDLORD_IBAN}
    key = {"Idempotency-Key": uuid.uuid4().hex}
    async with payments.client(STAFF) as c:
        made = await c.post("/providers", json=provider, headers=key)
        retried = await c.post("/providers", json=provider, headers=key)
    assert made.status_code == 201 and made.json()["name"] == name, made.text
    assert retried.status_code == 201 and retried.headers.get("Idempotent-Replayed") == "true", retried.text
    assert retried.json() == made.json()
    # Her bank data changed and approved: those answers are the provider too (name and all), stored alike.
    changed = {"iban": "IT60X0542811101000000123456"}
    async with payments.client(STAFF) as c:
        put = await c.put("/providers/prov-maria/bank-data", json=changed, headers={"Idempotency-Key": "k-put"})
        again = await c.put("/providers/prov-maria/bank-data", json=changed, headers={"Idempotency-Key": "k-put"})
    async with payments.client(MALLORY) as c:  # another staff member approves
        approved = await c.post("/providers/prov-maria/bank-data/approval")
        approved_again = await c.post("/providers/prov-maria/bank-data/approval")
    assert put.status_code == again.status_code == 200 and again.json()["name"] == name, again.text
    assert approved.status_code == approved_again.status_code == 200, approved_again.text
    assert approved_again.json()["name"] == name and approved_again.headers.get("Idempotent-Replayed") == "true"
    async with payments.pool.acquire() as conn:
        stored = [r["j"] for r in await conn.fetch("select row_to_json(k)::text as j from idempotency_keys k")]
        assert len(stored) >= 3 and not [s for s in stored if "Maria Rossi" in s], stored
        # Answers stored before this release lose the name at the upgrade (migration payments-19).
        await conn.execute(
            "update idempotency_keys set response = response || $2::jsonb where key = $1", key["Idempotency-Key"],
            {"name": name},
        )  # fmt: skip
        await conn.execute(dict(schema.MIGRATIONS)["payments-19"])
        stored = [r["j"] for r in await conn.fetch("select row_to_json(k)::text as j from idempotency_keys k")]
    assert not [s for s in stored if "Maria Rossi" in s], stored


IDENTIFYING = ("RSSMRA85T10A562S", "IT60X0542811101000000123456", "maria.rossi@example.org", "+39 347 1234567")


async def test_a_providers_or_redemptions_id_holding_identifying_data_is_refused(
    payments: InProcessService, uid: str
) -> None:
    """A DPO's review (DESIGN section 5): a provider's id travels in clear on payments' topic (voucher_redeemed,
    provider bank data facts, reimbursements) and a redemption's id rests in clear in payments' tables, and no erasure
    reaches either. A babysitter paid by voucher is a natural person, and her fiscal code is the id a cooperative's
    system would use: staff registered a provider by it, and a provider redeemed under a phone number, both taken
    (201). A new provider's or redemption's id that holds a fiscal code, an IBAN, an e-mail address or a phone number
    is refused at its field, and nothing of it is kept; an id that says nothing of the person is taken."""
    await call_ok(payments, STAFF, "POST", "/budget-lines", {"line": "voucher_babysitting", "amount_cents": 50_000})
    for pid in IDENTIFYING:
        provider = {"provider_id": pid, "name": "Maria Rossi", "kinds": ["babysitting"], "iban": LANDLORD_IBAN}
        reason = refused(await call(payments, STAFF, "POST", "/providers", provider), 422, "provider_id")
        assert "identifiers travel in clear and are never erased" in reason, reason
    prov = f"prov-7-{uid}"
    provider = {"provider_id": prov, "name": "Maria Rossi", "kinds": ["babysitting"], "iban": LANDLORD_IBAN}
    await call_ok(payments, STAFF, "POST", "/providers", provider)
    voucher = {"case_id": "c1", "kind": "babysitting", "value_cents": 1_000,
               "valid_until": str(clock.today() + timedelta(days=60))}  # fmt: skip
    vid = (await call_ok(payments, COOP, "POST", "/vouchers", voucher))["voucher_id"]
    path = f"/vouchers/{vid}/redemptions"
    for rid in IDENTIFYING:
        redemption = {"redemption_id": rid, "provider_id": prov, "amount_cents": 100}
        reason = refused(await call(payments, STAFF, "POST", path, redemption), 422, "redemption_id")
        assert "identifiers travel in clear" in reason, reason
    done = await call_ok(
        payments, STAFF, "POST", path, {"redemption_id": "r-1", "provider_id": prov, "amount_cents": 100}
    )
    assert done["remaining_cents"] == 900, done
    async with payments.pool.acquire() as conn:
        kept = await everything_in(conn)
    # (The city's own paying account is the IBAN above: the fixture's policy; no id holds it.)
    assert not [v for v in IDENTIFYING if re.search(f'_id":"{re.escape(v)}"', kept)], kept


async def test_a_provider_id_taken_in_another_city_is_answered_as_one_that_cannot_be_used(
    payments: InProcessService, uid: str
) -> None:
    """Providers' ids are unique per deployment: another city's staff registering one under an id Torino has were
    answered 409 "provider <id> is already registered" — that Torino works with it. The holder's city is told so."""
    provider = {"provider_id": f"bus-{uid}", "name": "Bus", "kinds": ["public_transport"]}
    await call_ok(payments, STAFF, "POST", "/providers", provider)
    elsewhere = await call(payments, "staff-trieste", "POST", "/providers", provider)
    assert refused(elsewhere, 409, "provider_id") == ID_TAKEN
    assert refused(await call(payments, MALLORY, "POST", "/providers", provider), 409, "provider_id") == (
        f"provider bus-{uid} is already registered"
    )
