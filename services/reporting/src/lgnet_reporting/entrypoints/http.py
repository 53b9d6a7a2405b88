"""Reporting's HTTP API (OpenAPI at /docs). Thin: authenticate, check who may see which scope, compute from a
consistent snapshot, answer JSON or an export. City staff and partners see their own city's exact numbers (and
the suppressed national aggregate); the national role sees only the suppressed national aggregate; the auditor reads
every report of every city (never publishes, never drills down: docs/reporting.md, "Who may read what").

Every JSON answer's body is documented by a model of `responses` (the OpenAPI only; what is sent is the handler's
answer as it is). Routes return `Any` rather than `dict[str, Any]`, which FastAPI would merge into the model's."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from lgnet_shared import clock
from lgnet_shared.auth import Actor, Role, Who
from lgnet_shared.cities import programme_cities
from lgnet_shared.errors import ContractError, Forbidden, NotFound
from lgnet_shared.events.types import IsoDate
from lgnet_shared.http import CreateKey, idempotent, problem_responses
from lgnet_shared.service import Runtime
from pydantic import BaseModel, ConfigDict, Field

from lgnet_reporting import settings
from lgnet_reporting.adapters import anchors, exports, store
from lgnet_reporting.domain import fund, labels, no_data
from lgnet_reporting.domain import national as reports
from lgnet_reporting.domain.anchoring import Anchor
from lgnet_reporting.domain.drilldown import NoDrillDown, behind
from lgnet_reporting.domain.indicators import Window
from lgnet_reporting.domain.statement import statement
from lgnet_reporting.entrypoints import responses as r
from lgnet_reporting.service_layer.anchoring import Anchoring
from lgnet_reporting.service_layer.reports import Request as ReportRequest
from lgnet_reporting.service_layer.reports import compute, facts_of, publish

ERRORS = problem_responses(without=(409,))
# Dates are YYYY-MM-DD (`IsoDate`), as the OpenAPI's `format: date` says: pydantic's lax `date` took `0` as 1970-01-01.
AsOf = Annotated[
    IsoDate | None,
    Query(description="Report as of this date (event time); default today (Italy's date); not after today"),
]
From = Annotated[IsoDate | None, Query(alias="from", description="Start of the period (inclusive)")]
To = Annotated[
    IsoDate | None, Query(description="End of the period (inclusive); the report is as of this date; not after today")
]
City = Annotated[str | None, Query(description="City of a city_summary; default the actor's city")]
ReportName = Literal["city_summary", "national"]
Lang = Annotated[
    Literal["it", "en"], Query(description="Language of labels, numbers and dates: Italian (default) or English")
]
EXPORT_TYPES = tuple(exports.MEDIA_TYPES.values())
Format = Annotated[Literal["csv", "xlsx", "pdf"], Query(description="File format")]
FILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The report file (Content-Disposition: attachment; X-Report-Digest: its digest)",
        "content": {m.split(";")[0]: {"schema": {"type": "string", "format": "binary"}} for m in EXPORT_TYPES},
    }
}


def file_name(body: dict[str, Any], format: str, lang: str, prefix: str = "", report_id: str | None = None) -> str:
    """A file's name says which report it is: its whole period (`<from>--<as of>`, as the replay's files), so a
    period's report never takes the name of the report as of its last day, and a published report's id."""
    period = f"{body['period_from']}--{body['as_of']}" if body.get("period_from") else body["as_of"]
    published = f"-{report_id}" if report_id else ""
    return f"{prefix}{body['report']}-{body['scope']}-{period}{published}-{lang}.{format}"


def report_file(body: dict[str, Any], format: str, lang: str, report_id: str | None = None) -> Response:
    """The report (with its digest) as a file in the reader's language."""
    name = file_name(body, format, lang, report_id=report_id)
    return Response(
        exports.RENDER[format](body, lang),
        media_type=exports.MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="{name}"', "X-Report-Digest": body["digest"]},
    )


def window(as_of: date | None, period_from: date | None, to: date | None, at: str = "query.") -> Window:
    """The report's dates; `at`: where the fields are (the query's, or a publication's body: "")."""
    if as_of is not None and to is not None and as_of != to:
        raise ContractError(f"{at}to", "give either as_of or to (a period's report is as of its end)")
    today = clock.today()
    w = Window(to or as_of or today, period_from)
    if refused := w.refused(today):
        field, reason = refused
        raise ContractError(f"{at}{'to' if field == 'as_of' and to else field}", reason)
    return w


