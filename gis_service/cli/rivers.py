"""``rivergis rivers list``: the district's rivers with their codes, for every command that takes ``--river``."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from gis_service.cli.common import cli_catalogue, handles_errors, ready_engine
from gis_service.cli.output import console

rivers_app = typer.Typer(help="河流名录：河流编码、名称、河长级别", no_args_is_help=True)
COLUMNS = {"code": "河流编码", "name": "河流名称", "level": "河长级别", "important": "重要河道", "towns": "所在镇街"}


@rivers_app.command("list", help="列出河流及其编码（--river 等选项所用的编码）。")
@handles_errors
def list_rivers(
    important_only: Annotated[bool, typer.Option("--important-only", help="只列重要河道")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="输出 JSON")] = False,
) -> None:
    """List the rivers (code, name, chief level, importance, towns) in code order."""
    from gis_service.store.current import CurrentFeatures

    spec = cli_catalogue()["rivers"]
    with ready_engine().connect() as conn:
        frame = CurrentFeatures(spec).frame(conn)
    if important_only:
        frame = frame[frame["important"].fillna(False).astype(bool)]
    frame = frame.sort_values("code")
    rows = [
        {name: (None if value is None or value != value else value) for name, value in row.items()}
        for row in frame[list(COLUMNS)].to_dict("records")
    ]
    level = spec.field("level")
    if as_json:
        sys.stdout.write(json.dumps({"rivers": rows}, ensure_ascii=False, indent=2) + "\n")
        return
    table = Table(title=f"河流（{len(rows)} 条）")
    for label in COLUMNS.values():
        table.add_column(label)
    for row in rows:
        cells = [
            row["code"],
            row["name"],
            level.value_label(row["level"]),
            "是" if row["important"] else "",
            row["towns"],
        ]
        table.add_row(*(Text("" if c is None else str(c)) for c in cells))
    console.print(table)
