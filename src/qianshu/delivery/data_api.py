"""The data API: row-level access to a product's table for a contract on a metered plan.

A contract on a ``per_call`` or ``per_1000_rows`` plan with the ``api`` delivery mode gets one API
key (shown once; only its SHA-256 is kept; issuing again rotates it; it dies with the contract,
since :func:`~qianshu.exchange.contracts.contract_is_active` is asked on every call). A call names
columns and filters in a small language (``?columns=a,b&filter=col:op:value``) checked against
the table's schema: column names are taken from the schema, values bound as parameters, so no
text of the caller's reaches DuckDB as SQL. Pages follow a signed cursor (the last row number,
bound to the contract and the question).

A call takes two short write transactions around the read, none held while DuckDB reads (and no
other: the key, the contract and the product are read in the first):

1. admission: the key and its contract in force, the question checked against the table's schema
   (a refused question rolls the transaction back and counts nothing), the key's calls of the last
   60 seconds (the rate limit, a sliding window over the key's call log, :mod:`.limits`) and the
   contract's calls and rows this period (the quota, the page's rows reserved, raised by
   conditional UPDATEs), each under a row lock the database
   serialises, so concurrent calls cannot pass a limit; the contract's limits are the seller's
   (:func:`.limits.limits_of`); the call is counted in the key's meter interval;
2. the rows not delivered are given back to the quota and the rows delivered are metered.

The page is read on a cursor of the product file's kept bounded database (:mod:`.product_files`),
not a connection opened per page.

The metering job (:func:`report_usage`) reports each closed interval of each key once to the
exchange's billing (``record_usage``) with the stable report id ``api:<key>:<interval>``: run
twice, or after a crash between billing and marking, it bills nothing twice.

Delivered rows carry the contract's watermark (:mod:`.watermark`, keyed to the contract number as
the file copies are): a page is read with all its columns, marked, then cut to the columns asked
for, so the marks depend only on the row. A product whose rows nothing identifies is delivered
unmarked (the response says so in ``watermarked``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import pyarrow as pa
from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from qianshu.core import audit
from qianshu.core.actor import SYSTEM, Actor
from qianshu.core.analytics import Limits
from qianshu.core.db import Database
from qianshu.core.errors import Conflict, InvalidInput, NotAuthenticated, PermissionDenied, TooManyRequests
from qianshu.core.policy import require
from qianshu.core.settings import Settings
from qianshu.core.timeutil import as_utc, utcnow
from qianshu.delivery import api_decoys
from qianshu.delivery import limits as api_limits
from qianshu.delivery.models import ApiCounter, ApiKey, ApiMeter
from qianshu.delivery.product_files import product_file
from qianshu.delivery.settings import DeliverySettings
from qianshu.delivery.watermark import WatermarkKey, WatermarkPlan, WatermarkPolicy, watermark_batch

KEY_PREFIX = "qsk_"
METERED = ("per_call", "per_1000_rows")
OPS = ("eq", "ne", "lt", "le", "gt", "ge", "in", "prefix", "null", "notnull")
_SQL_OPS = {"eq": "=", "ne": "<>", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
MAX_FILTERS = 20
MAX_IN_VALUES = 100
ROW = "file_row_number"  # DuckDB's row number of a Parquet file: the order pages follow


# --- keys ---------------------------------------------------------------------------------------


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def _api_contract(db: Session, actor: Actor, contract_id: int) -> Any:
    from qianshu.delivery.sandbox_service import exchange_resource
    from qianshu.exchange import service as exchange

    contract = exchange.get_contract(db, actor, contract_id)
    require(actor, "data_api.key", exchange_resource(contract))
    if contract.plan_kind not in METERED or contract.delivery_mode != "api":
        raise Conflict("Contract {number} is not delivered through the data API (a per-call or per-1,000-rows "
                       "plan with API delivery).", number=contract.number)
    return contract


def issue_key(db: Session, actor: Actor, contract_id: int) -> tuple[ApiKey, str]:
    """A new API key for the buyer's contract, returned once in clear; any earlier key stops working."""
    from qianshu.exchange import contracts as exchange_contracts

    contract = _api_contract(db, actor, contract_id)
    if not exchange_contracts.contract_is_active(db, contract.id, "api"):
        raise Conflict("Contract {number} is not in force; it has no API key.", number=contract.number)
    now = utcnow()
    db.execute(update(ApiKey).where(ApiKey.contract_id == contract.id, ApiKey.revoked_at.is_(None))
               .values(revoked_at=now))
    prefix = secrets.token_hex(6)
    raw = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey(contract_id=contract.id, prefix=prefix, key_hash=_hash(raw), created_by=actor.user_id, created_at=now)
    db.add(key)
    db.flush()
    audit.record(db, actor, "data_api.key_issued", target_type="contract", target_id=contract.id,
                 target_org_id=contract.seller_org_id, prefix=prefix)
    return key, raw


