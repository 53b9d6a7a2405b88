"""A fact too large for the broker is refused when it is staged, not found by the relay: a partner's registration
with 300,000 languages (1.5 MB) was accepted, and one a little larger would have stayed first in the outbox, refused
by the broker at every relay cycle, holding back every later fact of the deployment."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from lgnet_shared import outbox
from lgnet_shared.codec import to_envelope
from lgnet_shared.errors import ContractError
from lgnet_shared.events.intake import EmploymentRecorded, EmploymentStatus


class NoDatabase:
    """A connection that must not be used: the refusal comes before anything is written."""

    def __getattr__(self, name: str) -> Any:
        pytest.fail(f"the outbox wrote ({name}) a fact it should have refused")


def employment(case_id: str) -> EmploymentRecorded:
    """Built without validation: the size is what is tested, whatever made the event that large."""
    return EmploymentRecorded.model_construct(
        person_id="p-1", case_id=case_id, status=EmploymentStatus.TRAINING, as_of=date(2026, 11, 2)
    )


async def test_a_fact_larger_than_a_record_may_be_is_refused_before_it_is_staged() -> None:
    big = to_envelope(employment("c-" + "x" * (outbox.MAX_FACT_BYTES + 1)), source="/test", city="torino")
    with pytest.raises(ContractError) as refused:
        await outbox.append(NoDatabase(), [big])
    assert refused.value.field == ""
    assert "lgnet.intake.employment_recorded" in refused.value.reason and "too large" in refused.value.reason


def test_the_limit_leaves_room_below_the_brokers_default_record_size() -> None:
    assert outbox.MAX_FACT_BYTES <= 1_048_588 - 64 * 1024  # message.max.bytes: headers and batch overhead fit
