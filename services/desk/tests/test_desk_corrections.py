"""The cartella's correcting forms (an outside test as a social worker): a form meant to correct opens with what is on
file and sends only what the operator changed; a household's members of the same name are told apart; every field of
a person's registration is corrected from the cartella, an emptied optional field removed, one that cannot be
emptied refused at its field. Service-layer units (a form in, the body out) and pages (the desk in process, the
services played by the test, axe-core in Chromium)."""

from __future__ import annotations

import sys
from datetime import date
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from lgnet_desk.service_layer import cartella_forms
from lgnet_desk.service_layer.desk import FieldErrors
from lgnet_shared import clock

sys.path.insert(0, str(Path(__file__).parent))
from test_desk_pages import MARIA, Desk, a_record, axe_problems, desk, keeping, serve_the_cartella, text_of

__all__ = ["desk"]  # the fixture, used by name

CASE = "c-8e2b7d41a9f0"
ASSESSED = {"case_id": CASE, "household_id": "h-5f1c0a9e7b2d", "housing_situation": "reception_project",
            "monthly_income_cents": 120_050, "employment_status": "unemployed", "assessed_on": "2026-11-20",
            "vulnerabilities_by_person": {"p-1": ["woman_social_emergency"]},
            "vulnerabilities": ["woman_social_emergency"]}  # fmt: skip


def sent_form(form: dict[str, str], **more: Any) -> cartella_forms.Sent:
    """A cartella form as its route gives it to the service layer: the person p-1, today 3 December 2026."""
    return cartella_forms.Sent("p-1", {"form_key": "f" * 22} | form, date(2026, 12, 3), **more)


def assessed_record(today: str) -> dict[str, Any]:
    """`a_record` with its case assessed, and two members named Jamila Okafor (a girl and her mother) besides Amina."""
    record = a_record(today, today)
    record["cases"][0]["assessment"] = ASSESSED
    [household] = record["households"]
    household["members"] += [
        {"person_id": "p-2", "name": "Jamila Okafor", "birth_date": "2018-03-03", "sex": "female",
         "joined_on": today, "left_on": None, "reason": "birth"},
        {"person_id": "p-3", "name": "Jamila Okafor", "birth_date": "1970-05-21", "sex": "female",
         "joined_on": today, "left_on": None, "reason": "joined"},
    ]  # fmt: skip
    return record


async def opened(desk: Desk, record: dict[str, Any], **answers: Any) -> str:
    """The cartella of p-1 as Maria opens it in Italian, intake's record `record`, the services' calls of `answers`
    ({path: answer}) answered so."""
    today = clock.today().isoformat()
    serve_the_cartella(desk.services, today, today)
    desk.services.answers[("intake", "GET", "/persons/p-1/record")] = record
    for key, answer in answers.items():
        method, path = key.split(" ", 1)
        desk.services.answers[("intake", method, path)] = answer
    await desk.as_operator(MARIA)
    return (await desk.client.get("/persons/p-1?lang=it")).text


# --- 1. the assessment opens with what is on file ------------------------------------------------------------------


def test_the_assessment_form_opens_with_the_cases_assessment_on_file() -> None:
    """What the assessment's form opens with (the service layer, from intake's cartella): every field of the
    assessment on file of the case it writes to, each member's vulnerabilities ticked, the income as typed in Italy;
    sent with only the income changed, the body keeps the rest (the vulnerability was silently erased)."""
    record = assessed_record("2026-12-03")
    form, picked = cartella_forms.assessment_on_file(record)
    assert form == {"case_id": CASE, "housing_situation": "reception_project", "monthly_income": "1.200,50",
                    "employment_status": "unemployed"}  # fmt: skip
    assert picked == {"vulnerabilities.p-1": ["woman_social_emergency"]}
    corrected = form | {"monthly_income": "1.300,00", "assessed_on": "2026-12-03"}
    body = cartella_forms.assessment(sent_form(corrected, every=picked)).body
    assert body["vulnerabilities_by_person"] == {"p-1": ["woman_social_emergency"]}
    assert (body["monthly_income_cents"], body["housing_situation"]) == (130_000, "reception_project")


