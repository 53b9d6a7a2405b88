"""Each person's consent to sharing with partners, as the services that answer a partner about a household keep it
(housing, payments): intake's fact `consent_recorded`, purpose `partner_sharing`, read off `intake.events`. The state
now, one row per person in the service's schema; a consent recorded late, dated before the last one, does not replace
it (as intake keeps it). Which members' consent a service's answers need is the service's rule (docs/partners.md)."""

from __future__ import annotations

from datetime import date
from typing import Any

_TABLE = """
        create table partner_sharing (
            person_id text primary key,
            granted boolean not null,
            recorded_on date not null
        );
        -- The consents recorded before this upgrade were read and skipped (no handler then): the intake consumer reads
        -- intake.events again from its start (at start-up its group is rewound to the positions recorded here; the
        -- inbox recognises every event already applied, so only what had no handler is applied now).
        do $$ begin
            if to_regclass('consumer_positions') is not null then
                update consumer_positions set next_offset = 0
                    where consumer like '%.intake' and topic like '%intake.events';
            end if;
        end $$;
"""


def migration(name: str, rule: str) -> tuple[str, str]:
    """The service's migration `name` making the table; `rule`: whose consent its answers to a partner need (an SQL
    comment)."""
    return name, f"\n        -- {rule}\n{_TABLE}        "


async def record(conn: Any, person_id: str, granted: bool, on: date) -> None:
    """A person's consent to sharing with partners, given or withdrawn."""
    await conn.execute(
        "insert into partner_sharing values ($1, $2, $3) on conflict (person_id)"
        " do update set granted = excluded.granted, recorded_on = excluded.recorded_on"
        " where partner_sharing.recorded_on <= excluded.recorded_on",
        person_id,
        granted,
        on,
    )


async def forget(conn: Any, person_id: str) -> None:
    """An erased person's consent: nothing of hers is shared any more."""
    await conn.execute("delete from partner_sharing where person_id = $1", person_id)
