"""Housing's use cases. Each runs inside the caller's transaction: it checks the rules, changes housing's state
and stages the housing events in the outbox, all or nothing. HTTP routes and intake's events call the same code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from fastapi.encoders import jsonable_encoder
from lgnet_shared import outbox, tracing
from lgnet_shared.access import Actor, Role, id_taken, may_write_in_city
from lgnet_shared.actors import partner_city
from lgnet_shared.codec import caused_by, to_envelope
from lgnet_shared.countries import check_languages
from lgnet_shared.db import Conn, checked_then_locked
from lgnet_shared.envelope import Envelope
from lgnet_shared.errors import Conflict, ContractError, Forbidden, NotFound, PreconditionFailed
from lgnet_shared.events import Event
from lgnet_shared.events import housing as ev
from lgnet_shared.http import check_echoed_city
from lgnet_shared.ids import new_id
from lgnet_shared.pseudonymous import check_no_identifying_text, check_pseudonymous_id

from lgnet_housing.adapters import repository as repo
from lgnet_housing.domain import explain, matching, rules
from lgnet_housing.domain import priority as prio
from lgnet_housing.domain.as_of import check_day, hold_end, last_step, lease_terms, placement_start, step_day
from lgnet_housing.domain.lease import lease_rent, raise_within_means, rent_raise
from lgnet_housing.service_layer import commands as cmd

SOURCE = "/lgnet/housing"
HOLD_ENDING_NOTICE = timedelta(days=7)  # a hold ending within a week is a reminder (GET /reminders)
# What intake answers a partner for a household without its consent to sharing (intake's transfer to a partner): the
# desk says it in Italian (lgnet_desk.domain.refusals).
NOT_SHARED = "the household has not consented to sharing data with partners"
Json = dict[str, Any]


@dataclass(frozen=True)
class Context:
    """When, and who acts: an HTTP actor, or (actor None) an intake event `cause`."""

    today: date
    actor: Actor | None = None
    cause: Envelope | None = None

    def city(self) -> str:
        if self.actor is None or self.actor.city is None or self.actor.role is Role.NATIONAL:
            raise Forbidden("", "the national role is read-only and sees aggregates only")
        return self.actor.city


def _staff_of_city(ctx: Context, what: str) -> str:
    """The acting staff member's city; anyone else is refused, naming what they tried."""
    city = ctx.city()
    assert ctx.actor is not None
    if ctx.actor.role is not Role.STAFF:
        raise Forbidden("", f"only the city's staff may {what}")
    return city


def _as_read_by(actor: Actor, m: Json) -> Json:
    """A match as its reader may see it: the household's special-category details (explain.outside_the_case) only
    for the city's staff and the case's partner, not for the provider-side partner."""
    if actor.role is not Role.PARTNER or m["case_partner"] == actor.id:
        return m
    explanation, breakdown = explain.outside_the_case(m["explanation"], m["score_breakdown"])
    # not the score either: priority x fit, with the fit shown, says the priority (score / fit)
    return m | {"explanation": explanation, "score_breakdown": breakdown, "score": None}


def _without(m: Json, key: str) -> Json:
    return {k: v for k, v in m.items() if k != key}


def _of_callers_city(actor: Actor, row: Json, field: str) -> None:
    """Another city's opportunity, match or placement is answered word for word as one that does not exist: a 403
    told a caller of another city that the id exists (docs/partners.md, "What is not yours")."""
    if actor.city != row["city"]:
        raise repo.absent(field, row[field])


def _side_allowed(actor: Actor, m: Json, side: str, field: str) -> None:
    """Staff act for both sides; a partner only for its own case (household side) or opportunity (provider). A
    partner of neither side is answered as for an id that exists nowhere (a 403 told it which matches and
    placements exist); the other side's partner knows the match, and is told why."""
    _of_callers_city(actor, m, field)
    may_write_in_city(actor, m["city"], field)
    if actor.role is Role.STAFF:
        return
    own = {"household": m["case_partner"] == actor.id, "provider": m["opportunity_partner"] == actor.id}
    if not any(own.values()):
        raise repo.absent(field, m[field])
    if side in own and not own[side]:
        whose = "case's (household side)" if side == "household" else "opportunity's (provider side)"
        raise Forbidden(field, f"partner {actor.id} is not the {whose} partner (it is the other side's partner)")


