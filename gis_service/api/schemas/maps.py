"""The web maps' data: compact problem columns, a site's popup record, display GeoJSON."""

from __future__ import annotations

from gis_service.api.schemas.base import FeatureCollection, Open


class ProblemColumns(Open):
    """Problem sites as compact columns: ids, integer coordinates (delta-encoded text), status and category codes."""

    v: int
    n: int | None = None
    mode: str | None = None
    scale: int | None = None
    status: list[str]
    category: list[str]


class ProblemClusters(Open):
    """Server-side clusters: per grid cell its mean position, site count, and the site of a one-site cell."""

    v: int
    zoom: int
    cell: float
    n: int
    x: list[float]
    y: list[float]
    count: list[int]
    id: list[int | None]
    sc: list[int | None]
    total: int | None = None
    counts: dict[str, int] | None = None


class ProblemRecord(Open):
    """One site's popup record (raw values)."""

    id: int
    status: str
    category: str | None = None
    overdue: bool
    url: str


class MapLayer(FeatureCollection):
    """A layer's features for the map, each with a style and a popup."""

    layer: str
    truncated: bool | None = None
