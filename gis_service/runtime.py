"""Process-level tuning shared by the bulk stages (import, ratio check)."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_holders = 0
_was_enabled = True


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector during bulk work; restore it when the last holder leaves.

    A 200 000-feature delivery or ratio check allocates millions of objects (geometries, strings,
    rows) and the collector would walk them all again and again (a tenth to a fifth of the time);
    reference counting still frees everything as usual. The pause is process-wide, so overlapping
    holders (two requests at once) share it and the collector comes back only after both.
    """
    global _holders, _was_enabled
    with _lock:
        if _holders == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _was_enabled:
                gc.enable()
