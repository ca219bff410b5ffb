"""Reconciliation: every row of a source table is accounted for, every run.

For each table a run synced: the source's row count must equal the live rows in
``raw_<source>.<table>``, and those split exactly into rows that passed (what ``stg_`` shows the
models, values withheld or not) and rows held out of core in quarantine. The figures go to
``validation.reconciliation`` in the snapshot; a table that does not balance is named in the
run's summary (on a live source, rows written during the run can make the source count move: the
message says so).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import duckdb

from etl.load import TableResult
from validation import quarantine

SCHEMA = "validation"


@dataclass(frozen=True)
class Reconciliation:
    source: str
    table: str
    source_rows: int
    loaded: int  # live rows in raw
    passed: int  # rows the models see
    quarantined: int

    @property
    def balanced(self) -> bool:
        return self.source_rows == self.loaded == self.passed + self.quarantined

    def describe(self) -> str:
        return (
            f"{self.source}.{self.table}: {self.source_rows:,} rows at the source, {self.loaded:,} "
            f"loaded = {self.passed:,} passed + {self.quarantined:,} quarantined"
        )


def reconcile(
    con: duckdb.DuckDBPyConnection, run_id: str, tables: Sequence[TableResult]
) -> list[Reconciliation]:
    """Count, record and return the balance of every table synced without error."""
    out = []
    for t in tables:
        if t.error is not None or t.source_rows is None:
            continue
        raw = f'"raw_{t.source}"."{t.table}"'
        loaded = _count(con, f'SELECT count(*) FROM {raw} WHERE "_deleted_at" IS NULL')
        passed = _count(con, f'SELECT count(*) FROM "stg_{t.source}"."{t.table}"')
        held = 0
        if quarantine.excluded(con, t.table):
            held = quarantine.rows_held(con, t.source, t.table)
        out.append(Reconciliation(t.source, t.table, t.source_rows, loaded, passed, held))
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    con.execute(
        f"""CREATE TABLE IF NOT EXISTS {SCHEMA}.reconciliation (
            run_id VARCHAR, source VARCHAR, "table" VARCHAR, source_rows BIGINT, loaded BIGINT,
            passed BIGINT, quarantined BIGINT, balanced BOOLEAN, checked_at TIMESTAMP)"""
    )
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    for r in out:
        con.execute(
            f"INSERT INTO {SCHEMA}.reconciliation VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                run_id,
                r.source,
                r.table,
                r.source_rows,
                r.loaded,
                r.passed,
                r.quarantined,
                r.balanced,
                now,
            ],
        )
    return out


def source_counts(
    con: duckdb.DuckDBPyConnection, tables: Sequence[TableResult], group: Mapping[str, str | None]
) -> dict[str, int]:
    """Row counts at the source by raw table reference (``crm.clients`` sums a group's sources),
    what ``rows_match_source`` on a raw suite compares with.

    The counts are this run's when it extracted (``tables``); a run that only validates again
    takes each table's count from the run that last synced it, as recorded in
    ``validation.reconciliation``.
    """
    counted = [(t.source, t.table, t.source_rows) for t in tables if t.source_rows is not None]
    if not counted and _has_history(con):
        counted = con.execute(
            f"""SELECT source, "table", arg_max(source_rows, checked_at)
            FROM {SCHEMA}.reconciliation GROUP BY source, "table" """
        ).fetchall()
    out: dict[str, int] = {}
    for source, table, rows in counted:
        reference = f"{group.get(source) or source}.{table}"
        out[reference] = out.get(reference, 0) + int(rows)
    return out


def _has_history(con: duckdb.DuckDBPyConnection) -> bool:
    return bool(
        _count(
            con,
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema = ? AND table_name = 'reconciliation'",
            [SCHEMA],
        )
    )


def _count(con: duckdb.DuckDBPyConnection, sql: str, params: list[object] | None = None) -> int:
    row = con.execute(sql, params or []).fetchone()
    return int(row[0]) if row else 0
