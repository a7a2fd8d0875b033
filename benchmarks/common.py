"""Shared benchmark plumbing: the province-scale data set, scratch databases, timing with peak memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

ROOT = Path(__file__).resolve().parent
DATA = ROOT / "data"
RESULTS = ROOT / "results"


def province_data(seed: int = 2022, sites: int | None = None) -> Path:
    """Return the folder with the province-scale set (``sites``: problem sites, default 100 000), generating it once."""
    from gis_service.demo.generator import generate

    folder = DATA / (f"province-{seed}" if sites is None else f"province-{seed}-sites{sites}")
    if not (folder / "zones.gpkg").exists():
        folder.mkdir(parents=True, exist_ok=True)
        generate(folder, scale="province", seed=seed, sites=sites)
    return folder


def postgis_url() -> str:
    """Return the PostGIS server URL benchmarks use (scripts/bench.sh sets it)."""
    url = os.environ.get("RIVERGIS_BENCH_POSTGIS_URL") or os.environ.get("RIVERGIS_TEST_POSTGIS_URL")
    if not url:
        sys.exit("Set RIVERGIS_BENCH_POSTGIS_URL (scripts/bench.sh starts PostGIS and sets it).")
    return url


@contextmanager
def scratch_postgis() -> Iterator[str]:
    """Yield the URL of a new, empty PostGIS database, dropped afterwards."""
    base = make_url(postgis_url())
    name = f"rg_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    try:
        with create_engine(url).begin() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def settled(url: str) -> None:
    """Have the PostGIS database ``url`` analysed and its writes checkpointed now, after a set-up's load.

    Left to the server, autovacuum analyses the tables a set-up has just loaded, and a checkpoint writes their
    pages, some tens of seconds later: during whichever measured command runs then. (It is not what makes this
    machine's runs vary: settled or not, ogr2ogr's server CPU moved between 1.9 and 3.6 s from run to run of the
    same load in the twenty-third session.) ``CHECKPOINT`` needs a superuser (or ``pg_checkpoint``): without one,
    only the analysis is done.
    """
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("VACUUM (ANALYZE)"))
            try:
                conn.execute(text("CHECKPOINT"))
            except DBAPIError:
                pass  # not allowed to this role: the analysis alone
    finally:
        engine.dispose()


def vacuumed(engine: Engine, layer: str) -> None:
    """Rewrite the PostGIS table of ``layer`` without the dead rows that earlier rolled-back imports left
    (``VACUUM FULL``).

    A profiling tool rolls its import back, so one database serves every run; a dozen runs of 200 000 stretches
    left ``zones`` at 826 MB, and each import into it slowed as its indexes grew. Run before each import, every
    run starts from the same table. Nothing on SpatiaLite.
    """
    from gis_service.catalogue import catalogue_for
    from gis_service.settings import Settings
    from gis_service.store.tables import table_of

    if engine.dialect.name != "postgresql":
        return
    table = table_of(catalogue_for(Settings())[layer]).name
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'VACUUM FULL "{table}"'))


def ogr_pg_dsn(url: str) -> str:
    """Return GDAL's ``PG:`` connection string for a SQLAlchemy PostgreSQL URL."""
    u = make_url(url)
    return f"PG:host={u.host} port={u.port or 5432} dbname={u.database} user={u.username} password={u.password}"


@dataclass
class Measure:
    """Wall time and peak memory of one measured run; with its CPU seconds where they were counted: the command's
    own (all its threads) and the local PostgreSQL server's meanwhile (:func:`server_cpu_seconds`)."""

    label: str
    seconds: float
    peak_mb: float
    result: Any = None
    cpu_seconds: float | None = None
    server_cpu_seconds: float | None = None


def measure(label: str, fn: Callable[[], Any]) -> Measure:
    """Run ``fn`` once in this process; report wall time and peak Python-allocated memory."""
    tracemalloc.start()
    start = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return Measure(label, seconds, peak / 2**20, result)


def measure_command(label: str, argv: list[str], env: dict[str, str] | None = None) -> Measure:
    """Run an external command; report its wall time, its own peak RSS and CPU seconds (started by a
    :class:`Launcher`), and the local PostgreSQL server's CPU seconds meanwhile (None when not counted)."""
    with tempfile.TemporaryDirectory(prefix="rg-bench-") as tmp:
        launcher = Launcher(dict(os.environ) if env is None else env, Path(tmp))
        try:
            server = server_cpu_seconds()
            seconds, peak_mb = launcher.run(argv)
            after = server_cpu_seconds()
        finally:
            launcher.close()
    spent = after - server if after is not None and server is not None else None
    return Measure(label, seconds, peak_mb, cpu_seconds=launcher.cpu_seconds, server_cpu_seconds=spent)


