"""Identifiers: UUIDv7, so ids are unique and sort by creation time (event ids, aggregate ids)."""

from __future__ import annotations

import uuid_utils


def new_id() -> str:
    """A time-ordered unique id (UUID version 7, RFC 9562) as a string."""
    return str(uuid_utils.uuid7())
