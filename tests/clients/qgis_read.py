"""Read one OGC API - Features collection with QGIS's own OAPIF provider; print what QGIS sees as JSON.

Run by the system Python that Debian's ``python3-qgis`` installs into (not the project's venv):
``python3 tests/clients/qgis_read.py BASE_URL COLLECTION [MINX MINY MAXX MAXY]``. With a rectangle,
QGIS asks the server for that box only (``restrictToRequestBBOX``) and reads what it answers.
"""

import json
import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from qgis.core import QgsApplication, QgsFeatureRequest, QgsRectangle, QgsVectorLayer  # noqa: E402


def value(v):
    """A field value as JSON: QDate/QDateTime as ISO text, NULL as None."""
    if v is None or (hasattr(v, "isNull") and v.isNull()):
        return None
    if hasattr(v, "toString") and hasattr(v, "isValid"):
        return v.toString("yyyy-MM-dd") if type(v).__name__ == "QDate" else v.toString("yyyy-MM-ddTHH:mm:ss")
    return v if isinstance(v, (bool, int, float, str)) else str(v)


def main():
    """Load the layer, count and read its features, print them."""
    base, name, *box = sys.argv[1:]
    app = QgsApplication([], False)
    app.initQgis()
    restrict = "1" if box else "0"
    layer = QgsVectorLayer(f"url='{base}' typename='{name}' restrictToRequestBBOX='{restrict}'", name, "OAPIF")
    request = QgsFeatureRequest()
    if box:
        request.setFilterRect(QgsRectangle(*(float(b) for b in box)))
    fields = [f.name() for f in layer.fields()]
    features = [
        {
            "attributes": {k: value(v) for k, v in zip(fields, f.attributes(), strict=True)},
            "wkt": f.geometry().asWkt(12),
        }
        for f in layer.getFeatures(request)
    ]
    out = {
        "valid": layer.isValid(),
        "count": layer.featureCount(),
        "crs": layer.crs().authid(),
        "fields": fields,
        "features": features,
    }
    print(json.dumps(out, ensure_ascii=False), flush=True)
    # QGIS 3.22 may crash in its own exit clean-up after a network provider: the answer is printed.
    os._exit(0)


main()
