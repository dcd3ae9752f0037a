"""The books: accounts, transfers, balances, deposits and withdrawals (docs/ledger.md).

The API other capabilities use (the exchange's escrow and settlement):

- ``open_account(db, kind=, owner_org_id=, reference=None)``: idempotent per (kind, owner, reference);
- ``wallet_of(db, org_id)``, ``fee_account(db)``, ``bank_clearing_account(db)``;
- ``transfer(db, actor, debit=, credit=, amount_fen=, kind=, cause=, memo="")`` and
  ``transfers(db, actor, [Leg, ...])`` for several that happen together or not at all;
- ``balance(db, account)``; ``deposit`` and ``withdraw`` (operators, with the bank's reference).

How a transfer stays correct under concurrency: every account it touches is locked, in ascending
id order, with ``SELECT ... FOR UPDATE`` (PostgreSQL; SQLite has a single writer and its write
transactions begin IMMEDIATE), the balances are checked, the transfer rows inserted and the
balances moved, all in the caller's transaction (a single transfer on PostgreSQL in one statement,
``_ONE_MOVE``). Two transfers from one wallet therefore queue on the
wallet's row: the second sees the first's balance, so a wallet is never overdrawn and the sum of
all balances stays zero. The fixed lock order means two batches over the same accounts cannot
deadlock. Nothing here commits: the request, command or job that calls it does.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    Integer,
    Select,
    String,
    Table,
    TextClause,
    Update,
    bindparam,
    case,
    exists,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import dialect as postgresql_dialect
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from qianshu.accounts.service import organisations_by_id
from qianshu.core import audit, inbox
from qianshu.core.actor import Actor
from qianshu.core.errors import Conflict, InvalidInput, NotFound
from qianshu.core.i18n import N_
from qianshu.core.money import MAX_FEN
from qianshu.core.policy import require
from qianshu.core.timeutil import utcnow
from qianshu.ledger.models import LedgerAccount, LedgerTransfer

# Kinds of account. Only the bank clearing account, the money of the world outside the exchange,
# may go below zero: a deposit debits it (the bank holds the money), a withdrawal credits it back.
ACCOUNT_KINDS = ("wallet", "escrow", "fees", "bank_clearing")
MAY_GO_NEGATIVE = frozenset({"bank_clearing"})
# Kinds of transfer the ledger itself writes; other capabilities add theirs (a short lowercase word).
TRANSFER_KINDS = ("deposit", "withdrawal")
TRANSFER_KIND = re.compile(r"[a-z][a-z0-9_]{0,29}")
BALANCE_LIMIT = 2**63 - 1  # a BIGINT
EXCHANGE = "exchange"

# Statements on the tables themselves: the hot path skips the ORM's unit of work.
ACCOUNTS: Table = LedgerAccount.__table__  # type: ignore[assignment]
TRANSFERS: Table = LedgerTransfer.__table__  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class Transfer:
    """A posted transfer, as read back: immutable like its row."""

    id: int
    batch_id: str | None
    debit_account_id: int
    credit_account_id: int
    amount_fen: int
    kind: str
    cause_type: str
    cause_id: str
    memo: str
    unique_ref: str | None
    actor_user_id: int | None
    created_at: datetime
    debit_balance_fen: int
    credit_balance_fen: int

    @classmethod
    def of(cls, row: Any) -> Transfer:
        return cls(row.id, row.batch_id, row.debit_account_id, row.credit_account_id, row.amount_fen, row.kind,
                   row.cause_type, row.cause_id, row.memo, row.unique_ref, row.actor_user_id, row.created_at,
                   row.debit_balance_fen, row.credit_balance_fen)


AccountRef = LedgerAccount | int


@dataclass(frozen=True, slots=True)
class Leg:
    """One transfer of a batch: from ``debit`` to ``credit``. ``cause`` is (what, its id), e.g.
    ("contract", 17); ``unique_ref``, when given, may be posted at most once ever (a second
    posting raises ``Conflict`` ``duplicate_transfer``)."""

    debit: AccountRef
    credit: AccountRef
    amount_fen: int
    kind: str
    cause: tuple[str, object]
    memo: str = ""
    unique_ref: str | None = None


# --- amounts ---------------------------------------------------------------------------------------

def parse_amount(value: object, field: str = "amount_fen") -> int:
    """A positive whole number of fen, from an int or a string of digits; anything else (negative,
    zero, fractional, non-numeric, too large) is a bilingual 422 naming ``field``."""
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit() and value.isascii():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput("{field} must be a whole number of fen (1 yuan = 100 fen).", field=field,
                           code="invalid_amount")
    if value <= 0:
        raise InvalidInput("{field} must be greater than zero.", field=field, code="invalid_amount")
    if value > MAX_FEN:
        raise InvalidInput("{field} is too large (at most {max} fen).", field=field, max=MAX_FEN,
                           code="invalid_amount")
    return value


def yuan_text(fen: int) -> str:
    """``¥1,234.56``: an amount as both languages read it, for messages."""
    whole, cents = divmod(abs(fen), 100)
    return f"{'-' if fen < 0 else ''}¥{whole:,}.{cents:02d}"


def parse_yuan(text: str, field: str = "amount") -> int:
    """An amount typed in yuan ("1,234.50", "¥12") as positive fen (portal forms)."""
    from qianshu.core.money import Money

    return parse_amount(Money.from_yuan(text, field=field).fen, field)


# --- accounts --------------------------------------------------------------------------------------

def account_code(kind: str, owner_org_id: int | None, reference: str | None = None) -> str:
    owner = EXCHANGE if owner_org_id is None else str(owner_org_id)
    return f"{kind}:{owner}:{reference}" if reference else f"{kind}:{owner}"


def _account_by_code(db: Session, code: str) -> LedgerAccount | None:
    return db.scalar(select(LedgerAccount).where(LedgerAccount.code == code))


def _checked_code(kind: str, owner_org_id: int | None, reference: str | None) -> str:
    if kind not in ACCOUNT_KINDS:
        raise InvalidInput("{field} must be one of: {expected}.", field="kind", expected=", ".join(ACCOUNT_KINDS))
    if reference is not None and (not reference or len(reference) > 100):
        raise InvalidInput("{field} must be 1 to 100 characters.", field="reference")
    return account_code(kind, owner_org_id, reference)


def open_account(db: Session, *, kind: str, owner_org_id: int | None, reference: str | None = None,
                 owner_known: bool = False) -> LedgerAccount:
    """The account of ``kind`` held by ``owner_org_id`` (None: the exchange) for ``reference``
    (e.g. an escrow account per contract), opened on first use; the same one every time after.

    ``owner_known``: the caller knows the owner exists (a party of a contract it holds) and that
    the account is most likely new (a contract's escrow, opened by its payment): the row is
    inserted first and read only if it was there already, one statement instead of four."""
    code = _checked_code(kind, owner_org_id, reference)
    if not owner_known:
        found = _account_by_code(db, code)
        if found is not None:
            return found
        if owner_org_id is not None and owner_org_id not in organisations_by_id(db, [owner_org_id]):
            raise NotFound("Organisation {org_id} does not exist.", field="org_id", org_id=owner_org_id)
    # Two first uses at once: one inserts, the other's insert does nothing and both read the one
    # row. The new row comes back with the INSERT (RETURNING); only a row there before is read.
    opened: LedgerAccount | None = db.scalar(
        _insert_account(db, code, kind, owner_org_id, reference).returning(LedgerAccount))
    if opened is None:
        opened = _account_by_code(db, code)
    assert opened is not None
    return opened


def _insert_account(db: Session, code: str, kind: str, owner_org_id: int | None, reference: str | None) -> Any:
    """The account's INSERT that does nothing if its code is taken (RETURNING is the caller's)."""
    dialect_insert = pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
    return dialect_insert(LedgerAccount).values(
        code=code, kind=kind, owner_org_id=owner_org_id, reference=reference or "",
        may_go_negative=kind in MAY_GO_NEGATIVE, balance_fen=0, created_at=utcnow(),
    ).on_conflict_do_nothing(index_elements=["code"])


def account_id(db: Session, *, kind: str, owner_org_id: int | None, reference: str | None = None,
               opening: bool = False) -> int:
    """``open_account(...).id`` for the hot path of a payment or a settlement, which needs only
    the account's id for ``transfers``: statements built once, run on the session's connection, no
    ORM object built. ``opening``: as ``open_account``'s ``owner_known`` (inserted first, read only
    if it was there already)."""
    code = _checked_code(kind, owner_org_id, reference)
    conn = db.connection()
    if opening:
        opened = conn.execute(_open_returning_id(conn.dialect.name), {
            "code": code, "kind": kind, "owner_org_id": owner_org_id, "reference": reference or "",
            "may_go_negative": kind in MAY_GO_NEGATIVE, "created_at": utcnow()}).scalar()
        if opened is not None:
            return int(opened)
    found = conn.execute(_ID_BY_CODE, {"code": code}).scalar()
    if found is not None:
        return int(found)
    return open_account(db, kind=kind, owner_org_id=owner_org_id, reference=reference).id


@lru_cache(maxsize=4)
def _open_returning_id(dialect: str) -> Any:
    dialect_insert = pg_insert if dialect == "postgresql" else sqlite_insert
    return (dialect_insert(ACCOUNTS).values(
        code=bindparam("code"), kind=bindparam("kind"), owner_org_id=bindparam("owner_org_id"),
        reference=bindparam("reference"), may_go_negative=bindparam("may_go_negative"), balance_fen=0,
        created_at=bindparam("created_at"),
    ).on_conflict_do_nothing(index_elements=["code"]).returning(ACCOUNTS.c.id))


_ID_BY_CODE = select(ACCOUNTS.c.id).where(ACCOUNTS.c.code == bindparam("code"))


def wallet_id(db: Session, org_id: int) -> int:
    """``wallet_of(db, org_id).id`` without the ORM object (``account_id``)."""
    return account_id(db, kind="wallet", owner_org_id=org_id)


def fee_account_id(db: Session) -> int:
    """``fee_account(db).id`` without the ORM object (``account_id``)."""
    return account_id(db, kind="fees", owner_org_id=None)


def wallet_of(db: Session, org_id: int) -> LedgerAccount:
    """The organisation's wallet (opened on first use); 404 naming ``org_id`` for an unknown one."""
    return open_account(db, kind="wallet", owner_org_id=org_id)


