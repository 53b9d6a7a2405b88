"""A tiny async read-through cache with expiry, for rarely changing lookups (partners' keys, actors)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class TTLCache(Generic[T]):
    def __init__(self, seconds: float, max_items: int = 10_000) -> None:
        self.seconds, self.max_items = seconds, max_items
        self._items: dict[str, tuple[float, T]] = {}

    async def get(self, key: str, load: Callable[[], Awaitable[T]]) -> T:
        now = time.monotonic()
        hit = self._items.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        value = await load()
        if len(self._items) >= self.max_items:
            self._items.clear()
        self._items[key] = (now + self.seconds, value)
        return value
