"""A partner reads a household's housing data (its entry of the waiting list, why it is not matching, its matches)
only while every member of the household has consented to sharing with partners, as intake gives a partner a
person's data (docs/partners.md, "Consent to sharing with partners"). Real process, real Kafka and PostgreSQL:
housing learns each person's consent from intake's fact `consent_recorded` (intake.events)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from lgnet_shared import clock
from lgnet_shared.codec import to_envelope
from lgnet_shared.consumer import inbox_id
from lgnet_shared.events import intake as iev
from lgnet_shared.testing.facts import signed_fact
from lgnet_shared.topics import physical

if TYPE_CHECKING:
    from conftest import HousingUnderTest

pytestmark = [pytest.mark.integration, pytest.mark.shared_service]
F, M = iev.Sex.FEMALE, iev.Sex.MALE
ADULT = date(1990, 5, 1)


def six_years_old() -> date:
    return clock.today() - timedelta(days=365 * 6)


REFUSED = "the household has not consented to sharing data with partners"


def consent(pid: str, granted: bool, on: date) -> iev.ConsentRecorded:
    return iev.ConsentRecorded(
        person_id=pid, purpose=iev.ConsentPurpose.PARTNER_SHARING, granted=granted, recorded_on=on
    )


async def assessed(h: HousingUnderTest, hid: str) -> None:
    """Until the household's case is open with a housing need and assessed (needs may arrive before the case)."""
    await h.wait_sql(
        "select count(*) from cases where assessed and housing_need and case_id = $1", f"{hid}-case", want=1
    )


async def answers(h: HousingUnderTest, actor: str, hid: str) -> dict[str, Any]:
    async with h.client(actor) as c:
        return {
            path: await c.get(path)
            for path in (f"/households/{hid}", f"/households/{hid}/why", f"/proposals?household_id={hid}&status=any")
        }


async def test_a_partner_reads_a_household_only_with_every_members_consent_to_sharing(
    housing: HousingUnderTest, uid: str
) -> None:
    """The DPO's review: Torino's staff registered a mother and her child (no consent to sharing) with coop-aurora's
    housing case; aurora's token read why the household was not matching (its needs, its income) and its entry."""
    h, hid = housing, f"h-noconsent-{uid}"
    events = h.household_events(hid, "torino", [(ADULT, F), (six_years_old(), M)], specialist=True, sharing=False)
    await h.publish("torino", *events)
    await assessed(h, hid)

    def refused(got: dict[str, Any]) -> None:
        for path in (f"/households/{hid}", f"/households/{hid}/why"):
            r = got[path]
            assert r.status_code == 403, (path, r.text)
            assert r.headers["content-type"].startswith("application/problem+json"), r.headers
            assert (r.json()["field"], r.json()["reason"]) == ("household_id", REFUSED), r.text
        # and its matches are not listed to the partner (the city's staff see them)
        assert got[f"/proposals?household_id={hid}&status=any"].json() == []

    refused(await answers(h, "coop-aurora", hid))
    async with h.client("coop-aurora") as c:
        assert hid not in {w["household_id"] for w in (await c.get("/households")).json()}  # not on its list
    staff = await answers(h, "staff-torino", hid)  # the city's staff keep full access
    assert staff[f"/households/{hid}"].status_code == 200 and staff[f"/households/{hid}/why"].status_code == 200

    # One member's consent is not the household's: the child's data is in its needs too.
    today = clock.today()
    await h.publish("torino", consent(f"{hid}-p0", True, today))
    await h.wait_sql("select count(*) from partner_sharing where person_id = $1", f"{hid}-p0", want=1)
    refused(await answers(h, "coop-aurora", hid))

    await h.publish("torino", consent(f"{hid}-p1", True, today))
    await h.wait_sql("select count(*) from partner_sharing where person_id = $1 and granted", f"{hid}-p1", want=1)
    got = await answers(h, "coop-aurora", hid)
    assert got[f"/households/{hid}"].status_code == 200, got[f"/households/{hid}"].text
    assert got[f"/households/{hid}/why"].status_code == 200 and got[f"/households/{hid}/why"].json()["waiting"]

    # Withdrawn: at once, as soon as housing reads it.
    await h.publish("torino", consent(f"{hid}-p1", False, today))
    await h.wait_sql("select granted from partner_sharing where person_id = $1", f"{hid}-p1", want=False)
    refused(await answers(h, "coop-aurora", hid))


