"""A pooled PostgreSQL connection the server closed is replaced at checkout, not handed out dead;
one used within the last half second is not pinged (a round trip saved on every busy checkout)."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text

from qianshu.core import db as core_db
from qianshu.core.db import Database


@pytest.fixture
def pg_database(database_url: str) -> Database:
    if not database_url.startswith("postgresql"):
        pytest.skip("a server that closes connections: PostgreSQL only")
    database = Database(database_url, pool_size=1, max_overflow=0)
    yield database  # type: ignore[misc]
    database.dispose()


def _backend_pid(database: Database) -> int:
    with database.unit_of_work(write=False) as session:
        return int(session.execute(text("SELECT pg_backend_pid()")).scalar_one())


def test_a_connection_closed_by_the_server_while_idle_is_replaced(pg_database: Database, database_url: str) -> None:
    first = _backend_pid(pg_database)
    killer = Database(database_url)
    try:
        with killer.unit_of_work() as session:
            assert session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first}).scalar_one()
    finally:
        killer.dispose()
    time.sleep(core_db.PING_AFTER_IDLE_SECONDS + 0.1)
    # The dead connection is found by the ping and a new one made: the user's read succeeds.
    assert _backend_pid(pg_database) != first


def test_a_connection_used_just_now_is_not_pinged(pg_database: Database) -> None:
    _backend_pid(pg_database)
    pings: list[int] = []
    real_ping = pg_database.engine.dialect.do_ping

    def counting_ping(conn: object) -> bool:
        pings.append(1)
        return real_ping(conn)  # type: ignore[arg-type]

    pg_database.engine.dialect.do_ping = counting_ping  # type: ignore[method-assign]
    for _ in range(5):
        _backend_pid(pg_database)
    assert pings == []
    time.sleep(core_db.PING_AFTER_IDLE_SECONDS + 0.1)
    _backend_pid(pg_database)
    assert pings == [1]
