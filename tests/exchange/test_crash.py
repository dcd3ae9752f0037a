"""SIGKILL while trading: `qianshu serve` (a real process, on the test database: SQLite, or
PostgreSQL with ``QIANSHU_TEST_DATABASE_URL``) is killed with SIGKILL three times at random
moments while buyers trade over HTTP with Idempotency-Keys, and restarted each time. Afterwards:

- the books balance to the fen (the sum of all balances is zero, and every account's balance is
  what its transfers make it);
- no order is lost or settled twice: every contract's money trail is one payment into escrow, at
  most one settlement and one fee, and matches its payment status;
- every success answer a client received is in the books (a payment answered 200 has its escrow
  transfer, an acceptance answered 200 its settlement);
- the public log verifies (every leaf's hash, and the tree head's root recomputed from them).
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from qianshu.accounts import service as accounts
from qianshu.accounts.models import User
from qianshu.accounts.schemas import TokenIn
from qianshu.core.db import Database
from qianshu.exchange.models import Contract
from qianshu.ledger import books
from qianshu.ledger import service as ledger
from qianshu.ledger.models import LedgerAccount
from qianshu.translog.verify import verify_log
from tests.catalog.conftest import make_listed
from tests.data_folder import make_data_folder
from tests.factories import Factories

pytestmark = [pytest.mark.slow, pytest.mark.alone]
BUYERS = 4
TRADES = 5  # each buyer's
KILLS = 3
# The trading: each buyer makes TRADES trades (about 30 s on a quiet machine, kills and restarts
# included); BUDGET bounds it on a saturated one, where each restart alone can take half a minute.
BUDGET = 180.0
START_SECONDS = 120
SCENARIO = "城市交通拥堵分析与信号灯配时优化研究"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`qianshu serve` in a process of its own, killed with SIGKILL and started again."""

    def __init__(self, data_dir: Path, database_url: str) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "QIANSHU_DATABASE_URL": database_url, "QIANSHU_ENVIRONMENT": "test",
                    "QIANSHU_RUN_JOBS_IN_PROCESS": "false", "PYTHONPATH": os.pathsep.join(sys.path)}
        self.data_dir = data_dir
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        log = (self.data_dir / "serve.log").open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "qianshu.cli", "serve", "--data-dir", str(self.data_dir), "--port",
             str(self.port)], env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.starts += 1
        # A start is a few seconds; far more on a saturated shared machine.
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert self.process.poll() is None, "the server stopped while starting:\n" + self.log_tail()
            time.sleep(0.1)
        self.stop()  # never left behind
        raise AssertionError(f"the server did not start within {START_SECONDS} s:\n" + self.log_tail())

    def log_tail(self) -> str:
        path = self.data_dir / "serve.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-30:]) if path.exists() else ""

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _token(db: Any, user: Any) -> dict[str, str]:
    _t, raw = accounts.create_token(db, accounts.actor_for(user, via="api", ip=None),
                                    TokenIn(name="crash", scopes=["read", "write"]))
    return {"Authorization": f"Bearer {raw}"}


def _setup(database: Database) -> tuple[int, int, int, dict[str, str], list[dict[str, str]]]:
    with database.unit_of_work() as db:
        make = Factories(db)
        operator_user = make.operator()
        operator = make.actor(operator_user)
        seller_user = make.user()
        product = make_listed(db, make.actor(seller_user), operator)
        buyers = [make.user(organisation=make.org(org_type="buyer")) for _ in range(BUYERS)]
        for n, user in enumerate(buyers):
            ledger.deposit(db, operator, org_id=user.org_id, amount_fen=10_000_000, bank_reference=f"CRASH-{n}")
        return (operator_user.id, product.id, product.plans[0].id, _token(db, seller_user),
                [_token(db, u) for u in buyers])


