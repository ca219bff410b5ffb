"""The ``kpiboard`` application: its command groups, the options commands share, the
consoles they print to, and :func:`main`, which turns kpiboard's errors into one line and an exit
code."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from kpiboard import __version__
from kpiboard.errors import KpiboardError, UserError
from kpiboard.output import Format

# Start fast: each command imports the heavy modules it uses itself (the pipeline brings Great
# Expectations, the KPI engine pandas); these are for annotations only. tests/test_startup.py.
if TYPE_CHECKING:
    import duckdb
    import pandas as pd

    from kpiboard.config import Settings


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


def _no_warehouse() -> duckdb.DuckDBPyConnection:
    raise UserError("this command does not read the warehouse")


def _count(n: int, noun: str) -> str:
    """``1 model``, ``2 models``, ``19,388 core rows``."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


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
