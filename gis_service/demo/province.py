"""Province-scale benchmark set: 10 000 rivers, 200 000 zone stretches, 100 000 problem sites, vectorised.

Everything is built in a planar metre frame with numpy and shapely array functions, then turned back into
EPSG:4490 lon/lat and written as UTF-8 GeoPackages.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from shapely.geometry import MultiPoint, Polygon, box

from gis_service.demo.geometry import FloatArray
from gis_service.demo.vocabulary import (
    AS_OF,
    BENCH_NOTE,
    BOUNDARY_FIELDS,
    LEFT,
    PROBLEM_CATEGORIES,
    PROBLEM_FIELDS,
    PROBLEM_SOURCES,
    PROBLEM_STATUSES,
    PROVINCE_CRS,
    PROVINCE_EXTENT,
    RIGHT,
    RIVER_FIELDS,
    SURNAMES,
    SURVEYORS,
    TOWN_FIELDS,
    ZONE_BASIS,
    ZONE_FIELDS,
    ZONE_TYPES,
)
from gis_service.demo.writing import write_gpkg
from gis_service.demo.zoning import END_TRIM_M, ZONE_OFFSET_M

N_RIVERS = 10_000
N_VERTICES = 31  # 30 segments: 10 zone stretches per bank of 3 segments each
ZONES_PER_BANK = 10
N_PROBLEMS = 100_000
N_TOWNS = 100
NAME_CHARS = "东南西北青石龙凤清白黄金银竹桃李梅松柏杨柳马牛鹿岩溪沙泉塘坝桥坪湾坎垭岗峰林山水河口"

# Province problems: a short (description, measure) pair per category, three each.
PROVINCE_PHRASES: dict[str, tuple[tuple[str, str], ...]] = {
    "乱占": (
        ("河滩地被围垦种植", "清退种植，恢复河滩地原貌"),
        ("擅自圈占河岸堆放建材", "清退占用土地并复绿"),
        ("围网养殖侵占水域", "拆除围网，恢复水域"),
    ),
    "乱采": (
        ("疑似非法采砂", "依法查处并回填采坑"),
        ("河岸取土挖损", "立案查处，修复岸坡"),
        ("河床内发现采砂机具", "没收采砂机具，恢复河床原状"),
    ),
    "乱堆": (
        ("倾倒建筑垃圾", "清运建筑垃圾并设立警示牌"),
        ("堆放生活垃圾", "清运垃圾，落实河岸保洁责任"),
        ("堆放煤矸石", "清运煤矸石并整治堆场"),
    ),
    "乱建": (
        ("新建房屋未办理涉河审批", "依法拆除违法建筑"),
        ("搭建彩钢棚", "拆除彩钢棚并恢复原状"),
        ("擅自修建临河挡墙", "按审批要求整改挡墙"),
    ),
    "妨碍河道行洪": (
        ("阻水建筑物压缩过水断面", "拆除阻水建筑物"),
        ("成片种植林木阻碍行洪", "清除河道内阻水林木"),
        ("修筑围堤缩窄河道", "拆除围堤并清运弃土"),
    ),
}


class _LocalFrame:
    """A planar metre frame around the province centre (equirectangular, scale error ≈ ±2 %)."""

    def __init__(self, west: float, south: float, east: float, north: float) -> None:
        self.lon0 = (west + east) / 2
        self.lat0 = (south + north) / 2
        self.kx = 111_320.0 * math.cos(math.radians(self.lat0))
        self.ky = 110_574.0

    def to_metres(self, lon: FloatArray, lat: FloatArray) -> FloatArray:
        """Return (x, y) metres for lon/lat arrays."""
        return np.stack([(lon - self.lon0) * self.kx, (lat - self.lat0) * self.ky], axis=-1)

    def to_degrees(self, geoms: npt.NDArray[np.object_]) -> npt.NDArray[np.object_]:
        """Return the geometries with their coordinates turned back into lon/lat."""
        scale = np.array([self.kx, self.ky])
        origin = np.array([self.lon0, self.lat0])
        out: npt.NDArray[np.object_] = shapely.transform(geoms, lambda xy: xy / scale + origin)
        return out


def _k_strings(metres: FloatArray) -> npt.NDArray[np.str_]:
    """Vectorised :func:`chainage`."""
    m = np.rint(metres).astype(np.int64)
    km = (m // 1000).astype(str)
    rest = np.char.zfill((m % 1000).astype(str), 3)
    return np.char.add(np.char.add(np.char.add("K", km), "+"), rest)


def _numbered(prefix: str, numbers: npt.NDArray[np.integer[Any]], width: int) -> npt.NDArray[np.str_]:
    """Return ``prefix`` followed by zero-padded numbers, vectorised."""
    return np.char.add(prefix, np.char.zfill(numbers.astype(str), width))


def _masked(mask: npt.NDArray[np.bool_], values: npt.NDArray[Any]) -> npt.NDArray[np.object_]:
    """Return ``values`` where ``mask`` holds and None elsewhere, as an object array."""
    out = np.full(len(values), None, dtype=object)
    out[mask] = values[mask]
    return out


def _dates(days: npt.NDArray[np.int64], start: dt.date) -> npt.NDArray[np.str_]:
    """Return ``YYYY-MM-DD`` strings for day offsets from ``start``."""
    return np.datetime_as_string(np.datetime64(start.isoformat(), "D") + days, unit="D")


def _vertex_normals(coords: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Return per-vertex left normals (mitred) and per-segment left normals of (N, V, 2) lines."""
    seg = np.diff(coords, axis=1)
    seg_dir = seg / np.linalg.norm(seg, axis=-1, keepdims=True)
    tangent = np.empty_like(coords)
    tangent[:, 0] = seg_dir[:, 0]
    tangent[:, -1] = seg_dir[:, -1]
    tangent[:, 1:-1] = seg_dir[:, :-1] + seg_dir[:, 1:]
    length = np.linalg.norm(tangent, axis=-1, keepdims=True)
    # Inner vertices: the sum of two unit directions has length 2·cos(half the turn), the mitre factor.
    cos_half = np.ones_like(length)
    cos_half[:, 1:-1] = np.clip(length[:, 1:-1] / 2.0, 0.5, 1.0)
    tangent = tangent / length
    vertex_normal = np.stack([-tangent[..., 1], tangent[..., 0]], axis=-1) / cos_half
    seg_normal = np.stack([-seg_dir[..., 1], seg_dir[..., 0]], axis=-1)
    return vertex_normal, seg_normal


