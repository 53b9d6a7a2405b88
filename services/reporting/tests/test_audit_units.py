"""Pure parts of the audit and the notary: Kafka's murmur2 as the producers' partitioner computes it, the split
of partitions among verify's workers."""

from __future__ import annotations

from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from hypothesis import given
from hypothesis import strategies as st
from lgnet_reporting.domain.audit import murmur2
from lgnet_reporting.service_layer.audit import balanced


@given(st.binary(max_size=120))
def test_murmur2_places_keys_where_kafka_does(key: bytes) -> None:
    assert murmur2(key) & 0x7FFFFFFF == aiokafka_murmur2(key) & 0x7FFFFFFF


def test_partitions_are_shared_evenly_among_workers() -> None:
    ends = {"a": {"0": 100, "1": 90, "2": 10, "3": 0}, "b": {"0": 95}}
    groups = balanced(ends, 2)
    sizes = sorted(sum(o for ps in g.values() for o in ps.values()) for g in groups)
    assert sizes == [110, 185] and all("3" not in g.get("a", {}) for g in groups)
    assert balanced(ends, 1) == [{"a": {"0": 100, "1": 90, "2": 10}, "b": {"0": 95}}]


def test_the_committed_openapi_of_the_notary_is_current() -> None:
    import json
    from pathlib import Path

    from lgnet_reporting.entrypoints.notary_http import openapi_document

    committed = Path(__file__).parents[3] / "docs" / "reporting" / "notary-openapi.json"
    assert json.loads(committed.read_text()) == openapi_document(), (
        "regenerate: python -m lgnet_reporting.entrypoints.notary_http > docs/reporting/notary-openapi.json"
    )
