"""Reading a member's data files (CSV or Parquet) as typed columns, in a streaming fashion.

Every cell has one normalised text form, the same from CSV and from Parquet, which is what the
fingerprint hashes (see `alliance.fingerprint`):

    integer  decimal digits, optional '-', no leading zeros or '+':  "007" -> "7"
    decimal  positional notation, no exponent or trailing zeros: "1.50" -> "1.5", "1e3" -> "1000"
    boolean  "true" / "false" (CSV accepts any letter case)
    date     "YYYY-MM-DD"
    string   the cell exactly as read (no trimming)
    missing  "" (an empty CSV cell, a Parquet null)

CSV files need a header row; a column's type is inferred from its non-empty cells (integer, else
decimal, else boolean, else date, else string). Parquet column types come from the file's schema.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np

from alliance.errors import DatasetFileError

COLUMN_TYPES = ("string", "integer", "decimal", "boolean", "date")
CSV_SUFFIXES = (".csv",)
PARQUET_SUFFIXES = (".parquet", ".pq")
BATCH_ROWS = 65536

# A cell that fits a type: blanks (space, tab) around it allowed, empty means missing.
_FIT_CELL = {
    "integer": r"[ \t]*(?:[+-]?\d+)?[ \t]*",
    "decimal": r"[ \t]*(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)?[ \t]*",
    "boolean": r"[ \t]*(?:[Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee])?[ \t]*",
    "date": r"[ \t]*(?:\d{4}-\d{2}-\d{2})?[ \t]*",
}
# A cell already in normalised form (the common case, kept as is without parsing).
_CANONICAL_CELL = {
    "integer": r"(?:0|-?[1-9]\d*)?",
    "decimal": r"(?:(?:0|-?[1-9]\d*)(?:\.\d*[1-9])?|-0\.\d*[1-9])?",
    "boolean": r"(?:true|false)?",
    "date": r"(?:\d{4}-\d{2}-\d{2})?",
}


_FITS = {kind: re.compile(cell) for kind, cell in _FIT_CELL.items()}
_CANONICAL = {kind: re.compile(cell) for kind, cell in _CANONICAL_CELL.items()}
_HEADER_LOOKS_NUMERIC = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


@dataclass(frozen=True)
class Column:
    name: str
    type: str

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "type": self.type}


def schema_dicts(schema: Sequence[Column]) -> list[dict[str, str]]:
    """The schema as it goes on the ledger: `[{"name": ..., "type": ...}, ...]`."""
    return [c.to_dict() for c in schema]


def schema_from_dicts(items: Sequence[dict[str, str]]) -> list[Column]:
    columns = [Column(str(item["name"]), str(item["type"])) for item in items]
    for column in columns:
        if column.type not in COLUMN_TYPES:
            raise DatasetFileError(
                f"column {column.name!r} has type {column.type!r}; "
                f"use one of {', '.join(COLUMN_TYPES)}"
            )
    return columns


# --- cell normalisation ----------------------------------------------------------------------


def normalise_decimal(text: str) -> str:
    """Plain decimal notation without exponent or trailing zeros; "-0" is "0"."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation as exc:
        raise DatasetFileError(f"{text!r} is not a decimal number") from exc
    if not value.is_finite():
        raise DatasetFileError(f"{text!r} is not a finite decimal number")
    out = format(value, "f")
    if "." in out:
        out = out.rstrip("0").rstrip(".")
    return "0" if out in ("-0", "") else out


def _dates_valid(cells: Sequence[str]) -> bool:
    """Calendar check of cells already shaped YYYY-MM-DD (or blank)."""
    try:
        np.array(cells, dtype="datetime64[D]")
        return True
    except ValueError:
        pass  # a blank-padded cell, or a day that does not exist: check one by one
    try:
        for cell in cells:
            text = cell.strip()
            if text:
                date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _column_fits(kind: str, cells: Sequence[str]) -> bool:
    if kind == "string":
        return True
    joined = "".join(cells)
    if kind == "integer" and joined.isascii() and joined.isdigit():
        return True  # fast path: unsigned integers (and missing cells)
    if not all(map(_FITS[kind].fullmatch, cells)):
        return False
    return kind != "date" or _dates_valid(cells)


