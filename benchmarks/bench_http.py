"""A bounded loopback load test: map, API reads, OGC, uploads and ledger transitions together over HTTP.

Run: ``python -m benchmarks.bench_http [--seconds 60] [--workers 8] [--spatialite]``. It starts
``rivergis serve`` on 127.0.0.1 over the demo data (a scratch PostGIS database, or a SpatiaLite
file with ``--spatialite``), lets ``--workers`` threads send a weighted mix of requests for
``--seconds``, and reports per route: requests, server errors (5xx or no answer), refusals (4xx)
and p50/p95 latency. The figures are kept in ``benchmarks/results/bench_http.json``. A load test
with any server error exits 1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from benchmarks.common import RESULTS, scratch_postgis

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-c", "from gis_service.cli.main import app; app()"]
Task = Callable[[httpx.Client, "Recorder"], None]


class Recorder:
    """Latencies and outcomes per route, shared by the worker threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seconds: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self.refused: dict[str, int] = defaultdict(int)
        self.refusals: dict[str, Counter[str]] = defaultdict(Counter)

    def call(self, client: httpx.Client, route: str, method: str, url: str, **kw: Any) -> httpx.Response | None:
        """Send one request, timing it and counting its outcome under ``route``."""
        start = time.perf_counter()
        try:
            response: httpx.Response | None = client.request(method, url, **kw)
        except httpx.HTTPError:
            response = None
        elapsed = time.perf_counter() - start
        with self.lock:
            self.seconds[route].append(elapsed)
            if response is None or response.status_code >= 500:
                self.errors[route] += 1
            elif response.status_code >= 400:
                self.refused[route] += 1
                code = response.json().get("error", {}).get("code", "?") if response.content else "?"
                self.refusals[route][f"{response.status_code} {code}"] += 1
        return response

    def summary(self) -> dict[str, dict[str, Any]]:
        """Return per-route figures."""
        rows = {}
        for route, times in sorted(self.seconds.items()):
            cuts = statistics.quantiles(times, n=20) if len(times) > 1 else times * 19
            rows[route] = {
                "requests": len(times),
                "errors": self.errors[route],
                "refused": self.refused[route],
                "refusals": dict(self.refusals[route]),
                "p50_ms": round(statistics.median(times) * 1000, 1),
                "p95_ms": round(cuts[18] * 1000, 1),
            }
        return rows


def free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rivergis(env: dict[str, str], *args: str) -> str:
    """Run a ``rivergis`` command; return its stdout."""
    done = subprocess.run([*CLI, *args], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    return done.stdout.strip()


@contextlib.contextmanager
def database(spatialite: bool) -> Iterator[dict[str, str]]:
    """Yield the environment of a demo database (scratch PostGIS, or a SpatiaLite file)."""
    with tempfile.TemporaryDirectory(prefix="rivergis-http-") as tmp:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "RIVERGIS_DATA_DIR": tmp}
        if spatialite:
            env.pop("RIVERGIS_DATABASE_URL", None)
            yield env
            return
        with scratch_postgis() as url:
            yield {**env, "RIVERGIS_DATABASE_URL": url}


