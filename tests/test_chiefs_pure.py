"""The chiefs' pure computations, without a database: chainage text, reach gaps, coverage of a track, frequency."""

from __future__ import annotations

import datetime as dt
import json
import subprocess

import pytest
import shapely

from gis_service.chiefs.coverage import coverage, track_length
from gis_service.chiefs.frequency import is_overdue, periods
from gis_service.chiefs.levels import Level, levels_from, parse_chainage, parse_level
from gis_service.chiefs.reaches import centerline_length, gaps, overlaps, reach_line
from gis_service.chiefs.tracks import read_track
from gis_service.clock import BusinessClock
from gis_service.errors import BadRequest
from gis_service.settings import Settings
from tests.chiefs_world import along_r1, r1_length, write_gpx

R1 = shapely.LineString([(106.82, 28.900), (106.98, 28.900)])


def test_roster_chainage_and_levels_read_as_offices_write_them() -> None:
    assert parse_chainage("K1+250") == 1250.0
    assert parse_chainage(" k12 + 005.5 ") == 12005.5
    assert parse_chainage("K0＋300") == 300.0  # full-width plus from a Chinese input method
    assert parse_chainage(800) == 800.0 and parse_chainage("800") == 800.0
    assert parse_chainage("") is None and parse_chainage(None) is None
    with pytest.raises(ValueError):
        parse_chainage("一公里")
    assert parse_level("镇街级") is Level.TOWN and parse_level("村") is Level.VILLAGE and parse_level("省级") is None
    assert levels_from("town") == (Level.TOWN, Level.VILLAGE)
    assert levels_from(None) == (Level.DISTRICT, Level.TOWN, Level.VILLAGE)


def test_reach_gaps_and_overlaps_like_zone_gaps() -> None:
    # 0–1000 and 1500–3000 and 2800–4000 on a 5000 m river, tolerance 20 m:
    # gaps 1000–1500 (500 m) and 4000–5000 (1000 m); overlap 2800–3000 (200 m). Adding 4000–4990
    # leaves a 10 m tail under the tolerance: no gap there.
    reaches = [(0, 1000), (1500, 3000), (2800, 4000), (4000, 4990)]
    found = [(g.start_m, g.end_m) for g in gaps(reaches[:3], 5000, 20)]
    assert found == [(1000, 1500), (4000, 5000)]
    assert [(g.start_m, g.end_m) for g in gaps(reaches, 5000, 20)] == [(1000, 1500)]
    assert [(o.start_m, o.end_m) for o in overlaps(reaches, 20)] == [(2800, 3000)]
    assert gaps([], 5000, 20)[0].as_dict() == {
        "start_m": 0.0,
        "end_m": 5000.0,
        "start": "K0+000",
        "end": "K5+000",
        "length_m": 5000.0,
    }


def test_reach_line_is_cut_at_geodesic_chainage() -> None:
    piece = reach_line(R1, 1000, 3000)
    assert centerline_length(piece) == pytest.approx(2000, abs=0.01)
    # Its head lies 1000 m downstream of the river's head, by pyproj's geodesic.
    lon, lat = along_r1(1000)
    assert piece.coords[0] == pytest.approx((lon, lat), abs=1e-7)
    assert centerline_length(R1) == pytest.approx(r1_length(), rel=1e-6)


def test_gpx_track_along_a_known_reach_has_hand_computed_length_duration_and_coverage(tmp_path) -> None:
    # The track runs 20 m north of R1 from chainage 500 to 2500, a point every 50 m and 40 s:
    # length 2000 m, 40 steps x 40 s = 1600 s. The reach is K1+000–K3+000 (2000 m). Within 50 m of
    # the track lies the reach from 1000 to 2500 + sqrt(50² − 20²) = 2545.8, so the share is
    # 1545.8 / 2000 = 0.7729.
    start = dt.datetime(2025, 3, 10, 1, 0, tzinfo=dt.UTC)
    path = write_gpx(tmp_path / "巡河.gpx", 500, 2500, north_m=20, step_m=50, step_s=40, start=start)
    track = read_track(path, settings=Settings())
    assert track_length(track.geometry) == pytest.approx(2000, rel=0.01)
    assert track.duration_s == 1600 and track.started_at == start
    share = coverage([reach_line(R1, 1000, 3000)], track.geometry, 50)
    assert share == pytest.approx(1545.8 / 2000, rel=0.01)
    # A tolerance narrower than the 20 m offset covers nothing.
    assert coverage([reach_line(R1, 1000, 3000)], track.geometry, 15) == 0.0


