"""The accounts' settings: the ``[accounts]`` table of ``qianshu.toml`` (docs/operations.md)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from qianshu.core.settings import Section


class AccountsSettings(Section):
    name: ClassVar[str] = "accounts"

    # Password hashing (argon2id; accounts/passwords.py). Memory in KiB, passes, lanes: the defaults are
    # OWASP's recommended configuration (19 MiB, 2 passes, 1 lane), below which nothing is accepted.
    # A changed value applies to new hashes, and to old ones at their owner's next sign-in. Threads:
    # hashes computed at once per web process (0: the CPUs divided among serve's web workers); more
    # sign-ins queue for a turn instead of taking every core.
    password_hash_memory_kib: int = Field(default=19 * 1024, ge=19 * 1024, le=4 * 1024**2)
    password_hash_time_cost: int = Field(default=2, ge=2, le=100)
    password_hash_parallelism: int = Field(default=1, ge=1, le=64)
    password_hash_threads: int = Field(default=0, ge=0, le=256)
    # How long a sign-in waits for a hashing thread before it is answered 503 with Retry-After.
    password_hash_queue_seconds: float = Field(default=3.0, gt=0, le=60)
