"""Dead letters: a record a consumer cannot process goes, unchanged, to the dead-letter topic with headers
naming where it came from and why. Nothing is dropped silently; `lgnet-deadletters` lists and re-drives them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from lgnet_shared import metrics
from lgnet_shared.topics import physical

H_TOPIC, H_PARTITION, H_OFFSET = "dlq.original.topic", "dlq.original.partition", "dlq.original.offset"
H_CONSUMER, H_KIND, H_TYPE, H_MESSAGE = (
    "dlq.consumer",
    "dlq.error.kind",
    "dlq.error.type",
    "dlq.error.message",
)
H_FIELD, H_ATTEMPTS, H_FAILED_AT = "dlq.error.field", "dlq.attempts", "dlq.failed_at"
H_REDRIVEN = "dlq.redriven.from"  # on a re-driven record: "<dlq topic>:<partition>:<offset>"
DLQ_HEADERS = (
    H_TOPIC,
    H_PARTITION,
    H_OFFSET,
    H_CONSUMER,
    H_KIND,
    H_TYPE,
    H_MESSAGE,
    H_FIELD,
    H_ATTEMPTS,
    H_FAILED_AT,
)


@dataclass(frozen=True)
class Failure:
    kind: str  # contract error kind, or "processing" for a handler that kept failing
    error_type: str
    message: str
    field: str = ""
    attempts: int = 1


class DeadLetters:
    def __init__(self, producer: AIOKafkaProducer, consumer: str, topic_prefix: str = "") -> None:
        self.producer, self.consumer = producer, consumer
        self.topic = physical("deadletter", topic_prefix)

    async def send(self, record: ConsumerRecord[bytes, bytes], failure: Failure) -> None:
        own = [(k, v) for k, v in (record.headers or ()) if not k.startswith("dlq.")]
        headers = [
            *own,
            (H_TOPIC, record.topic.encode()),
            (H_PARTITION, str(record.partition).encode()),
            (H_OFFSET, str(record.offset).encode()),
            (H_CONSUMER, self.consumer.encode()),
            (H_KIND, failure.kind.encode()),
            (H_TYPE, failure.error_type.encode()),
            # Error messages come from our validators and never quote field values.
            (H_MESSAGE, failure.message[:2000].encode()),
            (H_FIELD, failure.field.encode()),
            (H_ATTEMPTS, str(failure.attempts).encode()),
            (H_FAILED_AT, datetime.now(UTC).isoformat().encode()),
        ]
        await self.producer.send_and_wait(self.topic, value=record.value, key=record.key, headers=headers)
        metrics.DEAD_LETTERS.labels(self.consumer, failure.kind).inc()
