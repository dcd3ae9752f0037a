"""Catalogue routes by role. "own" objects belong to the acting user's organisation,
"other" ones to a third organisation; managing a product needs an approved organisation
that holds it, reviewing needs an operator, answering a demand a data merchant."""

from __future__ import annotations

import itertools
from typing import Any

from qianshu.catalog import follows, service
from qianshu.catalog.models import Demand
from qianshu.catalog.schemas import ListingIn, PlanIn
from qianshu.core.actor import Actor
from qianshu.core.timeutil import utcnow
from qianshu.registry.models import Registration
from tests.permission_support import ACTIVE, EVERYONE, NOBODY, SIGNED_IN, Row

_n = itertools.count(1)
MERCHANTS = frozenset({"member", "admin"})  # the role users belong to a data merchant
OWN = lambda c: {"listing_id": c["own_listing"]}  # noqa: E731 - table of small lambdas
OTHER = lambda c: {"listing_id": c["other_listing"]}  # noqa: E731

ROWS = {
    ("GET", "/api/v1/catalog/search"): Row(EVERYONE, query="?q=交通"),
    ("GET", "/api/v1/catalog/listings/{listing_id}"): Row(EVERYONE, params=OTHER),
    ("GET", "/api/v1/catalog/listings/{listing_id}/history"): Row(EVERYONE, params=OTHER),
    ("GET", "/api/v1/catalog/mine"): Row(SIGNED_IN),
    ("POST", "/api/v1/catalog/listings"): Row(ACTIVE, body=lambda c: {"registration_id": c["spare_registration"]}),
    ("PATCH", "/api/v1/catalog/listings/{listing_id}"): Row(ACTIVE, params=OWN,
                                                            body=lambda c: {"version": 99, "title_zh": "改"}),
    ("POST", "/api/v1/catalog/listings/{listing_id}/plans"): Row(
        ACTIVE, params=OWN, body=lambda c: {"kind": "free", "delivery_modes": ["download"]}),
    ("DELETE", "/api/v1/catalog/listings/{listing_id}/plans/{plan_id}"): Row(
        ACTIVE, params=lambda c: {"listing_id": c["own_listing"], "plan_id": c["own_plan"]}),
    ("POST", "/api/v1/catalog/listings/{listing_id}/submit"): Row(ACTIVE, params=OWN, body=lambda c: {}),
    ("POST", "/api/v1/catalog/listings/{listing_id}/pause"): Row(ACTIVE, params=OWN, body=lambda c: {"reason": "x"}),
    ("POST", "/api/v1/catalog/listings/{listing_id}/resume"): Row(ACTIVE, params=OWN, body=lambda c: {}),
    ("POST", "/api/v1/catalog/listings/{listing_id}/delist"): Row(ACTIVE, params=OWN, body=lambda c: {"reason": "x"}),
    ("GET", "/api/v1/catalog/review"): Row(frozenset({"operator"})),
    ("POST", "/api/v1/catalog/listings/{listing_id}/review/{decision}"): Row(
        frozenset({"operator"}), params=lambda c: {"listing_id": c["pending_listing"], "decision": "approve"},
        body=lambda c: {}),
    ("PUT", "/api/v1/catalog/listings/{listing_id}/follow"): Row(SIGNED_IN, params=OTHER),
    ("DELETE", "/api/v1/catalog/listings/{listing_id}/follow"): Row(SIGNED_IN, params=OTHER),
    ("GET", "/api/v1/catalog/follows"): Row(SIGNED_IN),
    ("GET", "/api/v1/catalog/notifications"): Row(SIGNED_IN),
    ("POST", "/api/v1/catalog/notifications/read"): Row(SIGNED_IN, body=lambda c: {}),
    ("GET", "/api/v1/catalog/saved-searches"): Row(SIGNED_IN),
    ("POST", "/api/v1/catalog/saved-searches"): Row(SIGNED_IN, body=lambda c: {"name": "s", "params": {"q": "x"}}),
    ("DELETE", "/api/v1/catalog/saved-searches/{search_id}"): Row(SIGNED_IN,
                                                                  params=lambda c: {"search_id": c["own_search"]}),
    ("GET", "/api/v1/catalog/demands"): Row(EVERYONE),
    ("GET", "/api/v1/catalog/demands/matching"): Row(ACTIVE),
    ("POST", "/api/v1/catalog/demands"): Row(ACTIVE, body=lambda c: {"title": "需要交通数据"}),
    ("GET", "/api/v1/catalog/demands/{demand_id}"): Row(EVERYONE, params=lambda c: {"demand_id": c["other_demand"]}),
    ("POST", "/api/v1/catalog/demands/{demand_id}/responses"): Row(
        MERCHANTS, params=lambda c: {"demand_id": c["other_demand"]}, body=lambda c: {"planned_title": "计划产品"}),
    ("POST", "/api/v1/catalog/demands/{demand_id}/choose/{response_id}"): Row(
        NOBODY, params=lambda c: {"demand_id": c["other_demand"], "response_id": 1}, body=lambda c: {}),
    ("POST", "/api/v1/catalog/demands/{demand_id}/close"): Row(
        NOBODY, params=lambda c: {"demand_id": c["other_demand"]}, body=lambda c: {}),
    ("GET", "/api/v1/catalog/dcat.jsonld"): Row(EVERYONE),
    ("GET", "/api/v1/catalog/dcat.ttl"): Row(EVERYONE),
    ("GET", "/api/v1/catalog/listings/{listing_id}/dcat.jsonld"): Row(EVERYONE, params=OTHER),
    ("GET", "/api/v1/catalog/listings/{listing_id}/dcat.ttl"): Row(EVERYONE, params=OTHER),
    ("GET", "/api/v1/catalog/licences"): Row(EVERYONE),
    # portal pages
    ("GET", "/catalog"): Row(EVERYONE, query="?q=交通"),
    ("GET", "/catalog/mine"): Row(SIGNED_IN),
    ("POST", "/catalog/mine"): Row(ACTIVE, body=lambda c: {"registration_id": c["spare_registration"]}),
    ("GET", "/catalog/{listing_id:int}/edit"): Row(ACTIVE, params=OWN),
    ("POST", "/catalog/{listing_id:int}/edit"): Row(ACTIVE, params=OWN, body=lambda c: {"version": "99"}),
    ("POST", "/catalog/{listing_id:int}/plans"): Row(ACTIVE, params=OWN, body=lambda c: {"kind": "free"}),
    ("POST", "/catalog/{listing_id:int}/plans/{plan_id:int}/withdraw"): Row(
        ACTIVE, params=lambda c: {"listing_id": c["own_listing"], "plan_id": c["own_plan"]}),
    ("POST", "/catalog/{listing_id:int}/{action}"): Row(ACTIVE, params=lambda c: {"listing_id": c["own_listing"],
                                                                                  "action": "pause"}),
    ("GET", "/catalog/{listing_id:int}"): Row(EVERYONE, params=OTHER),
    ("GET", "/catalog/follows"): Row(SIGNED_IN),
    ("POST", "/catalog/notifications/read"): Row(SIGNED_IN),
    ("POST", "/catalog/saved-searches"): Row(SIGNED_IN, body=lambda c: {"name": "s", "q": "x"}),
    ("POST", "/catalog/saved-searches/{search_id:int}/delete"): Row(SIGNED_IN,
                                                                    params=lambda c: {"search_id": c["own_search_2"]}),
    ("GET", "/demands"): Row(EVERYONE),
    ("POST", "/demands"): Row(ACTIVE, body=lambda c: {"title": "需要气象数据"}),
    ("GET", "/demands/{demand_id:int}"): Row(EVERYONE, params=lambda c: {"demand_id": c["other_demand"]}),
    ("POST", "/demands/{demand_id:int}/{action}"): Row(NOBODY, params=lambda c: {"demand_id": c["other_demand"],
                                                                                 "action": "close"}),
    ("GET", "/operator/listings"): Row(frozenset({"operator"})),
    # the addresses of the catalogue's linked data
    ("GET", "/regions/{code}"): Row(EVERYONE, params=lambda c: {"code": "520102"}),
    ("GET", "/industries/{code}"): Row(EVERYONE, params=lambda c: {"code": "G54"}),
    ("GET", "/organisations/{org_id:int}"): Row(EVERYONE, params=lambda c: {"org_id": c["other_org"]}),
    ("GET", "/licences/{key}"): Row(EVERYONE, params=lambda c: {"key": "cc-by-4.0"}),
    ("GET", "/catalog/{listing_id:int}/plans/{plan_id:int}/policy"): Row(
        EVERYONE, params=lambda c: {"listing_id": c["other_listing"], "plan_id": c["other_plan"]}),
    ("POST", "/operator/listings/{listing_id:int}/{decision}"): Row(
        frozenset({"operator"}), params=lambda c: {"listing_id": c["pending_listing"], "decision": "approve"}),
}