def scope_of(
    actor: Actor,
    report: str,
    city: str | None,
    at: tuple[str, str] = ("path.report", "query.city"),
    served: str | None = None,
    stored: bool = False,
) -> str:
    """Who sees what: the national role only the national aggregate; the auditor every city's report (naming it; on a
    city's own deployment, `served`, that city's only); others their own city (and national). `at`: the fields a
    refusal names, of the report and of the city (a published report's route has only its id). A city named must be
    one of the programme's (`programme_cities`): an unknown or wrongly capitalised one (`Trieste`) read as a city
    with no facts, a report of zeros (422 naming the valid codes). `stored`: a published report's city, as it was
    published, is not checked."""
    if report == reports.NATIONAL:
        return reports.NATIONAL
    if city is not None and not stored and city not in (cities := programme_cities()):
        raise ContractError(at[1], f"{city!r} is not a city of the programme: one of {', '.join(cities)}")
    if actor.role is Role.NATIONAL:
        raise Forbidden(at[0], "the national role sees only the suppressed national aggregate")
    if actor.role is Role.AUDITOR:
        if not city:  # an auditor has no city of its own to default to
            raise ContractError(at[1], "the auditor role names the city of a city_summary (e.g. city=torino)")
        if served is not None and city != served:  # a city's deployment holds its city's facts only
            raise Forbidden(at[1], f"this deployment serves {served}, not {city}")
        return city
    wanted = city or actor.city or ""
    if wanted != actor.city:
        raise Forbidden(at[1], f"{actor.role.value} of {actor.city} cannot read {wanted}'s report")
    return wanted


class PublishBody(BaseModel):
    # A field it does not know is refused: "form" (from, mistyped) published the report as of `as_of` for ever.
    model_config = ConfigDict(extra="forbid")

    city: str | None = Field(default=None, description="City of a city_summary; default the actor's city")
    as_of: IsoDate | None = None
    period_from: IsoDate | None = Field(default=None, alias="from")
    to: IsoDate | None = None


def _staff_scope(actor: Actor, city: str | None) -> str:
    """Pseudonymous ids and the payments list are for the staff of the city only."""
    if actor.role is not Role.STAFF:
        raise Forbidden("", "only the city's staff see ids and payments behind the figures")
    return scope_of(actor, reports.CITY_SUMMARY, city)


def _statement_scope(actor: Actor, city: str | None, served: str | None) -> str:
    """The financial statement: the city's staff, and the auditor (any city: the accounts are what an audit checks;
    without the payments behind each line, whose request and case ids are the drill-down)."""
    if actor.role is Role.AUDITOR:
        return scope_of(actor, reports.CITY_SUMMARY, city, served=served)
    return _staff_scope(actor, city)


def _without_payments(body: dict[str, Any]) -> dict[str, Any]:
    """The statement with each line's `payments` (request and case ids: the drill-down) null; its totals kept."""
    return {**body, "lines": [{**line, "payments": None} for line in body["lines"]]}


async def publisher(actor: Who) -> Actor:
    """The caller of a publication: the auditor refused by role before the request is read (as `auth.Writer`)."""
    if actor.role is Role.AUDITOR:
        raise Forbidden("", "the auditor role reads reports and never publishes them")
    return actor


Publisher = Annotated[Actor, Depends(publisher)]


