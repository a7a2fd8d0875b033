"""The standalone issue map (``rivergis map problems -o FILE.html``): one file that opens from a USB stick.

Leaflet, its plugins and the map script are inlined; the filtered sites are embedded once as
compact columns (not as per-marker code), and the page filters them in the browser.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from gis_service.clock import BusinessClock
from gis_service.errors import BadRequest
from gis_service.ledger.filters import ProblemFilter
from gis_service.webmap.problems import problems_map


def export_problems_map(
    engine: Engine,
    output: Path,
    flt: ProblemFilter,
    *,
    clock: BusinessClock,
    basemap: str | None = None,
    record_base: str | None = None,
) -> int:
    """Write the standalone issue map to ``output``; return its size in bytes."""
    if output.suffix.lower() not in {".html", ".htm"}:
        raise BadRequest(f"输出文件 {output} 应以 .html 结尾", code="bad_output_suffix")
    if not output.parent.exists():
        raise BadRequest(f"输出目录 {output.parent} 不存在；请先创建", code="output_dir_missing")
    with engine.connect() as conn:
        html = problems_map(conn, flt, today=clock.today(), basemap=basemap, standalone=True, record_base=record_base)
    data = html.encode("utf-8")
    output.write_bytes(data)
    return len(data)
