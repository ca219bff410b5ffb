"""The ``kpiboard`` command line.

User errors (:class:`~kpiboard.errors.UserError`) print one line and exit with code 2; a database
that cannot be reached exits with 3; a bug keeps its traceback. Every command runs in the project
folder, the current one or ``--project DIR``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from kpiboard import __version__, urls
from kpiboard.config import load_settings
from kpiboard.demo import BuildResult, build_sources, company, database_urls
from kpiboard.demo.generate import Batch
from kpiboard.errors import KpiboardError
from kpiboard.output import Format, emit
from kpiboard.project import init_project
from kpiboard.warehouse import init_warehouse

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
)
source_app = typer.Typer(
    help="Operational databases: list the configured ones, or generate the demo company's.\n\n"
    "Example: `kpiboard source list --project demo`",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
app.add_typer(source_app, name="source")

console = Console(stderr=True)
out = Console()

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


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    """kpiboard: analytics and KPI dashboards on a company's operational databases.

    Example: `kpiboard demo` builds the demo company in ./demo.
    """
    if version:
        out.print(f"kpiboard {__version__}")
        raise typer.Exit()


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
    """Build the demo company: its operational databases, project and warehouse.

    Generates Brightline Office Systems — three branch CRMs and a stock database as SQLite files
    in DIR/sources — with the dirt manifest, writes DIR/kpiboard.toml with those four sources and
    creates the warehouse with the canonical core schema.

    Example: `kpiboard demo --dir demo --seed 7 --no-serve`
    """
    template = f"sqlite:///{(directory / 'sources').resolve()}/{{db}}.sqlite"
    config = directory / "kpiboard.toml"
    if not config.exists():
        sources = [(name, f"sqlite:///sources/{name}.sqlite") for name in company.database_names()]
        init_project(directory, name=f"{company.COMPANY_NAME} (demo)", sources=sources)
    settings = load_settings(directory)
    result = _generate(template, seed=seed, scale=scale, manifest=None)
    tables = init_warehouse(settings.warehouse_path)
    _print_build(result)
    out.print(
        f"Warehouse: {settings.warehouse_path} (core schema: {len(tables)} tables, "
        "filled by the pipeline)"
    )
    out.print(f"Project:   {config.resolve()}")
    if not no_serve:
        out.print(
            "The dashboard is not part of this version yet; the demo ends here. "
            "Explore the sources with any SQLite client."
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


def _generate(template: str, *, seed: int, scale: float, manifest: Path | None) -> BuildResult:
    for url in database_urls(template).values():  # fail on a bad server before drawing progress
        urls.ensure_database(url)
    with Progress(
        TextColumn("[bold]Generating[/] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rows]:>12,} rows"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
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
