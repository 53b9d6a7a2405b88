"""The desk's reads on intake: finding a person (name fuzzy and accent-insensitive, fiscal code, case number) and
the cartella sociale, each within what the caller may read."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
from codicefiscale import codicefiscale
from lgnet_intake.adapters import diary, schema
from lgnet_intake.domain.search import MIN_SCORE, name_score
from lgnet_intake.entrypoints.main import SPEC
from lgnet_shared import clock
from lgnet_shared.testing.authz import World
from lgnet_shared.testing.inprocess import InProcessService, fixtures_per_module
from lgnet_shared.testing.tables import everything_in

pytestmark = pytest.mark.shared_service

A, B, STAFF, TRIESTE = "coop-aurora", "coop-borgo", "staff-torino", "staff-trieste"


def fiscal(uid: str) -> str:
    """Élodie N'Diaye's fiscal code (female, born 1980-01-01 in Morocco), its first six letters this test's own: on
    the module's shared intake another test's Élodie with the same code would be merged into ours."""
    body = "".join(chr(ord("A") + int(d, 16)) for d in uid[:6]) + "80A41Z330"
    return body + codicefiscale.encode_cin(body)


def test_name_score_ignores_accents_case_order_and_small_typos() -> None:
    assert name_score("elodie ndiaye", "Élodie", "N'Diaye") > 0.9
    assert name_score("Ndiaie", "Élodie", "N'Diaye") > 0.75
    assert name_score("Rossi Anna", "Élodie", "N'Diaye") < 0.75


def test_a_names_beginning_finds_the_person_first_over_fuzzy_matches() -> None:
    """From an outside test: "Oka" found none of the Okafor ("oka" against "okafor": difflib ratio 0.67, under 0.75)
    and "Dia" found eight persons named Nadia ("dia" against "nadia": 0.75) before Nadia Diallo. The first three
    letters of a name's word or more match it (`PREFIX_SCORE`): above any fuzzy match, below the whole word."""
    assert name_score("Oka", "Amina", "Okafor") >= MIN_SCORE
    assert name_score("dia", "Amina", "Diallo") > name_score("dia", "Nadia", "Rossi")
    assert name_score("dia", "Nadia", "Diallo") > name_score("dia", "Nadia", "Rossi")
    assert name_score("amina oka", "Amina", "Okafor") > name_score("amina okafr", "Amina", "Okafor")  # fuzzy below
    assert name_score("ali", "Ali", "Haile") > name_score("ali", "Alina", "Haile")  # the whole word above
    assert name_score("ndia", "Élodie", "N'Diaye") >= MIN_SCORE  # the words joined: "ndiaye"
    assert name_score("di", "Amina", "Diallo") < MIN_SCORE  # two letters are no name's beginning


# The module's intake, in process: one on the module's schema (`shared_service`), or a test's own (`own_service`);
# these stand in for conftest's, which start a process.
intake, intake_own, intake_shared, intake_view = fixtures_per_module("intake", SPEC)


async def family(w: World, uid: str) -> dict[str, Any]:
    """Élodie N'Diaye (with a fiscal code) and her son, a household, a case of A, an assessment and a plan."""
    mum, son, hid, cid = w.id("p"), w.id("p"), w.id("h"), w.id("c")
    await w.call(
        A,
        "POST",
        "/persons",
        {
            "person_id": mum,
            "birth_date": "1980-01-01",
            "sex": "female",
            "nationality": "MA",
            "identity": {"given_name": "Élodie", "family_name": "N'Diaye", "fiscal_code": fiscal(uid)},
        },
    )
    await w.call(
        A,
        "POST",
        "/persons",
        {
            "person_id": son,
            "birth_date": "2015-05-05",
            "sex": "male",
            "nationality": "MA",
            "identity": {"given_name": "Karim", "family_name": "N'Diaye"},
        },
    )
    for pid in (mum, son):
        await w.call(
            A,
            "POST",
            "/consents",
            {"person_id": pid, "purpose": "partner_sharing", "granted": True, "recorded_on": str(clock.today())},
        )
    await w.call(A, "POST", "/households", {"household_id": hid, "reference_person_id": mum, "member_ids": [mum, son]})
    await open_case(w, cid, hid, A, "taking_charge")
    await w.call(
        A,
        "POST",
        "/cases/assessments",
        {
            "case_id": cid,
            "housing_situation": "precarious",
            "monthly_income_cents": 40_000,
            "employment_status": "unemployed",
            "assessed_on": str(clock.today()),
        },
    )
    await w.call(
        A,
        "POST",
        "/cases/plans",
        {"case_id": cid, "plan_id": "plan-1", "objectives": ["housing", "employment"], "agreed_on": str(clock.today())},
    )
    return {"mum": mum, "son": son, "household_id": hid, "case_id": cid}


