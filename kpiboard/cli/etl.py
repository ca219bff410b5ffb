"""``kpiboard etl``: the pipeline run and its history, and the progress and summary every
command that runs the pipeline prints."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from etl.progress import Progress as PipelineProgress
from kpiboard.cli.app import (
    FormatOption,
    ProjectOption,
    _count,
    console,
    etl_app,
    load_settings,
    out,
)
from kpiboard.errors import UserError
from kpiboard.output import Format, emit

# Start fast: each command imports the heavy modules it uses itself (the pipeline brings Great
# Expectations, the KPI engine pandas); these are for annotations only. tests/test_startup.py.
if TYPE_CHECKING:
    from etl import pipeline
    from etl.load import TableResult
    from etl.sources import SourceTable
    from kpiboard.config import Settings


@etl_app.command("run")
def etl_run(
    project: ProjectOption = Path("."),
    source: Annotated[
        list[str] | None, typer.Option("--source", "-s", help="Only this source (repeatable).")
    ] = None,
    table: Annotated[
        list[str] | None, typer.Option("--table", "-t", help="Only this table (repeatable).")
    ] = None,
    full: Annotated[bool, typer.Option("--full", help="Rebuild tables from scratch.")] = False,
    check_deletes: Annotated[
        bool,
        typer.Option("--check-deletes", help="Compare keys to find rows deleted at the source."),
    ] = False,
    per_table: Annotated[
        bool, typer.Option("--per-table", help="Summarize each table, not each source.")
    ] = False,
) -> None:
    """Copy the sources into a new snapshot, transform into core, publish.

    Exit codes: 0 success; 4 partial (published, but a source or table failed: see the summary);
    5 failed (nothing published); 2 bad input.

    Example: `kpiboard etl run -p demo --source crm_denver --table invoices --full`
    """
    from etl import pipeline

    settings = load_settings(project)
    if not settings.sources:
        raise UserError(
            f"{project / 'kpiboard.toml'}: no [[sources]] to copy; add one (the file's comments "
            "show how) or draft a project from a database with `kpiboard init DIR --from-url URL`"
        )
    result = _run_pipeline(
        settings, sources=source or (), tables=table or (), full=full, check_deletes=check_deletes
    )
    _print_run(result, per_table=per_table)
    _print_validation(result, settings)
    if result.status == pipeline.PARTIAL:
        raise typer.Exit(4)


@etl_app.command("status")
def etl_status(
    project: ProjectOption = Path("."),
    last: Annotated[int, typer.Option(help="How many runs to show.", min=1)] = 10,
    fmt: FormatOption = Format.table,
) -> None:
    """Show the last pipeline runs: when, how long, status, rows, errors.

    Statuses: running; success; partial (published, a source or table failed); failed (nothing
    published; the error says why); died (the process ended while running, nothing published);
    published (the process ended after publishing, before recording how the run went). Dead
    runs are found by the next run. rows_invalid counts rows read with a value that did not
    convert to its column's type (see the raw table's _invalid column).

    Example: `kpiboard etl status -p demo --last 5 --format json`
    """
    from kpiboard import appdb

    rows = appdb.run_history(load_settings(project), last)
    emit(rows, fmt, title="Pipeline runs")


def _print_validation(
    result: pipeline.RunResult, settings: Settings, *, every_suite: bool = False
) -> None:
    """Suites with failures (or all): suite, checked rows, failed expectations, quarantined;
    then how many expectations ran, or a warning when the project has no suites at all."""
    rows: list[dict[str, object]] = []
    for report in (result.raw_validation, result.core_validation):
        if report is not None:
            rows += [r for r in report.summary() if every_suite or r["failed"]]
    if rows:
        emit(rows, Format.table, title="Validation")
    if result.suites == 0:
        if settings.sources:
            folder = settings.validation.suites
            console.print(
                f"[bold yellow]warning:[/] validation: no expectation suites in {folder}/, so "
                "nothing checks the sources' data; draft them with `kpiboard init DIR "
                f"--from-url URL` or write {folder}/raw/<source>/<table>.yaml "
                f"({folder}/raw/README.md shows how)",
                highlight=False,
                soft_wrap=True,
            )
    else:
        ran, tables, failed = result.expectations()
        out.print(
            f"validation: {ran} expectation{'s' if ran != 1 else ''} on {tables} "
            f"table{'s' if tables != 1 else ''}, {failed} failed",
            markup=False,
        )
    if result.data_docs is not None:
        out.print(f"Data Docs: {result.data_docs}", markup=False)


def _progress(label: str) -> Progress:
    """Progress bars on stderr: ``label`` (rich markup) describes each bar; a count of rows."""
    return Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rows]:>12,} rows"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,  # no bars in logs and pipes
    )


def _run_pipeline(settings: Settings, **options: Any) -> pipeline.RunResult:
    from etl import pipeline

    with _progress("[bold]{task.description:<28}") as bars:
        return pipeline.run(settings, progress=_PipelineBars(bars), **options)


class _PipelineBars(PipelineProgress):
    """One bar per source (tables done, rows read) and one per later step."""

    def __init__(self, bars: Progress) -> None:
        self.bars = bars
        self.tasks: dict[str, TaskID] = {}
        self.lock = threading.Lock()

    def tables_found(self, source: str, tables: Sequence[SourceTable]) -> None:
        with self.lock:
            self.tasks[source] = self.bars.add_task(source, total=len(tables), rows=0)

    def rows(self, source: str, table: str, rows: int) -> None:
        with self.lock:
            task = self.tasks[source]
            done = self.bars.tasks[task].fields["rows"] + rows
            self.bars.update(task, rows=done, description=f"{source}.{table}")

    def table_done(self, result: TableResult) -> None:
        with self.lock:
            self.bars.update(self.tasks[result.source], advance=1, description=result.source)

    def step(self, name: str) -> None:
        with self.lock:
            self.bars.add_task(name, total=None, rows=0)


def _print_run(result: pipeline.RunResult, *, per_table: bool = False) -> None:
    """The run's summary: one row per source (or per table), then models and errors.

    The ``invalid`` column (rows with a value that did not convert) is shown when a run read any.
    """
    invalid = any(t.rows_invalid for t in result.tables)
    if per_table:
        rows = [
            {
                "source": t.source,
                "table": t.table,
                "mode": t.mode,
                "rows read": t.rows_read,
                "deleted": t.rows_deleted,
                **({"invalid": t.rows_invalid} if invalid else {}),
                "seconds": round(t.seconds, 2),
                "watermark": t.watermark_after or "",
                "status": "failed" if t.error else "ok",
            }
            for t in sorted(result.tables, key=lambda t: (t.source, t.table))
        ]
    else:
        rows = []
        for source in sorted({t.source for t in result.tables}):
            mine = [t for t in result.tables if t.source == source]
            rows.append(
                {
                    "source": source,
                    "tables": len(mine),
                    "incremental": sum(t.mode == "incremental" for t in mine),
                    "rows read": sum(t.rows_read for t in mine),
                    "deleted": sum(t.rows_deleted for t in mine),
                    **({"invalid": sum(t.rows_invalid for t in mine)} if invalid else {}),
                    "seconds": round(sum(t.seconds for t in mine), 2),
                    "failed": sum(t.error is not None for t in mine),
                }
            )
    emit(rows, Format.table, title=f"Pipeline run {result.run_id}: {result.status}")
    built = sum(m.rows for m in result.models)
    out.print(
        f"{_count(len(result.models), 'model')} built, {_count(built, 'core row')}; "
        f"{result.seconds:.1f} s in all",
        markup=False,
    )
    for error in result.errors:
        console.print(f"[bold red]error:[/] {escape(error)}", highlight=False, soft_wrap=True)
    for warning in result.warnings:
        console.print(
            f"[bold yellow]warning:[/] {escape(warning)}", highlight=False, soft_wrap=True
        )
    for t in sorted(result.tables, key=lambda t: (t.source, t.table)):
        if t.rows_invalid:
            rows_text = "1 row" if t.rows_invalid == 1 else f"{t.rows_invalid:,} rows"
            console.print(
                f"[bold yellow]not converted:[/] {escape(t.source)}.{escape(t.table)}: "
                f"{rows_text} with a value that does not convert to its column's type "
                f"(NULL in raw_{escape(t.source)}.{escape(t.table)}; its _invalid says why)",
                highlight=False,
                soft_wrap=True,
            )
    for r in result.reconciliation:
        if not r.balanced:
            console.print(
                f"[bold yellow]not reconciled:[/] {escape(r.describe())} "
                "(rows written at the source during the run move its count)",
                highlight=False,
                soft_wrap=True,
            )
