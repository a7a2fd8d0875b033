"""Write a layer's GeoDataFrame to the format its file name asks for, in the CRS the user asks for."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
from sqlalchemy.orm import Session

from gis_service.catalogue import EXTRA_FIELD, INTERNAL_COLUMNS, LayerSpec
from gis_service.errors import BadRequest
from gis_service.export.ledger import WORKBOOKS, WorkbookWriter
from gis_service.export.ogr import json_texts, write_geopackage, write_shapefile_zip
from gis_service.export.sheets import frame_sheet, write_csv, write_workbook
from gis_service.ingest.crs import parse_crs
from gis_service.settings import Settings

# The GeoPackage version when the caller names none: the setting's default (``RIVERGIS_GPKG_VERSION``).
GPKG_VERSION: str = Settings.model_fields["gpkg_version"].default
# Layers whose ``.xlsx`` export is a filed workbook (ledger, register) rather than a plain table.
XLSX_WRITERS: dict[str, WorkbookWriter] = dict(WORKBOOKS)

FORMATS = {
    ".gpkg": "GPKG",
    ".geojson": "GeoJSON",
    ".json": "GeoJSON",
    ".shp.zip": "ESRI Shapefile",
    ".csv": "CSV",
    ".xlsx": "XLSX",
}


def format_of(path: Path) -> str:
    """Return the export format key of ``path`` from its extension."""
    name = path.name.lower()
    for suffix in sorted(FORMATS, key=len, reverse=True):
        if name.endswith(suffix):
            return suffix
    raise BadRequest(
        f"无法从文件名 {path.name} 判断导出格式；请使用扩展名 {', '.join(FORMATS)}",
        code="unknown_export_format",
    )


def labelled(gdf: gpd.GeoDataFrame, layer: LayerSpec, labels: str) -> gpd.GeoDataFrame:
    """Return ``gdf`` with Chinese column labels and value labels when ``labels == 'zh'``."""
    if labels != "zh":
        return gdf
    out = gdf.copy()
    for spec in layer.fields:
        if spec.name in out.columns and spec.values:
            out[spec.name] = out[spec.name].map(lambda v, s=spec: s.value_label(v))
    return out.rename(columns={name: label for name, label in layer.column_labels().items() if name in out.columns})


def field_kinds(layer: LayerSpec, labels: str) -> dict[str, str]:
    """Return the date and time columns of an export (by the name they are written under) and their type."""
    return {
        (spec.label if labels == "zh" else spec.name): spec.type
        for spec in layer.fields
        if spec.type in {"date", "datetime"}
    }


def _tabular(gdf: gpd.GeoDataFrame) -> pd.DataFrame:
    """Return the attribute table with the geometry as WKT (and lon/lat-style x/y for points)."""
    table = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
    geoms = gdf.geometry
    if len(geoms) and (geoms.geom_type == "Point").all():
        table["x"] = geoms.x
        table["y"] = geoms.y
    table["wkt"] = geoms.to_wkt()
    return table


def write_layer(
    gdf: gpd.GeoDataFrame,
    layer: LayerSpec,
    path: Path,
    *,
    crs: str | int | None = None,
    encoding: str | None = None,
    labels: str = "en",
    session: Session | None = None,
    settings: Settings | None = None,
) -> Path:
    """Write ``gdf`` (a layer read from the store in ``session``, which workbooks read names and flags in) to ``path``.

    ``settings`` give the GeoPackage version and the outfall flags' distance (None: the defaults, no flags).
    """
    kind = format_of(path)
    target = parse_crs(crs)
    gdf = gdf.drop(columns=[c for c in INTERNAL_COLUMNS if c in gdf.columns])
    if target is not None:
        gdf = gdf.to_crs(target)
    if EXTRA_FIELD in gdf.columns:
        # What a delivery carried beyond the catalogue leaves as one JSON text column.
        gdf = gdf.assign(**{EXTRA_FIELD: json_texts(gdf[EXTRA_FIELD])})
    if kind == ".xlsx" and layer.name in XLSX_WRITERS:
        path.parent.mkdir(parents=True, exist_ok=True)
        XLSX_WRITERS[layer.name](gdf, layer, path, session, settings)
        return path
    gdf = labelled(gdf, layer, labels)
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == ".csv":
        # UTF-8 with BOM so that Excel opens Chinese text correctly.
        write_csv(_tabular(gdf), path, encoding or "utf-8-sig")
    elif kind == ".xlsx":
        write_workbook(path, [frame_sheet(layer.label, _tabular(gdf))])
    elif kind == ".shp.zip":
        _write_shapefile_zip(gdf, layer, path, encoding or "UTF-8", field_kinds(layer, labels))
    elif kind == ".gpkg":
        version = settings.gpkg_version if settings else GPKG_VERSION
        write_geopackage(gdf, path, layer.name, field_kinds(layer, labels), version)
    else:
        if path.exists():
            path.unlink()
        pyogrio.write_dataframe(gdf, path, layer=layer.name, driver=FORMATS[kind])
    return path


def dbf_field_names(columns: list[str], encoding: str) -> dict[str, str]:
    """Map column names to unique dBASE field names: at most 10 bytes in ``encoding``, encodable.

    GDAL truncates long names itself but fails on characters the encoding lacks (``km²`` in GBK)
    and can make two truncated names collide; doing it here keeps every column and names it well.
    """
    names: dict[str, str] = {}
    taken: set[str] = set()
    for column in columns:
        text = unicodedata.normalize("NFKC", str(column))
        text = text.encode(encoding, errors="ignore").decode(encoding)
        name, n = text, 1
        while not name or len(name.encode(encoding)) > 10 or name.casefold() in taken:
            suffix = "" if n == 1 else f"_{n}"
            name = text
            while name and len((name + suffix).encode(encoding)) > 10:
                name = name[:-1]
            name = (name + suffix) or f"F{n}"
            n += 1
        taken.add(name.casefold())
        names[column] = name
    return names


def _encodable(gdf: gpd.GeoDataFrame, encoding: str) -> gpd.GeoDataFrame:
    """Return ``gdf`` with text values checked against ``encoding`` (NFKC first, e.g. ² → 2)."""
    out = gdf.copy()
    for column in out.columns:
        if column == out.geometry.name or out[column].dtype != object:
            continue
        values = out[column].map(lambda v: unicodedata.normalize("NFKC", v) if isinstance(v, str) else v)
        for value in values:
            if isinstance(value, str):
                try:
                    value.encode(encoding)
                except UnicodeEncodeError:
                    raise BadRequest(
                        f"字段“{column}”的值“{value[:30]}”含有 {encoding} 无法表示的字符；请改用 UTF-8 导出",
                        code="unencodable_text",
                    ) from None
        out[column] = values
    return out


def _write_shapefile_zip(
    gdf: gpd.GeoDataFrame, layer: LayerSpec, path: Path, encoding: str, kinds: dict[str, str]
) -> None:
    """Write a zipped Shapefile with a ``.cpg`` naming its encoding (UTF-8 or GBK), one file per geometry type."""
    if encoding.upper() != "UTF-8":
        gdf = _encodable(gdf, encoding)
    attributes = [c for c in gdf.columns if c != gdf.geometry.name]
    names = dbf_field_names(attributes, encoding)
    gdf = gdf.rename(columns=names)
    write_shapefile_zip(gdf, path, layer.name, encoding, {names[c]: k for c, k in kinds.items() if c in names})
