"""``rivergis map problems``: the issue map as one standalone HTML file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gis_service.cli.common import business_clock, cli_settings, handles_errors, ready_engine
from gis_service.cli.output import console

map_app = typer.Typer(help="地图导出", no_args_is_help=True)


@map_app.command("problems", help="把问题点地图导出为一个独立 HTML 文件（数据内嵌，可离线打开）。")
@handles_errors
def problems(
    output: Annotated[Path, typer.Option("-o", "--output", help="输出 HTML 文件")],
    status: Annotated[str | None, typer.Option(help="状态，逗号分隔，如 reported,confirmed 或 已上报")] = None,
    category: Annotated[str | None, typer.Option(help="类别，逗号分隔，如 dumping 或 乱堆")] = None,
    town: Annotated[str | None, typer.Option(help="镇街名称")] = None,
    river: Annotated[str | None, typer.Option(help="河流编码")] = None,
    date_from: Annotated[str | None, typer.Option("--from", help="发现日期起，如 2024-01-01")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="发现日期止")] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="只导出超期问题")] = False,
    basemap: Annotated[str | None, typer.Option(help="底图：none（离线，默认）、osm、tianditu_vec …")] = None,
    record_base: Annotated[str | None, typer.Option(help="弹窗中记录链接的服务地址，如 http://10.0.0.5:8000")] = None,
) -> None:
    """Write the issue map as a standalone page (assets inlined, data embedded) that works offline."""
    from gis_service.ledger.filters import ProblemFilter
    from gis_service.webmap.base import MapSetup
    from gis_service.webmap.static import export_problems_map

    setup = MapSetup.of(cli_settings())
    flt = ProblemFilter.parse(
        {
            "status": status,
            "category": category,
            "town": town,
            "river": river,
            "from": date_from,
            "to": date_to,
            "overdue": "1" if overdue else "",
        },
        setup.catalogue["problems"],
    )
    size = export_problems_map(
        ready_engine(),
        setup,
        output,
        flt,
        clock=business_clock(),
        basemap=basemap or "none",
        record_base=record_base,
        limit=cli_settings().map_standalone_limit,
    )
    console.print(f"已写出问题点地图 {output}（{size / 1024:.0f} KB），可离线打开。")
