"""CSRF protection for cookie-authenticated requests: the signed double-submit cookie.

Each browser gets a random ``qs_csrf`` cookie; pages embed HMAC(secret, cookie, session) in
forms (``csrf_token``) and scripts send it as ``X-CSRF-Token``. A cross-site form can neither
read the cookie nor compute the HMAC. The session cookie (``qs_session``, none when signed out)
is part of the HMAC, so the token changes whenever the signed-in session does: a token seen in
one session (or before signing in) is refused in another. Bearer-token API calls need no CSRF
token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from fastapi import Request

from qianshu.core.body_rules import BODY_IN_HAND
from qianshu.core.errors import PermissionDenied

CSRF_COOKIE = "qs_csrf"
SESSION_COOKIE = "qs_session"  # the same name as accounts.deps.SESSION_COOKIE (core cannot import it)
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def new_cookie_value() -> str:
    return secrets.token_urlsafe(24)


def token_for(secret: str, cookie_value: str, session: str = "") -> str:
    """The token for a browser's CSRF cookie and its current session cookie ("" signed out)."""
    message = f"{cookie_value}\n{session}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


async def submitted_token(request: Request) -> str:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    # Never parse a streamed upload as a form: that would read it, inside a transaction.
    if content_type.startswith("application/x-www-form-urlencoded") and request.scope.get(BODY_IN_HAND):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else ""
    # Multipart uploads may be large: the token travels in the header or the query string.
    return request.query_params.get(CSRF_FIELD, "")


async def verify_csrf(request: Request) -> None:
    if request.method in SAFE_METHODS:
        return
    cookie = request.cookies.get(CSRF_COOKIE, "")
    given = await submitted_token(request)
    secret: str = request.app.state.settings.secret_key
    expected = token_for(secret, cookie, request.cookies.get(SESSION_COOKIE, ""))
    if not cookie or not given or not hmac.compare_digest(expected, given):
        raise PermissionDenied("The form has expired or did not come from this site. Please reload the page "
                               "and try again.", code="csrf_failed")
