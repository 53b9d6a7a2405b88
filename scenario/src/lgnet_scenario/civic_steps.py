"""A year of civic engagement in each city (issue #19; figures in scenario/README.md): Italian language courses,
orientation to local services, a community and volunteering activity and a peer group, organised by the city and its
partners; their sessions, attendance registers and certificates. Volunteers are registered persons (identity sealed
by intake). Activities and sessions go over HTTP; partners send their registers as signed events through the
gatekeeper, the city's staff over HTTP; certificates follow once intake holds the registers.

`plan` is pure: the same seed gives the same year, and `truth` says what the reports must count.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from lgnet_shared.events import civic as ev

from lgnet_scenario.housing_steps import call
from lgnet_scenario.platform import Platform
from lgnet_scenario.population import Household

FIGURES = ("activities", "sessions", "participants", "participation_minutes", "completed", "cefr_improved")


@dataclass
class Activity:
    activity_id: str
    kind: str
    title: str
    organiser: str | None  # partner, or None: the city
    starts_on: date
    ends_on: date
    minutes: int
    target_level: str | None = None
    min_percent: int = 70
    sessions: list[tuple[str, date, list[str], list[str]]] = field(default_factory=list)  # id, day, present, absent
    volunteers: list[str] = field(default_factory=list)
    certificates: list[tuple[str, str, str | None, str | None]] = field(default_factory=list)  # id, person, levels


@dataclass
class CivicYear:
    city: str
    volunteers: list[str]
    activities: list[Activity]

    def truth(self) -> dict[str, dict[str, int]]:
        """Per kind (and `total`): the figures the report must show for the year."""
        out: dict[str, dict[str, Any]] = {}
        for a in self.activities:
            cell = out.setdefault(a.kind, {"activities": 0, "sessions": 0, "people": set(), "participation_minutes": 0,
                                           "completed": 0, "cefr_improved": 0})  # fmt: skip
            cell["activities"] += 1 if a.sessions else 0
            cell["sessions"] += len(a.sessions)
            for _, _, present, _ in a.sessions:
                cell["people"].update(present)
                cell["participation_minutes"] += a.minutes * len(present)
            cell["completed"] += len(a.certificates)
            cell["cefr_improved"] += sum(1 for *_, entry, reached in a.certificates if entry != reached)
        total = {f: sum(c[f] for c in out.values()) for f in FIGURES if f != "participants"}
        total["participants"] = len(set().union(*(c["people"] for c in out.values())))
        result = {k: {**{f: v for f, v in c.items() if f != "people"}, "participants": len(c["people"])}
                  for k, c in out.items()}  # fmt: skip
        return {**result, "total": total}


def _days(first: date, last: date, weekdays: tuple[int, ...], every: int = 1) -> list[date]:
    days, d, week = [], first, 0
    while d <= last:
        if d.weekday() in weekdays and (d - first).days // 7 % every == 0:
            days.append(d)
        d += timedelta(days=1)
        week += 1
    return days


def plan(city: str, partners: tuple[str, ...], households: list[Household], seed: int) -> CivicYear:
    """The city's civic year: adults of its households take part; a few of its residents volunteer."""
    rng = random.Random(f"{seed}:{city}:civic")
    adults = sorted(p.person_id for h in households for p in h.members if not p.minor)
    women = sorted(p.person_id for h in households for p in h.members if not p.minor and p.sex == "female")
    big = len(adults) > 60
    a, b = partners[0], partners[-1]
    courses = [
        Activity(f"{city}-ita-a2", "italian_language_course", "Italiano A1-A2", a, date(2026, 2, 2),
                 date(2026, 6, 26), 120, "A2"),
        Activity(f"{city}-ita-b1", "italian_language_course", "Italiano A2-B1", b, date(2026, 9, 14),
                 date(2026, 11, 27), 120, "B1"),
    ]  # fmt: skip
    others = [
        Activity(f"{city}-orient", "civic_orientation", "Orientamento ai servizi del territorio", None,
                 date(2026, 3, 10), date(2026, 10, 31), 150, min_percent=50),
        Activity(f"{city}-orti", "community_volunteering", "Orti condivisi di quartiere", a, date(2026, 4, 4),
                 date(2026, 9, 26), 180),
        Activity(f"{city}-donne", "peer_group", "Gruppo di parola tra donne", b, date(2026, 2, 12),
                 date(2026, 11, 26), 90),
    ]  # fmt: skip
    volunteers = [f"{city}-vol-{n}" for n in range(1, (5 if big else 3) + 1)]
    # Language courses: a class each, twice a week; 85% attend each session, one in six drops to 40%.
    classes = ((0, 18 if big else 14), (18 if big else 14, 16 if big else 12))  # (first adult, size)
    for course, (first_class, size) in zip(courses, classes, strict=True):
        klass = adults[first_class : first_class + size]
        keen = {p: (0.4 if rng.random() < 1 / 6 else 0.85) for p in klass}
        for n, day in enumerate(_days(course.starts_on, course.ends_on, (0, 2))):
            present = [p for p in klass if rng.random() < keen[p]]
            absent = [p for p in klass if p not in present]
            course.sessions.append((f"{course.activity_id}-s{n + 1:02d}", day, present, absent))
        entry, goal = ("A1", "A2") if course.target_level == "A2" else ("A2", "B1")
        for p in klass:
            attended = sum(p in s[2] for s in course.sessions)
            if attended * 100 >= course.min_percent * len(course.sessions):
                reached = goal if rng.random() < 0.7 else entry
                course.certificates.append((f"{course.activity_id}-c-{p}", p, entry, reached))
    orient, orti, donne = others
    for n, day in enumerate(_days(orient.starts_on, orient.ends_on, (1,), every=4)):  # monthly, Tuesdays
        present = rng.sample(adults, min(len(adults), 12 if big else 9))
        orient.sessions.append((f"{orient.activity_id}-s{n + 1:02d}", day, sorted(present), []))
    for n, day in enumerate(_days(orti.starts_on, orti.ends_on, (5,), every=2)):  # every other Saturday
        orti.volunteers = volunteers[:3]
        present = rng.sample(adults, min(len(adults), 10 if big else 7))
        orti.sessions.append((f"{orti.activity_id}-s{n + 1:02d}", day, sorted(present), []))
    group = women[: 10 if big else 8]
    for n, day in enumerate(_days(donne.starts_on, donne.ends_on, (3,), every=3)):  # every third Thursday
        present = [p for p in group if rng.random() < 0.75] or group[:1]
        donne.sessions.append((f"{donne.activity_id}-s{n + 1:02d}", day, present, [p for p in group
                                                                                  if p not in present]))  # fmt: skip
    return CivicYear(city, volunteers, [*courses, *others])


