"""Monitoring rules, written once as Ibis expressions and run on DuckDB or on Apache Spark.

The rules of the national mechanism to prevent a return to poverty (防止返贫动态监测和帮扶机制)
are data, set per year and region (``RuleSet``; in the database, monitoring/rulesets.py, edited in
the portal, each field described in ``PARAMETERS``): the income threshold, what counts as a sharp
drop, as a heavy medical burden, as a heavy disaster loss, and which rules apply. Each rule turns
the departments' feeds into *flags*: one row per household and reason, with the feed and the
record the reason rests on, so a caseworker can trace every warning to its source. The flags of
a household then propose its monitored type.

Why Ibis: the same expressions compile to DuckDB SQL for the embedded default (a province on one
machine) and to Spark for a nation-sized population; a test runs both on one county and compares
the flags row for row.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pyarrow as pa

from qianshu.core.analytics import Limits
from qianshu.core.errors import InvalidInput
from qianshu.core.policy import division_prefix
from qianshu.monitoring.population import FEEDS

if TYPE_CHECKING:
    import ibis.expr.types as ir

# The rules (codes used everywhere: flags, cases, dashboards, translations).
RULES = (
    "income_below_threshold",   # 收入低于监测范围 (两不愁: food and clothing)
    "sharp_income_drop",        # 收入骤减
    "medical_burden",           # 刚性支出较大: out-of-pocket medical spending large against income
    "serious_illness",          # 大病
    "education_dropout",        # 义务教育保障: a child of compulsory-school age out of school
    "unsafe_housing",           # 住房安全保障: dangerous-housing grade C or D
    "unsafe_drinking_water",    # 饮水安全
    "severe_disability",        # 残疾 (grades 1 and 2) in a household of low income
    "no_employment",            # 失业: no one of working age employed, low income
    "disaster_loss",            # 自然灾害: a loss large against the household's income
    "income_data_gap",          # 收入数据缺月: too few months of the income survey to judge, visit
)
# Monitored-household types (监测对象类型).
UNSTABLE_LIFTED = "unstable_lifted"          # 脱贫不稳定户
MARGINAL = "marginal"                        # 边缘易致贫户
SUDDEN_DIFFICULTY = "sudden_difficulty"      # 突发严重困难户
SUDDEN_RULES = ("sharp_income_drop", "medical_burden", "serious_illness", "disaster_loss")


@dataclass(frozen=True)
class RuleSet:
    """The rules of one year for one region (a GB/T 2260 division code; 520000: the province)."""

    year: int
    division: str = "520000"
    # Annual per-capita net income below which a household is in the monitoring range (fen).
    income_threshold_fen: int = 780_000
    # "Marginal": income below this multiple of the threshold (a band above it).
    marginal_factor: float = 1.5
    # A sharp drop: the last three months' income below (1 - ratio) × the first three months'.
    sharp_drop_ratio: float = 0.5
    # A heavy medical burden: out-of-pocket spending above this share of the household's income.
    medical_burden_ratio: float = 0.3
    # A heavy disaster loss: above this share of the household's annual income.
    disaster_loss_ratio: float = 0.3
    # Disability: grades 1 (the most severe) to this one count, in a household of low income.
    disability_max_grade: int = 2
    # The income survey is monthly: a household's annual income is its reported months' mean × 12.
    # Fewer months than this (in a household whose estimate is below the marginal band) is a data
    # gap to visit, not a low income.
    min_income_months: int = 6
    enabled: frozenset[str] = field(default_factory=lambda: frozenset(RULES))

    def __post_init__(self) -> None:
        unknown = set(self.enabled) - set(RULES)
        if unknown:
            raise InvalidInput("Unknown monitoring rules: {rules}", field="enabled", rules=", ".join(sorted(unknown)))
        if self.income_threshold_fen <= 0:
            raise InvalidInput("The income threshold must be more than 0.", field="income_threshold_fen")
        if self.marginal_factor < 1:
            raise InvalidInput("The marginal factor must be at least 1.", field="marginal_factor")
        for name in ("sharp_drop_ratio", "medical_burden_ratio", "disaster_loss_ratio"):
            if not 0 < getattr(self, name) <= 1:
                raise InvalidInput("{field} must be more than 0 and at most 1.", field=name)
        if not 1 <= self.disability_max_grade <= 4:
            raise InvalidInput("The disability grade must be 1 to 4.", field="disability_max_grade")
        if not 1 <= self.min_income_months <= 12:
            raise InvalidInput("The months of income needed must be 1 to 12.", field="min_income_months")

    @classmethod
    def from_parameters(cls, year: int, division: str, parameters: Mapping[str, Any]) -> RuleSet:
        """The rules of stored parameters (``PARAMETERS``; missing ones take their defaults).
        Unknown or mistyped parameters are refused, naming the field."""
        values: dict[str, Any] = {}
        for name, value in parameters.items():
            kind = PARAMETERS.get(name)
            if kind is None:
                raise InvalidInput("Unknown monitoring rule parameter: {name}", field=name, name=name)
            try:
                if kind is frozenset:
                    if isinstance(value, str) or not isinstance(value, (list, tuple, set, frozenset)):
                        raise TypeError(name)
                    values[name] = frozenset(str(v) for v in value)
                elif kind is int:
                    if isinstance(value, bool) or float(value) != int(value):
                        raise TypeError(name)
                    values[name] = int(value)
                else:
                    if isinstance(value, bool):
                        raise TypeError(name)
                    values[name] = float(value)
            except (TypeError, ValueError) as exc:
                raise InvalidInput("{field} is not a valid value.", field=name) from exc
        return cls(year=year, division=division, **values)

    def parameters(self) -> dict[str, Any]:
        """The parameters as stored (JSON): ``from_parameters`` of them gives the same rules."""
        out = asdict(self)
        del out["year"], out["division"]
        out["enabled"] = sorted(self.enabled)
        return out


# The parameters a region sets (their defaults are RuleSet's): name → type.
PARAMETERS: dict[str, type] = {
    "income_threshold_fen": int,
    "marginal_factor": float,
    "sharp_drop_ratio": float,
    "medical_burden_ratio": float,
    "disaster_loss_ratio": float,
    "disability_max_grade": int,
    "min_income_months": int,
    "enabled": frozenset,
}


FLAG_COLUMNS = ("household_id", "division_code", "reason", "source_feed", "source_key", "value")


def _flags(t: ir.Table, reason: str, feed: str, key: Any, value: Any) -> ir.Table:
    import ibis

    return t.select(household_id=t.household_id, division_code=t.division_code, reason=ibis.literal(reason),
                    source_feed=ibis.literal(feed), source_key=key.cast("string"), value=value.cast("int64"))


# Names an intermediate table that several rules read and gives it back as the rules should
# read it: as it is (one expression, Spark plans it as a whole) or computed once and stored
# (DuckDB, which would otherwise compute it again for each rule that reads it).
Materialize = Callable[[str, "ir.Table"], "ir.Table"]


def _as_is(_name: str, table: ir.Table) -> ir.Table:
    return table


def _of_year(column: Any, year: int, first_month: int = 1, last_month: int = 12) -> Any:
    """``column`` (a date) falls within those months of ``year``: a range of dates compared as they
    are stored, where ``year()`` and ``month()`` of every row cost a conversion each."""
    import ibis

    start = ibis.date(year, first_month, 1)
    end = ibis.date(year + 1, 1, 1) if last_month == 12 else ibis.date(year, last_month + 1, 1)
    return (column >= start) & (column < end)


def flag_expression(tables: Mapping[str, ir.Table], rules: RuleSet, materialize: Materialize = _as_is) -> ir.Table:
    """Every household's flags (``FLAG_COLUMNS``) as one Ibis expression over the feeds; the
    households, their income and wages, and the records of residents that some rule reads, pass
    ``materialize``.

    The household registration is the largest feed (one row per resident): it is read three times,
    for the households, for the wages and pensions, and once for every other feed keyed by resident
    (the records of those feeds that a rule may read, as one union, joined to their households once;
    joined feed by feed it was read once for each)."""
    import ibis

    people = tables["household_registration"]
    if rules.division != "520000":
        people = people.filter(people.division_code.startswith(division_prefix(rules.division) or rules.division))
    households = materialize("households", people.group_by("household_id").aggregate(
        division_code=people.division_code.max(), size=people.count()))
    # read where it is used: stored, a copy of every resident would take GBs at province scale
    member = people.select("resident_id", "household_id", "division_code")
    on = rules.enabled

    survey = tables["agriculture_income"]
    survey = survey.filter(_of_year(survey.month, rules.year))
    # The survey is monthly and a household's months may be missing: its income is measured over
    # the months reported (their mean × 12), the quarters' as their months' means, and the number
    # of months is kept so that a figure resting on too few of them is a data gap, not a low income.
    # floor(): DuckDB rounds a double cast to an integer where Spark truncates it. Months are
    # counted as rows: a stored feed version has one row per household and month (a second one is
    # rejected as a duplicate), and count(DISTINCT month) took 7x the time of the aggregation.
    income = materialize("income", survey.group_by("household_id").aggregate(
        reported=survey.per_capita_income_fen.sum(),
        months=survey.month.count(),
        first3=survey.per_capita_income_fen.sum(where=survey.month < ibis.date(rules.year, 4, 1)),
        first_months=survey.month.count(where=survey.month < ibis.date(rules.year, 4, 1)),
        last3=survey.per_capita_income_fen.sum(where=survey.month >= ibis.date(rules.year, 10, 1)),
        last_months=survey.month.count(where=survey.month >= ibis.date(rules.year, 10, 1)),
    ))
    income = income.mutate(annual=(income.reported * 12 / income.months).floor().cast("int64"))
    # Urban households are not in the rural income survey: wages and pensions stand in for income.
    # Records with no wage, no pension and neither employed nor unemployed (pupils, people out of
    # the labour force) add nothing to either: they are left out before the join, not after it.
    work = tables["human_resources"]
    work = work.filter(work.status.isin(["employed", "unemployed"])
                       | ((work.monthly_wage_fen + work.monthly_pension_fen) != 0))
    hr = work.join(member.select("resident_id", "household_id"), "resident_id")
    wages = materialize("wages", hr.group_by("household_id").aggregate(
        earned=(hr.monthly_wage_fen + hr.monthly_pension_fen).sum() * 12,
        employed=(hr.status == "employed").cast("int64").sum(),
        unemployed=(hr.status == "unemployed").cast("int64").sum()))
    base = households.left_join(income, "household_id").left_join(wages, "household_id")
    base = materialize("base", base.select(
        "household_id", "division_code", "size",
        per_capita=ibis.coalesce(base.annual, (base.earned / base.size).cast("int64"), ibis.literal(0)),
        first3=base.first3, last3=base.last3, first_months=ibis.coalesce(base.first_months, 0),
        last_months=ibis.coalesce(base.last_months, 0), months=ibis.coalesce(base.months, 0),
        employed=ibis.coalesce(base.employed, 0), unemployed=ibis.coalesce(base.unemployed, 0),
        surveyed=base.annual.notnull()))
    threshold = rules.income_threshold_fen
    marginal = int(threshold * rules.marginal_factor)
    parts: list[ir.Table] = []

    # The records of the feeds keyed by resident that the enabled rules read: (resident, feed, value).
    def records(feed: str, t: ir.Table, value: Any) -> ir.Table:
        return t.select(resident_id=t.resident_id, feed=ibis.literal(feed), value=value.cast("int64"))

    wanted: list[ir.Table] = []
    if "medical_burden" in on:
        claims = tables["medical_insurance"]
        claims = claims.filter(_of_year(claims.claim_date, rules.year))
        wanted.append(records("medical_insurance", claims, claims.out_of_pocket_fen))
    if "serious_illness" in on:
        wanted.append(records("health", tables["health"], ibis.literal(1)))
    if "education_dropout" in on:
        pupils = tables["education"]
        wanted.append(records("education", pupils.filter(pupils.status == "dropped_out"), ibis.literal(1)))
    if "severe_disability" in on:
        disabled = tables["disabled_persons"]
        severe = disabled.filter(disabled.grade <= rules.disability_max_grade)
        wanted.append(records("disabled_persons", severe, severe.grade))
    resident = None
    if wanted:
        union = ibis.union(*wanted, distinct=False)
        resident = materialize("resident_records", union.join(member, "resident_id"))

    # Surveyed on too few months to judge: a visit, not a verdict of low income.
    gap = base.surveyed & (base.months < rules.min_income_months)
    if "income_below_threshold" in on:
        low = base.filter((base.per_capita < threshold) & ~gap)
        parts.append(_flags(low, "income_below_threshold",
                            "agriculture_income", low.household_id, low.per_capita))
    if "income_data_gap" in on:
        unsure = base.filter(gap & (base.per_capita < marginal))
        parts.append(_flags(unsure, "income_data_gap", "agriculture_income", unsure.household_id, unsure.months))
    if "sharp_income_drop" in on:
        # the last quarter's monthly mean against the first's (last3/last_months < first3/first_months …)
        drop = base.filter(base.surveyed & (base.first3 > 0) & (base.last_months > 0)
                           & (base.last3 * base.first_months
                              < base.first3 * base.last_months * (1 - rules.sharp_drop_ratio)))
        parts.append(_flags(drop, "sharp_income_drop", "agriculture_income", drop.household_id, drop.last3))
    if "medical_burden" in on and resident is not None:
        claimed = resident.filter(resident.feed == "medical_insurance")
        spent = claimed.group_by("household_id").aggregate(out_of_pocket=claimed.value.sum())
        heavy = base.join(spent, "household_id")
        heavy = heavy.filter(heavy.out_of_pocket > heavy.per_capita * heavy.size * rules.medical_burden_ratio)
        parts.append(_flags(heavy, "medical_burden", "medical_insurance", heavy.household_id, heavy.out_of_pocket))
    if "serious_illness" in on and resident is not None:
        ill = resident.filter(resident.feed == "health")
        ill = ill.join(base.select("household_id", "per_capita"), "household_id")
        ill = ill.filter(ill.per_capita < marginal)  # an illness in a household of low income
        parts.append(_flags(ill, "serious_illness", "health", ill.resident_id, ibis.literal(1)))
    if "education_dropout" in on and resident is not None:
        out = resident.filter(resident.feed == "education")
        parts.append(_flags(out, "education_dropout", "education", out.resident_id, ibis.literal(1)))
    if "unsafe_housing" in on:
        housing = tables["housing"]
        bad = housing.filter(housing.grade.isin(["C", "D"])).join(base.select("household_id", "division_code"),
                                                                    "household_id")
        parts.append(_flags(bad, "unsafe_housing", "housing", bad.household_id,
                            ibis.cases((bad.grade == "D", 4), else_=3)))
    if "unsafe_drinking_water" in on:
        water = tables["water"]
        unsafe = water.filter(~water.drinking_water_safe).join(base.select("household_id", "division_code"),
                                                                 "household_id")
        parts.append(_flags(unsafe, "unsafe_drinking_water", "water", unsafe.household_id, ibis.literal(0)))
    if "severe_disability" in on and resident is not None:
        severe = resident.filter(resident.feed == "disabled_persons")
        severe = severe.join(base.select("household_id", "per_capita"), "household_id")
        severe = severe.filter(severe.per_capita < marginal)
        parts.append(_flags(severe, "severe_disability", "disabled_persons", severe.resident_id, severe.value))
    if "no_employment" in on:
        idle = base.filter((base.employed == 0) & (base.unemployed > 0) & (base.per_capita < marginal))
        parts.append(_flags(idle, "no_employment", "human_resources", idle.household_id, idle.unemployed))
    if "disaster_loss" in on:
        events = tables["emergency"]
        events = events.filter(_of_year(events.event_date, rules.year))
        lost = events.join(base.select("household_id", "division_code", "per_capita", "size"), "household_id")
        lost = lost.filter(lost.loss_fen > lost.per_capita * lost.size * rules.disaster_loss_ratio)
        parts.append(_flags(lost, "disaster_loss", "emergency",
                            lost.household_id.concat("@", lost.event_date.cast("string")), lost.loss_fen))
    if not parts:
        return _flags(base.limit(0), "none", "none", base.household_id, base.size)
    return ibis.union(*parts, distinct=False)


def household_expression(tables: Mapping[str, ir.Table], flags: ir.Table, rules: RuleSet) -> ir.Table:
    """One row per flagged household: its reasons and the proposed monitored type."""
    import ibis

    lifted = tables["agriculture_households"].select("household_id", "lifted_out_of_poverty",
                                                     "annual_income_per_capita_fen")
    per = flags.group_by(["household_id", "division_code"]).aggregate(
        reasons=flags.reason.collect(distinct=True),
        sudden=flags.reason.isin(list(SUDDEN_RULES)).cast("int64").sum(),
        low_income=(flags.reason == "income_below_threshold").cast("int64").sum())
    joined = per.left_join(lifted, "household_id")
    proposed = ibis.cases(
        (joined.lifted_out_of_poverty.fill_null(False), ibis.literal(UNSTABLE_LIFTED)),
        ((joined.low_income > 0) | (joined.sudden == 0), ibis.literal(MARGINAL)),
        else_=ibis.literal(SUDDEN_DIFFICULTY))
    return joined.select("household_id", "division_code", reasons=joined.reasons.sort(), proposed_type=proposed)


Feeds = Path | Mapping[str, Sequence[Path]]


def feed_files(feeds: Feeds) -> dict[str, list[Path]]:
    """Each feed's Parquet files: a folder holds ``<feed>.parquet``; a mapping (a run over stored
    feed versions) names several files of one feed (counties' uploads), read as one table."""
    if isinstance(feeds, Path):
        return {feed: [feeds / f"{feed}.parquet"] for feed in FEEDS}
    return {feed: list(feeds[feed]) for feed in FEEDS}


def _schema(files: Sequence[Path]) -> pa.Schema:
    import pyarrow.parquet as pq

    return pq.read_schema(files[0])


@dataclass
class RunResult:
    flags: pa.Table
    households: pa.Table


def run_duckdb(feeds: Feeds, rules: RuleSet, limits: Limits | None = None,
               temp_directory: Path | None = None) -> RunResult:
    """Run the rules on a bounded DuckDB connection (core/analytics.py) that may read only the feeds.

    Ibis only compiles here; the SQL runs on the base's bounded connection (whose locked
    configuration an Ibis backend could not even open). The households, their income and the
    flags are each computed once into a temporary table: as one statement, DuckDB computed the
    shared parts again for every rule that read them, and the flags twice (once for themselves,
    once under the households): 3.7x the CPU time of the bare join of the same feeds, then 1.4-1.6x.
    The records of the small feeds keyed by resident are stored too, joined to their households in
    one pass over the household registration instead of one per feed, and dates are compared as
    ranges rather than through ``year()``/``month()`` of each row: about 20 % less CPU time again
    (docs/monitoring.md, "Measured").
    """
    import ibis

    from qianshu.core.analytics import BoundedConnection, connect

    files = feed_files(feeds)
    readable = [feeds] if isinstance(feeds, Path) else [path for paths in files.values() for path in paths]
    # Rows in any order (the answers are ordered at the end): DuckDB then need not hold a
    # statement's rows back to keep their order, which at province scale ran past the memory limit.
    with connect(limits or Limits(), readable=readable, temp_directory=temp_directory,
                 options={"preserve_insertion_order": False}) as con:
        bounded = cast("BoundedConnection", con)
        for feed, paths in files.items():
            quoted = ", ".join("'" + str(path.absolute()).replace("'", "''") + "'" for path in paths)
            # paths of ours, quoted: the feed names are constants; union_by_name: columns in any order
            bounded.execute(f"CREATE VIEW feed_{feed} AS SELECT * FROM read_parquet([{quoted}], "  # noqa: S608
                            "union_by_name = true)")

        def materialize(name: str, table: ir.Table) -> ir.Table:
            # the names are the rules' own constants, not input
            bounded.execute(f"CREATE TEMP TABLE run_{name} AS {ibis.to_sql(table, dialect='duckdb')}")
            return ibis.table(table.schema(), name=f"run_{name}")

        tables = {feed: ibis.table(ibis.Schema.from_pyarrow(_schema(paths)), name=f"feed_{feed}")
                  for feed, paths in files.items()}
        flagged = materialize("flags", flag_expression(tables, rules, materialize))
        households = household_expression(tables, flagged, rules)
        # ordered so that two engines' answers compare row for row
        flags = bounded.arrow(ibis.to_sql(flagged.order_by(list(FLAG_COLUMNS)), dialect="duckdb"))
        per_household = bounded.arrow(ibis.to_sql(households.order_by("household_id"), dialect="duckdb"))
    # DuckDB widens sums to DECIMAL(38,0) before the cast; the flags' values are whole fen or counts.
    position = flags.schema.get_field_index("value")
    flags = flags.set_column(position, "value", flags["value"].cast(pa.int64()))
    return RunResult(flags=flags, households=per_household)


def run_spark(feeds: Feeds, rules: RuleSet, spark: Any) -> RunResult:
    """Run the same rules in a Spark session (``pyspark``: local mode in the tests, a cluster for a
    nation-sized population), through Ibis's Spark backend."""
    import ibis

    con = ibis.pyspark.connect(spark)
    for feed, paths in feed_files(feeds).items():
        spark.read.parquet(*(str(path.absolute()) for path in paths)).createOrReplaceTempView(f"feed_{feed}")
    tables = {feed: con.table(f"feed_{feed}") for feed in FEEDS}
    flags = flag_expression(tables, rules)
    households = household_expression(tables, flags, rules)
    return RunResult(flags=con.to_pyarrow(flags.order_by(list(FLAG_COLUMNS))),
                     households=con.to_pyarrow(households.order_by("household_id")))
