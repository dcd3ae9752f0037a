"""XLSX reading stays within the memory goal for any workbook (issue 9): the shared strings are
kept on disk, a row is bounded, and what cannot be read is refused naming the file, suggesting CSV."""

from __future__ import annotations

import datetime as dt
import tracemalloc
import zipfile
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest

from qianshu.registry import ingest
from tests.registry.test_bad_input import fails, run

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/sharedStrings.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>')
ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
    'relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>')
WORKBOOK = (
    f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{MAIN}" xmlns:r="http://schemas.openxmlformats.org/'
    'officeDocument/2006/relationships"><sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>')
WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
    'relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" '
    'Target="sharedStrings.xml"/></Relationships>')
TWO_ROWS = ('<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c></row>'
            '<row r="2"><c r="A2" t="s"><v>2</v></c><c r="B2" t="s"><v>3</v></c></row>')


def _strings(count: int) -> Iterator[bytes]:
    for start in range(0, count, 1000):
        yield "".join(f"<si><t>s{i:x}</t></si>" for i in range(start, min(count, start + 1000))).encode()


def build_xlsx(path: Path, strings: Iterator[bytes], rows: Iterator[bytes] | None = None) -> Path:
    """A workbook written as a stream: small on disk and in memory, however much it expands to."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", CONTENT_TYPES)
        archive.writestr("_rels/.rels", ROOT_RELS)
        archive.writestr("xl/workbook.xml", WORKBOOK)
        archive.writestr("xl/_rels/workbook.xml.rels", WORKBOOK_RELS)
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{MAIN}"><sheetData>'.encode())
            for block in rows if rows is not None else iter([TWO_ROWS.encode()]):
                sheet.write(block)
            sheet.write(b"</sheetData></worksheet>")
        with archive.open("xl/sharedStrings.xml", "w", force_zip64=True) as table:
            table.write(f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{MAIN}">'.encode())
            for block in strings:
                table.write(block)
            table.write(b"</sst>")
    return path


def test_a_workbook_whose_shared_strings_expand_beyond_the_limit_is_refused(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(ingest, "XLSX_MAX_SHARED_STRINGS", 1024 * 1024)  # 1 GB in production
    hostile = build_xlsx(tmp_path / "huge-strings.xlsx", _strings(150_000))  # about 3 MB of strings
    assert hostile.stat().st_size < 1024 * 1024
    error = fails(tmp_path, hostile, "CSV")
    assert "huge-strings.xlsx" in error.render("en")
    assert "文本表" in error.render("zh")


@pytest.mark.slow  # tracemalloc slows the parse down several times
def test_shared_strings_are_read_from_disk_not_held_in_memory(tmp_path: Path) -> None:
    path = build_xlsx(tmp_path / "many.xlsx", _strings(60_000))  # 1.3 MB of XML: openpyxl would hold ~10 MB
    with zipfile.ZipFile(path) as archive, archive.open("xl/sharedStrings.xml") as source:
        tracemalloc.start()
        table = ingest._DiskStrings(source, tmp_path / "strings")
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    try:
        assert len(table) == 60_000
        assert (table[0], table[1], table[59_999]) == ("s0", "s1", f"s{59_999:x}")
        with pytest.raises(IndexError):
            table[60_000]
    finally:
        table.close()
    assert peak < 2 * 1024 * 1024, peak
    result = run(tmp_path, path)
    assert result.stats.row_count == 1
    assert result.stats.columns[0].name == "s0"


def test_the_disk_table_reads_what_openpyxl_reads(tmp_path: Path) -> None:
    from openpyxl.reader.strings import read_string_table

    rich = [b"<si><t>plain</t></si>", b"<si><t/></si>", b'<si><t xml:space="preserve"> spaced </t></si>',
            b"<si><r><rPr><b/></rPr><t>\xe5\xaf\x8c</t></r><r><t>text</t></r><rPh sb='0' eb='1'><t>fu</t></rPh></si>",
            b"<si><t>a_x005F_x000D_b &amp; &lt;c&gt;</t></si>"]
    path = build_xlsx(tmp_path / "rich.xlsx", iter(rich))
    with zipfile.ZipFile(path) as archive:
        with archive.open("xl/sharedStrings.xml") as source:
            expected = read_string_table(source)
        with archive.open("xl/sharedStrings.xml") as source:
            table = ingest._DiskStrings(source, tmp_path / "strings")
    try:
        assert [table[i] for i in range(len(table))] == expected
    finally:
        table.close()


def test_an_oversized_row_is_refused(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(ingest, "XLSX_MAX_ROW_BYTES", 256 * 1024)  # 16 MB in production
    wide_text = (f'<row r="1"><c r="A1" t="inlineStr"><is><t>{"x" * 300_000}</t></is></c></row>'.encode() for _ in [0])
    fails(tmp_path, build_xlsx(tmp_path / "long-row.xlsx", _strings(4), wide_text), "CSV")
    cells = (b'<row r="1">' + b'<c t="s"><v>0</v></c>' * 20_000 + b"</row>" for _ in [0])
    error = fails(tmp_path, build_xlsx(tmp_path / "wide-row.xlsx", _strings(4), cells), "16384 cells")
    assert "wide-row.xlsx" in error.render("zh")


def test_xml_that_excel_does_not_write_is_refused(tmp_path: Path) -> None:
    hidden = (b"<!-- <row r='1'> -->" + TWO_ROWS.encode() for _ in [0])
    fails(tmp_path, build_xlsx(tmp_path / "comment.xlsx", _strings(4), hidden), "CSV")


def test_a_row_number_far_beyond_excels_limit_is_refused_at_once(tmp_path: Path) -> None:
    far = (TWO_ROWS.encode() + b'<row r="999999999999"><c t="s"><v>1</v></c></row>' for _ in [0])
    fails(tmp_path, build_xlsx(tmp_path / "far.xlsx", _strings(4), far), "1048576 rows")


def test_an_ordinary_workbook_still_reads_with_dates_numbers_and_text(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["名称", "日期", "数量"])
    for i in range(20):
        ws.append([f"商品{i}", dt.date(2025, 1, 1 + i), i * 1.5])
    wb.save(tmp_path / "ok.xlsx")
    result = run(tmp_path, tmp_path / "ok.xlsx")
    assert result.stats.row_count == 20
    assert [c.name for c in result.stats.columns] == ["名称", "日期", "数量"]
