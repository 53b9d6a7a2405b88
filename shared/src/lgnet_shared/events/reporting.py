"""Reporting events (DESIGN section 4, "reporting"), owned by the reporting service."""

from __future__ import annotations
