"""Read the uploaded files and write one normalised Parquet file.

Formats: CSV or tab-separated text (UTF-8, UTF-8 with BOM, GB18030/GBK — what Excel in China
writes —, and UTF-16 with a BOM, Excel's "Unicode text"), XLSX, XLS, ODS, Parquet and JSON
Lines. Everything streams: DuckDB reads CSV, Parquet and JSON Lines in parallel with a memory
limit; GB18030 and UTF-16 text is first transcoded to UTF-8 in 4 MB chunks (DuckDB reads
GB18030 only through a downloadable extension, which intranet deployments do not have).
Spreadsheets go through spreadsheets.py (python-calamine behind streaming guards, header row
and total rows detected, sheets chosen or stacked) into a UTF-8 CSV; an XLSX workbook too
large for calamine is read row by row (openpyxl read-only mode) with its shared strings on
disk, so that no workbook can take the pipeline beyond its memory goal. Several files are
stacked by column name.

Every failure is an ``InvalidInput`` with a bilingual message naming the file; nothing here
touches the database.
"""

from __future__ import annotations

import array
import codecs
import csv
import io
import mmap
import re
import shutil
import struct
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from qianshu.core import analytics
from qianshu.core.analytics import Limits
from qianshu.core.errors import InvalidInput, QianshuError
from qianshu.registry import spreadsheets
from qianshu.registry.spreadsheets import IngestOptions, Layout

SAMPLE_BYTES = 1024 * 1024
TRANSCODE_CHUNK = 4 * 1024 * 1024
MAX_LINE_BYTES = 128 * 1024 * 1024  # a 50 MB cell is legitimate (a document in a CSV)
DUCKDB_MAX_LINE_BYTES = 2 * 1024 * 1024  # the longest line DuckDB reads with its default buffers
SNIFF_ROWS = 20_480  # the rows DuckDB's sniffer reads for the dialect and the types
LONG_LINE_SCAN = 32 * 1024 * 1024  # how far ahead has_long_line looks at most
MAX_COLUMNS = 20_000
XLSX_MAX_UNCOMPRESSED = 4 * 1024**3
XLSX_MAX_RATIO = 200  # real workbooks compress 5-20x; zip bombs compress 1000x and more
# The shared-string table is kept on disk (``_DiskStrings``), so its size costs disk and time,
# not memory; a real workbook's table is well under this (a million rows of four text columns
# make about 200 MB).
XLSX_MAX_SHARED_STRINGS = 1024**3
# Memory while reading a worksheet is that of one row (about 20 times its XML): rows are held
# to Excel's own limits (16,384 columns, 1,048,576 rows) and to a few megabytes of XML.
XLSX_MAX_ROW_BYTES = 16 * 1024 * 1024
XLSX_MAX_COLUMNS = 16_384
XLSX_MAX_ROWS = 1_048_576
FORMATS = ("csv", "xlsx", "xls", "ods", "parquet", "jsonl")
SPREADSHEETS = ("xlsx", "xls", "ods")
TOTALS_SCAN_MAX_ROWS = 200_000  # reports are small; see _drop_total_rows
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # the compound file of .xls (BIFF)
ODS_MIMETYPE = b"mimetypeapplication/vnd.oasis.opendocument.spreadsheet"
# Snappy, Parquet's most widely read codec: writing and the profile's four scans of the file are
# about 1 s faster on 1 GB of CSV than with zstd, for a file about a third larger (288 vs 215 MB).
PARQUET_OPTIONS = "FORMAT parquet, COMPRESSION snappy"
_CSV_LINE = re.compile(r"Line:\s*(\d+)")


@dataclass
class SourceFile:
    path: Path
    name: str
    options: IngestOptions = field(default_factory=IngestOptions)


@dataclass
class IngestedFile:
    name: str
    file_format: str
    encoding: str
    row_count: int
    layout: Layout | None = None  # spreadsheets: header, sheets and total rows found


@dataclass
class IngestResult:
    parquet_path: Path
    files: list[IngestedFile]
    columns: list[str]
    source_names: list[str]
    renamed_headers: int = 0
    notes: list[str] = field(default_factory=list)


def connect(work_dir: Path, memory_limit: str = "1GB", threads: int = 2, *, readable: Iterable[Path] = (),
            query_seconds: float = Limits.query_seconds) -> duckdb.DuckDBPyConnection:
    """A bounded DuckDB (core/analytics.py) that reads and writes only the work folder and ``readable``."""
    work_dir.mkdir(parents=True, exist_ok=True)
    return analytics.connect(Limits(memory_limit, threads, query_seconds), readable=(work_dir, *readable),
                             temp_directory=work_dir / "duckdb.tmp", options={"preserve_insertion_order": False})


def bad_file(message: str, name: str, **params: Any) -> InvalidInput:
    return InvalidInput(message, field="files", code="unreadable_file", file=name, **params)


