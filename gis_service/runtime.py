"""Process-level tuning shared by the bulk stages (import, ratio check): the collector, the allocator, texts,
columns kept on disk rather than in memory (spilled), and work started on a thread of its own
(:func:`in_background`)."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import mmap
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import IO, Any, TypeVar

import numpy as np
import pandas as pd

T = TypeVar("T")
_lock = threading.Lock()
_holders = 0
_was_enabled = True


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector during bulk work; restore it when the last holder leaves.

    A 200 000-feature delivery or ratio check allocates millions of objects (geometries, strings,
    rows) and the collector would walk them all again and again (a tenth to a fifth of the time);
    reference counting still frees everything as usual. The pause is process-wide, so overlapping
    holders (two requests at once) share it and the collector comes back only after both.
    """
    global _holders, _was_enabled
    with _lock:
        if _holders == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _was_enabled:
                gc.enable()


# glibc's mallopt parameter (malloc.h), and the size from which blocks are mapped (and unmapped when freed).
M_MMAP_THRESHOLD = -3
MAPPED_BYTES = 4 << 20


def in_background(call: Callable[..., T], *args: Any) -> Future[T]:
    """Start ``call(*args)`` on a thread of its own; return its future (the result, or its error raised).

    For work that lets go of Python's lock (GEOS, numpy) while the caller waits on something else, such as the
    database: the two then take both cores.
    """
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rivergis-background")
    future = pool.submit(call, *args)
    pool.shutdown(wait=False)  # the thread ends with the call
    return future


def return_freed_memory_promptly() -> bool:
    """Have glibc hand freed memory back to the system as an import goes; tell whether it could.

    By default glibc raises its mmap and trim thresholds each time a large block is freed, so the
    next stage's arrays (numpy, Arrow, GEOS) come from the heap, which then keeps every stage's
    leftovers: an import's resident memory only ever grows. A fixed threshold turns that off:
    blocks of 4 MB and more are mapped and go back when freed, and the heap's free top is trimmed.
    Measured on 200 000 stretches: about 45 MB off the peak in the same time (a fixed trim threshold
    alone saves twice that, at a fifth more time). Process-wide, so only a command that owns its process calls
    it (``rivergis import``), never a request; elsewhere than glibc it does nothing.

    Arrow then allocates from the same heap too: its own pool (mimalloc) keeps the pages of freed
    buffers, 40–50 MB of an import's peak at 200 000 stretches.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    if not mallopt(M_MMAP_THRESHOLD, MAPPED_BYTES) == 1:
        return False
    import pyarrow as pa  # here: the commands that never call this need not load Arrow

    pa.set_memory_pool(pa.system_memory_pool())
    global _owns_allocator
    _owns_allocator = True
    return True


def release_free_pages() -> None:
    """Hand the whole free pages inside glibc's heaps back to the system (``malloc_trim``); elsewhere nothing.

    A batch of an import leaves what it keeps (a few small columns) among the pages its transients
    used; the next batch reuses only the holes it fits, so the heap grows with every batch. Called
    between batches it keeps ~50 MB off the peak of a million stretches, at a few milliseconds.
    Only in a process that owns its allocator (:func:`return_freed_memory_promptly`): in the web
    server the trim would hold every request thread's allocations for those milliseconds.
    """
    if not _owns_allocator:
        return
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def _malloc_trim() -> Any:
    """Return glibc's ``malloc_trim``, or None (another C library)."""
    global _trim
    if _trim is False:
        try:
            _trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _trim = None
    return _trim


_trim: Any = False  # glibc's malloc_trim once looked up (None: not there)
_owns_allocator = False  # set by return_freed_memory_promptly: this process's command owns it