def test_an_assessment_form_opens_empty_where_there_is_none_or_the_case_is_to_be_chosen() -> None:
    """No assessment yet: nothing to open with but its case. Several open cases: the form cannot know which case's
    assessment the operator corrects before she chooses it (no script), unless she chose it (`?assessment_of=` the
    case): then that case's, the case chosen."""
    record = a_record("2026-12-03", "2026-11-01")
    assert cartella_forms.assessment_on_file(record) == ({"case_id": CASE}, {})
    record = assessed_record("2026-12-03")
    other = record["cases"][0] | {"case_id": "c-2", "assessment": None}
    record["cases"].append(other)
    assert cartella_forms.assessment_on_file(record) == ({}, {})
    form, picked = cartella_forms.assessment_on_file(record, CASE)
    assert form["case_id"] == CASE and picked == {"vulnerabilities.p-1": ["woman_social_emergency"]}
    assert cartella_forms.assessment_on_file(record, "c-2") == ({"case_id": "c-2"}, {})
    assert cartella_forms.assessment_on_file(record, "c-closed-or-unknown") == ({}, {})


class FormReader(HTMLParser):
    """The fields of the form posting to `action` as a browser sends them: inputs with their values (a box only
    ticked), each select's selected option."""

    def __init__(self, action: str) -> None:
        super().__init__()
        self.action, self.inside, self.select = action, False, ""
        self.fields: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.inside = a.get("action") == self.action
        elif not self.inside or "name" not in a or "disabled" in a:
            if tag == "option" and self.inside and self.select and "selected" in a:
                self.fields.append((self.select, a.get("value", "")))
            return
        elif tag == "input" and (a.get("type") != "checkbox" or "checked" in a):
            self.fields.append((a["name"], a.get("value", "on" if a.get("type") == "checkbox" else "")))
        elif tag == "select":
            self.select = a["name"]

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self.select = ""


def form_as_sent(html: str, action: str) -> list[tuple[str, str]]:
    reader = FormReader(action)
    reader.feed(html)
    return reader.fields


def as_data(html: str, action: str, **typed: str) -> dict[str, list[str]]:
    """The form posting to `action` as a browser sends it, with the fields of `typed` typed over."""
    data: dict[str, list[str]] = {}
    for name, value in form_as_sent(html, action):
        data.setdefault(name, []).append(value)
    return data | {name: [value] for name, value in typed.items()}


async def test_correcting_the_income_keeps_the_vulnerabilities_on_file(desk: Desk, browser: Any) -> None:
    """From an outside test: the assessment recorded (in a reception project, 1.200,50 €, Mariam a woman in social
    emergency), the form opened again to fix the income showed nothing of it; sent, the vulnerability was gone. It
    opens with the assessment on file now (the page passing axe-core), and sent with the income changed, intake gets
    the rest as it was."""
    sent: list[tuple[str, dict[str, Any]]] = []
    page = await opened(desk, assessed_record(clock.today().isoformat()), **{"POST /cases/assessments": keeping(sent)})
    fields = dict(form_as_sent(page, "/persons/p-1/assessments"))
    assert fields["monthly_income"] == "1.200,50" and fields["housing_situation"] == "reception_project", fields
    assert fields["employment_status"] == "unemployed" and fields["vulnerabilities.p-1"] == "woman_social_emergency"
    assert await axe_problems(desk, browser, {"cartella-assessed": page}) == []
    data = as_data(page, "/persons/p-1/assessments", monthly_income="1.250,00")
    r = await desk.client.post("/persons/p-1/assessments", data=data)
    assert r.status_code == 303, r.text
    [(_, body)] = sent
    assert body["vulnerabilities_by_person"] == {"p-1": ["woman_social_emergency"]}, body
    assert body["monthly_income_cents"] == 125_000 and body["housing_situation"] == "reception_project", body


async def test_with_two_open_cases_the_assessment_to_correct_is_chosen_by_its_case(desk: Desk) -> None:
    """Two open cases: the form cannot know before the case is chosen whose assessment it corrects (no script), so it
    opens empty with the case to choose, as before; under each open case a link opens it with that case's assessment,
    the case chosen. A case in the address that is not an open case of hers opens nothing."""
    record = assessed_record(clock.today().isoformat())
    record["cases"].append(record["cases"][0] | {"case_id": "c-2", "assessment": None, "action_area": "taking_charge"})
    page = await opened(desk, record)
    assert "vulnerabilities.p-1" not in dict(form_as_sent(page, "/persons/p-1/assessments"))
    assert f'href="/persons/p-1?assessment_of={CASE}#assessment-form"' in page, page
    assert "Correggi la valutazione dei bisogni di questa pratica" in text_of(page)
    page = (await desk.client.get(f"/persons/p-1?lang=it&assessment_of={CASE}")).text
    fields = dict(form_as_sent(page, "/persons/p-1/assessments"))
    assert fields["case_id"] == CASE and fields["vulnerabilities.p-1"] == "woman_social_emergency", fields
    page = (await desk.client.get("/persons/p-1?assessment_of=%3Cb%3Ec-9")).text
    assert "<b>c-9" not in page and "vulnerabilities.p-1" not in dict(form_as_sent(page, "/persons/p-1/assessments"))


