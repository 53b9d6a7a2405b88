"""`lgnet-deadletters`: list the dead-letter topic and re-drive dead letters to where they came from.

A re-drive publishes the original value and key to the original topic and partition (original headers, minus
`dlq.*`, plus `dlq.redriven.from`), then a marker on the dead-letter topic naming the dead letter and where its copy
went, so `list` shows it as re-driven and a second re-drive is refused unless forced. Consumers dedupe by event id
(inbox), so a forced or repeated re-drive still has at most one effect. Record values are never printed: they may
hold sealed personal data.

No Kafka transaction: a transaction's commit marker takes an offset of every partition it wrote, and a fact topic's
offsets must run without gaps (the auditors' `lgnet-audit verify` fails at a gap; the notary's leaves are its
records). The producer is idempotent instead (no duplicate from its own retries), and each re-drive is three writes
in order: an *attempt* marker on the dead-letter topic (an attempt id, and the end offsets of the partitions the copy
may go to), the copy, then the *done* marker (the attempt id and where the copy went). A run that stops between the
attempt and the done marker (a crash, Kafka lost) leaves the letter pending with an unfinished attempt: the next
re-drive of it reads the original topic from the attempt's offsets only (a few records), and finding the copy there
(its `dlq.redriven.from` names the letter) writes the missing done marker instead of a second copy.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError, KafkaError
from aiokafka.structs import ConsumerRecord, TopicPartition

from lgnet_shared import setup_errors
from lgnet_shared.deadletter import (
    H_ATTEMPTS,
    H_CONSUMER,
    H_FAILED_AT,
    H_FIELD,
    H_KIND,
    H_MESSAGE,
    H_OFFSET,
    H_OMITTED,
    H_PARTITION,
    H_REDRIVE_ID,
    H_REDRIVE_SINCE,
    H_REDRIVEN,
    H_REDRIVEN_AT,
    H_REDRIVEN_TO,
    H_SIZE,
    H_TOPIC,
    H_TYPE,
)
from lgnet_shared.kafka import READ_AND_GO, client_kwargs
from lgnet_shared.topics import TOPICS, physical

Headers = tuple[tuple[str, bytes], ...]


class DeadLetterError(Exception):
    """Kafka-side failure (topic missing, timeout): exit 1."""


class SelectorError(Exception):
    """A selector names no dead letter, or one already re-driven: exit 2."""


@dataclass
class DeadLetter:
    topic: str  # the dead-letter topic
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers
    redrives: list[str] = field(default_factory=list)  # where each re-drive went ("<topic>:<p>:<o>")
    # Re-drives begun since its last done marker (attempt id -> {partition: offset} the copy would be at or after).
    unfinished: dict[str, dict[int, int]] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        return f"{self.topic}:{self.partition}:{self.offset}"

    @property
    def position(self) -> str:
        return f"{self.partition}:{self.offset}"

    def header(self, name: str) -> str:
        return next((v.decode("utf-8", "replace") for k, v in self.headers if k == name and v is not None), "")

    @property
    def consumer(self) -> str:
        return self.header(H_CONSUMER)

    @property
    def original_topic(self) -> str:
        return self.header(H_TOPIC)

    def summary(self) -> dict[str, Any]:
        """Everything but the value (and key), which may carry personal data."""
        return {
            "partition": self.partition,
            "offset": self.offset,
            "failed_at": self.header(H_FAILED_AT),
            "consumer": self.consumer,
            "kind": self.header(H_KIND),
            "error_type": self.header(H_TYPE),
            "field": self.header(H_FIELD),
            "message": self.header(H_MESSAGE),
            "attempts": _int(self.header(H_ATTEMPTS)),
            "original": {
                "topic": self.original_topic,
                "partition": _int(self.header(H_PARTITION)),
                "offset": _int(self.header(H_OFFSET)),
            },
            # The original's size where only a reference to it was kept (a copy is there to re-drive otherwise).
            "size_bytes": _int(self.header(H_SIZE)) if self.header(H_OMITTED) else None,
            "value_omitted": bool(self.header(H_OMITTED)),
            "status": "redriven" if self.redrives else "pending",
            "redriven_to": self.redrives,
        }


def _int(text: str) -> int | None:
    return int(text) if text.lstrip("-").isdigit() else None  # headers of a foreign producer may be anything


async def partitions_of(bootstrap: str, topic: str) -> list[int]:
    """From the cluster itself: a consumer's cached metadata may not know a topic created a moment ago."""
    admin = AIOKafkaAdminClient(**client_kwargs(bootstrap))
    await admin.start()
    try:
        if topic not in await admin.list_topics():  # checked first: describing a missing topic may create it
            raise DeadLetterError(f"topic {topic} does not exist (wrong --topic-prefix?)")
        [described] = await admin.describe_topics([topic])
        return sorted(p["partition"] for p in described["partitions"])
    finally:
        await admin.close()


