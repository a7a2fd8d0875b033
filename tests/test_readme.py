"""Every ``rivergis`` command of the README runs as written, in order, on the demo data."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine

from gis_service.cli.main import app
from tests.test_import_fixtures import runner

ROOT = Path(__file__).resolve().parents[1]
# Commands that do not end (they serve until stopped): the test would hang on them.
LONG_RUNNING = ("rivergis serve",)


def readme_commands() -> list[str]:
    """Return the README's commands: ``rivergis`` lines of its bash blocks and its inline ``rivergis`` examples."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            for part in line.split(" #")[0].split("&&"):
                if part.strip().startswith("rivergis "):
                    commands.append(part.strip())
    for span in re.findall(r"`(rivergis [^`]+)`", text):
        if not re.search(r"[|<>{}]", span):  # a synopsis (list|stats) or a placeholder is no command
            commands.append(span)
    return commands


def test_the_readme_names_files_the_demo_has() -> None:
    for command in readme_commands():
        for word in shlex.split(command):
            if word.startswith("shapefiles/"):
                assert (ROOT / word).is_file(), command


def test_every_readme_command_runs_on_the_demo(
    demo_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "shapefiles").symlink_to(ROOT / "shapefiles")
    monkeypatch.chdir(tmp_path)
    ran = 0
    for command in readme_commands():
        if command.startswith(LONG_RUNNING):
            continue
        # An account's password is typed on standard input, never on the command line.
        stdin = "口令-Readme-2026\n" if "--password-stdin" in command else None
        result = runner.invoke(app, shlex.split(command)[1:], input=stdin)
        assert result.exit_code == 0, f"{command}\n{result.output}"
        ran += 1
    assert ran >= 20
    # The ratio workbook has the sheets the README names.
    line = next(c for c in (ROOT / "README.md").read_text(encoding="utf-8").splitlines() if "岸线核算.xlsx" in c)
    named = line.split("sheets", 1)[1].strip().split(", ")
    assert load_workbook(tmp_path / "岸线核算.xlsx", read_only=True).sheetnames == named