# --- 2. members of the same name told apart ------------------------------------------------------------------------


async def test_two_members_of_the_same_name_are_told_apart_by_their_birth_date(desk: Desk) -> None:
    """Two household members named Jamila Okafor (a girl born in 2018 and her mother) had two identical legends
    "Vulnerabilità di Jamila Okafor": health data could be ticked for the wrong one. Each member is named with her
    birth date (and the reference person said) wherever the cartella names her for her data: the assessment's
    legends and what it recorded, the household's member lists."""
    record = assessed_record(clock.today().isoformat())
    record["cases"][0]["assessment"] = ASSESSED | {
        "vulnerabilities_by_person": {"p-2": ["victim_of_violence"], "p-3": ["psychiatric_condition"]}
    }
    text = text_of(await opened(desk, record))
    assert "Vulnerabilità di Jamila Okafor, nata il 3 mar 2018" in text, text
    assert "Vulnerabilità di Jamila Okafor, nata il 21 mag 1970" in text, text
    assert "Vulnerabilità di Amina Okafor, nata il 14 mar 1985, persona di riferimento" in text, text
    assert text.count("Jamila Okafor, nata il 3 mar 2018") >= 3  # legend, what was recorded, the member lists
    english = text_of((await desk.client.get("/persons/p-1?lang=en")).text)
    assert "Vulnerabilities of Jamila Okafor, born on 3 Mar 2018" in english, english


# --- 3. every registration field corrected from the cartella ------------------------------------------------------

ON_FILE = {"given_name": "Mariam", "family_name": "Diallo", "birth_date": "1990-05-01", "sex": "female",
           "nationality": "Guinea", "fiscal_code": "", "phone": "+39 333 1234567", "address": "Via Roma 1, Torino",
           "languages": "francese", "literate": "yes"}  # fmt: skip


def details_form(**typed: str) -> dict[str, str]:
    """The details form as the cartella opens it (each field with what is on file, `was_<field>` what it showed),
    with `typed` typed over."""
    return ON_FILE | {f"was_{k}": v for k, v in ON_FILE.items()} | typed


def test_every_registration_field_is_corrected_and_only_what_changed_is_sent() -> None:
    """Name, surname, birth date, sex, nationality (typed by its name) and fiscal code were not on the form: a mistyped
    one could not be corrected at the desk. Each is sent when changed, and only then."""
    typed = {"given_name": "Mariama", "birth_date": "1990-05-11", "sex": "male", "nationality": "Mali",
             "fiscal_code": "DLLMRM90E51Z319X"}  # fmt: skip
    call = cartella_forms.details(sent_form(details_form(**typed)))
    assert call is not None and (call.method, call.path) == ("PATCH", "/persons/p-1")
    assert call.body == {"identity": {"given_name": "Mariama", "fiscal_code": "DLLMRM90E51Z319X"},
                         "birth_date": "1990-05-11", "sex": "male", "nationality": "ML"}  # fmt: skip
    for field in ("given_name", "family_name", "fiscal_code", "phone", "address"):
        assert call.fields[f"identity.{field}"] == field  # intake's refusal of one: at its field
    assert (call.fields["birth_date"], call.fields["nationality"]) == ("birth_date", "nationality")
    assert cartella_forms.details(sent_form(details_form())) is None  # nothing changed: nothing sent


def test_an_emptied_phone_or_address_is_cleared_and_a_field_that_cannot_be_emptied_is_refused() -> None:
    """The phone emptied said "Dati della persona registrati." and stayed: an emptied phone or address is cleared
    (intake's `clear`); a name, a birth date, a sex or a nationality on file emptied is refused at its field, all at
    once, nothing sent."""
    call = cartella_forms.details(sent_form(details_form(phone="")))
    assert call is not None and call.body == {"clear": ["identity.phone"]}, call
    call = cartella_forms.details(sent_form(details_form(phone="+39 347 7654321", address="")))
    assert call is not None and call.body == {"identity": {"phone": "+39 347 7654321"}, "clear": ["identity.address"]}
    emptied = {k: "" for k in ("given_name", "family_name", "birth_date", "sex", "nationality")}
    on_file = details_form(**emptied) | {"was_fiscal_code": "DLLMRM90E41Z319T", "fiscal_code": ""}
    with pytest.raises(FieldErrors) as refused:
        cartella_forms.details(sent_form(on_file))
    assert refused.value.errors == {k: cartella_forms.CANNOT_BE_EMPTIED for k in emptied}