def fee_account(db: Session) -> LedgerAccount:
    """The exchange's fee income."""
    return open_account(db, kind="fees", owner_org_id=None)


def bank_clearing_account(db: Session) -> LedgerAccount:
    """The world outside: deposits come from it, withdrawals go to it (may go below zero)."""
    return open_account(db, kind="bank_clearing", owner_org_id=None)


def get_account(db: Session, account_id: int) -> LedgerAccount:
    found = db.get(LedgerAccount, account_id)
    if found is None:
        raise NotFound("Account {account_id} does not exist.", field="account_id", account_id=account_id)
    return found


def balance(db: Session, account: AccountRef) -> int:
    """The account's balance in fen (credits minus debits), as of this transaction."""
    value = db.scalar(select(ACCOUNTS.c.balance_fen).where(ACCOUNTS.c.id == _id(account)))
    if value is None:
        raise NotFound("Account {account_id} does not exist.", field="account_id", account_id=_id(account))
    return int(value)


def _id(account: AccountRef) -> int:
    return account if isinstance(account, int) else account.id


# --- transfers -------------------------------------------------------------------------------------

def transfer(db: Session, actor: Actor, *, debit: AccountRef, credit: AccountRef, amount_fen: int, kind: str,
             cause: tuple[str, object], memo: str = "", unique_ref: str | None = None,
             field: str = "amount_fen", at: datetime | None = None) -> Transfer:
    """Move ``amount_fen`` from ``debit`` to ``credit``; raises before writing anything when the
    amount is bad or ``debit`` may not go that far below zero (422 ``insufficient_funds``)."""
    return transfers(db, actor, [Leg(debit, credit, amount_fen, kind, cause, memo, unique_ref)], field=field,
                     at=at)[0]


