"""The validation stage: run a layer's suites pushed down into DuckDB, quarantine, record.

    plans = plan(con, suites, layer="raw", keys=...)   # views for filtered checks; no GX yet
    results = check(database, plans)                    # GX, on the closed snapshot file
    report = record(con, run_id, results)               # history, quarantine, the verdict

The three steps are separate because GX opens the DuckDB file itself: the pipeline closes its own
connection around :func:`check`. Raw suites run on the ``stg_`` views as they are *before*
quarantine (every live raw row, with ``_source``); core suites on ``core``. A failing ``warn``
expectation on a raw table quarantines its rows (see :mod:`validation.quarantine`); a failing
``error`` expectation fails the run: nothing is published.

Two things run whatever suites a run chose. Before anything is validated,
:func:`check_against_warehouse` checks every suite's tables and columns against the warehouse
(a suite naming a column that does not exist stops the run with a located :class:`SuiteError`).
After the raw suites, :func:`hold_unconverted` quarantines every live raw row whose source values
did not convert to the declared types (its ``_invalid`` load column says why), as
``<source or group>.<table>:type_conversion``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
from great_expectations.expectations import Expectation as GxExpectation

from etl.errors import EtlError
from kpiboard.warehouse import start_session
from validation import quarantine
from validation.engine import Check, CheckResult, run_tables
from validation.suite import Expectation, Suite, SuiteError, SuiteProblem, check_columns
from validation.suite.model import RowFilter, RowsMatchSource, Sql

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


@dataclass(frozen=True)
class Conversion:
    """One raw table's rows whose source values did not convert to the declared types."""

    source: str
    reference: str  # the raw table reference, crm.invoices
    table: str
    checked: int  # live rows
    quarantined: int
    sample: tuple[str, ...] = ()  # a few of the reasons, as ``_invalid`` gives them

    @property
    def id(self) -> str:
        return f"{self.reference}:{quarantine.TYPE_CONVERSION}"


@dataclass
class Report:
    """What one layer's validation found, for the summary, the history and the verdict."""

    layer: str
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0
    conversions: list[Conversion] = field(default_factory=list)

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
        for reference, (checked, held) in _by_reference(self.conversions).items():
            if not held and reference not in rows:
                continue  # a table without a suite shows when it holds rows
            row = rows.setdefault(
                reference, {"suite": reference, "checked": 0, "failed": 0, "quarantined": 0}
            )
            row["checked"] = max(int(str(row["checked"])), checked)
            row["failed"] = int(str(row["failed"])) + int(held > 0)
            row["quarantined"] = int(str(row["quarantined"])) + held
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
    _ensure_results(con)
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
    quarantine.refresh_all_rows(con)
    return report


def hold_unconverted(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    raw: Iterable[tuple[str, str, str]],
    keys: Mapping[str, Sequence[str]],
) -> list[Conversion]:
    """Quarantine every live raw row whose source values did not convert to the declared types
    (``_invalid`` is not null), in every raw table, whichever suites the run chose; record the
    outcome per table reference in ``validation.results``.

    ``raw`` lists ``(source, reference, table)`` for every raw table, ``keys`` the columns naming
    a row of each reference (:func:`validation.quarantine.row_keys`). The reason is the
    ``_invalid`` text (``issued_on: 'n/a' is not a date``), kept as the offending value. A raw
    table loaded before the column existed has nothing to hold.
    """
    conversions = []
    for source, reference, table in raw:
        expectation = f"{reference}:{quarantine.TYPE_CONVERSION}"
        quarantine.clear_expectation(con, source, table, expectation)
        key = list(keys.get(reference, ()))
        if not key or not quarantine.has_invalid_column(con, source, table):
            continue
        relation = f"{quarantine.q('raw_' + source)}.{quarantine.q(table)}"
        failing = (
            f'SELECT * FROM {relation} WHERE "_deleted_at" IS NULL '
            f"AND {quarantine.q(quarantine.INVALID_COLUMN)} IS NOT NULL"
        )
        row = con.execute(f'SELECT count(*) FROM {relation} WHERE "_deleted_at" IS NULL').fetchone()
        held = quarantine.add(
            con,
            run_id=run_id,
            source=source,
            table=table,
            expectation=expectation,
            severity="warn",
            failing_rows_sql=failing,
            key=key,
            offending=[quarantine.INVALID_COLUMN],
        )
        sample = con.execute(
            f"SELECT DISTINCT {quarantine.q(quarantine.INVALID_COLUMN)} FROM ({failing}) "
            "ORDER BY 1 LIMIT 20"
        ).fetchall()
        conversions.append(
            Conversion(
                source,
                reference,
                table,
                int(row[0]) if row else 0,
                held,
                tuple(str(r[0]) for r in sample),
            )
        )
    _record_conversions(con, run_id, conversions)
    return conversions


def _record_conversions(
    con: duckdb.DuckDBPyConnection, run_id: str, conversions: Sequence[Conversion]
) -> None:
    """One row per raw table reference in ``validation.results``, like an expectation's."""
    _ensure_results(con)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    samples: dict[str, list[str]] = {}
    for c in conversions:
        samples.setdefault(c.reference, []).extend(c.sample)
    for reference, (checked, held) in _by_reference(conversions).items():
        con.execute(
            f"INSERT INTO {RESULTS_SCHEMA}.results VALUES ({', '.join(['?'] * 14)})",
            [
                run_id,
                "raw",
                reference,
                quarantine.TYPE_CONVERSION,
                quarantine.TYPE_CONVERSION,
                "warn",
                held == 0,
                checked,
                held,
                held,
                json.dumps(samples[reference][:20]),
                None,
                None,
                now,
            ],
        )


