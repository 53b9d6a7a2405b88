"""A household's members changed and a referral recorded from the cartella (a social worker's day: a baby born, a
relative joining, a member leaving, a household referred by the social district and taken in charge; each had to be
asked of someone calling intake's API). Each is one call to intake as the operator, with the form's call key
(`desk.submit`): intake's `POST /households/members`, `POST /households/reference-person` (another member named
its reference person), `POST /persons` for a newcomer not on file, `POST /referrals`
and `POST /referrals/{id}/outcome`. Who may is intake's rule (the city's staff, a cooperative on the households of its
cases); every refusal is said at its field, all at once."""

from __future__ import annotations

from datetime import date
from typing import Any

from lgnet_desk.adapters.services import Services, service_path
from lgnet_desk.domain import resubmission
from lgnet_desk.service_layer import desk, persons
from lgnet_desk.service_layer.desk import FieldErrors

# intake's field → the form's, for each form (a field intake names that the form lacks: at the form's first field)
JOIN_FIELDS = {"person_id": "join_person", "household_id": "join_household", "reason": "join_reason", "on": "joined_on"}
NEW_FIELDS = {"reason": "new_reason", "household_id": "new_household", "on": "new_joined_on"}
LEAVE_FIELDS = {
    "person_id": "leave_person",
    "household_id": "leave_household",
    "reason": "leave_reason",
    "on": "left_on",
}
REFERENCE_FIELDS = {
    "person_id": "ref_person",
    "household_id": "ref_household",
    "reason": "ref_reason",
    "on": "named_on",
}
REFERRAL_FIELDS = {
    "source": "referral_source",
    "household_id": "referral_household",
    "referrer": "referrer",
    "received_on": "received_on",
}
OUTCOME_FIELDS = {"outcome": "referral_outcome", "case_id": "outcome_case"}
NEW_OUTCOME_FIELDS = {"outcome": "new_referral_outcome", "case_id": "new_referral_case"}  # given with the referral
CASE_FOR_A_PARTNER = "a cooperative sees a referral that names its case: give the outcome and the case"


def _change(form: dict[str, str], fields: dict[str, str], change: str, person_id: str | None) -> dict[str, Any]:
    """intake's body of a member joining or leaving, from the form's fields (`fields`: intake's name → the form's)."""
    return {
        "household_id": form.get(fields["household_id"]) or None,
        "person_id": person_id,
        "change": change,
        "reason": form.get(fields["reason"]) or None,
        "on": form.get(fields["on"]) or None,
    }


async def member_leaves(services: Services, form: dict[str, str]) -> None:
    """A member leaves the household (moved out, separated, …): chosen among its members now."""
    body = _change(form, LEAVE_FIELDS, "left", form.get("leave_person") or None)
    await desk.submit(services, "intake", "/households/members", body, LEAVE_FIELDS, _key(form, "member-left"))


async def reference_person_named(services: Services, form: dict[str, str]) -> None:
    """Another member named the household's reference person (hers moved out, separated, died): chosen among its
    members now but her. A choice left blank or a day that is no day is said at its field, all at once, nothing sent;
    intake's refusals (not a member, the reference person already, a day before she joined) at theirs."""
    own = desk.blank(form, ("ref_person", "ref_reason")) | desk.wrong_days({"named_on": form.get("named_on")})
    if own:
        raise FieldErrors(own)
    body = {
        "household_id": form.get("ref_household") or None,
        "person_id": form.get("ref_person"),
        "reason": form.get("ref_reason"),
        "on": form.get("named_on") or None,
    }
    key = _key(form, "reference-person")
    await desk.submit(services, "intake", "/households/reference-person", body, REFERENCE_FIELDS, key)


async def member_joins(services: Services, form: dict[str, str]) -> None:
    """A person already on file joins the household (a relative, a partner): typed by name and surname as in her
    record, or by her identifier (`persons.typed`); a name of nobody or of several said at the field with the rest of
    the form's blanks, nothing sent."""
    typed = form.get("join_person", "").strip()
    own = desk.blank(form, ("join_person",))
    person = None
    if typed:
        try:
            person = await persons.typed(services, typed, "join_person")
        except FieldErrors as e:
            own |= e.errors
    if own:
        raise FieldErrors(
            desk.blank(form, ("join_reason",)) | desk.wrong_days({"joined_on": form.get("joined_on")}) | own
        )
    body = _change(form, JOIN_FIELDS, "joined", person)
    await desk.submit(services, "intake", "/households/members", body, JOIN_FIELDS, _key(form, "member-joined"))


