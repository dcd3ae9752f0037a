"""Portal pages of monitoring cases and dashboards: the caseworker's list (this month's alerts
with their reasons), a case with the forms of the steps the viewer may do, the self-report form,
and the dashboard with its drill-down map. A refused step shows the case again with the error."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from qianshu.accounts.deps import CurrentActor, SignedInActor
from qianshu.core.actor import Actor
from qianshu.core.blobs import open_blob_store
from qianshu.core.body_rules import BodyRule
from qianshu.core.errors import InvalidInput, QianshuError
from qianshu.core.http import AppSettings, PostedForm, WriteDbSession, form_fields, get_lang, render, see_other
from qianshu.core.read_models import extend
from qianshu.core.settings import Settings
from qianshu.core.timeutil import SHANGHAI, utcnow
from qianshu.monitoring import case_opening, case_views, cases, dashboards, read_models

router = APIRouter(include_in_schema=False)
MAX_FILE_BYTES = 8 * 1024**2
BODY_RULES = [BodyRule("POST", r"/monitoring/cases/\d+/steps/[a-z_]+", lambda s: 8 * MAX_FILE_BYTES + 64 * 1024)]


def _filters(request: Request) -> cases.Filters:
    q = request.query_params
    return cases.Filters(**{name: q.get(name, "")[:40] for name in ("stage", "status", "channel", "reason", "month",
                                                                      "division")})


@dataclass(frozen=True)
class ListPage(read_models.CaseListView):
    """The caseworker's list: its read model (``read_models.case_list``), the filters and the choices."""

    filters: cases.Filters = field(default_factory=cases.Filters)
    this_month: str = ""
    query: str = ""
    stages: tuple[str, ...] = cases.STAGES
    channels: tuple[str, ...] = cases.CHANNELS
    reasons: tuple[str, ...] = cases.RISK_TYPES


@router.get("/monitoring/cases")
def case_list(request: Request, db: WriteDbSession, actor: SignedInActor) -> Response:
    filters = _filters(request)
    view = read_models.case_list(db, actor, filters)
    return render(request, "monitoring/cases.html", extend(
        ListPage, view, filters=filters, this_month=utcnow().astimezone(SHANGHAI).strftime("%Y-%m"),
        query=str(request.query_params)))


