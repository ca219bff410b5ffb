"""Bulk writers: stream generated frames into SQLite, PostgreSQL or MariaDB on each one's fast path.

- SQLite: one transaction per database and ``executemany`` of a prepared ``INSERT`` with the
  journal in memory and ``synchronous=OFF`` while loading (the file is new; nothing to protect).
- PostgreSQL: ``COPY … FROM STDIN`` through psycopg 3.
- MariaDB/MySQL: PyMySQL's ``executemany``, which sends multi-row ``INSERT`` statements.

Frames are turned into rows column by column (``numpy`` → Python values in one call per column),
never cell by cell in Python.
"""

from __future__ import annotations

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


class DatabaseWriter:
    """Writes frames into one database over one connection and one transaction."""

    def __init__(self, url: URL) -> None:
        self.url = url
        self.kind = urls.backend(url)
        self.engine = sa.create_engine(url)
        try:
            self.dbapi = self.engine.raw_connection()
        except sa.exc.OperationalError as exc:
            self.engine.dispose()
            raise urls.connect_error(url, exc) from None
        self.rows = 0
        if self.kind == "sqlite":
            cur = self.dbapi.cursor()
            cur.execute("PRAGMA journal_mode=MEMORY")
            cur.execute("PRAGMA synchronous=OFF")
            cur.close()
        elif self.kind == "mysql":
            cur = self.dbapi.cursor()
            cur.execute("SET unique_checks=0")
            cur.execute("SET autocommit=0")
            cur.close()

    def write(self, table: sa.Table, frame: pd.DataFrame) -> None:
        if frame.empty:
            return
        columns = python_columns(table, frame, sqlite=self.kind == "sqlite")
        rows = list(zip(*columns, strict=True))
        names = [c.name for c in table.columns]
        cur = self.dbapi.cursor()
        try:
            if self.kind == "postgresql":
                quoted = ", ".join(f'"{n}"' for n in names)
                with cur.copy(f'COPY "{table.name}" ({quoted}) FROM STDIN') as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                marker = "?" if self.kind == "sqlite" else "%s"
                quote = '"' if self.kind == "sqlite" else "`"
                sql = (
                    f"INSERT INTO {quote}{table.name}{quote} "
                    f"({', '.join(quote + n + quote for n in names)}) "
                    f"VALUES ({', '.join([marker] * len(names))})"
                )
                cur.executemany(sql, rows)
        finally:
            cur.close()
        self.rows += len(rows)

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
