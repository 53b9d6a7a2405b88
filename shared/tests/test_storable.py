"""The storable rule's pre-filter (`may_hold_problems`): a document is walked value by value only when its JSON text
holds something suspect. Since identifiers must be one segment of an address, a '/' anywhere made every partner's
registration suspect (a sealed value's base64 holds '/', an envelope's source starts with one): the gatekeeper walked
every registration, ≈ 9 % more of intake's CPU per event at 1,000/s (docs/benchmarks.md, thirty-third pass). Only a
'/' in an identifier's value is suspect."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st
from lgnet_shared.storable import SEGMENT_REASON, first_problem, json_problems, may_hold_problems


def test_a_slash_outside_identifiers_is_not_suspect() -> None:
    registration = {
        "person_id": "p-1",
        "identity": {"all": {"kem": "Zm9v/YmFy+cXV4", "ct": "a/b/c=="}},
        "source": "/partners/coop-aurora",
        "member_ids": ["p-1", "p-2"],
    }
    assert not may_hold_problems(json.dumps(registration).encode())


def test_a_slash_in_an_identifier_is_found_wherever_it_is() -> None:
    for doc, field in (
        ({"person_id": "a/b"}, "person_id"),
        ({"id": "x/"}, "id"),
        ({"case": {"household_id": "/h"}}, "case.household_id"),
        ({"member_ids": ["p-1", "p]2", "p/3"]}, "member_ids.2"),
        ({"member_ids": ["."]}, "member_ids.0"),
    ):
        text = json.dumps(doc).encode()
        assert may_hold_problems(text), doc
        assert first_problem(doc, text) == (field, SEGMENT_REASON), doc


KEYS = st.sampled_from(["id", "a_id", "b_ids", "name", "x"])
DOCS = st.recursive(
    st.text(max_size=8) | st.integers(-5, 5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
)


@given(DOCS)
def test_the_pre_filter_never_hides_a_problem(doc: object) -> None:
    """Whatever the document, a problem the walk finds is never hidden by the pre-filter."""
    for separators in ((",", ":"), (", ", ": ")):
        text = json.dumps(doc, separators=separators).encode()
        if next(json_problems(doc), None) is not None:
            assert may_hold_problems(text), text
