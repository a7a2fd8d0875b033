"""Helpers shared by the import tests: delivery files written by GDAL (ogr2ogr) and pyogrio, and the CLI."""

from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import geopandas as gpd
import pyogrio
import shapely
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner, Result

from gis_service.cli.main import app
from gis_service.db.models import Delivery, Outfall, River, Stake, Zone

# A spot inside Wansheng in EPSG:4545 (CGCS2000, CM 108°E, no zone prefix): x = easting, y = northing.
X0, Y0 = 390_000.0, 3_200_000.0
PREFIX = 36_000_000.0  # EPSG:4524 eastings carry the zone number 36 in front

runner = CliRunner()


def cli(*args: str) -> tuple[int, dict[str, Any]]:
    """Run ``rivergis ARGS --json`` and return the exit code and the parsed JSON output."""
    result = runner.invoke(app, [*args, "--json"])
    try:
        body = json.loads(result.stdout)
    except json.JSONDecodeError:
        body = {"raw": result.stdout, "exception": repr(result.exception)}
    return result.exit_code, body


def run(*args: str) -> Result:
    """Run ``rivergis ARGS`` (no --json) and return the result."""
    return runner.invoke(app, list(args))


def stored_counts(engine: Engine) -> dict[str, int]:
    """Count the rows an import could have written."""
    with engine.connect() as conn:
        return {
            m.__tablename__: conn.execute(select(func.count()).select_from(m)).scalar_one()
            for m in (River, Delivery, Zone, Stake, Outfall)
        }


def ogr2ogr(*args: str) -> None:
    """Run GDAL's ogr2ogr (fixtures are made by GDAL, not by the code under test)."""
    subprocess.run(["ogr2ogr", *args], check=True, capture_output=True)


def write(gdf: gpd.GeoDataFrame, path: Path, **kw: Any) -> Path:
    """Write ``gdf`` with pyogrio (GDAL) and return the path."""
    pyogrio.write_dataframe(gdf, path, **kw)
    return path


def zip_files(target: Path, files: list[Path], arcnames: list[str] | None = None) -> Path:
    """Zip ``files`` (at the archive root unless ``arcnames`` say otherwise)."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for i, f in enumerate(files):
            zf.write(f, arcnames[i] if arcnames else f.name)
    return target


def shapefile_zip(gdf: gpd.GeoDataFrame, folder: Path, stem: str, *, drop: tuple[str, ...] = (), **kw: Any) -> Path:
    """Write a Shapefile with pyogrio, zip its parts (minus ``drop`` suffixes) and return the zip."""
    folder.mkdir(parents=True, exist_ok=True)
    write(gdf, folder / f"{stem}.shp", **kw)
    parts = [p for p in folder.glob(f"{stem}.*") if p.suffix not in drop and p.suffix != ".zip"]
    return zip_files(folder / f"{stem}.zip", parts)


def river_frame(code: str = "R1", name: str = "试验河", dx: float = 0.0) -> gpd.GeoDataFrame:
    """Return one river flowing east through the test spot, in EPSG:4545."""
    line = shapely.LineString([(X0 + 10 + dx, Y0 + 50), (X0 + 90 + dx, Y0 + 50)])
    return gpd.GeoDataFrame({"HLBM": [code], "HLMC": [name]}, geometry=[line], crs=4545)


def square(dx: float = 0.0, size: float = 100.0) -> shapely.Polygon:
    """Return a ``size`` m square at the test spot shifted ``dx`` m east (EPSG:4545)."""
    return shapely.box(X0 + dx, Y0, X0 + dx + size, Y0 + size)
