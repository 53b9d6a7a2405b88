"""The financial statement (rendicontazione) of a city: per budget line and per cost category, the budget against
what was paid, what is committed and what remains, as of a date, with the payments behind each line. Pure.

The columns follow the payments ledger's accounts (docs/payments.md, "Ledger"), so `remaining_cents` is the line's
`budget_available` at the end of `as_of`, to the cent:
- budget    = allocations + adjustments dated <= as_of             (grant_funding)
- paid      = transfers standing as paid on as_of: confirmed, not returned since  (disbursed contributions)
- committed = requests approved <= as_of, not paid (or returned), not released by a rejection  (committed +
              in_transit)
- vouchers  = vouchers issued <= as_of less the remainders of those expired by then  (voucher_outstanding +
              provider_payable + what was reimbursed to providers: the part of a voucher that was used)
- remaining = budget - paid - committed - vouchers                  (budget_available)
`paid_in_period_cents` and `payments` are those whose standing payment is dated within the window.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from lgnet_reporting.domain.indicators import UNKNOWN, Facts, Window, standing
from lgnet_reporting.domain.national import not_reported

COLUMNS = ("budget_cents", "paid_cents", "committed_cents", "vouchers_cents", "remaining_cents")


def statement(facts: Facts, window: Window, city: str) -> dict[str, Any]:
    rows = [r for r in facts["budget_facts"] if r["on_date"] is not None and window.closed(r["on_date"])]
    line_city = {r["budget_line_id"]: r["city"] for r in rows if r["kind"] == "allocation"}
    names = {b["budget_line_id"]: b["line"] for b in facts["budget_lines"]}
    lines: dict[str, dict[str, Any]] = defaultdict(lambda: dict.fromkeys(COLUMNS, 0) | {"payments": []})

    requested = {r["request_id"]: r for r in rows if r["kind"] == "requested"}
    approved = {r["request_id"] for r in rows if r["kind"] == "approved"}
    rejected = {r["request_id"] for r in rows if r["kind"] == "rejected"}
    paid_now = {c["request_id"]: c for c in standing(facts, window.as_of)}
    for r in rows:
        if r["kind"] in ("allocation", "adjustment") and line_city.get(r["budget_line_id"]) == city:
            lines[r["budget_line_id"]]["budget_cents"] += r["amount_cents"]
    for request_id, c in paid_now.items():
        if c["city"] == city:
            line = lines[c["budget_line_id"]]
            line["paid_cents"] += c["amount_cents"]
            if c["paid_on"] in window:
                line["payments"].append(
                    {"request_id": request_id, "case_id": c["case_id"], "kind": c["kind"],
                     "amount_cents": c["amount_cents"], "paid_on": c["paid_on"].isoformat()}
                )  # fmt: skip
    for request_id in sorted(approved - rejected - set(paid_now)):
        if (req := requested.get(request_id)) is not None and req["city"] == city:
            lines[req["budget_line_id"]]["committed_cents"] += req["amount_cents"]
    issued = {r["voucher_id"]: r for r in rows if r["kind"] == "voucher_issued" and r["city"] == city}
    for r in issued.values():
        lines[r["budget_line_id"]]["vouchers_cents"] += r["amount_cents"]
    for r in rows:
        if r["kind"] == "voucher_expired" and r["voucher_id"] in issued:
            lines[issued[r["voucher_id"]]["budget_line_id"]]["vouchers_cents"] -= r["amount_cents"]

    out = []
    for line_id, line in sorted(lines.items()):
        line["remaining_cents"] = (
            line["budget_cents"] - line["paid_cents"] - line["committed_cents"] - line["vouchers_cents"]
        )
        line["paid_in_period_cents"] = sum(x["amount_cents"] for x in line["payments"])
        line["payments"].sort(key=lambda x: (x["paid_on"], x["request_id"]))
        out.append({"budget_line_id": line_id, "line": names.get(line_id, UNKNOWN), **line})
    by_category: dict[str, dict[str, int]] = {}
    for line in out:
        cell = by_category.setdefault(line["line"], dict.fromkeys((*COLUMNS, "paid_in_period_cents"), 0))
        for col in cell:
            cell[col] += line[col]
    totals = {col: sum(line[col] for line in out) for col in (*COLUMNS, "paid_in_period_cents")}
    return {
        "report": "financial_statement",
        "scope": city,
        "as_of": window.as_of.isoformat(),
        "period_from": window.period_from.isoformat() if window.period_from else None,
        "lines": out,
        "by_category": dict(sorted(by_category.items())),
        "totals": totals,
        # The city, when it has no payments fact on or before as_of (no payments service of its on LgNet): its zeros
        # are not a budget of nothing, its money is not recorded here (as in its summary, method 8).
        "payments_not_reported": not_reported(facts, window, [city], "payments_not_reported"),
    }
