"""The validation stage: run a layer's suites pushed down into DuckDB, quarantine, record.

    plans = plan(con, suites, layer="raw", keys=...)   # views for filtered checks; no GX yet
    results = check(database, plans)                    # GX, on the closed snapshot file
    report = record(con, run_id, results)               # history, quarantine, the verdict

The three steps are separate because GX opens the DuckDB file itself: the pipeline closes its own
connection around :func:`check`. Raw suites run on the ``stg_`` views as they are *before*
quarantine (every live raw row, with ``_source``); core suites on ``core``. A failing ``warn``
expectation on a raw table quarantines its rows (see :mod:`validation.quarantine`); a failing
``error`` expectation fails the run: nothing is published.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
from great_expectations.expectations import Expectation as GxExpectation

from etl.errors import EtlError
from kpiboard.warehouse import start_session
from validation import quarantine
from validation.engine import Check, CheckResult, run_tables
from validation.suite import Expectation, Suite
from validation.suite.model import RowFilter, RowsMatchSource

RESULTS_SCHEMA = "validation"
FILTER_SCHEMA = "_validation"
HISTORY_PREFIX = "hist_"  # the staging views that keep rows deleted at the source (etl.transform)


class ValidationFailed(EtlError):
    """An ``error`` expectation failed: the run publishes nothing."""


@dataclass(frozen=True)
class Planned:
    """One expectation to run: on which relation, identified how."""

    suite: Suite
    expectation: Expectation
    schema: str
    table: str
    key: tuple[str, ...]

    @property
    def id(self) -> str:
        return f"{self.suite.table}:{self.expectation.name}"


@dataclass
class Outcome:
    planned: Planned
    result: CheckResult
    quarantined: int = 0


@dataclass
class Report:
    """What one layer's validation found, for the summary, the history and the verdict."""

    layer: str
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failures(self) -> list[str]:
        """One located line per ``error`` expectation that failed or could not run."""
        lines = []
        for o in self.outcomes:
            if o.planned.expectation.severity != "error":
                continue
            if o.result.error or not o.result.success:
                what = o.result.error or _what_failed(o.result)
                lines.append(f"{o.planned.expectation.location}: {o.planned.id}: {what}")
        return lines

    def summary(self) -> list[dict[str, object]]:
        """One row per suite: checked rows, failed expectations, quarantined rows."""
        rows: dict[str, dict[str, object]] = {}
        for o in self.outcomes:
            row = rows.setdefault(
                o.planned.suite.table,
                {"suite": o.planned.suite.table, "checked": 0, "failed": 0, "quarantined": 0},
            )
            row["checked"] = max(int(str(row["checked"])), o.result.checked)
            row["failed"] = int(str(row["failed"])) + int(
                bool(o.result.error or not o.result.success)
            )
            row["quarantined"] = int(str(row["quarantined"])) + o.quarantined
        return list(rows.values())


def relation(reference: str) -> tuple[str, str]:
    """The schema and table a suite's table reference is validated on."""
    scope, _, table = reference.partition(".")
    return ("core", table) if scope == "core" else (f"stg_{scope}", table)


class _Resolve:
    """``resolve(reference)``: the quoted relation a table reference is validated on.
    ``resolve.with_deleted(reference)``: the relation that also holds the raw table's rows
    deleted at the source (``hist_<source or group>``), where ``exists_in`` looks references up:
    a client deleted at the source stays in core, so its invoices are no orphans."""

    def __call__(self, reference: str) -> str:
        schema, table = relation(reference)
        return f'"{schema}"."{table}"'

    def with_deleted(self, reference: str) -> str:
        schema, table = relation(reference)
        if schema != "core":
            schema = HISTORY_PREFIX + schema.removeprefix("stg_")
        return f'"{schema}"."{table}"'


resolve = _Resolve()


def passed_counts(con: duckdb.DuckDBPyConnection, suites: Sequence[Suite]) -> dict[str, int]:
    """The rows each raw table passes on to the models (its ``hist_`` view: quarantine left out,
    rows deleted at the source kept, as dimensions keep them), for the core suites'
    ``rows_match_source``: a dimension built one row per raw row must have exactly that many."""
    references = {
        e.source
        for s in suites
        if s.layer == "core"
        for e in s.expectations
        if isinstance(e, RowsMatchSource)
    }
    out = {}
    for reference in sorted(references):
        row = con.execute(f"SELECT count(*) FROM {resolve.with_deleted(reference)}").fetchone()
        out[reference] = int(row[0]) if row else 0
    return out


