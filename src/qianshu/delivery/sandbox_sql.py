"""Reading and rewriting a sandbox query (数据可用不可见): the SQL half of :mod:`.sandbox`.

The buyer's text is parsed with sqlglot (DuckDB dialect) into a tree, never matched with
regular expressions. The tree is checked against an allow-list: one ``SELECT`` over one table
of the product, made of columns, literals, operators, a fixed set of scalar functions and the
aggregates that summarise (count, sum, avg, spread, correlation, and the order statistics
min/max/median/quantile under conditions). Anything else is refused, whatever it is called:
table functions (``read_csv``, ``glob``, ``read_text`` ...), statements other than ``SELECT``
(``COPY``, ``ATTACH``, ``INSTALL``, ``LOAD``, ``SET``, ``PRAGMA``, ``RESET``), subqueries,
joins, window functions, and the aggregates that carry rows (``string_agg``, ``list``,
``array_agg``, ``histogram``, ``arg_max``, ``any_value``, ``first`` ...). What runs is sqlglot's
rendering of the checked tree, so the text DuckDB reads is the one that was checked.

Aggregates take plain columns: a condition inside an aggregate could pick one person's value
out of a large group; conditions go in WHERE and FILTER, whose rows are counted.

The checked query is rewritten so that small groups can be suppressed after it runs: hidden
columns count the rows of each group, the values each aggregate summarises and the rows inside
each FILTER, whatever the buyer's own ``COUNT`` says; the group keys come back as hidden columns
too (for the marginals of secondary suppression), and the buyer's ``HAVING`` as a hidden flag
applied after suppression. The ``WHERE`` stays where it is (DuckDB pushes it into the scan); a
second query over the group keys alone counts each group without it, for the complement.
``LIMIT``/``OFFSET`` are applied after suppression as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from qianshu.core.errors import InvalidInput

HIDDEN = "__qs_"
# The groups of a query without its WHERE may be more than those with it: this many times the
# groups answered, past which the query is refused (the complement of each could not be checked).
COMPLEMENT_GROUPS_FACTOR = 10  # prefix of the columns the rewrite adds; refused in the buyer's text
FIELD = "sql"

# Structure the query may have (besides the functions below).
_STRUCTURE: tuple[type[exp.Expr], ...] = (
    exp.Select, exp.From, exp.Table, exp.TableAlias, exp.Where, exp.Group, exp.Having, exp.Order,
    exp.Ordered, exp.Limit, exp.Offset, exp.Alias, exp.Column, exp.Identifier, exp.Literal,
    exp.Null, exp.Boolean, exp.Paren, exp.DataType, exp.Filter, exp.Distinct, exp.Star, exp.Interval,
    exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.And, exp.Or, exp.Not, exp.Xor,
    exp.Add, exp.Sub, exp.Mul, exp.Div, exp.IntDiv, exp.Mod, exp.Neg, exp.Is, exp.In, exp.Between,
    exp.Like, exp.ILike, exp.Case, exp.If, exp.Coalesce, exp.Nullif, exp.Cast, exp.TryCast, exp.DPipe,
    exp.Concat, exp.Var, exp.DataTypeParam,
)
_SCALARS: tuple[type[exp.Expr], ...] = (
    exp.Lower, exp.Upper, exp.Substring, exp.Length, exp.Trim, exp.Left, exp.Right, exp.StrPosition,
    exp.Round, exp.Abs, exp.Floor, exp.Ceil, exp.Sqrt, exp.Ln, exp.Log, exp.Pow, exp.Exp, exp.Sign,
    exp.Greatest, exp.Least, exp.Year, exp.Quarter, exp.Month, exp.Week, exp.Day, exp.DayOfWeek,
    exp.Extract, exp.DateTrunc, exp.TimestampTrunc, exp.TimeToStr, exp.CurrentDate, exp.DateFromParts,
    exp.DateDiff, exp.DateAdd, exp.DateSub, exp.StrToDate, exp.StrToTime,
)
# Aggregates that summarise a group whatever its rows hold.
_SUMMARIES: tuple[type[exp.Expr], ...] = (
    exp.Count, exp.Sum, exp.Avg, exp.Stddev, exp.StddevPop, exp.StddevSamp, exp.Variance,
    exp.VariancePop, exp.ApproxDistinct, exp.Corr, exp.CovarPop, exp.CovarSamp, exp.LogicalAnd,
    exp.LogicalOr,
)
# Aggregates whose answer is one row's value: refused over columns whose values are nearly all
# different (an identifier, an exact income), allowed over coarse ones (age, a year).
ORDER_STATISTICS: tuple[type[exp.Expr], ...] = (
    exp.Min, exp.Max, exp.Median, exp.Quantile, exp.PercentileCont, exp.PercentileDisc,
)
# Named in refusals so that the buyer learns why, not only that.
_ROW_CARRIERS: tuple[type[exp.Expr], ...] = (
    exp.GroupConcat, exp.ArrayAgg, exp.ArgMax, exp.ArgMin, exp.AnyValue, exp.First, exp.Last,
    exp.Mode, exp.ArrayUniqueAgg, exp.ArrayConcatAgg,
)
_ROW_CARRIER_NAMES = frozenset({"histogram", "list", "string_agg", "array_agg", "listagg", "group_concat",
                                "arg_max", "arg_min", "argmax", "argmin", "max_by", "min_by", "any_value",
                                "first", "last", "arbitrary", "mode", "list_distinct", "bitstring_agg",
                                "histogram_exact", "reservoir_quantile", "approx_top_k"})
_FILE_READERS = frozenset({"read_csv", "read_csv_auto", "read_parquet", "parquet_scan", "read_json",
                           "read_json_auto", "read_ndjson", "read_text", "read_blob", "glob", "read_xlsx",
                           "sniff_csv", "parquet_metadata", "parquet_schema"})
_ALLOWED = (*_STRUCTURE, *_SCALARS, *_SUMMARIES, *ORDER_STATISTICS)

Use = Literal["counted", "ordered", "other"]


@dataclass(frozen=True)
class Column:
    """A column of the product's table as the checks need it."""

    name: str
    numeric: bool
    near_unique: bool  # its values are nearly all different: no order statistic over it
    identifying: bool  # declared by the seller, or near-unique text: it can only be counted
    nullable: bool = True  # some of its values are missing


