"""The outfall register pages on both backends: filters and counts, an outfall's file, the admins' stage change."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import Engine, select

from gis_service.db.models import Outfall, OutfallEvent
from tests.web_helpers import csrf_of, make_users
from tests.web_pages_helpers import XSS, as_role, assert_escaped, attribute, jpeg


@pytest.fixture
def register(demo_engine: Engine) -> Engine:
    """The demo database with one account of each role."""
    make_users(demo_engine)
    return demo_engine


def _outfall(engine: Engine, stage: str) -> int:
    """Return the id of the demo's first active outfall at ``stage``."""
    with engine.connect() as conn:
        found = conn.scalar(select(Outfall.id).where(Outfall.stage == stage, Outfall.status == "active"))
    assert found is not None
    return int(found)


def _stage(engine: Engine, oid: int) -> tuple[str, str | None]:
    with engine.connect() as conn:
        row = conn.execute(select(Outfall.stage, Outfall.outcome).where(Outfall.id == oid)).one()
    return row.stage, row.outcome


def test_register_filters_and_counts(demo_client, register) -> None:
    with register.connect() as conn:
        rows = conn.execute(select(Outfall.id, Outfall.stage, Outfall.outfall_type)).all()
    page = demo_client.get("/outfalls")  # public reading: no login needed
    assert page.status_code == 200
    assert set(re.findall(r'data-outfall="(\d+)"', page.text)) == {str(r.id) for r in rows}
    assert f'data-count="total">{len(rows)} 个<' in page.text
    for stage, label in (("survey", "排查"), ("monitor", "监测"), ("trace", "溯源"), ("fix", "整治")):
        assert f'data-count-stage="{stage}">{label} {sum(r.stage == stage for r in rows)}<' in page.text
    industrial = demo_client.get("/outfalls", params={"outfall_type": "industrial"})
    assert set(re.findall(r'data-outfall="(\d+)"', industrial.text)) == {
        str(r.id) for r in rows if r.outfall_type == "industrial"
    }
    flagged = demo_client.get("/outfalls", params={"flagged": "1"})
    assert "位于岸线保护区岸段" in flagged.text
    bad = demo_client.get("/outfalls", params={"stage": "nowhere"})
    assert bad.status_code == 400


def test_admin_moves_the_stage_forward_with_a_photo_and_never_back(demo_client, register) -> None:
    oid = _outfall(register, "trace")
    as_role(demo_client, "surveyor")
    page = demo_client.get(f"/outfalls/{oid}")
    assert page.status_code == 200 and 'id="rg-stage-change"' not in page.text
    refused = demo_client.post(f"/outfalls/{oid}/stage", data={"csrf_token": csrf_of(page.text), "stage": "fix"})
    assert refused.status_code == 403 and "管理员" in refused.text
    assert _stage(register, oid)[0] == "trace"

    as_role(demo_client, "admin")
    page = demo_client.get(f"/outfalls/{oid}").text
    token, version = csrf_of(page), attribute(page, "data-version", "rg-outfall")
    early = {"csrf_token": token, "expected_version": version, "stage": "trace", "outcome": "ban"}
    outcome_first = demo_client.post(f"/outfalls/{oid}/stage", data=early)
    assert outcome_first.status_code == 409 and "outcome_before_fix" in outcome_first.text
    back = demo_client.post(f"/outfalls/{oid}/stage", data={**early, "stage": "survey", "outcome": ""})
    assert back.status_code == 409 and "只能向前推进" in back.text
    assert _stage(register, oid) == ("trace", None)

    data = {"csrf_token": token, "expected_version": version, "stage": "fix", "outcome": "regularise", "note": XSS}
    done = demo_client.post(
        f"/outfalls/{oid}/stage", data=data, files=[("photos", ("排口.jpg", jpeg("blue"), "image/jpeg"))]
    )
    assert done.status_code == 200 and attribute(done.text, "data-stage", "rg-outfall") == "fix"
    assert _stage(register, oid) == ("fix", "regularise")
    assert_escaped(done.text)
    with register.connect() as conn:
        event = conn.scalar(
            select(OutfallEvent.id).where(OutfallEvent.outfall_id == oid).order_by(OutfallEvent.id.desc())
        )
    assert f'src="/outfalls/{oid}/photos/{event}/0"' in done.text
    photo = demo_client.get(f"/outfalls/{oid}/photos/{event}/0")
    assert photo.status_code == 200 and photo.content == jpeg("blue")


def test_stage_change_without_the_csrf_token_is_refused(demo_client, register) -> None:
    oid = _outfall(register, "survey")
    as_role(demo_client, "admin")
    refused = demo_client.post(f"/outfalls/{oid}/stage", data={"stage": "monitor", "expected_version": "1"})
    assert refused.status_code == 403 and "csrf_failed" in refused.text
    assert _stage(register, oid)[0] == "survey"
