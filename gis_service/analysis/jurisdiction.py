"""Jurisdiction of a site: the river it belongs to, its town, and whether it lies in the managed range."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd


def derive_jurisdiction(
    sites: gpd.GeoDataFrame,
    rivers: gpd.GeoDataFrame,
    ranges: gpd.GeoDataFrame,
    towns: gpd.GeoDataFrame,
    max_distance_m: float,
) -> pd.DataFrame:
    """Return ``river_code``, ``town`` and ``inside_range`` for each site (index aligned with ``sites``).

    A site belongs to the river whose approved management range contains it; a site inside
    no range belongs to the nearest centerline within ``max_distance_m``. Inputs share one CRS.
    """
    out = pd.DataFrame(index=sites.index, data={"river_code": None, "town": None, "inside_range": False})
    if sites.empty:
        return out
    points = gpd.GeoDataFrame(geometry=sites.geometry.representative_point(), crs=sites.crs)
    metric = points.estimate_utm_crs()
    if not ranges.empty:
        hits = gpd.sjoin(points, ranges[["river_code", "geometry"]], predicate="within", how="inner")
        if not hits.empty:
            # A site in two ranges (a confluence) goes to the nearer centerline of the two.
            if hits.index.duplicated().any() and not rivers.empty:
                centre = rivers.set_index("code").geometry.to_crs(metric)
                pts = points.geometry.to_crs(metric)
                dist = [
                    centre[c].distance(pts[i]) if c in centre.index else np.inf
                    for i, c in zip(hits.index, hits["river_code"], strict=True)
                ]
                hits = hits.assign(_d=dist).sort_values("_d")
            hits = hits[~hits.index.duplicated(keep="first")]
            out.loc[hits.index, "river_code"] = hits["river_code"]
            out.loc[hits.index, "inside_range"] = True
    rest = out.index[out["river_code"].isna()]
    if len(rest) and not rivers.empty:
        near = gpd.sjoin_nearest(
            points.loc[rest].to_crs(metric),
            rivers[["code", "geometry"]].to_crs(metric),
            max_distance=max_distance_m,
            how="inner",
        )
        near = near[~near.index.duplicated(keep="first")]
        out.loc[near.index, "river_code"] = near["code"]
    if not towns.empty:
        in_town = gpd.sjoin(points, towns[["name", "geometry"]], predicate="within", how="inner")
        in_town = in_town[~in_town.index.duplicated(keep="first")]
        out.loc[in_town.index, "town"] = in_town["name"]
    out["inside_range"] = out["inside_range"].astype(bool)
    return out
