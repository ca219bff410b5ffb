"""What a report is: plain, frozen definitions, read from files by :mod:`reports.loader`.

A report answers one question. It has typed :class:`Parameter` s, one query — SQL over the
``core`` model (:attr:`Report.sql`), KPIs evaluated by the engine (:class:`KpiQuery`) or a
role's scorecard (:class:`ScorecardQuery`) — and says how its result reads: the
:class:`Column` s shown with their formats, the sort, the grouping with subtotals, the totals and
an optional :class:`Chart`. The runner (:mod:`reports.runner`) gives it values; the renderers
(:mod:`reports.render`) print the result. Nothing here does I/O.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

CATEGORIES = (
    "sales",
    "clients",
    "pipeline",
    "activity",
    "employees",
    "service",
    "delivery",
    "stock",
    "finance",
    "data_quality",
)
"""The catalog's categories, in the order lists show them."""

CATEGORY_TITLES = {
    "sales": "Sales",
    "clients": "Clients",
    "pipeline": "Pipeline",
    "activity": "Activity and tasks",
    "employees": "Employees and KPIs",
    "service": "Service and warranty",
    "delivery": "Delivery",
    "stock": "Stock and purchasing",
    "finance": "Finance",
    "data_quality": "Data quality",
}

ParameterType = Literal[
    "date",
    "period",
    "branch",
    "employee",
    "client",
    "product",
    "category",
    "warehouse",
    "supplier",
    "role",
    "choice",
    "integer",
    "boolean",
]
PARAMETER_TYPES: tuple[str, ...] = ParameterType.__args__  # type: ignore[attr-defined]

ENTITY_TYPES = ("branch", "employee", "client", "product", "warehouse", "supplier")
"""Parameter types whose value is the id (or the exact name) of a row of a dimension."""

Format = Literal[
    "text",
    "count",
    "number",
    "money",
    "percent",
    "pp",
    "date",
    "month",
    "datetime",
    "duration",
    "days",
    "unit",
    "status",
]
FORMATS: tuple[str, ...] = Format.__args__  # type: ignore[attr-defined]
"""How a column's values read (``reports.formats``): ``count`` whole numbers; ``number`` two
decimals; ``money`` in the row's (or the company's) currency; ``percent`` a fraction shown as
``12.5%``; ``pp`` a difference of fractions in percentage points; ``duration`` seconds shown in
the largest sensible unit (``3 d 4 h``); ``days`` a number of days (``4.5 d``); ``month`` a
date shown as its month (``2026-03``, as plan files write it); ``unit`` a KPI's value read by the
row's ``unit`` column (money, count, percent, hours, days), for KPIs of several units in one
column; ``status`` a KPI's status (green, amber, red) as a sign and words (``✓ on plan``), never
by colour alone."""

TotalHow = Literal["sum", "avg", "min", "max", "count"]
TOTALS: tuple[str, ...] = TotalHow.__args__  # type: ignore[attr-defined]

ChartType = Literal["bar", "column", "stacked", "line", "funnel", "pie"]
CHART_TYPES: tuple[str, ...] = ChartType.__args__  # type: ignore[attr-defined]

Orientation = Literal["portrait", "landscape"]
Scope = Literal["branch", "company"]


@dataclass(frozen=True)
class Where:
    """Where a definition (or one of its parts) was written: ``catalog/finance/x.yaml:12``."""

    path: Path
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass(frozen=True)
class Parameter:
    """A value the reader chooses. ``default`` is as written (``last_month``, ``data_end``,
    ``20``); ``None`` with ``required`` false means the parameter is optional and binds NULL
    ("all"). ``values`` are a ``choice``'s allowed values; ``minimum``/``maximum`` bound an
    ``integer``."""

    name: str
    type: ParameterType
    label: str
    default: str | int | bool | None = None
    required: bool = False
    values: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    where: Where | None = None

    def placeholders(self) -> tuple[str, ...]:
        """The names this parameter is bound as in SQL: a period binds two dates."""
        if self.type == "period":
            return (f"{self.name}_start", f"{self.name}_end")
        return (self.name,)


@dataclass(frozen=True)
class Column:
    """A column shown, in the order shown: the query's column ``name``, its heading and how
    its values read."""

    name: str
    label: str
    format: Format = "text"
    where: Where | None = None

    @property
    def numeric(self) -> bool:
        return self.format not in ("text", "date", "month", "datetime", "status")


@dataclass(frozen=True)
class Total:
    """How a column's total (and subtotals) is made: ``how`` of its values, or ``ratio``, the
    sum of one column over the sum of another (a rate's total is never the sum of rates)."""

    column: str
    how: TotalHow | None = None
    ratio: tuple[str, str] | None = None
    per_group: bool = False
    """The grand total adds up each group's total (``{each_group: max}``: a monthly bonus
    that every KPI row of its month carries is the month's maximum, and the months' sum)."""
    where: Where | None = None


@dataclass(frozen=True)
class Chart:
    """One Plotly chart drawn above the table: ``y`` over ``x``, a series per value of ``color``
    when given. ``limit`` keeps the first rows of the sorted result (a top 15)."""

    type: ChartType
    x: str
    y: tuple[str, ...]
    color: str | None = None
    title: str = ""
    limit: int | None = None
    where: Where | None = None


@dataclass(frozen=True)
class KpiQuery:
    """KPIs evaluated by the engine over a period parameter, at a grain (a literal grain or the
    name of a ``choice`` parameter holding one), sliced ``by`` dimensions."""

    ids: tuple[str, ...]
    period: str
    grain: str = "month"
    by: tuple[str, ...] = ()
    where: Where | None = None


@dataclass(frozen=True)
class ScorecardQuery:
    """A role's scorecard over a period parameter: ``role`` is a literal role or the name of a
    ``role`` parameter; ``employee`` the name of an optional employee parameter."""

    role: str
    period: str
    employee: str | None = None
    where: Where | None = None


@dataclass(frozen=True)
class SortKey:
    column: str
    descending: bool = False


@dataclass(frozen=True)
class Report:
    """One report definition (see ``docs/reports.md``)."""

    id: str
    title: str
    category: str
    question: str
    parameters: tuple[Parameter, ...]
    columns: tuple[Column, ...]
    sql: str | None = None
    kpis: KpiQuery | None = None
    scorecard: ScorecardQuery | None = None
    sort: tuple[SortKey, ...] = ()
    group: str | None = None
    totals: tuple[Total, ...] = ()
    chart: Chart | None = None
    orientation: Orientation = "portrait"
    signatures: tuple[str, ...] = ()
    """Who signs the printed report (``[Employee, Head of branch]``): a line each to sign and
    date under the table, for a document such as a bonus statement."""
    scope: Scope = "branch"
    """``branch``: the report reads ``core`` and runs under any scope; ``company``: it reads
    company-wide tables (the quarantine, validation results) and is refused under a scope."""
    path: Path = field(default=Path("."))
    line: int = 1
    sql_line: int = 1
    """The line of the file where the SQL's first line is (to locate problems inside it)."""

    def parameter(self, name: str) -> Parameter | None:
        return next((p for p in self.parameters if p.name == name), None)

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)

    @property
    def where(self) -> Where:
        return Where(self.path, self.line)


Value = str | int | bool | dt.date | None
"""A parameter's value once resolved and validated (a period is two dates: see ``Bound``)."""
