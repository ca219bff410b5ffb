"""Plans for the demo company: the monthly and quarterly targets its managers would have set.

:func:`write_demo_plans` writes, into a project's ``plans/`` folder, one CSV per scorecard role
(``plans/<role>.csv``: a monthly plan per employee of the role for each KPI of the role's
scorecard, for the months the employee was on staff) and ``plans/branches.csv`` (monthly and
quarterly plans per branch for the company's main KPIs, :data:`BRANCH_KPIS`).

Plans are set the way a company sets them, per KPI and per employee or branch:

- **baseline**: the actual of the same month of the previous year, when the employee (or branch)
  was there the whole of that month and the KPI had a value. Otherwise — the demo's first year, a
  new hire — the monthly average of their own first three full months in the data (for a rate
  or an average, its value over those months). An employee with neither gets the median target
  of the colleagues of the role that month.
- **target**: the baseline times (1 + growth), or (1 − growth) for a KPI where lower is better;
  the growth is drawn between 8% and 12% per KPI, employee or branch and year from the seed
  (:func:`growth_rate`).
- **part months**: sums and counts (additive KPIs) are pro-rated by the days the employee was on
  staff; other KPIs are not.
- **rounding**: money to 100, counts to whole numbers, percents to 0.01, hours and days to 0.1;
  never below one such step, and a percent where higher is better never above 1.
- **quarters** (branches only): a sum or count is the sum of the quarter's monthly plans; any
  other KPI is set from quarterly actuals the same way, the branch's first whole quarter standing
  in for its first three months. Only quarters wholly inside the demo's months get one.

The actuals are the demo KPI pack (``kpiboard/demo/kpis``) evaluated by the KPI engine
(:mod:`kpi_designer.engine`) on the published warehouse, per employee of the role and per
branch; a rate's denominator and an average's row count come along, to pool months by. The
engine is given these KPIs only, never the project's plans: an earlier plans file cannot get in
the way.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb

from kpi_designer import model as m
from kpi_designer.compiler import add_months
from kpi_designer.engine import Definitions, Engine
from kpi_designer.loader import load_kpis, with_filters
from kpi_designer.scorecards import load_scorecards
from kpiboard.config import load_settings
from kpiboard.demo import DEMO_KPIS, DEMO_SCORECARDS
from kpiboard.demo.company import MONTHS, REFERENCE_DATE

__all__ = ["BRANCH_KPIS", "demo_months", "growth_rate", "write_demo_plans"]

GROWTH_RANGE = (0.08, 0.12)

STEPS = {
    "money": Decimal(100),
    "count": Decimal(1),
    "percent": Decimal("0.01"),
    "hours": Decimal("0.1"),
    "days": Decimal("0.1"),
}
"""How finely each unit's plans are rounded, and the smallest plan of that unit."""

BRANCH_KPIS = (
    "revenue",
    "gross_margin",
    "cash_collected",
    "invoice_count",
    "new_clients",
    "win_rate",
    "open_pipeline_value",
    "on_time_delivery_rate",
    "repair_sla_rate",
)
"""The company's main KPIs, planned per branch by month and by quarter: the executive tiles
that have a target (stock value, receivables overdue and the backlogs are watched, not
planned)."""

Periods = dict[str, dict[dt.date, float]]
"""Employees or branches by id, with their periods (first days) and the share of each they were
there (0 < share ≤ 1)."""

Series = dict[dt.date, float]
"""A KPI's values by period, for one employee or branch, where it has one."""

Actuals = dict[tuple[str, str], Series]
"""The series of each (KPI, employee or branch)."""

Row = tuple[str, str, str, str, Decimal]
"""A line of a plans file: kpi, period, employee, branch, plan."""


def demo_months() -> list[dt.date]:
    """The first day of each month of the demo data, oldest first."""
    last = REFERENCE_DATE.replace(day=1)
    return [add_months(last, i - MONTHS + 1) for i in range(MONTHS)]


def growth_rate(seed: int, kpi: str, subject: str, year: int) -> float:
    """The growth target (a reduction where lower is better) for one KPI, employee or branch and
    year: a fraction between 8% and 12%, to three decimals, the same for the same seed."""
    low, high = GROWTH_RANGE
    return round(random.Random(f"{seed}:{kpi}:{subject}:{year}").uniform(low, high), 3)


