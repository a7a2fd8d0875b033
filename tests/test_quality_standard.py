"""GB 3838-2002 Table 1 classes at every band edge of every indicator, with the limits typed here from the standard."""

from __future__ import annotations

import pytest

from gis_service.quality.standard import indicator_class, indicator_key, sample_class

ORDER = ["I", "II", "III", "IV", "V"]
# GB 3838-2002 表1 (mg/L unless noted), limits of classes I, II, III, IV, V, typed from the standard.
AT_MOST = {
    "codmn": [2, 4, 6, 10, 15],  # 高锰酸盐指数
    "cod": [15, 15, 20, 30, 40],  # 化学需氧量
    "bod5": [3, 3, 4, 6, 10],  # 五日生化需氧量
    "nh3n": [0.15, 0.5, 1.0, 1.5, 2.0],  # 氨氮
    "tp": [0.02, 0.1, 0.2, 0.3, 0.4],  # 总磷（河流）
    "cu": [0.01, 1.0, 1.0, 1.0, 1.0],
    "zn": [0.05, 1.0, 1.0, 2.0, 2.0],
    "fluoride": [1.0, 1.0, 1.0, 1.5, 1.5],
    "se": [0.01, 0.01, 0.01, 0.02, 0.02],
    "as": [0.05, 0.05, 0.05, 0.1, 0.1],
    "hg": [0.00005, 0.00005, 0.0001, 0.001, 0.001],
    "cd": [0.001, 0.005, 0.005, 0.005, 0.01],
    "cr6": [0.01, 0.05, 0.05, 0.05, 0.1],
    "pb": [0.01, 0.01, 0.05, 0.05, 0.1],
    "cyanide": [0.005, 0.05, 0.2, 0.2, 0.2],
    "phenol": [0.002, 0.002, 0.005, 0.01, 0.1],
    "oil": [0.05, 0.05, 0.05, 0.5, 1.0],
    "las": [0.2, 0.2, 0.2, 0.3, 0.3],
    "sulfide": [0.05, 0.1, 0.2, 0.5, 1.0],
    "fecal": [200, 2000, 10000, 20000, 40000],  # 粪大肠菌群（个/L）
}
LAKE = {"tp": [0.01, 0.025, 0.05, 0.1, 0.2], "tn": [0.2, 0.5, 1.0, 1.5, 2.0]}  # 湖、库
DO = [7.5, 6, 5, 3, 2]  # 溶解氧 ≥


def edge_cases(limits: list[float]) -> list[tuple[float, str]]:
    """At each limit the best class sharing it; a hair above the limit the next class with a higher limit."""
    cases = []
    for i, limit in enumerate(limits):
        best = ORDER[limits.index(limit)]  # tied limits (COD 15 for I and II): the better class
        cases.append((limit, best))
        above = limit * 1.001
        nxt = next((ORDER[j] for j in range(i + 1, 5) if limits[j] >= above), "劣V")
        cases.append((above, nxt))
    return cases


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [(key, value, cls) for key, limits in AT_MOST.items() for value, cls in edge_cases(limits)],
)
def test_at_most_indicators_at_every_edge(key: str, value: float, expected: str) -> None:
    assert indicator_class(key, value) == expected


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [(key, value, cls) for key, limits in LAKE.items() for value, cls in edge_cases(limits)],
)
def test_lake_limits_at_every_edge(key: str, value: float, expected: str) -> None:
    assert indicator_class(key, value, lake=True) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(7.5, "I"), (7.49, "II"), (6, "II"), (5.99, "III"), (5, "III"), (4.99, "IV"), (3, "IV"), (2.99, "V"),
     (2, "V"), (1.99, "劣V")],
)  # fmt: skip
def test_dissolved_oxygen_at_every_edge(value: float, expected: str) -> None:
    assert indicator_class("do", value) == expected


@pytest.mark.parametrize(("value", "expected"), [(6, "I"), (9, "I"), (7.2, "I"), (5.99, "劣V"), (9.01, "劣V")])
def test_ph_is_a_range_for_classes_one_to_five(value: float, expected: str) -> None:
    assert indicator_class("ph", value) == expected


def test_hand_checked_spot_values() -> None:
    # 氨氮 0.5 is exactly the class II limit; 0.51 exceeds it but not III's 1.0.
    assert indicator_class("nh3n", 0.5) == "II" and indicator_class("nh3n", 0.51) == "III"
    # 化学需氧量 15 is the shared I/II limit: class I; 16 is within III's 20.
    assert indicator_class("cod", 15) == "I" and indicator_class("cod", 16) == "III"
    # 总磷 0.05 in a river is II (≤ 0.1); in a lake it is the III limit.
    assert indicator_class("tp", 0.05) == "II" and indicator_class("tp", 0.05, lake=True) == "III"


def test_sample_class_is_the_worst_indicator_and_names_it() -> None:
    # pH 7 (I), DO 6.5 (II), 氨氮 1.2 (IV), 总磷 0.3 (IV), 高锰酸盐指数 3 (II): IV, set by 氨氮 and 总磷.
    cls, deciding = sample_class({"ph": 7, "do": 6.5, "nh3n": 1.2, "tp": 0.3, "codmn": 3})
    assert cls == "IV" and deciding == ["氨氮", "总磷"]
    # 总氮 counts for lakes only; 粪大肠菌群 is reported, not classed.
    assert sample_class({"nh3n": 0.1, "tn": 3.0, "fecal": 50000}) == ("I", ["氨氮"])
    assert sample_class({"nh3n": 0.1, "tn": 3.0}, lake=True) == ("劣V", ["总氮"])
    assert sample_class({"fecal": 100}) == (None, [])


def test_headers_are_read_by_their_usual_names() -> None:
    names = ["pH", "溶解氧", "高锰酸盐指数", "化学需氧量", "五日生化需氧量", "氨氮", "总磷", "总氮", "NH3-N", "COD"]
    assert [indicator_key(n) for n in names] == ["ph", "do", "codmn", "cod", "bod5", "nh3n", "tp", "tn", "nh3n", "cod"]
    assert indicator_key("氨氮(mg/L)") == "nh3n" and indicator_key("备注") is None
