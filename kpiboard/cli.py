"""The ``kpiboard`` command line.

User errors (:class:`~kpiboard.errors.UserError`) print one line and exit with code 2; a database
that cannot be reached exits with 3; 4 is partial: a pipeline run that published with a failed
source or table (``etl run``), or KPIs of which some were evaluated and some, broken, were not
(``kpi eval``); a bug keeps its traceback. Every command runs in the project folder, the current
one or ``--project DIR``.
"""

from __future__ import annotations

import datetime as dt
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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

from etl.progress import Progress as PipelineProgress
from kpi_designer.dialects import DIALECTS
from kpi_designer.errors import DefinitionError
from kpiboard import __version__, urls
from kpiboard.errors import KpiboardError, Problem, UserError
from kpiboard.output import Format, emit
from kpiboard.project import init_project
from kpiboard.warehouse import new_run_id

# Start fast: each command imports the heavy modules it uses itself (the pipeline brings Great
# Expectations, the KPI engine pandas); these are for annotations only. tests/test_startup.py.
if TYPE_CHECKING:
    import duckdb
    import pandas as pd

    from etl import pipeline
    from etl.load import TableResult
    from etl.sources import SourceTable
    from kpi_designer.engine import Definitions, Engine
    from kpi_designer.model import Kpi
    from kpiboard.config import Settings
    from kpiboard.demo import BuildResult
    from kpiboard.demo.generate import Batch

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
    "Expectation suites: run them, list the quarantine and the duplicate clients.",
    "kpiboard validate --project demo",
)
kpi_app = _group(
    "kpi",
    "KPIs: list and explain the definitions, check them, evaluate against plans, show the SQL.",
    "kpiboard kpi eval revenue --by branch --project demo",
    no_args_is_help=True,
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


def load_settings(project: Path) -> Settings:
    """The project's settings (:func:`kpiboard.config.load_settings`), imported here: pydantic
    builds the settings' models on import, which `--help` has no use for."""
    from kpiboard import config

    return config.load_settings(project)


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
    force: Annotated[
        bool, typer.Option(help="Overwrite an existing project's kpiboard.toml, suites, drafts.")
    ] = False,
    from_url: Annotated[
        str | None,
        typer.Option(
            "--from-url",
            help="Draft the project from this database: its source entry, starter suites per "
            "table and draft models (PostgreSQL, MySQL/MariaDB, SQLite).",
            show_default=False,
        ),
    ] = None,
    source: Annotated[
        str | None,
        typer.Option(help="With --from-url: the source's name (default: the database's)."),
    ] = None,
    branch: Annotated[
        str | None,
        typer.Option(
            help="With --from-url: the company's branch code, [company] branch (default: main)."
        ),
    ] = None,
) -> None:
    """Create a project folder: a commented kpiboard.toml and the folders models/core, kpis,
    plans, suites/raw and suites/core, each with a README.md showing its format.

    With --from-url, inspect that database (tables, keys, foreign keys, dates, a column like
    updated_at for incremental loads) and write its [[sources]] entry (without the password),
    a starter validation suite per table in suites/raw/SOURCE/ and, for each table whose name
    suggests a core table (customers → dim_client, orders → fct_invoice …), a draft model in
    drafts/core/ to finish and move into models/core/. Nothing is written when the database
    cannot be read (exit 2; 3 when the server cannot be reached).

    Example: `kpiboard init acme --from-url postgresql://readonly@crm.example.com/crm --source crm`
    """
    if from_url is None:
        if source is not None or branch is not None:
            raise UserError("--source and --branch go with --from-url")
        path = init_project(directory, name=name, force=force)
        out.print(
            f"Wrote {path}. Add your [[sources]] there, then run the pipeline. The folders "
            "models/core, kpis, plans, suites/raw and suites/core each have a README.md "
            "showing their format.",
            markup=False,
        )
        return
    from kpiboard.scaffold import init_from_url

    drafted = init_from_url(
        directory, from_url, name=name, source=source, branch=branch, force=force
    )
    _print_drafted(directory, drafted)