def detect_format(path: Path, name: str) -> str:
    """By content first (magic bytes), then by the name's extension."""
    with path.open("rb") as fh:
        head = fh.read(96)
    if not head:
        raise bad_file("{file}: the file is empty.", name)
    lower = name.lower()
    if head[:4] == b"PAR1" or lower.endswith(".parquet"):
        return "parquet"
    if head[:8] == OLE_MAGIC:
        return "xls"
    if head[:4] == b"PK\x03\x04" and (ODS_MIMETYPE in head or lower.endswith(".ods")):
        return "ods"
    if head[:4] == b"PK\x03\x04" or lower.endswith((".xlsx", ".xlsm")):
        return "xlsx"
    if lower.endswith((".xls", ".ods")):
        # Many systems export a web page or CSV text under an .xls name; Excel opens both.
        if head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"<":
            raise bad_file("{file}: this .xls file is a web page (HTML), not a workbook; open it in Excel and save "
                           "it as XLSX or CSV.", name)
        utf16 = head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
        if head.startswith(OLE_MAGIC[:4]) or (b"\x00" in head and not utf16):
            raise bad_file("{file}: the spreadsheet is damaged (its format cannot be recognised).", name)
        return "csv"  # text under a spreadsheet's name: read as text
    if lower.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    return "csv"


def detect_encoding(path: Path, name: str) -> str:
    """``utf-8-sig``, ``utf-8``, ``gb18030``, ``utf-16-le`` or ``utf-16-be`` (the last two only with
    their BOM, as Excel's "Unicode text" has it); binary content is refused.

    Only the first megabyte is examined; a file that changes encoding later is caught while
    it is read (DuckDB validates UTF-8, the transcoder decodes strictly).
    """
    with path.open("rb") as fh:
        sample = fh.read(SAMPLE_BYTES)
        more = bool(fh.read(1))
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith(codecs.BOM_UTF16_LE):
        return "utf-16-le"
    if sample.startswith(codecs.BOM_UTF16_BE):
        return "utf-16-be"
    if b"\x00" in sample:
        raise bad_file("{file}: this is a binary file, not CSV text.", name)
    for encoding in ("utf-8", "gb18030"):
        decoder = codecs.getincrementaldecoder(encoding)("strict")
        try:
            decoder.decode(sample, final=not more)
        except UnicodeDecodeError:
            continue
        return encoding
    raise bad_file("{file}: the text encoding is neither UTF-8 nor GB18030 (GBK); it may be a binary "
                   "file or mix several encodings.", name)


def transcode_to_utf8(src: Path, dst: Path, encoding: str, name: str) -> None:
    # "utf-16" reads the BOM (either order) and leaves it out of the text.
    decoder = codecs.getincrementaldecoder("utf-16" if encoding.startswith("utf-16") else encoding)("strict")
    offset = 0
    with src.open("rb") as fin, dst.open("wb") as fout:
        while True:
            block = fin.read(TRANSCODE_CHUNK)
            try:
                text = decoder.decode(block, final=not block)
            except UnicodeDecodeError as exc:
                raise bad_file("{file}: bytes at offset {offset} are not valid {encoding}; the file mixes "
                               "text encodings.", name, offset=offset + exc.start, encoding=encoding) from None
            fout.write(text.encode("utf-8"))
            if not block:
                break
            offset += len(block)


def clean_names(raw: list[str]) -> tuple[list[str], int]:
    """Unique, non-empty column names; returns them and how many had to be changed."""
    seen: set[str] = set()
    names: list[str] = []
    changed = 0
    for i, original in enumerate(raw):
        name = (original or "").strip()[:200] or f"column_{i + 1}"
        base, n = name, 2
        while name.lower() in seen:
            name = f"{base}_{n}"
            n += 1
        if name != original:
            changed += 1
        seen.add(name.lower())
        names.append(name)
    return names, changed


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _first_line(path: Path) -> str:
    with path.open("rb") as fh:
        return fh.readline(MAX_LINE_BYTES).decode("utf-8-sig", errors="replace")


def _delimiter(path: Path) -> str:
    """Tab for tab-separated text (Excel's "Unicode text" and "Text" files), else comma: by the
    first lines (a report's title line above the table has neither)."""
    with path.open("rb") as fh:
        head = fh.read(64 * 1024).decode("utf-8", errors="replace")
    lines = head.splitlines()[:20]
    return "\t" if sum(x.count("\t") for x in lines) > sum(x.count(",") for x in lines) else ","


def _raw_csv_header(path: Path) -> list[str]:
    line = _first_line(path)
    try:
        return next(csv.reader(io.StringIO(line), delimiter=_delimiter(path)))
    except (StopIteration, csv.Error):
        return []


