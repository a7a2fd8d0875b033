"""OGC API - Features Part 3: queryables from the layer catalogue, CQL2 text/JSON filters into bound SQL.

``pygeofilter`` parses the filter (CQL2 text with the standard's ``AND``/``OR``/``NOT`` rules:
:mod:`gis_service.ogc.cql2_text`); its SQLAlchemy evaluator builds the clause, with every literal
a bound parameter. Geometry literals are moved from ``filter-crs`` to storage and bound as WKB;
the spatial predicate's spelling comes from the backend (``db/backend.py``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import shapely
from pygeofilter import ast, values
from pygeofilter.backends.evaluator import handle
from pygeofilter.backends.sqlalchemy.evaluate import SQLAlchemyFilterEvaluator
from pygeofilter.parsers.cql2_json import parse as parse_cql2_json
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Table, false, true
from sqlalchemy.sql.elements import ColumnElement

from gis_service.catalogue import LayerSpec
from gis_service.db.backend import SpatialBackend
from gis_service.errors import BadRequest
from gis_service.ogc.cql2_text import parse as parse_cql2_text
from gis_service.ogc.crs import ServedCrs
from gis_service.store.features import table_of

GEOMETRY = "geometry"
LANGUAGES = ("cql2-text", "cql2-json")
# Names of earlier drafts that clients still send (GDAL 3.6: cql-text), read as CQL2.
ALIASES = {"cql-text": "cql2-text", "cql-json": "cql2-json"}
JSON_TYPES = {"str": "string", "int": "integer", "float": "number", "bool": "boolean", "date": "string"}
SPATIAL_OPS = {"INTERSECTS", "DISJOINT", "CONTAINS", "WITHIN", "TOUCHES", "CROSSES", "OVERLAPS", "EQUALS"}


def queryable_names(layer: LayerSpec) -> list[str]:
    """Return the properties a filter or ``sortby`` may name: the catalogue fields with a column of their own."""
    table = table_of(layer)
    return [name for name in layer.field_names if name in table.c]


def queryables(layer: LayerSpec, self_url: str) -> dict[str, Any]:
    """Return the layer's queryables as a JSON Schema (Part 3), labels and allowed values from the catalogue."""
    properties: dict[str, Any] = {
        GEOMETRY: {"title": "几何", "format": "geometry-any", "x-ogc-role": "primary-geometry"},
    }
    for name in queryable_names(layer):
        spec = layer.field(name)
        schema: dict[str, Any] = {"title": spec.label, "type": JSON_TYPES.get(spec.type, "string")}
        if spec.type == "date":
            schema["format"] = "date"
        elif spec.type == "datetime":
            schema["format"] = "date-time"
        if spec.values:
            schema["enum"] = list(spec.values)
        properties[name] = schema
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": self_url,
        "type": "object",
        "title": layer.label,
        "properties": properties,
        "additionalProperties": False,
    }


@dataclass(frozen=True)
class _Geometry:
    """A geometry literal of a filter, already in storage lon/lat."""

    geometry: BaseGeometry