def test_track_files_that_cannot_be_used_are_named(tmp_path) -> None:
    bad = tmp_path / "坏.gpx"
    bad.write_text("<gpx><trk>", encoding="utf-8")
    with pytest.raises(BadRequest) as err:
        read_track(bad, settings=Settings())
    assert err.value.code == "bad_track"
    far = write_gpx(
        tmp_path / "far.gpx",
        0,
        100,
        north_m=500_000,
        step_m=50,
        step_s=10,
        start=dt.datetime(2025, 3, 1, tzinfo=dt.UTC),
    )
    with pytest.raises(BadRequest) as err:
        read_track(far, settings=Settings())
    assert err.value.code == "outside_district"
    with pytest.raises(BadRequest) as err:
        read_track(tmp_path / "x.shp", settings=Settings())
    assert err.value.code == "bad_track_format"


def test_frequency_rules_over_a_frozen_calendar() -> None:
    # A village chief (every 7 days) in office since 2025-03-03 (a Monday), patrols on 03-04 and 03-17.
    dates = [dt.date(2025, 3, 4), dt.date(2025, 3, 17)]
    # 20:00 UTC on 03-23 is already 04:00 on 03-24 in China: the business date counts.
    today = BusinessClock.at(dt.datetime(2025, 3, 23, 20, 0)).today()
    assert today == dt.date(2025, 3, 24)
    spans = periods(dt.date(2025, 3, 3), today, 7, dates)
    # Periods 03-03–03-09 (1 patrol), 03-10–03-16 (none: missed), 03-17–03-23 (1), 03-24– (running).
    assert [(p.start.isoformat(), p.patrols, p.met, p.closed) for p in spans] == [
        ("2025-03-03", 1, True, True),
        ("2025-03-10", 0, False, True),
        ("2025-03-17", 1, True, True),
        ("2025-03-24", 0, False, False),
    ]
    # Last patrol 03-17: due by 03-24; overdue from 03-25 on.
    assert not is_overdue(dt.date(2025, 3, 17), dt.date(2025, 3, 3), 7, today)
    assert is_overdue(dt.date(2025, 3, 17), dt.date(2025, 3, 3), 7, today + dt.timedelta(days=1))
    # Never patrolled: counted from the start of office.
    assert is_overdue(None, dt.date(2025, 3, 3), 14, dt.date(2025, 3, 18))


def test_geojson_and_kml_tracks_read_like_the_gpx(tmp_path) -> None:
    # The same walk as a GeoJSON line, and as KML converted from it by GDAL's ogr2ogr: 2000 m, no times.
    coords = [along_r1(500 + 50 * i, 20) for i in range(41)]
    line = {
        "type": "Feature",
        "properties": {"name": "巡河"},
        "geometry": {"type": "LineString", "coordinates": coords},
    }
    geojson = tmp_path / "巡河.geojson"
    geojson.write_text(json.dumps({"type": "FeatureCollection", "features": [line]}), encoding="utf-8")
    kml = tmp_path / "巡河.kml"
    subprocess.run(["ogr2ogr", "-f", "KML", str(kml), str(geojson)], check=True, capture_output=True)
    for path in (geojson, kml):
        track = read_track(path, settings=Settings())
        assert track_length(track.geometry) == pytest.approx(2000, rel=0.01), path.name
        assert track.duration_s is None
        assert coverage([reach_line(R1, 1000, 3000)], track.geometry, 50) == pytest.approx(1545.8 / 2000, rel=0.01)