def _copy_relation(con: duckdb.DuckDBPyConnection, source_sql: str, out: Path,
                   raw_names: list[str] | None = None, *,
                   direct: bool = True) -> tuple[list[str], list[str], int, int]:
    """COPY the rows of ``source_sql`` to Parquet under clean column names.

    When the header read from the file (``raw_names``) needs no cleaning, the rows are copied as
    they are and the names checked in the Parquet after: binding ``source_sql`` first to learn
    its names makes DuckDB sniff a CSV twice (about 0.08 s of CPU whatever the file's size). A
    name DuckDB reads differently is then renamed in a second copy of the Parquet."""
    if direct and raw_names and len(raw_names) <= MAX_COLUMNS and clean_names(raw_names) == (raw_names, 0):
        rows = con.execute(f"COPY ({source_sql}) TO '{_sql_path(out)}' "
                           f"({PARQUET_OPTIONS}, ROW_GROUP_SIZE 122880)").fetchone()
        written = list(con.sql(f"SELECT * FROM read_parquet('{_sql_path(out)}')").columns)  # noqa: S608
        if written == raw_names:
            return list(raw_names), list(raw_names), 0, int(rows[0]) if rows else 0
        copied = out.with_name(out.stem + ".copied.parquet")
        out.rename(copied)
        try:
            names, sources, changed, count = _copy_relation(
                con, f"SELECT * FROM read_parquet('{_sql_path(copied)}')", out, raw_names, direct=False)  # noqa: S608
        finally:
            copied.unlink(missing_ok=True)
        return names, sources, changed, count
    rel = con.sql(source_sql)
    columns = list(rel.columns)
    if len(columns) > MAX_COLUMNS:
        raise InvalidInput("The data has {count} columns; at most {max} are supported.", field="files",
                           code="too_many_columns", count=len(columns), max=MAX_COLUMNS)
    sources = raw_names if raw_names is not None and len(raw_names) == len(columns) else columns
    names, changed = clean_names(sources)
    # Renamed only where a name changes: an alias per column costs the binder (10,000 columns: seconds).
    select = "*" if names == columns else ", ".join(
        f"{_quote(c)} AS {_quote(n)}" for c, n in zip(columns, names, strict=True))
    # COPY answers the number of rows it wrote.
    rows = con.execute(f"COPY (SELECT {select} FROM ({source_sql})) TO '{_sql_path(out)}' "  # noqa: S608
                       f"({PARQUET_OPTIONS}, ROW_GROUP_SIZE 122880)").fetchone()
    return names, list(sources), changed, int(rows[0]) if rows else 0


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


def _csv_sql(path: Path, *, all_varchar: bool = False, null_padding: bool = False,
             long_lines: bool = False, tabs: bool = False) -> str:
    opts = ["header=true", f"sample_size={SNIFF_ROWS}"]
    if tabs:
        opts.append("delim='\t'")
    if long_lines:
        # Only when needed: DuckDB allocates buffers of this size per thread. The quoting is then
        # standard CSV's (RFC 4180): the sniffer, trying each quote and escape character, would
        # read a 50 MB line again for each (25 s instead of 2.5).
        opts += [f"max_line_size={MAX_LINE_BYTES}", f"buffer_size={MAX_LINE_BYTES * 2}",
                 "quote='\"'", "escape='\"'"]
    if all_varchar:
        opts.append("all_varchar=true")
    if null_padding:
        opts.append("null_padding=true")
    return f"SELECT * FROM read_csv('{_sql_path(path)}', {', '.join(opts)})"  # noqa: S608


def has_long_line(path: Path) -> bool:
    """Whether a line among the first the sniffer reads (``SNIFF_ROWS``, within ``LONG_LINE_SCAN``
    bytes) is longer than DuckDB reads by default: then the file is read with the large buffers
    at once, not after a first attempt fails (on a 50 MB cell, a failure that took 30-60 s). A long
    line further on is still caught by that failure."""
    run = lines = scanned = 0  # run: bytes since the last line break
    with path.open("rb") as fh:
        while scanned < LONG_LINE_SCAN and lines < SNIFF_ROWS:
            block = fh.read(TRANSCODE_CHUNK)
            if not block:
                return False
            scanned += len(block)
            start = 0
            while (end := block.find(b"\n", start)) >= 0:
                if run + end - start > DUCKDB_MAX_LINE_BYTES:
                    return True
                run, start, lines = 0, end + 1, lines + 1
            run += len(block) - start
            if run > DUCKDB_MAX_LINE_BYTES:
                return True
    return False


def _csv_error(exc: duckdb.Error, name: str) -> InvalidInput:
    text = str(exc)
    line = _CSV_LINE.search(text)
    where = line.group(1) if line else "?"
    if "unicode" in text.lower():
        return bad_file("{file}: line {line} is not valid UTF-8; the file mixes text encodings.", name,
                        line=where)
    if "sniff" in text.lower() or "dialect" in text.lower():
        return bad_file("{file}: this does not look like CSV text.", name)
    if "maximum line size" in text.lower():
        return bad_file("{file}: line {line} is longer than the limit of 128 MB.", name, line=where)
    return bad_file("{file}: the CSV cannot be read near line {line}.", name, line=where)


