"""Benchmark: the monitoring rules over Guizhou's synthetic population, against two baselines.

    python benchmarks/monitoring.py [--scale 1.0] [--pandas-residents 5000000] [--spark-county 520402]
                                    [--data-dir benchmarks/.data] [--threads 2] [--memory 6GB]

Generates (once per scale and seed; reused afterwards) the province's feeds as Parquet with
``monitoring/population.py``: 38.6 million residents at ``--scale 1``. Then, in one run:

1. the rules (``monitoring/rules.py``) on the bounded DuckDB connection: time and peak RSS;
2. baseline A: a bare ten-table join-filter-group-by of the same feeds in DuckDB (the least any
   engine must do to look at every feed once), with the same limits;
3. baseline B: the same rules written in pandas, over a subset of about ``--pandas-residents``
   residents (whole counties), compared per resident;
4. the same rules in Spark (local mode) over one county, timed, and checked identical to DuckDB.

Prints each figure and the ratios the issue names: rules / bare join (goal within 2x), seconds
for the province (goal under 60 s), pandas / rules per resident (goal at least 10x), peak RSS
(goal under 8 GB).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from qianshu.core.analytics import BoundedConnection, Limits, connect  # noqa: E402
from qianshu.monitoring.population import FEEDS, county_residents, generate  # noqa: E402
from qianshu.monitoring.rules import RuleSet, run_duckdb, run_spark  # noqa: E402

YEAR = 2025
SEED = 2020

BARE_JOIN = """
WITH people AS (SELECT resident_id, household_id, division_code FROM feed_household_registration),
survey AS (SELECT household_id, sum(per_capita_income_fen) AS income FROM feed_agriculture_income GROUP BY 1),
claims AS (SELECT household_id, sum(out_of_pocket_fen) AS oop FROM feed_medical_insurance
           JOIN people USING (resident_id) GROUP BY 1),
work AS (SELECT household_id, sum(monthly_wage_fen) AS wage FROM feed_human_resources JOIN people USING (resident_id)
         GROUP BY 1),
ill AS (SELECT DISTINCT household_id FROM feed_health JOIN people USING (resident_id)),
school AS (SELECT DISTINCT household_id FROM feed_education JOIN people USING (resident_id)
           WHERE status = 'dropped_out'),
disabled AS (SELECT DISTINCT household_id FROM feed_disabled_persons JOIN people USING (resident_id) WHERE grade <= 2),
homes AS (SELECT household_id, max(grade) AS grade FROM feed_housing GROUP BY 1),
water AS (SELECT household_id, bool_and(drinking_water_safe) AS safe FROM feed_water GROUP BY 1),
loss AS (SELECT household_id, sum(loss_fen) AS loss FROM feed_emergency GROUP BY 1),
households AS (SELECT household_id, any_value(division_code) AS division_code, count(*) AS size FROM people GROUP BY 1)
SELECT left(h.division_code, 6) AS county, count(*) AS households
FROM households h
LEFT JOIN survey USING (household_id) LEFT JOIN claims USING (household_id) LEFT JOIN work USING (household_id)
LEFT JOIN ill i USING (household_id) LEFT JOIN school s USING (household_id) LEFT JOIN disabled d USING (household_id)
LEFT JOIN homes USING (household_id) LEFT JOIN water USING (household_id) LEFT JOIN loss USING (household_id)
WHERE coalesce(survey.income, work.wage * 12 / h.size, 0) < 780000 OR claims.oop > 100000 OR i.household_id IS NOT NULL
   OR s.household_id IS NOT NULL OR d.household_id IS NOT NULL OR homes.grade IN ('C', 'D') OR NOT water.safe
   OR loss.loss > 0
GROUP BY 1 ORDER BY 1
"""


def rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def cpu_seconds() -> float:
    """This process's CPU time (DuckDB's threads included): on a shared machine the wall clock
    counts other people's work too, so both are printed and the ratios given in each."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def feeds_for(data_dir: Path, scale: float, scope: list[str] | None, name: str) -> Path:
    out = data_dir / f"{name}-{scale:g}-{SEED}"
    if not (out / "done.json").exists():
        started = time.perf_counter()
        summary = generate(out, scope=scope, scale=scale, seed=SEED, year=YEAR)
        (out / "done.json").write_text(json.dumps({"residents": summary.residents, "households": summary.households,
                                                   "seconds": time.perf_counter() - started}))
    return out


def bare_join(feeds: Path, limits: Limits, temp: Path) -> tuple[float, float]:
    """Wall and CPU seconds of the bare join."""
    with connect(limits, readable=[feeds], temp_directory=temp) as con:
        for feed in FEEDS:
            con.execute(f"CREATE VIEW feed_{feed} AS SELECT * FROM read_parquet('{feeds / feed}.parquet')")
        started, cpu = time.perf_counter(), cpu_seconds()
        BoundedConnection.arrow(con, BARE_JOIN)  # type: ignore[arg-type]
        return time.perf_counter() - started, cpu_seconds() - cpu


