"""Payments' PostgreSQL schema (its own; no other service reads it). Forward-only migrations.

The invariants hold in the database itself, whatever the application does or however it is interleaved:
- a budget line never goes below zero: `budget_lines.available_cents >= 0`, and that balance is maintained by a
  trigger from the ledger's `budget_available` postings (so the ledger and the balance cannot diverge; the row
  update also serialises concurrent commitments on one line);
- a contribution is never paid twice: at most one payment per request that has not failed (partial unique
  index), a ledger transaction is recorded once per (kind, ref);
- the ledger is append-only (update/delete raise) and every transaction balances (checked at commit).
"""

from __future__ import annotations

from lgnet_shared import owned_ids, partner_sharing, read_log_readers

MIGRATIONS: list[tuple[str, str]] = [
    (
        "payments-1",
        """
        create table cases (
            case_id text primary key,
            household_id text not null,
            city text not null,
            partner text,
            opened_on date,
            closed_on date
        );
        create table households (
            household_id text primary key,
            city text not null
        );
        create table policies (
            city text primary key,
            second_approval_threshold_cents bigint not null check (second_approval_threshold_cents >= 0),
            lease_activation_months int not null check (lease_activation_months >= 0),
            lease_activation_cap_cents bigint not null check (lease_activation_cap_cents >= 0),
            deposit_cap_cents bigint not null check (deposit_cap_cents >= 0),
            debtor_name text,
            debtor_iban text,
            debtor_bic text,
            updated_by text not null,
            updated_at timestamptz not null default now()
        );
        create table budget_lines (
            budget_line_id text primary key,
            city text not null,
            line text not null,
            allocated_cents bigint not null default 0 check (allocated_cents >= 0),
            available_cents bigint not null default 0 check (available_cents >= 0),
            unique (city, line)
        );
        create table contribution_requests (
            request_id text primary key,
            case_id text not null,
            household_id text not null,
            city text not null,
            kind text not null,
            budget_line_id text not null references budget_lines,
            amount_cents bigint not null check (amount_cents > 0),
            lease_id text,
            period_from date,
            period_to date,
            requested_by text not null,
            requested_on date not null,
            status text not null check (status in ('requested', 'approved', 'rejected', 'batched', 'paid')),
            first_approver text,
            approved_by text,
            second_approver text,
            rejected_by text,
            reason text,
            beneficiary jsonb,  -- {"name": Sealed, "iban": Sealed}: decrypted only to write the SEPA file
            check (approved_by is null or approved_by <> requested_by),
            check (second_approver is null or second_approver not in (requested_by, approved_by))
        );
        -- A signed lease creates at most one request of each kind, however often the event is delivered.
        create unique index contribution_requests_lease on contribution_requests (lease_id, kind)
            where lease_id is not null;
        create index contribution_requests_status on contribution_requests (city, status);
        create table batches (
            batch_id text primary key,
            city text not null,
            message_id text not null unique,
            total_cents bigint not null check (total_cents >= 0),
            execution_date date not null,
            created_by text not null,
            created_on date not null
        );
        create table payments (
            payment_id text primary key,  -- also the SEPA EndToEndId
            request_id text not null references contribution_requests,
            batch_id text not null references batches,
            amount_cents bigint not null check (amount_cents > 0),
            status text not null check (status in ('sent', 'paid', 'failed')),
            reason text,
            settled_on date
        );
        -- Never paid twice: one payment per request that has not failed (sent or paid).
        create unique index payments_once on payments (request_id) where status <> 'failed';
        create index payments_batch on payments (batch_id);

        create table ledger_transactions (
            tx_id bigserial primary key,
            kind text not null,
            ref text not null,
            on_date date not null,
            city text not null,
            created_at timestamptz not null default now(),
            unique (kind, ref)
        );
        create table ledger_postings (
            tx_id bigint not null references ledger_transactions,
            n int not null,
            account text not null,
            amount_cents bigint not null check (amount_cents <> 0),
            budget_line_id text not null references budget_lines,
            case_id text,
            household_id text,
            provider_id text,
            primary key (tx_id, n)
        );
        create index ledger_postings_line on ledger_postings (budget_line_id, account);
        create index ledger_postings_case on ledger_postings (case_id) where case_id is not null;
        create index ledger_postings_household on ledger_postings (household_id) where household_id is not null;

        create function ledger_append_only() returns trigger language plpgsql as $$
        begin
            raise exception 'the ledger is append-only: % on % refused', tg_op, tg_table_name;
        end $$;
        create trigger ledger_transactions_append_only before update or delete on ledger_transactions
            for each row execute function ledger_append_only();
        create trigger ledger_postings_append_only before update or delete on ledger_postings
            for each row execute function ledger_append_only();

        -- Every transaction balances: checked when the inserting transaction commits.
        create function ledger_balanced() returns trigger language plpgsql as $$
        declare total bigint;
        begin
            select coalesce(sum(amount_cents), 0) into total from ledger_postings where tx_id = new.tx_id;
            if total <> 0 then
                raise exception 'ledger transaction % does not balance (%)', new.tx_id, total;
            end if;
            return null;
        end $$;
        create constraint trigger ledger_postings_balanced after insert on ledger_postings
            deferrable initially deferred for each row execute function ledger_balanced();

        -- The budget line's balance follows its budget_available postings; the check constraint refuses < 0.
        create function ledger_budget_available() returns trigger language plpgsql as $$
        begin
            if new.account = 'budget_available' then
                update budget_lines set available_cents = available_cents + new.amount_cents
                    where budget_line_id = new.budget_line_id;
            end if;
            return null;
        end $$;
        create trigger ledger_postings_budget after insert on ledger_postings
            for each row execute function ledger_budget_available();

        create table providers (
            provider_id text primary key,
            city text not null,
            kinds text[] not null,
            name jsonb not null,  -- Sealed
            iban jsonb,  -- Sealed
            registered_by text not null
        );
        create table vouchers (
            voucher_id text primary key,
            household_id text not null,
            case_id text not null,
            city text not null,
            kind text not null,
            value_cents bigint not null check (value_cents > 0),
            remaining_cents bigint not null check (remaining_cents >= 0 and remaining_cents <= value_cents),
            budget_line_id text not null references budget_lines,
            valid_until date not null,
            issued_on date not null,
            expired_on date
        );
        create table voucher_redemptions (
            redemption_id text primary key,
            voucher_id text not null references vouchers,
            provider_id text not null references providers,
            amount_cents bigint not null check (amount_cents > 0),
            on_date date not null,
            reimbursement_id text
        );
        create table reimbursements (
            batch_id text primary key,
            provider_id text not null references providers,
            city text not null,
            amount_cents bigint not null check (amount_cents > 0),
            on_date date not null
        );
        create table tutoring_sessions (
            session_id text primary key,
            household_id text not null,
            case_id text not null,
            city text not null,
            topics text[] not null,
            on_date date not null,
            recorded_by text not null
        );
        """,
    ),
    (
        "payments-2",
        """
        -- Rent and utilities are paid period by period: one request per lease, kind and period (the automatic
        -- lease-activation grant and deposit, which have no period, stay one per lease).
        drop index contribution_requests_lease;
        create unique index contribution_requests_lease_period
            on contribution_requests (lease_id, kind, coalesce(period_from, '-infinity'::date))
            where lease_id is not null;
        """,
    ),
    (
        "payments-3",
        """
        -- Four eyes on bank data (issue #23). Every change of a request's bank data gets a new version and its
        -- author; an approval records the version it approved and keeps that sealed bank data, the only bank
        -- data a batch pays. An approved (batched, paid) request's current bank data is the approved version,
        -- and none of its approvers set it.
        alter table contribution_requests
            add column bank_data_version int not null default 0 check (bank_data_version >= 0),
            add column bank_data_set_by text,
            add column bank_data_set_on date,
            add column bank_data_fields text[],
            add column approved_bank_data_version int,
            add column approved_beneficiary jsonb;
        -- Before this version bank data had no recorded author: the requester is assumed, and what is approved
        -- stays approved (docs/payments.md, "Upgrading to payments-3").
        update contribution_requests set bank_data_version = 1, bank_data_set_by = requested_by,
            bank_data_set_on = requested_on where beneficiary is not null;
        update contribution_requests set approved_bank_data_version = bank_data_version,
            approved_beneficiary = beneficiary where status in ('approved', 'batched', 'paid');
        alter table contribution_requests
            add constraint bank_data_approved check (
                status not in ('approved', 'batched', 'paid') or (
                    approved_bank_data_version = bank_data_version
                    and approved_beneficiary is not distinct from beneficiary
                    and (bank_data_set_by is null or (approved_by is distinct from bank_data_set_by
                        and second_approver is distinct from bank_data_set_by))
                )
            );

        -- A payment keeps the sealed bank data it was sent with: its pain.001 reads the same ever after, even
        -- once the bank returned it and the request's bank data changed and was approved again.
        alter table payments add column beneficiary jsonb;
        update payments p set beneficiary = r.approved_beneficiary from contribution_requests r
            where r.request_id = p.request_id;

        -- Voucher providers' bank data: the same rule. A reimbursement keeps the approved bank data it used.
        alter table providers
            add column bic jsonb,  -- Sealed
            add column bank_data_version int not null default 0 check (bank_data_version >= 0),
            add column bank_data_set_by text,
            add column bank_data_set_on date,
            add column approved_bank_data_version int,
            add column approved_iban jsonb,
            add column approved_bic jsonb,
            add column bank_data_approved_by text,
            add constraint provider_bank_data_approved check (
                approved_bank_data_version is distinct from bank_data_version
                or bank_data_approved_by is distinct from bank_data_set_by
            );
        -- Nobody but the registrar ever saw these: a second staff member approves them once after the upgrade.
        update providers set bank_data_version = 1, bank_data_set_by = registered_by where iban is not null;
        alter table reimbursements add column bank_data jsonb;  -- {"iban": Sealed, "bic"?: Sealed}

        -- A request in a batch or paid keeps its bank data, whatever the application does.
        create function bank_data_frozen() returns trigger language plpgsql as $$
        begin
            if old.status in ('batched', 'paid') and (new.beneficiary is distinct from old.beneficiary
                    or new.approved_beneficiary is distinct from old.approved_beneficiary) then
                raise exception 'request % is %: its bank data cannot change', old.request_id, old.status
                    using errcode = 'check_violation';
            end if;
            return new;
        end $$;
        create trigger contribution_requests_bank_data_frozen before update on contribution_requests
            for each row execute function bank_data_frozen();
        """,
    ),
    (
        "payments-4",
        """
        -- Payment files (issue #17): each pain.001 is written once, validated, and stored with its SHA-256; it is
        -- served byte-identical ever after. A MsgId names one file for ever (primary key), whether the file pays
        -- contributions or voucher providers. The content may only be shredded (set to null, digest kept).
        alter table policies add column pain_version text not null default 'pain.001.001.09'
            check (pain_version in ('pain.001.001.09', 'pain.001.001.03'));
        create table payment_files (
            message_id text primary key,
            batch_id text not null unique,
            purpose text not null check (purpose in ('contributions', 'reimbursements')),
            city text not null,
            pain_version text not null,
            payments int not null check (payments > 0),
            total_cents bigint not null check (total_cents > 0),
            sha256 text not null check (sha256 ~ '^[0-9a-f]{64}$'),
            content bytea,
            created_at timestamptz not null,
            retained_until date not null,  -- art. 2220 c.c.: ten years (docs/payments.md, "Retention")
            shredded_on date,
            shred_when_settled boolean not null default false,  -- an erasure asked: once no payment is in flight
            check ((content is null) = (shredded_on is not null)),
            check (content is null or sha256 = encode(sha256(content), 'hex'))
        );
        create function payment_file_immutable() returns trigger language plpgsql as $$
        begin
            if tg_op = 'DELETE' then
                if old.retained_until >= current_date then
                    raise exception 'payment file % is retained until %', old.message_id, old.retained_until
                        using errcode = 'check_violation';
                end if;
                return old;
            end if;
            if (new.message_id, new.batch_id, new.purpose, new.city, new.pain_version, new.payments,
                    new.total_cents, new.sha256, new.created_at, new.retained_until)
                    is distinct from (old.message_id, old.batch_id, old.purpose, old.city, old.pain_version,
                    old.payments, old.total_cents, old.sha256, old.created_at, old.retained_until)
                    or (new.content is not null and new.content is distinct from old.content) then
                raise exception 'payment file % is immutable (only its content may be shredded)', old.message_id
                    using errcode = 'check_violation';
            end if;
            return new;
        end $$;
        create trigger payment_files_immutable before update or delete on payment_files
            for each row execute function payment_file_immutable();

        -- Erasure (docs/payments.md, "Erasure and retention"): who belongs to which household, to know whose bank
        -- data a person's erasure shreds; and the erasures received (pseudonymous ids and dates only).
        create table household_members (
            household_id text not null,
            person_id text not null,
            primary key (household_id, person_id)
        );
        create index household_members_person on household_members (person_id);
        create table erasures (
            person_id text primary key,
            erased_on date not null
        );
        """,
    ),
    (
        "payments-5",
        """
        -- Voucher providers are paid by SEPA files like contributions (issue #17): a reimbursement run writes one
        -- payment file with a transfer per provider; each reimbursement is sent, then paid or failed as the bank
        -- says. A failed one gives its redemptions back to the next run.
        alter table reimbursements
            add column status text not null default 'paid' check (status in ('sent', 'paid', 'failed')),
            add column end_to_end_id text,
            add column run_id text,
            add column reason text,
            add column settled_on date;
        -- Before payments-5 a reimbursement was booked as paid when recorded (paid outside LgNet).
        update reimbursements set end_to_end_id = replace(batch_id, '-', ''), settled_on = on_date;
        alter table reimbursements alter column end_to_end_id set not null,
            add constraint reimbursements_end_to_end_id unique (end_to_end_id);
        create table reimbursement_items (
            reimbursement_id text not null references reimbursements (batch_id),
            redemption_id text not null references voucher_redemptions,
            amount_cents bigint not null check (amount_cents > 0),
            failed boolean not null default false,
            primary key (reimbursement_id, redemption_id)
        );
        -- Never paid twice: one reimbursement per redemption that has not failed (sent or paid).
        create unique index reimbursement_items_once on reimbursement_items (redemption_id) where not failed;
        insert into reimbursement_items (reimbursement_id, redemption_id, amount_cents)
            select reimbursement_id, redemption_id, amount_cents from voucher_redemptions
            where reimbursement_id is not null;
        """,
    ),
    (
        "payments-6",
        """
        -- Money tutoring: what each session led to (issue #17); older sessions have none recorded.
        alter table tutoring_sessions add column outcome text;
        create index tutoring_sessions_case on tutoring_sessions (case_id);
        create index tutoring_sessions_household on tutoring_sessions (city, household_id);
        """,
    ),
    (
        "payments-7",
        """
        -- A period is paid once: a new rent or utilities request looks up the household's requests (of any of its
        -- cases) of its kind whose period meets its own (service_layer/contributions.py). Older requests without a
        -- period stay as they are.
        create index contribution_requests_household_kind on contribution_requests (household_id, kind, period_from);
        """,
    ),
    (
        "payments-8",
        """
        -- A redemption's id is its provider's own (two providers may both number theirs from 1): `provider_ref` holds
        -- it, `redemption_id` is then the provider-scoped key ('<provider>/<its id>') the ledger and reimbursements
        -- name. Older redemptions keep their id there and no `provider_ref`.
        alter table voucher_redemptions add column provider_ref text;
        create unique index voucher_redemptions_provider_ref on voucher_redemptions (provider_id, provider_ref);
        """,
    ),
    (
        "payments-9",
        """
        -- Likely duplicates (the same person registered twice, two households): requests of one kind and period to
        -- the same payee. The payee's IBAN is sealed per household, so requests carry a keyed blind index of it
        -- (HMAC-SHA256 of the IBAN in electronic form under a secret derived from the master key), never the IBAN.
        -- Requests stored before keep none until their bank data is set again (docs/payments.md, "Duplicates").
        alter table contribution_requests add column iban_index text check (iban_index ~ '^[0-9a-f]{64}$');
        create index contribution_requests_iban_index on contribution_requests (city, kind, iban_index)
            where iban_index is not null;
        -- Who approved a possible duplicate anyway, why (a code) and which requests it looked like: kept for audit.
        create table duplicate_confirmations (
            confirmation_id bigserial primary key,
            request_id text not null references contribution_requests,
            confirmed_by text not null,
            reason text not null,
            duplicate_of text[] not null check (cardinality(duplicate_of) > 0),
            on_date date not null
        );
        create index duplicate_confirmations_request on duplicate_confirmations (request_id);
        """,
    ),
    (
        "payments-10",
        """
        -- A pain.001 carries payees' names and IBANs in clear: each download is recorded (who, when), for the city's
        -- staff and its data-protection officer. Append-only; kept as long as the file (ten years).
        create table payment_file_downloads (
            download_id bigserial primary key,
            message_id text not null references payment_files,
            city text not null,
            downloaded_by text not null,
            downloaded_at timestamptz not null default now()
        );
        create index payment_file_downloads_file on payment_file_downloads (message_id);
        -- Once its file's retention is over (an operator deletes expired records), its downloads may go with it.
        create function access_log_append_only() returns trigger language plpgsql as $$
        begin
            if tg_op = 'DELETE' and (select retained_until from payment_files where message_id = old.message_id)
                    < current_date then
                return old;
            end if;
            raise exception 'the download log is append-only: % on % refused', tg_op, tg_table_name;
        end $$;
        create trigger payment_file_downloads_append_only before update or delete on payment_file_downloads
            for each row execute function access_log_append_only();
        """,
    ),
    (
        "payments-11",
        """
        -- A transfer the bank refused because of the payee's account (closed, wrong, blocked: AC04, AC01, ...): the
        -- request waits for new bank data; approving the same bank data again is refused. The version refused, the
        -- reason and the day (docs/payments.md, "Returns and rejections").
        alter table contribution_requests add column payee_refused_version int,
            add column payee_refused_reason text, add column payee_refused_on date;
        """,
    ),
    (
        "payments-12",
        """
        -- The leases payments learnt (lease_signed): whose household each is. A request by hand names a lease of its
        -- case's household only (before, any id was taken: another household's lease, whose own requests were then
        -- refused or never created). Leases learnt before: from the requests the policy created for them.
        create table leases (
            lease_id text primary key,
            household_id text not null,
            city text not null
        );
        insert into leases (lease_id, household_id, city)
            select distinct on (lease_id) lease_id, household_id, city from contribution_requests
            where lease_id is not null and requested_by = 'payments-policy'
            order by lease_id, requested_on;
        """,
    ),
    (
        "payments-13",
        """
        -- Known shared payees of a city (a utility, a social-housing agency): their requests are possible duplicates
        -- only at the same amount too (docs/payments.md, "Duplicates"). The IBAN as its blind index and its last four
        -- characters; a label that names an organisation. Withdrawn entries stay, for the payments office's audit.
        create table shared_payees (
            shared_payee_id bigserial primary key,
            city text not null,
            iban_index text not null check (iban_index ~ '^[0-9a-f]{64}$'),
            iban_last4 text not null,
            label text not null,
            registered_by text not null,
            registered_on date not null,
            withdrawn_by text,
            withdrawn_on date
        );
        create unique index shared_payees_current on shared_payees (city, iban_index) where withdrawn_on is null;
        """,
    ),
    (
        "payments-14",
        """
        -- Erasure now forgets the stored answers' bank data and the fingerprints of the requests' bodies (plain
        -- SHA-256 of the payee's name and IBAN) of an erased household's requests (erasure.forget_stored_answers): do
        -- it for the households erased before. (The stored answers and the keys are the runtime's tables
        -- (lgnet_shared.runtime_schema): a schema without them yet has nothing to forget.)
        do $$ begin
        if to_regclass('idempotency_keys') is not null and to_regclass('person_keys') is not null then
            update idempotency_keys set
                request_hash = case when key like 'transition:%' then request_hash else 'erased' end,
                response = case when response ? 'iban_masked' then response || jsonb_build_object(
                    'iban_masked', null, 'approved_iban_masked', null, 'bic', null, 'bank_data_erased', true)
                    else response end
            where response->>'request_id' in (
                select r.request_id from contribution_requests r
                join person_keys k on k.kid = 'household:' || r.household_id where k.erased_at is not null);
        end if;
        end $$;
        """,
    ),
    (
        "payments-15",
        """
        -- A PUT sets the whole policy: two staff saving what they had read overwrote each other's settings. Each save
        -- counts a version, which a client sends back as If-Match (budgets.set_policy).
        alter table policies add column version int not null default 1 check (version >= 1);
        """,
    ),
    read_log_readers.MIGRATION,  # the DPOs' read-log tokens, which open GET /download-log
    (
        "payments-16",
        """
        -- Through what a file was downloaded, as the caller says (`desk`, else `api`): a label in the DPO's log.
        alter table payment_file_downloads add column via text not null default 'api' check (via in ('desk', 'api'));
        create index payment_file_downloads_city on payment_file_downloads (city, downloaded_at);
        """,
    ),
    (
        "payments-17",
        """
        -- A refused download of an existing file (a cooperative, another city's staff, the national role) is kept
        -- too, `denied`, for the city's DPO (as intake's read log keeps refused reads).
        alter table payment_file_downloads
            add column outcome text not null default 'shown' check (outcome in ('shown', 'denied'));
        """,
    ),
    (
        "payments-18",
        """
        -- "Who saw my IBAN?": each download keeps the members (ids) of the households its file pays, as they were
        -- then, so that a subject-access request finds it by the person's id. A reimbursement run's file pays
        -- organisations: none. Downloads before this get the members at the upgrade (the log is append-only: its
        -- trigger is set aside for this one update).
        alter table payment_file_downloads add column person_ids text[] not null default '{}';
        alter table payment_file_downloads disable trigger payment_file_downloads_append_only;
        update payment_file_downloads d set person_ids = paid.person_ids
            from (select f.message_id, array_agg(distinct m.person_id order by m.person_id) as person_ids
                  from payment_files f join payments p on p.batch_id = f.batch_id
                  join contribution_requests r using (request_id)
                  join household_members m on m.household_id = r.household_id
                  group by f.message_id) paid
            where paid.message_id = d.message_id;
        alter table payment_file_downloads enable trigger payment_file_downloads_append_only;
        create index payment_file_downloads_persons on payment_file_downloads using gin (person_ids);
        """,
    ),
    (
        "payments-19",
        """
        -- A provider's name is sealed in its row (a natural person may be one): the stored answers of its
        -- registration, bank data change and approval no longer keep it (a retry reads it back); those stored before
        -- lose it here.
        -- (The table is the HTTP runtime's: a schema without it has none stored.)
        do $$ begin
        if to_regclass('idempotency_keys') is not null then
            update idempotency_keys set response = response - 'name'
                where response ? 'provider_id' and response ? 'bank_data_version' and response ? 'name';
        end if;
        end $$;
        """,
    ),
    # The owners of the ids already kept (owned_ids.backfill): a national payments upgraded with its records refuses
    # another city's fact about them from its first one on.
    owned_ids.backfill("payments-20", "select household_id, city from households", "select case_id, city from cases"),
    (
        "payments-21",
        """
        -- Who read a request's payee (its name, its IBAN masked) through the API, for the city's DPO, as intake's and
        -- housing's read logs keep the reads of their data. No entry is changed; past its retention one is deleted
        -- (`lgnet-admin --schema payments purge-read-log`).
        create table read_log (
            entry_id bigserial primary key,
            at timestamptz not null default now(),
            principal text not null,
            role text not null,
            partner text,
            city text not null,  -- the request's
            request_id text not null,
            case_id text not null,
            household_id text not null,
            person_ids text[] not null default '{}',  -- the household's members when read
            kind text not null,
            outcome text not null check (outcome in ('shown', 'denied')),
            via text not null check (via in ('desk', 'api'))
        );
        create index read_log_city on read_log (city, at);
        create index read_log_household on read_log (household_id, at);
        create index read_log_persons on read_log using gin (person_ids);
        create function read_log_append_only() returns trigger language plpgsql as $$
        begin
            raise exception 'the read log is append-only: % on % refused', tg_op, tg_table_name;
        end $$;
        create trigger read_log_append_only before update on read_log
            for each row execute function read_log_append_only();
        """,
    ),
    partner_sharing.migration(
        "payments-23",
        "A partner reads a case's payments only while every member its household has had consents (docs/partners.md).",
    ),
]