def _text_rows(path: Path, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    csv.field_size_limit(MAX_LINE_BYTES)
    with path.open(encoding="utf-8-sig", newline="") as fh:
        yield from enumerate(csv.reader(fh, delimiter=delimiter), start=1)


def _text_layout(source: Path, name: str, work: Path, out: Path, options: IngestOptions) -> tuple[Path, Layout | None]:
    """A text table whose header is not its first line alone (title rows above it, two levels), or
    whose holder chose how to read it, goes through spreadsheets.write_table (which also drops
    total rows): the cleaned UTF-8 CSV and what was done. Otherwise the file as it is, for DuckDB."""
    delimiter = _delimiter(source)
    if options == IngestOptions():
        sample: list[list[str]] = []
        try:
            for _number, row in _text_rows(source, delimiter):
                if any(v.strip() for v in row):
                    sample.append(row)
                if len(sample) >= spreadsheets.SAMPLE_ROWS:
                    break
        except (csv.Error, UnicodeDecodeError):
            return source, None  # DuckDB reports what is wrong, with the line
        if not sample or spreadsheets.find_header(sample) == (0, 1):
            return source, None
    cleaned = work / (out.stem + ".table.csv")
    try:
        layout = spreadsheets.write_table(name, [""], lambda _s: (_text_rows(source, delimiter), ()), options,
                                          cleaned, 2**62, "text")
    except csv.Error:
        cleaned.unlink(missing_ok=True)
        return source, None
    layout.sheets_available = []
    return cleaned, layout


def _drop_total_rows(con: duckdb.DuckDBPyConnection, parquet: Path, first: str) -> int:
    """Remove the total rows (合计, 总计, 小计, Total in the first column) from a Parquet file DuckDB
    wrote from text; how many. One scan of the first column, and only when it holds text: the
    values that may be totals are few and checked here, and the file is rewritten only if any is.
    The scan costs about 0.5 s a million rows (2 cores), so files beyond ``TOTALS_SCAN_MAX_ROWS`` (exports of
    systems, not reports) are not scanned."""
    where = f"read_parquet('{_sql_path(parquet)}')"
    kind = con.execute(f"SELECT typeof({_quote(first)}) FROM {where} LIMIT 1").fetchone()  # noqa: S608
    if not kind or kind[0] != "VARCHAR":
        return 0
    column = _quote(first)
    candidates = [v for (v,) in con.execute(
        f"SELECT DISTINCT {column} FROM {where} WHERE {column} LIKE '%计%' OR {column} LIKE '%总和%' "  # noqa: S608
        f"OR {column} ILIKE '%total%' OR {column} ILIKE '%sum%' LIMIT 1000"
    ).fetchall() if spreadsheets.is_total_row([v])]
    if not candidates:
        return 0
    listing = ", ".join("'" + v.replace("'", "''") + "'" for v in candidates)
    kept = parquet.with_suffix(".kept.parquet")
    con.execute(f"COPY (SELECT * FROM {where} WHERE {column} IS NULL OR {column} NOT IN ({listing})) "  # noqa: S608
                f"TO '{_sql_path(kept)}' ({PARQUET_OPTIONS}, ROW_GROUP_SIZE 122880)")
    before = con.execute(f"SELECT count(*) FROM {where}").fetchone()  # noqa: S608
    after = con.execute(f"SELECT count(*) FROM read_parquet('{_sql_path(kept)}')").fetchone()  # noqa: S608
    kept.replace(parquet)
    return int(before[0]) - int(after[0]) if before and after else 0


def ingest_csv(con: duckdb.DuckDBPyConnection, path: Path, name: str, out: Path, work: Path,
               options: IngestOptions | None = None) -> tuple[IngestedFile, list[str], list[str], int]:
    """``options``: look for the header row (and follow the holder's choice); None for a CSV this
    module wrote from a spreadsheet."""
    encoding = detect_encoding(path, name)
    source = path
    if encoding in ("gb18030", "utf-16-le", "utf-16-be"):
        source = work / (out.stem + ".utf8.csv")
        transcode_to_utf8(path, source, encoding, name)
    layout = None
    if options is not None:
        table, layout = _text_layout(source, name, work, out, options)
        if table != source:
            if source != path:
                source.unlink(missing_ok=True)
            source = table
    raw = _raw_csv_header(source)
    tabs = _delimiter(source) == "\t"
    attempts: list[dict[str, bool]] = [{}, {"all_varchar": True}]
    if len(raw) > 1:
        # A ragged file makes the sniffer fall back to one column; pad short rows instead.
        attempts = [{"null_padding": True}, {"null_padding": True, "all_varchar": True}]
    last: duckdb.Error | None = None
    long_lines = has_long_line(source)
    while attempts:
        opts = attempts[0]
        try:
            names, sources, changed, rows = _copy_relation(
                con, _csv_sql(source, long_lines=long_lines, tabs=tabs, **opts), out, raw if len(raw) > 1 else None)
        except duckdb.ConversionException as exc:  # the sniffer guessed a type a later row breaks
            last = exc
            attempts.pop(0)
            continue
        except duckdb.Error as exc:
            if "maximum line size" in str(exc).lower() and not long_lines:
                long_lines = True  # a huge cell: retry with DuckDB's larger (costlier) buffers
                continue
            raise _csv_error(exc, name) from None
        break
    else:
        raise _csv_error(last or duckdb.Error("unreadable"), name)
    if source != path:
        source.unlink(missing_ok=True)
    if rows == 0:
        raise bad_file("{file}: the file has a header but no data rows.", name)
    shown = {"utf-8-sig": "UTF-8 (BOM)", "utf-8": "UTF-8", "gb18030": "GB18030", "utf-16-le": "UTF-16 LE (BOM)",
             "utf-16-be": "UTF-16 BE (BOM)"}[encoding]
    if options is not None and layout is None:  # the first line is the header: said, so it can be corrected
        dropped = 0 if options.keep_totals or rows > TOTALS_SCAN_MAX_ROWS else _drop_total_rows(
            con, out, names[0] if names else "")
        rows -= dropped
        layout = Layout(sheets_read=[spreadsheets.SheetLayout(name="", header_row=1, header_rows=1, data_rows=rows,
                                                              total_count=dropped)],
                        options=options.to_json(), reader="duckdb")
        if rows == 0:
            raise bad_file("{file}: the file has a header but no data rows.", name)
    return IngestedFile(name, "csv", shown, rows, layout), names, sources, changed


def check_zip_bomb(path: Path, name: str) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError):
        raise bad_file("{file}: the XLSX workbook is damaged (not a valid zip archive).", name) from None
    total = sum(i.file_size for i in infos)
    for info in infos:
        if info.filename.lower().endswith("sharedstrings.xml") and info.file_size > XLSX_MAX_SHARED_STRINGS:
            raise bad_file("{file}: the workbook's text table expands to {size} MB, more than the {limit} MB "
                           "that can be read; save the sheet as CSV (UTF-8) and upload that.", name,
                           size=info.file_size // 2**20, limit=XLSX_MAX_SHARED_STRINGS // 2**20)
    for info in infos:
        ratio = info.file_size / max(info.compress_size, 1)
        if ratio > XLSX_MAX_RATIO and info.file_size > 10 * 1024 * 1024:
            raise bad_file("{file}: the workbook expands to far more than its size (a zip bomb); refused.", name)
    if total > XLSX_MAX_UNCOMPRESSED:
        raise bad_file("{file}: the workbook expands to far more than its size (a zip bomb); refused.", name)


class _DiskStrings:
    """An XLSX shared-string table kept in two files (the UTF-8 text, and the offsets where each
    string ends), read through ``mmap``: a table of any size costs a few megabytes of memory.
    openpyxl keeps the table as a list of Python strings, about eight times the XML."""

    def __init__(self, source: Any, folder: Path) -> None:
        from openpyxl.xml.constants import SHEET_MAIN_NS
        from openpyxl.xml.functions import iterparse

        tag, text_tag, run_tag = (f"{{{SHEET_MAIN_NS}}}{t}" for t in ("si", "t", "r"))
        folder.mkdir(parents=True, exist_ok=True)
        self._files = [(folder / "shared-strings.txt").open("w+b"), (folder / "shared-strings.idx").open("w+b")]
        text_file, index_file = self._files
        ends = array.array("q", [0])
        position = 0
        root = None
        for event, node in iterparse(source, events=("start", "end")):
            if root is None:
                root = node
            if event != "end" or node.tag != tag:
                continue
            # What openpyxl's read_string_table makes of it (``Text.content``: the plain text, then
            # the runs' text; phonetic guides left out), without building its objects.
            parts = []
            for child in node:
                if child.tag == text_tag:
                    parts.append(child.text or "")
                elif child.tag == run_tag:
                    run_text = child.find(text_tag)
                    if run_text is not None:
                        parts.append(run_text.text or "")
            data = "".join(parts).replace("x005F_", "").encode("utf-8", "surrogatepass")
            text_file.write(data)
            position += len(data)
            ends.append(position)
            root.clear()  # the strings read so far: iterparse would otherwise keep them all
            if len(ends) >= 65_536:
                index_file.write(ends.tobytes())
                ends = array.array("q")
        index_file.write(ends.tobytes())
        text_file.flush()
        index_file.flush()
        self._count = index_file.tell() // 8 - 1
        self._text = mmap.mmap(text_file.fileno(), 0, access=mmap.ACCESS_READ) if position else b""
        self._ends = mmap.mmap(index_file.fileno(), 0, access=mmap.ACCESS_READ)

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index: int) -> str:
        if not 0 <= index < self._count:
            raise IndexError(index)
        start, end = struct.unpack_from("<qq", self._ends, index * 8)
        return self._text[start:end].decode("utf-8", "surrogatepass")

    def close(self) -> None:
        if isinstance(self._text, mmap.mmap):
            self._text.close()
        self._ends.close()
        for fh in self._files:
            fh.close()


