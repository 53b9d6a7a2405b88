"""The desk's pure rules: lock-out, the operator's identity on the services, amounts typed the Italian way, the
catalogues (every message has its Italian text), Italian formats and labels."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import secrets
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from babel.messages.pofile import read_po
from lgnet_desk.adapters.services import ServiceRefusal, Services
from lgnet_desk.domain import countries, days, erasure, fiscal_codes
from lgnet_desk.domain.money import cents_of
from lgnet_desk.domain.operators import (
    LockoutPolicy,
    Operator,
    OperatorRole,
    check_new_operator,
    check_password,
    codes_named,
    drawn,
    new_operator_code,
    new_staff_actor,
)
from lgnet_desk.domain.persons import name_words
from lgnet_desk.domain.refusals import ITALIAN, NOT_A_DAY, say
from lgnet_desk.entrypoints import i18n
from lgnet_desk.service_layer.desk import (
    ALREADY_ON_FILE,
    SAME_NAME_ON_FILE,
    FieldErrors,
    member_body,
    new_id,
    register_household,
    todo,
)
from lgnet_shared import vocabulary
from lgnet_shared.phones import PHONE_REASON
from lgnet_shared.pseudonymous import check_pseudonymous_id

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def test_the_fifth_wrong_password_from_an_address_locks_it_out_of_the_account_and_many_lock_the_address() -> None:
    policy = LockoutPolicy(5, timedelta(minutes=15), client_max_failures=20)
    assert not policy.account_locked(4) and policy.account_locked(5)
    assert not policy.client_throttled(19) and policy.client_throttled(20)
    assert policy.since(NOW) == NOW - timedelta(minutes=15)  # counted over the last 15 minutes


def test_each_operator_acts_on_the_services_with_the_right_identity() -> None:
    # a staff operator's own actor, as the desk stored it (`desk.<username>` for one added before migration desk-7)
    assert Operator("maria", "M", OperatorRole.STAFF, "torino", None, "desk.op-5e1f0a9b2c7d").service_actor == (
        "desk.op-5e1f0a9b2c7d"
    )
    assert Operator("maria", "M", OperatorRole.STAFF, "torino", None, "desk.maria").service_actor == "desk.maria"
    assert Operator("luca", "L", OperatorRole.PARTNER, "torino", "coop-aurora").service_actor == "coop-aurora"
    dpo = Operator("rpd", "R", OperatorRole.DPO, "torino", None)
    assert dpo.service_actor is None
    assert dpo.reads_access_log
    with pytest.raises(ValueError, match="partner"):
        check_new_operator(OperatorRole.PARTNER, None)
    # A staff operator's username is written in the desk's logs and access log (intake gets her code): no e-mail
    # address in it.
    with pytest.raises(ValueError, match=r"^username: holds an e-mail address"):
        check_new_operator(OperatorRole.STAFF, None, "maria.bianchi@comune.torino.it")
    check_new_operator(OperatorRole.STAFF, None, "mbianchi")
    check_new_operator(OperatorRole.DPO, None, "rpd@comune.torino.it")  # acts on no service: her own business
    with pytest.raises(ValueError, match="password"):
        check_password("corta")


def test_a_new_staff_operators_actor_is_opaque_and_says_nothing_of_her() -> None:
    """A staff operator acted on the services as `desk.<username>`, and a username is usually her name
    (`maria.bianchi`): it travelled in clear in every fact she caused, for ever. The desk now draws her actor when she
    is added: `desk.op-` and 12 random hex digits, nothing of her username, and an identifier `add_actor` admits."""
    drawn = [new_staff_actor(secrets.token_hex) for _ in range(50)]
    assert all(re.fullmatch(r"desk\.op-[0-9a-f]{12}", a) for a in drawn), drawn
    assert len(set(drawn)) == len(drawn)  # two staff are two actors (payments' four-eyes rule)
    for actor in drawn:
        check_pseudonymous_id(actor, "actor_id")
    # A draw that would look like a phone number is drawn again: the id is never refused by the services.
    draws = iter(["3471234567", "5e1f0a9b2c7d"])
    assert new_staff_actor(lambda n: next(draws)) == "desk.op-5e1f0a9b2c7d"


def test_a_new_operators_code_is_drawn_for_whoever_keeps_an_agenda_and_says_nothing_of_her() -> None:
    """A review: the desk sent an operator's username (`maria.bianchi`) as an appointment's operator and an outing's
    staff, in clear in intake's facts for ever. Every operator who keeps an agenda (staff, a cooperative's operators:
    they share the cooperative's actor) gets a code drawn by the desk, `op-` and 12 random hex digits, by the same
    drawing as a staff actor; the DPO keeps no agenda and gets none."""
    codes = [new_operator_code(secrets.token_hex) for _ in range(50)]
    assert all(re.fullmatch(r"op-[0-9a-f]{12}", c) for c in codes) and len(set(codes)) == len(codes), codes
    for code in codes:
        check_pseudonymous_id(code, "operator")
    draws = iter(["3471234567", "0a0b0c0d0e0f"])  # a phone number's shape: drawn again
    assert new_operator_code(lambda n: next(draws)) == "op-0a0b0c0d0e0f"
    staff = drawn(Operator("maria.bianchi", "M", OperatorRole.STAFF, "torino", None), secrets.token_hex)
    partner = drawn(Operator("luca.verdi", "L", OperatorRole.PARTNER, "torino", "coop-aurora"), secrets.token_hex)
    dpo = drawn(Operator("rpd", "R", OperatorRole.DPO, "torino", None), secrets.token_hex)
    assert staff.code and staff.actor and staff.code != staff.actor.removeprefix("desk.")
    assert partner.code and partner.actor is None and partner.service_actor == "coop-aurora"
    assert (dpo.code, dpo.actor) == (None, None)
    # a refusal naming a drawn code says her name; an old code (a username), an unknown one, an actor id as they are
    names = {"op-0a0b0c0d0e0f": "Maria Bianchi", "maria": "Maria Rossi"}
    assert (
        codes_named("operator op-0a0b0c0d0e0f is already booked", names) == "operator Maria Bianchi is already booked"
    )
    for kept in ("operator maria is already booked", "operator op-ffffffffffff", "desk.op-0a0b0c0d0e0f"):
        assert codes_named(kept, names) == kept


@pytest.mark.parametrize(
    ("typed", "cents"),
    [
        ("450", 45000),
        ("450,5", 45050),
        ("1.234,56", 123456),
        ("1234.56", 123456),
        ("600 €", 60000),
        # Thousands grouped with a dot and no decimals, as Italians write a lease-activation grant: 1.500 € (it was
        # read as 1 euro and three decimals, and refused).
        ("1.500", 150000),
        ("12.345.678", 1234567800),
        ("1.500,00\xa0€", 150000),
        ("450.5", 45050),
    ],
)
def test_amounts_are_read_as_typed_in_italy(typed: str, cents: int) -> None:
    assert cents_of(typed) == cents


def test_a_wrong_amount_is_passed_on_for_the_service_to_name_the_field() -> None:
    assert cents_of("dieci") == "dieci"
    assert cents_of("1,234") == "1,234"
    assert cents_of("1.50.000") == "1.50.000"  # not groups of three
    assert cents_of("1.500.50") == "1.500.50"  # grouped with dots, so the decimals need a comma


def test_every_message_has_its_italian_text() -> None:
    po = resources.files("lgnet_desk").joinpath("locale/it/LC_MESSAGES/desk.po")
    with po.open("rb") as f:
        catalog = read_po(f, locale="it")
    # a plural's Italian texts are a tuple: each form must be there (a tuple of empty strings is not empty)
    missing = [
        m.id for m in catalog if m.id and not (all(m.string) if isinstance(m.string, tuple | list) else m.string)
    ]
    assert missing == []
    assert i18n.translations("it").gettext("Find a person") == "Cerca una persona"
    assert i18n.translations("en").gettext("Find a person") == "Find a person"


# docs/desk.md, "The desk's Italian": a word the desk does not use, and the one it uses for the same thing
NOT_THE_DESKS_WORD = [
    (r"\b[Vv]oucher\b", "buono"),
    (r"\b[Dd]ati bancari\b", "coordinate bancarie"),
    (r"\bsistema di identità\b", "gestore delle identità del Comune"),
    (r"\bpiano individuale\b", "progetto individuale"),
    (r"\blotto\b", "distinta"),
    (r"\bciclo di rimborsi\b", "rimborso"),
    (r"\beducazione finanziaria\b", "tutoraggio economico"),
    (r"\baltro ente\b(?! partner)", "un altro ente partner"),
    (r"\bintake\b", "presa in carico"),
    (r"\bapprovatore\b", "un altro operatore"),
    (r"(?<!su di )\blei\b", "Lei (the courtesy pronoun, capitalised; 'su di lei' is the person)"),
    (r"\bprocessa", "trattare, elaborare"),
]


def test_the_desks_italian_keeps_to_its_glossary() -> None:
    """No native speaker had read the desk: one thing had two names ("buono" and "voucher", "coordinate bancarie" and
    "dati bancari", "distinta" and "lotto di pagamenti"), and the courtesy "Lei" was written "lei" on some pages."""
    po = resources.files("lgnet_desk").joinpath("locale/it/LC_MESSAGES/desk.po")
    with po.open("rb") as f:
        catalog = read_po(f, locale="it")
    strings = [s for m in catalog if m.id for s in (m.string if isinstance(m.string, tuple | list) else [m.string])]
    texts = [s for s in strings if isinstance(s, str)]
    texts += [italian for _pattern, italian in ITALIAN]
    # The shared vocabulary's labels too: the desk shows them beside its own texts (a budget line's kind read
    # "Voucher: Trasporto pubblico" on a page that says "buono" everywhere else).
    texts += [vocabulary.list_label(n) for n in vocabulary.lists()]
    texts += [vocabulary.label(n, c) for n in vocabulary.lists() for c in vocabulary.codes(n)]
    off = [(text, better) for text in texts for word, better in NOT_THE_DESKS_WORD if re.search(word, text)]
    assert off == []


@pytest.mark.parametrize(
    ("lang", "one", "two"),
    [
        ("it", "1 posto", "2 posti"),
        ("en", "1 place", "2 places"),
    ],
)
def test_counts_say_their_noun_in_the_singular_for_one_and_the_plural_otherwise(lang: str, one: str, two: str) -> None:
    """A social worker read "1 posti": the catalogues have plural entries, Italian with two forms (n != 1)."""
    t = i18n.translations(lang)
    assert [t.ngettext("%(n)s place", "%(n)s places", n) % {"n": n} for n in (1, 2)] == [one, two]
    assert t.ngettext("%(n)s day after the first contact", "%(n)s days after the first contact", 0) % {"n": 0} == (
        "0 giorni dopo il primo contatto" if lang == "it" else "0 days after the first contact"
    )
    po = resources.files("lgnet_desk").joinpath(f"locale/{lang}/LC_MESSAGES/desk.po")
    with po.open("rb") as f:
        catalog = read_po(f, locale=lang)
    assert (catalog.num_plurals, catalog.plural_expr) == (2, "(n != 1)")
    plurals = [m.id[0] for m in catalog if m.pluralizable]
    for singular in ("%(n)s place", "%(n)s day after the first contact"):
        assert singular in plurals
    minute = "Too many failed attempts: the account is locked for %(minutes)d minute."
    assert minute in plurals
    locked = t.ngettext(minute, minute[:-1] + "s.", 1) % {"minutes": 1}
    assert locked.endswith("1 minuto." if lang == "it" else "1 minute.")


def test_dates_amounts_and_codes_in_italian_by_default() -> None:
    assert i18n.day(date(1985, 3, 14), "it") == "14 mar 1985"
    assert i18n.euros(123456, "it") == "1.234,56\xa0€"
    assert i18n.code("vulnerability", "woman_social_emergency", "it") == "Donna in emergenza sociale"
    assert i18n.code("plan_objective", "employment", "en") == "Employment"
    assert i18n.language("fr") == "it"


def test_times_are_romes_hours_and_minutes_with_seconds_only_in_the_access_log() -> None:
    at = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # 10:00 in Rome (winter time)
    assert i18n.moment(at, "it") == "2 mar 2026, 10:00"
    assert i18n.moment(at, "en") == "2 Mar 2026, 10:00"
    assert i18n.moment(datetime(2026, 7, 1, 22, 30, 5, tzinfo=UTC), "it", seconds=True) == "2 lug 2026, 00:30:05"
    assert i18n.time_of_day(at, "it") == "10:00"


def test_a_phone_that_is_no_phone_number_is_said_in_italian() -> None:
    """The phone's rule (`lgnet_shared.phones`: the desk's check and intake's) in the operator's language."""
    assert say(PHONE_REASON, "it") == (
        "non è un numero di telefono: cifre (da 6 a 15), un + iniziale facoltativo e tra le cifre spazi, trattini,"
        " punti o parentesi"
    )


def test_intakes_refusal_of_identifying_data_in_clear_is_said_in_italian() -> None:
    """Intake refuses a place, a title or an identifier holding a phone number, an e-mail address, a fiscal code or an
    IBAN (they travel in clear and are never erased): the desk's outing, civic and registration forms say it in
    Italian at the field."""
    reason = "holds a phone number: this text travels in clear and is never erased; name no person"
    assert say(reason, "it") == (
        "contiene un numero di telefono: questo testo viaggia in chiaro e non viene mai cancellato; non nomini nessuno"
    )
    reason = (
        "holds a fiscal code: identifiers travel in clear and are never erased; choose one that says nothing of the"
        " person (e.g. a UUID)"
    )
    assert say(reason, "it").startswith("contiene un codice fiscale: gli identificativi viaggiano in chiaro")


def test_each_refusal_is_in_the_table_once() -> None:
    """A reason listed twice is said by its first entry only: the second would be read as a place to change what the
    desk says, and change nothing (the last session's note: `no household (\\S+)` was there twice)."""
    patterns = [pattern for pattern, _ in ITALIAN]
    assert [p for p in dict.fromkeys(patterns) if patterns.count(p) > 1] == []


def test_intakes_refusals_of_a_change_of_reference_person_are_said_in_italian() -> None:
    """Each reason intake gives for a change of a household's reference person, and for the former one leaving."""
    for reason, italian in (
        ("is already the household's reference person", "è già la persona di riferimento del nucleo"),
        ("is not a member of the household: only a current member can be its reference person",
         "non fa parte del nucleo: solo un componente attuale può esserne la persona di riferimento"),
        ("is before the household's reference person now was named (2026-05-01)",
         "è precedente alla nomina dell'attuale persona di riferimento del nucleo (2026-05-01)"),
        ("is before another member was named the household's reference person in her place (2026-05-01)",
         "è precedente alla nomina di un altro componente come persona di riferimento al suo posto (2026-05-01)"),
        ("is the household's reference person and cannot leave it: the household would be left without one (name"
         " another member as reference person first, then she may leave)",
         "è la persona di riferimento del nucleo e non può uscirne: prima nomini un altro componente persona di"
         " riferimento"),
    ):  # fmt: skip
        assert say(reason, "it") == italian, reason


def test_the_services_refusals_are_said_in_italian_and_unknown_ones_shown_as_written() -> None:
    assert (
        say("the requester cannot approve their own request", "it") == "chi ha chiesto il contributo non può approvarlo"
    )
    assert (
        say("staff of trieste cannot act in torino", "it") == "chi opera per Trieste non può accedere ai dati di Torino"
    )
    assert say("over budget: 500 cents asked, 100 available on the line", "it").startswith("fondi insufficienti")
    assert say("a brand new rule", "it") == "a brand new rule"
    assert say("is in the future", "en") == "is in the future"


@pytest.mark.parametrize(
    "reason",
    [
        "must be 16 characters: 6 letters, 2 digits, a month letter (ABCDEHLMPRST), 2 digits, a birthplace code"
        " (a letter and 3 digits) and a check character (digits may be replaced by letters: omocodia)",
        "wrong check character (the 16th, computed from the first 15)",
        "birthplace code is not an Italian municipality or foreign country in force at the birth date",
        "is not a valid Italian fiscal code (the birth date it encodes is impossible)",
    ],
)
def test_every_fiscal_code_rule_of_intake_is_said_in_italian(reason: str) -> None:
    assert say(reason, "it").startswith("non è un codice fiscale valido")


@pytest.mark.parametrize(
    ("reason", "italian"),
    [  # what an outside test saw in English at the Italian desk
        ("has no letters or digits", "non contiene lettere né cifre"),
        ("String should match pattern '^[A-Z]{2}$'", "formato non valido"),
        ("String should have at least 16 characters", "almeno 16 caratteri"),
        ("Value error, must be an ISO 8601 date string, YYYY-MM-DD", NOT_A_DAY),
        ("must be an ISO 8601 date string, YYYY-MM-DD", NOT_A_DAY),  # as the services say it now
        ("no person p-nobody", "nessuna persona p-nobody"),
        (
            "request is approved, only a requested one can be approved",
            "la richiesta non è più in attesa di approvazione",
        ),
        ("no contribution request r-1", "nessuna richiesta di contributo r-1"),
        ("Input should be 'female', 'male' or 'other'", "scelga una delle voci proposte"),
        ("Value error, unknown vulnerability code 'bogus'; valid codes: homeless, ...", "voce sconosciuta «bogus»"),
        (
            "not a member of the case's household on assessed_on",
            "non fa parte del nucleo della pratica alla data della valutazione",
        ),
        ("2030-01-01 is in the future: a step is recorded once it has happened", "è nel futuro"),
        ("Input should be a valid boolean", "scelga sì o no"),
        (  # intake: a case opened before the programme (LGNET_INTAKE_EARLIEST_DATE) or before the person's birth
            "is before 2014-01-01, the earliest date of the programme",
            "è precedente al 2014-01-01, data di inizio del programma",
        ),
        (
            "is before the birth of the household's reference person",
            "è precedente alla nascita della persona di riferimento del nucleo",
        ),
        (  # housing: a placement of an accepted match the household no longer fits (a child joined meanwhile)
            "the household no longer fits the opportunity (capacity: 2 person(s) for 1 place(s)): decline the match",
            "il nucleo non rispetta più i requisiti dell'alloggio: rifiuti la proposta",
        ),
        (
            "the person's case is assigned to another partner",
            "la pratica della persona è assegnata a un altro ente partner",
        ),
        (  # intake: a transfer dated before the case's last one (a review found it shown in English)
            "is before the case's last transfer (2026-02-01)",
            "è precedente all'ultimo trasferimento della pratica (2026-02-01)",
        ),
        # every service's staff-only route, refused by role before the request is read (lgnet_shared.auth.Staff)
        ("this is for the city's staff", "solo il personale del Comune può farlo"),
    ],
)
def test_the_refusals_an_outside_test_saw_in_english_are_said_in_italian(reason: str, italian: str) -> None:
    assert say(reason, "it") == italian


async def test_the_to_do_list_sorts_longest_waiting_first_and_names_a_service_that_did_not_answer() -> None:
    reminders = {
        "housing/reminders": [
            {"kind": "match_stalled", "case_id": "c-2", "waiting_days": 16, "step": "proposed"},
            {"kind": "match_stalled", "case_id": "c-1", "waiting_days": 30, "step": "accepted"},
        ],
        "payments/reminders": [{"kind": "payee_refused", "case_id": "c-3", "waiting_days": 20, "reason": "ac04"}],
        "intake/appointments/reminders/open": [
            {
                "kind": "appointment_reminder_due",
                "case_id": None,
                "waiting_days": 1,
                "starts_at": "2026-03-01T23:30:00+00:00",
            },
        ],
    }
    urls = {"housing": "http://housing", "intake": "http://intake", "payments": "http://payments"}
    tokens = {"housing": "lgn_op", "intake": "lgn_op", "payments": "lgn_op"}

    def services(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == "Bearer lgn_op"
        return httpx.Response(200, json=reminders[request.url.host + request.url.path])

    async with httpx.AsyncClient(transport=httpx.MockTransport(services)) as client:
        items, unavailable = await todo(Services(urls, tokens, client))
        assert [i["case_id"] for i in items] == ["c-1", "c-3", "c-2", None] and unavailable == []
        assert [i["service"] for i in items] == ["housing", "payments", "housing", "intake"]
        assert items[3]["agenda_day"] == "2026-03-02"  # 00:30 in Rome: the agenda's day is the city's
        # an operator with no identity on a service (none on payments, say) has no reminders there: none missing
        no_payments = {k: v for k, v in tokens.items() if k != "payments"}
        assert [i["service"] for i in (await todo(Services(urls, no_payments, client)))[0]] == [
            "housing", "housing", "intake"]  # fmt: skip

    def housing_down(request: httpx.Request) -> httpx.Response:
        if request.url.host == "housing":
            raise httpx.ConnectError("refused")
        return httpx.Response(200, json=[])

    async with httpx.AsyncClient(transport=httpx.MockTransport(housing_down)) as client:
        assert await todo(Services(urls, tokens, client)) == ([], ["housing"])


@pytest.mark.parametrize(
    ("reason", "italian"),
    [
        ("household h-1 already exists", "il nucleo familiare h-1 esiste già"),
        ("case c-1 already exists", "la pratica c-1 esiste già"),
        ("referral r-1 already exists", "la segnalazione r-1 esiste già"),
        ("activity a-1 already exists", "l'attività a-1 esiste già"),
        ("session s-1 already exists", "l'incontro s-1 esiste già"),
        ("certificate k-1 already exists", "l'attestato k-1 esiste già"),
        (
            "cannot be used: choose another id (a new UUID)",
            "questo identificativo non si può usare: ne scelga un altro",
        ),
        ("is before the plan was agreed", "è precedente alla data in cui il progetto è stato concordato"),
    ],
)
def test_the_races_reviews_refusals_are_said_in_italian(reason: str, italian: str) -> None:
    """Two people at once (intake answers the second 409 instead of a 500 since the races' review)."""
    assert say(reason, "it") == italian


def test_intakes_refusal_of_what_names_a_closed_case_is_said_in_italian() -> None:
    """A closed case takes nothing (intake's 409 `case_id`): an operator sending the assessment, plan or closing form
    of a case a colleague has just closed reads why in Italian, the day as the pages write it."""
    from lgnet_desk.entrypoints import i18n

    assert i18n.reason("the case was closed on 2026-03-01", "it") == (
        "la pratica è chiusa dal 1 mar 2026: non vi si può più registrare nulla"
    )


@pytest.mark.parametrize(
    ("reason", "italian"),
    [
        ("no partner coop-x", "nessun ente partner «coop-x»"),
        ("partner coop-carso works in trieste, not torino", "l'ente partner coop-carso opera a Trieste, non a Torino"),
        ("registering a mobile unit is for the city's staff", "solo il personale del Comune registra le unità mobili"),
        ("mobile unit unit-nord already exists", "l'unità mobile unit-nord esiste già"),
        ("an outing must end after it starts", "l'uscita deve finire dopo l'inizio"),
        ("the outing was on 2026-03-01", "l'uscita si è svolta il 2026-03-01"),
        ("is not one of the outing's places", "non è uno dei luoghi dell'uscita"),
        ("is before the first contact (2026-01-10)", "è precedente al primo contatto (2026-01-10)"),
        (
            "operator op-giulia already has appointment a-1 from 2026-03-02T09:00:00+00:00"
            " to 2026-03-02T09:45:00+00:00",
            "op-giulia ha già un appuntamento in quell'orario",
        ),
        ("the appointment has not started yet", "l'appuntamento non è ancora iniziato"),
        ("String should have at most 120 characters", "al massimo 120 caratteri"),
        ("Input should be greater than or equal to 1", "deve essere almeno 1"),
    ],
)
def test_outreach_refusals_are_said_in_italian(reason: str, italian: str) -> None:
    assert say(reason, "it") == italian
    assert say(reason, "en") == reason.replace("trieste", "Trieste").replace("torino", "Torino")  # cities by name


async def test_a_member_intake_accepted_is_kept_not_registered_again_when_the_form_comes_back() -> None:
    """From an outside test: the reference person accepted and the second member refused (a birth date in the
    future); sent again corrected, the reference person was registered a second time, and the first copy stayed
    without a household or a consent."""
    posted: list[tuple[str, dict[str, Any]]] = []

    def intake(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        posted.append((request.url.path, body))
        if request.url.path == "/persons" and body["birth_date"] == "2030-01-01":
            problem = {"status": 422, "field": "birth_date", "reason": "2030-01-01 is in the future"}
            return httpx.Response(422, json=problem)
        return httpx.Response(201, json={})

    form = {
        "m0_given_name": "Testina", "m0_family_name": "Parzialova", "m0_birth_date": "1985-03-14",
        "m0_sex": "female", "m0_nationality": "UA",
        "m1_given_name": "Bimbo", "m1_family_name": "Parzialova", "m1_birth_date": "2030-01-01",
        "m1_sex": "male", "m1_nationality": "UA", "consent_service": "on",
    }  # fmt: skip
    async with httpx.AsyncClient(transport=httpx.MockTransport(intake)) as client:
        services = Services({"intake": "http://intake"}, {"intake": "lgn_op"}, client)
        with pytest.raises(FieldErrors) as refused:
            await register_household(services, form, 6, date(2026, 12, 3))
        assert refused.value.errors == {"m1_birth_date": "2030-01-01 is in the future"}
        reference = refused.value.kept["m0_person_id"]
        assert set(refused.value.kept) == {"m0_person_id"}
        posted.clear()
        again = form | refused.value.kept | {"m1_birth_date": "2020-01-01"}
        assert await register_household(services, again, 6, date(2026, 12, 3)) == reference
    persons = [body for path, body in posted if path == "/persons"]
    assert [p["identity"]["given_name"] for p in persons] == ["Bimbo"]  # the reference person is not sent again
    [household] = [body for path, body in posted if path == "/households"]
    assert household["member_ids"] == [reference, persons[0]["person_id"]]
    assert household["reference_person_id"] == reference


ON_FILE = {
    "person_id": "p-aissatou",
    "birth_date": "1990-03-12",
    "erased": False,
    "identity": {"given_name": "Aissatou", "family_name": "Diallo", "fiscal_code": "DLLSST90C52Z319F"},
}


def intake_with_one_person(posted: list[tuple[str, dict[str, Any]]], same_as: str | None = None) -> Any:
    """Intake with one person on file the operator may see: found by her fiscal code or her name (its search)."""

    def intake(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        posted.append((request.url.path, body))
        if request.url.path == "/persons/search":
            code = (body.get("fiscal_code") or "").upper()
            named = name_words(body.get("name") or "") == name_words("Aissatou Diallo")
            return httpx.Response(200, json=[ON_FILE] if code == "DLLSST90C52Z319F" or named else [])
        if request.url.path == "/persons":
            return httpx.Response(201, json={"person_id": body["person_id"], "same_as": same_as})
        return httpx.Response(201, json={})

    return intake


async def test_a_person_on_file_by_her_fiscal_code_is_not_registered_again_nor_put_in_a_new_household() -> None:
    """From an outside test: registering again a person the city has (the same fiscal code) went straight to her
    cartella, with a new household of her alone each time, her consents recorded again and (a cooperative) a second
    case — three "Nucleo di Aissatou Diallo" to choose from. The desk looks her up first and says where she is."""
    posted: list[tuple[str, dict[str, Any]]] = []
    form = {
        "m0_given_name": "Aissatou", "m0_family_name": "Diallo", "m0_birth_date": "1990-03-12", "m0_sex": "female",
        "m0_nationality": "SN", "m0_fiscal_code": "dllsst90c52z319f", "consent_service": "on",
    }  # fmt: skip
    async with httpx.AsyncClient(transport=httpx.MockTransport(intake_with_one_person(posted))) as client:
        services = Services({"intake": "http://intake"}, {"intake": "lgn_op"}, client)
        with pytest.raises(FieldErrors) as refused:
            await register_household(services, form, 6, date(2026, 12, 3))
    assert refused.value.errors == {"m0_fiscal_code": ALREADY_ON_FILE}
    assert refused.value.on_file == {"m0": "p-aissatou"}  # the page links her cartella
    assert {path for path, _ in posted} == {"/persons/search", "/persons/check"}  # nothing registered, no household


async def test_a_namesake_born_the_same_day_is_registered_only_once_the_operator_says_she_is_another() -> None:
    """intake flags a registration with the name and birth date of a person on file as a possible duplicate, and the
    desk never said so: the operator who went back and sent the form again registered the household twice. Now the
    desk says who is on file, and registers only once told it is another person."""
    posted: list[tuple[str, dict[str, Any]]] = []
    form = {
        "m0_given_name": "AISSATOU", "m0_family_name": "diallo", "m0_birth_date": "1990-03-12", "m0_sex": "female",
        "m0_nationality": "SN", "consent_service": "on",
    }  # fmt: skip
    async with httpx.AsyncClient(transport=httpx.MockTransport(intake_with_one_person(posted))) as client:
        services = Services({"intake": "http://intake"}, {"intake": "lgn_op"}, client)
        with pytest.raises(FieldErrors) as refused:
            await register_household(services, form, 6, date(2026, 12, 3))
        assert refused.value.errors == {"m0_given_name": SAME_NAME_ON_FILE}
        assert refused.value.on_file == {"m0": "p-aissatou"}
        assert {path for path, _ in posted} == {"/persons/search", "/persons/check"}  # checked, nobody registered
        other_day = form | {"m0_birth_date": "1991-03-12"}  # the same name, born another day: another person
        await register_household(services, other_day, 6, date(2026, 12, 3))
        posted.clear()
        await register_household(services, form | {"m0_not_on_file": "on"}, 6, date(2026, 12, 3))
    registered = [path for path, _ in posted if path != "/persons/check"]
    assert registered == ["/persons", "/consents", "/households"]  # told: not looked up again


async def test_a_newcomer_joining_at_the_cartella_is_looked_up_on_file_as_at_the_registration() -> None:
    """From an outside review: a person not on file joining a household at the cartella was matched against those on
    file only by her fiscal code (intake's `same_as`), while the registration also looks up name and birth date and
    asks the operator to confirm another person. The same lookup (`desk.row_on_file`), before she is registered."""
    from lgnet_desk.service_layer import households

    posted: list[tuple[str, dict[str, Any]]] = []
    born = {"form_key": "b" * 22, "new_household": "h-1", "mn_given_name": "aissatou", "mn_family_name": "DIALLO",
            "mn_birth_date": "1990-03-12", "mn_sex": "female", "mn_nationality": "SN", "new_reason": "reunification",
            "new_joined_on": "2026-12-01"}  # fmt: skip
    async with httpx.AsyncClient(transport=httpx.MockTransport(intake_with_one_person(posted))) as client:
        services = Services({"intake": "http://intake"}, {"intake": "lgn_op"}, client)
        with pytest.raises(FieldErrors) as refused:
            await households.newcomer_joins(services, born, date(2026, 12, 3))
        assert refused.value.errors == {"mn_given_name": SAME_NAME_ON_FILE}
        assert refused.value.on_file == {"mn": "p-aissatou"}  # the page links her cartella
        with pytest.raises(FieldErrors) as refused:
            await households.newcomer_joins(services, born | {"mn_fiscal_code": "dllsst90c52z319f"}, date(2026, 12, 3))
        assert refused.value.errors == {"mn_fiscal_code": ALREADY_ON_FILE}
        assert {path for path, _ in posted} == {"/persons/search"}  # nobody registered, nothing joined
        posted.clear()
        await households.newcomer_joins(services, born | {"mn_not_on_file": "on"}, date(2026, 12, 3))
    assert [path for path, _ in posted] == ["/persons", "/households/members"]  # told: not looked up again


async def test_a_person_on_file_chosen_for_the_household_is_neither_registered_nor_consented_again() -> None:
    """A person left without a household (a half-finished registration) could be put in none: registering her again
    was refused as on file. The operator ticks "use this person" (`m<i>_use_on_file`): she joins as she is on file,
    not looked up, checked or registered again, her consents not recorded again; a fault elsewhere keeps her chosen."""
    posted: list[tuple[str, dict[str, Any]]] = []
    form = {
        "m0_given_name": "Aissatou", "m0_family_name": "Diallo", "m0_birth_date": "1990-03-12", "m0_sex": "female",
        "m0_nationality": "SN", "m0_use_on_file": "p-aissatou",
        "m1_given_name": "Mariama", "m1_family_name": "Diallo", "m1_birth_date": "2015-05-04", "m1_sex": "female",
        "m1_nationality": "SN", "m1_phone": "abc", "consent_service": "on",
    }  # fmt: skip
    async with httpx.AsyncClient(transport=httpx.MockTransport(intake_with_one_person(posted))) as client:
        services = Services({"intake": "http://intake"}, {"intake": "lgn_op"}, client)
        with pytest.raises(FieldErrors) as refused:
            await register_household(services, form, 6, date(2026, 12, 3))
        assert refused.value.errors == {"m1_phone": PHONE_REASON}
        assert refused.value.kept == {"m0_person_id": "p-aissatou"}  # shown again as chosen
        posted.clear()
        reference = await register_household(services, form | {"m1_phone": ""}, 6, date(2026, 12, 3))
    assert reference == "p-aissatou"
    assert [body["identity"]["given_name"] for path, body in posted if path == "/persons"] == ["Mariama"]
    assert all(body.get("name") != "Aissatou Diallo" for path, body in posted if path == "/persons/search")
    [household] = [body for path, body in posted if path == "/households"]
    assert household["member_ids"][0] == "p-aissatou" and len(household["member_ids"]) == 2
    assert [body["person_id"] for path, body in posted if path == "/consents"] == [household["member_ids"][1]]


async def test_a_member_intake_finds_on_file_by_her_fiscal_code_stops_the_household() -> None:
    """Should intake find her on file all the same (her fiscal code in a registration the search did not show), the
    household is not formed with her: the operator is told, the members registered kept."""
    posted: list[tuple[str, dict[str, Any]]] = []
    form = {
        "m0_given_name": "Awa", "m0_family_name": "Ndiaye", "m0_birth_date": "1980-01-02", "m0_sex": "female",
        "m0_nationality": "SN", "m0_fiscal_code": "NDYWAA80A42Z343M", "consent_service": "on",
    }  # fmt: skip
    transport = httpx.MockTransport(intake_with_one_person(posted, same_as="p-awa"))
    async with httpx.AsyncClient(transport=transport) as client:
        services = Services({"intake": "http://intake"}, {"intake": "lgn_op"}, client)
        with pytest.raises(FieldErrors) as refused:
            await register_household(services, form, 6, date(2026, 12, 3))
    assert refused.value.errors == {"m0_fiscal_code": ALREADY_ON_FILE}
    assert refused.value.on_file == {"m0": "p-awa"}
    assert "/households" not in [path for path, _ in posted] and "/consents" not in [path for path, _ in posted]


async def test_every_field_intake_refuses_is_said_on_the_form_at_once() -> None:
    """A member with two mistakes was told of the first only; fixed and sent again, of the second: the operator
    learnt one mistake per round. Intake names each invalid field (`errors`): each goes to its own form field."""

    def intake(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if request.url.path == "/persons/search":  # nobody on file
            return httpx.Response(200, json=[])
        if body["identity"]["given_name"] == "Bimbo":
            errors = [
                {"field": "birth_date", "reason": "Input should be a valid date"},
                {"field": "identity.fiscal_code", "reason": "not a valid fiscal code"},
                {"field": "headers.idempotency-key", "reason": "reused"},
            ]
            return httpx.Response(422, json={"status": 422, **errors[0], "errors": errors})
        return httpx.Response(201, json={})

    form = {
        "m0_given_name": "Testina", "m0_family_name": "Parzialova", "m0_birth_date": "1985-03-14",
        "m0_sex": "female", "m0_nationality": "UA",
        "m1_given_name": "Bimbo", "m1_family_name": "Parzialova", "m1_birth_date": "2020-01-13",
        "m1_fiscal_code": "XX", "m1_sex": "male", "m1_nationality": "UA", "consent_service": "on",
    }  # fmt: skip
    async with httpx.AsyncClient(transport=httpx.MockTransport(intake)) as client:
        services = Services({"intake": "http://intake"}, {"intake": "lgn_op"}, client)
        with pytest.raises(FieldErrors) as refused:
            await register_household(services, form, 6, date(2026, 12, 3))
    assert refused.value.errors == {
        "m1_birth_date": "Input should be a valid date",
        "m1_fiscal_code": fiscal_codes.SHAPE,  # the desk's own check, as intake's (`fiscal_codes.problem`)
        "m1_given_name": "reused",  # a field the row does not have: said at its first field
    }


def intake_checking(posted: list[tuple[str, dict[str, Any]]], today: date) -> Any:
    """Intake with nobody on file, whose `POST /persons/check` refuses a birth date after `today`, as it does."""

    def intake(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        posted.append((request.url.path, body))
        if request.url.path == "/persons/search":
            return httpx.Response(200, json=[])
        if request.url.path == "/persons/check":
            if body.get("birth_date", "") > today.isoformat():
                errors = [{"field": "birth_date", "reason": "is in the future"}]
                return httpx.Response(422, json={"status": 422, **errors[0], "errors": errors})
            return httpx.Response(200, json={"person_id": body["person_id"]})
        return httpx.Response(201, json={"person_id": body.get("person_id"), "same_as": None})

    return intake


async def test_every_fault_of_every_member_is_said_in_one_round_before_anyone_is_registered() -> None:
    """From an outside test: a household with two impossible birth dates, one in the future, a nationality no country
    has and the phone "abc" took three rounds — the impossible dates, then the phone and the country, then the future
    — and the members accepted in the earlier rounds were already registered, without a household. Now the desk
    checks every member first (its own checks and intake's `POST /persons/check`), and registers nobody until all
    are right; a phone must look like one (`lgnet_shared.phones`, intake's rule too). The days as the page reads
    them (`form_of`: a day typed gg/mm/aaaa is ISO, one the calendar has not stays as typed)."""
    posted: list[tuple[str, dict[str, Any]]] = []
    today = date(2026, 12, 3)
    form = {
        "m0_given_name": "Fatou", "m0_family_name": "Sarr", "m0_birth_date": "31/02/1988", "m0_sex": "female",
        "m0_nationality": "Senegall",
        "m1_given_name": "Awa", "m1_family_name": "Sarr", "m1_birth_date": "12/13/2015", "m1_sex": "female",
        "m1_nationality": "SN", "m1_phone": "abc",
        "m2_given_name": "Modou", "m2_family_name": "Sarr", "m2_birth_date": "2030-03-01", "m2_sex": "male",
        "m2_nationality": "SN",
        "m3_given_name": "Ibou", "m3_family_name": "Sarr", "m3_birth_date": "2019-03-01", "m3_sex": "male",
        "m3_nationality": "SN", "m3_phone": "abcde", "consent_service": "on",
    }  # fmt: skip
    async with httpx.AsyncClient(transport=httpx.MockTransport(intake_checking(posted, today))) as client:
        services = Services({"intake": "http://intake"}, {"intake": "lgn_op"}, client)
        with pytest.raises(FieldErrors) as refused:
            await register_household(services, form, 6, today)
        assert refused.value.errors == {
            "m0_birth_date": days.NO_SUCH_DAY,
            "m0_nationality": countries.UNKNOWN,
            "m1_birth_date": days.NO_SUCH_DAY,
            "m1_phone": PHONE_REASON,
            "m2_birth_date": "is in the future",
            "m3_phone": PHONE_REASON,
        }
        assert refused.value.kept == {}
        assert {path for path, _ in posted} <= {"/persons/search", "/persons/check"}  # nobody registered
        posted.clear()
        right = form | {"m0_birth_date": "1988-02-28", "m0_nationality": "Senegal", "m1_birth_date": "2015-11-12",
                        "m1_phone": "+221 77 123 45 67", "m2_birth_date": "2020-03-01", "m3_phone": ""}  # fmt: skip
        reference = await register_household(services, right, 6, today)
    registered = [body for path, body in posted if path == "/persons"]
    assert [p["identity"]["given_name"] for p in registered] == ["Fatou", "Awa", "Modou", "Ibou"]
    assert registered[1]["identity"]["phone"] == "+221 77 123 45 67"
    [household] = [body for path, body in posted if path == "/households"]
    assert household["reference_person_id"] == reference and len(household["member_ids"]) == 4


async def test_a_member_without_sex_or_nationality_is_refused_before_anyone_is_registered() -> None:
    """intake requires a member's sex and nationality: a row without them was refused by intake after the members
    before it had been registered."""
    posted: list[tuple[str, dict[str, Any]]] = []
    form = {
        "m0_given_name": "Fatou", "m0_family_name": "Sarr", "m0_birth_date": "1988-02-28", "m0_sex": "female",
        "m0_nationality": "SN", "m1_given_name": "Awa", "m1_birth_date": "2015-11-12",
    }  # fmt: skip
    async with httpx.AsyncClient(transport=httpx.MockTransport(intake_checking(posted, date(2026, 12, 3)))) as client:
        services = Services({"intake": "http://intake"}, {"intake": "lgn_op"}, client)
        with pytest.raises(FieldErrors) as refused:
            await register_household(services, form, 6, date(2026, 12, 3))
    assert refused.value.errors == {"m1_sex": "required", "m1_nationality": "required"}
    assert "/persons" not in {path for path, _ in posted}


async def test_a_cooperative_registering_a_household_opens_its_case_and_needs_the_sharing_consent() -> None:
    """From an outside test: a cooperative's operator registered a household and was then refused the person (a
    partner sees only persons of its own cases); it could not open the case either, having no way to the cartella."""
    posted: list[tuple[str, dict[str, Any]]] = []

    def intake(request: httpx.Request) -> httpx.Response:
        posted.append((request.url.path, json.loads(request.content)))
        return httpx.Response(201, json={})

    form = {
        "m0_given_name": "Aurelia", "m0_family_name": "Coopova", "m0_birth_date": "1988-05-05", "m0_sex": "female",
        "m0_nationality": "AL", "consent_service": "on", "action_area": "housing_inclusion", "channel": "mobile_unit",
    }  # fmt: skip
    async with httpx.AsyncClient(transport=httpx.MockTransport(intake)) as client:
        services = Services({"intake": "http://intake"}, {"intake": "lgn_op"}, client)
        with pytest.raises(FieldErrors) as refused:
            await register_household(services, form, 6, date(2026, 12, 3), "coop-aurora")
        assert list(refused.value.errors) == ["consent_partner_sharing"]
        assert {path for path, _ in posted} == {"/persons/check", "/persons/search"}  # nothing registered
        posted.clear()
        form["consent_partner_sharing"] = "on"
        person = await register_household(services, form, 6, date(2026, 12, 3), "coop-aurora")
    [household] = [body for path, body in posted if path == "/households"]
    [case] = [body for path, body in posted if path == "/cases"]
    assert household["reference_person_id"] == person
    assert (case["household_id"], case["partner"], case["action_area"], case["channel"]) == (
        household["household_id"],
        "coop-aurora",
        "housing_inclusion",
        "mobile_unit",
    )
    assert case["opened_on"] == "2026-12-03" and case["housing_need"] is False


def test_file_sizes_are_said_as_people_say_them() -> None:
    """From an outside test: a 17-byte document read '0.0 kB'."""
    assert i18n.size(17, "it") == "17 byte"
    assert i18n.size(1536, "it") == "1,5 kB" and i18n.size(1536, "en") == "1.5 kB"
    assert i18n.size(2_621_440, "it") == "2,5 MB" and i18n.size(2_621_440, "en") == "2.5 MB"
    assert i18n.size(None, "it") == "—"


def test_a_budget_refusal_says_its_amounts_in_euros_in_either_language() -> None:
    """From an outside test: payments' refusal read 'richiesti 12000 centesimi' at the desk."""
    reason = "over budget: 12000 cents asked, 5000 available on the line"
    it = i18n.reason(reason, "it").replace("\xa0", " ")
    assert it == "fondi insufficienti: richiesti 120,00 €, disponibili 50,00 € sulla linea di bilancio"
    assert i18n.reason(reason, "en") == "over budget: €120.00 asked, €50.00 available on the line"
    threshold = "above 50000 cents a second, different approver is needed"
    assert i18n.reason(threshold, "it").replace("\xa0", " ") == (
        "oltre 500,00 € serve una seconda approvazione, di un altro operatore"
    )
    assert i18n.reason("a brand new rule", "en") == "a brand new rule"


def test_an_appointment_is_not_booked_on_a_past_day_nor_for_someone_the_booker_may_not_book_for() -> None:
    from lgnet_desk.domain.agenda import past_day
    from lgnet_desk.domain.operators import may_book_for

    today = date(2026, 12, 3)
    assert past_day("2026-12-02", today) == "day 2026-12-02 is before today"
    assert past_day("2026-12-03", today) is None and past_day("2026-02-30", today) is None  # intake names a bad day
    maria = Operator("maria", "M", OperatorRole.STAFF, "torino", None)
    luca = Operator("luca", "L", OperatorRole.PARTNER, "torino", "coop-aurora")
    anna = Operator("anna", "A", OperatorRole.PARTNER, "torino", "coop-dora")
    assert may_book_for(maria, luca) and may_book_for(luca, luca)
    assert not may_book_for(luca, maria) and not may_book_for(luca, anna)  # a cooperative: its own operators
    assert not may_book_for(maria, Operator("sara", "S", OperatorRole.PARTNER, "trieste", "coop-carso"))
    assert not may_book_for(maria, Operator("rpd", "R", OperatorRole.DPO, "torino", None))


def test_a_cooperatives_actor_is_named_after_the_organisation_not_its_first_operator() -> None:
    """The services list a city's partners by their actor's name (intake's GET /partners): the desk's admin named a
    cooperative's actor after the first operator it added ("Luca Bianchi" for coop-aurora)."""
    luca = Operator("luca", "Luca Bianchi", OperatorRole.PARTNER, "torino", "coop-aurora")
    assert luca.service_actor_name("Cooperativa Aurora") == "Cooperativa Aurora"
    assert luca.service_actor_name() == "coop-aurora"
    maria = Operator("maria", "Maria Rossi", OperatorRole.STAFF, "torino", None)
    assert maria.service_actor_name("ignored") == "Maria Rossi"


@contextlib.asynccontextmanager
async def intake_away() -> AsyncIterator[tuple[Services, list[str]]]:
    """Services whose intake refuses every connection, and the paths the desk asked it for."""
    asked: list[str] = []

    def away(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path)
        raise httpx.ConnectError("connection refused", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(away)) as client:
        yield Services({"intake": "http://intake.test"}, {"intake": "t"}, client), asked


async def test_cases_are_named_when_intake_answers_and_left_as_ids_when_it_does_not() -> None:
    """The to-do list names a service that does not answer and still shows the others' reminders: naming the cases
    through intake turned an unreachable intake into a 500 (an outside review)."""
    from lgnet_desk.service_layer.desk import cases_by_id

    async with intake_away() as (services, asked):
        assert await cases_by_id(services, ["c-1", "c-2", "c-1"]) == {}
    assert asked == ["/cases/c-1"]  # one try: an intake that is away is not asked again for each case


async def test_cases_are_read_side_by_side_once_intake_has_answered() -> None:
    """The to-do list, the approvals and the housing page name each case with one `GET /cases/{id}`: they went one
    after another (a page of 40 cases waited 40 round trips). After the first answer, the rest go side by side (at
    most eight at a time); a refused case is left out, as before."""
    from lgnet_desk.service_layer.desk import cases_by_id

    def answer(path: str) -> dict[str, Any]:
        if path == "/cases/c-7":
            raise ServiceRefusal(403, "case_id", "not yours")
        return {"case_id": path.rsplit("/", 1)[1]}

    intake = SlowIntake(answer)
    ids = [f"c-{n}" for n in range(20)]
    found = await cases_by_id(cast(Services, intake), ids)
    assert sorted(found) == sorted(i for i in ids if i != "c-7")
    assert intake.most == 8, intake.most


class SlowIntake:
    """Intake answering `answer(path)` after 20 ms, counting the most reads it had in flight at once."""

    def __init__(self, answer: Any) -> None:
        self.answer, self.in_flight, self.most = answer, 0, 0

    async def get(self, service: str, path: str) -> Any:
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        await asyncio.sleep(0.02)
        self.in_flight -= 1
        return self.answer(path)


def test_a_refusals_dates_read_as_the_pages_write_them() -> None:
    """A refusal read "dal 2026-11-01 al 2026-11-30" beside a cartella that says "dal 1 nov 2026" (outside review)."""
    from lgnet_desk.entrypoints import i18n

    period = "the household's rent request r-1 (case c-1) already pays 2026-11-01 to 2026-11-30: a period is paid once"
    # to another cooperative than the one of the case that asked it, without its ids (payments' household conflicts)
    elsewhere = period.replace("r-1 (case c-1)", "(on another partner's case)")
    for reason in (period, elsewhere):
        assert i18n.reason(reason, "it") == (
            "il nucleo ha già una richiesta di questo tipo dal 1 nov 2026 al 30 nov 2026: un periodo si paga una volta"
            " sola"
        )
    lease = "the household's deposit request (on another partner's case, lease l-1, requested) already pays it: a"
    assert i18n.reason(lease + " deposit is paid once per lease; for another lease, name its lease_id", "it") == (
        "il nucleo ha già una richiesta di questo tipo per il contratto: si paga una volta sola per contratto"
    )
    early = "is before 2014-01-01, the earliest date of the programme"
    assert i18n.reason(early, "it") == "è precedente al 1 gen 2014, data di inizio del programma"
    assert i18n.reason(early, "en") == early  # English is the services' own


async def test_an_intake_that_does_not_answer_is_asked_for_the_partners_once_in_a_while_not_on_every_page() -> None:
    """Every page reads the city's partners (cached); a failure was not kept, so with intake hanging every page of the
    desk, even those that need only payments, waited for intake's timeout first (found reading the change again)."""
    from lgnet_desk.service_layer.desk import PartnerDirectory

    directory = PartnerDirectory()
    async with intake_away() as (services, asked):
        assert await directory.of(services, "torino") == [] and await directory.of(services, "torino") == []
    assert asked == ["/partners"]


def test_the_desk_lists_its_variables_on_help_and_names_those_at_fault(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`lgnet-desk --help` answered "configuration error: 2 validation errors for DeskSettings … For further
    information visit https://errors.pydantic.dev/…": no list of the variables, and pydantic's text for a missing
    one."""
    import sys

    from lgnet_desk.entrypoints import main as desk_main

    for name in ("DATABASE_URL", "LGNET_MASTER_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(desk_main, "create_app", lambda *_: pytest.fail("--help started the desk"))
    monkeypatch.setattr(sys, "argv", ["lgnet-desk", "--help"])
    desk_main.main()
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("usage: lgnet-desk"), lines
    for line in ("  DATABASE_URL  (required)", "  LGNET_MASTER_KEY  (required)", "  LGNET_HTTP_PORT  (default 8005)",
                 "  LGNET_DESK_COOKIE_SECURE  (default True)"):  # fmt: skip
        assert line in lines, (line, lines)
    monkeypatch.setattr(sys, "argv", ["lgnet-desk"])
    with pytest.raises(SystemExit) as stopped:
        desk_main.main()
    message = str(stopped.value.code).splitlines()
    assert message == ["lgnet-desk: invalid configuration:", "  DATABASE_URL: Field required",
                       "  LGNET_MASTER_KEY: Field required"], message  # fmt: skip
    monkeypatch.setenv("DATABASE_URL", "postgresql://desk@db/lgnet")
    monkeypatch.setenv("LGNET_MASTER_KEY", "c2hvcnQ=")
    with pytest.raises(SystemExit) as stopped:
        desk_main.main()
    assert str(stopped.value.code).splitlines() == [
        "lgnet-desk: invalid configuration:",
        "  LGNET_MASTER_KEY: must be base64 of 32 bytes",
    ]
    monkeypatch.setenv("LGNET_MASTER_KEY", "A" * 43 + "=")
    monkeypatch.setenv("LGNET_LOG_LEVEL", "LOUD")  # a review: accepted, then a traceback from logging
    with pytest.raises(SystemExit) as stopped:
        desk_main.main()
    assert str(stopped.value.code).splitlines()[1].startswith("  LGNET_LOG_LEVEL: "), stopped.value.code


def test_refusals_name_cities_and_fields_as_people_say_them() -> None:
    """An outside tester read "…a torino" (a city's code) and, in English, "is before period_from" (a field's id)."""
    assert say("staff of trieste cannot read torino", "it") == (
        "chi opera per Trieste non può accedere ai dati di Torino"
    )
    assert say("partner coop-aurora works in torino, not trieste", "it") == (
        "l'ente partner coop-aurora opera a Torino, non a Trieste"
    )
    assert say("no rent budget line in torino", "it").endswith("a Torino")
    assert say("staff of trieste cannot read torino", "en") == "staff of Trieste cannot read Torino"
    assert say("is before period_from", "en") == "is before the start of the period"


def test_a_nationality_is_the_countrys_name_in_the_pages_language() -> None:
    assert i18n.country("SN", "it") == "Senegal" and i18n.country("GN", "it") == "Guinea"
    assert i18n.country("CI", "it") == "Costa d\u2019Avorio" and i18n.country("CI", "en") == "Côte d\u2019Ivoire"
    assert i18n.country(None, "it") == "—" and i18n.country("XX", "it") == "XX"


def test_a_forms_key_reused_with_other_data_is_said_in_italian() -> None:
    assert say("already used for a different request", "it").startswith("questo modulo è già stato inviato")


def _a_log_line_of_the_desk(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], ran: dict[str, object] | None = None
) -> dict[str, Any]:
    """`lgnet-desk` started (uvicorn not: its arguments in `ran`), then uvicorn's error logger's line, as JSON."""
    import logging

    from lgnet_desk.entrypoints import main as desk_main
    from lgnet_shared import serving
    from lgnet_shared.testing.logs import logging_kept

    monkeypatch.setattr(sys, "argv", ["lgnet-desk"])
    monkeypatch.setattr(desk_main, "create_app", lambda settings: "app")
    monkeypatch.setattr(serving, "listening_socket", lambda *_: None)  # uvicorn not started, no port taken
    monkeypatch.setattr(serving, "serve_on", lambda sock, app, **kw: (ran if ran is not None else {}).update(kw))
    with logging_kept():
        desk_main.main()
        capsys.readouterr()
        logging.getLogger("uvicorn.error").error("Exception in ASGI application")
        [line] = capsys.readouterr().out.splitlines()
    return cast(dict[str, Any], json.loads(line))


def test_the_desk_logs_json_lines_like_the_services(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """From an outside test: `.local/logs/desk.log` held uvicorn's plain text ("ERROR: Exception in ASGI
    application" and a traceback), while operators.md says every service logs JSON lines with `timestamp`,
    `level`, `event` and `service`."""

    ran: dict[str, object] = {}
    for name in ("LGNET_CITY", "LGNET_DEPLOYMENT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", "postgresql://desk@db/lgnet")
    monkeypatch.setenv("LGNET_MASTER_KEY", "A" * 43 + "=")
    doc = _a_log_line_of_the_desk(monkeypatch, capsys, ran)
    assert "log_config" in ran and ran["log_config"] is None and ran.get("access_log") is False, ran
    assert (doc["service"], doc["level"], doc["event"]) == ("desk", "error", "Exception in ASGI application"), doc
    assert "timestamp" in doc
    # docs/operators.md: every line has `deployment` (LGNET_DEPLOYMENT, else LGNET_CITY, else national); the desk's
    # had none, uvicorn's own lines included.
    assert doc["deployment"] == "national", doc


def test_a_citys_desk_names_its_city_and_deployment_in_help_logs_and_metrics(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An outside tester started Bologna's desk with the variables `lgnet-desk --help` listed: every log line said
    "deployment": "national" (LGNET_CITY and LGNET_DEPLOYMENT were not listed) and /metrics named no deployment or
    city. Both are listed; the deployment defaults to the city, as the services'; /metrics has the services'
    `lgnet_deployment_info`; a city that is none stops the desk naming the variable."""

    from lgnet_desk.entrypoints import main as desk_main
    from lgnet_desk.settings import DeskSettings
    from prometheus_client import generate_latest

    monkeypatch.setattr(sys, "argv", ["lgnet-desk", "--help"])
    desk_main.main()
    listed = capsys.readouterr().out
    assert "  LGNET_CITY  (default None)" in listed and "  LGNET_DEPLOYMENT  (default None)" in listed, listed
    for name in ("LGNET_CITY", "LGNET_DEPLOYMENT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", "postgresql://desk@db/lgnet")
    monkeypatch.setenv("LGNET_MASTER_KEY", "A" * 43 + "=")
    monkeypatch.setenv("LGNET_CITY", "Bologna")
    assert _a_log_line_of_the_desk(monkeypatch, capsys)["deployment"] == "bologna"
    metrics = generate_latest().decode()
    assert 'lgnet_deployment_info{city="bologna",deployment="bologna",service="desk"} 1.0' in metrics
    monkeypatch.setenv("LGNET_DEPLOYMENT", "bologna-east")
    settings = DeskSettings()
    assert (settings.city, settings.deployment_name) == ("bologna", "bologna-east")
    monkeypatch.delenv("LGNET_CITY")  # the federated stacks set the deployment only: its city is the desk's
    assert DeskSettings().city == "bologna"
    monkeypatch.delenv("LGNET_DEPLOYMENT")
    assert (DeskSettings().city, DeskSettings().deployment_name) == ("national", "national")
    monkeypatch.setenv("LGNET_CITY", "bolonia")
    with pytest.raises(SystemExit) as stopped:
        desk_main.main()
    assert "LGNET_CITY" in str(stopped.value.code), stopped.value.code


@pytest.mark.parametrize(
    ("value", "segment"),
    [
        ("pl-1", "pl-1"),
        ("../matches/m-1/acceptance?x=", "..%2Fmatches%2Fm-1%2Facceptance%3Fx%3D"),
        ("a#b c%", "a%23b%20c%25"),
        ("..", "%2E%2E"),
        (".", "%2E"),
    ],
)
def test_a_value_in_a_services_path_is_one_segment(value: str, segment: str) -> None:
    """A form's value (a placement's id, a case's) or an address's written into a service's path as it came could
    name another path (`../`, `/`), a query (`?`) or drop the rest (`#`): each is one segment, escaped; a dot
    segment too, which the HTTP client would otherwise resolve."""
    from lgnet_desk.adapters.services import service_path

    assert service_path("/placements/{}/end", value) == f"/placements/{segment}/end"
    assert service_path("/a/{x}/b/{y}", x=value, y="ok") == f"/a/{segment}/b/ok"


def test_a_placement_ended_meanwhile_is_said_in_italian() -> None:
    assert i18n.reason("the placement ended on 2026-03-01", "it") == "l'inserimento si è concluso il 1 mar 2026"


def test_a_refusal_naming_a_person_is_said_in_italian_whatever_it_holds() -> None:
    assert say("no person Fatima El Amrani", "it") == "nessuna persona Fatima El Amrani"
    assert say("no person p-1", "it") == "nessuna persona p-1"
    assert say("no person p-1 in torino", "it") == "nessuna persona p-1 a Torino"
    assert say("Maria Rossi is not an operator of your city or cooperative", "it") == (
        "«Maria Rossi» non è un operatore del suo Comune o del suo ente"
    )
    assert say("no street contact ct 4c2e", "it") == "nessun contatto ct 4c2e"


def test_the_catalogues_are_what_tools_catalogues_makes(tmp_path: Path) -> None:
    """The .po files are generated (`python tools/catalogues.py`, from services/desk): a message written into a .po by
    hand, or an Italian text missing from tools/it.py, is lost at the next generation (it happened twice)."""
    desk = Path(__file__).parents[1]
    shutil.copytree(desk / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(desk / "tools", tmp_path / "tools", ignore=shutil.ignore_patterns("__pycache__"))
    made = subprocess.run(
        [sys.executable, "tools/catalogues.py"], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert made.stdout.startswith("missing []"), made.stdout

    def content(path: Path) -> list[str]:
        return [line for line in path.read_text().splitlines() if not line.startswith('"POT-Creation-Date:')]

    for lang in ("it", "en"):
        po = f"src/lgnet_desk/locale/{lang}/LC_MESSAGES/desk.po"
        assert content(tmp_path / po) == content(desk / po), f"{po}: run python tools/catalogues.py in services/desk"


def test_a_member_left_blank_is_not_sent_as_null() -> None:
    """An empty birth date was sent as null, and intake's "not a valid date" read as "non è una data valida" where
    "campo obbligatorio" was meant: blank fields are left out, so the service names them required."""
    body = member_body({"m0_given_name": "Amina", "m0_birth_date": "", "m0_sex": "", "m0_nationality": " "}, 0)
    assert not {"birth_date", "sex", "nationality"} & set(body), body
    assert body["identity"] == {"given_name": "Amina"}
    assert say("Field required", "it") == "campo obbligatorio"


@pytest.mark.parametrize(
    ("typed", "code"),
    [("Marocco", "MA"), ("morocco", "MA"), ("  MAROCCO ", "MA"), ("ma", "MA"), ("Costa d\u2019Avorio", "CI"),
     ("costa d'avorio", "CI"), ("Côte d\u2019Ivoire", "CI"), ("Stati Uniti", "US"), ("", None), ("Nigeria", "NG")],
)  # fmt: skip
def test_a_nationality_is_read_from_the_countrys_name_in_italian_or_english(typed: str, code: str | None) -> None:
    """'Marocco' was refused as "formato non valido": the operator had to know Morocco is MA."""
    assert countries.country_code(typed) == code


def test_a_name_no_country_has_is_said_in_italian() -> None:
    with pytest.raises(ValueError, match="no country of that name") as unknown:
        countries.country_code("Atlantide")
    assert say(str(unknown.value), "it").startswith("nessun paese con questo nome")
    assert ("MA", "Marocco") in countries.names("it_IT") and ("MA", "Morocco") in countries.names("en_GB")


def test_only_iso_3166_countries_are_suggested_or_read() -> None:
    """CLDR's territories include "Pseudo-accenti" (XA), "Eurozona" (EZ), "Nazioni Unite" (UN): chosen from the
    suggestions, intake refused them as "not an ISO 3166-1 country code"."""
    for locale in ("it_IT", "en_GB"):
        codes = {code for code, _ in countries.names(locale)}
        assert not {"XA", "XB", "EZ", "UN", "ZZ", "QO", "EU"} & codes, sorted(codes)
        assert {"MA", "NG", "IT", "CI"} <= codes and len(codes) >= 240
    for non_country in ("Pseudo-accenti", "Eurozona", "Nazioni Unite", "Regione sconosciuta", "Oceania lontana"):
        with pytest.raises(ValueError, match="no country of that name"):
            countries.country_code(non_country)


@pytest.mark.parametrize(
    ("typed", "looks"),
    [("DLLSST90C52Z319F", True), ("dllsst90c52z31", True), ("DLL SST 90C52 Z319F", True), ("Amina Okafor", False),
     ("N'Diaye", False), ("", False), ("c-8e2b7d41a9f0", False), ("12345678901", False)],
)  # fmt: skip
def test_a_name_that_looks_like_a_fiscal_code_is_told_apart(typed: str, looks: bool) -> None:
    assert fiscal_codes.looks_like(typed) is looks


@pytest.mark.parametrize(
    ("typed", "problem"),
    [("DLLSST90C52Z319F", None), (" dllsst 90c52 z319f ", None), ("", None),
     ("DLLSST90C52Z319X", fiscal_codes.CHECK_CHARACTER), ("DLLSST90C52Z31", fiscal_codes.SHAPE),
     ("DLLSST90C52Z319FF", fiscal_codes.SHAPE), ("Amina Okafor", fiscal_codes.SHAPE)],
)  # fmt: skip
def test_a_searched_fiscal_code_is_checked_as_intake_checks_it(typed: str, problem: str | None) -> None:
    assert fiscal_codes.problem(typed) == problem
    assert problem is None or say(problem, "it").startswith("non è un codice fiscale valido")


def test_a_file_of_another_kind_is_said_by_its_kind_not_its_media_type() -> None:
    """ "il file non è del tipo dichiarato (application/pdf)" is jargon at the desk."""
    said = say("is not a application/pdf file (its first bytes say otherwise)", "it")
    assert said == "il file non è un PDF valido", said
    assert (
        say("is not a image/png file (its first bytes say otherwise)", "it") == "il file non è un'immagine PNG valida"
    )


def test_a_refusal_alone_is_a_sentence_and_after_a_colon_it_ends() -> None:
    """Alerts read "chi ha chiesto il contributo non può approvarlo" (no capital, no full stop) as a whole message."""
    assert i18n.sentence("scelga un file") == "Scelga un file."
    assert i18n.sentence("è nel futuro.") == "È nel futuro."
    assert i18n.ended("la pratica è chiusa dal 1 dic 2026") == "la pratica è chiusa dal 1 dic 2026."
    assert i18n.ended("supera 10 MB!") == "supera 10 MB!" and i18n.sentence("") == ""


def test_an_appointment_booked_by_a_colleague_is_not_said_to_be_another_bodys() -> None:
    """ "preso da un altro ente" was said when a colleague of the same cooperative had booked it."""
    said = say("the appointment was booked by someone else", "it")
    assert "altro operatore" in said and "ente" not in said, said


def test_the_civic_refusals_are_said_in_italian() -> None:
    """Every refusal of intake's civic engagement (domain/civic.py) read in English on the Italian pages: a session
    dated in the future, an end before the start (with the field's id, "is before starts_on"), a level below the
    entry's, a certificate below the activity's attendance."""
    day = lambda d: i18n.day(d, "it")  # noqa: E731
    said = {
        "is in the future: record a session once it is held": "è nel futuro: registri l'incontro dopo che si è svolto",
        "is before starts_on": "è precedente al giorno di inizio",
        "is before the activity starts (2026-09-14)": "è precedente all'inizio dell'attività (14 set 2026)",
        "is after the activity ends (2026-11-27)": "è successivo alla fine dell'attività (27 nov 2026)",
        "person p-1 is listed twice": "la persona p-1 è indicata due volte",
        "person p-1 is also listed as present": "la persona p-1 è indicata anche tra i presenti",
        "the register is empty: list who was present or absent": "il registro è vuoto: indichi chi era presente o assente",  # noqa: E501
        "no session of the activity is recorded yet": "nessun incontro dell'attività è ancora registrato",
        "attended 3 of 10 sessions, below the activity's 70%": "ha frequentato 3 incontri su 10, meno del 70% richiesto dall'attività",  # noqa: E501
        "is for Italian language courses only": "vale solo per i corsi di lingua italiana",
        "CEFR levels are for Italian language courses only": "i livelli QCER valgono solo per i corsi di lingua italiana",  # noqa: E501
        "give the level reached with the level at entry": "indichi il livello raggiunto insieme al livello di ingresso",
        "is below level_at_entry": "è inferiore al livello di ingresso",
    }
    for reason, italian in said.items():
        assert say(reason, "it", day=day) == italian, reason
    assert say("is before starts_on", "en") == "is before the start day"  # a field's id said in words
    assert say("is below level_at_entry", "en") == "is below the level at entry"


@pytest.mark.parametrize(
    ("reason", "italian"),
    [
        # A case just opened at the desk is not known to payments until it reads intake's event (a second or two): the
        # first contribution asked for it read "unknown case c-8e2b7d41a9f0" in English.
        (
            "unknown case c-8e2b7d41a9f0",
            "la pratica non è ancora nota ai pagamenti: se è appena stata aperta, riprovi tra qualche secondo",
        ),
        ("case c-8e2b7d41a9f0 was closed on 2026-03-01", "la pratica è chiusa dal 2026-03-01"),
        (
            "case c-8e2b7d41a9f0 was closed on 2026-03-01: this request pays from 2026-04-01, after the case closed;"
            " reject it",
            "la pratica è chiusa dal 2026-03-01: la richiesta copre giorni dal 2026-04-01, dopo la chiusura;"
            " va respinta",
        ),
        ("a period lasts at most 366 days", "un periodo dura al massimo 366 giorni"),
        (
            "is more than 366 days ahead",
            "è tra più di 366 giorni: un appuntamento si fissa al massimo con un anno di anticipo",
        ),
        ("is before the appointment's day (2026-12-01)", "è precedente al giorno dell'appuntamento (2026-12-01)"),
        ("starts more than 366 days ahead", "comincia tra più di 366 giorni"),
        ("is in the past", "è nel passato"),  # a voucher's last valid day
        (
            "is more than 366 days ahead: the voucher would hold its budget until then",
            "è tra più di 366 giorni: il buono terrebbe impegnati i fondi fino ad allora",
        ),
        (  # the approval of whoever entered the bank data (a page opened before she entered them)
            "whoever set or changed the bank data cannot approve it: another person must",
            "chi ha inserito o cambiato le coordinate bancarie non può approvarle: deve farlo un'altra persona",
        ),
    ],
)
def test_payments_refusals_of_the_contribution_voucher_and_approval_forms_are_said_in_italian(
    reason: str, italian: str
) -> None:
    assert say(reason, "it") == italian


def test_a_day_is_typed_and_shown_day_first_as_an_italian_desk_writes_it() -> None:
    from lgnet_desk.domain.days import iso_day, typed_day

    assert iso_day("05/12/2026") == iso_day("5/12/2026") == iso_day("05.12.2026") == "2026-12-05"
    assert iso_day("05-12-2026") == iso_day(" 2026-12-05 ") == "2026-12-05"
    assert iso_day("31/02/2027") == "31/02/2027" and iso_day("domani") == "domani"  # as typed: `day_problem` says why
    assert typed_day("2026-12-05") == "05/12/2026" and typed_day("31/02/2027") == "31/02/2027" and typed_day(None) == ""


def test_a_day_or_a_time_that_is_none_is_said_by_the_desk_in_italian() -> None:
    """A day typed year first with an impossible month ("2026-31-12"), or day first that the calendar has not
    ("31/02/2027"), was passed on as typed and the services answered Python's text; a time "25:00" made intake answer
    in English under two fields. The desk reads them itself (domain/days.py) and says why in Italian."""
    from lgnet_desk.domain.days import day_problem, time_problem

    for good in ("2026-12-05", "", "2028-02-29"):
        assert day_problem(good) is None, good
    for impossible in ("2026-31-12", "2026-02-30", "31/02/2027", "2027-02-29", "0/1/2027"):
        said = day_problem(impossible)
        assert said is not None, impossible
        assert say(said, "it") == "questa data non esiste: controlli il giorno e il mese (gg/mm/aaaa)", impossible
    for garbage in ("domani", "2026-12", "20261205"):
        said = day_problem(garbage)
        assert said is not None and say(said, "it") == NOT_A_DAY, garbage
    for good in ("09:30", "23:59", "00:00"):
        assert time_problem(good) is None, good
    for wrong in ("25:00", "9:75", "mezzogiorno", "24:00"):
        said = time_problem(wrong)
        assert said is not None and say(said, "it") == "ora non valida: scriva ad esempio 09:30", wrong
    assert time_problem("") == "required"


async def test_more_persons_than_intake_reads_in_one_call_are_read_in_as_few_calls_as_it_takes() -> None:
    """Intake's `POST /persons/search` takes up to 100 `person_ids` (a longer list is refused, 422): a to-do list or
    register naming 130 persons asks twice, not once to be refused and show every person by id."""

    from lgnet_desk.service_layer.desk import NAMES_PER_CALL, in_calls

    asked: list[list[str]] = []

    async def search(ids: list[str]) -> list[dict[str, Any]]:
        assert len(ids) <= NAMES_PER_CALL == 100
        asked.append(ids)
        return [{"person_id": i} for i in ids]

    ids = [f"p-{i}" for i in range(130)]
    found = await in_calls(ids, search)
    assert [len(a) for a in asked] == [100, 30] and [p["person_id"] for p in found] == ids


async def test_a_courses_other_registers_are_read_side_by_side() -> None:
    """The attendance register lists whoever attended the activity's other sessions: a course of twenty sessions read
    nineteen registers one after another before the page showed. They go side by side now (at most eight at a
    time), the class in the order of their names' ids, each once."""
    from lgnet_desk.service_layer.civic import register_of_session

    sessions = [{"session_id": f"s-{n}", "present": 3, "absent": 1} for n in range(20)]

    def answer(path: str) -> dict[str, Any]:
        if path == "/civic/activities/act-1":
            return {
                "activity_id": "act-1",
                "session_list": [*sessions, {"session_id": "s-new", "present": 0, "absent": 0}],
            }
        n = int(path.rsplit("-", 1)[1])
        return {"session_id": path.rsplit("/", 1)[1], "register": [{"person_id": f"p-{n % 5}", "present": True}]}

    intake = SlowIntake(answer)
    activity, session, known = await register_of_session(cast(Services, intake), "act-1", "s-0")
    assert activity["activity_id"] == "act-1" and session["session_id"] == "s-0"
    assert known == ["p-0", "p-1", "p-2", "p-3", "p-4"]
    assert intake.most == 8, intake.most


def test_an_erasure_is_confirmed_by_typing_the_subjects_identifier_and_asked_by_the_citys_staff_only() -> None:
    """GDPR art. 17 at the desk (domain/erasure.py): the identifier typed exactly (spaces around it aside) confirms;
    anything else, nothing typed included, is refused at the field; a cooperative's operator and the DPO may not."""
    assert erasure.confirmation_problem(" p-1a2b ", "p-1a2b") is None
    for typed in ("", "p-1a2", "P-1A2B", "p-1a2b p-1a2b"):
        assert erasure.confirmation_problem(typed, "p-1a2b") == erasure.NOT_CONFIRMED, typed
    assert erasure.confirmation_problem("", "") == erasure.NOT_CONFIRMED
    assert erasure.may_erase(Operator("maria", "M", OperatorRole.STAFF, "torino", None))
    assert not erasure.may_erase(Operator("luca", "L", OperatorRole.PARTNER, "torino", "coop-aurora"))
    assert not erasure.may_erase(Operator("rpd", "R", OperatorRole.DPO, "torino", None))
    assert not erasure.may_erase(None)
    # what intake's read says is left: a person marked erased; a street person without a nickname
    assert erasure.PERSON.erased({"erased": True}) and not erasure.PERSON.erased({"erased": False})
    assert erasure.STREET_PERSON.erased({"nickname": None})
    assert not erasure.STREET_PERSON.erased({"nickname": "Il Rosso"})


def test_the_erasures_refusals_and_its_access_log_entries_are_said_in_italian() -> None:
    assert say("the person is already erased", "it") == "la persona è già stata cancellata"
    assert say("erasing a person is for the city's staff", "it") == (
        "solo il personale del Comune può cancellare i dati di una persona"
    )
    assert say(erasure.NOT_CONFIRMED, "it") == "per confermare, scriva esattamente l'identificativo indicato"
    assert say(erasure.NOT_CONFIRMED, "en") == erasure.NOT_CONFIRMED
    it, en = i18n.translations("it"), i18n.translations("en")
    assert i18n.access_action(erasure.PERSON.action, it) == ("Cancellazione dei dati (art. 17 GDPR)", "")
    assert i18n.access_action(erasure.STREET_PERSON.action, it) == ("Cancellazione del soprannome (art. 17 GDPR)", "")
    assert i18n.access_action(erasure.PERSON.view, en) == ("Erasure of the data: confirmation page", "")
    said = [it.gettext(m) for m in (erasure.PURPOSE, erasure.ERASED, erasure.REFUSED)]
    assert said == ["richiesta di cancellazione dell'interessato", "dati cancellati", "rifiutata dal servizio"]
    assert [en.gettext(m) for m in (erasure.PURPOSE, erasure.ERASED)] == ["erasure request", "erased"]


def test_no_form_key_makes_an_idempotency_key_the_services_refuse() -> None:
    """The services refuse a new Idempotency-Key holding identifying data (it is kept in clear with the answer). A
    form's key is random: as `token_urlsafe` it held a fiscal code's shape about once in 40,000 forms ("…_XbrvkwqnRRq
    nPm0g"), and the form was refused for no fault of the operator's. Hex digits make none (no fiscal code, IBAN or
    number can stand alone in a run of 32 letters and digits)."""
    from lgnet_desk.domain import resubmission
    from lgnet_shared.pseudonymous import identifying

    keys = [resubmission.call_key({resubmission.FIELD: resubmission.fresh()}, "erasure") for _ in range(300_000)]
    assert [k for k in keys if k is None or identifying(k)] == []


# Where a service's refusal never reaches a page of the desk: its command-line tools, the partners' signed inbound
# events, the leases a housing provider signs over housing's API (the desk shows them read-only), the national role
# (no desk operator has it).
NOT_AT_THE_DESK_FILES = {"credentials.py", "admin.py", "partner_admin.py", "partner_check.py", "inbound.py"}
NOT_AT_THE_DESK = re.compile(r"(?:name the city \()?the national role .*")
# A reason built of several words in its placeholders: what it says, as the service fills it in.
FILLED_IN = {
    "{} is above the opportunity's rent {}, the rent proposed and accepted: sign at most that, or change the"
    " opportunity's rent first (PATCH /opportunities/{})": [
        "450.00 EUR is above the opportunity's rent 300.00 EUR, the rent proposed and accepted: sign at most that, or"
        " change the opportunity's rent first (PATCH /opportunities/o-1)"
    ],
    "no {} {}": ["no opportunity o-1", "no placement pl-1", "no match m-1", "no case c-1", "no household h-1"],
    "partner {} is not the {} partner (it is the other side's partner)": [
        "partner coop-a is not the case's (household side) partner (it is the other side's partner)",
        "partner coop-a is not the opportunity's (provider side) partner (it is the other side's partner)",
    ],
    "a {} request pays a period: give its {} day": [
        "a rent request pays a period: give its first day",
        "a utilities request pays a period: give its last day",
    ],
    "the household's {} {}) already pays {} to {}: a period is paid once": [
        "the household's rent request r-1 (case c-1) already pays 2026-01-01 to 2026-01-31: a period is paid once"
    ],
    "the household's {} {}, {}, {}) already pays it: a {} is paid once per lease; for another lease, name its"
    " lease_id": [
        "the household's deposit request r-1 (case c-1, lease l-1) already pays it: a deposit is paid once per"
        " lease; for another lease, name its lease_id"
    ],
    "request {} {}": ["request r-1 is paid", "request r-1 has no bank data"],
    "{} is not a {} code: one of {}": ["'x' is not a contribution_rejection_reason code: one of a, b"],
}


def _refusal_reasons() -> list[tuple[str, str]]:
    """Every reason intake, housing and payments give in a refusal (ContractError, Conflict, Forbidden, NotFound: the
    problem+json `reason` the desk shows), as written in their sources ("{}" where a value goes), with its place."""
    import ast

    root = Path(__file__).parents[3]
    reasons = []
    for service in ("intake", "housing", "payments"):
        for source in sorted((root / "services" / service / "src").rglob("*.py")):
            if source.name in NOT_AT_THE_DESK_FILES:
                continue
            for node in ast.walk(ast.parse(source.read_text())):
                if not isinstance(node, ast.Call) or len(node.args) < 2:
                    continue
                called = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
                # The precise answer of a taken id, to whom it is theirs to know: `taken(ctx, field, id, precise)`,
                # `id_taken(actor, field, precise, …)` (lgnet_shared.access)
                at = {"ContractError": 1, "Conflict": 1, "Forbidden": 1, "NotFound": 1, "taken": 3, "id_taken": 2}
                if called not in at or len(node.args) <= at[called]:
                    continue
                said = node.args[at[called]]
                if isinstance(said, ast.Constant) and isinstance(said.value, str):
                    reasons.append((said.value, f"{service}/{source.name}:{node.lineno}"))
                elif isinstance(said, ast.JoinedStr):
                    text = "".join(str(v.value) if isinstance(v, ast.Constant) else "{}" for v in said.values)
                    reasons.append((text, f"{service}/{source.name}:{node.lineno}"))
    return reasons


def _said_in_italian(reason: str) -> bool:
    try:
        return say(reason, "it") != reason
    except (KeyError, IndexError, ValueError):  # a placeholder filled in with what the pattern did not expect
        return False


def test_a_refusal_whose_day_is_written_otherwise_is_still_said_not_a_server_error() -> None:
    """A pattern whose Italian names a day ({day0}) raised KeyError (the page: 500) when the service wrote that value
    another way than an ISO date (a timestamp): the value is said as written."""
    assert say("the case was closed on 2026-12-01T10:00:00Z", "it") == (
        "la pratica è chiusa dal 2026-12-01T10:00:00Z: non vi si può più registrare nulla"
    )


def test_every_refusal_a_service_can_give_at_the_desks_forms_is_said_in_italian() -> None:
    """An outside tester read English on the Italian pages wherever a service's reason was not in
    domain/refusals.py ("No case <id>.", "no housing case for household … among the cases of partner …", Python's
    "day is out of range for month"). Every reason the services write in a refusal is said in Italian, its values
    filled in as the service fills them (a day, a number, a city, an id, a state), but those that never reach the
    desk (NOT_AT_THE_DESK)."""
    from lgnet_shared.access import ID_TAKEN

    reasons = [*_refusal_reasons(), (ID_TAKEN, "lgnet_shared/access.py")]
    assert len(reasons) > 300, len(reasons)  # the services' sources were read
    english = []
    for reason, where in reasons:
        if NOT_AT_THE_DESK.fullmatch(reason):
            continue
        if reason in FILLED_IN:
            english += [(said, where) for said in FILLED_IN[reason] if not _said_in_italian(said)]
            continue
        samples = ("2026-01-01", "12", "torino", "c-1", "open") if "{}" in reason else ("",)
        if not any(_said_in_italian(reason.replace("{}", value)) for value in samples):
            english.append((reason, where))
    assert english == [], "\n".join(f"{where}: {reason}" for reason, where in english)


def test_a_port_that_is_none_is_refused_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """An outside tester started the desk with LGNET_HTTP_PORT=99999: it logged "Uvicorn running on
    http://127.0.0.1:99999" and listened on a port of the system's choosing; intake refuses it, as the README says the
    desk does."""
    from lgnet_desk.entrypoints import main as desk_main

    monkeypatch.setenv("DATABASE_URL", "postgresql://desk@db/lgnet")
    monkeypatch.setenv("LGNET_MASTER_KEY", "A" * 43 + "=")
    monkeypatch.setattr(sys, "argv", ["lgnet-desk"])
    monkeypatch.setattr(desk_main, "create_app", lambda *_: pytest.fail("the desk started"))
    for port in ("99999", "0"):
        monkeypatch.setenv("LGNET_HTTP_PORT", port)
        with pytest.raises(SystemExit) as stopped:
            desk_main.main()
        lines = str(stopped.value.code).splitlines()
        assert lines[0] == "lgnet-desk: invalid configuration:", lines
        assert lines[1].startswith("  LGNET_HTTP_PORT: Input should be"), lines


def test_languages_are_typed_by_their_names_in_italian_or_english_or_their_codes() -> None:
    """The cartella's languages a person speaks, as an operator types them: names (any case, accents, order) or ISO
    639 codes, separated by commas; sent to intake as codes, once each. A name no language has is refused at the
    field, naming it."""
    from lgnet_desk.domain import languages

    assert languages.codes_of("arabo, Francese") == ["ar", "fr"]
    assert languages.codes_of("Arabic; wolof , ar") == ["ar", "wo"]  # English names, codes, each once
    assert languages.codes_of("tigrino, creolo haitiano") == ["ti", "ht"]
    assert languages.codes_of("  ") == []
    with pytest.raises(ValueError, match="klingonese"):
        languages.codes_of("arabo, klingonese")
    assert ("ar", "arabo") in languages.names("it_IT")


@pytest.mark.parametrize(
    ("reason", "italian"),
    [
        (
            "no case of yours on the person's household yet: a partner reads a person's data for its own case, with"
            " her consent to sharing",
            "il suo ente non ha ancora una pratica sul nucleo della persona: un ente partner legge i dati di una"
            " persona per la propria pratica, con il suo consenso alla condivisione",
        ),
        (
            "partner coop-rival is offboarded (its credentials are revoked): it takes no work",
            "l'ente partner coop-rival non opera più sulla piattaforma (le sue credenziali sono revocate): non gli si"
            " può assegnare lavoro",
        ),
    ],
)
def test_intakes_new_refusals_of_partners_are_said_in_italian(reason: str, italian: str) -> None:
    assert say(reason, "it") == italian


def intake_keeping(posted: list[tuple[str, dict[str, Any]]], refusals: dict[str, Any] | None = None) -> Any:
    """Intake answering 201 to every POST (each kept), or the problem `refusals` gives for a path."""

    def intake(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        posted.append((request.url.path, body))
        if request.url.path == "/persons/search":
            return httpx.Response(200, json=[])
        if problem := (refusals or {}).get(request.url.path):
            return httpx.Response(problem["status"], json=problem)
        return httpx.Response(201, json={"person_id": body.get("person_id")})

    return intake


async def test_a_households_members_change_at_the_cartella_each_refusal_at_its_field() -> None:
    """A member leaving, a person on file joining and a newborn registered then joining: intake's POST
    /households/members (and /persons for the newborn) with the form's call keys; every refusal at its field."""
    from lgnet_desk.service_layer import households

    posted: list[tuple[str, dict[str, Any]]] = []
    async with httpx.AsyncClient(transport=httpx.MockTransport(intake_keeping(posted))) as client:
        services = Services({"intake": "http://intake"}, {"intake": "lgn_op"}, client)
        leaving = {"form_key": "k" * 22, "leave_household": "h-1", "leave_person": "p-2", "leave_reason": "moved",
                   "left_on": "2026-12-05"}  # fmt: skip
        await households.member_leaves(services, leaving)
        joining = {"form_key": "k" * 22, "join_household": "h-1", "join_person": "p-7", "join_reason": "reunification",
                   "joined_on": "2026-12-04"}  # fmt: skip
        await households.member_joins(services, joining)
        born = {"form_key": "b" * 22, "new_household": "h-1", "mn_given_name": "Bimba", "mn_family_name": "Okafor",
                "mn_birth_date": "2026-12-01", "mn_sex": "female", "mn_nationality": "Nigeria",
                "new_reason": "birth", "new_joined_on": "2026-12-01"}  # fmt: skip
        await households.newcomer_joins(services, born, date(2026, 12, 3))
    changes = [body for path, body in posted if path == "/households/members"]
    assert changes[0] == {"household_id": "h-1", "person_id": "p-2", "change": "left", "reason": "moved",
                          "on": "2026-12-05"}  # fmt: skip
    assert changes[1] == {"household_id": "h-1", "person_id": "p-7", "change": "joined", "reason": "reunification",
                          "on": "2026-12-04"}  # fmt: skip
    [newborn] = [body for path, body in posted if path == "/persons"]
    assert newborn["identity"] == {"given_name": "Bimba", "family_name": "Okafor"} and newborn["nationality"] == "NG"
    assert changes[2] == {"household_id": "h-1", "person_id": newborn["person_id"], "change": "joined",
                          "reason": "birth", "on": "2026-12-01"}  # fmt: skip
    # refused: every field at once, each at its own; the newborn registered is kept, not registered again
    problem = {"status": 422, "field": "on", "reason": "is in the future",
               "errors": [{"field": "on", "reason": "is in the future"},
                          {"field": "reason", "reason": "field required"}]}  # fmt: skip
    posted.clear()
    async with httpx.AsyncClient(
        transport=httpx.MockTransport(intake_keeping(posted, {"/households/members": problem}))
    ) as client:
        services = Services({"intake": "http://intake"}, {"intake": "lgn_op"}, client)
        with pytest.raises(FieldErrors) as refused:
            await households.member_leaves(services, leaving | {"leave_reason": ""})
        assert refused.value.errors == {"left_on": "is in the future", "leave_reason": "field required"}
        with pytest.raises(FieldErrors) as refused:
            await households.newcomer_joins(services, born, date(2026, 12, 3))
        assert refused.value.errors == {"new_joined_on": "is in the future", "new_reason": "field required"}
        assert refused.value.kept == {"mn_person_id": newborn["person_id"]}
        posted.clear()
        with pytest.raises(FieldErrors):
            await households.newcomer_joins(services, born | refused.value.kept, date(2026, 12, 3))
        assert [path for path, _ in posted] == ["/households/members"]  # not registered a second time
        # the desk's own: a newborn without a name or a birth date, a day that is none, nothing sent
        posted.clear()
        with pytest.raises(FieldErrors) as refused:
            await households.newcomer_joins(
                services, born | {"mn_given_name": "", "new_joined_on": "2026-02-31"}, date(2026, 12, 3)
            )
        assert set(refused.value.errors) == {"mn_given_name", "new_joined_on"} and posted == []


async def test_a_referral_is_recorded_with_its_source_and_then_its_outcome() -> None:
    from lgnet_desk.service_layer import households

    posted: list[tuple[str, dict[str, Any]]] = []
    async with httpx.AsyncClient(transport=httpx.MockTransport(intake_keeping(posted))) as client:
        services = Services({"intake": "http://intake"}, {"intake": "lgn_op"}, client)
        form = {"form_key": "r" * 22, "referral_household": "h-1", "referral_source": "reception_exit",
                "referrer": "", "received_on": "2026-12-03"}  # fmt: skip
        await households.referral(services, form)
        await households.referral(services, form)  # sent twice: the same referral
        outcome = {"form_key": "o" * 22, "referral_id": "ref-1", "referral_outcome": "taken_in_charge",
                   "outcome_case": "c-1"}  # fmt: skip
        await households.referral_outcome(services, outcome)
    first, again, recorded = posted
    assert first == again and first[0] == "/referrals", posted
    assert first[1] == {"referral_id": first[1]["referral_id"], "household_id": "h-1", "source": "reception_exit",
                        "received_on": "2026-12-03"}  # fmt: skip
    check_pseudonymous_id(first[1]["referral_id"], "referral_id")
    assert recorded == ("/referrals/ref-1/outcome", {"outcome": "taken_in_charge", "case_id": "c-1"})
    problem = {"status": 422, "field": "case_id", "reason": "is not a case of the referral's household"}
    async with httpx.AsyncClient(
        transport=httpx.MockTransport(intake_keeping(posted, {"/referrals/ref-1/outcome": problem}))
    ) as client:
        services = Services({"intake": "http://intake"}, {"intake": "lgn_op"}, client)
        with pytest.raises(FieldErrors) as refused:
            await households.referral_outcome(services, outcome)
    assert refused.value.errors == {"outcome_case": "is not a case of the referral's household"}


def test_a_lease_is_a_step_of_a_placement_without_one_its_amounts_typed_in_euros() -> None:
    from lgnet_desk.domain.housing_steps import STEPS, steps_for

    placed = {"placement_id": "pl-1", "ended_on": None, "lease": None}
    assert steps_for("placed", placed) == ["end", "lease"]
    assert steps_for("placed", placed | {"lease": {"lease_id": "l-1"}}) == ["end"]
    assert steps_for("ended", placed | {"ended_on": "2026-12-01"}) == []
    form = {"lease_type": "sub_lease", "monthly_rent": "450", "deposit": "1.350,50", "start_date": "2026-12-01",
            "end_date": "", "signed_on": "2026-11-30", "placement_id": "pl-1"}  # fmt: skip
    assert STEPS["lease"].body(form) == {"lease_type": "sub_lease", "monthly_rent_cents": 45_000,
                                         "deposit_cents": 135_050, "start_date": "2026-12-01",
                                         "signed_on": "2026-11-30"}  # fmt: skip
    assert STEPS["lease"].path == "/placements/{placement}/lease"


def test_a_registration_takes_each_members_phone_and_address_as_the_cartellas_details_form_does() -> None:
    """The registration took no phone or address (the cartella's details form did, after): a member's are sent with
    her registration, read as the details form reads them (`person_details`), a refusal of them at their fields."""
    form = {"m0_given_name": "Amina", "m0_birth_date": "1985-03-14", "m0_phone": " +39 333 1234567 ",
            "m0_address": "Via Roma 1, Torino", "m1_given_name": "Tariq", "m1_birth_date": "2015-01-01"}  # fmt: skip
    assert member_body(form, 0)["identity"] == {"given_name": "Amina", "phone": "+39 333 1234567",
                                                "address": "Via Roma 1, Torino"}  # fmt: skip
    assert member_body(form, 1)["identity"] == {"given_name": "Tariq"}
    from lgnet_desk.service_layer.desk import MEMBER_FIELDS

    assert {"phone", "address"} <= MEMBER_FIELDS  # typed alone, a row is a member (named, or refused); intake's at them


async def test_a_newcomers_consents_are_recorded_and_a_cooperative_needs_her_sharing_consent() -> None:
    """A baby registered by a cooperative without consents was at once "not visible" to it (a partner sees only the
    persons who consent to sharing), and could not be named or chosen on its own household's forms. Her consents are
    ticked as at the registration (none preset) and recorded; a cooperative's operator is asked for the sharing one
    before anyone is registered."""
    from lgnet_desk.service_layer import households

    posted: list[tuple[str, dict[str, Any]]] = []
    born = {"form_key": "c" * 22, "new_household": "h-1", "mn_given_name": "Bimba", "mn_birth_date": "2026-12-01",
            "mn_sex": "female", "mn_nationality": "NG", "new_reason": "birth", "new_joined_on": "2026-12-01",
            "mn_consent_service": "on"}  # fmt: skip
    async with httpx.AsyncClient(transport=httpx.MockTransport(intake_keeping(posted))) as client:
        services = Services({"intake": "http://intake"}, {"intake": "lgn_op"}, client)
        with pytest.raises(FieldErrors) as refused:
            await households.newcomer_joins(services, born, date(2026, 12, 3), "coop-aurora")
        assert set(refused.value.errors) == {"mn_consent_partner_sharing"} and posted == []
        await households.newcomer_joins(services, born | {"mn_consent_partner_sharing": "on"}, date(2026, 12, 3))
    [(_, person)] = [(p, b) for p, b in posted if p == "/persons"]
    consents = [b for p, b in posted if p == "/consents"]
    assert consents == [
        {"person_id": person["person_id"], "purpose": purpose, "granted": True, "recorded_on": "2026-12-03"}
        for purpose in ("service", "partner_sharing")
    ]
    # looked up on file first (by name and birth date: no fiscal code typed), as the registration does
    assert [p for p, _ in posted] == ["/persons/search", "/persons", "/consents", "/consents", "/households/members"]


async def test_a_cooperatives_referral_is_recorded_with_its_outcome_and_case_or_it_could_not_see_it() -> None:
    """Intake shows a cooperative only the referrals that name one of its cases: one recorded by its operator without
    an outcome was gone from the cartella at once, its outcome never recordable. A cooperative records the referral
    with its outcome and its case (the desk asks for both first); the city's staff may leave them for later."""
    from lgnet_desk.service_layer import households

    posted: list[tuple[str, dict[str, Any]]] = []
    form = {"form_key": "p" * 22, "referral_household": "h-1", "referral_source": "territory",
            "received_on": "2026-12-03"}  # fmt: skip
    async with httpx.AsyncClient(transport=httpx.MockTransport(intake_keeping(posted))) as client:
        services = Services({"intake": "http://intake"}, {"intake": "lgn_op"}, client)
        with pytest.raises(FieldErrors) as refused:
            await households.referral(services, form, "coop-aurora")
        assert set(refused.value.errors) == {"new_referral_outcome", "new_referral_case"} and posted == []
        both = form | {"new_referral_outcome": "taken_in_charge", "new_referral_case": "c-1"}
        await households.referral(services, both, "coop-aurora")
    (created, referral), (path, outcome) = posted
    assert created == "/referrals" and path == f"/referrals/{referral['referral_id']}/outcome"
    assert outcome == {"outcome": "taken_in_charge", "case_id": "c-1"}


def sent_form(form: dict[str, str], **more: Any) -> Any:
    """A cartella form as its route gives it to the service layer (`cartella_forms.Sent`): the person p-1, today
    3 December 2026, the form's key."""
    from lgnet_desk.service_layer.cartella_forms import Sent

    return Sent("p-1", {"form_key": "f" * 22} | form, date(2026, 12, 3), **more)


def test_an_assessment_is_built_in_the_service_layer_each_members_vulnerabilities_and_every_refusal_at_once() -> None:
    """The assessment's body from the form as sent (a box group per member, every box ticked), with no service; a
    form the desk cannot send refused with all it sees, each at its field."""
    from lgnet_desk.service_layer import cartella_forms

    form = {"case_id": "c-1", "housing_situation": "street", "monthly_income": "1.234,50",
            "employment_status": "unemployed", "assessed_on": "2026-12-02"}  # fmt: skip
    every = {"vulnerabilities.p-1": ["psychiatric", "illiterate"], "vulnerabilities.p-2": ["minor_unaccompanied"]}
    call = cartella_forms.assessment(sent_form(form, every=every))
    assert (call.service, call.path, call.method, call.key) == (
        "intake", "/cases/assessments", "POST", "desk:" + "f" * 22 + ":assessment"
    )  # fmt: skip
    assert call.body == {"case_id": "c-1", "housing_situation": "street", "monthly_income_cents": 123_450,
                         "employment_status": "unemployed", "assessed_on": "2026-12-02",
                         "vulnerabilities_by_person": {"p-1": ["psychiatric", "illiterate"],
                                                       "p-2": ["minor_unaccompanied"]}}  # fmt: skip
    assert call.fields["vulnerabilities_by_person"] == "vulnerabilities"  # intake's refusal of one: at the boxes
    with pytest.raises(FieldErrors) as refused:
        cartella_forms.assessment(sent_form({"housing_situation": "street", "assessed_on": "2026-02-31"}))
    assert refused.value.errors == {"case_id": "choose the case", "monthly_income": "required",
                                    "employment_status": "required", "assessed_on": days.NO_SUCH_DAY}  # fmt: skip


def test_a_plan_is_built_in_the_service_layer_its_objectives_the_boxes_ticked() -> None:
    """A plan's objectives are its boxes ticked (in the order sent), its id made from the form's key (sent twice, the
    same plan); no case, no day and no box ticked refused at once, each at its field."""
    from lgnet_desk.service_layer import cartella_forms

    form = {"case_id": "c-1", "agreed_on": "2026-12-01"}
    plan = cartella_forms.plan(sent_form(form, every={"objectives": ["find_housing", "find_work"]}))
    assert plan.path == "/cases/plans" and plan.key == "desk:" + "f" * 22 + ":plan"
    assert plan.body == {"case_id": "c-1", "plan_id": new_id("plan", plan.key), "agreed_on": "2026-12-01",
                         "objectives": ["find_housing", "find_work"]}  # fmt: skip
    again = cartella_forms.plan(sent_form(form, every={"objectives": ["find_work"]}))
    assert again.body["plan_id"] == plan.body["plan_id"]  # sent twice: the same plan
    with pytest.raises(FieldErrors) as refused:  # no case, no day, no box ticked: all at once
        cartella_forms.plan(sent_form({"agreed_on": ""}))
    assert refused.value.errors == {"case_id": "choose the case", "agreed_on": "required",
                                    "objectives": "choose at least one"}  # fmt: skip


def test_an_objective_moved_on_is_built_in_the_service_layer_under_its_plan() -> None:
    from lgnet_desk.service_layer import cartella_forms

    form = {"case_id": "c-1", "plan_id": "plan-1", "objective": "find_work", "status": "achieved", "on": "2026-12-02"}
    call = cartella_forms.objective(sent_form(form))
    assert (call.path, call.key) == ("/cases/plans/objectives", "desk:" + "f" * 22 + ":objective:plan-1")
    assert call.body == {"case_id": "c-1", "plan_id": "plan-1", "objective": "find_work", "status": "achieved",
                         "on": "2026-12-02"}  # fmt: skip
    assert call.fields["case_id"] == "objective"  # the objective's row has no case field: intake's refusal said there
    unchosen = cartella_forms.objective(sent_form(form | {"status": ""}))  # "— scelga —": left out, intake requires it
    assert unchosen.body["status"] is None
    with pytest.raises(FieldErrors) as refused:
        cartella_forms.objective(sent_form(form | {"case_id": " "}))
    assert refused.value.errors == {"case_id": "choose the case"}


def test_the_persons_employment_is_built_in_the_service_layer_for_the_routes_person() -> None:
    from lgnet_desk.service_layer import cartella_forms

    form = {"case_id": "c-1", "employment_now": "employed", "employment_as_of": "2026-11-01"}
    call = cartella_forms.employment(sent_form(form))
    assert (call.service, call.path) == ("intake", "/employment")
    assert call.body == {"person_id": "p-1", "case_id": "c-1", "status": "employed", "as_of": "2026-11-01"}
    assert call.fields == {"status": "employment_now", "as_of": "employment_as_of", "case_id": "case_id"}
    with pytest.raises(FieldErrors) as refused:
        cartella_forms.employment(sent_form({"employment_now": "employed"}))
    assert refused.value.errors == {"case_id": "choose the case"}


def test_a_persons_details_are_patched_from_the_service_layer_only_what_changed() -> None:
    from lgnet_desk.service_layer import cartella_forms

    shown = {"was_phone": "+39 333 1", "was_address": "", "was_languages": "arabo", "was_literate": "yes"}
    assert cartella_forms.details(sent_form(shown | {"phone": "+39 333 1", "languages": "arabo",
                                                     "literate": "yes"})) is None  # fmt: skip
    call = cartella_forms.details(sent_form(shown | {"phone": "+39 333 2", "languages": "arabo, francese",
                                                     "literate": "no"}))  # fmt: skip
    assert call is not None and (call.method, call.path) == ("PATCH", "/persons/p-1")
    assert call.body == {"identity": {"phone": "+39 333 2"}, "languages": ["ar", "fr"], "literate": False}
    with pytest.raises(FieldErrors) as refused:
        cartella_forms.details(sent_form(shown | {"languages": "xyzzy qq"}))
    assert set(refused.value.errors) == {"languages"}


def test_a_contribution_request_is_built_in_the_service_layer_its_period_and_payee_as_payments_names_them() -> None:
    from lgnet_desk.service_layer import cartella_forms

    rent = {"case_id": "c-1", "kind": "rent", "amount": "450", "period_from": "2026-12-01", "period_to": "2026-12-31",
            "beneficiary_name": " Mario Rossi ", "beneficiary_iban": "IT60X0542811101000000123456",
            "beneficiary_bic": ""}  # fmt: skip
    call = cartella_forms.contribution(sent_form(rent))
    assert (call.service, call.path, call.key) == (
        "payments",
        "/contribution-requests",
        "desk:" + "f" * 22 + ":contribution",
    )
    assert call.body == {"case_id": "c-1", "kind": "rent", "amount_cents": 45_000, "period_from": "2026-12-01",
                         "period_to": "2026-12-31", "beneficiary": {"name": "Mario Rossi",
                                                                    "iban": "IT60X0542811101000000123456"}}  # fmt: skip
    assert call.fields["beneficiary"] == "beneficiary_iban" and call.fields["period_from"] == "period_from"
    # a deposit pays no period, whatever its fields hold; no payee: none sent (given later)
    deposit = cartella_forms.contribution(sent_form(rent | {"kind": "deposit", "beneficiary_name": "",
                                                            "beneficiary_iban": ""}))  # fmt: skip
    assert deposit.body == {"case_id": "c-1", "kind": "deposit", "amount_cents": 45_000}
    with pytest.raises(FieldErrors) as refused:  # no amount, a payee without IBAN, no case: one round
        cartella_forms.contribution(sent_form({"amount": " ", "beneficiary_name": "Mario Rossi"}))
    assert refused.value.errors == {"amount": "required", "beneficiary_iban": cartella_forms.PAYEE_WITHOUT_IBAN,
                                    "case_id": "choose the case"}  # fmt: skip


async def test_a_payees_bank_data_are_built_in_the_service_layer_and_refused_at_the_requests_own_fields() -> None:
    """The payee's form is one per waiting request on the page: its fields are named after the request (the route's
    `request_id`), and payments' refusal is said at that request's field."""
    from lgnet_desk.service_layer import cartella_forms

    form = {"payee_name": " Mario Rossi ", "payee_iban": "IT60X0542811101000000123456", "payee_bic": ""}
    sent = sent_form(form, at={"request_id": "cr-7"})
    call = cartella_forms.payee(sent)
    assert (call.method, call.path, call.key) == ("PUT", "/contribution-requests/cr-7/beneficiary",
                                                  "desk:" + "f" * 22 + ":payee-cr-7")  # fmt: skip
    assert call.body == {"name": "Mario Rossi", "iban": "IT60X0542811101000000123456"}
    problem = {"status": 422, "field": "iban", "reason": "not a valid IBAN"}
    put: list[httpx.Request] = []

    def payments(request: httpx.Request) -> httpx.Response:
        put.append(request)
        return httpx.Response(422, json=problem)

    async with httpx.AsyncClient(transport=httpx.MockTransport(payments)) as client:
        services = Services({"payments": "http://payments"}, {"payments": "lgn_op"}, client)
        with pytest.raises(FieldErrors) as refused:
            await cartella_forms.FORMS["contributions/{request_id}/payee"](services, sent)
    assert refused.value.errors == {"payee_iban-cr-7": "not a valid IBAN"}
    assert [(r.method, r.url.path) for r in put] == [("PUT", "/contribution-requests/cr-7/beneficiary")]
    assert put[0].headers["Idempotency-Key"] == call.key


def test_a_voucher_is_built_in_the_service_layer_its_value_required() -> None:
    from lgnet_desk.service_layer import cartella_forms

    form = {"case_id": "c-1", "voucher_kind": "public_transport", "voucher_value": "35,50", "valid_until": ""}
    call = cartella_forms.voucher(sent_form(form))
    assert (call.service, call.path) == ("payments", "/vouchers")
    assert call.body == {"case_id": "c-1", "kind": "public_transport", "value_cents": 3_550, "valid_until": None}
    assert call.fields["value_cents"] == "voucher_value"
    with pytest.raises(FieldErrors) as refused:
        cartella_forms.voucher(sent_form({"voucher_kind": "cleaning", "voucher_value": ""}))
    assert refused.value.errors == {"voucher_value": "required", "case_id": "choose the case"}


def test_a_note_is_built_in_the_service_layer_for_the_routes_person() -> None:
    from lgnet_desk.service_layer import cartella_forms

    call = cartella_forms.note(sent_form({"text": "Colloquio con la madre."}))
    assert (call.service, call.path, call.body) == ("intake", "/persons/p-1/notes", {"text": "Colloquio con la madre."})
    assert call.key == "desk:" + "f" * 22 + ":note"


def test_a_money_tutoring_session_is_built_in_the_service_layer_its_topics_ticked() -> None:
    from lgnet_desk.service_layer import cartella_forms

    form = {"case_id": "c-1", "on": "2026-12-02", "outcome": "budget_agreed"}
    call = cartella_forms.tutoring(sent_form(form, every={"topics": ["budgeting", "debt"]}))
    assert (call.service, call.path) == ("payments", "/tutoring-sessions")
    assert call.body == {"case_id": "c-1", "topics": ["budgeting", "debt"], "on": "2026-12-02",
                         "outcome": "budget_agreed"}  # fmt: skip
    assert call.fields["outcome"] == "tutoring_outcome"
    with pytest.raises(FieldErrors) as refused:
        cartella_forms.tutoring(sent_form({"on": "2026-13-01"}))
    assert refused.value.errors == {"case_id": "choose the case", "on": days.NO_SUCH_DAY,
                                    "topics": "choose at least one"}  # fmt: skip


def test_a_cases_transfer_is_built_in_the_service_layer_its_partner_never_chosen_for_the_operator() -> None:
    from lgnet_desk.service_layer import cartella_forms

    call = cartella_forms.transfer(
        sent_form({"case_id": "c-1", "to_partner": "coop-carso", "transfer_on": "2026-12-02"})
    )
    assert (call.path, call.body) == ("/cases/c-1/transfer", {"to_partner": "coop-carso", "on": "2026-12-02"})
    with pytest.raises(FieldErrors) as refused:
        cartella_forms.transfer(sent_form({"to_partner": "", "transfer_on": ""}))
    assert refused.value.errors == {"to_partner": cartella_forms.CHOOSE_THE_PARTNER, "case_id": "choose the case",
                                    "transfer_on": "required"}  # fmt: skip


def test_a_cases_closure_is_built_in_the_service_layer_never_without_its_outcome() -> None:
    from lgnet_desk.service_layer import cartella_forms

    call = cartella_forms.closure(sent_form({"case_id": "c-1", "case_outcome": "autonomy", "closed_on": "2026-12-02"}))
    assert (call.path, call.body) == ("/cases/closures", {"case_id": "c-1", "outcome": "autonomy",
                                                          "closed_on": "2026-12-02"})  # fmt: skip
    assert call.fields["outcome"] == "case_outcome" and call.key == "desk:" + "f" * 22 + ":closure"
    with pytest.raises(FieldErrors) as refused:
        cartella_forms.closure(sent_form({"case_id": "c-1", "case_outcome": "", "closed_on": "2026-02-30"}))
    assert refused.value.errors == {"case_outcome": "required", "closed_on": days.NO_SUCH_DAY}


def test_a_consent_is_built_in_the_service_layer_recorded_today_never_a_withdrawal_by_default() -> None:
    """A consent recorded on the day the route gives (`Sent.today`); no decision chosen, nothing sent; a cooperative's
    operator withdrawing the sharing consent ends her own access (her confirmation page, the cartella not read)."""
    from lgnet_desk.service_layer import cartella_forms

    withdrawn = sent_form({"purpose": "partner_sharing", "granted": "false"}, partner="coop-aurora")
    call = cartella_forms.consent(withdrawn)
    assert (call.path, call.body) == ("/consents", {"person_id": "p-1", "purpose": "partner_sharing",
                                                    "granted": False, "recorded_on": "2026-12-03"})  # fmt: skip
    ends = cartella_forms.ENDS_ACCESS["consents"]
    assert ends(withdrawn)
    assert not ends(sent_form({"purpose": "partner_sharing", "granted": "false"}))  # the city's staff: she still sees
    assert not ends(sent_form({"purpose": "service", "granted": "false"}, partner="coop-aurora"))
    with pytest.raises(FieldErrors) as refused:
        cartella_forms.consent(sent_form({"purpose": "service", "granted": ""}))
    assert refused.value.errors == {"granted": "required"}


def test_a_case_is_opened_from_the_service_layer_its_household_and_partner_never_chosen_for_the_operator() -> None:
    """The case's body from the form (its id from the form's key: sent twice, the same case; the housing need a box);
    a household or a partner left on "— scelga —" refused with every blank and every day that is no day, at once."""
    from lgnet_desk.service_layer import cartella_forms

    form = {"household_id": "h-1", "action_area": "taking_charge", "channel": "desk", "opened_on": "2026-12-01",
            "partner": "coop-aurora", "housing_need": "on"}  # fmt: skip
    call = cartella_forms.case(sent_form(form))
    assert (call.path, call.key) == ("/cases", "desk:" + "f" * 22 + ":case")
    assert call.body == {"case_id": new_id("c", call.key), "household_id": "h-1", "action_area": "taking_charge",
                         "channel": "desk", "opened_on": "2026-12-01", "housing_need": True,
                         "partner": "coop-aurora"}  # fmt: skip
    cooperatives = cartella_forms.case(
        sent_form({k: v for k, v in form.items() if k not in ("partner", "housing_need")})
    )
    assert "partner" not in cooperatives.body and cooperatives.body["housing_need"] is False  # a cooperative's: its own
    with pytest.raises(FieldErrors) as refused:
        cartella_forms.case(
            sent_form({"household_id": "", "partner": "", "channel": "desk", "opened_on": "2026-02-30"})
        )
    partner = cartella_forms.CHOOSE_THE_PARTNER
    assert refused.value.errors == {"household_id": "choose the household", "partner": partner,
                                    "action_area": "required", "opened_on": days.NO_SUCH_DAY}  # fmt: skip


async def test_a_document_is_uploaded_from_the_service_layer_its_kind_and_file_each_required() -> None:
    """The document's kind and file each required, said together, nothing read or sent; a file input left empty (a
    part with no file name) is no file; chosen, the file is sent to intake as the person's, its type as declared."""
    from lgnet_desk.service_layer import cartella_forms

    class Chosen:
        def __init__(self, filename: str | None, data: bytes, content_type: str | None = "application/pdf") -> None:
            self.filename, self.content_type, self.data, self.reads = filename, content_type, data, 0

        async def read(self, size: int = -1) -> bytes:
            self.reads += 1
            return self.data[:size]

    posted: list[tuple[str, dict[str, Any]]] = []
    async with httpx.AsyncClient(transport=httpx.MockTransport(intake_keeping(posted))) as client:
        services = Services({"intake": "http://intake"}, {"intake": "lgn_op"}, client)
        empty = Chosen(None, b"")
        with pytest.raises(FieldErrors) as refused:
            await cartella_forms.FORMS["documents"](
                services, sent_form({"document_kind": ""}, files={"document": empty})
            )
        assert refused.value.errors == {"document": "choose a file", "document_kind": "required"}
        permit = Chosen("permesso.pdf", b"%PDF-1.7 permesso")
        with pytest.raises(FieldErrors) as refused:
            await cartella_forms.document(services, sent_form({"document_kind": ""}, files={"document": permit}))
        assert refused.value.errors == {"document_kind": "required"} and permit.reads == 0 and posted == []
        await cartella_forms.document(services, sent_form({"document_kind": "residence_permit"},
                                                          files={"document": permit}))  # fmt: skip
    [(path, body)] = posted
    assert path == "/persons/p-1/documents"
    assert body == {"kind": "residence_permit", "filename": "permesso.pdf", "media_type": "application/pdf",
                    "content_base64": base64.b64encode(b"%PDF-1.7 permesso").decode()}  # fmt: skip


# A proposal's explanation as housing answers it (domain/rules.py's details): this module's and the housing page's
A_PROPOSALS_EXPLANATION = [
    {"rule": "city", "passed": True, "detail": "household in torino, opportunity in torino"},
    {"rule": "availability", "passed": True, "detail": "available from 2026-12-01 until open end"},
    {"rule": "capacity", "passed": True, "detail": "2 person(s) for 2 place(s)"},
    {"rule": "bedrooms", "passed": True, "detail": "2 person(s), 1 bedroom(s) house at most 2"},
    {"rule": "women_only", "passed": True, "detail": "no such restriction"},
    {"rule": "families_only", "passed": True, "detail": "restricted to families: household is"},
    {"rule": "accessibility", "passed": True, "detail": "no accessibility needs"},
    {"rule": "specialist_support", "passed": True,
     "detail": "needs a specialist team; support level: specialist_team"},
    {"rule": "affordability", "passed": True,
     "detail": "rent 300.00 EUR vs affordable 400.00 EUR (40% of income 1000.00 EUR"
               " + planned contribution 0.00 EUR)"},
]  # fmt: skip
A_SCORE_BREAKDOWN = {"vulnerability": 2.0, "situation": 3.0, "waiting": 0.5, "urgency": 0.0, "minors": 1.0,
                     "priority": 7.5, "fit_unused_capacity": 0.0, "fit_language": 0.1, "fit": 1.1}  # fmt: skip


def test_a_proposals_explanation_is_read_rule_by_rule_with_its_numbers_and_the_prioritys_parts() -> None:
    """Housing explains each proposal rule by rule in English details ("2 person(s) for 2 place(s)") and with its score
    breakdown: the page says them in the operator's language from the rule's code and the numbers its detail gives; a
    restriction the housing does not have, or a need the household does not have, says nothing of the pair and is
    left out; a detail withheld from the reader is said as the rule met, nothing more."""
    from lgnet_desk.domain.housing_steps import priority_parts, proposal_reasons

    explanation = A_PROPOSALS_EXPLANATION
    assert proposal_reasons(explanation) == [
        {"code": "city", "passed": True},
        {"code": "availability", "passed": True, "start": "2026-12-01", "end": None},
        {"code": "capacity", "passed": True, "size": 2, "places": 2},
        {"code": "bedrooms", "passed": True, "size": 2, "bedrooms": 1, "limit": 2},
        {"code": "families_only", "passed": True},
        {"code": "specialist_support", "passed": True, "needed": True},
        {"code": "affordability", "passed": True, "rent": 30000, "limit": 40000, "share": 40, "income": 100000,
         "contribution": 0},
    ]  # fmt: skip
    withheld = [{"rule": "affordability", "passed": True, "detail": "withheld: the household's need-to-know data"}]
    assert proposal_reasons(withheld) == [{"code": "affordability", "passed": True, "withheld": True}]
    assert proposal_reasons(None) == []
    breakdown = A_SCORE_BREAKDOWN
    assert priority_parts(breakdown) == {
        "priority": 7.5,
        "base": 1.0,
        "parts": [("vulnerability", 2.0), ("situation", 3.0), ("waiting", 0.5), ("urgency", 0.0), ("minors", 1.0)],
        "fit": 1.1,
        "fit_parts": [("fit_unused_capacity", 0.0), ("fit_language", 0.1)],
    }
    # the provider-side partner's breakdown (fit only): no priority said
    assert priority_parts({"fit": 1.0, "fit_unused_capacity": 0.0, "fit_language": 0.0})["priority"] is None


def test_a_name_in_the_access_logs_identifier_box_is_said_to_be_no_identifier() -> None:
    """A name typed for a person ("Traoré") gave "Nessuna voce." and a printout "for the person" named so: a name (a
    space, a letter outside ASCII, no digit) is said at the field; the ids the desk and the partners make pass."""
    from lgnet_desk.domain.access_log import NOT_AN_ID, person_error

    for name in ("Traoré", "Mariam Traore", "Okafor", "N'Diaye"):
        assert person_error(name) == {"person_id": NOT_AN_ID}, name
    for pid in ("p-1", "h-5f1c0a9e7b2d", "3f2b8c1e-9a7d-4c2b-8e1f-0a9b8c7d6e5f", "", None, " p-9 "):
        assert person_error(pid) == {}, pid
    assert say(NOT_AN_ID, "it") == "indichi l'identificativo della persona (dalla sua cartella), non il nome"
