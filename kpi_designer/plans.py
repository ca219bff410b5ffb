"""Plans (targets): CSV files of plan values, and how they meet a KPI's evaluated values.

A plan file has the columns ``kpi``, ``period``, ``plan`` and any dimensions
(``employee``, ``branch`` …); an empty dimension cell means every member. ``period`` says its
grain by its shape: ``2026-03-15`` day, ``2026-W11`` week, ``2026-03`` month, ``2026-Q1``
quarter, ``2026`` year. :func:`load_plans` reads them all with every problem located
(``plans/2026.csv:14: unknown KPI 'revenu' — did you mean 'revenue'?``).

:func:`attach` puts plans next to values: a plan applies to a KPI evaluated with exactly its
dimensions. For additive KPIs (a sum or a count) plans of finer periods add up to the period
evaluated, a coarser plan is split over its periods by calendar days, and a period the range
cuts short gets the share of its plan for the days in range; other KPIs use a plan only at its
own grain. ``missing_plan: carry_forward`` fills a period without a plan from the latest
earlier one of the same slice.

Plans are set per calendar period, never per ``range``. At ``range`` grain (the whole range one
period) a range that is exactly one period of a grain (2026-01-01 to 2026-03-31: a quarter) is
planned as that period is. Any other range gets a plan only for an additive KPI: the plans of
the periods inside the range, a period partly inside for its share of days, of one grain (the
one whose plans cover the most days of the range, the finest when several cover as many).
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from kpi_designer import model as m
from kpi_designer.compiler import one_period, period_end, periods
from kpi_designer.errors import DefinitionError
from kpi_designer.loader import reachable
from kpi_designer.semantic import DIMENSIONS
from kpiboard.errors import Problem
from kpiboard.yamlnodes import did_you_mean

if TYPE_CHECKING:  # pandas is imported where plans meet facts: loading plans needs none
    import pandas as pd

FIXED_COLUMNS = ("kpi", "period", "plan")
PERIODS: tuple[tuple[re.Pattern[str], m.PeriodGrain], ...] = (
    (re.compile(r"(\d{4})-(\d{2})-(\d{2})"), "day"),
    (re.compile(r"(\d{4})-W(\d{2})"), "week"),
    (re.compile(r"(\d{4})-(\d{2})"), "month"),
    (re.compile(r"(\d{4})-Q([1-4])"), "quarter"),
    (re.compile(r"(\d{4})"), "year"),
)


RANGE_LABEL = re.compile(r"\d{4}-\d{2}-\d{2}\s*(…|\.\.\.?)\s*\d{4}-\d{2}-\d{2}")
"""A range as ``kpi eval --grain range`` labels it (``2026-01-01…2026-03-31``), or with
``..``: no plan period."""


def parse_period(text: str) -> tuple[m.PeriodGrain, dt.date] | None:
    """``2026-03`` → ``("month", 2026-03-01)``; ``None`` if it is not a period."""
    text = text.strip()
    for pattern, grain in PERIODS:
        match = pattern.fullmatch(text)
        if match is None:
            continue
        parts = [int(g) for g in match.groups()]
        try:
            if grain == "day":
                return grain, dt.date(parts[0], parts[1], parts[2])
            if grain == "week":
                return grain, dt.date.fromisocalendar(parts[0], parts[1], 1)
            if grain == "month":
                return grain, dt.date(parts[0], parts[1], 1)
            if grain == "quarter":
                return grain, dt.date(parts[0], 3 * parts[1] - 2, 1)
            return grain, dt.date(parts[0], 1, 1)
        except ValueError:
            return None
    return None


def load_plans(
    folder: Path, kpis: Mapping[str, m.Kpi], left_out: Collection[str] = ()
) -> list[m.Plan]:
    """Every plan value in the ``*.csv`` files under ``folder`` (none if it does not exist).
    Rows of the ``left_out`` KPIs (defined, but with problems of their own) are skipped
    without a problem: the KPI's own problem says what is wrong."""
    if not folder.is_dir():
        return []
    plans: list[m.Plan] = []
    problems: list[Problem] = []
    for path in sorted(folder.rglob("*.csv")):
        shown = path.relative_to(folder.parent).as_posix()
        try:
            with path.open(newline="", encoding="utf-8") as fh:
                reader = csv.reader(fh)
                rows, lines, last = [], [], 0
                for row in reader:
                    rows.append(row)
                    lines.append(last + 1)
                    last = reader.line_num
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            problems.append(Problem(shown, None, f"cannot read: {exc}"))
            continue
        found, file_problems = parse_plans(rows, shown, kpis, lines, left_out)
        plans += found
        problems += file_problems
    problems += _duplicates(plans)
    if problems:
        raise DefinitionError(problems)
    return plans


