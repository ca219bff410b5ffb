"""Loading: record batches into ``raw_<source>.<table>``, full or incremental, with watermarks.

Each table is synced in one DuckDB transaction that also moves its watermark, so the watermark
never runs ahead of the data it covers. Rows arrive as Arrow batches and are cast to the raw
table's types inside DuckDB (SQLite's text timestamps become ``TIMESTAMP``, MySQL's ``TINYINT(1)``
becomes ``BOOLEAN``, decimals keep their scale, a 4-byte float becomes the ``DOUBLE`` of its
shortest decimal: PostgreSQL's ``real`` 0.15 is 0.15, not 0.15000000596…).

A value that does not convert (SQLite keeps ``'n/a'`` in a ``DATE`` column, ``'1,200.00'`` in a
``NUMERIC`` one) does not stop the load: it becomes NULL in its typed column and the row says why
in the load column ``_invalid`` (``issued_on: 'n/a' is not a date; amount: '1,200.00' is not a
number``), NULL for a row that converted cleanly. Validation quarantines those rows.

- **full**: the table is rebuilt from the source (schema drift resolved by the rebuild).
- **incremental**: rows with the incremental column at or after the watermark are merged by
  primary key (delete the old versions, insert the new); ``>=`` so rows sharing the watermark's
  second are re-read rather than missed, which the merge makes harmless.
- **delete check**: the source's keys are compared with the raw table's; raw rows whose key is gone
  get ``_deleted_at`` (they stay, as tombstones, out of every ``stg_`` view).

A row whose primary key does not convert has a NULL key, so it cannot be matched with its later
versions: an incremental sync that reads such a row reloads the table in full instead (nothing is
merged twice), and the delete check leaves rows with a NULL key alone (a full sync drops one that
is gone at the source).
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import duckdb
import pyarrow as pa
from sqlalchemy.engine import URL

from etl.errors import SchemaDrift
from etl.extract import NULL_FLAG, count_rows, key_sql, read_batches, select_sql
from etl.sources import SourceTable
from kpiboard.faults import crash_point

META_SCHEMA = "_kpiboard"
STAGE_PREFIX = "__stage_"
LOAD_COLUMNS = (
    ("_source", "VARCHAR"),
    ("_loaded_at", "TIMESTAMP"),
    ("_deleted_at", "TIMESTAMP"),
    ("_invalid", "VARCHAR"),  # why the row's values did not all convert; NULL when they did
)
INVALID = "_invalid"
INVALID_VALUE_CHARS = 40  # a value quoted in ``_invalid`` is cut to this many characters

# changes of a column's type the raw table follows by itself: (old, new) prefixes
_WIDENING = {
    ("INTEGER", "BIGINT"),
    ("SMALLINT", "INTEGER"),
    ("SMALLINT", "BIGINT"),
    ("FLOAT", "DOUBLE"),
}


def q(name: str) -> str:
    """A quoted DuckDB identifier."""
    return '"' + name.replace('"', '""') + '"'


def raw_schema(source: str) -> str:
    return f"raw_{source}"


@dataclass
class TableResult:
    """What one table's sync did, for the run history and the summary."""

    source: str
    table: str
    mode: str  # full | incremental
    rows_read: int = 0
    rows_loaded: int = 0
    rows_deleted: int = 0
    seconds: float = 0.0
    watermark_before: str | None = None
    watermark_after: str | None = None
    error: str | None = None
    source_rows: int | None = None  # the table's row count at the source, after the sync
    rows_invalid: int = 0  # rows read with a value that did not convert (``_invalid`` set)


Progress = Callable[[int], None]