@dataclass(frozen=True)
class Measure:
    """An output that differential privacy noises: ``count`` (sensitivity 1) or a ``sum``/``avg``
    of a column clamped to ``bounds``."""

    kind: Literal["count", "sum", "avg"]
    bounds: tuple[float, float] | None = None


@dataclass(frozen=True)
class Plan:
    """The rewritten query and what the engine needs to finish the answer."""

    sql: str
    outputs: tuple[str, ...]  # the buyer's column names, first in each row
    key_count: int  # hidden group-key columns after the outputs
    grouped: bool
    filtered: bool  # the query had a WHERE: its complement is checked too
    complement_sql: str | None  # with a WHERE: the rows of each group without it (group keys, count)
    has_having: bool
    limit: int | None
    offset: int
    measures: tuple[Measure | None, ...]  # per output under differential privacy (None: a group key)
    measurement_columns: int  # extra hidden columns of sums and counts for avg under differential privacy
    # Per aggregate output (without differential privacy): the hidden columns of the rows it
    # summarises (non-null values inside the WHERE and its FILTER) and, with a FILTER, of the rows
    # inside that FILTER; offsets in the row.
    contributions: tuple[tuple[int, int | None], ...] = ()


class Verbatim:
    """A name from the query shown as typed: never looked up as a message id (a column called
    ``name`` stays ``name`` in the Chinese message)."""

    def __init__(self, text: object) -> None:
        self.text = str(text)

    def __str__(self) -> str:
        return self.text

    def __format__(self, spec: str) -> str:
        return format(self.text, spec)


def refuse(message: str, **params: object) -> InvalidInput:
    return InvalidInput(message, code="sandbox_refused", field=FIELD,
                        **{k: Verbatim(v) for k, v in params.items()})


def parse(text: str) -> exp.Select:
    """The one SELECT of ``text``, or a refusal naming what is wrong (statements, several statements)."""
    try:
        statements = [s for s in sqlglot.parse(text, read="duckdb") if s is not None]
    except SqlglotError:
        raise refuse("The query could not be read as SQL.") from None
    if len(statements) != 1:
        raise refuse("The sandbox runs exactly one SQL statement at a time.")
    statement = statements[0]
    if not isinstance(statement, exp.Select):
        keyword = statement.key.upper() if not isinstance(statement, exp.Command) else str(statement.this).upper()
        raise refuse("{statement} is not allowed in the sandbox: only one SELECT query runs there.",
                     statement=keyword.split()[0] if keyword else "?")
    return statement


