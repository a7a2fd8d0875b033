"""problem sites' marker points for the map's clusters, and a data version the map's answers are cached by

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-05

The issue map counts a million sites per grid cell. On PostGIS each site keeps its marker point
(``map_x``/``map_y``: the point itself, or a point inside a polygon) as stored generated columns,
in an index that also holds every column the map filters on, so that counting reads the index
alone and never decodes a geometry. SpatiaLite (up to the map's cluster threshold) reads the
geometry as before.

The map's first views (the province, a status or category filter, down to zoom
:data:`CELL_LEVELS`) do not even read the sites: ``problem_cells`` keeps, per zoom level, grid cell
(90 / 2^level degrees, anchored at 0°, 0°, as ``webmap.clusters``), status and category, the sites'
count and the sums of their x, y and ids (a one-site cell's sum of ids is its id). Triggers keep it
in the writing transaction, once a statement: the cells at the finest level first, the coarser
ones from them (a cell at level z is cells of level z + 1, two by two).

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
MAP_COVERED = ('id', 'status', 'category', 'found_date', 'deadline', 'town', 'river_code')


def _covered(*key: str) -> str:
    """Return the map's columns not in ``key``, for an index's INCLUDE list."""
    return ', '.join(c for c in ('map_x', 'map_y', *MAP_COVERED) if c not in key)


FINISHED = "('closed', 'dismissed', 'rectified')"  # never overdue (ledger.states.NOT_OVERDUE)
CELL_LEVELS = 10  # problem_cells' finest level (a cell of 0.088°); past it a view is small enough to count
CELL_KEY = 'level, gx, gy, status, category'


def _cells_from(source: str, sign: str) -> str:
    """Return the upsert adding (``sign`` '') or taking away ('-') the sites of ``source`` to ``problem_cells``."""
    finest = f"CAST(90 AS float8) / {2 ** CELL_LEVELS}"
    return (
        f"INSERT INTO problem_cells AS c ({CELL_KEY}, n, sx, sy, si) "
        f"SELECT z, gx >> ({CELL_LEVELS} - z), gy >> ({CELL_LEVELS} - z), status, category, "
        f"{sign}sum(n), {sign}sum(sx), {sign}sum(sy), {sign}sum(si) FROM ("
        f"SELECT floor(map_x / ({finest}))::int AS gx, floor(map_y / ({finest}))::int AS gy, status, category, "
        f"count(*) AS n, sum(map_x) AS sx, sum(map_y) AS sy, sum(id) AS si FROM {source} "
        f"WHERE map_x IS NOT NULL GROUP BY 1, 2, 3, 4) AS finest CROSS JOIN generate_series(0, {CELL_LEVELS}) AS z "
        f"GROUP BY 1, 2, 3, 4, 5 ON CONFLICT ({CELL_KEY}) DO UPDATE SET n = c.n + excluded.n, "
        "sx = c.sx + excluded.sx, sy = c.sy + excluded.sy, si = c.si + excluded.si"
    )


CELLS_FUNCTION = (
    "CREATE FUNCTION rivergis_problem_cells() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "IF TG_OP = 'TRUNCATE' THEN DELETE FROM problem_cells; RETURN NULL; END IF; "
    f"IF TG_OP IN ('UPDATE', 'DELETE') THEN {_cells_from('removed', '-')}; END IF; "
    f"IF TG_OP IN ('UPDATE', 'INSERT') THEN {_cells_from('added', '')}; END IF; "
    "RETURN NULL; END $$"
)
CELL_TRIGGERS = {
    'insert': 'AFTER INSERT ON problems REFERENCING NEW TABLE AS added',
    'update': 'AFTER UPDATE ON problems REFERENCING OLD TABLE AS removed NEW TABLE AS added',
    'delete': 'AFTER DELETE ON problems REFERENCING OLD TABLE AS removed',
    'truncate': 'AFTER TRUNCATE ON problems',
}


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
        op.execute(f"CREATE INDEX ix_problems_map_point ON problems (map_x, map_y) INCLUDE ({_covered('map_x', 'map_y')})")
        # The filters that keep a range of dates read only that range: found dates, and the open sites'
        # deadlines (overdue: past its deadline and not finished, ledger.filters.overdue_clause).
        op.execute(f"CREATE INDEX ix_problems_map_found ON problems (found_date) INCLUDE ({_covered('found_date')})")
        op.execute(
            f"CREATE INDEX ix_problems_map_open ON problems (deadline) INCLUDE ({_covered('deadline')}) "
            f"WHERE status NOT IN {FINISHED}"
        )
        op.create_table('problem_cells',
        sa.Column('level', sa.SmallInteger(), nullable=False),
        sa.Column('gx', sa.Integer(), nullable=False),
        sa.Column('gy', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('category', sa.String(length=32), nullable=False),
        sa.Column('n', sa.BigInteger(), nullable=False),
        sa.Column('sx', sa.Float(), nullable=False),
        sa.Column('sy', sa.Float(), nullable=False),
        sa.Column('si', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('level', 'gx', 'gy', 'status', 'category')
        )
        op.execute(CELLS_FUNCTION)
        op.execute(_cells_from('problems', ''))
        for kind, event in CELL_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER problems_cells_{kind} {event} FOR EACH STATEMENT "
                       "EXECUTE FUNCTION rivergis_problem_cells()")
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
        for kind in CELL_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS problems_cells_{kind} ON problems")
        op.execute("DROP FUNCTION IF EXISTS rivergis_problem_cells()")
        op.drop_table('problem_cells')
        op.execute("DROP FUNCTION IF EXISTS rivergis_bump_version()")
        for index in ('point', 'found', 'open'):
            op.execute(f"DROP INDEX IF EXISTS ix_problems_map_{index}")
        op.execute("ALTER TABLE problems DROP COLUMN IF EXISTS map_x, DROP COLUMN IF EXISTS map_y")
    op.drop_table('data_versions')