class _Evaluator(SQLAlchemyFilterEvaluator):  # type: ignore[misc]
    """pygeofilter's SQLAlchemy evaluator with our columns, storage CRS and backend's spatial spellings."""

    def __init__(self, table: Table, names: list[str], backend: SpatialBackend, crs: ServedCrs) -> None:
        mapping = {name: table.c[name] for name in names}
        mapping[GEOMETRY] = table.c.geom
        super().__init__(mapping, False)
        self.names = names
        self.backend = backend
        self.crs = crs

    @handle(ast.Attribute)
    def attribute(self, node: ast.Attribute) -> Any:
        """Return the column of a queryable, or refuse the name listing the queryables."""
        if node.name not in self.field_mapping:
            raise BadRequest(
                f"过滤条件中的属性 {node.name!r} 不可查询；可用：{'、'.join([GEOMETRY, *self.names])}",
                code="bad_filter",
            )
        return self.field_mapping[node.name]

    @handle(values.Geometry)
    def geometry(self, node: values.Geometry) -> _Geometry:
        """Return a geometry literal moved from ``filter-crs`` to storage."""
        return _Geometry(self.crs.to_storage(shape(node.__geo_interface__)))

    @handle(values.Envelope)
    def envelope(self, node: values.Envelope) -> _Geometry:
        """Return an envelope literal as a storage polygon."""
        return _Geometry(self.crs.to_storage(shapely.box(node.x1, node.y1, node.x2, node.y2)))

    def _spatial(self, op: str, lhs: Any, rhs: Any) -> ColumnElement[bool]:
        """Return ``op`` between a geometry column and a geometry literal as a bound predicate."""
        if op not in SPATIAL_OPS:
            raise BadRequest(f"不支持空间运算 {op}；可用：{'、'.join(sorted(SPATIAL_OPS))}", code="bad_filter")
        if isinstance(lhs, _Geometry) and not isinstance(rhs, _Geometry):
            lhs, rhs = rhs, lhs
            op = {"CONTAINS": "WITHIN", "WITHIN": "CONTAINS"}.get(op, op)
        if not isinstance(rhs, _Geometry) or isinstance(lhs, _Geometry):
            raise BadRequest(
                "空间条件须比较 geometry 属性与一个几何常量，如 S_INTERSECTS(geometry, POINT(106.8 28.9))",
                code="bad_filter",
            )
        geometry = self.backend.geometry_from_wkb(shapely.to_wkb(rhs.geometry))
        return self.backend.spatial_predicate(op.lower(), lhs, geometry)

    @handle(ast.SpatialComparisonPredicate, subclasses=True)
    def spatial_operation(self, node: Any, lhs: Any, rhs: Any) -> ColumnElement[bool]:
        """Spatial comparison (S_INTERSECTS and the others)."""
        return self._spatial(node.op.name, lhs, rhs)

    @handle(ast.BBox)
    def bbox(self, node: ast.BBox, lhs: Any) -> ColumnElement[bool]:
        """BBOX(geometry, …): intersection with the box."""
        box = self.crs.to_storage(shapely.box(node.minx, node.miny, node.maxx, node.maxy))
        return self._spatial("INTERSECTS", lhs, _Geometry(box))

    @handle(ast.Function)
    def function(self, node: ast.Function, *arguments: Any) -> _Geometry:
        """CQL2's ``BBOX(minx, miny, maxx, maxy)`` literal (pygeofilter reads it as a function); no other."""
        numbers = [a for a in arguments if isinstance(a, int | float)]
        if node.name.lower() == "bbox" and len(numbers) == len(arguments) and len(arguments) in (4, 6):
            minx, miny, maxx, maxy = numbers[:2] + numbers[-3:-1] if len(numbers) == 6 else numbers
            return _Geometry(self.crs.to_storage(shapely.box(minx, miny, maxx, maxy)))
        raise BadRequest(f"过滤条件中的函数 {node.name}() 不支持；几何范围请写 BBOX(x1, y1, x2, y2)", code="bad_filter")

    @handle(ast.Include)
    def include(self, node: ast.Include) -> ColumnElement[bool]:
        """A boolean literal as a condition (``TRUE``, ``FALSE``; pygeofilter's ``INCLUDE``, ``EXCLUDE``)."""
        return false() if node.not_ else true()

    @handle(ast.SpatialDistancePredicate, ast.Relate, subclasses=True)
    def unsupported(self, node: Any, *args: Any) -> ColumnElement[bool]:
        """Distance and pattern predicates are outside the conformance classes served."""
        raise BadRequest(f"不支持的过滤运算 {type(node).__name__}；请用基本比较与空间谓词", code="bad_filter")


Clause = Callable[[Table, SpatialBackend], ColumnElement[bool]]


@dataclass(frozen=True)
class CompiledFilter:
    """A checked filter: the builder of its clause, the texts it fixes (see :func:`fixed_texts`) and the lists of
    texts it keeps to (see :func:`fixed_sets`)."""

    clause: Clause
    fixed: dict[str, str]
    sets: dict[str, tuple[str, ...]] = field(default_factory=dict)


def _joined(tree: Any, kind: type[ast.Node] = ast.And) -> Iterator[Any]:
    """Yield the conditions that nested ``kind`` nodes (the filter's outermost ``AND``s, or ``OR``s) join, in order
    (the tree itself when it is not one)."""
    pending = [tree]
    while pending:
        node = pending.pop()
        if isinstance(node, kind):
            pending += [node.rhs, node.lhs]
        else:
            yield node


def fixed_texts(tree: Any) -> dict[str, str]:
    """Return the ``name = 'text'`` conditions that the filter's outermost ``AND`` holds whatever else it says.

    A read adds them to its equality filters, as if they were query parameters: the same features,
    and a river so named narrows a versioned layer's deliveries before its features
    (``store.current.CurrentFeatures.scope``) instead of being tested on every approved feature.
    """
    found: dict[str, str] = {}
    for node in _joined(tree):
        equal = _text_equal(node)
        if equal is not None:
            found.setdefault(*equal)  # a second, other value: the clause itself then keeps nothing
    return found


