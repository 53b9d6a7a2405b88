"""Reporting's PostgreSQL schema: the report tables (domain.projection.TABLES) and the published reports."""

from __future__ import annotations

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
         # street outreach and the agenda (#19)
         "outreach_outings": "reporting-outreach-1", "outreach_contacts": "reporting-outreach-2",
         "outreach_links": "reporting-outreach-3", "outreach_appointments": "reporting-outreach-4"}  # fmt: skip

MIGRATIONS = [
    ("reporting-1", ";\n".join(create_table(t) for t in TABLES.values() if t.name not in {*LATER, *civic.TABLES})),
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
    # Civic engagement (#19): its own tables, its own migration (docs/civic-engagement.md).
    ("reporting-civic-1", ";\n".join(create_table(TABLES[name]) for name in civic.TABLES)),
    # Where each published report landed and the notary checkpoints anchoring it (issue #18, not report tables:
    # the replay neither reads nor rebuilds them; a fresh deployment reads them again from the two topics).
    anchors.MIGRATION,
]
