"""The shoreline ratio check as SPEC's JSON: rivers, banks, totals and towns."""

from __future__ import annotations

from pydantic import BaseModel


class BankRatio(BaseModel):
    """One bank of a river: length, length per zone type, ratio, gaps and overlaps (m)."""

    length_m: float
    zones_m: dict[str, float]
    ratio: float | None
    gaps_m: float
    overlaps_m: float


class RiverRatio(BaseModel):
    """One river: length, ratio, compliance and its banks."""

    code: str
    name: str | None
    important: bool
    length_m: float
    ratio: float | None
    compliant: bool
    banks: dict[str, BankRatio]


class RatioTotal(BaseModel):
    """The district (or important rivers') total."""

    rivers: int
    length_m: float | None
    ratio: float | None
    compliant: bool


class TownRatio(BaseModel):
    """One town's stretches: count, length per zone type and ratio."""

    code: str | None
    name: str | None
    count: int
    length_m: float | None
    zones_m: dict[str, float | None]
    ratio: float | None


class RatioReport(BaseModel):
    """The ratio check per river and bank, the total and per-town totals."""

    rivers: list[RiverRatio]
    total: RatioTotal
    towns: list[TownRatio]
    important_total: RatioTotal | None = None
    warnings: list[str] | None = None
