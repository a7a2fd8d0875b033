"""Nothing lost: an import killed with SIGKILL at any moment leaves the previous state, a database that
opens, and a rerun that succeeds.

The import runs as a real ``rivergis import`` process. Each kill point is a stage of the import at
which the process kills itself with SIGKILL (no ``finally``, no rollback, no flush: as a power cut
or the OOM killer would), so the moment is exact rather than a guess by the clock.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from sqlalchemy import Engine, text

from tests.test_import_bulk import DEMO_RIVERS, demo_zones, spatial_index_whole, spatialite_triggers
from tests.test_import_fixtures import stored_counts

ROOT = Path(__file__).resolve().parent.parent
# Where the import dies: after the file is read; after a batch is written (SpatiaLite: its row triggers set
# aside, the index's upkeep maybe running on its worker); after validation; after the features and
# deliveries are written (not committed); on the way into COMMIT.
KILL_POINTS = {
    "read": ("gis_service.ingest.pipeline", "read_delivery"),
    "a batch written": ("gis_service.ingest.write", "DeliveryWriter.add"),
    "validated": ("gis_service.ingest.pipeline", "validate"),
    "written": ("gis_service.ingest.write", "DeliveryWriter.finish"),
    "commit": ("sqlalchemy.engine.base", "RootTransaction.commit"),
}
RUNNER = """
import importlib, os, signal, sys
module_name, attr, kill_before = sys.argv[1], sys.argv[2], sys.argv[3] == "before"
owner = importlib.import_module(module_name)
holder, name = (getattr(owner, attr.split(".")[0]), attr.split(".")[1]) if "." in attr else (owner, attr)
original = getattr(holder, name)
def dying(*args, **kwargs):
    if kill_before:
        os.kill(os.getpid(), signal.SIGKILL)
    result = original(*args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)
    return result
setattr(holder, name, dying)
from gis_service.cli.main import app
app(sys.argv[4:], standalone_mode=True)
"""


def rivergis(
    args: list[str], kill: tuple[str, str] | None = None, tmp: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``rivergis ARGS`` in a new process (dying at ``kill`` when given) against the configured database; its
    temporary files under ``tmp`` when given (a killed process cannot remove its own)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), **({"TMPDIR": str(tmp)} if tmp else {})}
    if kill is None:
        command = [sys.executable, "-c", "from gis_service.cli.main import app; app()", *args]
    else:
        module, attr = kill
        when = "before" if attr.endswith(".commit") else "after"
        command = [sys.executable, "-c", RUNNER, module, attr, when, *args]
    return subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_an_import_killed_at_any_moment_leaves_the_previous_state(demo_engine: Engine, tmp_path: Path) -> None:
    delivery = demo_zones(tmp_path)  # the district's whole zone set: six rivers, a new version of each
    before = stored_counts(demo_engine)
    with demo_engine.connect() as conn:
        triggers = spatialite_triggers(conn)
    for point, kill in KILL_POINTS.items():
        died = rivergis(["import", "zones", str(delivery), "--json"], kill, tmp=tmp_path)
        assert died.returncode == -signal.SIGKILL, (point, died.returncode, died.stderr[-2000:])
        assert stored_counts(demo_engine) == before, point
        with demo_engine.connect() as conn:  # the database opens and is whole
            if demo_engine.dialect.name == "sqlite":
                assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok", point
                # The import sets SpatiaLite's row triggers aside inside its transaction: back, and the index whole.
                assert spatialite_triggers(conn) == triggers, point
                assert spatial_index_whole(conn, "zones"), point
            else:
                assert conn.execute(text("SELECT count(*) FROM zones")).scalar() == before["zones"]
    rerun = rivergis(["import", "zones", str(delivery), "--json"])
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    after = stored_counts(demo_engine)
    assert after["deliveries"] == before["deliveries"] + len(DEMO_RIVERS)
    assert after["zones"] > before["zones"]
    with demo_engine.connect() as conn:
        assert spatialite_triggers(conn) == triggers
        assert spatial_index_whole(conn, "zones")
