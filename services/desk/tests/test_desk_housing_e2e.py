"""The household's housing steps in headless Chromium against the real intake and housing (real Kafka and PostgreSQL):
a proposal for a cooperative's household is shown by what the housing is, with why the household is not matching;
the cooperative's operator accepts it, is refused a placement dated in the future (said next to the day, in Italian),
starts it today, records the signed lease and ends the placement. Each view passes axe-core;
LGNET_WRITE_SCREENSHOTS=1 writes docs/desk/housing*.png."""

from __future__ import annotations

import asyncio
import sys
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from lgnet_shared import clock, db
from lgnet_shared.access import Role

sys.path.insert(0, str(Path(__file__).parent))
from test_desk_e2e import _client_as, desk, in_need_of_housing, logged_in, proposed, shot  # the same desk

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
__all__ = ["desk"]  # a fixture, used by name


async def a_woman_in_need_of_housing(
    desk: Any, tag: str, born: str, nationality: str, given: str, family: str
) -> tuple[str, str, str]:
    """(run, household, case): a woman alone whose coop-aurora case needs housing, registered by the city's staff."""
    run = uuid.uuid4().hex[:6]
    person, household, case = f"p-{tag}-{run}", f"h-{tag}-{run}", f"c-{tag}-{run}"
    async with await _client_as(desk, "intake", f"setup-{run}", Role.STAFF) as intake:
        body = {"person_id": person, "birth_date": born, "sex": "female", "nationality": nationality,
                "identity": {"given_name": given, "family_name": family}}  # fmt: skip
        await in_need_of_housing(intake, body, household, case)
    return run, household, case


def a_room(opportunity_id: str) -> dict[str, object]:
    """coop-aurora's room for a woman alone, free from today: "Coabitazione solidale, vanchiglia, 2 posti"."""
    return {"opportunity_id": opportunity_id, "kind": "solidarity_cohousing", "capacity": 2, "bedrooms": 1,
            "accessible": False, "monthly_rent_cents": 20_000, "available_from": clock.today().isoformat(),
            "support_level": "none", "restrictions": ["singles_only", "women_only"], "languages": [],
            "area": "vanchiglia"}  # fmt: skip


async def test_a_cooperative_accepts_a_proposal_and_starts_the_placement_at_the_desk(browser: Any, desk: Any) -> None:
    today = clock.today()
    run, household, case = await a_woman_in_need_of_housing(desk, "hs", "1988-02-01", "ER", "Selam", "Tesfaye")
    async with (
        await _client_as(desk, "housing", "coop-aurora", None) as aurora,
        await _client_as(desk, "housing", f"staff-{run}", Role.STAFF) as staff,
    ):
        match_id = await proposed(aurora, staff, a_room(f"o-hs-{run}"), case)

    luca = await logged_in(browser, desk, "luca")  # the case's cooperative, which also offers the room
    await luca.goto(f"{desk.url}/households/{household}/housing")
    main = luca.locator("main")
    # the household by its reference person (the cooperative may see her: she consented to sharing)
    assert await luca.locator("h1").inner_text() == "Alloggio del nucleo di Selam Tesfaye"  # its id beneath
    text = await main.inner_text()
    assert "Coabitazione solidale, vanchiglia, 2 posti" in text and "in attesa di risposta" in text, text
    assert "Perché questo nucleo non ha un abbinamento?" not in text, text  # not asked beside a proposal
    assert await main.get_by_role("link", name="Torna alla cartella sociale").count() == 1
    await shot(luca, "housing")
    await luca.get_by_role("button", name="Accetta la proposta").click()
    await luca.get_by_role("button", name="Avvia l'inserimento").wait_for()
    assert "accettata, in attesa dell'inserimento" in await main.inner_text()
    ahead = (today + timedelta(days=5)).strftime("%d/%m/%Y")  # typed as an Italian desk writes a day
    day_field = luca.get_by_label("Il nucleo entra nell'alloggio il")
    await day_field.fill(ahead)
    await luca.get_by_role("button", name="Avvia l'inserimento").click()
    error = luca.locator(f"#placement-{match_id}-started_on-error")
    await error.wait_for()
    assert await error.inner_text() == "è nel futuro"
    assert await day_field.input_value() == ahead  # what was typed, kept
    await shot(luca, "housing-refused")
    await day_field.fill(today.isoformat())
    await luca.get_by_role("button", name="Avvia l'inserimento").click()
    await luca.get_by_text("inserimento avviato").first.wait_for()
    assert await luca.get_by_role("button", name="Avvia l'inserimento").count() == 0
    assert "Ancora nessun contratto firmato" in await main.inner_text()
    # The cooperative offering the room records the signed lease at the desk (it was housing's API only): amounts
    # typed in euros, the days today's; the page then shows it, its form gone.
    await luca.locator(f"#lease-{match_id}-lease_type").select_option("sub_lease")
    await luca.locator(f"#lease-{match_id}-monthly_rent").fill("200")
    await luca.locator(f"#lease-{match_id}-deposit").fill("400,00")
    await luca.get_by_role("button", name="Registra il contratto").click()
    await luca.get_by_text("Contratto registrato.").wait_for()
    assert await luca.get_by_role("button", name="Registra il contratto").count() == 0
    text = (await main.inner_text()).replace("\xa0", " ")  # babel writes "200,00\xa0€"
    assert "Sublocazione" in text and "200,00 €" in text and "senza scadenza" in text, text
    await shot(luca, "housing-placed")
    await luca.get_by_label("Motivo della conclusione").select_option("autonomy_reached")
    await luca.get_by_role("button", name="Concludi l'inserimento").click()
    await luca.get_by_text("Autonomia raggiunta").first.wait_for()
    assert await luca.get_by_role("button", name="Concludi l'inserimento").count() == 0
    await luca.goto(f"{desk.url}/households/{household}/housing?lang=en")
    assert "placement ended" in await luca.locator("main").inner_text()


