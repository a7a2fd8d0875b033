"""Issue map at 100 000 and 1 000 000 sites, in headless Chromium, each against a reference in the same run.

100 000 sites (SpatiaLite): the service's page (shell + assets + compact data, as the browser pulls
them, compressed on the wire) against a naive Folium map (one ``folium.Marker`` with a ``Popup`` per
site): bytes, and time until clusters are drawn. Goals: ≥ 100x smaller, first clusters < 2 s.

1 000 000 sites (PostGIS, the province generator's ``--sites 1000000`` set): server-side clusters:
time to first clusters, each pan and zoom until redrawn, the longest main-thread task, each filter
(in the page, and the cluster route alone). Reference: the same page forced to load every site in
one payload (``RIVERGIS_MAP_CLUSTER_THRESHOLD`` above the count), as it did before. Goals: first
clusters < 2 s, pans and zooms without a stall, every filter within 1 s.

    .venv/bin/python -m benchmarks.bench_map [--sites 100000] [--million 1000000 | --million 0]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import folium
import httpx

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))

from benchmarks.common import RESULTS, province_data, scratch_postgis  # noqa: E402

ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
CLUSTERS_DRAWN = "document.querySelectorAll('.marker-cluster').length > 0"
CLIENT_CLUSTERS_DRAWN = "document.querySelectorAll('.marker-cluster:not(.rg-server-cluster)').length > 0"
SERVER_CLUSTERS_DRAWN = "document.querySelectorAll('.rg-server-cluster').length > 0"
READY = "!!document.body && document.body.hasAttribute('data-rg-ready')"
# The map object Folium names ``map_<hash>``; the page's moves go through it.
MAP = "window[Object.keys(window).find((k) => k.startsWith('map_'))]"
LONG_TASKS = """window.__longest = 0; new PerformanceObserver((list) => {
  for (const e of list.getEntries()) window.__longest = Math.max(window.__longest, e.duration);
}).observe({type: 'longtask', buffered: true});"""


def load_sites(db_url: str, folder: Path, limit: int | None = None) -> int:
    """Load the province problem sites of ``folder`` into a fresh database."""
    from gis_service.catalogue import bundled_catalogue
    from gis_service.db.backend import DatabaseWaits, backend_for
    from gis_service.db.engine import make_engine, transaction
    from gis_service.db.schema import upgrade
    from gis_service.ingest.normalise import normalise
    from gis_service.ingest.read import read_vector
    from gis_service.settings import Settings
    from gis_service.store.bulk import insert_features

    engine = make_engine(db_url, DatabaseWaits.of(Settings()))
    upgrade(engine)
    spec = bundled_catalogue()["problems"]
    frame = normalise(spec, read_vector(folder / "problems.gpkg")).frame
    if limit is not None:
        frame = frame.iloc[:limit]
    with transaction(engine) as session:
        insert_features(session, spec, frame)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        backend_for(engine).refresh_statistics(conn)
    engine.dispose()
    return len(frame)


def serve(db_url: str) -> tuple[str, Any]:
    """Serve the app on a free port in a thread."""
    import uvicorn

    from gis_service.api.app import create_app
    from gis_service.db.backend import DatabaseWaits
    from gis_service.db.engine import make_engine
    from gis_service.settings import Settings

    server = uvicorn.Server(
        uvicorn.Config(
            create_app(make_engine(db_url, DatabaseWaits.of(Settings()))), host="127.0.0.1", port=0, log_level="warning"
        )
    )
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}", server


def configure(**env: str) -> None:
    """Set service settings for the next requests (the server runs in this process)."""
    from gis_service.settings import get_settings

    for name, value in env.items():
        os.environ[f"RIVERGIS_{name.upper()}"] = value
    get_settings.cache_clear()


def raw_bytes(base: str) -> dict[str, int]:
    """Return the uncompressed bytes of the issue map: the page, its assets and the site data."""
    with httpx.Client(base_url=base, timeout=300) as client:
        html = client.get("/maps/problems").content
        urls = re.findall(rb'(?:src|href)="(/static/[^"]+)"', html)
        assets = b"".join(client.get(u.decode()).content for u in urls)
        data = client.get("/maps/data/problems?datum=wgs84").content
    return {"html": len(html), "assets": len(assets), "data": len(data), "total": len(html) + len(assets) + len(data)}


class Browser:
    """Headless Chromium (Debian's), outside requests refused, bytes on the wire counted per page."""

    def __init__(self, playwright: Any) -> None:
        self.browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)

    def page(self, width: int = 1280, height: int = 800, cached: bool = False) -> tuple[Any, dict[str, int]]:
        """Return a new page and its counter of response bytes (headers + body as transferred).

        ``cached``: the browser's HTTP cache on (Playwright turns it off for a page whose requests it
        routes), for a page that names no outside host (the issue map with no basemap).
        """
        context = self.browser.new_context(viewport={"width": width, "height": height}, bypass_csp=True)
        page = context.new_page()
        if not cached:
            page.route(
                "**/*",
                lambda r: r.continue_() if r.request.url.startswith(("http://127.0.0.1", "file://")) else r.abort(),
            )
        pulled = {"bytes": 0, "requests": 0, "not_modified": 0}

        def finished(request: Any) -> None:
            try:
                sizes = request.sizes()
            except Exception:  # noqa: BLE001 - a request still finishing as its page closes
                return
            pulled["bytes"] += max(0, sizes["responseBodySize"]) + max(0, sizes["responseHeadersSize"])
            pulled["requests"] += 1
            response = request.response()
            if response is not None and response.status == 304:
                pulled["not_modified"] += 1

        page.on("requestfinished", finished)
        return page, pulled