def parse_plans(
    rows: Sequence[Sequence[str]],
    shown: str,
    kpis: Mapping[str, m.Kpi],
    lines: Sequence[int] | None = None,
    left_out: Collection[str] = (),
) -> tuple[list[m.Plan], list[Problem]]:
    """The plans of one file's rows (the first is the header) and the problems in them;
    ``lines`` is the line each row starts on (a quoted cell may hold line breaks), by default
    its number. Rows of the ``left_out`` KPIs are skipped."""
    if not rows:
        return [], [Problem(shown, 1, "empty file: the header is kpi,period,<dimensions…>,plan")]
    header = [h.strip() for h in rows[0]]
    problems = []
    for name in FIXED_COLUMNS:
        if name not in header:
            problems.append(Problem(shown, 1, f"missing column {name!r} in the header"))
    for name in header:
        if name not in FIXED_COLUMNS and name not in DIMENSIONS:
            hint = did_you_mean(name, [*FIXED_COLUMNS, *DIMENSIONS])
            problems.append(Problem(shown, 1, f"unknown column {name!r}{hint}"))
    if problems:
        return [], problems
    dims = [h for h in header if h in DIMENSIONS]
    plans = []
    for index, row in enumerate(rows[1:], start=1):
        number = lines[index] if lines is not None else index + 1
        if not any(cell.strip() for cell in row):
            continue
        if any("\n" in cell or "\r" in cell for cell in row):
            # a quote left open: the cell runs on over the next lines (to the end of the file
            # when no other quote closes it), which is no plan value worth quoting
            ends = lines[index + 1] - 1 if lines is not None and index + 1 < len(lines) else None
            until = f"to line {ends}" if ends is not None else "to the end of the file"
            problems.append(
                Problem(
                    shown,
                    number,
                    f"a quote in this row is not closed on its line, so its cell runs on {until}",
                )
            )
            continue
        if len(row) != len(header):
            problems.append(
                Problem(shown, number, f"{len(row)} cells, the header has {len(header)}")
            )
            continue
        cells = dict(zip(header, (c.strip() for c in row), strict=True))
        if cells["kpi"] in left_out:
            continue
        plan = _plan(cells, dims, kpis, shown, number, problems)
        if plan is not None:
            plans.append(plan)
    return plans, problems


def _plan(
    cells: Mapping[str, str],
    dims: Sequence[str],
    kpis: Mapping[str, m.Kpi],
    shown: str,
    number: int,
    problems: list[Problem],
) -> m.Plan | None:
    kpi = kpis.get(cells["kpi"])
    if kpi is None:
        hint = did_you_mean(cells["kpi"], list(kpis))
        problems.append(Problem(shown, number, f"unknown KPI {cells['kpi']!r}{hint}"))
        return None
    period = parse_period(cells["period"])
    if period is None and RANGE_LABEL.fullmatch(cells["period"]):
        problems.append(
            Problem(
                shown,
                number,
                f"period {cells['period']!r} is a range: plans are set per day, week, month, "
                "quarter or year, one row each (2026-01, 2026-02 …); a range evaluated as one "
                "period gets the plans of the periods inside it",
            )
        )
        return None
    if period is None:
        problems.append(
            Problem(
                shown,
                number,
                f"period {cells['period']!r} is not a day (2026-03-15), week (2026-W11), month "
                "(2026-03), quarter (2026-Q1) or year (2026)",
            )
        )
        return None
    try:
        value = float(cells["plan"])
    except ValueError:
        problems.append(Problem(shown, number, f"plan {cells['plan']!r} is not a number"))
        return None
    members = tuple((d, cells[d]) for d in dims if cells[d])
    reach = reachable(kpi, kpis)
    for dimension, _ in members:
        if dimension not in reach:
            problems.append(
                Problem(shown, number, f"kpi {kpi.id!r} cannot be sliced by {dimension!r}")
            )
            return None
    return m.Plan(kpi.id, period[0], period[1], members, value, m.Location(shown, number))


def _duplicates(plans: Sequence[m.Plan]) -> list[Problem]:
    seen: dict[tuple[object, ...], m.Plan] = {}
    out = []
    for plan in plans:
        key = (plan.kpi, plan.grain, plan.period, plan.members)
        earlier = seen.setdefault(key, plan)
        if earlier is not plan:
            out.append(
                Problem(
                    plan.location.path,
                    plan.location.line,
                    f"a plan for {plan.kpi!r} in this period and slice is already set at "
                    f"{earlier.location}",
                )
            )
    return out


# -- plan against fact ------------------------------------------------------------------------


