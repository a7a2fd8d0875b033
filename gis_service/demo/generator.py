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
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyogrio
import shapely
from pyproj import Transformer
from shapely.geometry import LineString, MultiPoint, Point, Polygon, box
from shapely.ops import substring

FloatArray = npt.NDArray[np.float64]

DEMO_CRS = "EPSG:4524"
PROVINCE_CRS = "EPSG:4490"
GEOGRAPHIC_CRS = "EPSG:4490"
DEMO_EXTENT = (106.75, 28.77, 107.05, 29.10)
PROVINCE_EXTENT = (105.3, 28.2, 110.2, 32.2)
NOTE = "演示数据（虚构）"
BENCH_NOTE = "基准测试数据（虚构）"
AS_OF = dt.date(2024, 12, 31)

# DBF field names (≤ 10 bytes in GBK). Each is a catalogue label or alias, so the importer maps
# it; some layers use Chinese labels and some pinyin initials, as real deliveries do.
TOWN_FIELDS = {"code": "XZQDM", "name": "XZQMC", "note": "BZ"}
RIVER_FIELDS = {
    "code": "河流编码",
    "name": "河流名称",
    "level": "河长级别",
    "important": "重要河道",
    "basin_area_km2": "流域面积",
    "towns": "所在镇街",
    "chiefs": "河长",
    "note": "备注",
}
BOUNDARY_FIELDS = {"river_code": "HLBM", "surveyor": "CHDW", "survey_date": "CHRQ", "note": "BZ"}
BANK_LINE_FIELDS = {"river_code": "HLBM", "bank": "AB", "surveyor": "CHDW", "survey_date": "CHRQ", "note": "BZ"}
STAKE_FIELDS = {"code": "界桩编号", "river_code": "河流编码", "kind": "类型", "bank": "岸别", "note": "备注"}
ZONE_FIELDS = {
    "code": "功能区编号",
    "river_code": "河流编码",
    "bank": "岸别",
    "zone_type": "功能区类型",
    "start_chainage": "起点桩号",
    "end_chainage": "终点桩号",
    "basis": "划分依据",
    "note": "备注",
}
OUTFALL_FIELDS = {
    "code": "PWKBM",
    "name": "PWKMC",
    "river_code": "HLBM",
    "outfall_type": "PKLX",
    "status": "ZT",
    "stage": "JD",
    "outcome": "ZZFS",
    "responsible": "ZRZT",
    "note": "BZ",
}
PROBLEM_FIELDS = {
    "code": "问题编号",
    "category": "问题类别",
    "description": "问题描述",
    "found_date": "发现日期",
    "source": "问题来源",
    "status": "状态",
    "deadline": "整改时限",
    "responsible_unit": "责任单位",
    "measures": "整改措施",
    "closed_date": "销号日期",
    "note": "备注",
}

LEFT, RIGHT = "左岸", "右岸"
PROTECTED, RESERVED, CONTROLLED, DEVELOPED = "岸线保护区", "岸线保留区", "岸线控制利用区", "岸线开发利用区"
ZONE_TYPES = (PROTECTED, RESERVED, CONTROLLED, DEVELOPED)
ZONE_BASIS: dict[str, tuple[str, ...]] = {
    PROTECTED: (
        "饮用水水源保护区范围内",
        "位于生态保护红线内",
        "河势不稳，防洪重点河段",
        "鱼类产卵场及重要栖息地",
        "风景名胜区核心景区段",
    ),
    RESERVED: (
        "规划期内暂无开发利用需求",
        "河势尚未稳定，暂不具备开发条件",
        "生态较敏感，留作远期储备",
        "农村河段，保留自然岸线",
    ),
    CONTROLLED: (
        "穿越集镇，需控制开发强度",
        "现有堤防护岸段，限制利用方式",
        "涉水工程较多，控制利用类型",
        "临近取水口，限制开发强度",
    ),
    DEVELOPED: (
        "城镇建成区，河势稳定",
        "已建滨河公园及道路",
        "工业园区河段，河势稳定",
        "规划城市建设用地，无特殊限制",
    ),
}

PROBLEM_CATEGORIES = ("乱占", "乱采", "乱堆", "乱建", "妨碍河道行洪")
PROBLEM_STATUSES = ("已上报", "已确认", "已排除", "已交办", "整改中", "已整改", "已销号", "反弹")
ASSIGNED_OR_LATER = frozenset({"已交办", "整改中", "已整改", "已销号", "反弹"})
PROBLEM_SOURCES = ("巡河", "暗访", "举报", "遥感图斑")
SURNAMES = "张王李赵刘陈杨黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
SURVEYORS = (
    "重庆某测绘地理信息有限公司（虚构）",
    "某勘测设计研究院有限公司（虚构）",
    "某水利水电勘测设计院（虚构）",
)

