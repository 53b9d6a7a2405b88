"""Payments' state in PostgreSQL: cases, policies, budget lines, requests, batches, payments, vouchers."""

from __future__ import annotations

from datetime import date
from typing import Any

from lgnet_shared.db import Conn

from lgnet_payments.domain.policy import CityPolicy
from lgnet_payments.domain.requests import LIVE, ONE_OFF_WINDOW_DAYS, ContributionRequest, RequestStatus
from lgnet_payments.domain.vouchers import Provider, Voucher

Row = dict[str, Any]

# ------------------------------------------------------------------ cases and households (from intake)


async def upsert_case(
    conn: Conn, case_id: str, household_id: str, city: str, partner: str | None, opened_on: date | None
) -> None:
    await conn.execute(
        "insert into cases (case_id, household_id, city, partner, opened_on) values ($1, $2, $3, $4, $5)"
        " on conflict (case_id) do update set household_id = excluded.household_id, city = excluded.city,"
        " partner = coalesce(excluded.partner, cases.partner), opened_on = coalesce(excluded.opened_on,"
        " cases.opened_on)",
        case_id,
        household_id,
        city,
        partner,
        opened_on,
    )


async def close_case(conn: Conn, case_id: str, closed_on: date) -> None:
    await conn.execute("update cases set closed_on = $2 where case_id = $1", case_id, closed_on)


# A partner reads a case's payments only while every member of its household has consented to sharing with partners
# (intake's rule for a person's data: docs/partners.md): every member it has had (`household_members`), since its
# payments of then concern her too. The cases (`cases` as `c`) it may read so: their household's members known, each
# with the consent granted and not withdrawn since.
SHARED_CASE = (
    "(exists (select 1 from household_members m where m.household_id = c.household_id)"
    " and not exists (select 1 from household_members m where m.household_id = c.household_id"
    " and not exists (select 1 from partner_sharing s where s.person_id = m.person_id and s.granted)))"
)


# The cases of partner $n whose payments it may read.
def partners_readable_cases(n: int) -> str:
    return f"(select c.case_id from cases c where c.partner = ${n} and {SHARED_CASE})"


async def household_cases(conn: Conn, household_id: str) -> list[Row]:
    """The household's cases (city, partner, whether its members consented to sharing): whom it is known to."""
    rows = await conn.fetch(
        f"select c.city, c.partner, {SHARED_CASE} as partner_sharing from cases c where c.household_id = $1",
        household_id,
    )
    return [dict(r) for r in rows]


async def record_lease(conn: Conn, lease_id: str, household_id: str, city: str) -> None:
    await conn.execute(
        "insert into leases (lease_id, household_id, city) values ($1, $2, $3) on conflict (lease_id) do nothing",
        lease_id,
        household_id,
        city,
    )


async def lease(conn: Conn, lease_id: str) -> Row | None:
    row = await conn.fetchrow("select * from leases where lease_id = $1", lease_id)
    return None if row is None else dict(row)


async def upsert_household(conn: Conn, household_id: str, city: str, person_ids: list[str]) -> None:
    """The household and its members in one statement: a pipelined consumer sends consecutive households' writes
    as one executemany (the CTE always runs to completion; no foreign key orders the two tables)."""
    await conn.execute(
        "with household as (insert into households values ($1, $2)"
        " on conflict (household_id) do update set city = excluded.city)"
        " insert into household_members select $1, unnest($3::text[]) on conflict do nothing",
        household_id,
        city,
        list(dict.fromkeys(person_ids)),
    )


async def add_members(conn: Conn, household_id: str, person_ids: list[str]) -> None:
    """Who belongs (or belonged: a member who left may still be in its bank data) to the household."""
    await conn.execute(
        "insert into household_members select $1, unnest($2::text[]) on conflict do nothing",
        household_id,
        list(dict.fromkeys(person_ids)),
    )


async def case(conn: Conn, case_id: str) -> Row | None:
    """The case, and whether a partner may read its payments (`partner_sharing`: SHARED_CASE)."""
    row = await conn.fetchrow(
        f"select c.*, {SHARED_CASE} as partner_sharing from cases c where c.case_id = $1", case_id
    )
    return None if row is None else dict(row)


# ------------------------------------------------------------------ policies


