"""Query parameters of the OGC API, read to the letter of Part 1: unknown ones refused, ``limit`` capped."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable

from fastapi import Request

from gis_service.errors import BadRequest
from gis_service.settings import Settings
from gis_service.store.spatial import BBox

# Parameters every OGC route understands: the format, and the browser token of closed deployments.
COMMON = frozenset({"f", "access_token"})
FORMATS = ("json", "html")
MAX_OFFSET = 2**31 - 1


def refuse_unknown(request: Request, known: Iterable[str]) -> None:
    """Raise a 400 naming every query parameter this route does not define (Part 1 /req/core/query-param-unknown)."""
    allowed = COMMON | set(known)
    unknown = sorted({name for name in request.query_params if name not in allowed})
    if unknown:
        raise BadRequest(
            f"不支持的查询参数：{'、'.join(unknown)}；本接口可用：{'、'.join(sorted(allowed))}",
            code="unknown_parameter",
            details={"unknown": unknown, "allowed": sorted(allowed)},
        )


def wants_html(request: Request) -> bool:
    """Return whether to answer HTML: ``f=html``, or a browser's ``Accept: text/html`` without ``f``."""
    fmt = request.query_params.get("f")
    if fmt is not None:
        if fmt not in FORMATS:
            raise BadRequest(f"f 参数 {fmt!r} 不支持；可用：json、html", code="bad_format")
        return fmt == "html"
    return "text/html" in request.headers.get("accept", "")


def page_limit(value: str | None, settings: Settings) -> int:
    """Return the page size asked for, capped at the settings' maximum (a larger value is no error, Part 1 says)."""
    if value is None:
        return settings.default_limit
    if not value.isdigit() or int(value) < 1:
        raise BadRequest(f"limit 参数 {value!r} 不正确：应为 ≥1 的整数", code="bad_limit")
    return min(int(value), settings.max_limit)


def page_offset(value: str | None) -> int:
    """Return the offset asked for (0 by default)."""
    if value is None:
        return 0
    if not value.isdigit():
        raise BadRequest(f"offset 参数 {value!r} 不正确：应为 ≥0 的整数", code="bad_offset")
    # Past every layer's end either way; bound as a 32-bit integer.
    return min(int(value), MAX_OFFSET)


def parse_box(value: str | None) -> BBox | None:
    """Parse ``bbox`` (four numbers, in the axis order of ``bbox-crs``), or raise a 400 with an example."""
    if not value:
        return None
    try:
        parts = tuple(float(v) for v in value.split(","))
        if not all(math.isfinite(v) for v in parts):
            parts = ()
    except ValueError:
        parts = ()
    if len(parts) == 6:  # a 3D box: the heights are not stored, the plane box is what filters
        parts = (parts[0], parts[1], parts[3], parts[4])
    if len(parts) != 4 or parts[0] > parts[2] or parts[1] > parts[3]:
        raise BadRequest(
            f"bbox 参数 {value!r} 不正确：应为 最小x,最小y,最大x,最大y（默认 CRS84 经纬度），如 106.7,28.7,107.1,29.2",
            code="bad_bbox",
        )
    return (parts[0], parts[1], parts[2], parts[3])


def _moment(text: str, end: bool) -> dt.datetime | None:
    """Parse one end of ``datetime`` (an RFC 3339 date or moment; ``..`` or empty: open)."""
    if text in {"", ".."}:
        return None
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            moment = dt.datetime.combine(day, dt.time.max if end else dt.time.min)
        else:
            moment = dt.datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError as exc:
        raise BadRequest(
            f"datetime 参数中的 {text!r} 不是 RFC 3339 日期或时间；例如 2022-03-01、2022-03-01T08:00:00Z、"
            "2022-01-01/2022-12-31、../2022-12-31",
            code="bad_datetime",
        ) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def parse_datetime(value: str | None) -> tuple[dt.datetime | None, dt.datetime | None] | None:
    """Parse ``datetime``: an instant (a whole day for a date) or an interval with open ends ``..``."""
    if not value:
        return None
    if "/" in value:
        first, _, second = value.partition("/")
        start, end = _moment(first, end=False), _moment(second, end=True)
        if start and end and start > end:
            raise BadRequest(f"datetime 区间 {value!r} 的起点晚于终点", code="bad_datetime")
        return start, end
    return _moment(value, end=False), _moment(value, end=True)


def name_list(value: str | None, allowed: Iterable[str], parameter: str) -> list[str]:
    """Parse a comma-separated list of names (``properties``), refusing unknown ones by name."""
    if value is None:
        return []
    names = [part.strip() for part in value.split(",") if part.strip()]
    known = list(allowed)
    unknown = [name for name in names if name not in known]
    if unknown:
        raise BadRequest(
            f"{parameter} 参数中没有这些属性：{'、'.join(unknown)}；可用：{'、'.join(known)}",
            code=f"bad_{parameter}",
            details={"unknown": unknown, "allowed": known},
        )
    return names


def parse_sortby(value: str | None, allowed: Iterable[str]) -> tuple[tuple[str, bool], ...]:
    """Parse ``sortby`` (``-found_date,+code``; a ``+`` may arrive as a space) into (name, descending) pairs."""
    if not value:
        return ()
    pairs = []
    for part in value.split(","):
        part = part.strip()
        descending = part.startswith("-")
        pairs.append((part.lstrip("+- "), descending))
    if any(not name for name, _ in pairs):
        raise BadRequest(
            f"sortby 参数 {value!r} 不正确：应为逗号分隔的属性名，前加 - 表示降序，如 -found_date,code",
            code="bad_sortby",
        )
    name_list(",".join(name for name, _ in pairs), allowed, "sortby")
    return tuple(pairs)
