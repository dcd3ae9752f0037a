"""Every route × every role: who is let through and who is refused.

"Refused" is 401, 403 or 404 (a resource of another organisation is not admitted to exist);
anything else means the request got past the permission checks. A route of the app that
has no row here fails ``test_every_route_is_in_the_matrix``: add the row with the new route.
Each capability contributes its rows and the objects they need in
``tests/<capability>/permission_rows.py`` (``ROWS`` and ``setup``).
"""

from __future__ import annotations

import importlib
import re
from typing import Any

import pytest
from starlette.routing import Mount

from qianshu.accounts import service
from qianshu.accounts.models import User
from qianshu.accounts.schemas import InvitationIn, TokenIn
from qianshu.capabilities import manifests
from tests.factories import TEST_PASSWORD, Factories
from tests.permission_support import EVERYONE, ROLES, SIGNED_IN, STAFF, Row

# Every capability with routes brings its rows (accounts' are above, in MATRIX), found through the manifests.
EXTENSIONS = [importlib.import_module(f"tests.{m.name}.permission_rows") for m in manifests()
              if (m.api or m.pages) and m.name != "accounts"]
REFUSED = {401, 403, 404}


def _own_org(ctx: dict[str, Any]) -> dict[str, Any]:
    return {"org_id": ctx["own_org_id"]}


MATRIX: dict[tuple[str, str], Row] = {
    ("GET", "/"): Row(EVERYONE),
    ("GET", "/healthz"): Row(EVERYONE),
    ("GET", "/readyz"): Row(EVERYONE),
    ("GET", "/favicon.ico"): Row(EVERYONE),
    ("GET", "/lang/{code}"): Row(EVERYONE, params=lambda c: {"code": "en"}),
    ("GET", "/api/docs"): Row(EVERYONE),
    ("GET", "/api/openapi.json"): Row(EVERYONE),
    ("GET", "/sign-in"): Row(EVERYONE),
    ("POST", "/sign-in"): Row(EVERYONE, body=lambda c: {"email": c["login_email"], "password": TEST_PASSWORD}),
    ("POST", "/sign-out"): Row(EVERYONE),
    ("GET", "/apply"): Row(EVERYONE),
    ("POST", "/apply"): Row(EVERYONE),
    ("POST", "/api/v1/organisations"): Row(EVERYONE),
    ("GET", "/api/v1/organisations"): Row(STAFF),
    ("GET", "/api/v1/organisations/{org_id}"): Row(SIGNED_IN, params=_own_org),
    ("POST", "/api/v1/organisations/{org_id}/{decision}"): Row(
        {"operator"}, body=lambda c: {}, params=lambda c: {"org_id": c["target_org_id"], "decision": "approve"}),
    ("GET", "/api/v1/me"): Row(SIGNED_IN),
    ("GET", "/api/v1/organisations/{org_id}/users"): Row(SIGNED_IN, params=_own_org),
    ("POST", "/api/v1/invitations"): Row({"admin", "operator"},
                                         body=lambda c: {"email": f"inv-{c['role']}@x.cn", "display_name": "n"}),
    ("DELETE", "/api/v1/users/{user_id}"): Row({"admin", "operator"},
                                               params=lambda c: {"user_id": c["colleague_id"]}),
    ("GET", "/api/v1/tokens"): Row(SIGNED_IN),
    ("POST", "/api/v1/tokens"): Row(SIGNED_IN, body=lambda c: {"name": "t"}),
    ("DELETE", "/api/v1/tokens/{token_id}"): Row(SIGNED_IN, params=lambda c: {"token_id": c["own_token_id"]}),
    ("GET", "/api/v1/audit"): Row({"operator", "auditor"}),
    ("GET", "/org"): Row(SIGNED_IN),
    ("POST", "/org/invitations"): Row({"admin", "operator"},
                                      body=lambda c: {"email": f"pinv-{c['role']}@x.cn", "display_name": "n"}),
    ("POST", "/org/users/{user_id}/remove"): Row({"admin", "operator"},
                                                 params=lambda c: {"user_id": c["colleague_id"]}),
    ("GET", "/invite/{token}"): Row(EVERYONE, params=lambda c: {"token": c["invitation"]}),
    ("POST", "/invite/{token}"): Row(EVERYONE, params=lambda c: {"token": c["invitation"]},
                                     body=lambda c: {"password": "long-enough-password"}),
    ("GET", "/tokens"): Row(SIGNED_IN),
    ("POST", "/tokens"): Row(SIGNED_IN, body=lambda c: {"name": "t"}),
    ("POST", "/tokens/{token_id}/revoke"): Row(SIGNED_IN, params=lambda c: {"token_id": c["own_token_id"]}),
    ("GET", "/operator/organisations"): Row({"operator", "reviewer", "auditor"}),
    ("POST", "/operator/organisations/{org_id}/{decision}"): Row(
        {"operator"}, params=lambda c: {"org_id": c["target_org_id"], "decision": "approve"}),
    ("GET", "/audit"): Row({"operator", "auditor"}),
    ("GET", "/operator/jobs"): Row({"operator"}),
    ("POST", "/operator/jobs/{job_id}/retry"): Row({"operator"}, params=lambda c: {"job_id": c["failed_job_id"]}),
    ("GET", "/api/v1/jobs"): Row({"operator"}),
    ("POST", "/api/v1/jobs/{job_id}/retry"): Row({"operator"}, body=lambda c: {},
                                                 params=lambda c: {"job_id": c["failed_job_id"]}),
    ("GET", "/inbox"): Row(SIGNED_IN),
    ("POST", "/inbox/read"): Row(SIGNED_IN),
    ("GET", "/api/v1/inbox"): Row(SIGNED_IN),
    ("GET", "/api/v1/inbox/unread"): Row(SIGNED_IN),
    ("POST", "/api/v1/inbox/read"): Row(SIGNED_IN, body=lambda c: {}),
}

