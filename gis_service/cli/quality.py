"""``rivergis quality``, ``sources``, ``tasks``, ``health``, ``bulletin`` and ``import samples|tasks`` (issue 18)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from gis_service.cli.common import business_clock, cli_catalogue, cli_settings, handles_errors, ready_engine
from gis_service.cli.output import console, print_json, print_rows
from gis_service.db.engine import transaction
from gis_service.errors import BadRequest
from gis_service.ingest.archive import ArchiveLimits

tasks_app = typer.Typer(help="一河一策任务：列表、进度填报、汇总", no_args_is_help=True)
health_app = typer.Typer(help="河流健康评价：计算并存档、查看档案", no_args_is_help=True)


def _period(text: str | None) -> Any:
    """Return the parsed period, or None for the default."""
    from gis_service.quality.assessment import parse_period

    return parse_period(text) if text else None


def import_samples_file(path: Path, as_json: bool) -> None:
    """``rivergis import samples FILE``: store monitoring results with each sample's class."""
    from gis_service.access import audit
    from gis_service.quality.samples import import_samples

    with transaction(ready_engine()) as session:
        result = import_samples(session, path, ArchiveLimits.of(cli_settings()))
        audit(session, actor="cli", action="samples.import", target_type="samples", target_id=path.name, details=result)
    if as_json:
        print_json(result)
        return
    console.print(Text(f"已导入 {result['stored']} 条监测结果（{result['sections']} 个断面）。"))
    if result["ignored_columns"]:
        console.print(Text(f"未识别的列（未导入）：{'、'.join(result['ignored_columns'])}"))


def import_tasks_file(path: Path, as_json: bool) -> None:
    """``rivergis import tasks FILE``: store a 一河一策 task list."""
    from gis_service.access import audit
    from gis_service.quality.tasks import import_tasks

    with transaction(ready_engine()) as session:
        result = import_tasks(session, cli_catalogue(), path, ArchiveLimits.of(cli_settings()))
        audit(session, actor="cli", action="tasks.import", target_type="tasks", target_id=path.name, details=result)
    if as_json:
        print_json(result)
        return
    console.print(Text(f"已导入 {result['stored']} 项任务（新增 {result['added']}，更新 {result['updated']}）。"))


