"""The sandbox end to end through the HTTP API, under a contract: only aggregates come back, the
issue's attacks are refused or suppressed and logged for the seller, the privacy budget is stored
and cannot be overspent by concurrent queries, and access ends with the contract."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from qianshu.catalog.schemas import PlanIn
from qianshu.core.audit import AuditEvent
from qianshu.core.blobs import open_blob_store
from qianshu.core.db import Database
from qianshu.core.settings import Settings
from qianshu.delivery import sandbox_service
from qianshu.delivery.models import SandboxQuery
from qianshu.exchange import changes as exchange_changes
from qianshu.exchange.schemas import ChangeIn
from qianshu.web.app import create_app
from tests.catalog.conftest import make_listed
from tests.delivery.delivery_support import Setup, _contract, bearer, make_setup
from tests.web.live import live_server


@pytest.fixture
def setup(db: Session, settings: Settings, tmp_path: Path) -> Setup:
    return make_setup(db, settings, tmp_path)


def _ask(client: TestClient, s: Setup, sql: str, token: str | None = None, contract_id: int | None = None) -> Any:
    return client.post(f"/api/v1/delivery/contracts/{contract_id or s.sandbox_contract.id}/sandbox/queries",
                       json={"sql": sql}, headers=bearer(token or s.buyer_token))


def _log(db: Session, s: Setup) -> list[SandboxQuery]:
    return list(db.scalars(select(SandboxQuery).where(SandboxQuery.contract_id == s.sandbox_contract.id)
                           .order_by(SandboxQuery.id)))


def test_an_aggregate_is_answered_and_logged_without_its_values(client: TestClient, db: Session,
                                                                setup: Setup) -> None:
    r = _ask(client, setup, "SELECT county, count(*) AS n, avg(income) FROM data GROUP BY county ORDER BY county")
    assert r.status_code == 200, r.text
    body = r.json()
    assert [c.lower() for c in body["columns"]] == ["county", "n", "avg(income)"]
    # 兴义市 has three residents; one more county is hidden so that the total does not give them away.
    assert len(body["rows"]) == 4
    assert body["suppressed_groups"] == 2
    assert body["epsilon"] == 0
    assert body["budget"] is None
    [entry] = _log(db, setup)
    assert (entry.outcome, entry.groups_shown, entry.groups_suppressed) == ("answered", 4, 2)
    audit = db.scalars(select(AuditEvent).where(AuditEvent.action == "sandbox.query")).one()
    assert audit.target_id == str(setup.sandbox_contract.id)
    assert str(body["rows"][0][2])[:6] not in str(audit.detail)
    # Both parties see the history; nobody else does.
    seen = client.get(f"/api/v1/delivery/contracts/{setup.sandbox_contract.id}/sandbox/queries",
                      headers=bearer(setup.merchant_token))
    assert seen.status_code == 200
    assert seen.json()[0]["outcome"] == "answered"
    assert client.get(f"/api/v1/delivery/contracts/{setup.sandbox_contract.id}/sandbox/queries",
                      headers=bearer(setup.other_token)).status_code == 404


ATTACKS = [
    "SELECT * FROM data",
    "SELECT resident_id, count(*) FROM data GROUP BY resident_id LIMIT 1",
    "SELECT string_agg(name, ',') FROM data",
    "SELECT list(name) FROM data",
    "SELECT county, arg_max(name, income) FROM data GROUP BY county",
    "SELECT county, max(income) FROM data GROUP BY county",
    "SELECT count(*) FROM read_csv('/etc/passwd')",
    "SELECT sum(length(content)) FROM read_text('/etc/passwd')",
    "SELECT count(*) FROM glob('/etc/*')",
    "COPY data TO '/tmp/leak.csv'",
    "ATTACH '/tmp/other.duckdb' AS other",
    "INSTALL httpfs",
    "LOAD httpfs",
    "SET threads = 8",
    "PRAGMA table_info('data')",
    "RESET memory_limit",
    "SELECT count(*) FROM people",  # another product's table
    "SELECT count(*) FROM data; COPY data TO '/tmp/x.csv'",
]


@pytest.mark.parametrize("sql", ATTACKS)
def test_the_issues_attacks_are_refused_over_http_and_logged(client: TestClient, db: Session, setup: Setup,
                                                             sql: str) -> None:
    r = _ask(client, setup, sql)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "sql"
    [entry] = _log(db, setup)
    assert entry.outcome == "refused"
    assert entry.sql == sql


def test_small_groups_and_differencing_come_back_suppressed(client: TestClient, db: Session, setup: Setup) -> None:
    # min/max over a small group: 兴义市 has three residents.
    body = _ask(client, setup, "SELECT county_code, max(age), min(age) FROM data GROUP BY county_code").json()
    assert "522301" not in {row[0] for row in body["rows"]}
    # LIMIT 1 over a unique key: nothing.
    body = _ask(client, setup, "SELECT row_no, count(*), sum(income) FROM data GROUP BY row_no LIMIT 1").json()
    assert body["rows"] == []
    # Two overlapping aggregates whose difference is one person.
    total = _ask(client, setup, "SELECT sum(income) FROM data").json()
    assert total["rows"]
    but_one = _ask(client, setup, "SELECT sum(income) FROM data WHERE row_no <> 1234").json()
    assert but_one["rows"] == []
    assert but_one["suppressed_groups"] == 1
    cells = _ask(client, setup, "SELECT row_no = 1234 AS target, sum(income) FROM data GROUP BY target").json()
    assert cells["rows"] == []
    outcomes = [e.outcome for e in _log(db, setup)]
    assert outcomes == ["answered", "suppressed", "answered", "suppressed", "suppressed"]


def test_access_ends_with_the_contract_and_only_the_buyer_asks(client: TestClient, db: Session,
                                                               setup: Setup) -> None:
    assert _ask(client, setup, "SELECT count(*) FROM data", token=setup.merchant_token).status_code == 403
    assert _ask(client, setup, "SELECT count(*) FROM data", token=setup.other_token).status_code == 404
    assert _ask(client, setup, "SELECT count(*) FROM data", contract_id=setup.api_contract.id).status_code == 409
    exchange_changes.operate(db, setup.operator, setup.sandbox_contract.id,
                             ChangeIn(kind="terminate", reason="违约终止"))
    db.flush()
    r = _ask(client, setup, "SELECT count(*) FROM data")
    assert r.status_code == 403
    assert r.json()["code"] == "contract_not_active"
    assert _log(db, setup)[-1].outcome == "refused"


def test_the_seller_sets_k_and_differential_privacy(client: TestClient, db: Session, setup: Setup) -> None:
    path = f"/api/v1/delivery/products/{setup.listing.id}/sandbox"
    policy = {"k": 500, "epsilon": 0.25, "budget": 0.5, "bounds": {"income": [0, 100000]}}
    assert client.put(path, json=policy, headers=bearer(setup.buyer_token)).status_code in (403, 404)
    assert client.put(path, json=policy, headers=bearer(setup.merchant_token)).status_code == 204
    body = _ask(client, setup, "SELECT count(*), sum(income) FROM data").json()
    assert body["epsilon"] == pytest.approx(0.25)
    assert body["budget"]["spent"] == pytest.approx(0.25)
    assert body["rows"][0][0] != 2000 or body["rows"][0][1] != pytest.approx(0)  # noised
    # A group under k=500 is not shown, whatever the noise.
    body = _ask(client, setup, "SELECT county, count(*) FROM data GROUP BY county").json()
    assert body["rows"] == []
    r = _ask(client, setup, "SELECT count(*) FROM data")
    assert r.status_code == 409
    assert r.json()["code"] == "privacy_budget_exhausted"
    # A query refused for its text alone spends nothing.
    assert _ask(client, setup, "SELECT * FROM data").status_code == 422
    budget = sandbox_service.budget_of(db, setup.sandbox_contract.id)
    assert budget is not None
    assert budget.spent == pytest.approx(0.5)


@pytest.mark.slow
def test_a_query_past_the_time_limit_is_cut_off(database: Database, db: Session, tmp_path: Path) -> None:
    settings = Settings(environment="test", data_dir=tmp_path / "data", database_url=database.url,
                        secret_key="test-secret-" + "x" * 32, run_jobs_in_process=False,
                        sections={"delivery": {"sandbox_query_seconds": 0.3}})
    setup = make_setup(db, settings, tmp_path, rows=100)
    big = tmp_path / "big.parquet"
    duckdb.sql(f"COPY (SELECT i AS row_no, i % 97 AS grp, 'x' || i AS label FROM range(3000000) t(i)) "
               f"TO '{big}' (FORMAT parquet)")
    digest, size = open_blob_store(settings).put_file(big)
    listing = make_listed(db, setup.merchant, setup.operator, parquet_sha256=digest, parquet_size=size,
                          plans=[PlanIn(kind="per_call", price="1", delivery_modes=["sandbox"])])
    contract = _contract(db, setup.buyer, setup.merchant, listing, 0)
    db.flush()
    from fastapi.testclient import TestClient as Client

    with Client(create_app(settings, database=database)) as client:
        assert _ask(client, setup, "SELECT count(*) FROM data", contract_id=contract.id).status_code == 200
        started = time.monotonic()
        r = _ask(client, setup, "SELECT grp, count(DISTINCT label), count(DISTINCT row_no) FROM data GROUP BY grp",
                 contract_id=contract.id)
        assert time.monotonic() - started < 5
    assert r.status_code == 503
    assert r.json()["code"] == "query_timeout"
    last = db.scalars(select(SandboxQuery).where(SandboxQuery.contract_id == contract.id)
                      .order_by(SandboxQuery.id.desc())).first()
    assert last is not None
    assert last.outcome == "timed_out"


# -- the budget under concurrent queries, over real HTTP -------------------------------------------


@pytest.fixture
def served(isolated_database: Database, tmp_path: Path) -> Iterator[tuple[str, Database, Setup]]:
    settings = Settings(environment="test", data_dir=tmp_path / "data", database_url=isolated_database.url,
                        secret_key="test-secret-" + "x" * 32, run_jobs_in_process=False)
    with isolated_database.unit_of_work() as db:
        setup = make_setup(db, settings, tmp_path, rows=500)
        sandbox_service.set_product_sandbox(db, setup.merchant, setup.listing.id, k=10, epsilon=0.1, budget=0.5,
                                            bounds={"income": (0.0, 100_000.0)})
    with live_server(create_app(settings, database=isolated_database)) as url:
        yield url, isolated_database, setup


@pytest.mark.slow
def test_concurrent_queries_cannot_overspend_the_budget(served: tuple[str, Database, Setup]) -> None:
    url, database, setup = served
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    barrier = threading.Barrier(6)

    def worker() -> None:
        with httpx.Client(base_url=url, headers=bearer(setup.buyer_token), timeout=120) as client:
            barrier.wait()
            for _ in range(3):
                r = client.post(f"/api/v1/delivery/contracts/{setup.sandbox_contract.id}/sandbox/queries",
                                json={"sql": "SELECT count(*) FROM data"})
                with lock:
                    statuses[r.status_code] += 1

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == Counter({200: 5, 409: 13}), statuses  # 0.5 / 0.1: five queries, not one more
    with database.unit_of_work(write=False) as db:
        budget = sandbox_service.budget_of(db, setup.sandbox_contract.id)
        assert budget is not None
        assert budget.spent == pytest.approx(0.5)
        outcomes = Counter(e.outcome for e in db.scalars(select(SandboxQuery)))
        assert outcomes == Counter({"answered": 5, "refused": 13})