async def assess_both(w: World, f: dict[str, Any]) -> None:
    """The case's assessment with a vulnerability of each: the mother's psychiatric, the son's a single parent."""
    body = {
        "case_id": f["case_id"],
        "housing_situation": "precarious",
        "monthly_income_cents": 40_000,
        "employment_status": "unemployed",
        "assessed_on": str(clock.today()),
        "vulnerabilities_by_person": {f["mum"]: ["psychiatric_condition"], f["son"]: ["single_parent"]},
    }
    await w.call(A, "POST", "/cases/assessments", body)


async def open_case(w: World, case_id: str, household_id: str, partner: str, area: str) -> None:
    """The city's staff open a case of the household today, assigned to `partner`."""
    body = {"case_id": case_id, "household_id": household_id, "action_area": area, "channel": "desk",
            "opened_on": str(clock.today()), "housing_need": area == "taking_charge", "partner": partner}  # fmt: skip
    await w.call(STAFF, "POST", "/cases", body)


async def found(service: InProcessService, actor: str, **params: str) -> list[str]:
    """The persons found, by GET /persons and by POST /persons/search (the terms out of the address): the same."""
    async with service.client(actor) as c:
        r = await c.get("/persons", params=params)
        posted = await c.post("/persons/search", json=params)
    assert r.status_code == 200, r.text
    assert posted.status_code == 200 and posted.json() == r.json(), posted.text
    return [p["person_id"] for p in r.json()]


async def test_find_by_name_fiscal_code_and_case_within_what_the_caller_may_read(
    intake: InProcessService, uid: str
) -> None:
    w = World(intake)
    f = await family(w, uid)
    assert f["mum"] in await found(intake, STAFF, name="elodie ndiaie")  # accents, apostrophe and a typo
    assert await found(intake, STAFF, fiscal_code=fiscal(uid).lower()) == [f["mum"]]
    assert set(await found(intake, A, case_id=f["case_id"])) == {f["mum"], f["son"]}
    assert f["mum"] in await found(intake, A, name="N'Diaye")
    # another partner: not its case (other tests' N'Diaye may be Borgo's on the module's intake: ours are not found)
    assert {f["mum"], f["son"]}.isdisjoint(await found(intake, B, name="N'Diaye"))
    assert await found(intake, TRIESTE, fiscal_code=fiscal(uid)) == []  # another city
    async with intake.client("coordination") as c:
        assert (await c.get("/persons", params={"name": "Diaye"})).status_code == 403
    async with intake.client(STAFF) as c:
        r = await c.get("/persons")
    assert r.status_code == 422
    assert r.json()["field"] == "query.name"  # a query parameter, as the contract prefixes them (it said `name`)
    async with intake.client(STAFF) as c:
        r = await c.post("/persons/search", json={"fiscal_code": None})
        too_long = await c.post("/persons/search", json={"name": "x" * 201})
    assert r.status_code == 422 and r.json()["field"] == "name"  # a body's field, bare
    assert too_long.status_code == 422 and too_long.json()["field"] == "name"
    async with intake.client(STAFF) as c:  # a filter search does not have was ignored: Torino's Diaye found
        unknown = await c.post("/persons/search", json={"name": "N'Diaye", "birth_date": "1900-01-01"})
    assert unknown.status_code == 422 and unknown.json()["field"] == "birth_date", unknown.text
    # a withdrawn consent hides the person from the partner, not from the city's staff
    await w.call(
        A,
        "POST",
        "/consents",
        {"person_id": f["mum"], "purpose": "partner_sharing", "granted": False, "recorded_on": str(clock.today())},
    )
    assert f["mum"] not in await found(intake, A, name="Elodie")
    assert f["mum"] in await found(intake, STAFF, name="Elodie")


async def test_a_person_with_a_surname_only_is_found_and_a_name_of_spaces_is_refused(
    intake: InProcessService, uid: str
) -> None:
    """From an outside test: a person registered with a surname only was never found by name, and one whose names
    were spaces only was accepted."""
    w = World(intake)
    rossi = w.id("p")
    body = {"person_id": rossi, "birth_date": "1980-01-01", "sex": "male", "nationality": "AL"}
    await w.call(STAFF, "POST", "/persons", body | {"identity": {"family_name": "Rossi"}})
    assert await found(intake, STAFF, name="rossi") == [rossi]
    async with intake.client(STAFF) as c:
        spaces = body | {"person_id": w.id("p"), "identity": {"given_name": "   ", "family_name": "Rossa"}}
        r = await c.post("/persons", json=spaces, headers={"Idempotency-Key": w.id("k")})
    assert (r.status_code, r.json()["field"]) == (422, "identity.given_name"), r.text