async def test_the_cases_partner_reads_no_match_of_a_household_without_consent_but_its_writes_are_kept(
    housing: HousingUnderTest, uid: str
) -> None:
    """A match says the household's needs (its explanation, its score's terms): the case's partner is refused it
    while a member has not consented (403 `match_id`); accepting it on the household's behalf is a write, kept, as
    intake keeps a partner's writes on its case: answered without the household's special-category details."""
    h, hid, oid = housing, f"h-match-{uid}", f"o-match-{uid}"
    await h.publish("torino", *h.household_events(hid, "torino", [(ADULT, F)], specialist=True, sharing=False))
    await assessed(h, hid)
    room = {
        "opportunity_id": oid,
        "kind": "private_rental",
        "capacity": 1,
        "bedrooms": 1,
        "accessible": False,
        "monthly_rent_cents": 30_000,
        "available_from": clock.today().isoformat(),
        "support_level": "specialist_team",
        "restrictions": [],
        "languages": ["en"],
    }
    async with h.client("staff-torino") as staff:
        room["partner"] = "coop-borgo"
        r = await staff.post("/opportunities", json=room, headers={"Idempotency-Key": uid})
        assert r.status_code == 201, r.text
        await h.wait_sql("select count(*) from matches where household_id = $1", hid, want=1, timeout=30)
        [m] = (await staff.get(f"/proposals?household_id={hid}")).json()
        assert m["score"] is not None  # the city's staff read it whole
    async with h.client("coop-aurora") as aurora:
        r = await aurora.get(f"/matches/{m['match_id']}")
        assert r.status_code == 403, r.text
        assert (r.json()["field"], r.json()["reason"]) == ("match_id", REFUSED), r.text
        assert (await aurora.get(f"/proposals?household_id={hid}")).json() == []
        r = await aurora.post(f"/matches/{m['match_id']}/acceptance", json={}, headers={"Idempotency-Key": uid})
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "accepted" and r.json()["score"] is None, r.text
        assert "psychiatric" not in r.text and "specialist team" not in r.text, r.text
        withheld = {x["rule"]: x["detail"] for x in r.json()["explanation"]}
        assert withheld["specialist_support"].startswith("withheld"), withheld


@pytest.mark.own_service
async def test_the_upgrade_reads_again_the_consents_recorded_before_it(housing: HousingUnderTest, uid: str) -> None:
    """Before housing-8 housing read intake's consent_recorded and skipped it (no handler: not kept in the inbox). The
    upgrade rewinds the intake consumer to the start of intake.events, so a consent recorded before it counts: without
    that, every partner was refused every household until each person consented again. Played here on the service's
    own schema: its state put back as the release before left it, then started again."""
    h, hid = housing, f"h-upgrade-{uid}"
    await h.publish("torino", *h.household_events(hid, "torino", [(ADULT, F)], sharing=False))
    await assessed(h, hid)
    given = consent(f"{hid}-p0", True, clock.today())
    env = to_envelope(given, source="/lgnet/intake", city="torino", partner="coop-aurora")
    value, headers = await signed_fact(h.producer, h.prefix, env, given.topic)
    await h.producer.send_and_wait(physical(given.topic, h.prefix), value, key=env.key, headers=headers)
    await h.wait_sql("select count(*) from partner_sharing where person_id = $1", f"{hid}-p0", want=1)
    h.process.stop()
    # as the release before left it: the consent read and skipped (not in the inbox), no housing-8
    await h.sql("delete from inbox where event_id = $1", inbox_id(env))
    await h.sql("drop table partner_sharing")
    await h.sql("delete from schema_migrations where id = 'housing-8'")
    await h.process.start()
    await h.wait_sql("select count(*) from partner_sharing where person_id = $1 and granted", f"{hid}-p0", want=1)
    async with h.client("coop-aurora") as aurora:
        r = await aurora.get(f"/households/{hid}")
        assert r.status_code == 200, r.text
