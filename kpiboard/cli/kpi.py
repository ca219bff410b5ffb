"""``kpiboard kpi``: KPI definitions listed, explained and checked; values evaluated against
plans, the rows behind a value, the SQL, and scorecards."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from kpi_designer.dialects import DIALECTS
from kpi_designer.errors import DefinitionError
from kpiboard.cli.app import (
    FormatOption,
    ProjectOption,
    _count,
    _no_warehouse,
    _records,
    console,
    kpi_app,
    load_settings,
    out,
)
from kpiboard.errors import Problem, UserError
from kpiboard.output import Format, emit

# Start fast: each command imports the heavy modules it uses itself (the pipeline brings Great
# Expectations, the KPI engine pandas); these are for annotations only. tests/test_startup.py.
if TYPE_CHECKING:
    from kpi_designer.engine import Definitions, Engine
    from kpi_designer.model import Kpi


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
    from kpi_designer.model import PERIOD_GRAINS

    if end is None:
        end = engine.data_end() or dt.date.today()
    first = start
    if first is None:
        first = _months_before(end)
        if grain in PERIOD_GRAINS:  # a range is whatever the days are
            first = period_start(first, grain)
    if first > end:
        raise UserError(f"--from {first} is after --to {end}")
    return first, end
