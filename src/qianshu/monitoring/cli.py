"""``qianshu monitoring``: the synthetic population of Guizhou and its departments' feeds.

Imports of the generator stay inside the commands: ``qianshu --help`` imports this module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from qianshu.core.cli_support import JsonOutput, bilingual, fail, get_console, print_json

monitoring_app = typer.Typer(name="monitoring", help="Return-to-poverty monitoring: the synthetic population.",
                             no_args_is_help=True)


def install(root: typer.Typer) -> None:
    root.add_typer(monitoring_app)


@monitoring_app.command()
def generate(
    out: Annotated[Path, typer.Argument(help="Folder for the feeds (one Parquet file per feed).")],
    scope: Annotated[list[str] | None, typer.Option(
        "--division", help="County or prefecture code (repeatable); none: the whole province.")] = None,
    scale: Annotated[float, typer.Option(help="Share of the census's residents, in (0, 1].")] = 1.0,
    seed: Annotated[int, typer.Option(help="Same seed, same population.")] = 2020,
    year: Annotated[int | None, typer.Option(help="The feeds' year (default: this year).")] = None,
    as_json: JsonOutput = False,
) -> None:
    """Generate a synthetic population of Guizhou (2020 census sizes) and every department's feed."""
    from qianshu.monitoring.population import generate as run

    if not 0 < scale <= 1:
        raise fail(bilingual("The scale must be more than 0 and at most 1."))
    console = get_console(stderr=as_json)
    try:
        summary = run(out, scope=scope or None, scale=scale, seed=seed, year=year,
                      progress=lambda county, n: console.print(f"{county.code} {county.name}: {n:,}"))
    except ValueError as exc:
        raise fail(bilingual("Unknown division code: {codes}", codes=str(exc).partition(": ")[2])) from exc
    if as_json:
        print_json({"residents": summary.residents, "households": summary.households, "seed": summary.seed,
                    "year": summary.year, "scale": summary.scale, "rows": summary.rows,
                    "files": {k: str(v) for k, v in summary.files.items()}})
        return
    console.print(bilingual("{residents} residents in {households} households written to {folder}",
                            residents=f"{summary.residents:,}", households=f"{summary.households:,}",
                            folder=str(out)))


@monitoring_app.command("run")
def run_rules(
    feeds: Annotated[Path, typer.Argument(help="Folder of feeds (one Parquet file per feed).")],
    year: Annotated[int, typer.Option(help="The year whose rules apply.")],
    threshold: Annotated[float, typer.Option(help="Income threshold, yuan per person a year.")] = 7800.0,
    division: Annotated[str, typer.Option(help="The region the rules are for (GB/T 2260).")] = "520000",
    engine: Annotated[str, typer.Option(help="duckdb, or spark (needs pyspark and Java).")] = "duckdb",
    as_json: JsonOutput = False,
) -> None:
    """Run the monitoring rules over a folder of feeds: households flagged, by reason and type."""
    from collections import Counter

    from qianshu.core.errors import InvalidInput
    from qianshu.monitoring.population import FEEDS
    from qianshu.monitoring.rules import RuleSet, run_duckdb, run_spark

    missing = [feed for feed in FEEDS if not (feeds / f"{feed}.parquet").is_file()]
    if missing:
        raise fail(bilingual("Feeds missing from {folder}: {feeds}", folder=str(feeds), feeds=", ".join(missing)))
    try:
        rules = RuleSet(year=year, division=division, income_threshold_fen=round(threshold * 100))
    except InvalidInput as exc:
        raise fail(exc.bilingual()) from exc
    if engine == "spark":
        from pyspark.sql import SparkSession

        spark = SparkSession.builder.master("local[*]").appName("qianshu-monitoring").getOrCreate()
        try:
            result = run_spark(feeds, rules, spark)
        finally:
            spark.stop()
    elif engine == "duckdb":
        result = run_duckdb(feeds, rules)
    else:
        raise fail(bilingual("Unknown engine {engine}: duckdb or spark.", engine=engine))
    reasons = Counter(result.flags.column("reason").to_pylist())
    types = Counter(result.households.column("proposed_type").to_pylist())
    if as_json:
        print_json({"households": result.households.num_rows, "reasons": dict(reasons), "types": dict(types)})
        return
    console = get_console()
    console.print(bilingual("{count} households flagged", count=f"{result.households.num_rows:,}"))
    for reason, count in reasons.most_common():
        console.print(f"  {reason}: {count:,}")
    for kind, count in types.most_common():
        console.print(f"  {kind}: {count:,}")
