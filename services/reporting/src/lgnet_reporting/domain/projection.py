"""From events to report facts: which rows each event adds or changes in the report tables. Pure.

Every table row is written only by events of one aggregate (one Kafka key, hence one partition), so the order in
which different partitions are read never changes the result: the live consumer and the auditors' replay, which
read partitions in different interleavings, build identical tables. Two kinds of write exist:
- `insert`: the first write of a key wins (facts that never change: a referral, a redemption);
- `upsert`: the given columns are overwritten (a case opened then closed; a person corrected).
Dates are the events' own business dates; events without one (registration, household formed, merge, opportunity
listed) use the envelope's time as a day on Italy's calendar (Europe/Rome, `lgnet_shared.clock.today`), as every
other date of the programme: the UTC day dated a fact of 00:30 in Rome by the day before (method 12). Nothing
identifying is kept: ids, dates and codes only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date
from operator import itemgetter
from typing import Any, Literal, NamedTuple

from lgnet_shared import clock
from lgnet_shared.envelope import Envelope
from lgnet_shared.events import Event
from lgnet_shared.events import housing as h
from lgnet_shared.events import intake as i
from lgnet_shared.events import payments as p

from lgnet_reporting.domain import civic, outreach, tutoring
from lgnet_reporting.domain.indicators import LOCAL_DAYS


@dataclass(frozen=True)
class Table:
    name: str
    key: tuple[str, ...]
    columns: dict[str, str]  # column -> PostgreSQL type, key columns included, in order

    @property
    def names(self) -> list[str]:
        return list(self.columns)


def _t(name: str, key: tuple[str, ...], **columns: str) -> Table:
    return Table(name, key, columns)


TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        # national_key: the pseudonymous cross-city key (person_registered v4), the national level's identity.
        _t("persons", ("person_id",), person_id="text", household_id="text", birth_date="date", sex="text",
           nationality="text", third_country="boolean", registered_on="date", national_key="text"),
        _t("person_merges", ("merged_person_id",), merged_person_id="text", surviving_person_id="text",
           merged_on="date"),
        _t("person_erasures", ("person_id",), person_id="text", erased_on="date"),
        # Every consent given or withdrawn (the latest dated on or before a report's as_of applies).
        _t("consents", ("event_id",), event_id="text", person_id="text", purpose="text", granted="boolean",
           recorded_on="date"),
        # Minor or adult at a case's opening, as intake computed it (birth dates travel sealed from
        # person_registered v3): from case_opened ("opened"), household_member_joined ("joined") and a corrected
        # birth date (person_updated, "corrected"). indicators.py decides between them; old events' birth dates
        # (persons.birth_date) still serve where no such fact exists.
        _t("member_ages", ("event_id", "person_id", "case_id"), event_id="text", person_id="text", case_id="text",
           source="text", minor="boolean"),
        _t("households", ("household_id",), household_id="text", city="text", reference_person_id="text",
           formed_on="date"),
        _t("memberships", ("event_id", "person_id"), event_id="text", person_id="text", household_id="text",
           change="text", on_date="date"),
        _t("referrals", ("referral_id",), referral_id="text", household_id="text", source="text",
           received_on="date"),
        _t("assessments", ("event_id",), event_id="text", case_id="text", household_id="text",
           vulnerabilities="text[]", employment_status="text", housing_situation="text", assessed_on="date"),
        # Vulnerabilities assessed per person (needs_assessed v3): whose each one is. `assessments.vulnerabilities`
        # keeps only those recorded per household (v1/v2, counted on every member as then).
        _t("person_vulnerabilities", ("event_id", "person_id"), event_id="text", person_id="text", case_id="text",
           vulnerabilities="text[]", assessed_on="date"),
        # Individual plans agreed (the fund's "individual guidance"): case and date.
        _t("plans", ("case_id", "plan_id"), case_id="text", plan_id="text", agreed_on="date"),
        _t("cases", ("case_id",), case_id="text", household_id="text", city="text", action_area="text",
           channel="text", partner="text", opened_on="date", closed_on="date", outcome="text"),
        _t("employment", ("event_id",), event_id="text", person_id="text", case_id="text", status="text",
           as_of="date"),
        _t("placements", ("placement_id",), placement_id="text", household_id="text", case_id="text", city="text",
           kind="text", started_on="date", ended_on="date", end_reason="text"),
        _t("leases", ("lease_id",), lease_id="text", placement_id="text", household_id="text", case_id="text",
           city="text", lease_type="text", monthly_rent_cents="bigint", deposit_cents="bigint", signed_on="date"),
        # Housing opportunities listed (id, city, the listing's day): that a city runs a housing service, before
        # its first placement (method 9's `housing_not_reported`). `listed_on` is Italy's day (method 12),
        # `listed_utc_on` the UTC day methods 9-11 read (`as_read_by`: their reports replay as published).
        _t("opportunities", ("opportunity_id",), opportunity_id="text", city="text", listed_on="date",
           listed_utc_on="date"),
        _t("budget_lines", ("budget_line_id",), budget_line_id="text", city="text", line="text"),
        # The budget's movements as the payments ledger books them (allocations, adjustments, requests, approvals,
        # rejections, vouchers issued and expired), one row per event: the financial statement's facts.
        _t("budget_facts", ("event_id",), event_id="text", kind="text", budget_line_id="text", city="text",
           request_id="text", voucher_id="text", amount_cents="bigint", on_date="date"),
        # A request paid: what it pays (paid_on/failed_on: its latest payment and failure, kept as older versions
        # wrote them; the reports read the dates from the two histories below).
        _t("contributions", ("request_id",), request_id="text", case_id="text", household_id="text", city="text",
           kind="text", budget_line_id="text", amount_cents="bigint", paid_on="date", failed_on="date"),
        # Every failed transfer (a request may fail, return to approval and be paid in a later batch).
        _t("contribution_failures", ("event_id",), event_id="text", request_id="text", city="text", failed_on="date"),
        # Every payment of a request (a returned one made to stand again, or paid by a later batch, is paid anew):
        # with the failures, what stood as paid on any day (indicators.standing).
        _t("contribution_payments", ("event_id",), event_id="text", request_id="text", city="text", paid_on="date"),
        _t("vouchers", ("voucher_id",), voucher_id="text", household_id="text", case_id="text", city="text",
           kind="text", value_cents="bigint", issued_on="date", expired_on="date", remaining_cents="bigint"),
        _t("voucher_redemptions", ("event_id",), event_id="text", voucher_id="text", amount_cents="bigint",
           redeemed_on="date"),
        _t(tutoring.TABLE, tutoring.KEY, **tutoring.COLUMNS),
        *(_t(name, key, **columns) for name, (key, columns) in civic.TABLES.items()),
        *(_t(name, key, **cols) for name, (key, cols) in outreach.TABLES.items()),  # #19
    )
}  # fmt: skip


def _key_of(t: Table) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """A row's key, always a tuple (itemgetter gives a bare value for a one-column key)."""
    if len(t.key) == 1:
        column = t.key[0]
        return lambda row: (row[column],)
    return itemgetter(*t.key)  # a tuple for two columns or more


