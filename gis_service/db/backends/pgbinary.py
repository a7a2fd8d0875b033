"""PostGIS bulk writes by ``COPY … FROM STDIN (FORMAT binary)``: rows built column by column in Arrow.

A feature table whose columns are all integers, texts, JSON and geometry (zone sets, stakes), and
the delivery reports, are copied in PostgreSQL's binary format: each value is its length and its
bytes, texts as they are (no escaping), geometries as EWKB (half the bytes of hex, and nothing for
the server to decode from text). Each column becomes Arrow arrays (the big-endian lengths, the
bytes) and one Arrow join makes the rows, so no Python runs per row and the kernels leave the GIL
to the main thread while a worker thread copies. The server's own column types decide the
encoding; a table with any other type (dates, booleans, floats) is copied as text
(:mod:`gis_service.db.backends.pgcopy`).
Nothing here commits.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import shapely
from sqlalchemy import Connection, Table

from gis_service.db.backends import pgcopy
from gis_service.db.backends.columns import FeatureColumns, attrs_json, distinct
from gis_service.db.backends.pgcopy import CHUNK_ROWS
from gis_service.db.models import SRID
from gis_service.wkb import BINARY, EMPTY, fixed_width, simple_parts

SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # the format's signature, no flags, no header extension
TRAILER = b"\xff\xff"
TEXT_TYPES = {"varchar", "text", "bpchar"}
# The server's types this module writes; a table with any other column is copied as text.
TYPES = TEXT_TYPES | {"int4", "json", "jsonb", "geometry"}
INT4 = (-(2**31), 2**31 - 1)

SERVER_TYPES = "rivergis_server_types"  # the connection's ``info`` key of the types read
Fields = list[pa.Array]  # a column's fields: its lengths and its bytes (or both in one array)


def server_types(conn: Connection, table: Table) -> dict[str, str]:
    """Return the server's type name (``pg_type.typname``) of each column of ``table``.

    Read once a pooled connection (its ``info`` lives as long as it): each batch of an import asks.
    """
    known: dict[str, dict[str, str]] = conn.info.setdefault(SERVER_TYPES, {})
    if table.name not in known:
        known[table.name] = _read_server_types(conn, table)
    return known[table.name]


def _read_server_types(conn: Connection, table: Table) -> dict[str, str]:
    """Read the server's type name of each column of ``table`` from its catalogue."""
    raw = conn.connection.driver_connection
    with raw.cursor() as cursor:  # type: ignore[union-attr]
        cursor.execute(
            "SELECT a.attname, t.typname FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
            "WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped",
            (f'"{table.name}"',),
        )
        return {str(name): str(kind) for name, kind in cursor.fetchall()}


def framed(values: pa.Array) -> Fields:
    """Return binaries ``values`` as a binary COPY field each: the length (-1 for null), then the bytes."""
    lengths = pc.fill_null(pc.binary_length(values), -1).to_numpy(zero_copy_only=False)
    data = pc.fill_null(values, EMPTY) if values.null_count else values
    return [fixed_width(lengths.astype(">i4"), 4), data]


def _each_distinct(values: np.ndarray, encode: Callable[[Any], bytes]) -> Fields:
    """Return fields of ``values`` encoding each distinct value once (None is null)."""
    codes, uniques = distinct(values)
    encoded = pa.array([*map(encode, uniques), None], type=BINARY)
    return framed(encoded.take(pa.array(np.where(codes < 0, len(uniques), codes))))


def _objects(values: np.ndarray | pa.Array) -> np.ndarray:
    """Return ``values`` as an object array."""
    return np.asarray(values.to_numpy(zero_copy_only=False) if isinstance(values, pa.Array) else values, dtype=object)


def text_fields(values: np.ndarray | pa.Array, encode: Callable[[Any], str], prefix: bytes = b"") -> Fields:
    """Return a text column's fields: Arrow strings as they are, other values encoded as COPY text does.

    ``prefix`` goes before each value (jsonb's format version).
    """
    if encode is pgcopy._text and not prefix:  # texts bound for a text column go as they are
        if isinstance(values, pa.Array) and pa.types.is_large_string(values.type):
            return framed(values.cast(BINARY))
        if pd.api.types.infer_dtype(values, skipna=True) in {"string", "empty"}:
            return framed(pa.array(values, type=pa.large_string(), from_pandas=True).cast(BINARY))
    return _each_distinct(_objects(values), lambda v: prefix + encode(v).encode())


def int4_fields(values: np.ndarray | pa.Array) -> Fields | None:
    """Return an integer column's fields (4 big-endian bytes a value), or None if a value is not an int4."""
    values = _objects(values)
    missing = pd.isna(values)
    try:
        ints = np.where(missing, 0, values).astype(np.int64)
    except (TypeError, ValueError, OverflowError):
        return None
    if len(ints) and (ints.min() < INT4[0] or ints.max() > INT4[1]):
        return None  # the text COPY lets the server name the value out of range
    raw = np.empty((len(ints), 2), dtype=">i4")
    raw[:, 0] = np.where(missing, -1, 4)
    raw[:, 1] = ints
    if not missing.any():
        return [fixed_width(raw, 8)]
    # A null is its length alone: 4 bytes, not 8.
    return [pc.if_else(pa.array(missing), fixed_width(np.ascontiguousarray(raw[:, :1]), 4), fixed_width(raw, 8))]


