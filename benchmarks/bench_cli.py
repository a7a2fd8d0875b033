"""Benchmark: ``rivergis`` start-up against the bare interpreter and an eager import; its import progress.

Run: ``python -m benchmarks.bench_cli [--repeat 5]`` (no PostGIS needed; unknown arguments, such as
the other benchmarks' that ``scripts/bench.sh`` passes to all, are ignored).

Issue 16's goals: ``rivergis --help`` under 0.5 s, a small command under 1.5 s; a progress bar per
stage (read, validate, store) on an import, none with ``--quiet`` or off a terminal.

A demo SpatiaLite database is made in a temporary folder (``rivergis init``, ``rivergis demo``,
``RIVERGIS_DATABASE_URL=sqlite:///…``). Then each command runs as a child process, output thrown
away, once to warm the page cache and then ``--repeat`` times, the commands taking turns so that
they share the machine's load alike; each run's wall time (spawn to ``wait4``) and the child's
peak RSS (``wait4``'s rusage) are kept. The children are spawned by a small launcher process (a bare
interpreter, ~9 MB), not by this one: a child's peak counts the memory of the process it was
forked from, and this one has SQLAlchemy loaded. Side by side in the same run:

- **ours**: ``rivergis --help`` (the command table, no command module imported), ``rivergis ratios
  --river <the demo's first river>`` and ``rivergis rivers list`` (small reads of the database);
- **references**: the bare interpreter (``python -c pass``) and the stack a command could need,
  imported eagerly (``import geopandas, pyogrio, sqlalchemy, fastapi, folium``): what every command
  would pay if the CLI imported its modules up front.

Printed: median, min and max seconds, peak RSS, the goal, and the ratio of medians to each
reference. The progress check runs ``rivergis import zones <demo zones.shp>`` under a
pseudo-terminal (``--dry-run``; ``--dry-run --quiet``; and once storing into the scratch database,
so that the store stage has something to do) and off a terminal (pipes), and says yes or no for
each stage's bar, found by the labels ``gis_service.cli.progress`` draws. This is a report, not a
test: nothing fails on a missed goal.
"""

from __future__ import annotations

import argparse
import os
import pty
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.common import Launcher, Measure, province_data, report
from gis_service.cli.progress import STAGE_LABEL
from gis_service.resources import data_path