# Routes whose permission rules need the capability's own objects (registrations, log
# leaves, listings); each capability's tests check them role by role.
def all_rows() -> dict[tuple[str, str], Row]:
    rows = dict(MATRIX)
    for extension in EXTENSIONS:
        rows.update(extension.ROWS)
    return rows


def _flatten(routes: list[Any]) -> list[Any]:
    """FastAPI keeps included routers as nodes (``_IncludedRouter``); we mount without prefixes."""
    flat: list[Any] = []
    for route in routes:
        inner = getattr(route, "original_router", None)
        flat.extend(_flatten(inner.routes) if inner is not None else [route])
    return flat


def app_routes(app: Any) -> list[tuple[str, str]]:
    found = []
    for route in _flatten(app.routes):
        if isinstance(route, Mount):
            continue
        for method in sorted(getattr(route, "methods", None) or []):
            if method != "HEAD":
                found.append((method, route.path))
    return found


def test_every_route_is_in_the_matrix(app) -> None:
    assert len(app_routes(app)) > len(MATRIX), "the route walk found too few routes"
    rows = all_rows()
    missing = [r for r in app_routes(app) if r not in rows]
    assert not missing, f"routes without a permission-matrix row: {missing}"


def _failed_job(db: Any) -> int:
    """A failed job of a kind nothing waits on, for the retry routes (each retry needs its own)."""
    from qianshu.core.jobs import Job

    job = Job(kind="matrix.test", payload={}, status="failed", error_code="internal", error_message="x")
    db.add(job)
    db.flush()
    return job.id


def _user_for(role: str, make: Factories) -> User | None:
    if role == "anonymous":
        return None
    if role in STAFF:
        return make.operator(staff_role=role)
    if role == "pending_admin":
        return make.user(organisation=make.org(status="pending"), org_role="admin")
    return make.user(org_role=role)


@pytest.mark.parametrize("role", ROLES)
def test_matrix(role: str, app, client, make: Factories, db, settings, database, tmp_path) -> None:
    user = _user_for(role, make)
    target = make.org(status="pending")
    ctx: dict[str, Any] = {"role": role, "target_org_id": target.id, "own_org_id": user.org_id if user else target.id}
    if user is not None:
        colleague = make.user(organisation=user.organisation, org_role="member")
        ctx["colleague_id"] = colleague.id
        actor = service.actor_for(user, via="api", ip="127.0.0.1")
        token, _raw = service.create_token(db, actor, TokenIn(name="own"))
        ctx["own_token_id"] = token.id
    else:
        ctx["colleague_id"] = make.user().id
        ctx["own_token_id"] = 1
    ctx["login_email"] = make.user().email
    inviter = make.user(organisation=make.org(), org_role="admin")
    _inv, ctx["invitation"] = service.invite_user(db, service.actor_for(inviter, via="api", ip=None),
                                                  InvitationIn(email=f"m-{role}@x.cn", display_name="m"))
    ctx["failed_job_id"] = _failed_job(db)
    acting = service.actor_for(user, via="api", ip="127.0.0.1") if user is not None else None
    for extension in EXTENSIONS:
        extension.setup(ctx, db, make, acting, {"database": database, "settings": settings, "tmp_path": tmp_path})
    db.flush()
    failures = []
    for (method, path), row in all_rows().items():
        params = row.params(ctx) if row.params else {}
        url = re.sub(r"\{(\w+):\w+\}", r"{\1}", path).format(**params) + row.query
        status = _request(client, db, settings, user, method, url, row.body(ctx) if row.body else None)
        allowed = status not in REFUSED
        if allowed != (role in row.allowed):
            failures.append(f"{method} {url}: {status} ({'allowed' if allowed else 'refused'})")
        elif allowed and method == "GET" and status >= 400:  # a page or resource one may see must work
            failures.append(f"{method} {url}: {status} (allowed but failed)")
    assert not failures, f"role {role}: " + "; ".join(failures)


def _request(client, db, settings, user: User | None, method: str, url: str, body: dict[str, Any] | None) -> int:
    client.cookies.clear()
    if url.startswith("/api/"):
        headers = {}
        if user is not None:
            actor = service.actor_for(user, via="api", ip="127.0.0.1")
            _t, raw = service.create_token(db, actor, TokenIn(name="m", scopes=["read", "write"]))
            db.flush()
            headers["Authorization"] = f"Bearer {raw}"
        r = client.request(method, url, json=body if method != "GET" else None, headers=headers)
        return r.status_code
    if user is not None:
        raw = service.start_session(db, settings, user, "127.0.0.1", "matrix")
        db.flush()
        client.cookies.set("qs_session", raw)
    home = client.get("/")
    token = re.search(r'name="csrf-token" content="([0-9a-f]+)"', home.text).group(1)  # type: ignore[union-attr]
    if method == "GET":
        return client.get(url, follow_redirects=False).status_code
    data = {**(body or {}), "csrf_token": token}
    return client.request(method, url, data=data, follow_redirects=False).status_code
