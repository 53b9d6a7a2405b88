"""Upcasters: turn the data of an old event version into the next version's, on read (temporary stub)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lgnet_shared.countries import is_third_country
from lgnet_shared.events.base import latest, versions

Data = dict[str, Any]
UPCASTERS: dict[tuple[str, int], Callable[[Data], Data]] = {}


def upcaster(event_type: str, from_version: int) -> Callable[[Callable[[Data], Data]], Callable[[Data], Data]]:
    def register(fn: Callable[[Data], Data]) -> Callable[[Data], Data]:
        UPCASTERS[(event_type, from_version)] = fn
        return fn

    return register


def upcast(event_type: str, version: int, data: Data) -> tuple[int, Data]:
    model = latest(event_type)  # the latest version, without copying the list of versions (every record)
    last = model.version if model is not None else versions(event_type)[-1]
    while version < last:
        data = UPCASTERS[(event_type, version)](data)
        version += 1
    return version, data


@upcaster("lgnet.intake.person_registered", from_version=1)
def _third_country(data: Data) -> Data:
    return {**data, "third_country": is_third_country(data["nationality"])}


@upcaster("lgnet.intake.needs_assessed", from_version=1)
def _moved_to_special_topic(data: Data) -> Data:
    return data  # v2 only moved to the restricted topic `intake.special`


@upcaster("lgnet.intake.inbound_rejected", from_version=1)
def _the_one_field_at_fault(data: Data) -> Data:
    return {**data, "errors": [{"field": data["field"], "reason": data["reason"]}]}  # v1 named one


# Versions that only added optional fields (sealed birth date, minor-or-adult facts): old data reads as it is; a
# clear `birth_date` of an old version stays where it was (reporting and housing still use it for old records).
for _type, _from in (
    ("lgnet.intake.person_registered", 2),
    ("lgnet.intake.person_registered", 3),  # v4 adds the optional national_key (unknown before)
    ("lgnet.intake.person_updated", 1),
    ("lgnet.intake.person_updated", 2),  # v3 adds the optional national_key (a fiscal code given after registering)
    ("lgnet.intake.case_opened", 1),
    ("lgnet.intake.household_member_joined", 1),
    ("lgnet.partner.person_registration_submitted", 1),
    ("lgnet.partner.person_registration_submitted", 2),  # v3 adds the optional identity.all
    ("lgnet.reporting.report_published", 1),
    ("lgnet.reporting.report_published", 2),  # v3 adds the optional threshold (not recorded before: null)
    # v3 says whose each vulnerability is; from v1/v2 `vulnerabilities_by_person` stays null (recorded per household:
    # reports count those as they did then, on every member, so old logs replay to the same numbers).
    ("lgnet.intake.needs_assessed", 2),
    # v2 adds `vulnerabilities_by_person` (empty from v1: intake decides whose a v1 household list is).
    ("lgnet.partner.needs_assessment_submitted", 1),  # v1 reports were computed with method 1 (v2's default)
    # v2 adds `cleared` (nothing cleared before: v1 could not say it).
    ("lgnet.housing.opportunity_updated", 1),
    # v2 publishes no priority (`score` optional, absent); a v1 proposal is read as published, its score with it.
    ("lgnet.housing.match_proposed", 1),
    # v2 adds `operator_partner` (whose operator): absent from v1, read as the booking party's (docs/outreach.md).
    ("lgnet.intake.appointment_booked", 1),
    # v2 adds `operator_partner` to reminders (whose operator): absent from v1, the appointment's as booked.
    ("lgnet.intake.appointment_reminder_due", 1),
    ("lgnet.intake.partner_appointment_reminder", 1),
):
    upcaster(_type, _from)(lambda data: data)


@upcaster("lgnet.payments.contribution_approved", from_version=1)
def _approved_bank_data_unknown(data: Data) -> Data:
    return {**data, "bank_data_version": None, "bank_data_set_by": None}  # before v2 it was not recorded


@upcaster("lgnet.payments.tutoring_session_recorded", from_version=1)
def _tutoring_outcome_unknown(data: Data) -> Data:
    return {**data, "outcome": None}  # before v2 a session's outcome was not recorded