def _check_leg(leg: Leg) -> tuple[int, int, int, str, str, str]:
    amount = parse_amount(leg.amount_fen)
    debit, credit = _id(leg.debit), _id(leg.credit)
    if debit == credit:
        raise InvalidInput("A transfer needs two different accounts.", field="credit", code="same_account")
    if not TRANSFER_KIND.fullmatch(leg.kind):
        raise InvalidInput("{field} is not in the expected format.", field="kind")
    cause_type, cause_id = leg.cause[0], str(leg.cause[1])
    if not cause_type or len(cause_type) > 40 or not cause_id or len(cause_id) > 100:
        raise InvalidInput("{field} is not in the expected format.", field="cause")
    if len(leg.memo) > 500:
        raise InvalidInput("{field} is too long (at most {max} characters).", field="memo", max=500)
    if leg.unique_ref is not None and len(leg.unique_ref) > 160:  # the column's width
        raise InvalidInput("{field} is too long (at most {max} characters).", field="unique_ref", max=160)
    return debit, credit, amount, leg.kind, cause_type, cause_id


def transfers(db: Session, actor: Actor, legs: Sequence[Leg], *, field: str = "amount_fen",
              at: datetime | None = None) -> list[Transfer]:
    """Post ``legs`` together, in order: all of them or, on any error, none (the error is raised
    before anything is written). Several legs share a batch id. ``field`` is what a refusal for
    insufficient funds names (the caller's own name for the amount). ``at`` is the clock's time
    (default now; the demo's back-dated history passes its own)."""
    if not legs:
        raise InvalidInput("{field} is required.", field="transfers")
    checked = [_check_leg(leg) for leg in legs]
    refs = [leg.unique_ref for leg in legs if leg.unique_ref is not None]
    if len(set(refs)) != len(refs):
        raise _posted_already()
    ids = sorted({i for c in checked for i in c[:2]})
    # Core statements on the session's connection: the hot path of the books skips the ORM's
    # execution layer (about a third of a transfer's CPU time; benchmarks/ledger.py).
    conn = db.connection()
    if len(legs) == 1 and conn.dialect.name == "postgresql":
        return [_move_in_one_statement(db, conn, actor, legs[0], checked[0], field, at or utcnow())]
    # The row locks, always in ascending id order (no deadlock between two batches), and in the
    # same round trip whether a unique reference was posted already (one committed meanwhile by a
    # concurrent transaction fails the INSERT below instead).
    lock_params: dict[str, Any] = {f"i{k}": account_id for k, account_id in enumerate(ids)}
    lock_params.update({f"r{k}": ref for k, ref in enumerate(refs)})
    locked = conn.execute(_lock(len(ids), len(refs)), lock_params).all()
    balances, rows = _moved(locked, ids, bool(refs), legs, checked, actor, at or utcnow(), field)
    # Every account's new balance in one statement (one round trip, not one per account).
    params: dict[str, Any] = {}
    for k, account_id in enumerate(ids):
        params[f"a{k}"], params[f"b{k}"] = account_id, balances[account_id]
    # The transfers first: a unique reference posted meanwhile by a concurrent transaction fails
    # there, before any balance has moved.
    try:
        if len(rows) == 1:
            new_ids = [conn.execute(_INSERT, rows[0]).scalar_one()]
        else:
            new_ids = list(conn.execute(_INSERT_MANY, rows).scalars())
    except IntegrityError:
        if not refs:
            raise
        raise _posted_already() from None
    conn.execute(_set_balances(len(ids)), params)
    _refresh_loaded_accounts(db, balances)
    return [Transfer.of(_Row(id=i, **row)) for i, row in zip(new_ids, rows, strict=True)]


