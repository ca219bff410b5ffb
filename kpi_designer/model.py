"""What a KPI file says, as plain frozen values (``docs/kpis.md`` is the language for people).

The loader (:mod:`kpi_designer.loader`) builds these from YAML and checks them; the compiler
(:mod:`kpi_designer.compiler`) turns them into SQL. Expressions (``expr``, ``filter``) are kept
as sqlglot trees, parsed once when the file is read.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import ClassVar, Literal

from sqlglot import exp

Unit = Literal["money", "count", "percent", "hours", "days"]
UNITS: tuple[Unit, ...] = ("money", "count", "percent", "hours", "days")
Direction = Literal["higher", "lower"]
PeriodGrain = Literal["day", "week", "month", "quarter", "year"]
"""The grains of calendar periods: plans are set per such a period."""
PERIOD_GRAINS: tuple[PeriodGrain, ...] = ("day", "week", "month", "quarter", "year")
Grain = Literal["day", "week", "month", "quarter", "year", "range"]
"""The grains a KPI is evaluated at: a calendar period's, or ``range``, the whole range asked
for as one period (its first day is the period's ``period``)."""
GRAINS: tuple[Grain, ...] = (*PERIOD_GRAINS, "range")
AGGREGATIONS = ("sum", "count", "count_distinct", "avg", "min", "max", "median")
ADDITIVE = frozenset({"sum", "count"})
"""Aggregations whose value over a union of row sets is the sum of their values."""
TO_DATE: tuple[PeriodGrain, ...] = ("month", "quarter", "year")
MissingPlan = Literal["none", "carry_forward"]


@dataclass(frozen=True)
class Location:
    """Where a definition was written."""

    path: str
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass(frozen=True)
class Span:
    """A length of time: ``30 days``, ``3 months``, ``1 year``; ``periods`` counts grains."""

    count: int
    unit: Literal["days", "weeks", "months", "years", "periods"]

    PATTERN: ClassVar[re.Pattern[str]] = re.compile(
        r"\s*(\d+)\s*(day|week|month|year|period)s?\s*", re.IGNORECASE
    )

    def __str__(self) -> str:
        return f"{self.count} {self.unit if self.count != 1 else self.unit[:-1]}"


@dataclass(frozen=True)
class Thresholds:
    """Achievement at or above ``green`` is green, at or above ``amber`` amber, else red."""

    green: float = 1.0
    amber: float = 0.9


@dataclass(frozen=True, kw_only=True)
class Kpi:
    """What every KPI has; the subclasses add what their type computes."""

    TYPE: ClassVar[str]

    id: str
    label: str
    description: str
    unit: Unit
    direction: Direction = "higher"
    owner: str | None = None
    thresholds: Thresholds = Thresholds()
    missing_plan: MissingPlan = "none"
    location: Location

    def inputs(self) -> tuple[str, ...]:
        """The ids of the KPIs this one is computed from."""
        return ()

    @property
    def additive(self) -> bool:
        """Whether the value over a union of periods or slices is the sum of their values."""
        return False

    @property
    def zero_when_missing(self) -> bool:
        """Whether a period and slice without rows has the value 0 (a sum or a count of no
        rows), rather than no value: what a derived KPI or a comparison with an earlier
        period takes for an input with no row there."""
        return self.additive


@dataclass(frozen=True)
class Measure:
    """An aggregation of rows of a fact: what a ``simple`` KPI is, and what ratio, cumulative and
    conversion KPIs reuse."""

    fact: str
    agg: str
    expr: exp.Expr | None
    """``None`` counts rows."""
    filters: tuple[exp.Expr, ...] = ()
    time: str | None = None
    """The time column, when not the fact's default."""


@dataclass(frozen=True, kw_only=True)
class Simple(Kpi):
    TYPE: ClassVar[str] = "simple"

    measure: Measure

    @property
    def additive(self) -> bool:
        return self.measure.agg in ADDITIVE


@dataclass(frozen=True)
class Input:
    """Another KPI used by this one, optionally under another name, filtered or shifted."""

    kpi: str
    alias: str
    filters: tuple[exp.Expr, ...] = ()
    offset: Span | None = None


@dataclass(frozen=True, kw_only=True)
class Ratio(Kpi):
    TYPE: ClassVar[str] = "ratio"

    numerator: Input
    denominator: Input

    def inputs(self) -> tuple[str, ...]:
        return (self.numerator.kpi, self.denominator.kpi)


@dataclass(frozen=True, kw_only=True)
class Derived(Kpi):
    TYPE: ClassVar[str] = "derived"

    expr: exp.Expr
    """Over the names of ``inputs`` (KPI ids, or the ``as`` names of listed inputs)."""
    named: tuple[Input, ...]
    """Every input the expression names, explicit or implied (a bare KPI id)."""

    def inputs(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(i.kpi for i in self.named))


@dataclass(frozen=True, kw_only=True)
class Cumulative(Kpi):
    TYPE: ClassVar[str] = "cumulative"

    kpi: str
    to_date: PeriodGrain | None = None
    window: Span | None = None

    def inputs(self) -> tuple[str, ...]:
        return (self.kpi,)


@dataclass(frozen=True)
class Events:
    """One side of a conversion: rows of a fact, their time, an optional filter."""

    fact: str
    filters: tuple[exp.Expr, ...] = ()
    time: str | None = None


@dataclass(frozen=True, kw_only=True)
class Conversion(Kpi):
    TYPE: ClassVar[str] = "conversion"

    base: Events
    conversion: Events
    entity: str
    window: Span


@dataclass(frozen=True, kw_only=True)
class Balance(Kpi):
    """The state of something at each period's end: ``measure`` over the rows in force at
    the end of the period's last day (semi-additive: slices add up, periods do not).

    A row is in force from the local day of ``measure.time`` (``from:``; the fact's time
    column by default) until the local day of ``until`` (``None``: for ever; a row whose
    ``until`` is NULL is still in force), while every condition of ``when`` holds, where
    ``as_of`` is the period's last day.

    With ``per`` (dimension or entity names: ``product``, ``warehouse``), the value is the
    number of ``per`` combinations with a row in force whose own balance (``value``) meets
    ``having`` (every such combination without ``having``)."""

    TYPE: ClassVar[str] = "balance"

    measure: Measure
    until: str | None = None
    when: tuple[exp.Expr, ...] = ()
    per: tuple[str, ...] = ()
    having: exp.Expr | None = None

    @property
    def zero_when_missing(self) -> bool:
        return bool(self.per) or self.measure.agg in ADDITIVE


AS_OF = "as_of"
"""The name ``when`` conditions of a balance use for the period's last day."""
VALUE = "value"
"""The name ``having`` uses for the balance of one ``per`` combination."""


Compare = Literal["previous_period", "same_period_last_year"]
PopOutput = Literal["change_pct", "change", "previous"]


@dataclass(frozen=True, kw_only=True)
class PeriodOverPeriod(Kpi):
    TYPE: ClassVar[str] = "period_over_period"

    kpi: str
    compare: Compare
    output: PopOutput = "change_pct"
    like_for_like: bool = False

    def inputs(self) -> tuple[str, ...]:
        return (self.kpi,)


EntityCount = Literal["new", "returning", "reactivated", "active"]
ENTITY_COUNTS: tuple[EntityCount, ...] = ("new", "returning", "reactivated", "active")


@dataclass(frozen=True, kw_only=True)
class Entities(Kpi):
    """Entities (clients, or combinations such as a client and a product category) counted by
    their events: the rows of ``events`` (over all history, never scoped) that name them.

    - ``new``: in the period and slice of the entity's first event, if that event passes the
      request's filters and scope; each entity counts once ever;
    - ``returning``: with an event in the period whose first event lies before the period;
    - ``reactivated``: with an event in the period at least ``gap`` after the entity's previous
      event (local days); a first event is not a reactivation;
    - ``active``: with an event in the period.
    """

    TYPE: ClassVar[str] = "entities"

    count: EntityCount
    entity: tuple[str, ...]
    """Dimensions; the entity is the combination of their values."""
    events: tuple[Events, ...]
    gap: Span | None = None
    """``reactivated`` only."""

    @property
    def additive(self) -> bool:
        return self.count == "new"

    @property
    def zero_when_missing(self) -> bool:
        """A count of entities: none is 0, whichever the count."""
        return True


KPI_TYPES: dict[str, type[Kpi]] = {
    k.TYPE: k
    for k in (
        Simple,
        Ratio,
        Derived,
        Cumulative,
        Conversion,
        PeriodOverPeriod,
        Balance,
        Entities,
    )
}


@dataclass(frozen=True)
class Plan:
    """One plan value: a KPI's target for a period and slice (dimension → member)."""

    kpi: str
    grain: PeriodGrain
    period: dt.date
    """The first day of the period."""
    members: tuple[tuple[str, str], ...]
    value: float
    location: Location


@dataclass(frozen=True)
class Weighted:
    kpi: str
    weight: float


@dataclass(frozen=True)
class Gate:
    kpi: str
    min_achievement: float


@dataclass(frozen=True)
class Scorecard:
    role: str
    label: str
    base_amount: float
    kpis: tuple[Weighted, ...]
    floor: float
    cap: float
    gates: tuple[Gate, ...]
    bonus: exp.Expr
    location: Location
