"""Portal forms of the seller's delivery settings: a product's sandbox (k, differential privacy,
each contract's budget, bounds, count-only columns) and a data API contract's limits. Both go
through ``core.http.submit_form``: the whole form is validated at once, and a refusal shows the
same page with the input kept and each error beside its field."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field, field_validator

from qianshu.accounts.deps import SignedInActor
from qianshu.core.errors import InvalidInput
from qianshu.core.forms import Form
from qianshu.core.http import AppSettings, DbSession, PostedForm, form_fields, render, see_other, submit_form
from qianshu.core.i18n import N_
from qianshu.core.read_models import extend
from qianshu.core.settings import Settings
from qianshu.delivery import limits as api_limits
from qianshu.delivery import read_models, sandbox_service
from qianshu.delivery.settings import DeliverySettings

router = APIRouter(include_in_schema=False)

SANDBOX_LABELS = {"k": N_("Smallest group shown (k)"), "epsilon": N_("Epsilon per query (empty: no noise)"),
                  "budget": N_("Privacy budget of each contract"), "bounds": N_("Bounds of numeric columns"),
                  "identifying": N_("Columns that may only be counted")}
LIMITS_LABELS = {"rate_per_minute": N_("Calls per minute"), "quota_period": N_("Quota period"),
                 "calls_per_period": N_("Calls per period"), "rows_per_period": N_("Rows per period")}


class SandboxForm(BaseModel):
    k: int = Field(ge=2, le=1000)
    epsilon: float | None = Field(default=None, gt=0, le=10)
    budget: float = Field(gt=0, le=100)
    bounds: str = Field(default="", max_length=20_000)
    identifying: list[str] = Field(default_factory=list)

    @field_validator("epsilon", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value


def parse_bounds(text: str, columns: list[str]) -> dict[str, tuple[float, float]]:
    """``column: low, high`` per line (the form's text) as a mapping, naming the line it refuses."""
    found: dict[str, tuple[float, float]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, _, pair = line.replace("：", ":").replace("，", ",").partition(":")
        name = name.strip()
        try:
            low, high = (float(v) for v in pair.split(","))
        except ValueError:
            low = high = math.nan
        if name not in columns or not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise InvalidInput("Line {line}: write a column of the product, a colon and two numbers, the low one "
                               "first (income: 0, 50000).", field="bounds", line=number)
        found[name] = (low, high)
    return found


@dataclass(frozen=True)
class SandboxSettingsPage(read_models.SandboxSettingsView):
    """The product's sandbox: its read model (``read_models.sandbox_settings``) and the form, as set
    or as posted and refused."""

    form: Form = field(default_factory=Form)
    saved: bool = False
    labels: dict[str, str] = field(default_factory=lambda: SANDBOX_LABELS)


def _sandbox_page(db: Any, actor: Any, settings: Settings, listing_id: int, form: Form | None = None,
                  saved: bool = False) -> SandboxSettingsPage:
    view = read_models.sandbox_settings(db, actor, settings, listing_id)
    if form is None:
        current = view.current
        form = Form.kept({"k": current.k, "epsilon": "" if current.epsilon is None else current.epsilon,
                          "budget": current.budget, "identifying": list(current.identifying),
                          "bounds": "\n".join(f"{c}: {lo:g}, {hi:g}"
                                              for c, (lo, hi) in (current.bounds or {}).items())})
    return extend(SandboxSettingsPage, view, form=form, saved=saved)


@router.get("/delivery/products/{listing_id:int}/sandbox")
def sandbox_settings(listing_id: int, request: Request, db: DbSession, actor: SignedInActor,
                     settings: AppSettings, saved: int = 0) -> Response:
    return render(request, "delivery/sandbox_settings.html",
                  _sandbox_page(db, actor, settings, listing_id, saved=bool(saved)))


@router.post("/delivery/products/{listing_id:int}/sandbox")
def save_sandbox_settings(listing_id: int, request: Request, db: DbSession, actor: SignedInActor,
                          settings: AppSettings, posted: PostedForm) -> Response:
    data = form_fields(posted, lists=("identifying",))
    page = _sandbox_page(db, actor, settings, listing_id)

    def work(chosen: SandboxForm) -> Response:
        sandbox_service.set_product_sandbox(db, actor, listing_id, k=chosen.k, epsilon=chosen.epsilon,
                                            budget=chosen.budget, bounds=parse_bounds(chosen.bounds, page.columns),
                                            identifying=[c for c in chosen.identifying if c in page.columns])
        return see_other(f"/delivery/products/{listing_id}/sandbox?saved=1")

    return submit_form(request, db, SandboxForm, data, SANDBOX_LABELS, work,
                       lambda form: ("delivery/sandbox_settings.html",
                                     _sandbox_page(db, actor, settings, listing_id, form)))


@dataclass(frozen=True)
class LimitsPage(read_models.LimitsView):
    """A contract's data API limits: its read model (``read_models.limits_view``) and the form, as set
    or as posted and refused."""

    form: Form = field(default_factory=Form)
    saved: bool = False


def _limits_page(db: Any, actor: Any, settings: Settings, contract_id: int, form: Form | None = None,
                 saved: bool = False) -> LimitsPage:
    view = read_models.limits_view(db, actor, settings, contract_id)
    if form is None:
        current = view.limits
        form = Form.kept({"rate_per_minute": current.rate_per_minute, "quota_period": current.quota_period,
                          "calls_per_period": current.calls_per_period, "rows_per_period": current.rows_per_period})
    return extend(LimitsPage, view, form=form, saved=saved)


class LimitsForm(BaseModel):
    rate_per_minute: int = Field(ge=1)
    quota_period: str = Field(pattern="^(day|month)$")
    calls_per_period: int = Field(ge=1)
    rows_per_period: int = Field(ge=1)


@router.get("/delivery/contracts/{contract_id:int}/limits")
def limits_form(contract_id: int, request: Request, db: DbSession, actor: SignedInActor, settings: AppSettings,
                saved: int = 0) -> Response:
    return render(request, "delivery/limits.html", _limits_page(db, actor, settings, contract_id, saved=bool(saved)))


@router.post("/delivery/contracts/{contract_id:int}/limits")
def save_limits(contract_id: int, request: Request, db: DbSession, actor: SignedInActor, settings: AppSettings,
                posted: PostedForm) -> Response:
    data = form_fields(posted)

    def work(chosen: LimitsForm) -> Response:
        api_limits.set_limits(db, actor, settings.section(DeliverySettings), contract_id, **chosen.model_dump())
        return see_other(f"/delivery/contracts/{contract_id}/limits?saved=1")

    return submit_form(request, db, LimitsForm, data, LIMITS_LABELS, work,
                       lambda form: ("delivery/limits.html", _limits_page(db, actor, settings, contract_id, form)))
