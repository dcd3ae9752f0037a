"""Portal pages of finance: the lookup of a certificate's standing (linked from the registry's
verification page through the ``certificate_verified`` slot), the bank's portfolio, and the
forms that confirm, release or enforce a pledge. A refused form gets the app's error page."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import APIRouter, Request
from fastapi.responses import Response

from qianshu.accounts.deps import CurrentActor, SignedInActor
from qianshu.core import policy
from qianshu.core.actor import Actor
from qianshu.core.errors import QianshuError
from qianshu.core.http import DbSession, PostedForm, Signer, form_fields, get_lang, render, see_other
from qianshu.finance import service
from qianshu.finance.models import Pledge
from qianshu.finance.permissions import pledge_resource

router = APIRouter(include_in_schema=False)
MAX_NUMBER_CHARS = 40


@dataclass
class LookupPage:
    number: str = ""
    found: service.Standing | None = None
    error: str = ""
    may_confirm: set[int] = field(default_factory=set)
    may_manage: set[int] = field(default_factory=set)


def _controls(actor: Actor, pledges: list[Pledge], action: str) -> set[int]:
    return {p.id for p in pledges
            if policy.allows(actor, action, pledge_resource(p.pledgor_org_id, p.pledgee_org_id))}


@router.get("/finance/lookup")
def lookup(request: Request, db: DbSession, actor: CurrentActor, number: str = "") -> Response:
    """Type a number (or follow the link from the verification page): valid, revoked, encumbered."""
    number = number.strip()[:MAX_NUMBER_CHARS]
    if not number:
        return render(request, "finance/lookup.html", LookupPage())
    try:
        found = service.standing(db, actor, number)
    except QianshuError as exc:
        return render(request, "finance/lookup.html", LookupPage(number, error=exc.render(get_lang(request))),
                      status_code=exc.status)
    return render(request, "finance/lookup.html", LookupPage(
        number, found, may_confirm=_controls(actor, found.pledges, "finance.pledge.confirm"),
        may_manage=_controls(actor, found.pledges, "finance.pledge.manage")))


@dataclass
class PortfolioPage:
    pledges: list[Pledge]
    secured_open_fen: int


@router.get("/finance/pledges")
def portfolio(request: Request, db: DbSession, actor: SignedInActor) -> Response:
    pledges = service.portfolio(db, actor)
    total = sum(p.secured_fen for p in pledges if p.status in ("pending", "active"))
    return render(request, "finance/portfolio.html", PortfolioPage(pledges, total))


@router.post("/finance/pledges/{pledge_id:int}/{action}")
def act(pledge_id: int, action: str, db: DbSession, actor: SignedInActor, signer: Signer,
        posted: PostedForm) -> Response:
    reason = str(form_fields(posted).get("reason", ""))[:2000]
    if action == "confirm":
        pledge = service.confirm_pledge(db, actor, signer, pledge_id)
    elif action == "release":
        pledge = service.release_pledge(db, actor, signer, pledge_id, reason)
    elif action == "enforce":
        pledge = service.enforce_pledge(db, actor, signer, pledge_id, reason)
    else:
        return see_other("/finance/lookup")
    return see_other(f"/finance/lookup?number={pledge.certificate_number}")
