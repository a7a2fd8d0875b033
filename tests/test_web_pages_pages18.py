"""The water quality pages on both backends: roles, the period selector, CSRF, escaping and a real upload."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from docx import Document
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import Engine, func, select

from gis_service.db.models_quality import Sample
from tests.test_quality import SECTIONS, geojson, point, run, square, xlsx
from tests.test_quality_tasks import HEADER, JULY, TASKS
from tests.web_helpers import csrf_of, make_users
from tests.web_pages_helpers import XSS, as_role, assert_escaped, attribute

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def quality_db(demo_without_quality: Engine, demo_engine: Engine, tmp_path: Path) -> Engine:
    """The demo district with the four test sections (imported with the CLI) and one account of each role."""
    result = run("import", "sections", str(xlsx(tmp_path / "断面.xlsx", SECTIONS)))
    assert result.exit_code == 0, result.output
    make_users(demo_engine)
    return demo_engine


def _samples(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(Sample)) or 0)


def _post_file(client: TestClient, url: str, token: str, path: Path) -> object:
    with path.open("rb") as fh:
        return client.post(url, data={"csrf_token": token}, files={"file": (path.name, fh, XLSX)})


def test_quality_page_classes_and_surveyor_upload(demo_client: TestClient, quality_db: Engine, tmp_path: Path) -> None:
    c = demo_client
    as_role(c, "viewer")
    page = c.get("/quality")
    assert page.status_code == 200 and 'id="rg-sections"' in page.text
    assert 'id="rg-samples-upload"' not in page.text  # viewers do not upload
    samples = xlsx(tmp_path / "m.xlsx", [["断面编码", "采样日期", "溶解氧", "氨氮"], ["S1", "2024-06-03", 6.5, 1.2]])
    refused = _post_file(c, "/quality/samples", csrf_of(page.text), samples)
    assert refused.status_code == 403 and "测绘单位" in refused.text  # type: ignore[attr-defined]
    assert _samples(quality_db) == 0

    as_role(c, "surveyor")
    page = c.get("/quality")
    assert 'id="rg-samples-upload"' in page.text
    no_csrf = _post_file(c, "/quality/samples", "wrong", samples)
    assert no_csrf.status_code == 403 and _samples(quality_db) == 0  # type: ignore[attr-defined]
    done = _post_file(c, "/quality/samples", csrf_of(page.text), samples)
    assert done.status_code == 200 and "已导入 1 条监测数据" in done.text  # type: ignore[attr-defined]
    assert _samples(quality_db) == 1
    # DO 6.5 → II, 氨氮 1.2 → IV (GB 3838-2002 by hand): the section is Ⅳ类 against its Ⅲ类 target, set by 氨氮.
    june = c.get("/quality", params={"year": "2024", "month": "6"}).text
    assert 'data-period="2024-06"' in june
    row = june.split('data-section="S1"', 1)[1].split("</tr>", 1)[0]
    assert 'data-class="IV"' in row and "Ⅳ类" in row and "不达标" in row and "氨氮" in row
    assert "bg-yellow-lt" in row
    may = c.get("/quality", params={"year": "2024", "month": "5"}).text
    assert 'data-class="IV"' not in may and "未评价" in may

    bad = xlsx(tmp_path / "u.xlsx", [["断面编码", "采样日期", "氨氮"], [XSS, "2024-06-03", 0.1]])
    wrong = _post_file(c, "/quality/samples", csrf_of(page.text), bad)
    assert wrong.status_code == 400 and "unknown_section" in wrong.text  # type: ignore[attr-defined]
    assert XSS not in wrong.text  # type: ignore[attr-defined]
    assert _samples(quality_db) == 1


def test_quality_page_escapes_the_typed_year_and_refuses_a_bad_period(
    demo_client: TestClient, quality_db: Engine
) -> None:
    as_role(demo_client, "viewer")
    page = demo_client.get("/quality", params={"year": XSS})
    assert page.status_code == 400 and "bad_period" in page.text
    assert_escaped(page.text)  # the message names the typed period, escaped


def test_sources_page_rates_against_targets_and_zone_flags(
    demo_client: TestClient, quality_db: Engine, tmp_path: Path
) -> None:
    zones = geojson(
        tmp_path / "保护区.geojson",
        [
            ({"编码": "Z1", "名称": "城区水厂一级", "水源地名称": "城区水厂", "级别": "一级", "类型": "城市",
              "监测断面编码": "W1"}, square(106.91, 28.91, 0.01)),
            ({"编码": "Z3", "名称": "乡镇水厂一级", "水源地名称": "乡镇水厂", "级别": "一级", "类型": "乡镇",
              "监测断面编码": "W2"}, square(107.01, 29.01, 0.01)),
        ],
    )  # fmt: skip
    assert run("import", "source_zones", str(zones)).exit_code == 0
    inside = {"排污口编码": "O1", "排污口名称": "一级区内排口", "排口类型": "工业"}
    outfall = geojson(tmp_path / "o.geojson", [(inside, point(106.91, 28.91))])
    assert run("import", "outfalls", str(outfall)).exit_code == 0
    rows = [["断面编码", "采样日期", "氨氮", "总磷"], ["W1", "2024-06-01", 0.4, 0.05], ["W2", "2024-06-01", 0.4, 0.05]]
    rows.append(["W2", "2024-07-01", 1.2, 0.05])
    assert run("import", "samples", str(xlsx(tmp_path / "w.xlsx", rows))).exit_code == 0

    demo_client.cookies.clear()
    assert demo_client.get("/sources").status_code == 200  # public reading
    as_role(demo_client, "viewer")
    page = demo_client.get("/sources", params={"year": "2024"}).text
    # Urban W1: 1 of 1 sample ≤ Ⅲ → 100% (target 100%); township W2: II then IV → 1 of 2 = 50% (< 93%).
    urban = page.split('data-type="urban"', 1)[1].split("</div></div></div>", 1)[0]
    township = page.split('data-type="township"', 1)[1].split("</div></div></div>", 1)[0]
    assert "100.0%" in urban and "达标" in urban and "目标 100%" in urban
    assert "50.0%" in township and "未达目标" in township and "目标 93%" in township
    assert 'data-flag="outfalls:O1" data-severity="red"' in page
    june = demo_client.get("/sources", params={"year": "2024", "month": "6"}).text
    assert "50.0%" not in june.split('data-type="township"', 1)[1].split("</div></div></div>", 1)[0]


def _task_id(client: TestClient, name: str) -> str:
    page = client.get("/tasks").text
    found = re.search(rf'data-task="(\d+)">(?:(?!</tr>).)*>{name}</a>', page, re.S)
    assert found, name
    return found.group(1)


def test_tasks_import_filters_and_a_progress_report(
    demo_client: TestClient, quality_db: Engine, tmp_path: Path
) -> None:
    c = demo_client
    c.app.state.clock = JULY  # type: ignore[attr-defined]
    tasks = xlsx(tmp_path / "t.xlsx", [HEADER, *TASKS])
    as_role(c, "surveyor")
    page = c.get("/tasks")
    assert page.status_code == 200 and 'id="rg-tasks-import"' not in page.text
    refused = _post_file(c, "/tasks/import", csrf_of(page.text), tasks)
    assert refused.status_code == 403 and "管理员" in refused.text  # type: ignore[attr-defined]

    as_role(c, "admin")
    page = c.get("/tasks")
    assert _post_file(c, "/tasks/import", "wrong", tasks).status_code == 403  # type: ignore[attr-defined]
    assert 'data-task="' not in page.text
    done = _post_file(c, "/tasks/import", csrf_of(page.text), tasks)
    assert done.status_code == 200 and "已导入 4 项任务" in done.text  # type: ignore[attr-defined]
    # On 1 July 2024 the March task is overdue; 整治排污口 (0% of an expected 49.9%) is behind schedule.
    assert 'data-count="overdue">1 项<' in done.text and 'data-count="done">1 项<' in done.text  # type: ignore[attr-defined]
    late = c.get("/tasks", params={"overdue": "1"}).text
    assert late.count('data-task="') == 1 and "清理河道垃圾" in late and 'data-tag="overdue"' in late
    unit = c.get("/tasks", params={"unit": "生态环境局"}).text
    assert unit.count('data-task="') == 2 and "生态护岸" in unit and "拆除违建" not in unit
    river = c.get("/tasks", params={"river": "WS002", "year": "2024"}).text
    assert river.count('data-task="') == 2 and "整治排污口" not in river
    assert c.get("/tasks", params={"year": "24"}).status_code == 400

    tid = _task_id(c, "整治排污口")
    as_role(c, "viewer")
    task = c.get(f"/tasks/{tid}")
    assert task.status_code == 200 and 'data-tag="behind"' in task.text and 'id="rg-progress"' not in task.text
    denied = c.post(f"/tasks/{tid}/progress", data={"csrf_token": csrf_of(task.text), "percent": "50"})
    assert denied.status_code == 403 and "测绘单位" in denied.text

    as_role(c, "surveyor")
    token = csrf_of(c.get(f"/tasks/{tid}").text)
    form = {"csrf_token": token, "reported_on": "2024-06-20", "value": "4", "note": XSS}
    assert c.post(f"/tasks/{tid}/progress", data={**form, "csrf_token": "x"}).status_code == 403
    bad = c.post(f"/tasks/{tid}/progress", data={**form, "value": "四"})
    assert bad.status_code == 400 and "bad_number" in bad.text
    assert_escaped(bad.text)  # the typed note comes back in the form, escaped
    reported = c.post(f"/tasks/{tid}/progress", data=form)
    # 4 of the target 5 outfalls → 80%, no longer behind (49.9% expected).
    assert reported.status_code == 200 and 'data-progress="80.0"' in reported.text
    assert "2024-06-20" in reported.text and 'data-tag="behind"' not in reported.text
    assert_escaped(reported.text)


def test_bulletins_page_offers_the_word_bulletin_and_the_excel_annex(
    demo_client: TestClient, quality_db: Engine
) -> None:
    c = demo_client
    c.app.state.clock = JULY  # type: ignore[attr-defined]
    c.cookies.clear()
    assert c.get("/bulletins").status_code == 200  # public reading
    as_role(c, "viewer")
    page = c.get("/bulletins", params={"year": "2024", "part": "6"}).text
    word, annex = attribute(page, "href", "rg-bulletin-word"), attribute(page, "href", "rg-bulletin-annex")
    assert (word, annex) == ("/bulletins/2024-06.docx", "/bulletins/2024-06.xlsx")
    r = c.get(word)
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    assert Document(io.BytesIO(r.content)).paragraphs[0].text == "万盛经开区河长制工作通报（2024-06）"
    book = load_workbook(io.BytesIO(c.get(annex).content))
    assert book.sheetnames  # a real workbook, read back by openpyxl
    quarter = c.get("/bulletins", params={"year": "2024", "part": "Q2", "town": XSS})
    assert quarter.status_code == 200 and 'data-period="2024-Q2"' in quarter.text
    assert_escaped(quarter.text)
    assert c.get("/bulletins", params={"year": "2024", "part": "13"}).status_code == 400
    assert c.get("/bulletins/2024-99.docx").status_code == 400
