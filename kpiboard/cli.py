"""The ``kpiboard`` command line.

User errors (:class:`~kpiboard.errors.UserError`) print one line and exit with code 2; a database
that cannot be reached exits with 3; a bug keeps its traceback. Every command runs in the project
folder, the current one or ``--project DIR``.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import duckdb
import sqlalchemy as sa
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from etl import pipeline
from etl.load import TableResult
from etl.sources import SourceTable
from kpiboard import __version__, appdb, urls
from kpiboard import backup as backups
from kpiboard.config import Settings, load_settings
from kpiboard.demo import (
    BuildResult,
    build_sources,
    company,
    database_urls,
    demo_sources,
    install_demo_models,
    install_demo_suites,
)
from kpiboard.demo.generate import Batch
from kpiboard.errors import KpiboardError, UserError
from kpiboard.output import Format, emit
from kpiboard.project import init_project
from kpiboard.warehouse import new_run_id

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _group(name: str, help_text: str, example: str, **options: Any) -> typer.Typer:
    """A command group with its help and an example, added to the ``kpiboard`` app."""
    group = typer.Typer(
        help=f"{help_text}\n\nExample: `{example}`", rich_markup_mode="markdown", **options
    )
    app.add_typer(group, name=name)
    return group


source_app = _group(
    "source",
    "Operational databases: list the configured ones, or generate the demo company's.",
    "kpiboard source list --project demo",
    no_args_is_help=True,
)
etl_app = _group(
    "etl",
    "The pipeline: sources into a new warehouse snapshot, transformed and published.",
    "kpiboard etl run --project demo",
    no_args_is_help=True,
)
validate_app = _group(
    "validate",
    "Expectation suites: run them, list the quarantine.",
    "kpiboard validate --project demo",
)

console = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)

ProjectOption = Annotated[
    Path,
    typer.Option(
        "--project", "-p", help="The project folder (holds kpiboard.toml).", show_default=False
    ),
]
FormatOption = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]
SeedOption = Annotated[int, typer.Option(help="Random seed: the same seed gives the same data.")]
ScaleOption = Annotated[
    float,
    typer.Option(help="Data volume: 1 is about a million rows, 10 about ten million.", min=0.001),
]


def _print_version(value: bool) -> None:
    if value:
        out.print(f"kpiboard {__version__}", markup=False)
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", callback=_print_version, is_eager=True
        ),
    ] = False,
) -> None:
    """kpiboard: analytics and KPI dashboards on a company's operational databases.

    Example: `kpiboard demo` builds the demo company in ./demo.
    """


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Folder of the new project.")] = Path("."),
    name: Annotated[str | None, typer.Option(help="Project name (default: the folder's).")] = None,
    force: Annotated[bool, typer.Option(help="Overwrite an existing kpiboard.toml.")] = False,
) -> None:
    """Create a project folder with a commented kpiboard.toml.

    Example: `kpiboard init acme-analytics`
    """
    path = init_project(directory, name=name, force=force)
    out.print(f"Wrote {path}. Add your [[sources]] there, then run the pipeline.", markup=False)


@app.command()
def demo(
    directory: Annotated[Path, typer.Option("--dir", help="Project folder for the demo.")] = Path(
        "demo"
    ),
    seed: SeedOption = 42,
    scale: ScaleOption = 1.0,
    no_serve: Annotated[
        bool, typer.Option("--no-serve", help="Build everything, then exit instead of serving.")
    ] = False,
) -> None:
    """Build the demo company and run the pipeline on it.

    Generates Brightline Office Systems — three branch CRMs and a stock database as SQLite files
    in DIR/sources — with the dirt manifest, writes DIR/kpiboard.toml with those four sources and
    the demo's SQL models (DIR/models), then runs the pipeline into DIR/warehouse.

    Example: `kpiboard demo --dir demo --seed 7 --no-serve`
    """
    template = f"sqlite:///{(directory / 'sources').resolve()}/{{db}}.sqlite"
    config = directory / "kpiboard.toml"
    if not config.exists():
        init_project(directory, name=f"{company.COMPANY_NAME} (demo)", sources=demo_sources())
    install_demo_models(directory / "models")
    install_demo_suites(directory / "suites")
    settings = load_settings(directory)
    result = _generate(template, seed=seed, scale=scale, manifest=None)
    _print_build(result)
    run = _run_pipeline(settings, full=True)
    _print_run(run)
    _print_validation(run)
    out.print(f"Project:   {config.resolve()}", markup=False)
    out.print(f"Warehouse: {run.snapshot}", markup=False)
    if not no_serve:
        out.print(
            "The dashboard is not part of this version yet; the demo ends here. Explore the "
            f'warehouse with: kpiboard sql -p {directory} "SELECT * FROM core.fct_invoice LIMIT 5"',
            markup=False,
        )


@source_app.command("generate")
def source_generate(
    url: Annotated[
        str,
        typer.Option(
            help="Database URL template; {db} is replaced by each database's name.",
            show_default=False,
        ),
    ],
    seed: SeedOption = 42,
    scale: ScaleOption = 1.0,
    manifest: Annotated[
        Path | None,
        typer.Option(
            help="Where to write the dirt manifest "
            "(default: beside SQLite files, else ./dirt_manifest.csv)."
        ),
    ] = None,
) -> None:
    """Write the demo company's operational databases to any SQLite, PostgreSQL or MariaDB URL.

    Four databases: crm_denver, crm_austin, crm_portland (one CRM per branch) and stock. Server
    databases are created if missing; the demo's tables in them are replaced.

    Example: `kpiboard source generate --url 'postgresql://postgres@127.0.0.1/{db}' --scale 0.1`
    """
    targets = database_urls(url)  # checks the template before any work
    first = next(iter(targets.values()))
    if manifest is None and urls.backend(first) != "sqlite":
        manifest = Path("dirt_manifest.csv")
    _print_build(_generate(url, seed=seed, scale=scale, manifest=manifest))


@source_app.command("list")
def source_list(project: ProjectOption = Path("."), fmt: FormatOption = Format.table) -> None:
    """List the sources configured in kpiboard.toml.

    Example: `kpiboard source list --project demo --format csv`
    """
    settings = load_settings(project)
    rows = [
        {
            "name": s.name,
            "backend": urls.backend(urls.parse_url(s.url)),
            "url": urls.show(urls.parse_url(settings.source_url(s))),
            "tables": ", ".join(s.tables) if s.tables else "all",
        }
        for s in settings.sources
    ]
    emit(rows, fmt, columns=["name", "backend", "url", "tables"], title="Sources")


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
    settings = load_settings(project)
    result = _run_pipeline(
        settings, sources=source or (), tables=table or (), full=full, check_deletes=check_deletes
    )
    _print_run(result, per_table=per_table)
    _print_validation(result)
    if result.status == pipeline.PARTIAL:
        raise typer.Exit(4)


@etl_app.command("status")
def etl_status(
    project: ProjectOption = Path("."),
    last: Annotated[int, typer.Option(help="How many runs to show.", min=1)] = 10,
    fmt: FormatOption = Format.table,
) -> None:
    """Show the last pipeline runs: when, how long, status, rows, errors.

    Example: `kpiboard etl status -p demo --last 5 --format json`
    """
    settings = load_settings(project)
    engine = appdb.engine(settings)
    runs, tables = appdb.etl_runs, appdb.etl_table_runs
    query = (
        sa.select(
            runs.c.run_id,
            runs.c.status,
            runs.c.started_at,
            runs.c.finished_at,
            sa.func.count(tables.c.table_name).label("tables"),
            sa.func.coalesce(sa.func.sum(tables.c.rows_read), 0).label("rows_read"),
            sa.func.coalesce(sa.func.sum(tables.c.rows_deleted), 0).label("rows_deleted"),
            runs.c.error,
        )
        .select_from(runs.outerjoin(tables, tables.c.run_id == runs.c.run_id))
        .group_by(runs.c.run_id)
        .order_by(runs.c.started_at.desc())
        .limit(last)
    )
    with engine.connect() as db:
        rows = [dict(r._mapping) for r in db.execute(query)]
    engine.dispose()
    emit(rows, fmt, title="Pipeline runs")


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="A read-only SQL query (DuckDB dialect).")],
    project: ProjectOption = Path("."),
    fmt: FormatOption = Format.table,
) -> None:
    """Run a read-only query on the published snapshot of the warehouse.

    Example: `kpiboard sql -p demo "SELECT branch_id, count(*) FROM core.fct_invoice GROUP BY 1"`
    """
    settings = load_settings(project)
    con = settings.open_warehouse().connect()
    try:
        cursor = con.execute(query)
        names = [d[0] for d in cursor.description or []]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    except duckdb.Error as exc:
        raise UserError(f"query failed: {str(exc).splitlines()[0]}") from None
    finally:
        con.close()
    emit(rows, fmt, columns=names)


@app.command("backup")
def backup_command(
    project: ProjectOption = Path("."),
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Archive to write (default: kpiboard-<time>.tar.gz)."),
    ] = None,
) -> None:
    """Write the published snapshot, the project's files and the app database to one archive.

    Every file is listed with its SHA-256 in the archive's manifest; `kpiboard restore` checks
    them all before it writes anything.

    Example: `kpiboard backup -p demo -o /backups/demo.tar.gz`
    """
    settings = load_settings(project)
    stamp = new_run_id().split("-")[0]
    archive = output or Path(f"kpiboard-{stamp}.tar.gz")
    result = backups.backup(settings, archive)
    app_db = "with the app database" if result.app_database else "without an app database"
    out.print(
        f"Wrote {result.archive}: {result.files} files, {result.bytes:,} bytes, "
        f"snapshot {result.snapshot}, {app_db}",
        markup=False,
    )


@app.command("restore")
def restore_command(
    archive: Annotated[Path, typer.Argument(help="A backup written by `kpiboard backup`.")],
    project: ProjectOption = Path("."),
    force: Annotated[bool, typer.Option(help="Replace an existing project's files.")] = False,
) -> None:
    """Check a backup's checksums, then restore it into the project folder and publish its
    snapshot.

    Example: `kpiboard restore /backups/demo.tar.gz -p demo-restored`
    """
    manifest = backups.restore(archive, project, force=force)
    out.print(
        f"Restored {len(manifest['files'])} files into {project}; "
        f"published snapshot {manifest['snapshot']} (backed up {manifest['created_at']})",
        markup=False,
    )


@validate_app.callback(invoke_without_command=True)
def validate(
    ctx: typer.Context,
    project: ProjectOption = Path("."),
    table: Annotated[
        list[str] | None,
        typer.Option("--table", "-t", help="Only the suites of this table (repeatable)."),
    ] = None,
    suite: Annotated[
        list[str] | None,
        typer.Option("--suite", "-s", help="Only this suite, e.g. crm.clients (repeatable)."),
    ] = None,
) -> None:
    """Validate the published data again (no extraction): raw suites, quarantine, models, core
    suites; publish if no `error` expectation fails.

    Exit codes: 0 passed (warn failures are quarantined); 5 an error expectation failed and
    nothing was published; 2 bad input (a malformed suite file, an unknown suite).

    Example: `kpiboard validate -p demo --suite crm.clients`
    """
    if ctx.invoked_subcommand is not None:
        return
    settings = load_settings(project)
    if settings.open_warehouse().published() is None:
        raise UserError("nothing published yet; run `kpiboard etl run` first")
    result = _run_pipeline(settings, extract=False, suites=[*(table or ()), *(suite or ())])
    _print_validation(result, every_suite=True)


@validate_app.command("quarantine")
def validate_quarantine(
    project: ProjectOption = Path("."),
    table: Annotated[str | None, typer.Option("--table", "-t", help="Only this table.")] = None,
    fmt: FormatOption = Format.table,
) -> None:
    """List the quarantined rows: table, source, primary key, expectation, offending values.

    Example: `kpiboard validate quarantine -p demo --table clients --format csv`
    """
    settings = load_settings(project)
    con = settings.open_warehouse().connect()
    try:
        tables = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'quarantine' ORDER BY 1"
            ).fetchall()
        ]
        if table is not None and table not in tables:
            raise UserError(
                f"no quarantine for table {table!r} (quarantined: {', '.join(tables) or 'none'})"
            )
        rows = []
        for name in [table] if table else tables:
            cursor = con.execute(
                "SELECT source, row_key, expectation, severity, offending "
                f'FROM quarantine."{name}" ORDER BY source, row_key, expectation'
            )
            for source, key, expectation, severity, offending in cursor.fetchall():
                rows.append(
                    {
                        "table": name,
                        "source": source,
                        "primary_key": key,
                        "expectation": expectation,
                        "severity": severity,
                        "offending": offending,
                    }
                )
    finally:
        con.close()
    emit(
        rows,
        fmt,
        columns=["table", "source", "primary_key", "expectation", "severity", "offending"],
        title="Quarantined rows",
    )


def _print_validation(result: pipeline.RunResult, *, every_suite: bool = False) -> None:
    """Suites with failures (or all): suite, checked rows, failed expectations, quarantined."""
    rows: list[dict[str, object]] = []
    for report in (result.raw_validation, result.core_validation):
        if report is not None:
            rows += [r for r in report.summary() if every_suite or r["failed"]]
    if rows:
        emit(rows, Format.table, title="Validation")
    elif result.raw_validation is not None:
        out.print("Validation: every expectation passed", markup=False)


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
    with _progress("[bold]{task.description:<28}") as bars:
        return pipeline.run(settings, progress=_PipelineBars(bars), **options)


class _PipelineBars(pipeline.Progress):
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
    """The run's summary: one row per source (or per table), then models and errors."""
    if per_table:
        rows = [
            {
                "source": t.source,
                "table": t.table,
                "mode": t.mode,
                "rows read": t.rows_read,
                "deleted": t.rows_deleted,
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
                    "seconds": round(sum(t.seconds for t in mine), 2),
                    "failed": sum(t.error is not None for t in mine),
                }
            )
    emit(rows, Format.table, title=f"Pipeline run {result.run_id}: {result.status}")
    built = sum(m.rows for m in result.models)
    out.print(
        f"{len(result.models)} models built {built:,} core rows; {result.seconds:.1f} s in all",
        markup=False,
    )
    for error in result.errors:
        console.print(f"[bold red]error:[/] {escape(error)}", highlight=False, soft_wrap=True)
    for r in result.reconciliation:
        if not r.balanced:
            console.print(
                f"[bold yellow]not reconciled:[/] {escape(r.describe())} "
                "(rows written at the source during the run move its count)",
                highlight=False,
                soft_wrap=True,
            )


