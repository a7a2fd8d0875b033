"""Benchmark: importing a zone set (read, normalise, validate, store) against ``ogr2ogr`` into the same PostGIS.

Run: ``python -m benchmarks.bench_import`` (needs ``RIVERGIS_BENCH_POSTGIS_URL`` or
``RIVERGIS_TEST_POSTGIS_URL``). Options: ``--sizes 200000 10000``; ``--million``: 1 000 000
stretches instead, the province's stretches cut at their vertices and midpoints (whole rivers, written
once to ``benchmarks/data/province-2022-zones1000000/zones.gpkg``), to see whether memory grows
with the file; ``--dense-rivers``: the same zones on the same rivers drawn with a vertex every ~50 m, as
surveyed centerlines are (``ogr2ogr -segmentize``, written once to ``benchmarks/data/province-2022-dense-rivers``),
to see whether time and memory grow with the centerlines' detail.

Setup (not timed): a scratch PostGIS database with the schema, the province's 10 000 rivers and
their approved ranges (so the zones-within-range check really runs). Then, side by side in one
run, for the province zone set (200 000 stretches, EPSG:4490 GeoPackage from the generator) and
a 10 000-stretch subset:

- **ours**: ``run_import`` of the file as a new zone-set delivery per river, in one transaction:
  GDAL read, catalogue normalisation, every validation check (geometry validity, duplicates,
  river codes, bank sides, within-range, the shoreline ratio check with gaps and overlaps) and the
  bulk store (one ``COPY``), committed;
- **reference**: ``ogr2ogr -f PostgreSQL`` loading the same file into a table of the same database
  (GDAL's default PG COPY path, spatial index created), no checks at all.

Both are started by a small launcher process (``common.Launcher``), so that each peak memory is the
command's own peak RSS (a child forked from this process would count this one's memory at the fork);
ours is timed inside the child around the import (Python start-up and imports excluded, reported
separately). Targets (issue 16): ours / ogr2ogr ≤ 1.2 at 200 000 stretches, peak ≤ 350 MB and no
higher at 1 000 000.

The embedded default is measured the same way (``--backends spatialite``; both by default): ours into a
scratch SpatiaLite file holding the same rivers and ranges, against ``ogr2ogr -update -f SQLite`` loading
the file into a new table of that same SpatiaLite file (its spatial index created). No target in the
issue; the figures show how far the embedded default is from GDAL's pace.

An extra line measures the same import with the shoreline ratio check left out (in a second
scratch database set up the same way), to show how much of the gap the ratio check accounts for;
the real import always computes it. ``--floor`` adds two: every check against the rivers (bank sides,
within the ranges) left out as well, so what is left is reading the file, its per-feature checks and the
store into the live ``zones`` table (its keys, spatial index and trigger): the floor of the store's side,
whatever the checks cost; and a dry run (every check and the report, nothing stored): the floor of the
checks' side, whatever the store costs. ``--repeat N`` runs each PostGIS measure N times, each in a fresh
scratch database, and keeps the medians beside every run's figures: on the 2-core machine one run's ratio
moves by ±10% (ogr2ogr's own time alone by as much), more than most changes to the import.

On PostGIS each run also counts CPU seconds: the import's (every thread, from its start to its commit), ogr2ogr's,
and the local server's meanwhile (``common.server_cpu_seconds``). From them it prints the least time the import
could take on this machine's cores (its CPU and the server's over the cores, however well they overlap) as a
ratio to ogr2ogr's time: what a goal for the ratio can be held against. Each scratch database is analysed and
checkpointed after its set-up (``common.settled``), so that neither command pays for the set-up's load.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio
import shapely

from benchmarks.common import (
    Measure,
    measure_command,
    ogr_pg_dsn,
    province_data,
    report,
    scratch_postgis,
    settled,
)

PROVINCE_BBOX = "[104.0, 27.0, 111.0, 33.0]"  # wide enough for the synthetic province (Chongqing-sized)


def child_env(url: str) -> dict[str, str]:
    """Return the environment pointing the service at the scratch database and the province extent."""
    return {**os.environ, "RIVERGIS_DATABASE_URL": url, "RIVERGIS_DISTRICT_BBOX": PROVINCE_BBOX}


def setup(url: str, folder: Path) -> None:
    """Create the schema and load rivers and approved ranges through the import pipeline (untimed)."""
    os.environ.update(child_env(url))
    from gis_service.clock import BusinessClock
    from gis_service.db.backend import DatabaseWaits
    from gis_service.db.engine import make_engine, transaction
    from gis_service.db.schema import upgrade
    from gis_service.ingest.pipeline import ImportOptions
    from gis_service.ledger.intake import run_import
    from gis_service.settings import Settings

    engine = make_engine(url, DatabaseWaits.of(Settings()))
    upgrade(engine)
    for layer, approve in (("rivers", False), ("boundaries", True)):
        start = time.perf_counter()
        with transaction(engine) as session:
            run_import(
                session,
                folder / f"{layer}.gpkg",
                ImportOptions(layer=layer, approve=approve, actor="bench"),
                settings=Settings(),
                clock=BusinessClock(),
            )
        print(f"  setup: {layer} imported in {time.perf_counter() - start:.1f}s", flush=True)
    engine.dispose()


# What a measuring run leaves out of the import (never the real import): the ratio check, every check against the
# rivers (the ratio check, the bank sides, within the ranges), or the store (a dry run: every check, nothing kept).
SKIPS = ("ratios", "checks", "store")


def leave_out(skip: str | None) -> None:
    """Leave the ratio check (``ratios``), or it and each batch's checks against its rivers (``checks``), out of
    every import this process runs: for a measuring run only (a dry run leaves the store out by its option)."""
    from gis_service.ingest import pipeline

    if skip in ("ratios", "checks"):
        pipeline.ZoneRatios.add = lambda *_args, **_kwargs: None  # type: ignore[method-assign]
        pipeline.ZoneRatios.finish = lambda *_args, **_kwargs: (None, [])  # type: ignore[method-assign]
    if skip == "checks":
        pipeline.RiverBatches.run = lambda *_args, **_kwargs: []  # type: ignore[method-assign]


def child(url: str, path: Path, out: Path, *, skip: str | None = None) -> None:
    """Import ``path`` as zones (the measured work); write its seconds and what it stored as JSON to ``out``."""
    os.environ.update(child_env(url))
    from gis_service.clock import BusinessClock
    from gis_service.db.backend import DatabaseWaits
    from gis_service.db.engine import make_engine, transaction
    from gis_service.ingest.pipeline import ImportOptions
    from gis_service.ledger.intake import run_import
    from gis_service.runtime import return_freed_memory_promptly
    from gis_service.settings import Settings

    return_freed_memory_promptly()  # as ``rivergis import`` does
    leave_out(skip)

    engine = make_engine(url, DatabaseWaits.of(Settings()))
    start, cpu = time.perf_counter(), time.process_time()
    with transaction(engine) as session:
        result = run_import(
            session,
            path,
            ImportOptions(layer="zones", actor="bench", dry_run=skip == "store"),
            settings=Settings(),
            clock=BusinessClock(),
        )
    seconds = time.perf_counter() - start
    figures = {
        "seconds": seconds,
        "cpu_seconds": time.process_time() - cpu,  # every thread's, from the import's start to its commit
        "stored": result["stored"],
        "deliveries": len(result.get("deliveries", [])),  # none in a dry run
        "counts": result["counts"],
    }
    out.write_text(json.dumps(figures))


LEFT_OUT = {
    None: "",
    "ratios": " without the ratio check",
    "checks": " without any check against the rivers",
    "store": " as a dry run (every check, nothing stored)",
}


def run_ours(url: str, path: Path, *, skip: str | None = None, label: str | None = None) -> tuple[Measure, dict]:
    """Run the child import (leaving out what ``skip`` names, for a measuring run); return its measure (in-child
    time, the child's own peak RSS) and its output.

    Started by :func:`~benchmarks.common.measure_command`'s launcher, as the reference is: a child forked
    from this process would count this process's memory at the fork in its peak.
    """
    label = label or "rivergis import zones (read+validate+COPY)" + LEFT_OUT[skip]
    with tempfile.TemporaryDirectory(prefix="rg-bench-") as tmp:
        figures = Path(tmp) / "figures.json"
        argv = [sys.executable, "-m", "benchmarks.bench_import", "--child", url, str(path), "--out", str(figures)]
        process = measure_command(label, [*argv, *(["--skip", skip] if skip else [])], env=child_env(url))
        out = json.loads(figures.read_text())
    out["peak_mb"] = process.peak_mb
    out["process_wall_seconds"] = round(process.seconds, 2)
    # The import's own CPU (the child's start-up and module imports left out, as from its time); the server's
    # over the whole child (it does nothing else with the server).
    cpu = {"cpu_seconds": out["cpu_seconds"], "server_cpu_seconds": process.server_cpu_seconds}
    return Measure(label, out["seconds"], out["peak_mb"], **cpu), out


def prepare_database(url: str, folder: Path) -> None:
    """Load the schema, rivers and ranges into ``url`` in a child (a forked child's peak RSS starts from ours), then
    let the server settle (:func:`~benchmarks.common.settled`) before anything is measured in it."""
    subprocess.run([sys.executable, "-m", "benchmarks.bench_import", "--setup", url, str(folder)], check=True)
    settled(url)


def run_ogr2ogr(url: str, path: Path, table: str) -> Measure:
    """Load ``path`` with ogr2ogr into ``table``; return wall time and its own peak RSS.

    Started by a small launcher (:func:`~benchmarks.common.measure_command`): a child forked from this
    process counted this process's memory at the fork in its peak (255 MB reported, 54 MB its own).
    """
    argv = [
        "ogr2ogr",
        "-f",
        "PostgreSQL",
        ogr_pg_dsn(url),
        str(path),
        "-nln",
        table,
        "-lco",
        "GEOMETRY_NAME=geom",
        "-overwrite",
    ]
    return measure_command("ogr2ogr -f PostgreSQL", argv)


def run_ogr2ogr_spatialite(database: Path, path: Path, table: str) -> Measure:
    """Load ``path`` with ogr2ogr into a new ``table`` of the SpatiaLite file ``database``; wall time and peak RSS."""
    argv = ["ogr2ogr", "-update", "-f", "SQLite", str(database), str(path), "-nln", table, "-lco", "GEOMETRY_NAME=geom"]
    return measure_command("ogr2ogr -f SQLite (SpatiaLite)", argv)


def median_measure(runs: list[Measure]) -> Measure:
    """Return the runs' median time (a run's own: the lower middle of an even count) and their highest peak."""
    return Measure(runs[0].label, statistics.median_low(m.seconds for m in runs), max(m.peak_mb for m in runs))


def spread(ratios: list[float]) -> str:
    """Return the runs' ratios as printed: one, or their range and median (the lower middle of an even count)."""
    if len(ratios) == 1:
        return f"{ratios[0]:.2f}x"
    return f"{min(ratios):.2f}–{max(ratios):.2f}x over {len(ratios)} runs (median {statistics.median_low(ratios):.2f}x)"


def bench_postgis(folder: Path, path: Path, n: int, *, floor: bool = False, repeat: int = 1, suffix: str = "") -> None:
    """Import ``path`` into a scratch PostGIS database beside ogr2ogr into the same one; then, each in a scratch
    database of its own, without the ratio check and (``floor``) without any check against the rivers.

    ``repeat``: each measure that many times, each in a fresh scratch database, ours and the reference in
    turn; the medians are kept, with every run's figures (a 2-core machine's runs vary by ±10%). ``suffix``: after
    the figures' name (``import_zones_N``), for a set other than the province's as generated.
    """
    name = f"import_zones_{n}{suffix}"
    pairs = []
    for _ in range(repeat):
        with scratch_postgis() as url:
            prepare_database(url, folder)
            reference = run_ogr2ogr(url, path, f"ogr_zones_{n}")
            ours, out = run_ours(url, path)
        assert out["stored"] == n, out
        pairs.append((ours, reference))
        if repeat > 1:
            print(
                f"  run: ours {ours.seconds:.2f}s, ogr2ogr {reference.seconds:.2f}s "
                f"({ours.seconds / reference.seconds:.2f}x); CPU {cpu_text(ours)} against {cpu_text(reference)}"
            )
    cpu = cpu_floor(name, pairs)
    ours, reference = median_measure([p[0] for p in pairs]), median_measure([p[1] for p in pairs])
    ratios = [o.seconds / r.seconds for o, r in pairs]
    lesser: dict[str, Any] = {}
    for skip in SKIPS if floor else ("ratios",):
        bare_runs = []
        for _ in range(repeat):
            with scratch_postgis() as url:
                prepare_database(url, folder)
                bare, bare_out = run_ours(url, path, skip=skip)
            assert bare_out["stored"] == (0 if skip == "store" else n), bare_out
            bare_runs.append(bare)
        bare = median_measure(bare_runs)
        lesser[f"without_{skip}"] = {
            "seconds": round(bare.seconds, 3),
            "peak_mb": round(bare.peak_mb, 1),
            "ratio": round(bare.seconds / reference.seconds, 3),
            "runs": [round(m.seconds, 3) for m in bare_runs],
        }
        share = 1 - bare.seconds / ours.seconds if ours.seconds else 0.0
        print(
            f"{name}: {bare.label} {bare.seconds:.2f}s (peak {bare.peak_mb:.0f} MB) | "
            f"ratio {bare.seconds / reference.seconds:.2f}x: what is left out takes "
            f"{ours.seconds - bare.seconds:.2f}s ({share:.0%} of the import)"
        )
    report_import(
        name,
        ours,
        reference,
        out,
        without_ratio_check=lesser["without_ratios"],
        **({"without_river_checks": lesser["without_checks"], "dry_run": lesser["without_store"]} if floor else {}),
        **(
            {"runs": [{"ours": round(o.seconds, 3), "reference": round(r.seconds, 3)} for o, r in pairs]}
            if repeat > 1
            else {}
        ),
        **({"cpu": cpu} if cpu else {}),
    )
    if repeat > 1:
        print(f"{name}: ratio of each run {spread(ratios)}")


def cpu_text(m: Measure) -> str:
    """Return a measure's CPU seconds as printed: its own, plus the server's where counted."""
    own = f"{m.cpu_seconds:.2f}s" if m.cpu_seconds is not None else "?"
    return own + (f" + server {m.server_cpu_seconds:.2f}s" if m.server_cpu_seconds is not None else "")


def cpu_floor(name: str, pairs: list[tuple[Measure, Measure]]) -> dict[str, Any] | None:
    """Print and return what the runs' CPU seconds allow on this machine's cores: the least time our import could
    take (its CPU and the server's over the cores, however well they overlap), as a ratio to ogr2ogr's measured
    time. None when the server's CPU was not counted (a server on another machine).

    The time row's goal (≤ 1.2x) is out of reach while this least ratio is near or above it: the overlap is never
    perfect (the first batch is read before the server has rows, the report is written after the last).
    """
    counted = [
        (o, r)
        for o, r in pairs
        if None not in (o.cpu_seconds, o.server_cpu_seconds, r.cpu_seconds, r.server_cpu_seconds)
    ]
    if not counted:
        return None
    cores = os.cpu_count() or 1
    runs = [
        {
            "ours_cpu": round(float(o.cpu_seconds or 0), 3),
            "ours_server_cpu": round(float(o.server_cpu_seconds or 0), 3),
            "reference_cpu": round(float(r.cpu_seconds or 0), 3),
            "reference_server_cpu": round(float(r.server_cpu_seconds or 0), 3),
            "least_ratio": round((float(o.cpu_seconds or 0) + float(o.server_cpu_seconds or 0)) / cores / r.seconds, 3),
        }
        for o, r in counted
    ]

    def span(key: str) -> str:
        values = [run[key] for run in runs]
        return f"{min(values):.2f}" if len(values) == 1 else f"{min(values):.2f}–{max(values):.2f}"

    ours_total = [run["ours_cpu"] + run["ours_server_cpu"] for run in runs]
    reference_total = [run["reference_cpu"] + run["reference_server_cpu"] for run in runs]
    print(
        f"{name}: CPU of the import {min(ours_total):.2f}–{max(ours_total):.2f}s ({span('ours_cpu')}s its own, "
        f"{span('ours_server_cpu')}s the server's), of ogr2ogr {min(reference_total):.2f}–{max(reference_total):.2f}s "
        f"({span('reference_cpu')}s + {span('reference_server_cpu')}s); on {cores} cores the import takes at "
        f"least its CPU over the cores: {span('least_ratio')}x ogr2ogr's time"
    )
    return {"cores": cores, "runs": runs}


def bench_spatialite(folder: Path, path: Path, n: int, suffix: str = "") -> None:
    """Import ``path`` into a scratch SpatiaLite file set up as the PostGIS one, beside ogr2ogr into the same file
    (``suffix`` as :func:`bench_postgis`'s)."""
    with tempfile.TemporaryDirectory(prefix="rg-bench-sqlite-") as tmp:
        database = Path(tmp) / "bench.sqlite"
        url = f"sqlite:///{database}"
        prepare_database(url, folder)
        reference = run_ogr2ogr_spatialite(database, path, f"ogr_zones_{n}")
        ours, out = run_ours(url, path, label="rivergis import zones on SpatiaLite (read+validate+insert)")
    assert out["stored"] == n, out
    report_import(f"import_zones_{n}_spatialite{suffix}", ours, reference, out)


def report_import(name: str, ours: Measure, reference: Measure, out: dict, **extra: Any) -> None:
    """Keep an import's figures beside the reference's, with what it stored and found."""
    report(
        name,
        ours,
        reference,
        features=out["stored"],
        deliveries=out["deliveries"],
        findings=out["counts"],
        process_wall_seconds=out["process_wall_seconds"],
        **extra,
    )


def subset(source: Path, n: int, folder: Path) -> Path:
    """Write the first ``n`` zone stretches of ``source`` to a GeoPackage with ogr2ogr (whole rivers, as generated)."""
    if n >= pyogrio.read_info(source)["features"]:
        return source
    target = folder / f"zones_{n}.gpkg"
    subprocess.run(
        ["ogr2ogr", "-f", "GPKG", "-limit", str(n), "-nln", "zones", str(target), str(source)],
        check=True,
        capture_output=True,
    )
    return target


def split_zones(source: Path, target: Path, limit: int) -> Path:
    """Write the stretches of ``source`` cut in pieces (at each vertex and each segment's midpoint), whole rivers
    up to ``limit`` pieces: a larger zone set on the same rivers and ranges, with the same gaps and overlaps."""
    if target.exists():
        return target
    zones = pyogrio.read_dataframe(source, use_arrow=True)
    coords, owner = shapely.get_coordinates(zones.geometry.values, return_index=True)
    segment = (owner[1:] == owner[:-1]) & (coords[1:] != coords[:-1]).any(axis=1)
    a, b, owner = coords[:-1][segment], coords[1:][segment], owner[:-1][segment]
    middle = (a + b) / 2
    ends = np.stack([a, middle, middle, b], axis=1).reshape(-1, 2)  # two pieces a segment, two points a piece
    lines = shapely.linestrings(ends, indices=np.repeat(np.arange(2 * len(a)), 2))
    piece_of = np.repeat(owner, 2)
    number = np.arange(len(piece_of)) - np.searchsorted(piece_of, piece_of)  # 0, 1, ... within its stretch
    pieces = zones.iloc[piece_of].reset_index(drop=True).set_geometry(lines, crs=zones.crs)
    code = zones.columns[0]  # 功能区编号: made unique per piece
    pieces[code] = pieces[code].astype(str) + "-" + (number + 1).astype(str)
    river = pieces[zones.columns[1]].to_numpy()
    ends_at = np.flatnonzero(np.append(river[1:] != river[:-1], True)) + 1  # rivers are contiguous in the set
    keep = int(ends_at[ends_at <= limit].max())
    target.parent.mkdir(parents=True, exist_ok=True)
    pyogrio.write_dataframe(pieces.iloc[:keep], target, layer="zones", driver="GPKG")
    return target


# The rivers' vertices a surveyed centerline has (one every ~50 m), against the generator's ~4 km: ``--dense-rivers``.
DENSE_STEP_DEGREES = 0.0005


def dense_rivers(folder: Path, target: Path) -> Path:
    """Return a copy of the province set in ``target`` whose rivers have a vertex every ~50 m (``ogr2ogr
    -segmentize``; 263 a river, 2.6 million in all, where the generator draws 31): the zones, ranges and
    towns are the same files. The checks against the rivers and the ratio check measure on the centerlines."""
    rivers = target / "rivers.gpkg"
    if not rivers.exists():
        target.mkdir(parents=True, exist_ok=True)
        for other in folder.glob("*.gpkg"):
            if other.name != rivers.name and not (target / other.name).exists():
                (target / other.name).symlink_to(other.resolve())
        argv = ["ogr2ogr", "-f", "GPKG", "-segmentize", str(DENSE_STEP_DEGREES), str(rivers), str(folder / rivers.name)]
        subprocess.run(argv, check=True, capture_output=True)
    return target


def main() -> None:
    """Run the side-by-side import benchmark at each size."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[200_000, 10_000])
    parser.add_argument("--million", action="store_true", help="1 000 000 stretches (pieces of the province's)")
    parser.add_argument("--backends", nargs="+", choices=["postgis", "spatialite"], default=["postgis", "spatialite"])
    parser.add_argument("--child", nargs=2, metavar=("URL", "PATH"))
    parser.add_argument("--setup", nargs=2, metavar=("URL", "FOLDER"))
    parser.add_argument("--dense-rivers", action="store_true", help="the rivers with a vertex every ~50 m, as surveyed")
    parser.add_argument("--floor", action="store_true", help="PostGIS: also without any check against the rivers")
    parser.add_argument("--repeat", type=int, default=1, help="PostGIS: each measure N times (medians kept)")
    parser.add_argument("--skip", choices=SKIPS, help=argparse.SUPPRESS)  # what the child leaves out
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)  # where the child writes its figures
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]), args.out, skip=args.skip)
        return
    if args.setup:
        setup(args.setup[0], Path(args.setup[1]))
        return
    folder = province_data()
    zones = folder / "zones.gpkg"
    sizes = args.sizes
    if args.million:
        zones = split_zones(zones, folder.parent / f"{folder.name}-zones1000000" / "zones.gpkg", 1_000_000)
        sizes = [pyogrio.read_info(zones)["features"]]
    suffix = "_dense_rivers" if args.dense_rivers else ""
    if args.dense_rivers:
        folder = dense_rivers(folder, folder.parent / f"{folder.name}-dense-rivers")
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            path = subset(zones, n, Path(tmp))
            if "postgis" in args.backends:
                bench_postgis(folder, path, n, floor=args.floor, repeat=args.repeat, suffix=suffix)
            if "spatialite" in args.backends:
                bench_spatialite(folder, path, n, suffix)


if __name__ == "__main__":
    main()
