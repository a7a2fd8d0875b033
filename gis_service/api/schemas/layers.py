"""The layer catalogue as the API lists it."""

from __future__ import annotations

from pydantic import BaseModel


class LayerField(BaseModel):
    """One field of a layer: name, type, Chinese label, whether required, coded values."""

    name: str
    type: str
    label: str
    required: bool
    values: dict[str, str] | None


class LayerInfo(BaseModel):
    """One layer of the catalogue."""

    name: str
    label: str
    geometry_types: list[str]
    versioned: bool
    fields: list[LayerField]


class LayerList(BaseModel):
    """Every layer of the catalogue."""

    layers: list[LayerInfo]
