"""CLI of the registry: ``qianshu register``, ``qianshu certificate verify|show``,
``qianshu registry issue-due|sweep-blobs``."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn, TransferSpeedColumn

from qianshu.core.blobs import open_blob_store
from qianshu.core.cli_support import console, fail, handle_errors, open_database
from qianshu.core.errors import InvalidInput
from qianshu.core.settings import get_settings


def _actor_for_email(db, email: str):  # type: ignore[no-untyped-def]
    from qianshu.accounts.service import active_user_by_email, actor_for

    user = active_user_by_email(db, email)
    if user is None:
        raise fail(f"未找到用户 / no such user: {email}")
    return actor_for(user, via="cli", ip=None)


def _advance(progress: Progress, task: TaskID, done: int) -> None:
    progress.update(task, completed=done)


def register(
    files: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, readable=True,
                                                help="CSV, XLSX, Parquet or JSON Lines.")],
    title: Annotated[str, typer.Option("--title", help="Title (Chinese).")],
    org_user: Annotated[str, typer.Option("--org-user", help="E-mail of the registering user.")],
    title_en: Annotated[str, typer.Option("--title-en", help="Title (English).")] = "",
) -> None:
    """Register data: upload the files, run the pipeline with a progress bar, show the findings."""
    from qianshu.core import jobs
    from qianshu.registry import schemas, service
    from qianshu.registry.jobs import run_registration_pipeline
    from qianshu.registry.models import Registration

    settings = get_settings()
    with open_database(settings) as database:
        store = open_blob_store(settings)
        # Everything that can be checked is checked before any byte is stored, and the draft, its
        # files and the queued job are written in one transaction after the last byte: a failure
        # before the pipeline starts leaves neither a draft nor a blob behind.
        with database.unit_of_work(write=False) as db:
            actor = _actor_for_email(db, org_user)
            service.require_may_register(actor)
        data = schemas.RegistrationCreate(title_zh=title, title_en=title_en)
        names = [service.clean_file_name(path.name) for path in files]
        if len(files) > service.MAX_FILES:
            raise InvalidInput("At most {max} files per registration.", field="files", max=service.MAX_FILES)
        stored: list[tuple[str, int]] = []
        try:
            columns = [TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn()]
            with Progress(*columns, console=console) as progress:
                for path in files:
                    task = progress.add_task(f"上传 upload {path.name}", total=path.stat().st_size)
                    stored.append(service.store_local_file(store, path, settings.upload_max_bytes,
                                                           partial(_advance, progress, task)))
            for index, path in enumerate(files):
                # Stored a while ago (a long upload): restart the orphan sweep's grace period, or
                # store it again if the sweep has just taken it.
                if not store.touch(stored[index][0]):
                    stored[index] = service.store_local_file(store, path, settings.upload_max_bytes)
            with database.unit_of_work() as db:
                reg = service.create_registration(db, actor, data)
                registration_id = reg.id
                for name, (digest, size) in zip(names, stored, strict=True):
                    service.add_file(db, actor, registration_id, name, digest, size)
                service.start_processing(db, actor, settings, registration_id)
        except BaseException:
            with database.unit_of_work(write=False) as db:
                for digest, _size in stored:
                    service.forget_new_blob(db, store, digest)
            raise
        with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                      console=console) as progress:
            task = progress.add_task("处理 pipeline", total=1.0)

            def handler(context: jobs.JobContext, job_id: int, report: jobs.Progress) -> None:
                def both(fraction: float, stage: str = "") -> None:
                    report(fraction, stage)
                    progress.update(task, completed=fraction, description=f"处理 pipeline: {stage}")

                run_registration_pipeline(context, job_id, both)

            jobs.run_pending(jobs.JobContext(database, settings, store), {service.PIPELINE_JOB: handler})
        with database.unit_of_work(write=False) as db:
            reg = db.get_one(Registration, registration_id)
            if reg.status != "ready":
                raise fail(f"{service.pipeline_error(reg, 'zh')} / {service.pipeline_error(reg, 'en')}")
            console.print(f"[green]✓[/] registration {reg.id}: {reg.row_count} rows × {reg.column_count} columns; "
                          f"suggested {reg.suggested_classification} / {reg.suggested_personal_info}")
            for f in reg.files:
                console.print(f"  {f.name}: {f.file_format} {f.detected_encoding} sha256 {f.sha256}")
            for finding in service.pii_findings(db, actor, reg.id):
                console.print(f"  [yellow]PII[/] {finding.column_name}: {finding.kind} "
                              f"{finding.share:.1%} e.g. {finding.masked_example}")
            console.print("Complete the declaration and submit in the portal: "
                          f"/registry/{reg.id}")


certificate_app = typer.Typer(help="Registration certificates: verify offline, show.", no_args_is_help=True)


@certificate_app.command("verify")
@handle_errors
def verify(cert: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Certificate JSON.")],
           public_key: Annotated[Path, typer.Option("--public-key", exists=True, dir_okay=False,
                                                    help="The exchange's Ed25519 public key (PEM).")]) -> None:
    """Check a certificate's signature offline, with nothing but the exchange's public key."""
    from qianshu.core.signing import load_public_key
    from qianshu.registry.certificate import parse_certificate_json, verify_certificate

    try:
        key = load_public_key(public_key.read_bytes())
    except ValueError:
        raise fail("公钥无效 / not an Ed25519 public key (PEM)") from None
    result = verify_certificate(parse_certificate_json(cert.read_bytes()), key)
    from qianshu.core.i18n import translate

    message = f"{translate(result.reason, 'zh')} / {result.reason}"
    if not result.valid:
        raise fail(f"{result.number}: {message}")
    doc = result.document
    console.print(f"[green]✓[/] {result.number}: {message}")
    console.print(f"  {doc['title']['zh']} — {doc['holder']['name']} ({doc['holder']['uscc']})")
    console.print(f"  rights: {', '.join(doc['rights'])}; rows {doc['data']['rows']}; valid until {doc['valid_until']}")
    console.print(f"  log leaf #{doc.get('log', {}).get('index')}; revocation is checked online "
                  "(/registry/verify or the public log).")


@certificate_app.command("show")
@handle_errors
def show(number: Annotated[str, typer.Argument(help="QS-DR-YYYY-NNNNNN")]) -> None:
    """Print a certificate as JSON (as downloaded), with its status."""
    from qianshu.registry import review

    with open_database() as database, database.unit_of_work(write=False) as db:
        cert = review.certificate_by_number(db, number)
        signed = {"certificate": cert.document,
                  "signature": {"algorithm": cert.algorithm, "key_id": cert.key_id, "value": cert.signature}}
        console.print_json(json.dumps(signed, ensure_ascii=False))
        if cert.revoked_at:
            console.print(f"[red]已撤销 REVOKED[/] {cert.revoked_at.isoformat()}: {cert.revocation_reason}")


registry_app = typer.Typer(help="Registration housekeeping.", no_args_is_help=True)


@registry_app.command("issue-due")
@handle_errors
def issue_due() -> None:
    """Issue certificates whose public notice has ended without open objections (`serve` does it
    every 5 minutes; run this from cron when jobs do not run in the web process)."""
    from qianshu.registry.jobs import issue_due_certificates

    settings = get_settings()
    with open_database(settings) as database:
        count = issue_due_certificates(database, settings)
    console.print(f"[green]✓[/] issued {count}")


@registry_app.command("sweep-blobs")
@handle_errors
def sweep_blobs(
    grace_seconds: Annotated[float, typer.Option("--grace-seconds", min=0,
                                                 help="Keep blobs stored more recently than this.")] = 3600.0,
) -> None:
    """Remove stored files that no registration, objection or report refers to and that were
    stored more than an hour ago (left by a process killed mid-upload). `serve` does it hourly."""
    from qianshu.registry.jobs import sweep_orphan_blobs

    settings = get_settings()
    with open_database(settings) as database:
        count = sweep_orphan_blobs(database, settings, grace_seconds=grace_seconds)
    console.print(f"[green]✓[/] removed {count} orphan blobs / 已删除 {count} 个孤立文件")


def install(root: typer.Typer) -> None:
    root.command("register")(handle_errors(register))
    root.add_typer(certificate_app, name="certificate")
    root.add_typer(registry_app, name="registry")
