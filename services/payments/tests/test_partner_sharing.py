"""A partner reads a case's or household's payments (contribution requests with their payee, vouchers, tutoring,
balances, reminders) only while every member of the household has consented to sharing with partners, as intake
gives a partner a person's data (docs/partners.md, "Consent to sharing with partners"). Real process, real Kafka and
PostgreSQL: payments learns each person's consent from intake's fact `consent_recorded` (intake.events)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
from lgnet_shared import clock
from lgnet_shared.events import intake as iev
from payments_testkit import GOOD_IBAN, a_month, case_opened, problem

if TYPE_CHECKING:
    from payments_testkit import PaymentsUnderTest

pytestmark = [pytest.mark.integration, pytest.mark.shared_service]
REFUSED = "the household has not consented to sharing data with partners"


def key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


def consent(pid: str, granted: bool, days_ago: int = 0) -> iev.ConsentRecorded:
    on = clock.today() - timedelta(days=days_ago)
    return iev.ConsentRecorded(
        person_id=pid, purpose=iev.ConsentPurpose.PARTNER_SHARING, granted=granted, recorded_on=on
    )


async def test_a_partner_reads_a_cases_payments_only_with_every_members_consent_to_sharing(
    payments: PaymentsUnderTest, uid: str
) -> None:
    """The DPO's review: Torino's staff registered a person (no consent to sharing) with a case assigned to
    coop-aurora; aurora's token read the case's contribution requests with the landlord's name and the masked IBAN."""
    hid, cid, p0, p1 = f"h-{uid}", f"c-{uid}", f"p0-{uid}", f"p1-{uid}"
    formed = iev.HouseholdFormed(household_id=hid, city="torino", reference_person_id=p0, member_ids=[p0, p1])
    await payments.publish(formed, "torino")
    await payments.publish(case_opened(cid, hid), "torino")
    assert await payments.wait_for("select household_id from cases where case_id = $1", cid) == hid
    body = {"case_id": cid, "kind": "rent", "amount_cents": 1_000, **a_month()}
    body["beneficiary"] = {"name": "Mario Rossi", "iban": GOOD_IBAN}
    async with payments.client("anna") as anna, payments.client("coop-aurora") as aurora:
        await anna.post("/budget-lines", json={"line": "rent", "amount_cents": 1_000}, headers=key())
        r = await anna.post("/contribution-requests", json=body, headers=key())
        assert r.status_code == 201, r.text
        rid = r.json()["request_id"]

        async def reads(who: Any) -> dict[str, Any]:
            return {
                "query.case_id": await who.get("/contribution-requests", params={"case_id": cid}),
                "request_id": await who.get(f"/contribution-requests/{rid}"),
                "query.household_id": await who.get("/vouchers", params={"household_id": hid}),
                "tutoring": await who.get("/tutoring-sessions", params={"case_id": cid}),
                "balances": await who.get("/ledger/balances", params={"case_id": cid}),
            }

        async def refused() -> None:
            got = await reads(aurora)
            for field in ("query.case_id", "request_id", "query.household_id"):
                assert problem(got[field]) == (403, field, REFUSED), got[field].text
            assert problem(got["tutoring"]) == (403, "query.case_id", REFUSED), got["tutoring"].text
            assert problem(got["balances"]) == (403, "query.case_id", REFUSED), got["balances"].text
            listed = (await aurora.get("/contribution-requests")).json()  # its own cases': not this one
            assert rid not in {x["request_id"] for x in listed} and "Mario" not in str(listed), listed
            assert rid not in {x["request_id"] for x in (await aurora.get("/reminders")).json()}

        await refused()
        staff = await reads(anna)  # the city's staff keep full access
        assert all(r.status_code == 200 for r in staff.values()), {k: r.text for k, r in staff.items()}
        assert staff["query.case_id"].json()[0]["payee_name"] == "Mario Rossi"

        # One member's consent is not the household's: its payments are all of theirs.
        await payments.publish(consent(p0, True), "torino")
        assert await payments.wait_for("select granted from partner_sharing where person_id = $1", p0)
        await refused()

        await payments.publish(consent(p1, True), "torino")
        assert await payments.wait_for("select granted from partner_sharing where person_id = $1", p1)
        got = await reads(aurora)
        assert all(r.status_code == 200 for r in got.values()), {k: r.text for k, r in got.items()}
        assert got["query.case_id"].json()[0]["payee_name"] == "Mario Rossi"
        assert got["request_id"].json()["iban_masked"].endswith(GOOD_IBAN[-4:])

        # Withdrawn: at once, as soon as payments reads it.
        await payments.publish(consent(p1, False), "torino")
        assert await payments.wait_for("select not granted from partner_sharing where person_id = $1", p1)
        await refused()

        # The partner's writes on its case are kept (intake's rule): a request asked for is recorded.
        r = await aurora.post("/contribution-requests", json={**body, **a_month()}, headers=key())
        assert r.status_code == 201, r.text
