"""The ``rivergis`` command: a table of its commands, each loaded from its module on first use.

``rivergis --help`` lists the table without importing any command module (see :mod:`.lazy`), so it
answers at once; a command imports only what it needs. To add a command: write its module in
:mod:`gis_service.cli` (a function, or a ``typer.Typer`` for a group) and add one line to
:data:`COMMANDS`.
"""

from __future__ import annotations

import typer

from gis_service.cli.lazy import LazyCommand, LazyGroup
from gis_service.cli.usage import ChineseUsageGroup

COMMANDS = [
    LazyCommand("init", "gis_service.cli.setup:init", "创建或升级数据库结构（Alembic 迁移）。"),
    LazyCommand("demo", "gis_service.cli.setup:demo", "加载演示数据（万盛经开区，虚构数据）。"),
    LazyCommand("serve", "gis_service.cli.setup:serve", "启动 HTTP 服务：API、地图、OGC API - Features。"),
    LazyCommand(
        "user",
        "gis_service.cli.users:user_app",
        "网页工作台账号管理：创建、列表、停用、重置密码（密码只从标准输入读取）。",
    ),
    LazyCommand("token", "gis_service.cli.tokens:token_app", "API 令牌管理。"),
    LazyCommand("rivers", "gis_service.cli.rivers:rivers_app", "河流名录：河流编码、名称、河长级别。"),
    LazyCommand(
        "import",
        "gis_service.cli.imports:import_command",
        "导入成果：读取、检查、入库。退出码 0 已入库，2 被拒绝且未入库。",
    ),
    LazyCommand("deliveries", "gis_service.cli.imports:deliveries_app", "成果交付版本：列表、批准、驳回、版本差异。"),
    LazyCommand(
        "ratios",
        "gis_service.cli.ratios:ratios",
        "岸线保护比例核算（保护区+保留区 ≥ 50%）：按岸别、河流、镇街，可导出 Excel、CSV、JSON、GeoJSON。",
    ),
    LazyCommand(
        "export",
        "gis_service.cli.exports:export",
        "导出图层现行数据到文件（gpkg、geojson、shp.zip、csv、xlsx），可指定坐标系、编码、中文字段名。",
    ),
    LazyCommand("map", "gis_service.cli.maps:map_app", "地图导出。"),
    LazyCommand("problems", "gis_service.cli.ledger:problems_app", "问题台账：超期、统计、流转、历史。"),
    LazyCommand("chiefs", "gis_service.cli.chiefs:chiefs_app", "河长名录：列表、河段覆盖检查（缺漏与重叠）、导出。"),
    LazyCommand(
        "signboards", "gis_service.cli.chiefs:signboards_app", "河长公示牌：生成、列表（待更新）、记录已更换、导出。"
    ),
    LazyCommand(
        "patrols", "gis_service.cli.chiefs:patrols_app", "巡河：上传轨迹（GPX、GeoJSON、KML）、列表、超期未巡河段。"
    ),
    LazyCommand(
        "public-reports", "gis_service.cli.chiefs:reports_app", "群众举报：待审核列表、受理（转入问题台账）、不予受理。"
    ),
    LazyCommand(
        "quality",
        "gis_service.cli.quality:quality_command",
        "断面水质：每次监测的类别与定类指标，断面类别与水质目标达标情况。",
    ),
    LazyCommand(
        "sources",
        "gis_service.cli.quality:sources_command",
        "饮用水水源地达标率（城市、乡镇），--checks 列出保护区内的排污口与问题点。",
    ),
    LazyCommand("tasks", "gis_service.cli.quality:tasks_app", "一河一策任务：列表、进度填报、汇总。"),
    LazyCommand("health", "gis_service.cli.quality:health_app", "河流健康评价：计算并存档、查看档案。"),
    LazyCommand("bulletin", "gis_service.cli.quality:bulletin_command", "生成定期通报：Word 文档与 Excel 附件。"),
    LazyCommand(
        "outfalls",
        "gis_service.cli.ledger:outfalls_app",
        "入河排污口名录（一口一档）：列表、统计、导出；导入用 rivergis import outfalls。",
    ),
    LazyCommand("user", "gis_service.cli.users:user_app", "网页工作台账号管理（密码只从标准输入读取）。"),
]


class RivergisGroup(LazyGroup, ChineseUsageGroup):
    """The ``rivergis`` group: the commands of :data:`COMMANDS`, usage errors in Chinese."""

    lazy = {c.name: c for c in COMMANDS}


app = typer.Typer(
    cls=RivergisGroup,
    help="河长制一张图 GIS 服务 (River Chief GIS service)",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def main() -> None:
    """河长制一张图 GIS 服务 (River Chief GIS service)."""


if __name__ == "__main__":
    app()
