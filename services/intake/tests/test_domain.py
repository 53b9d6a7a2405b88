"""Intake's domain rules, without I/O."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from codicefiscale import codicefiscale
from lgnet_intake.domain import access, cases, households, needs, people
from lgnet_intake.domain.access import Actor, Role
from lgnet_intake.service_layer import inbound
from lgnet_shared.errors import Conflict, ContractError, Forbidden, NotFound
from lgnet_shared.events import partner as cmd_in

# A valid fiscal code for a woman born 1 May 1990 abroad (Nigeria, Z335).
AMINA_CF = "KNKMNA90E41Z335B"


def test_minor_is_judged_at_case_opening() -> None:
    born = date(2008, 6, 15)
    assert people.is_minor(born, date(2026, 6, 14))
    assert not people.is_minor(born, date(2026, 6, 15))
    assert people.age_on(date(2000, 2, 29), date(2026, 2, 28)) == 25


def test_nationality_is_normalised_and_third_country_derived() -> None:
    assert people.nationality("ng") == ("NG", True)
    assert people.nationality("RO") == ("RO", False)
    assert people.nationality("CH") == ("CH", True)  # not in the EU
    with pytest.raises(ContractError) as info:
        people.nationality("XX")
    assert info.value.field == "nationality"


def test_fiscal_code_is_validated_and_must_match_birth_date_and_sex() -> None:
    assert people.fiscal_code(" knkmna90e41z335b ", birth_date=date(1990, 5, 1), sex="female") == AMINA_CF
    with pytest.raises(ContractError, match="check character"):
        people.fiscal_code("KNKMNA90E41Z335X", birth_date=date(1990, 5, 1), sex="female")
    with pytest.raises(ContractError, match="birth_date"):
        people.fiscal_code(AMINA_CF, birth_date=date(1990, 5, 2), sex="female")
    with pytest.raises(ContractError, match="sex"):
        people.fiscal_code(AMINA_CF, birth_date=date(1990, 5, 1), sex="male")


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("KNKMNA90E41Z33", "16 characters"),  # too short
        ("KNKMNA90X41Z335B", "16 characters"),  # X is no month letter
        ("KNKMNA90E41Z335X", "wrong check character"),
        ("KNKMNA90E41Z999" + codicefiscale.encode_cin("KNKMNA90E41Z999"), "birthplace code"),  # no such place
    ],
)
def test_each_fiscal_code_rule_has_its_own_reason(code: str, reason: str) -> None:
    """Partners fix what the reason names: the format, the check character or the birthplace code."""
    with pytest.raises(ContractError) as refused:
        people.fiscal_code(code, birth_date=date(1990, 5, 1), sex="female", field="identity.fiscal_code")
    assert refused.value.field == "identity.fiscal_code"
    assert reason in refused.value.reason
    assert code not in refused.value.reason  # personal data never echoed into a rejection


def test_name_key_ignores_case_accents_spacing_and_order() -> None:
    a = people.name_key("Amína", "Okonkwo-Zanetti", date(1990, 5, 1))
    assert a == people.name_key("okonkwo zanetti", "AMINA", date(1990, 5, 1))
    assert a != people.name_key("Amina", "Okonkwo-Zanetti", date(1990, 5, 2))


def test_birth_date_bounds() -> None:
    with pytest.raises(ContractError, match="future"):
        people.check_birth_date(date(2030, 1, 1), date(2026, 1, 1))


TORINO_PARTNER = Actor("coop-torino", Role.PARTNER, "torino")
TORINO_STAFF = Actor("staff-torino", Role.STAFF, "torino")
NATIONAL = Actor("coordination", Role.NATIONAL, None)


def test_partner_acts_only_in_its_city_and_on_its_cases() -> None:
    absent = NotFound("case_id", "no case c1")
    access.may_act_on_case(TORINO_PARTNER, "torino", "coop-torino", absent)
    with pytest.raises(Forbidden, match="cannot act in trieste"):
        access.may_act_on_case(TORINO_PARTNER, "trieste", "coop-torino", absent)
    # another partner's case: answered as a case that exists nowhere, word for word (no existence oracle)
    with pytest.raises(NotFound) as other:
        access.may_act_on_case(TORINO_PARTNER, "torino", "coop-other", absent)
    assert (other.value.field, other.value.reason) == ("case_id", "no case c1")
    access.may_act_on_case(TORINO_STAFF, "torino", "coop-other", absent)
    with pytest.raises(Forbidden, match="read-only"):
        access.may_act_on_case(NATIONAL, "torino", "coop-torino", absent)


def test_a_partner_works_on_its_own_registration_merged_into_a_record_it_has_no_hand_in() -> None:
    """docs/partners.md, "What is not yours": a partner's registration merged into another party's record is the
    partner's to work on under its own id (its answers then never say the fiscal code was on file); a record of the
    person it registered or serves is hers, as `same_as` tells it; staff always act on the person on file."""
    assert access.on_own_registration(TORINO_PARTNER, "coop-torino", survivor_is_theirs=False)
    assert not access.on_own_registration(TORINO_PARTNER, "coop-torino", survivor_is_theirs=True)
    assert not access.on_own_registration(TORINO_PARTNER, "coop-other", survivor_is_theirs=False)  # not its own
    assert not access.on_own_registration(TORINO_STAFF, TORINO_STAFF.id, survivor_is_theirs=False)
    # a fiscal code on file is told to the city's staff (409 "merge them"), never to a partner (merged, answered 200)
    assert access.told_of_a_fiscal_code_on_file(TORINO_STAFF)
    assert not access.told_of_a_fiscal_code_on_file(TORINO_PARTNER)


def test_partner_reads_a_person_only_with_a_case_and_consent() -> None:
    absent = NotFound("person_id", "no person p1")
    access.may_read_person(TORINO_PARTNER, "torino", {"coop-torino"}, True, absent)
    with pytest.raises(Forbidden, match="consented"):
        access.may_read_person(TORINO_PARTNER, "torino", {"coop-torino"}, False, absent)
    with pytest.raises(NotFound, match="no person p1"):
        access.may_read_person(TORINO_PARTNER, "torino", set(), True, absent)
    # the partner that registered her knows she exists: told why (no case of its own yet, or another partner's)
    with pytest.raises(Forbidden, match="no case of yours"):
        access.may_read_person(TORINO_PARTNER, "torino", set(), True, absent, TORINO_PARTNER.id)
    with pytest.raises(Forbidden, match="assigned to another partner"):
        access.may_read_person(TORINO_PARTNER, "torino", {"coop-other"}, True, absent, TORINO_PARTNER.id)
    with pytest.raises(NotFound, match="no person p1"):
        access.may_read_person(TORINO_PARTNER, "torino", {"coop-other"}, True, absent, "coop-other")
    access.may_read_person(TORINO_STAFF, "torino", set(), False, absent)


def test_a_partner_is_told_of_a_household_only_if_it_formed_or_serves_it() -> None:
    absent = NotFound("household_id", "no household h1")
    for rule in (access.may_act_on_household, access.may_open_case):
        with pytest.raises(NotFound, match="no household h1"):  # formed by another, served by another or nobody
            rule(TORINO_PARTNER, "torino", "coop-other", {"coop-other"}, absent)
        with pytest.raises(NotFound, match="no household h1"):
            rule(TORINO_PARTNER, "torino", "coop-other", set(), absent)
        with pytest.raises(Forbidden):  # it formed it: it knows it exists, and is told why
            rule(TORINO_PARTNER, "torino", "coop-torino", {"coop-other"}, absent)
        rule(TORINO_PARTNER, "torino", "coop-torino", set(), absent)
        rule(TORINO_STAFF, "torino", "coop-other", {"coop-other"}, absent)


def test_case_life() -> None:
    case, today = cases.CaseState("c1", "torino", "coop-a", date(2026, 1, 10)), date(2026, 12, 3)
    cases.check_transfer(case, "coop-b", date(2026, 2, 1), today, cases.PROGRAMME_START)
    with pytest.raises(Conflict):
        cases.check_transfer(case, "coop-a", date(2026, 2, 1), today, cases.PROGRAMME_START)
    with pytest.raises(ContractError, match="future"):
        cases.check_transfer(case, "coop-b", date(2099, 11, 20), today, cases.PROGRAMME_START)
    moved = cases.CaseState("c1", "torino", "coop-b", date(2026, 1, 10), transferred_on=date(2026, 2, 1))
    with pytest.raises(ContractError, match="last transfer"):
        cases.check_transfer(moved, "coop-a", date(2026, 1, 25), today, cases.PROGRAMME_START)
    with pytest.raises(ContractError, match="before the case was opened"):
        cases.check_close(case, date(2026, 1, 9), date(2026, 12, 3), cases.PROGRAMME_START)
    closed = cases.CaseState("c1", "torino", "coop-a", date(2026, 1, 10), closed_on=date(2026, 3, 1))
    with pytest.raises(Conflict, match="closed"):
        cases.check_close(closed, date(2026, 4, 1), date(2026, 12, 3), cases.PROGRAMME_START)


def test_an_assessment_a_plan_and_a_closing_are_recorded_once_they_happened() -> None:
    """From an outside test: an assessment dated 2030 and a plan agreed in 2031 were accepted, and the timeline then
    showed them as done."""
    case, today = cases.CaseState("c1", "torino", "coop-a", date(2026, 1, 10)), date(2026, 12, 3)
    cases.check_dated_after_opening(case, today, "assessed_on", today, cases.PROGRAMME_START)
    for field in ("assessed_on", "agreed_on"):
        with pytest.raises(ContractError) as refused:
            cases.check_dated_after_opening(case, date(2030, 1, 1), field, today, cases.PROGRAMME_START)
        assert (refused.value.field, refused.value.reason) == (field, "is in the future")
    with pytest.raises(ContractError, match="in the future"):
        cases.check_close(case, date(2027, 1, 1), today, cases.PROGRAMME_START)


def test_a_case_and_a_referral_happen_within_the_programme() -> None:
    """From an outside test: a case opened in 1990 stretched reporting's monthly tables back for decades. Not before
    the programme's earliest date (default 2014-01-01, the first AMIF/FAMI programme), nor before the birth of the
    household's reference person (never named in the reason: a birth date is personal data)."""
    assert date(2014, 1, 1) == cases.PROGRAMME_START
    earliest = date(2020, 1, 1)
    cases.check_within_programme(earliest, "opened_on", earliest, born=date(1985, 3, 12))
    with pytest.raises(ContractError) as refused:
        cases.check_within_programme(date(1990, 1, 1), "opened_on", earliest)
    assert refused.value.field == "opened_on" and "before 2020-01-01" in refused.value.reason
    with pytest.raises(ContractError) as refused:
        cases.check_within_programme(date(2021, 6, 1), "received_on", earliest, born=date(2022, 3, 1))
    assert refused.value.field == "received_on" and "before the birth" in refused.value.reason
    assert "2022" not in refused.value.reason
    # What is dated after the opening is held to the same bound (a case opened before the rule existed).
    legacy = cases.CaseState("c1", "torino", "coop-a", date(1990, 1, 1))
    with pytest.raises(ContractError, match="before 2020-01-01"):
        cases.check_dated_after_opening(legacy, date(1991, 1, 1), "assessed_on", date(2026, 12, 3), earliest)
    # The partners' offline kit applies the same rule (service_layer/inbound.py, check_event).
    opening = cmd_in.CaseOpeningSubmitted(
        case_id="c1", household_id="h1", action_area="taking_charge", channel="desk", opened_on=date(2019, 5, 1)
    )
    with pytest.raises(ContractError, match="before 2020-01-01"):
        inbound.check_event(opening, date(2026, 12, 3), earliest)
    # and to a consent, an employment status and a household change, over Kafka as over HTTP (no bound before)
    today = date(2026, 12, 3)
    for event, field in (
        (cmd_in.ConsentReported(person_id="p1", purpose="partner_sharing", granted=True, recorded_on=date(2010, 1, 1)),
         "recorded_on"),
        (cmd_in.EmploymentReported(person_id="p1", status="unemployed", as_of=date(2027, 1, 1)), "as_of"),
        (cmd_in.HouseholdMemberChangeSubmitted(household_id="h1", person_id="p2", change="joined", reason="birth",
                                               on=date(2019, 12, 31)), "on"),
    ):  # fmt: skip
        with pytest.raises(ContractError) as refused:
            inbound.check_event(event, today, earliest)
        assert refused.value.field == field


