"""Delta Sharing's bearer tokens: one contract's share per token, shown once in the profile file the
buyer downloads, kept as SHA-256, revoked on rotation, and dead with the contract (every request
asks ``contract_is_active``). ``authenticate`` turns an ``Authorization`` header into a ``Grant``."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from qianshu.core import audit
from qianshu.core.actor import Actor
from qianshu.core.errors import Conflict, NotAuthenticated, PermissionDenied
from qianshu.core.i18n import N_
from qianshu.core.settings import Settings
from qianshu.core.timeutil import as_utc, utcnow
from qianshu.delivery.links import contract_for
from qianshu.delivery.models import SharingToken
from qianshu.delivery.settings import DeliverySettings
from qianshu.exchange import contracts as exchange_contracts
from qianshu.exchange import service as exchange_service
from qianshu.translog.service import append_event

PREFIX = "/delta-sharing"
TOKEN_PREFIX = "qsds_"  # noqa: S105 - a prefix that tells our tokens apart, not a secret
BAD_TOKEN = N_("The bearer token is missing, unknown, revoked or expired.")
INACTIVE = N_("The contract of this share is not in force, so its data cannot be read.")


def share_name(contract_number: str) -> str:
    return contract_number.lower().replace("-", "_")


def profile_file_name(contract_number: str) -> str:
    """The name the portal gives the contract's profile file when it hands it over."""
    return f"qianshu-{share_name(contract_number)}.share"


def table_url(contract_number: str) -> str:
    """What the official client takes after the profile file's name: ``share.schema.table``."""
    return f"{share_name(contract_number)}.product.data"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(db: Session, actor: Actor, settings: Settings, contract_id: int) -> tuple[SharingToken, str]:
    """A new bearer token for the contract (the buyer's); earlier live tokens are revoked (a
    rotation). Returns the row and the token, which is not kept and cannot be shown again."""
    contract = contract_for(db, actor, contract_id, "delivery.share")
    if not exchange_contracts.contract_is_active(db, contract.id, "delta_sharing"):
        raise Conflict("This contract does not permit Delta Sharing now: it is not in force, not paid, or its "
                       "delivery is not by Delta Sharing.")
    revoked = _revoke(db, contract.id)
    now = utcnow().replace(microsecond=0)
    expires = now + timedelta(days=settings.section(DeliverySettings).sharing_token_days)
    if contract.ends_at is not None:
        expires = min(expires, as_utc(contract.ends_at))
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = SharingToken(contract_id=contract.id, token_sha256=token_hash(token), hint=token[:10],
                       created_by=actor.user_id, created_at=now, expires_at=expires)
    db.add(row)
    db.flush()
    audit.record(db, actor, "delivery.sharing_token", target_type="contract", target_id=contract.id,
                 target_org_id=contract.seller_org_id, token=row.id, hint=row.hint, rotated=revoked,
                 expires_at=expires.isoformat())
    append_event(db, "delivery.sharing_token_issued", {"contract": contract.number, "token": row.id,
                                                       "expires_at": expires.isoformat()})
    return row, token


def _revoke(db: Session, contract_id: int) -> int:
    result = db.execute(update(SharingToken).where(SharingToken.contract_id == contract_id,
                                                   SharingToken.revoked_at.is_(None))
                        .values(revoked_at=utcnow()))
    return int(getattr(result, "rowcount", 0) or 0)


def revoke_tokens(db: Session, actor: Actor, contract_id: int) -> int:
    """Revoke the contract's live tokens (the buyer's); returns how many."""
    contract = contract_for(db, actor, contract_id, "delivery.share")
    count = _revoke(db, contract.id)
    audit.record(db, actor, "delivery.sharing_revoke", target_type="contract", target_id=contract.id,
                 target_org_id=contract.seller_org_id, revoked=count)
    return count


def tokens_of(db: Session, contract_id: int) -> list[SharingToken]:
    return list(db.scalars(select(SharingToken).where(SharingToken.contract_id == contract_id)
                           .order_by(SharingToken.id.desc()).limit(20)))


def profile(settings: Settings, token: str, row: SharingToken) -> dict[str, Any]:
    """The profile file (shareCredentialsVersion 1) of a token."""
    return {"shareCredentialsVersion": 1, "endpoint": settings.public_base + PREFIX, "bearerToken": token,
            "expirationTime": as_utc(row.expires_at).strftime("%Y-%m-%dT%H:%M:%S.000Z")}


@dataclass(frozen=True)
class Grant:
    """What a valid token may read: one contract's share."""

    token_id: int
    contract_id: int
    contract_number: str
    listing_id: int
    seller_org_id: int

    @property
    def share(self) -> str:
        return share_name(self.contract_number)


def grant_of_token(db: Session, row: SharingToken | None) -> Grant:
    if row is None or row.revoked_at is not None or utcnow() >= as_utc(row.expires_at):
        raise NotAuthenticated(BAD_TOKEN, code="token_invalid")
    if not exchange_contracts.contract_is_active(db, row.contract_id, "delta_sharing"):
        raise PermissionDenied(INACTIVE, code="contract_inactive")
    contract = exchange_service.load_contract(db, row.contract_id)
    return Grant(row.id, contract.id, contract.number, contract.catalogue_listing_id, contract.seller_org_id)


def authenticate(db: Session, authorization: str | None) -> Grant:
    """The grant of an ``Authorization: Bearer`` header (401 without a live token, 403 when the
    contract is no longer in force)."""
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token.startswith(TOKEN_PREFIX) or len(token) > 100:
        raise NotAuthenticated(BAD_TOKEN, code="token_invalid")
    return grant_of_token(db, db.scalar(select(SharingToken).where(SharingToken.token_sha256 == token_hash(token))))
