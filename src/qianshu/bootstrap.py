"""Creating or upgrading a data folder: ``qianshu init`` (also run by ``serve`` and ``demo``)."""

from __future__ import annotations

import secrets

from qianshu.accounts.service import ensure_exchange_operator
from qianshu.core.blobs import open_blob_store
from qianshu.core.db import Database
from qianshu.core.migrate import upgrade
from qianshu.core.settings import SETTINGS_FILE, Settings, get_settings
from qianshu.core.signing import ensure_keys

SETTINGS_TEMPLATE = """# Qianshu settings (docs/operations.md). Environment variables QIANSHU_<NAME> override these;
# a capability's table [<capability>] is overridden by QIANSHU_<CAPABILITY>__<NAME>.
# database_url = "postgresql+psycopg://user@host/qianshu"   # default: SQLite in this folder
secret_key = "{secret}"
environment = "development"
host = "127.0.0.1"
port = 8000

[registry]
public_notice_days = 10
upload_max_bytes = 10737418240
"""


def initialise(settings: Settings) -> Settings:
    """Idempotent: safe to run on every start and after every upgrade of Qianshu."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings_file = settings.data_dir / SETTINGS_FILE
    if not settings_file.exists():
        settings_file.write_text(SETTINGS_TEMPLATE.format(secret=secrets.token_urlsafe(48)), encoding="utf-8")
        settings_file.chmod(0o600)
        get_settings.cache_clear()
        settings = Settings(data_dir=settings.data_dir)
    ensure_keys(settings.key_dir)
    open_blob_store(settings).sweep_temporary()
    settings.work_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.effective_database_url)
    database = Database(settings.effective_database_url)
    try:
        with database.unit_of_work() as db:
            ensure_exchange_operator(db, settings, settings.exchange_uscc)
    finally:
        database.dispose()
    return settings
