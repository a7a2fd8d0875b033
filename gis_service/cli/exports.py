"""``rivergis export``: a layer's current features to a file, in any CRS and encoding."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gis_service.cli.common import cli_catalogue, cli_settings, handles_errors, ready_engine
from gis_service.cli.output import console


@handles_errors
def export(
    layer: Annotated[str, typer.Argument(help="图层：rivers, towns, boundaries, stakes, zones, outfalls, problems")],
    output: Annotated[Path, typer.Option("-o", "--output", help=".gpkg .geojson .shp.zip .csv .xlsx")],
    crs: Annotated[str | None, typer.Option(help="输出坐标系，如 4490、4524、4545、4326")] = None,
    encoding: Annotated[str | None, typer.Option(help="Shapefile/CSV 编码：UTF-8 或 GBK")] = None,
    labels: Annotated[str, typer.Option(help="字段名：en（英文字段名）或 zh（中文标签）")] = "en",
) -> None:
    """Export a layer's current features to a file in the CRS you ask for."""
    from gis_service.db.backend import backend_for
    from gis_service.export.files import format_of, write_layer
    from gis_service.ingest.crs import output_crs
    from gis_service.store.current import CurrentFeatures

    spec = cli_catalogue()[layer]
    format_of(output)
    output_crs(crs)
    engine = ready_engine()
    with backend_for(engine).transaction(write=False) as session:
        gdf = CurrentFeatures(spec).frame(session)
        write_layer(
            gdf,
            spec,
            output,
            crs=crs,
            encoding=encoding,
            labels=labels,
            session=session,
            settings=cli_settings(),
        )
    console.print(f"已导出 {len(gdf)} 个要素到 {output}")
