"""One request's feature read: every OGC query parameter checked and turned into a ``CurrentFeatures``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import Request
from sqlalchemy.exc import DBAPIError, OperationalError

from gis_service.api.deps import app_backend, app_district
from gis_service.catalogue import FieldSpec, LayerSpec
from gis_service.errors import BadRequest, NotFound
from gis_service.ogc.crs import ServedCrs, box_in_storage, parse_crs
from gis_service.ogc.filters import compile_filter, queryable_names
from gis_service.ogc.params import name_list, parse_box, parse_datetime, parse_sortby, refuse_unknown
from gis_service.store.current import CurrentFeatures, LayerVersions, dated_column

# Feature ids are 32-bit integers: a larger one names no feature.
MAX_ID = 2**31 - 1
BOOLEANS = {"true": True, "1": True, "false": False, "0": False}


def typed_value(spec: FieldSpec, text: str) -> Any:
    """Return a ``name=value`` query parameter as its field's type, or a 400 naming the field and an example."""
    try:
        if spec.type == "int":
            return int(text)
        if spec.type == "float":
            return float(text)
        if spec.type == "bool":
            return BOOLEANS[text.lower()]
        if spec.type == "date":
            return dt.date.fromisoformat(text)
        if spec.type == "datetime":
            return dt.datetime.fromisoformat(text)
    except (ValueError, KeyError) as exc:
        examples = {
            "int": "3",
            "float": "2.5",
            "bool": "true 或 false",
            "date": "2022-03-01",
            "datetime": "2022-03-01T08:00:00",
        }
        raise BadRequest(
            f"参数 {spec.name}={text!r} 不是{spec.label}的有效值；例如 {examples.get(spec.type, '')}",
            code="bad_property_value",
        ) from exc
    return text


def feature_read(
    request: Request, layer: LayerSpec, known: Iterable[str], fid: int | None = None
) -> tuple[CurrentFeatures, ServedCrs]:
    """Build the read a request asks for (every parameter checked, 400 naming a bad one) and its output CRS."""
    if fid is not None and not 0 <= fid <= MAX_ID:
        raise NotFound(f"集合 {layer.name} 的当前要素中没有 {fid}", code="feature_not_found")
    names = queryable_names(layer)
    refuse_unknown(request, (*known, *names) if fid is None else known)
    q = request.query_params
    district = app_district(request.app)
    out = parse_crs(q.get("crs"), district, "crs")
    box = parse_box(q.get("bbox"))
    envelope, area = box_in_storage(box, parse_crs(q.get("bbox-crs"), district, "bbox-crs")) if box else (None, None)
    period = parse_datetime(q.get("datetime"))
    if period is not None and dated_column(layer) is None:
        raise BadRequest(f"集合 {layer.name} 的要素没有日期，不能用 datetime 参数", code="bad_datetime")
    text = q.get("filter")
    compiled = (
        compile_filter(
            text,
            q.get("filter-lang"),
            layer,
            parse_crs(q.get("filter-crs"), district, "filter-crs"),
            app_backend(request),
        )
        if text
        else None
    )
    where = {name: typed_value(layer.field(name), q[name]) for name in names if name in q}
    if compiled is not None:  # what the filter fixes narrows the read as a query parameter does (same features)
        where = {**compiled.fixed, **where}
    properties = name_list(q.get("properties"), layer.field_names, "properties") if "properties" in q else None
    common: dict[str, Any] = {
        "where": where,
        "bbox": envelope,
        "area": area,
        "clause": compiled.clause if compiled is not None else None,
        "period": period,
        "sort": parse_sortby(q.get("sortby"), names),
        "properties": tuple(properties) if properties is not None else None,
        "fid": fid,
        "rivers": compiled.sets.get("river_code") if compiled is not None and layer.versioned else None,
    }
    delivery = q.get("delivery")
    if delivery is None:
        return CurrentFeatures(layer, **common), out
    if not layer.versioned or not delivery.isdigit():
        raise BadRequest(
            f"delivery 参数 {delivery!r} 不可用：只有分版本的集合（管理范围、岸线功能区、界桩）接受交付编号（整数）",
            code="bad_delivery",
        )
    return LayerVersions(layer, delivery_id=int(delivery), **common), out


@contextmanager
def filter_errors(read: CurrentFeatures) -> Iterator[None]:
    """Turn a database's refusal of a CQL2 filter (a text compared with a number, a bad date) into a 400."""
    try:
        yield
    except DBAPIError as exc:
        if read.clause is None or isinstance(exc, OperationalError):
            raise
        first = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else type(exc).__name__
        raise BadRequest(
            "filter 参数无法执行：比较的值与属性类型不符（文本须加单引号，如 town = '青年镇'；"
            f"日期写 DATE('2022-03-01')）。数据库说：{first}",
            code="bad_filter",
        ) from exc
