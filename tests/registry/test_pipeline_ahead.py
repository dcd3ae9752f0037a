"""`qianshu register` runs the pipeline while it starts up (registry/ahead.py): its result is the
job's only for the very bytes stored; otherwise the job runs the pipeline itself."""

from __future__ import annotations

import csv
import os
from pathlib import Path

from qianshu.registry.ahead import PipelineAhead
from qianshu.registry.ingest import SourceFile
from qianshu.registry.pipeline import run_pipeline
from qianshu.registry.spreadsheets import IngestOptions
from tests.registry.conftest import people_rows, write_csv


def _summary(result) -> tuple[object, ...]:  # type: ignore[no-untyped-def]
    return (result.stats.row_count, [(c.name, c.inferred_type, c.null_count) for c in result.stats.columns],
            sorted((f.column, f.kind) for f in result.findings), result.files[0].encoding)


def _ahead_folder(settings) -> Path:  # type: ignore[no-untyped-def]
    return settings.work_dir / "registry"


def test_the_result_ahead_is_the_pipeline_of_the_same_file(gb_csv, tmp_path, settings) -> None:
    ahead = PipelineAhead([gb_csv], settings).start()
    try:
        result = ahead.result_for([SourceFile(tmp_path / "stored-copy", gb_csv.name)])
        assert result is not None
        direct = run_pipeline([SourceFile(gb_csv, gb_csv.name)], tmp_path / "direct")
        assert _summary(result) == _summary(direct)
        assert result.measurements["row_count"] == direct.measurements["row_count"] == 300
    finally:
        ahead.close()
    assert list(_ahead_folder(settings).iterdir()) == []  # its work folder is gone


def test_a_file_changed_meanwhile_or_other_files_get_no_result(tmp_path, settings) -> None:
    path = write_csv(tmp_path / "people.csv", people_rows(50))
    ahead = PipelineAhead([path], settings).start()
    try:
        with path.open("a", encoding="utf-8", newline="") as fh:  # written to after the pipeline started
            csv.writer(fh).writerows(people_rows(1, seed=2))
        os.utime(path, ns=(1, 1))
        assert ahead.result_for([SourceFile(path, path.name)]) is None
    finally:
        ahead.close()
    ahead = PipelineAhead([path], settings).start()
    try:
        assert ahead.result_for([SourceFile(path, "other-name.csv")]) is None
        assert ahead.result_for([SourceFile(path, path.name, IngestOptions(header_row=2))]) is None
        assert ahead.result_for([SourceFile(path, path.name), SourceFile(path, path.name)]) is None
        assert ahead.result_for([SourceFile(path, path.name)]) is not None
    finally:
        ahead.close()


def test_closing_stops_the_pipeline_and_removes_its_folder(tmp_path, settings) -> None:
    path = write_csv(tmp_path / "people.csv", people_rows(2000))
    ahead = PipelineAhead([path], settings).start()
    ahead.close()
    assert not any(_ahead_folder(settings).iterdir())
