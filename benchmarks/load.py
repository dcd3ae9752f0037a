"""Load and fault test: many clients over loopback, SIGKILLs at random moments, slow hostile clients.

    python benchmarks/load.py [--database sqlite|postgres|both] [--clients 64] [--seconds 60]
                              [--kills 5] [--workers N] [--pg-url URL]

For each database: a fresh data folder (and, on PostgreSQL, a fresh database, dropped afterwards),
``qianshu init``, the demo exchange seeded through the services plus one API token per client, then
``qianshu serve`` as a subprocess in a process group of its own. While ``--clients`` asyncio clients
(httpx, 127.0.0.1 only) search the catalogue, open product pages, sign in through the portal form,
call the token API, register small CSV files (create, upload, process), verify certificates, fetch
log inclusion proofs and download documents:

- a killer SIGKILLs the server's process group ``--kills`` times at random moments, restarts it and
  waits until ``/healthz`` answers (the *down windows*);
- slow attackers drip request bodies a byte every half second to ``POST /sign-in`` (with a bogus
  session cookie) and to ``POST /api/v1/registrations/certificates/verify`` (with a bearer token),
  reconnecting when the server hangs up;
- a health prober, in a process of its own so that the clients' event loop cannot delay it,
  requests ``/healthz`` every 50 ms.

Then the server is stopped, started once cleanly (its job worker finishes or fails what the kills
interrupted) and stopped again, and the checks run on the data folder and database directly:

1. every write a client saw acknowledged (2xx and an id) is present;
2. no blob in the store that no row refers to;
3. no registration left in ``processing``;
4. the public log verifies (every leaf, tile and signed tree head);
5. ``/healthz`` answered within 100 ms except while the server was down;
6. no 5xx response other than 503 with ``Retry-After``;
7. no request went unanswered for the client time-out (10 s) while the server was up.

It prints per-route throughput and latency percentiles, the bare ``/healthz`` throughput measured
first in the same run (the ceiling of this machine and client; the ratio compares the mix with it)
and the checks, and exits non-zero if any check fails. ``tests/web/test_load.py`` runs a bounded
version through :func:`run_load`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import random
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))

from qianshu.accounts import service as accounts  # noqa: E402
from qianshu.accounts.models import Organisation, User, WebSession  # noqa: E402
from qianshu.accounts.schemas import TokenIn  # noqa: E402
from qianshu.catalog.models import Listing  # noqa: E402
from qianshu.catalog.policy import terms_from_odrl  # noqa: E402
from qianshu.core import jobs  # noqa: E402
from qianshu.core.blobs import open_blob_store  # noqa: E402
from qianshu.core.db import Database  # noqa: E402
from qianshu.core.settings import Settings  # noqa: E402
from qianshu.core.signing import PUBLIC_KEY_FILE, load_public_key  # noqa: E402
from qianshu.demo.seed import DEMO_PASSWORD, seed_demo  # noqa: E402
from qianshu.exchange.settings import ExchangeSettings  # noqa: E402
from qianshu.ledger import service as ledger  # noqa: E402
from qianshu.ledger.models import LedgerTransfer  # noqa: E402
from qianshu.registry import documents  # noqa: E402
from qianshu.registry import service as registry  # noqa: E402
from qianshu.registry.jobs import sweep_orphan_blobs  # noqa: E402
from qianshu.registry.models import Certificate, Objection, Registration, RegistrationFile  # noqa: E402
from qianshu.registry.settings import RegistrySettings  # noqa: E402
from qianshu.translog import service as translog  # noqa: E402
from qianshu.translog.verify import verify_log  # noqa: E402

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
HOST = "127.0.0.1"
MERCHANTS = ("merchant.traffic@qianshu.demo", "merchant.weather@qianshu.demo", "merchant.health@qianshu.demo")
SEARCH_WORDS = ("交通", "气象", "医保", "物流", "贵阳", "遵义", "weather", "traffic", "数据", "公交")
READ_P99_GOAL_MS, WRITE_P99_GOAL_MS = 250.0, 1000.0
WRITE_ROUTES = frozenset({"sign-in.post", "registration.create", "registration.upload", "registration.process",
                          "trade.order", "trade.accept", "trade.sign", "trade.pay", "trade.deliver",
                          "trade.accept-delivery"})
# The demo organisations that buy in the mix's trades (the operator tops their wallets up first).
BUYERS = ("buyer.logistics@qianshu.demo", "bank@qianshu.demo", "government@qianshu.demo")
# What a client does, and how often (relative weights).
MIX: dict[str, int] = {
    "search": 20, "product": 15, "sign-in": 4, "api.me": 12, "api.registrations": 8,
    "register": 8, "verify": 10, "proof": 13, "download": 10, "trade": 3,
}


# --- configuration and environment ----------------------------------------------------------

@dataclass
class LoadConfig:
    database: str = "sqlite"  # "sqlite" or "postgres"
    clients: int = 64
    seconds: float = 60.0
    kills: int = 5
    workers: int | None = None  # default: 1 on SQLite, 2 on PostgreSQL
    pg_url: str = DEFAULT_PG_URL
    attackers: int = 4  # slow-body connections held at once (half to each target)
    drip_interval: float = 0.5
    probe_interval: float = 0.05
    health_limit_ms: float = 100.0
    # Seconds after a restart first answered during which probes are still excused (0: none; the
    # workers share one socket, so a worker still starting takes no connections).
    restart_grace_seconds: float = 0.0
    # Share of the probes while up that may exceed ``health_limit_ms`` (0: none), and a limit no probe
    # may exceed at all. The benchmark is strict; the bounded CI test tolerates a few slow probes on a
    # saturated two-core machine (tests/web/test_load.py) and says so in its check's name.
    health_slow_fraction: float = 0.0
    health_hard_limit_ms: float | None = None
    request_timeout: float = 10.0
    # Mean of the pause (exponential) each client takes between two actions, as a user reads a
    # page before the next click; 0: a closed loop, each client's next request follows its answer.
    think_seconds: float = 0.0
    baseline_seconds: float = 5.0
    # The server's ``worker_stale_seconds``: how long after a kill its jobs wait to be put back.
    stale_seconds: float = jobs.STALE_AFTER.total_seconds()
    seed: int | None = None
    mix: dict[str, int] = field(default_factory=lambda: dict(MIX))  # action → weight
    log_dir: Path | None = None  # keep the server's output here (default: in the data folder, removed after)
    samples_csv: Path | None = None  # every request's route, start, latency and status, to find a tail's cause

    @property
    def worker_count(self) -> int:
        return self.workers or (1 if self.database == "sqlite" else 2)


@dataclass
class Environment:
    data_dir: Path
    database_url: str
    secret_key: str
    pg_server: str | None = None
    pg_name: str | None = None
    stale_seconds: float = jobs.STALE_AFTER.total_seconds()

    def settings(self) -> Settings:
        return Settings(data_dir=self.data_dir, database_url=self.database_url, secret_key=self.secret_key,
                        environment="development", run_jobs_in_process=True)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        for key in [k for k in env if k.startswith("QIANSHU_")]:
            del env[key]
        env.update(QIANSHU_DATA_DIR=str(self.data_dir), QIANSHU_DATABASE_URL=self.database_url,
                   QIANSHU_SECRET_KEY=self.secret_key, QIANSHU_ENVIRONMENT="development",
                   QIANSHU_RUN_JOBS_IN_PROCESS="true", PYTHONUNBUFFERED="1",
                   QIANSHU_ACCESS_LOG="false",  # as in production: warnings and errors only
                   QIANSHU_WORKER_STALE_SECONDS=str(self.stale_seconds))
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), env.get("PYTHONPATH", "")) if p)
        return env


def _pg_admin(server: str) -> Any:
    return create_engine(make_url(server).set(database="postgres"), isolation_level="AUTOCOMMIT")


def prepare_environment(config: LoadConfig) -> Environment:
    """A fresh data folder, and on PostgreSQL a fresh database of its own."""
    data_dir = Path(tempfile.mkdtemp(prefix=f"qianshu-load-{config.database}-"))
    secret = secrets.token_urlsafe(32)
    if config.database == "sqlite":
        return Environment(data_dir, f"sqlite:///{data_dir / 'qianshu.db'}", secret,
                           stale_seconds=config.stale_seconds)
    name = f"qs_load_{uuid.uuid4().hex[:12]}"
    admin = _pg_admin(config.pg_url)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception:
        shutil.rmtree(data_dir, ignore_errors=True)
        raise
    finally:
        admin.dispose()
    url = make_url(config.pg_url).set(database=name).render_as_string(hide_password=False)
    return Environment(data_dir, url, secret, pg_server=config.pg_url, pg_name=name,
                       stale_seconds=config.stale_seconds)


def teardown_environment(env: Environment) -> None:
    if env.pg_server and env.pg_name:
        admin = _pg_admin(env.pg_server)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{env.pg_name}" WITH (FORCE)'))
        admin.dispose()
    shutil.rmtree(env.data_dir, ignore_errors=True)


def run_init(env: Environment) -> None:
    subprocess.run([sys.executable, "-m", "qianshu.cli", "init", "--data-dir", str(env.data_dir)],  # noqa: S603
                   env=env.env(), check=True, capture_output=True, timeout=300)


# --- seeding ------------------------------------------------------------------------------

@dataclass
class Seeded:
    tokens: list[str]  # one per client, read and write scopes, round robin over the merchants
    downloads: list[tuple[str, str]]  # (token, path of a document its organisation may download)
    listing_ids: list[int]
    certificates: list[dict[str, Any]]  # signed certificate documents, as the API serves them
    tree_size: int  # leaves within the latest signed tree head (their inclusion proofs answer)
    logins: list[str]  # e-mail addresses that sign in with DEMO_PASSWORD
    buyers: list[str] = field(default_factory=list)  # buyers' tokens (funded wallets)
    # (listing, one-time plan, a purpose it permits, delivery mode, the seller's token)
    offers: list[tuple[int, int, str, str, str]] = field(default_factory=list)


def seed(env: Environment, clients: int) -> Seeded:
    """The demo exchange (``qianshu.demo``), then an API token per client and the documents and
    ids the clients use, all through the services."""
    settings = env.settings()
    settings.override(ExchangeSettings, demo_history_contracts=0)  # no background history under the load
    seed_demo(settings)
    database = Database(env.database_url)
    store = open_blob_store(settings)
    try:
        with database.unit_of_work() as db:
            users = [db.scalars(select(User).where(User.email == email)).one() for email in MERCHANTS]
            actors = [accounts.actor_for(u, via="api", ip=HOST) for u in users]
            tokens: list[str] = []
            token_org: dict[str, int] = {}
            for i in range(clients):
                actor = actors[i % len(actors)]
                _token, raw = accounts.create_token(db, actor, TokenIn(name=f"load {i}", scopes=["read", "write"]))
                tokens.append(raw)
                token_org[raw] = actor.org_id or 0
            buyers, offers = _traders(db)
            # An objection's evidence, so that downloads include a second kind of document.
            objection = db.scalars(select(Objection).order_by(Objection.id)).first()
            if objection is not None and objection.filed_by_user_id is not None:
                filer = db.get(User, objection.filed_by_user_id)
                if filer is not None:
                    digest, size = registry.store_upload(store, ["异议证据（负载测试）\n".encode() * 200],
                                                         settings.section(RegistrySettings).document_max_bytes)
                    documents.attach_evidence(db, accounts.actor_for(filer, via="api", ip=HOST), objection.id,
                                              documents.Received("异议证据.txt", digest, size))
        with database.unit_of_work(write=False) as db:
            by_org: dict[int, list[str]] = defaultdict(list)
            for reg in db.scalars(select(Registration).where(Registration.contract_sha256.is_not(None))):
                by_org[reg.holder_org_id].append(f"/api/v1/registrations/{reg.id}/contract")
            for obj, holder in db.execute(select(Objection, Registration.holder_org_id).join(
                    Registration, Registration.id == Objection.registration_id).where(
                    Objection.evidence_sha256.is_not(None))):
                by_org[holder].append(f"/api/v1/registrations/objections/{obj.id}/evidence")
            downloads = [(raw, path) for raw, org in token_org.items() for path in by_org.get(org, [])]
            listing_ids = list(db.scalars(select(Listing.id).where(Listing.status == "listed")))
            certificates = [{"certificate": c.document, "signature": {
                "algorithm": c.algorithm, "key_id": c.key_id, "value": c.signature}}
                for c, status in db.execute(select(Certificate, Registration.status).join(
                    Registration, Registration.id == Certificate.registration_id))
                if status == "issued"]
            # Proofs are asked of the latest signed tree head: a leaf appended after it (the demo's
            # later events) has no proof yet and answers 4xx, so only leaves within it are asked for.
            head = translog.latest_tree_head(db)
            tree_size = head.tree_size if head is not None else translog.tree_size(db)
            logins = list(db.scalars(select(User.email).join(Organisation).where(
                Organisation.status == "approved", User.email.like("%@qianshu.demo"))))
    finally:
        database.dispose()
    if not (listing_ids and certificates and tree_size and downloads):
        raise RuntimeError("the demo seed lacks listings, certificates, log leaves or documents")
    return Seeded(tokens, downloads, listing_ids, certificates, tree_size, logins, buyers, offers)


def _traders(db: Any) -> tuple[list[str], list[tuple[int, int, str, str, str]]]:
    """Tokens of the buying demo organisations, their wallets topped up by the operator, and the
    listed products with a one-time plan, each with a token of its seller."""
    operator = accounts.actor_for(db.scalars(select(User).where(User.email == "operator@qianshu.demo")).one(),
                                  via="api", ip=HOST)
    buyers = []
    for n, email in enumerate(BUYERS):
        user = db.scalars(select(User).where(User.email == email)).one()
        ledger.deposit(db, operator, org_id=user.org_id, amount_fen=10**11, bank_reference=f"LOAD-TEST-{n}")
        _token, raw = accounts.create_token(db, accounts.actor_for(user, via="api", ip=HOST),
                                            TokenIn(name="load trade", scopes=["read", "write"]))
        buyers.append(raw)
    sellers: dict[int, str] = {}
    offers = []
    for listing in db.scalars(select(Listing).where(Listing.status == "listed").order_by(Listing.id)):
        plan = next((p for p in listing.plans if p.active and p.kind == "one_time" and p.price_fen), None)
        purposes = terms_from_odrl(plan.policy or {}).purposes if plan is not None else []
        admin = db.scalars(select(User).where(User.org_id == listing.org_id, User.org_role == "admin")).first()
        if plan is None or not purposes or admin is None:
            continue
        if listing.org_id not in sellers:
            _token, sellers[listing.org_id] = accounts.create_token(
                db, accounts.actor_for(admin, via="api", ip=HOST), TokenIn(name="load sell", scopes=["read", "write"]))
        offers.append((listing.id, plan.id, purposes[0], plan.delivery_modes[0] if plan.delivery_modes else "download",
                       sellers[listing.org_id]))
    return buyers, offers


# --- the server ---------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class Server:
    """``qianshu serve`` in a process group of its own, so that one signal reaches every worker."""

    def __init__(self, env: Environment, port: int, workers: int, log_path: Path) -> None:
        self.env, self.port, self.workers, self.log_path = env, port, workers, log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.base_url = f"http://{HOST}:{port}"

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
                [sys.executable, "-m", "qianshu.cli", "serve", "--data-dir", str(self.env.data_dir),
                 "--host", HOST, "--port", str(self.port), "--workers", str(self.workers)],
                env=self.env.env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=_server_priority)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _signal_group(self, sig: int) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)

    def kill(self) -> None:
        """SIGKILL to the whole group: the master and every worker die at once."""
        self._signal_group(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait()

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM (uvicorn's graceful shutdown), SIGKILL for what is left after ``timeout``."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self._signal_group(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout)
        self._signal_group(signal.SIGKILL)  # also any worker the master left behind
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)
        self.proc = None

    def wait_ready(self, timeout: float = 120.0) -> float:
        """Block until ``/healthz`` answers 200; returns the monotonic time it did."""
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=1.0) as client:
            while time.monotonic() < deadline:
                if self.proc is None or self.proc.poll() is not None:
                    raise RuntimeError(f"the server exited while starting; see {self.log_path}")
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(f"{self.base_url}/healthz").status_code == 200:
                        return time.monotonic()
                time.sleep(0.05)
        raise RuntimeError(f"the server did not answer /healthz within {timeout:.0f} s; see {self.log_path}")


# --- recording ----------------------------------------------------------------------------

TIMEOUT, CONNECTION_ERROR = -1, 0  # pseudo statuses of requests that got no answer


@dataclass
class Sample:
    route: str
    start: float  # monotonic
    latency: float  # seconds
    status: int  # HTTP status, TIMEOUT or CONNECTION_ERROR
    retry_after: bool = False

    @property
    def bad_5xx(self) -> bool:
        return self.status >= 500 and not (self.status == 503 and self.retry_after)


class Clock:
    """When the load ends: ``seconds`` of the server being up, so each down window moves the end
    later by its length (bounded: a restart that does not answer within its time-out ends the run)."""

    def __init__(self, begin: float, seconds: float) -> None:
        self.begin, self.stop_at, self.downtime = begin, begin + seconds, 0.0

    def add_downtime(self, seconds: float) -> None:
        self.downtime += seconds
        self.stop_at += seconds

    def running(self) -> bool:
        return time.monotonic() < self.stop_at


@dataclass
class Recorder:
    samples: list[Sample] = field(default_factory=list)
    # Acknowledged writes: (kind, key); kinds: registration, file, job (ids), session (token hash).
    writes: list[tuple[str, Any]] = field(default_factory=list)
    down: list[tuple[float, float]] = field(default_factory=list)  # (killed at, answered again at)
    attack_connections: int = 0
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # why requests got no answer

    def add(self, route: str, start: float, status: int, retry_after: bool = False) -> None:
        self.samples.append(Sample(route, start, time.monotonic() - start, status, retry_after))


def started_while_down(start: float, down: list[tuple[float, float]], before: float, grace: float) -> bool:
    """Whether a request that started at ``start`` is excused by a down window: it started while the
    server was down (or within ``grace`` after it answered again), or so shortly (``before``) before
    a kill that it could not have been answered in time. A request that started earlier and was still
    unanswered when the kill came is not excused: the server was up and did not answer."""
    return any(killed - before <= start <= up + grace for killed, up in down)


# --- clients ------------------------------------------------------------------------------

CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


class LoadClient:
    def __init__(self, number: int, base_url: str, seeded: Seeded, rec: Recorder, config: LoadConfig,
                 rng: random.Random) -> None:
        self.number, self.seeded, self.rec, self.rng = number, seeded, rec, rng
        self.mix, self.think = config.mix, config.think_seconds
        self.token = seeded.tokens[number % len(seeded.tokens)]
        self.auth = {"Authorization": f"Bearer {self.token}"}
        self.http = httpx.AsyncClient(base_url=base_url, timeout=config.request_timeout,
                                      limits=httpx.Limits(max_connections=2, max_keepalive_connections=2))
        self.made = 0
        # Documents this client's own organisation holds; a client without any borrows another's token.
        self.downloads = [d for d in seeded.downloads if d[0] == self.token] or seeded.downloads
        self.pause = 0.0  # honour Retry-After, as a well-behaved client does

    async def request(self, route: str, method: str, url: str, **kwargs: Any) -> httpx.Response | None:
        start = time.monotonic()
        try:
            response = await self.http.request(method, url, **kwargs)
        except httpx.TimeoutException:
            self.rec.add(route, start, TIMEOUT)
            self.rec.errors["timeout"] += 1
            return None
        except httpx.HTTPError as exc:  # refused or reset: the server is down or was killed mid-request
            self.rec.add(route, start, CONNECTION_ERROR)
            self.rec.errors[type(exc).__name__] += 1
            # Refused: the server is restarting; hammering it would only slow its start.
            self.pause = 0.5 if isinstance(exc, httpx.ConnectError) else 0.2
            return None
        retry_after = "retry-after" in response.headers
        self.rec.add(route, start, response.status_code, retry_after)
        if response.status_code == 503:
            try:
                self.pause = min(2.0, float(response.headers.get("retry-after", "0.5")))
            except ValueError:
                self.pause = 0.5
        return response

    async def run(self, clock: Clock) -> None:
        actions, weights = list(self.mix), list(self.mix.values())
        try:
            if self.think:  # users arrive one by one: the first click, too, comes after a pause
                await self.think_pause()
            while clock.running():
                action = self.rng.choices(actions, weights)[0]
                await getattr(self, "do_" + action.replace(".", "_").replace("-", "_"))()
                if self.pause:
                    await asyncio.sleep(self.pause)
                    self.pause = 0.0
                if self.think:
                    await self.think_pause()
        finally:
            await self.http.aclose()

    async def think_pause(self) -> None:
        """A user's pause, random (exponential) around the mean, at most ten times it."""
        await asyncio.sleep(min(self.rng.expovariate(1.0 / self.think), 10 * self.think))

    async def do_search(self) -> None:
        word = self.rng.choice(SEARCH_WORDS)
        if self.rng.random() < 0.5:
            await self.request("search.portal", "GET", "/catalog", params={"q": word})
        else:
            await self.request("search.api", "GET", "/api/v1/catalog/search", params={"q": word})

    async def do_product(self) -> None:
        await self.request("product.page", "GET", f"/catalog/{self.rng.choice(self.seeded.listing_ids)}")

    async def do_sign_in(self) -> None:
        self.http.cookies.clear()
        page = await self.request("sign-in.form", "GET", "/sign-in")
        if page is None or page.status_code != 200:
            return
        match, cookie = CSRF_INPUT.search(page.text), page.cookies.get("qs_csrf")
        self.http.cookies.clear()
        if match is None or cookie is None:
            raise RuntimeError("the sign-in form came without its CSRF cookie or token")
        answer = await self.request(
            "sign-in.post", "POST", "/sign-in", headers={"Cookie": f"qs_csrf={cookie}"},
            data={"email": self.rng.choice(self.seeded.logins), "password": DEMO_PASSWORD, "next": "/",
                  "csrf_token": match.group(1)})
        self.http.cookies.clear()
        if answer is not None and answer.status_code in (302, 303) and (raw := answer.cookies.get("qs_session")):
            self.rec.writes.append(("session", accounts.token_hash(raw)))

    async def do_trade(self) -> None:
        """A whole trade over the API: order, the seller accepts, both sign, pay (Idempotency-Key),
        deliver, accept (settles)."""
        if not (self.seeded.offers and self.seeded.buyers):
            return
        listing, plan, purpose, mode, seller_token = self.rng.choice(self.seeded.offers)
        buyer = {"Authorization": f"Bearer {self.rng.choice(self.seeded.buyers)}"}
        seller = {"Authorization": f"Bearer {seller_token}"}
        api = "/api/v1/exchange"
        order = await self.request("trade.order", "POST", f"{api}/orders", headers=buyer, json={
            "listing_id": listing, "plan_id": plan, "purpose": purpose, "delivery_mode": mode,
            "scenario": "负载测试：城市交通拥堵分析与信号灯配时优化研究"})
        if order is None or order.status_code != 201:
            return
        contract = await self.request("trade.accept", "POST", f"{api}/orders/{order.json()['id']}/accept",
                                      headers=seller)
        if contract is None or contract.status_code != 200:
            return
        cid = contract.json()["id"]
        for who in (buyer, seller):
            signed = await self.request("trade.sign", "POST", f"{api}/contracts/{cid}/sign", headers=who, json={})
            if signed is None or signed.status_code != 200:
                return
        steps = (("trade.pay", "pay", buyer, "pay"), ("trade.deliver", "deliver", seller, ""),
                 ("trade.accept-delivery", "accept-delivery", buyer, "settle"))
        for route, path, who, kind in steps:
            answer = await self.request(route, "POST", f"{api}/contracts/{cid}/{path}",
                                        headers={**who, "Idempotency-Key": uuid.uuid4().hex})
            if answer is None or answer.status_code != 200:
                return
            if kind:  # acknowledged money: its ledger transfer must be in the books afterwards
                self.rec.writes.append(("money", f"{kind}:contract:{cid}"))

    async def do_api_me(self) -> None:
        await self.request("api.me", "GET", "/api/v1/me", headers=self.auth)

    async def do_api_registrations(self) -> None:
        await self.request("api.registrations", "GET", "/api/v1/registrations", headers=self.auth)

    async def do_register(self) -> None:
        self.made += 1
        tag = f"{self.number}-{self.made}"
        created = await self.request("registration.create", "POST", "/api/v1/registrations", headers=self.auth,
                                     json={"title_zh": f"负载测试数据 {tag}", "title_en": f"Load test data {tag}"})
        if created is None or created.status_code != 201:
            return
        reg_id = int(created.json()["id"])
        self.rec.writes.append(("registration", reg_id))
        # Distinct bytes per upload, so that every blob has exactly one owner to look for.
        rows = "".join(f"{tag}-{i},站点{i % 7},{self.rng.randint(0, 9999)},2026-10-{i % 28 + 1:02d}\n"
                       for i in range(40))
        body = ("编号,站点,数量,日期\n" + rows).encode()
        uploaded = await self.request("registration.upload", "PUT",
                                      f"/api/v1/registrations/{reg_id}/files/load-{tag}.csv",
                                      headers={**self.auth, "Content-Type": "text/csv"}, content=body)
        if uploaded is None or uploaded.status_code != 201:
            return
        self.rec.writes.append(("file", int(uploaded.json()["id"])))
        processing = await self.request("registration.process", "POST", f"/api/v1/registrations/{reg_id}/process",
                                        headers=self.auth)
        if processing is not None and processing.status_code == 202:
            self.rec.writes.append(("job", int(processing.json()["id"])))

    async def do_verify(self) -> None:
        await self.request("certificate.verify", "POST", "/api/v1/registrations/certificates/verify",
                           headers=self.auth, json=self.rng.choice(self.seeded.certificates))

    async def do_proof(self) -> None:
        await self.request("log.proof", "GET", "/api/v1/log/proof/inclusion",
                           params={"index": self.rng.randrange(self.seeded.tree_size)})

    async def do_download(self) -> None:
        token, path = self.rng.choice(self.downloads)
        await self.request("document.download", "GET", path, headers={"Authorization": f"Bearer {token}"})


