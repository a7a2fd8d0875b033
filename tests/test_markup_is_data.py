"""Text is data: markup in a delivery or a report is stored verbatim, warned of, and only ever shown escaped."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from gis_service.db.models import Problem, River, Zone
from gis_service.web.templating import environment
from tests.helpers import bearer
from tests.test_import_fixtures import X0, Y0, cli, river_frame, run, write

SCRIPT = "<script>alert(1)</script>"
BREAKOUT = '"><img src=x onerror=alert(1)>'
LINK = "javascript:alert(1)"


def raw_markup(page: str) -> list[str]:
    """Return the pieces of user markup that appear unescaped in ``page`` (any of them is a hole)."""
    found = [s for s in (SCRIPT, "<img src=x", "onerror=alert(1)>") if s in page]
    found += re.findall(r"""href\s*=\s*["']?\s*javascript:""", page, flags=re.IGNORECASE)
    return found


def markup_warnings(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the report's markup findings."""
    return [f for f in report["findings"] if f["code"] == "markup_in_text"]


def test_markup_in_a_delivery_is_stored_verbatim_with_a_warning(engine: Engine, tmp_path: Path) -> None:
    exit_code, report = cli("import", "rivers", str(write(river_frame(name=SCRIPT), tmp_path / "r.gpkg")))
    assert exit_code == 0, report
    (warning,) = markup_warnings(report)
    assert warning["severity"] == "warning" and warning["field"] == "name" and warning["feature"] == 1
    assert warning["value"] == SCRIPT
    assert report["counts"].get("error", 0) == 0
    with engine.connect() as conn:
        assert conn.scalar(select(River.name)) == SCRIPT  # verbatim, not stripped nor entity-encoded


def test_markup_reaches_the_river_map_and_layer_data_only_escaped(
    engine: Engine, client: TestClient, tokens: dict[str, str], tmp_path: Path
) -> None:
    assert cli("import", "rivers", str(write(river_frame(name=SCRIPT), tmp_path / "r.gpkg")))[0] == 0
    # Two zone stretches of R1 (left bank, 40 m each), their basis texts hostile.
    zones = gpd.GeoDataFrame(
        {"HLBM": ["R1", "R1"], "AB": ["左岸", "左岸"], "GNQLX": ["保护区", "保留区"], "HFYJ": [BREAKOUT, LINK]},
        geometry=[
            shapely.LineString([(X0 + 10, Y0 + 60), (X0 + 50, Y0 + 60)]),
            shapely.LineString([(X0 + 50, Y0 + 60), (X0 + 90, Y0 + 60)]),
        ],
        crs=4545,
    )
    exit_code, report = cli("import", "zones", str(write(zones, tmp_path / "z.gpkg")), "--approve")
    assert exit_code == 0, report
    assert sorted(w["feature"] for w in markup_warnings(report)) == [1, 2]
    with engine.connect() as conn:
        assert sorted(conn.scalars(select(Zone.basis))) == sorted([BREAKOUT, LINK])

    page = client.get("/maps/rivers/R1")
    assert page.status_code == 200, page.text
    assert raw_markup(page.text) == []
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text  # the river's name, in the title
    for layer in ("rivers", "zones"):
        data = client.get(f"/maps/data/layers/{layer}", params={"river": "R1"})
        assert data.status_code == 200
        popups = " ".join(f["properties"]["_p"] for f in data.json()["features"])
        assert raw_markup(popups) == []
        expected = "&lt;script&gt;" if layer == "rivers" else "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;"
        assert expected in popups, popups


def test_markup_in_a_reported_problem_is_kept_and_never_live_html(
    engine: Engine, client: TestClient, tokens: dict[str, str], tmp_path: Path
) -> None:
    body = {"lon": 106.9, "lat": 28.9, "category": "dumping", "description": BREAKOUT + LINK, "note": SCRIPT}
    created = client.post("/api/v1/problems", json=body, headers=bearer(tokens["surveyor"]))
    assert created.status_code == 201, created.text
    pid = created.json()["id"]
    with engine.connect() as conn:
        assert conn.scalar(select(Problem.description).where(Problem.id == pid)) == BREAKOUT + LINK
    # The popup record is JSON the page shows through textContent: raw values, served as JSON only.
    record = client.get(f"/maps/data/problems/{pid}")
    assert record.headers["content-type"].startswith("application/json")
    assert record.json()["description"] == BREAKOUT + LINK
    page = client.get("/maps/problems")
    assert page.status_code == 200 and raw_markup(page.text) == []
    # The standalone page carries every popup field in the page itself.
    out = tmp_path / "问题点.html"
    assert run("map", "problems", "-o", str(out)).exit_code == 0
    standalone = out.read_text(encoding="utf-8")
    assert raw_markup(standalone) == []
    assert "\\u003cimg src=x onerror=alert(1)\\u003e" in standalone  # the description, as a JS string


def test_markup_in_a_previewed_delivery_is_escaped(
    engine: Engine, client: TestClient, tokens: dict[str, str], tmp_path: Path
) -> None:
    frame = river_frame(name=BREAKOUT)
    frame["HZ"] = LINK
    with write(frame, tmp_path / "r.gpkg").open("rb") as fh:
        page = client.post(
            "/api/v1/deliveries/rivers/preview",
            headers=bearer(tokens["surveyor"]),
            files={"file": (SCRIPT + ".gpkg", fh, "application/octet-stream")},
        )
    assert page.status_code == 200, page.text
    assert raw_markup(page.text) == []
    assert "markup_in_text" in page.text  # the warning is marked on the map


def test_json_a_page_embeds_is_strict_and_cannot_close_its_script() -> None:
    """``tojson`` in a page: markup escaped inside the JSON, NaN and infinities as null, numpy values as numbers."""
    page = environment().from_string('<script type="application/json" id="d">{{ data|tojson }}</script>')
    data = {"name": SCRIPT, "mean": float("nan"), "far": math.inf, "count": np.int64(3), "share": np.float64(0.5)}
    html = page.render(data=data)
    assert html.count("</script>") == 1 and SCRIPT not in html
    embedded = html.split('id="d">', 1)[1].rsplit("</script>", 1)[0]

    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} in a page's JSON")

    assert json.loads(embedded, parse_constant=refuse) == {
        "name": SCRIPT,
        "mean": None,
        "far": None,
        "count": 3,
        "share": 0.5,
    }
    assert json.loads(page.render(data={"big": 2**70}).split('id="d">', 1)[1].rsplit("</script>", 1)[0]) == {
        "big": 2**70
    }
