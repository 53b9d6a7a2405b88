"""A downloaded file's name says which report it is (Content-Disposition): a period's report is not named like the
report as of its last day (whose numbers differ), and a published report's file carries its id."""

from __future__ import annotations

from typing import Any

from lgnet_reporting.entrypoints.http import file_name, report_file


def _body(period_from: str | None) -> dict[str, Any]:
    return {"report": "national", "scope": "national", "as_of": "2026-05-31", "period_from": period_from,
            "method": 4, "indicators": {"persons": {"total": 9}}, "digest": "d" * 64, "positions": {}}  # fmt: skip


def test_a_periods_file_is_not_named_like_the_report_as_of_its_last_day() -> None:
    period, as_of = _body("2026-03-01"), _body(None)
    assert file_name(period, "csv", "it") == "national-national-2026-03-01--2026-05-31-it.csv"
    assert file_name(as_of, "csv", "it") == "national-national-2026-05-31-it.csv"
    answer = report_file(period, "csv", "en")
    name = "national-national-2026-03-01--2026-05-31-en.csv"
    assert answer.headers["content-disposition"] == f'attachment; filename="{name}"'


def test_fund_and_published_files_name_their_period_and_report_id() -> None:
    assert file_name(_body("2026-03-01"), "xlsx", "en", prefix="fund-") == (
        "fund-national-national-2026-03-01--2026-05-31-en.xlsx"
    )
    answer = report_file(_body(None), "csv", "it", report_id="01a244ab-0fed")
    name = "national-national-2026-05-31-01a244ab-0fed-it.csv"
    assert answer.headers["content-disposition"] == f'attachment; filename="{name}"'
