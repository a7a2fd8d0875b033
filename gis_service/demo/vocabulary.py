"""Shared vocabulary of the synthetic data: CRS, field names from the catalogue aliases and value labels.

The DBF field names are what the importer maps (catalogue labels or aliases); the value labels are the
Chinese terms of the River Chief ledgers. Two tiny helpers shared by the demo modules live here too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np

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


def iso_date(day: dt.date) -> str:
    """Format a date as ``YYYY-MM-DD``."""
    return day.isoformat()


def pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    """Pick one string from ``options``."""
    return options[int(rng.integers(len(options)))]
