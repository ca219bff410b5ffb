"""``kpiboard source``: the configured operational databases, and the demo company's."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kpiboard import urls
from kpiboard.cli.app import (
    FormatOption,
    ProjectOption,
    ScaleOption,
    SeedOption,
    load_settings,
    out,
    source_app,
)
from kpiboard.cli.etl import _progress
from kpiboard.output import Format, emit

# Start fast: each command imports the heavy modules it uses itself (the pipeline brings Great
# Expectations, the KPI engine pandas); these are for annotations only. tests/test_startup.py.
if TYPE_CHECKING:
    from kpiboard.demo import BuildResult
    from kpiboard.demo.generate import Batch


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
