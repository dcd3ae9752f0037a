"""Monitoring rules: as data, traced to their sources, the same on DuckDB and on Spark."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from qianshu.core.errors import InvalidInput
from qianshu.monitoring.population import generate
from qianshu.monitoring.rules import (
    MARGINAL,
    RULES,
    SUDDEN_DIFFICULTY,
    UNSTABLE_LIFTED,
    RuleSet,
    run_duckdb,
    run_spark,
)

COUNTY = "520402"  # 西秀区


@pytest.fixture(scope="module")
def feeds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("feeds")
    generate(out, scope=[COUNTY], scale=0.05, seed=11, year=2025)
    return out


def _reasons(flags: pa.Table) -> dict[str, int]:
    counts = flags.group_by("reason").aggregate([("household_id", "count")]).to_pylist()
    return {row["reason"]: row["household_id_count"] for row in counts}


def test_every_rule_fires_and_every_flag_is_traced_to_a_record_of_its_feed(feeds: Path) -> None:
    result = run_duckdb(feeds, RuleSet(year=2025))
    reasons = _reasons(result.flags)
    assert set(reasons) <= set(RULES)
    assert {"income_below_threshold", "unsafe_housing", "serious_illness", "sharp_income_drop"} <= set(reasons)
    con = duckdb.connect()
    for flag in result.flags.to_pylist():
        feed = feeds / f"{flag['source_feed']}.parquet"
        key = "resident_id" if "resident_id" in pq.read_schema(feed).names else "household_id"
        source_key = flag["source_key"].split("@")[0]
        if key == "resident_id" and source_key == flag["household_id"]:  # a household's records, summed
            source = (f"(SELECT * FROM read_parquet('{feed}') AS f JOIN read_parquet("
                      f"'{feeds / 'household_registration.parquet'}') AS p USING (resident_id))")
            key = "household_id"
        else:
            source = f"read_parquet('{feed}')"
        [(found,)] = con.execute(f"SELECT count(*) FROM {source} WHERE {key} = ?", [source_key]).fetchall()
        assert found >= 1, flag
    # Households flagged: a plausible share of the county's, each with its reasons and a type.
    [(households,)] = con.execute(f"SELECT count(DISTINCT household_id) FROM read_parquet("
                                  f"'{feeds / 'household_registration.parquet'}')").fetchall()
    assert 0.005 < result.households.num_rows / households < 0.15
    assert set(result.households.column("proposed_type").to_pylist()) <= {UNSTABLE_LIFTED, MARGINAL,
                                                                          SUDDEN_DIFFICULTY}


def test_rules_are_data_a_higher_threshold_flags_more_and_a_disabled_rule_nothing(feeds: Path) -> None:
    low = run_duckdb(feeds, RuleSet(year=2025, income_threshold_fen=600_000))
    high = run_duckdb(feeds, RuleSet(year=2025, income_threshold_fen=1_000_000))
    assert _reasons(high.flags)["income_below_threshold"] > _reasons(low.flags)["income_below_threshold"]
    without = run_duckdb(feeds, RuleSet(year=2025, enabled=frozenset(RULES) - {"unsafe_housing"}))
    assert "unsafe_housing" not in _reasons(without.flags)
    # The feeds are of 2025: a run for 2024 finds no income survey, claims or disasters of its year.
    other_year = _reasons(run_duckdb(feeds, RuleSet(year=2024)).flags)
    assert not {"sharp_income_drop", "medical_burden", "disaster_loss"} & set(other_year)


def _copy(feeds: Path, to: Path) -> pa.Table:
    """A copy of the feeds in ``to``; gives back its income survey."""
    for path in feeds.iterdir():
        (to / path.name).write_bytes(path.read_bytes())
    return pq.read_table(to / "agriculture_income.parquet")


def _with_months(survey: pa.Table, households: dict[str, tuple[int, int]]) -> pa.Table:
    """The survey where each of ``households`` reports only its first ``months`` months, each of
    ``fen`` per head: (months, fen)."""
    keep = pc.invert(pc.is_in(survey["household_id"], value_set=pa.array(list(households))))
    rows = [{"household_id": h, "month": date(2025, m, 1), "per_capita_income_fen": fen}
            for h, (months, fen) in households.items() for m in range(1, months + 1)]
    return pa.concat_tables([survey.filter(keep), pa.Table.from_pylist(rows, schema=survey.schema)])


def test_income_is_measured_over_the_months_reported_and_too_few_months_are_a_data_gap(
        feeds: Path, tmp_path: Path) -> None:
    survey = _copy(feeds, tmp_path)
    rural = pc.unique(survey["household_id"]).to_pylist()
    half_year_fine, half_year_poor, two_months = rural[:3]
    # 800 yuan a head a month (9,600 a year, above the 7,800 threshold) over six months: summed as
    # they stand the months make 4,800, which flagged the household as poor because months were missing.
    pq.write_table(_with_months(survey, {half_year_fine: (6, 80_000), half_year_poor: (6, 50_000),
                                         two_months: (2, 40_000)}), tmp_path / "agriculture_income.parquet")
    result = run_duckdb(tmp_path, RuleSet(year=2025))
    flags: dict[str, dict[str, int]] = {}
    for flag in result.flags.to_pylist():
        flags.setdefault(flag["household_id"], {})[flag["reason"]] = flag["value"]
    assert "income_below_threshold" not in flags.get(half_year_fine, {})
    assert "income_data_gap" not in flags.get(half_year_fine, {})
    # 500 yuan a month over six months: 6,000 a year, below the threshold, and the flag says so.
    assert flags[half_year_poor]["income_below_threshold"] == 600_000
    # Two months cannot tell: a data gap to visit, naming the months the figure rests on.
    assert flags[two_months]["income_data_gap"] == 2
    assert "income_below_threshold" not in flags[two_months]
    # A region that asks for fewer months judges the same household on its two months.
    lenient = run_duckdb(tmp_path, RuleSet(year=2025, min_income_months=2))
    reasons = {f["reason"] for f in lenient.flags.to_pylist() if f["household_id"] == two_months}
    assert "income_below_threshold" in reasons
    assert "income_data_gap" not in reasons


def test_a_sharp_drop_in_a_household_above_the_threshold_proposes_sudden_difficulty(feeds: Path,
                                                                                    tmp_path: Path) -> None:
    survey = _copy(feeds, tmp_path)
    lifted = pq.read_table(tmp_path / "agriculture_households.parquet")
    candidates = lifted.filter(pc.invert(lifted["lifted_out_of_poverty"]))
    target = candidates.filter(pc.greater(candidates["annual_income_per_capita_fen"], 2_500_000))[
        "household_id"][0].as_py()
    mine = pc.equal(survey["household_id"], target)
    month = pc.month(survey["month"])
    # 60,000 yuan a year for the first half, then a tenth of it: still above the threshold in total.
    income = pc.if_else(mine, pc.if_else(pc.less_equal(month, 6), 1_000_000, 100_000),
                        survey["per_capita_income_fen"])
    pq.write_table(survey.set_column(2, "per_capita_income_fen", income), tmp_path / "agriculture_income.parquet")
    result = run_duckdb(tmp_path, RuleSet(year=2025))
    household = [h for h in result.households.to_pylist() if h["household_id"] == target]
    assert household, "the household with the drop is not flagged"
    assert "sharp_income_drop" in household[0]["reasons"]
    assert "income_below_threshold" not in household[0]["reasons"]


@pytest.mark.parametrize("bad", [{"income_threshold_fen": 0}, {"marginal_factor": 0.5},
                                 {"sharp_drop_ratio": 5.0}, {"min_income_months": 0},
                                 {"enabled": frozenset({"astrology"})}])
def test_absurd_rules_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(InvalidInput) as refused:
        RuleSet(year=2025, **bad)  # type: ignore[arg-type]
    assert refused.value.field in bad
    assert refused.value.render("zh") != refused.value.render("en")


@pytest.mark.slow
def test_spark_and_duckdb_flag_the_same_households_for_the_same_reasons(feeds: Path, tmp_path: Path) -> None:
    pyspark = pytest.importorskip("pyspark.sql")
    # Every seventh rural household misses its first 0 to 10 months: annualised incomes and data gaps.
    survey = _copy(feeds, tmp_path)
    rural = {h: i % 11 for i, h in enumerate(pc.unique(survey["household_id"]).to_pylist()) if i % 7 == 0}
    missing = pa.array([rural.get(h, 0) for h in survey["household_id"].to_pylist()], pa.int64())
    pq.write_table(survey.filter(pc.greater(pc.month(survey["month"]), missing)),
                   tmp_path / "agriculture_income.parquet")
    feeds = tmp_path
    spark = (pyspark.SparkSession.builder.master("local[1]").appName("qianshu-monitoring-test")
             .config("spark.ui.enabled", "false").config("spark.sql.session.timeZone", "UTC")
             # One partition per shuffle (the feeds are a few thousand rows) and a JVM tuned to start
             # quickly (no optimising JIT tier, one GC thread): a short job of one core, as here,
             # spent most of its time in them (about half the test's time on the 2-core CI machine).
             .config("spark.sql.shuffle.partitions", "1")
             .config("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC").getOrCreate())
    try:
        rules = RuleSet(year=2025)
        on_spark = run_spark(feeds, rules, spark)
        on_duckdb = run_duckdb(feeds, rules)
    finally:
        spark.stop()
    assert on_duckdb.flags.num_rows > 100
    assert "income_data_gap" in set(on_duckdb.flags["reason"].to_pylist())
    assert on_spark.flags.to_pylist() == on_duckdb.flags.to_pylist()
    assert on_spark.households.to_pylist() == on_duckdb.households.to_pylist()
