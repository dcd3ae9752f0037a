"""Every route × every role, organisation type and jurisdiction: the app does what the policy says.

Each row names the action(s) its route does, as declared to the policy (core/policy.py), and the
object it is done to; for every role (the seven of the original matrix, an administrator of each
other organisation type, and government caseworkers whose jurisdiction holds the registrations'
region or does not) the expected outcome is the policy's answer, and the request must agree.
"Refused" is 401, 403 or 404 (a resource of another organisation is not admitted to exist);
anything else means the request got past the permission checks. A route with no row, or a row
naming no declared action, fails the suite. Each capability contributes its rows and the objects
they need in ``tests/<capability>/permission_rows.py`` (``ROWS`` and ``setup``); the rows' hand-kept
``allowed`` sets (the behaviour before the policy) must equal what the policy says.
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
from qianshu.core import csrf, policy
from qianshu.core.actor import Actor
from tests.factories import TEST_PASSWORD, Factories
from tests.permission_support import BASE_ROLES, EVERYONE, JURISDICTIONS, ROLES, SIGNED_IN, STAFF, Row

# Every capability with routes brings its rows (accounts' are above, in MATRIX), found through the manifests.
EXTENSIONS = [importlib.import_module(f"tests.{m.name}.permission_rows") for m in manifests()
              if (m.api or m.pages) and m.name != "accounts"]
REFUSED = {401, 403, 404}


def _own_org(ctx: dict[str, Any]) -> dict[str, Any]:
    return {"org_id": ctx["own_org_id"]}


MATRIX: dict[tuple[str, str], Row] = {
    ("GET", "/"): Row(EVERYONE, action="site.view"),
    ("GET", "/healthz"): Row(EVERYONE, action="site.view"),
    ("GET", "/readyz"): Row(EVERYONE, action="site.view"),
    ("GET", "/favicon.ico"): Row(EVERYONE, action="site.view"),
    ("GET", "/lang/{code}"): Row(EVERYONE, params=lambda c: {"code": "en"}, action="site.view"),
    ("GET", "/api/docs"): Row(EVERYONE, action="site.view"),
    ("GET", "/api/openapi.json"): Row(EVERYONE, action="site.view"),
    ("GET", "/sign-in"): Row(EVERYONE, action="site.view"),
    ("POST", "/sign-in"): Row(EVERYONE, body=lambda c: {"email": c["login_email"], "password": TEST_PASSWORD},
        action="site.view"),
    ("POST", "/sign-out"): Row(EVERYONE, action="site.view"),
    ("GET", "/apply"): Row(EVERYONE, action="organisation.apply"),
    ("POST", "/apply"): Row(EVERYONE, action="organisation.apply"),
    ("POST", "/api/v1/organisations"): Row(EVERYONE, action="organisation.apply"),
    ("GET", "/api/v1/organisations"): Row(STAFF, action="organisation.list"),
    ("GET", "/api/v1/organisations/{org_id}"): Row(SIGNED_IN, params=_own_org,
        action=("account.self", "organisation.view"), on="own_org"),
    ("POST", "/api/v1/organisations/{org_id}/{decision}"): Row(
        {"operator"}, body=lambda c: {}, params=lambda c: {"org_id": c["target_org_id"], "decision": "approve"},
            action="organisation.review"),
    ("GET", "/api/v1/me"): Row(SIGNED_IN, action="account.self"),
    ("GET", "/api/v1/organisations/{org_id}/users"): Row(SIGNED_IN, params=_own_org,
        action=("account.self", "organisation.view"), on="own_org"),
    ("POST", "/api/v1/invitations"): Row({"admin", "operator"},
                                         body=lambda c: {"email": f"inv-{c['role']}@x.cn", "display_name": "n"},
        action="user.administer", on="actor_org"),
    ("DELETE", "/api/v1/users/{user_id}"): Row({"admin", "operator"},
                                               params=lambda c: {"user_id": c["colleague_id"]},
        action="user.administer", on="actor_org"),
    ("PUT", "/api/v1/users/{user_id}/jurisdiction"): Row(
        {"admin", "operator"}, body=lambda c: {"jurisdiction": "520102"},
                                                         params=lambda c: {"user_id": c["colleague_id"]},
        action="user.jurisdiction", on="colleague"),
    ("GET", "/api/v1/tokens"): Row(SIGNED_IN, action="account.self"),
    ("POST", "/api/v1/tokens"): Row(SIGNED_IN, body=lambda c: {"name": "t"}, action="account.self"),
    ("DELETE", "/api/v1/tokens/{token_id}"): Row(SIGNED_IN, params=lambda c: {"token_id": c["own_token_id"]},
        action="account.self"),
    ("GET", "/api/v1/audit"): Row({"operator", "auditor"}, action="audit.read"),
    ("GET", "/org"): Row(SIGNED_IN, action="account.self"),
    ("POST", "/org/invitations"): Row({"admin", "operator"},
                                      body=lambda c: {"email": f"pinv-{c['role']}@x.cn", "display_name": "n"},
        action="user.administer", on="actor_org"),
    ("POST", "/org/users/{user_id}/remove"): Row({"admin", "operator"},
                                                 params=lambda c: {"user_id": c["colleague_id"]},
        action="user.administer", on="actor_org"),
    ("POST", "/org/users/{user_id}/jurisdiction"): Row({"admin", "operator"}, body=lambda c: {"jurisdiction": "520102"},
                                                       params=lambda c: {"user_id": c["colleague_id"]},
        action="user.jurisdiction", on="colleague"),
    ("GET", "/invite/{token}"): Row(EVERYONE, params=lambda c: {"token": c["invitation"]}, action="invitation.accept"),
    ("POST", "/invite/{token}"): Row(EVERYONE, params=lambda c: {"token": c["invitation"]},
                                     body=lambda c: {"password": "long-enough-password"}, action="invitation.accept"),
    ("GET", "/tokens"): Row(SIGNED_IN, action="account.self"),
    ("POST", "/tokens"): Row(SIGNED_IN, body=lambda c: {"name": "t"}, action="account.self"),
    ("POST", "/tokens/{token_id}/revoke"): Row(SIGNED_IN, params=lambda c: {"token_id": c["own_token_id"]},
        action="account.self"),
    ("GET", "/operator/organisations"): Row({"operator", "reviewer", "auditor"}, action="organisation.list"),
    ("POST", "/operator/organisations/{org_id}/{decision}"): Row(
        {"operator"}, params=lambda c: {"org_id": c["target_org_id"], "decision": "approve"},
            action="organisation.review"),
    ("GET", "/audit"): Row({"operator", "auditor"}, action="audit.read"),
    ("GET", "/operator/jobs"): Row({"operator"}, action="job.manage"),
    ("POST", "/operator/jobs/{job_id}/retry"): Row({"operator"}, params=lambda c: {"job_id": c["failed_job_id"]},
        action="job.manage"),
    ("GET", "/api/v1/jobs"): Row({"operator"}, action="job.manage"),
    ("POST", "/api/v1/jobs/{job_id}/retry"): Row({"operator"}, body=lambda c: {},
                                                 params=lambda c: {"job_id": c["failed_job_id"]}, action="job.manage"),
    ("GET", "/inbox"): Row(SIGNED_IN, action="account.self"),
    ("POST", "/inbox/read"): Row(SIGNED_IN, action="account.self"),
    ("GET", "/api/v1/inbox"): Row(SIGNED_IN, action="account.self"),
    ("GET", "/api/v1/inbox/unread"): Row(SIGNED_IN, action="account.self"),
    ("POST", "/api/v1/inbox/read"): Row(SIGNED_IN, body=lambda c: {}, action="account.self"),
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


def _probes(row: Row) -> list[Row]:
    return [row, *row.also]


def test_every_route_names_a_declared_action() -> None:
    declared = policy.actions()
    problems = []
    for (method, path), row in all_rows().items():
        for probe in _probes(row):
            names = [alt for part in probe.actions() for alt in part.split("|") if alt]
            if not names:
                problems.append(f"{method} {path}: no action")
            problems += [f"{method} {path}: {name!r} is declared by no manifest" for name in names
                         if name not in declared]
    assert not problems, problems


def _expected(row: Row, actor: Actor, ctx: dict[str, Any]) -> bool:
    resource = ctx["res"][row.on] if row.on else None
    return all(any(policy.allows(actor, alt, resource) for alt in part.split("|")) for part in row.actions())


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
    if role in JURISDICTIONS:
        return make.user(organisation=make.org(org_type="government"), org_role="member",
                         jurisdiction=JURISDICTIONS[role])
    if role.startswith("admin-of-"):
        return make.user(organisation=make.org(org_type=role.removeprefix("admin-of-")), org_role="admin")
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
    colleague_org = db.get(User, ctx["colleague_id"]).org_id  # type: ignore[union-attr]
    ctx["res"] = {"own_org": policy.Resource(org_id=ctx["own_org_id"]),
                  "actor_org": policy.Resource(org_id=user.org_id if user else None),
                  "colleague": policy.Resource(org_id=colleague_org)}
    for extension in EXTENSIONS:
        extension.setup(ctx, db, make, acting, {"database": database, "settings": settings, "tmp_path": tmp_path})
    db.flush()
    as_seen = acting or Actor(user_id=None, via="anonymous")
    failures = []
    for (method, path), row in all_rows().items():
        expected = _expected(row, as_seen, ctx)
        if row.allowed is not None and role in BASE_ROLES and expected != (role in row.allowed):
            failures.append(f"{method} {path}: the policy says {'allowed' if expected else 'refused'}, "
                            "unlike before")
        for probe in _probes(row):
            wanted = _expected(probe, as_seen, ctx)
            params = probe.params(ctx) if probe.params else {}
            url = re.sub(r"\{(\w+):\w+\}", r"{\1}", path).format(**params) + probe.query
            status = _request(client, db, settings, user, method, url, probe.body(ctx) if probe.body else None)
            allowed = status not in REFUSED
            if allowed != wanted:
                failures.append(f"{method} {url}: {status} ({'allowed' if allowed else 'refused'}, "
                                f"the policy says {'allowed' if wanted else 'refused'})")
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
    raw = ""
    if user is not None:
        raw = service.start_session(db, settings, user, "127.0.0.1", "matrix")
        db.flush()
        client.cookies.set(csrf.SESSION_COOKIE, raw)
    if method == "GET":
        return client.get(url, follow_redirects=False).status_code
    # The browser's CSRF cookie and the token a page of this session embeds (what the middleware
    # computes); fetching a page for it before each form post took a third of the matrix's requests.
    cookie = csrf.new_cookie_value()
    client.cookies.set(csrf.CSRF_COOKIE, cookie)
    token = csrf.token_for(settings.secret_key, cookie, raw)
    data = {**(body or {}), "csrf_token": token}
    # in the address too, as the forms whose file streams in send it (core/streamed_form.py)
    url += ("&" if "?" in url else "?") + f"csrf_token={token}"
    return client.request(method, url, data=data, follow_redirects=False).status_code
