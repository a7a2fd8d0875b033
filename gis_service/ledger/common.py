"""What the ledger and the register share: the clock, dates, JSON-ready values, catalogue records, locked updates."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely
from sqlalchemy import Result, Table, update
from sqlalchemy.orm import Session

from gis_service.catalogue import LayerSpec
from gis_service.clock import BusinessClock
from gis_service.errors import BadRequest
from gis_service.ingest.normalise import coerce

# The ledger's clock is the service's one business clock (gis_service.clock), always handed in by the caller
# (the app's ``app.state.clock``, the CLI's ``business_clock()``); tests pass a stopped one.
Clock = BusinessClock


def parse_date(value: Any, label: str) -> dt.date | None:
    """Parse a date given as a date or ``YYYY-MM-DD`` text, or raise a clear error."""
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip().replace("/", "-"))
    except ValueError:
        raise BadRequest(
            f"{label} {value!r} 不是有效日期；请写成 YYYY-MM-DD，例如 2025-06-30", code="bad_date"
        ) from None


def as_date(value: Any) -> dt.date | None:
    """Return a date column value as a date (SpatiaLite may hand back text)."""
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def as_utc(moment: dt.datetime | None) -> dt.datetime | None:
    """Return a stored time as aware UTC (SpatiaLite hands back naive UTC, PostGIS aware)."""
    if moment is None:
        return None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def json_value(value: Any) -> Any:
    """Return ``value`` JSON-ready (dates as ISO text)."""
    return value.isoformat() if isinstance(value, dt.date) else value


def plain(value: Any) -> Any:
    """Return a pandas cell as a plain Python value (None for NaN/NaT)."""
    if value is None:
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value.item() if hasattr(value, "item") else value


def frame_of(result: Result[Any], columns: Sequence[str]) -> pd.DataFrame:
    """Return a query result as a DataFrame, fetched at once as plain tuples (pandas probes Rows 5x slower)."""
    return pd.DataFrame(list(map(tuple, result.all())), columns=list(columns))


def catalogue_record(
    layer: LayerSpec, geometry: shapely.Geometry, fields: Mapping[str, Any], *, skip_derived: bool = True
) -> gpd.GeoDataFrame:
    """Return a one-feature frame of ``layer``'s fields, values checked (codes, labels or aliases), defaults filled."""
    record: dict[str, Any] = {}
    for name, value in fields.items():
        if name not in layer.field_names:
            continue
        spec = layer.field(name)
        if skip_derived and spec.derived:
            continue
        try:
            record[name] = coerce(spec, value)
        except (ValueError, TypeError):
            allowed = "、".join(f"{v.label}({v.code})" for v in spec.values.values())
            raise BadRequest(
                f"字段“{spec.label}”({name}) 的值 {value!r} 无法识别"
                + (f"；可选：{allowed}" if allowed else f"；应为 {spec.type}"),
                code="bad_field_value",
                details={"field": name},
            ) from None
    for spec in layer.fields:
        if record.get(spec.name) is None and spec.default is not None:
            record[spec.name] = spec.default
    return gpd.GeoDataFrame([record], geometry=[geometry], crs="EPSG:4490")


def locked_update(
    session: Session, table: Table, row_id: int, expected_version: int, values: Mapping[str, Any]
) -> bool:
    """UPDATE a row only if its ``lock_version`` is still ``expected_version`` (and bump it); tell whether it was."""
    result = session.execute(
        update(table)
        .where(table.c.id == row_id, table.c.lock_version == expected_version)
        .values(lock_version=table.c.lock_version + 1, **values)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]
