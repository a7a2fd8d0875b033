"""The outfall register (一口一档): features, files and statistics."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from gis_service.api.schemas.base import Geometry, Moment, Open


class OutfallProperties(Open):
    """An outfall's fields, zone and check flags (and the layer's extra fields)."""

    id: int
    lock_version: int
    code: str | None
    name: str | None
    river_code: str | None
    outfall_type: str | None
    status: str | None
    stage: str | None
    outcome: str | None
    responsible: str | None
    zone_type: str | None
    flags: list[str] | None
    flag_labels: list[str]


class OutfallFeature(Open):
    """One outfall as a GeoJSON Feature."""

    type: str
    geometry: Geometry | None
    id: int | None = None
    properties: OutfallProperties


class OutfallCollection(BaseModel):
    """The register as a GeoJSON FeatureCollection."""

    type: str
    features: list[OutfallFeature]
    numberReturned: int


class OutfallChange(Open):
    """One change of an outfall's file, with its photos."""

    id: int
    action: str
    actor: str | None
    at: Moment | None
    note: str | None
    changes: dict[str, Any] | None
    attachments: list[dict[str, Any]]


class OutfallFile(OutfallFeature):
    """One outfall with its file: every change, with its photos."""

    history: list[OutfallChange]


class OutfallStats(Open):
    """The register's counts by type, stage, outcome and status, and the flagged checks."""

    total: int
    by_type: dict[str, int]
    by_stage: dict[str, int]
    by_outcome: dict[str, int]
    by_status: dict[str, int]
    flagged: int
    flags: dict[str, int]
    flag_labels: dict[str, str]


class OutfallPhotos(BaseModel):
    """The photos just attached to an event of the file."""

    attachments: list[dict[str, Any]]


class OutfallDeleted(BaseModel):
    """An outfall removed, and its state at removal."""

    deleted: int
    snapshot: dict[str, Any]