def timed(page: Any, url: str, checks: list[str], timeout_s: float) -> list[float | None]:
    """Return seconds from navigation until each of ``checks`` holds (None: not within ``timeout_s``)."""
    start = time.perf_counter()
    times: list[float | None] = []
    try:
        page.goto(url, timeout=timeout_s * 1000, wait_until="commit")
        page.evaluate(LONG_TASKS)
        for check in checks:
            page.wait_for_function(check, timeout=timeout_s * 1000, polling=20)
            times.append(time.perf_counter() - start)
    except Exception:  # noqa: BLE001 - a page that never draws is a result, not a crash
        times += [None] * (len(checks) - len(times))
    return times


def until_ready(page: Any, action: str, timeout_s: float = 30) -> float:
    """Run ``action`` in the page, then return seconds until the map is redrawn (``data-rg-ready``)."""
    page.evaluate("document.body.removeAttribute('data-rg-ready')")
    start = time.perf_counter()
    page.evaluate(action)
    page.wait_for_function(READY, timeout=timeout_s * 1000, polling=20)
    return time.perf_counter() - start


def naive_page(db_url: str, vendor: Path) -> str:
    """Build the naive Folium map: a Marker with a Popup (all fields) per site; Leaflet from local files."""
    from gis_service.db.backend import DatabaseWaits
    from gis_service.db.engine import make_engine
    from gis_service.settings import Settings
    from gis_service.store.features import read_features

    with make_engine(db_url, DatabaseWaits.of(Settings())).connect() as conn:
        sites = read_features(conn, "problems")
    fmap = folium.Map(location=[30.2, 107.7], zoom_start=8, tiles=None)
    for row in sites.itertuples(index=False):
        text = (
            f"<b>{row.code}</b><br>{row.category} {row.status}<br>{row.river_code} {row.town}<br>"
            f"{row.found_date} {row.deadline} {row.responsible_unit}<br>{row.description}"
        )
        folium.Marker([row.geometry.y, row.geometry.x], popup=folium.Popup(text, max_width=300)).add_to(fmap)
    html = fmap.get_root().render()
    # Same offline treatment for the timing: Leaflet from disk, the other CDN files dropped.
    for name in ("leaflet.js", "leaflet.css"):
        html = html.replace(
            f"https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/{name}", (vendor / f"leaflet/dist/{name}").as_uri()
        )
    return html


def hundred_thousand(browser: Browser, sites: int, naive_timeout: float) -> dict[str, Any]:
    """The 100 000-site row: wire bytes and first clusters vs the naive Folium map."""
    from gis_service.webmap.assets import vendor_dir

    work = Path(tempfile.mkdtemp(prefix="rg_bench_map_"))
    db_url = f"sqlite:///{work / 'map.sqlite'}"
    n = load_sites(db_url, province_data(), sites)
    configure(map_cluster_threshold=str(max(n, 100_000)))
    base, server = serve(db_url)
    raw = raw_bytes(base)
    page, pulled = browser.page(cached=True)
    first, whole = timed(page, f"{base}/maps/problems", [CLUSTERS_DRAWN, READY], 60)
    wire = dict(pulled)
    page.wait_for_timeout(500)  # the overlays' requests after the first draw are not part of the figure
    pulled.update(bytes=0, requests=0, not_modified=0)
    page.goto(f"{base}/maps/problems", wait_until="commit")  # opened again, as a user comes back to it
    page.wait_for_function(READY, timeout=60_000)
    again = dict(pulled)
    page.context.close()
    server.should_exit = True

    start = time.perf_counter()
    naive = naive_page(db_url, vendor_dir())
    build_s = time.perf_counter() - start
    naive_file = work / "naive.html"
    naive_file.write_text(naive, encoding="utf-8")
    naive_bytes = len(naive.encode("utf-8"))
    naive_gzip = len(gzip.compress(naive.encode("utf-8"), 6))
    npage, _ = browser.page()
    (naive_s,) = timed(
        npage, naive_file.as_uri(), ["document.querySelectorAll('.leaflet-marker-icon').length > 0"], naive_timeout
    )
    npage.context.close()
    return {
        "sites": n,
        "ours_wire_bytes": wire["bytes"],
        "ours_wire_requests": wire["requests"],
        "ours_raw_bytes": raw,
        "ours_reload_wire_bytes": again["bytes"],
        "ours_reload_not_modified": again["not_modified"],
        "naive_bytes": naive_bytes,
        "naive_gzip": naive_gzip,
        "size_ratio_wire": round(naive_bytes / wire["bytes"], 1),
        "size_ratio_both_gzip": round(naive_gzip / wire["bytes"], 1),
        "size_ratio_raw": round(naive_bytes / raw["total"], 1),
        "ours_first_clusters_s": None if first is None else round(first, 2),
        "ours_all_sites_s": None if whole is None else round(whole, 2),
        "naive_markers_s": None if naive_s is None else round(naive_s, 2),
        "naive_build_s": round(build_s, 1),
    }


