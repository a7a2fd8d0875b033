"""The vectorised helpers of import and bulk store give the answer of the plain per-feature computation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely
import shapely.affinity

from gis_service.db.backends.pgcopy import NULL, attrs_text, copy_text, ewkb_hex, rows_payload
from gis_service.ingest.validation.checks import (
    MARKUP,
    duplicate_geometries,
    markup_rows,
    repeated,
    shape_keys,
    value_codes,
)
from gis_service.store.bulk import geometries_for_column


def random_lines(rng: np.random.Generator, n: int) -> np.ndarray:
    """Random walks of 2–40 vertices (metres), one multi-part line and one with a repeated vertex."""
    lines = [shapely.LineString(np.cumsum(rng.normal(size=(rng.integers(2, 40), 2)) * 100, axis=0)) for _ in range(n)]
    lines.append(shapely.MultiLineString([[(0, 0), (10, 0)], [(20, 0), (20, 15)]]))
    lines.append(shapely.LineString([(5, 5), (5, 5), (8, 9)]))
    return np.array(lines, dtype=object)


def test_duplicate_geometries_match_comparing_every_normalised_shape() -> None:
    rng = np.random.default_rng(3)
    base = list(random_lines(rng, 50))
    # Repeats: the same line, reversed (equal once normalised), in another river, and a near miss.
    geoms = [
        *base,
        base[3],
        shapely.reverse(base[5]),
        base[7],
        shapely.affinity.translate(base[9], 1e-6),
        None,
        shapely.LineString(),
    ]
    scope = np.array(["A"] * len(base) + ["A", "A", "B", "A", "A", "A"], dtype=object)
    array = np.array(geoms, dtype=object)
    got = duplicate_geometries(shape_keys(array), scope, lambda rows: array[rows])
    seen: set[tuple[bytes, str]] = set()
    expected = []
    for g, s in zip(geoms, scope, strict=True):
        if g is None or g.is_empty:
            expected.append(False)
            continue
        key = (shapely.to_wkb(shapely.normalize(g)), s)
        expected.append(key in seen)
        seen.add(key)
    assert got.tolist() == expected
    assert got[len(base) :].tolist() == [True, True, False, False, False, False]


def test_colliding_keys_are_still_compared_exactly() -> None:
    rng = np.random.default_rng(5)
    base = list(random_lines(rng, 20))  # 22 lines: rows 0-21, in rivers 0 (even rows) and 1 (odd rows)
    n = len(base)
    # Every row shares one key (as if the hash collided for all) and the rivers are numbers (value codes).
    # Added to river 0: row 2 again, row 3 again (its first is in river 1), row 4 reversed (equal once normalised).
    geoms = np.array([*base, base[2], base[3], shapely.reverse(base[4])], dtype=object)
    scope = np.array([i % 2 for i in range(n)] + [0, 0, 0], dtype=np.int64)
    got = duplicate_geometries(np.full(len(geoms), 7, dtype=np.uint64), scope, lambda rows: geoms[rows])
    assert np.flatnonzero(got).tolist() == [n, n + 2]


def test_repeated_keys_found_by_sorting() -> None:
    # 5 and 1 occur twice, 2 and 7 once; the largest uint64 twice (no sign trouble in the sort).
    top = np.iinfo(np.uint64).max
    keys = np.array([5, 1, 5, 2, 1, 7, top, top], dtype=np.uint64)
    assert repeated(keys).tolist() == [True, True, True, False, True, False, True, True]
    assert repeated(np.array([3], dtype=np.uint64)).tolist() == [False]
    assert repeated(np.zeros(0, dtype=np.uint64)).tolist() == []


def test_markup_found_in_one_pass_matches_each_value() -> None:
    values = pd.Series(
        [
            "清溪河",
            "<script>x</script>",
            None,
            "a < b",
            "JavaScript :go",
            "&#60;",
            "x<",
            "<\n/b>",
            "javascript",
            ":",
            "&",
            "#",
            "普通文字",
        ]
        * 3,
        dtype=object,
    )
    expected = [i for i, v in enumerate(values) if isinstance(v, str) and MARKUP.search(v)]
    assert markup_rows(values).tolist() == expected
    assert markup_rows(pd.Series(["甲", None, "乙"], dtype=object)).tolist() == []


def test_copy_text_escapes_and_nulls() -> None:
    values = np.array(["a\tb", "c\\d", None, "e\nf\r", "a\tb", "plain"], dtype=object)
    expected = ["a\\tb", "c\\\\d", NULL, "e\\nf\\r", "a\\tb", "plain"]
    assert copy_text(values, str).to_pylist() == expected
    # The same through the per-distinct-value path (a non-string encoder).
    assert copy_text(values, lambda v: str(v)).to_pylist() == expected


def test_rows_payload_and_attrs_are_copy_text() -> None:
    attrs = attrs_text(
        {"甲": np.array(["a\tb", None, "c"], dtype=object), "n": np.array([1, 2, None], dtype=object)}, 3
    )
    # Each row's JSON holds its non-null fields; JSON's backslash (for the tab) is doubled for COPY.
    assert attrs.to_pylist() == ['{"甲": "a\\\\tb", "n": 1}', '{"n": 2}', '{"甲": "c"}']
    payload = bytes(rows_payload([copy_text(np.array(["x", None, "z"], dtype=object), str), attrs]))
    assert payload.decode() == ('x\t{"甲": "a\\\\tb", "n": 1}\n\\N\t{"n": 2}\nz\t{"甲": "c"}\n')
    assert bytes(rows_payload([copy_text(np.array(["a", "b", "c", "d"], dtype=object), str)[1:3]])) == b"b\nc\n"


def test_hex_ewkb_is_what_postgis_expects() -> None:
    geoms = np.array(
        [
            shapely.Point(106.9, 28.9),
            shapely.LineString([(1, 2), (3, 4)]),
            shapely.MultiPolygon([shapely.box(0, 0, 1, 1)]),
            None,
        ],
        dtype=object,
    )
    expected = shapely.to_wkb(shapely.set_srid(geoms[:3], 4490), hex=True, include_srid=True, byte_order=1)
    # Hex digits in either case read the same in PostGIS.
    assert [h.upper() for h in ewkb_hex(geoms).to_pylist()] == [*expected.tolist(), NULL.upper()]


def test_single_parts_are_promoted_for_multi_columns() -> None:
    geoms = np.array(
        [shapely.LineString([(0, 0, 5), (1, 1, 6)]), shapely.MultiLineString([[(0, 0), (1, 0)]])], dtype=object
    )
    out = geometries_for_column(geoms, "MULTILINESTRING")
    assert [g.geom_type for g in out] == ["MultiLineString", "MultiLineString"]
    assert not shapely.has_z(out).any()
    assert shapely.equals(out[0], shapely.MultiLineString([[(0, 0), (1, 1)]]))


def test_each_river_report_lists_and_counts_its_own_findings() -> None:
    import json

    import geopandas as gpd

    from gis_service.ingest.normalise import Finding
    from gis_service.ingest.validation.report import MAX_PER_CODE, reports_per_river
    from gis_service.store.bulk import ReportTexts

    frame = gpd.GeoDataFrame({"river_code": ["A", "A", "A", "B", "B"]}, geometry=[None] * 5)
    many = [Finding(severity="warning", code="zone_gap", feature=2, message="缺口") for _ in range(MAX_PER_CODE + 50)]
    named = Finding(severity="warning", code="zone_overlap", value="B", message="重叠")
    everywhere = Finding(severity="info", code="z_dropped", message="去除 Z 值")
    report = {
        "layer": "zones",
        "layer_label": "岸线功能分区",
        "source": {"filename": "z.gpkg"},
        "dry_run": False,
        "feature_count": 5,
        "counts": {"error": 0, "warning": 251, "info": 1},
        "findings": [],
        "ratios": {"rivers": [{"code": "A", "ratio": 0.6}, {"code": "B", "ratio": 0.4}]},
    }
    by_river = reports_per_river(report, frame, [*many, named, everywhere])
    a, b = by_river["A"], by_river["B"]
    assert (a["feature_count"], b["feature_count"]) == (3, 2)
    assert a["counts"] == {"error": 0, "warning": MAX_PER_CODE + 50, "info": 1} and a["omitted"] == {"zone_gap": 50}
    assert [f["code"] for f in a["findings"]].count("zone_gap") == MAX_PER_CODE
    assert b["counts"] == {"error": 0, "warning": 1, "info": 1} and "omitted" not in b
    assert {f["code"] for f in b["findings"]} == {"zone_overlap", "z_dropped"}
    assert a["ratios"] == {"rivers": [{"code": "A", "ratio": 0.6}]} and a["source"] is b["source"]
    # The texts stored for them are their JSON, the shared members spliced in.
    made = ReportTexts(by_river)
    assert {code: json.loads(made.text(code)) for code in by_river} == json.loads(json.dumps(by_river))


def test_value_codes_repeat_exactly_where_the_rows_do() -> None:
    rng = np.random.default_rng(5)
    rivers = rng.choice(np.array(["WS001", "WS002", None], dtype=object), 300)
    codes = rng.choice(np.array(["L01", "L02", "R01", None], dtype=object), 300)
    frame = pd.DataFrame({"river_code": pd.Series(rivers, dtype="str"), "code": pd.Series(codes, dtype="str")})
    expected = pd.DataFrame({"r": rivers, "c": codes}).duplicated(keep="first").to_numpy()
    got = pd.Series(value_codes(frame, ["river_code", "code"])).duplicated(keep="first").to_numpy()
    assert got.tolist() == expected.tolist()
    # 3 river values (null one of them) x 4 code values: at most 12 distinct rows, each seen first once.
    assert int((~got).sum()) == len({(r, c) for r, c in zip(rivers, codes, strict=True)}) <= 12


def test_codes_looked_up_in_arrow_are_pandas_codes() -> None:
    # A batch's coded columns (river, bank, zone type) are looked up by Arrow when they are Arrow texts all
    # among the expected values; anything else takes pandas' way. Both give the same categories and codes.
    import pyarrow as pa

    from gis_service.ingest.pipeline import coded, codes_in_arrow
    from gis_service.runtime import arrow_vocabulary

    rng = np.random.default_rng(4)
    expected = [f"WS{i:03d}" for i in range(500)]
    dtype = pd.CategoricalDtype(expected)
    texts = arrow_vocabulary(dtype.categories)
    drawn = rng.choice([*expected, None], 5_000).tolist()
    for values, arrow in (
        (drawn, True),
        ([*drawn, "WS999"], False),  # a code beyond the expected ones: its own categories, as before
        ([None] * 3, True),
        ([], True),
    ):
        for dtype_name in ("str", "string[python]", object):
            column = pd.Series(values, dtype=dtype_name)
            fast, plain = coded(column, dtype, texts), coded(column, dtype)
            assert list(fast.cat.categories) == list(plain.cat.categories)
            assert np.array_equal(fast.cat.codes.to_numpy(), plain.cat.codes.to_numpy())
            looked_up = codes_in_arrow(column, texts) is not None
            assert looked_up == (arrow and dtype_name == "str")
    assert arrow_vocabulary(pd.CategoricalDtype([1, 2]).categories) is None  # number codes: pandas' way
    assert texts is not None and texts.type == pa.large_string()


def test_field_counts_count_each_value_as_normalise_reads_it_row_by_row(tmp_path) -> None:
    """The river column read alone gives each river's feature count as the normalised rows hold it: codes with spaces
    around them, empty and missing cells, and a column GDAL typed as numbers."""
    import geopandas as gpd
    import pyogrio

    from gis_service.catalogue import bundled_catalogue
    from gis_service.ingest.normalise import field_counts, field_values, normalise

    layer = bundled_catalogue()["zones"]
    lines = [shapely.LineString([(106.8, 28.8 + i / 1000), (106.81, 28.8 + i / 1000)]) for i in range(9)]
    cases = {
        "text": [" WS001", "WS001 ", "WS001", "WS002", "", None, "WS002", "\tWS003", "WS001"],
        "numbers": [101, 101, 102, None, 101, 103, 103, 103, 102],
    }
    for name, codes in cases.items():
        frame = gpd.GeoDataFrame({"河流编码": codes, "岸别": ["左岸"] * 9}, geometry=lines, crs=4490)
        path = tmp_path / f"{name}.gpkg"
        pyogrio.write_dataframe(frame, path)  # GDAL's file: its own column type
        read = pyogrio.read_dataframe(path)
        columns = [c for c in read.columns if c != read.geometry.name]
        by_row = pd.Series(normalise(layer, read).frame["river_code"], dtype=object).dropna()
        expected = {str(k): int(v) for k, v in by_row.value_counts().items()}

        def column(source: str, read: gpd.GeoDataFrame = read) -> pd.Series:
            return read[source]

        assert field_counts(layer, columns, column, "river_code") == expected, name
        assert field_values(layer, columns, column, "river_code") == set(expected)
        assert sum(expected.values()) == (7 if name == "text" else 8)  # the empty and missing cells left out
    assert field_counts(layer, ["名称"], lambda _: pd.Series([], dtype=object), "river_code") == {}


def _texts(values: list[str | None]) -> pd.Series:
    """``values`` as pandas 3 reads a file's text column: Arrow-backed strings."""
    return pd.Series(values, dtype="str")


