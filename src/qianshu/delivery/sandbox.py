"""Sandbox queries (数据可用不可见): the buyer's SQL runs over the product's tables and only
aggregates come back.

A query goes through four gates:

1. :mod:`.sandbox_sql` parses it (sqlglot, never regular expressions), refuses everything
   outside one ``SELECT`` of aggregates over one table of the product, and rewrites it so
   that each group comes back with hidden row counts;
2. it runs on a connection of the base's analytics facility (:mod:`qianshu.core.analytics`):
   memory, thread and time limits, no external access except the product's own Parquet files,
   no extensions, configuration locked. The product's tables are views over those files; no
   other table exists on the connection;
3. small groups are suppressed: a group of fewer than k rows (the product's k, 10 by default),
   counted by the rewrite and not by the buyer's ``COUNT``, is not shown; nor is a group whose
   rows left out by the ``WHERE`` are fewer than k (so "all" minus "all but one" isolates no one),
   nor one where an aggregate summarises fewer than k values or a ``FILTER`` keeps or leaves out
   fewer than k rows. Secondary suppression closes the differences between a total and its
   parts: in the whole answer and along every group key, the rows of the suppressed groups add
   up to 0 or at least k, hiding the next smallest groups until they do (as statistical offices
   do for tables);
4. optionally, differential privacy (:mod:`.sandbox_privacy`, OpenDP): every answered figure
   gets Laplace noise, the group threshold is applied to a noisy count, and the query's
   epsilon is charged to the recipient's budget. This is what protects against any sequence of
   queries, not only the differencing patterns that step 3 knows.

Columns that identify people (declared by the seller, or text whose values are nearly all
different) can only be counted; order statistics (min, max, median, quantiles) are refused over
any column whose values are nearly all different, since their answer is one person's value.

Errors are bilingual and never carry a value of the data: DuckDB's own messages (which quote
values that fail a conversion) are replaced by ours. :func:`query_record` says what to log of
each query and its outcome.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import duckdb

from qianshu.core.analytics import BoundedConnection, Limits, connect
from qianshu.core.errors import InvalidInput, QianshuError, QueryTimedOut
from qianshu.delivery import sandbox_sql
from qianshu.delivery.product_files import KeptDatabases, file_key
from qianshu.delivery.sandbox_privacy import Noise, PrivacyBudget
from qianshu.delivery.sandbox_sql import FIELD, HIDDEN, Column, Plan, refuse

if TYPE_CHECKING:
    from sqlglot import exp

DEFAULT_K = 10
# A column whose distinct values are at least this share of its rows is "nearly all different".
NEAR_UNIQUE_RATIO = 0.5
PROFILE_SECONDS = 600.0
_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
            "UBIGINT", "FLOAT", "DOUBLE", "DECIMAL", "REAL")


@dataclass(frozen=True)
class SandboxPolicy:
    """What the seller allows for one product (and, with a budget, one recipient).

    ``epsilon`` per query switches differential privacy on; ``bounds`` (column → (low, high))
    are then the clamps of the columns whose sums and averages may be asked for."""

    k: int = DEFAULT_K
    limits: Limits = field(default_factory=lambda: Limits(memory_limit="1GB", threads=2, query_seconds=30.0))
    max_groups: int = 10_000
    identifying: frozenset[str] = frozenset()  # columns the seller declares identifying (lower-case)
    epsilon: float | None = None
    delta: float = 1e-6  # with GROUP BY under differential privacy: see sandbox_privacy
    bounds: Mapping[str, tuple[float, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class SandboxAnswer:
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    suppressed_groups: int  # groups not shown (too small, or to protect a total)
    epsilon: float = 0.0  # charged to the budget (OpenDP's privacy maps)
    delta: float = 0.0
    budget: PrivacyBudget | None = None  # after the charge
    seconds: float = 0.0


@dataclass
class _Database:
    """A bounded database whose only table is one product table (a view over its files), with
    the profile of its columns. Kept between queries: a fresh database per query would read the
    files' metadata again each time (a third of a 10-million-row aggregate's time)."""

    connection: BoundedConnection
    columns: dict[str, Column]
    # The rows of each group of a GROUP BY without WHERE (by its SQL): they do not depend on the
    # WHERE, so a buyer who tries several filters over the same groups counts them once.
    complements: OrderedDict[str, dict[str, int]] = field(default_factory=OrderedDict)
    lock: threading.Lock = field(default_factory=threading.Lock)


# Per table, set of files (path, size, modification time: a product's files are written once)
# and limits. Holding only SELECT-checked queries' views, a database can serve every buyer of the
# product; each query gets its own cursor.
_DATABASES: KeptDatabases[_Database] = KeptDatabases(4, lambda kept: kept.connection.close())
_COMPLEMENTS_MAX = 32


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _open_database(table: str, files: Sequence[Path], limits: Limits) -> _Database:
    # The profile reads the whole table once: it gets its own time limit, the queries the policy's.
    connection = cast(BoundedConnection, connect(replace(limits, query_seconds=PROFILE_SECONDS), readable=files))
    try:
        paths = ", ".join("'" + str(p.absolute()).replace("'", "''") + "'" for p in files)
        # The seller's table name and the product's own paths, both quoted.
        connection.execute(f"CREATE VIEW {_quote(table)} AS SELECT * FROM read_parquet([{paths}])")  # noqa: S608
        described = connection.execute(f"DESCRIBE {_quote(table)}").fetchall()
        names = [str(row[0]) for row in described]
        numeric = {str(row[0]): str(row[1]).upper().startswith(_NUMERIC) for row in described}
        measures = ", ".join(f"approx_count_distinct({_quote(n)}), count({_quote(n)})" for n in names)
        figures = connection.execute(f"SELECT count(*), {measures} FROM {_quote(table)}").fetchone() or ()  # noqa: S608
        rows = figures[0] if figures else 0
    except BaseException:
        connection.close()
        raise
    columns = {}
    for index, name in enumerate(names):
        distinct, present = figures[1 + 2 * index], figures[2 + 2 * index]
        near_unique = bool(present) and present >= 2 and distinct >= NEAR_UNIQUE_RATIO * present
        columns[name.lower()] = Column(name, numeric[name], near_unique, near_unique and not numeric[name],
                                       nullable=present < rows)
    return _Database(connection, columns)


def _database(table: str, files: Sequence[Path], limits: Limits) -> _Database:
    key = (table, tuple(file_key(path) for path in files), limits.memory_limit, limits.threads)
    # Opened outside the cache's lock: profiling reads the whole table.
    return _DATABASES.get(key, lambda: _open_database(table, files, limits))


def _columns(database: _Database, identifying: frozenset[str]) -> dict[str, Column]:
    return {n: (Column(c.name, c.numeric, c.near_unique, True, c.nullable) if n in identifying else c)
            for n, c in database.columns.items()}


def _complement(database: _Database, cursor: duckdb.DuckDBPyConnection, sql: str, max_groups: int) -> dict[str, int]:
    with database.lock:
        known = database.complements.get(sql)
    if known is None:
        rows = cursor.execute(sql).fetchall()
        if len(rows) > sandbox_sql.COMPLEMENT_GROUPS_FACTOR * max_groups:
            raise refuse("The query has more than {limit} groups; the sandbox answers at most {limit}.",
                         limit=max_groups)
        known = {repr(tuple(r[:-1])): r[-1] for r in rows}
        with database.lock:
            database.complements[sql] = known
            while len(database.complements) > _COMPLEMENTS_MAX:
                database.complements.popitem(last=False)
    return known


def _duckdb_refusal(exc: duckdb.Error) -> QianshuError:
    """Our message for a DuckDB error: its own text can quote a value of the data, so it never passes."""
    if isinstance(exc, duckdb.OutOfMemoryException):
        return InvalidInput("The query needed more memory than the sandbox allows.", code="sandbox_query_failed",
                            field=FIELD)
    if isinstance(exc, duckdb.BinderException | duckdb.CatalogException | duckdb.ParserException):
        return InvalidInput("The query names a column or function that does not exist, or one that does not fit "
                            "its arguments.", code="sandbox_query_failed", field=FIELD)
    if isinstance(exc, duckdb.ConversionException | duckdb.InvalidInputException | duckdb.OutOfRangeException):
        return InvalidInput("A value of the data could not be converted as the query asks (the value is not shown).",
                            code="sandbox_query_failed", field=FIELD)
    return InvalidInput("The query could not be run in the sandbox.", code="sandbox_query_failed", field=FIELD)


def run_query(sql: str, tables: Mapping[str, Sequence[Path]], policy: SandboxPolicy, *,
              budget: PrivacyBudget | None = None, parsed: exp.Select | None = None) -> SandboxAnswer:
    """Answer ``sql`` over the product's ``tables`` (name → its Parquet files) under ``policy``.

    With differential privacy (``policy.epsilon``), ``budget`` is the recipient's and the answer
    carries it after the charge; the caller stores it. Raises a bilingual domain error when the
    query is refused, fails, passes its time limit or the budget is spent. ``parsed``: the
    caller's :func:`.sandbox_sql.parse` of this ``sql`` (parsed once per query; it is checked again)."""
    started = time.perf_counter()
    select = parsed if parsed is not None else sandbox_sql.parse(sql)
    sandbox_sql.check_allowed(select)
    names = {name.lower(): name for name in tables}
    table, _alias = sandbox_sql.table_of(select, frozenset(names))
    private = policy.epsilon is not None
    if private and budget is None:
        raise refuse("This product answers with differential privacy: a privacy budget is needed.")
    files = [Path(p) for p in tables[names[table]]]
    try:
        database = _database(table, files, policy.limits)
        columns = _columns(database, frozenset(c.lower() for c in policy.identifying))
        bounds = {c.lower(): b for c, b in policy.bounds.items()} if private else None
        query = sandbox_sql.plan(select, table, columns, max_groups=policy.max_groups, dp_bounds=bounds)
        after = budget.charge(policy.epsilon) if private and budget is not None and policy.epsilon else budget
        cursor = database.connection.cursor(policy.limits.query_seconds)
        try:
            rows = cursor.execute(query.sql).fetchall()
            complement = None
            if query.complement_sql is not None and not private:
                complement = _complement(database, cursor, query.complement_sql, policy.max_groups)
        finally:
            cursor.close()
    except duckdb.Error as exc:
        raise _duckdb_refusal(exc) from None
    if len(rows) > policy.max_groups:
        raise refuse("The query has more than {limit} groups; the sandbox answers at most {limit}.",
                     limit=policy.max_groups)
    if private and policy.epsilon is not None:
        answer = _noised(query, rows, policy.k, policy.epsilon, policy.delta)
    else:
        answer = _suppressed(query, rows, policy.k, complement or {})
    return SandboxAnswer(answer.columns, answer.rows, answer.suppressed_groups, answer.epsilon, answer.delta,
                         after if private else None, time.perf_counter() - started)


