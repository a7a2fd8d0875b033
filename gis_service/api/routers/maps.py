"""Map pages (``/maps/problems``, ``/maps/rivers/{code}``), the compact data they load, and ``/static/``."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from gis_service.api.compressed import conditional
from gis_service.api.deps import (
    TOKEN_COOKIE,
    CatalogueDep,
    ClockDep,
    SessionDep,
    SettingsDep,
    Viewer,
    app_catalogue,
    app_settings,
    query_token,
    validated_token,
)
from gis_service.api.params import IdPath
from gis_service.api.routers.layers import parse_bbox
from gis_service.api.schemas import maps as shapes
from gis_service.chiefs.rules import PatrolRules
from gis_service.district import district_for
from gis_service.errors import BadRequest, NotFound
from gis_service.export import geojson
from gis_service.ledger.filters import ProblemFilter
from gis_service.store.ratios import ratio_rules
from gis_service.webmap import assets
from gis_service.webmap.base import MapSetup
from gis_service.webmap.clusters import parse_zoom, problem_clusters
from gis_service.webmap.data import problem_record, problem_sites, read_overlay
from gis_service.webmap.problems import problems_map
from gis_service.webmap.rivers import river_map

router = APIRouter(tags=["maps"])
FILTER_PARAMS = ("status", "category", "town", "river", "from", "to", "overdue")
MAP_LAYERS = ("rivers", "boundaries", "zones", "outfalls", "towns", "stakes")
DATUMS = ("wgs84", "gcj02")
HTML_HEADERS = {
    # The page loads only the service's own scripts; tiles may come from the configured basemap hosts.
    "Content-Security-Policy": "default-src 'self'; script-src 'self' 'unsafe-inline'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data: https: http:; connect-src 'self'",
    "X-Content-Type-Options": "nosniff",
}


def _filter(request: Request) -> ProblemFilter:
    """Read the problem filter from the query string (``status`` may be repeated or comma-separated)."""
    params: dict[str, Any] = {}
    for name in FILTER_PARAMS:
        values = request.query_params.getlist(name)
        if values:
            params[name] = values if name in {"status", "category"} else values[-1]
    return ProblemFilter.parse(params, app_catalogue(request.app)["problems"])


def _datum(value: str) -> str:
    """Validate the display datum parameter."""
    if value not in DATUMS:
        raise BadRequest(f"datum={value!r} 不正确：可选 wgs84 或 gcj02", code="bad_datum")
    return value


def _json(body: Any) -> Response:
    """Return compact JSON."""
    return Response(geojson.dumps(body), media_type="application/json")


def _page(request: Request, html: str) -> HTMLResponse:
    """Return a map page; a page opened with ``?access_token=`` keeps it as an HttpOnly cookie.

    The page's own data requests then carry the token (reads only, see ``deps.browser_token``),
    which is how a browser reads a service whose ``RIVERGIS_PUBLIC_READ`` is off.
    """
    response = HTMLResponse(html, headers=HTML_HEADERS)
    token = query_token(request)
    # Only a token this request was identified with, never an unchecked one beside a header (fixation).
    if token and token == validated_token(request):
        secure = app_settings(request.app).https
        response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict", max_age=12 * 3600, secure=secure)
    return response


@router.get("/maps/problems", response_class=HTMLResponse)
def problems_page(
    request: Request,
    session: SessionDep,
    _caller: Viewer,
    clock: ClockDep,
    settings: SettingsDep,
    basemap: Annotated[str | None, Query(description="none | osm | tianditu_vec | ...")] = None,
) -> HTMLResponse:
    """The issue map: problem sites over rivers, ranges, zones and outfalls, with filters and legend.

    Past ``RIVERGIS_MAP_CLUSTER_THRESHOLD`` sites the page draws server-side clusters
    (``/maps/data/problems/clusters``) instead of loading every site.
    """
    html = problems_map(
        session,
        MapSetup.of(settings),
        _filter(request),
        today=clock.today(),
        basemap=basemap,
        cluster_threshold=settings.map_cluster_threshold,
    )
    return _page(request, html)


@router.get("/maps/rivers/{code}", response_class=HTMLResponse)
def river_page(
    request: Request,
    session: SessionDep,
    _caller: Viewer,
    settings: SettingsDep,
    clock: ClockDep,
    code: Annotated[str, Path(description="河流编码")],
    basemap: str | None = None,
    patrols: Annotated[bool, Query(description="打开河长河段巡河状态和巡河轨迹图层")] = False,
) -> HTMLResponse:
    """A river's map: centerline, range, zones by type, gaps and overlaps, the ratio summary, patrol states."""
    html = river_map(
        session,
        MapSetup.of(settings),
        code,
        ratio_rules(settings),
        basemap=basemap,
        quality_method=settings.quality_assessment,
        today=clock.today(),
        patrol_rules=PatrolRules.of(settings),
        show_patrols=patrols,
    )
    return _page(request, html)