_XML_MARK = re.compile(rb"<(/?)(?:[A-Za-z_][\w.-]{0,30}:)?(row|c)[\s/>]|<!")


class _RowGuard:
    """A worksheet's XML on its way to the parser, refused as soon as one row grows beyond
    Excel's column limit or ``XLSX_MAX_ROW_BYTES`` (the parser holds a whole row in memory, at
    about 20 times its XML), or the XML holds what Excel never writes and could hide rows
    (comments, CDATA, a DOCTYPE). The parts before the first row and after the last (column
    widths, merged cells, hyperlinks: parsed whole as well) count as rows of their own."""

    def __init__(self, raw: Any, name: str) -> None:
        self.raw, self.name = raw, name
        self.position = 0  # bytes read so far
        self.row_start = 0  # where the current row (or the text before the first) began
        self.cells = 0
        self.tail = b""

    def read(self, size: int = -1) -> bytes:
        data: bytes = self.raw.read(size if size and size > 0 else 1024 * 1024)
        buffer = self.tail + data
        offset = self.position - len(self.tail)
        for match in _XML_MARK.finditer(buffer):
            if match.end() <= len(self.tail):
                continue  # seen with the previous block
            if match.group() == b"<!":
                raise bad_file("{file}: the worksheet holds XML that Excel does not write (comments, CDATA or a "
                               "document type); save the sheet as CSV (UTF-8) and upload that.", self.name)
            if match.group(2) == b"row":
                self.row_start, self.cells = offset + match.start(), 0
            elif not match.group(1):
                self.cells += 1
                if self.cells > XLSX_MAX_COLUMNS:
                    raise self._too_large()
        self.position += len(data)
        self.tail = buffer[-40:]
        if self.position - self.row_start > XLSX_MAX_ROW_BYTES:
            raise self._too_large()
        return data

    def _too_large(self) -> InvalidInput:
        return bad_file("{file}: a row (or another part) of the worksheet has more than {columns} cells or {mb} MB "
                        "of data, more than can be read; save the sheet as CSV (UTF-8) and upload that.", self.name,
                        columns=XLSX_MAX_COLUMNS, mb=XLSX_MAX_ROW_BYTES // 2**20)

    def close(self) -> None:
        self.raw.close()

    def __enter__(self) -> _RowGuard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _GuardedArchive:
    """The workbook's zip archive as openpyxl's read-only worksheets see it: worksheets come
    through ``_RowGuard``."""

    def __init__(self, archive: zipfile.ZipFile, name: str) -> None:
        self._archive, self._name = archive, name

    def open(self, member: str, *args: Any, **kwargs: Any) -> Any:
        raw = self._archive.open(member, *args, **kwargs)
        return _RowGuard(raw, self._name) if "worksheets/" in member else raw

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._archive, attribute)


