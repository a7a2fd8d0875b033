"""The ledger and the outfall register as the Excel workbooks a city office files.

Chinese headers and value labels, dates as dates, overdue items marked, a bold frozen header
with filters, and a summary sheet per town. ``export/files.py`` calls these for ``.xlsx``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
from sqlalchemy.orm import Session

from gis_service.catalogue import LayerSpec, catalogue_for
from gis_service.export.sheets import PERCENT, Column, Sheet, write_workbook
from gis_service.ledger.outfall_reports import FLAG_LABELS, flag_outfalls
from gis_service.ledger.states import NOT_OVERDUE
from gis_service.settings import Settings
from gis_service.store.current import river_names

COORDINATE = "0.0000000"
LEDGER_COLUMNS = [
    ("code", "编号"),
    ("category", "类别"),
    ("description", "问题描述"),
    ("river", "河流"),
    ("town", "镇街"),
    ("inside_range", "是否在管理范围内"),
    ("found_date", "发现日期"),
    ("source", "来源"),
    ("status", "状态"),
    ("deadline", "整改时限"),
    ("responsible_unit", "责任单位"),
    ("measures", "整改措施"),
    ("closed_date", "销号日期"),
    ("overdue", "是否超期"),
    ("lon", "经度"),
    ("lat", "纬度"),
]
OUTFALL_COLUMNS = [
    ("code", "排污口编码"),
    ("name", "排污口名称"),
    ("river", "受纳河流"),
    ("outfall_type", "排口类型"),
    ("status", "状态"),
    ("stage", "排查整治阶段"),
    ("outcome", "整治方式"),
    ("responsible", "责任主体"),
    ("flags", "问题标记"),
    ("lon", "经度"),
    ("lat", "纬度"),
]


def _date(value: Any) -> dt.date | None:
    """Return a date cell value (None for blanks)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _river(code: Any, names: dict[str, str]) -> str | None:
    """Return ``name（code）`` of a river, or the code alone, or None."""
    if code is None or (not isinstance(code, str) and pd.isna(code)):
        return None
    return f"{names[code]}（{code}）" if code in names else str(code)


