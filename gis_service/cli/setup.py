"""``rivergis init``, ``demo`` and ``serve``: the database schema, the demo data and the HTTP service."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gis_service.cli.common import business_clock, cli_catalogue, cli_settings, handles_errors, ready_engine
from gis_service.cli.output import console
from gis_service.db.backend import DatabaseWaits, backend_for
from gis_service.db.engine import engine_for, transaction
from gis_service.db.schema import head_revision, upgrade


@handles_errors
def init() -> None:
    """Create or upgrade the database schema (Alembic)."""
    settings = cli_settings()
    engine = engine_for(settings.resolved_database_url(), DatabaseWaits.of(settings))
    upgrade(engine)
    backend = backend_for(engine)
    console.print(f"数据库已就绪（{backend.name}，schema {head_revision()}）：{backend.describe()}")


@handles_errors
def demo(
    folder: Annotated[Path | None, typer.Option(help="演示数据目录（默认：随包附带的 shapefiles/）")] = None,
) -> None:
    """Load the demo dataset (synthetic Wansheng data) into the database."""
    from gis_service.demo.load import load_demo

    engine = ready_engine()
    with console.status("正在加载演示数据…"), transaction(engine) as session:
        counts = load_demo(session, cli_settings(), business_clock(), folder)
    if not counts:
        console.print("演示数据已加载过，未重复加载。")
        return
    tables = {"samples": "水质监测结果", "tasks": "一河一策任务"}  # plain tables, not catalogue layers
    for layer, n in counts.items():
        label = tables.get(layer) or cli_catalogue()[layer].label
        console.print(f"  {label}（{layer}）：{n}")
    console.print("演示数据加载完成。")


@handles_errors
def serve(
    host: Annotated[str | None, typer.Option(help="监听地址")] = None,
    port: Annotated[int | None, typer.Option(help="端口")] = None,
) -> None:
    """Run the HTTP service (API, maps, OGC API - Features)."""
    import uvicorn

    from gis_service.api.app import create_app

    settings = cli_settings()
    # One engine and backend for the process, built and checked before the first request.
    uvicorn.run(create_app(ready_engine()), host=host or settings.host, port=port or settings.port)