# --- the slow attacker, the killer, the prober ----------------------------------------------

async def slow_attacker(kind: str, port: int, token: str, clock: Clock, rec: Recorder, interval: float,
                        hold_seconds: float = 30.0) -> None:
    """Hold a connection with a body that never finishes, a byte every ``interval`` seconds; note
    any answer; reconnect when the server hangs up or after ``hold_seconds``."""
    route = f"attack.{kind}"
    length = 100_000
    if kind == "sign-in":
        head = (f"POST /sign-in HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
                f"Cookie: qs_session={secrets.token_urlsafe(32)}; qs_csrf={secrets.token_urlsafe(24)}\r\n"
                f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {length}\r\n\r\n")
        body = b"email=slow%40example.cn&password=" + b"x" * length
    else:
        head = (f"POST /api/v1/registrations/certificates/verify HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
                f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {length}\r\n\r\n")
        body = b'{"certificate": {"number": "' + b"1" * length
    while clock.running():
        writer = None
        start = time.monotonic()
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), 2.0)
            rec.attack_connections += 1
            writer.write(head.encode())
            await writer.drain()
            sent = 0
            while clock.running() and time.monotonic() < start + hold_seconds:
                writer.write(body[sent:sent + 1])
                sent += 1
                await writer.drain()
                try:
                    answer = await asyncio.wait_for(reader.read(4096), interval)
                except TimeoutError:
                    continue
                if answer.startswith(b"HTTP/1.1 "):
                    status = int(answer[9:12])
                    rec.add(route, start, status, b"\r\nretry-after:" in answer.lower())
                break  # answered or hung up
        except (OSError, TimeoutError):
            await asyncio.sleep(interval)
        finally:
            if writer is not None:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()


