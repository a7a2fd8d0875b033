"""feature counts kept by the database for the large unversioned layers

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05

``numberMatched`` of an unfiltered OGC page must be exact and cheap at a million rows. Versioned
layers sum their deliveries' ``feature_count``; the unversioned layers that grow (problem sites,
outfalls, patrol tracks) get a row in ``feature_counts`` that triggers keep equal to
``COUNT(*)`` in the writing transaction itself: PostgreSQL once a statement (transition tables,
so a COPY of 100 000 rows is one update), SQLite once a row. Other layers are small and counted.
"""
from alembic import op
import sqlalchemy as sa

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

COUNTED = ('problems', 'outfalls', 'patrols')

PG_FUNCTIONS = {
    'rivergis_count_added': 'n + (SELECT count(*) FROM added)',
    'rivergis_count_removed': 'n - (SELECT count(*) FROM removed)',
    'rivergis_count_truncated': '0',
}


def upgrade() -> None:
    op.create_table('feature_counts',
    sa.Column('layer_table', sa.String(length=64), nullable=False),
    sa.Column('n', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('layer_table')
    )
    postgres = op.get_bind().dialect.name == 'postgresql'
    if postgres:
        for name, value in PG_FUNCTIONS.items():
            op.execute(
                f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                f"UPDATE feature_counts SET n = {value} WHERE layer_table = TG_TABLE_NAME; RETURN NULL; END $$"
            )
    for table in COUNTED:
        op.execute(f"INSERT INTO feature_counts (layer_table, n) SELECT '{table}', count(*) FROM {table}")
        if postgres:
            op.execute(
                f"CREATE TRIGGER {table}_count_added AFTER INSERT ON {table} REFERENCING NEW TABLE AS added "
                "FOR EACH STATEMENT EXECUTE FUNCTION rivergis_count_added()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_count_removed AFTER DELETE ON {table} REFERENCING OLD TABLE AS removed "
                "FOR EACH STATEMENT EXECUTE FUNCTION rivergis_count_removed()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_count_truncated AFTER TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION rivergis_count_truncated()"
            )
        else:
            op.execute(
                f"CREATE TRIGGER {table}_count_added AFTER INSERT ON {table} BEGIN "
                f"UPDATE feature_counts SET n = n + 1 WHERE layer_table = '{table}'; END"
            )
            op.execute(
                f"CREATE TRIGGER {table}_count_removed AFTER DELETE ON {table} BEGIN "
                f"UPDATE feature_counts SET n = n - 1 WHERE layer_table = '{table}'; END"
            )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == 'postgresql'
    for table in COUNTED:
        kinds = ('added', 'removed', 'truncated') if postgres else ('added', 'removed')
        for kind in kinds:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_count_{kind}" + (f" ON {table}" if postgres else ""))
    if postgres:
        for name in PG_FUNCTIONS:
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    op.drop_table('feature_counts')
