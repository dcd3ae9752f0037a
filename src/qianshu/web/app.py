"""The application factory: one FastAPI app serving the REST API and the portal.

``create_app(settings)`` builds everything from its arguments (no import-time engine or
settings). Each capability listed in ``qianshu.capabilities`` contributes its ``api`` and
``pages`` routers, its ``static/`` folder (at ``/static/<capability>/``) and its nav links.
"""

from __future__ import annotations

import gc
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy.exc import DataError, IntegrityError, OperationalError, StatementError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from qianshu import __version__, capabilities
from qianshu.accounts import passwords
from qianshu.accounts.deps import load_actor
from qianshu.core import l10n
from qianshu.core.body_rules import BodyRule
from qianshu.core.db import Database, serve_requests_on_this_loop
from qianshu.core.errors import Conflict, InvalidInput, NotFound, QianshuError
from qianshu.core.http import build_templates, problem_response, render
from qianshu.core.i18n import translate
from qianshu.core.settings import Settings
from qianshu.core.signing import load_signer
from qianshu.core.validation import all_errors, error_from_details
from qianshu.web import openapi
from qianshu.web import pages as web_pages
from qianshu.web.admission import RETRY_AFTER_SECONDS, AdmissionControl
from qianshu.web.body_limits import RequestLimitsMiddleware
from qianshu.web.middleware import LanguageAndSecurityMiddleware
from qianshu.web.route_prefixes import build_included_routes, filter_routers_by_path
from qianshu.worker import build_worker

log = logging.getLogger(__name__)
PERIODIC_AFTER_START_SECONDS = 30.0
PACKAGE_ROOT = Path(__file__).resolve().parent.parent


def create_app(settings: Settings, database: Database | None = None) -> FastAPI:
    settings.check_production_safe()
    capabilities.check_or_fail(settings)
    passwords.configure(settings)  # the hashing parameters and the size of its thread pool
    database = database or Database(settings.effective_database_url,
                                    lock_timeout=settings.database_lock_timeout_seconds)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        serve_requests_on_this_loop()  # from now on, a database call on this loop's thread fails
        worker = None
        if settings.run_jobs_in_process:  # the embedded default; otherwise `qianshu worker` processes
            # Periodic tasks (issuing due certificates, sweeping blobs) wait until the freshly
            # started process has served its first requests and built its search index.
            worker = build_worker(settings, database, periodic_after=PERIODIC_AFTER_START_SECONDS)
            worker.start()
        if settings.environment != "test":  # tests build what they use, from their own data
            # Warm before the first connection is accepted (uvicorn listens once start-up is done):
            # a process that answered while it still built its search index and compiled its
            # templates kept /healthz and its first requests waiting for hundreds of milliseconds.
            await run_in_threadpool(_warm_up, app, database)
            freeze_start_up_objects()
        yield
        if worker:
            await run_in_threadpool(worker.stop)  # running jobs finish or go back to the queue
        usage = getattr(app.state, "token_usage", None)
        if usage is not None:  # the token uses noted since the last flush
            await run_in_threadpool(usage.flush, database)
        views = getattr(app.state, "view_counts", None)
        if views is not None:  # the product views counted since the last write
            await run_in_threadpool(views.flush, database)

    app = FastAPI(title="Qianshu API", version=__version__, docs_url=None, redoc_url=None,
                  openapi_url="/api/openapi.json", lifespan=lifespan)
    app.state.settings = settings
    app.state.database = database
    app.state.signer = load_signer(settings.key_dir)
    app.state.templates = build_templates([PACKAGE_ROOT / "web" / "templates", *capabilities.template_folders()])
    app.state.job_handlers = capabilities.job_handlers()

    # Middleware added later runs earlier. Outermost the language (refusals are in the reader's
    # language), then the request limits (a body is read whole before anything else, so a client
    # dripping its body holds no admission slot, no thread and no transaction), then admission
    # control (a bounded number of requests in progress, 503 + Retry-After beyond).
    app.add_middleware(AdmissionControl, max_concurrent=settings.max_concurrent_requests,
                       queue_max=settings.request_queue_max, queue_seconds=settings.request_queue_seconds)
    app.add_middleware(RequestLimitsMiddleware, settings=settings, rules=body_rules(), respond=_error_response)
    app.add_middleware(LanguageAndSecurityMiddleware, settings=settings)
    _install_error_handlers(app)
    _mount_static(app)
    app.include_router(web_pages.probes)
    app.include_router(web_pages.router, dependencies=[Depends(load_actor)])
    for manifest in capabilities.with_part("api"):
        app.include_router(manifest.module("api").router)
    for manifest in capabilities.with_part("pages"):
        app.include_router(manifest.module("pages").router, dependencies=[Depends(load_actor)])
    # The contract page's one extension point: the manifests' ``contract_panel`` hooks
    # (``function(db, actor, contract)`` → an object with ``template``, or None); exchange/pages.py shows them.
    app.state.contract_panels = capabilities.contract_panels()
    app.state.product_panels = capabilities.product_panels()
    app.state.certificate_panels = capabilities.certificate_panels()
    app.state.nav_items = capabilities.nav_items()
    app.state.nav_menus = capabilities.nav_menus()
    openapi.install(app)

    @app.get("/api/docs", include_in_schema=False)
    def api_reference(request: Request) -> HTMLResponse:
        # Swagger UI 5 (it reads OpenAPI 3.1), started by web/static/api-docs.js: no inline script.
        return render(request, "api_docs.html", {"openapi_url": app.openapi_url})

    filter_routers_by_path(app)  # last: each router's filter is made of the routes it has now
    return app