def attach(
    values: pd.DataFrame,
    kpi: m.Kpi,
    plans: Sequence[m.Plan],
    *,
    grain: m.Grain,
    by: Sequence[str],
    start: dt.date,
    end: dt.date,
    scope: Mapping[str, Sequence[str]] | None = None,
    allowed: Mapping[str, set[str]] | None = None,
) -> pd.DataFrame:
    """``values`` (``period``, the ``by`` columns, ``value``) with ``plan``, ``achievement``
    and ``status``; rows for planned slices without any value are added (their value is 0 for
    an additive KPI, empty otherwise).

    Under a ``scope`` only the plans of what it lets through count (:func:`in_scope`), so
    that no other branch's or employee's plan, nor a row for it, is shown; ``allowed`` narrows
    the ``by`` dimensions the scope narrows only indirectly (the employees of a branch)."""
    import pandas as pd

    mine = in_scope([p for p in plans if p.kpi == kpi.id], kpi, by, scope or {}, allowed or {})
    if not mine:
        return values.assign(plan=float("nan"), achievement=None, status=None)
    if grain == "range":
        exact = one_period(start, end)
        if exact is not None:  # the range is one period (a quarter): planned as that period
            return attach(
                values,
                kpi,
                plans,
                grain=exact,
                by=by,
                start=start,
                end=end,
                scope=scope,
                allowed=allowed,
            )
    by_slice: dict[tuple[str, ...], list[m.Plan]] = {}
    for plan in mine:
        members = dict(plan.members)
        by_slice.setdefault(tuple(members[d] for d in by), []).append(plan)
    firsts = periods(start, end, grain)
    targets: dict[tuple[dt.date, tuple[str, ...]], float] = {}
    for slice_key, slice_plans in by_slice.items():
        if grain == "range":  # a range that is no one period: only additive KPIs add plans up
            value = _range_target(slice_plans, start, end) if kpi.additive else None
            if value is not None:
                targets[(start, slice_key)] = value
            continue
        before = [p for p in slice_plans if p.grain == grain and firsts and p.period < firsts[0]]
        latest = max(before, key=lambda p: p.period).value if before else None
        for first in firsts:
            # the days of the period inside the range: a period the range cuts short gets the
            # plan for those days (additive KPIs)
            days = (max(first, start), min(period_end(first, grain), end))
            value = _target(slice_plans, first, grain, days, additive=kpi.additive)
            if value is None and kpi.missing_plan == "carry_forward" and latest is not None:
                value = latest * _share(days, first, grain) if kpi.additive else latest
            elif value is not None:
                latest = _target(slice_plans, first, grain, None, additive=kpi.additive)
            if value is not None:
                targets[(first, slice_key)] = value
    frame = values.copy()
    keys = ["period", *by]
    if targets:
        planned = pd.DataFrame(
            [(first, *slice_key, v) for (first, slice_key), v in targets.items()],
            columns=[*keys, "plan"],
        )
        frame = frame.merge(planned, on=keys, how="outer")
        if kpi.additive:
            frame["value"] = frame["value"].fillna(0.0)
    else:
        frame["plan"] = float("nan")
    frame["achievement"] = [
        _achievement(v, p, kpi.direction)
        for v, p in zip(frame["value"], frame["plan"], strict=True)
    ]
    frame["status"] = [_status(a, kpi.thresholds) for a in frame["achievement"]]
    return frame.sort_values(keys, ignore_index=True)


def in_scope(
    plans: Sequence[m.Plan],
    kpi: m.Kpi,
    by: Sequence[str],
    scope: Mapping[str, Sequence[str]],
    allowed: Mapping[str, set[str]],
) -> list[m.Plan]:
    """The plans of ``kpi`` for slices by ``by`` that a row-level ``scope`` lets through.

    A plan naming a scoped dimension counts only for a member in the scope, and one naming a
    ``by`` dimension only for a member in ``allowed``. A scoped dimension the request is not
    sliced by (a branch head's company-wide view is their branch's) takes the plans of its
    members in the scope: one member's plans as they are, several members' added up for an
    additive KPI when each has one (else there is no plan: a partial sum would mislead). The
    company's own plan (no such dimension) is no scope's plan. A branch scope over slices that
    each lie in one branch (the employees of ``allowed``) only chooses the slices."""

    def dims(plan: m.Plan) -> set[str]:
        return {d for d, _ in plan.members}

    inside = [
        p
        for p in plans
        if all(member in scope[d] for d, member in p.members if d in scope)
        and all(member in allowed[d] for d, member in p.members if d in allowed)
    ]
    # a branch scope over slices that each lie in one branch (employees, clients: ``allowed``)
    # only chooses the slices; over any other slicing it is the slice the plans are of
    implied = {"branch"} if any(d in allowed for d in by) else set()
    outside = sorted(d for d in scope if d not in by and d not in implied)
    if not outside:
        return [p for p in inside if dims(p) == set(by)]
    wanted = set(by) | set(outside)
    groups: dict[tuple[str, dt.date, tuple[str, ...]], list[m.Plan]] = {}
    for plan in inside:
        if dims(plan) == wanted:
            members = dict(plan.members)
            key = (plan.grain, plan.period, tuple(members[d] for d in by))
            groups.setdefault(key, []).append(plan)
    needed = 1
    for d in outside:
        needed *= len(set(scope[d]))
    out = []
    for (_, _, slice_key), group in groups.items():
        if len(group) != needed or (needed > 1 and not kpi.additive):
            continue
        first = group[0]
        out.append(
            m.Plan(
                kpi=first.kpi,
                grain=first.grain,
                period=first.period,
                members=tuple(zip(by, slice_key, strict=True)),
                value=sum(p.value for p in group),
                location=first.location,
            )
        )
    return out


