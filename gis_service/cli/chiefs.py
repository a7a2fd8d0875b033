"""``rivergis import chiefs``, ``rivergis chiefs|signboards|patrols|public-reports``: the river chiefs' work."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from gis_service.cli.common import business_clock, cli_catalogue, cli_settings, handles_errors, ready_engine
from gis_service.cli.output import console, print_json, print_rows
from gis_service.db.engine import transaction
from gis_service.errors import ServiceError

chiefs_app = typer.Typer(help="河长名录：列表、河段覆盖检查（缺漏与重叠）、导出", no_args_is_help=True)
signboards_app = typer.Typer(help="河长公示牌：生成、列表（待更新）、记录已更换、导出", no_args_is_help=True)
patrols_app = typer.Typer(help="巡河：上传轨迹（GPX、GeoJSON、KML）、列表、超期未巡河段", no_args_is_help=True)
reports_app = typer.Typer(help="群众举报：待审核列表、受理（转入问题台账）、不予受理", no_args_is_help=True)


def print_roster_report(report: dict[str, Any]) -> None:
    """Print a refused roster's problems, row by row."""
    print_rows(
        ["行", "列", "值", "问题"], [[p["row"], p["column"], p["value"], p["message"]] for p in report["problems"]]
    )


def import_roster(path: Path, *, dry_run: bool = False, as_json: bool = False) -> None:
    """Import the Excel roster (exit 2 with the report for bad rows, nothing stored)."""
    from gis_service.access import audit
    from gis_service.chiefs.assignments import apply_roster, river_facts, rivers_frame
    from gis_service.chiefs.roster import read_roster
    from gis_service.chiefs.signboards import refresh_flags

    clock = business_clock()
    try:
        engine = ready_engine()
        with transaction(engine) as session:
            rivers = rivers_frame(session, cli_catalogue())
            rows = read_roster(path, river_facts(rivers), clock.today(), cli_settings().gap_tolerance_m)
            if dry_run:
                result: dict[str, Any] = {"rows": len(rows), "stored": False}
            else:
                result = {**apply_roster(session, rows, rivers, cli_settings().gap_tolerance_m), "stored": True}
                result["signboards_outdated"] = len(refresh_flags(session, cli_settings(), clock.today()))
                audit(
                    session,
                    actor="cli",
                    action="chiefs.import",
                    target_type="roster",
                    target_id=path.name,
                    details=result,
                )
    except ServiceError as exc:
        if as_json:
            print_json(exc.to_dict())
            raise typer.Exit(exc.exit_code) from None
        if isinstance(exc.details, dict) and "problems" in exc.details:
            print_roster_report(exc.details)
        raise
    if as_json:
        print_json(result)
        return
    if dry_run:
        console.print(f"名录检查通过：{result['rows']} 行（--dry-run，未入库）。")
        return
    console.print(
        f"名录已导入：{result['rows']} 行，新任命 {result['added']}，未变 {result['unchanged']}，"
        f"交接卸任 {result['ended']}；待更新公示牌 {result['signboards_outdated']} 块。"
    )


