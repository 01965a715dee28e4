"""Where a member's rows live: a CSV or Parquet file, or a table behind a SQLAlchemy URL.

Every source streams: fingerprinting and column reads go batch by batch, never the whole table as
Python rows. The cell texts (and so the fingerprint) are the same whichever kind holds the data.

`read_columns_verified` is what a job runs on: the columns and the dataset fingerprint come from
one pass over the source (one query for SQL), so the fingerprint checked is that of the very cells
the job uses, whatever happens to the source before or after.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from alliance import datafile
from alliance.datafile import Column, check_column, normalise_column
from alliance.errors import AllianceError
from alliance.fingerprint import DatasetFingerprint, fingerprint_batches
from node.errors import DatasetError

SQL_BATCH_ROWS = 65536


class DataSource(Protocol):
    """Rows of one local dataset."""

    location: str

    def schema(self) -> list[Column]: ...

    def fingerprint(self) -> DatasetFingerprint: ...

    def read_column(self, column: str) -> np.ndarray: ...

    def read_columns_verified(
        self, columns: Sequence[str]
    ) -> tuple[dict[str, np.ndarray], DatasetFingerprint]: ...

    def read_column_verified(self, column: str) -> tuple[np.ndarray, DatasetFingerprint]: ...


@dataclass(frozen=True)
class FileSource:
    """A CSV or Parquet file on the node's disk, read as its owner registered it."""

    path: Path
    declared: tuple[tuple[str, str], ...] = ()
    """Column types the owner declared at registration (`--type col=decimal`)."""
    delimiter: str | None = None
    """The CSV delimiter the owner gave (`--delimiter`); None: sniffed from the header."""

    @property
    def location(self) -> str:
        """The path, with the reading options after `#` when there are any (see open_source)."""
        options = []
        if self.declared:
            options.append("types=" + ",".join(f"{c}:{t}" for c, t in self.declared))
        if self.delimiter:
            options.append(f"delimiter={self.delimiter}")
        return str(self.path) + (f"#{'&'.join(options)}" if options else "")

    def schema(self) -> list[Column]:
        try:
            return datafile.infer_schema(self.path, dict(self.declared) or None, self.delimiter)
        except AllianceError as exc:
            raise DatasetError(str(exc)) from exc

    def _batches(self, schema: Sequence[Column]) -> Iterator[list[list[str]]]:
        return datafile.iter_batches(self.path, schema, delimiter=self.delimiter)

    def fingerprint(self) -> DatasetFingerprint:
        try:
            schema = self.schema()
            return fingerprint_batches(schema, self._batches(schema))
        except AllianceError as exc:
            raise DatasetError(str(exc)) from exc

    def read_column(self, column: str) -> np.ndarray:
        try:
            schema = self.schema() if self.declared else None
            return datafile.read_column(self.path, column, schema, self.delimiter)
        except AllianceError as exc:
            raise DatasetError(str(exc)) from exc

    def read_columns_verified(
        self, columns: Sequence[str]
    ) -> tuple[dict[str, np.ndarray], DatasetFingerprint]:
        """`columns` and the fingerprint of the whole file, from one streaming pass."""
        try:
            schema = self.schema()
            return _verified(self.location, schema, self._batches(schema), columns)
        except AllianceError as exc:
            raise DatasetError(str(exc)) from exc

    def read_column_verified(self, column: str) -> tuple[np.ndarray, DatasetFingerprint]:
        values, fp = self.read_columns_verified([column])
        return values[column], fp


def _sql_kind(sql_type: object) -> str:
    from sqlalchemy import types

    if isinstance(sql_type, types.Boolean):
        return "boolean"
    if isinstance(sql_type, types.Integer):
        return "integer"
    if isinstance(sql_type, (types.Numeric, types.Float)):
        return "decimal"
    if isinstance(sql_type, types.Date):
        return "date"
    return "string"


def _cell_text(kind: str, value: object) -> str:
    if value is None:
        return ""
    if kind == "boolean":
        return "true" if value else "false"
    if kind == "date":
        return value.isoformat() if hasattr(value, "isoformat") else str(value)
    return str(value)


