"""Versioned ranges: submit → approve (previous superseded) or reject with reason; diff; HTTP upload and review."""

from __future__ import annotations

import io
from pathlib import Path

import geopandas as gpd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from gis_service.db.models import AuditEntry, Delivery
from tests.helpers import bearer, clear_caches
from tests.test_import_fixtures import cli, river_frame, run, shapefile_zip, square, stored_counts, write


def range_file(tmp_path: Path, dx: float, name: str) -> Path:
    """A range polygon for river R1: the 100 m square shifted ``dx`` m east (EPSG:4545)."""
    frame = gpd.GeoDataFrame({"HLBM": ["R1"], "CHDW": ["测绘院"]}, geometry=[square(dx)], crs=4545)
    return shapefile_zip(frame, tmp_path / name, "boundaries")


@pytest.fixture
def river(engine: Engine, tmp_path: Path) -> Engine:
    """The empty database with river R1 flowing east through the test square."""
    exit_code, body = cli("import", "rivers", str(write(river_frame(), tmp_path / "river.gpkg")))
    assert exit_code == 0, body
    return engine


def test_versions_approve_supersede_and_diff(river: Engine, tmp_path: Path) -> None:
    code, v1 = cli("import", "boundaries", str(range_file(tmp_path, 0, "v1")), "--approve")
    assert code == 0, v1
    assert v1["deliveries"][0]["version"] == 1 and v1["deliveries"][0]["status"] == "approved"
    code, v2 = cli("import", "boundaries", str(range_file(tmp_path, 10, "v2")))
    assert code == 0, v2
    second = v2["deliveries"][0]
    assert (second["version"], second["status"]) == (2, "submitted")

    assert run("deliveries", "approve", str(second["id"])).exit_code == 0
    with river.connect() as conn:
        statuses = dict(
            conn.execute(select(Delivery.version, Delivery.status).where(Delivery.river_code == "R1")).all()
        )
    assert statuses == {1: "superseded", 2: "approved"}

    code, history = cli("deliveries", "list", "--river", "R1")
    assert [d["version"] for d in history["deliveries"]] == [2, 1]

    code, diff = cli("deliveries", "diff", str(v1["deliveries"][0]["id"]), str(second["id"]))
    assert code == 0, diff
    # The square moved 10 m east: a 10 m × 100 m strip added on the east, the same removed on the west.
    # 1 000 m² on the EPSG:4545 grid; ~110 km west of 108°E the grid scale is k ≈ 1 + 110²/(2·6378²) ≈ 1.00015,
    # so on the ground 1 000 / k² ≈ 999.7 m² and the shift 10 / k ≈ 9.9985 m (both within 0.1 %).
    assert diff["area_added_m2"] == pytest.approx(1000, rel=1e-3)
    assert diff["area_removed_m2"] == pytest.approx(1000, rel=1e-3)
    assert diff["area_from_m2"] == pytest.approx(10_000, rel=1e-3)
    assert diff["max_shift_m"] == pytest.approx(10, rel=1e-3)


def test_a_newer_version_approved_supersedes_the_older_ones_still_waiting(river: Engine, tmp_path: Path) -> None:
    def versions() -> dict[int, str]:
        with river.connect() as conn:
            rows = conn.execute(select(Delivery.version, Delivery.status).where(Delivery.river_code == "R1"))
            return dict(rows.all())

    ids = {}
    for version, dx in ((1, 0), (2, 10), (3, 20), (4, 30)):
        code, body = cli("import", "boundaries", str(range_file(tmp_path, dx, f"v{version}")))
        assert code == 0, body
        ids[version] = str(body["deliveries"][0]["id"])
    # Two versions of one river cannot be approved together: refused, nothing changes.
    together = run("deliveries", "approve", ids[3], ids[4])
    assert together.exit_code == 2 and "one_version_per_river" in together.output
    assert set(versions().values()) == {"submitted"}
    # v2 approved while v3 and v4 wait: v1, older and still waiting, can no longer become current.
    assert run("deliveries", "approve", ids[2]).exit_code == 0
    assert versions() == {1: "superseded", 2: "approved", 3: "submitted", 4: "submitted"}
    # v4 approved: v3, a correction the office passed over, is superseded with v2.
    assert run("deliveries", "approve", ids[4]).exit_code == 0
    assert versions() == {1: "superseded", 2: "superseded", 3: "superseded", 4: "approved"}
    # Approving v3 from a list read before would take the river back: refused, and nothing changes.
    refused = run("deliveries", "approve", ids[3])
    assert refused.exit_code == 2 and "delivery_not_submitted" in refused.output
    assert versions() == {1: "superseded", 2: "superseded", 3: "superseded", 4: "approved"}


