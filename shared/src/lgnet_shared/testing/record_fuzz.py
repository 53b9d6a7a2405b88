"""Inbound-record fuzzing for tests (hypothesis): malformed records of every kind testers have found, mixed with
valid ones. Each drawn `Fuzzed` knows whether a consumer must process it (`good`) or refuse it once (`bad`).

Needs hypothesis (a test dependency): import this module from tests only.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

Headers = list[tuple[str, bytes]]
# A valid event's structured JSON document, made from a unique label (the test knows how to check its effect).
MakeValid = Callable[[str], dict[str, Any]]
REQUIRED = ("specversion", "id", "source", "type", "city", "data")
STRING_ATTRIBUTES = ("id", "source", "type", "city", "partitionkey")


@dataclass
class Fuzzed:
    value: bytes | None
    headers: Headers
    good: bool
    label: str  # the unique label of a valid record; a description of a bad one
    oversize: bool = False
    id: str = ""  # the id of the valid event it was made from (a bad record may or may not still carry it)


def control_chars() -> st.SearchStrategy[str]:
    return st.one_of(st.characters(max_codepoint=0x1F), st.characters(min_codepoint=0x7F, max_codepoint=0x9F))


def bad_utf8() -> st.SearchStrategy[bytes]:
    return st.sampled_from([b"\xff", b"\xfe\xfd", b"\xc3\x28", b"\xa0\xa1", b"\xed\xa0\x80"]).flatmap(
        lambda bad: st.binary(max_size=8).map(lambda tail: bad + tail)
    )


@st.composite
def fuzzed(
    draw: st.DrawFn,
    make_valid: MakeValid,
    labels: Iterator[int],
    *,
    allow_oversize: bool = True,
    oversize: bool = False,
) -> Fuzzed:
    """One record: valid (possibly with a non-UTF-8 header or in binary mode) or malformed in one way."""
    label = f"fuzz-{next(labels)}"
    doc = make_valid(label)
    kind = (
        "oversize"
        if oversize
        else draw(
            st.sampled_from(
                [
                    "valid",
                    "valid_bad_header",
                    "valid_binary",
                    "garbage",
                    "empty",
                    "deep",
                    "huge_number",
                    "control_char",
                    "missing",
                    "wrong_type",
                    "binary_missing_id",
                    "invalid_data",
                    *(["oversize"] if allow_oversize else []),
                ]
            )
        )
    )
    structured: Headers = [("content-type", b"application/cloudevents+json; charset=utf-8")]
    if kind == "valid":
        return _fz(doc, json.dumps(doc).encode(), structured, True, label)
    if kind == "valid_bad_header":
        return _fz(doc, json.dumps(doc).encode(), [*structured, ("x-trace", draw(bad_utf8()))], True, label)
    if kind == "valid_binary":
        return _fz(doc, *_binary(doc), True, label)
    if kind == "garbage":
        value = draw(st.binary(max_size=300))
        return _fz(doc, value, draw(st.lists(st.tuples(st.text(max_size=8), bad_utf8()), max_size=2)), False, kind)
    if kind == "empty":
        return _fz(doc, None, [], False, kind)
    if kind == "deep":
        depth = draw(st.integers(2_000, 100_000))
        opener, closer = draw(st.sampled_from([(b"[", b"]"), (b'{"a":', b"}")]))
        inner = opener * depth + b"1" + closer * depth
        if draw(st.booleans()):  # the whole value, or the data of an otherwise valid envelope
            return _fz(doc, inner, [], False, kind)
        head = json.dumps({**doc, "data": {}}).encode()[:-3]  # ..."data": {}} -> ..."data":
        return _fz(doc, head + b'{"deep": ' + inner + b"}}", [], False, kind)
    if kind == "huge_number":
        digits = b"9" * draw(st.integers(4_301, 20_000))
        if draw(st.booleans()):
            return _fz(doc, digits, [], False, kind)
        return _fz(
            doc, json.dumps({**doc, "specversion": "1.0"}).encode()[:-1] + b', "n": ' + digits + b"}", [], False, kind
        )
    if kind == "control_char":
        attr = draw(st.sampled_from(STRING_ATTRIBUTES))
        char = draw(control_chars())
        return _fz(doc, json.dumps({**doc, attr: f"{doc.get(attr, 'x')}{char}x"}).encode(), [], False, f"{kind} {attr}")
    if kind == "missing":
        attr = draw(st.sampled_from(REQUIRED))
        return _fz(doc, json.dumps({k: v for k, v in doc.items() if k != attr}).encode(), [], False, f"{kind} {attr}")
    if kind == "wrong_type":
        attr = draw(st.sampled_from([*REQUIRED, "partitionkey"]))  # not time: a number is a valid timestamp
        wrong = draw(st.one_of(st.integers(), st.lists(st.integers(), max_size=2), st.just(None), st.booleans()))
        return _fz(doc, json.dumps({**doc, attr: wrong}).encode(), [], False, f"{kind} {attr}")
    if kind == "binary_missing_id":
        value, headers = _binary(doc)
        return _fz(doc, value, [(k, v) for k, v in headers if k != "ce_id"], False, kind)
    if kind == "invalid_data":
        return _fz(doc, json.dumps({**doc, "data": {**doc["data"], "unexpected": 1}}).encode(), [], False, kind)
    assert kind == "oversize"
    padding = "x" * draw(st.integers(600_000, 1_000_000))
    return _fz(doc, json.dumps({**doc, "data": {**doc["data"], "padding": padding}}).encode(), [], False, kind, True)


def _fz(
    doc: dict[str, Any], value: bytes | None, headers: Headers, good: bool, label: str, oversize: bool = False
) -> Fuzzed:
    return Fuzzed(value, headers, good, label, oversize, id=str(doc.get("id", "")))


def _binary(doc: dict[str, Any]) -> tuple[bytes, Headers]:
    headers = [(f"ce_{k}", str(v).encode()) for k, v in doc.items() if k != "data" and v is not None]
    return json.dumps(doc["data"]).encode(), [*headers, ("content-type", b"application/json")]


def draw_records(make_valid: MakeValid, count: int, *, examples: int = 1, seed_: int | None = None) -> list[Fuzzed]:
    """`count` records per example, `examples` examples, drawn up front (no shrinking: the caller checks them
    against a real consumer and reports the records it got wrong). At most one oversize record per example."""
    drawn: list[list[Fuzzed]] = []
    labels = iter(range(10**9))

    def one(oversize: bool) -> st.SearchStrategy[Fuzzed]:
        if oversize:  # half the examples have one
            return st.one_of(fuzzed(make_valid, labels, oversize=True), fuzzed(make_valid, labels))
        return fuzzed(make_valid, labels, allow_oversize=False)

    @settings(
        max_examples=examples + 1,
        phases=[Phase.generate],
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.tuples(one(True), st.lists(one(False), min_size=count - 1, max_size=count - 1)))
    def collect(records: tuple[Fuzzed, list[Fuzzed]]) -> None:
        drawn.append([records[0], *records[1]])

    if seed_ is not None:
        collect = seed(seed_)(collect)
    collect()
    # Hypothesis starts with the simplest example (every record valid): skip it, keep the random ones.
    return [r for example in drawn[1:] for r in example]
