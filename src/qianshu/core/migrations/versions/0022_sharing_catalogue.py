"""sharing: the government data resource catalogue, requests and grants, feed files and accesses

Revision ID: 0022_sharing_catalogue
Revises: 0021_delivery_api_sandbox
Create Date: 2026-11-30

A request approved (or narrowed, or granted at once for an unconditional resource) is the grant;
``sharing_accesses`` is the owner department's access log. Downgrading drops the four tables.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import qianshu.core.db

revision: str = '0022_sharing_catalogue'
down_revision: str | None = "0021_delivery_api_sandbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('sharing_resources',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name_zh', sa.String(length=200), nullable=False),
    sa.Column('name_en', sa.String(length=200), nullable=False),
    sa.Column('description_zh', sa.Text(), nullable=False),
    sa.Column('description_en', sa.Text(), nullable=False),
    sa.Column('fields', sa.JSON(), nullable=False),
    sa.Column('update_frequency', sa.String(length=16), nullable=False),
    sa.Column('legal_basis', sa.Text(), nullable=False),
    sa.Column('sharing_class', sa.String(length=16), nullable=False),
    sa.Column('conditions', sa.Text(), nullable=False),
    sa.Column('created_at', qianshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', qianshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_sharing_resources_org_id_organisations'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sharing_resources')),
    sa.UniqueConstraint('org_id', 'code', name=op.f('uq_sharing_resources_org_id'))
    )
    with op.batch_alter_table('sharing_resources', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sharing_resources_org_id'), ['org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sharing_resources_sharing_class'), ['sharing_class'], unique=False)

    op.create_table('sharing_files',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('resource_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('uploaded_by', sa.Integer(), nullable=True),
    sa.Column('created_at', qianshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['resource_id'], ['sharing_resources.id'], name=op.f('fk_sharing_files_resource_id_sharing_resources'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sharing_files')),
    sa.UniqueConstraint('resource_id', 'version', name=op.f('uq_sharing_files_resource_id'))
    )
    with op.batch_alter_table('sharing_files', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sharing_files_resource_id'), ['resource_id'], unique=False)

    op.create_table('sharing_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('resource_id', sa.Integer(), nullable=False),
    sa.Column('owner_org_id', sa.Integer(), nullable=False),
    sa.Column('requester_org_id', sa.Integer(), nullable=False),
    sa.Column('purpose', sa.Text(), nullable=False),
    sa.Column('fields', sa.JSON(), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('access_type', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=True),
    sa.Column('overdue_flagged_at', qianshu.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('granted_fields', sa.JSON(), nullable=False),
    sa.Column('granted_start', sa.Date(), nullable=True),
    sa.Column('granted_end', sa.Date(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', qianshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('decided_by', sa.Integer(), nullable=True),
    sa.Column('decided_at', qianshu.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['owner_org_id'], ['organisations.id'], name=op.f('fk_sharing_requests_owner_org_id_organisations'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['requester_org_id'], ['organisations.id'], name=op.f('fk_sharing_requests_requester_org_id_organisations'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['resource_id'], ['sharing_resources.id'], name=op.f('fk_sharing_requests_resource_id_sharing_resources'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sharing_requests'))
    )
    with op.batch_alter_table('sharing_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sharing_requests_owner_org_id'), ['owner_org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sharing_requests_requester_org_id'), ['requester_org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sharing_requests_resource_id'), ['resource_id'], unique=False)
        batch_op.create_index('ix_sharing_requests_status_due', ['status', 'due_on'], unique=False)

    op.create_table('sharing_accesses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('owner_org_id', sa.Integer(), nullable=False),
    sa.Column('grantee_org_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('file_id', sa.Integer(), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.Column('at', qianshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['request_id'], ['sharing_requests.id'], name=op.f('fk_sharing_accesses_request_id_sharing_requests'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sharing_accesses'))
    )
    with op.batch_alter_table('sharing_accesses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sharing_accesses_grantee_org_id'), ['grantee_org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sharing_accesses_owner_org_id'), ['owner_org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sharing_accesses_request_id'), ['request_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('sharing_accesses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sharing_accesses_request_id'))
        batch_op.drop_index(batch_op.f('ix_sharing_accesses_owner_org_id'))
        batch_op.drop_index(batch_op.f('ix_sharing_accesses_grantee_org_id'))

    op.drop_table('sharing_accesses')
    with op.batch_alter_table('sharing_requests', schema=None) as batch_op:
        batch_op.drop_index('ix_sharing_requests_status_due')
        batch_op.drop_index(batch_op.f('ix_sharing_requests_resource_id'))
        batch_op.drop_index(batch_op.f('ix_sharing_requests_requester_org_id'))
        batch_op.drop_index(batch_op.f('ix_sharing_requests_owner_org_id'))

    op.drop_table('sharing_requests')
    with op.batch_alter_table('sharing_files', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sharing_files_resource_id'))

    op.drop_table('sharing_files')
    with op.batch_alter_table('sharing_resources', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sharing_resources_sharing_class'))
        batch_op.drop_index(batch_op.f('ix_sharing_resources_org_id'))

    op.drop_table('sharing_resources')
