"""A preview map for any delivery, rejected ones included: ``POST …/{layer}/preview`` and ``import --preview``.

The surveyor whose file failed is the one who most needs the map; the page marks every finding of the
report where it is, and nothing of the delivery is stored, whatever the outcome.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from gis_service.db.models import AuditEntry, Boundary, Delivery, Outfall, Problem, River, Stake, Zone
from gis_service.settings import Settings
from gis_service.webmap.base import MapSetup
from tests.helpers import bearer, clear_caches
from tests.test_import_fixtures import X0, Y0, cli, river_frame, run, shapefile_zip, square, write

XSS = "<script>alert(1)</script>"
XSS_NAME = "<img src=x onerror=alert(1)>.gpkg"  # no "/" in it: a file name keeps it whole


@pytest.fixture
def river(engine: Engine, tmp_path: Path) -> Engine:
    """The empty database with river R1 flowing east through the test square."""
    exit_code, body = cli("import", "rivers", str(write(river_frame(), tmp_path / "river.gpkg")))
    assert exit_code == 0, body
    return engine


def stored(engine: Engine) -> dict[str, int]:
    """Count every row a delivery (or its audit) could have written."""
    with engine.connect() as conn:
        return {
            m.__tablename__: conn.execute(select(func.count()).select_from(m)).scalar_one()
            for m in (River, Delivery, Boundary, Zone, Stake, Outfall, Problem, AuditEntry)
        }


def bank_lines(tmp_path: Path, *, wrong_side: bool, surveyor: str = "测绘院") -> Path:
    """Two range lines of R1 (EPSG:4545), the north one 100 m north of the south one.

    R1 flows east, so the north line is the left bank; ``wrong_side`` labels them the other way round.
    """
    north = shapely.LineString([(X0, Y0 + 100), (X0 + 100, Y0 + 100)])
    south = shapely.LineString([(X0, Y0), (X0 + 100, Y0)])
    banks = ["右岸", "左岸"] if wrong_side else ["左岸", "右岸"]
    frame = gpd.GeoDataFrame(
        {"HLBM": ["R1", "R1"], "AB": banks, "CHDW": [surveyor, "测绘院"]}, geometry=[north, south], crs=4545
    )
    return write(frame, tmp_path / ("wrong.gpkg" if wrong_side else "right.gpkg"))


def range_zip(tmp_path: Path) -> Path:
    """A clean range polygon of R1 as a zipped Shapefile (EPSG:4545)."""
    frame = gpd.GeoDataFrame({"HLBM": ["R1"], "CHDW": ["测绘院"]}, geometry=[square()], crs=4545)
    return shapefile_zip(frame, tmp_path / "range", "boundaries")


def post(
    client: TestClient,
    token: str | None,
    path: Path,
    *,
    layer: str = "boundaries",
    name: str | None = None,
    route: str = "preview",
    **form: str,
) -> Any:
    """POST a delivery file to ``/api/v1/deliveries/{layer}/preview`` (or to the upload route with ``route=""``)."""
    url = f"/api/v1/deliveries/{layer}" + (f"/{route}" if route else "")
    with path.open("rb") as fh:
        return client.post(
            url,
            headers=bearer(token) if token else {},
            files={"file": (name or path.name, fh, "application/octet-stream")},
            data=form,
        )


def located(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the report's findings that have a place."""
    return [f for f in report["findings"] if "lon" in f and "lat" in f]


def assert_marks(page: str, findings: list[dict[str, Any]]) -> None:
    """Each finding's marker is on the page: its code and its place as the popup writes it (6 decimals)."""
    assert findings
    for f in findings:
        assert f["code"] in page
        assert f"{f['lon']:.6f}, {f['lat']:.6f}" in page


def outside_urls(html: str) -> set[str]:
    """Return every http(s) URL in a page that points outside the service."""
    return {
        u for u in re.findall(r"https?://[^\s\"'<>)]+", html) if not re.match(r"https?://(127\.0\.0\.1|localhost)", u)
    }


# ---------------------------------------------------------------- HTTP


def test_http_preview_of_a_rejected_delivery_marks_its_findings_and_stores_nothing(
    river: Engine, client: TestClient, tokens: dict[str, str], tmp_path: Path
) -> None:
    wrong = bank_lines(tmp_path, wrong_side=True)
    # What the upload route reports for the same file (a dry run: 422, the report in details).
    checked = post(client, tokens["surveyor"], wrong, route="", dry_run="true")
    assert checked.status_code == 422 and checked.json()["error"]["code"] == "bank_wrong_side"
    report = checked.json()["error"]["details"]
    before = stored(river)

    page = post(client, tokens["surveyor"], wrong)
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    # Both lines are labelled on the wrong side: two errors, each marked where the report puts it.
    assert report["counts"]["error"] == 2
    assert "未通过检查：2 个错误" in page.text and "<title>wrong.gpkg 河道管理范围成果预览" in page.text
    assert_marks(page.text, located(report))
    assert re.search(r'data-count="severity:feature">2<', page.text)
    assert re.search(r'data-count="severity:error">2<', page.text)
    assert outside_urls(page.text) == set()
    assert stored(river) == before