PROVINCE_BBOX = "[104.0, 27.0, 111.0, 33.0]"  # the synthetic province's extent (as bench_import)
EAGER = "import geopandas, pyogrio, sqlalchemy, fastapi, folium"
# Environment variables by which Rich would draw on a pipe too (or not on a terminal): not passed on.
RICH_OVERRIDES = ("FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "TERM")


@dataclass
class Case:
    """One command timed: its label, argv, goal in seconds (None for a reference) and its runs."""

    label: str
    argv: list[str]
    goal: float | None = None
    seconds: list[float] = field(default_factory=list)
    peak_mb: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        """The median wall time of the runs."""
        return statistics.median(self.seconds)


def rivergis() -> list[str]:
    """Return the argv of the ``rivergis`` command beside this interpreter (its console script), else ``-m``."""
    script = Path(sys.executable).parent / "rivergis"
    return [str(script)] if script.exists() else [sys.executable, "-m", "gis_service.cli.main"]


def run_on_terminal(argv: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run ``argv`` with a pseudo-terminal as its stdin, stdout and stderr; return its exit code and output."""
    main_fd, child_fd = pty.openpty()
    proc = subprocess.Popen(
        argv, env={**env, "TERM": "xterm-256color", "COLUMNS": "120"}, stdin=child_fd, stdout=child_fd, stderr=child_fd
    )
    os.close(child_fd)
    chunks = []
    while True:
        try:
            data = os.read(main_fd, 65536)
        except OSError:  # EIO once the child has closed its side
            break
        if not data:
            break
        chunks.append(data)
    os.close(main_fd)
    return proc.wait(), b"".join(chunks).decode("utf-8", errors="replace")


def run_on_pipes(argv: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run ``argv`` with pipes for its output; return its exit code and stdout + stderr."""
    done = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, check=False)
    return done.returncode, (done.stdout + done.stderr).decode("utf-8", errors="replace")


def bars_seen(output: str) -> dict[str, bool]:
    """Return, per stage, whether its bar was drawn (its label followed by a step, as the progress prints it)."""
    return {stage: f"{label}：" in output for stage, label in STAGE_LABEL.items()}


def progress_check(base: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run the demo zones' import on and off a terminal; print and return which stages' bars were drawn."""
    zones = str(data_path("shapefiles") / "zones.shp")
    runs = {
        "terminal, --dry-run": (run_on_terminal, ["--dry-run"]),
        "terminal, --dry-run --quiet": (run_on_terminal, ["--dry-run", "--quiet"]),
        "pipes (off a terminal), --dry-run": (run_on_pipes, ["--dry-run"]),
        "pipes (off a terminal), stored": (run_on_pipes, []),
        "terminal, stored into the scratch database": (run_on_terminal, []),
    }
    expected = {
        "terminal, --dry-run": {"read": True, "validate": True, "store": False},
        "terminal, --dry-run --quiet": dict.fromkeys(STAGE_LABEL, False),
        "pipes (off a terminal), --dry-run": dict.fromkeys(STAGE_LABEL, False),
        "pipes (off a terminal), stored": dict.fromkeys(STAGE_LABEL, False),
        "terminal, stored into the scratch database": dict.fromkeys(STAGE_LABEL, True),
    }
    result: dict[str, Any] = {}
    print(f"progress of `rivergis import zones {zones}` (bars found by their labels {list(STAGE_LABEL.values())}):")
    for name, (runner, options) in runs.items():
        code, output = runner([*base, "import", "zones", zones, *options], env)
        seen = bars_seen(output)
        as_expected = seen == expected[name]
        shown = ", ".join(f"{stage} {'yes' if drawn else 'no'}" for stage, drawn in seen.items())
        print(f"  {name}: exit {code}; bars: {shown}; as expected: {'yes' if as_expected else 'no'}")
        result[name] = {"exit": code, "bars": seen, "as_expected": as_expected}
    return result


def province_progress(base: list[str], env: dict[str, str], folder: Path) -> dict[str, Any]:
    """Import the province's 200 000 zone stretches on a terminal into a SpatiaLite file holding its rivers and
    ranges; print and return which stages' bars were drawn, the exit code and the seconds (the issue's row)."""
    province = province_data()
    database = folder / "province.sqlite"
    env = {**env, "RIVERGIS_DATABASE_URL": f"sqlite:///{database}", "RIVERGIS_DISTRICT_BBOX": PROVINCE_BBOX}
    subprocess.run([*base, "init"], env=env, check=True, capture_output=True)
    for layer in ("rivers", "boundaries"):
        subprocess.run(
            [*base, "import", layer, str(province / f"{layer}.gpkg")], env=env, check=True, capture_output=True
        )
    zones = province / "zones.gpkg"
    start = time.perf_counter()
    code, output = run_on_terminal([*base, "import", "zones", str(zones)], env)
    seconds = time.perf_counter() - start
    seen = bars_seen(output)
    shown = ", ".join(f"{stage} {'yes' if drawn else 'no'}" for stage, drawn in seen.items())
    print(f"progress of `rivergis import zones {zones}` (200 000 stretches, SpatiaLite) on a terminal:")
    print(f"  exit {code} in {seconds:.1f} s; bars: {shown}; as expected: {'yes' if all(seen.values()) else 'no'}")
    return {"exit": code, "seconds": round(seconds, 1), "bars": seen, "as_expected": all(seen.values())}


def first_river(database: Path) -> str:
    """Return the demo's first river code (the SpatiaLite file read as plain SQLite)."""
    with sqlite3.connect(database) as conn:
        row = conn.execute("SELECT code FROM rivers ORDER BY code LIMIT 1").fetchone()
    if row is None:
        raise RuntimeError("the demo database has no rivers")
    return str(row[0])


def time_cases(cases: list[Case], launcher: Launcher, repeat: int) -> None:
    """Warm every case up once, then run them in turn ``repeat`` times, keeping each run's seconds and peak."""
    for case in cases:
        launcher.run(case.argv)
    for _ in range(repeat):
        for case in cases:
            seconds, peak = launcher.run(case.argv)
            case.seconds.append(seconds)
            case.peak_mb.append(peak)


def main() -> None:
    """Make the demo database, time the commands and references side by side, check the progress, save."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-province", action="store_true", help="skip the 200 000-stretch import's bars")
    args, _ = parser.parse_known_args()
    base = rivergis()
    with tempfile.TemporaryDirectory(prefix="rg-bench-cli-") as tmp:
        database = Path(tmp) / "demo.sqlite"
        env = {k: v for k, v in os.environ.items() if k not in RICH_OVERRIDES}
        env |= {"RIVERGIS_DATABASE_URL": f"sqlite:///{database}", "RIVERGIS_DATA_DIR": tmp}
        for step in ("init", "demo"):
            subprocess.run([*base, step], env=env, check=True, capture_output=True)
        river = first_river(database)
        bare = Case("python -c pass", [sys.executable, "-c", "pass"])
        eager = Case(f'python -c "{EAGER}"', [sys.executable, "-c", EAGER])
        cases = [
            bare,
            eager,
            Case("rivergis --help", [*base, "--help"], goal=0.5),
            Case(f"rivergis ratios --river {river}", [*base, "ratios", "--river", river], goal=1.5),
            Case("rivergis rivers list", [*base, "rivers", "list"], goal=1.5),
        ]
        print(f"rivergis as {' '.join(base)}; {args.repeat} runs each after one warm-up, in turn")
        launcher = Launcher(env, Path(tmp))
        try:
            time_cases(cases, launcher, args.repeat)
        finally:
            launcher.close()
        width = max(len(case.label) for case in cases)
        head = f"{'median':>7} {'min':>6} {'max':>6} {'peak MB':>8} {'goal':>6} {'x bare':>7} {'x eager':>8}"
        print(f"{'command':<{width}} {head}")
        rows = []
        for case in cases:
            goal = f"<{case.goal:.1f}" if case.goal else ""
            met = "" if case.goal is None else (" met" if case.median < case.goal else " MISSED")
            print(
                f"{case.label:<{width}} {case.median:7.3f} {min(case.seconds):6.3f} {max(case.seconds):6.3f} "
                f"{max(case.peak_mb):8.0f} {goal:>6} {case.median / bare.median:7.1f} "
                f"{case.median / eager.median:8.2f}{met}"
            )
            rows.append(
                {
                    "command": case.label,
                    "goal_s": case.goal,
                    "median_s": round(case.median, 3),
                    "min_s": round(min(case.seconds), 3),
                    "max_s": round(max(case.seconds), 3),
                    "runs_s": [round(s, 3) for s in case.seconds],
                    "peak_mb": round(max(case.peak_mb), 1),
                    "x_bare": round(case.median / bare.median, 2),
                    "x_eager": round(case.median / eager.median, 2),
                }
            )
        progress = progress_check(base, env)
        if not args.no_province:
            progress["province"] = province_progress(base, env, Path(tmp))
        small = cases[3]
        report(
            "cli_startup",
            Measure(small.label, small.median, max(small.peak_mb)),
            Measure(eager.label, eager.median, max(eager.peak_mb)),
            repeat=args.repeat,
            commands=rows,
            progress=progress,
        )


if __name__ == "__main__":
    main()
