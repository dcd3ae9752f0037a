"""FastAPI dependencies: who is making this request (session cookie or bearer token)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from qianshu.accounts import permissions, service
from qianshu.core.actor import ANONYMOUS, Actor
from qianshu.core.csrf import SAFE_METHODS, verify_csrf
from qianshu.core.http import DbSession

SESSION_COOKIE = "qs_session"


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


async def load_actor(request: Request, db: DbSession) -> Actor:
    """Resolve the actor once per request and keep it on ``request.state`` for templates."""
    ip = client_ip(request)
    auth = request.headers.get("authorization", "")
    actor: Actor
    if auth.lower().startswith("bearer "):
        resolved = service.resolve_token(db, auth[7:].strip())
        service.touch_token(db, resolved.token)
        actor = service.actor_for(resolved.user, via="api", ip=ip,
                                  scopes=frozenset(str(s) for s in resolved.token.scopes))
        if request.method not in SAFE_METHODS:
            permissions.require_scope(actor, "write")
    elif (raw := request.cookies.get(SESSION_COOKIE)) and (found := service.session_user(db, raw)):
        actor = service.actor_for(found[0], via="portal", ip=ip)
        await verify_csrf(request)
    else:
        actor = Actor(user_id=None, via="anonymous", ip=ip, scopes=ANONYMOUS.scopes)
        if not request.url.path.startswith("/api/"):  # anonymous API calls carry no cookie credentials
            await verify_csrf(request)
    request.state.actor = actor
    return actor


def _signed_in(actor: Annotated[Actor, Depends(load_actor)]) -> Actor:
    permissions.require_signed_in(actor)
    return actor


CurrentActor = Annotated[Actor, Depends(load_actor)]
SignedInActor = Annotated[Actor, Depends(_signed_in)]
