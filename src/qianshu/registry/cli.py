"""CLI of the registry: ``qianshu register``, ``qianshu certificate verify|show``,
``qianshu registry list|issue-due|sweep-blobs``.

Imports of the services stay inside the commands: ``qianshu --help`` imports this module.
"""

from __future__ import annotations

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
    from rich.progress import Progress, TaskID
    from sqlalchemy.orm import Session

    from qianshu.core.actor import Actor
    from qianshu.core.settings import Settings
    from qianshu.registry.ahead import PipelineAhead


def _actor_for_email(db: Session, email: str) -> Actor:
    from qianshu.accounts.service import active_user_by_email, actor_for

    user = active_user_by_email(db, email)
    if user is None:
        raise fail(bilingual("No active user with the e-mail {email}.", email=email))
    return actor_for(user, via="cli", ip=None)


def _advance(progress: Progress, task: TaskID, done: int) -> None:
    progress.update(task, completed=done)


def register(
    files: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, readable=True,
                                                help="CSV, XLSX, Parquet or JSON Lines.")],
    title: Annotated[str, typer.Option("--title", help="Title (Chinese).")],
    org_user: Annotated[str, typer.Option("--org-user", help="E-mail of the registering user.")],
    title_en: Annotated[str, typer.Option("--title-en", help="Title (English).")] = "",
    data_dir: DataDir = None,
    as_json: JsonOutput = False,
) -> None:
    """Register data: upload the files, run the pipeline with a progress bar, show the findings."""
    from qianshu.registry.ahead import PipelineAhead

    settings = settings_for(data_dir)
    # The pipeline starts now, while the database layer is imported and the user checked.
    ahead = PipelineAhead(files, settings).start()
    try:
        _register(files, title, org_user, title_en, as_json, settings, ahead)
    finally:
        ahead.close()


def _register(files: list[Path], title: str, org_user: str, title_en: str, as_json: bool, settings: Settings,
              ahead: PipelineAhead) -> None:
    from functools import partial

    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    from qianshu.core import jobs
    from qianshu.core.blobs import open_blob_store
    from qianshu.core.errors import InvalidInput
    from qianshu.registry import schemas, service
    from qianshu.registry.jobs import run_registration_pipeline
    from qianshu.registry.models import Registration
    from qianshu.registry.settings import RegistrySettings

    upload_limit = settings.section(RegistrySettings).upload_max_bytes
    # With --json, standard output carries the JSON only: progress goes to standard error.
    progress_console = get_console(stderr=as_json)
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
            with Progress(*columns, console=progress_console) as progress:
                for path in files:
                    task = progress.add_task(f"上传 upload {path.name}", total=path.stat().st_size)
                    stored.append(service.store_local_file(store, path, upload_limit,
                                                           partial(_advance, progress, task)))
            for index, path in enumerate(files):
                # Stored a while ago (a long upload): restart the orphan sweep's grace period, or
                # store it again if the sweep has just taken it.
                if not store.touch(stored[index][0]):
                    stored[index] = service.store_local_file(store, path, upload_limit)
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
                      console=progress_console) as progress:
            task = progress.add_task("处理 pipeline", total=1.0)

            def handler(context: jobs.JobContext, job_id: int, report: jobs.Progress) -> None:
                def both(fraction: float, stage: str = "") -> None:
                    report(fraction, stage)
                    progress.update(task, completed=fraction, description=f"处理 pipeline: {stage}")

                run_registration_pipeline(context, job_id, both, lambda sources: ahead.result_for(sources, both))

            jobs.run_pending(jobs.JobContext(database, settings, store), {service.PIPELINE_JOB: handler})
        with database.unit_of_work(write=False) as db:
            reg = db.get_one(Registration, registration_id)
            if reg.status != "ready":
                raise fail(f"{service.pipeline_error(reg, 'zh')} / {service.pipeline_error(reg, 'en')}")
            findings = service.pii_findings(db, actor, reg.id)
            if as_json:
                print_json({
                    "id": reg.id, "status": reg.status, "rows": reg.row_count, "columns": reg.column_count,
                    "suggested_classification": reg.suggested_classification,
                    "suggested_personal_info": reg.suggested_personal_info,
                    "files": [{"name": f.name, "format": f.file_format, "encoding": f.detected_encoding,
                               "sha256": f.sha256} for f in reg.files],
                    "personal_data": [{"column": x.column_name, "kind": x.kind, "share": x.share,
                                       "masked_example": x.masked_example} for x in findings],
                    "portal_path": f"/registry/{reg.id}",
                })
                return
            console.print(f"[green]✓[/] registration {reg.id}: {reg.row_count} rows × {reg.column_count} columns; "
                          f"suggested {reg.suggested_classification} / {reg.suggested_personal_info}")
            for f in reg.files:
                console.print(f"  {f.name}: {f.file_format} {f.detected_encoding} sha256 {f.sha256}")
            for finding in findings:
                console.print(f"  [yellow]PII[/] {finding.column_name}: {finding.kind} "
                              f"{finding.share:.1%} e.g. {finding.masked_example}")
            console.print("Complete the declaration and submit in the portal: "
                          f"/registry/{reg.id}")


certificate_app = typer.Typer(help="Registration certificates: verify offline, show.", no_args_is_help=True)


