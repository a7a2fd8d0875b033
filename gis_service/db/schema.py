"""Create or upgrade the schema with Alembic (``rivergis init``); check its revision without Alembic.

Every command that opens the database first checks its revision against this code's (``ready_engine``).
Alembic (with Mako and Pygments, which it loads) takes ~0.1 s to import, and its script directory
imports every migration: the check reads Alembic's version table and the migration files' revision
lines itself, and Alembic is imported only to migrate (``tests/test_database.py`` holds both answers
equal to Alembic's).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, column, inspect, select, table

from gis_service.db.engine import check_connection
from gis_service.errors import ConfigurationError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "alembic_version"  # Alembic's default (migrations/env.py names no other), read as such below
# ``revision = '0012'`` and ``down_revision = '0010'`` (or annotated, as newer Alembic templates write them).
ASSIGNMENT = re.compile(r"^(revision|down_revision)\s*(?::[^=\n]*)?=\s*(.+?)\s*$", re.MULTILINE)


def alembic_config(connection: object) -> Config:
    """Return an Alembic config bound to ``connection``."""
    from alembic.config import Config  # Alembic only where it migrates: see the module's docstring

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema of ``engine``'s database to ``revision`` in one transaction."""
    from alembic import command  # Alembic only where it migrates: see the module's docstring

    check_connection(engine)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), revision)


def current_revision(engine: Engine) -> str | None:
    """Return the schema revision the database is at (None when never initialised), from Alembic's version table."""
    with engine.connect() as conn:
        if not inspect(conn).has_table(VERSION_TABLE):
            return None
        versions: list[str] = list(
            conn.execute(select(column("version_num")).select_from(table(VERSION_TABLE))).scalars()
        )
    if len(versions) > 1:  # Alembic's get_current_revision refuses this too: this schema's history has no branches
        raise ConfigurationError(
            f"数据库的迁移版本表 {VERSION_TABLE} 有多个版本（{'、'.join(sorted(versions))}）：请检查数据库。",
            code="schema_versions_ambiguous",
        )
    return str(versions[0]) if versions else None


def head_revision() -> str | None:
    """Return the newest revision this code knows: the one no migration names as its ``down_revision``.

    Read from the migration files' ``revision`` and ``down_revision`` lines; when they do not give
    exactly one head (a branch, or a file written otherwise), Alembic answers.
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        found = dict(ASSIGNMENT.findall(path.read_text(encoding="utf-8")))
        try:
            revisions.add(ast.literal_eval(found["revision"]))
            down = ast.literal_eval(found.get("down_revision", "None"))
        except (KeyError, ValueError, SyntaxError):
            return _alembic_head()
        parents.update(down if isinstance(down, tuple | list) else [down] if down else [])
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else _alembic_head()


def _alembic_head() -> str | None:
    """Return the head revision as Alembic's script directory finds it (importing every migration)."""
    from alembic.script import ScriptDirectory  # Alembic only where needed: see the module's docstring

    return ScriptDirectory.from_config(alembic_config(None)).get_current_head()
