"""GeoJSON documents of a layer's features, as the API and the maps serve them.

Feature pages of the API are assembled from ready Feature texts, which the one read path writes
(:meth:`gis_service.store.current.CurrentFeatures.texts`: in SQL on PostGIS, by shapely otherwise),
so that no feature is parsed back into Python objects just to be written out again.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import geopandas as gpd
import numpy as np
import shapely


def _json_default(value: Any) -> Any:
    """Serialise dates and numpy scalars."""
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def features(gdf: gpd.GeoDataFrame, id_column: str = "id", precision: int | None = None) -> list[dict[str, Any]]:
    """Return GeoJSON Feature dicts of ``gdf`` (properties: every column but the geometry)."""
    geoms = gdf.geometry.values
    if precision is not None:
        geoms = shapely.set_precision(geoms, 10.0**-precision)
    texts = shapely.to_geojson(geoms)
    props = gdf.drop(columns=gdf.geometry.name)
    props = props.astype(object).where(props.notna(), None)
    out = []
    for text, record in zip(texts, props.to_dict("records"), strict=True):
        feature: dict[str, Any] = {"type": "Feature", "geometry": json.loads(text) if text else None}
        if id_column in record:
            feature["id"] = record[id_column]
        feature["properties"] = record
        out.append(feature)
    return out


# One encoder for all: json.dumps with options builds a new one a call, which shows on feature pages.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_json_default)


def dumps(document: Any) -> str:
    """Serialise a GeoJSON document compactly, dates as ISO strings, Chinese as is."""
    return _ENCODER.encode(document)


def collection_text(features: list[str], **members: Any) -> str:
    """Return a FeatureCollection around ready Feature texts, followed by ``members`` (in order)."""
    head = '{"type":"FeatureCollection","features":[' + ",".join(features) + "]"
    return head + ("," + dumps(members)[1:] if members else "}")


def with_members(feature: str, **members: Any) -> str:
    """Return a ready Feature (or other object) text with ``members`` added at its end."""
    return feature[:-1] + ("," + dumps(members)[1:] if members else "}")
