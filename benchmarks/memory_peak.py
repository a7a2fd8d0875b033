"""What is allocated at a process's resident peak, and by which line: a memray capture read back.

``profile_import --memray FILE`` records the import with memray (native stacks, so GEOS, GDAL and
Arrow allocations are seen, not only Python's) and prints this table; ``python -m
benchmarks.memory_peak FILE`` prints it again from the file (``--top N``, ``--snapshot K`` for
another moment than the peak). memray is a profiling tool, not a dependency of the service: ``pip
install -e '.[profile]'`` (or ``pip install memray``) puts it in the environment.

Why not the tracemalloc column: tracemalloc sees Python's and numpy's allocations only, a third of
an import's peak; the GEOS geometries, GDAL's batches and Arrow's buffers are the rest. memray's
own "peak" is the most bytes allocated at once, which is not the moment the resident memory peaks
(freed memory the heap keeps, mapped files); so the table takes the snapshot (memray samples the
resident size every few milliseconds) where the resident size was highest and sums what was then
allocated, by the innermost line of the service (or of this benchmark) that asked for it.
"""

from __future__ import annotations

import argparse
import collections
from pathlib import Path
from typing import Any

OURS = ("/gis_service/", "/benchmarks/")


def where(stack: list[tuple[str, str, int]]) -> str:
    """Return the innermost frame of the service in ``stack`` (innermost first) as ``file:line function``.

    An allocation with no such frame is named by its innermost native function (GDAL's reader, a
    driver's thread); one made while a module was imported, by that module's package.
    """
    for function, file, _ in stack:
        if function == "<module>" and "site-packages/" in file and "memray" not in file:
            return "modules: " + file.split("site-packages/")[1].split("/")[0]
    for function, file, line in stack:
        if any(part in file for part in OURS) and not file.endswith("memory_peak.py"):
            return f"{file.rsplit('/', 2)[-2]}/{file.rsplit('/', 1)[-1]}:{line} {function}"
    return f"native: {stack[0][0]}" if stack else "native: ?"


def live_at(path: Path, snapshot: int | None = None) -> tuple[int, Any, collections.Counter[str]]:
    """Return the snapshot read (the resident peak's by default), it, and the bytes then allocated by :func:`where`."""
    from memray import FileReader

    reader = FileReader(path)
    snapshots = list(reader.get_memory_snapshots())
    at = max(range(len(snapshots)), key=lambda k: snapshots[k].rss) if snapshot is None else snapshot
    records, _ = reader.get_temporal_high_water_mark_allocation_records(merge_threads=True)
    live: collections.Counter[str] = collections.Counter()
    for record in records:
        for span in record.intervals:
            freed = span.deallocated_before_snapshot
            if span.allocated_before_snapshot <= at and (freed is None or freed > at):
                live[where(record.hybrid_stack_trace())] += span.n_bytes
    return at, snapshots[at], live


def print_table(path: Path, top: int = 30, snapshot: int | None = None) -> None:
    """Print the allocations live at the resident peak of memray capture ``path`` (markdown)."""
    at, snap, live = live_at(path, snapshot)
    total = sum(live.values())
    print(
        f"memray snapshot {at}: resident {snap.rss / 2**20:.0f} MB (under memray), "
        f"{total / 2**20:.0f} MB allocated then; the {top} largest places:"
    )
    print("| MB | allocated by |\n|---|---|")
    for place, size in live.most_common(top):
        print(f"| {size / 2**20:.1f} | {place} |")


def main() -> None:
    """Print the table of a capture made by ``profile_import --memray FILE`` (or ``memray run --native``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("capture", type=Path)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--snapshot", type=int, help="another moment than the resident peak (memray's snapshot number)")
    args = parser.parse_args()
    print_table(args.capture, args.top, args.snapshot)


if __name__ == "__main__":
    main()
