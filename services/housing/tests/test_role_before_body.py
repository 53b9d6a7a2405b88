"""A role a route of housing refuses is refused before the request is read (lgnet_shared.testing.authz)."""

from __future__ import annotations

from typing import Any

import pytest
from lgnet_housing.entrypoints.main import SPEC
from lgnet_shared.testing.authz import RoleBeforeRequestCases
from lgnet_shared.testing.inprocess import sibling_module

pytestmark = pytest.mark.integration
matrix: Any = sibling_module(__file__, "test_authorization_matrix.py")


class TestRoles(RoleBeforeRequestCases):
    spec = SPEC
    rules = matrix.RULES
