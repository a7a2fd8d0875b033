"""The problem ledger (台账): report sites, move them through the workflow, list, overdue and statistics.

Every write here runs in the caller's transaction (helpers never commit) and leaves a ledger
event: who, when, what, with the note, the data and the evidence. Transitions use optimistic
locking on ``problems.lock_version``: of two people acting on one site at once, one wins and
the other gets a 409 conflict; nothing is lost, nothing is overwritten.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely
from sqlalchemy import Select, Table, and_, func, insert, not_, or_, select, update
from sqlalchemy.orm import Session

from gis_service.access import Role
from gis_service.analysis.jurisdiction import derive_jurisdiction
from gis_service.catalogue import get_catalogue
from gis_service.db.models import Attachment, Problem, ProblemEvent
from gis_service.errors import BadRequest, Conflict, Forbidden, NotFound
from gis_service.ledger.photos import CHINA_TZ, PhotoUpload, check_photo, store_photo
from gis_service.ledger.states import (
    ACTIONS,
    FIELD_LABELS,
    FINAL,
    NOT_OVERDUE,
    ProblemStatus,
    allowed_actions,
    check_transition,
    status_label,
)
from gis_service.settings import get_settings
from gis_service.store.features import feature_rows, read_features
from gis_service.store.spatial import BBox, bbox_filter, geom_wkb

Clock = Callable[[], dt.datetime]
TABLE: Table = Problem.__table__  # type: ignore[assignment]
OPEN_NOT_OVERDUE = [s.value for s in NOT_OVERDUE]
SORT_KEYS = ("id", "code", "found_date", "deadline", "status", "category", "town", "river_code", "updated_at")
GROUPS = {"town": "town", "river": "river_code", "unit": "responsible_unit"}


def system_clock() -> dt.datetime:
    """Return the current time (UTC); tests pass a fixed clock instead."""
    return dt.datetime.now(dt.UTC)


def local_date(moment: dt.datetime) -> dt.date:
    """Return the calendar date in China of ``moment`` (deadlines are local dates)."""
    return moment.astimezone(CHINA_TZ).date() if moment.tzinfo else moment.date()


def parse_date(value: Any, label: str) -> dt.date | None:
    """Parse a date given as a date or ``YYYY-MM-DD`` text, or raise a clear error."""
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip().replace("/", "-"))
    except ValueError:
        raise BadRequest(f"{label} {value!r} 不是有效日期；请写成 YYYY-MM-DD，例如 2025-06-30",
                         code="bad_date") from None


# ---------------------------------------------------------------- jurisdiction


def _context(session: Session, bbox: BBox | None = None) -> dict[str, gpd.GeoDataFrame]:
    """Read what jurisdiction needs: centerlines, approved range polygons, approved zones, towns."""
    ranges = read_features(session, "boundaries", bbox=bbox)
    ranges = ranges[ranges.geometry.geom_type.isin(["Polygon", "MultiPolygon"])]
    return {
        "rivers": read_features(session, "rivers", bbox=bbox),
        "ranges": ranges,
        "zones": read_features(session, "zones", bbox=bbox),
        "towns": read_features(session, "towns", bbox=bbox),
    }


def _buffered_bounds(geoms: gpd.GeoSeries) -> BBox | None:
    """Return the bounds of ``geoms`` grown by the jurisdiction distance (in degrees, generously)."""
    if geoms.empty:
        return None
    minx, miny, maxx, maxy = geoms.total_bounds
    # 1 degree of latitude is ~111 km; at 29°N a degree of longitude is ~97 km; 1.5x covers both.
    pad = get_settings().jurisdiction_distance_m * 1.5 / 97_000.0
    return (minx - pad, miny - pad, maxx + pad, maxy + pad)


def jurisdiction_of(session: Session, sites: gpd.GeoDataFrame) -> pd.DataFrame:
    """Return river_code, town, inside_range and zone_type of each site (index aligned)."""
    ctx = _context(session, _buffered_bounds(sites.geometry))
    return derive_jurisdiction(
        sites, ctx["rivers"], ctx["ranges"], ctx["towns"], get_settings().jurisdiction_distance_m,
        zones=ctx["zones"],
    )


# ---------------------------------------------------------------- reporting


def _event(problem_id: int, action: str, from_status: str | None, to_status: str, actor: str,
           at: dt.datetime, note: str | None = None, data: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Return the row of one ledger event."""
    return {"problem_id": problem_id, "action": action, "from_status": from_status, "to_status": to_status,
            "actor": actor, "at": at, "note": note, "data": dict(data or {})}


