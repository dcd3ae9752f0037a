"""jobs: periodic runs shared by every worker, errors kept as message ids

Revision ID: 0007_jobs_periodic_runs
Revises: 0006_staff_roles
Create Date: 2026-11-30

``periodic_runs`` holds when each periodic task is next due; a worker runs a task only when a
conditional UPDATE moves that time on, so a task runs once per interval across all worker
processes (core/jobs.py). ``jobs.error_detail`` keeps a failed job's message id and parameters,
so the operators' job list shows the error in the reader's language.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import qianshu.core.db

revision: str = "0007_jobs_periodic_runs"
down_revision: str | None = "0006_staff_roles"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "periodic_runs",
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("next_run_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_started_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_finished_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_periodic_runs")),
    )
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("error_detail", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("error_detail")
    op.drop_table("periodic_runs")
