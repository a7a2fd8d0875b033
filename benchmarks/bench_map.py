"""Issue map at 100 000 sites: the service's page (shell + assets + compact data) against a naive Folium map
(one ``folium.Marker`` with a ``Popup`` per site), side by side: bytes, and time until markers are drawn
in headless Chromium. Targets: at least 50x smaller, interactive within 5 s.

    /tmp/venv/bin/python benchmarks/bench_map.py [--sites 100000] [--naive-timeout 180]
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
import tempfile
import threading
import time
from pathlib import Path

import folium
import httpx

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))

from benchmarks.common import RESULTS, province_data  # noqa: E402

ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def load_sites(db_url: str, limit: int) -> int:
    """Load the province-scale problem sites into a fresh SpatiaLite database."""
    from gis_service.catalogue import get_catalogue
    from gis_service.db.engine import make_engine, transaction
    from gis_service.db.schema import upgrade
    from gis_service.ingest.normalise import normalise
    from gis_service.ingest.read import read_vector
    from gis_service.store.bulk import insert_features

    engine = make_engine(db_url)
    upgrade(engine)
    spec = get_catalogue()["problems"]
    frame = normalise(spec, read_vector(province_data() / "problems.gpkg")).frame.iloc[:limit]
    with transaction(engine) as session:
        insert_features(session, spec, frame)
    engine.dispose()
    return len(frame)


def serve(db_url: str) -> tuple[str, object]:
    """Serve the app on a free port in a thread."""
    import uvicorn

    from gis_service.api.app import create_app
    from gis_service.db.engine import make_engine

    server = uvicorn.Server(
        uvicorn.Config(create_app(make_engine(db_url)), host="127.0.0.1", port=0, log_level="warning")
    )
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}", server


def page_bytes(base: str) -> dict[str, int]:
    """Return the bytes the issue map loads: the page, its assets and the site data (raw and gzip)."""
    with httpx.Client(base_url=base, timeout=120) as client:
        html = client.get("/maps/problems").content
        urls = re.findall(rb'(?:src|href)="(/static/[^"]+)"', html)
        assets = b"".join(client.get(u.decode()).content for u in urls)
        start = time.perf_counter()
        data = client.get("/maps/data/problems?datum=wgs84").content
        data_s = time.perf_counter() - start
    whole = html + assets + data
    return {
        "html": len(html),
        "assets": len(assets),
        "data": len(data),
        "total": len(whole),
        "total_gzip": len(gzip.compress(whole, 6)),
        "data_request_ms": round(data_s * 1000),
    }


def naive_page(db_url: str, vendor: Path) -> str:
    """Build the naive Folium map: a Marker with a Popup (all fields) per site; Leaflet from local files."""
    from gis_service.db.engine import make_engine
    from gis_service.store.features import read_features

    with make_engine(db_url).connect() as conn:
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
    html = html.replace(
        "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js", (vendor / "leaflet/dist/leaflet.js").as_uri()
    )
    html = html.replace(
        "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.css", (vendor / "leaflet/dist/leaflet.css").as_uri()
    )
    return html


def time_to_markers(url: str, checks: list[str], timeout_s: float) -> list[float | None]:
    """Return seconds from navigation until each of ``checks`` holds in headless Chromium (None: timed out)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800}, bypass_csp=True)
        page.route(
            "**/*", lambda r: r.continue_() if r.request.url.startswith(("http://127.0.0.1", "file://")) else r.abort()
        )
        start = time.perf_counter()
        times: list[float | None] = []
        try:
            page.goto(url, timeout=timeout_s * 1000, wait_until="domcontentloaded")
            for check in checks:
                page.wait_for_function(check, timeout=timeout_s * 1000, polling=50)
                times.append(time.perf_counter() - start)
        except Exception:  # noqa: BLE001 - a page that never draws is a result, not a crash
            times += [None] * (len(checks) - len(times))
        browser.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sites", type=int, default=100_000)
    parser.add_argument("--naive-timeout", type=float, default=180.0)
    args = parser.parse_args()
    from gis_service.webmap.assets import vendor_dir

    work = Path(tempfile.mkdtemp(prefix="rg_bench_map_"))
    db_url = f"sqlite:///{work / 'map.sqlite'}"
    n = load_sites(db_url, args.sites)
    base, server = serve(db_url)
    ours = page_bytes(base)
    # first clusters on screen (the map pans and zooms from here on), then all sites in the clusters
    ours_first, ours_all = time_to_markers(
        f"{base}/maps/problems",
        ["document.querySelectorAll('.marker-cluster').length > 0", "document.body.hasAttribute('data-rg-ready')"],
        60,
    )
    start = time.perf_counter()
    naive = naive_page(db_url, vendor_dir())
    build_s = time.perf_counter() - start
    naive_file = work / "naive.html"
    naive_file.write_text(naive, encoding="utf-8")
    naive_bytes = len(naive.encode("utf-8"))
    (naive_s,) = time_to_markers(
        naive_file.as_uri(), ["document.querySelectorAll('.leaflet-marker-icon').length > 0"], args.naive_timeout
    )
    server.should_exit = True  # type: ignore[attr-defined]
    result = {
        "sites": n,
        "ours_bytes": ours,
        "naive_bytes": naive_bytes,
        "naive_gzip": len(gzip.compress(naive.encode(), 6)),
        "size_ratio": round(naive_bytes / ours["total"], 1),
        "size_ratio_gzip": round(len(gzip.compress(naive.encode(), 6)) / ours["total_gzip"], 1),
        "ours_first_clusters_s": None if ours_first is None else round(ours_first, 2),
        "ours_all_sites_s": None if ours_all is None else round(ours_all, 2),
        "naive_markers_s": None if naive_s is None else round(naive_s, 2),
        "naive_build_s": round(build_s, 1),
    }
    print(f"sites: {n}")
    print(
        f"page bytes   ours {ours['total']:>12,} (html {ours['html']:,}, assets {ours['assets']:,}, "
        f"data {ours['data']:,}; gzip {ours['total_gzip']:,})   naive Folium {naive_bytes:>12,} "
        f"(gzip {result['naive_gzip']:,})   ratio {result['size_ratio']}x (gzip {result['size_ratio_gzip']}x)"
    )
    print(
        f"markers drawn  ours: first clusters {result['ours_first_clusters_s']} s, all {n} sites clustered "
        f"{result['ours_all_sites_s']} s   naive {result['naive_markers_s']} s "
        f"(None = not drawn within {args.naive_timeout:.0f} s)"
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "bench_map.json").write_text(json.dumps(result, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