def _print_drafted(directory: Path, drafted: Any) -> None:
    """What ``init --from-url`` wrote, and what to do next."""
    lines = [
        f"Wrote {drafted.config}: source {drafted.source!r} ({drafted.url}), "
        f"{drafted.tables} tables: {len(drafted.incremental)} loaded incrementally, "
        f"{len(drafted.full)} copied in full each run"
        + (f" ({', '.join(drafted.full)})" if drafted.full else "")
        + ".",
        f"Suites:  {len(drafted.suites)} in {directory / 'suites' / 'raw' / drafted.source}, "
        f"{drafted.expectations} expectations (keys, foreign keys, date bounds).",
    ]
    if drafted.skipped:
        lines.append(f"         no suite for {', '.join(drafted.skipped)} (not a plain name)")
    if drafted.drafts:
        lines.append(f"Drafts:  {len(drafted.drafts)} models in {directory / 'drafts' / 'core'}:")
        for path, table, mapped, todo in drafted.drafts:
            lines.append(f"         {path} from {table}: {mapped} columns mapped, {todo} TODO")
    else:
        lines.append("Drafts:  none (no table's name suggests a core table)")
    variable = f"KPIBOARD_SOURCE_{drafted.source.upper()}_URL"
    lines += [
        "Next steps:",
        f"  1. if the database needs a password, set {variable} to the full URL",
        f"  2. kpiboard etl run -p {directory}      copy the data, run the suites",
        "  3. finish each draft's TODOs, move it into models/core/, run `kpiboard etl run`",
        f"  4. check [company] in {drafted.config} (branch code, time zone, currency)",
    ]
    out.print("\n".join(lines), markup=False)


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
    in DIR/sources — with the dirt manifest, writes DIR/kpiboard.toml with those four sources,
    the demo's SQL models (DIR/models), expectation suites (DIR/suites), KPIs (DIR/kpis) and
    scorecards (DIR/scorecards), runs the pipeline into DIR/warehouse, then sets plans for every
    employee and branch (DIR/plans) from the previous year's figures.

    Example: `kpiboard demo --dir demo --seed 7 --no-serve`
    """
    from kpi_designer.engine import load_definitions
    from kpiboard.demo import (
        company,
        demo_sources,
        install_demo_kpis,
        install_demo_models,
        install_demo_scorecards,
        install_demo_suites,
    )
    from kpiboard.demo.plans import write_demo_plans

    template = f"sqlite:///{(directory / 'sources').resolve()}/{{db}}.sqlite"
    config = directory / "kpiboard.toml"
    if not config.exists():
        init_project(directory, name=f"{company.COMPANY_NAME} (demo)", sources=demo_sources())
    install_demo_models(directory / "models")
    install_demo_suites(directory / "suites")
    install_demo_kpis(directory / "kpis")
    install_demo_scorecards(directory / "scorecards")
    settings = load_settings(directory)
    result = _generate(template, seed=seed, scale=scale, manifest=None)
    _print_build(result)
    run = _run_pipeline(settings, full=True)
    _print_run(run)
    _print_validation(run, settings)
    plans = write_demo_plans(directory, seed=seed)
    definitions = load_definitions(settings)
    out.print(
        f"KPIs:      {len(definitions.kpis)} in {settings.resolve(settings.kpi.definitions)}, "
        f"{len(definitions.plans):,} plan values in {len(plans)} files, "
        f"{len(definitions.scorecards)} scorecards",
        markup=False,
    )
    out.print(f"Project:   {config.resolve()}", markup=False)
    out.print(f"Warehouse: {run.snapshot}", markup=False)
    if not no_serve:
        out.print(
            "The dashboard is not part of this version yet; the demo ends here. Try:\n"
            f"  kpiboard kpi eval revenue win_rate --by branch -p {directory}\n"
            f"  kpiboard kpi scorecard sales_manager -p {directory}\n"
            f'  kpiboard sql -p {directory} "SELECT * FROM core.fct_invoice LIMIT 5"\n'
            f"  and open {directory}/data_docs/index.html for the data's quality",
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
    from kpiboard.demo import database_urls

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
    import sqlalchemy as sa

    from kpiboard import appdb

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
            sa.func.coalesce(sa.func.sum(tables.c.rows_invalid), 0).label("rows_invalid"),
            runs.c.error,
            runs.c.warnings,
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
    """Run one read-only query on the published snapshot of the warehouse, in a sandbox.

    The query is one SELECT (or WITH, VALUES, DESCRIBE, SHOW, SUMMARIZE, EXPLAIN); it reads
    the warehouse's tables and nothing else: no files, no other database, no extensions, no
    settings.

    Example: `kpiboard sql -p demo "SELECT branch_id, count(*) FROM core.fct_invoice GROUP BY 1"`
    """
    import duckdb

    from kpiboard import sandbox

    settings = load_settings(project)
    con = sandbox.connect(settings.open_warehouse())
    try:
        cursor = sandbox.run(con, query, who="kpiboard sql")
        names = [d[0] for d in cursor.description or []]
        try:
            rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        except duckdb.Error as exc:  # an error met while the rows stream
            raise UserError(f"kpiboard sql: query failed: {str(exc).splitlines()[0]}") from None
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
    from kpiboard import backup as backups

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
    from kpiboard import backup as backups

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

    With --suite or --table only those suites run and every other table keeps its quarantine;
    rows whose values did not convert are quarantined in every table, and every quarantined row
    is left out of core, whatever ran.

    The summary says how many expectations ran (`validation: 37 expectations on 9 tables, 2
    failed`); a project with sources but no suites gets a warning saying so (exit code 0).

    Exit codes: 0 passed (warn failures are quarantined); 5 an error expectation failed and
    nothing was published; 2 bad input (a malformed suite file, a suite naming a table or column
    the warehouse lacks, an unknown suite).

    Example: `kpiboard validate -p demo --suite crm.clients`
    """
    if ctx.invoked_subcommand is not None:
        return
    settings = load_settings(project)
    if settings.open_warehouse().published() is None:
        raise UserError("nothing published yet; run `kpiboard etl run` first")
    result = _run_pipeline(settings, extract=False, suites=[*(table or ()), *(suite or ())])
    _print_validation(result, settings, every_suite=True)


