"""Signed download links: a contract's buyer gets expiring links to a watermarked copy of the
product's data (CSV in UTF-8 or GB18030, XLSX or Parquet).

A link is ``/delivery/contracts/{contract}/downloads/{link}?expires=E&signature=S`` where ``S`` is
``HMAC-SHA256(K, link ‖ contract ‖ format ‖ E)`` and ``K = HMAC-SHA256(secret_key,
"qianshu/download-link/v1")`` (the installation's secret in the data folder's ``qianshu.toml``).
Anything altered (another contract, another expiry) fails the signature; a link past ``E`` is
refused even with a good signature; and the contract is asked (``contract_is_active``) at every
fetch, so a link dies with its contract. Issuing and fetching are audited (shown to both parties
on the contract's delivery page) and are leaves of the public log.

A fetch has three steps so that no transaction is open while the copy is written:
:func:`prepare_fetch` (a read), :func:`write_fetch` (no database; the product's Parquet is read and
marked batch by batch, never whole), :func:`record_fetch` (a short write).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow.parquet as pq
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from qianshu.catalog import service as catalog_service
from qianshu.core import audit, policy
from qianshu.core.actor import SYSTEM, Actor
from qianshu.core.audit import AuditEvent
from qianshu.core.errors import Conflict, InvalidInput, PermissionDenied
from qianshu.core.i18n import N_
from qianshu.core.settings import Settings
from qianshu.core.timeutil import as_utc, utcnow
from qianshu.delivery import metering
from qianshu.delivery.decoys import DecoyModel
from qianshu.delivery.files import FORMATS, write_copy
from qianshu.delivery.models import DownloadLink, WatermarkedCopy
from qianshu.delivery.settings import DeliverySettings
from qianshu.delivery.watermark import WatermarkKey, WatermarkPlan
from qianshu.exchange import contracts as exchange_contracts
from qianshu.exchange import service as exchange_service
from qianshu.exchange.permissions import trade
from qianshu.translog.service import append_event

if TYPE_CHECKING:
    from qianshu.exchange.models import Contract

LINK_CONTEXT = b"qianshu/download-link/v1"
EXTENSIONS = {"csv": "csv", "csv-excel": "csv", "csv-gb18030": "csv", "xlsx": "xlsx", "parquet": "parquet"}
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "csv-excel": "text/csv; charset=utf-8",
               "csv-gb18030": "text/csv; charset=gb18030",
               "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
               "parquet": "application/vnd.apache.parquet"}
SIGNATURE = re.compile(r"^[0-9a-f]{64}$")
DELIVERY_ACTIONS = ("delivery.link_issue", "delivery.download", "delivery.sharing_token",
                    "delivery.sharing_revoke", "delivery.sharing_query")

INVALID = N_("This download link is not valid: it was altered, or it belongs to another contract.")
EXPIRED = N_("This download link has expired. The buyer can issue a new one on the contract's page.")
INACTIVE = N_("The contract of this link is not in force, so its data cannot be downloaded.")


def _key(settings: Settings) -> bytes:
    return hmac.new(settings.secret_key.encode(), LINK_CONTEXT, hashlib.sha256).digest()


def signature(settings: Settings, link_id: int, contract_id: int, fmt: str, expires: int) -> str:
    message = f"{link_id}\0{contract_id}\0{fmt}\0{expires}".encode()
    return hmac.new(_key(settings), message, hashlib.sha256).hexdigest()


def link_path(settings: Settings, link: DownloadLink) -> str:
    """The link's path and query (the portal puts its public address before it)."""
    expires = int(as_utc(link.expires_at).timestamp())
    sig = signature(settings, link.id, link.contract_id, link.file_format, expires)
    return f"/delivery/contracts/{link.contract_id}/downloads/{link.id}?expires={expires}&signature={sig}"


def contract_for(db: Session, actor: Actor, contract_id: int, action: str) -> Contract:
    """The contract, if the actor may see it (else "no such contract") and do ``action`` on it."""
    contract = exchange_service.get_contract(db, actor, contract_id)
    policy.require(actor, action, trade(contract))
    return contract


def contract_data(db: Session, settings: Settings, listing_id: int) -> Path:
    from qianshu.delivery.service import product_data

    return product_data(db, settings, catalog_service.get_listing(db, SYSTEM, listing_id))


def issue_link(db: Session, actor: Actor, settings: Settings, contract_id: int, fmt: str,
               at: datetime | None = None) -> DownloadLink:
    """A new signed link to a watermarked copy of the contract's data in ``fmt``, for its buyer
    (``at``: the clock, now by default)."""
    contract = contract_for(db, actor, contract_id, "delivery.download")
    if fmt not in FORMATS:
        raise InvalidInput("Choose a format: {formats}.", field="format", formats=", ".join(FORMATS))
    if not exchange_contracts.contract_is_active(db, contract.id, "download", at):
        raise Conflict("This contract does not permit downloads now: it is not in force, not paid, or its "
                       "delivery is not by download.")
    contract_data(db, settings, contract.catalogue_listing_id)  # a product without data gets no link
    minutes = settings.section(DeliverySettings).download_link_minutes
    now = (at or utcnow()).replace(microsecond=0)
    link = DownloadLink(contract_id=contract.id, file_format=fmt, expires_at=now + timedelta(minutes=minutes),
                        issued_by=actor.user_id, issued_at=now, fetches=0)
    db.add(link)
    db.flush()
    expires = as_utc(link.expires_at).isoformat()
    audit.record(db, actor, "delivery.link_issue", target_type="contract", target_id=contract.id,
                 target_org_id=contract.seller_org_id, link=link.id, format=fmt, expires_at=expires)
    append_event(db, "delivery.download_link_issued", {"contract": contract.number, "link": link.id,
                                                       "format": fmt, "expires_at": expires})
    return link


