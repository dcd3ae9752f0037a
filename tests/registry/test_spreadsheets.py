"""Spreadsheets as Chinese offices send them (issue 11, item 7): a title row above the header, a
merged two-level header, 合计 rows, several sheets, old .xls, .ods, and Excel's "Unicode text".

Every file is real and made here: XLSX with openpyxl, XLS with xlwt (a test dependency: no
LibreOffice on the machines), ODS written as its XML (the format is a zip of XML documents)."""

from __future__ import annotations

import codecs
import re
import zipfile
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import openpyxl
import pytest

from qianshu.core import jobs
from qianshu.core.i18n import LANG_COOKIE
from qianshu.registry import service
from qianshu.registry.ingest import SourceFile
from qianshu.registry.jobs import HANDLERS
from qianshu.registry.models import Registration
from qianshu.registry.pipeline import run_pipeline
from qianshu.registry.spreadsheets import IngestOptions
from tests.registry.helpers import process, sign_in
from tests.registry.test_bad_input import fails
from tests.registry.test_xlsx_limits import _strings, build_xlsx

TITLE = "2023年贵州省各县人口统计表"
UNIT = "单位：人"
COUNTIES = [("云岩区", 120, 115, "2023-12-31"), ("南明区", 98, 101, "2023-12-31"), ("花溪区", 70, 66, "2023-12-31")]
EXPECTED = ["地区", "人口|男", "人口|女", "统计日期"]


def report_rows() -> list[list[Any]]:
    """What the sheet holds, row by row: title, unit note, two header rows, data, a total row."""
    return [[TITLE], [UNIT], ["地区", "人口", None, "统计日期"], [None, "男", "女", None],
            *[list(r) for r in COUNTIES], ["合计", 288, 282, None]]


def write_xlsx(path: Path, sheets: dict[str, list[list[Any]]], merge: bool = True) -> Path:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append(row)
        if merge and rows and rows[0] == [TITLE]:
            ws.merge_cells("A1:D1")
            ws.merge_cells("B3:C3")
            ws.merge_cells("A3:A4")
    wb.save(path)
    return path


def write_xls(path: Path, sheets: dict[str, list[list[Any]]]) -> Path:
    xlwt = pytest.importorskip("xlwt")
    wb = xlwt.Workbook(encoding="utf-8")
    for name, rows in sheets.items():
        ws = wb.add_sheet(name)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if value is not None:
                    ws.write(r, c, value)
    wb.save(str(path))
    return path


def write_ods(path: Path, sheets: dict[str, list[list[Any]]], extra: str = "") -> Path:
    body = []
    for name, rows in sheets.items():
        body.append(f'<table:table table:name="{escape(name)}">')
        for row in rows:
            body.append("<table:table-row>")
            for v in row:
                if v is None:
                    body.append("<table:table-cell/>")
                elif isinstance(v, int | float):
                    body.append(f'<table:table-cell office:value-type="float" office:value="{v}"><text:p>{v}</text:p>'
                                "</table:table-cell>")
                else:
                    body.append(f'<table:table-cell office:value-type="string"><text:p>{escape(v)}</text:p>'
                                "</table:table-cell>")
            body.append('<table:table-cell table:number-columns-repeated="1020"/></table:table-row>')
        # what LibreOffice writes after the data: the rest of the sheet's rows, empty
        body.append('<table:table-row table:number-rows-repeated="1048560">'
                    '<table:table-cell table:number-columns-repeated="1024"/></table:table-row>')
        body.append(extra + "</table:table>")
    content = ('<?xml version="1.0" encoding="UTF-8"?><office:document-content '
               'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
               'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
               'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
               '<office:body><office:spreadsheet>' + "".join(body) + "</office:spreadsheet></office:body>"
               "</office:document-content>")
    manifest = ('<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:'
                'opendocument:xmlns:manifest:1.0" manifest:version="1.2"><manifest:file-entry manifest:full-path="/" '
                'manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/><manifest:file-entry '
                'manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>')
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        archive.writestr("META-INF/manifest.xml", manifest, compress_type=zipfile.ZIP_DEFLATED)
        archive.writestr("content.xml", content, compress_type=zipfile.ZIP_DEFLATED)
    return path


