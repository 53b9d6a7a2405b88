"""Money tutoring: sessions with a household (topics, outcome) recorded by the case's partner or the city's
staff, and read back under the same rules as the rest of a case's payments data: the case's partner and the
city's staff read a case's sessions; a listing shows staff the city's, a partner its own cases' only."""

from __future__ import annotations

from typing import Any

from lgnet_shared.errors import ContractError, NotFound
from lgnet_shared.events import payments as ev
from lgnet_shared.ids import new_id
from lgnet_shared.pseudonymous import check_no_identifying_text

from lgnet_payments.adapters import repository as repo
from lgnet_payments.service_layer import commands as cmd
from lgnet_payments.service_layer.context import Context, UnitOfWork
from lgnet_payments.service_layer.contributions import known_case

COLUMNS = "session_id, case_id, household_id, city, topics, outcome, on_date, recorded_by"


def _view(row: Any) -> dict[str, Any]:
    out = dict(row)
    out["topics"] = list(out["topics"])
    out["on"] = out.pop("on_date").isoformat()
    return out


async def record(uow: UnitOfWork, ctx: Context, c: cmd.RecordTutoring) -> dict[str, Any]:
    case = await known_case(uow, ctx, c.case_id)
    on = c.on or ctx.today
    if on > ctx.today:
        raise ContractError("on", "is in the future")
    for n, topic in enumerate(c.topics):  # free codes, in clear on payments' topic for good
        check_no_identifying_text(topic, f"topics.{n}")
    session_id = new_id()
    await uow.conn.execute(
        "insert into tutoring_sessions (session_id, household_id, case_id, city, topics, on_date, recorded_by,"
        " outcome) values ($1, $2, $3, $4, $5, $6, $7, $8)",
        session_id,
        case["household_id"],
        case["case_id"],
        case["city"],
        list(c.topics),
        on,
        ctx.actor.id,
        c.outcome.value if c.outcome else None,
    )
    await uow.emit(
        ctx,
        case["city"],
        ev.TutoringSessionRecorded(
            session_id=session_id,
            household_id=case["household_id"],
            case_id=case["case_id"],
            city=case["city"],
            topics=list(c.topics),
            on=on,
            outcome=c.outcome,
        ),
    )
    return await _one(uow, session_id)


async def _one(uow: UnitOfWork, session_id: str) -> dict[str, Any]:
    row = await uow.conn.fetchrow(f"select {COLUMNS} from tutoring_sessions where session_id = $1", session_id)
    if row is None:
        raise NotFound("session_id", f"no tutoring session {session_id}")
    return _view(row)


async def read(uow: UnitOfWork, ctx: Context, session_id: str) -> dict[str, Any]:
    session = await _one(uow, session_id)
    absent = NotFound("session_id", f"no tutoring session {session_id}")
    if ctx.elsewhere(session["city"]):
        raise absent
    ctx.on_case(await repo.case(uow.conn, session["case_id"]), "session_id", read=True, absent=absent)
    return session


async def listing(uow: UnitOfWork, ctx: Context, case_id: str | None, household_id: str | None) -> list[dict[str, Any]]:
    """The sessions of the actor's city (a partner: of its own cases), newest first, by case or household."""
    if case_id is not None:
        ctx.on_case(await repo.case(uow.conn, case_id), "query.case_id", read=True)
    if household_id is not None:
        ctx.on_household(await repo.household_cases(uow.conn, household_id), "query.household_id")
    rows = await uow.conn.fetch(
        f"select {COLUMNS} from tutoring_sessions where city = $1 and ($2::text is null or case_id = $2)"
        " and ($3::text is null or household_id = $3)"
        f" and ($4::text is null or case_id in {repo.partners_readable_cases(4)})"
        " order by on_date desc, session_id",
        ctx.city,
        case_id,
        household_id,
        ctx.partner,
    )
    return [_view(r) for r in rows]
