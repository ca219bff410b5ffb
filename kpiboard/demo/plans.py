"""Plans for the demo company: the monthly and quarterly targets its managers would have set.

:func:`write_demo_plans` writes, into a project's ``plans/`` folder, one CSV per scorecard role
(``plans/<role>.csv``: a monthly plan per employee of the role for each KPI of the role's
scorecard, for the months the employee was on staff) and ``plans/branches.csv`` (monthly and
quarterly plans per branch for the company's main KPIs, :data:`BRANCH_KPIS`).

Plans are set the way a company sets them, per KPI and per employee or branch:

- **baseline**: the actual of the same month of the previous year, when the employee (or branch)
  was there the whole of that month and the KPI had a value. Otherwise — the demo's first year, a
  new hire — the monthly average of their own first three full months in the data (for a rate,
  the rate over those months). An employee with neither gets the median target of the colleagues
  of the role that month.
- **target**: the baseline times (1 + growth), or (1 − growth) for a KPI where lower is better;
  the growth is drawn between 8% and 12% per KPI, employee or branch and year from the seed
  (:func:`growth_rate`).
- **part months**: sums and counts are pro-rated by the days the employee was on staff; rates
  and averages are not.
- **rounding**: money to 100, counts to whole numbers, percents to 0.01, hours and days to 0.1;
  never below one such step, and a percent where higher is better never above 1.
- **quarters** (branches only): a sum or count is the sum of the quarter's monthly plans; a rate
  is set from quarterly actuals the same way. Only quarters wholly inside the demo's months get
  one.

The actuals come from plain DuckDB SQL on the published warehouse, one query per family of KPIs
(:data:`FAMILIES`), repeating the definitions of the demo KPI pack (``kpiboard/demo/kpis``) for
the KPIs that get plans. These queries are for setting plans only; they are not the KPI engine
(:mod:`kpi_designer`), and nothing else reads them. Like the engine, they place a row on the
branch's local day.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb
from ruamel.yaml import YAML

from kpiboard.config import load_settings
from kpiboard.demo import DEMO_SCORECARDS
from kpiboard.demo.company import MONTHS, REFERENCE_DATE

__all__ = [
    "BRANCH_KPIS",
    "FAMILIES",
    "PLAN_KPIS",
    "PlanKpi",
    "demo_months",
    "growth_rate",
    "write_demo_plans",
]

GROWTH_RANGE = (0.08, 0.12)

STEPS = {
    "money": Decimal(100),
    "count": Decimal(1),
    "percent": Decimal("0.01"),
    "hours": Decimal("0.1"),
    "days": Decimal("0.1"),
}
"""How finely each unit's plans are rounded, and the smallest plan of that unit."""


@dataclass(frozen=True)
class PlanKpi:
    """A KPI that gets plans, as the columns of its family's query: ``numerator`` alone for a sum
    or count, ``numerator / denominator`` for a rate or an average."""

    id: str
    family: str
    numerator: str
    denominator: str | None = None
    unit: str = "count"
    lower_is_better: bool = False

    @property
    def additive(self) -> bool:
        return self.denominator is None


PLAN_KPIS: dict[str, PlanKpi] = {
    k.id: k
    for k in (
        PlanKpi("revenue", "invoice", "revenue", unit="money"),
        PlanKpi("invoice_count", "invoice", "invoice_count"),
        PlanKpi("new_clients", "lead", "new_clients"),
        PlanKpi("won_deals", "deal", "won"),
        PlanKpi("win_rate", "deal", "won", "closed", unit="percent"),
        PlanKpi("calls_made", "activity", "calls_made"),
        PlanKpi("task_on_time_rate", "task", "done_on_time", "due", unit="percent"),
        PlanKpi("repairs_completed", "service", "repairs"),
        PlanKpi("repair_sla_rate", "service", "within_sla", "repairs", unit="percent"),
        PlanKpi(
            "repair_turnaround_hours",
            "service",
            "turnaround_hours",
            "repairs",
            unit="hours",
            lower_is_better=True,
        ),
        PlanKpi("deliveries_completed", "delivery", "delivered"),
        PlanKpi("on_time_delivery_rate", "delivery", "on_time", "delivered", unit="percent"),
        PlanKpi(
            "avg_delivery_delay_hours",
            "delivery",
            "delay_hours",
            "delivered",
            unit="hours",
            lower_is_better=True,
        ),
        PlanKpi("shipments_posted", "stock", "shipments"),
        PlanKpi("units_shipped", "stock", "units_shipped"),
        PlanKpi("write_off_value", "stock", "write_off_value", unit="money", lower_is_better=True),
    )
}

