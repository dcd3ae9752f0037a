"""Settings from the data folder's ``qianshu.toml`` and ``QIANSHU_*`` environment variables.

Precedence (highest first): explicit arguments, environment, the settings file, defaults.
Nothing is read at import time; call :func:`get_settings` (cached) or build ``Settings``.
"""

from __future__ import annotations

import os
import tomllib
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

SETTINGS_FILE = "qianshu.toml"
DEV_SECRET = "development-only-secret-change-me"  # noqa: S105 - refused outside development


def default_data_dir() -> Path:
    return Path(os.environ.get("QIANSHU_DATA_DIR", "qianshu-data")).resolve()


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QIANSHU_", extra="ignore")

    environment: Literal["development", "production", "test"] = "development"
    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str = ""  # empty: SQLite (WAL) in the data folder
    secret_key: str = DEV_SECRET
    host: str = "127.0.0.1"
    port: int = 8000
    # The address the public reaches this exchange at (scheme, host, optional path: no trailing
    # slash), e.g. "https://data.example.gov.cn". Every address Qianshu publishes (DCAT datasets,
    # ODRL policies, certificate links) starts with it; the request's Host header never counts.
    # Empty: http://<host>:<port> (right for the demo and a single machine, wrong behind a proxy).
    public_base_url: str = Field(default="", pattern=r"^(https?://[^/?#\s]+(/[^?#\s]*)?)?$")
    default_language: Literal["zh", "en"] = "zh"
    # Sign-in throttling: this many failures for one account or address within the window.
    login_max_failures: int = 5
    login_window_seconds: int = 900
    session_hours: int = 12
    # Request bodies are read whole before a route runs: at most this many bytes (JSON, forms;
    # routes that take files have their own limits), within this many seconds.
    request_max_bytes: int = Field(default=1024**2, gt=0)
    body_read_timeout_seconds: float = Field(default=30.0, gt=0)
    upload_max_bytes: int = 10 * 1024**3
    # Supporting documents of a registration: purchase contract, objection evidence, report document.
    document_max_bytes: int = Field(default=50 * 1024**2, gt=0)
    public_notice_days: int = 10
    # A short public notice in minutes instead of days, for demonstrations and training (``qianshu
    # demo`` sets 2): a registration can go from upload to certificate in one sitting. Unset in
    # real use, where the notice lasts public_notice_days.
    public_notice_minutes: float | None = Field(default=None, ge=0, le=60 * 24 * 30)
    exchange_name_zh: str = "黔数数据交易所"
    exchange_name_en: str = "Qianshu Data Exchange"
    exchange_uscc: str = "91520100MA6DQ7JX0W"
    # A TrueType font with Chinese glyphs embedded in certificate PDFs; empty: search the system.
    certificate_font_path: str = ""
    # `qianshu serve` (and `qianshu demo`) also run the job worker, as a child process at a lower
    # CPU priority than the web workers; false: jobs are left to `qianshu worker` processes.
    run_jobs_in_process: bool = True
    # Password hashing (argon2id; accounts/passwords.py). Settings of the accounts capability, kept
    # here until the settings are split by capability. Memory in KiB, passes, lanes: the defaults are
    # RFC 9106's second recommended option (argon2-cffi's defaults); below OWASP's minimum (19 MiB,
    # 2 passes) is refused. A changed value applies to new hashes, and to old ones at their owner's
    # next sign-in. Threads: hashes computed at once per web process (0: the CPUs divided among
    # serve's web workers); more sign-ins queue for a turn instead of taking every core.
    password_hash_memory_kib: int = Field(default=65536, ge=19 * 1024, le=4 * 1024**2)
    password_hash_time_cost: int = Field(default=3, ge=2, le=100)
    password_hash_parallelism: int = Field(default=4, ge=1, le=64)
    password_hash_threads: int = Field(default=0, ge=0, le=256)
    # How long a sign-in waits for a hashing thread before it is answered 503 with Retry-After.
    password_hash_queue_seconds: float = Field(default=3.0, gt=0, le=60)
    # The job worker (core/jobs.py): threads running jobs at once per worker process, and how long
    # a stopping worker lets running jobs finish before it gives them back to the queue.
    worker_threads: int = Field(default=4, ge=1, le=64)
    worker_stop_seconds: float = Field(default=30.0, ge=0, le=3600)
    # Where blobs (uploads, Parquet, documents) are kept: "local" is blob_dir in the data folder.
    blob_store: Literal["local"] = "local"
    # Admission control per web worker process (web/admission.py): requests in progress at once,
    # how many more may wait for a turn, and for how long, before a 503 with Retry-After.
    max_concurrent_requests: int = Field(default=32, ge=1, le=1000)
    request_queue_max: int = Field(default=128, ge=0, le=100_000)
    request_queue_seconds: float = Field(default=3.0, ge=0, le=60)
    # One log line per request from `qianshu serve` (uvicorn's access log). Unset: on in
    # development and test, off in production (it cost 7-25 % of the CPU of a cheap request).
    access_log: bool | None = None
    # How long a request waits for a database lock (SQLite's write lock, a PostgreSQL row lock)
    # before it is answered 503 with Retry-After instead of hanging.
    database_lock_timeout_seconds: float = Field(default=10.0, gt=0, le=600)
    # How long a worker process may answer a repeated catalogue search from its cache without
    # asking the database whether the catalogue changed (see catalog/search_cache.py); 0: always ask.
    search_refresh_seconds: float = Field(default=1.0, ge=0, le=60)
    # Analytics (core/analytics.py, DuckDB): per connection, memory and threads, and the time limit
    # of one query; "interactive" reads (a page waiting for a sample) have lower limits of their own.
    analytics_memory_limit: str = Field(default="1GB", pattern=r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$")
    analytics_threads: int = Field(default=2, ge=1, le=64)
    analytics_query_seconds: float = Field(default=1800.0, gt=0, le=86400)
    analytics_interactive_memory_limit: str = Field(default="256MB",
                                                    pattern=r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$")
    analytics_interactive_seconds: float = Field(default=10.0, gt=0, le=3600)

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        data_dir = Path(os.environ.get("QIANSHU_DATA_DIR", "qianshu-data"))
        init_dir = getattr(init_settings, "init_kwargs", {}).get("data_dir")
        if init_dir is not None:
            data_dir = Path(init_dir)
        toml_source = TomlConfigSettingsSource(settings_cls, toml_file=data_dir / SETTINGS_FILE)
        return (init_settings, env_settings, toml_source)

    @property
    def public_base(self) -> str:
        """``public_base_url`` without a trailing slash, or the address ``serve`` listens on."""
        if self.public_base_url:
            return self.public_base_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host  # noqa: S104 - compared, not bound
        return f"http://{host}:{self.port}"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'qianshu.db'}"

    @property
    def public_notice_duration(self) -> timedelta:
        if self.public_notice_minutes is not None:
            return timedelta(minutes=self.public_notice_minutes)
        return timedelta(days=self.public_notice_days)

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def writes_access_log(self) -> bool:
        return self.access_log if self.access_log is not None else self.environment != "production"

    @property
    def key_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def work_dir(self) -> Path:
        return self.data_dir / "work"

    def check_production_safe(self) -> None:
        """Refuse to run a production deployment on the development secret."""
        if self.environment == "production" and (self.secret_key == DEV_SECRET or len(self.secret_key) < 32):
            raise RuntimeError(
                "QIANSHU_SECRET_KEY must be set (32+ characters) in production / "
                "生产环境必须设置 QIANSHU_SECRET_KEY（至少 32 个字符）"
            )


def read_settings_file(data_dir: Path) -> dict[str, Any]:
    path = data_dir / SETTINGS_FILE
    if not path.exists():
        return {}
    return tomllib.loads(path.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
