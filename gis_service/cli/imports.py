"""``rivergis import`` (a surveyor's delivery) and ``rivergis deliveries list|show|approve|reject|diff``."""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from gis_service.cli.common import business_clock, cli_catalogue, cli_settings, handles_errors, ready_engine
from gis_service.cli.output import console, err_console
from gis_service.cli.progress import stage_progress
from gis_service.db.engine import transaction
from gis_service.errors import BadRequest, DeliveryRejected, ServiceError

if TYPE_CHECKING:
    import geopandas as gpd
    from sqlalchemy.orm import Session

    from gis_service.ingest.pipeline import ImportOptions

SEVERITY_LABEL = {"error": "错误", "warning": "警告", "info": "提示"}
SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}

# Plain tables of later stages (``rivergis import samples FILE``): name → ``module:function(path, as_json)``,
# imported only when used.
TABLE_IMPORTS = {
    "samples": "gis_service.cli.quality:import_samples_file",
    "tasks": "gis_service.cli.quality:import_tasks_file",
}
deliveries_app = typer.Typer(help="成果交付版本：列表、批准、驳回、版本差异", no_args_is_help=True)


def _dump(data: Any) -> None:
    """Print JSON to stdout (no rich markup, no wrapping)."""
    print(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def print_report(report: dict[str, Any]) -> None:
    """Print a validation report as a readable summary and a findings table (text escaped)."""
    source = report.get("source") or {}
    enc = (source.get("encoding") or {}).get("note")
    lines = [
        f"图层：{report['layer_label']}（{report['layer']}），要素 {report['feature_count']} 个",
        f"文件：{source.get('filename')}（{source.get('format')}），坐标系 {source.get('crs')}"
        f"（来源：{source.get('crs_source')}）",
    ]
    if enc:
        lines.append(f"编码：{enc}")
    if source.get("axes"):
        lines.append(f"坐标列：{source['axes']}")
    if source.get("extra_fields"):
        lines.append(f"目录外字段（原样保存在“其他字段” extra 中）：{'、'.join(source['extra_fields'])}")
    counts = report["counts"]
    lines.append(f"错误 {counts['error']}，警告 {counts['warning']}，提示 {counts['info']}")
    for line in lines:
        console.print(Text(line))
    if report["findings"]:
        table = Table(show_lines=False)
        for column in ("级别", "代码", "要素", "位置", "问题", "修改建议"):
            table.add_column(column, no_wrap=column in {"级别", "代码"})
        for f in report["findings"]:
            where = f"{f['lon']:.5f},{f['lat']:.5f}" if "lon" in f else ""
            feature = str(f.get("feature", "")) + (f" ({f['feature_id']})" if f.get("feature_id") else "")
            table.add_row(
                Text(SEVERITY_LABEL[f["severity"]], style=SEVERITY_STYLE[f["severity"]]),
                Text(f["code"]),
                Text(feature),
                Text(where),
                Text(f["message"]),
                Text(f.get("fix", "")),
            )
        console.print(table)
    for code, n in (report.get("omitted") or {}).items():
        console.print(Text(f"（另有 {n} 条 {code} 未列出）"))


def check_preview_path(output: Path) -> None:
    """Refuse, before any work, a preview path the page cannot be written to."""
    if output.suffix.lower() not in {".html", ".htm"}:
        raise BadRequest(f"预览文件 {output} 应以 .html 结尾", code="bad_output_suffix")
    if not output.parent.is_dir():
        raise BadRequest(f"输出目录 {output.parent} 不存在；请先创建", code="output_dir_missing")


def write_preview(output: Path, features: gpd.GeoDataFrame | None, report: dict[str, Any], accepted: bool) -> None:
    """Write a checked delivery's preview map to ``output`` as one standalone page (offline: no basemap)."""
    from gis_service.webmap.base import MapSetup
    from gis_service.webmap.preview import checked_delivery_html

    setup = MapSetup.of(cli_settings())
    data = checked_delivery_html(features, report, accepted, setup, standalone=True, basemap="none").encode("utf-8")
    try:
        output.write_bytes(data)
    except OSError as exc:
        raise BadRequest(f"无法写入预览文件 {output}：{exc.strerror or exc}", code="output_not_writable") from None


def import_with_preview(
    session: Session, path: Path, options: ImportOptions, output: Path, step: Callable[[str], None]
) -> dict[str, Any]:
    """Import ``path`` as :func:`run_import` does, and write its preview map to ``output`` whatever the outcome.

    One pass: the features come from the import itself; a rejection is raised once its page is written.
    """
    from gis_service.ledger.intake import run_import

    features: list[gpd.GeoDataFrame] = []
    try:
        report = run_import(
            session, path, options, settings=cli_settings(), clock=business_clock(), progress=step, seen=features.append
        )
    except DeliveryRejected as exc:
        write_preview(output, features[-1] if features else None, exc.details, False)
        raise
    write_preview(output, features[-1] if features else None, report, True)
    return report


def say_preview(output: Path, as_json: bool) -> None:
    """Tell where the preview map was written (on stderr with ``--json``, so that stdout stays JSON)."""
    size = output.stat().st_size
    (err_console if as_json else console).print(
        Text(f"已写出成果预览地图 {output}（{size / 1024:.0f} KB），可离线打开。")
    )


@handles_errors
def import_command(
    layer: Annotated[
        str,
        typer.Argument(
            help="rivers|boundaries|stakes|zones|outfalls|problems|chiefs|sections|source_zones|samples|tasks"
        ),
    ],
    path: Annotated[Path, typer.Argument(help="交付文件：.zip（Shapefile）.gpkg .geojson .kml .kmz .csv .xlsx")],
    crs: Annotated[str | None, typer.Option(help="坐标系（文件无 .prj 或 .prj 有误时），如 4524、4545、4490")] = None,
    encoding: Annotated[str | None, typer.Option(help="属性编码（覆盖 .cpg 与自动判断），如 GBK、UTF-8")] = None,
    river: Annotated[str | None, typer.Option(help="河流编码（文件中没有河流编码字段时）")] = None,
    source_layer: Annotated[str | None, typer.Option("--layer", help="文件或压缩包中有多个图层时，选择其一")] = None,
    swap_xy: Annotated[bool, typer.Option("--swap-xy", help="交换 X/Y（文件中 X 为北坐标）")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="只检查，不入库")] = False,
    approve: Annotated[bool, typer.Option("--approve", help="入库后立即批准（管理员快捷方式）")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出报告")] = False,
    fix: Annotated[bool, typer.Option("--fix", help="自动修复无效几何并在报告中说明")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="不显示进度条（非终端与 --json 时本就不显示）")] = False,
    preview: Annotated[
        Path | None,
        typer.Option("--preview", help="把成果预览地图（要素与检查问题）写入此 HTML 文件，通过与否都写，可离线打开"),
    ] = None,
) -> None:
    """Import a delivery: read, check, and store it (exit 0 stored, exit 2 rejected and nothing stored)."""
    if layer == "chiefs":  # the river chiefs' roster is not a layer delivery: gis_service.cli.chiefs reads it
        from gis_service.cli.chiefs import import_roster

        return import_roster(path, dry_run=dry_run, as_json=as_json)
    from gis_service.access import audit
    from gis_service.ingest.pipeline import ImportOptions
    from gis_service.ledger.intake import run_import
    from gis_service.runtime import return_freed_memory_promptly

    if layer in TABLE_IMPORTS:
        module, _, function = TABLE_IMPORTS[layer].partition(":")
        getattr(importlib.import_module(module), function)(path, as_json)
        return
    options = ImportOptions(
        layer=layer,
        crs=crs,
        encoding=encoding,
        river=river,
        source_layer=source_layer,
        swap_xy=swap_xy,
        dry_run=dry_run,
        approve=approve,
        fix=fix,
        actor="cli",
    )
    try:
        if preview is not None:
            check_preview_path(preview)
        engine = ready_engine()
        return_freed_memory_promptly()  # this command owns its process: each stage's temporaries go back
        shown = err_console.is_terminal and not quiet and not as_json
        with stage_progress(err_console, enabled=shown) as step:
            with transaction(engine) as session:
                if preview is None:
                    report = run_import(
                        session, path, options, settings=cli_settings(), clock=business_clock(), progress=step
                    )
                else:
                    report = import_with_preview(session, path, options, preview, step)
                if not dry_run:
                    audit(
                        session,
                        actor="cli",
                        action="delivery.import",
                        target_type=layer,
                        target_id=path.name,
                        details={
                            "stored": report.get("stored"),
                            "deliveries": [d["id"] for d in report.get("deliveries", [])],
                            "approved": approve,
                        },
                    )
    except DeliveryRejected as exc:
        if as_json:
            _dump(exc.to_dict())
        else:
            print_report(exc.details)
            err_console.print(Text(f"交付被拒绝 [{exc.code}]，未保存任何数据。", style="bold red"))
        if preview is not None:  # with --preview, a rejection comes only after its page is written
            say_preview(preview, as_json)
        raise typer.Exit(2) from None
    except ServiceError as exc:
        if not as_json:
            raise
        _dump(exc.to_dict())
        raise typer.Exit(exc.exit_code) from None
    if as_json:
        _dump(report)
    else:
        print_report(report)
        if dry_run:
            console.print("检查通过（--dry-run，未入库）。")
        lines = [
            f"河流 {d['river_code']}：第 {d['version']} 版，交付编号 {d['id']}，状态 {d['status']}"
            for d in report.get("deliveries", [])
        ]
        if lines:  # one text, not wrapped by rich: a province's 10 000 lines took 0.8 s a line at a time, now 0.09 s
            console.print(Text("\n".join(lines)), soft_wrap=True)
        if "deliveries" not in report and not dry_run:
            console.print(Text(f"已保存 {report.get('stored')} 个要素。"))
    if preview is not None:
        say_preview(preview, as_json)