def _check_new_sites(session: Session, frame: gpd.GeoDataFrame) -> None:
    """Refuse sites without a valid category, with empty geometry, or whose code is already taken."""
    layer = get_catalogue()["problems"]
    category = layer.field("category")
    if "category" not in frame.columns or frame["category"].isna().any():
        raise BadRequest("问题类别（category）必填；可选：" + "、".join(
            f"{v.label}({v.code})" for v in category.values.values()), code="missing_category")
    bad = sorted({str(c) for c in frame["category"] if c not in category.values})
    if bad:
        raise BadRequest(f"未知问题类别 {bad}；可选：" + "、".join(
            f"{v.label}({v.code})" for v in category.values.values()), code="unknown_category")
    if frame.geometry.isna().any() or frame.geometry.is_empty.any():
        raise BadRequest("问题点缺少几何（空几何）；请提供点位或范围面", code="empty_geometry")
    if "status" in frame.columns:
        unknown = sorted({str(s) for s in frame["status"].dropna() if s not in set(ProblemStatus)})
        if unknown:
            raise BadRequest(f"未知状态 {unknown}", code="unknown_status")
    if "code" not in frame.columns:
        return
    codes = [str(c) for c in frame["code"].dropna()]
    dupes = sorted({c for c in codes if codes.count(c) > 1})
    if dupes:
        raise Conflict(f"文件中问题编号重复：{', '.join(dupes[:20])}；请保证每个编号唯一",
                       code="duplicate_problem_code", details={"codes": dupes})
    taken: list[str] = []
    for start in range(0, len(codes), 500):
        chunk = codes[start:start + 500]
        taken += list(session.scalars(select(Problem.code).where(Problem.code.in_(chunk))))
    if taken:
        raise Conflict(
            f"问题编号已存在：{', '.join(sorted(taken)[:20])}；台账中的问题不会被覆盖，请使用新编号",
            code="duplicate_problem_code", details={"codes": sorted(taken)},
        )


def report_new(session: Session, frame: gpd.GeoDataFrame, *, actor: str,
               clock: Clock = system_clock, note: str | None = None) -> list[int]:
    """Add normalised problem sites (EPSG:4490, catalogue fields) to the ledger; return their ids."""
    if frame.empty:
        return []
    frame = frame.reset_index(drop=True)
    _check_new_sites(session, frame)
    now = clock()
    derived = jurisdiction_of(session, frame)
    frame = frame.assign(**{c: derived[c] for c in ("river_code", "town", "inside_range")})
    layer = get_catalogue()["problems"]
    rows = feature_rows(layer, frame)
    generated: list[int] = []
    for i, row in enumerate(rows):
        row["zone_type"] = derived["zone_type"].iloc[i]
        row.setdefault("status", ProblemStatus.REPORTED.value)
        row["status"] = row["status"] or ProblemStatus.REPORTED.value
        row["found_date"] = row.get("found_date") or local_date(now)
        row.update(lock_version=1, created_at=now, updated_at=now)
        if not row.get("code"):
            # A temporary unique code, replaced below by one made from the new id.
            row["code"] = f"tmp-{uuid.uuid4().hex}"
            generated.append(i)
    result = session.execute(insert(TABLE).returning(TABLE.c.id, TABLE.c.code, TABLE.c.status), rows,)
    returned = {r.code: (r.id, r.status) for r in result}
    ids = [returned[row["code"]][0] for row in rows]
    for i in generated:
        code = f"WT{local_date(now):%Y%m%d}-{ids[i]:06d}"
        session.execute(update(TABLE).where(TABLE.c.id == ids[i]).values(code=code))
    events = []
    for row, pid in zip(rows, ids, strict=True):
        action = "report" if row["status"] == ProblemStatus.REPORTED else "import"
        events.append(_event(pid, action, None, row["status"], actor, now, note,
                             {"source": row.get("source"), "river_code": row.get("river_code"),
                              "town": row.get("town"), "inside_range": row.get("inside_range")}))
    session.execute(insert(ProblemEvent), events)
    return ids


