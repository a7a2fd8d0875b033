"""Write GeoPackage and Shapefile exports with GDAL (pyogrio's raw writer), fields typed as the catalogue says.

pyogrio's DataFrame writer types a column by its pandas dtype, which has no date-only kind:
dates would leave as text. Its raw writer takes numpy ``datetime64[D]`` arrays, which GDAL
writes as Date fields (GeoPackage DATE, dBASE ``D``). A Shapefile holds one geometry type,
so a layer mixing polygons and lines (management ranges) is written as one file per type.
"""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio.raw
import shapely

# dBASE language driver id of code page 936 (GBK): ArcGIS 10.x reads Chinese by it when there is no .cpg.
GBK_LDID = 0x4D
FAMILIES = {
    "polygon": ("Polygon", "MultiPolygon"),
    "line": ("LineString", "MultiLineString"),
    "point": ("Point", "MultiPoint"),
}
FAMILY_LABELS = {"polygon": "面", "line": "线", "point": "点"}


def field_arrays(frame: pd.DataFrame, kinds: dict[str, str]) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
    """Return each column as the array GDAL types rightly, and its null mask (dates as ``datetime64[D]``)."""
    data: list[np.ndarray] = []
    masks: list[np.ndarray | None] = []
    for name in frame.columns:
        kind = kinds.get(name)
        # Values read from the store come as Python objects: integers should leave as integer fields.
        column = frame[name]
        if column.dtype == object and pd.api.types.infer_dtype(column, skipna=True) == "integer":
            column = column.astype("Int64")
        if kind in {"date", "datetime"}:
            stamps = pd.to_datetime(column, errors="coerce", utc=kind == "datetime")
            if kind == "datetime":
                stamps = stamps.dt.tz_convert(None)
            unit = "datetime64[D]" if kind == "date" else "datetime64[ms]"
            data.append(stamps.to_numpy(dtype="datetime64[ns]").astype(unit))
            masks.append(None)
            continue
        values = column.array
        if isinstance(values, pd.arrays.IntegerArray | pd.arrays.FloatingArray | pd.arrays.BooleanArray):
            data.append(values.to_numpy(dtype=values.dtype.type, na_value=0))
            masks.append(np.asarray(column.isna()))
        elif isinstance(column.dtype, pd.api.extensions.ExtensionDtype):
            data.append(np.asarray(values, dtype=object))
            masks.append(np.asarray(column.isna()))
        else:
            data.append(column.to_numpy())
            masks.append(None)
    return data, masks


def geometry_type(geoms: np.ndarray) -> str:
    """Return the one layer geometry type of ``geoms`` (promoted to Multi), or Unknown when they mix."""
    types = set(shapely.get_type_id(geoms[~shapely.is_missing(geoms)]).tolist())
    for family, (single, multi) in FAMILIES.items():
        ids = {shapely.GeometryType[single.upper()].value, shapely.GeometryType[multi.upper()].value}
        if types and types <= ids:
            return multi if family != "point" or len(types) > 1 else single
    return "Unknown"


def promoted(geoms: np.ndarray, kind: str) -> np.ndarray:
    """Return ``geoms`` as the Multi type ``kind`` names (single parts wrapped), unchanged otherwise."""
    makers = {"MultiPolygon": shapely.multipolygons, "MultiLineString": shapely.multilinestrings}
    if kind not in makers and kind != "MultiPoint":
        return geoms
    make = makers.get(kind, shapely.multipoints)
    out = np.array(geoms, dtype=object, copy=True)
    single = ~shapely.is_missing(out) & ~np.isin(shapely.get_type_id(out), [4, 5, 6])
    if single.any():
        out[single] = make(out[single], indices=np.arange(int(single.sum())))
    return out


def write_gdal(
    gdf: gpd.GeoDataFrame,
    path: Path,
    *,
    driver: str,
    layer: str,
    kinds: dict[str, str],
    encoding: str | None = None,
    dataset_options: dict[str, str] | None = None,
) -> None:
    """Write ``gdf`` as one layer with GDAL, dates and times as typed fields."""
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    kind = geometry_type(geoms)
    attributes = gdf.drop(columns=gdf.geometry.name)
    data, masks = field_arrays(attributes, kinds)
    pyogrio.raw.write(
        path,
        geometry=shapely.to_wkb(promoted(geoms, kind)),
        field_data=data,
        field_mask=masks,
        fields=[str(c) for c in attributes.columns],
        layer=layer,
        driver=driver,
        geometry_type=kind,
        crs=gdf.crs.to_wkt() if gdf.crs is not None else None,
        encoding=encoding,
        dataset_options=dataset_options,
    )


def write_geopackage(gdf: gpd.GeoDataFrame, path: Path, layer: str, kinds: dict[str, str], version: str) -> None:
    """Write a GeoPackage of the version every supported GDAL and ArcGIS reads (a setting; 1.2 by default)."""
    if path.exists():
        path.unlink()
    options = {"VERSION": version}
    write_gdal(gdf, path, driver="GPKG", layer=layer, kinds=kinds, dataset_options=options)


def by_family(gdf: gpd.GeoDataFrame) -> dict[str | None, gpd.GeoDataFrame]:
    """Split ``gdf`` by geometry family (polygon, line, point); one family (or none) stays whole, keyed None."""
    names = np.array(
        [next((f for f, types in FAMILIES.items() if t in types), "other") for t in gdf.geom_type.fillna("")]
    )
    present = [f for f in FAMILIES if (names == f).any()]
    if len(present) <= 1:
        return {None: gdf}
    return {family: gdf[names == family] for family in present}


def write_shapefile_zip(
    gdf: gpd.GeoDataFrame, path: Path, layer: str, encoding: str, kinds: dict[str, str]
) -> list[str]:
    """Write a zipped Shapefile (one per geometry type when they mix) with ``.cpg`` and LDID; return the stems."""
    stems = []
    with tempfile.TemporaryDirectory(prefix="rivergis-export-") as tmp:
        for family, part in by_family(gdf).items():
            stem = layer if family is None else f"{layer}_{family}"
            shp = Path(tmp) / f"{stem}.shp"
            write_gdal(part, shp, driver="ESRI Shapefile", layer=stem, kinds=kinds, encoding=encoding)
            if encoding.upper() in {"GBK", "CP936", "GB18030", "GB2312"}:
                mark_gbk(shp.with_suffix(".dbf"))
            stems.append(stem)
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            for part in sorted(Path(tmp).iterdir()):
                archive.write(part, part.name)
    return stems


def mark_gbk(dbf: Path) -> None:
    """Set the ``.dbf`` language driver byte to GBK (0x4D), as ArcGIS writes it for code page 936."""
    with dbf.open("r+b") as fh:
        fh.seek(29)
        fh.write(bytes([GBK_LDID]))


def json_texts(values: pd.Series) -> list[Any]:
    """Return JSON objects as compact text (Chinese kept), None where there is none."""
    import json

    return [json.dumps(v, ensure_ascii=False) if isinstance(v, dict) and v else None for v in values]
