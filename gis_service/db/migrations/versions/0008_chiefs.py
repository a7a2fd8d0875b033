"""river chiefs: chiefs, reach assignments, signboards, patrols, public reports

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""
from alembic import op
import sqlalchemy as sa
from geoalchemy2 import Geometry

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

SPATIAL = {
    'chief_assignments': 'LINESTRING',
    'signboards': 'POINT',
    'patrols': 'MULTILINESTRING',
    'public_reports': 'POINT',
}


def _geom(kind: str) -> sa.Column:
    return sa.Column('geom', Geometry(geometry_type=kind, srid=4490, dimension=2, spatial_index=False,
                                      from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False)


def _index(table: str) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.create_geospatial_index(f'idx_{table}_geom', ['geom'], unique=False, postgresql_using='gist',
                                         postgresql_ops={})


def upgrade() -> None:
    op.create_table('chiefs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('level', sa.String(length=16), nullable=False),
    sa.Column('post', sa.String(length=128), nullable=True),
    sa.Column('unit', sa.String(length=128), nullable=True),
    sa.Column('phone', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_chiefs_name', 'chiefs', ['name'], unique=False)
    op.create_geospatial_table('chief_assignments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('chief_id', sa.Integer(), nullable=False),
    sa.Column('chief_name', sa.String(length=64), nullable=False),
    sa.Column('level', sa.String(length=16), nullable=False),
    sa.Column('river_code', sa.String(length=64), nullable=False),
    sa.Column('start_m', sa.Float(), nullable=False),
    sa.Column('end_m', sa.Float(), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('end_date', sa.Date(), nullable=True),
    sa.Column('attrs', sa.JSON(), nullable=False),
    _geom(SPATIAL['chief_assignments']),
    sa.ForeignKeyConstraint(['chief_id'], ['chiefs.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_chief_assignments_chief_id', 'chief_assignments', ['chief_id'], unique=False)
    op.create_index('ix_chief_assignments_river_code', 'chief_assignments', ['river_code'], unique=False)
    op.create_index('ix_chief_assignments_end_date', 'chief_assignments', ['end_date'], unique=False)
    op.create_geospatial_table('signboards',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('river_code', sa.String(length=64), nullable=False),
    sa.Column('start_m', sa.Float(), nullable=False),
    sa.Column('end_m', sa.Float(), nullable=False),
    sa.Column('board_text', sa.Text(), nullable=False),
    sa.Column('chiefs', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('printed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('attrs', sa.JSON(), nullable=False),
    _geom(SPATIAL['signboards']),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code')
    )
    op.create_index('ix_signboards_river_code', 'signboards', ['river_code'], unique=False)
    op.create_index('ix_signboards_status', 'signboards', ['status'], unique=False)
    op.create_geospatial_table('patrols',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('chief_id', sa.Integer(), nullable=True),
    sa.Column('chief_name', sa.String(length=64), nullable=True),
    sa.Column('river_code', sa.String(length=64), nullable=False),
    sa.Column('patrol_date', sa.Date(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('length_m', sa.Float(), nullable=False),
    sa.Column('duration_s', sa.Float(), nullable=True),
    sa.Column('coverage', sa.Float(), nullable=False),
    sa.Column('joint_units', sa.Text(), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('uploaded_by', sa.String(length=128), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('attrs', sa.JSON(), nullable=False),
    _geom(SPATIAL['patrols']),
    sa.ForeignKeyConstraint(['chief_id'], ['chiefs.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_patrols_chief_id', 'patrols', ['chief_id'], unique=False)
    op.create_index('ix_patrols_river_code', 'patrols', ['river_code'], unique=False)
    op.create_index('ix_patrols_patrol_date', 'patrols', ['patrol_date'], unique=False)
    op.create_geospatial_table('public_reports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reference', sa.String(length=32), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('contact', sa.String(length=128), nullable=True),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('client_hash', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('problem_id', sa.Integer(), nullable=True),
    sa.Column('photos', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decided_by', sa.String(length=128), nullable=True),
    _geom(SPATIAL['public_reports']),
    sa.ForeignKeyConstraint(['problem_id'], ['problems.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('reference')
    )
    op.create_index('ix_public_reports_client_hash', 'public_reports', ['client_hash'], unique=False)
    op.create_index('ix_public_reports_status', 'public_reports', ['status'], unique=False)
    op.create_index('ix_public_reports_created_at', 'public_reports', ['created_at'], unique=False)
    for table in SPATIAL:
        _index(table)


def downgrade() -> None:
    for table in reversed(list(SPATIAL)):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_geospatial_index(f'idx_{table}_geom', postgresql_using='gist', column_name='geom')
        op.drop_geospatial_table(table)
    op.drop_index('ix_chiefs_name', table_name='chiefs')
    op.drop_table('chiefs')
