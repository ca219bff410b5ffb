"""Rollups: a fact read once per evaluation.

When several statements of one evaluation read the same fact and time column, the planner
(:mod:`kpi_designer.compiler.planner`) makes the fact's sums, counts, minima and maxima per local
day and slice once, as a table, and those statements read it instead of the fact. This module
holds what a rollup is and when it answers a read; the planner decides which to make.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlglot import exp

from kpi_designer import model as m
from kpi_designer.compiler.query import Compiled, Query
from kpi_designer.compiler.trees import expr_key, ident

MeasureKey = tuple[str, str | None, tuple[str, ...]]
"""A measure written out, (aggregation, expression, filters): equal keys compute the same."""

ROLLED = {"sum": "sum", "count": "sum", "min": "min", "max": "max"}
"""The aggregations a rollup keeps per day, and how a period combines its days' values."""


def measure_key(measure: m.Measure) -> MeasureKey:
    expr = expr_key(measure.expr) if measure.expr is not None else None
    return measure.agg, expr, tuple(sorted({expr_key(f) for f in measure.filters}))


def grouping_of(query: Query) -> tuple[object, ...]:
    """What a rollup's rows depend on besides the days: slices, filters and scope."""
    filters = tuple(expr_key(f) for f in query.filters)
    return query.by, filters, tuple(sorted(query.scope.items()))


@dataclass
class Read:
    """A part of a statement reading sums, counts, minima or maxima of a fact by local day."""

    fact: str
    time: str
    measures: dict[MeasureKey, m.Measure]
    first: dt.date | None  # None: from the first row
    last: dt.date
    counted: exp.Expr | None = None  # what a distinct count among them counts


@dataclass(frozen=True)
class Workspace:
    """Where the tables of one evaluation's plan go when several connections read them:
    ``catalog.schema``, in a database every connection sees and may write (DuckDB: one
    attached in memory). Without a workspace, they are temporary tables, which only the
    connection that made them sees."""

    catalog: str
    schema: str


def work_table(name: str, workspace: Workspace | None, alias: str | None = None) -> exp.Table:
    """The table ``name`` of a plan: in ``workspace``, or a temporary one."""
    if workspace is None:
        return exp.table_(ident(name), alias=ident(alias) if alias else None)
    return exp.table_(
        ident(name),
        db=ident(workspace.schema),
        catalog=ident(workspace.catalog),
        alias=ident(alias) if alias else None,
    )


@dataclass(frozen=True)
class Rollup:
    """A fact's sums, counts, minima and maxima per local day and slice, made once as a
    table for the statements of one evaluation that would each read the fact
    (:func:`plan`). Periods, to-date and rolling windows, earlier periods: all are combinations
    of days, so every such read is answered from the rollup's far fewer rows. A distinct count
    of a value of the row's time (the UTC date of an activity) is kept too, by one row per day,
    slice and value (``counted``): such a value has few values in a day."""

    table: str
    fact: str
    time: str
    grouping: tuple[object, ...]
    columns: Mapping[MeasureKey, str]
    first: dt.date | None  # None: from the first row
    last: dt.date
    select: Compiled
    counted: exp.Expr | None = None  # a further key: the value a distinct count counts
    workspace: Workspace | None = None  # None: a temporary table

    def serves(self, read: Read, query: Query) -> bool:
        """Whether the rollup holds all that ``read`` of ``query`` needs."""
        return (
            (read.fact, read.time) == (self.fact, self.time)
            and (read.counted is None or same_expr(read.counted, self.counted))
            and grouping_of(query) == self.grouping
            and all(key in self.columns for key in read.measures)
            and (self.first is None or (read.first is not None and read.first >= self.first))
            and read.last <= self.last
        )

    def create(self) -> Compiled:
        """The statement making the table."""
        return create_table(self.table, self.select, self.workspace)

    def source(self) -> exp.Table:
        """The table, to read from."""
        return work_table(self.table, self.workspace)


def create_table(table: str, select: Compiled, workspace: Workspace | None) -> Compiled:
    """The statement making ``select``'s rows the table ``table`` of a plan: in ``workspace``,
    or a temporary table (DuckDB: it lives as long as the connection)."""
    temporary = [exp.TemporaryProperty()] if workspace is None else []
    create = exp.Create(
        this=work_table(table, workspace),
        kind="TABLE",
        expression=select.tree,
        properties=exp.Properties(expressions=temporary) if temporary else None,
    )
    return Compiled(create, select.params)


def same_expr(a: exp.Expr, b: exp.Expr | None) -> bool:
    return b is not None and expr_key(a) == expr_key(b)


def of_time(expr: exp.Expr, time: str) -> bool:
    """Whether ``expr`` is a value of the row's time column alone (``CAST(occurred_at AS
    DATE)``): a day holds few of its values. A column of a related table (``invoice.issued_on``)
    is not the row's own."""
    names = {(c.table, c.name) for c in expr.find_all(exp.Column)}
    return names == {("", time)}


def rows_passing(fact: str, filters: Sequence[exp.Expr]) -> m.Measure:
    """The count of ``fact``'s rows that pass ``filters``: where a KPI has rows."""
    return m.Measure(fact, "count", None, tuple(filters))
