"""REST routes of monitoring's feeds, rules and runs, under /api/v1/monitoring."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from qianshu.accounts.deps import SignedInActor, load_actor
from qianshu.core.actor import Actor
from qianshu.core.blobs import open_blob_store
from qianshu.core.body_rules import BodyRule
from qianshu.core.errors import NotFound, PayloadTooLarge
from qianshu.core.http import (
    AppSettings,
    DbSession,
    WriteDbSession,
    body_chunks,
    get_database,
    get_lang,
    receive_streamed,
)
from qianshu.core.openapi import SIGNED_IN, body_of, problems
from qianshu.core.settings import Settings
from qianshu.core.streamed_form import FORM_SLACK, ReceivedForm, read_upload
from qianshu.monitoring import feed_uploads, feeds, rulesets, runs, schemas, shared_feeds
from qianshu.monitoring.models import FeedVersion, MonitoringRun, RuleParameters, SharedFeed
from qianshu.monitoring.settings import MonitoringSettings

router = APIRouter(prefix="/api/v1/monitoring", tags=["monitoring"])


def version_json(v: FeedVersion) -> dict[str, Any]:
    return {"id": v.id, "feed": v.feed, "department": v.department, "year": v.year, "division": v.division_code,
            "version": v.version, "source_name": v.source_name, "format": v.source_format,
            "encoding": v.source_encoding, "rows": v.rows_total, "accepted": v.rows_accepted,
            "rejected": v.rows_rejected, "findings": v.findings, "uploaded_at": v.uploaded_at.isoformat(),
            "rejects": f"/api/v1/monitoring/feeds/{v.id}/rejects.csv" if v.rejects_digest else None,
            "via": "sharing" if v.sharing_request_id else "upload", "sharing_request_id": v.sharing_request_id,
            "sharing_file_version": v.sharing_file_version}


def run_json(run: MonitoringRun, progress: float | None = None, stage: str = "") -> dict[str, Any]:
    return {"id": run.id, "year": run.year, "division": run.division_code, "status": run.status,
            "job_id": run.job_id, "progress": progress, "stage": stage, "feed_versions": run.feed_version_ids,
            "parameters": run.parameters, "parameter_rows": run.parameter_ids,
            "households_flagged": run.households_flagged, "flags": run.flags, "reasons": run.reasons,
            "error": run.error, "created_at": run.created_at.isoformat(),
            "finished_at": run.finished_at.isoformat() if run.finished_at else None}


def parameters_json(row: RuleParameters) -> dict[str, Any]:
    return {"id": row.id, "year": row.year, "division": row.division_code, "version": row.version,
            "parameters": row.parameters, "note": row.note, "set_by": row.set_by, "set_at": row.set_at.isoformat()}


def form_limit(settings: Settings) -> int:
    return settings.section(MonitoringSettings).feed_max_bytes + FORM_SLACK


# The feed file streams to a temporary file as it arrives (core/streamed_form.py), in the API and in
# the portal's form alike, so both take files up to ``[monitoring] feed_max_bytes``.
BODY_RULES = [BodyRule("POST", r"/api/v1/monitoring/feeds", form_limit, stream=True)]
FEED_FORM = {**body_of("multipart/form-data", "The feed file as the form part `file` (the feed, year and division "
                       "in the query).", {"type": "object", "required": ["file"],
                                         "properties": {"file": {"type": "string", "format": "binary"}}}),
             "security": SIGNED_IN}


@contextmanager
def streamed_feed(request: Request, settings: Settings, allowed: Callable[[Mapping[str, str]], None] = lambda _f: None,
                  seen: dict[str, str] | None = None) -> Iterator[ReceivedForm[Path]]:
    """The request's feed form, read as it arrives (``core.streamed_form.read_upload``: ``allowed``
    asked before a byte of the file is read; ``seen`` collects the text fields), its file in a
    temporary folder, bounded by ``[monitoring] feed_max_bytes``, for as long as the block runs."""
    limit = settings.section(MonitoringSettings).feed_max_bytes
    too_large = PayloadTooLarge("The file is larger than {limit} MB.", field="file", limit=limit // 2**20)
    settings.work_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=settings.work_dir) as work:
        path = Path(work) / "feed"

        def keep(_name: str, chunks: Iterator[bytes]) -> Path:
            with path.open("wb") as out:
                for chunk in chunks:
                    out.write(chunk)
            return path

        with read_upload(request.headers, body_chunks(request), limit, too_large, keep, allowed=allowed,
                         seen=seen) as got:
            yield got


@router.post("/feeds", status_code=202, summary="Upload a department's feed (checked by a job)",
             responses=problems(401, 403, 409, 413, 422), openapi_extra=FEED_FORM)
async def upload_feed(request: Request, settings: AppSettings, feed: str = "", year: int = 0, division: str = "",
                      encoding: str = "auto") -> Response:
    """The file as multipart ``file``; ``feed``, ``year`` and ``division`` (a county, or 520000) in
    the query. CSV (UTF-8 or GB18030), XLSX or Parquet, up to ``[monitoring] feed_max_bytes``,
    streamed as it arrives. The answer is the upload, queued: follow ``GET /feeds/uploads/{id}`` for
    its progress, then its version (the good rows; the others in the version's ``rejects``) or the
    reason the whole file was refused."""
    database = get_database(request)

    def receive(actor: Actor) -> Response:
        feeds.require_upload_target(actor, year, division)
        with streamed_feed(request, settings) as got:
            target = feeds.Upload(feed=feed, year=year, division=division, name=got.name, encoding=encoding)
            with database.unit_of_work() as db:
                row = feed_uploads.receive(db, actor, settings, open_blob_store(settings), got.kept, target)
                return JSONResponse(feed_uploads.upload_json(db, row, get_lang(request)), status_code=202)

    return await receive_streamed(request, load_actor, receive)


@router.get("/feeds/uploads/{upload_id}", summary="An uploaded feed: its check's progress and result",
            responses=problems(401, 403, 404))
def feed_upload(upload_id: int, request: Request, db: DbSession, actor: SignedInActor) -> dict[str, Any]:
    """``status``: queued, running, stored (``version_id``) or refused (``error``, in the
    request's language)."""
    return feed_uploads.upload_json(db, feed_uploads.get_upload(db, actor, upload_id), get_lang(request))


@router.get("/feeds", summary="List the feeds' versions", responses=problems(401, 403))
def list_feeds(db: DbSession, actor: SignedInActor, year: int | None = None, feed: str | None = None,
               division: str | None = None) -> list[dict[str, Any]]:
    return [version_json(v) for v in feeds.list_versions(db, actor, year=year, feed=feed, division=division)]


def rejects_response(db: Any, actor: Actor, settings: Settings, version_id: int) -> Response:
    version = feeds.get_version(db, actor, version_id)
    if not version.rejects_digest:
        raise NotFound("Not found.")
    data = open_blob_store(settings).path(version.rejects_digest).read_bytes()
    name = f"rejects-{version.feed}-{version.year}-{version.division_code}-v{version.version}.csv"
    return Response(data, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/feeds/{version_id}/rejects.csv", summary="The rejected rows of a feed version, with reasons",
            responses=problems(401, 403, 404))
def feed_rejects(version_id: int, db: DbSession, actor: SignedInActor, settings: AppSettings) -> Response:
    return rejects_response(db, actor, settings, version_id)


def shared_feed_json(row: SharedFeed) -> dict[str, Any]:
    return {"id": row.id, "request_id": row.request_id, "feed": row.feed, "division": row.division_code,
            "created_by": row.created_by, "created_at": row.created_at.isoformat(),
            "status": "withdrawn" if row.withdrawn_at else "receiving",
            "withdrawn_at": row.withdrawn_at.isoformat() if row.withdrawn_at else None,
            "withdrawn_by": row.withdrawn_by, "withdrawn_by_name": row.withdrawn_by_label or None,
            "withdraw_reason": row.withdraw_reason or None}


@router.post("/shared-feeds", status_code=201, summary="Receive a data-sharing feed grant as a monitoring feed",
             responses=problems(401, 403, 404, 409, 422))
def receive_shared_feed(data: schemas.SharedFeedIn, db: DbSession, actor: SignedInActor) -> dict[str, Any]:
    """The grant (``request_id``: a feed grant of the caller's organisation, in force) carries the
    feed ``feed`` of ``division``; its granted fields must hold the feed's columns. The newest
    version in the granted period arrives at once, each later one as the owner publishes it: see
    ``GET /feeds/uploads/{id}`` and the versions' ``via``. A grant has one declaration in force:
    declaring it again is 409 ``already_received`` until that one is withdrawn."""
    return shared_feed_json(shared_feeds.receive_grant(db, actor, data.request_id, data.feed, data.division))


@router.get("/shared-feeds", summary="The data-sharing grants received as monitoring feeds (withdrawn ones too)",
            responses=problems(401))
def list_shared_feeds(db: DbSession, actor: SignedInActor) -> list[dict[str, Any]]:
    return [shared_feed_json(r) for r in shared_feeds.shared_feeds(db, actor)]


@router.post("/shared-feeds/{shared_feed_id}/withdraw", summary="Withdraw a feed received through data sharing",
             responses=problems(401, 403, 404, 409, 422))
def withdraw_shared_feed(shared_feed_id: int, data: schemas.SharedFeedWithdrawIn, db: DbSession,
                         actor: SignedInActor) -> dict[str, Any]:
    """Saying why (``reason``). No version the owner publishes afterwards arrives; the versions that
    came before stay. The declaration stays too, ``withdrawn`` with who and when; a second
    withdrawal is 409 ``feed_withdrawn``. The grant's owner is told in its inbox, and the grant can
    be declared again."""
    return shared_feed_json(shared_feeds.withdraw(db, actor, shared_feed_id, data.reason))


@router.get("/rules/{year}/{division}", summary="The rules' parameters in force and their history",
            responses=problems(401, 403, 422))
def get_rules(year: int, division: str, db: DbSession, actor: SignedInActor) -> dict[str, Any]:
    history = rulesets.history(db, actor, year, division)
    found = rulesets.effective(db, year, division)
    return {"year": year, "division": division, "parameters": found.rules.parameters(), "sources": found.sources,
            "history": [parameters_json(r) for r in history]}


@router.put("/rules/{year}/{division}", summary="Set the rules' parameters of a year for a region",
            responses=problems(401, 403, 422))
def put_rules(year: int, division: str, data: schemas.ParametersIn, db: DbSession,
              actor: SignedInActor) -> dict[str, Any]:
    return parameters_json(rulesets.set_parameters(db, actor, year, division, data.parameters, data.note))


@router.post("/runs", status_code=201, summary="Start a run of the rules (a job)", responses=problems(401, 403, 422))
def start_run(data: schemas.RunIn, db: DbSession, actor: SignedInActor) -> dict[str, Any]:
    """Over the current feed versions and parameters; a run with the same inputs is given back."""
    return run_json(runs.start_run(db, actor, data.year, data.division, force=data.force))


@router.get("/runs/{run_id}", summary="A run: its progress and result", responses=problems(401, 403, 404))
def get_run(run_id: int, db: DbSession, actor: SignedInActor) -> dict[str, Any]:
    run = runs.get_run(db, actor, run_id)
    job = runs.job_of(db, run)
    return run_json(run, job.progress if job else None, job.stage if job else "")


@router.get("/runs/{run_id}/households", summary="The households a run flagged", responses=problems(401, 403, 404))
def run_households(run_id: int, db: WriteDbSession, actor: SignedInActor, division: str | None = None,
                   limit: int = 1000, offset: int = 0) -> list[dict[str, Any]]:
    found = runs.households_seen_by(db, actor, run_id, division=division, limit=min(limit, 10_000), offset=offset)
    return [{"household_id": f.household_id, "county_code": f.county_code, "township_code": f.township_code,
             "village_code": f.village_code, "proposed_type": f.proposed_type,
             "reasons": [vars(r) | {"feed_version_ids": list(r.feed_version_ids)} for r in f.reasons]}
            for f in found]