async def play(platform: Platform, year: CivicYear, progress: Any) -> None:
    city = year.city
    staff = platform.http("intake", f"staff-{city}")
    for n, vid in enumerate(year.volunteers):
        identity = {"given_name": f"Volontario {n + 1}", "family_name": city.title()}
        body: dict[str, Any] = {"person_id": vid, "birth_date": f"{1960 + 7 * n}-05-0{1 + n}", "nationality": "IT",
                                "sex": "female" if n % 2 else "male", "identity": identity}  # fmt: skip
        await call(staff, "POST", "/persons", body, key=f"civic-{vid}")
    for a in year.activities:
        by = platform.http("intake", a.organiser or f"staff-{city}")
        activity: dict[str, Any] = {
            "activity_id": a.activity_id, "kind": a.kind, "title": a.title, "starts_on": str(a.starts_on),
            "ends_on": str(a.ends_on), "target_level": a.target_level, "min_attendance_percent": a.min_percent,
        }  # fmt: skip
        await call(by, "POST", "/civic/activities", activity, key=f"civic-{a.activity_id}")
        for sid, day, _, _ in a.sessions:
            session = {"activity_id": a.activity_id, "session_id": sid, "held_on": str(day), "place": _place(city, a),
                       "duration_minutes": a.minutes, "facilitators": [f"op-{a.organiser or city}-1"],
                       "volunteer_ids": a.volunteers}  # fmt: skip
            await call(by, "POST", "/civic/sessions", session, key=f"civic-{sid}")
        if a.organiser is None:
            for sid, _, present, absent in a.sessions:
                register = {"activity_id": a.activity_id, "session_id": sid, "present": present, "absent": absent}
                await call(by, "POST", "/civic/attendance", register, key=f"civic-reg-{sid}")
        else:  # the partner's own system sends the registers, signed, through the gatekeeper
            async with await platform.partner_client(a.organiser, city) as client:
                for sid, _, present, absent in a.sessions:
                    await client.emit(ev.CivicAttendanceSubmitted(activity_id=a.activity_id, session_id=sid,
                                                                  present=present, absent=absent))  # fmt: skip
    for a in year.activities:
        if not a.certificates:
            continue
        by = platform.http("intake", a.organiser or f"staff-{city}")
        await _registers_in(by, a)
        for cid, person, entry, reached in a.certificates:
            cert: dict[str, Any] = {"activity_id": a.activity_id, "certificate_id": cid, "person_id": person,
                    "issued_on": str(a.ends_on), "level_at_entry": entry, "level_reached": reached}  # fmt: skip
            await call(by, "POST", "/civic/certificates", cert, key=f"civic-{cid}")
    t = year.truth()["total"]
    progress(f"{city}: civic engagement, {t['sessions']} sessions of {t['activities']} activities, "
             f"{t['participants']} participants, {t['completed']} certificates")  # fmt: skip


def _place(city: str, a: Activity) -> str:
    return {"torino": "Casa del quartiere di San Salvario", "trieste": "Casa delle culture di Trieste"}.get(
        city, "Biblioteca civica"
    ) + (" (orto)" if a.kind == "community_volunteering" else "")


async def _registers_in(client: Any, a: Activity, timeout: float = 120) -> None:
    """Wait until intake holds every register of the activity (the gatekeeper works asynchronously)."""
    want = [(len(p), len(ab)) for _, _, p, ab in a.sessions]
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        body = await call(client, "GET", f"/civic/activities/{a.activity_id}")
        if [(s["present"], s["absent"]) for s in body["session_list"]] == want:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"intake holds {body['session_list'][:2]}… of {a.activity_id}'s registers")
        await asyncio.sleep(0.5)
