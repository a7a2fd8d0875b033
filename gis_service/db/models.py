"""The relational model: one table a layer, plus deliveries, the ledger, tokens and the audit log.

Geometries are stored in EPSG:4490 (CGCS2000). Typed columns hold what queries filter on;
catalogue fields without a column of their own live in ``attrs`` (JSON), so a field added
to the catalogue is stored and exported without a schema change.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

SRID = 4490


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A moment stored in UTC and read back timezone-aware on both backends.

    PostgreSQL keeps the offset; SQLite stores text without one, so a value read from SpatiaLite
    would otherwise come back naive and reach JSON without its ``+00:00``.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        """Store aware moments in UTC; a naive one is taken to be UTC already."""
        if value is None:
            return None
        return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        """Return the stored moment as an aware UTC datetime."""
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def utcnow() -> dt.datetime:
    """Return the current UTC time (timezone-aware)."""
    return dt.datetime.now(dt.UTC)


def geometry(kind: str = "GEOMETRY") -> Any:
    """Return a geometry column type of ``kind`` in EPSG:4490 with a spatial index."""
    return Geometry(geometry_type=kind, srid=SRID, spatial_index=True)


class Base(DeclarativeBase):
    """Declarative base of all tables."""

    type_annotation_map = {dict[str, Any]: JSON}


class Town(Base):
    """镇街: a town or street polygon."""

    __tablename__ = "towns"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    attrs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    geom = mapped_column(geometry("MULTIPOLYGON"), nullable=False)


class River(Base):
    """河流: a river centerline in flow direction."""

    __tablename__ = "rivers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    level: Mapped[str | None] = mapped_column(String(16))
    important: Mapped[bool] = mapped_column(Boolean, default=False)
    basin_area_km2: Mapped[float | None] = mapped_column(Float)
    towns: Mapped[str | None] = mapped_column(Text)
    chiefs: Mapped[str | None] = mapped_column(Text)
    attrs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    geom = mapped_column(geometry("MULTILINESTRING"), nullable=False)


class Delivery(Base):
    """A versioned delivery of one river's range, stakes or zone set (submitted → approved/rejected)."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("river_code", "layer", "version", name="uq_delivery_version"),
        # At most one approved (current) version of a river's layer: migration 0006.
        Index(
            "uq_delivery_one_approved",
            "river_code",
            "layer",
            unique=True,
            postgresql_where=text("status = 'approved'"),
            sqlite_where=text("status = 'approved'"),
        ),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    river_code: Mapped[str] = mapped_column(String(64), index=True)
    layer: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="submitted", index=True)
    filename: Mapped[str | None] = mapped_column(Text)
    source_encoding: Mapped[str | None] = mapped_column(String(32))
    source_crs: Mapped[str | None] = mapped_column(String(64))
    feature_count: Mapped[int] = mapped_column(Integer, default=0)
    submitted_by: Mapped[str | None] = mapped_column(String(128))
    submitted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decided_by: Mapped[str | None] = mapped_column(String(128))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    reason: Mapped[str | None] = mapped_column(Text)
    report_row: Mapped[DeliveryReport | None] = relationship(lazy="select")

    @property
    def report(self) -> dict[str, Any]:
        """The delivery's validation report (empty until the import attached it)."""
        return self.report_row.report if self.report_row is not None else {}


class DeliveryReport(Base):
    """A delivery's validation report, in a table of its own: written once (one COPY for an import's
    10 000 deliveries) when the import's report is complete, and the deliveries rows stay narrow. On PostGIS
    migration 0016 checks its delivery reference with statement-level triggers, as the features' (below)."""

    __tablename__ = "delivery_reports"
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id"), primary_key=True)
    report: Mapped[dict[str, Any]] = mapped_column()


# The features of versioned layers name their delivery. On PostGIS migration 0003 checks that
# reference with statement-level triggers instead of these foreign keys (one set-based check per
# COPY rather than a lookup per row); SpatiaLite keeps the foreign keys.


class Boundary(Base):
    """河道管理范围: a range polygon, or one bank's range line (管理范围线), of a delivery."""

    __tablename__ = "boundaries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id"), index=True)
    river_code: Mapped[str] = mapped_column(String(64))  # found through the delivery's (migration 0015)
    bank: Mapped[str | None] = mapped_column(String(8))
    surveyor: Mapped[str | None] = mapped_column(String(128))
    survey_date: Mapped[dt.date | None] = mapped_column(Date)
    attrs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    geom = mapped_column(geometry(), nullable=False)


