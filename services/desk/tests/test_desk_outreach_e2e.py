"""The desk's outreach screens (issue #19) in headless Chromium against the real intake (real Kafka and PostgreSQL):
a cooperative's operator records an outing and its street contacts (one with a nickname), the city's operator links
a contact to the person taken in charge (the first-contact date stays), opens the street person's page (recorded in
the access log), and keeps the day's agenda: book, a refused double booking, cancel. Every page passes axe-core.
Operators are named to intake by the codes the desk drew for them, never their usernames (on the topics); one added
before migration desk-9 by her username, which the agenda names and intake's double-booking check still finds."""

from __future__ import annotations

import contextlib
import re
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from lgnet_desk.domain.operators import Operator, OperatorRole
from lgnet_desk.entrypoints.admin import add_operator
from lgnet_shared import auth, clock, db, tls
from lgnet_shared.access import Role
from lgnet_shared.errors import Conflict
from lgnet_shared.testing import HTTP_TIMEOUT_S
from lgnet_shared.testing.topics import end_offsets, read_topics
from playwright.async_api import expect

sys.path.insert(0, str(Path(__file__).parent))
from test_desk_e2e import (
    PASSWORD,
    SERVICES,
    desk,
    desk_pool,
    logged_in,
    shot,
)  # the same desk (the browser: the testing plugin's)

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
__all__ = ["desk"]  # a fixture, used by name


async def intake_staff(desk: Any) -> httpx.AsyncClient:
    """The city's IT registers mobile units through intake's API (docs/outreach.md): a staff actor of its own."""
    pool = await db.create_pool(desk.settings.database_url, desk.schemas["intake"], max_size=1)
    async with pool.acquire() as conn:
        with contextlib.suppress(Conflict):  # added by an earlier test of the module
            await auth.add_actor(conn, "it-torino", Role.STAFF, "torino", "Servizi informativi")
        token = await auth.issue_token(conn, "it-torino")
    await pool.close()
    url = desk.settings.service_urls()["intake"]
    return httpx.AsyncClient(
        verify=tls.http_verify(), base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=HTTP_TIMEOUT_S
    )


