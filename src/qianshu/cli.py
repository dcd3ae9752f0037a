"""The ``qianshu`` command: init, serve, worker, demo, plus every capability's commands.

Only ``init``, ``serve`` and ``demo`` create a data folder or signing keys; every other command
works on a folder ``qianshu init`` made (``--data-dir`` / ``QIANSHU_DATA_DIR``) and refuses,
in one line, to run anywhere else. Start-up stays cheap: modules are imported inside the
commands (see ``core/cli_support.py``).
"""

from __future__ import annotations

import gc
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from qianshu.capabilities import with_part
from qianshu.core.cli_support import (
    DATA_DIR_ENV,
    DEMO_DATA_DIR,
    GUARDED,
    DataDir,
    console,
    debug_from_environment,
    handle_errors,
    settings_for,
    state,
)

if TYPE_CHECKING:
    from qianshu.core.settings import Settings

app = typer.Typer(name="qianshu", help="Qianshu (黔数): a regional data exchange platform.",
                  no_args_is_help=True, add_completion=True, pretty_exceptions_enable=False,
                  # Plain help: Typer's Rich help formatter imports half of Rich (Markdown, syntax
                  # highlighting, tracebacks) and tripled the start-up time of `qianshu --help`.
                  rich_markup_mode=None)

WORKER_HEALTHCHECK_SECONDS = 60


def _version(value: bool) -> None:
    if value:
        from qianshu import __version__

        typer.echo(f"qianshu {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="On an error, show the traceback "
                                        "(also QIANSHU_DEBUG=1).")] = False,
) -> None:
    """Qianshu (黔数): a regional data exchange platform."""
    state.debug = debug or debug_from_environment()


def _listen_on(host: str, port: int) -> None:
    """Tell the app (and its worker processes) where it listens: the default public address."""
    import os

    from qianshu.core.settings import get_settings

    os.environ["QIANSHU_HOST"], os.environ["QIANSHU_PORT"] = host, str(port)
    get_settings.cache_clear()


@app.command()
def init(data_dir: DataDir = None) -> None:
    """Create or upgrade a data folder: settings file, signing keys, database schema."""
    from qianshu.bootstrap import initialise

    settings = settings_for(data_dir, create=True)
    initialise(settings)
    console.print(f"[green]✓[/] data folder ready: {settings.data_dir}")


@app.command()
def serve(data_dir: DataDir = None, host: Annotated[str | None, typer.Option()] = None,
          port: Annotated[int | None, typer.Option()] = None,
          workers: Annotated[int, typer.Option(help="Web worker processes.")] = 1) -> None:
    """Run `init` on the data folder, then the portal and the REST API."""
    from qianshu.bootstrap import initialise

    settings = settings_for(data_dir, create=True)
    initialise(settings)
    host, port = host or settings.host, port or settings.port
    _listen_on(host, port)
    console.print(f"Qianshu on [bold]http://{host}:{port}/[/]  (API: /api/docs)")
    _run_web(settings, host=host, port=port, workers=workers, log_level="info")


@app.command()
def worker(data_dir: DataDir = None,
           threads: Annotated[int | None, typer.Option(min=1, max=64,
                                                       help="Jobs run at once (default: worker_threads).")] = None,
           niceness: Annotated[int, typer.Option(min=0, max=19, help="Lower this process's CPU priority by "
                                                 "this much (as `nice`): web requests first.")] = 0,
           parent_pid: Annotated[int | None, typer.Option(hidden=True)] = None,  # serve's child: stop with it
           ) -> None:
    """Run background jobs and periodic tasks until SIGTERM or Ctrl-C (several may run, on several machines)."""
    import logging

    from qianshu.core.cli_support import open_database
    from qianshu.worker import lower_priority_and_follow_parent, run_worker

    lower_priority_and_follow_parent(niceness, parent_pid)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = settings_for(data_dir)
    with open_database(settings) as database:
        console.print(f"Qianshu worker: {threads or settings.worker_threads} threads on {settings.data_dir}",
                      highlight=False)
        released = run_worker(settings, database, threads)
    console.print(f"worker stopped; {len(released)} unfinished job(s) given back to the queue", highlight=False)


