"""Portal pages of the public log: the latest head, recent leaves, a proof checked in the browser."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from fastapi import APIRouter, Request
from fastapi.responses import Response

from qianshu.core.errors import QianshuError
from qianshu.core.http import DbSession, render
from qianshu.translog import service
from qianshu.translog.models import LogEntry

router = APIRouter(include_in_schema=False)


@dataclass
class HeadView:
    tree_size: int
    root_hash: str
    timestamp: int
    key_id: str
    signature: str


@dataclass
class LogPage:
    head: HeadView | None
    tree_size: int
    recent: list[LogEntry] = field(default_factory=list)
    lookup: str = ""
    error: str = ""


@dataclass
class LeafPage:
    entry: LogEntry
    head: HeadView | None
    proof_json: str = ""  # for static/log-verify.js (data attribute; CSP forbids inline scripts)
    proof: list[str] = field(default_factory=list)


def _head(db: DbSession) -> HeadView | None:
    head = service.latest_tree_head(db)
    if head is None:
        return None
    doc = service.tree_head_document(head)
    return HeadView(head.tree_size, doc["root_hash"], head.timestamp, head.key_id, head.signature)


@router.get("/log")
def log_home(request: Request, db: DbSession, q: str = "") -> Response:
    page = LogPage(_head(db), service.tree_size(db), service.recent_leaves(db, 20), lookup=q[:100])
    if q.strip():
        try:
            text = q.strip()
            if text.isdigit() and len(text) < 19:
                return _redirect(f"/log/leaves/{int(text)}")
            found = service.find_leaf_by_hash(db, service.decode_hash(text))
            if found is not None:
                return _redirect(f"/log/leaves/{found.index}")
            page.error = "No leaf with this hash is in the log."
        except QianshuError as exc:
            page.error = exc.render(getattr(request.state, "lang", "zh"))
    return render(request, "translog/log.html", page)


@router.get("/log/leaves/{index}")
def leaf_page(request: Request, index: int, db: DbSession) -> Response:
    entry = service.get_leaf(db, index)
    bundle = service.proof_bundle(db, entry)
    return render(request, "translog/leaf.html", LeafPage(
        entry, _head(db), json.dumps(bundle) if bundle else "", bundle["inclusion_path"] if bundle else []))


def _redirect(url: str) -> Response:
    from fastapi.responses import RedirectResponse

    return RedirectResponse(url, status_code=303)