def test_http_preview_of_an_accepted_delivery_stores_nothing(
    river: Engine, client: TestClient, tokens: dict[str, str], tmp_path: Path
) -> None:
    before = stored(river)
    page = post(client, tokens["surveyor"], range_zip(tmp_path))
    assert page.status_code == 200, page.text
    assert "成果预览（通过检查" in page.text and "未通过检查" not in page.text
    assert re.search(r'data-count="severity:feature">1<', page.text)
    # The form's dry_run/approve are not the preview's business: still nothing stored, even asked by an admin.
    again = post(client, tokens["admin"], range_zip(tmp_path), approve="true", dry_run="false")
    assert again.status_code == 200
    assert stored(river) == before


def test_http_preview_of_a_delivery_outside_the_district(
    river: Engine, client: TestClient, tokens: dict[str, str], tmp_path: Path
) -> None:
    # Beijing, not Wansheng: rejected at once, before normalising; the map shows where the file really lies,
    # and the finding, which has no place of its own, is listed in a panel instead of a marker.
    beijing = gpd.GeoDataFrame({"HLBM": ["R1"]}, geometry=[shapely.box(116.39, 39.90, 116.40, 39.91)], crs=4490)
    before = stored(river)
    page = post(client, tokens["surveyor"], write(beijing, tmp_path / "beijing.gpkg"))
    assert page.status_code == 200, page.text
    assert "未通过检查：1 个错误" in page.text
    panel = re.search(r'<div id="rg-unplaced".*?</table></div></div>', page.text, re.S)
    assert panel and "outside_district" in panel.group(0) and "地图上无法标注位置的问题（1）" in panel.group(0)
    assert re.search(r'data-count="severity:feature">1<', page.text)
    assert stored(river) == before


def test_http_preview_needs_a_surveyor_and_a_readable_file(
    river: Engine, client: TestClient, tokens: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = range_zip(tmp_path)
    before = stored(river)
    assert post(client, None, good).status_code == 401
    denied = post(client, tokens["viewer"], good)
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "insufficient_role"

    missing = client.post(
        "/api/v1/deliveries/boundaries/preview", headers=bearer(tokens["surveyor"]), data={"crs": "4545"}
    )
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "missing_file"

    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"PK\x03\x04 not really a zip")
    broken = post(client, tokens["surveyor"], junk)
    assert 400 <= broken.status_code < 500 and broken.json()["error"]["code"]

    no_prj = shapefile_zip(river_frame("R1"), tmp_path / "noprj", "boundaries", drop=(".prj",))
    no_crs = post(client, tokens["surveyor"], no_prj)
    assert no_crs.status_code == 400 and no_crs.json()["error"]["code"] == "missing_crs"

    unknown = post(client, tokens["surveyor"], good, layer="towns")
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "unknown_layer"

    monkeypatch.setenv("RIVERGIS_MAX_UPLOAD_MB", "0.01")  # 10 KB: the upload route's limit applies too
    clear_caches()
    big = client.post(
        "/api/v1/deliveries/boundaries/preview",
        headers=bearer(tokens["surveyor"]),
        files={"file": ("big.zip", io.BytesIO(b"x" * 50_000), "application/zip")},
    )
    # The edge refuses the body while it streams, before the route reads it (api/limits.py).
    assert big.status_code == 413 and big.json()["error"]["code"] == "upload_too_large"
    assert stored(river) == before


def test_http_preview_escapes_every_file_supplied_text(
    river: Engine, client: TestClient, tokens: dict[str, str], tmp_path: Path
) -> None:
    wrong = bank_lines(tmp_path, wrong_side=True, surveyor=XSS)
    page = post(client, tokens["surveyor"], wrong, name=XSS_NAME)
    assert page.status_code == 200, page.text
    assert XSS not in page.text and "<img src=x" not in page.text
    assert "\\u0026lt;script\\u0026gt;alert(1)" in page.text  # the popup's escaped text, carried as JSON
    assert "<title>&lt;img src=x onerror=alert(1)&gt;.gpkg" in page.text  # the file name in the title
    assert "markup_in_text" in page.text  # and the check said so


