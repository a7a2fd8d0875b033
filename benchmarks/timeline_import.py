"""Timeline of ``rivergis import zones``: the main thread's stages against the COPY worker, batch by batch.

Run: ``python -m benchmarks.timeline_import URL FILE`` on a database prepared as ``bench_import`` does
(``python -m benchmarks.bench_import --setup URL benchmarks/data/province-2022``); the import is
rolled back. Four parties share the machine's cores: the main thread (reading and checking), the
COPY worker (``ingest.write.DeliveryWriter``: deliveries, then encoding each chunk and, into the COPY held
open across batches, sending it), psycopg's sender thread (``QueuedLibpqWriter``, a COPY of its own: the
bytes onto the socket; the "sender" rows count every send, the worker's too, but the CPU per bin counts a thread
under its first role: the worker's sends are the worker's) and the PostgreSQL backend
(parsing rows, the heap, every index). Each step is timed with its thread's CPU and run-queue
wait from ``/proc/self/task/TID/schedstat``; what is left of its wall time it spent blocked (the
GIL, a lock, a full socket). A sampler reads the same for each thread and for the backend's
process every few milliseconds, binned in ``--bin`` seconds. Not part of ``scripts/bench.sh``.
"""

from __future__ import annotations

import argparse
import functools
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

PROVINCE_BBOX = "[104.0, 27.0, 111.0, 33.0]"


def schedstat(path: str) -> tuple[float, float]:
    """Return the seconds a task has run and waited to run (``/proc/…/schedstat``)."""
    try:
        with open(path) as f:
            run, wait, _ = f.read().split()
    except (FileNotFoundError, ProcessLookupError, ValueError):
        return 0.0, 0.0
    return int(run) / 1e9, int(wait) / 1e9


def own(tid: int | None = None) -> tuple[float, float]:
    """Return a thread of this process's run and run-queue seconds (the calling thread's by default)."""
    return schedstat(f"/proc/self/task/{tid or threading.get_native_id()}/schedstat")


@dataclass
class Span:
    """One timed step of one thread."""

    thread: str
    label: str
    start: float
    end: float
    cpu: float
    runq: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def blocked(self) -> float:
        """Return the wall seconds neither on a CPU nor waiting for one (the GIL, a lock, the socket)."""
        return max(0.0, self.end - self.start - self.cpu - self.runq)


class Timeline:
    """Spans of every thread since ``t0``, and samples of each party's CPU."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.spans: list[Span] = []
        self.names: dict[int, str] = {}  # each thread's latest role (a step's default thread)
        # Each thread's first role, which the samples count its CPU under: the worker's sends are "sender" steps,
        # and a thread counted under the role of the moment was counted whole (from 0) each time it switched.
        self.owners: dict[int, str] = {}
        self.samples: list[tuple[float, dict[tuple[str, int], tuple[float, float]]]] = []
        self.states: list[str] = []  # the backend's state at each sample
        self.backend_pid: int | None = None
        self.done = threading.Event()
        self.lock = threading.Lock()
        self.open = threading.local()  # the calling thread's open steps

    def now(self) -> float:
        """Return the seconds since the timeline started."""
        return time.perf_counter() - self.t0

    def name(self, label: str) -> None:
        """Name the calling thread's role (in the samples, a thread keeps its first)."""
        self.names[threading.get_native_id()] = label
        self.owners.setdefault(threading.get_native_id(), label)

    @contextmanager
    def span(self, thread: str | None, label: str, **extra: Any) -> Iterator[dict[str, Any]]:
        """Time the block as one step of ``thread`` (None: the calling thread's name so far)."""
        thread = thread or self.names.get(threading.get_native_id(), "other")
        self.name(thread)
        stack = self.open.__dict__.setdefault("stack", [])
        extra["parent"] = stack[-1] if stack else None
        stack.append(label)
        start, (cpu, runq) = self.now(), own()
        try:
            yield extra
        finally:
            end, (cpu2, runq2) = self.now(), own()
            stack.pop()
            with self.lock:
                self.spans.append(Span(thread, label, start, end, cpu2 - cpu, runq2 - runq, extra))

    def first(self, thread: str, label: str, after: float) -> float | None:
        """Return when ``thread`` first began a ``label`` step after ``after``."""
        starts = [s.start for s in self.spans if s.thread == thread and s.label == label and s.start >= after]
        return min(starts, default=None)

    def sample(self, every: float) -> None:
        """Sample each named thread's and the backend's CPU until stopped (a thread of its own)."""
        while not self.done.wait(every):
            # A thread that has ended reads (0, 0): left out, not counted as having run backwards.
            seen = {(name, tid): t for tid, name in list(self.owners.items()) if (t := own(tid)) != (0.0, 0.0)}
            if self.backend_pid:
                seen[("server", self.backend_pid)] = schedstat(f"/proc/{self.backend_pid}/schedstat")
                self.states.append(process_state(self.backend_pid))
            self.samples.append((self.now(), seen))

    def cpu(self, party: str, start: float, end: float) -> tuple[float, float]:
        """Return a party's CPU and run-queue seconds between two times (from the samples; threads may come and go)."""
        first = next((seen for t, seen in self.samples if t >= start), None)
        last = next((seen for t, seen in reversed(self.samples) if t <= end), None)
        if first is None or last is None:
            return 0.0, 0.0
        keys = [k for k in last if k[0] == party]
        run = sum(last[k][0] - first.get(k, (0.0, 0.0))[0] for k in keys)
        wait = sum(last[k][1] - first.get(k, (0.0, 0.0))[1] for k in keys)
        return run, wait