def _window(query: Plan, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    end = None if query.limit is None else query.offset + query.limit
    return rows[query.offset:end]


def _suppressed(query: Plan, rows: list[tuple[Any, ...]], k: int, complement: dict[str, int]) -> SandboxAnswer:
    """Primary suppression (k rows inside the WHERE and outside it, k values in each aggregate,
    k rows inside and outside each FILTER), then secondary suppression (see the module's
    docstring), then the buyer's HAVING and LIMIT. ``complement``: the rows of each group
    without the WHERE, by the repr of its keys."""
    width = len(query.outputs)
    n_at, having_at = width + query.key_count, width + query.key_count + 1

    def left_out(row: tuple[Any, ...]) -> int:
        if not query.filtered:
            return 0
        total = complement.get(repr(tuple(row[width:n_at])))
        return 1 if total is None else total - row[n_at]  # a group not found is hidden, not shown

    hidden = [r[n_at] < k or 0 < left_out(r) < k
              or any(r[c] < k or (f is not None and 0 < r[n_at] - r[f] < k) for c, f in query.contributions)
              for r in rows]
    if query.grouped and any(hidden):
        partitions: list[dict[str, list[int]]] = [{"": list(range(len(rows)))}]
        for dropped in range(query.key_count if query.key_count > 1 else 0):
            parts: dict[str, list[int]] = defaultdict(list)  # by the repr of the other keys (lists are keys too)
            for index, row in enumerate(rows):
                keys = row[width:width + query.key_count]
                parts[repr(tuple(v for j, v in enumerate(keys) if j != dropped))].append(index)
            partitions.append(parts)
        changed = True
        while changed:
            changed = False
            for parts in partitions:
                for members in parts.values():
                    mass = sum(rows[i][n_at] for i in members if hidden[i])
                    # Smallest first, ties broken by the group's keys: the same question hides the
                    # same groups each time (a random choice could be undone by asking twice).
                    shown = sorted((rows[i][n_at], repr(rows[i][width:n_at]), i) for i in members if not hidden[i])
                    while 0 < mass < k and shown:
                        size, _keys, index = shown.pop(0)
                        hidden[index], mass, changed = True, mass + size, True
    kept = [r[:width] for r, h in zip(rows, hidden, strict=True) if not h and r[having_at]]
    return SandboxAnswer(query.outputs, _window(query, kept), sum(hidden))


def _noised(query: Plan, rows: list[tuple[Any, ...]], k: int, epsilon: float, delta: float) -> SandboxAnswer:
    """Laplace noise on every measure and on the group counts; groups whose noisy count is below
    k (with GROUP BY: the threshold of ``delta``) are not shown."""
    width = len(query.outputs)
    n_at = width + query.key_count
    extra_at = n_at + 2
    measures = [m for m in query.measures if m is not None]
    noise = Noise(1 + len(measures) + query.measurement_columns, epsilon)
    counts, spent = noise.counts([int(r[n_at]) for r in rows])
    columns: dict[int, list[Any]] = {}
    extra = 0
    for index, measure in enumerate(query.measures):
        if measure is None:
            continue
        values = [r[index] for r in rows]
        if measure.kind == "count":
            columns[index], cost = noise.counts([int(v or 0) for v in values])
            columns[index] = [max(int(v), 0) for v in columns[index]]
        else:
            assert measure.bounds is not None
            sums, cost = noise.sums([float(v or 0.0) for v in values], measure.bounds)
            if measure.kind == "avg":
                present, more = noise.counts([int(r[extra_at + extra] or 0) for r in rows])
                extra, cost = extra + 1, cost + more
                low, high = measure.bounds
                sums = [min(max(s / max(c, 1), low), high) for s, c in zip(sums, present, strict=True)]
            columns[index] = sums
        spent += cost
    threshold = noise.threshold(k, delta) if query.grouped else float(k)
    kept: list[tuple[Any, ...]] = []
    for position, row in enumerate(rows):
        if counts[position] < threshold:
            continue
        kept.append(tuple(columns[i][position] if i in columns else row[i] for i in range(width)))
    return SandboxAnswer(query.outputs, _window(query, kept), len(rows) - len(kept), spent,
                        noise.delta(threshold) if query.grouped else 0.0)


def query_record(sql: str, product_tables: Sequence[str], outcome: SandboxAnswer | QianshuError,
                 policy: SandboxPolicy) -> dict[str, Any]:
    """What to log of one sandbox query for the seller: the query, the policy, and the outcome
    (answered with how many groups shown and suppressed and the epsilon spent; refused, failed or
    timed out with the error's code and English message). Never a value of the answer."""
    record: dict[str, Any] = {
        "sql": sql,
        "sql_sha256": hashlib.sha256(sql.encode("utf-8")).hexdigest(),
        "tables": sorted(product_tables),
        "k": policy.k,
        "epsilon_per_query": policy.epsilon,
    }
    if isinstance(outcome, SandboxAnswer):
        record.update(outcome="answered", groups_shown=len(outcome.rows), groups_suppressed=outcome.suppressed_groups,
                      epsilon_spent=outcome.epsilon, delta=outcome.delta, seconds=round(outcome.seconds, 6),
                      budget_spent=outcome.budget.spent if outcome.budget else None)
    else:
        kind = "timed_out" if isinstance(outcome, QueryTimedOut) else (
            "refused" if outcome.code in {"sandbox_refused", "privacy_budget_exhausted"} else "failed")
        record.update(outcome=kind, code=outcome.code, message=str(outcome))
    return record


__all__ = ["DEFAULT_K", "HIDDEN", "PrivacyBudget", "SandboxAnswer", "SandboxPolicy", "query_record", "run_query"]
