"""The checks of zone stretches and stakes against their river, run on each batch of a layer as it is read.

Each stretch's bank side and place within its river's approved range, and each stake's distance to
the range line, depend only on the feature and the context (the delivery's rivers and ranges, read
before the first batch): they run as the batches come, while earlier batches are being written,
and the whole-layer stage only adds their findings. One centerline index and one metric frame serve
every batch, so a finding does not depend on the batch size; the rivers without an approved range
are named once. The ranges wait as WKB on disk (:class:`RiverRanges`) and each batch makes those of
its own rivers. Range deliveries are checked whole (:func:`~.validate.validate`): a river's range
is the union of its polygons.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from typing import cast

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from gis_service.analysis.shoreline.chainage import CenterlineIndex
from gis_service.analysis.shoreline.line_ends import LineEnds
from gis_service.analysis.shoreline.polylines import index_ranges
from gis_service.catalogue import LayerSpec
from gis_service.ingest.crs import local_metric_crs, local_metric_crs_around
from gis_service.ingest.normalise import Finding
from gis_service.ingest.validation.locate import Locator
from gis_service.ingest.validation.river_checks import (
    STAKES_WITHOUT_RANGE,
    ZONES_WITHOUT_RANGE,
    RiverGeometry,
    check_sides,
    check_stakes_on_line,
    check_zones_in_range,
    no_range,
)
from gis_service.ingest.validation.validate import GEOMETRY_CODES, Context
from gis_service.runtime import SpilledBinary, shared_texts

BATCHED = {"zones", "stakes"}
WKB_CHUNK = 1024  # ranges written as WKB at once


class RiverRanges:
    """The approved ranges of a delivery's rivers, kept as WKB in a temporary file and made geometries for a
    batch's rivers only (:meth:`of`).

    As geometries, a province's 10 000 ranges held 16 MB from the first batch to the last, when a batch
    of stretches names a third of its rivers or fewer. The WKB's pages are the kernel's page cache: read
    for a batch and handed back after it (:meth:`release`). The same geometries come back (WKB keeps
    every coordinate), in the rows' order, so each river's union is the one made of them whole.
    """

    def __init__(self, ranges: gpd.GeoDataFrame) -> None:
        self.columns = pd.DataFrame(ranges.drop(columns=ranges.geometry.name)).reset_index(drop=True)
        self.crs = ranges.crs
        # Each river's rows: the rows sorted by river, and where each river's begin and end among them.
        codes = shared_texts(self.columns["river_code"])
        known = np.flatnonzero(pd.notna(codes))
        self.order = known[np.argsort(codes[known].astype(str), kind="stable")]
        self.rivers, starts = np.unique(codes[self.order].astype(str), return_index=True)
        self.bounds = np.append(starts, len(self.order))
        self.index = pd.Index(self.rivers, dtype=object)
        # Written a chunk of ranges at a time: a province's ranges as WKB are 34 MB, twice over while Arrow copies them.
        geoms = np.asarray(ranges.geometry.values, dtype=object)
        self.wkb = SpilledBinary()
        for lo in range(0, len(geoms), WKB_CHUNK):
            self.wkb.append(shapely.to_wkb(geoms[lo : lo + WKB_CHUNK]))

    def of(self, codes: np.ndarray) -> gpd.GeoDataFrame:
        """Return the ranges of the rivers ``codes`` (river codes, None among them), in their rows' order."""
        found = self.index.get_indexer(pd.Index([str(c) for c in codes if c is not None], dtype=object))
        found = found[found >= 0]
        rows = np.sort(self.order[index_ranges(self.bounds[found], self.bounds[found + 1])])
        geoms = shapely.from_wkb(self.wkb[rows])
        columns = self.columns.iloc[rows].reset_index(drop=True)
        return gpd.GeoDataFrame(columns, geometry=gpd.GeoSeries(geoms, crs=self.crs), crs=self.crs)

    def release(self) -> None:
        """Hand back the pages of the WKB read for a batch (the file keeps them)."""
        self.wkb.release()


