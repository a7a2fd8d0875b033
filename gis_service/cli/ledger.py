"""``rivergis problems …`` and ``rivergis outfalls …``: the ledger and the outfall register from the command line.

Problems: overdue, stats, transition, history, rederive. Outfalls: list (with the register's
flags), stats, export. Imports go through ``rivergis import problems|outfalls``.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from gis_service.access import audit
from gis_service.cli.common import business_clock, cli_catalogue, cli_settings, handles_errors, ready_engine
from gis_service.cli.output import console
from gis_service.clock import BusinessClock
from gis_service.db.engine import transaction
from gis_service.errors import BadRequest
from gis_service.export.geojson import _json_default
from gis_service.ledger import outfalls, service
from gis_service.ledger.photos import PhotoUpload

problems_app = typer.Typer(help="问题台账：超期、统计、流转、历史", no_args_is_help=True)
outfalls_app = typer.Typer(
    help="入河排污口名录（一口一档）：列表、统计、导出；导入用 rivergis import outfalls", no_args_is_help=True
)


def _clock(as_of: str | None) -> service.Clock:
    """Return the business clock, or one stopped at noon (office time) of ``as_of``."""
    clock = business_clock()
    if not as_of:
        return clock
    day = service.parse_date(as_of, "--as-of")
    assert day is not None
    return BusinessClock(zone=clock.zone, source=lambda: dt.datetime.combine(day, dt.time(12), tzinfo=clock.zone))


def _print_json(data: Any) -> None:
    """Print data as JSON (Chinese as is)."""
    console.print_json(json.dumps(data, ensure_ascii=False, default=_json_default))


def _filter(town: str | None, river: str | None, unit: str | None) -> service.ProblemFilter:
    """Return the list filter of the common options."""
    return service.ProblemFilter(town=town, river_code=river, responsible_unit=unit)


Town = Annotated[str | None, typer.Option(help="镇街")]
River = Annotated[str | None, typer.Option(help="河流编码")]
Unit = Annotated[str | None, typer.Option(help="责任单位")]
AsOf = Annotated[str | None, typer.Option("--as-of", help="按该日期计算（YYYY-MM-DD，默认今天）")]
AsJson = Annotated[bool, typer.Option("--json", help="输出 JSON")]
OverdueSort = Annotated[str, typer.Option(help="排序：默认 deadline（超期最久在前），如 town,deadline；前加 - 为倒序")]
Limit = Annotated[int, typer.Option(min=1, help="最多列出条数")]
Offset = Annotated[int, typer.Option(min=0, help="跳过前若干条（分页）")]


@problems_app.command("overdue", help="列出超期问题（过了整改时限仍未整改完成），可排序分页，按镇街、河流、单位计数。")
@handles_errors
def overdue_cmd(
    town: Town = None,
    river: River = None,
    unit: Unit = None,
    as_of: AsOf = None,
    sort: OverdueSort = "deadline",
    limit: Limit = 1000,
    offset: Offset = 0,
    as_json: AsJson = False,
) -> None:
    """List overdue items (past the deadline, not rectified or closed), with counts per town/river/unit."""
    with transaction(ready_engine()) as session:
        data = service.overdue(
            session,
            problems=cli_catalogue()["problems"],
            flt=_filter(town, river, unit),
            clock=_clock(as_of),
            sort=sort,
            limit=limit,
            offset=offset,
        )
    if as_json:
        _print_json(data)
        return
    shown = f"第 {offset + 1}–{offset + len(data['items'])} 个" if data["items"] else "本页无"
    table = Table(title=f"超期问题（截至 {data['as_of']}，共 {data['count']} 个，{shown}）")
    for header in ("编号", "类别", "河流", "镇街", "状态", "整改时限", "超期天数", "责任单位"):
        table.add_column(header)
    for item in data["items"]:
        table.add_row(
            *(
                escape(str(item.get(k) or ""))
                for k in (
                    "code",
                    "category",
                    "river_code",
                    "town",
                    "status_label",
                    "deadline",
                    "days_overdue",
                    "responsible_unit",
                )
            )
        )
    console.print(table)


@problems_app.command("stats", help="台账统计：按状态、类别计数，销号率、按期整改率（总体或按镇街、河流、单位）。")
@handles_errors
def stats_cmd(
    by: Annotated[str | None, typer.Option(help="分组：town | river | unit")] = None,
    town: Town = None,
    river: River = None,
    unit: Unit = None,
    as_of: AsOf = None,
    as_json: AsJson = False,
) -> None:
    """Show counts by status and category, closure rate and on-time rate (overall and per group)."""
    with transaction(ready_engine()) as session:
        data = service.statistics(
            session, problems=cli_catalogue()["problems"], by=by, flt=_filter(town, river, unit), clock=_clock(as_of)
        )
    if as_json:
        _print_json(data)
        return
    rows = [{"key": "全部", **data}, *data.get("groups", [])]
    table = Table(title=f"问题台账统计（截至 {data['as_of']}）")
    for header in ("分组", "合计", "超期", "已销号", "销号率", "按期整改率"):
        table.add_column(header)
    for row in rows:
        rate = row["closure_rate"]
        on_time = row["on_time_rate"]
        table.add_row(
            escape(str(row["key"] or "未判定")),
            str(row["total"]),
            str(row["overdue"]),
            str(row["by_status"]["closed"]),
            "—" if rate is None else f"{rate:.1%}",
            "—" if on_time is None else f"{on_time:.1%}",
        )
    console.print(table)


def _data(pairs: list[str]) -> dict[str, str]:
    """Parse ``key=value`` options."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise BadRequest(f"--set 参数 {pair!r} 应为 键=值，如 deadline=2025-06-30", code="bad_option")
        out[key.strip()] = value.strip()
    return out