@dataclass
class Housing:
    conn: Conn

    async def _not_shared_with(self, ctx: Context, household_ids: list[str]) -> set[str]:
        """Those households a partner acting now may not read: a member has not consented to sharing with partners
        (intake's rule for a person's data, for every member: a household's needs, income and priority are all of
        theirs). The city's staff read every household of their city: none."""
        if _partner_of(ctx) is None or not household_ids:
            return set()
        return await repo.not_shared(self.conn, household_ids)

    async def _shared_with_caller(self, ctx: Context, household_id: str, field: str = "household_id") -> None:
        """A partner reads a household of its own case only with every member's consent to sharing (403 else, as
        intake answers for a person); its writes on its case are not refused so (intake's rule too)."""
        if await self._not_shared_with(ctx, [household_id]):
            raise Forbidden(field, NOT_SHARED)

    async def emit(self, ctx: Context, city: str, *events: Event) -> None:
        partner = ctx.actor.partner if ctx.actor else None
        if ctx.cause is not None:
            envs = [caused_by(ctx.cause, e, source=SOURCE, partner=partner) for e in events]
        else:
            tp = tracing.current_traceparent()
            envs = [to_envelope(e, source=SOURCE, city=city, partner=partner, traceparent=tp) for e in events]
        await outbox.append(self.conn, envs)

    # ------------------------------------------------------------ catalogue

    async def list_opportunity(self, ctx: Context, c: cmd.ListOpportunity) -> Json:
        assert ctx.actor is not None
        check_languages(c.languages)
        # In clear on housing's topic and into reporting, never erased: nothing of a landlord or a person in them.
        check_pseudonymous_id(c.opportunity_id, "opportunity_id")
        if c.area is not None:
            check_no_identifying_text(c.area, "area")
        city = ctx.city()
        may_write_in_city(ctx.actor, city)
        partner = c.partner or ctx.actor.partner
        if partner is None:
            raise ContractError("partner", "staff must name the partner that owns the opportunity")
        if ctx.actor.role is Role.PARTNER and partner != ctx.actor.id:
            raise Forbidden("partner", f"partner {ctx.actor.id} cannot list opportunities of {partner}")
        # The staff name the owner: one who can act on it, of their city. Another city's partner is said as an
        # unknown one: which cooperatives a city works with is its own.
        if ctx.actor.role is not Role.PARTNER and await partner_city(self.conn, partner) != city:
            raise ContractError("partner", f"{partner} is not a partner known to housing in {city}")
        values = {**c.model_dump(exclude={"opportunity_id", "partner"}), "city": city, "partner": partner}
        values = {**values, "kind": c.kind.value, "support_level": c.support_level.value}
        if not await repo.insert_opportunity(self.conn, c.opportunity_id, values, ctx.actor.id, ctx.today):
            holder = await repo.opportunity_holder(self.conn, c.opportunity_id)
            said = f"opportunity {c.opportunity_id} is already listed"
            raise id_taken(ctx.actor, "opportunity_id", said, *holder)
        await self.emit(ctx, city, ev.OpportunityListed(opportunity_id=c.opportunity_id, **values))
        await self.rematch_if_auto(ctx, city)
        return await self.read_opportunity(ctx, c.opportunity_id)

    async def _own_opportunity(self, ctx: Context, opportunity_id: str) -> Json:
        actor = ctx.actor
        assert actor is not None

        def check(row: Json) -> None:
            _of_callers_city(actor, row, "opportunity_id")
            may_write_in_city(actor, row["city"], "opportunity_id")
            if actor.role is Role.PARTNER and row["partner"] != actor.id:
                raise Forbidden("opportunity_id", f"the opportunity belongs to partner {row['partner']}")

        # the caller's right before the lock: a partner refused held the opportunity until its transaction ended
        return await checked_then_locked(lambda lock: repo.opportunity(self.conn, opportunity_id, lock=lock), check)

    async def read_opportunity(self, ctx: Context, opportunity_id: str) -> Json:
        assert ctx.actor is not None
        row = await repo.opportunity(self.conn, opportunity_id)
        _of_callers_city(ctx.actor, row, "opportunity_id")
        may_write_in_city(ctx.actor, row["city"], "opportunity_id")
        return dict(jsonable_encoder(row))

    async def list_opportunities(self, ctx: Context, status: str | None) -> list[Json]:
        assert ctx.actor is not None
        rows = await repo.opportunities(self.conn, ctx.city(), status, None)
        return list(jsonable_encoder(rows))

    async def update_opportunity(self, ctx: Context, opportunity_id: str, c: cmd.UpdateOpportunity) -> Json:
        if c.languages is not None:
            check_languages(c.languages)
        if c.area is not None:
            check_no_identifying_text(c.area, "area")
        row = await self._own_opportunity(ctx, opportunity_id)
        if row["status"] != "open":
            raise Conflict("opportunity_id", f"the opportunity is {row['status']}")
        if c.monthly_rent_cents is not None and c.monthly_rent_cents > row["monthly_rent_cents"]:
            live = await repo.live_match_on(self.conn, opportunity_id)
            by_staff = ctx.actor is not None and ctx.actor.role is Role.STAFF
            committed = live["status"] if live else None
            rent_raise(c.monthly_rent_cents, row["monthly_rent_cents"], committed, by_staff)
            if live is not None:
                found = await repo.candidate(self.conn, row["city"], ctx.today, live["household_id"])
                raise_within_means(
                    c.monthly_rent_cents,
                    row["monthly_rent_cents"],
                    committed,
                    found.household if found else None,
                    await repo.rules(self.conn, row["city"]),
                    confirmed=c.above_affordable,
                )
        changes = c.model_dump(exclude_none=True, exclude={"clear", "above_affordable"}, mode="json")
        if not changes and not c.clear:
            raise ContractError("", "nothing to change: give at least one field, or name fields to clear")
        # a field given as null keeps its value (as before); `clear` empties the optional ones it names
        typed = c.model_dump(exclude_none=True, exclude={"clear", "above_affordable"}) | dict.fromkeys(c.clear)
        start = typed.get("available_from", row["available_from"])
        until = typed.get("available_until", row["available_until"])
        if until is not None and until <= start:
            raise ContractError("available_until", "must be after available_from")
        await repo.update_opportunity(self.conn, opportunity_id, {k: _db(v) for k, v in typed.items()})
        updated = ev.OpportunityUpdated(opportunity_id=opportunity_id, **changes, cleared=list(c.clear))
        await self.emit(ctx, row["city"], updated)
        await self.recheck_opportunity(ctx, opportunity_id)
        await self.rematch_if_auto(ctx, row["city"])
        return await self.read_opportunity(ctx, opportunity_id)

    async def withdraw_opportunity(self, ctx: Context, opportunity_id: str, c: cmd.WithdrawOpportunity) -> Json:
        check_no_identifying_text(c.reason, "reason")
        row = await self._own_opportunity(ctx, opportunity_id)
        if row["status"] != "open":
            raise Conflict("opportunity_id", f"the opportunity is already {row['status']}")
        live = await repo.live_match_on(self.conn, opportunity_id)
        if live is not None and live["status"] == "placed":
            raise Conflict("opportunity_id", "a household is placed there: end the placement first")
        # a step: not before the listing nor the live match's last step (its decline carries this day), not ahead
        since = last_step(row["listed_on"], *((live["proposed_on"], live["decided_on"]) if live else ()))
        on = step_day(c.on or ctx.today, since, ctx.today, "on")
        if live is not None:
            await self.end_match(ctx, live, "declined", ev.DeclinedBy.PROVIDER, "opportunity_withdrawn", on)
        await repo.withdraw_opportunity(self.conn, opportunity_id, c.reason)
        await self.emit(
            ctx, row["city"], ev.OpportunityWithdrawn(opportunity_id=opportunity_id, reason=c.reason, on=on)
        )
        await self.rematch_if_auto(ctx, row["city"])
        return await self.read_opportunity(ctx, opportunity_id)

    # ------------------------------------------------------------ rules

    async def read_rules(self, ctx: Context) -> Json:
        """The rules in force and their `version` (the ETag a save sends back)."""
        city = ctx.city()
        in_force = (await repo.rules(self.conn, city)).model_dump(mode="json")
        return {"city": city, **in_force, "version": await repo.rules_version(self.conn, city)}

    async def save_rules(
        self, ctx: Context, new: rules.CityRules, if_version: int | None, said_at: str, said_city: str | None = None
    ) -> Json:
        """The whole of the city's rules, saved only over `if_version` when given (`said_at`: the field that gave
        it, If-Match or the body's version), so that a save from an older read cannot undo another's change.
        `said_city`: the `city` the client read and sent back, if it did."""
        assert ctx.actor is not None
        city = ctx.city()
        if ctx.actor.role is not Role.STAFF:
            raise Forbidden("", "only the city's staff set the matching rules")
        check_echoed_city(said_city, city)
        if await repo.save_rules(self.conn, city, new, ctx.actor.id, if_version) is None:
            recorded = await repo.rules_version(self.conn, city)
            raise PreconditionFailed(
                said_at,
                f"the rules were changed since they were read (version {recorded} now, {if_version} read): read them"
                " again and send what should be kept",
            )
        return await self.read_rules(ctx)

    # ------------------------------------------------------------ matching

    async def rematch_if_auto(self, ctx: Context, city: str) -> None:
        if city and (await repo.rules(self.conn, city)).auto_match:
            await self.run_matching(ctx, city)

    async def lock_city(self, city: str) -> None:
        """Serialise the city's changes that re-match (until commit). Taken first by HTTP writes and intake
        handlers, before any row lock, so two transactions never wait on each other in opposite orders."""
        await lock_city(self.conn, city)

    async def run_matching(self, ctx: Context, city: str) -> Json:
        """Propose the optimal assignment of the city's waiting households to its free open opportunities.
        Live matches stay as they are: only what is free is (re)assigned."""
        await self.lock_city(city)
        city_rules = await repo.rules(self.conn, city)
        candidates = await repo.candidates(self.conn, city, ctx.today)
        waiting = [c.household for c in candidates if c.blocked is None and c.household is not None]
        opportunities, held = await repo.open_opportunities(self.conn, city)
        free = [o for o in opportunities if o.opportunity_id not in held]
        result = matching.assign(waiting, free, city_rules, ctx.today, await repo.declined_pairs(self.conn, city))
        households = {h.household_id: h for h in waiting}
        by_id = {o.opportunity_id: o for o in free}
        proposed = []
        for p in result.proposals:
            h, o = households[p.household_id], by_id[p.opportunity_id]
            x = explain.explain(h, o, city_rules, ctx.today)
            event = ev.MatchProposed(
                match_id=new_id(),
                household_id=h.household_id,
                case_id=h.case_id,
                opportunity_id=o.opportunity_id,
                city=city,
                explanation=_rule_checks(explain.published(x.checks, o)),  # a fact: no special-category data
                score_breakdown=explain.published_breakdown(x.breakdown),
                proposed_on=ctx.today,
            )
            # housing's own record and the staff's answer: the whole explanation and every term of the score
            data = event.model_dump(mode="json") | {
                "score": x.score,
                "explanation": _json(_rule_checks(x.checks)),
                "score_breakdown": x.breakdown,
            }
            await repo.insert_match(
                self.conn,
                {
                    **{k: getattr(event, k) for k in ("match_id", "household_id", "case_id", "opportunity_id", "city")},
                    "status": "proposed",
                    "score": x.score,
                    "explanation": data["explanation"],
                    "score_breakdown": data["score_breakdown"],
                    "proposed_on": ctx.today,
                    "step_since": ctx.today,
                },
            )
            await self.emit(ctx, city, event)
            proposed.append(data)
        return {
            "city": city,
            "proposals": proposed,
            "total_score": result.total_weight,
            "unmatched": [
                {
                    "household_id": u.household_id,
                    "open_opportunities": u.opportunities,
                    "compatible": u.compatible,
                    "declined_before": u.declined_before,
                    "failing_rules": u.failing,
                }
                for u in result.unmatched
            ],
            "not_waiting": [
                {"household_id": c.case["household_id"], "reason": c.blocked}
                for c in candidates
                if c.blocked is not None
            ],
        }

    async def matching_for(self, ctx: Context) -> Json:
        """Staff only: the answer shows every household and proposal of the city, whoever's case it is."""
        city = _staff_of_city(ctx, "run the city-wide matching")
        return await self.run_matching(ctx, city)

    async def list_matches(self, ctx: Context, status: str | None, household_id: str | None = None) -> list[Json]:
        """The city's matches in `status` the actor may see (a partner: of its cases or opportunities), only
        `household_id`'s when given (a page of one household reads no other's)."""
        assert ctx.actor is not None
        city = ctx.city()
        partner = ctx.actor.id if ctx.actor.role is Role.PARTNER else None
        matches = await repo.matches(self.conn, city, status, partner, household_id)
        # the case's partner sees no match of a household that has not consented to sharing (the provider's side sees
        # them as before: without the household's special-category details)
        withheld = await self._not_shared_with(ctx, [m["household_id"] for m in matches])
        matches = [m for m in matches if not (m["household_id"] in withheld and m["case_partner"] == partner)]
        # the case's partner read to tell the sides apart, not listed (the list never showed it)
        return list(jsonable_encoder([_without(_as_read_by(ctx.actor, m), "case_partner") for m in matches]))

    async def read_match(self, ctx: Context, match_id: str, *, answering_a_write: bool = False) -> Json:
        """A match as the caller may read it. The case's partner of a household that has not consented to sharing is
        refused (403); when it answers the partner's own write (accept, decline), the match is shown as to the
        provider's side instead (without the household's special-category details): the write is kept."""
        assert ctx.actor is not None
        m = await repo.match(self.conn, match_id)
        _side_allowed(ctx.actor, m, "any", "match_id")
        if m["case_partner"] == ctx.actor.id and await self._not_shared_with(ctx, [m["household_id"]]):
            if not answering_a_write:
                raise Forbidden("match_id", NOT_SHARED)
            explanation, breakdown = explain.outside_the_case(m["explanation"], m["score_breakdown"])
            m = m | {"explanation": explanation, "score_breakdown": breakdown, "score": None}
        # its placement, so that a reader can end it (`POST /placements/{id}/end`) and see the lease signed
        m = _as_read_by(ctx.actor, m)
        return dict(jsonable_encoder(m | {"placement": await repo.placement_view(self.conn, match_id)}))

    async def waiting_list(self, ctx: Context) -> list[Json]:
        city = ctx.city()
        city_rules = await repo.rules(self.conn, city)
        ranked = []
        partner = _partner_of(ctx)
        candidates = await repo.candidates(self.conn, city, ctx.today)
        if partner is not None:  # a partner sees the households of its own cases only, those that consented to sharing
            candidates = [c for c in candidates if c.case["partner"] == partner]
            withheld = await self._not_shared_with(ctx, [c.case["household_id"] for c in candidates])
            candidates = [c for c in candidates if c.case["household_id"] not in withheld]
        for c in candidates:
            h = c.household
            rank = prio.rank_key(h, city_rules, ctx.today) if h is not None else (float("inf"),)
            ranked.append((rank, _waiting_entry(c, city_rules, ctx.today)))
        ranked.sort(key=lambda r: r[0])
        return list(jsonable_encoder([entry for _, entry in ranked]))

    async def waiting_entry(self, ctx: Context, household_id: str) -> Json:
        """One household's entry of the waiting list, as `waiting_list` gives it to the same caller, read on that
        household alone (the desk's page of one household read the whole list to find its case). Not on the caller's
        list — unknown, its case closed, another city's or another partner's — is one NotFound, said the same way
        whichever it is (the household's `why` and holds alike: `_household_case_of_caller`)."""
        city = ctx.city()
        partner = _partner_of(ctx)
        c = await repo.candidate(self.conn, city, ctx.today, household_id)
        if c is None or (partner is not None and c.case["partner"] != partner):
            whose = f" among the cases of partner {partner}" if partner is not None else ""
            raise NotFound("household_id", f"household {household_id} is not on the waiting list of {city}{whose}")
        await self._shared_with_caller(ctx, household_id)
        city_rules = await repo.rules(self.conn, city)
        return dict(jsonable_encoder(_waiting_entry(c, city_rules, ctx.today)))

    async def why(self, ctx: Context, household_id: str) -> Json:
        """Why isn't this household matching? Its state, then the rules each open opportunity fails."""
        city = ctx.city()
        case = await self._household_case_of_caller(ctx, household_id)
        await self._shared_with_caller(ctx, household_id)
        if case["closed_on"] is not None or case["removed"] is not None:
            what = f"case closed on {case['closed_on']}" if case["closed_on"] else case["removed"]
            return {"household_id": household_id, "waiting": False, "reasons": [_reason("not_waiting", what)]}
        candidate = await repo.candidate(self.conn, city, ctx.today, household_id)
        if candidate is None or candidate.household is None:
            blocked = candidate.blocked if candidate else "not_waiting: no open housing case"
            code, _, detail = (blocked or "").partition(": ")
            return {"household_id": household_id, "waiting": False, "reasons": [_reason(code, detail)]}
        if candidate.blocked is not None:
            code, _, detail = candidate.blocked.partition(": ")
            live = await repo.live_match_of(self.conn, household_id)
            return {
                "household_id": household_id,
                "waiting": False,
                "reasons": [_reason(code, detail)],
                "match": jsonable_encoder(live) if live else None,
            }
        city_rules = await repo.rules(self.conn, city)
        opportunities, held = await repo.open_opportunities(self.conn, city)
        declined = frozenset(o for h, o in await repo.declined_pairs(self.conn, city) if h == household_id)
        occupied = await repo.occupied_opportunities(self.conn, city)
        reasons = explain.why_unmatched(
            candidate.household,
            opportunities,
            city_rules,
            ctx.today,
            held_by=held,
            declined=declined,
            occupied=occupied,
        )
        return {
            "household_id": household_id,
            "waiting": True,
            "priority": prio.priority(candidate.household, city_rules, ctx.today),
            "reasons": [_reason(r.code, r.detail) for r in reasons],
        }

    async def recheck_household(self, ctx: Context, household_id: str) -> None:
        """After the household changed: a proposal that no longer passes every rule is withdrawn."""
        live = await repo.live_match_of(self.conn, household_id)
        if live is None or live["status"] != "proposed":
            return
        await self._recheck(ctx, live)

    async def recheck_opportunity(self, ctx: Context, opportunity_id: str) -> None:
        live = await repo.live_match_on(self.conn, opportunity_id)
        if live is not None and live["status"] == "proposed":
            await self._recheck(ctx, live, by=ev.DeclinedBy.PROVIDER)

    async def _recheck(self, ctx: Context, live: Json, by: ev.DeclinedBy = ev.DeclinedBy.HOUSEHOLD) -> None:
        city_rules = await repo.rules(self.conn, live["city"])
        candidate = await repo.candidate(self.conn, live["city"], ctx.today, live["household_id"])
        opportunity = repo.opportunity_of(await repo.opportunity(self.conn, live["opportunity_id"]))
        h = candidate.household if candidate else None
        if h is None or not rules.compatible(h, opportunity, city_rules, ctx.today):
            reason = "household_changed" if by is ev.DeclinedBy.HOUSEHOLD else "opportunity_changed"
            await self.end_match(ctx, live, "cancelled", by, reason, ctx.today)

    async def end_match(self, ctx: Context, m: Json, status: str, by: ev.DeclinedBy, reason: str, on: date) -> None:
        await repo.set_match(
            self.conn, m["match_id"], status=status, declined_by=by.value, decline_reason=reason, decided_on=on
        )
        await self.emit(
            ctx,
            m["city"],
            ev.MatchDeclined(
                match_id=m["match_id"],
                household_id=m["household_id"],
                opportunity_id=m["opportunity_id"],
                by=by,
                reason=reason,
                on=on,
            ),
        )

    # ------------------------------------------------------------ workflow

    async def accept(self, ctx: Context, match_id: str, c: cmd.AcceptMatch) -> Json:
        # The household accepts (its case's partner, or the staff): the provider offered by listing, and declines.
        m = await self._match(ctx, match_id, "household")
        if m["status"] != "proposed":
            raise Conflict("match_id", f"the match is {m['status']}, not proposed")
        on = step_day(c.on or ctx.today, m["proposed_on"], ctx.today, "on")
        # a step taken closes its reminder (GET /reminders), as a placement does; the acceptance waits its own days
        await repo.set_match(self.conn, match_id, status="accepted", decided_on=on, step_since=on, stalled_step=None)
        await self.emit(
            ctx,
            m["city"],
            ev.MatchAccepted(
                match_id=match_id, household_id=m["household_id"], opportunity_id=m["opportunity_id"], on=on
            ),
        )
        return await self.read_match(ctx, match_id, answering_a_write=True)

    async def decline(self, ctx: Context, match_id: str, c: cmd.DeclineMatch) -> Json:
        """Declining frees both sides: the matching runs again without this pair."""
        assert ctx.actor is not None
        check_no_identifying_text(c.reason, "reason")
        m = await self._match(ctx, match_id, c.by.value)
        if m["status"] not in ("proposed", "accepted"):
            raise Conflict("match_id", f"the match is {m['status']}: only a proposed or accepted match is declined")
        on = step_day(c.on or ctx.today, last_step(m["proposed_on"], m["decided_on"]), ctx.today, "on")
        await self.end_match(ctx, m, "declined", c.by, c.reason, on)
        await self.run_matching(ctx, m["city"])
        return await self.read_match(ctx, match_id, answering_a_write=True)

    async def start_placement(self, ctx: Context, match_id: str, c: cmd.StartPlacement) -> Json:
        assert ctx.actor is not None
        # The opportunity first, then the match: the order in which a change of the opportunity takes them
        # (update_opportunity, withdraw_opportunity), so a placement waits for a change under way and checks the
        # availability it leaves, with no deadlock. A match's opportunity never changes: read it unlocked first.
        seen = await repo.match(self.conn, match_id)
        _side_allowed(ctx.actor, seen, "any", "match_id")  # no lock taken for a caller without the right
        o = await repo.opportunity(self.conn, seen["opportunity_id"], lock=True)
        m = await self._match(ctx, match_id, "any", seen)
        if m["status"] != "accepted":
            raise Conflict("match_id", f"the match is {m['status']}: a placement starts from an accepted match")
        placement_start(c.started_on, m["decided_on"], o["available_from"], o["available_until"], ctx.today)
        candidate = await repo.candidate(self.conn, m["city"], ctx.today, m["household_id"])
        if candidate is not None and candidate.household is not None:
            city_rules = await repo.rules(self.conn, m["city"])
            unfit = rules.unfit_for_placement(candidate.household, repo.opportunity_of(o), city_rules, ctx.today)
            if unfit:
                said = "; ".join(f"{f.rule}: {f.detail}" for f in unfit)
                raise Conflict("match_id", f"the household no longer fits the opportunity ({said}): decline the match")
        placement_id = new_id()
        event = ev.PlacementStarted(
            placement_id=placement_id,
            match_id=match_id,
            household_id=m["household_id"],
            case_id=m["case_id"],
            opportunity_id=m["opportunity_id"],
            city=m["city"],
            kind=ev.HousingKind(m["kind"]),
            started_on=c.started_on,
        )
        await repo.insert_placement(self.conn, {**event.model_dump(exclude={"kind"}), "kind": event.kind.value})
        await repo.set_match(self.conn, match_id, status="placed", step_since=c.started_on, stalled_step=None)
        await self.emit(ctx, m["city"], event)
        return dict(jsonable_encoder(await repo.placement(self.conn, placement_id)))

    async def _match(self, ctx: Context, match_id: str, side: str, seen: Json | None = None) -> Json:
        """The match, locked once the caller is seen acting for `side` of it (`checked_then_locked`; `seen`: read and
        checked already)."""
        actor = ctx.actor
        assert actor is not None
        return await checked_then_locked(
            lambda lock: repo.match(self.conn, match_id, lock=lock),
            lambda m: _side_allowed(actor, m, side, "match_id"),
            seen,
        )

    async def _placement(self, ctx: Context, placement_id: str, seen: Json | None = None) -> Json:
        """The placement, not ended, locked once the caller is seen acting for one of its sides (`seen`: read and
        checked already)."""
        actor = ctx.actor
        assert actor is not None
        p = await checked_then_locked(
            lambda lock: repo.placement(self.conn, placement_id, lock=lock),
            lambda p: _side_allowed(actor, p, "any", "placement_id"),
            seen,
        )
        if p["ended_on"] is not None:
            raise Conflict("placement_id", f"the placement ended on {p['ended_on']}")
        return p

    async def sign_lease(self, ctx: Context, placement_id: str, c: cmd.SignLease) -> Json:
        assert ctx.actor is not None
        # The opportunity, then the placement, as start_placement takes them: a change of the availability under
        # way is waited for, and the lease's terms checked against what it leaves.
        seen = await repo.placement(self.conn, placement_id)
        _side_allowed(ctx.actor, seen, "any", "placement_id")
        o = await repo.opportunity(self.conn, seen["opportunity_id"], lock=True)
        p = await self._placement(ctx, placement_id, seen)
        if p["lease_id"] is not None:
            raise Conflict("placement_id", f"lease {p['lease_id']} is already signed for this placement")
        step_day(c.signed_on, p["started_on"], ctx.today, "signed_on")
        lease_terms(c.start_date, c.end_date, c.signed_on, p["started_on"], o["available_until"])
        lease_rent(c.monthly_rent_cents, o["monthly_rent_cents"], o["opportunity_id"])
        event = ev.LeaseSigned(
            lease_id=new_id(),
            placement_id=placement_id,
            household_id=p["household_id"],
            case_id=p["case_id"],
            city=p["city"],
            **c.model_dump(),
        )
        await repo.insert(
            self.conn,
            "leases",
            {
                **event.model_dump(include={"lease_id", "placement_id", "monthly_rent_cents", "deposit_cents"}),
                **event.model_dump(include={"start_date", "end_date", "signed_on"}),
                "lease_type": event.lease_type.value,
            },
        )
        await self.emit(ctx, p["city"], event)
        return dict(jsonable_encoder(event.model_dump()))

    async def end_placement(self, ctx: Context, placement_id: str, c: cmd.EndPlacement) -> Json:
        p = await self._placement(ctx, placement_id)
        signed = await repo.lease_signed_on(self.conn, placement_id)
        step_day(c.ended_on, last_step(p["started_on"], signed), ctx.today, "ended_on")
        await repo.end_placement(self.conn, placement_id, c.reason.value, c.ended_on)
        await repo.set_match(self.conn, p["match_id"], status="ended")
        await self.emit(
            ctx,
            p["city"],
            ev.PlacementEnded(
                placement_id=placement_id,
                household_id=p["household_id"],
                case_id=p["case_id"],
                reason=c.reason,
                ended_on=c.ended_on,
            ),
        )
        await self.rematch_if_auto(ctx, p["city"])  # the opportunity is free again
        return dict(jsonable_encoder(await repo.placement(self.conn, placement_id)))

    # ------------------------------------------------------------ holds

    async def _household_case_of_caller(self, ctx: Context, household_id: str) -> Json:
        """The household's housing case, if it is the caller's: of the caller's city, and for a partner of its own
        case. Any other — unknown, another city's, another partner's — is one NotFound, said the same way whichever
        it is, as `GET /households/{id}` says it: a 403 for another's told an outsider that the household exists (an
        existence oracle over the household ids of every city)."""
        city, partner = ctx.city(), _partner_of(ctx)
        case = await repo.housing_case(self.conn, household_id)
        if case is None or case["city"] != city or partner not in (None, case["partner"]):
            whose = f" among the cases of partner {partner}" if partner is not None else ""
            raise NotFound("household_id", f"no housing case for household {household_id} in {city}{whose}")
        return case

    async def _household_case(self, ctx: Context, household_id: str) -> Json:
        """The caller's household with an open housing case (holds)."""
        case = await self._household_case_of_caller(ctx, household_id)
        if case["closed_on"] is not None:
            raise NotFound("household_id", f"household {household_id} has no open housing case")
        return case

    async def park(self, ctx: Context, household_id: str, c: cmd.ParkHousehold) -> Json:
        assert ctx.actor is not None
        case = await self._household_case(ctx, household_id)
        hold_end(c.until, ctx.today, (await repo.rules(self.conn, case["city"])).max_hold_days)
        held = await repo.hold(self.conn, household_id)
        if held is not None and (held["reason"], held["until"], held["parked_by"]) == (c.reason, c.until, ctx.actor.id):
            # The same actor parking the same way again (a retry after a lost answer): the success it was.
            return {"household_id": household_id, "parked": True, "reason": c.reason, "until": c.until.isoformat()}
        live = await repo.live_match_of(self.conn, household_id)
        if live is not None and live["status"] != "proposed":
            raise Conflict("household_id", f"the household has an {live['status']} match")
        if live is not None:
            await self.end_match(ctx, live, "cancelled", ev.DeclinedBy.HOUSEHOLD, "parked", ctx.today)
        await repo.park(self.conn, household_id, case["city"], c.reason, c.until, ctx.actor.id)
        await self.emit(
            ctx, case["city"], ev.HouseholdParked(household_id=household_id, reason=c.reason, until=c.until)
        )
        if live is not None:
            await self.rematch_if_auto(ctx, case["city"])
        return {"household_id": household_id, "parked": True, "reason": c.reason, "until": c.until.isoformat()}

    async def unpark(self, ctx: Context, household_id: str, c: cmd.UnparkHousehold) -> Json:
        case = await self._household_case(ctx, household_id)
        on = step_day(c.on or ctx.today, None, ctx.today, "on")  # the release takes effect now: not dated ahead
        if await repo.hold(self.conn, household_id) is None:
            # Already off hold (a retry after a lost answer, or lifted meanwhile): the state asked for holds, so
            # the answer is the success, with no second event. Holding is a state, not a step.
            return {"household_id": household_id, "parked": False, "on": on.isoformat()}
        await repo.unpark(self.conn, household_id)
        await self.emit(ctx, case["city"], ev.HouseholdUnparked(household_id=household_id, on=on))
        await self.rematch_if_auto(ctx, case["city"])
        return {"household_id": household_id, "parked": False, "on": on.isoformat()}

    # ------------------------------------------------------------ reminders

    async def stalled_check(self, ctx: Context, city: str | None, on: date | None = None) -> Json:
        """Emit match_stalled for every match step waiting longer than the city's limit (once per step), and
        unpark households whose hold has expired. Asked over HTTP, it is the city's staff's (actor None: a job).
        `on` is only the day waiting is counted to and holds are compared with; what the check creates (the
        reminders, the releases, the proposals re-matching makes) is dated `ctx.today`, the day it is made."""
        if ctx.actor is not None:
            _staff_of_city(ctx, "run the stalled-match check")
        as_of = check_day(on, ctx.today)
        stalled, unparked = [], []
        limits: dict[str, rules.CityRules] = {}
        for m in await repo.waiting_steps(self.conn, city):
            if m["city"] not in limits:
                limits[m["city"]] = await repo.rules(self.conn, m["city"])
            step = {"proposed": "proposed", "accepted": "accepted", "placed": "placement_started"}[m["status"]]
            if step == "placement_started" and (await repo.placement_of_match(self.conn, m["match_id"]) or {}).get(
                "lease_id"
            ):
                continue  # lease signed: nothing waits
            waiting = max((as_of - m["step_since"]).days, 0)
            if waiting > limits[m["city"]].stalled_after_days and m["stalled_step"] != step:
                await repo.set_match(self.conn, m["match_id"], stalled_step=step)
                event = ev.MatchStalled(
                    match_id=m["match_id"],
                    household_id=m["household_id"],
                    step=step,
                    waiting_days=waiting,
                    on=ctx.today,
                )
                await self.emit(ctx, m["city"], event)
                if m["case_partner"]:  # the case's operator, on its own reminders topic
                    told = ev.PartnerMatchReminder(
                        partner=m["case_partner"],
                        match_id=m["match_id"],
                        household_id=m["household_id"],
                        case_id=m["case_id"],
                        opportunity_id=m["opportunity_id"],
                        step=step,
                        waiting_days=waiting,
                        since=m["step_since"],
                        on=ctx.today,
                    )
                    await self.emit(ctx, m["city"], told)
                stalled.append(event.model_dump(mode="json"))
        cities = set()
        for h in await repo.expired_holds(self.conn, city, as_of):
            await repo.unpark(self.conn, h["household_id"])
            await self.emit(ctx, h["city"], ev.HouseholdUnparked(household_id=h["household_id"], on=ctx.today))
            unparked.append(h["household_id"])
            cities.add(h["city"])
        for c in sorted(cities):
            await self.rematch_if_auto(ctx, c)
        return {"stalled": stalled, "unparked": unparked}

    async def reminders(self, ctx: Context) -> list[Json]:
        """The reminders still open for the caller: the city's staff see the city's, a partner (the case's operator)
        those of its own cases. Built from housing's own state: the match_stalled it emitted, and the holds ending
        within HOLD_ENDING_NOTICE (the household is back on the waiting list then: someone should check it can be)."""
        assert ctx.actor is not None
        city = ctx.city()
        partner = ctx.actor.id if ctx.actor.role is Role.PARTNER else None
        stalled = await repo.open_reminders(self.conn, city, partner)
        holds = await repo.holds_ending(self.conn, city, partner, ctx.today, ctx.today + HOLD_ENDING_NOTICE)
        # a partner is not reminded here of a household that has not consented to sharing (a hold's reason may be
        # health); the reminders topic still tells it of a stalled step (ids and days only)
        withheld = await self._not_shared_with(ctx, [r["household_id"] for r in [*stalled, *holds]])
        stalled = [r for r in stalled if r["household_id"] not in withheld]
        holds = [h for h in holds if h["household_id"] not in withheld]
        return [
            {
                "kind": "match_stalled",
                "match_id": r["match_id"],
                "household_id": r["household_id"],
                "case_id": r["case_id"],
                "case_partner": r["case_partner"],
                "opportunity_id": r["opportunity_id"],
                "step": r["stalled_step"],
                "since": r["step_since"].isoformat(),
                "waiting_days": (ctx.today - r["step_since"]).days,
            }
            for r in stalled
        ] + [
            {
                "kind": "hold_ending",
                "household_id": h["household_id"],
                "case_id": h["case_id"],
                "case_partner": h["case_partner"],
                "reason": h["reason"],
                "until": h["until"].isoformat(),
                "waiting_days": 0,  # nothing waits yet: after the stalled steps
            }
            for h in holds
        ]


