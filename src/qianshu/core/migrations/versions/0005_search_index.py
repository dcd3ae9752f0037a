"""listings searched in an in-memory index

Revision ID: 0005_search_index
Revises: 0004_catalog
Create Date: 2026-11-28

Products are now searched in an in-memory index per worker (``qianshu.catalog.search_index``),
so the database's full-text index over listings and the covering index for ranking them go:
on SQLite the FTS5 table ``catalog_fts`` and its triggers, on PostgreSQL the GIN index
``catalog_fts_gin``; ``ix_catalog_listings_search`` on both. Demands keep theirs.

``catalog_listings.counters_at`` records when views, follows or transactions last moved a
product's popularity, so the index re-reads only those products.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import qianshu.core.db

revision: str = "0005_search_index"
down_revision: str | None = "0004_catalog"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEARCH_COLUMNS = ["id", "status", "popularity", "listed_at", "min_price_fen", "industry_section", "industry_code",
                  "prefecture_code", "division_code", "data_type", "classification", "update_frequency",
                  "delivery_mask"]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for suffix in ("ai", "ad", "au"):
            op.execute(f"DROP TRIGGER IF EXISTS catalog_fts_{suffix}")
        op.execute("DROP TABLE IF EXISTS catalog_fts")
    elif dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS catalog_fts_gin")
    op.drop_index("ix_catalog_listings_search", table_name="catalog_listings")
    with op.batch_alter_table("catalog_listings") as batch:
        batch.add_column(sa.Column("counters_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=True))
        batch.create_index("ix_catalog_listings_counters_at", ["counters_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("catalog_listings") as batch:
        batch.drop_index("ix_catalog_listings_counters_at")
        batch.drop_column("counters_at")
    op.create_index("ix_catalog_listings_search", "catalog_listings", SEARCH_COLUMNS, unique=False)
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":  # as migration 0004 made them, then filled from the rows
        op.execute("CREATE VIRTUAL TABLE catalog_fts USING fts5(search_title, search_body, "
                   "content='catalog_listings', content_rowid='id', tokenize='unicode61 remove_diacritics 0')")
        insert = ("INSERT INTO catalog_fts(rowid, search_title, search_body) "
                  "VALUES (new.id, new.search_title, new.search_body);")
        delete = ("INSERT INTO catalog_fts(catalog_fts, rowid, search_title, search_body) "
                  "VALUES ('delete', old.id, old.search_title, old.search_body);")
        op.execute(f"CREATE TRIGGER catalog_fts_ai AFTER INSERT ON catalog_listings BEGIN {insert} END")
        op.execute(f"CREATE TRIGGER catalog_fts_ad AFTER DELETE ON catalog_listings BEGIN {delete} END")
        op.execute("CREATE TRIGGER catalog_fts_au AFTER UPDATE OF search_title, search_body ON catalog_listings "
                   f"BEGIN {delete} {insert} END")
        op.execute("INSERT INTO catalog_fts(catalog_fts) VALUES ('rebuild')")
    elif dialect == "postgresql":
        op.execute("CREATE INDEX catalog_fts_gin ON catalog_listings USING gin ((setweight(to_tsvector('simple', "
                   "search_title), 'A') || to_tsvector('simple', search_body)))")