@dataclass
class RiverBatches:
    """The river checks of one zone-set or stake delivery, batch after batch, their findings in layer order."""

    layer: LayerSpec
    ctx: Context
    metric: CRS | None  # the local metric frame of the delivery's rivers (a zone set's: see :meth:`ready`)
    centerlines: CenterlineIndex | None = None
    building: Future[CenterlineIndex] | None = None  # a zone set's index, while it is being made
    sides: list[Finding] = field(default_factory=list)
    placed: list[Finding] = field(default_factory=list)
    unranged: set[str] = field(default_factory=set)
    stopped: bool = False
    ends: LineEnds | None = None  # the last batch's stretch ends on their centerlines, for the ratio check
    ranges: RiverRanges | None = None  # the context's ranges, kept compact (see :meth:`lighten`)

    @classmethod
    def of(cls, layer: LayerSpec, ctx: Context) -> RiverBatches | None:
        """Return the river checks of ``layer`` to run per batch, or None when it is checked whole.

        The metric frame is centred on the delivery's rivers: every batch measures in the same one.
        """
        if layer.name not in BATCHED:
            return None
        if ctx.centerlines is not None:
            # A zone set's index, made by ``load_context`` on a thread of its own: the first batch is read and
            # checked feature by feature meanwhile, and its river checks wait for it (:meth:`ready`).
            return cls(layer, ctx, None, building=ctx.centerlines)
        return cls(layer, ctx, local_metric_crs(ctx.rivers, ctx.district))

    def ready(self) -> CenterlineIndex | None:
        """Return a zone set's centerline index, waiting for it to be made the first time; the metric frame is
        then centred on its extent (the rivers' geometries are in the index alone). The bank sides and the
        ratio check share it from the first batch."""
        if self.building is not None:
            self.centerlines, self.building = self.building.result(), None
            self.metric = local_metric_crs_around(self.centerlines.bounds, self.ctx.district)
        return self.centerlines

    def lighten(self) -> Context:
        """Keep the context's ranges compact (:class:`RiverRanges`); return the context without their geometries,
        which nothing after the batches reads (their other user, the ratio check, has taken its bank lines). A
        zone set's centerlines are in its index alone already (see ``load_context``)."""
        ctx = self.ctx
        self.ranges = RiverRanges(ctx.ranges)
        empty = gpd.GeoDataFrame(
            {name: [] for name in ctx.ranges.columns if name != ctx.ranges.geometry.name}, geometry=[], crs=4490
        )
        self.ctx = replace(ctx, ranges=empty)
        return self.ctx

    def run(self, frame: gpd.GeoDataFrame, first: int, found: list[Finding]) -> list[Finding]:
        """Check a batch (``first`` features before it) whose per-feature findings are ``found``; return its findings.

        After a geometry error the river checks stop: the delivery is rejected for it, and the
        whole-layer stage reports no river findings then (as a whole read would not run them).
        """
        self.ends = None
        if self.stopped or any(f.severity == "error" and f.code in GEOMETRY_CODES for f in found):
            self.stopped = True
            return []
        ctx, index = self.ctx, self.ready()
        rg = RiverGeometry(frame, ctx.rivers, ctx.ranges, cast(CRS, self.metric), index)  # made by ready()
        if self.ranges is not None:
            rg.ranges = self.ranges.of(rg.distinct)  # the ranges of this batch's rivers
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

    def release(self) -> None:
        """Hand back the pages the batch read of the ranges' WKB and of the centerline index, once the batch's
        river checks and its ratio measuring (which reads the same rivers of the index) are done."""
        if self.ranges is not None:
            self.ranges.release()
        if self.centerlines is not None:
            self.centerlines.release()

    def findings(self) -> list[Finding]:
        """Return the findings in one whole read's order: sides, the rivers without a range, then places."""
        what = ZONES_WITHOUT_RANGE if self.layer.name == "zones" else STAKES_WITHOUT_RANGE
        return self.sides + no_range(self.unranged, what) + self.placed
