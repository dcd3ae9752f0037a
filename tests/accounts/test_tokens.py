"""API tokens: shown once, stored hashed, scoped, expiring, revocable."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, select

from qianshu.accounts import service
from qianshu.accounts.models import ApiToken
from qianshu.core.errors import NotAuthenticated
from qianshu.core.timeutil import utcnow


def test_token_shown_once_and_stored_hashed(client, make, bearer, db) -> None:
    user = make.user()
    r = client.post("/api/v1/tokens", json={"name": "etl", "scopes": ["read"], "days": 30}, headers=bearer(user))
    assert r.status_code == 201
    raw = r.json()["token"]
    stored = db.scalar(select(ApiToken).where(ApiToken.name == "etl"))
    assert raw not in (stored.token_hash, stored.prefix)
    listing = client.get("/api/v1/tokens", headers={"Authorization": f"Bearer {raw}"}).json()
    assert all("token" not in t for t in listing)


def test_read_scope_cannot_write(client, make, bearer) -> None:
    user = make.user()
    headers = bearer(user, scopes=("read",))
    assert client.get("/api/v1/tokens", headers=headers).status_code == 200
    r = client.post("/api/v1/tokens", json={"name": "x"}, headers=headers)
    assert r.status_code == 403


def test_revoked_and_expired_tokens_say_so(client, make, bearer, db) -> None:
    user = make.user()
    headers = bearer(user)
    token_id = client.get("/api/v1/tokens", headers=headers).json()[0]["id"]
    assert client.delete(f"/api/v1/tokens/{token_id}", headers=headers).status_code == 200
    r = client.get("/api/v1/tokens", headers=headers | {"Accept-Language": "en"})
    assert r.status_code == 401
    assert r.json()["code"] == "token_revoked"
    headers = bearer(user)
    token = db.scalar(select(ApiToken).where(ApiToken.revoked_at.is_(None)))
    token.expires_at = utcnow() - timedelta(seconds=1)
    db.flush()
    r = client.get("/api/v1/tokens", headers=headers)
    assert r.json()["code"] == "token_expired"
    assert "过期" in r.json()["detail"]


def test_garbage_tokens(client) -> None:
    for value in ["qs_nope", "x" * 5000, "qs_%00\t" + "\x7f" * 10, "Bearer"]:
        r = client.get("/api/v1/tokens", headers={"Authorization": f"Bearer {value}"})
        assert r.status_code == 401


def test_cannot_revoke_someone_elses_token(client, make, bearer) -> None:
    alice, bob = make.user(), make.user()
    alice_token = client.get("/api/v1/tokens", headers=bearer(alice)).json()[0]["id"]
    assert client.delete(f"/api/v1/tokens/{alice_token}", headers=bearer(bob)).status_code == 404


def test_a_token_or_session_is_resolved_with_its_user_and_organisation_in_one_query(
        make, bearer, db, settings) -> None:  # type: ignore[no-untyped-def]
    """Every API request and portal page resolves who asks: one statement, not three."""
    user = make.user()
    raw_token = bearer(user)["Authorization"][7:]
    raw_session = service.start_session(db, settings, user, "127.0.0.1", "test")
    db.flush()
    db.expunge_all()  # nothing already in the session's identity map
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        seen.append(sql)

    engine = db.get_bind().engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        resolved = service.resolve_token(db, raw_token)
        actor = service.actor_for(resolved.user, via="api", ip="127.0.0.1")
        found = service.session_user(db, raw_session)
        assert found is not None
        portal_actor = service.actor_for(found[0], via="portal", ip="127.0.0.1")
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert len(seen) == 2, seen
    assert (actor.user_id, actor.org_id, actor.org_type) == (user.id, user.org_id, user.organisation.org_type)
    assert (portal_actor.user_id, portal_actor.org_id) == (user.id, user.org_id)


def test_a_deactivated_users_token_and_session_stop_working(make, bearer, db, settings) -> None:  # type: ignore[no-untyped-def]
    user = make.user()
    raw_token = bearer(user)["Authorization"][7:]
    raw_session = service.start_session(db, settings, user, "127.0.0.1", "test")
    user.is_active = False
    db.flush()
    with pytest.raises(NotAuthenticated) as refused:
        service.resolve_token(db, raw_token)
    assert refused.value.code == "token_invalid"
    assert service.session_user(db, raw_session) is None


def test_me_answers_the_callers_own_account(client, make, bearer, db) -> None:  # type: ignore[no-untyped-def]
    first = make.user()
    colleague = make.user(organisation=first.organisation)
    db.flush()
    for user in (colleague, first):
        me = client.get("/api/v1/me", headers=bearer(user))
        assert me.status_code == 200
        assert (me.json()["id"], me.json()["email"]) == (user.id, user.email)
    assert client.get("/api/v1/me").status_code == 401
