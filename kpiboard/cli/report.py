"""``kpiboard report``: the report catalog listed, one report shown, run (to the terminal, HTML,
PDF, XLSX or CSV) and every definition checked."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from kpiboard.cli.app import (
    FormatOption,
    ProjectOption,
    _count,
    _group,
    console,
    load_settings,
    out,
)
from kpiboard.errors import UserError
from kpiboard.output import Format, emit

if TYPE_CHECKING:
    from reports.loader import Catalog
    from reports.model import Report
    from reports.result import Result

report_app = _group(
    "report",
    "Reports: the catalog of standard reports and the project's own; run one to HTML, PDF, "
    "XLSX or CSV.",
    "kpiboard report run receivables_aging --param as_of=2026-03-31 --format pdf -o aging.pdf",
    no_args_is_help=True,
)


class RunFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"
    html = "html"
    pdf = "pdf"
    xlsx = "xlsx"


FILE_FORMATS = ("html", "pdf", "xlsx")
"""Formats that are files: written with ``-o``, never printed to a terminal."""


def _catalog(project: Path) -> Catalog:
    from reports.loader import load_catalog

    project_dir = project if (project / "kpiboard.toml").is_file() else None
    return load_catalog(project_dir)


def _one(project: Path, report_id: str) -> Report:
    """One report, read from its own file (not the whole catalog: a command runs at once)."""
    from reports.loader import load_report

    project_dir = project if (project / "kpiboard.toml").is_file() else None
    return load_report(report_id, project_dir)


def _params(given: list[str]) -> dict[str, str]:
    """``--param k=v`` options as a mapping; a malformed one is one clear line."""
    values: dict[str, str] = {}
    for item in given:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UserError(f"--param {item!r}: write it as name=value (--param as_of=2026-03-31)")
        if name.strip() in values:
            raise UserError(f"--param {name.strip()!r} is given twice")
        values[name.strip()] = value
    return values


@report_app.command("list")
def list_reports(
    project: ProjectOption = Path("."),
    category: Annotated[
        str | None, typer.Option("--category", "-c", help="Only this category (e.g. finance).")
    ] = None,
    fmt: FormatOption = Format.table,
) -> None:
    """List the reports: id, title, category, the question each answers and its parameters.

    Example: `kpiboard report list --category finance`
    """
    from kpiboard.yamlnodes import did_you_mean
    from reports.model import CATEGORIES

    if category is not None and category not in CATEGORIES:
        raise UserError(
            f"no category {category!r}{did_you_mean(category, CATEGORIES)} "
            f"(categories: {', '.join(CATEGORIES)})"
        )
    reports = _catalog(project).in_category(category)
    rows = [
        {
            "id": r.id,
            "title": r.title,
            "category": r.category,
            "question": r.question,
            "parameters": " ".join(p.name for p in r.parameters),
        }
        for r in reports
    ]
    emit(rows, fmt, columns=["id", "title", "category", "question", "parameters"])
    if fmt is Format.table:
        console.print(_count(len(rows), "report"))


@report_app.command("show")
def show(
    report_id: Annotated[str, typer.Argument(metavar="ID", help="The report's id.")],
    project: ProjectOption = Path("."),
    sql: Annotated[bool, typer.Option("--sql", help="Print the SQL the report runs.")] = False,
) -> None:
    """Show a report: the question it answers, its parameters with their defaults and allowed
    values, its columns; with --sql, its query.

    Example: `kpiboard report show receivables_aging`
    """
    from reports.model import CATEGORY_TITLES

    report = _one(project, report_id)
    out.print(f"[bold]{escape(report.title)}[/] ({report.id})")
    out.print(escape(report.question))
    out.print(
        f"category: {CATEGORY_TITLES.get(report.category, report.category)} · "
        f"defined in {escape(str(report.path))}:{report.line}"
        + (" · company-wide (no scope)" if report.scope == "company" else "")
    )
    out.print("\n[bold]parameters[/]")
    if not report.parameters:
        out.print("  none")
    for p in report.parameters:
        detail: str = p.type
        if p.values:
            detail += f": {', '.join(p.values)}"
        if p.minimum is not None or p.maximum is not None:
            detail += f" from {p.minimum if p.minimum is not None else '…'}"
            detail += f" to {p.maximum if p.maximum is not None else '…'}"
        default = (
            "required"
            if p.required
            else f"default {p.default}"
            if p.default is not None
            else "optional: all"
        )
        out.print(f"  {p.name:<16} {escape(p.label)} ({escape(detail)}; {escape(str(default))})")
    out.print("\n[bold]columns[/]")
    for c in report.columns:
        out.print(f"  {c.name:<24} {escape(c.label)} ({c.format})")
    if sql:
        out.print("\n[bold]query[/]")
        if report.sql is not None:
            out.print(escape(report.sql.rstrip()), highlight=False)
        elif report.kpis is not None:
            out.print(
                f"KPIs {', '.join(report.kpis.ids)} over {report.kpis.period} by "
                f"{', '.join(report.kpis.by) or 'nothing'} per {report.kpis.grain}"
            )
        elif report.scorecard is not None:
            out.print(f"the scorecard of {report.scorecard.role} over {report.scorecard.period}")


@report_app.command("run")
def run(
    report_id: Annotated[str, typer.Argument(metavar="ID", help="The report's id.")],
    project: ProjectOption = Path("."),
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-P", help="A parameter, name=value (repeatable)."),
    ] = None,
    branch: Annotated[
        list[str] | None,
        typer.Option("--branch", help="Run under this branch's scope (repeatable)."),
    ] = None,
    employee: Annotated[
        list[str] | None,
        typer.Option("--employee", help="Run under this employee's scope (repeatable)."),
    ] = None,
    fmt: Annotated[
        RunFormat, typer.Option("--format", "-f", help="Output format.")
    ] = RunFormat.table,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file.")
    ] = None,
    bom: Annotated[
        bool, typer.Option("--bom", help="CSV: start with a byte order mark (for Excel).")
    ] = False,
) -> None:
    """Run a report with its parameters (defaults for those not given) and print or write it.
    HTML, PDF and XLSX are files: give -o FILE. --branch / --employee run it under that
    row-level scope, as a branch head or an employee would see it.

    Example: `kpiboard report run sales_by_branch --param period=last_quarter --format pdf -o q.pdf`
    """
    from kpiboard.config import Settings
    from reports.runner import Runner

    settings: Settings = load_settings(project)
    if fmt.value in FILE_FORMATS and output is None:
        raise UserError(f"--format {fmt.value} writes a file: give -o FILE")
    scope: dict[str, list[str]] = {}
    if branch:
        scope["branch"] = list(branch)
    if employee:
        scope["employee"] = list(employee)
    from reports.loader import Catalog

    report = _one(settings.project_dir, report_id)
    runner = Runner.from_settings(settings, Catalog({report.id: report}))
    result = runner.run(report, _params(param or []), scope=scope or None)
    if fmt in (RunFormat.table, RunFormat.json) and output is None:
        _print(result, Format(fmt.value))
        return
    from reports.render import render

    data = render(result, fmt.value, bom=bom)
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    temporary = output.with_name(f".{output.name}.tmp")
    try:
        temporary.write_bytes(data)
        temporary.replace(output)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise UserError(f"{output}: cannot write: {exc.strerror or exc}") from None
    console.print(
        f"{escape(result.report.title)}: {_count(len(result.frame), 'row')} → {escape(str(output))}"
    )


def _print(result: Result, fmt: Format) -> None:
    """The report's rows on the terminal: the shown columns, values as they are."""
    from kpiboard.cli.app import _records

    frame = result.frame
    columns = [c.name for c in result.columns if c.name in frame.columns]
    rows: list[dict[str, Any]] = _records(frame[columns]) if columns else []
    if fmt is Format.table:
        labels = {c.name: c.label for c in result.columns}
        shown = [{labels[k]: v for k, v in row.items()} for row in rows]
        for label, value in result.parameters:
            console.print(f"{escape(label)}: {escape(value)}")
        emit(shown, fmt, columns=[labels[c] for c in columns], title=result.report.title)
        console.print(_count(len(rows), "row"))
    else:
        emit(rows, fmt, columns=columns)


@report_app.command("check")
def check(
    project: ProjectOption = Path("."),
    run_queries: Annotated[
        bool,
        typer.Option(
            "--run/--no-run",
            help="Also run every report with its defaults on the published warehouse (when "
            "there is one): its query runs and returns the columns it declares.",
        ),
    ] = True,
) -> None:
    """Check every report definition, the built-in catalog and the project's own reports/:
    every problem at once, each with its file and line.

    Example: `kpiboard report check`
    """
    from reports.check import check_catalog

    project_dir = project if (project / "kpiboard.toml").is_file() else None
    settings = load_settings(project) if project_dir is not None else None
    problems, checked = check_catalog(project_dir, settings, run=run_queries)
    for problem in problems:
        console.print(escape(str(problem)), highlight=False)
    if problems:
        console.print(f"{_count(len(problems), 'problem')} in {_count(checked, 'report')}")
        raise typer.Exit(2)
    console.print(f"{_count(checked, 'report')}: no problems")