async def killer(server: Server, offsets: list[float], clock: Clock, rec: Recorder, rng: random.Random) -> None:
    """SIGKILL the server at each of ``offsets`` (seconds of up time since the load began), restart
    it, wait until it answers; the clock's end moves by the time it was down."""
    answering_since = time.monotonic()
    for offset in offsets:
        at = clock.begin + offset + clock.downtime
        await asyncio.sleep(max(at, answering_since + rng.uniform(1.0, 3.0)) - time.monotonic())
        killed = time.monotonic()
        await asyncio.to_thread(server.kill)
        await asyncio.to_thread(server.start)
        answering_since = await asyncio.to_thread(server.wait_ready)
        rec.down.append((killed, answering_since))
        clock.add_downtime(answering_since - killed)


CLIENT_NICENESS = 5
_BASE_PRIORITY = os.getpriority(os.PRIO_PROCESS, 0)


def _lower_client_priority() -> None:
    with contextlib.suppress(OSError):
        tid = threading.get_native_id()
        wanted = max(os.getpriority(os.PRIO_PROCESS, tid), _BASE_PRIORITY + CLIENT_NICENESS)
        os.setpriority(os.PRIO_PROCESS, tid, wanted)


def _restore_client_priority() -> None:
    with contextlib.suppress(OSError):  # raising a priority again needs privilege; without it, it stays
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), _BASE_PRIORITY)


