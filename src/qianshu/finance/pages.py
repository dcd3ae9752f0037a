"""Portal pages of finance: the lookup of a certificate's standing (linked from the registry's
verification page through the ``certificate_verified`` slot), the bank's portfolio, and the
forms that confirm, release or enforce a pledge. A refused form gets the app's error page."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from qianshu.accounts.deps import CurrentActor, SignedInActor
from qianshu.core import policy
from qianshu.core.actor import Actor
from qianshu.core.errors import InvalidInput, QianshuError
from qianshu.core.forms import validate_form
from qianshu.core.http import AppSettings, DbSession, PostedForm, Signer, form_fields, get_lang, render, see_other
from qianshu.finance import schemas, service
from qianshu.finance.models import LtvLimit, Pledge
from qianshu.finance.permissions import pledge_resource
from qianshu.finance.settings import FinanceSettings

router = APIRouter(include_in_schema=False)
MAX_NUMBER_CHARS = 40


@dataclass
class LookupPage:
    number: str = ""
    found: service.Standing | None = None
    error: str = ""
    may_confirm: set[int] = field(default_factory=set)
    may_manage: set[int] = field(default_factory=set)
    may_pledge: bool = False


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
        may_manage=_controls(actor, found.pledges, "finance.pledge.manage"),
        may_pledge=found.status == "valid" and policy.allows(actor, "finance.pledge.create")))


@dataclass
class PortfolioPage:
    pledges: list[Pledge]
    secured_open_fen: int
    limits: list[LtvLimit]
    default_limit_bp: int


@router.get("/finance/pledges")
def portfolio(request: Request, db: DbSession, actor: SignedInActor, settings: AppSettings) -> Response:
    pledges = service.portfolio(db, actor)
    total = sum(p.secured_fen for p in pledges if p.status in ("pending", "active"))
    return render(request, "finance/portfolio.html", PortfolioPage(
        pledges, total, service.ltv_limits(db, actor), settings.section(FinanceSettings).default_ltv_limit_bp))


def _hundredths(form: dict[str, Any], name: str, field: str, *, optional: bool = False) -> int | None:
    """Yuan or percent as typed (``12,000,000.50``, ``3.8``) → fen or basis points."""
    text = str(form.get(name, "")).replace(",", "").replace("，", "").strip()
    if not text and optional:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise InvalidInput("{field}: give a number.", field=field) from None
    if not value.is_finite() or value != value.quantize(Decimal("0.01")):
        raise InvalidInput("{field}: give a number with at most two decimals.", field=field)
    return int(value * 100)


@router.post("/finance/pledges")
def register_pledge(db: DbSession, actor: SignedInActor, settings: AppSettings, signer: Signer,
                    posted: PostedForm) -> Response:
    """The bank's form on the lookup page: amounts in yuan and rates in percent, as people type them."""
    form = form_fields(posted)
    data = validate_form(schemas.PledgeIn, {
        "certificate_number": form.get("certificate_number", ""), "pledgor_org_id": form.get("pledgor_org_id", ""),
        "secured_fen": _hundredths(form, "secured_yuan", "secured_fen"),
        "appraised_fen": _hundredths(form, "appraised_yuan", "appraised_fen"),
        "interest_bp": _hundredths(form, "interest_percent", "interest_bp"),
        "term_months": form.get("term_months", ""),
        "risk_pool_bp": _hundredths(form, "risk_pool_percent", "risk_pool_bp", optional=True),
        "external_registry": form.get("external_registry", ""), "external_number": form.get("external_number", "")})
    assert isinstance(data, schemas.PledgeIn)
    pledge = service.create_pledge(db, actor, settings, signer, data)
    return see_other(f"/finance/lookup?number={pledge.certificate_number}")


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
