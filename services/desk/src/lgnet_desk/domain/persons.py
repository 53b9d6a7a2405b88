"""A person as a social worker names them: given and family name, as intake gives them. Pure: no I/O."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any


def full_name(person: Mapping[str, Any]) -> str | None:
    """The name of a person as intake's `GET /persons/{id}` (or its search) gives them (`identity`'s given and family
    names); None when intake shows no name."""
    identity = person.get("identity") or {}
    name = " ".join(str(v) for v in (identity.get("given_name"), identity.get("family_name")) if v)
    return name or None


def name_words(text: str) -> tuple[str, ...]:
    """A name's words as the operator may type them: accents, case, punctuation and order aside ("el amrani  FATIMA"
    and "Fatima El Amrani" are the same name; "N'Diaye" is "n diaye")."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)).casefold()
    return tuple(sorted(re.sub(r"[\W_]+", " ", plain).split()))


def named(persons: list[Mapping[str, Any]], typed: str) -> list[Mapping[str, Any]]:
    """The persons (intake's search answer: fuzzy) whose name is exactly the one typed, as `name_words` reads it."""
    words = name_words(typed)
    return [p for p in persons if words and name_words(full_name(p) or "") == words]


def same_person(persons: list[Mapping[str, Any]], typed: str, birth_date: str) -> Mapping[str, Any] | None:
    """The person of intake's search answer with exactly the name typed and that birth date (ISO), if any: whom a
    registration of that name and birth date would duplicate (intake flags it so, for the city's staff to review)."""
    return next((p for p in named(persons, typed) if p.get("birth_date") == birth_date), None)


def unknown_name(typed: str) -> str:
    """The refusal of a name that is no person's the operator may see, in a form that also takes an identifier (the
    civic register and certificates; the agenda's says how to book from the cartella instead)."""
    return (
        f"no person named {typed} among those you may see: type the name and surname as in the person's record, or"
        " the person's identifier"
    )


def ambiguous_name(typed: str, count: int) -> str:
    """The refusal of a name several persons the operator may see have, in a form that also takes an identifier."""
    return f"{count} persons you may see are named {typed}: type the identifier of the one meant, from their record"
