"""REST routes of monitoring cases and dashboards, under /api/v1/monitoring. Money in fen.

Every route reads within the caller's jurisdiction: a case elsewhere does not exist (404)."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from qianshu.accounts.deps import CurrentActor, SignedInActor
from qianshu.core.blobs import open_blob_store
from qianshu.core.body_rules import BodyRule
from qianshu.core.errors import InvalidInput
from qianshu.core.http import AppSettings, WriteDbSession, get_lang
from qianshu.core.openapi import problems
from qianshu.core.settings import Settings
from qianshu.monitoring import case_opening, case_views, cases, dashboards

router = APIRouter(prefix="/api/v1/monitoring", tags=["monitoring"])
MAX_FILE_BYTES = 8 * 1024**2
MAX_FILES = 8
# A step may carry photos and the signed authorisation, base64 in JSON (4/3 of their size).
BODY_RULES = [BodyRule("POST", r"/api/v1/monitoring/cases/\d+/steps/[a-z_]+",
                       lambda s: MAX_FILES * MAX_FILE_BYTES * 4 // 3 + 64 * 1024)]


def _filters(stage: str, status: str, channel: str, reason: str, month: str, division: str) -> cases.Filters:
    return cases.Filters(stage=stage, status=status, channel=channel, reason=reason, month=month, division=division)


@router.get("/cases", summary="List the monitoring cases within one's jurisdiction", responses=problems(401, 403, 422))
def list_cases(db: WriteDbSession, actor: SignedInActor, stage: str = "", status: str = "", channel: str = "",
               reason: str = "", month: str = "", division: str = "") -> list[dict[str, Any]]:
    """Names and resident IDs are masked unless the caller is a county, township or village caseworker."""
    found = cases.list_cases(db, actor, _filters(stage, status, channel, reason, month, division))
    return [case_views.case_json(actor, c) for c in found]


@router.get("/cases.csv", summary="Export the monitoring cases within one's jurisdiction as CSV",
            responses=problems(401, 403, 422))
def export_cases(request: Request, db: WriteDbSession, actor: SignedInActor, stage: str = "", status: str = "",
                 channel: str = "", reason: str = "", month: str = "", division: str = "") -> Response:
    found = cases.list_cases(db, actor, _filters(stage, status, channel, reason, month, division),
                             audit_as="exported")
    return Response(case_views.cases_csv(actor, found), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="qianshu-monitoring-cases.csv"'})


@router.post("/cases", status_code=201, summary="Open a case (a cadre's visit, linked monitoring, a self-report)",
             responses=problems(401, 403, 409, 422))
def open_case(data: dict[str, Any], db: WriteDbSession, actor: CurrentActor) -> dict[str, Any]:
    """``channel``: ``cadre_visit`` or ``linked`` (a caseworker of the village, township or county),
    ``self_report`` (anyone); ``division_code`` (the village, 12 digits), ``head_name``,
    ``head_resident_id``, ``members``, ``note``, optional ``household_id`` and ``risk_types``."""
    members = data.get("members", 0)
    case = case_opening.open_case(
        db, actor, channel=str(data.get("channel", "")), household_id=str(data.get("household_id") or ""),
        division_code=str(data.get("division_code", "")), head_name=str(data.get("head_name", "")),
        head_resident_id=str(data.get("head_resident_id", "")),
        members=members if isinstance(members, int) else 0, note=str(data.get("note", ""))[:4000],
        risk_types=[str(r) for r in data.get("risk_types") or []])
    return case_views.case_json(actor, case)


@router.get("/cases/{case_id}", summary="A monitoring case, its steps and measures", responses=problems(401, 404))
def get_case(case_id: int, db: WriteDbSession, actor: SignedInActor) -> dict[str, Any]:
    case = cases.get_case(db, actor, case_id)
    identified = case_views.may_identify(actor, case)
    return {**case_views.case_json(actor, case),
            "events": [case_views.event_json(e, identified) for e in cases.events_of(db, case.id)],
            "measures": [case_views.measure_json(m) for m in cases.measures_of(db, case.id)]}


def _store_files(settings: Settings, files: Any) -> list[dict[str, Any]]:
    if not files:
        return []
    if not isinstance(files, list) or len(files) > MAX_FILES:
        raise InvalidInput("{field}: at most {max} files.", field="files", max=MAX_FILES)
    store = open_blob_store(settings)
    stored = []
    for item in files:
        try:
            content = base64.b64decode(str(item.get("content_base64", "")), validate=True)
        except (binascii.Error, ValueError, AttributeError):
            raise InvalidInput("{field}: the file's content must be base64.", field="files") from None
        if not content or len(content) > MAX_FILE_BYTES:
            raise InvalidInput("{field}: a file of 1 byte to {max} MB.", field="files", max=MAX_FILE_BYTES // 1024**2)
        digest, size = store.put_stream([content])
        stored.append({"digest": digest, "size": size, "name": str(item.get("name", ""))[:200],
                       "kind": str(item.get("kind", ""))})
    return stored


@router.post("/cases/{case_id}/steps/{step}", summary="Do the next step of a case (with the version you saw)",
             responses=problems(401, 403, 404, 409, 422))
def do_step(case_id: int, step: str, data: dict[str, Any], db: WriteDbSession, actor: SignedInActor,
            settings: AppSettings) -> dict[str, Any]:
    """``version``: the case's version you saw (409 if someone changed it since). The step's fields
    (``findings``, ``decision``/``reason``, ``household_type``/``risk_types``, a measure's ``kind``,
    ``department``, ``amount_fen``, ``starts_on`` ...) and, for visits, ``files``:
    [{``kind``: photo | authorisation | screening, ``name``, ``content_base64``}]."""
    version = data.get("version")
    if not isinstance(version, int):
        raise InvalidInput("{field}: give the version of the case you saw.", field="version")
    cases.get_case(db, actor, case_id, audited=False)  # a case elsewhere: 404 before any file is stored
    files = _store_files(settings, data.get("files"))
    case = cases.advance(db, actor, case_id, step, version, {k: v for k, v in data.items() if k != "files"}, files)
    return case_views.case_json(actor, case)


@router.get("/dashboard", summary="Counts by division, reason and month within one's jurisdiction",
            responses=problems(401, 403, 404, 422))
def dashboard(request: Request, db: WriteDbSession, actor: SignedInActor, division: str = "") -> dict[str, Any]:
    board = dashboards.compute(db, actor, division)
    lang = get_lang(request)
    return {"division": board.division, "level": board.level, "totals": board.totals,
            "series": {name: [{"key": r.key, "label": r.label(lang, name), **r.counts} for r in rows]
                       for name, rows in board.series.items()}}
