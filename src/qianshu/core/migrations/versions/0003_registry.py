"""data registration (registry)

Revision ID: 0003_registry
Revises: 0002_translog
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import qianshu.core.db

revision: str = "0003_registry"
down_revision: str | None = "0002_translog"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('registrations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=20), nullable=True),
    sa.Column('holder_org_id', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('reg_type', sa.String(length=16), nullable=False),
    sa.Column('previous_id', sa.Integer(), nullable=True),
    sa.Column('transferee_org_id', sa.Integer(), nullable=True),
    sa.Column('transferor_confirmed_at', qianshu.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('transferee_confirmed_at', qianshu.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('title_zh', sa.String(length=200), nullable=False),
    sa.Column('title_en', sa.String(length=200), nullable=False),
    sa.Column('description_zh', sa.Text(), nullable=False),
    sa.Column('description_en', sa.Text(), nullable=False),
    sa.Column('industry_code', sa.String(length=3), nullable=False),
    sa.Column('division_code', sa.String(length=6), nullable=False),
    sa.Column('time_coverage_start', sa.Date(), nullable=True),
    sa.Column('time_coverage_end', sa.Date(), nullable=True),
    sa.Column('update_frequency', sa.String(length=16), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('lawful_basis', sa.Text(), nullable=False),
    sa.Column('contract_sha256', sa.String(length=64), nullable=True),
    sa.Column('contract_name', sa.String(length=255), nullable=False),
    sa.Column('rights', sa.JSON(), nullable=False),
    sa.Column('declared_quality', sa.JSON(), nullable=False),
    sa.Column('suggested_classification', sa.String(length=16), nullable=False),
    sa.Column('suggested_personal_info', sa.String(length=16), nullable=False),
    sa.Column('classification', sa.String(length=16), nullable=True),
    sa.Column('personal_info', sa.String(length=16), nullable=True),
    sa.Column('parquet_sha256', sa.String(length=64), nullable=True),
    sa.Column('parquet_size', sa.BigInteger(), nullable=True),
    sa.Column('row_count', sa.BigInteger(), nullable=True),
    sa.Column('column_count', sa.Integer(), nullable=True),
    sa.Column('job_id', sa.Integer(), nullable=True),
    sa.Column('pipeline_error_code', sa.String(length=60), nullable=False),
    sa.Column('pipeline_error', sa.Text(), nullable=False),
    sa.Column('data_from_id', sa.Integer(), nullable=True),
    sa.Column('measurements', sa.JSON(), nullable=False),
    sa.Column('review_reason', sa.Text(), nullable=False),
    sa.Column('reviewer_id', sa.Integer(), nullable=True),
    sa.Column('created_at', qianshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', qianshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('submitted_at', qianshu.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('notice_starts_at', qianshu.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('notice_ends_at', qianshu.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('issued_at', qianshu.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('valid_until', sa.Date(), nullable=True),
    sa.Column('revoked_at', qianshu.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_registrations_created_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['holder_org_id'], ['organisations.id'], name=op.f('fk_registrations_holder_org_id_organisations'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['previous_id'], ['registrations.id'], name=op.f('fk_registrations_previous_id_registrations'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['reviewer_id'], ['users.id'], name=op.f('fk_registrations_reviewer_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['transferee_org_id'], ['organisations.id'], name=op.f('fk_registrations_transferee_org_id_organisations'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_registrations')),
    sa.UniqueConstraint('number', name=op.f('uq_registrations_number'))
    )
    with op.batch_alter_table('registrations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_registrations_holder_org_id'), ['holder_org_id'], unique=False)
        batch_op.create_index('ix_registrations_holder_status', ['holder_org_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_registrations_job_id'), ['job_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_registrations_previous_id'), ['previous_id'], unique=False)
        batch_op.create_index('ix_registrations_status', ['status'], unique=False)

    op.create_table('registration_certificates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('registration_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=20), nullable=False),
    sa.Column('document', sa.JSON(), nullable=False),
    sa.Column('signature', sa.String(length=200), nullable=False),
    sa.Column('algorithm', sa.String(length=20), nullable=False),
    sa.Column('key_id', sa.String(length=64), nullable=False),
    sa.Column('log_index', sa.BigInteger(), nullable=True),
    sa.Column('leaf_hash', sa.String(length=64), nullable=False),
    sa.Column('issued_at', qianshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', qianshu.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revocation_reason', sa.Text(), nullable=False),
    sa.Column('revocation_log_index', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['registration_id'], ['registrations.id'], name=op.f('fk_registration_certificates_registration_id_registrations'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_registration_certificates')),
    sa.UniqueConstraint('number', name=op.f('uq_registration_certificates_number')),
    sa.UniqueConstraint('registration_id', name=op.f('uq_registration_certificates_registration_id'))
    )
    op.create_table('registration_columns',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('registration_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('source_name', sa.String(length=255), nullable=False),
    sa.Column('inferred_type', sa.String(length=32), nullable=False),
    sa.Column('null_count', sa.BigInteger(), nullable=False),
    sa.Column('null_rate', sa.Double(), nullable=False),
    sa.Column('distinct_count', sa.BigInteger(), nullable=False),
    sa.Column('distinct_is_estimate', sa.Boolean(), nullable=False),
    sa.Column('min_value', sa.String(length=200), nullable=True),
    sa.Column('max_value', sa.String(length=200), nullable=True),
    sa.Column('mean', sa.Double(), nullable=True),
    sa.Column('top_values', sa.JSON(), nullable=False),
    sa.Column('min_length', sa.Integer(), nullable=True),
    sa.Column('max_length', sa.Integer(), nullable=True),
    sa.Column('mean_length', sa.Double(), nullable=True),
    sa.Column('histogram', sa.JSON(), nullable=False),
    sa.Column('type_conformance', sa.Double(), nullable=False),
    sa.ForeignKeyConstraint(['registration_id'], ['registrations.id'], name=op.f('fk_registration_columns_registration_id_registrations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_registration_columns')),
    sa.UniqueConstraint('registration_id', 'position', name=op.f('uq_registration_columns_registration_id'))
    )
    with op.batch_alter_table('registration_columns', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_registration_columns_registration_id'), ['registration_id'], unique=False)

    op.create_table('registration_files',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('registration_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('file_format', sa.String(length=16), nullable=False),
    sa.Column('detected_encoding', sa.String(length=32), nullable=False),
    sa.Column('row_count', sa.BigInteger(), nullable=True),
    sa.Column('created_at', qianshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['registration_id'], ['registrations.id'], name=op.f('fk_registration_files_registration_id_registrations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_registration_files')),
    sa.UniqueConstraint('registration_id', 'position', name=op.f('uq_registration_files_registration_id'))
    )
    with op.batch_alter_table('registration_files', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_registration_files_registration_id'), ['registration_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_registration_files_sha256'), ['sha256'], unique=False)

    op.create_table('registration_history',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('registration_id', sa.Integer(), nullable=False),
    sa.Column('at', qianshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor_user_id', sa.Integer(), nullable=True),
    sa.Column('actor_org_id', sa.Integer(), nullable=True),
    sa.Column('actor_label', sa.String(length=200), nullable=False),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('from_status', sa.String(length=20), nullable=False),
    sa.Column('to_status', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['actor_user_id'], ['users.id'], name=op.f('fk_registration_history_actor_user_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['registration_id'], ['registrations.id'], name=op.f('fk_registration_history_registration_id_registrations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_registration_history'))
    )
    with op.batch_alter_table('registration_history', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_registration_history_registration_id'), ['registration_id'], unique=False)

    op.create_table('registration_objections',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('registration_id', sa.Integer(), nullable=False),
    sa.Column('filed_by_user_id', sa.Integer(), nullable=True),
    sa.Column('filed_by_org_id', sa.Integer(), nullable=True),
    sa.Column('grounds', sa.Text(), nullable=False),
    sa.Column('evidence_sha256', sa.String(length=64), nullable=True),
    sa.Column('evidence_name', sa.String(length=255), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('filed_at', qianshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('decided_by', sa.Integer(), nullable=True),
    sa.Column('decided_at', qianshu.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('decision_reason', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['decided_by'], ['users.id'], name=op.f('fk_registration_objections_decided_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['filed_by_user_id'], ['users.id'], name=op.f('fk_registration_objections_filed_by_user_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['registration_id'], ['registrations.id'], name=op.f('fk_registration_objections_registration_id_registrations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_registration_objections'))
    )
    with op.batch_alter_table('registration_objections', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_registration_objections_registration_id'), ['registration_id'], unique=False)

    op.create_table('registration_pii',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('registration_id', sa.Integer(), nullable=False),
    sa.Column('column_name', sa.String(length=255), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('sensitive', sa.Boolean(), nullable=False),
    sa.Column('share', sa.Double(), nullable=False),
    sa.Column('scanned', sa.BigInteger(), nullable=False),
    sa.Column('matched', sa.BigInteger(), nullable=False),
    sa.Column('masked_example', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['registration_id'], ['registrations.id'], name=op.f('fk_registration_pii_registration_id_registrations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_registration_pii')),
    sa.UniqueConstraint('registration_id', 'column_name', 'kind', name=op.f('uq_registration_pii_registration_id'))
    )
    with op.batch_alter_table('registration_pii', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_registration_pii_registration_id'), ['registration_id'], unique=False)

    op.create_table('registration_quality',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('registration_id', sa.Integer(), nullable=False),
    sa.Column('indicator', sa.String(length=20), nullable=False),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('basis', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['registration_id'], ['registrations.id'], name=op.f('fk_registration_quality_registration_id_registrations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_registration_quality')),
    sa.UniqueConstraint('registration_id', 'indicator', name=op.f('uq_registration_quality_registration_id'))
    )
    with op.batch_alter_table('registration_quality', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_registration_quality_registration_id'), ['registration_id'], unique=False)

    op.create_table('registration_reports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('registration_id', sa.Integer(), nullable=False),
    sa.Column('provider_org_id', sa.Integer(), nullable=False),
    sa.Column('submitted_by', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('conclusion', sa.Text(), nullable=False),
    sa.Column('score', sa.Integer(), nullable=True),
    sa.Column('document_sha256', sa.String(length=64), nullable=True),
    sa.Column('document_name', sa.String(length=255), nullable=False),
    sa.Column('statement', sa.JSON(), nullable=False),
    sa.Column('signature', sa.String(length=200), nullable=False),
    sa.Column('key_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', qianshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['provider_org_id'], ['organisations.id'], name=op.f('fk_registration_reports_provider_org_id_organisations'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['registration_id'], ['registrations.id'], name=op.f('fk_registration_reports_registration_id_registrations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['submitted_by'], ['users.id'], name=op.f('fk_registration_reports_submitted_by_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_registration_reports'))
    )
    with op.batch_alter_table('registration_reports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_registration_reports_registration_id'), ['registration_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('registration_reports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_registration_reports_registration_id'))

    op.drop_table('registration_reports')
    with op.batch_alter_table('registration_quality', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_registration_quality_registration_id'))

    op.drop_table('registration_quality')
    with op.batch_alter_table('registration_pii', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_registration_pii_registration_id'))

    op.drop_table('registration_pii')
    with op.batch_alter_table('registration_objections', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_registration_objections_registration_id'))

    op.drop_table('registration_objections')
    with op.batch_alter_table('registration_history', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_registration_history_registration_id'))

    op.drop_table('registration_history')
    with op.batch_alter_table('registration_files', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_registration_files_sha256'))
        batch_op.drop_index(batch_op.f('ix_registration_files_registration_id'))

    op.drop_table('registration_files')
    with op.batch_alter_table('registration_columns', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_registration_columns_registration_id'))

    op.drop_table('registration_columns')
    op.drop_table('registration_certificates')
    with op.batch_alter_table('registrations', schema=None) as batch_op:
        batch_op.drop_index('ix_registrations_status')
        batch_op.drop_index(batch_op.f('ix_registrations_previous_id'))
        batch_op.drop_index(batch_op.f('ix_registrations_job_id'))
        batch_op.drop_index('ix_registrations_holder_status')
        batch_op.drop_index(batch_op.f('ix_registrations_holder_org_id'))

    op.drop_table('registrations')
