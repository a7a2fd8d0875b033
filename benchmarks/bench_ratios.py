"""Benchmark: the shoreline ratio check at province scale against a hand-written PostGIS query.

Run: ``python -m benchmarks.bench_ratios`` (needs ``RIVERGIS_BENCH_POSTGIS_URL`` or
``RIVERGIS_TEST_POSTGIS_URL``; ``scripts/bench.sh`` sets it). Options: ``--no-spatialite`` skips
the SpatiaLite figure.

The province-scale set (10 000 rivers, 200 000 zone stretches) is loaded into a scratch PostGIS
database as approved zone sets. Then, side by side in one run:

- **ours**: the whole ``rivergis ratios --format json`` path: one query a layer fetching WKB,
  the vectorised engine (shapely 2, vectorised geodesic, numpy grouping: lengths per bank and
  type, unions, chainage, gaps, overlaps, towns) and the JSON;
- **reference**: a hand-written PostGIS query computing the same per-river, per-bank, per-type
  lengths (``ST_Union`` per bank, per type and of protected+reserved, ``ST_Length`` on geography),
  with no chainage, gaps or towns at all.

The ratio is ours / reference (target ≤ 1.0), timed without tracing; peak memory is then the
Python-side peak (tracemalloc) of a second, traced run of each side; PostGIS's own memory is on
the server. The same check on a SpatiaLite copy of the data is reported too.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pyogrio
from sqlalchemy import Engine, text

from benchmarks.common import Measure, measure, province_data, report, scratch_postgis
from gis_service.catalogue import get_catalogue
from gis_service.db.engine import make_engine, transaction
from gis_service.db.models import Delivery
from gis_service.db.schema import upgrade
from gis_service.ingest.normalise import normalise
from gis_service.store.features import insert_features
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
    catalogue = get_catalogue()
    upgrade(engine)
    times = {}
    with transaction(engine) as session:
        for layer in ("towns", "rivers", "zones"):
            start = time.perf_counter()
            frame = normalise(catalogue[layer], pyogrio.read_dataframe(folder / f"{layer}.gpkg")).frame
            extra = None
            if layer == "zones":
                delivery = Delivery(river_code="*", layer="zones", version=1, status="approved",
                                    filename="province benchmark", feature_count=len(frame))
                session.add(delivery)
                session.flush()
                extra = {"delivery_id": delivery.id}
            insert_features(session, catalogue[layer], frame, extra)
            times[layer] = time.perf_counter() - start
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("ANALYZE"))
    return times


def ours(engine: Engine) -> dict:
    """The whole ``rivergis ratios --format json`` computation."""
    with engine.connect() as conn:
        return current_report(conn).to_json()


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


def timed(label: str, fn: Callable[[], Any]) -> Measure:
    """Time ``fn`` without tracing (tracemalloc slows Python allocations several-fold), then trace its peak."""
    start = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - start
    peak = measure(label, fn).peak_mb
    return Measure(label, seconds, peak, result)


def main() -> None:
    """Load, measure side by side, print and save the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-spatialite", action="store_true")
    args = parser.parse_args()
    folder = province_data()
    with scratch_postgis() as url:
        engine = make_engine(url)
        loaded = load(engine, folder)
        print(f"loaded into PostGIS: {', '.join(f'{k} {v:.1f}s' for k, v in loaded.items())}")
        reference(engine)  # warm the server's caches for both sides alike
        mine = timed("rivergis ratios (WKB + vectorised engine)", lambda: ours(engine))
        ref = timed("PostGIS SQL (ST_Union + ST_Length geography)", lambda: reference(engine))
        worst = agreement(mine.result, ref.result)
        print(f"bank lengths agree with PostGIS to {worst:.2e} (relative, worst bank)")
        extra = {"rivers": len(mine.result["rivers"]), "max_relative_difference": worst}
        if not args.no_spatialite:
            with tempfile.TemporaryDirectory(prefix="rg-bench-") as tmp:
                lite = make_engine(f"sqlite:///{tmp}/bench.sqlite")
                load(lite, folder)
                light = timed("rivergis ratios on SpatiaLite", lambda: ours(lite))
                print(f"SpatiaLite: {light.seconds:.2f}s (peak {light.peak_mb:.0f} MB)")
                extra["spatialite"] = {"seconds": round(light.seconds, 3), "peak_mb": round(light.peak_mb, 1)}
                lite.dispose()
        report("ratios_province", mine, ref, **extra)
        engine.dispose()


if __name__ == "__main__":
    main()
