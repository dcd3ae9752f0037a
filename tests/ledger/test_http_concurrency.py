"""Over real HTTP, several clients at once: withdrawals from one wallet never overdraw it, the
books sum to zero, and concurrent requests with one idempotency key move the money once."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from qianshu.accounts import service as accounts
from qianshu.accounts.schemas import TokenIn
from qianshu.core.db import Database
from qianshu.core.settings import Settings
from qianshu.ledger import service
from qianshu.ledger.models import LedgerAccount, LedgerTransfer
from qianshu.web.app import create_app
from tests.factories import Factories
from tests.web.live import live_server

pytestmark = pytest.mark.slow
CLIENTS = 6
EACH = 6
AMOUNT = 700
FUNDS = 10_000  # room for 14 of the 36 withdrawals


def _start(isolated_database: Database) -> tuple[int, dict[str, str]]:
    with isolated_database.unit_of_work() as db:
        make = Factories(db)
        org = make.org()
        user = make.operator()
        operator = make.actor(user)
        service.deposit(db, operator, org_id=org.id, amount_fen=FUNDS, bank_reference="HTTP-0")
        _token, raw = accounts.create_token(db, accounts.actor_for(user, via="api", ip=None),
                                            TokenIn(name="t", scopes=["read", "write"]))
        return org.id, {"Authorization": f"Bearer {raw}"}


def _in_parallel(work: Any, n: int) -> list[Any]:
    results: list[Any] = [None] * n
    barrier = threading.Barrier(n)

    def run(i: int) -> None:
        barrier.wait()
        results[i] = work(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_clients_withdrawing_at_once_never_overdraw_a_wallet(isolated_database: Database, tmp_path: Path) -> None:
    org_id, headers = _start(isolated_database)
    settings = Settings(environment="test", data_dir=tmp_path / "data", database_url=isolated_database.url,
                        secret_key="test-secret-" + "x" * 32, run_jobs_in_process=False)
    with live_server(create_app(settings, database=isolated_database)) as base:
        def client_run(i: int) -> list[int]:
            with httpx.Client(base_url=base, timeout=30) as http:
                return [http.post("/api/v1/ledger/withdrawals", headers={**headers, "Idempotency-Key": f"w-{i}-{n}"},
                                  json={"org_id": org_id, "amount_fen": AMOUNT, "bank_reference": f"W-{i}-{n}"})
                        .status_code for n in range(EACH)]

        statuses = [s for batch in _in_parallel(client_run, CLIENTS) for s in batch]

        def duplicate(i: int) -> httpx.Response:
            with httpx.Client(base_url=base, timeout=30) as http:
                return http.post("/api/v1/ledger/deposits", headers={**headers, "Idempotency-Key": "same"},
                                 json={"org_id": org_id, "amount_fen": 1, "bank_reference": "DUP"})

        duplicates = _in_parallel(duplicate, 4)
    assert statuses.count(201) == FUNDS // AMOUNT
    assert statuses.count(422) == CLIENTS * EACH - FUNDS // AMOUNT
    assert [r.status_code for r in duplicates] == [201] * 4
    assert sorted(r.headers["Idempotent-Replayed"] for r in duplicates) == ["false", "true", "true", "true"]
    assert len({r.json()["id"] for r in duplicates}) == 1
    with isolated_database.unit_of_work(write=False) as db:
        assert service.balance(db, service.wallet_of(db, org_id)) == FUNDS % AMOUNT + 1
        assert db.scalar(select(func.sum(LedgerAccount.balance_fen))) == 0
        assert db.scalar(select(func.count()).select_from(LedgerTransfer)
                         .where(LedgerTransfer.cause_id == "DUP")) == 1
