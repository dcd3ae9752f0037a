"""public log (translog)

Revision ID: 0002_translog
Revises: 0001_foundation
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import qianshu.core.db

revision: str = "0002_translog"
down_revision: str | None = "0001_foundation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "translog_leaves",
        sa.Column("leaf_index", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("hash_key", sa.BigInteger(), nullable=False),
        sa.Column("leaf", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", qianshu.core.db.UTCDateTime(timezone=True),
                  server_default=sa.text("CURRENT_TIMESTAMP"), nullable=False),
        sa.PrimaryKeyConstraint("leaf_index", name=op.f("pk_translog_leaves")),
    )
    with op.batch_alter_table("translog_leaves", schema=None) as batch_op:
        batch_op.create_index("ix_translog_leaves_hash_key", ["hash_key"], unique=False)

    op.create_table(
        "translog_tiles",
        sa.Column("level", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("tile_index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("width", sa.SmallInteger(), nullable=False),
        sa.Column("hashes", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("level", "tile_index", name=op.f("pk_translog_tiles")),
    )

    op.create_table(
        "translog_tree_heads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("root_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("algorithm", sa.String(length=20), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.String(length=200), nullable=False),
        sa.Column("created_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_translog_tree_heads")),
    )
    with op.batch_alter_table("translog_tree_heads", schema=None) as batch_op:
        batch_op.create_index("ix_translog_tree_heads_tree_size", ["tree_size"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("translog_tree_heads", schema=None) as batch_op:
        batch_op.drop_index("ix_translog_tree_heads_tree_size")
    op.drop_table("translog_tree_heads")
    op.drop_table("translog_tiles")
    with op.batch_alter_table("translog_leaves", schema=None) as batch_op:
        batch_op.drop_index("ix_translog_leaves_hash_key")
    op.drop_table("translog_leaves")