def test_a_registration_names_every_rule_it_breaks_at_once() -> None:
    """The desk's operator learnt of a registration's mistakes one round at a time: a birth date in the future, then
    (corrected and sent again) the nationality, then the fiscal code. The person's rules are checked together; the
    first is `field`/`reason` (a partner's rejection event names it), the others come with it (HTTP's `errors`)."""
    from lgnet_intake.service_layer import commands as cmd

    c = cmd.RegisterPerson.model_validate(
        {
            "person_id": "p-1", "birth_date": "2090-05-01", "sex": "female", "nationality": "XX",
            "identity": {"given_name": "Amina", "fiscal_code": "KNKMNA90E41Z335X"},
        }
    )  # fmt: skip
    with pytest.raises(ContractError) as refused:
        inbound.checked_person(c, date(2026, 12, 5))
    assert (refused.value.field, refused.value.reason) == ("birth_date", "is in the future")
    assert [e["field"] for e in refused.value.each()] == ["birth_date", "nationality", "identity.fiscal_code"]
    good = c.model_copy(update={"birth_date": date(1990, 5, 1), "nationality": "NG"})
    with pytest.raises(ContractError) as refused:
        inbound.checked_person(good, date(2026, 12, 5))
    assert [e["field"] for e in refused.value.each()] == ["identity.fiscal_code"]


