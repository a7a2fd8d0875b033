"""A shorthand read of a layer's features for tests and scripts; the table helpers re-exported.

Reading is :mod:`gis_service.store.current`'s (the one read path), writing
:func:`gis_service.store.bulk.insert_features` (the one bulk-write path), the table helpers
:mod:`gis_service.store.tables`'. Nothing here commits: the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import geopandas as gpd
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from gis_service.catalogue import LayerSpec, bundled_catalogue
from gis_service.store.current import CurrentFeatures, LayerVersions
from gis_service.store.spatial import BBox
from gis_service.store.tables import CRS, SYSTEM_COLUMNS, feature_columns, property_names, rows_to_frame, table_of

__all__ = [
    "CRS",
    "SYSTEM_COLUMNS",
    "feature_columns",
    "property_names",
    "read_features",
    "rows_to_frame",
    "table_of",
]


def read_features(
    conn: Session | Connection,
    layer: LayerSpec | str,
    *,
    bbox: BBox | None = None,
    where: Mapping[str, Any] | None = None,
    limit: int | None = None,
    offset: int = 0,
    current_only: bool = True,
    delivery_id: int | None = None,
    fid: int | None = None,
) -> gpd.GeoDataFrame:
    """Read a layer's features as a GeoDataFrame in EPSG:4490 (a shorthand of :class:`CurrentFeatures` for tests).

    The current features, or one delivery's (``delivery_id``), or every version (``current_only=False``).
    """
    spec = bundled_catalogue()[layer] if isinstance(layer, str) else layer
    common: dict[str, Any] = {"bbox": bbox, "where": where or {}, "limit": limit, "offset": offset, "fid": fid}
    if spec.versioned and (delivery_id is not None or not current_only):
        return LayerVersions(spec, delivery_id=delivery_id, **common).frame(conn)
    return CurrentFeatures(spec, **common).frame(conn)