@deliveries_app.command("list", help="列出成果交付（加 --river 即某河流的版本历史），新者在前。")
@handles_errors
def list_command(
    river: Annotated[str | None, typer.Option(help="河流编码")] = None,
    layer: Annotated[str | None, typer.Option(help="boundaries | stakes | zones")] = None,
    status: Annotated[str | None, typer.Option(help="submitted | approved | rejected | superseded")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List deliveries (a river's version history with --river), newest first."""
    from gis_service.store.deliveries import delivery_dict
    from gis_service.store.history import DeliveryHistory

    with transaction(ready_engine()) as session:
        rows = [delivery_dict(d) for d in DeliveryHistory(river, layer, status).newest(session)]
    if as_json:
        _dump({"deliveries": rows})
        return
    table = Table()
    for column in ("编号", "河流", "图层", "版本", "状态", "要素", "提交人", "提交时间", "原因"):
        table.add_column(column)
    for d in rows:
        table.add_row(
            *(
                Text(str(d[k] or ""))
                for k in (
                    "id",
                    "river_code",
                    "layer",
                    "version",
                    "status",
                    "feature_count",
                    "submitted_by",
                    "submitted_at",
                    "reason",
                )
            )
        )
    console.print(table)


@deliveries_app.command("show", help="查看一次交付及其检查报告。")
@handles_errors
def show_command(delivery_id: int) -> None:
    """Show one delivery with its stored validation report (JSON)."""
    from gis_service.store.deliveries import delivery_dict, get_delivery

    with transaction(ready_engine()) as session:
        _dump(delivery_dict(get_delivery(session, delivery_id), report=True))


@deliveries_app.command(
    "approve", help="批准交付，使之成为该河流的现行版本（管理员）；可一次给多个编号，全部批准或一个也不批准。"
)
@handles_errors
def approve_command(
    delivery_ids: Annotated[list[int], typer.Argument(help="交付编号（可多个）")],
) -> None:
    """Approve submitted deliveries: each becomes its river's current version (several: all or none)."""
    from gis_service.access import audit
    from gis_service.ledger.intake import approve_chosen, approve_delivery

    settings, clock = cli_settings(), business_clock()
    with transaction(ready_engine()) as session:
        if len(delivery_ids) == 1:
            approved = [approve_delivery(session, delivery_ids[0], actor="cli", settings=settings, clock=clock)]
        else:
            approved = approve_chosen(session, delivery_ids, actor="cli", settings=settings, clock=clock)
        for d in approved:
            audit(session, actor="cli", action="delivery.approve", target_type="delivery", target_id=d.id)
    for d in approved:
        console.print(Text(f"已批准交付 {d.id}（河流 {d.river_code} {d.layer} 第 {d.version} 版）"))


@deliveries_app.command("reject", help="驳回交付，须说明原因（管理员）。")
@handles_errors
def reject_command(delivery_id: int, reason: Annotated[str, typer.Option(help="驳回原因")]) -> None:
    """Reject a submitted delivery with a reason (it is kept)."""
    from gis_service.access import audit
    from gis_service.store.deliveries import reject_delivery

    with transaction(ready_engine()) as session:
        d = reject_delivery(session, delivery_id, actor="cli", reason=reason)
        audit(
            session,
            actor="cli",
            action="delivery.reject",
            target_type="delivery",
            target_id=d.id,
            details={"reason": reason},
        )
        console.print(Text(f"已驳回交付 {d.id}：{reason}"))


@deliveries_app.command("diff", help="比较管理范围的两个版本：增加面积、减少面积、最大偏移（米）。")
@handles_errors
def diff_command(from_id: int, to_id: int, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Show the change between two versions of a river's range (area added/removed, largest shift)."""
    from gis_service.store.deliveries import range_diff

    with transaction(ready_engine()) as session:
        diff = range_diff(session, cli_catalogue(), from_id, to_id)
    if as_json:
        _dump(diff)
        return
    console.print(
        Text(
            f"河流 {diff['river_code']}：第 {diff['from']['version']} 版 → 第 {diff['to']['version']} 版\n"
            f"  新增面积 {diff['area_added_m2']:.1f} m²，减少面积 {diff['area_removed_m2']:.1f} m²，"
            f"最大偏移 {diff['max_shift_m']} m"
        )
    )
