"""Contributions and vouchers through payments' HTTP API: the city funds its budget lines and sets its policy,
signed leases create lease-activation requests by themselves, staff add rent, two people approve what is large,
the batch goes to the bank as pain.001, the bank's answer (a few transfers fail) is reconciled, failed ones are
paid in a second batch; vouchers are issued and redeemed; money tutoring sessions are recorded."""

from __future__ import annotations

import asyncio
import csv
import io
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from lgnet_shared import clock

from lgnet_scenario.housing_steps import HousingOutcome, call
from lgnet_scenario.platform import Platform
from lgnet_scenario.population import Household

BUDGET = {
    "lease_activation": 6_000_000,
    "deposit": 8_000_000,
    "rent": 20_000_000,
    "utilities": 2_000_000,
    "voucher_public_transport": 1_000_000,
    "voucher_babysitting": 1_000_000,
}
# Fictional IBANs with valid check digits (Italian BBAN: CIN, ABI, CAB, account).
DEBTOR = {"trieste": "IT60X0542811101000000123456", "torino": "IT40S0542811101000000123456"}


@dataclass
class PaymentsOutcome:
    paid: dict[str, int] = field(default_factory=dict)  # request id -> cents
    failed_then_paid: list[str] = field(default_factory=list)
    vouchers_issued: int = 0
    vouchers_redeemed_cents: int = 0
    tutoring_sessions: int = 0
    pain001_files: list[str] = field(default_factory=list)


def iban(seed: str) -> str:
    """An Italian IBAN with correct CIN and check digits for a fictional account."""
    rng = random.Random(seed)
    abi, cab, account = "03069", f"{rng.randrange(10000, 99999)}", f"{rng.randrange(10**11, 10**12):012d}"
    bban_digits = abi + cab + account
    odd = [1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23]
    total = sum(odd[int(c)] if i % 2 == 0 else int(c) for i, c in enumerate(bban_digits))
    cin = chr(ord("A") + total % 26)
    bban = cin + bban_digits
    numeric = "".join(str(int(c, 36)) for c in bban + "IT00")
    return f"IT{98 - int(numeric) % 97:02d}{bban}"


async def setup_city(platform: Platform, city: str) -> dict[str, str]:
    staff = platform.http("payments", f"staff-{city}")
    await call(
        staff,
        "PUT",
        f"/policies/{city}",
        {
            "second_approval_threshold_cents": 100_000,
            "lease_activation_months": 1,
            "debtor_name": f"Comune di {city.title()}",
            "debtor_iban": DEBTOR[city],
        },
    )
    lines = {}
    for line, cents in BUDGET.items():
        made = await call(
            staff, "POST", "/budget-lines", {"line": line, "amount_cents": cents}, key=f"budget-{city}-{line}"
        )
        lines[line] = made["budget_line_id"]
    return lines


async def play(
    platform: Platform, city: str, households: list[Household], housing: HousingOutcome, progress: Any
) -> PaymentsOutcome:
    outcome = PaymentsOutcome()
    staff, director = platform.http("payments", f"staff-{city}"), platform.http("payments", f"director-{city}")
    by_case = {h.case_id: h for h in households}
    # Signed leases create lease-activation requests by themselves (the city's policy); wait for them.
    expected = {housing.leases[h.household_id]["lease_id"] for h in households if h.household_id in housing.leases}
    requests = await _wait_for_lease_requests(staff, expected)
    for h in households:
        lease = housing.leases.get(h.household_id)
        if lease is None:
            continue
        start = date.fromisoformat(lease["start_date"])
        for month in range(2):  # half the rent of the first two months, one request per month
            period_from = start + timedelta(days=30 * month)
            made = await call_when_known(
                h_partner(platform, h),
                "POST",
                "/contribution-requests",
                {
                    "case_id": h.case_id,
                    "kind": "rent",
                    "amount_cents": lease["monthly_rent_cents"] // 2,
                    "lease_id": lease["lease_id"],
                    "period_from": str(period_from),
                    "period_to": str(period_from + timedelta(days=29)),
                },
                key=f"rent-{lease['lease_id']}-{month}",
            )
            requests.append(made)

    async def pay_to(request_id: str, account: str) -> None:
        """The case's partner enters the landlord's bank data; the city's staff approve it (four eyes)."""
        h = by_case[next(r["case_id"] for r in requests if r["request_id"] == request_id)]
        await call(
            h_partner(platform, h),
            "PUT",
            f"/contribution-requests/{request_id}/beneficiary",
            {"name": f"Locatore {h.reference.family_name}", "iban": iban(account)},
        )
        await call(staff, "POST", f"/contribution-requests/{request_id}/approval")
        current = await call(staff, "GET", f"/contribution-requests/{request_id}")
        if current["status"] != "approved":  # above the threshold: a second, different approver
            await call(director, "POST", f"/contribution-requests/{request_id}/approval")

    for r in requests:
        await pay_to(r["request_id"], r["request_id"])
    progress(f"{city}: {len(requests)} contribution requests approved")
    # A small city may have signed no lease at all (`--scale`): then there is nothing to pay.
    failed = await _pay_batch(staff, outcome, fail_every=7) if requests else []
    if failed:  # the landlords' accounts were closed (AC04): their new bank data, approved again, then paid
        for request_id in failed:
            await pay_to(request_id, f"{request_id}-new")
        await _pay_batch(staff, outcome, fail_every=0)
        outcome.failed_then_paid = failed
    progress(f"{city}: {len(outcome.paid)} contributions paid ({len(failed)} bank failures paid again)")
    await _vouchers(platform, city, households, outcome)
    progress(f"{city}: {outcome.vouchers_issued} vouchers, {outcome.tutoring_sessions} tutoring sessions")
    return outcome


