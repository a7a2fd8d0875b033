"""Read stage: open a delivered file with pyogrio/GDAL and return a GeoDataFrame in its own CRS."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pyogrio

from gis_service.errors import BadRequest


def read_vector(path: Path, *, layer: str | None = None, encoding: str | None = None) -> gpd.GeoDataFrame:
    """Read one vector layer (Shapefile honours its ``.cpg``; ``encoding`` overrides)."""
    try:
        return pyogrio.read_dataframe(path, layer=layer, encoding=encoding)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise BadRequest(
            f"无法读取文件 {path.name}：{exc}。请确认文件完整且为 Shapefile/GeoPackage/GeoJSON/KML 之一。",
            code="unreadable_file",
        ) from exc
