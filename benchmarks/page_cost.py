"""CPU cost per request of the pages and API calls the load test's mix hits, in one process.

    python benchmarks/page_cost.py [--database sqlite|postgres] [--requests 40] [--server]

Seeds the demo exchange in a fresh data folder (on PostgreSQL a fresh database, dropped
afterwards) as ``benchmarks/load.py`` does, builds the app in this process and requests each
route of the load test's mix ``--requests`` times through the ASGI test client, one at a time.
It measures CPU time (``time.process_time``: this process only, so other work on the machine
does not inflate it) and prints the median and p90 per route in milliseconds, for two rounds
in the same run:

- **cold**: the page caches (``qianshu.catalog.page_cache.page_caches``) emptied before every
  request: what each request cost before the caches, and what the first view of a product
  costs now;
- **warm**: the steady state: the same requests again once the caches are filled by a round
  of them that is not timed.

The ratio cold / warm is the caches' gain; ``/healthz`` (no session, no database) is the bare
floor of the same client and app.

With ``--server`` it then starts two real ``qianshu serve`` processes (one worker each) on that
data folder, with the access log off (the production default) and on, requests each route
``--requests`` times over loopback HTTP from each, in alternating batches, and prints the server
process's CPU time per request (from ``/proc``, Linux; 10 ms ticks, so use 100 requests or more)
and the ratio on / off.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for extra in (ROOT / "src", ROOT):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

import httpx  # noqa: E402
from benchmarks.load import (  # noqa: E402
    DEFAULT_PG_URL,
    SEARCH_WORDS,
    Environment,
    LoadConfig,
    Server,
    free_port,
    prepare_environment,
    run_init,
    seed,
    teardown_environment,
)
from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from qianshu import capabilities  # noqa: E402
from qianshu.catalog.models import Listing  # noqa: E402
from qianshu.catalog.page_cache import page_caches  # noqa: E402
from qianshu.core import jobs  # noqa: E402
from qianshu.core.db import Database  # noqa: E402
from qianshu.core.jobs import Job  # noqa: E402
from qianshu.demo.seed import DEMO_PASSWORD  # noqa: E402
from qianshu.registry.models import Registration  # noqa: E402
from qianshu.web.app import create_app  # noqa: E402

Call = Callable[[Any, int], Any]  # (a test client or an httpx client, a number to vary the request by)


def listings_with_sample(env: Any) -> list[int]:
    """Listed products whose registration has a normalised data file (a sample to show)."""
    database = Database(env.database_url)
    try:
        with database.unit_of_work(write=False) as db:
            return list(db.scalars(select(Listing.id).join(Registration, Registration.id == Listing.registration_id)
                                   .where(Listing.status == "listed", Registration.parquet_sha256.is_not(None))))
    finally:
        database.dispose()


def routes(seeded: Any, sampled: list[int]) -> dict[str, Call]:
    """Route name (as the load test names it) → a request of that kind; ``i`` varies the choice."""
    token = seeded.tokens[0]
    auth = {"Authorization": f"Bearer {token}"}
    listings, certificates, downloads = seeded.listing_ids, seeded.certificates, seeded.downloads

    def sign_in(client: TestClient, i: int) -> Any:
        client.cookies.clear()
        form = client.get("/sign-in")
        csrf = form.cookies.get("qs_csrf") or client.cookies.get("qs_csrf") or ""
        token_field = _csrf_field(form.text)
        answer = client.post("/sign-in", data={"email": seeded.logins[i % len(seeded.logins)],
                                               "password": DEMO_PASSWORD, "next": "/", "csrf_token": token_field},
                             headers={"Cookie": f"qs_csrf={csrf}"}, follow_redirects=False)
        client.cookies.clear()
        return answer

    return {
        "healthz": lambda c, i: c.get("/healthz"),
        "search.portal": lambda c, i: c.get("/catalog", params={"q": SEARCH_WORDS[i % len(SEARCH_WORDS)]}),
        "search.api": lambda c, i: c.get("/api/v1/catalog/search", params={"q": SEARCH_WORDS[i % len(SEARCH_WORDS)]}),
        "product.page": lambda c, i: c.get(f"/catalog/{listings[i % len(listings)]}"),
        "product.page (sample)": lambda c, i: c.get(f"/catalog/{sampled[i % len(sampled)]}"),
        "sign-in.form": lambda c, i: c.get("/sign-in"),
        "sign-in (form + post)": sign_in,
        "api.me": lambda c, i: c.get("/api/v1/me", headers=auth),
        "api.registrations": lambda c, i: c.get("/api/v1/registrations", headers=auth),
        "certificate.verify": lambda c, i: c.post("/api/v1/registrations/certificates/verify", headers=auth,
                                                  json=certificates[i % len(certificates)]),
        "log.proof": lambda c, i: c.get("/api/v1/log/proof/inclusion", params={"index": i % seeded.tree_size}),
        "document.download": lambda c, i: c.get(downloads[i % len(downloads)][1], headers={
            "Authorization": f"Bearer {downloads[i % len(downloads)][0]}"}),
        "register (3 requests)": lambda c, i: register(c, auth, i),
    }


def register(client: Any, auth: dict[str, str], i: int) -> Any:
    """Create a registration, upload a small CSV, start processing (the pipeline's job, which a
    worker runs later, is not counted here: see ``pipeline_costs``)."""
    tag = f"{time.monotonic_ns()}-{i}"
    created = client.post("/api/v1/registrations", headers=auth,
                          json={"title_zh": f"成本测试 {tag}", "title_en": f"Cost test {tag}"})
    reg_id = int(created.json()["id"])
    body = ("编号,站点,数量\n" + "".join(f"{tag}-{n},站点{n % 7},{n}\n" for n in range(40))).encode()
    client.put(f"/api/v1/registrations/{reg_id}/files/cost-{tag}.csv", headers={**auth, "Content-Type": "text/csv"},
               content=body)
    return client.post(f"/api/v1/registrations/{reg_id}/process", headers=auth)


def _csrf_field(html: str) -> str:
    marker = 'name="csrf_token" value="'
    start = html.find(marker)
    return html[start + len(marker):html.find('"', start + len(marker))] if start >= 0 else ""


def measure(client: TestClient, call: Call, count: int, cold: bool) -> list[float]:
    """CPU milliseconds of each of ``count`` requests."""
    costs: list[float] = []
    for i in range(count):
        if cold:
            page_caches.clear()
        start = time.process_time()
        answer = call(client, i)
        costs.append((time.process_time() - start) * 1000)
        if answer.status_code >= 400:
            raise RuntimeError(f"{answer.request.url} answered {answer.status_code}: {answer.text[:300]}")
    return costs


def pipeline_costs(env: Environment, settings: Any) -> list[float]:
    """CPU milliseconds of each queued job, run one at a time in this process as a worker runs it
    (the registrations' pipelines: parsing, profiling, the Parquet file)."""
    database = Database(env.database_url)
    context, handlers = jobs.JobContext.build(database, settings), capabilities.job_handlers()
    costs: list[float] = []
    try:
        while (claimed := jobs.claim(database, list(handlers))) is not None:
            start = time.process_time()
            jobs.run_job(context, claimed.id, handlers[claimed.kind], claimed.attempt)
            costs.append((time.process_time() - start) * 1000)
    finally:
        database.dispose()
    return costs or [0.0]


class _AccessLogEnvironment(Environment):
    """The same data folder and database, served with the access log on."""

    def env(self) -> dict[str, str]:
        return {**super().env(), "QIANSHU_ACCESS_LOG": "true"}


def _group_cpu_ms(pgid: int) -> float:
    """CPU time (user + system) of every process in a process group, from /proc (Linux)."""
    ticks = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            ticks += int(fields[11]) + int(fields[12])
    return ticks * 1000 / os.sysconf("SC_CLK_TCK")


def _wait_for_jobs(env: Environment, timeout: float = 300.0) -> None:
    """Until no background job is queued or running (a pipeline running meanwhile would be counted)."""
    database = Database(env.database_url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            with database.unit_of_work(write=False) as db:
                if not db.scalar(select(func.count()).select_from(Job).where(Job.status.in_(("queued", "running")))):
                    return
            time.sleep(0.5)
    finally:
        database.dispose()


def server_costs(env: Environment, calls: dict[str, Call], count: int, batch: int = 10) -> None:
    """CPU of a real ``qianshu serve`` (one worker) per request over loopback HTTP, with the access
    log off (the production default) and on: two servers on the same data folder, requested in
    alternating batches so that both see the same machine. Registrations are left out: their
    pipelines run later, in the background, and would be counted against other routes."""
    servers = {False: Server(env, free_port(), 1, env.data_dir / "serve-quiet.log"),
               True: Server(_AccessLogEnvironment(**vars(env)), free_port(), 1, env.data_dir / "serve-logged.log")}
    timed = {name: call for name, call in calls.items() if not name.startswith("register")}
    costs: dict[bool, dict[str, float]] = {False: {}, True: {}}
    try:
        for server in servers.values():
            server.start()
            server.wait_ready()
        _wait_for_jobs(env)
        clients = {logged: httpx.Client(base_url=server.base_url, timeout=60) for logged, server in servers.items()}
        for name, call in timed.items():
            for logged, client in clients.items():
                call(client, 0)
                costs[logged][name] = 0.0
            for first in range(0, count, batch):
                for logged, client in clients.items():
                    pid = servers[logged].proc.pid  # type: ignore[union-attr]
                    before = _group_cpu_ms(pid)
                    for i in range(first, min(count, first + batch)):
                        call(client, i)
                    costs[logged][name] += _group_cpu_ms(pid) - before
        for client in clients.values():
            client.close()
    finally:
        for server in servers.values():
            server.stop()
    print(f"\nCPU ms of the server process per request, {count} requests per route, one at a time over HTTP")
    print(f"{'route':<24}{'log off':>10}{'log on':>10}{'on/off':>10}")
    for name in timed:
        off, on = costs[False][name] / count, costs[True][name] / count
        print(f"{name:<24}{off:>10.2f}{on:>10.2f}{on / max(off, 1e-6):>9.2f}×")


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--requests", type=int, default=40, help="requests per route and round")
    parser.add_argument("--server", action="store_true",
                        help="also measure a real `qianshu serve` per request, access log off and on")
    args = parser.parse_args(argv)
    env = prepare_environment(LoadConfig(database=args.database, pg_url=args.pg_url))
    try:
        run_init(env)
        seeded = seed(env, clients=3)
        # Jobs stay queued (as when `qianshu worker` runs them) and are timed apart, below: on
        # threads of this process they would be counted against whichever request ran meanwhile.
        settings = env.settings().model_copy(update={"run_jobs_in_process": False})
        app = create_app(settings)
        calls = routes(seeded, listings_with_sample(env))
        with TestClient(app, base_url="http://127.0.0.1") as client:
            for call in calls.values():  # one of each first: imports, compiled templates, pools
                call(client, 0)
            print(f"CPU ms per request, {args.requests} requests per route and round, {args.database}, one at a time")
            print(f"{'route':<24}{'cold p50':>10}{'cold p90':>10}{'warm p50':>10}{'warm p90':>10}{'cold/warm':>11}")
            for name, call in calls.items():
                cold = measure(client, call, args.requests, cold=True)
                for i in range(args.requests):  # the same requests once more, untimed: the caches fill
                    call(client, i)
                warm = measure(client, call, args.requests, cold=False)
                ratio = statistics.median(cold) / max(statistics.median(warm), 1e-6)
                print(f"{name:<24}{_p(cold, 50):>10.2f}{_p(cold, 90):>10.2f}{_p(warm, 50):>10.2f}"
                      f"{_p(warm, 90):>10.2f}{ratio:>10.2f}×")
            pipeline = pipeline_costs(env, settings)
            print(f"{'registration pipeline':<24}{_p(pipeline, 50):>10.2f}{_p(pipeline, 90):>10.2f}"
                  f"   (the job of each registration above, run one at a time: {len(pipeline)} jobs)")
        if args.server:
            server_costs(env, calls, args.requests)
    finally:
        teardown_environment(env)
    return 0


if __name__ == "__main__":
    sys.exit(main())
