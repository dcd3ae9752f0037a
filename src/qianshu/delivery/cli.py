"""CLI of delivery: ``qianshu watermark detect LEAKED_FILE --product P``, ``qianshu watermark trace
LEAKED_FILE --product P`` (keyed decoy rows) and ``qianshu watermark issue --product P --recipient
CONTRACT OUT``.

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
    open_database,
    print_json,
    settings_for,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from qianshu.core.actor import Actor
    from qianshu.delivery.detection import Detection

watermark_app = typer.Typer(help="Watermarked copies of a product and the source of a leaked one.",
                            no_args_is_help=True)

OrgUser = Annotated[str, typer.Option("--org-user", help="E-mail of the acting user of the seller.")]


def _recipient(key_id: str, how: str, lang: str) -> str:
    """A recipient with what it was delivered through: a delivery channel's label ("download",
    "delta-sharing") in the reader's language, as the leak page shows it; a seller's own label as given."""
    from qianshu.core.i18n import label

    if how in ("download", "delta-sharing"):
        how = label(how.replace("-", "_"), "delivery mode", lang)
    return key_id + (f" ({how})" if how else "")


def _actor(db: Session, email: str) -> Actor:
    from qianshu.accounts.service import active_user_by_email, actor_for
    from qianshu.core.actor import SYSTEM

    if not email:
        return SYSTEM
    user = active_user_by_email(db, email)
    if user is None:
        raise fail(bilingual("No active user with the e-mail {email}.", email=email))
    return actor_for(user, via="cli", ip=None)


def _as_json(detection: Detection) -> dict[str, Any]:
    named = detection.named
    return {
        "rows_in_file": detection.rows_in_file,
        "rows_aligned": detection.rows_aligned,
        "columns_matched": detection.columns,
        "alpha": detection.alpha,
        "false_positive_bound": detection.false_positive_bound,
        "named": None if named is None else {
            "recipient": named.key_id, "label": named.label, "marks": named.marks, "matches": named.matches,
            "log10_p": named.log10_p, "log10_adjusted_p": named.log10_adjusted, "confidence": named.confidence},
        "candidates": [{"recipient": c.key_id, "marks": c.marks, "matches": c.matches, "log10_p": c.log10_p,
                        "critical": c.critical} for c in detection.candidates[:20]],
    }


# The arguments of `watermark detect` and `watermark trace`: a leaked copy of a product.
LeakedFile = Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True,
                                            help="The suspect copy: CSV (UTF-8 or GB18030), XLSX or Parquet.")]
LeakedProduct = Annotated[int, typer.Option("--product", help="The product (catalogue id) it is a copy of.")]
AlsoRecipients = Annotated[list[str] | None, typer.Option("--recipient",
                                                          help="Also test this contract id (repeatable).")]


@watermark_app.command("detect")
def detect(
    leaked_file: LeakedFile,
    product: LeakedProduct,
    recipient: AlsoRecipients = None,
    org_user: OrgUser = "",
    data_dir: DataDir = None,
    as_json: JsonOutput = False,
) -> None:
    """Name the contract a leaked copy came from, with its confidence, or say no watermark of ours is in it."""
    from qianshu.delivery import service

    settings = settings_for(data_dir)
    with open_database(settings) as database:
        with database.unit_of_work(write=False) as db:
            actor = _actor(db, org_user)
        detection = service.find_leak(database, actor, settings, product, leaked_file, recipient or ())
    if as_json:
        print_json(_as_json(detection))
        return
    named = detection.named
    console.print(bilingual("{aligned} of {rows} rows of the file are rows of the product; {n} recipients tested.",
                            aligned=detection.rows_aligned, rows=detection.rows_in_file,
                            n=len(detection.candidates)))
    if named is None:
        console.print(bilingual("No watermark of ours found."))
        return
    console.print(bilingual(
        "The copy carries the watermark of {recipient}: {matches} of {marks} marks agree "
        "(p ≤ 1e{log10:.1f} after testing every recipient).",
        recipient=lambda lang: _recipient(named.key_id, named.label, lang), matches=named.matches,
        marks=named.marks, log10=named.log10_adjusted))


@watermark_app.command("trace")
def trace(
    leaked_file: LeakedFile,
    product: LeakedProduct,
    recipient: AlsoRecipients = None,
    org_user: OrgUser = "",
    data_dir: DataDir = None,
    as_json: JsonOutput = False,
) -> None:
    """Name the contract whose keyed decoy rows are in a leaked file (columns may be dropped or reordered)."""
    from qianshu.delivery import service

    settings = settings_for(data_dir)
    with open_database(settings) as database:
        with database.unit_of_work(write=False) as db:
            actor = _actor(db, org_user)
        found = service.trace_leak(database, actor, settings, product, leaked_file, recipient or ())
    if as_json:
        print_json({"named": list(found.named), "decoys_tested": found.decoys_tested,
                    "rows_in_file": found.rows_in_file, "threshold_bits": found.threshold_bits,
                    "false_positive_bound": found.false_positive_bound,
                    "found": [{"recipient": f.key_id, "decoy": f.index, "row": f.row, "bits": round(f.bits, 1),
                               "cells": f.cells} for f in found.found]})
        return
    if not found.named:
        console.print(bilingual("No decoy row of ours found ({n} decoys of the candidates tested).",
                                n=found.decoys_tested))
        return
    for contract in found.named:
        rows = [f for f in found.found if f.key_id == contract]
        console.print(bilingual(
            "The file holds {n} decoy rows of contract {contract} (chance of this by accident ≤ {bound:.1e}).",
            n=len(rows), contract=contract, bound=found.false_positive_bound))


@watermark_app.command("issue")
def issue(
    output: Annotated[Path, typer.Argument(dir_okay=False, help="Where to write the copy.")],
    product: Annotated[int, typer.Option("--product", help="The product (catalogue id).")],
    recipient: Annotated[str, typer.Option("--recipient", help="The contract id the watermark is keyed to.")],
    org_user: Annotated[str, typer.Option("--org-user", help="E-mail of the acting user of the seller.")],
    file_format: Annotated[str, typer.Option(
        "--format", help="csv, csv-excel (UTF-8 with a byte-order mark), csv-gb18030, xlsx or parquet.")] = "csv",
    label: Annotated[str, typer.Option("--label", help="Who the recipient is, in words.")] = "",
    data_dir: DataDir = None,
    as_json: JsonOutput = False,
) -> None:
    """Write a copy of the product watermarked for one recipient, and record it."""
    from qianshu.delivery import service

    settings = settings_for(data_dir)
    with open_database(settings) as database, database.unit_of_work() as db:
        actor = _actor(db, org_user)
        copy = service.issue_copy(db, actor, settings, product, recipient, file_format, output, label=label)
        rows = copy.rows
    if as_json:
        print_json({"recipient": recipient, "format": file_format, "rows": rows, "path": str(output)})
        return
    console.print(bilingual("Wrote {rows} rows watermarked for {recipient} to {path}.", rows=rows,
                            recipient=recipient, path=str(output)))


def install(root: typer.Typer) -> None:
    root.add_typer(watermark_app, name="watermark")
