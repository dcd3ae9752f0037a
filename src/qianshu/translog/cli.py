"""``qianshu log``: verify, audit, export, sign."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy import select

from qianshu.core import safejson
from qianshu.core.cli_support import console, fail, handle_errors, open_database, print_json
from qianshu.core.errors import InvalidInput
from qianshu.core.settings import Settings, get_settings
from qianshu.core.signing import PUBLIC_KEY_FILE, load_public_key, load_signer
from qianshu.translog import merkle, service
from qianshu.translog.models import LogEntry
from qianshu.translog.verify import verify_log

log_app = typer.Typer(name="log", help="The public log (RFC 9162): verify, audit, export, sign.",
                      no_args_is_help=True)
DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Data folder (default ./qianshu-data).")]
EXPORT_CHUNK = 10_000


def install(root: typer.Typer) -> None:
    root.add_typer(log_app)


def _settings(data_dir: Path | None) -> Settings:
    if data_dir is not None:
        os.environ["QIANSHU_DATA_DIR"] = str(data_dir)
        get_settings.cache_clear()
    return get_settings()


def _exchange_key(settings: Settings) -> Ed25519PublicKey | None:
    path = settings.key_dir / PUBLIC_KEY_FILE
    return load_public_key(path.read_bytes()) if path.exists() else None


@log_app.command()
@handle_errors
def verify(data_dir: DataDir = None) -> None:
    """Recompute the whole tree from the database and check every stored signed tree head."""
    settings = _settings(data_dir)
    key = _exchange_key(settings)
    if key is None:
        console.print("[yellow]![/] no public key in the data folder: signatures are not checked")
    with open_database(settings) as database, database.unit_of_work(write=False) as db, Progress(
        TextColumn("verify"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console,
    ) as progress:
        task = progress.add_task("verify", total=None)
        report = verify_log(db, key, lambda done, total: progress.update(task, completed=done, total=total))
    if report.ok:
        console.print(f"[green]✓[/] {report.tree_size} leaves, {report.tiles_checked} tiles and "
                      f"{report.heads_checked} signed tree heads verified / 日志校验通过")
        return
    problem = report.problems[0]
    raise fail(f"{problem.render('zh')} / {problem.render('en')}")


def _load_head(path: Path) -> dict[str, Any]:
    try:
        value = safejson.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidInput("Cannot read the tree head file {path}.", field="sth", path=str(path)) from exc
    service.parse_tree_head(value)
    if not isinstance(value, dict):  # pragma: no cover - parse_tree_head checked it
        raise InvalidInput("A tree head is a JSON object.", field="sth")
    return value


def _fetch(server: str, path: str, **params: Any) -> Any:
    import httpx

    response = httpx.get(server.rstrip("/") + path, params=params, timeout=30)
    if response.status_code != 200:
        raise InvalidInput("The server answered {status}: {detail}", field="server",
                           status=response.status_code, detail=response.text[:300])
    return response.json()


@log_app.command()
@handle_errors
def audit(old: Annotated[Path, typer.Argument(help="An earlier signed tree head (JSON).")],
          new: Annotated[Path, typer.Argument(help="A later signed tree head (JSON).")],
          server: Annotated[str | None, typer.Option(help="Ask this exchange (https://…) for the proof "
                                                          "instead of the local database.")] = None,
          public_key: Annotated[Path | None, typer.Option(help="The exchange's public key (PEM).")] = None,
          data_dir: DataDir = None) -> None:
    """Check that NEW extends OLD: both signed by the exchange, and consistent (RFC 9162 2.1.4)."""
    first, second = _load_head(old), _load_head(new)
    settings = _settings(data_dir)
    if public_key is not None:
        key: Ed25519PublicKey | None = load_public_key(public_key.read_bytes())
    elif server is not None:
        key = load_public_key(_fetch(server, "/api/v1/log/public-key")["public_key_pem"].encode())
    else:
        key = _exchange_key(settings)
    if key is None:
        raise fail("No public key: give --public-key / 缺少公钥：请使用 --public-key")
    for name, head in (("OLD", first), ("NEW", second)):
        if not service.verify_tree_head(key, head):
            raise fail(f"{name}: the signature is not the exchange's / {name}：签名无效")
    size1, root1, _t1, _s1 = service.parse_tree_head(first)
    size2, root2, _t2, _s2 = service.parse_tree_head(second)
    if size1 > size2:
        size1, root1, size2, root2 = size2, root2, size1, root1
    if server is not None:
        answer = _fetch(server, "/api/v1/log/proof/consistency", first=size1, second=size2)
        proof = [service.decode_hash(h, "consistency_path") for h in answer["consistency_path"]]
    else:
        with open_database(settings) as database, database.unit_of_work(write=False) as db:
            proof = service.consistency_proof(db, size1, size2)
    if not merkle.verify_consistency(size1, size2, root1, root2, proof):
        raise fail(f"NOT consistent: the log of size {size2} does not extend the one of size {size1} — "
                   f"history was rewritten / 不一致：历史记录被改写")
    console.print(f"[green]✓[/] consistent: size {size1} → {size2}, {len(proof)} proof hashes / 一致")


@log_app.command()
@handle_errors
def export(directory: Annotated[Path, typer.Argument(help="Folder to write the copy into.")],
           data_dir: DataDir = None) -> None:
    """Write the log for a third party: leaves.jsonl (line i = leaf i's exact bytes), heads, key."""
    settings = _settings(data_dir)
    directory.mkdir(parents=True, exist_ok=True)
    with open_database(settings) as database, database.unit_of_work(write=False) as db:
        size = service.tree_size(db)
        heads = [service.tree_head_document(h) for h in service.all_tree_heads(db)]
        with (directory / "leaves.jsonl").open("wb") as out, Progress(console=console) as progress:
            task = progress.add_task("export", total=size)
            position = 0
            query = select(LogEntry.index, LogEntry.leaf).order_by(LogEntry.index)
            while position < size:
                rows = db.execute(query.where(LogEntry.index >= position).limit(EXPORT_CHUNK)).all()
                if not rows:
                    break
                out.write(b"".join(bytes(leaf) + b"\n" for _index, leaf in rows))
                position = rows[-1][0] + 1
                progress.update(task, completed=position)
    (directory / "tree-heads.json").write_text(json.dumps(heads, indent=1), encoding="utf-8")
    key_path = settings.key_dir / PUBLIC_KEY_FILE
    if key_path.exists():
        (directory / PUBLIC_KEY_FILE).write_bytes(key_path.read_bytes())
    console.print(f"[green]✓[/] {size} leaves and {len(heads)} signed tree heads written to {directory}")


@log_app.command()
@handle_errors
def sign(data_dir: DataDir = None) -> None:
    """Sign and publish a tree head for the log as it is now."""
    settings = _settings(data_dir)
    signer = load_signer(settings.key_dir)
    with open_database(settings) as database, database.unit_of_work() as db:
        head = service.sign_tree_head(db, signer)
        document = service.tree_head_document(head)
    print_json(document)