async def test_a_search_by_a_names_beginning_finds_the_person_ranked_first(intake: InProcessService, uid: str) -> None:
    """From an outside test: "Oka" gave no result while "Okaf" found the Okafor; "Dia" gave persons all named Nadia,
    Nadia Diallo fourth, found through "Nadia". A name's beginning finds the person, before the fuzzy matches."""
    w = World(intake)
    body = {"birth_date": "1980-01-01", "sex": "female", "nationality": "NG"}
    ids = {}
    for given, surname in [("Nadia", "Rossi"), ("Nadia", "Bianchi"), ("Nadia", "Diallo"), ("Amina", "Okafor")]:
        ids[given, surname] = w.id("p")
        identity = {"given_name": given, "family_name": surname}
        await w.call(STAFF, "POST", "/persons", body | {"person_id": ids[given, surname], "identity": identity})
    assert ids["Amina", "Okafor"] in await found(intake, STAFF, name="Oka")
    by_dia = await found(intake, STAFF, name="Dia")
    assert ids["Nadia", "Diallo"] in by_dia
    only_nadia = [by_dia.index(ids["Nadia", s]) for s in ("Rossi", "Bianchi") if ids["Nadia", s] in by_dia]
    assert all(by_dia.index(ids["Nadia", "Diallo"]) < at for at in only_nadia), by_dia


async def test_the_cartella_sociale_holds_household_case_assessment_plan_and_timeline(
    intake: InProcessService,
    uid: str,
) -> None:
    w = World(intake)
    f = await family(w, uid)
    async with intake.client(A) as c:
        r = await c.get(f"/persons/{f['mum']}/record")
    assert r.status_code == 200, r.text
    record = r.json()
    assert record["person"]["identity"]["given_name"] == "Élodie"
    [household] = record["households"]
    assert {m["name"] for m in household["members"]} == {"Élodie N'Diaye", "Karim N'Diaye"}
    [case] = record["cases"]
    assert case["assessment"]["housing_situation"] == "precarious"
    assert case["plans"][0]["objectives"] == {"housing": "open", "employment": "open"}
    kinds = [t["kind"] for t in record["timeline"]]
    assert {"registered", "member_joined", "case_opened", "needs_assessed", "plan_agreed", "consent_recorded"} <= set(
        kinds
    )
    async with intake.client(B) as c:
        denied = await c.get(f"/persons/{f['mum']}/record")
    assert denied.status_code == 404  # another partner's person: as one that exists nowhere
    assert denied.json()["field"] == "person_id"


async def test_a_member_hidden_from_the_partner_keeps_their_vulnerabilities_hidden_too(
    intake: InProcessService,
    uid: str,
) -> None:
    """From an outside test: a member who withdrew consent to partner sharing had their name hidden from the case's
    partner, but the assessment still showed their vulnerabilities (special-category data) in their slot."""
    w = World(intake)
    f = await family(w, uid)
    mum, son = f["mum"], f["son"]
    await assess_both(w, f)
    await withdraw_sharing(w, mum)
    async with intake.client(A) as c:
        r = await c.get(f"/persons/{son}/record")
    assert r.status_code == 200, r.text
    [case] = r.json()["cases"]
    assert case["assessment"]["vulnerabilities_by_person"] == {son: ["single_parent"]}
    assert case["assessment"]["vulnerabilities"] == ["single_parent"]
    assert "psychiatric_condition" not in r.text
    async with intake.client(STAFF) as c:  # the city's staff still see the whole assessment
        r = await c.get(f"/persons/{son}/record")
    [case] = r.json()["cases"]
    assert case["assessment"]["vulnerabilities_by_person"] == {mum: ["psychiatric_condition"], son: ["single_parent"]}