def _first_misfit(kind: str, cells: Sequence[str]) -> int:
    for index, cell in enumerate(cells):
        if not _column_fits(kind, [cell]):
            return index
    return -1


def _normalise_one(kind: str, cell: str) -> str:
    text = cell.strip()
    if not text:
        return ""
    if kind == "integer":
        return str(int(text))
    if kind == "decimal":
        return normalise_decimal(text)
    if kind == "boolean":
        return text.lower()
    return text


def normalise_column(kind: str, cells: Sequence[str]) -> list[str]:
    """Normalised text of cells that fit `kind` (check with `check_column` first)."""
    if kind == "string":
        return list(cells)
    canonical = _CANONICAL[kind].fullmatch
    if all(map(canonical, cells)):
        return list(cells)
    return [c if canonical(c) else _normalise_one(kind, c) for c in cells]


def check_column(kind: str, cells: Sequence[str], where: str, first_row: int = 1) -> None:
    """Raise DatasetFileError naming the first cell of `cells` that does not fit `kind`."""
    if _column_fits(kind, cells):
        return
    index = _first_misfit(kind, cells)
    raise DatasetFileError(
        f"{where}, data row {first_row + index}: {kind} column holds {cells[index]!r}"
        f"{thousands_hint(cells[index])}; fix the cell or register the column with another "
        "type (`alliance dataset register --type COLUMN=TYPE`)"
    )


# --- CSV -------------------------------------------------------------------------------------


def _kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        return "csv"
    if suffix in PARQUET_SUFFIXES:
        return "parquet"
    raise DatasetFileError(
        f"{path}: unsupported file type {suffix or '(none)'!r}; use .csv or .parquet"
    )


