"""The SDK never sends a record intake cannot authenticate: an unsigned record, or one signed under a key id the
city did not register, is dead-lettered and never answered (docs/partners.md, "Signing"), so the partner would wait
for an answer that never comes. `emit` without a signing key, or a signing key without its key id, is refused at
once, naming what is missing; a client given both signs every record under that key id."""

from __future__ import annotations

from datetime import date

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from lgnet_shared import sdk, signing
from lgnet_shared.events.partner import EmploymentReported

EVENT = EmploymentReported(person_id="p-1", status="training", as_of=date(2026, 3, 1))


class Recording:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, list[tuple[str, bytes]]]] = []

    async def send_and_wait(self, topic: str, value: bytes, *, key: bytes, headers: list[tuple[str, bytes]]) -> None:
        self.sent.append((topic, value, headers))


async def test_emit_without_a_signing_key_is_refused_before_anything_is_sent() -> None:
    client = sdk.PartnerClient("unused:9092", partner="coop-aurora", city="torino", security=None, x=1)
    producer = client._producer = Recording()
    with pytest.raises(ValueError, match=r"^signing_key: .*signing_key_id.*unsigned record"):
        await client.emit(EVENT)
    assert producer.sent == []


def test_a_signing_key_without_its_key_id_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^signing_key_id: .*signing\.key_id"):
        sdk.PartnerClient(
            "unused:9092", partner="coop-aurora", city="torino", security=None, signing_key=Ed25519PrivateKey.generate()
        )


async def test_a_signed_emit_carries_a_signature_under_the_registered_key_id() -> None:
    key = Ed25519PrivateKey.generate()
    client = sdk.PartnerClient(
        "unused:9092",
        partner="coop-aurora",
        city="torino",
        security=None,
        signing_key=key,
        signing_key_id="coop-aurora-2026",
    )
    producer = client._producer = Recording()
    await client.emit(EVENT)
    [(topic, value, headers)] = producer.sent
    assert topic == "lgnet.partner.inbound.torino"
    assert signing.key_id_of(headers) == "coop-aurora-2026"
    signing.verify(signing.public_bytes(key), value, headers)  # raises if it does not verify


async def test_an_event_partners_do_not_send_is_refused_before_anything_is_sent() -> None:
    """Intake's fact `EmploymentRecorded` next to the partner's `EmploymentReported`: the wrong one would only come
    back later as an `unknown_type` rejection; the SDK names it at once."""
    from lgnet_shared.events.intake import EmploymentRecorded

    client = sdk.PartnerClient(
        "unused:9092",
        partner="coop-aurora",
        city="torino",
        security=None,
        signing_key=Ed25519PrivateKey.generate(),
        signing_key_id="coop-aurora-2026",
    )
    producer = client._producer = Recording()
    fact = EmploymentRecorded(person_id="p-1", status="training", as_of=date(2026, 3, 1))
    with pytest.raises(ValueError, match=r"^type: lgnet\.intake\.employment_recorded is not an event partners send"):
        await client.emit(fact)
    assert producer.sent == []
