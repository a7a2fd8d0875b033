"""Shared benchmark plumbing: the province-scale data set, scratch databases, timing with peak memory."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
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


def ogr_pg_dsn(url: str) -> str:
    """Return GDAL's ``PG:`` connection string for a SQLAlchemy PostgreSQL URL."""
    u = make_url(url)
    return f"PG:host={u.host} port={u.port or 5432} dbname={u.database} user={u.username} password={u.password}"


@dataclass
class Measure:
    """Wall time and peak memory of one measured run."""

    label: str
    seconds: float
    peak_mb: float
    result: Any = None


def measure(label: str, fn: Callable[[], Any]) -> Measure:
    """Run ``fn`` once in this process; report wall time and peak Python-allocated memory."""
    tracemalloc.start()
    start = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return Measure(label, seconds, peak / 2**20, result)


def measure_command(label: str, argv: list[str]) -> Measure:
    """Run an external command; report wall time and the peak RSS of child processes."""
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    seconds = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return Measure(label, seconds, peak_kb / 1024)


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
