"""Benchmark: the problem ledger at 100 000 sites: our API's list, filter, stats and overdue against hand-written SQL.

Run: ``python -m benchmarks.bench_ledger [--repeat 15] [--spatialite]`` (needs
``RIVERGIS_BENCH_POSTGIS_URL`` or ``RIVERGIS_TEST_POSTGIS_URL``; ``scripts/bench.sh`` sets it).

The province set's towns, rivers, approved ranges and zones go into a scratch PostGIS database;
then its 100 000 problem sites are reported through ``report_sites`` (checks, jurisdiction
derived, one ledger event each), timed against ogr2ogr loading the same file as a plain table.
Then, side by side, for each query:

- **ours**: the HTTP request to ``/api/v1/problems…`` through the FastAPI app in process
  (auth, filters, SQL, records with GeoJSON geometry, JSON response);
- **service**: the ledger function the endpoint calls, without HTTP (in the JSON as ``service_ms``);
- **reference**: hand-written PostGIS SQL returning the same page or the same numbers
  (``ST_AsGeoJSON``, ``count(*) FILTER``, ``GROUPING SETS``), fetched with the same driver.

Each figure is the median of ``--repeat`` runs after a warm-up, timed without tracing, the three
sides taking turns so that they share the machine's load alike; peak memory is then the
Python-side peak (tracemalloc) of one traced run. Each case first checks that our answer and the
SQL's agree (same page of sites, same totals). The clock is fixed at 2023-06-30 (China) so that
the overdue figures do not move. ``--spatialite`` also times the API on a SpatiaLite copy (the
embedded default; in the JSON as ``spatialite_api_ms``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyogrio
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from benchmarks.common import (
    Measure,
    measure,
    measure_command,
    ogr_pg_dsn,
    province_data,
    report,
    scratch_postgis,
    store_layers,
)
from gis_service.access import create_token
from gis_service.api.app import create_app
from gis_service.catalogue import bundled_catalogue
from gis_service.db.backend import DatabaseWaits
from gis_service.db.engine import make_engine, transaction
from gis_service.ingest.normalise import normalise
from gis_service.ledger import service
from gis_service.settings import Settings

# The bundled catalogue's problems layer: the ledger's status and category words.
PROBLEMS = bundled_catalogue()["problems"]

NOW = dt.datetime(2023, 6, 30, 4, 0, tzinfo=dt.UTC)  # noon in China
TODAY = dt.date(2023, 6, 30)
BBOX = (106.0, 29.0, 107.5, 30.5)
COLUMNS = (
    "id, code, category, description, river_code, town, inside_range, zone_type, found_date, source, "
    "status, deadline, responsible_unit, measures, closed_date, rectified_date, lock_version, "
    "created_at, updated_at, attrs, ST_AsGeoJSON(geom) AS geometry, "
    "ST_X(ST_PointOnSurface(geom)) AS lon, ST_Y(ST_PointOnSurface(geom)) AS lat"
)
OVERDUE = "deadline IS NOT NULL AND deadline < :today AND status NOT IN ('rectified', 'closed', 'dismissed')"
DONE = (
    "status IN ('rectified', 'closed') AND deadline IS NOT NULL AND COALESCE(rectified_date, closed_date) IS NOT NULL"
)
STATS_SQL = f"""
SELECT {{key}} AS key, status, category, GROUPING({{grouped}}) AS g, count(*) AS n,
       count(*) FILTER (WHERE {OVERDUE}) AS overdue,
       count(*) FILTER (WHERE {DONE}) AS done,
       count(*) FILTER (WHERE {DONE} AND COALESCE(rectified_date, closed_date) <= deadline) AS on_time
FROM problems
GROUP BY GROUPING SETS ({{sets}})
"""


def same_page(body: dict[str, Any], results: list[list[Any]]) -> bool:
    """Tell whether the API's page holds the same sites, in the same order, as the SQL's."""
    ids = [item["id"] for item in body["items"]]
    return ids == [row.id for row in results[0][: len(ids)]] and len(ids) == min(100, len(results[0]))


def same_totals(body: dict[str, Any], results: list[list[Any]]) -> bool:
    """Tell whether the statistics agree with the SQL's grand-total row (every grouped column left out)."""
    total = max(results[0], key=lambda row: row.g)
    return (body["total"], body["overdue"]) == (total.n, total.overdue)


def same_overdue(body: dict[str, Any], results: list[list[Any]]) -> bool:
    """Tell whether the overdue page and count agree with the SQL's."""
    return same_page(body, results) and body["count"] == max(results[1], key=lambda row: row.g).n


@dataclass
class Case:
    """One query: the API request, the service call and the hand-written SQL answering the same."""

    name: str
    path: str
    params: dict[str, Any]
    sql: list[str]
    call: Callable[[Any], Any]
    sql_params: dict[str, Any] = field(default_factory=dict)
    agrees: Callable[[dict[str, Any], list[list[Any]]], bool] = same_page


