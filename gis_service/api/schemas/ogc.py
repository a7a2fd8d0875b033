"""OGC API documents: landing page, conformance, collections, queryables and tile sets.

Each is open: the standards allow members this service does not name here.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from gis_service.api.schemas.base import Link, Open


class Landing(Open):
    """The landing page: title, description and links to the API, conformance and collections."""

    title: str
    description: str | None = None
    links: list[Link]


class Conformance(BaseModel):
    """The conformance classes the API implements."""

    conformsTo: list[str]


class Collection(Open):
    """One collection (a layer): id, title, extent, CRS and links."""

    id: str
    title: str | None = None
    links: list[Link]


class Collections(Open):
    """Every collection."""

    links: list[Link]
    collections: list[Collection]


class ApiDocument(Open):
    """The OpenAPI 3.0 document of the OGC API."""

    openapi: str


class Queryables(Open):
    """The properties a filter or sort may name, as a JSON Schema."""

    properties: dict[str, Any]


class TileMatrixSetRef(Open):
    """A tile matrix set offered: id, URI and links."""

    id: str
    uri: str | None = None
    links: list[Link]


class TileMatrixSets(BaseModel):
    """The tile matrix sets tiles are served in."""

    tileMatrixSets: list[TileMatrixSetRef]


class TileSet(Open):
    """A collection's vector tile set."""

    title: str | None = None
    dataType: str
    crs: Any = None
    tileMatrixSetURI: str | None = None
    links: list[Link]


class TileSets(Open):
    """A collection's tile sets."""

    links: list[Link]
    tilesets: list[TileSet]


class TileJson(Open):
    """TileJSON 3.0 of a collection's tiles."""

    tilejson: str
    tiles: list[str]
    name: str | None = None
    minzoom: int | None = None
    maxzoom: int | None = None
    bounds: list[float] | None = None
    vector_layers: list[dict[str, Any]] = Field(default_factory=list)