def _registration(db: Any, org_id: int) -> Registration:
    n = next(_n)
    reg = Registration(holder_org_id=org_id, status="issued", number=f"QS-DR-2026-9{n:05d}",
                       title_zh=f"矩阵测试数据{n}", title_en=f"Matrix data {n}", description_zh="", description_en="",
                       industry_code="G54", division_code="520102", update_frequency="daily",
                       classification="general", personal_info="none", row_count=10, column_count=2,
                       issued_at=utcnow())
    db.add(reg)
    db.flush()
    return reg


def _listing(db: Any, holder: Actor, operator: Actor, status: str) -> tuple[int, int]:
    reg = _registration(db, holder.org_id or 0)
    listing = service.create_listing(db, holder, ListingIn(registration_id=reg.id))
    plan = service.add_plan(db, holder, listing.id, PlanIn(kind="one_time", price="100", delivery_modes=["download"]))
    service.submit_listing(db, holder, listing.id)
    if status == "listed":
        service.review_listing(db, operator, listing.id, "approve")
    return listing.id, plan.id


def setup(ctx: dict[str, Any], db: Any, make: Any, actor: Actor | None, env: dict[str, Any]) -> None:
    operator = make.actor(make.operator())
    third = make.actor(make.user())
    ctx["other_listing"], ctx["other_plan"] = _listing(db, third, operator, "listed")
    ctx["other_org"] = third.org_id
    ctx["pending_listing"], _ = _listing(db, third, operator, "pending")
    # The acting user's own product: listed through an approved stand-in of its organisation,
    # so that even a pending organisation "owns" one (and must still be refused).
    owner = actor if actor is not None else third
    stand_in = Actor(user_id=owner.user_id or third.user_id, org_id=owner.org_id, org_role="admin",
                     org_status="approved", org_type=owner.org_type, via="api")
    ctx["own_listing"], ctx["own_plan"] = _listing(db, stand_in, operator, "listed")
    ctx["spare_registration"] = _registration(db, owner.org_id or 0).id
    demand = Demand(buyer_org_id=third.org_id or 0, created_by=third.user_id, title="需要医保数据", is_public=True)
    db.add(demand)
    db.flush()
    ctx["other_demand"] = demand.id
    searcher = owner if actor else third
    ctx["own_search"] = follows.save_search(db, searcher, "s", {"q": "x"}).id
    ctx["own_search_2"] = follows.save_search(db, searcher, "s2", {"q": "y"}).id
