"""The desk's outreach screens (issue #19) in headless Chromium against the real intake (real Kafka and PostgreSQL):
a cooperative's operator records an outing and its street contacts (one with a nickname), the city's operator links
a contact to the person taken in charge (the first-contact date stays), opens the street person's page (recorded in
the access log), and keeps the day's agenda: book, a refused double booking, cancel. Every page passes axe-core."""

from __future__ import annotations

import sys
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from lgnet_shared import auth, clock, db, tls
from lgnet_shared.access import Role
from playwright.async_api import expect

sys.path.insert(0, str(Path(__file__).parent))
from test_desk_e2e import desk, desk_pool, logged_in, shot  # the same desk (the browser: the testing plugin's)

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
__all__ = ["desk"]  # a fixture, used by name


async def intake_staff(desk: Any) -> httpx.AsyncClient:
    """The city's IT registers mobile units through intake's API (docs/outreach.md): a staff actor of its own."""
    pool = await db.create_pool(desk.settings.database_url, desk.schemas["intake"], max_size=1)
    async with pool.acquire() as conn:
        await auth.add_actor(conn, "it-torino", Role.STAFF, "torino", "Servizi informativi")
        token = await auth.issue_token(conn, "it-torino")
    await pool.close()
    url = desk.settings.service_urls()["intake"]
    return httpx.AsyncClient(verify=tls.http_verify(), base_url=url, headers={"Authorization": f"Bearer {token}"})


