"""Demo water quality: sections (断面.xlsx), monthly results (监测结果.xlsx), source zones and 一河一策 tasks.

Seven sections on the demo rivers (1 国控, 2 市控, 4 区控), monthly results for January–November
2026 mostly in class II–III (小河 reaches class IV in June–September), an urban and two township
drinking-water sources with 一级/二级 protection zones around their intakes (a shapefile, as a
survey institute delivers it), and ten 一河一策 tasks for 2026, two of them overdue by late 2026.
Everything is synthetic (演示数据（虚构）) and seeded. Regenerate with
``python -m gis_service.demo.quality -o shapefiles`` (after the demo shapefiles).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from openpyxl import Workbook
from sqlalchemy.orm import Session

from gis_service.catalogue import catalogue_for
from gis_service.clock import BusinessClock
from gis_service.ingest.archive import ArchiveLimits
from gis_service.ingest.pipeline import ImportOptions
from gis_service.ledger.intake import run_import
from gis_service.quality.samples import import_samples
from gis_service.quality.tasks import import_tasks
from gis_service.settings import Settings

SECTIONS_FILE = "水质断面.xlsx"
SAMPLES_FILE = "水质监测结果2026.xlsx"
ZONES_FILE = "source_zones.shp"
TASKS_FILE = "一河一策任务2026.xlsx"
SEED = 2026
# code, name, level, river, target, position along the river (0 = source end), source (name, type) or None
SECTIONS: list[tuple[str, str, str, str, str, float, tuple[str, str] | None]] = [
    ("WSDM01", "孝子河出境断面", "国控", "WS001", "Ⅲ类", 0.92, None),
    ("WSDM02", "藻渡河入境断面", "市控", "WS002", "Ⅱ类", 0.15, None),
    ("WSDM03", "清溪河汇口断面", "市控", "WS003", "Ⅲ类", 0.85, None),
    ("WSDM04", "养生河水厂取水口", "区控", "WS005", "Ⅱ类", 0.35, ("养生河城区水源地", "城市")),
    ("WSDM05", "丛林河水厂取水口", "区控", "WS004", "Ⅲ类", 0.4, ("丛林镇水源地", "乡镇")),
    ("WSDM06", "孝子河上游取水口", "区控", "WS001", "Ⅲ类", 0.12, ("青年镇水源地", "乡镇")),
    ("WSDM07", "小河场镇下游断面", "区控", "WS006", "Ⅲ类", 0.7, None),
]
SUMMER_IV = "WSDM07"
SUMMER = range(6, 10)  # June–September: low flow and runoff after storms
INDICATORS = ["pH", "溶解氧", "高锰酸盐指数", "化学需氧量", "五日生化需氧量", "氨氮", "总磷", "总氮"]
# Per class, a range of each indicator inside the class (GB 3838-2002 table 1, river limits).
RANGES = {
    "II": {"溶解氧": (6.3, 7.4), "高锰酸盐指数": (2.2, 3.8), "化学需氧量": (8, 14), "五日生化需氧量": (1.5, 2.8),
           "氨氮": (0.16, 0.48), "总磷": (0.03, 0.09), "总氮": (0.6, 1.2)},
    "III": {"溶解氧": (5.3, 6.8), "高锰酸盐指数": (3.2, 5.5), "化学需氧量": (12, 19), "五日生化需氧量": (2.2, 3.8),
            "氨氮": (0.35, 0.92), "总磷": (0.06, 0.18), "总氮": (0.9, 1.6)},
    "IV": {"溶解氧": (4.2, 4.9), "高锰酸盐指数": (6.3, 8.5), "化学需氧量": (21, 27), "五日生化需氧量": (4.3, 5.5),
           "氨氮": (1.08, 1.42), "总磷": (0.21, 0.27), "总氮": (1.6, 2.2)},
}  # fmt: skip
TASK_HEADER = ["河流编码", "年度", "任务", "措施", "责任单位", "牵头单位", "镇街", "时限", "目标值", "单位", "进度"]
TASKS: list[list[Any]] = [
    ["WS001", 2026, "孝子河出境断面稳定达到Ⅲ类", "沿河截污管网完善、场镇污水处理厂提标", "区生态环境局", "区河长办",
     None, "2026-12-31", 3, "类", 85],
    ["WS001", 2026, "整治入河排污口", "排查溯源、分类整治、立牌公示", "区生态环境局", "区河长办", None, "2026-10-31",
     12, "个", 75],
    ["WS002", 2026, "藻渡河岸线清理整治", "清理违规堆放、拆除违建", "区水利局", "区河长办", "关坝镇", "2026-06-30",
     8, "公里", 100],
    ["WS002", 2026, "农村生活污水治理", "新建分散式污水处理设施", "区住房城乡建委", None, "关坝镇", "2026-12-31", 6,
     "座", 70],
    ["WS003", 2026, "清溪河生态缓冲带建设", "补植护岸林草", "区林业局", "区河长办", "万盛街道", "2026-11-30", 5,
     "公里", 60],
    ["WS003", 2026, "城区雨污分流改造", "老旧管网雨污分流", "区住房城乡建委", None, "东林街道", "2026-12-31", 3.5,
     "公里", 80],
    ["WS004", 2026, "丛林镇水源地规范化建设", "设置界标、隔离防护", "区生态环境局", None, "丛林镇", "2026-09-30", 1,
     "处", 100],
    ["WS005", 2026, "养生河城区水源地保护", "一级保护区隔离网、视频监控", "区水利局", "区生态环境局", "万东镇",
     "2026-12-31", 1, "处", 90],
    ["WS006", 2026, "小河畜禽养殖污染治理", "规模养殖场粪污资源化利用", "区农业农村委", None, "黑山镇",
     "2026-12-31", 4, "家", 50],
    ["WS006", 2026, "小河河道清淤疏浚", "清淤、垃圾清运", "区水利局", None, "黑山镇", "2026-12-31", 2.5, "公里", 95],
]  # fmt: skip


def _write_xlsx(path: Path, title: str, rows: list[list[Any]]) -> None:
    """Write ``rows`` (header first) as the only sheet of an .xlsx file."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = title
    for row in rows:
        sheet.append(row)
    book.save(path)


