"""Pages that belong to no capability: home, language switch, health."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from qianshu.core.http import render, safe_local_path
from qianshu.core.i18n import LANG_COOKIE, LANGUAGES

router = APIRouter(include_in_schema=False)


@dataclass
class Tile:
    href: str
    title: str
    text: str


@dataclass
class HomePage:
    tiles: list[Tile] = field(default_factory=list)


HOME_TILES = [
    Tile("/catalog", "Catalogue", "Find data products by keyword, industry and region."),
    Tile("/registry", "Data registration", "Register data and receive a signed certificate."),
    Tile("/log", "Public log", "Check any certificate against the tamper-evident log."),
    Tile("/apply", "Apply to join", "Organisations apply; the exchange reviews them."),
]


@router.get("/")
def home(request: Request) -> Response:
    return render(request, "home.html", HomePage(HOME_TILES))


@router.get("/lang/{code}")
def switch_language(code: str, next: str = "/") -> Response:
    """Remember the language for a year; go back where the user was (same site only)."""
    response = RedirectResponse(safe_local_path(next), status_code=303)
    if code in LANGUAGES:
        response.set_cookie(LANG_COOKIE, code, max_age=365 * 24 * 3600, samesite="lax")
    return response


@router.get("/healthz")
def health() -> dict[str, str]:
    return {"status": "ok"}
