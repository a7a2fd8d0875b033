"""PostGIS bulk writes by ``COPY … FROM STDIN``: COPY text built column by column in Arrow.

A province-scale zone set (200 000 stretches) goes through a single ``COPY`` in text format
with hex EWKB geometries, inside the caller's transaction. Each column becomes one Arrow string
array of escaped COPY text: a column of strings is escaped by Arrow kernels, any other column is
encoded once per distinct value (a zone set has two banks and four zone types) and taken per
row, and geometries are hex-encoded by a numpy table lookup. Arrow then joins the columns into
rows. No Python code runs per row, and the Arrow kernels release the GIL, so a worker thread
encoding one chunk leaves the main thread its checks while the server indexes the previous one.

Written by hand because psycopg's ``Copy.write_row`` encodes each row in Python (seconds for
200 000 rows) and no library writes COPY text from columnar data. Nothing here commits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any, TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import shapely
from sqlalchemy import Boolean, Column, Connection, Date, DateTime, Float, Integer, Table
from sqlalchemy.types import JSON

from gis_service.db.backends.columns import FeatureColumns, attrs_json, distinct, json_text
from gis_service.db.models import SRID

CHUNK_ROWS = 20_000  # rows a COPY chunk: big enough to amortise, small enough to overlap with the server
STRING = pa.large_string()
NULL = "\\N"
# COPY text escapes, backslash first so that the others' backslashes are not doubled.
ESCAPES = (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r"))
TAB, NEWLINE, EMPTY = (pa.scalar(s, STRING) for s in ("\t", "\n", ""))
# Each byte's two lowercase hex digits, as the uint16 whose little-endian bytes are those digits.
HEX = np.array([int.from_bytes(f"{b:02x}".encode(), "little") for b in range(256)], dtype="<u2")

Texts: TypeAlias = "pa.Array | Callable[[slice], pa.Array]"  # a column's COPY texts, or a function making a chunk's


def _text(value: Any) -> str:
    """Encode a string-typed value (a whole float, as spreadsheets give codes, without its ``.0``)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _bool(value: Any) -> str:
    """Encode a boolean (True/False, or 1/0); anything else is refused, as SQLAlchemy's Boolean does."""
    if isinstance(value, bool | np.bool_) or value in (0, 1):
        return "t" if value else "f"
    raise ValueError(f"不是布尔值：{value!r}")


def _date(value: Any) -> str:
    """Encode a date (a datetime keeps only its date)."""
    if isinstance(value, dt.datetime):
        value = value.date()
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


ENCODERS: list[tuple[type, Callable[[Any], str]]] = [
    (Boolean, _bool),
    (Integer, lambda v: str(int(v))),
    (Float, lambda v: repr(float(v))),
    (DateTime, lambda v: v.isoformat() if hasattr(v, "isoformat") else str(v)),
    (Date, _date),
    (JSON, json_text),
]


def encoder_for(column: Column[Any]) -> Callable[[Any], str]:
    """Return the function writing one value of ``column`` as COPY text (before escaping)."""
    for kind, encode in ENCODERS:
        if isinstance(column.type, kind):
            return encode
    return _text


def escaped(texts: pa.Array) -> pa.Array:
    """Return Arrow strings escaped for COPY text, nulls as ``\\N``."""
    texts = texts.cast(STRING)
    for special, escape in ESCAPES:
        if pc.any(pc.match_substring(texts, special)).as_py():
            texts = pc.replace_substring(texts, special, escape)
    return pc.fill_null(texts, pa.scalar(NULL, STRING))


def copy_text(values: np.ndarray | pa.Array, encode: Callable[[Any], str]) -> pa.Array:
    """Return each value as escaped COPY text, encoding each distinct value once; null becomes ``\\N``.

    Arrow strings and object arrays of strings bound for a text column are escaped as they are.
    """
    if encode is _text and isinstance(values, pa.Array) and pa.types.is_large_string(values.type):
        return escaped(values)
    if encode is _text and pd.api.types.infer_dtype(values, skipna=True) in {"string", "empty"}:
        return escaped(pa.array(values, type=STRING, from_pandas=True))
    values = np.asarray(values.to_numpy(zero_copy_only=False) if isinstance(values, pa.Array) else values, dtype=object)
    codes, uniques = distinct(values)  # unhashable values (lists, dicts): each distinct object once
    texts = escaped(pa.array([*map(encode, uniques), None], type=STRING))
    # -1 (null) picks the appended None, which escaping made \N.
    return texts.take(pa.array(np.where(codes < 0, len(uniques), codes)))


