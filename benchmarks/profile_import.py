"""Profile ``rivergis import zones`` stage by stage: seconds, CPU seconds, resident memory after each and its peak.

Run: ``python -m benchmarks.profile_import URL FILE`` on a database prepared as ``bench_import`` does
(``python -m benchmarks.bench_import --setup URL benchmarks/data/province-2022``). The import is
rolled back, so the same database serves every run (its table vacuumed first: the runs before left dead rows).
``--cprofile N`` prints the N costliest functions; ``--tracemalloc`` adds the peak of Python-visible allocations
(numpy included; GEOS and Arrow not) per stage, at a large cost in time; ``--memray FILE`` records every
allocation (native ones too) and prints what was allocated at the resident peak, by the line that asked
(``benchmarks.memory_peak``).
Stages overlap the worker thread's ``COPY`` (see ``ingest.write.DeliveryWriter``): what the COPY still
needs at the end shows as "wait for the COPY".
Not part of ``scripts/bench.sh``: it explains ``bench_import``'s figures, it does not compare.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import os
import pstats
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

PROVINCE_BBOX = "[104.0, 27.0, 111.0, 33.0]"
PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 2**20


def rss_mb() -> float:
    """Return this process's resident memory in MB."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE_MB


class Sampler:
    """Sample resident memory every few milliseconds; report the peak since the last mark."""

    def __init__(self) -> None:
        self.peak = rss_mb()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        """Keep the highest resident memory seen."""
        while not self.done.wait(0.005):
            self.peak = max(self.peak, rss_mb())

    def mark(self) -> float:
        """Return the peak since the previous mark and start a new period."""
        peak, self.peak = max(self.peak, rss_mb()), rss_mb()
        return peak


