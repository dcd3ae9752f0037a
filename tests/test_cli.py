"""The ``qianshu`` command as a user meets it: a data folder found or refused in one line,
``--debug``, ``--json``, ``--version``, shell completion, and a start that imports little.

tests/registry/test_cli.py runs the registry's and the log's commands on a folder with a
certificate in it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
import typer.main
from typer.testing import CliRunner

from qianshu import __version__
from qianshu.cli import app
from qianshu.core.cli_support import GUARDED
from qianshu.core.settings import get_settings

runner = CliRunner()
# What `qianshu --help` must not import: each costs tens of milliseconds on every call.
HEAVY = ("duckdb", "pyarrow", "fastapi", "reportlab", "rdflib", "tantivy", "sqlalchemy", "argon2",
         "qianshu.core.db", "qianshu.accounts.service")
# Every command that works on a data folder, with arguments that would otherwise be valid.
FOLDER_COMMANDS = [
    ["worker"],
    ["register", "{file}", "--title", "标题", "--org-user", "someone@example.cn"],
    ["certificate", "show", "QS-DR-2026-000001"],
    ["certificate", "status", "QS-DR-2026-000001"],
    ["registry", "list"],
    ["registry", "issue-due"],
    ["registry", "sweep-blobs"],
    ["watermark", "detect", "{file}", "--product", "1"],
    ["watermark", "trace", "{file}", "--product", "1"],
    ["watermark", "issue", "{out}", "--product", "1", "--recipient", "HT-1", "--org-user", "someone@example.cn"],
    ["staff", "create", "staff@example.cn", "--name", "Staff", "--password", "a-long-password"],
    ["staff", "list"],
    ["staff", "jurisdiction", "staff@example.cn", "520102"],
    ["jobs", "list"],
    ["log", "verify"],
    ["log", "sign"],
    ["log", "head"],
    ["log", "proof", "0"],
    ["log", "export", "{out}"],
    ["log", "audit", "{file}", "{file}"],
    ["monitoring", "feeds", "upload", "{file}", "--feed", "civil_affairs", "--year", "2025", "--division", "520000",
     "--as", "someone@example.cn"],
    ["monitoring", "feeds", "list", "--as", "someone@example.cn"],
    ["monitoring", "rules", "show", "--year", "2025", "--division", "520000"],
    ["monitoring", "rules", "set", "income_threshold_fen=800000", "--year", "2025", "--division", "520000",
     "--as", "someone@example.cn"],
    ["monitoring", "runs", "start", "--year", "2025", "--division", "520000", "--as", "someone@example.cn"],
    ["monitoring", "runs", "show", "1"],
    ["vouchers", "programmes"],
    ["vouchers", "budget", "1"],
    ["vouchers", "expire"],
    ["vouchers", "return", "1"],
    ["vouchers", "export", "1", "{out}"],
    ["exchange", "backfill-transfer-leaves"],
]
# commands that read or write only the files they are given
NEEDS_NO_FOLDER = {"qianshu certificate verify", "qianshu monitoring generate", "qianshu monitoring run"}
MAKES_A_FOLDER = {"qianshu init", "qianshu serve", "qianshu demo"}


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QIANSHU_")}
    return env | {"PYTHONPATH": os.pathsep.join(sys.path)}


@pytest.fixture
def no_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty working folder, no QIANSHU_DATA_DIR (restored afterwards, even if a command sets it)."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("QIANSHU_DATA_DIR", "unset")
    monkeypatch.delenv("QIANSHU_DATA_DIR")
    get_settings.cache_clear()
    yield work
    get_settings.cache_clear()


def _walk(command: click.Command, path: str) -> Iterator[tuple[str, click.Command]]:
    sub = getattr(command, "commands", None)
    if sub:
        for name, child in sub.items():
            yield from _walk(child, f"{path} {name}")
    else:
        yield path, command


def _commands() -> list[tuple[str, click.Command]]:
    return list(_walk(typer.main.get_command(app), "qianshu"))


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"qianshu {__version__}"


def test_every_command_takes_data_dir_and_is_guarded() -> None:
    for name, command in _commands():
        options = {opt for param in command.params for opt in param.opts}
        if name not in NEEDS_NO_FOLDER:
            assert "--data-dir" in options, f"{name} has no --data-dir"
        assert getattr(command.callback, GUARDED, False), f"{name} is not wrapped in handle_errors"
    listed = {" ".join(["qianshu", *(a for a in args if not a.startswith("{"))]) for args in FOLDER_COMMANDS}
    for name, _command in _commands():
        assert name in MAKES_A_FOLDER | NEEDS_NO_FOLDER or any(n.startswith(name) for n in listed), \
            f"{name} is not tested outside a data folder: add it to FOLDER_COMMANDS"


@pytest.mark.parametrize("args", FOLDER_COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_outside_a_data_folder_a_command_creates_nothing_and_says_so_in_one_line(
        args: list[str], no_folder: Path, tmp_path: Path) -> None:
    some_file = tmp_path / "some.json"
    some_file.write_text("{}", encoding="utf-8")
    argv = [a.format(file=some_file, out=tmp_path / "out") for a in args]
    result = runner.invoke(app, argv)
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert "不是黔数数据文件夹" in lines[0]
    assert "No Qianshu data folder" in lines[0]
    assert "qianshu init" in lines[0]
    assert "--data-dir" in lines[0]
    assert list(no_folder.iterdir()) == []
    assert not (tmp_path / "out").exists()


def test_beside_the_demo_the_line_names_the_demo_folder(no_folder: Path) -> None:
    from tests.data_folder import make_data_folder

    make_data_folder(no_folder / "qianshu-demo")
    result = runner.invoke(app, ["registry", "list"])
    assert result.exit_code == 1
    assert f"--data-dir {no_folder / 'qianshu-demo'}" in result.output
    assert not (no_folder / "qianshu-data").exists()


def test_a_real_shell_gets_one_line_on_stderr_and_no_keys(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "qianshu.cli", "log", "sign"], cwd=tmp_path, env=_env(),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "qianshu init" in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def initialised(tmp_path: Path, no_folder: Path) -> Path:
    """A folder made by `qianshu init` (its own SQLite database)."""
    folder = tmp_path / "exchange"
    result = runner.invoke(app, ["init", "--data-dir", str(folder)])
    assert result.exit_code == 0, result.output
    return folder


def test_commands_on_an_initialised_folder_print_json(initialised: Path) -> None:
    d = ["--data-dir", str(initialised)]
    created = runner.invoke(app, ["staff", "create", "reviewer@example.cn", "--name", "审核员", "--role", "reviewer",
                                  "--password", "a-long-password", "--json", *d])
    assert created.exit_code == 0, created.output
    assert json.loads(created.stdout)["role"] == "reviewer"
    staff = json.loads(runner.invoke(app, ["staff", "list", "--json", *d]).stdout)
    assert [s["email"] for s in staff] == ["reviewer@example.cn"]
    assert json.loads(runner.invoke(app, ["jobs", "list", "--json", *d]).stdout) == []
    assert json.loads(runner.invoke(app, ["registry", "list", "--json", *d]).stdout) == []
    assert json.loads(runner.invoke(app, ["registry", "issue-due", "--json", *d]).stdout) == {"issued": 0}
    signed = json.loads(runner.invoke(app, ["log", "sign", *d]).stdout)
    assert json.loads(runner.invoke(app, ["log", "head", *d]).stdout) == signed
    verified = json.loads(runner.invoke(app, ["log", "verify", "--json", *d]).stdout)
    assert verified["ok"]
    assert verified["heads_checked"] == 1
    assert verified["signatures_checked"]
    # the same folder through the environment variable
    os.environ["QIANSHU_DATA_DIR"] = str(initialised)  # no_folder restores it
    assert runner.invoke(app, ["staff", "list"]).output.split()[1:3] == ["reviewer", "reviewer@example.cn"]


def test_an_error_is_one_bilingual_line_and_debug_shows_the_traceback(initialised: Path) -> None:
    (initialised / "qianshu.db").unlink()  # a folder whose database was lost
    (initialised / "qianshu.db-wal").unlink(missing_ok=True)
    d = ["--data-dir", str(initialised)]
    plain = runner.invoke(app, ["staff", "list", *d])
    assert plain.exit_code == 1
    assert len(plain.output.strip().splitlines()) == 1
    assert "数据库中没有黔数的数据表" in plain.output
    assert "qianshu init" in plain.output
    assert not (initialised / "qianshu.db").exists()  # not created empty
    # an unexpected error (a database that is not one) in one line; --debug lets the traceback out
    (initialised / "qianshu.db").write_bytes(b"not a database" * 100)
    plain = runner.invoke(app, ["staff", "list", *d])
    assert plain.exit_code == 1
    assert len(plain.output.strip().splitlines()) == 1, plain.output
    assert "意外错误" in plain.output
    assert "--debug" in plain.output
    assert "Traceback" not in plain.output
    debug = subprocess.run([sys.executable, "-m", "qianshu.cli", "--debug", "staff", "list", *d], env=_env(),
                           capture_output=True, text=True, timeout=60)
    assert debug.returncode != 0
    assert "Traceback (most recent call last)" in debug.stderr


def test_help_and_version_import_nothing_heavy() -> None:
    probe = (
        "import sys, json\n"
        "from qianshu.cli import app\n"
        "for argv in (['--help'], ['--version'], ['log', '--help'], ['register', '--help']):\n"
        "    try:\n"
        "        app(argv, prog_name='qianshu')\n"
        "    except SystemExit:\n"
        "        pass\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], env=_env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_a_command_imports_only_what_it_uses(initialised: Path) -> None:
    """``registry list`` reads rows: no DuckDB (the registry's service imports it only to read a
    Parquet file), and no account schemas (the accounts' service names them as types only)."""
    probe = (
        "import sys, json\n"
        "from qianshu.cli import app\n"
        "try:\n"
        f"    app(['registry', 'list', '--json', '--data-dir', {str(initialised)!r}], prog_name='qianshu')\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "print(json.dumps([m for m in ('duckdb', 'qianshu.accounts.schemas') if m in sys.modules]))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], env=_env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_shell_completion_completes_commands_and_options() -> None:
    shown = subprocess.run([sys.executable, "-m", "qianshu.cli", "--show-completion", "bash"],
                           env=_env() | {"SHELL": "/bin/bash"}, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert "_QIANSHU_COMPLETE" in shown.stdout
    env = _env() | {"_QIANSHU_COMPLETE": "complete_bash", "COMP_WORDS": "qianshu log ", "COMP_CWORD": "2"}
    completed = subprocess.run([sys.executable, "-m", "qianshu.cli"], env=env, capture_output=True, text=True,
                               timeout=60)
    assert {"verify", "audit", "export", "sign", "head", "proof"} <= set(completed.stdout.split())
    env |= {"COMP_WORDS": "qianshu certificate show --", "COMP_CWORD": "3"}
    completed = subprocess.run([sys.executable, "-m", "qianshu.cli"], env=env, capture_output=True, text=True,
                               timeout=60)
    assert {"--data-dir", "--json"} <= set(completed.stdout.split())


def test_demo_help_names_its_default_folder() -> None:
    result = runner.invoke(app, ["demo", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "./qianshu-demo" in text
    assert "qianshu-data" not in text



def test_importing_the_accounts_computes_no_password_hash_nor_imports_argon2() -> None:
    probe = (
        "import sys\n"
        "from qianshu.accounts import passwords, service\n"
        "before = passwords._dummy_hash.cache_info().currsize\n"
        "imported = 'argon2' in sys.modules\n"
        "refused = passwords.verify_password(None, 'a-long-password')\n"
        "print(before, imported, refused, passwords._dummy_hash.cache_info().currsize)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], env=_env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    # made when an unknown account first signs in; argon2-cffi is imported then too
    assert result.stdout.split() == ["0", "False", "False", "1"]
