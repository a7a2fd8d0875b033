"""Decisions that hold: concurrent deliveries, approvals and decisions fired at a running service, on both backends.

Each test runs uvicorn in a thread on 127.0.0.1 over a real database and fires its requests from
threads at once (a barrier releases them together). The figures the issue asks for are printed
(``pytest -s``) and written to ``test-artifacts/decisions-*.txt``.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select, text, update
from sqlalchemy.exc import IntegrityError

from gis_service.api.app import create_app
from gis_service.catalogue import bundled_catalogue
from gis_service.db.engine import transaction
from gis_service.db.models import AuditEntry, Delivery
from gis_service.store.deliveries import lock_rivers, submit_delivery
from tests.helpers import bearer
from tests.live import threaded
from tests.test_import_bulk import zone_file, zones_of
from tests.web_helpers import PASSWORDS, csrf_of, login, make_users

RIVER = "WS002"


def at_once(n: int, call: Callable[[int], Any]) -> list[Any]:
    """Run ``call(0..n-1)`` in ``n`` threads released together; return the results (or exceptions) in order."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = call(i)
        except Exception as exc:  # noqa: BLE001 - kept for the assertion's message
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def record(artifacts: Path, name: str, line: str) -> None:
    """Print a measured figure and keep it with the test artifacts."""
    print(line)
    with (artifacts / f"decisions-{name}.txt").open("a", encoding="utf-8") as out:
        out.write(line + "\n")


def statuses(engine: Engine, layer: str = "zones") -> Counter[str]:
    """Return how many of ``RIVER``'s ``layer`` deliveries are in each status."""
    with engine.connect() as conn:
        rows = conn.scalars(select(Delivery.status).where(Delivery.river_code == RIVER, Delivery.layer == layer))
        return Counter(rows)


def submitted(engine: Engine, n: int) -> list[int]:
    """Store ``n`` submitted versions of the river's zone set (its current stretches again); return their ids."""
    zones = zones_of(engine, RIVER)
    with transaction(engine) as session:
        return [submit_delivery(session, bundled_catalogue()["zones"], RIVER, zones, actor="t").id for _ in range(n)]


def test_twenty_deliveries_at_once_are_all_stored_and_twenty_approvals_leave_one_current(
    demo_engine: Engine, demo_tokens: dict[str, str], tmp_path: Path, artifacts: Path, backend: Any
) -> None:
    # Before: SpatiaLite stored 2 of 20 (18 refused 409), PostGIS left 15 of 20 approvals approved at once.
    path = zone_file(demo_engine, tmp_path, "zones.gpkg")
    payload = path.read_bytes()
    with threaded(create_app(demo_engine)) as base:

        def deliver(_i: int) -> httpx.Response:
            files = {"file": ("zones.gpkg", payload, "application/geopackage+sqlite3")}
            return httpx.post(
                f"{base}/api/v1/deliveries/zones", files=files, headers=bearer(demo_tokens["surveyor"]), timeout=120
            )

        uploads = at_once(20, deliver)
        codes = [r.status_code if isinstance(r, httpx.Response) else repr(r) for r in uploads]
        assert codes == [201] * 20, [r.text[:300] if isinstance(r, httpx.Response) else r for r in uploads]
        ids = [r.json()["deliveries"][0]["id"] for r in uploads]
        versions = sorted(r.json()["deliveries"][0]["version"] for r in uploads)
        # The demo holds version 1; the twenty took 2..21, each once.
        assert versions == list(range(2, 22))
        record(artifacts, backend.name, f"{backend.name}: 20 concurrent deliveries → {len(set(ids))} versions stored")

        def approve(i: int) -> httpx.Response:
            return httpx.post(
                f"{base}/api/v1/deliveries/{ids[i]}/approve", headers=bearer(demo_tokens["admin"]), timeout=60
            )

        approvals = at_once(20, approve)
    # Serialised, as one after the other would be: an approval finds its version waiting and makes it current,
    # superseding the current one and every older one still waiting; or finds it superseded already by a newer
    # version's approval (409 delivery_not_submitted). One that waited past the lock timeout in the queue is told
    # so (503 database_busy, Retry-After) and leaves its delivery as the others left it; none may fail otherwise.
    answered = Counter(a.status_code for a in approvals)
    busy = [a for a in approvals if a.status_code == 503]
    assert set(answered) <= {200, 409, 503} and answered[200] >= 1, [a.text[:200] for a in approvals]
    assert all(a.json()["error"]["code"] == "database_busy" and a.headers["Retry-After"] for a in busy)
    assert all(a.json()["error"]["code"] == "delivery_not_submitted" for a in approvals if a.status_code == 409)
    version_of = {r.json()["deliveries"][0]["id"]: r.json()["deliveries"][0]["version"] for r in uploads}
    with demo_engine.connect() as conn:
        status_of = dict(conn.execute(select(Delivery.id, Delivery.status).where(Delivery.id.in_(ids))).all())
    current = [i for i, status in status_of.items() if status == "approved"]
    assert len(current) == 1 and statuses(demo_engine)["approved"] == 1, status_of
    # The current one is the newest that was approved; every older version is superseded, every newer one waits.
    approved = [ids[i] for i, a in enumerate(approvals) if a.status_code == 200]
    assert version_of[current[0]] == max(version_of[i] for i in approved)
    for i, status in status_of.items():
        assert status == (
            "superseded" if version_of[i] < version_of[current[0]] else "approved" if i == current[0] else "submitted"
        ), (i, status, version_of[i], version_of[current[0]])
    after = statuses(demo_engine)
    record(
        artifacts,
        backend.name,
        f"{backend.name}: 20 concurrent approvals ({answered[200]} answered 200, {answered[409]} 409 superseded "
        f"meanwhile, {len(busy)} 503 busy) "
        f"→ {after['approved']} version approved",
    )


