"""Quarantine: rows that failed a ``warn`` expectation, kept aside with the reason.

Quarantined rows stay in ``raw_<source>.<table>`` (nothing is lost, and the source still
reconciles) but are listed in ``quarantine.<table>`` and left out of the ``stg_`` views, so no
model sees them. Each validation run re-examines the live raw rows of the tables it validates, so
the quarantine describes the current data: a row fixed at the source leaves it on the next run.

    quarantine.<table>
      run_id, source, row_key   which row (its key as text, parts joined by '|')
      expectation, severity     why: the failed expectation's id
      offending                 the offending values, as JSON text
      quarantined_at

A row is named by one key per table, whatever a run validates (:func:`row_keys`): the raw
suite's ``key``, else the source table's primary key as the last sync recorded it in
``_kpiboard.primary_keys``, else every column the source has. Every run that rebuilds ``core``
leaves out every row the quarantine holds, matched by that key.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence

import duckdb

from etl.load import LOAD_COLUMNS, META_SCHEMA
from validation.suite import Suite

SCHEMA = "quarantine"
KEY_SEPARATOR = "|"
PRIMARY_KEYS = f"{META_SCHEMA}.primary_keys"
INVALID_COLUMN = "_invalid"
"""The load column saying why a raw row's source values did not convert (NULL: they did)."""
TYPE_CONVERSION = "type_conversion"
"""The expectation name under which rows that did not convert are quarantined."""
_NOT_KEY = {name for name, _ in LOAD_COLUMNS} | {INVALID_COLUMN}


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def key_expression(columns: Sequence[str], alias: str | None = None) -> str:
    """SQL for a row's key as text: the primary-key columns cast and joined by ``|``."""
    prefix = f"{q(alias)}." if alias else ""
    parts = [f"coalesce(CAST({prefix}{q(c)} AS VARCHAR), '')" for c in columns]
    return parts[0] if len(parts) == 1 else f" || '{KEY_SEPARATOR}' || ".join(parts)