@contextlib.contextmanager
def server(env: dict[str, str], port: int) -> Iterator[str]:
    """Serve the app on 127.0.0.1:``port`` until the block ends."""
    process = subprocess.Popen(
        [*CLI, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            time.sleep(0.5)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def tasks(admin: str, delivery: bytes) -> list[tuple[int, Task]]:
    """Return the weighted mix of what staff, surveyors and GIS software do at once."""
    auth = {"Authorization": f"Bearer {admin}"}

    def map_data(c: httpx.Client, r: Recorder) -> None:
        r.call(c, "GET /maps/data/problems", "GET", "/maps/data/problems")

    def map_page(c: httpx.Client, r: Recorder) -> None:
        r.call(c, "GET /maps/problems", "GET", "/maps/problems")

    def problems(c: httpx.Client, r: Recorder) -> None:
        r.call(c, "GET /api/v1/problems", "GET", "/api/v1/problems", params={"limit": 50, "status": "assigned"})

    def stats(c: httpx.Client, r: Recorder) -> None:
        r.call(c, "GET /api/v1/problems/stats", "GET", "/api/v1/problems/stats", params={"by": "town"})

    def ogc(c: httpx.Client, r: Recorder) -> None:
        params = {"limit": 100, "offset": random.randrange(0, 50)}
        r.call(c, "GET /ogc/collections/zones/items", "GET", "/ogc/collections/zones/items", params=params)

    def ratios(c: httpx.Client, r: Recorder) -> None:
        r.call(c, "GET /api/v1/ratios", "GET", "/api/v1/ratios")

    def upload(c: httpx.Client, r: Recorder) -> None:
        files = {"file": ("zones.zip", delivery, "application/zip")}
        route = "POST /api/v1/deliveries/zones (dry run)"
        r.call(c, route, "POST", "/api/v1/deliveries/zones", headers=auth, files=files, data={"dry_run": "true"})

    def transition(c: httpx.Client, r: Recorder) -> None:
        site = {"lon": 106.9 + random.random() / 20, "lat": 28.9 + random.random() / 20, "category": "dumping"}
        made = r.call(c, "POST /api/v1/problems", "POST", "/api/v1/problems", headers=auth, json=site)
        if made is None or made.status_code != 201:
            return
        body = made.json()
        step = {"action": "confirm", "expected_version": body["lock_version"]}
        url = f"/api/v1/problems/{body['id']}/transitions"
        r.call(c, "POST /api/v1/problems/{id}/transitions", "POST", url, headers=auth, json=step)

    return [
        (6, map_data),
        (1, map_page),
        (5, problems),
        (2, stats),
        (5, ogc),
        (2, ratios),
        (1, upload),
        (2, transition),
    ]


def run_load(base: str, mix: list[tuple[int, Task]], seconds: float, workers: int) -> Recorder:
    """Let ``workers`` threads send the weighted ``mix`` for ``seconds``."""
    recorder = Recorder()
    stop = time.monotonic() + seconds
    weights = [w for w, _ in mix]
    chosen = [t for _, t in mix]

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        with httpx.Client(base_url=base, timeout=60) as client:
            while time.monotonic() < stop:
                rng.choices(chosen, weights)[0](client, recorder)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return recorder


def main() -> None:
    """Start the service on the demo data, load it, print and keep the per-route figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--spatialite", action="store_true")
    args = parser.parse_args()
    archive = Path(tempfile.mkdtemp(prefix="rivergis-http-zip-")) / "zones.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for part in sorted((ROOT / "shapefiles").glob("zones.*")):
            zf.write(part, part.name)
    with database(args.spatialite) as env:
        rivergis(env, "init")
        rivergis(env, "demo")
        admin = rivergis(env, "token", "create", "--role", "admin", "--name", "bench-http")
        with server(env, free_port()) as base:
            recorder = run_load(base, tasks(admin, archive.read_bytes()), args.seconds, args.workers)
    rows = recorder.summary()
    backend = "spatialite" if args.spatialite else "postgis"
    print(f"{'route':48} {'requests':>8} {'errors':>6} {'4xx':>5} {'p50 ms':>8} {'p95 ms':>8}")
    for route, row in rows.items():
        print(
            f"{route:48} {row['requests']:>8} {row['errors']:>6} {row['refused']:>5} "
            f"{row['p50_ms']:>8} {row['p95_ms']:>8}"
        )
    for route, row in rows.items():
        if row["refusals"]:
            print(f"  {route} refused: {row['refusals']}")
    total = sum(r["requests"] for r in rows.values())
    errors = sum(r["errors"] for r in rows.values())
    print(f"{backend}: {total} requests in {args.seconds:.0f} s with {args.workers} workers, {errors} server errors")
    RESULTS.mkdir(parents=True, exist_ok=True)
    result = {
        "benchmark": "bench_http",
        "backend": backend,
        "seconds": args.seconds,
        "workers": args.workers,
        "requests": total,
        "errors": errors,
        "routes": rows,
    }
    (RESULTS / "bench_http.json").write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
    if errors:
        sys.exit(1)


if __name__ == "__main__":
    main()
