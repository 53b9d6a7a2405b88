"""Which notary checkpoint anchors a published report (pure, no I/O).

A report is published as a `report_published` record on `reporting.events`, at some partition and offset. The
notary signs checkpoints of that topic-partition (C2SP signed notes on `lgnet.checkpoints`); the first one whose
tree covers the record (tree size > its offset) anchors the report's digest: from then on the log cannot be
rewritten under the report without the notary's signed history showing it (`lgnet-audit verify`).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lgnet_shared.checkpoints import Checkpoint, origin_of, split_origin

from lgnet_reporting.domain.national import CITY_SUMMARY, NATIONAL

REPORTS_TOPIC = "reporting.events"


@dataclass(frozen=True)
class Anchor:
    """A signed checkpoint of the reports' topic-partition, as reporting keeps it."""

    origin: str  # [<topic prefix>]lgnet/reporting.events/<partition>
    tree_size: int
    root_hash: str  # base64, as in the signed note
    note: str  # the signed note itself (anyone can check it with the notary's verifier key)
    checkpointed_at: datetime | None  # when the notary published it (the Kafka record's time)

    @classmethod
    def of(cls, cp: Checkpoint, at: datetime | None) -> Anchor:
        return cls(cp.origin, cp.size, base64.b64encode(cp.root).decode(), cp.note, at)

    def as_json(self) -> dict[str, Any]:
        return {
            "origin": self.origin,
            "tree_size": self.tree_size,
            "root_hash": self.root_hash,
            "checkpointed_at": self.checkpointed_at.isoformat() if self.checkpointed_at else None,
            "note": self.note,
        }


def of_reports(origin: str, prefix: str = "") -> bool:
    """Is this a checkpoint of the reports' topic of the log under `prefix` (the only ones that anchor its
    reports)? A checkpoint of another prefix's log, signed by a notary sharing the key, is not."""
    where = split_origin(origin)
    return where is not None and where[:2] == (prefix, REPORTS_TOPIC)


def announcer_problem(city: str | None, deployment: str, report: str, scope: str) -> str | None:
    """Why a `report` of `scope` announced (signed) by `deployment`, a deployment of `city`, is not a report that
    deployment publishes, or None: a city's deployment publishes its own city's summary, the national deployment
    any report."""
    if city == NATIONAL or (report == CITY_SUMMARY and scope == city):
        return None
    return (
        f"a {report} of {scope} announced by {deployment} (a deployment of {city or 'no city'}), which publishes only"
        f" {f'the city summary of {city}' if city else 'nothing'}"
    )


def covering(partition: int, offset: int, checkpoints: Iterable[Anchor], prefix: str = "") -> Anchor | None:
    """The first checkpoint of the record's topic-partition whose tree covers the record, if any yet."""
    name = origin_of(REPORTS_TOPIC, partition, prefix)
    found = [a for a in checkpoints if a.origin == name and a.tree_size > offset]
    return min(found, key=lambda a: a.tree_size) if found else None
