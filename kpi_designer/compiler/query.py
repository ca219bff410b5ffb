"""What the compiler is asked and what it answers: a :class:`Query` (range, grain, slices,
filters, row-level scope) and a :class:`Compiled` statement with its parameters; and the checks
a query must pass before anything is built."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal

from sqlglot import exp

from kpi_designer import model as m
from kpi_designer.compiler.dates import Days, period_end, period_start, shift
from kpi_designer.errors import EvaluationError
from kpi_designer.loader import NotAnExpression, facts_of, parse_expression, reachable
from kpi_designer.semantic import DIMENSIONS, FACTS
from kpiboard.yamlnodes import did_you_mean


@dataclass(frozen=True)
class Query:
    """What to evaluate: a range of days, a grain, slices, filters and a row-level scope.

    ``filters`` are SQL conditions over dimension names (``branch = 'denver'``). ``scope`` limits
    the rows to members of dimensions (``{"branch": ("denver",)}``): a user's visibility, applied
    to the fact rows inside the SQL, never to the result.
    """

    start: dt.date
    end: dt.date
    grain: m.Grain = "month"
    by: tuple[str, ...] = ()
    filters: tuple[exp.Expr, ...] = ()
    scope: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def days(self) -> Days:
        """The range's first and last day: at ``range`` grain, its one period."""
        return self.start, self.end

    def moved(self, offset: m.Span, *, whole_periods: bool) -> Query:
        """The same query over the range ``offset`` earlier; widened to whole periods first
        when ``whole_periods``. Otherwise (like for like) a range that ends on a period's last
        day ends on the last day of the earlier period too: all of April against all of March,
        not against its first 30 days; a period still running is met by as many days.

        At ``range`` grain the range is the one period, whole either way: both its ends move
        back by the offset (a period is as many days as the range; a year, 12 months)."""
        if self.grain == "range":
            return replace(
                self,
                start=shift(self.start, offset, "range", -1, self.days),
                end=shift(self.end, offset, "range", -1, self.days),
            )
        start, end = self.start, self.end
        if whole_periods:
            start, end = period_start(start, self.grain), period_end(end, self.grain)
        earlier_end = shift(end, offset, self.grain, -1)
        if end == period_end(end, self.grain):
            earlier_end = period_end(earlier_end, self.grain)
        return replace(self, start=shift(start, offset, self.grain, -1), end=earlier_end)


@dataclass(frozen=True)
class Compiled:
    """A statement ready to run: the tree, and the values of its parameters."""

    tree: exp.Expr
    params: dict[str, object]

    def sql(self, dialect: str = "duckdb", *, pretty: bool = False, copy: bool = True) -> str:
        """The statement's text. Rendering works on a copy of the tree unless ``copy`` is off,
        for a statement rendered once and then dropped (copying costs three times the
        rendering)."""
        return self.tree.sql(dialect=dialect, pretty=pretty, copy=copy)

    def literal_sql(self, dialect: str = "duckdb", *, pretty: bool = False) -> str:
        """The statement's text with every parameter written in as a SQL literal
        (:func:`sql_literal`): runnable as it is, in psql or the DuckDB shell."""
        params = self.params

        def inline(node: exp.Expr) -> exp.Expr:
            if isinstance(node, exp.Placeholder) and node.name in params:
                return sql_literal(params[node.name])
            return node

        return self.tree.transform(inline).sql(dialect=dialect, pretty=pretty)


def sql_literal(value: object) -> exp.Expr:
    """A parameter's value as a SQL literal, the same text in DuckDB and PostgreSQL: a date
    ``DATE '2026-01-01'``, a timestamp ``TIMESTAMP '2026-01-01 08:30:00'``, a string quoted
    with its quotes doubled, a number, true/false, NULL, a list as an array."""
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int | float | Decimal):
        return exp.Literal.number(value)
    if isinstance(value, dt.datetime):
        # a typed literal in both dialects; the text is digits and separators only
        return exp.Var(this=f"TIMESTAMP '{value.isoformat(sep=' ')}'")
    if isinstance(value, dt.date):
        return exp.Var(this=f"DATE '{value.isoformat()}'")
    if isinstance(value, str):
        return exp.Literal.string(value)
    if isinstance(value, list | tuple):
        return exp.Array(expressions=[sql_literal(v) for v in value])
    raise TypeError(f"no SQL literal for {type(value).__name__} {value!r}")


def parse_filter(text: str) -> exp.Expr:
    """A request filter (``branch = 'denver'``), parsed and checked to be a plain condition."""
    try:
        tree = parse_expression(text)
    except NotAnExpression as exc:
        raise EvaluationError(f"filter {text!r} {exc}") from None
    for column in tree.find_all(exp.Column):
        if column.table or column.name not in DIMENSIONS:
            hint = did_you_mean(column.name, list(DIMENSIONS))
            raise EvaluationError(
                f"filter {text!r}: {column.sql()!r} is not a dimension{hint} "
                f"(dimensions: {', '.join(DIMENSIONS)})"
            )
    return tree


def check_query(kpi_id: str, query: Query, kpis: Mapping[str, m.Kpi]) -> None:
    """Raise :class:`EvaluationError` for a KPI, grain, range or dimension the definitions
    cannot answer."""
    if kpi_id not in kpis:
        raise EvaluationError(f"unknown KPI {kpi_id!r}{did_you_mean(kpi_id, list(kpis))}")
    if query.grain not in m.GRAINS:
        raise EvaluationError(f"unknown grain {query.grain!r} (grains: {', '.join(m.GRAINS)})")
    if query.start > query.end:
        raise EvaluationError(f"the range starts ({query.start}) after it ends ({query.end})")
    kpi = kpis[kpi_id]
    reach = reachable(kpi, kpis)
    named = {
        *query.by,
        *query.scope,
        *(c.name for f in query.filters for c in f.find_all(exp.Column)),
    }
    for name in sorted(named):
        if name not in DIMENSIONS:
            raise EvaluationError(
                f"unknown dimension {name!r}{did_you_mean(name, list(DIMENSIONS))}"
            )
        if name not in reach:
            facts = sorted(facts_of(kpi, kpis))
            # name the facts that do not reach it (a KPI of several facts reaches what all do)
            short = [f for f in facts if name not in FACTS[f].dimensions()] or facts
            which = f"fact {short[0]} does" if len(short) == 1 else f"facts {', '.join(short)} do"
            raise EvaluationError(
                f"kpi {kpi_id!r} cannot be sliced, filtered or scoped by {name!r}: "
                f"{which} not reach it (it reaches {', '.join(sorted(reach))})"
            )
    if len(set(query.by)) != len(query.by):
        raise EvaluationError(f"--by names a dimension twice: {', '.join(query.by)}")