def write_demo_plans(project: Path, *, seed: int = 7) -> list[Path]:
    """Set the demo's plans from the actuals in ``project``'s published warehouse and write them to
    ``project/plans``: ``<role>.csv`` per scorecard role and ``branches.csv``. Files of those
    names are replaced; the paths written are returned."""
    kpis = load_kpis(DEMO_KPIS)
    cards = load_scorecards(DEMO_SCORECARDS, kpis)
    weights = {w.id: w for kpi in kpis.values() if (w := _weight(kpi, kpis)) is not None}
    warehouse = load_settings(project).open_warehouse()
    engine = Engine(Definitions({**kpis, **weights}), warehouse.connect, warehouse.published)
    staff, branches = _on_staff(warehouse.connect)

    folder = project / "plans"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for card in cards.values():
        ids = [w.kpi for w in card.kpis]
        people = staff.get(card.role, {})
        actuals = _evaluate(engine, ids, "employee", filters=[f"role = '{card.role}'"])
        rows = [
            (kpi_id, _label(month), employee, "", plan)
            for kpi_id in ids
            for employee, plans in _plans(kpis[kpi_id], people, actuals, seed, first=3).items()
            for month, plan in plans.items()
        ]
        written.append(_write(folder / f"{card.role}.csv", rows))
    written.append(_write(folder / "branches.csv", _branch_plans(engine, branches, seed)))
    return written


def _branch_plans(engine: Engine, branches: Periods, seed: int) -> list[Row]:
    """Each main KPI's plans per branch: its months, then the whole quarters it was open."""
    monthly = _evaluate(engine, BRANCH_KPIS, "branch")
    others = [k for k in BRANCH_KPIS if not engine.kpis[k].additive]
    quarterly = _evaluate(engine, others, "branch", grain="quarter", weighted=False)
    quarters = {
        branch: {q: 1.0 for q in shares if q.month % 3 == 1 and _whole(shares, q)}
        for branch, shares in branches.items()
    }
    rows: list[Row] = []
    for kpi_id in BRANCH_KPIS:
        kpi = engine.kpis[kpi_id]
        by_month = _plans(kpi, branches, monthly, seed, first=3)
        by_quarter = {} if kpi.additive else _plans(kpi, quarters, quarterly, seed, first=1)
        for branch, plans in by_month.items():
            rows += [(kpi_id, _label(month), "", branch, plan) for month, plan in plans.items()]
            for q in quarters[branch]:
                if kpi.additive:
                    plan = sum((plans[add_months(q, i)] for i in range(3)), Decimal(0))
                else:
                    plan = by_quarter[branch][q]
                rows.append((kpi_id, _label(q, quarter=True), "", branch, plan))
    return rows


# -- actuals ----------------------------------------------------------------------------------


def _evaluate(
    engine: Engine,
    ids: Sequence[str],
    by: str,
    *,
    grain: str = "month",
    filters: Iterable[str] = (),
    weighted: bool = True,
) -> Actuals:
    """The KPIs over the demo's months by ``by`` (``employee`` or ``branch``), and when
    ``weighted`` the weights of those that have one."""
    months = demo_months()
    weights = [_weight_id(k) for k in ids if weighted and _weight_id(k) in engine.kpis]
    frame = engine.evaluate(
        [*ids, *weights],
        start=months[0],
        end=add_months(months[-1], 1) - dt.timedelta(days=1),
        grain=grain,
        by=[by],
        filters=filters,
    )
    out: Actuals = {}
    rows = frame[["kpi", by, "period", "value"]].dropna()  # no value, or credited to nobody
    for kpi, subject, period, value in rows.itertuples(index=False):
        out.setdefault((kpi, subject), {})[period] = value
    return out


def _weight(kpi: m.Kpi, kpis: Mapping[str, m.Kpi]) -> m.Kpi | None:
    """The additive KPI that weighs a period of ``kpi`` when periods are pooled: a ratio's
    denominator, an average's number of rows; ``None`` for any other KPI."""
    if isinstance(kpi, m.Simple) and kpi.measure.agg == "avg":
        return replace(kpi, id=_weight_id(kpi.id), measure=replace(kpi.measure, agg="count"))
    if isinstance(kpi, m.Ratio) and kpi.denominator.offset is None:
        base = kpis[kpi.denominator.kpi]
        if isinstance(base, m.Simple) and base.additive:
            return replace(with_filters(base, kpi.denominator.filters), id=_weight_id(kpi.id))
    return None


def _weight_id(kpi_id: str) -> str:
    return f"{kpi_id}:weight"  # never the id of a KPI of the pack


