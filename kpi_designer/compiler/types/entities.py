"""``entities``: new, returning, reactivated and active entities, counted from the rows of their
events facts (:class:`kpi_designer.model.Entities`).

The rows of every events fact go into one list (:func:`event_rows`): the entity (its
dimensions' values, a duplicate client as its master), the row's local day, the slice, and
whether the row passes the request's filters and scope (``counted``). An entity's first and
previous events are found among all its rows, unscoped, up to the range's end (a later row is
never one of them); what a period counts is decided on its counted rows:

- ``new``: each entity's first row (earliest local day, then moment, then events list position
  and key: one row, whatever the ties), where it is counted and in the range;
- ``returning``: the counted rows in the range of entities whose first local day is before the
  row's period (each entity's first day: one grouping);
- ``reactivated``: the counted rows in the range whose entity's latest earlier local day with
  an event is at least the gap before (each entity's days with events, and the one before each:
  one ordered pass over days, not rows);
- ``active``: the counted rows in the range (the only kind that reads the range alone).

Each entity counts once per period and slice. The rows that make entities count
(:func:`counting`) are also the rows behind a value (:mod:`kpi_designer.compiler.behind.entities`),
kept with what names each and why it counts: one reading for both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlglot import exp

from kpi_designer import model as m
from kpi_designer.compiler import zones
from kpi_designer.compiler.columns import Columns
from kpi_designer.compiler.dates import offset_parts
from kpi_designer.compiler.query import Query
from kpi_designer.compiler.trees import (
    add_join,
    as_date,
    cast_to,
    col,
    double,
    ident,
    period_of,
    positions,
    sql_interval,
)
from kpi_designer.semantic import FACTS

if TYPE_CHECKING:
    from kpi_designer.compiler.builder import Builder


def entities(builder: Builder, kpi: m.Entities, query: Query) -> exp.Select:
    met = counting(builder, kpi, query)
    select = count_per_period(builder, met.rows, met.grouped, query, counted=met.counted)
    return met.defined(select)


@dataclass(frozen=True)
class Counting:
    """The rows that make an entity count for a query, before they are counted: ``day``,
    the ``by`` dimensions and, where they may not count, ``counted``; a row counts where
    :func:`counts` holds. ``grouped``: the entity's columns, to count each entity once per
    period and slice (none when each row is an entity of its own: a first row). ``events``:
    the table of events rows they read, to define in front of the statement that reads them
    (its name and rows)."""

    rows: exp.Select | exp.Union
    grouped: list[str]
    counted: bool
    events: tuple[str, exp.Select | exp.Union] | None = None

    def defined(self, select: exp.Select) -> exp.Select:
        """``select`` with the events rows defined in front, where the rows read them."""
        if self.events is None:
            return select
        name, rows = self.events
        return select.with_(ident(name), as_=rows, materialized=True, copy=False)


def counting(builder: Builder, kpi: m.Entities, query: Query, *, keyed: bool = False) -> Counting:
    """The rows that make ``kpi``'s entities count (:class:`Counting`). ``keyed`` adds to each
    what names it and why it counts, for the rows behind a value: the entity's columns
    (:func:`entity_names`), ``source`` (the position of its fact in the events list) and
    ``row_key`` (the fact's key), and a returning entity's ``first_day`` or a reactivated
    one's ``previous_day``."""
    names = entity_names(kpi)
    if kpi.count == "active":
        rows = event_rows(builder, kpi, query, history=False, ordered=keyed)
        return Counting(rows, names, counted=False)
    if kpi.count == "new":
        rows = event_rows(builder, kpi, query, history=True, ordered=True)
        return Counting(new(rows, names, query, keyed=keyed), [], counted=True)
    rows = event_rows(builder, kpi, query, history=True, ordered=keyed)
    events = builder.name("events")
    if kpi.count == "returning":
        known, on = first_days(builder, events, names, query)
        why = ["first_day"]
    else:
        assert kpi.gap is not None  # the loader requires it for reactivated
        known, on = days_after_gap(events, names, kpi.gap)
        why = ["previous_day"]
    outputs = [col(k, "r") for k in [*names, "day", "counted", *query.by]]
    if keyed:
        outputs += [col("source", "r"), col("row_key", "r"), *(col(k, "k") for k in why)]
    met = exp.select(*outputs).from_(exp.table_(ident(events), alias=ident("r")), copy=False)
    met = add_join(met, known.subquery(ident("k"), copy=False), on=on)
    return Counting(met, names, counted=True, events=(events, rows))


def first_days(
    builder: Builder, events: str, names: list[str], query: Query
) -> tuple[exp.Select, exp.Expr]:
    """Each entity's first day with an event, and the join of a row to it where that day is
    before the row's period (a returning entity)."""
    known = (
        exp.select(
            *(col(n) for n in names),
            exp.alias_(exp.Min(this=col("day")), ident("first_day"), copy=False),
        )
        .from_(exp.table_(ident(events)), copy=False)
        .group_by(*positions(len(names)), copy=False)
    )
    before = exp.LT(
        this=col("first_day", "k"),
        expression=period_of(col("day", "r"), query.grain, builder.first_day(query)),
    )
    return known, exp.and_(*same(names), before, copy=False)


def days_after_gap(events: str, names: list[str], gap: m.Span) -> tuple[exp.Select, exp.Expr]:
    """Each entity's days with an event and the latest earlier such day, and the join of a row
    to its day where that earlier day lies at least ``gap`` before (a reactivation; a first
    day has none)."""
    previous = exp.Window(
        this=exp.func("lag", col("day")),
        partition_by=[col(n) for n in names],
        order=exp.Order(expressions=[exp.Ordered(this=col("day"))]),
    )
    known = (
        exp.select(
            *(col(n) for n in names),
            col("day"),
            exp.alias_(previous, ident("previous_day"), copy=False),
        )
        .from_(exp.table_(ident(events)), copy=False)
        .group_by(*positions(len(names) + 1), copy=False)
    )
    days, months = offset_parts(gap, "day")
    after = as_date(exp.Add(this=col("previous_day", "k"), expression=sql_interval(days, months)))
    far_enough = exp.LTE(this=after, expression=col("day", "r"))
    return known, exp.and_(*same([*names, "day"]), far_enough, copy=False)


def same(names: list[str]) -> list[exp.Expr]:
    return [exp.EQ(this=col(n, "k"), expression=col(n, "r")) for n in names]


def entity_names(kpi: m.Entities) -> list[str]:
    """The columns holding the entity's dimensions in :func:`event_rows`."""
    return [f"entity_{i}" for i in range(len(kpi.entity))]


def event_rows(
    builder: Builder, kpi: m.Entities, query: Query, *, history: bool, ordered: bool = False
) -> exp.Select | exp.Union:
    """The rows of every events fact passing its own filters and naming an entity: the entity,
    ``day`` (local), the ``by`` dimensions. With ``history``, every row up to the range's end
    (and a day or two after, which no result depends on), with ``counted``: whether the row
    passes the request's filters and scope; without, the rows in the range that pass them.
    ``ordered`` adds what orders an entity's rows within a day and names each row:
    ``moment``, ``source`` (the position in the events list) and ``row_key`` (the fact's
    key)."""
    names = entity_names(kpi)
    parts: list[exp.Select] = []
    for position, events in enumerate(kpi.events):
        fact = FACTS[events.fact]
        cols = Columns(fact, events.time or fact.time, zones=builder.zones)
        outputs: list[exp.Expr] = []
        where: list[exp.Expr] = []
        for name, dimension in zip(names, kpi.entity, strict=True):
            value = cols.dimension(dimension)
            outputs.append(exp.alias_(value, ident(name), copy=False))
            where.append(exp.not_(exp.Is(this=value.copy(), expression=exp.null()), copy=False))
        outputs.append(exp.alias_(cols.local_day(), ident("day"), copy=False))
        outputs += [exp.alias_(cols.dimension(d), ident(d), copy=False) for d in query.by]
        where += [cols.rewrite(f) for f in events.filters]
        if history:
            conditions = builder.conditions(cols, query, bounded=False)
            counted = exp.and_(*conditions, copy=False) if conditions else exp.true()
            outputs.append(exp.alias_(counted, ident("counted"), copy=False))
            where.append(up_to(cols, builder.param("end", query.end)))
        else:
            where += builder.conditions(cols, query)
        if ordered:
            moment = cast_to(cols.time_column(), "TIMESTAMP")
            outputs += [
                exp.alias_(moment, ident("moment"), copy=False),
                exp.alias_(exp.Literal.number(position), ident("source"), copy=False),
                exp.alias_(cols.key(), ident("row_key"), copy=False),
            ]
        select = exp.select(*outputs).from_(cols.from_table(), copy=False)
        parts.append(cols.finish(select.where(*where, copy=False)))
    if len(parts) == 1:
        return parts[0]
    return exp.union(*parts, distinct=False)


def up_to(cols: Columns, end: exp.Expr) -> exp.Expr:
    """Rows stored (in UTC) up to two days after ``end`` begins: every row whose local day is
    ``end`` or earlier, in a plain bound the engine can skip whole blocks of rows by. A DATE
    column is the day itself."""
    if cols.columns[cols.time] == "DATE":
        return exp.LTE(this=cols.time_column(), expression=end)
    return exp.LT(this=cols.time_column(), expression=zones.moved_day(end, 2))


def new(
    rows: exp.Select | exp.Union, names: list[str], query: Query, *, keyed: bool = False
) -> exp.Select:
    """Each entity's first row: one row an entity, counted with a plain count per period and
    slice (where it is counted and in the range). ``keyed`` keeps the entity's columns,
    ``source`` and ``row_key`` (:func:`counting`)."""
    order = ["day", "moment", "source", "row_key"]
    nth = exp.Window(
        this=exp.RowNumber(),
        partition_by=[col(n) for n in names],
        order=exp.Order(expressions=[exp.Ordered(this=col(k)) for k in order]),
    )
    kept = [*names, "source", "row_key"] if keyed else []
    ranked = exp.select(
        col("day"),
        col("counted"),
        *(col(d) for d in query.by),
        *(col(k) for k in kept),
        exp.alias_(nth, ident("nth"), copy=False),
    ).from_(rows.subquery(ident("events"), copy=False), copy=False)
    return (
        exp.select("*")
        .from_(ranked.subquery(ident("ranked"), copy=False), copy=False)
        .where(exp.EQ(this=col("nth"), expression=exp.Literal.number(1)), copy=False)
    )


def count_per_period(
    builder: Builder,
    rows: exp.Select | exp.Union,
    names: list[str],
    query: Query,
    *,
    counted: bool,
) -> exp.Select:
    """The entities of ``rows`` counted once per period and slice, of the rows in the range
    (and, with ``counted``, those whose ``counted`` is true). ``names`` are the entity's
    columns; none when each row is an entity of its own (an entity's first row)."""
    period = period_of(col("day"), query.grain, builder.first_day(query))
    period = exp.alias_(period, ident("period"), copy=False)
    slices = [col(d) for d in query.by]
    where = counts(builder, query, counted=counted)
    source = rows.subquery(ident("c"), copy=False)
    if names:  # first each entity once per period and slice
        source = (
            exp.select(period, *slices, *(col(n) for n in names))
            .from_(source, copy=False)
            .where(*where, copy=False)
            .group_by(*positions(1 + len(slices) + len(names)), copy=False)
            .subquery(ident("a"), copy=False)
        )
        keys: list[exp.Expr] = [col("period"), *(s.copy() for s in slices)]
        where = []
    else:
        keys = [period, *slices]
    value = exp.alias_(double(exp.Count(this=exp.Star())), ident("value"), copy=False)
    select = exp.select(*keys, value).from_(source, copy=False)
    if where:
        select = select.where(*where, copy=False)
    return select.group_by(*positions(len(keys)), copy=False)


def counts(builder: Builder, query: Query, *, counted: bool) -> list[exp.Expr]:
    """Whether a row of :func:`counting` counts: in the range (and, with ``counted``, its
    ``counted`` true)."""
    where: list[exp.Expr] = [col("counted")] if counted else []
    where.append(
        exp.Between(
            this=col("day"),
            low=builder.param("start", query.start),
            high=builder.param("end", query.end),
        )
    )
    return where
