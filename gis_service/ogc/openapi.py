"""The OpenAPI 3.0 document of the OGC API (``/ogc/api``), the ``oas30`` conformance class to the letter.

FastAPI's own ``/openapi.json`` is OpenAPI 3.1 and covers the whole service; OGC clients (GDAL's
OAPIF driver among them) read a 3.0 document whose paths start at the OGC landing page and whose
items paths list each collection's queryables, ``filter-lang`` and its values: from that they
know which ``-where`` clauses to send to the server.
"""

from __future__ import annotations

from typing import Any

from gis_service.catalogue import catalogue_for
from gis_service.district import district_for
from gis_service.ogc.crs import supported
from gis_service.ogc.filters import JSON_TYPES, LANGUAGES, queryable_names
from gis_service.settings import Settings

MEDIA_TYPE = "application/vnd.oai.openapi+json;version=3.0"
TMS = "WebMercatorQuad"


def _query(name: str, description: str, schema: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """Return one query parameter object."""
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema, **extra}


def _parameters(settings: Settings) -> dict[str, dict[str, Any]]:
    """Return the shared query parameters of the OGC routes (CRSs: the district's; page sizes: the settings')."""
    district = district_for(settings)
    string = {"type": "string"}
    crs = {"type": "string", "format": "uri", "enum": list(supported(district))}
    numbers = {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}}
    return {
        "f": _query("f", "响应格式", {"type": "string", "enum": ["json", "html"]}),
        "bbox": _query("bbox", "范围 minx,miny,maxx,maxy（坐标系见 bbox-crs）", numbers, style="form", explode=False),
        "bbox-crs": _query("bbox-crs", "bbox 的坐标系", crs),
        "crs": _query("crs", "输出坐标系", crs),
        "limit": _query(
            "limit",
            "每页要素数；超过上限按上限",
            {"type": "integer", "minimum": 1, "maximum": settings.max_limit, "default": settings.default_limit},
        ),
        "offset": _query("offset", "跳过的要素数", {"type": "integer", "minimum": 0, "default": 0}),
        "datetime": _query("datetime", "RFC 3339 日期/时间或区间", string),
        "filter": _query("filter", "CQL2 过滤条件", string),
        # cql-text: the name of an earlier draft, still sent by GDAL 3.6; read as cql2-text.
        "filter-lang": _query("filter-lang", "过滤语言", {"type": "string", "enum": [*LANGUAGES, "cql-text"]}),
        "filter-crs": _query("filter-crs", "过滤条件中几何的坐标系", crs),
        "sortby": _query("sortby", "排序属性，-表示降序", string),
        "properties": _query("properties", "只返回这些属性", string),
        "delivery": _query("delivery", "分版本集合：某次交付的要素", {"type": "integer"}),
    }


def _ok(description: str, media_type: str) -> dict[str, Any]:
    """Return a response set: the 200 of ``media_type`` and the errors the route really returns."""
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    return {
        "200": {"description": description, "content": {media_type: {}, "text/html": {}}},
        "400": {"description": "参数错误", "content": error},
        "404": {"description": "不存在", "content": error},
    }


def _operation(summary: str, params: list[str], media_type: str, extra: list[dict[str, Any]] | None = None) -> Any:
    """Return a GET path item."""
    refs = [{"$ref": f"#/components/parameters/{name}"} for name in params]
    return {"get": {"summary": summary, "parameters": refs + (extra or []), "responses": _ok(summary, media_type)}}


def document(base: str, settings: Settings, version: str) -> dict[str, Any]:
    """Return the OpenAPI 3.0 document of the OGC API served at ``base`` (the OGC landing page)."""
    collection_id = {"name": "collectionId", "in": "path", "required": True, "schema": {"type": "string"}}
    feature_id = {"name": "featureId", "in": "path", "required": True, "schema": {"type": "integer"}}
    items_params = [
        "f",
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
    ]
    paths: dict[str, Any] = {
        "/": _operation("着陆页", ["f"], "application/json"),
        "/api": _operation("本文档 (OpenAPI 3.0)", [], MEDIA_TYPE),
        "/conformance": _operation("符合的标准", [], "application/json"),
        "/collections": _operation("图层集合", ["f"], "application/json"),
        "/collections/{collectionId}": _operation("一个集合", ["f"], "application/json", [collection_id]),
        "/collections/{collectionId}/queryables": _operation(
            "可查询属性", [], "application/schema+json", [collection_id]
        ),
        "/collections/{collectionId}/items": _operation("要素", items_params, "application/geo+json", [collection_id]),
        "/collections/{collectionId}/items/{featureId}": _operation(
            "一个要素", ["f", "crs", "delivery"], "application/geo+json", [collection_id, feature_id]
        ),
    }
    tms_id = {"name": "tileMatrixSetId", "in": "path", "required": True, "schema": {"type": "string", "enum": [TMS]}}
    cells = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "integer", "minimum": 0}}
        for name in ("tileMatrix", "tileRow", "tileCol")
    ]
    tiles = "/collections/{collectionId}/tiles"
    paths.update(
        {
            "/tileMatrixSets": _operation("瓦片矩阵集", [], "application/json"),
            "/tileMatrixSets/{tileMatrixSetId}": _operation("瓦片矩阵集定义", [], "application/json", [tms_id]),
            tiles: _operation("矢量瓦片集", [], "application/json", [collection_id]),
            tiles + "/{tileMatrixSetId}": _operation("矢量瓦片集描述", [], "application/json", [collection_id, tms_id]),
            tiles + "/{tileMatrixSetId}/tilejson.json": _operation(
                "TileJSON", [], "application/json", [collection_id, tms_id]
            ),
            tiles + "/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}": _operation(
                "矢量瓦片 (MVT)",
                ["datetime", "filter", "filter-lang", "filter-crs", "delivery"],
                "application/vnd.mapbox-vector-tile",
                [collection_id, tms_id, *cells],
            ),
        }
    )
    for layer in catalogue_for(settings):
        # One path a collection, so that clients see its queryables as parameters (name=value).
        equal = [
            _query(name, layer.field(name).label, {"type": JSON_TYPES.get(layer.field(name).type, "string")})
            for name in queryable_names(layer)
        ]
        paths[f"/collections/{layer.name}/items"] = _operation(layer.label, items_params, "application/geo+json", equal)
    return {
        "openapi": "3.0.3",
        "info": {"title": "河长制一张图 OGC API", "version": version},
        "servers": [{"url": base}],
        "paths": paths,
        "components": {
            "parameters": _parameters(settings),
            "schemas": {
                "Error": {
                    "type": "object",
                    "properties": {
                        "error": {
                            "type": "object",
                            "properties": {
                                "code": {"type": "string"},
                                "message": {"type": "string"},
                                "details": {},
                            },
                        }
                    },
                }
            },
        },
    }