def revoke_key(db: Session, actor: Actor, contract_id: int) -> int:
    contract = _api_contract(db, actor, contract_id)
    revoked = db.execute(update(ApiKey).where(ApiKey.contract_id == contract.id, ApiKey.revoked_at.is_(None))
                         .values(revoked_at=utcnow())).rowcount  # type: ignore[attr-defined]  # a CursorResult
    audit.record(db, actor, "data_api.key_revoked", target_type="contract", target_id=contract.id,
                 target_org_id=contract.seller_org_id)
    return int(revoked or 0)


def live_key(db: Session, contract_id: int) -> ApiKey | None:
    return db.scalar(select(ApiKey).where(ApiKey.contract_id == contract_id, ApiKey.revoked_at.is_(None)))


def _authenticate(db: Session, raw: str) -> ApiKey:
    parts = raw.strip().split("_")
    key = None
    if raw.startswith(KEY_PREFIX) and len(parts) >= 3:
        key = db.scalar(select(ApiKey).where(ApiKey.prefix == parts[1]))
    if key is None or key.revoked_at is not None or not hmac.compare_digest(key.key_hash, _hash(raw.strip())):
        raise NotAuthenticated("The API key is missing, unknown or revoked.", code="api_key_invalid")
    return key


# --- the question: columns, filters, cursor ---------------------------------------------------------


@dataclass(frozen=True)
class Filter:
    column: str
    op: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class Question:
    columns: tuple[str, ...]
    filters: tuple[Filter, ...]
    limit: int
    after: int  # the last row number of the previous page (-1: from the start)

    def digest(self) -> str:
        text = json.dumps([self.columns, [(f.column, f.op, [str(v) for v in f.values]) for f in self.filters]])
        return hashlib.sha256(text.encode()).hexdigest()[:32]


def _value(kind: pa.DataType, text: str, column: str) -> Any:
    def bad() -> InvalidInput:
        return InvalidInput("The filter on {column} needs a value of its type ({type}).", field="filter",
                            column=column, type=str(kind))

    try:
        if pa.types.is_integer(kind):
            return int(text)
        if pa.types.is_floating(kind):
            return float(text)
        if pa.types.is_decimal(kind):
            return Decimal(text)
        if pa.types.is_boolean(kind):
            if text.lower() not in ("true", "false"):
                raise bad()
            return text.lower() == "true"
        if pa.types.is_date(kind):
            return date.fromisoformat(text)
        if pa.types.is_timestamp(kind):
            return datetime.fromisoformat(text)
        if pa.types.is_string(kind) or pa.types.is_large_string(kind):
            return text
    except (ValueError, InvalidOperation):
        raise bad() from None
    raise InvalidInput("The column {column} can only be filtered with null or notnull.", field="filter", column=column)


