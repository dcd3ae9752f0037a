"""Test harness: real databases, migrated once per session, every test rolled back.

``QIANSHU_TEST_DATABASE_URL`` selects PostgreSQL (CI runs the suite on both); otherwise a
temporary SQLite file is used. Each pytest-xdist worker gets its own database. On PostgreSQL
only the tests that reach a database run (see ``pytest_collection_modifyitems``): the rest ran
already on the SQLite pass and would only repeat themselves.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from qianshu.core.db import Database, bind_to_connection
from qianshu.core.migrate import upgrade
from qianshu.core.settings import Settings
from tests.factories import Factories


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Under ``-n``, hand out whole modules (and the browser tests as one group) instead of single
    tests: a module's fixtures are then set up on one worker, not on each. The demo seeded for
    ``tests/test_demo.py`` and the browser tests' live demo server cost a minute or more of CPU
    each, and were made by both workers whenever their tests were split between them. Largest
    groups go first (xdist's ``loadscope`` order), so the long ones start at once and the small
    modules fill in the end. xdist's own ``--dist loadgroup`` cannot do this under pytest 9 (the
    group it appends to a test's id is not read)."""
    if config.getoption("dist", "no") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ModuleScheduling(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return "tests/browser" if path.startswith("tests/browser/") else path

    return ModuleScheduling(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On the PostgreSQL pass, leave out the tests that never reach a database.

    A test reaches one through the ``database_url`` fixture (every database fixture depends on
    it) or, when it opens its own, by the ``database`` mark. The others (parsers, the Merkle
    tree, translations, the pipeline, Spark) do the same on either pass; running them twice cost
    about four of CI's minutes.
    """
    if not os.environ.get("QIANSHU_TEST_DATABASE_URL"):
        return
    kept: list[pytest.Item] = []
    left: list[pytest.Item] = []
    for item in items:
        reaches = "database_url" in getattr(item, "fixturenames", ()) or item.get_closest_marker("database")
        (kept if reaches else left).append(item)
    if left:
        config.hook.pytest_deselected(items=left)
        items[:] = kept


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def _create_pg_database(server_url: str, name: str, template: str | None = None) -> str:
    url = make_url(server_url)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def _drop_pg_database(server_url: str, name: str) -> None:
    admin = create_engine(make_url(server_url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str | None]:
    """On PostgreSQL, a database migrated to head once per worker, never connected to afterwards:
    the session's and every isolated database are copies of it (CREATE DATABASE ... TEMPLATE takes
    about a tenth of a second; running the migrations again took about a second each time)."""
    server = os.environ.get("QIANSHU_TEST_DATABASE_URL")
    if not server:
        yield None
        return
    name = f"qs_tpl_{_worker()}_{uuid.uuid4().hex[:8]}"
    upgrade(_create_pg_database(server, name))
    yield name
    _drop_pg_database(server, name)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory, pg_template: str | None) -> Iterator[str]:
    """A database migrated to head once for the whole session."""
    server = os.environ.get("QIANSHU_TEST_DATABASE_URL")
    if server:
        name = f"qs_test_{_worker()}_{uuid.uuid4().hex[:8]}"
        url = _create_pg_database(server, name, template=pg_template)
        yield url
        _drop_pg_database(server, name)
    else:
        path = tmp_path_factory.mktemp("db") / "qianshu.db"
        url = f"sqlite:///{path}"
        upgrade(url)
        engine = create_engine(url)
        with engine.connect() as conn:  # fold the WAL into the file so it can be copied
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        engine.dispose()
        yield url


@pytest.fixture(scope="session")
def shared_database(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.dispose()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    # search_refresh_seconds=0: tests change listings through their own session without a unit of
    # work, which a cached catalogue generation would not notice (tests/catalog/test_search_cache.py
    # covers the refresh interval).
    return Settings(environment="test", data_dir=tmp_path / "data", database_url=database_url,
                    secret_key="test-secret-" + "x" * 32, run_jobs_in_process=False,
                    sections={"catalog": {"search_refresh_seconds": 0}})


@pytest.fixture
def database(shared_database: Database) -> Iterator[Database]:
    """A Database whose every commit is a savepoint inside one rolled-back transaction."""
    connection = shared_database.engine.connect()
    outer = connection.begin()
    test_database = Database.__new__(Database)
    test_database.url = shared_database.url
    test_database.is_sqlite = shared_database.is_sqlite
    test_database.engine = shared_database.engine
    test_database.read_engine = shared_database.engine
    bind_to_connection(test_database, connection)
    yield test_database
    outer.rollback()
    connection.close()


@pytest.fixture
def db(database: Database) -> Iterator[Session]:
    session = database.session()
    yield session
    session.close()


@pytest.fixture
def make(db: Session) -> Factories:
    return Factories(db)


@pytest.fixture
def isolated_database(database_url: str, pg_template: str | None, tmp_path: Path) -> Iterator[Database]:
    """A database of its own whose commits are real: for concurrency and crash tests."""
    server = os.environ.get("QIANSHU_TEST_DATABASE_URL")
    if server:
        name = f"qs_iso_{uuid.uuid4().hex[:12]}"
        url = _create_pg_database(server, name, template=pg_template)
        database = Database(url)
        yield database
        database.dispose()
        _drop_pg_database(server, name)
    else:
        source = Path(make_url(database_url).database or "")
        target = tmp_path / "isolated.db"
        shutil.copyfile(source, target)  # already migrated; copying beats migrating again
        database = Database(f"sqlite:///{target}")
        yield database
        database.dispose()


@pytest.fixture
def app(settings: Settings, database: Database):  # type: ignore[no-untyped-def]
    from qianshu.web.app import create_app

    return create_app(settings, database=database)


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    with TestClient(app, base_url="http://testserver") as test_client:
        yield test_client


@pytest.fixture
def bearer(db: Session):  # type: ignore[no-untyped-def]
    """``bearer(user, scopes=("read","write"))`` → Authorization headers for a fresh API token."""
    from qianshu.accounts import service
    from qianshu.accounts.schemas import TokenIn

    def _headers(user, scopes=("read", "write")):  # type: ignore[no-untyped-def]
        actor = service.actor_for(user, via="api", ip="127.0.0.1")
        _token, raw = service.create_token(db, actor, TokenIn(name="test", scopes=list(scopes)))
        db.flush()
        return {"Authorization": f"Bearer {raw}"}

    return _headers