def test_texts_matched_through_their_distinct_values_are_those_each_row_matches(monkeypatch) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc

    from gis_service.catalogue import FieldSpec
    from gis_service.ingest.normalise import EDGE_SPACE, coerce_column
    from gis_service.runtime import REPEATS_SAMPLE, texts_matching

    rng = np.random.default_rng(7)
    vocabulary = ["左岸", " 右岸", "保护区\u3000", "<b>岸</b>", "JavaScript:go", "&#60;", None, "", "a < b", "\x1c桩"]
    repeating = [vocabulary[i] for i in rng.integers(0, len(vocabulary), 3 * REPEATS_SAMPLE)]
    distinct = [f"K{i}" + ("<i>" if i % 97 == 0 else " " if i % 89 == 0 else "") for i in range(3 * REPEATS_SAMPLE)]
    distinct[5] = None
    # Distinct over the first texts, then one value over and over: read as a column of distinct codes.
    late = [f"Z{i}" for i in range(REPEATS_SAMPLE)] + [" <重复>"] * REPEATS_SAMPLE
    # Each pattern's answer for one text, by Python's own means.
    patterns = {
        "<|&#|(?i:javascript)": lambda v: "<" in v or "&#" in v or "javascript" in v.lower(),
        EDGE_SPACE: lambda v: v != v.strip(),
    }
    # How many texts each pass of the pattern reads: the distinct ones where a column repeats.
    read: list[int] = []
    original = pc.match_substring_regex
    monkeypatch.setattr(
        pc, "match_substring_regex", lambda texts, *a, **k: read.append(len(texts)) or original(texts, *a, **k)
    )
    for column in (repeating, distinct, late):
        texts = pa.array(column, type=pa.large_string())
        for pattern, each in patterns.items():
            read.clear()
            expected = [v is not None and each(v) for v in column]
            assert texts_matching(texts, pattern).tolist() == expected
            assert texts_matching(pa.chunked_array([texts[:100], texts[100:]]), pattern).tolist() == expected
            assert read == ([len(set(column) - {None})] * 2 if column is repeating else [len(column)] * 2)
        # What the import makes of them: the rows with markup, and the text trimmed (blank: missing).
        assert markup_rows(_texts(column)).tolist() == [i for i, v in enumerate(column) if v and MARKUP.search(v)]
        text, failed, _raw = coerce_column(FieldSpec(name="code", label="编号", type="str"), _texts(column))
        assert [None if pd.isna(v) else v for v in text] == [
            (v.strip() or None) if v is not None else None for v in column
        ]
        assert len(failed) == 0