def test_an_erased_members_vulnerabilities_leave_the_stored_assessment() -> None:
    stored = {"housing_situation": "precarious", "vulnerabilities": ["psychiatric_condition", "single_parent"],
              "vulnerabilities_by_person": {"mum": ["psychiatric_condition"], "son": ["single_parent"]}}  # fmt: skip
    kept = needs.without_erased(stored, "mum", anyone_left=True)
    assert kept == {"housing_situation": "precarious", "vulnerabilities": ["single_parent"],
                    "vulnerabilities_by_person": {"son": ["single_parent"]}}  # fmt: skip
    household_level = {"vulnerabilities": ["elderly"], "vulnerabilities_by_person": {}}  # before v3: whose?
    assert needs.without_erased(household_level, "mum", anyone_left=True)["vulnerabilities"] == []  # type: ignore[index]
    assert needs.without_erased(stored, "son", anyone_left=False) is None


def test_a_correction_keeps_what_is_hidden_from_its_submitter_unless_it_names_them() -> None:
    mum = ["psychiatric_condition"]
    stored = {"vulnerabilities_by_person": {"mum": mum, "son": ["single_parent"], "gone": ["elderly"]}}
    members = ["mum", "son"]  # "gone" left the household before the new assessment's date
    assert needs.kept_hidden(stored, members, hidden={"mum", "gone"}, named={"son"}) == {"mum": mum}
    assert needs.kept_hidden(stored, members, hidden={"mum"}, named={"son", "mum"}) == {}  # she is named: as given
    assert needs.kept_hidden(stored, members, hidden=set(), named=set()) == {}  # the staff replace the whole
    assert needs.kept_hidden({"vulnerabilities": ["elderly"]}, members, hidden={"mum"}, named=set()) == {}  # of old
    assert needs.kept_hidden(None, members, hidden={"mum"}, named=set()) == {}


