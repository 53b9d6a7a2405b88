"""The person a form names by what the operator typed in it: a name that is exactly one person's the operator may see
(intake's `POST /persons/search`, the name in the body), else a person's identifier, for intake to check. The desk
shows persons by name, so its forms take a name (the agenda's booking, the civic register and certificates)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lgnet_desk.adapters.services import ServiceRefusal, Services
from lgnet_desk.domain.persons import ambiguous_name, named, unknown_name
from lgnet_desk.service_layer.desk import FieldErrors


async def typed(
    services: Services,
    text: str,
    field: str,
    nobody: Callable[[str], str] = unknown_name,
    several: Callable[[str, int], str] = ambiguous_name,
) -> str:
    """The person's identifier. A name of several persons (`several`), or a text with spaces that names nobody
    (`nobody`: an identifier has no spaces), is refused at `field` (FieldErrors), saying how to proceed."""
    found: list[Any] = []
    if text:
        try:
            found = await services.post("intake", "/persons/search", {"name": text})
        except ServiceRefusal:  # not a name intake can search (no letters): an identifier
            found = []
    same = named(found, text)
    if len(same) == 1:
        return str(same[0]["person_id"])
    if len(same) > 1:
        raise FieldErrors({field: several(text, len(same))})
    if any(c.isspace() for c in text):
        raise FieldErrors({field: nobody(text)})
    return text
