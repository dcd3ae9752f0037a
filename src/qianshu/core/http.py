"""HTTP glue shared by every capability's ``api.py`` and ``pages.py``.

- ``DbSession``: the request's unit of work. Unsafe methods get a write transaction (on
  SQLite ``BEGIN IMMEDIATE``), safe ones a read transaction; it commits before the response
  is sent (``scope="function"``) and rolls back on any error.
- ``read_in_thread``: the same read transaction for ``async`` routes, in one thread hop.
- ``Lang``: the request's language (cookie, then Accept-Language, then Chinese).
- ``render``: a portal page from any capability's ``templates/`` folder, with gettext
  (``_``, ``ngettext``, ``pgettext``, Jinja's ``{% trans %}``) in the request's language and the
  filters ``label``, ``datetime``, ``number`` and ``money`` (CLDR, via Babel).
- ``problem_response``: RFC 9457 problem+json for a domain error.
- ``receive_streamed``: a route whose large body streams in (``core/streamed_form.py``), read on a
  worker thread; what a refusal leaves of the body is drained, a little, before the answer.
- ``submit_form``: a portal form's one path: validate it whole, run the service, and on a domain
  error roll back and show the same page with every field's error (``core/forms.py``).
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import urlsplit

import anyio
import anyio.from_thread
import anyio.to_thread
from anyio import CancelScope, CapacityLimiter
from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, pass_context, select_autoescape
from jinja2.runtime import Context
from markupsafe import Markup, escape
from pydantic import BaseModel
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.requests import ClientDisconnect

from qianshu.core import i18n, idempotency, l10n, vocabulary
from qianshu.core.body_rules import BODY_ENDED, BODY_LEFT_UNREAD, BODY_PACE, BodyPace
from qianshu.core.db import Database
from qianshu.core.errors import QianshuError, RequestTimeout
from qianshu.core.forms import Form, field_errors, validate_form
from qianshu.core.fragments import Fragments, reader_key
from qianshu.core.read_models import fields_of
from qianshu.core.settings import Settings
from qianshu.core.signing import Ed25519Signer
from qianshu.core.text import fit
from qianshu.core.threads import REQUEST_NICENESS, lower_this_thread

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
T = TypeVar("T")
A = TypeVar("A")
M = TypeVar("M", bound=BaseModel)
# After a refused upload the rest of its body is read and dropped before the answer, so that a
# browser still sending its file reads the page with the error rather than a reset connection.
# Only a little: enough for a file a few megabytes over its limit on a local network. Past that,
# or from a client that stalls, the rest is not worth waiting for: the answer goes out at once with
# ``Connection: close`` (web/body_limits.py) and the connection ends with it.
DRAIN_SECONDS = 2.0
DRAIN_BYTES = 8 * 1024 * 1024


def get_database(request: Request) -> Database:
    return request.app.state.database  # type: ignore[no-any-return]


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def public_url(request: Request, name: str, **params: str) -> str:
    """The public address of a named route: the ``public_base_url`` setting, never the Host header
    (a link built from the request would follow whatever host the client claimed)."""
    return get_settings_dep(request).public_base + str(request.app.url_path_for(name, **params))


async def get_signer(request: Request) -> Ed25519Signer:  # async: FastAPI runs it inline (see below)
    return request.app.state.signer  # type: ignore[no-any-return]


@asynccontextmanager
async def _request_unit_of_work(database: Database, *, write: bool) -> AsyncIterator[Session]:
    """The request's unit of work (``Database.unit_of_work``), begun on the event loop and ended on
    a worker thread.

    Making a session does no I/O: it connects (and on SQLite takes the write lock) at its first
    statement, on the handler's thread. Only the end (commit or rollback) talks to the database.
    A plain ``def`` dependency cost two thread hops (FastAPI runs its start and its end each on a
    worker thread), about 0.1 ms of CPU each; this costs one. The end runs as FastAPI runs a
    ``def`` dependency's: shielded from cancellation (a client that went away still gets its
    transaction rolled back) and with a capacity limiter of its own, so that it never waits for a
    free thread of the pool."""
    work = database.unit_of_work(write=write)
    session = work.__enter__()
    try:
        yield session
    except BaseException as exc:
        with CancelScope(shield=True):
            suppressed = await anyio.to_thread.run_sync(_end_unit_of_work, work, exc, limiter=CapacityLimiter(1))
        if not suppressed:
            raise
    else:
        with CancelScope(shield=True):
            await anyio.to_thread.run_sync(_end_unit_of_work, work, None, limiter=CapacityLimiter(1))


def _end_unit_of_work(work: AbstractContextManager[Session], exc: BaseException | None) -> bool:
    lower_this_thread(REQUEST_NICENESS)  # a handler thread: the event loop goes first
    return bool(work.__exit__(type(exc) if exc else None, exc, exc.__traceback__ if exc else None))


async def get_db(request: Request) -> AsyncIterator[Session]:
    async with _request_unit_of_work(get_database(request), write=request.method not in SAFE_METHODS) as session:
        yield session


def get_lang(request: Request) -> str:
    return getattr(request.state, "lang", "zh")


async def read_in_thread(request: Request, work: Callable[[Session], T]) -> T:
    """``work(session)`` in one read transaction, on one worker thread.

    For hot read-only routes (catalogue search): ``DbSession`` with a sync endpoint hops to the
    thread pool twice per request (run the endpoint, end the session; three times while the
    session was begun on a thread too); an ``async`` endpoint that calls this hops once.
    """
    database = get_database(request)

    def run() -> T:
        lower_this_thread(REQUEST_NICENESS)
        with database.unit_of_work(write=False) as session:
            return work(session)

    return await run_in_threadpool(run)


# FastAPI runs a plain ``def`` dependency on a worker thread; these only read the request, so
# they are ``async`` and run inline (a thread hop costs more than a cached search).
async def _lang(request: Request) -> str:
    return get_lang(request)


async def _settings(request: Request) -> Settings:
    return get_settings_dep(request)


DbSession = Annotated[Session, Depends(get_db, scope="function")]


async def get_write_db(request: Request) -> AsyncIterator[Session]:
    """A write transaction even for a GET: for a view that records who saw personal data (an audit
    row). On SQLite a read transaction cannot become a write one once another writer has committed
    since it began (it fails at once, whatever the busy timeout), which a busy worker makes common."""
    async with _request_unit_of_work(get_database(request), write=True) as session:
        yield session


WriteDbSession = Annotated[Session, Depends(get_write_db, scope="function")]
Lang = Annotated[str, Depends(_lang)]
AppSettings = Annotated[Settings, Depends(_settings)]
Signer = Annotated[Ed25519Signer, Depends(get_signer)]


def see_other(url: str) -> RedirectResponse:
    """The redirect after a successful form post (POST → 303 → GET)."""
    return RedirectResponse(url, status_code=303)


async def _posted_form(request: Request) -> FormData:
    """The submitted form, parsed on the event loop (it only reads the request) so that the
    handler can be a plain ``def``, run on a worker thread: no database call on the event loop."""
    return await request.form()


PostedForm = Annotated[FormData, Depends(_posted_form)]


def body_chunks(request: Request) -> Iterator[bytes]:
    """A raw request body as a blocking iterator of the chunks as they arrive, for a blob store
    running on a worker thread (a streamed upload: ``core/body_rules.py``). A client that goes away
    mid-body raises starlette's ``ClientDisconnect`` from the iteration."""
    while (chunk := anyio.from_thread.run(_next_chunk, request)) is not None:
        if chunk:
            yield chunk


