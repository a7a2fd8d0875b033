"""OGC API - Features (Parts 1-3: core, CRS, filtering): what QGIS, ArcGIS, GDAL and OWSLib read layers with.

Collections are the catalogue's layers; versioned layers serve their approved versions, and one
version with ``delivery=<id>``. The work is in ``gis_service/ogc/`` (links, CRS, parameters,
filters, HTML) and ``gis_service/store/current.py`` (the read); this module only wires them.
JSON is the default; a browser (``Accept: text/html``) or ``f=html`` gets HTML.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from gis_service import __version__
from gis_service.access import Role
from gis_service.accounts import SESSION_COOKIE
from gis_service.api.deps import (
    Caller,
    SessionDep,
    SettingsDep,
    app_backend,
    app_catalogue,
    app_district,
    app_settings,
    browser_token,
    check_role,
    get_caller,
)
from gis_service.api.params import MAX_ID, MAX_OFFSET, IdPath
from gis_service.api.schemas import ogc as shapes
from gis_service.api.schemas.base import Feature, FeatureCollection
from gis_service.catalogue import INTERNAL_COLUMNS, LayerSpec
from gis_service.db.backend import SpatialBackend
from gis_service.district import District
from gis_service.errors import NotFound
from gis_service.export import geojson
from gis_service.ogc import html, openapi
from gis_service.ogc.crs import CRS84, STORAGE_CRS, supported
from gis_service.ogc.filters import queryables
from gis_service.ogc.links import Links
from gis_service.ogc.params import (
    page_limit,
    page_offset,
    refuse_unknown,
    wants_html,
)
from gis_service.ogc.request import feature_read, filter_errors
from gis_service.store.current import date_range
from gis_service.store.features import table_of
from gis_service.store.spatial import BBox, layer_extent, layer_extents

router = APIRouter(prefix="/ogc", tags=["OGC API - Features"])
GEOJSON = "application/geo+json"
JSON = "application/json"
HTML = "text/html"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions-plus",
    "http://www.opengis.net/spec/cql2/1.0/conf/spatial-functions",
    "http://www.opengis.net/spec/ogcapi-records-1/1.0/conf/sorting",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tileset",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tilesets-list",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/geodata-tilesets",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/oas30",
]
ITEMS_PARAMS = (
    "bbox",
    "bbox-crs",
    "crs",
    "limit",
    "offset",
    "datetime",
    "filter",
    "filter-lang",
    "filter-crs",
    "sortby",
    "properties",
    "delivery",
)
TRS = "http://www.opengis.net/def/uri/ISO-8601/0/Gregorian"


async def read_backend(request: Request) -> SpatialBackend:
    """Return the app's backend, looked up on the event loop (a pure lookup: no hop to the thread pool).

    The feature routes open their read transaction themselves, in the one worker thread their
    body runs in, instead of through ``SessionDep`` (whose opening and closing are two more hops).
    """
    return app_backend(request)


ReadBackend = Annotated[SpatialBackend, Depends(read_backend)]


def carries_credentials(request: Request) -> bool:
    """Whether a request names a caller at all: a token (header, ``access_token``, cookie) or a session."""
    return bool(request.headers.get("authorization") or browser_token(request) or request.cookies.get(SESSION_COOKIE))


async def ogc_reader(request: Request, settings: SettingsDep) -> Caller:
    """Return the caller of an OGC read as ``Viewer`` does: one without credentials decided on the event loop.

    ``get_caller`` (a worker thread, a database read) is needed only for a token or a session.
    """
    if carries_credentials(request):
        caller = await run_in_threadpool(get_caller, request, app_backend(request))
    else:
        caller = ANONYMOUS
    return check_role(caller, Role.VIEWER, settings)


Reader = Annotated[Caller, Depends(ogc_reader)]
ANONYMOUS = Caller(name="anonymous", role=None)


def json_response(body: Any, media_type: str = JSON, headers: dict[str, str] | None = None) -> Response:
    """Return ``body`` as compact JSON."""
    return Response(geojson.dumps(body), media_type=media_type, headers=headers)


def _alternates(links: Links, json_type: str = JSON) -> list[dict[str, str]]:
    """Return the self link (JSON) and its HTML alternate, both for this request's URL."""
    return [
        links.link("self", links.here(f=None), json_type, "本页 (JSON)"),
        links.link("alternate", links.here(f="html"), HTML, "本页 (HTML)"),
    ]