def plan(
    con: duckdb.DuckDBPyConnection,
    suites: Sequence[Suite],
    *,
    layer: str,
    keys: Mapping[str, tuple[str, ...]],
) -> list[Planned]:
    """The expectations of ``layer``'s suites whose tables exist, in file order.

    ``keys`` gives a table reference's primary key where a suite names none. An expectation
    limited by ``where`` runs on a view of just those rows (GX's own row conditions do not carry
    into its failing-row queries).
    """
    present = {
        (s, t)
        for s, t in con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables"
        ).fetchall()
    }
    con.execute(f"DROP SCHEMA IF EXISTS {FILTER_SCHEMA} CASCADE")
    con.execute(f"CREATE SCHEMA {FILTER_SCHEMA}")
    planned = []
    for suite in suites:
        if suite.layer != layer:
            continue
        schema, table = relation(suite.table)
        if (schema, table) not in present:
            continue
        key = suite.row_key or (*suite.scope, *keys.get(suite.table, ()))
        for expectation in suite.expectations:
            target_schema, target_table = schema, table
            where: tuple[RowFilter, ...] = getattr(expectation, "where", ())
            if where:
                target_schema = FILTER_SCHEMA
                target_table = f"{schema}__{table}__{expectation.name}"
                condition = " AND ".join(f.sql("r") for f in where)
                con.execute(
                    f'CREATE VIEW "{target_schema}"."{target_table}" AS '
                    f'SELECT r.* FROM "{schema}"."{table}" r WHERE {condition}'
                )
            planned.append(Planned(suite, expectation, target_schema, target_table, tuple(key)))
    return planned


def check(
    database: Path,
    planned: Sequence[Planned],
    *,
    now: dt.datetime | None = None,
    source_rows: Mapping[str, int] | None = None,
) -> list[Outcome]:
    """Run every planned expectation through GX, one table at a time (file closed by caller).

    ``source_rows`` gives the row count ``rows_match_source`` compares a table with, by table
    reference; an expectation whose reference has no count is reported as not run.
    """
    counts = dict(source_rows or {})

    def count_of(reference: str) -> int:
        if reference not in counts:
            raise ValueError(
                f"rows_match_source: no row count of {reference} to compare with "
                "(no run has synced it)"
            )
        return counts[reference]

    by_relation: dict[tuple[str, str], list[Planned]] = {}
    for p in planned:
        by_relation.setdefault((p.schema, p.table), []).append(p)
    runnable: dict[tuple[str, str], list[tuple[Planned, Check]]] = {}
    unmapped: list[Outcome] = []
    for relation_key, items in by_relation.items():
        runnable[relation_key] = []
        for p in items:
            try:
                gx = _without_where(p.expectation.to_gx(resolve, now=now, source_rows=count_of))
            except ValueError as exc:  # e.g. rows_match_source without the source's count
                unmapped.append(Outcome(p, _not_run(p.id, str(exc))))
                continue
            runnable[relation_key].append((p, Check(p.id, gx, p.key)))
    # GX prints a reminder about custom queries to stdout, which would corrupt a command's
    # --format json or csv output: GX's prints go nowhere while it runs
    with contextlib.redirect_stdout(io.StringIO()):
        results = run_tables(database, {k: [c for _, c in v] for k, v in runnable.items()})
    outcomes = []
    for relation_key, pairs in runnable.items():
        for (p, _), result in zip(pairs, results[relation_key], strict=True):
            outcomes.append(Outcome(p, result))
    return outcomes + unmapped


