"""An identifying field as it travels and rests: encrypted, never plain text (DESIGN section 5). Apart from the event
catalogue (`lgnet_shared.events` re-exports it) so that `pii` and the admin commands need not import every event."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


# Registration v3's `identity.all` is sealed as a partner's field named `all`, its plaintext a JSON object of the
# identifying fields (events/partner.py). Said here, not in the docstring: that is every published schema's text.
class Sealed(BaseModel):
    """One identifying field, encrypted; never plain text. Two forms, told apart by `kid`.

    **What partners send** (`kid` = `hpke:<intake key id>`): HPKE (RFC 9180) base mode, single-shot, suite
    DHKEM(X25519, HKDF-SHA256) + HKDF-SHA256 + AES-128-GCM (ids 0x0020, 0x0001, 0x0001), to intake's public key
    (`GET /inbound-key`: `public_key` is the raw 32-byte X25519 key in base64url without padding). HPKE `info` is
    the UTF-8 bytes of `lgnet:<kid>:<field>` (the whole `kid`, `hpke:` included; `field` is the name inside
    `identity`, e.g. `lgnet:hpke:ik-1:given_name`); `aad` is empty. `n` is the empty string; `ct` is base64url
    without padding of the 32-byte encapsulated key followed by the ciphertext and its 16-byte tag. The plaintext is
    the value's UTF-8 bytes (a birth date: `YYYY-MM-DD`).

    **What LgNet's facts carry** (`kid` = the person's id): AES-256-GCM under the person's own key, `n` the 12-byte
    nonce, `ct` the ciphertext and 16-byte tag (both base64url without padding), associated data the UTF-8 bytes of
    `lgnet:<kid>:<field>`. Unreadable once the person is erased (the key is destroyed)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kid: str = Field(description="Key id: `hpke:<intake key id>` (partners) or the person's id (LgNet's facts)")
    n: str = Field(description="AES-GCM nonce, base64url; the empty string in HPKE-sealed values")
    ct: str = Field(
        description="base64url, no padding: HPKE encapsulated key + ciphertext + tag, or AES-GCM ciphertext + tag"
    )

    @model_validator(mode="before")
    @classmethod
    def _not_in_clear(cls, data: Any) -> Any:
        # A value sent in clear was refused "Input should be a valid dictionary": true, and no help to a partner.
        if isinstance(data, str | int | float):
            raise ValueError(
                "must be sealed (encrypted to intake's key: an object with kid, n and ct, as the SDK's seal makes it),"
                " never sent in clear"
            )
        return data