@router.get("/", include_in_schema=True, response_model=shapes.Landing)
@router.get("", include_in_schema=False)
def landing(request: Request, _caller: Reader) -> Response:
    """Landing page with links to the API definition, conformance and collections."""
    refuse_unknown(request, ())
    links = Links(request)
    body: dict[str, Any] = {
        "title": "河长制一张图 (River Chief one-map)",
        "description": "OGC API - Features / Tiles：河流、管理范围、岸线功能区、界桩、排污口、问题点",
        "links": [
            *_alternates(links),
            links.link("service-desc", links.url("/ogc/api"), openapi.MEDIA_TYPE, "API 定义 (OpenAPI 3.0)"),
            links.link("service-doc", links.url("/docs"), HTML, "API 文档"),
            links.link("conformance", links.url("/ogc/conformance"), JSON, "符合的标准"),
            links.link("data", links.url("/ogc/collections"), JSON, "图层集合"),
        ],
    }
    if wants_html(request):
        return html.page(links.base, body["title"], body["links"], description=body["description"])
    return json_response(body)


class OpenApiResponse(JSONResponse):
    """The OGC API's own OpenAPI document, declared in its media type."""

    media_type = openapi.MEDIA_TYPE


@router.get("/api", response_model=shapes.ApiDocument, response_class=OpenApiResponse)
def api_document(request: Request, _caller: Reader) -> Response:
    """The OpenAPI 3.0 document of the OGC API (the whole service's 3.1 document is ``/openapi.json``)."""
    refuse_unknown(request, ())
    links = Links(request)
    return json_response(
        openapi.document(links.url("/ogc"), app_settings(request.app), __version__),
        media_type=openapi.MEDIA_TYPE,
    )


@router.get("/conformance", response_model=shapes.Conformance)
def conformance(request: Request, _caller: Reader) -> Response:
    """The conformance classes this API implements."""
    refuse_unknown(request, ())
    return json_response({"conformsTo": CONFORMANCE})


def _describe(
    links: Links, district: District, layer: LayerSpec, box: BBox | None, dates: tuple[Any, Any] | None
) -> dict[str, Any]:
    """Describe one layer, whose bounding box is ``box``, as an OGC collection."""
    path = f"/ogc/collections/{layer.name}"
    body: dict[str, Any] = {
        "id": layer.name,
        "title": layer.label,
        "itemType": "feature",
        "crs": list(supported(district)),
        "storageCrs": STORAGE_CRS,
        "links": [
            links.link("self", links.url(path), JSON, layer.label),
            links.link("alternate", links.url(path, {"f": "html"}), HTML, layer.label),
            links.link("items", links.url(f"{path}/items"), GEOJSON, "要素"),
            links.link("items", links.url(f"{path}/items", {"f": "html"}), HTML, "要素 (HTML)"),
            links.link(
                "http://www.opengis.net/def/rel/ogc/1.0/queryables",
                links.url(f"{path}/queryables"),
                "application/schema+json",
                "可查询属性",
            ),
            links.link(
                "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector",
                links.url(f"{path}/tiles"),
                JSON,
                "矢量瓦片",
            ),
        ],
    }
    extent: dict[str, Any] = {}
    if box:
        extent["spatial"] = {"bbox": [list(box)], "crs": CRS84}
    if dates:
        first, last = (v.isoformat() if isinstance(v, dt.date) else v for v in dates)
        extent["temporal"] = {"interval": [[first, last]], "trs": TRS}
    if extent:
        body["extent"] = extent
    return body


def _collections_page(links: Links, described: list[dict[str, Any]]) -> Response:
    """Render the collections as HTML."""
    rows = [{"href": c["links"][1]["href"], "values": [c["id"], c["title"]]} for c in described]
    return html.page(links.base, "图层集合", _alternates(links), rows=rows, columns=["集合", "名称"])


