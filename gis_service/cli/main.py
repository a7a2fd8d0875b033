"""The ``rivergis`` command: init, demo, serve, token, export (and the commands of later stages)."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Annotated

import typer

from gis_service.catalogue import get_catalogue
from gis_service.cli import imports, ledger, maps, quality, ratios
from gis_service.cli.common import console, handles_errors, ready_engine
from gis_service.db.engine import get_engine, transaction
from gis_service.db.schema import head_revision, upgrade
from gis_service.settings import get_settings

app = typer.Typer(
    help="河长制一张图 GIS 服务 (River Chief GIS service)", no_args_is_help=True, pretty_exceptions_enable=False
)
token_app = typer.Typer(help="API 令牌管理", no_args_is_help=True)
app.add_typer(token_app, name="token")


@app.command(help="创建或升级数据库结构（Alembic 迁移）。")
@handles_errors
def init() -> None:
    """Create or upgrade the database schema (Alembic)."""
    engine = get_engine()
    upgrade(engine)
    console.print(f"数据库已就绪（{engine.dialect.name}，schema {head_revision()}）：{_where(engine)}")


@app.command(help="加载演示数据（万盛经开区，虚构数据）。")
@handles_errors
def demo(
    folder: Annotated[Path | None, typer.Option(help="演示数据目录（默认：随包附带的 shapefiles/）")] = None,
) -> None:
    """Load the demo dataset (synthetic Wansheng data) into the database."""
    from gis_service.demo.load import load_demo

    engine = ready_engine()
    with console.status("正在加载演示数据…"), transaction(engine) as session:
        counts = load_demo(session, folder)
    if not counts:
        console.print("演示数据已加载过，未重复加载。")
        return
    for layer, n in counts.items():
        console.print(f"  {get_catalogue()[layer].label}（{layer}）：{n}")
    console.print("演示数据加载完成。")


@app.command(help="启动 HTTP 服务：API、地图、OGC API - Features。")
@handles_errors
def serve(
    host: Annotated[str | None, typer.Option(help="监听地址")] = None,
    port: Annotated[int | None, typer.Option(help="端口")] = None,
) -> None:
    """Run the HTTP service (API, maps, OGC API - Features)."""
    import uvicorn

    from gis_service.api.app import create_app

    settings = get_settings()
    ready_engine()
    uvicorn.run(create_app(), host=host or settings.host, port=port or settings.port)


@token_app.command("create", help="创建 API 令牌：只显示一次，数据库中仅保存其哈希。")
@handles_errors
def token_create(
    role: Annotated[str, typer.Option(help="viewer | surveyor | admin")],
    name: Annotated[str, typer.Option(help="令牌持有人或用途")],
) -> None:
    """Create an API token; it is printed once and stored only as a hash."""
    from gis_service.access import audit, create_token

    engine = ready_engine()
    with transaction(engine) as session:
        secret = create_token(session, name=name, role=role)
        audit(session, actor="cli", action="token.create", target_type="token", target_id=name, details={"role": role})
    console.print(secret, highlight=False, soft_wrap=True)


@app.command(help="导出图层现行数据到文件（gpkg、geojson、shp.zip、csv、xlsx），可指定坐标系、编码、中文字段名。")
@handles_errors
def export(
    layer: Annotated[str, typer.Argument(help="图层：rivers, towns, boundaries, stakes, zones, outfalls, problems")],
    output: Annotated[Path, typer.Option("-o", "--output", help=".gpkg .geojson .shp.zip .csv .xlsx")],
    crs: Annotated[str | None, typer.Option(help="输出坐标系，如 4490、4524、4545、4326")] = None,
    encoding: Annotated[str | None, typer.Option(help="Shapefile/CSV 编码：UTF-8 或 GBK")] = None,
    labels: Annotated[str, typer.Option(help="字段名：en（英文字段名）或 zh（中文标签）")] = "en",
) -> None:
    """Export a layer's current features to a file in the CRS you ask for."""
    from gis_service.export.files import format_of, write_layer
    from gis_service.ingest.crs import parse_crs
    from gis_service.store.features import read_features

    spec = get_catalogue()[layer]
    format_of(output)
    parse_crs(crs)
    engine = ready_engine()
    with engine.connect() as conn:
        gdf = read_features(conn, spec)
    write_layer(gdf, spec, output, crs=crs, encoding=encoding, labels=labels)
    console.print(f"已导出 {len(gdf)} 个要素到 {output}")


def _where(engine: object) -> str:
    """Return the database location without its password."""
    url = getattr(engine, "url", None)
    return url.render_as_string(hide_password=True) if url is not None else "?"


# Commands of the later stages register themselves here, one module each.
_STAGES: tuple[ModuleType, ...] = (maps, imports, ratios, ledger, quality)
for _module in _STAGES:
    _module.register(app)

if __name__ == "__main__":
    app()
