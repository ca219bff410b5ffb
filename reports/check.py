"""``kpiboard report check``: every report definition checked, every problem at once.

First what the files say (:mod:`reports.loader`: keys, types, parameters used and declared,
columns the SQL selects). Then, when the project has a published warehouse, each report runs
once with its defaults: its query must run, and every column the definition names (shown,
sorted, grouped, totalled, charted) must be one the query returns — located at the line that
names it, with a did-you-mean. KPI reports must name KPIs the project defines.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from kpiboard.errors import Problem, UserError
from kpiboard.yamlnodes import did_you_mean
from reports import model as m
from reports.loader import columns_named, read_catalog

if TYPE_CHECKING:
    from kpiboard.config import Settings


def check_catalog(
    project_dir: Path | None, settings: Settings | None, *, run: bool = True
) -> tuple[list[Problem], int]:
    """The problems of every report file, and how many reports were read."""
    catalog, problems = read_catalog(project_dir)
    count = len(catalog.reports) + len({p.path for p in problems})
    if not run or settings is None or settings.open_warehouse().published() is None:
        return problems, count
    from reports.runner import Runner

    runner = Runner.from_settings(settings, catalog)
    for report in catalog.reports.values():
        problems += _ran(runner, report)
    return problems, count


def _ran(runner: object, report: m.Report) -> list[Problem]:
    """What running ``report`` with its defaults shows to be wrong."""
    from reports.runner import Runner

    assert isinstance(runner, Runner)
    shown = str(report.path)
    label = f"report {report.id!r}: "
    if any(p.required and p.default is None for p in report.parameters):
        return []  # needs a value only a reader gives (the employee of a bonus statement)
    if report.kpis is not None:
        unknown = [k for k in report.kpis.ids if k not in runner.engine.kpis]
        if unknown:
            at = report.kpis.where.line if report.kpis.where else report.line
            return [
                Problem(
                    shown,
                    at,
                    f"{label}unknown KPI {k!r}{did_you_mean(k, list(runner.engine.kpis))}",
                )
                for k in unknown
            ]
    try:
        result = runner.run(report)
    except UserError as exc:
        first = str(exc).splitlines()[0].removeprefix(f"{shown}: ")
        return [Problem(shown, report.sql_line if report.sql else report.line, label + first)]
    returned = list(result.frame.columns)
    out = []
    for name, at, _ in columns_named(report):
        if name not in returned:
            out.append(
                Problem(
                    shown,
                    at,
                    f"{label}unknown column {name!r}{did_you_mean(name, returned)}"
                    f" (the query returns {', '.join(returned)})",
                )
            )
    return out
