"""The data API's limits per contract, and its rate limit as a sliding window.

**Limits.** Each contract's key may make ``rate_per_minute`` calls in any 60 seconds, and the
contract ``calls_per_period`` calls and ``rows_per_period`` rows per ``quota_period`` (a UTC day or
month). The seller of the contract sets them (``data_api.limits``; operators too) within the
operator's maxima, the ``[delivery] api_max_*`` settings; a contract whose seller set nothing has
the installation's defaults (``api_rate_per_minute``, ``api_quota_period``, ``api_calls_per_period``,
``api_rows_per_period``).

**Sliding window.** A fixed window per minute lets a key make twice its limit within a second
across the minute's turn. Here every admitted call is a row of ``delivery_api_calls``; a call is
admitted when the key's calls of the last 60 seconds are fewer than the limit. The check and the
insert happen under a lock on the key's row (``UPDATE delivery_api_keys ... WHERE id = :key``, which
waits for another transaction holding it: PostgreSQL's row lock; SQLite's single writer), and the
moment is read after the lock is taken, so at most ``rate_per_minute`` calls are recorded in any
60 seconds, whatever the concurrency. The metering job deletes calls older than an hour.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from qianshu.core import audit, policy
from qianshu.core.actor import Actor
from qianshu.core.errors import Conflict, InvalidInput, NotFound, TooManyRequests
from qianshu.core.i18n import NP_
from qianshu.core.timeutil import as_utc, utcnow
from qianshu.delivery.models import ApiCall, ApiKey, ContractLimitsRow
from qianshu.delivery.settings import DeliverySettings

WINDOW = timedelta(seconds=60)
PERIODS = ("day", "month")
PERIOD_LABELS = (NP_("quota period", "day"), NP_("quota period", "month"))


@dataclass(frozen=True)
class ApiLimits:
    rate_per_minute: int
    quota_period: str
    calls_per_period: int
    rows_per_period: int
    set_by_seller: bool = False


def defaults(section: DeliverySettings) -> ApiLimits:
    return ApiLimits(section.api_rate_per_minute, section.api_quota_period, section.api_calls_per_period,
                     section.api_rows_per_period)


def limits_of(db: Session, section: DeliverySettings, contract_id: int) -> ApiLimits:
    """The contract's limits: the seller's where set (never above today's maxima), else the defaults."""
    row = db.get(ContractLimitsRow, contract_id)
    if row is None:
        return defaults(section)
    return ApiLimits(min(row.rate_per_minute, section.api_max_rate_per_minute), row.quota_period,
                     min(row.calls_per_period, section.api_max_calls_per_period),
                     min(row.rows_per_period, section.api_max_rows_per_period), True)


def contract_limits(db: Session, actor: Actor, section: DeliverySettings, contract_id: int) -> ApiLimits:
    """The limits of a contract, for its parties and exchange staff (the exchange's ``trade.read``)."""
    from qianshu.exchange import service as exchange
    from qianshu.exchange.permissions import trade

    contract = exchange.load_contract(db, contract_id)
    policy.require(actor, "trade.read", trade(contract), hidden=NotFound("No such contract."))
    return limits_of(db, section, contract.id)


def _whole(value: Any, field: str, maximum: int) -> int:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        number = 0
    if not 1 <= number <= maximum:
        raise InvalidInput("{field} must be a whole number from 1 to {n}.", field=field, n=maximum)
    return number


def set_limits(db: Session, actor: Actor, section: DeliverySettings, contract_id: int, *,
               rate_per_minute: Any, quota_period: Any, calls_per_period: Any, rows_per_period: Any) -> ApiLimits:
    """The seller sets the limits of a data API contract, within the operator's maxima."""
    from qianshu.exchange import service as exchange
    from qianshu.exchange.permissions import trade

    contract = exchange.load_contract(db, contract_id)
    # A stranger is told the contract does not exist; its buyer that only the seller sets limits.
    policy.require(actor, "trade.read", trade(contract), hidden=NotFound("No such contract."))
    policy.require(actor, "data_api.limits", trade(contract))
    if contract.delivery_mode != "api":
        raise Conflict("Only a contract delivered by the data API has API limits.", code="not_api_contract")
    if str(quota_period) not in PERIODS:
        raise InvalidInput("The quota period must be day or month.", field="quota_period")
    chosen = ApiLimits(_whole(rate_per_minute, "rate_per_minute", section.api_max_rate_per_minute),
                       str(quota_period),
                       _whole(calls_per_period, "calls_per_period", section.api_max_calls_per_period),
                       _whole(rows_per_period, "rows_per_period", section.api_max_rows_per_period), True)
    row = db.get(ContractLimitsRow, contract.id) or ContractLimitsRow(contract_id=contract.id)
    row.rate_per_minute, row.quota_period = chosen.rate_per_minute, chosen.quota_period
    row.calls_per_period, row.rows_per_period, row.updated_by = (chosen.calls_per_period, chosen.rows_per_period,
                                                                 actor.user_id)
    db.add(row)
    db.flush()
    audit.record(db, actor, "data_api.limits", target_type="contract", target_id=contract.id,
                 target_org_id=contract.seller_org_id, rate_per_minute=chosen.rate_per_minute,
                 quota_period=chosen.quota_period, calls_per_period=chosen.calls_per_period,
                 rows_per_period=chosen.rows_per_period)
    return chosen


def admit_call(db: Session, key_id: int, rate_per_minute: int, now: datetime | None = None) -> datetime:
    """Record one call of the key when its calls of the last 60 seconds are fewer than the limit;
    429 ``rate_limited`` otherwise. Returns the call's moment."""
    db.execute(update(ApiKey).where(ApiKey.id == key_id).values(prefix=ApiKey.prefix))  # the key's lock
    moment = now or utcnow()  # read once the lock is held: the log's times follow the lock's order
    since = moment - WINDOW
    recent = db.scalar(select(func.count()).select_from(ApiCall)
                       .where(ApiCall.key_id == key_id, ApiCall.at > since)) or 0
    if recent >= rate_per_minute:
        oldest = db.scalar(select(func.min(ApiCall.at)).where(ApiCall.key_id == key_id, ApiCall.at > since))
        wait = max(1, int(((as_utc(oldest) + WINDOW) - moment).total_seconds() + 0.999)) if oldest else 60
        raise TooManyRequests("This API key made {n} calls in the last minute, its limit; try again in {s} s.",
                              code="rate_limited", n=rate_per_minute, s=wait)
    db.execute(insert(ApiCall).values(key_id=key_id, at=moment))
    return moment


def forget_calls(db: Session, now: datetime | None = None) -> None:
    """The rate limit needs only the last minute's calls; keep an hour, delete the rest."""
    db.execute(delete(ApiCall).where(ApiCall.at < (now or utcnow()) - timedelta(hours=1)))