def _function_name(node: exp.Expr) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    if isinstance(node, exp.Func):
        return node.sql_name().lower()
    return node.key.lower()


def check_allowed(select: exp.Select) -> None:
    """Refuse every node outside the allow-list, naming it."""
    for key, value in select.args.items():
        if value and key not in {"expressions", "from_", "where", "group", "having", "order", "limit", "offset",
                                 "kind"}:
            if key == "distinct":
                raise refuse("SELECT DISTINCT shows individual values: use GROUP BY, which suppresses small groups.")
            raise refuse("The sandbox answers a single SELECT over one table of the product, without subqueries, "
                         "joins, unions, CTEs or window functions.")
    for node in select.walk():
        if node is not select and isinstance(node, exp.Select | exp.Subquery | exp.Union | exp.Join
                                             | exp.Window | exp.Lateral | exp.With | exp.Lambda):
            raise refuse("The sandbox answers a single SELECT over one table of the product, without subqueries, "
                         "joins, unions, CTEs or window functions.")
        name = _function_name(node)
        if isinstance(node, exp.ReadCSV | exp.ReadParquet) or name in _FILE_READERS:
            raise refuse("Reading files is not allowed in the sandbox: query the product's tables.")
        if isinstance(node, _ROW_CARRIERS) or name in _ROW_CARRIER_NAMES:
            raise refuse("{function} returns individual rows or values and is not allowed in the sandbox.",
                         function=name)
        if isinstance(node, exp.Star) and not (isinstance(node.parent, exp.Count) and node.arg_key == "this"):
            raise refuse("SELECT * returns rows: name the aggregates to compute.")
        if isinstance(node, exp.Var) and not isinstance(node.parent, exp.Extract | exp.DateTrunc | exp.TimestampTrunc
                                                        | exp.DataType | exp.DateDiff | exp.DateAdd
                                                        | exp.DateSub | exp.Interval):
            raise refuse("{function} is not available in the sandbox.", function=node.name)
        if isinstance(node, exp.Identifier) and node.name.lower().startswith(HIDDEN):
            raise refuse("Names starting with {prefix} are reserved in the sandbox.", prefix=HIDDEN)
        if not isinstance(node, _ALLOWED):
            raise refuse("{function} is not available in the sandbox.", function=name)
    source = select.args.get("from_")
    if source is None or not isinstance(source.this, exp.Table):
        raise refuse("The sandbox answers a single SELECT over one table of the product, without subqueries, "
                     "joins, unions, CTEs or window functions.")


def table_of(select: exp.Select, tables: frozenset[str]) -> tuple[str, str | None]:
    """The product table the query reads (lower-case) and its alias; any other name is refused."""
    table = select.args["from_"].this
    extra = [k for k, v in table.args.items() if v and k not in {"this", "alias"}]
    alias = table.args.get("alias")
    if extra or (alias is not None and alias.columns) or not isinstance(table.this, exp.Identifier):
        raise refuse("The sandbox answers a single SELECT over one table of the product, without subqueries, "
                     "joins, unions, CTEs or window functions.")
    name = table.name.lower()
    if name not in tables:
        raise refuse("Only the tables of this product can be queried: {table} is not one of them.",
                     table=table.sql(dialect="duckdb"))
    return name, (alias.name.lower() if alias is not None else None)


def _is_aggregate(node: exp.Expr) -> bool:
    return isinstance(node, exp.AggFunc)


def _bare_columns(node: exp.Expr, keys: set[str]) -> list[exp.Column]:
    """Columns of ``node`` outside aggregates and outside the group keys."""
    if node.sql(dialect="duckdb") in keys or _is_aggregate(node) or (
            isinstance(node, exp.Filter) and _is_aggregate(node.this)):
        return []
    if isinstance(node, exp.Column):
        return [node]
    found: list[exp.Column] = []
    for child in node.iter_expressions():
        found += _bare_columns(child, keys)
    return found


def _unalias(node: exp.Expr) -> exp.Expr:
    return node.this if isinstance(node, exp.Alias) else node


def _output_name(node: exp.Expr, index: int) -> str:
    if isinstance(node, exp.Alias):
        return node.alias
    if isinstance(node, exp.Column):
        return node.name
    return node.sql(dialect="duckdb") if len(node.sql(dialect="duckdb")) <= 60 else f"column{index + 1}"