async def _next_chunk(request: Request, paced: bool = True) -> bytes | None:
    """The body's next chunk as it arrives, or None once it has all been read. A paced body
    (``BodyPace``, set on streamed uploads) that falls behind its pace is refused with 408."""
    if request.scope.get(BODY_ENDED):
        return None
    pace: BodyPace | None = request.scope.get(BODY_PACE) if paced else None
    if pace is None:
        message = await request.receive()
    else:
        with anyio.move_on_after(max(0.0, pace.seconds_left(time.monotonic()))) as waited:
            message = await request.receive()
        if waited.cancelled_caught:
            raise RequestTimeout("The upload arrived too slowly (less than {rate} bytes a second); try again.",
                                 rate=f"{pace.min_rate:,}")
        pace.received += len(message.get("body", b""))
    if message["type"] == "http.disconnect":
        raise ClientDisconnect
    if not message.get("more_body", False):
        request.scope[BODY_ENDED] = True
    body: bytes = message.get("body", b"")
    return body


async def drain_body(request: Request) -> None:
    """Read and drop what a streamed route left of its body, for at most ``DRAIN_SECONDS`` and
    ``DRAIN_BYTES``, on the event loop (no thread waits on the client); past either, mark the
    connection to be closed after the answer."""
    dropped = 0
    with anyio.move_on_after(DRAIN_SECONDS):
        try:
            while (chunk := await _next_chunk(request, paced=False)) is not None:
                dropped += len(chunk)
                if dropped > DRAIN_BYTES:
                    break
            else:
                return
        except ClientDisconnect:
            return  # nobody to answer
    request.scope[BODY_LEFT_UNREAD] = True


