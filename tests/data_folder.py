"""A data folder as ``qianshu init`` leaves it (settings file and signing keys), for CLI tests
whose database is the test database (``QIANSHU_DATABASE_URL``) rather than the folder's own."""

from __future__ import annotations

from pathlib import Path

from qianshu.core.settings import SETTINGS_FILE
from qianshu.core.signing import ensure_keys


def make_data_folder(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / SETTINGS_FILE).write_text('environment = "test"\n', encoding="utf-8")
    ensure_keys(path / "keys")
    return path
