"""Typed HTTP: every JSON answer has a named schema, and the real answers match the models the routes declare."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import BaseModel, TypeAdapter
from sqlalchemy import Engine

from gis_service.api.app import ROUTERS, create_app
from tests.helpers import bearer
from tests.test_import_versions import range_file, river, upload

__all__ = ["river"]  # the fixture of a river to deliver ranges for

REF = "#/components/schemas/"
# (URL asked on the demo database, the route's path template): the main GET routes of each resource.
ANSWERS = [
    ("/healthz", "/healthz"),
    ("/api/v1/layers", "/api/v1/layers"),
    ("/api/v1/layers/rivers/features?limit=2", "/api/v1/layers/{layer}/features"),
    ("/api/v1/layers/problems/features/1", "/api/v1/layers/{layer}/features/{fid}"),
    ("/api/v1/tokens", "/api/v1/tokens"),
    ("/api/v1/audit", "/api/v1/audit"),
    ("/api/v1/problems?limit=5", "/api/v1/problems"),
    ("/api/v1/problems/overdue?limit=5", "/api/v1/problems/overdue"),
    ("/api/v1/problems/stats", "/api/v1/problems/stats"),
    ("/api/v1/problems/stats?by=town", "/api/v1/problems/stats"),
    ("/api/v1/problems/1", "/api/v1/problems/{problem_id}"),
    ("/api/v1/problems/1/history", "/api/v1/problems/{problem_id}/history"),
    ("/api/v1/outfalls", "/api/v1/outfalls"),
    ("/api/v1/outfalls/stats", "/api/v1/outfalls/stats"),
    ("/api/v1/outfalls/1", "/api/v1/outfalls/{outfall_id}"),
    ("/api/v1/deliveries", "/api/v1/deliveries"),
    ("/api/v1/deliveries/1", "/api/v1/deliveries/{delivery_id}"),
    ("/api/v1/deliveries/rivers/WS001", "/api/v1/deliveries/rivers/{river_code}"),
    ("/api/v1/deliveries/diff?from=1&to=1", "/api/v1/deliveries/diff"),
    ("/api/v1/ratios", "/api/v1/ratios"),
    ("/api/v1/ratios?important_only=true", "/api/v1/ratios"),
    ("/api/v1/chiefs", "/api/v1/chiefs"),
    ("/api/v1/chiefs/coverage", "/api/v1/chiefs/coverage"),
    ("/api/v1/chiefs/1/calendar", "/api/v1/chiefs/{chief_id}/calendar"),
    ("/api/v1/signboards", "/api/v1/signboards"),
    ("/api/v1/patrols", "/api/v1/patrols"),
    ("/api/v1/patrols/1", "/api/v1/patrols/{patrol_id}"),
    ("/api/v1/patrols/overdue", "/api/v1/patrols/overdue"),
    ("/api/v1/patrols/stats", "/api/v1/patrols/stats"),
    ("/api/v1/public-reports", "/api/v1/public-reports"),
    ("/api/v1/quality", "/api/v1/quality"),
    ("/api/v1/quality/dashboard", "/api/v1/quality/dashboard"),
    ("/api/v1/quality/sources/checks", "/api/v1/quality/sources/checks"),
    ("/api/v1/quality/health", "/api/v1/quality/health"),
    ("/api/v1/tasks", "/api/v1/tasks"),
    ("/api/v1/tasks/rollup", "/api/v1/tasks/rollup"),
    ("/maps/data/problems", "/maps/data/problems"),
    ("/maps/data/problems/1", "/maps/data/problems/{problem_id}"),
    ("/maps/data/layers/rivers", "/maps/data/layers/{layer}"),
    ("/ogc/", "/ogc/"),
    ("/ogc/conformance", "/ogc/conformance"),
    ("/ogc/collections", "/ogc/collections"),
    ("/ogc/collections/rivers", "/ogc/collections/{collection_id}"),
    ("/ogc/collections/rivers/queryables", "/ogc/collections/{collection_id}/queryables"),
    ("/ogc/collections/zones/items?limit=3", "/ogc/collections/{collection_id}/items"),
    ("/ogc/collections/zones/items/1", "/ogc/collections/{collection_id}/items/{fid}"),
    ("/ogc/tileMatrixSets", "/ogc/tileMatrixSets"),
    ("/ogc/tileMatrixSets/WebMercatorQuad", "/ogc/tileMatrixSets/{tms_id}"),
    ("/ogc/collections/rivers/tiles", "/ogc/collections/{collection_id}/tiles"),
    ("/ogc/collections/rivers/tiles/WebMercatorQuad", "/ogc/collections/{collection_id}/tiles/{tms_id}"),
    (
        "/ogc/collections/rivers/tiles/WebMercatorQuad/tilejson.json",
        "/ogc/collections/{collection_id}/tiles/{tms_id}/tilejson.json",
    ),
]


def _json_schemas(document: dict[str, Any]) -> list[tuple[str, str, str, dict[str, Any]]]:
    """Return (method, path, status, schema) of every 2xx ``application/json`` response of the document."""
    return [
        (method, path, status, response["content"]["application/json"].get("schema", {}))
        for path, item in document["paths"].items()
        for method, operation in item.items()
        for status, response in operation.get("responses", {}).items()
        if status.startswith("2") and "application/json" in response.get("content", {})
    ]


def test_every_json_answer_has_a_named_schema() -> None:
    """Each 2xx JSON response refers to a component schema (or an array of one) that the document defines."""
    document = create_app().openapi()
    components = document["components"]["schemas"]
    answers = _json_schemas(document)
    # The service has dozens of JSON routes (health, layers, ledger, outfalls, deliveries, ratios, OGC ...).
    assert len(answers) > 60
    untyped = []
    for method, path, status, schema in answers:
        ref = schema.get("$ref") or schema.get("items", {}).get("$ref", "")
        if not ref.startswith(REF) or ref.removeprefix(REF) not in components:
            untyped.append(f"{method.upper()} {path} {status}: {schema}")
    assert not untyped, "2xx JSON responses without a named schema:\n" + "\n".join(untyped)


def test_downloads_are_declared_as_files_not_json() -> None:
    """Workbooks, Word documents, photos and tiles are declared in their own media type, never as JSON."""
    document = create_app().openapi()
    office = "application/vnd.openxmlformats-officedocument"
    downloads = {
        "/api/v1/chiefs/export.xlsx": f"{office}.spreadsheetml.sheet",
        "/api/v1/signboards/{board_id}/board.docx": f"{office}.wordprocessingml.document",
        "/api/v1/problems/{problem_id}/attachments/{attachment_id}": "image/jpeg",
        "/ogc/collections/{collection_id}/tiles/{tms_id}/{z}/{y}/{x}": "application/vnd.mapbox-vector-tile",
    }
    for path, media_type in downloads.items():
        content = document["paths"][path]["get"]["responses"]["200"]["content"]
        assert media_type in content and "application/json" not in content, path


def _declared_models() -> dict[tuple[str, str], Any]:
    """Return each GET route's declared response model, by (method, path template)."""
    return {
        ("GET", route.path_format): route.response_model
        for router in ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute) and "GET" in route.methods and route.response_model is not None
    }


