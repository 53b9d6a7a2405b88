"""Report computation: every indicator, from the report facts, as of a date and optionally for a period. Pure.

Definitions (docs/reporting.md explains each one):
- A case is *in scope* when it was opened on or before `as_of` in the scope's city (every city for national), and,
  for a period [from, to], was still open on `from` (not closed before it). Closures after `as_of` do not count.
- The *persons* of a case are the members of its household between the case's opening and its close (or
  `as_of`). A person counts once however many cases, households or registrations they have: merged persons are
  resolved to the surviving one. Erased persons still count (erasure destroys identity, not facts).
- Age is taken at the opening of the person's first case in scope: under 18 = minor. Intake says so in the events
  (birth dates travel sealed): a corrected birth date's answer wins, then the case opening's, then the joining's;
  old events' clear birth dates serve where none of these exists.
- Flows (cases opened/closed, placements, leases, payments, vouchers) count events dated in the window:
  on or before `as_of`, and on or after `from` for a period.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from itertools import chain, compress, filterfalse, repeat
from operator import and_, gt, itemgetter, ne, not_
from typing import Any, Literal

from lgnet_reporting.domain import civic, outreach, tutoring

Row = dict[str, Any]
_NO_RECORD: Row = {"nationality": None, "sex": None, "third_country": None, "birth_date": None}
Facts = dict[str, list[Row]]  # table name -> rows (see projection.TABLES)
UNKNOWN = "unknown"
EMPLOYED = ("employed_permanent", "employed_fixed_term", "self_employed")
MAX_MONTHS = 120  # the monthly series shows at most the last ten years
# Counting rules (docs/reporting.md, "Methods"). 1: every indicator for every person, vulnerabilities per household.
# 2: indicators whose legal basis is consent count only persons with the `reporting` consent on as_of
# (CONSENT_BASED); vulnerabilities assessed per person (needs_assessed v3) count for that person only.
# 3: adds civic engagement and street outreach with the agenda (issue #19): activities, sessions, participants,
# hours, completions, CEFR progress; outings, contacts, people contacted and taken in charge, appointments.
# 4: the same indicators; the national aggregate's suppression by difference also ties the street units' months to
# their totals, cases opened to closed + open and placements started to ended + active (as-of reports), and the
# months' payments to the amount paid (national.py, `_closed_groups`).
# 5: the same indicators; the persons by nationality are also tied to the third-country nationals (the third
# countries' cells add up to them, the others' and them to the persons: national.py, `_nationality_groups`).
# 6 (national review): contributions paid are those standing as paid on as_of, on the date of the payment that
# stands (`standing`: a payment returned then made to stand again counted as of the days it stood); cross-city keys
# link one person transitively (`national_identities`). Methods 1-5 read a request's latest payment and failure
# and join each key's registrations alone, as they did (`_paid_before_6`, `_key_groups_before_6`).
# 7 (auditors' review): the national aggregate's suppression by difference counts a city's own cell of `by_city` as
# known to that city (its staff read their own report exact): a group over the cities with two hidden cells, one a
# city's, hides a third (suppression.py, `Group.known`); a period's cases (closed + open = opened) and placements
# (ended + active = started) are tied when they add up, i.e. nothing was under way as the period started
# (national.py, `_closed_groups`). The numbers are those of method 6, more cells hidden.
# 8 (partial deployments): the national aggregate names the cities of which it has no payments fact on or before
# as_of (`payments_not_reported`: a city running intake and housing without payments, its contributions paid by its
# own accounting); their `by_city` money cells read "no data" (no_data.py), not EUR 0 paid. Numbers and suppression
# are those of method 7.
# 9 (partial deployments, housing): reports name the cities of which they have no housing fact on or before as_of
# (`housing_not_reported`: no opportunity listed, no placement started, no lease signed); their placements' cells
# read "no data" (no_data.py), not 0 placements; a money tutoring session is a payments fact too (a payments service
# recording only tutoring read as none, its sessions "no data"). Numbers and suppression are those of method 8.
# 10 (city IT review): each appointment is one person's, so the national aggregate's `appointments` counts (booked,
# attended, no-shows, cancelled) are small cells like the persons' (national.py, `plan_for`); methods 3-9 published
# them whatever their size and replay as published. Numbers are those of method 9.
# 11 (privacy review): each street contact is one person's, so the national aggregate's `outreach.contacts`, each
# month's `contacts` and `contacts_by_service_offered` are small cells too, the months' contacts tied to the contacts
# (national.py, `_contact_cells`); methods 3-10 published them whatever their size and replay as published. Numbers
# are those of method 10.
# 12 (reporting officer's review): a fact without a business date of its own is dated by Italy's day of its
# envelope's time, not the UTC day (projection.py, `_day`): an opportunity listed at 00:30 in Rome on 8 December made
# the city run housing in a report as of the 7th. Methods 9-11 read the UTC day they were published with
# (`projection.as_read_by`). Numbers and suppression are those of method 11.
# 13 (national coordination's reporting officer): the national aggregate's suppression also ties the appointments
# attended and no-shows to the booked, days to placement's placements to the placements started, and (when they add
# up) the months' people contacted and the civic participants to their totals, the civic minutes always; and hides a
# national cell when it less some city's own cell (that city's staff read their report exact) is from 1 to
# threshold - 1 (national.py, `plan_for`, `readers`). Numbers are those of method 12, more cells hidden; reports of
# methods 1-12 replay as published.
METHOD = 13
STANDING = 6  # the first method counting payments as they stood and linking keys transitively
AUDITED = 7  # the auditors' review: a city's own by_city cells known to it, a period's cases and placements tied
PARTIAL = 8  # partial deployments: the cities whose payments the national aggregate has no fact of are named
HOUSING_ABSENT = 9  # partial deployments: the cities whose housing a report has no fact of are named too
APPOINTMENTS_SUPPRESSED = 10  # the national aggregate hides small counts of appointments (each one is a person's)
CONTACTS_SUPPRESSED = 11  # ... and of street contacts (each one is a person's)
LOCAL_DAYS = 12  # facts without a date of their own dated by Italy's day, not the UTC one
DIFFERENCED = 13  # the national aggregate closes the sums and the differences with a city's own report
REPORTING_CONSENT = "reporting"
CONSENT_BASED = ("persons_by_vulnerability", "employment")


@dataclass(frozen=True)
class Window:
    as_of: date
    period_from: date | None = None
    method: int = METHOD

    def __contains__(self, day: date | None) -> bool:
        return day is not None and day <= self.as_of and (self.period_from is None or day >= self.period_from)

    def closed(self, day: date | None) -> bool:
        return day is not None and day <= self.as_of

    def refused(self, today: date) -> tuple[Literal["as_of", "from"], str] | None:
        """Which date of the window a report refuses, and why: an end still to come (today's figures under a later
        date, which a replay could never reproduce once published), a start after the end. None: a report's dates."""
        if self.as_of > today:
            return "as_of", f"is in the future: today is {today.isoformat()}"
        if self.period_from is not None and self.period_from > self.as_of:
            return "from", f"must not be after {self.as_of.isoformat()}"
        return None

    @property
    def low(self) -> date:
        """The first day in the window (date.min without a period): hot loops compare `low <= day <= as_of`
        inline instead of calling `in` a million times."""
        return self.period_from or date.min


