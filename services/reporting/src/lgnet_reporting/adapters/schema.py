"""Reporting's PostgreSQL schema: the report tables (domain.projection.TABLES) and the published reports."""

from __future__ import annotations

from lgnet_shared import owned_ids

from lgnet_reporting.adapters import anchors
from lgnet_reporting.domain import civic
from lgnet_reporting.domain.projection import TABLES, Table

CONSUMER = "reporting.projections"  # consumer group of the projections (its positions are the reports' positions)


def create_table(t: Table) -> str:
    columns = ", ".join(f"{name} {typ}" + (" not null" if name in t.key else "") for name, typ in t.columns.items())
    return f"create table if not exists {t.name} ({columns}, primary key ({', '.join(t.key)}))"


# Tables added after the first release get their own migration (forward only); reporting-1 keeps its tables.
LATER = {"contribution_failures": "reporting-3", "member_ages": "reporting-4", "consents": "reporting-5",
         "person_vulnerabilities": "reporting-6",
         "plans": "reporting-8", "budget_facts": "reporting-9", "tutoring_sessions": "reporting-10",
         "opportunities": "reporting-12",  # housing's opportunities listed (method 9, partial deployments)
         # street outreach and the agenda (#19)
         "outreach_outings": "reporting-outreach-1", "outreach_contacts": "reporting-outreach-2",
         "outreach_links": "reporting-outreach-3", "outreach_appointments": "reporting-outreach-4"}  # fmt: skip

# Every payment of a request (national review): the history is filled from what the versions before kept, each
# request's latest payment (`contributions.paid_on`), so their reports stay what they were; only a rebuild
# (`lgnet-replay --into`) brings back a payment a later one overwrote (a return made to stand again). The made-up
# event ids place that payment among the request's failures of its day as the old row says: after them when it was
# the request's latest event ('~' sorts after every real key, '/lgnet/…|<id>'), before the failure that came last
# ('!'). A fresh schema (the replay's) has no old rows: nothing is filled.
PAYMENTS = (
    "reporting-11",
    create_table(TABLES["contribution_payments"])
    + """;
    insert into contribution_payments (event_id, request_id, city, paid_on)
    select case when failed_on is null then '~' else '!' end || 'reporting-11|' || request_id, request_id, city,
           paid_on
    from contributions where paid_on is not null
    on conflict do nothing""",
)

MIGRATIONS = [
    (
        "reporting-1",
        ";\n".join(
            create_table(t) for t in TABLES.values() if t.name not in {*LATER, *civic.TABLES, "contribution_payments"}
        ),
    ),
    (
        "reporting-2",
        """
        create table if not exists published_reports (
            report_id text primary key,
            report text not null,
            scope text not null,
            as_of date not null,
            period_from date,
            digest text not null,
            positions jsonb not null,
            body bytea not null,
            published_by text not null,
            published_at timestamptz not null
        );
        create index if not exists cases_city on cases (city);
        """,
    ),
    *((mid, create_table(TABLES[name])) for name, mid in LATER.items()),
    ("reporting-7", "alter table persons add column if not exists national_key text"),
    PAYMENTS,
    # Civic engagement (#19): its own tables, its own migration (docs/civic-engagement.md).
    ("reporting-civic-1", ";\n".join(create_table(TABLES[name]) for name in civic.TABLES)),
    # Where each published report landed and the notary checkpoints anchoring it (issue #18, not report tables:
    # the replay neither reads nor rebuilds them; a fresh deployment reads them again from the two topics).
    anchors.MIGRATION,
    # The owners of the ids already counted (owned_ids.backfill): a national reporting upgraded with its records
    # refuses another city's fact about them from its first one on.
    owned_ids.backfill(
        "reporting-13",
        "select household_id, city from households",
        "select case_id, city from cases",
        "select p.person_id, h.city from persons p join households h using (household_id)",
        "select r.referral_id, h.city from referrals r join households h using (household_id)",
        "select opportunity_id, city from opportunities",
        "select budget_line_id, city from budget_lines",
        "select request_id, city from contributions",
        "select voucher_id, city from vouchers",
    ),
    # Method 12: an opportunity's listing is dated by Italy's day (`listed_on`), its UTC day kept for the reports
    # of methods 9-11 (`listed_utc_on`). The rows projected before were dated by their UTC day: it is copied; their
    # `listed_on` stays that day until the projections are rebuilt (`lgnet-replay --into`).
    (
        "reporting-16",
        "alter table opportunities add column if not exists listed_utc_on date;\n"
        "update opportunities set listed_utc_on = listed_on where listed_utc_on is null",
    ),
]