async def read_dead_letters(bootstrap: str, prefix: str = "", timeout_s: float = 60) -> list[DeadLetter]:
    """The whole dead-letter topic, from the beginning to the end offsets seen at start; markers applied."""
    topic = physical("deadletter", prefix)
    tps = [TopicPartition(topic, p) for p in await partitions_of(bootstrap, topic)]
    consumer = _reader(bootstrap)
    await consumer.start()
    try:
        letters: list[DeadLetter] = []
        markers: list[DeadLetter] = []
        async for r in _to_the_end(consumer, dict.fromkeys(tps), timeout_s):
            letter = DeadLetter(topic, r.partition, r.offset, r.key, r.value, tuple(r.headers or ()))
            (markers if letter.header(H_REDRIVEN) and not letter.header(H_TOPIC) else letters).append(letter)
    finally:
        await consumer.stop()
    by_ref = {d.ref: d for d in letters}
    # A letter's markers are on its own partition (since December 2026), so in the order they were written: a done
    # marker finishes every attempt before it.
    for m in sorted(markers, key=lambda m: (m.partition, m.offset)):
        letter_of = by_ref.get(m.header(H_REDRIVEN))
        if letter_of is None:
            continue
        if m.header(H_REDRIVE_SINCE):  # an attempt
            since = json.loads(m.header(H_REDRIVE_SINCE))
            letter_of.unfinished[m.header(H_REDRIVE_ID)] = {int(p): int(o) for p, o in since.items()}
        else:  # done (one without an id: written in a transaction with its copy, before December 2026)
            letter_of.redrives.append(m.header(H_REDRIVEN_TO) or "?")
            letter_of.unfinished.clear()
    return sorted(letters, key=lambda d: (d.partition, d.offset))


def _reader(bootstrap: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        **client_kwargs(bootstrap), **READ_AND_GO, enable_auto_commit=False, isolation_level="read_committed"
    )


async def _to_the_end(
    consumer: AIOKafkaConsumer, starts: dict[TopicPartition, int | None], timeout_s: float = 60
) -> AsyncIterator[ConsumerRecord[bytes, bytes]]:
    """The records of each partition from its start offset (None: its beginning) to the end offset seen at the
    start."""
    tps = list(starts)
    consumer.assign(tps)
    if beginning := [tp for tp, offset in starts.items() if offset is None]:
        await consumer.seek_to_beginning(*beginning)  # none named would mean every assigned partition
    for tp, offset in starts.items():
        if offset is not None:
            consumer.seek(tp, offset)
    end = await consumer.end_offsets(tps)
    remaining = set(tps)
    deadline = asyncio.get_running_loop().time() + timeout_s
    while remaining:
        remaining = {tp for tp in remaining if await consumer.position(tp) < end[tp]}
        if not remaining:
            break
        if asyncio.get_running_loop().time() > deadline:
            raise DeadLetterError(f"timed out reading {tps[0].topic} after {timeout_s:.0f}s")
        batch = await consumer.getmany(*remaining, timeout_ms=500)
        for tp, records in batch.items():
            for r in records:
                if r.offset < end[tp]:
                    yield r


def matches_topic(letter: DeadLetter, wanted: str, prefix: str) -> bool:
    """`wanted` may be the physical name or the logical one ('intake.events')."""
    return letter.original_topic in {wanted, physical(wanted, prefix) if wanted in TOPICS else wanted}


def select(
    letters: Sequence[DeadLetter],
    selectors: Sequence[str] = (),
    all_of_consumer: str | None = None,
    force: bool = False,
) -> list[DeadLetter]:
    """Resolve selectors; explicit ones already re-driven are refused, a consumer's are skipped, unless forced."""
    by_position = {d.position: d for d in letters}
    chosen: list[DeadLetter] = []
    for sel in selectors:
        parts = sel.split(":")
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise SelectorError(f"bad selector {sel!r}: expected <partition>:<offset>, e.g. 0:17")
        letter = by_position.get(f"{int(parts[0])}:{int(parts[1])}")
        if letter is None:
            raise SelectorError(f"no dead letter at {sel} (a redrive marker, or never there)")
        if letter.redrives and not force:
            raise SelectorError(f"{sel} was already re-driven (to {', '.join(letter.redrives)}); use --force")
        chosen.append(letter)
    if all_of_consumer is not None:
        mine = [d for d in letters if d.consumer == all_of_consumer]
        if not mine:
            raise SelectorError(f"no dead letters of consumer {all_of_consumer!r}")
        chosen += [d for d in mine if force or not d.redrives]
    unique = {d.position: d for d in chosen}
    return sorted(unique.values(), key=lambda d: (d.partition, d.offset))