def _server_priority() -> None:
    """In the forked server, before it runs: the priority the benchmark started with."""
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, 0, _BASE_PRIORITY)


def health_prober(base_url: str, interval: float, stop: Any, results: Any) -> None:
    """``/healthz`` every ``interval`` seconds until ``stop`` is set; sends back (start, latency,
    status) triples. Runs in a process of its own: what it measures is the server, not the load
    generator's busy event loop."""
    samples: list[tuple[float, float, int]] = []
    with httpx.Client(base_url=base_url, timeout=10.0) as client:
        while not stop.is_set():
            start = time.monotonic()
            try:
                status = client.get("/healthz").status_code
            except httpx.TimeoutException:
                status = TIMEOUT
            except httpx.HTTPError:
                status = CONNECTION_ERROR
            latency = time.monotonic() - start
            samples.append((start, latency, status))
            stop.wait(max(0.0, interval - latency))
    results.put(samples)


async def baseline(base_url: str, clients: int, seconds: float, rec: Recorder) -> None:
    """The bare ``/healthz`` at the same concurrency: what this machine and client can do at best."""
    stop_at = time.monotonic() + seconds

    async def loop() -> None:
        async with httpx.AsyncClient(base_url=base_url, timeout=10.0) as http:
            while time.monotonic() < stop_at:
                start = time.monotonic()
                try:
                    status = (await http.get("/healthz")).status_code
                except httpx.HTTPError:
                    status = CONNECTION_ERROR
                rec.add("healthz.baseline", start, status)

    await asyncio.gather(*(loop() for _ in range(clients)))


