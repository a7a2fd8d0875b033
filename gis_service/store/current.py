"""The one read path of a layer's features: "the current features of layer L" and its versions.

:class:`CurrentFeatures` is a query object (approved versions only for versioned layers) holding
every way a reader narrows a layer: equality filters, a geometry-true area (``bbox`` prefilters
with the spatial index, ``area`` is then intersected exactly), a compiled filter clause (CQL2,
see ``gis_service/ogc/filters.py``), a period on the layer's date, sort order, property subset
and paging. :class:`LayerVersions` is the same object over one delivery (or every version).
It answers rows, a GeoDataFrame, GeoJSON Feature texts and an exact count.

It is the one read path: the API, OGC, exports, maps, the ratio check, the ledger, the CLI and
the pages read a layer through it (``frame`` for every field, ``columns_frame`` for a few typed
columns of many features, ``values`` for columns without geometry, ``texts`` for GeoJSON), and
the versions of a river through :class:`gis_service.store.history.DeliveryHistory`. No module
outside ``store/`` and ``db/`` builds its own query of a layer table (``tests/test_read_path.py``
checks it). A ``bbox`` is exact everywhere: a feature's geometry, not its box, meets it.
Every PostGIS/SpatiaLite difference is the backend's (``gis_service/db/backend.py``): its index
filter and predicates, and whether SQL writes a page's GeoJSON.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import (
    Boolean,
    Connection,
    Float,
    Integer,
    LargeBinary,
    Select,
    Table,
    and_,
    bindparam,
    func,
    select,
    true,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from gis_service.catalogue import Catalogue, LayerSpec
from gis_service.db.backend import SpatialBackend, session_backend
from gis_service.db.backends.base import BoundFilter
from gis_service.db.driver import DriverStatement, driver_scalars
from gis_service.db.models import Delivery
from gis_service.store.counts import total
from gis_service.store.history import CURRENT
from gis_service.store.rows import driver_rows
from gis_service.store.spatial import BBox, geom_wkb
from gis_service.store.tables import CRS, SYSTEM_COLUMNS, feature_columns, rows_to_frame, table_of

# The date a layer's features are dated by (OGC ``datetime``): its own column, or for versioned
# layers the moment their delivery was approved.
DATED_COLUMNS = {"problems": "found_date"}
APPROVED_AT = "approved_at"
BOX_PARAMS = ("box_minx", "box_miny", "box_maxx", "box_maxy")  # a bound box's corners (``bound(exact=False)``)


def _json_default(value: Any) -> Any:
    """Serialise dates and numpy scalars (as ``export.geojson.dumps`` does)."""
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_json_default)
# Built PostGIS JSON statements by query shape: building one costs more than running it. With
# each, its text compiled for the driver (None: run through SQLAlchemy), keyed by backend too.
_STATEMENTS: dict[tuple[Any, ...], tuple[Select[Any], DriverStatement | None]] = {}


def _connection(conn: Session | Connection) -> Connection:
    """Return the Core connection of a session (a plain SELECT needs nothing of the ORM)."""
    return conn.connection() if isinstance(conn, Session) else conn


def dated_column(layer: LayerSpec) -> str | None:
    """Return the name of the date ``layer``'s features are dated by, or None when undated."""
    if layer.versioned:
        return APPROVED_AT
    return DATED_COLUMNS.get(layer.name)