# Per category: (description template, matching rectification measure).
PROBLEM_TEXT: dict[str, tuple[tuple[str, str], ...]] = {
    "乱占": (
        ("{where}河滩地被围垦种植蔬菜，面积约{area}平方米", "清退种植，恢复河滩地原貌"),
        ("{where}有人擅自圈占河道管理范围堆放建材，占地约{area}平方米", "清退占用土地并复绿"),
        ("{where}围网养殖，侵占水域约{area}平方米", "拆除围网，恢复水域"),
        ("{where}农家乐擅自搭设临河平台，占用岸线约{length}米", "拆除临河平台，恢复岸线"),
        ("{where}私设围栏圈占河岸，阻断巡河通道约{length}米", "拆除围栏，恢复巡河通道"),
    ),
    "乱采": (
        ("{where}发现疑似非法采砂痕迹，采坑约{area}平方米", "依法查处并回填采坑"),
        ("{where}有人夜间取土，河岸被挖损约{length}米", "立案查处，修复岸坡"),
        ("{where}河床内发现采砂机具及筛分设备", "没收采砂机具，恢复河床原状"),
        ("{where}遥感比对发现新增裸露采挖面约{area}平方米", "现场核查后回填复绿"),
    ),
    "乱堆": (
        ("{where}倾倒建筑垃圾约{volume}立方米", "清运建筑垃圾并设立警示牌"),
        ("{where}堆放生活垃圾，影响河道环境", "清运垃圾，落实河岸保洁责任"),
        ("{where}堆放煤矸石约{volume}立方米，遇雨有冲入河道风险", "清运煤矸石并整治堆场"),
        ("{where}河岸堆放废弃渣土约{volume}立方米", "清运渣土并平整岸坡"),
        ("{where}养殖废弃物沿岸堆积，气味明显", "清理废弃物，督促养殖户规范处置"),
    ),
    "乱建": (
        ("{where}新建砖混结构房屋约{area}平方米，未办理涉河审批", "依法拆除违法建筑"),
        ("{where}搭建彩钢棚约{area}平方米", "拆除彩钢棚并恢复原状"),
        ("{where}未按审批要求修建临河挡墙约{length}米", "按审批要求整改挡墙"),
        ("{where}擅自修建临河停车场约{area}平方米", "拆除停车场硬化地面并复绿"),
    ),
    "妨碍河道行洪": (
        ("{where}阻水建筑物压缩过水断面约{percent}%", "拆除阻水建筑物"),
        ("{where}河道内成片种植林木，阻碍行洪", "清除河道内阻水林木"),
        ("{where}便桥涵洞过水能力不足，汛期易壅水", "改建便桥，扩大过水断面"),
        ("{where}修筑围堤约{length}米，缩窄河道", "拆除围堤并清运弃土"),
        ("{where}弃土抬高滩地约{area}平方米，影响行洪", "清除弃土，恢复滩地高程"),
    ),
}
PROBLEM_UNITS: dict[str, tuple[str, ...]] = {
    "乱占": ("{town_unit}", "万盛经开区农林局", "{town_unit}"),
    "乱采": ("万盛经开区规划和自然资源局", "万盛经开区水利局", "{town_unit}"),
    "乱堆": ("{town_unit}", "万盛经开区城市管理局", "万盛经开区生态环境局"),
    "乱建": ("万盛经开区城市管理局", "{town_unit}", "万盛经开区规划和自然资源局"),
    "妨碍河道行洪": ("万盛经开区水利局", "{town_unit}", "万盛经开区交通局"),
}
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
FAR_PLACES = ("某村村道旁沟渠", "集镇背街排水沟", "某村山坪塘边", "农田灌溉渠旁", "某社冲沟内")


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
GAP_RIVER = "WS003"  # one ~300 m stretch of its left bank has no zone
OVERLAP_RIVER = "WS005"  # two stretches of its right bank overlap by ~200 m
ZONE_OFFSET_M = 10.0  # zone stretches run along each bank, 10 m from the centerline
STAKE_SPACING_M = 500.0
END_TRIM_M = 0.001

