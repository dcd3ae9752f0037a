"""REST routes of the catalogue under /api/v1/catalog. Handlers only translate HTTP.

The DCAT-AP export has stable public URLs: ``/api/v1/catalog/dcat.jsonld`` and
``/api/v1/catalog/dcat.ttl`` (the whole catalogue), ``/api/v1/catalog/listings/{id}/dcat.jsonld``
and ``.ttl`` (one product).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.background import BackgroundTask

from qianshu.accounts.deps import CurrentActor, SignedInActor
from qianshu.catalog import dcat, demand, follows, policy, search_cache, search_index, service
from qianshu.catalog import schemas as s
from qianshu.catalog.models import Listing
from qianshu.catalog.search import (
    MAX_QUERY_LENGTH,
    DemandQuery,
    SearchQuery,
    SearchResult,
    cached_search,
    search_rendered,
)
from qianshu.catalog.settings import CatalogSettings
from qianshu.catalog.views import facet_label, notification_out
from qianshu.catalog.vocab import LICENCES, licence_uri
from qianshu.core.db import Database
from qianshu.core.http import DbSession, Lang, get_database, get_settings_dep, read_in_thread
from qianshu.core.i18n import translate
from qianshu.core.openapi import JsonLdResponse, TurtleResponse, problems

router = APIRouter(prefix="/api/v1/catalog", tags=["catalog"])
Text = Annotated[str, Query(max_length=MAX_QUERY_LENGTH)]
Short = Annotated[str, Query(max_length=16)]


def warm_up(database: Database) -> None:
    """Called on a thread when the app starts: the search index is built before the first search."""
    search_index.warm_up(database)


def base_url(request: Request) -> str:
    """The exchange's configured public address (``public_base_url``): never the request's Host."""
    return get_settings_dep(request).public_base


def _listing_out(listing: Listing, base: str) -> s.ListingOut:
    out = s.ListingOut.model_validate(listing)
    out.url = f"{base}/catalog/{listing.id}"
    return out


@router.get("/search", response_model=s.SearchOut, summary="Search the catalogue")
async def search(
    request: Request,
    lang: Lang,
    q: Text = "",
    industry: Short = "",
    region: Short = "",
    data_type: Short = "",
    delivery: Short = "",
    price: Short = "",
    classification: Short = "",
    frequency: Short = "",
    sort: Short = "relevance",
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Response:
    query = SearchQuery(
        q, industry, region, data_type, delivery, price, classification, frequency, sort, page, per_page
    )
    base = base_url(request)

    def render(result: SearchResult) -> bytes:
        facets = {
            name: [
                s.FacetValueOut(
                    value=v.value, label=facet_label(name, v.value, lang), count=v.count, selected=v.selected
                )
                for v in values
            ]
            for name, values in result.facets.items()
        }
        out = s.SearchOut(
            total=result.total,
            page=page,
            per_page=per_page,
            pages=result.pages,
            items=[_listing_out(x, base) for x in result.items],
            facets=facets,
            facets_exact=result.facets_exact,
        )
        return out.model_dump_json().encode()

    # Serialised once (FastAPI would dump, re-validate and dump a returned model) and cached by
    # the catalogue's generation like the search itself (see catalog/search_cache.py). The
    # hottest public route: a page this process rendered at the current generation is sent
    # from the event loop; otherwise one thread hop (core.http.read_in_thread).
    variant, database = (lang, base), get_database(request)
    refresh = get_settings_dep(request).section(CatalogSettings).search_refresh_seconds
    body = cached_search(database, query, variant, refresh)
    if body is None:
        body = await read_in_thread(request, lambda db: search_rendered(db, query, variant, render))
    renew = search_cache.renewal(database, refresh)
    return Response(body, media_type="application/json", background=BackgroundTask(renew) if renew else None)


@router.get("/listings/{listing_id}", response_model=s.ListingDetailOut,
            summary="Get a product listing", responses=problems(404))
def listing(listing_id: int, request: Request, db: DbSession, actor: CurrentActor) -> object:
    found = service.get_listing(db, actor, listing_id)
    out = s.ListingDetailOut.model_validate(found)
    for plan in out.plans:  # as published: absolute addresses under the public address
        plan.policy = policy.policy_document(plan.policy, base_url(request), found.id, plan.id, found.org_id)
    out.url = f"{base_url(request)}/catalog/{found.id}"
    return out


@router.get("/listings/{listing_id}/history", response_model=list[s.ChangeOut],
            summary="Get a listing's change history", responses=problems(404))
def listing_history(listing_id: int, db: DbSession, actor: CurrentActor) -> object:
    return service.history(db, actor, listing_id)


@router.get("/mine", response_model=list[s.ListingOut], summary="List your organisation's listings")
def mine(db: DbSession, actor: SignedInActor) -> object:
    return service.my_listings(db, actor)


@router.post("/listings", status_code=201, response_model=s.ListingDetailOut,
             summary="Create a product listing", responses=problems(404, 409))
def create(data: s.ListingIn, db: DbSession, actor: SignedInActor) -> object:
    return service.create_listing(db, actor, data)


@router.patch("/listings/{listing_id}", response_model=s.ListingDetailOut,
              summary="Change a product listing", responses=problems(404, 409))
def update(listing_id: int, data: s.ListingUpdate, db: DbSession, actor: SignedInActor) -> object:
    return service.update_listing(db, actor, listing_id, data)


@router.post("/listings/{listing_id}/plans", status_code=201, response_model=s.PlanOut,
             summary="Add a pricing plan to a listing", responses=problems(404, 409))
def add_plan(listing_id: int, data: s.PlanIn, request: Request, db: DbSession, actor: SignedInActor) -> object:
    return service.add_plan(db, actor, listing_id, data, base_url=base_url(request))


@router.delete("/listings/{listing_id}/plans/{plan_id}", response_model=s.PlanOut,
               summary="Withdraw a pricing plan", responses=problems(404, 409))
def withdraw_plan(listing_id: int, plan_id: int, db: DbSession, actor: SignedInActor) -> object:
    return service.withdraw_plan(db, actor, listing_id, plan_id)


@router.post("/listings/{listing_id}/submit", response_model=s.ListingOut,
             summary="Submit a listing for review", responses=problems(404, 409))
def submit(listing_id: int, db: DbSession, actor: SignedInActor, data: s.SubmitIn | None = None) -> object:
    return service.submit_listing(db, actor, listing_id,
                                  confirm_personal_data=data is not None and data.confirm_personal_data)


@router.post("/listings/{listing_id}/pause", response_model=s.ListingOut,
             summary="Pause a listing", responses=problems(404, 409))
def pause(listing_id: int, data: s.Decision, db: DbSession, actor: SignedInActor) -> object:
    return service.pause_listing(db, actor, listing_id, data.reason)


@router.post("/listings/{listing_id}/resume", response_model=s.ListingOut,
             summary="Resume a paused listing", responses=problems(404, 409))
def resume(listing_id: int, db: DbSession, actor: SignedInActor) -> object:
    return service.resume_listing(db, actor, listing_id)


@router.post("/listings/{listing_id}/delist", response_model=s.ListingOut,
             summary="Delist a product", responses=problems(404, 409))
def delist(listing_id: int, data: s.Decision, db: DbSession, actor: SignedInActor) -> object:
    return service.delist_listing(db, actor, listing_id, data.reason)


@router.get("/review", response_model=list[s.ListingOut], summary="List listings waiting for review")
def review_queue(db: DbSession, actor: SignedInActor) -> object:
    return service.review_queue(db, actor)


@router.post("/listings/{listing_id}/review/{decision}", response_model=s.ListingOut,
             summary="Approve or reject a listing", responses=problems(404, 409))
def review(listing_id: int, decision: str, data: s.Decision, db: DbSession, actor: SignedInActor) -> object:
    return service.review_listing(db, actor, listing_id, decision[:16], data.reason)


# --- follows, saved searches, notifications ----------------------------------------------------


@router.put("/listings/{listing_id}/follow", status_code=204, summary="Follow a listing", responses=problems(404))
def follow(listing_id: int, db: DbSession, actor: SignedInActor) -> None:
    follows.follow(db, actor, listing_id)


@router.delete("/listings/{listing_id}/follow", status_code=204,
               summary="Stop following a listing", responses=problems(404))
def unfollow(listing_id: int, db: DbSession, actor: SignedInActor) -> None:
    follows.unfollow(db, actor, listing_id)


@router.get("/follows", response_model=list[s.ListingOut], summary="List the listings you follow")
def followed(db: DbSession, actor: SignedInActor) -> object:
    return follows.followed_listings(db, actor)


@router.get("/notifications", response_model=list[s.NotificationOut], summary="List your notifications")
def notifications(db: DbSession, actor: SignedInActor, lang: Lang, unread: bool = False) -> object:
    return [notification_out(n, lang) for n in follows.notifications(db, actor, unread_only=unread)]


@router.post("/notifications/read", summary="Mark all notifications read")
def mark_read(db: DbSession, actor: SignedInActor) -> dict[str, int]:
    return {"marked": follows.mark_read(db, actor)}


@router.get("/saved-searches", summary="List your saved searches")
def saved_searches(db: DbSession, actor: SignedInActor) -> list[dict[str, Any]]:
    return [{"id": x.id, "name": x.name, "params": x.params} for x in follows.saved_searches(db, actor)]


@router.post("/saved-searches", status_code=201, summary="Save a search")
def save_search(data: s.SavedSearchIn, db: DbSession, actor: SignedInActor) -> dict[str, Any]:
    row = follows.save_search(db, actor, data.name, dict(data.params))
    return {"id": row.id, "name": row.name, "params": row.params}


@router.delete("/saved-searches/{search_id}", status_code=204, summary="Delete a saved search", responses=problems(404))
def delete_saved_search(search_id: int, db: DbSession, actor: SignedInActor) -> None:
    follows.delete_saved_search(db, actor, search_id)


# --- demand pool ---------------------------------------------------------------------------------


@router.get("/demands", response_model=list[s.DemandOut], summary="Search the demand pool")
def demands(
    db: DbSession,
    q: Text = "",
    industry: Short = "",
    region: Short = "",
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 20,
) -> object:
    from qianshu.catalog.search import search_demands

    return search_demands(db, DemandQuery(q, industry, region, page, per_page))[0]


@router.get("/demands/matching", response_model=list[s.DemandOut], summary="List demands matching your products")
def matching(db: DbSession, actor: SignedInActor) -> object:
    return demand.matching_demands(db, actor)


@router.post("/demands", status_code=201, response_model=s.DemandOut, summary="Post a data demand")
def post_demand(data: s.DemandIn, db: DbSession, actor: SignedInActor) -> object:
    return demand.post_demand(db, actor, data)


@router.get("/demands/{demand_id}", summary="Get a demand and its responses", responses=problems(404))
def get_demand(demand_id: int, db: DbSession, actor: CurrentActor) -> dict[str, Any]:
    found = demand.get_demand(db, actor, demand_id)
    return {
        **s.DemandOut.model_validate(found).model_dump(mode="json"),
        "responses": [
            s.DemandResponseOut.model_validate(r).model_dump(mode="json")
            for r in demand.visible_responses(actor, found)
        ],
    }


@router.post("/demands/{demand_id}/responses", status_code=201, response_model=s.DemandResponseOut,
             summary="Respond to a demand", responses=problems(404, 409))
def respond(demand_id: int, data: s.DemandResponseIn, db: DbSession, actor: SignedInActor) -> object:
    return demand.respond(db, actor, demand_id, data)


@router.post("/demands/{demand_id}/choose/{response_id}", response_model=s.DemandOut,
             summary="Choose a response to your demand", responses=problems(404, 409))
def choose(demand_id: int, response_id: int, db: DbSession, actor: SignedInActor) -> object:
    return demand.choose_response(db, actor, demand_id, response_id)


@router.post("/demands/{demand_id}/close", response_model=s.DemandOut,
             summary="Close your demand", responses=problems(404, 409))
def close(demand_id: int, db: DbSession, actor: SignedInActor) -> object:
    return demand.close_demand(db, actor, demand_id)


# --- DCAT-AP 3 ---------------------------------------------------------------------------------------

JSONLD = "application/ld+json"
TURTLE = "text/turtle; charset=utf-8"


@router.get("/dcat.jsonld", summary="Export the catalogue as DCAT-AP JSON-LD", response_class=JsonLdResponse)
def dcat_jsonld(request: Request, db: DbSession, page: Annotated[int, Query(ge=1, le=100_000)] = 1) -> Response:
    return JSONResponse(dcat.catalogue_jsonld(db, base_url(request), page), media_type=JSONLD)


@router.get("/dcat.ttl", summary="Export the catalogue as DCAT-AP Turtle", response_class=TurtleResponse)
def dcat_turtle(request: Request, db: DbSession, page: Annotated[int, Query(ge=1, le=100_000)] = 1) -> Response:
    return Response(dcat.to_turtle(dcat.catalogue_jsonld(db, base_url(request), page)), media_type=TURTLE)


@router.get("/listings/{listing_id}/dcat.jsonld",
            summary="Export one product as DCAT-AP JSON-LD", responses=problems(404), response_class=JsonLdResponse)
def listing_dcat_jsonld(listing_id: int, request: Request, db: DbSession) -> Response:
    service.get_public_listing(db, listing_id)
    return JSONResponse(dcat.catalogue_jsonld(db, base_url(request), listing_id=listing_id), media_type=JSONLD)


@router.get("/listings/{listing_id}/dcat.ttl",
            summary="Export one product as DCAT-AP Turtle", responses=problems(404), response_class=TurtleResponse)
def listing_dcat_turtle(listing_id: int, request: Request, db: DbSession) -> Response:
    service.get_public_listing(db, listing_id)
    return Response(
        dcat.to_turtle(dcat.catalogue_jsonld(db, base_url(request), listing_id=listing_id)), media_type=TURTLE
    )


@router.get("/licences", response_model=list[s.LicenceOut])
def licences(request: Request, lang: Lang) -> object:
    """The licences a product may be listed under (the ``licence`` field of a listing)."""
    return [
        s.LicenceOut(key=x.key, title=translate(x.title, lang), uri=licence_uri(x.key, base_url(request)),
                     summary=translate(x.summary, lang), spdx=x.spdx)
        for x in LICENCES.values()
    ]
