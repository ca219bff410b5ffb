"""``derived``: each input grouped on its own, once (a materialized ``WITH``), joined on period
and slice, the expression applied (a missing sum or count is 0; division by 0 gives no value).
An input with an offset is computed on the earlier range and met by the current period moved
back."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlglot import exp

from kpi_designer import model as m
from kpi_designer.compiler.dates import offset_parts, period_start
from kpi_designer.compiler.query import Query
from kpi_designer.compiler.trees import (
    add_join,
    as_date,
    col,
    double,
    ident,
    meets,
    sql_interval,
    substitute,
)

if TYPE_CHECKING:
    from kpi_designer.compiler.builder import Builder


def derived(builder: Builder, kpi: m.Derived, query: Query) -> exp.Select:
    return combine(builder, list(kpi.named), kpi.expr, query)


def combine(
    builder: Builder, inputs: Sequence[m.Input], expr: exp.Expr, query: Query
) -> exp.Select:
    """Inputs grouped on their own, joined on period and slice, ``expr`` over their
    aliases."""
    keys = ["period", *query.by]
    # per input: its alias, its rows, whether missing means 0, and the interval its periods
    # lie behind the ones asked for (a shifted input keeps its own periods: moving them
    # forward would map Feb 28 and Feb 29 onto one day a year later and count it twice)
    parts: list[tuple[str, exp.Select, bool, exp.Expr | None]] = []
    for one in inputs:
        source = builder.kpis[one.kpi]
        if one.offset is None:
            parts.append(
                (one.alias, builder.kpi(source, query, one.filters), source.zero_when_missing, None)
            )
            continue
        earlier = query.moved(one.offset, whole_periods=True)
        days, months = offset_parts(one.offset, query.grain, query.days)
        rows = builder.kpi(source, earlier, one.filters)
        parts.append((one.alias, rows, source.zero_when_missing, sql_interval(days, months)))
    # each input once, as a named result both the list of rows and its join read
    names_of = [builder.name("input") for _ in parts]
    keyed = []
    for i, (_, _, _, behind) in enumerate(parts):
        period: exp.Expr = col("period")
        if behind is not None:
            period = as_date(exp.Add(this=period, expression=behind.copy()))
        one_side = exp.select(
            exp.alias_(period, ident("period"), copy=False), *(col(k) for k in query.by)
        ).from_(exp.table_(ident(names_of[i])), copy=False)
        if behind is not None:  # a shifted period may fall outside the range asked for
            first = builder.param("start", period_start(query.start, query.grain, query.days))
            last = builder.param("end", query.end)
            one_side = one_side.where(
                exp.Between(this=period.copy(), low=first, high=last), copy=False
            )
        keyed.append(one_side)
    spine = exp.union(*keyed, distinct=True) if len(keyed) > 1 else keyed[0]
    select = exp.select(*(col(k, "spine") for k in keys)).from_(
        spine.subquery(ident("spine"), copy=False), copy=False
    )
    names: dict[str, exp.Expr] = {}
    for i, (alias, _, zero, behind) in enumerate(parts):
        table = f"i{i}"
        on = meets("spine", table, query.by, behind)
        named = exp.table_(ident(names_of[i]), alias=ident(table))
        select = add_join(select, named, on=on, side="LEFT")
        value: exp.Expr = col("value", table)
        if zero:
            value = exp.Coalesce(this=value, expressions=[exp.Literal.number(0)])
        names[alias] = value
    computed = substitute(expr, names)
    select = select.select(exp.alias_(double(computed), ident("value"), copy=False), copy=False)
    for name, (_, rows, _, _) in zip(names_of, parts, strict=True):
        select = select.with_(ident(name), as_=rows, materialized=True, copy=False)
    return select