async def receive_streamed(request: Request, sign_in: Callable[[Request], Awaitable[A]],
                           receive: Callable[[A], Response]) -> Response:
    """The one path of a route whose body streams in (a ``stream=True`` body rule): who is asking
    is resolved (``sign_in``: accounts' ``load_actor``), then ``receive(actor)`` reads the body
    (``core/streamed_form.py``) and answers, on a worker thread, with no transaction open while it
    reads. Whatever a refusal, raised or shown, left of the body is drained (``drain_body``)
    before the answer. A client that went away mid-body gets 499 (for the access log: nobody reads it)."""
    try:
        try:
            answer = await run_in_threadpool(receive, await sign_in(request))
        except QianshuError:
            await drain_body(request)
            raise
        await drain_body(request)
        return answer
    except ClientDisconnect:
        return Response(status_code=499)


def form_fields(form: FormData, lists: Collection[str] = ()) -> dict[str, Any]:
    """A submitted form's text fields (file parts are skipped); fields named in ``lists``
    (checkbox groups) keep every value as a list, the others their first value."""
    data: dict[str, Any] = {}
    for key, value in form.multi_items():
        if not isinstance(value, str):
            continue
        if key in lists:
            data.setdefault(key, []).append(value)
        else:
            data.setdefault(key, value)
    return data


def safe_local_path(target: str) -> str:
    """A redirect target limited to this site's paths: never an open redirect."""
    same_site = target.startswith("/") and not target.startswith("//") and "\\" not in target
    return target if same_site else "/"


_CJK = re.compile("[\u3400-\u9fff]")


def text_lang(value: object) -> str:
    """The ``lang`` attribute for a stored text (a name, a title, a tag): ``zh-CN`` when it holds Chinese.

    Users' data often exists in one language only; marking it lets screen readers and fonts treat it
    right, and lets the page tests tell the portal's own words from the data it shows."""
    return "zh-CN" if _CJK.search(str(value or "")) else "en"