# --- the run ------------------------------------------------------------------------------

@dataclass
class Check:
    name: str
    passed: bool
    detail: str


@dataclass
class LoadResult:
    database: str
    config: LoadConfig
    recorder: Recorder
    load_seconds: float
    baseline_seconds: float
    probes: list[tuple[float, float, int]]
    checks: list[Check] = field(default_factory=list)
    settle_seconds: float = 0.0

    @property
    def up_seconds(self) -> float:
        """The load's duration less the down windows: the time throughput is measured over."""
        return self.load_seconds - sum(up - killed for killed, up in self.recorder.down)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)


async def drive(config: LoadConfig, server: Server, seeded: Seeded, rec: Recorder,
                rng: random.Random) -> tuple[float, list[tuple[float, float, int]]]:
    """Baseline, then the mixed load with the killer, attackers and prober; returns the load's
    duration and the prober's samples."""
    await baseline(server.base_url, config.clients, config.baseline_seconds, rec)
    ctx = multiprocessing.get_context("spawn")
    stop, results = ctx.Event(), ctx.Queue()
    prober = ctx.Process(target=health_prober, args=(server.base_url, config.probe_interval, stop, results),
                         daemon=True)
    prober.start()
    # In production the clients are other machines; here they share the server's two cores, and at
    # equal priority their busy event loop took CPU time the server and the prober needed. The load
    # generator's thread yields to them (the server is started at the priority we began with).
    _lower_client_priority()
    probes: list[tuple[float, float, int]] = []
    try:
        begin = time.monotonic()
        clock = Clock(begin, config.seconds)
        kill_offsets = sorted(rng.uniform(0.1, 0.85) * config.seconds for _ in range(config.kills))
        clients = [LoadClient(i, server.base_url, seeded, rec, config, random.Random(rng.random()))
                   for i in range(config.clients)]
        tasks = [asyncio.create_task(c.run(clock)) for c in clients]
        tasks += [asyncio.create_task(slow_attacker("sign-in" if i % 2 == 0 else "verify", server.port,
                                                    seeded.tokens[0], clock, rec, config.drip_interval))
                  for i in range(config.attackers)]
        kill_task = asyncio.create_task(killer(server, kill_offsets, clock, rec, rng))
        await kill_task
        # Bounded: a client still waiting a time-out after the end is cut off there.
        await asyncio.wait(tasks, timeout=max(0.0, clock.stop_at - time.monotonic()) + config.request_timeout + 5)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        duration = time.monotonic() - begin
    finally:
        _restore_client_priority()
        stop.set()
        with contextlib.suppress(Exception):
            probes = await asyncio.to_thread(results.get, True, 30)
        prober.join(10)
        if prober.is_alive():
            prober.kill()
    return duration, probes