def _posted_already() -> Conflict:
    return Conflict("This transfer has been posted already.", code="duplicate_transfer")


def _row_values(leg: Leg, checked: tuple[int, int, int, str, str, str], actor: Actor, now: datetime,
                batch: str | None) -> dict[str, Any]:
    """A transfer's row but for the two balances after it."""
    debit, credit, amount, kind, cause_type, cause_id = checked
    return {"batch_id": batch, "debit_account_id": debit, "credit_account_id": credit, "amount_fen": amount,
            "kind": kind, "cause_type": cause_type, "cause_id": cause_id, "memo": leg.memo,
            "unique_ref": leg.unique_ref, "actor_user_id": actor.user_id, "actor_org_id": actor.org_id,
            "via": actor.via[:20], "created_at": now}


def _moved(locked: Sequence[Any], ids: list[int], with_refs: bool, legs: Sequence[Leg],
           checked: list[tuple[int, int, int, str, str, str]], actor: Actor, now: datetime,
           field: str) -> tuple[dict[int, int], list[dict[str, Any]]]:
    """From the locked rows as they were before the transfers (id, balance, may it go negative and,
    ``with_refs``, whether a reference was posted): every account's balance after the legs and
    their rows, or the refusal (409 posted already, 404 unknown account, 422 insufficient funds
    naming ``field``, 422 a balance past what the books hold)."""
    if with_refs and locked and locked[0].posted:
        raise _posted_already()
    balances = {row.id: int(row.balance_fen) for row in locked}
    negative_ok = {row.id: bool(row.may_go_negative) for row in locked}
    for account_id in ids:
        if account_id not in balances:
            raise NotFound("Account {account_id} does not exist.", field="account_id", account_id=account_id)
    batch = uuid.uuid4().hex if len(legs) > 1 else None
    rows: list[dict[str, Any]] = []
    for leg, leg_checked in zip(legs, checked, strict=True):
        debit, credit, amount = leg_checked[:3]
        if balances[debit] - amount < 0 and not negative_ok[debit]:
            raise InvalidInput("{field}: the account's balance ({balance}) is less than {amount}.", field=field,
                               balance=yuan_text(balances[debit]), amount=yuan_text(amount), code="insufficient_funds")
        if balances[credit] + amount > BALANCE_LIMIT or balances[debit] - amount < -BALANCE_LIMIT:
            raise InvalidInput("{field} would take a balance beyond what the books can hold.", field=field,
                               code="balance_overflow")
        balances[debit] -= amount
        balances[credit] += amount
        rows.append({**_row_values(leg, leg_checked, actor, now, batch), "debit_balance_fen": balances[debit],
                     "credit_balance_fen": balances[credit]})
    return balances, rows