def intakes(rivers: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Return the sections as points on their rivers (EPSG:4490)."""
    lines = dict(zip(rivers["code"], rivers.geometry, strict=True))
    points = []
    for _code, _name, _level, river, _target, at, _source in SECTIONS:
        line = lines[river]
        line = shapely.line_merge(line) if line.geom_type == "MultiLineString" else line
        points.append(line.interpolate(at, normalized=True))
    return gpd.GeoDataFrame({"code": [s[0] for s in SECTIONS]}, geometry=points, crs="EPSG:4490")


def section_rows(points: gpd.GeoDataFrame) -> list[list[Any]]:
    """Return the sections table as a monitoring station keeps it, longitude/latitude in CGCS2000."""
    rows: list[list[Any]] = [["断面编码", "断面名称", "级别", "河流编码", "水质目标", "经度", "纬度"]]
    for (code, name, level, river, target, _at, _source), p in zip(SECTIONS, points.geometry, strict=True):
        rows.append([code, name, level, river, target, round(p.x, 6), round(p.y, 6)])
    return rows


def sample_rows(rng: np.random.Generator) -> list[list[Any]]:
    """Return monthly results January–November 2026: each section in its target class or one better, mostly."""
    rows: list[list[Any]] = [["断面编码", "采样日期", *INDICATORS]]
    for code, _name, _level, _river, target, _at, _source in SECTIONS:
        for month in range(1, 12):
            if code == SUMMER_IV and month in SUMMER:
                cls = "IV"
            elif target == "Ⅱ类":
                cls = "II"
            else:  # a III target: class II in the clearer winter months, III otherwise
                cls = "II" if month in (1, 2, 12) or rng.random() < 0.3 else "III"
            values = [round(float(rng.uniform(7.0, 8.0)), 2)]
            for name in INDICATORS[1:]:
                lo, hi = RANGES[cls][name]
                values.append(round(float(rng.uniform(lo, hi)), 3 if name == "总磷" else 2))
            rows.append([code, f"2026-{month:02d}-{8 + month % 5:02d}", *values])
    return rows


def source_zones(points: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Return each source's 一级 zone (300 m around the intake) and 二级 zone (the ring out to 1 200 m)."""
    local = points.to_crs(points.estimate_utm_crs())
    records: list[dict[str, Any]] = []
    for (code, _name, _level, _river, _target, _at, source), p in zip(SECTIONS, local.geometry, strict=True):
        if source is None:
            continue
        first = p.buffer(300, 16)
        second = p.buffer(1200, 16).difference(first)
        n = len(records) // 2 + 1
        for level, shape in (("一级", first), ("二级", second)):
            records.append(
                {
                    "保护区编码": f"SY{n:02d}-{1 if level == '一级' else 2}",
                    "保护区名称": f"{source[0]}{level}保护区",
                    "水源地名称": source[0],
                    "级别": level,
                    "水源地类型": source[1],
                    "断面编码": code,
                    "geometry": shape,
                }
            )
    return gpd.GeoDataFrame(records, crs=local.crs).to_crs("EPSG:4524")


def main(argv: list[str] | None = None) -> None:
    """Write the demo sections, results, source zones and tasks next to the demo shapefiles."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=Path("shapefiles"))
    args = parser.parse_args(argv)
    rivers = gpd.read_file(args.output / "rivers.shp").to_crs("EPSG:4490").rename(columns={"河流编码": "code"})
    points = intakes(rivers)
    _write_xlsx(args.output / SECTIONS_FILE, "水质断面", section_rows(points))
    samples = sample_rows(np.random.default_rng(SEED))
    _write_xlsx(args.output / SAMPLES_FILE, "监测结果", samples)
    source_zones(points).to_file(args.output / ZONES_FILE, encoding="GBK")
    _write_xlsx(args.output / TASKS_FILE, "一河一策任务", [TASK_HEADER, *TASKS])
    print(f"{len(SECTIONS)} sections, {len(samples) - 1} samples, {len(TASKS)} tasks written to {args.output}")


if __name__ == "__main__":
    main()


def load_quality(session: Session, folder: Path, settings: Settings, clock: BusinessClock) -> dict[str, int]:
    """Import the demo sections, source zones, results and tasks (when the folder has them); return counts."""
    if not (folder / SECTIONS_FILE).exists():
        return {}
    counts: dict[str, int] = {}
    for layer, name in (("sections", SECTIONS_FILE), ("source_zones", ZONES_FILE)):
        options = ImportOptions(layer=layer, approve=True, actor="demo")
        counts[layer] = int(
            run_import(session, folder / name, options, settings=settings, clock=clock).get("stored") or 0
        )
    limits = ArchiveLimits.of(settings)
    counts["samples"] = import_samples(session, folder / SAMPLES_FILE, limits)["stored"]
    counts["tasks"] = import_tasks(session, catalogue_for(settings), folder / TASKS_FILE, limits)["stored"]
    return counts