def body_rules() -> list[BodyRule]:
    """The capabilities' body limits for routes that take more than a small form or JSON
    document (``BODY_RULES`` in their ``api`` and ``pages`` modules; core/body_rules.py)."""
    rules: list[BodyRule] = []
    for kind in ("api", "pages"):
        for manifest in capabilities.with_part(kind):
            rules.extend(getattr(manifest.module(kind), "BODY_RULES", ()))
    return rules


def _warm_up(app: FastAPI, database: Database) -> None:
    """What the first requests after a start would otherwise pay for, one after another or, after
    a restart, a burst of waiting clients all at once (the search page's first view cost 60 ms of
    CPU against 7 warm, an API token's first call 18 against 4): the capabilities'
    ``api.warm_up(database)`` (e.g. the catalogue's search index), every template compiled, every
    router's routes analysed, each language's CLDR data and translations loaded, and the pool's
    database connections opened."""
    for manifest in capabilities.with_part("api"):
        warm = getattr(manifest.module("api"), "warm_up", None)
        if warm is not None:
            warm(database)
    templates: Jinja2Templates = app.state.templates
    for name in templates.env.list_templates(filter_func=lambda n: n.endswith(".html")):
        templates.env.get_template(name)
    build_included_routes(app)
    l10n.warm_up()
    database.open_connections()


def freeze_start_up_objects() -> None:
    """Leave what start-up made (modules, routes, schemas, compiled templates, the search index:
    some 325,000 objects) out of every later garbage collection.

    Python's cyclic collector scans every tracked object in a full collection: about 200 ms of
    CPU here, during which the process holds the GIL and answers nothing, and the load of a busy
    worker set one off every few dozen requests (2 in 100 listings of 200 registrations, 29 % of
    their CPU; ``docs/load.md``, "Garbage collection"). ``gc.freeze()`` moves the objects alive
    now to a permanent generation that collections skip; the garbage start-up left is collected
    first. What is frozen is still freed by reference counting, only a cycle among frozen objects
    that later became garbage would stay."""
    gc.collect()
    gc.freeze()


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or "application/json" in request.headers.get("accept", "")


def _error_response(request: Request, error: QianshuError, extra: dict[str, Any] | None = None) -> Response:
    lang = getattr(request.state, "lang", "zh")
    if _wants_json(request):
        return problem_response(error, lang, request.url.path, extra)
    headline = {401: "Please sign in", 403: "Not allowed", 404: "Not found", 409: "Conflict",
                429: "Too many requests"}.get(error.status, "Something went wrong")
    return render(request, "error.html", {"status": error.status, "headline": headline,
                                          "message": error.render(lang)}, status_code=error.status)


class BadRequest(QianshuError):
    status = 400
    default_code = "bad_request"


# What Starlette's and FastAPI's body parsers say (in English, as HTTPException details), as
# message ids with stable codes: (pattern of their text, our message, code, parameter name).
_PARSER_MESSAGES: tuple[tuple[re.Pattern[str], str, str, str], ...] = (
    (re.compile(r"(?:Field|Part) exceeded maximum size of (\d+)KB\."),
     "A form field is larger than the limit of {limit} KB.", "form_field_too_large", "limit"),
    (re.compile(r"Too many fields\. Maximum number of fields is (\d+)\."),
     "The form has too many fields (at most {max}).", "form_too_many_fields", "max"),
    (re.compile(r"Too many files\. Maximum number of files is (\d+)\."),
     "The form has too many files (at most {max}).", "form_too_many_files", "max"),
    (re.compile(r'The Content-Disposition header field "name" must be provided\.'),
     "A part of the form has no name.", "form_part_unnamed", ""),
    (re.compile(r"Missing boundary in multipart\."),
     "The multipart boundary of the form is missing.", "form_no_boundary", ""),
    (re.compile(r"Invalid multipart data\."), "The form data is malformed.", "form_malformed", ""),
    (re.compile(r"There was an error parsing the body"), "The request body could not be read.",
     "body_unreadable", ""),
)
_HTTP_MESSAGES = {405: ("This method is not allowed here.", "method_not_allowed")}


