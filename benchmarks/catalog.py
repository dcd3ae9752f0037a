"""Catalogue search under load: 100,000 listings, 32 concurrent clients over loopback HTTP.

    python benchmarks/catalog.py [--listings 100000] [--clients 32] [--seconds 15]

Seeds a fresh SQLite data folder with realistic listings (zh/en titles and descriptions,
industries, regions, delivery modes, prices), starts the app with uvicorn in a subprocess
on 127.0.0.1, then measures, in the same run, a bare endpoint of the same app (``/healthz``,
the ceiling) and the search API with a mix of Chinese, English and mixed queries and facets.
Prints p50/p95/p99 latency and requests/s for both, and the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import insert

from qianshu.accounts.models import Organisation
from qianshu.bootstrap import initialise
from qianshu.catalog.models import DELIVERY_MODES, Listing
from qianshu.catalog.tokens import index_tokens
from qianshu.catalog.vocab import INDUSTRY_DIVISIONS, prefecture_of, region_search_text
from qianshu.core.db import Database
from qianshu.core.identifiers import guizhou_divisions, uscc_check_char
from qianshu.core.settings import Settings
from qianshu.core.timeutil import utcnow
from qianshu.registry.models import Registration

SUBJECTS = [
    ("交通流量", "traffic flow"),
    ("公交客流", "bus ridership"),
    ("气象观测", "weather observations"),
    ("医保结算", "medical insurance settlements"),
    ("门诊量", "outpatient visits"),
    ("农产品价格", "farm prices"),
    ("旅游客流", "tourist visitors"),
    ("电力负荷", "power load"),
    ("物流运单", "logistics waybills"),
    ("电商零售", "online retail"),
    ("空气质量", "air quality"),
    ("水质监测", "water quality"),
    ("企业信用", "company credit"),
    ("茶叶产量", "tea output"),
    ("煤矿安全", "mine safety"),
]
FORMS = [
    ("统计数据", "statistics"),
    ("明细数据", "records"),
    ("月报", "monthly report"),
    ("实时数据", "real-time feed"),
    ("指数", "index"),
]
QUERIES = [
    "交通",
    "医保",
    "气象",
    "贵阳 traffic 2024",
    "weather",
    "遵义 医保",
    "旅游",
    "logistics",
    "电力 负荷",
    "air quality",
    "茶叶",
    "公交 bus",
    "农产品价格",
    "煤矿",
    "2023",
    "数据",
]
FACETS = [
    {},
    {"industry": "G"},
    {"region": "520100"},
    {"delivery": "api"},
    {"price": "1k_10k"},
    {"sort": "newest"},
    {"sort": "price_asc"},
    {"classification": "important"},
]


def seed(database: Database, count: int) -> None:
    rng = random.Random(42)
    divisions = [c for c in guizhou_divisions() if c != "520000"]
    industries = list(INDUSTRY_DIVISIONS)
    freqs = ["daily", "monthly", "realtime", "weekly", "yearly"]
    with database.unit_of_work() as db:
        body = "91520100MA6BENCH1"
        org = Organisation(
            name="基准测试数据公司",
            name_en="Benchmark Data Co.",
            org_type="data_merchant",
            uscc=body + uscc_check_char(body),
            division_code="520102",
            contact_name="测试",
            contact_email="bench@example.cn",
            status="approved",
        )
        db.add(org)
        db.flush()
        org_id = org.id
    now = utcnow()
    batch = 5000
    for start in range(0, count, batch):
        n = min(batch, count - start)
        with database.unit_of_work() as db:
            conn = db.connection()
            regs = [
                {
                    "holder_org_id": org_id,
                    "status": "issued",
                    "title_zh": "x",
                    "version": 1,
                    "rights": [],
                    "declared_quality": {},
                    "measurements": {},
                    "created_at": now,
                    "updated_at": now,
                }
                for _ in range(n)
            ]
            conn.execute(insert(Registration), regs)
            max_id = conn.exec_driver_sql("SELECT max(id) FROM registrations").scalar() or 0
            rows = []
            for k in range(n):
                (sz, se), (fz, fe) = rng.choice(SUBJECTS), rng.choice(FORMS)
                division = rng.choice(divisions)
                prefecture = prefecture_of(division)
                names = guizhou_divisions()
                year = rng.choice([2021, 2022, 2023, 2024, 2025])
                title_zh = f"{names[prefecture]}{names.get(division, '')}{sz}{fz}"
                title_en = f"{se.capitalize()} {fe} {year}"
                desc_zh = f"{year}年{names[prefecture]}{sz}{fz}，按日汇总，来源于业务系统。"
                desc_en = f"{se.capitalize()} {fe} for {year}, aggregated daily from operational systems."
                industry = rng.choice(industries)
                price = rng.choice([None, 0, 9900, 120000, 880000, 5000000, 36000000])
                modes = rng.sample(DELIVERY_MODES, rng.randint(1, 3))
                rows.append(
                    {
                        "registration_id": max_id - n + 1 + k,
                        "org_id": org_id,
                        "status": "listed",
                        "title_zh": title_zh,
                        "title_en": title_en,
                        "description_zh": desc_zh,
                        "description_en": desc_en,
                        "tags": [sz, se],
                        "industry_code": industry,
                        "industry_section": industry[0],
                        "division_code": division,
                        "prefecture_code": prefecture,
                        "data_type": rng.choice(["table", "time_series", "geospatial"]),
                        "update_frequency": rng.choice(freqs),
                        "classification": rng.choice(["general"] * 8 + ["important"]),
                        "personal_info": "none",
                        "delivery_mask": sum(1 << DELIVERY_MODES.index(m) for m in modes),
                        "min_price_fen": price,
                        "views": rng.randint(0, 5000),
                        "follower_count": 0,
                        "transaction_count": 0,
                        "popularity": rng.randint(0, 5000),
                        "search_title": index_tokens(title_zh, title_en),
                        "search_body": index_tokens(desc_zh, desc_en, sz, se, region_search_text(division, prefecture)),
                        "review_reason": "",
                        "listed_at": now,
                        "created_at": now,
                        "updated_at": now,
                        "version": 1,
                    }
                )
            conn.execute(insert(Listing), rows)
        print(f"  seeded {start + n:,} listings", end="\r", flush=True)
    with database.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA optimize")
        conn.exec_driver_sql("ANALYZE")
        conn.exec_driver_sql("INSERT INTO catalog_fts(catalog_fts) VALUES ('optimize')")
        conn.commit()
    print()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def load(base: str, paths: list[str], clients: int, seconds: float) -> tuple[list[float], float, int]:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:

        async def worker(seed: int) -> None:
            nonlocal errors
            rng = random.Random(seed)
            while time.perf_counter() < deadline:
                path = rng.choice(paths)
                t0 = time.perf_counter()
                response = await client.get(path)
                latencies.append(time.perf_counter() - t0)
                if response.status_code != 200:
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(clients)))
        elapsed = time.perf_counter() - started
    return latencies, elapsed, errors


def report(name: str, latencies: list[float], elapsed: float, errors: int) -> float:
    q = statistics.quantiles(latencies, n=100)
    rate = len(latencies) / elapsed
    print(
        f"{name:<8} n={len(latencies):>6}  p50={q[49] * 1000:6.1f} ms  p95={q[94] * 1000:6.1f} ms  "
        f"p99={q[98] * 1000:6.1f} ms  {rate:7.0f} req/s  errors={errors}"
    )
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--listings", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args()
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="qianshu-bench-"))
    fresh = not (data_dir / "qianshu.db").exists()
    settings = initialise(Settings(data_dir=data_dir))
    if fresh:
        print(f"seeding {args.listings:,} listings into {data_dir} …")
        t0 = time.perf_counter()
        database = Database(settings.effective_database_url)
        seed(database, args.listings)
        database.dispose()
        print(f"seeded in {time.perf_counter() - t0:.1f} s")
    port = free_port()
    env = {**os.environ, "QIANSHU_DATA_DIR": str(data_dir), "QIANSHU_RUN_JOBS_IN_PROCESS": "false"}
    server = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [
            sys.executable,
            "-m",
            "uvicorn",
            "qianshu.web.asgi:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        rng = random.Random(7)
        searches = []
        for _ in range(400):
            params = {"q": rng.choice(QUERIES), **rng.choice(FACETS)}
            searches.append("/api/v1/catalog/search?" + httpx.QueryParams(params).__str__())
        asyncio.run(load(base, searches[:50], 8, 2))  # warm up
        print(f"{args.clients} clients, {args.seconds:.0f} s each, {args.listings:,} listings, {os.cpu_count()} CPUs")
        bare = report("bare", *asyncio.run(load(base, ["/healthz"], args.clients, args.seconds)))
        search = report("search", *asyncio.run(load(base, searches, args.clients, args.seconds)))
        print(f"search / bare throughput: {search / bare:.2f}")
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