async def test_a_partners_correction_keeps_the_vulnerabilities_of_members_hidden_from_it(
    intake: InProcessService, uid: str
) -> None:
    """The city's staff record the mother's psychiatric condition, a member hidden from the case's cooperative (she
    withdrew consent to partner sharing); the cooperative corrects the assessment (what it sees: her son, the income).
    The correction replaced the whole assessment: her vulnerability was lost, in intake and in the fact reporting
    counts. A submission replaces only what its submitter may see; the rest is kept as it was."""
    w = World(intake)
    f = await family(w, uid)
    mum, son, cid = f["mum"], f["son"], f["case_id"]
    await withdraw_sharing(w, mum)
    staff = {"case_id": cid, "housing_situation": "precarious", "monthly_income_cents": 40_000,
             "employment_status": "unemployed", "assessed_on": str(clock.today()),
             "vulnerabilities_by_person": {mum: ["psychiatric_condition"], son: ["single_parent"]}}  # fmt: skip
    await w.call(STAFF, "POST", "/cases/assessments", staff)
    corrected = staff | {"monthly_income_cents": 55_000, "vulnerabilities_by_person": {son: ["disability"]}}
    await w.call(A, "POST", "/cases/assessments", corrected)
    async with intake.client(STAFF) as c:
        r = await c.get(f"/persons/{son}/record")
    [case] = r.json()["cases"]
    assert case["assessment"]["vulnerabilities_by_person"] == {mum: ["psychiatric_condition"], son: ["disability"]}
    assert case["assessment"]["vulnerabilities"] == ["disability", "psychiatric_condition"]
    assert case["assessment"]["monthly_income_cents"] == 55_000
    async with intake.pool.acquire() as conn:
        values = await conn.fetch("select value from outbox order by seq")
    [*_, fact] = [v for v in map(json.loads, (r["value"] for r in values)) if v["type"] == "lgnet.intake.needs_assessed"
                  and v["data"]["case_id"] == cid]  # fmt: skip
    assert fact["data"]["vulnerabilities_by_person"] == {mum: ["psychiatric_condition"], son: ["disability"]}
    assert fact["data"]["vulnerabilities"] == ["disability", "psychiatric_condition"]
    async with intake.client(A) as c:  # the cooperative still sees only what it may
        r = await c.get(f"/persons/{son}/record")
    [case] = r.json()["cases"]
    assert case["assessment"]["vulnerabilities_by_person"] == {son: ["disability"]}
    assert "psychiatric_condition" not in r.text
    # What it says itself of her (a partner records what it observed, an empty list too) is taken as it says
    await w.call(A, "POST", "/cases/assessments", corrected | {"vulnerabilities_by_person": {son: [], mum: []}})
    async with intake.client(STAFF) as c:
        r = await c.get(f"/persons/{son}/record")
    [case] = r.json()["cases"]
    assert case["assessment"]["vulnerabilities"] == [] and "psychiatric_condition" not in r.text


async def test_a_member_hidden_from_the_partner_is_only_an_id_in_the_household(
    intake: InProcessService, uid: str
) -> None:
    """A DPO's review: after the mother withdrew consent to partner sharing, the case's partner reading her son's
    cartella still got her sex beside her hidden name and birth date (the desk shows "(non visibile per lei)"). A
    member the reader may not see is an id with the dates of the membership, nothing of the person."""
    w = World(intake)
    f = await family(w, uid)
    mum, son = f["mum"], f["son"]
    await withdraw_sharing(w, mum)
    members = await members_read_by(intake, A, son)
    assert (members[mum]["name"], members[mum]["birth_date"], members[mum]["sex"]) == (None, None, None), members[mum]
    assert members[son]["sex"] is not None and members[son]["name"]
    members = await members_read_by(intake, STAFF, son)  # the city's staff see her
    assert members[mum]["sex"] is not None and members[mum]["name"]


async def withdraw_sharing(w: World, person_id: str) -> None:
    consent = {"person_id": person_id, "purpose": "partner_sharing", "granted": False}
    await w.call(A, "POST", "/consents", consent | {"recorded_on": str(clock.today())})


async def members_read_by(intake: InProcessService, actor: str, person_id: str) -> dict[str, dict[str, Any]]:
    """The members of the person's households, by id, as `actor` reads the person's cartella."""
    async with intake.client(actor) as c:
        r = await c.get(f"/persons/{person_id}/record")
    assert r.status_code == 200, r.text
    return {m["person_id"]: m for h in r.json()["households"] for m in h["members"]}


