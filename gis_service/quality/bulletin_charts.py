"""The bulletin's charts as PNG images (matplotlib, Agg backend), drawn from the bulletin's own tables.

Figures are made without pyplot and the font is set on each text, never in the global rcParams
(safe in a server's threads); saving a PNG uses the Agg canvas.

Chinese labels need a CJK font; it is looked up among the fonts matplotlib knows. When none is
installed the bulletin keeps its tables and says, in one line, that the charts were left out.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from matplotlib import font_manager
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from gis_service.quality.bulletin import Bulletin, Table
from gis_service.quality.standard import CLASS_COLORS, CLASS_LABELS

# Families tried in order: Noto/Source Han (Debian's fonts-noto-cjk), WenQuanYi, then Windows' own.
CJK_FAMILIES = (
    "Noto Sans CJK SC",
    "Noto Sans CJK JP",
    "Source Han Sans SC",
    "Noto Serif CJK SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Microsoft YaHei",
    "SimHei",
)
NO_FONT = "本机未安装中文字体（如 fonts-noto-cjk），通报未附统计图，数据见各表。"
BLUE, GREEN, RED, GREY = "#206bc4", "#2fb344", "#d63939", "#999999"


@dataclass
class Chart:
    """One chart: the table it illustrates (by title), its caption and its PNG bytes."""

    table: str
    caption: str
    png: bytes


@lru_cache
def cjk_font() -> str | None:
    """Return the first installed CJK font family matplotlib can use, or None."""
    installed = {f.name for f in font_manager.fontManager.ttflist}
    return next((name for name in CJK_FAMILIES if name in installed), None)


def _png(fig: Figure) -> bytes:
    """Return a figure as PNG bytes, every text in the CJK font."""
    props = font_manager.FontProperties(family=cjk_font())
    for ax in fig.axes:
        legend = ax.get_legend()
        texts = [ax.title, *ax.texts, *ax.get_xticklabels(), *ax.get_yticklabels()]
        for text in [*texts, *(legend.get_texts() if legend else [])]:
            size = text.get_fontsize()
            text.set_fontproperties(props)
            text.set_fontsize(size)
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=150, bbox_inches="tight")
    return out.getvalue()


def _body(table: Table) -> list[list[Any]]:
    """Return a table's rows without its total row."""
    return [r for r in table.rows if r and r[0] != "合计"]


def _bars(title: str, labels: list[str], series: dict[str, tuple[list[float], str]], unit: str) -> bytes:
    """Draw horizontal grouped bars (one colour a series) with their values written at the bar ends."""
    height = max(2.2, 0.42 * len(labels) * max(1, len(series)) + 1.0)
    fig = Figure(figsize=(6.3, height))
    ax = fig.subplots()
    step = 0.8 / len(series)
    for k, (name, (values, colour)) in enumerate(series.items()):
        pos = [i + (k - (len(series) - 1) / 2) * step for i in range(len(labels))]
        bars = ax.barh(pos, values, height=step, color=colour, label=name)
        ax.bar_label(bars, fmt="{:g}" + unit, fontsize=8, padding=2)
    ax.set_yticks(range(len(labels)), labels)
    if unit == "%":
        ax.set_xlim(0, 110)  # room for the 100% label
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.invert_yaxis()
    ax.set_title(title, fontsize=11)
    ax.spines[["top", "right"]].set_visible(False)
    if len(series) > 1:
        ax.legend(fontsize=8, loc="lower right")
    return _png(fig)


def _ledger(table: Table) -> bytes | None:
    """Chart the ledger by town: new, closed and overdue items."""
    rows = _body(table)
    if not rows:
        return None
    series = {
        "本期新增": ([float(r[1]) for r in rows], BLUE),
        "本期销号": ([float(r[2]) for r in rows], GREEN),
        "超期未整改": ([float(r[3]) for r in rows], RED),
    }
    return _bars("问题台账进展（按镇街，处）", [str(r[0]) for r in rows], series, "")


def _classes(table: Table) -> bytes | None:
    """Chart how many sections are in each class (GB 3838 colours)."""
    by_label = {label: code for code, label in CLASS_LABELS.items()}
    counts: dict[str, int] = {}
    for row in table.rows:
        counts[str(row[3])] = counts.get(str(row[3]), 0) + 1
    shown = [label for label in (*CLASS_LABELS.values(), "无监测数据") if counts.get(label)]
    if not shown:
        return None
    fig = Figure(figsize=(6.3, 2.8))
    ax = fig.subplots()
    colours = [CLASS_COLORS.get(by_label.get(label, ""), GREY) for label in shown]
    bars = ax.bar(shown, [counts[label] for label in shown], color=colours, edgecolor="#555555")
    ax.bar_label(bars, fmt="{:g} 个", fontsize=8)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title("断面水质类别（个）", fontsize=11)
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def _tasks(table: Table) -> bytes | None:
    """Chart the mean progress of the 一河一策 tasks per river."""
    rows = _body(table)
    if not rows:
        return None
    series = {"平均进度": ([float(r[5]) for r in rows], BLUE)}
    return _bars("一河一策任务平均进度（%）", [str(r[0]) for r in rows], series, "%")


def _patrols(table: Table) -> bytes | None:
    """Chart the mean patrol coverage per town (towns without patrols show 0)."""
    rows = _body(table)
    if not rows:
        return None
    values = [0.0 if r[4] == "—" else float(r[4]) for r in rows]
    series = {"平均覆盖率": (values, GREEN)}
    return _bars("巡河平均覆盖率（按镇街，%）", [str(r[0]) for r in rows], series, "%")


DRAWERS = {
    "问题台账进展（按镇街）": _ledger,
    "断面水质": _classes,
    "一河一策任务进展": _tasks,
    "巡河覆盖（按镇街）": _patrols,
}


def bulletin_charts(bulletin: Bulletin) -> list[Chart] | None:
    """Return the charts of the bulletin's tables that have data, or None when no CJK font is installed."""
    font = cjk_font()
    if font is None:
        return None
    charts = []
    for table in bulletin.tables:
        draw = DRAWERS.get(table.title)
        png = draw(table) if draw else None
        if png is not None:
            charts.append(Chart(table.title, f"图：{table.title}", png))
    return charts