async def policy(conn: Conn, city: str) -> CityPolicy:
    row = await conn.fetchrow("select * from policies where city = $1", city)
    if row is None:
        return CityPolicy(city)
    fields = CityPolicy.__dataclass_fields__
    return CityPolicy(**{k: v for k, v in dict(row).items() if k in fields})


async def save_policy(conn: Conn, p: CityPolicy, by: str, if_version: int | None) -> int | None:
    """The policy saved, its new version; None when `if_version` is given and is not the recorded one (0: none is
    recorded). Two first saves at once both find no row: the second meets the first at the primary key, and its
    `where` finds version 1."""
    if if_version is not None:
        recorded = await conn.fetchval("select version from policies where city = $1 for update", p.city)
        if if_version != (recorded or 0):
            return None
    version: int | None = await conn.fetchval(
        "insert into policies (city, second_approval_threshold_cents, lease_activation_months,"
        " lease_activation_cap_cents, deposit_cap_cents, debtor_name, debtor_iban, debtor_bic, pain_version,"
        " updated_by) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) on conflict (city) do update set"
        " second_approval_threshold_cents = excluded.second_approval_threshold_cents,"
        " lease_activation_months = excluded.lease_activation_months,"
        " lease_activation_cap_cents = excluded.lease_activation_cap_cents,"
        " deposit_cap_cents = excluded.deposit_cap_cents, debtor_name = excluded.debtor_name,"
        " debtor_iban = excluded.debtor_iban, debtor_bic = excluded.debtor_bic,"
        " pain_version = excluded.pain_version, updated_by = excluded.updated_by, updated_at = now(),"
        " version = policies.version + 1 where $11::int is null or policies.version = $11 returning version",
        p.city,
        p.second_approval_threshold_cents,
        p.lease_activation_months,
        p.lease_activation_cap_cents,
        p.deposit_cap_cents,
        p.debtor_name,
        p.debtor_iban,
        p.debtor_bic,
        p.pain_version,
        by,
        if_version,
    )
    return version


# ------------------------------------------------------------------ budget lines


async def budget_line(conn: Conn, budget_line_id: str, *, lock: bool = False) -> Row | None:
    sql = "select * from budget_lines where budget_line_id = $1" + (" for update" if lock else "")
    row = await conn.fetchrow(sql, budget_line_id)
    return None if row is None else dict(row)


async def budget_line_for(conn: Conn, city: str, line: str, *, lock: bool = False) -> Row | None:
    sql = "select * from budget_lines where city = $1 and line = $2" + (" for update" if lock else "")
    row = await conn.fetchrow(sql, city, line)
    return None if row is None else dict(row)


async def insert_budget_line(conn: Conn, budget_line_id: str, city: str, line: str) -> bool:
    return bool(
        await conn.fetchval(
            "insert into budget_lines (budget_line_id, city, line) values ($1, $2, $3)"
            " on conflict do nothing returning true",
            budget_line_id,
            city,
            line,
        )
    )


async def add_allocated(conn: Conn, budget_line_id: str, delta: int) -> None:
    await conn.execute(
        "update budget_lines set allocated_cents = allocated_cents + $2 where budget_line_id = $1",
        budget_line_id,
        delta,
    )


async def budget_lines(conn: Conn, city: str | None) -> list[Row]:
    rows = await conn.fetch("select * from budget_lines where $1::text is null or city = $1 order by city, line", city)
    return [dict(r) for r in rows]


# ------------------------------------------------------------------ contribution requests


def _request(row: Any) -> ContributionRequest:
    return ContributionRequest(
        request_id=row["request_id"],
        case_id=row["case_id"],
        household_id=row["household_id"],
        city=row["city"],
        kind=row["kind"],
        budget_line_id=row["budget_line_id"],
        amount_cents=row["amount_cents"],
        requested_by=row["requested_by"],
        status=RequestStatus(row["status"]),
        first_approver=row["first_approver"],
        bank_data_version=row["bank_data_version"],
        bank_data_set_by=row["bank_data_set_by"],
        payee_refused_version=row["payee_refused_version"],
        payee_refused_reason=row["payee_refused_reason"],
        approved_bank_data_version=row["approved_bank_data_version"],
        period_from=row["period_from"],
    )


