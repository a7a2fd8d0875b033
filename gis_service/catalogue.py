"""The layer catalogue: one declarative TOML file a layer in ``layers/``, loaded and validated once.

Import, storage, API, exports and maps all read a layer's fields, Chinese labels, allowed
values (with their aliases), import field aliases and style from here, so that a layer is
defined in one place.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from gis_service.errors import ConfigurationError, NotFound
from gis_service.resources import data_path
from gis_service.settings import Settings

FIELD_TYPES = {"str", "int", "float", "bool", "date", "datetime", "json"}
# Every layer keeps what a delivery carried beyond the catalogue (备注, 测量单位 …) as one JSON object.
EXTRA_FIELD = "extra"
EXTRA_LABEL = "其他字段"
# Columns every stored layer has besides its catalogue fields, and their labels where a person reads them.
SYSTEM_LABELS = {"id": "序号", "delivery_id": "交付编号"}
# The optimistic-locking counter: the API's business, not a user's column (files and pages leave it out).
INTERNAL_COLUMNS = ("lock_version",)
GEOMETRY_TYPES = {"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon"}


def fold(text: str) -> str:
    """Fold a name or value for alias matching: trimmed, case-insensitive, no inner spaces."""
    return "".join(str(text).split()).casefold()


@dataclass(frozen=True)
class ValueSpec:
    """One allowed value of a coded field (e.g. ``protected`` = 岸线保护区)."""

    code: str
    label: str
    aliases: tuple[str, ...] = ()
    color: str | None = None
    symbol: str | None = None


@dataclass(frozen=True)
class FieldSpec:
    """One attribute of a layer."""

    name: str
    type: str
    label: str
    required: bool = False
    derived: bool = False
    default: Any = None
    aliases: tuple[str, ...] = ()
    values: dict[str, ValueSpec] = field(default_factory=dict)

    def canonical_value(self, raw: Any) -> str | None:
        """Return the allowed value code that ``raw`` names (code, label or alias), or None."""
        key = fold(raw)
        for value in self.values.values():
            if key in {fold(value.code), fold(value.label), *(fold(a) for a in value.aliases)}:
                return value.code
        return None

    def value_label(self, code: Any) -> Any:
        """Return the Chinese label of a value code (the code itself when not coded)."""
        spec = self.values.get(code) if isinstance(code, str) else None
        return spec.label if spec else code

    def choices(self) -> list[tuple[str, str]]:
        """Return (code, label) of the allowed values, in catalogue order (a form's options)."""
        return [(v.code, v.label) for v in self.values.values()]


@dataclass(frozen=True)
class LayerSpec:
    """One layer of the river one-map (一张图)."""

    name: str
    label: str
    table: str
    geometry_types: tuple[str, ...]
    fields: tuple[FieldSpec, ...]
    key: str | None = None
    versioned: bool = False
    style: dict[str, Any] = field(default_factory=dict)

    def field(self, name: str) -> FieldSpec:
        """Return the field called ``name``."""
        for spec in self.fields:
            if spec.name == name:
                return spec
        raise KeyError(f"layer {self.name} has no field {name}")

    @property
    def field_names(self) -> list[str]:
        """Return the field names in catalogue order."""
        return [f.name for f in self.fields]

    def source_field_map(self, columns: list[str]) -> dict[str, str]:
        """Map a file's column names to catalogue field names via names, labels and aliases."""
        lookup: dict[str, str] = {}
        for spec in self.fields:
            for name in (spec.name, spec.label, *spec.aliases):
                lookup.setdefault(fold(name), spec.name)
        mapping: dict[str, str] = {}
        for column in columns:
            target = lookup.get(fold(column))
            if target and target not in mapping.values():
                mapping[column] = target
        return mapping

    def labels(self) -> dict[str, str]:
        """Return field name → Chinese label."""
        return {f.name: f.label for f in self.fields}

    def column_labels(self) -> dict[str, str]:
        """Return every stored column's Chinese label: the fields' and the system columns' (:data:`SYSTEM_LABELS`)."""
        return {**SYSTEM_LABELS, **self.labels()}


def _value_specs(raw: dict[str, Any], where: str) -> dict[str, ValueSpec]:
    specs = {}
    for code, body in raw.items():
        if not isinstance(body, dict) or "label" not in body:
            raise ConfigurationError(f"{where}: value {code!r} needs a label")
        specs[code] = ValueSpec(
            code=code,
            label=body["label"],
            aliases=tuple(body.get("aliases", ())),
            color=body.get("color"),
            symbol=body.get("symbol"),
        )
    return specs


def parse_layer(data: dict[str, Any], where: str) -> LayerSpec:
    """Build and validate a :class:`LayerSpec` from a parsed TOML document."""
    try:
        fields = []
        for raw in data["fields"]:
            if raw["type"] not in FIELD_TYPES:
                raise ConfigurationError(f"{where}: field {raw['name']} has unknown type {raw['type']}")
            fields.append(
                FieldSpec(
                    name=raw["name"],
                    type=raw["type"],
                    label=raw["label"],
                    required=bool(raw.get("required", False)),
                    derived=bool(raw.get("derived", False)),
                    default=raw.get("default"),
                    aliases=tuple(raw.get("aliases", ())),
                    values=_value_specs(raw.get("values", {}), f"{where} field {raw['name']}"),
                )
            )
        if not any(f.name == EXTRA_FIELD for f in fields):
            fields.append(FieldSpec(name=EXTRA_FIELD, type="json", label=EXTRA_LABEL, aliases=("附加字段",)))
        layer = LayerSpec(
            name=data["name"],
            label=data["label"],
            table=data["table"],
            geometry_types=tuple(data["geometry_types"]),
            fields=tuple(fields),
            key=data.get("key"),
            versioned=bool(data.get("versioned", False)),
            style=dict(data.get("style", {})),
        )
    except KeyError as exc:
        raise ConfigurationError(f"{where}: missing key {exc}") from exc
    names = layer.field_names
    if len(names) != len(set(names)):
        raise ConfigurationError(f"{where}: duplicate field names")
    bad = set(layer.geometry_types) - GEOMETRY_TYPES
    if bad:
        raise ConfigurationError(f"{where}: unknown geometry types {sorted(bad)}")
    if layer.key and layer.key not in names:
        raise ConfigurationError(f"{where}: key {layer.key} is not a field")
    for spec in layer.fields:
        if spec.default is not None and spec.values and spec.default not in spec.values:
            raise ConfigurationError(f"{where}: default of {spec.name} is not an allowed value")
    return layer


@dataclass(frozen=True)
class Catalogue:
    """All layers, by name."""

    layers: dict[str, LayerSpec]

    def __getitem__(self, name: str) -> LayerSpec:
        """Return the layer ``name`` or raise a user error listing the known ones."""
        try:
            return self.layers[name]
        except KeyError:
            raise NotFound(
                f"未知图层 {name!r}；可用图层：{', '.join(sorted(self.layers))}",
                code="unknown_layer",
                details={"allowed": sorted(self.layers)},
            ) from None

    def __iter__(self):  # type: ignore[no-untyped-def]
        """Iterate over the layer specs."""
        return iter(self.layers.values())


def load_catalogue(folder: Path) -> Catalogue:
    """Load every ``*.toml`` in ``folder`` as a layer spec."""
    layers: dict[str, LayerSpec] = {}
    for path in sorted(folder.glob("*.toml")):
        with path.open("rb") as fh:
            try:
                data = tomllib.load(fh)
            except tomllib.TOMLDecodeError as exc:
                raise ConfigurationError(f"图层目录文件 {path.name} 不是有效的 TOML：{exc}") from exc
        layer = parse_layer(data, path.name)
        layers[layer.name] = layer
    if not layers:
        raise ConfigurationError(f"图层目录 {folder} 中没有图层定义 (*.toml)")
    return Catalogue(layers)


def catalogue_for(settings: Settings) -> Catalogue:
    """Return the catalogue the settings name: ``RIVERGIS_LAYERS_DIR``, or the bundled ``layers/``."""
    return _catalogue_in(settings.layers_dir)


def bundled_catalogue() -> Catalogue:
    """Return the layers the service ships (``layers/``), whatever the settings say: for tests and scripts."""
    return _catalogue_in(None)


@lru_cache
def _catalogue_in(folder: Path | None) -> Catalogue:
    """Load a folder's catalogue (None: the bundled one) once a process: the files do not change while it runs."""
    return load_catalogue(Path(folder) if folder is not None else data_path("layers"))