def settle(env: Environment, stopped_at: float, timeout: float = 600.0) -> float:
    """Wait (the server running) until no registration is ``processing``. The job worker requeues
    a job whose worker died once its heartbeat is ``worker_stale_seconds`` old, so we wait at least
    that long after the last stop while any remain, and keep waiting while the count falls."""
    database = Database(env.database_url)
    begin = time.monotonic()
    stale = env.stale_seconds
    last_count, last_progress = -1, time.monotonic()
    try:
        while time.monotonic() - begin < timeout:
            with database.unit_of_work(write=False) as db:
                count = db.scalar(select(func.count()).select_from(Registration).where(
                    Registration.status == "processing")) or 0
            now = time.monotonic()
            if count == 0:
                break
            if count != last_count:
                last_count, last_progress = count, now
            if now > stopped_at + stale + 30 and now - last_progress > 30:
                break  # no progress for 30 s after the stale jobs should have been requeued
            time.sleep(1.0)
    finally:
        database.dispose()
    return time.monotonic() - begin


def _chunks(values: list[Any], size: int = 500) -> Iterator[list[Any]]:
    for i in range(0, len(values), size):
        yield values[i:i + size]


def _orphans(db: Any, store: Any) -> list[str]:
    blobs = [p for p in store.root.glob("??/??/*") if p.is_file() and len(p.name) == 64]
    return [p.name for p in blobs if not registry.blob_in_use(db, p.name)]


def _referenced_blobs(db: Any) -> set[str]:
    found: set[str] = set(db.scalars(select(RegistrationFile.sha256)))
    for column in (Registration.parquet_sha256, Registration.contract_sha256, Objection.evidence_sha256):
        found.update(d for d in db.scalars(select(column).where(column.is_not(None))) if d)
    return found