async def insert_request(conn: Conn, r: Row) -> bool:
    """False when the request (or the lease's request of that kind) already exists."""
    cols = list(r)
    return bool(
        await conn.fetchval(
            f"insert into contribution_requests ({', '.join(cols)}) values"
            f" ({', '.join(f'${i + 1}' for i in range(len(cols)))}) on conflict do nothing returning true",
            *r.values(),
        )
    )


async def overlapping_request(
    conn: Conn, household_id: str, kind: str, period_from: date, period_to: date
) -> Row | None:
    """A request of the household (any of its cases) and kind, not rejected, that pays a day of the period. The
    transaction holds a lock on (household, kind) until it ends, so two concurrent requests for the same days cannot
    both pass this check."""
    await conn.execute("select pg_advisory_xact_lock(hashtext($1))", f"contribution-period:{household_id}:{kind}")
    row = await conn.fetchrow(
        "select request_id, case_id, period_from, period_to, (select partner from cases c where c.case_id = r.case_id)"
        " as case_partner from contribution_requests r"
        " where household_id = $1 and kind = $2 and status <> 'rejected' and period_from <= $4 and period_to >= $3"
        " order by period_from limit 1",
        household_id,
        kind,
        period_from,
        period_to,
    )
    return None if row is None else dict(row)


async def live_lease_request(
    conn: Conn, household_id: str, kind: str, since: date, *, unlinked: bool = False
) -> Row | None:
    """The household's (any of its cases) request of a lease kind that is pending (requested, approved, batched) or
    was paid and asked since `since`; only one that names no lease when `unlinked`. The transaction holds a lock on
    (household, kind) until it ends: a manual request and a signed lease cannot both pass the check at once."""
    await conn.execute("select pg_advisory_xact_lock(hashtext($1))", f"contribution-lease:{household_id}:{kind}")
    row = await conn.fetchrow(
        "select request_id, case_id, lease_id, status, (select partner from cases c where c.case_id = r.case_id)"
        " as case_partner from contribution_requests r"
        " where household_id = $1 and kind = $2 and (status in ('requested', 'approved', 'batched')"
        " or (status = 'paid' and requested_on >= $3)) and (not $4 or lease_id is null)"
        " order by requested_on desc, request_id desc limit 1",
        household_id,
        kind,
        since,
        unlinked,
    )
    return None if row is None else dict(row)


async def possible_duplicates(conn: Conn, request_ids: list[str], partner: str | None = None) -> dict[str, list[Row]]:
    """Per request, the other live requests of its city and kind to the same payee (blind index of the IBAN) that
    pay a day of its period, or for a kind without a period were requested within ONE_OFF_WINDOW_DAYS of it
    (domain/requests.py); to a known shared payee of the city, only those of the same amount too. A partner sees
    only those of its own cases."""
    rows = await conn.fetch(
        "select r.request_id as of_request, o.request_id, o.case_id, o.kind, o.status, o.period_from, o.period_to,"
        " o.amount_cents from contribution_requests r join contribution_requests o on o.city = r.city"
        " and o.kind = r.kind and o.iban_index = r.iban_index and o.request_id <> r.request_id"
        " and (o.amount_cents = r.amount_cents or not exists (select 1 from shared_payees s where s.city = r.city"
        " and s.iban_index = r.iban_index and s.withdrawn_on is null))"
        " and o.status = any($2::text[]) and case when r.period_from is not null and o.period_from is not null"
        " then o.period_from <= r.period_to and o.period_to >= r.period_from"
        " else abs(o.requested_on - r.requested_on) <= $3 end"
        " where r.request_id = any($1::text[]) and r.iban_index is not null"
        f" and ($4::text is null or o.case_id in {partners_readable_cases(4)})"
        " order by r.request_id, o.request_id",
        request_ids,
        [s.value for s in LIVE],
        ONE_OFF_WINDOW_DAYS,
        partner,
    )
    out: dict[str, list[Row]] = {}
    for row in rows:
        d = dict(row)
        out.setdefault(d.pop("of_request"), []).append(d)
    return out


async def record_duplicate_confirmation(
    conn: Conn, request_id: str, by: str, reason: str, duplicate_of: list[str], on: date
) -> None:
    await conn.execute(
        "insert into duplicate_confirmations (request_id, confirmed_by, reason, duplicate_of, on_date)"
        " values ($1, $2, $3, $4, $5)",
        request_id,
        by,
        reason,
        duplicate_of,
        on,
    )