def test_several_rivers_versions_approved_in_one_command(river: Engine, tmp_path: Path) -> None:
    assert cli("import", "rivers", str(write(river_frame("R2", "第二河", dx=1000), tmp_path / "r2.gpkg")))[0] == 0
    r2 = gpd.GeoDataFrame({"HLBM": ["R2"], "CHDW": ["测绘院"]}, geometry=[square(1000)], crs=4545)
    ids = []
    for path in (range_file(tmp_path, 0, "r1"), shapefile_zip(r2, tmp_path / "r2", "boundaries")):
        code, body = cli("import", "boundaries", str(path))
        assert code == 0, body
        ids.append(str(body["deliveries"][0]["id"]))
    too_many = run("deliveries", "approve", *map(str, range(1, 1002)))
    assert too_many.exit_code == 2 and "too_many_chosen" in too_many.output
    done = run("deliveries", "approve", *ids)
    assert done.exit_code == 0, done.output
    assert all(f"已批准交付 {i}" in done.output for i in ids)
    with river.connect() as conn:
        rows = conn.execute(select(Delivery.river_code, Delivery.status).where(Delivery.layer == "boundaries")).all()
        audited = conn.execute(select(AuditEntry.target_id).where(AuditEntry.action == "delivery.approve")).scalars()
        assert sorted(audited) == sorted(ids)
    assert sorted(rows) == [("R1", "approved"), ("R2", "approved")]


def test_reject_needs_a_reason_and_keeps_the_version(river: Engine, tmp_path: Path) -> None:
    code, body = cli("import", "boundaries", str(range_file(tmp_path, 0, "v1")))
    delivery_id = str(body["deliveries"][0]["id"])
    result = run("deliveries", "reject", delivery_id, "--reason", " ")
    assert result.exit_code == 2
    result = run("deliveries", "reject", delivery_id, "--reason", "右岸范围线缺失")
    assert result.exit_code == 0, result.stdout
    with river.connect() as conn:
        row = conn.execute(select(Delivery.status, Delivery.reason)).one()
    assert tuple(row) == ("rejected", "右岸范围线缺失")
    result = run("deliveries", "approve", delivery_id)
    assert result.exit_code == 2  # a rejected version cannot be approved


def test_bank_lines_on_their_sides(river: Engine, tmp_path: Path) -> None:
    import shapely

    from tests.test_import_fixtures import X0, Y0

    north = shapely.LineString([(X0, Y0 + 100), (X0 + 100, Y0 + 100)])
    south = shapely.LineString([(X0, Y0), (X0 + 100, Y0)])
    # Flowing east, the left bank is the north one.
    good = gpd.GeoDataFrame({"HLBM": ["R1", "R1"], "AB": ["左岸", "右岸"]}, geometry=[north, south], crs=4545)
    code, body = cli("import", "boundaries", str(write(good, tmp_path / "good.gpkg")), "--dry-run")
    assert code == 0, body
    bad = good.assign(AB=["右岸", "左岸"])
    code, body = cli("import", "boundaries", str(write(bad, tmp_path / "bad.gpkg")))
    assert code == 2 and body["error"]["code"] == "bank_wrong_side"


# ---------------------------------------------------------------- HTTP


def upload(client: TestClient, token: str, path: Path, layer: str = "boundaries", **form: str):  # noqa: ANN201
    with path.open("rb") as fh:
        return client.post(
            f"/api/v1/deliveries/{layer}",
            headers=bearer(token),
            files={"file": (path.name, fh, "application/octet-stream")},
            data=form,
        )


def test_http_upload_review_history_diff_preview(
    river: Engine, client: TestClient, tokens: dict[str, str], tmp_path: Path
) -> None:
    v1 = range_file(tmp_path, 0, "v1")
    assert upload(client, tokens["viewer"], v1).status_code == 403
    first = upload(client, tokens["surveyor"], v1)
    assert first.status_code == 201, first.text
    first_id = first.json()["deliveries"][0]["id"]
    assert upload(client, tokens["surveyor"], v1, approve="true").status_code == 403

    assert client.post(f"/api/v1/deliveries/{first_id}/approve", headers=bearer(tokens["surveyor"])).status_code == 403
    ok = client.post(f"/api/v1/deliveries/{first_id}/approve", headers=bearer(tokens["admin"]))
    assert ok.status_code == 200 and ok.json()["status"] == "approved"

    second = upload(client, tokens["surveyor"], range_file(tmp_path, 10, "v2"))
    second_id = second.json()["deliveries"][0]["id"]
    rejected = client.post(
        f"/api/v1/deliveries/{second_id}/reject",
        headers=bearer(tokens["admin"]),
        json={"reason": "<script>x</script> 偏移过大"},
    )
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"

    history = client.get("/api/v1/deliveries/rivers/R1").json()
    assert [(d["version"], d["status"]) for d in history["deliveries"] if d["layer"] == "boundaries"] == [
        (1, "approved"),
        (2, "rejected"),
    ]
    assert history["current"]["boundaries"] == 1

    diff = client.get("/api/v1/deliveries/diff", params={"from": first_id, "to": second_id}).json()
    assert diff["max_shift_m"] == pytest.approx(10, rel=1e-3)  # as in the CLI test above

    one = client.get(f"/api/v1/deliveries/{second_id}").json()
    assert one["report"]["source"]["format"] == "Shapefile"
    page = client.get(f"/api/v1/deliveries/{second_id}/preview")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "<script>x</script>" not in page.text

    with river.connect() as conn:
        actions = set(conn.execute(select(AuditEntry.action)).scalars())
    assert {"delivery.import", "delivery.approve", "delivery.reject"} <= actions


