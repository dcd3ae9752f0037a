"""The administrator's page of its related parties and broken-trust records, reached through any of
its programmes (``/vouchers/programmes/{id}/trust``): the list of both, searchable by organisation
name or USCC, and the forms that mark and unmark related parties and record and lift broken-trust
records (which hold for all the administrator's programmes; broken-trust records in force of other
administrators are listed too, read-only, since they bind every programme: ``trust.py``).

Each form calls the same service function as the API (``trust.py``) through
``core.http.answer_form``: a refusal shows the page again with what was typed and every error beside
its field, nothing written. Organisations are named by USCC or by part of their name
(``org_picker.py``: a name matching several comes back with them to pick from; the search endpoint
below feeds the fields' lists as one types). Who is not the programme's administrator meets the
error page (the service's check, made before anything is read)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session

from qianshu.accounts.deps import SignedInActor
from qianshu.core.actor import Actor
from qianshu.core.forms import Form, Typed, validate_form
from qianshu.core.http import DbSession, PostedForm, answer_form, form_fields, get_lang, render, see_other
from qianshu.core.i18n import N_
from qianshu.vouchers import org_picker, schemas, service, trust
from qianshu.vouchers.models import Programme

router = APIRouter(include_in_schema=False)
LABELS = {"org_a_id": N_("Organisation (name or USCC)"), "org_b_id": N_("Related organisation (name or USCC)"),
          "org_id": N_("Organisation (name or USCC)"), "source": N_("Source of the record"), "reason": N_("Reason")}


@dataclass(frozen=True)
class TrustPage:
    programme: Programme
    records: trust.TrustRecords
    form: Form = field(default_factory=Form)  # the posted form, refused: "related", "trust", "unmark-…", "lift-…"
    choices: dict[str, list[org_picker.Candidate]] = field(default_factory=dict)  # per field, when text named several


def _page(db: Session, actor: Actor, programme_id: int, query: str = "", form: Form | None = None,
          choices: dict[str, list[org_picker.Candidate]] | None = None) -> tuple[str, Any]:
    records = trust.trust_records(db, actor, programme_id, query)  # the administrator's only
    return "vouchers/trust.html", TrustPage(service.get_programme(db, actor, programme_id), records, form or Form(),
                                            choices or {})


@router.get("/vouchers/programmes/{programme_id:int}/trust")
def trust_page(programme_id: int, request: Request, db: DbSession, actor: SignedInActor, q: str = "") -> Response:
    return render(request, *_page(db, actor, programme_id, q))


@router.get("/vouchers/programmes/{programme_id:int}/organisations")
def organisations(programme_id: int, request: Request, db: DbSession, actor: SignedInActor,
                  q: str = "") -> JSONResponse:
    """Approved organisations whose name or USCC contains ``q``, for the fields' lists
    (``vouchers/static/org_picker.js``): public facts only, the programme's administrator only."""
    lang = get_lang(request)
    return JSONResponse({"organisations": [{**c.json(), "label": c.label(lang)}
                                           for c in org_picker.search(db, actor, programme_id, q)]})


def _answer(request: Request, db: Session, actor: Actor, programme_id: int, name: str, typed: dict[str, Any],
            work: Callable[[], object], picker: org_picker.Picker | None = None) -> Response:
    def done() -> Response:
        work()
        return see_other(f"/vouchers/programmes/{programme_id}/trust")

    return answer_form(request, db, typed, LABELS, done, lambda form: _page(
        db, actor, programme_id, form=form, choices=picker.choices if picker else None), name=name)


@router.post("/vouchers/programmes/{programme_id:int}/related")
def mark_related(programme_id: int, request: Request, db: DbSession, actor: SignedInActor,
                 posted: PostedForm) -> Response:
    service.managed_programme(db, actor, programme_id)  # not the administrator: the error page
    typed = form_fields(posted)
    picker = org_picker.Picker(db, typed)

    def work() -> None:
        convert = Typed()
        data = validate_form(schemas.RelatedIn, {
            "org_a_id": convert(picker, "org_a_id"), "org_b_id": convert(picker, "org_b_id"),
            "reason": typed.get("reason", "")}, convert.errors)
        trust.mark_related(db, actor, programme_id, data)

    return _answer(request, db, actor, programme_id, "related", typed, work, picker)


@router.post("/vouchers/programmes/{programme_id:int}/related/{org_a_id:int}/{org_b_id:int}/unmark")
def unmark_related(programme_id: int, org_a_id: int, org_b_id: int, request: Request, db: DbSession,
                   actor: SignedInActor, posted: PostedForm) -> Response:
    service.managed_programme(db, actor, programme_id)
    typed = form_fields(posted)
    return _answer(request, db, actor, programme_id, f"unmark-{org_a_id}-{org_b_id}", typed,
                   lambda: trust.unmark_related(db, actor, programme_id, validate_form(schemas.UnmarkRelatedIn, {
                       "org_a_id": org_a_id, "org_b_id": org_b_id, "reason": typed.get("reason", "")})))


@router.post("/vouchers/programmes/{programme_id:int}/broken-trust")
def record_broken_trust(programme_id: int, request: Request, db: DbSession, actor: SignedInActor,
                        posted: PostedForm) -> Response:
    service.managed_programme(db, actor, programme_id)
    typed = form_fields(posted)
    picker = org_picker.Picker(db, typed)

    def work() -> None:
        convert = Typed()
        data = validate_form(schemas.BrokenTrustIn, {
            "org_id": convert(picker, "org_id"), "source": typed.get("source", ""),
            "reason": typed.get("reason", "")}, convert.errors)
        trust.record_broken_trust(db, actor, programme_id, data)

    return _answer(request, db, actor, programme_id, "trust", typed, work, picker)


@router.post("/vouchers/programmes/{programme_id:int}/broken-trust/{org_id:int}/lift")
def lift_broken_trust(programme_id: int, org_id: int, request: Request, db: DbSession, actor: SignedInActor,
                      posted: PostedForm) -> Response:
    service.managed_programme(db, actor, programme_id)
    typed = form_fields(posted)
    return _answer(request, db, actor, programme_id, f"lift-{org_id}", typed,
                   lambda: trust.lift_broken_trust(db, actor, programme_id, validate_form(
                       schemas.LiftBrokenTrustIn, {"org_id": org_id, "reason": typed.get("reason", "")})))