def report_sites(session: Session, frame: gpd.GeoDataFrame, *, actor: str, clock: Clock = system_clock) -> int:
    """Add normalised problem sites to the ledger with derived jurisdiction; return how many were added."""
    return len(report_new(session, frame, actor=actor, clock=clock))


def site_frame(geometry: shapely.Geometry, fields: Mapping[str, Any]) -> gpd.GeoDataFrame:
    """Return a one-site frame of catalogue fields (values checked against the catalogue)."""
    from gis_service.ingest.normalise import coerce

    layer = get_catalogue()["problems"]
    record: dict[str, Any] = {}
    for name, value in fields.items():
        if name not in layer.field_names:
            continue
        spec = layer.field(name)
        if spec.derived:
            continue
        try:
            record[name] = coerce(spec, value)
        except (ValueError, TypeError):
            allowed = "、".join(f"{v.label}({v.code})" for v in spec.values.values())
            raise BadRequest(f"字段“{spec.label}”({name}) 的值 {value!r} 无法识别"
                             + (f"；可选：{allowed}" if allowed else f"；应为 {spec.type}"),
                             code="bad_field_value", details={"field": name}) from None
    for spec in layer.fields:
        if record.get(spec.name) is None and spec.default is not None:
            record[spec.name] = spec.default
    return gpd.GeoDataFrame([record], geometry=[geometry], crs="EPSG:4490")


# ---------------------------------------------------------------- reading


def _problem(session: Session, problem_id: int) -> Problem:
    """Return the problem or raise NotFound."""
    problem = session.get(Problem, problem_id)
    if problem is None:
        raise NotFound(f"问题 {problem_id} 不存在", code="problem_not_found")
    return problem


def is_overdue(status: str, deadline: dt.date | None, today: dt.date) -> bool:
    """Tell whether an item is overdue: past its deadline and not rectified, closed or dismissed."""
    return deadline is not None and deadline < today and status not in NOT_OVERDUE


def overdue_clause(today: dt.date) -> Any:
    """Return the SQL condition of :func:`is_overdue`."""
    return and_(TABLE.c.deadline.is_not(None), TABLE.c.deadline < today,
                TABLE.c.status.not_in(OPEN_NOT_OVERDUE))


@dataclass
class ProblemFilter:
    """List filters: status, category, town, river, found date range, overdue, bbox, unit."""

    status: Sequence[str] = ()
    category: Sequence[str] = ()
    town: str | None = None
    river_code: str | None = None
    responsible_unit: str | None = None
    found_from: dt.date | None = None
    found_to: dt.date | None = None
    overdue: bool | None = None
    bbox: BBox | None = None


