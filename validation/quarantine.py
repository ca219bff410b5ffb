"""Quarantine: rows that failed a ``warn`` expectation, kept aside with the reason.

Quarantined rows stay in ``raw_<source>.<table>`` (nothing is lost, and the source still
reconciles) but are listed in ``quarantine.<table>`` and left out of the ``stg_`` views, so no
model sees them. Each validation run re-examines every live raw row, so the quarantine always
describes the current data: a row fixed at the source leaves it on the next run.

    quarantine.<table>
      run_id, source, row_key   which row (its primary key as text, parts joined by '|')
      expectation, severity     why: the failed expectation's id
      offending                 the offending values, as JSON text
      quarantined_at
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import duckdb

SCHEMA = "quarantine"
KEY_SEPARATOR = "|"


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
    row = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [SCHEMA, table],
    ).fetchone()
    return bool(row and row[0])


def exclusion_predicate(source: str, table: str, key: Sequence[str], alias: str = "r") -> str:
    """``NOT EXISTS`` condition leaving a source's quarantined rows out of a staging view."""
    literal = "'" + source.replace("'", "''") + "'"
    return (
        f"NOT EXISTS (SELECT 1 FROM {SCHEMA}.{q(table)} qr WHERE qr.source = {literal} "
        f"AND qr.row_key = {key_expression(key, alias)})"
    )


def _count(con: duckdb.DuckDBPyConnection, name: str) -> int:
    row = con.execute(f"SELECT count(*) FROM {name}").fetchone()
    return int(row[0]) if row else 0
