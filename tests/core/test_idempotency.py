"""Core's idempotency keys on their own: one execution per key, refusals kept, expiry and purge."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from qianshu.core import idempotency
from qianshu.core.errors import Conflict, InvalidInput
from qianshu.core.timeutil import utcnow

HOUR = timedelta(hours=1)


def _run(db, key: str, body: object, calls: list[int], *, fail: bool = False,  # type: ignore[no-untyped-def]
         ttl: timedelta = HOUR) -> idempotency.Outcome:
    def work() -> tuple[int, object]:
        calls.append(1)
        if fail:
            raise InvalidInput("{field} must be greater than zero.", field="amount_fen")
        return 201, {"n": len(calls)}

    return idempotency.execute_once(db, caller="user:1", key=key,
                                    fingerprint=idempotency.fingerprint("POST", "/x", body), ttl=ttl, work=work,
                                    on_error=lambda exc: (exc.status, {"code": exc.code}))


def test_a_key_runs_its_work_once_and_replays_the_first_answer(db) -> None:  # type: ignore[no-untyped-def]
    calls: list[int] = []
    first = _run(db, "a", {"amount": 1}, calls)
    again = _run(db, "a", {"amount": 1}, calls)
    assert (first.status, first.body, first.replayed) == (201, {"n": 1}, False)
    assert (again.status, again.body, again.replayed) == (201, {"n": 1}, True)
    assert calls == [1]
    with pytest.raises(Conflict) as reused:
        _run(db, "a", {"amount": 2}, calls)
    assert reused.value.code == "idempotency_key_reused"
    assert calls == [1]


def test_a_refusal_is_kept_and_its_work_rolled_back(db) -> None:  # type: ignore[no-untyped-def]
    calls: list[int] = []
    refused = _run(db, "b", {}, calls, fail=True)
    assert (refused.status, refused.body) == (422, {"code": "invalid_input"})
    assert _run(db, "b", {}, calls).replayed
    assert calls == [1]


@pytest.mark.parametrize("key", ["", "x" * 256, "schlüssel", "a\nb"])
def test_a_bad_key_is_refused_naming_the_header(db, key: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput) as bad:
        _run(db, key, {}, [])
    assert bad.value.field == "Idempotency-Key"


def test_expired_keys_execute_again_and_are_purged(db) -> None:  # type: ignore[no-untyped-def]
    calls: list[int] = []
    _run(db, "c", {}, calls, ttl=timedelta(seconds=-1))
    assert not _run(db, "c", {}, calls).replayed
    assert calls == [1, 1]
    _run(db, "d", {}, calls, ttl=timedelta(seconds=-1))
    assert idempotency.purge_expired(db, utcnow()) >= 1
    left = db.scalar(select(func.count()).select_from(idempotency.IdempotencyKey)
                     .where(idempotency.IdempotencyKey.key.in_(["c", "d"])))
    assert left == 1
