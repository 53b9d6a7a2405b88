"""Payments events (DESIGN section 4, "payments"), owned by the payments service."""

from __future__ import annotations
