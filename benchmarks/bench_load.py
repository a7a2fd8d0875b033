"""Province-scale generation and load: rivers, towns and problem sites stored by the service vs ogr2ogr.

Run: ``python -m benchmarks.bench_load`` (or ``scripts/bench.sh``). Needs a PostGIS server URL in
RIVERGIS_BENCH_POSTGIS_URL and GDAL's ogr2ogr.
"""

from __future__ import annotations

import time
from pathlib import Path

import geopandas as gpd

from benchmarks.common import Measure, measure, measure_command, ogr_pg_dsn, province_data, report, scratch_postgis
from gis_service.catalogue import bundled_catalogue
from gis_service.db.backend import DatabaseWaits
from gis_service.db.engine import make_engine, transaction
from gis_service.db.schema import upgrade
from gis_service.ingest.normalise import normalise
from gis_service.ingest.read import read_vector
from gis_service.settings import Settings
from gis_service.store.bulk import insert_features

LAYERS = ["towns", "rivers", "problems"]


def load_with_service(url: str, folder: object) -> int:
    """Read, normalise and store the layers in one transaction; return the feature count."""
    engine = make_engine(url, DatabaseWaits.of(Settings()))
    upgrade(engine)
    catalogue = bundled_catalogue()
    total = 0
    with transaction(engine) as session:
        for layer in LAYERS:
            frame: gpd.GeoDataFrame = read_vector(Path(f"{folder}/{layer}.gpkg"))
            total += insert_features(session, catalogue[layer], normalise(catalogue[layer], frame).frame)
    engine.dispose()
    return total


def main() -> None:
    """Generate the province set, then load it both ways into fresh PostGIS databases."""
    generated = measure("generate province set", province_data)
    print(f"province set ready in {generated.seconds:.1f}s: {generated.result}")
    folder = generated.result
    # Timed without memory tracing (tracemalloc slows allocation-heavy code ~3x); peak from a second run.
    with scratch_postgis() as ours_url:
        start = time.perf_counter()
        count = load_with_service(ours_url, folder)
        seconds = time.perf_counter() - start
    with scratch_postgis() as traced_url:
        peak = measure("traced", lambda: load_with_service(traced_url, folder)).peak_mb
    ours = Measure("rivergis store", seconds, peak, count)
    with scratch_postgis() as ref_url:
        reference = Measure("ogr2ogr", 0.0, 0.0)
        for layer in LAYERS:
            one = measure_command(
                "ogr2ogr",
                [
                    "ogr2ogr",
                    "-f",
                    "PostgreSQL",
                    ogr_pg_dsn(ref_url),
                    str(folder / f"{layer}.gpkg"),
                    "-nln",
                    layer,
                    "-lco",
                    "SPATIAL_INDEX=GIST",
                    "--config",
                    "PG_USE_COPY",
                    "YES",
                ],
            )
            reference.seconds += one.seconds
            reference.peak_mb = max(reference.peak_mb, one.peak_mb)
    report("load_province", ours, reference, features=ours.result)


if __name__ == "__main__":
    main()
