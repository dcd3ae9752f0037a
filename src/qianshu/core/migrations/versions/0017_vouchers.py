"""vouchers: compute offerings, voucher programmes, applications, vouchers, orders paid with them, reimbursements

Revision ID: 0017_vouchers
Revises: 0016_finance_pledges
Create Date: 2026-11-30

A programme's budget is on the ledger (an escrow account of its administrator); CHECKs keep the
committed budget within the budget and a voucher's remaining value within its face value, and an
order's voucher and cash parts summing to its total. Downgrading drops the eight tables.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import qianshu.core.db

revision: str = "0017_vouchers"
down_revision: str | None = "0016_finance_pledges"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('voucher_offerings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('provider_org_id', sa.Integer(), nullable=False),
    sa.Column('data_centre', sa.String(length=200), nullable=False),
    sa.Column('division_code', sa.String(length=12), nullable=False),
    sa.Column('accelerator', sa.String(length=100), nullable=False),
    sa.Column('card_count', sa.Integer(), nullable=False),
    sa.Column('card_hours_per_month', sa.BigInteger(), nullable=False),
    sa.Column('price_fen_per_card_hour', sa.BigInteger(), nullable=False),
    sa.Column('service_kind', sa.String(length=20), nullable=False),
    sa.Column('declared_tflops', sa.BigInteger(), nullable=False),
    sa.Column('precision', sa.String(length=10), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', qianshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['provider_org_id'], ['organisations.id'], name=op.f('fk_voucher_offerings_provider_org_id_organisations'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_voucher_offerings'))
    )
    with op.batch_alter_table('voucher_offerings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_voucher_offerings_provider_org_id'), ['provider_org_id'], unique=False)

    op.create_table('voucher_programmes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('admin_org_id', sa.Integer(), nullable=False),
    sa.Column('name_zh', sa.String(length=200), nullable=False),
    sa.Column('name_en', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('budget_fen', sa.BigInteger(), nullable=False),
    sa.Column('committed_fen', sa.BigInteger(), nullable=False),
    sa.Column('reimbursed_fen', sa.BigInteger(), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=False),
    sa.Column('eligible_division', sa.String(length=12), nullable=False),
    sa.Column('eligible_sizes', sa.JSON(), nullable=False),
    sa.Column('eligible_purposes', sa.JSON(), nullable=False),
    sa.Column('excluded_org_ids', sa.JSON(), nullable=False),
    sa.Column('ratio_bp', sa.Integer(), nullable=False),
    sa.Column('cap_company_year_fen', sa.BigInteger(), nullable=False),
    sa.Column('cap_contract_fen', sa.BigInteger(), nullable=False),
    sa.Column('face_values_fen', sa.JSON(), nullable=False),
    sa.Column('voucher_valid_days', sa.Integer(), nullable=False),
    sa.Column('max_term_months', sa.Integer(), nullable=False),
    sa.Column('one_voucher_per_contract', sa.Boolean(), nullable=False),
    sa.Column('require_payment_proof', sa.Boolean(), nullable=False),
    sa.Column('provider_org_ids', sa.JSON(), nullable=False),
    sa.Column('budget_account_id', sa.Integer(), nullable=True),
    sa.Column('created_at', qianshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint('committed_fen >= 0 AND committed_fen <= budget_fen', name=op.f('ck_voucher_programmes_budget_not_exceeded')),
    sa.CheckConstraint('ratio_bp >= 0 AND ratio_bp <= 10000', name=op.f('ck_voucher_programmes_ratio_in_range')),
    sa.ForeignKeyConstraint(['admin_org_id'], ['organisations.id'], name=op.f('fk_voucher_programmes_admin_org_id_organisations'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['budget_account_id'], ['ledger_accounts.id'], name=op.f('fk_voucher_programmes_budget_account_id_ledger_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_voucher_programmes'))
    )
    with op.batch_alter_table('voucher_programmes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_voucher_programmes_admin_org_id'), ['admin_org_id'], unique=False)

    op.create_table('voucher_applications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('programme_id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('purpose', sa.String(length=40), nullable=False),
    sa.Column('company_size', sa.String(length=10), nullable=False),
    sa.Column('planned_use', sa.Text(), nullable=False),
    sa.Column('requested_fen', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('created_at', qianshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('decided_at', qianshu.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_voucher_applications_org_id_organisations'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['programme_id'], ['voucher_programmes.id'], name=op.f('fk_voucher_applications_programme_id_voucher_programmes'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_voucher_applications'))
    )
    with op.batch_alter_table('voucher_applications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_voucher_applications_org_id'), ['org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_voucher_applications_programme_id'), ['programme_id'], unique=False)

    op.create_table('voucher_orders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('programme_id', sa.Integer(), nullable=False),
    sa.Column('offering_id', sa.Integer(), nullable=True),
    sa.Column('provider_org_id', sa.Integer(), nullable=False),
    sa.Column('company_org_id', sa.Integer(), nullable=False),
    sa.Column('subject', sa.String(length=60), nullable=False),
    sa.Column('purpose', sa.String(length=40), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('term_months', sa.Integer(), nullable=False),
    sa.Column('card_hours', sa.BigInteger(), nullable=False),
    sa.Column('price_fen_per_card_hour', sa.BigInteger(), nullable=False),
    sa.Column('total_fen', sa.BigInteger(), nullable=False),
    sa.Column('voucher_fen', sa.BigInteger(), nullable=False),
    sa.Column('cash_fen', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('used_card_hours', sa.BigInteger(), nullable=True),
    sa.Column('settled_total_fen', sa.BigInteger(), nullable=True),
    sa.Column('settled_voucher_fen', sa.BigInteger(), nullable=True),
    sa.Column('evidence_digest', sa.String(length=64), nullable=False),
    sa.Column('evidence_name', sa.String(length=200), nullable=False),
    sa.Column('city_code', sa.String(length=6), nullable=False),
    sa.Column('created_at', qianshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('settled_at', qianshu.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('log_index', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('voucher_fen + cash_fen = total_fen', name=op.f('ck_voucher_orders_paid_in_full')),
    sa.ForeignKeyConstraint(['company_org_id'], ['organisations.id'], name=op.f('fk_voucher_orders_company_org_id_organisations'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['offering_id'], ['voucher_offerings.id'], name=op.f('fk_voucher_orders_offering_id_voucher_offerings'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['programme_id'], ['voucher_programmes.id'], name=op.f('fk_voucher_orders_programme_id_voucher_programmes'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['provider_org_id'], ['organisations.id'], name=op.f('fk_voucher_orders_provider_org_id_organisations'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_voucher_orders')),
    sa.UniqueConstraint('subject', name='uq_voucher_orders_subject')
    )
    with op.batch_alter_table('voucher_orders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_voucher_orders_company_org_id'), ['company_org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_voucher_orders_offering_id'), ['offering_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_voucher_orders_programme_id'), ['programme_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_voucher_orders_provider_org_id'), ['provider_org_id'], unique=False)

    op.create_table('voucher_related_parties',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('programme_id', sa.Integer(), nullable=False),
    sa.Column('org_a_id', sa.Integer(), nullable=False),
    sa.Column('org_b_id', sa.Integer(), nullable=False),
    sa.Column('created_at', qianshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['org_a_id'], ['organisations.id'], name=op.f('fk_voucher_related_parties_org_a_id_organisations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['org_b_id'], ['organisations.id'], name=op.f('fk_voucher_related_parties_org_b_id_organisations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['programme_id'], ['voucher_programmes.id'], name=op.f('fk_voucher_related_parties_programme_id_voucher_programmes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_voucher_related_parties')),
    sa.UniqueConstraint('programme_id', 'org_a_id', 'org_b_id', name=op.f('uq_voucher_related_parties_programme_id'))
    )
    op.create_table('voucher_reimbursements',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('programme_id', sa.Integer(), nullable=False),
    sa.Column('provider_org_id', sa.Integer(), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('invoice_number', sa.String(length=60), nullable=False),
    sa.Column('delivery_digest', sa.String(length=64), nullable=False),
    sa.Column('payment_proof_digest', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('created_at', qianshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('decided_at', qianshu.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('log_index', sa.BigInteger(), nullable=True),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['voucher_orders.id'], name=op.f('fk_voucher_reimbursements_order_id_voucher_orders'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['programme_id'], ['voucher_programmes.id'], name=op.f('fk_voucher_reimbursements_programme_id_voucher_programmes'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['provider_org_id'], ['organisations.id'], name=op.f('fk_voucher_reimbursements_provider_org_id_organisations'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_voucher_reimbursements')),
    sa.UniqueConstraint('order_id', name=op.f('uq_voucher_reimbursements_order_id'))
    )
    with op.batch_alter_table('voucher_reimbursements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_voucher_reimbursements_programme_id'), ['programme_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_voucher_reimbursements_provider_org_id'), ['provider_org_id'], unique=False)

    op.create_table('vouchers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('programme_id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('holder_org_id', sa.Integer(), nullable=False),
    sa.Column('face_fen', sa.BigInteger(), nullable=False),
    sa.Column('remaining_fen', sa.BigInteger(), nullable=False),
    sa.Column('issued_at', qianshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_on', sa.Date(), nullable=False),
    sa.Column('lapsed_fen', sa.BigInteger(), nullable=False),
    sa.Column('log_index', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('remaining_fen >= 0 AND remaining_fen <= face_fen', name=op.f('ck_vouchers_value_in_range')),
    sa.ForeignKeyConstraint(['application_id'], ['voucher_applications.id'], name=op.f('fk_vouchers_application_id_voucher_applications'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['holder_org_id'], ['organisations.id'], name=op.f('fk_vouchers_holder_org_id_organisations'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['programme_id'], ['voucher_programmes.id'], name=op.f('fk_vouchers_programme_id_voucher_programmes'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vouchers'))
    )
    with op.batch_alter_table('vouchers', schema=None) as batch_op:
        batch_op.create_index('ix_vouchers_holder', ['holder_org_id', 'programme_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_vouchers_programme_id'), ['programme_id'], unique=False)

    op.create_table('voucher_uses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('voucher_id', sa.Integer(), nullable=False),
    sa.Column('applied_fen', sa.BigInteger(), nullable=False),
    sa.Column('settled_fen', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['order_id'], ['voucher_orders.id'], name=op.f('fk_voucher_uses_order_id_voucher_orders'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['voucher_id'], ['vouchers.id'], name=op.f('fk_voucher_uses_voucher_id_vouchers'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_voucher_uses')),
    sa.UniqueConstraint('order_id', 'voucher_id', name=op.f('uq_voucher_uses_order_id'))
    )
    with op.batch_alter_table('voucher_uses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_voucher_uses_order_id'), ['order_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_voucher_uses_voucher_id'), ['voucher_id'], unique=False)


def downgrade() -> None:
    for table in ("voucher_uses", "vouchers", "voucher_reimbursements", "voucher_related_parties", "voucher_orders",
                  "voucher_applications", "voucher_programmes", "voucher_offerings"):
        op.drop_table(table)
