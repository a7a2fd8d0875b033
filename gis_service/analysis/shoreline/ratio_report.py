"""The result of the shoreline ratio check: per bank, river, town and in total, with the pieces behind it.

:func:`build_report` turns the per-part table of :mod:`gis_service.analysis.shoreline.ratios` into
:class:`RatioReport`; ``RatioReport.to_json`` gives the JSON fixed in SPEC.md (``rivergis ratios``).
The bank and river figures are computed at once; the stretches, the drawn gaps and overlaps and
the town split are built the first time they are read, so a check that only needs the JSON (an
import's report, ``--format json``) pays only for what it shows.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from gis_service.analysis.shoreline.chainage import CenterlineIndex
from gis_service.analysis.shoreline.polylines import FloatArray, IntArray
from gis_service.analysis.shoreline.ratio_issues import CheckDetail, gap_frame, gap_rows, overlap_frame, overlap_rows
from gis_service.analysis.shoreline.ratio_parts import BANKS, CRS, ZONE_TYPES, PartTable
from gis_service.analysis.shoreline.ratio_stretches import ZoneTable, stretch_frame, town_split
from gis_service.analysis.shoreline.ratio_tables import bank_table, river_table, town_totals
from gis_service.runtime import collector_paused

__all__ = ["BANKS", "CRS", "FLAG_LABELS", "ZONE_TYPES", "RatioReport", "build_report", "each_row"]

FLAG_LABELS = {
    "gap_before": "上游侧有空缺",
    "gap_after": "下游侧有空缺",
    "overlap": "与其他功能区重叠",
    "wrong_side": "位于另一岸",
    "reversed": "逆水流方向绘制",
    "from_polygon": "由面要素量算",
}
_NO_PIECES = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0))


def each_row(frame: pd.DataFrame, index: bool = True) -> Iterator[Any]:
    """Iterate a frame's rows as named tuples (typed loosely: columns are known by name only)."""
    return iter(frame.itertuples(index=index))


def _r(value: Any, digits: int = 2) -> float | None:
    """Round for JSON (None stays None)."""
    return None if value is None or not np.isfinite(value) else round(float(value), digits)


def _ratio(part: float, whole: float) -> float | None:
    """Return ``part / whole`` or None when there is nothing to divide by."""
    return part / whole if whole > 0 else None


def rounded(values: Any, digits: int = 2) -> list[float | None]:
    """Return :func:`_r` of each value, vectorised.

    ``np.rint(v·10^d)/10^d`` equals Python's ``round(v, d)`` unless v·10^d lies within a rounding
    error of a half; those few values (and huge ones) are rounded by Python itself.
    """
    v = np.asarray(values, dtype=float)
    finite = np.isfinite(v)
    scale = 10.0**digits
    y = np.where(finite, v, 0.0) * scale
    out: list[Any] = (np.rint(y) / scale).tolist()
    unsure = finite & ((np.abs(np.abs(y - np.trunc(y)) - 0.5) < 1e-6) | (np.abs(y) > 2.0**40))
    for i in np.flatnonzero(unsure):
        out[i] = round(float(v[i]), digits)
    for i in np.flatnonzero(~finite):
        out[i] = None
    return out


