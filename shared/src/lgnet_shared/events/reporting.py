"""Reporting events (DESIGN section 4, "reporting"), owned by the reporting service.

A published report is announced with its canonical digest and the log positions it covers, so an auditor can
replay the log up to those positions and check that the same numbers come out (docs/reporting.md).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import ConfigDict, Field

from lgnet_shared.events.base import Event, event
from lgnet_shared.events.types import Code, Id

Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256, lower-case hex")]


@event("lgnet.reporting.report_published", key="report_id")
class ReportPublishedV1(Event):
    """A report was published: its canonical JSON hashes to `digest`, computed from the log up to `positions`."""

    model_config = ConfigDict(title="ReportPublished")  # its published schema's title

    report_id: Id
    report: Code = Field(description="Which report, e.g. city_summary, national")
    scope: Code = Field(description="City code, or 'national' for the suppressed national aggregate")
    as_of: date
    digest: Sha256 = Field(description="SHA-256 hex of the canonical report JSON")
    positions: dict[str, dict[str, int]] = Field(
        description="Physical topic -> partition -> next offset covered (offsets below it are in the report)"
    )
    published_at: datetime
    period_from: date | None = Field(default=None, description="Start of the reporting period, when one was asked")


@event("lgnet.reporting.report_published", version=2, key="report_id")
class ReportPublishedV2(ReportPublishedV1):
    """v2 adds `method`: the counting rules the report was computed with (docs/reporting.md, "Methods"). Reports
    announced by v1 were computed with method 1 (no consent check, vulnerabilities per household); an auditor's
    replay recomputes each report with its own method, so a report published then still reproduces."""

    method: int = Field(default=1, ge=1, description="Counting rules version (docs/reporting.md, Methods)")


@event("lgnet.reporting.report_published", version=3, key="report_id")
class ReportPublished(ReportPublishedV2):
    """v3 adds `threshold`: the small-cell threshold the report was computed with (the national aggregate's
    suppression; a city summary suppresses nothing). It is in the digested document, so the auditors' replay needs
    it: with it, a replay no longer depends on the auditor's setting. v1/v2 are upcast with it unknown (null): the
    replay uses 5, the default, or the auditor's LGNET_REPORTING_MIN_CELL (docs/reporting.md, auditors' replay)."""

    threshold: int | None = Field(
        default=None, ge=1, description="Small-cell threshold of the suppression; null: not recorded (before v3)"
    )