_KEY_OF = {name: _key_of(t) for name, t in TABLES.items()}


class Write(NamedTuple):
    """A named tuple rather than a frozen dataclass: the replay builds one or two per event, and a tuple is built
    several times faster (a frozen dataclass sets each field through object.__setattr__)."""

    mode: Literal["insert", "upsert"]
    table: str
    row: dict[str, Any]  # key columns and the columns written

    @property
    def key(self) -> tuple[Any, ...]:
        return _KEY_OF[self.table](self.row)


def _ins(table: str, **row: Any) -> Write:
    return Write("insert", table, row)


def _ups(table: str, **row: Any) -> Write:
    return Write("upsert", table, row)


def event_key(env: Envelope) -> str:
    """Identity of an event for fact rows keyed by event: the same one the inbox deduplicates on."""
    return f"{env.source}|{env.id}"


def _day(env: Envelope) -> date:
    """The envelope's time as a day in Italy (00:30 in Rome on the 8th, 23:30 UTC on the 7th: the 8th)."""
    return clock.today(env.time)


def as_read_by(facts: dict[str, list[dict[str, Any]]], method: int) -> dict[str, list[dict[str, Any]]]:
    """The facts as a report of `method` reads them: before method 12 an opportunity was dated by its UTC day
    (`listed_utc_on`; a row projected before that column had its UTC day in `listed_on`), so a report published
    with methods 9-11 replays to its digest. The other days without a business date of their own (registration,
    household formed, merge) are read by no report."""
    if method >= LOCAL_DAYS:
        return facts
    utc = [{**r, "listed_on": r["listed_utc_on"] or r["listed_on"]} for r in facts["opportunities"]]
    return {**facts, "opportunities": utc}