@handles_errors
def quality_command(
    period: Annotated[str | None, typer.Option(help="期间：2024（全年）、2024-Q2 或 2024-06；默认最新监测年份")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出")] = False,
) -> None:
    """Show each sample's GB 3838 class and each section's class against its target."""
    from gis_service.quality.assessment import quality_report

    chosen = _period(period)
    with transaction(ready_engine()) as session:
        report = quality_report(session, chosen, cli_settings().quality_assessment)
    if as_json:
        print_json(report)
        return
    console.print(Text(f"期间：{report['period'] or '（无监测数据）'}，评价方法：{report['method']}"))
    rows = [
        [r["code"], r["name"], r["target"], r["class"], "、".join(r["deciding"]), r["compliant"]]
        for r in report["sections"]
    ]
    print_rows(["断面编码", "断面名称", "目标", "类别", "定类指标", "达标"], rows)
    s = report["summary"]
    console.print(
        Text(f"优良断面 {s['good']}/{s['classed']}；国控、市控断面全部优良：{'是' if s['assessed_all_good'] else '否'}")
    )


@handles_errors
def sources_command(
    period: Annotated[str, typer.Option(help="期间：2024、2024-Q2 或 2024-06")],
    checks: Annotated[bool, typer.Option("--checks", help="同时列出保护区内的排污口和问题点")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Show the drinking-water sources' compliance and (with --checks) what lies inside their zones."""
    from gis_service.quality.assessment import parse_period
    from gis_service.quality.zones import source_compliance, zone_checks

    chosen = parse_period(period)
    with transaction(ready_engine()) as session:
        result: dict[str, Any] = {"compliance": source_compliance(session, cli_catalogue(), chosen)}
        if checks:
            result["checks"] = zone_checks(session, cli_catalogue())
    if as_json:
        print_json(result)
        return
    types = result["compliance"]["by_type"].values()
    print_rows(
        ["类型", "水源地", "达标水源地", "监测次数", "达标次数", "达标率", "目标"],
        [
            [
                t["label"],
                t["sources"],
                t["compliant_sources"],
                t["samples"],
                t["compliant_samples"],
                t["rate"],
                t["target"],
            ]
            for t in types
        ],
    )
    if checks:
        flags = result["checks"]["flags"]
        print_rows(["级别", "说明"], [[f["severity"], f["message"]] for f in flags])


@tasks_app.command("list", help="列出一河一策任务（--overdue 只列超期）。")
@handles_errors
def tasks_list(
    overdue: Annotated[bool, typer.Option("--overdue", help="只列超期任务")] = False,
    river: Annotated[str | None, typer.Option(help="河流编码")] = None,
    year: Annotated[int | None, typer.Option(help="年度")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List the tasks with their progress and overdue / behind-schedule flags."""
    from gis_service.quality.tasks import list_tasks

    with transaction(ready_engine()) as session:
        items = list_tasks(session, business_clock(), overdue=overdue, river=river, year=year)
    if as_json:
        print_json({"tasks": items})
        return
    rows = [
        [
            t["id"],
            t["river_code"],
            t["year"],
            t["task"],
            t["responsible_unit"],
            t["deadline"],
            t["progress"],
            "超期" if t["overdue"] else ("滞后" if t["behind"] else ""),
        ]
        for t in items
    ]
    print_rows(["编号", "河流", "年度", "任务", "责任单位", "时限", "进度(%)", "状态"], rows)


@tasks_app.command("progress", help="填报任务进度：完成百分比或完成值（按目标值折算）。")
@handles_errors
def tasks_progress(
    task_id: int,
    percent: Annotated[float | None, typer.Option(help="完成百分比 0–100")] = None,
    value: Annotated[float | None, typer.Option(help="完成值（与目标值同单位）")] = None,
    note: Annotated[str | None, typer.Option(help="说明")] = None,
    date: Annotated[str | None, typer.Option(help="填报日期 YYYY-MM-DD，默认今天")] = None,
) -> None:
    """Record a progress report of a task."""
    from gis_service.access import audit
    from gis_service.ledger.common import parse_date
    from gis_service.quality.tasks import report_progress

    day = parse_date(date, "填报日期") or business_clock().today()
    with transaction(ready_engine()) as session:
        result = report_progress(
            session, task_id, reported_on=day, percent=percent, value=value, note=note, actor="cli"
        )
        audit(session, actor="cli", action="task.progress", target_type="task", target_id=task_id, details=result)
    console.print(Text(f"任务 {task_id} 进度已更新为 {result['percent']}%（{result['reported_on']}）。"))


@tasks_app.command("rollup", help="按河流、责任单位或镇街汇总任务：总数、完成、超期、滞后、平均进度。")
@handles_errors
def tasks_rollup(
    by: Annotated[str, typer.Option(help="river | unit | town")] = "river",
    year: Annotated[int | None, typer.Option(help="年度")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Roll the tasks up by river, responsible unit or town."""
    from gis_service.quality.tasks import rollup

    with transaction(ready_engine()) as session:
        result = rollup(session, cli_catalogue(), business_clock(), by, year=year)
    if as_json:
        print_json(result)
        return
    rows = [[g["key"], g["tasks"], g["done"], g["overdue"], g["behind"], g["mean_progress"]] for g in result["groups"]]
    print_rows(["分组", "任务数", "已完成", "超期", "滞后", "平均进度(%)"], rows)


def _manual(values: list[str]) -> dict[str, float]:
    """Parse ``--set name=value`` manual indicators."""
    out = {}
    for item in values:
        name, sep, number = item.partition("=")
        try:
            out[name.strip()] = float(number)
        except ValueError:
            raise BadRequest(
                f"--set {item!r} 格式应为 指标=数值，如 ecological_flow=85", code="bad_indicator"
            ) from None
        if not sep:
            raise BadRequest(f"--set {item!r} 格式应为 指标=数值", code="bad_indicator")
    return out


@health_app.command("assess", help="计算一条河流某年度的健康评分并存入河流健康档案。")
@handles_errors
def health_assess(
    river: str,
    year: Annotated[int, typer.Option(help="年度")],
    set_: Annotated[list[str] | None, typer.Option("--set", help="人工指标，如 ecological_flow=85")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Score a river's health for a year and keep the record."""
    from gis_service.access import audit
    from gis_service.quality.health import assess

    manual = _manual(set_ or [])
    with transaction(ready_engine()) as session:
        record = assess(session, river, year, manual, business_clock(), "cli", cli_settings())
        audit(
            session, actor="cli", action="health.assess", target_type="river", target_id=river, details={"year": year}
        )
    if as_json:
        print_json(record)
        return
    console.print(Text(f"河流 {river} {year} 年健康评分 {record['score']}（{record['grade']}）"))
    rows = [[v["label"], v["value"], v["score"], v["weight"]] for v in record["inputs"]["indicators"].values()]
    print_rows(["指标", "值", "得分", "权重"], rows)


@health_app.command("list", help="查看河流健康档案。")
@handles_errors
def health_list(
    river: Annotated[str | None, typer.Option(help="河流编码")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List the kept health records."""
    from gis_service.quality.health import health_records

    with transaction(ready_engine()) as session:
        records = health_records(session, river)
    if as_json:
        print_json({"records": records})
        return
    print_rows(
        ["河流", "年度", "评分", "等级", "计算时间"],
        [[r["river_code"], r["year"], r["score"], r["grade"], r["computed_at"]] for r in records],
    )


@handles_errors
def bulletin_command(
    period: Annotated[str, typer.Option(help="期间：2024-06（月）或 2024-Q2（季度）")],
    output: Annotated[Path, typer.Option("-o", "--output", help="通报 Word 文件 .docx")],
    town: Annotated[str | None, typer.Option(help="镇街名称（默认全区）")] = None,
    annex: Annotated[Path | None, typer.Option(help="Excel 附件路径（默认与通报同名加 _附件.xlsx）")] = None,
    template: Annotated[Path | None, typer.Option(help="通报模板 .docx（办公室自定的版头与样式）")] = None,
) -> None:
    """Write the period's bulletin as a Word document and an Excel annex."""
    from gis_service.quality.assessment import parse_period
    from gis_service.quality.bulletin import build_bulletin
    from gis_service.quality.bulletin_files import write_files

    chosen = parse_period(period)
    if output.suffix.lower() != ".docx":
        raise BadRequest(f"通报文件 {output} 应以 .docx 结尾。", code="bad_output_suffix")
    with transaction(ready_engine()) as session:
        bulletin = build_bulletin(session, chosen, town, business_clock(), cli_settings())
    paths = write_files(bulletin, output, annex, template)
    console.print(Text(f"已写出通报 {paths[0]} 与附件 {paths[1]}（截至 {bulletin.as_of.isoformat()}）。"))
