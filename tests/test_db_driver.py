"""Statements compiled once for the driver (``db/driver.py``) answer exactly as SQLAlchemy runs them."""

from __future__ import annotations

import datetime as dt

import shapely
from sqlalchemy import Date, Integer, LargeBinary, String, bindparam, func, literal, select

from gis_service.db.backend import backend_for
from gis_service.db.driver import driver_scalars


def test_a_statement_compiled_once_answers_as_sqlalchemy_runs_it(engine, backend):
    backend_ = backend_for(engine)
    point = shapely.to_wkb(shapely.Point(106.8, 28.9))
    statement = select(
        func.concat(
            literal("站点 "),  # a literal: bound by SQLAlchemy as a default parameter
            bindparam("n", type_=Integer),
            literal(" "),
            bindparam("day", type_=Date),
            literal(" "),
            func.length(bindparam("wkb", type_=LargeBinary)),
            literal(" "),
            bindparam("town", type_=String),
        )
    )
    params = {"n": 7, "day": dt.date(2022, 1, 3), "wkb": point, "town": "青年镇'<b>"}
    compiled = backend_.driver_statement(statement)
    with backend_.one_read() as conn:
        expected = list(conn.execute(statement, params).scalars())
        if backend.name == "spatialite":
            # SQLite's driver takes positional parameters: its statements stay with SQLAlchemy.
            assert compiled is None
            return
        assert compiled is not None
        assert driver_scalars(conn, compiled, params) == expected == ["站点 7 2022-01-03 21 青年镇'<b>"]
        # Compiled once, run again with other values.
        again = {**params, "n": 8, "town": "南桐镇"}
        assert driver_scalars(conn, compiled, again) == list(conn.execute(statement, again).scalars())
