"""The pipeline façade: extract every source into a new snapshot, transform, publish, record.

    from etl.pipeline import run
    result = run(settings)              # all sources, incremental where possible
    result = run(settings, full=True)   # rebuild every raw table from its source

One run: take the warehouse lock, copy the published snapshot to a new file, sync each source's
tables into ``raw_<source>`` (sources in parallel, each table in its own transaction with its
watermark), build the ``stg_`` views and run the SQL models into ``core`` (a core table without
a model is emptied), check the result for dates cast to midnight UTC (:mod:`etl.midnight`), link
duplicate clients and fill the first-event columns (:mod:`etl.firsts`), validate, then publish
the new snapshot atomically. A source that is down or a table whose schema drifted fails alone
(the run is *partial*: published, with that data as it was); a model that fails fails the run
(nothing is published: ``core`` must never mix old and new). A source value that does not
convert to its column's type fails neither: it is NULL in ``raw``, its row says why in
``_invalid``.

Every run and table is recorded in the app database, a failed run with its error. A run whose
process died (``kill -9``, a crash of the machine) cannot record its end; the next run, once it
holds the warehouse lock, knows every other ``running`` run is dead and records it as ``died``,
or as ``published`` if it died after publishing (its snapshot is the published one).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import functools
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import sqlalchemy as sa

from etl import calendar, company, transform
from etl.errors import PipelineUserError, SchemaDrift, SourceError
from etl.firsts import fill_client_firsts
from etl.load import TableResult, add_load_columns, ensure_meta, sync_table, watermark
from etl.midnight import midnight_warnings
from etl.progress import Progress
from etl.sources import Source, SourceTable, configured_sources, discover, with_retries
from kpiboard import appdb
from kpiboard.config import Settings
from kpiboard.errors import KpiboardError
from kpiboard.faults import crash_point
from kpiboard.warehouse import new_run_id, start_session
from validation import duplicates, quarantine
from validation.docs import DataDocsError, build_data_docs
from validation.reconcile import Reconciliation, reconcile, source_counts
from validation.run import (
    Report,
    ValidationFailed,
    check_against_warehouse,
    documents_of,
    hold_unconverted,
    passed_counts,
    run_layer,
    warehouse_columns,
)
from validation.suite import Suite, load_suites

SUCCESS, PARTIAL, FAILED = "success", "partial", "failed"
RUNNING = "running"
DIED, DIED_PUBLISHED = "died", "published"  # a run whose process ended before recording its end


@dataclass
class RunResult:
    run_id: str
    status: str = FAILED
    tables: list[TableResult] = field(default_factory=list)
    models: list[transform.ModelRun] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    snapshot: Path | None = None
    seconds: float = 0.0
    available: set[str] = field(default_factory=set)  # every table the sources have
    source_tables: list[SourceTable] = field(default_factory=list)
    reconciliation: list[Reconciliation] = field(default_factory=list)
    raw_validation: Report | None = None
    core_validation: Report | None = None
    warnings: list[str] = field(default_factory=list)  # what went wrong beside the data
    data_docs: Path | None = None  # the index.html of the validation's Data Docs
    suites: int = 0  # the project's expectation suites (0: nothing checks the data)

    def expectations(self) -> tuple[int, int, int]:
        """Expectations run, tables they checked and expectations failed (or not run), over
        both layers: the count the summary states."""
        outcomes = [
            o
            for report in (self.raw_validation, self.core_validation)
            if report is not None
            for o in report.outcomes
        ]
        tables = {o.planned.suite.table for o in outcomes}
        failed = sum(bool(o.result.error or not o.result.success) for o in outcomes)
        return len(outcomes), len(tables), failed


def run(
    settings: Settings,
    *,
    sources: Sequence[str] = (),
    tables: Sequence[str] = (),
    full: bool = False,
    check_deletes: bool = False,
    extract: bool = True,
    suites: Sequence[str] = (),
    progress: Progress | None = None,
) -> RunResult:
    """Run the pipeline once; see the module docstring.

    ``extract=False`` validates and transforms the published data again without reading the
    sources (``kpiboard validate``); ``suites`` limits validation to the suites of those tables
    (``crm.clients``, ``core.fct_invoice``) or table names.
    """
    progress = progress or Progress()
    chosen = configured_sources(settings, sources)
    started = time.perf_counter()
    result = RunResult(new_run_id())
    warehouse = settings.open_warehouse()
    history = appdb.engine(settings)
    try:
        _record_start(history, result.run_id, full)
        with warehouse.lock():
            _record_dead_runs(history, result.run_id, _now(), warehouse.published())
            building = warehouse.start(result.run_id)
            con = duckdb.connect(str(building))
            try:
                start_session(con)
                con.execute(f"SET memory_limit = '{settings.etl.memory_limit}'")
                con.execute("SET preserve_insertion_order = false")  # lets big inserts stream
                ensure_meta(con)
                add_load_columns(con)
                crash_point("started")
                if extract:
                    _extract_all(
                        settings, con, chosen, tables, full, check_deletes, progress, result
                    )
                    _check_tables_found(tables, result)
                crash_point("extracted")
                con = _validate_and_transform(settings, con, building, result, progress, suites)
                crash_point("transformed")
                con.execute("CHECKPOINT")
            except BaseException:
                con.close()
                building.unlink(missing_ok=True)
                raise
            con.close()
            progress.step("publish")
            crash_point("publishing")
            result.snapshot = warehouse.publish(building)
            crash_point("published")
        result.status = PARTIAL if result.errors else SUCCESS
    except BaseException as exc:
        result.errors.append(_error_line(exc))
        result.status = FAILED
        raise
    finally:
        result.seconds = time.perf_counter() - started
        _record_end(history, result)
        history.dispose()
    return result


def _extract_all(
    settings: Settings,
    con: duckdb.DuckDBPyConnection,
    chosen: Sequence[Source],
    tables: Sequence[str],
    full: bool,
    check_deletes: bool,
    progress: Progress,
    result: RunResult,
) -> None:
    commit_lock = threading.Lock()
    results_lock = threading.Lock()

    def one_source(source: Source) -> None:
        cursor = con.cursor()
        try:
            found = with_retries(source.name, lambda: discover(source))
        except SourceError as exc:
            with results_lock:
                result.errors.append(str(exc))
            return
        with results_lock:
            result.available.update(t.name for t in found)
            result.source_tables.extend(found)
        found = [t for t in found if not tables or t.name in tables]
        progress.tables_found(source.name, found)
        for table in found:
            _, loads = watermark(cursor, table.source, table.name)
            deletes = check_deletes or (loads + 1) % settings.etl.delete_check_every == 0
            try:
                sync = functools.partial(
                    sync_table,
                    cursor,
                    source.url,
                    table,
                    full=full,
                    check_deletes=deletes,
                    batch_rows=settings.etl.batch_rows,
                    commit_lock=commit_lock,
                    progress=functools.partial(progress.rows, source.name, table.name),
                )
                outcome = with_retries(source.name, sync, table=table.name)
            except (SourceError, SchemaDrift) as exc:
                outcome = TableResult(source.name, table.name, "full" if full else "incremental")
                outcome.error = str(exc)
                with results_lock:
                    result.errors.append(str(exc))
            with results_lock:
                result.tables.append(outcome)
            progress.table_done(outcome)
        cursor.close()

    with ThreadPoolExecutor(max_workers=settings.etl.parallel) as pool:
        for future in [pool.submit(one_source, s) for s in chosen]:
            future.result()


def _check_tables_found(tables: Sequence[str], result: RunResult) -> None:
    """A table asked for by name that no source has is a typo: say so, publish nothing."""
    for name in tables:
        if name not in result.available:
            hint = difflib.get_close_matches(name, sorted(result.available), n=1)
            suggestion = f" — did you mean {hint[0]!r}?" if hint else ""
            raise PipelineUserError(f"no source has a table {name!r}{suggestion}")


def _validate_and_transform(
    settings: Settings,
    con: duckdb.DuckDBPyConnection,
    building: Path,
    result: RunResult,
    progress: Progress,
    only: Sequence[str] = (),
) -> duckdb.DuckDBPyConnection:
    """Check the suites, raw suites, quarantine, staging views without the quarantined rows,
    models, core suites.

    ``only`` limits validation to those suites' tables; the other tables keep their quarantine as
    it is. Whatever was validated, rows whose values did not convert are quarantined again in
    every raw table, and every row the quarantine holds is left out of ``core``, named by the one
    key :func:`validation.quarantine.row_keys` gives each table.

    Returns the connection to keep using: validation closes and reopens it, because GX opens the
    snapshot file itself. A suite naming a table or column the warehouse lacks stops the run
    before anything is validated (:class:`~validation.suite.SuiteError`); an ``error``
    expectation that fails stops it after.
    """
    every_suite, suites = _suites(settings, only)
    result.suites = len(every_suite)
    if result.source_tables:
        quarantine.remember_primary_keys(
            con, {(t.source, t.name): t.primary_key for t in result.source_tables}
        )
    staging = transform.staging_sources(con, settings.sources, settings.company.branch)
    transform.create_staging_views(con, staging)
    scopes = {s.name for s in settings.sources} | {s.group for s in settings.sources if s.group}
    check_against_warehouse(con, every_suite, scopes)
    raw = [(s.name, f"{s.group or s.name}.{t}", t) for s in staging for t in s.tables]
    keys = quarantine.row_keys(con, raw, every_suite)
    if not only:
        quarantine.clear_all(con)  # every table is validated again: nothing stale stays held
    group = {s.name: s.group for s in settings.sources}
    counts: dict[str, dict[str, int]] = {}
    if suites:
        progress.step("validate raw")
        counts["raw"] = source_counts(con, result.tables, group)
        con, result.raw_validation = run_layer(
            building,
            con,
            suites,
            layer="raw",
            run_id=result.run_id,
            keys=keys,
            source_rows=counts["raw"],
        )
    conversions = hold_unconverted(con, result.run_id, raw, keys)
    if result.raw_validation is not None:
        result.raw_validation.conversions = conversions
    elif any(c.quarantined for c in conversions):
        result.raw_validation = Report("raw", conversions=conversions)
    # documents held whole by every declaration, not only the validated suites': a part held by
    # a suite not run this time, or a value that did not convert, holds its document too
    present = set(warehouse_columns(con))
    quarantine.hold_documents(con, result.run_id, documents_of(every_suite, keys, present))
    staging = [_leave_out_quarantined(con, s, keys) for s in staging]
    transform.create_staging_views(con, staging)
    result.reconciliation = reconcile(con, result.run_id, result.tables)
    progress.step("transform")
    models_dir = settings.resolve(settings.etl.models)
    models = transform.load_models(models_dir) if models_dir.is_dir() else []
    models = company.with_company_branch(settings, models)
    models = calendar.with_calendar(settings, models)
    if models:
        result.models = transform.run_models(con, models)
    # a table whose model file was removed does not keep its last rows
    for table in transform.empty_unmodelled(con, models):
        result.warnings.append(f"{table} has no model: emptied")
    result.warnings.extend(midnight_warnings(con))

    # duplicate clients: linked to a master in core.dim_client, never dropped
    result.warnings.extend(duplicates.link_project_clients(settings, con).warnings)
    # first events need the link: a client typed in twice has one first invoice
    fill_client_firsts(con)

    if suites:
        progress.step("validate core")
        counts["core"] = passed_counts(con, suites)
        con, result.core_validation = run_layer(
            building,
            con,
            suites,
            layer="core",
            run_id=result.run_id,
            keys=keys,
            source_rows=counts["core"],
        )
        progress.step("data docs")
        _data_docs(settings, result, counts)
    failures = [
        line
        for report in (result.raw_validation, result.core_validation)
        if report is not None
        for line in report.failures
    ]
    if failures:
        raise ValidationFailed(
            "\n".join(["error expectations failed; nothing published:", *failures])
        )
    return con


def _data_docs(
    settings: Settings, result: RunResult, counts: Mapping[str, Mapping[str, int]]
) -> None:
    """GX's Data Docs of this run's validation, into the project; a run that publishes its data
    is not failed by its documentation: a problem building it becomes a warning."""
    reports = [r for r in (result.raw_validation, result.core_validation) if r is not None]
    try:
        result.data_docs = build_data_docs(
            settings.resolve(settings.validation.data_docs),
            result.run_id,
            reports,
            source_rows=counts,
        )
    except DataDocsError as exc:
        result.warnings.append(str(exc))


def _suites(settings: Settings, only: Sequence[str] = ()) -> tuple[list[Suite], list[Suite]]:
    """Every suite of the project, and those ``only`` chooses (every one when it is empty)."""
    folder = settings.resolve(settings.validation.suites)
    suites = load_suites(folder) if folder.is_dir() else []
    if not only:
        return suites, suites
    chosen = [s for s in suites if s.table in only or s.table.partition(".")[2] in only]
    missing = [
        name
        for name in only
        if not any(name in (s.table, s.table.partition(".")[2]) for s in suites)
    ]
    if missing:
        hint = difflib.get_close_matches(missing[0], [s.table for s in suites], n=1)
        suggestion = f" — did you mean {hint[0]!r}?" if hint else ""
        raise PipelineUserError(f"no suite for {missing[0]!r}{suggestion}")
    return suites, chosen


def _leave_out_quarantined(
    con: duckdb.DuckDBPyConnection,
    source: transform.StagingSource,
    keys: Mapping[str, tuple[str, ...]],
) -> transform.StagingSource:
    """The source with, on each table, a filter leaving out every row its quarantine holds by row
    and the columns a value hold withholds."""
    filters = {}
    withheld = {}
    for table in source.tables:
        key = keys.get(f"{source.group or source.name}.{table}")
        if key and quarantine.excluded(con, table):
            filters[table] = quarantine.exclusion_predicate(source.name, table, key)
            withheld[table] = quarantine.withheld_values(con, source.name, table, key)
    return dataclasses.replace(source, filters=filters, withheld=withheld)


def _error_line(exc: BaseException) -> str:
    """What the run history says of the error that ended a run: kpiboard's own message, or for
    anything else (a bug, an interrupt) its type and the first line of its message; the
    traceback is the terminal's."""
    if isinstance(exc, KpiboardError):
        return str(exc)
    first = next(iter(str(exc).strip().splitlines()), "")
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _record_dead_runs(
    history: sa.Engine, run_id: str, locked_at: dt.datetime, published: Path | None
) -> list[str]:
    """Record the runs that are still ``running`` but whose process is gone; return their ids.

    Call holding the warehouse lock, taken at ``locked_at``: a live run holds it from before its
    snapshot is built until after its end is recorded, so a run recorded as started before then
    (this one aside) is dead, or one that is about to find the warehouse busy and record that
    itself. A dead run whose snapshot is the published one died after publishing.
    """
    runs = appdb.etl_runs
    with history.begin() as db:
        dead = (
            db.execute(
                sa.select(runs.c.run_id).where(
                    runs.c.status == RUNNING,
                    runs.c.run_id != run_id,
                    runs.c.started_at <= locked_at,
                )
            )
            .scalars()
            .all()
        )
        for other in dead:
            if published is not None and published.stem == other:
                values = {
                    "status": DIED_PUBLISHED,
                    "snapshot": published.name,
                    "error": f"the process ended after publishing {published.name}, before "
                    f"recording the run's end (found by run {run_id})",
                }
            else:
                values = {
                    "status": DIED,
                    "error": "the process ended before the run finished (killed, or the "
                    f"machine stopped); nothing was published (found by run {run_id})",
                }
            db.execute(runs.update().where(runs.c.run_id == other).values(**values))
    return list(dead)


def _record_start(history: sa.Engine, run_id: str, full: bool) -> None:
    with history.begin() as db:
        db.execute(
            appdb.etl_runs.insert().values(
                run_id=run_id, started_at=_now(), status=RUNNING, full_refresh=full
            )
        )


def _record_end(history: sa.Engine, result: RunResult) -> None:
    with history.begin() as db:
        db.execute(
            appdb.etl_runs.update()
            .where(appdb.etl_runs.c.run_id == result.run_id)
            .values(
                finished_at=_now(),
                status=result.status,
                snapshot=result.snapshot.name if result.snapshot else None,
                error="\n".join(result.errors) or None,
                warnings="\n".join(result.warnings) or None,
            )
        )
        for t in result.tables:
            db.execute(
                appdb.etl_table_runs.insert().values(
                    run_id=result.run_id,
                    source=t.source,
                    table_name=t.table,
                    mode=t.mode,
                    rows_read=t.rows_read,
                    rows_loaded=t.rows_loaded,
                    rows_deleted=t.rows_deleted,
                    rows_invalid=t.rows_invalid,
                    seconds=round(t.seconds, 3),
                    watermark_before=t.watermark_before,
                    watermark_after=t.watermark_after,
                    error=t.error,
                )
            )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)