@app.command()
def demo(data_dir: Annotated[Path | None, typer.Option(
            "--data-dir", envvar=DATA_DIR_ENV, show_envvar=True, file_okay=False,
            help=f"Folder of the demonstration exchange (default ./{DEMO_DATA_DIR}, apart from a real "
                 "exchange's folder; made and seeded on the first run).")] = None,
         host: Annotated[str, typer.Option()] = "127.0.0.1",
         port: Annotated[int, typer.Option()] = 8000,
         seed_only: Annotated[bool, typer.Option("--seed-only", help="Seed and exit.")] = False) -> None:
    """Create a seeded demonstration exchange in ./qianshu-demo and open the portal on 127.0.0.1."""
    from rich.table import Table

    from qianshu.demo.seed import DEMO_LOGINS, DEMO_PASSWORD, seed_demo

    _listen_on(host, port)
    # A demo folder of its own, so a demo never mixes with a real data folder.
    settings = settings_for(data_dir or Path(DEMO_DATA_DIR), create=True)
    seed_demo(settings)
    table = Table(title=f"Demo sign-ins / 演示账号 — password / 密码: {DEMO_PASSWORD}")
    table.add_column("e-mail / 邮箱", no_wrap=True)
    table.add_column("role / 角色")
    for login in DEMO_LOGINS:
        table.add_row(login.email, login.role)
    console.rule("[bold]Qianshu demo / 黔数演示")
    console.print(table)
    console.print(f"Data folder / 数据文件夹: {settings.data_dir}", highlight=False)
    console.print(f"Portal / 门户: [bold]http://{host}:{port}/[/]   API: http://{host}:{port}/api/docs")
    if not seed_only:
        _run_web(settings, host=host, port=port, workers=1, log_level="warning")


def _run_web(settings: Settings, *, host: str, port: int, workers: int, log_level: str) -> None:
    """uvicorn with ``workers`` web processes and, with ``run_jobs_in_process``, the job worker
    as a child process at a lower priority (``qianshu.worker.JobProcess``), stopped with them."""
    import uvicorn

    from qianshu.accounts.passwords import default_threads
    from qianshu.accounts.settings import AccountsSettings
    from qianshu.core.settings import get_settings
    from qianshu.worker import JobProcess

    if not settings.section(AccountsSettings).password_hash_threads:  # each web worker: its share of the CPUs
        os.environ["QIANSHU_ACCOUNTS__PASSWORD_HASH_THREADS"] = str(max(1, default_threads() // max(1, workers)))
        get_settings.cache_clear()
    jobs = None
    if settings.run_jobs_in_process:
        jobs = JobProcess(settings)
        jobs.start()
        # The web workers read their settings from the environment: they leave the jobs to it.
        os.environ["QIANSHU_RUN_JOBS_IN_PROCESS"] = "false"
        get_settings.cache_clear()
    try:
        # A worker that is still starting (building its search index) on a busy machine can miss
        # uvicorn's 5 s health ping and be killed over and over; give it time.
        uvicorn.run("qianshu.web.asgi:app", host=host, port=port, workers=workers, log_level=log_level,
                    access_log=settings.writes_access_log, timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS)
    finally:
        if jobs is not None:
            jobs.stop()


for _manifest in with_part("cli"):
    _manifest.module("cli").install(app)


def _guard_every_command(group: typer.Typer) -> None:
    """Wrap every command, ours and the capabilities', in ``handle_errors`` (once)."""
    for command in group.registered_commands:
        if command.callback is not None and not getattr(command.callback, GUARDED, False):
            command.callback = handle_errors(command.callback)
    for sub in group.registered_groups:
        if sub.typer_instance is not None:
            _guard_every_command(sub.typer_instance)


_guard_every_command(app)


def main() -> None:
    try:
        # The name shell completion is installed under, also when started as ``python -m qianshu.cli``.
        app(prog_name="qianshu")
    finally:
        # At exit the interpreter runs full garbage collections over every object the command's
        # imports made (SQLAlchemy, Pydantic, DuckDB ...): 50-100 ms of CPU after `qianshu register`
        # has printed its result. Frozen objects are left out of those collections; what they hold
        # is still released by reference counting (Python never promised finalisers at exit).
        gc.freeze()


if __name__ == "__main__":
    main()
