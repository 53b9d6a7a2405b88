"""The programme's code lists, as data: every code with its Italian label (the default), English label and, where
a reader needs one, a one-line definition.

Reports, exports, the dashboard and the desk show codes only through `label()`; validators use `codes()` and
`check()`, whose error names the list and every valid code. The data is `codes.json`, versioned per list.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, partial
from importlib import resources
from typing import Any, Literal

Locale = Literal["it", "en"]
DEFAULT_LOCALE: Locale = "it"
LOCALES: tuple[Locale, ...] = ("it", "en")


class UnknownCode(ValueError):
    """A code that its list does not hold; the message names the list and the valid codes."""

    def __init__(self, list_name: str, code: str, valid: frozenset[str]) -> None:
        self.list_name, self.code, self.valid = list_name, code, valid
        held = _identifying(code)
        shown = f"code, which holds {held} (not repeated here)" if held else f"code {code!r}"
        super().__init__(f"unknown {list_name} {shown}; valid codes: {', '.join(sorted(valid))}")


def _identifying(code: str) -> str | None:
    """What a person's data the code holds, if any: a partner's refusal travels on Kafka, in clear, so such a code is
    not repeated in it. The SDK installed alone (no `runtime` extra, no IBAN library) checks its own records on the
    partner's machine, where nothing is published: there the code is repeated as it is."""
    try:
        from lgnet_shared.pseudonymous import identifying
    except ImportError:
        return None
    return identifying(code)


@dataclass(frozen=True)
class Entry:
    code: str
    labels: dict[str, str]
    definitions: dict[str, str]


@dataclass(frozen=True)
class CodeList:
    name: str
    version: int
    labels: dict[str, str]
    entries: dict[str, Entry]


@cache
def _data() -> dict[str, Any]:
    text = resources.files(__package__).joinpath("codes.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


@cache
def code_list(name: str) -> CodeList:
    raw = _data()["lists"].get(name)
    if raw is None:
        raise KeyError(f"no code list {name!r}; lists: {', '.join(sorted(lists()))}")
    entries = {
        code: Entry(code, {k: v for k, v in e.items() if k in LOCALES}, dict(e.get("definition", {})))
        for code, e in raw["codes"].items()
    }
    return CodeList(name, int(raw["version"]), dict(raw["label"]), entries)


def lists() -> frozenset[str]:
    return frozenset(_data()["lists"])


def version() -> str:
    return str(_data()["version"])


def codes(name: str) -> frozenset[str]:
    return frozenset(code_list(name).entries)


def check(name: str, code: str) -> str:
    """The code itself when the list holds it; UnknownCode otherwise."""
    if code not in code_list(name).entries:
        raise UnknownCode(name, code, codes(name))
    return code


def known(name: str) -> Callable[[str], str]:
    """The check of list `name`, for a pydantic `AfterValidator` of a field where new data comes in (partners' records,
    HTTP bodies): `Annotated[Code, AfterValidator(vocabulary.known("hold_reason"))]`. A list that does not exist
    fails here, at import, not at the first record."""
    code_list(name)
    return partial(check, name)


def label(name: str, code: str, locale: str = DEFAULT_LOCALE) -> str:
    """The code's label in `locale` (Italian by default). An unknown code is shown as itself, never an error: old
    events may carry codes a later list no longer has."""
    entry = code_list(name).entries.get(code)
    if entry is None:
        return code
    return entry.labels.get(locale) or entry.labels[DEFAULT_LOCALE]


def definition(name: str, code: str, locale: str = DEFAULT_LOCALE) -> str | None:
    entry = code_list(name).entries.get(code)
    if entry is None:
        return None
    return entry.definitions.get(locale) or entry.definitions.get(DEFAULT_LOCALE)


def list_label(name: str, locale: str = DEFAULT_LOCALE) -> str:
    labels = code_list(name).labels
    return labels.get(locale) or labels[DEFAULT_LOCALE]
