"""A feature table's values made column by column for a bulk write, on either backend.

Each distinct value of a column is encoded once (a delivery's rows share most of theirs), JSON is
written as the service stores it (:func:`json_text`), and the ``attrs`` JSON of every row (the fields
without a column of their own) is joined from its fields' fragments in Arrow. The text and binary
COPY (:mod:`~gis_service.db.backends.pgcopy`, :mod:`~gis_service.db.backends.pgbinary`) and
SpatiaLite's executemany (:mod:`~gis_service.db.backends.sqlite_rows`) write what is made here.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Column


@dataclass(frozen=True)
class FeatureColumns:
    """What a bulk write of features writes into their table, column by column (``store.bulk.column_values``)."""

    values: Mapping[str, np.ndarray | pa.Array]  # the typed columns: Arrow strings, or objects with None for null
    rest: Mapping[str, np.ndarray]  # the fields without a column of their own, kept in ``attrs``
    geoms: np.ndarray  # the geometries (EPSG:4490)
    shape: Callable[[np.ndarray], np.ndarray]  # makes a part of ``geoms`` what the geometry column holds


def plain(value: Any) -> Any:
    """Return a numpy or pandas value as the plain Python value a driver binds and JSON writes (None for NaN/NaT)."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return value


def column_default(column: Column[Any]) -> tuple[bool, Any]:
    """Return whether ``column`` has a Python-side default, and its value (a bulk write bypasses SQLAlchemy's)."""
    default = column.default
    if default is None or not hasattr(default, "arg"):
        return False, None
    return True, default.arg(None) if callable(default.arg) else default.arg


def json_default(value: Any) -> Any:
    """Serialise dates and numpy scalars inside JSON columns."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def json_text(value: Any) -> str:
    """Return ``value`` as JSON text as the service stores it (Chinese kept, dates and numpy values readable)."""
    return json.dumps(value, ensure_ascii=False, default=json_default)


def _by_identity(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return codes grouping ``values`` by object identity and the index of each group's first value.

    Rows sharing one object (the same ``extra`` for a whole delivery) then encode once.
    """
    ids = np.fromiter((id(v) for v in values), dtype=np.int64, count=len(values))
    codes, uniques = pd.factorize(ids)
    first = np.empty(len(uniques), dtype=np.int64)
    first[codes[::-1]] = np.arange(len(codes) - 1, -1, -1)
    return codes, first


def distinct(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return codes of ``values`` (-1 for null) and their distinct values; unhashable ones (dicts) by identity."""
    try:
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
    except TypeError:
        codes, first = _by_identity(values)
        uniques = values[first]
        codes[pd.isna(values)] = -1
    return codes, np.asarray(uniques, dtype=object)


def attrs_json(rest: Mapping[str, np.ndarray], n: int, prefix: str = "") -> pa.Array:
    """Return each row's ``attrs`` JSON (fields without a column, nulls left out, dates as ISO text) after
    ``prefix``, as Arrow strings: the text COPY's, before its escaping."""
    text = functools.partial(pa.scalar, type=pa.large_string())
    if not rest:
        return pa.repeat(text(prefix + "{}"), n)
    parts = []
    for name, values in rest.items():
        key = json_text(name)
        codes, uniques = distinct(values)
        fragments = [f", {key}: {json_text(v.isoformat() if isinstance(v, dt.date) else v)}" for v in uniques]
        texts = pa.array([*fragments, ""], type=pa.large_string())
        parts.append(texts.take(pa.array(np.where(codes < 0, len(uniques), codes))))
    # Each field gave ', "name": value' (or nothing when null); the leading ", " is cut once.
    joined = pc.binary_join_element_wise(*parts, text("")) if len(parts) > 1 else parts[0]
    return pc.binary_join_element_wise(text(prefix + "{"), pc.utf8_slice_codeunits(joined, 2), text("}"), text(""))
