"""The bulk stages' runtime: the shared garbage-collector pause, columns kept on disk, texts."""

from __future__ import annotations

import gc

import numpy as np
import pandas as pd
import pytest

from gis_service.runtime import collector_paused


def test_overlapping_holders_share_the_pause_and_restore_the_collector():
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer holder is still working
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off():
    gc.disable()
    try:
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_spilled_rows_come_back_whole_from_a_file_and_stay_writable(monkeypatch):
    import mmap

    import numpy as np

    from gis_service import runtime

    monkeypatch.setattr(runtime, "SPILL_BYTES", 64)  # 4 rows of two doubles: the third batch moves to a file
    column = runtime.SpilledRows(np.float64, (2,))
    batches = [np.arange(k, k + 2 * n, dtype=np.float64).reshape(n, 2) for k, n in ((0, 1), (10, 2), (20, 3), (40, 0))]
    for batch in batches:
        column.append(batch)
    assert len(column) == 6 and column.memory is None and column.file is not None
    rows = column.array()
    assert np.array_equal(rows, np.concatenate(batches))
    root = rows
    while isinstance(root, np.ndarray) and root.base is not None:
        root = root.base
    assert isinstance(root.obj if isinstance(root, memoryview) else root, mmap.mmap)  # the file's pages, not a copy
    rows[0, 0] = -1.0  # copy-on-write: this process's page changes, nothing else
    assert rows[0, 0] == -1.0
    assert len(column) == 0 and column.array().shape == (0, 2)
    # Few rows stay in memory.
    small = runtime.SpilledRows(np.int32)
    small.append(np.array([1, 2, 3], dtype=np.int32))
    assert small.file is None and small.array().tolist() == [1, 2, 3]


def test_a_spilled_arrow_array_reads_as_it_was_written(monkeypatch):
    import pyarrow as pa

    from gis_service import runtime

    values = pa.array([b"\x01\x02", None, b"", b"abc" * 1000], type=pa.binary())
    assert runtime.spilled_arrow(values) is values  # under SPILL_BYTES: kept as it is
    monkeypatch.setattr(runtime, "SPILL_BYTES", 0)
    spilled = runtime.spilled_arrow(values)
    assert spilled is not values and spilled.equals(values)
    assert spilled.to_pylist() == [b"\x01\x02", None, b"", b"abc" * 1000]


def test_a_spilled_text_column_keeps_its_dtype_and_its_rows_come_back_chunk_by_chunk(monkeypatch):
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from gis_service import runtime

    monkeypatch.setattr(runtime, "SPILL_BYTES", 0)
    batches = [pa.array([f"Z{k}-{i}" if i != 1 else None for i in range(3)], type=pa.large_string()) for k in range(3)]
    columns = [runtime.spilled_column(b.to_pandas()) for b in batches]
    assert all(c.dtype == batches[0].to_pandas().dtype for c in columns)
    joined = pd.concat(columns, ignore_index=True)
    assert joined.isna().tolist() == [False, True, False] * 3
    assert runtime.column_rows(joined, np.array([8, 0, 4, 1])).tolist() == ["Z2-2", "Z0-0", None, None]
    numbers = pd.Series([1, 2, 3])
    assert runtime.spilled_column(numbers) is numbers  # not Arrow-backed: as it is
    # Any other column by its rows too (a database read's object codes), missing values as None.
    objects = pd.Series(["A", None, np.nan, "D"], dtype=object)
    assert runtime.column_rows(objects, np.array([3, 1, 2, 0])).tolist() == ["D", None, None, "A"]


