"""Commands on a whole project: ``init``, ``demo``, ``sql``, ``backup`` and ``restore``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kpiboard.cli.app import (
    FormatOption,
    ProjectOption,
    ScaleOption,
    SeedOption,
    app,
    load_settings,
    out,
)
from kpiboard.cli.etl import _print_run, _print_validation, _run_pipeline
from kpiboard.cli.source import _generate, _print_build
from kpiboard.errors import UserError
from kpiboard.output import Format, emit
from kpiboard.project import init_project
from kpiboard.warehouse import new_run_id

# Start fast: each command imports the heavy modules it uses itself (the pipeline brings Great
# Expectations, the KPI engine pandas); these are for annotations only. tests/test_startup.py.
if TYPE_CHECKING:
    from kpiboard.config import Settings


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
        bool,
        typer.Option("--no-serve", help="Build everything, then exit instead of serving."),
    ] = False,
) -> None:
    """Build the demo company and run the pipeline on it.

    Generates Brightline Office Systems — three branch CRMs and a stock database as SQLite files
    in DIR/sources — with the dirt manifest, writes DIR/kpiboard.toml with those four sources,
    the demo's SQL models (DIR/models), expectation suites (DIR/suites), KPIs (DIR/kpis) and
    scorecards (DIR/scorecards), runs the pipeline into DIR/warehouse, then sets plans for every
    employee and branch (DIR/plans) from the previous year's figures, adds a user per role
    (admin, executive, analyst, denver-head, denver-sales; their passwords in
    DIR/demo-logins.txt, kept when the demo is built again), and serves the dashboard
    on http://127.0.0.1:8050/ ([dashboard] in kpiboard.toml) until stopped; `--no-serve` exits
    instead.

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
    _print_logins(settings, directory)
    if not no_serve:
        from kpiboard.cli.serve import serve_dashboard

        out.print(
            "Also try:\n"
            f"  kpiboard kpi eval revenue win_rate --by branch -p {directory}\n"
            f"  kpiboard report run sales_plan_vs_fact -p {directory} --format pdf -o plan.pdf",
            markup=False,
        )
        serve_dashboard(directory, host=None, port=None, workers=1)


def _login_url(settings: Settings) -> str:
    host = settings.dashboard.host
    shown = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(host, f"[{host}]" if ":" in host else host)
    return f"http://{shown}:{settings.dashboard.port}/login"


def _print_logins(settings: Settings, directory: Path) -> None:
    """Make the demo's users (one per role) and print how to log in as each."""
    from kpiboard.demo.users import LOGINS_FILE, create_demo_schedule, create_demo_users

    url = _login_url(settings)
    logins = create_demo_users(settings, url)
    schedule = create_demo_schedule(settings, logins)
    lines = [f"Log in at {url} as"]
    width = max(len(f"{login.user.name} / {login.password}") for login in logins)
    for login in logins:
        who = f"{login.user.name} / {login.password or '?'}"
        about = f"{login.user.role} — {login.user.about}"
        if login.password is None:
            about = f"password not known: kpiboard user passwd {login.user.name} -p {directory}"
        lines.append(f"  {who:<{width}}  {about}")
    lines.append(
        f"Logins:    {(settings.project_dir / LOGINS_FILE).resolve()} (readable by you only)"
    )
    if schedule:
        lines.append(
            f"Mail-out:  {schedule} (paused; `kpiboard schedule show {schedule} -p {directory}`)"
        )
    out.print("\n".join(lines), markup=False)


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
