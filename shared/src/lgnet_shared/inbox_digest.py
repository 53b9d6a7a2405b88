"""What a consumer first received under an event id, so that the id used again for another record is told apart from
a redelivery (consumer.py, for a consumer with `digests`: intake's gatekeeper).

The inbox keeps one row per event id; every record read again under it was a silent duplicate — a partner that
re-used an id for another record got no answer, and took it for accepted. With `digests`, an event's row holds the
SHA-256 of its content (type and `data`, canonical JSON: not the envelope's time, trace context or the record's
bytes, which a resend may change; a sealed field by its key id, not its ciphertext, which sealing again changes).
A record under a processed id is a duplicate when its content is the same (a redelivery, a resend), and refused
`id` "already used for another record" when it differs; the first record stays as it was. Rows written before the
digest was kept (NULL) judge every record a duplicate, as before.
Needs the `digest` column of the consumer's inbox (intake's migration intake-11).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from lgnet_shared.db import Conn
from lgnet_shared.envelope import Envelope
from lgnet_shared.errors import Conflict

REUSED = "already used for another record"


class IdReused(Conflict):
    """An event id this consumer processed, sent again with other content: answered, never applied."""

    def __init__(self) -> None:
        super().__init__("id", REUSED)


def content_digest(env: Envelope) -> bytes:
    """The digest of what a record says: its type and data, independent of key order and spacing, a sealed value by
    its key alone (`_unsealed`)."""
    canonical = json.dumps([env.type, _unsealed(env.data)], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).digest()


_SEALED_KEYS = frozenset(("kid", "n", "ct"))


def _unsealed(value: Any) -> Any:
    """`value` with each sealed field (`Sealed`: kid, n, ct) reduced to its kid. HPKE seals one value to other bytes
    every time, so a partner's export run twice sealed the same registration to another content: refused as another
    record. What a sealed field holds cannot be compared without opening it, so two records that differ only there
    are one (a duplicate, as every record under a processed id was before digests)."""
    if isinstance(value, dict):
        if value.keys() == _SEALED_KEYS:
            return {"kid": value["kid"]}
        return {k: _unsealed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unsealed(v) for v in value]
    return value


# An event's own id is claimed by processing it (consumer._CLAIM), its digest with it.
CLAIM = (
    "on conflict (consumer, event_id) do update set outcome = excluded.outcome, processed_at = now(),"
    " digest = excluded.digest where inbox.outcome <> 'processed'"
)


async def stored(conn: Conn, inbox: str, event_ids: Sequence[str]) -> dict[str, bytes | None]:
    """The digests kept with these processed event ids (None: kept before digests were)."""
    rows = await conn.fetch(
        "select event_id, digest from inbox"
        " where consumer = $1 and event_id = any($2::text[]) and outcome = 'processed'",
        inbox,
        list(event_ids),
    )
    return {r["event_id"]: r["digest"] for r in rows}


def differs(kept: bytes | None, digest: bytes) -> bool:
    """Whether a record is another than the one first processed under its id (unknown before digests: no)."""
    return kept is not None and kept != digest
