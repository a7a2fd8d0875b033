"""The checks of zone stretches and stakes against their river, run on each batch of a layer as it is read.

Each stretch's bank side and place within its river's approved range, and each stake's distance to
the range line, depend only on the feature and the context (the delivery's rivers and ranges, read
before the first batch): they run as the batches come, while earlier batches are being written,
and the whole-layer stage only adds their findings. One centerline index and one metric frame serve
every batch, so a finding does not depend on the batch size; the rivers without an approved range
are named once. Range deliveries are checked whole (:func:`~.validate.validate`): a river's range
is the union of its polygons.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
from pyproj import CRS

from gis_service.analysis.shoreline.chainage import CenterlineIndex
from gis_service.analysis.shoreline.line_ends import LineEnds
from gis_service.analysis.shoreline.ratios import centerline_index
from gis_service.catalogue import LayerSpec
from gis_service.ingest.crs import local_metric_crs
from gis_service.ingest.normalise import Finding
from gis_service.ingest.validation.locate import Locator
from gis_service.ingest.validation.river_checks import (
    STAKES_WITHOUT_RANGE,
    ZONES_WITHOUT_RANGE,
    MergedRanges,
    RiverGeometry,
    check_sides,
    check_stakes_on_line,
    check_zones_in_range,
    no_range,
)
from gis_service.ingest.validation.validate import GEOMETRY_CODES, Context

BATCHED = {"zones", "stakes"}


@dataclass
class RiverBatches:
    """The river checks of one zone-set or stake delivery, batch after batch, their findings in layer order."""

    layer: LayerSpec
    ctx: Context
    metric: CRS  # the local metric frame of the delivery's rivers
    centerlines: CenterlineIndex | None = None
    sides: list[Finding] = field(default_factory=list)
    placed: list[Finding] = field(default_factory=list)
    unranged: set[str] = field(default_factory=set)
    stopped: bool = False
    ends: LineEnds | None = None  # the last batch's stretch ends on their centerlines, for the ratio check
    merged: MergedRanges = field(default_factory=dict)  # see RiverGeometry

    @classmethod
    def of(cls, layer: LayerSpec, ctx: Context) -> RiverBatches | None:
        """Return the river checks of ``layer`` to run per batch, or None when it is checked whole.

        The metric frame is centred on the delivery's rivers: every batch measures in the same one.
        """
        if layer.name not in BATCHED:
            return None
        # Built at once for a zone set: the bank sides and the ratio check share it from the first batch.
        index = centerline_index(ctx.rivers) if layer.name == "zones" and not ctx.rivers.empty else None
        return cls(layer, ctx, local_metric_crs(ctx.rivers, ctx.district), index)

    def run(self, frame: gpd.GeoDataFrame, first: int, found: list[Finding]) -> list[Finding]:
        """Check a batch (``first`` features before it) whose per-feature findings are ``found``; return its findings.

        After a geometry error the river checks stop: the delivery is rejected for it, and the
        whole-layer stage reports no river findings then (as a whole read would not run them).
        """
        self.ends = None
        if self.stopped or any(f.severity == "error" and f.code in GEOMETRY_CODES for f in found):
            self.stopped = True
            return []
        ctx = self.ctx
        rg = RiverGeometry(frame, ctx.rivers, ctx.ranges, self.metric, self.centerlines, self.merged)
        loc = Locator(frame, self.layer.key or ("code" if "code" in frame else None), first)
        sides: list[Finding] = []
        if self.layer.name == "zones":
            sides = check_sides(frame, rg, loc)
            placed = check_zones_in_range(rg, loc, ctx.tolerances.zone_range_m, self.unranged)
        else:
            placed = check_stakes_on_line(frame, rg, loc, ctx.tolerances.stake_line_m, self.unranged)
        self.sides += sides
        self.placed += placed
        # The index the first batch built (when it needed one) serves the next and the ratio check.
        self.centerlines = rg.built_centerlines
        self.ends = rg.ends
        return sides + placed

    def findings(self) -> list[Finding]:
        """Return the findings in one whole read's order: sides, the rivers without a range, then places."""
        what = ZONES_WITHOUT_RANGE if self.layer.name == "zones" else STAKES_WITHOUT_RANGE
        return self.sides + no_range(self.unranged, what) + self.placed
