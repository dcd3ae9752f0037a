"""Settings: arguments over environment over the data folder's qianshu.toml over defaults."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from qianshu.core.settings import DEV_SECRET, SETTINGS_FILE, Settings, get_settings, read_settings_file

STRONG_SECRET = "s" * 48


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No QIANSHU_* from the machine, and a working folder without a stray qianshu-data/."""
    import os

    for name in list(os.environ):
        if name.startswith("QIANSHU_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def write_settings(data_dir: Path, text: str) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / SETTINGS_FILE).write_text(text, encoding="utf-8")


def test_defaults(tmp_path: Path) -> None:
    settings = Settings()
    assert settings.environment == "development"
    assert settings.data_dir == (tmp_path / "qianshu-data").resolve()
    assert settings.secret_key == DEV_SECRET
    assert settings.default_language == "zh"
    assert settings.port == 8000


def test_the_settings_file_is_read_from_the_data_folder(tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_settings(data, 'port = 9000\nexchange_name_en = "From File"\nunknown_key = 1\n')
    settings = Settings(data_dir=data)
    assert settings.port == 9000
    assert settings.exchange_name_en == "From File"
    assert read_settings_file(data)["port"] == 9000
    assert read_settings_file(tmp_path / "nowhere") == {}


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    write_settings(data, 'port = 9000\nhost = "192.0.2.10"\n')
    monkeypatch.setenv("QIANSHU_DATA_DIR", str(data))
    monkeypatch.setenv("QIANSHU_PORT", "9100")
    settings = Settings()
    assert settings.data_dir == data.resolve()
    assert settings.port == 9100  # environment beats file
    assert settings.host == "192.0.2.10"  # the file beats the default
    assert Settings(port=9200).port == 9200  # an explicit argument beats both


def test_get_settings_is_cached() -> None:
    assert get_settings() is get_settings()


def test_default_database_is_sqlite_in_the_data_folder(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    assert settings.database_url == ""
    assert settings.effective_database_url == f"sqlite:///{(tmp_path / 'data').resolve() / 'qianshu.db'}"
    assert settings.blob_dir == settings.data_dir / "blobs"
    assert settings.key_dir == settings.data_dir / "keys"
    assert settings.work_dir == settings.data_dir / "work"


def test_a_relative_data_folder_becomes_absolute(tmp_path: Path) -> None:
    settings = Settings(data_dir=Path("rel/data"))
    assert settings.data_dir.is_absolute()
    assert settings.effective_database_url == f"sqlite:///{tmp_path.resolve()}/rel/data/qianshu.db"


def test_an_explicit_database_url_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("QIANSHU_DATABASE_URL", "postgresql+psycopg://db/qianshu")
    assert Settings(data_dir=tmp_path).effective_database_url == "postgresql+psycopg://db/qianshu"


def test_production_refuses_the_development_secret(tmp_path: Path) -> None:
    settings = Settings(environment="production", data_dir=tmp_path)
    with pytest.raises(RuntimeError, match="QIANSHU_SECRET_KEY"):
        settings.check_production_safe()


def test_production_set_up_from_the_file_refuses_it_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_settings(tmp_path / "data", 'environment = "production"\n')
    monkeypatch.setenv("QIANSHU_DATA_DIR", str(tmp_path / "data"))
    with pytest.raises(RuntimeError):
        Settings().check_production_safe()


def test_the_app_factory_refuses_production_with_the_development_secret(tmp_path: Path) -> None:
    from qianshu.web.app import create_app

    with pytest.raises(RuntimeError, match="QIANSHU_SECRET_KEY"):
        create_app(Settings(environment="production", data_dir=tmp_path))


def test_production_with_a_real_secret_and_development_with_the_default_are_fine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QIANSHU_SECRET_KEY", STRONG_SECRET)
    Settings(environment="production", data_dir=tmp_path).check_production_safe()
    Settings(environment="development", data_dir=tmp_path, secret_key=DEV_SECRET).check_production_safe()


def test_unknown_environment_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="environment"):
        Settings(environment="staging", data_dir=tmp_path)  # type: ignore[arg-type]


@pytest.mark.parametrize("secret", ["", "x"])
def test_production_refuses_an_empty_or_short_secret(tmp_path: Path, secret: str) -> None:
    with pytest.raises(RuntimeError):
        Settings(environment="production", data_dir=tmp_path, secret_key=secret).check_production_safe()


def test_a_data_folder_under_home_reads_its_settings_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    write_settings(tmp_path / "home" / "qs", "port = 9300\n")
    monkeypatch.setenv("QIANSHU_DATA_DIR", "~/qs")
    settings = Settings()
    assert settings.data_dir == (tmp_path / "home" / "qs").resolve()
    assert settings.port == 9300


# --- capability sections: [registry] in the file, QIANSHU_REGISTRY__* in the environment --------

def test_a_capability_reads_its_own_table_and_a_variable_overrides_one_field(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from qianshu.registry.settings import RegistrySettings

    write_settings(tmp_path / "d", '[registry]\npublic_notice_days = 7\ndocument_max_bytes = 1000\n')
    monkeypatch.setenv("QIANSHU_REGISTRY__DOCUMENT_MAX_BYTES", "2000")
    registry = Settings(data_dir=tmp_path / "d").section(RegistrySettings)
    assert (registry.public_notice_days, registry.document_max_bytes) == (7, 2000)
    assert registry.upload_max_bytes == 10 * 1024**3  # the default where neither says anything
    assert Settings(data_dir=tmp_path / "empty").section(RegistrySettings).public_notice_days == 10


@pytest.mark.parametrize(("text", "named"), [
    ("[regsitry]\npublic_notice_days = 7\n", "[regsitry]: no capability has settings of that name"),
    ("[registry]\nnotice_days = 7\n", "[registry] notice_days: Extra inputs are not permitted"),
    ("[registry]\npublic_notice_days = -1\n", "[registry] public_notice_days: Input should be greater than"),
    ("upload_max_bytes = 5\n", "upload_max_bytes: not a setting of Qianshu / 不是黔数的设置; it belongs in the "
                               "[registry] table"),
    ("uplaod_max_bytes = 5\n", "uplaod_max_bytes: not a setting of Qianshu"),
])
def test_settings_no_capability_reads_refuse_to_start_naming_the_key(tmp_path: Path, text: str, named: str) -> None:
    from qianshu import capabilities
    write_settings(tmp_path / "d", 'secret_key = "' + STRONG_SECRET + '"\n' + text)
    with pytest.raises(capabilities.ManifestError) as refused:
        capabilities.check_or_fail(Settings(data_dir=tmp_path / "d"))
    assert named in str(refused.value)
    assert "设置无效" in str(refused.value)


def test_the_settings_file_init_writes_passes_the_start_up_check(tmp_path: Path) -> None:
    from qianshu import capabilities
    from qianshu.bootstrap import SETTINGS_TEMPLATE

    write_settings(tmp_path / "d", SETTINGS_TEMPLATE.format(secret=STRONG_SECRET))
    settings = Settings(data_dir=tmp_path / "d")
    assert capabilities.settings_problems(settings) == []
    assert settings.named("registry").model_dump()["public_notice_days"] == 10
