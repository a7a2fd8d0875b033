"""The deliveries pages on both backends: upload with its report, the queue, review with diff, approve and 退回."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from gis_service.db.models import AuditEntry, Delivery
from tests.test_import_fixtures import cli, river_frame, shapefile_zip, square, write
from tests.test_import_versions import range_file
from tests.web_helpers import csrf_of, login, make_users


@pytest.fixture
def river(engine: Engine, tmp_path: Path) -> Engine:
    """The empty database with river R1 (written by GDAL) and an account of each role."""
    exit_code, body = cli("import", "rivers", str(write(river_frame(), tmp_path / "river.gpkg")))
    assert exit_code == 0, body
    make_users(engine)
    return engine


def _as(client: TestClient, role: str) -> None:
    """Log the client in as the account of ``role``."""
    client.cookies.clear()
    assert login(client, role, {"viewer": "kan-kan-2026", "surveyor": "ce-hui-2026", "admin": "guan-li-2026"}[role])
    assert client.cookies.get("rivergis_session")


def _upload(client: TestClient, path: Path, **fields: str):  # noqa: ANN202
    """Submit the upload form like a browser (its CSRF token read from the form page)."""
    token = csrf_of(client.get("/deliveries/new").text)
    data = {"layer": "boundaries", "river": "", "crs": "", "encoding": "", "csrf_token": token, **fields}
    with path.open("rb") as fh:
        return client.post(
            "/deliveries/new", data=data, files={"file": (path.name, fh, "application/zip")}, follow_redirects=False
        )


def _deliveries(engine: Engine) -> dict[int, str]:
    with engine.connect() as conn:
        return dict(conn.execute(select(Delivery.version, Delivery.status).where(Delivery.river_code == "R1")).all())


def test_surveyor_uploads_admin_approves_then_reviews_a_second_version_with_its_diff(client, river, tmp_path) -> None:
    _as(client, "surveyor")
    form = client.get("/deliveries/new")
    assert form.status_code == 200
    for label in ("图层", "河流", "成果文件", "坐标系（可选）", "编码（可选）"):
        assert f">{label}</label>" in form.text
    assert '<option value="boundaries"' in form.text and ">提交</button>" in form.text

    stored = _upload(client, range_file(tmp_path, 0, "v1"))
    assert stored.status_code == 303, stored.text
    first = int(stored.headers["location"].split("/")[2].split("?")[0])
    assert _deliveries(river) == {1: "submitted"}
    page = client.get(stored.headers["location"])
    assert page.status_code == 200 and "待审核" in page.text and "检查报告" in page.text
    assert "批准" not in page.text  # a surveyor cannot decide
    mine = client.get("/deliveries")
    assert f'data-delivery="{first}"' in mine.text

    # A surveyor posting 批准 gets the 403 page naming the role, and nothing changes.
    refused = client.post(f"/deliveries/{first}/approve", data={"csrf_token": csrf_of(page.text)})
    assert refused.status_code == 403 and "管理员" in refused.text and "insufficient_role" in refused.text
    assert _deliveries(river) == {1: "submitted"}

    _as(client, "admin")
    queue = client.get("/deliveries")
    assert 'id="rg-queue"' in queue.text and f'href="/deliveries/{first}"' in queue.text
    review = client.get(f"/deliveries/{first}")
    assert 'id="rg-approve"' in review.text
    approved = client.post(f"/deliveries/{first}/approve", data={"csrf_token": csrf_of(review.text)})
    assert approved.status_code == 200 and 'data-status="approved"' in approved.text
    assert _deliveries(river) == {1: "approved"}

    _as(client, "surveyor")
    second = _upload(client, range_file(tmp_path, 10, "v2"))
    assert second.status_code == 303
    second_id = int(second.headers["location"].split("/")[2].split("?")[0])
    _as(client, "admin")
    review = client.get(f"/deliveries/{second_id}")
    # The square moved 10 m east (see test_import_versions): 1 000 m² added, 1 000 m² removed, a 10 m shift.
    assert 'data-diff="added">1,000' in review.text or 'data-diff="added">999.' in review.text
    assert 'data-diff="removed">1,000' in review.text or 'data-diff="removed">999.' in review.text
    assert 'data-diff="shift">10.00 m' in review.text or 'data-diff="shift">9.99' in review.text
    frame = client.get(f"/deliveries/{second_id}/map")
    assert frame.status_code == 200 and "现行版本（第 1 版）" in frame.text and "本次交付（第 2 版）" in frame.text

    with river.connect() as conn:
        audited = conn.execute(select(AuditEntry.actor, AuditEntry.action).order_by(AuditEntry.id)).all()
    assert ("surveyor", "delivery.import") in audited and ("admin", "delivery.approve") in audited


def test_an_upload_of_several_rivers_opens_on_its_summary_with_each_rivers_report(client, river, tmp_path) -> None:
    exit_code, body = cli("import", "rivers", str(write(river_frame("R2", "第二河", dx=1000), tmp_path / "r2.gpkg")))
    assert exit_code == 0, body
    # Both rivers' ranges in one file, written by GDAL; R2's surveying unit carries markup (a warning, stored as is).
    unit = "<b>测绘院</b>"
    columns = {"HLBM": ["R1", "R2"], "CHDW": ["测绘院", unit]}
    frame = gpd.GeoDataFrame(columns, geometry=[square(), square(1000)], crs=4545)
    both = shapefile_zip(frame, tmp_path / "both", "boundaries")
    _as(client, "surveyor")
    stored = _upload(client, both)
    assert stored.status_code == 303, stored.text
    with river.connect() as conn:
        made = dict(conn.execute(select(Delivery.river_code, Delivery.id).order_by(Delivery.id)).all())
    assert set(made) == {"R1", "R2"}
    assert stored.headers["location"] == f"/deliveries?submitted={min(made.values())}-{max(made.values())}"

    page = client.get(stored.headers["location"])
    assert page.status_code == 200
    summary = page.text.split('id="rg-upload-summary"')[1].split('id="rg-deliveries"')[0]
    assert "boundaries.zip/boundaries.shp" in summary and 'data-upload="rivers">2 条' in summary
    assert 'data-upload="features">2<' in summary
    warnings = {}
    for code, delivery_id in made.items():
        row = summary.split(f'data-delivery="{delivery_id}"')[1].split("</tr>")[0]
        assert f'<a href="/deliveries/{delivery_id}">{code}</a>' in row
        report = client.get(f"/deliveries/{delivery_id}").text
        warnings[code] = report.count('<span class="badge bg-yellow-lt">警告</span>')
        assert f'data-count="warning">{warnings[code]}<' in row
    assert warnings["R2"] > warnings["R1"]  # R2's markup, on its own page
    assert "测绘院" not in summary  # the texts are on each river's page, escaped there

    # The same address shows nothing of it to another account, nor a range of nothing or a malformed one.
    _as(client, "admin")
    assert 'id="rg-upload-summary"' not in client.get(stored.headers["location"]).text
    _as(client, "surveyor")
    for other in ("9000-9001", "abc", "3-", f"{max(made.values())}-{min(made.values())}"):
        page = client.get(f"/deliveries?submitted={other}")
        assert page.status_code == 200 and 'id="rg-upload-summary"' not in page.text


def test_an_older_version_waiting_names_the_newer_and_is_superseded_by_its_approval(client, river, tmp_path) -> None:
    _as(client, "surveyor")
    ids = []
    for dx, name in ((0, "v1"), (10, "v2")):
        stored = _upload(client, range_file(tmp_path, dx, name))
        assert stored.status_code == 303, stored.text
        ids.append(int(stored.headers["location"].split("/")[2].split("?")[0]))
    older, newer = ids
    _as(client, "admin")
    page = client.get(f"/deliveries/{older}")
    assert 'id="rg-newer"' in page.text and f'href="/deliveries/{newer}">第 2 版</a>' in page.text
    assert 'id="rg-newer"' not in client.get(f"/deliveries/{newer}").text
    review = client.get(f"/deliveries/{newer}")
    assert client.post(f"/deliveries/{newer}/approve", data={"csrf_token": csrf_of(review.text)}).status_code == 200
    assert _deliveries(river) == {1: "superseded", 2: "approved"}
    page = client.get(f"/deliveries/{older}")
    assert 'data-status="superseded"' in page.text and 'id="rg-approve"' not in page.text
    assert 'id="rg-newer"' not in page.text
    # Approving it from a page read before the newer one's approval: the 409 page, and nothing changes.
    late = client.post(f"/deliveries/{older}/approve", data={"csrf_token": csrf_of(review.text)})
    assert late.status_code == 409 and "delivery_not_submitted" in late.text
    assert _deliveries(river) == {1: "superseded", 2: "approved"}


def test_the_office_approves_the_versions_it_ticked_at_once_all_or_none(client, river, tmp_path) -> None:
    exit_code, body = cli("import", "rivers", str(write(river_frame("R2", "第二河", dx=1000), tmp_path / "r2.gpkg")))
    assert exit_code == 0, body
    _as(client, "surveyor")
    ids = {}
    for name, river_code, dx in (("r1v1", "R1", 0), ("r1v2", "R1", 10), ("r2v1", "R2", 1000)):
        frame = gpd.GeoDataFrame({"HLBM": [river_code], "CHDW": ["测绘院"]}, geometry=[square(dx)], crs=4545)
        stored = _upload(client, shapefile_zip(frame, tmp_path / name, "boundaries"))
        assert stored.status_code == 303, stored.text
        ids[name] = int(stored.headers["location"].split("/")[2].split("?")[0])

    def statuses() -> dict[int, str]:
        with river.connect() as conn:
            return dict(conn.execute(select(Delivery.id, Delivery.status)).all())

    waiting = statuses()
    assert set(waiting.values()) == {"submitted"}
    # A surveyor cannot, nor a form without its token.
    token = csrf_of(client.get("/deliveries").text)
    refused = client.post("/deliveries/approve", data={"csrf_token": token, "ids": [ids["r1v2"]]})
    assert refused.status_code == 403 and "insufficient_role" in refused.text

    _as(client, "admin")
    queue = client.get("/deliveries")
    form = queue.text.split('id="rg-approve-chosen"')[1].split("</form>")[0]
    # Each river's newest waiting version is marked for 勾选各河流最新版本; R1's first version is not.
    assert f'value="{ids["r1v2"]}" id="rg-choose-{ids["r1v2"]}" data-newest="1"' in form
    assert f'value="{ids["r2v1"]}" id="rg-choose-{ids["r2v1"]}" data-newest="1"' in form
    assert f'value="{ids["r1v1"]}" id="rg-choose-{ids["r1v1"]}">' in form
    token = csrf_of(queue.text)
    assert client.post("/deliveries/approve", data={"ids": [ids["r2v1"]]}).status_code == 403
    for chosen, status, code in (
        ([], 400, "nothing_chosen"),
        (["abc"], 400, "invalid_choice"),
        (["-1"], 400, "invalid_choice"),
        ([str(2**40)], 400, "invalid_choice"),
        ([ids["r1v1"], ids["r1v2"]], 400, "one_version_per_river"),
        ([ids["r2v1"], 999_999], 404, "delivery_not_found"),
    ):
        answer = client.post("/deliveries/approve", data={"csrf_token": token, "ids": chosen})
        assert answer.status_code == status and code in answer.text, (chosen, answer.status_code)
        assert statuses() == waiting

    chosen = {"csrf_token": token, "ids": [ids["r1v2"], ids["r2v1"]]}
    done = client.post("/deliveries/approve", data=chosen, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/deliveries?approved=2"
    assert statuses() == {ids["r1v1"]: "superseded", ids["r1v2"]: "approved", ids["r2v1"]: "approved"}
    page = client.get(done.headers["location"])
    assert 'id="rg-approved"' in page.text and "已批准 2 个版本" in page.text
    assert 'id="rg-approve-chosen"' not in page.text  # nothing waits any more
    with river.connect() as conn:
        audited = conn.execute(
            select(AuditEntry.target_id).where(AuditEntry.action == "delivery.approve", AuditEntry.actor == "admin")
        ).scalars()
        assert sorted(map(int, audited)) == sorted([ids["r1v2"], ids["r2v1"]])

    # A choice read before these approvals: R1's first version is superseded now, so none of it is approved.
    late = client.post("/deliveries/approve", data={"csrf_token": token, "ids": [ids["r1v1"]]})
    assert late.status_code == 409 and "delivery_not_submitted" in late.text
    assert statuses() == {ids["r1v1"]: "superseded", ids["r1v2"]: "approved", ids["r2v1"]: "approved"}


def test_reject_asks_a_reason_the_surveyor_sees_escaped(client, river, tmp_path) -> None:
    _as(client, "surveyor")
    delivery_id = int(_upload(client, range_file(tmp_path, 0, "v1")).headers["location"].split("/")[2].split("?")[0])
    _as(client, "admin")
    token = csrf_of(client.get(f"/deliveries/{delivery_id}").text)
    empty = client.post(f"/deliveries/{delivery_id}/reject", data={"csrf_token": token, "reason": "  "})
    assert empty.status_code == 400 and "退回原因" in empty.text
    assert _deliveries(river) == {1: "submitted"}
    reason = "<script>window.__xss=1</script>东岸界线偏移"
    done = client.post(f"/deliveries/{delivery_id}/reject", data={"csrf_token": token, "reason": reason})
    assert done.status_code == 200 and _deliveries(river) == {1: "rejected"}

    _as(client, "surveyor")
    mine = client.get("/deliveries")
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;东岸界线偏移" in mine.text
    assert "<script>window.__xss" not in mine.text


def test_a_refused_upload_shows_its_report_and_map_and_stores_nothing(client, river, tmp_path) -> None:
    _as(client, "surveyor")
    no_prj = shapefile_zip(river_frame("R1"), tmp_path / "s", "boundaries", drop=(".prj",))
    refused = _upload(client, no_prj)
    assert refused.status_code == 400  # unreadable without a CRS: the form again, with the message and its code
    assert 'id="rg-upload-error"' in refused.text and "<code>missing_crs</code>" in refused.text
    assert _deliveries(river) == {}

    # A line delivered as a range for a river the file does not name: checked, refused with a report and a map.
    wrong_river = range_file(tmp_path, 0, "v1")
    report = _upload(client, wrong_river, river="R9")
    assert report.status_code == 422, report.text[:500]
    assert 'id="rg-findings"' in report.text and 'data-code="river_mismatch"' in report.text
    assert 'class="rg-map-frame"' in report.text and "106.872592, 28.912100" in report.text  # the feature's place
    assert _deliveries(river) == {}


def test_upload_without_the_csrf_token_or_by_a_viewer_is_refused(client, river, tmp_path) -> None:
    _as(client, "viewer")
    page = client.get("/deliveries/new")
    assert page.status_code == 403 and "测绘单位" in page.text
    _as(client, "surveyor")
    path = range_file(tmp_path, 0, "v1")
    with path.open("rb") as fh:
        response = client.post("/deliveries/new", data={"layer": "boundaries"}, files={"file": (path.name, fh)})
    assert response.status_code == 403 and "csrf_failed" in response.text
    assert _deliveries(river) == {}
    client.cookies.clear()
    anonymous = client.get("/deliveries/new", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"] == "/login?next=/deliveries/new"


def test_an_oversized_upload_answers_the_413_page_and_stores_nothing(client, river, tmp_path, monkeypatch) -> None:
    from gis_service.settings import get_settings

    _as(client, "surveyor")
    path = range_file(tmp_path, 0, "v1")
    # A limit below the file's size (under 1 kB): 256 bytes.
    monkeypatch.setenv("RIVERGIS_MAX_UPLOAD_MB", str(1 / 4096))
    get_settings.cache_clear()
    assert path.stat().st_size > 256
    refused = _upload(client, path)
    assert refused.status_code == 413 and "upload_too_large" in refused.text and 'id="rg-main"' in refused.text
    assert _deliveries(river) == {}