async def _copy_of(consumer: AIOKafkaConsumer, letter: DeadLetter) -> tuple[str, str] | None:
    """A copy of `letter` published by a re-drive that stopped before its done marker: (its attempt id, where the
    copy is), read from the offsets the attempt noted (nothing to read for a letter with no unfinished attempt)."""
    wanted = (H_REDRIVEN, letter.ref.encode())
    for attempt, since in letter.unfinished.items():
        starts: dict[TopicPartition, int | None] = {
            TopicPartition(letter.original_topic, p): o for p, o in since.items()
        }
        async for r in _to_the_end(consumer, starts):
            if wanted in tuple(r.headers or ()):
                return attempt, f"{r.topic}:{r.partition}:{r.offset}"
    return None


async def _publish(
    producer: AIOKafkaProducer, consumer: AIOKafkaConsumer, bootstrap: str, letter: DeadLetter
) -> tuple[str, str]:
    """The attempt marker, then the copy on the original partition (its key's, when the letter does not name one
    that exists): the attempt id and where the copy went."""
    partitions = await partitions_of(bootstrap, letter.original_topic)
    home = _int(letter.header(H_PARTITION))
    partition = home if home in partitions else None
    tps = [TopicPartition(letter.original_topic, p) for p in (partitions if partition is None else [partition])]
    since = {str(tp.partition): offset for tp, offset in (await consumer.end_offsets(tps)).items()}
    attempt = uuid.uuid4().hex
    intent = [
        (H_REDRIVEN, letter.ref.encode()),
        (H_REDRIVE_ID, attempt.encode()),
        (H_REDRIVE_SINCE, json.dumps(since).encode()),
    ]
    await producer.send_and_wait(letter.topic, value=b"", key=letter.key, headers=intent, partition=letter.partition)
    sent = await producer.send_and_wait(
        letter.original_topic, value=letter.value, key=letter.key, headers=redriven_headers(letter), partition=partition
    )
    return attempt, f"{sent.topic}:{sent.partition}:{sent.offset}"


def redriven_headers(letter: DeadLetter) -> list[tuple[str, bytes]]:
    own = [(k, v) for k, v in letter.headers if not k.startswith("dlq.")]
    return [*own, (H_REDRIVEN, letter.ref.encode())]


async def redrive(
    bootstrap: str,
    prefix: str,
    selectors: Sequence[str] = (),
    *,
    all_of_consumer: str | None = None,
    force: bool = False,
    dry_run: bool = False,
) -> list[DeadLetter]:
    """Re-publish the selected dead letters; returns them (with `redrives` updated unless dry_run)."""
    chosen = select(await read_dead_letters(bootstrap, prefix), selectors, all_of_consumer, force)
    if dry_run or not chosen:
        return chosen
    for letter in chosen:
        if not letter.original_topic:
            raise DeadLetterError(f"{letter.position} has no {H_TOPIC} header: cannot re-drive")
        if letter.header(H_OMITTED):
            o = letter.summary()["original"]
            raise DeadLetterError(
                f"{letter.position} holds no copy of the record (too large or unreadable): the original is"
                f" {o['topic']}:{o['partition']}:{o['offset']}; have its sender send it again"
            )
    # Idempotent, without a transaction (the module's docstring): attempt marker, copy, done marker.
    producer = AIOKafkaProducer(**client_kwargs(bootstrap), enable_idempotence=True)
    consumer = _reader(bootstrap)
    try:
        await producer.start()
        await consumer.start()
        for letter in chosen:
            found = await _copy_of(consumer, letter)
            if found is None:
                found = await _publish(producer, consumer, bootstrap, letter)
            attempt, to = found
            marker = [
                (H_REDRIVEN, letter.ref.encode()),
                (H_REDRIVEN_TO, to.encode()),
                (H_REDRIVEN_AT, datetime.now(UTC).isoformat().encode()),
                (H_REDRIVE_ID, attempt.encode()),
            ]
            await producer.send_and_wait(
                letter.topic, value=b"", key=letter.key, headers=marker, partition=letter.partition
            )
            letter.redrives.append(to)
            letter.unfinished.clear()
    finally:
        await consumer.stop()
        await producer.stop()
    return chosen


