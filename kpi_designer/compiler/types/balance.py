"""``balance``: the state of something at each period's end (semi-additive).

A balance aggregates a fact's rows *in force* at the end of a day D: the last day of each
period, or the range's last day for the period still running at its end. A row is in force
when the local day of its ``from`` column (the fact's time column by default) is D or before,
the local day of its ``until`` column is after D (or ``until`` is NULL: still in force; without
``until``, a row counts for ever from its ``from`` day: stock moves summed into stock on hand),
and its ``when`` conditions hold with ``as_of`` = D. The scope, the filters and the request's
filters apply as for every KPI. Nothing is summed over time: a month's value is the state on
its last day. A slice's value is that of its rows, so a sum's or a count's slices add up to the
total (stock over warehouses), while its periods do not.

The SQL takes one of two forms, which give the same values:

- :func:`in_force`, exact for any aggregation and for ``when``: the calendar of the range's
  periods (:func:`~kpi_designer.compiler.types.cumulative.calendar`, each with its last day
  ``period_end``) joined to the fact's rows in force at that day, grouped by period and slice;
  ``as_of`` is the calendar's ``period_end`` column.
- :func:`running`, for a sum or a count without ``when``, as a person would write it by hand:
  each row adds its value on its ``from`` day and takes it back on its ``until`` day; these
  changes are summed per day and slice first, and a period's value is the sum of its slice's
  changes up to its last day: days × periods instead of rows × periods.

With ``per`` (:func:`counted`), either form is grouped by the ``per`` members as one more slice,
so that it gives each combination's balance; the combinations (those with a row in force) are
then joined to the tables of the ``per`` entities ``having`` names, and counted where they meet
``having`` (:func:`judged`).

Both read the fact's rows from the beginning of time up to the range's end (and two days
more, where a row may still lie on the range's last local day); a row that starts after the
range's end never counts. Only rows near or inside the range are placed on their local day
(:func:`starts`, :func:`stops`): a moment more than a day before the range's first day is before
every period's end in any time zone, and one more than a day after its last day is after every
period's end.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlglot import exp

from kpi_designer import model as m
from kpi_designer.compiler.columns import Columns
from kpi_designer.compiler.query import Query
from kpi_designer.compiler.trees import (
    add_join,
    aggregate,
    col,
    core_table,
    double,
    earliest,
    ident,
    positions,
)
from kpi_designer.compiler.types.cumulative import calendar
from kpi_designer.compiler.zones import moved_day
from kpi_designer.semantic import DIMENSIONS, ENTITIES, FACTS, entity_of, relations

if TYPE_CHECKING:
    from kpi_designer.compiler.builder import Builder


def balance(builder: Builder, kpi: m.Balance, query: Query) -> exp.Select:
    fast = kpi.measure.agg in m.ADDITIVE and due_days(kpi) is not None
    select = (running if fast else in_force)(builder, kpi, query)
    return counted(kpi, query, select) if kpi.per else select


def due_days(kpi: m.Balance) -> list[tuple[exp.Expr, int | None]] | None:
    """The ``when`` conditions as days a row waits for, when each is a day of the row before
    ``as_of`` (``due_on < as_of``, ``CAST(due_at AS DATE) <= as_of``, or turned round), or does
    not read ``as_of`` at all: a row is then in force from the later of its start and those
    days (the day after, for ``<``), so the running form computes it. Each as (the row's day,
    1 for ``<`` else 0), or (the condition, ``None``) for one without ``as_of``; ``None`` when
    a condition is of another shape (the exact form takes it)."""
    out: list[tuple[exp.Expr, int | None]] = []
    for condition in kpi.when:
        for part in condition.flatten() if isinstance(condition, exp.And) else [condition]:
            if not any(c.name == m.AS_OF and not c.table for c in part.find_all(exp.Column)):
                out.append((part, None))
                continue
            found = _due_day(part, kpi)
            if found is None:
                return None
            out.append(found)
    return out


def _due_day(condition: exp.Expr, kpi: m.Balance) -> tuple[exp.Expr, int] | None:
    """``(day, 1)`` for ``day < as_of`` (or ``as_of > day``), ``(day, 0)`` for ``<=``
    (``>=``); ``day`` a DATE of the row that does not read ``as_of``."""
    if isinstance(condition, exp.GT | exp.GTE):  # as_of > day: day < as_of
        left, right = condition.expression, condition.this
        strict = isinstance(condition, exp.GT)
    elif isinstance(condition, exp.LT | exp.LTE):
        left, right = condition.this, condition.expression
        strict = isinstance(condition, exp.LT)
    else:
        return None
    if not (isinstance(right, exp.Column) and not right.table and right.name == m.AS_OF):
        return None
    if any(c.name == m.AS_OF and not c.table for c in left.find_all(exp.Column)):
        return None
    if not _is_date(left, kpi):
        return None
    return left, 1 if strict else 0


def _is_date(day: exp.Expr, kpi: m.Balance) -> bool:
    """Whether ``day`` is a ``DATE``: a cast to one, or a date column of the fact (its own or
    its parent's) or of a related table (``invoice.due_on``, ``last_payment.paid_on``)."""
    if isinstance(day, exp.Cast):
        return day.to.this == exp.DataType.Type.DATE
    if not isinstance(day, exp.Column):
        return False
    fact = FACTS[kpi.measure.fact]
    if not day.table:
        return fact.columns().get(day.name) == "DATE"
    related = relations(fact).get(day.table)
    return related is not None and related.columns().get(day.name) == "DATE"


def in_force(builder: Builder, kpi: m.Balance, query: Query) -> exp.Select:
    """The balance from the calendar of periods joined to the rows in force at each period's
    last day: exact for any aggregation, and for ``when`` (``as_of`` is that day). Each row
    is read once, with its days, slices, value and the columns ``when`` reads (``w_<i>``)."""
    spine, _ = calendar(builder, query, to_date=None, window=None)
    select, cols, started, stopped = read(builder, kpi, query)
    measure = kpi.measure
    outputs = [exp.alias_(started, ident("day"), copy=False)]
    if stopped is not None:
        outputs.append(exp.alias_(stopped, ident("stop"), copy=False))
    outputs += [exp.alias_(cols.dimension(d), ident(d), copy=False) for d in query.by]
    outputs += [exp.alias_(k, ident(n), copy=False) for n, k in per_keys(cols, kpi).items()]
    if measure.expr is not None:
        outputs.append(exp.alias_(cols.rewrite(measure.expr), ident("v"), copy=False))
    carried: dict[str, str] = {}  # a column a `when` condition reads → its name in the rows

    def carry(node: exp.Expr) -> exp.Expr:
        if not isinstance(node, exp.Column) or not node.table:
            return node
        key = node.sql()
        if key not in carried:
            carried[key] = f"w_{len(carried)}"
            outputs.append(exp.alias_(node.copy(), ident(carried[key]), copy=False))
        return col(carried[key], "r")

    when = [cols.rewrite(condition).transform(carry) for condition in kpi.when]
    stop = col("stop", "r") if stopped is not None else None
    held = in_force_at(col("period_end", "c"), col("day", "r"), stop, when)
    rows = cols.finish(select.select(*outputs, copy=False))
    value = (
        aggregate(measure.agg, col("v", "r"))
        if measure.expr is not None
        else exp.Count(this=exp.Star())
    )
    slices = [*query.by, *per_columns(kpi)]
    return (
        exp.select(
            col("period", "c"),
            *(col(d, "r") for d in slices),
            exp.alias_(double(value), ident("value"), copy=False),
        )
        .from_(spine.subquery(ident("c"), copy=False), copy=False)
        .join(rows.subquery(ident("r"), copy=False), on=exp.and_(*held), copy=False)
        .group_by(*positions(1 + len(slices)), copy=False)
    )


def running(builder: Builder, kpi: m.Balance, query: Query) -> exp.Select:
    """A sum or a count as a running sum of changes: each row's value added on the day it
    starts counting and taken back on the day it stops, summed per day and slice, then up to
    each period's last day. ``when`` conditions of a day before ``as_of`` (:func:`due_days`)
    move the day a row starts counting to the later of the two; a row without that day never
    counts. A period and slice is listed where some row is
    in force (the rows added minus the rows taken back); a sum of no values is no value, as
    in :func:`in_force`. A row that stops on or before the day it starts is never in force,
    and left out."""
    spine, _ = calendar(builder, query, to_date=None, window=None)
    select, cols, started, stopped = read(builder, kpi, query)
    for day, after in due_days(kpi) or []:  # in force from the later of start and due day
        due = cols.rewrite(day)
        if after is None:  # a condition on the row alone
            select = select.where(due)
            continue
        if after:
            due = exp.Add(this=due, expression=exp.Literal.number(after))
        select = select.where(exp.not_(exp.Is(this=due.copy(), expression=exp.null())))
        later = exp.GT(this=due.copy(), expression=started.copy())
        started = exp.Case(ifs=[exp.If(this=later, true=due)], default=started)
    measure = kpi.measure
    named = [*query.by, *per_columns(kpi)]  # a per combination is one more slice
    slices = [col(d) for d in named]
    days = [exp.alias_(started, ident("day"), copy=False)]
    if stopped is not None:
        days.append(exp.alias_(stopped, ident("stop"), copy=False))
    outputs = [
        exp.alias_(cols.aggregate(measure), ident("v"), copy=False),
        exp.alias_(exp.Count(this=exp.Star()), ident("n"), copy=False),
    ]
    summed = measure.agg == "sum" and measure.expr is not None
    if summed:  # how many rows have a value to sum
        assert measure.expr is not None
        counted = exp.Count(this=cols.rewrite(measure.expr))
        outputs.append(exp.alias_(counted, ident("valued"), copy=False))
    keys = [*days, *(exp.alias_(cols.dimension(d), ident(d), copy=False) for d in query.by)]
    keys += [exp.alias_(k, ident(n), copy=False) for n, k in per_keys(cols, kpi).items()]
    spans = select.select(*keys, *outputs, copy=False)
    spans = cols.finish(spans.group_by(*positions(len(keys)), copy=False))
    parts = ["v", "n", *(["valued"] if summed else [])]
    changes: exp.Query = spans
    name = None
    if stopped is not None:  # each span's parts added on its first day, taken back on its last
        name = builder.name("spans")
        stop, day = col("stop"), col("day")
        ends = exp.GT(this=stop, expression=day)

        def moves(on: exp.Column, sign: int, kept: exp.Expr) -> exp.Select:
            sums: list[exp.Expr] = []
            for part in parts:
                total: exp.Expr = exp.Sum(this=col(part))
                total = total if sign > 0 else exp.Neg(this=total)
                sums.append(exp.alias_(total, ident(part), copy=False))
            return (
                exp.select(exp.alias_(on, ident("day"), copy=False), *slices, *sums)
                .from_(exp.table_(ident(name)), copy=False)
                .where(kept, copy=False)
                .group_by(*positions(1 + len(slices)), copy=False)
            )

        still = exp.or_(exp.Is(this=stop.copy(), expression=exp.null()), ends.copy(), copy=False)
        changes = exp.union(
            moves(day.copy(), 1, still), moves(stop.copy(), -1, ends), distinct=False
        )
    total: exp.Expr = exp.Sum(this=col("v", "r"))
    if summed:
        valued = exp.GT(this=exp.Sum(this=col("valued", "r")), expression=exp.Literal.number(0))
        total = exp.Case(ifs=[exp.If(this=valued, true=total)])
    select = (
        exp.select(
            col("period", "c"),
            *(col(d, "r") for d in named),
            exp.alias_(double(total), ident("value"), copy=False),
        )
        .from_(spine.subquery(ident("c"), copy=False), copy=False)
        .join(
            changes.subquery(ident("r"), copy=False),
            on=exp.LTE(this=col("day", "r"), expression=col("period_end", "c")),
            copy=False,
        )
        .group_by(*positions(1 + len(named)), copy=False)
        .having(exp.GT(this=exp.Sum(this=col("n", "r")), expression=exp.Literal.number(0)))
    )
    if name is not None:
        select = select.with_(ident(name), as_=spans, materialized=True, copy=False)
    return select


def read(
    builder: Builder, kpi: m.Balance, query: Query
) -> tuple[exp.Select, Columns, exp.Expr, exp.Expr | None]:
    """The fact's rows that may be in force at a period's end of ``query``: scoped and
    filtered, from the beginning of time to the range's end (instead of the range's condition);
    with the day each starts counting and the day it stops (``None`` without ``until``)."""
    measure = kpi.measure
    time = measure.time or FACTS[measure.fact].time
    kept = builder.first_read
    select, cols = builder.rows(measure.fact, time, query, bounded=False)
    # only rows from a day before the range on are placed on their local day (starts, stops):
    # the table of local days need not cover the time before it
    builder.first_read = earliest([kept, query.start])
    conditions = [cols.rewrite(f) for f in measure.filters]
    read_from, started = starts(builder, cols, time, query)
    conditions += read_from
    stopped = None
    if kpi.until is not None:
        read_until, stopped = stops(builder, cols, kpi.until, query)
        conditions += read_until
    return select.where(*conditions, copy=False), cols, started, stopped


def starts(
    builder: Builder, cols: Columns, name: str, query: Query
) -> tuple[list[exp.Expr], exp.Expr]:
    """For ``from`` (the column ``name``): the condition for a row that may start counting up
    to the range's end, and the day it starts. That is its local day; a row stored more than a
    day before the range starts (before every period's end in any time zone) takes the day
    before the range instead: old rows fall on one day, and are not looked up. The condition
    is a plain bound the engine skips whole blocks of rows by: rows stored up to two days after
    the range's end are read (one may lie on its last local day), and those on a later local
    day meet no period's end."""
    first = builder.param("start", query.start)
    last = builder.param("end", query.end)
    before = builder.param("before", query.start - dt.timedelta(days=1))
    moment = cols.column(name)
    if cols.columns[name] == "DATE":
        early: exp.Expr = exp.LT(this=moment, expression=first)
        started = exp.Case(ifs=[exp.If(this=early, true=before)], default=moment.copy())
        return [exp.LTE(this=moment.copy(), expression=last)], started
    early = exp.LT(this=moment, expression=moved_day(first, -1))
    started = exp.Case(ifs=[exp.If(this=early, true=before)], default=cols.local_day(name))
    return [exp.LT(this=moment.copy(), expression=moved_day(last, 2))], started


def stops(
    builder: Builder, cols: Columns, name: str, query: Query
) -> tuple[list[exp.Expr], exp.Expr]:
    """For ``until`` (the column ``name``): the condition leaving out the rows that stopped
    counting more than a day before the range starts (in force at no period's end), and the
    day a row stops. That is its local day; NULL when ``until`` is (still in force), or when
    it lies more than a day after the range's end (after every period's end in any time
    zone)."""
    first = builder.param("start", query.start)
    last = builder.param("end", query.end)
    moment = cols.column(name)
    if cols.columns[name] == "DATE":
        since: exp.Expr = first
        late: exp.Expr = exp.GT(this=moment.copy(), expression=last)
        day: exp.Expr = moment.copy()
    else:
        since = moved_day(first, -1)
        late = exp.GTE(this=moment.copy(), expression=moved_day(last, 2))
        day = cols.local_day(name)
    kept = exp.or_(
        exp.Is(this=moment, expression=exp.null()),
        exp.GTE(this=moment.copy(), expression=since),
        copy=False,
    )
    stopped = exp.Case(ifs=[exp.If(this=late, true=exp.null())], default=day)
    return [exp.paren(kept, copy=False)], stopped


def in_force_at(
    day: exp.Expr, started: exp.Expr, stopped: exp.Expr | None, when: Sequence[exp.Expr]
) -> list[exp.Expr]:
    """The conditions a row meets to be in force at the end of ``day``: it started counting
    on ``day`` or before, it has not stopped (``stopped`` is NULL or after ``day``; ``None``
    without ``until``), and every ``when`` condition holds with ``as_of`` = ``day``."""
    held: list[exp.Expr] = [exp.LTE(this=started, expression=day)]
    if stopped is not None:
        still = exp.or_(
            exp.Is(this=stopped, expression=exp.null()),
            exp.GT(this=stopped.copy(), expression=day.copy()),
            copy=False,
        )
        held.append(exp.paren(still, copy=False))
    return held + [as_of(condition, day) for condition in when]


def as_of(condition: exp.Expr, day: exp.Expr) -> exp.Expr:
    """A ``when`` condition with ``as_of`` bound to ``day`` (the period's last day)."""

    def bind(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Column) and not node.table and node.name == m.AS_OF:
            return day.copy()
        return node

    return condition.transform(bind)


# -- per entity: how many combinations' balances meet a condition -------------------------------


def per_columns(kpi: m.Balance) -> list[str]:
    """The names of the ``per`` keys' columns in the rows of each combination's balance."""
    return [f"per_{i}" for i in range(len(kpi.per))]


def per_keys(cols: Columns, kpi: m.Balance) -> dict[str, exp.Expr]:
    """Column name → the row's member of each ``per`` name: a dimension as slices take it (a
    duplicate client as its master), an entity the fact reaches by its reference (a payment's
    invoice), or the fact's own entity by its key (an invoice of the invoices)."""
    fact = cols.fact
    keys: dict[str, exp.Expr] = {}
    for name, column in zip(kpi.per, per_columns(kpi), strict=True):
        if name in fact.dimensions():
            keys[column] = cols.dimension(name)
        elif name == entity_of(fact):
            keys[column] = cols.key()
        else:
            keys[column] = cols.reference(name)
    return keys


def counted(kpi: m.Balance, query: Query, combinations: exp.Select) -> exp.Select:
    """The number of ``per`` combinations meeting ``having`` by period and slice, from
    ``combinations``: each combination's balance by period, slice and ``per`` keys (only
    those with a row in force). A period and slice is listed where some combination is, with
    0 where none meets ``having``."""
    select, having, _ = judged(kpi, combinations)
    number: exp.Expr = exp.Count(this=exp.Star())
    if having is not None:
        number = exp.Filter(this=number, expression=exp.Where(this=having))
    return select.select(
        col("period", "g"),
        *(col(d, "g") for d in query.by),
        exp.alias_(double(number), ident("value"), copy=False),
        copy=False,
    ).group_by(*positions(1 + len(query.by)), copy=False)


def judged(
    kpi: m.Balance, combinations: exp.Select
) -> tuple[exp.Select, exp.Expr | None, dict[str, exp.Expr]]:
    """``SELECT … FROM`` ``combinations`` (alias ``g``: a ``value`` and the ``per`` keys'
    columns) joined to the tables of the ``per`` entities ``having`` names, by their keys;
    ``having`` over those (``None`` without one); and the columns it names beside ``value``
    and the ``per`` names, by the name written (``product.min_stock_qty``), to show them."""
    select = exp.select().from_(combinations.subquery(ident("g"), copy=False), copy=False)
    if kpi.having is None:
        return select, None, {}
    keys = dict(zip(kpi.per, per_columns(kpi), strict=True))
    joined: set[str] = set()
    shown: dict[str, exp.Expr] = {}

    def table_of(entity: str) -> str:
        alias = f"e_{entity}"
        if entity not in joined:
            joined.add(entity)
            target = ENTITIES[entity]
            on = exp.EQ(this=col(target.key, alias), expression=col(keys[entity], "g"))
            add_join(select, core_table(target.table, alias), on=on, side="LEFT")
        return alias

    def resolve(node: exp.Expr) -> exp.Expr:
        if not isinstance(node, exp.Column):
            return node
        if node.table:
            found = col(node.name, table_of(node.table))
            shown[f"{node.table}.{node.name}"] = found
        elif node.name == m.VALUE:
            return col("value", "g")
        elif node.name in keys:
            return col(keys[node.name], "g")
        else:  # a dimension of a per entity's table (product_category when per product)
            dimension = DIMENSIONS[node.name]
            found = col(dimension.column, table_of(dimension.entity))
            shown[node.name] = found
        return found.copy()

    having = kpi.having.transform(resolve)
    return select, having, shown
