"""The checks of each feature on its own, run on each batch of a layer as it is read.

A batch's geometry (empty, type, validity; repaired with ``--fix``), its fields (required,
markup) and ``--river`` are checked before the next batch is read, so that a clean batch can be
stored and freed at once (see :mod:`gis_service.ingest.pipeline`). The findings are numbered over
the whole layer and listed in the order one pass over the whole layer gives, whatever the batch
size: each check's findings in feature order, the checks in their order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np

from gis_service.catalogue import LayerSpec
from gis_service.ingest.normalise import Finding
from gis_service.ingest.validation.checks import check_fields, check_geometries
from gis_service.ingest.validation.locate import Locator

# The order of check_geometries' and check_fields' findings over a whole layer (see ``in_layer_order``).
GEOMETRY_ORDER = {"empty_geometry": 0, "wrong_geometry_type": 1, "invalid_geometry": 2, "geometry_repaired": 2}
REQUIRED_CODES = {"missing_field", "missing_value"}


def apply_river(layer: LayerSpec, frame: gpd.GeoDataFrame, river: str | None, first: int = 0) -> list[Finding]:
    """Fill ``river_code`` from ``--river`` where blank; features naming another river are errors.

    ``first`` features of the layer come before ``frame``: findings carry numbers in the whole layer.
    """
    if not river or "river_code" not in layer.field_names or layer.field("river_code").derived:
        return []
    if "river_code" not in frame:
        frame["river_code"] = river
        return []
    codes = frame["river_code"]
    frame["river_code"] = codes.where(codes.notna(), river)
    other = frame["river_code"].astype(str) != river
    return [
        Finding(
            code="river_mismatch",
            feature=first + int(i) + 1,
            field="river_code",
            value=str(codes.iloc[i]),
            message=f"第 {first + i + 1} 个要素的河流编码为 {codes.iloc[i]}，与 --river {river} 不符",
            fix="去掉 --river，或改正该要素的河流编码",
        )
        for i in np.flatnonzero(other.to_numpy())
    ]


@dataclass
class FeatureChecks:
    """The per-feature checks of one import, batch after batch; their findings gathered in layer order."""

    layer: LayerSpec
    fix: bool = False
    river: str | None = None
    rivers: list[Finding] = field(default_factory=list)  # --river mismatches
    geometry: list[Finding] = field(default_factory=list)
    fields: list[Finding] = field(default_factory=list)
    batches: int = 0

    def run(
        self, frame: gpd.GeoDataFrame, first: int, mapped: set[str], reported: set[tuple[int, str]]
    ) -> tuple[gpd.GeoDataFrame, list[Finding]]:
        """Check a batch whose first feature is the layer's ``first + 1``-th; return it (repaired) and its findings.

        ``reported`` holds the (feature number, field) cells normalisation found unreadable.
        """
        frame = frame.reset_index(drop=True)
        found = apply_river(self.layer, frame, self.river, first)
        loc = Locator(frame, self.layer.key or ("code" if "code" in frame else None), first)
        frame, geometry = check_geometries(self.layer, frame, loc, self.fix)
        fields = check_fields(self.layer, frame, loc, mapped, reported, layer_wide=self.batches == 0)
        self.batches += 1
        self.rivers += found
        self.geometry += geometry
        self.fields += fields
        return frame, found + geometry + fields

    def findings(self) -> tuple[list[Finding], list[Finding]]:
        """Return the ``--river`` findings, and the geometry and field findings, in whole-layer order."""
        return self.rivers, in_layer_order(self.layer, self.geometry, self.fields)


def in_layer_order(layer: LayerSpec, geometry: list[Finding], fields: list[Finding]) -> list[Finding]:
    """Order batches' findings as one pass over the whole layer lists them.

    A pass lists empty, wrongly typed, then invalid geometries; then required fields field by field,
    then markup field by field; each in feature order, which the batches' order already gives (the
    sorts are stable).
    """
    position = {spec.name: i for i, spec in enumerate(layer.fields)}
    geometry = sorted(geometry, key=lambda f: GEOMETRY_ORDER.get(f.code, len(GEOMETRY_ORDER)))
    fields = sorted(fields, key=lambda f: (f.code not in REQUIRED_CODES, position.get(f.field or "", len(position))))
    return geometry + fields