def record(
    con: duckdb.DuckDBPyConnection, run_id: str, layer: str, outcomes: list[Outcome], seconds: float
) -> Report:
    """Store the results, quarantine the raw rows of failed ``warn`` expectations; the report."""
    report = Report(layer, outcomes, seconds)
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {RESULTS_SCHEMA}")
    con.execute(
        f"""CREATE TABLE IF NOT EXISTS {RESULTS_SCHEMA}.results (
            run_id VARCHAR, layer VARCHAR, suite VARCHAR, expectation VARCHAR, kind VARCHAR,
            severity VARCHAR, success BOOLEAN, checked BIGINT, unexpected BIGINT,
            quarantined BIGINT, sample VARCHAR, error VARCHAR, location VARCHAR,
            validated_at TIMESTAMP)"""
    )
    if layer == "raw":
        for table in {relation(o.planned.suite.table)[1] for o in outcomes}:
            quarantine.ensure_table(con, table)
            con.execute(f'DELETE FROM {quarantine.SCHEMA}."{table}"')
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    for o in outcomes:
        p, r = o.planned, o.result
        failed = not r.success and r.error is None
        if layer == "raw" and failed and p.expectation.severity == "warn" and r.failing_keys_sql:
            o.quarantined = quarantine.add(
                con,
                run_id=run_id,
                source=None,  # each row's own _source: a group's suite spans its sources
                table=relation(p.suite.table)[1],
                expectation=p.id,
                severity=p.expectation.severity,
                failing_rows_sql=r.failing_keys_sql,
                key=[k for k in p.key if k != "_source"],
                offending=list(p.expectation.columns()[:1]),
                hold=p.expectation.hold,
                withheld=p.expectation.withheld(),
            )
        con.execute(
            f"INSERT INTO {RESULTS_SCHEMA}.results VALUES ({', '.join(['?'] * 14)})",
            [
                run_id,
                layer,
                p.suite.table,
                p.expectation.name,
                p.expectation.KIND,
                p.expectation.severity,
                r.success,
                r.checked,
                r.unexpected,
                o.quarantined,
                json.dumps(r.sample[:20], default=str),
                r.error,
                str(p.expectation.location),
                now,
            ],
        )
    if layer == "raw":
        quarantine.hold_documents(con, run_id, documents(outcomes))
    return report


def documents(outcomes: Sequence[Outcome]) -> list[quarantine.Document]:
    """The documents the raw suites of ``outcomes`` declare (``part_of``), with their parts;
    a declaration whose document table was not validated in this run is left out."""
    planned = {o.planned.suite.table: o.planned for o in outcomes}
    parts: dict[str, list[quarantine.Part]] = {}
    for p in planned.values():
        part_of = p.suite.part_of
        if part_of is None or part_of.table not in planned:
            continue
        parts.setdefault(part_of.table, []).append(
            quarantine.Part(
                table=relation(p.suite.table)[1],
                relation=resolve(p.suite.table),
                key=tuple(k for k in p.key if k != "_source"),
                document_key=part_of.key,
                expectation=f"{p.suite.table}:{quarantine.HELD_WITH_DOCUMENT}",
            )
        )
    out = []
    for table, members in sorted(parts.items()):
        document = planned[table]
        out.append(
            quarantine.Document(
                table=relation(table)[1],
                relation=resolve(table),
                history=resolve.with_deleted(table),
                key=tuple(k for k in document.key if k != "_source"),
                expectation=f"{table}:{quarantine.HELD_WITH_DOCUMENT}",
                parts=tuple(members),
            )
        )
    return out


def run_layer(
    con_path: Path,
    open_con: duckdb.DuckDBPyConnection,
    suites: Sequence[Suite],
    *,
    layer: str,
    run_id: str,
    keys: Mapping[str, tuple[str, ...]],
    source_rows: Mapping[str, int] | None = None,
) -> tuple[duckdb.DuckDBPyConnection, Report]:
    """Plan on ``open_con``, close it, check with GX, reopen and record; returns the new
    connection and the report. ``source_rows``: see :func:`check`."""
    started = time.perf_counter()
    planned = plan(open_con, suites, layer=layer, keys=keys)
    open_con.execute("CHECKPOINT")
    open_con.close()
    outcomes = check(con_path, planned, source_rows=source_rows)
    con = start_session(duckdb.connect(str(con_path)))
    report = record(con, run_id, layer, outcomes, time.perf_counter() - started)
    return con, report


def _what_failed(result: CheckResult) -> str:
    if result.failing_keys_sql is None and result.sample:  # a table-level check: one value
        return f"observed {result.sample[0]!r}"
    return f"{result.unexpected:,} of {result.checked:,} rows fail"


def _not_run(check_id: str, reason: str) -> CheckResult:
    return CheckResult(
        id=check_id,
        success=False,
        checked=0,
        unexpected=0,
        sample=[],
        failing_keys_sql=None,
        error=reason,
    )


def _without_where(expectation: GxExpectation) -> GxExpectation:
    """The expectation without GX's row condition: :func:`plan` already narrowed the rows."""
    if getattr(expectation, "row_condition", None) is None:
        return expectation
    return expectation.copy(update={"row_condition": None})
