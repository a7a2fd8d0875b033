"""Deterministic synthetic data for the River Chief (河长制) GIS service.

``scale="demo"`` writes a small, clearly labelled synthetic dataset inside the real extent of
Wansheng (万盛经开区) the way surveyors deliver it: GBK-encoded ESRI Shapefiles in EPSG:4524
(CGCS2000 3° Gauss-Krüger zone 36, eastings with the zone prefix), Chinese or pinyin-initial
field names from the layer catalogue's aliases, and Chinese value labels (左岸, 岸线保护区, 已销号…).
Nothing in it is real: every feature carries the note “演示数据（虚构）”.

``scale="province"`` writes a large benchmark set (10 000 rivers, 200 000 zone stretches,
100 000 problem sites) over a Chongqing-sized area as UTF-8 GeoPackages in EPSG:4490, built with
numpy and shapely array functions only.

The same seed gives the same attribute values and geometries. Regenerate the bundled demo with
``python -m gis_service.demo.generator -o shapefiles``.

This module is the entry point; the parts live beside it: ``vocabulary`` (CRS, field names, labels),
``geometry`` (projection, meanders, offsets, chainage), ``district`` (towns, rivers, ranges, stakes),
``zoning`` (zone stretches), ``sites`` (outfalls, problem sites), ``province`` (the benchmark set) and
``writing`` (Shapefile/GeoPackage writers, README).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
from shapely.geometry import LineString

from gis_service.demo.district import RIVERS, RangeLayers, demo_rivers, demo_towns, river_frame
from gis_service.demo.geometry import district_polygon
from gis_service.demo.province import N_PROBLEMS, generate_province
from gis_service.demo.sites import demo_outfalls, demo_problems
from gis_service.demo.vocabulary import DEMO_CRS
from gis_service.demo.writing import write_demo
from gis_service.demo.zoning import zone_features


def _generate_demo(out_dir: Path, rng: np.random.Generator) -> dict[str, int]:
    """Build and write the Wansheng demo Shapefiles and README; return the feature counts."""
    district = district_polygon()
    towns = demo_towns(district)
    lines, passed = demo_rivers(rng, towns)
    rivers = river_frame(rng, lines, passed)

    # One pass over the rivers, ranges before zones per river: the draws from rng stay in the seeded order.
    ranges = RangeLayers()
    zone_rows: list[dict[str, Any]] = []
    zone_geoms: list[LineString] = []
    for plan, line in zip(RIVERS, lines, strict=True):
        ranges.add_river(plan, line, rng)
        rows, geoms = zone_features(plan, line, rng)
        zone_rows += rows
        zone_geoms += geoms

    # The dict order is the file order in the README and the draw order: outfalls before problems.
    layers: dict[str, gpd.GeoDataFrame] = {
        "towns": towns,
        "rivers": rivers,
        **ranges.frames(),
        "zones": gpd.GeoDataFrame(zone_rows, geometry=zone_geoms, crs=DEMO_CRS),
        "outfalls": demo_outfalls(rng, lines, towns),
        "problems": demo_problems(rng, lines, ranges.ranges, towns, district),
    }
    return write_demo(out_dir, layers)


def generate(out_dir: Path, scale: str = "demo", seed: int = 2022, sites: int | None = None) -> dict[str, int]:
    """Write the synthetic dataset of ``scale`` (demo or province) into ``out_dir``; return counts per layer.

    ``sites`` sets the province set's problem sites (100 000 by default; 1 000 000 for the map benchmark).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    if scale == "demo":
        if sites is not None:
            raise ValueError("sites applies to scale='province' only")
        return _generate_demo(out_dir, rng)
    if scale == "province":
        return generate_province(out_dir, rng, sites or N_PROBLEMS)
    raise ValueError(f"unknown scale {scale!r}: use 'demo' or 'province'")


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: generate a dataset and print the feature counts."""
    parser = argparse.ArgumentParser(
        prog="python -m gis_service.demo.generator",
        description="生成确定性的虚构演示/基准数据 (deterministic synthetic demo or benchmark data).",
    )
    parser.add_argument("--scale", choices=("demo", "province"), default="demo", help="demo (万盛) or province")
    parser.add_argument("--seed", type=int, default=2022, help="random seed (default 2022)")
    parser.add_argument(
        "--sites", type=int, default=None, help="province problem sites (default 100000; 1000000 for the map benchmark)"
    )
    parser.add_argument("-o", "--out", type=Path, required=True, help="output folder")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if args.sites is not None and (args.scale != "province" or args.sites < 1):
        parser.error("--sites 只用于 --scale province，且应为正整数")
    counts = generate(args.out, scale=args.scale, seed=args.seed, sites=args.sites)
    for name, count in counts.items():
        print(f"{name}\t{count}")
    print(f"written to {args.out} in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