async def test_a_cooperative_puts_its_household_on_hold_and_ends_the_hold_at_the_desk(browser: Any, desk: Any) -> None:
    """A hold (a stay in hospital, a journey) was housing's API only: the page puts the household on hold with a coded
    reason and a last day — beyond the city's limit (180 days) refused in Italian at the day, what was typed kept —
    says it, and ends it."""
    today = clock.today()
    run, household, _ = await a_woman_in_need_of_housing(desk, "hh", "1979-07-03", "PE", "Rosa", "Quispe")
    async with await _client_as(desk, "housing", f"staff-{run}", Role.STAFF) as staff:
        deadline = asyncio.get_running_loop().time() + 120  # housing learns of the case from intake's events
        while (why := await staff.get(f"/households/{household}/why")).status_code != 200:
            assert asyncio.get_running_loop().time() < deadline, f"housing never learnt of {household}: {why.text}"
            await asyncio.sleep(0.5)
    luca = await logged_in(browser, desk, "luca")
    await luca.goto(f"{desk.url}/households/{household}/housing")
    await luca.get_by_label("Motivo della sospensione").select_option("hospitalised")
    too_far = (today + timedelta(days=400)).strftime("%d/%m/%Y")
    await luca.get_by_label("Sospeso fino al").fill(too_far)
    await luca.get_by_role("button", name="Sospendi").click()
    error = luca.locator("#hold-until-error")
    await error.wait_for()
    assert "oltre 180 giorni" in await error.inner_text()
    assert await luca.get_by_label("Sospeso fino al").input_value() == too_far
    until = today + timedelta(days=30)
    await luca.get_by_label("Sospeso fino al").fill(until.isoformat())
    await luca.get_by_role("button", name="Sospendi").click()
    await luca.get_by_role("button", name="Termina la sospensione").wait_for()
    assert "Il nucleo è in sospeso fino al" in await luca.locator("main").inner_text()
    await shot(luca, "housing-hold")
    await luca.get_by_role("button", name="Termina la sospensione").click()
    await luca.get_by_role("button", name="Sospendi").wait_for()


async def test_opening_a_cartella_makes_housing_log_reads_of_that_household_only(browser: Any, desk: Any) -> None:
    """From an outside test: opening one person's cartella put, in housing's read log, 72 reads of 43 other households
    (the desk read the whole city's matches in each state and kept the household's); the DPO's access log then said
    "Maria Rossi … Proposte di alloggio, il nucleo (API)" for each, and a cooperative's operator read another
    cooperative's households there. On the real housing, the cartella and the household's housing page, opened by the
    city's staff and by the cooperative, add reads of that household alone to housing's log and the DPO's."""
    run, household, case = await a_woman_in_need_of_housing(desk, "ro", "1990-05-06", "SN", "Awa", "Diop")
    _, other, other_case = await a_woman_in_need_of_housing(desk, "rx", "1987-09-12", "ML", "Fanta", "Keita")
    async with (
        await _client_as(desk, "housing", "coop-aurora", None) as aurora,
        await _client_as(desk, "housing", f"staff-{run}", Role.STAFF) as staff,
    ):
        for tag, for_case in (("ro", case), ("rx", other_case)):  # a proposal for each: both in the city's matches
            await proposed(aurora, staff, a_room(f"o-{tag}-{run}"), for_case)
    pool = await db.create_pool(desk.database_url, desk.schemas["housing"], max_size=1)
    try:
        async with pool.acquire() as conn:
            before = await conn.fetchval("select coalesce(max(entry_id), 0) from read_log")
        for username in ("maria", "luca"):
            page = await logged_in(browser, desk, username)
            await page.goto(f"{desk.url}/persons/p-ro-{run}")
            assert "Coabitazione solidale" in await page.locator("main").inner_text()  # its proposal, shown
            await page.goto(f"{desk.url}/households/{household}/housing")
            assert "in attesa di risposta" in await page.locator("main").inner_text()
            await page.context.close()
        async with pool.acquire() as conn:
            rows = await conn.fetch(
                "select principal, kind, household_id from read_log where entry_id > $1 order by entry_id", before
            )
    finally:
        await pool.close()
    read = {(r["principal"], r["household_id"]) for r in rows if r["kind"] == "matches"}
    assert read == {(desk.actors["maria"], household), ("coop-aurora", household)}, rows
    assert {r["household_id"] for r in rows} == {household}, rows
    # The DPO's access log: Maria's view of that household, none of the other's.
    rpd = await logged_in(browser, desk, "rpd")
    try:
        shown = await (await rpd.request.get(f"{desk.url}/access-log.csv?person_id={household}")).text()
        assert "Maria Rossi" in shown and "Proposte di alloggio, tra cui quelle del nucleo (API)" in shown, shown
        others = await (await rpd.request.get(f"{desk.url}/access-log.csv?person_id={other}")).text()
        assert f"staff-{run}" in others, others  # the set-up's reads of it (the matching), there as they were
        assert "Maria Rossi" not in others and "Cooperativa Aurora" not in others, others
    finally:
        await rpd.context.close()