def ensure_meta(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {META_SCHEMA}")
    con.execute(
        f"""CREATE TABLE IF NOT EXISTS {META_SCHEMA}.watermarks (
            source VARCHAR, "table" VARCHAR, "column" VARCHAR, value VARCHAR,
            loads INTEGER, updated_at TIMESTAMP, PRIMARY KEY (source, "table"))"""
    )


def watermark(con: duckdb.DuckDBPyConnection, source: str, table: str) -> tuple[str | None, int]:
    row = con.execute(
        f'SELECT value, loads FROM {META_SCHEMA}.watermarks WHERE source = ? AND "table" = ?',
        [source, table],
    ).fetchone()
    return (row[0], int(row[1])) if row else (None, 0)


def add_load_columns(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Add the load columns a raw table lacks (``_invalid`` to a snapshot written before it
    existed), to every ``raw_*`` table, so that every raw table has them whether or not this run
    syncs it. Returns the tables changed, ``schema.table``."""
    rows = con.execute(
        "SELECT t.table_schema, t.table_name, list(c.column_name) "
        "FROM information_schema.tables t JOIN information_schema.columns c "
        "ON c.table_schema = t.table_schema AND c.table_name = t.table_name "
        "WHERE t.table_schema LIKE 'raw\\_%' ESCAPE '\\' AND t.table_type = 'BASE TABLE' "
        "AND NOT starts_with(t.table_name, ?) GROUP BY ALL ORDER BY ALL",
        [STAGE_PREFIX],
    ).fetchall()
    changed = []
    for schema, table, columns in rows:
        for name, kind in LOAD_COLUMNS:
            if name not in columns:
                con.execute(f"ALTER TABLE {q(schema)}.{q(table)} ADD COLUMN {q(name)} {kind}")
                changed.append(f"{schema}.{table}")
    return changed


def raw_columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> dict[str, str] | None:
    rows = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [schema, table],
    ).fetchall()
    return {name: kind for name, kind in rows} or None


def sync_table(
    con: duckdb.DuckDBPyConnection,
    url: URL,
    table: SourceTable,
    *,
    full: bool,
    check_deletes: bool,
    batch_rows: int,
    commit_lock: threading.Lock,
    progress: Progress | None = None,
) -> TableResult:
    """Bring ``raw_<source>.<table>`` up to date with the source; one transaction."""
    started = time.perf_counter()
    schema = raw_schema(table.source)
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {q(schema)}")
    existing = raw_columns(con, schema, table.name)
    before, loads = watermark(con, table.source, table.name)
    incremental = (
        not full and existing is not None and bool(table.incremental) and before is not None
    )
    result = TableResult(table.source, table.name, "incremental" if incremental else "full")
    result.watermark_before = before
    if existing is not None and not full:
        _follow_drift(con, schema, table, existing)

    # the stage is a table of the snapshot file (not TEMP, which DuckDB keeps in memory), so a
    # table of any size spills to disk; a full refresh renames it into place instead of copying
    stage = f"{q(schema)}.{q(STAGE_PREFIX + table.name)}"
    target = f"{q(schema)}.{q(table.name)}"
    loaded_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)

    def counted(batch: pa.RecordBatch) -> None:
        result.rows_read += batch.num_rows
        crash_point(f"batch:{table.source}.{table.name}")
        if progress is not None:
            progress(batch.num_rows)

    def fill_stage(since: str | None) -> tuple[int, int]:
        """Read the rows (all, or from ``since``) into a fresh stage; return how many have
        ``_invalid`` set and how many have a NULL key (one that did not convert)."""
        con.execute(f"CREATE OR REPLACE TABLE {stage} ({_column_defs(table)})")
        result.rows_read = 0
        sql = select_sql(url, table, since=since)
        batches = read_batches(
            url, sql, source=table.source, table=table.name, batch_rows=batch_rows
        )
        _insert_stream(con, stage, table, batches, loaded_at, counted)
        unkeyed = " OR ".join(f"{q(k)} IS NULL" for k in table.primary_key) or "false"
        row = con.execute(
            f"SELECT count(*) FILTER (WHERE {q(INVALID)} IS NOT NULL), "
            f"count(*) FILTER (WHERE {unkeyed}) FROM {stage}"
        ).fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)

    try:
        result.rows_invalid, unkeyed = fill_stage(before if incremental else None)
        if incremental and table.primary_key and unkeyed:
            # rows without a key cannot be merged with the versions already loaded: reload
            incremental = False
            result.mode = "full"
            result.rows_invalid, _ = fill_stage(None)
        with commit_lock:
            con.execute("BEGIN TRANSACTION")
            try:
                if incremental and table.primary_key:
                    keys = " AND ".join(f"r.{q(k)} = s.{q(k)}" for k in table.primary_key)
                    newer = f"SELECT 1 FROM {stage} s WHERE {keys}"
                    con.execute(f"DELETE FROM {target} r WHERE EXISTS ({newer})")
                    con.execute(f"INSERT INTO {target} BY NAME SELECT * FROM {stage}")
                    after = _new_watermark(con, stage, table, before)
                else:
                    after = _new_watermark(con, stage, table, before)
                    con.execute(f"DROP TABLE IF EXISTS {target}")
                    con.execute(f"ALTER TABLE {stage} RENAME TO {q(table.name)}")
                result.rows_loaded = result.rows_read
                if check_deletes and table.primary_key:
                    result.rows_deleted = _mark_deleted(
                        con, url, table, target, batch_rows, loaded_at
                    )
                result.watermark_after = after
                con.execute(
                    f"INSERT OR REPLACE INTO {META_SCHEMA}.watermarks VALUES (?, ?, ?, ?, ?, ?)",
                    [table.source, table.name, table.incremental, after, loads + 1, loaded_at],
                )
                crash_point(f"commit:{table.source}.{table.name}")
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
    finally:
        con.execute(f"DROP TABLE IF EXISTS {stage}")
    result.source_rows = count_rows(url, table)
    result.seconds = time.perf_counter() - started
    return result


def _column_defs(table: SourceTable) -> str:
    columns = [(c.name, c.type) for c in table.columns] + list(LOAD_COLUMNS)
    return ", ".join(f"{q(name)} {kind}" for name, kind in columns)


_KINDS = {
    "BOOLEAN": "boolean",
    "TINYINT": "integer",
    "SMALLINT": "integer",
    "INTEGER": "integer",
    "BIGINT": "integer",
    "HUGEINT": "integer",
    "UTINYINT": "integer",
    "USMALLINT": "integer",
    "UINTEGER": "integer",
    "UBIGINT": "integer",
    "DECIMAL": "number",
    "DOUBLE": "number",
    "FLOAT": "number",
    "REAL": "number",
    "DATE": "date",
    "TIME": "time",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamp",
    "BLOB": "blob",
    "UUID": "uuid",
}


def value_kind(duckdb_type: str) -> str | None:
    """What a value of a raw column's type is, as ``_invalid`` names it (``'a date'``,
    ``'an integer'``, ``'a number'`` …); ``None`` for text, to which every value converts."""
    base = duckdb_type.split("(")[0].strip().upper()
    if base in ("VARCHAR", "TEXT", "STRING"):
        return None
    kind = _KINDS.get(base, base.lower())
    return ("an " if kind[0] in "aeiou" else "a ") + kind


@dataclass(frozen=True)
class Conversion:
    """How a batch's columns become a raw table's, each value converted once.

    ``inner`` is the ``SELECT`` list over the batch (alias ``b``) that converts each column with
    ``TRY_CAST`` (aliases ``v0``, ``v1`` …) and keeps the source value of every column that can
    fail; ``values`` is the ``SELECT`` list over that subquery (alias ``c``) giving the typed
    columns under their own names, and ``invalid`` the ``_invalid`` expression over it: NULL when
    every value converted, else ``<column>: '<value>' is not a <kind>`` for each one that did not,
    joined with ``; ``.
    """

    inner: str
    values: str
    invalid: str

    def select(self, relation: str) -> str:
        """``SELECT`` the typed values and ``_invalid`` from ``relation`` (the batches)."""
        return (
            f"SELECT {self.values}, {self.invalid} AS {q(INVALID)} "
            f"FROM (SELECT {self.inner} FROM {relation} b) c"
        )


def conversion(
    table: SourceTable, batch_types: Mapping[str, str], columns: list[str]
) -> Conversion:
    """The conversion of ``columns`` from a batch whose columns have DuckDB types ``batch_types``.

    A column read with a NULL flag (SQLite: text plus ``<name>__isnull``) is NULL where the flag
    is set and the text converted to its type elsewhere; a non-null value whose conversion gives
    NULL did not convert. A column the batch already holds in the raw type, or whose raw type is
    text, cannot fail and is not checked.
    """
    types = {c.name: c.type for c in table.columns}
    singles = {c.name for c in table.columns if c.single_precision}
    inner, values, checks = [], [], []
    for i, name in enumerate(columns):
        target, source = types[name], batch_types.get(name, "")
        flag = name + NULL_FLAG
        flagged = flag in batch_types
        kind = value_kind(target)
        same = _same_type(source, target)
        single = name in singles and _same_type(target, "DOUBLE") and source != "VARCHAR"
        if single:
            # a 4-byte float (PostgreSQL real, MySQL FLOAT) holds 0.15 as 0.1500000059604644…,
            # and arrives widened to a double; the shortest decimal that is the same 32-bit
            # float is the value written (PostgreSQL's own real::numeric gives it too), so that
            # is what raw keeps
            value = f"CAST(CAST(CAST(b.{q(name)} AS FLOAT) AS VARCHAR) AS DOUBLE)"
        elif same:
            value = f"b.{q(name)}"
        elif kind is not None:
            value = f"TRY_CAST(b.{q(name)} AS {target})"
        else:
            value = f"CAST(b.{q(name)} AS {target})"
        if flagged:
            value = f"CASE WHEN b.{q(flag)} THEN NULL ELSE {value} END"
        inner.append(f"{value} AS v{i}")
        values.append(f"c.v{i} AS {q(name)}")
        if same or single or kind is None:  # cannot fail
            continue
        inner.append(f"b.{q(name)} AS s{i}")
        if flagged:
            inner.append(f"b.{q(flag)} AS n{i}")
            failed = f"(c.v{i} IS NULL AND NOT CAST(c.n{i} AS BOOLEAN))"
        else:
            failed = f"(c.v{i} IS NULL AND c.s{i} IS NOT NULL)"
        text = f"CAST(c.s{i} AS VARCHAR)"
        cut = (
            f"CASE WHEN length({text}) > {INVALID_VALUE_CHARS} "
            f"THEN left({text}, {INVALID_VALUE_CHARS - 1}) || '…' ELSE {text} END"
        )
        head, tail = _literal(name + ": '"), _literal("' is not " + kind)
        checks.append((failed, f"{head} || {cut} || {tail}"))
    if checks:
        anything = " OR ".join(failed for failed, _ in checks)
        reasons = ", ".join(f"CASE WHEN {failed} THEN {reason} END" for failed, reason in checks)
        invalid = f"CASE WHEN {anything} THEN concat_ws('; ', {reasons}) END"
    else:
        invalid = "NULL::VARCHAR"
    return Conversion(", ".join(inner), ", ".join(values), invalid)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def batch_types(con: duckdb.DuckDBPyConnection, batch: pa.RecordBatch) -> dict[str, str]:
    """The DuckDB type of each of ``batch``'s columns, as a query over it sees it."""
    empty = con.from_arrow(pa.Table.from_batches([batch.slice(0, 0)]))
    return {name: str(kind) for name, kind in zip(empty.columns, empty.types, strict=True)}


def _insert_stream(
    con: duckdb.DuckDBPyConnection,
    stage: str,
    table: SourceTable,
    batches: Iterator[pa.RecordBatch],
    loaded_at: dt.datetime,
    on_batch: Callable[[pa.RecordBatch], None],
) -> None:
    """Insert every batch into ``stage`` with one statement: DuckDB pulls the Arrow stream
    itself (no Python work per batch beyond ``on_batch``) and converts to the raw types, a value
    that does not convert becoming NULL and noted in ``_invalid`` (:func:`conversion`)."""
    first = next(batches, None)
    if first is None:
        return

    def pulled() -> Iterator[pa.RecordBatch]:
        for batch in itertools.chain([first], batches):
            on_batch(batch)
            yield batch

    reader = pa.RecordBatchReader.from_batches(first.schema, pulled())
    converted = conversion(table, batch_types(con, first), table.column_names)
    view = f"stream_{threading.get_ident()}"
    con.register(view, reader)
    try:
        con.execute(
            f"INSERT INTO {stage} BY NAME SELECT *, ? AS _source, ? AS _loaded_at, "
            f"NULL::TIMESTAMP AS _deleted_at FROM ({converted.select(q(view))})",
            [table.source, loaded_at],
        )
    finally:
        con.unregister(view)


def _new_watermark(
    con: duckdb.DuckDBPyConnection, stage: str, table: SourceTable, before: str | None
) -> str | None:
    if not table.incremental:
        return None
    row = con.execute(
        f"SELECT CAST(max({q(table.incremental)}) AS VARCHAR) FROM {stage}"
    ).fetchone()
    newest = row[0] if row else None
    if newest is None:
        return before
    return max(newest, before) if before else newest


def _mark_deleted(
    con: duckdb.DuckDBPyConnection,
    url: URL,
    table: SourceTable,
    target: str,
    batch_rows: int,
    at: dt.datetime,
) -> int:
    keys_table = f"keys_{table.source}_{table.name}"
    key_defs = ", ".join(
        f"{q(c.name)} {c.type}" for c in table.columns if c.name in table.primary_key
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE {q(keys_table)} ({key_defs})")
    view = f"keys_{threading.get_ident()}"
    for batch in read_batches(
        url, key_sql(url, table), source=table.source, table=table.name, batch_rows=batch_rows
    ):
        keys = conversion(table, batch_types(con, batch), list(table.primary_key))
        con.register(view, batch)
        try:
            con.execute(
                f"INSERT INTO {q(keys_table)} SELECT {keys.values} "
                f"FROM (SELECT {keys.inner} FROM {q(view)} b) c"
            )
        finally:
            con.unregister(view)
    match = " AND ".join(f"k.{q(k)} = r.{q(k)}" for k in table.primary_key)
    # a row whose key did not convert (NULL) matches no key: it cannot be told apart, so it is
    # left alone rather than marked deleted at every check
    keyed = " AND ".join(f"r.{q(k)} IS NOT NULL" for k in table.primary_key)
    gone = con.execute(
        f"UPDATE {target} r SET _deleted_at = ? WHERE _deleted_at IS NULL AND {keyed} "
        f"AND NOT EXISTS (SELECT 1 FROM {q(keys_table)} k WHERE {match})",
        [at],
    ).fetchone()
    # rows that came back at the source are alive again
    con.execute(
        f"UPDATE {target} r SET _deleted_at = NULL WHERE _deleted_at IS NOT NULL "
        f"AND EXISTS (SELECT 1 FROM {q(keys_table)} k WHERE {match})"
    )
    con.execute(f"DROP TABLE IF EXISTS {q(keys_table)}")
    return int(gone[0]) if gone else 0


def _follow_drift(
    con: duckdb.DuckDBPyConnection, schema: str, table: SourceTable, existing: dict[str, str]
) -> None:
    """Add new source columns; stop on a dropped column or an incompatible type change."""
    wanted = {c.name: c.type for c in table.columns}
    for name, old in existing.items():
        if name.startswith("_") and name in dict(LOAD_COLUMNS):
            continue
        if name not in wanted:
            raise SchemaDrift(table.source, table.name, name, old, "-")
        new = wanted[name]
        if _same_type(old, new):
            continue
        if (old.split("(")[0], new.split("(")[0]) in _WIDENING or _wider_decimal(old, new):
            con.execute(f"ALTER TABLE {q(schema)}.{q(table.name)} ALTER {q(name)} TYPE {new}")
        else:
            raise SchemaDrift(table.source, table.name, name, old, new)
    added = [(c.name, c.type) for c in table.columns] + list(LOAD_COLUMNS)
    for name, kind in added:
        if name not in existing:  # a new source column, or a load column of a newer kpiboard
            con.execute(f"ALTER TABLE {q(schema)}.{q(table.name)} ADD COLUMN {q(name)} {kind}")


def _same_type(old: str, new: str) -> bool:
    return old.replace(" ", "").upper() == new.replace(" ", "").upper()


def _wider_decimal(old: str, new: str) -> bool:
    if not (old.startswith("DECIMAL") and new.startswith("DECIMAL")):
        return False
    (p1, s1), (p2, s2) = (tuple(int(x) for x in t[8:-1].split(",")) for t in (old, new))
    return s2 >= s1 and p2 - s2 >= p1 - s1