@dataclass(frozen=True)
class CurrentFeatures:
    """A read of the current features of one layer (see the module docstring)."""

    layer: LayerSpec
    where: Mapping[str, Any] = field(default_factory=dict)
    bbox: BBox | None = None  # lon/lat (EPSG:4490) box: the index prefilter, and the area when ``area`` is None
    area: BaseGeometry | None = None  # EPSG:4490 geometry features must intersect (inside ``bbox``)
    clause: Callable[[Table, SpatialBackend], ColumnElement[bool]] | None = None  # a compiled filter (CQL2)
    period: tuple[dt.datetime | None, dt.datetime | None] | None = None  # on :func:`dated_column`
    sort: tuple[tuple[str, bool], ...] = ()  # (column, descending), then id
    properties: tuple[str, ...] | None = None  # None: every catalogue field
    fid: int | None = None
    limit: int | None = None
    offset: int = 0
    # The rivers a versioned layer's read keeps to (a filter's ``river_code IN (…)``): their deliveries are read first.
    rivers: tuple[str, ...] | None = None

    def replace(self, **changes: Any) -> CurrentFeatures:
        """Return a copy with ``changes`` (e.g. another page)."""
        return dataclasses.replace(self, **changes)

    @property
    def table(self) -> Table:
        """The layer's table."""
        return table_of(self.layer)

    def scope(self) -> ColumnElement[bool] | None:
        """Return the clause keeping the features this read is about: the approved versions.

        A river (or a filter's list of rivers) asked of a versioned layer narrows the deliveries: a feature's
        river is its delivery's, and the feature tables keep no index on it (migration 0015), so the river's
        approved delivery is found by the deliveries' index and its features by ``delivery_id``.
        """
        if not self.layer.versioned:
            return None
        return self.table.c.delivery_id.in_(select(Delivery.id).where(Delivery.status == CURRENT, *self._of_river()))

    def _of_river(self) -> list[ColumnElement[bool]]:
        """Return the conditions keeping the deliveries of the rivers this read asks for (none if it asks for none):
        one river (``where``), or a filter's list of them (:attr:`rivers`)."""
        river = self.where.get("river_code")
        conditions = [] if river is None else [Delivery.river_code == river]
        if self.rivers is not None:
            conditions.append(Delivery.river_code.in_(self.rivers))
        return [Delivery.layer == self.layer.name, *conditions] if conditions else []

    def names(self) -> list[str]:
        """Return the property names served, in order: system columns, then the catalogue's (or those asked)."""
        fields = self.layer.field_names if self.properties is None else list(self.properties)
        return [*(c for c in SYSTEM_COLUMNS if c in self.table.c), *fields]

    def _period_values(self) -> tuple[Any, Any]:
        """Return the ends of :attr:`period` as the dated column compares them (days for a date column)."""
        start, end = self.period or (None, None)
        if dated_column(self.layer) == APPROVED_AT:
            return start, end
        # Dates compare as dates: the day of a moment (the district keeps one calendar).
        return (start.date() if start else None), (end.date() if end else None)

    def _period_clause(self, start: Any, end: Any) -> ColumnElement[bool]:
        """Return the clause keeping features dated between ``start`` and ``end`` (values or parameters)."""
        column = dated_column(self.layer)
        col: Any = Delivery.decided_at if column == APPROVED_AT else self.table.c[column or "id"]
        parts = [col.is_not(None)]
        if start is not None:
            parts.append(col >= start)
        if end is not None:
            parts.append(col <= end)
        if column == APPROVED_AT:
            return self.table.c.delivery_id.in_(select(Delivery.id).where(Delivery.status == CURRENT, *parts))
        return and_(*parts)

    def filtered(self, query: Select[Any], backend: SpatialBackend) -> Select[Any]:
        """Add every filter of this read (not the order or page) to ``query``, spelt for ``backend``."""
        table = self.table
        if self.bbox is not None:
            area = self.area if self.area is not None else shapely.box(*self.bbox)
            query = query.where(backend.intersects(table, shapely.to_wkb(area), self.bbox))
        for name, value in self.where.items():
            if value is not None and name in table.c:
                query = query.where(table.c[name] == value)
        scope = self.scope()
        if scope is not None:
            query = query.where(scope)
        if self.period is not None and dated_column(self.layer) is not None:
            start, end = self._period_values()
            query = query.where(self._period_clause(*(None if v is None else bindparam(None, v) for v in (start, end))))
        if self.clause is not None:
            query = query.where(self.clause(table, backend))
        if self.fid is not None:
            query = query.where(table.c.id == self.fid)
        return query

    def _ordered(self, query: Select[Any]) -> Select[Any]:
        """Order ``query`` by :attr:`sort`, then id (a stable order pages can rely on)."""
        table = self.table
        keys = [table.c[name].desc() if desc else table.c[name].asc() for name, desc in self.sort]
        return query.order_by(*keys, table.c.id)

    def statement(self, backend: SpatialBackend) -> Select[Any]:
        """Return the SELECT of this read's rows: columns, ``attrs`` when needed, ``wkb``."""
        table = self.table
        names = self.names()
        needs_attrs = any(name not in table.c for name in names)
        cols = [c for c in table.c if c.key in names or (c.key == "attrs" and needs_attrs)]
        query = self._ordered(self.filtered(select(*cols, geom_wkb(table)), backend))
        return query.limit(self.limit).offset(self.offset or None)

    def rows(self, conn: Session | Connection) -> Sequence[Mapping[Any, Any]]:
        """Return this read's rows."""
        return _connection(conn).execute(self.statement(session_backend(conn))).mappings().all()

    def frame(self, conn: Session | Connection) -> gpd.GeoDataFrame:
        """Return this read as a GeoDataFrame in EPSG:4490 with catalogue field names."""
        layer = self.layer
        if self.properties is not None:
            layer = dataclasses.replace(layer, fields=tuple(layer.field(n) for n in self.properties))
        return rows_to_frame(layer, self.rows(conn))

    def select_columns(self, names: Sequence[str], backend: SpatialBackend, *, geometry: bool = True) -> Select[Any]:
        """Return the SELECT of the stored columns ``names`` (then the WKB geometry): filtered, ordered, paged."""
        table = self.table
        cols: list[Any] = [table.c[name] for name in names]
        if geometry:
            cols.append(geom_wkb(table))
        return self._ordered(self.filtered(select(*cols), backend)).limit(self.limit).offset(self.offset or None)

    def values(self, conn: Session | Connection, *names: str) -> list[tuple[Any, ...]]:
        """Return the stored columns ``names`` of this read's features as tuples, without geometry."""
        query = self.select_columns(names, session_backend(conn), geometry=False)
        return [tuple(row) for row in _connection(conn).execute(query)]

    def columns_frame(self, conn: Session | Connection, names: Sequence[str]) -> gpd.GeoDataFrame:
        """Return the stored columns ``names`` and the geometry (EPSG:4490), rows straight from the driver.

        For readers of many features and a few typed columns (the ratio check, jurisdiction): no
        ``attrs`` JSON to decode, no Row objects, WKB decoded by shapely in one vectorised call.
        """
        table = self.table
        data = driver_rows(conn, self.select_columns(names, session_backend(conn)), len(names) + 1)
        frame = pd.DataFrame({name: data[:, i] for i, name in enumerate(names)}).infer_objects()
        for name in names:
            # The driver's own values: SQLite keeps booleans as 0/1.
            if isinstance(table.c[name].type, Boolean) and frame[name].dtype != bool:
                frame[name] = frame[name].astype("boolean")
        geometry = shapely.from_wkb(data[:, -1]) if len(data) else []
        return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geometry, crs=CRS), crs=CRS)

    def count(self, conn: Session | Connection) -> int:
        """Return how many features match, ignoring the page (exact).

        The versions of a versioned layer are immutable and each delivery row records how many
        features it stored (in the same transaction): unfiltered, their sum is the count, read from
        a table of a few rows instead of an index of a million. A whole unversioned layer is the
        database's tally (``store/counts.py``). Otherwise ``COUNT(*)`` of the filter, which
        PostgreSQL answers from an index where one applies.
        """
        versions = self._versions_clause()
        if versions is not None and self._unfiltered():
            summed = select(func.coalesce(func.sum(Delivery.feature_count), 0)).where(versions)
            return int(_connection(conn).execute(summed).scalar_one())
        if self.scope() is None and self._unfiltered():
            return total(_connection(conn), self.table)
        query = self.replace(limit=None, offset=0).filtered(
            select(func.count()).select_from(self.table), session_backend(conn)
        )
        return int(_connection(conn).execute(query).scalar_one())

    def _unfiltered(self) -> bool:
        """Whether nothing but the version scope narrows this read."""
        equal = [value for value in self.where.values() if value is not None]
        return not equal and self.bbox is None and self.clause is None and self.period is None and self.fid is None

    def _versions_clause(self) -> ColumnElement[bool] | None:
        """Return the deliveries this read's scope keeps (approved ones of the layer, of its :attr:`rivers` when it
        names some), or None if unversioned."""
        if not self.layer.versioned:
            return None
        # The rivers' conditions name the layer (the deliveries' index is by river, then layer).
        return and_(Delivery.status == CURRENT, *(self._of_river() or [Delivery.layer == self.layer.name]))

    def texts(
        self, conn: Session | Connection, project: Callable[[np.ndarray[Any, Any]], np.ndarray[Any, Any]] | None = None
    ) -> list[str]:
        """Return this read as GeoJSON Feature texts; ``project`` maps EPSG:4490 geometries to another CRS.

        PostGIS writes the texts of lon/lat features in SQL (one statement a query shape, reused);
        otherwise shapely writes them from the rows.
        """
        backend = session_backend(conn)
        if backend.writes_geojson and project is None:
            connection = _connection(conn)
            statement, compiled, params = self._json_statement(backend)
            if compiled is not None:
                return driver_scalars(connection, compiled, params)
            return list(connection.execute(statement, params).scalars())
        rows = self.rows(conn)
        layer = self.layer
        if self.properties is not None:
            layer = dataclasses.replace(layer, fields=tuple(layer.field(n) for n in self.properties))
        data, wkbs = feature_columns(layer, rows)
        if not wkbs:
            return []
        geometries = shapely.from_wkb(np.asarray(wkbs, dtype=object))
        if project is not None:
            geometries = project(geometries)
        texts = shapely.to_geojson(geometries)
        names = list(data)
        ids = data.get("id") or [None] * len(wkbs)
        return [
            f'{{"type":"Feature","geometry":{geometry or "null"},"id":{"null" if fid is None else int(fid)},'
            f'"properties":{_ENCODER.encode(dict(zip(names, values, strict=True)))}}}'
            for geometry, fid, values in zip(texts, ids, zip(*data.values(), strict=True), strict=True)
        ]

    def bound(self, backend: SpatialBackend, *, exact: bool = True) -> BoundFilter:
        """Return this read's filters as bound parameters: one built statement serves every read of its shape.

        ``exact`` false: ``bbox`` keeps the features whose box meets it (the index alone), for a
        caller that clips to it anyway (a vector tile).
        """
        equal = {name: value for name, value in self.where.items() if value is not None and name in self.table.c}
        params: dict[str, Any] = {f"eq_{name}": value for name, value in equal.items()}
        if self.bbox is not None and exact:
            area = self.area if self.area is not None else shapely.box(*self.bbox)
            params["area"] = shapely.to_wkb(area)
        elif self.bbox is not None:
            params.update(zip(BOX_PARAMS, self.bbox, strict=True))
        if self.period is not None:
            params.update(zip(("period_start", "period_end"), self._period_values(), strict=True))
        params.update(fid=self.fid, **self._params())
        shape = (
            type(self).__name__,
            self.layer.table,
            self.layer.versioned,
            self.bbox is not None and (exact or "box"),
            tuple(equal),
            self.period is not None and tuple(v is not None for v in self.period),
            self.fid is not None,
            *self._shape(),
        )
        return BoundFilter(
            lambda query: self._bound_filtered(query, tuple(equal), backend, exact),
            # A filter's literals (and its rivers) are bound inside its clauses: its statement is built a request.
            None if self.clause is not None or self.rivers is not None else shape,
            {k: v for k, v in params.items() if v is not None},
        )

    def _bound_filtered(
        self, query: Select[Any], equal: tuple[str, ...], backend: SpatialBackend, exact: bool = True
    ) -> Select[Any]:
        """Add every filter of this read to ``query`` with its values as the parameters of :meth:`bound`."""
        table = self.table
        template = self.replace(
            where={name: bindparam(f"eq_{name}", type_=table.c[name].type) for name in equal},
            bbox=None,
            fid=bindparam("fid", type_=Integer) if self.fid is not None else None,
            period=None,
        )
        query = template.filtered(query, backend)
        if self.bbox is not None and not exact:
            query = query.where(backend.bbox_filter(table, [bindparam(name, type_=Float) for name in BOX_PARAMS]))
        elif self.bbox is not None:
            area = backend.geometry_from_wkb(bindparam("area", type_=LargeBinary))
            query = query.where(backend.spatial_predicate("intersects", table.c.geom, area))
        if self.period is not None:
            start: Any = bindparam("period_start") if self.period[0] is not None and dated_column(self.layer) else None
            end: Any = bindparam("period_end") if self.period[1] is not None and dated_column(self.layer) else None
            query = query.where(self._period_clause(start, end))
        return query

    def _json_statement(self, backend: SpatialBackend) -> tuple[Select[Any], DriverStatement | None, dict[str, Any]]:
        """Return the PostGIS statement of one Feature text a row, cached by query shape, and its parameters.

        A cached statement comes compiled for the driver too; one built for a single request (a
        filter binds its literals in its clause) is run by SQLAlchemy.
        """
        bound = self.bound(backend)
        params = dict(bound.params)
        params.update({k: v for k, v in (("limit", self.limit), ("offset", self.offset or None)) if v is not None})
        if bound.shape is None:
            return self._build_json(bound, backend), None, params
        shape = (
            backend.name,
            bound.shape,
            tuple(self.layer.field_names),
            self.sort,
            self.properties,
            self.limit is not None,
            bool(self.offset),
        )
        built = _STATEMENTS.get(shape)
        if built is None:
            if len(_STATEMENTS) > 512:  # only a bound on pathological callers; real shapes are few
                _STATEMENTS.clear()
            statement = self._build_json(bound, backend)
            built = _STATEMENTS[shape] = (statement, backend.driver_statement(statement))
        return built[0], built[1], params

    def _shape(self) -> tuple[Any, ...]:
        """Return what else distinguishes this read's statement (versions add their scope)."""
        return ()

    def _params(self) -> dict[str, Any]:
        """Return the bound parameters of :meth:`_shape`."""
        return {}

    def _build_json(self, bound: BoundFilter, backend: SpatialBackend) -> Select[Any]:
        """Build the Feature-text statement (``backend.writes_geojson``) with bound parameters (page cut first)."""
        table = self.table
        names = self.names()
        stored = [table.c[name] for name in names if name in table.c]
        attrs = [table.c.attrs] if len(stored) < len(names) else []
        # The page is ordered again outside: its sort keys come along even when not among the properties.
        keys = [table.c[name] for name, _ in self.sort if name not in names]
        inner = self._ordered(bound.apply(select(*stored, *keys, *attrs, table.c.geom)))
        cut = inner.limit(bindparam("limit", type_=Integer) if self.limit is not None else None)
        page = cut.offset(bindparam("offset", type_=Integer) if self.offset else None).subquery("page")
        props = (
            select(*(page.c[name] if name in page.c else page.c.attrs[name].label(name) for name in names))
            .correlate(page)
            .lateral("properties")
        )
        feature = backend.feature_json(page, props)
        order = [page.c[name].desc() if desc else page.c[name].asc() for name, desc in self.sort]
        return select(feature.label("feature")).select_from(page.join(props, true())).order_by(*order, page.c.id)