# Built once per shape: a transfer's statements cost their execution, not their construction,
# and a fixed list of parameters spares each execution the expansion of an ``IN`` list.
@lru_cache(maxsize=64)
def _lock(accounts: int, refs: int) -> Select[Any]:
    """The accounts' rows locked in ascending id order and, in the same round trip, whether one
    of ``refs`` was posted already (one committed meanwhile by a concurrent transaction fails the
    INSERT instead)."""
    stmt = (select(ACCOUNTS.c.id, ACCOUNTS.c.balance_fen, ACCOUNTS.c.may_go_negative)
            .where(ACCOUNTS.c.id.in_([bindparam(f"i{k}", type_=Integer) for k in range(accounts)]))
            .order_by(ACCOUNTS.c.id).with_for_update(of=ACCOUNTS))
    if refs:
        posted = [bindparam(f"r{k}", type_=String) for k in range(refs)]
        stmt = stmt.add_columns(exists(select(TRANSFERS.c.id).where(TRANSFERS.c.unique_ref.in_(posted)))
                                .label("posted"))
    return stmt


_INSERT = insert(TRANSFERS).returning(TRANSFERS.c.id)
_INSERT_MANY = insert(TRANSFERS).returning(TRANSFERS.c.id, sort_by_parameter_order=True)


@lru_cache(maxsize=32)
def _set_balances(accounts: int) -> Update:
    """``UPDATE … SET balance_fen = CASE id WHEN :a0 THEN :b0 … END WHERE id IN (:a0 …)``: every
    account of a batch in one statement (one round trip)."""
    keys = [(bindparam(f"a{k}", type_=Integer), bindparam(f"b{k}", type_=BigInteger)) for k in range(accounts)]
    return (update(ACCOUNTS).where(ACCOUNTS.c.id.in_([a for a, _ in keys]))
            .values(balance_fen=case(*[(ACCOUNTS.c.id == a, b) for a, b in keys], else_=ACCOUNTS.c.balance_fen)))