def arrow_texts(values: Any) -> Any:
    """Return an Arrow-backed text column's texts as one Arrow chunked array (no copy); None for any other values.

    pandas 3 reads texts as such columns (``str``); the lookups below then run in Arrow, making no
    Python string a row.
    """
    if not (isinstance(values, pd.Series) and isinstance(values.dtype, pd.StringDtype)):
        return None
    if values.dtype.storage != "pyarrow":
        return None
    import pyarrow as pa  # here: the commands that never look up texts need not load Arrow

    array: Any = values.array
    return pa.chunked_array(array.__arrow_array__())


def shared_texts(values: Any) -> np.ndarray:
    """Return ``values`` as an object array of texts (None where missing), one str object per distinct value.

    ``astype(str)`` makes a new string a row: 60-100 MB for the river codes of a million stretches,
    which the bulk stages only look up and group by, for which the distinct value's text does as well.
    Arrow texts (:func:`arrow_texts`) are dictionary-encoded by Arrow: only the distinct ones become Python
    strings.
    """
    return texts_at(*text_places(values))


def texts_at(places: np.ndarray, distinct: np.ndarray) -> np.ndarray:
    """Return the text at each of ``places`` in ``distinct`` (:func:`text_places`), None where -1 (missing)."""
    table = np.empty(len(distinct) + 1, dtype=object)
    table[:-1] = distinct
    table[-1] = None  # -1 (missing) takes the last
    out: np.ndarray = table[places]
    return out


def text_places(values: Any) -> tuple[np.ndarray, np.ndarray]:
    """Return each row's place among the distinct texts of ``values`` (-1 where missing), and those texts (str).

    What :func:`shared_texts` is made of; a caller that looks the rows' texts up elsewhere looks up the
    distinct ones and spreads the answer by the places.
    """
    texts = arrow_texts(values)
    if texts is not None:
        import pyarrow.compute as pc

        encoded = pc.dictionary_encode(texts.combine_chunks())
        distinct = np.array(encoded.dictionary.to_pylist(), dtype=object)
        return encoded.indices.fill_null(-1).to_numpy().astype(np.int64), distinct
    position, uniques = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
    return position.astype(np.int64), np.array([str(u) for u in uniques], dtype=object)


def text_groups(values: Any) -> tuple[list[str], np.ndarray, Callable[[int], str | None]]:
    """Return the distinct texts of ``values`` (sorted, missing left out), how many rows hold each, and the text
    of a row (None where missing).

    Categories (an import's kept river codes) are counted by their codes: nothing a row is made, where the
    texts a row of :func:`shared_texts` and their places took ~30 MB for a million stretches.
    """
    if isinstance(getattr(values, "dtype", None), pd.CategoricalDtype):
        categories = values.cat.categories
        places = values.cat.codes.to_numpy()
        tally = np.bincount(places[places >= 0], minlength=len(categories))
        present = np.flatnonzero(tally)
        texts = [str(c) for c in categories[present].tolist()]  # tolist: Arrow's, not a Python step a text
        order = sorted(range(len(texts)), key=texts.__getitem__)
        return [texts[i] for i in order], tally[present][order], lambda row: _category(categories, places[row])
    shared = shared_texts(values)
    position, uniques = pd.factorize(shared, sort=True)
    counts = np.bincount(position[position >= 0], minlength=len(uniques))
    return [str(u) for u in uniques], counts, lambda row: shared[row]


def _category(categories: pd.Index, place: int) -> str | None:
    """Return the text of category ``place`` (None for -1, missing)."""
    return None if place < 0 else str(categories[place])


# How many texts tell whether a column repeats its values (:func:`texts_matching`), and the share of distinct
# ones among them below which it is matched through its distinct texts.
REPEATS_SAMPLE = 2048
REPEATS_SHARE = 0.25


