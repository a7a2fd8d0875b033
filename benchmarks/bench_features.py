"""Benchmark: OGC API - Features item queries, ours against tipg serving the same PostGIS tables.

Run: ``python -m benchmarks.bench_features`` (needs ``RIVERGIS_BENCH_POSTGIS_URL`` or
``RIVERGIS_TEST_POSTGIS_URL``; ``scripts/bench.sh`` sets it). Options:

- ``--repeat N``: rounds a query at least (default 15); cheap queries get up to 20x more
  within 2 s, their medians being the noisiest;
- ``--url URL``: an existing database to load once and reuse, instead of a scratch one;
- ``--tipg-python PATH``: the Python of a venv holding tipg (default: ``/tmp/tipgvenv`` when
  present, else a venv made once under ``benchmarks/data/tipg-venv`` with ``pip install tipg
  uvicorn``, so that tipg's pins never touch ours);
- ``--accept-encoding``: what the client accepts (default ``gzip``; ``identity`` for none);
- ``--only REGEX``: only the queries whose label matches (e.g. ``item|tile``);
- ``--same-server``: both on uvicorn's pure-Python server (``--http h11 --loop asyncio``, what tipg's
  own image runs), so that the ratio is the applications' alone; by default each runs as installed
  (ours with httptools and uvloop, its dependencies; tipg as its Dockerfile installs it).

The province set's 100 000 problem sites and 200 000 zone stretches (one approved zone set) are
stored through our store in one transaction. Then tipg (``uvicorn tipg.main:app``) and our service
(``uvicorn gis_service.api.app:create_app``) run side by side on loopback, one worker each, access
logs off, against the same database; a local httpx client sends the same OGC API - Features
requests to both, alternating, after a warm-up: item pages of 100, 1 000 and 10 000, bbox
queries of a few sizes, deep offsets, single items, CQL2 filters, a queryable as a parameter,
sorting, and vector tiles (MVT) at a few zooms. Bodies are read raw (still compressed) so
that the time is the server's. Printed: per-query medians, both sides' feature counts (bbox: both
intersect geometries exactly; tiles: the features a tile stands for, a merged low-zoom point
counting its ``count``) and the ratio;
overall (``report()``): the sum of the medians, peak memory being each server's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import mapbox_vector_tile
import morecantile
from sqlalchemy import Engine, func, select
from sqlalchemy.engine import make_url

from benchmarks.common import DATA, Measure, province_data, report, scratch_postgis, store_layers
from gis_service.db.backend import DatabaseWaits
from gis_service.db.engine import make_engine
from gis_service.db.models import Problem
from gis_service.db.schema import upgrade
from gis_service.settings import Settings

# A tile: WebMercatorQuad zoom, column, row (both servers get the same tile, each in its own URL form).
Tile = tuple[int, int, int]


def tile_at(lon: float, lat: float, zoom: int) -> Tile:
    """Return the WebMercatorQuad tile holding (lon, lat) at ``zoom``."""
    tile = morecantile.tms.get("WebMercatorQuad").tile(lon, lat, zoom)
    return (tile.z, tile.x, tile.y)


# (label, collection, query parameters, a feature id or a tile)
QUERIES: list[tuple[str, str, dict[str, str] | int | Tile]] = [
    ("problems limit=100", "problems", {"limit": "100"}),
    ("problems limit=1000", "problems", {"limit": "1000"}),
    ("problems limit=10000", "problems", {"limit": "10000"}),
    ("problems bbox 0.05° limit=1000", "problems", {"bbox": "106.50,29.50,106.55,29.55", "limit": "1000"}),
    ("problems bbox 0.5° limit=1000", "problems", {"bbox": "106.3,29.3,106.8,29.8", "limit": "1000"}),
    ("problems bbox 2° limit=1000", "problems", {"bbox": "106,29,108,31", "limit": "1000"}),
    ("problems offset=50000 limit=100", "problems", {"offset": "50000", "limit": "100"}),
    ("problems offset=99000 limit=1000", "problems", {"offset": "99000", "limit": "1000"}),
    ("problems item", "problems", 54321),
    ("zones limit=100", "zones", {"limit": "100"}),
    ("zones limit=1000", "zones", {"limit": "1000"}),
    ("zones limit=10000", "zones", {"limit": "10000"}),
    ("zones bbox 0.05° limit=1000", "zones", {"bbox": "106.50,29.50,106.55,29.55", "limit": "1000"}),
    ("zones bbox 0.5° limit=1000", "zones", {"bbox": "106.3,29.3,106.8,29.8", "limit": "1000"}),
    ("zones offset=150000 limit=100", "zones", {"offset": "150000", "limit": "100"}),
    ("zones offset=199000 limit=1000", "zones", {"offset": "199000", "limit": "1000"}),
    ("zones item", "zones", 123456),
    ("problems filter category limit=1000", "problems", {"filter": "category = 'dumping'", "limit": "1000"}),
    (
        "problems filter and+date limit=1000",
        "problems",
        {"filter": "category = 'dumping' AND found_date >= DATE('2022-06-01')", "limit": "1000"},
    ),
    ("problems category=dumping limit=1000", "problems", {"category": "dumping", "limit": "1000"}),
    ("problems sortby=-found_date limit=100", "problems", {"sortby": "-found_date", "limit": "100"}),
    ("zones filter zone_type limit=1000", "zones", {"filter": "zone_type = 'protected'", "limit": "1000"}),
    ("problems tile z6", "problems", tile_at(106.52, 29.52, 6)),
    ("problems tile z10", "problems", tile_at(106.52, 29.52, 10)),
    ("problems tile z14", "problems", tile_at(106.52, 29.52, 14)),
    ("zones tile z8", "zones", tile_at(106.52, 29.52, 8)),
    ("zones tile z12", "zones", tile_at(106.52, 29.52, 12)),
]


def load(engine: Engine, folder: Path) -> None:
    """Store problems and zones (one approved zone set) in one transaction, unless already there."""
    upgrade(engine)
    with engine.connect() as conn:
        if conn.execute(select(func.count()).select_from(Problem)).scalar():
            return
    start = time.perf_counter()
    store_layers(engine, folder, ("problems", "zones"))
    print(f"loaded problems and zones into PostGIS in {time.perf_counter() - start:.1f}s")


def tipg_python(given: str | None) -> Path:
    """Return the Python of a venv with tipg, making one under benchmarks/data/ when there is none."""
    for candidate in (given, os.environ.get("RIVERGIS_BENCH_TIPG_PYTHON"), "/tmp/tipgvenv/bin/python"):
        if candidate and Path(candidate).exists():
            return Path(candidate)
    venv = DATA / "tipg-venv"
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"installing tipg into its own venv {venv} ...")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "tipg", "uvicorn"], check=True)
    return python


def _free_port() -> int:
    """Return a free loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(argv: list[str], env: dict[str, str], probe: str) -> Iterator[tuple[str, int]]:
    """Start a uvicorn server on a free loopback port; yield its base URL and pid; stop it afterwards."""
    port = _free_port()
    argv = [*argv, "--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level", "warning"]
    proc = subprocess.Popen(argv, env={**os.environ, **env}, cwd=DATA)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):  # at most a minute: tipg reads the catalogue at start-up
            if proc.poll() is not None:
                raise RuntimeError(f"{argv[0]} {' '.join(argv[1:4])} exited with {proc.returncode}")
            try:
                if httpx.get(base + probe, timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        else:
            raise RuntimeError(f"server {argv} did not start")
        yield base, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def peak_rss_mb(pid: int) -> float:
    """Return a process's peak resident memory (VmHWM) in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def url_of(
    base: str, prefix: str, collection: str, query: dict[str, str] | int | Tile, tile_path: str
) -> tuple[str, dict[str, str]]:
    """Return the URL and parameters of one query against one server (``tile_path``: its z/x/y order)."""
    if isinstance(query, tuple):
        z, x, y = query
        return f"{base}{prefix}/collections/{collection}/tiles/WebMercatorQuad/" + tile_path.format(z=z, x=x, y=y), {}
    items = f"{base}{prefix}/collections/{collection}/items"
    if isinstance(query, int):
        return f"{items}/{query}", {}
    return items, query


def fetch(client: httpx.Client, url: str, params: dict[str, str]) -> tuple[float, bytes]:
    """GET ``url``; return the seconds until the whole (still compressed) body is in, and the body."""
    start = time.perf_counter()
    with client.stream("GET", url, params=params) as response:
        body = b"".join(response.iter_raw())
        seconds = time.perf_counter() - start
        response.raise_for_status()
        decoded = httpx.Response(200, headers=response.headers, content=body).read()
    return seconds, decoded


def returned(body: bytes, is_tile: bool) -> int:
    """Return how many features a response holds (1 for a single feature; a tile's in all its layers).

    A low-zoom tile's merged point stands for ``count`` features (``gis_service/ogc/overview.py``).
    """
    if is_tile:
        layers = mapbox_vector_tile.decode(body).values() if body else []
        return sum(int(f["properties"].get("count", 1)) for layer in layers for f in layer["features"])
    doc = json.loads(body)
    return len(doc["features"]) if "features" in doc else 1


@contextmanager
def _given(url: str) -> Iterator[str]:
    """Yield a database URL given on the command line."""
    yield url


def run(url: str, tipg: Path, repeat: int, accept_encoding: str, only: str | None = None, same: bool = False) -> None:
    """Start both servers on ``url`` and compare them query by query (``only``: labels matching it)."""
    libpq = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    tipg_env = {
        "DATABASE_URL": libpq,
        "TIPG_DB_TABLES": '["public.problems","public.zones"]',
        "TIPG_MAX_FEATURES_PER_QUERY": "10000",
        "TIPG_DEBUG": "false",
    }
    ours_env = {
        "RIVERGIS_DATABASE_URL": url,
        "RIVERGIS_PUBLIC_READ": "true",
        "RIVERGIS_DATA_DIR": str(DATA / "bench-features-service"),
    }
    pure = ["--http", "h11", "--loop", "asyncio"] if same else []
    ours_argv = [sys.executable, "-m", "uvicorn", "--factory", "gis_service.api.app:create_app", *pure]
    tipg_argv = [str(tipg), "-m", "uvicorn", "tipg.main:app", *pure]
    headers = {"Accept-Encoding": accept_encoding}
    with (
        server(ours_argv, ours_env, "/healthz") as (ours_base, ours_pid),
        server(tipg_argv, tipg_env, "/collections") as (tipg_base, tipg_pid),
        httpx.Client(headers=headers, timeout=120) as client,
    ):
        ours_total = tipg_total = 0.0
        rows = []
        print(f"{'query':34} {'ours ms':>9} {'tipg ms':>9} {'ratio':>6} {'n ours':>7} {'n tipg':>7} {'rounds':>6}")
        for label, collection, query in QUERIES:
            if only and not re.search(only, label):
                continue
            # OGC API - Tiles' path is {tileMatrix}/{tileRow}/{tileCol}; tipg's is z/x/y.
            ours_url = url_of(ours_base, "/ogc", collection, query, "{z}/{y}/{x}")
            tipg_url = url_of(tipg_base, "", f"public.{collection}", query, "{z}/{x}/{y}")
            is_tile = isinstance(query, tuple)
            n_ours = returned(fetch(client, *ours_url)[1], is_tile)  # warm-up, and the counts to compare
            n_tipg = returned(fetch(client, *tipg_url)[1], is_tile)
            ours_times: list[float] = []
            tipg_times: list[float] = []
            # Cheap queries get more rounds (up to 20x) within a 2 s budget: their medians are the noisiest.
            budget = time.perf_counter() + 2.0
            while len(ours_times) < repeat or (time.perf_counter() < budget and len(ours_times) < 20 * repeat):
                ours_times.append(fetch(client, *ours_url)[0])
                tipg_times.append(fetch(client, *tipg_url)[0])
            mine, theirs = statistics.median(ours_times), statistics.median(tipg_times)
            ours_total += mine
            tipg_total += theirs
            rows.append(
                {
                    "query": label,
                    "ours_ms": round(mine * 1000, 2),
                    "tipg_ms": round(theirs * 1000, 2),
                    "ratio": round(mine / theirs, 3),
                    "features_ours": n_ours,
                    "features_tipg": n_tipg,
                    "rounds": len(ours_times),
                }
            )
            print(
                f"{label:34} {mine * 1000:9.1f} {theirs * 1000:9.1f} {mine / theirs:6.2f} {n_ours:7} {n_tipg:7}"
                f" {len(ours_times):6}"
            )
        ours = Measure("rivergis /ogc (sum of medians)", ours_total, peak_rss_mb(ours_pid))
        ref = Measure("tipg (sum of medians)", tipg_total, peak_rss_mb(tipg_pid))
        worst = max(rows, key=lambda r: r["ratio"])
        geo_mean = statistics.geometric_mean(r["ratio"] for r in rows)
        print(f"per-query ratio: geometric mean {geo_mean:.2f}, worst {worst['ratio']:.2f} ({worst['query']})")
        report(
            "features_vs_tipg" + ("_same_server" if same else ""),
            ours,
            ref,
            min_repeat=repeat,
            accept_encoding=accept_encoding,
            server="both h11/asyncio" if same else "ours httptools/uvloop, tipg h11/asyncio",
            geometric_mean_ratio=round(geo_mean, 3),
            queries=rows,
        )


def main() -> None:
    """Load, start both servers, time the queries side by side, print and save the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--url", help="existing PostGIS database to load once and reuse")
    parser.add_argument("--tipg-python")
    parser.add_argument("--accept-encoding", default="gzip")
    parser.add_argument("--only", help="regular expression: only the queries whose label matches")
    parser.add_argument("--same-server", action="store_true", help="both servers on uvicorn's h11 and asyncio")
    args, _ = parser.parse_known_args()
    tipg = tipg_python(args.tipg_python)
    with scratch_postgis() if not args.url else _given(args.url) as url:
        engine = make_engine(url, DatabaseWaits.of(Settings()))
        load(engine, province_data())
        engine.dispose()
        run(url, tipg, args.repeat, args.accept_encoding, args.only, args.same_server)


if __name__ == "__main__":
    main()