async def call_when_known(client: Any, method: str, path: str, body: Any, *, key: str, timeout: float = 120) -> Any:
    """A call about a case: payments learns cases from intake's events, asynchronously — after a restart its
    consumers may still be catching up. "Unknown case" is then an answer to wait out (the same key again)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            return await call(client, method, path, body, key=key)
        except RuntimeError as exc:
            if "answered 404" not in str(exc) or "unknown case" not in str(exc):
                raise
            if asyncio.get_running_loop().time() > deadline:
                raise
        await asyncio.sleep(1)


def h_partner(platform: Platform, h: Household) -> Any:
    return platform.http("payments", h.partner)


async def _wait_for_lease_requests(staff: Any, lease_ids: set[str], timeout: float = 120) -> list[dict[str, Any]]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = [r for r in await call(staff, "GET", "/contribution-requests") if r.get("lease_id") in lease_ids]
        if {r["lease_id"] for r in found} >= lease_ids:
            return [r for r in found if r["kind"] in ("lease_activation", "deposit")]
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"{len(lease_ids - {r['lease_id'] for r in found})} signed leases have no request")
        await asyncio.sleep(1)


async def _pay_batch(staff: Any, outcome: PaymentsOutcome, fail_every: int) -> list[str]:
    batch = await call(staff, "POST", "/batches", {}, key=f"batch-{len(outcome.pain001_files)}-{fail_every}")
    answer = await staff.get(f"/batches/{batch['batch_id']}/pain.001")
    answer.raise_for_status()
    outcome.pain001_files.append(batch["batch_id"])
    view = await call(staff, "GET", f"/batches/{batch['batch_id']}")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["end_to_end_id", "status", "amount", "booking_date", "reason"])
    failed = []
    for i, p in enumerate(view["payments"]):
        fails = fail_every and i % fail_every == 3
        writer.writerow(
            [
                p["payment_id"],
                "failed" if fails else "paid",
                f"{p['amount_cents'] / 100:.2f}",
                str(clock.today()),
                "AC04" if fails else "",
            ]
        )
        if fails:
            failed.append(p["request_id"])
        else:
            outcome.paid[p["request_id"]] = p["amount_cents"]
    done = await staff.post(
        "/reconciliations",
        content=out.getvalue().encode(),
        headers={"Content-Type": "text/csv", "Idempotency-Key": f"reco-{batch['batch_id']}"},
    )
    if done.status_code >= 300:
        raise RuntimeError(f"reconciliation answered {done.status_code}: {done.text[:500]}")
    return failed


async def _vouchers(platform: Platform, city: str, households: list[Household], outcome: PaymentsOutcome) -> None:
    staff = platform.http("payments", f"staff-{city}")
    provider = f"gtt-{city}" if city == "torino" else f"tt-{city}"
    await call(
        staff,
        "POST",
        "/providers",
        {"provider_id": provider, "name": f"Trasporti {city.title()}", "kinds": ["public_transport"]},
        key=f"provider-{provider}",
    )
    for i, h in enumerate(households):
        if i % 3:
            continue
        voucher = await call_when_known(
            h_partner(platform, h),
            "POST",
            "/vouchers",
            {"case_id": h.case_id, "kind": "public_transport", "value_cents": 3_500, "valid_until": "2027-06-30"},
            key=f"voucher-{h.case_id}",
        )
        outcome.vouchers_issued += 1
        await call(
            platform.http("payments", f"staff-{city}"),
            "POST",
            f"/vouchers/{voucher['voucher_id']}/redemptions",
            {"redemption_id": f"r-{voucher['voucher_id']}", "provider_id": provider, "amount_cents": 2_000},
        )
        outcome.vouchers_redeemed_cents += 2_000
        await call_when_known(
            h_partner(platform, h),
            "POST",
            "/tutoring-sessions",
            {"case_id": h.case_id, "topics": ["budgeting", "bills"], "outcome": "budget_plan"},
            key=f"tutoring-{h.case_id}",
        )
        outcome.tutoring_sessions += 1
