"""A client's retry after a crash: every workflow transition (acceptance, decline, placement end, withdrawal, hold)
repeated by the same actor is answered as the success it was — with an Idempotency-Key the original answer,
without one the transition itself is the key — and has one effect; another actor still meets the rules (409)."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from lgnet_shared import clock
from lgnet_shared.events import housing as hev
from lgnet_shared.events import intake as iev

if TYPE_CHECKING:
    from conftest import HousingUnderTest

pytestmark = pytest.mark.integration
ADULT = date(1990, 5, 1)


def opportunity(oid: str) -> dict[str, Any]:
    return {
        "opportunity_id": oid,
        "kind": "non_hotel_room",
        "capacity": 1,
        "bedrooms": 1,
        "accessible": False,
        "monthly_rent_cents": 10_000,
        "available_from": clock.today().isoformat(),
        "support_level": "none",
        "restrictions": [],
    }


async def twice(c: httpx.AsyncClient, path: str, body: dict[str, Any], key: str | None = None) -> httpx.Response:
    """The request, then its retry (as after a crash that committed the first): both must be the success."""
    headers = {"Idempotency-Key": key} if key else {}
    first = await c.post(path, json=body, headers=headers)
    assert first.status_code == 200, f"{path}: {first.text}"
    retry = await c.post(path, json=body, headers=headers)
    assert retry.status_code == 200, f"retry of {path}: {retry.text}"
    assert retry.headers.get("idempotent-replayed") == "true"
    assert retry.json() == first.json()
    return retry


async def test_every_transition_repeated_is_the_success_it_was(housing: HousingUnderTest) -> None:
    for hid in ("h-1", "h-2", "h-3"):
        await housing.publish("torino", *housing.household_events(hid, "torino", [(ADULT, iev.Sex.MALE)]))
    await housing.wait_open_cases(3)
    async with housing.client("coop-aurora") as c:
        for oid in ("o-1", "o-2", "o-3"):
            r = await c.post("/opportunities", json=opportunity(oid), headers={"Idempotency-Key": oid})
            assert r.status_code == 201, r.text
        await housing.wait_sql("select count(*) from matches where status = 'proposed'", want=3)
        proposed = {p["household_id"]: p for p in (await c.get("/proposals")).json()}

        # Acceptance without a key, repeated; then another actor's acceptance is still a conflict.
        accepted = proposed["h-1"]["match_id"]
        r = await twice(c, f"/matches/{accepted}/acceptance", {})
        assert r.json()["status"] == "accepted"
        async with housing.client("staff-torino") as staff:
            other = await staff.post(f"/matches/{accepted}/acceptance", json={})
            assert other.status_code == 409, other.text

        # Decline with a key, repeated.
        declined = proposed["h-2"]["match_id"]
        r = await twice(c, f"/matches/{declined}/decline", {"by": "household", "reason": "too_far"}, str(uuid.uuid4()))
        assert r.json()["status"] == "declined"

        # Placement, then its end without a key, repeated.
        r = await c.post(
            f"/matches/{accepted}/placement",
            json={"started_on": clock.today().isoformat()},
            headers={"Idempotency-Key": "p"},
        )
        assert r.status_code == 201, r.text
        placement_id = r.json()["placement_id"]
        await twice(
            c, f"/placements/{placement_id}/end", {"reason": "autonomy_reached", "ended_on": str(clock.today())}
        )

        # Withdrawal of a listed opportunity without a key, repeated.
        r = await twice(c, "/opportunities/o-3/withdrawal", {"reason": "no_longer_available"})
        assert r.json()["status"] == "withdrawn"

        # Parking the same way again is the success it was (without a key: parking is a state, not a step).
        park = {"reason": "hospitalised", "until": str(clock.today() + timedelta(days=30))}
        for _ in range(2):
            r = await c.post("/households/h-3/park", json=park)
            assert r.status_code == 200 and r.json()["parked"] is True, r.text
        # So is taking it off hold again.
        for _ in range(2):
            r = await c.post("/households/h-3/unpark", json={})
            assert r.status_code == 200 and r.json()["parked"] is False, r.text

    events = await housing.events(want=1, of_type=hev.HouseholdUnparked.type)  # the last step taken
    counts: dict[str, int] = {}
    for e in events:
        counts[e.type] = counts.get(e.type, 0) + 1
    assert counts[hev.MatchAccepted.type] == 1
    assert counts[hev.PlacementEnded.type] == 1
    assert counts[hev.OpportunityWithdrawn.type] == 1
    assert counts[hev.HouseholdParked.type] == 1
    assert counts[hev.HouseholdUnparked.type] == 1
    assert sum(isinstance(e, hev.MatchDeclined) and e.match_id == declined for e in events) == 1