def test_extra_fields_made_from_each_columns_distinct_values_are_each_rows_own() -> None:
    import datetime as dt

    from gis_service.ingest.normalise import extra_values

    rng = np.random.default_rng(11)
    n = 5000
    notes = np.array([" 甲 ", "乙", None, "", "  "], dtype=object)[rng.integers(0, 5, n)]
    counts = pd.Series(rng.integers(0, 4, n), dtype="Int64").mask(rng.random(n) < 0.2)
    days = np.array([dt.date(2022, 5, 1), None], dtype=object)[rng.integers(0, 2, n)]
    frame = pd.DataFrame({"备注": notes, "n": counts, "日期": days})

    def own(row: dict) -> dict | None:
        """A row's object as the catalogue keeps it, made by hand: text trimmed, blanks left out, dates ISO."""
        out = {}
        for name, value in row.items():
            if value is None or pd.isna(value) or (isinstance(value, str) and not value.strip()):
                continue
            out[name] = value.strip() if isinstance(value, str) else value.isoformat() if name == "日期" else int(value)
        return out or None

    rows = frame.to_dict("records")
    values = extra_values(frame, ["备注", "n", "日期"], None)
    assert values == [own(row) for row in rows]
    # Rows of the same cells share one object (encoded once when stored).
    shared: dict[tuple, set[int]] = {}
    for row, value in zip(rows, values, strict=True):
        shared.setdefault(tuple(None if pd.isna(v) else v for v in row.values()), set()).add(id(value))
    assert all(len(objects) == 1 for objects in shared.values()) and len(shared) > 20
    # Six columns of 5 000 distinct values each: their places no longer fit one 63-bit key and are renumbered.
    wide = pd.DataFrame({f"c{k}": [f"v{k}-{(i * (k + 3)) % n}" for i in range(n)] for k in range(6)})
    wide.loc[n - 1] = wide.loc[0]
    many = extra_values(wide, list(wide.columns), None)
    assert many == [{f"c{k}": wide.iloc[i, k] for k in range(6)} for i in range(n)]
    assert many[n - 1] is many[0] and len({id(v) for v in many}) == n - 1


