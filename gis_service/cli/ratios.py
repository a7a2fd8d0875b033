"""``rivergis ratios``: the shoreline ratio check (岸线保护比例核算) as a table, JSON, CSV, XLSX or GeoJSON."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from gis_service.cli.common import cli_catalogue, cli_district, cli_settings, handles_errors, ready_engine
from gis_service.cli.output import console
from gis_service.errors import BadRequest


@handles_errors
def ratios(
    river: Annotated[str | None, typer.Option("--river", help="只核算这条河流（河流编码）")] = None,
    important_only: Annotated[bool, typer.Option("--important-only", help="只统计重要河道")] = False,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table | json | csv | xlsx | geojson")] = "table",
    output: Annotated[Path | None, typer.Option("-o", "--output", help="输出文件（xlsx 必填）")] = None,
) -> None:
    """Check the shoreline ratio (保护区+保留区 ≥ 50%) of the current zone sets, per bank, river and town."""
    from gis_service.export.ratios import check_format, render, rich_table, zone_labels
    from gis_service.store.ratios import current_report, ratio_rules

    check_format(fmt)
    if fmt == "xlsx" and output is None:
        raise BadRequest("xlsx 是二进制文件：请用 -o 指定输出路径，例如 -o 岸线核算.xlsx", code="output_required")
    engine = ready_engine()
    with console.status("正在核算岸线功能区比例…"), engine.connect() as conn:
        report = current_report(conn, cli_catalogue(), ratio_rules(cli_settings()), river=river)
    if fmt == "table":
        console.print(rich_table(report, important_only))
        for warning in report.warnings:
            console.print(f"[yellow]提示[/] {escape(warning)}", highlight=False)
        return
    data = render(report, zone_labels(cli_catalogue()), fmt, important_only, district=cli_district().name)
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(data)
    console.print(f"已写出 {output}")
