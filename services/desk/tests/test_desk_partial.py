"""The desk of a city that runs only some services (DESIGN.md: "the freedom to run only the components they need";
docs/operators.md, "A city running only some services"). A review of partial deployments found the desk showing
every service's pages whatever the city runs: "Pagamenti" and "Approvazioni" in the menu of a city whose
contributions its own accounting pays, their pages a 503 "the service cannot be reached, try again in a moment" for
ever, every person's record saying its payments part "could not be read now" and counting a call to payments as
unavailable at each view (the documented alert firing for ever). LGNET_DESK_SERVICES names what the city runs; the
desk shows only that, says a page of another is not used by the city (404), and never calls it. The services are
played by the test as in test_desk_pages.py; one the city does not run answers nothing (no such process)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from lgnet_desk.metrics import SERVICE_CALLS
from lgnet_shared import clock

sys.path.insert(0, str(Path(__file__).parent))
from test_desk_pages import MARIA, RPD, Desk, _dpo_token, desk, desk_of, serve_the_cartella, text_of

pytestmark = pytest.mark.integration
__all__ = ["desk"]  # the fixture
NOT_RUN = "Il Comune non usa il servizio «{}» su LgNet"


@pytest.fixture
async def without_payments(database_url: str, pg_schema: str) -> AsyncIterator[Desk]:
    """A city whose contributions its own accounting pays: intake and housing only (payments answers nothing)."""
    async with desk_of(database_url, pg_schema, LGNET_DESK_SERVICES="intake,housing") as d:
        d.services.away = {"payments"}
        yield d


@pytest.fixture
async def intake_only(database_url: str, pg_schema: str) -> AsyncIterator[Desk]:
    """A city matching housing by hand and paying on its own: intake only."""
    async with desk_of(database_url, pg_schema, LGNET_DESK_SERVICES="intake") as d:
        d.services.away = {"housing", "payments"}
        yield d


def menu(html: str) -> str:
    start = html.index('<nav aria-label="')
    return html[start : html.index("</nav>", start)]


def payments_unavailable() -> float:
    calls: float = SERVICE_CALLS.labels("payments", "unavailable")._value.get()
    return calls


async def test_the_menu_shows_only_the_services_the_city_runs(without_payments: Desk) -> None:
    await without_payments.as_operator(MARIA)
    page = await without_payments.client.get("/persons/new")
    assert page.status_code == 200, page.text
    nav = menu(page.text)
    assert 'href="/payments"' not in nav and 'href="/approvals"' not in nav, nav
    assert 'href="/housing"' in nav and 'href="/agenda"' in nav, nav


async def test_the_menu_of_a_city_running_intake_only(intake_only: Desk) -> None:
    await intake_only.as_operator(MARIA)
    nav = menu((await intake_only.client.get("/persons/new")).text)
    assert 'href="/housing"' not in nav and 'href="/payments"' not in nav and 'href="/civic"' in nav, nav


@pytest.mark.parametrize(
    "path",
    ["/payments", "/approvals", "/shared-payees", "/payments/providers", "/payments/batches/b-1"],
)
async def test_a_page_of_payments_in_a_city_without_it_says_the_city_does_not_use_it(
    without_payments: Desk, path: str
) -> None:
    await without_payments.as_operator(MARIA)
    page = await without_payments.client.get(path)
    assert page.status_code == 404, (page.status_code, text_of(page.text))
    text = text_of(page.text)
    assert NOT_RUN.format("pagamenti") in text, text
    assert "non è raggiungibile" not in text and "Riprovi" not in text, text
    assert 'href="/payments"' not in page.text, "the menu of the page offers it still"
    english = text_of((await without_payments.client.get(path + "?lang=en")).text)
    assert "The city does not use the service “payments” on LgNet" in english, english
    assert not [c for c in without_payments.services.calls if c[0] == "payments"], without_payments.services.calls


@pytest.mark.parametrize(
    "form", ["contributions", "contributions/r-1/payee", "vouchers", "tutoring", "../../approvals/r-1"]
)
async def test_a_form_writing_to_payments_in_a_city_without_it_is_not_sent(without_payments: Desk, form: str) -> None:
    await without_payments.as_operator(MARIA)
    sent = {"csrf": "csrf-maria", "case_id": "c-1", "kind": "rent", "amount": "100", "voucher_value": "10"}
    r = await without_payments.client.post(f"/persons/p-1/{form}", data=sent)
    assert r.status_code == 404, (r.status_code, text_of(r.text))
    assert NOT_RUN.format("pagamenti") in text_of(r.text)
    assert not [c for c in without_payments.services.calls if c[0] == "payments"], without_payments.services.calls


@pytest.mark.parametrize("path", ["/housing", "/households/h-1/housing"])
async def test_a_housing_page_in_a_city_without_housing_says_the_city_does_not_use_it(
    intake_only: Desk, path: str
) -> None:
    await intake_only.as_operator(MARIA)
    page = await intake_only.client.get(path)
    assert page.status_code == 404, (page.status_code, text_of(page.text))
    assert NOT_RUN.format("alloggi") in text_of(page.text), text_of(page.text)
    assert not [c for c in intake_only.services.calls if c[0] != "intake"], intake_only.services.calls


async def test_a_persons_record_leaves_out_the_parts_of_services_the_city_does_not_run(without_payments: Desk) -> None:
    today, earlier = clock.today().isoformat(), (clock.today() - timedelta(days=40)).isoformat()
    serve_the_cartella(without_payments.services, today, earlier)
    await without_payments.as_operator(MARIA)
    before = payments_unavailable()
    page = await without_payments.client.get("/persons/p-1")
    assert page.status_code == 200, page.text
    text = text_of(page.text)
    assert "Alcune parti non si possono leggere" not in text, text
    assert payments_unavailable() == before, "a call to payments counted unavailable at each view"
    assert not [c for c in without_payments.services.calls if c[0] == "payments"], without_payments.services.calls
    for gone in ('id="h-contributions"', 'id="h-vouchers"', 'id="h-tutoring"', "/contributions", "/vouchers",
                 "/tutoring"):  # fmt: skip
        assert gone not in page.text, gone
    assert 'id="h-housing"' in page.text and "Coabitazione solidale" in text, text  # housing runs: shown


async def test_a_persons_record_in_a_city_running_intake_only_has_no_housing_part(intake_only: Desk) -> None:
    today, earlier = clock.today().isoformat(), (clock.today() - timedelta(days=40)).isoformat()
    serve_the_cartella(intake_only.services, today, earlier)
    await intake_only.as_operator(MARIA)
    page = await intake_only.client.get("/persons/p-1")
    assert page.status_code == 200, page.text
    assert "Alcune parti non si possono leggere" not in text_of(page.text)
    assert 'id="h-housing"' not in page.text and "/housing" not in page.text.split("</nav>", 1)[1], page.text
    assert not [c for c in intake_only.services.calls if c[0] != "intake"], intake_only.services.calls


async def privacy_notice(d: Desk) -> str:
    d.services.answers[("intake", "GET", "/persons/p-1")] = {
        "person_id": "p-1",
        "identity": {"given_name": "Amina", "family_name": "Okafor"},
    }
    await d.as_operator(MARIA)
    return text_of((await d.client.get("/persons/p-1/privacy-notice")).text)


async def test_the_privacy_notice_names_only_the_purposes_of_what_the_city_runs(without_payments: Desk) -> None:
    """GDPR art. 13: the notice a person signs says why her data are processed. It said "to find housing and to pay
    contributions" in a city that does not pay contributions on LgNet: a purpose not pursued here, signed for."""
    text = await privacy_notice(without_payments)
    assert "per la presa in carico e la ricerca di un'abitazione (artt. 6 e 9 GDPR)." in text, text
    assert "pagamento dei contributi" not in text