def _open_workbook(handle: Any, folder: Path, name: str) -> Any:
    """openpyxl's ``load_workbook(read_only=True, data_only=True)``, with the shared strings on
    disk and the worksheets' rows bounded."""
    from openpyxl.reader.excel import SHARED_STRINGS, ExcelReader

    class Reader(ExcelReader):  # type: ignore[misc]
        def read_strings(self) -> None:
            part = self.package.find(SHARED_STRINGS)
            if part is not None:
                with self.archive.open(part.PartName[1:]) as src:
                    self.shared_strings = _DiskStrings(src, folder)

    reader = Reader(handle, read_only=True, data_only=True)
    # Before reading: openpyxl already walks each worksheet once to find its size.
    reader.archive = _GuardedArchive(reader.archive, name)
    try:
        reader.read()
    except BaseException:
        if isinstance(reader.shared_strings, _DiskStrings):
            reader.shared_strings.close()
        reader.archive.close()
        raise
    return reader.wb, reader.shared_strings


def _openpyxl_table(path: Path, name: str, dst: Path, options: IngestOptions) -> Layout:
    """A workbook too large for calamine's grid, read a row at a time (text table on disk)."""
    handle = path.open("rb")  # a file object: blob paths carry no .xlsx extension for openpyxl to check
    folder = dst.parent / (dst.name + ".strings")
    try:
        workbook, strings = _open_workbook(handle, folder, name)
    except QianshuError:
        handle.close()
        raise
    except Exception as exc:  # openpyxl raises many kinds (KeyError, InvalidFileException, ...)
        handle.close()
        raise bad_file("{file}: the XLSX workbook cannot be opened.", name) from exc

    def read_sheet(sheet_name: str) -> tuple[Any, spreadsheets.Merged]:
        rows = workbook[sheet_name].iter_rows(values_only=True)
        return ((n, list(r or ())) for n, r in enumerate(rows, start=1)), ()

    try:
        sheets = [ws.title for ws in workbook.worksheets]  # worksheets only (no chart sheets), visible first
        visible = [ws.title for ws in workbook.worksheets if getattr(ws, "sheet_state", "visible") == "visible"]
        return spreadsheets.write_table(name, visible or sheets, read_sheet, options, dst, XLSX_MAX_ROWS, "openpyxl")
    except zipfile.BadZipFile:
        raise bad_file("{file}: the XLSX workbook is damaged (not a valid zip archive).", name) from None
    except (IndexError, ValueError, KeyError, TypeError) as exc:  # e.g. a cell naming a string that is not there
        raise bad_file("{file}: the XLSX workbook cannot be opened.", name) from exc
    finally:
        workbook.close()
        if isinstance(strings, _DiskStrings):
            strings.close()
        shutil.rmtree(folder, ignore_errors=True)
        handle.close()


