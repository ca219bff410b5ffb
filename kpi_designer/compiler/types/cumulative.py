"""``cumulative``: a calendar of the range's periods (``core.dim_date``), each with the first day
of its window, joined to the input's rows (additive ones first summed per day): exact for any
aggregation. A distinct count instead counts a bit mask of months per value
(:func:`month_masks`) or adds and takes back each value's span (:func:`distinct_spans`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlglot import exp

from kpi_designer import model as m
from kpi_designer.compiler.dates import (
    GRAIN_MONTHS,
    month_index,
    offset_parts,
    period_end,
    period_start,
    shift,
)
from kpi_designer.compiler.query import Query
from kpi_designer.compiler.rollups import (
    ROLLED,
    Read,
    Rollup,
    measure_key,
    rows_passing,
)
from kpi_designer.compiler.trees import (
    aggregate,
    as_date,
    cast_to,
    col,
    core_table,
    double,
    ident,
    period_of,
    positions,
    sql_interval,
    trunc,
)
from kpi_designer.semantic import FACTS

if TYPE_CHECKING:
    from kpi_designer.compiler.builder import Builder


MASK_BITS = 62
"""Months a bit mask of a BIGINT holds, with room for the mask of all of them (2^62 - 1)."""


def cumulative(builder: Builder, kpi: m.Cumulative, query: Query) -> exp.Select:
    source = builder.kpis[kpi.kpi]
    assert isinstance(source, m.Simple)
    measure = source.measure
    spine, first_day = calendar(builder, query, to_date=kpi.to_date, window=kpi.window)
    # rows go into buckets of a day, or of a month where every window starts on a month's
    # first day and every period ends on a month's last: then far fewer rows meet the
    # windows, with the same result (a distinct count too, as a bucket holds distinct values)
    monthly = (
        query.grain in ("month", "quarter", "year", "range")
        and query.end == period_end(query.end, "month")
        and (kpi.window is None or kpi.window.unit == "months")
        and measure.agg in ("sum", "count", "count_distinct", "min", "max")
    )
    if (
        measure.agg == "count_distinct"
        and monthly
        and first_day is not None
        and month_index(query.end) - month_index(first_day) < MASK_BITS  # a bit a month
    ):
        return month_masks(builder, measure, query, spine, first_day)
    daily = buckets(builder, measure, query, first_day, monthly)
    if measure.agg in m.ADDITIVE:
        agg: exp.Expr = exp.Sum(this=col("v", "r"))
    else:
        agg = aggregate(measure.agg, col("v", "r"))
    join = exp.and_(
        exp.LTE(this=col("day", "r"), expression=col("period_end", "c")),
        exp.GTE(this=col("day", "r"), expression=col("window_start", "c"))
        if first_day is not None
        else exp.true(),
        copy=False,
    )
    exact_stops = kpi.window is None or kpi.window.unit in ("days", "weeks") or monthly
    if measure.agg == "count_distinct" and exact_stops:
        return distinct_spans(builder, kpi, query, spine, daily)
    if measure.agg == "count_distinct":
        # a value counts in a period when its last bucket up to the period's end lies in the
        # window: each slice and value meets a period once, so a plain count is the distinct
        # count, without a distinct over every (period, value) the windows repeat
        daily = exp.select(
            *(col(k) for k in ["day", *query.by, "v"]),
            exp.alias_(next_bucket(query.by), ident("next_day"), copy=False),
        ).from_(daily.subquery(ident("u"), copy=False), copy=False)
        latest = exp.or_(
            exp.Is(this=col("next_day", "r"), expression=exp.null()),
            exp.GT(this=col("next_day", "r"), expression=col("period_end", "c")),
            copy=False,
        )
        join = exp.and_(join, exp.paren(latest, copy=False))
        agg = exp.Count(this=col("v", "r"))
    select = (
        exp.select(
            col("period", "c"),
            *(col(d, "r") for d in query.by),
            exp.alias_(double(agg), ident("value"), copy=False),
        )
        .from_(spine.subquery(ident("c"), copy=False), copy=False)
        .join(daily.subquery(ident("r"), copy=False), on=join, copy=False)
        .group_by(*positions(1 + len(query.by)), copy=False)
    )
    return select


def distinct_spans(
    builder: Builder, kpi: m.Cumulative, query: Query, spine: exp.Select, buckets: exp.Select
) -> exp.Select:
    """A cumulative distinct count from each value's span: a value of a bucket counts in
    every period whose last day ``e`` falls from the bucket's day until its next bucket or
    until the window no longer reaches back to it, whichever is first (``e < day + N``
    for a window of N days, or N months from a month's first day; ``e`` in the same
    year, quarter or month for to-date; never for a running count). Each span adds 1 at its
    start and takes it back at its stop; a period's count is the sum of what its slice's
    spans added and took back up to its last day. Summed per slice and day first, so the
    periods meet a few rows per slice instead of every value. Not for day buckets in a
    window of months: months from a day are not invertible (Jan 31 + 1 month = Feb 28)."""
    following = next_bucket(query.by)
    day = col("day")
    reach: exp.Expr | None
    if kpi.to_date is not None:
        trunc = exp.func("date_trunc", exp.Literal.string(kpi.to_date), day)
        # to-date grains are month, quarter and year (the loader allows no other)
        length = sql_interval(0, GRAIN_MONTHS[kpi.to_date])
        reach = as_date(exp.Add(this=trunc, expression=length))
    elif kpi.window is not None:
        days, months = offset_parts(kpi.window, "day")
        reach = as_date(exp.Add(this=day.copy(), expression=sql_interval(days, months)))
    else:
        reach = None
    stop: exp.Expr = following
    if reach is not None:  # LEAST skips a NULL, in DuckDB and PostgreSQL alike
        stop = exp.Least(this=following, expressions=[reach], ignore_nulls=True)
    values = builder.name("values")
    spans = exp.select(
        *(col(k) for k in ["day", *query.by, "v"]),
        exp.alias_(stop, ident("stop"), copy=False),
    ).from_(buckets.subquery(ident("u"), copy=False), copy=False)
    slices = [col(d) for d in query.by]

    def changes(at: str, sign: int) -> exp.Select:
        counted: exp.Expr = exp.Count(this=col("v"))
        rows: exp.Expr = exp.Count(this=exp.Star())
        if sign < 0:
            counted, rows = exp.Neg(this=counted), exp.Neg(this=rows)
        select = exp.select(
            exp.alias_(col(at), ident("t"), copy=False),
            *(s.copy() for s in slices),
            exp.alias_(counted, ident("counted"), copy=False),
            exp.alias_(rows, ident("rows"), copy=False),
        ).from_(exp.table_(ident(values)), copy=False)
        if sign < 0:
            select = select.where(
                exp.not_(exp.Is(this=col("stop"), expression=exp.null()), copy=False),
                copy=False,
            )
        return select.group_by(*positions(1 + len(slices)), copy=False)

    deltas = exp.union(changes("day", 1), changes("stop", -1), distinct=False)
    in_force = exp.LTE(this=col("t", "r"), expression=col("period_end", "c"))
    select = (
        exp.select(
            col("period", "c"),
            *(col(d, "r") for d in query.by),
            exp.alias_(double(exp.Sum(this=col("counted", "r"))), ident("value"), copy=False),
        )
        .from_(spine.subquery(ident("c"), copy=False), copy=False)
        .join(deltas.subquery(ident("r"), copy=False), on=in_force, copy=False)
        .group_by(*positions(1 + len(query.by)), copy=False)
        .having(exp.GT(this=exp.Sum(this=col("rows", "r")), expression=exp.Literal.number(0)))
    )
    return select.with_(ident(values), as_=spans, materialized=True, copy=False)


def month_masks(
    builder: Builder, measure: m.Measure, query: Query, spine: exp.Select, first: dt.date
) -> exp.Select:
    """A cumulative distinct count in month buckets over at most :data:`MASK_BITS`
    months: each slice and value gets one number whose bit k says it occurs in the k-th
    month from ``first``'s; a period counts the values with a bit set among its window's
    months. One grouping of the rows by slice and value, no sort and no span."""
    base = builder.param("base", month_index(first))

    def bit(day: exp.Expr) -> exp.Expr:
        index = exp.Add(
            this=exp.Mul(
                this=exp.Extract(this=exp.var("YEAR"), expression=day),
                expression=exp.Literal.number(12),
            ),
            expression=exp.Extract(this=exp.var("MONTH"), expression=day.copy()),
        )
        return cast_to(exp.Sub(this=index, expression=base.copy()), "INT")

    def two_to(power: exp.Expr) -> exp.Expr:
        one = cast_to(exp.Literal.number(1), "BIGINT")
        return exp.paren(exp.BitwiseLeftShift(this=one, expression=exp.paren(power)))

    def ones(count: exp.Expr) -> exp.Expr:  # 2^count - 1: the lowest ``count`` bits
        return exp.paren(exp.Sub(this=two_to(count), expression=exp.Literal.number(1)))

    rows = buckets(builder, measure, query, first, monthly=True, distinct=False)
    slices = [col(d) for d in query.by]
    masks = (
        exp.select(
            *slices,
            col("v"),
            exp.alias_(exp.BitwiseOrAgg(this=two_to(bit(col("day")))), ident("months"), copy=False),
        )
        .from_(rows.subquery(ident("u"), copy=False), copy=False)
        .group_by(*positions(len(slices) + 1), copy=False)
    )
    start, end = bit(col("window_start")), bit(col("period_end"))
    width = exp.Add(this=exp.Sub(this=end, expression=start), expression=exp.Literal.number(1))
    window = exp.BitwiseLeftShift(this=ones(width), expression=start.copy())
    periods = exp.select(col("period"), exp.alias_(window, ident("window"), copy=False)).from_(
        spine.subquery(ident("s"), copy=False), copy=False
    )
    met = exp.NEQ(
        this=exp.paren(exp.BitwiseAnd(this=col("months", "r"), expression=col("window", "c"))),
        expression=exp.Literal.number(0),
    )
    return (
        exp.select(
            col("period", "c"),
            *(col(d, "r") for d in query.by),
            exp.alias_(double(exp.Count(this=col("v", "r"))), ident("value"), copy=False),
        )
        .from_(periods.subquery(ident("c"), copy=False), copy=False)
        .join(masks.subquery(ident("r"), copy=False), on=met, copy=False)
        .group_by(*positions(1 + len(query.by)), copy=False)
    )


def buckets(
    builder: Builder,
    measure: m.Measure,
    query: Query,
    first: dt.date | None,
    monthly: bool,
    *,
    distinct: bool = True,
) -> exp.Select:
    """A cumulative KPI's rows from ``first`` (``None``: from the first row) to the range's
    end, in buckets of a day (a month when ``monthly``): ``day`` (the bucket's first day),
    the ``by`` columns and ``v``. Additive measures and extremes are one row per bucket and
    slice, the bucket's total or extreme; other measures one per bucket, slice and value
    (every value, for a median or an average)."""
    fact, time = measure.fact, measure.time or FACTS[measure.fact].time
    if measure.agg in ROLLED:
        rows = rows_passing(measure.fact, measure.filters)
        wanted = {measure_key(measure): measure, measure_key(rows): rows}
        rollup = builder.rollup_for(Read(fact, time, wanted, first, query.end), query)
        if rollup is not None:
            return buckets_from_rollup(builder, rollup, measure, rows, query, first, monthly)
    select, cols = builder.rows(fact, time, query, bounded=first is not None, lower=first)
    if measure.filters:
        select = select.where(*map(cols.rewrite, measure.filters), copy=False)
    bucket = cols.period("month") if monthly else cols.local_day()
    keys = [exp.alias_(bucket, ident("day"), copy=False)]
    keys += [exp.alias_(cols.dimension(d), ident(d), copy=False) for d in query.by]
    if measure.agg in m.ADDITIVE:
        v = exp.alias_(cols.aggregate(measure), ident("v"), copy=False)
        select = select.select(*keys, v, copy=False).group_by(*positions(len(keys)), copy=False)
    else:
        value = cols.rewrite(measure.expr) if measure.expr is not None else exp.Literal.number(1)
        v = exp.alias_(value, ident("v"), copy=False)
        select = select.select(*keys, v, copy=False)
        if distinct and measure.agg in ("count_distinct", "min", "max"):
            # one row per bucket and value is all these need
            select = select.distinct(copy=False)
    return cols.finish(select)


def buckets_from_rollup(
    builder: Builder,
    rollup: Rollup,
    measure: m.Measure,
    rows: m.Measure,
    query: Query,
    first: dt.date | None,
    monthly: bool,
) -> exp.Select:
    """:meth:`buckets` from ``rollup``: its days where the fact has rows (``rows``: the
    count of them), combined per month when ``monthly``."""
    day: exp.Expr = col("day")
    value: exp.Expr = col(rollup.columns[measure_key(measure)])
    last = builder.param("end", query.end)
    within = (
        exp.Between(this=day.copy(), low=builder.param("start", first), high=last)
        if first is not None
        else exp.LTE(this=day.copy(), expression=last)
    )
    present = exp.GT(this=col(rollup.columns[measure_key(rows)]), expression=exp.Literal.number(0))
    if monthly:
        day = trunc("month", day)
        value = aggregate(ROLLED[measure.agg], value)
    select = (
        exp.select(
            exp.alias_(day, ident("day"), copy=False),
            *(col(d) for d in query.by),
            exp.alias_(value, ident("v"), copy=False),
        )
        .from_(rollup.source(), copy=False)
        .where(within, present, copy=False)
    )
    if monthly:
        select = select.group_by(*positions(1 + len(query.by)), copy=False)
    return select


def calendar(
    builder: Builder, query: Query, *, to_date: m.PeriodGrain | None, window: m.Span | None
) -> tuple[exp.Select, dt.date | None]:
    """The periods of the range from ``core.dim_date`` (at ``range`` grain one, the range),
    each with its last day (clipped to the range) and the first day of its window; and the
    earliest such day (``None`` for a running total, which has no first day)."""
    day = col("calendar_date", "d")
    period = period_of(day, query.grain, builder.first_day(query))
    end = exp.Max(this=day.copy())
    # the earliest last day of a period: at range grain the range's one period ends last
    earliest_end = query.end if query.grain == "range" else query.start
    if to_date is not None:
        start: exp.Expr = trunc(to_date, end.copy())
        first: dt.date | None = period_start(earliest_end, to_date)
    elif window is not None:
        # the window ends on the period's last day: (last day + 1) - N units is its first
        days, months = offset_parts(window, "day")
        after = exp.Add(this=end.copy(), expression=sql_interval(1, 0))
        start = as_date(exp.Sub(this=after, expression=sql_interval(days, months)))
        first = shift(earliest_end + dt.timedelta(days=1), window, "day", -1)
    else:
        start = exp.null()
        first = None
    spine = (
        exp.select(
            exp.alias_(period, ident("period"), copy=False),
            exp.alias_(end, ident("period_end"), copy=False),
            exp.alias_(start, ident("window_start"), copy=False),
        )
        .from_(core_table("dim_date", "d"), copy=False)
        .where(
            exp.Between(
                this=day.copy(),
                low=builder.param("start", query.start),
                high=builder.param("end", query.end),
            ),
            copy=False,
        )
        .group_by(exp.Literal.number(1), copy=False)
    )
    return spine, first


def next_bucket(by: Sequence[str]) -> exp.Window:
    """Each slice's value's next bucket (``day``), by time: ``NULL`` for its last."""
    return exp.Window(
        this=exp.func("lead", col("day")),
        partition_by=[*(col(d) for d in by), col("v")],
        order=exp.Order(expressions=[exp.Ordered(this=col("day"))]),
    )
