"""The ``qianshu`` command: init, serve, worker, demo, plus every capability's commands."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from qianshu.capabilities import with_part
from qianshu.core.cli_support import console, handle_errors
from qianshu.core.settings import Settings, get_settings

app = typer.Typer(name="qianshu", help="Qianshu (黔数): a regional data exchange platform.",
                  no_args_is_help=True, add_completion=False)

WORKER_HEALTHCHECK_SECONDS = 60
DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Data folder (default ./qianshu-data).")]


def _settings(data_dir: Path | None) -> Settings:
    if data_dir is not None:
        os.environ["QIANSHU_DATA_DIR"] = str(data_dir)
        get_settings.cache_clear()
    return get_settings()


def _listen_on(host: str, port: int) -> None:
    """Tell the app (and its worker processes) where it listens: the default public address."""
    os.environ["QIANSHU_HOST"], os.environ["QIANSHU_PORT"] = host, str(port)
    get_settings.cache_clear()


@app.command()
@handle_errors
def init(data_dir: DataDir = None) -> None:
    """Create or upgrade a data folder: settings file, signing keys, database schema."""
    from qianshu.bootstrap import initialise

    settings = _settings(data_dir)
    initialise(settings)
    console.print(f"[green]✓[/] data folder ready: {settings.data_dir}")


@app.command()
@handle_errors
def serve(data_dir: DataDir = None, host: Annotated[str | None, typer.Option()] = None,
          port: Annotated[int | None, typer.Option()] = None,
          workers: Annotated[int, typer.Option(help="Web worker processes.")] = 1) -> None:
    """Run the portal and the REST API."""
    import uvicorn

    from qianshu.bootstrap import initialise

    settings = _settings(data_dir)
    initialise(settings)
    host, port = host or settings.host, port or settings.port
    _listen_on(host, port)
    console.print(f"Qianshu on [bold]http://{host}:{port}/[/]  (API: /api/docs)")
    # A worker that is still starting (building its search index) on a busy machine can miss
    # uvicorn's 5 s health ping and be killed over and over; give it time.
    uvicorn.run("qianshu.web.asgi:app", host=host, port=port, workers=workers, log_level="info",
                timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS)


@app.command()
@handle_errors
def worker(data_dir: DataDir = None,
           threads: Annotated[int | None, typer.Option(min=1, max=64,
                                                       help="Jobs run at once (default: worker_threads).")] = None,
           ) -> None:
    """Run background jobs and periodic tasks until SIGTERM or Ctrl-C (several may run, on several machines)."""
    import logging

    from qianshu.core.cli_support import open_database
    from qianshu.worker import run_worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = _settings(data_dir)
    with open_database(settings) as database:
        console.print(f"Qianshu worker: {threads or settings.worker_threads} threads on {settings.data_dir}",
                      highlight=False)
        released = run_worker(settings, database, threads)
    console.print(f"worker stopped; {len(released)} unfinished job(s) given back to the queue", highlight=False)


@app.command()
@handle_errors
def demo(data_dir: DataDir = None, host: Annotated[str, typer.Option()] = "127.0.0.1",
         port: Annotated[int, typer.Option()] = 8000,
         seed_only: Annotated[bool, typer.Option("--seed-only", help="Seed and exit.")] = False) -> None:
    """Create a seeded demonstration exchange and open the portal on 127.0.0.1."""
    import uvicorn

    from qianshu.demo.seed import DEMO_LOGINS, DEMO_PASSWORD, seed_demo

    _listen_on(host, port)
    # A demo folder of its own, so a demo never mixes with a real data folder.
    settings = _settings(data_dir or Path(os.environ.get("QIANSHU_DATA_DIR", "qianshu-demo")))
    seed_demo(settings)
    from rich.table import Table

    table = Table(title=f"Demo sign-ins / 演示账号 — password / 密码: {DEMO_PASSWORD}")
    table.add_column("e-mail / 邮箱", no_wrap=True)
    table.add_column("role / 角色")
    for login in DEMO_LOGINS:
        table.add_row(login.email, login.role)
    console.rule("[bold]Qianshu demo / 黔数演示")
    console.print(table)
    console.print(f"Portal / 门户: [bold]http://{host}:{port}/[/]   API: http://{host}:{port}/api/docs")
    if not seed_only:
        uvicorn.run("qianshu.web.asgi:app", host=host, port=port, log_level="warning")


for _manifest in with_part("cli"):
    _manifest.module("cli").install(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
