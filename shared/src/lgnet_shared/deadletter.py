"""Dead letters: a record a consumer cannot process goes, unchanged, to the dead-letter topic with headers
naming where it came from and why. Nothing is dropped silently; `lgnet-deadletters` lists and re-drives them.

A dead letter always fits: when the record and its headers would exceed `max_bytes` (or the producer or broker
refuses it as too large anyway), the dead letter carries an empty value and only the `dlq.*` headers, with
`dlq.value.omitted` and `dlq.original.size` (and the key, when it is small); the original stays readable on its
topic at the partition and offset named."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer
from aiokafka.errors import MessageSizeTooLargeError, RecordTooLargeError
from aiokafka.structs import ConsumerRecord

from lgnet_shared import metrics
from lgnet_shared.fetch import UnreadableRecord
from lgnet_shared.topics import physical

H_TOPIC, H_PARTITION, H_OFFSET = "dlq.original.topic", "dlq.original.partition", "dlq.original.offset"
H_CONSUMER, H_KIND, H_TYPE, H_MESSAGE = (
    "dlq.consumer",
    "dlq.error.kind",
    "dlq.error.type",
    "dlq.error.message",
)
H_FIELD, H_ATTEMPTS, H_FAILED_AT = "dlq.error.field", "dlq.attempts", "dlq.failed_at"
H_OMITTED, H_SIZE = "dlq.value.omitted", "dlq.original.size"
H_REDRIVEN = "dlq.redriven.from"  # on a re-driven record: "<dlq topic>:<partition>:<offset>"
# On `lgnet-deadletters`' markers only (value empty, on the letter's own partition), what each says.
H_REDRIVEN_TO, H_REDRIVEN_AT = "dlq.redriven.to", "dlq.redriven.at"
H_REDRIVE_ID, H_REDRIVE_SINCE = "dlq.redrive.id", "dlq.redrive.since"
MARKER_HEADERS = {
    H_REDRIVEN_TO: "On a done marker: where the copy went, <topic>:<partition>:<offset>",
    H_REDRIVEN_AT: "On a done marker: when (ISO 8601, UTC)",
    H_REDRIVE_ID: "On attempt and done markers: the re-drive's id (a done marker finishes every attempt before it)",
    H_REDRIVE_SINCE: "On an attempt marker: JSON {partition: end offset} of the original topic when it began",
}
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

    @classmethod
    def of(cls, kind: str, exc: BaseException, attempts: int = 1) -> Failure:
        """A handler's or our own code's exception: its text without the values it quotes (`without_values`)."""
        return cls(kind, type(exc).__name__, without_values(str(exc)), attempts=attempts)


# What an exception's text may quote of the data it failed on: quoted strings (PostgreSQL's "invalid input syntax for
# type integer: "Maria"", asyncpg's "invalid input for query argument $1: 'Maria'", pydantic's input_value='…', a
# KeyError's key) and identifier-like numbers (a fiscal code, an IBAN, a phone number, a date).
_VALUES = re.compile(r"""'[^'\n]*'|"[^"\n]*"|\b(?=[A-Za-z]*\d)\w{6,}\b|\+?\d[\d ./:-]{4,}\d""")


def without_values(text: str) -> str:
    """An exception's text fit for a dead letter on Kafka, where personal data never travels in plain text: what it
    says about the failure, each value it quotes replaced by "…". Over-masks rather than guesses (a quoted table
    name goes too); the record itself is the dead letter's value, sealed as it was sent."""
    return _VALUES.sub(lambda m: "'…'" if m.group(0)[0] in "'\"" else "…", text)


# Half the producer's default max_request_size (1 MiB) and the broker's default message.max.bytes: room for the
# headers we add, and for topics configured smaller than the default.
MAX_BYTES = 512 * 1024
MAX_MESSAGE_CHARS = 2000


class DeadLetters:
    def __init__(
        self, producer: AIOKafkaProducer, consumer: str, topic_prefix: str = "", *, max_bytes: int = MAX_BYTES
    ) -> None:
        self.producer, self.consumer = producer, consumer
        self.topic = physical("deadletter", topic_prefix)
        self.max_bytes = max_bytes

    async def send(self, record: ConsumerRecord[bytes, bytes], failure: Failure) -> None:
        own = [(k, v) for k, v in (record.headers or ()) if not k.startswith("dlq.")]
        ours = self._headers(record, failure)
        size = _size(record.value) + _size(record.key) + sum(len(k) + _size(v) for k, v in own)
        fits = size + sum(len(k) + len(v) for k, v in ours) <= self.max_bytes
        if fits and not isinstance(record, UnreadableRecord):
            try:
                await self.producer.send_and_wait(self.topic, value=record.value, key=record.key, headers=[*own, *ours])
                metrics.DEAD_LETTERS.labels(self.consumer, failure.kind).inc()
                return
            except (MessageSizeTooLargeError, RecordTooLargeError):
                pass  # a smaller limit on the way (producer, broker, topic): send the reference instead
        reference = [*ours, (H_OMITTED, b"true"), (H_SIZE, str(size).encode())]
        key = record.key if _size(record.key) <= 1024 else None
        await self.producer.send_and_wait(self.topic, value=b"", key=key, headers=reference)
        metrics.DEAD_LETTERS.labels(self.consumer, failure.kind).inc()

    def _headers(self, record: ConsumerRecord[bytes, bytes], failure: Failure) -> list[tuple[str, bytes]]:
        return [
            (H_TOPIC, record.topic.encode()),
            (H_PARTITION, str(record.partition).encode()),
            (H_OFFSET, str(record.offset).encode()),
            (H_CONSUMER, self.consumer.encode()),
            (H_KIND, failure.kind.encode()),
            (H_TYPE, failure.error_type.encode()),
            # Our validators' messages never quote field values; any other exception's text went through
            # `without_values` (Failure.of).
            (H_MESSAGE, failure.message[:MAX_MESSAGE_CHARS].encode("utf-8", "replace")),
            (H_FIELD, failure.field[:MAX_MESSAGE_CHARS].encode("utf-8", "replace")),
            (H_ATTEMPTS, str(failure.attempts).encode()),
            (H_FAILED_AT, datetime.now(UTC).isoformat().encode()),
        ]


def _size(data: bytes | None) -> int:
    return len(data) if data is not None else 0