def test_real_answers_match_the_declared_models(demo_client: TestClient, demo_tokens: dict[str, str]) -> None:
    """The main routes' answers on the demo data validate against their models, and the models keep every field."""
    declared = _declared_models()
    failures = []
    for url, template in ANSWERS:
        model = declared.get(("GET", template))
        assert model is not None, f"{template} declares no response model"
        response = demo_client.get(url, headers={**bearer(demo_tokens["admin"]), "Accept": "application/json"})
        assert response.status_code == 200, (url, response.status_code, response.text[:300])
        payload = response.json()
        try:
            adapter: TypeAdapter[BaseModel] = TypeAdapter(model)
            parsed = adapter.validate_python(payload)
        except ValueError as exc:
            failures.append(f"{url}: {exc}")
            continue
        # Round trip: the model neither drops nor adds a field a client reads.
        again = adapter.dump_python(parsed, mode="json", by_alias=True, exclude_unset=True)
        if again != payload:
            failures.append(f"{url}: the model changes the answer")
    assert not failures, "\n".join(failures)


def test_a_write_answer_is_served_through_its_model(client: TestClient, tokens: dict[str, str]) -> None:
    """A new problem's answer (validated by FastAPI through ``Problem``) carries the fields the model names."""
    from gis_service.api.schemas.problems import Problem

    body = {"category": "dumping", "lon": 106.9, "lat": 28.9, "description": "河岸堆放垃圾"}
    response = client.post("/api/v1/problems", json=body, headers=bearer(tokens["surveyor"]))
    assert response.status_code == 201, response.text
    payload = response.json()
    problem = Problem.model_validate(payload)
    assert problem.status == "reported" and problem.category == "dumping"
    assert {name for name, field in Problem.model_fields.items() if field.is_required()} <= set(payload)


def test_an_upload_answers_its_report_model(
    river: Engine, client: TestClient, tokens: dict[str, str], tmp_path: Path
) -> None:
    """An upload (201), its dry run (200) and the comparison of two versions validate against their models."""
    from gis_service.api.schemas.deliveries import ImportReport, RangeDiff

    first = upload(client, tokens["surveyor"], range_file(tmp_path, 0, "v1"))
    assert first.status_code == 201, first.text
    report = ImportReport.model_validate(first.json())
    assert report.accepted and report.stored == 1 and report.layer == "boundaries"
    assert ImportReport.model_validate(first.json()).model_dump(mode="json", exclude_unset=True) == first.json()
    trial = upload(client, tokens["surveyor"], range_file(tmp_path, 10, "v2"), dry_run="true")
    assert trial.status_code == 200 and ImportReport.model_validate(trial.json()).dry_run
    second = upload(client, tokens["surveyor"], range_file(tmp_path, 10, "v2"))
    ids = {"from": first.json()["deliveries"][0]["id"], "to": second.json()["deliveries"][0]["id"]}
    diff = client.get("/api/v1/deliveries/diff", params=ids, headers=bearer(tokens["viewer"]))
    assert diff.status_code == 200, diff.text
    # The second range is the first moved 10 m east (``range_file``): the largest shift is 10 m.
    assert RangeDiff.model_validate(diff.json()).max_shift_m == pytest.approx(10, rel=1e-3)
    assert RangeDiff.model_validate(diff.json()).model_dump(mode="json", by_alias=True) == diff.json()
