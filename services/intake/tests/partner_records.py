"""Records a partner's code might produce, good and bad, for the conformance kit's tests and for comparing its
verdicts with the real gatekeeper's answers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from codicefiscale import codicefiscale
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from lgnet_shared import pii, signing
from lgnet_shared.codec import to_envelope
from lgnet_shared.events import Event, outreach
from lgnet_shared.events import partner as inbound

CITY = "torino"
AMINA_CF = codicefiscale.encode(
    lastname="Okafor", firstname="Amina", gender="F", birthdate="02/04/1991", birthplace="Nigeria"
)


@dataclass
class Sender:
    partner: str
    key_id: str
    signing_key: Ed25519PrivateKey
    intake_public: str  # base64url, as GET /inbound-key gives it
    intake_key_id: str

    def seal(self, field: str, value: str, *, as_field: str | None = None) -> dict[str, str]:
        return pii.seal_for(self.intake_public, self.intake_key_id, as_field or field, value).model_dump()

    def record(
        self,
        event: Event,
        *,
        city: str = CITY,
        data: dict[str, Any] | None = None,
        version: int | None = None,
        partitionkey: str | None = None,
        key: str | None = None,
    ) -> dict[str, Any]:
        """The record as a partner's code writes it: structured mode, keyed and signed; `data` overrides fields,
        `version` the version its `dataschema` names, `partitionkey` and `key` the partner id they should be."""
        env = to_envelope(event, source=f"/partners/{self.partner}", city=city, partner=self.partner)
        env = env.model_copy(
            update={"partitionkey": partitionkey or self.partner, "data": {**env.data, **(data or {})}}
        )
        if version is not None:
            env = env.model_copy(update={"dataschema": f"urn:lgnet:schema:{env.type}:v{version}"})
        value, headers = env.to_structured()
        headers.append(signing.sign(self.signing_key, self.key_id, value, headers))
        return {"key": key or self.partner, "headers": [[k, v.decode()] for k, v in headers], "value": value.decode()}

    def registration(self, person_id: str, *, fiscal_code: str = AMINA_CF, **identity: dict[str, str]) -> Event:
        sealed = {
            "given_name": self.seal("given_name", "Amina"),
            "family_name": self.seal("family_name", "Okafor"),
            "birth_date": self.seal("birth_date", "1991-04-02"),
            "fiscal_code": self.seal("fiscal_code", fiscal_code),
            **identity,
        }
        return inbound.PersonRegistrationSubmitted(
            person_id=person_id, sex="female", nationality="NG", identity=inbound.PartnerIdentityV2(**sealed)
        )

    def whole(self, person_id: str, **fields: str) -> Event:
        """Registration v3: the identity sealed at once (`identity.all`); `fields` replace or add members."""
        members = {"given_name": "Amina", "family_name": "Okafor", "birth_date": "1991-04-02", **fields}
        sealed = pii.seal_for(self.intake_public, self.intake_key_id, "all", json.dumps(members))
        return inbound.PersonRegistrationSubmitted(
            person_id=person_id, sex="female", nationality="NG", identity=inbound.PartnerIdentityV3(all=sealed)
        )


def sender(partner: str, key_id: str, signing_key: Ed25519PrivateKey, intake_key: dict[str, str]) -> Sender:
    return Sender(partner, key_id, signing_key, intake_key["public_key"], intake_key["key_id"])


def sender_with_test_key(partner: str) -> tuple[Sender, X25519PrivateKey]:
    """A sender whose intake key is a test key pair of its own (what the kit opens sealed fields with)."""
    private, public = pii.hpke_keypair()
    key = {"public_key": public, "key_id": "t"}
    return sender(partner, f"{partner}-key", Ed25519PrivateKey.generate(), key), private


def bad_records(s: Sender) -> dict[str, dict[str, Any]]:
    """Each refused for one reason, the same offline (kit) and online (gatekeeper)."""
    wrong_check = AMINA_CF[:15] + ("A" if AMINA_CF[15] != "A" else "B")
    opening = inbound.CaseOpeningSubmitted(
        case_id="c-1", household_id="h-1", action_area="taking_charge", channel="desk", opened_on=date(2026, 3, 1)
    )
    whole = s.whole("p-6").model_dump(mode="json", exclude_none=True)["identity"]
    tampered = s.record(s.registration("p-tampered"))
    tampered["value"] = tampered["value"].replace("p-tampered", "p-changed")
    return {
        "check_character": s.record(s.registration("p-2", fiscal_code=wrong_check)),
        "fiscal_code_birth_date": s.record(
            s.registration("p-3", birth_date=s.seal("birth_date", "1991-04-03"))  # the code says 2 April
        ),
        "sealed_as_another_field": s.record(
            s.registration("p-4", given_name=s.seal("given_name", "x", as_field="phone"))
        ),
        "number_for_a_date": s.record(opening, data={"opened_on": 1764460800}),
        "other_city": s.record(s.registration("p-5"), city="trieste"),
        # keyed by another partner's id: out of order with this partner's records, and not this partner's to name
        "partitionkey_of_another": s.record(s.registration("p-9"), partitionkey="coop-borgo"),
        "record_key_of_another": s.record(s.registration("p-10"), key="coop-borgo"),
        "tampered": tampered,
        "whole_and_a_field": s.record(
            s.whole("p-6"), data={"identity": {**whole, "given_name": s.seal("given_name", "Amina")}}
        ),
        "whole_with_a_nickname": s.record(s.whole("p-7", nickname="Mimi")),
        "whole_written_as_v2": s.record(s.whole("p-8"), version=2),
        # whose agenda and who went out: operators' ids, in clear for good, never their e-mail or phone
        "operator_by_e_mail": s.record(
            outreach.AppointmentBookingSubmitted(
                appointment_id="a-1",
                agenda="desk",
                operator="giulia.bianchi@example.org",
                person_id="p-1",
                purpose="documents",
                starts_at=datetime(2026, 12, 3, 9, tzinfo=UTC),
                ends_at=datetime(2026, 12, 3, 10, tzinfo=UTC),
            )
        ),
        "staff_by_phone": s.record(
            outreach.OutingSubmitted(
                outing_id="o-1",
                unit_id="u-1",
                on=date(2026, 11, 20),
                start_time=time(20, 30),
                end_time=time(23, 0),
                places=["Stazione Porta Nuova"],
                staff=["op-1", "3471234567"],
            )
        ),
    }


def dump(record: dict[str, Any]) -> str:
    return json.dumps(record)


async def refused_at(client: Any, event_id: str, field: str) -> None:
    """The partner's rejection of the event it sent names `field` (and comes within 15 s)."""
    async for rejection in client.rejections(timeout=15):
        if rejection.inbound_event_id == event_id:
            assert rejection.field == field, rejection
            return
    raise AssertionError(f"event {event_id} was not refused at {field}")
