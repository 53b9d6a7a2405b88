"""Taking households in charge through intake's three public doors, as real partners would:

- the partner SDK (signed CloudEvents on Kafka, identifying fields sealed to intake's key),
- raw JSON on Kafka in CloudEvents binary mode, signed by hand, as a partner with a non-Python system would,
- the HTTP API, as a desk operator would.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaProducer
from lgnet_shared import pii
from lgnet_shared.events import partner as inbound
from lgnet_shared.events.base import Event
from lgnet_shared.kafka import client_kwargs
from lgnet_shared.sdk import PartnerClient
from lgnet_shared.topics import partner_inbound

from lgnet_scenario.platform import Platform
from lgnet_scenario.population import LANGUAGES, Household, MemberChange, Person

CONSENTS = ("service", "partner_sharing", "reporting")


def household_events(h: Household, sealer: Any) -> list[Event]:
    """What a partner sends to take a household in charge, in order. `sealer(field, value)` seals identity: the
    whole of it at once (registration v3, `identity.all`)."""
    events: list[Event] = []
    for p in h.initial_members:
        events += person_events(p, h, sealer, h.opened_on)
    events += [
        inbound.HouseholdFormationSubmitted(
            household_id=h.household_id,
            reference_person_id=h.reference.person_id,
            member_ids=[m.person_id for m in h.initial_members],
        ),
        inbound.ReferralSubmitted(
            referral_id=h.referral_id,
            household_id=h.household_id,
            source=h.referral_source,
            received_on=h.opened_on - timedelta(days=7),
        ),
        inbound.CaseOpeningSubmitted(
            case_id=h.case_id,
            household_id=h.household_id,
            action_area=h.action_area,
            channel=h.channel,
            opened_on=h.opened_on,
            housing_need=h.housing_need,
            referral_id=h.referral_id,
        ),
        *opening_follow_up(h),
    ]
    return events


def person_events(p: Person, h: Household, sealer: Any, on: date) -> list[Event]:
    """A person registered (her identity sealed at once) and her consents, recorded on `on`."""
    whole = {"given_name": p.given_name, "family_name": p.family_name, "birth_date": p.birth_date.isoformat()}
    return [
        inbound.PersonRegistrationSubmitted(
            person_id=p.person_id,
            sex=p.sex,
            nationality=p.nationality,
            languages=[LANGUAGES[p.nationality]],
            literate="illiterate" not in h.vulnerabilities_by_person.get(p.person_id, []),
            identity=inbound.PartnerIdentityV3(all=sealer("all", json.dumps(whole))),
        ),
        *(inbound.ConsentReported(person_id=p.person_id, purpose=c, granted=True, recorded_on=on) for c in CONSENTS),
    ]


def member_change(h: Household, c: MemberChange, on: date) -> inbound.HouseholdMemberChangeSubmitted:
    return inbound.HouseholdMemberChangeSubmitted(
        household_id=h.household_id, person_id=c.person.person_id, change=c.change, reason=c.reason, on=on
    )


def joins(h: Household) -> list[tuple[MemberChange, date]]:
    """Who joins the household during the year, after its case opened, and on which day."""
    return [(c, c.on) for c in h.changes if c.change == "joined" and c.on is not None]


def joining_events(h: Household, sealer: Any) -> list[Event]:
    """Who joins the household during the year: registered then, and her joining."""
    events: list[Event] = []
    for c, on in joins(h):
        events += [*person_events(c.person, h, sealer, on), member_change(h, c, on)]
    return events


def opening_follow_up(h: Household) -> list[Event]:
    return [
        inbound.NeedsAssessmentSubmitted(
            case_id=h.case_id,
            vulnerabilities_by_person=h.vulnerabilities_by_person,
            housing_situation=h.housing_situation,
            monthly_income_cents=h.monthly_income_cents,
            employment_status=h.employment_at_opening,
            accessibility_needs=h.accessibility_needs,
            specialist_support=h.specialist_support,
            assessed_on=h.opened_on,
        ),
        inbound.PlanSubmitted(
            case_id=h.case_id,
            plan_id=f"plan-{h.case_id}",
            objectives=["housing_autonomy", "employment", "money_management"],
            agreed_on=h.opened_on + timedelta(days=3),
        ),
        inbound.EmploymentReported(
            person_id=h.reference.person_id,
            case_id=h.case_id,
            status=h.employment_at_opening,
            as_of=h.opened_on,
        ),
    ]


async def via_sdk(client: PartnerClient, h: Household) -> None:
    for event in [*household_events(h, client.seal), *joining_events(h, client.seal)]:
        await client.emit(event)


class RawPartner:
    """A partner whose system is not Python: CloudEvents binary mode, Ed25519 over value + sorted ce_* headers."""

    def __init__(self, platform: Platform, partner: str, city: str) -> None:
        self.platform, self.partner, self.city = platform, partner, city
        self.producer = AIOKafkaProducer(
            **client_kwargs(platform.ep.kafka, platform.actors.kafka_of(partner)), enable_idempotence=True
        )

    async def send(self, h: Household) -> None:
        key = await self.platform.intake_public_key(self.partner)

        def seal(field: str, value: str) -> Any:  # the partner's HPKE library
            return pii.seal_for(key["public_key"], key["key_id"], field, value)

        for event in [*household_events(h, seal), *joining_events(h, seal)]:
            await self.send_raw(event.type, event.model_dump(mode="json", exclude_none=True), signed=True)

    async def send_raw(self, type_: str, data: Any, *, signed: bool, city: str | None = None) -> str:
        event_id = str(uuid.uuid4())
        ce = {
            "ce_specversion": "1.0",
            "ce_id": event_id,
            "ce_source": f"/partners/{self.partner}/cms",
            "ce_type": type_,
            "ce_time": datetime.now(UTC).isoformat(),
            "ce_city": city or self.city,
            "ce_partner": self.partner,
            "ce_partitionkey": self.partner,
        }
        value = json.dumps(data).encode() if not isinstance(data, bytes) else data
        headers = [(k, v.encode()) for k, v in ce.items()] + [("content-type", b"application/json")]
        if signed:
            signed_bytes = value + ("\n" + "\n".join(sorted(f"{k}={v}" for k, v in ce.items()))).encode()
            signature = self.platform.actors.signing_keys[self.partner].sign(signed_bytes)
            key_id = self.platform.actors.inbound_key[f"{self.partner}:key_id"]
            sig = base64.urlsafe_b64encode(signature).rstrip(b"=").decode()
            headers.append(("lgnet-signature", f"ed25519;{key_id};{sig}".encode()))
        topic = partner_inbound(self.city, self.platform.ep.topic_prefix)  # its city's (the claim may differ)
        await self.producer.send_and_wait(topic, value, key=self.partner.encode(), headers=headers)
        return event_id


async def via_http(platform: Platform, h: Household) -> None:
    """A desk operator of the city registers the household and assigns the case to the partner."""
    staff = platform.http("intake", f"staff-{h.city}")

    async def post(path: str, body: dict[str, Any]) -> None:
        key = hashlib.sha256(f"{path}:{json.dumps(body, sort_keys=True)}".encode()).hexdigest()
        answer = await staff.post(path, json=body, headers={"Idempotency-Key": key})
        if answer.status_code not in (200, 201):
            raise RuntimeError(f"intake {path} answered {answer.status_code}: {answer.text}")

    async def register(p: Person, on: date) -> None:
        await post("/persons", _person_body(p, h))
        for c in CONSENTS:
            await post("/consents", {"person_id": p.person_id, "purpose": c, "granted": True, "recorded_on": str(on)})

    for p in h.initial_members:
        await register(p, h.opened_on)
    await post(
        "/households",
        {
            "household_id": h.household_id,
            "reference_person_id": h.reference.person_id,
            "member_ids": [m.person_id for m in h.initial_members],
        },
    )
    await post(
        "/referrals",
        {
            "referral_id": h.referral_id,
            "household_id": h.household_id,
            "source": h.referral_source,
            "received_on": str(h.opened_on - timedelta(days=7)),
        },
    )
    await post(
        "/cases",
        {
            "case_id": h.case_id,
            "household_id": h.household_id,
            "action_area": h.action_area,
            "channel": h.channel,
            "opened_on": str(h.opened_on),
            "housing_need": h.housing_need,
            "referral_id": h.referral_id,
            "partner": h.partner,
        },
    )
    paths = {
        "needs_assessment_submitted": "/cases/assessments",
        "plan_submitted": "/cases/plans",
        "employment_reported": "/employment",
    }
    for event in opening_follow_up(h):
        await post(paths[event.type.rsplit(".", 1)[1]], event.model_dump(mode="json", exclude_none=True))
    for c, on in joins(h):  # later in the year
        await register(c.person, on)
        await post("/households/members", member_change(h, c, on).model_dump(mode="json"))


def _person_body(p: Person, h: Household) -> dict[str, Any]:
    return {
        "person_id": p.person_id,
        "birth_date": str(p.birth_date),
        "sex": p.sex,
        "nationality": p.nationality,
        "languages": [LANGUAGES[p.nationality]],
        "literate": "illiterate" not in h.vulnerabilities_by_person.get(p.person_id, []),
        "identity": {"given_name": p.given_name, "family_name": p.family_name},
    }


async def wait_for_cases(platform: Platform, households: list[Household], timeout: float = 180) -> None:
    """Kafka is asynchronous: wait until intake has opened every case (visible to the city's staff)."""
    deadline = asyncio.get_running_loop().time() + timeout
    for h in households:
        staff = platform.http("intake", f"staff-{h.city}")
        while True:
            answer = await staff.get(f"/cases/{h.case_id}")
            if answer.status_code == 200:
                break
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"case {h.case_id} of {h.partner} not opened after {timeout:.0f} s: {answer.text}")
            await asyncio.sleep(0.5)


async def wait_for_members(platform: Platform, households: list[Household], timeout: float = 120) -> None:
    """Wait until intake holds the members of every household that someone joined (its case's current members):
    everyone, no one having left yet."""
    deadline = asyncio.get_running_loop().time() + timeout
    for h in filter(joins, households):
        staff = platform.http("intake", f"staff-{h.city}")
        want = {p.person_id for p in h.members}
        while True:
            answer = await staff.get(f"/cases/{h.case_id}")
            if answer.status_code == 200 and set(answer.json()["member_ids"]) == want:
                break
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"household {h.household_id}: joined members not at intake after {timeout:.0f} s")
            await asyncio.sleep(0.5)


def closing_events(h: Household, on: date) -> list[Event]:
    return [
        inbound.EmploymentReported(
            person_id=h.reference.person_id,
            case_id=h.case_id,
            status=h.employment_at_close,
            as_of=on,
        ),
        inbound.CaseClosureSubmitted(case_id=h.case_id, outcome=h.outcome, closed_on=on),
    ]