# ---------------------------------------------------------------- CLI


def test_cli_preview_of_a_rejected_delivery_is_written_and_nothing_stored(river: Engine, tmp_path: Path) -> None:
    wrong = bank_lines(tmp_path, wrong_side=True)
    out = tmp_path / "预览.html"
    before = stored(river)
    exit_code, body = cli("import", "boundaries", str(wrong), "--preview", str(out))
    assert exit_code == 2, body
    assert body["error"]["code"] == "bank_wrong_side"
    report = body["error"]["details"]
    assert report["dry_run"] is False  # reported as asked (an import), though the check ran as a dry run
    page = out.read_text(encoding="utf-8")
    assert "未通过检查：2 个错误" in page
    assert_marks(page, located(report))
    # One file that opens from a USB stick: scripts and styles inlined, nothing fetched from anywhere.
    assert not re.search(r"<script[^>]+src=", page) and not re.search(r"<link[^>]+stylesheet", page)
    assert "L.tileLayer(" not in page  # no basemap: no tiles asked of any server
    assert stored(river) == before

    human = run("import", "boundaries", str(wrong), "--preview", str(out))
    assert human.exit_code == 2
    assert "已写出成果预览地图" in human.stdout and "bank_wrong_side" in human.stdout
    assert stored(river) == before


def test_cli_preview_of_an_accepted_delivery_then_stores_it(river: Engine, tmp_path: Path) -> None:
    right = bank_lines(tmp_path, wrong_side=False)
    out = tmp_path / "preview.html"
    exit_code, body = cli("import", "boundaries", str(right), "--dry-run", "--preview", str(out))
    assert exit_code == 0, body
    assert body["dry_run"] is True and body["stored"] == 0
    assert "成果预览（通过检查" in out.read_text(encoding="utf-8")
    assert stored(river)["deliveries"] == 0

    out.unlink()
    exit_code, body = cli("import", "boundaries", str(right), "--preview", str(out))
    assert exit_code == 0, body
    assert body["stored"] == 2 and body["deliveries"][0]["version"] == 1
    assert re.search(r'data-count="severity:feature">2<', out.read_text(encoding="utf-8"))
    counts = stored(river)
    assert (counts["deliveries"], counts["boundaries"]) == (1, 2)


def test_cli_preview_refuses_a_path_it_cannot_write_before_any_work(river: Engine, tmp_path: Path) -> None:
    wrong = bank_lines(tmp_path, wrong_side=True)
    exit_code, body = cli("import", "boundaries", str(wrong), "--preview", str(tmp_path / "out.txt"))
    assert exit_code == 2 and body["error"]["code"] == "bad_output_suffix"
    exit_code, body = cli("import", "boundaries", str(wrong), "--preview", str(tmp_path / "nope" / "out.html"))
    assert exit_code == 2 and body["error"]["code"] == "output_dir_missing"
    assert not (tmp_path / "nope").exists()


def test_a_very_large_delivery_is_previewed_with_its_flagged_features_and_a_sample(monkeypatch) -> None:
    """Past the drawing limit the page keeps every feature a finding names, samples the rest, and says so."""
    from shapely.geometry import LineString

    from gis_service.webmap import preview

    monkeypatch.setattr(preview, "MAX_PREVIEW_FEATURES", 5)
    lines = [LineString([(106.80 + i * 0.001, 28.90), (106.80 + i * 0.001, 28.901)]) for i in range(12)]
    features = gpd.GeoDataFrame({"code": [f"Z{i + 1:02d}" for i in range(12)]}, geometry=lines, crs="EPSG:4490")
    findings = [
        {
            "severity": "error",
            "code": "bank_wrong_side",
            "feature": 11,
            "message": "岸别错误",
            "lon": 106.81,
            "lat": 28.9005,
        }
    ]
    shown, numbers = preview.shown_features(features, findings)
    assert len(shown) == 5 and 11 in numbers.tolist()
    assert shown["code"].tolist() == [f"Z{n:02d}" for n in numbers]
    page = preview.delivery_preview_html(features, findings, MapSetup.of(Settings()), title="大交付", basemap="none")
    # The layer switcher names the sample (Folium writes its names \u-escaped); the legend keeps the total.
    assert json.dumps("交付要素（12，显示其中 5 个）")[1:-1] in page
    assert "交付要素（抽样显示）</span>" in page and 'data-count="severity:feature">12<' in page
    assert page.count("Z11") == 1  # its popup: the flagged feature is drawn
    small, small_numbers = preview.shown_features(features.iloc[:5], findings)
    assert len(small) == 5 and small_numbers.tolist() == [1, 2, 3, 4, 5]
