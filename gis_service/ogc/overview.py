"""What a low-zoom vector tile holds: every feature drawn, none hidden, but merged where a screen cannot tell.

Below :data:`DETAIL_ZOOM` a tile is for drawing a district or a province (a z6 tile spans ~600 km:
33 000 problem sites of the province set fall in one). There:

- points in the same screen pixel (1/256 of the tile side, 16 tile units) are one point at their
  mean position, with ``count``: how many features it stands for, and the colour field of the
  catalogue's ``style.color_by`` (e.g. a site's status) when they all share its value (left out
  when they differ); a point standing for one feature keeps its ``id``;
- lines and polygons are simplified to one tile unit, as at every zoom, and carry their ``id`` and
  colour field; one smaller than a pixel both ways (it would draw as one dot) is left out;
- other attributes are left out: a client reads them with ``/items/{id}`` or from zoom
  :data:`DETAIL_ZOOM` on, where every feature is its own, with its attributes.

The filters (``filter``, ``datetime``, queryables) apply before merging, so ``count`` counts the
features that match. PostGIS merges points before projecting them (the projection is most of a
tile's time); SpatiaLite's tiles are built here the same way.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis_service.catalogue import LayerSpec

DETAIL_ZOOM = 10  # from this zoom on every feature is its own, with its attributes
PIXELS = 256  # screen pixels a tile side is drawn in


def colour_field(layer: LayerSpec) -> str | None:
    """Return the field a layer is coloured by on maps (``style.color_by``), or None."""
    name = layer.style.get("color_by")
    return name if isinstance(name, str) and name in layer.field_names else None


def merge_points(frame: gpd.GeoDataFrame, z: int, colour: str | None) -> gpd.GeoDataFrame:
    """Return ``frame``'s points merged per pixel of zoom ``z``, its other shapes as they are.

    The result has ``id`` (None for a merged point), the colour field (None when mixed), ``count`` and
    ``geometry`` (lon/lat); shapes smaller than a pixel both ways are left out.
    """
    geometry = frame.geometry.values
    is_point = np.asarray(shapely.get_type_id(geometry) == 0)
    pixel_deg = 360.0 / (2**z * PIXELS)
    keep = ["id", *([colour] if colour else [])]
    points = pd.DataFrame(frame.loc[is_point, keep])
    lon, lat = shapely.get_x(geometry[is_point]), shapely.get_y(geometry[is_point])
    # Web Mercator's y of a latitude on the unit sphere: the rows of one pixel grid aligned with every tile.
    points["cx"] = np.floor(lon / pixel_deg)
    points["cy"] = np.floor(np.log(np.tan(np.pi / 4 + np.radians(lat) / 2)) / (2 * np.pi / (2**z * PIXELS)))
    points["lon"], points["lat"] = lon, lat
    columns: dict[str, Any] = {"id": ("id", "min"), "count": ("id", "size")}
    columns.update(lon=("lon", "mean"), lat=("lat", "mean"))
    if colour:
        columns.update(low=(colour, "min"), high=(colour, "max"))
    merged = points.groupby(["cx", "cy"], sort=False).agg(**columns).reset_index()
    merged["id"] = merged["id"].where(merged["count"] == 1, None)
    if colour:
        # A pixel's colour when its points share one; none when they differ.
        merged[colour] = merged["low"].where(merged["low"] == merged["high"], None)
    merged_points = gpd.GeoDataFrame(
        merged[keep + ["count"]], geometry=shapely.points(merged["lon"], merged["lat"]), crs=frame.crs
    )
    shapes = frame.loc[~is_point, [*keep, frame.geometry.name]]
    bounds = shapely.bounds(shapes.geometry.values)
    width, height = bounds[:, 2] - bounds[:, 0], bounds[:, 3] - bounds[:, 1]
    seen = (width >= pixel_deg) | (height >= pixel_deg * np.cos(np.radians(bounds[:, 3])))
    shapes = gpd.GeoDataFrame(shapes.loc[seen].assign(count=None), geometry=frame.geometry.name, crs=frame.crs)
    if shapes.geometry.name != "geometry":
        shapes = shapes.rename_geometry("geometry")
    both: Any = pd.concat([merged_points, shapes], ignore_index=True)
    return gpd.GeoDataFrame(both, geometry="geometry", crs=frame.crs)
