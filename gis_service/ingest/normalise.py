"""Normalise a read layer through the catalogue: field and value aliases, types, 2D, EPSG:4490."""

from __future__ import annotations

import ast
import datetime as dt
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import shapely

from gis_service.catalogue import EXTRA_FIELD, FieldSpec, LayerSpec, fold
from gis_service.runtime import texts_matching

CANONICAL_CRS = "EPSG:4490"
TRUE_WORDS = {"是", "y", "yes", "true", "t", "1", "重要", "√"}
FALSE_WORDS = {"否", "n", "no", "false", "f", "0", "一般", ""}
# Every character ``str.isspace`` accepts (what ``str.strip`` removes), as an RE2 class for Arrow.
WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_SPACE_CLASS = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in WHITESPACE) + "]"
EDGE_SPACE = f"^{_SPACE_CLASS}|{_SPACE_CLASS}$"


@dataclass
class Finding:
    """One problem found while normalising or validating a delivery."""

    code: str
    message: str
    severity: str = "error"
    feature: int | None = None
    feature_id: str | None = None
    field: str | None = None
    value: Any = None
    fix: str | None = None
    lon: float | None = None
    lat: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the finding as JSON-ready data."""
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class Normalised:
    """A layer read into catalogue form, with what was mapped and what was wrong."""

    frame: gpd.GeoDataFrame
    field_map: dict[str, str]
    findings: list[Finding] = field(default_factory=list)
    dropped_z: int = 0
    extra_fields: list[str] = field(default_factory=list)


def _is_blank(value: Any) -> bool:
    """Tell whether a cell is empty (None, NaN, NaT or whitespace)."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def coerce(spec: FieldSpec, value: Any) -> Any:
    """Return ``value`` as the field's type or canonical value code; raise ValueError when it is not."""
    if _is_blank(value):
        return None
    if spec.values:
        code = spec.canonical_value(value)
        if code is None:
            raise ValueError("unknown_value")
        return code
    if spec.type == "str":
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return str(value).strip()
    if spec.type == "int":
        return int(float(value))
    if spec.type == "float":
        return float(value)
    if spec.type == "bool":
        if isinstance(value, bool):
            return value
        word = fold(value)
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise ValueError("bad_bool")
    if spec.type == "date":
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        return pd.Timestamp(str(value).strip().replace("/", "-").replace(".", "-")).date()
    if spec.type == "datetime":
        return pd.Timestamp(value).to_pydatetime()
    if spec.type == "json":
        return _json_object(value) or None
    return value


def _json_object(value: Any) -> dict[str, Any] | None:
    """Return a JSON object given as a mapping or as its text (an ``extra`` column exported earlier)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            try:
                # A GeoDataFrame written as it is by GDAL spells its dicts the Python way.
                value = ast.literal_eval(value)
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                raise ValueError("bad_json") from None
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError("bad_json")
    return value


def jsonable(value: Any) -> Any:
    """Return a cell as a JSON value (None for blanks; dates as ISO text; numpy scalars as Python)."""
    if _is_blank(value):
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, dt.date | pd.Timestamp):
        return value.isoformat()
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bytes):
        return None
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)  # an integer column with gaps reads as floats: 1, not 1.0
    return value if isinstance(value, bool | int | float) else str(value)


def _json_codes(column: pd.Series) -> tuple[np.ndarray, list[Any]] | None:
    """Return each cell's place among the column's distinct values (-1: missing) and those values as JSON, each
    converted once (a column repeats a lot); None when its cells are not hashable (lists from a GeoJSON)."""
    try:
        codes, uniques = pd.factorize(column, use_na_sentinel=True)
    except TypeError:
        return None
    return codes.astype(np.int64), [jsonable(v) for v in uniques]


def _row_object(names: list[str], row: Iterable[Any]) -> dict[str, Any] | None:
    """Return a row's non-blank cells as an object (None when it has none)."""
    return {k: v for k, v in zip(names, row, strict=True) if v is not None and v != ""} or None


