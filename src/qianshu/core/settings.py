"""Settings from the data folder's ``qianshu.toml`` and ``QIANSHU_*`` environment variables.

Precedence (highest first): explicit arguments, environment, the settings file, defaults.
Nothing is read at import time; call :func:`get_settings` (cached) or build ``Settings``.
"""

from __future__ import annotations

import os
import re
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

SETTINGS_FILE = "qianshu.toml"
DEV_SECRET = "development-only-secret-change-me"  # noqa: S105 - refused outside development


class Section(BaseModel):
    """A capability's own settings: the ``[<name>]`` table of ``qianshu.toml`` and the
    ``QIANSHU_<NAME>__<FIELD>`` environment variables (e.g. ``QIANSHU_REGISTRY__PUBLIC_NOTICE_DAYS``).

    A capability declares its section in its manifest (``settings="qianshu.x.settings:XSettings"``)
    and reads it with ``settings.section(XSettings)``; unknown keys in its table are refused at start.
    """

    model_config = ConfigDict(extra="forbid")
    name: ClassVar[str]
    # Every section class by name, as it is defined (templates ask for a section by name).
    known: ClassVar[dict[str, type[Section]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            Section.known[cls.name] = cls


SectionT = TypeVar("SectionT", bound=Section)
_SECTION_ENV = re.compile(r"^QIANSHU_([A-Z][A-Z0-9_]*?)__([A-Z][A-Z0-9_]*)$")


class _SectionSource(PydanticBaseSettingsSource):
    """The capability sections: every table of the settings file, then ``QIANSHU_<NAME>__<FIELD>``
    variables (pydantic-settings merges sources key by key, so a variable overrides one field only)."""

    def __init__(self, settings_cls: type[BaseSettings], toml_file: Path | None, environ: bool) -> None:
        super().__init__(settings_cls)
        self._toml_file = toml_file
        self._environ = environ

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover - unused
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        sections: dict[str, dict[str, Any]] = {}
        if self._toml_file is not None:
            data = read_settings_file(self._toml_file.parent) if self._toml_file.exists() else {}
            sections = {k: dict(v) for k, v in data.items() if isinstance(v, dict)}
        if self._environ:
            for key, value in os.environ.items():
                if (match := _SECTION_ENV.match(key)) is not None:
                    sections.setdefault(match[1].lower(), {})[match[2].lower()] = value
        return {"sections": sections} if sections else {}


def default_data_dir() -> Path:
    return Path(os.environ.get("QIANSHU_DATA_DIR", "qianshu-data")).resolve()


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QIANSHU_", extra="ignore")

    environment: Literal["development", "production", "test"] = "development"
    # The capabilities' own sections, by name (see ``Section``); read them with ``section()``.
    sections: dict[str, dict[str, Any]] = Field(default_factory=dict)
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
    # A streamed upload (files, too large to read first) must keep up this average rate after the
    # first body_read_timeout_seconds, or it gets 408: 10 kB/s is slower than a 2G mobile link.
    streamed_body_min_bytes_per_second: int = Field(default=10_000, gt=0)
    exchange_name_zh: str = "黔数数据交易所"
    exchange_name_en: str = "Qianshu Data Exchange"
    exchange_uscc: str = "91520100MA6DQ7JX0W"
    # `qianshu serve` (and `qianshu demo`) also run the job worker, as a child process at a lower
    # CPU priority than the web workers; false: jobs are left to `qianshu worker` processes.
    run_jobs_in_process: bool = True
    # The job worker (core/jobs.py): threads running jobs at once per worker process, and how long
    # a stopping worker lets running jobs finish before it gives them back to the queue, and how
    # long a running job's heartbeat may be silent before a worker takes its process for dead and
    # puts the job back (workers beat four times as often).
    worker_threads: int = Field(default=4, ge=1, le=64)
    worker_stop_seconds: float = Field(default=30.0, ge=0, le=3600)
    worker_stale_seconds: float = Field(default=60.0, ge=4, le=3600)
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
        toml_file = data_dir / SETTINGS_FILE
        toml_source = TomlConfigSettingsSource(settings_cls, toml_file=toml_file)
        return (init_settings, _SectionSource(settings_cls, None, environ=True), env_settings,
                _SectionSource(settings_cls, toml_file, environ=False), toml_source)

    def section(self, cls: type[SectionT]) -> SectionT:
        """A capability's section, validated (a wrong value raises pydantic's ValidationError;
        ``capabilities.check_settings`` reports it at start-up, naming the section)."""
        return cls.model_validate(self.sections.get(cls.name, {}))

    def named(self, name: str) -> Section:
        """The section called ``name`` (for templates, which cannot import its class)."""
        return self.section(Section.known[name])

    def override(self, cls: type[Section], **values: Any) -> None:
        """Change fields of a section in place (the demo's short notice; tests), validated first."""
        merged = {**self.sections.get(cls.name, {}), **values}
        cls.model_validate(merged)
        self.sections = {**self.sections, cls.name: merged}

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