def cases() -> list[Case]:
    """Return the measured queries."""
    box = {"minx": BBOX[0], "miny": BBOX[1], "maxx": BBOX[2], "maxy": BBOX[3]}
    flt = service.ProblemFilter
    clock: Callable[[], dt.datetime] = lambda: NOW  # noqa: E731
    return [
        Case(
            "ledger_list_first_page",
            "/api/v1/problems",
            {"limit": 100},
            [f"SELECT {COLUMNS} FROM problems ORDER BY id DESC LIMIT 101"],
            lambda s: service.list_problems(s, flt(), limit=100, clock=clock, problems=PROBLEMS),
        ),
        Case(
            "ledger_list_bbox_status_sort",
            "/api/v1/problems",
            {
                "bbox": ",".join(map(str, BBOX)),
                "status": ["assigned", "rectifying"],
                "sort": "-found_date",
                "limit": 100,
            },
            [
                f"SELECT {COLUMNS} FROM problems WHERE geom && ST_MakeEnvelope(:minx, :miny, :maxx, :maxy, 4490) "
                "AND status IN ('assigned', 'rectifying') ORDER BY found_date DESC, id LIMIT 101"
            ],
            lambda s: service.list_problems(
                s,
                flt(status=["assigned", "rectifying"], bbox=BBOX),
                sort="-found_date",
                limit=100,
                clock=clock,
                problems=PROBLEMS,
            ),
            box,
        ),
        Case(
            "ledger_list_category_overdue_deep_page",
            "/api/v1/problems",
            {"category": "dumping", "overdue": "true", "sort": "deadline,code", "limit": 100, "offset": 2000},
            [
                f"SELECT {COLUMNS} FROM problems WHERE category = 'dumping' AND {OVERDUE} "
                "ORDER BY deadline, code, id LIMIT 101 OFFSET 2000"
            ],
            lambda s: service.list_problems(
                s,
                flt(category=["dumping"], overdue=True),
                sort="deadline,code",
                limit=100,
                offset=2000,
                clock=clock,
                problems=PROBLEMS,
            ),
            {"today": TODAY},
        ),
        Case(
            "ledger_stats",
            "/api/v1/problems/stats",
            {},
            [STATS_SQL.format(key="NULL", grouped="status, category", sets="(status), (category), ()")],
            lambda s: service.statistics(s, clock=clock, problems=PROBLEMS),
            {"today": TODAY},
            same_totals,
        ),
        Case(
            "ledger_stats_by_town",
            "/api/v1/problems/stats",
            {"by": "town"},
            [
                STATS_SQL.format(
                    key="town",
                    grouped="town, status, category",
                    sets="(status), (category), (), (town), (town, status), (town, category)",
                )
            ],
            lambda s: service.statistics(s, by="town", clock=clock, problems=PROBLEMS),
            {"today": TODAY},
            same_totals,
        ),
        Case(
            "ledger_overdue",
            "/api/v1/problems/overdue",
            {"limit": 100},
            [
                f"SELECT {COLUMNS}, :today - deadline AS days_overdue FROM problems WHERE {OVERDUE} "
                "ORDER BY deadline, id LIMIT 101",
                f"SELECT town, river_code, responsible_unit, GROUPING(town, river_code, responsible_unit) AS g, "
                f"count(*) AS n FROM problems WHERE {OVERDUE} "
                "GROUP BY GROUPING SETS ((town), (river_code), (responsible_unit), ())",
            ],
            lambda s: service.overdue(s, limit=100, clock=clock, problems=PROBLEMS),
            {"today": TODAY},
            same_overdue,
        ),
    ]


def load(engine: Engine, folder: Path) -> dict[str, float]:
    """Load towns, rivers, approved ranges and zones (the sites are reported separately); seconds a layer."""
    return store_layers(engine, folder, ("towns", "rivers", "boundaries", "zones"))


def report_problems(engine: Engine, folder: Path) -> Measure:
    """Report the 100 000 problem sites through the ledger (jurisdiction derived, first events written)."""
    frame = normalise(bundled_catalogue()["problems"], pyogrio.read_dataframe(folder / "problems.gpkg")).frame

    def run() -> int:
        with transaction(engine) as session:
            return service.report_sites(
                session, frame, actor="bench", settings=Settings(), clock=lambda: NOW - dt.timedelta(days=400)
            )

    start = time.perf_counter()
    added = run()
    seconds = time.perf_counter() - start
    with engine.connect() as conn:
        conn.execute(text("ANALYZE"))
    return Measure("report_sites (jurisdiction + events)", seconds, 0.0, added)


def interleaved(runs: dict[str, Callable[[], Any]], repeat: int) -> list[Measure]:
    """Time each function ``repeat`` times after a warm-up, taking turns so that all see the same machine load.

    Each figure is the median of its untraced runs; the peak memory is that of one more, traced run.
    """
    results = {label: fn() for label, fn in runs.items()}
    times: dict[str, list[float]] = {label: [] for label in runs}
    for _ in range(repeat):
        for label, fn in runs.items():
            start = time.perf_counter()
            results[label] = fn()
            times[label].append(time.perf_counter() - start)
    return [
        Measure(label, statistics.median(times[label]), measure(label, fn).peak_mb, results[label])
        for label, fn in runs.items()
    ]