BRANCH_KPIS = (
    "revenue",
    "invoice_count",
    "new_clients",
    "win_rate",
    "on_time_delivery_rate",
    "repair_sla_rate",
)
"""The company's main KPIs, planned per branch by month and by quarter."""


def _local_month(column: str) -> str:
    """The first day of the month of the branch's local day of a UTC timestamp column of ``f``."""
    return f"CAST(date_trunc('month', timezone(b.timezone, f.{column} AT TIME ZONE 'UTC')) AS DATE)"


FAMILIES: dict[str, str] = {
    # revenue, invoice_count (sales.yaml): by the invoice date, credited to its owner
    "invoice": """
        SELECT CAST(date_trunc('month', f.issued_on) AS DATE) AS month, branch_id,
               f.owner_id AS employee_id,
               sum(f.net_amount) FILTER (WHERE f.status NOT IN ('draft', 'cancelled')) AS revenue,
               count(*) FILTER (
                   WHERE f.kind = 'invoice' AND f.status NOT IN ('draft', 'cancelled')
               ) AS invoice_count
        FROM core.fct_invoice AS f
    """,
    # new_clients (clients.yaml): converted leads by conversion day, each client once
    "lead": f"""
        SELECT {_local_month("converted_at")} AS month, branch_id, f.owner_id AS employee_id,
               count(DISTINCT f.client_id) AS new_clients
        FROM core.fct_lead AS f JOIN core.dim_branch AS b USING (branch_id)
        WHERE f.status = 'converted'
    """,
    # won_deals, win_rate (pipeline.yaml): deals closed, by close day
    "deal": f"""
        SELECT {_local_month("closed_at")} AS month, branch_id, f.owner_id AS employee_id,
               count(*) FILTER (WHERE f.status = 'won') AS won,
               count(*) AS closed
        FROM core.fct_deal AS f JOIN core.dim_branch AS b USING (branch_id)
        WHERE f.status IN ('won', 'lost')
    """,
    # calls_made (activity.yaml)
    "activity": f"""
        SELECT {_local_month("occurred_at")} AS month, branch_id, f.employee_id,
               count(*) AS calls_made
        FROM core.fct_activity AS f JOIN core.dim_branch AS b USING (branch_id)
        WHERE f.kind = 'call_out'
    """,
    # task_on_time_rate (activity.yaml): tasks by their deadline
    "task": f"""
        SELECT {_local_month("due_at")} AS month, branch_id, f.assignee_id AS employee_id,
               count(*) FILTER (WHERE f.status = 'done' AND f.done_at <= f.due_at) AS done_on_time,
               count(*) AS due
        FROM core.fct_task AS f JOIN core.dim_branch AS b USING (branch_id)
        WHERE f.status <> 'cancelled' AND f.due_at IS NOT NULL
    """,
    # repairs_completed, repair_sla_rate, repair_turnaround_hours (service.yaml)
    "service": f"""
        SELECT {_local_month("repaired_at")} AS month, branch_id, f.engineer_id AS employee_id,
               count(*) AS repairs,
               count(*) FILTER (
                   WHERE f.repaired_at <= f.received_at + f.sla_hours * INTERVAL '1 hour'
               ) AS within_sla,
               sum(date_diff('minute', f.received_at, f.repaired_at) / 60.0) AS turnaround_hours
        FROM core.fct_service_request AS f JOIN core.dim_branch AS b USING (branch_id)
        WHERE f.repaired_at IS NOT NULL
    """,
    # deliveries_completed, on_time_delivery_rate, avg_delivery_delay_hours (delivery.yaml)
    "delivery": f"""
        SELECT {_local_month("planned_start_at")} AS month, branch_id, f.driver_id AS employee_id,
               count(*) AS delivered,
               count(*) FILTER (
                   WHERE f.delivered_at <= COALESCE(f.planned_end_at, f.planned_start_at)
               ) AS on_time,
               sum(greatest(date_diff(
                   'minute', COALESCE(f.planned_end_at, f.planned_start_at), f.delivered_at
               ), 0) / 60.0) AS delay_hours
        FROM core.fct_delivery AS f JOIN core.dim_branch AS b USING (branch_id)
        WHERE f.status = 'delivered'
    """,
    # shipments_posted, units_shipped, write_off_value (stock.yaml)
    "stock": f"""
        SELECT {_local_month("moved_at")} AS month, branch_id, f.keeper_id AS employee_id,
               count(*) FILTER (WHERE f.kind = 'shipment') AS shipments,
               sum(-f.qty) FILTER (WHERE f.kind = 'shipment') AS units_shipped,
               sum(-f.qty * f.unit_cost) FILTER (WHERE f.kind = 'write_off') AS write_off_value
        FROM core.fct_stock_move AS f JOIN core.dim_branch AS b USING (branch_id)
        WHERE f.kind IN ('shipment', 'write_off')
    """,
}
"""One query per family of planned KPIs: each month's components per employee and per branch."""