def _province_towns(
    rng: np.random.Generator, area: Polygon
) -> tuple[npt.NDArray[np.object_], npt.NDArray[np.str_], npt.NDArray[np.str_]]:
    """Return ~100 town polygons (Voronoi cells clipped to the area) with names and codes."""
    minx, miny, maxx, maxy = area.bounds
    seeds = np.column_stack([rng.uniform(minx, maxx, N_TOWNS), rng.uniform(miny, maxy, N_TOWNS)])
    cells = shapely.voronoi_polygons(MultiPoint(seeds), extend_to=area.buffer(50_000), ordered=True)
    polygons = shapely.intersection(np.asarray(cells.geoms), area)
    pairs = rng.choice(len(NAME_CHARS) ** 2, size=N_TOWNS, replace=False)
    chars = np.array(list(NAME_CHARS))
    names = np.char.add(np.char.add(chars[pairs // len(NAME_CHARS)], chars[pairs % len(NAME_CHARS)]), "镇")
    codes = _numbered("5001", np.arange(1, N_TOWNS + 1), 5)
    return polygons, names, codes


@dataclass
class _ProvinceRivers:
    """Province river centerlines as (N, V, 2) metre arrays plus what the other layers need."""

    coords: FloatArray
    cum: FloatArray
    seg_len: FloatArray
    vertex_normal: FloatArray
    seg_normal: FloatArray
    width: FloatArray
    lines: npt.NDArray[np.object_]
    codes: npt.NDArray[np.str_]
    names: npt.NDArray[np.str_]


def _province_rivers(rng: np.random.Generator, area: Polygon) -> _ProvinceRivers:
    """Return N_RIVERS westward rivers: a chord with three sine waves across it, pinned at both ends."""
    n, v = N_RIVERS, N_VERTICES
    minx, miny, maxx, maxy = area.bounds
    margin = 15_000.0
    mid = np.column_stack([rng.uniform(minx + margin, maxx - margin, n), rng.uniform(miny + margin, maxy - margin, n)])
    chord = rng.uniform(4_000.0, 20_000.0, n)
    theta = math.pi + rng.uniform(-0.7, 0.7, n)
    along = np.column_stack([np.cos(theta), np.sin(theta)])
    normal = np.column_stack([-along[:, 1], along[:, 0]])
    steps = rng.uniform(0.6, 1.4, (n, v - 1))
    t = np.concatenate([np.zeros((n, 1)), np.cumsum(steps, axis=1)], axis=1)
    t /= t[:, -1:]
    freq = np.column_stack([rng.uniform(0.5, 1.2, n), rng.uniform(1.5, 2.5, n), rng.uniform(2.8, 3.6, n)])
    # Amplitude ∝ chord / frequency keeps the bend radius above ~300 m, so 60 m offsets stay clean.
    amp = 0.03 * chord[:, None] * rng.uniform(0.3, 1.0, (n, 3)) / freq
    phase = rng.uniform(0.0, 2 * math.pi, (n, 3))
    angle = 2 * math.pi * freq[:, :, None] * t[:, None, :] + phase[:, :, None]
    wave = (amp[:, :, None] * np.sin(angle)).sum(axis=1)
    wave -= wave[:, :1] * (1 - t) + wave[:, -1:] * t
    source = mid - along * chord[:, None] / 2
    coords = (
        source[:, None, :]
        + t[:, :, None] * (along * chord[:, None])[:, None, :]
        + wave[:, :, None] * normal[:, None, :]
    )
    seg_len = np.linalg.norm(np.diff(coords, axis=1), axis=-1)
    cum = np.concatenate([np.zeros((n, 1)), np.cumsum(seg_len, axis=1)], axis=1)
    vertex_normal, seg_normal = _vertex_normals(coords)
    chars = np.array(list(NAME_CHARS))
    suffix = np.array(["河", "溪", "沟", "江"])[rng.choice(4, n, p=[0.5, 0.25, 0.2, 0.05])]
    first, second = chars[rng.integers(0, len(chars), n)], chars[rng.integers(0, len(chars), n)]
    return _ProvinceRivers(
        coords=coords,
        cum=cum,
        seg_len=seg_len,
        vertex_normal=vertex_normal,
        seg_normal=seg_normal,
        width=rng.uniform(15.0, 60.0, n),
        lines=shapely.linestrings(coords),
        codes=_numbered("CQ", np.arange(1, n + 1), 5),
        names=np.char.add(np.char.add(first, second), suffix),
    )


def _province_river_frame(
    rng: np.random.Generator, rivers: _ProvinceRivers, towns: npt.NDArray[np.object_], town_names: npt.NDArray[np.str_]
) -> dict[str, Any]:
    """Return the river attribute columns (towns passed from an STRtree join)."""
    n = len(rivers.lines)
    hit_river, hit_town = shapely.STRtree(towns).query(rivers.lines, predicate="intersects")
    passed = (
        pd.Series(town_names[hit_town], index=hit_river)
        .groupby(level=0)
        .agg(",".join)
        .reindex(range(n), fill_value="")
        .to_numpy()
    )
    level = np.array(["区级", "镇级", "村级"])[rng.choice(3, n, p=[0.1, 0.6, 0.3])]
    surnames = np.array(list(SURNAMES))[rng.integers(0, len(SURNAMES), n)]
    return {
        RIVER_FIELDS["code"]: rivers.codes,
        RIVER_FIELDS["name"]: rivers.names,
        RIVER_FIELDS["level"]: level,
        RIVER_FIELDS["important"]: np.where((level == "区级") | (rng.random(n) < 0.05), "是", "否"),
        RIVER_FIELDS["basin_area_km2"]: np.round(rivers.cum[:, -1] / 1000.0 * rng.uniform(1.5, 6.0, n), 1),
        RIVER_FIELDS["towns"]: passed,
        RIVER_FIELDS["chiefs"]: np.char.add(np.char.add(surnames, "某某（"), np.char.add(level, "）")),
        RIVER_FIELDS["note"]: BENCH_NOTE,
    }


def _province_ranges(rivers: _ProvinceRivers) -> npt.NDArray[np.object_]:
    """Return one range polygon per river: its two bank lines at the range width, closed."""
    offset = rivers.vertex_normal * rivers.width[:, None, None]
    left, right = rivers.coords + offset, rivers.coords - offset
    ranges = shapely.polygons(np.concatenate([left, right[:, ::-1], left[:, :1]], axis=1))
    bad = ~shapely.is_valid(ranges)
    if bad.any():
        ranges[bad] = shapely.buffer(rivers.lines[bad], rivers.width[bad], cap_style="flat")
    out: npt.NDArray[np.object_] = ranges
    return out


def _province_zones(
    rng: np.random.Generator, rivers: _ProvinceRivers
) -> tuple[dict[str, Any], npt.NDArray[np.object_]]:
    """Return zone columns and lines: per river and bank, 10 stretches of 3 segments, 10 m out."""
    n = len(rivers.lines)
    per = (N_VERTICES - 1) // ZONES_PER_BANK
    shift = rivers.vertex_normal * ZONE_OFFSET_M
    shore = np.stack([rivers.coords + shift, rivers.coords - shift], axis=1)  # (N, bank, V, 2)
    # 1 mm off the river's two ends keeps the end stretches strictly inside the range polygon.
    for end, inner in ((0, 1), (-1, -2)):
        step = shore[:, :, inner] - shore[:, :, end]
        shore[:, :, end] += step / np.linalg.norm(step, axis=-1, keepdims=True) * END_TRIM_M
    idx = per * np.arange(ZONES_PER_BANK)[:, None] + np.arange(per + 1)[None, :]
    lines = shapely.linestrings(shore[:, :, idx].reshape(-1, per + 1, 2))  # order: river, bank, stretch
    count = len(lines)
    starts = rivers.cum[:, per * np.arange(ZONES_PER_BANK)]
    ends = rivers.cum[:, per * (np.arange(ZONES_PER_BANK) + 1)]
    river = np.repeat(np.arange(n), 2 * ZONES_PER_BANK)
    letter = np.tile(np.repeat(np.array(["-L", "-R"]), ZONES_PER_BANK), n)
    serial = np.tile(np.arange(1, ZONES_PER_BANK + 1), 2 * n)
    protect = rng.random(count) < rng.uniform(0.25, 0.75, n)[river]
    first = rng.random(count) < 0.5
    type_index = np.where(protect, np.where(first, 0, 1), np.where(first, 2, 3))
    basis_table = np.array([list(ZONE_BASIS[z][:4]) for z in ZONE_TYPES])
    columns = {
        ZONE_FIELDS["code"]: np.char.add(np.char.add(rivers.codes[river], letter), _numbered("", serial, 2)),
        ZONE_FIELDS["river_code"]: rivers.codes[river],
        ZONE_FIELDS["bank"]: np.tile(np.repeat(np.array([LEFT, RIGHT]), ZONES_PER_BANK), n),
        ZONE_FIELDS["zone_type"]: np.array(ZONE_TYPES)[type_index],
        ZONE_FIELDS["start_chainage"]: np.repeat(_k_strings(starts)[:, None, :], 2, axis=1).reshape(-1),
        ZONE_FIELDS["end_chainage"]: np.repeat(_k_strings(ends)[:, None, :], 2, axis=1).reshape(-1),
        ZONE_FIELDS["basis"]: basis_table[type_index, rng.integers(0, 4, count)],
        ZONE_FIELDS["note"]: BENCH_NOTE,
    }
    return columns, lines


def _province_problems(
    rng: np.random.Generator,
    rivers: _ProvinceRivers,
    towns: npt.NDArray[np.object_],
    town_names: npt.NDArray[np.str_],
    sites: int = N_PROBLEMS,
) -> tuple[dict[str, Any], npt.NDArray[np.object_]]:
    """Return ``sites`` problem columns and points: along random river segments, 85 % inside the range."""
    p, n = sites, len(rivers.lines)
    river = rng.integers(0, n, p)
    seg = rng.integers(0, N_VERTICES - 1, p)
    u = rng.random(p)
    outside = rng.random(p) < 0.15
    side = np.where(rng.random(p) < 0.5, 1.0, -1.0)
    width = rivers.width[river]
    offset = np.where(outside, width + rng.uniform(10.0, 800.0, p), rng.uniform(0.0, 0.9, p) * width)
    c0, c1 = rivers.coords[river, seg], rivers.coords[river, seg + 1]
    xy = c0 + u[:, None] * (c1 - c0) + rivers.seg_normal[river, seg] * (side * offset)[:, None]
    points = shapely.points(xy)

    category = rng.choice(5, p, p=[0.25, 0.10, 0.30, 0.20, 0.15])
    status = rng.choice(8, p, p=[0.05, 0.05, 0.06, 0.10, 0.14, 0.12, 0.42, 0.06])
    statuses = np.array(PROBLEM_STATUSES)[status]
    day0 = dt.date(2022, 1, 1)
    found_days = np.sort(rng.integers(0, (dt.date(2024, 12, 20) - day0).days + 1, p))
    deadline_days = found_days + rng.integers(2, 16, p) + rng.choice([30, 60, 90, 120, 180], p)
    closed_days = np.minimum(deadline_days + rng.integers(-25, 31, p), (AS_OF - day0).days)
    closed_days = np.maximum(closed_days, found_days + 7)
    found = _dates(found_days, day0)
    years = pd.Series(found).str[:4]
    serial = years.groupby(years).cumcount().to_numpy() + 1
    codes = np.char.add(np.char.add("QSL-", years.to_numpy().astype(str)), _numbered("-", serial, 6))

    chainages = _k_strings(rivers.cum[river, seg] + u * rivers.seg_len[river, seg])
    where = np.char.add(np.char.add(rivers.names[river], np.where(side > 0, LEFT, RIGHT)), chainages)
    pairs = np.array([[list(pair) for pair in PROVINCE_PHRASES[c]] for c in PROBLEM_CATEGORIES])  # (5, 3, 2)
    variant = rng.integers(0, 3, p)
    description = np.char.add(np.char.add(where, "附近"), pairs[category, variant, 0])
    measures = pairs[category, variant, 1]

    in_point, in_town = shapely.STRtree(towns).query(points, predicate="within")
    town = np.full(p, town_names[0])
    town[in_point] = town_names[in_town]
    units = np.array(["区城市管理局", "区规划和自然资源局", "区生态环境局", "区水利局"])
    unit = np.where(rng.random(p) < 0.5, np.char.add(town, "人民政府"), units[rng.integers(0, 4, p)])
    assigned = status >= 3  # 已交办 and later
    columns = {
        PROBLEM_FIELDS["code"]: codes,
        PROBLEM_FIELDS["category"]: np.array(PROBLEM_CATEGORIES)[category],
        PROBLEM_FIELDS["description"]: description,
        PROBLEM_FIELDS["found_date"]: found,
        PROBLEM_FIELDS["source"]: np.array(PROBLEM_SOURCES)[rng.choice(4, p, p=[0.45, 0.15, 0.20, 0.20])],
        PROBLEM_FIELDS["status"]: statuses,
        PROBLEM_FIELDS["deadline"]: _masked(assigned, _dates(deadline_days, day0)),
        PROBLEM_FIELDS["responsible_unit"]: _masked((status != 0) & (status != 2), unit),
        PROBLEM_FIELDS["measures"]: _masked(assigned, measures),
        PROBLEM_FIELDS["closed_date"]: _masked(statuses == "已销号", _dates(closed_days, day0)),
        PROBLEM_FIELDS["note"]: BENCH_NOTE,
    }
    return columns, points


def generate_province(out_dir: Path, rng: np.random.Generator, sites: int = N_PROBLEMS) -> dict[str, int]:
    """Build and write the province-scale benchmark GeoPackages (``sites`` problem sites); return the counts.

    The other layers do not depend on ``sites`` (their draws come first): a 1 000 000-site set has the
    same rivers, towns and zones as the 100 000-site one.
    """
    west, south, east, north = PROVINCE_EXTENT
    frame = _LocalFrame(west, south, east, north)
    corners = frame.to_metres(np.array([west, east]), np.array([south, north]))
    area = box(corners[0, 0], corners[0, 1], corners[1, 0], corners[1, 1])

    rivers = _province_rivers(rng, area)
    towns, town_names, town_codes = _province_towns(rng, area)
    river_columns = _province_river_frame(rng, rivers, towns, town_names)
    ranges = _province_ranges(rivers)
    range_columns = {
        BOUNDARY_FIELDS["river_code"]: rivers.codes,
        BOUNDARY_FIELDS["surveyor"]: np.array(SURVEYORS)[rng.integers(0, len(SURVEYORS), len(rivers.codes))],
        BOUNDARY_FIELDS["survey_date"]: _dates(rng.integers(0, 1000, len(rivers.codes)), dt.date(2021, 1, 1)),
        BOUNDARY_FIELDS["note"]: BENCH_NOTE,
    }
    zone_columns, zone_lines = _province_zones(rng, rivers)
    problem_columns, points = _province_problems(rng, rivers, towns, town_names, sites)
    town_columns = {TOWN_FIELDS["code"]: town_codes, TOWN_FIELDS["name"]: town_names, TOWN_FIELDS["note"]: BENCH_NOTE}

    layers = {
        "towns": (town_columns, towns),
        "rivers": (river_columns, rivers.lines),
        "boundaries": (range_columns, ranges),
        "zones": (zone_columns, zone_lines),
        "problems": (problem_columns, points),
    }
    counts: dict[str, int] = {}
    for name, (columns, geoms) in layers.items():
        layer = gpd.GeoDataFrame(columns, geometry=frame.to_degrees(geoms), crs=PROVINCE_CRS)
        write_gpkg(layer, out_dir / f"{name}.gpkg", name)
        counts[name] = len(layer)
    return counts
