"""Province-scale generation and load: rivers, towns and problem sites stored by the service vs ogr2ogr.

Run: ``python -m benchmarks.bench_load`` (or ``scripts/bench.sh``). Needs a PostGIS server URL in
RIVERGIS_BENCH_POSTGIS_URL and GDAL's ogr2ogr.
"""

from __future__ import annotations

import geopandas as gpd
import pyogrio

from benchmarks.common import Measure, measure, measure_command, ogr_pg_dsn, province_data, report, scratch_postgis
from gis_service.catalogue import get_catalogue
from gis_service.db.engine import make_engine, transaction
from gis_service.db.schema import upgrade
from gis_service.ingest.normalise import normalise
from gis_service.store.features import insert_features

LAYERS = ["towns", "rivers", "problems"]


def load_with_service(url: str, folder: object) -> int:
    """Read, normalise and store the layers in one transaction; return the feature count."""
    engine = make_engine(url)
    upgrade(engine)
    catalogue = get_catalogue()
    total = 0
    with transaction(engine) as session:
        for layer in LAYERS:
            frame: gpd.GeoDataFrame = pyogrio.read_dataframe(f"{folder}/{layer}.gpkg")
            total += insert_features(session, catalogue[layer], normalise(catalogue[layer], frame).frame)
    engine.dispose()
    return total


def main() -> None:
    """Generate the province set, then load it both ways into fresh PostGIS databases."""
    generated = measure("generate province set", province_data)
    print(f"province set ready in {generated.seconds:.1f}s: {generated.result}")
    folder = generated.result
    with scratch_postgis() as ours_url:
        ours = measure("rivergis store", lambda: load_with_service(ours_url, folder))
    with scratch_postgis() as ref_url:
        start = Measure("ogr2ogr", 0.0, 0.0)
        for layer in LAYERS:
            one = measure_command("ogr2ogr", ["ogr2ogr", "-f", "PostgreSQL", ogr_pg_dsn(ref_url),
                                              str(folder / f"{layer}.gpkg"), "-nln", layer,
                                              "-lco", "SPATIAL_INDEX=GIST", "--config", "PG_USE_COPY", "YES"])
            start.seconds += one.seconds
            start.peak_mb = max(start.peak_mb, one.peak_mb)
    report("load_province", ours, start, features=ours.result)


if __name__ == "__main__":
    main()
