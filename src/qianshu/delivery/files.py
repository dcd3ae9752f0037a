"""Delivered copies and suspect files: writing a product's batches as CSV (UTF-8, UTF-8 with a
byte-order mark for Excel, or GB18030), XLSX or Parquet, and reading a suspect file of any of those
formats back as text columns."""

from __future__ import annotations

import codecs
import io
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

# "csv" is plain UTF-8 for programs; "csv-excel" is the same text after a UTF-8 byte-order mark, which
# is what makes Excel (Chinese Windows above all) read it as UTF-8 rather than the ANSI code page; see
# docs/delivery.md, "CSV encodings".
FORMATS = ("csv", "csv-excel", "csv-gb18030", "xlsx", "parquet")
CSV_FORMATS = ("csv", "csv-excel", "csv-gb18030")
BATCH_ROWS = 256 * 1024


class UnreadableFile(ValueError):
    """A suspect file that is no CSV, XLSX or Parquet we can read."""


def write_copy(batches: Iterable[pa.RecordBatch], schema: pa.Schema, destination: Path, fmt: str) -> int:
    """Write ``batches`` to ``destination`` in ``fmt``; returns the rows written."""
    rows = 0
    if fmt == "parquet":
        with pq.ParquetWriter(destination, schema) as writer:
            for batch in batches:
                writer.write_batch(batch)
                rows += batch.num_rows
    elif fmt in CSV_FORMATS:
        def encoded(data: bytes) -> bytes:  # Arrow writes UTF-8
            return data.decode("utf-8").encode("gb18030") if fmt == "csv-gb18030" else data

        with destination.open("wb") as out:
            if fmt == "csv-excel":
                out.write(codecs.BOM_UTF8)
            header = True
            for batch in batches:
                buffer = io.BytesIO()
                pacsv.write_csv(batch, buffer, pacsv.WriteOptions(include_header=header))
                header = False
                out.write(encoded(buffer.getvalue()))
                rows += batch.num_rows
            if header:  # no batch at all: still the header line
                buffer = io.BytesIO()
                pacsv.write_csv(schema.empty_table(), buffer)
                out.write(encoded(buffer.getvalue()))
    elif fmt == "xlsx":
        from openpyxl import Workbook

        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet()
        sheet.append(schema.names)
        for batch in batches:
            for row in zip(*(column.to_pylist() for column in batch.columns), strict=True):
                sheet.append(list(row))
            rows += batch.num_rows
        workbook.save(destination)
    else:
        raise ValueError(fmt)
    return rows


def _sniff(path: Path) -> str:
    with path.open("rb") as handle:
        head = handle.read(8)
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    return "csv"


def _csv_encoding(path: Path) -> str:
    """UTF-8 (with or without a byte-order mark) when every byte decodes so, else GB18030."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    with path.open("rb") as handle:
        try:
            while chunk := handle.read(1 << 20):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "gb18030"
    return "utf-8"


def _as_text(table: pa.Table) -> pa.Table:
    return pa.table({f"c{i}": column.cast(pa.string()) if not pa.types.is_string(column.type) else column
                     for i, column in enumerate(table.columns)})


def read_suspect(path: Path) -> pa.Table:
    """A suspect file as a table of text columns (names dropped: columns are matched by content)."""
    kind = _sniff(path)
    try:
        if kind == "parquet":
            return _as_text(pq.read_table(path))
        if kind == "xlsx":
            return _read_xlsx(path)
        encoding = _csv_encoding(path)
        read = pacsv.ReadOptions(encoding=encoding, block_size=1 << 24)
        names = pacsv.open_csv(path, read_options=read).schema.names
        convert = pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=False)
        table = pacsv.read_csv(path, read_options=read, convert_options=convert)
        return pa.table({f"c{i}": column for i, column in enumerate(table.columns)})
    except (pa.ArrowInvalid, OSError, ValueError, KeyError) as exc:
        raise UnreadableFile(str(exc)) from exc


def _read_xlsx(path: Path) -> pa.Table:
    from python_calamine import CalamineWorkbook

    try:
        rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python(skip_empty_area=False)
    except Exception as exc:
        raise UnreadableFile(str(exc)) from exc
    if not rows:
        return pa.table({})
    width = max(len(r) for r in rows)
    body = rows[1:]

    def text(value: object) -> str | None:
        if value is None or value == "":
            return None if value is None else ""
        if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
            return str(int(value))
        return str(value)

    return pa.table({f"c{i}": pa.array([text(r[i]) if i < len(r) else None for r in body], pa.string())
                     for i in range(width)})


def original_sample(path: Path, rows: int) -> pa.Table:
    """The first ``rows`` rows of a product's Parquet (what a plan is made from)."""
    parquet = pq.ParquetFile(path)
    batches = []
    taken = 0
    for batch in parquet.iter_batches(batch_size=min(rows, BATCH_ROWS)):
        batches.append(batch.slice(0, rows - taken))
        taken += batches[-1].num_rows
        if taken >= rows:
            break
    return pa.Table.from_batches(batches, schema=parquet.schema_arrow)