@certificate_app.command("verify")
def verify(cert: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Certificate JSON.")],
           public_key: Annotated[Path, typer.Option("--public-key", exists=True, dir_okay=False,
                                                    help="The exchange's Ed25519 public key (PEM).")],
           as_json: JsonOutput = False) -> None:
    """Check a certificate's signature offline, with nothing but the exchange's public key
    (needs no data folder). Exit status 1 when the signature does not match."""
    from qianshu.core.i18n import translate
    from qianshu.core.signing import load_public_key
    from qianshu.registry.certificate import parse_certificate_json, verify_certificate

    try:
        key = load_public_key(public_key.read_bytes())
    except ValueError:
        raise fail(bilingual("{path} is not an Ed25519 public key (PEM).", path=str(public_key))) from None
    result = verify_certificate(parse_certificate_json(cert.read_bytes()), key)
    if as_json:
        print_json({"valid": result.valid, "number": result.number, "reason": result.reason,
                    "reason_zh": translate(result.reason, "zh"),
                    "certificate": result.document if result.valid else None})
        if not result.valid:
            raise typer.Exit(1)
        return
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
def show(number: Annotated[str, typer.Argument(help="QS-DR-YYYY-NNNNNN")],
         data_dir: DataDir = None, as_json: JsonOutput = False) -> None:
    """Print a certificate as JSON (as downloaded), with its status. With --json, one object: the
    downloaded certificate and signature (``certificate verify`` reads it) plus ``status``."""
    from qianshu.registry import review

    settings = settings_for(data_dir)
    with open_database(settings) as database, database.unit_of_work(write=False) as db:
        cert = review.certificate_by_number(db, number)
        signed: dict[str, Any] = {
            "certificate": cert.document,
            "signature": {"algorithm": cert.algorithm, "key_id": cert.key_id, "value": cert.signature}}
        revoked_at, reason = cert.revoked_at, cert.revocation_reason
    if as_json:
        print_json(signed | {"status": {"revoked": revoked_at is not None,
                                        "revoked_at": revoked_at.isoformat() if revoked_at else None,
                                        "revocation_reason": reason or None}})
        return
    console.print_json(data=signed, ensure_ascii=False)
    if revoked_at:
        console.print(f"[red]已撤销 REVOKED[/] {revoked_at.isoformat()}: {reason}")


registry_app = typer.Typer(help="Registrations: list them; housekeeping.", no_args_is_help=True)


@registry_app.command("list")
def list_registrations(
    status: Annotated[str, typer.Option(help="Only this status (draft, ready, submitted, under_review, "
                                              "public_notice, issued, rejected, revoked ...).")] = "",
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many, newest first.")] = 200,
    data_dir: DataDir = None, as_json: JsonOutput = False,
) -> None:
    """List registrations, newest first, as exchange staff see them."""
    from qianshu.core.actor import SYSTEM
    from qianshu.registry import service

    settings = settings_for(data_dir)
    with open_database(settings) as database, database.unit_of_work(write=False) as db:
        rows = [{"id": r.id, "number": r.number, "status": r.status, "type": r.reg_type,
                 "title_zh": r.title_zh, "title_en": r.title_en, "holder_org_id": r.holder_org_id,
                 "rows": r.row_count, "columns": r.column_count, "created_at": r.created_at.isoformat()}
                for r in service.list_registrations(db, SYSTEM, status or None, limit)]
    if as_json:
        print_json(rows)
        return
    for r in rows:
        console.print(f"{r['id']:>6}  {r['status']:<14} {r['number'] or '-':<18} {r['title_zh']}", highlight=False)


@registry_app.command("issue-due")
def issue_due(data_dir: DataDir = None, as_json: JsonOutput = False) -> None:
    """Issue certificates whose public notice has ended without open objections (`serve` does it
    every 5 minutes; run this from cron when jobs do not run in the web process)."""
    from qianshu.registry.jobs import issue_due_certificates

    settings = settings_for(data_dir)
    with open_database(settings) as database:
        count = issue_due_certificates(database, settings)
    if as_json:
        print_json({"issued": count})
    else:
        console.print(f"[green]✓[/] issued {count} / 已颁发 {count} 份凭证")


@registry_app.command("sweep-blobs")
def sweep_blobs(
    grace_seconds: Annotated[float, typer.Option("--grace-seconds", min=0,
                                                 help="Keep blobs stored more recently than this.")] = 3600.0,
    data_dir: DataDir = None, as_json: JsonOutput = False,
) -> None:
    """Remove stored files that no registration, objection or report refers to and that were
    stored more than an hour ago (left by a process killed mid-upload). `serve` does it hourly."""
    from qianshu.registry.jobs import sweep_orphan_blobs

    settings = settings_for(data_dir)
    with open_database(settings) as database:
        count = sweep_orphan_blobs(database, settings, grace_seconds=grace_seconds)
    if as_json:
        print_json({"removed": count})
    else:
        console.print(f"[green]✓[/] removed {count} orphan blobs / 已删除 {count} 个孤立文件")


def install(root: typer.Typer) -> None:
    root.command("register")(register)
    root.add_typer(certificate_app, name="certificate")
    root.add_typer(registry_app, name="registry")
