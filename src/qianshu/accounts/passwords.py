"""Password hashing with argon2id, on a small bounded pool of threads.

The parameters come from the ``[accounts]`` settings (``password_hash_*``). Their defaults are
OWASP's recommended configuration for argon2id (Password Storage Cheat Sheet): 19 MiB, 2 passes,
1 lane, which the settings refuse to go below. The earlier defaults (argon2-cffi's, RFC 9106's
second recommended option: 64 MiB, 3 passes, 4 lanes) cost about 200 ms of CPU per sign-in
against about 30 ms, half of the load test's CPU on two cores; an operator who wants them (or
more) sets them. RFC 9106's first recommendation (2 GiB, 1 pass, 4 lanes) costs far more memory
than a web server should spend per sign-in. A hash made with other parameters than the current
ones is replaced when its owner next signs in (``needs_rehash``), in either direction.

Unbounded, a burst of sign-ins took every core and every page waited behind them; here at most
``password_hash_threads`` hashes run at once per process (``qianshu serve`` shares the CPUs among
its web workers), so sign-ins queue among themselves and the other requests keep the rest of the
machine. The pool's threads run below the event loop, as request handlers do (core/threads.py).
argon2-cffi releases the GIL while it hashes."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import TYPE_CHECKING

from qianshu.accounts.settings import AccountsSettings
from qianshu.core.errors import QianshuError
from qianshu.core.threads import REQUEST_NICENESS, lower_this_thread

if TYPE_CHECKING:
    from argon2 import PasswordHasher

    from qianshu.core.settings import Settings

MIN_LENGTH = 10
MAX_LENGTH = 256



def _hasher_for(section: AccountsSettings) -> PasswordHasher:
    # argon2-cffi is imported at the first hash, not with this module: every CLI command that uses
    # the accounts' service imports this module, and few of them hash (about 20 ms of start-up).
    from argon2 import PasswordHasher

    return PasswordHasher(time_cost=section.password_hash_time_cost, memory_cost=section.password_hash_memory_kib,
                          parallelism=section.password_hash_parallelism)


_hasher: PasswordHasher | None = None  # made from the settings' defaults at first use, until configure()
_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_lock = threading.Lock()
RETRY_AFTER_SECONDS = 2


class PasswordCheckBusy(QianshuError):
    """A sign-in waited ``password_hash_queue_seconds`` for a hashing thread: answered 503 with
    Retry-After, as admission control answers excess load, rather than queued without end."""

    status = 503
    default_code = "sign_in_busy"

    def __init__(self) -> None:
        super().__init__("Many people are signing in at once. Please try again in a few seconds.")


def default_threads() -> int:
    """One hash at a time per CPU this process may use (``serve`` sets the setting to its share)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def configure(settings: Settings) -> None:
    """Use the settings' parameters and pool size (the web app and the CLI call this at start)."""
    global _hasher, _pool, _pool_size
    section = settings.section(AccountsSettings)
    hasher = _hasher_for(section)
    size = section.password_hash_threads or default_threads()
    with _lock:
        current = _current_hasher()
        if (hasher.time_cost, hasher.memory_cost, hasher.parallelism) != (
                current.time_cost, current.memory_cost, current.parallelism):
            _hasher = hasher
            _dummy_hash.cache_clear()
        if size != _pool_size:
            old, _pool, _pool_size = _pool, None, size
            if old is not None:
                old.shutdown(wait=False)


def _current_hasher() -> PasswordHasher:
    """The hasher in use: the settings' defaults until ``configure`` (call it holding ``_lock``)."""
    global _hasher
    if _hasher is None:
        _hasher = _hasher_for(AccountsSettings())
    return _hasher


def _run(function: str, *args: str, queue_seconds: float | None = None) -> object:
    """Run ``_hasher.<function>(*args)`` on the bounded pool and wait for it; with
    ``queue_seconds``, raise ``PasswordCheckBusy`` if no thread took it up within that time."""
    global _pool, _pool_size
    with _lock:
        if _pool is None:
            _pool_size = _pool_size or default_threads()
            _pool = ThreadPoolExecutor(max_workers=_pool_size, thread_name_prefix="qianshu-password",
                                       initializer=lower_this_thread, initargs=(REQUEST_NICENESS,))
        pool, hasher = _pool, _current_hasher()
    started = threading.Event()

    def call() -> object:
        started.set()
        return getattr(hasher, function)(*args)

    future = pool.submit(call)
    if queue_seconds is not None and not started.wait(queue_seconds) and future.cancel():
        raise PasswordCheckBusy
    return future.result()


def hash_password(password: str) -> str:
    return str(_run("hash", password))


@cache
def _dummy_hash() -> str:
    """Verified against when the account does not exist, so both paths take the same time.

    Computed on first use, not at import: an argon2 hash cost every command of the CLI
    (``qianshu --help`` included) about 0.1 s with the earlier defaults."""
    return hash_password("qianshu-dummy-password")


def warm_up() -> None:
    _dummy_hash()


def verify_password(password_hash: str | None, password: str, queue_seconds: float | None = None) -> bool:
    """Whether ``password`` matches; ``queue_seconds``: see ``_run`` (raises ``PasswordCheckBusy``)."""
    from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

    try:
        return (bool(_run("verify", password_hash or _dummy_hash(), password, queue_seconds=queue_seconds))
                and password_hash is not None)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Whether the hash was made with other parameters than the current ones (cheap: no hashing)."""
    from argon2.exceptions import InvalidHashError

    with _lock:
        hasher = _current_hasher()
    try:
        return hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return False
