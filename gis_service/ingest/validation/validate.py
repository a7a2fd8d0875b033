"""Validate stage: every problem of a normalised delivery, with feature, place, Chinese message, code and fix.

Checks run vectorised (shapely 2, pandas): each feature on its own, batch by batch as the layer
is read (:mod:`feature_checks`), then over the whole layer duplicates and river codes
(:mod:`checks`) and each feature against its river (:mod:`river_checks`). Errors reject a delivery; warnings
and infos are stored with it. A clean zone set is then due for the shoreline ratio check
(:mod:`ratio_check`), which only adds figures and warnings, so the pipeline may store the
delivery while it runs.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np

from gis_service.analysis.shoreline.chainage import CenterlineIndex
from gis_service.catalogue import LayerSpec
from gis_service.district import District
from gis_service.ingest.crs import local_metric_crs
from gis_service.ingest.normalise import Finding
from gis_service.ingest.validation.checks import check_duplicates, check_rivers
from gis_service.ingest.validation.locate import Locator
from gis_service.ingest.validation.plausibility import check_range_proportions
from gis_service.ingest.validation.river_checks import (
    RiverGeometry,
    check_range_contains_river,
    check_sides,
)
from gis_service.settings import Settings

GEOMETRY_CODES = {"empty_geometry", "wrong_geometry_type", "invalid_geometry"}
RIVER_LAYERS = {"boundaries", "zones", "stakes"}


@dataclass(frozen=True)
class Tolerances:
    """The geometric tolerances of the checks, in metres, as the caller's settings give them."""

    zone_range_m: float
    stake_line_m: float
    range_width_warning_m: float

    @classmethod
    def of(cls, settings: Settings) -> Tolerances:
        """Return the tolerances the settings give (``RIVERGIS_ZONE_RANGE_TOLERANCE_M`` and so on)."""
        return cls(
            zone_range_m=settings.zone_range_tolerance_m,
            stake_line_m=settings.stake_line_tolerance_m,
            range_width_warning_m=settings.range_width_warning_m,
        )


@dataclass
class Context:
    """What validation needs: the delivery's rivers, their ranges, existing keys, and the tolerances."""

    rivers: gpd.GeoDataFrame  # code, geometry (centerlines, EPSG:4490; a zone set's: None, in ``centerlines`` alone)
    ranges: gpd.GeoDataFrame  # river_code, bank, geometry: approved ranges of the delivery's rivers
    tolerances: Tolerances
    district: District  # its extent and GK zones: the caller's settings' (see ``load_context``)
    known_rivers: set[str] = field(default_factory=set)
    existing_keys: set[str] = field(default_factory=set)
    # The delivery's features per river code, from its river column read alone (empty without one).
    river_counts: dict[str, int] = field(default_factory=dict)
    # A zone set's centerline index of ``rivers``, built on a thread of its own while the ranges are read.
    centerlines: Future[CenterlineIndex] | None = None


@dataclass
class Checked:
    """A validated frame, its findings, and whether the ratio check (measured batch by batch) is due."""

    frame: gpd.GeoDataFrame
    findings: list[Finding]
    ratio_due: bool = False


def river_geometry(frame: gpd.GeoDataFrame, ctx: Context) -> RiverGeometry:
    """Return the features with their rivers' centerlines and ranges, and a local metric CRS around them."""
    return RiverGeometry(frame, ctx.rivers, ctx.ranges, local_metric_crs(frame, ctx.district))


def validate(
    layer: LayerSpec,
    frame: gpd.GeoDataFrame,
    ctx: Context,
    *,
    checked: list[Finding],
    reported: set[tuple[int, str]] | None = None,
    along: list[Finding] | None = None,
    shapes: np.ndarray | None = None,
) -> Checked:
    """Run the whole-layer checks of ``layer`` on a normalised, feature-checked frame (EPSG:4490).

    ``checked``: the findings of the per-feature checks the batches had (:class:`FeatureChecks`),
    which lead the list; ``along``: the findings of the river checks the batches had (zones, stakes:
    :class:`~.river_batches.RiverBatches`), in place of running them here; ``reported`` holds
    (feature number, field) cells normalisation already found unreadable; ``shapes``: the shape keys of a
    frame kept without its geometries (its WKB), made batch by batch.
    """
    tolerances = ctx.tolerances
    frame = frame.reset_index(drop=True)
    loc = Locator(frame, layer.key or ("code" if "code" in frame else None))
    findings = list(checked)
    findings += check_duplicates(layer, frame, loc, ctx.existing_keys, shapes)
    findings += check_rivers(layer, frame, ctx.known_rivers)
    if layer.name not in RIVER_LAYERS or any(f.severity == "error" for f in findings if f.code in GEOMETRY_CODES):
        return Checked(frame, findings)
    if along is not None:
        findings += along
    elif layer.name == "boundaries":
        # A river's range is the union of its polygons: ranges are checked whole, after their batches.
        rg = river_geometry(frame, ctx)
        findings += check_sides(frame, rg, loc)
        findings += check_range_contains_river(rg, tolerances.zone_range_m)
        district = ctx.district
        findings += check_range_proportions(rg, district.bbox, tolerances.range_width_warning_m, district.name)
    else:
        raise TypeError(f"{layer.name}: its river checks run batch by batch (RiverBatches)")
    due = layer.name == "zones" and not reported and not any(f.severity == "error" for f in findings)
    return Checked(frame, findings, ratio_due=due)