def filtered(query: Select[Any], flt: ProblemFilter, dialect: str, today: dt.date) -> Select[Any]:
    """Apply ``flt`` to a SELECT over the problems table."""
    layer = get_catalogue()["problems"]
    for name, values in (("status", flt.status), ("category", flt.category)):
        if values:
            spec = layer.field(name)
            bad = [v for v in values if v not in spec.values]
            if bad:
                raise BadRequest(f"{spec.label}（{name}）的值 {bad} 无效；可选：{', '.join(spec.values)}",
                                 code=f"bad_{name}")
            query = query.where(TABLE.c[name].in_(list(values)))
    for name in ("town", "river_code", "responsible_unit"):
        value = getattr(flt, name)
        if value:
            query = query.where(TABLE.c[name] == value)
    if flt.found_from:
        query = query.where(TABLE.c.found_date >= flt.found_from)
    if flt.found_to:
        query = query.where(TABLE.c.found_date <= flt.found_to)
    if flt.overdue is True:
        query = query.where(overdue_clause(today))
    elif flt.overdue is False:
        query = query.where(not_(overdue_clause(today)))
    if flt.bbox:
        query = query.where(bbox_filter(TABLE, flt.bbox, dialect))  # type: ignore[arg-type]
    return query


def _order(sort: str) -> list[Any]:
    """Return ORDER BY terms from ``-deadline,code`` style text, or raise naming the sortable keys."""
    terms = []
    for part in [p.strip() for p in sort.split(",") if p.strip()]:
        key = part.lstrip("+-")
        if key not in SORT_KEYS:
            raise BadRequest(f"不能按 {key!r} 排序；可用：{', '.join(SORT_KEYS)}（前加 - 为倒序）", code="bad_sort")
        column = TABLE.c[key]
        terms.append(column.desc() if part.startswith("-") else column.asc())
    return [*terms, TABLE.c.id.asc()]


def record(row: Mapping[str, Any], today: dt.date) -> dict[str, Any]:
    """Return a problem row as API data: fields, derived jurisdiction, overdue, allowed actions, geometry."""
    attrs = row.get("attrs") or {}
    geom = shapely.from_wkb(row["wkb"]) if row.get("wkb") is not None else None
    point = geom.representative_point() if geom is not None else None
    out = {k: v for k, v in row.items() if k not in {"attrs", "wkb", "geom"}}
    out.update({k: v for k, v in attrs.items() if k not in out})
    out["status_label"] = status_label(row["status"])
    out["overdue"] = is_overdue(row["status"], _as_date(row.get("deadline")), today)
    out["allowed_actions"] = allowed_actions(row["status"])
    out["lon"] = point.x if point is not None else None
    out["lat"] = point.y if point is not None else None
    out["geometry"] = shapely.geometry.mapping(geom) if geom is not None else None
    return out


def _as_date(value: Any) -> dt.date | None:
    """Return a date column value as a date (SpatiaLite may hand back text)."""
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _select() -> Select[Any]:
    """Return the SELECT of every problem column and the geometry as WKB."""
    return select(*[c for c in TABLE.c if c.key != "geom"], geom_wkb(TABLE))  # type: ignore[arg-type]


def list_problems(session: Session, flt: ProblemFilter, *, sort: str = "-id", limit: int = 100,
                  offset: int = 0, clock: Clock = system_clock) -> tuple[list[dict[str, Any]], bool]:
    """Return a page of problems matching ``flt`` and whether more follow."""
    today = local_date(clock())
    dialect = session.get_bind().dialect.name
    query = filtered(_select(), flt, dialect, today).order_by(*_order(sort)).limit(limit + 1).offset(offset)
    rows = [record(dict(r._mapping), today) for r in session.execute(query)]
    return rows[:limit], len(rows) > limit


def get_problem(session: Session, problem_id: int, *, clock: Clock = system_clock) -> dict[str, Any]:
    """Return one problem as API data."""
    row = session.execute(_select().where(TABLE.c.id == problem_id)).first()
    if row is None:
        raise NotFound(f"问题 {problem_id} 不存在", code="problem_not_found")
    return record(dict(row._mapping), local_date(clock()))