def _group_keys(select: exp.Select, outputs: list[exp.Expr]) -> list[exp.Expr]:
    group = select.args.get("group")
    if group is None:
        return []
    if group.args.get("all"):
        return [_unalias(o).copy() for o in outputs if not any(_is_aggregate(n) for n in o.walk())]
    aliases = {o.alias.lower(): _unalias(o) for o in outputs if isinstance(o, exp.Alias)}
    keys = []
    for item in group.expressions:
        if isinstance(item, exp.Literal) and not item.is_string:
            position = int(item.name) if item.name.isdigit() else 0
            if not 1 <= position <= len(outputs):
                raise refuse("GROUP BY {position} does not name a column of the query.", position=item.name)
            item = _unalias(outputs[position - 1])
        elif isinstance(item, exp.Column) and not item.table and item.name.lower() in aliases:
            item = aliases[item.name.lower()]
        if any(_is_aggregate(n) for n in item.walk()):
            raise refuse("The sandbox answers only aggregates: the column {column} would be shown row by row. "
                         "Group by it or aggregate it.", column=item.sql(dialect="duckdb"))
        keys.append(item.copy())
    return keys


def _uses(select: exp.Select) -> list[tuple[exp.Column, Use, str]]:
    """Each column reference with how it is used: ``counted`` (the direct argument of a count),
    ``ordered`` (inside an order statistic, with its name) or ``other``."""
    found: list[tuple[exp.Column, Use, str]] = []
    for column in select.find_all(exp.Column):
        parent = column.parent
        if isinstance(parent, exp.Distinct):
            parent = parent.parent
        if isinstance(parent, exp.Count | exp.ApproxDistinct) and column.arg_key in {"this", "expressions"}:
            found.append((column, "counted", ""))
            continue
        ancestor = column.find_ancestor(*ORDER_STATISTICS)
        found.append((column, "ordered", _function_name(ancestor)) if ancestor is not None
                     else (column, "other", ""))
    return found


def check_columns(select: exp.Select, table: str, alias: str | None, columns: dict[str, Column]) -> None:
    """Identifying columns may only be counted; near-unique values may not be an order statistic."""
    for column, use, function in _uses(select):
        qualifier = column.table.lower()
        if qualifier and qualifier not in {table, alias}:
            raise refuse("Only the tables of this product can be queried: {table} is not one of them.",
                         table=column.table)
        info = columns.get(column.name.lower())
        if info is None:
            continue  # an output alias (ORDER BY, HAVING) or a name DuckDB will refuse
        if info.identifying and use != "counted":
            raise refuse("The column {column} identifies people: in the sandbox it can only be counted.",
                         column=info.name)
        if info.near_unique and use == "ordered":
            raise refuse("{function} over the column {column} would show one person's value: its values are "
                         "nearly all different.", function=function, column=info.name)


def _arguments(aggregate: exp.Expr) -> list[exp.Expr]:
    found = [aggregate.this] if isinstance(aggregate.this, exp.Expr) else []
    return found + [e for e in aggregate.args.get("expressions") or [] if isinstance(e, exp.Expr)]


def _plain(argument: exp.Expr) -> bool:
    """A column as it is (or cast), ``*`` of a count, or ``DISTINCT`` columns."""
    if isinstance(argument, exp.Distinct):
        return all(_plain(e) for e in argument.expressions)
    if isinstance(argument, exp.Cast | exp.TryCast):
        return isinstance(argument.this, exp.Column)
    return isinstance(argument, exp.Column | exp.Star)


def check_aggregate_arguments(select: exp.Select) -> None:
    """Aggregates take columns as they are: a condition inside an aggregate
    (``sum(CASE WHEN id = 7 THEN income END)``, ``sum(income * (id = 7)::INT)``) would pick one
    person's value out of a large group, where no group count can see it. Conditions belong in
    WHERE and FILTER, whose rows are counted and suppressed when too few; a FILTER is not allowed
    in HAVING or ORDER BY, which decide what is shown without being shown."""
    for aggregate in [n for n in select.walk() if _is_aggregate(n)]:
        arguments = _arguments(aggregate)
        if isinstance(aggregate, exp.Quantile | exp.PercentileCont | exp.PercentileDisc):
            arguments = arguments[:1]
        if not all(_plain(a) for a in arguments):
            raise refuse("In the sandbox an aggregate takes a column as it is, as in sum(income); put conditions "
                         "in WHERE or in FILTER (WHERE ...), where small groups are suppressed.")
    for clause in ("having", "order"):
        part = select.args.get(clause)
        if part is not None and part.find(exp.Filter) is not None:
            raise refuse("FILTER is not available in HAVING or ORDER BY in the sandbox: use it in the SELECT list.")


