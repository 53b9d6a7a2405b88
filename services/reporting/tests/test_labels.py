"""Budget lines read as words in every file and on the dashboard: payments names a voucher's line `voucher_<kind>`
(no vocabulary list holds it), which showed as the code itself ("voucher_public_transport") in the financial
statement and the charts of expenditure by budget line."""

from __future__ import annotations

from lgnet_reporting.domain import labels


def test_a_voucher_budget_line_reads_as_words_in_both_languages() -> None:
    table = "contributions_paid_by_budget_line"
    assert labels.category(table, "voucher_public_transport", "it") == "Buono \u2013 Trasporto pubblico"
    assert labels.category(table, "voucher_babysitting", "en") == "Voucher \u2013 Babysitting"
    assert labels.category(table, "rent", "it") == "Canone di affitto"
    catalogue = labels.catalogue("it")["categories"][table]
    assert catalogue["voucher_public_transport"] == "Buono \u2013 Trasporto pubblico"
    assert labels.catalogue("en")["categories"][table]["deposit"] == "Deposit"


def test_a_share_reads_as_a_percentage_in_documents_people_read() -> None:
    """The PDF read "Quota presa in carico 0,047": a fraction a reader took for a count or a rate per mille."""
    assert labels.value("taken_in_charge_share", 0.1769, "it") == "17,7\u00a0%"
    assert labels.value("taken_in_charge_share", 0.047, "en") == "4.7%"
    assert labels.value("taken_in_charge_share", None, "it") == "soppresso"
    assert labels.value("persons_contacted", 1200, "it") == "1.200"
