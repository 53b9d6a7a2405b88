"""The desk's reads: finding a person and the cartella sociale (person, households over time, cases with their
assessment and plans, referrals, consents, employment, and a timeline). Every person shown passes the same rule as
`GET /persons/{id}` (`Intake.read_person`): a partner sees only persons of its own open cases who consented to
sharing, and of a household only its own cases (with their plans, referrals and employment); staff see their city;
the national role nothing."""

from __future__ import annotations

from datetime import date
from typing import Any

from lgnet_shared import pii
from lgnet_shared.errors import ContractError, Forbidden, NotFound
from lgnet_shared.events import Sealed

from lgnet_intake.adapters import folder as q
from lgnet_intake.adapters import repository as repo
from lgnet_intake.domain import access, needs, search
from lgnet_intake.domain.access import Role
from lgnet_intake.service_layer.handlers import Context, Intake

MAX_RESULTS = 50


def _iso(d: date | None) -> str | None:
    return None if d is None else d.isoformat()


class Folder:
    def __init__(self, intake: Intake) -> None:
        self.intake = intake
        self.conn = intake.conn

    async def _visible(self, ctx: Context, person_id: str) -> dict[str, Any] | None:
        try:
            return await self.intake.read_person(ctx, person_id)
        except (Forbidden, NotFound):
            return None

    async def _may_act_on(self, ctx: Context, household: dict[str, Any]) -> bool:
        """Whether the reader may change the household's members, name its reference person and record its
        referrals: the rule those writes apply (`access.may_act_on_household`), so the desk offers its forms to
        exactly who may send them (it cannot tell otherwise: a partner's cartella shows its own cases only)."""
        partners = await repo.open_case_partners(self.conn, household["household_id"])
        absent = NotFound("household_id", f"no household {household['household_id']}")  # never answered: a False
        try:
            access.may_act_on_household(ctx.actor, household["city"], household["created_by"], partners, absent)
        except (Forbidden, NotFound):
            return False
        return True

    async def search(
        self,
        ctx: Context,
        name: str | None,
        fiscal_code: str | None,
        case_id: str | None,
        at: str = "query.",
        person_ids: list[str] | None = None,
    ) -> list[dict[str, Any]]:
        """`at`: where the terms came from, as a refusal names their field (`query.` for an address's, "" for a
        body's). `person_ids`: those of these persons the caller may read, in their order (a page naming many persons
        reads them in one call)."""
        if ctx.actor.role is Role.NATIONAL:
            raise Forbidden("", "the national role reads aggregates only")
        if person_ids:
            return [p for p in [await self._visible(ctx, pid) for pid in dict.fromkeys(person_ids)] if p]
        if not (name or fiscal_code or case_id):
            raise ContractError(f"{at}name", "give a name, a fiscal code or a case number")
        if name is not None and len(search.fold(name)) == 0:
            raise ContractError(f"{at}name", "has no letters or digits")
        ids: list[str] = []
        partner = ctx.actor.id if ctx.actor.role is Role.PARTNER else None
        if case_id:
            # By a case number, the case's own rule first: another party's case is a 403, one nobody has a 404, as
            # `GET /cases/{id}` answers (they were `200 []`, telling nothing apart from a case without members).
            try:
                await self.intake.read_case(ctx, case_id.strip())
            except (Forbidden, NotFound) as refused:
                raise type(refused)(f"{at}case_id", refused.reason) from None
            ids = await q.members_of_case(self.conn, case_id.strip())
            reference = await q.reference_of_case(self.conn, case_id.strip())
        elif fiscal_code:
            code = fiscal_code.strip().upper().replace(" ", "")
            ids = await q.persons_by_fiscal_hash(
                self.conn, ctx.city, pii.keyed_hash(self.intake.fiscal_secret, code), partner
            )
        else:
            reference = None
        results: list[dict[str, Any]] = []
        if name and not ids and not (case_id or fiscal_code):
            scored: list[tuple[float, str]] = []
            rows = await q.persons_of_city(self.conn, ctx.city, partner)
            # A person may have a surname only (or a name only): found by what they have.
            sealed = [r["identity"].get("given_name") or r["identity"].get("family_name") for r in rows]
            keys = await self.intake.keys.keys(self.conn, [s["kid"] for s in sealed if s])  # one query for the city
            for row, one in zip(rows, sealed, strict=True):
                key = keys.get(one["kid"]) if one else None
                if key is None:
                    continue
                given, family = row["identity"].get("given_name"), row["identity"].get("family_name")
                g = pii.open_with(key, Sealed(**given), "given_name") if given else ""
                f = pii.open_with(key, Sealed(**family), "family_name") if family else ""
                score = search.name_score(name, g, f)
                if score >= search.MIN_SCORE:
                    scored.append((score, row["person_id"]))
            scored.sort(key=lambda s: (-s[0], s[1]))
            ids = [pid for _, pid in scored[:MAX_RESULTS]]
        shown: set[str] = set()
        for pid in ids:
            person = await self._visible(ctx, pid)
            if person is not None and not person["erased"] and person["person_id"] not in shown:
                shown.add(person["person_id"])  # two of a partner's own registrations merged: one person
                if case_id:  # the household's name is its reference person's: the one a page needs, no more
                    person["household_reference"] = pid == reference
                results.append(person)
        return results

    @staticmethod
    def shown_in(record: dict[str, Any]) -> list[str]:
        """Every person a record shows, for the read log: its subject, then each member of their households."""
        members = (m["person_id"] for h in record["households"] for m in h["members"])
        return list(dict.fromkeys([record["person"]["person_id"], *members]))

    async def record(self, ctx: Context, person_id: str) -> dict[str, Any]:
        person = await self.intake.read_person(ctx, person_id)  # the authorisation of the whole folder
        pid = person["person_id"]
        households = await q.households_of_person(self.conn, pid)
        hids = [h["household_id"] for h in households]
        names: dict[str, str | None] = {}
        visible = {pid}
        erased: set[str] = set()  # members erased: nothing of their vulnerabilities is given, to anyone
        timeline: list[dict[str, Any]] = [{"on": _iso(await q.registered_on(self.conn, pid)), "kind": "registered"}]
        out_households = []
        for h in households:
            # Same-day entries keep the order they can have happened in (the sort below is stable): members join,
            # another is named reference person, then members leave (a former reference person only after it).
            members, leavings = [], []
            for m in await q.membership(self.conn, h["household_id"]):
                if m["person_id"] not in names:
                    seen = await self._visible(ctx, m["person_id"])
                    if seen is not None:
                        visible.add(m["person_id"])
                        if seen["erased"]:
                            erased.add(m["person_id"])
                    ident = (seen or {}).get("identity") or {}
                    names[m["person_id"]] = (
                        " ".join(v for v in (ident.get("given_name"), ident.get("family_name")) if v) or None
                    )
                members.append(
                    {
                        "person_id": m["person_id"],
                        "name": names[m["person_id"]],
                        # shown (named or not yet) and not erased: intake never gives an erased person's birth date
                        "birth_date": (
                            _iso(m["birth_date"])
                            if m["person_id"] in visible and m["person_id"] not in erased
                            else None
                        ),
                        "sex": m["sex"] if m["person_id"] in visible else None,  # hidden: the id only
                        "joined_on": _iso(m["joined_on"]),
                        "left_on": _iso(m["left_on"]),
                        "reason": m["reason"],
                        "erased": m["person_id"] in erased,
                    }
                )
                timeline.append(
                    {
                        "on": _iso(m["joined_on"]),
                        "kind": "member_joined",
                        "person_id": m["person_id"],
                        "household_id": h["household_id"],
                        "reason": m["reason"],
                    }
                )
                if m["left_on"]:
                    leavings.append(
                        {
                            "on": _iso(m["left_on"]),
                            "kind": "member_left",
                            "person_id": m["person_id"],
                            "household_id": h["household_id"],
                        }
                    )
            for change in await q.reference_changes(self.conn, h["household_id"]):  # who was named in whose place
                timeline.append(
                    {
                        "on": _iso(change["named_on"]),
                        "kind": "reference_person_named",
                        "person_id": change["person_id"],
                        "previous_person_id": change["previous_person_id"],
                        "household_id": h["household_id"],
                        "reason": change["reason"],
                    }
                )
            timeline += leavings
            out_households.append(
                {
                    "household_id": h["household_id"],
                    "reference_person_id": h["reference_person_id"],
                    "members": members,
                    "may_change_members": await self._may_act_on(ctx, h),
                }
            )
        cases = await q.cases_of(self.conn, hids)
        if ctx.actor.role is Role.PARTNER:  # a household may have cases of other partners: `GET /cases` refuses them
            cases = [c for c in cases if c["partner"] == ctx.actor.id]
        own_cases = {c["case_id"] for c in cases}
        plans = await q.plans_of(self.conn, list(own_cases))
        out_cases = []
        for c in cases:
            cid = c["case_id"]
            timeline.append(
                {
                    "on": _iso(c["opened_on"]),
                    "kind": "case_opened",
                    "case_id": cid,
                    "action_area": c["action_area"],
                    "partner": c["partner"],
                }
            )
            if c["assessed_on"]:
                timeline.append({"on": _iso(c["assessed_on"]), "kind": "needs_assessed", "case_id": cid})
            if c["closed_on"]:
                timeline.append(
                    {"on": _iso(c["closed_on"]), "kind": "case_closed", "case_id": cid, "outcome": c["outcome"]}
                )
            own = [p for p in plans if p["case_id"] == cid]
            for p in own:
                timeline.append(
                    {"on": _iso(p["agreed_on"]), "kind": "plan_agreed", "case_id": cid, "plan_id": p["plan_id"]}
                )
            out_cases.append(
                {
                    "case_id": cid,
                    "household_id": c["household_id"],
                    "action_area": c["action_area"],
                    "channel": c["channel"],
                    "partner": c["partner"],
                    "opened_on": _iso(c["opened_on"]),
                    "housing_need": c["housing_need"],
                    "closed_on": _iso(c["closed_on"]),
                    "outcome": c["outcome"],
                    "assessment": needs.as_seen_by(c["assessment"], visible - erased),
                    "plans": [
                        {"plan_id": p["plan_id"], "agreed_on": _iso(p["agreed_on"]), "objectives": p["objectives"]}
                        for p in own
                    ],
                }
            )
        referrals = [
            {
                "referral_id": r["referral_id"],
                "household_id": r["household_id"],
                "source": r["source"],
                "received_on": _iso(r["received_on"]),
                "outcome": r["outcome"],
                "case_id": r["case_id"],
            }
            for r in await q.referrals_of(self.conn, hids)
            if ctx.actor.role is not Role.PARTNER or r["case_id"] in own_cases
        ]
        for r in referrals:
            timeline.append({"on": r["received_on"], "kind": "referral_received", "source": r["source"]})
        consents = [
            {"purpose": c["purpose"], "granted": c["granted"], "recorded_on": _iso(c["recorded_on"])}
            for c in await q.consents_of(self.conn, pid)
        ]
        for c in await q.consent_history_of(self.conn, pid):  # each recorded, not only the state now
            timeline.append(
                {
                    "on": _iso(c["recorded_on"]),
                    "kind": "consent_recorded",
                    "purpose": c["purpose"],
                    "granted": c["granted"],
                }
            )
        employment = [
            {"status": e["status"], "as_of": _iso(e["as_of"]), "case_id": e["case_id"]}
            for e in await q.employment_of(self.conn, pid)
            if ctx.actor.role is not Role.PARTNER or e["case_id"] is None or e["case_id"] in own_cases
        ]
        for e in employment:
            timeline.append({"on": e["as_of"], "kind": "employment_recorded", "status": e["status"]})
        timeline.sort(key=lambda t: t["on"] or "")  # stable: same-day entries keep the order they happened in
        return {
            "person": person,
            "households": out_households,
            "cases": out_cases,
            "referrals": referrals,
            "consents": consents,
            "employment": employment,
            "timeline": timeline,
        }
