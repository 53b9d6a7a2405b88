"""Reporting's own setting, read from the environment like the shared ones (README, "Configuration")."""

from __future__ import annotations

import os
from collections.abc import Mapping

from lgnet_shared.checkpoints import NotarySigner, Verifier
from lgnet_shared.config import ConfigError, Variable
from lgnet_shared.config import deployment_of as deployment_of  # the notary's, as lgnet_shared.config reads it
from lgnet_shared.pii import derive, parse_master_key

MIN_CELL_VAR = "LGNET_REPORTING_MIN_CELL"
DEFAULT_MIN_CELL = 5


def min_cell() -> int:
    """Small-cell threshold of the national aggregate: counts from 1 to this minus one are hidden."""
    raw = os.environ.get(MIN_CELL_VAR, str(DEFAULT_MIN_CELL)).strip()
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(f"invalid configuration:\n  {MIN_CELL_VAR}: must be a whole number of at least 1")
    return int(raw)


NOTARY_VERIFIER_VAR = "LGNET_NOTARY_VERIFIER"
NOTARY_KEY_VAR = "LGNET_NOTARY_KEY"


def notary_signer(env: Mapping[str, str] = os.environ) -> NotarySigner | None:
    """The deployment's notary key: LGNET_NOTARY_KEY, else derived from LGNET_MASTER_KEY (one per deployment);
    None when neither is set."""
    deployment = deployment_of(env)
    name = f"lgnet-notary.{deployment}"
    if seed := env.get(NOTARY_KEY_VAR):
        return NotarySigner(name, parse_master_key(seed))
    if master := env.get("LGNET_MASTER_KEY"):
        return NotarySigner(name, derive(parse_master_key(master), f"notary:{deployment}"))
    return None


def notary_verifiers(env: Mapping[str, str] = os.environ) -> list[Verifier]:
    """The notary keys whose checkpoints anchor reports: LGNET_NOTARY_VERIFIER (verifier keys, comma-separated, as
    `lgnet-notary key` prints them), else this deployment's own notary's."""
    if raw := env.get(NOTARY_VERIFIER_VAR, "").strip():
        try:
            return [Verifier.parse(v) for v in raw.split(",") if v.strip()]
        except ValueError as exc:
            raise ConfigError(f"invalid configuration:\n  {NOTARY_VERIFIER_VAR}: {exc}") from None
    signer = notary_signer(env)
    return [signer.verifier] if signer is not None else []


def _notary_key() -> object:
    """LGNET_NOTARY_KEY alone (the master key is the shared settings' to check)."""
    return parse_master_key(seed) if (seed := os.environ.get(NOTARY_KEY_VAR)) else None


VARIABLES = (
    Variable(MIN_CELL_VAR, str(DEFAULT_MIN_CELL), "national-aggregate cells below this count are suppressed", min_cell),
    Variable(
        NOTARY_VERIFIER_VAR,
        None,
        "notary verifier keys whose checkpoints anchor reports (default: our own)",
        lambda: notary_verifiers() if os.environ.get(NOTARY_VERIFIER_VAR, "").strip() else None,
    ),
    Variable(NOTARY_KEY_VAR, None, "the notary's signing seed (default: derived from LGNET_MASTER_KEY)", _notary_key),
)