@router.get("/maps/data/problems", response_model=shapes.ProblemColumns)
def problems_data(
    request: Request,
    session: SessionDep,
    _caller: Viewer,
    clock: ClockDep,
    settings: SettingsDep,
    bbox: Annotated[str | None, Query(description="minx,miny,maxx,maxy (EPSG:4490)")] = None,
    datum: str = "wgs84",
) -> Response:
    """Problem sites for the current filter as compact columns (ids, integer coordinates, codes).

    With an ``ETag`` (304 when the browser's copy is current) and compressed as the browser accepts
    (brotli or gzip). Past ``RIVERGIS_MAP_CLUSTER_THRESHOLD`` sites: ``"mode": "clusters"`` and no site.
    """
    sites = problem_sites(
        session,
        app_catalogue(request.app)["problems"],
        _filter(request),
        today=clock.today(),
        datum=_datum(datum),
        bbox=parse_bbox(bbox),
        limit=settings.map_cluster_threshold,
    )
    return conditional(request, geojson.dumps(sites).encode("utf-8"), "application/json")


@router.get("/maps/data/problems/clusters", response_model=shapes.ProblemClusters)
def problems_clusters(
    request: Request,
    session: SessionDep,
    catalogue: CatalogueDep,
    _caller: Viewer,
    clock: ClockDep,
    settings: SettingsDep,
    zoom: Annotated[str | None, Query(description="地图缩放级别 0–19（默认：辖区地图的初始级别）")] = None,
    bbox: Annotated[str | None, Query(description="minx,miny,maxx,maxy (EPSG:4490)")] = None,
    datum: str = "wgs84",
    counts: Annotated[bool, Query(description="同时返回筛选结果总数及按状态、类别的计数（图例）")] = False,
) -> Response:
    """Server-side clusters of the filtered sites in ``bbox`` at ``zoom``: a count and position per grid cell."""
    body = problem_clusters(
        session,
        catalogue["problems"],
        _filter(request),
        today=clock.today(),
        zoom=parse_zoom(zoom, district_for(settings).zoom),
        bbox=parse_bbox(bbox),
        datum=_datum(datum),
        with_counts=counts,
    )
    return conditional(request, geojson.dumps(body).encode("utf-8"), "application/json")


@router.get("/maps/data/problems/{problem_id}", response_model=shapes.ProblemRecord)
def problem_popup(
    request: Request,
    session: SessionDep,
    catalogue: CatalogueDep,
    _caller: Viewer,
    clock: ClockDep,
    problem_id: IdPath,
) -> Response:
    """One site's popup record, fetched when the site is clicked (with an ``ETag``)."""
    record = problem_record(session, catalogue["rivers"], problem_id, clock.today())
    return conditional(request, geojson.dumps(record).encode("utf-8"), "application/json")


@router.get("/maps/data/layers/{layer}", response_model=shapes.MapLayer)
def layer_data(
    session: SessionDep,
    catalogue: CatalogueDep,
    _caller: Viewer,
    layer: str,
    bbox: Annotated[str | None, Query(description="minx,miny,maxx,maxy (EPSG:4490)")] = None,
    river: str | None = None,
    datum: str = "wgs84",
) -> Response:
    """A layer's current features for the map: display GeoJSON with style and escaped popup."""
    if layer not in MAP_LAYERS:
        raise BadRequest(f"图层 {layer!r} 不能在地图上加载；可用：{', '.join(MAP_LAYERS)}", code="bad_map_layer")
    where = {"river_code": river} if river and layer != "rivers" else ({"code": river} if river else None)
    body = read_overlay(session, catalogue[layer], bbox=parse_bbox(bbox), where=where, datum=_datum(datum))
    return Response(geojson.dumps(body), media_type="application/geo+json")


# What a browser needs from ``/static/``: scripts, styles, images and fonts; never configuration.
BROWSER_ASSETS = frozenset(
    {".js", ".mjs", ".css", ".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp", ".ico", ".woff", ".woff2", ".ttf"}
)


@router.get("/static/{kind}/{path:path}", include_in_schema=False)
def static(kind: str, path: str, settings: SettingsDep) -> FileResponse:
    """Leaflet and plugins (installed at set-up) and the service's own map scripts, cached by browsers."""
    if PurePosixPath(path).suffix.lower() not in BROWSER_ASSETS:
        raise NotFound(f"静态资源 {path!r} 不存在", code="static_not_found")
    return FileResponse(
        assets.static_file(kind, path, settings.assets_dir), headers={"Cache-Control": "public, max-age=86400"}
    )
