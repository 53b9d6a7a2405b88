"""A consumer reads a usual record in one pass (`codec.read_typed`: envelope and event validated together from the
record's bytes). It must never accept what the two-step way (`from_record`, then `decode`) refuses, and when it
accepts, it must give the same envelope attributes and the same event; anything it refuses goes the two-step way."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lgnet_shared import codec
from lgnet_shared.envelope import from_record
from lgnet_shared.events import latest

EXAMPLES = Path(__file__).resolve().parents[2] / "contracts" / "examples"


def _examples() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(Every type's example at its latest version, the examples of older versions)."""
    current: list[dict[str, Any]] = []
    old: list[dict[str, Any]] = []
    for path in sorted(EXAMPLES.glob("lgnet.*/v*.json")):
        etype = path.parent.name
        doc = {
            "specversion": "1.0",
            "id": "01920c6e-7a11-7b3e-9d1f-3a5b7c9d1e2f",
            "source": "/lgnet/test",
            "type": etype,
            "dataschema": f"urn:lgnet:schema:{etype}:{path.stem}",
            "time": "2026-09-30T09:12:44Z",
            "city": "torino",
            "partner": "coop-aurora",
            "partitionkey": "k-1",
            "signingkey": "national.intake.0123456789abcdef",
            "data": json.loads(path.read_text()),
        }
        model = latest(etype)
        assert model is not None, path
        (current if doc["dataschema"] == model.dataschema() else old).append(doc)
    return current, old


CURRENT, OLD = _examples()
TYPED = codec.typed_envelopes(frozenset(doc["type"] for doc in CURRENT))


def _two_step(value: bytes) -> Any:
    try:
        env = from_record(value, [], b"k")
        return env, codec.decode(env)
    except Exception as exc:  # the two-step read's verdict, whatever it is
        return type(exc)


def _same_decision(value: bytes, now_if_no_time: bool = False) -> bool:
    """True when the one pass accepted `value` (and agreed with the two-step way); False when it left it to them."""
    assert TYPED is not None
    got = codec.read_typed(TYPED, value)
    if got is None:
        return False
    expected = _two_step(value)
    assert isinstance(expected, tuple), f"one pass accepted what the two-step way refuses: {expected}"
    assert got[1] == expected[1]
    unset = {"data", "time"} if now_if_no_time else {"data"}  # an envelope without a time gets the time it is read
    assert got[0].model_dump(exclude=unset) == expected[0].model_dump(exclude=unset)
    return True


def test_every_types_latest_example_is_read_in_one_pass_as_in_two_steps() -> None:
    assert len(CURRENT) > 60  # every registered type has an example at its latest version
    for doc in CURRENT:
        assert _same_decision(json.dumps(doc).encode()), doc["type"]


def test_an_older_version_is_left_to_the_two_step_way_which_upcasts_it() -> None:
    assert OLD
    for doc in OLD:
        assert not _same_decision(json.dumps(doc).encode()), doc["dataschema"]


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from(["2026-01-01", "2026-01-01T10:00:00Z", "2026-01-01T10:00:00", "1", "true", "", "IT", "1.5"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=st.sampled_from(CURRENT), in_data=st.booleans(), value=JSON_VALUES, drop=st.booleans(), data=st.data())
def test_a_changed_record_is_never_accepted_in_one_pass_when_the_two_step_way_refuses_it(
    doc: dict[str, Any], in_data: bool, value: Any, drop: bool, data: st.DataObject
) -> None:
    changed = copy.deepcopy(doc)
    target = changed["data"] if in_data else changed
    name = data.draw(st.sampled_from([*sorted(target), "unexpected"]))
    if drop:
        target.pop(name, None)
    else:
        target[name] = value
    _same_decision(json.dumps(changed).encode(), now_if_no_time="time" not in changed)
