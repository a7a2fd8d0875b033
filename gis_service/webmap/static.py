"""The standalone issue map (``rivergis map problems -o FILE.html``): one file that opens from a USB stick.

Leaflet, its plugins and the map script are inlined; the filtered sites are embedded once as
compact columns (not as per-marker code), and the page filters them in the browser. A file holds at
most ``RIVERGIS_MAP_STANDALONE_LIMIT`` sites (100 000 by default): past that it is refused, naming the
filters that make it smaller.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from gis_service.clock import BusinessClock
from gis_service.errors import BadRequest
from gis_service.ledger.filters import ProblemFilter
from gis_service.webmap.base import MapSetup
from gis_service.webmap.clusters import count_capped
from gis_service.webmap.problems import problems_map


def export_problems_map(
    engine: Engine,
    setup: MapSetup,
    output: Path,
    flt: ProblemFilter,
    *,
    clock: BusinessClock,
    basemap: str | None = None,
    record_base: str | None = None,
    limit: int = 100_000,
) -> int:
    """Write the standalone issue map to ``output``; return its size in bytes.

    The file carries every site it shows, with its popup fields, and the browser clusters them: past
    ``limit`` sites (``RIVERGIS_MAP_STANDALONE_LIMIT``) it would be too large to open, so it is refused.
    """
    if output.suffix.lower() not in {".html", ".htm"}:
        raise BadRequest(f"输出文件 {output} 应以 .html 结尾", code="bad_output_suffix")
    if not output.parent.exists():
        raise BadRequest(f"输出目录 {output.parent} 不存在；请先创建", code="output_dir_missing")
    with engine.connect() as conn:
        found = count_capped(conn, flt, today=clock.today(), cap=limit)
        if found > limit:
            raise BadRequest(
                f"筛选结果超过 {limit} 个问题点，独立地图文件最多容纳 {limit} 个：请缩小范围"
                "（如 --town 镇街、--river 河流、--status 状态或 --from/--to 日期），"
                "或在服务中打开 /maps/problems（超过该数量时显示服务端聚合）。",
                code="standalone_map_too_large",
                details={"limit": limit},
            )
        html = problems_map(
            conn, setup, flt, today=clock.today(), basemap=basemap, standalone=True, record_base=record_base
        )
    data = html.encode("utf-8")
    output.write_bytes(data)
    return len(data)
