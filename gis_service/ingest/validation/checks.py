"""Checks of each feature on its own: geometry (empty, type, validity), fields (required, markup), duplicates.

All run vectorised (shapely 2, pandas); Python only runs per finding. Geometry and field checks see
one batch of the layer at a time (:mod:`.feature_checks`), duplicates and river codes the whole layer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import shapely
from shapely.geometry.base import GEOMETRY_TYPES

from gis_service.catalogue import LayerSpec
from gis_service.ingest.normalise import Finding
from gis_service.ingest.validation.locate import WKB, Locator, from_wkb, numbers
from gis_service.runtime import drop_resident, texts_matching

MARKUP = re.compile(r"<\s*[a-zA-Z!/?]|javascript\s*:|&#", re.IGNORECASE)
TYPE_NAMES = tuple(GEOMETRY_TYPES)  # shapely's type names by type id, as ``geom_type`` spells them
LOCATION = re.compile(r"\[\s*([-\d.eE+]+)\s+([-\d.eE+]+)")


def check_geometries(
    layer: LayerSpec, frame: gpd.GeoDataFrame, loc: Locator, fix: bool
) -> tuple[gpd.GeoDataFrame, list[Finding]]:
    """Find empty, wrongly typed and invalid geometries; repair invalid ones only when ``fix``."""
    findings: list[Finding] = []
    geoms = frame.geometry.values.copy()
    empty = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    for i in np.flatnonzero(empty):
        findings.append(
            loc.finding(
                int(i),
                code="empty_geometry",
                message=f"第 {loc.number(i)} 个要素没有几何图形（空几何）",
                fix="补绘该要素的图形，或删除该记录",
            )
        )
    # By shapely's type ids (a number a row), not the type names geopandas spells out a row.
    ids = shapely.get_type_id(geoms)
    wrong = ~empty & ~np.isin(ids, [TYPE_NAMES.index(t) for t in layer.geometry_types])
    allowed = "、".join(layer.geometry_types)
    for i in np.flatnonzero(wrong):
        findings.append(
            loc.finding(
                int(i),
                code="wrong_geometry_type",
                message=f"第 {loc.number(i)} 个要素的几何类型为 {TYPE_NAMES[ids[i]]}，{layer.label}应为 {allowed}",
                fix=f"导出为 {allowed} 类型的图层",
            )
        )
    check = ~empty & ~wrong
    invalid = np.zeros(len(geoms), dtype=bool)
    invalid[check] = ~shapely.is_valid(geoms[check])
    for i in np.flatnonzero(invalid):
        reason = shapely.is_valid_reason(geoms[i])
        place = {}
        if m := LOCATION.search(reason):
            place = {"lon": round(float(m.group(1)), 7), "lat": round(float(m.group(2)), 7)}
        if fix:
            repaired = _make_valid(geoms[i])
            before, after = _area_m2(geoms[i]), _area_m2(repaired)
            findings.append(
                loc.finding(
                    int(i),
                    severity="warning",
                    code="geometry_repaired",
                    value=reason,
                    **place,
                    message=(
                        f"第 {loc.number(i)} 个要素几何无效（{reason}），已按 --fix 修复：{geoms[i].geom_type} → "
                        f"{repaired.geom_type}，面积 {before:.1f} → {after:.1f} m²"
                    ),
                    fix="核对修复后的图形；最好在测绘软件中改正后重新交付",
                )
            )
            geoms[i] = repaired
        else:
            findings.append(
                loc.finding(
                    int(i),
                    code="invalid_geometry",
                    value=reason,
                    **place,
                    message=f"第 {loc.number(i)} 个要素几何无效：{reason}",
                    fix="在 GIS 软件中修复（如自相交处拆分节点），或加 --fix 自动修复并核对结果",
                )
            )
    if fix and invalid.any():
        frame = frame.set_geometry(gpd.GeoSeries(geoms, index=frame.index, crs=frame.crs))
    return frame, findings


def _make_valid(geom: shapely.Geometry) -> shapely.Geometry:
    """Repair ``geom`` keeping its dimension (polygons stay polygons where GEOS can)."""
    try:
        fixed = shapely.make_valid(geom, method="structure", keep_collapsed=False)
    except TypeError:  # shapely < 2.1
        fixed = shapely.make_valid(geom)
    if fixed.geom_type == "GeometryCollection":
        dim = shapely.get_dimensions(geom)
        parts = [g for g in shapely.get_parts(fixed) if shapely.get_dimensions(g) == dim]
        fixed = shapely.union_all(parts) if parts else fixed
    return fixed


def _area_m2(geom: shapely.Geometry) -> float:
    """Return the geodesic area of a lon/lat geometry in m² (0 for lines and points)."""
    from pyproj import Geod

    if shapely.get_dimensions(geom) < 2:
        return 0.0
    area, _perimeter = Geod(ellps="GRS80").geometry_area_perimeter(geom)
    return abs(area)


def markup_rows(values: pd.Series) -> np.ndarray:
    """Return the rows whose text holds HTML markup or script.

    Markup needs ``<``, ``&#`` or ``javascript``: Arrow finds the few rows holding one (in C++,
    without making a Python string per row) and only those are matched against :data:`MARKUP`.
    """
    texts = pa.array(
        values if isinstance(values.dtype, pd.StringDtype) else values.map(str, na_action="ignore"),
        type=pa.large_string(),
        from_pandas=True,
    )
    # One pass of RE2 over the texts (their distinct ones where they repeat): the three tests as one
    # alternation (the last one case-blind).
    rows = np.flatnonzero(texts_matching(texts, "<|&#|(?i:javascript)"))
    return np.array([i for i in rows if MARKUP.search(texts[int(i)].as_py())], dtype=np.int64)


def check_fields(
    layer: LayerSpec,
    frame: gpd.GeoDataFrame,
    loc: Locator,
    mapped: set[str],
    reported: set[tuple[int, str]] | None = None,
    *,
    layer_wide: bool = True,
) -> list[Finding]:
    """Find missing required fields and values (not those already ``reported`` unreadable); warn of markup.

    ``reported`` cells are numbered as ``loc`` numbers features (in the whole layer); ``layer_wide``
    also reports the fields missing from the layer (once a layer: with its first batch). Text is data:
    markup is stored verbatim and escaped wherever it is shown, so it only warns.
    """
    reported = reported or set()
    findings: list[Finding] = []
    for spec in layer.fields:
        if not spec.required or spec.derived:
            continue
        if spec.name not in mapped and spec.name not in frame:
            if not layer_wide:
                continue
            names = "、".join(dict.fromkeys((spec.label, *spec.aliases)))
            findings.append(
                Finding(
                    code="missing_field",
                    field=spec.name,
                    message=f"缺少必填字段“{spec.label}”（{spec.name}）",
                    fix=f"添加该字段，可用的字段名：{names}",
                )
            )
            continue
        blank = frame[spec.name].isna().to_numpy() if spec.name in frame else np.ones(len(frame), dtype=bool)
        for i in np.flatnonzero(blank):
            if (loc.number(i), spec.name) in reported:
                continue
            findings.append(
                loc.finding(
                    int(i),
                    code="missing_value",
                    field=spec.name,
                    message=f"第 {loc.number(i)} 个要素的必填字段“{spec.label}”为空",
                    fix=f"填写“{spec.label}”",
                )
            )
    for spec in layer.fields:
        if spec.type != "str" or spec.values or spec.name not in frame:
            continue
        column = frame[spec.name]
        for i in markup_rows(column):
            findings.append(
                loc.finding(
                    int(i),
                    code="markup_in_text",
                    severity="warning",
                    field=spec.name,
                    value=str(column.iloc[i]),
                    message=(
                        f"第 {loc.number(i)} 个要素的“{spec.label}”含有 HTML 标记或脚本，已原样保存，显示时按文字转义"
                    ),
                    fix="如非有意填写，请核对该字段；它不影响本次交付",
                )
            )
    return findings


def shape_keys(geoms: np.ndarray) -> np.ndarray:
    """Return a cheap key of each geometry: equal for identical geometries, 0 for a missing or empty one.

    Identical geometries share type, coordinate count and bounds; the key hashes those into one
    number a row (8 bytes, where a frame of its columns took 200 MB at 1 000 000 features). A key
    that repeats by chance only makes a candidate more, which :func:`duplicate_geometries` tells apart.
    """
    usable = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    bounds = shapely.bounds(geoms)
    key = np.zeros(len(geoms), dtype=np.uint64)
    for part in [bounds[:, i] for i in range(4)] + [shapely.get_type_id(geoms), shapely.get_num_coordinates(geoms)]:
        key = key * np.uint64(1_000_003) ^ pd.util.hash_array(part)
    return np.where(usable, key | np.uint64(1), np.uint64(0))


def duplicate_geometries(
    keys: np.ndarray, scope: np.ndarray | None, geometries: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """Return which geometries repeat an earlier one exactly (after normalising), within ``scope`` when given.

    ``keys`` are the rows' :func:`shape_keys`; only rows whose key (and scope) repeats are fetched
    (``geometries`` of those rows), normalised and compared as WKB.
    """
    key = keys.copy()
    if scope is not None:
        key = key * np.uint64(1_000_003) ^ pd.util.hash_array(np.asarray(scope))
    candidates = np.flatnonzero((keys != 0) & repeated(key))
    out = np.zeros(len(keys), dtype=bool)
    if len(candidates):
        wkb = pd.DataFrame({"wkb": shapely.to_wkb(shapely.normalize(geometries(candidates)))})
        if scope is not None:
            wkb["scope"] = scope[candidates]
        out[candidates] = wkb.duplicated(keep="first").to_numpy()
    return out


def repeated(values: np.ndarray) -> np.ndarray:
    """Tell which ``values`` occur more than once (by a sort: a hash table of a million keys takes ~4x the memory)."""
    ordered = np.sort(values)
    twice = ordered[1:][ordered[1:] == ordered[:-1]]
    return np.isin(values, twice) if len(twice) else np.zeros(len(values), dtype=bool)


def geometries_of(
    frame: pd.DataFrame, shapes: np.ndarray | None = None
) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    """Return the rows' shape keys and a function giving the geometries of some rows.

    A layer kept without its geometries (read in batches) comes with its keys made batch by batch
    (``shapes``) and carries its geometries as WKB, decoded only for the rows asked.
    """
    if shapes is not None:
        wkb = frame[WKB]
        return shapes, lambda rows: from_wkb(wkb, rows)
    geoms = np.asarray(frame.geometry.values, dtype=object)
    return shape_keys(geoms), lambda rows: geoms[rows]


def check_duplicates(
    layer: LayerSpec, frame: gpd.GeoDataFrame, loc: Locator, existing_keys: set[str], shapes: np.ndarray | None = None
) -> list[Finding]:
    """Find duplicate keys (per river for versioned layers), keys already stored, and identical geometries.

    ``shapes``: the shape keys of a frame kept without its geometries (see :func:`geometries_of`).
    """
    findings: list[Finding] = []
    scope = ["river_code"] if layer.versioned and "river_code" in frame else []
    if layer.key and layer.key in frame:
        present = frame[layer.key].notna().to_numpy()
        dup = np.zeros(len(frame), dtype=bool)
        dup[present] = pd.Series(value_codes(frame, [*scope, layer.key])[present]).duplicated(keep="first").to_numpy()
        for i in np.flatnonzero(dup):
            findings.append(
                loc.finding(
                    int(i),
                    code="duplicate_key",
                    field=layer.key,
                    message=f"第 {i + 1} 个要素的编号 {frame[layer.key].iloc[i]} 与前面的要素重复",
                    fix="为每个要素填写唯一编号",
                )
            )
        if existing_keys:
            clash = is_in(frame[layer.key], existing_keys).to_numpy()
            for i in np.flatnonzero(clash):
                findings.append(
                    loc.finding(
                        int(i),
                        code="duplicate_key",
                        field=layer.key,
                        message=f"编号 {frame[layer.key].iloc[i]} 已在台账中，不会覆盖已有记录",
                        fix="新问题请用新编号；已有问题请在台账中办理",
                    )
                )
    keys, geometries = geometries_of(frame, shapes)
    # The river as a number a row (equal where the codes are): no Python string a row.
    same = duplicate_geometries(keys, value_codes(frame, scope) if scope else None, geometries)
    drop_resident(keys)  # keys read from their file: its pages go back (read-only: read again, they come back)
    for i in np.flatnonzero(same):
        findings.append(
            loc.finding(
                int(i),
                severity="warning",
                code="duplicate_geometry",
                message=f"第 {i + 1} 个要素的图形与前面的要素完全相同（重复要素）",
                fix="删除重复的要素",
            )
        )
    return findings


def value_codes(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """Return one integer a row that is equal exactly where the rows' values in ``columns`` are (nulls equal nulls).

    Each column is factorised where it lies (Arrow strings stay in Arrow: no Python string a row).
    """
    out = np.zeros(len(frame), dtype=np.int64)
    for column in columns:
        codes, uniques = pd.factorize(frame[column], use_na_sentinel=True)
        out = out * (len(uniques) + 1) + np.where(codes < 0, len(uniques), codes)
    return out


def is_in(values: pd.Series, members: Collection[str]) -> pd.Series:
    """Tell which ``values`` are among ``members`` (hashing once; pandas' Arrow-string ``isin`` loops in Python)."""
    index = pd.Index(list(set(members)), dtype=object)
    found = index.get_indexer(pd.Index(values.to_numpy(dtype=object), dtype=object))
    return pd.Series(found >= 0, index=values.index)


def check_rivers(layer: LayerSpec, frame: gpd.GeoDataFrame, known_rivers: set[str]) -> list[Finding]:
    """Find river codes not in the river layer (one finding per unknown code)."""
    if layer.name == "rivers" or "river_code" not in frame or layer.field("river_code").derived:
        return []
    codes = frame["river_code"]
    # Each distinct code looked up once (10 000 rivers), not each of a million features' codes.
    position, uniques = pd.factorize(codes, use_na_sentinel=True)
    if not len(uniques):
        return []
    known = is_in(pd.Series(uniques, dtype=object).astype(str), known_rivers).to_numpy()
    unknown = pd.Series((position >= 0) & ~known[position], index=frame.index)
    findings = []
    for code, rows in frame.index[unknown.to_numpy()].groupby(codes[unknown.to_numpy()].astype(str)).items():
        positions = frame.index.get_indexer(rows)
        findings.append(
            Finding(
                code="unknown_river",
                field="river_code",
                value=code,
                feature=int(positions[0]) + 1,
                message=f"河流编码 {code} 不在河流图层中（要素 {numbers(positions)}）",
                fix="核对河流编码，或先导入该河流（rivergis import rivers）",
            )
        )
    return findings