def _shared_objects(names: list[str], coded: list[tuple[np.ndarray, list[Any]]], rows: int) -> list[Any]:
    """Return each row's object (:func:`_row_object`) from its columns' places, one object per distinct row.

    The rows' places are folded into one integer a row (each column a digit of its own base; renumbered
    densely before it could pass 63 bits) and the distinct ones found by numpy: no tuple, dict lookup or
    object is made a row, only one object a distinct row, from its first row's cells.
    """
    key = np.zeros(rows, dtype=np.int64)
    bound = 1  # key < bound
    for places, values in coded:
        if bound * (len(values) + 1) >= 2**62:
            _, key = np.unique(key, return_inverse=True)
            key, bound = key.reshape(-1).astype(np.int64), int(key.max(initial=0)) + 1
        key = key * (len(values) + 1) + (places + 1)  # 0: missing
        bound *= len(values) + 1
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    cells = []
    for places, values in coded:
        table = [None, *values]  # place -1 (missing): None
        cells.append([table[p] for p in (places[first] + 1).tolist()])
    objects = np.empty(len(first), dtype=object)
    objects[:] = [_row_object(names, row) for row in zip(*cells, strict=True)]
    shared: list[Any] = objects[inverse.reshape(-1)].tolist()
    return shared


def extra_values(gdf: gpd.GeoDataFrame, columns: list[str], given: list[Any] | pd.Series | None) -> list[Any]:
    """Return each row's fields the catalogue does not know, as one object (None when it has none).

    Equal rows share one object (encoded once when stored).
    """
    names = [str(c) for c in columns]
    coded = [_json_codes(gdf[c]) for c in columns]
    if all(c is not None for c in coded):
        found = _shared_objects(names, [c for c in coded if c is not None], len(gdf))
    else:  # unhashable cells: row by row
        lists = [[jsonable(v) for v in gdf[c].tolist()] for c in columns]
        found = [_row_object(names, row) for row in zip(*lists, strict=True)]
    if given is None:
        return found
    # An ``extra`` column of the file (an earlier export) wins over a column of the same name.
    return [({**(new or {}), **(old or {})} or None) for old, new in zip(given, found, strict=True)]


def _plain_text(column: pd.Series) -> pd.Series | None:
    """Return a column of plain strings trimmed, blanks as null (what :func:`coerce` makes of each); else None.

    The strings stay in Arrow: only the few values with space at either end become Python strings
    (for ``str.strip``, whose idea of space :func:`coerce` uses too).
    """
    kind = pd.api.types.infer_dtype(column, skipna=True)
    if kind not in {"string", "empty"}:
        return None
    if kind == "empty":
        return pd.Series([None] * len(column), dtype="str")
    strings = pa.array(column, type=pa.large_string(), from_pandas=True)
    edges = pa.array(texts_matching(strings, EDGE_SPACE))
    if pc.any(edges).as_py():
        trimmed = [value.strip() for value in pc.filter(strings, edges).to_pylist()]
        strings = pc.replace_with_mask(strings, edges, pa.array(trimmed, type=strings.type))
    strings = pc.if_else(pc.equal(strings, ""), pa.scalar(None, strings.type), strings)
    series: pd.Series[Any] = strings.to_pandas()
    return series


def coerce_column(spec: FieldSpec, column: pd.Series) -> tuple[list[Any] | pd.Series, np.ndarray, list[Any]]:
    """Return a column's values coerced to the field, the rows that could not be, and their raw values."""
    if spec.type == "str" and not spec.values and (text := _plain_text(column)) is not None:
        return text, np.zeros(0, dtype=np.int64), []
    # Coerce each distinct raw value once: a 200 000-row zone set has a handful of distinct banks and types.
    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    coerced: list[Any] = []
    failed = np.zeros(len(uniques) + 1, dtype=bool)
    for j, raw in enumerate(list(uniques)):
        try:
            coerced.append(coerce(spec, raw))
        except (ValueError, TypeError, OverflowError):
            coerced.append(None)
            failed[j] = True
    rows = np.flatnonzero(failed[codes])
    raw_failed = [uniques[codes[i]] for i in rows]
    if any(isinstance(v, str) for v in coerced) and all(v is None or isinstance(v, str) for v in coerced):
        # Texts (a coded field's codes): spread by Arrow from the distinct ones, the column pandas would make of
        # their list (``str``), without pandas reading that list a str at a time.
        texts = pa.array([*coerced, None], type=pa.large_string())  # the last: missing (code -1)
        series: pd.Series[Any] = texts.take(pa.array(np.where(codes < 0, len(coerced), codes))).to_pandas()
        return series, rows, raw_failed
    table = np.empty(len(coerced) + 1, dtype=object)
    table[:-1] = coerced
    table[-1] = None  # NaN / missing cells (factorize code -1)
    return table[codes].tolist(), rows, raw_failed


