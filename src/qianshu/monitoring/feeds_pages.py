"""Portal pages of monitoring's feeds, rules and runs (pages.py includes them with the cases' pages).

A refused form shows its page again with the error in the reader's language, nothing changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from qianshu.accounts.deps import SignedInActor, signed_in_actor
from qianshu.core.actor import Actor
from qianshu.core.blobs import open_blob_store
from qianshu.core.body_rules import BodyRule
from qianshu.core.errors import InvalidInput, QianshuError
from qianshu.core.forms import Form
from qianshu.core.http import (
    AppSettings,
    DbSession,
    PostedForm,
    WriteDbSession,
    form_fields,
    get_database,
    get_lang,
    receive_streamed,
    render,
    see_other,
    show_form_errors,
    submit_form,
)
from qianshu.core.i18n import N_
from qianshu.core.identifiers import validate_division_code
from qianshu.core.settings import Settings
from qianshu.monitoring import (
    feed_uploads,
    feeds,
    feeds_api,
    feeds_read_models,
    rulesets,
    runs,
    schemas,
    shared_feeds,
)
from qianshu.monitoring.feeds_api import rejects_response
from qianshu.monitoring.feeds_read_models import home_division, this_year
from qianshu.monitoring.models import FeedUpload, FeedVersion, MonitoringRun
from qianshu.monitoring.rules import PARAMETERS

router = APIRouter(include_in_schema=False)


# --- feeds --------------------------------------------------------------------------------------

FEED_LABELS = {"feed": N_("Feed"), "year": N_("Year"), "division": N_("Division code"), "encoding": N_("Encoding"),
               "file": N_("File (CSV, XLSX or Parquet)")}


@dataclass(frozen=True)
class FeedsPage(feeds_read_models.FeedsView):
    """The feeds page: its read model (``feeds_read_models.feeds_view``) and the upload form as
    posted, with its errors beside the fields."""

    form: Form = field(default_factory=Form)


def _feeds_page(db: Session, actor: Actor, form: Form | None = None) -> FeedsPage:
    return FeedsPage(**vars(feeds_read_models.feeds_view(db, actor)), form=form or Form())


@router.get("/monitoring/feeds")
def feeds_index(request: Request, db: DbSession, actor: SignedInActor) -> Response:
    """The feeds' versions the department may see, and the upload form."""
    return render(request, "monitoring/feeds.html", _feeds_page(db, actor))


# The upload form streams its file as the API does (feeds_api.streamed_feed), so it takes files up to
# ``[monitoring] feed_max_bytes``, not the portal's default body limit.
BODY_RULES = [BodyRule("POST", r"/monitoring/feeds", feeds_api.form_limit, stream=True)]


@router.post("/monitoring/feeds")
async def feeds_upload(request: Request, settings: AppSettings) -> Response:
    """The form's fields come before its file: who may upload for the division is asked before a
    byte of the file is read; the file then streams to a temporary file with no transaction open,
    and is stored and queued for its check in a short transaction. A refusal shows the form again
    with the error beside its field."""
    return await receive_streamed(request, signed_in_actor, lambda actor: _receive_form(request, actor, settings))


def _receive_form(request: Request, actor: Actor, settings: Settings) -> Response:
    database = get_database(request)
    data: dict[str, str] = {}

    def allowed(fields: Mapping[str, str]) -> None:
        year = fields.get("year", "").strip()
        if not year.isdigit():
            raise InvalidInput("{field}: not a plausible year", field="year")
        feeds.require_upload_target(actor, int(year), fields.get("division", "").strip())

    try:
        with feeds_api.streamed_feed(request, settings, allowed, seen=data) as got:
            target = feeds.Upload(feed=got.fields.get("feed", ""), year=int(got.fields["year"].strip()),
                                  division=got.fields.get("division", "").strip(), name=got.name,
                                  encoding=got.fields.get("encoding", "auto"))
            with database.unit_of_work() as db:
                upload_id = feed_uploads.receive(db, actor, settings, open_blob_store(settings), got.kept, target).id
    except QianshuError as exc:
        if exc.status in (401, 403):
            raise
        with database.unit_of_work(write=False) as db:
            return show_form_errors(request, exc, data, FEED_LABELS, lambda kept: (
                "monitoring/feeds.html", _feeds_page(db, actor, kept)), name="upload")
    return see_other(f"/monitoring/feeds/uploads/{upload_id}")


