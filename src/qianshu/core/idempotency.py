"""Idempotent requests, as Stripe's API keeps them: the first result of a key is the only one.

A client that moves money sends an ``Idempotency-Key`` header (any unique text, a UUID is usual)
and may repeat the request as often as it likes (after a timeout, a lost connection, a crash):

- the first request with a key executes; its status and body are stored, in the same
  transaction as what it changed, per (caller, key);
- a repeat with the same body gets the stored result again (``Idempotent-Replayed: true``) and
  changes nothing;
- a repeat with a different body (or for another route) is refused, 409 ``idempotency_key_reused``;
- two requests with one key at the same time: the second waits for the first to finish (its
  insert of the key waits on the first's uncommitted row on PostgreSQL; SQLite has one writer)
  and then gets the first's result; never do both execute;
- a domain error (4xx) found while executing is stored like a success: the work is rolled back
  to a savepoint, the key row stays. A failure of the server or the database (a lock not had in
  time) rolls back everything, key included, so the client's retry executes afresh;
- keys expire after a time the caller gives (a setting of the capability that uses them) and are
  purged by ``purge_expired``.

Nothing here knows HTTP; ``core.http.idempotent`` is the route's side of it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import JSON, Index, String, UniqueConstraint, bindparam, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from qianshu.core.canonical import canonical_json
from qianshu.core.db import Base
from qianshu.core.errors import Conflict, InvalidInput, QianshuError
from qianshu.core.timeutil import utcnow

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("caller", "key", name="uq_idempotency_keys_caller_key"),
                      Index("ix_idempotency_keys_expires_at", "expires_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    caller: Mapped[str] = mapped_column(String(80))
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH))
    # SHA-256 of the method, the route and the canonical JSON of the body.
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column()
    response: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()


@dataclass(frozen=True, slots=True)
class Outcome:
    status: int
    body: Any
    replayed: bool


def fingerprint(method: str, route: str, body: Any) -> str:
    """What makes two requests "the same": method, route and body (canonical JSON, RFC 8785)."""
    return hashlib.sha256(canonical_json([method.upper(), route, body])).hexdigest()


def check_key(key: str | None) -> str:
    """The key as given, or a bilingual 422 naming the header."""
    if key is None or not key.strip():
        raise InvalidInput("The {field} header is required for this request.", field=HEADER,
                           code="idempotency_key_missing")
    if len(key) > MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise InvalidInput("The {field} header must be at most {max} printable ASCII characters.",
                           field=HEADER, max=MAX_KEY_LENGTH, code="idempotency_key_invalid")
    return key


_KEYS = IdempotencyKey.__table__


@lru_cache(maxsize=4)
def _claim(dialect: str) -> Any:
    """One statement claims the key: a new key is inserted; an expired one is forgotten (taken
    over as if it were new); a live one is left alone and nothing comes back. Waits, on
    PostgreSQL, for a concurrent transaction that inserted the same key to end. Built once per
    dialect: building it and its cache key cost every money request about half a millisecond."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    claim = insert(IdempotencyKey).values(
        caller=bindparam("caller", type_=_KEYS.c.caller.type), key=bindparam("key", type_=_KEYS.c.key.type),
        fingerprint=bindparam("fingerprint", type_=_KEYS.c.fingerprint.type),
        response=bindparam("response", type_=_KEYS.c.response.type),
        created_at=bindparam("now", type_=_KEYS.c.created_at.type),
        expires_at=bindparam("expires_at", type_=_KEYS.c.expires_at.type))
    return claim.on_conflict_do_update(
        index_elements=["caller", "key"], where=IdempotencyKey.expires_at <= bindparam("now"),
        set_={"fingerprint": claim.excluded.fingerprint, "status_code": None,
              "response": claim.excluded.response, "created_at": claim.excluded.created_at,
              "expires_at": claim.excluded.expires_at},
    ).returning(IdempotencyKey.id)


_FOUND = select(IdempotencyKey.fingerprint, IdempotencyKey.status_code, IdempotencyKey.response).where(
    IdempotencyKey.caller == bindparam("caller"), IdempotencyKey.key == bindparam("key"))
_ANSWERED = update(IdempotencyKey).where(IdempotencyKey.id == bindparam("claimed")).values(
    status_code=bindparam("status", type_=_KEYS.c.status_code.type),
    response=bindparam("body", type_=_KEYS.c.response.type))


def execute_once(db: Session, *, caller: str, key: str, fingerprint: str, ttl: timedelta,
                 work: Callable[[], tuple[int, Any]],
                 on_error: Callable[[QianshuError], tuple[int, Any]]) -> Outcome:
    """Run ``work`` (status, JSON body) once per (``caller``, ``key``) in the caller's transaction;
    a domain error it raises becomes ``on_error``'s (status, body), stored too."""
    key = check_key(key)
    now = utcnow()
    claimed = db.execute(_claim(db.get_bind().dialect.name), {
        "caller": caller, "key": key, "fingerprint": fingerprint, "response": {}, "now": now,
        "expires_at": now + ttl}).scalar()
    if claimed is None:
        found = db.execute(_FOUND, {"caller": caller, "key": key}).one()
        if found.fingerprint != fingerprint:
            raise Conflict("This {field} was used for a different request; use a new key for a new request.",
                           field=HEADER, code="idempotency_key_reused")
        if found.status_code is None:  # not reachable through a committed row; kept for safety
            raise Conflict("A request with this {field} is still in progress.", field=HEADER,
                           code="idempotency_key_in_progress")
        return Outcome(found.status_code, found.response, replayed=True)
    savepoint = db.begin_nested()
    try:
        status, body = work()
        savepoint.commit()
    except QianshuError as exc:
        savepoint.rollback()
        if exc.status >= 500:
            raise
        status, body = on_error(exc)
    db.execute(_ANSWERED, {"claimed": claimed, "status": status, "body": body})
    return Outcome(status, body, replayed=False)


def purge_expired(db: Session, now: datetime | None = None) -> int:
    """Delete the keys whose time is over; returns how many."""
    result = db.execute(delete(IdempotencyKey).where(IdempotencyKey.expires_at <= (now or utcnow())))
    return int(getattr(result, "rowcount", 0) or 0)
