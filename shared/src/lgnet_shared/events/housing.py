"""Housing events (DESIGN section 4, "housing"), owned by the housing service."""

from __future__ import annotations
