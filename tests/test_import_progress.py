"""``rivergis import`` shows a bar per stage (read, validate, store) on a terminal, and nothing elsewhere.

The command runs as a user runs it, in its own process: once with its stderr on a pseudo-terminal,
once on a pipe, and on the terminal again with ``--quiet`` and with ``--json``.
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine

DEMO = Path(__file__).resolve().parent.parent / "shapefiles"
STAGES = ("读取 read", "检查 validate", "入库 store")


def rivergis_import(*args: str, terminal: bool) -> tuple[subprocess.CompletedProcess[str], str]:
    """Run ``rivergis import`` (stderr on a pseudo-terminal or a pipe); return the process and its stderr."""
    argv = [sys.executable, "-m", "gis_service.cli.main", "import", *args]
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120"}
    if not terminal:
        done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)
        return done, done.stderr
    primary, secondary = pty.openpty()
    chunks: list[bytes] = []

    def drain() -> None:
        """Read the terminal until the child closes it (so that a full buffer never blocks the child)."""
        while True:
            try:
                data = os.read(primary, 4096)
            except OSError:  # EIO: the child's side is closed
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain)
    reader.start()
    try:
        done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=secondary, text=True, env=env, timeout=300)
    finally:
        os.close(secondary)
        reader.join(timeout=30)
        os.close(primary)
    return done, b"".join(chunks).decode("utf-8", "replace")


@pytest.fixture
def zones(demo_engine: Engine) -> Path:
    """The demo's zone set, delivered again (a new version of six rivers)."""
    return DEMO / "zones.shp"


def test_a_terminal_shows_each_stage_and_a_pipe_shows_none(zones: Path) -> None:
    done, stderr = rivergis_import("zones", str(zones), terminal=True)
    assert done.returncode == 0, done.stdout + stderr
    assert all(stage in stderr for stage in STAGES), stderr
    # In order: read before validate before store.
    assert stderr.index(STAGES[0]) < stderr.index(STAGES[1]) < stderr.index(STAGES[2])
    assert "第 2 版" in done.stdout  # the report itself still goes to stdout
    done, stderr = rivergis_import("zones", str(zones), terminal=False)
    assert done.returncode == 0, done.stdout + stderr
    assert "第 3 版" in done.stdout
    assert not any(stage in stderr + done.stdout for stage in STAGES)
    assert "\x1b[" not in stderr  # no cursor movement either


def test_quiet_and_json_stay_silent_on_a_terminal(zones: Path) -> None:
    done, stderr = rivergis_import("zones", str(zones), "--dry-run", "--quiet", terminal=True)
    assert done.returncode == 0, done.stdout + stderr
    assert not any(stage in stderr for stage in STAGES), stderr
    done, stderr = rivergis_import("zones", str(zones), "--dry-run", "--json", terminal=True)
    assert done.returncode == 0, done.stdout + stderr
    assert not any(stage in stderr + done.stdout for stage in STAGES), stderr
    assert json.loads(done.stdout)["feature_count"] == 141  # the demo's 141 stretches; stdout is JSON alone


def test_a_rejected_delivery_still_exits_2_with_the_bars_shown(zones: Path) -> None:
    # The zone set said to be river WS009's: every stretch names another river, rejected after its checks.
    done, stderr = rivergis_import("zones", str(zones), "--river", "WS009", "--dry-run", terminal=True)
    assert done.returncode == 2, done.stdout + stderr
    assert STAGES[1] in stderr and STAGES[2] not in stderr, stderr