SHARED_LABELS = {"request_id": N_("Grant"), "feed": N_("Feed"), "division": N_("Division code")}


@router.post("/monitoring/feeds/shared")
def feeds_receive_grant(request: Request, db: DbSession, actor: SignedInActor, posted: PostedForm) -> Response:
    """Receive a data-sharing feed grant of the organisation as a monitoring feed of a division."""
    def work(got: schemas.SharedFeedIn) -> Response:
        shared_feeds.receive_grant(db, actor, got.request_id, got.feed, got.division)
        return see_other("/monitoring/feeds#shared")

    return submit_form(request, db, schemas.SharedFeedIn, form_fields(posted), SHARED_LABELS, work,
                       lambda kept: ("monitoring/feeds.html", _feeds_page(db, actor, kept)), name="shared")


WITHDRAW_LABELS = {"reason": N_("Reason")}


@router.post("/monitoring/feeds/shared/{shared_feed_id:int}/withdraw")
def feeds_withdraw_grant(shared_feed_id: int, request: Request, db: DbSession, actor: SignedInActor,
                         posted: PostedForm) -> Response:
    """Withdraw a feed received through data sharing, saying why: nothing more arrives through it."""
    def work(got: schemas.SharedFeedWithdrawIn) -> Response:
        shared_feeds.withdraw(db, actor, shared_feed_id, got.reason)
        return see_other("/monitoring/feeds#shared")

    return submit_form(request, db, schemas.SharedFeedWithdrawIn, {"reason": str(posted.get("reason") or "")},
                       WITHDRAW_LABELS, work, lambda kept: ("monitoring/feeds.html", _feeds_page(db, actor, kept)),
                       name=f"withdraw-{shared_feed_id}")


@dataclass
class UploadPage:
    upload: FeedUpload
    progress: float
    stage: str
    error: str


@router.get("/monitoring/feeds/uploads/{upload_id:int}")
def feed_upload(upload_id: int, request: Request, db: DbSession, actor: SignedInActor) -> Response:
    """An uploaded file while its job checks it (the page reloads itself), then its version or
    the reason it was refused whole, in the reader's language."""
    upload = feed_uploads.get_upload(db, actor, upload_id)
    fraction, stage = feed_uploads.job_progress(db, upload)
    return render(request, "monitoring/feed_upload.html", UploadPage(
        upload, fraction, stage, feed_uploads.error_text(upload, get_lang(request))),
        status_code=422 if upload.status == "refused" else 200)


@dataclass
class VersionPage:
    version: FeedVersion
    findings: list[str]


@router.get("/monitoring/feeds/{version_id:int}")
def feed_version(version_id: int, request: Request, db: DbSession, actor: SignedInActor) -> Response:
    version = feeds.get_version(db, actor, version_id)
    return render(request, "monitoring/feed_version.html", VersionPage(
        version, feeds_read_models.findings_lines(version.findings, get_lang(request))))


@router.get("/monitoring/feeds/{version_id:int}/rejects.csv")
def feed_rejects(version_id: int, db: DbSession, actor: SignedInActor, settings: AppSettings) -> Response:
    return rejects_response(db, actor, settings, version_id)


# --- rules --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RulesPage(feeds_read_models.RulesView):
    error: str = ""


def _rules_page(request: Request, db: Session, actor: Actor, year: int, division: str, error: str = "",
                status: int = 200) -> Response:
    view = feeds_read_models.rules_view(db, actor, year, division)
    return render(request, "monitoring/rules.html", RulesPage(**vars(view), error=error), status_code=status)


def _year_division(actor: Actor, year: str, division: str) -> tuple[int, str]:
    """The year and division asked for (empty: this year, the viewer's own division); a malformed
    one is refused (422 naming the field), never replaced by another division."""
    if year.strip() and not year.strip().isdigit():
        raise InvalidInput("{field}: not a plausible year", field="year")
    return (int(year) if year.strip() else this_year(),
            validate_division_code(division, "division") if division.strip() else home_division(actor)[:6])


