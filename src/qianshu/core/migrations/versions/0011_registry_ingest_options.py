"""registry: a spreadsheet's ingest options and what was detected in it

Revision ID: 0011_registry_ingest_options
Revises: 0010_catalog_licences
Create Date: 2026-11-30

``registration_files.ingest_options`` keeps what the holder chose for a file (header row,
sheets to read or stack, keeping total rows); ``ingest_layout`` what the last run detected
and did (sheets available and read, header row, joined two-level headers, dropped total rows).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_registry_ingest_options"
down_revision: str | None = "0010_catalog_licences"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("registration_files") as batch:
        batch.add_column(sa.Column("ingest_options", sa.JSON(), nullable=False, server_default="{}"))
        batch.add_column(sa.Column("ingest_layout", sa.JSON(), nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("registration_files") as batch:
        batch.drop_column("ingest_layout")
        batch.drop_column("ingest_options")