def history(session: Session, problem_id: int) -> list[dict[str, Any]]:
    """Return a problem's ledger events, oldest first, each with its attachments."""
    _problem(session, problem_id)
    events = list(session.scalars(select(ProblemEvent).where(ProblemEvent.problem_id == problem_id)
                                  .order_by(ProblemEvent.at, ProblemEvent.id)))
    files: dict[int, list[dict[str, Any]]] = {}
    if events:
        for a in session.scalars(select(Attachment).where(Attachment.event_id.in_([e.id for e in events]))
                                 .order_by(Attachment.id)):
            files.setdefault(a.event_id, []).append(attachment_data(a))
    return [
        {"id": e.id, "action": e.action, "action_label": ACTIONS[e.action].label if e.action in ACTIONS else e.action,
         "from_status": e.from_status, "to_status": e.to_status, "actor": e.actor, "at": as_utc(e.at), "note": e.note,
         "data": e.data, "attachments": files.get(e.id, [])}
        for e in events
    ]


def attachment_data(a: Attachment) -> dict[str, Any]:
    """Return an attachment as API data (without its storage path)."""
    return {"id": a.id, "event_id": a.event_id, "filename": a.filename, "content_type": a.content_type,
            "size": a.size, "sha256": a.sha256, "lon": a.lon, "lat": a.lat, "taken_at": as_utc(a.taken_at)}


def as_utc(moment: dt.datetime | None) -> dt.datetime | None:
    """Return a stored time as aware UTC (SpatiaLite hands back naive UTC, PostGIS aware)."""
    if moment is None:
        return None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


# ---------------------------------------------------------------- workflow


def _check_role(role: Role | None, needed: Role, action: str) -> None:
    """Refuse an action the caller's role may not take (None = local operator, allowed all)."""
    if role is not None and not role.allows(needed):
        raise Forbidden(f"操作 {action}（{ACTIONS[action].label}）需要 {needed.value} 角色，"
                        f"当前令牌角色为 {role.value}", code="insufficient_role")


def _locked_update(session: Session, problem_id: int, expected_version: int, values: dict[str, Any]) -> None:
    """UPDATE the problem only if its lock_version is still ``expected_version``; else raise Conflict."""
    result = session.execute(
        update(TABLE)
        .where(TABLE.c.id == problem_id, TABLE.c.lock_version == expected_version)
        .values(lock_version=TABLE.c.lock_version + 1, **values)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        current = session.execute(select(TABLE.c.lock_version, TABLE.c.status)
                                  .where(TABLE.c.id == problem_id)).first()
        _version_conflict(problem_id, expected_version, current.lock_version if current else None,
                          current.status if current else None)


def _version_conflict(problem_id: int, expected: int, current: int | None, status: str | None) -> None:
    """Raise the conflict a stale writer gets: their step is not saved, the other one stands."""
    raise Conflict(
        f"问题 {problem_id} 已被他人修改（当前版本 {current}，您提交的版本 {expected}）；"
        "请刷新后再操作，您的操作未保存",
        code="version_conflict",
        details={"expected_version": expected, "current_version": current, "status": status},
    )


def _evidence_given(data: Mapping[str, Any], attachments: Sequence[PhotoUpload]) -> bool:
    """Tell whether evidence was given: a photo, or an evidence text (a document or record reference)."""
    return bool(attachments) or bool(str(data.get("evidence") or "").strip())


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
    clock: Clock = system_clock,
) -> ProblemEvent:
    """Take one ledger step on a problem; return the recorded event (with its attachments stored)."""
    data = dict(data or {})
    note = (note or "").strip() or None
    problem = _problem(session, problem_id)
    if expected_version is not None and expected_version != problem.lock_version:
        # A stale view first hears that the item changed, not that its old state forbids the step.
        _version_conflict(problem_id, expected_version, problem.lock_version, problem.status)
    spec = check_transition(problem.status, action)
    _check_role(role, spec.role, action)
    missing = [FIELD_LABELS[n] + f"（{n}）" for n in spec.needs if not str(data.get(n) or "").strip()]
    if spec.needs_note and not note:
        missing.insert(0, "原因/说明（note）")
    if spec.needs_evidence and not _evidence_given(data, attachments):
        missing.append("证据（照片 photos 或证据说明 evidence）")
    if missing:
        raise BadRequest(f"{spec.label}（{action}）需要填写：{'、'.join(missing)}", code="missing_fields",
                         details={"action": action, "missing": missing})
    for upload in attachments:
        check_photo(upload)  # refuse a bad photo before anything is written
    now = clock()
    today = local_date(now)
    values: dict[str, Any] = {"status": spec.target.value, "updated_at": now}
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
    from_status = problem.status
    version = problem.lock_version if expected_version is None else expected_version
    _locked_update(session, problem_id, version, values)
    session.expire(problem)
    event = ProblemEvent(problem_id=problem_id, action=action, from_status=from_status,
                         to_status=spec.target.value, actor=actor, at=now, note=note,
                         data={**data, **({"role": role.value} if role else {})})
    session.add(event)
    session.flush()
    for upload in attachments:
        add_photo(session, event, upload, clock=clock)
    return event


