"""Housing's HTTP bodies: a rule across two fields is reported at the field that breaks it, not at `body`."""

from __future__ import annotations

import pytest
from lgnet_housing.service_layer.commands import SignLease
from pydantic import ValidationError


def test_an_end_before_the_start_is_an_error_of_the_end() -> None:
    body = {"lease_type": "lease", "monthly_rent_cents": 40_000, "deposit_cents": 80_000,
            "start_date": "2026-11-01", "end_date": "2026-10-01", "signed_on": "2026-10-20"}  # fmt: skip
    with pytest.raises(ValidationError) as caught:
        SignLease.model_validate(body)
    [error] = caught.value.errors()
    assert error["loc"] == ("end_date",) and "must be after start_date" in error["msg"], error
