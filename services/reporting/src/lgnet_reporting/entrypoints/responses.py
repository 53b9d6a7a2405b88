"""What reporting's routes answer, for the OpenAPI document. `http.py` attaches them as `responses=`, documentation
only: the handlers' answers are sent as they are, never filtered or re-serialised through these models. The tests
check every answer they receive against them (`lgnet_shared.testing.answers`).

A report's document is declared down to its parameters and its rows per city; its `indicators` tree is described in
docs/reporting.md (a cell is null when suppressed or without data; `no_data` lists the latter) and left open here, as
its tables follow the vocabulary lists. The announcement of a publication is its event's model (`ReportPublished`)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from lgnet_shared.events.reporting import ReportPublished
from lgnet_shared.http import answers as answers  # the routes read it as `r.answers`
from pydantic import BaseModel, ConfigDict, Field

OPEN = ConfigDict(extra="ignore")  # no `additionalProperties: false` in the answer's schema
Positions = dict[str, dict[str, int]]
POSITIONS = "Physical topic -> partition -> next offset covered (offsets below it are in the report)"


class IndicatorLabel(BaseModel):
    label: str
    definition: str


class Labels(BaseModel):
    """Every label and definition a report's reader needs, in one language."""

    lang: Literal["it", "en"]
    cities: dict[str, str] = Field(
        description="The programme's cities on this cluster (LGNET_PROGRAMME_CITIES), reported yet or not: code -> name"
    )
    indicators: dict[str, IndicatorLabel] = Field(description="Indicator code -> its label and definition")
    measures: dict[str, str] = Field(description="Measure code -> label")
    terms: dict[str, str] = Field(description="Term code -> label")
    categories: dict[str, dict[str, str]] = Field(description="Table -> category code -> label")
    suppressed_note: str | None
    no_data_note: str | None


class Columns(BaseModel):
    budget_cents: int
    paid_cents: int
    committed_cents: int
    vouchers_cents: int
    remaining_cents: int
    paid_in_period_cents: int


class Payment(BaseModel):
    request_id: str
    case_id: str
    kind: str
    amount_cents: int
    paid_on: date


class StatementLine(Columns):
    budget_line_id: str
    line: str = Field(description="The budget line's category")
    payments: list[Payment] | None = Field(
        description="Paid in the period; null to the auditor role (their request and case ids are the drill-down)"
    )


class FinancialStatement(BaseModel):
    """Budget, paid, committed and remaining per budget line of the city, in integer euro cents."""

    report: Literal["financial_statement"]
    scope: str
    as_of: date
    period_from: date | None
    lines: list[StatementLine]
    by_category: dict[str, Columns]
    totals: Columns
    payments_not_reported: list[str] = Field(
        description="The city, when it has no payments fact on or before as_of (it runs no payments service on LgNet):"
        " its zeros are not a budget of nothing"
    )
    positions: Positions = Field(description=POSITIONS)


class PersonBehind(BaseModel):
    person_id: str = Field(description="Pseudonymous")
    cases: list[str]


class CaseOpenedBehind(BaseModel):
    case_id: str
    opened_on: date


class CaseClosedBehind(BaseModel):
    case_id: str
    closed_on: date


class PlacementBehind(BaseModel):
    placement_id: str
    case_id: str
    started_on: date


class PaymentBehind(BaseModel):
    request_id: str
    case_id: str
    amount_cents: int
    paid_on: date


class DrillDown(BaseModel):
    """What one figure counts: persons, cases, placements or payments, each with the cases it comes from."""

    figure: str
    count: int
    items: list[PersonBehind | CaseOpenedBehind | CaseClosedBehind | PlacementBehind | PaymentBehind]
    no_data: bool = Field(
        description="The figure has no data (the report reads n.d.): the city has no fact of the service on or before"
        " as_of (no housing or payments service of its on LgNet), so no item, not zero of them"
    )
    scope: str
    positions: Positions = Field(description=POSITIONS)


class Anchor(BaseModel):
    """The notary checkpoint that anchors a published report."""

    report_id: str
    origin: str
    tree_size: int
    root_hash: str
    checkpointed_at: datetime | None
    note: str


class CityRow(BaseModel):
    """A city's row of the national aggregate (null: suppressed)."""

    persons: int | None
    minors: int | None
    adults: int | None
    age_unknown: int | None
    households: int | None
    cases_opened: int | None
    placements_started: int | None
    paid_count: int | None
    paid_cents: int | None


class Suppression(BaseModel):
    threshold: int
    hidden_cells: int


class ReportHead(BaseModel):
    """Which report, of which scope, as of when."""

    report: Literal["city_summary", "national"]
    scope: str = Field(description="City code, or 'national'")
    as_of: date
    period_from: date | None


class Digested(ReportHead):
    digest: str = Field(description="SHA-256 hex of the canonical report JSON")
    positions: Positions = Field(description=POSITIONS)


class ReportDocument(ReportHead):
    """The report document whose canonical JSON is digested: parameters and numbers."""

    method: int | None = Field(default=None, description="Counting rules version; absent: method 1")
    by_city: dict[str, CityRow] | None = Field(default=None, description="The national aggregate's rows")
    payments_not_reported: list[str] | None = Field(
        default=None,
        description="The national aggregate's cities with no payments fact on or before as_of (from method 8): a city"
        " running no payments service; their money cells are listed in `no_data`, not EUR 0 paid",
    )
    housing_not_reported: list[str] | None = Field(
        default=None,
        description="The report's cities with no housing fact (opportunity listed, placement started, lease signed) on"
        " or before as_of (from method 9): a city running no housing service; their placements' cells are listed in"
        " `no_data`, not 0 placements",
    )
    suppression: Suppression | None = Field(default=None, description="The national aggregate's")
    indicators: dict[str, Any] = Field(description="The indicators' tables (docs/reporting.md)")


class Report(ReportDocument, Digested):
    anchor: Anchor | None = Field(description="Once published and covered by a notary checkpoint")
    no_data: list[str] = Field(description="Cells with no data, as dotted paths")


class PublishedReport(Digested):
    report_id: str
    published_by: str
    published_at: datetime


class PublishedReportDetail(PublishedReport):
    body: ReportDocument = Field(description="The document as published")
    anchor: Anchor | None
    no_data: list[str]


class FundFigure(BaseModel):
    code: str
    framework: str
    kind: str
    unit: str
    label: str
    definition: str
    derivable: bool
    source: str | None = Field(description="The report's path it comes from")
    value: int | float | None = Field(description="Null: suppressed, not derivable, not counted or not reported")
    no_data: bool
    why_not: str | None


class FundIndicators(Digested):
    figures: list[FundFigure]


class Publication(ReportPublished):
    """The report_published event announced."""

    model_config = OPEN
