"""The desk's own PostgreSQL schema: only desk state (operators, sessions, the access log), never domain data."""

from __future__ import annotations

from lgnet_shared.runtime_schema import ADMIN_ACTIONS

MIGRATIONS: list[tuple[str, str]] = [
    (
        "desk-1",
        """
        create table operators (
            username text primary key,
            display_name text not null,
            role text not null check (role in ('staff', 'partner', 'dpo')),
            city text not null,
            partner text,
            password_hash text,
            failures int not null default 0,
            locked_until timestamptz,
            created_at timestamptz not null default now()
        );
        -- the operator's API token per service, sealed (AES-GCM) with a key derived from the master key
        create table service_tokens (
            username text not null references operators,
            service text not null,
            sealed bytea not null,
            primary key (username, service)
        );
        -- sessions: the cookie holds a random id, only its SHA-256 is kept
        create table sessions (
            session_hash text primary key,
            username text not null references operators,
            csrf_token text not null,
            created_at timestamptz not null default now(),
            expires_at timestamptz not null
        );
        create table login_attempts (
            at timestamptz not null default now(),
            username text not null,
            succeeded boolean not null
        );
        create table access_log (
            entry_id bigserial primary key,
            at timestamptz not null default now(),
            operator text not null,
            city text not null,
            person_id text not null,
            purpose text not null,
            action text not null,
            outcome text not null check (outcome in ('shown', 'denied'))
        );
        create index access_log_person on access_log (person_id, at);
        create index access_log_city on access_log (city, at);
        """,
    ),
    (
        "desk-2",
        """
        -- an OpenID Connect login under way: its state, nonce and PKCE verifier, for a few minutes
        create table oidc_pending (
            state text primary key,
            nonce text not null,
            code_verifier text not null,
            created_at timestamptz not null default now()
        );
        """,
    ),
    (
        "desk-3",
        """
        -- failed logins are counted per account and client address, and per client address (domain/operators.py:
        -- LockoutPolicy); operators.failures and locked_until are no longer used
        alter table login_attempts add column client text not null default '';
        create index login_attempts_account on login_attempts (username, client, at);
        create index login_attempts_client on login_attempts (client, at);
        """,
    ),
    (
        "desk-4",
        """
        -- a page naming many persons (the agenda, the to-do list, the civic register) is one entry per view: the
        -- persons it named, each found by the DPO's filter (person_id holds the first, as the column is required)
        alter table access_log add column persons text[] not null default '{}';
        create index access_log_persons on access_log using gin (persons);
        """,
    ),
    (
        "desk-5",
        """
        -- a session lapses after LGNET_DESK_IDLE_MINUTES without a page, as well as at its end
        alter table sessions add column seen_at timestamptz not null default now();
        -- a form sent after its session lapsed (or from an older session's page): sealed with a key of its own, for
        -- its operator only, given back once on the page it came from after the login (service_layer/kept_forms.py)
        create table kept_forms (
            username text primary key references operators,
            path text not null,
            anchor text,
            sealed bytea not null,
            kept_at timestamptz not null default now()
        );
        """,
    ),
    (
        "desk-6",
        """
        -- an operator who left (lgnet-desk-admin deactivate-operator): no login, no session; her name stays on what
        -- she wrote, and the username is never given to someone else
        alter table operators add column deactivated_at timestamptz;
        """,
    ),
    (
        "desk-7",
        """
        -- a staff operator's own actor on the services, drawn by the desk when she is added (`desk.op-` and 12 random
        -- hex digits: domain/operators.py), stored with her rather than derived from her username (usually her name,
        -- which travelled in clear in every fact she caused); each is one person's, so two staff are two actors for
        -- the four-eyes rules. The operators added before keep `desk.<username>`, which their facts, the services'
        -- actors, tokens and four-eyes rules already carry: nothing recorded changes.
        alter table operators add column actor text unique;
        update operators set actor = 'desk.' || username where role = 'staff';
        alter table operators add constraint operators_staff_actor check ((role = 'staff') = (actor is not null));
        """,
    ),
    (
        "desk-8",
        """
        -- a person's (or a street person's) erasure asked of intake (GDPR art. 17): `erased`, or `refused` by intake;
        -- an erasure is in the log once, whatever the form's resendings (domain/erasure.py)
        alter table access_log drop constraint access_log_outcome_check;
        alter table access_log add constraint access_log_outcome_check
            check (outcome in ('shown', 'denied', 'erased', 'refused'));
        create unique index access_log_erased_once on access_log (person_id, action) where outcome = 'erased';
        """,
    ),
    (
        "desk-9",
        """
        -- an operator's code: who an appointment is with and who went on an outing or ran a session, as the desk names
        -- her to the services (`op-` and 12 random hex digits, drawn when she is added: domain/operators.py), never her
        -- username (usually her name, which travelled in clear in intake's facts). Every operator who keeps an agenda
        -- has one (a cooperative's operators share its actor, so the actor cannot serve). Those added before keep their
        -- username as their code: the appointments and outings already recorded carry it, and intake's double-booking
        -- check finds their future appointments by it; nothing recorded changes. But a username intake refuses as an
        -- operator's id (an e-mail address, a phone number, a fiscal code: partners' usernames were never checked)
        -- could name nobody in a new appointment or outing: such an operator's code is drawn here (her appointments
        -- booked before under the username still show by name; the double-booking check no longer sees them).
        alter table operators add column code text unique;
        update operators set code = username where role in ('staff', 'partner');
        update operators set code = 'op-' || substr(md5(random()::text || clock_timestamp()::text || username), 1, 12)
         where code is not null
           and (username ~ '[@+]' or username ~ '[0-9]{6,}' or username
                ~* '[a-z]{6}[0-9lmnpqrstuv]{2}[abcdehlmprst][0-9lmnpqrstuv]{2}[a-z][0-9lmnpqrstuv]{3}[a-z]');
        alter table operators add constraint operators_code check ((role in ('staff', 'partner')) = (code is not null));
        """,
    ),
    (
        "desk-10",
        """
        -- an operator's earlier display names (`lgnet-desk-admin rename-operator`: misspelt, or changed by
        -- marriage) and until when each was hers, for the DPO's access review; her username, role, actor and code
        -- never change, so the access log and the services' facts keep naming her by them
        create table operator_names (
            username text not null references operators,
            display_name text not null,
            until timestamptz not null default now()
        );
        create index operator_names_of on operator_names (username, until);
        """,
    ),
    # who ran which `lgnet-desk-admin` command (lgnet_shared.admin_actions): the services' table, the same migration
    ADMIN_ACTIONS,
]
