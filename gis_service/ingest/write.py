"""Store stage: write a delivery in the caller's transaction.

Versioned layers (ranges, stakes, zone sets) become one submitted delivery per river, their
features written batch by batch as the layer is read and checked. On PostGIS the features' ``COPY``
runs on a worker thread while the main thread goes on reading and checking, so the server's work
(foreign keys, spatial index) overlaps ours: one COPY open across the batches while they bring no river
without its delivery (the file's rivers can have theirs before the first batch), so that the server is
never without rows in between; while the server catches up the worker holds a batch as the rows its COPY
encoded, not as its frame. On SpatiaLite each batch is
inserted on the caller's thread, its spatial index and geometry checks set aside
(``backend.deferred_index``) and done on a worker thread while the caller reads the next batch. A write that starts
before the last check that can reject runs inside a savepoint and is rolled back when the
delivery is rejected. Rivers and outfalls are upserted by key;
problem sites enter the ledger. Nothing here commits.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import geopandas as gpd
from sqlalchemy import bindparam, update
from sqlalchemy.orm import Session, SessionTransaction

from gis_service.catalogue import LayerSpec
from gis_service.db.backend import backend_for, session_backend
from gis_service.db.backends import pgbinary
from gis_service.db.backends.base import IndexWork
from gis_service.store.bulk import feature_rows, insert_features, member_of
from gis_service.store.current import CurrentFeatures
from gis_service.store.deliveries import DeliveryBatches, Submitted
from gis_service.store.tables import table_of

T = TypeVar("T")


class DeliveryWriter:
    """A versioned delivery being stored batch by batch: its deliveries added and its features copied.

    On PostGIS a worker thread writes the batches handed to :meth:`add` while the caller reads and
    checks the next ones; the worker uses the session and its connection on its own until
    :meth:`finish` or :meth:`abandon` joins it, and the caller must not touch the session in between
    (validation and the ratio check are pure functions). On SpatiaLite each batch is written as it comes,
    on the caller's thread, but the upkeep of the table's spatial index (SQLite's own work, without
    Python's lock) runs on a worker until the next :meth:`add`, :meth:`finish` or :meth:`abandon`: the
    same rule holds. A worker's executemany would take Python's lock back after every row and crawl while
    the caller computes (the whole batch on a worker: 4.24–4.27 s against 4.38–4.59 s for the province's
    200 000 stretches, +33 MB); the index's upkeep is one statement a batch.
    """

    def __init__(
        self,
        session: Session,
        layer: LayerSpec,
        source: dict[str, Any],
        actor: str,
        *,
        savepoint: bool,
        whole_layer: bool = False,
        rivers: Mapping[str, int] | None = None,
    ) -> None:
        """``rivers``: the delivery's rivers and how many features each has, when known before its first batch (read
        from its river column): their deliveries are made first, on PostGIS, so that one COPY takes every batch."""
        self.session = session
        self.savepoint: SessionTransaction | None = session.begin_nested() if savepoint else None
        self.error: BaseException | None = None
        self.thread: threading.Thread | None = None
        self.closed = False  # no more batches (:meth:`close`)
        encoding = (source.get("encoding") or {}).get("encoding")
        meta = {"filename": source.get("filename"), "encoding": encoding, "crs": source.get("crs")}
        self.batches = DeliveryBatches(layer, actor=actor, meta=meta, whole_layer=whole_layer)
        conn = session.connection()
        backend = backend_for(conn)
        self.index: IndexWork | None = None
        self.settling: threading.Thread | None = None
        # The COPY open across batches (PostGIS, the worker's): the server has a batch's rows as the worker sends them,
        # and holds the worker back when it falls behind, so a batch is taken when the one before is sent.
        self.stream: pgbinary.CopyStream | None = None
        if not backend.background_writes:
            # Set aside inside the savepoint: a rollback to it restores the table's index upkeep by itself.
            self.index = backend.deferred_index(conn, table_of(layer))
            return
        raw: Any = conn.connection.driver_connection
        # psycopg 3.2's cancel_safe() cannot hang on an unreachable server; 3.1 has only cancel().
        self.cancel = getattr(raw, "cancel_safe", None) or raw.cancel
        # A batch is handed over when the worker takes it (``add``): none waits in between. When the server falls
        # behind (a million stretches), a waiting batch kept its frame and geometries while the main thread read
        # and checked the next one: with one waiting, a million peaked 347–354 MB and took 8.4–9.0 s; handed over
        # as taken, 336–337 MB (below 200 000's 343–345) and 7.3–8.4 s; 200 000 the same either way, since there
        # the worker is free as each batch comes (``benchmarks/README.md``, twelfth session). A second one waiting
        # had bought no time at 200 000 and 4–10% at a million for 14–17 MB more.
        self.queue: queue.Queue[gpd.GeoDataFrame | None] = queue.Queue(maxsize=1)
        self.expected = dict(rivers or {})
        self.thread = threading.Thread(target=self._copy, name="rivergis-copy", daemon=True)
        self.thread.start()

    def add(self, frame: gpd.GeoDataFrame) -> None:
        """Write ``frame``'s features (with their rivers' deliveries): on the worker, or at once on SpatiaLite.

        On the worker it returns once the worker has taken the batch (when done with the one before), so the
        caller reads its next batch only then: a server that falls behind holds the reader back.
        """
        if self.closed:
            raise RuntimeError("the writer was told there are no more batches")
        if self.thread is None:
            try:
                self._settled()
                self.batches.add(self.session, frame, self.index)
            except BaseException:
                self.abandon()
                raise
            if self.index is not None:
                self.settling = threading.Thread(
                    target=self._kept_error, args=(self.index.settle,), name="rivergis-index", daemon=True
                )
                self.settling.start()
            return
        self.queue.put(frame)
        self.queue.join()  # until taken (the worker marks each batch done as it takes it)

    def _copy(self) -> None:
        """Write the batches as they come (worker thread); keep any error for :meth:`finish`, dropping the rest."""
        if self.expected:
            self._kept_error(self.batches.expect, self.session, self.expected)
        while (frame := self.queue.get()) is not None:
            self.queue.task_done()  # taken: :meth:`add` returns
            batch = [frame]  # held by the list alone, which the write empties
            del frame
            if self.error is None:
                self._kept_error(self._write, batch)
            batch.clear()
        self._kept_error(self._end_stream)

    def _write(self, batch: list[gpd.GeoDataFrame]) -> None:
        """Write the one frame of ``batch`` (worker thread): into the open COPY when it can take it, else by a
        statement of its own (opening a COPY that the next batches may take)."""
        if self.stream is not None and not self.batches.delivered(batch[0]):
            self._end_stream()  # the batch's new rivers' deliveries are statements of their own
        features = self.batches.prepare(self.session, batch.pop())
        # The COPY holds what it encodes and lets go of that once encoded: while the server catches up,
        # the batch's frame goes as soon as the main thread is done with it (a million stretches).
        rows = features.rows
        if self.stream is not None and (rows is None or not self.stream.takes(rows)):
            self._end_stream()
        if rows is not None and self.stream is None:
            self.stream = pgbinary.CopyStream(rows.conn, rows.table, rows.names, queued=False)
        features.insert(self.stream if rows is not None else None)

    def _end_stream(self) -> None:
        """End the open COPY (worker thread): wait for the server to have every row."""
        stream, self.stream = self.stream, None
        if stream is not None:
            stream.close()

    def _kept_error(self, call: Callable[..., T], *args: Any) -> T | None:
        """Return ``call(*args)``, or None with its error kept for the main thread (the first one kept; an open COPY
        is then ended as failed)."""
        try:
            return call(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread, which raises it
            self.error = self.error or exc
            stream, self.stream = self.stream, None
            if stream is not None:
                with contextlib.suppress(BaseException):  # the error kept says what went wrong
                    stream.abort(exc)
            return None

    def _settled(self) -> None:
        """Wait for the index upkeep of the batch before (SpatiaLite); raise its error."""
        if self.settling is not None:
            self.settling.join()
            self.settling = None
        if self.error is not None:
            raise self.error

    def close(self) -> None:
        """Tell the worker there is no more (the last batch is in its hands): it ends the COPY, and the server its
        statement, while the caller goes on (the whole-layer checks, the ratio check's walks); :meth:`finish` then
        waits for it. On SpatiaLite nothing: the index upkeep of the last batch is already under way."""
        if self.thread is not None and not self.closed:
            self.queue.put(None)
        self.closed = True

    def _join(self) -> None:
        """Tell the worker there is no more, and wait for it."""
        if self.thread is not None:
            self.close()
            self.thread.join()
            self.thread = None

    def finish(self) -> list[Submitted]:
        """Wait for the features to be written and keep them; return the deliveries (errors are raised)."""
        self._join()
        try:
            self._settled()
            if self.index is not None:
                self.index.close()
                self.index = None
        except BaseException:
            self.abandon()
            raise
        if self.error is not None:
            self.abandon()
            raise self.error
        try:
            deliveries = self.batches.finish(self.session)
        except BaseException:
            self.abandon()
            raise
        if self.savepoint is not None:
            self.savepoint.commit()
            self.savepoint = None
        return deliveries

    def abandon(self) -> None:
        """Stop the worker and drop what it wrote when it wrote inside a savepoint."""
        if self.savepoint is not None and self.thread is not None and self.thread.is_alive():
            # What it writes is dropped anyway: have the server stop now rather than finish the COPY.
            self.error = self.error or InterruptedError("abandoned")
            self.cancel()
        self._join()
        if self.settling is not None:
            self.settling.join()
            self.settling = None
        index, self.index = self.index, None
        if index is not None and self.savepoint is None:
            index.close(check=False)  # what it wrote goes with the caller's rollback; the upkeep stays for later
        if self.savepoint is not None:  # its rollback restores the index upkeep set aside inside it
            self.savepoint.rollback()
            self.savepoint = None


def store_keyed(session: Session, layer: LayerSpec, frame: gpd.GeoDataFrame) -> dict[str, int]:
    """Insert new features of a keyed layer (rivers, outfalls) and update those whose key exists."""
    table = table_of(layer)
    key = layer.key or "code"
    keys = frame[key].astype(str)
    existing: set[str] = set()
    stored = CurrentFeatures(layer).select_columns([key], session_backend(session), geometry=False)
    for clause in member_of(session, table.c[key], keys.unique().tolist()):
        existing |= {str(k) for k in session.scalars(stored.where(clause))}
    known = keys.isin(existing).to_numpy()
    inserted = insert_features(session, layer, frame[~known], {})
    rows = feature_rows(layer, frame[known])
    if rows:
        # One executemany; the key travels under its own name so that it is not also a column to set.
        for row in rows:
            row["_key"] = row.pop(key)
        session.connection().execute(update(table).where(table.c[key] == bindparam("_key")), rows)
    return {"inserted": inserted, "updated": len(rows)}
