"""KML safety: refuse DTDs, entity declarations and external references before GDAL parses the file.

GDAL's KML readers use expat, which expands internal entities ("billion laughs"); a KML
from a surveyor never needs a DTD, so any is refused with entity expansion off (defusedxml).
"""

from __future__ import annotations

from pathlib import Path

import defusedxml
from defusedxml import ElementTree as SafeET

from gis_service.errors import BadRequest


def check_kml(path: Path) -> None:
    """Parse ``path`` with entity expansion and DTDs off; refuse it when it needs either."""
    try:
        SafeET.parse(str(path), forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (defusedxml.DTDForbidden, defusedxml.EntitiesForbidden, defusedxml.ExternalReferenceForbidden):
        raise BadRequest(
            f"KML 文件 {path.name} 含有 DTD 或实体声明（<!DOCTYPE>/<!ENTITY>），出于安全原因拒绝读取。"
            "请从 Google Earth / 奥维等软件直接重新导出 KML。",
            code="xml_entities",
        ) from None
    except SafeET.ParseError as exc:
        raise BadRequest(f"KML 文件 {path.name} 不是完整的 XML（{exc}）。请重新导出。", code="corrupt_kml") from None