def attrs_fields(rest: Mapping[str, np.ndarray], n: int, prefix: bytes) -> Fields:
    """Return each row's ``attrs`` JSON (fields without a column, nulls left out), as the text COPY writes it."""
    return framed(attrs_json(rest, n, prefix.decode()).cast(BINARY))


def ewkb_fields(geoms: np.ndarray) -> Fields:
    """Return each geometry as EWKB (SRID 4490), null where missing."""
    geoms = np.asarray(geoms, dtype=object)
    simple = simple_ewkb(geoms)
    if simple is not None:
        return simple
    wkb = shapely.to_wkb(shapely.set_srid(geoms, SRID), byte_order=1, include_srid=True)
    return framed(pa.array(wkb, type=BINARY, from_pandas=True))


def simple_ewkb(geoms: np.ndarray) -> Fields | None:
    """Return the EWKB fields of 2D LineStrings, or of 2D Points, from their coordinates (None for anything else).

    The bytes GEOS writes, made without a bytes object a geometry (:func:`gis_service.wkb.simple_parts`):
    a fixed header a row and the coordinate array itself, which the row join puts side by side.
    """
    parts = simple_parts(geoms, SRID)
    if parts is None:
        return None
    header, vertices, lengths = parts
    return [fixed_width(lengths.astype(">i4"), 4), header, vertices]


def rows_payload(columns: list[Fields], n: int) -> memoryview:
    """Return ``n`` binary COPY tuples of ``columns`` (each one's lengths and bytes) as one buffer."""
    count = fixed_width(np.full(n, len(columns), dtype=">i2"), 2)
    rows = pc.binary_join_element_wise(count, *(a for fields in columns for a in fields), EMPTY)
    offsets = np.frombuffer(rows.buffers()[1], dtype=np.int64, count=n + 1, offset=rows.offset * 8)
    return memoryview(rows.buffers()[2])[offsets[0] : offsets[-1]]


def _sliced(fields: Fields, rows: slice) -> Fields:
    """Return the rows ``rows`` of fields encoded whole."""
    return [a[rows] for a in fields]


def _text_chunk(values: np.ndarray | pa.Array, encode: Callable[[Any], str], prefix: bytes, rows: slice) -> Fields:
    """Return the fields of rows ``rows`` of a text or JSON column."""
    return text_fields(values[rows], encode, prefix)


def features_copy(conn: Connection, table: Table, columns: FeatureColumns) -> BinaryRows | None:
    """Return ``columns`` (the typed columns, the ``attrs`` fields, the geometries) made ready for a binary COPY into
    ``table`` (:class:`BinaryRows`), or None (nothing sent) when a column's server type or an integer is not one
    this module writes: the caller copies text then.

    Encoded chunk by chunk as it is sent, as the text COPY; the values are let go once the last chunk
    is encoded (:meth:`CopyStream.write`).
    """
    values, rest, geoms, shape = columns.values, columns.rest, columns.geoms, columns.shape
    kinds = server_types(conn, table)
    if any(kinds.get(name) not in TYPES for name in [*values, "attrs", "geom"]) or kinds["geom"] != "geometry":
        return None
    encoders: list[Callable[[slice], Fields]] = []
    for name, column in values.items():
        if kinds[name] == "int4":
            whole = int4_fields(column)
            if whole is None:
                return None
            encoders.append(functools.partial(_sliced, whole))
        else:
            prefix = b"\x01" if kinds[name] == "jsonb" else b""
            encoders.append(functools.partial(_text_chunk, column, pgcopy.encoder_for(table.c[name]), prefix))
    prefix = b"\x01" if kinds["attrs"] == "jsonb" else b""
    encoders.append(lambda rows: attrs_fields({k: v[rows] for k, v in rest.items()}, rows.stop - rows.start, prefix))
    encoders.append(lambda rows: ewkb_fields(shape(geoms[rows])))
    return BinaryRows(conn, table, [*values, "attrs", "geom"], encoders, len(geoms))


class BinaryRows:
    """Rows made ready for a binary COPY into ``names`` of ``table``, each column's chunks made by its encoder as
    they are sent: by a COPY of their own (called), or into a COPY already open (:meth:`into`)."""

    def __init__(
        self, conn: Connection, table: Table, names: list[str], encoders: list[Callable[[slice], Fields]], n: int
    ) -> None:
        self.conn, self.table, self.names, self.encoders, self.n = conn, table, names, encoders, n

    def __call__(self) -> int:
        """Send the rows by a COPY of their own (ended when the server has them all); return how many."""
        return copy_columns(self.conn, self.table, self.names, self.encoders, self.n)

    def into(self, stream: CopyStream) -> int:
        """Send the rows into ``stream`` (a COPY of the same table and columns); return how many."""
        if not stream.takes(self):
            raise ValueError(f"rows of {self.table.name} {self.names} sent to a COPY of {stream.table} {stream.names}")
        return stream.write(self.encoders, self.n)