def server_cpu_seconds() -> float | None:
    """Return the CPU seconds (user and system) that this machine's PostgreSQL processes have used so far; None
    when none can be read (a server elsewhere, another user's processes).

    Every process named ``postgres`` is summed with the children it has reaped: a connection's backend, once
    it exits, is counted in the postmaster's. The background writers are in it too: the WAL a load writes is its
    work. Read from ``/proc``; the difference over a command is what the server spent on it when nothing else
    uses the server meanwhile (a benchmark's own scratch database).
    """
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    total, found = 0, False
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # ended meanwhile, or not ours to read
        name, _, rest = text.partition(" (")[2].rpartition(") ")
        if name != "postgres":
            continue
        fields = rest.split()
        # After the name: state is field 3 of stat(5); utime, stime, cutime, cstime are fields 14–17.
        total += sum(int(v) for v in fields[11:15])
        found = True
    return total / ticks if found else None


# A small process that starts each timed command, so that the child's peak RSS is its own: a child
# forked from this one would count this process's memory (the size at the fork stays in its peak).
LAUNCHER = """
import json, os, sys, time
for line in sys.stdin:
    argv, log = json.loads(line)
    quiet = os.open(os.devnull, os.O_RDWR)
    errors = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    start = time.perf_counter()
    pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=[
        (os.POSIX_SPAWN_DUP2, quiet, 0), (os.POSIX_SPAWN_DUP2, quiet, 1), (os.POSIX_SPAWN_DUP2, errors, 2)])
    _, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - start
    os.close(quiet)
    os.close(errors)
    cpu = usage.ru_utime + usage.ru_stime
    print(json.dumps([os.waitstatus_to_exitcode(status), seconds, usage.ru_maxrss, cpu]), flush=True)
"""


class Launcher:
    """The process that starts the timed commands (:data:`LAUNCHER`), the only child of this one meanwhile."""

    def __init__(self, env: dict[str, str], folder: Path) -> None:
        self.log = folder / "stderr.txt"
        self.cpu_seconds = 0.0  # the last command's
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-c", LAUNCHER], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def run(self, argv: list[str]) -> tuple[float, float]:
        """Run ``argv``, output discarded; return its wall seconds (spawn to ``wait4``) and peak RSS in MB (its CPU
        seconds, user and system, in :attr:`cpu_seconds`)."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps([argv, str(self.log)]) + "\n")
        self.proc.stdin.flush()
        code, seconds, peak_kb, self.cpu_seconds = json.loads(self.proc.stdout.readline())
        if code != 0:
            raise RuntimeError(f"{' '.join(argv)} exited with {code}: {self.log.read_text(errors='replace')}")
        return float(seconds), peak_kb / 1024

    def close(self) -> None:
        """End the launcher (its input closed)."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait()


def report(name: str, ours: Measure, reference: Measure, **extra: Any) -> dict[str, Any]:
    """Print the side-by-side figures and the ratio; keep them as JSON in results/."""
    ratio = ours.seconds / reference.seconds if reference.seconds else float("inf")
    row = {
        "benchmark": name,
        "ours": {"label": ours.label, "seconds": round(ours.seconds, 3), "peak_mb": round(ours.peak_mb, 1)},
        "reference": {
            "label": reference.label,
            "seconds": round(reference.seconds, 3),
            "peak_mb": round(reference.peak_mb, 1),
        },
        "ratio": round(ratio, 3),
        **extra,
    }
    print(
        f"{name}: {ours.label} {ours.seconds:.2f}s (peak {ours.peak_mb:.0f} MB) | "
        f"{reference.label} {reference.seconds:.2f}s (peak {reference.peak_mb:.0f} MB) | ratio {ratio:.2f}x"
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(row, ensure_ascii=False, indent=2), encoding="utf-8")
    return row


def store_layers(engine: Engine, folder: Path, layers: tuple[str, ...]) -> dict[str, float]:
    """Store province layers in one transaction (versioned ones as one approved delivery); seconds a layer."""
    from gis_service.catalogue import bundled_catalogue
    from gis_service.db.backend import backend_for
    from gis_service.db.engine import transaction
    from gis_service.db.models import Delivery
    from gis_service.db.schema import upgrade
    from gis_service.ingest.normalise import normalise
    from gis_service.ingest.read import read_vector
    from gis_service.store.bulk import insert_features

    catalogue = bundled_catalogue()
    upgrade(engine)
    times = {}
    with transaction(engine) as session:
        for layer in layers:
            start = time.perf_counter()
            frame = normalise(catalogue[layer], read_vector(folder / f"{layer}.gpkg")).frame
            extra = None
            if catalogue[layer].versioned:
                delivery = Delivery(
                    river_code="*",
                    layer=layer,
                    version=1,
                    status="approved",
                    filename="province benchmark",
                    feature_count=len(frame),
                )
                session.add(delivery)
                session.flush()
                extra = {"delivery_id": delivery.id}
            insert_features(session, catalogue[layer], frame, extra)
            times[layer] = time.perf_counter() - start
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        backend_for(engine).refresh_statistics(conn)
    return times
