"""Pages that belong to no capability: home, language switch; the health probes."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from qianshu.core.actor import ANONYMOUS
from qianshu.core.home import Figure
from qianshu.core.http import get_database, render, safe_local_path
from qianshu.core.i18n import LANG_COOKIE, LANGUAGES
from qianshu.web import read_models

router = APIRouter(include_in_schema=False)


# Headline figures are the same for every visitor and the home page is the busiest page: count them
# at most once per FIGURES_SECONDS per app (a figure a few seconds old is still true enough).
FIGURES_SECONDS = 15.0
_figures_lock = threading.Lock()


def _figures(request: Request) -> list[Figure]:
    state = request.app.state
    with _figures_lock:
        cached: tuple[float, list[Figure]] | None = getattr(state, "home_figures", None)
        if cached is not None and time.monotonic() - cached[0] < FIGURES_SECONDS:
            return cached[1]
    with get_database(request).unit_of_work(write=False) as db:
        found = read_models.figures(db)
    with _figures_lock:
        state.home_figures = (time.monotonic(), found)
    return found


@router.get("/")
def home(request: Request) -> Response:
    actor = getattr(request.state, "actor", None) or ANONYMOUS
    shown = _figures(request)
    if actor.user_id is None:  # the busiest page: an anonymous visit opens no transaction of its own
        return render(request, "home.html", read_models.home(None, actor, shown))
    with get_database(request).unit_of_work(write=False) as db:
        return render(request, "home.html", read_models.home(db, actor, shown))


@router.get("/lang/{code}")
def switch_language(code: str, next: str = "/") -> Response:
    """Remember the language for a year; go back where the user was (same site only)."""
    response = RedirectResponse(safe_local_path(next), status_code=303)
    if code in LANGUAGES:
        response.set_cookie(LANG_COOKIE, code, max_age=365 * 24 * 3600, samesite="lax")
    return response


# Probes for load balancers and orchestrators: no actor, no session.
probes = APIRouter(include_in_schema=False)
FAVICON = Path(__file__).resolve().parent / "static" / "favicon.svg"


@probes.get("/favicon.ico")
def favicon() -> Response:
    """Browsers ask for /favicon.ico whatever the page says; every current browser draws an SVG."""
    return FileResponse(FAVICON, media_type="image/svg+xml", headers={"Cache-Control": "public, max-age=86400"})


@probes.get("/healthz")
async def health() -> dict[str, str]:
    """Liveness: the process answers (touches nothing, so it is also the benchmarks' ceiling).
    In the app, admission control (``web/admission.py``) answers a GET before it gets here."""
    return {"status": "ok"}


@probes.get("/readyz")
def ready(request: Request) -> Response:
    """Readiness: the database answers too (503 while it does not)."""
    try:
        with get_database(request).unit_of_work(write=False) as session:
            session.execute(text("SELECT 1"))
    except SQLAlchemyError:  # unreachable, refusing, or every pooled connection busy
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok"})
