"""water quality, source zones, river tasks and health

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05

Water-quality sections and their samples (GB 3838 class kept with the values), drinking-water
source protection zones, 一河一策 tasks with their progress reports, and river health records.
"""
from alembic import op
import sqlalchemy as sa
from geoalchemy2 import Geometry

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('river_health',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('river_code', sa.String(length=64), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('score', sa.Float(), nullable=True),
    sa.Column('grade', sa.String(length=16), nullable=True),
    sa.Column('inputs', sa.JSON(), nullable=False),
    sa.Column('config', sa.JSON(), nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('river_health', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_river_health_river_code'), ['river_code'], unique=False)

    op.create_table('river_tasks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('river_code', sa.String(length=64), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('task', sa.Text(), nullable=False),
    sa.Column('measure', sa.Text(), nullable=True),
    sa.Column('responsible_unit', sa.String(length=256), nullable=True),
    sa.Column('lead_unit', sa.String(length=256), nullable=True),
    sa.Column('town', sa.String(length=128), nullable=True),
    sa.Column('deadline', sa.Date(), nullable=True),
    sa.Column('target_value', sa.Float(), nullable=True),
    sa.Column('unit', sa.String(length=32), nullable=True),
    sa.Column('link_layer', sa.String(length=32), nullable=True),
    sa.Column('link_code', sa.String(length=64), nullable=True),
    sa.Column('progress', sa.Float(), nullable=False),
    sa.Column('done_on', sa.Date(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('river_tasks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_river_tasks_deadline'), ['deadline'], unique=False)
        batch_op.create_index(batch_op.f('ix_river_tasks_responsible_unit'), ['responsible_unit'], unique=False)
        batch_op.create_index(batch_op.f('ix_river_tasks_river_code'), ['river_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_river_tasks_year'), ['year'], unique=False)

    op.create_table('samples',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('section_code', sa.String(length=64), nullable=False),
    sa.Column('sampled_on', sa.Date(), nullable=False),
    sa.Column('values', sa.JSON(), nullable=False),
    sa.Column('quality_class', sa.String(length=8), nullable=True),
    sa.Column('deciding', sa.JSON(), nullable=False),
    sa.Column('imported_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('section_code', 'sampled_on', name='uq_sample_section_date')
    )
    with op.batch_alter_table('samples', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_samples_sampled_on'), ['sampled_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_samples_section_code'), ['section_code'], unique=False)

    op.create_geospatial_table('sections',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=256), nullable=False),
    sa.Column('level', sa.String(length=16), nullable=True),
    sa.Column('river_code', sa.String(length=64), nullable=True),
    sa.Column('target', sa.String(length=8), nullable=True),
    sa.Column('waterbody', sa.String(length=16), nullable=True),
    sa.Column('chainage_m', sa.Float(), nullable=True),
    sa.Column('attrs', sa.JSON(), nullable=False),
    sa.Column('geom', Geometry(geometry_type='POINT', srid=4490, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code')
    )
    with op.batch_alter_table('sections', schema=None) as batch_op:
        batch_op.create_geospatial_index('idx_sections_geom', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
        batch_op.create_index(batch_op.f('ix_sections_river_code'), ['river_code'], unique=False)

    op.create_geospatial_table('source_zones',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=256), nullable=False),
    sa.Column('source_name', sa.String(length=256), nullable=True),
    sa.Column('level', sa.String(length=16), nullable=False),
    sa.Column('source_type', sa.String(length=16), nullable=False),
    sa.Column('section_code', sa.String(length=64), nullable=True),
    sa.Column('attrs', sa.JSON(), nullable=False),
    sa.Column('geom', Geometry(srid=4490, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code')
    )
    with op.batch_alter_table('source_zones', schema=None) as batch_op:
        batch_op.create_geospatial_index('idx_source_zones_geom', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})

    op.create_table('river_task_progress',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=False),
    sa.Column('reported_on', sa.Date(), nullable=False),
    sa.Column('percent', sa.Float(), nullable=True),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('evidence', sa.JSON(), nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['task_id'], ['river_tasks.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('river_task_progress', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_river_task_progress_task_id'), ['task_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('river_task_progress', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_river_task_progress_task_id'))

    op.drop_table('river_task_progress')
    with op.batch_alter_table('source_zones', schema=None) as batch_op:
        batch_op.drop_geospatial_index('idx_source_zones_geom', postgresql_using='gist', column_name='geom')

    op.drop_geospatial_table('source_zones')
    with op.batch_alter_table('sections', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sections_river_code'))
        batch_op.drop_geospatial_index('idx_sections_geom', postgresql_using='gist', column_name='geom')

    op.drop_geospatial_table('sections')
    with op.batch_alter_table('samples', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_samples_section_code'))
        batch_op.drop_index(batch_op.f('ix_samples_sampled_on'))

    op.drop_table('samples')
    with op.batch_alter_table('river_tasks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_river_tasks_year'))
        batch_op.drop_index(batch_op.f('ix_river_tasks_river_code'))
        batch_op.drop_index(batch_op.f('ix_river_tasks_responsible_unit'))
        batch_op.drop_index(batch_op.f('ix_river_tasks_deadline'))

    op.drop_table('river_tasks')
    with op.batch_alter_table('river_health', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_river_health_river_code'))

    op.drop_table('river_health')
