"""catalog: search text re-tokenised with English stems

Revision ID: 0012_catalog_search_stems
Revises: 0011_registry_ingest_options
Create Date: 2026-11-30

The stored ``search_title`` / ``search_body`` of every listing and demand are computed again
with the tokens of this release (English words reduced to their Snowball stems, so that
"driver" finds "drivers"). Only those two columns change; on SQLite the FTS5 triggers and on
PostgreSQL the expression index follow in the same transaction. ``updated_at`` is left alone:
the search index of each process is built anew when it starts. Downgrading keeps the stemmed
text (the previous release finds English words by their stems only then).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from qianshu.catalog.search_text import demand_search_text, listing_search_text

revision: str = "0012_catalog_search_stems"
down_revision: str | None = "0011_registry_ingest_options"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 1000

listings = sa.table(
    "catalog_listings", sa.column("id", sa.Integer), sa.column("title_zh", sa.String),
    sa.column("title_en", sa.String), sa.column("description_zh", sa.Text), sa.column("description_en", sa.Text),
    sa.column("tags", sa.JSON), sa.column("industry_code", sa.String), sa.column("industry_section", sa.String),
    sa.column("division_code", sa.String), sa.column("prefecture_code", sa.String),
    sa.column("search_title", sa.Text), sa.column("search_body", sa.Text))
demands = sa.table(
    "catalog_demands", sa.column("id", sa.Integer), sa.column("title", sa.String),
    sa.column("description", sa.Text), sa.column("scenario", sa.Text), sa.column("industry_code", sa.String),
    sa.column("division_code", sa.String), sa.column("search_title", sa.Text), sa.column("search_body", sa.Text))


def _update(table: sa.TableClause, rows: list[dict[str, object]]) -> None:
    if rows:
        op.get_bind().execute(
            table.update().where(table.c.id == sa.bindparam("row_id"))
            .values(search_title=sa.bindparam("new_title"), search_body=sa.bindparam("new_body")), rows)


def upgrade() -> None:
    connection = op.get_bind()
    last = 0
    while True:  # in id order, a batch at a time: 100,000 products need not be held at once
        rows = connection.execute(sa.select(listings).where(listings.c.id > last)
                                  .order_by(listings.c.id).limit(BATCH)).mappings().all()
        if not rows:
            break
        updates: list[dict[str, object]] = []
        for row in rows:
            title, body = listing_search_text(
                title_zh=row["title_zh"] or "", title_en=row["title_en"] or "",
                description_zh=row["description_zh"] or "", description_en=row["description_en"] or "",
                tags=[str(t) for t in row["tags"] or []], industry_code=row["industry_code"] or "",
                industry_section=row["industry_section"] or "", division_code=row["division_code"] or "",
                prefecture_code=row["prefecture_code"] or "")
            if (title, body) != (row["search_title"], row["search_body"]):
                updates.append({"row_id": row["id"], "new_title": title, "new_body": body})
        _update(listings, updates)
        last = rows[-1]["id"]
    updates = []
    for row in connection.execute(sa.select(demands).order_by(demands.c.id)).mappings():
        title, body = demand_search_text(
            title=row["title"] or "", description=row["description"] or "", scenario=row["scenario"] or "",
            industry_code=row["industry_code"] or "", division_code=row["division_code"] or "")
        if (title, body) != (row["search_title"], row["search_body"]):
            updates.append({"row_id": row["id"], "new_title": title, "new_body": body})
    _update(demands, updates)


def downgrade() -> None:
    pass  # see the docstring: the stemmed text stays
