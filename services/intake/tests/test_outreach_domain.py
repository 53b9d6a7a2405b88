"""The rules of outreach and of the agenda (issue #19), pure: first-contact date, linking, outings, no double booking,
reminders."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from lgnet_intake.domain import access
from lgnet_intake.domain import appointments as agenda
from lgnet_intake.domain.access import Actor, Role
from lgnet_intake.domain.outreach import StreetPerson, check_contact_on_outing, nickname_key, outing_minutes
from lgnet_shared.errors import Conflict, ContractError, Forbidden

FIRST = date(2026, 3, 2)


def test_a_contact_linked_to_a_person_keeps_its_first_contact_date() -> None:
    sp = StreetPerson("st-1", "torino", FIRST).contacted(date(2026, 4, 10)).contacted(date(2026, 5, 1))
    linked = sp.link("p-1", date(2026, 6, 15))
    assert linked.first_contact_on == FIRST and linked.person_id == "p-1" and linked.linked_on == date(2026, 6, 15)
    assert linked.days_to_taking_in_charge() == (date(2026, 6, 15) - FIRST).days == 105
    # A contact met again after the link, or an earlier one recorded late, never moves the date forward.
    assert linked.contacted(date(2026, 7, 1)).first_contact_on == FIRST
    assert linked.contacted(date(2026, 2, 20)).first_contact_on == date(2026, 2, 20)
    assert linked.contacted(date(2026, 7, 1)).person_id == "p-1"


def test_linking_is_to_one_person_and_not_before_the_first_contact() -> None:
    sp = StreetPerson("st-1", "torino", FIRST)
    with pytest.raises(ContractError, match="before the first contact") as early:
        sp.link("p-1", FIRST - timedelta(days=1))
    assert early.value.field == "linked_on"
    linked = sp.link("p-1", FIRST)
    assert linked.days_to_taking_in_charge() == 0
    assert linked.link("p-1", date(2026, 9, 1)) == linked  # again, same person: unchanged (the first link's date)
    with pytest.raises(Conflict, match="already linked to person p-1"):
        linked.link("p-2", date(2026, 9, 1))


def test_an_outing_past_midnight_lasts_into_the_next_day() -> None:
    assert outing_minutes(time(9, 0), time(13, 30)) == 270
    assert outing_minutes(time(20, 30), time(0, 30)) == 240
    with pytest.raises(ContractError) as empty:
        outing_minutes(time(21, 0), time(21, 0))
    assert empty.value.field == "end_time"


def test_a_contact_is_made_on_the_outings_day_at_one_of_its_places() -> None:
    places = ["Stazione Porta Nuova", "Giardini Alimonda"]
    check_contact_on_outing(FIRST, FIRST, False, "Giardini Alimonda", places)
    check_contact_on_outing(FIRST + timedelta(days=1), FIRST, True, "Giardini Alimonda", places)  # past midnight
    with pytest.raises(ContractError) as day:
        check_contact_on_outing(FIRST + timedelta(days=1), FIRST, False, "Giardini Alimonda", places)
    assert day.value.field == "contacted_on"
    with pytest.raises(ContractError) as where:
        check_contact_on_outing(FIRST, FIRST, False, "Piazza Castello", places)
    assert where.value.field == "place"


def test_nicknames_compare_without_case_or_extra_spaces() -> None:
    assert nickname_key("  Il  Rosso ") == nickname_key("il rosso") == "il rosso"
    with pytest.raises(ContractError):
        nickname_key("   ")


def at(hour: int, minute: int = 0, day: int = 2) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=UTC)


def slot(aid: str, start: datetime, minutes: int = 45, operator: str = "op-giulia", **kw: str) -> agenda.Slot:
    return agenda.Slot(aid, operator, start, start + timedelta(minutes=minutes), **kw)


def test_an_operator_cannot_be_double_booked() -> None:
    booked = [slot("a-1", at(9)), slot("a-2", at(11))]
    with pytest.raises(Conflict, match="already has appointment a-1") as clash:
        agenda.check_free(slot("a-3", at(9, 30)), booked)
    assert clash.value.field == "starts_at"
    with pytest.raises(Conflict, match="a-2"):
        agenda.check_free(slot("a-3", at(10, 30), minutes=60), booked)  # overlaps the start of the next one
    agenda.check_free(slot("a-3", at(9, 45), minutes=75), booked)  # back to back on both sides: free
    agenda.check_free(slot("a-3", at(9), operator="op-marco"), booked)  # another operator: free
    agenda.check_free(slot("a-3", at(9)), [slot("a-1", at(9), status="cancelled")])  # a cancelled one frees its time
    agenda.check_free(slot("a-1", at(9, 15)), booked)  # moving an appointment does not clash with itself


def test_a_clash_the_caller_may_see_is_named_whichever_clash_the_agenda_lists_first() -> None:
    """The full run's flake (test_outreach): a booking clashing with another partner's appointment and with one of the
    caller's own was told the generic refusal or the named one depending on the order the database listed them."""
    theirs, own = slot("a-theirs", at(9), booked_by="coop-borgo"), slot("a-own", at(9, 15), booked_by="coop-aurora")
    for booked in ([theirs, own], [own, theirs]):
        with pytest.raises(Conflict, match="already has appointment a-own"):
            agenda.check_free(slot("a-3", at(9, 30)), booked, lambda s: s.booked_by == "coop-aurora")
    with pytest.raises(Conflict, match=r"operator op-giulia is already booked at that time$"):
        agenda.check_free(slot("a-3", at(9, 30)), [theirs], lambda s: s.booked_by == "coop-aurora")