def _label(layer: LayerSpec, field: str, value: Any) -> Any:
    """Return the Chinese label of a coded value."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return layer.field(field).value_label(value)


def _columns(columns: list[tuple[str, str]]) -> list[Column]:
    """Return the sheet columns: 序号 then the Chinese headers (coordinates with 7 decimals)."""
    return [Column("序号"), *(Column(h, COORDINATE if k in ("lon", "lat") else None) for k, h in columns)]


def _points(gdf: gpd.GeoDataFrame) -> tuple[list[float], list[float]]:
    """Return x and y of each feature's representative point (in the frame's CRS)."""
    pts = gdf.geometry.representative_point()
    return [round(float(v), 7) for v in pts.x], [round(float(v), 7) for v in pts.y]


def write_problem_ledger(
    gdf: gpd.GeoDataFrame,
    layer: LayerSpec,
    path: Path,
    *,
    today: dt.date | None = None,
    names: dict[str, str] | None = None,
) -> None:
    """Write the problem ledger (问题台账) workbook: one row a site, and a summary per town."""
    today = today or dt.date.today()
    names = {} if names is None else names
    xs, ys = _points(gdf) if len(gdf) else ([], [])
    rows: list[list[Any]] = []
    late: list[bool] = []
    for n, (rec, x, y) in enumerate(zip(gdf.to_dict("records"), xs, ys, strict=True), start=1):
        deadline = _date(rec.get("deadline"))
        overdue = deadline is not None and deadline < today and rec.get("status") not in NOT_OVERDUE
        inside = rec.get("inside_range")
        values = {
            "code": rec.get("code"),
            "category": _label(layer, "category", rec.get("category")),
            "description": rec.get("description"),
            "river": _river(rec.get("river_code"), names),
            "town": rec.get("town"),
            "inside_range": None if inside is None or pd.isna(inside) else ("是" if inside else "否"),
            "found_date": _date(rec.get("found_date")),
            "source": _label(layer, "source", rec.get("source")),
            "status": _label(layer, "status", rec.get("status")),
            "deadline": deadline,
            "responsible_unit": rec.get("responsible_unit"),
            "measures": rec.get("measures"),
            "closed_date": _date(rec.get("closed_date")),
            "overdue": "是" if overdue else "否",
            "lon": x,
            "lat": y,
        }
        rows.append(
            [
                n,
                *(
                    None if v is None or (isinstance(v, float) and pd.isna(v)) else v
                    for v in (values[k] for k, _ in LEDGER_COLUMNS)
                ),
            ]
        )
        late.append(overdue)
    statuses = list(layer.field("status").values)
    frame = pd.DataFrame(
        {"town": [r[5] or "未判定" for r in rows], "status": gdf["status"].tolist() if rows else [], "late": late}
    )
    sum_rows = []
    for town, group in frame.groupby("town", sort=True):
        counts = [int((group["status"] == s).sum()) for s in statuses]
        counted = len(group) - counts[statuses.index("dismissed")]
        closed = counts[statuses.index("closed")]
        sum_rows.append([town, len(group), *counts, int(group["late"].sum()), closed / counted if counted else "—"])
    headers = ["镇街", "合计", *(layer.field("status").value_label(s) for s in statuses), "超期"]
    write_workbook(
        path,
        [
            Sheet("问题台账", _columns(LEDGER_COLUMNS), rows, marked=late, borders=True),
            Sheet("按镇街汇总", [*(Column(h) for h in headers), Column("销号率", PERCENT)], sum_rows, borders=True),
        ],
    )


def write_outfall_register(
    gdf: gpd.GeoDataFrame, layer: LayerSpec, path: Path, *, names: dict[str, str] | None = None
) -> None:
    """Write the outfall register (入河排污口名录) workbook, one row an outfall, flags spelled out."""
    names = {} if names is None else names
    xs, ys = _points(gdf) if len(gdf) else ([], [])
    rows = []
    flagged = []
    for n, (rec, x, y) in enumerate(zip(gdf.to_dict("records"), xs, ys, strict=True), start=1):
        flags = rec.get("flags") if isinstance(rec.get("flags"), list) else []
        values = {
            "code": rec.get("code"),
            "name": rec.get("name"),
            "river": _river(rec.get("river_code"), names),
            "outfall_type": _label(layer, "outfall_type", rec.get("outfall_type")),
            "status": _label(layer, "status", rec.get("status")),
            "stage": _label(layer, "stage", rec.get("stage")),
            "outcome": _label(layer, "outcome", rec.get("outcome")),
            "responsible": rec.get("responsible"),
            "flags": "；".join(FLAG_LABELS[f] for f in flags) or None,
            "lon": x,
            "lat": y,
        }
        rows.append([n, *(values[k] for k, _ in OUTFALL_COLUMNS)])
        flagged.append(bool(flags))
    write_workbook(path, [Sheet("入河排污口名录", _columns(OUTFALL_COLUMNS), rows, marked=flagged, borders=True)])


def _river_names(session: Session | None, settings: Settings | None) -> dict[str, str]:
    """Return the rivers' names by code from the service database, when the export was read from one."""
    return river_names(session, catalogue_for(settings)) if session is not None and settings is not None else {}


def _problem_ledger(
    gdf: gpd.GeoDataFrame, layer: LayerSpec, path: Path, session: Session | None, settings: Settings | None
) -> None:
    """Write the problem ledger, rivers named from the service database when there is one."""
    write_problem_ledger(gdf, layer, path, names=_river_names(session, settings))


def _outfalls_with_flags(
    gdf: gpd.GeoDataFrame, layer: LayerSpec, path: Path, session: Session | None, settings: Settings | None
) -> None:
    """Write the outfall register, adding the register's flags from the service database when there is one."""
    if "flags" not in gdf.columns and session is not None and settings is not None:
        distance = settings.jurisdiction_distance_m
        gdf = flag_outfalls(session, catalogue_for(settings), gdf.to_crs("EPSG:4490"), distance).to_crs(gdf.crs)
    write_outfall_register(gdf, layer, path, names=_river_names(session, settings))


# A workbook from the features, the layer, the file, the session they were read in and the settings (None: none).
WorkbookWriter = Callable[[gpd.GeoDataFrame, LayerSpec, Path, Session | None, Settings | None], None]
WORKBOOKS: dict[str, WorkbookWriter] = {
    "problems": _problem_ledger,
    "outfalls": _outfalls_with_flags,
}
