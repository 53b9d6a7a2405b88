"""The sandbox a city gives its partners: an intake on its own topic prefix and schema that checks and answers
every record as the real gatekeeper does, keeps what it accepts (so a sequence can be tried), and publishes no
canonical fact — nothing reaches the city's services."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

import pytest
from lgnet_intake import settings
from lgnet_shared.config import ConfigError
from lgnet_shared.events import partner as inbound

if TYPE_CHECKING:
    from conftest import IntakeUnderTest


@pytest.fixture
def intake_env() -> dict[str, str]:
    return {"LGNET_SANDBOX": "true"}


@pytest.mark.integration
async def test_the_sandbox_answers_and_keeps_but_publishes_nothing(intake: IntakeUnderTest) -> None:
    async with intake.partner("coop-aurora", "torino") as client:
        person = inbound.PersonRegistrationSubmitted(
            person_id="s-1",
            sex="female",
            nationality="NG",
            identity=inbound.PartnerIdentityV2(birth_date=client.seal_birth_date(date(1991, 4, 2))),
        )
        await client.emit(person)
        household = await client.emit(
            inbound.HouseholdFormationSubmitted(household_id="h-1", reference_person_id="s-1", member_ids=["s-1"])
        )
        wrong = await client.emit(
            inbound.HouseholdFormationSubmitted(household_id="h-2", reference_person_id="nobody", member_ids=["nobody"])
        )
        answers = []
        async for rejection in client.rejections(timeout=20):
            answers.append(rejection)
            break
    assert [(a.inbound_event_id, a.kind, a.field) for a in answers] == [(wrong.id, "not_found", "data.member_ids.0")]
    assert household.id not in {a.inbound_event_id for a in answers}  # the sequence worked: the person was kept
    async with intake.pool.acquire() as conn:
        assert await conn.fetchval("select count(*) from households") == 1
        assert await conn.fetchval("select count(*) from persons") == 1
    assert await intake.raw_records("intake.events", missing_ok=True) == []  # no canonical fact left the sandbox


@pytest.mark.parametrize(
    ("prefix", "schema", "message"),
    [
        ("", "intake_sandbox", "LGNET_TOPIC_PREFIX"),
        ("sandbox.", None, "LGNET_DB_SCHEMA"),
        ("sandbox.", "intake", "LGNET_DB_SCHEMA"),
    ],
)
def test_a_sandbox_that_could_pass_for_the_real_intake_does_not_start(
    monkeypatch: pytest.MonkeyPatch, prefix: str, schema: str | None, message: str
) -> None:
    monkeypatch.setenv("LGNET_SANDBOX", "true")
    with pytest.raises(ConfigError, match=message):
        settings.sandbox(prefix, schema)
    monkeypatch.setenv("LGNET_SANDBOX", "false")
    assert settings.sandbox(prefix, schema) is False
