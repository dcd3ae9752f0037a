"""The administrator's page of a programme's related parties and broken-trust records
(``/vouchers/programmes/{id}/trust``): the list of both, searchable by organisation name or USCC,
and the forms that mark and unmark related parties and record and lift broken-trust records.

Each form calls the same service function as the API (``trust.py``) through
``core.http.answer_form``: a refusal shows the page again with what was typed and every error beside
its field, nothing written. Organisations are named by their USCC (credit records are kept by it);
the page turns it into the organisation the service expects. Who is not the programme's
administrator meets the error page (the service's check, made before anything is read)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from qianshu.accounts import service as accounts
from qianshu.accounts.deps import SignedInActor
from qianshu.core.actor import Actor
from qianshu.core.errors import InvalidInput
from qianshu.core.forms import Form, Typed, validate_form
from qianshu.core.http import DbSession, PostedForm, answer_form, form_fields, render, see_other
from qianshu.core.i18n import N_
from qianshu.core.identifiers import validate_uscc
from qianshu.vouchers import schemas, service, trust
from qianshu.vouchers.models import Programme

router = APIRouter(include_in_schema=False)
LABELS = {"org_a_id": N_("Organisation (USCC)"), "org_b_id": N_("Related organisation (USCC)"),
          "org_id": N_("Organisation (USCC)"), "source": N_("Source of the record"), "reason": N_("Reason")}


@dataclass(frozen=True)
class TrustPage:
    programme: Programme
    records: trust.TrustRecords
    form: Form = field(default_factory=Form)  # the posted form, refused: "related", "trust", "unmark-…", "lift-…"


def _page(db: Session, actor: Actor, programme_id: int, query: str = "", form: Form | None = None) -> tuple[str, Any]:
    records = trust.trust_records(db, actor, programme_id, query)  # the administrator's only
    return "vouchers/trust.html", TrustPage(service.get_programme(db, actor, programme_id), records, form or Form())


@router.get("/vouchers/programmes/{programme_id:int}/trust")
def trust_page(programme_id: int, request: Request, db: DbSession, actor: SignedInActor, q: str = "") -> Response:
    return render(request, *_page(db, actor, programme_id, q))


def _organisation(db: Session, typed: dict[str, Any], name: str) -> int:
    """The organisation whose USCC was typed in the field ``name``."""
    uscc = validate_uscc(str(typed.get(name, "")), field=name)
    org = accounts.organisation_by_uscc(db, uscc)
    if org is None:
        raise InvalidInput("No organisation has the USCC {uscc}.", field=name, code="unknown_organisation", uscc=uscc)
    return org.id


def _answer(request: Request, db: Session, actor: Actor, programme_id: int, name: str, typed: dict[str, Any],
            work: Callable[[], object]) -> Response:
    def done() -> Response:
        work()
        return see_other(f"/vouchers/programmes/{programme_id}/trust")

    return answer_form(request, db, typed, LABELS, done, lambda form: _page(db, actor, programme_id, form=form),
                       name=name)


@router.post("/vouchers/programmes/{programme_id:int}/related")
def mark_related(programme_id: int, request: Request, db: DbSession, actor: SignedInActor,
                 posted: PostedForm) -> Response:
    service.managed_programme(db, actor, programme_id)  # not the administrator: the error page
    typed = form_fields(posted)

    def work() -> None:
        convert = Typed()
        data = validate_form(schemas.RelatedIn, {
            "org_a_id": convert(_organisation, db, typed, "org_a_id"),
            "org_b_id": convert(_organisation, db, typed, "org_b_id"), "reason": typed.get("reason", "")},
            convert.errors)
        trust.mark_related(db, actor, programme_id, data)

    return _answer(request, db, actor, programme_id, "related", typed, work)


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

    def work() -> None:
        convert = Typed()
        data = validate_form(schemas.BrokenTrustIn, {
            "org_id": convert(_organisation, db, typed, "org_id"), "source": typed.get("source", ""),
            "reason": typed.get("reason", "")}, convert.errors)
        trust.record_broken_trust(db, actor, programme_id, data)

    return _answer(request, db, actor, programme_id, "trust", typed, work)


@router.post("/vouchers/programmes/{programme_id:int}/broken-trust/{org_id:int}/lift")
def lift_broken_trust(programme_id: int, org_id: int, request: Request, db: DbSession, actor: SignedInActor,
                      posted: PostedForm) -> Response:
    service.managed_programme(db, actor, programme_id)
    typed = form_fields(posted)
    return _answer(request, db, actor, programme_id, f"lift-{org_id}", typed,
                   lambda: trust.lift_broken_trust(db, actor, programme_id, validate_form(
                       schemas.LiftBrokenTrustIn, {"org_id": org_id, "reason": typed.get("reason", "")})))
