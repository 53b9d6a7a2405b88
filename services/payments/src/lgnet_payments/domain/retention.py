"""How long payment records are kept, and what an erasure may take away (docs/payments.md, "Erasure and
retention").

Accounting records are kept ten years (codice civile art. 2220: "le scritture contabili devono essere conservate
per dieci anni dalla data dell'ultima registrazione"): counted here from the end of the year of the record, so a
whole financial year expires together. Personal data in them (names, IBANs, BICs) is not needed for that: an
erasure shreds it as soon as no payment still needs it to reach the bank.
"""

from __future__ import annotations

from datetime import date

RETENTION_YEARS = 10


def retained_until(recorded_on: date) -> date:
    """The last day a record made on `recorded_on` must be kept: 31 December, ten years on."""
    return date(recorded_on.year + RETENTION_YEARS, 12, 31)


def file_shreddable(statuses: list[str]) -> bool:
    """A payment file's content (names, IBANs) may be shredded once none of its payments is still with the bank:
    until then it may have to be sent again (GDPR art. 17(3)(b): a legal obligation to pay)."""
    return all(s != "sent" for s in statuses)
