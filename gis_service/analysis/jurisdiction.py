"""Jurisdiction of a site: its river, its town, whether it lies in the managed range, and its shoreline zone.

Pure functions over GeoDataFrames (no database): the ledger and the outfall register call them
with the current approved ranges and zones.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely


def derive_jurisdiction(
    sites: gpd.GeoDataFrame,
    rivers: gpd.GeoDataFrame,
    ranges: gpd.GeoDataFrame,
    towns: gpd.GeoDataFrame,
    max_distance_m: float,
    zones: gpd.GeoDataFrame | None = None,
) -> pd.DataFrame:
    """Return ``river_code``, ``town``, ``inside_range`` and ``zone_type`` for each site (index of ``sites``).

    A site belongs to the river whose approved management range contains it; a site inside
    no range belongs to the nearest centerline within ``max_distance_m``. Its zone is the type
    of the nearest zone stretch of that river within ``max_distance_m`` (see :func:`zone_of_sites`).
    Inputs share one CRS.
    """
    out = pd.DataFrame(
        index=sites.index, data={"river_code": None, "town": None, "inside_range": False, "zone_type": None}
    )
    if sites.empty:
        return out
    points = gpd.GeoDataFrame(geometry=sites.geometry.representative_point(), crs=sites.crs)
    metric = points.estimate_utm_crs()
    if not ranges.empty:
        hits = gpd.sjoin(points, ranges[["river_code", "geometry"]], predicate="within", how="inner")
        if not hits.empty:
            # A site in two ranges (a confluence) goes to the nearer centerline of the two.
            if hits.index.duplicated().any() and not rivers.empty:
                centre = rivers.drop_duplicates("code").set_index("code").geometry.to_crs(metric)
                pts = points.geometry.to_crs(metric).loc[hits.index].to_numpy()
                lines = centre.reindex(hits["river_code"]).to_numpy()
                dist = shapely.distance(pts, lines)  # NaN where the range's river has no centerline
                hits = hits.assign(_d=np.where(np.isnan(dist), np.inf, dist)).sort_values("_d", kind="stable")
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
    if zones is not None and not zones.empty:
        out["zone_type"] = zone_of_sites(points, out["river_code"], zones, max_distance_m)
    return out


def zone_of_sites(
    sites: gpd.GeoDataFrame, river_codes: pd.Series, zones: gpd.GeoDataFrame, max_distance_m: float
) -> pd.Series:
    """Return the zone type of the stretch each site lies on: the nearest zone of its own river.

    Zones are bank lines (or polygons); a site on the bank is metres from its stretch, so the
    nearest zone of the same river within ``max_distance_m`` is the one it lies on. A zone of
    another river (at a confluence) never counts. Sites without a river get None.
    """
    result = pd.Series([None] * len(sites), index=sites.index, dtype=object)
    codes = river_codes.reindex(sites.index)
    if sites.empty or zones.empty or codes.isna().all():
        return result
    metric = sites.estimate_utm_crs()
    pts = sites.geometry.representative_point().to_crs(metric).values
    lines = zones.geometry.to_crs(metric).values
    tree = shapely.STRtree(lines)
    site_i, zone_i = tree.query(pts, predicate="dwithin", distance=max_distance_m)
    if not len(site_i):
        return result
    same = codes.to_numpy()[site_i] == zones["river_code"].to_numpy()[zone_i]
    site_i, zone_i = site_i[same], zone_i[same]
    pairs = pd.DataFrame(
        {
            "site": site_i,
            "zone_type": zones["zone_type"].to_numpy()[zone_i],
            "d": shapely.distance(pts[site_i], lines[zone_i]),
        }
    ).sort_values(["site", "d"], kind="stable")
    nearest = pairs.drop_duplicates("site")
    result.iloc[nearest["site"].to_numpy()] = nearest["zone_type"].to_numpy()
    return result
