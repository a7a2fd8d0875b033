"""Read endpoints: the layer catalogue and each layer's features as GeoJSON with bbox and paging."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from gis_service.api.deps import CatalogueDep, SessionDep, Viewer
from gis_service.api.params import IdPath, Offset
from gis_service.api.schemas import layers as shapes
from gis_service.api.schemas.base import Feature, FeatureCollection
from gis_service.errors import BadRequest, NotFound
from gis_service.export import geojson
from gis_service.store.current import CurrentFeatures
from gis_service.store.spatial import BBox

router = APIRouter(prefix="/api/v1/layers", tags=["layers"])
GEOJSON = "application/geo+json"
MAX_LIMIT = 10000


def parse_bbox(value: str | None) -> BBox | None:
    """Parse ``minx,miny,maxx,maxy`` (lon/lat, EPSG:4490) or raise a clear error."""
    if not value:
        return None
    try:
        parts = tuple(float(v) for v in value.split(","))
    except ValueError:
        parts = ()
    if len(parts) != 4 or parts[0] > parts[2] or parts[1] > parts[3]:
        raise BadRequest(
            f"bbox 参数 {value!r} 不正确：应为 最小经度,最小纬度,最大经度,最大纬度，例如 106.7,28.7,107.1,29.2",
            code="bad_bbox",
        )
    return parts


@router.get("", response_model=shapes.LayerList)
def list_layers(catalogue: CatalogueDep, _caller: Viewer) -> dict[str, Any]:
    """List the layers with their Chinese labels and fields."""
    return {
        "layers": [
            {
                "name": layer.name,
                "label": layer.label,
                "geometry_types": list(layer.geometry_types),
                "versioned": layer.versioned,
                "fields": [
                    {
                        "name": f.name,
                        "type": f.type,
                        "label": f.label,
                        "required": f.required,
                        "values": {v.code: v.label for v in f.values.values()} or None,
                    }
                    for f in layer.fields
                ],
            }
            for layer in catalogue
        ]
    }


@router.get("/{layer}/features", response_model=FeatureCollection)
def layer_features(
    request: Request,
    session: SessionDep,
    catalogue: CatalogueDep,
    _caller: Viewer,
    layer: Annotated[str, Path(description="图层名，如 rivers、zones、problems")],
    bbox: Annotated[str | None, Query(description="minx,miny,maxx,maxy (EPSG:4490)")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 1000,
    offset: Offset = 0,
    river_code: str | None = None,
) -> Response:
    """Return a page of a layer's current features as a GeoJSON FeatureCollection."""
    spec = catalogue[layer]
    where = {"river_code": river_code} if river_code else None
    # One row past the page tells whether a next page exists, without a COUNT(*).
    read = CurrentFeatures(spec, bbox=parse_bbox(bbox), where=where or {}, limit=limit + 1, offset=offset)
    texts = read.texts(session)
    page = texts[:limit]
    links = []
    if len(texts) > limit:
        url = request.url.include_query_params(offset=offset + limit, limit=limit)
        links.append({"rel": "next", "href": str(url), "type": GEOJSON})
    return Response(geojson.collection_text(page, numberReturned=len(page), links=links), media_type=GEOJSON)


@router.get("/{layer}/features/{fid}", response_model=Feature)
def layer_feature(session: SessionDep, catalogue: CatalogueDep, _caller: Viewer, layer: str, fid: IdPath) -> Response:
    """Return one current feature by id as a GeoJSON Feature (superseded versions are not found)."""
    spec = catalogue[layer]
    texts = CurrentFeatures(spec, fid=fid).texts(session)
    if not texts:
        raise NotFound(f"图层 {layer} 的当前要素中没有编号为 {fid} 的要素", code="feature_not_found")
    return Response(texts[0], media_type=GEOJSON)
