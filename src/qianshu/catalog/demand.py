"""The demand pool: a buyer posts what data it needs; merchants answer with an existing or a
planned product; the buyer picks one answer.

    open ──choose an answer──▶ awarded
    open ──close (buyer)──────▶ closed

Public demands are searchable like products (same tokens, same full-text index).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from qianshu.catalog import follows, permissions
from qianshu.catalog.models import Demand, DemandResponse, Listing
from qianshu.catalog.schemas import DemandIn, DemandResponseIn
from qianshu.catalog.search_text import demand_search_text
from qianshu.core import audit
from qianshu.core.actor import Actor
from qianshu.core.errors import Conflict, InvalidInput, NotFound
from qianshu.core.identifiers import validate_division_code
from qianshu.core.money import Money
from qianshu.core.policy import allows, require
from qianshu.core.timeutil import utcnow
from qianshu.core.vocabulary import validate_industry_code


def _fen(text: str, field: str) -> int | None:
    if not text:
        return None
    value = Money.from_yuan(text, field).fen
    if value < 0:
        raise InvalidInput("{field} must be at least {min}.", field=field, min=0)
    return value


def post_demand(db: Session, actor: Actor, data: DemandIn) -> Demand:
    require(actor, "demand.post")
    low, high = _fen(data.budget_min, "budget_min"), _fen(data.budget_max, "budget_max")
    if low is not None and high is not None and low > high:
        raise InvalidInput("{field}: {reason}", field="budget_max", reason="is below the minimum budget")
    if data.division_code:
        validate_division_code(data.division_code)
    if data.industry_code:
        validate_industry_code(data.industry_code, sections=True)
    if data.deadline is not None and data.deadline < utcnow().date():
        raise InvalidInput("{field}: {reason}", field="deadline", reason="is in the past")
    demand = Demand(
        buyer_org_id=actor.org_id,
        created_by=actor.user_id,
        title=data.title,
        description=data.description,
        scenario=data.scenario,
        industry_code=data.industry_code,
        division_code=data.division_code,
        budget_min_fen=low,
        budget_max_fen=high,
        deadline=data.deadline,
        is_public=data.is_public,
    )
    _refresh_search_text(demand)
    db.add(demand)
    db.flush()
    audit.record(
        db,
        actor,
        "demand.posted",
        target_type="demand",
        target_id=demand.id,
        target_org_id=actor.org_id,
        title=demand.title,
    )
    return demand


def _refresh_search_text(demand: Demand) -> None:
    demand.search_title, demand.search_body = demand_search_text(
        title=demand.title, description=demand.description, scenario=demand.scenario,
        industry_code=demand.industry_code, division_code=demand.division_code)


def get_demand(db: Session, actor: Actor, demand_id: int) -> Demand:
    demand = db.get(Demand, demand_id)
    if demand is None or not allows(actor, "demand.read", permissions.demand(demand)):
        raise NotFound("No such demand.")
    return demand


def visible_responses(actor: Actor, demand: Demand) -> list[DemandResponse]:
    """The buyer and staff see every answer; a merchant sees only its own."""
    if allows(actor, "demand.responses.read", permissions.demand(demand)):
        return list(demand.responses)
    return [r for r in demand.responses if r.org_id == actor.org_id and actor.org_id is not None]


def my_demands(db: Session, actor: Actor) -> list[Demand]:
    require(actor, "catalog.personal")
    return list(
        db.scalars(select(Demand).where(Demand.buyer_org_id == actor.org_id).order_by(Demand.created_at.desc()))
    )


def matching_demands(db: Session, actor: Actor, limit: int = 50) -> list[Demand]:
    """Open public demands for a merchant, those in the industries of its products first."""
    require(actor, "demand.match")
    sections = set(db.scalars(select(Listing.industry_section).where(Listing.org_id == actor.org_id).distinct()))
    stmt = select(Demand).where(
        Demand.status == "open", Demand.is_public.is_(True), Demand.buyer_org_id != actor.org_id
    )
    rows = list(db.scalars(stmt.order_by(Demand.created_at.desc(), Demand.id.desc()).limit(500)))
    rows.sort(key=lambda d: 0 if d.industry_code[:1] in sections else 1)  # stable: newest first within
    return rows[:limit]


def respond(db: Session, actor: Actor, demand_id: int, data: DemandResponseIn) -> DemandResponse:
    require(actor, "demand.answer")
    demand = get_demand(db, actor, demand_id)
    if demand.status != "open":
        raise Conflict("This demand is no longer open.")
    if demand.buyer_org_id == actor.org_id:
        raise Conflict("You cannot answer your own demand.")
    if data.listing_id is not None:
        listing = db.get(Listing, data.listing_id)
        if listing is None or listing.org_id != actor.org_id or listing.status != "listed":
            raise InvalidInput("{field}: {reason}", field="listing_id", reason="is not a listed product of yours")
    elif not data.planned_title:
        raise InvalidInput("{field} is required.", field="planned_title")
    if any(r.org_id == actor.org_id for r in demand.responses):
        raise Conflict("Your organisation has already answered this demand.")
    response = DemandResponse(
        org_id=actor.org_id,
        user_id=actor.user_id,
        listing_id=data.listing_id,
        planned_title=data.planned_title,
        message=data.message,
        price_fen=_fen(data.price, "price"),
    )
    demand.responses.append(response)
    db.flush()
    audit.record(
        db,
        actor,
        "demand.answered",
        target_type="demand",
        target_id=demand.id,
        target_org_id=demand.buyer_org_id,
        response_id=response.id,
        listing_id=data.listing_id,
    )
    if demand.created_by is not None:
        follows.notify_user(
            db, demand.created_by, "Your demand “{title}” has a new answer.", demand_id=demand.id, title=demand.title
        )
    return response


def _own_open_demand(db: Session, actor: Actor, demand_id: int) -> Demand:
    demand = db.get(Demand, demand_id)
    if demand is None:
        raise NotFound("No such demand.")
    require(actor, "demand.manage", permissions.demand(demand), hidden=NotFound("No such demand."))
    if demand.status != "open":
        raise Conflict("This demand is no longer open.")
    return demand


def choose_response(db: Session, actor: Actor, demand_id: int, response_id: int) -> Demand:
    demand = _own_open_demand(db, actor, demand_id)
    chosen = next((r for r in demand.responses if r.id == response_id), None)
    if chosen is None:
        raise NotFound("Not found.")
    for response in demand.responses:
        response.status = "chosen" if response is chosen else "not_chosen"
    demand.status, demand.chosen_response_id, demand.updated_at = "awarded", chosen.id, utcnow()
    audit.record(
        db,
        actor,
        "demand.awarded",
        target_type="demand",
        target_id=demand.id,
        target_org_id=actor.org_id,
        response_id=chosen.id,
    )
    for response in demand.responses:
        if response.user_id is not None:
            message = (
                "Your answer to the demand “{title}” was chosen."
                if response is chosen
                else "Another answer to the demand “{title}” was chosen."
            )
            follows.notify_user(db, response.user_id, message, demand_id=demand.id, title=demand.title)
    return demand


def close_demand(db: Session, actor: Actor, demand_id: int) -> Demand:
    demand = _own_open_demand(db, actor, demand_id)
    demand.status, demand.updated_at = "closed", utcnow()
    audit.record(db, actor, "demand.closed", target_type="demand", target_id=demand.id, target_org_id=actor.org_id)
    return demand
