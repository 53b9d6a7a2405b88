"""The cartella's forms (`/persons/{id}/<form>`), as the service layer runs them: each reads the form as sent
(`Sent`: its fields, a box group's every value, its files, the person, the route's other parameters, the operator's
cooperative, the day), refuses what the desk itself can see is wrong (each refusal at its field, all at once) and
makes its request to the service as the operator (`desk.submit`: a service's refusals at the fields they name). The
web entrypoint only reads the request, runs the form's `FORMS` entry and renders what comes of it: back at the
section showing what was recorded, or the form shown again with its refusals (`FieldErrors`).

A form of one request is a `Call` built from what was sent (`sending`): no HTTP in the building, so a form's body and
its refusals are read without a service (the desk's unit tests)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

from lgnet_desk.adapters.services import Services, service_path
from lgnet_desk.domain import countries, resubmission
from lgnet_desk.domain.money import cents_of, typed_euros
from lgnet_desk.service_layer import desk, households
from lgnet_desk.service_layer.desk import FieldErrors


class SentFile(Protocol):
    """A file sent with a form (the web framework's upload is one): its name, its declared type, its bytes."""

    @property
    def filename(self) -> str | None: ...

    @property
    def content_type(self) -> str | None: ...

    async def read(self, size: int = -1) -> bytes: ...


@dataclass(frozen=True)
class Sent:
    """A cartella form as its route received it."""

    person_id: str  # the cartella's person (the route's)
    form: dict[str, str]  # each field's last value, days as ISO (`forms.form_of`)
    today: date
    every: Mapping[str, list[str]] = field(default_factory=dict)  # each field's every value: a box group's ticks
    at: Mapping[str, str] = field(default_factory=dict)  # the route's other path parameters (a payee's request)
    partner: str | None = None  # the cooperative its operator acts for; None for the city's staff
    files: Mapping[str, SentFile] = field(default_factory=dict)  # each file field's file (read only when sent on)

    def ticked(self, name: str) -> list[str]:
        """Every value of a repeated field (a box group), in the order sent; none ticked: []."""
        return list(self.every.get(name, ()))


CartellaRun = Callable[[Services, Sent], Awaitable[None]]


@dataclass(frozen=True)
class Call:
    """The one request of a cartella form: to which service, where, what, and where its refusals go."""

    service: str
    path: str
    body: dict[str, Any]
    fields: dict[str, str]  # the service's field → the form's (one it names that the form lacks: the first's)
    key: str | None  # the form's call key: sent twice, the same request
    method: str = "POST"


def sending(build: Callable[[Sent], Call | None]) -> CartellaRun:
    """A form of one request: `build` refuses what the desk sees or makes its `Call` (None: nothing to send)."""

    async def run(services: Services, sent: Sent) -> None:
        if (call := build(sent)) is not None:
            await desk.submit(services, call.service, call.path, call.body, call.fields, call.key, call.method)

    return run


# The desk's own refusals, said before anything is sent (each at its field, all at once).

PERIOD = ("period_from", "period_to")  # of a rent or utilities request
PERIODIC = ("rent", "utilities")  # the kinds that pay a period (payments' rule: it refuses them without one)
PAYEE = ("name", "iban", "bic")  # a request's `beneficiary`, as payments names its fields


def amount_given(form: dict[str, str], name: str, also: dict[str, str] | None = None) -> None:
    """An amount left empty is said missing ("campo obbligatorio", not "not a valid amount"), with the case if it is
    missing too, and `also` (the form's other refusals found by the desk): one round."""
    errors = desk.blank(form, (name,)) | (also or {})
    if errors:
        raise FieldErrors(errors | case_missing(form))


# The IBAN may be left blank (given later), but not alone: payments' "Field required" for it read "campo
# obbligatorio" under the label "se vuoto: da indicare in seguito".
PAYEE_WITHOUT_IBAN = "with a payee named the IBAN is needed too, or leave both blank"


def payee_without_iban(form: dict[str, str]) -> dict[str, str]:
    """The refusal of a contribution's payee named (or a BIC given) with no IBAN, at the IBAN."""
    named = any(form.get(f"beneficiary_{k}", "").strip() for k in ("name", "bic"))
    return {"beneficiary_iban": PAYEE_WITHOUT_IBAN} if named and not form.get("beneficiary_iban", "").strip() else {}


def chosen(form: dict[str, str], name: str) -> str | None:
    """A select's choice; its blank first option ("— scelga —") is no choice: None, left out of the request
    (`desk.given`), so the service says the field is required."""
    return form.get(name) or None


NO_CASE = {"case_id": "choose the case"}
CHOOSE_THE_PARTNER = "choose the partner"  # a case's, or the one it is transferred to: never chosen for the operator


def case_of(form: dict[str, str]) -> str:
    """The case a cartella form writes to: the operator chooses it when the person has several open cases."""
    if not (case_id := form.get("case_id", "").strip()):
        raise FieldErrors(dict(NO_CASE))
    return case_id


def case_missing(form: dict[str, str]) -> dict[str, str]:
    """The refusal of a case form sent with no case chosen; none when one is."""
    return {} if form.get("case_id", "").strip() else dict(NO_CASE)


def refuse_with_the_rest(
    own: dict[str, str], form: dict[str, str], required: tuple[str, ...], ticked: tuple[str, ...] = ()
) -> None:
    """The desk's own refusals of a form (`own`: a list left on "— scelga —") said with every `required` field left
    blank, every box group of `ticked` with none ticked and every day that is no day, in one round: raised alone, they
    hid the rest until the next try (a case opened with everything empty said only "scelga l'ente partner"). None of
    its own: the service says the rest."""
    if own:
        blank = desk.blank(form, required) | {name: CHOOSE_ONE for name in ticked if not form.get(name)}
        raise FieldErrors(blank | desk.wrong_days({name: form.get(name) for name in required}) | own)


def refuse_before_sending(form: dict[str, str], required: tuple[str, ...], ticked: tuple[str, ...] = ()) -> None:
    """A case form the desk cannot send (no case chosen, a day that is no day) refused with all it can see at once
    (`refuse_with_the_rest`): each of these said one refusal per round, an outside review."""
    own = case_missing(form) | desk.wrong_days({name: form.get(name) for name in required})
    refuse_with_the_rest(own, form, required, ticked)


CHOOSE_ONE = "choose at least one"  # a box group none of which is ticked (the services: a list of at least 1 item)


CASE_FIELDS = {
    "action_area": "action_area",
    "channel": "channel",
    "opened_on": "opened_on",
    "partner": "partner",
    "household_id": "household_id",
}


def case(sent: Sent) -> Call:
    """A case opened for a household the person is a member of now (intake's `POST /cases`): its household (chosen
    when she is in several, none chosen beforehand), action area, channel, opening day, whether it needs housing and,
    for the city's staff, the partner that follows it (chosen, never chosen for her). Its id made from the form's key:
    sent twice, the same case."""
    f = sent.form
    key = resubmission.call_key(f, "case")
    own: dict[str, str] = {}
    if not f.get("household_id"):
        own["household_id"] = "choose the household"
    if "partner" in f and not f["partner"]:  # the staff's list left on "— choose —"
        own["partner"] = CHOOSE_THE_PARTNER
    refuse_with_the_rest(own, f, ("action_area", "channel", "opened_on"))
    body: dict[str, Any] = {
        "case_id": desk.new_id("c", key),
        "household_id": f.get("household_id"),
        "action_area": chosen(f, "action_area"),
        "channel": chosen(f, "channel"),
        "opened_on": f.get("opened_on"),
        "housing_need": f.get("housing_need") == "on",
    }
    if f.get("partner"):
        body["partner"] = f["partner"]
    return Call("intake", "/cases", body, CASE_FIELDS, key)


ASSESSMENT_FIELDS = {
    "monthly_income_cents": "monthly_income",
    "housing_situation": "housing_situation",
    "employment_status": "employment_status",
    "assessed_on": "assessed_on",
    "case_id": "case_id",
    "vulnerabilities": "vulnerabilities",
    "vulnerabilities_by_person": "vulnerabilities",
}


def assessment(sent: Sent) -> Call:
    """A needs assessment of the case (intake's `POST /cases/assessments`): the housing situation, income and
    employment, and each member's vulnerabilities (one box group per member, `vulnerabilities.<person id>`)."""
    f = sent.form
    refuse_before_sending(f, ("housing_situation", "monthly_income", "employment_status", "assessed_on"))
    body = {
        "case_id": case_of(f),
        "housing_situation": chosen(f, "housing_situation"),
        "monthly_income_cents": cents_of(f.get("monthly_income", "")),
        "employment_status": chosen(f, "employment_status"),
        "vulnerabilities_by_person": {
            name.split(".", 1)[1]: list(values)
            for name, values in sent.every.items()
            if name.startswith("vulnerabilities.")
        },
        "assessed_on": f.get("assessed_on"),
    }
    return Call("intake", "/cases/assessments", body, ASSESSMENT_FIELDS, resubmission.call_key(f, "assessment"))


def assessment_on_file(
    record: Mapping[str, Any], case_id: str | None = None
) -> tuple[dict[str, str], dict[str, list[str]]]:
    """What the assessment's form opens with (its fields, its boxes ticked: as `Sent.form` and `Sent.every`): the
    assessment on file of the open case it writes to — the only one, or the one the operator chose (`case_id`) — so a
    correction changes only what the operator changes (an outside test: the form opened empty, and sent to fix the
    income it erased the vulnerabilities recorded). Several open cases and none chosen, or a case not open: nothing
    (the form cannot know whose assessment it corrects)."""
    open_cases = [c for c in record.get("cases", []) if not c.get("closed_on")]
    if case_id is None and len(open_cases) == 1:
        case_id = str(open_cases[0]["case_id"])
    case = next((c for c in open_cases if c["case_id"] == case_id), None)
    if case is None:
        return {}, {}
    form, now = {"case_id": str(case["case_id"])}, case.get("assessment") or {}
    for name in ("housing_situation", "employment_status"):
        if now.get(name):
            form[name] = str(now[name])
    if isinstance(cents := now.get("monthly_income_cents"), int):
        form["monthly_income"] = typed_euros(cents)
    erased = {m["person_id"] for h in record.get("households", []) for m in h.get("members", []) if m.get("erased")}
    by_person = now.get("vulnerabilities_by_person") or {}
    return form, {
        f"vulnerabilities.{pid}": list(codes) for pid, codes in by_person.items() if codes and pid not in erased
    }


def plan(sent: Sent) -> Call:
    """An individual plan agreed with the household (intake's `POST /cases/plans`): its objectives, ticked."""
    f = sent.form
    refuse_before_sending(f, ("agreed_on",), ("objectives",))
    key = resubmission.call_key(f, "plan")
    body = {
        "case_id": case_of(f),
        "plan_id": desk.new_id("plan", key),
        "objectives": sent.ticked("objectives"),
        "agreed_on": f.get("agreed_on"),
    }
    return Call(
        "intake",
        "/cases/plans",
        body,
        {"objectives": "objectives", "agreed_on": "agreed_on", "case_id": "case_id"},
        key,
    )


def objective(sent: Sent) -> Call:
    """An objective of a plan moved on (intake's `POST /cases/plans/objectives`): its state now, the day."""
    f = sent.form
    body = {
        "case_id": case_of(f),
        "plan_id": f.get("plan_id", ""),
        "objective": chosen(f, "objective"),
        "status": chosen(f, "status"),
        "on": f.get("on"),
    }
    fields = {"objective": "objective", "status": "status", "on": "on", "case_id": "objective"}
    key = resubmission.call_key(f, "objective", f.get("plan_id", ""))
    return Call("intake", "/cases/plans/objectives", body, fields, key)


def employment(sent: Sent) -> Call:
    """The person's employment and since when (intake's `POST /employment`, for the chosen case)."""
    f = sent.form
    body = {
        "person_id": sent.person_id,
        "case_id": case_of(f),
        "status": chosen(f, "employment_now"),
        "as_of": f.get("employment_as_of"),
    }
    fields = {"status": "employment_now", "as_of": "employment_as_of", "case_id": "case_id"}
    return Call("intake", "/employment", body, fields, resubmission.call_key(f, "employment"))


CANNOT_BE_EMPTIED = "cannot be emptied: correct it instead"  # a field of the person intake keeps once given
IDENTITY = ("given_name", "family_name", "fiscal_code")  # a name or surname is corrected, never emptied
REGISTERED = ("birth_date", "sex", "nationality")  # required at the registration
DETAILS_FIELDS = {f"identity.{k}": k for k in (*IDENTITY, "phone", "address")} | {k: k for k in REGISTERED}
DETAILS_FIELDS |= {"identity": "phone", "clear": "phone", "languages": "languages", "literate": "literate"}


def details(sent: Sent) -> Call | None:
    """Every field of the person's registration corrected or completed (intake's `PATCH /persons/{id}`): only what
    differs from what the form opened with (`was_<field>`: what is on file); an emptied phone, address or fiscal code
    cleared, literacy "Non indicata" cleared (`desk.person_details`), a field intake keeps once given (name, surname,
    birth date, sex, nationality) emptied refused at its field (they were not on the form, and an emptied phone said
    "registered" while it stayed: an outside test). Nothing changed, nothing sent."""
    f = sent.form
    typed = {k: f.get(k, "").strip() for k in (*IDENTITY, *REGISTERED)}
    changed = [k for k, v in typed.items() if k in f and v != f.get(f"was_{k}", "")]  # a field not sent: unchanged
    # A fiscal code typed for a person who has none is taken away emptied (intake's `clear`: she no longer matches on
    # it); literacy "Non indicata" (empty) is not recorded again (`desk.person_details`)
    refused = {k: CANNOT_BE_EMPTIED for k in changed if not typed[k] and k != "fiscal_code"}
    try:
        nationality = countries.country_code(typed["nationality"]) if "nationality" in changed else None
    except ValueError as unknown:
        refused["nationality"] = str(unknown)
    if refused:
        raise FieldErrors(refused)
    body = desk.person_details(f)
    if identity := {k: typed[k] for k in IDENTITY if k in changed and typed[k]}:
        body["identity"] = identity | body.get("identity", {})
    if "fiscal_code" in changed and not typed["fiscal_code"]:
        body["clear"] = ["identity.fiscal_code", *body.get("clear", [])]
    body |= {k: typed[k] for k in ("birth_date", "sex") if k in changed}
    if nationality:
        body["nationality"] = nationality
    if not body:
        return None
    path = service_path("/persons/{}", sent.person_id)
    return Call("intake", path, body, DETAILS_FIELDS, resubmission.call_key(f, "details"), "PATCH")


CONTRIBUTION_FIELDS = {
    "amount_cents": "amount",
    "kind": "kind",
    "case_id": "case_id",
    "beneficiary": "beneficiary_iban",
}
CONTRIBUTION_FIELDS |= {f"beneficiary.{k}": f"beneficiary_{k}" for k in PAYEE} | {k: k for k in PERIOD}


def contribution(sent: Sent) -> Call:
    """A contribution requested for the case (payments' `POST /contribution-requests`): its kind and amount, the
    period it pays (rent and utilities only) and who is paid (left blank: given later)."""
    f = sent.form
    amount_given(f, "amount", also=payee_without_iban(f))
    body: dict[str, Any] = {"case_id": case_of(f), "kind": chosen(f, "kind"), "amount_cents": cents_of(f["amount"])}
    # Rent and utilities pay a period (payments refuses them without one); other kinds send none, whatever the period
    # fields hold (a deposit was recorded with a period).
    if f.get("kind") in PERIODIC:
        body |= {k: f[k] for k in PERIOD if f.get(k)}
    # Who is paid (the household, a landlord, a utility): sealed by payments; left blank, given later.
    if payee := {k: v for k in PAYEE if (v := f.get(f"beneficiary_{k}", "").strip())}:
        body["beneficiary"] = payee
    return Call(
        "payments", "/contribution-requests", body, CONTRIBUTION_FIELDS, resubmission.call_key(f, "contribution")
    )


def payee(sent: Sent) -> Call:
    """The payee's bank data of a request waiting for them (given later, or refused by the payee's bank; payments'
    `PUT /contribution-requests/{id}/beneficiary`): a change, which payments has approved again by someone other
    than who gave it. The request's form is one of several on the page: its fields are named after it."""
    f, request_id = sent.form, sent.at["request_id"]
    body = {k: v for k in PAYEE if (v := f.get(f"payee_{k}", "").strip())}
    fields = {k: f"payee_{k}-{request_id}" for k in PAYEE}
    path = service_path("/contribution-requests/{}/beneficiary", request_id)
    key = resubmission.call_key(f, f"payee-{request_id}")
    return Call("payments", path, body, fields | {"": fields["iban"]}, key, "PUT")


def voucher(sent: Sent) -> Call:
    """A voucher for the case's household (babysitting, public transport, cleaning; payments' `POST /vouchers`):
    payments issues it from the city's budget line for its kind, or refuses at the value when the line cannot hold
    it."""
    f = sent.form
    amount_given(f, "voucher_value")
    body = {
        "case_id": case_of(f),
        "kind": chosen(f, "voucher_kind"),
        "value_cents": cents_of(f["voucher_value"]),
        "valid_until": f.get("valid_until") or None,
    }
    fields = {
        "kind": "voucher_kind",
        "value_cents": "voucher_value",
        "valid_until": "valid_until",
        "case_id": "case_id",
    }
    return Call("payments", "/vouchers", body, fields, resubmission.call_key(f, "voucher"))


def note(sent: Sent) -> Call:
    """A note in the person's diary (intake's `POST /persons/{id}/notes`, sealed with her key)."""
    path = service_path("/persons/{}/notes", sent.person_id)
    body = {"text": sent.form.get("text", "")}
    return Call("intake", path, body, {"text": "text"}, resubmission.call_key(sent.form, "note"))


def note_withdrawal(sent: Sent) -> Call:
    """A note written by mistake withdrawn (intake's `POST /persons/{id}/notes/{note_id}/withdrawal`)."""
    return _withdrawal(sent, "note")


def document_withdrawal(sent: Sent) -> Call:
    """A document attached by mistake withdrawn (intake's `POST /persons/{id}/documents/{document_id}/withdrawal`)."""
    return _withdrawal(sent, "document")


def _withdrawal(sent: Sent, what: str) -> Call:
    """Its reason chosen from `record_withdrawal_reason`, never preset; intake's refusals (the reason, the note or
    document: another's, withdrawn already) said at the row's reason, the one field of its form."""
    item, reason = sent.at[f"{what}_id"], chosen(sent.form, "withdrawal_reason")
    if reason is None:
        raise FieldErrors({"withdrawal_reason": "required"})
    path = service_path(f"/persons/{{}}/{what}s/{{}}/withdrawal", sent.person_id, item)
    fields = {"reason": "withdrawal_reason", f"{what}_id": "withdrawal_reason", "": "withdrawal_reason"}
    return Call("intake", path, {"reason": reason}, fields, resubmission.call_key(sent.form, f"withdraw-{item}"))


def tutoring(sent: Sent) -> Call:
    """A money-tutoring session of the case's household (payments' `POST /tutoring-sessions`): its topics, ticked,
    and its outcome if there is one yet."""
    f = sent.form
    refuse_before_sending(f, ("on",), ("topics",))
    body = {
        "case_id": case_of(f),
        "topics": sent.ticked("topics"),
        "on": f.get("on") or None,
        "outcome": f.get("outcome"),
    }
    fields = {"topics": "topics", "on": "on", "case_id": "case_id", "outcome": "tutoring_outcome"}
    return Call("payments", "/tutoring-sessions", body, fields, resubmission.call_key(f, "tutoring"))


def transfer(sent: Sent) -> Call:
    """The case transferred to another partner (intake's `POST /cases/{id}/transfer`: the city's staff, or the case's
    partner), chosen, never chosen for the operator."""
    f = sent.form
    own = ({} if f.get("to_partner") else {"to_partner": CHOOSE_THE_PARTNER}) | case_missing(f)
    refuse_with_the_rest(own, f, ("transfer_on",))
    body = {"to_partner": f.get("to_partner"), "on": f.get("transfer_on")}
    path = service_path("/cases/{}/transfer", case_of(f))
    fields = {"to_partner": "to_partner", "on": "transfer_on", "case_id": "case_id"}
    return Call("intake", path, body, fields, resubmission.call_key(f, "transfer"))


def closure(sent: Sent) -> Call:
    """A case closed with its outcome (intake's `POST /cases/closures`; its rule: the city's staff, or the case's
    cooperative; on or after its opening, not in the future). No outcome chosen: never closed without one."""
    f = sent.form
    own = ({} if f.get("case_outcome") else {"case_outcome": "required"}) | case_missing(f)
    refuse_with_the_rest(own, f, ("closed_on",))
    body = {"case_id": case_of(f), "outcome": f["case_outcome"], "closed_on": f.get("closed_on")}
    fields = {"case_id": "case_id", "outcome": "case_outcome", "closed_on": "closed_on"}
    return Call("intake", "/cases/closures", body, fields, resubmission.call_key(f, "closure"))


def consent(sent: Sent) -> Call:
    """A consent of the person's granted or withdrawn today (intake's `POST /consents`): the decision chosen, never
    preset (none chosen is never recorded as a withdrawal)."""
    f = sent.form
    if f.get("granted") not in ("true", "false"):
        raise FieldErrors({"granted": "required"})
    body = {
        "person_id": sent.person_id,
        "purpose": chosen(f, "purpose"),
        "granted": f.get("granted") == "true",
        "recorded_on": sent.today.isoformat(),
    }
    return Call(
        "intake", "/consents", body, {"purpose": "purpose", "granted": "purpose"}, resubmission.call_key(f, "consent")
    )


def sharing_withdrawn_by_a_partner(sent: Sent) -> bool:
    """A cooperative sees a person only while she consents to sharing with partners (intake's rule): its operator
    recording the withdrawal sees her no more."""
    f = sent.form
    return sent.partner is not None and f.get("purpose") == "partner_sharing" and f.get("granted") == "false"


async def document(services: Services, sent: Sent) -> None:
    """A document of the person's uploaded (intake's `POST /persons/{id}/documents`, `desk.upload`): its kind and the
    file chosen, each required (a file input left empty still sends a part, with no file name and no bytes: no file
    was chosen); the file read only then, up to one byte more than intake takes (`desk.upload` says it too large)."""
    f = sent.form
    file = sent.files.get("document")
    kind, key = f.get("document_kind", ""), resubmission.call_key(f, "document")
    missing = {} if file is not None and file.filename else {"document": "choose a file"}
    if missing or not kind:
        raise FieldErrors(missing | ({} if kind else {"document_kind": "required"}))
    assert file is not None
    data = await file.read(desk.MAX_UPLOAD + 1)
    media_type = file.content_type or "application/octet-stream"
    await desk.upload(services, sent.person_id, kind, file.filename or "", media_type, data, key)


# Each cartella form by its address's last segments (`/persons/{id}/<name>`).
FORMS: dict[str, CartellaRun] = {
    # the person: her details, consents, diary and documents
    "details": sending(details),
    "consents": sending(consent),
    "notes": sending(note),
    "documents": document,
    "notes/{note_id}/withdrawal": sending(note_withdrawal),
    "documents/{document_id}/withdrawal": sending(document_withdrawal),
    # a household's members and reference person changed, a referral and its outcome (`households`)
    "member-left": lambda s, sent: households.member_leaves(s, sent.form),
    "member-joined": lambda s, sent: households.member_joins(s, sent.form),
    "member-new": lambda s, sent: households.newcomer_joins(s, sent.form, sent.today, sent.partner),
    "reference-person": lambda s, sent: households.reference_person_named(s, sent.form),
    "referrals": lambda s, sent: households.referral(s, sent.form, sent.partner),
    "referral-outcome": lambda s, sent: households.referral_outcome(s, sent.form),
    # a case: opened, assessed, planned, the person's employment, transferred, closed (intake)
    "cases": sending(case),
    "assessments": sending(assessment),
    "plans": sending(plan),
    "objectives": sending(objective),
    "employment": sending(employment),
    "transfer": sending(transfer),
    "closures": sending(closure),
    # the case's money: contributions and their payees, vouchers, money tutoring (payments)
    "contributions": sending(contribution),
    "contributions/{request_id}/payee": sending(payee),
    "vouchers": sending(voucher),
    "tutoring": sending(tutoring),
}

# What a form recorded is said as, where its address's last segment does not say it (`i18n.CARTELLA_DONE`).
DONE_AS = {"notes/{note_id}/withdrawal": "note-withdrawn", "documents/{document_id}/withdrawal": "document-withdrawn"}

# The forms whose recording can end the operator's own access to the person (confirmed on a page of their own).
ENDS_ACCESS: dict[str, Callable[[Sent], bool]] = {"consents": sharing_withdrawn_by_a_partner}
