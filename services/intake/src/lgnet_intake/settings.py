"""Intake's own settings, read from the environment like the shared ones (README, "Configuration")."""

from __future__ import annotations

import base64
import binascii
import os
import re
from datetime import date, timedelta

from lgnet_shared.config import ConfigError, Variable

from lgnet_intake.adapters.credentials import InboundKeyPolicy
from lgnet_intake.domain.cases import PROGRAMME_START

ROTATION_VAR = "LGNET_INBOUND_KEY_ROTATION_DAYS"
GRACE_VAR = "LGNET_INBOUND_KEY_GRACE_HOURS"
NATIONAL_KEY_VAR = "LGNET_NATIONAL_PSEUDONYM_KEY"
LOOKUP_CACHE_VAR = "LGNET_INTAKE_LOOKUP_CACHE_SECONDS"
LOOKUP_CACHE_SECONDS = 30
EARLIEST_DATE_VAR = "LGNET_INTAKE_EARLIEST_DATE"
# How long the read log keeps an entry by default (`lgnet-intake-admin purge-read-log --days`): docs/operators.md.
READ_LOG_DAYS = 730


def _number(var: str, default: float, minimum: float) -> float:
    raw = os.environ.get(var, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise ConfigError(f"invalid configuration:\n  {var}: must be a number of at least {minimum:g}")
    return value


def inbound_key_policy() -> InboundKeyPolicy:
    """When intake's inbound HPKE key is replaced, and how long a replaced private key survives (see
    docs/operators.md, "Intake's inbound key")."""
    default = InboundKeyPolicy()
    return InboundKeyPolicy(
        rotate_after=timedelta(days=_number(ROTATION_VAR, default.rotate_after / timedelta(days=1), 0.001)),
        grace=timedelta(hours=_number(GRACE_VAR, default.grace / timedelta(hours=1), 0)),
    )


def lookup_cache_seconds() -> float:
    """How long the gatekeeper reuses what it looked up (partners' signing keys, actors, inbound private keys): a
    revoked key, a deactivated actor or a destroyed inbound key stops working within this time (docs/operators.md)."""
    return _number(LOOKUP_CACHE_VAR, LOOKUP_CACHE_SECONDS, 0)


def earliest_date() -> date:
    """The earliest day a case may be opened or a referral received (docs/operators.md, "The programme's earliest
    date"): default 2014-01-01, the start of the first AMIF/FAMI programme; a city that joined later may set its own."""
    raw = os.environ.get(EARLIEST_DATE_VAR, "").strip()
    if not raw:
        return PROGRAMME_START
    try:
        if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", raw):
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError:
        raise ConfigError(f"invalid configuration:\n  {EARLIEST_DATE_VAR}: must be a date, YYYY-MM-DD") from None


SANDBOX_VAR = "LGNET_SANDBOX"
DRAIN_OLD_INBOUND_VAR = "LGNET_INTAKE_DRAIN_OLD_INBOUND"


def _flag(var: str) -> bool:
    raw = os.environ.get(var, "").strip().lower()
    if raw in ("", "0", "false", "no"):
        return False
    if raw not in ("1", "true", "yes"):
        raise ConfigError(f"invalid configuration:\n  {var}: must be true or false")
    return True


def drain_old_inbound() -> bool:
    """After the upgrade to per-city inbound topics, an intake that was there before also reads the old shared
    `lgnet.partner.inbound` (with the same rules: other cities' records skipped) until the operator sees it drained
    (docs/operators.md, "Upgrade: per-city inbound topics"); its principal needs `--drain-old-inbound`."""
    return _flag(DRAIN_OLD_INBOUND_VAR)


def sandbox(topic_prefix: str, db_schema: str | None) -> bool:
    """A sandbox intake (docs/partners.md, "The sandbox") checks and answers partners' records on its own topic
    prefix and keeps what it accepts in its own schema, but publishes no canonical fact: nothing it accepts reaches
    the city's services. It refuses to start where it could be mistaken for the real one."""
    if not _flag(SANDBOX_VAR):
        return False
    if not topic_prefix:
        raise ConfigError(f"invalid configuration:\n  {SANDBOX_VAR}: needs its own LGNET_TOPIC_PREFIX (e.g. sandbox.)")
    if db_schema in (None, "", "intake"):
        raise ConfigError(
            f"invalid configuration:\n  {SANDBOX_VAR}: needs its own LGNET_DB_SCHEMA (e.g. intake_sandbox)"
        )
    return True


def national_pseudonym_key() -> bytes | None:
    """The programme's national pseudonym key (base64 of 32 bytes), issued by the national coordination to every
    city's intake: registrations then carry the cross-city key (HMAC of the fiscal code under it). Optional:
    without it, the national level cannot tell that two cities' registrations are one person."""
    raw = os.environ.get(NATIONAL_KEY_VAR, "").strip()
    if not raw:
        return None
    try:
        key = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 32:
        raise ConfigError(f"invalid configuration:\n  {NATIONAL_KEY_VAR}: must be base64 of 32 random bytes")
    return key


_KEYS = InboundKeyPolicy()
VARIABLES = (
    Variable(
        LOOKUP_CACHE_VAR,
        str(LOOKUP_CACHE_SECONDS),
        "seconds the gatekeeper reuses partners' keys and actors it looked up",
        lookup_cache_seconds,
    ),
    Variable(
        EARLIEST_DATE_VAR,
        PROGRAMME_START.isoformat(),
        "no case opened or referral received before this day",
        earliest_date,
    ),
    Variable(
        ROTATION_VAR,
        f"{_KEYS.rotate_after / timedelta(days=1):g}",
        "days before the inbound key is replaced",
        inbound_key_policy,
    ),
    Variable(GRACE_VAR, f"{_KEYS.grace / timedelta(hours=1):g}", "hours a replaced inbound key still opens records"),
    Variable(
        NATIONAL_KEY_VAR, None, "the programme's national pseudonym key (base64 of 32 bytes)", national_pseudonym_key
    ),
    Variable(SANDBOX_VAR, "false", "a sandbox intake: answers partners, publishes no fact (own prefix and schema)"),
    Variable(DRAIN_OLD_INBOUND_VAR, "false", "also read the old shared lgnet.partner.inbound until it is drained"),
)
