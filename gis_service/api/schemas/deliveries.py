"""Deliveries: their records, validation reports, version history and range comparisons."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from gis_service.api.schemas.base import Moment, Open


class Delivery(Open):
    """One delivery of a river's layer: version, status, source and decision."""

    id: int
    river_code: str
    layer: str
    version: int
    status: str
    feature_count: int | None
    filename: str | None
    source_encoding: str | None
    source_crs: str | None
    submitted_by: str | None
    submitted_at: Moment | None
    decided_by: str | None
    decided_at: Moment | None
    reason: str | None
    report: dict[str, Any] | None = None


class DeliveryList(BaseModel):
    """Deliveries, newest first."""

    deliveries: list[Delivery]


class RiverHistory(BaseModel):
    """A river's version history and its current version of each layer."""

    river_code: str
    current: dict[str, int]
    deliveries: list[Delivery]


class VersionRef(Open):
    """A delivery compared: its id, version and status."""

    id: int
    version: int
    status: str


class RangeDiff(Open):
    """Two versions of a river's range compared: areas (geodesic m²) and the largest shift (m)."""

    river_code: str
    from_: VersionRef = Field(alias="from")
    to: VersionRef
    area_from_m2: float
    area_to_m2: float
    area_added_m2: float
    area_removed_m2: float
    max_shift_m: float | None


class Finding(Open):
    """One problem found in a delivery: code, message, severity, and where (feature, field, position)."""

    code: str
    message: str
    severity: str
    feature: int | None = None
    feature_id: str | None = None
    field: str | None = None
    value: Any = None
    fix: str | None = None
    lon: float | None = None
    lat: float | None = None


class ImportReport(Open):
    """The validation report of an upload: how the file was read, counts, findings, and what was stored."""

    layer: str
    layer_label: str | None = None
    source: dict[str, Any] | None = None
    feature_count: int
    accepted: bool
    dry_run: bool
    counts: dict[str, int]
    codes: dict[str, int]
    findings: list[Finding]
    omitted: dict[str, int] | None = None
    stored: int | None = None
    deliveries: list[dict[str, Any]] | None = None