async def newcomer_joins(services: Services, form: dict[str, str], today: date, partner: str | None = None) -> None:
    """A person not on file joins (a baby born, a relative arriving): registered as the registration form registers a
    member (`desk.register_row`, the `mn_` fields) with the consents ticked, then joins. A cooperative (`partner`)
    sees only a person who consents to sharing: without that consent its operator registered a baby she could then
    neither see nor choose on the household's forms, so it is asked first. Registered and the joining refused, she is
    kept on the form (`mn_person_id`) and not registered again when the corrected form is sent. Before, she is looked
    up on file as the registration looks up a member (`desk.row_on_file`: her fiscal code, else her name and birth
    date unless the operator ticked that she is another person, `mn_not_on_file`): it matched her only by the fiscal
    code, intake's `same_as`."""
    person = form.get("mn_person_id") or None
    if person is None:
        own = desk.blank(form, tuple(f"mn_{name}" for name in desk.NAMING_FIELDS))
        own |= desk.wrong_days({"mn_birth_date": form.get("mn_birth_date"), "new_joined_on": form.get("new_joined_on")})
        if partner is not None and not form.get("mn_consent_partner_sharing"):
            own["mn_consent_partner_sharing"] = desk.SHARING_NEEDED
        if own:  # said before she is registered: no one registered for a household she does not join
            raise FieldErrors(own | desk.blank(form, ("new_reason",)))
        if found := await desk.row_on_file(services, form, "n"):  # on file: looked up as the registration does
            field, reason, on_file = found
            raise FieldErrors({f"mn_{field}": reason}, {}, {"mn": on_file})
        person = await desk.register_row(services, form, "n")
        await desk.record_consents(services, form, person, today, "mn_")
    body = _change(form, NEW_FIELDS, "joined", person)
    try:
        await desk.submit(services, "intake", "/households/members", body, NEW_FIELDS, _key(form, "member-new"))
    except FieldErrors as e:
        raise FieldErrors(e.errors, {"mn_person_id": person}) from None


async def referral(services: Services, form: dict[str, str], partner: str | None = None) -> None:
    """A referral of the household: its source (social district, territory, reception exit, self, partner), who
    referred it (optional: a service's code, never a person's name: intake refuses one), the day it came and, if
    known, its outcome and the case it opened (`new_referral_outcome`, `new_referral_case`). Intake shows a
    cooperative (`partner`) only the referrals naming one of its cases: its operator gives both, asked before anything
    is sent (without them the referral she recorded was not shown to her, its outcome never recordable)."""
    key = _key(form, "referral")
    referral_id = desk.new_id("ref", key)
    outcome = {"outcome": form.get("new_referral_outcome") or None, "case_id": form.get("new_referral_case") or None}
    if partner is not None and None in outcome.values():
        own = {NEW_OUTCOME_FIELDS[k]: CASE_FOR_A_PARTNER for k, v in outcome.items() if v is None}
        raise FieldErrors(
            desk.blank(form, ("referral_source",)) | desk.wrong_days({"received_on": form.get("received_on")}) | own
        )
    body = {
        "referral_id": referral_id,
        "household_id": form.get("referral_household") or None,
        "source": form.get("referral_source") or None,
        "referrer": form.get("referrer", "").strip() or None,
        "received_on": form.get("received_on") or None,
    }
    await desk.submit(services, "intake", "/referrals", body, REFERRAL_FIELDS, key)
    if any(outcome.values()):  # sent again after a refusal here, the referral is intake's replay (the same key)
        path = service_path("/referrals/{}/outcome", referral_id)
        await desk.submit(
            services, "intake", path, outcome, NEW_OUTCOME_FIELDS, _key(form, "referral-outcome", referral_id)
        )


async def referral_outcome(services: Services, form: dict[str, str]) -> None:
    """A referral's outcome (taken in charge, redirected, not eligible, withdrawn), with the case it opened if any."""
    referral_id = form.get("referral_id", "")
    body = {"outcome": form.get("referral_outcome") or None, "case_id": form.get("outcome_case") or None}
    path = service_path("/referrals/{}/outcome", referral_id)
    await desk.submit(services, "intake", path, body, OUTCOME_FIELDS, _key(form, "referral-outcome", referral_id))


def _key(form: dict[str, str], *call: str) -> str | None:
    return resubmission.call_key(form, *call)
