"""The inbox: notifications per user and per organisation, written by any capability, read with
unread counts; the catalogue's former notifications survive the move."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from qianshu.catalog import demand
from qianshu.catalog.schemas import DemandIn
from qianshu.core import inbox
from qianshu.core.db import Database
from qianshu.core.errors import NotAuthenticated
from qianshu.core.inbox import Notification, Unread
from qianshu.core.migrate import alembic_config, check, upgrade
from tests.factories import Factories

READ = "CASE WHEN read_at IS NULL THEN 0 ELSE 1 END"
INBOX_ROWS = ("SELECT id, user_id, message, " + READ + ", subject_type, subject_id, link "
              "FROM inbox_notifications ORDER BY id")
TOLD = "The product “{title}” you follow was updated."


def test_users_and_organisations_each_have_an_inbox(db: Session, make: Factories) -> None:
    org = make.org()
    alice, bob = make.user(organisation=org), make.user(organisation=org)
    outsider = make.user()
    a, b, other = make.actor(alice), make.actor(bob), make.actor(outsider)
    assert inbox.notify(db, "catalog", TOLD, users=[alice.id, alice.id], subject=("listing", 5), link="/catalog/5",
                        title_zh="遵义茶叶价格", title_en="Zunyi tea prices") == 1
    assert inbox.notify(db, "registry", "Your organisation's data has a new review.", org_id=org.id) == 1
    db.flush()
    assert inbox.unread_for(db, a) == Unread(user=1, organisation=1)
    assert inbox.unread_for(db, b) == Unread(user=0, organisation=1)  # the organisation's inbox is shared
    assert inbox.unread_for(db, other).total == 0
    assert inbox.inbox(db, other) == []
    mine = inbox.inbox(db, a)
    assert [n.for_organisation for n in mine] == [True, False]  # newest first
    assert inbox.render(mine[1], "en") == "The product “Zunyi tea prices” you follow was updated."
    assert inbox.render(mine[1], "zh") == "您关注的产品“遵义茶叶价格”已更新。"
    assert (mine[1].subject_type, mine[1].subject_id, mine[1].link) == ("listing", 5, "/catalog/5")


def test_marking_read_counts_down(db: Session, make: Factories) -> None:
    org = make.org()
    alice, bob = make.user(organisation=org), make.user(organisation=org)
    a, b = make.actor(alice), make.actor(bob)
    inbox.notify(db, "catalog", TOLD, users=[alice.id], title="x")
    inbox.notify(db, "catalog", TOLD, users=[alice.id], title="y")
    inbox.notify(db, "registry", TOLD, org_id=org.id, title="z")
    db.flush()
    first = inbox.inbox(db, a, unread_only=True)[-1]
    assert inbox.mark_read(db, a, [first.id]) == 1
    assert inbox.unread_for(db, a) == Unread(user=1, organisation=1)
    assert inbox.mark_read(db, b, [first.id]) == 0  # not Bob's
    assert inbox.unread_for(db, a, capability="registry").total == 1
    assert inbox.mark_read(db, b) == 1  # Bob reads the organisation's notification for both
    assert inbox.unread_for(db, a) == Unread(user=1, organisation=0)
    assert inbox.mark_read(db, a) == 1
    assert inbox.inbox(db, a, unread_only=True) == []
    assert len(inbox.inbox(db, a)) == 3


def test_the_inbox_is_for_signed_in_users(db: Session, make: Factories) -> None:
    from qianshu.core.actor import ANONYMOUS

    with pytest.raises(NotAuthenticated):
        inbox.inbox(db, ANONYMOUS)


def test_a_rolled_back_change_tells_nobody(database: Database, make: Factories, db: Session) -> None:
    user = make.user()
    db.commit()

    def change_that_fails() -> None:
        with database.unit_of_work() as uow:
            inbox.notify(uow, "catalog", TOLD, users=[user.id], title="x")
            uow.flush()
            raise RuntimeError("the change fails")

    with pytest.raises(RuntimeError, match="the change fails"):
        change_that_fails()
    assert db.scalars(select(Notification).where(Notification.user_id == user.id)).all() == []


def test_the_catalogues_notifications_move_to_the_inbox_and_back(isolated_database: Database) -> None:
    """Migration 0009 keeps every row: ids, texts, read state, and what they were about."""
    with isolated_database.unit_of_work() as db:
        make = Factories(db)
        buyer = make.user(organisation=make.org(org_type="buyer"))
        posted = demand.post_demand(db, make.actor(buyer), DemandIn(title="需要物流数据"))
        inbox.notify(db, "catalog", "Your demand “{title}” has a new answer.", users=[buyer.id],
                     subject=("demand", posted.id), link=f"/demands/{posted.id}", title=posted.title)
        inbox.notify(db, "catalog", TOLD, users=[buyer.id], title_zh="茶", title_en="Tea")
        db.flush()
        inbox.mark_read(db, make.actor(buyer), [max(db.scalars(select(Notification.id)))])
        buyer_id, demand_id = buyer.id, posted.id
    before = _rows(isolated_database, INBOX_ROWS)
    url = isolated_database.url
    isolated_database.dispose()
    command.downgrade(alembic_config(url), "0007_jobs_periodic_runs")
    assert _rows(isolated_database, "SELECT user_id, demand_id, listing_id, " + READ +
                 " FROM catalog_notifications ORDER BY id") == [
        (buyer_id, demand_id, None, 0), (buyer_id, None, None, 1)]
    isolated_database.dispose()
    upgrade(url)
    check(url)
    assert _rows(isolated_database, INBOX_ROWS) == before
    with isolated_database.unit_of_work() as db:  # new rows continue after the copied ids
        inbox.notify(db, "catalog", TOLD, users=[buyer_id], title="x")
    assert len(_rows(isolated_database, "SELECT id FROM inbox_notifications")) == 3


def _rows(database: Database, sql: str) -> list[tuple[object, ...]]:
    with database.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(text(sql))]
