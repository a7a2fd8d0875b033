"""Chief levels (区级 / 镇街级 / 村级) and chainage text (``K1+250`` or metres) as the roster writes them."""

from __future__ import annotations

import math
import re
from enum import StrEnum

from gis_service.catalogue import fold


class Level(StrEnum):
    """The level of a river chief, highest first."""

    DISTRICT = "district"
    TOWN = "town"
    VILLAGE = "village"

    @property
    def label(self) -> str:
        """The Chinese name of the level."""
        return LABELS[self]


LABELS = {Level.DISTRICT: "区级", Level.TOWN: "镇街级", Level.VILLAGE: "村级"}
ALIASES = {
    Level.DISTRICT: ("区级", "区", "县级", "区县级", "district"),
    Level.TOWN: ("镇街级", "镇级", "街道级", "乡镇级", "镇", "town"),
    Level.VILLAGE: ("村级", "村", "社区级", "村（社区）级", "village"),
}
ORDER = (Level.DISTRICT, Level.TOWN, Level.VILLAGE)
CHAINAGE = re.compile(r"^K(\d+)\+(\d+(?:\.\d+)?)$", re.IGNORECASE)


def parse_level(raw: object) -> Level | None:
    """Return the level a roster cell names (区级, 镇街级, 村级 or an alias), or None."""
    key = fold(str(raw or ""))
    for level, names in ALIASES.items():
        if key in {fold(n) for n in names}:
            return level
    return None


def levels_from(river_level: str | None) -> tuple[Level, ...]:
    """Return the chief levels a river needs: from its own level (河长级别) down to the village (default: all)."""
    try:
        top = Level(river_level) if river_level else Level.DISTRICT
    except ValueError:
        top = Level.DISTRICT
    return ORDER[ORDER.index(top) :]


def parse_chainage(raw: object) -> float | None:
    """Return metres from ``K1+250``, ``K1+250.5``, ``1250`` or a number; None when blank; raise ValueError else."""
    if raw is None or (isinstance(raw, float) and math.isnan(raw)):
        return None
    if isinstance(raw, int | float):
        value = float(raw)
    else:
        text = "".join(str(raw).split()).replace("＋", "+")
        if not text:
            return None
        match = CHAINAGE.match(text)
        value = float(match.group(1)) * 1000 + float(match.group(2)) if match else float(text)
    if not math.isfinite(value) or value < 0:
        raise ValueError(raw)
    return value