def test_without_room_for_the_temporary_file_the_rows_stay_in_memory(monkeypatch):
    import numpy as np
    import pyarrow as pa

    from gis_service import runtime

    monkeypatch.setattr(runtime, "SPILL_BYTES", 16)  # one row of two doubles: every batch goes to the file
    column = runtime.SpilledRows(np.float64, (2,))
    column.append(np.array([[1.0, 2.0]]))
    assert column.file is not None
    calls = {"n": 0}

    def full(values, file):  # the disk fills up halfway through the second write
        calls["n"] += 1
        values[:1].tofile(file)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(runtime.SpilledRows, "_write", staticmethod(full))
    column.append(np.array([[3.0, 4.0], [5.0, 6.0]]))
    assert calls["n"] == 1 and column.file is None and column.stays
    column.append(np.array([[7.0, 8.0]]))
    assert column.array().tolist() == [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]]

    def no_room(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(runtime.tempfile, "TemporaryFile", no_room)
    values = pa.array([b"x" * 64])
    assert runtime.spilled_arrow(values) is values


def _resident_kb(array) -> int:
    """Return the kilobytes of the mapping holding ``array``'s first byte that are resident (from /proc/self/smaps)."""
    address = array.__array_interface__["data"][0]
    inside = False
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            head = line.split()[0]
            if "-" in head and not head.endswith(":"):
                low, high = (int(x, 16) for x in head.split("-"))
                inside = low <= address < high
            elif inside and head == "Rss:":
                return int(line.split()[1])
    raise AssertionError("no mapping holds the array")


def test_a_read_spilled_column_hands_its_pages_back_and_reads_the_same_after(monkeypatch):
    import sys

    import numpy as np
    import pytest

    from gis_service import runtime

    if not sys.platform.startswith("linux"):
        pytest.skip("reads /proc/self/smaps")
    monkeypatch.setattr(runtime, "SPILL_BYTES", 1024)
    values = np.arange(2_000_000, dtype=np.float64)  # 16 MB: 3 900 pages
    column = runtime.SpilledRows(np.float64)
    for part in np.array_split(values, 4):
        column.append(part)
    rows = column.array(read_only=True)
    assert not rows.flags.writeable
    assert float(rows.sum()) == float(values.sum())  # every page read
    assert _resident_kb(rows) >= 15_000
    runtime.drop_resident(rows)
    assert _resident_kb(rows) < 1_000
    assert np.array_equal(rows, values)  # the same bytes, from the file again
    # A writable column may hold pages this process wrote (copy-on-write): they are never dropped.
    column = runtime.SpilledRows(np.float64)
    for part in np.array_split(values, 4):
        column.append(part)
    written = column.array()
    written[-1] = -1.0
    assert float(written.sum()) == float(values.sum()) - values[-1] - 1.0
    runtime.drop_resident(written)
    assert written[-1] == -1.0 and _resident_kb(written) >= 15_000
    # Rows that never reached the file are read-only too when asked, and writable otherwise.
    for read_only in (True, False):
        small = runtime.SpilledRows(np.float64)
        small.append(values[:10])
        assert small.array(read_only=read_only).flags.writeable is not read_only


@pytest.mark.parametrize("spill", [0, 1 << 40])
def test_binary_values_kept_a_chunk_at_a_time_come_back_by_row_and_by_run(monkeypatch, spill):
    # WKB (and any bytes) with None among them, appended in chunks of any size (an empty one, one of None only),
    # spilled or not: taken back by row numbers and by runs, as they were, and read-only.
    import shapely

    from gis_service import runtime

    monkeypatch.setattr(runtime, "SPILL_BYTES", spill)
    rng = np.random.default_rng(5)
    values = [None if k % 4 == 1 else shapely.to_wkb(shapely.Point(rng.normal(size=2))) for k in range(40)]
    values[7] = b""  # empty bytes are a value, not a missing one
    kept = runtime.SpilledBinary()
    chunks = [values[:0], values[0:1], values[1:2], values[2:13], values[13:40]]
    for chunk in chunks:
        kept.append(np.array(chunk, dtype=object))
    assert len(kept) == 40
    rows = rng.integers(0, 40, 100)
    assert list(kept[rows]) == [values[r] for r in rows]
    for lo, hi in ((0, 40), (5, 6), (39, 80), (12, 12)):
        assert list(kept[lo:hi]) == values[lo:hi]
    assert not kept.data.flags.writeable
    kept.release()
    assert list(kept[0:40]) == values  # the same bytes after their pages are handed back
    with pytest.raises(RuntimeError):
        kept.append(np.array([b"x"], dtype=object))
    with pytest.raises(ValueError):
        kept[0:40:2]


def test_interpolation_over_spilled_columns_reads_their_pages_without_a_copy(monkeypatch):
    # numpy's interp copies a read-only array whole before reading it: the spilled, read-only columns of the
    # centerline index are given to it as the same pages, and only the pages its lookups reach become resident.
    import sys

    import pytest

    from gis_service import runtime

    if not sys.platform.startswith("linux"):
        pytest.skip("reads /proc/self/smaps")
    monkeypatch.setattr(runtime, "SPILL_BYTES", 1024)
    rng = np.random.default_rng(4)
    xp_values, fp_values = np.cumsum(rng.random(2_000_000)), np.cumsum(rng.random(2_000_000))
    columns = []
    for values in (xp_values, fp_values):
        column = runtime.SpilledRows(np.float64)
        column.append(values)
        columns.append(column.array())
        columns[-1].flags.writeable = False
    xp, fp = columns
    x = np.concatenate((rng.uniform(xp_values[1000], xp_values[3000], 500), [-1.0, xp_values[-1] + 1]))
    assert runtime.interp(x, xp, fp).tobytes() == np.interp(x, xp_values, fp_values).tobytes()
    # The binary searches' pages of ``xp`` and the few of ``fp`` they lead to: a copy would read both whole (31 MB).
    assert _resident_kb(xp) + _resident_kb(fp) < 12_000
    alias = runtime._writeable_alias(xp)
    assert alias.flags.writeable and np.shares_memory(alias, xp) and not xp.flags.writeable
    in_memory = xp_values[:10].copy()
    in_memory.flags.writeable = False
    assert runtime._writeable_alias(in_memory) is in_memory  # not a map: as it is


def test_places_of_arrow_texts_are_pandas_places() -> None:
    # Looked up by Arrow (a batch's river codes, banks, zone types): the places pandas' index gives, -1 for a
    # missing text or one not in the vocabulary; a column of several chunks (batches joined) as one.
    from gis_service.runtime import places_in

    rng = np.random.default_rng(2)
    vocabulary = pd.Index([f"HL{i:04d}" for i in range(300)], dtype=object)
    drawn = rng.choice([*vocabulary, "HL9999", "", None], 4_000).tolist()
    joined = pd.concat([pd.Series(drawn[:1_500], dtype="str"), pd.Series(drawn[1_500:], dtype="str")])
    for values in (pd.Series(drawn, dtype="str"), joined, pd.Series([], dtype="str")):
        want = vocabulary.get_indexer(pd.Index(values.to_numpy(dtype=object), dtype=object))
        got = places_in(values, vocabulary)
        assert got is not None and got.dtype == np.int64
        assert np.array_equal(got, want)
    assert places_in(pd.Series(drawn, dtype=object), vocabulary) is None  # Python strings: pandas' way


def test_shared_texts_of_arrow_texts_are_those_of_python_strings() -> None:
    # An Arrow-backed column is encoded by Arrow; the texts are the same, one str object per distinct value.
    from gis_service.runtime import shared_texts

    rng = np.random.default_rng(6)
    drawn = rng.choice(["WS001", "WS002", "", "河流甲", None], 3_000).tolist()
    joined = pd.concat([pd.Series(drawn[:1_000], dtype="str"), pd.Series(drawn[1_000:], dtype="str")])
    for values in (pd.Series(drawn, dtype="str"), joined):
        got, want = shared_texts(values), shared_texts(pd.Series(drawn, dtype=object))
        assert got.dtype == object and list(got) == list(want)
        assert len({id(t) for t in got}) == len(set(drawn))  # None and each distinct text: one object each
    assert list(shared_texts(pd.Series([], dtype="str"))) == []


def test_text_groups_of_categories_are_those_of_the_texts() -> None:
    # An import's kept river codes are categories (unused ones, and in no order, among them): counted by
    # their codes they give the same groups, counts and row texts as the texts themselves.
    from collections import Counter

    from gis_service.runtime import text_groups

    rng = np.random.default_rng(7)
    drawn = rng.choice(["WS010", "WS002", "河流甲", "", None], 2_000).tolist()
    tally = Counter(t for t in drawn if t is not None)
    categories = pd.CategoricalDtype(["WS999", "河流甲", "WS010", "", "WS002", "WS001"])
    for values in (
        pd.Series(drawn, dtype=object),
        pd.Series(drawn, dtype="str"),
        pd.Series(pd.Categorical(drawn, dtype=categories)),
    ):
        texts, counts, text_of = text_groups(values)
        assert texts == sorted(tally)
        assert counts.tolist() == [tally[t] for t in sorted(tally)]
        assert [text_of(i) for i in range(len(drawn))] == drawn