def check_state(env: Environment, result: LoadResult) -> list[Check]:
    """The checks on the data left behind (server stopped) and on what the clients saw."""
    rec, config = result.recorder, result.config
    checks: list[Check] = []
    settings = env.settings()
    database = Database(env.database_url)
    try:
        with database.unit_of_work(write=False) as db:
            by_kind: dict[str, list[Any]] = defaultdict(list)
            for kind, key in rec.writes:
                by_kind[kind].append(key)
            columns = {"registration": Registration.id, "file": RegistrationFile.id, "job": jobs.Job.id,
                       "session": WebSession.token_hash, "money": LedgerTransfer.unique_ref}
            missing: dict[str, int] = {}
            for kind, keys in by_kind.items():
                found: set[Any] = set()
                for chunk in _chunks(keys):
                    found.update(db.scalars(select(columns[kind]).where(columns[kind].in_(chunk))))
                missing[kind] = len(set(keys) - found)
            total = sum(len(set(v)) for v in by_kind.values())
            detail = ", ".join(f"{k}: {len(set(v))} acknowledged, {missing[k]} missing" for k, v in
                               sorted(by_kind.items())) or "no write was acknowledged"
            # A mix with writes in it that got none acknowledged is a failure too: nothing was checked.
            writes_expected = bool({"register", "sign-in", "trade"} & set(config.mix))
            checks.append(Check("acknowledged writes present",
                                (total > 0 or not writes_expected) and not any(missing.values()),
                                detail if writes_expected else "the mix has no writes"))

            # A kill between storing an upload and recording it leaves a blob no row refers to; the
            # scheduled sweep removes such blobs once they are older than its grace period (an hour).
            # Run it here as it will run then, and check that it clears exactly those: none is left,
            # and no blob a row refers to is gone.
            store = open_blob_store(settings)
            left = _orphans(db, store)
            swept = sweep_orphan_blobs(database, settings, grace_seconds=0)
            temporary = store.sweep_temporary(older_than_seconds=0)
            remaining = _orphans(db, store)
            lost = [d for d in _referenced_blobs(db) if not store.exists(d)]
            checks.append(Check("no orphan blobs after the scheduled sweep", not remaining and not lost,
                                f"{len(left)} left by the kills, {swept} removed by the sweep, {len(remaining)} "
                                f"remain; {temporary} unfinished temporary files removed; "
                                f"{len(lost)} blobs referred to by a row missing"))

            stuck = list(db.scalars(select(Registration.id).where(Registration.status == "processing")))
            statuses = {row[0]: row[1] for row in db.execute(select(Registration.status, func.count()).where(
                Registration.title_en.like("Load test data %")).group_by(Registration.status))}
            checks.append(Check("no registration stuck in processing", not stuck,
                                f"{len(stuck)} processing after {result.settle_seconds:.0f} s of a clean restart; "
                                f"load-test registrations by status: {statuses}"))

            key_path = settings.key_dir / PUBLIC_KEY_FILE
            report = verify_log(db, load_public_key(key_path.read_bytes()) if key_path.exists() else None)
            problem = report.first_problem
            checks.append(Check("public log verifies", report.ok,
                                f"{report.tree_size} leaves, {report.heads_checked} signed tree heads"
                                + (f"; {problem.render('en')}" if problem else "")))
    finally:
        database.dispose()

    limit = config.health_limit_ms / 1000
    grace = config.restart_grace_seconds
    up_probes = [p for p in result.probes if not started_while_down(p[0], rec.down, limit, grace)]
    slow = [p for p in up_probes if p[2] != 200 or p[1] > limit]
    worst = max((p[1] for p in up_probes), default=0.0)
    hard = (config.health_hard_limit_ms or config.health_limit_ms) / 1000
    failed = [p for p in up_probes if p[2] != 200 or p[1] > hard]
    allowed = int(config.health_slow_fraction * len(up_probes))
    name = f"/healthz within {config.health_limit_ms:.0f} ms while up"
    if config.health_slow_fraction:
        name += f" (≤ {config.health_slow_fraction:.0%} slower, none over {hard * 1000:.0f} ms)"
    checks.append(Check(name, bool(up_probes) and not failed and len(slow) <= allowed,
                        f"{len(up_probes)} probes while up, {len(slow)} slower or failed, worst "
                        f"{worst * 1000:.0f} ms; {len(result.probes) - len(up_probes)} during "
                        f"{len(rec.down)} down windows"))

    bad: dict[str, int] = defaultdict(int)
    for s in rec.samples:
        if s.bad_5xx:
            bad[f"{s.route} {s.status}"] += 1
    checks.append(Check("no 5xx but 503 with Retry-After", not bad,
                        ", ".join(f"{k}: {v}" for k, v in sorted(bad.items())) or "none"))

    timeouts = [s for s in rec.samples if s.status == TIMEOUT and not started_while_down(s.start, rec.down, 0, grace)]
    by_route: dict[str, int] = defaultdict(int)
    for s in timeouts:
        by_route[s.route] += 1
    checks.append(Check(f"every request answered within {config.request_timeout:.0f} s while up", not timeouts,
                        ", ".join(f"{k}: {v}" for k, v in sorted(by_route.items())) or "none timed out"))
    return checks


def run_load(config: LoadConfig, console: Console | None = None) -> LoadResult:
    """One database: prepare, seed, serve, load with faults, restart cleanly, check, clean up."""
    console = console or Console(stderr=True)
    rng = random.Random(config.seed)
    env = prepare_environment(config)
    log_dir = config.log_dir or env.data_dir
    log_dir.mkdir(parents=True, exist_ok=True)
    server = Server(env, free_port(), config.worker_count, log_dir / f"serve-{config.database}.log")
    try:
        console.log(f"[{config.database}] init and seed in {env.data_dir}")
        run_init(env)
        seeded = seed(env, config.clients)
        server.start()
        server.wait_ready()
        console.log(f"[{config.database}] serving on {server.base_url} with {config.worker_count} worker(s); "
                    f"{config.clients} clients for {config.seconds:.0f} s, {config.kills} kills")
        rec = Recorder()
        duration, probes = asyncio.run(drive(config, server, seeded, rec, rng))
        if config.samples_csv:
            write_samples(config.samples_csv, rec, probes)
        console.log(f"[{config.database}] load done; stopping, then a clean restart to let jobs finish")
        server.stop()
        stopped_at = time.monotonic()
        server.start()
        server.wait_ready()
        result = LoadResult(config.database, config, rec, duration, config.baseline_seconds, probes)
        result.settle_seconds = settle(env, stopped_at)
        server.stop()
        result.checks = check_state(env, result)
        return result
    finally:
        server.stop()
        teardown_environment(env)


# --- reporting ----------------------------------------------------------------------------

