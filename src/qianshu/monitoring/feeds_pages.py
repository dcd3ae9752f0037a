"""Portal pages of monitoring's feeds, rules and runs (pages.py includes them with the cases' pages).

A refused form shows its page again with the error in the reader's language, nothing changed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile

from qianshu.accounts.deps import SignedInActor
from qianshu.core import policy
from qianshu.core.actor import Actor
from qianshu.core.errors import InvalidInput, QianshuError
from qianshu.core.http import AppSettings, DbSession, PostedForm, form_fields, get_lang, render, see_other
from qianshu.core.timeutil import utcnow
from qianshu.monitoring import feed_uploads, feeds, rulesets, runs
from qianshu.monitoring.feeds_api import receive_feed, rejects_response
from qianshu.monitoring.models import FeedUpload, FeedVersion, MonitoringRun, RuleParameters
from qianshu.monitoring.population import FEEDS
from qianshu.monitoring.rules import PARAMETERS, RULES

router = APIRouter(include_in_schema=False)


def _this_year() -> int:
    return utcnow().year


def _home(actor: Actor) -> str:
    return actor.jurisdiction or feeds.PROVINCE


# --- feeds --------------------------------------------------------------------------------------

@dataclass
class FeedsPage:
    versions: list[FeedVersion]
    uploads: list[FeedUpload] = field(default_factory=list)
    feeds: tuple[str, ...] = FEEDS
    may_upload: bool = False
    year: int = 0
    division: str = ""
    error: str = ""


def _feeds_page(request: Request, db: Session, actor: Actor, error: str = "", status: int = 200) -> Response:
    may_upload = policy.allows(actor, "monitoring.feeds.upload", feeds.upload_resource(_home(actor)))
    return render(request, "monitoring/feeds.html", FeedsPage(
        feeds.list_versions(db, actor)[:200], feed_uploads.recent_uploads(db, actor, 10), may_upload=may_upload,
        year=_this_year(), division=_home(actor), error=error), status_code=status)


@router.get("/monitoring/feeds")
def feeds_index(request: Request, db: DbSession, actor: SignedInActor) -> Response:
    """The feeds' versions the department may see, and the upload form."""
    return _feeds_page(request, db, actor)


@router.post("/monitoring/feeds")
def feeds_upload(request: Request, db: DbSession, actor: SignedInActor, settings: AppSettings,
                 posted: PostedForm) -> Response:
    form = form_fields(posted)
    division = str(form.get("division", "")).strip()
    try:
        policy.require(actor, "monitoring.feeds.upload", feeds.upload_resource(division))
        upload = posted.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise InvalidInput("{field}: choose a file", field="file")
        year = str(form.get("year", "")).strip()
        if not year.isdigit():
            raise InvalidInput("{field}: not a plausible year", field="year")
        received = receive_feed(db, actor, settings, upload, feeds.Upload(
            feed=str(form.get("feed", "")), year=int(year), division=division, name=upload.filename,
            encoding=str(form.get("encoding", "auto"))))
    except QianshuError as exc:
        if exc.status in (401, 403):
            raise
        db.rollback()
        return _feeds_page(request, db, actor, exc.render(get_lang(request)), exc.status)
    return see_other(f"/monitoring/feeds/uploads/{received.id}")


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
    findings: str


@router.get("/monitoring/feeds/{version_id:int}")
def feed_version(version_id: int, request: Request, db: DbSession, actor: SignedInActor) -> Response:
    version = feeds.get_version(db, actor, version_id)
    return render(request, "monitoring/feed_version.html", VersionPage(
        version, json.dumps(version.findings, ensure_ascii=False, indent=1)))


@router.get("/monitoring/feeds/{version_id:int}/rejects.csv")
def feed_rejects(version_id: int, db: DbSession, actor: SignedInActor, settings: AppSettings) -> Response:
    return rejects_response(db, actor, settings, version_id)


# --- rules --------------------------------------------------------------------------------------

@dataclass
class RulesPage:
    year: int
    division: str
    values: dict[str, Any]
    sources: dict[str, str]
    history: list[RuleParameters]
    rules: tuple[str, ...] = RULES
    names: tuple[str, ...] = tuple(n for n in PARAMETERS if n != "enabled")
    may_edit: bool = False
    error: str = ""
    own: dict[str, Any] = field(default_factory=dict)


def _rules_page(request: Request, db: Session, actor: Actor, year: int, division: str, error: str = "",
                status: int = 200) -> Response:
    history = rulesets.history(db, actor, year, division)
    found = rulesets.effective(db, year, division)
    own = rulesets.newest(db, year, division)
    return render(request, "monitoring/rules.html", RulesPage(
        year, division, found.rules.parameters(), found.sources, history,
        may_edit=policy.allows(actor, "monitoring.rules.edit", policy.Resource(division=division)), error=error,
        own=own.parameters if own else {}), status_code=status)


def _year_division(actor: Actor, year: str, division: str) -> tuple[int, str]:
    try:
        from qianshu.core.identifiers import validate_division_code

        return (int(year) if year.strip().isdigit() else _this_year(),
                validate_division_code(division, "division") if division.strip() else _home(actor)[:6])
    except InvalidInput:
        return _this_year(), _home(actor)[:6]


@router.get("/monitoring/rules")
def rules_index(request: Request, db: DbSession, actor: SignedInActor, year: str = "", division: str = "") -> Response:
    """The parameters in force for a year and a region, where each came from, and their history."""
    y, d = _year_division(actor, year, division)
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
    y, d = _year_division(actor, str(form.get("year", "")), str(form.get("division", "")))
    try:
        rulesets.set_parameters(db, actor, y, d, _parameters_from(form, list(form.get("enabled", []))),
                                str(form.get("note", "")))
    except QianshuError as exc:
        if exc.status in (401, 403):
            raise
        db.rollback()
        return _rules_page(request, db, actor, y, d, exc.render(get_lang(request)), exc.status)
    return see_other(f"/monitoring/rules?year={y}&division={d}")


# --- runs ---------------------------------------------------------------------------------------

@dataclass
class RunsPage:
    runs: list[MonitoringRun]
    year: int
    division: str
    may_start: bool
    error: str = ""


def _runs_page(request: Request, db: Session, actor: Actor, error: str = "", status: int = 200) -> Response:
    return render(request, "monitoring/runs.html", RunsPage(
        runs.list_runs(db, actor), _this_year(), _home(actor)[:6],
        policy.allows(actor, "monitoring.runs.start", policy.Resource(division=_home(actor)[:6])), error),
        status_code=status)


@router.get("/monitoring/runs")
def runs_index(request: Request, db: DbSession, actor: SignedInActor) -> Response:
    return _runs_page(request, db, actor)


@router.post("/monitoring/runs")
def runs_start(request: Request, db: DbSession, actor: SignedInActor, posted: PostedForm) -> Response:
    form = form_fields(posted)
    y, d = _year_division(actor, str(form.get("year", "")), str(form.get("division", "")))
    try:
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
def run_detail(run_id: int, request: Request, db: DbSession, actor: SignedInActor) -> Response:
    """Progress while it runs (the page reloads itself), then the flags by reason and the households."""
    run = runs.get_run(db, actor, run_id)
    job = runs.job_of(db, run)
    top = max(run.reasons.values(), default=0)
    bars = [(reason, count, 100 * count / top if top else 0.0)
            for reason, count in sorted(run.reasons.items(), key=lambda kv: -kv[1])]
    return render(request, "monitoring/run.html", RunPage(
        run, job.progress if job else 0.0, job.stage if job else "",
        runs.flagged_households(db, run_id)[:200], bars))