def test_http_approves_several_versions_at_once_all_or_none(
    river: Engine, client: TestClient, tokens: dict[str, str], tmp_path: Path
) -> None:
    assert cli("import", "rivers", str(write(river_frame("R2", "第二河", dx=1000), tmp_path / "r2.gpkg")))[0] == 0
    r2 = gpd.GeoDataFrame({"HLBM": ["R2"], "CHDW": ["测绘院"]}, geometry=[square(1000)], crs=4545)
    files = (range_file(tmp_path, 0, "v1"), range_file(tmp_path, 10, "v2"), shapefile_zip(r2, tmp_path / "r2", "x"))
    ids = [upload(client, tokens["surveyor"], f).json()["deliveries"][0]["id"] for f in files]
    r1v1, r1v2, r2v1 = ids

    def statuses() -> list[str]:
        with river.connect() as conn:
            found = dict(conn.execute(select(Delivery.id, Delivery.status).where(Delivery.id.in_(ids))).all())
        return [found[i] for i in ids]

    def approve(token: str, body: object):  # noqa: ANN202
        return client.post("/api/v1/deliveries/approve", headers=bearer(token), json=body)

    assert approve(tokens["surveyor"], {"ids": [r1v2, r2v1]}).status_code == 403
    for body, status, code in (
        ({"ids": []}, 400, None),
        ({"ids": [0]}, 400, None),
        ({"ids": [r1v1, r1v2]}, 400, "one_version_per_river"),
        ({"ids": [r2v1, 424242]}, 404, "delivery_not_found"),
    ):
        answer = approve(tokens["admin"], body)
        assert answer.status_code == status, (body, answer.text)
        assert code is None or answer.json()["error"]["code"] == code
        assert statuses() == ["submitted"] * 3
    done = approve(tokens["admin"], {"ids": [r2v1, r1v2]})
    assert done.status_code == 200, done.text
    assert [(d["id"], d["status"]) for d in done.json()["deliveries"]] == [(r1v2, "approved"), (r2v1, "approved")]
    assert statuses() == ["superseded", "approved", "approved"]
    late = approve(tokens["admin"], {"ids": [r1v1]})
    assert late.status_code == 409 and late.json()["error"]["code"] == "delivery_not_submitted"
    assert statuses() == ["superseded", "approved", "approved"]


def test_http_rejected_upload_stores_nothing(
    river: Engine, client: TestClient, tokens: dict[str, str], tmp_path: Path
) -> None:
    archive = shapefile_zip(river_frame("R2"), tmp_path / "s", "boundaries", drop=(".prj",))
    before = stored_counts(river)
    response = upload(client, tokens["surveyor"], archive)
    assert response.status_code == 400 and response.json()["error"]["code"] == "missing_crs"
    assert stored_counts(river) == before


def test_http_oversized_upload_is_413(
    client: TestClient, tokens: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RIVERGIS_MAX_UPLOAD_MB", "0.01")  # 10 KB
    clear_caches()
    big = io.BytesIO(b"x" * 50_000)
    response = client.post(
        "/api/v1/deliveries/rivers",
        headers=bearer(tokens["surveyor"]),
        files={"file": ("big.zip", big, "application/zip")},
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "upload_too_large"


def test_http_dry_run_returns_report_only(
    engine: Engine, client: TestClient, tokens: dict[str, str], tmp_path: Path
) -> None:
    response = upload(
        client, tokens["surveyor"], write(river_frame(), tmp_path / "r.gpkg"), layer="rivers", dry_run="true"
    )
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] is True and response.json()["stored"] == 0
    assert stored_counts(engine)["rivers"] == 0