def texts_matching(texts: Any, pattern: str) -> np.ndarray:
    """Return which of Arrow ``texts`` match the RE2 ``pattern`` anywhere, as booleans (missing: False).

    A column that repeats its values (a bank, a zone type, a basis, the river codes: from a handful
    to ~1 600 distinct texts in a batch of 32 768) is matched through its distinct texts: Arrow's
    dictionary encoding costs a quarter to a third of running the pattern over every row. Whether it
    repeats is read off its first texts, so a column of distinct codes (or of chainages, a third to
    half of them distinct) is matched row by row as before; the answer is the same either way. The
    markup and edge-space tests of the province's eight zone columns took 62 ms a batch row by row,
    34 ms this way.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    sample = texts.slice(0, REPEATS_SAMPLE)
    if len(texts) > REPEATS_SAMPLE and pc.count_distinct(sample).as_py() <= REPEATS_SHARE * len(sample):
        encoded = pc.dictionary_encode(texts)
        distinct = pc.fill_null(pc.match_substring_regex(encoded.dictionary, pattern), False)
        matched: np.ndarray = np.append(distinct.to_numpy(zero_copy_only=False), False)  # the last: missing
        at_rows: np.ndarray = matched[encoded.indices.fill_null(-1).to_numpy()]
        return at_rows
    rows = pc.fill_null(pc.match_substring_regex(texts, pattern), False)
    return np.asarray(rows.to_numpy(zero_copy_only=False), dtype=bool)


def arrow_vocabulary(values: Iterable[Any]) -> Any:
    """Return ``values`` as Arrow texts to look texts up in (:func:`places_in`); None unless they are all str.

    A vocabulary looked up batch after batch (an import's 10 000 river codes) is made so once.
    """
    values = values.tolist() if hasattr(values, "tolist") else list(values)  # an Index's texts in one call
    if not all(isinstance(value, str) for value in values):
        return None
    import pyarrow as pa

    return pa.array(values, type=pa.large_string())


def places_in(values: pd.Series, vocabulary: Any) -> np.ndarray | None:
    """Return each text's place in ``vocabulary`` (:func:`arrow_vocabulary`, or texts to make one of; -1: not in
    it, or missing), looked up by Arrow; None unless ``values`` are Arrow texts (:func:`arrow_texts`) and the
    vocabulary texts.

    Arrow's hash lookup makes no Python string a row: a batch of 32 768 codes is 0.5–0.8 ms where
    pandas' ``Index.get_indexer`` (each text made a Python string first) took 3–4 ms.
    """
    texts = arrow_texts(values)
    if texts is None:
        return None
    import pyarrow as pa
    import pyarrow.compute as pc

    value_set = vocabulary if isinstance(vocabulary, pa.Array) else arrow_vocabulary(vocabulary)
    if value_set is None:
        return None
    found = pc.index_in(texts, value_set=value_set.cast(texts.type))
    out: np.ndarray = found.fill_null(-1).to_numpy().astype(np.int64)
    return out


# A column kept whole for the stages after an import's read (WKB, zone codes, the ratio check's vertices)
# moves to a temporary file from this size on: below it the file is not worth its system calls. A batch's
# zone codes (32 768 of them, ~0.6 MB) are above it: a million stretches' codes held 20 MB in memory at 1 MB.
SPILL_BYTES = 1 << 18


def _mapped(file: IO[bytes], access: int) -> mmap.mmap:
    """Map the whole of ``file`` (flushed); the map outlives the file object (an unlinked file lives on in it)."""
    file.flush()
    return mmap.mmap(file.fileno(), 0, access=access)


def spilled_arrow(array: Any) -> Any:
    """Return the Arrow array ``array`` read back from an unlinked temporary file it was written to (Arrow IPC).

    The array's memory can then go: the copy's buffers point into the mapped file, whose pages are the
    kernel's page cache, counted in this process only while a reader touches them (and dropped again
    under memory pressure). What an import keeps of each batch for the whole-layer checks, which read a
    few rows of it (the duplicates' candidates, the places of findings), stays out of its resident
    memory. Arrow writes the file (its IPC format) and reads it back from the map without copying; the file
    is Python's ``TemporaryFile``, which the system removes when the last map of it goes. Small arrays are
    returned as they are, and so is any array when the file cannot be written (a full ``TMPDIR``): memory
    rather than a failed import.
    """
    if array.nbytes < SPILL_BYTES:
        return array
    import pyarrow as pa  # here: the commands that never spill need not load Arrow

    batch = pa.record_batch([array], names=["values"])
    try:
        with tempfile.TemporaryFile(prefix="rivergis-spill-") as file:
            with pa.ipc.new_stream(file, batch.schema) as writer:
                writer.write_batch(batch)
            mapped = _mapped(file, mmap.ACCESS_READ)
    except OSError:
        return array
    return pa.ipc.open_stream(pa.py_buffer(mapped)).read_next_batch().column(0)


def spilled_column(values: pd.Series) -> pd.Series:
    """Return an Arrow-backed column (texts, binaries) with its buffers in a temporary file (:func:`spilled_arrow`),
    of the same dtype and index; any other column as it is."""
    if not hasattr(values.array, "__arrow_array__") or values.array.nbytes < SPILL_BYTES:
        return values
    import pyarrow as pa

    chunks = pa.chunked_array(values.array.__arrow_array__())
    spilled = pa.chunked_array([spilled_arrow(c) for c in chunks.chunks], type=chunks.type)
    return pd.Series(pd.array(spilled, dtype=values.dtype), index=values.index, name=values.name)


def column_rows(values: pd.Series, rows: np.ndarray) -> np.ndarray:
    """Return ``rows`` of a column as Python objects (None where missing), in the order asked.

    An Arrow-backed column is taken chunk by chunk (a joined column holds a chunk a batch): Arrow's
    ``take`` on a chunked array joins the chunks first, which would read, and copy into memory, a whole
    spilled column.
    """
    rows = np.asarray(rows, dtype=np.int64)
    array: Any = values.array
    if not hasattr(array, "__arrow_array__"):
        taken: np.ndarray = values.take(rows).to_numpy(dtype=object, copy=True)  # a copy: writable
        taken[pd.isna(taken)] = None
        return taken
    import pyarrow as pa

    chunks = pa.chunked_array(array.__arrow_array__()).chunks
    out = np.empty(len(rows), dtype=object)
    starts = np.cumsum([0, *(len(c) for c in chunks)])
    chunk_of = np.searchsorted(starts, rows, side="right") - 1
    for k in np.unique(chunk_of):
        mine = np.flatnonzero(chunk_of == k)
        out[mine] = chunks[k].take(pa.array(rows[mine] - starts[k], type=pa.int64())).to_pylist()
    return out


def drop_resident(array: np.ndarray) -> None:
    """Hand back the pages of a spilled column (:meth:`SpilledRows.array`) that this process has read.

    They stay in the file (the kernel's page cache) and come back, the same bytes, when read again:
    a stage that reads a large spilled column group by group calls this after each group, and its
    resident memory is one group's pages, not the whole column's. Only for a read-only array (the
    map is copy-on-write: a page this process wrote would be lost); anything else is left as it is.
    """
    if array.flags.writeable:
        return
    base: Any = array
    while isinstance(base, np.ndarray):
        base = base.base
    if isinstance(base, memoryview):
        base = base.obj
    if isinstance(base, mmap.mmap) and len(base):
        base.madvise(mmap.MADV_DONTNEED)


def interp(x: np.ndarray, xp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """Return ``np.interp(x, xp, fp)`` where ``xp`` and ``fp`` may be spilled, read-only columns.

    numpy's C function copies a read-only array whole before it reads it, every call. For a province's
    centerlines drawn with a vertex every 50 m, that is two 20 MB copies for each batch's lookups. The
    columns are given to it as the same pages, writeable in name (:func:`_writeable_alias`); it only reads them.
    """
    out: np.ndarray = np.interp(x, _writeable_alias(xp), _writeable_alias(fp))
    return out


def _writeable_alias(array: np.ndarray) -> np.ndarray:
    """Return a read-only spilled column (:meth:`SpilledRows.array`) as a writeable array over the same pages of its
    copy-on-write map (a write would change this process's copy, never the file); anything else as it is."""
    if array.flags.writeable:
        return array
    base: Any = array
    while isinstance(base, np.ndarray):
        base = base.base
    if isinstance(base, memoryview) and base.readonly:
        return array
    mapped = base.obj if isinstance(base, memoryview) else base
    if not isinstance(mapped, mmap.mmap) or not len(mapped):
        return array
    start = np.frombuffer(base, dtype=np.uint8).ctypes.data
    offset = array.__array_interface__["data"][0] - start
    return np.ndarray(array.shape, dtype=array.dtype, buffer=base, offset=offset, strides=array.strides)


class SpilledRows:
    """A numpy column appended to batch by batch, moved to an unlinked temporary file once it reaches
    :data:`SPILL_BYTES`; :meth:`array` hands back all its rows (then a private map of the file).

    The rows in the file are the kernel's page cache: only those a reader touches count in this process's
    memory. The map is copy-on-write (``ACCESS_COPY``): a write to the array changes this process's copy
    of that page, never the file, so the array behaves as one in memory would.
    """

    def __init__(self, dtype: Any, width: tuple[int, ...] = ()) -> None:
        self.dtype = np.dtype(dtype)
        self.width = width  # the shape of one row
        self.memory: np.ndarray | None = None  # the rows while they are few
        self.file: IO[bytes] | None = None
        self.rows = 0
        self.stays = False  # in memory for good: the temporary file could not be written

    def __len__(self) -> int:
        """Return the number of rows so far."""
        return self.rows

    def append(self, values: np.ndarray) -> None:
        """Add ``values`` (rows of this column's dtype and width) after the rows so far."""
        values = np.ascontiguousarray(values, dtype=self.dtype)
        self.rows += len(values)
        if self.file is None:
            if self.memory is None:
                self.memory = values.copy()
            else:
                n = len(self.memory)
                self.memory.resize((n + len(values), *self.width), refcheck=False)  # in place: a realloc
                self.memory[n:] = values
            if self.memory.nbytes < SPILL_BYTES or not self.memory.nbytes or self.stays:
                return
            values, self.memory = self.memory, None
        try:
            self.file = self.file or tempfile.TemporaryFile(prefix="rivergis-spill-")
            self._write(values, self.file)
        except OSError:  # no room in TMPDIR: the rows so far and these back in memory, and the rest stays there
            self._back_to_memory(values)

    @staticmethod
    def _write(values: np.ndarray, file: IO[bytes]) -> None:
        """Append ``values``' bytes to ``file``."""
        values.tofile(file)

    def _back_to_memory(self, values: np.ndarray) -> None:
        """Hold in memory the rows the file took before ``values`` and ``values`` themselves, and spill no more."""
        before = np.empty((0, *self.width), dtype=self.dtype)
        if self.file is not None:
            with self.file:
                self.file.seek(0)
                before = np.fromfile(self.file, dtype=self.dtype)
        count = self.rows - len(values)  # the rows written before (a failed write may have left part of more)
        row = int(np.prod(self.width, dtype=np.int64))
        before = before[: count * row].reshape((-1, *self.width))
        self.memory = values if not count else np.concatenate((before, values))
        self.file, self.stays = None, True

    def array(self, *, read_only: bool = False) -> np.ndarray:
        """Return every row (a map of the file once spilled); this column is then empty.

        ``read_only``: the rows are only to be read, and the pages read may be handed back
        (:func:`drop_resident`), to come back from the file when read again.
        """
        if self.file is None:
            out = self.memory if self.memory is not None else np.empty((0, *self.width), dtype=self.dtype)
        else:
            try:
                mapped = _mapped(self.file, mmap.ACCESS_COPY)
            except OSError:  # the map refused: read the file into memory instead
                self._back_to_memory(np.empty((0, *self.width), dtype=self.dtype))
                return self.array(read_only=read_only)
            self.file.close()
            out = np.frombuffer(mapped, dtype=self.dtype).reshape((-1, *self.width))
        self.memory, self.file, self.rows = None, None, 0
        if read_only:
            out.flags.writeable = False
        return out


class SpilledBinary:
    """Binary values (WKB), None among them, appended a chunk at a time to a spilled column of their bytes
    (:class:`SpilledRows`), then taken back by row or by a run of rows.

    Nothing of them is a Python object or a geometry but the rows taken: a province's 10 000 centerlines
    drawn with a vertex every 50 m are 42 MB of WKB, and 78 MB as GEOS geometries. Arrow holds each chunk
    (and the rows taken) as one buffer: its binary arrays are what this is written with, not by hand.
    """

    def __init__(self) -> None:
        self._bytes = SpilledRows(np.uint8)
        self._sizes: list[np.ndarray] = []
        self._present: list[np.ndarray] = []
        self._joined: tuple[Any, np.ndarray, np.ndarray] | None = None  # once read: validity, offsets, bytes

    def __len__(self) -> int:
        """Return the number of values appended."""
        return sum(len(s) for s in self._sizes) if self._joined is None else len(self._joined[1]) - 1

    def append(self, values: Any) -> None:
        """Add ``values`` (bytes, or None for a missing one) after those so far; none may follow a read."""
        import pyarrow as pa

        if self._joined is not None:
            raise RuntimeError("SpilledBinary: values appended after a read")
        array = pa.array(values, type=pa.large_binary())
        _, offsets, data = array.buffers()
        ends = np.frombuffer(offsets, dtype=np.int64, count=len(array) + 1)
        self._sizes.append(np.diff(ends))
        self._present.append(array.is_valid().to_numpy(zero_copy_only=False))
        if data is not None and ends[-1] > ends[0]:
            self._bytes.append(np.frombuffer(data, dtype=np.uint8, count=int(ends[-1]))[int(ends[0]) :])

    def _values(self) -> tuple[Any, np.ndarray, np.ndarray]:
        """Return the validity bitmap (None: all present), the offsets and the bytes (read-only, handed back by
        :meth:`release`); the first read joins the chunks appended."""
        if self._joined is None:
            import pyarrow as pa

            sizes = np.concatenate(self._sizes) if self._sizes else np.zeros(0, dtype=np.int64)
            present = np.concatenate(self._present) if self._present else np.zeros(0, dtype=bool)
            valid = None if present.all() else pa.array(present).buffers()[1]
            offsets = np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)
            self._joined = (valid, offsets, self._bytes.array(read_only=True))
            self._sizes, self._present = [], []
        return self._joined

    @property
    def data(self) -> np.ndarray:
        """The values' bytes, one after the other (a read-only map of their file once spilled)."""
        return self._values()[2]

    def __getitem__(self, rows: slice | np.ndarray) -> np.ndarray:
        """Return the values of ``rows`` (a slice of step 1, or row numbers) as an object array of bytes and None."""
        import pyarrow as pa

        valid, offsets, data = self._values()
        # Arrow's buffers over the same pages: a row taken reads its own bytes only.
        stored = pa.LargeBinaryArray.from_buffers(
            pa.large_binary(), len(offsets) - 1, [valid, pa.py_buffer(offsets), pa.py_buffer(data)]
        )
        if isinstance(rows, slice):
            lo, hi, step = rows.indices(len(stored))
            if step != 1:
                raise ValueError("SpilledBinary: a slice of step 1 only")
            taken = stored.slice(lo, max(hi - lo, 0))
        else:
            taken = stored.take(pa.array(np.asarray(rows, dtype=np.int64), type=pa.int64()))
        out: np.ndarray = taken.to_numpy(zero_copy_only=False)
        return out

    def release(self) -> None:
        """Hand back the pages of the bytes read so far (they stay in the file, and come back when read)."""
        if self._joined is not None:
            drop_resident(self._joined[2])