def _check_exists(path: Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise DatasetFileError(f"data file {path} does not exist (or is not a file)")
    return path


DELIMITERS = (",", ";", "\t", "|")
_THOUSANDS = re.compile(r"[ \t]*[+-]?\d{1,3}(?:,\d{3})+(?:\.\d*)?[ \t]*")


def sniff_delimiter(header_line: str) -> str:
    """The delimiter of a CSV file, from its header line: whichever of `, ; TAB |` occurs most
    outside quotes (a comma when none does). The same file always gives the same answer, so the
    owner's registration and its node's runs read it alike. Pure."""
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for char in header_line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(DELIMITERS, key=lambda d: (counts[d], d == ","))
    return best if counts[best] else ","


def thousands_hint(cell: str) -> str:
    """A note for a cell like "1,234.50": numbers are read without thousands separators."""
    if _THOUSANDS.fullmatch(cell):
        return (
            "; it looks like a number with thousands separators, which are not read as "
            "numbers: remove the separators (1234.50)"
        )
    return ""


class _CsvChunks:
    """A CSV file read in chunks of rows: the header, then `(first data row number, rows)`.

    Blank lines are skipped; a row whose width differs from the header's is an error.
    """

    def __init__(
        self, path: Path, batch_rows: int = BATCH_ROWS, delimiter: str | None = None
    ) -> None:
        self.path = path
        self.batch_rows = batch_rows
        self._handle = path.open(newline="", encoding="utf-8-sig")
        try:
            self.delimiter = delimiter or sniff_delimiter(self._handle.readline())
            self._handle.seek(0)
        except UnicodeDecodeError as exc:
            self._handle.close()
            raise DatasetFileError(f"{path} is not readable CSV: {exc}") from exc
        self._reader = csv.reader(self._handle, delimiter=self.delimiter)
        try:
            header = next((row for row in self._reader if row), None)
        except (UnicodeDecodeError, csv.Error) as exc:
            self._handle.close()
            raise DatasetFileError(f"{path} is not readable CSV: {exc}") from exc
        if header is None:
            self._handle.close()
            raise DatasetFileError(
                f"{path} is empty; CSV files need a header row with column names"
            )
        try:
            self.names = _check_header(path, header)
        except DatasetFileError:
            self._handle.close()
            raise

    def close(self) -> None:
        self._handle.close()

    def __iter__(self) -> Iterator[tuple[int, list[list[str]]]]:
        width = len(self.names)
        row_number = 1
        try:
            while True:
                try:
                    chunk = list(islice(self._reader, self.batch_rows))
                except (UnicodeDecodeError, csv.Error) as exc:
                    raise DatasetFileError(f"{self.path} is not readable CSV: {exc}") from exc
                if not chunk:
                    return
                widths = set(map(len, chunk))
                if 0 in widths:
                    chunk = [row for row in chunk if row]
                    widths.discard(0)
                    if not chunk:
                        continue
                if widths != {width}:
                    bad = next(i for i, row in enumerate(chunk) if len(row) != width)
                    raise DatasetFileError(
                        f"{self.path}, data row {row_number + bad}: {len(chunk[bad])} cells "
                        f"where the header has {width}; every row needs one cell per column"
                    )
                yield row_number, chunk
                row_number += len(chunk)
        finally:
            self._handle.close()


def _check_header(path: Path, header: list[str]) -> list[str]:
    names = [h.strip() for h in header]
    if any(not n for n in names):
        raise DatasetFileError(
            f"{path}: the header row has an empty column name; name every column"
        )
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise DatasetFileError(
            f"{path}: duplicate column names in the header: {', '.join(duplicates)}"
        )
    if all(_HEADER_LOOKS_NUMERIC.fullmatch(n) for n in names):
        raise DatasetFileError(
            f"{path}: the first row looks like data ({', '.join(names)}); "
            "CSV files need a header row with column names"
        )
    return names


def _infer_csv(
    path: Path,
    only: str | None = None,
    declared: dict[str, str] | None = None,
    delimiter: str | None = None,
) -> list[Column]:
    chunks = _CsvChunks(path, delimiter=delimiter)
    names = chunks.names
    declared = declared or {}
    candidates = [["integer", "decimal", "boolean", "date"] for _ in names]
    seen = [False] * len(names)
    watch = list(range(len(names))) if only is None else [names.index(only)]
    watch = [i for i in watch if names[i] not in declared]
    # a column whose cells all look like "1,234.50": refused below, never typed as text silently
    grouped: dict[int, tuple[int, str] | None] = {i: None for i in watch}
    for first_row, chunk in chunks:
        for i in watch:
            column = [row[i] for row in chunk]
            if not seen[i]:
                seen[i] = any(map(str.strip, column))
            candidates[i] = [k for k in candidates[i] if _column_fits(k, column)]
            if i in grouped and not candidates[i]:
                filled = [(n, c) for n, c in enumerate(column) if c.strip()]
                if all(_THOUSANDS.fullmatch(c) or _FITS["decimal"].fullmatch(c) for _, c in filled):
                    first = next(((n, c) for n, c in filled if _THOUSANDS.fullmatch(c)), None)
                    if grouped[i] is None and first is not None:
                        grouped[i] = (first_row + first[0], first[1])
                else:
                    del grouped[i]
        watch = [i for i in watch if candidates[i] or i in grouped]
        if not watch:
            break
    for i, found in grouped.items():
        if found is not None and not candidates[i]:
            row, cell = found
            raise DatasetFileError(
                f"{path}, data row {row}: column {names[i]!r} holds {cell!r}, a number with "
                "thousands separators, which are not read as numbers; remove the separators "
                f"(1234.50), or keep the column as text with `--type {names[i]}=string`"
            )
    for name, kind in declared.items():
        if name not in names:
            raise DatasetFileError(
                f"{path} has no column {name!r} to type; its columns: {', '.join(names)}"
            )
        if kind not in COLUMN_TYPES:
            raise DatasetFileError(
                f"type {kind!r} of column {name!r} is not one of {', '.join(COLUMN_TYPES)}"
            )
    return [
        Column(name, declared.get(name) or (cands[0] if cands and seen[i] else "string"))
        for i, (name, cands) in enumerate(zip(names, candidates, strict=True))
    ]


def _check_names(path: Path, names: Sequence[str], schema: Sequence[Column]) -> None:
    expected = [c.name for c in schema]
    if list(names) != expected:
        raise DatasetFileError(
            f"{path}: columns {list(names)} do not match the expected schema {expected}"
        )


def _csv_batches(
    path: Path, schema: Sequence[Column], batch_rows: int, delimiter: str | None = None
) -> Iterator[list[list[str]]]:
    chunks = _CsvChunks(path, batch_rows, delimiter)
    _check_names(path, chunks.names, schema)
    for first_row, chunk in chunks:
        out = []
        for column, cells in zip(schema, zip(*chunk, strict=True), strict=True):
            check_column(column.type, cells, f"{path}, column {column.name!r}", first_row)
            out.append(normalise_column(column.type, cells))
        yield out


# --- Parquet ---------------------------------------------------------------------------------


def _parquet_file(path: Path) -> Any:
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path)
    except Exception as exc:
        raise DatasetFileError(f"{path} is not a readable Parquet file: {exc}") from exc


