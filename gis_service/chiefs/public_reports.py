"""Public reports (群众举报): intake with a per-address rate limit, public status, moderation into the ledger.

A citizen's report waits in a moderation queue; staff accept it (it becomes a ledger site with
source 群众举报 and its jurisdiction derived by the ledger's own reporting) or decline it with a
reason the reporter sees. The contact and the address are never shown publicly.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Sequence
from typing import Any

import shapely
from geoalchemy2.elements import WKBElement
from geoalchemy2.shape import to_shape
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from gis_service.catalogue import FieldSpec, LayerSpec, catalogue_for
from gis_service.chiefs.public_photos import photo_position, store_public_photo
from gis_service.clock import BusinessClock
from gis_service.db.models import SRID, Attachment, Problem, ProblemEvent
from gis_service.db.models_chiefs import PublicReport
from gis_service.district import district_for
from gis_service.errors import BadRequest, Conflict, NotFound, PayloadTooLarge, ServiceError
from gis_service.ledger.common import as_utc
from gis_service.ledger.location import POINT_ONLY, site_geometry
from gis_service.ledger.photos import PhotoUpload
from gis_service.ledger.reporting import report_new, site_frame
from gis_service.settings import Settings

STATUS_LABELS = {"pending": "待审核", "accepted": "已受理", "declined": "不予受理"}
REFERENCE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read over the phone
MAX_DESCRIPTION = 2000
MAX_CONTACT = 128


class TooManyReports(ServiceError):
    """Too many public reports from one address within the window."""

    code = "too_many_reports"
    http_status = 429


def client_hash(address: str) -> str:
    """Return the stored stand-in of a client address (a hash: the address itself is not kept)."""
    return hashlib.sha256(f"rivergis-public-report:{address}".encode()).hexdigest()


def _reference(today: dt.date) -> str:
    """Return a new reference: the date and eight random characters, not guessable from another's."""
    tail = "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(8))
    return f"JB{today:%Y%m%d}-{tail}"


def check_rate(session: Session, address: str, now: dt.datetime, rules: Settings) -> None:
    """Refuse a report when the address has sent the limit (of ``rules``, the settings) within the window."""
    since = now - dt.timedelta(minutes=rules.public_report_window_minutes)
    count = session.execute(
        select(func.count())
        .select_from(PublicReport)
        .where(PublicReport.client_hash == client_hash(address), PublicReport.created_at >= since)
    ).scalar_one()
    if count >= rules.public_report_limit:
        raise TooManyReports(
            f"同一网络 {rules.public_report_window_minutes} 分钟内最多提交 {rules.public_report_limit} 条举报；"
            "请稍后再试，紧急情况请拨打监督电话 " + rules.hotline,
            details={"retry_after_s": rules.public_report_window_minutes * 60},
        )


def _category(spec: FieldSpec, raw: str) -> str:
    """Return the ledger category (of ``spec``) a report names (code, label or alias), or say which are allowed."""
    code = spec.canonical_value(raw or "")
    if code is None:
        allowed = "、".join(f"{v.label}({v.code})" for v in spec.values.values())
        raise BadRequest(f"举报类别 {raw!r} 无法识别；可选：{allowed}", code="unknown_category")
    return code


def submit(
    session: Session,
    *,
    lon: float | None,
    lat: float | None,
    category: str,
    description: str,
    contact: str | None,
    photos: Sequence[PhotoUpload],
    address: str,
    settings: Settings,
    clock: BusinessClock,
    channel: str = "web",
    use_photo_location: bool = False,
) -> dict[str, Any]:
    """Take a public report: checked, rate-limited, photos stored without EXIF; return its reference."""
    now = clock.now()
    check_rate(session, address, now, settings)
    text = (description or "").strip()
    if not text:
        raise BadRequest("请描述看到的问题（description 必填）", code="missing_description")
    if len(text) > MAX_DESCRIPTION:
        raise BadRequest(f"问题描述最多 {MAX_DESCRIPTION} 字，收到 {len(text)} 字", code="description_too_long")
    if contact and len(contact) > MAX_CONTACT:
        raise BadRequest(f"联系方式最多 {MAX_CONTACT} 字", code="contact_too_long")
    problems = catalogue_for(settings)["problems"]
    code = _category(problems.field("category"), category)
    limit = settings.public_report_max_photos
    if len(photos) > limit:
        raise PayloadTooLarge(f"一次最多上传 {limit} 张照片，收到 {len(photos)} 张", code="too_many_photos")
    # Every photo and the place are checked before any file is written: a refusal leaves nothing behind.
    positions = [photo_position(upload, settings.max_photo_mb) for upload in photos]
    if (lon is None or lat is None) and use_photo_location:
        # The reporter allowed the photo's own position to stand for the place.
        lon, lat = next(((x, y) for x, y in positions if x is not None and y is not None), (lon, lat))
    point = site_geometry(lon, lat, None, None, district_for(settings), POINT_ONLY)
    stored = [store_public_photo(upload, now, settings) for upload in photos]
    report = PublicReport(
        reference=_reference(clock.today()),
        category=code,
        description=text,
        contact=(contact or "").strip() or None,
        channel=channel,
        client_hash=client_hash(address),
        status="pending",
        photos=[
            {"filename": p.filename, "path": p.path, "content_type": p.content_type, "size": p.size, "sha256": p.sha256}
            for p in stored
        ],
        created_at=now,
        geom=WKBElement(shapely.to_wkb(point), srid=SRID),
    )
    session.add(report)
    session.flush()
    return {"reference": report.reference, "status": report.status, "status_label": STATUS_LABELS["pending"]}