def test_approve_and_reject_at_once_exactly_one_wins(
    demo_engine: Engine, demo_tokens: dict[str, str], artifacts: Path, backend: Any
) -> None:
    # Before: on SpatiaLite both answered 200 in 8 of 8 rounds (approved, with the rejection's reason).
    rounds = 8
    ids = submitted(demo_engine, rounds)
    admin = bearer(demo_tokens["admin"])
    winners: Counter[str] = Counter()
    with threaded(create_app(demo_engine)) as base:
        for delivery in ids:

            def decide(i: int, delivery: int = delivery) -> httpx.Response:
                if i == 0:
                    return httpx.post(f"{base}/api/v1/deliveries/{delivery}/approve", headers=admin, timeout=60)
                return httpx.post(
                    f"{base}/api/v1/deliveries/{delivery}/reject",
                    json={"reason": "范围有误"},
                    headers=admin,
                    timeout=60,
                )

            approve, reject = at_once(2, decide)
            assert sorted([approve.status_code, reject.status_code]) == [200, 409], (approve.text, reject.text)
            won, lost = ("approved", reject) if approve.status_code == 200 else ("rejected", approve)
            winners[won] += 1
            # The loser hears the status the delivery now has.
            assert lost.json()["error"]["code"] == "delivery_not_submitted"
            assert lost.json()["error"]["details"]["status"] == won and won in lost.json()["error"]["message"]
            with demo_engine.connect() as conn:
                row = conn.execute(select(Delivery.status, Delivery.reason).where(Delivery.id == delivery)).one()
                decisions = conn.scalar(
                    select(func.count())
                    .select_from(AuditEntry)
                    .where(AuditEntry.target_id == str(delivery), AuditEntry.action.like("delivery.%"))
                )
            assert row.status in {won, "superseded"} and (row.reason is None) == (won == "approved")
            assert decisions == 1
    assert statuses(demo_engine)["approved"] == 1
    record(
        artifacts,
        backend.name,
        f"{backend.name}: {rounds} approve-vs-reject rounds → one winner each ({dict(winners)})",
    )