async def test_the_privacy_notice_of_a_city_running_intake_only(intake_only: Desk) -> None:
    text = await privacy_notice(intake_only)
    assert "per la presa in carico (artt. 6 e 9 GDPR)." in text, text
    assert "pagamento dei contributi" not in text and "abitazione" not in text


async def test_the_todo_list_asks_only_the_services_the_city_runs(without_payments: Desk) -> None:
    without_payments.services.answers |= {
        ("housing", "GET", "/reminders"): [],
        ("intake", "GET", "/appointments/reminders/open"): [],
    }
    await without_payments.as_operator(MARIA)
    page = await without_payments.client.get("/todo")
    assert page.status_code == 200, page.text
    assert "Alcuni promemoria non si possono leggere" not in text_of(page.text), text_of(page.text)
    assert not [c for c in without_payments.services.calls if c[0] == "payments"], without_payments.services.calls


async def test_the_dpos_access_log_does_not_say_a_log_of_a_service_not_run_is_missing(without_payments: Desk) -> None:
    async with without_payments.pool.acquire() as conn:
        for service in ("intake", "housing", "payments"):  # her tokens from when the city ran payments
            await _dpo_token(conn, without_payments, service, f"lgr_{service}")
    without_payments.services.answers |= {
        ("intake", "GET", "/read-log"): [],
        ("housing", "GET", "/read-log"): [],
    }
    await without_payments.as_operator(RPD)
    page = await without_payments.client.get("/access-log")
    assert page.status_code == 200, page.text
    assert "Il registro dei download dei file SEPA" not in text_of(page.text), text_of(page.text)
    assert 'value="payments"' not in page.text  # no source to filter by that the city does not have
    assert not [c for c in without_payments.services.calls if c[0] == "payments"], without_payments.services.calls


