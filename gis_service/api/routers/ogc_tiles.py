"""OGC API - Tiles: vector tiles (MVT) of every collection in WebMercatorQuad, tile-set metadata and TileJSON.

The tile path follows the standard, ``…/tiles/WebMercatorQuad/{tileMatrix}/{tileRow}/{tileCol}``
(zoom, then row y, then column x); the templated links and the TileJSON say so to clients.
Tiles take the same filters as items (queryable ``name=value``, ``filter``, ``datetime``).
"""

from __future__ import annotations

import morecantile
from fastapi import APIRouter, Request
from fastapi.responses import Response

from gis_service.api.deps import SessionDep
from gis_service.api.responses import file_responses
from gis_service.api.routers.ogc import JSON, ReadBackend, Reader, json_response, layer_of
from gis_service.api.schemas import ogc as shapes
from gis_service.catalogue import LayerSpec
from gis_service.db.backend import SpatialBackend
from gis_service.errors import NotFound
from gis_service.ogc.encoding import gzipped_tile
from gis_service.ogc.filters import queryable_names
from gis_service.ogc.links import Links
from gis_service.ogc.params import refuse_unknown
from gis_service.ogc.request import feature_read, filter_errors
from gis_service.ogc.tiles import MAX_ZOOM, MVT, TMS_ID, Tile, encode_tile, etag, matrix_set
from gis_service.store.features import table_of
from gis_service.store.spatial import layer_extent

router = APIRouter(prefix="/ogc", tags=["OGC API - Tiles"])
TILE_FILTERS = ("filter", "filter-lang", "filter-crs", "datetime", "delivery")
TMS_URI = "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"
WEB_MERCATOR = "http://www.opengis.net/def/crs/EPSG/0/3857"
TILING_SCHEME = "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme"
FIELD_TYPES = {"str": "String", "int": "Number", "float": "Number", "bool": "Boolean", "date": "String"}


def _tileset_id(tms_id: str) -> None:
    """Refuse a tile matrix set other than WebMercatorQuad."""
    if tms_id != TMS_ID:
        raise NotFound(f"瓦片矩阵集 {tms_id!r} 不提供；可用：{TMS_ID}", code="unknown_tile_matrix_set")


def _template(links: Links, layer: LayerSpec) -> str:
    """Return the templated URL of the layer's tiles."""
    return links.url(f"/ogc/collections/{layer.name}/tiles/{TMS_ID}") + "/{tileMatrix}/{tileRow}/{tileCol}"


def _tileset(links: Links, layer: LayerSpec) -> dict[str, object]:
    """Describe the layer's vector tile set."""
    base = f"/ogc/collections/{layer.name}/tiles/{TMS_ID}"
    return {
        "title": f"{layer.label}（矢量瓦片）",
        "dataType": "vector",
        "crs": WEB_MERCATOR,
        "tileMatrixSetURI": TMS_URI,
        "links": [
            links.link("self", links.url(base), JSON, "瓦片集"),
            links.link(TILING_SCHEME, links.url(f"/ogc/tileMatrixSets/{TMS_ID}"), JSON),
            {**links.link("item", _template(links, layer), MVT, "瓦片"), "templated": True},
            links.link("describedby", links.url(f"{base}/tilejson.json"), JSON, "TileJSON"),
        ],
        "layers": [
            {
                "id": layer.name,
                "title": layer.label,
                "dataType": "vector",
                "maxTileMatrix": str(MAX_ZOOM),
                "minTileMatrix": "0",
            }
        ],
    }


@router.get("/tileMatrixSets", response_model=shapes.TileMatrixSets)
def tile_matrix_sets(request: Request, _caller: Reader) -> object:
    """The tile matrix sets tiles are served in (WebMercatorQuad)."""
    refuse_unknown(request, ())
    links = Links(request)
    href = links.url(f"/ogc/tileMatrixSets/{TMS_ID}")
    return json_response(
        {"tileMatrixSets": [{"id": TMS_ID, "uri": TMS_URI, "links": [links.link("self", href, JSON)]}]}
    )


