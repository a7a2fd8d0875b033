"""The tables of the ratio check: per river and bank, per river, per town (镇街统计).

Pure functions over the part table's arrays. Sums go through pandas' compensated group sum,
keyed by small integers (a river code's number and the bank), never by strings.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gis_service.analysis.shoreline.polylines import FloatArray, IntArray
from gis_service.analysis.shoreline.ratio_parts import BANKS, ZONE_TYPES, PartTable, river_groups

PARTS_PER_SUM = 65_536  # parts summed at once (whole river codes)
# Per walk (bank, type, protected+reserved): the bank metres of each part an earlier part of its walk covers.
Covered = dict[str, FloatArray]


def sum_by(values: FloatArray, key: IntArray, size: int) -> FloatArray:
    """Return the sums of ``values`` per ``key`` in 0..size-1 (pandas' compensated group sum)."""
    out = np.zeros(size)
    if len(key):
        sums = pd.Series(values).groupby(key).sum()
        out[sums.index.to_numpy()] = sums.to_numpy()
    return out


def put_sums(out: FloatArray, values: FloatArray, key: IntArray) -> None:
    """Set ``out`` at each ``key`` present to the sum of its ``values`` (as :func:`sum_by`, for some keys only)."""
    if len(key):
        sums = pd.Series(values).groupby(key).sum()
        out[sums.index.to_numpy()] = sums.to_numpy()


def distinct_per(group: IntArray, item: IntArray, size: int) -> IntArray:
    """Return, per group 0..size-1, how many distinct ``item`` values it has."""
    if not len(group):
        return np.zeros(size, dtype=np.int64)
    span = int(item.max()) + 1
    pairs = np.sort(group * span + item)
    distinct = pairs[np.concatenate(([True], pairs[1:] != pairs[:-1]))]
    return np.bincount(distinct // span, minlength=size)


def bank_table(
    parts: PartTable, covered: Covered, gaps: pd.DataFrame, overlaps: pd.DataFrame, codes: np.ndarray
) -> pd.DataFrame:
    """Return per (river code, bank): union length, per-type union lengths, protected+reserved, gaps, overlaps."""
    code_id, unique = pd.factorize(codes)
    size = len(unique) * len(BANKS)
    n_types = len(ZONE_TYPES)
    protected = [ZONE_TYPES.index("protected"), ZONE_TYPES.index("reserved")]
    length, per_type, pr = np.zeros(size), np.zeros(size * n_types), np.zeros(size)
    code_of = code_id[parts.river]
    # A few hundred river codes at a time, each code's parts in their order: the sums of one pass over all.
    for rows in river_groups(code_of, PARTS_PER_SUM):
        key = code_of[rows] * len(BANKS) + parts.bank[rows]
        zone_type, part_length = parts.zone_type[rows], parts.length[rows]
        put_sums(length, part_length - covered["bank"][rows], key)
        put_sums(per_type, part_length - covered["type"][rows], key * n_types + zone_type)
        put_sums(pr, np.where(np.isin(zone_type, protected), part_length - covered["pr"][rows], 0.0), key)
        parts.release()
    columns = {"length_m": length, **{t: per_type[i::n_types] for i, t in enumerate(ZONE_TYPES)}, "pr_m": pr}
    for name, issues in (("gaps_m", gaps), ("overlaps_m", overlaps)):
        river = issues["river"].to_numpy(dtype=np.int64)
        bank = pd.Index(BANKS).get_indexer(pd.Index(issues["bank"])).astype(np.int64)
        length = (issues["length_m"] if "length_m" in issues else issues["to_m"] - issues["from_m"]).to_numpy()
        columns[name] = sum_by(length.astype(float), code_id[river] * len(BANKS) + bank, size)
    row = (code_id[:, None] * len(BANKS) + np.arange(len(BANKS))[None, :]).ravel()
    full = pd.MultiIndex.from_product([codes, BANKS], names=["code", "bank"])
    return pd.DataFrame({name: values[row] for name, values in columns.items()}, index=full)


def river_table(
    rivers: pd.DataFrame, codes: np.ndarray, centerline_m: FloatArray, banks: pd.DataFrame, threshold: float
) -> pd.DataFrame:
    """Return per river: code, name, importance, centerline length, bank sums, ratio and compliance."""
    table = pd.DataFrame(
        {
            "code": codes,
            "name": rivers["name"].to_numpy() if "name" in rivers else codes,
            "important": rivers["important"].fillna(False).astype(bool).to_numpy() if "important" in rivers else False,
            "centerline_m": centerline_m,
        }
    )
    table = table.join(_river_sums(banks, codes), on="code")
    table["ratio"] = table["pr_m"] / table["length_m"].where(table["length_m"] > 0)
    table["compliant"] = (table["ratio"] >= threshold - 1e-12) & (table["gaps_m"] == 0) & (table["overlaps_m"] == 0)
    return table


def _river_sums(banks: pd.DataFrame, codes: np.ndarray) -> pd.DataFrame:
    """Return the length, protected+reserved, gaps and overlaps of each river code: the sums of its banks.

    :func:`bank_table` lays out the banks of distinct codes one river after the other, so each river's
    sum is its rows' (in order, from 0.0: what pandas' group sum gives); repeated codes are grouped.
    """
    names = ["length_m", "pr_m", "gaps_m", "overlaps_m"]
    if len(banks) != len(codes) * len(BANKS) or not pd.Index(codes).is_unique:
        return banks.groupby(level=0)[names].sum()
    sums = {}
    for name in names:
        per_bank = banks[name].to_numpy(dtype=float).reshape(len(codes), len(BANKS))
        total = np.zeros(len(codes))
        for i in range(len(BANKS)):
            column = per_bank[:, i]
            total = total + np.where(np.isnan(column), 0.0, column)  # a group sum skips NaN
        sums[name] = total
    return pd.DataFrame(sums, index=pd.Index(codes, name="code"))


def town_totals(
    towns: pd.DataFrame, town: IntArray, zone: IntArray, zone_type: IntArray, length: FloatArray
) -> pd.DataFrame:
    """Return per town (镇街统计) from its pieces (town row, zone, type, length): counts, lengths, shares, ratio."""
    out = towns[["town_code", "town"]].copy()
    # Towns are grouped by name, as the office reads them.
    name_key, names = pd.factorize(out["town"])
    key = name_key[town] if len(town) else town
    n_types = len(ZONE_TYPES)
    sums = sum_by(length, key * n_types + zone_type, len(names) * n_types)
    counts = distinct_per(key, zone, len(names))
    type_counts = distinct_per(key * n_types + zone_type, zone, len(names) * n_types)
    known = name_key >= 0
    at = np.maximum(name_key, 0)
    out["count"] = np.where(known, counts[at], 0).astype(int)
    for i, t in enumerate(ZONE_TYPES):
        out[t] = np.where(known, sums[at * n_types + i], 0.0)
        out[f"{t}_count"] = np.where(known, type_counts[at * n_types + i], 0).astype(int)
    out["length_m"] = out[list(ZONE_TYPES)].sum(axis=1)
    for t in ZONE_TYPES:
        out[f"{t}_share"] = np.where(out["length_m"] > 0, out[t] / out["length_m"].where(out["length_m"] > 0), np.nan)
    out["ratio"] = np.where(
        out["length_m"] > 0, (out["protected"] + out["reserved"]) / out["length_m"].where(out["length_m"] > 0), np.nan
    )
    return out.reset_index(drop=True)