def test_an_emptied_fiscal_code_is_removed_and_literacy_goes_back_to_not_recorded() -> None:
    """From the desk: a fiscal code typed by mistake for a person who has none could not be removed ("non si può
    lasciare vuoto"), and literacy once recorded could not go back to unknown. Emptied, the fiscal code is cleared
    (intake's `clear`); "Non indicata" (the empty choice) clears the literacy on file."""
    on_file = details_form() | {"was_fiscal_code": "DLLMRM90E41Z319T", "fiscal_code": "DLLMRM90E41Z319T"}
    call = cartella_forms.details(sent_form(on_file | {"fiscal_code": ""}))
    assert call is not None and call.body == {"clear": ["identity.fiscal_code"]}, call
    call = cartella_forms.details(sent_form(on_file | {"literate": "", "phone": ""}))
    assert call is not None and call.body == {"clear": ["identity.phone", "literate"]}, call
    assert call.fields["clear"] == "phone" and call.fields["literate"] == "literate"
    assert cartella_forms.details(sent_form(details_form(was_literate="", literate=""))) is None  # none on file
    with pytest.raises(FieldErrors) as refused:
        cartella_forms.details(sent_form(details_form(nationality="Atlantide")))
    assert list(refused.value.errors) == ["nationality"]


async def test_the_persons_data_are_corrected_at_the_cartella_and_an_emptied_phone_removed(
    desk: Desk, browser: Any
) -> None:
    """From an outside test: "Completa o correggi recapiti…" had only phone, address, languages and literacy, and the
    phone emptied said "Dati della persona registrati." while it stayed. The form opens with every field of her
    registration as on file (the page passing axe-core); the phone emptied is cleared; a name emptied is refused at
    its field in Italian, nothing sent, never a success."""
    today = clock.today().isoformat()
    record = a_record(today, today)
    record["person"] |= {"languages": ["fr"], "literate": True}
    record["person"]["identity"] |= {"phone": "+39 333 1234567", "address": "Via Roma 1, Torino"}
    sent: list[tuple[str, dict[str, Any]]] = []
    page = await opened(desk, record, **{"PATCH /persons/p-1": keeping(sent, 200)})
    fields = dict(form_as_sent(page, "/persons/p-1/details"))
    assert {k: fields[k] for k in ("given_name", "family_name", "birth_date", "sex", "nationality", "phone")} == {
        "given_name": "Amina", "family_name": "Okafor", "birth_date": "14/03/1985", "sex": "female",
        "nationality": "Nigeria", "phone": "+39 333 1234567"}, fields  # fmt: skip
    r = await desk.client.post("/persons/p-1/details", data=as_data(page, "/persons/p-1/details", phone=""))
    assert r.status_code == 303, r.text
    assert sent == [(sent[0][0], {"clear": ["identity.phone"]})], sent
    r = await desk.client.post("/persons/p-1/details", data=as_data(page, "/persons/p-1/details", given_name=""))
    assert r.status_code == 422 and len(sent) == 1, r.text
    assert 'id="given_name-error">non si può lasciare vuoto' in r.text, r.text
    assert await axe_problems(desk, browser, {"cartella-details-refused": r.text}) == []
    english = (await desk.client.get("/persons/p-1?lang=en")).text
    assert "Correct the person's data" in text_of(english)


async def test_the_details_form_removes_a_fiscal_code_and_offers_literacy_not_recorded(
    desk: Desk, browser: Any
) -> None:
    """The details form offers "Non indicata" for literacy (it offered "— scelga —", refused once literacy was on
    file) and says the fiscal code is removed when emptied; both are sent as intake's `clear` (the page passing
    axe-core)."""
    record = a_record(clock.today().isoformat(), clock.today().isoformat())
    record["person"] |= {"literate": True}
    record["person"]["identity"] |= {"fiscal_code": "KNKMNA85C54Z335S"}
    sent: list[tuple[str, dict[str, Any]]] = []
    page = await opened(desk, record, **{"PATCH /persons/p-1": keeping(sent, 200)})
    said = text_of(page)
    assert "Codice fiscale (facoltativo: se lasciato vuoto, viene cancellato)" in said, said
    assert '<option value="">Non indicata</option>' in page, page
    assert await axe_problems(desk, browser, {"cartella-details-literacy": page}) == []
    r = await desk.client.post(
        "/persons/p-1/details", data=as_data(page, "/persons/p-1/details", fiscal_code="", literate="")
    )
    assert r.status_code == 303, r.text
    assert [body for _, body in sent] == [{"clear": ["identity.fiscal_code", "literate"]}], sent
    english = text_of((await desk.client.get("/persons/p-1?lang=en")).text)
    assert "Fiscal code (optional: emptied, it is removed)" in english and "Not recorded" in english, english
