"""Feeds: hostile files, versions, parameters as data, and a run end to end through the job worker."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from openpyxl import Workbook
from sqlalchemy.orm import Session

from qianshu.core import jobs
from qianshu.core.actor import Actor
from qianshu.core.blobs import open_blob_store
from qianshu.core.db import Database
from qianshu.core.errors import InvalidInput, PermissionDenied
from qianshu.core.settings import Settings
from qianshu.monitoring import feeds, feeds_read_models, rulesets, runs
from qianshu.monitoring.feeds import Upload, store_feed
from qianshu.monitoring.models import MonitoringRun
from qianshu.monitoring.population import FEEDS, generate
from qianshu.monitoring.rules import RuleSet, run_duckdb
from tests.factories import Factories

COUNTY = "520402"
YEAR = 2025


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("feeds")
    generate(out, scope=[COUNTY], scale=0.02, seed=11, year=YEAR)
    return out


@pytest.fixture
def admin(make: Factories) -> Actor:
    org = make.org(org_type="government", name="贵州省大数据发展管理局")
    return make.actor(make.user(organisation=org, org_role="monitoring_admin", jurisdiction="520000"))


@pytest.fixture
def department(make: Factories) -> Actor:
    org = make.org(org_type="government", name="安顺市西秀区民政局")
    return make.actor(make.user(organisation=org, org_role="member", jurisdiction=COUNTY))


def _csv(table: pa.Table, encoding: str = "utf-8") -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(table.column_names)
    for row in table.to_pylist():
        writer.writerow(["" if v is None else (str(v).lower() if isinstance(v, bool) else v) for v in row.values()])
    return buffer.getvalue().encode(encoding)


def _store(db: Session, actor: Actor, settings: Settings, path: Path, feed: str, **kwargs: Any) -> Any:
    upload = Upload(feed=feed, year=kwargs.pop("year", YEAR), division=kwargs.pop("division", COUNTY),
                    name=kwargs.pop("name", path.name), **kwargs)
    return store_feed(db, actor, open_blob_store(settings), path, upload)


def test_a_gb18030_csv_with_bad_rows_keeps_the_good_ones_and_lists_the_others(
        db: Session, department: Actor, settings: Settings, generated: Path, tmp_path: Path) -> None:
    table = pq.read_table(generated / "household_registration.parquet").slice(0, 200)
    rows = table.to_pylist()
    rows[3]["resident_id"] = rows[3]["resident_id"][:17] + ("0" if rows[3]["resident_id"][17] != "0" else "1")
    rows[5]["division_code"] = "520102001001"  # another county's village
    rows[7]["birth_date"] = None
    rows[9]["sex"] = "男"
    rows[9]["name"] = "=HYPERLINK(\"http://x\")"  # a formula, in a rejected row
    rows.append(dict(rows[0]))  # a duplicate
    path = tmp_path / "户籍.csv"
    path.write_bytes(_csv(pa.Table.from_pylist(rows, schema=table.schema), "gb18030"))
    version = _store(db, department, settings, path, "household_registration")
    assert (version.source_encoding, version.version) == ("gb18030", 1)
    assert (version.rows_total, version.rows_accepted, version.rows_rejected) == (201, 196, 5)
    assert version.findings["rejected_by_reason"] == {"resident_id": 1, "division": 1, "missing": 1, "value": 1,
                                                      "duplicate": 1}
    rejects = open_blob_store(settings).path(version.rejects_digest).read_bytes().decode("utf-8-sig")
    lines = list(csv.reader(io.StringIO(rejects)))
    assert lines[0][:4] == ["row", "reason", "原因", "reason_en"]
    assert [line[0] for line in lines[1:]] == ["4", "6", "8", "10", "201"]
    assert "居民身份" in lines[1][2] or "公民身份" in lines[1][2]
    assert lines[4][4 + table.column_names.index("name")].startswith("'=")
    stored = pq.read_table(open_blob_store(settings).path(version.rows_digest))
    assert stored.schema.equals(table.schema)
    # The same file again: version 2, and the run reads the newest.
    again = _store(db, department, settings, path, "household_registration")
    assert again.version == 2
    assert feeds.current_versions(db, YEAR, COUNTY)["household_registration"] == [again]


def test_hostile_files_are_refused_in_both_languages_and_leave_nothing(
        db: Session, department: Actor, settings: Settings, generated: Path, tmp_path: Path) -> None:
    source = (generated / "medical_insurance.parquet").read_bytes()
    truncated = tmp_path / "claims.parquet"
    truncated.write_bytes(source[: len(source) // 2])
    gbk = tmp_path / "claims.csv"
    gbk.write_bytes("resident_id,备注\n520402199001011234,张三\n".encode("gb18030"))
    wrong_year = tmp_path / "claims-2024.parquet"
    claims = pq.read_table(generated / "medical_insurance.parquet")
    pq.write_table(claims, wrong_year)
    missing = tmp_path / "nocols.csv"
    missing.write_text("resident_id,claim_date\n", encoding="utf-8")
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    cases: list[tuple[Path, dict[str, Any], str]] = [
        (truncated, {}, "file"), (gbk, {"encoding": "utf-8"}, "encoding"), (wrong_year, {"year": 2024}, "year"),
        (missing, {}, "file"), (empty, {}, "file"),
    ]
    for path, kwargs, field in cases:
        with pytest.raises(InvalidInput) as refused:
            _store(db, department, settings, path, "medical_insurance", **kwargs)
        assert refused.value.field == field, path
        assert refused.value.render("zh") != refused.value.render("en"), refused.value.render("en")
    assert feeds.current_versions(db, 2024, COUNTY)["medical_insurance"] == []
    assert feeds.current_versions(db, YEAR, COUNTY)["medical_insurance"] == []


def test_xlsx_feeds_are_read_and_another_county_is_refused(db: Session, department: Actor, settings: Settings,
                                                           generated: Path, tmp_path: Path) -> None:
    table = pq.read_table(generated / "housing.parquet")
    book = Workbook()
    sheet = book.active
    sheet.append(table.column_names)
    for row in table.to_pylist():
        sheet.append(list(row.values()))
    path = tmp_path / "住房.xlsx"
    book.save(path)
    version = _store(db, department, settings, path, "housing")
    assert (version.source_format, version.rows_accepted, version.rows_rejected) == ("xlsx", table.num_rows, 0)
    with pytest.raises(PermissionDenied):
        _store(db, department, settings, path, "housing", division="520102")


def test_conflicts_with_the_registration_are_reported(db: Session, department: Actor, settings: Settings,
                                                      generated: Path, tmp_path: Path) -> None:
    _store(db, department, settings, generated / "household_registration.parquet", "household_registration")
    civil = pq.read_table(generated / "civil_affairs.parquet")
    rows = civil.to_pylist()
    other = pq.read_table(generated / "household_registration.parquet").to_pylist()
    stranger = next(r for r in other if r["household_id"] != rows[0]["household_id"] and r["relation"] == "head")
    rows[0]["head_resident_id"] = stranger["resident_id"]
    path = tmp_path / "civil.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=civil.schema), path)
    version = _store(db, department, settings, path, "civil_affairs")
    assert version.findings["conflicts"]["count"] == 1
    assert version.findings["conflicts"]["examples"][0]["resident_id"] == stranger["resident_id"]
    assert f"1 名户主在户籍数据中属于另一户，例如 {stranger['resident_id']}" in \
        feeds_read_models.findings_lines(version.findings, "zh")


def test_an_income_survey_missing_whole_months_is_kept_and_the_months_are_named(
        db: Session, department: Actor, settings: Settings, generated: Path, tmp_path: Path) -> None:
    survey = pq.read_table(generated / "agriculture_income.parquet")
    month = pc.month(survey["month"])
    # March and April never arrived; December has not been reported yet (not a gap: the latest month).
    kept = survey.filter(pc.invert(pc.is_in(month, value_set=pa.array([3, 4, 12], pa.int64()))))
    path = tmp_path / "income.parquet"
    pq.write_table(kept, path)
    version = _store(db, department, settings, path, "agriculture_income")
    assert (version.rows_accepted, version.rows_rejected) == (kept.num_rows, 0)
    assert version.findings["missing_months"] == {COUNTY: [3, 4]}
    # the version's page says so in a sentence in the reader's language, not as the stored JSON
    assert f"{COUNTY}：3、4 月没有任何记录" in feeds_read_models.findings_lines(version.findings, "zh")
    assert f"{COUNTY}: no row for the months 3, 4" in feeds_read_models.findings_lines(version.findings, "en")
    complete = _store(db, department, settings, generated / "agriculture_income.parquet", "agriculture_income")
    assert "missing_months" not in complete.findings


def test_rules_read_the_configured_parameters_and_a_county_overrides_the_province(
        db: Session, admin: Actor, make: Factories, generated: Path) -> None:
    assert rulesets.rules_for(db, YEAR, COUNTY) == RuleSet(year=YEAR, division=COUNTY)
    rulesets.set_parameters(db, admin, YEAR, "520000", {"income_threshold_fen": 800_000, "sharp_drop_ratio": 0.4})
    rulesets.set_parameters(db, admin, YEAR, COUNTY, {"income_threshold_fen": 1_000_000})
    county = rulesets.effective(db, YEAR, COUNTY)
    assert county.rules.income_threshold_fen == 1_000_000
    assert county.rules.sharp_drop_ratio == 0.4
    assert county.sources["income_threshold_fen"] == COUNTY
    assert county.sources["sharp_drop_ratio"] == "520000"
    assert rulesets.rules_for(db, YEAR, "520102").income_threshold_fen == 800_000
    # History: a second edit is a new row, the first kept.
    rulesets.set_parameters(db, admin, YEAR, COUNTY, {"income_threshold_fen": 900_000}, note="typo")
    assert [r.parameters.get("income_threshold_fen") for r in rulesets.history(db, admin, YEAR, COUNTY)][:2] == [
        900_000, 1_000_000]
    # What the run reads flags more households than the defaults.
    more = run_duckdb(generated, rulesets.rules_for(db, YEAR, COUNTY)).households.num_rows
    assert more > run_duckdb(generated, RuleSet(year=YEAR, division=COUNTY)).households.num_rows
    with pytest.raises(InvalidInput) as refused:
        rulesets.set_parameters(db, admin, YEAR, COUNTY, {"sharp_drop_ratio": 3})
    assert refused.value.field == "sharp_drop_ratio"
    county_admin = make.actor(make.user(organisation=make.org(org_type="government"), org_role="monitoring_admin",
                                        jurisdiction=COUNTY))
    with pytest.raises(PermissionDenied):
        rulesets.set_parameters(db, county_admin, YEAR, "520000", {"income_threshold_fen": 1})
    rulesets.set_parameters(db, county_admin, YEAR, COUNTY, {"disability_max_grade": 3})
    plain = make.actor(make.user(organisation=make.org(org_type="government"), org_role="admin",
                                 jurisdiction="520000"))
    with pytest.raises(PermissionDenied):
        rulesets.set_parameters(db, plain, YEAR, COUNTY, {"disability_max_grade": 3})


def test_a_run_end_to_end_through_the_job_worker(db: Session, database: Database, settings: Settings,
                                                 admin: Actor, department: Actor, generated: Path) -> None:
    for feed in FEEDS:
        _store(db, department, settings, generated / f"{feed}.parquet", feed)
    rulesets.set_parameters(db, admin, YEAR, "520000", {"income_threshold_fen": 850_000})
    run = runs.start_run(db, admin, YEAR, COUNTY)
    assert runs.start_run(db, admin, YEAR, COUNTY).id == run.id  # the same inputs: the same run
    db.commit()
    jobs.run_pending(jobs.JobContext.build(database, settings), {"monitoring.run": runs.run_monitoring_job})
    db.expire_all()
    done = db.get_one(MonitoringRun, run.id)
    assert done.status == "succeeded", done.error
    expected = run_duckdb(generated, RuleSet(year=YEAR, division=COUNTY, income_threshold_fen=850_000))
    assert done.households_flagged == expected.households.num_rows > 0
    assert done.parameters["income_threshold_fen"] == 850_000
    flagged = runs.flagged_households(db, run.id)
    assert [f.household_id for f in flagged] == sorted(expected.households.column("household_id").to_pylist())
    first = flagged[0]
    assert first.village_code.startswith(first.township_code)
    assert first.township_code.startswith(first.county_code)
    assert first.reasons
    assert all(r.feed_version_ids for r in first.reasons)
    assert pq.read_table(open_blob_store(settings).path(done.result_digest)).num_rows == done.flags
    assert runs.flagged_households(db, run.id, division="520102") == []
    assert runs.latest_run(db, YEAR, COUNTY) == done
    # The job again (a crash and a retry): the households are replaced, not doubled.
    done.status = "running"
    db.commit()
    runs.run_monitoring_job(jobs.JobContext.build(database, settings), done.job_id or 0, lambda f, s="": None)
    assert len(runs.flagged_households(db, run.id)) == len(flagged)
    # A new feed version: a new run.
    _store(db, department, settings, generated / "housing.parquet", "housing")
    assert runs.start_run(db, admin, YEAR, COUNTY).id != run.id
