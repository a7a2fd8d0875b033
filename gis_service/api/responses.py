"""The error responses each operation really answers, declared in the OpenAPI document from the routes themselves.

FastAPI declares a 422 validation error on every route with parameters, but this service answers
bad parameters with 400 (``api/errors.py``), and it declares none of the 401/403/404/409/413/503
the routes do answer. Rather than hand-listing them on 50 routes (and forgetting the next one),
they are derived here from what each route is made of:

| status | when a route can answer it |
|---|---|
| 400 ``bad_request`` / ``invalid_request`` | it takes parameters or a body |
| 401 ``token_required``, ``invalid_token`` | it reads the caller's token (a bad one is refused even on reads) |
| 403 ``insufficient_role`` | its guard needs more than the viewer role |
| 404 ``*_not_found`` | it has a path parameter (an id, a code, a layer name) or names a river or delivery |
| 409 ``conflict`` | it writes (POST, PUT, PATCH, DELETE) |
| 413 ``payload_too_large`` | it takes a multipart upload |
| 503 ``database_unavailable`` / ``database_busy`` | it opens a database session |

A route may declare more itself (``responses={422: …}`` for a rejected delivery); that is kept.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field

from gis_service.access import Role
from gis_service.api.deps import get_caller, get_import_session, get_session

ERROR_REF = "#/components/schemas/ErrorResponse"
DESCRIPTIONS = {
    400: "请求参数或内容不正确（bad_request、invalid_request 等）",
    401: "缺少令牌或令牌无效、已吊销、已过期（token_required、invalid_token）",
    403: "令牌角色不足（insufficient_role）",
    404: "对象不存在（*_not_found、unknown_layer）",
    409: "与当前状态冲突（conflict、版本已变）",
    413: "上传过大（payload_too_large、upload_too_large）",
    422: "交付未通过检查，details 为检查报告（delivery_rejected）",
    503: "数据库暂不可用或正忙（database_unavailable、database_busy）",
}
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
# Query parameters that name a stored thing (a river, a delivery): a missing one is a 404.
REFERENCES = {"river", "from", "to"}


class ErrorDetail(BaseModel):
    """The error itself: a stable English code, a Chinese message naming the fix, optional details."""

    code: str = Field(description="稳定的英文错误代码")
    message: str = Field(description="中文说明：错在哪里、如何改正")
    details: Any = Field(default=None, description="补充信息，如检查报告")


class ErrorResponse(BaseModel):
    """Every error answer of the service."""

    error: ErrorDetail


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    """Yield every dependency callable of a route, depth first."""
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


def error_statuses(route: APIRoute, operation: dict[str, Any]) -> set[int]:
    """Return the error statuses ``route`` can answer (see the module's table)."""
    calls = list(_calls(route.dependant))
    statuses: set[int] = set()
    if operation.get("parameters") or operation.get("requestBody"):
        statuses.add(400)
    if get_caller in calls:
        statuses.add(401)
    # A role guard (``deps.require``) keeps the role it needs in its closure.
    roles = [inspect.getclosurevars(c).nonlocals.get("role") for c in calls if inspect.isfunction(c)]
    if any(isinstance(r, Role) and r is not Role.VIEWER for r in roles):
        statuses.add(403)
    if any(p.get("in") == "path" or p.get("name") in REFERENCES for p in operation.get("parameters", [])):
        statuses.add(404)
    if (route.methods or set()) & WRITES:
        # A write reads a body (JSON, a form or a file), which may be wrong or name a missing river or item.
        statuses.update({400, 404, 409})
    if "multipart/form-data" in operation.get("requestBody", {}).get("content", {}):
        statuses.update({400, 413})
    if get_session in calls or get_import_session in calls:
        statuses.add(503)
    return statuses


def _is_fastapi_validation(response: dict[str, Any]) -> bool:
    """Tell whether a declared response is FastAPI's automatic 422 (which this service never answers)."""
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    ref: str = schema.get("$ref", "")
    return ref.endswith("/HTTPValidationError")


def declare_errors(app: FastAPI, routers: Sequence[APIRouter]) -> None:
    """Make ``app.openapi()`` declare each operation's real error responses with the error schema.

    The routes are taken from ``routers`` (included without a further prefix), not from ``app.routes``,
    where FastAPI keeps included routers behind private wrappers.
    """

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        routes = {
            (route.path_format, method.lower()): route
            for router in routers
            for route in router.routes
            if isinstance(route, APIRoute) and route.include_in_schema
            for method in route.methods or ()
        }
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                route = routes.get((path, method))
                if route is None:
                    continue
                responses = operation.setdefault("responses", {})
                if _is_fastapi_validation(responses.get("422", {})):
                    del responses["422"]
                for status in sorted(error_statuses(route, operation)):
                    responses.setdefault(str(status), _error(status))
                for status, response in responses.items():
                    if status.startswith(("4", "5")) and "content" not in response:
                        response.update(_error(int(status)))
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for unused in ("HTTPValidationError", "ValidationError"):
            components.pop(unused, None)
        components["ErrorDetail"] = ErrorDetail.model_json_schema()
        components["ErrorResponse"] = ErrorResponse.model_json_schema(ref_template="#/components/schemas/{model}")
        components["ErrorResponse"].pop("$defs", None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to customise the document


def _error(status: int) -> dict[str, Any]:
    """Return a declared error response."""
    return {
        "description": DESCRIPTIONS.get(status, "错误"),
        "content": {"application/json": {"schema": {"$ref": ERROR_REF}}},
    }


def file_responses(*media_types: str) -> dict[int | str, dict[str, Any]]:
    """Return the ``responses`` of a download route: a 200 in each of ``media_types``."""
    binary = {"schema": {"type": "string", "format": "binary"}}
    # GeoJSON: a JSON document (the FeatureCollection the feature routes declare), not opaque bytes.
    document = {"schema": {"$ref": "#/components/schemas/FeatureCollection"}}
    return {200: {"description": "文件", "content": {m: document if "json" in m else binary for m in media_types}}}
