"""Load the bundled demo dataset (``shapefiles/``) into the database as a surveyor delivery would arrive."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
from sqlalchemy.orm import Session

from gis_service.access import audit
from gis_service.catalogue import Catalogue, catalogue_for
from gis_service.clock import BusinessClock
from gis_service.demo.chiefs import load_chiefs
from gis_service.demo.quality import load_quality
from gis_service.ingest.normalise import normalise
from gis_service.ingest.read import read_vector
from gis_service.ledger.intake import approve_delivery
from gis_service.ledger.outfalls import register_outfalls
from gis_service.ledger.service import report_sites
from gis_service.resources import data_path
from gis_service.settings import Settings
from gis_service.store.bulk import insert_features
from gis_service.store.current import CurrentFeatures
from gis_service.store.deliveries import submit_delivery

ACTOR = "demo"
# file stem → layer; boundary_lines are the per-bank range lines of the same range delivery.
FILES = [
    ("towns", "towns"),
    ("rivers", "rivers"),
    ("boundaries", "boundaries"),
    ("boundary_lines", "boundaries"),
    ("stakes", "stakes"),
    ("zones", "zones"),
    ("outfalls", "outfalls"),
    ("problems", "problems"),
]


def read_demo(folder: Path, catalogue: Catalogue) -> dict[str, gpd.GeoDataFrame]:
    """Read and normalise every demo file, grouped by layer."""
    frames: dict[str, list[gpd.GeoDataFrame]] = {}
    for stem, layer in FILES:
        path = folder / f"{stem}.shp"
        if not path.exists():
            continue
        frames.setdefault(layer, []).append(normalise(catalogue[layer], read_vector(path)).frame)
    return {k: gpd.GeoDataFrame(pd.concat(v, ignore_index=True), crs=v[0].crs) for k, v in frames.items()}


def load_demo(session: Session, settings: Settings, clock: BusinessClock, folder: Path | None = None) -> dict[str, int]:
    """Load the demo data once, as of ``clock``'s today; return counts per layer (empty when already loaded)."""
    catalogue = catalogue_for(settings)
    if CurrentFeatures(catalogue["rivers"]).count(session):
        return {}
    frames = read_demo(folder or data_path("shapefiles"), catalogue)
    counts: dict[str, int] = {}
    for layer in ("towns", "rivers"):
        if layer in frames:
            counts[layer] = insert_features(session, catalogue[layer], frames[layer])
    for layer in ("boundaries", "stakes", "zones"):
        if layer not in frames:
            continue
        for river_code, group in frames[layer].groupby("river_code"):
            delivery = submit_delivery(
                session,
                catalogue[layer],
                str(river_code),
                group,
                actor=ACTOR,
                meta={"filename": "shapefiles/ (演示数据)", "encoding": "GBK", "crs": "EPSG:4524"},
            )
            approve_delivery(session, delivery.id, actor=ACTOR, settings=settings, clock=clock)
            counts[layer] = counts.get(layer, 0) + len(group)
    # The ledger and the register derive jurisdiction and write each item's first event.
    if "outfalls" in frames:
        counts["outfalls"] = len(
            register_outfalls(session, frames["outfalls"], actor=ACTOR, settings=settings, clock=clock)
        )
    if "problems" in frames:
        counts["problems"] = report_sites(session, frames["problems"], actor=ACTOR, settings=settings, clock=clock)
    counts.update(load_chiefs(session, folder or data_path("shapefiles"), settings, clock))  # roster, patrols, boards
    counts.update(load_quality(session, folder or data_path("shapefiles"), settings, clock))  # sections, results, tasks
    audit(session, actor=ACTOR, action="demo.load", details=counts)
    return counts