@router.get("/monitoring/rules")
def rules_index(request: Request, db: DbSession, actor: SignedInActor, year: str = "", division: str = "") -> Response:
    """The parameters in force for a year and a region, where each came from, and their history; a
    malformed year or division asked for shows the viewer's own with the error (422)."""
    try:
        y, d = _year_division(actor, year, division)
    except InvalidInput as exc:
        return _rules_page(request, db, actor, this_year(), home_division(actor)[:6], exc.render(get_lang(request)),
                           exc.status)
    return _rules_page(request, db, actor, y, d)


def _parameters_from(form: dict[str, Any], enabled: list[str]) -> dict[str, Any]:
    """The fields filled in (empty: inherited); the threshold in yuan, the ratios in percent."""
    values: dict[str, Any] = {}
    for name in PARAMETERS:
        if name == "enabled":
            continue
        text = str(form.get(name, "")).replace(",", "").strip()
        if not text:
            continue
        try:
            number = float(text)
        except ValueError:
            raise InvalidInput("{field} is not a valid value.", field=name) from None
        if name == "income_threshold_fen":
            values[name] = round(number * 100)
        elif name.endswith("_ratio"):
            values[name] = number / 100
        elif PARAMETERS[name] is int:
            values[name] = int(number) if number == int(number) else number
        else:
            values[name] = number
    if form.get("set_enabled"):
        values["enabled"] = enabled
    return values


@router.post("/monitoring/rules")
def rules_set(request: Request, db: DbSession, actor: SignedInActor, posted: PostedForm) -> Response:
    form = form_fields(posted, lists=("enabled",))
    y, d = this_year(), home_division(actor)[:6]
    try:
        y, d = _year_division(actor, str(form.get("year", "")), str(form.get("division", "")))
        rulesets.set_parameters(db, actor, y, d, _parameters_from(form, list(form.get("enabled", []))),
                                str(form.get("note", "")))
    except QianshuError as exc:
        if exc.status in (401, 403):
            raise
        db.rollback()
        return _rules_page(request, db, actor, y, d, exc.render(get_lang(request)), exc.status)
    return see_other(f"/monitoring/rules?year={y}&division={d}")


# --- runs ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RunsPage(feeds_read_models.RunsView):
    error: str = ""


def _runs_page(request: Request, db: Session, actor: Actor, error: str = "", status: int = 200) -> Response:
    view = feeds_read_models.runs_view(db, actor)
    return render(request, "monitoring/runs.html", RunsPage(**vars(view), error=error), status_code=status)


@router.get("/monitoring/runs")
def runs_index(request: Request, db: DbSession, actor: SignedInActor) -> Response:
    return _runs_page(request, db, actor)


@router.post("/monitoring/runs")
def runs_start(request: Request, db: DbSession, actor: SignedInActor, posted: PostedForm) -> Response:
    form = form_fields(posted)
    try:
        y, d = _year_division(actor, str(form.get("year", "")), str(form.get("division", "")))
        run = runs.start_run(db, actor, y, d, force=bool(form.get("force")))
    except QianshuError as exc:
        if exc.status in (401, 403):
            raise
        db.rollback()
        return _runs_page(request, db, actor, exc.render(get_lang(request)), exc.status)
    return see_other(f"/monitoring/runs/{run.id}")


@dataclass
class RunPage:
    run: MonitoringRun
    progress: float
    stage: str
    households: list[runs.Flagged]
    bars: list[tuple[str, int, float]]  # reason, flags, width in %


@router.get("/monitoring/runs/{run_id:int}")
def run_detail(run_id: int, request: Request, db: WriteDbSession, actor: SignedInActor) -> Response:
    """Progress while it runs (the page reloads itself), then the flags by reason and the households."""
    run = runs.get_run(db, actor, run_id)
    job = runs.job_of(db, run)
    top = max(run.reasons.values(), default=0)
    bars = [(reason, count, 100 * count / top if top else 0.0)
            for reason, count in sorted(run.reasons.items(), key=lambda kv: -kv[1])]
    return render(request, "monitoring/run.html", RunPage(
        run, job.progress if job else 0.0, job.stage if job else "",
        runs.households_seen_by(db, actor, run_id, limit=200), bars))
