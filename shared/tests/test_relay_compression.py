"""The relay compresses the record batches of topics only services, the national level and auditors read (lz4), and
never a partner's own topics (its client may have no lz4 codec); the records arrive the same either way."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.record.default_records import DefaultRecordBatch
from lgnet_shared import outbox


class RecordingProducer:
    """The few producer calls the relay makes, recording the batches it hands over."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, BatchBuilder]] = []

    async def partitions_for(self, _topic: str) -> set[int]:
        return {0, 1}

    def create_batch(self) -> BatchBuilder:
        return BatchBuilder(outbox.BATCH_BYTES, DefaultRecordBatch.CODEC_NONE)

    async def send_batch(self, batch: BatchBuilder, topic: str, *, partition: int) -> asyncio.Future[Any]:
        self.sent.append((topic, batch))
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def codecs_of(sent: list[tuple[str, BatchBuilder]]) -> dict[str, set[int]]:
    out: dict[str, set[int]] = {}
    for topic, batch in sent:
        built = DefaultRecordBatch(bytearray(batch._build()))  # what the producer sends
        out.setdefault(topic, set()).add(built.compression_type)
        values = [r.value for r in built]  # decompressed as any consumer does (a single pass)
        assert values and all(v.startswith(b'{"n":') for v in values)
    return out


def test_fact_topics_are_lz4_and_a_partners_own_topics_uncompressed() -> None:
    rows: list[tuple[str, dict[str, Any]]] = [
        ("lgnet.intake.events", {"key": f"k{i}".encode(), "value": b'{"n":%d}' % i, "headers": [], "topic": t})
        for i, t in enumerate(["intake.events"] * 5)
    ] + [
        (
            "lgnet.partner.rejections.coop-aurora",
            {"key": b"coop-aurora", "value": b'{"n":9}', "headers": [], "topic": "partner.rejections.coop-aurora"},
        )
    ]
    producer = RecordingProducer()
    asyncio.run(outbox._send_in_batches(producer, rows))
    assert codecs_of(producer.sent) == {
        "lgnet.intake.events": {DefaultRecordBatch.CODEC_LZ4},
        "lgnet.partner.rejections.coop-aurora": {DefaultRecordBatch.CODEC_NONE},
    }


def test_fact_batches_are_compressed_at_lz4s_fast_level(monkeypatch: Any) -> None:
    """aiokafka compresses lz4 at level 9 (LZ4 HC) unless told otherwise: 4.5 µs of the relay's CPU per record on
    signed facts, against 0.35 µs at the fast level for about 5 % more bytes (docs/benchmarks.md, fifteenth pass)."""
    import cramjam

    levels: list[int] = []
    compressor = cramjam.lz4.Compressor

    def recording(*args: Any, **kwargs: Any) -> Any:
        levels.append(kwargs.get("level", args[0] if args else -1))
        return compressor(*args, **kwargs)

    monkeypatch.setattr(cramjam.lz4, "Compressor", recording)
    rows: list[tuple[str, dict[str, Any]]] = [
        ("lgnet.intake.events", {"key": b"k", "value": b'{"n":%d,"pad":"%s"}' % (i, b"x" * 200), "headers": []})
        for i in range(50)
    ]
    for _, r in rows:
        r["topic"] = "intake.events"
    producer = RecordingProducer()
    asyncio.run(outbox._send_in_batches(producer, rows))
    assert codecs_of(producer.sent) == {"lgnet.intake.events": {DefaultRecordBatch.CODEC_LZ4}}
    assert levels and set(levels) <= {0, 1}, f"lz4 levels used: {levels}"
    assert set(levels) == {outbox.LZ4_LEVEL}