@validate_app.command("quarantine")
def validate_quarantine(
    project: ProjectOption = Path("."),
    table: Annotated[str | None, typer.Option("--table", "-t", help="Only this table.")] = None,
    fmt: FormatOption = Format.table,
) -> None:
    """List the quarantined rows: table, source, primary key, expectation, hold, offending values.

    hold is `row` (the row is left out of core) or `value` (the row is in core, the offending
    value withheld as null).

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
                "SELECT source, row_key, expectation, severity, hold, offending "
                f'FROM quarantine."{name}" ORDER BY source, row_key, expectation'
            )
            for source, key, expectation, severity, hold, offending in cursor.fetchall():
                rows.append(
                    {
                        "table": name,
                        "source": source,
                        "primary_key": key,
                        "expectation": expectation,
                        "severity": severity,
                        "hold": hold,
                        "offending": offending,
                    }
                )
    finally:
        con.close()
    emit(
        rows,
        fmt,
        columns=[
            "table",
            "source",
            "primary_key",
            "expectation",
            "severity",
            "hold",
            "offending",
        ],
        title="Quarantined rows",
    )


@validate_app.command("duplicates")
def validate_duplicates(
    project: ProjectOption = Path("."),
    fmt: FormatOption = Format.table,
) -> None:
    """List the duplicate clients the last run linked, group by group: the master, each client
    and the client it matched, the rule (tax_id, phone, email, name_city, decision), the value
    that matched and the decision recorded, if any.

    To confirm or split, add a line to `duplicates.csv` beside kpiboard.toml (header
    `client_id,other_client_id,decision,note`; decision `same` or `different`) and run
    `kpiboard validate` to apply it:

        client_id,other_client_id,decision,note
        crm_denver:12,crm_denver:807,different,two shops of one owner
        crm_austin:31,crm_denver:455,same,moved from Austin to Denver

    Example: `kpiboard validate duplicates -p demo --format csv`
    """
    from validation import duplicates

    settings = load_settings(project)
    decisions = settings.resolve(settings.validation.duplicates)
    duplicates.read_decisions(decisions, str(settings.validation.duplicates))  # fail if malformed
    con = settings.open_warehouse().connect()
    try:
        rows = duplicates.list_groups(con)
    finally:
        con.close()
    columns = ["master", "client_id", "other_client_id", "other_name", "rule", "value", "decision"]
    if fmt is not Format.table:  # a table on a terminal keeps to what fits
        columns = list(rows[0]) if rows else [*columns[:1], "master_name", *columns[1:]]
    emit(
        rows,
        fmt,
        columns=columns,
        title="Duplicate clients (record decisions in "
        f"{settings.validation.duplicates}, then run `kpiboard validate`)",
    )


# -- kpi ------------------------------------------------------------------------------------------


def _period_day(text: str, *, last: bool) -> dt.date:
    """A day given as a date or as a period the way plan files and ``kpi eval`` write it
    (``2026-03``, ``2026-Q1``, ``2026-W11``, ``2026``): its first day, or with ``last`` its last."""
    from kpi_designer.compiler import period_end
    from kpi_designer.plans import parse_period

    parsed = parse_period(text)
    if parsed is None:
        raise typer.BadParameter(
            f"{text!r} is not a day or a period (2026-03-15, 2026-W11, 2026-03, 2026-Q1, 2026)"
        )
    grain, first = parsed
    return period_end(first, grain) if last else first


def _first_day(text: str) -> dt.date:
    return _period_day(text, last=False)


def _last_day(text: str) -> dt.date:
    return _period_day(text, last=True)


_PERIODS_HELP = "a day (2026-03-15) or a period (2026-03, 2026-Q1, 2026-W11, 2026)"
FromOption = Annotated[
    dt.date | None,
    typer.Option(
        "--from",
        help=f"First day, {_PERIODS_HELP} for its first day; default: the start of the month "
        "11 months before --to.",
        parser=_first_day,
        metavar="PERIOD",
        show_default=False,
    ),
]
ToOption = Annotated[
    dt.date | None,
    typer.Option(
        "--to",
        help=f"Last day, {_PERIODS_HELP} for its last day; default: the end of the month of the "
        "latest event in the published data, on its branch's local day (deliveries, planned "
        "ahead, and rows dated after they were loaded do not count).",
        parser=_last_day,
        metavar="PERIOD",
        show_default=False,
    ),
]
CompileToOption = Annotated[
    dt.date | None,
    typer.Option(
        "--to",
        help=f"Last day, {_PERIODS_HELP} for its last day; default: today (compile reads no data).",
        parser=_last_day,
        metavar="PERIOD",
        show_default=False,
    ),
]
GrainOption = Annotated[
    str,
    typer.Option(
        "--grain",
        "-g",
        help="day, week, month, quarter, year, or range: the whole range as one period.",
    ),
]
ByOption = Annotated[
    list[str] | None,
    typer.Option("--by", "-b", help="Slice by a dimension (repeatable), e.g. branch, employee."),
]
FilterOption = Annotated[
    list[str] | None,
    typer.Option("--filter", help="A condition on dimensions (repeatable): \"branch = 'denver'\"."),
]


@kpi_app.command("list")
def kpi_list(project: ProjectOption = Path("."), fmt: FormatOption = Format.table) -> None:
    """List the KPIs: id, label, type, unit, direction, owner and where each is defined.

    Example: `kpiboard kpi list -p demo --format csv`
    """
    from kpi_designer.loader import load_kpis

    settings = load_settings(project)
    # the KPI files alone: a listing need not read every plan (`kpi check` checks them all)
    kpis = load_kpis(settings.resolve(settings.kpi.definitions))
    if not kpis and fmt is Format.table:
        folder = settings.kpi.definitions
        out.print(
            f"No KPIs yet: write them in {folder}/*.yaml ({folder}/README.md shows the format, "
            "docs/kpis.md the language).",
            markup=False,
        )
        return
    rows = [
        {
            "id": k.id,
            "label": k.label,
            "type": k.TYPE,
            "unit": k.unit,
            "direction": k.direction,
            "owner": k.owner or "",
            "defined_at": str(k.location),
        }
        for k in sorted(kpis.values(), key=lambda k: k.id)
    ]
    emit(
        rows,
        fmt,
        columns=["id", "label", "type", "unit", "direction", "owner", "defined_at"],
        title=f"{len(rows)} KPIs",
    )


@kpi_app.command("show")
def kpi_show(
    kpi_id: Annotated[str, typer.Argument(help="The KPI's id.", show_default=False)],
    project: ProjectOption = Path("."),
    fmt: FormatOption = Format.table,
) -> None:
    """Show one KPI: its definition, what it is computed from, what it can be sliced by, plans.

    Example: `kpiboard kpi show avg_check -p demo`
    """
    from kpi_designer.engine import describe_kpi, load_definitions
    from kpi_designer.loader import reachable

    definitions = load_definitions(load_settings(project))
    kpi = _kpi(definitions, kpi_id)
    plans = [p for p in definitions.plans if p.kpi == kpi.id]
    fields: dict[str, object] = {
        "id": kpi.id,
        "label": kpi.label,
        "description": kpi.description,
        "type": kpi.TYPE,
        "unit": kpi.unit,
        "direction": kpi.direction,
        "owner": kpi.owner or "",
        "defined_at": str(kpi.location),
        "computed_from": describe_kpi(kpi),
        "inputs": ", ".join(kpi.inputs()),
        "dimensions": ", ".join(sorted(reachable(kpi, definitions.kpis))),
        "thresholds": f"green >= {kpi.thresholds.green:g}, amber >= {kpi.thresholds.amber:g}",
        "missing_plan": kpi.missing_plan,
        "plans": f"{len(plans)} plan values"
        + (f", {min(p.period for p in plans)} to {max(p.period for p in plans)}" if plans else ""),
        "scorecards": ", ".join(
            sorted(
                r for r, c in definitions.scorecards.items() if kpi.id in {w.kpi for w in c.kpis}
            )
        ),
    }
    if fmt is Format.json:
        emit([fields], fmt)
    else:
        emit([{"field": k, "value": v} for k, v in fields.items()], fmt, title=kpi.label)


@kpi_app.command("check")
def kpi_check(project: ProjectOption = Path("."), fmt: FormatOption = Format.table) -> None:
    """Check every KPI, plan and scorecard file and compile every KPI for DuckDB and PostgreSQL;
    every problem is listed with its file and line, and the exit code is 2 if there is one.
    Warnings (a KPI that reads the clock, …) are listed too, located, and leave the exit code 0.

    Example: `kpiboard kpi check -p demo --format json`
    """
    from kpi_designer.engine import compile_all, load_definitions
    from kpi_designer.rules import warnings as kpi_warnings

    settings = load_settings(project)
    columns = ["file", "line", "column", "severity", "problem"]
    try:
        definitions = load_definitions(settings)
        compile_all(definitions.kpis)
    except DefinitionError as exc:
        if fmt is Format.table:  # one located line each, as every other command reports
            raise
        emit(_problem_rows(exc.problems, "error"), fmt, columns=columns)
        raise typer.Exit(2) from None
    advice = kpi_warnings(definitions.kpis)
    if fmt is not Format.table:
        emit(_problem_rows(advice, "warning"), fmt, columns=columns)
        return
    for problem in advice:
        console.print(f"[bold yellow]warning:[/] {escape(str(problem))}", highlight=False)
    counted = f", {len(advice)} warning{'s' if len(advice) != 1 else ''}" if advice else ""
    out.print(
        f"{len(definitions.kpis)} KPIs, {len(definitions.plans)} plan values and "
        f"{len(definitions.scorecards)} scorecards: no problems{counted}",
        markup=False,
    )


def _problem_rows(problems: Sequence[Problem], severity: str) -> list[dict[str, Any]]:
    return [
        {
            "file": p.path,
            "line": p.line,
            "column": p.column,
            "severity": severity,
            "problem": p.message,
        }
        for p in problems
    ]


@kpi_app.command("eval")
def kpi_eval(
    kpi_ids: Annotated[list[str], typer.Argument(help="One or more KPI ids.", show_default=False)],
    project: ProjectOption = Path("."),
    start: FromOption = None,
    end: ToOption = None,
    grain: GrainOption = "month",
    by: ByOption = None,
    filters: FilterOption = None,
    fmt: FormatOption = Format.table,
    wide: Annotated[
        bool,
        typer.Option(
            "--wide",
            help="One row per period and slice, a column per KPI (and its plan, achievement "
            "and status where it has plans).",
        ),
    ] = False,
) -> None:
    """Evaluate KPIs on the published data: value, plan, achievement and status per period and
    slice.

    Periods are labelled as plan files write them (2026-03, 2026-Q1, 2026-W11), at grain range
    by the range's first and last day (2026-01-01…2026-03-31); the table shows values in their
    KPI's unit, CSV and JSON the numbers. A KPI whose definition is
    broken fails alone: the others are printed, its located error goes to stderr, and the exit
    code is 4 (2 if every KPI asked for is broken).

    Example: `kpiboard kpi eval revenue win_rate -p demo --from 2026-01-01 --by branch --wide`

    Example: `kpiboard kpi eval revenue -p demo --grain range --from 2026-Q1 --to 2026-02-15`
    """
    from kpi_designer.engine import Engine, read_definitions
    from kpiboard.kpi_output import print_evaluation

    settings = load_settings(project)
    definitions = read_definitions(settings)
    engine = Engine.from_settings(settings, definitions)
    start, end = _range(engine, start, end, grain)
    result = engine.evaluate_apart(
        kpi_ids, start=start, end=end, grain=grain, by=by or [], filters=filters or []
    )
    asked = list(dict.fromkeys(kpi_ids))
    if len(result.failed) == len(asked):
        raise DefinitionError(list(result.failed.values()))
    shape = "as one period" if grain == "range" else f"by {grain}"
    print_evaluation(
        result.frame,
        engine.kpis,
        [k for k in asked if k not in result.failed],
        grain=grain,
        by=by or [],
        fmt=fmt,
        wide=wide,
        title=f"{', '.join(asked)} {shape}, {start} to {end}",
        end=end,
    )
    for problem in result.failed.values():
        console.print(f"[bold red]error:[/] {escape(str(problem))}", highlight=False)
    shown = set(result.failed.values())
    others = [p for p in definitions.problems if p not in shown]
    if others:
        many = f"{len(others)} problems" if len(others) > 1 else "1 problem"
        console.print(
            f"[bold yellow]warning:[/] the project's definitions have {many} that this "
            "evaluation does not use (`kpiboard kpi check` lists them)",
            highlight=False,
        )
    if result.failed:
        raise typer.Exit(4)


@kpi_app.command("rows")
def kpi_rows(
    kpi_id: Annotated[str, typer.Argument(help="The KPI's id.", show_default=False)],
    period: Annotated[
        str,
        typer.Option(
            "--period",
            help="The value's period: its label (2026-03, 2026-Q1, 2026-W11, 2026), a day "
            "inside it (2026-03-15), or a range as one period (2026-01-10..2026-03-20).",
            show_default=False,
        ),
    ],
    project: ProjectOption = Path("."),
    grain: Annotated[
        str | None,
        typer.Option(
            "--grain",
            "-g",
            help="day, week, month, quarter or year; default: the period's own (2026-Q1 is a "
            "quarter), a month for a day.",
            show_default=False,
        ),
    ] = None,
    where: Annotated[
        list[str] | None,
        typer.Option(
            "--where",
            "-w",
            help="The value's slice, a member of a dimension (repeatable): branch=denver.",
        ),
    ] = None,
    filters: FilterOption = None,
    limit: Annotated[
        int | None,
        typer.Option("--limit", "-n", help="Print the first N rows only.", min=1),
    ] = None,
    fmt: FormatOption = Format.table,
) -> None:
    """List the fact rows one value counts: the rows behind a KPI's value in one period and
    slice, each with its key, local date, branch, employee, client and product, and what it
    contributes (a ratio's rows say their side, a derived KPI's their input, a conversion's
    whether each converted, an entities KPI's the entity each event makes count). Added up as
    the KPI adds them, they give the value `kpi eval` prints.

    Example: `kpiboard kpi rows revenue -p demo --period 2026-03 --where branch=denver`
    """
    from kpi_designer.engine import Engine
    from kpi_designer.plans import parse_period
    from kpiboard.kpi_output import period_label

    sliced: dict[str, str] = {}
    for text in where or []:
        dimension, equals, member = (part.strip() for part in text.partition("="))
        if not equals or not dimension or not member:
            raise typer.BadParameter(
                f"{text!r} is not dimension=member (branch=denver)", param_hint="--where"
            )
        if dimension in sliced:
            raise typer.BadParameter(f"{dimension!r} is named twice", param_hint="--where")
        sliced[dimension] = member
    if grain is None:  # the label's own grain; a day is of its month; first…last a range
        named = parse_period(period)
        if "…" in period or ".." in period:
            grain = "range"
        else:
            grain = named[0] if named is not None and named[0] != "day" else "month"
    engine = Engine.from_settings(load_settings(project))
    _kpi(engine.definitions, kpi_id)
    frame = engine.rows(
        kpi_id, period=period, grain=grain, slice=sliced, filters=filters or [], limit=limit
    )
    total = frame.attrs["total"]
    label = period_label(frame.attrs["start"], grain, frame.attrs["end"])
    of = "".join(f", {d}={v}" for d, v in sliced.items())
    emit(
        _records(frame),
        fmt,
        columns=list(frame.columns),
        title=f"{kpi_id}, {label}{of}: {_count(total, 'row')}",
    )
    if total > len(frame):
        console.print(
            f"{total - len(frame):,} more rows (--limit {limit}); {_count(total, 'row')} in all",
            highlight=False,
        )


@kpi_app.command("compile")
def kpi_compile(
    kpi_id: Annotated[str, typer.Argument(help="The KPI's id.", show_default=False)],
    project: ProjectOption = Path("."),
    dialect: Annotated[str, typer.Option(help="duckdb (the warehouse) or postgres.")] = "duckdb",
    start: FromOption = None,
    end: CompileToOption = None,
    grain: GrainOption = "month",
    by: ByOption = None,
    filters: FilterOption = None,
    literal: Annotated[
        bool,
        typer.Option(
            "--literal",
            help="Write the parameters into the SQL as literals (DATE '2026-01-01', 'text'): "
            "runnable as it is in psql or the DuckDB shell.",
        ),
    ] = False,
) -> None:
    """Print the SQL a KPI compiles to, with its parameters (no warehouse needed).

    The parameters are listed first, as SQL comments (`-- start_0 = DATE '2026-01-01'`), and
    the SQL names them (`$start_0` for DuckDB, `%(start_0)s` for PostgreSQL); with
    --literal they are written into the SQL instead.

    Example: `kpiboard kpi compile avg_check -p demo --dialect postgres --by employee --literal`
    """
    from kpi_designer.engine import Engine, load_definitions

    if dialect not in DIALECTS:
        raise UserError(f"unknown dialect {dialect!r} (dialects: {', '.join(DIALECTS)})")
    definitions = load_definitions(load_settings(project))
    _kpi(definitions, kpi_id)
    last = end or dt.date.today()
    first = start or _months_before(last)
    engine = Engine(definitions, _no_warehouse, lambda: None)
    query = engine.query(start=first, end=last, grain=grain, by=by or [], filters=filters or [])
    compiled = engine.compile(kpi_id, query)
    if literal:
        out.print(compiled.literal_sql(dialect, pretty=True) + ";", markup=False, highlight=False)
        return
    from kpi_designer.compiler import sql_literal

    for name, value in compiled.params.items():
        shown = sql_literal(value).sql(dialect)
        out.print(f"-- {name} = {shown}", markup=False, highlight=False)
    out.print(compiled.sql(dialect, pretty=True) + ";", markup=False, highlight=False)


@kpi_app.command("scorecard")
def kpi_scorecard(
    role: Annotated[str, typer.Argument(help="The role, e.g. sales_manager.", show_default=False)],
    project: ProjectOption = Path("."),
    start: FromOption = None,
    end: ToOption = None,
    employee: Annotated[
        str | None, typer.Option(help="Only this employee, with each KPI's part in the score.")
    ] = None,
    fmt: FormatOption = Format.table,
) -> None:
    """Score and bonus of each employee of a role per month; with --employee, why: each KPI's
    value, plan, achievement and contribution.

    Example: `kpiboard kpi scorecard sales_manager -p demo --employee crm_denver:2`
    """
    from kpi_designer.engine import Engine

    engine = Engine.from_settings(load_settings(project))
    start, end = _range(engine, start, end)
    scope = {"employee": [employee]} if employee else None
    scored = engine.scorecard(role, start=start, end=end, scope=scope)
    if employee is None:
        emit(
            _monthly(_records(scored.summary), fmt),
            fmt,
            title=f"{role}: score and bonus, {start} to {end}",
        )
        return
    if scored.summary.empty:
        raise UserError(_not_on_the_card(engine, employee, role, start, end))
    parts = scored.parts[
        ["period", "kpi", "value", "plan", "achievement", "counted", "weight", "contribution"]
    ]
    if fmt is not Format.table:
        # one document a program can read: each KPI's part with its month's score and bonus
        months = scored.summary[["period", "score", "gate", "bonus"]]
        emit(_monthly(_records(parts.merge(months, on="period", how="left")), fmt), fmt)
        return
    emit(_monthly(_records(parts), fmt), fmt, title=f"{employee}: each KPI's part of the score")
    emit(_monthly(_records(scored.summary), fmt), fmt, title=f"{employee}: score and bonus")


def _monthly(rows: list[dict[str, Any]], fmt: Format) -> list[dict[str, Any]]:
    """Scorecard rows with each month labelled as plan files and ``kpi eval`` write it
    (``2026-03``); CSV and JSON keep its first day beside it (``period_start``), as eval does."""
    from kpiboard.kpi_output import period_label

    out = []
    for row in rows:
        labelled: dict[str, Any] = {}
        for key, value in row.items():
            if key == "period" and isinstance(value, dt.date):
                labelled["period"] = period_label(value, "month")
                if fmt is not Format.table:
                    labelled["period_start"] = value.isoformat()
            else:
                labelled[key] = value
        out.append(labelled)
    return out


def _not_on_the_card(engine: Engine, employee: str, role: str, start: dt.date, end: dt.date) -> str:
    """Why an employee has no scorecard month in the range: unknown, another role, or not
    employed then (with the months they were)."""
    found = engine.employee(employee)
    if found is None:
        return f"unknown employee {employee!r} (core.dim_employee has no such employee_id)"
    held, hired, left = found
    if held != role:
        return f"{employee!r} is a {held}, not a {role}"
    since = f"from {hired}" if hired else "from the start"
    until = f" to {left}" if left else ""
    return f"{employee!r} was not employed in {start} to {end}: a {role} {since}{until}"


def _kpi(definitions: Definitions, kpi_id: str) -> Kpi:
    from kpiboard.yamlnodes import did_you_mean

    if kpi_id not in definitions.kpis:
        hint = did_you_mean(kpi_id, list(definitions.kpis))
        raise UserError(f"unknown KPI {kpi_id!r}{hint}")
    return definitions.kpis[kpi_id]


def _no_warehouse() -> duckdb.DuckDBPyConnection:
    raise UserError("this command does not read the warehouse")


def _count(n: int, noun: str) -> str:
    """``1 model``, ``2 models``, ``19,388 core rows``."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _months_before(last: dt.date) -> dt.date:
    from kpi_designer.compiler import add_months

    return add_months(dt.date(last.year, last.month, 1), -11)


def _range(
    engine: Engine, start: dt.date | None, end: dt.date | None, grain: str = "month"
) -> tuple[dt.date, dt.date]:
    """The range asked for, or by default the twelve months up to the end of the published data
    (:meth:`Engine.data_end`), widened to the start of the ``grain``'s period they begin in, so
    that the first period is whole (a quarter's three months, not its last two)."""
    from kpi_designer.compiler import period_start

    if end is None:
        end = engine.data_end() or dt.date.today()
    first = start
    if first is None:
        first = _months_before(end)
        if grain in ("day", "week", "month", "quarter", "year"):
            first = period_start(first, grain)  # type: ignore[arg-type]
    if first > end:
        raise UserError(f"--from {first} is after --to {end}")
    return first, end


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A frame's rows for ``emit``: NaN becomes empty, floats keep 4 decimals."""
    rows = []
    for record in frame.to_dict("records"):
        rows.append(
            {
                k: None if _missing(v) else round(v, 4) if isinstance(v, float) else v
                for k, v in record.items()
            }
        )
    return rows


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and value != value)


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


def _generate(template: str, *, seed: int, scale: float, manifest: Path | None) -> BuildResult:
    from kpiboard.demo import build_sources, company, database_urls

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
    from kpiboard.demo import company

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
