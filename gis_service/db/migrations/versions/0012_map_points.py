"""problem sites' marker points for the map's clusters, and a data version the map's answers are cached by

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-05

The issue map counts a million sites per grid cell. On PostGIS each site keeps its marker point
(``map_x``/``map_y``: the point itself, or a point inside a polygon) as stored generated columns,
in an index that also holds every column the map filters on, so that counting reads the index
alone and never decodes a geometry. SpatiaLite (up to the map's cluster threshold) reads the
geometry as before.

``data_versions`` holds a number that every write to ``problems`` raises in its own transaction
(PostgreSQL once a statement, SQLite once a row): answers computed for one number stay right until
it changes. On PostgreSQL the number is raised before the statement: a transaction takes its lock
before any row lock of ``problems``, so two writers wait for each other in one order and never
deadlock. It starts at a random value, so that a database made afresh where another was never
meets its predecessor's numbers.
"""
import secrets

from alembic import op
import sqlalchemy as sa

revision = '0012'
down_revision = '0010'
branch_labels = None
depends_on = None

VERSIONED = ('problems',)
# The marker point: a point site's own, else a point inside the geometry (as the map has always drawn it).
MARKER = "CASE WHEN GeometryType(geom) = 'POINT' THEN geom ELSE ST_PointOnSurface(geom) END"
# Every column the map's filters read (ledger.filters), so that its counts are index-only scans.
MAP_COVERED = 'id, status, category, found_date, deadline, town, river_code'


def upgrade() -> None:
    op.create_table('data_versions',
    sa.Column('layer_table', sa.String(length=64), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('layer_table')
    )
    postgres = op.get_bind().dialect.name == 'postgresql'
    if postgres:
        op.execute(
            f"ALTER TABLE problems ADD COLUMN map_x double precision GENERATED ALWAYS AS (ST_X({MARKER})) STORED, "
            f"ADD COLUMN map_y double precision GENERATED ALWAYS AS (ST_Y({MARKER})) STORED"
        )
        op.execute(f"CREATE INDEX ix_problems_map_point ON problems (map_x, map_y) INCLUDE ({MAP_COVERED})")
        op.execute(
            "CREATE FUNCTION rivergis_bump_version() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "UPDATE data_versions SET version = version + 1 WHERE layer_table = TG_TABLE_NAME; RETURN NULL; END $$"
        )
    for table in VERSIONED:
        start = secrets.randbits(40)
        op.execute(f"INSERT INTO data_versions (layer_table, version) VALUES ('{table}', {start})")
        if postgres:
            op.execute(
                f"CREATE TRIGGER {table}_version BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION rivergis_bump_version()"
            )
        else:
            for kind in ('insert', 'update', 'delete'):
                op.execute(
                    f"CREATE TRIGGER {table}_version_{kind} AFTER {kind.upper()} ON {table} BEGIN "
                    f"UPDATE data_versions SET version = version + 1 WHERE layer_table = '{table}'; END"
                )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == 'postgresql'
    for table in VERSIONED:
        if postgres:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_version ON {table}")
        else:
            for kind in ('insert', 'update', 'delete'):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_version_{kind}")
    if postgres:
        op.execute("DROP FUNCTION IF EXISTS rivergis_bump_version()")
        op.execute("DROP INDEX IF EXISTS ix_problems_map_point")
        op.execute("ALTER TABLE problems DROP COLUMN IF EXISTS map_x, DROP COLUMN IF EXISTS map_y")
    op.drop_table('data_versions')