async def created(c: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    r = await c.post(path, json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_outings_contacts_and_the_agenda_at_the_desk(browser: Any, desk: Any) -> None:
    today = clock.today()
    async with await intake_staff(desk) as it:
        unit = {"unit_id": "unit-nord", "name": "Unità di strada Nord", "vehicle": "camper", "area": "Circoscrizione 6",
                "partner": "coop-aurora", "team_size": 3}  # fmt: skip
        await created(it, "/mobile-units", unit)
        person = {"person_id": "p-karim", "birth_date": "1990-01-01", "sex": "male", "nationality": "MA",
                  "identity": {"given_name": "Karim", "family_name": "Benali"}}  # fmt: skip
        await created(it, "/persons", person)

    luca = await logged_in(browser, desk, "luca")  # the cooperative that runs the unit
    await luca.get_by_role("link", name="Unità di strada").click()
    await luca.fill("#on", (today - timedelta(days=3)).isoformat())
    await luca.fill("#start_time", "20:30")
    await luca.fill("#end_time", "00:30")
    await luca.fill("#places", "Stazione Porta Nuova\nGiardini Alimonda")
    await luca.get_by_role("button", name="Registra l'uscita").click()
    await luca.wait_for_url("**/outreach/outings/out-*")
    await luca.select_option("#age_band", "30_44")
    await luca.select_option("#sex", "male")
    # the country's name (suggested as one types; the field took two letters, an ISO code, before), or its code
    assert await luca.locator("#nationality").get_attribute("list") == "countries"
    await luca.fill("#nationality", "Marocco")
    await luca.check("#n_food")
    await luca.check("#s_food")
    await luca.check("#s_information")
    await luca.fill("#nickname", "Il Rosso")
    await luca.select_option("#place", "Giardini Alimonda")
    await luca.get_by_role("button", name="Registra il contatto").click()  # one contact: the link below takes it
    await luca.get_by_text("Cibo e bevande calde").first.wait_for()  # the outing's page again, with the contact
    text = await luca.locator("main").inner_text()
    assert "Cibo e bevande calde" in text and "30-44 anni" in text and "Giardini Alimonda" in text  # labels in Italian
    assert "Il Rosso" not in text  # the nickname is shown only on the person's own page
    outing_url = luca.url
    for width in (768, 375):  # a tablet, a phone: the contacts table (with its linking forms) scrolls in its box
        await luca.set_viewport_size({"width": width, "height": 900})
        assert await luca.evaluate("document.documentElement.scrollWidth") == width, width
    await luca.set_viewport_size({"width": 1280, "height": 900})
    await shot(luca, "outreach-outing")
    await luca.get_by_role("link", name="Unità di strada").click()
    await luca.wait_for_url("**/outreach")  # the outing's own page names its places alike
    await expect(luca.locator("main")).to_contain_text("Stazione Porta Nuova, Giardini Alimonda")
    await shot(luca, "outreach")

    maria = await logged_in(browser, desk, "maria")  # the city's operator: the person was taken in charge
    await maria.goto(outing_url)
    first = maria.locator("input[name='person_id']").first
    await first.fill("p-karim")
    await maria.get_by_role("button", name="Collega").first.click()
    await expect(maria.locator("a[href^='/persons/p-karim']")).to_have_count(1)  # the outing's page again, linked
    await maria.locator("a[href^='/outreach/street-persons/']").first.click()
    await maria.wait_for_url("**/outreach/street-persons/*")
    page = await maria.locator("main").inner_text()
    assert "Il Rosso" in page and "3 giorni dopo il primo contatto" in page  # first contact kept: 3 days before
    await shot(maria, "outreach-street-person")
    street_id = maria.url.rsplit("/", 1)[1]
    async with desk_pool(desk) as conn:
        logged = await conn.fetchval(  # type: ignore[attr-defined]
            "select count(*) from access_log where person_id = $1 and operator = 'maria'", street_id
        )
    assert logged == 1

    tomorrow = (today + timedelta(days=1)).isoformat()
    await maria.goto(desk.url + f"/agenda?day={tomorrow}")
    await maria.fill("#time", "10:00")
    await maria.fill("#party", "Karim Benali")  # by name: the one person the operator may see with that name
    await maria.select_option("#purpose", "first_interview")
    await maria.get_by_role("button", name="Fissa", exact=True).click()
    await expect(maria.locator("tbody").first).to_contain_text("Karim Benali")  # who is coming, by name
    # The same person from the cartella: the agenda's form with the person chosen (the day changed, the choice kept)
    await maria.goto(desk.url + "/persons/p-karim")
    await maria.get_by_role("link", name="Fissa un appuntamento").click()
    await maria.fill("#day", tomorrow)
    await maria.get_by_role("button", name="Mostra", exact=True).click()
    await expect(maria.locator("#party")).to_contain_text("Con: Karim Benali")
    await maria.fill("#time", "10:00")
    await maria.select_option("#purpose", "first_interview")
    await maria.get_by_role("button", name="Fissa", exact=True).click()
    assert "ha già un appuntamento" in await maria.locator("#time-error").inner_text()  # no double booking, in Italian
    assert "Primo colloquio" in await maria.locator("tbody").first.inner_text()
    await maria.goto(desk.url + f"/agenda?day={tomorrow}")
    await shot(maria, "agenda")
    await maria.locator("select[name=reason]").first.select_option("by_person")  # no reason chosen for her
    await maria.get_by_role("button", name="Annulla").first.click()
    await expect(maria.locator("main")).to_contain_text("annullata: Annullato dalla persona")  # the row's status
    await maria.goto(desk.url + f"/agenda?day={tomorrow}&lang=en")
    assert "Cancelled by the person" in await maria.locator("main").inner_text()


async def test_the_citys_staff_register_a_mobile_unit_at_the_desk(browser: Any, desk: Any) -> None:
    """#19: the units screen (team, vehicle, area, who runs it) over intake's POST /mobile-units: a refusal is
    shown in Italian next to its field, the unit then listed; a cooperative sees the list without the form."""
    run = uuid.uuid4().hex[:6]
    maria = await logged_in(browser, desk, "maria")
    await maria.get_by_role("link", name="Unità mobili").click()
    await expect(maria.locator("h1")).to_contain_text("Unità mobili del Comune")
    await maria.fill("#name", f"Unità Sud {run}")
    await maria.fill("#area", "Circoscrizioni 8 e 9")
    await maria.fill("#vehicle", "furgone attrezzato")
    await maria.fill("#team_size", "4")
    # The city's partners are offered by name; one intake no longer knows (gone since the page was drawn) is still
    # refused at its field.
    await maria.evaluate(
        "id => document.querySelector('#partner').add(new Option('Coop Nessuna', id))", f"coop-nessuna-{run}"
    )
    await maria.select_option("#partner", f"coop-nessuna-{run}")
    await maria.get_by_role("button", name="Registra l'unità").click()
    assert f"nessun ente partner «coop-nessuna-{run}»" in await maria.locator("#partner-error").inner_text()
    assert await maria.locator("#name").input_value() == f"Unità Sud {run}"  # what was typed is kept
    await shot(maria, "units-refused")
    await maria.select_option("#partner", label="Cooperativa Aurora")
    await maria.get_by_role("button", name="Registra l'unità").click()
    await maria.wait_for_url("**/outreach/units")
    row = maria.locator("tr", has_text=f"Unità Sud {run}")
    assert [await c.inner_text() for c in await row.locator("td").all()] == [
        f"Unità Sud {run}",
        "Circoscrizioni 8 e 9",
        "furgone attrezzato",
        "4",
        "Cooperativa Aurora",
    ]
    await shot(maria, "units")
    await maria.goto(desk.url + "/outreach/units?lang=en")
    assert "Mobile units of the city" in await maria.locator("h1").inner_text()
    await maria.goto(desk.url + "/outreach/units?lang=it")

    luca = await logged_in(browser, desk, "luca")  # the cooperative: the list, not the form
    await luca.goto(desk.url + "/outreach/units")
    assert await luca.locator("tr", has_text=f"Unità Sud {run}").count() == 1
    assert await luca.locator("#name").count() == 0
    await shot(luca, "units-partner")
