"""Approving a new range version re-derives the jurisdiction of the open problem sites it affects."""

from __future__ import annotations

from sqlalchemy import select, text

from gis_service.catalogue import bundled_catalogue
from gis_service.db.engine import transaction
from gis_service.db.models import Problem, ProblemEvent
from gis_service.store.deliveries import submit_delivery
from gis_service.store.features import read_features
from tests.helpers import bearer

OPEN = ("reported", "confirmed", "assigned", "rectifying", "reopened")


def test_a_new_range_version_moves_open_sites_out_and_keeps_closed_ones(demo_engine, demo_client, demo_tokens):
    with demo_engine.connect() as conn:
        ranges = read_features(conn, "boundaries", where={"river_code": "WS001"})
    polygon = ranges[ranges.geometry.geom_type.isin(["Polygon", "MultiPolygon"])].iloc[[0]].copy()
    # The new version lies 0.01° (about 1.1 km) north of the old one, so no site that was inside the
    # old range is inside the new one (the range is at most ~120 m wide).
    polygon["geometry"] = polygon.geometry.translate(yoff=0.01)
    with demo_engine.connect() as conn:
        before = {
            r.id: (r.status, r.inside_range)
            for r in conn.execute(
                select(Problem.id, Problem.status, Problem.inside_range).where(Problem.river_code == "WS001")
            )
        }
    assert any(inside and status in OPEN for status, inside in before.values())
    with transaction(demo_engine) as session:
        delivery = submit_delivery(session, bundled_catalogue()["boundaries"], "WS001", polygon, actor="测绘院")
    approved = demo_client.post(f"/api/v1/deliveries/{delivery.id}/approve", headers=bearer(demo_tokens["admin"]))
    assert approved.status_code == 200, approved.text
    with demo_engine.connect() as conn:
        after = {
            r.id: (r.status, r.inside_range)
            for r in conn.execute(
                select(Problem.id, Problem.status, Problem.inside_range).where(Problem.id.in_(list(before)))
            )
        }
        rederived = set(
            conn.execute(select(ProblemEvent.problem_id).where(ProblemEvent.action == "rederive")).scalars()
        )
        count_events = conn.execute(text("SELECT count(*) FROM problem_events")).scalar()
    for pid, (status, inside) in before.items():
        if status in OPEN and inside:
            assert after[pid][1] is False, pid
            assert pid in rederived
        if status == "closed":
            assert after[pid] == (status, inside)  # closed items are never rewritten
    assert count_events > 0
