"""``qianshu monitoring``: the synthetic population of Guizhou, the departments' feeds, the rules'
parameters and the runs.

Imports of the generator stay inside the commands: ``qianshu --help`` imports this module.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from qianshu.core.cli_support import (
    DataDir,
    JsonOutput,
    bilingual,
    fail,
    get_console,
    open_database,
    print_json,
    settings_for,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from qianshu.core.actor import Actor
    from qianshu.core.settings import Settings

monitoring_app = typer.Typer(name="monitoring", help="Return-to-poverty monitoring: population, feeds, rules, runs.",
                             no_args_is_help=True)
feeds_app = typer.Typer(name="feeds", help="The departments' feeds: upload a file, list the versions.",
                        no_args_is_help=True)
rules_app = typer.Typer(name="rules", help="The rules' parameters of a year and a region.", no_args_is_help=True)
runs_app = typer.Typer(name="runs", help="Runs of the rules as jobs over the stored feeds.", no_args_is_help=True)
monitoring_app.add_typer(feeds_app)
monitoring_app.add_typer(rules_app)
monitoring_app.add_typer(runs_app)

AsUser = Annotated[str, typer.Option("--as", help="E-mail of the acting user (a government department's).")]
Year = Annotated[int, typer.Option(help="The year.")]
Division = Annotated[str, typer.Option(help="A county's code, or 520000 for the province.")]


def install(root: typer.Typer) -> None:
    root.add_typer(monitoring_app)


@contextmanager
def _session(data_dir: Path | None, email: str) -> Iterator[tuple[Session, Actor, Settings]]:
    from qianshu.accounts.service import active_user_by_email, actor_for
    from qianshu.core.errors import QianshuError

    settings = settings_for(data_dir)
    with open_database(settings) as database, database.unit_of_work() as db:
        user = active_user_by_email(db, email)
        if user is None:
            raise fail(bilingual("No active user with the e-mail {email}.", email=email))
        try:
            yield db, actor_for(user, via="cli", ip=None), settings
        except QianshuError as exc:
            raise fail(exc.bilingual()) from exc


def _version_json(v: Any) -> dict[str, Any]:
    return {"id": v.id, "feed": v.feed, "year": v.year, "division": v.division_code, "version": v.version,
            "format": v.source_format, "encoding": v.source_encoding, "rows": v.rows_total,
            "accepted": v.rows_accepted, "rejected": v.rows_rejected, "findings": v.findings,
            "uploaded_at": v.uploaded_at.isoformat()}


@feeds_app.command("upload")
def feeds_upload(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True,
                                         help="CSV (UTF-8 or GB18030), XLSX or Parquet.")],
    feed: Annotated[str, typer.Option(help="The feed (docs/monitoring.md), e.g. household_registration.")],
    year: Year,
    division: Division,
    as_user: AsUser,
    encoding: Annotated[str, typer.Option(help="auto, utf-8 or gb18030 (CSV only).")] = "auto",
    rejects: Annotated[Path | None, typer.Option(help="Write the rejected rows (CSV) here.")] = None,
    data_dir: DataDir = None,
    as_json: JsonOutput = False,
) -> None:
    """Validate a department's feed and keep its good rows as the feed's next version."""
    from qianshu.core.blobs import open_blob_store
    from qianshu.monitoring.feeds import Upload, store_feed

    with _session(data_dir, as_user) as (db, actor, settings):
        blobs = open_blob_store(settings)
        version = store_feed(db, actor, blobs, file, Upload(feed=feed, year=year, division=division,
                                                             name=file.name, encoding=encoding))
        db.flush()
        result = _version_json(version)
        if rejects is not None and version.rejects_digest:
            rejects.write_bytes(blobs.path(version.rejects_digest).read_bytes())
    if as_json:
        print_json(result)
        return
    get_console().print(bilingual("{feed} {year} {division}: version {version}, {accepted} rows kept, {rejected} "
                                  "rejected", feed=feed, year=year, division=division, version=result["version"],
                                  accepted=f"{result['accepted']:,}", rejected=f"{result['rejected']:,}"))


@feeds_app.command("list")
def feeds_list(
    as_user: AsUser,
    year: Annotated[int | None, typer.Option(help="Only this year.")] = None,
    feed: Annotated[str | None, typer.Option(help="Only this feed.")] = None,
    division: Annotated[str | None, typer.Option(help="Only this division.")] = None,
    data_dir: DataDir = None,
    as_json: JsonOutput = False,
) -> None:
    """The stored versions of the feeds, newest first."""
    from qianshu.monitoring.feeds import list_versions

    with _session(data_dir, as_user) as (db, actor, _settings):
        rows = [_version_json(v) for v in list_versions(db, actor, year=year, feed=feed, division=division)]
    if as_json:
        print_json(rows)
        return
    console = get_console()
    for r in rows:
        console.print(f"#{r['id']} {r['year']} {r['division']} {r['feed']} v{r['version']}: "
                      f"{r['accepted']:,} / {r['rows']:,} ({r['format']} {r['encoding']})")


@rules_app.command("show")
def rules_show(year: Year, division: Division = "520000", data_dir: DataDir = None,
               as_json: JsonOutput = False) -> None:
    """The parameters in force for a region in a year, and which division set each."""
    from qianshu.monitoring import rulesets

    with open_database(settings_for(data_dir)) as database, database.unit_of_work(write=False) as db:
        found = rulesets.effective(db, year, division)
    parameters = found.rules.parameters()
    result = {"parameters": parameters, "sources": found.sources, "rows": list(found.row_ids)}
    if as_json:
        print_json(result)
        return
    console = get_console()
    for name, value in parameters.items():
        console.print(f"{name} = {value}  [{found.sources[name] or 'default'}]")


@rules_app.command("set")
def rules_set(
    year: Year, division: Division, as_user: AsUser,
    assignments: Annotated[list[str], typer.Argument(help="name=value (enabled=a,b,c for the rules on).")],
    note: Annotated[str, typer.Option(help="Why.")] = "",
    data_dir: DataDir = None,
) -> None:
    """Set parameters of a year for a region (a new row of its history)."""
    import json

    from qianshu.monitoring import rulesets

    values: dict[str, Any] = {}
    for item in assignments:
        name, sep, raw = item.partition("=")
        if not sep:
            raise fail(bilingual("Expected name=value, got {item}", item=item))
        if name == "enabled":
            values[name] = [r for r in raw.split(",") if r]
        else:
            try:
                values[name] = json.loads(raw)
            except ValueError:
                values[name] = raw
    with _session(data_dir, as_user) as (db, actor, _settings):
        row = rulesets.set_parameters(db, actor, year, division, values, note)
        version = row.version
    get_console().print(bilingual("Parameters of {division} for {year}: version {version}", division=division,
                                  year=year, version=version))


def _run_json(run: Any) -> dict[str, Any]:
    return {"id": run.id, "year": run.year, "division": run.division_code, "status": run.status,
            "job_id": run.job_id, "feed_versions": run.feed_version_ids, "parameters": run.parameters,
            "households_flagged": run.households_flagged, "flags": run.flags, "reasons": run.reasons,
            "error": run.error}


@runs_app.command("start")
def runs_start(
    year: Year, division: Division, as_user: AsUser,
    force: Annotated[bool, typer.Option(help="A new run even if one has the same inputs.")] = False,
    wait: Annotated[bool, typer.Option(help="Run the job in this process and wait for it.")] = False,
    data_dir: DataDir = None,
    as_json: JsonOutput = False,
) -> None:
    """Start a run of the rules (a job) over the current feed versions and parameters."""
    from qianshu.core import jobs
    from qianshu.monitoring import runs

    with _session(data_dir, as_user) as (db, actor, settings):
        run_id = runs.start_run(db, actor, year, division, force=force).id
    if wait:
        with open_database(settings) as database:
            jobs.run_pending(jobs.JobContext.build(database, settings), {runs.JOB_KIND: runs.run_monitoring_job})
    runs_show(run_id, data_dir=data_dir, as_json=as_json)


@runs_app.command("show")
def runs_show(run_id: Annotated[int, typer.Argument(help="The run's number.")], data_dir: DataDir = None,
              as_json: JsonOutput = False) -> None:
    """A run's status and result."""
    from qianshu.monitoring.models import MonitoringRun

    with open_database(settings_for(data_dir)) as database, database.unit_of_work(write=False) as db:
        run = db.get(MonitoringRun, run_id)
        if run is None:
            raise fail(bilingual("No such monitoring run."))
        result = _run_json(run)
    if as_json:
        print_json(result)
        return
    console = get_console()
    console.print(bilingual("Run {id} ({year}, {division}): {status}, {count} households flagged", id=run_id,
                            year=result["year"], division=result["division"], status=result["status"],
                            count=f"{result['households_flagged']:,}"))
    for reason, count in sorted(result["reasons"].items(), key=lambda kv: -kv[1]):
        console.print(f"  {reason}: {count:,}")
    if result["error"]:
        console.print(result["error"])


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
    threshold: Annotated[float | None, typer.Option(
        help="Income threshold, yuan per person a year (default: the configured parameters).")] = None,
    division: Annotated[str, typer.Option(help="The region the rules are for (GB/T 2260).")] = "520000",
    engine: Annotated[str, typer.Option(help="duckdb, or spark (needs pyspark and Java).")] = "duckdb",
    configured: Annotated[bool, typer.Option(
        help="Read the parameters of the year and region from the data folder's database.")] = False,
    data_dir: DataDir = None,
    as_json: JsonOutput = False,
) -> None:
    """Run the monitoring rules over a folder of feeds: households flagged, by reason and type.

    The parameters are the defaults, or with --configured those set in the portal for the year and
    region; --threshold overrides the income threshold."""
    from collections import Counter

    from qianshu.core.errors import InvalidInput
    from qianshu.monitoring.population import FEEDS
    from qianshu.monitoring.rules import RuleSet, run_duckdb, run_spark

    missing = [feed for feed in FEEDS if not (feeds / f"{feed}.parquet").is_file()]
    if missing:
        raise fail(bilingual("Feeds missing from {folder}: {feeds}", folder=str(feeds), feeds=", ".join(missing)))
    try:
        if configured:
            from qianshu.monitoring.rulesets import rules_for

            with open_database(settings_for(data_dir)) as database, database.unit_of_work(write=False) as db:
                rules = rules_for(db, year, division)
        else:
            rules = RuleSet(year=year, division=division)
        if threshold is not None:
            rules = RuleSet.from_parameters(year, division, {**rules.parameters(),
                                                             "income_threshold_fen": round(threshold * 100)})
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
