"""Portal pages of the demand pool: the pool, posting a demand, one demand and its answers.

Each page renders one read model (``read_models.demand_pool``/``demand_view``), which also says what
the viewer may do; every form goes through ``core.http.submit_form``. The catalogue's ``pages``
router includes this one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from qianshu.accounts.deps import CurrentActor, SignedInActor
from qianshu.catalog import demand, read_models
from qianshu.catalog import schemas as s
from qianshu.catalog.views import Labels
from qianshu.core.errors import InvalidInput
from qianshu.core.forms import Form
from qianshu.core.http import DbSession, PostedForm, form_fields, get_lang, render, see_other, submit_form
from qianshu.core.i18n import N_

router = APIRouter(include_in_schema=False)
QUERY_MAX = 500  # characters of a search in the pool

# The label each form's field has on the page (English message ids), for its error messages.
DEMAND_LABELS = {
    "title": N_("What data do you need?"), "description": N_("Description"), "scenario": N_("Scenario"),
    "industry_code": N_("Industry code (GB/T 4754)"), "division_code": N_("Division code"),
    "budget_min": N_("Budget from (yuan)"), "budget_max": N_("Budget to (yuan)"), "deadline": N_("Deadline"),
    "is_public": N_("Public (merchants can find it)"),
}
RESPONSE_LABELS = {"listing_id": N_("Existing product"), "planned_title": N_("Planned product title"),
                   "message": N_("Message"), "price": N_("Price (yuan)")}


@dataclass(frozen=True)
class DemandsPage(read_models.DemandPoolView):
    q: str = ""
    labels: Labels = field(default_factory=lambda: Labels("zh"))
    form: Form = field(default_factory=Form)


def _demands(request: Request, db: DbSession, actor: Any, q: str = "", form: Form | None = None) -> DemandsPage:
    view = read_models.demand_pool(db, actor, q[:QUERY_MAX])
    return DemandsPage(**vars(view), q=q[:QUERY_MAX], labels=Labels(get_lang(request)), form=form or Form())


@router.get("/demands", response_class=HTMLResponse)
def demands_page(request: Request, db: DbSession, actor: CurrentActor, q: str = "") -> Response:
    return render(request, "catalog/demands.html", _demands(request, db, actor, q))


@router.post("/demands", response_class=HTMLResponse)
def post_demand(request: Request, db: DbSession, actor: SignedInActor, posted: PostedForm) -> Response:
    form = form_fields(posted)
    form["is_public"] = form.get("is_public", "") == "on"
    form["deadline"] = form.get("deadline") or None

    def posted_demand(data: s.DemandIn) -> Response:
        return see_other(f"/demands/{demand.post_demand(db, actor, data).id}")

    return submit_form(request, db, s.DemandIn, form, DEMAND_LABELS, posted_demand,
                       lambda kept: ("catalog/demands.html", _demands(request, db, actor, form=kept)))


@dataclass(frozen=True)
class DemandPage(read_models.DemandView):
    labels: Labels = field(default_factory=lambda: Labels("zh"))
    form: Form = field(default_factory=Form)


def _demand(request: Request, db: DbSession, actor: Any, demand_id: int, form: Form | None = None) -> DemandPage:
    view = read_models.demand_view(db, actor, demand_id)
    return DemandPage(**vars(view), labels=Labels(get_lang(request)), form=form or Form())


@router.get("/demands/{demand_id:int}", response_class=HTMLResponse)
def demand_page(demand_id: int, request: Request, db: DbSession, actor: CurrentActor) -> Response:
    return render(request, "catalog/demand.html", _demand(request, db, actor, demand_id))


def _response_id(form: dict[str, Any]) -> int:
    value = str(form.get("response_id", ""))
    return int(value) if value.isdigit() and len(value) < 9 else 0


@router.post("/demands/{demand_id:int}/{action}", response_class=HTMLResponse)
def demand_action(demand_id: int, action: str,
                  request: Request, db: DbSession, actor: SignedInActor, posted: PostedForm) -> Response:
    form = form_fields(posted)
    form["listing_id"] = form.get("listing_id") or None
    again = lambda kept: ("catalog/demand.html", _demand(request, db, actor, demand_id, kept))  # noqa: E731

    def act(data: s.DemandResponseIn) -> Response:
        if action == "respond":
            demand.respond(db, actor, demand_id, data)
        elif action == "choose":
            demand.choose_response(db, actor, demand_id, _response_id(form))
        elif action == "close":
            demand.close_demand(db, actor, demand_id)
        else:
            raise InvalidInput("{field} must be one of: {expected}.", field="action", expected="respond, choose, close")
        return see_other(f"/demands/{demand_id}")

    # Only the answer form has fields; the two buttons validate an empty answer, which is always valid.
    return submit_form(request, db, s.DemandResponseIn, form if action == "respond" else {}, RESPONSE_LABELS, act,
                       again, name=action)
