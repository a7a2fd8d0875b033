"""Tables of the river chiefs (河长制): chiefs, their reach assignments, signboards, patrols, public reports.

Kept apart from :mod:`gis_service.db.models` (same ``Base``), and registered in its
``LAYER_MODELS`` so that the catalogue's ``reaches``, ``signboards`` and ``patrols`` layers are
served, exported and mapped like every other layer.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Date, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gis_service.db.models import LAYER_MODELS, Base, UTCDateTime, geometry, utcnow


class Chief(Base):
    """河长: a person in the roster, with the level, post, unit and phone (the phone is shown to staff only)."""

    __tablename__ = "chiefs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), index=True)
    level: Mapped[str] = mapped_column(String(16))
    post: Mapped[str | None] = mapped_column(String(128))
    unit: Mapped[str | None] = mapped_column(String(128))
    phone: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ChiefAssignment(Base):
    """A chief's reach (河段) of a river by chainage, from a start date to an end date (None: still in office)."""

    __tablename__ = "chief_assignments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chief_id: Mapped[int] = mapped_column(ForeignKey("chiefs.id"), index=True)
    # The chief's name and level are copied here so the reach layer reads like any other layer.
    chief_name: Mapped[str] = mapped_column(String(64))
    level: Mapped[str] = mapped_column(String(16))
    river_code: Mapped[str] = mapped_column(String(64), index=True)
    start_m: Mapped[float] = mapped_column(Float)
    end_m: Mapped[float] = mapped_column(Float)
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date | None] = mapped_column(Date, index=True)
    attrs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    geom = mapped_column(geometry("LINESTRING"), nullable=False)


class Signboard(Base):
    """公示牌: a board on a reach, with the text it carries as printed; 待更新 when the roster moved on."""

    __tablename__ = "signboards"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    river_code: Mapped[str] = mapped_column(String(64), index=True)
    start_m: Mapped[float] = mapped_column(Float)
    end_m: Mapped[float] = mapped_column(Float)
    board_text: Mapped[str] = mapped_column(Text)
    chiefs: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="current", index=True)
    printed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    attrs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    geom = mapped_column(geometry("POINT"), nullable=False)


class Patrol(Base):
    """巡河: one patrol track of a chief on a river, with its length, duration and reach coverage."""

    __tablename__ = "patrols"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chief_id: Mapped[int | None] = mapped_column(ForeignKey("chiefs.id"), index=True)
    chief_name: Mapped[str | None] = mapped_column(String(64))
    river_code: Mapped[str] = mapped_column(String(64), index=True)
    patrol_date: Mapped[dt.date] = mapped_column(Date, index=True)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    length_m: Mapped[float] = mapped_column(Float)
    duration_s: Mapped[float | None] = mapped_column(Float)
    coverage: Mapped[float] = mapped_column(Float)
    joint_units: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[str | None] = mapped_column(Text)
    uploaded_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    attrs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    geom = mapped_column(geometry("MULTILINESTRING"), nullable=False)


class PublicReport(Base):
    """群众举报: a citizen's report awaiting moderation; the contact and the address hash are never published."""

    __tablename__ = "public_reports"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(32), unique=True)
    category: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(Text)
    contact: Mapped[str | None] = mapped_column(String(128))
    channel: Mapped[str] = mapped_column(String(16), default="web")
    client_hash: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    reason: Mapped[str | None] = mapped_column(Text)
    problem_id: Mapped[int | None] = mapped_column(ForeignKey("problems.id"))
    photos: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    decided_by: Mapped[str | None] = mapped_column(String(128))
    geom = mapped_column(geometry("POINT"), nullable=False)


LAYER_MODELS.update({"chief_assignments": ChiefAssignment, "signboards": Signboard, "patrols": Patrol})
