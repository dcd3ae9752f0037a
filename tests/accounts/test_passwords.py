"""Password hashing: the operator's argon2id parameters, old hashes upgraded at sign-in, and a
bounded pool of threads so that sign-ins queue among themselves."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import argon2
import pytest
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qianshu.accounts import passwords
from qianshu.accounts.models import LoginAttempt, User
from qianshu.accounts.settings import AccountsSettings
from qianshu.core.settings import Settings
from qianshu.core.threads import REQUEST_NICENESS
from tests.accounts.test_portal import sign_in
from tests.factories import TEST_PASSWORD


@pytest.fixture
def restore_hashing(settings: Settings) -> Iterator[None]:
    yield
    passwords.configure(settings)  # the defaults again, for the tests that follow


def _parameters(password_hash: str) -> tuple[int, int, int]:
    p = argon2.extract_parameters(password_hash)
    return p.memory_cost, p.time_cost, p.parallelism



def _with(settings: Settings, **values: Any) -> Settings:
    """A copy of the settings with these ``[accounts]`` values."""
    copy = settings.model_copy(deep=True)
    copy.override(AccountsSettings, **values)
    return copy


def test_the_default_is_owasps_recommendation_and_nothing_weaker_is_accepted(tmp_path) -> None:  # type: ignore[no-untyped-def]
    section = Settings(data_dir=tmp_path).section(AccountsSettings)
    assert (section.password_hash_memory_kib, section.password_hash_time_cost,
            section.password_hash_parallelism) == (19 * 1024, 2, 1)
    assert _parameters(passwords.hash_password(TEST_PASSWORD)) == (19 * 1024, 2, 1)
    for weaker in ({"password_hash_memory_kib": 19 * 1024 - 1}, {"password_hash_time_cost": 1},
                   {"password_hash_parallelism": 0}):
        with pytest.raises(ValidationError):
            Settings(data_dir=tmp_path, sections={"accounts": weaker}).section(AccountsSettings)
    stronger = Settings(data_dir=tmp_path, sections={"accounts": {"password_hash_memory_kib": 64 * 1024,
                        "password_hash_time_cost": 3, "password_hash_parallelism": 4}}).section(AccountsSettings)
    assert stronger.password_hash_memory_kib == 64 * 1024  # an operator may ask for more


def test_a_hash_with_old_parameters_is_replaced_when_its_owner_signs_in(
        client, make, db: Session, settings: Settings, restore_hashing: None) -> None:  # type: ignore[no-untyped-def]
    user = make.user()
    db.flush()
    assert _parameters(user.password_hash) == (19 * 1024, 2, 1)  # made with the defaults
    changed = _with(settings, password_hash_memory_kib=32 * 1024, password_hash_time_cost=3,
                    password_hash_parallelism=2)
    passwords.configure(changed)
    assert sign_in(client, user.email).status_code == 303
    db.expire_all()
    upgraded = db.get_one(User, user.id).password_hash
    assert _parameters(upgraded) == (32 * 1024, 3, 2)
    assert passwords.verify_password(upgraded, TEST_PASSWORD)
    assert sign_in(client, user.email, "not-the-password").status_code == 401  # still a real check
    assert sign_in(client, user.email).status_code == 303
    db.expire_all()
    assert db.get_one(User, user.id).password_hash == upgraded  # current parameters: left alone


def test_a_wrong_password_does_not_upgrade_the_hash(client, make, db: Session, settings: Settings,
                                                    restore_hashing: None) -> None:  # type: ignore[no-untyped-def]
    user = make.user()
    db.flush()
    before = user.password_hash
    passwords.configure(_with(settings, password_hash_time_cost=4))
    assert sign_in(client, user.email, "not-the-password").status_code == 401
    db.expire_all()
    assert db.get_one(User, user.id).password_hash == before


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="thread priorities are Linux's")
def test_hashes_run_on_at_most_the_configured_threads_below_the_event_loop(
        settings: Settings, restore_hashing: None) -> None:
    passwords.configure(_with(settings, password_hash_threads=1, password_hash_time_cost=2,
                                  password_hash_memory_kib=19 * 1024))
    stored = passwords.hash_password(TEST_PASSWORD)
    seen: dict[int, int] = {}  # native id of a hashing thread → its niceness, seen while it hashes
    lock = threading.Lock()

    def sign_in_check() -> bool:
        ok = passwords.verify_password(stored, TEST_PASSWORD)
        with lock:
            for thread in threading.enumerate():
                if thread.name.startswith("qianshu-password") and thread.native_id is not None:
                    seen[thread.native_id] = os.getpriority(os.PRIO_PROCESS, thread.native_id)
        return ok

    with ThreadPoolExecutor(max_workers=6) as callers:  # six sign-ins at once
        assert all(callers.map(lambda _: sign_in_check(), range(6)))
    assert len(seen) == 1  # they queued for the one hashing thread
    base = os.getpriority(os.PRIO_PROCESS, 0)
    assert all(nice >= min(19, base + REQUEST_NICENESS) for nice in seen.values())  # below the event loop


def test_a_sign_in_that_cannot_get_a_hashing_thread_in_time_is_answered_503_with_retry_after(
        client, make, db: Session, settings: Settings, restore_hashing: None,
        monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    user = make.user()
    db.flush()
    # One hashing thread, held by a hash that waits until the test lets it go (a slow real hash
    # finished before the sign-in on a fast machine), and a short wait for a turn.
    passwords.configure(_with(settings, password_hash_threads=1, password_hash_time_cost=2,
                                  password_hash_memory_kib=19 * 1024))
    settings.override(AccountsSettings, password_hash_queue_seconds=0.05)
    release = threading.Event()

    class HeldHasher:
        def hash(self, password: str) -> str:
            release.wait(30)
            return password

    monkeypatch.setattr(passwords, "_current_hasher", HeldHasher)
    busy = threading.Thread(target=passwords.hash_password, args=("a held hash for the test",))
    busy.start()
    try:
        time.sleep(0.2)  # the held hash has the thread
        monkeypatch.undo()  # the sign-in below gets the real hasher
        attempts_before = db.scalar(select(func.count()).select_from(LoginAttempt))
        answer = sign_in(client, user.email)
        assert answer.status_code == 503
        assert answer.headers["Retry-After"] == "2"
        assert "同时登录的人较多" in answer.text
        assert "qs_session" not in answer.cookies
        assert db.scalar(select(func.count()).select_from(LoginAttempt)) == attempts_before  # not a failure
    finally:
        release.set()
        busy.join()
    settings.override(AccountsSettings, password_hash_queue_seconds=30)
    assert sign_in(client, user.email).status_code == 303  # the thread is free again
