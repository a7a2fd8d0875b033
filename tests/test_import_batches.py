"""A delivery read in batches gives the same report and the same stored rows as one read whole."""

from __future__ import annotations

import mmap
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from gis_service.clock import BusinessClock
from gis_service.db.models import Delivery
from gis_service.errors import DeliveryRejected
from gis_service.ingest import read
from gis_service.ingest.pipeline import ImportOptions
from gis_service.ledger.intake import run_import
from gis_service.settings import Settings
from gis_service.store.features import read_features

DEMO = Path(__file__).resolve().parent.parent / "shapefiles"
WHOLE = 1_000_000  # more than any test file: one read
BATCH = 7  # the demo's 141 stretches: 20 batches of 7 and one of 1


def ogr2ogr(target: Path, sql: str, *options: str) -> Path:
    """Write the demo zone set through ``sql`` (SQLite dialect, over layer ``zones``) with ogr2ogr."""
    subprocess.run(
        ["ogr2ogr", *options, "-dialect", "SQLite", "-sql", sql, "-nln", "zones", str(target), str(DEMO / "zones.shp")],
        check=True,
        capture_output=True,
    )
    return target


def surveyed(tmp_path: Path, suffix: str) -> Path:
    """The demo zones with a surveyor's column filled on features 100 on only (known to no catalogue field)."""
    sql = "SELECT *, CASE WHEN rowid >= 99 THEN '张工' ELSE NULL END AS 测量员 FROM zones"
    driver = ["-f", "GPKG"] if suffix == ".gpkg" else ["-f", "ESRI Shapefile", "-lco", "ENCODING=GBK"]
    return ogr2ogr(tmp_path / f"zones{suffix}", sql, *driver)


