"""Housing's PostgreSQL schema (its own; no other service reads it). Forward-only migrations.

What housing knows of people comes from intake's events and holds no identifying data: sex, languages and minor or
adult per person (for size, minors, women-only; the birth date only from intake's older events, which carried it in
clear), the household's members, and the case's needs.
"""

from __future__ import annotations

from lgnet_shared import owned_ids, partner_sharing

MIGRATIONS: list[tuple[str, str]] = [
    (
        "housing-1",
        """
        create table persons (
            person_id text primary key,
            household_id text,
            birth_date date not null,
            sex text not null,
            languages text[] not null default '{}'
        );
        create table households (
            household_id text primary key,
            city text not null,
            member_ids text[] not null default '{}'
        );
        -- One row per intake case; the waiting list is made of the open cases with a housing need.
        create table cases (
            case_id text primary key,
            household_id text not null,
            city text not null,
            partner text not null,
            opened_on date not null,
            housing_need boolean not null,
            closed_on date,
            assessed boolean not null default false,
            monthly_income_cents bigint not null default 0,
            accessibility_needs boolean not null default false,
            specialist_support boolean not null default false,
            eviction_date date,
            vulnerabilities text[] not null default '{}',
            housing_situation text,
            removed text  -- why the household left the waiting list without a placement (person_erased)
        );
        create index cases_household on cases (household_id);
        create index cases_city on cases (city) where closed_on is null;
        create table opportunities (
            opportunity_id text primary key,
            city text not null,
            partner text not null,
            kind text not null,
            capacity int not null check (capacity >= 1),
            bedrooms int not null check (bedrooms >= 0),
            accessible boolean not null,
            monthly_rent_cents bigint not null check (monthly_rent_cents >= 0),
            available_from date not null,
            available_until date,
            support_level text not null,
            restrictions text[] not null default '{}',
            area text,
            languages text[] not null default '{}',
            status text not null default 'open' check (status in ('open', 'withdrawn')),
            withdrawn_reason text,
            listed_by text not null,
            listed_on date not null
        );
        create index opportunities_city on opportunities (city, status);
        -- A match walks proposed -> accepted -> placed; or ends declined / cancelled. `step_since` is when
        -- it entered its current step (stalled-match reminders); `stalled_step` the step already reminded.
        create table matches (
            match_id text primary key,
            household_id text not null,
            case_id text not null,
            opportunity_id text not null references opportunities,
            city text not null,
            status text not null check (status in ('proposed', 'accepted', 'placed', 'declined', 'cancelled', 'ended')),
            score double precision not null,
            explanation jsonb not null,
            score_breakdown jsonb not null,
            proposed_on date not null,
            step_since date not null,
            stalled_step text,
            declined_by text,
            decline_reason text,
            decided_on date
        );
        -- At most one live match per household and per opportunity: the database guards the assignment too.
        create unique index matches_live_household on matches (household_id)
            where status in ('proposed', 'accepted', 'placed');
        create unique index matches_live_opportunity on matches (opportunity_id)
            where status in ('proposed', 'accepted', 'placed');
        create index matches_city on matches (city, status);
        create table placements (
            placement_id text primary key,
            match_id text not null unique references matches,
            household_id text not null,
            case_id text not null,
            opportunity_id text not null,
            city text not null,
            kind text not null,
            started_on date not null,
            ended_on date,
            end_reason text
        );
        create table leases (
            lease_id text primary key,
            placement_id text not null unique references placements,
            lease_type text not null,
            monthly_rent_cents bigint not null,
            deposit_cents bigint not null,
            start_date date not null,
            end_date date,
            signed_on date not null
        );
        create table holds (
            household_id text primary key,
            city text not null,
            reason text not null,
            until date not null,
            parked_by text not null
        );
        create table city_rules (
            city text primary key,
            rules jsonb not null,
            updated_by text not null,
            updated_at timestamptz not null default now()
        );
        """,
    ),
    (
        "housing-2",
        """
        -- Intake seals birth dates from person_registered v3 on and says instead whether the person is a minor
        -- (at registration, at a case's opening, after a correction).
        alter table persons alter column birth_date drop not null, add column if not exists minor boolean;
        """,
    ),
    (
        "housing-3",
        """
        -- City rules gained upper bounds (domain/rules.py): a setting beyond them, accepted before, broke every
        -- re-matching of its city. Stored settings are brought down to the bound so that they load again.
        create temporary table rule_bounds (section text, key text, bound numeric) on commit drop;
        insert into rule_bounds values
            ('', 'max_people_per_bedroom', 10), ('', 'planned_contribution_cents', 10000000),
            ('', 'availability_horizon_days', 3650), ('', 'stalled_after_days', 3650),
            ('priority', 'vulnerability', 100), ('priority', 'vulnerability_cap', 20),
            ('priority', 'waiting_per_month', 100), ('priority', 'waiting_cap_months', 120),
            ('priority', 'urgency', 100), ('priority', 'urgency_horizon_days', 3650),
            ('priority', 'minors', 100), ('priority', 'minors_cap', 20);
        update city_rules set rules = rules || coalesce((
            select jsonb_object_agg(key, least(value::numeric, bound)) from jsonb_each_text(rules)
            join rule_bounds b using (key) where b.section = ''), '{}');
        update city_rules set rules = jsonb_set(rules, '{priority}', rules -> 'priority' || coalesce((
            select jsonb_object_agg(key, least(value::numeric, bound)) from jsonb_each_text(rules -> 'priority')
            join rule_bounds b using (key) where b.section = 'priority'), '{}'))
        where jsonb_typeof(rules -> 'priority') = 'object';
        update city_rules set rules = jsonb_set(rules, '{priority,situation}', (
            select coalesce(jsonb_object_agg(key, least(value::numeric, 100)), '{}')
            from jsonb_each_text(rules -> 'priority' -> 'situation')))
        where jsonb_typeof(rules -> 'priority' -> 'situation') = 'object';
        """,
    ),
    (
        "housing-4",
        """
        -- A person's erasure now clears their households' needs from cases and proposals (intake_events.person_erased):
        -- do it for the households that left the list for an erasure before. The rules and terms are
        -- explain.HOUSEHOLD_SPECIAL_RULES and HOUSEHOLD_SPECIAL_SCORES, the detail explain.WITHHELD.
        create temporary table erased_households on commit drop as
            select distinct household_id from cases where removed like 'person_erased%';
        update cases set vulnerabilities = '{}', specialist_support = false, accessibility_needs = false,
            eviction_date = null, monthly_income_cents = 0
            where household_id in (select household_id from erased_households);
        update matches set
            explanation = (select coalesce(jsonb_agg(case when c ->> 'rule' in
                    ('specialist_support', 'affordability', 'accessibility')
                    then c || '{"detail": "withheld: the household''s need-to-know data"}' else c end order by n), '[]')
                from jsonb_array_elements(explanation) with ordinality as x(c, n)),
            score_breakdown = score_breakdown - 'vulnerability' - 'situation' - 'urgency' - 'priority'
            where household_id in (select household_id from erased_households);
        """,
    ),
    (
        "housing-5",
        """
        -- Who was erased, and when (pseudonymous ids): intake's topics and partitions are read apart, so a household's
        -- formation, case or assessment of before an erasure may reach housing after it (a lagging consumer, a
        -- rebuild from the log); intake_events then gives it the erasure's treatment.
        create table erased_persons (person_id text primary key, erased_on date not null);
        """,
    ),
    (
        "housing-6",
        """
        -- PUT /rules sets the whole of a city's rules: each save counts a version, which a client sends back (If-Match,
        -- or the body's `version`) so that a save from an older read cannot undo another's change.
        alter table city_rules add column version int not null default 1 check (version >= 1);
        """,
    ),
    # The owners of the ids already kept (owned_ids.backfill): a national housing upgraded with its records refuses
    # another city's fact about them from its first one on.
    owned_ids.backfill(
        "housing-7",
        "select household_id, city from households",
        "select case_id, city from cases",
        "select p.person_id, h.city from persons p join households h using (household_id)",
        "select opportunity_id, city from opportunities",
    ),
    partner_sharing.migration(
        "housing-8", "A partner reads a household's data only while every member consents (docs/partners.md)."
    ),
]
