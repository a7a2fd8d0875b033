"""Boundary-stake coordinate tables (界桩坐标成果表) as CSV, XLSX or CASS ``.dat``, read into points.

Headers are Chinese or Latin (界桩编号, X, Y, 北坐标, 东坐标, 纵坐标X, N, E, 经度, 纬度 ...); where
the header and the data lie in the sheet is :mod:`table_layout`'s business. Which column is
the northing and which the easting is decided by magnitude first (northing 7 digits, easting
6 digits, or 8 with the zone prefix), header second, because surveyors write X = northing as
often as GIS users write x = easting. The report says how each column was read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from gis_service.district import District, prefixed_epsg
from gis_service.errors import BadRequest
from gis_service.ingest.archive import ArchiveLimits
from gis_service.ingest.crs import unprefixed_candidates
from gis_service.ingest.encoding import EncodingChoice
from gis_service.ingest.normalise import Finding
from gis_service.ingest.table_layout import AXIS_PAIRS, axis_of, find_layout, load_grid, number


@dataclass
class TableRead:
    """Points read from a coordinate table, with how the table and its columns were understood."""

    frame: gpd.GeoDataFrame
    encoding: EncodingChoice | None
    axes: str
    findings: list[Finding]
    layout: dict[str, Any]
    columns: list[dict[str, str]]


def classify(value: float) -> str | None:
    """Name what a coordinate's magnitude says it is: northing, easting, easting36, lon, lat."""
    v = abs(value)
    if 70 <= v <= 140:
        return "lon"
    if 15 <= v <= 55:
        return "lat"
    if 1e5 <= v < 1e6:
        return "easting"
    if 1e6 <= v < 1e7:
        return "northing"
    if 1e7 <= v < 1e8:
        return "easting_prefixed"
    return None


def coordinate_columns(table: pd.DataFrame) -> list[str]:
    """Return the two coordinate columns by header (north/east or lon/lat), refusing a table without them."""
    by_axis: dict[str, str] = {}
    for column in table.columns:
        axis = axis_of(column)
        if axis and axis not in by_axis:
            by_axis[axis] = column
    for a, b in AXIS_PAIRS:
        if a in by_axis and b in by_axis:
            return [by_axis[a], by_axis[b]]
    raise BadRequest(
        f"坐标表中找不到坐标列（现有列：{'、'.join(map(str, table.columns))}）。"
        "请用表头 X、Y（或 北坐标、东坐标，或 经度、纬度）。",
        code="missing_coordinates",
    )


def _numbers(column: pd.Series) -> tuple[pd.Series, int]:
    """Return a column as floats (NaN where not a number) and how many cells were numbers written as text."""
    read = [number(v) for v in column.tolist()]
    values = pd.Series([np.nan if v is None else v for v, _ in read], index=column.index, dtype=float)
    return values, sum(1 for _, text in read if text)


def projected_crs(kinds: set[str | None], east: pd.Series, district: District) -> tuple[CRS, str]:
    """Return the CRS the magnitudes say and the words for the easting (zone prefix or not)."""
    if "easting_prefixed" in kinds:
        zone = int(float(east.median()) // 1_000_000)
        usual = CRS.from_epsg(prefixed_epsg(district.gk_zones[0]))
        found = CRS.from_epsg(prefixed_epsg(zone)) if 25 <= zone <= 45 else usual
        return found, f"（8 位，含带号 {zone}）"
    return CRS.from_epsg(unprefixed_candidates(district)[0]), "（6 位，不带带号）"


def read_table(
    path: Path, limits: ArchiveLimits, district: District, *, encoding: str | None = None, crs: CRS | None = None
) -> TableRead:
    """Read a stake coordinate table into points in the CRS its magnitudes (or ``crs``) say (district GK zones)."""
    grid, choice = load_grid(path, encoding, limits)
    layout = find_layout(grid, path.name, cass=path.suffix.lower() == ".dat")
    table = layout.table
    if table.empty:
        raise BadRequest(f"坐标表 {path.name} 没有数据行。", code="empty_delivery")
    first, second = coordinate_columns(table)
    (a, text_a), (b, text_b) = _numbers(table[first]), _numbers(table[second])
    findings = [
        Finding(
            code="bad_coordinate",
            feature=int(i) + 1,
            fix="填写数值坐标（米或度）",
            message=f"表格第 {layout.rows[i]} 行坐标不是数值（{table[first].iloc[i]!r}, {table[second].iloc[i]!r}）",
        )
        for i in np.flatnonzero((a.isna() | b.isna()).to_numpy())
    ]
    kind_a = classify(float(a.median())) if a.notna().any() else None
    kind_b = classify(float(b.median())) if b.notna().any() else None
    kinds = {kind_a, kind_b}
    if kinds in ({"northing", "easting"}, {"northing", "easting_prefixed"}, {"lon", "lat"}):
        north_first = kind_a in {"northing", "lat"}
        east, north = (b, a) if north_first else (a, b)
        east_col, north_col = (second, first) if north_first else (first, second)
    else:
        raise BadRequest(
            f"无法从数值大小判断坐标列：{first} 列约 {a.median():.3f}，{second} 列约 {b.median():.3f}。"
            "应为北坐标 7 位、东坐标 6 位（或带带号 8 位），或经纬度。",
            code="ambiguous_coordinates",
            details={"columns": [first, second]},
        )
    if "lon" in kinds:
        found = CRS.from_epsg(4490)
        axes = f"{east_col} 列为经度，{north_col} 列为纬度（EPSG:4490）"
        roles = {north_col: "lat", east_col: "lon"}
    else:
        found, digits = projected_crs(kinds, east, district)
        axes = f"{north_col} 列为北坐标（7 位），{east_col} 列为东坐标{digits}"
        roles = {north_col: "northing", east_col: "easting"}
    if crs is not None:
        axes += f"；按用户指定的 {crs.to_string()} 读取"
        found = crs
    else:
        axes += f"；据此按 {found.to_string()} 读取"
    if roles[north_col] == "northing" and "x" in str(north_col).casefold():
        axes += "（X 为北坐标，按测量习惯）"
    if layout.cass:
        axes += "；CASS 坐标数据文件（点名,编码,Y,X,H：Y 为东坐标）"
    if text_a or text_b:
        axes += f"；{text_a + text_b} 个坐标是文本（全角数字或千位分隔符），已按数值读取"
    if layout.notes:
        findings.append(
            Finding(
                severity="info",
                code="table_notes",
                message=f"表格下方的 {len(layout.notes)} 行说明未作为数据读取：{'；'.join(layout.notes)[:200]}",
            )
        )
    attrs = table.drop(columns=[first, second])
    geometry = gpd.points_from_xy(east.to_numpy(), north.to_numpy(), crs=found)
    frame = gpd.GeoDataFrame(attrs.reset_index(drop=True), geometry=geometry, crs=found)
    frame.loc[(a.isna() | b.isna()).to_numpy(), "geometry"] = None
    columns = [{"column": str(c), "read_as": roles[c]} for c in (first, second)]
    return TableRead(
        frame=frame, encoding=choice, axes=axes, findings=findings, layout=layout.to_dict(), columns=columns
    )