@router.get("/monitoring/cases.csv")
def case_export(request: Request, db: WriteDbSession, actor: SignedInActor) -> Response:
    found = cases.list_cases(db, actor, _filters(request), audit_as="exported")
    return Response(case_views.cases_csv(actor, found), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="qianshu-monitoring-cases.csv"'})


@dataclass(frozen=True)
class CasePage(read_models.CaseView):
    """A case: its read model (``read_models.case_view``), a refused step's error and the choices."""

    error: str = ""
    household_types: tuple[str, ...] = cases.HOUSEHOLD_TYPES
    risk_types: tuple[str, ...] = cases.RISK_TYPES
    measure_kinds: tuple[str, ...] = cases.MEASURE_KINDS
    money_reasons: frozenset[str] = case_views.MONEY_REASONS
    today: str = ""


def _case_page(request: Request, db: Any, actor: Actor, case_id: int, error: str = "",
               status_code: int = 200) -> Response:
    view = read_models.case_view(db, actor, case_id, get_lang(request))
    return render(request, "monitoring/case.html", extend(
        CasePage, view, error=error, today=utcnow().astimezone(SHANGHAI).date().isoformat()),
        status_code=status_code)


@router.get("/monitoring/cases/{case_id:int}")
def case_page(case_id: int, request: Request, db: WriteDbSession, actor: SignedInActor) -> Response:
    return _case_page(request, db, actor, case_id)


def _uploads(settings: Settings, posted: Any) -> list[dict[str, Any]]:
    """The visit's photos and signed authorisation, into the blob store."""
    store = open_blob_store(settings)
    stored = []
    for kind, name in (("photo", "photos"), ("authorisation", "authorisation"), ("screening", "screening")):
        for upload in posted.getlist(name):
            if not isinstance(upload, UploadFile) or not (upload.filename or upload.size):
                continue
            content = upload.file.read(MAX_FILE_BYTES + 1)
            if not content or len(content) > MAX_FILE_BYTES:
                raise InvalidInput("{field}: a file of 1 byte to {max} MB.", field=name, max=MAX_FILE_BYTES // 1024**2)
            digest, size = store.put_stream([content])
            stored.append({"digest": digest, "size": size, "name": (upload.filename or "")[:200], "kind": kind})
    return stored


@router.post("/monitoring/cases/{case_id:int}/steps/{step}")
def do_step(case_id: int, step: str, request: Request, db: WriteDbSession, actor: SignedInActor, settings: AppSettings,
            posted: PostedForm) -> Response:
    form = form_fields(posted, lists=("risk_types",))
    try:
        cases.get_case(db, actor, case_id, audited=False)
        version = form.get("version", "")
        if not str(version).isdigit():
            raise InvalidInput("{field}: give the version of the case you saw.", field="version")
        files = _uploads(settings, posted)
        data = dict(form)
        if "amount_yuan" in form:
            data["amount_fen"] = _fen(str(form["amount_yuan"]))
        if "income_months_yuan" in form:
            data["income_months"] = _income_months_fen(str(form["income_months_yuan"]))
        cases.advance(db, actor, case_id, step, int(version), data, files)
    except QianshuError as exc:
        db.rollback()
        if exc.status in (401, 403, 404):
            raise
        return _case_page(request, db, actor, case_id, exc.render(get_lang(request)), exc.status)
    return see_other(f"/monitoring/cases/{case_id}")


def _fen(text: str, field: str = "amount_fen") -> int:
    from decimal import Decimal, InvalidOperation

    cleaned = text.replace(",", "").replace("，", "").strip()
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise InvalidInput("{field}: give a number.", field=field) from None
    if not value.is_finite() or value < 0 or value != value.quantize(Decimal("0.01")):
        raise InvalidInput("{field}: give a number with at most two decimals.", field=field)
    return int(value * 100)


def _income_months_fen(text: str) -> list[dict[str, Any]]:
    """The revisit form's "2026-05:800, 2026-06:820" (yuan, as the caseworker and the threshold on
    the page count) as the service's months in fen; Chinese commas and colons are accepted too."""
    parts = [p.strip() for p in text.replace("，", ",").replace("：", ":").split(",") if p.strip()]
    months = []
    for part in parts:
        month, _, yuan = part.partition(":")
        months.append({"month": month.strip(), "per_capita_fen": _fen(yuan, "income_months")})
    return months


@router.get("/monitoring/cases/{case_id:int}/files/{digest}")
def case_file(case_id: int, digest: str, db: WriteDbSession, actor: SignedInActor, settings: AppSettings) -> Response:
    item = cases.file_of_case(db, actor, case_id, digest)
    with open_blob_store(settings).open(item["digest"]) as fh:
        body = fh.read()
    image = _image_type(body)
    if image is not None:  # a photo opens in the browser; the type is read from the bytes, not the upload's word
        return Response(body, media_type=f"image/{image}", headers={
            "Content-Disposition": f'inline; filename="case-{case_id}-{item["kind"]}.{image}"',
            "X-Content-Type-Options": "nosniff"})
    return Response(body, media_type="application/octet-stream",
                    headers={"Content-Disposition": f'attachment; filename="case-{case_id}-{item["kind"]}"'})


# Written by hand: four signatures are all a photo needs, and anything else (HTML or SVG that a
# browser would run) stays a download.
IMAGE_SIGNATURES = ((b"\xff\xd8\xff", "jpeg"), (b"\x89PNG\r\n\x1a\n", "png"), (b"GIF87a", "gif"), (b"GIF89a", "gif"))


def _image_type(body: bytes) -> str | None:
    if body[:4] == b"RIFF" and body[8:12] == b"WEBP":
        return "webp"
    return next((kind for magic, kind in IMAGE_SIGNATURES if body.startswith(magic)), None)


@dataclass
class OpenPage:
    error: str = ""
    done: int | None = None
    channel: str = "self_report"
    form: dict[str, Any] = field(default_factory=dict)
    risk_types: tuple[str, ...] = cases.RISK_TYPES


@router.get("/monitoring/apply")
def apply_page(request: Request, actor: CurrentActor) -> Response:
    case_opening.require_self_report(actor)
    done = request.query_params.get("done", "")
    return render(request, "monitoring/apply.html", OpenPage(done=int(done) if done.isdigit() else None))


@router.post("/monitoring/apply")
def apply(request: Request, db: WriteDbSession, actor: CurrentActor, posted: PostedForm) -> Response:
    return _open(request, db, actor, posted, "self_report")


@router.post("/monitoring/cases")
def open_by_cadre(request: Request, db: WriteDbSession, actor: SignedInActor, posted: PostedForm) -> Response:
    return _open(request, db, actor, posted, None)


def _open(request: Request, db: Any, actor: Actor, posted: Any, channel: str | None) -> Response:
    form = form_fields(posted, lists=("risk_types",))
    chosen = channel or str(form.get("channel", "cadre_visit"))
    try:
        members = str(form.get("members", "")).strip()
        case = case_opening.open_case(db, actor, channel=chosen, household_id=str(form.get("household_id", "")),
                               division_code=str(form.get("division_code", "")),
                               head_name=str(form.get("head_name", ""))[:60],
                               head_resident_id=str(form.get("head_resident_id", "")),
                               members=int(members) if members.isdigit() else 0,
                               note=str(form.get("note", ""))[:4000], risk_types=form.get("risk_types", []))
    except QianshuError as exc:
        db.rollback()
        if exc.status in (401, 403):
            raise
        return render(request, "monitoring/apply.html", OpenPage(exc.render(get_lang(request)), None, chosen, form),
                      status_code=exc.status)
    if chosen == "self_report" and not case_views.may_read(actor, case):
        return see_other(f"/monitoring/apply?done={case.id}")
    return see_other(f"/monitoring/cases/{case.id}")


@router.get("/monitoring/cases/new")
def open_form(request: Request, actor: SignedInActor) -> Response:
    case_opening.require_caseworker(actor)
    return render(request, "monitoring/apply.html", OpenPage(channel="cadre_visit"))


@dataclass
class DashboardPage:
    board: dashboards.Dashboard
    cells: list[dashboards.Cell]
    names: dict[str, str]
    measures: tuple[str, ...] = dashboards.MEASURES


@router.get("/monitoring/dashboard")
def dashboard(request: Request, db: WriteDbSession, actor: SignedInActor, division: str = "") -> Response:
    board = dashboards.compute(db, actor, division)
    cells = dashboards.treemap(board.series["by_division"])
    lang = get_lang(request)
    names = {code: dashboards.division_name(code, lang) for code in (*board.parents, board.division)}
    return render(request, "monitoring/dashboard.html", DashboardPage(board, cells, names))


@router.get("/monitoring/dashboard/{name}.csv")
def dashboard_csv(name: str, request: Request, db: WriteDbSession, actor: SignedInActor,
                  division: str = "") -> Response:
    board = dashboards.compute(db, actor, division)
    body = dashboards.to_csv(board, name, get_lang(request))
    return Response(body, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="qianshu-monitoring-{name}.csv"'})


@router.get("/monitoring/dashboard.xlsx")
def dashboard_xlsx(request: Request, db: WriteDbSession, actor: SignedInActor, division: str = "") -> Response:
    board = dashboards.compute(db, actor, division)
    return Response(dashboards.to_xlsx(board, get_lang(request)),
                    media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="qianshu-monitoring-{board.division}.xlsx"'})

