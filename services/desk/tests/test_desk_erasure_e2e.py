"""A person's erasure (GDPR art. 17) at the desk, against the real intake on real Kafka and PostgreSQL: the city's
staff operator opens "Cancellazione dei dati (art. 17 GDPR)" from the cartella, reads what will happen, confirms by
typing the person's identifier, and intake erases the person (crypto-shredding: its GET shows her erased, no name);
the erasure is in the DPO's access log; a double submit erases once; intake's refusal is said in Italian; a
cooperative's operator and the DPO neither see the action nor may post it. The same for a street person's nickname
(the mobile unit's record). Every page passes axe-core (test_desk_e2e.shot)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from lgnet_desk.domain.operators import Operator, OperatorRole
from lgnet_desk.entrypoints.admin import add_operator
from lgnet_desk.settings import DeskSettings
from lgnet_shared import clock
from playwright.async_api import Browser, Page

sys.path.insert(0, str(Path(__file__).parent))
from lgnet_desk.domain import resubmission
from test_desk_e2e import PASSWORD, _api_client, _read_log_token, logged_in, platform, shot

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
RUNS = ("intake",)  # erasure is intake's: the city's other services are not needed here


@dataclass
class City:
    url: str
    intake_url: str
    intake_schema: str
    desk_schema: str
    database_url: str
    maria: str  # Maria's actor on the services, as the desk drew it (`desk.op-…`)

    async def intake_as(self, actor: str) -> httpx.AsyncClient:
        return await _api_client(self.database_url, self.intake_schema, self.intake_url, actor)


@pytest.fixture(scope="module")
async def city(
    kafka_bootstrap: str, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[City]:
    drawn: dict[str, str] = {}

    async def provision(settings: DeskSettings, schemas: dict[str, str]) -> None:
        readers = {"intake": await _read_log_token(database_url, schemas["intake"], "torino")}
        operators = [
            (Operator("maria", "Maria Rossi", OperatorRole.STAFF, "torino", None), None),
            (Operator("luca", "Luca Bianchi", OperatorRole.PARTNER, "torino", "coop-aurora"), "Cooperativa Aurora"),
            (Operator("rpd", "RPD Torino", OperatorRole.DPO, "torino", None), None),
        ]
        for op, name in operators:
            added = await add_operator(settings, op, PASSWORD, schemas, name, readers, deployment="national")
            drawn[op.username] = added.service_actor or ""

    logs = tmp_path_factory.mktemp("desk-erasure")
    async with platform(kafka_bootstrap, database_url, logs, RUNS, provision, LGNET_DESK_SERVICES="intake") as (
        url,
        settings,
        schemas,
    ):
        yield City(url, settings.intake_url, schemas["intake"], schemas["desk"], database_url, drawn["maria"])


async def registered(city: City, shared_with_aurora: bool = False) -> str:
    """A person registered by the city's staff (Maria's own actor), with a case of Cooperativa Aurora's when
    `shared_with_aurora` (the cooperative then sees her cartella)."""
    pid, hid, cid = (f"{p}-{uuid.uuid4().hex[:8]}" for p in ("p", "h", "c"))
    today = clock.today().isoformat()
    setup: list[tuple[str, dict[str, Any]]] = [
        ("/persons", {"person_id": pid, "birth_date": "1990-04-01", "sex": "female", "nationality": "NG",
                      "identity": {"given_name": "Grace", "family_name": "Adeyemi"}}),
    ]  # fmt: skip
    if shared_with_aurora:
        setup += [
            ("/consents", {"person_id": pid, "purpose": "partner_sharing", "granted": True, "recorded_on": today}),
            ("/households", {"household_id": hid, "reference_person_id": pid, "member_ids": [pid]}),
            ("/cases", {"case_id": cid, "household_id": hid, "action_area": "taking_charge", "channel": "desk",
                        "opened_on": today, "housing_need": False, "partner": "coop-aurora"}),
        ]  # fmt: skip
    async with await city.intake_as(city.maria) as staff:
        for path, body in setup:
            r = await staff.post(path, json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
            assert r.status_code == 201, r.text
    return pid


async def intake_person(city: City, pid: str) -> dict[str, Any]:
    async with await city.intake_as(city.maria) as staff:
        r = await staff.get(f"/persons/{pid}")
    assert r.status_code == 200, r.text
    person: dict[str, Any] = r.json()
    return person


@contextlib.asynccontextmanager
async def desk_client(city: City, username: str) -> AsyncIterator[httpx.AsyncClient]:
    """A browser-less session at the desk (forms posted as a browser would: the page's CSRF token and form key)."""
    async with httpx.AsyncClient(base_url=city.url, timeout=30) as c:
        form = await c.get("/login")
        r = await c.post("/login", data={"csrf": hidden(form.text, "csrf"), "username": username, "password": PASSWORD})
        assert r.status_code == 303, r.text
        yield c


def hidden(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]+)"', html)
    assert found is not None, (name, html[:2000])
    return found.group(1)