@problems_app.command("transition", help="对问题执行一步流转（确认、交办、整改、销号、回头看等），按状态机检查。")
@handles_errors
def transition_cmd(
    problem_id: Annotated[int, typer.Argument(help="问题 id")],
    action: Annotated[str, typer.Argument(help="confirm|dismiss|assign|start|rectify|reject|close|reopen")],
    note: Annotated[str | None, typer.Option(help="说明/原因")] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="字段 键=值：deadline、responsible_unit、measures、verifier、evidence"),
    ] = None,
    photo: Annotated[list[Path] | None, typer.Option(help="证据照片（JPEG/PNG），可多次")] = None,
    version: Annotated[int | None, typer.Option(help="预期的 lock_version（乐观锁；默认取当前版本）")] = None,
    actor: Annotated[str, typer.Option(help="操作人")] = "cli",
) -> None:
    """Take one ledger step on a problem (the state machine and its required fields apply)."""
    uploads = []
    for path in photo or []:
        if not path.is_file():
            raise BadRequest(f"照片文件 {path} 不存在", code="photo_not_found")
        uploads.append(PhotoUpload(filename=path.name, content=path.read_bytes()))
    with transaction(ready_engine()) as session:
        event = service.transition(
            session,
            problem_id,
            action,
            actor=actor,
            expected_version=version,
            note=note,
            data=_data(set_ or []),
            attachments=uploads,
            settings=cli_settings(),
            clock=business_clock(),
        )
        audit(
            session,
            actor=actor,
            action=f"problem.{action}",
            target_type="problem",
            target_id=problem_id,
            details={
                "event_id": event.id,
                "from_status": event.from_status,
                "to_status": event.to_status,
                "via": "cli",
            },
        )
        console.print(f"问题 {problem_id}：{event.from_status} → {event.to_status}（记录 {event.id}）")


@problems_app.command("history", help="显示问题的全部台账记录：谁、何时、做了什么、证据。")
@handles_errors
def history_cmd(problem_id: Annotated[int, typer.Argument(help="问题 id")], as_json: AsJson = False) -> None:
    """Show every step of a problem's ledger."""
    with transaction(ready_engine()) as session:
        events = service.history(session, problem_id)
    if as_json:
        _print_json(events)
        return
    table = Table(title=f"问题 {problem_id} 的台账记录")
    for header in ("时间", "操作", "状态", "操作人", "说明", "附件"):
        table.add_column(header)
    for e in events:
        table.add_row(
            str(e["at"])[:19],
            escape(e["action_label"]),
            f"{e['from_status'] or ''} → {e['to_status']}",
            escape(e["actor"]),
            escape(e["note"] or ""),
            str(len(e["attachments"])),
        )
    console.print(table)


@problems_app.command("rederive", help="管理范围或岸线分区新版本批准后，重新判定未结问题的属地（全部或某条河流附近）。")
@handles_errors
def rederive_cmd(river: River = None) -> None:
    """Re-derive the jurisdiction of open sites (all, or near one river) after new ranges or zones."""
    with transaction(ready_engine()) as session:
        changed = service.rederive_jurisdiction(
            session, river, settings=cli_settings(), actor="cli", clock=business_clock()
        )
        audit(session, actor="cli", action="problem.rederive", details={"river_code": river, "changed": changed})
    console.print(f"重新判定属地：{changed} 个问题有变化")


OUTFALL_HEADERS = {
    "code": "编码",
    "name": "名称",
    "river_code": "受纳河流",
    "outfall_type": "类型",
    "stage": "阶段",
    "outcome": "整治方式",
    "status": "状态",
    "zone_type": "岸线分区",
    "flags": "问题标记",
}


def _outfall_filters(river: str | None, kind: str | None, stage: str | None, status: str | None) -> dict[str, Any]:
    """Return the register filters of the common options."""
    return {"river_code": river, "outfall_type": kind, "stage": stage, "status": status}


