"""GB 3838-2002 《地表水环境质量标准》 Table 1: the band limits of each basic indicator, as data.

Each indicator's limits are the standard's values for classes I, II, III, IV and V. For a
"≤" indicator a value belongs to the best class whose limit it does not exceed (edges
inclusive: 氨氮 0.5 is class II); for dissolved oxygen ("≥") to the best class whose limit it
reaches; pH is in class I–V when 6 ≤ pH ≤ 9. A value beyond the class V limit is 劣V. Where
two classes share a limit (化学需氧量 15 for I and II) the better class is taken.

Which indicators decide a sample's class follows 《地表水环境质量评价办法（试行）》: the
basic items except 水温, 总氮 and 粪大肠菌群; 总氮 counts for lakes and reservoirs only.
"""

from __future__ import annotations

from dataclasses import dataclass

from gis_service.catalogue import fold

CLASSES = ("I", "II", "III", "IV", "V", "劣V")
# 优良 (good): classes I–III.
GOOD = frozenset(CLASSES[:3])
CLASS_LABELS = {"I": "Ⅰ类", "II": "Ⅱ类", "III": "Ⅲ类", "IV": "Ⅳ类", "V": "Ⅴ类", "劣V": "劣Ⅴ类"}
# The colours Chinese water-quality maps give the classes (Ⅰ light blue … 劣Ⅴ red).
CLASS_COLORS = {"I": "#ccffff", "II": "#00ccff", "III": "#00ff00", "IV": "#ffff00", "V": "#ff9b00", "劣V": "#ff0000"}


@dataclass(frozen=True)
class Indicator:
    """One indicator of Table 1: its key, Chinese name, unit, direction and the five class limits."""

    key: str
    name: str
    unit: str
    limits: tuple[float, float, float, float, float]
    # "max": value ≤ limit; "min": value ≥ limit (溶解氧); "range": low ≤ value ≤ high (pH).
    kind: str = "max"
    aliases: tuple[str, ...] = ()
    lake_limits: tuple[float, float, float, float, float] | None = None
    # Counted in a sample's class: "all", "lake" (湖库 only) or "none" (reported, not classed).
    assessed: str = "all"


MG = "mg/L"
INDICATORS: tuple[Indicator, ...] = (
    Indicator("ph", "pH", "无量纲", (6, 9, 0, 0, 0), kind="range", aliases=("pH值", "PH")),
    Indicator("do", "溶解氧", MG, (7.5, 6, 5, 3, 2), kind="min", aliases=("DO",)),
    Indicator("codmn", "高锰酸盐指数", MG, (2, 4, 6, 10, 15), aliases=("CODMn", "COD_Mn", "高锰酸钾指数")),
    Indicator("cod", "化学需氧量", MG, (15, 15, 20, 30, 40), aliases=("COD", "CODCr", "化学需氧量(COD)")),
    Indicator("bod5", "五日生化需氧量", MG, (3, 3, 4, 6, 10), aliases=("BOD5", "BOD₅", "生化需氧量")),
    Indicator("nh3n", "氨氮", MG, (0.15, 0.5, 1.0, 1.5, 2.0), aliases=("NH3-N", "氨氮(NH3-N)", "NH3N")),
    Indicator(
        "tp",
        "总磷",
        MG,
        (0.02, 0.1, 0.2, 0.3, 0.4),
        aliases=("TP", "总磷(以P计)"),
        lake_limits=(0.01, 0.025, 0.05, 0.1, 0.2),
    ),
    Indicator("tn", "总氮", MG, (0.2, 0.5, 1.0, 1.5, 2.0), aliases=("TN", "总氮(以N计)"), assessed="lake"),
    Indicator("cu", "铜", MG, (0.01, 1.0, 1.0, 1.0, 1.0), aliases=("Cu",)),
    Indicator("zn", "锌", MG, (0.05, 1.0, 1.0, 2.0, 2.0), aliases=("Zn",)),
    Indicator("fluoride", "氟化物", MG, (1.0, 1.0, 1.0, 1.5, 1.5), aliases=("氟化物(以F-计)", "F")),
    Indicator("se", "硒", MG, (0.01, 0.01, 0.01, 0.02, 0.02), aliases=("Se",)),
    Indicator("as", "砷", MG, (0.05, 0.05, 0.05, 0.1, 0.1), aliases=("As",)),
    Indicator("hg", "汞", MG, (0.00005, 0.00005, 0.0001, 0.001, 0.001), aliases=("Hg",)),
    Indicator("cd", "镉", MG, (0.001, 0.005, 0.005, 0.005, 0.01), aliases=("Cd",)),
    Indicator("cr6", "铬(六价)", MG, (0.01, 0.05, 0.05, 0.05, 0.1), aliases=("六价铬", "Cr6+", "铬（六价）")),
    Indicator("pb", "铅", MG, (0.01, 0.01, 0.05, 0.05, 0.1), aliases=("Pb",)),
    Indicator("cyanide", "氰化物", MG, (0.005, 0.05, 0.2, 0.2, 0.2), aliases=("CN",)),
    Indicator("phenol", "挥发酚", MG, (0.002, 0.002, 0.005, 0.01, 0.1), aliases=("挥发性酚",)),
    Indicator("oil", "石油类", MG, (0.05, 0.05, 0.05, 0.5, 1.0), aliases=("石油",)),
    Indicator("las", "阴离子表面活性剂", MG, (0.2, 0.2, 0.2, 0.3, 0.3), aliases=("LAS",)),
    Indicator("sulfide", "硫化物", MG, (0.05, 0.1, 0.2, 0.5, 1.0), aliases=("S2-",)),
    Indicator(
        "fecal",
        "粪大肠菌群",
        "个/L",
        (200, 2000, 10000, 20000, 40000),
        aliases=("粪大肠菌群(个/L)",),
        assessed="none",
    ),
)
BY_KEY = {i.key: i for i in INDICATORS}
# Recorded when delivered, never classed: 水温 has no class limit in Table 1.
UNCLASSED = {"水温": "temperature", "温度": "temperature"}


