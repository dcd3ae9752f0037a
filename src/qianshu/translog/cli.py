"""``qianshu log``: verify, audit, export, sign, head, proof.

Imports of the log's services stay inside the commands: ``qianshu --help`` imports this module.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from qianshu.core.cli_support import (
    DataDir,
    JsonOutput,
    bilingual,
    console,
    fail,
    get_console,
    open_database,
    print_json,
    settings_for,
)

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from qianshu.core.settings import Settings

log_app = typer.Typer(name="log", help="The public log (RFC 9162): verify, audit, export, sign, head, proof.",
                      no_args_is_help=True)
EXPORT_CHUNK = 10_000


def install(root: typer.Typer) -> None:
    root.add_typer(log_app)


def _settings(data_dir: Path | None) -> Settings:
    return settings_for(data_dir)


def _exchange_key(settings: Settings) -> Ed25519PublicKey | None:
    from qianshu.core.signing import PUBLIC_KEY_FILE, load_public_key

    path = settings.key_dir / PUBLIC_KEY_FILE
    return load_public_key(path.read_bytes()) if path.exists() else None


@log_app.command()
def verify(data_dir: DataDir = None, as_json: JsonOutput = False) -> None:
    """Recompute the whole tree from the database and check every stored signed tree head."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from qianshu.translog.verify import verify_log

    settings = _settings(data_dir)
    key = _exchange_key(settings)
    if key is None and not as_json:
        console.print("[yellow]![/] no public key in the data folder: signatures are not checked")
    with open_database(settings) as database, database.unit_of_work(write=False) as db, Progress(
        TextColumn("verify"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=get_console(stderr=as_json),
    ) as progress:
        task = progress.add_task("verify", total=None)
        report = verify_log(db, key, lambda done, total: progress.update(task, completed=done, total=total))
    if as_json:
        print_json({"ok": report.ok, "tree_size": report.tree_size, "leaves_checked": report.leaves_checked,
                    "tiles_checked": report.tiles_checked, "heads_checked": report.heads_checked,
                    "signatures_checked": key is not None,
                    "problems": [{"kind": p.kind, "leaf_index": p.leaf_index, "message": p.render("en"),
                                  "message_zh": p.render("zh")} for p in report.problems]})
        if not report.ok:
            raise typer.Exit(1)
        return
    if report.ok:
        console.print(f"[green]✓[/] {report.tree_size} leaves, {report.tiles_checked} tiles and "
                      f"{report.heads_checked} signed tree heads verified / 日志校验通过")
        return
    problem = report.problems[0]
    raise fail(f"{problem.render('zh')} / {problem.render('en')}")


def _load_head(path: Path) -> dict[str, Any]:
    from qianshu.core import safejson
    from qianshu.core.errors import InvalidInput
    from qianshu.translog import service

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

    from qianshu.core.errors import InvalidInput

    response = httpx.get(server.rstrip("/") + path, params=params, timeout=30)
    if response.status_code != 200:
        raise InvalidInput("The server answered {status}: {detail}", field="server",
                           status=response.status_code, detail=response.text[:300])
    return response.json()


@log_app.command()
def audit(old: Annotated[Path, typer.Argument(help="An earlier signed tree head (JSON).")],
          new: Annotated[Path, typer.Argument(help="A later signed tree head (JSON).")],
          server: Annotated[str | None, typer.Option(help="Ask this exchange (https://…) for the proof "
                                                          "instead of the local database.")] = None,
          public_key: Annotated[Path | None, typer.Option(help="The exchange's public key (PEM).")] = None,
          data_dir: DataDir = None, as_json: JsonOutput = False) -> None:
    """Check that NEW extends OLD: both signed by the exchange, and consistent (RFC 9162 2.1.4).
    With --server no data folder is needed."""
    from qianshu.core.signing import load_public_key
    from qianshu.translog import merkle, service

    settings = _settings(data_dir) if server is None else None
    first, second = _load_head(old), _load_head(new)
    if public_key is not None:
        key: Ed25519PublicKey | None = load_public_key(public_key.read_bytes())
    elif server is not None:
        key = load_public_key(_fetch(server, "/api/v1/log/public-key")["public_key_pem"].encode())
    else:
        assert settings is not None
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
    consistent = merkle.verify_consistency(size1, size2, root1, root2, proof)
    if as_json:
        print_json({"consistent": consistent, "first_size": size1, "second_size": size2,
                    "consistency_path": [service.b64(h) for h in proof]})
        if not consistent:
            raise typer.Exit(1)
        return
    if not consistent:
        raise fail(f"NOT consistent: the log of size {size2} does not extend the one of size {size1} — "
                   f"history was rewritten / 不一致：历史记录被改写")
    console.print(f"[green]✓[/] consistent: size {size1} → {size2}, {len(proof)} proof hashes / 一致")


@log_app.command()
def export(directory: Annotated[Path, typer.Argument(help="Folder to write the copy into.")],
           data_dir: DataDir = None, as_json: JsonOutput = False) -> None:
    """Write the log for a third party: leaves.jsonl (line i = leaf i's exact bytes), heads, key."""
    from rich.progress import Progress
    from sqlalchemy import select

    from qianshu.core.signing import PUBLIC_KEY_FILE
    from qianshu.translog import service
    from qianshu.translog.models import LogEntry

    settings = _settings(data_dir)
    directory.mkdir(parents=True, exist_ok=True)
    with open_database(settings) as database, database.unit_of_work(write=False) as db:
        size = service.tree_size(db)
        heads = [service.tree_head_document(h) for h in service.all_tree_heads(db)]
        with (directory / "leaves.jsonl").open("wb") as out, Progress(console=get_console(stderr=as_json)) as progress:
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
    if as_json:
        print_json({"leaves": size, "tree_heads": len(heads), "directory": str(directory.resolve())})
    else:
        console.print(f"[green]✓[/] {size} leaves and {len(heads)} signed tree heads written to {directory}")


@log_app.command()
def sign(data_dir: DataDir = None) -> None:
    """Sign and publish a tree head for the log as it is now; prints it (JSON)."""
    from qianshu.core.signing import PRIVATE_KEY_FILE, load_signer
    from qianshu.translog import service

    settings = _settings(data_dir)
    # load_signer would make a key pair where there is none: a head signed by a new key is worthless.
    if not (settings.key_dir / PRIVATE_KEY_FILE).is_file():
        raise fail(bilingual("No signing key in {path}: run `qianshu init` for this data folder.",
                             path=str(settings.key_dir)))
    signer = load_signer(settings.key_dir)
    with open_database(settings) as database, database.unit_of_work() as db:
        head = service.sign_tree_head(db, signer)
        document = service.tree_head_document(head)
    print_json(document)


@log_app.command()
def head(data_dir: DataDir = None) -> None:
    """Print the latest signed tree head (JSON), as /api/v1/log/sth serves it; signs nothing."""
    from qianshu.translog import service

    settings = _settings(data_dir)
    with open_database(settings) as database, database.unit_of_work(write=False) as db:
        latest = service.latest_tree_head(db)
        document = service.tree_head_document(latest) if latest is not None else None
    if document is None:
        from qianshu.core.errors import NotFound

        raise NotFound("No tree head has been signed yet.")
    print_json(document)


@log_app.command()
def proof(leaf_index: Annotated[int, typer.Argument(min=0, help="The leaf's index in the log.")],
          data_dir: DataDir = None) -> None:
    """Print a leaf, its hash and its inclusion proof against the latest signed tree head (JSON)."""
    from qianshu.translog import service

    settings = _settings(data_dir)
    with open_database(settings) as database, database.unit_of_work(write=False) as db:
        bundle = service.proof_bundle(db, service.get_leaf(db, leaf_index))
    if bundle is None:
        raise fail(bilingual("Leaf {index} is not covered by a signed tree head yet: run `qianshu log sign`.",
                             index=leaf_index))
    print_json(bundle)