README = """# 演示数据 / Demo data (synthetic)

**本目录全部为虚构的演示数据**，仅用于演示和测试河长制 GIS 服务，不代表万盛经开区的真实河流、
管理范围、岸线功能分区、排污口或问题点。每个要素的“备注/BZ”字段均为“演示数据（虚构）”。

**Everything in this folder is synthetic demo data.** The rivers, ranges, zones, outfalls and
problem sites are invented; only the town names and the district extent are real.

- 格式 / format: ESRI Shapefile, GBK 编码（附 `.cpg`）/ GBK-encoded with a `.cpg`
- 坐标系 / CRS: EPSG:4524 CGCS2000 3° Gauss-Krüger zone 36（东坐标带 36 带号 / eastings carry the 36 prefix）
- 河流中心线按水流方向绘制（自东向西）/ centerlines are drawn in flow direction (east to west)

| 文件 / file | 内容 / content | 要素数 / features |
|---|---|---|
{rows}

重新生成 / regenerate (deterministic, seed 2022):

```
python -m gis_service.demo.generator -o shapefiles
```
"""
FILE_LABELS = {
    "towns": "镇街 towns",
    "rivers": "河流中心线 river centerlines",
    "boundaries": "河道管理范围面 management-range polygons",
    "boundary_lines": "管理范围线（左岸/右岸）bank range lines",
    "stakes": "界桩、告示牌 boundary stakes and signs",
    "zones": "岸线功能分区 shoreline zone stretches",
    "outfalls": "入河排污口 outfalls",
    "problems": "清四乱及妨碍行洪问题点 problem sites",
}


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def chainage(metres: float) -> str:
    """Format a distance along the centerline as a chainage such as ``K1+250``."""
    m = int(round(metres))
    return f"K{m // 1000}+{m % 1000:03d}"


def _date(day: dt.date) -> str:
    """Format a date as ``YYYY-MM-DD``."""
    return day.isoformat()


def _town_unit(town: str) -> str:
    """Return the government of a town or street (街道办事处 / 镇人民政府)."""
    return f"{town}办事处" if town.endswith("街道") else f"{town}人民政府"


def _fake_person(rng: np.random.Generator) -> str:
    """Return an obviously fictitious person name such as 张某某."""
    return f"{SURNAMES[int(rng.integers(len(SURNAMES)))]}某某"


def _pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    """Pick one string from ``options``."""
    return options[int(rng.integers(len(options)))]


def _projector(src: str, dst: str) -> Transformer:
    """Return an x/y-ordered transformer between two CRS."""
    return Transformer.from_crs(src, dst, always_xy=True)


def _project(lonlat: Sequence[tuple[float, float]]) -> FloatArray:
    """Project (lon, lat) pairs to EPSG:4524 (easting with zone prefix, northing)."""
    arr = np.asarray(lonlat, dtype=float)
    x, y = _projector(GEOGRAPHIC_CRS, DEMO_CRS).transform(arr[:, 0], arr[:, 1])
    return np.column_stack([x, y])


def _district_polygon() -> Polygon:
    """Return the demo extent (a lon/lat box) as a polygon in EPSG:4524."""
    west, south, east, north = DEMO_EXTENT
    ring = shapely.segmentize(box(west, south, east, north), 0.002)
    xy = _project([(float(x), float(y)) for x, y in ring.exterior.coords])
    return Polygon(xy)


def _offset_point(line: LineString, s: float, offset: float) -> Point:
    """Return the point at chainage ``s`` moved ``offset`` metres to the left (negative: right)."""
    s = min(max(s, 0.0), line.length)
    p0 = line.interpolate(max(s - 1.0, 0.0))
    p1 = line.interpolate(min(s + 1.0, line.length))
    tx, ty = p1.x - p0.x, p1.y - p0.y
    norm = math.hypot(tx, ty)
    p = line.interpolate(s)
    return Point(p.x - ty / norm * offset, p.y + tx / norm * offset)


def _town_at(point: Point, towns: gpd.GeoDataFrame) -> str:
    """Return the name of the town containing ``point`` (nearest town when on no polygon)."""
    geoms = towns.geometry.values
    inside = np.flatnonzero(shapely.covers(geoms, point))
    if len(inside):
        return str(towns.iloc[int(inside[0])][TOWN_FIELDS["name"]])
    return str(towns.iloc[int(np.argmin(shapely.distance(geoms, point)))][TOWN_FIELDS["name"]])


def _check_gbk(frame: pd.DataFrame) -> None:
    """Raise ValueError when a field name is over 10 GBK bytes or a value cannot be GBK-encoded."""
    for column in frame.columns:
        if column == "geometry":
            continue
        if len(str(column).encode("gbk")) > 10:
            raise ValueError(f"DBF field name too long: {column}")
        for value in frame[column]:
            if isinstance(value, str):
                if len(value.encode("gbk")) > 254:
                    raise ValueError(f"value too long for a DBF field: {value}")