FILTERS = {
    "status=closed": "status=closed",
    "category=mining": "category=mining",
    "overdue=1": "overdue=1",
    "status=assigned,rectifying&overdue=1": "status=assigned,rectifying&overdue=1",
    "from=2024-01-01": "from=2024-01-01",
}


def place_filters(db_url: str) -> dict[str, str]:
    """Return a town and a river filter: the town and the river with the most sites."""
    from sqlalchemy import create_engine, text

    engine = create_engine(db_url)
    with engine.connect() as conn:
        found = {}
        for name, column in (("town", "town"), ("river", "river_code")):
            value = conn.execute(
                text(f"SELECT {column} FROM problems GROUP BY {column} ORDER BY count(*) DESC LIMIT 1")  # noqa: S608
            ).scalar_one()
            if value is not None:  # the province set leaves towns and rivers empty
                found[f"{name}=…"] = str(httpx.QueryParams({name: value}))
    engine.dispose()
    return found


def million(browser: Browser, sites: int, reference_timeout: float) -> dict[str, Any]:
    """The 1 000 000-site row on PostGIS: server clusters vs the one-payload page."""
    from gis_service.demo.vocabulary import PROVINCE_EXTENT

    folder = province_data(sites=sites)
    # The province is the district here, so that the map opens on all of it.
    configure(district_bbox=json.dumps(list(PROVINCE_EXTENT)), map_cluster_threshold="100000")
    out: dict[str, Any] = {"sites": sites}
    with scratch_postgis() as db_url:
        start = time.perf_counter()
        out["sites"] = load_sites(db_url, folder)
        out["load_s"] = round(time.perf_counter() - start, 1)
        base, server = serve(db_url)
        page, pulled = browser.page()
        (first,) = timed(
            page, f"{base}/maps/problems", ["document.querySelectorAll('.rg-server-cluster').length > 0"], 60
        )
        out["first_clusters_s"] = None if first is None else round(first, 2)
        page.wait_for_function(READY, timeout=60_000)
        out["first_wire_bytes"] = pulled["bytes"]
        moves = {
            "zoom in 1": f"{MAP}.zoomIn(1, {{animate: false}})",
            "zoom in 2": f"{MAP}.zoomIn(1, {{animate: false}})",
            "pan east": f"{MAP}.panBy([400, 0], {{animate: false}})",
            "pan south": f"{MAP}.panBy([0, 300], {{animate: false}})",
            "zoom in 3": f"{MAP}.zoomIn(2, {{animate: false}})",
            "zoom out": f"{MAP}.zoomOut(4, {{animate: false}})",
        }
        out["moves_s"] = {name: round(until_ready(page, js), 3) for name, js in moves.items()}
        out["longest_task_ms"] = round(page.evaluate("window.__longest || 0"))
        filters = {}
        for name, query in FILTERS.items():
            (filters[name],) = timed(page, f"{base}/maps/problems?{query}", [READY], 60)
        out["filter_page_reload_s"] = {k: None if v is None else round(v, 3) for k, v in filters.items()}
        # the filter form, as a user applies it: closed sites only
        page.goto(f"{base}/maps/problems", wait_until="commit")
        page.wait_for_function(READY, timeout=60_000)
        page.evaluate(LONG_TASKS)
        form = (
            "document.getElementById('rg-filter').querySelector('input[name=status][value=closed]').checked = true;"
            "document.getElementById('rg-filter').requestSubmit()"
        )
        out["filter_form_closed_s"] = round(until_ready(page, form), 3)
        out["filter_form_sites"] = int(page.get_attribute("body", "data-rg-sites"))
        out["longest_task_ms"] = max(out["longest_task_ms"], round(page.evaluate("window.__longest || 0")))
        page.context.close()
        with httpx.Client(base_url=base, timeout=120) as client:
            route, again = {}, {}
            for name, query in {"none": "", **FILTERS, **place_filters(db_url)}.items():
                for times in (route, again):  # asked twice: the second answer may come from a cache
                    start = time.perf_counter()
                    r = client.get(f"/maps/data/problems/clusters?zoom=7&counts=1&{query}")
                    times[name] = round(time.perf_counter() - start, 3)
                    r.raise_for_status()
            out["cluster_route_s"] = route
            out["cluster_route_again_s"] = again
            # reference: the page as it was, every site in one payload
            configure(map_cluster_threshold=str(sites * 2))
            start = time.perf_counter()
            payload = client.get("/maps/data/problems", headers={"Accept-Encoding": "identity"}).content
            out["reference_payload_bytes"] = len(payload)
            out["reference_payload_s"] = round(time.perf_counter() - start, 2)
        rpage, _ = browser.page()
        # the browser's own clusters of every site, not the service's preview drawn while they load
        (ref_first,) = timed(rpage, f"{base}/maps/problems", [CLIENT_CLUSTERS_DRAWN], reference_timeout)
        rpage.context.close()
        out["reference_first_clusters_s"] = None if ref_first is None else round(ref_first, 2)
        out["reference_timeout_s"] = reference_timeout
        configure(map_cluster_threshold="100000")
        server.should_exit = True
        time.sleep(0.5)
    return out