def json_text(value: object) -> str:
    """A stored JSON value as a person reads it: Chinese as Chinese (not ``\\uXXXX``), keys sorted."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(", ", ": "), default=str)


def page_address(request: Request) -> str:
    """Where the page a user reads can be fetched again, for the language switch.

    A page that answers a form post (a form re-shown with its errors) has the form's POST-only
    address: switching language there goes back to the page the form was on instead."""
    if request.method == "GET":
        return request.url.path + (f"?{request.url.query}" if request.url.query else "")
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc and referer.netloc != request.url.netloc:
        return "/"
    return safe_local_path(referer.path + (f"?{referer.query}" if referer.query else "")) if referer.path else "/"


def _page_lang(context: Context) -> str:
    return str(context.get("lang") or i18n.DEFAULT_LANGUAGE)


# Jinja's newstyle gettext callables, following the language of the page being rendered. They
# format ``{name}`` (our messages) and ``%(name)s`` (``{% trans %}`` blocks) placeholders; the
# result is escaped on output like any other text.
@pass_context
def _gettext(context: Context, message: str, /, **params: Any) -> str:
    return i18n.translate(message, _page_lang(context), **params)


@pass_context
def _ngettext(context: Context, singular: str, plural: str, n: int, /, **params: Any) -> str:
    return i18n.ngettext(singular, plural, n, _page_lang(context), **params)


@pass_context
def _pgettext(context: Context, message_context: str, message: str, /, **params: Any) -> str:
    return i18n.pgettext(message_context, message, _page_lang(context), **params)


@pass_context
def _npgettext(context: Context, message_context: str, singular: str, plural: str, n: int, /,
               **params: Any) -> str:
    return i18n.npgettext(message_context, singular, plural, n, _page_lang(context), **params)


@pass_context
def _label(context: Context, value: str | None, message_context: str) -> str:
    """``{{ reg.status|label("registration status") }}``: an enumerated value in the page's language."""
    return i18n.label(value, message_context, _page_lang(context))


@pass_context
def _datetime(context: Context, value: Any, seconds: bool = False) -> str:
    if isinstance(value, str):  # a time kept in a signed document (RFC 3339 text), e.g. a log entry's "at"
        text: str = value
        try:
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return text
    return l10n.format_datetime(value, _page_lang(context), seconds=seconds)


@pass_context
def _number(context: Context, value: Any, decimals: int | None = None) -> str:
    return l10n.format_number(value, _page_lang(context), decimals=decimals)


@pass_context
def _money(context: Context, fen: int | None, exact: bool = False) -> str:
    return l10n.format_money(fen, _page_lang(context), exact=exact)


@pass_context
def _region(context: Context, code: str | None) -> Markup:
    """``{{ o.division_code|region }}``: a division's name in the page's language, then its code
    (``花溪区 520111``); a code we have no name for stays as it is. Counties have Chinese names
    only: on an English page the name is marked ``lang="zh-CN"``."""
    if not code:
        return Markup("")
    name = vocabulary.region_name(code, _page_lang(context))
    if name == code:
        return escape(code)
    if _page_lang(context) == "en" and text_lang(name) == "zh-CN":
        return Markup('<span lang="zh-CN">{}</span> {}').format(name, code)
    return escape(f"{name} {code}")


@pass_context
def _industry(context: Context, code: str | None) -> str:
    """``{{ code|industry }}``: an industry (GB/T 4754) by its name in the page's language, then its code."""
    return vocabulary.industry_label(code, _page_lang(context))


@pass_context
def _pick(context: Context, zh: str | None, en: str | None) -> str:
    """``{{ pick(org.name, org.name_en) }}``: a stored text in the page's language, else the other one."""
    first, second = (en, zh) if _page_lang(context) == "en" else (zh, en)
    return (first or second or "").strip()


@pass_context
def _industry_choices(context: Context) -> tuple[vocabulary.Choice, ...]:
    return vocabulary.industry_choices(_page_lang(context))


@pass_context
def _region_choices(context: Context) -> vocabulary.Choice:
    return vocabulary.region_choices(_page_lang(context))


@pass_context
def _province_choices(context: Context) -> tuple[vocabulary.Choice, ...]:
    return vocabulary.province_choices(_page_lang(context))


@pass_context
def _actor(context: Context, value: str | None) -> Markup:
    """``{{ step.actor_label|actor }}``: who did a step, as ``data``; the platform's own steps
    (periodic tasks, jobs: no one signed in, kept as "system" or empty) in the page's language."""
    if value in (None, "", "system"):
        return _data(i18n.label("system", "actor via", _page_lang(context)))
    return _data(value)