def _by_reference(session: Session, reference: str) -> PublicReport:
    """Return the report with ``reference``, or a 404 that does not say whether others exist."""
    report = session.execute(
        select(PublicReport).where(PublicReport.reference == reference.strip().upper())
    ).scalar_one_or_none()
    if report is None:
        raise NotFound(f"没有编号为 {reference} 的举报；请核对举报编号", code="report_not_found")
    return report


def public_status(session: Session, problems: LayerSpec, reference: str) -> dict[str, Any]:
    """Return what the reporter may see: status, reason when declined, the ledger state when accepted."""
    report = _by_reference(session, reference)
    category = problems.field("category")
    created, decided = as_utc(report.created_at), as_utc(report.decided_at)
    out: dict[str, Any] = {
        "reference": report.reference,
        "status": report.status,
        "status_label": STATUS_LABELS.get(report.status, report.status),
        "category": report.category,
        "category_label": category.value_label(report.category),
        "created_at": created.isoformat() if created else None,
        "decided_at": decided.isoformat() if decided else None,
        "reason": report.reason if report.status == "declined" else None,
        "photos": len(report.photos or []),
    }
    if report.problem_id is not None:
        problem = session.get(Problem, report.problem_id)
        if problem is not None:
            status = problems.field("status")
            out.update(problem_code=problem.code, problem_status=status.value_label(problem.status))
    return out


def staff_record(report: PublicReport) -> dict[str, Any]:
    """Return a report for the moderation queue (staff only: with the contact)."""
    point = to_shape(report.geom) if report.geom is not None else None
    created = as_utc(report.created_at)
    return {
        "reference": report.reference,
        "status": report.status,
        "category": report.category,
        "description": report.description,
        "contact": report.contact,
        "channel": report.channel,
        "lon": point.x if point is not None else None,
        "lat": point.y if point is not None else None,
        "photos": report.photos,
        "created_at": created.isoformat() if created else None,
        "reason": report.reason,
        "problem_id": report.problem_id,
    }


def queue(session: Session, status: str | None = "pending") -> list[dict[str, Any]]:
    """Return the reports awaiting moderation (or of another status), oldest first."""
    query = select(PublicReport).order_by(PublicReport.created_at, PublicReport.id)
    if status:
        query = query.where(PublicReport.status == status)
    return [staff_record(r) for r in session.execute(query).scalars()]


def _pending(session: Session, reference: str) -> PublicReport:
    """Return a report still awaiting moderation, or say it was already decided."""
    report = _by_reference(session, reference)
    if report.status != "pending":
        raise Conflict(
            f"举报 {report.reference} 已{STATUS_LABELS.get(report.status, report.status)}，不能再次审核",
            code="report_already_decided",
        )
    return report


def accept(
    session: Session,
    reference: str,
    *,
    actor: str,
    settings: Settings,
    clock: BusinessClock,
    category: str | None = None,
) -> dict[str, Any]:
    """Accept a report: file it in the ledger (source 群众举报, jurisdiction derived), photos as its evidence."""
    report = _pending(session, reference)
    problems = catalogue_for(settings)["problems"]
    point = to_shape(report.geom)
    fields = {
        "category": _category(problems.field("category"), category) if category else report.category,
        "description": report.description,
        "source": "群众举报",
        "found_date": clock.local_date(as_utc(report.created_at) or clock.now()),
    }
    note = f"群众举报 {report.reference}"
    pid = report_new(
        session, site_frame(problems, point, fields), actor=actor, settings=settings, clock=clock, note=note
    )[0]
    event_id = (
        session.execute(select(ProblemEvent.id).where(ProblemEvent.problem_id == pid).order_by(ProblemEvent.id))
        .scalars()
        .first()
    )
    if report.photos and event_id is not None:
        session.execute(
            insert(Attachment),
            [
                {
                    "event_id": event_id,
                    "filename": p["filename"],
                    "path": p["path"],
                    "content_type": p["content_type"],
                    "size": p["size"],
                    "sha256": p["sha256"],
                }
                for p in report.photos
            ],
        )
    report.status, report.problem_id = "accepted", pid
    report.decided_at, report.decided_by = clock.now(), actor
    session.flush()
    problem = session.get(Problem, pid)
    return {
        **staff_record(report),
        "problem": {
            "id": pid,
            "code": problem.code if problem else None,
            "river_code": problem.river_code if problem else None,
            "town": problem.town if problem else None,
        },
    }


def decline(session: Session, reference: str, *, reason: str, actor: str, clock: BusinessClock) -> dict[str, Any]:
    """Decline a report with a reason the reporter will see."""
    if not (reason or "").strip():
        raise BadRequest("不予受理须说明原因（reason），举报人可以看到", code="missing_reason")
    report = _pending(session, reference)
    report.status, report.reason = "declined", reason.strip()[:2000]
    report.decided_at, report.decided_by = clock.now(), actor
    session.flush()
    return staff_record(report)
