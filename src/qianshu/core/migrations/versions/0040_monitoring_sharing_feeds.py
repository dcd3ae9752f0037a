"""monitoring: feeds received through data sharing

Revision ID: 0040_sharing_feeds
Revises: 0039_exchange_transfer_leaf
Create Date: 2026-12-02

``monitoring_shared_feeds``: a grant (``sharing_requests``, feed access) received as a monitoring
feed of a division, declared by the requesting organisation. ``monitoring_feed_uploads`` and
``monitoring_feed_versions`` gain the grant and the owner's feed version a delivery came through
(empty for uploaded files); an upload's (grant, file) is unique, so a version arrives once.
Downgrading drops them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import qianshu.core.db

revision: str = '0040_sharing_feeds'
down_revision: str | None = '0039_exchange_transfer_leaf'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('monitoring_shared_feeds',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('feed', sa.String(length=40), nullable=False),
    sa.Column('division_code', sa.String(length=12), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=False),
    sa.Column('created_at', qianshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_monitoring_shared_feeds_created_by_users'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_monitoring_shared_feeds_org_id_organisations'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['request_id'], ['sharing_requests.id'], name=op.f('fk_monitoring_shared_feeds_request_id_sharing_requests'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_monitoring_shared_feeds')),
    sa.UniqueConstraint('request_id', name=op.f('uq_monitoring_shared_feeds_request_id'))
    )
    with op.batch_alter_table('monitoring_shared_feeds', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_monitoring_shared_feeds_org_id'), ['org_id'], unique=False)

    with op.batch_alter_table('monitoring_feed_uploads', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sharing_request_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('sharing_file_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('sharing_file_version', sa.Integer(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_monitoring_feed_uploads_sharing_request_id'), ['sharing_request_id', 'sharing_file_id'])
        batch_op.create_foreign_key(batch_op.f('fk_monitoring_feed_uploads_sharing_request_id_sharing_requests'), 'sharing_requests', ['sharing_request_id'], ['id'], ondelete='RESTRICT')
        batch_op.create_foreign_key(batch_op.f('fk_monitoring_feed_uploads_sharing_file_id_sharing_files'), 'sharing_files', ['sharing_file_id'], ['id'], ondelete='RESTRICT')

    with op.batch_alter_table('monitoring_feed_versions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sharing_request_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('sharing_file_version', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_monitoring_feed_versions_sharing_request_id_sharing_requests'), 'sharing_requests', ['sharing_request_id'], ['id'], ondelete='RESTRICT')



def downgrade() -> None:
    with op.batch_alter_table('monitoring_feed_versions', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_monitoring_feed_versions_sharing_request_id_sharing_requests'), type_='foreignkey')
        batch_op.drop_column('sharing_file_version')
        batch_op.drop_column('sharing_request_id')

    with op.batch_alter_table('monitoring_feed_uploads', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_monitoring_feed_uploads_sharing_file_id_sharing_files'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_monitoring_feed_uploads_sharing_request_id_sharing_requests'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('uq_monitoring_feed_uploads_sharing_request_id'), type_='unique')
        batch_op.drop_column('sharing_file_version')
        batch_op.drop_column('sharing_file_id')
        batch_op.drop_column('sharing_request_id')

    with op.batch_alter_table('monitoring_shared_feeds', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_monitoring_shared_feeds_org_id'))

    op.drop_table('monitoring_shared_feeds')