@dataclass(frozen=True)
class SqlSource:
    """A table reached through a SQLAlchemy URL (`sqlite:///x.db`, `postgresql://...`)."""

    url: str
    table: str

    @property
    def location(self) -> str:
        return f"{self.url}#{self.table}"

    def _table(self):  # type: ignore[no-untyped-def]
        from sqlalchemy import MetaData, Table, create_engine
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import NoSuchTableError, SQLAlchemyError

        try:
            url = make_url(self.url)
        except (SQLAlchemyError, ValueError) as exc:
            raise DatasetError(f"{self.url!r} is not a SQLAlchemy URL: {exc}") from exc
        database = url.database or ""
        is_file_db = url.get_backend_name() == "sqlite" and database not in ("", ":memory:")
        if is_file_db and not Path(database).is_file():  # sqlite would create an empty file
            raise DatasetError(f"no SQLite database file at {database}")
        try:
            engine = create_engine(url)
            return engine, Table(self.table, MetaData(), autoload_with=engine)
        except NoSuchTableError as exc:
            raise DatasetError(f"{self.url} has no table {self.table!r}") from exc
        except (SQLAlchemyError, ValueError, ImportError) as exc:
            raise DatasetError(f"cannot open {self.url}: {exc}") from exc

    def schema(self) -> list[Column]:
        engine, table = self._table()
        engine.dispose()
        return _sql_schema(table)

    def _batches(self, names: Sequence[str] | None = None) -> Iterator[list[list[str]]]:
        engine, table = self._table()
        yield from self._scan(engine, table, names)

    def _scan(  # type: ignore[no-untyped-def]
        self, engine, table, names: Sequence[str] | None = None
    ) -> Iterator[list[list[str]]]:
        """One SELECT over `table` (a consistent read), batch by batch; disposes `engine`."""
        from sqlalchemy import select

        columns = [c for c in table.columns if names is None or c.name in names]
        kinds = [_sql_kind(c.type) for c in columns]
        key = list(table.primary_key.columns) or columns
        try:
            with engine.connect() as conn:
                result = conn.execution_options(yield_per=SQL_BATCH_ROWS).execute(
                    select(*columns).order_by(*key)
                )
                for part in result.partitions():
                    batch = [
                        [_cell_text(kind, row[i]) for row in part] for i, kind in enumerate(kinds)
                    ]
                    for kind, cells in zip(kinds, batch, strict=True):
                        check_column(kind, cells, f"{self.location}")
                    yield [
                        normalise_column(k, cells) for k, cells in zip(kinds, batch, strict=True)
                    ]
        finally:
            engine.dispose()

    def fingerprint(self) -> DatasetFingerprint:
        return fingerprint_batches(self.schema(), self._batches())

    def read_column(self, column: str) -> np.ndarray:
        schema = {c.name: c.type for c in self.schema()}
        if column not in schema:
            raise DatasetError(
                f"table {self.table!r} has no column {column!r}; available: {', '.join(schema)}"
            )
        cells: list[str] = []
        for batch in self._batches([column]):
            cells.extend(batch[0])
        try:
            return datafile.cells_to_array(self.location, column, schema[column], cells)
        except AllianceError as exc:
            raise DatasetError(str(exc)) from exc

    def read_columns_verified(
        self, columns: Sequence[str]
    ) -> tuple[dict[str, np.ndarray], DatasetFingerprint]:
        """`columns` and the fingerprint of the whole table, from one query."""
        engine, table = self._table()
        schema = _sql_schema(table)
        try:
            return _verified(self.location, schema, self._scan(engine, table), columns)
        except AllianceError as exc:
            raise DatasetError(str(exc)) from exc
        finally:
            engine.dispose()

    def read_column_verified(self, column: str) -> tuple[np.ndarray, DatasetFingerprint]:
        values, fp = self.read_columns_verified([column])
        return values[column], fp


def _sql_schema(table) -> list[Column]:  # type: ignore[no-untyped-def]
    return [Column(c.name, _sql_kind(c.type)) for c in table.columns]


def _verified(
    where: str,
    schema: Sequence[Column],
    batches: Iterable[Sequence[Sequence[str]]],
    columns: Sequence[str],
) -> tuple[dict[str, np.ndarray], DatasetFingerprint]:
    """Fingerprint `batches` and keep the cells of `columns` from the same batches."""
    names = [c.name for c in schema]
    absent = [c for c in columns if c not in names]
    if absent:
        raise DatasetError(
            f"{where} has no column {absent[0]!r}; available columns: {', '.join(names)}"
        )
    wanted = {c: names.index(c) for c in dict.fromkeys(columns)}
    cells: dict[str, list[str]] = {c: [] for c in wanted}

    def tapped() -> Iterator[Sequence[Sequence[str]]]:
        for batch in batches:
            for column, index in wanted.items():
                cells[column].extend(batch[index])
            yield batch

    fp = fingerprint_batches(schema, tapped())
    values = {
        c: datafile.cells_to_array(where, c, schema[i].type, cells[c]) for c, i in wanted.items()
    }
    return values, fp


TYPES_MARK = "#types="
"""Where the reading options of a file location begin when it declares column types."""
_OPTIONS = re.compile(r"#((?:types|delimiter)=.*)$", re.S)


def file_path_of(location: str) -> str:
    """The file of a file location, without its reading options."""
    match = _OPTIONS.search(location)
    return location[: match.start()] if match else location


def open_source(location: str) -> DataSource:
    """`path.csv`, `path.parquet`, `URL#table`, or a file with reading options:
    `path.csv#types=COL:TYPE,COL:TYPE&delimiter=;` -> the matching source."""
    if "://" in location:
        url, sep, table = location.rpartition("#")
        if not sep or not table:
            raise DatasetError(f"SQL location {location!r} names no table: write URL#table")
        return SqlSource(url, table)
    match = _OPTIONS.search(location)
    if not match:
        return FileSource(Path(location))
    declared: tuple[tuple[str, str], ...] = ()
    delimiter = None
    for option in match.group(1).split("&"):
        name, _, value = option.partition("=")
        if name == "types":
            declared = tuple(
                (column, kind)
                for column, _, kind in (item.partition(":") for item in value.split(",") if item)
            )
        elif name == "delimiter":
            delimiter = value or None
    return FileSource(Path(location[: match.start()]), declared, delimiter)