def api_call(client: TestClient, headers: dict[str, str], case: Case) -> Callable[[], Any]:
    """Return a function making the case's API request and returning its JSON."""

    def api() -> Any:
        response = client.get(case.path, params=case.params, headers=headers)
        response.raise_for_status()
        return response.json()

    return api


@contextmanager
def served(engine: Engine) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """Yield a client of the app on ``engine`` (clock fixed) and a viewer's headers."""
    with transaction(engine) as session:
        secret = create_token(session, name="bench", role="viewer")
    app = create_app(engine)
    app.state.clock = lambda: NOW
    with TestClient(app) as client:
        yield client, {"Authorization": f"Bearer {secret}"}


def spatialite_figures(folder: Path, repeat: int) -> dict[str, float]:
    """Return the API's median milliseconds for each case on a SpatiaLite copy (the embedded default)."""
    with tempfile.TemporaryDirectory(prefix="rg-bench-ledger-") as tmp:
        engine = make_engine(f"sqlite:///{tmp}/ledger.sqlite", DatabaseWaits.of(Settings()))
        load(engine, folder)
        reported = report_problems(engine, folder)
        print(f"SpatiaLite: report_sites {reported.seconds:.1f}s")
        with served(engine) as (client, headers):
            figures = {
                case.name: interleaved({"api": api_call(client, headers, case)}, repeat)[0].seconds * 1000
                for case in cases()
            }
        engine.dispose()
    return figures


def ogr2ogr_problems(url: str, folder: Path) -> Measure:
    """Load the same problem sites with ogr2ogr (a plain copy: no checks, jurisdiction or events) as a reference."""
    return measure_command(
        "ogr2ogr (plain load of the same file)",
        [
            "ogr2ogr",
            "-f",
            "PostgreSQL",
            ogr_pg_dsn(url),
            str(folder / "problems.gpkg"),
            "-nln",
            "problems_ogr",
            "-lco",
            "SPATIAL_INDEX=GIST",
            "--config",
            "PG_USE_COPY",
            "YES",
        ],
    )


def run_case(
    case: Case, client: TestClient, headers: dict[str, str], engine: Engine, repeat: int, **extra: Any
) -> dict[str, Any]:
    """Measure one case three ways, check the answers agree, and report ours (API) against the reference SQL."""

    def svc() -> Any:
        with transaction(engine) as session:
            return case.call(session)

    def sql() -> list[list[Any]]:
        with engine.connect() as conn:
            return [list(conn.execute(text(q), case.sql_params).fetchall()) for q in case.sql]

    ours, inner, ref = interleaved(
        {
            "our API (HTTP in process)": api_call(client, headers, case),
            "ledger service": svc,
            "hand-written PostGIS SQL": sql,
        },
        repeat,
    )
    body = ours.result
    returned = body.get("numberReturned", len(body.get("items", []))) if isinstance(body, dict) else None
    if not case.agrees(body, ref.result):
        raise SystemExit(f"{case.name}: our answer differs from the SQL's")
    row = report(
        case.name,
        ours,
        ref,
        ours_ms=round(ours.seconds * 1000, 2),
        service_ms=round(inner.seconds * 1000, 2),
        reference_ms=round(ref.seconds * 1000, 2),
        service_ratio=round(inner.seconds / ref.seconds, 3) if ref.seconds else None,
        returned=returned,
        reference_rows=[len(r) for r in ref.result],
        repeat=repeat,
        **extra,
    )
    return row


def main() -> None:
    """Load the province ledger, then measure each query side by side, print and save the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--spatialite", action="store_true", help="also time the API on a SpatiaLite copy")
    args = parser.parse_args()
    folder = province_data()
    lite = spatialite_figures(folder, args.repeat) if args.spatialite else {}
    with scratch_postgis() as url:
        engine = make_engine(url, DatabaseWaits.of(Settings()))
        loaded = load(engine, folder)
        print(f"loaded into PostGIS: {', '.join(f'{k} {v:.1f}s' for k, v in loaded.items())}")
        reported = report_problems(engine, folder)
        report("ledger_report_sites", reported, ogr2ogr_problems(url, folder), sites=reported.result)
        with served(engine) as (client, headers):
            rows = [
                run_case(
                    c,
                    client,
                    headers,
                    engine,
                    args.repeat,
                    **({"spatialite_api_ms": round(lite[c.name], 2)} if lite else {}),
                )
                for c in cases()
            ]
        engine.dispose()
    print(
        "\n| query | our API | service | SQL | API / SQL | service / SQL |"
        + (" API on SpatiaLite |" if lite else "")
        + "\n|---|---|---|---|---|---|"
        + ("---|" if lite else "")
    )
    for row in rows:
        print(
            f"| {row['benchmark']} | {row['ours_ms']:.1f} ms | {row['service_ms']:.1f} ms "
            f"| {row['reference_ms']:.1f} ms | {row['ratio']:.2f}x | {row['service_ratio']:.2f}x |"
            + (f" {row['spatialite_api_ms']:.1f} ms |" if lite else "")
        )


if __name__ == "__main__":
    main()
