"""Where Kafka's default partitioner puts a key, as the relay places the records it publishes and the auditor checks
each record's place: murmur2, as the Java client and aiokafka compute it."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from hypothesis import given
from hypothesis import strategies as st
from lgnet_shared.partitioning import murmur2, partition_of


@given(st.binary(max_size=120))
def test_murmur2_is_kafkas(key: bytes) -> None:
    assert murmur2(key) & 0x7FFFFFFF == aiokafka_murmur2(key) & 0x7FFFFFFF


@given(st.binary(max_size=64), st.integers(min_value=1, max_value=200))
def test_a_key_goes_to_the_partition_kafkas_producer_chooses(key: bytes, partitions: int) -> None:
    ids = list(range(partitions))
    assert partition_of(key, partitions) == DefaultPartitioner()(key, ids, ids)


# The Java client's own test vectors (Kafka's UtilsTest.testMurmur2: signed 32-bit results).
JAVA = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


def test_the_java_clients_values() -> None:
    assert {k: murmur2(k) for k in JAVA} == {k: v & 0xFFFFFFFF for k, v in JAVA.items()}
    assert partition_of(None, 6) is None