def _text_equal(node: Any) -> tuple[str, str] | None:
    """Return (name, text) of a ``name = 'text'`` condition (either way round), else None."""
    if not isinstance(node, ast.Equal):
        return None
    lhs, rhs = (node.rhs, node.lhs) if isinstance(node.rhs, ast.Attribute) else (node.lhs, node.rhs)
    return (lhs.name, rhs) if isinstance(lhs, ast.Attribute) and isinstance(rhs, str) else None


def fixed_sets(tree: Any) -> dict[str, tuple[str, ...]]:
    """Return the lists of texts that the filter's outermost ``AND`` keeps a field to: ``name IN ('text', …)`` (not
    ``NOT IN``), or ``name = 'a' OR name = 'b' …`` (one field throughout). Every feature it keeps has one of them.

    A read narrows a versioned layer's deliveries to such rivers (``CurrentFeatures.rivers``), as
    :func:`fixed_texts` does for one; the filter still tests each feature.
    """
    found: dict[str, tuple[str, ...]] = {}
    for node in _joined(tree):
        if isinstance(node, ast.In) and not node.not_ and isinstance(node.lhs, ast.Attribute):
            kept = list(node.sub_nodes)
            if kept and all(isinstance(v, str) for v in kept):
                found.setdefault(node.lhs.name, tuple(dict.fromkeys(kept)))
        elif isinstance(node, ast.Or):
            either = _alternatives(node)
            if either is not None:
                found.setdefault(*either)
    return found


def _alternatives(node: ast.Or) -> tuple[str, tuple[str, ...]] | None:
    """Return (name, texts) of ``name = 'a' OR name = 'b' …`` (nested as the parser builds it), else None."""
    found = [_text_equal(part) for part in _joined(node, ast.Or)]
    equals = [equal for equal in found if equal is not None]
    if len(equals) < len(found):
        return None
    names = {name for name, _ in equals}
    return (names.pop(), tuple(dict.fromkeys(text for _, text in equals))) if len(names) == 1 else None


def _conditions(node: Any) -> Any:
    """Return the tree with each boolean literal that stands as a condition (CQL2 JSON's ``true``, alone or joined by
    ``and``/``or``/``not``) as the text parser reads one: ``INCLUDE`` or ``EXCLUDE``."""
    if isinstance(node, bool):
        return ast.Include(not node)
    if isinstance(node, ast.And | ast.Or):
        return type(node)(_conditions(node.lhs), _conditions(node.rhs))
    if isinstance(node, ast.Not):
        return ast.Not(_conditions(node.sub_node))
    return node


def compile_filter(
    text: str, language: str | None, layer: LayerSpec, crs: ServedCrs, backend: SpatialBackend
) -> CompiledFilter:
    """Parse a CQL2 ``filter`` now and build it for ``backend`` (a 400 with the message if bad); return the builder."""
    language = ALIASES.get(language or "cql2-text", language or "cql2-text")
    if language not in LANGUAGES:
        raise BadRequest(f"filter-lang 参数 {language!r} 不支持；可用：{'、'.join(LANGUAGES)}", code="bad_filter_lang")
    try:
        tree = _conditions(parse_cql2_json(json.loads(text)) if language == "cql2-json" else parse_cql2_text(text))
    except Exception as exc:  # noqa: BLE001 - lark, json and pygeofilter raise many kinds; each is the user's input
        cause = getattr(exc, "orig_exc", exc)  # lark's VisitError: what a rule's own code refused
        message = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        raise BadRequest(
            f"filter 参数不是有效的 {language}：{message}",
            code="bad_filter",
            details={"parser": str(exc)[:2000]},
        ) from exc
    names = queryable_names(layer)

    def clause(table: Table, spelling: SpatialBackend) -> ColumnElement[bool]:
        try:
            result = _Evaluator(table, names, spelling, crs).evaluate(tree)
        except BadRequest:
            raise
        except Exception as exc:  # noqa: BLE001 - an AST the evaluator cannot turn into SQL is a bad filter
            raise BadRequest(f"filter 参数无法执行：{type(exc).__name__} {exc}", code="bad_filter") from exc
        if not isinstance(result, ColumnElement):
            raise BadRequest("filter 参数须是条件（如 town = '青年镇'），不是一个值", code="bad_filter")
        return result

    clause(table_of(layer), backend)  # refuse a bad filter before touching the database
    texts = {name for name in names if layer.field(name).type == "str"}
    fixed = {name: value for name, value in fixed_texts(tree).items() if name in texts}
    return CompiledFilter(clause, fixed, {name: kept for name, kept in fixed_sets(tree).items() if name in texts})