def ewkb_hex(geoms: np.ndarray) -> pa.Array:
    """Return hex EWKB (SRID 4490) of each geometry as COPY text (``\\N`` where missing)."""
    geoms = np.asarray(geoms, dtype=object)
    present = ~shapely.is_missing(geoms)
    wkb = shapely.to_wkb(shapely.set_srid(geoms[present], SRID), byte_order=1, include_srid=True)
    lengths = np.zeros(len(geoms), dtype=np.int64)
    lengths[present] = np.fromiter(map(len, wkb), dtype=np.int64, count=len(wkb))
    offsets = np.zeros(len(geoms) + 1, dtype=np.int64)
    np.cumsum(2 * lengths, out=offsets[1:])
    digits = HEX[np.frombuffer(b"".join(wkb), dtype=np.uint8)]
    texts = pa.LargeStringArray.from_buffers(len(geoms), pa.py_buffer(offsets), pa.py_buffer(digits))
    return pc.if_else(pa.array(present), texts, pa.scalar(NULL, STRING)) if not present.all() else texts


def rows_payload(columns: list[pa.Array]) -> memoryview:
    """Return COPY text rows (tab-separated columns, each row ending in a newline) as one buffer."""
    rows = pc.binary_join_element_wise(*columns, TAB)
    rows = pc.binary_join_element_wise(rows, EMPTY, NEWLINE)  # "row" + "\n" + ""
    offsets = np.frombuffer(rows.buffers()[1], dtype=np.int64, count=len(rows) + 1, offset=rows.offset * 8)
    return memoryview(rows.buffers()[2])[offsets[0] : offsets[-1]]


def copy_rows(
    conn: Connection, table: Table, columns: Mapping[str, Texts], n: int, chunk_rows: int = CHUNK_ROWS
) -> int:
    """Send ``n`` rows of COPY texts into ``table`` in chunks of ``chunk_rows``; a callable column is encoded
    chunk by chunk."""
    # psycopg (~40 ms to import) here: a process on SpatiaLite never copies and need not load it.
    from psycopg.copy import QueuedLibpqWriter

    names = ", ".join(f'"{c}"' for c in columns)
    raw = conn.connection.driver_connection
    statement = f'COPY "{table.name}" ({names}) FROM STDIN'
    with raw.cursor() as cursor, cursor.copy(statement, writer=QueuedLibpqWriter(cursor)) as copy:  # type: ignore[union-attr]
        for start in range(0, n, chunk_rows):
            rows = slice(start, min(start + chunk_rows, n))
            copy.write(rows_payload([texts(rows) if callable(texts) else texts[rows] for texts in columns.values()]))
    return n


def copy_values(conn: Connection, table: Table, values: Mapping[str, np.ndarray | pa.Array]) -> int:
    """Write typed column values (object arrays, None for null) into ``table`` with one COPY."""
    n = len(next(iter(values.values()))) if values else 0
    return copy_rows(conn, table, {name: copy_text(v, encoder_for(table.c[name])) for name, v in values.items()}, n)


def attrs_text(rest: Mapping[str, np.ndarray], n: int) -> pa.Array:
    """Return each row's ``attrs`` JSON (fields without a column, nulls left out) as escaped COPY text."""
    return escaped(attrs_json(rest, n))


def copy_features(conn: Connection, table: Table, columns: FeatureColumns) -> int:
    """Write ``columns`` (the typed columns, the ``attrs`` fields, the geometries) into ``table`` with one COPY.

    Every column is encoded chunk by chunk: the server starts on the first rows at once, and the
    hex EWKB (the bulk of the data) never all sits in memory; nor do the geometries made for the
    column (single parts made multi), a chunk at a time.
    """
    rest, geoms, shape = columns.rest, columns.geoms, columns.shape
    texts: dict[str, Texts] = {name: _chunks(v, encoder_for(table.c[name])) for name, v in columns.values.items()}
    texts["attrs"] = lambda rows: attrs_text({k: v[rows] for k, v in rest.items()}, rows.stop - rows.start)
    texts["geom"] = lambda rows: ewkb_hex(shape(geoms[rows]))
    return copy_rows(conn, table, texts, len(geoms))


def _chunks(values: np.ndarray | pa.Array, encode: Callable[[Any], str]) -> Callable[[slice], pa.Array]:
    """Return the function encoding a chunk of ``values`` as COPY text."""
    return lambda rows: copy_text(values[rows], encode)
