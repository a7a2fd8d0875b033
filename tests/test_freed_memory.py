"""An import's process gives freed memory back: glibc's thresholds fixed by ``return_freed_memory_promptly``.

Each case runs in a child process (the setting is process-wide). By default glibc raises its mmap
threshold to the size of a large block once it is freed, so the next smaller arrays come from the
heap and stay resident after they are freed: ten 1 MB arrays freed after a 20 MB one leave
10 MB behind. With the fixed thresholds they go back at once.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

CHILD = """
import sys
import numpy as np
from gis_service.runtime import return_freed_memory_promptly

def resident_mb():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096 / 2**20

if sys.argv[1] == "fixed":
    assert return_freed_memory_promptly()
big = np.ones(20 * 2**17)  # 20 MB of float64
del big
before = resident_mb()
arrays = [np.ones(2**17) for _ in range(10)]  # ten 1 MB arrays
del arrays
print(resident_mb() - before)
"""


def kept_mb(mode: str) -> float:
    """Return the MB still resident after the arrays are freed, in a child process."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("MALLOC_MMAP_THRESHOLD_", None)
    env.pop("MALLOC_TRIM_THRESHOLD_", None)
    done = subprocess.run([sys.executable, "-c", CHILD, mode], capture_output=True, text=True, env=env, check=True)
    return float(done.stdout)


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="resident memory is read from /proc")
def test_freed_arrays_leave_the_process_once_thresholds_are_fixed() -> None:
    assert kept_mb("default") >= 8  # glibc's default: the 10 MB stay (a little may be reused)
    assert kept_mb("fixed") <= 1


def test_arrow_allocates_from_the_heap_that_gives_memory_back() -> None:
    code = (
        "import pyarrow as pa\n"
        "from gis_service.runtime import return_freed_memory_promptly\n"
        "before = pa.default_memory_pool().backend_name\n"
        "assert return_freed_memory_promptly()\n"
        "print(before, pa.default_memory_pool().backend_name)"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("ARROW_DEFAULT_MEMORY_POOL", None)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    before, after = done.stdout.split()
    # Arrow's own pool (mimalloc or jemalloc) keeps freed pages; glibc's, fixed as above, does not.
    assert before != "system"
    assert after == "system"


def test_free_pages_go_back_only_in_a_process_that_owns_its_allocator(monkeypatch: pytest.MonkeyPatch) -> None:
    """The web server never trims between an upload's batches: the trim would hold every request's allocations."""
    from gis_service import runtime

    trims: list[int] = []
    monkeypatch.setattr(runtime, "_malloc_trim", lambda: trims.append)
    monkeypatch.setattr(runtime, "_owns_allocator", False)
    runtime.release_free_pages()
    assert trims == []
    monkeypatch.setattr(runtime, "_owns_allocator", True)
    runtime.release_free_pages()
    assert trims == [0]