def _generate(template: str, *, seed: int, scale: float, manifest: Path | None) -> BuildResult:
    for url in database_urls(template).values():  # fail on a bad server before drawing progress
        urls.ensure_database(url)
    with _progress("[bold]Generating[/] {task.description}") as progress:
        task = progress.add_task("months", total=company.MONTHS, rows=0)
        state = {"rows": 0, "stock_months": 0}

        def advance(batch: Batch) -> None:
            state["rows"] += len(batch.frame)
            done = state["stock_months"]
            if batch.database == company.STOCK_DATABASE and batch.table == "stock_moves":
                done = state["stock_months"] = done + 1
            progress.update(task, completed=done, rows=state["rows"])

        result = build_sources(
            template, seed=seed, scale=scale, manifest=manifest, progress=advance
        )
    return result


def _print_build(result: BuildResult) -> None:
    rows = []
    for name, url in result.urls.items():
        tables = {t: n for (db, t), n in result.rows.items() if db == name}
        rows.append(
            {
                "database": name,
                "url": urls.show(url),
                "tables": len(tables),
                "rows": sum(tables.values()),
            }
        )
    emit(rows, Format.table, title=f"{company.COMPANY_NAME}: operational databases")
    rate = result.total_rows / result.seconds if result.seconds else 0.0
    out.print(f"{result.total_rows:,} rows in {result.seconds:.1f} s ({rate:,.0f} rows/s)")
    where = f" listed in {result.manifest}" if result.manifest else ""
    out.print(f"{result.defects:,} injected defects{where}")


def main() -> None:
    """Entry point: run the app, turning kpiboard's errors into one line and an exit code.

    Usage errors (a missing option, a bad value) are the command line library's: they print
    usage and exit with 2 as well.
    """
    try:
        app()
    except KpiboardError as exc:
        for line in str(exc).splitlines() or [type(exc).__name__]:
            console.print(f"[bold red]error:[/] {escape(line)}", highlight=False, soft_wrap=True)
        sys.exit(getattr(exc, "exit_code", 1))
