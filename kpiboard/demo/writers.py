"""Bulk writers: stream generated frames into SQLite, PostgreSQL or MariaDB on each one's fast path.

- SQLite: one transaction per database and ``executemany`` of a prepared ``INSERT`` with the
  journal in memory and ``synchronous=OFF`` while loading (the file is new; nothing to protect).
- PostgreSQL: ``COPY … FROM STDIN`` through psycopg 3.
- MariaDB/MySQL: ``LOAD DATA LOCAL INFILE`` of a tab-separated file per batch; where the
  server refuses it, PyMySQL's ``executemany`` (multi-row ``INSERT`` statements).

Frames are turned into rows column by column (``numpy`` → Python values in one call per column),
never cell by cell in Python.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import URL

from kpiboard import urls


def python_columns(table: sa.Table, frame: pd.DataFrame, *, sqlite: bool) -> list[list[Any]]:
    """The frame's values as Python lists, one per table column, NULLs as ``None``.

    SQLite has no date or time types: like most software on it, we store ISO-8601 text.
    """
    out: list[list[Any]] = []
    for column in table.columns:
        values = (
            frame[column.name].to_numpy() if column.name in frame else np.full(len(frame), None)
        )
        kind = column.type
        if isinstance(kind, sa.DateTime | sa.Date):
            unit = "s" if isinstance(kind, sa.DateTime) else "D"
            stamps = np.asarray(values, dtype=f"datetime64[{unit}]")
            missing = np.isnat(stamps)
            if sqlite:
                text = np.datetime_as_string(stamps, unit=unit).astype(object)  # type: ignore[call-overload]
                if unit == "s":
                    text = np.char.replace(text.astype(str), "T", " ").astype(object)
                text[missing] = None
                out.append(text.tolist())
            else:
                out.append(stamps.astype(object).tolist())
        elif isinstance(kind, sa.Integer):
            numbers = np.asarray(values)
            if numbers.dtype.kind == "f" or numbers.dtype == object:
                floats = pd.to_numeric(pd.Series(numbers), errors="raise").to_numpy(dtype=float)
                missing = np.isnan(floats)
                ints = np.where(missing, 0, floats).astype(np.int64).astype(object)
                ints[missing] = None
                out.append(ints.tolist())
            else:
                out.append(numbers.astype(np.int64).tolist())
        elif isinstance(kind, sa.Numeric):
            floats = np.round(
                pd.to_numeric(pd.Series(values)).to_numpy(dtype=float), kind.scale or 0
            )
            obj = floats.astype(object)
            obj[np.isnan(floats)] = None
            out.append(obj.tolist())
        elif isinstance(kind, sa.Boolean):
            flags = np.asarray(values, dtype=bool)
            out.append(flags.astype(np.int64).tolist() if sqlite else flags.tolist())
        else:
            obj = np.array(values, dtype=object)  # a copy: frames may hand out read-only views
            obj[pd.isna(obj)] = None
            out.append(obj.tolist())
    return out


def _tsv_field(value: Any) -> str:
    """One field in MySQL's ``LOAD DATA`` text format (tab-separated, backslash escapes)."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, str):
        return value.translate(_TSV_ESCAPES)
    return str(value)


_TSV_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\0": "\\0"})
# MySQL error codes meaning "LOAD DATA LOCAL is switched off" (server or client side)
_LOCAL_INFILE_REFUSED = {1148, 2068, 3948, 4166}


class DatabaseWriter:
    """Writes frames into one database over one connection and one transaction.

    The fast path per engine: ``COPY`` for PostgreSQL, ``LOAD DATA LOCAL INFILE`` for MariaDB and
    MySQL (falling back to multi-row ``INSERT`` where the server forbids it), and a prepared
    ``executemany`` for SQLite.
    """

    def __init__(self, url: URL, *, local_infile: bool = True) -> None:
        """Connect to ``url``; ``local_infile=False`` leaves the MySQL client capability off."""
        self.url = url
        self.kind = urls.backend(url)
        connect_args = {"local_infile": local_infile} if self.kind == "mysql" else {}
        self.engine = sa.create_engine(url, connect_args=connect_args)
        try:
            self.dbapi = self.engine.raw_connection()
        except sa.exc.OperationalError as exc:
            self.engine.dispose()
            raise urls.connect_error(url, exc) from None
        self.rows = 0
        self.load_data = self.kind == "mysql"
        cur = self.dbapi.cursor()
        if self.kind == "sqlite":
            cur.execute("PRAGMA journal_mode=MEMORY")
            cur.execute("PRAGMA synchronous=OFF")
        elif self.kind == "mysql":
            cur.execute("SET unique_checks=0")
            cur.execute("SET autocommit=0")
        cur.close()

    def write(self, table: sa.Table, frame: pd.DataFrame) -> None:
        if frame.empty:
            return
        columns = python_columns(table, frame, sqlite=self.kind == "sqlite")
        rows = list(zip(*columns, strict=True))
        if self.kind == "postgresql":
            self._copy(table, rows)
        elif self.load_data:
            self._load_data(table, columns)
        else:
            self._insert_many(table, rows)
        self.rows += len(rows)

    def _copy(self, table: sa.Table, rows: list[tuple[Any, ...]]) -> None:
        quoted = ", ".join(f'"{c.name}"' for c in table.columns)
        cur = self.dbapi.cursor()
        try:
            with cur.copy(f'COPY "{table.name}" ({quoted}) FROM STDIN') as copy:
                for row in rows:
                    copy.write_row(row)
        finally:
            cur.close()

    def _load_data(self, table: sa.Table, columns: list[list[Any]]) -> None:
        fields = [[_tsv_field(v) for v in column] for column in columns]
        text = "".join("\t".join(row) + "\n" for row in zip(*fields, strict=True))
        names = ", ".join(f"`{c.name}`" for c in table.columns)
        with tempfile.NamedTemporaryFile("w", suffix=".tsv", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            sql = (
                f"LOAD DATA LOCAL INFILE %s INTO TABLE `{table.name}` CHARACTER SET utf8mb4 "
                f"FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' ({names})"
            )
            cur = self.dbapi.cursor()
            try:
                cur.execute(sql, (fh.name,))
            except Exception as exc:  # the server may refuse LOCAL INFILE: use INSERT instead
                code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
                if code not in _LOCAL_INFILE_REFUSED:
                    raise
                self.load_data = False
                self._insert_many(table, list(zip(*columns, strict=True)))
            finally:
                cur.close()

    def _insert_many(self, table: sa.Table, rows: list[tuple[Any, ...]]) -> None:
        marker = "?" if self.kind == "sqlite" else "%s"
        quote = '"' if self.kind == "sqlite" else "`"
        names = ", ".join(quote + c.name + quote for c in table.columns)
        sql = (
            f"INSERT INTO {quote}{table.name}{quote} ({names}) "
            f"VALUES ({', '.join([marker] * len(table.columns))})"
        )
        cur = self.dbapi.cursor()
        try:
            cur.executemany(sql, rows)
        finally:
            cur.close()

    def commit(self) -> None:
        self.dbapi.commit()
        if self.kind == "sqlite":
            cur = self.dbapi.cursor()
            cur.execute("PRAGMA journal_mode=DELETE")
            cur.close()

    def close(self) -> None:
        try:
            self.dbapi.close()
        finally:
            self.engine.dispose()