def process_state(pid: int) -> str:
    """Return a process's scheduler state letter (R running or runnable, S sleeping, D waiting on I/O)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return "?"


def timed(timeline: Timeline, thread: str | None, label: str, original: Callable[..., Any]) -> Callable[..., Any]:
    """Return ``original`` timed as a step of ``thread``."""

    @functools.wraps(original)
    def run(*args: Any, **kwargs: Any) -> Any:
        with timeline.span(thread, label):
            return original(*args, **kwargs)

    return run


def instrument(timeline: Timeline) -> None:
    """Time the main thread's stages, the worker's steps and psycopg's sender where the pipeline calls them."""
    import psycopg
    from psycopg import _copy

    from gis_service.db.backends import pgbinary
    from gis_service.ingest import batches, pipeline, write
    from gis_service.ingest.validation import feature_checks, ratio_check, river_batches
    from gis_service.store import deliveries

    main = [
        (pipeline, "load_context", "context"),
        (batches, "normalise", "normalise"),
        (feature_checks, "check_geometries", "geometry validity"),
        (feature_checks, "check_fields", "fields"),
        (write.DeliveryWriter, "add", "hand to the writer"),
        (river_batches, "check_sides", "bank sides"),
        (river_batches, "check_zones_in_range", "within ranges"),
        (ratio_check.ZoneRatios, "add", "ratio measuring"),
        (pipeline, "validate", "whole-layer checks"),
        (ratio_check.ZoneRatios, "finish", "ratio walks"),
        (pipeline, "split_report", "reports per river"),
        (write.DeliveryWriter, "finish", "wait for the COPY"),
        (pipeline, "attach_reports", "reports COPY"),
    ]
    for owner, attribute, label in main:
        setattr(owner, attribute, timed(timeline, "main", label, getattr(owner, attribute)))
    worker = [
        (write.DeliveryWriter, "_write", "batch"),
        (deliveries, "lock_rivers", "lock"),
        (deliveries, "next_versions", "versions"),
        (deliveries, "insert_deliveries", "deliveries COPY"),
        (deliveries, "insert_features", "features"),
        (pgbinary, "server_types", "column types"),
        (pgbinary, "ewkb_fields", "encode geom"),
        (pgbinary, "attrs_fields", "encode attrs"),
        (pgbinary, "text_fields", "encode texts"),
        (pgbinary, "int4_fields", "encode ints"),
        (pgbinary, "rows_payload", "join rows"),
        (psycopg.Copy, "write", "hand to sender"),
        (psycopg.Copy, "finish", "end of COPY (server catches up)"),
    ]
    for owner, attribute, label in worker:
        setattr(owner, attribute, timed(timeline, None, label, getattr(owner, attribute)))
    _copy.LibpqWriter._put = timed(timeline, "sender", "send", _copy.LibpqWriter._put)  # type: ignore[method-assign]

    class TimedQueue(queue.Queue):  # type: ignore[type-arg]
        """The writer's queue: the worker's wait for a batch is a step."""

        def get(self, block: bool = True, timeout: float | None = None) -> Any:
            if threading.current_thread().name != "rivergis-copy":
                return super().get(block, timeout)
            with timeline.span("worker", "wait for a batch") as extra:
                item = super().get(block, timeout)
                extra["rows"] = 0 if item is None else len(item)
                return item

    write.queue = SimpleNamespace(Queue=TimedQueue)  # type: ignore[attr-defined]
    add = write.DeliveryWriter._copy

    @functools.wraps(add)
    def copy(self: Any) -> None:
        timeline.name("worker")
        add(self)

    write.DeliveryWriter._copy = copy  # type: ignore[method-assign]


