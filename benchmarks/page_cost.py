"""CPU cost per request of the pages and API calls the load test's mix hits, in one process.

    python benchmarks/page_cost.py [--database sqlite|postgres] [--requests 40] [--server]
                                   [--compare-with CHECKOUT] [--server-only] [--only ROUTES]

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
and the ratio on / off. Each server first answers a round of the same requests untimed (the
steady state: templates compiled, samples read); only the web process is counted (``serve``'s
job worker is a child process of its own).

With ``--compare-with CHECKOUT`` it does the same with this checkout's server against one
started from ``CHECKOUT/src`` (the code before a change, e.g. ``git worktree add /tmp/before
<commit>``), on the same data, and prints before, after and the ratio after / before per route:
the two are measured in the same run, so a busy machine slows both alike. ``--server-only``
skips the in-process rounds; ``--only`` names the routes to measure. The last route, ``mix (97
actions)``, is the load test's mix of actions (trades left out) in a fixed shuffled order.
"""

from __future__ import annotations

import argparse
import os
import random
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

    calls: dict[str, Call] = {
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
    # The load test's mix (trades left out) in one fixed shuffled order: what a full collection of
    # the garbage collector costs depends on what every route allocates between two of them.
    order = [name for name, weight in MIX_OF_ROUTES.items() for _ in range(weight)]
    random.Random(0).shuffle(order)
    calls["mix (97 actions)"] = lambda c, i: calls[order[i % len(order)]](c, i // len(order))
    return calls


# The load test's actions (benchmarks/load.py MIX) as the routes above, per 100 actions.
MIX_OF_ROUTES = {"search.portal": 10, "search.api": 10, "product.page": 15, "sign-in (form + post)": 4,
                 "api.me": 12, "api.registrations": 8, "register (3 requests)": 8, "certificate.verify": 10,
                 "log.proof": 13, "document.download": 10}


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


class _SourceEnvironment(Environment):
    """The same data folder and database, served by the code of another checkout (``--compare-with``)."""

    source: Path = ROOT

    def env(self) -> dict[str, str]:
        env = super().env()
        env["PYTHONPATH"] = os.pathsep.join([str(self.source / "src"), *env["PYTHONPATH"].split(os.pathsep)[1:]])
        return env


def _process_cpu_ms(pid: int) -> float:
    """CPU time (user + system, every thread) of one process, from /proc (Linux; 10 ms ticks)."""
    fields = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


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


def alternating_server_costs(env: Environment, servers: dict[str, Server], calls: dict[str, Call], count: int,
                             batch: int = 10) -> dict[str, dict[str, float]]:
    """CPU ms per request of each server's web process (``qianshu serve`` with one worker runs the
    app in its own process; its job worker is a child process, not counted), for each route:
    every server first gets a round of ``count`` requests per route, untimed (compiled templates,
    caches: the steady state), then ``count`` timed ones, requested in alternating batches so that
    all the servers see the same machine."""
    costs: dict[str, dict[str, float]] = {label: {} for label in servers}
    clients: dict[str, httpx.Client] = {}
    try:
        for server in servers.values():
            server.start()
        for server in servers.values():
            server.wait_ready()
        _wait_for_jobs(env)
        clients = {label: httpx.Client(base_url=server.base_url, timeout=60) for label, server in servers.items()}
        for name, call in calls.items():
            for client in clients.values():
                for i in range(count):
                    call(client, i)
            for label in clients:
                costs[label][name] = 0.0
            for first in range(0, count, batch):
                for label, client in clients.items():
                    pid = servers[label].proc.pid  # type: ignore[union-attr]
                    before = _process_cpu_ms(pid)
                    for i in range(first, min(count, first + batch)):
                        call(client, i)
                    costs[label][name] += _process_cpu_ms(pid) - before
    finally:
        for client in clients.values():
            client.close()
        for server in servers.values():
            server.stop()
    return {label: {name: total / count for name, total in by_route.items()} for label, by_route in costs.items()}


def server_costs(env: Environment, calls: dict[str, Call], count: int) -> None:
    """CPU of a real ``qianshu serve`` (one worker) per request over loopback HTTP, with the access
    log off (the production default) and on, on the same data folder. Registrations are left out
    (the log's share of three requests and a pipeline is not the question)."""
    servers = {"off": Server(env, free_port(), 1, env.data_dir / "serve-quiet.log"),
               "on": Server(_AccessLogEnvironment(**vars(env)), free_port(), 1, env.data_dir / "serve-logged.log")}
    timed = {name: call for name, call in calls.items() if not name.startswith("register")}
    costs = alternating_server_costs(env, servers, timed, count)
    print(f"\nCPU ms of the server process per request, {count} requests per route, one at a time over HTTP")
    print(f"{'route':<24}{'log off':>10}{'log on':>10}{'on/off':>10}")
    for name in timed:
        off, on = costs["off"][name], costs["on"][name]
        print(f"{name:<24}{off:>10.2f}{on:>10.2f}{on / max(off, 1e-6):>9.2f}×")


def compare_servers(env: Environment, calls: dict[str, Call], count: int, baseline: Path) -> None:
    """CPU per request of this checkout's ``qianshu serve`` against another checkout's (``baseline``,
    e.g. ``git worktree add /tmp/before <commit>``), on the same data folder, in the same run."""
    before_env = _SourceEnvironment(**vars(env))
    before_env.source = baseline
    servers = {"before": Server(before_env, free_port(), 1, env.data_dir / "serve-before.log"),
               "after": Server(env, free_port(), 1, env.data_dir / "serve-after.log")}
    costs = alternating_server_costs(env, servers, calls, count)
    print(f"\nCPU ms of the server process per request, {count} requests per route, one at a time over HTTP,"
          f" {baseline} (before) and {ROOT} (after), in alternating batches")
    print(f"{'route':<24}{'before':>10}{'after':>10}{'after/before':>14}")
    for name in calls:
        before, after = costs["before"][name], costs["after"][name]
        print(f"{name:<24}{before:>10.2f}{after:>10.2f}{after / max(before, 1e-6):>13.2f}×")


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
    parser.add_argument("--server-only", action="store_true", help="skip the in-process rounds")
    parser.add_argument("--only", default="", help="comma-separated route names (as printed) to measure")
    parser.add_argument("--compare-with", type=Path, metavar="CHECKOUT",
                        help="also measure a real `qianshu serve` of this checkout (its src/) against one of "
                             "CHECKOUT, e.g. `git worktree add /tmp/before <commit>`, in alternating batches")
    args = parser.parse_args(argv)
    env = prepare_environment(LoadConfig(database=args.database, pg_url=args.pg_url))
    try:
        run_init(env)
        seeded = seed(env, clients=3)
        # Jobs stay queued (as when `qianshu worker` runs them) and are timed apart, below: on
        # threads of this process they would be counted against whichever request ran meanwhile.
        settings = env.settings().model_copy(update={"run_jobs_in_process": False})
        calls = routes(seeded, listings_with_sample(env))
        if args.only:
            calls = {name: call for name, call in calls.items() if name in args.only.split(",")}
        if not args.server_only:
            in_process_costs(env, settings, calls, args.requests, args.database)
        if args.server:
            server_costs(env, calls, args.requests)
        if args.compare_with:
            compare_servers(env, calls, args.requests, args.compare_with.resolve())
    finally:
        teardown_environment(env)
    return 0


def in_process_costs(env: Environment, settings: Any, calls: dict[str, Call], count: int, database: str) -> None:
    """Each route through the ASGI test client in this process, cold and warm (see the top)."""
    app = create_app(settings)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        for call in calls.values():  # one of each first: imports, compiled templates, pools
            call(client, 0)
        print(f"CPU ms per request, {count} requests per route and round, {database}, one at a time")
        print(f"{'route':<24}{'cold p50':>10}{'cold p90':>10}{'warm p50':>10}{'warm p90':>10}{'cold/warm':>11}")
        for name, call in calls.items():
            cold = measure(client, call, count, cold=True)
            for i in range(count):  # the same requests once more, untimed: the caches fill
                call(client, i)
            warm = measure(client, call, count, cold=False)
            ratio = statistics.median(cold) / max(statistics.median(warm), 1e-6)
            print(f"{name:<24}{_p(cold, 50):>10.2f}{_p(cold, 90):>10.2f}{_p(warm, 50):>10.2f}"
                  f"{_p(warm, 90):>10.2f}{ratio:>10.2f}×")
        pipeline = pipeline_costs(env, settings)
        print(f"{'registration pipeline':<24}{_p(pipeline, 50):>10.2f}{_p(pipeline, 90):>10.2f}"
              f"   (the job of each registration above, run one at a time: {len(pipeline)} jobs)")


if __name__ == "__main__":
    sys.exit(main())