def _on_staff(
    connect: Callable[[], duckdb.DuckDBPyConnection],
) -> tuple[dict[str, Periods], Periods]:
    """The employees of each role, and the branches, with the demo months each was there."""
    con = connect()
    try:
        people = con.execute(
            "SELECT role, employee_id, hired_on, left_on FROM core.dim_employee ORDER BY 2"
        ).fetchall()
        offices = con.execute(
            "SELECT branch_id, opened_on, closed_on FROM core.dim_branch ORDER BY 1"
        ).fetchall()
    finally:
        con.close()
    staff: dict[str, Periods] = {}
    for role, employee, hired, left in people:
        if shares := _shares(hired, left):
            staff.setdefault(role, {})[employee] = shares
    branches = {b: shares for b, opened, closed in offices if (shares := _shares(opened, closed))}
    return staff, branches


def _shares(first: dt.date | None, last: dt.date | None) -> dict[dt.date, float]:
    """The share of each demo month's days between ``first`` and ``last`` (both may be open)."""
    out = {}
    for month in demo_months():
        end = add_months(month, 1) - dt.timedelta(days=1)
        start, stop = max(month, first or month), min(end, last or end)
        if start <= stop:
            out[month] = ((stop - start).days + 1) / ((end - month).days + 1)
    return out


def _whole(shares: Mapping[dt.date, float], quarter: dt.date) -> bool:
    return all(shares.get(add_months(quarter, i)) == 1.0 for i in range(3))


# -- targets ----------------------------------------------------------------------------------


def _mean(
    kpi: m.Kpi, values: Series, weights: Series | None, periods: list[dt.date]
) -> float | None:
    """The KPI over ``periods``, as a figure for one of them: a sum or count averaged (0 where it
    has no value); another KPI over the periods that have a value, pooled by its ``weights``
    where it has them (a ratio of the sums, an average of all the rows), else averaged."""
    if kpi.additive:
        pairs = [(values.get(p, 0.0), 1.0) for p in periods]
    else:
        pairs = [(values[p], weights[p] if weights else 1.0) for p in periods if p in values]
    total = sum(w for _, w in pairs)
    return sum(v * w for v, w in pairs) / total if total else None


def _plans(
    kpi: m.Kpi, periods: Periods, actuals: Actuals, seed: int, *, first: int
) -> dict[str, dict[dt.date, Decimal]]:
    """Each subject's plan for each of its periods: from the value of the period a year earlier,
    else of its ``first`` whole periods, else the median of the others' targets."""
    targets: dict[str, dict[dt.date, float | None]] = {}
    for subject, shares in periods.items():
        values = actuals.get((kpi.id, subject), {})
        weights = actuals.get((_weight_id(kpi.id), subject))
        whole = [p for p, share in shares.items() if share == 1.0]
        fallback = _mean(kpi, values, weights, whole[:first])
        targets[subject] = {}
        for period in shares:
            last_year = add_months(period, -12)
            baseline = _mean(kpi, values, weights, [last_year]) if last_year in whole else None
            if baseline is None:
                baseline = fallback
            growth = growth_rate(seed, kpi.id, subject, period.year)
            factor = 1 - growth if kpi.direction == "lower" else 1 + growth
            targets[subject][period] = None if baseline is None else baseline * factor

    plans: dict[str, dict[dt.date, Decimal]] = {}
    for subject, shares in periods.items():
        plans[subject] = {}
        for period, share in shares.items():
            target = targets[subject][period]
            if target is None:  # no history of its own: the colleagues' median
                known = [v for t in targets.values() if (v := t.get(period)) is not None]
                target = statistics.median(known) if known else 0.0
            plans[subject][period] = _round(kpi, target * share if kpi.additive else target)
    return plans


def _round(kpi: m.Kpi, value: float) -> Decimal:
    step = STEPS[kpi.unit]
    rounded = (Decimal(repr(value)) / step).quantize(Decimal(1), ROUND_HALF_UP) * step
    rounded = max(rounded, step)
    if kpi.unit == "percent" and kpi.direction == "higher":
        rounded = min(rounded, Decimal(1))
    return rounded


# -- files ------------------------------------------------------------------------------------


def _write(path: Path, rows: list[Row]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["kpi", "period", "employee", "branch", "plan"])
        writer.writerows(rows)
    return path


def _label(period: dt.date, *, quarter: bool = False) -> str:
    return f"{period.year}-Q{period.month // 3 + 1}" if quarter else period.strftime("%Y-%m")