def _arrow_kind(path: Path, name: str, arrow_type: Any) -> str:
    import pyarrow.types as pat

    if pat.is_boolean(arrow_type):
        return "boolean"
    if pat.is_integer(arrow_type):
        return "integer"
    if pat.is_floating(arrow_type) or pat.is_decimal(arrow_type):
        return "decimal"
    if pat.is_date(arrow_type):
        return "date"
    if pat.is_string(arrow_type) or pat.is_large_string(arrow_type):
        return "string"
    raise DatasetFileError(
        f"{path}: column {name!r} has Parquet type {arrow_type}, which datasets do not support; "
        f"convert it to one of {', '.join(COLUMN_TYPES)}"
    )


def _infer_parquet(path: Path) -> list[Column]:
    schema = _parquet_file(path).schema_arrow
    return [Column(f.name, _arrow_kind(path, f.name, f.type)) for f in schema]


def _arrow_cells(kind: str, array: Any) -> list[str]:
    """Normalised texts of a Parquet column chunk (nulls become "")."""
    import pyarrow as pa

    if kind == "decimal":
        if pa.types.is_floating(array.type):
            texts = ["" if v is None else repr(v) for v in array.to_pylist()]
        else:
            texts = ["" if v is None else str(v) for v in array.to_pylist()]
        return normalise_column("decimal", texts)
    if kind == "string":
        return array.fill_null("").to_pylist()
    return array.cast(pa.string()).fill_null("").to_pylist()


def _parquet_batches(
    path: Path, schema: Sequence[Column], batch_rows: int
) -> Iterator[list[list[str]]]:
    pfile = _parquet_file(path)
    actual = _infer_parquet(path)
    _check_names(path, [c.name for c in actual], schema)
    for got, want in zip(actual, schema, strict=True):
        if got.type != want.type:
            raise DatasetFileError(
                f"{path}: column {got.name!r} is {got.type} in the file "
                f"but {want.type} in the schema"
            )
    for record_batch in pfile.iter_batches(batch_size=batch_rows):
        yield [
            _arrow_cells(col.type, record_batch.column(i)) for i, col in enumerate(schema)
        ]


# --- public API ------------------------------------------------------------------------------


def infer_schema(
    path: Path, declared: dict[str, str] | None = None, delimiter: str | None = None
) -> list[Column]:
    """Column names and types of a CSV (by reading it once) or Parquet file (from its schema).

    `declared` types some CSV columns by name instead of inferring them (`--type col=decimal`);
    `delimiter` overrides the one sniffed from the header (`--delimiter`)."""
    path = _check_exists(path)
    if _kind(path) == "csv":
        return _infer_csv(path, declared=declared, delimiter=delimiter)
    schema = _infer_parquet(path)
    if declared:
        raise DatasetFileError(
            f"{path}: a Parquet file carries its column types; --type applies to CSV files"
        )
    return schema


def iter_batches(
    path: Path,
    schema: Sequence[Column] | None = None,
    *,
    batch_rows: int = BATCH_ROWS,
    delimiter: str | None = None,
) -> Iterator[list[list[str]]]:
    """Column-major batches of normalised cell text: `batch[column][row]`.

    With `schema`, the file must have exactly those columns and every cell must fit its type;
    without, the schema is inferred first (for CSV, one extra pass over the file).
    """
    path = _check_exists(path)
    kind = _kind(path)
    schema = list(schema) if schema is not None else infer_schema(path, delimiter=delimiter)
    if kind == "csv":
        yield from _csv_batches(path, schema, batch_rows, delimiter)
    else:
        yield from _parquet_batches(path, schema, batch_rows)


