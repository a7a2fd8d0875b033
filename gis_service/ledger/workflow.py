"""Ledger steps (流转) with optimistic locking: transitions with evidence, photos on events, edits and moves.

Every write runs in the caller's transaction and leaves an event: who, when, what, with the note,
the data and the evidence. Of two people acting on one site at once, one wins and the other gets
a 409 conflict (``problems.lock_version``); nothing is lost, nothing is overwritten.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import shapely
from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from gis_service.access import Role
from gis_service.catalogue import Catalogue, catalogue_for
from gis_service.db.models import Attachment, Problem, ProblemEvent
from gis_service.errors import BadRequest, Conflict, Forbidden, NotFound
from gis_service.ledger.common import (
    Clock,
    as_utc,
    json_value,
    locked_update,
    parse_date,
    plain,
)
from gis_service.ledger.jurisdiction import jurisdiction_of
from gis_service.ledger.photos import PhotoUpload, check_photo, store_photo
from gis_service.ledger.queries import problem_or_404
from gis_service.ledger.reporting import site_frame
from gis_service.ledger.states import ACTIONS, FIELD_LABELS, FINAL, Action, check_transition, status_label
from gis_service.settings import Settings

TABLE: Table = Problem.__table__  # type: ignore[assignment]
EDITABLE = ("category", "description", "found_date", "source", "measures")


def check_role(role: Role | None, needed: Role, action: str) -> None:
    """Refuse an action the caller's role may not take (None = local operator, allowed all)."""
    if role is not None and not role.allows(needed):
        raise Forbidden(
            f"操作 {action}（{ACTIONS[action].label}）需要 {needed.value} 角色，当前令牌角色为 {role.value}",
            code="insufficient_role",
        )


def version_conflict(problem_id: int, expected: int, current: int | None, status: str | None) -> None:
    """Raise the conflict a stale writer gets: their step is not saved, the other one stands."""
    raise Conflict(
        f"问题 {problem_id} 已被他人修改（当前版本 {current}，您提交的版本 {expected}）；"
        "请刷新后再操作，您的操作未保存",
        code="version_conflict",
        details={"expected_version": expected, "current_version": current, "status": status},
    )


def update_locked(session: Session, problem_id: int, expected_version: int, values: dict[str, Any]) -> None:
    """UPDATE the problem only if its lock_version is still ``expected_version``; else raise Conflict."""
    if not locked_update(session, TABLE, problem_id, expected_version, values):
        current = session.execute(select(TABLE.c.lock_version, TABLE.c.status).where(TABLE.c.id == problem_id)).first()
        version_conflict(
            problem_id, expected_version, current.lock_version if current else None, current.status if current else None
        )


def _evidence_given(data: Mapping[str, Any], attachments: Sequence[PhotoUpload]) -> bool:
    """Tell whether evidence was given: a photo, or an evidence text (a document or record reference)."""
    return bool(attachments) or bool(str(data.get("evidence") or "").strip())


def _check_needs(
    spec: Action, action: str, note: str | None, data: Mapping[str, Any], attachments: Sequence[PhotoUpload]
) -> None:
    """Refuse a step missing what it needs (a reason, evidence, a deadline and unit, a verifier), naming it all."""
    missing = [FIELD_LABELS[n] + f"（{n}）" for n in spec.needs if not str(data.get(n) or "").strip()]
    if spec.needs_note and not note:
        missing.insert(0, "原因/说明（note）")
    if spec.needs_evidence and not _evidence_given(data, attachments):
        missing.append("证据（照片 photos 或证据说明 evidence）")
    if missing:
        raise BadRequest(
            f"{spec.label}（{action}）需要填写：{'、'.join(missing)}",
            code="missing_fields",
            details={"action": action, "missing": missing},
        )


def _step_values(action: str, data: dict[str, Any], today: Any) -> dict[str, Any]:
    """Return the columns a step sets besides its status (deadline, unit, measures, dates); normalise ``data``."""
    values: dict[str, Any] = {}
    if "deadline" in data and data["deadline"] not in (None, ""):
        deadline = parse_date(data["deadline"], "整改时限")
        if deadline is not None and deadline < today:
            raise BadRequest(f"整改时限 {deadline} 早于今天 {today}；请给出今后的日期", code="deadline_in_past")
        if action in ("assign", "reopen"):
            values["deadline"] = deadline
        data["deadline"] = deadline.isoformat() if deadline else None
    if action == "assign":
        values["responsible_unit"] = str(data["responsible_unit"]).strip()
        if str(data.get("measures") or "").strip():
            values["measures"] = str(data["measures"]).strip()
    elif action == "rectify":
        values["rectified_date"] = today
    elif action == "close":
        values["closed_date"] = today
    elif action in ("reopen", "reject"):
        # The earlier closure / rectification stays in the history; the item is open again.
        values["rectified_date"] = None
        if action == "reopen":
            values["closed_date"] = None
    return values


