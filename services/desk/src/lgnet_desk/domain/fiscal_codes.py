"""A fiscal code typed in the search, checked before it is searched for: intake finds a person by the exact code
(a keyed hash of it), so a code with a wrong character finds nobody, and "nobody found" hid the typing error.
The reasons are intake's own (domain/refusals.py says them in Italian, as for a code refused at registration).
Pure: python-codicefiscale's shape and check character, as intake checks them."""

from __future__ import annotations

from codicefiscale import codicefiscale

SHAPE = (
    "must be 16 characters: 6 letters, 2 digits, a month letter (ABCDEHLMPRST), 2 digits, a birthplace code"
    " (a letter and 3 digits) and a check character (digits may be replaced by letters: omocodia)"
)
CHECK_CHARACTER = "wrong check character (the 16th, computed from the first 15)"


def normalised(typed: str) -> str:
    """The code as intake records it: upper case, no spaces (a code is often read out and typed in groups)."""
    return typed.strip().upper().replace(" ", "")


def looks_like(typed: str) -> bool:
    """Whether text typed as a name is rather a fiscal code, whole or nearly (13 to 18 letters and digits, both):
    no name has digits, and such a name finds nobody."""
    code = normalised(typed)
    letters, digits = sum(c.isalpha() for c in code), sum(c.isdigit() for c in code)
    return code.isalnum() and code.isascii() and 13 <= len(code) <= 18 and letters >= 3 and digits >= 2


def problem(typed: str) -> str | None:
    """Why the typed text is no fiscal code (SHAPE or CHECK_CHARACTER), or None when it may be one. The birthplace and
    birth date it encodes are intake's to judge: the search only spares a round trip that cannot find anybody."""
    code = normalised(typed)
    if not code:
        return None
    if not codicefiscale.CODICEFISCALE_RE.match(code.lower()):
        return SHAPE
    if codicefiscale.encode_cin(code[:15]) != code[15]:
        return CHECK_CHARACTER
    return None