GROUPING = "GROUP BY GROUPING SETS ((month, employee_id), (month, branch_id))"

Part = tuple[float, float]
"""A month's numerator and denominator (the denominator is 1 for a sum or count)."""

Series = dict[dt.date, Part]
"""A KPI's parts by month, for one employee or branch."""


@dataclass(frozen=True)
class Subject:
    """An employee or a branch, with the share of each demo month it was there (0 < share ≤ 1)."""

    id: str
    group: str  # the role of an employee; "branch" for a branch
    shares: dict[dt.date, float] = field(hash=False)

    @property
    def is_branch(self) -> bool:
        return self.group == "branch"

    @property
    def full_months(self) -> list[dt.date]:
        return [m for m, share in self.shares.items() if share == 1.0]


def demo_months() -> list[dt.date]:
    """The first day of each month of the demo data, oldest first."""
    last = REFERENCE_DATE.replace(day=1)
    return [_add_months(last, i - MONTHS + 1) for i in range(MONTHS)]


def growth_rate(seed: int, kpi: str, subject: str, year: int) -> float:
    """The growth target (a reduction where lower is better) for one KPI, employee or branch and
    year: a fraction between 8% and 12%, to three decimals, the same for the same seed."""
    low, high = GROWTH_RANGE
    return round(random.Random(f"{seed}:{kpi}:{subject}:{year}").uniform(low, high), 3)


