"""FastAPI dependencies: who is making this request (session cookie or bearer token).

The actor is resolved in a short read of its own (a bearer token's one statement in autocommit on
PostgreSQL, ``Database.single_read``), on a worker thread: never on the
event loop (a database call there stalls every request of the process, including the one holding
the lock it waits for), and never inside the request's own unit of work, so a write request takes
the write lock only when its handler first writes. Resolving who someone is writes nothing: token
uses are noted in memory (``accounts.usage``) and written rarely, off the request path.
"""

from __future__ import annotations

import threading
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool

from qianshu.accounts import permissions, service
from qianshu.accounts.usage import TokenUsage
from qianshu.core import inbox, policy
from qianshu.core.actor import ANONYMOUS, Actor
from qianshu.core.csrf import SAFE_METHODS, verify_csrf
from qianshu.core.db import Database
from qianshu.core.http import get_database
from qianshu.core.threads import REQUEST_NICENESS, lower_this_thread

SESSION_COOKIE = "qs_session"


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


def token_usage(request: Request) -> TokenUsage:
    usage: TokenUsage | None = getattr(request.app.state, "token_usage", None)
    if usage is None:
        usage = request.app.state.token_usage = TokenUsage()
    return usage


def _resolve(database: Database, bearer: str | None, session_cookie: str | None, ip: str,
             count_unread: bool = True) -> tuple[Actor | None, int | None, int]:
    """(actor, token id, unread notifications of a portal session when ``count_unread``) in one read
    transaction; (None, None, 0) for an anonymous request."""
    lower_this_thread(REQUEST_NICENESS)  # a handler thread: the event loop goes first
    if bearer is not None:
        # One statement (token, user and organisation): no transaction of its own needed.
        with database.single_read() as db:
            resolved = service.resolve_token(db, bearer)
            actor = service.actor_for(resolved.user, via="api", ip=ip,
                                      scopes=frozenset(str(s) for s in resolved.token.scopes))
            return actor, resolved.token.id, 0
    with database.unit_of_work(write=False) as db:
        if session_cookie and (found := service.session_user(db, session_cookie)):
            user = found[0]
            # The header of every portal page shows it: one indexed count, in the same transaction.
            unread = inbox.unread(db, user.id, user.org_id).total if count_unread else 0
            return service.actor_for(user, via="portal", ip=ip), None, unread
    return None, None, 0


async def load_actor(request: Request) -> Actor:
    """Resolve the actor once per request and keep it on ``request.state`` for templates."""
    cached: Actor | None = getattr(request.state, "actor", None)
    if cached is not None:
        return cached
    ip = client_ip(request)
    auth = request.headers.get("authorization", "")
    bearer = auth[7:].strip() if auth.lower().startswith("bearer ") else None
    session_cookie = request.cookies.get(SESSION_COOKIE)
    found, token_id, unread = await run_in_threadpool(_resolve, get_database(request), bearer, session_cookie, ip,
                                                      not request.url.path.startswith("/api/"))
    request.state.inbox_unread = unread
    actor: Actor
    if found is not None and bearer is not None:
        actor = found
        if request.method not in SAFE_METHODS:
            permissions.require_scope(actor, "write")
        if token_id is not None and token_usage(request).note(token_id):
            _flush_in_background(request)
    elif found is not None:
        actor = found
        await verify_csrf(request)
    else:
        actor = Actor(user_id=None, via="anonymous", ip=ip, scopes=ANONYMOUS.scopes)
        if not request.url.path.startswith("/api/"):  # anonymous API calls carry no cookie credentials
            await verify_csrf(request)
    request.state.actor = actor
    return actor


def _flush_in_background(request: Request) -> None:
    """Write noted token uses on a thread of their own: the request does not wait for it."""
    threading.Thread(target=token_usage(request).flush, args=(get_database(request),),
                     name="token-usage-flush", daemon=True).start()


async def _signed_in(actor: Annotated[Actor, Depends(load_actor)]) -> Actor:
    # async: the policy reads the actor only, and a plain ``def`` would cost a hop to a worker thread
    policy.require(actor, "account.self")
    return actor


async def signed_in_actor(request: Request) -> Actor:
    """``load_actor``, refused (401) unless someone is signed in: for a route that resolves its
    actor itself (a streamed upload, ``core.http.receive_streamed``)."""
    return await _signed_in(await load_actor(request))


CurrentActor = Annotated[Actor, Depends(load_actor)]
SignedInActor = Annotated[Actor, Depends(_signed_in)]