class Stake(Base):
    """界桩 / 告示牌: a boundary stake or sign."""

    __tablename__ = "stakes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[int | None] = mapped_column(ForeignKey("deliveries.id"), index=True)
    code: Mapped[str] = mapped_column(String(64))
    river_code: Mapped[str] = mapped_column(String(64))  # found through the delivery's (migration 0015)
    kind: Mapped[str] = mapped_column(String(16), default="stake")
    bank: Mapped[str | None] = mapped_column(String(8))
    attrs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    geom = mapped_column(geometry("POINT"), nullable=False)


class Zone(Base):
    """岸线功能区: one zone stretch of a bank, from a zone-set delivery."""

    __tablename__ = "zones"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id"), index=True)
    code: Mapped[str | None] = mapped_column(String(64))
    river_code: Mapped[str] = mapped_column(String(64))  # found through the delivery's (migration 0015)
    bank: Mapped[str] = mapped_column(String(8))
    zone_type: Mapped[str] = mapped_column(String(16))
    start_chainage: Mapped[str | None] = mapped_column(String(32))
    end_chainage: Mapped[str | None] = mapped_column(String(32))
    basis: Mapped[str | None] = mapped_column(Text)
    attrs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    geom = mapped_column(geometry(), nullable=False)  # on PostGIS indexed by SP-GiST (migration 0014)


class Outfall(Base):
    """入河排污口: one outfall of the register (一口一档)."""

    __tablename__ = "outfalls"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(256))
    river_code: Mapped[str | None] = mapped_column(String(64), index=True)
    outfall_type: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="active")
    stage: Mapped[str | None] = mapped_column(String(16))
    outcome: Mapped[str | None] = mapped_column(String(16))
    responsible: Mapped[str | None] = mapped_column(String(256))
    lock_version: Mapped[int] = mapped_column(Integer, default=1)
    attrs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    geom = mapped_column(geometry("POINT"), nullable=False)


class Problem(Base):
    """问题点: a 清四乱 or flood-obstruction problem site in the ledger (台账)."""

    __tablename__ = "problems"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    category: Mapped[str] = mapped_column(String(32), index=True)
    description: Mapped[str | None] = mapped_column(Text)
    river_code: Mapped[str | None] = mapped_column(String(64), index=True)
    town: Mapped[str | None] = mapped_column(String(128), index=True)
    inside_range: Mapped[bool | None] = mapped_column(Boolean)
    zone_type: Mapped[str | None] = mapped_column(String(16))
    found_date: Mapped[dt.date | None] = mapped_column(Date, index=True)
    source: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="reported", index=True)
    deadline: Mapped[dt.date | None] = mapped_column(Date, index=True)
    responsible_unit: Mapped[str | None] = mapped_column(String(256))
    measures: Mapped[str | None] = mapped_column(Text)
    closed_date: Mapped[dt.date | None] = mapped_column(Date)
    # Set when the item is recorded rectified (已整改): the on-time rate compares it to the deadline.
    rectified_date: Mapped[dt.date | None] = mapped_column(Date)
    lock_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    attrs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    geom = mapped_column(geometry(), nullable=False)


class ProblemEvent(Base):
    """One step of a problem's ledger: who did what, when, from which status to which."""

    __tablename__ = "problem_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    problem_id: Mapped[int] = mapped_column(ForeignKey("problems.id"), index=True)
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(128))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    note: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Attachment(Base):
    """Evidence attached to a ledger event (a photo), stored under the data folder."""

    __tablename__ = "attachments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("problem_events.id"), index=True)
    filename: Mapped[str] = mapped_column(String(256))
    path: Mapped[str] = mapped_column(Text)
    content_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    taken_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class OutfallEvent(Base):
    """One step of an outfall's file (一口一档): registration, a campaign stage or outcome, an edit."""

    __tablename__ = "outfall_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    outfall_id: Mapped[int] = mapped_column(ForeignKey("outfalls.id"), index=True)
    action: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(128))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    note: Mapped[str | None] = mapped_column(Text)
    changes: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Token(Base):
    """An API token, stored as a SHA-256 hash, with its role."""

    __tablename__ = "tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class AuditEntry(Base):
    """One write, as recorded in the audit log."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(128))
    role: Mapped[str | None] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


LAYER_MODELS: dict[str, type[Base]] = {
    "towns": Town,
    "rivers": River,
    "boundaries": Boundary,
    "stakes": Stake,
    "zones": Zone,
    "outfalls": Outfall,
    "problems": Problem,
}


class User(Base):
    """A person who logs in to the web workbench: a username, a unit and a role (viewer, surveyor, admin)."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(128), default="")
    unit: Mapped[str] = mapped_column(String(128), default="")
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(256))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    password_changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class WebSession(Base):
    """A logged-in browser: the cookie's id stored hashed, its CSRF secret, and when it ends."""

    __tablename__ = "web_sessions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    csrf_secret: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