def test_coded_fields_spread_from_their_distinct_values_are_each_rows_own() -> None:
    from gis_service.catalogue import bundled_catalogue
    from gis_service.ingest.normalise import coerce, coerce_column

    zones = bundled_catalogue()["zones"]
    rng = np.random.default_rng(5)
    raw = {
        "bank": ["左岸", " 右岸 ", "L", "right", None, "", "中间", "左"],
        "zone_type": ["保护区", "保留区", "控制利用区", "开发利用区", "protected", None, "其他区"],
    }

    def each(spec, value):
        """A cell coerced on its own (None where it cannot be)."""
        try:
            return None if value is None else coerce(spec, value)
        except (ValueError, TypeError, OverflowError):
            return None

    for name, vocabulary in raw.items():
        spec = zones.field(name)
        cells = [vocabulary[i] for i in rng.integers(0, len(vocabulary), 4000)]
        for column in (pd.Series(cells, dtype="str"), pd.Series(cells, dtype=object)):
            values, failed, bad = coerce_column(spec, column)
            expected = [each(spec, v) for v in cells]
            assert [None if pd.isna(v) else v for v in values] == expected
            # The column pandas makes of the list of coerced values.
            assert pd.Series(values).dtype == pd.Series(expected).dtype
            unreadable = [i for i, v in enumerate(cells) if v is not None and v.strip() and each(spec, v) is None]
            assert failed.tolist() == unreadable and bad == [cells[i] for i in unreadable] and unreadable
