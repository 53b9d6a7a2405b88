"""`DeferredCommits` alone, with a stand-in Kafka client: the orderings a real broker makes rare."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any

from aiokafka.structs import TopicPartition
from lgnet_shared.commits import DeferredCommits

A, B = TopicPartition("t", 0), TopicPartition("t", 1)


class SlowClient:
    """Hands out the positions it is told and holds each commit until the test lets it through."""

    def __init__(self) -> None:
        self.positions: dict[TopicPartition, int] = {}
        self.commits: list[dict[TopicPartition, int]] = []
        self.release = asyncio.Event()
        states = SimpleNamespace(
            state_value=lambda tp: SimpleNamespace(has_valid_position=True, position=self.positions[tp])
        )
        self._subscription = SimpleNamespace(subscription=SimpleNamespace(assignment=states))

    def assignment(self) -> set[TopicPartition]:
        return set(self.positions)

    async def commit(self, offsets: dict[TopicPartition, Any]) -> None:
        await self.release.wait()
        self.commits.append({tp: o.offset for tp, o in offsets.items()})


async def test_a_batch_acknowledged_while_a_commit_is_in_flight_does_not_send_its_partitions_again() -> None:
    """A batch of partition B only, acknowledged while A and B's commit is on its way: the next commit carries B's
    new position and not A's unchanged one (the CI of 748847d saw "a partition committed again unchanged")."""
    client = SlowClient()
    commits = DeferredCommits("probe", interval_s=0.05)
    client.positions = {A: 5, B: 7}
    first = asyncio.create_task(commits.note(client))  # no commit yet: sent at once, held by the client
    await asyncio.sleep(0.01)
    client.positions = {A: 5, B: 9}
    await commits.note(client)  # acknowledged during the commit in flight: waits for the interval
    client.release.set()
    await first
    await asyncio.sleep(0.1)
    assert client.commits == [{A: 5, B: 7}, {B: 9}]


class StuckClient(SlowClient):
    """Its first commit never returns (a broker away): only a cancellation ends it, and it records nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.stuck = True

    async def commit(self, offsets: dict[TopicPartition, Any]) -> None:
        if self.stuck:
            self.stuck = False
            await asyncio.Event().wait()
        self.commits.append({tp: o.offset for tp, o in offsets.items()})


async def test_a_commit_cancelled_at_close_is_sent_by_the_closing_flush_with_what_waited_behind_it() -> None:
    """The interval's commit is stuck when the service stops: `close()` cancels it, and its closing flush commits
    both what that commit carried and a batch noted behind it (it dropped the first: the next owner read it again)."""
    client = StuckClient()
    commits = DeferredCommits("probe", interval_s=0.5)
    commits._last = time.monotonic()  # a commit was just sent: the next waits for the timer
    client.positions = {A: 5, B: 7}
    await commits.note(client)
    await asyncio.sleep(0.6)  # the timer's commit is on its way, and stuck
    client.positions = {A: 5, B: 9}
    await commits.note(client)  # B moved; A is unchanged since the stuck commit (within the interval: noted only)
    async with asyncio.timeout(5):
        await commits.close()
    assert client.commits == [{A: 5, B: 9}]
