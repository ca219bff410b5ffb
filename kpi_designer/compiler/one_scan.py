"""KPIs of one fact and time column computed in one pass over the fact: simple KPIs, ratios of
two of them, and period-over-period KPIs of those over whole periods. :func:`scan_of` says which
KPIs can share a pass; :func:`one_scan` builds it, each aggregate with its own ``FILTER``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, cast

from sqlglot import exp

from kpi_designer import model as m
from kpi_designer.compiler.dates import offset_parts, period_start
from kpi_designer.compiler.query import Query
from kpi_designer.compiler.rollups import rows_passing
from kpi_designer.compiler.trees import add_join, col, ident, meets, nullif_zero, sql_interval
from kpi_designer.compiler.types.period_over_period import pop_offset, pop_value
from kpi_designer.loader import with_filters
from kpi_designer.semantic import FACTS

if TYPE_CHECKING:
    from kpi_designer.compiler.builder import Builder


def scan_of(
    kpi: m.Kpi, kpis: Mapping[str, m.Kpi], query: Query | None = None
) -> tuple[str, str] | None:
    """(fact, time column) when ``kpi`` is computed by aggregating rows of one fact in one pass:
    a simple KPI, or a ratio of two simple KPIs of the same fact and time; for ``query``, also
    a period-over-period KPI of one of those compared over whole periods from a period's first
    day (the earlier periods are then more rows of the same pass). KPIs with the same scan can
    be computed together (:func:`compile_scan`)."""
    if isinstance(kpi, m.PeriodOverPeriod):
        source = kpis.get(kpi.kpi)
        # at range grain the earlier range is no period of one range with the current one
        whole = (
            query is not None
            and query.grain != "range"
            and query.start == period_start(query.start, query.grain)
        )
        if source is None or kpi.like_for_like or not whole:
            return None
        return None if isinstance(source, m.PeriodOverPeriod) else scan_of(source, kpis)
    if isinstance(kpi, m.Simple):
        return kpi.measure.fact, kpi.measure.time or FACTS[kpi.measure.fact].time
    if isinstance(kpi, m.Ratio):
        num, den = kpis.get(kpi.numerator.kpi), kpis.get(kpi.denominator.kpi)
        if isinstance(num, m.Simple) and isinstance(den, m.Simple):
            a, b = scan_of(num, kpis), scan_of(den, kpis)
            if a == b:
                return a
    return None


def one_scan(builder: Builder, kpis: Sequence[m.Kpi], query: Query) -> exp.Select:
    """Several KPIs of one :func:`scan_of` in one pass over the fact: ``value_<i>`` and
    ``present_<i>`` per KPI, in order. A simple KPI is present in a period and slice where
    a row passes its filter, a ratio where its numerator or its denominator has a row (as
    a ratio across two facts is), a period-over-period KPI where its KPI is: the rows each
    has when computed alone. Period-over-period KPIs widen the pass to the earlier periods
    they compare with, and meet them as :meth:`period_over_period` does."""
    pops = [k for k in kpis if isinstance(k, m.PeriodOverPeriod)]
    measured: list[m.Kpi] = [k for k in kpis if not isinstance(k, m.PeriodOverPeriod)]
    for pop in pops:
        if all(k.id != pop.kpi for k in measured):
            measured.append(builder.kpis[pop.kpi])
    column = {k.id: j for j, k in enumerate(measured)}
    wide = query
    for pop in pops:
        earlier = query.moved(pop_offset(pop), whole_periods=True)
        wide = replace(wide, start=min(wide.start, earlier.start))
    grouped = grouped_kpis(builder, measured, wide)
    if not pops:
        if len(kpis) == 1:  # as one KPI: the frame every type returns
            return (
                exp.select(
                    *(col(k, "s") for k in ["period", *query.by]),
                    exp.alias_(col("value_0", "s"), ident("value"), copy=False),
                )
                .from_(grouped.subquery(ident("s"), copy=False), copy=False)
                .where(col("present_0", "s"), copy=False)
            )
        return grouped
    name = builder.name("scan")
    select = exp.select(*(col(k, "g") for k in ["period", *query.by])).from_(
        exp.table_(ident(name), alias=ident("g")), copy=False
    )
    joined: dict[tuple[int, int], str] = {}
    for i, kpi in enumerate(kpis):
        if not isinstance(kpi, m.PeriodOverPeriod):
            j = column[kpi.id]
            value: exp.Expr = col(f"value_{j}", "g")
            present: exp.Expr = col(f"present_{j}", "g")
        else:
            j = column[kpi.kpi]
            interval = offset_parts(pop_offset(kpi), query.grain, query.days)
            if interval not in joined:
                joined[interval] = alias = f"p{len(joined)}"
                on = meets("g", alias, query.by, sql_interval(*interval))
                past = exp.table_(ident(name), alias=ident(alias))
                select = add_join(select, past, on=on, side="LEFT")
            source = builder.kpis[kpi.kpi]
            value = pop_value(
                kpi, col(f"value_{j}", "g"), col(f"value_{j}", joined[interval]), source
            )
            present = col(f"present_{j}", "g")
        select = select.select(
            exp.alias_(value, ident(f"value_{i}"), copy=False),
            exp.alias_(present, ident(f"present_{i}"), copy=False),
            copy=False,
        )
    select = select.where(
        exp.GTE(this=col("period", "g"), expression=builder.param("start", query.start)),
        copy=False,
    )
    return select.with_(ident(name), as_=grouped, materialized=True, copy=False)


def grouped_kpis(builder: Builder, kpis: Sequence[m.Kpi], query: Query) -> exp.Select:
    """Simple and ratio KPIs of one fact by period and slice, in one pass: ``period``, the
    ``by`` columns, then ``value_<j>`` and ``present_<j>`` per KPI."""
    measures: list[tuple[str, m.Measure]] = []
    outputs: list[exp.Expr] = []
    for i, kpi in enumerate(kpis):
        if isinstance(kpi, m.Simple):
            rows = rows_passing(kpi.measure.fact, kpi.measure.filters)
            measures += [(f"v{i}", kpi.measure), (f"c{i}", rows)]
            value: exp.Expr = col(f"v{i}")
            present: exp.Expr = exp.GT(this=col(f"c{i}"), expression=exp.Literal.number(0))
        else:
            assert isinstance(kpi, m.Ratio)
            num, den = builder.kpis[kpi.numerator.kpi], builder.kpis[kpi.denominator.kpi]
            assert isinstance(num, m.Simple) and isinstance(den, m.Simple)
            a = with_filters(num, kpi.numerator.filters).measure
            b = with_filters(den, kpi.denominator.filters).measure
            measures += [
                (f"n{i}", a),
                (f"d{i}", b),
                (f"cn{i}", rows_passing(a.fact, a.filters)),
                (f"cd{i}", rows_passing(b.fact, b.filters)),
            ]
            top: exp.Expr = col(f"n{i}")
            if num.additive:
                top = exp.Coalesce(this=top, expressions=[exp.Literal.number(0)])
            value = exp.Div(this=top, expression=nullif_zero(col(f"d{i}")))
            present = exp.or_(
                exp.GT(this=col(f"cn{i}"), expression=exp.Literal.number(0)),
                exp.GT(this=col(f"cd{i}"), expression=exp.Literal.number(0)),
                copy=False,
            )
        outputs += [
            exp.alias_(value, ident(f"value_{i}"), copy=False),
            exp.alias_(present, ident(f"present_{i}"), copy=False),
        ]
    fact, time = cast(tuple[str, str], scan_of(kpis[0], builder.kpis))
    inner = builder.measures(fact, time, measures, query)
    keys = [col(k) for k in ["period", *query.by]]
    return exp.select(*keys, *outputs).from_(inner.subquery(ident("r"), copy=False), copy=False)
