"""Every bad input of issue 3 ends in a clear bilingual error or a correct result."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from qianshu.core.errors import InvalidInput
from qianshu.core.i18n import translate
from qianshu.registry.pipeline import SourceFile, run_pipeline
from tests.registry.conftest import people_rows, write_csv


def run(tmp_path: Path, *paths: Path):  # type: ignore[no-untyped-def]
    return run_pipeline([SourceFile(p, p.name) for p in paths], tmp_path / "work")


def fails(tmp_path: Path, path: Path, fragment: str) -> InvalidInput:
    with pytest.raises(InvalidInput) as info:
        run(tmp_path, path)
    error = info.value
    assert fragment in error.render("en"), error.render("en")
    zh = error.render("zh")
    assert zh != error.render("en"), f"no Chinese for: {error.message}"
    assert "{" not in zh
    return error


def test_utf8_bom_and_utf8(tmp_path: Path) -> None:
    bom = write_csv(tmp_path / "bom.csv", people_rows(50), encoding="utf-8-sig")
    plain = write_csv(tmp_path / "plain.csv", people_rows(50, seed=2))
    result = run(tmp_path, bom, plain)
    assert [f.encoding for f in result.files] == ["UTF-8 (BOM)", "UTF-8"]
    assert result.stats.row_count == 100
    assert result.stats.columns[0].name == "姓名"  # the BOM is not part of the first header


def test_xlsx_parquet_jsonl(tmp_path: Path) -> None:
    import openpyxl
    import pyarrow as pa
    import pyarrow.parquet as pq

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["站点", "温度", "日期"])
    for i in range(30):
        ws.append([f"贵阳{i}", 20.5 + i, f"2025-06-{i % 28 + 1:02d}"])
    wb.save(tmp_path / "w.xlsx")
    pq.write_table(pa.table({"a": list(range(10)), "b": ["x"] * 10}), tmp_path / "d.parquet")
    (tmp_path / "d.jsonl").write_text("\n".join(json.dumps({"k": i, "v": "值"}, ensure_ascii=False)
                                                for i in range(5)), encoding="utf-8")
    assert run(tmp_path, tmp_path / "w.xlsx").stats.row_count == 30
    assert run(tmp_path, tmp_path / "d.parquet").stats.row_count == 10
    assert run(tmp_path, tmp_path / "d.jsonl").stats.row_count == 5


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "e.csv").write_bytes(b"")
    fails(tmp_path, tmp_path / "e.csv", "empty")


def test_header_only(tmp_path: Path) -> None:
    (tmp_path / "h.csv").write_text("a,b\n")
    fails(tmp_path, tmp_path / "h.csv", "no data rows")


def test_binary_named_csv(tmp_path: Path) -> None:
    (tmp_path / "b.csv").write_bytes(bytes(range(256)) * 100)
    fails(tmp_path, tmp_path / "b.csv", "binary")


def test_ragged_rows_are_padded(tmp_path: Path) -> None:
    (tmp_path / "r.csv").write_text("a,b,c\n1,2,3\n4,5\n6,7,8\n")
    result = run(tmp_path, tmp_path / "r.csv")
    assert result.stats.row_count == 3
    assert result.stats.columns[2].null_count == 1


def test_duplicate_and_empty_headers(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("a,a,,b\n1,2,3,4\n5,6,7,8\n")
    result = run(tmp_path, tmp_path / "d.csv")
    assert [c.name for c in result.stats.columns] == ["a", "a_2", "column_3", "b"]
    assert result.measurements["renamed_headers"] == 2


def test_a_header_duckdb_reads_otherwise_keeps_the_names_of_the_file(tmp_path: Path) -> None:
    """DuckDB takes the single quotes of ``'x'`` for quoting; the names are the header's as
    written, whether the rows are copied in one pass or renamed after."""
    (tmp_path / "q.csv").write_text("'x',y\n'1',2\n'3',4\n")
    result = run(tmp_path, tmp_path / "q.csv")
    assert [c.name for c in result.stats.columns] == ["'x'", "y"]
    assert result.stats.row_count == 2
    assert result.measurements["renamed_headers"] == 0


@pytest.mark.slow
def test_ten_thousand_columns(tmp_path: Path) -> None:
    wide(tmp_path, 10_000)


def test_a_thousand_columns_take_the_wide_path(tmp_path: Path) -> None:
    wide(tmp_path, 1_000)


def wide(tmp_path: Path, n: int) -> None:
    header = ",".join(f"c{i}" for i in range(n))
    rows = "\n".join(",".join(str(r * i % 97) for i in range(n)) for r in range(3))
    (tmp_path / "wide.csv").write_text(header + "\n" + rows + "\n")
    result = run(tmp_path, tmp_path / "wide.csv")
    assert result.stats.row_count == 3
    assert len(result.stats.columns) == n
    # in the file's order (beyond 2,048 columns they came shuffled)
    assert [c.name for c in result.stats.columns] == [f"c{i}" for i in range(n)]
    assert [c.position for c in result.stats.columns] == list(range(n))


@pytest.mark.slow
def test_fifty_megabyte_cell(tmp_path: Path) -> None:
    with (tmp_path / "cell.csv").open("w") as fh:
        fh.write("id,doc\n1,")
        fh.write("文" * (17 * 1024 * 1024))  # 3 bytes each: ~51 MB
        fh.write("\n2,short\n")
    result = run(tmp_path, tmp_path / "cell.csv")
    assert result.stats.row_count == 2
    assert result.stats.columns[1].max_length == 17 * 1024 * 1024


def test_a_long_quoted_cell_keeps_its_commas_and_quotes(tmp_path: Path) -> None:
    # A cell longer than DuckDB's default line (2 MB) is read with standard CSV quoting.
    cell = '他说："好，", a, b' * 200_000
    with (tmp_path / "doc.csv").open("w", encoding="utf-8") as fh:
        fh.write('id,doc\n1,"' + cell.replace('"', '""') + '"\n2,short\n')
    result = run(tmp_path, tmp_path / "doc.csv")
    assert result.stats.row_count == 2
    doc = result.stats.columns[1]
    assert doc.max_length == len(cell)
    assert doc.max_value == cell[:200]


def test_mixed_encodings(tmp_path: Path) -> None:
    head = ("a,b\n" + "正常,1\n" * 300_000).encode("utf-8")
    (tmp_path / "m.csv").write_bytes(head + "乱码,2\n".encode("gbk"))
    fails(tmp_path, tmp_path / "m.csv", "mixes text encodings")


def test_gbk_then_utf8(tmp_path: Path) -> None:
    head = ("a,b\n" + "正常,1\n" * 300_000).encode("gb18030")
    (tmp_path / "m.csv").write_bytes(head + b"\xff\xff,2\n")
    fails(tmp_path, tmp_path / "m.csv", "mixes text encodings")


def test_xlsx_zip_bomb(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * (200 * 1024 * 1024))
    (tmp_path / "bomb.xlsx").write_bytes(buffer.getvalue())
    fails(tmp_path, tmp_path / "bomb.xlsx", "zip bomb")


def test_parquet_with_corrupted_footer(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"a": list(range(1000))}), tmp_path / "c.parquet")
    data = bytearray((tmp_path / "c.parquet").read_bytes())
    data[-12:-4] = b"\xff" * 8
    (tmp_path / "c.parquet").write_bytes(bytes(data))
    fails(tmp_path, tmp_path / "c.parquet", "its footer is missing")


def test_parquet_cut_short_in_upload(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"a": list(range(10_000))}), tmp_path / "t.parquet")
    data = (tmp_path / "t.parquet").read_bytes()
    (tmp_path / "t.parquet").write_bytes(data[: len(data) // 2])
    error = fails(tmp_path, tmp_path / "t.parquet", "the upload may have been cut short")
    assert "上传可能被中途截断" in error.render("zh")


def test_parquet_with_a_damaged_data_page_names_the_rows_its_footer_promised(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"a": list(range(100_000)), "s": [str(i) * 3 for i in range(100_000)]})
    pq.write_table(table, tmp_path / "p.parquet", row_group_size=10_000, compression="gzip")
    data = bytearray((tmp_path / "p.parquet").read_bytes())
    data[1000:200_000] = b"\x55" * 199_000  # the pages, not the footer
    (tmp_path / "p.parquet").write_bytes(bytes(data))
    error = fails(tmp_path, tmp_path / "p.parquet", "its footer reads (100,000 rows)")
    assert "数据页无法解码" in error.render("zh")


def test_messages_are_translated() -> None:
    assert translate("{file}: the file is empty.", "zh", file="x.csv") == "x.csv：文件为空。"