def warehouse_columns(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    """Every table reference a suite may name, with its columns as validation reads them: the
    ``stg_`` views of raw tables (``crm.clients``, with ``_source`` and the other load columns)
    and the ``core`` tables (``core.dim_client``)."""
    rows = con.execute(
        "SELECT table_schema, table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = 'core' OR table_schema LIKE 'stg\\_%' ESCAPE '\\' "
        "ORDER BY table_schema, table_name, ordinal_position"
    ).fetchall()
    columns: dict[str, list[str]] = {}
    for schema, table, column in rows:
        scope = "core" if schema == "core" else str(schema).removeprefix("stg_")
        columns.setdefault(f"{scope}.{table}", []).append(str(column))
    return columns


def check_against_warehouse(
    con: duckdb.DuckDBPyConnection, suites: Sequence[Suite], scopes: Collection[str]
) -> None:
    """Raise one :class:`SuiteError` listing every table and column the suites name that the
    warehouse does not have, and every ``sql`` rule that does not bind; before anything runs.

    ``scopes`` are the configured sources and groups. A suite about (or reading) a table of a
    source that has loaded nothing yet (down on its first run) is left for a later run: its
    tables cannot be told from typos. The ``stg_`` views must exist.
    """
    columns = warehouse_columns(con)
    loaded = {reference.partition(".")[0].lower() for reference in columns}
    configured = {scope.lower() for scope in scopes}

    def pending(reference: str) -> bool:
        scope = reference.partition(".")[0].lower()
        return scope in configured and scope not in loaded

    checked = [
        s
        for s in suites
        if not any(
            pending(t) for t in (s.table, *(r for e in s.expectations for r, _ in e.references()))
        )
    ]
    known = {reference.lower() for reference in columns}
    problems: list[SuiteProblem] = []
    for suite in checked:
        problems += check_columns(suite, columns)
        for e in suite.expectations:
            if not isinstance(e, Sql) or suite.table.lower() not in known:
                continue
            if any(r.lower() not in known for r, _ in e.references()):
                continue  # reported by check_columns
            try:
                con.execute(f"DESCRIBE {e.unexpected_rows_sql(resolve)}")
            except duckdb.Error as exc:
                message = f"expectation {e.number}: query: {_bind_error(exc)}"
                problems.append(SuiteProblem(e.location.path, e.location.line, message))
    if problems:
        raise SuiteError(problems)


def _bind_error(exc: duckdb.Error) -> str:
    """DuckDB's message on one line: what failed, and its candidate names as a suggestion
    (``Binder Error: Table "t" does not have a column named "due_onn" — did you mean
    "due_at"?``); the echo of the query is left out."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    what = lines[0] if lines else type(exc).__name__
    for line in lines[1:]:
        if line.startswith("Candidate bindings:"):
            names = line.removeprefix("Candidate bindings:").strip().lstrip(":").strip()
            if names:
                what += f" — did you mean {names}?"
    return what


def _ensure_results(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {RESULTS_SCHEMA}")
    con.execute(
        f"""CREATE TABLE IF NOT EXISTS {RESULTS_SCHEMA}.results (
            run_id VARCHAR, layer VARCHAR, suite VARCHAR, expectation VARCHAR, kind VARCHAR,
            severity VARCHAR, success BOOLEAN, checked BIGINT, unexpected BIGINT,
            quarantined BIGINT, sample VARCHAR, error VARCHAR, location VARCHAR,
            validated_at TIMESTAMP)"""
    )


def documents(outcomes: Sequence[Outcome]) -> list[quarantine.Document]:
    """The documents the raw suites of ``outcomes`` declare (``part_of``), with their parts;
    a declaration whose document table was not validated in this run is left out."""
    return _documents({o.planned.suite.table: (o.planned.suite, o.planned.key) for o in outcomes})


def documents_of(
    suites: Sequence[Suite], keys: Mapping[str, Sequence[str]], present: Collection[str]
) -> list[quarantine.Document]:
    """The documents every raw suite declares whose table is ``present`` (a reference), each
    row named by ``keys`` (:func:`validation.quarantine.row_keys`): what a run holds whole after
    quarantining rows outside its chosen suites (values that did not convert)."""
    return _documents(
        {
            s.table: (s, (*s.scope, *keys.get(s.table, ())))
            for s in suites
            if s.layer == "raw" and s.table in present
        }
    )


def _documents(
    planned: Mapping[str, tuple[Suite, Sequence[str]]],
) -> list[quarantine.Document]:
    parts: dict[str, list[quarantine.Part]] = {}
    for suite, key in planned.values():
        part_of = suite.part_of
        if part_of is None or part_of.table not in planned:
            continue
        parts.setdefault(part_of.table, []).append(
            quarantine.Part(
                table=relation(suite.table)[1],
                relation=resolve(suite.table),
                key=tuple(k for k in key if k != "_source"),
                document_key=part_of.key,
                expectation=f"{suite.table}:{quarantine.HELD_WITH_DOCUMENT}",
            )
        )
    out = []
    for table, members in sorted(parts.items()):
        _, document_key = planned[table]
        out.append(
            quarantine.Document(
                table=relation(table)[1],
                relation=resolve(table),
                history=resolve.with_deleted(table),
                key=tuple(k for k in document_key if k != "_source"),
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


def _by_reference(conversions: Iterable[Conversion]) -> dict[str, tuple[int, int]]:
    """Live rows and rows held, by raw table reference (a group's sources added up)."""
    out: dict[str, tuple[int, int]] = {}
    for c in conversions:
        checked, held = out.get(c.reference, (0, 0))
        out[c.reference] = (checked + c.checked, held + c.quarantined)
    return out


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