def parse_question(schema: pa.Schema, columns: str | None, filters: list[str], limit: int | None,
                   cursor: str | None, section: DeliverySettings, secret: str, contract_id: int) -> Question:
    """The caller's columns, filters, page size and cursor, checked against the table's ``schema``."""
    names = {name.lower(): name for name in schema.names}
    chosen: list[str] = []
    for part in (columns or "").split(","):
        if part.strip():
            name = names.get(part.strip().lower())
            if name is None:
                raise InvalidInput("The column {column} is not in this product's table.", field="columns",
                                   column=part.strip()[:80])
            chosen.append(name)
    if len(filters) > MAX_FILTERS:
        raise InvalidInput("At most {n} filters are allowed.", field="filter", n=MAX_FILTERS)
    parsed = []
    for text in filters:
        pieces = text.split(":", 2)
        if len(pieces) < 2:
            raise InvalidInput("A filter is column:operator:value (operators: {ops}).", field="filter",
                               ops=", ".join(OPS))
        name = names.get(pieces[0].strip().lower())
        op = pieces[1].strip().lower()
        if name is None:
            raise InvalidInput("The column {column} is not in this product's table.", field="filter",
                               column=pieces[0].strip()[:80])
        if op not in OPS:
            raise InvalidInput("A filter is column:operator:value (operators: {ops}).", field="filter",
                               ops=", ".join(OPS))
        kind = schema.field(name).type
        raw = pieces[2] if len(pieces) == 3 else ""
        if op in ("null", "notnull"):
            values: tuple[Any, ...] = ()
        elif op == "in":
            items = raw.split("|")
            if len(items) > MAX_IN_VALUES:
                raise InvalidInput("At most {n} values are allowed in an in filter.", field="filter", n=MAX_IN_VALUES)
            values = tuple(_value(kind, item, name) for item in items)
        elif op == "prefix":
            if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
                raise InvalidInput("The column {column} is not text; prefix does not apply.", field="filter",
                                   column=name)
            values = (raw,)
        else:
            values = (_value(kind, raw, name),)
        parsed.append(Filter(name, op, values))
    size = section.api_page_rows if limit is None else limit
    if not 1 <= size <= section.api_max_page_rows:
        raise InvalidInput("{field} must be between {min} and {max}.", field="limit", min=1,
                           max=section.api_max_page_rows)
    question = Question(tuple(chosen or schema.names), tuple(parsed), size, -1)
    if cursor:
        after = read_cursor(cursor, secret, contract_id, question.digest())
        question = Question(question.columns, question.filters, size, after)
    return question