# The text listing's columns, named in a header line (`--json` gives the same under these keys, `original` nested).
COLUMNS = ("position", "failed_at", "consumer", "kind", "error_type", "field", "message", "original", "size_bytes",
           "status")  # fmt: skip


def _line(d: DeadLetter) -> str:
    s = d.summary()
    o = s["original"]
    message = " ".join(s["message"].split())  # as written, on one line and without tabs: one row per letter
    message = message if len(message) <= 60 else message[:57] + "..."
    size = "-" if s["size_bytes"] is None else s["size_bytes"]
    return (
        f"{d.position}\t{s['failed_at']}\t{s['consumer']}\t{s['kind']}\t{s['error_type']}\t{s['field'] or '-'}"
        f"\t{message or '-'}\t{o['topic']}:{o['partition']}:{o['offset']}\t{size}\t{s['status']}"
    )


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lgnet-deadletters", description="List and re-drive LgNet dead letters.")
    env = os.environ
    p.add_argument("--bootstrap", default=env.get("KAFKA_BOOTSTRAP_SERVERS"), help="Kafka bootstrap servers")
    p.add_argument("--topic-prefix", default=env.get("LGNET_TOPIC_PREFIX", ""), help="topic name prefix")
    sub = p.add_subparsers(dest="command", required=True)
    ls = sub.add_parser("list", help="list dead letters (never their values)")
    ls.add_argument("--consumer", help="only this consumer group, e.g. torino.intake.gatekeeper")
    ls.add_argument("--kind", help="only this error kind, e.g. invalid_data or processing")
    ls.add_argument("--original-topic", help="only dead letters from this topic (logical or physical name)")
    ls.add_argument("--json", action="store_true", help="one JSON object per line")
    rd = sub.add_parser("redrive", help="re-publish dead letters to their original topic")
    rd.add_argument("selectors", nargs="*", metavar="PARTITION:OFFSET", help="dead letters to re-drive")
    rd.add_argument(
        "--all-of-consumer",
        metavar="CONSUMER",
        help="every not yet re-driven one of this consumer group, e.g. torino.housing.intake",
    )
    rd.add_argument("--dry-run", action="store_true", help="show what would be re-driven, publish nothing")
    rd.add_argument("--force", action="store_true", help="re-drive even if already re-driven")
    return p


async def _run(args: argparse.Namespace) -> int:
    if args.command == "list":
        letters = [
            d
            for d in await read_dead_letters(args.bootstrap, args.topic_prefix)
            if (not args.consumer or d.consumer == args.consumer)
            and (not args.kind or d.header(H_KIND) == args.kind)
            and (not args.original_topic or matches_topic(d, args.original_topic, args.topic_prefix))
        ]
        if args.json:
            for d in letters:
                print(json.dumps(d.summary()))
        elif letters:
            print("\t".join(COLUMNS))
            for d in letters:
                print(_line(d))
        else:
            print("no dead letters")
        return 0
    chosen = await redrive(
        args.bootstrap,
        args.topic_prefix,
        args.selectors,
        all_of_consumer=args.all_of_consumer,
        force=args.force,
        dry_run=args.dry_run,
    )
    verb = "would re-drive" if args.dry_run else "re-drove"
    for d in chosen:
        target = d.original_topic if args.dry_run else d.redrives[-1]
        print(f"{verb} {d.position} ({d.consumer}, {d.header(H_KIND)}) to {target}")
    if not chosen:
        print("nothing to re-drive")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits on usage errors and --help; callers get the code instead
        return exc.code if isinstance(exc.code, int) else 2
    if args.command == "redrive" and not args.selectors and args.all_of_consumer is None:
        return _fail("redrive needs PARTITION:OFFSET selectors or --all-of-consumer", 2)
    if not args.bootstrap:
        return _fail("no Kafka: pass --bootstrap or set KAFKA_BOOTSTRAP_SERVERS", 2)
    if not logging.getLogger().handlers:  # run as a command: our one-line errors, not aiokafka's retry chatter
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    try:
        return asyncio.run(_run(args))
    except SelectorError as exc:
        return _fail(str(exc), 2)
    except DeadLetterError as exc:
        return _fail(str(exc), 1)
    except KafkaConnectionError as exc:  # no broker, the login refused, TLS: which setting, and why
        return _fail(str(setup_errors.kafka(exc, args.bootstrap)), 1)
    except (KafkaError, OSError) as exc:
        name, text = type(exc).__name__, str(exc)
        return _fail(f"kafka: {text if text.startswith(name) else f'{name}: {text}'}", 1)


def _fail(message: str, code: int) -> int:
    print(f"lgnet-deadletters: error: {message}".splitlines()[0], file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