# Own service: it puts rows back as a release before left them and runs a migration over the whole schema.
@pytest.mark.own_service
async def test_diary_notes_and_documents_are_sealed_with_the_person_and_die_with_erasure(
    intake: InProcessService,
    uid: str,
) -> None:
    w = World(intake)
    f = await family(w, uid)
    mum = f["mum"]
    pdf = b"%PDF-1.4 permesso di soggiorno"
    note = await w.call(A, "POST", f"/persons/{mum}/notes", {"text": "Primo colloquio: sfratto a marzo"})
    doc = await w.call(
        A,
        "POST",
        f"/persons/{mum}/documents",
        {
            "kind": "residence_permit",
            "filename": "permesso.pdf",
            "media_type": "application/pdf",
            "content_base64": base64.b64encode(pdf).decode(),
        },
    )
    assert doc["sha256"] == hashlib.sha256(pdf).hexdigest()
    async with intake.client(A) as c:
        bad = await c.post(
            f"/persons/{mum}/documents",
            json={
                "kind": "isee",
                "filename": "x.pdf",
                "media_type": "application/pdf",
                "content_base64": base64.b64encode(b"MZ\x90 not a pdf").decode(),
            },
            headers={"Idempotency-Key": "bad-upload-1"},
        )
        assert bad.status_code == 422
        assert bad.json()["field"] == "content_base64"
        assert (await c.get(f"/persons/{mum}/notes")).json()[0]["text"] == "Primo colloquio: sfratto a marzo"
        got = await c.get(f"/persons/{mum}/documents/{doc['document_id']}")
        assert got.content == pdf
        assert got.headers["content-type"] == "application/pdf"
    async with intake.pool.acquire() as conn:  # at rest: no plain text
        sealed = await conn.fetchval("select sealed from diary_notes where note_id = $1", note["note_id"])
        assert b"sfratto" not in sealed
        assert pdf not in await conn.fetchval("select sealed from documents")
    async with intake.client(B) as c:
        assert (await c.get(f"/persons/{mum}/notes")).status_code == 404
    await w.call(STAFF, "POST", f"/persons/{mum}/erasure")
    async with intake.client(STAFF) as c:
        notes = (await c.get(f"/persons/{mum}/notes")).json()
        assert notes[0]["text"] is None
        gone = await c.get(f"/persons/{mum}/documents/{doc['document_id']}")
        assert gone.status_code == 404
        # The content's SHA-256 would still confirm that the person held a given document (a copy of a permit
        # is enough to compute it): it goes with the key, from the list, the table and the upload's stored answer.
        [listed] = (await c.get(f"/persons/{mum}/documents")).json()
        assert (listed["sha256"], listed["filename"], listed["kind"]) == (None, None, "residence_permit")
    digest = hashlib.sha256(pdf).hexdigest()
    async with intake.pool.acquire() as conn:
        for _ in ("at the erasure", "by migration intake-desk-2, for a person erased before"):
            assert await conn.fetchval("select count(*) from documents where sha256 is not null") == 0
            held = "select count(*) from idempotency_keys where response::text like $1"
            assert await conn.fetchval(held, f"%{digest}%") == 0
            await conn.execute("update documents set sha256 = $1", digest)  # as an erasure before it left them
            answer = "update idempotency_keys set response = response || jsonb_build_object('sha256', $1::text)"
            await conn.execute(answer + " where response ? 'document_id'", digest)
            assert await conn.fetchval(held, f"%{digest}%") == 1
            await conn.execute(dict(diary.MIGRATIONS)["intake-desk-2"])


async def test_a_partner_reads_only_its_own_cases_in_the_cartella_of_a_household_it_serves(
    intake: InProcessService,
    uid: str,
) -> None:
    """From an outside test at the desk: a household with a case of Aurora and a case of Borgo. Aurora's operator
    opened the cartella and read Borgo's case, its plan and its assessment (`GET /cases/{id}` refuses it). A partner
    now reads only its own cases, their plans, referrals and employment, in the lists and in the timeline; the
    city's staff still read both."""
    w = World(intake)
    f = await family(w, uid)
    theirs = w.id("c")
    await open_case(w, theirs, f["household_id"], B, "civic_engagement")
    await w.call(
        B,
        "POST",
        "/cases/assessments",
        {
            "case_id": theirs,
            "housing_situation": "homeless",
            "monthly_income_cents": 0,
            "employment_status": "unemployed",
            "assessed_on": str(clock.today()),
            "vulnerabilities_by_person": {f["mum"]: ["psychiatric_condition"]},
        },
    )
    await w.call(
        B, "POST", "/cases/plans", {"case_id": theirs, "plan_id": "plan-b", "objectives": ["language"],
                                    "agreed_on": str(clock.today())}
    )  # fmt: skip
    await w.call(
        B, "POST", "/employment", {"person_id": f["mum"], "case_id": theirs, "status": "training",
                                   "as_of": str(clock.today())}
    )  # fmt: skip
    async with intake.client(A) as c:
        r = await c.get(f"/persons/{f['mum']}/record")
    assert r.status_code == 200, r.text
    record = r.json()
    assert [case["case_id"] for case in record["cases"]] == [f["case_id"]]
    assert theirs not in r.text and B not in r.text and "plan-b" not in r.text, r.text
    assert "psychiatric_condition" not in r.text and "homeless" not in r.text
    assert record["employment"] == []
    async with intake.client(B) as c:
        r = await c.get(f"/persons/{f['mum']}/record")
    assert [case["case_id"] for case in r.json()["cases"]] == [theirs]
    assert f["case_id"] not in r.text and "plan-1" not in r.text, r.text
    async with intake.client(STAFF) as c:
        r = await c.get(f"/persons/{f['mum']}/record")
    assert {case["case_id"] for case in r.json()["cases"]} == {f["case_id"], theirs}
    assert [e["status"] for e in r.json()["employment"]] == ["training"]