def _contribution_counts(outputs: list[exp.Expr], columns: dict[str, Column]) -> list[tuple[exp.Expr, exp.Expr | None]]:
    """For each aggregate of the outputs that needs them: a count of the rows it summarises
    (non-null values inside its FILTER) and, when it has a FILTER, a count of the rows inside the
    FILTER. An aggregate without FILTER over ``*`` or columns with no missing value summarises
    every row of its group, which the group count already checks."""
    counts: dict[str, tuple[exp.Expr, exp.Expr | None]] = {}
    for aggregate in [n for o in outputs for n in o.walk() if _is_aggregate(n)]:
        parent = aggregate.parent
        own = parent.expression.this if isinstance(parent, exp.Filter) else None
        arguments = _arguments(aggregate)
        if isinstance(aggregate, exp.Quantile | exp.PercentileCont | exp.PercentileDisc):
            arguments = arguments[:1]
        nullable = [c for a in arguments for c in a.find_all(exp.Column)
                    if columns.get(c.name.lower(), Column(c.name, False, False, False)).nullable]
        if own is None and not nullable:
            continue
        present = [exp.Not(this=exp.Is(this=c.copy(), expression=exp.Null())) for c in nullable]
        parts = [exp.Paren(this=own.copy())] if own is not None else []
        summarised: exp.Expr = exp.Filter(this=exp.Count(this=exp.Star()),
                                          expression=exp.Where(this=exp.and_(*parts, *present)))
        inside = (exp.Filter(this=exp.Count(this=exp.Star()), expression=exp.Where(this=own.copy()))
                  if own is not None else None)
        counts.setdefault(summarised.sql(dialect="duckdb"), (summarised, inside))
    return list(counts.values())


def _limit_value(node: exp.Expr | None, clause: str) -> int | None:
    if node is None:
        return None
    value = node.expression
    if not isinstance(value, exp.Literal) or value.is_string or not value.name.isdigit():
        raise refuse("{clause} must be a whole number.", clause=clause)
    return int(value.name)


def _dp_measure(node: exp.Expr, bounds: dict[str, tuple[float, float]]) -> tuple[Measure, list[exp.Expr]]:
    """What differential privacy measures for one aggregate output, and the expressions to compute:
    a count as it is; a sum over a clamped column; an avg as a clamped sum and a count."""
    aggregate = node.this if isinstance(node, exp.Filter) else node
    own = node.expression.this if isinstance(node, exp.Filter) else None

    def filtered(agg: exp.Expr) -> exp.Expr:
        return exp.Filter(this=agg, expression=exp.Where(this=own.copy())) if own is not None else agg

    if isinstance(aggregate, exp.Count):
        return Measure("count"), [node.copy()]
    if isinstance(aggregate, exp.Sum | exp.Avg) and isinstance(aggregate.this, exp.Column):
        name = aggregate.this.name.lower()
        if name not in bounds:
            raise refuse("The column {column} has no bounds for differential privacy: sum and avg are not "
                         "available over it.", column=aggregate.this.name)
        low, high = bounds[name]
        clamped = exp.func("least", exp.func("greatest", exp.cast(aggregate.this.copy(), "DOUBLE"),
                                             exp.Literal.number(low)), exp.Literal.number(high))
        total = filtered(exp.Sum(this=clamped))
        if isinstance(aggregate, exp.Sum):
            return Measure("sum", (low, high)), [total]
        return Measure("avg", (low, high)), [total, filtered(exp.Count(this=aggregate.this.copy()))]
    raise refuse("With differential privacy the sandbox answers count, and sum and avg of a column with bounds; "
                 "{function} is not one of them.", function=_function_name(aggregate))