def _sign(secret: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), b"qianshu-data-api-cursor\x00" + body, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def make_cursor(secret: str, contract_id: int, digest: str, last_row: int) -> str:
    body = json.dumps({"c": contract_id, "q": digest, "r": last_row}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(body).decode().rstrip("=") + "." + _sign(secret, body)


def read_cursor(cursor: str, secret: str, contract_id: int, digest: str) -> int:
    refused = InvalidInput("The cursor is not one this API gave for this question.", field="cursor")
    try:
        encoded, signature = cursor.split(".", 1)
        body = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except ValueError:
        raise refused from None
    if not hmac.compare_digest(signature, _sign(secret, body)):
        raise refused
    data = json.loads(body)
    if data.get("c") != contract_id or data.get("q") != digest or not isinstance(data.get("r"), int):
        raise refused
    return int(data["r"])


# --- admission and metering ----------------------------------------------------------------------


def _window_start(now: datetime, window: str, seconds: int = 60) -> datetime:
    if window == "month":
        return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if window == "day":
        return now.replace(hour=0, minute=0, second=0, microsecond=0)
    epoch = int(now.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=UTC)


def insert_ignore(db: Session, model: Any, values: dict[str, Any]) -> None:
    """INSERT, doing nothing when the row exists (another request made it first)."""
    dialect = db.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    db.execute(insert(model).values(**values).on_conflict_do_nothing())


@dataclass(frozen=True)
class Admission:
    key_id: int
    contract_id: int
    contract_number: str
    listing_id: int
    reserved_rows: int
    period_start: datetime
    period: str = "day"


def admit(db: Session, raw_key: str | ApiKey, section: DeliverySettings, wanted_rows: int,
          now: datetime | None = None) -> Admission:
    """Authenticate the key (or take the one authenticated in this transaction), ask the exchange
    whether its contract is in force, and count the call against the rate limit and the quota
    (reserving ``wanted_rows``, fewer if fewer remain)."""
    from qianshu.exchange import contracts as exchange_contracts
    from qianshu.exchange import service as exchange

    key = raw_key if isinstance(raw_key, ApiKey) else _authenticate(db, raw_key)
    if not exchange_contracts.contract_is_active(db, key.contract_id, "api"):
        raise PermissionDenied("The contract of this API key is not in force.", code="contract_not_active")
    contract = exchange.load_contract(db, key.contract_id)
    chosen = api_limits.limits_of(db, section, contract.id)
    # The rate limit: a sliding window of 60 seconds over the key's call log (delivery/limits.py).
    moment = api_limits.admit_call(db, key.id, chosen.rate_per_minute, now)
    period = chosen.quota_period
    start = _window_start(moment, period)
    scope = f"contract:{contract.id}"
    insert_ignore(db, ApiCounter, {"scope": scope, "window": period, "window_start": start, "calls": 0, "rows": 0})
    reserved = 0
    for _attempt in range(3):
        used = db.execute(select(ApiCounter.calls, ApiCounter.rows).where(
            ApiCounter.scope == scope, ApiCounter.window == period, ApiCounter.window_start == start)).one()
        reserved = max(min(wanted_rows, chosen.rows_per_period - int(used.rows)), 0)
        if used.calls >= chosen.calls_per_period:
            reserved = 0  # the calls are used up (before, such a call passed uncounted)
        if reserved == 0:
            break
        passed = db.execute(update(ApiCounter).where(
            ApiCounter.scope == scope, ApiCounter.window == period, ApiCounter.window_start == start,
            ApiCounter.calls < chosen.calls_per_period,
            ApiCounter.rows + reserved <= chosen.rows_per_period,
        ).values(calls=ApiCounter.calls + 1, rows=ApiCounter.rows + reserved)).rowcount  # type: ignore[attr-defined]  # a CursorResult
        if passed:
            break
        reserved = 0
    if reserved == 0:
        raise TooManyRequests("Contract {number} has used its quota of this {period} ({calls} calls, {rows} rows).",
                              code="quota_exhausted", number=contract.number, period=period,
                              calls=chosen.calls_per_period, rows=chosen.rows_per_period)
    _meter(db, key.id, contract.id, moment, section, calls=1, rows=0)
    return Admission(key.id, contract.id, contract.number, contract.catalogue_listing_id, reserved, start, period)


def _meter(db: Session, key_id: int, contract_id: int, moment: datetime, section: DeliverySettings, *,
           calls: int, rows: int) -> None:
    interval = _window_start(moment, "interval", section.api_meter_seconds)
    # One statement: the interval's row made, or its counts raised (the database serialises both).
    insert = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
    db.execute(insert(ApiMeter).values(key_id=key_id, contract_id=contract_id, interval_start=interval, calls=calls,
                                       rows=rows, report_id="", units=0)
               .on_conflict_do_update(index_elements=["key_id", "interval_start"],
                                      set_={"calls": ApiMeter.calls + calls, "rows": ApiMeter.rows + rows}))


def settle(db: Session, admission: Admission, delivered: int, section: DeliverySettings,
           now: datetime | None = None) -> None:
    """Give the rows not delivered back to the quota and meter the rows delivered."""
    unused = admission.reserved_rows - delivered
    if unused:
        db.execute(update(ApiCounter).where(
            ApiCounter.scope == f"contract:{admission.contract_id}", ApiCounter.window == admission.period,
            ApiCounter.window_start == admission.period_start).values(rows=ApiCounter.rows - unused))
    if delivered:
        _meter(db, admission.key_id, admission.contract_id, now or utcnow(), section, calls=0, rows=delivered)


def report_usage(db: Session, section: DeliverySettings, now: datetime | None = None, limit: int = 500) -> int:
    """Report each closed meter interval once to the exchange's billing; how many were reported.

    The report id ``api:<key>:<interval start>`` is stable, so a run that billed and then failed
    to mark (a crash) bills nothing the second time: the exchange returns its first charge."""
    from qianshu.exchange import payments
    from qianshu.exchange import service as exchange
    from qianshu.exchange.settings import ExchangeSettings

    moment = now or utcnow()
    closed = moment - timedelta(seconds=section.api_meter_seconds + section.api_meter_grace_seconds)
    due = list(db.scalars(select(ApiMeter).where(ApiMeter.reported_at.is_(None), ApiMeter.interval_start <= closed)
                          .order_by(ApiMeter.id).limit(limit)))
    for meter in due:
        contract = exchange.load_contract(db, meter.contract_id)
        units = meter.calls if contract.plan_kind == "per_call" else meter.rows
        report_id = f"api:{meter.key_id}:{as_utc(meter.interval_start).strftime('%Y%m%dT%H%M%SZ')}"
        outcome = "billed"
        if units > 0:
            try:
                payments.record_usage(db, SYSTEM, contract.id, report_id, units, ExchangeSettings())
            except Conflict as exc:  # the contract ended before its last interval was billed
                outcome = exc.code if exc.code != "conflict" else "unbillable"
        else:
            outcome = "nothing"
        meter.report_id, meter.units, meter.reported_at = report_id, units, moment
        audit.record(db, SYSTEM, "data_api.usage", target_type="contract", target_id=contract.id,
                     target_org_id=contract.seller_org_id, report=report_id, calls=meter.calls, rows=meter.rows,
                     units=units, outcome=outcome)
    # The rate limit needs only the last minute's calls (and the fixed minute counters of before
    # migration 0025 none): let the tables not grow.
    api_limits.forget_calls(db, moment)
    db.execute(delete(ApiCounter).where(ApiCounter.window == "minute",
                                        ApiCounter.window_start < moment - timedelta(hours=1)))
    db.flush()
    return len(due)


def usage_of(db: Session, contract_id: int, limit: int = 50) -> list[ApiMeter]:
    return list(db.scalars(select(ApiMeter).where(ApiMeter.contract_id == contract_id)
                           .order_by(ApiMeter.interval_start.desc()).limit(limit)))


# --- reading rows ------------------------------------------------------------------------------------

_PLANS: OrderedDict[tuple[str, str], WatermarkPlan | None] = OrderedDict()
_PLANS_LOCK = threading.Lock()


def _plan(data: Path, policy: WatermarkPolicy) -> WatermarkPlan | None:
    """The product's watermark plan, kept per data file and policy (it reads a sample of the file)."""
    from qianshu.delivery import service

    key = (str(data), repr(policy))
    with _PLANS_LOCK:
        if key in _PLANS:
            return _PLANS[key]
    try:
        plan: WatermarkPlan | None = service.plan_for(data, policy)
    except Conflict:  # nothing identifies the rows: delivered unmarked
        plan = None
    with _PLANS_LOCK:
        _PLANS[key] = plan
        while len(_PLANS) > 16:
            _PLANS.popitem(last=False)
    return plan


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _where(question: Question) -> tuple[str, list[Any]]:
    clauses, params = [f"{ROW} > ?"], [question.after]
    for f in question.filters:
        column = _quote(f.column)  # a name from the schema, quoted
        if f.op == "null":
            clauses.append(f"{column} IS NULL")
        elif f.op == "notnull":
            clauses.append(f"{column} IS NOT NULL")
        elif f.op == "in":
            clauses.append(f"{column} IN ({', '.join('?' for _ in f.values)})")
            params.extend(f.values)
        elif f.op == "prefix":
            clauses.append(f"starts_with({column}, ?)")
            params.append(f.values[0])
        else:
            clauses.append(f"{column} {_SQL_OPS[f.op]} ?")
            params.append(f.values[0])
    return " AND ".join(clauses), params


def read_page(data: Path, question: Question, rows: int, limits: Limits) -> pa.Table:
    """Up to ``rows`` rows (all columns, and their row numbers) after the cursor, in file order,
    on a cursor of the file's kept bounded database (:mod:`.product_files`)."""
    product = product_file(data, limits)
    cursor = product.connection.cursor(limits.query_seconds)
    try:
        where, params = _where(question)
        path = "'" + str(data.absolute()).replace("'", "''") + "'"
        # Our own path and schema names; the caller's values are parameters. No ORDER BY: with
        # DuckDB's preserve_insertion_order (on, its default) a scan keeps the file's order, so the
        # LIMIT stops the scan early instead of sorting every matching row (5x on a million rows).
        sql = (f"SELECT * FROM read_parquet({path}, file_row_number = true) "  # noqa: S608
               f"WHERE {where} LIMIT {int(rows)}")
        found = cursor.execute(sql, params).fetchall()  # within the time limit (a page: few rows)
        names = [str(d[0]) for d in cursor.description]
    finally:
        cursor.close()
    schema = product.schema
    fields = [schema.field(n) if n in schema.names else pa.field(n, pa.int64()) for n in names]
    return pa.Table.from_pylist([dict(zip(names, row, strict=True)) for row in found], pa.schema(fields))


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


@dataclass(frozen=True)
class Page:
    columns: list[str]
    rows: list[list[Any]]
    next_cursor: str | None
    watermarked: bool
    contract_number: str


def fetch_rows(database: Database, settings: Settings, raw_key: str, *, columns: str | None = None,
               filters: list[str] | None = None, limit: int | None = None, cursor: str | None = None) -> Page:
    """One page of rows for the holder of ``raw_key`` (see the module's docstring for the steps)."""
    from qianshu.catalog import service as catalog
    from qianshu.delivery import service
    from qianshu.exchange import service as exchange

    section = settings.section(DeliverySettings)
    if not raw_key:
        raise NotAuthenticated("The API key is missing, unknown or revoked.", code="api_key_invalid")
    limits = Limits(memory_limit="512MB", threads=1, query_seconds=section.sandbox_query_seconds)
    # One write transaction checks the key, the contract and the question and counts the call (a
    # question refused rolls it back: nothing counted); the read runs outside any, and a second
    # one settles the rows.
    with database.unit_of_work() as db:
        key = _authenticate(db, raw_key)
        contract_id = key.contract_id
        contract = exchange.load_contract(db, contract_id)
        listing = catalog.get_listing(db, SYSTEM, contract.catalogue_listing_id)
        data = service.product_data(db, settings, listing)
        watermark = service.watermark_policy(db, settings, listing)  # read once for the plan and the decoys
        product = product_file(data, limits)
        question = parse_question(product.schema, columns, filters or [], limit, cursor, section, settings.secret_key,
                                  contract_id)
        admission = admit(db, key, section, question.limit)
    delivered = 0
    try:
        plan = _plan(data, watermark)
        decoys = api_decoys.decoy_model(watermark, data, plan)
        table = read_page(data, question, admission.reserved_rows, limits)
        delivered = table.num_rows
    finally:
        with database.unit_of_work() as db:
            settle(db, admission, delivered, section)
    numbers = table.column(ROW).to_pylist() if delivered else []
    table = table.drop_columns([ROW])
    if plan is not None and delivered:
        mark_key = WatermarkKey.for_contract(settings.secret_key, admission.contract_number)
        table = pa.Table.from_batches([watermark_batch(b, plan, mark_key) for b in table.to_batches()], table.schema)
    table = table.select(list(question.columns))
    listed = table.to_pylist()
    rows = [[_jsonable(record[c]) for c in question.columns] for record in listed]
    if decoys is not None:  # where the seller allows them (delivery/api_decoys.py); not metered
        mark_key = WatermarkKey.for_contract(settings.secret_key, admission.contract_number)
        rows, _added = api_decoys.with_decoys(rows, numbers, decoys, mark_key, question,
                                              product.num_rows,
                                              delivered < admission.reserved_rows, _jsonable)
    following = None
    if delivered and delivered == admission.reserved_rows:
        following = make_cursor(settings.secret_key, contract_id, question.digest(), int(numbers[-1]))
    return Page(list(question.columns), rows, following, plan is not None, admission.contract_number)


def contract_of_key(database: Database, raw_key: str) -> int:
    with database.unit_of_work(write=False) as db:
        return _authenticate(db, raw_key).contract_id


__all__ = ["Page", "fetch_rows", "issue_key", "report_usage", "revoke_key"]