def add_photo(session: Session, event: ProblemEvent, upload: PhotoUpload, *, clock: Clock = system_clock) -> Attachment:
    """Store an evidence photo and attach it to a ledger event."""
    stored = store_photo(upload, now=clock())
    attachment = Attachment(event_id=event.id, filename=stored.filename, path=stored.path,
                            content_type=stored.content_type, size=stored.size, sha256=stored.sha256,
                            lon=stored.lon, lat=stored.lat, taken_at=as_utc(stored.taken_at))
    session.add(attachment)
    session.flush()
    return attachment


def attach_to_event(session: Session, problem_id: int, event_id: int, uploads: Sequence[PhotoUpload],
                    *, clock: Clock = system_clock) -> list[Attachment]:
    """Add evidence photos to an existing event of ``problem_id``."""
    event = session.get(ProblemEvent, event_id)
    if event is None or event.problem_id != problem_id:
        raise NotFound(f"问题 {problem_id} 没有编号为 {event_id} 的台账记录", code="event_not_found")
    if not uploads:
        raise BadRequest("没有收到照片；请以 multipart 字段 photos 上传 JPEG/PNG", code="no_photos")
    for upload in uploads:
        check_photo(upload)
    return [add_photo(session, event, u, clock=clock) for u in uploads]


EDITABLE = ("category", "description", "found_date", "source", "measures")


def edit_problem(session: Session, problem_id: int, *, actor: str, expected_version: int | None,
                 fields: Mapping[str, Any] | None = None, geometry: shapely.Geometry | None = None,
                 note: str | None = None, clock: Clock = system_clock) -> ProblemEvent:
    """Correct a site's descriptive fields or move it (re-deriving its jurisdiction); refused once final."""
    problem = _problem(session, problem_id)
    if problem.status in FINAL:
        raise Conflict(f"问题 {problem.code} 已{status_label(problem.status)}，台账记录不可修改；"
                       "如需重新处理请执行 reopen（回头看）", code="problem_final")
    fields = dict(fields or {})
    unknown = sorted(set(fields) - set(EDITABLE))
    if unknown:
        raise BadRequest(f"字段 {unknown} 不能直接修改；可修改：{', '.join(EDITABLE)}"
                         "（状态、时限、责任单位请通过流转操作修改）", code="field_not_editable")
    frame = site_frame(geometry if geometry is not None else shapely.Point(0, 0), fields)
    values: dict[str, Any] = {k: _plain(frame[k].iloc[0]) for k in fields if k in frame.columns}
    changes: dict[str, Any] = {k: {"from": _json(getattr(problem, k)), "to": _json(v)} for k, v in values.items()}
    if geometry is not None:
        if geometry.is_empty or not geometry.is_valid:
            raise BadRequest("新位置的几何无效或为空", code="bad_geometry")
        derived = jurisdiction_of(session, frame).iloc[0]
        moved = {"river_code": derived["river_code"], "town": derived["town"],
                 "inside_range": bool(derived["inside_range"]), "zone_type": derived["zone_type"]}
        for k, v in moved.items():
            changes[k] = {"from": _json(getattr(problem, k)), "to": _json(v)}
        values.update(moved)
        values["geom"] = func.ST_GeomFromWKB(shapely.to_wkb(geometry), 4490)
        changes["geometry"] = {"to": shapely.geometry.mapping(geometry)}
    if not values:
        raise BadRequest("没有要修改的内容", code="nothing_to_change")
    now = clock()
    values["updated_at"] = now
    version = problem.lock_version if expected_version is None else expected_version
    _locked_update(session, problem_id, version, values)
    event = ProblemEvent(problem_id=problem_id, action="move" if geometry is not None else "edit",
                         from_status=problem.status, to_status=problem.status, actor=actor, at=now,
                         note=note, data={"changes": changes})
    session.add(event)
    session.flush()
    return event