def imported(engine: Engine, path: Path, batch_rows: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Import ``path`` as zones reading ``batch_rows`` features a batch; return the report and the rows stored.

    The report's deliveries are checked against the database (each one's feature count is its stored
    features') and kept without their ids. Rolled back afterwards, so that each import starts from the
    same database.
    """
    with Session(engine) as session:
        report = run_import(
            session,
            path,
            ImportOptions(layer="zones", actor="test"),
            settings=Settings(import_batch_rows=batch_rows),
            clock=BusinessClock(),
        )
        deliveries = report.pop("deliveries")
        ids = [d["id"] for d in deliveries]
        stored = read_features(session.connection(), "zones", current_only=False).sort_values(["river_code", "code"])
        stored = stored[stored["delivery_id"].isin(ids)]
        counted = {int(i): int(n) for i, n in stored["delivery_id"].value_counts().items()}
        recorded = dict(session.execute(select(Delivery.id, Delivery.feature_count).where(Delivery.id.in_(ids))).all())
        assert recorded == counted == {d["id"]: d["feature_count"] for d in deliveries}
        report["deliveries"] = [{k: v for k, v in d.items() if k != "id"} for d in deliveries]
        stored = stored.drop(columns=["id", "delivery_id"])
        session.rollback()
    rows = [{k: (v.wkt if k == "geometry" else v) for k, v in row.items()} for row in stored.to_dict("records")]
    return report, rows


def count_batches(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record the size of each Arrow batch the reader converts."""
    sizes: list[int] = []
    convert = read.arrow_frame

    def counted(batch: Any, meta: dict[str, Any]) -> Any:
        sizes.append(batch.num_rows)
        return convert(batch, meta)

    monkeypatch.setattr(read, "arrow_frame", counted)
    return sizes


def rejected_whole_and_in_batches(engine: Engine, path: Path, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Import ``path`` (a delivery to reject) read whole, then in batches of 7; check both rejections agree.

    Return the two rejections' reports.
    """
    sizes = count_batches(monkeypatch)
    reports = []
    for rows in (WHOLE, BATCH):
        with pytest.raises(DeliveryRejected) as caught, Session(engine) as session:
            options = ImportOptions(layer="zones", actor="test")
            run_import(session, path, options, settings=Settings(import_batch_rows=rows), clock=BusinessClock())
        reports.append(caught.value.details)
    assert len(sizes) == 21
    assert reports[0] == reports[1]
    return reports


@pytest.mark.parametrize(("suffix", "spill"), [(".gpkg", False), (".shp", False), (".gpkg", True)])
def test_batches_give_the_report_and_rows_of_one_read(
    demo_engine: Engine, tmp_path: Path, suffix: str, spill: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gis_service import runtime

    path = surveyed(tmp_path, suffix)
    sizes = count_batches(monkeypatch)
    whole, whole_rows = imported(demo_engine, path, WHOLE)
    assert sizes == []  # 141 features ≤ WHOLE: read at once
    if spill:  # what is kept of each batch (WKB, the ratio check's vertices) in temporary files
        monkeypatch.setattr(runtime, "SPILL_BYTES", 0)
    batched, batched_rows = imported(demo_engine, path, BATCH)
    assert sizes == [BATCH] * 20 + [1]
    assert batched == whole
    assert batched_rows == whole_rows
    # What only later batches carry still counts: the surveyor column, filled from feature 100 on.
    assert whole["stored"] == 141 and len(whole_rows) == 141
    assert whole["source"]["extra_fields"] == ["备注", "测量员"]
    assert sum((row["extra"] or {}).get("测量员") == "张工" for row in whole_rows) == 141 - 99
    assert sorted(whole["codes"]) == ["zone_gap", "zone_overlap"]  # the demo set's own gap and overlap


def test_a_rejection_names_the_same_features_whatever_the_batches(
    demo_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every 17th stretch gets a bank no one knows: features 17, 34, ..., 136 (8 of them) across batches;
    # every 23rd has no zone type (23, 46, ..., 138), every 31st no bank (6, 37, 99, 130; 68 is the 17th's)
    # and every 19th markup in its basis (4, 23, ..., 137): the per-feature checks run batch by batch, their
    # findings must still come in one read's order (a field's missing values, then the next field's).
    sql = (
        "SELECT 功能区编号, 河流编码, CASE WHEN rowid % 17 = 16 THEN '中岸' WHEN rowid % 31 = 5 THEN NULL "
        "ELSE 岸别 END AS 岸别, "
        "CASE WHEN rowid % 23 = 22 THEN NULL ELSE 功能区类型 END AS 功能区类型, 起点桩号, 终点桩号, "
        "CASE WHEN rowid % 19 = 3 THEN '<b>依据</b>' ELSE 划分依据 END AS 划分依据, 备注, GEOMETRY FROM zones"
    )
    reports = rejected_whole_and_in_batches(demo_engine, ogr2ogr(tmp_path / "bad.gpkg", sql, "-f", "GPKG"), monkeypatch)
    unknown = [f for f in reports[0]["findings"] if f["code"] == "unknown_value"]
    assert [f["feature"] for f in unknown] == [17 * k for k in range(1, 9)]
    assert {f["value"] for f in unknown} == {"中岸"}
    listed = [(f["code"], f["field"], f["feature"]) for f in reports[0]["findings"] if f["code"] != "unknown_value"]
    missing = [("missing_value", "bank", n) for n in (6, 37, 99, 130)]
    missing += [("missing_value", "zone_type", 23 * k) for k in range(1, 7)]
    markup = [("markup_in_text", "basis", 4 + 19 * k) for k in range(8)]
    assert [x for x in listed if x[0] in {"missing_value", "markup_in_text"}] == missing + markup


# Every 13th stretch labelled with the other bank (features 8, 21, ..., 138): the bank-side check runs batch by
# batch against the context read before the first batch.
SWAPPED_BANKS = (
    "SELECT 功能区编号, 河流编码, CASE WHEN rowid % 13 = 7 THEN "
    "(CASE WHEN 岸别 = '左岸' THEN '右岸' ELSE '左岸' END) ELSE 岸别 END AS 岸别, 功能区类型, "
    "起点桩号, 终点桩号, 划分依据, 备注, GEOMETRY FROM zones"
)
# Every 17th stretch moved 500 m east (features 6, 23, ..., 125), out of its river's approved range: the
# within-range test runs batch by batch against ranges merged once for the layer and prepared for their batch
# only (a river's stretches fall into several batches of 7).
MOVED_OUT = (
    "SELECT 功能区编号, 河流编码, 岸别, 功能区类型, 起点桩号, 终点桩号, 划分依据, 备注, "
    "CASE WHEN rowid % 17 = 5 THEN ST_Translate(GEOMETRY, 500, 0, 0) ELSE GEOMETRY END AS GEOMETRY FROM zones"
)


@pytest.mark.parametrize(
    ("sql", "code", "features"),
    [
        (SWAPPED_BANKS, "bank_wrong_side", [8 + 13 * k for k in range(11)]),
        (MOVED_OUT, "zone_outside_range", [6 + 17 * k for k in range(8)]),
    ],
    ids=["bank sides", "within range"],
)
def test_river_checks_in_batches_name_the_features_a_whole_read_names(
    demo_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sql: str, code: str, features: list[int]
) -> None:
    reports = rejected_whole_and_in_batches(
        demo_engine, ogr2ogr(tmp_path / "changed.gpkg", sql, "-f", "GPKG"), monkeypatch
    )
    assert [f["feature"] for f in reports[0]["findings"] if f["code"] == code] == features


def test_coded_columns_kept_as_categories_join_as_they_were() -> None:
    import pandas as pd

    from gis_service.ingest.pipeline import coded

    # Two batches of expected banks share their categories: joined, still one byte a row.
    first = coded(pd.Series(["left", None, "right"], dtype="str"), ["left", "right"])
    second = coded(pd.Series(["right", "right"], dtype="str"), ["left", "right"])
    joined = pd.concat([first, second], ignore_index=True)
    assert isinstance(joined.dtype, pd.CategoricalDtype)
    assert joined.tolist()[:1] + joined.tolist()[2:] == ["left", "right", "right", "right"] and pd.isna(joined[1])
    # A value beyond them ("中岸", an error the checks name) keeps its batch's own categories; the join holds texts.
    odd = coded(pd.Series(["中岸", "left"], dtype="str"), ["left", "right"])
    assert list(odd.cat.categories) == ["left", "right", "中岸"]
    mixed = pd.concat([first, odd], ignore_index=True)
    assert mixed.astype(object).where(mixed.notna(), None).tolist() == ["left", None, "right", "中岸", "left"]
    # Codes a GeoPackage typed as numbers stay as they are.
    numbers = pd.Series([1, 2])
    assert coded(numbers, ["1"]) is numbers


def test_a_streamed_delivery_asks_for_the_layers_lock_once(
    demo_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Read in batches of 7, the demo's six rivers come batch after batch (each batch's COPY waits for the
    # deliveries of its new rivers): the layer's lock, held to the commit once taken, is asked for at the
    # first batch only, and every river still gets its delivery with all its stretches.
    from gis_service.store import deliveries

    asked: list[tuple[str, bool]] = []
    lock = deliveries.lock_rivers

    def spied(session: Session, layer: str, codes: list[str], *, whole_layer: bool = False) -> None:
        asked.append((layer, whole_layer))
        lock(session, layer, codes, whole_layer=whole_layer)

    monkeypatch.setattr(deliveries, "lock_rivers", spied)
    sizes = count_batches(monkeypatch)
    report, rows = imported(demo_engine, surveyed(tmp_path, ".gpkg"), BATCH)
    assert len(sizes) == 21
    assert asked == [("zones", True)]
    assert sorted(d["river_code"] for d in report["deliveries"]) == [f"WS00{i}" for i in range(1, 7)]
    assert sum(d["feature_count"] for d in report["deliveries"]) == len(rows) == 141


def test_what_is_kept_of_the_batches_in_temporary_files_gives_the_same_findings(
    demo_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Spilled from the first byte, every batch's WKB and the ratio check's vertices live in temporary files:
    # the duplicates' candidates (ten stretches repeated, features 142-151) and the
    # places of the whole-layer findings are read back from them, row by row across the batches' chunks.
    from gis_service import runtime
    from gis_service.ingest.validation import locate

    sql = "SELECT * FROM zones UNION ALL SELECT * FROM (SELECT * FROM zones WHERE rowid % 14 = 3 LIMIT 10)"
    path = ogr2ogr(tmp_path / "repeated.gpkg", sql, "-f", "GPKG")
    # The shape keys of the batches too: read back from their file by the duplicates' check, its pages handed back.
    from gis_service.ingest.validation import checks

    keys_handed_back: list[tuple[int, bool]] = []
    drop_resident = checks.drop_resident

    def dropped(keys: np.ndarray) -> None:
        keys_handed_back.append((len(keys), not keys.flags.writeable and isinstance(mapped_base(keys), mmap.mmap)))
        drop_resident(keys)

    monkeypatch.setattr(checks, "drop_resident", dropped)
    whole = []
    for rows, spill in ((WHOLE, 1 << 40), (BATCH, 0)):
        monkeypatch.setattr(runtime, "SPILL_BYTES", spill)
        with Session(demo_engine) as session:
            options = ImportOptions(layer="zones", actor="test", dry_run=True)
            try:
                report = run_import(
                    session, path, options, settings=Settings(import_batch_rows=rows), clock=BusinessClock()
                )
            except DeliveryRejected as exc:
                report = exc.details
        whole.append(report)
    assert whole[0] == whole[1]
    assert keys_handed_back == [(151, False), (151, True)]  # read whole: made in memory; in batches: from the file
    repeated = [f for f in whole[0]["findings"] if f["code"] == "duplicate_geometry"]
    assert [f["feature"] for f in repeated] == list(range(142, 152))
    assert all(f["lon"] is not None and f["lat"] is not None for f in repeated)
    # The WKB column of a joined layer takes rows chunk by chunk, in the order asked.
    import pandas as pd
    import shapely

    chunks = [locate.as_wkb(np.array([shapely.Point(i, k) for i in range(3)]), spill=True) for k in range(3)]
    joined = pd.concat(chunks, ignore_index=True)
    got = locate.from_wkb(joined, np.array([7, 0, 5, 3]))
    assert [(p.x, p.y) for p in got] == [(1, 2), (0, 0), (2, 1), (0, 1)]


@pytest.mark.parametrize("chunk", [1, 3, 1024])
def test_ranges_kept_as_wkb_give_a_batch_its_rivers_ranges_as_they_were(
    monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    # Two polygons of one river (a union's order is theirs), a river whose range is missing, and one more; the WKB
    # written a chunk of ranges at a time, whatever the chunk.
    import mmap

    import geopandas as gpd
    import numpy as np
    import shapely

    from gis_service import runtime
    from gis_service.ingest.validation import river_batches
    from gis_service.ingest.validation.river_batches import RiverRanges

    monkeypatch.setattr(runtime, "SPILL_BYTES", 64)  # the WKB in its temporary file, as a province's would be
    monkeypatch.setattr(river_batches, "WKB_CHUNK", chunk)
    square = shapely.box(106.0, 29.0, 106.01, 29.01)
    ranges = gpd.GeoDataFrame(
        {"river_code": ["A", "B", "A", "C"], "bank": [None, "left", None, None]},
        geometry=[square, shapely.box(107, 29, 107.02, 29.003), shapely.Polygon(square.exterior.coords[::-1]), None],
        crs=4490,
    )
    kept = RiverRanges(ranges)
    base = kept.wkb.data
    while isinstance(base, np.ndarray):
        base = base.base
    base = base.obj if isinstance(base, memoryview) else base
    assert not kept.wkb.data.flags.writeable and isinstance(base, mmap.mmap)  # in the file, its pages to hand back
    for asked, rows in ((["A", None], [0, 2]), (["C", "B"], [1, 3]), (["Z"], [])):
        got = kept.of(np.array(asked, dtype=object))
        want = ranges.iloc[rows].reset_index(drop=True)
        assert got.crs == want.crs and got.drop(columns="geometry").equals(want.drop(columns="geometry"))
        same = [
            (a is None and b is None) or bool(shapely.equals_exact(a, b, tolerance=0))
            for a, b in zip(got.geometry, want.geometry, strict=True)
        ]
        assert all(same) and len(same) == len(rows)
        kept.release()


def mapped_base(array: np.ndarray) -> object:
    """Return what holds ``array``'s bytes at the end of its chain of views (a map for a spilled column)."""
    base: object = array
    while isinstance(base, np.ndarray):
        base = base.base
    return base.obj if isinstance(base, memoryview) else base


def test_the_centerline_index_hands_its_pages_back_once_a_batch(
    demo_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The bank sides and the ratio check read the same rivers of the index for a batch: its pages are handed back
    # after both, once, by the import (not after each, which read them twice from the file); within the batch only
    # the ends' projection hands back each chunk's (line_ends.ENDS_CHUNK). Alone, the ratio check that built its
    # own index hands back its pages after each batch it is given.
    import sys
    from collections import Counter

    from gis_service.analysis.shoreline import line_ends
    from gis_service.analysis.shoreline.chainage import CenterlineIndex
    from gis_service.analysis.shoreline.ratios import ZoneBatches

    released: list[tuple[int, str]] = []
    release = CenterlineIndex.release

    def counted(self: CenterlineIndex) -> None:
        released.append((id(self), sys._getframe(1).f_code.co_qualname))
        release(self)

    monkeypatch.setattr(CenterlineIndex, "release", counted)
    monkeypatch.setattr(line_ends, "ENDS_CHUNK", 1 << 30)  # a batch's ends in one chunk
    sizes = count_batches(monkeypatch)
    imported(demo_engine, DEMO / "zones.shp", BATCH)
    assert len(sizes) == 21
    assert len({index for index, _ in released}) == 1  # the one index the context built
    by = Counter(caller for _, caller in released)
    # Once built, then once a batch after both checks, and once after its ends' projection.
    assert by == {"CenterlineIndex.__init__": 1, "RiverBatches.release": 21, "LineEnds.of": 21}
    released.clear()
    with demo_engine.connect() as conn:
        rivers = read_features(conn, "rivers")
        zones = read_features(conn, "zones")
    check = ZoneBatches(rivers)
    for lo in range(0, len(zones), 50):
        check.add(zones.iloc[lo : lo + 50])
    assert Counter(caller for _, caller in released) == {"CenterlineIndex.__init__": 1, "ZoneBatches.add": 3}
    given = ZoneBatches(rivers, centerlines=check.index)
    given.add(zones)
    assert len(released) == 1 + 3  # the giver's to hand back


def test_a_geopackage_is_read_a_batch_at_a_time_unless_the_user_chose_otherwise(tmp_path: Path) -> None:
    # GDAL's GeoPackage driver reads the next Arrow batch ahead on worker threads unless OGR_GPKG_NUM_THREADS says
    # 1: one more batch held all the time. The stream asks for one at a time, and keeps a value the user set.
    import pyogrio

    path = surveyed(tmp_path, ".gpkg")
    given = pyogrio.get_gdal_config_option("OGR_GPKG_NUM_THREADS")
    try:
        pyogrio.set_gdal_config_options({"OGR_GPKG_NUM_THREADS": None})
        frames = list(read.read_batches(path, layer=None, encoding=None, batch_rows=BATCH))
        assert pyogrio.get_gdal_config_option("OGR_GPKG_NUM_THREADS") == 1
        assert [len(f) for f in frames] == [BATCH] * 20 + [1]
        assert frames[-1]["测量员"].tolist() == ["张工"]
        pyogrio.set_gdal_config_options({"OGR_GPKG_NUM_THREADS": "3"})
        assert sum(len(f) for f in read.read_batches(path, layer=None, encoding=None, batch_rows=BATCH)) == 141
        assert pyogrio.get_gdal_config_option("OGR_GPKG_NUM_THREADS") == 3
    finally:
        pyogrio.set_gdal_config_options({"OGR_GPKG_NUM_THREADS": given})