@dataclass(frozen=True)
class LayerVersions(CurrentFeatures):
    """A read of a versioned layer's features by delivery: one version, or every version (history)."""

    delivery_id: int | None = None

    def scope(self) -> ColumnElement[bool] | None:
        """Return the clause keeping one delivery's features (or every version: of the river asked, or all)."""
        if self.delivery_id is None:
            river = self._of_river()
            return self.table.c.delivery_id.in_(select(Delivery.id).where(*river)) if river else None
        if isinstance(self.delivery_id, ColumnElement):
            return self.table.c.delivery_id == self.delivery_id
        return self.table.c.delivery_id == bindparam("delivery_id", self.delivery_id, type_=Integer)

    def _versions_clause(self) -> ColumnElement[bool] | None:
        """Return the delivery asked for (None: every version, counted by rows)."""
        if self.delivery_id is None or isinstance(self.delivery_id, ColumnElement):
            return None
        return Delivery.id == self.delivery_id

    def _shape(self) -> tuple[Any, ...]:
        """Versions differ by whether one delivery is asked for."""
        return (self.delivery_id is not None,)

    def _params(self) -> dict[str, Any]:
        """The delivery asked for."""
        return {"delivery_id": self.delivery_id}


def date_range(conn: Session | Connection, layer: LayerSpec) -> tuple[Any, Any] | None:
    """Return the first and last date of ``layer``'s current features (None when undated or empty)."""
    column = dated_column(layer)
    if column is None:
        return None
    read = CurrentFeatures(layer)
    if column == APPROVED_AT:
        query = select(func.min(Delivery.decided_at), func.max(Delivery.decided_at)).where(
            Delivery.status == CURRENT, Delivery.layer == layer.name
        )
    else:
        col = read.table.c[column]
        query = read.filtered(select(func.min(col), func.max(col)), session_backend(conn))
    first, last = _connection(conn).execute(query).one()
    return None if first is None else (first, last)


def river_names(conn: Session | Connection, catalogue: Catalogue) -> dict[str, str]:
    """Return river code → name of the current rivers (maps, popups and exports label codes with them)."""
    return dict(CurrentFeatures(catalogue["rivers"]).values(conn, "code", "name"))


# A river's 所在镇街 as surveyors write it: comma, 、, semicolon, slash or space separated.
TOWN_SEPARATORS = re.compile(r"[,，、;；/\s]+")


def river_towns(conn: Session | Connection, catalogue: Catalogue) -> dict[str, list[str]]:
    """Return river code → the towns its record (所在镇街, the ``towns`` field) names."""
    rivers = CurrentFeatures(catalogue["rivers"]).values(conn, "code", "towns")
    return {str(code): [t for t in TOWN_SEPARATORS.split(str(text or "")) if t] for code, text in rivers}


def town_names(conn: Session | Connection, catalogue: Catalogue) -> list[str]:
    """Return the district's town names (of the towns layer), sorted, for filters."""
    towns = CurrentFeatures(catalogue["towns"]).values(conn, "name")
    return sorted({str(name) for (name,) in towns if name is not None})