class RatioReport:
    """岸线保护比例核算结果: the check per river and bank, towns, and the stretches, gaps and overlaps."""

    def __init__(
        self,
        *,
        rivers: pd.DataFrame,
        banks: pd.DataFrame,
        towns: pd.DataFrame,
        threshold: float,
        gap_tolerance_m: float,
        warnings: list[str],
        detail: CheckDetail,
    ) -> None:
        self.rivers = rivers
        self.banks = banks
        self.towns = towns
        self.threshold = threshold
        self.gap_tolerance_m = gap_tolerance_m
        self.warnings = warnings
        self._detail = detail

    @cached_property
    def _zone_table(self) -> ZoneTable:
        """Per-zone figures shared by the stretches and the town split."""
        return ZoneTable(self._detail)

    @cached_property
    def stretches(self) -> gpd.GeoDataFrame:
        """One row a zone stretch: bank line, chainage, length, end coordinates and flags (in river order)."""
        return stretch_frame(self._detail, self._zone_table)

    @cached_property
    def gaps(self) -> gpd.GeoDataFrame:
        """The gap pieces: chainage no stretch of the bank covers (head, between, tail, unzoned)."""
        return gap_frame(self._detail)

    @cached_property
    def overlaps(self) -> gpd.GeoDataFrame:
        """The overlap pieces: a stretch's length whose chainage an earlier stretch already claims."""
        return overlap_frame(self._detail)

    @cached_property
    def _town_split(self) -> tuple[IntArray, IntArray, FloatArray]:
        """(town, zone, length) of each piece of a stretch inside a town."""
        return town_split(self._detail, self._zone_table)

    def selected(self, important_only: bool = False) -> pd.DataFrame:
        """Return the river table, important rivers only when asked."""
        return self.rivers[self.rivers["important"]] if important_only else self.rivers

    def _bank_records(self) -> Any:
        """Return the bank table as a dict keyed by (river code, bank), built once."""
        cached = self.__dict__.get("_bank_cache")
        if cached is None:
            cached = self.__dict__["_bank_cache"] = self.banks.to_dict("index")
        return cached

    def river_json(self, row: Any) -> dict[str, Any]:
        """Return one river's entry in the SPEC.md shape."""
        banks = {}
        for bank in BANKS:
            b = self._bank_records()[(row.code, bank)]
            banks[bank] = {
                "length_m": _r(b["length_m"]),
                "zones_m": {t: _r(b[t]) for t in ZONE_TYPES},
                "ratio": _r(_ratio(b["pr_m"], b["length_m"]), 4),
                "gaps_m": _r(b["gaps_m"]),
                "overlaps_m": _r(b["overlaps_m"]),
            }
        return {
            "code": row.code,
            "name": row.name,
            "important": bool(row.important),
            "length_m": _r(row.length_m),
            "ratio": _r(row.ratio, 4),
            "compliant": bool(row.compliant),
            "banks": banks,
        }

    def rivers_json(self, important_only: bool = False) -> list[dict[str, Any]]:
        """Return :meth:`river_json` of every selected river, rounded in one vectorised pass.

        Its dicts are built by comprehensions over the columns, each with its keys written out (the banks and zone
        types unpacked below): an import's 10 000 rivers took 0.11 s so with a loop a river, ``dict(zip(...))`` and
        a pandas reindex a bank, 0.05–0.08 s now (``benchmarks/README.md``, seventeenth session).
        """
        rows = self.selected(important_only)
        codes = rows["code"].to_numpy()
        banks = self.banks[~self.banks.index.duplicated(keep="last")]
        of_code, of_bank = banks.index.get_level_values(0), banks.index.get_level_values(1)
        protected, reserved, controlled, developed = ZONE_TYPES
        per_bank = {}
        for bank in BANKS:
            mine = np.asarray(of_bank == bank)
            column = _aligned(banks[mine], pd.Index(of_code[mine]).get_indexer(codes))
            length = column("length_m")
            ratio = np.divide(column("pr_m"), length, out=np.full(len(length), np.nan), where=length > 0)
            zones_m = [
                {protected: p, reserved: r, controlled: c, developed: d}
                for p, r, c, d in zip(*(rounded(column(t)) for t in ZONE_TYPES), strict=True)
            ]
            per_bank[bank] = [
                {"length_m": length_m, "zones_m": zones, "ratio": ratio_, "gaps_m": gaps, "overlaps_m": overlaps}
                for length_m, zones, ratio_, gaps, overlaps in zip(
                    rounded(length),
                    zones_m,
                    rounded(ratio, 4),
                    rounded(column("gaps_m")),
                    rounded(column("overlaps_m")),
                    strict=True,
                )
            ]
        left, right = BANKS
        return [
            {
                "code": code,
                "name": name,
                "important": bool(important),
                "length_m": length_m,
                "ratio": ratio_,
                "compliant": bool(compliant),
                "banks": {left: on_left, right: on_right},
            }
            for code, name, important, length_m, ratio_, compliant, on_left, on_right in zip(
                rows["code"].tolist(),
                rows["name"].tolist(),
                rows["important"].tolist(),
                rounded(rows["length_m"]),
                rounded(rows["ratio"], 4),
                rows["compliant"].tolist(),
                per_bank[left],
                per_bank[right],
                strict=True,
            )
        ]

    def total(self, important_only: bool = False) -> dict[str, Any]:
        """Return the district total: compliant when the overall ratio reaches the threshold and no gaps/overlaps."""
        rows = self.selected(important_only)
        length, pr = float(rows["length_m"].sum()), float(rows["pr_m"].sum())
        ratio = _ratio(pr, length)
        clean = bool((rows["gaps_m"] == 0).all() and (rows["overlaps_m"] == 0).all())
        return {
            "rivers": int(len(rows)),
            "length_m": _r(length),
            "ratio": _r(ratio, 4),
            "compliant": bool(ratio is not None and ratio >= self.threshold and clean and len(rows) > 0),
        }

    def town_table(self, important_only: bool = False) -> pd.DataFrame:
        """Return per town (镇街统计): stretch count, length per type, shares and ratio."""
        town, zone, length = self._town_split if len(self.towns) else _NO_PIECES
        first_part = self._zone_table.at_start[zone] if len(zone) else zone
        if important_only and len(zone):
            keep = self._detail.important[self._detail.parts.river[first_part]].astype(bool)
            town, zone, length, first_part = town[keep], zone[keep], length[keep], first_part[keep]
        zone_type = self._detail.parts.zone_type[first_part] if len(zone) else zone
        return town_totals(self.towns, town, zone, zone_type, length)

    def to_json(self, important_only: bool = False) -> dict[str, Any]:
        """Return the check as the JSON of SPEC.md, plus per-town totals under ``towns``."""
        with collector_paused():
            return self._json(important_only)

    def _json(self, important_only: bool) -> dict[str, Any]:
        """Build :meth:`to_json`'s body."""
        towns = [
            {
                "code": t.town_code,
                "name": t.town,
                "count": int(t.count),
                "length_m": _r(t.length_m),
                "zones_m": {z: _r(getattr(t, z)) for z in ZONE_TYPES},
                "ratio": _r(t.ratio, 4),
            }
            for t in each_row(self.town_table(important_only), index=False)
        ]
        body: dict[str, Any] = {
            "rivers": self.rivers_json(important_only),
            "total": self.total(important_only),
            "towns": towns,
        }
        if not important_only:
            body["important_total"] = self.total(True)
        if self.warnings:
            body["warnings"] = list(self.warnings)
        return body