def sums(spans: list[Span]) -> tuple[float, float, float, float]:
    """Return the wall, CPU, run-queue and blocked seconds of ``spans``."""
    return (
        sum(s.end - s.start for s in spans),
        sum(s.cpu for s in spans),
        sum(s.runq for s in spans),
        sum(s.blocked for s in spans),
    )


def report(timeline: Timeline) -> None:
    """Print the worker's batches, the main thread's stages and the binned CPU of each party."""
    spans = sorted(timeline.spans, key=lambda s: s.start)
    print("\nWorker, batch by batch (s; CPU / run queue / blocked in brackets):")
    print(
        "| batch | rows | got at | waited | lock+versions+deliveries | encode | join | hand to sender | end of COPY "
        "| done at | server CPU (run queue) | no data for the server |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    gets = [s for s in spans if s.thread == "worker" and s.label == "wait for a batch"]
    for i, got in enumerate(gets[:-1]):
        nxt = gets[i + 1].start
        inside = [s for s in spans if s.thread == "worker" and got.end <= s.start and s.end <= nxt]

        def cell(labels: set[str], inside: list[Span] = inside) -> str:
            top = [s for s in inside if s.label in labels and s.extra["parent"] in {None, "batch", "features"}]
            wall, cpu, runq, blocked = sums(top)
            return f"{wall:.2f} ({cpu:.2f}/{runq:.2f}/{blocked:.2f})"

        features = [s for s in inside if s.label in {"batch", "features"}]
        start = features[0].start if features else got.end
        # From the end of the previous COPY (or the batch's arrival) to this batch's first bytes on the socket.
        sent = timeline.first("sender", "send", got.end)
        idle = sent - got.start if sent is not None else float("nan")
        print(
            f"| {i + 1} | {got.extra.get('rows')} | {got.end:.2f} | {got.end - got.start:.2f} "
            f"| {cell({'lock', 'versions', 'deliveries COPY'})} "
            f"| {cell({'encode geom', 'encode attrs', 'encode texts', 'encode ints'})} | {cell({'join rows'})} "
            f"| {cell({'hand to sender'})} | {cell({'end of COPY (server catches up)'})} | {nxt:.2f} "
            "| {:.2f} ({:.2f}) ".format(*timeline.cpu("server", start, nxt))
            + f"| {idle:.2f} |"
        )
    sends = [s for s in spans if s.thread == "sender"]
    wall, cpu, runq, blocked = sums(sends)
    print(f"sender: {len(sends)} sends, {wall:.2f} s ({cpu:.2f} CPU, {runq:.2f} run queue, {blocked:.2f} blocked)")
    print("\nMain thread (s from the import's start):")
    print("| stage | calls | first start | last end | wall | CPU | run queue | blocked |")
    print("|---|---|---|---|---|---|---|---|")
    labels: dict[str, list[Span]] = {}
    for s in spans:
        if s.thread == "main":
            labels.setdefault(s.label, []).append(s)
    for label, group in labels.items():
        wall, cpu, runq, blocked = sums(group)
        print(
            f"| {label} | {len(group)} | {group[0].start:.2f} | {group[-1].end:.2f} | {wall:.2f} | {cpu:.2f} "
            f"| {runq:.2f} | {blocked:.2f} |"
        )


def binned(timeline: Timeline, width: float) -> None:
    """Print each party's CPU seconds per bin of ``width`` seconds (and their run-queue wait)."""
    parties = ["main", "worker", "sender", "server"]
    print(f"\nCPU per {width:g} s (run-queue wait in brackets):")
    print("| from | " + " | ".join(parties) + " |")
    print("|---" * (len(parties) + 1) + "|")
    end = timeline.samples[-1][0] if timeline.samples else 0.0
    edge = 0.0
    while edge < end:
        cells = ["{:.2f} ({:.2f})".format(*timeline.cpu(p, edge, edge + width)) for p in parties]
        print(f"| {edge:.2f} | " + " | ".join(cells) + " |")
        edge += width
    states = {k: timeline.states.count(k) for k in sorted(set(timeline.states))}
    print(f"server's state over {len(timeline.states)} samples: {states}")


def main() -> None:
    """Import the file once (rolled back) with every step timed; print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("path", type=Path)
    parser.add_argument("--layer", default="zones")
    parser.add_argument("--bin", type=float, default=0.25, help="seconds a row of the CPU table")
    parser.add_argument("--every", type=float, default=0.005, help="seconds between samples")
    parser.add_argument("--chunk-rows", type=int, help="rows a COPY chunk (default: the service's)")
    parser.add_argument(
        "--leave-out", choices=["ratios", "checks"], help="measuring only: the import without these (see bench_import)"
    )
    args = parser.parse_args()
    os.environ.update(
        {
            "RIVERGIS_DATABASE_URL": args.url,
            "RIVERGIS_DISTRICT_BBOX": PROVINCE_BBOX,
            "RIVERGIS_DB_STATEMENT_TIMEOUT_S": "600",
        }
    )
    from sqlalchemy.orm import Session

    from benchmarks.bench_import import leave_out
    from benchmarks.common import vacuumed
    from gis_service.db.backend import DatabaseWaits
    from gis_service.db.engine import make_engine
    from gis_service.ingest.pipeline import ImportOptions, run_import
    from gis_service.runtime import return_freed_memory_promptly
    from gis_service.settings import Settings

    return_freed_memory_promptly()  # as ``rivergis import`` does
    leave_out(args.leave_out)
    if args.chunk_rows:
        from gis_service.db.backends import pgbinary

        pgbinary.CHUNK_ROWS = args.chunk_rows
    engine = make_engine(args.url, DatabaseWaits.of(Settings()))
    vacuumed(engine, args.layer)  # the dead rows of the runs before
    timeline = Timeline()
    instrument(timeline)
    with Session(engine) as session:
        timeline.backend_pid = session.connection().connection.driver_connection.info.backend_pid  # type: ignore[union-attr]
        timeline.name("main")
        sampler = threading.Thread(target=timeline.sample, args=(args.every,), daemon=True)
        timeline.t0 = time.perf_counter()
        sampler.start()
        start_cpu = own()[0]
        with timeline.span("main", "whole import"):
            options = ImportOptions(layer=args.layer, actor="timeline")
            result = run_import(session, args.path, options, settings=Settings())
        timeline.done.set()
        sampler.join()
        session.rollback()
    total = [s for s in timeline.spans if s.label == "whole import"][0]
    print(
        f"whole import {total.end - total.start:.2f} s, main thread CPU {own()[0] - start_cpu:.2f} s, "
        f"{result['stored']} features stored (rolled back); load {os.getloadavg()[0]:.1f}"
    )
    report(timeline)
    binned(timeline, args.bin)


if __name__ == "__main__":
    main()