async def test_the_timeline_keeps_every_consent_recorded_not_only_the_last(intake: InProcessService, uid: str) -> None:
    """An outside tester withdrew the sharing consent: the timeline then showed only the withdrawal, the grant it
    replaced gone from the person's history (the consents table keeps one row per purpose, the current one)."""
    w = World(intake)
    f = await family(w, uid)  # the sharing consent given today
    later = str(clock.today())
    withdrawn = {"person_id": f["son"], "purpose": "partner_sharing", "granted": False, "recorded_on": later}
    await w.call(STAFF, "POST", "/consents", withdrawn)
    async with intake.client(STAFF) as c:
        record = (await c.get(f"/persons/{f['son']}/record")).json()
    sharing = [
        t["granted"]
        for t in record["timeline"]
        if t["kind"] == "consent_recorded" and t["purpose"] == "partner_sharing"
    ]
    assert sharing == [True, False], record["timeline"]
    assert [c["granted"] for c in record["consents"] if c["purpose"] == "partner_sharing"] == [False]  # the state now


async def test_an_erased_members_vulnerabilities_are_not_in_anyones_cartella(
    intake: InProcessService, uid: str
) -> None:
    """A DPO's review: after the mother was erased, her son's cartella still gave her vulnerabilities (the desk
    showed them as "(non visibile per lei)"). An erased member is marked erased in the household and nothing of
    their vulnerabilities is given, to staff either; the household's list is what the others' make."""
    w = World(intake)
    f = await family(w, uid)
    mum, son = f["mum"], f["son"]
    await assess_both(w, f)
    await w.call(STAFF, "POST", f"/persons/{mum}/erasure")
    for reader in (STAFF, A):
        async with intake.client(reader) as c:
            r = await c.get(f"/persons/{son}/record")
        assert r.status_code == 200, r.text
        [case] = r.json()["cases"]
        assert case["assessment"]["vulnerabilities_by_person"] == {son: ["single_parent"]}, reader
        assert case["assessment"]["vulnerabilities"] == ["single_parent"], reader
        assert "psychiatric_condition" not in r.text, reader
        members = {m["person_id"]: m for m in r.json()["households"][0]["members"]}
        assert members[mum]["erased"] is True and members[mum]["name"] is None, reader
        assert members[son]["erased"] is False, reader


async def test_a_search_by_another_partys_case_is_refused_as_reading_the_case_is(
    intake: InProcessService, uid: str
) -> None:
    """A DPO's review: a search by the case number of another cooperative's case (or another city's) answered
    `200 []`, where `GET /cases/{id}` refused it: the two now agree, 404 `case_id` as for a case nobody has (a 403
    told another city's staff, and another partner, that the case exists), as the API's convention says
    (docs/partners.md)."""
    w = World(intake)
    f = await family(w, uid)
    for actor, status in ((B, 404), (TRIESTE, 404)):
        async with intake.client(actor) as c:
            posted = await c.post("/persons/search", json={"case_id": f["case_id"]})
            got = await c.get("/persons", params={"case_id": f["case_id"]})
            case = await c.get(f"/cases/{f['case_id']}")
        assert case.status_code == status, actor
        assert (posted.status_code, posted.json()["field"]) == (status, "case_id"), (actor, posted.text)
        assert (got.status_code, got.json()["field"]) == (status, "query.case_id"), (actor, got.text)
    async with intake.client(A) as c:
        unknown = await c.post("/persons/search", json={"case_id": "c-nobodys"})
    assert (unknown.status_code, unknown.json()["field"]) == (404, "case_id"), unknown.text
    assert set(await found(intake, A, case_id=f["case_id"])) == {f["mum"], f["son"]}  # its own: as before


async def rows_of(intake: InProcessService, *ids: str) -> str:
    """Every row of intake's tables that names one of these ids, as JSON text (what a copy of the database holds)."""
    async with intake.pool.acquire() as conn:
        rows = (await everything_in(conn)).splitlines()
    return "\n".join(row for row in rows if any(i in row for i in ids))


