"""Civic engagement's rules (domain/civic.py), without I/O: who acts on an activity, sessions within the activity's
dates, registers listing each person once, certificates only for who attended enough, CEFR levels."""

from __future__ import annotations

from datetime import date

import pytest
from lgnet_intake.domain import civic
from lgnet_intake.domain.access import Actor, Role
from lgnet_shared.errors import ContractError, Forbidden, NotFound
from lgnet_shared.events.civic import CefrLevel, CivicActivityKind, CivicSessionSubmitted

COURSE = civic.Activity(
    "act-1", "torino", CivicActivityKind.ITALIAN_LANGUAGE_COURSE, "coop-aurora", date(2026, 2, 2), date(2026, 6, 26), 70
)
TODAY = date(2026, 11, 30)
AURORA = Actor("coop-aurora", Role.PARTNER, "torino")
BORGO = Actor("coop-borgo", Role.PARTNER, "torino")
STAFF = Actor("staff-torino", Role.STAFF, "torino")
TRIESTE = Actor("staff-trieste", Role.STAFF, "trieste")


def refused(exc: type[ContractError], fn: object, *args: object) -> ContractError:
    with pytest.raises(exc) as err:
        fn(*args)  # type: ignore[operator]
    return err.value


def test_only_the_organiser_or_the_citys_staff_act_on_an_activity() -> None:
    civic.may_act_on_activity(AURORA, COURSE)
    civic.may_act_on_activity(STAFF, COURSE)
    assert refused(NotFound, civic.may_act_on_activity, BORGO, COURSE).field == "activity_id"  # as an unknown id
    assert refused(Forbidden, civic.may_act_on_activity, TRIESTE, COURSE).field == "activity_id"


def test_a_partner_organises_its_own_activities_and_staff_may_name_one() -> None:
    assert civic.organiser(AURORA, None) == "coop-aurora"
    assert civic.organiser(STAFF, None) is None  # the city organises it
    assert civic.organiser(STAFF, "coop-borgo") == "coop-borgo"
    assert refused(Forbidden, civic.organiser, AURORA, "coop-borgo").field == "partner"


def test_activity_dates_and_target_level() -> None:
    err = refused(
        ContractError, civic.check_activity, CivicActivityKind.PEER_GROUP, date(2026, 3, 1), date(2026, 2, 1), None
    )
    assert err.field == "ends_on"
    err = refused(
        ContractError, civic.check_activity, CivicActivityKind.PEER_GROUP, date(2026, 3, 1), None, CefrLevel.A2
    )
    assert err.field == "target_level"
    civic.check_activity(CivicActivityKind.ITALIAN_LANGUAGE_COURSE, date(2026, 3, 1), None, CefrLevel.A2)


@pytest.mark.parametrize(
    ("held_on", "reason"),
    [
        (date(2026, 12, 1), "is in the future"),
        (date(2026, 2, 1), "is before the activity starts"),
        (date(2026, 7, 1), "is after the activity ends"),
    ],
)
def test_a_session_is_held_within_the_activity_and_not_in_the_future(held_on: date, reason: str) -> None:
    err = refused(ContractError, civic.check_session, COURSE, held_on, TODAY, [])
    assert err.field == "held_on" and reason in err.reason


def test_a_volunteer_is_listed_once_per_session() -> None:
    err = refused(ContractError, civic.check_session, COURSE, date(2026, 3, 2), TODAY, ["p-v1", "p-v2", "p-v1"])
    assert err.field == "volunteer_ids.2"


def test_a_register_lists_each_person_once_and_is_not_empty() -> None:
    assert refused(ContractError, civic.check_register, [], []).field == "present"
    assert refused(ContractError, civic.check_register, ["p1", "p1"], []).field == "present.1"
    err = refused(ContractError, civic.check_register, ["p1", "p2"], ["p3", "p2"])
    assert err.field == "absent.1" and "also listed as present" in err.reason
    civic.check_register(["p1"], ["p2"])


def test_completion_needs_the_minimum_share_of_held_sessions() -> None:
    assert civic.completed(COURSE, 7, 10)  # 70% of 10
    assert not civic.completed(COURSE, 6, 10)
    assert civic.completed(COURSE, 21, 30) and not civic.completed(COURSE, 20, 30)
    assert not civic.completed(COURSE, 0, 0)


def test_a_certificate_only_for_who_attended_enough() -> None:
    err = refused(ContractError, civic.check_certificate, COURSE, date(2026, 6, 26), TODAY, 6, 10, None, None)
    assert err.field == "person_id" and "attended 6 of 10 sessions" in err.reason
    err = refused(ContractError, civic.check_certificate, COURSE, date(2026, 6, 26), TODAY, 0, 0, None, None)
    assert err.field == "activity_id"
    civic.check_certificate(COURSE, date(2026, 6, 26), TODAY, 7, 10, CefrLevel.A1, CefrLevel.A2)


def test_cefr_levels_only_for_language_courses_and_never_down() -> None:
    group = civic.Activity("act-2", "torino", CivicActivityKind.PEER_GROUP, None, date(2026, 2, 2), None, 50)
    err = refused(ContractError, civic.check_certificate, group, date(2026, 6, 1), TODAY, 5, 10, None, CefrLevel.A2)
    assert err.field == "level_reached" and "language courses only" in err.reason
    err = refused(
        ContractError, civic.check_certificate, COURSE, date(2026, 6, 1), TODAY, 9, 10, CefrLevel.B1, CefrLevel.A2
    )
    assert err.field == "level_reached" and "below" in err.reason
    err = refused(ContractError, civic.check_certificate, COURSE, date(2026, 6, 1), TODAY, 9, 10, CefrLevel.A1, None)
    assert err.field == "level_reached"
    civic.check_certificate(COURSE, date(2026, 6, 1), TODAY, 9, 10, None, CefrLevel.A2)  # reached, entry not tested
    civic.check_certificate(COURSE, date(2026, 6, 1), TODAY, 9, 10, CefrLevel.PRE_A1, CefrLevel.A1)


def test_partners_submissions_are_checked_without_state() -> None:
    future = CivicSessionSubmitted(
        activity_id="act-1", session_id="s-1", held_on=date(2027, 1, 1), place="Sala", duration_minutes=60
    )
    assert refused(ContractError, civic.check_submission, future, TODAY).field == "held_on"
