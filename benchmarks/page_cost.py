"""CPU cost per request of the pages and API calls the load test's mix hits, in one process.

    python benchmarks/page_cost.py [--database sqlite|postgres] [--requests 40]

Seeds the demo exchange in a fresh data folder (on PostgreSQL a fresh database, dropped
afterwards) as ``benchmarks/load.py`` does, builds the app in this process and requests each
route of the load test's mix ``--requests`` times through the ASGI test client, one at a time.
It measures CPU time (``time.process_time``: this process only, so other work on the machine
does not inflate it) and prints the median and p90 per route in milliseconds, for two rounds
in the same run:

- **cold**: the page caches (``qianshu.catalog.page_cache.page_caches``) emptied before every
  request: what each request cost before the caches, and what the first view of a product
  costs now;
- **warm**: the steady state, the caches filled by earlier requests.

The ratio cold / warm is the caches' gain; ``/healthz`` (no session, no database) is the bare
floor of the same client and app.
"""

from __future__ import annotations

import argparse
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

from benchmarks.load import (  # noqa: E402
    DEFAULT_PG_URL,
    SEARCH_WORDS,
    LoadConfig,
    prepare_environment,
    run_init,
    seed,
    teardown_environment,
)
from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import select  # noqa: E402

from qianshu.catalog.models import Listing  # noqa: E402
from qianshu.catalog.page_cache import page_caches  # noqa: E402
from qianshu.core.db import Database  # noqa: E402
from qianshu.demo.seed import DEMO_PASSWORD  # noqa: E402
from qianshu.registry.models import Registration  # noqa: E402
from qianshu.web.app import create_app  # noqa: E402

Call = Callable[[TestClient, int], Any]


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
    }


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


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--requests", type=int, default=40, help="requests per route and round")
    args = parser.parse_args(argv)
    env = prepare_environment(LoadConfig(database=args.database, pg_url=args.pg_url))
    try:
        run_init(env)
        seeded = seed(env, clients=3)
        app = create_app(env.settings())
        calls = routes(seeded, listings_with_sample(env))
        with TestClient(app, base_url="http://127.0.0.1") as client:
            for call in calls.values():  # one of each first: imports, compiled templates, pools
                call(client, 0)
            print(f"CPU ms per request, {args.requests} requests per route and round, {args.database}, one at a time")
            print(f"{'route':<24}{'cold p50':>10}{'cold p90':>10}{'warm p50':>10}{'warm p90':>10}{'cold/warm':>11}")
            for name, call in calls.items():
                cold = measure(client, call, args.requests, cold=True)
                warm = measure(client, call, args.requests, cold=False)
                ratio = statistics.median(cold) / max(statistics.median(warm), 1e-6)
                print(f"{name:<24}{_p(cold, 50):>10.2f}{_p(cold, 90):>10.2f}{_p(warm, 50):>10.2f}"
                      f"{_p(warm, 90):>10.2f}{ratio:>10.2f}×")
    finally:
        teardown_environment(env)
    return 0


if __name__ == "__main__":
    sys.exit(main())