# Own service: it puts rows back as a release before left them and runs a migration over the whole schema.
@pytest.mark.own_service
async def test_after_erasure_intakes_tables_hold_none_of_the_persons_special_category_data(
    intake: InProcessService,
    uid: str,
) -> None:
    """A DPO's review of the database, not of the answers: after the mother's erasure the stored needs assessment
    still held `{"<her id>": ["psychiatric_condition"]}` (only the cartella filtered it out), her employment rows
    said `employed_fixed_term`, and so did the stored answer of her employment report. Now her vulnerabilities,
    employment and stored answers' details go from the tables; her son's assessment stays. Once nobody of the
    household is left, the assessment itself goes (income, eviction, specialist support: all about them)."""
    w = World(intake)
    f = await family(w, uid)
    mum, son = f["mum"], f["son"]
    await assess_both(w, f)
    job = {"person_id": mum, "case_id": f["case_id"], "status": "employed_fixed_term", "as_of": str(clock.today())}
    await w.call(A, "POST", "/employment", job)
    assessment = "select body from assessments where case_id = $1"
    async with intake.pool.acquire() as conn:
        as_assessed = await conn.fetchval(assessment, f["case_id"])
    await w.call(STAFF, "POST", f"/persons/{mum}/erasure")
    for _ in ("at the erasure", "by migration intake-8, for a person erased before"):
        left = await rows_of(intake, mum, f["case_id"])
        assert "psychiatric_condition" not in left, left
        assert "employed_fixed_term" not in left, left
        async with intake.pool.acquire() as conn:
            body = await conn.fetchval(assessment, f["case_id"])
            assert await conn.fetchval("select count(*) from employment where person_id = $1", mum) == 0
            # as before this release, then the migration
            await conn.execute("update assessments set body = $2 where case_id = $1", f["case_id"], as_assessed)
            await conn.execute(
                "insert into employment values ($1, $2, $3, $4)", mum, clock.today(), job["status"], f["case_id"]
            )
            await conn.execute(
                "update idempotency_keys set response = response || $2::jsonb"
                " where response->>'person_id' = $1 and key not like 'transition:%'",
                mum, {"status": job["status"]},
            )  # fmt: skip
            await conn.execute(dict(schema.MIGRATIONS)["intake-8"])
        assert body["vulnerabilities_by_person"] == {son: ["single_parent"]}
        assert body["vulnerabilities"] == ["single_parent"]
    async with intake.client(STAFF) as c:
        [case] = (await c.get(f"/persons/{son}/record")).json()["cases"]
    assert case["assessment"]["vulnerabilities_by_person"] == {son: ["single_parent"]}
    await w.call(STAFF, "POST", f"/persons/{son}/erasure")
    left = await rows_of(intake, mum, son, f["case_id"])
    assert "single_parent" not in left and "40000" not in left, left
    async with intake.pool.acquire() as conn:
        assert await conn.fetchval("select count(*) from assessments where case_id = $1", f["case_id"]) == 0
        await conn.execute("insert into assessments values ($1, $2, $3)", f["case_id"], as_assessed, clock.today())
        await conn.execute(dict(schema.MIGRATIONS)["intake-8"])  # the same for a household erased before
        assert await conn.fetchval("select count(*) from assessments where case_id = $1", f["case_id"]) == 0


async def test_no_vulnerability_is_recorded_again_for_an_erased_member(intake: InProcessService, uid: str) -> None:
    """After the mother's erasure, a partner's new assessment of the household could still give her vulnerabilities
    (`vulnerabilities_by_person` accepted every member on the date): intake stored them again and published them on
    `intake.special`. An erased member's are refused, naming her entry, as her employment and consents are."""
    w = World(intake)
    f = await family(w, uid)
    await w.call(STAFF, "POST", f"/persons/{f['mum']}/erasure")
    body = {"case_id": f["case_id"], "housing_situation": "precarious", "monthly_income_cents": 40_000,
            "employment_status": "unemployed", "assessed_on": str(clock.today()),
            "vulnerabilities_by_person": {f["mum"]: ["psychiatric_condition"], f["son"]: ["single_parent"]},
            }  # fmt: skip
    async with intake.client(A) as c:
        r = await c.post("/cases/assessments", json=body, headers={"Idempotency-Key": w.id("k")})
    assert r.status_code == 409, r.text
    assert r.json()["field"] == f"vulnerabilities_by_person.{f['mum']}" and "erased" in r.json()["reason"], r.text
    del body["vulnerabilities_by_person"][f["mum"]]  # the others' are recorded as before
    await w.call(A, "POST", "/cases/assessments", body)


async def test_several_persons_are_read_by_their_ids_in_one_search_within_what_the_caller_may_read(
    intake: InProcessService,
    uid: str,
) -> None:
    """The desk's agenda and civic register named each person with one GET /persons/{id} per person per view (30
    appointments: 30 calls, 30 reads logged). `POST /persons/search` with `person_ids` answers those of them the caller
    may read, in one call; the others (another city's, another cooperative's, nobody's) are left out."""
    w = World(intake)
    f = await family(w, uid)
    other = w.id("p")
    body = {"person_id": other, "birth_date": "1970-01-01", "sex": "male", "nationality": "AL"}
    await w.call(TRIESTE, "POST", "/persons", body | {"identity": {"family_name": "Bianchi"}})
    ids = [f["mum"], f["son"], other, "p-nobodys", f["mum"]]
    async with intake.client(STAFF) as c:
        staff = await c.post("/persons/search", json={"person_ids": ids})
        too_many = await c.post("/persons/search", json={"person_ids": [f"p-{i}" for i in range(101)]})
    async with intake.client(A) as c:
        partner = await c.post("/persons/search", json={"person_ids": ids})
    async with intake.client(B) as c:
        another = await c.post("/persons/search", json={"person_ids": ids})
    assert staff.status_code == 200, staff.text
    assert [p["person_id"] for p in staff.json()] == [f["mum"], f["son"]], staff.json()
    assert staff.json()[0]["identity"]["family_name"] == "N'Diaye"
    assert [p["person_id"] for p in partner.json()] == [f["mum"], f["son"]]
    assert another.status_code == 200 and another.json() == []
    assert too_many.status_code == 422 and too_many.json()["field"] == "person_ids", too_many.text


