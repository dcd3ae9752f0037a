"""API tokens: shown once, stored hashed, scoped, expiring, revocable."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from qianshu.accounts.models import ApiToken
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
