"""Water quality over HTTP: sample classes and section compliance, sample import, sources, zone checks, river health."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path as FsPath
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile

from gis_service.api.deps import Admin, CatalogueDep, ClockDep, SessionDep, SettingsDep, Surveyor, Viewer, app_settings
from gis_service.api.routers.deliveries import limited_request, save_upload
from gis_service.api.schemas import quality as shapes
from gis_service.errors import BadRequest
from gis_service.ingest.archive import ArchiveLimits
from gis_service.quality.assessment import Period, latest_period, parse_period, quality_report
from gis_service.quality.dashboard import dashboard, sections_geojson
from gis_service.quality.health import assess, health_records
from gis_service.quality.samples import import_samples
from gis_service.quality.screen import screen_figures
from gis_service.quality.zones import source_compliance, zone_checks
from gis_service.webmap.screen_map import class_layers

router = APIRouter(prefix="/api/v1/quality", tags=["quality"])
PeriodQuery = Annotated[str | None, Query(description="期间：2024、2024-Q2 或 2024-06；默认最新监测年份")]


@asynccontextmanager
async def uploaded_table(request: Request) -> AsyncIterator[FsPath]:
    """Receive a multipart form's ``file`` (size-limited) and yield it saved in a temporary folder."""
    limit = int(app_settings(request.app).max_upload_mb * 1024 * 1024)
    async with limited_request(request, limit).form(max_files=1, max_fields=5) as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise BadRequest("请以 multipart/form-data 上传文件，字段名为 file", code="missing_file")
        with tempfile.TemporaryDirectory(prefix="rivergis-table-") as tmp:
            yield await save_upload(upload, FsPath(tmp), limit)


def _period(session: SessionDep, period: str | None) -> Period | None:
    """Return the asked period, else the newest sample's year."""
    return parse_period(period) if period else latest_period(session)


@router.get("", response_model=shapes.QualityReport, response_model_exclude_unset=True)
def quality(session: SessionDep, _caller: Viewer, settings: SettingsDep, period: PeriodQuery = None) -> dict[str, Any]:
    """Return each sample's class and deciding indicators and each section's class against its target."""
    return quality_report(session, _period(session, period), settings.quality_assessment)


@router.get("/sections.geojson", response_model=shapes.SectionsMap, response_model_exclude_unset=True)
def sections_map(
    session: SessionDep, catalogue: CatalogueDep, _caller: Viewer, settings: SettingsDep, period: PeriodQuery = None
) -> dict[str, Any]:
    """Return the sections as GeoJSON with their class and its map colour (Ⅰ light blue … 劣Ⅴ red)."""
    return sections_geojson(session, catalogue, _period(session, period), settings.quality_assessment)


@router.get("/dashboard", response_model=shapes.QualityDashboard, response_model_exclude_unset=True)
def quality_dashboard(
    session: SessionDep,
    catalogue: CatalogueDep,
    _caller: Viewer,
    settings: SettingsDep,
    clock: ClockDep,
    period: PeriodQuery = None,
) -> dict[str, Any]:
    """Return the dashboard's figures: sections 优良, sources' compliance, zone checks, tasks, health scores."""
    return dashboard(session, catalogue, _period(session, period), settings.quality_assessment, clock)


@router.get("/screen", response_model=shapes.ScreenFigures)
def screen(
    session: SessionDep, catalogue: CatalogueDep, _caller: Viewer, settings: SettingsDep, clock: ClockDep
) -> dict[str, Any]:
    """Return every figure of the large screen (大屏): sections, sources, ledger, ratios, tasks, patrols."""
    return screen_figures(session, settings, clock=clock)


@router.get("/screen/layers", response_model=shapes.ScreenLayers)
def screen_layers(
    session: SessionDep, catalogue: CatalogueDep, _caller: Viewer, settings: SettingsDep
) -> dict[str, Any]:
    """Return the large screen's class layers: reaches coloured by their section's class, sections, legend."""
    return class_layers(session, catalogue, settings.quality_assessment)


@router.post("/samples", status_code=201, response_model=shapes.SamplesImport, response_model_exclude_unset=True)
async def upload_samples(
    request: Request, session: SessionDep, caller: Surveyor, settings: SettingsDep
) -> dict[str, Any]:
    """Import monitoring results (断面编码, 采样日期, indicator columns) from an .xlsx or .csv upload."""
    async with uploaded_table(request) as path:
        result = import_samples(session, path, ArchiveLimits.of(settings))
    caller.audit(session, "samples.import", "samples", path.name, stored=result["stored"])
    return result


@router.get("/sources", response_model=shapes.SourceCompliance, response_model_exclude_unset=True)
def sources(
    session: SessionDep, catalogue: CatalogueDep, _caller: Viewer, period: PeriodQuery = None
) -> dict[str, Any]:
    """Return the drinking-water sources' compliance in the period and the rates per type against the targets."""
    chosen = _period(session, period)
    if chosen is None:
        raise BadRequest("尚无监测数据；请指定期间 period=2024。", code="no_samples")
    return source_compliance(session, catalogue, chosen)


@router.get("/sources/checks", response_model=shapes.ZoneChecks, response_model_exclude_unset=True)
def sources_checks(session: SessionDep, catalogue: CatalogueDep, _caller: Viewer) -> dict[str, Any]:
    """Return the active outfalls and open problem sites inside a protection zone (一级 zone outfall: red)."""
    return zone_checks(session, catalogue)


class HealthInput(BaseModel):
    """A river health assessment to compute: the river, the year and the manual indicators."""

    river_code: str = Field(max_length=64)
    year: int = Field(ge=2000, le=2100)
    manual: dict[str, float] = Field(default_factory=dict, description='如 {"ecological_flow": 85}')


@router.get("/health", response_model=shapes.HealthRecords, response_model_exclude_unset=True)
def health(
    session: SessionDep,
    _caller: Viewer,
    river: str | None = None,
    year: Annotated[int | None, Query(ge=1900, le=2200)] = None,
) -> dict[str, Any]:
    """Return the kept river health records (河流健康档案), newest first."""
    return {"records": health_records(session, river, year)}


@router.post("/health", status_code=201, response_model=shapes.HealthRecord, response_model_exclude_unset=True)
def health_assess(
    session: SessionDep, caller: Admin, clock: ClockDep, settings: SettingsDep, body: HealthInput
) -> dict[str, Any]:
    """Score a river's health for a year from the system's data and the manual indicators; keep the record."""
    record = assess(session, body.river_code, body.year, body.manual, clock, caller.name, settings)
    caller.audit(session, "health.assess", "river", body.river_code, year=body.year, score=record["score"])
    return record