def test_the_offline_kit_refuses_every_new_identifier_holding_identifying_data() -> None:
    """`lgnet-partner check` said a fiscal code in a person's or a household's id, not in a case's, a referral's, a
    plan's, an outing's, a contact's, an appointment's, an activity's, a session's or a certificate's: a partner's
    conformance run passed a record the gatekeeper then refused. The kit's stateless pass (`check_event`) refuses
    each at its field, as the gatekeeper does."""
    from lgnet_shared.events import civic as civic_in
    from lgnet_shared.events import outreach as outreach_in

    cf, on = "RSSMRA85T10A562S", date(2026, 3, 2)
    when = datetime(2026, 12, 10, 9, tzinfo=UTC)
    events = {
        "referral_id": cmd_in.ReferralSubmitted(
            referral_id=cf, household_id="h1", source="reception_exit", received_on=on
        ),
        "case_id": cmd_in.CaseOpeningSubmitted(
            case_id=cf, household_id="h1", action_area="taking_charge", channel="desk", opened_on=on
        ),
        "plan_id": cmd_in.PlanSubmitted(case_id="c1", plan_id=cf, objectives=["housing"], agreed_on=on),
        "outing_id": outreach_in.OutingSubmitted(
            outing_id=cf, unit_id="u1", on=on, start_time="20:30", end_time="22:30", places=["Stazione"],
            staff=["op-1"],
        ),
        "contact_id": outreach_in.StreetContactSubmitted(
            contact_id=cf, outing_id="o1", contacted_on=on, age_band="30_44", sex="male", place="Stazione"
        ),
        "appointment_id": outreach_in.AppointmentBookingSubmitted(
            appointment_id=cf, agenda="desk", operator="op-1", person_id="p1", purpose="first_interview",
            starts_at=when, ends_at=when + timedelta(minutes=30),
        ),
        "activity_id": civic_in.CivicActivitySubmitted(
            activity_id=cf, kind="italian_language_course", title="Italiano A2", starts_on=on, target_level="A2"
        ),
        "session_id": civic_in.CivicSessionSubmitted(
            activity_id="a1", session_id=cf, held_on=on, place="Casa del quartiere", duration_minutes=60
        ),
        "certificate_id": civic_in.CivicCertificateSubmitted(
            activity_id="a1", certificate_id=cf, person_id="p1", issued_on=on
        ),
    }  # fmt: skip
    for field, event in events.items():
        with pytest.raises(ContractError) as refused:
            inbound.check_event(event, date(2026, 12, 3), date(2020, 1, 1))
        assert refused.value.field == field, (field, refused.value)
        assert refused.value.reason.startswith("holds a fiscal code: identifiers travel in clear"), refused.value


