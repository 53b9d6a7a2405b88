"""The notary's and the auditor's reading of the fact topics and the checkpoint topic, and the auditor's saved
state (the newest checkpoint and the leaf hashes of every topic-partition, kept out of band between audits)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import TopicAuthorizationFailedError, UnknownTopicOrPartitionError
from lgnet_shared import kafka_health
from lgnet_shared.checkpoints import Checkpoint, Verifier, open_checkpoint
from lgnet_shared.consumer import Record
from lgnet_shared.kafka import client_kwargs
from lgnet_shared.topics import TOPICS, physical

from lgnet_reporting.adapters import log
from lgnet_reporting.domain.audit import FACT_TOPICS, SavedOrigin


async def fact_records(bootstrap: str, prefix: str) -> AsyncIterator[tuple[str, list[Record]]]:
    """Every record of the fact topics up to their current ends, as (logical topic, batch), partition order kept."""
    names = {physical(t, prefix): t for t in FACT_TOPICS}
    ends = await log.end_positions(bootstrap, list(names))
    async for batch in log.read(bootstrap, ends):
        by_topic: dict[str, list[Record]] = {}
        for r in batch:
            by_topic.setdefault(names[r.topic], []).append(r)
        for topic, records in by_topic.items():
            yield topic, records


MISSING, NOT_AUTHORISED = UnknownTopicOrPartitionError.errno, TopicAuthorizationFailedError.errno


async def topic_errors(bootstrap: str, topics: list[str]) -> dict[str, int]:
    """The broker's error code for each of these topics: 0 (it exists and this principal may describe it),
    MISSING, or NOT_AUTHORISED (no READ; the broker says so whether the topic exists or not). A consumer's own
    metadata lists only the topics it may describe: a topic it may not read looked like an empty one."""
    consumer = AIOKafkaConsumer(**client_kwargs(bootstrap), enable_auto_commit=False)
    try:
        await consumer.start()  # inside: a broker that does not answer still gets its client closed
        answer = (await kafka_health.ask_metadata(consumer._client, topics)).to_object()
    finally:
        await consumer.stop()
    return {t["topic"]: int(t["error_code"]) for t in answer["topics"]}


async def checkpoint_notes(
    bootstrap: str, prefix: str, upto: log.Positions | None = None
) -> AsyncIterator[tuple[int, str]]:
    """The checkpoint topic's notes up to `upto` (its end when it was taken; default: its end now)."""
    topic = physical("checkpoints", prefix)
    ends = upto if upto is not None else await log.end_positions(bootstrap, [topic])
    async for batch in log.read(bootstrap, ends):
        for r in batch:
            yield r.offset, (r.value or b"").decode("utf-8", "replace")


def partition_counts() -> dict[str, int]:
    return {t: TOPICS[t].partitions for t in FACT_TOPICS}


async def publish(bootstrap: str, prefix: str, checkpoints: list[Checkpoint]) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(**client_kwargs(bootstrap), enable_idempotence=True)
    await producer.start()
    try:
        for cp in checkpoints:
            await producer.send_and_wait(physical("checkpoints", prefix), cp.note.encode(), key=cp.origin.encode())
    finally:
        await producer.stop()


# The topic prefix of the log a state was saved from: origins name logical topics only, and two prefixes of one
# cluster may share a notary key (derived from one master key and deployment name).
PREFIX = "topic_prefix"


def save_state(folder: Path, newest: dict[str, Checkpoint], leaves: dict[str, list[bytes]], prefix: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    index: dict[str, Any] = {PREFIX: prefix}
    for name, cp in sorted(newest.items()):
        file = name.replace("/", "_") + ".leaves"
        (folder / file).write_bytes(b"".join(leaves.get(name, [])[: cp.size]))
        index[name] = {"note": cp.note, "leaves": file}
    (folder / "state.json").write_text(json.dumps(index, indent=1, sort_keys=True))


class NotAState(ValueError):
    """The folder's state.json is not what `save_state` writes."""


class OtherPrefix(ValueError):
    """The state was saved by an audit of the log under another topic prefix."""

    def __init__(self, saved: str) -> None:
        super().__init__(saved)
        self.saved = saved


def load_state(folder: Path, notaries: list[Verifier], prefix: str) -> dict[str, SavedOrigin]:
    """The saved checkpoints (re-verified: a saved note is believed only with a pinned notary's signature). Raises
    NotAState for a state.json `save_state` did not write, OtherPrefix for one saved by an audit of another topic
    prefix (a state saved before the prefix was written is taken as this prefix's), CheckpointError for a note no
    pinned key signed."""
    path = folder / "state.json"
    if not path.exists():
        return {}
    try:
        index = json.loads(path.read_text())
    except ValueError as exc:
        raise NotAState(f"state.json is not JSON ({exc})") from None
    saved = index.pop(PREFIX, prefix) if isinstance(index, dict) else prefix
    if saved != prefix:
        raise OtherPrefix(str(saved))
    shape = {"note": str, "leaves": str}
    if not isinstance(index, dict) or not all(
        isinstance(e, dict) and all(isinstance(e.get(k), t) for k, t in shape.items()) for e in index.values()
    ):
        raise NotAState('state.json is not {"<origin>": {"note": …, "leaves": …}, …}')
    out: dict[str, SavedOrigin] = {}
    for name, entry in index.items():
        cp = open_checkpoint(entry["note"], notaries)
        raw = (folder / entry["leaves"]).read_bytes()
        out[name] = SavedOrigin(cp, [raw[i : i + 32] for i in range(0, len(raw), 32)])
    return out
