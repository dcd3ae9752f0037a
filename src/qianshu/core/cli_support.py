"""What every capability's CLI commands share: settings, the database, errors, the console."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any, ParamSpec, TypeVar

import typer
from rich.console import Console

from qianshu.core.db import Database
from qianshu.core.errors import QianshuError
from qianshu.core.settings import Settings, get_settings

console = Console()
err_console = Console(stderr=True)
P = ParamSpec("P")
R = TypeVar("R")


@contextmanager
def open_database(settings: Settings | None = None) -> Iterator[Database]:
    database = Database((settings or get_settings()).effective_database_url)
    try:
        yield database
    finally:
        database.dispose()


def fail(message: str, code: int = 1) -> typer.Exit:
    err_console.print(f"[bold red]✗[/] {message}")
    return typer.Exit(code)


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn domain errors into a bilingual message and exit status 1, never a traceback."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except QianshuError as exc:
            raise fail(exc.bilingual()) from None

    return wrapper


def print_json(value: Any) -> None:
    console.print_json(data=value)
