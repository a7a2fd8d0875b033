"""The one problem filter (status, category, town, river, unit, found dates, overdue, bbox) and "overdue".

The ledger's lists and statistics, the issue map and its standalone file all filter sites with
:class:`ProblemFilter` and count "overdue" against the business clock's today
(:mod:`gis_service.clock`), so a site is overdue on the map exactly when it is in the ledger.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import ColumnElement, Select, Table, and_, not_

from gis_service.catalogue import LayerSpec
from gis_service.db.backend import SpatialBackend
from gis_service.db.models import Problem
from gis_service.errors import BadRequest
from gis_service.ledger.states import NOT_OVERDUE
from gis_service.store.spatial import BBox

TABLE: Table = Problem.__table__  # type: ignore[assignment]
FINISHED = tuple(sorted(s.value for s in NOT_OVERDUE))
TRUE_WORDS = {"1", "true", "yes", "on", "是"}
FALSE_WORDS = {"0", "false", "no", "off", "否"}


def is_overdue(status: str, deadline: dt.date | None, today: dt.date) -> bool:
    """Tell whether an item is overdue: past its deadline and not rectified, closed or dismissed."""
    return deadline is not None and deadline < today and status not in FINISHED


def overdue_clause(today: dt.date) -> ColumnElement[bool]:
    """Return the SQL condition of :func:`is_overdue`."""
    return and_(TABLE.c.deadline.is_not(None), TABLE.c.deadline < today, TABLE.c.status.not_in(FINISHED))


def _parse_date(value: Any, name: str) -> dt.date | None:
    """Parse an ISO date parameter or raise a clear error."""
    if value in (None, ""):
        return None
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise BadRequest(f"参数 {name}={value!r} 不是日期：请写成 2024-03-01 的形式", code="bad_date") from None


def _coded(values: str | Sequence[str] | None, problems: LayerSpec, field_name: str) -> tuple[str, ...]:
    """Turn comma-separated codes or Chinese labels into canonical codes, or say which are allowed."""
    items = [values] if isinstance(values, str) or values is None else list(values)
    raw = [v.strip() for item in items for v in (item or "").split(",") if v.strip()]
    spec = problems.field(field_name)
    codes = []
    for value in raw:
        code = spec.canonical_value(value)
        if code is None:
            allowed = "、".join(f"{v.code}（{v.label}）" for v in spec.values.values())
            raise BadRequest(
                f"参数 {field_name}={value!r} 不是可用的取值；可用：{allowed}",
                code=f"bad_{field_name}",
                details={"allowed": list(spec.values)},
            )
        codes.append(code)
    return tuple(codes)


def _flag(value: Any) -> bool | None:
    """Read a yes/no parameter (``1``/``true``/``是`` …); empty means "either"."""
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if not text:
        return None
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise BadRequest(f"参数 overdue={value!r} 应为 1 或 0", code="bad_overdue")


@dataclass(frozen=True)
class ProblemFilter:
    """Which sites: status, category, town, river, responsible unit, found-date range, overdue, bbox."""

    status: tuple[str, ...] = ()
    category: tuple[str, ...] = ()
    town: str | None = None
    river_code: str | None = None
    responsible_unit: str | None = None
    found_from: dt.date | None = None
    found_to: dt.date | None = None
    overdue: bool | None = None
    bbox: BBox | None = None

    @classmethod
    def parse(cls, params: Mapping[str, Any], problems: LayerSpec, *, bbox: BBox | None = None) -> ProblemFilter:
        """Build a filter from URL/CLI parameters (``status=reported,待确认&river=WS001&from=2024-01-01&overdue=1``).

        Status and category take codes or their Chinese labels (of the catalogue's ``problems`` layer),
        comma-separated or repeated.
        """
        found_from = _parse_date(params.get("from"), "from")
        found_to = _parse_date(params.get("to"), "to")
        if found_from and found_to and found_from > found_to:
            raise BadRequest(f"日期范围不正确：from={found_from} 晚于 to={found_to}", code="bad_date_range")

        def text(name: str) -> str | None:
            return str(params.get(name) or "").strip() or None

        return cls(
            status=_coded(params.get("status"), problems, "status"),
            category=_coded(params.get("category"), problems, "category"),
            town=text("town"),
            river_code=text("river"),
            responsible_unit=text("unit"),
            found_from=found_from,
            found_to=found_to,
            overdue=_flag(params.get("overdue")),
            bbox=bbox,
        )

    def query(self) -> dict[str, str]:
        """Return the filter as URL parameters (empty ones left out), the form a shared link carries."""
        out = {
            "status": ",".join(self.status),
            "category": ",".join(self.category),
            "town": self.town or "",
            "river": self.river_code or "",
            "unit": self.responsible_unit or "",
            "from": self.found_from.isoformat() if self.found_from else "",
            "to": self.found_to.isoformat() if self.found_to else "",
            "overdue": "" if self.overdue is None else ("1" if self.overdue else "0"),
        }
        return {k: v for k, v in out.items() if v}

    def only_overdue(self) -> ProblemFilter:
        """Return this filter narrowed to overdue sites."""
        return replace(self, overdue=True)

    def checked(self, problems: LayerSpec) -> ProblemFilter:
        """Return the filter when its status and category codes are the catalogue's, else a 400 naming the allowed."""
        for name in ("status", "category"):
            spec = problems.field(name)
            bad = [v for v in getattr(self, name) if v not in spec.values]
            if bad:
                raise BadRequest(
                    f"{spec.label}（{name}）的值 {bad} 无效；可选：{', '.join(spec.values)}", code=f"bad_{name}"
                )
        return self

    def clauses(self, today: dt.date, backend: SpatialBackend) -> list[ColumnElement[bool]]:
        """Return the SQL conditions on the problems table (bound parameters only), spelt for ``backend``.

        Status and category codes are taken as they are: :meth:`parse` and :meth:`checked` vouch for them.
        """
        out: list[ColumnElement[bool]] = []
        for name, values in (("status", self.status), ("category", self.category)):
            if values:
                out.append(TABLE.c[name].in_(list(values)))
        for name in ("town", "river_code", "responsible_unit"):
            value = getattr(self, name)
            if value:
                out.append(TABLE.c[name] == value)
        if self.found_from:
            out.append(TABLE.c.found_date >= self.found_from)
        if self.found_to:
            out.append(TABLE.c.found_date <= self.found_to)
        if self.overdue is True:
            out.append(overdue_clause(today))
        elif self.overdue is False:
            out.append(not_(overdue_clause(today)))
        if self.bbox:
            out.append(backend.bbox_filter(TABLE, self.bbox))
        return out


def filtered(query: Select[Any], flt: ProblemFilter, backend: SpatialBackend, today: dt.date) -> Select[Any]:
    """Apply ``flt`` to a SELECT over the problems table."""
    return query.where(*flt.clauses(today, backend))