def _calamine_table(path: Path, name: str, dst: Path, options: IngestOptions) -> Layout:
    import python_calamine

    try:
        workbook = python_calamine.CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # CalamineError, ZipError, XmlError, PasswordError, ...
        raise bad_file("{file}: the spreadsheet cannot be opened (damaged, encrypted or not a workbook).",
                       name) from exc
    visible = [m.name for m in workbook.sheets_metadata
               if m.visible == python_calamine.SheetVisibleEnum.Visible
               and m.typ == python_calamine.SheetTypeEnum.WorkSheet] or list(workbook.sheet_names)

    def read_sheet(sheet_name: str) -> tuple[Any, spreadsheets.Merged]:
        sheet = workbook.get_sheet_by_name(sheet_name)
        # calamine's rows start at the sheet's first row (0) or at its first used row
        first = (sheet.end[0] + 2 - sheet.height) if sheet.end else 1
        return enumerate(sheet.iter_rows(), start=first), sheet.merged_cell_ranges or ()

    try:
        return spreadsheets.write_table(name, visible, read_sheet, options, dst, XLSX_MAX_ROWS, "calamine")
    except QianshuError:
        raise
    except Exception as exc:
        raise bad_file("{file}: the spreadsheet cannot be opened (damaged, encrypted or not a workbook).",
                       name) from exc
    finally:
        workbook.close()


def spreadsheet_to_csv(path: Path, name: str, dst: Path, fmt: str, options: IngestOptions) -> Layout:
    """The chosen sheets of an XLSX, XLS or ODS file as one UTF-8 CSV; what was detected and done."""
    limits = {"max_row_bytes": XLSX_MAX_ROW_BYTES, "max_columns": XLSX_MAX_COLUMNS, "max_rows": XLSX_MAX_ROWS}
    if fmt == "xlsx":
        check_zip_bomb(path, name)
        with zipfile.ZipFile(path) as archive:
            extents = spreadsheets.scan_xlsx(archive, name, **limits)
            strings = sum(i.file_size for i in archive.infolist() if i.filename.lower().endswith("sharedstrings.xml"))
        if (sum(e.cells for e in extents.values()) > spreadsheets.CALAMINE_MAX_CELLS
                or strings > spreadsheets.CALAMINE_MAX_SHARED_STRINGS):
            return _openpyxl_table(path, name, dst, options)
    elif fmt == "ods":
        check_zip_bomb(path, name)
        with zipfile.ZipFile(path) as archive:
            cells = spreadsheets.scan_ods(archive, name, **limits)
        if cells > spreadsheets.CALAMINE_MAX_CELLS:
            raise bad_file("{file}: the spreadsheet's sheets hold more than {max} cells, more than can be read; "
                           "save the sheet as CSV (UTF-8) and upload that.", name, max=spreadsheets.CALAMINE_MAX_CELLS)
    return _calamine_table(path, name, dst, options)


def _parquet_rows(path: Path, name: str) -> int:
    """The row count from the footer: a file cut short in upload has no footer, and says so."""
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(path).metadata
    except Exception as exc:  # pyarrow.lib.ArrowInvalid, ArrowException: no common base to name
        if "encrypt" in str(exc).lower():
            raise bad_file("{file}: the Parquet file is encrypted; upload it without Parquet "
                           "encryption.", name) from exc
        raise bad_file("{file}: the Parquet file is incomplete or damaged: its footer is missing, "
                       "so the upload may have been cut short.", name) from exc
    return int(meta.num_rows)


