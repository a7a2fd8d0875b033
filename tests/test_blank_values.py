"""An empty value on the workbench pages: a grey 暂无/无 (``blank`` filter), never a lone "—" that reads as 一 (one).

Pages of records with empty fields on both backends, the typed text beside them still escaped; and the filter itself.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from fastapi.testclient import TestClient
from markupsafe import Markup
from sqlalchemy import Engine, select, update

from gis_service.db.engine import transaction
from gis_service.db.models import Outfall, Problem
from gis_service.db.models_quality import RiverTask, TaskProgress
from gis_service.web.labels import show
from gis_service.web.routers.patrols import duration_text
from gis_service.web.routers.quality import class_label
from gis_service.web.templating import blank, environment
from tests.web_helpers import make_users
from tests.web_pages_helpers import XSS, as_role, assert_escaped

BLANK = '<span class="blank" title="无数据">暂无</span>'
BLANK_SHORT = '<span class="blank" title="无数据">无</span>'


def _dd(html: str, label: str) -> str:
    """Return the content of the ``<dd>`` after the ``<dt>`` named ``label``."""
    found = re.search(rf"<dt[^>]*>{label}</dt><dd[^>]*>(.*?)</dd>", html)
    assert found, f"no {label} on the page"
    return found.group(1)


def _row(html: str, attribute: str) -> list[str]:
    """Return the cells of the table row carrying ``attribute`` (e.g. ``data-task="3"``)."""
    row = html.split(attribute, 1)[1].split("</tr>", 1)[0]
    return re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)


def test_blank_is_markup_only_for_the_placeholder() -> None:
    assert blank(None) == Markup(BLANK) and blank("", short=True) == Markup(BLANK_SHORT)
    assert blank(float("nan")) == Markup(BLANK)
    assert blank(0) == 0 and blank(XSS) == XSS and not isinstance(blank(XSS), Markup)
    page = environment().from_string("<p>{{ a|blank }}</p><p>{{ b|blank(short=true) }}</p><p>{{ none|blank }}</p>")
    assert (
        page.render(a=XSS, b=None)
        == f"<p>{XSS.replace('<', '&lt;').replace('>', '&gt;')}</p><p>{BLANK_SHORT}</p><p>{BLANK}</p>"
    )
    # The Python side gives an empty value as "", for the page's filter to show.
    assert show(None) == show("") == duration_text(None) == class_label(None) == ""


@pytest.fixture
def accounts(demo_engine: Engine) -> Engine:
    """The demo database with one account of each role."""
    make_users(demo_engine)
    return demo_engine


def test_outfall_page_and_register_show_an_unset_field_as_the_placeholder(
    demo_client: TestClient, accounts: Engine
) -> None:
    with transaction(accounts) as session:
        oid = session.scalars(select(Outfall.id).where(Outfall.status == "active").order_by(Outfall.id)).first()
        session.execute(
            update(Outfall).where(Outfall.id == oid).values(name=XSS, responsible=None, river_code=None, outcome=None)
        )
    as_role(demo_client, "viewer")
    page = demo_client.get(f"/outfalls/{oid}")
    assert page.status_code == 200
    for label in ("受纳河流", "责任主体", "整治方式"):
        assert _dd(page.text, label) == BLANK
    assert_escaped(page.text)
    register = demo_client.get("/outfalls").text
    cells = _row(register, f'data-outfall="{oid}"')
    assert cells[1] == XSS.replace("<", "&lt;").replace(">", "&gt;") and cells[2] == cells[5] == BLANK_SHORT
    assert not any(c.strip() == "—" for c in cells)


def test_task_page_and_list_show_missing_fields_as_the_placeholder(demo_client: TestClient, accounts: Engine) -> None:
    with transaction(accounts) as session:
        task = RiverTask(river_code="WS001", year=2026, task=XSS, measure=None, responsible_unit="", deadline=None)
        session.add(task)
        session.flush()
        tid = task.id
        session.add(TaskProgress(task_id=tid, reported_on=dt.date(2026, 3, 1), percent=20.0, value=None, actor="x"))
    as_role(demo_client, "viewer")
    page = demo_client.get(f"/tasks/{tid}")
    assert page.status_code == 200
    for label in ("措施", "责任单位", "时限", "目标值"):
        assert _dd(page.text, label) == BLANK
    report = page.text.split('id="rg-reports"', 1)[1].split("</table>", 1)[0]
    assert BLANK_SHORT in report and "—" not in report
    assert_escaped(page.text)
    listed = demo_client.get("/tasks", params={"river": "WS001", "year": "2026"}).text
    assert _row(listed, f'data-task="{tid}"')[-2:] == [BLANK_SHORT, BLANK_SHORT]
    assert_escaped(listed)


def test_problem_page_shows_an_empty_record_field_as_the_placeholder(demo_client: TestClient, accounts: Engine) -> None:
    with transaction(accounts) as session:
        pid = session.scalars(select(Problem.id).order_by(Problem.id)).first()
        session.execute(
            update(Problem).where(Problem.id == pid).values(description=XSS, deadline=None, responsible_unit=None)
        )
    as_role(demo_client, "viewer")
    page = demo_client.get(f"/problems/{pid}")
    assert page.status_code == 200
    for field in ("deadline", "responsible_unit"):
        assert f'data-field="{field}">{BLANK}</dd>' in page.text
    assert not re.search(r'data-field="\w+">—</dd>', page.text)
    assert_escaped(page.text)


def test_dashboard_without_assessed_sections_shows_the_placeholder(
    demo_client: TestClient, demo_without_quality: Engine
) -> None:
    page = demo_client.get("/")
    assert page.status_code == 200
    assert f'data-kpi="assessed-good">{BLANK}</div>' in page.text
    assert 'data-kpi="assessed-good">—' not in page.text


def test_screen_starts_its_figures_as_the_placeholder_not_a_dash(demo_client: TestClient, accounts: Engine) -> None:
    as_role(demo_client, "viewer")
    page = demo_client.get("/screen")
    assert page.status_code == 200
    # The figures screen.js writes at once; until then (and without script) never a lone "—".
    assert f'data-fig="tasks.mean_progress">{BLANK}</div>' in page.text
    assert not re.search(r'data-fig="[\w.]+">—<', page.text)
