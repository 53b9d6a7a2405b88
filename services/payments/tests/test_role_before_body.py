"""The national role is read-only: every route of payments that changes something refuses it by role before the
request is read. It was answered 422 naming the body's fields, or the missing Idempotency-Key, before the 403."""

from __future__ import annotations

from typing import Any

import pytest
from lgnet_payments.entrypoints.main import SPEC
from lgnet_shared.testing.authz import NationalRoleCases
from lgnet_shared.testing.inprocess import sibling_module

pytestmark = pytest.mark.integration
matrix: Any = sibling_module(__file__, "test_authorization_matrix.py")


class TestNationalRole(NationalRoleCases):
    spec = SPEC
    rules = matrix.RULES
