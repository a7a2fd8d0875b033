"""Shoreline zone stretches per bank, including the deliberate gap, overlap and protected-share mix."""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely
from shapely.geometry import LineString
from shapely.ops import substring

from gis_service.demo.district import RiverPlan
from gis_service.demo.geometry import chainage
from gis_service.demo.vocabulary import (
    CONTROLLED,
    DEVELOPED,
    LEFT,
    NOTE,
    PROTECTED,
    RESERVED,
    RIGHT,
    ZONE_BASIS,
    ZONE_FIELDS,
    pick,
)

GAP_RIVER = "WS003"  # one ~300 m stretch of its left bank has no zone
OVERLAP_RIVER = "WS005"  # two stretches of its right bank overlap by ~200 m
ZONE_OFFSET_M = 10.0  # zone stretches run along each bank, 10 m from the centerline
END_TRIM_M = 0.001  # metres: stretches stop 1 mm short of the river ends, inside the flat-capped range


def _bank_stretches(length: float, share: float, rng: np.random.Generator) -> list[tuple[float, float, str]]:
    """Split one bank (0..length m of chainage) into zone stretches with ``share`` protected+reserved."""
    n = max(4, int(round(length / rng.uniform(1500.0, 2300.0))))
    k = min(max(int(round(n * share)), 1), n - 1)
    groups = rng.permutation(np.array([True] * k + [False] * (n - k)))
    types: list[str] = []
    for protect in groups:
        options = [
            z for z in ((PROTECTED, RESERVED) if protect else (CONTROLLED, DEVELOPED)) if not types or z != types[-1]
        ]
        types.append(pick(rng, options))
    weights = rng.uniform(0.6, 1.4, n)
    lengths = np.where(
        groups,
        weights / weights[groups].sum() * share * length,
        weights / weights[~groups].sum() * (1 - share) * length,
    )
    breaks = np.round(np.concatenate([[0.0], np.cumsum(lengths)]) / 10.0) * 10.0
    breaks[-1] = length
    return [(float(breaks[i]), float(breaks[i + 1]), types[i]) for i in range(n)]


def _river_zones(plan: RiverPlan, rng: np.random.Generator) -> dict[str, list[tuple[float, float, str]]]:
    """Return the planned zone stretches per bank, with the deliberate gap or overlap applied."""
    for _ in range(100):
        banks = {bank: _bank_stretches(plan.length_m, plan.protected_share, rng) for bank in (LEFT, RIGHT)}
        seen = {z for stretches in banks.values() for _, _, z in stretches}
        short = min(e - s for stretches in banks.values() for s, e, _ in stretches)
        if len(seen) == 4 and short >= 400.0:
            break
    if plan.code == GAP_RIVER:
        left = banks[LEFT]
        j = len(left) // 2
        s, e, z = left[j - 1]
        left[j - 1] = (s, e - 300.0, z)
    if plan.code == OVERLAP_RIVER:
        right = banks[RIGHT]
        j = len(right) // 2
        s, e, z = right[j - 1]
        right[j - 1] = (s, e + 200.0, z)
    return banks


def zone_features(
    plan: RiverPlan, line: LineString, rng: np.random.Generator
) -> tuple[list[dict[str, Any]], list[LineString]]:
    """Return the zone rows and stretch lines of one river, left bank then right, 10 m off the centerline."""
    rows: list[dict[str, Any]] = []
    geoms: list[LineString] = []
    for bank, stretches in _river_zones(plan, rng).items():
        sign = 1.0 if bank == LEFT else -1.0
        shore = shapely.offset_curve(line, sign * ZONE_OFFSET_M, quad_segs=16)
        letter = "L" if bank == LEFT else "R"
        for i, (s0, s1, zone_type) in enumerate(stretches):
            # 1 mm off the river's two ends keeps the stretch strictly inside the flat-capped range.
            d0 = max(shore.project(line.interpolate(s0)), END_TRIM_M)
            d1 = min(shore.project(line.interpolate(s1)), shore.length - END_TRIM_M)
            geoms.append(substring(shore, d0, d1))
            rows.append(
                {
                    ZONE_FIELDS["code"]: f"{plan.code}-{letter}{i + 1:02d}",
                    ZONE_FIELDS["river_code"]: plan.code,
                    ZONE_FIELDS["bank"]: bank,
                    ZONE_FIELDS["zone_type"]: zone_type,
                    ZONE_FIELDS["start_chainage"]: chainage(s0),
                    ZONE_FIELDS["end_chainage"]: chainage(s1),
                    ZONE_FIELDS["basis"]: pick(rng, ZONE_BASIS[zone_type]),
                    ZONE_FIELDS["note"]: NOTE,
                }
            )
    return rows, geoms