def _write_shapefile(frame: gpd.GeoDataFrame, path: Path) -> None:
    """Write ``frame`` as a GBK-encoded Shapefile (with .cpg), replacing an older one."""
    _check_gbk(frame)
    for suffix in (".shp", ".shx", ".dbf", ".prj", ".cpg"):
        path.with_suffix(suffix).unlink(missing_ok=True)
    pyogrio.write_dataframe(frame, path, driver="ESRI Shapefile", encoding="GBK", layer_options={"RESIZE": "YES"})


def _write_gpkg(frame: gpd.GeoDataFrame, path: Path, layer: str) -> None:
    """Write ``frame`` as a one-layer UTF-8 GeoPackage, replacing an older file."""
    path.unlink(missing_ok=True)
    # GeoPackage 1.3: read without warnings by older GDAL (3.6) as well as by current QGIS.
    pyogrio.write_dataframe(frame, path, layer=layer, driver="GPKG", dataset_options={"VERSION": "1.3"})


# --------------------------------------------------------------------------------------------
# Demo scale: Wansheng
# --------------------------------------------------------------------------------------------


def _meander(
    source: FloatArray, mouth: FloatArray, length: float, rng: np.random.Generator, spacing: float = 40.0
) -> FloatArray:
    """Return a smooth sinuous course from ``source`` to ``mouth`` about ``length`` metres long."""
    chord = mouth - source
    chord_len = float(np.hypot(*chord))
    along = chord / chord_len
    normal = np.array([-along[1], along[0]])
    n = max(int(round(length / spacing)), 50) + 1
    t = np.linspace(0.0, 1.0, n)
    scale = max(chord_len / 20_000.0, 0.5)
    freqs = np.array([rng.uniform(0.7, 1.3), rng.uniform(2.4, 3.4), rng.uniform(5.5, 7.5), rng.uniform(10, 13)])
    freqs = freqs * scale
    weights = np.array([0.5, 0.35, 0.25, 0.15]) * rng.uniform(0.8, 1.2, 4)
    phases = rng.uniform(0.0, 2 * math.pi, 4)
    wave = (weights[:, None] * np.sin(2 * math.pi * freqs[:, None] * t[None, :] + phases[:, None])).sum(axis=0)
    wave = wave - (wave[0] * (1 - t) + wave[-1] * t)  # pinned ends: the course meets source and mouth

    def course(amplitude: float) -> FloatArray:
        """Return the course for one meander amplitude."""
        return source + t[:, None] * chord[None, :] + (amplitude * wave)[:, None] * normal[None, :]

    low, high = 0.0, chord_len
    for _ in range(60):  # bisection on the amplitude: length grows with it
        mid = (low + high) / 2
        if LineString(course(mid)).length < length:
            low = mid
        else:
            high = mid
    return course((low + high) / 2)


def _demo_towns(district: Polygon) -> gpd.GeoDataFrame:
    """Return the ten towns as Voronoi cells of their seed points, clipped to the district extent."""
    seeds = _project([(t.lon, t.lat) for t in TOWNS])
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
        types.append(_pick(rng, options))
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


def _demo_rivers(rng: np.random.Generator, towns: gpd.GeoDataFrame) -> tuple[list[LineString], list[list[str]]]:
    """Return the river centerlines (flow direction) and the towns each crosses."""
    lines: list[LineString] = []
    passed: list[list[str]] = []
    for plan in RIVERS:
        ends = _project([plan.source, plan.mouth])
        line = LineString(_meander(ends[0], ends[1], plan.length_m, rng))
        lines.append(line)
        passed.append(_towns_along(line, towns))
    return lines, passed


def _chiefs(plan: RiverPlan, towns: list[str], rng: np.random.Generator) -> str:
    """Return a fictitious river-chief list: district chief (for 区级 rivers) then one per town."""
    names = [f"{_fake_person(rng)}（区级）"] if plan.level == "区级" else []
    names += [f"{_fake_person(rng)}（{town}）" for town in towns]
    return "；".join(names)