# One transfer on PostgreSQL is one statement, so three round trips with BEGIN and COMMIT: the
# lock, the check, the balances' UPDATE and the transfer's INSERT, each a part of one WITH.
# - ``locked`` takes the two rows' locks in ascending id order (no deadlock with any other
#   transfer or batch); under READ COMMITTED a row another transaction moved meanwhile is read
#   in its new version once that one commits.
# - ``allowed`` is a one-row verdict computed from those rows: both exist, the debit's balance
#   covers the amount (unless it may go negative), no balance leaves what a BIGINT holds, and the
#   unique reference (if any) was not posted. The UPDATE tests it as an uncorrelated subquery, which
#   PostgreSQL evaluates once before the UPDATE reads a row (an InitPlan), so the locks are taken
#   in that order before any row is written.
# - ``moved`` sets the balances from the locked rows; ``posted`` inserts the transfer with the
#   balances ``moved`` returns, and only if both moved.
# When the verdict is no, nothing is written and the locked rows come back for the message
# (insufficient funds names the balance), exactly as the lock of a batch would give them.
# SQLite keeps the statements of a batch: a statement costs it no round trip.
_ONE_MOVE = """
WITH locked AS (
    SELECT id, balance_fen, may_go_negative FROM ledger_accounts
    WHERE id IN (:debit, :credit) ORDER BY id FOR UPDATE
), allowed AS (
    SELECT count(*) = 2 AND bool_and(CASE WHEN id = :debit
               THEN (may_go_negative OR balance_fen >= :amount) AND balance_fen >= :amount - :limit
               ELSE balance_fen <= :limit - :amount END){unposted} AS ok
    FROM locked
), moved AS (
    UPDATE ledger_accounts AS a
    SET balance_fen = CASE WHEN a.id = :debit THEN l.balance_fen - :amount ELSE l.balance_fen + :amount END
    FROM locked AS l
    WHERE a.id = l.id AND (SELECT ok FROM allowed)
    RETURNING a.id, a.balance_fen
), posted AS (
    INSERT INTO ledger_transfers ({columns}, debit_balance_fen, credit_balance_fen)
    SELECT {values}, d.balance_fen, c.balance_fen
    FROM moved AS d JOIN moved AS c ON d.id = :debit AND c.id = :credit
    RETURNING id
)
SELECT l.id, l.balance_fen, l.may_go_negative, (SELECT id FROM posted) AS transfer_id{posted_column}
FROM locked AS l ORDER BY l.id
"""
_POSTGRESQL = postgresql_dialect()  # type: ignore[no-untyped-call]
_UNPOSTED = " AND NOT EXISTS (SELECT 1 FROM ledger_transfers WHERE unique_ref = :t_unique_ref)"
# Columns the statement fills itself: the id from its sequence, the balances from ``moved``.
_COMPUTED = frozenset({"id", "debit_balance_fen", "credit_balance_fen"})


@lru_cache(maxsize=2)
def _one_move(with_ref: bool) -> TextClause:
    """``_ONE_MOVE`` for a leg with (or without) a unique reference. The transfer's values are
    cast to their columns' types: in ``INSERT … SELECT`` a parameter's type is not taken from
    the column it fills."""
    columns = [c for c in TRANSFERS.c if c.name not in _COMPUTED]
    sql = _ONE_MOVE.format(
        columns=", ".join(c.name for c in columns),
        values=", ".join(f"CAST(:t_{c.name} AS {_cast_type(c.type)})" for c in columns),
        unposted=_UNPOSTED if with_ref else "",
        posted_column=(", EXISTS (SELECT 1 FROM ledger_transfers WHERE unique_ref = :t_unique_ref) AS posted"
                       if with_ref else ""))
    return text(sql).bindparams(
        *(bindparam(f"t_{c.name}", type_=c.type) for c in columns),
        bindparam("debit", type_=Integer), bindparam("credit", type_=Integer),
        bindparam("amount", type_=BigInteger), bindparam("limit", type_=BigInteger))


def _cast_type(column_type: Any) -> str:
    """The type a parameter is cast to: strings as TEXT (a cast to ``VARCHAR(n)`` would cut a
    longer value silently; the column refuses it), the rest as the column's own type."""
    if isinstance(column_type, String):
        return "TEXT"
    return str(column_type.compile(dialect=_POSTGRESQL))


def _move_in_one_statement(db: Session, conn: Connection, actor: Actor, leg: Leg,
                           checked: tuple[int, int, int, str, str, str], field: str, now: datetime) -> Transfer:
    """One leg on PostgreSQL (``_ONE_MOVE``): the same checks, errors and result as a batch of one."""
    debit, credit, amount = checked[:3]
    params: dict[str, Any] = {f"t_{name}": value for name, value in _row_values(leg, checked, actor, now, None).items()}
    params.update(debit=debit, credit=credit, amount=amount, limit=BALANCE_LIMIT)
    try:
        locked = conn.execute(_one_move(leg.unique_ref is not None), params).all()
    except IntegrityError:  # the same reference, committed meanwhile by a concurrent transaction
        if leg.unique_ref is None:
            raise
        raise _posted_already() from None
    # The rows come back as they were locked, before the move: the batch's own checks give the
    # statement's refusal its error, and its balances after the move.
    balances, rows = _moved(locked, sorted((debit, credit)), leg.unique_ref is not None, [leg], [checked], actor,
                            now, field)
    transfer_id = locked[0].transfer_id
    if transfer_id is None:  # the statement and _moved check the same things on the same rows
        raise RuntimeError("the books refused a transfer that their checks allow")
    _refresh_loaded_accounts(db, balances)
    return Transfer.of(_Row(id=transfer_id, **rows[0]))


class _Row:
    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)


