"""The Wansheng demo district: towns, rivers, management ranges, bank range lines and stakes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry import LineString, MultiPoint, Point, Polygon

from gis_service.demo.geometry import meander, project
from gis_service.demo.vocabulary import (
    BANK_LINE_FIELDS,
    BOUNDARY_FIELDS,
    DEMO_CRS,
    LEFT,
    NOTE,
    RIGHT,
    RIVER_FIELDS,
    STAKE_FIELDS,
    SURNAMES,
    SURVEYORS,
    TOWN_FIELDS,
    iso_date,
    pick,
)


@dataclass(frozen=True)
class TownPlan:
    """One demo town: code, name and the seed point of its Voronoi cell (lon, lat)."""

    code: str
    name: str
    lon: float
    lat: float


@dataclass(frozen=True)
class RiverPlan:
    """One demo river: attributes, course (source in the east, mouth in the west) and zoning targets."""

    code: str
    name: str
    level: str
    important: bool
    basin_km2: float
    width_m: float
    source: tuple[float, float]
    mouth: tuple[float, float]
    length_m: float
    protected_share: float


TOWNS = (
    TownPlan("500110001", "万盛街道", 106.915, 28.960),
    TownPlan("500110002", "东林街道", 106.940, 28.900),
    TownPlan("500110101", "南桐镇", 106.835, 28.905),
    TownPlan("500110102", "青年镇", 107.000, 28.975),
    TownPlan("500110103", "关坝镇", 107.000, 29.070),
    TownPlan("500110104", "丛林镇", 106.820, 29.005),
    TownPlan("500110105", "石林镇", 106.915, 29.050),
    TownPlan("500110106", "金桥镇", 106.785, 29.075),
    TownPlan("500110107", "黑山镇", 107.000, 28.830),
    TownPlan("500110108", "万东镇", 106.870, 28.810),
)

RIVERS = (
    RiverPlan("WS001", "孝子河", "区级", True, 298.6, 60.0, (107.035, 28.985), (106.765, 28.930), 29_200.0, 0.58),
    RiverPlan("WS002", "藻渡河", "区级", True, 132.4, 50.0, (107.030, 28.800), (106.790, 28.845), 26_500.0, 0.42),
    RiverPlan("WS003", "清溪河", "区级", True, 86.3, 45.0, (107.025, 29.075), (106.800, 29.058), 24_000.0, 0.68),
    RiverPlan("WS004", "丛林河", "镇级", False, 36.2, 35.0, (106.950, 29.027), (106.765, 29.008), 19_500.0, 0.36),
    RiverPlan("WS005", "养生河", "区级", True, 58.7, 40.0, (107.030, 28.905), (106.830, 28.875), 22_000.0, 0.62),
    RiverPlan("WS006", "小河", "镇级", False, 18.4, 30.0, (107.035, 29.022), (106.962, 29.012), 8_600.0, 0.56),
)

STAKE_SPACING_M = 500.0  # boundary stakes every ~500 m along each bank range line


def _fake_person(rng: np.random.Generator) -> str:
    """Return an obviously fictitious person name such as 张某某."""
    return f"{SURNAMES[int(rng.integers(len(SURNAMES)))]}某某"


def town_at(point: Point, towns: gpd.GeoDataFrame) -> str:
    """Return the name of the town containing ``point`` (nearest town when on no polygon)."""
    geoms = towns.geometry.values
    inside = np.flatnonzero(shapely.covers(geoms, point))
    if len(inside):
        return str(towns.iloc[int(inside[0])][TOWN_FIELDS["name"]])
    return str(towns.iloc[int(np.argmin(shapely.distance(geoms, point)))][TOWN_FIELDS["name"]])


def demo_towns(district: Polygon) -> gpd.GeoDataFrame:
    """Return the ten towns as Voronoi cells of their seed points, clipped to the district extent."""
    seeds = project([(t.lon, t.lat) for t in TOWNS])
    cells = shapely.voronoi_polygons(MultiPoint(seeds), extend_to=district.buffer(5000), ordered=True)
    polygons = [shapely.intersection(cell, district) for cell in cells.geoms]
    return gpd.GeoDataFrame(
        {
            TOWN_FIELDS["code"]: [t.code for t in TOWNS],
            TOWN_FIELDS["name"]: [t.name for t in TOWNS],
            TOWN_FIELDS["note"]: [NOTE] * len(TOWNS),
        },
        geometry=polygons,
        crs=DEMO_CRS,
    )


def _towns_along(line: LineString, towns: gpd.GeoDataFrame) -> list[str]:
    """Return the towns a centerline crosses, in flow order (ignoring clips shorter than 100 m)."""
    step = 25.0
    samples = shapely.line_interpolate_point(line, np.arange(0.0, line.length, step))
    xs, ys = shapely.get_x(samples), shapely.get_y(samples)
    first: list[tuple[int, str]] = []
    for name, poly in zip(towns[TOWN_FIELDS["name"]], towns.geometry, strict=True):
        hit = np.flatnonzero(shapely.contains_xy(poly, xs, ys))
        if len(hit) * step >= 100.0:
            first.append((int(hit[0]), str(name)))
    return [name for _, name in sorted(first)]


def demo_rivers(rng: np.random.Generator, towns: gpd.GeoDataFrame) -> tuple[list[LineString], list[list[str]]]:
    """Return the river centerlines (flow direction) and the towns each crosses."""
    lines: list[LineString] = []
    passed: list[list[str]] = []
    for plan in RIVERS:
        ends = project([plan.source, plan.mouth])
        line = LineString(meander(ends[0], ends[1], plan.length_m, rng))
        lines.append(line)
        passed.append(_towns_along(line, towns))
    return lines, passed


def _chiefs(plan: RiverPlan, towns: list[str], rng: np.random.Generator) -> str:
    """Return a fictitious river-chief list: district chief (for 区级 rivers) then one per town."""
    names = [f"{_fake_person(rng)}（区级）"] if plan.level == "区级" else []
    names += [f"{_fake_person(rng)}（{town}）" for town in towns]
    return "；".join(names)


def river_frame(rng: np.random.Generator, lines: list[LineString], passed: list[list[str]]) -> gpd.GeoDataFrame:
    """Return the river centerline layer with its attributes (river chiefs drawn from ``rng``)."""
    return gpd.GeoDataFrame(
        {
            RIVER_FIELDS["code"]: [p.code for p in RIVERS],
            RIVER_FIELDS["name"]: [p.name for p in RIVERS],
            RIVER_FIELDS["level"]: [p.level for p in RIVERS],
            RIVER_FIELDS["important"]: ["是" if p.important else "否" for p in RIVERS],
            RIVER_FIELDS["basin_area_km2"]: [p.basin_km2 for p in RIVERS],
            RIVER_FIELDS["towns"]: [",".join(t) for t in passed],
            RIVER_FIELDS["chiefs"]: [_chiefs(p, t, rng) for p, t in zip(RIVERS, passed, strict=True)],
            RIVER_FIELDS["note"]: [NOTE] * len(RIVERS),
        },
        geometry=lines,
        crs=DEMO_CRS,
    )


@dataclass
class RangeLayers:
    """Management ranges, bank range lines and stakes/signs, collected river by river."""

    ranges: list[Polygon] = field(default_factory=list)
    range_rows: list[dict[str, Any]] = field(default_factory=list)
    bank_rows: list[dict[str, Any]] = field(default_factory=list)
    bank_geoms: list[LineString] = field(default_factory=list)
    stake_rows: list[dict[str, Any]] = field(default_factory=list)
    stake_geoms: list[Point] = field(default_factory=list)

    def add_river(self, plan: RiverPlan, line: LineString, rng: np.random.Generator) -> None:
        """Add the range polygon, the two bank range lines and their stakes and signs of one river."""
        surveyor = pick(rng, SURVEYORS)
        survey_day = dt.date(2022, 3, 1) + dt.timedelta(days=int(rng.integers(0, 270)))
        self.ranges.append(line.buffer(plan.width_m, cap_style="flat", join_style="round", quad_segs=16))
        self.range_rows.append(
            {
                BOUNDARY_FIELDS["river_code"]: plan.code,
                BOUNDARY_FIELDS["surveyor"]: surveyor,
                BOUNDARY_FIELDS["survey_date"]: iso_date(survey_day),
                BOUNDARY_FIELDS["note"]: NOTE,
            }
        )
        bank_lines = {
            LEFT: shapely.offset_curve(line, plan.width_m, quad_segs=16),
            RIGHT: shapely.offset_curve(line, -plan.width_m, quad_segs=16),
        }
        for bank, bank_line in bank_lines.items():
            self.bank_rows.append(
                {
                    BANK_LINE_FIELDS["river_code"]: plan.code,
                    BANK_LINE_FIELDS["bank"]: bank,
                    BANK_LINE_FIELDS["surveyor"]: surveyor,
                    BANK_LINE_FIELDS["survey_date"]: iso_date(survey_day),
                    BANK_LINE_FIELDS["note"]: NOTE,
                }
            )
            self.bank_geoms.append(bank_line)
            letter = "L" if bank == LEFT else "R"
            count = max(int(round(bank_line.length / STAKE_SPACING_M)), 1)
            for i, d in enumerate(np.linspace(0.0, bank_line.length, count + 1)):
                self.stake_rows.append(
                    {
                        STAKE_FIELDS["code"]: f"{plan.code}-{letter}-{i + 1:03d}",
                        STAKE_FIELDS["river_code"]: plan.code,
                        STAKE_FIELDS["kind"]: "界桩",
                        STAKE_FIELDS["bank"]: bank,
                        STAKE_FIELDS["note"]: NOTE,
                    }
                )
                self.stake_geoms.append(bank_line.interpolate(float(d)))
        for i, fraction in enumerate((0.03, 0.5, 0.97)):
            bank = LEFT if i % 2 == 0 else RIGHT
            bank_line = bank_lines[bank]
            where = bank_line.project(line.interpolate(fraction * line.length))
            self.stake_rows.append(
                {
                    STAKE_FIELDS["code"]: f"{plan.code}-GS-{i + 1:02d}",
                    STAKE_FIELDS["river_code"]: plan.code,
                    STAKE_FIELDS["kind"]: "告示牌",
                    STAKE_FIELDS["bank"]: bank,
                    STAKE_FIELDS["note"]: NOTE,
                }
            )
            self.stake_geoms.append(bank_line.interpolate(where))

    def frames(self) -> dict[str, gpd.GeoDataFrame]:
        """Return the boundaries, boundary_lines and stakes layers, in that order."""
        return {
            "boundaries": gpd.GeoDataFrame(self.range_rows, geometry=self.ranges, crs=DEMO_CRS),
            "boundary_lines": gpd.GeoDataFrame(self.bank_rows, geometry=self.bank_geoms, crs=DEMO_CRS),
            "stakes": gpd.GeoDataFrame(self.stake_rows, geometry=self.stake_geoms, crs=DEMO_CRS),
        }
