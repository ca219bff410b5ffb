"""Small builders of sqlglot trees the compiler's parts share: quoted names, casts, periods,
joins, aggregates, and the guarded arithmetic of derived values.

Every name is a quoted identifier and nothing is concatenated into SQL text.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from sqlglot import exp

from kpi_designer import model as m
from kpi_designer.loader import DIALECT
from kpi_designer.semantic import CORE_SCHEMA


def sql_interval(days: int, months: int) -> exp.Expr:
    text = f"{months} MONTH" if months else f"{days} DAY"
    return exp.Interval(this=exp.Literal.string(text.split()[0]), unit=exp.var(text.split()[1]))


def add_join(
    select: exp.Select, table: exp.Expr, *, on: exp.Expr | None = None, side: str | None = None
) -> exp.Select:
    """``select`` joined to ``table`` (``side``: ``LEFT``, ``CROSS`` or ``None`` for inner),
    built directly: ``Select.join`` parses its join type anew with each call."""
    join = exp.Join(this=table, on=on)
    if side == "CROSS":
        join.set("kind", "CROSS")
    elif side is not None:
        join.set("side", side)
    select.append("joins", join)
    return select


def ident(name: str) -> exp.Identifier:
    return exp.Identifier(this=name, quoted=True)


def col(name: str, table: str | None = None) -> exp.Column:
    return exp.Column(this=ident(name), table=ident(table) if table else None)


def core_table(name: str, alias: str, schema: str = CORE_SCHEMA) -> exp.Table:
    return exp.Table(this=ident(name), db=ident(schema), alias=exp.TableAlias(this=ident(alias)))


def cast_to(expr: exp.Expr, type_name: str) -> exp.Expr:
    """``CAST(expr AS type_name)``, ``expr`` not copied (every caller passes a tree of its own);
    an expression already cast to that type is returned as it is."""
    if isinstance(expr, exp.Cast) and expr.to.this == exp.DataType.Type[type_name]:
        return expr
    return exp.Cast(this=expr, to=exp.DataType(this=exp.DataType.Type[type_name]))


def as_date(expr: exp.Expr) -> exp.Expr:
    return cast_to(expr, "DATE")


def trunc(grain: str, day: exp.Expr) -> exp.Expr:
    """The first day of ``day``'s period of ``grain``, a ``DATE``."""
    return as_date(exp.func("date_trunc", exp.Literal.string(grain), day))


def period_of(day: exp.Expr, grain: m.Grain, first: exp.Expr | None = None) -> exp.Expr:
    """The first day of ``day``'s period (``day`` itself at day grain); at ``range`` grain
    the range's ``first`` day (a bound parameter), whatever the day: the rows read are the
    range's, one period."""
    if grain == "range":
        return range_period(first)
    return day if grain == "day" else trunc(grain, day)


def range_period(first: exp.Expr | None) -> exp.Expr:
    """The period of every row at ``range`` grain: the range's ``first`` day, a ``DATE``."""
    if first is None:
        raise ValueError("at range grain the period is the range's first day: pass it")
    return as_date(first)


def positions(count: int) -> list[exp.Expr]:
    """``1, 2, …, count``: the first ``count`` selected columns, for a ``GROUP BY``."""
    return [exp.Literal.number(i + 1) for i in range(count)]


def earliest(days: Sequence[dt.date | None]) -> dt.date | None:
    """The earliest of ``days``; ``None`` (from the first row) when any is."""
    return None if None in days else min(d for d in days if d is not None)


def double(expr: exp.Expr) -> exp.Expr:
    return cast_to(expr, "DOUBLE")


def nullif_zero(expr: exp.Expr) -> exp.Expr:
    return exp.Nullif(this=expr, expression=exp.Literal.number(0))


def expr_key(expr: exp.Expr) -> str:
    """An expression's text, to compare or look it up by. Rendered without a copy of the tree
    (copying costs twice the rendering): these are values and conditions, which rendering
    leaves as they are."""
    return expr.sql(DIALECT, copy=False)


def meets(now: str, then: str, by: Sequence[str], behind: exp.Expr | None) -> exp.Expr:
    """The join of a period and slice of ``now`` to the one of ``then`` ``behind`` it (the
    same one when ``None``). The current period is moved back, never the earlier one forward:
    moved forward a year, Feb 28 and Feb 29 of a leap year would land on one day."""
    wanted: exp.Expr = col("period", now)
    if behind is not None:
        wanted = as_date(exp.Sub(this=wanted, expression=behind.copy()))
    return exp.and_(
        exp.NullSafeEQ(this=wanted, expression=col("period", then)),
        *(exp.NullSafeEQ(this=col(k, now), expression=col(k, then)) for k in by),
        copy=False,
    )


def share_of(condition: exp.Expr) -> exp.Expr:
    """The share of the grouped rows that meet ``condition`` (none for no rows)."""
    met = exp.Filter(this=exp.Count(this=exp.Star()), expression=exp.Where(this=condition))
    return exp.Div(this=double(met), expression=nullif_zero(double(exp.Count(this=exp.Star()))))


def aggregate(agg: str, value: exp.Expr) -> exp.Expr:
    if agg == "sum":
        return exp.Sum(this=value)
    if agg == "count":
        return exp.Count(this=value)
    if agg == "count_distinct":
        return exp.Count(this=exp.Distinct(expressions=[value]))
    if agg == "avg":
        return exp.Avg(this=value)
    if agg == "min":
        return exp.Min(this=value)
    if agg == "max":
        return exp.Max(this=value)
    if agg == "median":
        return exp.func("median", value)
    raise ValueError(f"unknown aggregation {agg!r}")


def substitute(expr: exp.Expr, names: Mapping[str, exp.Expr]) -> exp.Expr:
    """``expr`` with each column named in ``names`` replaced, and every division guarded."""

    def swap(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Column) and not node.table and node.name in names:
            return exp.paren(names[node.name].copy(), copy=False)
        return node

    def guard(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Div):
            return exp.Div(
                this=double(node.this.copy()), expression=nullif_zero(node.expression.copy())
            )
        return node

    # transform does not descend into what it replaced: columns first, then divisions
    return expr.copy().transform(swap).transform(guard)