async def created(c: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    r = await c.post(path, json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
    assert r.status_code == 201, r.text
    made: dict[str, Any] = r.json()
    return made


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
        logged = await conn.fetchval(
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


@contextlib.asynccontextmanager
async def desk_session(desk: Any, username: str) -> AsyncIterator[httpx.AsyncClient]:
    """A browser of the desk logged in as `username` (its cookie kept), over HTTP."""
    async with httpx.AsyncClient(base_url=desk.url, timeout=30) as c:
        r = await c.post(
            "/login", data={"csrf": await csrf_of(c, "/login"), "username": username, "password": PASSWORD}
        )
        assert r.status_code == 303, (username, r.text[-2000:])
        yield c


async def csrf_of(c: httpx.AsyncClient, path: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', (await c.get(path)).text)
    assert found is not None, path
    return found.group(1)


async def book(c: httpx.AsyncClient, day: str, time: str, person_id: str, operator: str = "") -> httpx.Response:
    """The agenda's form: an appointment of `operator` (a username typed; blank: the one booking) with the person."""
    form = {"csrf": await csrf_of(c, f"/agenda?day={day}"), "day": day, "time": time, "minutes": "30",
            "purpose": "first_interview", "person_id": person_id, "operator": operator}  # fmt: skip
    return await c.post("/agenda", data=form)


async def record_outing(c: httpx.AsyncClient, unit_id: str, staff: str = "") -> httpx.Response:
    """The outings' form: an outing of yesterday evening with `staff` typed (usernames; blank: the one recording)."""
    on = (clock.today() - timedelta(days=1)).isoformat()
    form = {"csrf": await csrf_of(c, "/outreach"), "unit_id": unit_id, "on": on, "start_time": "20:00",
            "end_time": "22:00", "places": "Porta Nuova", "staff": staff}  # fmt: skip
    return await c.post("/outreach/outings", data=form)


async def new_operator(desk: Any, op: Operator) -> Operator:
    """An operator added now, as `lgnet-desk-admin add-operator` adds her."""
    name = "Cooperativa Aurora" if op.partner == "coop-aurora" else None
    schemas = {s: desk.schemas[s] for s in SERVICES}  # the national deployment's, serving every city
    return await add_operator(desk.settings, op, PASSWORD, schemas, name, deployment="national")


async def facts_since(desk: Any, since: dict[tuple[str, int], int]) -> list[bytes]:
    """Every record written on the services' topics since `since`: its value and its headers' values."""
    names = sorted({t for t, _ in await end_offsets(desk.kafka, desk.topic_prefix)})
    records = [r for rs in (await read_topics(desk.kafka, names, since=since)).values() for r in rs]
    return [r.value + b"".join(v for _, v in r.headers) for r in records]


async def code_of(desk: Any, username: str) -> str:
    async with desk_pool(desk) as conn:
        code = await conn.fetchval("select code from operators where username = $1", username)
    assert isinstance(code, str), username
    return code


async def test_appointments_and_outings_carry_an_operators_drawn_code_never_her_username(desk: Any) -> None:
    """A review: the desk sent an operator's username (usually her name: `chiara.neri`) to intake as an appointment's
    operator and an outing's staff, and it travelled in clear in intake's facts, never erased. A staff operator and a
    cooperative's operator added now book appointments (one for herself, one for her colleague typed by username) and
    record outings at the desk: the facts on Kafka carry the codes the desk drew for them, nothing of their usernames
    or names; the desk's agenda and outing pages name them; a double booking of the same operator is still refused,
    said with her name."""
    run = uuid.uuid4().hex[:6]
    chiara = await new_operator(desk, Operator("chiara.neri", "Chiara Neri", OperatorRole.STAFF, "torino", None))
    paolo = await new_operator(
        desk, Operator("paolo.gallo", "Paolo Gallo", OperatorRole.PARTNER, "torino", "coop-aurora")
    )
    unit, person = f"unit-oc-{run}", f"p-oc-{run}"
    async with await intake_staff(desk) as it:
        unit_body = {"unit_id": unit, "name": f"Unità {run}", "vehicle": "camper", "area": "Circoscrizione 8",
                     "partner": "coop-aurora", "team_size": 2}  # fmt: skip
        await created(it, "/mobile-units", unit_body)
        selam = {"given_name": "Selam", "family_name": "Tesfay"}
        await created(it, "/persons", {"person_id": person, "birth_date": "1988-02-03", "sex": "female",
                                       "nationality": "ER", "identity": selam})  # fmt: skip
        # her case is the cooperative's, so that its operator may book her too
        today = clock.today().isoformat()
        await created(it, "/consents", {"person_id": person, "purpose": "partner_sharing", "granted": True,
                                        "recorded_on": today})  # fmt: skip
        await created(it, "/households", {"household_id": f"h-oc-{run}", "reference_person_id": person,
                                          "member_ids": [person]})  # fmt: skip
        await created(it, "/cases", {"case_id": f"c-oc-{run}", "household_id": f"h-oc-{run}",
                                     "action_area": "taking_charge", "channel": "desk", "opened_on": today,
                                     "housing_need": True, "partner": "coop-aurora"})  # fmt: skip
    tomorrow = (clock.today() + timedelta(days=1)).isoformat()
    since = await end_offsets(desk.kafka, desk.topic_prefix)
    async with desk_session(desk, "chiara.neri") as c, desk_session(desk, "paolo.gallo") as p:
        assert (await book(c, tomorrow, "09:00", person)).status_code == 303  # her own agenda
        assert (await book(c, tomorrow, "11:00", person, operator="paolo.gallo")).status_code == 303
        r = await record_outing(c, unit, "chiara.neri\npaolo.gallo")
        assert r.status_code == 303, r.text[-2000:]
        outing_url = r.headers["location"]
        assert (await record_outing(p, unit)).status_code == 303  # the cooperative's operator, himself

        carried = await facts_since(desk, since)
        for who in (b"chiara.neri", b"paolo.gallo", b"Chiara Neri", b"Paolo Gallo"):
            assert not any(who in raw for raw in carried), who
        codes = [await code_of(desk, u) for u in ("chiara.neri", "paolo.gallo")]
        for code in codes:
            assert re.fullmatch(r"op-[0-9a-f]{12}", code), code
            assert any(f'"{code}"'.encode() in raw for raw in carried), code
        assert codes[0] != chiara.service_actor and paolo.service_actor == "coop-aurora"

        agenda = (await c.get(f"/agenda?day={tomorrow}")).text
        rows = re.findall(r"<tr>.*?</tr>", agenda, re.S)
        assert any("Chiara Neri" in row and "09:00" in row for row in rows), agenda[-4000:]
        assert any("Paolo Gallo" in row and "11:00" in row for row in rows), agenda[-4000:]
        assert not any(code in agenda for code in codes)
        outing = (await c.get(outing_url)).text
        assert "Chiara Neri, Paolo Gallo" in outing and not any(code in outing for code in codes)

        again = await book(c, tomorrow, "11:00", person, operator="paolo.gallo")  # a new form: not a resending
        assert again.status_code == 422
        said = re.search(r'id="time-error">([^<]*)<', again.text)
        assert said is not None and "Paolo Gallo ha già un appuntamento" in said.group(1), said
        assert codes[1] not in again.text
        # Paolo's code is his cooperative's (its namespace): the city's booking of him holds his time against the
        # cooperative's own bookings of him, and the city's own agenda is another
        mine = await book(p, tomorrow, "11:00", person)
        assert mine.status_code == 422, mine.text[-2000:]
        said = re.search(r'id="time-error">([^<]*)<', mine.text)
        assert said is not None and "Paolo Gallo ha già un appuntamento" in said.group(1), said
        assert (await book(p, tomorrow, "12:00", person)).status_code == 303


async def test_an_operator_added_before_codes_keeps_her_username_as_code_and_her_appointments(desk: Any) -> None:
    """An operator added before migration desk-9 has her username as her code (the migration's): the appointments
    and outings already recorded carry it, and intake's double-booking check still finds her future ones. The agenda
    names both forms: hers and a new operator's on the same day."""
    run = uuid.uuid4().hex[:6]
    await new_operator(desk, Operator("bea", "Bea Longo", OperatorRole.STAFF, "torino", None))
    dora = await new_operator(desk, Operator("dora", "Dora Sala", OperatorRole.STAFF, "torino", None))
    async with desk_pool(desk) as conn:  # as migration desk-9 left one added before it
        await conn.execute("update operators set code = username where username = 'bea'")
    person = f"p-old-{run}"
    day = (clock.today() + timedelta(days=2)).isoformat()
    async with await intake_staff(desk) as it:
        imran = {"given_name": "Imran", "family_name": "Shah"}
        await created(it, "/persons", {"person_id": person, "birth_date": "1979-06-07", "sex": "male",
                                       "nationality": "PK", "identity": imran})  # fmt: skip
        # booked before the desk drew codes: the operator as her username
        starts = datetime.fromisoformat(f"{day}T15:00").replace(tzinfo=clock.ZONE)
        await created(it, "/appointments", {"appointment_id": f"apt-old-{run}", "agenda": "desk", "operator": "bea",
                                            "person_id": person, "purpose": "plan_review",
                                            "starts_at": starts.isoformat(),
                                            "ends_at": (starts + timedelta(minutes=30)).isoformat()})  # fmt: skip
    async with desk_session(desk, "dora") as d, desk_session(desk, "bea") as b:
        assert (await book(b, day, "10:00", person)).status_code == 303  # hers, as her code: her username
        assert (await book(d, day, "12:00", person)).status_code == 303  # Dora's, as her drawn code
        agenda = (await d.get(f"/agenda?day={day}")).text
        rows = re.findall(r"<tr>.*?</tr>", agenda, re.S)
        for name, at in (("Bea Longo", "15:00"), ("Bea Longo", "10:00"), ("Dora Sala", "12:00")):
            assert any(name in row and at in row for row in rows), (name, at, agenda[-4000:])
        assert dora.code is not None  # staff keep an agenda: a code was drawn
        assert dora.code not in agenda
        refused = await book(d, day, "15:00", person, operator="bea")  # the appointment booked before the codes
        assert refused.status_code == 422, refused.text[-2000:]
        said = re.search(r'id="time-error">([^<]*)<', refused.text)
        assert said is not None and "ha già un appuntamento" in said.group(1), said
