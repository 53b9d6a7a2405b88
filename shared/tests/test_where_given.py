"""`db.where_given`: only the conditions whose value is given reach the query, numbered after the arguments so far."""

from __future__ import annotations

from typing import Any

from lgnet_shared.db import where_given


def test_only_the_conditions_given_are_written_each_with_the_next_parameter() -> None:
    args: list[Any] = ["torino"]
    where = where_given("city = $1", args, [("person_id = {}", None), ("at >= {}", "a"), ("at < {}", "b")])
    assert (where, args) == ("city = $1 and at >= $2 and at < $3", ["torino", "a", "b"])
    none: list[Any] = ["torino"]
    assert (where_given("city = $1", none, [("at >= {}", None)]), none) == ("city = $1", ["torino"])
