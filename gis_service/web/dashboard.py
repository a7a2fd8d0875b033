"""The dashboard's figures, from the existing services: the ratio check, ledger statistics, the outfall register.

Each figure is a small bar chart (ECharts draws it in the page) whose bars link to the page behind them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from sqlalchemy.orm import Session

from gis_service.catalogue import Catalogue, LayerSpec, catalogue_for
from gis_service.clock import BusinessClock
from gis_service.ledger.outfall_reports import outfall_statistics
from gis_service.ledger.stats import overdue, statistics
from gis_service.settings import Settings
from gis_service.store.current import CurrentFeatures
from gis_service.store.history import DeliveryHistory
from gis_service.store.ratios import current_report, ratio_rules

MAX_BARS = 15


@dataclass
class Figure:
    """One chart: its title, the page behind it, and bars (label, value, link)."""

    key: str
    title: str
    href: str
    unit: str
    labels: list[str] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    good: list[bool | None] = field(default_factory=list)
    threshold: float | None = None

    def add(self, label: str, value: float, link: str, good: bool | None = None) -> None:
        """Append one bar (``good``: green when True, red when False, plain when None)."""
        self.labels.append(label)
        self.values.append(value)
        self.links.append(link)
        self.good.append(good)

    def chart(self) -> dict[str, Any]:
        """Return what the page's script needs to draw the chart (JSON)."""
        return {
            "labels": self.labels[:MAX_BARS],
            "values": self.values[:MAX_BARS],
            "links": self.links[:MAX_BARS],
            "good": self.good[:MAX_BARS],
            "unit": self.unit,
            "threshold": self.threshold,
        }


def _link(path: str, **params: str) -> str:
    """Return ``path`` with a query string."""
    return f"{path}?{urlencode(params)}" if params else path


def _label(layer: LayerSpec, column: str, code: str) -> str:
    """Return a coded value's Chinese label from the catalogue's ``layer``."""
    return str(layer.field(column).value_label(code))


def ratio_figures(
    session: Session, settings: Settings
) -> tuple[list[Figure], dict[str, Any], dict[str, dict[str, Any]]]:
    """Return the ratio charts by river and by town, the district total and each river's ratio row."""
    report = current_report(session, catalogue_for(settings), ratio_rules(settings))
    body = report.to_json()
    threshold = settings.ratio_threshold * 100
    by_river = Figure("ratio_river", "岸线保护比例（按河流）", "/ratios", "%", threshold=threshold)
    for river in body["rivers"]:
        # Coloured by compliance, not by the bar alone: gaps or overlaps keep a river over 50% non-compliant.
        value = round((river["ratio"] or 0) * 100, 1)
        by_river.add(str(river["name"]), value, f"/maps/rivers/{river['code']}", bool(river["compliant"]))
    by_town = Figure("ratio_town", "岸线保护比例（按镇街）", "/ratios", "%", threshold=threshold)
    towns = report.town_table()
    for town, ratio in zip(towns["town"].astype(str), towns["ratio"].fillna(0).astype(float), strict=True):
        value = round(ratio * 100, 1)
        by_town.add(town, value, _link("/ratios", town=town), value >= threshold)
    return [by_river, by_town], body["total"], {r["code"]: r for r in body["rivers"]}


def ledger_figures(session: Session, catalogue: Catalogue, clock: BusinessClock) -> tuple[list[Figure], dict[str, Any]]:
    """Return the ledger by status and category, and overdue items (as of ``clock``) by town and responsible unit."""
    problems = catalogue["problems"]
    stats = statistics(session, problems=problems, clock=clock)
    by_status = Figure("ledger_status", "问题台账（按状态）", "/problems", "处")
    for code, n in stats["by_status"].items():
        by_status.add(_label(problems, "status", code), n, _link("/problems", status=code))
    by_category = Figure("ledger_category", "问题台账（按类别）", "/problems", "处")
    for code, n in stats["by_category"].items():
        by_category.add(_label(problems, "category", code), n, _link("/problems", category=code))
    late = overdue(session, problems=problems, clock=clock, limit=1)
    by_town = Figure("overdue_town", "逾期未办结（按镇街）", _link("/problems", overdue="1"), "处")
    for town, n in sorted(late["by_town"].items(), key=lambda kv: -kv[1]):
        by_town.add(town, n, _link("/problems", overdue="1", town=town))
    by_unit = Figure("overdue_unit", "逾期未办结（按责任单位）", _link("/problems", overdue="1"), "处")
    for unit, n in sorted(late["by_unit"].items(), key=lambda kv: -kv[1]):
        by_unit.add(unit, n, _link("/problems", overdue="1", unit=unit))
    return [by_status, by_category, by_town, by_unit], stats


def outfall_figures(session: Session, settings: Settings) -> tuple[list[Figure], dict[str, Any]]:
    """Return the outfalls by campaign stage (排查→监测→溯源→整治)."""
    stats = outfall_statistics(session, settings=settings)
    by_stage = Figure("outfall_stage", "入河排污口（按整治阶段）", "/outfalls", "个")
    for code, n in stats["by_stage"].items():
        by_stage.add(_label(catalogue_for(settings)["outfalls"], "stage", code), n, _link("/outfalls", stage=code))
    return [by_stage], stats


def river_rows(session: Session, catalogue: Catalogue, ratios: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Return each river with its current range and zoning versions and its ratio (for the rivers table)."""
    current = {key: d.version for key, d in DeliveryHistory().current(session).items()}
    rows = []
    rivers = CurrentFeatures(catalogue["rivers"], sort=(("code", False),))
    for code, name, important in rivers.values(session, "code", "name", "important"):
        ratio = ratios.get(code) or {}
        rows.append(
            {
                "code": code,
                "name": name,
                "important": bool(important),
                "range_version": current.get((code, "boundaries")),
                "zones_version": current.get((code, "zones")),
                "length_km": None if ratio.get("length_m") is None else ratio["length_m"] / 1000,
                "ratio": ratio.get("ratio"),
                "compliant": ratio.get("compliant"),
            }
        )
    return rows