class _Days(dict[date | None, bool]):
    """day -> in the window: each distinct day is checked once, then `map(days.__getitem__, …)` filters rows
    without a Python call per row (a report filters millions of dated rows; they fall on a few thousand days)."""

    def __init__(self, window: Window) -> None:
        super().__init__()
        self.window = window

    def __missing__(self, day: date | None) -> bool:
        inside = self[day] = day in self.window
        return inside


@lru_cache(maxsize=8)
def _days(window: Window) -> _Days:
    return _Days(window)


def dated_in(window: Window, rows: list[Row], field: str) -> list[Row]:
    """The rows whose `field` is a day in the window (what `[r for r in rows if r[field] in window]` gives)."""
    return list(compress(rows, map(_days(window).__getitem__, map(itemgetter(field), rows))))


def age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


_AGE_SOURCES = {"corrected": 2, "opened": 1, "joined": 0}


def minors_at_opening(rows: Iterable[Row], canonical: Any) -> dict[tuple[str, str], bool]:
    """(canonical person, case) -> under 18 at the case's opening, from intake's facts: the latest correction wins,
    then the opening, then the latest joining (event ids are time-ordered). Independent of the rows' order."""
    best: dict[tuple[str, str], tuple[int, str, bool]] = {}
    for r in rows:
        key = (canonical(r["person_id"]), r["case_id"])
        rank = (_AGE_SOURCES.get(r["source"], -1), r["event_id"], bool(r["minor"]))
        if key not in best or rank > best[key]:
            best[key] = rank
    return {k: v[2] for k, v in best.items()}


def canonical_ids(merges: Iterable[Row]) -> dict[str, str]:
    """merged person -> surviving person, following chains (A merged into B, B into C: A -> C)."""
    parent = {m["merged_person_id"]: m["surviving_person_id"] for m in merges}
    resolved: dict[str, str] = {}
    for start in parent:
        seen = [start]
        node = parent[start]
        while node in parent and node not in seen:
            seen.append(node)
            node = parent[node]
        for s in seen:
            resolved[s] = node
    return resolved


def consenting(rows: Iterable[Row], canonical: Any, as_of: date) -> set[str]:
    """Canonical persons whose latest `reporting` consent dated on or before `as_of` is granted. Never asked is not
    consent. A merged person's records count for the survivor (the latest of all wins)."""
    latest: dict[str, tuple[date, str, bool]] = {}
    for r in rows:
        if r["purpose"] != REPORTING_CONSENT or r["recorded_on"] > as_of:
            continue
        person = canonical(r["person_id"])
        rank = (r["recorded_on"], r["event_id"], bool(r["granted"]))
        if person not in latest or rank > latest[person]:
            latest[person] = rank
    return {p for p, (_, _, granted) in latest.items() if granted}


def _union(sets: dict[str, set[str]], key: str, cases: list[Row]) -> set[str]:
    return set().union(*(sets[c[key]] for c in cases))


def _counts(values: Iterable[str]) -> dict[str, int]:
    return dict(sorted(Counter(values).items()))


