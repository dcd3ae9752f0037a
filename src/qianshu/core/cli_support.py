"""What every capability's CLI commands share: the data folder, the database, errors, output.

Importing this module (and a capability's ``cli.py``) must stay cheap: ``qianshu --help``,
``--version`` and shell completion import every ``cli.py`` and nothing else, so the database,
the settings, Rich's progress bars and the capabilities' services are imported inside the
command that needs them (tests/test_cli.py checks what ``--help`` imports).

- ``DataDir`` and ``JsonOutput`` are the options every command shares (``--data-dir``, which
  also reads ``QIANSHU_DATA_DIR``, and ``--json``).
- ``settings_for(data_dir)`` finds the data folder and refuses one that ``qianshu init`` has not
  made: only ``init``, ``serve`` and ``demo`` create a folder or signing keys.
- ``handle_errors`` turns any error into one bilingual line and exit status 1; ``--debug`` (or
  ``QIANSHU_DEBUG=1``) shows the traceback instead. ``qianshu.cli`` wraps every command in it.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache, wraps
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec, TypeVar

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from qianshu.core.db import Database
    from qianshu.core.settings import Settings

P = ParamSpec("P")
R = TypeVar("R")
DATA_DIR_ENV = "QIANSHU_DATA_DIR"
DEFAULT_DATA_DIR = "qianshu-data"
DEMO_DATA_DIR = "qianshu-demo"
SQLITE_FILE = "qianshu.db"  # Settings.effective_database_url's file when database_url is empty
DEBUG_ENV = "QIANSHU_DEBUG"
GUARDED = "__qianshu_guarded__"

DataDir = Annotated[Path | None, typer.Option(
    "--data-dir", envvar=DATA_DIR_ENV, show_envvar=True, file_okay=False,
    help=f"Data folder made by `qianshu init` (default ./{DEFAULT_DATA_DIR}).")]
JsonOutput = Annotated[bool, typer.Option("--json", help="Print JSON (for other programs) instead of text.")]


class _State:
    debug: bool = False


state = _State()


def debug_from_environment() -> bool:
    return os.environ.get(DEBUG_ENV, "") not in ("", "0")


@cache
def get_console(*, stderr: bool = False) -> Console:
    """Rich's console for standard output (or error), made on first use: Rich's import is not free.
    It writes to whatever ``sys.stdout`` is at the time (CliRunner swaps it)."""
    from rich.console import Console

    return Console(stderr=stderr)


class _ConsoleProxy:
    """``console.print(...)`` as before, on the console made on first use."""

    def __init__(self, *, stderr: bool) -> None:
        self._stderr = stderr

    def __getattr__(self, name: str) -> Any:
        return getattr(get_console(stderr=self._stderr), name)


console: Console = _ConsoleProxy(stderr=False)  # type: ignore[assignment]
err_console: Console = _ConsoleProxy(stderr=True)  # type: ignore[assignment]


def bilingual(message: str, **params: Any) -> str:
    """A message of the catalogues on one line, Chinese first: ``中文 / English``. A parameter that
    is a function of the language (``lambda lang: ...``) is called for each half."""
    from qianshu.core.i18n import translate

    def half(lang: str) -> str:
        return translate(message, lang, **{k: v(lang) if callable(v) else v for k, v in params.items()})

    zh, en = half("zh"), half("en")
    return en if zh == en else f"{zh} / {en}"


def data_dir_path(data_dir: Path | None) -> Path:
    """The folder a command works on: ``--data-dir``, else ``QIANSHU_DATA_DIR``, else ./qianshu-data."""
    return (data_dir or Path(os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR)).expanduser().resolve()


def is_initialised(folder: Path) -> bool:
    """What ``qianshu init`` leaves: the settings file and the exchange's signing key."""
    from qianshu.core.keyfiles import PRIVATE_KEY_FILE
    from qianshu.core.settings import SETTINGS_FILE

    return (folder / SETTINGS_FILE).is_file() and (folder / "keys" / PRIVATE_KEY_FILE).is_file()


def settings_for(data_dir: Path | None, *, create: bool = False) -> Settings:
    """The settings of the data folder (``QIANSHU_*`` variables still override its file).

    Without ``create`` the folder must be one that ``qianshu init`` made (with its SQLite database,
    unless ``database_url`` names another): nothing is created, and anything else ends the
    command with one line saying what to do.
    """
    from qianshu.core.settings import get_settings

    folder = data_dir_path(data_dir)
    if not create and not is_initialised(folder):
        raise fail(_missing_folder_message(folder, given=data_dir is not None or bool(os.environ.get(DATA_DIR_ENV))))
    # Settings() and whatever calls get_settings() later in the command read the same folder.
    os.environ[DATA_DIR_ENV] = str(folder)
    get_settings.cache_clear()
    settings = get_settings()
    if not create and not settings.database_url and not (folder / SQLITE_FILE).is_file():
        # SQLite would create an empty database file, and the command would fail on a missing table.
        raise fail(bilingual("The database has no Qianshu tables: run `qianshu init` for this data folder."))
    return settings


def _missing_folder_message(folder: Path, *, given: bool) -> str:
    demo = Path(DEMO_DATA_DIR).resolve()
    if not given and is_initialised(demo):
        # The README's demo runs in ./qianshu-demo; a command run beside it means that folder.
        return bilingual("No Qianshu data folder at {path}. The demo's folder is {demo}: "
                         "pass --data-dir {demo}.", path=str(folder), demo=str(demo))
    return bilingual("No Qianshu data folder at {path}: run `qianshu init` there first, "
                     "or pass --data-dir (or set QIANSHU_DATA_DIR).", path=str(folder))


@contextmanager
def open_database(settings: Settings | None = None) -> Iterator[Database]:
    from qianshu.core.db import Database
    from qianshu.core.settings import get_settings

    database = Database((settings or get_settings()).effective_database_url)
    try:
        yield database
    finally:
        database.dispose()


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``✗ message`` on standard error; raise what it returns."""
    from rich.markup import escape

    # escaped: a path or an error's text may hold square brackets, which Rich reads as markup
    err_console.print(f"[bold red]✗[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _missing_schema(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "no such table" in text or ("relation" in text and "does not exist" in text)


def describe_error(exc: BaseException) -> str:
    """One bilingual line for an error that is not a domain error."""
    from qianshu.core.errors import QianshuError

    if isinstance(exc, QianshuError):
        return exc.bilingual()
    if _missing_schema(exc):
        return bilingual("The database has no Qianshu tables: run `qianshu init` for this data folder.")
    if isinstance(exc, OSError) and exc.strerror:
        return bilingual("Cannot use {path}: {reason}", path=str(exc.filename or ""), reason=exc.strerror)
    first_line = (str(exc).strip().splitlines() or [""])[0][:300]
    return bilingual("Unexpected error ({kind}: {detail}); run again with --debug to see where it happened.",
                     kind=type(exc).__name__, detail=first_line)


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Any error becomes one bilingual line and exit status 1; ``--debug`` shows the traceback."""
    if getattr(func, GUARDED, False):
        return func

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except KeyboardInterrupt:
            raise fail(bilingual("Interrupted."), 130) from None
        except Exception as exc:
            import click

            if isinstance(exc, click.ClickException):
                raise
            if state.debug:
                raise
            raise fail(describe_error(exc)) from None

    setattr(wrapper, GUARDED, True)
    return wrapper


def print_json(value: Any) -> None:
    """JSON on standard output, plain (no colours, no wrapping) so that a program can read it."""
    sys.stdout.write(json.dumps(value, ensure_ascii=False, indent=2, default=str) + "\n")
    sys.stdout.flush()
