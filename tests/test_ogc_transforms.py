"""Coordinate transformations of the OGC routes: the same coordinates from any worker thread."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from pyproj import Transformer

from gis_service.district import district_for
from gis_service.ogc.crs import epsg_codes, transformer
from gis_service.ogc.tiles import Tile
from gis_service.settings import Settings


@pytest.mark.parametrize("code", [*epsg_codes(district_for(Settings())), 3857])
def test_thread_ready_transformers_give_pyprojs_coordinates(code: int) -> None:
    """Built from the operation's pipeline, a transformer moves points exactly as pyproj's own choice does."""
    lon, lat = np.array([105.5, 106.9, 107.2]), np.array([28.5, 29.3, 29.9])
    expected = np.array(Transformer.from_crs(4490, code, always_xy=True).transform(lon, lat))
    got: list[np.ndarray] = []
    # A worker thread of the server, where pyproj builds its own PROJ object for the transformer.
    worker = threading.Thread(target=lambda: got.append(np.array(transformer(4490, code).transform(lon, lat))))
    worker.start()
    worker.join()
    assert np.array_equal(got[0], expected)


def test_a_tile_in_lon_lat_from_a_new_thread() -> None:
    # Tile 10/814/424 of WebMercatorQuad: x 814/1024 of 360° from -180° → west = 106.171875°, east = 106.5234375°.
    bounds: list[tuple[float, float, float, float]] = []
    worker = threading.Thread(target=lambda: bounds.append(Tile(10, 814, 424).lonlat()))
    worker.start()
    worker.join()
    west, south, east, north = bounds[0]
    assert west == pytest.approx(106.171875) and east == pytest.approx(106.5234375)
    assert south < north and 29.0 < south < 29.6
