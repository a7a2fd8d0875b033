"""The dashboard's patrol panel (巡河): coverage and overdue reaches by town, from :mod:`gis_service.chiefs.stats`.

Each town links to the patrols page filtered to that town; an overdue bar opens its overdue list.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

from sqlalchemy.orm import Session

from gis_service.chiefs.stats import COVERAGE_GOOD, RECENT_DAYS, patrol_stats
from gis_service.settings import Settings
from gis_service.web.dashboard import Figure


def town_link(town: str, anchor: str = "") -> str:
    """Return the patrols page of one town (``anchor``: a section of it, such as the overdue list)."""
    return f"/patrols?{urlencode({'town': town})}{anchor}"


def patrol_panel(session: Session, settings: Settings, today: dt.date) -> dict[str, Any]:
    """Return the patrol figures by town, the per-town table and the district totals."""
    stats = patrol_stats(session, settings, today)
    coverage = Figure(
        "patrol_coverage",
        f"巡河平均覆盖率（按镇街，近 {RECENT_DAYS} 天）",
        "/patrols",
        "%",
        threshold=COVERAGE_GOOD * 100,
    )
    overdue = Figure("patrol_overdue", "超期未巡河段（按镇街）", "/patrols#rg-overdue", "段")
    rows = []
    for row in stats["by_town"]:
        town, mean = row["town"], row["mean_coverage"]
        link = town_link(town)
        rows.append({**row, "link": link, "overdue_link": town_link(town, "#rg-overdue")})
        if mean is not None:
            coverage.add(town, round(mean * 100, 1), link, mean >= COVERAGE_GOOD)
    # Most overdue first: the chart shows the towns to chase at the top.
    for row in sorted(rows, key=lambda r: (-r["overdue"], r["town"])):
        overdue.add(row["town"], row["overdue"], row["overdue_link"], row["overdue"] == 0)
    return {
        "figures": [coverage, overdue],
        "rows": rows,
        "total": stats["total"],
        "since": stats["since"],
        "days": RECENT_DAYS,
    }