def test_an_operator_value_names_an_operator_within_its_party() -> None:
    """Federation (issue #19): an appointment's `operator` is a value each party (the city's staff, or one partner)
    names its own operators with. Two cooperatives whose systems both call an operator "anna" book her at one time;
    a partner naming the city's staff operator's code does not hold her time; within one party, still no double
    booking."""
    aurora = slot("a-aurora", at(9), operator="anna", party="coop-aurora", booked_by="coop-aurora")
    city = slot("a-city", at(9), operator="op-0123456789ab", booked_by="desk.maria")
    agenda.check_free(slot("a-borgo", at(9, 15), operator="anna", party="coop-borgo"), [aurora])
    agenda.check_free(slot("a-staff", at(9, 15), operator="anna"), [aurora])  # the city's own "anna"
    agenda.check_free(slot("a-x", at(9, 15), operator="op-0123456789ab", party="coop-aurora"), [city])
    with pytest.raises(Conflict, match="already has appointment a-aurora"):
        agenda.check_free(slot("a-2", at(9, 30), operator="anna", party="coop-aurora"), [aurora])
    with pytest.raises(Conflict, match="already has appointment a-city"):
        agenda.check_free(slot("a-2", at(9, 30), operator="op-0123456789ab"), [city, aurora])


def test_whose_operator_a_booking_names_a_partner_its_own_only() -> None:
    """The party of a booking: a partner's is its own (it may not claim another party's operator, nor the city's);
    the city's staff book in the city's own agenda or, naming the partner, a cooperative's operator's."""
    aurora, staff = Actor("coop-aurora", Role.PARTNER, "torino"), Actor("desk.maria", Role.STAFF, "torino")
    assert access.party_of(aurora, None, "operator_partner") == "coop-aurora"
    assert access.party_of(aurora, "coop-aurora", "operator_partner") == "coop-aurora"
    with pytest.raises(Forbidden) as other:
        access.party_of(aurora, "coop-borgo", "operator_partner")
    assert other.value.field == "operator_partner"
    assert access.party_of(staff, None, "operator_partner") is None
    assert access.party_of(staff, "coop-aurora", "operator_partner") == "coop-aurora"


def test_an_appointment_has_one_party_and_a_sensible_length() -> None:
    with pytest.raises(ContractError):
        agenda.check_one_party(None, None)
    with pytest.raises(ContractError):
        agenda.check_one_party("p-1", "ct-1")
    agenda.check_one_party("p-1", None)
    with pytest.raises(ContractError) as short:
        agenda.check_interval(at(9), at(9, 2))
    assert short.value.field == "ends_at"
    with pytest.raises(ContractError):
        agenda.check_interval(at(9), at(18))


def test_outcome_once_after_the_start_and_never_on_a_cancelled_appointment() -> None:
    day = date(2026, 12, 2)
    agenda.check_outcome(slot("a-1", at(9)), at(9, 5), day)
    with pytest.raises(ContractError):
        agenda.check_outcome(slot("a-1", at(9)), at(8), day)
    with pytest.raises(Conflict, match="cancelled"):
        agenda.check_outcome(slot("a-1", at(9), status="cancelled"), at(10), day)
    with pytest.raises(Conflict, match="no_show"):
        agenda.check_outcome(slot("a-1", at(9), outcome="no_show"), at(10), day)
    with pytest.raises(ContractError, match="before the appointment's day") as early:  # its local day, not UTC's
        agenda.check_outcome(slot("a-1", at(23, 30, day=1)), at(23, 45, day=1), date(2026, 12, 1))
    assert early.value.field == "on"


def test_an_appointment_starts_at_most_a_year_ahead() -> None:
    agenda.check_ahead(at(9) + timedelta(days=366), at(9))
    with pytest.raises(ContractError, match="366 days ahead") as far:
        agenda.check_ahead(at(9, 1) + timedelta(days=366), at(9))
    assert far.value.field == "starts_at"


def test_reminders_are_due_the_day_before_in_local_time() -> None:
    slots = [
        slot("a-late", at(22, 30, day=2)),  # 23:30 in Rome on 2 December: due on the 1st
        slot("a-early", at(23, 30, day=2)),  # 00:30 in Rome on 3 December: due on the 2nd
        slot("a-morning", at(8, day=3)),
        slot("a-off", at(9, day=3), status="cancelled"),
        slot("a-held", at(10, day=3), outcome="attended"),
    ]
    assert [s.appointment_id for s in agenda.due_for_reminder(slots, date(2026, 12, 1))] == ["a-late"]
    assert [s.appointment_id for s in agenda.due_for_reminder(slots, date(2026, 12, 2))] == ["a-early", "a-morning"]


def test_the_schedulers_reminder_job_sends_what_the_route_takes() -> None:
    """lgnet-scheduler's packaged job calls POST /appointments/reminders daily; its body must be the command's."""
    from importlib import resources

    from lgnet_intake.service_layer.outreach import SendReminders
    from lgnet_shared.scheduler.main import parse_jobs

    jobs = parse_jobs(resources.files("lgnet_shared.scheduler").joinpath("jobs.toml").read_text())
    [job] = [j for j in jobs if (j.service, j.path) == ("intake", "/appointments/reminders")]
    day = date(2026, 3, 10)
    assert SendReminders.model_validate(job.request_body("torino", day)).day == day
