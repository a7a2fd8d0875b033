"""Read stage: open a delivered file with pyogrio/GDAL and return its features in their own CRS.

A GeoPackage or Shapefile layer of more features than a batch is streamed: GDAL's Arrow stream
yields batches of ``batch_rows`` features (:meth:`Source.frames`), so the whole raw layer never sits
in memory; other files are read whole. Accepted: zipped Shapefile (files at the root or in a
folder), GeoPackage, GeoJSON (RFC 7946 or with a ``crs`` member), KML/KMZ, and stake coordinate
tables (CSV/XLSX). Archives are unpacked safely into the caller's private temporary folder (:mod:`archive`);
the encoding of a Shapefile is decided by :mod:`encoding`; a missing CRS is refused naming ``--crs``.
"""

from __future__ import annotations

import importlib.util
import json
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyarrow as pa
import pyogrio
import shapely
from pyproj import CRS

from gis_service.district import District
from gis_service.errors import BadRequest
from gis_service.ingest.archive import ArchiveLimits, extract_archive
from gis_service.ingest.crs import describe, swap_xy
from gis_service.ingest.encoding import EncodingChoice, shapefile_encoding
from gis_service.ingest.kml import check_kml
from gis_service.ingest.normalise import Finding
from gis_service.ingest.tables import read_table

ARCHIVES = {".zip", ".kmz"}
VECTOR = {".shp": "Shapefile", ".gpkg": "GeoPackage", ".geojson": "GeoJSON", ".json": "GeoJSON", ".kml": "KML"}
TABLES = {".csv": "CSV", ".xlsx": "XLSX", ".dat": "CASS"}
# Formats whose feature count GDAL knows without reading the layer: those are streamed in batches.
STREAMED = {"Shapefile", "GeoPackage"}
ACCEPTED = "zip（Shapefile）、.gpkg、.geojson、.kml/.kmz、.csv、.xlsx、.dat（CASS）"
READ_ERRORS = (
    pyogrio.errors.DataSourceError,
    pyogrio.errors.DataLayerError,
    pyogrio.errors.GeometryError,
    pyogrio.errors.FieldError,
    pyogrio.errors.CRSError,
    UnicodeDecodeError,
)


class MissingCRS(BadRequest):
    """A delivery with no CRS; it carries the features read, for a closer look at their numbers."""

    code = "missing_crs"

    def __init__(self, message: str, *, frame: gpd.GeoDataFrame) -> None:
        super().__init__(message)
        self.frame = frame


@dataclass
class Source:
    """A delivery read from its file: raw features in their own CRS, and how they were read.

    A streamed source's ``frame`` holds no rows, only the columns and the CRS: :meth:`frames`
    yields its features batch by batch (``count`` of them in all).
    """

    frame: gpd.GeoDataFrame
    filename: str
    format: str
    layer: str | None = None
    encoding: EncodingChoice | None = None
    crs_source: str = "file"
    axes: str | None = None
    findings: list[Finding] = field(default_factory=list)
    table: dict[str, Any] | None = None
    columns: list[dict[str, str]] = field(default_factory=list)
    extra_fields: list[str] = field(default_factory=list)
    batches: Callable[[], Iterator[gpd.GeoDataFrame]] | None = None
    read_column: Callable[[str], pd.Series] | None = None  # a streamed source's column, read alone
    count: int = 0
    swapped: bool = False

    def __post_init__(self) -> None:
        """Count a whole source's features."""
        if self.batches is None:
            self.count = len(self.frame)

    def frames(self) -> Iterator[gpd.GeoDataFrame]:
        """Yield the features: the whole frame, or a streamed source's batches, in the CRS and axes decided."""
        if self.batches is None:
            yield self.frame
            return
        for batch in self.batches():
            batch.set_crs(self.frame.crs, allow_override=True, inplace=True)
            ready = [swap_xy(batch) if self.swapped else batch]
            # Held only by the caller while it works on it: freed as soon as the caller lets it go.
            del batch
            yield ready.pop()

    def column(self, name: str) -> pd.Series:
        """Return all the values of column ``name``: from the whole frame, or read alone from a streamed file."""
        if self.read_column is None:
            values: pd.Series = self.frame[name]
            return values
        return self.read_column(name)

    def describe_columns(self, field_map: dict[str, str], extra: list[str]) -> None:
        """Add how the attribute columns were read: to a catalogue field, or kept in ``extra``."""
        self.columns += [{"column": str(c), "read_as": f"field:{name}"} for c, name in field_map.items()]
        self.columns += [{"column": c, "read_as": "extra"} for c in extra]
        self.extra_fields = list(extra)

    def summary(self) -> dict[str, Any]:
        """Return how the file was read, for the report."""
        return {
            "filename": self.filename,
            "format": self.format,
            "layer": self.layer,
            "encoding": self.encoding.to_dict() if self.encoding else None,
            "crs": describe(self.frame.crs),
            "crs_source": self.crs_source,
            "axes": self.axes,
            **({"table": self.table} if self.table else {}),
            "columns": self.columns,
            "extra_fields": self.extra_fields,
        }