def _aligned(table: pd.DataFrame, at: IntArray) -> Any:
    """Return what reads a column of ``table`` at rows ``at`` as floats (NaN where ``at`` is -1, a row it lacks)."""
    found = at >= 0

    def column(name: str) -> FloatArray:
        out = np.full(len(at), np.nan)
        out[found] = table[name].to_numpy(dtype=float)[at[found]]
        return out

    return column


def build_report(
    *,
    rivers: pd.DataFrame,
    zones: gpd.GeoDataFrame,
    parts: PartTable,
    reach: FloatArray,
    holder: IntArray,
    covered: dict[str, FloatArray],
    index: CenterlineIndex,
    towns: gpd.GeoDataFrame | None,
    threshold: float,
    gap_tolerance_m: float,
    overlap_tolerance_m: float,
    warnings: list[str],
) -> RatioReport:
    """Assemble the report from the part table, the bank sweep's reach and holder and the covered lengths of
    the three sweeps."""
    codes = rivers["code"].astype(str).to_numpy()
    overlap = covered["bank"]
    gaps = gap_rows(parts, reach, holder, index, zones, gap_tolerance_m)
    overlaps = overlap_rows(parts, reach, holder, overlap, zones, overlap_tolerance_m)
    banks = bank_table(parts, covered, gaps, overlaps, codes)
    table = river_table(rivers, codes, index.geodesic_length, banks, threshold)
    detail = CheckDetail(
        zones=zones,
        parts=parts,
        index=index,
        codes=codes,
        names=table["name"].to_numpy(),
        important=np.broadcast_to(table["important"].to_numpy(dtype=bool), len(table)),
        reach=reach,
        holder=holder,
        overlap=overlap,
        gap_rows=gaps,
        overlap_rows=overlaps,
        towns=towns,
    )
    return RatioReport(
        rivers=table,
        banks=banks,
        towns=_town_frame(towns),
        threshold=threshold,
        gap_tolerance_m=gap_tolerance_m,
        warnings=warnings,
        detail=detail,
    )


def _town_frame(towns: gpd.GeoDataFrame | None) -> pd.DataFrame:
    """Return the towns' codes and names (no towns: an empty table)."""
    if towns is None or towns.empty:
        return pd.DataFrame(columns=["town_code", "town"])
    return pd.DataFrame(
        {
            "town_code": towns["code"].to_numpy() if "code" in towns else towns["name"].to_numpy(),
            "town": towns["name"].to_numpy(),
        }
    )
