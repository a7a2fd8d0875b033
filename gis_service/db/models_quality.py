"""Tables of water quality, source protection, 一河一策 tasks and river health (issue 18).

They share :class:`gis_service.db.models.Base`; sections and source protection zones are
catalogue layers (``layers/sections.toml``, ``layers/source_zones.toml``) and so join
``LAYER_MODELS`` (``models`` imports this module at its end). Sample values are kept as
delivered (indicator key → value, in ``values``) next to the class computed from them, so a
class can always be traced to its figures.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Date, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gis_service.db.models import LAYER_MODELS, Base, UTCDateTime, geometry, utcnow


class Section(Base):
    """水质断面: a monitoring section on a river, with its level and its water-quality target."""

    __tablename__ = "sections"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(256))
    level: Mapped[str | None] = mapped_column(String(16))
    river_code: Mapped[str | None] = mapped_column(String(64), index=True)
    target: Mapped[str | None] = mapped_column(String(8))
    waterbody: Mapped[str | None] = mapped_column(String(16))
    chainage_m: Mapped[float | None] = mapped_column(Float)
    attrs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    geom = mapped_column(geometry("POINT"), nullable=False)


class Sample(Base):
    """One monitoring result of a section on a date: the values as delivered and their GB 3838 class."""

    __tablename__ = "samples"
    __table_args__ = (UniqueConstraint("section_code", "sampled_on", name="uq_sample_section_date"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    section_code: Mapped[str] = mapped_column(String(64), index=True)
    sampled_on: Mapped[dt.date] = mapped_column(Date, index=True)
    values: Mapped[dict[str, Any]] = mapped_column(default=dict)
    quality_class: Mapped[str | None] = mapped_column(String(8))
    deciding: Mapped[list[str]] = mapped_column(JSON, default=list)
    imported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SourceZone(Base):
    """饮用水水源保护区: a protection zone (一级/二级/准保护区) of an urban or township source."""

    __tablename__ = "source_zones"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(256))
    source_name: Mapped[str | None] = mapped_column(String(256))
    level: Mapped[str] = mapped_column(String(16))
    source_type: Mapped[str] = mapped_column(String(16))
    section_code: Mapped[str | None] = mapped_column(String(64))
    attrs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    geom = mapped_column(geometry(), nullable=False)


class RiverTask(Base):
    """一河一策 task: per river and year, a measure with its responsible unit, deadline and target figure."""

    __tablename__ = "river_tasks"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    river_code: Mapped[str] = mapped_column(String(64), index=True)
    year: Mapped[int] = mapped_column(Integer, index=True)
    task: Mapped[str] = mapped_column(Text)
    measure: Mapped[str | None] = mapped_column(Text)
    responsible_unit: Mapped[str | None] = mapped_column(String(256), index=True)
    lead_unit: Mapped[str | None] = mapped_column(String(256))
    town: Mapped[str | None] = mapped_column(String(128))
    deadline: Mapped[dt.date | None] = mapped_column(Date, index=True)
    target_value: Mapped[float | None] = mapped_column(Float)
    unit: Mapped[str | None] = mapped_column(String(32))
    link_layer: Mapped[str | None] = mapped_column(String(32))
    link_code: Mapped[str | None] = mapped_column(String(64))
    # The latest reported progress in percent (0–100), kept here so lists need no join.
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    done_on: Mapped[dt.date | None] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class TaskProgress(Base):
    """One progress report of a task: the date, a percentage or a value, a note and evidence."""

    __tablename__ = "river_task_progress"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("river_tasks.id"), index=True)
    reported_on: Mapped[dt.date] = mapped_column(Date)
    percent: Mapped[float | None] = mapped_column(Float)
    value: Mapped[float | None] = mapped_column(Float)
    note: Mapped[str | None] = mapped_column(Text)
    evidence: Mapped[list[str]] = mapped_column(JSON, default=list)
    actor: Mapped[str] = mapped_column(String(128))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class HealthAssessment(Base):
    """河流健康档案: one river's health score for a year, kept with the inputs and configuration behind it."""

    __tablename__ = "river_health"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    river_code: Mapped[str] = mapped_column(String(64), index=True)
    year: Mapped[int] = mapped_column(Integer)
    score: Mapped[float | None] = mapped_column(Float)
    grade: Mapped[str | None] = mapped_column(String(16))
    inputs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    actor: Mapped[str] = mapped_column(String(128))
    computed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


QUALITY_LAYER_MODELS: dict[str, type[Base]] = {"sections": Section, "source_zones": SourceZone}
LAYER_MODELS.update(QUALITY_LAYER_MODELS)