def main() -> None:
    """Run both rows, print them and keep the JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sites", type=int, default=100_000)
    parser.add_argument("--million", type=int, default=1_000_000, help="sites of the server-cluster row (0: skip)")
    parser.add_argument("--naive-timeout", type=float, default=180.0)
    parser.add_argument("--reference-timeout", type=float, default=60.0)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    result: dict[str, Any] = {}
    with sync_playwright() as p:
        browser = Browser(p)
        if args.sites:
            report_small(result, hundred_thousand(browser, args.sites, args.naive_timeout), args.naive_timeout)
        if args.million:
            big = result["million"] = million(browser, args.million, args.reference_timeout)
            report_big(big, args.reference_timeout)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "bench_map.json"
    # A row skipped in this run (``--sites 0``, ``--million 0``) keeps its last figures.
    kept = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    kept = kept if "hundred_thousand" in kept or "million" in kept else {}
    path.write_text(json.dumps(kept | result, indent=2, ensure_ascii=False), encoding="utf-8")


def report_small(result: dict[str, Any], small: dict[str, Any], naive_timeout: float) -> None:
    """Print the 100 000-site row."""
    result["hundred_thousand"] = small
    print(f"== {small['sites']} sites (SpatiaLite)")
    print(
        f"bytes pulled  ours {small['ours_wire_bytes']:,} on the wire ({small['ours_wire_requests']} requests; "
        f"raw {small['ours_raw_bytes']['total']:,}, data {small['ours_raw_bytes']['data']:,})   naive Folium "
        f"{small['naive_bytes']:,} (gzip {small['naive_gzip']:,})   ratio {small['size_ratio_wire']}x "
        f"(vs naive gzipped {small['size_ratio_both_gzip']}x; raw vs raw {small['size_ratio_raw']}x)"
    )
    print(f"reload        {small['ours_reload_wire_bytes']:,} bytes ({small['ours_reload_not_modified']} answered 304)")
    print(
        f"clusters      ours first {small['ours_first_clusters_s']} s, all sites {small['ours_all_sites_s']} s   "
        f"naive {small['naive_markers_s']} s (None = not within {naive_timeout:.0f} s)"
    )


def report_big(big: dict[str, Any], reference_timeout: float) -> None:
    """Print the 1 000 000-site row."""
    print(f"== {big['sites']} sites (PostGIS, server clusters; loaded in {big['load_s']} s)")
    print(
        f"first clusters {big['first_clusters_s']} s ({big['first_wire_bytes']:,} bytes)   reference "
        f"(one payload of {big['reference_payload_bytes']:,} bytes in {big['reference_payload_s']} s): "
        f"{big['reference_first_clusters_s']} s (None = not within {reference_timeout:.0f} s)"
    )
    print(f"pan/zoom until redrawn: {big['moves_s']}; longest main-thread task {big['longest_task_ms']} ms")
    print(f"filters, page reload with the filter: {big['filter_page_reload_s']}")
    print(f"filter form (closed, {big['filter_form_sites']:,} sites): {big['filter_form_closed_s']} s")
    print(f"cluster route alone (zoom 7, with legend counts): {big['cluster_route_s']}")
    print(f"the same, asked again: {big['cluster_route_again_s']}")


if __name__ == "__main__":
    main()
