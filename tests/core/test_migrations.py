"""Migrations go down and up again, and the models still agree with them afterwards."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect, text

from qianshu.catalog import demand
from qianshu.catalog.schemas import DemandIn
from qianshu.catalog.search import DemandQuery, SearchQuery, search_demands, search_listings
from qianshu.core.db import Database
from qianshu.core.migrate import alembic_config, check, upgrade
from tests.catalog.conftest import make_listed
from tests.factories import Factories


def test_the_search_index_migration_goes_down_and_up(isolated_database: Database) -> None:
    url = isolated_database.url
    command.downgrade(alembic_config(url), "0004_catalog")
    engine = isolated_database.engine
    sqlite = engine.dialect.name == "sqlite"
    columns = {c["name"] for c in inspect(engine).get_columns("catalog_listings")}
    assert "counters_at" not in columns
    with engine.connect() as conn:
        if sqlite:
            assert conn.exec_driver_sql("SELECT count(*) FROM catalog_fts").scalar() == 0
        else:
            assert conn.exec_driver_sql("SELECT count(*) FROM pg_indexes WHERE indexname = 'catalog_fts_gin'").scalar()
    engine.dispose()
    upgrade(url)
    check(url)
    assert "counters_at" in {c["name"] for c in inspect(engine).get_columns("catalog_listings")}


def test_the_stems_migration_retokenises_stored_search_text(isolated_database: Database) -> None:
    """Rows written before English stems (words stored as typed) are found by any form after it."""
    url = isolated_database.url
    with isolated_database.unit_of_work() as db:
        make = Factories(db)
        merchant, operator = make.actor(make.user()), make.actor(make.operator())
        listing_id = make_listed(db, merchant, operator, title_en="Ride-hailing drivers").id
        buyer = make.actor(make.user(organisation=make.org(org_type="buyer")))
        demand_id = demand.post_demand(db, buyer, DemandIn(title="drivers wanted")).id
    with isolated_database.engine.begin() as conn:  # the text as the previous release stored it
        conn.exec_driver_sql("UPDATE catalog_listings SET search_title = 'ride hailing drivers', search_body = ''")
        conn.exec_driver_sql("UPDATE catalog_demands SET search_title = 'drivers wanted', search_body = ''")
    command.downgrade(alembic_config(url), "0012_catalog_search_stems-1")
    isolated_database.engine.dispose()
    upgrade(url)
    with isolated_database.unit_of_work(write=False) as db:
        [title] = db.execute(text("SELECT search_title FROM catalog_listings")).scalars().all()
        assert title.endswith(" ride hail driver")
        assert [x.id for x in search_listings(db, SearchQuery(q="driver")).items] == [listing_id]
        assert [x.id for x in search_demands(db, DemandQuery(q="driver"))[0]] == [demand_id]


def test_the_feed_redeclare_migration_goes_down_and_up(isolated_database: Database) -> None:
    """0042: the grant's unique constraint on its declarations becomes a unique index over the
    declarations in force, and back."""
    url = isolated_database.url
    engine = isolated_database.engine
    command.downgrade(alembic_config(url), "0041_feed_withdrawal")
    engine.dispose()
    found = inspect(engine)
    assert [u["name"] for u in found.get_unique_constraints("monitoring_shared_feeds")] == [
        "uq_monitoring_shared_feeds_request_id"]
    assert "uq_monitoring_shared_feeds_active_request" not in {
        i["name"] for i in found.get_indexes("monitoring_shared_feeds")}
    upgrade(url)
    check(url)
    engine.dispose()
    found = inspect(engine)
    assert found.get_unique_constraints("monitoring_shared_feeds") == []
    [index] = [i for i in found.get_indexes("monitoring_shared_feeds")
               if i["name"] == "uq_monitoring_shared_feeds_active_request"]
    assert (index["column_names"], bool(index["unique"])) == (["request_id"], True)
    query = ("SELECT sql FROM sqlite_master WHERE name = 'uq_monitoring_shared_feeds_active_request'"
             if engine.dialect.name == "sqlite" else
             "SELECT indexdef FROM pg_indexes WHERE indexname = 'uq_monitoring_shared_feeds_active_request'")
    with engine.connect() as conn:
        assert "withdrawn_at IS NULL" in conn.exec_driver_sql(query).scalar_one()
