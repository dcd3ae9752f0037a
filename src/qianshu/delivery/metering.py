"""The usage of metered contracts delivered as files: downloads and Delta Sharing queries report
what they hand over to the exchange's billing (``payments.record_usage``, the function the data
API's metering job reports to as well, :func:`.data_api.report_usage`), once per report id.

What a report counts (docs/delivery.md, "Metered contracts"):

* a **download**: the rows of the copy a signed link delivered, once per link and product data
  (report id ``download:<link>:<data>``, ``<data>`` naming the product file the copy was made from).
  Fetching the same link again (a retry, a second click) hands over the same copy (the marks are
  deterministic) and bills nothing more; a new link is a new copy.
* a **Delta Sharing query**: the rows of the files its answer lists (their ``numRecords``), counted
  when the answer is made, never when a pre-signed file URL is fetched (a client reads a file by
  byte ranges, any number of times, until the URL expires). The same query again — the same
  contract, version and files — within one window of ``[delivery] sharing_url_minutes`` is the same
  report (``sharing:<contract>:<digest of version, files and window>``): its URLs would have served
  it, so a client's retry or a reload in that window bills once.

A ``per_call`` contract counts one call per report instead of rows. A contract whose plan is not
metered reports nothing. A report refused by the exchange (the contract ended in between) is not
billed; the caller audits the outcome, as the data API does.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from qianshu.core.actor import SYSTEM
from qianshu.core.errors import Conflict
from qianshu.core.timeutil import as_utc, utcnow
from qianshu.exchange import payments
from qianshu.exchange import service as exchange

UNMETERED = "unmetered"


def report_delivery(db: Session, contract_id: int, report_id: str, rows: int, at: datetime | None = None) -> str:
    """Report one delivery of ``rows`` rows to the exchange's billing; the outcome for the audit row:
    ``billed`` (received, or received before under the same id), ``unmetered`` (the plan is not
    metered: nothing reported), ``nothing`` (no rows on a per-1,000-rows plan) or the exchange's
    refusal (``unbillable``)."""
    contract = exchange.load_contract(db, contract_id)
    if contract.plan_kind not in exchange.METERED_KINDS:
        return UNMETERED
    units = 1 if contract.plan_kind == "per_call" else rows
    if units <= 0:
        return "nothing"
    try:
        payments.record_usage(db, SYSTEM, contract.id, report_id, units, at=at)
    except Conflict as exc:  # the contract ended between the check of the fetch and its record
        return exc.code if exc.code != "conflict" else "unbillable"
    return "billed"


def download_report_id(link_id: int, data: Path) -> str:
    """One report per link and product data: a fetch of the same link again is the same copy."""
    return f"download:{link_id}:{hashlib.sha256(str(data).encode()).hexdigest()[:16]}"


def sharing_report_id(contract_id: int, version: int, version_sha256: str, files: Iterable[str],
                      window_minutes: int, at: datetime | None = None) -> str:
    """One report per contract, version, set of files and window of the pre-signed URLs' lifetime."""
    window = int(as_utc(at or utcnow()).timestamp()) // (window_minutes * 60)
    digest = hashlib.sha256("\0".join([str(version), version_sha256, str(window), *sorted(files)]).encode())
    return f"sharing:{contract_id}:{digest.hexdigest()[:40]}"