@router.get("/collections", response_model=shapes.Collections)
def collections(request: Request, session: SessionDep, _caller: Reader) -> Response:
    """Every layer of the catalogue as a collection."""
    refuse_unknown(request, ())
    links = Links(request)
    layers = list(app_catalogue(request.app))
    district = app_district(request.app)
    boxes = layer_extents(session.connection(), [table_of(layer) for layer in layers])
    described = [
        _describe(links, district, layer, box, date_range(session, layer))
        for layer, box in zip(layers, boxes, strict=True)
    ]
    if wants_html(request):
        return _collections_page(links, described)
    return json_response({"links": _alternates(links), "collections": described})


def layer_of(request: Request, collection_id: str) -> LayerSpec:
    """Return the layer of a collection id in the app's catalogue, or a 404 naming the known ones."""
    layers = app_catalogue(request.app).layers
    if collection_id not in layers:
        raise NotFound(f"没有集合 {collection_id!r}；可用：{', '.join(sorted(layers))}", code="unknown_collection")
    return layers[collection_id]


@router.get("/collections/{collection_id}", response_model=shapes.Collection)
def collection(collection_id: str, request: Request, session: SessionDep, _caller: Reader) -> Response:
    """One collection's description and extent."""
    refuse_unknown(request, ())
    layer = layer_of(request, collection_id)
    links = Links(request)
    body = _describe(
        links,
        app_district(request.app),
        layer,
        layer_extent(session.connection(), table_of(layer)),
        date_range(session, layer),
    )
    if wants_html(request):
        return html.page(links.base, layer.label, body["links"], description=f"集合 {layer.name}")
    return json_response(body)


@router.get("/collections/{collection_id}/queryables", response_model=shapes.Queryables)
def collection_queryables(collection_id: str, request: Request, _caller: Reader) -> Response:
    """The properties a ``filter`` or ``sortby`` may name, as a JSON Schema."""
    refuse_unknown(request, ())
    layer = layer_of(request, collection_id)
    url = Links(request).url(f"/ogc/collections/{layer.name}/queryables")
    return json_response(queryables(layer, url), media_type="application/schema+json")


@router.get("/collections/{collection_id}/items", response_model=FeatureCollection)
def items(
    collection_id: str,
    request: Request,
    backend: ReadBackend,
    _caller: Reader,
    bbox: Annotated[str | None, Query(description="minx,miny,maxx,maxy，坐标系见 bbox-crs（默认 CRS84）")] = None,
    bbox_crs: Annotated[str | None, Query(alias="bbox-crs", description="bbox 的坐标系 URI")] = None,
    crs: Annotated[str | None, Query(description="输出坐标系 URI（默认 CRS84）")] = None,
    limit: Annotated[int | None, Query(ge=1, le=MAX_OFFSET, description="每页要素数，超过上限按上限")] = None,
    offset: Annotated[int | None, Query(ge=0, le=MAX_OFFSET)] = None,
    datetime: Annotated[str | None, Query(description="RFC 3339 日期/时间或区间（..表示开放）")] = None,
    filter: Annotated[str | None, Query(description="CQL2 过滤条件")] = None,  # noqa: A002 - the standard's name
    filter_lang: Annotated[str | None, Query(alias="filter-lang", description="cql2-text 或 cql2-json")] = None,
    filter_crs: Annotated[str | None, Query(alias="filter-crs", description="过滤条件中几何的坐标系")] = None,
    sortby: Annotated[str | None, Query(description="排序属性，-表示降序，如 -found_date,code")] = None,
    properties: Annotated[str | None, Query(description="只返回这些属性，逗号分隔")] = None,
    delivery: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="分版本集合：某次交付（任何状态）的要素")
    ] = None,
) -> Response:
    """A page of a collection's current features with ``numberMatched``, ``next`` and ``prev`` links.

    Any queryable property may also be given as ``name=value`` (equality).
    """
    return items_page(request, backend, collection_id)


