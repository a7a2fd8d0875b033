"""The ratio page on both backends: verdicts with the metres each bank lacks, filters, downloads under the session."""

from __future__ import annotations

import io
import re

import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine

from gis_service.settings import get_settings
from tests.web_helpers import make_users
from tests.web_pages_helpers import XSS, as_role, assert_escaped


@pytest.fixture
def users(demo_engine: Engine) -> Engine:
    """The demo database with one account of each role."""
    make_users(demo_engine)
    return demo_engine


def _cards(html: str) -> dict[str, str]:
    """Return each river card's HTML by river code."""
    parts = re.split(r'(?=<div class="card" data-river=")', html)
    return {re.search(r'data-river="([^"]+)"', p).group(1): p for p in parts[1:]}  # type: ignore[union-attr]


def test_verdicts_name_the_bank_short_by_how_many_metres(demo_client, users) -> None:
    as_role(demo_client, "viewer")
    page = demo_client.get("/ratios")
    assert page.status_code == 200
    body = demo_client.get("/api/v1/ratios").json()
    cards = _cards(page.text)
    assert set(cards) == {r["code"] for r in body["rivers"]}
    for river in body["rivers"]:
        card = cards[river["code"]]
        verdict = "达标" if river["compliant"] else "不达标"
        assert f'rg-verdict">{verdict}<' in card
        assert f'href="/maps/rivers/{river["code"]}"' in card
        for bank, b in river["banks"].items():
            # Short of the threshold: threshold × bank length − (protected + reserved), from the API's figures.
            short = max(0.0, 0.5 * b["length_m"] - b["zones_m"]["protected"] - b["zones_m"]["reserved"])
            shown = re.search(rf'data-bank="{bank}">.*?data-short="(\d+)"', card, re.S)
            assert shown and abs(int(shown.group(1)) - short) <= 1, (river["code"], bank)
    # The demo's 藻渡河 (WS002) is at 42.0 %: both banks lack shoreline, named with their metres.
    ws002 = cards["WS002"]
    assert re.search(r"<li>左岸保护区\+保留区占比 42\.\d%，尚差 [\d,]+ m 达到 50%</li>", ws002)
    # 清溪河 (WS003) passes the share but has a gap on its left bank; 养生河 (WS005) an overlap on its right bank.
    assert re.search(
        r"<li>左岸 K\d+\+\d+–K\d+\+\d+ 空缺 300 m，功能区之间（WS003-L08 与 WS003-L09 之间）</li>", cards["WS003"]
    )
    assert re.search(r"<li>右岸 .*WS005-R07（岸线保护区）与 WS005-R06（岸线保留区）重叠 197 m</li>", cards["WS005"])


def test_filters_by_town_and_important_rivers(demo_client, users) -> None:
    as_role(demo_client, "viewer")
    # The demo's rivers through 南桐镇 (所在镇街 of rivers.shp): 孝子河 WS001, 藻渡河 WS002, 养生河 WS005.
    town = demo_client.get("/ratios", params={"town": "南桐镇"})
    assert set(_cards(town.text)) == {"WS001", "WS002", "WS005"}
    important = demo_client.get("/ratios", params={"important": "1"})
    assert set(_cards(important.text)) == {"WS001", "WS002", "WS003", "WS005"}
    assert 'href="/ratios/export.xlsx?important_only=true"' in important.text
    hostile = demo_client.get("/ratios", params={"town": XSS})
    assert hostile.status_code == 200 and _cards(hostile.text) == {}
    assert_escaped(hostile.text)


def test_downloads_work_for_a_logged_in_user_when_reading_is_not_public(demo_client, users, monkeypatch) -> None:
    monkeypatch.setenv("RIVERGIS_PUBLIC_READ", "false")
    get_settings.cache_clear()
    demo_client.cookies.clear()
    assert demo_client.get("/ratios", follow_redirects=False).headers["location"] == "/login?next=/ratios"
    assert demo_client.get("/ratios/export.xlsx", follow_redirects=False).status_code == 303
    assert demo_client.get("/api/v1/ratios/export.xlsx").status_code == 401

    as_role(demo_client, "viewer")
    page = demo_client.get("/ratios")
    for label in ("下载 Excel", "下载 CSV", "下载 GeoJSON"):
        assert f">{label}</a>" in page.text
    xlsx = demo_client.get("/ratios/export.xlsx")
    assert xlsx.status_code == 200 and "attachment" in xlsx.headers["content-disposition"]
    book = load_workbook(io.BytesIO(xlsx.content), read_only=True)
    assert {"岸线功能区汇总表", "镇街统计", "合规检查"} <= set(book.sheetnames)
    checked = [row for row in book["合规检查"].iter_rows(values_only=True) if row and row[1] == "WS002"]
    assert checked and "不达标" in checked[0]
    csv = demo_client.get("/ratios/export.csv")
    assert csv.status_code == 200 and csv.content.startswith(b"\xef\xbb\xbf") and b"WS002" in csv.content
    geo = demo_client.get("/ratios/export.geojson")
    assert geo.status_code == 200 and geo.json()["type"] == "FeatureCollection"


@pytest.mark.parametrize("path", ["/ratios", "/problems", "/outfalls"])
def test_read_pages_need_a_login_only_when_reading_is_not_public(client, engine, monkeypatch, path) -> None:
    make_users(engine)
    # Public reading (the default): anyone reads, even an empty database.
    page = client.get(path)
    assert page.status_code == 200 and "没有符合条件的" in page.text
    monkeypatch.setenv("RIVERGIS_PUBLIC_READ", "false")
    get_settings.cache_clear()
    assert client.get(path, follow_redirects=False).headers["location"] == f"/login?next={path}"
    as_role(client, "viewer")
    assert client.get(path).status_code == 200
