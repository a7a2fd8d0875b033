"""Read stage, batch by batch: each batch of a layer checked against the district and normalised, then joined.

A streamed source (:meth:`Source.frames`) hands its raw features over in batches, each freed once
normalised; a whole source is one batch. Each normalised batch is handed to the caller's ``each``
(the per-feature checks and the writer), which returns what of it to keep for the whole-layer
checks. The findings are numbered over the whole layer and come in the order one pass over the
whole layer gives, so the report does not depend on the batch size.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import geopandas as gpd
import pandas as pd

from gis_service.catalogue import LayerSpec
from gis_service.district import District
from gis_service.ingest.crs import MAX_LISTED, check_district
from gis_service.ingest.normalise import Finding, Normalised, normalise
from gis_service.ingest.read import Source

# A normalised batch, the number of features before it, its unreadable cells (numbered in the layer) and the
# field map → the part of the batch to keep.
Each = Callable[[gpd.GeoDataFrame, int, list[Finding], dict[str, str]], gpd.GeoDataFrame]


def normalise_batches(
    layer: LayerSpec, source: Source, findings: list[Finding], district: District, each: Each | None = None
) -> Normalised | None:
    """Normalise ``source`` batch by batch, handing each to ``each``; add the district warnings to ``findings``.

    Return the joined layer (what ``each`` kept of each batch) with its normalisation findings, or
    None as soon as a feature lies outside the district (the caller rejects the delivery from the
    whole layer).
    """
    beyond: list[Finding] = []
    unreadable: list[Finding] = []
    frames = []
    field_map: dict[str, str] = {}
    unknown: list[str] = []
    carried: set[str] = set()
    dropped_z = 0
    first = 0
    for raw in source.frames():
        found = check_district(raw, district, first)
        if any(f.code == "outside_district" for f in found):
            return None
        beyond += found
        norm = normalise(layer, raw)
        field_map = norm.field_map
        unknown = [str(c) for c in raw.columns if c != raw.geometry.name and c not in field_map]
        carried.update(norm.extra_fields)
        found = [replace(f, feature=f.feature + first) if f.feature is not None else f for f in norm.findings]
        unreadable += found
        dropped_z += norm.dropped_z
        count = len(raw)
        del raw  # the raw batch is not needed by the checks and the writer: freed before they run
        frames.append(each(norm.frame, first, found, field_map) if each else norm.frame)
        first += count
        del norm
    # One pass lists at most MAX_LISTED district warnings, and unreadable values field by field.
    findings += beyond[:MAX_LISTED]
    order = {name: i for i, name in enumerate(field_map.values())}
    unreadable.sort(key=lambda f: order.get(f.field or "", len(order)))
    frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    return Normalised(
        frame=frame,
        field_map=field_map,
        findings=unreadable,
        dropped_z=dropped_z,
        extra_fields=[c for c in unknown if c in carried],
    )