def plan(select: exp.Select, table: str, columns: dict[str, Column], *, max_groups: int,
         dp_bounds: dict[str, tuple[float, float]] | None = None) -> Plan:
    """Check the shape of an allowed SELECT and rewrite it (see the module's docstring).

    ``dp_bounds`` (column → (low, high)) switches to differential privacy: outputs are group keys
    or one count/sum/avg each, and no HAVING or ORDER BY over aggregates (their exact values
    would decide what is shown)."""
    alias = select.args["from_"].this.args.get("alias")
    check_columns(select, table, alias.name.lower() if alias is not None else None, columns)
    check_aggregate_arguments(select)
    outputs = list(select.expressions)
    keys = _group_keys(select, outputs)
    key_sql = {k.sql(dialect="duckdb") for k in keys}
    has_aggregate = any(_is_aggregate(n) for o in outputs for n in o.walk())
    if not keys and not has_aggregate:
        raise refuse("The query has no aggregate: the sandbox answers only aggregates (count, sum, avg ...) "
                     "or GROUP BY groups.")
    for output in outputs:
        for column in _bare_columns(_unalias(output), key_sql):
            raise refuse("The sandbox answers only aggregates: the column {column} would be shown row by row. "
                         "Group by it or aggregate it.", column=column.sql(dialect="duckdb"))
    having = select.args.get("having")
    order = select.args.get("order")
    limit = _limit_value(select.args.get("limit"), "LIMIT")
    offset = _limit_value(select.args.get("offset"), "OFFSET") or 0
    where = select.args.get("where")
    condition = where.this if where is not None else None

    # The WHERE stays (DuckDB pushes it into the scan); its complement is counted by a second,
    # light query over the group keys only.
    rewritten = select.copy()
    for clause in ("limit", "offset", "having"):
        rewritten.set(clause, None)
    complement_sql = None
    if condition is not None:
        complement = exp.Select(expressions=[*(exp.alias_(k.copy(), f"{HIDDEN}k{i}") for i, k in enumerate(keys)),
                                             exp.alias_(exp.Count(this=exp.Star()), f"{HIDDEN}all")])
        complement.set("from_", select.args["from_"].copy())
        if keys:
            complement.set("group", exp.Group(expressions=[k.copy() for k in keys]))
        complement.set("limit", exp.Limit(expression=exp.Literal.number(COMPLEMENT_GROUPS_FACTOR * max_groups + 1)))
        complement_sql = complement.sql(dialect="duckdb")
    names = [_output_name(o, i) for i, o in enumerate(outputs)]
    new_outputs: list[exp.Expr] = [o.copy() for o in outputs]
    measures: list[Measure | None] = [None] * len(outputs)
    extra: list[exp.Expr] = []
    if dp_bounds is not None:
        aggregate_names = {n.lower() for o, n in zip(outputs, names, strict=True) if _unalias(o).sql(
            dialect="duckdb") not in key_sql}
        if having is not None or (order is not None and any(
                _is_aggregate(n) or (isinstance(n, exp.Column) and n.name.lower() in aggregate_names)
                for n in order.walk())):
            raise refuse("With differential privacy, HAVING and ORDER BY over aggregates are not available.")
        for index, output in enumerate(outputs):
            inner = _unalias(output)
            if inner.sql(dialect="duckdb") in key_sql:
                continue
            measure, parts = _dp_measure(inner, dp_bounds)
            measures[index] = measure
            new_outputs[index] = exp.alias_(parts[0], f"{HIDDEN}o{index}")
            extra += [exp.alias_(p, f"{HIDDEN}m{index}") for p in parts[1:]]
    hidden: list[exp.Expr] = [exp.alias_(k.copy(), f"{HIDDEN}k{i}") for i, k in enumerate(keys)]
    hidden += [exp.alias_(exp.Count(this=exp.Star()), f"{HIDDEN}n"),
               exp.alias_(having.this.copy() if having is not None else exp.true(), f"{HIDDEN}h")]
    measurement_columns = len(extra)
    contributions: list[tuple[int, int | None]] = []
    if dp_bounds is None:
        at = len(new_outputs) + len(hidden)
        for summarised, inside in _contribution_counts(outputs, columns):
            extra.append(exp.alias_(summarised, f"{HIDDEN}c{len(contributions)}"))
            if inside is not None:
                extra.append(exp.alias_(inside, f"{HIDDEN}f{len(contributions)}"))
            contributions.append((at, at + 1 if inside is not None else None))
            at += 2 if inside is not None else 1
    rewritten.set("expressions", [*new_outputs, *hidden, *extra])
    rewritten.set("limit", exp.Limit(expression=exp.Literal.number(max_groups + 1)))
    return Plan(sql=rewritten.sql(dialect="duckdb"), outputs=tuple(names), key_count=len(keys),
                grouped=bool(keys), filtered=condition is not None, complement_sql=complement_sql,
                has_having=having is not None,
                limit=limit, offset=offset, measures=tuple(measures), measurement_columns=measurement_columns,
                contributions=tuple(contributions))