def run(tmp_path: Path, path: Path, options: IngestOptions | None = None):  # type: ignore[no-untyped-def]
    return run_pipeline([SourceFile(path, path.name, options or IngestOptions())], tmp_path / "work")


def names(result: Any) -> list[str]:
    return [c.name for c in result.stats.columns]


@pytest.mark.parametrize("kind", ["xlsx", "xls", "ods"])
def test_title_rows_two_level_header_and_total_rows(tmp_path: Path, kind: str) -> None:
    writer = {"xlsx": write_xlsx, "xls": write_xls, "ods": write_ods}[kind]
    path = writer(tmp_path / f"人口.{kind}", {"人口": report_rows()})
    result = run(tmp_path, path)
    assert names(result) == EXPECTED
    assert result.stats.row_count == 3  # the 合计 row is not data
    info = result.files[0]
    assert info.file_format == kind
    layout = info.layout.to_json()
    sheet = layout["sheets_read"][0]
    assert (sheet["header_row"], sheet["header_rows"]) == (3, 2)
    assert sheet["skipped_rows"] == [TITLE, UNIT]
    assert (sheet["total_count"], sheet["total_rows"]) == (1, [8])
    assert layout["joined_headers"] == ["人口|男", "人口|女"]
    types = {c.name: c.inferred_type for c in result.stats.columns}
    assert types["人口|男"] == "integer"


def test_a_workbook_too_large_for_calamine_is_read_the_same_way_row_by_row(tmp_path: Path, monkeypatch) -> None:
    from qianshu.registry import spreadsheets

    monkeypatch.setattr(spreadsheets, "CALAMINE_MAX_CELLS", 10)  # 8 million in production
    path = write_xlsx(tmp_path / "big.xlsx", {"人口": report_rows()})
    result = run(tmp_path, path)
    assert result.files[0].layout.reader == "openpyxl"
    assert names(result) == EXPECTED
    assert result.stats.row_count == 3


def test_the_holder_can_keep_totals_and_name_the_header_row(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "r.xlsx", {"人口": report_rows()}, merge=False)
    kept = run(tmp_path, path, IngestOptions(keep_totals=True))
    assert kept.stats.row_count == 4
    one_level = run(tmp_path, path, IngestOptions(header_row=4, header_rows=1))
    assert names(one_level)[1:3] == ["男", "女"]
    assert one_level.files[0].layout.sheets_read[0].header_row == 4
    notes = [[f"说明第{i}条"] for i in range(60)]  # a header far down, below many lines of notes
    far = write_xlsx(tmp_path / "far.xlsx", {"表": [*notes, ["县", "户数"], ["云岩区", 1]]}, merge=False)
    found = run(tmp_path, far, IngestOptions(header_row=61))
    assert (names(found), found.stats.row_count) == (["县", "户数"], 1)


def test_first_sheet_with_data_by_default_and_every_sheet_is_named(tmp_path: Path) -> None:
    table = [["县", "户数"], ["云岩区", 10], ["南明区", 12]]
    other = [["县", "户数"], ["花溪区", 7]]
    path = write_xlsx(tmp_path / "多表.xlsx", {"说明": [], "2023": table, "2024": other, "附注": [["口径说明"]]})
    result = run(tmp_path, path)
    layout = result.files[0].layout
    assert layout.sheets_available == ["说明", "2023", "2024", "附注"]
    assert [s.name for s in layout.sheets_read] == ["2023"]
    assert result.stats.row_count == 2
    stacked = run(tmp_path, path, IngestOptions(all_sheets=True))
    assert names(stacked) == ["工作表", "县", "户数"]
    assert stacked.stats.row_count == 3
    assert [s.name for s in stacked.files[0].layout.sheets_read] == ["2023", "2024"]
    assert "附注" in stacked.files[0].layout.sheets_skipped
    chosen = run(tmp_path, path, IngestOptions(sheets=["2024"]))
    assert chosen.stats.row_count == 1
    error = fails_with(tmp_path, path, IngestOptions(sheets=["2025"]))
    assert "2025" in error.render("zh")
    assert "2023" in error.render("en")