def _unreadable(spec: FieldSpec, row: int, raw: Any) -> Finding:
    """Return the finding for a value of ``spec`` that could not be read."""
    allowed = "、".join(f"{v.label}({v.code})" for v in spec.values.values())
    message = f"字段“{spec.label}”的值“{raw}”无法识别"
    return Finding(
        code="unknown_value" if spec.values else "bad_value",
        message=message + (f"；允许的值：{allowed}" if allowed else f"（应为 {spec.type}）"),
        feature=row + 1,
        field=spec.name,
        value=str(raw),
        fix=f"改为允许的值之一：{allowed}" if allowed else f"填写 {spec.type} 类型的值",
    )


def normalise(layer: LayerSpec, gdf: gpd.GeoDataFrame) -> Normalised:
    """Map ``gdf`` (any CRS, source field names) to catalogue fields and values in EPSG:4490."""
    field_map = layer.source_field_map([c for c in gdf.columns if c != gdf.geometry.name])
    findings: list[Finding] = []
    out: dict[str, list[Any] | pd.Series] = {}
    for source, target in field_map.items():
        spec = layer.field(target)
        values, failed, raw = coerce_column(spec, gdf[source])
        findings += [_unreadable(spec, int(i), value) for i, value in zip(failed, raw, strict=True)]
        out[target] = values
    unknown = [c for c in gdf.columns if c != gdf.geometry.name and c not in field_map]
    if unknown and EXTRA_FIELD in layer.field_names:
        out[EXTRA_FIELD] = extra_values(gdf, unknown, out.get(EXTRA_FIELD))
        # Report the columns that carried something: an empty column (CASS's unused H) kept nothing.
        carried = {name for row in out[EXTRA_FIELD] if row for name in row}
        unknown = [c for c in unknown if str(c) in carried]
    for spec in layer.fields:
        if spec.name not in out and spec.default is not None:
            out[spec.name] = [spec.default] * len(gdf)
        elif spec.name in out and spec.default is not None:
            values = out[spec.name]
            out[spec.name] = (
                values.fillna(spec.default)
                if isinstance(values, pd.Series)
                else [spec.default if v is None else v for v in values]
            )
    geoms = gdf.geometry.values
    dropped_z = int(shapely.has_z(geoms).sum())
    if dropped_z:
        geoms = shapely.force_2d(geoms)
    frame = gpd.GeoDataFrame(out, geometry=gpd.GeoSeries(geoms, crs=gdf.crs), crs=gdf.crs)
    if frame.crs is not None:
        frame = frame.to_crs(CANONICAL_CRS)
    return Normalised(
        frame=frame, field_map=field_map, findings=findings, dropped_z=dropped_z, extra_fields=[str(c) for c in unknown]
    )


def field_values(layer: LayerSpec, columns: list[str], read: Callable[[str], pd.Series], field: str) -> set[str]:
    """Return the distinct values of catalogue ``field`` in a file of ``columns``, as :func:`normalise` reads them.

    ``read`` gives one source column's values (the whole layer's, before its batches are read):
    the validation context is read for the rivers a delivery names before its first batch is checked.
    """
    return set(field_counts(layer, columns, read, field))


def field_counts(layer: LayerSpec, columns: list[str], read: Callable[[str], pd.Series], field: str) -> dict[str, int]:
    """Return how many features hold each value of catalogue ``field`` in a file of ``columns``, the values as
    :func:`normalise` reads them (missing and unreadable ones left out); see :func:`field_values`."""
    if field not in layer.field_names:
        return {}
    names = [source for source, target in layer.source_field_map(columns).items() if target == field]
    if not names:
        return {}
    # The distinct raw values coerced give the distinct coerced values: 10 000 rivers, not 200 000 rows.
    raw = read(names[0])
    counted = raw.value_counts(dropna=True)
    values, _failed, _raw = coerce_column(layer.field(field), pd.Series(counted.index, dtype=raw.dtype))
    counts: dict[str, int] = {}
    for value, n in zip(pd.Series(values, dtype=object), counted.to_numpy(), strict=True):
        if value is not None and not pd.isna(value):
            counts[str(value)] = counts.get(str(value), 0) + int(n)
    return counts