Projector = Callable[[Envelope, Any], list[Write]]


def _person_registered(env: Envelope, e: i.PersonRegistered) -> list[Write]:
    return [
        _ups("persons", person_id=e.person_id, household_id=e.household_id, birth_date=e.birth_date, sex=e.sex.value,
             nationality=e.nationality, third_country=e.third_country, registered_on=_day(env),
             national_key=e.national_key)
    ]  # fmt: skip


def _person_updated(env: Envelope, e: i.PersonUpdated) -> list[Write]:
    changed = {
        k: (v.value if isinstance(v, i.Sex) else v)
        for k, v in (("birth_date", e.birth_date), ("sex", e.sex), ("nationality", e.nationality),
                     ("third_country", e.third_country), ("national_key", e.national_key))  # v3: a code given later
        if v is not None
    }  # fmt: skip
    ages = _ages(env, "corrected", ((e.person_id, c, m) for c, m in sorted((e.minor_in_cases or {}).items())))
    return ([_ups("persons", person_id=e.person_id, **changed)] if changed else []) + ages


def _ages(env: Envelope, source: str, pairs: Any) -> list[Write]:
    """member_ages rows for (person id, case id, minor) triples."""
    k = event_key(env)
    return [_ins("member_ages", event_id=k, person_id=person, case_id=case, source=source, minor=minor)
            for person, case, minor in pairs]  # fmt: skip


def _case_opened(env: Envelope, e: i.CaseOpened) -> list[Write]:
    return [
        _ups("cases", case_id=e.case_id, household_id=e.household_id, city=e.city, action_area=e.action_area.value,
             channel=e.channel.value, partner=e.partner, opened_on=e.opened_on),
        *_ages(env, "opened", ((p, e.case_id, m) for p, m in sorted((e.minors or {}).items()))),
    ]  # fmt: skip


def _household_formed(env: Envelope, e: i.HouseholdFormed) -> list[Write]:
    k = event_key(env)
    return [
        _ups("households", household_id=e.household_id, city=e.city, reference_person_id=e.reference_person_id,
             formed_on=_day(env)),
        *(_ins("memberships", event_id=k, person_id=m, household_id=e.household_id, change="formed",
               on_date=_day(env)) for m in dict.fromkeys([e.reference_person_id, *e.member_ids])),
    ]  # fmt: skip


def _member(change: str) -> Projector:
    def project(env: Envelope, e: i.HouseholdMemberJoined | i.HouseholdMemberLeft) -> list[Write]:
        ages = getattr(e, "minor_in_cases", None) or {}
        return [_ins("memberships", event_id=event_key(env), person_id=e.person_id, household_id=e.household_id,
                     change=change, on_date=e.on),
                *_ages(env, "joined", ((e.person_id, c, m) for c, m in sorted(ages.items())))]  # fmt: skip

    return project


def _needs_assessed(env: Envelope, e: i.NeedsAssessed) -> list[Write]:
    k = event_key(env)
    by_person = e.vulnerabilities_by_person
    household_level = sorted(set(e.vulnerabilities)) if by_person is None else []
    return [
        _ins("assessments", event_id=k, case_id=e.case_id, household_id=e.household_id,
             vulnerabilities=household_level, employment_status=e.employment_status.value,
             housing_situation=e.housing_situation.value, assessed_on=e.assessed_on),
        *(_ins("person_vulnerabilities", event_id=k, person_id=person, case_id=e.case_id,
               vulnerabilities=sorted(set(codes)), assessed_on=e.assessed_on)
          for person, codes in sorted((by_person or {}).items()) if codes),
    ]  # fmt: skip


def _budget(kind: str, **row: Any) -> Projector:
    """A budget_facts row from an event: `row` maps a column to the event's attribute (or None)."""

    def project(env: Envelope, e: Any) -> list[Write]:
        values = {col: getattr(e, attr) if attr else None for col, attr in row.items()}
        return [_ins("budget_facts", event_id=event_key(env), kind=kind, **values)]

    return project