class Stages:
    """The timed stages of one import, in the order they ran."""

    def __init__(self, trace: bool) -> None:
        # label, seconds, main thread's CPU seconds, RSS after, peak, traced peak; in the order stages started
        self.rows: list[tuple[str, float, float, float, float, float | None]] = []
        self.sampler = Sampler()
        self.trace = trace
        self.depth = 0
        self.peaks: list[float] = []  # the running peak of each open stage, outermost first

    def _mark(self) -> float:
        """Close a sampling period: every open stage's peak takes it in."""
        peak = self.sampler.mark()
        self.peaks = [max(p, peak) for p in self.peaks]
        return peak

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time ``name`` (stages nested in another are measured inside it and listed indented)."""
        label = "  " * self.depth + name
        row = len(self.rows)
        self.rows.append((label, 0.0, 0.0, 0.0, 0.0, None))
        self.depth += 1
        self._mark()
        self.peaks.append(0.0)
        if self.trace and self.depth == 1:
            tracemalloc.reset_peak()
        start, cpu = time.perf_counter(), time.thread_time()
        try:
            yield
        finally:
            seconds, cpu = time.perf_counter() - start, time.thread_time() - cpu
            self.depth -= 1
            traced = tracemalloc.get_traced_memory()[1] / 2**20 if self.trace and self.depth == 0 else None
            self._mark()
            self.rows[row] = (label, seconds, cpu, rss_mb(), self.peaks.pop(), traced)

    def wrap(self, owner: Any, attribute: str, name: str) -> None:
        """Replace ``owner.attribute`` (a function the pipeline calls by that name) by a timed one."""
        original: Callable[..., Any] = getattr(owner, attribute)

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.stage(name):
                return original(*args, **kwargs)

        setattr(owner, attribute, timed)


def instrument(stages: Stages) -> None:
    """Time each stage of the pipeline where it calls it."""
    from gis_service.analysis.shoreline import ratio_report, ratios
    from gis_service.ingest import batches, pipeline, write
    from gis_service.ingest.validation import feature_checks, ratio_check, river_batches, validate

    for owner, attribute, name in (
        (pipeline, "read_delivery", "read: open the layer (a large one is streamed)"),
        (pipeline, "load_context", "read: context (rivers, ranges from the database)"),
        (pipeline, "checks_along", "read: checks along (ranges kept compact, bank lines; the index made meanwhile)"),
        (pipeline, "normalise_batches", "read: batches read, checked and normalised"),
        (batches, "check_district", "district extent (a batch)"),
        (batches, "normalise", "normalise (a batch's catalogue fields)"),
        (feature_checks, "check_geometries", "geometry validity (a batch)"),
        (feature_checks, "check_fields", "required fields, markup (a batch)"),
        (write.DeliveryWriter, "add", "to the writer (waits until the worker takes it)"),
        (river_batches, "check_sides", "bank sides (a batch)"),
        (river_batches, "check_zones_in_range", "zones within ranges (a batch)"),
        (ratio_check.ZoneRatios, "add", "ratio check: stretches measured (a batch)"),
        (pipeline, "validate", "validate: whole-layer checks"),
        (validate, "check_duplicates", "duplicate codes and geometries"),
        (validate, "check_rivers", "river codes"),
        (ratio_check.ZoneRatios, "finish", "store: shoreline ratio check (walks, gaps, overlaps)"),
        (ratios, "walks", "walks (reach, holder, covered lengths)"),
        (ratio_report, "gap_rows", "gaps"),
        (ratio_report, "overlap_rows", "overlaps"),
        (ratio_report, "bank_table", "bank sums"),
        (ratio_check, "issue_findings", "gaps and overlaps as findings"),
        (ratio_report.RatioReport, "to_json", "the figures as JSON"),
        (pipeline, "finish_report", "store: report (findings placed)"),
        (pipeline, "split_report", "store: report per river (JSON texts)"),
        (write.DeliveryWriter, "finish", "store: wait for the COPY (worker thread)"),
        (pipeline, "attach_reports", "store: 10 000 reports (COPY)"),
    ):
        stages.wrap(owner, attribute, name)


def count_worker_cpu(seconds: list[float]) -> None:
    """Add the COPY worker thread's CPU seconds to ``seconds`` when it ends (the main thread's are counted apart)."""
    from gis_service.ingest import write

    original = write.DeliveryWriter._copy

    @functools.wraps(original)
    def counted(self: Any) -> None:
        try:
            original(self)
        finally:
            seconds.append(time.thread_time())

    write.DeliveryWriter._copy = counted  # type: ignore[method-assign]


@contextmanager
def recorded(capture: Path | None) -> Iterator[None]:
    """Record the allocations made inside into ``capture`` with memray (native stacks); nothing when None."""
    if capture is None:
        yield
        return
    try:
        import memray
    except ImportError:
        raise SystemExit("--memray needs memray: pip install -e '.[profile]' (or pip install memray)") from None
    capture.unlink(missing_ok=True)
    with memray.Tracker(capture, native_traces=True):
        yield


def main() -> None:
    """Import the file once with every stage timed; print the table (markdown) and the totals."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("path", type=Path)
    parser.add_argument("--layer", default="zones")
    parser.add_argument("--cprofile", type=int, default=0, metavar="N")
    parser.add_argument("--sort", default="cumulative", help="the order of --cprofile's functions (pstats' keys)")
    parser.add_argument("--dump", type=Path, help="with --cprofile: also write the profile to this file (pstats)")
    parser.add_argument("--tracemalloc", action="store_true")
    parser.add_argument("--memray", type=Path, metavar="FILE", help="record the import with memray into FILE")
    parser.add_argument("--glibc-defaults", action="store_true", help="keep glibc's allocator as it starts")
    args = parser.parse_args()
    # An import's statement timeout (``rivergis import`` runs in ``engine.transaction``): 1 000 000 rows take minutes.
    os.environ.update(
        {
            "RIVERGIS_DATABASE_URL": args.url,
            "RIVERGIS_DISTRICT_BBOX": PROVINCE_BBOX,
            "RIVERGIS_DB_STATEMENT_TIMEOUT_S": "600",
        }
    )
    imports = rss_mb()
    from sqlalchemy.orm import Session

    from benchmarks.common import vacuumed
    from gis_service.db.backend import DatabaseWaits
    from gis_service.db.engine import make_engine
    from gis_service.ingest.pipeline import ImportOptions, run_import
    from gis_service.runtime import return_freed_memory_promptly
    from gis_service.settings import Settings

    if not args.glibc_defaults:
        return_freed_memory_promptly()  # as ``rivergis import`` does

    print(f"resident memory: {imports:.0f} MB at start, {rss_mb():.0f} MB once the service's modules are imported")
    stages = Stages(args.tracemalloc)
    instrument(stages)
    worker_cpu: list[float] = []
    count_worker_cpu(worker_cpu)
    engine = make_engine(args.url, DatabaseWaits.of(Settings()))
    vacuumed(engine, args.layer)  # the dead rows of the runs before
    profile = cProfile.Profile() if args.cprofile else None
    if args.tracemalloc:
        tracemalloc.start()
    with Session(engine) as session, recorded(args.memray):
        start, cpu = time.perf_counter(), time.thread_time()
        if profile:
            profile.enable()
        with stages.stage("whole import (rolled back)"):
            options = ImportOptions(layer=args.layer, actor="profile")
            result = run_import(session, args.path, options, settings=Settings())
        if profile:
            profile.disable()
        total, cpu = time.perf_counter() - start, time.thread_time() - cpu
        session.rollback()
    header = "| stage | s | CPU s (main thread) | RSS after (MB) | peak during (MB) |"
    print(header + (" traced peak (MB) |" if args.tracemalloc else ""))
    print("|---|---|---|---|---|" + ("---|" if args.tracemalloc else ""))
    for label, seconds, used, after, peak, traced in stages.rows:
        extra = f" {traced:.0f} |" if traced is not None else (" |" if args.tracemalloc else "")
        print(f"| {label} | {seconds:.2f} | {used:.2f} | {after:.0f} | {peak:.0f} |{extra}")
    print(f"total {total:.2f}s, {result['stored']} features stored (rolled back)")
    # CPU seconds are steadier than wall time on a shared machine; the worker's is its COPY text and calls.
    print(f"CPU: main thread {cpu:.2f}s, COPY worker {sum(worker_cpu):.2f}s")
    if profile:
        pstats.Stats(profile).sort_stats(args.sort).print_stats(args.cprofile)
        if args.dump:
            profile.dump_stats(args.dump)
    if args.memray:
        from benchmarks.memory_peak import print_table

        print_table(args.memray)


if __name__ == "__main__":
    main()