@chiefs_app.command("list", help="列出某日在任的河长及其河段（默认今天），可按河流筛选；含联系电话。")
@handles_errors
def list_chiefs(
    river: Annotated[str | None, typer.Option(help="河流编码")] = None,
    on: Annotated[str | None, typer.Option(help="日期 YYYY-MM-DD（查历史上某日的河长）")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List the chiefs in office on a date with their reaches."""
    from gis_service.chiefs.assignments import assignment_record, assignments_on
    from gis_service.ledger.common import parse_date

    day = parse_date(on, "日期") or business_clock().today()
    with transaction(ready_engine()) as session:
        records = [assignment_record(a, c, staff=True) for a, c in assignments_on(session, day, river_code=river)]
    if as_json:
        print_json({"date": day.isoformat(), "assignments": records})
        return
    print_rows(
        ["河流", "级别", "河长", "职务", "河段", "任职日期", "联系电话"],
        [
            [
                r["river_code"],
                r["level_label"],
                r["chief"],
                r["post"],
                f"{r['start']}—{r['end']}",
                r["start_date"],
                r.get("phone"),
            ]
            for r in records
        ],
    )


@chiefs_app.command("coverage", help="检查每条重要河流（及有河长的河流）各级河长的河段：缺漏与重叠。")
@handles_errors
def coverage_command(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Report gaps and overlaps of the chiefs' reaches per river and level (exit 1 when incomplete)."""
    from gis_service.chiefs.assignments import coverage_check

    with transaction(ready_engine()) as session:
        report = coverage_check(session, cli_catalogue(), business_clock().today(), cli_settings().gap_tolerance_m)
    if as_json:
        print_json(report)
    else:
        rows = []
        for river in report["rivers"]:
            for level in river["levels"]:
                gaps = "；".join(f"{g['start']}—{g['end']}" for g in level["gaps"]) or "无"
                over = "；".join(f"{o['start']}—{o['end']}" for o in level["overlaps"]) or "无"
                rows.append([river["code"], river["name"], level["level_label"], level["chiefs"], gaps, over])
        print_rows(["河流", "名称", "级别", "河长数", "缺漏河段", "重叠河段"], rows)
    if not report["complete"]:
        raise typer.Exit(1)


@chiefs_app.command("export", help="导出河长名录（xlsx）：在任河长、河段、任期。")
@handles_errors
def export_chiefs(output: Annotated[Path, typer.Option("-o", "--output", help=".xlsx")]) -> None:
    """Write the roster in force today (and its history) to an Excel workbook."""
    from gis_service.chiefs.sheets import roster_workbook

    with transaction(ready_engine()) as session:
        n = roster_workbook(session, business_clock().today(), output)
    console.print(f"已导出 {n} 条任职记录到 {output}")


@signboards_app.command("generate", help="按在任河长生成公示牌（每个河段一块），并标记内容已过时的公示牌为待更新。")
@handles_errors
def generate_boards() -> None:
    """Generate boards for reaches without one and refresh the 待更新 flags."""
    from gis_service.chiefs.signboards import generate

    with transaction(ready_engine()) as session:
        result = generate(session, cli_settings(), business_clock())
    console.print(f"新增公示牌 {result['added']} 块，共 {result['boards']} 块，待更新 {result['outdated']} 块。")


@signboards_app.command("list", help="列出公示牌（--outdated 只列待更新的）。")
@handles_errors
def list_boards(
    outdated: Annotated[bool, typer.Option("--outdated", help="只列待更新")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List the boards, or only those to update."""
    from gis_service.chiefs.signboards import list_boards as boards

    with transaction(ready_engine()) as session:
        records = boards(session, cli_settings(), business_clock().today(), "outdated" if outdated else None)
    if as_json:
        print_json({"signboards": records})
        return
    print_rows(
        ["编号", "河流", "河段", "公示河长", "状态"],
        [[b["code"], b["river_code"], f"{b['start']}—{b['end']}", b["chiefs"], b["status_label"]] for b in records],
    )


@signboards_app.command("updated", help="记录公示牌已按现行名录更换（状态恢复为现行）。")
@handles_errors
def board_updated(board_id: int) -> None:
    """Record that a board now carries the roster's current text."""
    from gis_service.chiefs.signboards import mark_updated

    with transaction(ready_engine()) as session:
        board = mark_updated(session, cli_settings(), board_id, business_clock())
    console.print(Text(f"公示牌 {board['code']} 已更新：{board['chiefs']}"))


@signboards_app.command("export", help="导出待更新公示牌清单及每块的公示内容（xlsx）。")
@handles_errors
def export_boards(
    output: Annotated[Path, typer.Option("-o", "--output", help=".xlsx")],
    all_boards: Annotated[bool, typer.Option("--all", help="导出全部公示牌，而不只是待更新的")] = False,
    docx: Annotated[Path | None, typer.Option("--docx", help="另为每块公示牌写出可打印版面（Word）到此目录")] = None,
) -> None:
    """Write the boards to update (or all) with their texts to an Excel workbook (and a layout per board)."""
    from gis_service.chiefs.board_docx import board_document
    from gis_service.chiefs.sheets import boards_workbook
    from gis_service.chiefs.signboards import list_boards as boards

    today = business_clock().today()
    status = None if all_boards else "outdated"
    with transaction(ready_engine()) as session:
        n = boards_workbook(session, cli_settings(), today, output, status)
        records = boards(session, cli_settings(), today, status) if docx is not None else []
    if docx is not None:
        docx.mkdir(parents=True, exist_ok=True)
        for board in records:
            (docx / f"{board['code']}.docx").write_bytes(board_document(board))
        console.print(f"已写出 {len(records)} 份公示牌版面到 {docx}")
    console.print(f"已导出 {n} 块公示牌到 {output}")


@patrols_app.command("add", help="上传一次巡河轨迹（GPX、GeoJSON、KML），计算长度、时长和河段覆盖率。")
@handles_errors
def add_patrol(
    track: Annotated[Path, typer.Argument(help="轨迹文件 .gpx .geojson .kml")],
    chief: Annotated[str | None, typer.Option(help="河长姓名")] = None,
    river: Annotated[str | None, typer.Option(help="河流编码（不填则按河长河段或轨迹判断）")] = None,
    notes: Annotated[str | None, typer.Option(help="巡河记录")] = None,
    joint: Annotated[str | None, typer.Option(help="联合巡河的镇街或区县，顿号分隔")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Store a patrol and print its length, duration and coverage of the chief's reach."""
    from gis_service.access import audit
    from gis_service.chiefs.patrols import add_patrol as add
    from gis_service.chiefs.tracks import read_track

    parsed = read_track(track, settings=cli_settings())
    with transaction(ready_engine()) as session:
        record = add(
            session,
            parsed,
            settings=cli_settings(),
            chief_name=chief,
            river_code=river,
            actor="cli",
            clock=business_clock(),
            notes=notes,
            joint_units=joint,
        )
        audit(
            session,
            actor="cli",
            action="patrol.add",
            target_type="patrol",
            target_id=record["id"],
            details={"file": track.name},
        )
    if as_json:
        print_json(record)
        return
    minutes = f"{record['duration_s'] / 60:.0f} 分钟" if record["duration_s"] is not None else "无时间信息"
    console.print(
        Text(
            f"巡河记录 {record['id']}：{record['chief'] or '（未指定河长）'}，河流 {record['river_code']}，"
            f"轨迹 {record['length_m'] / 1000:.2f} km，{minutes}，河段覆盖率 {record['coverage']:.0%}"
        )
    )


@patrols_app.command("list", help="列出巡河记录（可按河长、河流筛选），新者在前。")
@handles_errors
def list_patrols(
    chief: Annotated[str | None, typer.Option(help="河长姓名")] = None,
    river: Annotated[str | None, typer.Option(help="河流编码")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List patrols, newest first."""
    from gis_service.chiefs.assignments import chief_named
    from gis_service.chiefs.patrols import list_patrols as patrols

    with transaction(ready_engine()) as session:
        chief_id = chief_named(session, chief).id if chief else None
        records = patrols(session, chief_id=chief_id, river_code=river)
    if as_json:
        print_json({"patrols": records})
        return
    print_rows(
        ["编号", "日期", "河长", "河流", "长度(km)", "覆盖率"],
        [
            [
                p["id"],
                p["patrol_date"],
                p["chief"],
                p["river_code"],
                f"{p['length_m'] / 1000:.2f}",
                f"{p['coverage']:.0%}",
            ]
            for p in records
        ],
    )


@patrols_app.command(
    "overdue", help="列出超期未巡的河段：超过本级巡河周期（村级 7 天、镇街级 14 天、区级 30 天）未巡。"
)
@handles_errors
def overdue(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List the reaches not patrolled within their period."""
    from gis_service.chiefs.patrols import overdue_reaches
    from gis_service.chiefs.rules import PatrolRules

    with transaction(ready_engine()) as session:
        rows = overdue_reaches(session, business_clock().today(), PatrolRules.of(cli_settings()))
    if as_json:
        print_json({"date": business_clock().today().isoformat(), "overdue": rows})
        return
    print_rows(
        ["河长", "级别", "河流", "河段", "上次巡河", "应巡日期", "超期天数"],
        [
            [
                r["chief"],
                r["level_label"],
                r["river_code"],
                f"{r['start']}—{r['end']}",
                r["last_patrol"] or "从未",
                r["due"],
                r["days_overdue"],
            ]
            for r in rows
        ],
    )


@reports_app.command("list", help="列出群众举报（默认待审核），含联系方式（仅工作人员可见）。")
@handles_errors
def list_reports(
    status: Annotated[str, typer.Option(help="pending | accepted | declined")] = "pending",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List the public reports awaiting moderation."""
    from gis_service.chiefs.public_reports import queue

    with transaction(ready_engine()) as session:
        rows = queue(session, status)
    if as_json:
        print_json({"reports": rows})
        return
    print_rows(
        ["编号", "类别", "描述", "位置", "照片"],
        [
            [r["reference"], r["category"], r["description"][:40], f"{r['lon']:.5f},{r['lat']:.5f}", len(r["photos"])]
            for r in rows
        ],
    )


@reports_app.command("accept", help="受理举报：转入问题台账（来源 群众举报，属地自动判定）。")
@handles_errors
def accept_report(reference: str, category: Annotated[str | None, typer.Option(help="改定问题类别")] = None) -> None:
    """Accept a report into the ledger."""
    from gis_service.chiefs.public_reports import accept

    with transaction(ready_engine()) as session:
        result = accept(
            session, reference, actor="cli", settings=cli_settings(), clock=business_clock(), category=category
        )
    problem = result["problem"]
    console.print(
        Text(f"举报 {reference} 已受理：问题 {problem['code']}（河流 {problem['river_code']}，{problem['town']}）")
    )


@reports_app.command("decline", help="不予受理，须说明原因（举报人可见）。")
@handles_errors
def decline_report(reference: str, reason: Annotated[str, typer.Option(help="原因")]) -> None:
    """Decline a report with a reason."""
    from gis_service.chiefs.public_reports import decline

    with transaction(ready_engine()) as session:
        decline(session, reference, reason=reason, actor="cli", clock=business_clock())
    console.print(Text(f"举报 {reference} 不予受理：{reason}"))