def write_demo_plans(project: Path, *, seed: int = 7) -> list[Path]:
    """Set the demo's plans from the actuals in ``project``'s published warehouse and write them to
    ``project/plans``: ``<role>.csv`` per scorecard role and ``branches.csv``. Files of those
    names are replaced; the paths written are returned."""
    scorecards = _scorecard_kpis()
    for role, kpis in scorecards.items():
        unknown = [k for k in kpis if k not in PLAN_KPIS]
        if unknown:
            raise ValueError(f"scorecards/{role}.yaml: no plan-setting query for {unknown}")

    con = load_settings(project).open_warehouse().connect()
    try:
        actuals = _actuals(con)
        employees = _employees(con, tuple(scorecards))
        branches = _branches(con)
    finally:
        con.close()

    folder = project / "plans"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for role, kpis in scorecards.items():
        staff = [e for e in employees if e.group == role]
        rows = []
        for kpi_id in kpis:
            kpi = PLAN_KPIS[kpi_id]
            plans = _monthly_plans(kpi, staff, actuals, seed)
            rows += [
                (kpi_id, _month_label(m), e.id, "", plan)
                for e in staff
                for m, plan in plans[e.id].items()
            ]
        written.append(_write(folder / f"{role}.csv", rows))

    rows = []
    for kpi_id in BRANCH_KPIS:
        kpi = PLAN_KPIS[kpi_id]
        monthly = _monthly_plans(kpi, branches, actuals, seed)
        for b in branches:
            rows += [(kpi_id, _month_label(m), "", b.id, p) for m, p in monthly[b.id].items()]
            for quarter, plan in _quarterly_plans(kpi, b, monthly[b.id], actuals, seed).items():
                rows.append((kpi_id, quarter, "", b.id, plan))
    written.append(_write(folder / "branches.csv", rows))
    return written


# -- actuals ----------------------------------------------------------------------------------


Actuals = dict[tuple[str, str], Series]
"""Each (KPI, employee or branch id)'s parts by month."""


def _actuals(con: duckdb.DuckDBPyConnection) -> Actuals:
    out: Actuals = {}
    for family, query in FAMILIES.items():
        kpis = [k for k in PLAN_KPIS.values() if k.family == family]
        result = con.execute(f"{query} {GROUPING}")
        columns = [d[0] for d in result.description]
        for values in result.fetchall():
            row = dict(zip(columns, values, strict=True))
            subject = row["employee_id"] or row["branch_id"]
            if subject is None:
                continue  # rows credited to nobody
            for kpi in kpis:
                numerator = float(row[kpi.numerator] or 0)
                denominator = 1.0 if kpi.denominator is None else float(row[kpi.denominator] or 0)
                out.setdefault((kpi.id, subject), {})[row["month"]] = (numerator, denominator)
    return out


def _employees(con: duckdb.DuckDBPyConnection, roles: tuple[str, ...]) -> list[Subject]:
    rows = con.execute(
        "SELECT employee_id, role, hired_on, left_on FROM core.dim_employee "
        "WHERE role IN (SELECT unnest(?)) ORDER BY employee_id",
        [list(roles)],
    ).fetchall()
    subjects = [Subject(i, role, _shares(hired, left)) for i, role, hired, left in rows]
    return [s for s in subjects if s.shares]


def _branches(con: duckdb.DuckDBPyConnection) -> list[Subject]:
    rows = con.execute(
        "SELECT branch_id, opened_on, closed_on FROM core.dim_branch ORDER BY branch_id"
    ).fetchall()
    subjects = [Subject(i, "branch", _shares(opened, closed)) for i, opened, closed in rows]
    return [s for s in subjects if s.shares]


def _shares(first: dt.date | None, last: dt.date | None) -> dict[dt.date, float]:
    """The share of each demo month's days between ``first`` and ``last`` (both may be open)."""
    out = {}
    for month in demo_months():
        end = _add_months(month, 1) - dt.timedelta(days=1)
        start, stop = max(month, first or month), min(end, last or end)
        if start <= stop:
            out[month] = ((stop - start).days + 1) / ((end - month).days + 1)
    return out


# -- targets ----------------------------------------------------------------------------------


def _value(kpi: PlanKpi, series: Series, months: list[dt.date]) -> float | None:
    """The KPI over ``months``: a sum or count as a monthly average, a rate over all of them."""
    if not months:
        return None
    parts = [series.get(m, (0.0, 0.0 if kpi.denominator else 1.0)) for m in months]
    numerator = sum(p[0] for p in parts)
    if kpi.additive:
        return numerator / len(months)
    denominator = sum(p[1] for p in parts)
    return numerator / denominator if denominator else None


