"""``conversion``: each base event in the range, and whether the same entity has a conversion
event within the window after it (times compared in UTC); within one fact's same rows, from each
entity's next and previous row (:func:`repeats`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlglot import exp

from kpi_designer import model as m
from kpi_designer.compiler.columns import Columns
from kpi_designer.compiler.dates import offset_parts, shift
from kpi_designer.compiler.query import Query
from kpi_designer.compiler.trees import (
    cast_to,
    col,
    expr_key,
    ident,
    positions,
    share_of,
    sql_interval,
)
from kpi_designer.semantic import FACTS

if TYPE_CHECKING:
    from kpi_designer.compiler.builder import Builder


def conversion(builder: Builder, kpi: m.Conversion, query: Query) -> exp.Select:
    if same_events(kpi):
        return repeats(builder, kpi, query)
    base, cols = builder.rows(kpi.base.fact, kpi.base.time, query)
    if kpi.base.filters:
        base = base.where(*map(cols.rewrite, kpi.base.filters), copy=False)
    converted = converts(builder, kpi, cols)
    period = cols.period(query.grain, builder.first_day(query))
    keys = [exp.alias_(period, ident("period"), copy=False)]
    keys += [exp.alias_(cols.dimension(d), ident(d), copy=False) for d in query.by]
    share = share_of(converted)
    select = base.select(*keys, exp.alias_(share, ident("value"), copy=False), copy=False)
    select = select.group_by(*positions(len(keys)), copy=False)
    return cols.finish(select)


def converts(builder: Builder, kpi: m.Conversion, cols: Columns) -> exp.Exists:
    """Whether a base event (a row of ``cols``) converts: the same entity has a conversion
    event within the window after it (times compared in UTC), another row when both are of
    one fact. Conversion events are never scoped nor filtered by the request."""
    later = FACTS[kpi.conversion.fact]
    conv_cols = Columns(later, kpi.conversion.time or later.time, "c", builder.zones)
    base_time = cast_to(cols.time_column(), "TIMESTAMP")
    conv_time = cast_to(conv_cols.time_column(), "TIMESTAMP")
    days, months = offset_parts(kpi.window, "day")
    matched = [
        exp.EQ(this=conv_cols.reference(kpi.entity), expression=cols.reference(kpi.entity)),
        exp.GTE(this=conv_time, expression=base_time),
        exp.LTE(
            this=conv_time,
            expression=exp.Add(this=base_time, expression=sql_interval(days, months)),
        ),
        *map(conv_cols.rewrite, kpi.conversion.filters),
    ]
    if later.name == kpi.base.fact:
        matched.append(exp.NEQ(this=conv_cols.key(), expression=cols.key()))
    found = (
        exp.select(exp.Literal.number(1))
        .from_(conv_cols.from_table(), copy=False)
        .where(*matched, copy=False)
    )
    return exp.Exists(this=conv_cols.finish(found))


def repeats(builder: Builder, kpi: m.Conversion, query: Query) -> exp.Select:
    """A conversion whose base and conversion events are the same rows (the same fact, time
    and filters: an invoice followed by another of the client's): each row looks at the
    entity's next and previous rows by time, in one ordered pass instead of a lookup per
    row. The rows are those of the events, unscoped, from the range's start to its end plus
    the window; the base rows are those in the range, scope and filters, flagged:
    conversion events are never scoped (as in :meth:`conversion`)."""
    fact = FACTS[kpi.base.fact]
    cols = Columns(fact, kpi.base.time or fact.time, zones=builder.zones)
    is_base = exp.and_(*builder.conditions(cols, query), copy=False)
    days, months = offset_parts(kpi.window, "day")
    last = shift(query.end, kpi.window, "day", 1)
    builder.last_read = max(builder.last_read, last)
    moment = cols.time_column()
    read = [
        *map(cols.rewrite, kpi.base.filters),
        *cols.near(builder.param("start", query.start), builder.param("after", last)),
    ]

    def neighbour(function: str) -> exp.Window:
        return exp.Window(
            this=exp.func(function, moment.copy()),
            partition_by=[cols.reference(kpi.entity)],
            order=exp.Order(expressions=[exp.Ordered(this=moment.copy())]),
        )

    # another row lies within the window when the next one does, or, among rows of one
    # time, when the previous one is at the same time (the last of them has no later twin)
    within = exp.or_(
        exp.LTE(
            this=neighbour("lead"),
            expression=exp.Add(this=moment.copy(), expression=sql_interval(days, months)),
        ),
        exp.EQ(this=neighbour("lag"), expression=moment.copy()),
        copy=False,
    )
    converted = exp.and_(
        exp.not_(exp.Is(this=cols.reference(kpi.entity), expression=exp.null()), copy=False),
        exp.Coalesce(this=exp.paren(within, copy=False), expressions=[exp.false()]),
        copy=False,
    )
    period = cols.period(query.grain, builder.first_day(query))
    keys = [exp.alias_(period, ident("period"), copy=False)]
    keys += [exp.alias_(cols.dimension(d), ident(d), copy=False) for d in query.by]
    events = exp.select(
        *keys,
        exp.alias_(is_base, ident("is_base"), copy=False),
        exp.alias_(converted, ident("converted"), copy=False),
    ).from_(cols.from_table(), copy=False)
    events = cols.finish(events.where(*read, copy=False))
    names = [col(k) for k in ["period", *query.by]]
    return (
        exp.select(*names, exp.alias_(share_of(col("converted")), ident("value"), copy=False))
        .from_(events.subquery(ident("e"), copy=False), copy=False)
        .where(col("is_base"), copy=False)
        .group_by(*(n.copy() for n in names), copy=False)
    )


def same_events(kpi: m.Conversion) -> bool:
    """Whether a conversion's base and conversion events are the same rows."""
    base, later = kpi.base, kpi.conversion
    if base.fact != later.fact:
        return False
    time = FACTS[base.fact].time
    filters = {expr_key(f) for f in base.filters}
    return (base.time or time) == (later.time or time) and filters == {
        expr_key(f) for f in later.filters
    }