async def lock_city(conn: Conn, city: str) -> None:
    await conn.execute("select pg_advisory_xact_lock(hashtext($1))", f"housing-matching:{city}")


def _partner_of(ctx: Context) -> str | None:
    """The acting partner (who sees its own cases' households only); None for staff or an intake event."""
    return ctx.actor.id if ctx.actor is not None and ctx.actor.role is Role.PARTNER else None


def _waiting_entry(c: repo.Candidate, city_rules: rules.CityRules, today: date) -> Json:
    """A household's entry of the waiting list: its priority where housing knows the household in full (waiting,
    parked or matched), else only why it is blocked."""
    entry: Json = {"household_id": c.case["household_id"], "case_id": c.case["case_id"], "blocked": c.blocked}
    h = c.household
    if h is not None:
        entry |= {
            "priority": prio.priority(h, city_rules, today),
            "priority_breakdown": prio.breakdown(h, city_rules, today),
            "size": h.size,
            "minors": h.minors(today),
        }
    return entry


def _rule_checks(checks: list[rules.Check]) -> list[ev.RuleCheck]:
    return [ev.RuleCheck(rule=c.rule, passed=c.passed, detail=c.detail[:500]) for c in checks]


def _json(parts: list[ev.RuleCheck]) -> list[Json]:
    return [p.model_dump(mode="json") for p in parts]


def _reason(code: str, detail: str) -> Json:
    return {"code": code, "detail": detail}


def _db(value: Any) -> Any:
    """Enum members as their values for SQL parameters."""
    if isinstance(value, list):
        return [_db(v) for v in value]
    return getattr(value, "value", value)