class CopyStream:
    """One binary ``COPY … FROM STDIN`` into ``names`` of ``table``, open from its first rows to :meth:`close`.

    Many writes make one statement: a delivery's batches go in as they come, so the server is never without
    rows between them, and the table's statement-level triggers run once. ``queued``: psycopg's sender thread
    puts the bytes on the socket while the caller encodes the next chunk (a queue of up to 1 024 buffers: a
    statement of its own, ended by its last rows); otherwise the caller sends each chunk as it is made, and a
    server that falls behind holds it back (a stream left open across batches: what is in flight does not grow).
    """

    def __init__(self, conn: Connection, table: Table, names: list[str], *, queued: bool) -> None:
        # psycopg (~40 ms to import) here: a process on SpatiaLite never copies and need not load it.
        from psycopg.copy import LibpqWriter, QueuedLibpqWriter

        self.table, self.names = table.name, list(names)
        columns = ", ".join(f'"{c}"' for c in names)
        raw: Any = conn.connection.driver_connection
        self._open = contextlib.ExitStack()
        cursor = self._open.enter_context(raw.cursor())
        writer = (QueuedLibpqWriter if queued else LibpqWriter)(cursor)
        statement = f'COPY "{table.name}" ({columns}) FROM STDIN (FORMAT binary)'
        self._copy = self._open.enter_context(cursor.copy(statement, writer=writer))
        try:
            self._copy.write(SIGNATURE)
        except BaseException as exc:
            self.abort(exc)
            raise

    def takes(self, rows: BinaryRows) -> bool:
        """Tell whether ``rows`` are for this COPY's table and columns."""
        return (rows.table.name, rows.names) == (self.table, self.names)

    def write(self, encoders: list[Callable[[slice], Fields]], n: int, chunk_rows: int | None = None) -> int:
        """Send ``n`` rows, each column's chunk made by its encoder; ``encoders`` is emptied once the last chunk is
        made (what they encode is let go while the server may still be writing the rows). Return ``n``."""
        chunk_rows = chunk_rows or CHUNK_ROWS
        for start in range(0, n, chunk_rows):
            rows = slice(start, min(start + chunk_rows, n))
            self._copy.write(rows_payload([encode(rows) for encode in encoders], rows.stop - rows.start))
        encoders.clear()
        return n

    def close(self) -> None:
        """End the statement: wait until the server has every row (its error, if any, is raised; the statement is
        then ended as failed)."""
        try:
            self._copy.write(TRAILER)
        except BaseException as exc:
            self.abort(exc)
            raise
        self._open.close()

    def abort(self, exc: BaseException) -> None:
        """End the statement as failed (the server drops its rows; the transaction is then in error)."""
        self._open.__exit__(type(exc), exc, exc.__traceback__)

    def __enter__(self) -> CopyStream:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        """Close the statement, or end it as failed when the block raised."""
        if exc is None:
            self.close()
        else:
            self.abort(exc)


def copy_columns(
    conn: Connection,
    table: Table,
    names: list[str],
    encoders: list[Callable[[slice], Fields]],
    n: int,
    chunk_rows: int | None = None,
) -> int:
    """Send ``n`` rows into columns ``names`` of ``table`` by a binary COPY of their own, each column's chunk made by
    its encoder (see :meth:`CopyStream.write`)."""
    with CopyStream(conn, table, names, queued=True) as stream:
        return stream.write(encoders, n, chunk_rows)


def copy_reports(
    conn: Connection, table: Table, ids: list[int], texts: Callable[[slice], list[bytes]], chunk_rows: int
) -> bool:
    """Write delivery ``ids`` and their reports' JSON (UTF-8), ``texts`` of a chunk of them made as it is sent, by
    binary COPY; False (nothing made or sent) when the table's types are not an int4 and a JSON column."""
    kinds = server_types(conn, table)
    if kinds.get("delivery_id") != "int4" or kinds.get("report") not in {"json", "jsonb"}:
        return False
    delivery_ids = int4_fields(np.array(ids, dtype=object))
    if delivery_ids is None:
        return False
    prefix = b"\x01" if kinds["report"] == "jsonb" else b""

    def reports(rows: slice) -> Fields:
        chunk = texts(rows)
        return framed(pa.array([prefix + text for text in chunk] if prefix else chunk, type=BINARY))

    encoders: list[Callable[[slice], Fields]] = [functools.partial(_sliced, delivery_ids), reports]
    copy_columns(conn, table, ["delivery_id", "report"], encoders, len(ids), chunk_rows)
    return True
