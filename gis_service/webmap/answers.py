"""Map answers kept per data version: the same view of the same filter on unchanged data is not counted again.

Keys start with the database and its data version (:mod:`gis_service.store.versions`), so a write
anywhere makes every older answer unreachable; the oldest answers go first past :data:`SIZE`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")
SIZE = 512  # answers kept: a few hundred cells each, a few megabytes in all


class AnswerCache:
    """A small thread-safe LRU of computed answers."""

    def __init__(self, size: int = SIZE) -> None:
        """Keep at most ``size`` answers."""
        self.size = size
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable | None, compute: Callable[[], T]) -> T:
        """Return the answer kept for ``key``, else compute and keep it (a None key: computed, never kept)."""
        if key is None:
            return compute()
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                kept: T = self._items[key]
                return kept
        value = compute()
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        """Forget every answer."""
        with self._lock:
            self._items.clear()


MAP_ANSWERS = AnswerCache()