def ensure_table(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """Create ``quarantine.<table>`` if needed; return its qualified name."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    name = f"{SCHEMA}.{q(table)}"
    con.execute(
        f"""CREATE TABLE IF NOT EXISTS {name} (
            run_id VARCHAR NOT NULL, source VARCHAR NOT NULL, row_key VARCHAR NOT NULL,
            expectation VARCHAR NOT NULL, severity VARCHAR NOT NULL, offending VARCHAR,
            quarantined_at TIMESTAMP NOT NULL)"""
    )
    return name


def clear(con: duckdb.DuckDBPyConnection, source: str, table: str) -> None:
    """Forget a source table's quarantine before it is validated again."""
    name = ensure_table(con, table)
    con.execute(f"DELETE FROM {name} WHERE source = ?", [source])


def add(
    con: duckdb.DuckDBPyConnection,
    *,
    run_id: str,
    source: str | None,
    table: str,
    expectation: str,
    severity: str,
    failing_rows_sql: str,
    key: Sequence[str],
    offending: Sequence[str],
) -> int:
    """Quarantine the rows ``failing_rows_sql`` returns (it must return the ``key`` columns and
    the ``offending`` value columns, and ``_source`` when ``source`` is ``None``: rows of a
    source group name their own source); return how many rows were added."""
    name = ensure_table(con, table)
    values = ", ".join(f"{q(c)} := f.{q(c)}" for c in offending) if offending else ""
    offending_json = f"CAST(struct_pack({values}) AS JSON)" if values else "NULL"
    origin = "f._source" if source is None else "'" + source.replace("'", "''") + "'"
    before = _count(con, name)
    con.execute(
        f"""INSERT INTO {name}
            SELECT DISTINCT ?, {origin}, {key_expression(key, "f")}, ?, ?,
                   CAST({offending_json} AS VARCHAR), ?
            FROM ({failing_rows_sql}) f""",
        [run_id, expectation, severity, dt.datetime.now(dt.UTC).replace(tzinfo=None)],
    )
    return _count(con, name) - before


def excluded(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    """Whether ``quarantine.<table>`` exists (so staging views must leave its rows out)."""
    return _exists(con, SCHEMA, table)


def exclusion_predicate(source: str, table: str, key: Sequence[str], alias: str = "r") -> str:
    """``NOT EXISTS`` condition leaving a source's quarantined rows out of a staging view."""
    literal = "'" + source.replace("'", "''") + "'"
    return (
        f"NOT EXISTS (SELECT 1 FROM {SCHEMA}.{q(table)} qr WHERE qr.source = {literal} "
        f"AND qr.row_key = {key_expression(key, alias)})"
    )


def clear_all(con: duckdb.DuckDBPyConnection) -> None:
    """Empty every quarantine table: a run validating every suite describes the data anew, so
    rows held by a suite since removed or a table since dropped are held no longer."""
    for table in _quarantine_tables(con):
        con.execute(f"DELETE FROM {SCHEMA}.{q(table)}")


def remember_primary_keys(
    con: duckdb.DuckDBPyConnection, keys: Mapping[tuple[str, str], Sequence[str]]
) -> None:
    """Record each source table's primary key, by ``(source, table)``, as the sources declared
    it at extraction; a run that only validates again names rows by it (:func:`row_keys`)."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {META_SCHEMA}")
    con.execute(
        f"""CREATE TABLE IF NOT EXISTS {PRIMARY_KEYS} (
            source VARCHAR, "table" VARCHAR, key VARCHAR[], PRIMARY KEY (source, "table"))"""
    )
    for (source, table), key in sorted(keys.items()):
        con.execute(
            f"INSERT OR REPLACE INTO {PRIMARY_KEYS} VALUES (?, ?, ?)", [source, table, list(key)]
        )


def row_keys(
    con: duckdb.DuckDBPyConnection,
    raw: Iterable[tuple[str, str, str]],
    suites: Sequence[Suite],
) -> dict[str, tuple[str, ...]]:
    """The columns naming a row of each raw table reference, for quarantine (without
    ``_source``): the raw suite's ``key``; else the primary key the last sync recorded for the
    table (the first member's, for a group); else every column the source has.

    ``raw`` lists ``(source, reference, table)`` for every raw table in the warehouse
    (``("crm_denver", "crm.clients", "clients")``). The result depends only on the suite files
    and the warehouse, never on which suites a run validates.
    """
    declared = {s.table: s.key for s in suites if s.layer == "raw" and s.key}
    stored: dict[tuple[str, str], tuple[str, ...]] = {}
    if _exists(con, META_SCHEMA, "primary_keys"):
        for source, table, key in con.execute(
            f'SELECT source, "table", key FROM {PRIMARY_KEYS}'
        ).fetchall():
            stored[(str(source), str(table))] = tuple(key or ())
    keys: dict[str, tuple[str, ...]] = {}
    for source, reference, table in raw:
        if reference in keys:
            continue
        key = declared.get(reference) or stored.get((source, table))
        if not key:
            columns = con.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
                [f"raw_{source}", table],
            ).fetchall()
            key = tuple(str(c) for (c,) in columns if c not in _NOT_KEY)
        keys[reference] = tuple(c for c in key if c != "_source")
    return keys


def has_invalid_column(con: duckdb.DuckDBPyConnection, source: str, table: str) -> bool:
    """Whether ``raw_<source>.<table>`` has the ``_invalid`` load column (older raw tables
    were loaded without it)."""
    row = con.execute(
        "SELECT count(*) FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? AND column_name = ?",
        [f"raw_{source}", table, INVALID_COLUMN],
    ).fetchone()
    return bool(row and row[0])


def clear_expectation(
    con: duckdb.DuckDBPyConnection, source: str, table: str, expectation: str
) -> None:
    """Forget one expectation's rows of a source table, before it is checked again."""
    if _exists(con, SCHEMA, table):
        con.execute(
            f"DELETE FROM {SCHEMA}.{q(table)} WHERE source = ? AND expectation = ?",
            [source, expectation],
        )


def _quarantine_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = ?", [SCHEMA]
    ).fetchall()
    return [str(r[0]) for r in rows]


def _exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    row = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [schema, table],
    ).fetchone()
    return bool(row and row[0])


def _count(con: duckdb.DuckDBPyConnection, name: str) -> int:
    row = con.execute(f"SELECT count(*) FROM {name}").fetchone()
    return int(row[0]) if row else 0