def iter_rows(path: Path, schema: Sequence[Column] | None = None) -> Iterator[list[str]]:
    """Each data row as its normalised cell texts (header excluded)."""
    for batch in iter_batches(path, schema):
        for row in zip(*batch, strict=True):
            yield list(row)


def _column_type(
    path: Path, column: str, schema: Sequence[Column] | None, delimiter: str | None = None
) -> tuple[int, str]:
    if schema is None:
        if _kind(path) == "csv":
            header = _CsvChunks(path, delimiter=delimiter)
            header.close()
            names = header.names
            schema = (
                _infer_csv(path, only=column, delimiter=delimiter)
                if column in names
                else [Column(n, "string") for n in names]
            )
        else:
            schema = _infer_parquet(path)
    names = [c.name for c in schema]
    if column not in names:
        raise DatasetFileError(
            f"{path} has no column {column!r}; available columns: {', '.join(names)}"
        )
    index = names.index(column)
    return index, schema[index].type


def read_column(
    path: Path,
    column: str,
    schema: Sequence[Column] | None = None,
    delimiter: str | None = None,
) -> np.ndarray:
    """One column as a numpy array: int64, float64 (decimal), bool, datetime64[D] or str objects.

    Missing cells are NaN in decimal columns and "" in string columns; in integer, boolean and
    date columns they are an error (those arrays have no missing value).
    """
    path = _check_exists(path)
    index, kind = _column_type(path, column, schema, delimiter)
    if _kind(path) == "parquet":
        return _read_parquet_column(path, column, kind)
    cells: list[str] = []
    for first_row, chunk in _CsvChunks(path, delimiter=delimiter):
        part = [row[index] for row in chunk]
        check_column(kind, part, f"{path}, column {column!r}", first_row)
        cells.extend(normalise_column(kind, part))
    return cells_to_array(str(path), column, kind, cells)


def cells_to_array(where: str, column: str, kind: str, cells: list[str]) -> np.ndarray:
    """Normalised cell texts of one column as a numpy array (see `read_column`)."""
    if kind == "string":
        out = np.empty(len(cells), dtype=object)
        out[:] = cells
        return out
    if kind == "decimal":
        return np.array([float(c) if c else np.nan for c in cells], dtype=np.float64)
    if "" in cells:
        raise DatasetFileError(
            f"{where}: column {column!r} ({kind}) has missing cells, e.g. data row "
            f"{cells.index('') + 1}; fill them in or read the column as decimal or string"
        )
    if kind == "integer":
        try:
            return np.array([int(c) for c in cells], dtype=np.int64)
        except OverflowError as exc:
            raise DatasetFileError(f"{where}: column {column!r} has integers beyond int64") from exc
    if kind == "boolean":
        return np.array([c == "true" for c in cells], dtype=bool)
    return np.array(cells, dtype="datetime64[D]")


def _read_parquet_column(path: Path, column: str, kind: str) -> np.ndarray:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path, columns=[column])
    except Exception as exc:
        raise DatasetFileError(f"{path}: cannot read column {column!r}: {exc}") from exc
    chunked = table.column(0)
    if kind in ("integer", "boolean", "date") and chunked.null_count:
        raise DatasetFileError(
            f"{path}: column {column!r} ({kind}) has {chunked.null_count} missing values; "
            "fill them in or read the column as decimal or string"
        )
    if kind == "string":
        out = np.empty(len(chunked), dtype=object)
        out[:] = ["" if v is None else v for v in chunked.to_pylist()]
        return out
    if kind == "decimal":
        import pyarrow as pa

        return chunked.cast(pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64)
    if kind == "integer":
        return chunked.to_numpy().astype(np.int64)
    if kind == "boolean":
        return chunked.to_numpy(zero_copy_only=False).astype(bool)
    return np.array(chunked.to_pylist(), dtype="datetime64[D]")
