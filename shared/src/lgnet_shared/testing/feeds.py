"""A stand-in for aiokafka's consumer in unit tests of a reader (the partner SDK's answers): it hands out the given
records one by one, numbering their offsets, then times out as an idle feed does."""

from __future__ import annotations

from typing import Any


class RecordFeed:
    def __init__(self, records: list[Any]) -> None:
        self.records, self.handed = records, 0

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def getone(self) -> Any:
        if not self.records:
            raise TimeoutError  # the feed is idle: the reader's timeout ends it
        record = self.records.pop(0)
        record.offset, self.handed = self.handed, self.handed + 1
        return record