_BUDGET = {
    p.BudgetAllocated.type: _budget("allocation", budget_line_id="budget_line_id", city="city", request_id=None,
                                    voucher_id=None, amount_cents="amount_cents", on_date="on"),
    p.BudgetAdjusted.type: _budget("adjustment", budget_line_id="budget_line_id", city=None, request_id=None,
                                   voucher_id=None, amount_cents="delta_cents", on_date="on"),
    p.ContributionRequested.type: _budget("requested", budget_line_id="budget_line_id", city="city",
                                          request_id="request_id", voucher_id=None, amount_cents="amount_cents",
                                          on_date="on"),
    p.ContributionApproved.type: _budget("approved", budget_line_id=None, city=None, request_id="request_id",
                                         voucher_id=None, amount_cents=None, on_date="on"),
    p.ContributionRejected.type: _budget("rejected", budget_line_id=None, city=None, request_id="request_id",
                                         voucher_id=None, amount_cents=None, on_date="on"),
    p.VoucherExpired.type: _budget("voucher_expired", budget_line_id=None, city=None, request_id=None,
                                   voucher_id="voucher_id", amount_cents="remaining_cents", on_date="on"),
}  # fmt: skip


def _voucher_issued(env: Envelope, e: p.VoucherIssued) -> list[Write]:
    return [
        _ups("vouchers", voucher_id=e.voucher_id, household_id=e.household_id, case_id=e.case_id, city=e.city,
             kind=e.kind.value, value_cents=e.value_cents, issued_on=e.on),
        _ins("budget_facts", event_id=event_key(env), kind="voucher_issued", budget_line_id=e.budget_line_id,
             city=e.city, request_id=None, voucher_id=e.voucher_id, amount_cents=e.value_cents, on_date=e.on),
    ]  # fmt: skip


def _civic(env: Envelope, e: Any) -> list[Write]:
    return [Write("insert" if mode == "insert" else "upsert", table, row) for mode, table, row in civic.project(env, e)]


def _outreach(env: Envelope, e: Any) -> list[Write]:
    return [Write(mode, table, row) for table, mode, row in outreach.writes(env, e)]