def http_error_for(status: int, detail: str) -> QianshuError:
    """A framework's HTTPException as a domain error with a message id and a stable code."""
    for pattern, message, code, param in _PARSER_MESSAGES:
        match = pattern.fullmatch(detail)
        if match:
            return BadRequest(message, code=code, **({param: match.group(1)} if param else {}))
    message, code = _HTTP_MESSAGES.get(status, (detail, f"http_{status}"))
    error = QianshuError(message, code=code)
    error.status = status  # type: ignore[misc]
    return error


def _out_of_range(exc: BaseException) -> bool:
    """Whether a database error is a number the column cannot hold (SQLite: the driver's
    OverflowError; PostgreSQL: SQLSTATE 22003 numeric_value_out_of_range)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OverflowError) or getattr(current, "sqlstate", None) == "22003":
            return True
        current = getattr(current, "orig", None) or current.__cause__
    return False


def _past_32_bits(segment: str) -> bool:
    return segment.lstrip("-").isdigit() and not -(2**31) <= int(segment) < 2**31


def _internal_error(request: Request) -> Response:
    lang = getattr(request.state, "lang", "zh")
    body = {"type": "https://qianshu.dev/problems/internal", "title": "internal", "status": 500,
            "code": "internal", "detail": translate("Internal error; it has been logged.", lang),
            "instance": request.url.path}
    return JSONResponse(body, status_code=500, media_type="application/problem+json",
                        headers={"Content-Language": lang})


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s", request.url.path, exc_info=exc)
        return _internal_error(request)

    @app.exception_handler(QianshuError)
    async def domain_error(request: Request, exc: QianshuError) -> Response:
        return _error_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        lang = getattr(request.state, "lang", "zh")
        errors = [{"field": e.field, "detail": e.render(lang)} for e in all_errors(exc.errors())][:20]
        return _error_response(request, error_from_details(exc.errors()), {"errors": errors})

    @app.exception_handler(IntegrityError)
    @app.exception_handler(StaleDataError)
    async def conflict(request: Request, exc: Exception) -> Response:
        return _error_response(request, Conflict(
            "The request conflicts with a concurrent change; please reload and try again."))

    @app.exception_handler(OperationalError)
    @app.exception_handler(SQLAlchemyTimeoutError)
    async def busy(request: Request, exc: Exception) -> Response:
        # A lock or a pooled connection not had in time (or the database unreachable): say when
        # to try again rather than hang; the client's retry usually finds the lock free.
        log.warning("database busy or unavailable: %s", exc)
        error = QianshuError("The database is busy; please try again.", code="database_busy")
        error.status = 503  # type: ignore[misc]
        response = _error_response(request, error)
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    # A number beyond what the database holds that no earlier check saw (web/body_limits.py
    # refuses most of them before routing): the request's fault, not the server's.
    @app.exception_handler(OverflowError)
    @app.exception_handler(DataError)
    @app.exception_handler(StatementError)
    async def number_out_of_range(request: Request, exc: Exception) -> Response:
        if not _out_of_range(exc):
            return await unexpected(request, exc)
        if any(_past_32_bits(part) for part in request.url.path.split("/")):
            # e.g. an id past PostgreSQL's 32-bit INTEGER keys in the path: no such thing exists.
            return _error_response(request, NotFound("Not found."))
        return _error_response(request, InvalidInput("A number in the request is out of range."))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return _error_response(request, NotFound("Not found."))
        return _error_response(request, http_error_for(exc.status_code, str(exc.detail)))


def _mount_static(app: FastAPI) -> None:
    # Swagger UI's files as the fastapi-swagger package ships them (installed by pip, never copied here).
    swagger = resources.files("fastapi_swagger") / "resources"
    app.mount("/static/swagger", StaticFiles(directory=str(swagger)), name="swagger")
    app.mount("/static/web", StaticFiles(directory=PACKAGE_ROOT / "web" / "static"), name="static-web")
    for name, folder in capabilities.static_folders().items():
        app.mount(f"/static/{name}", StaticFiles(directory=folder), name=f"static-{name}")