def transition(
    session: Session,
    problem_id: int,
    action: str,
    *,
    actor: str,
    expected_version: int | None,
    note: str | None = None,
    data: Mapping[str, Any] | None = None,
    attachments: Sequence[PhotoUpload] = (),
    role: Role | None = None,
    settings: Settings,
    clock: Clock,
) -> ProblemEvent:
    """Take one ledger step on a problem; return the recorded event (with its attachments stored)."""
    data = dict(data or {})
    note = (note or "").strip() or None
    problem = problem_or_404(session, problem_id)
    if expected_version is not None and expected_version != problem.lock_version:
        # A stale view first hears that the item changed, not that its old state forbids the step.
        version_conflict(problem_id, expected_version, problem.lock_version, problem.status)
    spec = check_transition(problem.status, action, catalogue_for(settings)["problems"])
    check_role(role, spec.role, action)
    _check_needs(spec, action, note, data, attachments)
    for upload in attachments:
        check_photo(upload, settings.max_photo_mb)  # refuse a bad photo before anything is written
    now = clock()
    values = {"status": spec.target.value, "updated_at": now, **_step_values(action, data, clock.local_date(now))}
    from_status = problem.status
    version = problem.lock_version if expected_version is None else expected_version
    update_locked(session, problem_id, version, values)
    session.expire(problem)
    event = ProblemEvent(
        problem_id=problem_id,
        action=action,
        from_status=from_status,
        to_status=spec.target.value,
        actor=actor,
        at=now,
        note=note,
        data={**data, **({"role": role.value} if role else {})},
    )
    session.add(event)
    session.flush()
    for upload in attachments:
        add_photo(session, event, upload, settings=settings, clock=clock)
    return event


def add_photo(
    session: Session, event: ProblemEvent, upload: PhotoUpload, *, settings: Settings, clock: Clock
) -> Attachment:
    """Store an evidence photo and attach it to a ledger event."""
    stored = store_photo(upload, settings, now=clock())
    attachment = Attachment(
        event_id=event.id,
        filename=stored.filename,
        path=stored.path,
        content_type=stored.content_type,
        size=stored.size,
        sha256=stored.sha256,
        lon=stored.lon,
        lat=stored.lat,
        taken_at=as_utc(stored.taken_at),
    )
    session.add(attachment)
    session.flush()
    return attachment


def attach_to_event(
    session: Session,
    problem_id: int,
    event_id: int,
    uploads: Sequence[PhotoUpload],
    *,
    settings: Settings,
    clock: Clock,
) -> list[Attachment]:
    """Add evidence photos to an existing event of ``problem_id``."""
    event = session.get(ProblemEvent, event_id)
    if event is None or event.problem_id != problem_id:
        raise NotFound(f"问题 {problem_id} 没有编号为 {event_id} 的台账记录", code="event_not_found")
    if not uploads:
        raise BadRequest("没有收到照片；请以 multipart 字段 photos 上传 JPEG/PNG", code="no_photos")
    for upload in uploads:
        check_photo(upload, settings.max_photo_mb)
    return [add_photo(session, event, u, settings=settings, clock=clock) for u in uploads]


def _moved(
    session: Session, catalogue: Catalogue, problem: Problem, geometry: shapely.Geometry, distance_m: float
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return the columns and the recorded changes of moving a site: new geometry, re-derived jurisdiction."""
    if geometry.is_empty or not geometry.is_valid:
        raise BadRequest("新位置的几何无效或为空", code="bad_geometry")
    derived = jurisdiction_of(session, catalogue, site_frame(catalogue["problems"], geometry, {}), distance_m).iloc[0]
    values = {
        "river_code": plain(derived["river_code"]),
        "town": plain(derived["town"]),
        "inside_range": bool(derived["inside_range"]),
        "zone_type": plain(derived["zone_type"]),
    }
    changes = {k: {"from": json_value(getattr(problem, k)), "to": json_value(v)} for k, v in values.items()}
    changes["geometry"] = {"to": shapely.geometry.mapping(geometry)}
    values["geom"] = func.ST_GeomFromWKB(shapely.to_wkb(geometry), 4490)
    return values, changes


def edit_problem(
    session: Session,
    problem_id: int,
    *,
    actor: str,
    expected_version: int | None,
    fields: Mapping[str, Any] | None = None,
    geometry: shapely.Geometry | None = None,
    note: str | None = None,
    settings: Settings,
    clock: Clock,
) -> ProblemEvent:
    """Correct a site's descriptive fields or move it (re-deriving its jurisdiction); refused once final."""
    catalogue = catalogue_for(settings)
    problem = problem_or_404(session, problem_id)
    if problem.status in FINAL:
        label = status_label(catalogue["problems"], problem.status)
        raise Conflict(
            f"问题 {problem.code} 已{label}，台账记录不可修改；如需重新处理请执行 reopen（回头看）",
            code="problem_final",
        )
    fields = dict(fields or {})
    unknown = sorted(set(fields) - set(EDITABLE))
    if unknown:
        raise BadRequest(
            f"字段 {unknown} 不能直接修改；可修改：{', '.join(EDITABLE)}（状态、时限、责任单位请通过流转操作修改）",
            code="field_not_editable",
        )
    frame = site_frame(catalogue["problems"], shapely.Point(0, 0), fields)
    values: dict[str, Any] = {k: plain(frame[k].iloc[0]) for k in fields if k in frame.columns}
    changes: dict[str, Any] = {
        k: {"from": json_value(getattr(problem, k)), "to": json_value(v)} for k, v in values.items()
    }
    if geometry is not None:
        moved_values, moved_changes = _moved(session, catalogue, problem, geometry, settings.jurisdiction_distance_m)
        values.update(moved_values)
        changes.update(moved_changes)
    if not values:
        raise BadRequest("没有要修改的内容", code="nothing_to_change")
    now = clock()
    values["updated_at"] = now
    update_locked(session, problem_id, problem.lock_version if expected_version is None else expected_version, values)
    event = ProblemEvent(
        problem_id=problem_id,
        action="move" if geometry is not None else "edit",
        from_status=problem.status,
        to_status=problem.status,
        actor=actor,
        at=now,
        note=note,
        data={"changes": changes},
    )
    session.add(event)
    session.flush()
    return event
