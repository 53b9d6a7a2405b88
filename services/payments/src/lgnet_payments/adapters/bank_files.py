"""Reading the bank's results: ISO 20022 camt.054 (debit notifications with returns) or camt.053 (statement,
same entries), and the documented CSV.

Files come from outside: XML is first validated in full against its ISO 20022 XSD by libxml2 (camt.054.001.08
or .02, camt.053.001.08 or .02; the official schemas, vendored in xsd/ with their source in xsd/SOURCE.md), with no
DTD, no entities and no network; a file that fails is refused with the line and the rule, before anything of it is
read. It is then read with defusedxml. See docs/payments.md for both formats.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element

from defusedxml import ElementTree as SafeET
from lgnet_shared.errors import ContractError

from lgnet_payments.adapters import sepa
from lgnet_payments.domain.reconciliation import BankResult, euros_to_cents, reason_code

CSV_COLUMNS = ("end_to_end_id", "status", "amount", "booking_date", "reason")
MAX_BYTES = 50 * 1024 * 1024
XSD_DIR = Path(__file__).parent / "xsd"
XSD_SHA256 = {  # the vendored official schemas (xsd/SOURCE.md)
    "camt.054.001.08": "2b392a1f7e70e70902fd0d803ff85989613bd1cae351663240b0bb9243be2c28",
    "camt.054.001.02": "8bb91f1d645277487b4262538c9064161e8feb48ceb8b0c680716fd07c32da01",
    "camt.053.001.08": "ca0b135cc8e2dde5b2f99af6b6c514a8f29d6e7c6cf98e9ea84d247189868ff5",
    "camt.053.001.02": "05ec472590dda5e433fd646e9cf3849fa1ba01c033052aaca3089cec6862692d",
}
NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:"
# Our EndToEndIds, a payment's or a reimbursement's: 32 hexadecimal characters. A bank's file of the city's account
# carries its other movements too; those are not ours and are left. One of our form that we do not know refuses the
# file (404), as in a CSV, which has ours only.
OUR_END_TO_END_ID = re.compile(r"[0-9a-fA-F]{32}")


@cache
def _schema(message: str) -> Any:
    from lxml import etree

    return etree.XMLSchema(etree.parse(str(XSD_DIR / f"{message}.xsd")))


def validate_camt(data: bytes) -> str:
    """The camt message (e.g. camt.054.001.08) after validating the whole file against its XSD, or a
    ContractError on `file` with the line and the rule (never a value: it may be a name or an IBAN)."""
    head = data[:4096]
    message = next((m for m in XSD_SHA256 if f'"{NAMESPACE}{m}"'.encode() in head), None)
    if message is None:
        accepted = ", ".join(XSD_SHA256)
        raise ContractError("file", f"not an ISO 20022 document of an accepted version ({accepted})")
    try:
        sepa.validate_stream(data, _schema(message), f"{{{NAMESPACE}{message}}}Ntry")
    except sepa.InvalidSepaFile as exc:
        raise ContractError("file", f"does not validate against {message}: {exc}") from None
    return message


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _child(el: Element | None, *path: str) -> Element | None:
    for name in path:
        if el is None:
            return None
        el = next((c for c in el if _local(c.tag) == name), None)
    return el


def _text(el: Element | None, *path: str) -> str | None:
    found = _child(el, *path)
    return found.text.strip() if found is not None and found.text else None


def _date(text: str | None, field: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        raise ContractError(field, f"{text!r} is not an ISO date") from None


def parse_camt054(data: bytes) -> list[BankResult]:
    """Every booked transaction with one of our EndToEndIds (others are the account's other movements): returned ones
    (RtrInf, or booked as a credit: the money came back) failed, the others paid.
    Pending entries (status PDNG) are skipped: the bank has not decided yet."""
    validate_camt(data)  # the whole file, before any of it is read: a refused file applies nothing
    try:
        root = SafeET.fromstring(data)
    except Exception as exc:  # defusedxml raises its own errors for forbidden constructs
        raise ContractError("file", f"not a readable camt XML document: {type(exc).__name__}") from None
    if "camt.054" not in root.tag and "camt.053" not in root.tag:  # a statement's entries read the same way
        raise ContractError("file", f"not a camt.054 or camt.053 document (root {root.tag})")
    results: list[BankResult] = []
    for n, entry in enumerate(e for e in root.iter() if _local(e.tag) == "Ntry"):
        status = _text(entry, "Sts") or _text(entry, "Sts", "Cd")
        if status != "BOOK":
            continue
        booked = _date(_text(entry, "BookgDt", "Dt") or _text(entry, "BookgDt", "DtTm"), f"Ntry[{n}].BookgDt")
        for m, tx in enumerate(t for t in entry.iter() if _local(t.tag) == "TxDtls"):
            where = f"Ntry[{n}].TxDtls[{m}]"
            e2e = _text(tx, "Refs", "EndToEndId")
            if not e2e or not OUR_END_TO_END_ID.fullmatch(e2e):
                continue  # another movement of the account (a credit received, NOTPROVIDED, another reference)
            amount_el = _child(tx, "Amt")
            if amount_el is None or not (amount_el.text or "").strip():
                amount_el = _child(tx, "AmtDtls", "TxAmt", "Amt")
            amount = _text(amount_el)
            currency = amount_el.get("Ccy") if amount_el is not None else None
            if amount and currency != "EUR":  # the XSD requires Ccy; ours are SEPA transfers, in euros
                raise ContractError(f"{where}.Amt", f"in {currency}: our payments are in euros (EUR)")
            cents = euros_to_cents(amount, f"{where}.Amt") if amount else None
            returned = _child(tx, "RtrInf")
            # Our transfers debit the city's account: our EndToEndId booked as a credit is the money coming back (a
            # return), with or without RtrInf (not every bank sends it). The transaction's indicator, else the entry's.
            credit = (_text(tx, "CdtDbtInd") or _text(entry, "CdtDbtInd")) == "CRDT"
            # RvslInd (ISO 20022): the entry reverses an earlier booking, and its CdtDbtInd is the reversal's own
            # direction: a credit reverses our debit (the transfer undone: the money is back), a debit reverses a
            # credit (a return of ours undone by the bank: the transfer stands after all).
            reversal = _text(entry, "RvslInd") in ("true", "1")
            paid = returned is None and not credit
            reason = reason_code(_text(returned, "Rsn", "Cd")) or ("reversal" if reversal else "unknown")
            results.append(
                BankResult(
                    end_to_end_id=e2e,
                    paid=paid,
                    reason=None if paid else reason,
                    amount_cents=cents,
                    booked_on=booked,
                    reversal=reversal,
                )
            )
    return results


def parse_csv(data: bytes) -> list[BankResult]:
    """The documented CSV: UTF-8, comma separated, a header row with exactly CSV_COLUMNS."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ContractError("file", "not UTF-8 text") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        return _rows(reader)
    except csv.Error as exc:  # a stray quote, a line break inside a field, a NUL: not CSV we can read
        raise ContractError(f"rows[{max(reader.line_num - 2, 0)}]", f"not readable CSV: {exc}") from None


def _rows(reader: csv.DictReader[str]) -> list[BankResult]:
    if tuple(reader.fieldnames or ()) != CSV_COLUMNS:
        raise ContractError("file", f"header must be {','.join(CSV_COLUMNS)}")
    results = []
    for n, row in enumerate(reader):
        where = f"rows[{n}]"
        if None in row or any(v is None for v in row.values()):
            raise ContractError(where, f"needs exactly {len(CSV_COLUMNS)} columns")
        status = row["status"].strip().lower()
        if status not in ("paid", "failed"):
            raise ContractError(f"{where}.status", f"{row['status']!r} must be paid or failed")
        e2e = row["end_to_end_id"].strip()
        if not e2e:
            raise ContractError(f"{where}.end_to_end_id", "missing")
        results.append(
            BankResult(
                end_to_end_id=e2e,
                paid=status == "paid",
                reason=(reason_code(row["reason"]) or "unknown") if status == "failed" else None,
                amount_cents=euros_to_cents(row["amount"], f"{where}.amount") if row["amount"].strip() else None,
                booked_on=_date(row["booking_date"].strip(), f"{where}.booking_date"),
            )
        )
    return results


def parse(data: bytes, content_type: str) -> list[BankResult]:
    if len(data) > MAX_BYTES:
        raise ContractError("file", f"larger than {MAX_BYTES} bytes")
    if not data.strip():
        raise ContractError("file", "empty")
    if "xml" in content_type or data.lstrip().startswith(b"<"):
        return parse_camt054(data)
    return parse_csv(data)
