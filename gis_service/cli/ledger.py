"""``rivergis problems …``: the ledger from the command line (overdue, stats, transition, history, rederive)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from gis_service.access import audit
from gis_service.cli.common import console, handles_errors, ready_engine
from gis_service.db.engine import transaction
from gis_service.errors import BadRequest
from gis_service.export.geojson import _json_default
from gis_service.ledger import service
from gis_service.ledger.photos import PhotoUpload

problems_app = typer.Typer(help="问题台账：超期、统计、流转、历史", no_args_is_help=True)


def _clock(as_of: str | None) -> service.Clock:
    """Return a clock fixed at noon (China) of ``as_of``, or the system clock."""
    if not as_of:
        return service.system_clock
    day = service.parse_date(as_of, "--as-of")
    assert day is not None
    moment = dt.datetime.combine(day, dt.time(12), tzinfo=dt.timezone(dt.timedelta(hours=8)))
    return lambda: moment


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


@problems_app.command("overdue")
@handles_errors
def overdue_cmd(town: Town = None, river: River = None, unit: Unit = None, as_of: AsOf = None,
                as_json: AsJson = False) -> None:
    """List overdue items (past the deadline, not rectified or closed), with counts per town/river/unit."""
    with transaction(ready_engine()) as session:
        data = service.overdue(session, flt=_filter(town, river, unit), clock=_clock(as_of))
    if as_json:
        _print_json(data)
        return
    table = Table(title=f"超期问题（截至 {data['as_of']}，共 {data['count']} 个）")
    for header in ("编号", "类别", "河流", "镇街", "状态", "整改时限", "超期天数", "责任单位"):
        table.add_column(header)
    for item in data["items"]:
        table.add_row(*(escape(str(item.get(k) or "")) for k in (
            "code", "category", "river_code", "town", "status_label", "deadline", "days_overdue",
            "responsible_unit")))
    console.print(table)


@problems_app.command("stats")
@handles_errors
def stats_cmd(by: Annotated[str | None, typer.Option(help="分组：town | river | unit")] = None,
              town: Town = None, river: River = None, unit: Unit = None, as_of: AsOf = None,
              as_json: AsJson = False) -> None:
    """Show counts by status and category, closure rate and on-time rate (overall and per group)."""
    with transaction(ready_engine()) as session:
        data = service.statistics(session, by=by, flt=_filter(town, river, unit), clock=_clock(as_of))
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
        table.add_row(escape(str(row["key"] or "未判定")), str(row["total"]), str(row["overdue"]),
                      str(row["by_status"]["closed"]), "—" if rate is None else f"{rate:.1%}",
                      "—" if on_time is None else f"{on_time:.1%}")
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


@problems_app.command("transition")
@handles_errors
def transition_cmd(
    problem_id: Annotated[int, typer.Argument(help="问题 id")],
    action: Annotated[str, typer.Argument(help="confirm|dismiss|assign|start|rectify|reject|close|reopen")],
    note: Annotated[str | None, typer.Option(help="说明/原因")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="字段 键=值：deadline、responsible_unit、"
                                                   "measures、verifier、evidence")] = None,
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
        event = service.transition(session, problem_id, action, actor=actor, expected_version=version,
                                   note=note, data=_data(set_ or []), attachments=uploads)
        audit(session, actor=actor, action=f"problem.{action}", target_type="problem", target_id=problem_id,
              details={"event_id": event.id, "from_status": event.from_status, "to_status": event.to_status,
                       "via": "cli"})
        console.print(f"问题 {problem_id}：{event.from_status} → {event.to_status}（记录 {event.id}）")


@problems_app.command("history")
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
        table.add_row(str(e["at"])[:19], escape(e["action_label"]), f"{e['from_status'] or ''} → {e['to_status']}",
                      escape(e["actor"]), escape(e["note"] or ""), str(len(e["attachments"])))
    console.print(table)


@problems_app.command("rederive")
@handles_errors
def rederive_cmd(river: River = None) -> None:
    """Re-derive the jurisdiction of open sites (all, or near one river) after new ranges or zones."""
    with transaction(ready_engine()) as session:
        changed = service.rederive_jurisdiction(session, river, actor="cli")
        audit(session, actor="cli", action="problem.rederive", details={"river_code": river, "changed": changed})
    console.print(f"重新判定属地：{changed} 个问题有变化")


def register(app: typer.Typer) -> None:
    """Add the ``problems`` command group."""
    app.add_typer(problems_app, name="problems")