async def duplicate_confirmations(conn: Conn, request_ids: list[str]) -> dict[str, Row]:
    """The latest confirmation of each request that has one."""
    rows = await conn.fetch(
        "select distinct on (request_id) request_id, confirmed_by, reason, duplicate_of, on_date as on"
        " from duplicate_confirmations where request_id = any($1::text[])"
        " order by request_id, confirmation_id desc",
        request_ids,
    )
    return {r["request_id"]: {k: v for k, v in dict(r).items() if k != "request_id"} for r in rows}


async def request(conn: Conn, request_id: str, *, lock: bool = False) -> ContributionRequest | None:
    sql = "select * from contribution_requests where request_id = $1" + (" for update" if lock else "")
    row = await conn.fetchrow(sql, request_id)
    return None if row is None else _request(row)


async def request_row(conn: Conn, request_id: str) -> Row | None:
    row = await conn.fetchrow("select * from contribution_requests where request_id = $1", request_id)
    return None if row is None else dict(row)


async def committed(conn: Conn, request_id: str) -> bool:
    """The request's amount is committed in the ledger (approved once) and not released (rejected since)."""
    return bool(
        await conn.fetchval(
            "select exists (select 1 from ledger_transactions where kind = 'commitment' and ref = $1)"
            " and not exists (select 1 from ledger_transactions where kind = 'commitment_released' and ref = $1)",
            request_id,
        )
    )


async def update_request(conn: Conn, request_id: str, **values: Any) -> None:
    sets = ", ".join(f"{k} = ${i + 2}" for i, k in enumerate(values))
    await conn.execute(f"update contribution_requests set {sets} where request_id = $1", request_id, *values.values())


async def requests(
    conn: Conn, city: str, status: str | None, case_id: str | None, partner: str | None = None
) -> list[Row]:
    rows = await conn.fetch(
        "select request_id, case_id, household_id, city, kind, budget_line_id, amount_cents, lease_id,"
        " period_from, period_to, requested_by, requested_on, status, first_approver, approved_by,"
        " second_approver, rejected_by, reason, beneficiary, approved_beneficiary, bank_data_version, iban_index,"
        " bank_data_set_by, bank_data_set_on, bank_data_fields, approved_bank_data_version,"
        " payee_refused_version, payee_refused_reason, payee_refused_on"
        " from contribution_requests where city = $1 and ($2::text is null or status = $2)"
        " and ($3::text is null or case_id = $3)"
        f" and ($4::text is null or case_id in {partners_readable_cases(4)}) order by request_id",
        city,
        status,
        case_id,
        partner,
    )
    return [dict(r) for r in rows]


async def awaiting_bank_data(conn: Conn, city: str, partner: str | None = None) -> list[Row]:
    """Live requests that cannot be paid until the payee's bank data is given: never given, or refused by the
    payee's bank (and not changed since). A partner: its own cases'."""
    rows = await conn.fetch(
        "select request_id, case_id, household_id, kind, amount_cents, requested_on, payee_refused_reason,"
        " payee_refused_on from contribution_requests where city = $1 and status in ('requested', 'approved')"
        " and (beneficiary is null or payee_refused_version = bank_data_version)"
        f" and ($2::text is null or case_id in {partners_readable_cases(2)})"
        " order by coalesce(payee_refused_on, requested_on), request_id",
        city,
        partner,
    )
    return [dict(r) for r in rows]


async def lock_payable(conn: Conn, city: str, limit: int) -> list[Row]:
    """Approved requests with approved bank data, locked for this batch; rows another batch holds are skipped."""
    rows = await conn.fetch(
        "select * from contribution_requests where city = $1 and status = 'approved'"
        " and approved_beneficiary is not null and approved_bank_data_version = bank_data_version"
        # A household whose bank data was erased cannot be paid: its requests wait for staff (docs/payments.md).
        " and not exists (select 1 from person_keys k where k.kid = 'household:' || household_id"
        " and k.erased_at is not null)"
        " order by request_id limit $2 for update skip locked",
        city,
        limit,
    )
    return [dict(r) for r in rows]


