"""The demo's deliveries: the demo buyer (buyer.logistics@qianshu.demo) holds, besides the exchange
seed's trades, two metered contracts (per 1,000 rows, so no money moves before use) for a product
offered by download and by Delta Sharing: one delivered by download, with a signed link already
issued, and one by Delta Sharing, with a token whose profile file is written to the data folder
(``demo/<share>.share``: the token is shown once, so the demo keeps it there for whoever runs it).
The seller allows five keyed decoy rows per copy of that product. Nothing is marked or copied here:
files are written when they are fetched."""

from __future__ import annotations

import contextlib
import json

from sqlalchemy import select

from qianshu.accounts.models import User
from qianshu.catalog.models import Listing
from qianshu.catalog.policy import terms_from_odrl
from qianshu.core.db import Database
from qianshu.core.errors import QianshuError
from qianshu.core.settings import Settings
from qianshu.delivery import delta_tokens, links
from qianshu.delivery import service as delivery_service
from qianshu.demo.registrations import actor_of
from qianshu.exchange import contracts as exchange_contracts
from qianshu.exchange import orders as exchange_orders
from qianshu.exchange.schemas import OrderIn

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
        for mode in ("download", "delta_sharing"):
            order = exchange_orders.place_order(db, buyer, OrderIn(listing_id=listing.id, plan_id=plan.id,
                                                                   purpose=purpose, scenario=SCENARIO,
                                                                   delivery_mode=mode))
            contract = exchange_orders.accept_order(db, seller, order.id)
            exchange_contracts.sign(db, seller, contract.id)
            exchange_contracts.sign(db, buyer, contract.id)
            contracts[mode] = contract
        # The seller allows keyed decoy rows in the product's copies (before any copy exists).
        with contextlib.suppress(QianshuError):  # a product whose rows nothing identifies: no watermark
            delivery_service.set_watermark_policy(db, seller, settings, listing.id, [], {}, decoys=5)
        links.issue_link(db, buyer, settings, contracts["download"].id, "xlsx")
        row, token = delta_tokens.issue_token(db, buyer, settings, contracts["delta_sharing"].id)
        folder = settings.data_dir / "demo"
        folder.mkdir(parents=True, exist_ok=True)
        profile = folder / f"{delta_tokens.share_name(contracts['delta_sharing'].number)}.share"
        profile.write_text(json.dumps(delta_tokens.profile(settings, token, row), indent=2), encoding="utf-8")
        profile.chmod(0o600)
