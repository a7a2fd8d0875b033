"""Locate the bundled data folders (layer catalogue, map assets, demo shapefiles).

In a wheel they sit inside the package under ``_data/``; in a source checkout or an
editable install they are the top-level folders of the repository.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_path(name: str) -> Path:
    """Return the folder ``name`` (``layers``, ``maps`` or ``shapefiles``) wherever it was installed."""
    packaged = _PACKAGE / "_data" / name
    if packaged.is_dir():
        return packaged
    return _PACKAGE.parent / name