def test_two_choices_approved_at_once_end_as_one_after_the_other(
    demo_engine: Engine, artifacts: Path, backend: Any
) -> None:
    # Two office staff tick at once: one the river's v2 with another river's new version, the other the river's v3.
    other = "WS003"
    zones = zones_of(demo_engine, other)
    with transaction(demo_engine) as session:
        s2 = submit_delivery(session, bundled_catalogue()["zones"], other, zones, actor="t").id
    r2, r3 = submitted(demo_engine, 2)
    make_users(demo_engine)
    choices = [[r2, s2], [r3]]
    with threaded(create_app(demo_engine)) as base:
        clients = [httpx.Client(base_url=base, timeout=60) for _ in choices]
        tokens = []
        for client in clients:
            assert login(client, "admin", PASSWORDS["admin"]).status_code == 303  # type: ignore[attr-defined]
            tokens.append(csrf_of(client.get("/deliveries").text))

        def approve(i: int) -> httpx.Response:
            return clients[i].post("/deliveries/approve", data={"csrf_token": tokens[i], "ids": choices[i]})

        answers = at_once(2, approve)
        for client in clients:
            client.close()
    codes = [a.status_code if isinstance(a, httpx.Response) else repr(a) for a in answers]
    with demo_engine.connect() as conn:
        status_of = dict(conn.execute(select(Delivery.id, Delivery.status).where(Delivery.id.in_([r2, r3, s2]))).all())
    # One after the other, in either order: the first choice then the second (both approved, v2 superseded by v3),
    # or the second then the first, refused whole since v2 was superseded meanwhile (WS003's version still waits).
    # A request that waited past the lock timeout is told so (503) and changes nothing.
    both = {r2: "superseded", r3: "approved", s2: "approved"}
    second_first = {r2: "superseded", r3: "approved", s2: "submitted"}
    if codes == [303, 303]:
        assert status_of == both, status_of
    elif codes == [409, 303]:
        assert status_of == second_first, status_of
        assert "delivery_not_submitted" in answers[0].text
    elif codes == [303, 503]:
        assert status_of == {r2: "approved", r3: "submitted", s2: "approved"}, status_of
    else:
        assert codes == [503, 303] and status_of == second_first, (codes, status_of)
    record(artifacts, backend.name, f"{backend.name}: two choices approved at once answered {codes} → {status_of}")


def test_the_database_refuses_a_second_approved_version(demo_engine: Engine) -> None:
    # Whatever the code path: the partial unique index of migration 0006.
    (extra,) = submitted(demo_engine, 1)
    with pytest.raises(IntegrityError), demo_engine.begin() as conn:
        conn.execute(update(Delivery).where(Delivery.id == extra).values(status="approved"))
    assert statuses(demo_engine)["approved"] == 1


def test_a_decision_waits_for_a_delivery_of_the_same_river(demo_engine: Engine, demo_tokens: dict[str, str]) -> None:
    # A held lock on the river (PostGIS: its advisory lock; SpatiaLite: the write lock) makes the
    # approval wait; released, the approval goes through and finds the delivery still submitted.
    # What is checked is the order: the approval is answered only after the holder committed.
    (delivery,) = submitted(demo_engine, 1)
    release = threading.Event()
    holding = threading.Event()
    order: list[str] = []

    def hold() -> None:
        with transaction(demo_engine) as session:
            lock_rivers(session, "zones", [RIVER])
            session.execute(text("SELECT 1"))
            holding.set()
            release.wait(30)
            order.append("holder committed")

    def approve(base: str) -> None:
        r = httpx.post(f"{base}/api/v1/deliveries/{delivery}/approve", headers=bearer(demo_tokens["admin"]), timeout=60)
        order.append(f"approval answered {r.status_code}")

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait(30)
    with threaded(create_app(demo_engine)) as base:
        approver = threading.Thread(target=approve, args=(base,))
        approver.start()
        approver.join(1.0)  # time for an unserialised approval to finish first (it would break the order)
        release.set()
        approver.join(60)
        holder.join(30)
    assert order == ["holder committed", "approval answered 200"]