def _plain(value: Any) -> Any:
    """Return a pandas cell as a plain Python value."""
    if value is None:
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value.item() if hasattr(value, "item") else value


def _json(value: Any) -> Any:
    """Return ``value`` JSON-ready (dates as ISO text)."""
    return value.isoformat() if isinstance(value, dt.date) else value


def rederive_jurisdiction(session: Session, river_code: str | None = None, *, actor: str = "system",
                          clock: Clock = system_clock) -> int:
    """Re-derive the jurisdiction of open sites (all, or those near ``river_code``); return how many changed.

    Called when a new range or zone version is approved. Closed and dismissed items keep the
    jurisdiction they were filed under. The lock version is not bumped: jurisdiction is derived,
    and a range approval should not make every reviewer's pending step conflict.
    """
    final = [s.value for s in FINAL]
    query = _select().where(TABLE.c.status.not_in(final))
    if river_code is not None:
        ctx = _context(session)
        near = pd.concat([ctx["ranges"].loc[ctx["ranges"]["river_code"] == river_code].geometry,
                          ctx["rivers"].loc[ctx["rivers"]["code"] == river_code].geometry])
        box = _buffered_bounds(gpd.GeoSeries(near, crs="EPSG:4490"))
        clause = TABLE.c.river_code == river_code
        if box is not None:
            clause = or_(clause, bbox_filter(TABLE, box, session.get_bind().dialect.name))  # type: ignore[arg-type]
        query = query.where(clause)
    rows = [dict(r._mapping) for r in session.execute(query)]
    if not rows:
        return 0
    sites = gpd.GeoDataFrame(rows, geometry=shapely.from_wkb([r["wkb"] for r in rows]), crs="EPSG:4490")
    derived = jurisdiction_of(session, sites)
    now = clock()
    changed = 0
    for i, row in enumerate(rows):
        new = {"river_code": derived["river_code"].iloc[i], "town": derived["town"].iloc[i],
               "inside_range": bool(derived["inside_range"].iloc[i]), "zone_type": derived["zone_type"].iloc[i]}
        diff = {k: {"from": row[k], "to": v} for k, v in new.items() if row[k] != v}
        if not diff:
            continue
        session.execute(update(TABLE).where(TABLE.c.id == row["id"]).values(**new, updated_at=now))
        session.add(ProblemEvent(problem_id=row["id"], action="rederive", from_status=row["status"],
                                 to_status=row["status"], actor=actor, at=now,
                                 note="管理范围或岸线分区新版本批准后重新判定属地", data={"changes": diff}))
        changed += 1
    session.flush()
    return changed


# ---------------------------------------------------------------- deadlines and statistics


def _ledger_frame(session: Session, flt: ProblemFilter | None, today: dt.date) -> pd.DataFrame:
    """Return the columns statistics need, for the problems matching ``flt``."""
    cols = [TABLE.c[c] for c in ("id", "code", "status", "category", "town", "river_code", "responsible_unit",
                                 "deadline", "rectified_date", "closed_date")]
    query = select(*cols)
    if flt is not None:
        query = filtered(query, flt, session.get_bind().dialect.name, today)
    frame = pd.DataFrame([dict(r._mapping) for r in session.execute(query)],
                         columns=[c.key for c in cols])
    for c in ("deadline", "rectified_date", "closed_date"):
        frame[c] = frame[c].map(_as_date)
    return frame