def router(runtime: Runtime) -> APIRouter:
    api = APIRouter(prefix="/reports", tags=["reporting"], responses=ERRORS)

    async def one(actor: Actor, report: str, city: str | None, w: Window) -> dict[str, Any]:
        request = ReportRequest(report, scope_of(actor, report, city, served=runtime.settings.city_filter), w)
        (done,) = await compute(runtime.pool, [request], settings.min_cell())
        return {**done.body, "digest": done.digest, "positions": done.positions}

    anchoring: list[Anchoring] = []  # one reader of the reports' records and checkpoints, made on first use

    async def refreshed() -> None:
        if not anchoring:
            cfg = runtime.settings
            anchoring.append(
                Anchoring(runtime.pool, cfg.kafka_bootstrap_servers, cfg.topic_prefix, settings.notary_verifiers())
            )
            runtime.closers.append(anchoring[0].stop)
        await anchoring[0].refresh()

    async def anchored(body: dict[str, Any]) -> dict[str, Any]:
        """The body with `anchor`: the notary checkpoint anchoring the published report with this digest, or None
        (not published, or published and not yet covered by a checkpoint). Outside the digested document. The log
        is read only for a published report not yet anchored: an anchor never changes once known, and a digest
        never published has none to find (a live report costs no Kafka round trip)."""

        async def lookup() -> tuple[str, Anchor | None] | None:
            async with runtime.pool.acquire() as conn:
                return await anchors.anchor_for(
                    conn, body["report"], body["scope"], body["digest"], runtime.settings.topic_prefix
                )

        found = await lookup()
        if found is not None and found[1] is None:
            await refreshed()
            found = await lookup()
        anchor = found[1] if found else None
        return {**body, "anchor": {"report_id": found[0], **anchor.as_json()} if found and anchor else None}

    @api.get(
        "/labels",
        summary="Labels and one-line definitions of every indicator, measure and category",
        responses=r.answers(r.Labels, "The catalogue"),
    )
    async def get_labels(actor: Who, lang: Lang = "it") -> Any:
        served = runtime.settings.city_filter  # a city's own reporting reports that city only
        return labels.catalogue(lang, programme_cities() if served is None else (served,))

    @api.get(
        "/financial_statement",
        summary="Budget, paid, committed and remaining per budget line (city staff; the auditor without the payments)",
        responses=r.answers(r.FinancialStatement, "The statement"),
    )
    async def financial_statement(
        actor: Who, city: City = None, as_of: AsOf = None, period_from: From = None, to: To = None
    ) -> Any:
        scope = _statement_scope(actor, city, runtime.settings.city_filter)
        positions, facts = await facts_of(runtime.pool)
        found = statement(facts, window(as_of, period_from, to), scope)
        return {**(_without_payments(found) if actor.role is Role.AUDITOR else found), "positions": positions}

    @api.get(
        "/city_summary/drilldown",
        summary="The pseudonymous ids and cases behind one figure (city staff)",
        responses=r.answers(r.DrillDown, "What the figure counts"),
    )
    async def drilldown(
        actor: Who,
        figure: Annotated[str, Query(description="Figure path, e.g. persons.total, persons_by_action_area.desk")],
        city: City = None,
        as_of: AsOf = None,
        period_from: From = None,
        to: To = None,
    ) -> Any:
        scope = _staff_scope(actor, city)
        positions, facts = await facts_of(runtime.pool)
        try:
            found = behind(facts, window(as_of, period_from, to), scope, figure)
        except NoDrillDown as exc:
            raise ContractError("query.figure", str(exc)) from None
        return {**found, "scope": scope, "positions": positions}

    @api.get(
        "/published",
        summary="Reports published so far (digest and log positions of each)",
        responses=r.answers(list[r.PublishedReport], "Oldest first"),
    )
    async def list_published(actor: Who) -> Any:
        scopes = {
            Role.NATIONAL: [reports.NATIONAL],
            Role.AUDITOR: None,  # every published report
        }.get(actor.role, [reports.NATIONAL, actor.city or ""])
        async with runtime.pool.acquire() as conn:
            return await store.published(conn, scopes)

    async def published_report(actor: Actor, report_id: str) -> dict[str, Any]:
        """A published report as it was published (stored body, digest, positions) with its anchor; the same
        rights as the report itself."""
        async with runtime.pool.acquire() as conn:
            found = await store.published_one(conn, report_id)
        absent = NotFound("path.report_id", f"no published report {report_id}")
        if found is None:
            raise absent
        city = found["scope"] if found["report"] != reports.NATIONAL else None
        try:
            scope_of(actor, found["report"], city, at=("path.report_id", "path.report_id"), stored=True)
        except Forbidden:  # another city's report is one that does not exist (a 403 told its id exists)
            raise absent from None
        async with runtime.pool.acquire() as conn:
            anchor = await anchors.anchor_of(conn, report_id, runtime.settings.topic_prefix)
        if anchor is None:  # not yet known: read the log's newest records and checkpoints
            await refreshed()
            async with runtime.pool.acquire() as conn:
                anchor = await anchors.anchor_of(conn, report_id, runtime.settings.topic_prefix)
        return {**found, "anchor": {"report_id": report_id, **anchor.as_json()} if anchor else None}

    @api.get(
        "/published/{report_id}",
        summary="One published report, with its canonical body",
        responses=r.answers(r.PublishedReportDetail, "The published report"),
    )
    async def get_published(report_id: str, actor: Who) -> Any:
        found = await published_report(actor, report_id)
        return {**found, "no_data": no_data.paths(found["body"])}

    @api.get(
        "/published/{report_id}/export",
        summary="A published report as CSV, XLSX or PDF: its body as published, its digest and anchor",
        response_class=Response,
        responses=FILE_RESPONSES,
    )
    async def export_published(report_id: str, actor: Who, format: Format, lang: Lang = "it") -> Response:
        # Not recomputed: late or back-dated facts change a report computed again for the same as_of, never the
        # one published (the auditors' replay reproduces it from its positions).
        found = await published_report(actor, report_id)
        body = {**found["body"], **{k: found[k] for k in ("digest", "positions", "anchor")}}
        return report_file(body, format, lang, report_id)

    @api.get(
        "/{report}/fund",
        summary="The fund's indicators (AMIF Annex VIII, FAMI 2014-2020) from the report",
        responses=r.answers(r.FundIndicators, "The fund's indicators"),
    )
    async def fund_indicators(
        report: ReportName,
        actor: Who,
        city: City = None,
        as_of: AsOf = None,
        period_from: From = None,
        to: To = None,
        lang: Lang = "it",
    ) -> Any:
        body = await one(actor, report, city, window(as_of, period_from, to))
        head = {k: body[k] for k in ("report", "scope", "as_of", "period_from", "digest", "positions")}
        return {**head, "figures": fund.figures(body, lang)}

    @api.get(
        "/{report}/fund/export",
        summary="The fund's indicators as CSV or XLSX (the managing authority's table)",
        response_class=Response,
        responses={200: {"content": {m: {"schema": {"type": "string", "format": "binary"}} for m in (
            "text/csv", exports.MEDIA_TYPES["xlsx"])}}},
    )  # fmt: skip
    async def fund_export(
        report: ReportName,
        actor: Who,
        format: Annotated[Literal["csv", "xlsx"], Query(description="File format")],
        city: City = None,
        as_of: AsOf = None,
        period_from: From = None,
        to: To = None,
        lang: Lang = "it",
    ) -> Response:
        body = await one(actor, report, city, window(as_of, period_from, to))
        figures = fund.figures(body, lang)
        content = exports.fund_csv(body, figures, lang) if format == "csv" else exports.fund_xlsx(body, figures, lang)
        name = file_name(body, format, lang, prefix="fund-")
        return Response(
            content,
            media_type=exports.MEDIA_TYPES[format],
            headers={"Content-Disposition": f'attachment; filename="{name}"', "X-Report-Digest": body["digest"]},
        )

    @api.get(
        "/{report}",
        summary="A report as JSON, with its canonical digest and the log positions it covers",
        responses=r.answers(r.Report, "The report"),
    )
    async def get_report(
        report: ReportName, actor: Who, city: City = None, as_of: AsOf = None, period_from: From = None, to: To = None
    ) -> Any:
        body = await anchored(await one(actor, report, city, window(as_of, period_from, to)))
        return {**body, "no_data": no_data.paths(body)}  # outside the digested document, like `anchor`

    @api.get(
        "/{report}/export",
        summary="A report as CSV, XLSX or PDF (the same numbers as the JSON), computed for the period asked",
        response_class=Response,
        responses=FILE_RESPONSES,
    )
    async def export(
        report: ReportName,
        actor: Who,
        format: Format,
        city: City = None,
        as_of: AsOf = None,
        period_from: From = None,
        to: To = None,
        lang: Lang = "it",
    ) -> Response:
        body = await one(actor, report, city, window(as_of, period_from, to))
        if format == "pdf":  # the document a city sends names the checkpoint anchoring it, once there is one
            body = await anchored(body)
        return report_file(body, format, lang)

    @api.post(
        "/{report}/publish",
        status_code=201,
        summary="Publish a report: recorded and announced as an event",
        responses={
            **r.answers(r.Publication, "The report_published event announced", 201),
            409: problem_responses(s409="The Idempotency-Key was already used for another request")[409],
        },
    )
    async def publish_report(
        report: ReportName,
        body: PublishBody,
        actor: Publisher,
        request: Request,
        key: CreateKey,
    ) -> JSONResponse:
        w = window(body.as_of, body.period_from, body.to, at="")
        scope = scope_of(actor, report, body.city, at=("path.report", "city"))
        if report == reports.NATIONAL and actor.role is not Role.NATIONAL:
            raise Forbidden("path.report", "only the national role publishes the national aggregate")
        if actor.role is Role.PARTNER:
            raise Forbidden("", "partners read reports; city staff publish them")

        async with runtime.pool.acquire() as conn, conn.transaction():

            async def run() -> Any:
                return await publish(runtime.pool, conn, ReportRequest(report, scope, w), settings.min_cell(), actor.id)

            return await idempotent(conn, actor.id, key, {"report": report, **body.model_dump(mode="json")}, run)

    return api