def items_page(request: Request, backend: SpatialBackend, collection_id: str) -> Response:
    """Answer a page of items (the route's body; ``ogc/fast.py`` calls it too): every parameter read here."""
    layer = layer_of(request, collection_id)
    read, out = feature_read(request, layer, ITEMS_PARAMS)
    as_html = wants_html(request)
    size = page_limit(request.query_params.get("limit"), app_settings(request.app))
    start = page_offset(request.query_params.get("offset"))
    read = read.replace(limit=size, offset=start)
    project = None if as_html or out.is_storage_lonlat else out.project
    # One statement, or two: on PostGIS each is its own snapshot either way (READ COMMITTED), so no
    # BEGIN and COMMIT round trips around them (``one_read``).
    with filter_errors(read), backend.one_read() as conn:
        page = read.texts(conn, project)
        # A page short of the limit ends the matches: counted only when it cannot be known otherwise.
        matched = start + len(page) if 0 < len(page) < size or (not page and not start) else read.count(conn)
    links = Links(request)
    nav = [*_alternates(links, GEOJSON)]
    nav.append(links.link("collection", links.url(f"/ogc/collections/{layer.name}"), JSON, layer.label))
    if start + len(page) < matched:
        nav.append(links.link("next", links.here(offset=start + size, limit=size), GEOJSON, "下一页"))
    if start > 0:
        nav.append(links.link("prev", links.here(offset=max(0, start - size) or None, limit=size), GEOJSON, "上一页"))
    stamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    if as_html:
        return _items_page(links, layer, page, matched, nav)
    body = geojson.collection_text(page, numberMatched=matched, numberReturned=len(page), timeStamp=stamp, links=nav)
    return Response(body, media_type=GEOJSON, headers={"Content-Crs": f"<{out.uri}>"})


def _items_page(links: Links, layer: LayerSpec, texts: list[str], matched: int, nav: list[dict[str, Any]]) -> Response:
    """Render a page of features as HTML: a map and a table linking each feature."""
    document = json.loads(geojson.collection_text(texts))
    names = layer.field_names[:6]
    rows = [
        {
            "href": links.url(f"/ogc/collections/{layer.name}/items/{f['id']}", {"f": "html"}),
            "values": [f["id"], *(layer.field(n).value_label(f["properties"].get(n)) for n in names)],
        }
        for f in document["features"]
    ]
    return html.page(
        links.base,
        layer.label,
        nav,
        features=document,
        rows=rows,
        columns=[layer.column_labels()["id"], *(layer.field(n).label for n in names)],
        matched=matched,
        returned=len(texts),
    )


@router.get("/collections/{collection_id}/items/{fid}", response_model=Feature)
def item(
    collection_id: str,
    fid: IdPath,
    request: Request,
    backend: ReadBackend,
    _caller: Reader,
    crs: Annotated[str | None, Query(description="输出坐标系 URI（默认 CRS84）")] = None,
    delivery: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="分版本集合：某次交付（任何状态）的要素")
    ] = None,
) -> Response:
    """One current feature of a collection (of a version with ``delivery``); superseded ones are not found."""
    return one_item(request, backend, collection_id, fid)


def one_item(request: Request, backend: SpatialBackend, collection_id: str, fid: int) -> Response:
    """Answer one item (the route's body; ``ogc/fast.py`` calls it too)."""
    layer = layer_of(request, collection_id)
    read, out = feature_read(request, layer, ("crs", "delivery", "properties"), fid=fid)
    as_html = wants_html(request)
    with backend.one_read() as conn:
        texts = read.texts(conn, None if as_html or out.is_storage_lonlat else out.project)
    if not texts:
        raise NotFound(f"集合 {collection_id} 的当前要素中没有 {fid}", code="feature_not_found")
    links = Links(request)
    nav = [
        *_alternates(links, GEOJSON),
        links.link("collection", links.url(f"/ogc/collections/{layer.name}"), JSON, layer.label),
    ]
    if as_html:
        feature = json.loads(texts[0])
        # Catalogue fields in words, as the items page shows them; the system columns under their labels (the
        # locking counter is the API's, not a reader's).
        shown = {
            k: layer.field(k).value_label(v) if k in layer.field_names else v
            for k, v in feature["properties"].items()
            if k not in INTERNAL_COLUMNS
        }
        labels = layer.column_labels()
        rows = [{"href": None, "values": [labels.get(k, k), v]} for k, v in shown.items()]
        title = f"{layer.label} {fid}"
        return html.page(links.base, title, nav, features=feature, rows=rows, columns=["属性", "值"])
    return Response(
        geojson.with_members(texts[0], links=nav), media_type=GEOJSON, headers={"Content-Crs": f"<{out.uri}>"}
    )