def test_the_offline_kit_refuses_a_household_changes_reason_holding_a_fiscal_code() -> None:
    """The gatekeeper refuses a household change whose free `reason` code is a fiscal code in lower case (it travels
    in clear for good); the offline kit passed it. Its stateless pass refuses it at `reason`, as the gatekeeper does."""
    change = cmd_in.HouseholdMemberChangeSubmitted(
        household_id="h1", person_id="p2", change="joined", reason="birth", on=date(2026, 3, 2)
    ).model_copy(update={"reason": "rssmra85t10a562s"})  # no member_joined_reason: the model refuses it before the kit
    with pytest.raises(ContractError) as refused:
        inbound.check_event(change, date(2026, 12, 3), date(2020, 1, 1))
    assert refused.value.field == "reason" and "travels in clear" in refused.value.reason, refused.value


def test_the_reference_person_may_not_leave_her_household() -> None:
    """From an outside review: the reference person left her own household, which was then without one. Refused,
    naming the person and why (409: it contradicts the household on file); another member leaves."""
    with pytest.raises(Conflict) as info:
        households.check_may_leave("p-ref", "p-ref")
    assert info.value.field == "person_id" and "reference person" in info.value.reason
    households.check_may_leave("p-other", "p-ref")


def test_another_member_is_named_reference_person_once_she_is_a_member() -> None:
    """A household whose reference person moved out, died or separated names another member in her place: only a
    current member who is not the reference person already (409 at person_id), from the day she joined and not
    before the reference person now was named (422 at on)."""
    members = ["p-ref", "p-two"]
    joined, since = date(2026, 3, 1), date(2026, 5, 1)
    households.check_new_reference("p-two", "p-ref", members, date(2026, 5, 1), joined, since)
    households.check_new_reference("p-two", "p-ref", members, date(2026, 3, 1), joined, None)
    for person, field, words in (
        ("p-ref", "person_id", "already the household's reference person"),
        ("p-out", "person_id", "is not a member of the household"),
    ):
        with pytest.raises(Conflict) as conflict:
            households.check_new_reference(person, "p-ref", members, date(2026, 6, 1), joined, since)
        assert conflict.value.field == field and words in conflict.value.reason, conflict.value
    for on, words in ((date(2026, 2, 28), "joined the household (2026-03-01)"), (date(2026, 4, 30), "(2026-05-01)")):
        with pytest.raises(ContractError) as early:
            households.check_new_reference("p-two", "p-ref", members, on, joined, since)
        assert early.value.field == "on" and words in early.value.reason, early.value


def test_the_reference_person_is_told_to_name_another_before_leaving() -> None:
    """Leaving, the reference person is told what to do: name another member reference person first."""
    with pytest.raises(Conflict) as info:
        households.check_may_leave("p-ref", "p-ref")
    assert "name another member" in info.value.reason and "has no change" not in info.value.reason, info.value


def test_a_former_reference_person_leaves_no_earlier_than_another_was_named_in_her_place() -> None:
    """Named out on 5 May, she leaves on 5 May or later: leaving earlier, the household would have had a reference
    person who was no longer one of its members. Refused naming `on` and the day of the change."""
    households.check_leaves_after_replaced(date(2026, 5, 5), date(2026, 5, 5))
    households.check_leaves_after_replaced(date(2026, 1, 1), None)  # never its reference person
    with pytest.raises(ContractError) as early:
        households.check_leaves_after_replaced(date(2026, 5, 4), date(2026, 5, 5))
    assert early.value.field == "on" and "(2026-05-05)" in early.value.reason, early.value
