"""Payments' Kafka consumers, declarable without a started runtime (see lgnet_shared.asyncapi)."""

from __future__ import annotations

from lgnet_shared.consumer import PipelinedHandler, handlers_of
from lgnet_shared.events import housing as hev
from lgnet_shared.events import intake as iev
from lgnet_shared.service import ConsumerSpec, Runtime

from lgnet_payments.service_layer import consumers as h


def consumers(runtime: Runtime) -> list[ConsumerSpec]:
    """Intake's case facts and a person's consent to sharing only write (no read, no status string, no failure
    caught): pipelined, so a burst of them (a partner's cases transferred, a day's closures, a catch-up) reaches
    PostgreSQL in one round trip per statement, not per event. PersonErased reads (the person's households, their
    batches; the key store's erase reads `execute`'s status), the household facts read whether a member was erased
    before them (and then erase), and LeaseSigned is the money path (reads the case, policy, budget lines and
    existing requests before it writes): plain handlers (docs/benchmarks-history.md, #22's fifth pass)."""
    return [
        ConsumerSpec(
            name="intake",
            topics=["intake.events"],
            handlers=handlers_of(
                (iev.CaseOpened, PipelinedHandler(h.case_opened)),
                (iev.CaseTransferred, PipelinedHandler(h.case_transferred)),
                (iev.CaseClosed, PipelinedHandler(h.case_closed)),
                (iev.ConsentRecorded, PipelinedHandler(h.consent_recorded)),
                (iev.HouseholdFormed, h.household_formed(lambda: runtime.keys)),
                (iev.HouseholdMemberJoined, h.household_member_joined(lambda: runtime.keys)),
                (iev.PersonErased, h.person_erased(lambda: runtime.keys)),
            ),
        ),
        ConsumerSpec(
            name="housing", topics=["housing.events"], handlers=handlers_of((hev.LeaseSigned, h.lease_signed))
        ),
    ]