@router.get("/tileMatrixSets/{tms_id}", response_model=morecantile.TileMatrixSet)
def tile_matrix_set(tms_id: str, request: Request, _caller: Reader) -> Response:
    """The definition of WebMercatorQuad (from morecantile)."""
    refuse_unknown(request, ())
    _tileset_id(tms_id)
    return Response(matrix_set().model_dump_json(exclude_none=True, by_alias=True), media_type=JSON)


@router.get("/collections/{collection_id}/tiles", response_model=shapes.TileSets)
def tilesets(collection_id: str, request: Request, _caller: Reader) -> Response:
    """The vector tile sets of a collection."""
    refuse_unknown(request, ())
    layer = layer_of(request, collection_id)
    links = Links(request)
    return json_response({"links": [links.link("self", links.here(), JSON)], "tilesets": [_tileset(links, layer)]})


@router.get("/collections/{collection_id}/tiles/{tms_id}", response_model=shapes.TileSet)
def tileset(collection_id: str, tms_id: str, request: Request, _caller: Reader) -> Response:
    """One vector tile set of a collection."""
    refuse_unknown(request, ())
    _tileset_id(tms_id)
    return json_response(_tileset(Links(request), layer_of(request, collection_id)))


@router.get("/collections/{collection_id}/tiles/{tms_id}/tilejson.json", response_model=shapes.TileJson)
def tilejson(collection_id: str, tms_id: str, request: Request, session: SessionDep, _caller: Reader) -> Response:
    """The TileJSON 3.0 of a collection's tiles (MapLibre, Leaflet plugins, QGIS)."""
    refuse_unknown(request, ())
    _tileset_id(tms_id)
    layer = layer_of(request, collection_id)
    links = Links(request)
    template = (
        _template(links, layer).replace("{tileMatrix}", "{z}").replace("{tileRow}", "{y}").replace("{tileCol}", "{x}")
    )
    box = layer_extent(session.connection(), table_of(layer))
    fields = {name: FIELD_TYPES.get(layer.field(name).type, "String") for name in queryable_names(layer)}
    body = {
        "tilejson": "3.0.0",
        "name": layer.label,
        "tiles": [template],
        "minzoom": 0,
        "maxzoom": MAX_ZOOM,
        "vector_layers": [{"id": layer.name, "description": layer.label, "fields": fields}],
    }
    if box:
        body["bounds"] = list(box)
    return json_response(body)


@router.get(
    "/collections/{collection_id}/tiles/{tms_id}/{z}/{y}/{x}", response_class=Response, responses=file_responses(MVT)
)
def tile(
    collection_id: str, tms_id: str, z: int, y: int, x: int, request: Request, backend: ReadBackend, _caller: Reader
) -> Response:
    """One vector tile (MVT) of a collection's current features, filtered like its items; ETag and cache headers."""
    return one_tile(request, backend, collection_id, tms_id, (z, y, x))


def one_tile(
    request: Request, backend: SpatialBackend, collection_id: str, tms_id: str, zyx: tuple[int, int, int]
) -> Response:
    """Answer one tile (the route's body; ``ogc/fast.py`` calls it too); ``zyx``: matrix, row, column."""
    z, y, x = zyx
    _tileset_id(tms_id)
    layer = layer_of(request, collection_id)
    read, _ = feature_read(request, layer, TILE_FILTERS)
    with filter_errors(read), backend.one_read() as conn:
        body = encode_tile(conn, read, Tile.checked(z, x, y))
    tag = etag(body)
    headers = {"ETag": tag, "Cache-Control": "public, max-age=60", "Vary": "Accept-Encoding"}
    if tag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    sent, encoding = gzipped_tile(request.headers, body)
    return Response(sent, media_type=MVT, headers={**headers, **encoding})
