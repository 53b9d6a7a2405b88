"""Intake's PostgreSQL schema (its own; no other service reads it). Forward-only migrations."""

from __future__ import annotations

MIGRATIONS: list[tuple[str, str]] = [
    (
        "intake-1",
        """
        create table if not exists actors (  -- also lgnet_shared.auth's, applied first
            actor_id text primary key,
            role text not null check (role in ('partner', 'staff', 'national')),
            city text,
            display_name text not null,
            created_at timestamptz not null default now()
        );
        -- API tokens are 256-bit random secrets: stored as SHA-256, never in clear.
        create table if not exists api_tokens (
            token_hash text primary key,
            actor_id text not null references actors,
            created_at timestamptz not null default now(),
            revoked_at timestamptz
        );
        -- Partners sign inbound Kafka records with Ed25519; intake keeps only their public keys.
        create table signing_keys (
            key_id text primary key,
            actor_id text not null references actors,
            public_key bytea not null,
            created_at timestamptz not null default now(),
            revoked_at timestamptz
        );
        -- Intake's HPKE key pairs: partners seal identifying fields to the public half.
        create table inbound_keys (
            key_id text primary key,
            private_wrapped bytea not null,
            public_key text not null,
            created_at timestamptz not null default now()
        );
        create table persons (
            person_id text primary key,
            city text not null,
            registered_by text not null,
            birth_date date not null,
            sex text not null,
            nationality text not null,
            third_country boolean not null,
            languages text[] not null default '{}',
            literate boolean,
            fiscal_code_hash text,
            name_key_hash text,
            identity jsonb not null default '{}',
            merged_into text references persons,
            erased_at timestamptz,
            created_at timestamptz not null default now()
        );
        create index persons_fiscal on persons (fiscal_code_hash) where merged_into is null;
        create index persons_name on persons (name_key_hash) where merged_into is null;
        create table duplicate_flags (
            person_id text not null references persons,
            candidate_person_id text not null references persons,
            match text not null,
            status text not null default 'open' check (status in ('open', 'merged', 'dismissed')),
            primary key (person_id, candidate_person_id)
        );
        create table households (
            household_id text primary key,
            city text not null,
            reference_person_id text not null references persons,
            created_by text not null
        );
        create table household_members (
            household_id text not null references households,
            person_id text not null references persons,
            joined_on date not null,
            left_on date,
            reason text not null,
            primary key (household_id, person_id, joined_on)
        );
        create table referrals (
            referral_id text primary key,
            household_id text not null references households,
            city text not null,
            source text not null,
            referrer text,
            received_on date not null,
            outcome text,
            case_id text
        );
        create table cases (
            case_id text primary key,
            household_id text not null references households,
            city text not null,
            action_area text not null,
            channel text not null,
            partner text not null,
            opened_on date not null,
            housing_need boolean not null,
            closed_on date,
            outcome text
        );
        create table assessments (
            case_id text primary key references cases,
            body jsonb not null,
            assessed_on date not null
        );
        create table plans (
            case_id text not null references cases,
            plan_id text not null,
            objectives jsonb not null,
            agreed_on date not null,
            primary key (case_id, plan_id)
        );
        create table employment (
            person_id text not null references persons,
            as_of date not null,
            status text not null,
            case_id text,
            primary key (person_id, as_of)
        );
        create table consents (
            person_id text not null references persons,
            purpose text not null,
            granted boolean not null,
            recorded_on date not null,
            primary key (person_id, purpose)
        );
        """,
    ),
    (
        "intake-2",
        """
        -- Registration looks duplicates up on every insert. On a fresh city's burst, plans cached while the
        -- table was tiny scan it whole until statistics catch up: refresh them after 2 % growth, not 10 %.
        alter table persons set (autovacuum_analyze_scale_factor = 0.02, autovacuum_analyze_threshold = 200);
        """,
    ),
    (
        "intake-3",
        """
        -- One surviving person per fiscal code and city. Registration merges a new person into the one on file,
        -- but two partners' registrations of one person processed at the same moment (other partitions or
        -- processes) cannot see each other's uncommitted row: this index makes the later one wait, fail and
        -- retry, and then it sees the first and merges (repository.insert_person).
        do $$
        declare shared_codes text;
        begin
            select string_agg(ids, '; ') into shared_codes from (
                select city || ': ' || string_agg(person_id, ', ' order by person_id) as ids from persons
                where fiscal_code_hash is not null and merged_into is null and erased_at is null
                group by city, fiscal_code_hash having count(*) > 1
            ) shared;
            if shared_codes is not null then
                raise exception 'persons sharing a fiscal code must be merged first (POST /persons/{id}/merge): %',
                    shared_codes;
            end if;
        end $$;
        create unique index persons_fiscal_surviving on persons (fiscal_code_hash, city)
            where merged_into is null and erased_at is null;
        drop index persons_fiscal;
        """,
    ),
    (
        "intake-4",
        """
        -- Erasure now blanks the idempotency fingerprints of the person's requests (a registration's body holds the
        -- name, and its unkeyed SHA-256 let a guessed name be confirmed): do it for those erased before.
        update idempotency_keys set request_hash = 'erased'
            where response->>'person_id' in (select person_id from persons where erased_at is not null)
            and key not like 'transition:%';  -- a repeated transition's fingerprint holds no body worth hiding
        """,
    ),
    (
        "intake-5",
        """
        -- Inbound keys rotate: a retired key opens what was sealed to it for a grace period, then its private half is
        -- destroyed (credentials.rotate_inbound_keys), and with it every identity partners sealed to it.
        alter table inbound_keys
            add column retired_at timestamptz,
            add column destroyed_at timestamptz,
            alter column private_wrapped drop not null,
            add constraint inbound_keys_destroyed check ((private_wrapped is null) = (destroyed_at is not null));
        """,
    ),
    (
        "intake-civic-1",
        """
        -- Civic engagement (#19, docs/civic-engagement.md): activities, their sessions, attendance registers and
        -- certificates. Persons (participants, volunteers) are ids of `persons`: their identity stays sealed there.
        create table civic_activities (
            activity_id text primary key,
            city text not null,
            kind text not null,
            title text not null,
            partner text,  -- null: organised by the city
            starts_on date not null,
            ends_on date,
            target_level text,
            min_attendance_percent int not null,
            created_by text not null,
            created_at timestamptz not null default now()
        );
        create index civic_activities_city on civic_activities (city, starts_on);
        create table civic_sessions (
            session_id text primary key,
            activity_id text not null references civic_activities,
            held_on date not null,
            place text not null,
            duration_minutes int not null,
            facilitators text[] not null,
            volunteer_ids text[] not null
        );
        create index civic_sessions_activity on civic_sessions (activity_id, held_on);
        create table civic_attendance (
            session_id text not null references civic_sessions,
            person_id text not null,
            present boolean not null,
            recorded_at timestamptz not null default now(),
            primary key (session_id, person_id)
        );
        create index civic_attendance_person on civic_attendance (person_id);
        create table civic_certificates (
            certificate_id text primary key,
            activity_id text not null references civic_activities,
            person_id text not null,
            issued_on date not null,
            attended_sessions int not null,
            held_sessions int not null,
            level_at_entry text,
            level_reached text,
            unique (activity_id, person_id)
        );
        """,
    ),
    (
        "intake-outreach-1",
        """
        -- Street outreach (#19): the city's mobile units, their outings, the street persons they meet and each contact.
        create table mobile_units (
            unit_id text primary key,
            city text not null,
            name text not null,
            vehicle text,
            area text not null,
            partner text references actors,
            team_size integer not null,
            created_by text not null
        );
        create table outings (
            outing_id text primary key,
            unit_id text not null references mobile_units,
            city text not null,
            on_date date not null,
            start_time time not null,
            end_time time not null,
            minutes integer not null,
            places text[] not null,
            staff text[] not null,
            recorded_by text not null
        );
        create index outings_unit_day on outings (unit_id, on_date);
        -- A street person: an unnamed person the units met, sealed nickname under their own key (person_keys,
        -- kid = street_id), found again by the keyed hash of the nickname; linked to a person once taken in charge.
        create table street_persons (
            street_id text primary key,
            city text not null,
            nickname_hash text,
            first_contact_on date not null,
            person_id text references persons,
            linked_on date,
            case_id text
        );
        create unique index street_persons_nickname on street_persons (city, nickname_hash)
            where nickname_hash is not null;
        create index street_persons_person on street_persons (person_id) where person_id is not null;
        create table street_contacts (
            contact_id text primary key,
            street_id text not null references street_persons,
            outing_id text not null references outings,
            city text not null,
            contacted_on date not null,
            age_band text not null,
            sex text not null,
            nationality text,
            needs_observed text[] not null,
            services_offered text[] not null,
            place text not null,
            nickname jsonb,
            recorded_by text not null
        );
        create index street_contacts_outing on street_contacts (outing_id);
        create index street_contacts_street on street_contacts (street_id);
        -- The agenda of the desk's operators and the units. No double booking is checked under a per-operator lock
        -- (outreach_repository.lock_operator), so two bookings at once cannot both pass.
        create table appointments (
            appointment_id text primary key,
            city text not null,
            agenda text not null,
            operator text not null,
            unit_id text references mobile_units,
            person_id text references persons,
            street_id text references street_persons,
            purpose text not null,
            starts_at timestamptz not null,
            ends_at timestamptz not null,
            status text not null default 'booked' check (status in ('booked', 'cancelled')),
            cancel_reason text,
            outcome text check (outcome in ('attended', 'no_show')),
            booked_by text not null,
            check ((person_id is null) <> (street_id is null)),
            check (ends_at > starts_at)
        );
        create index appointments_operator on appointments (operator, starts_at);
        create index appointments_city_day on appointments (city, starts_at);
        -- One reminder per appointment and start time: asking again for a day emits nothing new; a moved
        -- appointment is reminded of its new time.
        create table appointment_reminders (
            appointment_id text not null references appointments,
            starts_at timestamptz not null,
            due_on date not null,
            primary key (appointment_id, starts_at)
        );
        """,
    ),
    (
        "intake-6",
        """
        -- A case's last transfer: the next may not be dated before it (a transfer back dated earlier was recorded).
        alter table cases add column transferred_on date;
        """,
    ),
    (
        "intake-7",
        """
        -- Every consent recorded, for the person's timeline: `consents` keeps the state now (one row per purpose),
        -- and a withdrawal replaced the grant before it, which then vanished from the cartella's history. What was
        -- recorded before this migration is known only as that state.
        create table consent_history (
            seq bigserial primary key,
            person_id text not null references persons,
            purpose text not null,
            granted boolean not null,
            recorded_on date not null
        );
        create index consent_history_person on consent_history (person_id);
        insert into consent_history (person_id, purpose, granted, recorded_on)
            select person_id, purpose, granted, recorded_on from consents order by recorded_on, person_id, purpose;
        """,
    ),
    (
        "intake-8",
        """
        -- Erasure now removes the person's special-category data from intake's tables, not only from its answers
        -- (handlers.Intake._forget, needs.without_erased): do it for the persons erased before.
        create temporary table erased on commit drop as select person_id from persons where erased_at is not null;
        delete from employment where person_id in (select person_id from erased);
        update idempotency_keys set response = jsonb_build_object('person_id', response->>'person_id')
            where response->>'person_id' in (select person_id from erased) and key not like 'transition:%';
        -- The assessments of households nobody is left of go; in the others, the erased members' vulnerabilities.
        delete from assessments a using cases c where a.case_id = c.case_id
            and exists (select 1 from household_members m join erased using (person_id)
                        where m.household_id = c.household_id)
            and not exists (select 1 from household_members m join persons p using (person_id)
                            where m.household_id = c.household_id and p.erased_at is null);
        with touched as (
            select a.case_id, coalesce((
                select jsonb_object_agg(person, codes)
                from jsonb_each(case when jsonb_typeof(a.body -> 'vulnerabilities_by_person') = 'object'
                    then a.body -> 'vulnerabilities_by_person' else '{}' end) as x(person, codes)
                where person not in (select person_id from erased)), '{}') as by_person
            from assessments a join cases c using (case_id)
            where exists (select 1 from household_members m join erased using (person_id)
                          where m.household_id = c.household_id)
        )
        update assessments a set body = a.body || jsonb_build_object(
            'vulnerabilities_by_person', t.by_person,
            'vulnerabilities', coalesce((
                select jsonb_agg(distinct code order by code)
                from jsonb_each(t.by_person) as y(person, codes), jsonb_array_elements_text(codes) as code), '[]'))
        from touched t where a.case_id = t.case_id;
        """,
    ),
    (
        "intake-9",
        """
        -- Whose operator an appointment's `operator` names (issue #19, federation): a partner's own systems name their
        -- operators as they please, so the value names an operator within a party, the city's staff (null) or one
        -- partner; no double booking holds within the party (outreach_repository.operator_agenda, lock_operator).
        -- A partner only ever booked its own operators: the appointments it booked are its operators'. Those the
        -- city's staff booked stay the city's (intake cannot tell a cooperative's operator among them).
        alter table appointments add column if not exists operator_partner text;
        update appointments a set operator_partner = a.booked_by
            from actors x where x.actor_id = a.booked_by and x.role = 'partner' and a.operator_partner is null;
        """,
    ),
    (
        "intake-10",
        """
        -- Each change of a household's reference person (households.reference_person_id is the one now): the
        -- cartella's timeline says who was named in whose place; a later change is dated on or after the last one.
        create table if not exists household_reference_changes (
            change_no bigint generated always as identity primary key,
            household_id text not null references households,
            person_id text not null references persons,
            previous_person_id text not null references persons,
            reason text not null,
            named_on date not null
        );
        create index if not exists household_reference_changes_household
            on household_reference_changes (household_id, named_on);
        """,
    ),
    (
        "intake-11",
        """
        -- The gatekeeper keeps the digest of each partner record it processed (type and data): an event id used
        -- again for another record is answered "already used for another record" (lgnet_shared.inbox_digest);
        -- rows of before (NULL) judge any record under their id a duplicate, as then.
        alter table inbox add column if not exists digest bytea;
        """,
    ),
]