def write_samples(path: Path, rec: Recorder, probes: list[tuple[float, float, int]]) -> None:
    """Every request and probe as a CSV row, so that a tail can be told apart: slow requests spread
    over the run are a queue, slow requests bunched in time a stall. ``start_s`` is on the machine's
    monotonic clock, to line the rows up with other measurements taken meanwhile (CPU per process)."""
    rows = [(s.route, s.start, s.latency, s.status) for s in rec.samples]
    rows += [("healthz.probe", start, latency, status) for start, latency, status in probes]
    with path.open("w", encoding="utf-8") as out:
        out.write("route,start_s,latency_ms,status\n")
        for route, start, latency, status in sorted(rows, key=lambda r: r[1]):
            out.write(f"{route},{start:.4f},{latency * 1000:.1f},{status}\n")


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def route_rows(result: LoadResult) -> list[dict[str, Any]]:
    groups: dict[str, list[Sample]] = defaultdict(list)
    for s in result.recorder.samples:
        groups[s.route].append(s)
    rows = []
    for route in sorted(groups):
        samples = groups[route]
        answered = sorted(s.latency * 1000 for s in samples if s.status > 0)
        seconds = result.baseline_seconds if route == "healthz.baseline" else result.up_seconds
        rows.append({
            "route": route, "count": len(samples), "rate": len(answered) / seconds if seconds else 0.0,
            "ok": sum(1 for s in samples if 200 <= s.status < 400),
            "4xx": sum(1 for s in samples if 400 <= s.status < 500),
            "503": sum(1 for s in samples if s.status == 503), "5xx": sum(1 for s in samples if s.bad_5xx),
            "no answer": sum(1 for s in samples if s.status <= 0),
            "p50": _percentile(answered, 50), "p95": _percentile(answered, 95), "p99": _percentile(answered, 99),
        })
    return rows


def report(result: LoadResult, console: Console) -> None:
    config = result.config
    table = Table(title=f"{result.database}: {config.clients} clients, {result.load_seconds:.0f} s "
                        f"({result.up_seconds:.0f} s up), "
                        f"{len(result.recorder.down)} kills, {config.worker_count} worker(s), "
                        + (f"think time {config.think_seconds:g} s (mean)" if config.think_seconds
                           else "closed loop (no think time)"))
    for column in ("route", "requests", "answers/s", "2xx/3xx", "4xx", "503", "other 5xx", "no answer",
                   "p50 ms", "p95 ms", "p99 ms"):
        table.add_column(column, justify="left" if column == "route" else "right")
    rows = route_rows(result)
    for row in rows:
        table.add_row(row["route"], str(row["count"]), f"{row['rate']:.1f}", str(row["ok"]), str(row["4xx"]),
                      str(row["503"]), str(row["5xx"]), str(row["no answer"]), f"{row['p50']:.0f}",
                      f"{row['p95']:.0f}", f"{row['p99']:.0f}")
    console.print(table)
    base = next((r["rate"] for r in rows if r["route"] == "healthz.baseline"), 0.0)
    mixed = sum(r["rate"] for r in rows if not r["route"].startswith(("healthz.", "attack.")))
    ratio = mixed / base if base else 0.0
    console.print(f"mixed load {mixed:.1f} answers/s while up; bare /healthz baseline {base:.1f} answers/s at "
                  f"the same concurrency; ratio {ratio:.3f}")
    probes = [p[1] * 1000 for p in result.probes if p[2] == 200]
    if probes:
        console.print(f"/healthz prober: {len(result.probes)} probes, p50 {_percentile(probes, 50):.1f} ms, "
                      f"p99 {_percentile(probes, 99):.1f} ms, max {max(probes):.0f} ms")
    downs = ", ".join(f"{up - killed:.1f} s" for killed, up in result.recorder.down)
    console.print(f"down windows (kill → answering again): {downs or 'none'}; slow-body connections opened: "
                  f"{result.recorder.attack_connections}; settle after clean restart: {result.settle_seconds:.0f} s")
    if result.recorder.errors:
        console.print("requests without an answer: " + ", ".join(
            f"{k} {v}" for k, v in sorted(result.recorder.errors.items())))
    goals = []
    for row in rows:
        if row["route"].startswith(("healthz.", "attack.")) or not row["count"]:
            continue
        goal = WRITE_P99_GOAL_MS if row["route"] in WRITE_ROUTES else READ_P99_GOAL_MS
        if row["p99"] > goal:
            goals.append(f"{row['route']} p99 {row['p99']:.0f} ms > {goal:.0f}")
    console.print("latency goals (p99 reads < 250 ms, writes < 1 s; not a check): "
                  + ("; ".join(goals) if goals else "met"))
    checks = Table(title=f"{result.database}: checks")
    checks.add_column("check")
    checks.add_column("result")
    checks.add_column("detail")
    for check in result.checks:
        checks.add_row(check.name, "[green]PASS[/]" if check.passed else "[red]FAIL[/]", check.detail)
    console.print(checks)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--database", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--workers", type=int, default=None, help="web workers (default 1 on SQLite, 2 on PostgreSQL)")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help="PostgreSQL server; a database is created on it")
    parser.add_argument("--attackers", type=int, default=4, help="slow-body connections held at once")
    parser.add_argument("--seed", type=int, default=None, help="random seed (kill moments, the mix)")
    parser.add_argument("--only", default="", help=f"comma-separated actions of the mix to run ({', '.join(MIX)})")
    parser.add_argument("--log-dir", type=Path, default=None, help="keep the server's output here")
    parser.add_argument("--think-seconds", type=float, default=0.0,
                        help="mean pause (exponential) of each client between actions; 0: closed loop")
    parser.add_argument("--samples-csv", type=Path, default=None,
                        help="write every request's route, start, latency and status here (one database)")
    parser.add_argument("--stale-seconds", type=float, default=jobs.STALE_AFTER.total_seconds(),
                        help="the server's worker_stale_seconds: when a killed job is put back")
    args = parser.parse_args(argv)
    only = [a.strip() for a in args.only.split(",") if a.strip()]
    if unknown := set(only) - set(MIX):
        parser.error(f"unknown actions: {', '.join(sorted(unknown))}")
    console = Console(width=None if sys.stdout.isatty() else 160)
    failed = False
    for database in (("sqlite", "postgres") if args.database == "both" else (args.database,)):
        config = LoadConfig(database=database, clients=args.clients, seconds=args.seconds, kills=args.kills,
                            workers=args.workers, pg_url=args.pg_url, attackers=args.attackers, seed=args.seed,
                            log_dir=args.log_dir, think_seconds=args.think_seconds,
                            stale_seconds=args.stale_seconds, samples_csv=args.samples_csv,
                            mix={a: MIX[a] for a in only} if only else dict(MIX))
        result = run_load(config, console)
        report(result, console)
        failed = failed or not result.passed
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