def _copy_parquet(con: duckdb.DuckDBPyConnection, src: SourceFile, out: Path,
                  rows_in_footer: int) -> tuple[list[str], list[str], int, int]:
    """Copy a Parquet file whose footer reads, naming what went wrong in its data if anything.

    A failure of our own disk (no space left) is no fault of the file and is not reported as one:
    it propagates, and the pipeline's job is retried.
    """
    try:
        return _copy_relation(
            con, f"SELECT * FROM read_parquet('{_sql_path(src.path)}')", out)  # noqa: S608
    except duckdb.OutOfMemoryException as exc:
        raise bad_file("{file}: the Parquet file needs more memory to convert than this server "
                       "allows (its row groups are too large); write it with smaller row groups.",
                       src.name) from exc
    except duckdb.NotImplementedException as exc:
        raise bad_file("{file}: the Parquet file uses a compression or column type this server "
                       "cannot read; write it with Snappy, ZSTD or no compression.",
                       src.name) from exc
    except duckdb.Error as exc:
        if isinstance(exc, duckdb.IOException) and ("No space left" in str(exc) or out.name in str(exc)):
            raise
        raise bad_file("{file}: the Parquet file is damaged: its footer reads ({rows} rows), "
                       "but a data page cannot be decoded.", src.name,
                       rows=format(rows_in_footer, ",")) from exc


def ingest_file(con: duckdb.DuckDBPyConnection, src: SourceFile, out: Path,
                work: Path) -> tuple[IngestedFile, list[str], list[str], int]:
    fmt = detect_format(src.path, src.name)
    if fmt == "csv":
        return ingest_csv(con, src.path, src.name, out, work, src.options)
    if fmt in SPREADSHEETS:
        tmp = work / (out.stem + ".sheet.csv")
        try:
            layout = spreadsheet_to_csv(src.path, src.name, tmp, fmt, src.options)
            info, names, sources, changed = ingest_csv(con, tmp, src.name, out, work)
        finally:
            tmp.unlink(missing_ok=True)
        return IngestedFile(src.name, fmt, "", info.row_count, layout), names, sources, changed
    if fmt == "parquet":
        rows_read = _parquet_rows(src.path, src.name)
        names, sources, changed, rows = _copy_parquet(con, src, out, rows_read)
        if rows == 0:
            raise bad_file("{file}: the file has no data rows.", src.name)
        return IngestedFile(src.name, "parquet", "", rows), names, sources, changed
    detect_encoding(src.path, src.name)  # refuses binary content with a clear message
    try:
        names, sources, changed, rows = _copy_relation(
            con, f"SELECT * FROM read_json('{_sql_path(src.path)}', format='newline_delimited', "  # noqa: S608
                 f"maximum_object_size={MAX_LINE_BYTES})", out)
    except duckdb.Error as exc:
        raise bad_file("{file}: the JSON Lines file cannot be read (each line must be one JSON object).",
                       src.name) from exc
    if rows == 0:
        raise bad_file("{file}: the file has no data rows.", src.name)
    return IngestedFile(src.name, "jsonl", "UTF-8", rows), names, sources, changed


def normalise(con: duckdb.DuckDBPyConnection, sources: list[SourceFile], work: Path,
              progress: Callable[[float, str], None] | None = None) -> IngestResult:
    """Every file to Parquet, stacked by column name into ``work/normalised.parquet``."""
    if not sources:
        raise InvalidInput("Upload at least one file.", field="files", code="no_files")
    parts: list[Path] = []
    files: list[IngestedFile] = []
    names: list[str] = []
    source_names: list[str] = []
    renamed = 0
    seen: set[str] = set()  # a set: 10,000 columns make 50 million list comparisons
    for i, src in enumerate(sources):
        if progress:
            progress(i / len(sources), src.name)
        part = work / f"part-{i}.parquet"
        info, cols, raw, changed = ingest_file(con, src, part, work)
        files.append(info)
        parts.append(part)
        renamed += changed
        for col, raw_name in zip(cols, raw, strict=True):
            if col not in seen:
                seen.add(col)
                names.append(col)
                source_names.append(raw_name)
    final = work / "normalised.parquet"
    if len(parts) == 1:
        parts[0].replace(final)
    else:
        listing = ", ".join(f"'{_sql_path(p)}'" for p in parts)
        try:
            con.execute(f"COPY (SELECT * FROM read_parquet([{listing}], union_by_name=true)) "  # noqa: S608
                        f"TO '{_sql_path(final)}' ({PARQUET_OPTIONS})")
        except duckdb.Error as exc:
            raise InvalidInput("The files cannot be combined: the same column has incompatible types.",
                               field="files", code="incompatible_files") from exc
        for p in parts:
            p.unlink(missing_ok=True)
    return IngestResult(final, files, names, source_names, renamed)
