"""Boundary-stake coordinate tables (界桩坐标成果表) as CSV or XLSX, read into points.

Headers are Chinese or Latin (界桩编号, X, Y, 北坐标, 东坐标, 经度, 纬度 ...). Which column is
the northing and which the easting is decided by magnitude first (northing 7 digits, easting
6 digits, or 8 with the zone prefix), header second, because surveyors write X = northing as
often as GIS users write x = easting. The report says how the columns were read.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from gis_service.catalogue import fold
from gis_service.errors import BadRequest
from gis_service.ingest.archive import check_archive
from gis_service.ingest.encoding import EncodingChoice, decode_text
from gis_service.ingest.normalise import Finding

X_NAMES = {"x", "x坐标", "x(m)", "x（m）", "x坐标(m)", "北坐标", "纵坐标", "n", "northing", "北"}
Y_NAMES = {"y", "y坐标", "y(m)", "y（m）", "y坐标(m)", "东坐标", "横坐标", "e", "easting", "东"}
LON_NAMES = {"经度", "lon", "lng", "long", "longitude", "东经"}
LAT_NAMES = {"纬度", "lat", "latitude", "北纬"}


@dataclass
class TableRead:
    """Points read from a coordinate table, with how the columns were understood."""

    frame: gpd.GeoDataFrame
    encoding: EncodingChoice | None
    axes: str
    findings: list[Finding]


def load_table(path: Path, encoding: str | None) -> tuple[pd.DataFrame, EncodingChoice | None]:
    """Read a CSV (any of UTF-8, UTF-8 BOM, GBK) or the first sheet of an XLSX as text cells."""
    if path.suffix.lower() == ".xlsx":
        check_archive(path, what="Excel 文件")  # an .xlsx is a zip: same bomb limits
        try:
            sheet = pd.read_excel(path, dtype=str, engine="openpyxl")
        except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds for a broken workbook
            raise BadRequest(
                f"无法读取 Excel 文件 {path.name}：{exc}。请用 Excel 另存为 .xlsx 后重试。", code="unreadable_file"
            ) from exc
        return sheet, None
    text, choice = decode_text(path.read_bytes(), encoding)
    try:
        return pd.read_csv(io.StringIO(text), dtype=str, sep=None, engine="python"), choice
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise BadRequest(f"无法解析 CSV 文件 {path.name}：{exc}", code="unreadable_file") from exc


def _numbers(column: pd.Series) -> pd.Series:
    """Return a column as floats (NaN where not a number; thousands separators allowed)."""
    return pd.to_numeric(column.astype(str).str.replace(",", "").str.strip(), errors="coerce")


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
    """Return the two coordinate columns by header, refusing a table that has not got them."""
    by_fold = {fold(c): c for c in table.columns}
    for names in ((X_NAMES, Y_NAMES), (LON_NAMES, LAT_NAMES)):
        a = next((by_fold[n] for n in names[0] if n in by_fold), None)
        b = next((by_fold[n] for n in names[1] if n in by_fold), None)
        if a and b:
            return [a, b]
    raise BadRequest(
        f"坐标表中找不到坐标列（现有列：{'、'.join(map(str, table.columns))}）。"
        "请用表头 X、Y（或 北坐标、东坐标，或 经度、纬度）。",
        code="missing_coordinates",
    )


def read_table(path: Path, *, encoding: str | None = None, crs: CRS | None = None) -> TableRead:
    """Read a stake coordinate table into points in the CRS its magnitudes (or ``crs``) say."""
    table, choice = load_table(path, encoding)
    table = table.dropna(how="all")
    if table.empty:
        raise BadRequest(f"坐标表 {path.name} 没有数据行。", code="empty_delivery")
    first, second = coordinate_columns(table)
    a, b = _numbers(table[first]), _numbers(table[second])
    findings = [
        Finding(
            code="bad_coordinate",
            feature=int(i) + 1,
            fix="填写数值坐标（米或度）",
            message=f"第 {i + 1} 行坐标不是数值（{table[first].iloc[i]!r}, {table[second].iloc[i]!r}）",
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
    elif "easting_prefixed" in kinds:
        zone = int(float(east.median()) // 1_000_000)
        found = CRS.from_epsg(4488 + zone) if 25 <= zone <= 45 else CRS.from_epsg(4524)
        axes = f"{north_col} 列为北坐标（7 位），{east_col} 列为东坐标（8 位，含带号 {zone}）"
    else:
        found = CRS.from_epsg(4545)
        axes = f"{north_col} 列为北坐标（7 位），{east_col} 列为东坐标（6 位，不带带号）"
    if crs is not None:
        axes += f"；按用户指定的 {crs.to_string()} 读取"
        found = crs
    else:
        axes += f"；据此按 {found.to_string()} 读取"
    if fold(str(north_col)) in X_NAMES:
        axes += "（X 为北坐标，按测量习惯）"
    attrs = table.drop(columns=[first, second])
    geometry = gpd.points_from_xy(east.to_numpy(), north.to_numpy(), crs=found)
    frame = gpd.GeoDataFrame(attrs.reset_index(drop=True), geometry=geometry, crs=found)
    frame.loc[(a.isna() | b.isna()).to_numpy(), "geometry"] = None
    return TableRead(frame=frame, encoding=choice, axes=axes, findings=findings)