def fails_with(tmp_path: Path, path: Path, options: IngestOptions):  # type: ignore[no-untyped-def]
    from qianshu.core.errors import InvalidInput

    with pytest.raises(InvalidInput) as info:
        run(tmp_path, path, options)
    assert info.value.render("zh") != info.value.render("en")
    return info.value


@pytest.mark.parametrize(("bom", "codec", "shown"), [(codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16 LE (BOM)"),
                                                     (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16 BE (BOM)")])
def test_unicode_text_from_excel(tmp_path: Path, bom: bytes, codec: str, shown: str) -> None:
    text = "县\t户数\t日期\r\n" + "".join(f"县{i}\t{i}\t2025-01-{i + 1:02d}\r\n" for i in range(20))
    path = tmp_path / "unicode.txt"
    path.write_bytes(bom + text.encode(codec))
    result = run(tmp_path, path)
    assert names(result) == ["县", "户数", "日期"]
    assert result.stats.row_count == 20
    assert result.files[0].encoding == shown
    comma = tmp_path / "comma.csv"
    comma.write_bytes(bom + text.replace("\t", ",").encode(codec))
    assert names(run(tmp_path, comma)) == ["县", "户数", "日期"]


@pytest.mark.parametrize(("encoding", "delimiter"), [("gb18030", ","), ("utf-16", "\t")])
def test_a_text_report_with_title_rows_is_read_like_a_spreadsheet(tmp_path: Path, encoding: str,
                                                                  delimiter: str) -> None:
    # What Excel writes for the report as "CSV" (GB18030 in China) or as "Unicode text" (UTF-16, tabs).
    lines = [delimiter.join("" if v is None else str(v) for v in row) for row in report_rows()]
    path = tmp_path / "人口.txt"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    result = run(tmp_path, path)
    assert names(result) == EXPECTED
    assert result.stats.row_count == 3
    sheet = result.files[0].layout.sheets_read[0]
    assert (sheet.header_row, sheet.header_rows, sheet.total_rows) == (3, 2, [8])


def test_a_plain_csv_says_its_header_is_its_first_line(tmp_path: Path) -> None:
    path = tmp_path / "plain.csv"
    path.write_text("县,户数\n云岩区,10\n合计,10\n", encoding="utf-8")
    result = run(tmp_path, path)
    assert result.stats.row_count == 1  # read by DuckDB, the 合计 row dropped afterwards
    layout = result.files[0].layout
    assert (layout.reader, layout.sheets_read[0].header_row, layout.sheets_read[0].total_count) == ("duckdb", 1, 1)
    assert run(tmp_path, path, IngestOptions(keep_totals=True)).stats.row_count == 2


def test_a_cell_at_the_far_corner_does_not_take_the_grid_beyond_memory(tmp_path: Path) -> None:
    # calamine would allocate 736 million cells (23 GB) for this sheet and abort; it is read row by row instead.
    far = iter([b'<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c></row>'
                b'<row r="2"><c r="A2" t="s"><v>2</v></c><c r="B2" t="s"><v>3</v></c></row>'
                b'<row r="1048576"><c r="ZZ1048576" t="s"><v>3</v></c></row>'])
    result = run(tmp_path, build_xlsx(tmp_path / "corner.xlsx", _strings(4), far))
    assert result.files[0].layout.reader == "openpyxl"
    assert result.stats.row_count == 2


def test_an_ods_whose_repeated_cells_expand_beyond_the_limit_is_refused(tmp_path: Path) -> None:
    bomb = ('<table:table-row table:number-rows-repeated="1000000"><table:table-cell '
            'table:number-columns-repeated="100" office:value-type="float" office:value="1"/></table:table-row>')
    path = write_ods(tmp_path / "bomb.ods", {"A": [["x", "y"], [1, 2]]}, extra=bomb)
    error = fails(tmp_path, path, "CSV")
    assert "bomb.ods" in error.render("zh")
    assert not list((tmp_path / "work").glob("*.csv"))


def test_a_damaged_xls_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "old.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600)
    fails(tmp_path, path, "cannot be opened")
    page = tmp_path / "导出.xls"  # what many systems export under an .xls name
    page.write_text("<html><body><table><tr><td>县</td></tr></table></body></html>", encoding="utf-8")
    fails(tmp_path, page, "web page (HTML)")
    text = tmp_path / "text.xls"
    text.write_text("县\t户数\n云岩区\t10\n", encoding="gb18030")
    assert run(tmp_path, text).stats.row_count == 1


def _registration(database, db, settings, make, merchant, tmp_path):  # type: ignore[no-untyped-def]
    path = write_xlsx(tmp_path / "人口报表.xlsx", {"封面": [], "人口": report_rows(), "备用": [["县", "户数"]]})
    return process(database, db, settings, make.actor(merchant), [path])


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_page_shows_what_was_detected(client, database, db, settings, make, merchant, tmp_path,
                                          lang: str) -> None:
    reg = _registration(database, db, settings, make, merchant, tmp_path)
    assert reg.status == "ready", reg.pipeline_error
    sign_in(client, merchant)
    client.cookies.set(LANG_COOKIE, lang)  # pages take the reader's chosen language (the API, Accept-Language)
    page = client.get(f"/registry/{reg.id}")
    assert page.status_code == 200
    block = page.text.split('class="detected"')[1].split("</form>")[0]
    words = {"zh": ["工作簿中的工作表", "表头在第 3、4 行", "已去除 1 个合计行（第 8 行）", "已跳过表头上方的行",
                    "保存并重新读取"],
             "en": ["Sheets in the workbook", "header in rows 3 and 4", "1 total rows dropped (row 8)",
                    "rows above it skipped", "Save and read again"]}[lang]
    for word in words:
        assert word in block, (word, block)
    for text in ("人口|男", TITLE, "封面", "备用"):
        assert text in block
    profile = page.text.split('id="profile"')[1].split("</table>")[0]
    assert "人口|女" in profile
    # each column's type in the page's language (the registry's "column type" labels)
    types = {t.split("</td>")[0] for t in profile.split('class="column-type">')[1:]}
    assert types
    named = {"zh": {"整数", "小数", "日期", "日期时间", "布尔值", "文本", "文本（多为数字）", "文本（多为日期）",
                    "其他"},
             "en": {"Integer", "Decimal", "Date", "Date and time", "True or false", "Text", "Text (mostly numbers)",
                    "Text (mostly dates)", "Other"}}  # labels in a table cell, capitalised
    assert types <= named[lang], types


def test_the_holder_corrects_the_reading_in_the_portal_and_through_the_api(client, database, db, settings, make,
                                                                         merchant, tmp_path) -> None:
    reg = _registration(database, db, settings, make, merchant, tmp_path)
    csrf = sign_in(client, merchant)
    file_id = reg.files[0].id
    r = client.post(f"/registry/{reg.id}/ingest-options", data={
        "csrf_token": csrf, "file_id": str(file_id), "header_row": "4", "header_rows": "1", "keep_totals": "yes"},
        follow_redirects=False)
    assert r.status_code == 303, re.findall(r"class=\"error\"[^>]*>([^<]*)", r.text)
    jobs.run_pending(jobs.JobContext.build(database, settings), HANDLERS)
    db.expire_all()
    again = db.get_one(Registration, reg.id)
    assert again.status == "ready"
    assert again.row_count == 4  # the total row kept
    assert again.files[0].ingest_options == {"header_row": 4, "header_rows": 1, "keep_totals": True}
    assert again.files[0].ingest_layout["sheets_read"][0]["header_row"] == 4
    r = client.put(f"/api/v1/registrations/{reg.id}/ingest-options/{file_id}", json={"sheets": ["人口", "备用"]},
                   headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200, r.text
    assert r.json()["ingest_options"] == {"sheets": ["人口", "备用"]}
    assert r.json()["ingest_layout"]["sheets_available"] == ["封面", "人口", "备用"]
    bad = client.put(f"/api/v1/registrations/{reg.id}/ingest-options/{file_id}", json={"sheets": ["不存在"]},
                     headers={"X-CSRF-Token": csrf, "Accept-Language": "en"})
    assert bad.status_code == 422
    assert "不存在" in bad.text
    db.expire_all()
    assert db.get_one(Registration, reg.id).status == "draft"
    assert service.get_registration(db, make.actor(merchant), reg.id).files[0].ingest_options["sheets"]
    assert re.search(r"人口报表", client.get(f"/registry/{reg.id}").text)
