"""WKB and EWKB of simple geometries (2D points, 2D line strings) made from their coordinates, as Arrow binaries.

GEOS writes WKB one geometry at a time, into a Python ``bytes`` object a row (``shapely.to_wkb``);
the 32 768 stretches of an import's batch take three times as long so as their header rows and
their coordinate array put side by side, which are the very same bytes (little-endian, ISO types,
EWKB's SRID flag when an SRID is given). Written here because neither shapely nor pyarrow makes WKB
as an Arrow column, and geoarrow's encoders are not a dependency. Anything else (Z, multi-parts,
polygons, missing or empty points) is left to GEOS: the functions return None.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import shapely

BINARY = pa.large_binary()
EMPTY = pa.scalar(b"", BINARY)
POINT, LINESTRING = 0, 1  # shapely's type ids (a WKB type is the id + 1)
SRID_FLAG = 0x20000000  # EWKB: an SRID follows the type


def header_type(kind: int, srid: int | None) -> np.dtype:
    """Return the packed header of a geometry of shapely type ``kind``: byte order, type, [SRID], [vertex count]."""
    fields = [("order", "u1"), ("type", "<u4")]
    if srid is not None:
        fields.append(("srid", "<u4"))
    if kind == LINESTRING:
        fields.append(("count", "<u4"))
    return np.dtype(fields)


def fixed_width(raw: np.ndarray, width: int) -> pa.Array:
    """Return the rows of ``raw`` (``width`` bytes each) as Arrow binaries, without copying."""
    n = len(raw)
    offsets = np.arange(0, width * n + 1, width, dtype=np.int64)
    return pa.LargeBinaryArray.from_buffers(BINARY, n, [None, pa.py_buffer(offsets), pa.py_buffer(raw)])


def simple_parts(geoms: np.ndarray, srid: int | None = None) -> tuple[pa.Array, pa.Array, np.ndarray] | None:
    """Return the (E)WKB of 2D line strings, or of 2D points, as two Arrow columns to join row by row (the header,
    the coordinates) and each row's length in bytes; None for anything else (``shapely.to_wkb`` then)."""
    if not len(geoms):
        return None
    kinds = shapely.get_type_id(geoms)
    kind = int(kinds[0])
    if kind not in (POINT, LINESTRING) or (kinds != kind).any() or shapely.has_z(geoms).any():
        return None
    if kind == POINT and shapely.is_empty(geoms).any():
        return None  # an empty point has no coordinates to write
    _, coords, offsets = shapely.to_ragged_array(geoms, include_z=False)
    starts = np.asarray(offsets[0], dtype=np.int64) if kind == LINESTRING else np.arange(len(geoms) + 1)
    counts = np.diff(starts)
    layout = header_type(kind, srid)
    header = np.empty(len(geoms), dtype=layout)
    header["order"], header["type"] = 1, kind + 1 + (SRID_FLAG if srid is not None else 0)
    if srid is not None:
        header["srid"] = srid
    if kind == LINESTRING:
        header["count"] = counts
    coords = np.ascontiguousarray(coords, dtype="<f8")
    vertices = pa.LargeBinaryArray.from_buffers(
        BINARY, len(geoms), [None, pa.py_buffer(16 * starts), pa.py_buffer(coords)]
    )
    return fixed_width(header, layout.itemsize), vertices, layout.itemsize + 16 * counts


def simple_wkb(geoms: np.ndarray) -> pa.Array | None:
    """Return the WKB of 2D line strings or 2D points (``shapely.to_wkb``'s bytes) as Arrow binaries, or None."""
    parts = simple_parts(geoms)
    if parts is None:
        return None
    header, vertices, _lengths = parts
    return pc.binary_join_element_wise(header, vertices, EMPTY)