def _refresh_loaded_accounts(db: Session, balances: dict[int, int]) -> None:
    """Accounts the session already holds as objects show their new balance (we wrote by statement)."""
    for account_id, value in balances.items():
        loaded = db.identity_map.get(db.identity_key(LedgerAccount, account_id))
        if loaded is not None:
            set_committed_value(loaded, "balance_fen", value)


# --- deposits and withdrawals (operators) ----------------------------------------------------------

DEPOSITED = N_("{amount} was deposited into your wallet (bank reference {reference}).")
WITHDRAWN = N_("{amount} was withdrawn from your wallet (bank reference {reference}).")


def _bank_reference(reference: str) -> str:
    reference = reference.strip()
    if not reference or len(reference) > 100:
        raise InvalidInput("{field} is required (1 to 100 characters).", field="bank_reference")
    return reference


def _book_once(db: Session, unique_ref: str, reference: str) -> None:
    if db.scalar(select(TRANSFERS.c.id).where(TRANSFERS.c.unique_ref == unique_ref)) is not None:
        raise Conflict("The bank reference {reference} has been booked already.", field="bank_reference",
                       reference=reference, code="bank_reference_used")


def require_recording(actor: Actor, movement: str) -> None:
    """Refuse, before the form or body is read, whoever may not record this bank movement ("deposit"
    or "withdrawal"), so a refusal is not stored under the request's idempotency key."""
    require(actor, "ledger.deposit" if movement == "deposit" else "ledger.withdraw")


def deposit(db: Session, actor: Actor, *, org_id: int, amount_fen: object, bank_reference: str,
            memo: str = "", field: str = "amount_fen", at: datetime | None = None) -> Transfer:
    """Book money the organisation paid in to the exchange's bank account (the transfer itself
    happened at the bank): debit bank clearing, credit the wallet. A bank reference is booked once."""
    require(actor, "ledger.deposit")
    amount = parse_amount(amount_fen, field)
    reference = _bank_reference(bank_reference)
    wallet = wallet_of(db, org_id)
    _book_once(db, f"deposit:{reference}", reference)
    posted = transfer(db, actor, debit=bank_clearing_account(db), credit=wallet, amount_fen=amount, kind="deposit",
                      cause=("bank_transfer", reference), memo=memo, unique_ref=f"deposit:{reference}", field=field,
                      at=at)
    audit.record(db, actor, "ledger.deposited", target_type="ledger_transfer", target_id=posted.id,
                 target_org_id=org_id, amount_fen=amount, bank_reference=reference)
    inbox.notify(db, "ledger", DEPOSITED, org_id=org_id, subject=("ledger_transfer", posted.id), link="/wallet",
                 amount=yuan_text(amount), reference=reference)
    return posted


def withdraw(db: Session, actor: Actor, *, org_id: int, amount_fen: object, bank_reference: str,
             memo: str = "", field: str = "amount_fen") -> Transfer:
    """Book money paid out of the organisation's wallet to its bank account: debit the wallet
    (never below zero: 422 ``insufficient_funds``), credit bank clearing."""
    require(actor, "ledger.withdraw")
    amount = parse_amount(amount_fen, field)
    reference = _bank_reference(bank_reference)
    wallet = wallet_of(db, org_id)
    _book_once(db, f"withdrawal:{reference}", reference)
    posted = transfer(db, actor, debit=wallet, credit=bank_clearing_account(db), amount_fen=amount,
                      kind="withdrawal", cause=("bank_transfer", reference), memo=memo,
                      unique_ref=f"withdrawal:{reference}", field=field)
    audit.record(db, actor, "ledger.withdrawn", target_type="ledger_transfer", target_id=posted.id,
                 target_org_id=org_id, amount_fen=amount, bank_reference=reference)
    inbox.notify(db, "ledger", WITHDRAWN, org_id=org_id, subject=("ledger_transfer", posted.id), link="/wallet",
                 amount=yuan_text(amount), reference=reference)
    return posted


def transfers_by_cause(db: Session, cause_type: str, cause_id: object) -> list[Transfer]:
    """Every transfer caused by one thing (a contract's payment, settlement and refunds), oldest first."""
    rows = db.execute(select(TRANSFERS).where(TRANSFERS.c.cause_type == cause_type,
                                              TRANSFERS.c.cause_id == str(cause_id)).order_by(TRANSFERS.c.id))
    return [Transfer.of(row) for row in rows]