def _data(value: object) -> Markup:
    """``{{ stored_text|data }}``: users' data in an element that says which language it is in."""
    # Sample tables call this for every cell: an f-string and one escape, not Markup.format.
    text = "" if value is None else str(value)
    return Markup(f'<span lang="{"zh-CN" if _CJK.search(text) else "en"}">{escape(text)}</span>')  # noqa: S704 - escaped


def _file_name(value: object) -> Markup:
    """``{{ upload.source_name|file_name }}``: a file's name as its sender gave it (``民政_522636.csv``,
    ``civil_affairs-v3.csv``): data, not words of the page, and broken anywhere rather than widening it."""
    text = "" if value is None else str(value)
    return Markup(f'<span class="file-name" data-raw>{escape(text)}</span>')  # noqa: S704 - escaped


def _slot_partials(folders: list[Path]) -> Any:
    """``slot_partials("name")``: the partials ``<capability>/_slot_name.html`` that capabilities
    contribute to a page of another one (which includes them by slot name, not knowing who does)."""
    found: dict[str, list[str]] = {}
    for folder in folders:
        for partial in sorted(folder.glob("*/_slot_*.html")):
            found.setdefault(partial.stem.removeprefix("_slot_"), []).append(f"{partial.parent.name}/{partial.name}")

    def partials(slot: str) -> list[str]:
        return found.get(slot, [])
    return partials


def build_templates(folders: list[Path]) -> Jinja2Templates:
    """One Jinja environment over the given ``templates/`` folders (the first wins a name)."""
    env = Environment(loader=ChoiceLoader([FileSystemLoader(str(p)) for p in folders]),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      extensions=["jinja2.ext.i18n"])
    env.globals.update(_=_gettext, gettext=_gettext, ngettext=_ngettext, pgettext=_pgettext, npgettext=_npgettext,
                       pick=_pick, industry_choices=_industry_choices, region_choices=_region_choices,
                       province_choices=_province_choices)  # for web/templates/pickers.html
    env.globals["slot_partials"] = _slot_partials(folders)
    env.globals.update(fragment=Fragments(), reader_key=reader_key)  # core/fragments.py
    env.newstyle_gettext = True  # type: ignore[attr-defined]  # set by the i18n extension
    env.filters.update(label=_label, datetime=_datetime, number=_number, money=_money, region=_region,
                       text_lang=text_lang, data=_data, actor=_actor, fit=fit, industry=_industry,
                       json_text=json_text, file_name=_file_name)
    return Jinja2Templates(env=env)


def _context_dict(context: Any) -> dict[str, Any]:
    if context is None:
        return {}
    if dataclasses.is_dataclass(context) and not isinstance(context, type):
        return fields_of(context)
    if isinstance(context, Mapping):
        return dict(context)
    raise TypeError("page context must be a dataclass or a mapping")


def render(request: Request, template: str, context: Any = None, *, status_code: int = 200) -> HTMLResponse:
    values = _context_dict(context)
    values.update(
        request=request, lang=get_lang(request), actor=getattr(request.state, "actor", None),
        csrf_token=getattr(request.state, "csrf_token", ""),
        settings=request.app.state.settings, here=page_address(request),
        # unread notifications of the signed-in user and their organisation (accounts/deps.py)
        inbox_unread=getattr(request.state, "inbox_unread", 0),
    )
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(request, template, values, status_code=status_code)