def _summary(frame: pd.DataFrame, today: dt.date) -> dict[str, Any]:
    """Return counts by status and category, closure rate and on-time rate of ``frame``.

    closure rate = closed / (all − dismissed); on-time rate = items rectified on or before their
    deadline / items with a deadline that are rectified, closed or already overdue.
    """
    total = len(frame)
    by_status = {s.value: int((frame["status"] == s.value).sum()) for s in ProblemStatus}
    by_category = {c: int((frame["category"] == c).sum()) for c in get_catalogue()["problems"].field("category").values}
    counted = total - by_status["dismissed"]
    overdue = frame.apply(lambda r: is_overdue(r["status"], r["deadline"], today), axis=1) if total else pd.Series([])
    # Items recorded before the ledger kept rectified dates (imported history) fall back to their
    # closing date; done items with neither date cannot be judged and are left out of the rate.
    finished = frame["rectified_date"].where(frame["rectified_date"].notna(), frame["closed_date"])
    done = frame["status"].isin(["rectified", "closed"]) & frame["deadline"].notna() & finished.notna()
    due = frame["deadline"].notna() & (done | overdue.astype(bool))
    on_time = done & pd.Series(
        [bool(pd.notna(f) and pd.notna(d) and f <= d) for f, d in zip(finished, frame["deadline"], strict=True)],
        index=frame.index, dtype=bool)
    return {
        "total": total,
        "by_status": by_status,
        "by_category": by_category,
        "overdue": int(overdue.sum()) if total else 0,
        "closure_rate": round(by_status["closed"] / counted, 4) if counted else None,
        "on_time_rate": round(int(on_time.sum()) / int(due.sum()), 4) if int(due.sum()) else None,
    }


def statistics(session: Session, *, by: str | None = None, flt: ProblemFilter | None = None,
               clock: Clock = system_clock) -> dict[str, Any]:
    """Return ledger statistics overall and, with ``by`` = town | river | unit, per group."""
    if by is not None and by not in GROUPS:
        raise BadRequest(f"分组 {by!r} 无效；可选：{', '.join(GROUPS)}", code="bad_group")
    today = local_date(clock())
    frame = _ledger_frame(session, flt, today)
    out: dict[str, Any] = {"as_of": today.isoformat(), **_summary(frame, today)}
    if by is not None:
        column = GROUPS[by]
        out["by"] = by
        out["groups"] = [
            {"key": None if key == "" else key, **_summary(group, today)}
            for key, group in frame.assign(**{column: frame[column].fillna("")}).groupby(column, sort=True)
        ]
    return out


def overdue(session: Session, *, flt: ProblemFilter | None = None, clock: Clock = system_clock,
            limit: int = 1000) -> dict[str, Any]:
    """Return the overdue items (most overdue first) and their counts per town, river and unit."""
    today = local_date(clock())
    base = flt or ProblemFilter()
    chosen = ProblemFilter(**{**base.__dict__, "overdue": True})
    items, more = list_problems(session, chosen, sort="deadline", limit=limit, clock=clock)
    for item in items:
        item["days_overdue"] = (today - _as_date(item["deadline"])).days  # type: ignore[operator]
    frame = _ledger_frame(session, chosen, today)
    counts = {by: {str(k) if k != "" else "未判定": int(v)
                   for k, v in frame[col].fillna("").value_counts().sort_index().items()}
              for by, col in GROUPS.items()}
    return {"as_of": today.isoformat(), "count": len(frame), "items": items, "truncated": more,
            "by_town": counts["town"], "by_river": counts["river"], "by_unit": counts["unit"]}