def pandas_rules(feeds: Path, rules: RuleSet) -> tuple[float, int]:
    """The rules in pandas (the same definitions as monitoring/rules.py); returns seconds and flagged households."""
    import pandas as pd

    started = time.perf_counter()
    read = {feed: pd.read_parquet(feeds / f"{feed}.parquet") for feed in FEEDS}
    people = read["household_registration"][["resident_id", "household_id", "division_code"]]
    size = people.groupby("household_id").size().rename("size")
    survey = read["agriculture_income"]
    survey = survey[pd.to_datetime(survey["month"]).dt.year == rules.year]
    month = pd.to_datetime(survey["month"]).dt.month
    # income over the months reported (their mean × 12); the quarters compared as monthly means
    by = survey.groupby("household_id")
    months = by["month"].count().rename("months")
    income = (by["per_capita_income_fen"].sum() * 12 // months).rename("annual")
    quarters = []
    for name, rows in (("first", survey[month <= 3]), ("last", survey[month >= 10])):
        quarter = rows.groupby("household_id")
        quarters += [quarter["per_capita_income_fen"].sum().rename(f"{name}3"),
                     quarter["month"].count().rename(f"{name}_months")]
    hr = read["human_resources"].merge(people, on="resident_id")
    earned = ((hr["monthly_wage_fen"] + hr["monthly_pension_fen"]).groupby(hr["household_id"]).sum() * 12)
    employed = (hr["status"] == "employed").groupby(hr["household_id"]).sum()
    unemployed = (hr["status"] == "unemployed").groupby(hr["household_id"]).sum()
    base = pd.concat([size, income, months, *quarters, earned.rename("earned"), employed.rename("employed"),
                      unemployed.rename("unemployed")], axis=1)
    base["per_capita"] = base["annual"].fillna((base["earned"] / base["size"]).fillna(0).astype("int64"))
    threshold = rules.income_threshold_fen
    marginal = threshold * rules.marginal_factor
    flagged: set[str] = set()
    gap = base["annual"].notna() & (base["months"].fillna(0) < rules.min_income_months)
    flagged |= set(base.index[(base["per_capita"] < threshold) & ~gap])
    flagged |= set(base.index[gap & (base["per_capita"] < marginal)])  # a data gap to visit
    falling = (base["last3"] * base["first_months"]
               < base["first3"] * base["last_months"] * (1 - rules.sharp_drop_ratio))
    drop = base["annual"].notna() & (base["first3"] > 0) & (base["last_months"].fillna(0) > 0) & falling
    flagged |= set(base.index[drop])
    claims = read["medical_insurance"]
    claims = claims[pd.to_datetime(claims["claim_date"]).dt.year == rules.year].merge(people, on="resident_id")
    spent = claims.groupby("household_id")["out_of_pocket_fen"].sum()
    heavy = spent[spent > (base["per_capita"] * base["size"] * rules.medical_burden_ratio).reindex(spent.index)]
    flagged |= set(heavy.index)
    low = set(base.index[base["per_capita"] < marginal])
    flagged |= set(read["health"].merge(people, on="resident_id")["household_id"]) & low
    pupils = read["education"]
    flagged |= set(pupils[pupils["status"] == "dropped_out"].merge(people, on="resident_id")["household_id"])
    homes = read["housing"]
    flagged |= set(homes[homes["grade"].isin(["C", "D"])]["household_id"])
    water = read["water"]
    flagged |= set(water[~water["drinking_water_safe"]]["household_id"])
    disabled = read["disabled_persons"]
    flagged |= set(disabled[disabled["grade"] <= 2].merge(people, on="resident_id")["household_id"]) & low
    idle = (base["employed"].fillna(0) == 0) & (base["unemployed"].fillna(0) > 0) & (base["per_capita"] < marginal)
    flagged |= set(base.index[idle])
    events = read["emergency"]
    events = events[pd.to_datetime(events["event_date"]).dt.year == rules.year]
    lost = events.merge(base[["per_capita", "size"]], left_on="household_id", right_index=True)
    heavy_loss = lost["loss_fen"] > lost["per_capita"] * lost["size"] * rules.disaster_loss_ratio
    flagged |= set(lost[heavy_loss]["household_id"])
    flagged &= set(people["household_id"])
    return time.perf_counter() - started, len(flagged)


def counties_up_to(residents: int, scale: float) -> list[str]:
    chosen, total = [], 0
    for code, n in sorted(county_residents().items()):
        if total >= residents:
            break
        chosen.append(code)
        total += round(n * scale)
    return chosen


def add_province_arguments(parser: argparse.ArgumentParser, scale: float) -> None:
    """The arguments this benchmark shares with benchmarks/monitoring_cases.py."""
    parser.add_argument("--scale", type=float, default=scale, help="share of the census's residents (1: 38.6 million)")
    parser.add_argument("--data-dir", type=Path, default=ROOT / "benchmarks" / ".data")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--memory", default="6GB")


def province_feeds(args: argparse.Namespace) -> tuple[Path, dict[str, Any], Path]:
    """The province's feeds at ``--scale`` (generated once), what generated them, a spill folder."""
    args.data_dir.mkdir(parents=True, exist_ok=True)
    temp = args.data_dir / "spill"
    temp.mkdir(exist_ok=True)
    province = feeds_for(args.data_dir, args.scale, None, "province")
    return province, json.loads((province / "done.json").read_text()), temp


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_province_arguments(parser, 1.0)
    parser.add_argument("--pandas-residents", type=int, default=5_000_000)
    parser.add_argument("--spark-county", default="520402", help="the county the Spark run covers ('' to skip)")
    args = parser.parse_args()
    limits = Limits(memory_limit=args.memory, threads=args.threads, query_seconds=3600)
    rules = RuleSet(year=YEAR)

    province, facts, temp = province_feeds(args)
    print(f"province: {facts['residents']:,} residents, {facts['households']:,} households "
          f"(generated in {facts['seconds']:.0f} s)")

    print(f"load average before the run: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    baseline, baseline_cpu = bare_join(province, limits, temp)
    print(f"baseline A, bare ten-table join in DuckDB: {baseline:.1f} s ({baseline_cpu:.1f} CPU-s)")
    started, cpu = time.perf_counter(), cpu_seconds()
    result = run_duckdb(province, rules, limits, temp_directory=temp)
    seconds, rules_cpu = time.perf_counter() - started, cpu_seconds() - cpu
    print(f"rules on DuckDB: {seconds:.1f} s ({rules_cpu:.1f} CPU-s), {result.households.num_rows:,} households "
          f"flagged, {result.flags.num_rows:,} flags; peak RSS {rss_gb():.2f} GB")
    print(f"  rules / bare join: {seconds / baseline:.2f}x wall, {rules_cpu / baseline_cpu:.2f}x CPU (goal <= 2x); "
          f"province in {seconds:.1f} s (goal < 60 s)")

    if args.pandas_residents:
        subset = counties_up_to(args.pandas_residents, args.scale)
        feeds = feeds_for(args.data_dir, args.scale, subset, f"pandas-{len(subset)}")
        residents = json.loads((feeds / "done.json").read_text())["residents"]
        cpu = cpu_seconds()
        pandas_seconds, pandas_flagged = pandas_rules(feeds, rules)
        pandas_cpu = cpu_seconds() - cpu
        started = time.perf_counter()
        same = run_duckdb(feeds, rules, limits, temp_directory=temp)
        duck_seconds = time.perf_counter() - started
        print(f"baseline B, the rules in pandas over {residents:,} residents: {pandas_seconds:.1f} s "
              f"({pandas_cpu:.1f} CPU-s; {pandas_flagged:,} households; DuckDB {same.households.num_rows:,} "
              f"in {duck_seconds:.1f} s)")
        per_pandas = pandas_seconds / residents
        per_rules = seconds / facts["residents"]
        per_cpu = (pandas_cpu / residents) / (rules_cpu / facts["residents"])
        print(f"  pandas / rules per resident: {per_pandas / per_rules:.1f}x wall, {per_cpu:.1f}x CPU (goal >= 10x)")

    if args.spark_county:
        from pyspark.sql import SparkSession

        feeds = feeds_for(args.data_dir, args.scale, [args.spark_county], f"county-{args.spark_county}")
        spark = (SparkSession.builder.master(f"local[{args.threads}]").config("spark.ui.enabled", "false")
                 .config("spark.sql.session.timeZone", "UTC").getOrCreate())
        try:
            started = time.perf_counter()
            on_spark = run_spark(feeds, rules, spark)
            spark_seconds = time.perf_counter() - started
        finally:
            spark.stop()
        on_duckdb = run_duckdb(feeds, rules, limits, temp_directory=temp)
        print(f"Spark (local[{args.threads}]) over county {args.spark_county}: {spark_seconds:.1f} s; "
              f"identical to DuckDB: {on_spark.flags.to_pylist() == on_duckdb.flags.to_pylist()}")
    print(f"peak RSS of the run: {rss_gb():.2f} GB (goal < 8 GB)")


if __name__ == "__main__":
    main()
