"""Point sites of the demo scale: outfalls along the banks and the 清四乱 / 妨碍行洪 problem sites."""

from __future__ import annotations

import datetime as dt
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import LineString, Point, Polygon

from gis_service.demo.district import RIVERS, town_at
from gis_service.demo.geometry import chainage, offset_point
from gis_service.demo.vocabulary import (
    AS_OF,
    ASSIGNED_OR_LATER,
    DEMO_CRS,
    LEFT,
    NOTE,
    OUTFALL_FIELDS,
    PROBLEM_CATEGORIES,
    PROBLEM_FIELDS,
    PROBLEM_SOURCES,
    PROBLEM_STATUSES,
    RIGHT,
    TOWN_FIELDS,
    iso_date,
    pick,
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
FAR_PLACES = ("某村村道旁沟渠", "集镇背街排水沟", "某村山坪塘边", "农田灌溉渠旁", "某社冲沟内")


def _town_unit(town: str) -> str:
    """Return the government of a town or street (街道办事处 / 镇人民政府)."""
    return f"{town}办事处" if town.endswith("街道") else f"{town}人民政府"


def demo_outfalls(rng: np.random.Generator, lines: list[LineString], towns: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
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
        point = offset_point(line, s, side * rng.uniform(8.0, 18.0))
        town = town_at(point, towns)
        short = town.removesuffix("街道").removesuffix("镇")
        if kind == "城镇污水处理厂排污口":
            name = f"{short}污水处理厂排污口"
            responsible = f"{short}污水处理厂运营单位（虚构）"
        elif kind == "工业排污口":
            source_name, company = industrial[int(rng.integers(len(industrial)))]
            name = f"{short}{source_name}排污口"
            responsible = f"{short}{company}（虚构）"
        elif kind == "农业排口":
            name = f"{short}{pick(rng, agricultural)}排口"
            responsible = _town_unit(town)
        else:
            name = f"{short}{pick(rng, other)}排口"
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


def demo_problems(
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
            point = offset_point(line, s, side * offset)
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
        sites.append((point, f"{town_name}{pick(rng, FAR_PLACES)}"))

    start = dt.date(2022, 1, 1)
    span = (dt.date(2024, 12, 20) - start).days
    records: list[dict[str, Any]] = []
    for point, where in sites:
        found = start + dt.timedelta(days=int(rng.integers(0, span + 1)))
        category = PROBLEM_CATEGORIES[int(rng.choice(5, p=[0.25, 0.10, 0.30, 0.20, 0.15]))]
        status = _problem_status(found, rng)
        source = PROBLEM_SOURCES[int(rng.choice(4, p=[0.45, 0.15, 0.20, 0.20]))]
        town = town_at(point, towns)
        description, measure = _problem_text(category, where, rng)
        deadline = closed = None
        measures = unit = None
        if status not in ("已上报", "已排除"):
            unit = pick(rng, PROBLEM_UNITS[category]).format(town_unit=_town_unit(town))
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
                PROBLEM_FIELDS["found_date"]: iso_date(found),
                PROBLEM_FIELDS["source"]: source,
                PROBLEM_FIELDS["status"]: status,
                PROBLEM_FIELDS["deadline"]: iso_date(deadline) if deadline else None,
                PROBLEM_FIELDS["responsible_unit"]: unit,
                PROBLEM_FIELDS["measures"]: measures,
                PROBLEM_FIELDS["closed_date"]: iso_date(closed) if closed else None,
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
