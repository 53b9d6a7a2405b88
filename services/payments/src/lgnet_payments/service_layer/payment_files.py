"""Payment files: a pain.001 is written once per batch (contributions) or reimbursement run (voucher providers),
validated in full by libxml2, and stored with its SHA-256 before anything refers to it; every download serves those
bytes. The debtor account's policy says which message version its bank takes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from lgnet_shared.db import Conn
from lgnet_shared.errors import Conflict

from lgnet_payments.adapters import payment_files as store
from lgnet_payments.adapters import repository as repo
from lgnet_payments.adapters import sepa
from lgnet_payments.service_layer.context import Context, UnitOfWork


async def write(
    uow: UnitOfWork,
    *,
    batch_id: str,
    message_id: str,
    purpose: str,
    city: str,
    execution_date: date,
    transfers: Sequence[sepa.Transfer],
) -> dict[str, Any]:
    policy = await repo.policy(uow.conn, city)
    if not (policy.debtor_name and policy.debtor_iban):
        raise Conflict("policy.debtor_iban", f"{city} has no paying account configured (PUT /policies/{city})")
    version = sepa.PainVersion(policy.pain_version)
    created_at = datetime.now(UTC).replace(microsecond=0)
    try:
        xml = sepa.pain001(
            message_id,
            sepa.Debtor(policy.debtor_name, policy.debtor_iban, policy.debtor_bic),
            execution_date,
            transfers,
            created_at=created_at,
            version=version,
        )
    except sepa.InvalidSepaFile as exc:
        raise Conflict("batch_id", f"the file does not validate against {version.value}: {exc}") from None
    return await store.insert(
        uow.conn,
        message_id=message_id,
        batch_id=batch_id,
        purpose=purpose,
        city=city,
        pain_version=version.value,
        payments=len(transfers),
        total_cents=sum(t.amount_cents for t in transfers),
        content=xml,
        created_at=created_at,
    )


def content(file: dict[str, Any]) -> bytes:
    """The stored bytes, or why they are gone (an erasure shredded them once every payment was settled)."""
    if file["content"] is None:
        raise Conflict(
            "batch_id",
            f"the content of payment file {file['message_id']} (sha256 {file['sha256']}) was shredded on"
            f" {file['shredded_on'].isoformat()} after an erasure; its amounts and dates are kept",
        )
    data: bytes = file["content"]
    return data


async def served(uow: UnitOfWork, ctx: Context, file: dict[str, Any], via: str) -> bytes:
    """The stored bytes for a download, recorded (who, when, `via` desk or api) in the file's download log: it holds
    names and IBANs. The city's DPO reads that log (`GET /download-log`)."""
    data = content(file)
    await store.record_download(uow.conn, file["message_id"], file["city"], ctx.actor.id, via)
    return data


async def refused(conn: Conn, actor_id: str, batch_id: str, via: str) -> None:
    """A download refused (403, or 404 to another city's caller) of a file that exists: kept `denied` in the file's
    city's log, in a transaction of its own (the refused request's rolled back). Nothing for a file that does not
    exist (nor for a batch made before files were stored, whose file is written at its first download)."""
    file = await store.of_batch(conn, batch_id)
    if file is not None:
        await store.record_download(conn, file["message_id"], file["city"], actor_id, via, "denied")


# The city's downloads of its files, newest first, for its DPO (a read-log token: no actor here); `person_id`, a
# subject-access request's. A read of the log, nothing to orchestrate: the adapter's query itself.
download_log = store.download_log


async def summary(uow: UnitOfWork, file: dict[str, Any] | None) -> dict[str, Any] | None:
    """What a batch or run view says of its file (never its content), with who downloaded it and when."""
    if file is None:
        return None
    keys = ("message_id", "sha256", "pain_version", "created_at", "retained_until", "shredded_on")
    return {k: file[k] for k in keys} | {"downloads": await store.downloads(uow.conn, file["message_id"])}
