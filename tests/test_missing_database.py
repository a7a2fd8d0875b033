"""A read command on a data folder without a database says so, names `rivergis init`, exits 3 and creates nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import clear_caches
from tests.test_import_fixtures import run

READS = [
    ["ratios"],
    ["problems", "overdue"],
    ["outfalls", "list"],
    ["deliveries", "list"],
    ["token", "list"],
    ["export", "zones", "-o", "OUT/zones.gpkg"],
    ["map", "problems", "-o", "OUT/map.html"],
    ["serve", "--port", "1"],
]


@pytest.mark.parametrize("args", READS, ids=lambda a: " ".join(a[:2]))
def test_read_on_a_missing_data_folder_creates_nothing(
    args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "数据" / "rivergis"  # mistyped or not yet made
    monkeypatch.delenv("RIVERGIS_DATABASE_URL", raising=False)
    monkeypatch.setenv("RIVERGIS_DATA_DIR", str(folder))
    clear_caches()
    result = run(*(a.replace("OUT", str(tmp_path / "out")) for a in args))
    assert result.exit_code == 3, result.output
    assert "no_database" in result.output and "没有数据库" in result.output and "rivergis init" in result.output
    assert str(folder / "rivergis.sqlite") in result.output.replace("\n", "")
    assert not (tmp_path / "数据").exists() and not (tmp_path / "out").exists()


def test_the_fix_it_names_works(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "data"
    folder.mkdir()  # the folder exists, the database does not
    monkeypatch.delenv("RIVERGIS_DATABASE_URL", raising=False)
    monkeypatch.setenv("RIVERGIS_DATA_DIR", str(folder))
    clear_caches()
    refused = run("deliveries", "list")
    assert refused.exit_code == 3 and list(folder.iterdir()) == []
    assert run("init").exit_code == 0
    assert run("deliveries", "list").exit_code == 0
