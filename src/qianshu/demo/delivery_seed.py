"""The demo's deliveries: the demo buyer (buyer.logistics@qianshu.demo) holds, besides the exchange
seed's trades, two metered contracts (per 1,000 rows, so no money moves before use) for a product
offered by download and by Delta Sharing: one delivered by download, with a signed link already
issued, and one by Delta Sharing, with a token whose profile file is written to the data folder
(``demo/<share>.share``: the token is shown once, so the demo keeps it there for whoever runs it).
The seller allows five keyed decoy rows per copy of that product.

The download contract was signed last month, and last month its buyer fetched one copy by a signed
link (the real fetch: checked, written, recorded, its rows reported to billing with the clock of
then); the month is over, so the billing run (``payments.bill_usage_due``, the periodic task's
work) bills and charges it: the bills page and the contract page show a closed bill. A second link,
issued now, waits unfetched; its file is written when it is fetched."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from qianshu.accounts.models import User
from qianshu.catalog.models import Listing
from qianshu.catalog.policy import terms_from_odrl
from qianshu.core.actor import Actor
from qianshu.core.db import Database
from qianshu.core.errors import QianshuError
from qianshu.core.settings import Settings
from qianshu.core.timeutil import SHANGHAI, utcnow
from qianshu.delivery import delta_tokens, links
from qianshu.delivery import service as delivery_service
from qianshu.delivery.models import DownloadLink
from qianshu.demo.registrations import actor_of
from qianshu.exchange import contracts as exchange_contracts
from qianshu.exchange import orders as exchange_orders
from qianshu.exchange import payments
from qianshu.exchange.schemas import OrderIn
from qianshu.exchange.settings import ExchangeSettings

SCENARIO = "按区县统计配送需求，用于规划冷链线路（演示：文件下载与 Delta Sharing 交付）。"


def seed(database: Database, settings: Settings, org_ids: dict[str, int]) -> None:
    """Both of the demo's delivery steps: downloads and Delta Sharing here, then the data API and
    the sandbox (demo/delivery_api_seed.py)."""
    from qianshu.demo import delivery_api_seed

    seed_downloads_and_sharing(database, settings, org_ids)
    delivery_api_seed.seed(database, settings, org_ids)


def seed_downloads_and_sharing(database: Database, settings: Settings, org_ids: dict[str, int]) -> None:
    with database.unit_of_work() as db:
        buyer = actor_of(db, "buyer.logistics@qianshu.demo")
        offer = None
        for listing in db.scalars(select(Listing).where(Listing.status == "listed", Listing.org_id != buyer.org_id)
                                  .order_by(Listing.id)):
            for plan in listing.plans:
                purposes = terms_from_odrl(plan.policy or {}).purposes
                if plan.active and plan.kind == "per_1000_rows" and purposes and {"download", "delta_sharing"} <= set(
                        plan.delivery_modes or []):
                    offer = (listing, plan, purposes[0])
                    break
            if offer:
                break
        if offer is None:
            return
        listing, plan, purpose = offer
        email = db.scalar(select(User.email).where(User.org_id == listing.org_id, User.org_role == "admin")
                          .order_by(User.id))
        if email is None:
            return
        seller = actor_of(db, email)
        contracts = {}
        last_month = _last_month()
        for mode in ("download", "delta_sharing"):
            at = last_month - timedelta(days=2) if mode == "download" else None
            order = exchange_orders.place_order(db, buyer, OrderIn(listing_id=listing.id, plan_id=plan.id,
                                                                   purpose=purpose, scenario=SCENARIO,
                                                                   delivery_mode=mode), at=at)
            contract = exchange_orders.accept_order(db, seller, order.id, at=at)
            exchange_contracts.sign(db, seller, contract.id, at=at)
            exchange_contracts.sign(db, buyer, contract.id, at=at)
            contracts[mode] = contract
        # The seller allows keyed decoy rows in the product's copies (before any copy exists).
        with contextlib.suppress(QianshuError):  # a product whose rows nothing identifies: no watermark
            delivery_service.set_watermark_policy(db, seller, settings, listing.id, [], {}, decoys=5)
        _fetched_last_month(db, settings, buyer, contracts["download"].id, last_month)
        links.issue_link(db, buyer, settings, contracts["download"].id, "xlsx")
        row, token = delta_tokens.issue_token(db, buyer, settings, contracts["delta_sharing"].id)
        folder = settings.data_dir / "demo"
        folder.mkdir(parents=True, exist_ok=True)
        profile = folder / f"{delta_tokens.share_name(contracts['delta_sharing'].number)}.share"
        profile.write_text(json.dumps(delta_tokens.profile(settings, token, row), indent=2), encoding="utf-8")
        profile.chmod(0o600)


def _last_month() -> datetime:
    """A working moment of the previous Asia/Shanghai month: ten days before this month began."""
    month_start = utcnow().astimezone(SHANGHAI).replace(day=1, hour=10, minute=0, second=0, microsecond=0)
    return (month_start - timedelta(days=10)).astimezone(UTC)


def _fetched_last_month(db: Session, settings: Settings, buyer: Actor, contract_id: int, at: datetime) -> None:
    """A link issued and fetched at ``at`` (the real steps of a download, with that clock), then the
    billing run of now: the month of ``at`` is over, so its usage is billed and charged."""
    link = links.issue_link(db, buyer, settings, contract_id, "parquet", at=at)
    prepared = links.prepare_fetch(db, settings, contract_id, link.id, *_signed(settings, link), now=at)
    folder = settings.data_dir / "tmp"
    folder.mkdir(parents=True, exist_ok=True)
    destination = folder / f"demo-download-{link.id}.parquet"
    try:
        rows, sha256 = links.write_fetch(prepared, destination)
    finally:
        destination.unlink(missing_ok=True)
    client = Actor(user_id=None, via="download", display_name="download link")
    links.record_fetch(db, client, prepared, rows, sha256, at=at + timedelta(minutes=3))
    payments.bill_usage_due(db, settings.section(ExchangeSettings))


def _signed(settings: Settings, link: DownloadLink) -> tuple[str, str]:
    """The ``expires`` and ``signature`` of the link's address, as its buyer's browser sends them."""
    query = parse_qs(urlsplit(links.link_path(settings, link)).query)
    return query["expires"][0], query["signature"][0]
