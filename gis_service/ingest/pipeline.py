"""The import pipeline: read → normalise → validate → store, in the caller's one transaction.

It returns the validation report, or raises :class:`DeliveryRejected` carrying it when any
error was found; nothing of a rejected delivery is kept. The validation context (the delivery's
rivers and their approved ranges) is read first; then each batch of the layer is checked on its
own, written while all is clean (a versioned delivery, inside a savepoint; on PostGIS by a worker
thread, so that the server's work overlaps ours), checked against its rivers and measured for the
ratio check while it is written (:class:`Batches`). The whole-layer checks, the ratio check's
walks and the report follow; a rejection rolls the savepoint back. Each delivery's report is
attached once complete (see ``store.bulk.write_reports``). :func:`check_delivery` runs the same
stages as a dry run for a preview, whatever the outcome.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
from sqlalchemy.orm import Session

from gis_service.catalogue import Catalogue, LayerSpec, catalogue_for
from gis_service.db.backend import session_backend
from gis_service.district import District, district_for
from gis_service.errors import BadRequest, DeliveryRejected
from gis_service.ingest.archive import ArchiveLimits
from gis_service.ingest.batches import normalise_batches
from gis_service.ingest.crs import check_district, describe, parse_crs
from gis_service.ingest.normalise import Finding
from gis_service.ingest.read import MissingCRS, Source, read_delivery
from gis_service.ingest.validation.checks import shape_keys
from gis_service.ingest.validation.context import load_context
from gis_service.ingest.validation.feature_checks import FeatureChecks
from gis_service.ingest.validation.locate import WKB, as_wkb, place
from gis_service.ingest.validation.ratio_check import ZoneRatios
from gis_service.ingest.validation.report import build_report, rejection, reports_per_river
from gis_service.ingest.validation.river_batches import RiverBatches
from gis_service.ingest.validation.validate import Context, validate
from gis_service.ingest.webmap_crs import hint_text, lonlat_in_district, sample_coordinates, web_map_reading
from gis_service.ingest.write import DeliveryWriter, store_keyed
from gis_service.runtime import (
    SpilledRows,
    arrow_vocabulary,
    collector_paused,
    places_in,
    release_free_pages,
    spilled_column,
)
from gis_service.settings import Settings
from gis_service.store.bulk import ReportTexts, write_reports
from gis_service.store.current import CurrentFeatures
from gis_service.store.deliveries import Submitted, approve_deliveries
from gis_service.store.ratios import ratio_rules

IMPORTABLE = ("rivers", "boundaries", "stakes", "zones", "outfalls", "problems", "sections", "source_zones")
Progress = Callable[[str], None]
# Adds problem sites to the ledger; the ledger (above this package) supplies it: gis_service.ledger.intake.
SiteWriter = Callable[[Session, gpd.GeoDataFrame, str], int]


@dataclass
class ImportOptions:
    """What the user asked for: the target layer and how to read, check and store the file."""

    layer: str
    crs: str | None = None
    encoding: str | None = None
    river: str | None = None
    source_layer: str | None = None
    swap_xy: bool = False
    dry_run: bool = False
    approve: bool = False
    fix: bool = False
    actor: str = "cli"
    filename: str | None = None


def target_layer(catalogue: Catalogue, name: str) -> LayerSpec:
    """Return the catalogue layer an import may write, or refuse naming the allowed ones."""
    if name not in IMPORTABLE:
        raise BadRequest(
            f"不能导入图层 {name!r}；可导入：{'、'.join(IMPORTABLE)}",
            code="unknown_layer",
            details={"allowed": list(IMPORTABLE)},
        )
    return catalogue[name]


@dataclass
class Prepared:
    """A delivery read, normalised and checked feature by feature, ready for the whole-layer checks: its
    findings so far (the per-feature checks' apart, in ``checked``), the unreadable cells, the writer
    that stored its batches as they came (if one did), the validation context and the river checks
    the batches had."""

    source: Source
    findings: list[Finding]
    checked: list[Finding]
    frame: gpd.GeoDataFrame
    reported: set[tuple[int, str]]
    along: Along
    writer: DeliveryWriter | None = None
    shapes: np.ndarray | None = None  # the shape keys of a layer kept without its geometries (:meth:`Batches.slim`)


@dataclass
class Along:
    """What checks a delivery's batches as they are read beside the per-feature checks: the validation
    context (read before the first batch), the river checks and the ratio check."""

    context: Context
    rivers: RiverBatches | None = None
    ratios: ZoneRatios | None = None


class Batches:
    """What happens to each normalised batch as it is read: the per-feature checks, the writer, the river checks.

    The writer (given by the caller when the delivery may be stored early, already started) takes each batch
    while every feature so far is clean and names its river; at the first error it is abandoned, what it
    wrote rolled back, since the delivery will be rejected. While it writes a batch, the batch's
    stretches or stakes are checked against their rivers (``rivers``). A batch in the writer's hands is kept only
    in the columns the whole-layer checks read (:meth:`slim`), so the text of a large layer is never
    whole in memory; so is a dry run's (nothing is written after the checks) unless its features are
    to be ``seen``.
    """

    def __init__(
        self,
        layer: LayerSpec,
        options: ImportOptions,
        writer: DeliveryWriter | None,
        along: Along,
        *,
        keep_all: bool,
    ) -> None:
        self.layer = layer
        self.checks = FeatureChecks(layer, fix=options.fix, river=options.river)
        self.along = along
        self.clean = True  # no error in any batch so far
        self.writer = writer
        self.river = options.river
        # Nothing reads a batch's text after its checks when it is written as it comes (or the delivery is
        # rejected) or in a dry run; unless the features are to be ``seen`` whole.
        self.slimmed = not keep_all and (options.dry_run or writer is not None)
        self._vocabulary: dict[str, tuple[pd.CategoricalDtype, pa.Array | None]] | None = None
        self.shapes: SpilledRows | None = None  # the slimmed batches' shape keys, on disk

    def __call__(
        self, frame: gpd.GeoDataFrame, first: int, unreadable: list[Finding], field_map: dict[str, str]
    ) -> gpd.GeoDataFrame:
        """Check a batch, hand it to the writer while all is clean; return what to keep of it."""
        release_free_pages()  # the pages the batch before used and left free
        mapped = set(field_map.values()) | ({"river_code"} if self.river else set())
        reported = {(f.feature, f.field) for f in unreadable if f.feature is not None and f.field}
        frame, found = self.checks.run(frame, first, mapped, reported)
        self.clean = self.clean and not any(f.severity == "error" for f in [*unreadable, *found])
        if self.writer is not None:
            if self.clean and "river_code" in frame and bool(frame["river_code"].notna().all()):
                self.writer.add(frame)
            else:
                self.stop()
        # While the worker writes the batch: its checks against the rivers, and its stretches measured.
        along = self.along
        if along.rivers is not None and any(f.severity == "error" for f in along.rivers.run(frame, first, found)):
            self.clean = False
            self.stop()
        if along.ratios is not None:
            along.ratios.add(frame, self.clean, along.rivers.ends if along.rivers is not None else None)
        if along.rivers is not None:
            along.rivers.release()  # once both have read the batch's rivers
        return self.slim(frame) if self.slimmed else frame

    def kept_shapes(self) -> np.ndarray | None:
        """Return the shape keys of the slimmed batches (read-only, a map of their file), or None."""
        if self.shapes is None:
            return None
        return self.shapes.array(read_only=True)  # its pages handed back once read (``runtime.drop_resident``)

    def stop(self) -> None:
        """Write no more: drop what was written (the delivery is being rejected)."""
        if self.writer is not None:
            self.writer.abandon()
            self.writer = None

    def vocabulary(self) -> dict[str, tuple[pd.CategoricalDtype, pa.Array | None]]:
        """Return the values each kept coded column is expected to hold (the catalogue's codes, the known rivers),
        as one categorical type a column that every batch shares: 10 000 river codes are one index, not one a
        batch; with them as Arrow texts, for :func:`coded`'s lookup."""
        if self._vocabulary is None:
            expected = {f.name: list(f.values) for f in self.layer.fields if f.values}
            expected["river_code"] = sorted(self.along.context.known_rivers)
            types = {name: pd.CategoricalDtype(values) for name, values in expected.items()}
            self._vocabulary = {name: (dtype, arrow_vocabulary(dtype.categories)) for name, dtype in types.items()}
        return self._vocabulary

    def slim(self, frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        """Return the columns of ``frame`` the whole-layer checks, the ratio check and the reports read.

        Those are the key (or a zone's ``code``), the river and the coded fields (bank, zone type,
        kind); the free text (names, notes, basis) is written and done with. The geometries stay
        with them where the whole-layer checks measure them (ranges); where the batches were already
        checked against their rivers and measured (zones, stakes), only as WKB (Arrow binaries, for
        the places of findings and the duplicates' comparison) and a shape key a row: in a file, apart from
        the frame (:attr:`shapes`), until the duplicates' check reads them (8 bytes a stretch a large layer
        would otherwise hold from its first batch to the end).
        """
        key = self.layer.key or "code"
        keep = {key, "river_code", *(f.name for f in self.layer.fields if f.values)}
        if self.along.rivers is None:
            return frame[[c for c in frame.columns if c in keep or c == frame.geometry.name]]
        geoms = np.asarray(frame.geometry.values, dtype=object)
        out = pd.DataFrame(frame[[c for c in frame.columns if c in keep]])
        if key in out:  # read for the findings' ids and the gaps' and overlaps' names only: on disk
            out[key] = spilled_column(out[key])
        for name, (dtype, texts) in self.vocabulary().items():
            if name in out:
                out[name] = coded(out[name], dtype, texts)
        out[WKB] = as_wkb(geoms, spill=True).array  # on disk: the later stages read a few rows
        if self.shapes is None:
            self.shapes = SpilledRows(np.uint64)
        self.shapes.append(shape_keys(geoms))
        return out  # a frame without geometries (see locate.geometry_chunks)


def coded(values: pd.Series, expected: list[str] | pd.CategoricalDtype, value_set: pa.Array | None = None) -> pd.Series:
    """Return ``values`` as categories (1–2 bytes a row where a text took ~15), the ``expected`` ones first.

    Batches whose values are all expected share their categorical type (``expected`` given as one), so
    that joining them keeps the codes; a value beyond them (an error the checks report) makes that
    batch's categories its own, and the join then holds the texts as they were. ``value_set``: the expected
    values as Arrow texts (:func:`~gis_service.runtime.arrow_vocabulary`), for a lookup in Arrow
    (:func:`codes_in_arrow`).
    """
    dtype = expected if isinstance(expected, pd.CategoricalDtype) else pd.CategoricalDtype(expected)
    codes = codes_in_arrow(values, value_set)
    if codes is not None:
        return pd.Series(pd.Categorical.from_codes(codes, dtype=dtype), index=values.index, name=values.name)
    present = values.dropna().unique()
    if pd.api.types.infer_dtype(present, skipna=True) not in ("string", "empty"):
        return values  # codes kept as numbers (a GeoPackage field typed so): as they are
    # Looked up in the shared type's index (its hash table built once), not made a set a batch.
    found = dtype.categories.get_indexer(pd.Index(present))
    extra = sorted(set(np.asarray(present, dtype=object)[found < 0]))
    if extra:
        dtype = pd.CategoricalDtype([*dtype.categories, *extra])
    return pd.Series(pd.Categorical(values, dtype=dtype), index=values.index, name=values.name)


def codes_in_arrow(values: pd.Series, value_set: pa.Array | None) -> np.ndarray | None:
    """Return each value's place in ``value_set`` (a categorical type's categories as Arrow texts; -1: missing),
    looked up by Arrow (:func:`~gis_service.runtime.places_in`); None unless the values are Arrow texts all
    in it (:func:`coded` then decides as for any column)."""
    places = None if value_set is None else places_in(values, value_set)
    if places is None or int((places < 0).sum()) != int(values.isna().sum()):
        return None  # not Arrow texts, or a value beyond the expected ones
    return places


def prepare(
    layer: LayerSpec,
    path: Path,
    options: ImportOptions,
    limits: ArchiveLimits,
    district: District,
    step: Progress,
    seen: Callable[[gpd.GeoDataFrame], None] | None = None,
    batch_rows: int | None = None,
    writer: Callable[[Source, Context], DeliveryWriter] | None = None,
    *,
    context: Callable[[Source], Context],
    along: Callable[[Context], Along],
) -> Prepared:
    """Read, normalise and check feature by feature ``path`` (archives unpacked within ``limits``); reject at
    once what lies outside the district.

    ``seen`` is handed the features the report's feature numbers count (for a preview map). A large
    GeoPackage or Shapefile layer is read, normalised and checked in batches of ``batch_rows``
    features (:func:`normalise_batches`): the raw layer is never whole in memory. ``context`` reads what
    validation needs (the session's last use here); ``writer`` then starts the store of a delivery that may
    be stored as it is read (see :class:`Batches`): on PostGIS its worker makes the deliveries while ``along``
    sets up the checks that run batch by batch and the first batch is read and checked.
    """
    step("read")
    with tempfile.TemporaryDirectory(prefix="rivergis-import-") as tmp:

        def read(rows: int | None) -> Source:
            return read_delivery(
                path,
                Path(tmp),
                limits,
                district,
                layer=options.source_layer,
                encoding=options.encoding,
                crs=parse_crs(options.crs),
                swap=options.swap_xy,
                filename=options.filename,
                batch_rows=rows,
            )

        source = read(batch_rows)
        findings = list(source.findings)
        ctx = context(source)
        # Started before the first batch, not with it: a province's 10 000 deliveries took the worker 0.26 s,
        # which the first batch's hand-over waited for (``benchmarks/README.md``, sixteenth session). A batch
        # with an error abandons it, and what it made is rolled back.
        clean = not any(f.severity == "error" for f in findings)
        started = writer(source, ctx) if writer is not None and clean else None
        try:
            checks = along(ctx)
            del ctx  # the checks keep what they need of it: the whole rivers and ranges go now
            release_free_pages()  # and their pages with them, before the first batch is read (dense rivers: 40 MB)
            batches = Batches(layer, options, started, checks, keep_all=seen is not None)
            step("crs")
            norm = normalise_batches(layer, source, findings, district, batches)
        except BaseException:
            if started is not None:
                started.abandon()  # as the batches would (abandoning twice drops nothing more)
            raise
        if norm is None:
            batches.stop()
            # Some features lie outside the district: the rejection names them from the whole layer.
            source = read(None) if source.batches is not None else source
            findings = list(source.findings) + check_district(source.frame, district)
            if seen:
                seen(source.frame)
            raise rejection(build_report(layer, source, findings, len(source.frame), dry_run=options.dry_run))
    if batches.writer is not None:
        batches.writer.close()  # the last batch is in: the COPY ends while the whole-layer checks run
    findings += norm.findings
    source.describe_columns(norm.field_map, norm.extra_fields)
    # Only the CRS of the raw layer is needed from here on (the report names it).
    source.frame = source.frame.iloc[:0]
    if norm.dropped_z:
        findings.append(
            Finding(
                severity="warning",
                code="z_dropped",
                message=f"{norm.dropped_z} 个要素带有 Z 值（高程），已去除，只保存平面坐标",
                fix="无需处理；如需高程请另行交付",
            )
        )
    frame = norm.frame.reset_index(drop=True)
    given, checked = batches.checks.findings()
    findings += given
    if seen:
        seen(frame)
    reported = {(f.feature, f.field) for f in norm.findings if f.feature is not None and f.field}
    return Prepared(source, findings, checked, frame, reported, checks, batches.writer, batches.kept_shapes())


def store_early(layer: LayerSpec, options: ImportOptions) -> bool:
    """Tell whether a delivery may be stored while it is read and checked (then inside a savepoint).

    Versioned layers only, not a dry run, nor with ``--fix`` (a repair is a finding to look at
    first). Each batch goes to the writer while all is clean (:class:`Batches`); a river code that
    turns out unknown is an error of the whole-layer checks, which then drop what was written.
    """
    return layer.versioned and not options.dry_run and not options.fix


def finish_report(
    layer: LayerSpec, source: Source, findings: list[Finding], frame: gpd.GeoDataFrame, options: ImportOptions
) -> dict[str, Any]:
    """Place the findings on their features and build the report."""
    place(findings, frame, layer.key or ("code" if "code" in frame else None))
    report = build_report(layer, source, findings, len(frame), dry_run=options.dry_run)
    report["source"]["crs"] = describe(source.frame.crs)
    return report


def store_unversioned(
    session: Session, layer: LayerSpec, frame: gpd.GeoDataFrame, options: ImportOptions, store_sites: SiteWriter | None
) -> dict[str, Any]:
    """Write an accepted delivery of a keyed layer (rivers, outfalls) or of problem sites (``store_sites``)."""
    if layer.name == "problems":
        if store_sites is None:
            raise TypeError("problem sites are stored by the ledger: import through gis_service.ledger.intake")
        return {"stored": store_sites(session, frame, options.actor)}
    return {"stored": len(frame), **store_keyed(session, layer, frame)}


def split_report(
    session: Session, report: dict[str, Any], frame: gpd.GeoDataFrame, findings: list[Finding]
) -> tuple[dict[str, Any], ReportTexts | None]:
    """Return each river's part of the report, and for a COPY load the texts :func:`write_reports` sends (made as
    they are sent)."""
    by_river = reports_per_river(report, frame, findings)
    return by_river, ReportTexts(by_river) if session_backend(session).copy_load else None


def attach_reports(
    session: Session,
    split: tuple[dict[str, Any], ReportTexts | None],
    deliveries: list[Submitted],
    options: ImportOptions,
) -> list[dict[str, Any]]:
    """Store each delivery's part of the report, approve them when asked; return them for the report."""
    write_reports(session, {d.river_code: d.id for d in deliveries}, *split)
    if options.approve:
        approve_deliveries(session, [d.id for d in deliveries], actor=options.actor)
        deliveries = [replace(d, status="approved") for d in deliveries]
    return [d.to_dict() for d in deliveries]


def run_import(
    session: Session,
    path: Path,
    options: ImportOptions,
    *,
    settings: Settings,
    progress: Progress | None = None,
    seen: Callable[[gpd.GeoDataFrame], None] | None = None,
    store_sites: SiteWriter | None = None,
) -> dict[str, Any]:
    """Import ``path`` into ``options.layer``; return the report or raise DeliveryRejected (nothing kept).

    ``settings`` give the limits and tolerances; ``seen`` is handed the features the report's feature
    numbers count, once read (for a preview map).
    """
    with collector_paused():
        step = progress or (lambda _stage: None)
        return import_delivery(session, path, options, settings, step, seen, store_sites)


def check_delivery(
    session: Session, path: Path, options: ImportOptions, *, settings: Settings, progress: Progress | None = None
) -> tuple[gpd.GeoDataFrame | None, dict[str, Any], bool]:
    """Check ``path`` as a dry run, storing nothing, whatever the outcome (for a preview map).

    Return the features the report counts (None when the file could not be read into any), the
    report, and whether the delivery would be accepted. Unreadable files still raise their error.
    """
    features: list[gpd.GeoDataFrame] = []
    try:
        report = run_import(
            session,
            path,
            replace(options, dry_run=True, approve=False),
            settings=settings,
            progress=progress,
            seen=features.append,
        )
        accepted = True
    except DeliveryRejected as exc:
        report, accepted = exc.details, False
    return (features[-1] if features else None), report, accepted


def with_web_map_hint(session: Session, exc: MissingCRS, catalogue: Catalogue, district: District) -> BadRequest:
    """Return the missing-CRS refusal, saying so when the lon/lat look copied from a web map (GCJ-02/BD-09)."""
    xy = sample_coordinates(exc.frame)
    if not len(xy) or not lonlat_in_district(xy, district):
        return exc
    pad = 0.05
    bbox = (xy[:, 0].min() - pad, xy[:, 1].min() - pad, xy[:, 0].max() + pad, xy[:, 1].max() + pad)
    rivers = CurrentFeatures(catalogue["rivers"], bbox=bbox).frame(session)
    found = web_map_reading(exc.frame, rivers, district)
    if found is None:
        return exc
    return BadRequest(f"{exc.message}{hint_text(found)}", code=exc.code, details={"web_map": found})


def checks_along(layer: LayerSpec, ctx: Context, settings: Settings) -> Along:
    """Set up the checks that run on each batch, from the validation context: against the rivers (zones, stakes)
    and the ratio check (zones)."""
    rivers = RiverBatches.of(layer, ctx)
    ratios = None
    if layer.name == "zones":
        ratios = ZoneRatios(ctx.rivers, ctx.ranges, ratio_rules(settings), rivers.ready if rivers else None)
    if rivers is not None:
        ctx = rivers.lighten()  # the batches make their rivers' ranges from a compact copy
    return Along(ctx, rivers, ratios)


def import_delivery(
    session: Session,
    path: Path,
    options: ImportOptions,
    settings: Settings,
    step: Progress,
    seen: Callable[[gpd.GeoDataFrame], None] | None,
    store_sites: SiteWriter | None = None,
) -> dict[str, Any]:
    """Run the import stages (see :func:`run_import`)."""
    catalogue, district = catalogue_for(settings), district_for(settings)
    layer = target_layer(catalogue, options.layer)

    def early(source: Source, ctx: Context) -> DeliveryWriter:
        # A streamed layer's rivers come batch by batch: it locks the whole layer (see DeliveryBatches). Their
        # deliveries are made before its first batch's features, from its river column (unless --river names one).
        streamed = source.batches is not None
        rivers = ctx.river_counts if streamed and options.river is None else None
        summary, actor = source.summary(), options.actor
        return DeliveryWriter(session, layer, summary, actor, savepoint=True, whole_layer=streamed, rivers=rivers)

    try:
        prepared = prepare(
            layer,
            path,
            options,
            ArchiveLimits.of(settings),
            district,
            step,
            seen,
            settings.import_batch_rows,
            writer=early if store_early(layer, options) else None,
            # Read before the first batch, while the session is free (a writer takes it next).
            context=lambda source: load_context(session, layer, source, options.river, settings),
            along=lambda ctx: checks_along(layer, ctx, settings),
        )
    except MissingCRS as exc:
        raise with_web_map_hint(session, exc, catalogue, district) from None
    source = prepared.source
    writer = prepared.writer
    release_free_pages()  # the last batch's
    step("validate")
    ctx, ratios = prepared.along.context, prepared.along.ratios
    try:
        checked = validate(
            layer,
            prepared.frame,
            ctx,
            checked=prepared.checked,
            reported=prepared.reported,
            along=prepared.along.rivers.findings() if prepared.along.rivers else None,
            shapes=prepared.shapes,
        )
        findings = prepared.findings + checked.findings
        if any(f.severity == "error" for f in findings):
            raise rejection(finish_report(layer, source, findings, checked.frame, options))
        stored: dict[str, Any] = {"stored": 0}
        if not options.dry_run:
            step("store")
            stored = {"stored": len(checked.frame)}
            if not layer.versioned:
                stored = store_unversioned(session, layer, checked.frame, options, store_sites)
            elif writer is None:
                writer = DeliveryWriter(session, layer, source.summary(), options.actor, savepoint=False)
                writer.add(checked.frame)
        # Nothing left can reject the delivery: the ratio check only adds figures and warnings.
        figures, more = ratios.finish(checked.frame) if checked.ratio_due and ratios is not None else (None, [])
        findings += more
        report = finish_report(layer, source, findings, checked.frame, options)
        if figures is not None:
            report["ratios"] = figures
        # Split while the worker may still be copying: only the delivery ids wait for it (the texts are made as sent).
        split = split_report(session, report, checked.frame, findings) if writer else ({}, None)
        deliveries = writer.finish() if writer else []
    except BaseException:
        if writer is not None:
            writer.abandon()
        raise
    if deliveries:
        stored["deliveries"] = attach_reports(session, split, deliveries, options)
    report.update(stored)
    return report