PROJECTORS: dict[str, Projector] = {
    **dict.fromkeys(civic.FACTS, _civic),
    **{model.type: _outreach for model in outreach.PROJECTED},
    i.PersonRegistered.type: _person_registered,
    i.PersonUpdated.type: _person_updated,
    i.PersonsMerged.type: lambda env, e: [
        _ins("person_merges", merged_person_id=e.merged_person_id, surviving_person_id=e.surviving_person_id,
             merged_on=_day(env))
    ],
    i.PersonErased.type: lambda env, e: [_ins("person_erasures", person_id=e.person_id, erased_on=e.erased_on)],
    i.ConsentRecorded.type: lambda env, e: [
        _ins("consents", event_id=event_key(env), person_id=e.person_id, purpose=e.purpose.value, granted=e.granted,
             recorded_on=e.recorded_on)
    ],
    i.HouseholdFormed.type: _household_formed,
    i.HouseholdMemberJoined.type: _member("joined"),
    i.HouseholdMemberLeft.type: _member("left"),
    # Keyed by the household, as its formation: the row names its reference person now, whatever the replay's order
    i.HouseholdReferencePersonChanged.type: lambda env, e: [
        _ups("households", household_id=e.household_id, reference_person_id=e.person_id)
    ],
    i.ReferralReceived.type: lambda env, e: [
        _ins("referrals", referral_id=e.referral_id, household_id=e.household_id, source=e.source.value,
             received_on=e.received_on)
    ],
    i.NeedsAssessed.type: _needs_assessed,
    i.CaseOpened.type: _case_opened,
    i.IndividualPlanAgreed.type: lambda env, e: [
        _ins("plans", case_id=e.case_id, plan_id=e.plan_id, agreed_on=e.agreed_on)
    ],
    i.CaseTransferred.type: lambda env, e: [_ups("cases", case_id=e.case_id, partner=e.to_partner)],
    i.CaseClosed.type: lambda env, e: [
        _ups("cases", case_id=e.case_id, closed_on=e.closed_on, outcome=e.outcome.value)
    ],
    i.EmploymentRecorded.type: lambda env, e: [
        _ins("employment", event_id=event_key(env), person_id=e.person_id, case_id=e.case_id, status=e.status.value,
             as_of=e.as_of)
    ],
    h.OpportunityListed.type: lambda env, e: [
        _ins("opportunities", opportunity_id=e.opportunity_id, city=e.city, listed_on=_day(env),
             listed_utc_on=env.time.astimezone(UTC).date())
    ],
    h.PlacementStarted.type: lambda env, e: [
        _ups("placements", placement_id=e.placement_id, household_id=e.household_id, case_id=e.case_id, city=e.city,
             kind=e.kind.value, started_on=e.started_on)
    ],
    h.PlacementEnded.type: lambda env, e: [
        _ups("placements", placement_id=e.placement_id, ended_on=e.ended_on, end_reason=e.reason.value)
    ],
    h.LeaseSigned.type: lambda env, e: [
        _ins("leases", lease_id=e.lease_id, placement_id=e.placement_id, household_id=e.household_id,
             case_id=e.case_id, city=e.city, lease_type=e.lease_type.value, monthly_rent_cents=e.monthly_rent_cents,
             deposit_cents=e.deposit_cents, signed_on=e.signed_on)
    ],
    p.BudgetAllocated.type: lambda env, e: [
        _ups("budget_lines", budget_line_id=e.budget_line_id, city=e.city, line=e.line),
        *_BUDGET[p.BudgetAllocated.type](env, e),
    ],
    **{t: fn for t, fn in _BUDGET.items() if t not in (p.BudgetAllocated.type, p.VoucherExpired.type)},
    p.ContributionPaid.type: lambda env, e: [
        _ups("contributions", request_id=e.request_id, case_id=e.case_id, household_id=e.household_id, city=e.city,
             kind=e.kind.value, budget_line_id=e.budget_line_id, amount_cents=e.amount_cents, paid_on=e.paid_on,
             failed_on=None),  # `failed_on`: the latest attempt failed; this one, later in the request's order, paid
        _ins("contribution_payments", event_id=event_key(env), request_id=e.request_id, city=e.city, paid_on=e.paid_on),
    ],
    p.ContributionPaymentFailed.type: lambda env, e: [
        _ups("contributions", request_id=e.request_id, failed_on=e.on),
        _ins("contribution_failures", event_id=event_key(env), request_id=e.request_id, city=env.city, failed_on=e.on),
    ],
    p.VoucherIssued.type: _voucher_issued,
    p.VoucherRedeemed.type: lambda env, e: [
        _ins("voucher_redemptions", event_id=event_key(env), voucher_id=e.voucher_id, amount_cents=e.amount_cents,
             redeemed_on=e.on)
    ],
    p.TutoringSessionRecorded.type: lambda env, e: [_ins(tutoring.TABLE, **tutoring.row(e))],
    p.VoucherExpired.type: lambda env, e: [
        _ups("vouchers", voucher_id=e.voucher_id, expired_on=e.on, remaining_cents=e.remaining_cents),
        *_BUDGET[p.VoucherExpired.type](env, e),
    ],
}  # fmt: skip


def project(env: Envelope, event: Event) -> list[Write]:
    projector = PROJECTORS.get(env.type)
    return projector(env, event) if projector else []


class Tables:
    """Report tables held in memory, written exactly as the SQL writes would (the auditors' replay folds the log
    here, then bulk-loads it)."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {name: {} for name in TABLES}

    def apply(self, writes: list[Write]) -> None:
        tables = self.rows
        for mode, table, row in writes:  # the replay calls this for every event: locals, no attribute look-ups
            rows = tables[table]
            key = _KEY_OF[table](row)
            current = rows.get(key)
            if current is None:
                rows[key] = row.copy()
            elif mode == "upsert":
                current.update(row)

    def records(self, table: str) -> list[tuple[Any, ...]]:
        names = TABLES[table].names
        return [tuple(map(row.get, names)) for row in self.rows[table].values()]

    def facts(self) -> dict[str, list[dict[str, Any]]]:
        """Every table's rows as the reports read them (store.load_facts: a dict per row, every column)."""
        return {name: [dict(zip(t.names, r, strict=True)) for r in self.records(name)] for name, t in TABLES.items()}
