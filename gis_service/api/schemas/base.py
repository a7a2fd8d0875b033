"""Shared pieces of the response models: the open base model, links and GeoJSON features."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict

# Some routes hand dates and times to FastAPI as objects, others as ISO text they wrote themselves:
# both are accepted and each is written back as it came (objects as ISO 8601, text unchanged).
Day = dt.date | str
Moment = dt.datetime | str


class Open(BaseModel):
    """A response part that may carry more fields than it names (catalogue fields, details)."""

    model_config = ConfigDict(extra="allow")


class Link(Open):
    """A link to a related resource (the next page, an alternate format)."""

    rel: str
    href: str
    type: str | None = None


class Geometry(Open):
    """A GeoJSON geometry (lon/lat, EPSG:4490)."""

    type: str
    coordinates: Any = None


class Feature(Open):
    """A GeoJSON Feature whose properties are the layer's fields."""

    type: str
    geometry: Geometry | None = None
    properties: dict[str, Any] | None = None
    id: int | str | None = None


class FeatureCollection(Open):
    """A GeoJSON FeatureCollection, with paging fields where the route pages."""

    type: str
    features: list[Feature]
    numberReturned: int | None = None
    links: list[Link] | None = None
