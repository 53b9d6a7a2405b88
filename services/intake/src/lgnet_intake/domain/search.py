"""Finding a person by name at the desk: accent-, case- and order-insensitive, tolerant of typos, and a name's
beginning finds it. Pure."""

from __future__ import annotations

import difflib
import re
import unicodedata

_NOT_ALNUM = re.compile(r"[^0-9a-z]+")
MIN_SCORE = 0.75  # below this a name is not shown: "Amina Diallo" finds "Aminah Dialo", not "Anna Rossi"
# A query's word that begins a name's word, three letters or more ("oka" of "okafor"), matches it below the whole word
# and above any fuzzy match (capped at FUZZY_CAP): "Oka" found no Okafor (difflib's ratio 0.67), and "Dia" listed
# persons named Nadia (0.75) before Nadia Diallo, an outside test.
PREFIX_LETTERS = 3
PREFIX_SCORE = 0.99
FUZZY_CAP = 0.98


def fold(text: str) -> list[str]:
    """The words of a name without accents, case or punctuation: "N'Diaye Élodie" → ["n", "diaye", "elodie"]."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().casefold()
    return _NOT_ALNUM.sub(" ", plain).split()


def word_score(wanted: str, words: list[str]) -> float:
    """How well one word of a query matches the best of a name's words: 1 the whole word, PREFIX_SCORE its
    beginning (PREFIX_LETTERS or more), else difflib's ratio (at most FUZZY_CAP). The first two need no difflib."""
    if wanted in words:
        return 1.0
    if len(wanted) >= PREFIX_LETTERS and any(n.startswith(wanted) for n in words):
        return PREFIX_SCORE
    return min(FUZZY_CAP, max(difflib.SequenceMatcher(None, wanted, n).ratio() for n in words))


def name_score(query: str, given_name: str, family_name: str) -> float:
    """How well a query matches a name, 0..1: every word of the query is matched to its most similar word of the
    name (so one word, a surname alone or its beginning, finds the person; word order does not matter)."""
    given, family = fold(given_name), fold(family_name)
    # "N'Diaye" is also "ndiaye": a name's words are compared alone and joined
    wanted, words = fold(query), [*given, *family, "".join(given), "".join(family)]
    if not wanted or not words:
        return 0.0
    best = [word_score(w, words) for w in wanted]
    return sum(best) / len(best)
