"""A person's phone or address removed (`PATCH /persons/{id}`, `clear`): a wrong phone could be replaced, never
taken away (an outside test at the desk: the phone emptied, "registered", and still there). Against real Kafka and
PostgreSQL."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lgnet_shared.events import intake as ev
from test_http_api import household_with_case, mine

if TYPE_CHECKING:
    from conftest import IntakeUnderTest


async def test_a_phone_or_an_address_is_removed_by_naming_it(intake: IntakeUnderTest, uid: str) -> None:
    """`clear` names the identity fields to take away (`identity.phone`, `identity.address`): the person reads
    without them, the rest kept; the fact says the person was updated and nothing of the removed value, in clear or
    sealed. A field that cannot be removed, or one given and removed at once, is refused naming it; a field not on
    file removed is nothing to update."""
    ids = await household_with_case(intake, uid)
    path = f"/persons/{ids['person']}"
    async with intake.client("staff-torino") as c:
        r = await c.patch(path, json={"clear": ["identity.phone"]})
        assert r.status_code == 200, r.text
        identity = (await c.get(path)).json()["identity"]
        assert "phone" not in identity and identity["address"] == "Via Roma 1, Torino", identity
        for body, field in (
            ({"clear": ["identity.given_name"]}, "clear.0"),
            ({"clear": ["identity.fiscal_code"]}, "clear.0"),
            ({"clear": ["identity.address"], "identity": {"address": "Via Po 2"}}, "clear"),
        ):
            r = await c.patch(path, json=body)
            assert (r.status_code, r.json()["field"]) == (422, field), r.text
        r = await c.patch(path, json={"clear": ["identity.phone"]})  # no phone on file any more
        assert r.status_code == 422 and r.json()["reason"] == "nothing to update", r.text
        r = await c.patch(path, json={"clear": ["identity.address"], "literate": False})
        assert r.status_code == 200, r.text
        after = (await c.get(path)).json()
        assert "address" not in after["identity"] and after["literate"] is False, after
        assert after["identity"]["given_name"] == "Amina", after
    updates = [e for e in mine(await intake.events(), uid) if isinstance(e, ev.PersonUpdated)]
    assert [e.person_id for e in updates] == [ids["person"]] * 2, updates
    assert all(e.identity is None for e in updates), updates  # nothing of a removed value travels
    assert "333 1234567" not in "".join(e.model_dump_json() for e in updates)