def _lookup() -> dict[str, str]:
    """Return folded name/alias/key → indicator key."""
    table = {fold(k): v for k, v in UNCLASSED.items()}
    for ind in INDICATORS:
        for name in (ind.key, ind.name, *ind.aliases):
            table[fold(name)] = ind.key
    return table


NAMES = _lookup()


def indicator_key(header: str) -> str | None:
    """Return the indicator key a column header names (Chinese name, symbol or key), or None."""
    text = fold(header)
    for unit in ("(mg/l)", "（mg/l）", "mg/l"):
        text = text.removesuffix(unit)
    return NAMES.get(text)


def indicator_class(key: str, value: float, *, lake: bool = False) -> str:
    """Return the GB 3838 class of one indicator value (``I`` … ``V`` or ``劣V``)."""
    ind = BY_KEY[key]
    if ind.kind == "range":
        low, high = ind.limits[0], ind.limits[1]
        return "I" if low <= value <= high else "劣V"
    limits = ind.lake_limits if lake and ind.lake_limits else ind.limits
    for cls, limit in zip(CLASSES, limits, strict=False):
        if (value >= limit) if ind.kind == "min" else (value <= limit):
            return cls
    return "劣V"


def assessed(key: str, lake: bool) -> bool:
    """Tell whether an indicator counts in a sample's class (per the assessment rules)."""
    rule = BY_KEY[key].assessed
    return rule == "all" or (rule == "lake" and lake)


def worse(a: str, b: str) -> str:
    """Return the worse of two classes."""
    return a if CLASSES.index(a) >= CLASSES.index(b) else b


def meets(cls: str, target: str | None) -> bool | None:
    """Tell whether class ``cls`` meets the target class (None when there is no target)."""
    if not target:
        return None
    return CLASSES.index(cls) <= CLASSES.index(target)


def sample_class(values: dict[str, float], *, lake: bool = False) -> tuple[str | None, list[str]]:
    """Return the class of a sample (its worst assessed indicator) and the indicators that set it.

    None when no assessed indicator was measured. Deciding indicators are named in Chinese.
    """
    classes = {
        key: indicator_class(key, value, lake=lake)
        for key, value in values.items()
        if key in BY_KEY and value is not None and assessed(key, lake)
    }
    if not classes:
        return None, []
    worst = "I"
    for cls in classes.values():
        worst = worse(worst, cls)
    return worst, [BY_KEY[k].name for k in BY_KEY if classes.get(k) == worst]