class Trader:
    """One buyer's trades, each step retried (with the same Idempotency-Key) until the server
    answers it; what was answered with success is recorded."""

    def __init__(self, base: str, listing_id: int, plan_id: int, seller: dict[str, str],
                 buyer: dict[str, str], stop_at: float) -> None:
        self.base, self.listing_id, self.plan_id = base + "/api/v1/exchange", listing_id, plan_id
        self.seller, self.buyer, self.stop_at = seller, buyer, stop_at
        self.paid: set[int] = set()  # contracts whose payment was answered 200
        self.settled: set[int] = set()  # contracts whose acceptance was answered 200
        self.errors: list[str] = []
        self.client = httpx.Client(timeout=10)

    def _call(self, path: str, headers: dict[str, str], json: Any = None, key: bool = False,
              ok: tuple[int, ...] = (200, 201)) -> httpx.Response | None:
        headers = {**headers, "Idempotency-Key": uuid.uuid4().hex} if key else headers
        while time.monotonic() < self.stop_at:
            try:
                r = self.client.post(self.base + path, headers=headers, json=json)
            except httpx.HTTPError:  # the server is down (killed): try the same request again
                time.sleep(0.2)
                continue
            if r.status_code in ok:
                return r
            if r.status_code >= 500:
                time.sleep(0.2)
                continue
            self.errors.append(f"{path}: {r.status_code} {r.text[:200]}")
            return r
        return None

    def _get(self, path: str, headers: dict[str, str]) -> httpx.Response:
        while True:
            try:
                r = self.client.get(self.base + path, headers=headers)
            except httpx.HTTPError:
                time.sleep(0.2)
                continue
            if r.status_code < 500:
                return r
            time.sleep(0.2)

    def run(self) -> None:
        for _ in range(TRADES):
            order = self._call("/orders", self.buyer, {"listing_id": self.listing_id, "plan_id": self.plan_id,
                                                       "purpose": "research", "scenario": SCENARIO})
            if order is None or order.status_code != 201:
                return
            order_id = order.json()["id"]
            contract = self._call(f"/orders/{order_id}/accept", self.seller, ok=(200, 409))
            if contract is None:
                return
            if contract.status_code == 409:  # accepted before a kill that lost the answer: read it
                contract = self._get(f"/orders/{order_id}", self.seller)
                cid = contract.json()["contract_id"]
            else:
                cid = contract.json()["id"]
            for who in (self.buyer, self.seller):
                # 409: this party's acceptance was committed before a kill that lost the answer
                if self._call(f"/contracts/{cid}/sign", who, {}, ok=(200, 409)) is None:
                    return
            pay = self._call(f"/contracts/{cid}/pay", self.buyer, key=True)
            if pay is None or pay.status_code != 200:
                return
            self.paid.add(cid)
            if self._call(f"/contracts/{cid}/deliver", self.seller, key=True) is None:
                return
            done = self._call(f"/contracts/{cid}/accept-delivery", self.buyer, key=True)
            if done is None or done.status_code != 200:
                return
            self.settled.add(cid)


def test_sigkill_while_trading_loses_nothing_and_settles_nothing_twice(isolated_database: Database,
                                                                      tmp_path: Path) -> None:
    data_dir = make_data_folder(tmp_path / "data")
    operator_id, listing_id, plan_id, seller, buyers = _setup(isolated_database)
    server = Server(data_dir, isolated_database.url)
    rng = random.Random()
    threads: list[threading.Thread] = []
    try:
        server.start()
        started = time.monotonic()
        traders = [Trader(server.base, listing_id, plan_id, seller, b, started + BUDGET) for b in buyers]
        threads = [threading.Thread(target=t.run) for t in traders]
        for t in threads:
            t.start()
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.3, 2.5))  # a random moment of the trading, the server up
            server.kill()
            server.start()
        for t in threads:
            t.join(timeout=max(1.0, started + BUDGET + 15 - time.monotonic()))
    finally:
        server.stop()
    assert server.starts == KILLS + 1
    assert not any(t.is_alive() for t in threads)
    # Every step is a retry of the same request (a 409 after a kill means the first try had
    # committed before the kill; the books below say whether it did).
    paid = set().union(*(t.paid for t in traders))
    settled = set().union(*(t.settled for t in traders))
    assert settled, [t.errors for t in traders]
    print(f"crash test: {server.starts} starts, {len(paid)} paid and {len(settled)} settled answered 200, "
          f"{time.monotonic() - started:.0f} s")
    with isolated_database.unit_of_work(write=False) as db:
        assert db.scalar(select(func.sum(LedgerAccount.balance_fen))) == 0
        operator = accounts.actor_for(db.get_one(User, operator_id), via="portal", ip=None)
        trial = books.trial_balance(db, operator, books.today(), "en")
        assert trial.balanced
        assert trial.agrees_with_accounts
        for contract in db.scalars(select(Contract)):
            kinds = [t.kind for t in ledger.transfers_by_cause(db, "contract", contract.id)]
            expected = {"unpaid": [], "escrowed": ["escrow"], "delivered": ["escrow"],
                        "settled": ["escrow", "settlement", "fee"]}[contract.payment_status]
            assert kinds == expected, (contract.id, contract.payment_status, kinds)
        statuses = dict(db.execute(select(Contract.id, Contract.payment_status)).all())
        assert all(statuses[c] != "unpaid" for c in paid)
        assert all(statuses[c] == "settled" for c in settled)
        # the public log: every leaf's hash, and the root of the signed tree head recomputed
        report = verify_log(db, None)
        assert report.ok, report.problems
        assert report.leaves_checked == report.tree_size > 0