def _month(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def _months(first: date, last: date) -> list[str]:
    out, y, m = [], first.year, first.month
    while (y, m) <= (last.year, last.month):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out[-MAX_MONTHS:]


def _median(values: list[int]) -> float | None:
    if not values:
        return None
    s = sorted(values)
    mid = len(s) // 2
    return float(s[mid]) if len(s) % 2 else (s[mid - 1] + s[mid]) / 2


def _key_groups_before_6(persons: Iterable[Row], canon: dict[str, str]) -> dict[str, str]:
    """Methods 2-5: each key's registrations joined alone (not transitively), as reports published with them were."""
    by_key: dict[str, set[str]] = defaultdict(set)
    for p in persons:
        person: str = p["person_id"]
        if p.get("national_key"):
            by_key[p["national_key"]].add(canon.get(person, person))
    return {person: min(group) for group in by_key.values() if len(group) > 1 for person in group}


def national_identities(persons: Iterable[Row], canon: dict[str, str]) -> dict[str, str]:
    """canonical person -> one representative (the smallest id) of every canonical person linked to them by
    cross-city keys, transitively: registrations sharing a key are one person, and so are the keys of one person (a
    merge of a registration under a temporary fiscal code into one under the definitive code joins both keys'
    registrations elsewhere). Union-find over the canonical persons, each key joining its registrations; the root is
    always the smallest id. The national level's distinct person; persons without a key stand for themselves."""
    parent: dict[str, str] = {}

    def root(person: str) -> str:
        top = person
        while parent[top] != top:
            top = parent[top]
        while parent[person] != top:  # path compression
            parent[person], person = top, parent[person]
        return top

    first_of_key: dict[str, str] = {}
    for p in persons:
        key = p.get("national_key")
        if not key:
            continue
        pid: str = p["person_id"]
        person = canon.get(pid, pid)
        parent.setdefault(person, person)
        a, b = root(person), root(first_of_key.setdefault(key, person))
        if a != b:
            parent[max(a, b)] = min(a, b)
    linked = {person: root(person) for person in parent}
    sizes = Counter(linked.values())
    return {person: top for person, top in linked.items() if sizes[top] > 1}


class Population:
    """Who the cases in scope reached: persons (canonical ids) and households, with their first case. Nationally
    (`across_cities`, method 2) registrations sharing a cross-city key are one person. `shared` carries what one
    report computes once for all its populations (used only when its canonical ids are this population's).

    `first_case`: person -> their first case in scope (in opening order, then case id); `several`: person -> every
    case that reached them, in that order, only for the few persons reached by more than one (`cases_of` gives
    everyone's, built on demand); `household_sizes`: household of a case in scope -> how many persons its cases
    reached."""

    def __init__(
        self, facts: Facts, cases: list[Row], window: Window, across_cities: bool = False, shared: Shared | None = None
    ) -> None:
        merged = canonical_ids(facts["person_merges"]) if shared is None else shared.merged
        linked: dict[str, str] = {}
        if across_cities and window.method >= 2:
            link = national_identities if window.method >= STANDING else _key_groups_before_6
            linked = link(facts["persons"], merged)
        self.canon = {**merged, **{p: linked.get(c, c) for p, c in merged.items()}, **linked} if linked else merged
        self.window = window
        spans = shared.spans if shared is not None and shared.canon is self.canon else _spans(facts, self.canon)
        households = list(map(itemgetter("household_id"), cases))
        case_of = dict(zip(households, cases, strict=True))  # household -> its case, when it has one only
        several_cases: set[str] = set()
        if len(case_of) < len(cases):
            several_cases = {h for h, n in Counter(households).items() if n > 1}
        # Almost everyone is a member of one household from its start, never left, and that household has one case
        # in scope: that case is their only one. They are read with C-level `map`s, no Python call per person
        # (~180,000 nationally); the others (`involved`) are followed case by case below.
        involved = spans.repeated
        if several_cases:
            involved = involved | set(compress(spans.always_p, map(several_cases.__contains__, spans.always_h)))
        simple = list(map(case_of.__contains__, spans.always_h))
        if involved:
            simple = list(map(and_, simple, map(not_, map(involved.__contains__, spans.always_p))))
        self.first_case: dict[str, Row] = dict(
            zip(
                compress(spans.always_p, simple),
                map(case_of.__getitem__, compress(spans.always_h, simple)),
                strict=True,
            )
        )
        self.several: dict[str, list[Row]] = {}
        self.household_sizes: dict[str, int] = dict(
            zip(households, map(spans.size.get, households, repeat(0)), strict=True)
        )
        if involved:
            self._follow(cases, households, case_of, several_cases, involved, spans)

    def _follow(
        self,
        cases: list[Row],
        households: list[str],
        case_of: dict[str, Row],
        several_cases: set[str],
        involved: set[str],
        spans: Spans,
    ) -> None:
        """The persons in several households, with dated memberships or in a household with several cases."""
        cases_in: dict[str, list[Row]] = defaultdict(list)
        for household, case in compress(
            zip(households, cases, strict=True), map(several_cases.__contains__, households)
        ):
            cases_in[household].append(case)

        def of(household: str) -> list[Row]:
            if household in several_cases:
                return cases_in[household]
            return [case_of[household]] if household in case_of else []

        reach: list[tuple[Row, str]] = []
        for household, person in compress(
            zip(spans.always_h, spans.always_p, strict=True), map(involved.__contains__, spans.always_p)
        ):
            reach += [(case, person) for case in of(household)]
        as_of = self.window.as_of
        for household, members in spans.timed.items():
            reached_here: set[str] = set()
            for case in of(household):
                opened, closed = case["opened_on"], case["closed_on"]
                end = closed if closed is not None and closed <= as_of else as_of
                for person, dated in members.items():
                    if any(start <= end and (stop is None or stop >= opened) for start, stop in dated):
                        reach.append((case, person))
                        reached_here.add(person)
            if reached_here:
                self.household_sizes[household] += len(reached_here)
        reach.sort(key=lambda pair: (pair[0]["opened_on"], pair[0]["case_id"]))
        first, several = self.first_case, self.several
        for case, person in reach:
            if person not in first:
                first[person] = case
            elif person in several:
                several[person].append(case)
            else:
                several[person] = [first[person], case]

    @property
    def cases_of(self) -> dict[str, list[Row]]:
        """person -> every case in scope that reached them, in opening order."""
        several = self.several
        return {p: several.get(p) or [c] for p, c in self.first_case.items()}

    def cases_of_person(self, person: str) -> list[Row]:
        return self.several.get(person) or [self.first_case[person]]

    def canonical(self, person_id: str) -> str:
        return self.canon.get(person_id, person_id)


@dataclass(frozen=True)
class Spans:
    """Membership spans. `always_h`/`always_p`: (household, person) pairs of members from the household's start
    (formed with them, or a registration naming it) who never left, i.e. members for every case of it — almost
    everyone; `size`: household -> how many such members; `timed`: household -> person -> spans (start, end or
    None) of members who joined on a date or left; `repeated`: persons of more than one pair, or of `timed`."""

    always_h: list[str]
    always_p: list[str]
    size: dict[str, int]
    timed: dict[str, dict[str, list[tuple[date, date | None]]]]
    repeated: set[str]


def _spans(facts: Facts, canon: dict[str, str]) -> Spans:
    """The membership spans. The initial composition (household formed) has no start date; later joins and
    departures carry their own date; a registration naming the household counts as initial composition only when
    no membership event names that person in that household. Column by column (C-level maps): strings cache their
    hashes, pairs of them do not, so pairs are built only where a person's rows need them."""
    rows = facts["memberships"]
    households = list(map(itemgetter("household_id"), rows))
    ids = list(map(itemgetter("person_id"), rows))
    persons = list(map(canon.get, ids, ids)) if canon else ids
    # A pair with one `formed` event is a member from the start, never left; the others are dated.
    dated = set(compress(zip(households, persons, strict=True), map(_FORMED.__ne__, map(itemgetter("change"), rows))))
    once = len(set(persons)) == len(persons)  # every person in one membership row: no pair seen twice
    if not once:
        dated |= {pair for pair, n in Counter(zip(households, persons, strict=True)).items() if n > 1}
    if dated:
        kept = list(map(not_, map(dated.__contains__, zip(households, persons, strict=True))))
        always_h, always_p = list(compress(households, kept)), list(compress(persons, kept))
    else:
        always_h, always_p = list(households), list(persons)
    named = list(compress(facts["persons"], map(itemgetter("household_id"), facts["persons"])))
    pids = list(map(str, map(itemgetter("person_id"), named)))
    named_p = list(map(canon.get, pids, pids)) if canon else pids
    named_h = list(map(itemgetter("household_id"), named))
    # Registrations whose household a membership row names for that person are most of them: found by person.
    household_of = dict(zip(persons, households, strict=True))
    unnamed = list(map(ne, map(household_of.get, named_p), named_h))
    extra: dict[tuple[str, str], None] = {}
    if any(unnamed):
        seen = set(zip(households, persons, strict=True))
        extra = dict.fromkeys(filterfalse(seen.__contains__, compress(zip(named_h, named_p, strict=True), unnamed)))
        always_h += map(itemgetter(0), extra)
        always_p += map(itemgetter(1), extra)
    events: dict[tuple[str, str], list[tuple[date, int]]] = defaultdict(list)
    if dated:
        for m, pair in compress(zip(rows, zip(households, persons, strict=True), strict=True), map(not_, kept)):
            change = m["change"]
            events[pair].append((date.min if change == _FORMED else m["on_date"], 1 if change == "left" else 0))
    timed: dict[str, dict[str, list[tuple[date, date | None]]]] = defaultdict(dict)
    for (household, person), evs in events.items():
        spans: list[tuple[date, date | None]] = []
        start: date | None = None
        for day, left in sorted(evs):
            if not left and start is None:
                start = day
            elif left and start is not None:
                spans.append((start, day))
                start = None
        if start is not None:
            spans.append((start, None))
        timed[household][person] = spans
    repeated = {person for _, person in events}
    if (extra or dated or not once) and len(set(always_p)) < len(always_p):
        repeated |= {person for person, n in Counter(always_p).items() if n > 1}
    return Spans(always_h, always_p, dict(Counter(always_h)), dict(timed), repeated)


_FORMED = "formed"


class Shared:
    """What every population of one report shares when its canonical ids are the merges' alone (a city's, and the
    national one when no cross-city key links two registrations): membership spans, person records and ages at
    opening, computed once instead of once per city (the national report has sixteen cities)."""

    def __init__(self, facts: Facts) -> None:
        self.merged = canonical_ids(facts["person_merges"])
        self.canon = self.merged
        self.spans = _spans(facts, self.merged)
        self.persons = _records(facts["persons"], self.merged)
        merged = self.merged
        self.minor_at = minors_at_opening(facts["member_ages"], lambda p: merged.get(p, p))
        self._paid: dict[Window, list[Row]] = {}

    def paid(self, facts: Facts, window: Window) -> list[Row]:
        """Every city's contributions paid in the window (the summary, its monthly series and the city rows)."""
        if window not in self._paid:
            self._paid[window] = paid_in(facts, window, None)
        return self._paid[window]


def standing(facts: Facts, as_of: date, city: str | None = None) -> list[Row]:
    """The contributions that stood as paid on `as_of` (`city` None: every city's): a request whose latest payment
    or failure dated on or before `as_of` (ties: the later event; event ids are time-ordered) is a payment, once,
    its `paid_on` the date of that payment. A return made to stand again (the bank reversed it) or a later batch's
    payment is a new payment: the request was paid until the return, and again from then."""
    latest: dict[str, tuple[date, str, bool]] = {}
    for rows, field, paid in (
        (facts["contribution_payments"], "paid_on", True),
        (facts["contribution_failures"], "failed_on", False),
    ):
        for r in rows:
            day = r[field]
            if day is not None and day <= as_of:
                rank = (day, r["event_id"], paid)
                request = r["request_id"]
                if request not in latest or rank > latest[request]:
                    latest[request] = rank
    out = []
    for c in _of(facts["contributions"], city):
        last = latest.get(c["request_id"])
        if last is not None and last[2]:
            out.append(c if c["paid_on"] == last[0] else {**c, "paid_on": last[0]})
    return out


def paid_in(facts: Facts, window: Window, city: str | None) -> list[Row]:
    """Contributions paid in the window: standing as paid at its end, on a date in it (`city` None: every city's)."""
    if window.method < STANDING:
        return _paid_before_6(facts, window, city)
    return dated_in(window, standing(facts, window.as_of, city), "paid_on")


def _paid_before_6(facts: Facts, window: Window, city: str | None) -> list[Row]:
    """Methods 1-5: a request's latest payment dated in the window, unless its latest failure is dated by its end
    (reports published with them replay to their digests)."""
    paid = dated_in(window, _of(facts["contributions"], city), "paid_on")
    returned = _days(Window(window.as_of))  # a failure dated on or before as_of
    return list(compress(paid, map(not_, map(returned.__getitem__, map(itemgetter("failed_on"), paid)))))


def _records(rows: list[Row], canon: dict[str, str]) -> dict[str, Row]:
    """canonical person -> the record describing them: the surviving person's own record wins over the merged
    ones' (among those, the greatest id)."""
    if not canon:  # no merges: every record describes its own person (the last of an id wins, as below)
        return dict(zip(map(str, map(itemgetter("person_id"), rows)), rows, strict=True))
    persons: dict[str, Row] = {}
    merged: list[Row] = []
    for p in rows:
        pid = _person_id(p)
        if canon.get(pid, pid) == pid:
            persons[pid] = p
        else:  # few: only the merged persons' records are sorted
            merged.append(p)
    fallback: dict[str, Row] = {}
    for p in sorted(merged, key=_person_id):
        fallback[canon[_person_id(p)]] = p  # the greatest id wins
    for person, p in fallback.items():
        persons.setdefault(person, p)
    return persons


@dataclass
class Reached:
    """The population of a scope: its cases in scope, who they reached, their records and ages."""

    all_cases: list[Row]
    cases: list[Row]
    pop: Population
    persons: dict[str, Row]
    ages: Counter[str]
    sizes: list[int]
    group_list: list[str]  # minors, adults or age_unknown at their first case, in the order of `pop.first_case`
    records: list[Row]  # the record describing each person, in the order of `pop.first_case`

    @property
    def groups(self) -> dict[str, str]:
        """person -> their age group at their first case."""
        return dict(zip(self.pop.first_case, self.group_list, strict=True))


def reached(facts: Facts, window: Window, city: str | None, shared: Shared | None = None) -> Reached:
    all_cases = _of(facts["cases"], city, "opened_on")
    cases = _in_scope(all_cases, window)
    pop = Population(facts, cases, window, across_cities=city is None, shared=shared)
    if shared is not None and shared.canon is pop.canon:
        persons, minor_at = shared.persons, shared.minor_at
    else:
        persons = _records(facts["persons"], pop.canon)
        minor_at = minors_at_opening(facts["member_ages"], pop.canonical)
    records = list(map(persons.get, pop.first_case, repeat(_NO_RECORD)))  # read once: ages, then categories
    groups = _age_groups(pop.first_case, records, minor_at)
    ages = Counter(groups)
    sizes = list(pop.household_sizes.values())
    return Reached(all_cases, cases, pop, persons, ages, sizes, groups, records)


def _in_scope(all_cases: list[Row], window: Window) -> list[Row]:
    """The cases opened by as_of and, for a period, not closed before its start (each distinct day checked once)."""
    opened = dated_in(Window(window.as_of), all_cases, "opened_on")
    start, as_of = window.period_from, window.as_of
    if start is None:
        return opened
    closes = list(map(itemgetter("closed_on"), opened))
    still_open = {day: day is None or day > as_of or day >= start for day in set(closes)}
    return list(compress(opened, map(still_open.__getitem__, closes)))


def _ages(pop: Population, persons: dict[str, Row], minor_at: dict[tuple[str, str], bool]) -> Counter[str]:
    """Minors, adults and persons of unknown age, at the opening of each person's first case in scope."""
    return Counter(_age_group(person, case, persons, minor_at) for person, case in pop.first_case.items())


def _age_group(person: str, case: Row, persons: dict[str, Row], minor_at: dict[tuple[str, str], bool]) -> str:
    minor = minor_at.get((person, case["case_id"]))
    if minor is None:
        birth = persons.get(person, {}).get("birth_date")
        minor = None if birth is None else age_on(birth, case["opened_on"]) < 18
    return "age_unknown" if minor is None else "minors" if minor else "adults"


_GROUP = {True: "minors", False: "adults", None: "age_unknown"}


def _single_persons(pop: Population) -> list[str]:
    """The persons reached by one case only (most of them), in the order they were reached."""
    if not pop.several:
        return list(pop.first_case)
    return list(filterfalse(pop.several.__contains__, pop.first_case))


def _single_cases(pop: Population) -> list[Row]:
    """The case of each person reached by one case only."""
    if not pop.several:
        return list(pop.first_case.values())
    return list(compress(pop.first_case.values(), map(not_, map(pop.several.__contains__, pop.first_case))))


def _age_groups(first_case: dict[str, Row], records: list[Row], minor_at: dict[tuple[str, str], bool]) -> list[str]:
    """The age group of each person at their first case (what `_age_group` gives), in the order of `first_case`;
    the ~180,000 look-ups done by `map`."""
    people, cases = list(first_case), list(first_case.values())
    known: list[bool | None] = (
        list(map(minor_at.get, zip(people, map(itemgetter("case_id"), cases), strict=True)))
        if minor_at
        else [None] * len(people)  # intake's answers absent (facts from before they existed): birth dates only
    )
    if None in known:  # no answer from intake for some: their birth date, when one is known
        births = list(map(itemgetter("birth_date"), records))
        days = list(map(itemgetter("opened_on"), cases))
        latest = {day: _adult_if_born_by(day) for day in set(days)}
        limits = map(latest.__getitem__, days)
        if minor_at or None in births:
            known = [
                minor if minor is not None else None if born is None else born > limit
                for minor, born, limit in zip(known, births, limits, strict=True)
            ]
        else:  # every birth date known, no answer at all: one C-level comparison per person
            known = list(map(gt, births, limits))
    return list(map(_GROUP.__getitem__, known))


def _adult_if_born_by(day: date) -> date:
    """The latest birth date of a person aged 18 or more on `day` (`age_on(birth, day) >= 18` iff `birth <=` it);
    born on 29 February: of age on 1 March of a common year, so the limit of a 29 February is the 28th."""
    try:
        return day.replace(year=day.year - 18)
    except ValueError:
        return day.replace(year=day.year - 18, day=28)


def _person_id(row: Row) -> str:
    return str(row["person_id"])


def city_row(facts: Facts, window: Window, city: str) -> dict[str, int]:
    """A city's row of the national aggregate: the same numbers as its summary's, without the rest of it (the
    national report computes sixteen of them)."""
    r = reached(facts, window, city)
    paid = paid_in(facts, window, city)
    return {
        "persons": len(r.pop.first_case),
        "minors": r.ages["minors"],
        "adults": r.ages["adults"],
        "age_unknown": r.ages["age_unknown"],
        "households": len(r.sizes),
        "cases_opened": sum(1 for c in r.cases if c["opened_on"] in window),
        "placements_started": sum(1 for p in facts["placements"] if p["city"] == city and p["started_on"] in window),
        "paid_count": len(paid),
        "paid_cents": sum(c["amount_cents"] for c in paid),
    }


def city_rows(
    facts: Facts, window: Window, cities: list[str], shared: Shared, national: Reached | None = None
) -> dict[str, dict[str, int]]:
    """Every city's row of the national aggregate (what `city_row` gives for each) in one pass over the facts.
    `national`: the national population, when its persons are the cities' (no cross-city key links two
    registrations): each city's persons and their first case there are then read from it (a person's cases are in
    opening order, so the first in a city is the one that city's own population would find)."""
    # A case is in scope or not whatever the city asking: each city's are the national ones of that city.
    in_scope = national.cases if national is not None else _in_scope(_of(facts["cases"], None, "opened_on"), window)
    city_of = list(map(itemgetter("city"), in_scope))
    households = Counter(map(itemgetter(0), set(zip(city_of, map(itemgetter("household_id"), in_scope), strict=True))))
    opened = Counter(map(itemgetter("city"), dated_in(window, in_scope, "opened_on")))
    ages_in: dict[str, Counter[str]] | None = None
    if national is not None and national.pop.canon is shared.canon:
        pop = national.pop
        # A person with one case: that case is their first national case and their first in its city, so their
        # age group is the national one; counted by (city, group) pairs.
        if pop.several:
            groups = national.groups
            alone = _single_persons(pop)
            by_pair = Counter(
                zip(
                    map(itemgetter("city"), map(pop.first_case.__getitem__, alone)),
                    map(groups.__getitem__, alone),
                    strict=True,
                )
            )
        else:  # everyone reached by one case: the group list is aligned with the first cases
            by_pair = Counter(zip(map(itemgetter("city"), pop.first_case.values()), national.group_list, strict=True))
        ages_in = {city: Counter() for city in cities}
        for (city, group), n in by_pair.items():
            if city in ages_in:
                ages_in[city][group] += n
        first: dict[tuple[str, str], Row] = {}
        for person, cs in pop.several.items():
            for c in cs:
                if (c["city"], person) not in first:
                    first[(c["city"], person)] = c
        for (city, person), case in first.items():
            if city in ages_in:
                # Most persons are in one city: their first case there is their national first case.
                same = national.pop.first_case.get(person) is case
                group = groups[person] if same else _age_group(person, case, shared.persons, shared.minor_at)
                ages_in[city][group] += 1
    started: Counter[str] = Counter(map(itemgetter("city"), dated_in(window, facts["placements"], "started_on")))
    paid = shared.paid(facts, window)
    paid_count: Counter[str] = Counter(map(itemgetter("city"), paid))
    paid_cents: Counter[str] = Counter()
    for c in paid:
        paid_cents[c["city"]] += c["amount_cents"]
    out = {}
    for city in cities:
        if ages_in is not None:
            ages = ages_in[city]
        else:
            cases = list(compress(in_scope, map(city.__eq__, city_of)))
            ages = _ages(Population(facts, cases, window, shared=shared), shared.persons, shared.minor_at)
        out[city] = {
            "persons": ages["minors"] + ages["adults"] + ages["age_unknown"],
            "minors": ages["minors"],
            "adults": ages["adults"],
            "age_unknown": ages["age_unknown"],
            "households": households[city],
            "cases_opened": opened[city],
            "placements_started": started[city],
            "paid_count": paid_count[city],
            "paid_cents": paid_cents[city],
        }
    return out


def summary(
    facts: Facts, window: Window, city: str | None, shared: Shared | None = None, reach: Reached | None = None
) -> dict[str, Any]:
    """The indicators of one city (or every city when `city` is None), unsuppressed. `reach`: its population,
    when the caller has it already."""

    def here(row: Row) -> bool:
        return city is None or row["city"] == city

    reach = reach or reached(facts, window, city, shared)
    all_cases, cases, pop = reach.all_cases, reach.cases, reach.pop
    ages, sizes = reach.ages, reach.sizes

    # Most persons have one case: theirs are counted by `map` (C loops), the others' distinct values one by one.
    single = _single_cases(pop)
    several = list(pop.several.values())

    def by_case(attr: str) -> dict[str, int]:
        counts = Counter(map(itemgetter(attr), single))
        counts.update(v for cs in several for v in {c[attr] for c in cs})
        return dict(sorted(counts.items()))

    # Each person's record read once (~180,000 dicts): the categories counted together, then apart.
    described = Counter(map(itemgetter("nationality", "sex", "third_country"), reach.records))

    def by_person(attr: str) -> dict[str, int]:
        at = ("nationality", "sex").index(attr)
        counts: Counter[str] = Counter()
        for values, n in described.items():
            counts[str(values[at] or UNKNOWN)] += n
        return dict(sorted(counts.items()))

    # Method 1 counted everyone everywhere; from method 2 the consent-based indicators count consenting persons.
    consented = set(pop.first_case) if window.method < 2 else consenting(facts["consents"], pop.canonical, window.as_of)
    case_ids = set(map(itemgetter("case_id"), cases))
    by_as_of = Window(window.as_of)  # dated on or before as_of, whatever the period
    vulnerable: dict[str, set[str]] = defaultdict(set)  # case -> vulnerabilities assessed by as_of
    own: dict[tuple[str, str], set[str]] = defaultdict(set)  # (person, case) -> vulnerabilities assessed as theirs
    if consented:  # they count consenting persons only (from method 2)
        for a in dated_in(by_as_of, facts["assessments"], "assessed_on"):
            if a["case_id"] in case_ids:
                vulnerable[a["case_id"]].update(a["vulnerabilities"] or [])
        for a in dated_in(by_as_of, facts["person_vulnerabilities"], "assessed_on"):
            if a["case_id"] in case_ids:
                own[(pop.canonical(a["person_id"]), a["case_id"])].update(a["vulnerabilities"] or [])
    referred: dict[str, set[str]] = defaultdict(set)  # household -> referral sources by as_of
    for r in dated_in(by_as_of, facts["referrals"], "received_on"):
        referred[r["household_id"]].add(r["source"])

    def by_sets(sets: dict[str, set[str]], key: str) -> dict[str, int]:
        counts = Counter(chain.from_iterable(map(sets.__getitem__, map(itemgetter(key), single))))
        counts.update(v for cs in several for v in _union(sets, key, cs))
        return dict(sorted(counts.items()))

    def by_vulnerability() -> dict[str, int]:
        """Household-level assessments (before v3) on every member, per-person ones on that person."""
        return _counts(
            v
            for person in consented
            if person in pop.first_case
            for v in set().union(
                *(
                    vulnerable[c["case_id"]] | own.get((person, c["case_id"]), set())
                    for c in pop.cases_of_person(person)
                )
            )
        )

    opened = dated_in(window, cases, "opened_on")
    closed = dated_in(window, cases, "closed_on")
    paid = shared.paid(facts, window) if shared is not None and city is None else paid_in(facts, window, city)
    third = sum(n for values, n in described.items() if values[2])

    indicators: dict[str, Any] = {
        "persons": {"total": len(pop.first_case), **{k: ages[k] for k in ("minors", "adults", "age_unknown")}},
        "third_country_nationals": third,
        "households": {
            "total": len(sizes),
            "single_person": sum(1 for s in sizes if s == 1),
            "multi_person": sum(1 for s in sizes if s > 1),
            "no_known_member": sum(1 for s in sizes if s == 0),
        },
        "persons_by_action_area": by_case("action_area"),
        "persons_by_channel": by_case("channel"),
        "persons_by_vulnerability": by_vulnerability(),
        "persons_by_nationality": by_person("nationality"),
        "persons_by_sex": by_person("sex"),
        "persons_by_referral_source": by_sets(referred, "household_id"),
        "cases": {
            "opened": len(opened),
            "closed": len(closed),
            "open_at_as_of": len(cases) - len(dated_in(Window(window.as_of), cases, "closed_on")),
        },
        "case_outcomes": _counts(map(itemgetter("outcome"), closed)),
        **_housing(facts, window, city, dict(zip(map(itemgetter("case_id"), all_cases), all_cases, strict=True))),
        **_payments(facts, window, city, paid),
        "employment": _employment(facts, pop, window, consented),
        "monthly": _monthly(facts, window, city, opened, pop, paid),
    }
    if window.method >= 2:  # indicators added with method 2: reports published with method 1 never had them
        indicators |= tutoring.indicators(facts[tutoring.TABLE], lambda day: day in window, here)
        granted = len(pop.first_case.keys() & consented)
        indicators["reporting_consent"] = {"granted": granted, "not_granted": len(pop.first_case) - granted}
        planned = {pl["case_id"] for pl in facts["plans"] if window.closed(pl["agreed_on"])} & case_ids
        indicators["persons_with_individual_plan"] = sum(
            map(planned.__contains__, map(itemgetter("case_id"), single))
        ) + sum(1 for cs in several if any(c["case_id"] in planned for c in cs))
    if window.method >= 3:  # reports published with methods 1 and 2 never had civic engagement nor outreach
        indicators |= civic.indicators(facts, lambda day: day in window, here, pop.canonical)
        indicators |= outreach.indicators(facts, window, here, pop.canonical)
    return indicators


def _of(rows: list[Row], city: str | None, dated: str | None = None) -> list[Row]:
    """The rows of `city` (every city's when None) whose `dated` field is a date (not None), C-level filters."""
    if city is not None:
        rows = list(compress(rows, map(city.__eq__, map(itemgetter("city"), rows))))
    return rows if dated is None else list(compress(rows, map(itemgetter(dated), rows)))  # a date is never false


def _housing(facts: Facts, window: Window, city: str | None, cases: dict[str, Row]) -> dict[str, Any]:
    placements = _of(facts["placements"], city, "started_on")
    started = dated_in(window, placements, "started_on")
    ended = dated_in(window, placements, "ended_on")
    waits = [
        (p["started_on"] - cases[p["case_id"]]["opened_on"]).days
        for p in started
        if p["case_id"] in cases and cases[p["case_id"]]["opened_on"] <= p["started_on"]
    ]
    leases = dated_in(window, _of(facts["leases"], city), "signed_on")
    begun = dated_in(Window(window.as_of), placements, "started_on")  # started by as_of, whatever the period
    return {
        "placements": {
            "started": len(started),
            "ended": len(ended),
            "active_at_as_of": len(begun) - len(dated_in(Window(window.as_of), begun, "ended_on")),
        },
        "placements_by_kind": _counts(map(itemgetter("kind"), started)),
        "placements_ended_by_reason": _counts(map(itemgetter("end_reason"), ended)),
        "leases_by_type": _counts(map(itemgetter("lease_type"), leases)),
        "days_to_placement": {"placements": len(waits), "median": _median(waits)},
    }


def _money(keys: list[str], amounts: Iterable[int]) -> dict[str, dict[str, int]]:
    """{key: {count, amount_cents}} in key order (sums do not depend on the rows' order)."""
    total: dict[str, int] = defaultdict(int)
    for key, cents in zip(keys, amounts, strict=True):
        total[key] += cents
    return {key: {"count": n, "amount_cents": total[key]} for key, n in sorted(Counter(keys).items())}


def _payments(facts: Facts, window: Window, city: str | None, paid: list[Row]) -> dict[str, Any]:
    lines = {b["budget_line_id"]: b["line"] for b in facts["budget_lines"]}
    amounts = list(map(itemgetter("amount_cents"), paid))
    failed = dated_in(window, _of(facts["contribution_failures"], city), "failed_on")
    issuable = _of(facts["vouchers"], city, "issued_on")
    vouchers = dict(zip(map(itemgetter("voucher_id"), issuable), issuable, strict=True))
    issued = dated_in(window, list(vouchers.values()), "issued_on")
    redemptions = facts["voucher_redemptions"]
    redeemed = dated_in(
        window,
        list(compress(redemptions, map(vouchers.__contains__, map(itemgetter("voucher_id"), redemptions)))),
        "redeemed_on",
    )
    expired = dated_in(window, list(vouchers.values()), "expired_on")
    return {
        "contributions_paid": {"count": len(paid), "amount_cents": sum(amounts)},
        "contributions_paid_by_kind": _money(list(map(itemgetter("kind"), paid)), amounts),
        "contributions_paid_by_budget_line": _money(
            list(map(lines.get, map(itemgetter("budget_line_id"), paid), repeat(UNKNOWN))), amounts
        ),
        "contribution_payments_failed": len(failed),
        "vouchers_issued_by_kind": _money([v["kind"] for v in issued], [v["value_cents"] for v in issued]),
        "vouchers_redeemed_by_kind": _money(
            list(map(itemgetter("kind"), map(vouchers.__getitem__, map(itemgetter("voucher_id"), redeemed)))),
            list(map(itemgetter("amount_cents"), redeemed)),
        ),
        "vouchers_expired": {"count": len(expired), "remaining_cents": sum(v["remaining_cents"] or 0 for v in expired)},
    }


def _employment(facts: Facts, pop: Population, window: Window, consented: set[str]) -> dict[str, Any]:
    """Employment of the consenting persons (every person with method 1) at their first case's opening, and at
    their last close in the window."""
    rows = facts["employment"]
    ids: list[str] = list(map(itemgetter("person_id"), rows))
    persons: list[str] = list(map(pop.canon.get, ids, ids))
    records: dict[str, list[tuple[date, str, str]]] = defaultdict(list)
    for e, person in compress(zip(rows, persons, strict=True), map(consented.__contains__, persons)):
        records[person].append((e["as_of"], e["event_id"], e["status"]))
    for rs in records.values():
        rs.sort()

    def status(person: str, day: date) -> str:
        known = [s for d, _, s in records.get(person, []) if d <= day]
        return known[-1] if known else UNKNOWN

    first = pop.first_case
    at_opening = {p: status(p, first[p]["opened_on"]) for p in consented if p in first}
    at_close: dict[str, str] = {}
    for person in consented:
        if person not in pop.first_case:
            continue
        closes = [c["closed_on"] for c in pop.cases_of_person(person) if c["closed_on"] in window]
        if closes:
            at_close[person] = status(person, max(closes))
    return {
        "at_opening": _counts(at_opening.values()),
        "at_close": _counts(at_close.values()),
        "persons_closed": len(at_close),
        "employed_at_opening": sum(1 for s in at_opening.values() if s in EMPLOYED),
        "employed_at_close": sum(1 for s in at_close.values() if s in EMPLOYED),
    }


def _monthly(
    facts: Facts, window: Window, city: str | None, opened: list[Row], pop: Population, paid: list[Row]
) -> list[dict[str, Any]]:
    """Per month: cases opened (`opened`: those opened in the window), persons reached for the first time,
    placements started and cents paid (`paid`: in the window, not returned). Counted per day, then per month."""
    days = list(map(itemgetter("opened_on"), opened))
    first = window.period_from or (min(days) if days else window.as_of)
    fields = ("cases_opened", "new_persons", "placements_started", "paid_cents")
    counts: dict[str, dict[str, int]] = {m: dict.fromkeys(fields, 0) for m in _months(first, window.as_of)}
    inside = _days(window)

    def add(per_day: dict[date, int], field: str) -> None:
        for day, amount in per_day.items():
            if day is not None and inside[day] and (cell := counts.get(_month(day))) is not None:
                cell[field] += amount

    add(Counter(days), "cases_opened")
    add(Counter(map(itemgetter("opened_on"), pop.first_case.values())), "new_persons")
    add(Counter(map(itemgetter("started_on"), _of(facts["placements"], city, "started_on"))), "placements_started")
    cents: dict[date, int] = defaultdict(int)
    for c in paid:
        cents[c["paid_on"]] += c["amount_cents"]
    add(cents, "paid_cents")
    return [{"month": m, **cell} for m, cell in counts.items()]


def report(kind: str, scope: str, window: Window, indicators: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """The report document whose canonical JSON is digested: parameters and numbers, no timestamps."""
    return {
        "report": kind,
        "scope": scope,
        "as_of": window.as_of.isoformat(),
        "period_from": window.period_from.isoformat() if window.period_from else None,
        # Method-1 documents stay byte-identical to what was published with them (no `method` key).
        **({"method": window.method} if window.method >= 2 else {}),
        **extra,
        "indicators": indicators,
    }
