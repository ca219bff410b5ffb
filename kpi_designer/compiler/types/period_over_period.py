"""``period_over_period``: the KPI now and the KPI over the range moved back by the comparison
offset. Like-for-like keeps that moved range as is (the running period against as many days of
the other, whole periods where the range ends on a period's last day); otherwise it is widened
to whole periods, and a range starting on a period's first day is computed in one scan. At
``range`` grain the range is one period, whole either way: the previous period is as many days
just before it, the same period last year the range a year earlier (:meth:`Query.moved`)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from sqlglot import exp

from kpi_designer import model as m
from kpi_designer.compiler.dates import offset_parts, period_start
from kpi_designer.compiler.query import Query
from kpi_designer.compiler.trees import (
    add_join,
    col,
    double,
    ident,
    meets,
    nullif_zero,
    sql_interval,
)

if TYPE_CHECKING:
    from kpi_designer.compiler.builder import Builder


def period_over_period(builder: Builder, kpi: m.PeriodOverPeriod, query: Query) -> exp.Select:
    offset = pop_offset(kpi)
    source = builder.kpis[kpi.kpi]
    earlier = query.moved(offset, whole_periods=not kpi.like_for_like)
    days, months = offset_parts(offset, query.grain, query.days)
    # at range grain the earlier range is no period of the current one's: computed apart
    single = (
        not kpi.like_for_like
        and query.grain != "range"
        and query.start == period_start(query.start, query.grain)
    )
    if single:
        # whole periods from a period's first day: the earlier periods and the current ones
        # are all whole (the last current one up to the range's end) in one range, computed
        # once and read twice
        both = builder.name("periods")
        rows = builder.kpi(source, replace(query, start=earlier.start))
        now: exp.Select = (
            exp.select("*")
            .from_(exp.table_(ident(both)), copy=False)
            .where(
                exp.GTE(this=col("period"), expression=builder.param("start", query.start)),
                copy=False,
            )
        )
        then = exp.select("*").from_(exp.table_(ident(both)), copy=False)
    else:
        now = builder.kpi(source, query)
        then = builder.kpi(source, earlier)
    keys = ["period", *query.by]
    on = meets("n", "p", query.by, sql_interval(days, months))
    value = pop_value(kpi, col("value", "n"), col("value", "p"), source)
    select = exp.select(
        *(col(k, "n") for k in keys), exp.alias_(value, ident("value"), copy=False)
    ).from_(now.subquery(ident("n"), copy=False), copy=False)
    select = add_join(select, then.subquery(ident("p"), copy=False), on=on, side="LEFT")
    if single:
        select = select.with_(ident(both), as_=rows, materialized=True, copy=False)
    return select


def pop_offset(kpi: m.PeriodOverPeriod) -> m.Span:
    return m.Span(1, "periods") if kpi.compare == "previous_period" else m.Span(1, "years")


def pop_value(kpi: m.PeriodOverPeriod, cur: exp.Expr, prev: exp.Expr, source: m.Kpi) -> exp.Expr:
    """A period-over-period KPI's value from its KPI's value now and in the earlier period (a
    sum or a count with no earlier row had 0 then)."""
    if source.zero_when_missing:
        prev = exp.Coalesce(this=prev, expressions=[exp.Literal.number(0)])
    if kpi.output == "change_pct":
        change = exp.paren(exp.Sub(this=cur, expression=prev), copy=False)
        return double(exp.Div(this=change, expression=nullif_zero(prev.copy())))
    if kpi.output == "change":
        return double(exp.Sub(this=cur, expression=prev))
    return double(prev)