Kind = Annotated[str | None, typer.Option("--type", help="排口类型：industrial | municipal | agricultural | other")]
Stage = Annotated[str | None, typer.Option(help="排查整治阶段：survey | monitor | trace | fix")]
OutfallStatus = Annotated[str | None, typer.Option("--status", help="状态：active | closed")]
Flagged = Annotated[bool | None, typer.Option("--flagged/--not-flagged", help="只看有（或没有）问题标记的")]


def _flag_text(flags: Any) -> str:
    """Return an outfall's flags as their Chinese labels."""
    return "；".join(outfalls.FLAG_LABELS[f] for f in flags or [])


@outfalls_app.command("list", help="列出入河排污口名录，含所在岸线分区和问题标记，可按河流、类型、阶段、状态筛选。")
@handles_errors
def outfalls_list_cmd(
    river: River = None,
    kind: Kind = None,
    stage: Stage = None,
    status: OutfallStatus = None,
    flagged: Flagged = None,
    as_json: AsJson = False,
) -> None:
    """List the register with each outfall's shoreline zone and flagged checks."""
    with transaction(ready_engine()) as session:
        frame = outfalls.list_outfalls(
            session, flagged=flagged, settings=cli_settings(), **_outfall_filters(river, kind, stage, status)
        )
    rows = frame.drop(columns=frame.geometry.name).assign(lon=frame.geometry.x, lat=frame.geometry.y)
    if as_json:
        _print_json(rows.astype(object).where(rows.notna(), None).to_dict("records"))
        return
    fields = {f.name: f for f in cli_catalogue()["outfalls"].fields} | {
        "zone_type": cli_catalogue()["zones"].field("zone_type")
    }
    table = Table(title=f"入河排污口名录（{len(rows)} 个）")
    for header in OUTFALL_HEADERS.values():
        table.add_column(header)
    for rec in rows.to_dict("records"):
        cells = [
            _flag_text(rec["flags"]) if k == "flags" else fields[k].value_label(rec.get(k)) for k in OUTFALL_HEADERS
        ]
        table.add_row(*(escape("" if c is None or c != c else str(c)) for c in cells))
    console.print(table)


@outfalls_app.command("stats", help="排污口统计：按类型、阶段、整治方式、状态计数，及各项问题标记数。")
@handles_errors
def outfalls_stats_cmd(
    river: River = None, kind: Kind = None, stage: Stage = None, status: OutfallStatus = None, as_json: AsJson = False
) -> None:
    """Show the register's counts by type, stage, outcome and status, and how many outfalls each check flags."""
    with transaction(ready_engine()) as session:
        data = outfalls.outfall_statistics(
            session, settings=cli_settings(), **_outfall_filters(river, kind, stage, status)
        )
    if as_json:
        _print_json(data)
        return
    layer = cli_catalogue()["outfalls"]
    table = Table(title=f"入河排污口统计（共 {data['total']} 个）")
    for header in ("分项", "取值", "数量"):
        table.add_column(header)
    for key, column in outfalls.COUNTED.items():
        for code, n in data[key].items():
            table.add_row(layer.field(column).label, escape(str(layer.field(column).value_label(code))), str(n))
    for name, n in data["flags"].items():
        table.add_row("问题标记", outfalls.FLAG_LABELS[name], str(n))
    console.print(table)


@outfalls_app.command("export", help="导出排污口名录（含分区和问题标记）：xlsx 名录，或 gpkg、geojson、shp.zip、csv。")
@handles_errors
def outfalls_export_cmd(
    output: Annotated[Path, typer.Option("-o", "--output", help=".xlsx（名录）.gpkg .geojson .shp.zip .csv")],
    crs: Annotated[str | None, typer.Option(help="输出坐标系，如 4490、4524、4545、4326")] = None,
    encoding: Annotated[str | None, typer.Option(help="Shapefile/CSV 编码：UTF-8 或 GBK")] = None,
    labels: Annotated[str, typer.Option(help="字段名：en（英文字段名）或 zh（中文标签）")] = "en",
    river: River = None,
    kind: Kind = None,
    stage: Stage = None,
    status: OutfallStatus = None,
    flagged: Flagged = None,
) -> None:
    """Export the register (filtered) with zones and flags: the Excel 名录, or GIS and table formats."""
    from gis_service.export.files import format_of, write_layer
    from gis_service.ingest.crs import parse_crs

    kind_of_file = format_of(output)
    parse_crs(crs)
    with transaction(ready_engine()) as session:
        frame = outfalls.list_outfalls(
            session, flagged=flagged, settings=cli_settings(), **_outfall_filters(river, kind, stage, status)
        )
        if kind_of_file != ".xlsx":
            # GIS formats hold text, not lists: the flags are written as their labels.
            frame = frame.assign(flags=frame["flags"].map(_flag_text))
        layer = cli_catalogue()["outfalls"]
        write_layer(
            frame,
            layer,
            output,
            crs=crs,
            encoding=encoding,
            labels=labels,
            session=session,
            settings=cli_settings(),
        )
    console.print(f"已导出 {len(frame)} 个排污口到 {output}")
