"""Spreadsheets (XLSX, XLS, ODS) as Chinese offices send them, read into one table.

A statistical report rarely starts with its header: a title row ("2023年各县人口统计表") and a
unit note ("单位：万人") come first, the header may be two merged levels ("人口" over "男" and
"女"), and 合计/总计/小计 rows sum up the data. This module reads the rows of the chosen sheets
(python-calamine, after the guards below), finds the header row, joins a two-level header as
``上级|下级`` (a vertical bar: it does not occur in Chinese headers and is plain ASCII for the
API), drops total rows, and writes one UTF-8 CSV for ingest.py to load. What it did is a
:class:`Layout`, stored with the registration file and shown to the holder, who can correct it
with :class:`IngestOptions` (header row, sheets, stacking, keeping total rows) and run again.

Memory stays bounded for any workbook. calamine holds a sheet as a dense grid (rows × columns
of 32-byte cells) and an XLSX workbook's whole text table: a single cell at XFD1048576 would
ask for 17 billion cells and abort the process. So before calamine sees an XLSX or ODS file,
its XML is scanned as a stream (:class:`_SheetScan`, a few megabytes whatever the size): rows
beyond Excel's limits, a row of more than 16,384 cells or 16 MB of XML, XML that Excel never
writes, and sheets whose grid would exceed ``CALAMINE_MAX_CELLS`` are caught there. An XLSX
workbook too large for calamine's grid or with a large text table is read instead by the
streaming openpyxl reader of ingest.py (text table on disk, one row at a time). An XLS file is
at most 65,536 × 256 cells by its format.
"""

from __future__ import annotations

import csv
import itertools
import math
import re
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from qianshu.core.errors import InvalidInput

Cell = Any
Row = list[Cell]

# calamine's grid for one workbook (all sheets read): 8 million cells, about 256 MB.
CALAMINE_MAX_CELLS = 8_000_000
# calamine keeps an XLSX text table in memory (about twice its XML); larger ones go through openpyxl.
CALAMINE_MAX_SHARED_STRINGS = 64 * 1024**2
SCAN_BLOCK = 1024 * 1024
SAMPLE_ROWS = 40  # rows examined to find the header
JOIN = "|"
SHEET_COLUMN = "工作表"
TOTAL_WORDS = re.compile(r"^(?:.{0,8}?(?:合计|总计|小计|总和)|(?:grand\s*|sub\s*)?totals?|sum)[:：]?$", re.I)


def bad_file(message: str, name: str, **params: Any) -> InvalidInput:
    return InvalidInput(message, field="files", code="unreadable_file", file=name, **params)


@dataclass
class IngestOptions:
    """What the holder chose for one file (all optional: detection decides the rest)."""

    header_row: int | None = None  # 1-based row number of the (upper) header row in the sheet
    header_rows: int | None = None  # 1 or 2 header rows
    sheets: list[str] | None = None  # sheets to read; several are stacked
    all_sheets: bool = False  # stack every sheet whose header is that of the first
    keep_totals: bool = False

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> IngestOptions:
        data = data or {}
        return cls(header_row=data.get("header_row"), header_rows=data.get("header_rows"),
                   sheets=list(data["sheets"]) if data.get("sheets") else None,
                   all_sheets=bool(data.get("all_sheets")), keep_totals=bool(data.get("keep_totals")))

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, False, [])}


@dataclass
class SheetLayout:
    name: str
    header_row: int  # 1-based, as Excel numbers rows
    header_rows: int
    skipped_rows: list[str] = field(default_factory=list)  # text of the rows above the header (first 5)
    total_rows: list[int] = field(default_factory=list)  # row numbers of the dropped total rows (first 20)
    total_count: int = 0
    data_rows: int = 0