async def test_a_search_by_case_says_which_person_is_the_households_reference(
    intake: InProcessService, uid: str
) -> None:
    """The desk names a household by its reference person (its housing and approvals pages): knowing no more than the
    members a search by the case gives, it read a whole cartella of the first member (her vulnerabilities, documents,
    timeline) for one name, and logged that member's view — not the reference person's, whose name it showed. A search
    by a case number now says which person found is the household's reference (`household_reference`); other
    searches say nothing of it."""
    w = World(intake)
    f = await family(w, uid)
    async with intake.client(A) as c:
        by_case = await c.post("/persons/search", json={"case_id": f["case_id"]})
        by_name = await c.post("/persons/search", json={"name": "Élodie N'Diaye"})
    assert by_case.status_code == 200, by_case.text
    assert {p["person_id"]: p["household_reference"] for p in by_case.json()} == {f["mum"]: True, f["son"]: False}
    assert by_name.status_code == 200 and by_name.json(), by_name.text
    assert {p.get("household_reference") for p in by_name.json()} == {None}, by_name.text


async def test_a_member_shown_without_a_name_keeps_her_birth_date(intake: InProcessService, uid: str) -> None:
    """A person taken in charge before her name is known (from the street) is shown to the reader like any member:
    her birth date was left out with the name she does not have, as for a member the reader may not see."""
    w = World(intake)
    mum, son, hid = w.id("p"), w.id("p"), w.id("h")
    await w.call(A, "POST", "/persons", {"person_id": mum, "birth_date": "1980-01-01", "sex": "female",
                                         "nationality": "MA"})  # fmt: skip
    await w.call(A, "POST", "/persons", {"person_id": son, "birth_date": "2015-05-05", "sex": "male",
                                         "nationality": "MA", "identity": {"given_name": "Karim"}})  # fmt: skip
    await w.call(A, "POST", "/households", {"household_id": hid, "reference_person_id": mum, "member_ids": [mum, son]})
    members = await members_read_by(intake, STAFF, son)
    assert (members[mum]["name"], members[mum]["birth_date"], members[mum]["sex"]) == (None, "1980-01-01", "female")


async def test_each_household_of_the_cartella_says_whether_the_reader_may_change_its_members(
    intake: InProcessService, uid: str
) -> None:
    """The desk offered a household's forms (members, reference person, referrals) to the city's staff and the
    cooperative of its open case only: the cooperative that formed a household with no case on it yet was offered
    nothing, though intake lets it act (`access.may_act_on_household`), and the desk cannot tell (a partner's
    cartella shows only its own cases). Each household now says it, by intake's own rule, for the reader."""
    w = World(intake)
    f = await family(w, uid)  # Aurora's household, with Aurora's open case
    formed = w.id("h")  # Aurora forms another household with the mother: no case on it yet
    await w.call(A, "POST", "/households", {"household_id": formed, "reference_person_id": f["mum"],
                                           "member_ids": [f["mum"]]})  # fmt: skip

    async def may_change(actor: str) -> dict[str, bool]:
        async with intake.client(actor) as c:
            r = await c.get(f"/persons/{f['mum']}/record")
        assert r.status_code == 200, r.text
        return {h["household_id"]: h["may_change_members"] for h in r.json()["households"]}

    assert await may_change(A) == {f["household_id"]: True, formed: True}
    assert await may_change(STAFF) == {f["household_id"]: True, formed: True}
    # the city assigns the formed household's case to Borgo: Aurora may no longer act on it (intake refuses it)
    await open_case(w, w.id("c"), formed, B, "civic_engagement")
    assert await may_change(A) == {f["household_id"]: True, formed: False}
    assert await may_change(B) == {f["household_id"]: False, formed: True}
    assert (
        await w.call(
            A,
            "POST",
            "/households/members",
            {
                "household_id": formed,
                "person_id": f["son"],
                "change": "joined",
                "reason": "cohabitation",
                "on": str(clock.today()),
            },
            ok=499,
        )
    )["status"] == 403
