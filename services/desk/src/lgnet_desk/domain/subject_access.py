"""The printout handed to a person who asks who looked at her data (GDPR art. 15): each row one time her data was
looked at. Pure: the DPO's access-log rows in, the printout's rows out.

A view at the desk is in the desk's log (the operator, the purpose) and in the services' logs too, marked `via` the
desk (each read the page made: intake's record, its diary notes, its documents): one cartella opened printed four
rows, all "allo sportello" (a DPO's review). On the printout a service's read made through the desk is folded into
the desk's entry of the same operator, the same outcome and the same moment, which lists what was read with it
(`also`); the DPO's own log and CSV keep every entry. No entry carries the desk request it was made in (the
services' logs keep no request id), so "the same moment" is a window: the desk writes its entry once the service
has answered the page's first read, and the page's other reads follow within its request; the nearest entry within
`FOLD_WINDOW` either side takes the read. A read through the desk with no desk entry of that operator near it keeps
its row, as does every read by an organisation's own software (`via` api)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

FOLD_WINDOW = timedelta(seconds=3)


def folded(
    rows: list[dict[str, Any]], actor_of: Mapping[str, str | None], window: timedelta = FOLD_WINDOW
) -> list[dict[str, Any]]:
    """`rows` (the access log's, `access_log.merged`) as the printout lists them, in their order: each desk entry with
    `also`, the actions of the services' reads folded into it. `actor_of`: each desk operator's actor on the services
    (by username; a cooperative's operator's is the cooperative's), which names her in their logs."""
    out = [r | {"also": []} if r["source"] == "desk" else r for r in rows]
    desk = [r for r in out if r["source"] == "desk" and actor_of.get(str(r["operator"]))]
    gone: set[int] = set()
    for i, r in enumerate(out):
        if r["source"] == "desk" or r.get("via") != "desk":
            continue
        near = [
            d
            for d in desk
            if actor_of.get(str(d["operator"])) == r["actor"]
            and d["outcome"] == r["outcome"]
            and abs(d["at"] - r["at"]) <= window
        ]
        if near:
            min(near, key=lambda d: abs(d["at"] - r["at"]))["also"].insert(0, r["action"])  # oldest first: as read
            gone.add(i)
    return [r for i, r in enumerate(out) if i not in gone]
