"""River health scoring: band edges, grades (SL/T 793-2020) and the weighted mean over the indicators with a value."""

from __future__ import annotations

import pytest

from gis_service.quality.health import CONFIG, band_score, grade


@pytest.mark.parametrize(
    ("key", "value", "score"),
    [
        ("shoreline_ratio", 0.5, 100), ("shoreline_ratio", 0.4999, 80), ("shoreline_ratio", 0.2, 40),
        ("shoreline_ratio", 0.1999, 20), ("outfalls_per_km", 0, 100), ("outfalls_per_km", 0.1, 80),
        ("outfalls_per_km", 0.1001, 60), ("outfalls_per_km", 0.5001, 20), ("closure_rate", 0.9, 100),
        ("closure_rate", 0.8999, 80), ("ecological_flow", 70, 80), ("ecological_flow", 29.9, 20),
        ("water_quality", "III", 75), ("water_quality", "劣V", 0),
    ],
)  # fmt: skip
def test_band_edges(key: str, value: float | str, score: float) -> None:
    assert band_score(CONFIG[key], value) == score


@pytest.mark.parametrize(
    ("score", "label"),
    [(100, "非常健康"), (90, "非常健康"), (89.9, "健康"), (75, "健康"), (74.9, "亚健康"), (60, "亚健康"),
     (59.9, "不健康"), (40, "不健康"), (39.9, "劣态"), (0, "劣态")],
)  # fmt: skip
def test_grades(score: float, label: str) -> None:
    assert grade(score) == label


def test_weights_sum_to_one() -> None:
    assert sum(spec["weight"] for spec in CONFIG.values()) == pytest.approx(1.0)