# Columns GDAL's KML drivers add to every placemark: styling, not what the surveyor wrote.
KML_HOUSEKEEPING = {
    *("tessellate", "extrude", "visibility", "drawOrder", "icon", "altitudeMode", "begin", "end", "timestamp")
}
USE_ARROW = importlib.util.find_spec("pyarrow") is not None


def read_vector(path: Path, *, layer: str | None = None, encoding: str | None = None) -> gpd.GeoDataFrame:
    """Read one vector layer (Shapefile honours its ``.cpg``; ``encoding`` overrides)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            # GDAL's Arrow stream reads a layer about 5x faster than feature by feature.
            return pyogrio.read_dataframe(path, layer=layer, encoding=encoding, use_arrow=USE_ARROW)
    except READ_ERRORS as exc:
        raise BadRequest(
            f"无法读取文件 {path.name}：{exc}。请确认文件完整且为 Shapefile/GeoPackage/GeoJSON/KML 之一。",
            code="unreadable_file",
        ) from exc


def read_batches(path: Path, *, layer: str | None, encoding: str | None, batch_rows: int) -> Iterator[gpd.GeoDataFrame]:
    """Yield the features of a vector layer in batches of ``batch_rows``, converted as :func:`read_vector` does."""
    one_batch_in_hand()
    try:
        with pyogrio.open_arrow(
            path, layer=layer, encoding=encoding, batch_size=batch_rows, use_pyarrow=True, datetime_as_string=True
        ) as (meta, reader):
            for batch in reader:
                ready = [arrow_frame(batch, meta)]
                # Neither the Arrow batch nor its frame stays referenced here while the caller works.
                del batch
                yield ready.pop()
    except READ_ERRORS as exc:
        raise BadRequest(
            f"无法读取文件 {path.name}：{exc}。请确认文件完整且为 Shapefile/GeoPackage/GeoJSON/KML 之一。",
            code="unreadable_file",
        ) from exc


def one_batch_in_hand() -> None:
    """Have GDAL read a GeoPackage's next batch only when asked for it, unless the user chose otherwise.

    By default GDAL's GeoPackage driver reads the next Arrow batch on worker threads while the caller works on the
    one it has (``OGR_GPKG_NUM_THREADS``: as many as the CPUs, up to 4): one more batch of raw columns held all
    the time, for no time an import can see, its checks and the database taking both cores of a small server
    already. Measured on 200 000 stretches (``benchmarks/README.md``, twentieth session): the import's peak 322–328
    → 308–309 MB, on the rivers drawn with a vertex every 50 m 347–348 → 327–328 MB, in the same time. A GDAL
    configuration option is the process's; this one touches only Arrow reads of a GeoPackage.
    """
    if pyogrio.get_gdal_config_option("OGR_GPKG_NUM_THREADS") is None:
        pyogrio.set_gdal_config_options({"OGR_GPKG_NUM_THREADS": "1"})


def arrow_frame(batch: pa.RecordBatch, meta: dict[str, Any]) -> gpd.GeoDataFrame:
    """Return one Arrow batch of GDAL's stream as the GeoDataFrame pyogrio's ``read_dataframe`` would make of it."""
    name = meta["geometry_name"] or "wkb_geometry"
    table = pa.Table.from_batches([batch])
    wkb = table.column(name).combine_chunks() if name in table.column_names else None
    frame = table.drop_columns([name]).to_pandas() if wkb is not None else table.to_pandas()
    for dtype, column in zip(meta["dtypes"], meta["fields"], strict=True):
        if dtype is not None and dtype.startswith("datetime") and dtype != "datetime64[D]":
            frame[column] = _datetimes(frame[column])
    for subtype, column in zip(meta["ogr_subtypes"], meta["fields"], strict=True):
        if subtype == "OFSTJSON" and pd.api.types.infer_dtype(frame[column]) == "string":
            frame[column] = frame[column].map(json.loads, na_action="ignore")
    if isinstance(wkb, pa.ExtensionArray):
        wkb = wkb.storage
    geoms = shapely.from_wkb(wkb.to_numpy(zero_copy_only=False)) if wkb is not None else [None] * len(frame)
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geoms, index=frame.index), crs=meta["crs"])


def _datetimes(texts: pd.Series) -> pd.Series:
    """Parse ISO 8601 datetime texts as pyogrio does (mixed offsets as datetime objects; unreadable: left as text)."""
    try:
        return pd.to_datetime(texts, format="ISO8601")
    except ValueError as exc:
        if "Mixed timezones" not in str(exc):
            return texts
        try:
            return texts.map(datetime.fromisoformat, na_action="ignore")
        except ValueError:
            return texts


def stream_rows(path: Path, layer: str | None, batch_rows: int | None) -> int | None:
    """Return the feature count of a layer to stream in batches of ``batch_rows``; None to read it whole."""
    if not batch_rows:
        return None
    try:
        count = int(pyogrio.read_info(path, layer=layer)["features"])
    except READ_ERRORS:
        return None  # the whole read names the problem
    return count if count > batch_rows else None


def vector_source(
    path: Path, fmt: str, *, layer: str | None, encoding: str | None, batch_rows: int | None
) -> Source | None:
    """Return a streamed source of a large GeoPackage/Shapefile layer; None when it is to be read whole."""
    count = stream_rows(path, layer, batch_rows) if fmt in STREAMED else None
    if count is None or batch_rows is None:
        return None
    info = pyogrio.read_info(path, layer=layer, encoding=encoding)
    if info["crs"] is None:
        return None  # read whole: a missing CRS is refused with the features (see MissingCRS)
    empty = gpd.GeoDataFrame({str(c): [] for c in info["fields"]}, geometry=[], crs=info["crs"])

    def batches() -> Iterator[gpd.GeoDataFrame]:
        return read_batches(path, layer=layer, encoding=encoding, batch_rows=batch_rows)

    def column(name: str) -> pd.Series:
        # One attribute column, without the geometries: what the validation context is read for.
        frame = pyogrio.read_dataframe(
            path, layer=layer, encoding=encoding, columns=[name], read_geometry=False, use_arrow=USE_ARROW
        )
        values: pd.Series = frame[name]
        return values

    return Source(
        frame=empty, filename=path.name, format=fmt, layer=layer, batches=batches, read_column=column, count=count
    )


def datasets_in(files: list[Path]) -> list[Path]:
    """Return the readable datasets among unpacked files (one per Shapefile, GeoPackage, table ...)."""
    return sorted(p for p in files if p.suffix.lower() in VECTOR or p.suffix.lower() in TABLES)


def choose(candidates: list[str], wanted: str | None, what: str) -> str:
    """Pick ``wanted`` among candidate names, or the only one; otherwise ask which (naming --layer)."""
    if wanted:
        for name in candidates:
            if wanted in {name, Path(name).stem, Path(name).name}:
                return name
        raise BadRequest(
            f"{what}中没有名为 {wanted!r} 的图层；可选：{'、'.join(candidates)}",
            code="unknown_source_layer",
            details={"layers": candidates},
        )
    if len(candidates) == 1:
        return candidates[0]
    raise BadRequest(
        f"{what}中有多个图层：{'、'.join(candidates)}。请用 --layer 指定要导入的一个。",
        code="choose_layer",
        details={"layers": candidates},
    )


def _sibling(shp: Path, suffix: str) -> Path | None:
    """Return the sidecar of ``shp`` with ``suffix`` in any letter case."""
    return next((p for p in shp.parent.glob(shp.stem + ".*") if p.suffix.lower() == suffix), None)


def check_sidecars(shp: Path) -> Path:
    """Return ``shp`` once its .dbf and .shx are found; refuse naming the missing one."""
    for suffix, role in ((".dbf", "属性表"), (".shx", "索引")):
        if _sibling(shp, suffix) is None:
            raise BadRequest(
                f"Shapefile {shp.name} 缺少 {suffix} 文件（{role}）。"
                "请把同名的 .shp、.shx、.dbf、.prj（及 .cpg）一起打包。",
                code=f"missing_{suffix[1:]}",
            )
    return shp


def read_dataset(
    path: Path,
    limits: ArchiveLimits,
    district: District,
    *,
    layer: str | None,
    encoding: str | None,
    crs: CRS | None,
    batch_rows: int | None = None,
) -> Source:
    """Read one dataset file (not an archive; an .xlsx table is unpacked within ``limits``).

    A GeoPackage or Shapefile layer of more than ``batch_rows`` features is streamed (see :class:`Source`).
    """
    suffix = path.suffix.lower()
    if suffix in TABLES:
        table = read_table(path, limits, district, encoding=encoding, crs=crs)
        return Source(
            frame=table.frame,
            filename=path.name,
            format=TABLES[suffix],
            encoding=table.encoding,
            crs_source="option" if crs is not None else "table",
            axes=table.axes,
            findings=table.findings,
            table=table.layout,
            columns=table.columns,
        )
    if suffix == ".kml":
        check_kml(path)
    if suffix == ".shp":
        choice = shapefile_encoding(check_sidecars(path), encoding)
        streamed = vector_source(path, "Shapefile", layer=None, encoding=choice.encoding, batch_rows=batch_rows)
        if streamed is not None:
            streamed.layer, streamed.encoding = path.stem, choice
            return streamed
        frame = read_vector(path, encoding=choice.encoding)
        return Source(frame=frame, filename=path.name, format="Shapefile", layer=path.stem, encoding=choice)
    try:
        layers = [str(row[0]) for row in pyogrio.list_layers(path)]
    except READ_ERRORS as exc:
        raise BadRequest(f"无法读取文件 {path.name}：{exc}。请确认文件完整。", code="unreadable_file") from exc
    if not layers:
        raise BadRequest(f"文件 {path.name} 中没有图层。", code="empty_delivery")
    name = choose(layers, layer, f"文件 {path.name} ")
    streamed = vector_source(path, VECTOR[suffix], layer=name, encoding=None, batch_rows=batch_rows)
    if streamed is not None:
        return streamed
    frame = read_vector(path, layer=name)
    if suffix == ".kml":
        frame = frame.drop(columns=[c for c in frame.columns if c in KML_HOUSEKEEPING])
    return Source(frame=frame, filename=path.name, format=VECTOR[suffix], layer=name)


def read_delivery(
    path: Path,
    workdir: Path,
    limits: ArchiveLimits,
    district: District,
    *,
    layer: str | None = None,
    encoding: str | None = None,
    crs: CRS | None = None,
    swap: bool = False,
    filename: str | None = None,
    batch_rows: int | None = None,
) -> Source:
    """Read a delivered file (archive or dataset) into raw features with their CRS; ``workdir`` is private.

    Archives (zip, kmz, xlsx) are unpacked within ``limits``, the caller's (see :class:`ArchiveLimits`).
    A GeoPackage or Shapefile layer of more than ``batch_rows`` features is streamed (:meth:`Source.frames`).
    """
    name = filename or path.name
    suffix = Path(name).suffix.lower()
    if not path.exists() or path.stat().st_size == 0:
        raise BadRequest(f"文件 {name} 是空的或不存在。", code="empty_file")
    if suffix in ARCHIVES:
        files = extract_archive(path, workdir / "unpacked", limits, what="KMZ 文件" if suffix == ".kmz" else "压缩包")
        found = datasets_in(files)
        if not found:
            listed = "、".join(sorted({p.suffix for p in files})) or "无"
            raise BadRequest(
                f"压缩包 {name} 中没有可读取的图层文件（只有 {listed}）；应为 {ACCEPTED}。", code="empty_archive"
            )
        root = workdir / "unpacked"
        rel = [str(p.relative_to(root)) for p in found]
        picked = choose(rel, layer, f"压缩包 {name} ")
        source = read_dataset(
            root / picked, limits, district, layer=None, encoding=encoding, crs=crs, batch_rows=batch_rows
        )
        source.filename = f"{name}/{picked}"
    elif suffix in VECTOR or suffix in TABLES:
        source = read_dataset(path, limits, district, layer=layer, encoding=encoding, crs=crs, batch_rows=batch_rows)
        source.filename = name
    else:
        raise BadRequest(f"不支持的文件类型 {suffix or '（无扩展名）'}；请上传 {ACCEPTED}。", code="unsupported_format")
    if not source.count:
        raise BadRequest(f"{source.filename} 中没有要素。", code="empty_delivery")
    if crs is not None and source.crs_source != "option":
        source.frame = source.frame.set_crs(crs, allow_override=True)
        source.crs_source = "option"
    if source.frame.crs is None:
        raise MissingCRS(
            f"{source.filename} 没有坐标系信息（缺少 .prj 或坐标系元数据）。请用 --crs 指定，"
            "如 --crs 4524（东坐标带带号 36）、--crs 4545（不带带号）或 --crs 4490（经纬度）。",
            frame=source.frame,
        )
    if swap:
        source.frame, source.swapped = swap_xy(source.frame), True
        source.axes = (source.axes + "；" if source.axes else "") + "按用户要求交换 X/Y（X 为北坐标）"
    return source
