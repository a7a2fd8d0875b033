"""A layer's words as the workbench pages show them: field labels, value labels, a form's choices, values as text."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from gis_service.catalogue import LayerSpec

# The words of an empty value (the pages' ``blank`` filter greys them out): never a lone "—",
# which reads as 一 (one) in a CJK font. The short one is for table cells and text inside a sentence.
BLANK = "暂无"
BLANK_SHORT = "无"


def show(value: Any) -> str:
    """Return a field value as text: dates as YYYY-MM-DD, booleans 是/否, nothing as "" (the page shows it blank)."""
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


@dataclass(frozen=True)
class LayerLabels:
    """The Chinese words of one catalogue layer (the app's catalogue, ``layers/<name>.toml``)."""

    spec: LayerSpec

    def field_label(self, name: str) -> str:
        """Return a field's Chinese label."""
        return str(self.spec.field(name).label)

    def value_label(self, name: str, code: Any) -> str:
        """Return a coded value's Chinese label (the code itself when unknown, empty when unset or a missing cell)."""
        if code is None or code == "" or (isinstance(code, float) and math.isnan(code)):
            return ""
        return str(self.spec.field(name).value_label(code))

    def choices(self, name: str) -> list[tuple[str, str]]:
        """Return (code, label) of a coded field's values, in catalogue order."""
        return self.spec.field(name).choices()
