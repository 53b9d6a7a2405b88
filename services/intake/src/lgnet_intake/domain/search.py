"""Finding a person by name at the desk: accent-, case- and order-insensitive, tolerant of typos. Pure."""

from __future__ import annotations

import difflib
import re
import unicodedata

_NOT_ALNUM = re.compile(r"[^0-9a-z]+")
MIN_SCORE = 0.75  # below this a name is not shown: "Amina Diallo" finds "Aminah Dialo", not "Anna Rossi"


def fold(text: str) -> list[str]:
    """The words of a name without accents, case or punctuation: "N'Diaye Élodie" → ["n", "diaye", "elodie"]."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().casefold()
    return _NOT_ALNUM.sub(" ", plain).split()


def name_score(query: str, given_name: str, family_name: str) -> float:
    """How well a query matches a name, 0..1: every word of the query is matched to its most similar word of the
    name (so one word, a surname alone, finds the person; word order does not matter)."""
    given, family = fold(given_name), fold(family_name)
    # "N'Diaye" is also "ndiaye": a name's words are compared alone and joined
    wanted, words = fold(query), [*given, *family, "".join(given), "".join(family)]
    if not wanted or not words:
        return 0.0
    best = [max(difflib.SequenceMatcher(None, w, n).ratio() for n in words) for w in wanted]
    return sum(best) / len(best)
