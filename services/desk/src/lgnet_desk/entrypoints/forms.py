"""Reading the desk's HTML form posts (shared by every screen's routes)."""

from __future__ import annotations

from fastapi import Request


async def form_of(request: Request) -> dict[str, str]:
    """A posted form's fields as text (the last value of a repeated field; lists: `request.form().getlist`)."""
    return {k: str(v) for k, v in (await request.form()).items()}


def whole_number(text: str) -> int | str:
    """A form's whole number as the JSON integer the services require (they refuse `"80"`); anything else as typed,
    so that the service's refusal names the field."""
    text = text.strip()
    return int(text) if text.isdigit() else text