@dataclass
class Layout:
    """What was detected and read; stored as JSON with the registration file."""

    sheets_available: list[str] = field(default_factory=list)
    sheets_read: list[SheetLayout] = field(default_factory=list)
    sheets_skipped: list[str] = field(default_factory=list)  # not of the first sheet's shape
    joined_headers: list[str] = field(default_factory=list)
    sheet_column: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    reader: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _text(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    return str(value)


def _is_text(value: Cell) -> bool:
    if not isinstance(value, str):
        return False
    s = value.strip().replace(",", "")
    if not s:
        return False
    try:
        float(s)
    except ValueError:
        return not re.fullmatch(r"\d{4}[-/年.]\d{1,2}([-/月.]\d{1,2}日?)?", s)
    return False


def _filled(row: Row) -> int:
    return sum(1 for v in row if _text(v))


def is_total_row(row: Row) -> bool:
    for value in row[:2]:
        text = re.sub(r"\s+", "", _text(value))
        if text:
            return bool(TOTAL_WORDS.match(text))
    return False


def find_header(rows: Sequence[Row], spanning: frozenset[int] = frozenset()) -> tuple[int, int]:
    """(index of the header row in ``rows``, 1 or 2 header rows).

    The header is the first row in which at least half of the table's columns (the widest row of
    the sample) are filled, at least two of them, and mostly with text (not numbers or dates);
    failing that (years as column names), the first row filled that wide. It has a second level
    when the row under it holds text only, data follows, and either a merged cell of the header
    spans several columns or the header leaves a cell empty right of a filled one (a merged group)
    above a filled cell while the lower row is empty under a filled header cell (a vertical merge)."""
    width = max((_filled(r) for r in rows), default=0)
    wide = [i for i, r in enumerate(rows) if _filled(r) >= max(2, math.ceil(width / 2))]
    header = next((i for i in wide if sum(1 for v in rows[i] if _is_text(v)) >= 0.8 * _filled(rows[i])),
                  wide[0] if wide else next((i for i, r in enumerate(rows) if _filled(r)), 0))
    return header, 2 if _second_level(rows, header, spanning) else 1


def _second_level(rows: Sequence[Row], header: int, spanning: frozenset[int]) -> bool:
    """``spanning``: the rows (indices in ``rows``) where a merged cell spans several columns."""
    if header + 1 >= len(rows):
        return False
    top, sub = rows[header], rows[header + 1]
    if not _filled(sub) or any(_text(v) and not _is_text(v) for v in sub):
        return False
    after = rows[header + 2] if header + 2 < len(rows) else []
    data_follows = any(_text(v) and not _is_text(v) for v in after)
    if header in spanning:
        return True
    width = max(len(top), len(sub))
    cell = [(_text(top[j]) if j < len(top) else "", _text(sub[j]) if j < len(sub) else "") for j in range(width)]
    group_gap = any(not upper and lower and any(u for u, _l in cell[:j]) for j, (upper, lower) in enumerate(cell))
    vertical = any(upper and not lower for upper, lower in cell)
    return group_gap and vertical and data_follows


def join_headers(top: Row, sub: Row | None) -> tuple[list[str], list[str]]:
    """The header's names, and those joined from two levels (``人口|男``)."""
    width = max(len(top), len(sub or []))
    names: list[str] = []
    joined: list[str] = []
    group = ""
    for j in range(width):
        upper = _text(top[j]) if j < len(top) else ""
        lower = _text(sub[j]) if sub is not None and j < len(sub) else ""
        if upper:
            group = upper
        elif sub is None or not lower:
            group = ""  # an empty header cell with nothing under it ends the group
        if sub is None:
            names.append(upper)
        elif lower and group and lower != group:
            names.append(f"{group}{JOIN}{lower}")
            joined.append(names[-1])
        else:
            names.append(upper or lower)
    return names, joined


def _csv_value(value: Cell) -> Cell:
    kind = type(value)
    if kind is str or kind is int:
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 2**53:
            return int(value)
        return repr(value)
    if isinstance(value, (datetime, date, time)):
        if isinstance(value, datetime) and value.time() == time(0):
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    return value


@dataclass
class _Sheet:
    layout: SheetLayout
    names: list[str]
    joined: list[str]
    rows: Iterator[tuple[int, Row]]


def _open_sheet(name: str, numbered: Iterator[tuple[int, Row]], options: IngestOptions,
                merged: Sequence[tuple[tuple[int, int], tuple[int, int]]]) -> _Sheet | None:
    """Read up to the header; None when the sheet holds no data."""
    sample: list[tuple[int, Row]] = []
    for number, row in numbered:
        if _filled(row):
            sample.append((number, row))
        if len(sample) >= SAMPLE_ROWS and (options.header_row is None or number > options.header_row + 1):
            break
    if not sample:
        return None
    rows = [r for _n, r in sample]
    spanning = frozenset(i for i, (n, _r) in enumerate(sample)
                         for (r0, c0), (r1, c1) in merged if r0 <= n - 1 <= r1 and c1 > c0)
    if options.header_row is not None:
        index = next((i for i, (n, _r) in enumerate(sample) if n >= options.header_row), len(sample))
        if index >= len(sample):
            return None
        depth = options.header_rows or (2 if _second_level(rows, index, spanning) else 1)
    else:
        index, depth = find_header(rows, spanning)
        if options.header_rows:
            depth = options.header_rows
    depth = 2 if depth == 2 and index + 1 < len(sample) else 1
    top = rows[index]
    sub = rows[index + 1] if depth == 2 else None
    names, joined = join_headers(top, sub)
    layout = SheetLayout(name=name, header_row=sample[index][0], header_rows=depth,
                         skipped_rows=[" ".join(_text(v) for v in r if _text(v))[:120] for r in rows[:index]][:5])
    rest = iter(sample[index + depth:])

    def chained() -> Iterator[tuple[int, Row]]:
        yield from rest
        yield from numbered

    return _Sheet(layout, names, joined, chained())


Merged = Sequence[tuple[tuple[int, int], tuple[int, int]]]
SheetReader = Callable[[str], tuple[Iterator[tuple[int, Row]], Merged]]


def write_table(file_name: str, sheet_names: list[str], read_sheet: SheetReader, options: IngestOptions,
                dst: Path, max_rows: int, reader: str) -> Layout:
    """Write the chosen sheets, as one table, to ``dst`` (UTF-8 CSV); return what was done.

    ``read_sheet`` gives a sheet's rows, each with its 1-based row number, and its merged ranges
    (0-based ``((first row, first column), (last row, last column))``)."""
    layout = Layout(sheets_available=list(sheet_names), options=options.to_json(), reader=reader)
    if options.sheets:
        unknown = [s for s in options.sheets if s not in sheet_names]
        if unknown:
            raise bad_file("{file}: the workbook has no sheet named {sheet}; its sheets are {sheets}.", file_name,
                           sheet=unknown[0], sheets="、".join(sheet_names))
        wanted = [s for s in sheet_names if s in options.sheets]
    else:
        wanted = list(sheet_names)
    opened: list[_Sheet] = []
    for sheet_name in wanted:
        rows, merged = read_sheet(sheet_name)
        sheet = _open_sheet(sheet_name, rows, options, merged)
        if sheet is None:
            if options.sheets:
                layout.sheets_skipped.append(sheet_name)
            continue
        if not opened:
            opened.append(sheet)
            if not options.sheets and not options.all_sheets:
                break  # the default: the first sheet with data
        elif options.sheets or [n.lower() for n in sheet.names] == [n.lower() for n in opened[0].names]:
            opened.append(sheet)
        else:
            layout.sheets_skipped.append(sheet_name)
    if not opened:
        raise bad_file("{file}: no sheet of the workbook holds data.", file_name)
    keys: dict[tuple[str, int], int] = {}  # (name, its n-th occurrence in a sheet) -> column
    header: list[str] = []
    positions: list[list[int]] = []  # for each sheet, where each of its columns goes
    for sheet in opened:
        seen: dict[str, int] = {}
        where = []
        for i, n in enumerate(sheet.names):
            k = seen.get(n.lower(), 0)
            seen[n.lower()] = k + 1
            key = (n.lower(), k) if n else ("", i)  # nameless columns are matched by position
            if key not in keys:
                keys[key] = len(header)
                header.append(n)
            where.append(keys[key])
        positions.append(where)
    stacked = len(opened) > 1
    if stacked:
        layout.sheet_column = SHEET_COLUMN
    for sheet in opened:
        for name in sheet.joined:
            if name not in layout.joined_headers:
                layout.joined_headers.append(name)
    with dst.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([SHEET_COLUMN, *header] if stacked else header)
        for sheet, where in zip(opened, positions, strict=True):
            straight = where == list(range(len(where))) and len(where) == len(header)
            for number, row in sheet.rows:
                if number > max_rows:
                    raise bad_file("{file}: the worksheet has more than {max} rows; save the sheet as CSV (UTF-8) "
                                   "and upload that.", file_name, max=max_rows)
                if not any(v is not None and v != "" for v in row):
                    continue
                if not options.keep_totals and is_total_row(row):
                    sheet.layout.total_count += 1
                    if len(sheet.layout.total_rows) < 20:
                        sheet.layout.total_rows.append(number)
                    continue
                if straight and len(row) <= len(where):  # the common case: the sheet's columns as they are
                    out = [_csv_value(v) for v in row]
                    writer.writerow([sheet.layout.name, *out] if stacked else out)
                    sheet.layout.data_rows += 1
                    continue
                out = [""] * len(header)
                for i, value in enumerate(row):
                    if i >= len(where):
                        if not _text(value):
                            continue
                        while len(where) <= i:  # a cell right of the header: a column without a name
                            where.append(len(header))
                            header.append("")
                            out.append("")
                    out[where[i]] = _csv_value(value)
                writer.writerow([sheet.layout.name, *out] if stacked else out)
                sheet.layout.data_rows += 1
            layout.sheets_read.append(sheet.layout)
    layout_header_fix(dst, [SHEET_COLUMN, *header] if stacked else header)
    return layout


def layout_header_fix(dst: Path, header: list[str]) -> None:
    """Rewrite the CSV's first line when cells right of the header added nameless columns."""
    with dst.open("r", encoding="utf-8", newline="") as fh:
        first = next(csv.reader(fh), [])
    if len(first) == len(header):
        return
    tmp = dst.with_suffix(".fix")
    with dst.open("r", encoding="utf-8", newline="") as src, tmp.open("w", encoding="utf-8", newline="") as out:
        reader = csv.reader(src)
        writer = csv.writer(out)
        next(reader, None)
        writer.writerow(header)
        for row in reader:
            writer.writerow(row + [""] * (len(header) - len(row)))
    tmp.replace(dst)


# --- Guards: a streaming scan of the XML before calamine builds its grid -------------------------------

_TAG = re.compile(rb"<(/?)(?:[A-Za-z_][\w.-]{0,30}:)?(row|c|table-row|table-cell|covered-table-cell|table)(?=[\s/>])"
                  rb"([^>]*)>|<!")
_ROW_NUMBER = re.compile(rb"""\sr\s*=\s*["'](\d+)["']""")
_CELL_REF = re.compile(rb"""\sr\s*=\s*["']([A-Za-z]{1,4})(\d+)["']""")
_REPEAT_ROWS = re.compile(rb"""number-rows-repeated\s*=\s*["'](\d+)["']""")
_REPEAT_COLUMNS = re.compile(rb"""number-columns-repeated\s*=\s*["'](\d+)["']""")
_VALUE_TYPE = re.compile(rb"value-type\s*=")


def _column_number(letters: bytes) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + ch - 64
    return n


@dataclass
class SheetExtent:
    rows: int = 0  # last row number holding a cell
    columns: int = 0  # last column number holding a cell

    @property
    def cells(self) -> int:
        return self.rows * self.columns


class _OdsScan:
    """Walks an ODS document's XML in blocks, without parsing it, and refuses what calamine could
    not hold; ``extents`` is the grid each sheet (``<table:table>``) would need, counting the cells
    that ``number-rows-repeated`` and ``number-columns-repeated`` stand for when they hold a value
    (LibreOffice writes a million repeated empty rows after the data: those cost nothing)."""

    def __init__(self, name: str, *, max_row_bytes: int, max_columns: int, max_rows: int) -> None:
        self.name = name
        self.max_row_bytes, self.max_columns, self.max_rows = max_row_bytes, max_columns, max_rows
        self.extents: list[SheetExtent] = [SheetExtent()]
        self.position = 0
        self.row_start = 0
        self.row = 0  # current row number (1-based)
        self.row_repeat = 1
        self.column = 0
        self.carry = b""

    def scan(self, stream: Any) -> list[SheetExtent]:
        while True:
            block = stream.read(SCAN_BLOCK)
            if not block:
                break
            self._feed(block)
        return self.extents

    def _feed(self, block: bytes) -> None:
        buffer = self.carry + block
        cut = buffer.rfind(b"<")
        if cut != -1 and buffer.find(b">", cut) == -1:
            self.carry, buffer = buffer[cut:], buffer[:cut]
            if len(self.carry) > self.max_row_bytes:
                raise self._too_large()
        else:
            self.carry = b""
        for match in _TAG.finditer(buffer):
            if match.group() == b"<!":
                raise bad_file("{file}: the worksheet holds XML that Excel does not write (comments, CDATA or a "
                               "document type); save the sheet as CSV (UTF-8) and upload that.", self.name)
            self._ods_tag(match.group(1), match.group(2), match.group(3))
        self.position += len(block)
        if self.position - self.row_start > self.max_row_bytes:
            raise self._too_large()

    def _ods_tag(self, closing: bytes, tag: bytes, attributes: bytes) -> None:
        if tag == b"table":
            if not closing:
                self.new_table()
            return
        if tag == b"table-row":
            if closing:
                self.row += self.row_repeat - 1
                self.row_repeat = 1
                return
            repeat = _REPEAT_ROWS.search(attributes)
            self.row += 1
            self.row_repeat = int(repeat.group(1)) if repeat else 1
            self.column = 0
            self.row_start = self.position
            if attributes.rstrip().endswith(b"/"):
                self.row += self.row_repeat - 1
                self.row_repeat = 1
            return
        if closing:
            return
        repeat_match = _REPEAT_COLUMNS.search(attributes)
        start = self.column + 1
        self.column += int(repeat_match.group(1)) if repeat_match else 1
        empty = tag == b"covered-table-cell" or (attributes.rstrip().endswith(b"/")
                                                 and not _VALUE_TYPE.search(attributes))
        if empty:
            return
        if self.column > self.max_columns:
            raise self._too_large()
        last_row = self.row + self.row_repeat - 1
        if last_row > self.max_rows:
            raise bad_file("{file}: the worksheet has more than {max} rows; save the sheet as CSV (UTF-8) "
                           "and upload that.", self.name, max=self.max_rows)
        extent = self.extents[-1]
        extent.rows = max(extent.rows, last_row)
        extent.columns = max(extent.columns, self.column, start)

    def new_table(self) -> None:
        if self.extents[-1].cells or self.row:
            self.extents.append(SheetExtent())
        self.row, self.row_repeat = 0, 1

    def _too_large(self) -> InvalidInput:
        return bad_file("{file}: a row (or another part) of the worksheet has more than {columns} cells or {mb} MB "
                        "of data, more than can be read; save the sheet as CSV (UTF-8) and upload that.", self.name,
                        columns=self.max_columns, mb=self.max_row_bytes // 2**20)


_ROW_START = re.compile(rb"<(?:[A-Za-z_][\w.-]{0,30}:)?row[\s>/]")
_CELL_MARKS = (b"<c ", b"<c>", b"<c/>", b":c ", b":c>", b":c/>")


def _cells_in(segment: bytes) -> int:
    return sum(segment.count(mark) for mark in _CELL_MARKS)


def scan_worksheet(stream: Any, name: str, *, max_row_bytes: int, max_columns: int, max_rows: int) -> SheetExtent:
    """One worksheet's XML, a row at a time, counted with byte searches (about 1 s for 100 MB)."""
    extent = SheetExtent()
    carry = b""
    row = 0

    def too_large() -> InvalidInput:
        return bad_file("{file}: a row (or another part) of the worksheet has more than {columns} cells or {mb} MB "
                        "of data, more than can be read; save the sheet as CSV (UTF-8) and upload that.", name,
                        columns=max_columns, mb=max_row_bytes // 2**20)

    def row_of(segment: bytes) -> None:
        nonlocal row
        end = segment.find(b">")
        number = _ROW_NUMBER.search(segment, 0, end if end != -1 else len(segment))
        row = int(number.group(1)) if number else row + 1
        if row > max_rows:
            raise bad_file("{file}: the worksheet has more than {max} rows; save the sheet as CSV (UTF-8) "
                           "and upload that.", name, max=max_rows)
        cells = _cells_in(segment)
        if not cells:
            return
        last = max(segment.rfind(mark) for mark in _CELL_MARKS)
        ref = _CELL_REF.search(segment, last, last + 200)
        column = _column_number(ref.group(1)) if ref else cells
        if cells > max_columns or column > max_columns:
            raise too_large()
        extent.rows = max(extent.rows, row)
        extent.columns = max(extent.columns, column)

    while True:
        block = stream.read(SCAN_BLOCK)
        buffer = carry + block
        if b"<!" in buffer:
            raise bad_file("{file}: the worksheet holds XML that Excel does not write (comments, CDATA or a "
                           "document type); save the sheet as CSV (UTF-8) and upload that.", name)
        starts = [m.start() for m in _ROW_START.finditer(buffer)]
        if not block:  # the end: the last row runs to the end of the XML
            bounds = [*starts, len(buffer)]
            carry = b""
        else:
            bounds = starts
            carry = buffer[starts[-1]:] if starts else buffer
        head = bounds[0] if bounds else len(buffer)
        if head > max_row_bytes:  # the XML before the first row
            raise too_large()
        for begin, end in itertools.pairwise(bounds):
            if end - begin > max_row_bytes:
                raise too_large()
            row_of(buffer[begin:end])
        if len(carry) > max_row_bytes:
            raise too_large()
        if not block:
            return extent


def scan_xlsx(archive: zipfile.ZipFile, name: str, *, max_row_bytes: int, max_columns: int,
              max_rows: int) -> dict[str, SheetExtent]:
    """The grid each worksheet part would need, refusing what cannot be read."""
    extents: dict[str, SheetExtent] = {}
    for info in archive.infolist():
        if "worksheets/" in info.filename and info.filename.lower().endswith(".xml"):
            with archive.open(info) as stream:
                extents[info.filename] = scan_worksheet(stream, name, max_row_bytes=max_row_bytes,
                                                        max_columns=max_columns, max_rows=max_rows)
    return extents


def scan_ods(archive: zipfile.ZipFile, name: str, *, max_row_bytes: int, max_columns: int, max_rows: int) -> int:
    """The cells calamine's grids would hold for all the document's sheets (it reads them all at once)."""
    try:
        info = archive.getinfo("content.xml")
    except KeyError:
        raise bad_file("{file}: the spreadsheet is damaged (it has no content).", name) from None
    scan = _OdsScan(name, max_row_bytes=max_row_bytes, max_columns=max_columns, max_rows=max_rows)
    with archive.open(info) as stream:
        return sum(e.cells for e in scan.scan(stream))
