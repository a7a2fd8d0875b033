"""OGC API - Features (Part 1: Core, GeoJSON) so that QGIS, ArcGIS and GDAL read every layer.

Collections are the catalogue's layers; versioned layers serve their approved versions. Paging
uses ``limit``/``offset`` with ``next`` links and no ``COUNT(*)`` per page.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from gis_service.api.deps import SessionDep, Viewer
from gis_service.api.params import IdPath, Offset
from gis_service.api.routers.layers import parse_bbox
from gis_service.catalogue import LayerSpec, get_catalogue
from gis_service.errors import NotFound
from gis_service.export import geojson
from gis_service.store.features import table_of
from gis_service.store.spatial import BBox, layer_extent, layer_extents

router = APIRouter(prefix="/ogc", tags=["OGC API - Features"])
GEOJSON = "application/geo+json"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
]


def _base(request: Request) -> str:
    """Return the service root URL as the client sees it."""
    return str(request.base_url).rstrip("/")


def _json(body: Any, media_type: str = "application/json") -> Response:
    """Return ``body`` as compact JSON."""
    return Response(geojson.dumps(body), media_type=media_type)


@router.get("/", include_in_schema=True)
@router.get("", include_in_schema=False)
def landing(request: Request, _caller: Viewer) -> Response:
    """Landing page with links to the API definition, conformance and collections."""
    base = _base(request)
    return _json(
        {
            "title": "河长制一张图 (River Chief one-map)",
            "description": "OGC API - Features：河流、管理范围、岸线功能区、界桩、排污口、问题点",
            "links": [
                {"href": f"{base}/ogc/", "rel": "self", "type": "application/json", "title": "本页"},
                {
                    "href": f"{base}/openapi.json",
                    "rel": "service-desc",
                    "type": "application/vnd.oai.openapi+json;version=3.0",
                    "title": "API 定义",
                },
                {"href": f"{base}/docs", "rel": "service-doc", "type": "text/html", "title": "API 文档"},
                {"href": f"{base}/ogc/conformance", "rel": "conformance", "type": "application/json"},
                {"href": f"{base}/ogc/collections", "rel": "data", "type": "application/json"},
            ],
        }
    )


@router.get("/conformance")
def conformance(_caller: Viewer) -> Response:
    """The conformance classes this API implements."""
    return _json({"conformsTo": CONFORMANCE})


def _collection(request: Request, layer: LayerSpec, box: BBox | None) -> dict[str, Any]:
    """Describe one layer, whose bounding box is ``box``, as an OGC collection."""
    base = _base(request)
    body: dict[str, Any] = {
        "id": layer.name,
        "title": layer.label,
        "itemType": "feature",
        "crs": [CRS84],
        "links": [
            {"href": f"{base}/ogc/collections/{layer.name}", "rel": "self", "type": "application/json"},
            {"href": f"{base}/ogc/collections/{layer.name}/items", "rel": "items", "type": GEOJSON},
        ],
    }
    if box:
        body["extent"] = {"spatial": {"bbox": [list(box)], "crs": CRS84}}
    return body


@router.get("/collections")
def collections(request: Request, session: SessionDep, _caller: Viewer) -> Response:
    """Every layer of the catalogue as a collection."""
    base = _base(request)
    layers = list(get_catalogue())
    boxes = layer_extents(session.connection(), [table_of(layer) for layer in layers])
    return _json(
        {
            "links": [{"href": f"{base}/ogc/collections", "rel": "self", "type": "application/json"}],
            "collections": [_collection(request, layer, box) for layer, box in zip(layers, boxes, strict=True)],
        }
    )


def _layer(collection_id: str) -> LayerSpec:
    """Return the layer of a collection id, or a 404 naming the known ones."""
    layers = get_catalogue().layers
    if collection_id not in layers:
        raise NotFound(f"没有集合 {collection_id!r}；可用：{', '.join(sorted(layers))}", code="unknown_collection")
    return layers[collection_id]


@router.get("/collections/{collection_id}")
def collection(collection_id: str, request: Request, session: SessionDep, _caller: Viewer) -> Response:
    """One collection's description and extent."""
    layer = _layer(collection_id)
    return _json(_collection(request, layer, layer_extent(session.connection(), table_of(layer))))


@router.get("/collections/{collection_id}/items")
def items(
    collection_id: str,
    request: Request,
    session: SessionDep,
    _caller: Viewer,
    bbox: Annotated[str | None, Query(description="minx,miny,maxx,maxy in CRS84")] = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 100,
    offset: Offset = 0,
) -> Response:
    """A page of a collection's features, with a ``next`` link while more remain."""
    layer = _layer(collection_id)
    # One row past the page tells whether a next page exists, without a COUNT(*).
    texts = geojson.read_feature_texts(session, layer, bbox=parse_bbox(bbox), limit=limit + 1, offset=offset)
    page = texts[:limit]
    links = [
        {"href": str(request.url), "rel": "self", "type": GEOJSON},
        {"href": f"{_base(request)}/ogc/collections/{layer.name}", "rel": "collection", "type": "application/json"},
    ]
    if len(texts) > limit:
        nxt = request.url.include_query_params(offset=offset + limit, limit=limit)
        links.append({"href": str(nxt), "rel": "next", "type": GEOJSON})
    body = geojson.collection_text(
        page,
        numberReturned=len(page),
        timeStamp=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        links=links,
    )
    return Response(body, media_type=GEOJSON)


@router.get("/collections/{collection_id}/items/{fid}")
def item(collection_id: str, fid: IdPath, request: Request, session: SessionDep, _caller: Viewer) -> Response:
    """One feature of a collection."""
    layer = _layer(collection_id)
    texts = geojson.read_feature_texts(session, layer, fid=fid, current_only=False)
    if not texts:
        raise NotFound(f"集合 {collection_id} 中没有要素 {fid}", code="feature_not_found")
    links = [
        {"href": str(request.url), "rel": "self", "type": GEOJSON},
        {"href": f"{_base(request)}/ogc/collections/{layer.name}", "rel": "collection", "type": "application/json"},
    ]
    return Response(geojson.with_members(texts[0], links=links), media_type=GEOJSON)