@pytest.mark.parametrize("value", ["intake,payment", "housing,payments", "intake,reporting", ""])
def test_a_services_setting_naming_something_else_or_without_intake_is_refused_at_start(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    from lgnet_desk.entrypoints import main as desk_main

    monkeypatch.setenv("DATABASE_URL", "postgresql://desk@db/lgnet")
    monkeypatch.setenv("LGNET_MASTER_KEY", "A" * 43 + "=")
    monkeypatch.setenv("LGNET_DESK_SERVICES", value)
    monkeypatch.setattr(desk_main, "create_app", lambda *_: pytest.fail("started with a wrong LGNET_DESK_SERVICES"))
    monkeypatch.setattr(sys, "argv", ["lgnet-desk"])
    with pytest.raises(SystemExit) as stopped:
        desk_main.main()
    said = str(stopped.value.code).splitlines()
    assert said[0] == "lgnet-desk: invalid configuration:" and said[1].startswith("  LGNET_DESK_SERVICES: "), said


def test_the_services_setting_takes_spaces_and_any_order() -> None:
    from lgnet_desk.settings import DeskSettings

    base: dict[str, Any] = {"DATABASE_URL": "postgresql://x/y", "LGNET_MASTER_KEY": "A" * 43 + "="}
    assert DeskSettings(**base).services == ("intake", "housing", "payments")
    assert DeskSettings(**base, LGNET_DESK_SERVICES=" payments , intake ").services == ("intake", "payments")


async def test_the_not_run_page_is_accessible(without_payments: Desk, browser: Any) -> None:
    """The new page, as Chromium draws it, checked with axe-core as the journey's pages are (test_desk_e2e.shot)."""
    from axe_playwright_python.async_playwright import Axe  # type: ignore[import-untyped]  # axe-playwright-python ships no types

    await without_payments.as_operator(MARIA)
    client = without_payments.client

    async def served(route: Any) -> None:
        r = await client.get(route.request.url.replace("http://desk.test", ""))
        await route.fulfill(status=r.status_code, headers=dict(r.headers), body=r.content)

    ctx = await browser.new_context()
    page = await ctx.new_page()
    await page.route("http://desk.test/**", served)
    await page.goto("http://desk.test/payments")
    assert "su LgNet" in await page.locator("main").inner_text()
    results = await Axe().run(page)
    bad = [v for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
    assert bad == [], [(v["id"], v["help"]) for v in bad]


async def test_operators_of_a_city_without_payments_are_given_tokens_on_what_runs(
    desk: Desk, database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`lgnet-desk-admin add-operator` issued a token on each of intake, housing and payments: with no payments
    schema (a city that does not run it) it stopped on "no schema", the operator not added. It provisions the
    services of LGNET_DESK_SERVICES, the DPO's read-log tokens of those too."""
    import asyncio

    from lgnet_desk.entrypoints import admin
    from test_operator_accounts import service_schemas, tokens_of

    async with service_schemas(database_url) as schemas:
        env = {"DATABASE_URL": desk.settings.database_url, "LGNET_DB_SCHEMA": desk.settings.db_schema,
               "LGNET_MASTER_KEY": desk.settings.master_key, "LGNET_DESK_SERVICES": "intake,housing",
               "LGNET_DESK_PASSWORD": "la-password-di-nadia",
               "LGNET_DESK_PAYMENTS_READ_LOG_TOKEN": "lgr_old"}  # fmt: skip
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        args = [f"--intake-schema={schemas['intake']}", f"--housing-schema={schemas['housing']}",
                "--payments-schema=no_payments_here"]  # fmt: skip
        added = await asyncio.to_thread(
            admin.main, ["add-operator", "nadia", "--name", "Nadia Ferri", "--role", "staff", "--city", "torino", *args]
        )
        assert added == 0, capsys.readouterr().err
        assert sorted(await tokens_of(desk, "nadia")) == ["housing", "intake"]
        monkeypatch.setenv("LGNET_DESK_READ_LOG_TOKEN", "lgr_intake")
        added = await asyncio.to_thread(
            admin.main, ["add-operator", "rpd2", "--name", "RPD", "--role", "dpo", "--city", "torino", *args]
        )
        assert added == 0, capsys.readouterr().err
        assert sorted(await tokens_of(desk, "rpd2")) == ["intake-read-log"]


async def operators_before_payments(
    desk: Desk,
    schemas: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    **roles: str,
) -> list[str]:
    """Operators added (username=role) by `lgnet-desk-admin` while the city ran intake and housing only; the
    command's schema arguments."""
    import asyncio

    from lgnet_desk.entrypoints import admin

    for name, value in (("DATABASE_URL", desk.settings.database_url), ("LGNET_DB_SCHEMA", desk.settings.db_schema),
                        ("LGNET_MASTER_KEY", desk.settings.master_key), ("LGNET_DESK_SERVICES", "intake,housing"),
                        ("LGNET_DESK_PASSWORD", "la-password-di-tutte"),
                        ("LGNET_DESK_READ_LOG_TOKEN", "lgr_intake")):  # fmt: skip
        monkeypatch.setenv(name, value)
    args = [f"--{s}-schema={schema}" for s, schema in schemas.items()]
    for username, role in roles.items():
        added = await asyncio.to_thread(
            admin.main, ["add-operator", username, "--name", username, "--role", role, "--city", "torino", *args]
        )
        assert added == 0, capsys.readouterr().err
    return args


async def test_operators_added_before_the_city_ran_payments_are_given_a_token_there(
    desk: Desk, database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A city that starts payments a year later sets LGNET_DESK_SERVICES: its operators had no token there, and every
    payments page refused them ("no identity on this service"); nothing but a new operator got one.
    `lgnet-desk-admin give-services <username>` issues her token on each service she has none on (a DPO: the
    read-log tokens given), and says where; run again, none."""
    import asyncio

    from lgnet_desk.entrypoints import admin
    from test_operator_accounts import service_schemas, tokens_of

    async with service_schemas(database_url) as schemas:
        args = await operators_before_payments(desk, schemas, monkeypatch, capsys, nadia="staff", rpd2="dpo")
        monkeypatch.setenv("LGNET_DESK_SERVICES", "intake,housing,payments")  # payments runs now
        monkeypatch.setenv("LGNET_DESK_PAYMENTS_READ_LOG_TOKEN", "lgr_payments")
        capsys.readouterr()
        for username in ("nadia", "rpd2"):
            assert await asyncio.to_thread(admin.main, ["give-services", username, *args]) == 0
        said = capsys.readouterr().out
        assert "nadia: tokens given on payments" in said and "rpd2: tokens given on payments" in said, said
        assert sorted(await tokens_of(desk, "nadia")) == ["housing", "intake", "payments"]
        assert sorted(await tokens_of(desk, "rpd2")) == ["intake-read-log", "payments-read-log"]
        assert await asyncio.to_thread(admin.main, ["give-services", "nadia", *args]) == 0
        assert "nadia: tokens given on none" in capsys.readouterr().out


async def test_every_operator_of_the_desk_is_given_a_service_started_later_at_once(
    desk: Desk, database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`give-services` named one operator: a city with sixty operators that starts payments ran it sixty times, and one
    forgotten could not work payments' pages. `give-services --all` gives every active operator hers (never one
    who left), each said; run again, none."""
    import asyncio

    from lgnet_desk.entrypoints import admin
    from test_operator_accounts import service_schemas, tokens_of

    async with service_schemas(database_url) as schemas:
        args = await operators_before_payments(
            desk, schemas, monkeypatch, capsys, nadia="staff", bruna="staff", rpd2="dpo"
        )
        assert await asyncio.to_thread(admin.main, ["deactivate-operator", "bruna", *args]) == 0
        monkeypatch.setenv("LGNET_DESK_SERVICES", "intake,housing,payments")
        monkeypatch.setenv("LGNET_DESK_PAYMENTS_READ_LOG_TOKEN", "lgr_payments")
        capsys.readouterr()
        assert await asyncio.to_thread(admin.main, ["give-services", "--all", *args]) == 0
        said = capsys.readouterr().out
        assert "nadia: tokens given on payments" in said and "rpd2: tokens given on payments" in said, said
        assert "bruna" not in said, said
        assert sorted(await tokens_of(desk, "nadia")) == ["housing", "intake", "payments"]
        assert sorted(await tokens_of(desk, "rpd2")) == ["intake-read-log", "payments-read-log"]
        assert sorted(await tokens_of(desk, "bruna")) == ["housing", "intake"]  # she left: nothing new
        assert await asyncio.to_thread(admin.main, ["give-services", "--all", *args]) == 0
        said = capsys.readouterr().out
        assert "nadia: tokens given on none" in said and "rpd2: tokens given on none" in said, said
        assert await asyncio.to_thread(admin.main, ["give-services", *args]) == 2  # a username or --all
        assert "give-services: a username or --all" in capsys.readouterr().err