# ------------------------------------------------------------------ batches and payments


async def insert_batch(conn: Conn, b: Row) -> None:
    cols = list(b)
    await conn.execute(
        f"insert into batches ({', '.join(cols)}) values ({', '.join(f'${i + 1}' for i in range(len(cols)))})",
        *b.values(),
    )


async def insert_payments(conn: Conn, rows: list[tuple[str, str, str, int, Any]]) -> None:
    """(payment_id, request_id, batch_id, amount, sealed approved bank data): the unique index refuses a second
    live payment."""
    await conn.executemany(
        "insert into payments (payment_id, request_id, batch_id, amount_cents, status, beneficiary)"
        " values ($1, $2, $3, $4, 'sent', $5)",
        rows,
    )


async def batch(conn: Conn, batch_id: str) -> Row | None:
    row = await conn.fetchrow("select * from batches where batch_id = $1", batch_id)
    return None if row is None else dict(row)


async def batches(conn: Conn, city: str, limit: int) -> list[Row]:
    """The city's batches, newest first, with how many of their payments are sent, paid and failed."""
    rows = await conn.fetch(
        "select b.batch_id, b.city, b.message_id, b.total_cents, b.execution_date, b.created_by, b.created_on,"
        " count(p.payment_id) as payments, count(*) filter (where p.status = 'sent') as sent,"
        " count(*) filter (where p.status = 'paid') as paid, count(*) filter (where p.status = 'failed') as failed"
        " from batches b left join payments p using (batch_id) where b.city = $1"
        " group by b.batch_id order by b.created_on desc, b.batch_id desc limit $2",
        city,
        limit,
    )
    return [dict(r) for r in rows]


async def batch_payments(conn: Conn, batch_id: str) -> list[Row]:
    rows = await conn.fetch(
        "select p.*, r.kind, r.case_id, r.household_id from payments p"
        " join contribution_requests r using (request_id) where p.batch_id = $1 order by p.payment_id",
        batch_id,
    )
    return [dict(r) for r in rows]


async def lock_settled(conn: Conn, end_to_end_ids: list[str]) -> None:
    """The payments and reimbursements a bank file settles, locked in one order (their ids'): two files naming the
    same transfers in other orders, applied at once, each took them one by one in its own order and deadlocked."""
    ids = sorted(set(end_to_end_ids))
    await conn.execute("select 1 from payments where payment_id = any($1::text[]) order by payment_id for update", ids)
    await conn.execute(
        "select 1 from reimbursements where end_to_end_id = any($1::text[]) order by end_to_end_id for update", ids
    )


async def payment_for_update(conn: Conn, payment_id: str) -> Row | None:
    row = await conn.fetchrow(
        "select p.*, r.city, r.kind, r.case_id, r.household_id, r.budget_line_id, b.created_on as sent_on"
        " from payments p join contribution_requests r using (request_id) join batches b on b.batch_id = p.batch_id"
        " where p.payment_id = $1 for update of p",
        payment_id,
    )
    return None if row is None else dict(row)


async def settle_payment(conn: Conn, payment_id: str, status: str, reason: str | None, on: date) -> None:
    await conn.execute(
        "update payments set status = $2, reason = $3, settled_on = $4 where payment_id = $1",
        payment_id,
        status,
        reason,
        on,
    )


# ------------------------------------------------------------------ vouchers and providers


async def provider(conn: Conn, provider_id: str) -> Provider | None:
    row = await conn.fetchrow("select provider_id, city, kinds from providers where provider_id = $1", provider_id)
    return None if row is None else Provider(row["provider_id"], row["city"], tuple(row["kinds"]))


async def provider_ids(conn: Conn, city: str) -> list[str]:
    return [
        r["provider_id"] for r in await conn.fetch("select provider_id from providers where city = $1 order by 1", city)
    ]


async def reimbursement_runs(conn: Conn, city: str, limit: int) -> list[Row]:
    """The city's reimbursement runs, newest first: their file, transfers, total and where the transfers stand."""
    rows = await conn.fetch(
        "select r.run_id, f.message_id, min(r.on_date) as made_on, count(*) as transfers,"
        " sum(r.amount_cents) as total_cents, count(*) filter (where r.status = 'sent') as sent,"
        " count(*) filter (where r.status = 'paid') as paid, count(*) filter (where r.status = 'failed') as failed"
        " from reimbursements r left join payment_files f on f.batch_id = r.run_id where r.city = $1"
        " group by r.run_id, f.message_id order by made_on desc, r.run_id desc limit $2",
        city,
        limit,
    )
    return [dict(r) for r in rows]