@dataclass(frozen=True)
class PreparedFetch:
    link_id: int
    contract_id: int
    contract_number: str
    listing_id: int
    seller_org_id: int
    fmt: str
    data: Path
    plan: WatermarkPlan
    key: WatermarkKey
    decoys: DecoyModel

    @property
    def file_name(self) -> str:
        return f"{self.contract_number}.{EXTENSIONS[self.fmt]}"


def prepare_fetch(db: Session, settings: Settings, contract_id: int, link_id: int, expires: str,
                  sig: str, now: datetime | None = None) -> PreparedFetch:
    """Check a link (signature, expiry, contract in force at ``now``) and gather what its copy is
    made from."""
    from qianshu.delivery.service import decoy_model_for, plan_for, watermark_policy

    link = db.get(DownloadLink, link_id)
    if link is None or not expires.isdigit() or len(expires) > 12 or not SIGNATURE.match(sig):
        raise PermissionDenied(INVALID, code="link_invalid")
    expected = signature(settings, link_id, contract_id, link.file_format, int(expires))
    if (not hmac.compare_digest(expected, sig) or link.contract_id != contract_id
            or int(as_utc(link.expires_at).timestamp()) != int(expires)):
        raise PermissionDenied(INVALID, code="link_invalid")
    if (now or utcnow()) >= as_utc(link.expires_at):
        raise PermissionDenied(EXPIRED, code="link_expired")
    if not exchange_contracts.contract_is_active(db, contract_id, "download", now):
        raise PermissionDenied(INACTIVE, code="contract_inactive")
    contract = exchange_service.load_contract(db, contract_id)
    listing = catalog_service.get_listing(db, SYSTEM, contract.catalogue_listing_id)
    data = contract_data(db, settings, listing.id)
    chosen = watermark_policy(db, settings, listing)
    plan = plan_for(data, chosen)
    key = WatermarkKey.for_contract(settings.secret_key, contract.number, contract.number)
    return PreparedFetch(link.id, contract.id, contract.number, listing.id, contract.seller_org_id,
                         link.file_format, data, plan, key, decoy_model_for(data, chosen, plan))


def write_fetch(prepared: PreparedFetch, destination: Path) -> tuple[int, str]:
    """Write the marked copy to ``destination``; (rows, SHA-256 of the file). No database."""
    from qianshu.delivery.service import delivered_batches

    try:
        rows = write_copy(delivered_batches(prepared.data, prepared.plan, prepared.key, prepared.decoys),
                          pq.read_schema(prepared.data), destination, prepared.fmt)
        digest = hashlib.sha256()
        with destination.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    except BaseException:
        destination.unlink(missing_ok=True)
        raise
    return rows, digest.hexdigest()


def record_fetch(db: Session, actor: Actor, prepared: PreparedFetch, rows: int, sha256: str,
                 at: datetime | None = None) -> None:
    """Count the fetch (one atomic increment: concurrent fetches are all counted), record the copy,
    report its rows to the billing of a metered contract (once per link: :mod:`.metering`), audit it
    and append it to the public log."""
    db.execute(update(DownloadLink).where(DownloadLink.id == prepared.link_id)
               .values(fetches=DownloadLink.fetches + 1, last_fetched_at=at or utcnow()))
    usage = metering.report_delivery(db, prepared.contract_id,
                                     metering.download_report_id(prepared.link_id, prepared.data), rows, at)
    db.add(WatermarkedCopy(listing_id=prepared.listing_id, org_id=prepared.seller_org_id,
                           recipient_key=prepared.contract_number, recipient_label="download",
                           file_format=prepared.fmt, rows=rows, created_by=actor.user_id))
    audit.record(db, actor, "delivery.download", target_type="contract", target_id=prepared.contract_id,
                 target_org_id=prepared.seller_org_id, link=prepared.link_id, format=prepared.fmt, rows=rows,
                 sha256=sha256, usage=usage)
    append_event(db, "delivery.downloaded", {"contract": prepared.contract_number, "link": prepared.link_id,
                                             "format": prepared.fmt, "rows": rows, "sha256": sha256})


def links_of(db: Session, contract_id: int) -> list[DownloadLink]:
    return list(db.scalars(select(DownloadLink).where(DownloadLink.contract_id == contract_id)
                           .order_by(DownloadLink.id.desc()).limit(50)))


def delivery_events(db: Session, contract_id: int, limit: int = 100) -> list[AuditEvent]:
    """What delivery did under a contract (links issued, files fetched, tokens, queries), newest first."""
    return list(db.scalars(select(AuditEvent).where(AuditEvent.target_type == "contract",
                                                    AuditEvent.target_id == str(contract_id),
                                                    AuditEvent.action.in_(DELIVERY_ACTIONS))
                           .order_by(AuditEvent.id.desc()).limit(limit)))