def _target(
    plans: Sequence[m.Plan],
    first: dt.date,
    grain: m.Grain,
    days: tuple[dt.date, dt.date] | None,
    *,
    additive: bool,
) -> float | None:
    """The plan of one slice for the period starting ``first``, over ``days`` (its days in the
    range; ``None``: all of them). A plan of that very period is used as it is, or for an
    additive KPI its share of days. An additive KPI otherwise takes the plans of the nearest
    finer grain, or failing those the nearest coarser one, each counted for the days it shares
    with ``days``: monthly plans make a quarter's, and the same days get the same plan at any
    grain. One grain is used, never several added up."""
    for plan in plans:
        if plan.grain == grain and plan.period == first:
            return plan.value * _share(days, first, grain) if additive else plan.value
    if not additive:
        return None
    lo, hi = days or (first, period_end(first, grain))
    rank = m.GRAINS.index(grain)
    finer = sorted({p.grain for p in plans if m.GRAINS.index(p.grain) < rank}, key=m.GRAINS.index)
    coarser = sorted({p.grain for p in plans if m.GRAINS.index(p.grain) > rank}, key=m.GRAINS.index)
    for level in [*reversed(finer), *coarser]:
        total, found = 0.0, False
        for plan in plans:
            if plan.grain != level:
                continue
            shared, value = _pro_rata(plan, lo, hi)
            if shared:
                total += value
                found = True
        if found:
            return total
    return None


def _pro_rata(plan: m.Plan, first: dt.date, last: dt.date) -> tuple[int, float]:
    """How many days of ``plan``'s period lie from ``first`` to ``last``, and its value for
    them: its share by days (0 days, 0 outside)."""
    plan_last = period_end(plan.period, plan.grain)
    days = (min(last, plan_last) - max(first, plan.period)).days + 1
    if days <= 0:
        return 0, 0.0
    return days, plan.value * days / ((plan_last - plan.period).days + 1)


def _range_target(plans: Sequence[m.Plan], start: dt.date, end: dt.date) -> float | None:
    """An additive KPI's plan of one slice for the days ``start`` to ``end`` evaluated as one
    period: the plans of one grain, each counted for the share of its days inside the range.
    The grain is the one whose plans cover the most of the range's days, the finest of those
    that cover as many (monthly plans rather than a quarter's split by days); ``None`` when no
    plan touches the range."""
    best: tuple[int, int, float] | None = None  # days covered, -rank of the grain, total
    for rank, level in enumerate(m.PERIOD_GRAINS):
        covered, total = 0, 0.0
        for plan in plans:
            if plan.grain != level:
                continue
            days, value = _pro_rata(plan, start, end)
            covered += days
            total += value
        if covered and (best is None or (covered, -rank) > best[:2]):
            best = (covered, -rank, total)
    return best[2] if best is not None else None


def _share(days: tuple[dt.date, dt.date] | None, first: dt.date, grain: m.Grain) -> float:
    """The share of the period starting ``first`` that ``days`` covers."""
    if days is None:
        return 1.0
    last = period_end(first, grain)
    return ((days[1] - days[0]).days + 1) / ((last - first).days + 1)


def _achievement(value: float, plan: float, direction: m.Direction) -> float | None:
    """Fact against plan: ``value / plan`` when higher is better; when lower is better, each
    share below plan counts as much above 1 (``1 + (plan - value) / plan``): a fact of 0 is
    2.0, never a division by it."""
    if _missing(plan) or _missing(value) or plan == 0:
        return None
    if direction == "higher":
        return float(value / plan)
    return float(1 + (plan - value) / plan)


def _status(achievement: float | None, thresholds: m.Thresholds) -> str | None:
    if achievement is None or _missing(achievement):
        return None
    if achievement >= thresholds.green:
        return "green"
    if achievement >= thresholds.amber:
        return "amber"
    return "red"


def _missing(value: float | None) -> bool:
    """No number: ``None`` or NaN, the only gaps of the float columns :func:`attach` reads."""
    return value is None or value != value