async def provider_holder(conn: Conn, provider_id: str) -> tuple[str | None, str | None]:
    """(city, who registered it) of the provider `provider_id`, or (None, None) (`lgnet_shared.access.id_taken`)."""
    row = await conn.fetchrow("select city, registered_by from providers where provider_id = $1", provider_id)
    return (row["city"], row["registered_by"]) if row else (None, None)


async def insert_provider(conn: Conn, r: Row) -> bool:
    cols = list(r)
    return bool(
        await conn.fetchval(
            f"insert into providers ({', '.join(cols)}) values"
            f" ({', '.join(f'${i + 1}' for i in range(len(cols)))}) on conflict do nothing returning true",
            *r.values(),
        )
    )


async def insert_voucher(conn: Conn, r: Row) -> None:
    cols = list(r)
    await conn.execute(
        f"insert into vouchers ({', '.join(cols)}) values ({', '.join(f'${i + 1}' for i in range(len(cols)))})",
        *r.values(),
    )


def _voucher(row: Any) -> Voucher:
    return Voucher(
        voucher_id=row["voucher_id"],
        city=row["city"],
        kind=row["kind"],
        value_cents=row["value_cents"],
        remaining_cents=row["remaining_cents"],
        valid_until=row["valid_until"],
        expired=row["expired_on"] is not None,
    )


async def voucher(conn: Conn, voucher_id: str, *, lock: bool = False) -> tuple[Voucher, Row] | None:
    sql = "select * from vouchers where voucher_id = $1" + (" for update" if lock else "")
    row = await conn.fetchrow(sql, voucher_id)
    return None if row is None else (_voucher(row), dict(row))


async def vouchers(conn: Conn, city: str, household_id: str | None, partner: str | None = None) -> list[Row]:
    rows = await conn.fetch(
        "select * from vouchers where city = $1 and ($2::text is null or household_id = $2)"
        f" and ($3::text is null or case_id in {partners_readable_cases(3)}) order by voucher_id",
        city,
        household_id,
        partner,
    )
    return [dict(r) for r in rows]


async def expirable(conn: Conn, city: str, today: date) -> list[Row]:
    rows = await conn.fetch(
        "select * from vouchers where city = $1 and expired_on is null and valid_until < $2 for update skip locked",
        city,
        today,
    )
    return [dict(r) for r in rows]


SHARED_PAYEE = "shared_payee_id, city, '••••' || iban_last4 as iban_masked, label, registered_by, registered_on"


async def add_shared_payee(
    conn: Conn, city: str, iban_index: str, last4: str, label: str, by: str, on: date
) -> Row | None:
    """The city's new shared payee, or None when that IBAN is on its list already."""
    row = await conn.fetchrow(
        "insert into shared_payees (city, iban_index, iban_last4, label, registered_by, registered_on)"
        " values ($1, $2, $3, $4, $5, $6) on conflict (city, iban_index) where withdrawn_on is null do nothing"
        f" returning {SHARED_PAYEE}",
        city,
        iban_index,
        last4,
        label,
        by,
        on,
    )
    return None if row is None else dict(row)


async def shared_payees(conn: Conn, city: str) -> list[Row]:
    rows = await conn.fetch(
        f"select {SHARED_PAYEE} from shared_payees where city = $1 and withdrawn_on is null order by label, 1", city
    )
    return [dict(r) for r in rows]


async def withdraw_shared_payee(conn: Conn, city: str, shared_payee_id: int, by: str, on: date) -> Row | None:
    """The entry taken off the list, or None when the city has no such entry on it."""
    row = await conn.fetchrow(
        "update shared_payees set withdrawn_by = $3, withdrawn_on = $4"
        " where shared_payee_id = $1 and city = $2 and withdrawn_on is null"
        f" returning {SHARED_PAYEE}, withdrawn_by, withdrawn_on",
        shared_payee_id,
        city,
        by,
        on,
    )
    return None if row is None else dict(row)