def _target(kpi: PlanKpi, baseline: float, growth: float) -> float:
    return baseline * (1 - growth if kpi.lower_is_better else 1 + growth)


def _monthly_plans(
    kpi: PlanKpi, subjects: list[Subject], actuals: Actuals, seed: int
) -> dict[str, dict[dt.date, Decimal]]:
    """Each subject's plan for each month it was there."""
    targets: dict[str, dict[dt.date, float | None]] = {}
    for s in subjects:
        series = actuals.get((kpi.id, s.id), {})
        first = _value(kpi, series, s.full_months[:3])
        full = set(s.full_months)
        targets[s.id] = {}
        for month in s.shares:
            last_year = _add_months(month, -12)
            baseline = _value(kpi, series, [last_year]) if last_year in full else None
            if baseline is None:
                baseline = first
            growth = growth_rate(seed, kpi.id, s.id, month.year)
            targets[s.id][month] = None if baseline is None else _target(kpi, baseline, growth)

    plans: dict[str, dict[dt.date, Decimal]] = {}
    for s in subjects:
        plans[s.id] = {}
        for month, share in s.shares.items():
            target = targets[s.id][month]
            if target is None:  # no history of its own: the colleagues' median
                peers = [targets[p.id].get(month) for p in subjects if p.group == s.group]
                known = [t for t in peers if t is not None]
                target = statistics.median(known) if known else 0.0
            plans[s.id][month] = _round(kpi, target * share if kpi.additive else target)
    return plans


def _quarterly_plans(
    kpi: PlanKpi,
    branch: Subject,
    monthly: Mapping[dt.date, Decimal],
    actuals: Actuals,
    seed: int,
) -> dict[str, Decimal]:
    """A branch's plan for each quarter wholly inside the demo months."""
    series = actuals.get((kpi.id, branch.id), {})
    full = set(branch.full_months)
    first = _value(kpi, series, branch.full_months[:3])
    out = {}
    for start in demo_months():
        months = [_add_months(start, i) for i in range(3)]
        if start.month % 3 != 1 or not set(months) <= full:
            continue
        label = f"{start.year}-Q{start.month // 3 + 1}"
        if kpi.additive:
            out[label] = sum((monthly[m] for m in months), Decimal(0))
            continue
        last_year = [_add_months(m, -12) for m in months]
        baseline = _value(kpi, series, last_year) if set(last_year) <= full else None
        if baseline is None:
            baseline = first
        if baseline is not None:
            growth = growth_rate(seed, kpi.id, branch.id, start.year)
            out[label] = _round(kpi, _target(kpi, baseline, growth))
    return out


def _round(kpi: PlanKpi, value: float) -> Decimal:
    step = STEPS[kpi.unit]
    rounded = (Decimal(repr(value)) / step).quantize(Decimal(1), ROUND_HALF_UP) * step
    rounded = max(rounded, step)
    if kpi.unit == "percent" and not kpi.lower_is_better:
        rounded = min(rounded, Decimal(1))
    return rounded


# -- files ------------------------------------------------------------------------------------


def _scorecard_kpis() -> dict[str, list[str]]:
    """Each demo scorecard's role and the KPIs it weighs, in file order."""
    yaml = YAML(typ="safe")
    out = {}
    for path in sorted(DEMO_SCORECARDS.glob("*.yaml")):
        card = yaml.load(path.read_text(encoding="utf-8"))
        out[card["role"]] = [item["kpi"] for item in card["kpis"]]
    return out


def _write(path: Path, rows: list[tuple[str, str, str, str, Decimal]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["kpi", "period", "employee", "branch", "plan"])
        writer.writerows(rows)
    return path


def _month_label(month: dt.date) -> str:
    return month.strftime("%Y-%m")


def _add_months(month: dt.date, n: int) -> dt.date:
    index = month.year * 12 + month.month - 1 + n
    return dt.date(index // 12, index % 12 + 1, 1)
