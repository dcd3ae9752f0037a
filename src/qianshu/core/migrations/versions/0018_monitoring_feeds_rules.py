"""monitoring: feed versions, rule parameters with their history, runs and their flagged households

Revision ID: 0018_monitoring_feeds_rules
Revises: 0017_vouchers
Create Date: 2026-11-30

Four new tables; no existing row changes. Downgrading drops them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import qianshu.core.db

revision: str = "0018_monitoring_feeds_rules"
down_revision: str | None = "0017_vouchers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table("monitoring_feed_versions",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("feed", sa.String(length=40), nullable=False),
    sa.Column("department", sa.String(length=60), nullable=False),
    sa.Column("year", sa.Integer(), nullable=False),
    sa.Column("division_code", sa.String(length=12), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("source_name", sa.String(length=255), nullable=False),
    sa.Column("source_format", sa.String(length=16), nullable=False),
    sa.Column("source_encoding", sa.String(length=16), nullable=False),
    sa.Column("source_digest", sa.String(length=64), nullable=False),
    sa.Column("rows_digest", sa.String(length=64), nullable=False),
    sa.Column("rejects_digest", sa.String(length=64), nullable=True),
    sa.Column("rows_total", sa.BigInteger(), nullable=False),
    sa.Column("rows_accepted", sa.BigInteger(), nullable=False),
    sa.Column("rows_rejected", sa.BigInteger(), nullable=False),
    sa.Column("findings", sa.JSON(), nullable=False),
    sa.Column("org_id", sa.Integer(), nullable=True),
    sa.Column("uploaded_by", sa.Integer(), nullable=True),
    sa.Column("uploaded_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(["org_id"], ["organisations.id"], name=op.f("fk_monitoring_feed_versions_org_id_organisations"), ondelete="SET NULL"),
    sa.ForeignKeyConstraint(["uploaded_by"], ["users.id"], name=op.f("fk_monitoring_feed_versions_uploaded_by_users"), ondelete="SET NULL"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_feed_versions")),
    sa.UniqueConstraint("feed", "year", "division_code", "version", name=op.f("uq_monitoring_feed_versions_feed"))
    )
    with op.batch_alter_table("monitoring_feed_versions", schema=None) as batch_op:
        batch_op.create_index("ix_monitoring_feed_versions_year_feed", ["year", "feed"], unique=False)

    op.create_table("monitoring_rule_parameters",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("year", sa.Integer(), nullable=False),
    sa.Column("division_code", sa.String(length=12), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("parameters", sa.JSON(), nullable=False),
    sa.Column("note", sa.Text(), nullable=False),
    sa.Column("set_by", sa.Integer(), nullable=True),
    sa.Column("set_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(["set_by"], ["users.id"], name=op.f("fk_monitoring_rule_parameters_set_by_users"), ondelete="SET NULL"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_rule_parameters")),
    sa.UniqueConstraint("year", "division_code", "version", name=op.f("uq_monitoring_rule_parameters_year"))
    )
    op.create_table("monitoring_runs",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("year", sa.Integer(), nullable=False),
    sa.Column("division_code", sa.String(length=12), nullable=False),
    sa.Column("status", sa.String(length=16), nullable=False),
    sa.Column("job_id", sa.Integer(), nullable=True),
    sa.Column("feed_version_ids", sa.JSON(), nullable=False),
    sa.Column("parameters", sa.JSON(), nullable=False),
    sa.Column("parameter_ids", sa.JSON(), nullable=False),
    sa.Column("result_digest", sa.String(length=64), nullable=True),
    sa.Column("households_flagged", sa.Integer(), nullable=False),
    sa.Column("flags", sa.Integer(), nullable=False),
    sa.Column("reasons", sa.JSON(), nullable=False),
    sa.Column("error", sa.Text(), nullable=False),
    sa.Column("created_by", sa.Integer(), nullable=True),
    sa.Column("created_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column("finished_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(["created_by"], ["users.id"], name=op.f("fk_monitoring_runs_created_by_users"), ondelete="SET NULL"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_runs"))
    )
    with op.batch_alter_table("monitoring_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_monitoring_runs_job_id"), ["job_id"], unique=False)
        batch_op.create_index("ix_monitoring_runs_year_division", ["year", "division_code"], unique=False)

    op.create_table("monitoring_flagged_households",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("run_id", sa.Integer(), nullable=False),
    sa.Column("household_id", sa.String(length=20), nullable=False),
    sa.Column("county_code", sa.String(length=6), nullable=False),
    sa.Column("township_code", sa.String(length=9), nullable=False),
    sa.Column("village_code", sa.String(length=12), nullable=False),
    sa.Column("proposed_type", sa.String(length=24), nullable=False),
    sa.Column("reasons", sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(["run_id"], ["monitoring_runs.id"], name=op.f("fk_monitoring_flagged_households_run_id_monitoring_runs"), ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_flagged_households")),
    sa.UniqueConstraint("run_id", "household_id", name=op.f("uq_monitoring_flagged_households_run_id"))
    )
    with op.batch_alter_table("monitoring_flagged_households", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_monitoring_flagged_households_county_code"), ["county_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_monitoring_flagged_households_household_id"), ["household_id"], unique=False)



def downgrade() -> None:
    with op.batch_alter_table("monitoring_flagged_households", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_monitoring_flagged_households_household_id"))
        batch_op.drop_index(batch_op.f("ix_monitoring_flagged_households_county_code"))

    op.drop_table("monitoring_flagged_households")
    with op.batch_alter_table("monitoring_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_monitoring_runs_year_division")
        batch_op.drop_index(batch_op.f("ix_monitoring_runs_job_id"))

    op.drop_table("monitoring_runs")
    op.drop_table("monitoring_rule_parameters")
    with op.batch_alter_table("monitoring_feed_versions", schema=None) as batch_op:
        batch_op.drop_index("ix_monitoring_feed_versions_year_feed")

    op.drop_table("monitoring_feed_versions")
