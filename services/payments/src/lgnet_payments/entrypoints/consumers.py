"""Payments' Kafka consumers, declarable without a started runtime (see lgnet_shared.asyncapi)."""

from __future__ import annotations

from lgnet_shared.consumer import handlers_of
from lgnet_shared.events import housing as hev
from lgnet_shared.events import intake as iev
from lgnet_shared.service import ConsumerSpec, Runtime

from lgnet_payments.service_layer import consumers as h


def consumers(runtime: Runtime) -> list[ConsumerSpec]:
    return [
        ConsumerSpec(
            name="intake",
            topics=["intake.events"],
            handlers=handlers_of(
                (iev.CaseOpened, h.case_opened),
                (iev.CaseTransferred, h.case_transferred),
                (iev.CaseClosed, h.case_closed),
                (iev.HouseholdFormed, h.household_formed),
                (iev.HouseholdMemberJoined, h.household_member_joined),
                (iev.PersonErased, h.person_erased(lambda: runtime.keys)),
            ),
        ),
        ConsumerSpec(
            name="housing", topics=["housing.events"], handlers=handlers_of((hev.LeaseSigned, h.lease_signed))
        ),
    ]