def _demo_outfalls(rng: np.random.Generator, lines: list[LineString], towns: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Return 16 outfalls of the four types next to the river banks (two municipal plants)."""
    # (type, river index, chainage fraction or None = inside the named town, town hint)
    layout: list[tuple[str, int, float | None, str]] = [
        ("城镇污水处理厂排污口", 0, None, "万盛街道"),
        ("城镇污水处理厂排污口", 4, None, "东林街道"),
        ("工业排污口", 0, 0.22, ""),
        ("工业排污口", 1, 0.55, ""),
        ("工业排污口", 2, 0.35, ""),
        ("工业排污口", 3, 0.70, ""),
        ("农业排口", 0, 0.80, ""),
        ("农业排口", 1, 0.25, ""),
        ("农业排口", 2, 0.75, ""),
        ("农业排口", 3, 0.30, ""),
        ("农业排口", 4, 0.15, ""),
        ("农业排口", 5, 0.60, ""),
        ("其他排口", 0, 0.50, ""),
        ("其他排口", 1, 0.85, ""),
        ("其他排口", 4, 0.70, ""),
        ("其他排口", 5, 0.25, ""),
    ]
    industrial = [
        ("某建材厂", "某建材有限公司"),
        ("某煤矿矿井水", "某煤矿"),
        ("某化工厂", "某化工有限公司"),
        ("某食品加工厂", "某食品有限公司"),
    ]
    agricultural = ("某生猪养殖场", "某村农田退水", "某家庭农场")
    other = ("雨污混流", "场镇生活污水散排", "某村沟渠")
    type_codes = {"工业排污口": "GY", "城镇污水处理厂排污口": "CZ", "农业排口": "NY", "其他排口": "QT"}
    closed = {3, 7, 13, 15}  # layout rows already closed (销号)
    rows: list[dict[str, Any]] = []
    geoms: list[Point] = []
    serial: dict[str, int] = {}
    for i, (kind, river, fraction, hint) in enumerate(layout):
        plan, line = RIVERS[river], lines[river]
        if fraction is None:
            s = _chainage_in_town(line, towns, hint)
        else:
            s = (fraction + rng.uniform(-0.03, 0.03)) * line.length
        side = 1.0 if rng.random() < 0.5 else -1.0
        point = _offset_point(line, s, side * rng.uniform(8.0, 18.0))
        town = _town_at(point, towns)
        short = town.removesuffix("街道").removesuffix("镇")
        if kind == "城镇污水处理厂排污口":
            name = f"{short}污水处理厂排污口"
            responsible = f"{short}污水处理厂运营单位（虚构）"
        elif kind == "工业排污口":
            source_name, company = industrial[int(rng.integers(len(industrial)))]
            name = f"{short}{source_name}排污口"
            responsible = f"{short}{company}（虚构）"
        elif kind == "农业排口":
            name = f"{short}{_pick(rng, agricultural)}排口"
            responsible = _town_unit(town)
        else:
            name = f"{short}{_pick(rng, other)}排口"
            responsible = _town_unit(town)
        key = f"{plan.code}-{type_codes[kind]}"
        serial[key] = serial.get(key, 0) + 1
        if i in closed:
            status, stage = "已销号", "整治"
            outcome = ("依法取缔", "清理合并", "规范整治", "依法取缔")[sorted(closed).index(i)]
        elif kind == "城镇污水处理厂排污口":
            status, stage, outcome = "在用", "监测", ""
        else:
            status = "在用"
            stage = ("排查", "监测", "溯源", "整治")[i % 4]
            outcome = "规范整治" if stage == "整治" else ""
        rows.append(
            {
                OUTFALL_FIELDS["code"]: f"{key}{serial[key]:02d}",
                OUTFALL_FIELDS["name"]: name,
                OUTFALL_FIELDS["river_code"]: plan.code,
                OUTFALL_FIELDS["outfall_type"]: kind,
                OUTFALL_FIELDS["status"]: status,
                OUTFALL_FIELDS["stage"]: stage,
                OUTFALL_FIELDS["outcome"]: outcome or None,
                OUTFALL_FIELDS["responsible"]: responsible,
                OUTFALL_FIELDS["note"]: NOTE,
            }
        )
        geoms.append(point)
    return gpd.GeoDataFrame(rows, geometry=geoms, crs=DEMO_CRS)


def _chainage_in_town(line: LineString, towns: gpd.GeoDataFrame, town: str) -> float:
    """Return the middle chainage of the part of ``line`` inside ``town`` (mid-river if none)."""
    poly = towns.geometry[towns[TOWN_FIELDS["name"]] == town].iloc[0]
    s = np.arange(0.0, line.length, 25.0)
    pts = shapely.line_interpolate_point(line, s)
    hit = np.flatnonzero(shapely.contains_xy(poly, shapely.get_x(pts), shapely.get_y(pts)))
    return float(s[hit[len(hit) // 2]]) if len(hit) else line.length / 2


def _problem_text(category: str, where: str, rng: np.random.Generator) -> tuple[str, str]:
    """Return a varied Chinese description of a problem of ``category`` at ``where`` and its measure."""
    template, measure = PROBLEM_TEXT[category][int(rng.integers(len(PROBLEM_TEXT[category])))]
    text = template.format(
        where=where,
        area=int(rng.integers(3, 120)) * 10,
        length=int(rng.integers(2, 40)) * 5,
        volume=int(rng.integers(5, 300)),
        percent=int(rng.integers(10, 45)),
    )
    return text, measure


def _problem_status(found: dt.date, rng: np.random.Generator) -> str:
    """Return a status plausible for the age of a problem on the reference date."""
    age = (AS_OF - found).days
    if age < 90:
        weights = [0.35, 0.25, 0.05, 0.20, 0.15, 0.0, 0.0, 0.0]
    elif age < 240:
        weights = [0.05, 0.05, 0.07, 0.15, 0.30, 0.18, 0.18, 0.02]
    else:
        weights = [0.01, 0.02, 0.08, 0.05, 0.10, 0.10, 0.56, 0.08]
    p = np.asarray(weights) / sum(weights)
    return PROBLEM_STATUSES[int(rng.choice(len(PROBLEM_STATUSES), p=p))]


def _demo_problems(
    rng: np.random.Generator,
    lines: list[LineString],
    ranges: list[Polygon],
    towns: gpd.GeoDataFrame,
    district: Polygon,
) -> gpd.GeoDataFrame:
    """Return 240 problem sites: most inside a range, some just outside, one far from rivers per town."""
    n_inside, n_near = 204, 26
    lengths = np.array([line.length for line in lines])
    all_ranges = shapely.union_all(ranges)
    all_rivers = shapely.union_all(lines)
    sites: list[tuple[Point, str]] = []  # (point, where-text)
    for k in range(n_inside + n_near):
        while True:
            r = int(rng.choice(len(lines), p=lengths / lengths.sum()))
            plan, line = RIVERS[r], lines[r]
            s = rng.uniform(0.01, 0.99) * line.length
            side = 1.0 if rng.random() < 0.5 else -1.0
            if k < n_inside:
                offset = rng.uniform(2.0, 0.9 * plan.width_m)
            else:
                offset = plan.width_m + rng.uniform(20.0, 400.0)
            point = _offset_point(line, s, side * offset)
            if not district.contains(point):
                continue
            if k >= n_inside and all_ranges.intersects(point):
                continue
            break
        bank = LEFT if side > 0 else RIGHT
        sites.append((point, f"{plan.name}{bank}{chainage(s)}附近"))
    for town_poly, town_name in zip(towns.geometry, towns[TOWN_FIELDS["name"]], strict=True):
        minx, miny, maxx, maxy = town_poly.bounds
        while True:
            point = Point(rng.uniform(minx, maxx), rng.uniform(miny, maxy))
            if town_poly.contains(point) and all_rivers.distance(point) > 1500.0:
                break
        sites.append((point, f"{town_name}{_pick(rng, FAR_PLACES)}"))

    start = dt.date(2022, 1, 1)
    span = (dt.date(2024, 12, 20) - start).days
    records: list[dict[str, Any]] = []
    for point, where in sites:
        found = start + dt.timedelta(days=int(rng.integers(0, span + 1)))
        category = PROBLEM_CATEGORIES[int(rng.choice(5, p=[0.25, 0.10, 0.30, 0.20, 0.15]))]
        status = _problem_status(found, rng)
        source = PROBLEM_SOURCES[int(rng.choice(4, p=[0.45, 0.15, 0.20, 0.20]))]
        town = _town_at(point, towns)
        description, measure = _problem_text(category, where, rng)
        deadline = closed = None
        measures = unit = None
        if status not in ("已上报", "已排除"):
            unit = _pick(rng, PROBLEM_UNITS[category]).format(town_unit=_town_unit(town))
        if status in ASSIGNED_OR_LATER:
            assigned = found + dt.timedelta(days=int(rng.integers(2, 16)))
            deadline = assigned + dt.timedelta(days=int(rng.choice([30, 60, 90, 120, 180])))
            measures = measure
            if status == "已销号":
                done = deadline + dt.timedelta(days=int(rng.integers(-25, 31)))
                closed = min(max(done, found + dt.timedelta(days=7)), AS_OF)
        records.append(
            {
                "found": found,
                PROBLEM_FIELDS["category"]: category,
                PROBLEM_FIELDS["description"]: description,
                PROBLEM_FIELDS["found_date"]: _date(found),
                PROBLEM_FIELDS["source"]: source,
                PROBLEM_FIELDS["status"]: status,
                PROBLEM_FIELDS["deadline"]: _date(deadline) if deadline else None,
                PROBLEM_FIELDS["responsible_unit"]: unit,
                PROBLEM_FIELDS["measures"]: measures,
                PROBLEM_FIELDS["closed_date"]: _date(closed) if closed else None,
                PROBLEM_FIELDS["note"]: NOTE,
            }
        )
    frame = pd.DataFrame(records)
    frame["geometry"] = [p for p, _ in sites]
    frame = frame.sort_values("found", kind="stable").reset_index(drop=True)
    years = frame["found"].map(lambda d: d.year)
    serial = frame.groupby(years).cumcount() + 1
    frame.insert(0, PROBLEM_FIELDS["code"], [f"QSL-{y}-{n:04d}" for y, n in zip(years, serial, strict=True)])
    # Two public reports carry markup, to exercise escaping in the web map and exports.
    reports = frame.index[frame[PROBLEM_FIELDS["source"]] == "举报"]
    description = PROBLEM_FIELDS["description"]
    first, second = reports[0], reports[1]
    frame.loc[first, description] = '群众举报：<script>alert("xss")</script>' + str(frame.loc[first, description])
    frame.loc[second, description] = "举报附图<img src=x onerror=alert(1)>，" + str(frame.loc[second, description])
    frame = frame.drop(columns="found")
    return gpd.GeoDataFrame(frame, geometry="geometry", crs=DEMO_CRS)


def _generate_demo(out_dir: Path, rng: np.random.Generator) -> dict[str, int]:
    """Build and write the Wansheng demo Shapefiles and README; return the feature counts."""
    district = _district_polygon()
    towns = _demo_towns(district)
    lines, passed = _demo_rivers(rng, towns)

    rivers = gpd.GeoDataFrame(
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

    ranges: list[Polygon] = []
    range_rows: list[dict[str, Any]] = []
    bank_rows: list[dict[str, Any]] = []
    bank_geoms: list[LineString] = []
    stake_rows: list[dict[str, Any]] = []
    stake_geoms: list[Point] = []
    zone_rows: list[dict[str, Any]] = []
    zone_geoms: list[LineString] = []
    for plan, line in zip(RIVERS, lines, strict=True):
        surveyor = _pick(rng, SURVEYORS)
        survey_day = dt.date(2022, 3, 1) + dt.timedelta(days=int(rng.integers(0, 270)))
        ranges.append(line.buffer(plan.width_m, cap_style="flat", join_style="round", quad_segs=16))
        range_rows.append(
            {
                BOUNDARY_FIELDS["river_code"]: plan.code,
                BOUNDARY_FIELDS["surveyor"]: surveyor,
                BOUNDARY_FIELDS["survey_date"]: _date(survey_day),
                BOUNDARY_FIELDS["note"]: NOTE,
            }
        )
        bank_lines = {
            LEFT: shapely.offset_curve(line, plan.width_m, quad_segs=16),
            RIGHT: shapely.offset_curve(line, -plan.width_m, quad_segs=16),
        }
        for bank, bank_line in bank_lines.items():
            bank_rows.append(
                {
                    BANK_LINE_FIELDS["river_code"]: plan.code,
                    BANK_LINE_FIELDS["bank"]: bank,
                    BANK_LINE_FIELDS["surveyor"]: surveyor,
                    BANK_LINE_FIELDS["survey_date"]: _date(survey_day),
                    BANK_LINE_FIELDS["note"]: NOTE,
                }
            )
            bank_geoms.append(bank_line)
            letter = "L" if bank == LEFT else "R"
            count = max(int(round(bank_line.length / STAKE_SPACING_M)), 1)
            for i, d in enumerate(np.linspace(0.0, bank_line.length, count + 1)):
                stake_rows.append(
                    {
                        STAKE_FIELDS["code"]: f"{plan.code}-{letter}-{i + 1:03d}",
                        STAKE_FIELDS["river_code"]: plan.code,
                        STAKE_FIELDS["kind"]: "界桩",
                        STAKE_FIELDS["bank"]: bank,
                        STAKE_FIELDS["note"]: NOTE,
                    }
                )
                stake_geoms.append(bank_line.interpolate(float(d)))
        for i, fraction in enumerate((0.03, 0.5, 0.97)):
            bank = LEFT if i % 2 == 0 else RIGHT
            bank_line = bank_lines[bank]
            where = bank_line.project(line.interpolate(fraction * line.length))
            stake_rows.append(
                {
                    STAKE_FIELDS["code"]: f"{plan.code}-GS-{i + 1:02d}",
                    STAKE_FIELDS["river_code"]: plan.code,
                    STAKE_FIELDS["kind"]: "告示牌",
                    STAKE_FIELDS["bank"]: bank,
                    STAKE_FIELDS["note"]: NOTE,
                }
            )
            stake_geoms.append(bank_line.interpolate(where))
        for bank, stretches in _river_zones(plan, rng).items():
            sign = 1.0 if bank == LEFT else -1.0
            shore = shapely.offset_curve(line, sign * ZONE_OFFSET_M, quad_segs=16)
            letter = "L" if bank == LEFT else "R"
            for i, (s0, s1, zone_type) in enumerate(stretches):
                # 1 mm off the river's two ends keeps the stretch strictly inside the flat-capped range.
                d0 = max(shore.project(line.interpolate(s0)), END_TRIM_M)
                d1 = min(shore.project(line.interpolate(s1)), shore.length - END_TRIM_M)
                zone_geoms.append(substring(shore, d0, d1))
                zone_rows.append(
                    {
                        ZONE_FIELDS["code"]: f"{plan.code}-{letter}{i + 1:02d}",
                        ZONE_FIELDS["river_code"]: plan.code,
                        ZONE_FIELDS["bank"]: bank,
                        ZONE_FIELDS["zone_type"]: zone_type,
                        ZONE_FIELDS["start_chainage"]: chainage(s0),
                        ZONE_FIELDS["end_chainage"]: chainage(s1),
                        ZONE_FIELDS["basis"]: _pick(rng, ZONE_BASIS[zone_type]),
                        ZONE_FIELDS["note"]: NOTE,
                    }
                )

    layers: dict[str, gpd.GeoDataFrame] = {
        "towns": towns,
        "rivers": rivers,
        "boundaries": gpd.GeoDataFrame(range_rows, geometry=ranges, crs=DEMO_CRS),
        "boundary_lines": gpd.GeoDataFrame(bank_rows, geometry=bank_geoms, crs=DEMO_CRS),
        "stakes": gpd.GeoDataFrame(stake_rows, geometry=stake_geoms, crs=DEMO_CRS),
        "zones": gpd.GeoDataFrame(zone_rows, geometry=zone_geoms, crs=DEMO_CRS),
        "outfalls": _demo_outfalls(rng, lines, towns),
        "problems": _demo_problems(rng, lines, ranges, towns, district),
    }
    counts: dict[str, int] = {}
    for name, frame in layers.items():
        _write_shapefile(frame, out_dir / f"{name}.shp")
        counts[name] = len(frame)
    rows = "\n".join(f"| `{name}.shp` | {FILE_LABELS[name]} | {n} |" for name, n in counts.items())
    (out_dir / "README.md").write_text(README.format(rows=rows), encoding="utf-8")
    return counts


# --------------------------------------------------------------------------------------------
# Province scale: vectorised benchmark data
# --------------------------------------------------------------------------------------------

N_RIVERS = 10_000
N_VERTICES = 31  # 30 segments: 10 zone stretches per bank of 3 segments each
ZONES_PER_BANK = 10
N_PROBLEMS = 100_000
N_TOWNS = 100
NAME_CHARS = "东南西北青石龙凤清白黄金银竹桃李梅松柏杨柳马牛鹿岩溪沙泉塘坝桥坪湾坎垭岗峰林山水河口"


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
        return shapely.transform(geoms, lambda xy: xy / scale + origin)


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
    return ranges


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
) -> tuple[dict[str, Any], npt.NDArray[np.object_]]:
    """Return problem columns and points: along random river segments, 85 % inside the range."""
    p, n = N_PROBLEMS, len(rivers.lines)
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


def _generate_province(out_dir: Path, rng: np.random.Generator) -> dict[str, int]:
    """Build and write the province-scale benchmark GeoPackages; return the feature counts."""
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
    problem_columns, points = _province_problems(rng, rivers, towns, town_names)
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
        _write_gpkg(layer, out_dir / f"{name}.gpkg", name)
        counts[name] = len(layer)
    return counts


# --------------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------------


def generate(out_dir: Path, scale: str = "demo", seed: int = 2022) -> dict[str, int]:
    """Write the synthetic dataset of ``scale`` (demo or province) into ``out_dir``; return counts per layer."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    if scale == "demo":
        return _generate_demo(out_dir, rng)
    if scale == "province":
        return _generate_province(out_dir, rng)
    raise ValueError(f"unknown scale {scale!r}: use 'demo' or 'province'")


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: generate a dataset and print the feature counts."""
    parser = argparse.ArgumentParser(
        prog="python -m gis_service.demo.generator",
        description="生成确定性的虚构演示/基准数据 (deterministic synthetic demo or benchmark data).",
    )
    parser.add_argument("--scale", choices=("demo", "province"), default="demo", help="demo (万盛) or province")
    parser.add_argument("--seed", type=int, default=2022, help="random seed (default 2022)")
    parser.add_argument("-o", "--out", type=Path, required=True, help="output folder")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    counts = generate(args.out, scale=args.scale, seed=args.seed)
    for name, count in counts.items():
        print(f"{name}\t{count}")
    print(f"written to {args.out} in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