async def erasure_entries(city: City, subject: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(city.database_url)
    try:
        entries: list[asyncpg.Record] = await conn.fetch(
            f'select operator, person_id, purpose, action, outcome from "{city.desk_schema}".access_log'
            " where person_id = $1 and action like '%erasure' order by entry_id",
            subject,
        )
        return entries
    finally:
        await conn.close()


SECTION, CONFIRM = "Cancellazione dei dati (art. 17 GDPR)", "Per confermare, scriva l'identificativo della persona"


async def erasure_page(page: Page, url: str, link: str) -> str:
    """From a subject's page (`url`) to its erasure page, by the link in its erasure section: that page's text."""
    await page.goto(url)
    await page.get_by_role("region", name=SECTION).get_by_role("link", name=link).click()
    await page.wait_for_url(f"{url}/erasure")
    return await page.locator("main").inner_text()


async def confirmed_with(page: Page, typed: str) -> None:
    """The erasure page's form sent with `typed` as the identifier."""
    await page.get_by_label(CONFIRM).fill(typed)
    await page.get_by_role("button", name="Cancella definitivamente i dati").click()
    await page.wait_for_load_state()


async def test_a_staff_operator_erases_a_person_from_the_cartella(browser: Browser, city: City) -> None:
    pid = await registered(city)
    maria = await logged_in(browser, city, "maria")
    said = await erasure_page(maria, city.url + f"/persons/{pid}", "Cancella i dati della persona")
    # what will happen, said before anything is done
    assert "Grace Adeyemi" in said and pid in said, said
    assert "ogni copia del registro degli eventi" in said and "non si può annullare" in said, said
    assert "i conteggi" in said, said
    await shot(maria, "erasure")
    # A wrong identifier typed: refused at its field, nothing erased
    await confirmed_with(maria, "p-altro")
    assert "scriva esattamente l'identificativo" in await maria.locator("main").inner_text()
    await shot(maria, "erasure-refused")
    assert (await intake_person(city, pid))["erased"] is False
    # The right one: intake erases her
    await confirmed_with(maria, pid)
    await maria.wait_for_url(f"**/persons/{pid}/erasure?done=1")
    outcome = await maria.locator("main").inner_text()
    assert "I dati identificativi della persona sono stati cancellati" in outcome, outcome
    assert "Grace" not in outcome and "Adeyemi" not in outcome
    await shot(maria, "erasure-done")
    person = await intake_person(city, pid)
    assert person["erased"] is True and person["identity"] == {} and person["birth_date"] is None, person
    # The cartella says so, and offers the action no more
    await maria.goto(city.url + f"/persons/{pid}")
    cartella = await maria.locator("main").inner_text()
    assert "persona cancellata (diritto all'oblio)" in cartella and "Grace" not in cartella
    assert await maria.get_by_role("link", name="Cancella i dati della persona").count() == 0
    # In the DPO's access log: who, when, which person, what
    assert [tuple(e) for e in await erasure_entries(city, pid)] == [
        ("maria", pid, "erasure_request", "erasure", "erased")
    ]
    rpd = await logged_in(browser, city, "rpd")
    await rpd.goto(city.url + f"/access-log?person_id={pid}&source=desk")
    row = rpd.locator("tr", has_text="Cancellazione dei dati (art. 17 GDPR)")
    said = await row.inner_text()
    assert "Maria Rossi" in said and pid in said and "dati cancellati" in said, said
    assert "richiesta di cancellazione dell'interessato" in said, said
    await shot(rpd, "access-log-erasure")


async def test_a_double_submit_erases_once_and_a_second_erasure_is_refused_in_italian(city: City) -> None:
    pid = await registered(city)
    async with desk_client(city, "maria") as c:
        page = await c.get(f"/persons/{pid}/erasure")
        assert page.status_code == 200, page.text
        form = {"csrf": hidden(page.text, "csrf"), "form_key": hidden(page.text, "form_key"), "confirm_id": pid}
        # the same form sent twice at once (a double click) and once more after (the browser's resend)
        answers = await asyncio.gather(*(c.post(f"/persons/{pid}/erasure", data=form) for _ in range(2)))
        answers.append(await c.post(f"/persons/{pid}/erasure", data=form))
        assert [a.status_code for a in answers] == [303, 303, 303], [a.text[:500] for a in answers]
        assert {a.headers["location"] for a in answers} == {f"/persons/{pid}/erasure?done=1"}
        # one erasure at intake: one request (the form's Idempotency-Key), answered alike each time
        conn = await asyncpg.connect(city.database_url)
        try:
            keys = await conn.fetch(
                f'select key, status_code from "{city.intake_schema}".idempotency_keys'
                " where actor_id = $2 and key like 'desk:' || $1 || ':erasure%'",
                form["form_key"],
                city.maria,
            )
        finally:
            await conn.close()
        assert [(k["key"], k["status_code"]) for k in keys] == [(f"desk:{form['form_key']}:erasure", 200)]
        assert (await intake_person(city, pid))["erased"] is True
        assert len(await erasure_entries(city, pid)) == 1  # the access log has it once
        # A new erasure form for her (another operator's page opened before): intake's 409, said in Italian
        again = {**form, "form_key": resubmission.fresh()}
        refused = await c.post(f"/persons/{pid}/erasure", data=again)
        assert refused.status_code == 409, refused.text
        assert "la persona è già stata cancellata" in refused.text, refused.text
        assert "already erased" not in refused.text
        assert [e["outcome"] for e in await erasure_entries(city, pid)] == ["erased", "refused"]


async def test_a_cooperatives_operator_and_the_dpo_neither_see_nor_may_post_the_erasure(city: City) -> None:
    pid = await registered(city, shared_with_aurora=True)
    async with desk_client(city, "luca") as luca:
        cartella = await luca.get(f"/persons/{pid}")
        assert cartella.status_code == 200 and "Grace Adeyemi" in cartella.text, cartella.text[:500]
        assert "Cancellazione dei dati" not in cartella.text and f"/persons/{pid}/erasure" not in cartella.text
        assert (await luca.get(f"/persons/{pid}/erasure")).status_code == 403
        csrf = hidden(cartella.text, "csrf")
        refused = await luca.post(f"/persons/{pid}/erasure", data={"csrf": csrf, "confirm_id": pid})
        assert refused.status_code == 403, refused.text
        assert "Questa pagina non è prevista per il suo ruolo" in refused.text, refused.text
    async with desk_client(city, "rpd") as rpd:
        assert (await rpd.get(f"/persons/{pid}/erasure")).status_code == 403
        log = await rpd.get("/access-log")
        refused = await rpd.post(f"/persons/{pid}/erasure", data={"csrf": hidden(log.text, "csrf"), "confirm_id": pid})
        assert refused.status_code == 403, refused.text
    person = await intake_person(city, pid)
    assert person["erased"] is False and person["identity"]["given_name"] == "Grace"
    assert await erasure_entries(city, pid) == []


async def test_a_street_persons_nickname_is_erased_from_their_page(browser: Browser, city: City) -> None:
    uid = uuid.uuid4().hex[:8]
    today = clock.today()
    async with await city.intake_as(city.maria) as staff, await city.intake_as("coop-aurora") as aurora:
        unit = {"unit_id": f"unit-{uid}", "name": "Unità di strada Nord", "vehicle": "camper",
                "area": "Circoscrizione 6", "partner": "coop-aurora", "team_size": 3}  # fmt: skip
        outing = {"outing_id": f"o-{uid}", "unit_id": f"unit-{uid}", "on": today.isoformat(), "start_time": "20:30",
                  "end_time": "23:30", "places": ["Stazione Porta Nuova"], "staff": ["op-giulia"]}  # fmt: skip
        contact = {"contact_id": f"ct-{uid}", "outing_id": f"o-{uid}", "contacted_on": today.isoformat(),
                   "age_band": "30_44", "sex": "male", "nationality": "MA", "needs_observed": ["food"],
                   "services_offered": ["food"], "place": "Stazione Porta Nuova",
                   "nickname": f"Il Rosso {uid}"}  # fmt: skip
        for client, path, body in ((staff, "/mobile-units", unit), (aurora, "/outings", outing),
                                   (aurora, "/street-contacts", contact)):  # fmt: skip
            r = await client.post(path, json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
            assert r.status_code == 201, r.text
        street_id = r.json()["street_id"]
    async with desk_client(city, "luca") as luca:  # the unit's cooperative sees the page, not the action
        page = await luca.get(f"/outreach/street-persons/{street_id}")
        assert page.status_code == 200 and f"Il Rosso {uid}" in page.text
        assert "Cancellazione dei dati" not in page.text
        assert (await luca.get(f"/outreach/street-persons/{street_id}/erasure")).status_code == 403
    maria = await logged_in(browser, city, "maria")
    said = await erasure_page(maria, city.url + f"/outreach/street-persons/{street_id}", "Cancella il soprannome")
    assert f"Il Rosso {uid}" in said and "non si può annullare" in said, said
    await shot(maria, "street-person-erasure")
    await confirmed_with(maria, street_id)
    await maria.wait_for_url(f"**/outreach/street-persons/{street_id}/erasure?done=1")
    outcome = await maria.locator("main").inner_text()
    assert "Il soprannome è stato cancellato" in outcome and f"Il Rosso {uid}" not in outcome, outcome
    await shot(maria, "street-person-erasure-done")
    async with await city.intake_as(city.maria) as staff:
        assert (await staff.get(f"/street-persons/{street_id}")).json()["nickname"] is None
    assert [tuple(e) for e in await erasure_entries(city, street_id)] == [
        ("maria", street_id, "erasure_request", "street person erasure", "erased")
    ]
    # Erased, not "never given", on their page and on the erasure's page opened again (a person asks whether it was)
    await maria.goto(city.url + f"/outreach/street-persons/{street_id}")
    page_text = await maria.locator("main").inner_text()
    assert "Soprannome" in page_text and "cancellato il" in page_text, page_text
    await maria.goto(city.url + f"/outreach/street-persons/{street_id}/erasure")
    again = await maria.locator("main").inner_text()
    assert "Il soprannome è stato cancellato il" in again and "nulla da cancellare" not in again, again


async def test_a_household_whose_reference_person_was_erased_is_said_so_to_the_citys_staff(city: City) -> None:
    """After an erasure, the city's staff read another member's cartella: "Nucleo di (non visibile per Lei)", an
    access restriction where the reference person was erased. Against the real intake: the caption says she was
    erased; and intake answers what the approvals tell it by (its search by the case leaves her out, the case's
    current members hold her, its search by id marks her `erased`)."""
    grace, chidi = await registered(city), await registered(city)
    hid, cid = f"h-{uuid.uuid4().hex[:8]}", f"c-{uuid.uuid4().hex[:8]}"
    today = clock.today().isoformat()
    async with await city.intake_as(city.maria) as staff:
        for path, body in (
            ("/households", {"household_id": hid, "reference_person_id": grace, "member_ids": [grace, chidi]}),
            ("/cases", {"case_id": cid, "household_id": hid, "action_area": "taking_charge", "channel": "desk",
                        "opened_on": today, "housing_need": False, "partner": "coop-aurora"}),
            (f"/persons/{grace}/erasure", {}),
        ):  # fmt: skip
            r = await staff.post(path, json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
            assert r.status_code in (200, 201), r.text
        assert grace in (await staff.get(f"/cases/{cid}")).json()["member_ids"]
        found = (await staff.post("/persons/search", json={"case_id": cid})).json()
        assert [p["person_id"] for p in found] == [chidi] and not found[0]["household_reference"], found
        by_id = (await staff.post("/persons/search", json={"person_ids": [grace]})).json()
        assert [(p["person_id"], p["erased"]) for p in by_id] == [(grace, True)], by_id
    async with desk_client(city, "maria") as maria:
        page = await maria.get(f"/persons/{chidi}")
    assert page.status_code == 200, page.text
    caption = re.search(rf'<caption id="caption-{hid}">(.*?)</caption>', page.text)
    assert caption and caption[1].replace("&#39;", "'") == "Nucleo di persona cancellata (diritto all'oblio)", caption
    assert "non visibile per Lei" not in page.text
