"""File downloads of every layer: GeoPackage, zipped Shapefile (UTF-8 or GBK), GeoJSON, CSV, Excel, any CRS."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, BackgroundTasks, Query
from fastapi.responses import FileResponse

from gis_service.api.deps import SessionDep, SettingsDep, Viewer
from gis_service.api.responses import file_responses
from gis_service.catalogue import catalogue_for
from gis_service.errors import BadRequest
from gis_service.export.files import write_layer
from gis_service.ingest.crs import output_crs
from gis_service.store.current import CurrentFeatures

router = APIRouter(prefix="/api/v1/layers", tags=["exports"])
MEDIA = {
    "gpkg": "application/geopackage+sqlite3",
    "geojson": "application/geo+json",
    "shp.zip": "application/zip",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
ENCODINGS = {"utf-8": "UTF-8", "utf8": "UTF-8", "gbk": "GBK", "cp936": "GBK", "gb18030": "GB18030"}


@router.get("/{layer}/export", response_class=FileResponse, responses=file_responses(*MEDIA.values()))
def export_layer(
    layer: str,
    session: SessionDep,
    _caller: Viewer,
    settings: SettingsDep,
    background: BackgroundTasks,
    format: Annotated[Literal["gpkg", "geojson", "shp.zip", "csv", "xlsx"], Query()] = "gpkg",
    crs: Annotated[str | None, Query(description="输出坐标系，如 4490、4524、4545、4326")] = None,
    encoding: Annotated[str | None, Query(description="Shapefile/CSV 编码：UTF-8 或 GBK")] = None,
    labels: Annotated[Literal["en", "zh"], Query(description="字段名：en 或 zh（中文标签）")] = "en",
    river_code: str | None = None,
) -> FileResponse:
    """Download a layer's current features as a file in the CRS, encoding and labels asked for."""
    spec = catalogue_for(settings)[layer]
    output_crs(crs)
    chosen = None
    if encoding:
        chosen = ENCODINGS.get(encoding.strip().lower())
        if chosen is None:
            raise BadRequest(f"不支持的编码 {encoding!r}；可选：UTF-8、GBK、GB18030", code="unknown_encoding")
    gdf = CurrentFeatures(spec, where={"river_code": river_code}).frame(session)
    folder = Path(tempfile.mkdtemp(prefix="rivergis-download-"))
    try:
        target = folder / f"{spec.name}.{format}"
        path = write_layer(
            gdf, spec, target, crs=crs, encoding=chosen, labels=labels, session=session, settings=settings
        )
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    background.add_task(shutil.rmtree, folder, ignore_errors=True)
    filename = f"{spec.label}.{format}"
    return FileResponse(
        path,
        media_type=MEDIA[format],
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}"},
    )