def idempotent(request: Request, db: Session, caller: str, body: Any, ttl: timedelta,
               work: Callable[[], Any], *, status_code: int = 201,
               last: Sequence[Callable[[], None]] = ()) -> JSONResponse:
    """A money-moving route's answer, executed once per ``Idempotency-Key`` (``core/idempotency.py``):
    ``work()`` returns a JSON-ready body; a repeat gets the first answer with ``Idempotent-Replayed``.
    ``last``: writes a successful ``work`` left to run once the answer is stored (those that lock
    rows many requests share), in order; an error there undoes the whole request, the key's answer too.
    The transaction is committed here."""
    lang = get_lang(request)
    outcome = idempotency.execute_once(
        db, caller=caller, key=request.headers.get(idempotency.HEADER, ""),
        fingerprint=idempotency.fingerprint(request.method, request.url.path, body), ttl=ttl,
        work=lambda: (status_code, work()),
        on_error=lambda exc: (exc.status, problem_body(exc, lang, request.url.path)))
    if outcome.status < 400:  # a refusal's writes were undone with its savepoint: theirs must not run
        for write in last:
            write()
    # Committed here, on the handler's thread, and not when the request's unit of work ends (a hop
    # back to the event loop and onto another thread later): the step's row locks (a seller's
    # wallet, the exchange's fee account, the public log's sequencer) are released at once, not
    # held while this thread waits to be scheduled twice (docs/exchange.md, "Performance").
    db.commit()
    media = "application/problem+json" if outcome.status >= 400 else "application/json"
    headers = {"Idempotent-Replayed": "true" if outcome.replayed else "false", "Content-Language": lang}
    return JSONResponse(outcome.body, status_code=outcome.status, media_type=media, headers=headers)


def problem_body(error: QianshuError, lang: str, instance: str = "") -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"https://qianshu.dev/problems/{error.code}",
        "title": error.code.replace("_", " "),
        "status": error.status,
        "code": error.code,
        "detail": error.render(lang),
        "instance": instance,
    }
    if error.field:
        body["field"] = error.field
    return body


def problem_response(error: QianshuError, lang: str, instance: str = "",
                     extra: dict[str, Any] | None = None) -> JSONResponse:
    body = problem_body(error, lang, instance)
    if extra:
        body.update(extra)
    return JSONResponse(body, status_code=error.status, media_type="application/problem+json",
                        headers={"Content-Language": lang})


def submit_form(request: Request, db: Session, schema: type[M], data: Mapping[str, Any],
                labels: Mapping[str, str], work: Callable[[M], Response],
                page: Callable[[Form], tuple[str, Any]], *, name: str = "") -> Response:
    """The one path of a portal form that takes input.

    ``data`` is validated as ``schema`` with every field's error collected; ``work`` calls the
    service and answers (usually ``see_other``). On any domain error, from validation or from the
    service, the transaction is rolled back (nothing the service wrote stays) and ``page(form)``
    — the template and its context, built again after the rollback — is shown with the person's
    input kept and every error beside its field, with the error's status. ``labels`` maps each
    field to the label the page shows for it (an English message id)."""
    return answer_form(request, db, data, labels, lambda: work(validate_form(schema, data)), page, name=name)


def answer_form(request: Request, db: Session, typed: Mapping[str, Any], labels: Mapping[str, str],
                work: Callable[[], Response], page: Callable[[Form], tuple[str, Any]], *, name: str = "") -> Response:
    """``submit_form`` for a form whose text is converted before it is validated (yuan to fen, a
    file to base64, see ``core.forms.Typed``): ``work`` converts, validates, calls the service and
    answers; on a domain error the page is shown again with ``typed``, what the person typed."""
    try:
        return work()
    except QianshuError as exc:
        return form_refused(request, db, exc, typed, labels, page, name=name)


def form_refused(request: Request, db: Session, exc: QianshuError, data: Mapping[str, Any],
                 labels: Mapping[str, str], page: Callable[[Form], tuple[str, Any]], *, name: str = "") -> Response:
    """Roll back what the request wrote, then show the form's page again with ``exc``'s errors."""
    db.rollback()
    return show_form_errors(request, exc, data, labels, page, name=name)


def show_form_errors(request: Request, exc: QianshuError, data: Mapping[str, Any], labels: Mapping[str, str],
                     page: Callable[[Form], tuple[str, Any]], *, name: str = "") -> Response:
    """The form's page again with ``exc``'s errors, for a handler that holds no transaction
    (sign-in) or has rolled back already."""
    form = Form.kept(data, field_errors(exc, labels, get_lang(request)), name)
    template, context = page(form)
    return render(request, template, context, status_code=exc.status)
