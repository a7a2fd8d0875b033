"""Benchmark: the shoreline ratio check at province scale against a hand-written PostGIS query.

Run: ``python -m benchmarks.bench_ratios`` (needs ``RIVERGIS_BENCH_POSTGIS_URL`` or
``RIVERGIS_TEST_POSTGIS_URL``; ``scripts/bench.sh`` sets it). Options: ``--no-spatialite`` skips
the SpatiaLite figure; ``--repeat N`` (default 3) times each side N times.

The province-scale set (10 000 rivers, 200 000 zone stretches) is loaded into a scratch PostGIS
database as approved zone sets. Then, side by side in one run:

- **ours**: the whole ``rivergis ratios --format json`` path: one query a layer fetching WKB,
  the vectorised engine (shapely 2, vectorised geodesic, numpy grouping: lengths per bank and
  type, unions, chainage, gaps, overlaps, towns) and the JSON;
- **reference**: a hand-written PostGIS query computing the same per-river, per-bank, per-type
  lengths (``ST_Union`` per bank, per type and of protected+reserved, ``ST_Length`` on geography),
  with no chainage, gaps or towns at all.

Both sides run once to warm up, then take turns ``--repeat`` times; each side's best time counts
(the machine's noise only ever adds time). The ratio is ours / reference (target ≤ 1.0), timed
without tracing; peak memory is then the Python-side peak (tracemalloc) of one more, traced run
of each side; PostGIS's own memory is on the server. The same check on a SpatiaLite copy of the
data is reported too.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Engine, text

from benchmarks.common import Measure, measure, province_data, report, scratch_postgis, store_layers
from gis_service.analysis.shoreline.ratios import RatioRules
from gis_service.catalogue import bundled_catalogue
from gis_service.db.backend import DatabaseWaits
from gis_service.db.engine import make_engine
from gis_service.settings import Settings
from gis_service.store.ratios import current_report

REFERENCE_SQL = """
WITH cur AS (
    SELECT z.river_code, z.bank, z.zone_type, z.geom
    FROM zones z JOIN deliveries d ON d.id = z.delivery_id
    WHERE d.status = 'approved'
), per_type AS (
    SELECT river_code, bank, zone_type, ST_Length(ST_Union(geom)::geography) AS type_m
    FROM cur GROUP BY river_code, bank, zone_type
), per_bank AS (
    SELECT river_code, bank,
           ST_Length(ST_Union(geom)::geography) AS bank_m,
           COALESCE(ST_Length(ST_Union(geom) FILTER (WHERE zone_type IN ('protected', 'reserved'))::geography), 0)
               AS pr_m
    FROM cur GROUP BY river_code, bank
)
SELECT b.river_code, b.bank, b.bank_m, b.pr_m, t.zone_type, t.type_m
FROM per_bank b JOIN per_type t USING (river_code, bank)
ORDER BY b.river_code, b.bank, t.zone_type
"""


def load(engine: Engine, folder: Path) -> dict[str, float]:
    """Load towns, rivers and zones (one approved delivery) into ``engine``; return seconds a layer."""
    return store_layers(engine, folder, ("towns", "rivers", "zones"))


def ours(engine: Engine) -> dict:
    """The whole ``rivergis ratios --format json`` computation."""
    with engine.connect() as conn:
        return current_report(conn, bundled_catalogue(), RatioRules()).to_json()


def reference(engine: Engine) -> pd.DataFrame:
    """The hand-written PostGIS query."""
    with engine.connect() as conn:
        return pd.DataFrame(conn.execute(text(REFERENCE_SQL)).fetchall())


def agreement(body: dict, ref: pd.DataFrame) -> float:
    """Return the largest relative difference of bank lengths between ours and the SQL."""
    ours_m = {(r["code"], bank): b["length_m"] for r in body["rivers"] for bank, b in r["banks"].items()}
    banks = ref.drop_duplicates(["river_code", "bank"])
    worst = 0.0
    for row in banks.itertuples(index=False):
        mine = ours_m.get((row.river_code, row.bank), 0.0)
        worst = max(worst, abs(mine - row.bank_m) / max(row.bank_m, 1e-9))
    return worst


def timed(label: str, fn: Callable[[], Any], seconds: list[float]) -> Measure:
    """Return ``fn``'s best time of ``seconds`` (untraced: tracemalloc slows Python allocations) and its traced peak."""
    traced = measure(label, fn)
    return Measure(label, min(seconds), traced.peak_mb, traced.result)


def side_by_side(sides: dict[str, Callable[[], Any]], repeat: int) -> dict[str, list[float]]:
    """Warm each side up, then run them in turn ``repeat`` times; return each side's wall times."""
    for fn in sides.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(repeat):
        for name, fn in sides.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def main() -> None:
    """Load, measure side by side, print and save the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-spatialite", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    folder = province_data()
    with scratch_postgis() as url:
        engine = make_engine(url, DatabaseWaits.of(Settings()))
        loaded = load(engine, folder)
        print(f"loaded into PostGIS: {', '.join(f'{k} {v:.1f}s' for k, v in loaded.items())}")
        times = side_by_side({"ours": lambda: ours(engine), "reference": lambda: reference(engine)}, args.repeat)
        mine = timed("rivergis ratios (WKB + vectorised engine)", lambda: ours(engine), times["ours"])
        ref = timed("PostGIS SQL (ST_Union + ST_Length geography)", lambda: reference(engine), times["reference"])
        print("runs: " + "; ".join(f"{k} {', '.join(f'{t:.2f}' for t in v)}s" for k, v in times.items()))
        worst = agreement(mine.result, ref.result)
        print(f"bank lengths agree with PostGIS to {worst:.2e} (relative, worst bank)")
        extra: dict[str, Any] = {
            "rivers": len(mine.result["rivers"]),
            "max_relative_difference": worst,
            "runs": {k: [round(t, 3) for t in v] for k, v in times.items()},
        }
        if not args.no_spatialite:
            with tempfile.TemporaryDirectory(prefix="rg-bench-") as tmp:
                lite = make_engine(f"sqlite:///{tmp}/bench.sqlite", DatabaseWaits.of(Settings()))
                load(lite, folder)
                light_times = side_by_side({"spatialite": lambda: ours(lite)}, args.repeat)["spatialite"]
                light = timed("rivergis ratios on SpatiaLite", lambda: ours(lite), light_times)
                print(f"SpatiaLite: {light.seconds:.2f}s (peak {light.peak_mb:.0f} MB)")
                extra["spatialite"] = {"seconds": round(light.seconds, 3), "peak_mb": round(light.peak_mb, 1)}
                lite.dispose()
        report("ratios_province", mine, ref, **extra)
        engine.dispose()


if __name__ == "__main__":
    main()
