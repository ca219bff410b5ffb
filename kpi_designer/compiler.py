"""KPI definitions → SQL, built as sqlglot trees and rendered for DuckDB or PostgreSQL.

:func:`compile_kpi` turns one KPI and a :class:`Query` (period range, grain, slices, filters,
row-level scope) into a ``SELECT`` returning one row per period and slice: ``period`` (the first
day of the period, a ``DATE``), one column per dimension of ``by``, and ``value`` (``DOUBLE``).
Nothing is concatenated into SQL text: names are quoted identifiers, the range and the scope's
members are bound parameters (``$start`` in DuckDB, ``%(start)s`` in PostgreSQL), and the
expressions analysts wrote are sqlglot trees whose column names are rewritten to the tables
they live in.

How each type is computed:

- **simple**: the fact's rows in the range, placed on the branch's local day, filtered and
  scoped, grouped by period and slice. Simple KPIs of one fact and time column are computed in
  one scan when asked for together (:func:`compile_scan`), each aggregate with its own
  ``FILTER``.
- **ratio**: numerator and denominator over the same period and slice; when both are simple KPIs
  of one fact and time column, one scan, else two grouped queries joined. Always a ratio of the
  sums; a row where the numerator or the denominator has one.
- **derived**: each input grouped on its own, once (a materialized ``WITH``), joined on period
  and slice, the expression applied (a missing additive input is 0; division by 0 gives no
  value). An input with an offset is computed on the earlier range and met by the current
  period moved back.
- **cumulative**: a calendar of the range's periods (``core.dim_date``), each with the first day
  of its window, joined to the input's rows (additive ones first summed per day): exact for any
  aggregation. A distinct count instead counts a bit mask of months per value
  (:meth:`_Builder.month_masks`) or adds and takes back each value's span
  (:meth:`_Builder.distinct_spans`).
- **conversion**: each base event in the range, and whether the same entity has a conversion
  event within the window after it (times compared in UTC); within one fact's same rows, from
  each entity's next and previous row (:meth:`_Builder.repeats`).
- **period over period**: the KPI now and the KPI over the range moved back by the comparison
  offset. Like-for-like keeps that moved range as is (the running period against as many days of
  the other, whole periods where the range ends on a period's last day); otherwise it is widened
  to whole periods, and a range starting on a period's first day is computed in one scan.

KPIs evaluated together are planned together (:func:`plan`): a fact and time column that several
of their statements read is rolled up per local day once, into a table those statements read
instead (:class:`Rollup`), and the table of local days is made once for all. The tables are
temporary, or, in a :class:`Workspace`, visible to every connection of the database, so that the
statements reading them can run at once.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import cast

from sqlglot import exp

from kpi_designer import model as m
from kpi_designer.dialects import DIALECTS as DIALECTS  # re-exported: compile for these
from kpi_designer.errors import EvaluationError
from kpi_designer.loader import (
    DIALECT,
    NotAnExpression,
    facts_of,
    parse_expression,
    reachable,
    with_filters,
)
from kpi_designer.semantic import CORE_SCHEMA, DIMENSIONS, ENTITIES, FACTS, Fact
from kpiboard.yamlnodes import did_you_mean

GRAIN_MONTHS = {"month": 1, "quarter": 3, "year": 12}
ZONE_DAYS = "zone_days"
"""The query's table of local days per branch and UTC date (see :meth:`_Columns.local_day`)."""


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

    def moved(self, offset: m.Span, *, whole_periods: bool) -> Query:
        """The same query over the range ``offset`` earlier; widened to whole periods first
        when ``whole_periods``. Otherwise (like for like) a range that ends on a period's last
        day ends on the last day of the earlier period too: all of April against all of March,
        not against its first 30 days; a period still running is met by as many days."""
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


def compile_kpi(
    kpi_id: str, query: Query, kpis: Mapping[str, m.Kpi], rollups: Sequence[Rollup] = ()
) -> Compiled:
    """The SQL computing ``kpi_id`` for ``query``; raises :class:`EvaluationError` for a KPI,
    grain or dimension the definitions cannot answer. It reads ``rollups`` (tables made for
    this query, see :func:`plan`) instead of a fact where they hold what it needs."""
    check_query(kpi_id, query, kpis)
    return _compile_kpi(_Builder(kpis, query, rollups), kpi_id, query)


def _compile_kpi(builder: _Builder, kpi_id: str, query: Query) -> Compiled:
    inner = builder.kpi(builder.kpis[kpi_id], query)
    keys = ["period", *query.by]
    select = exp.select(*(_col(k) for k in keys), _col("value")).from_(
        inner.subquery(_ident("kpi"), copy=False), copy=False
    )
    select = builder.with_zone_days(select.order_by(*(_col(k) for k in keys), copy=False))
    return Compiled(select, builder.params)


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
            facts = ", ".join(sorted(facts_of(kpi, kpis)))
            raise EvaluationError(
                f"kpi {kpi_id!r} cannot be sliced, filtered or scoped by {name!r}: "
                f"fact {facts} does not reach it (it reaches {', '.join(sorted(reach))})"
            )
    if len(set(query.by)) != len(query.by):
        raise EvaluationError(f"--by names a dimension twice: {', '.join(query.by)}")


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
        whole = query is not None and query.start == period_start(query.start, query.grain)
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


def compile_scan(
    kpi_ids: Sequence[str],
    query: Query,
    kpis: Mapping[str, m.Kpi],
    rollups: Sequence[Rollup] = (),
) -> Compiled:
    """KPIs of one :func:`scan_of`, computed in one pass: columns ``period``, the ``by``
    dimensions, then ``value_<i>`` and ``present_<i>`` for the i-th KPI (a KPI's rows are those
    where ``present_<i>``: the rows it has when computed alone)."""
    scans = {scan_of(kpis[k], kpis, query) for k in kpi_ids}
    if len(scans) != 1 or None in scans:
        raise ValueError(f"not one scan: {', '.join(kpi_ids)}")
    for kpi_id in kpi_ids:
        check_query(kpi_id, query, kpis)
    return _compile_scan(_Builder(kpis, query, rollups), kpi_ids, query)


def _compile_scan(builder: _Builder, kpi_ids: Sequence[str], query: Query) -> Compiled:
    scan = builder.one_scan([builder.kpis[k] for k in kpi_ids], query)
    select = exp.select("*").from_(scan.subquery(_ident("scan"), copy=False), copy=False)
    return Compiled(builder.with_zone_days(select), builder.params)


# -- rollups: a fact read once per evaluation --------------------------------------------------

MeasureKey = tuple[str, str | None, tuple[str, ...]]
"""A measure written out, (aggregation, expression, filters): equal keys compute the same."""

_ROLLED = {"sum": "sum", "count": "sum", "min": "min", "max": "max"}
"""The aggregations a rollup keeps per day, and how a period combines its days' values."""


def _key(expr: exp.Expr) -> str:
    """An expression's text, to compare or look it up by. Rendered without a copy of the tree
    (copying costs twice the rendering): these are values and conditions, which rendering
    leaves as they are."""
    return expr.sql(DIALECT, copy=False)


def _measure_key(measure: m.Measure) -> MeasureKey:
    expr = _key(measure.expr) if measure.expr is not None else None
    return measure.agg, expr, tuple(sorted({_key(f) for f in measure.filters}))


def _grouping(query: Query) -> tuple[object, ...]:
    """What a rollup's rows depend on besides the days: slices, filters and scope."""
    filters = tuple(_key(f) for f in query.filters)
    return query.by, filters, tuple(sorted(query.scope.items()))


@dataclass
class _Read:
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


def _work_table(name: str, workspace: Workspace | None, alias: str | None = None) -> exp.Table:
    """The table ``name`` of a plan: in ``workspace``, or a temporary one."""
    if workspace is None:
        return exp.table_(_ident(name), alias=_ident(alias) if alias else None)
    return exp.table_(
        _ident(name),
        db=_ident(workspace.schema),
        catalog=_ident(workspace.catalog),
        alias=_ident(alias) if alias else None,
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

    def serves(self, read: _Read, query: Query) -> bool:
        """Whether the rollup holds all that ``read`` of ``query`` needs."""
        return (
            (read.fact, read.time) == (self.fact, self.time)
            and (read.counted is None or _same(read.counted, self.counted))
            and _grouping(query) == self.grouping
            and all(key in self.columns for key in read.measures)
            and (self.first is None or (read.first is not None and read.first >= self.first))
            and read.last <= self.last
        )

    def create(self) -> Compiled:
        """The statement making the table."""
        return _create(self.table, self.select, self.workspace)

    def source(self) -> exp.Table:
        """The table, to read from."""
        return _work_table(self.table, self.workspace)


@dataclass(frozen=True)
class Plan:
    """How to compute KPIs for one query: the table of local days and the rollups to make
    first, then the statements, one per unit (a KPI alone, or KPIs of one :func:`scan_of`
    together: :func:`compile_scan`), reading those tables.

    The order is: ``zones``, then the rollups (which read it), then the statements (which read
    both; those not in ``after_rollups`` need not wait for the rollups). The rollups do not
    read each other, nor do the statements."""

    units: list[list[str]]
    rollups: list[Rollup]
    statements: list[Compiled]
    zones: Compiled | None = None
    """The statement making the table of local days, when a rollup or statement reads it."""
    after_rollups: frozenset[int] = frozenset()
    """The positions of the statements that read a rollup."""

    @property
    def setup(self) -> list[Compiled]:
        """What to run before the statements, in order."""
        return [*([self.zones] if self.zones is not None else []), *self.creates]

    @property
    def creates(self) -> list[Compiled]:
        """The statements making the rollups."""
        return [rollup.create() for rollup in self.rollups]


def plan(
    kpi_ids: Sequence[str],
    query: Query,
    kpis: Mapping[str, m.Kpi],
    *,
    share_reads: bool = True,
    workspace: Workspace | None = None,
) -> Plan:
    """The statements computing ``kpi_ids`` for ``query``, and the rollups they share: one per
    fact and time column that they read more than once, holding every measure and day any of
    them reads. A fact read once is read directly. Without ``share_reads``, no rollups. The
    tables the plan makes go to ``workspace`` (default: temporary tables)."""
    for kpi_id in kpi_ids:
        check_query(kpi_id, query, kpis)
    scans: dict[tuple[str, str], list[str]] = {}
    for kpi_id in kpi_ids:
        scan = scan_of(kpis[kpi_id], kpis, query)
        if scan is not None:
            scans.setdefault(scan, []).append(kpi_id)
    together = [group for group in scans.values() if len(group) > 1]
    joined = {kpi_id for group in together for kpi_id in group}
    units = [*together, *([k] for k in kpi_ids if k not in joined)]
    reads: list[list[_Read]] = []
    statements: list[Compiled] = []
    builders: list[_Builder] = []
    for unit in units:  # compiled once as they are, noting what each reads
        builder = _Builder(
            kpis, query, record=share_reads, shared_zones=share_reads, workspace=workspace
        )
        statements.append(_compile_any(builder, unit, query))
        reads.append(builder.reads)
        builders.append(builder)
    by_source: dict[tuple[str, str], list[_Read]] = {}
    for read in (r for unit_reads in reads for r in unit_reads):
        by_source.setdefault((read.fact, read.time), []).append(read)
    rollups = []
    for (fact, time), read_list in by_source.items():
        # one counted value per rollup: the one most reads count; the others read the fact
        counts = Counter(_key(r.counted) for r in read_list if r.counted is not None)
        counted = counts.most_common(1)[0][0] if counts else None
        served = [r for r in read_list if r.counted is None or _key(r.counted) == counted]
        if len(served) > 1:
            rollup, builder = _rollup(f"rollup_{fact}_{time}", served, query, kpis, workspace)
            rollups.append(rollup)
            builders.append(builder)
    rolled = {(r.fact, r.time) for r in rollups}
    after_rollups = set()
    for i, unit in enumerate(units):  # again, reading the rollups, where one serves them
        if any((r.fact, r.time) in rolled for r in reads[i]):
            builders[i] = _Builder(kpis, query, rollups, shared_zones=True, workspace=workspace)
            statements[i] = _compile_any(builders[i], unit, query)
            after_rollups.add(i)
    zones = None
    zoned = [b for b in builders if b.reads_zones and b.shared_zones]
    if zoned:  # one table of local days for every statement and rollup, made first
        builder = _Builder(kpis, query)
        builder.first_read = _earliest([b.first_read for b in zoned])
        builder.last_read = max(b.last_read for b in zoned)
        days = Compiled(builder.zone_days(), builder.params)
        zones = _create(ZONE_DAYS, days, workspace)
    return Plan(units, rollups, statements, zones, frozenset(after_rollups))


def _create(table: str, select: Compiled, workspace: Workspace | None) -> Compiled:
    """The statement making ``select``'s rows the table ``table`` of a plan: in ``workspace``,
    or a temporary table (DuckDB: it lives as long as the connection)."""
    temporary = [exp.TemporaryProperty()] if workspace is None else []
    create = exp.Create(
        this=_work_table(table, workspace),
        kind="TABLE",
        expression=select.tree,
        properties=exp.Properties(expressions=temporary) if temporary else None,
    )
    return Compiled(create, select.params)


def _compile_any(builder: _Builder, unit: Sequence[str], query: Query) -> Compiled:
    if len(unit) == 1:
        return _compile_kpi(builder, unit[0], query)
    return _compile_scan(builder, unit, query)


def _rollup(
    table: str,
    reads: Sequence[_Read],
    query: Query,
    kpis: Mapping[str, m.Kpi],
    workspace: Workspace | None,
) -> tuple[Rollup, _Builder]:
    """The rollup answering every one of ``reads``: their measures, over all their days; and
    the builder that made it (the days it reads local days on)."""
    measures: dict[MeasureKey, m.Measure] = {}
    for read in reads:
        measures.update(read.measures)
    first = _earliest([read.first for read in reads])
    last = max(read.last for read in reads)
    columns = {key: f"m_{i}" for i, key in enumerate(measures)}
    builder = _Builder(kpis, query, shared_zones=True, workspace=workspace)
    fact, time = reads[0].fact, reads[0].time
    days = replace(query, start=first or last, end=last, grain="day")
    named = [(columns[key], measure) for key, measure in measures.items()]
    counted = next((r.counted for r in reads if r.counted is not None), None)
    inner = builder.measures(
        fact, time, named, days, bounded=first is not None, exact=True, counted=counted
    )
    select = exp.select(
        exp.alias_(_col("period"), _ident("day"), copy=False),
        *(_col(d) for d in query.by),
        *([_col("counted")] if counted is not None else []),
        *(_col(c) for c in columns.values()),
    ).from_(inner.subquery(_ident("r"), copy=False), copy=False)
    if first is None:  # read from the first row; the last day still bounds it
        select = select.where(
            exp.LTE(this=_col("period"), expression=builder.param("end", last)), copy=False
        )
    compiled = Compiled(builder.with_zone_days(select), builder.params)
    grouping = _grouping(query)
    rollup = Rollup(table, fact, time, grouping, columns, first, last, compiled, counted, workspace)
    return rollup, builder


def _same(a: exp.Expr, b: exp.Expr | None) -> bool:
    return b is not None and _key(a) == _key(b)


def _of_time(expr: exp.Expr, time: str) -> bool:
    """Whether ``expr`` is a value of the row's time column alone (``CAST(occurred_at AS
    DATE)``): a day holds few of its values."""
    names = {c.name for c in expr.find_all(exp.Column)}
    return names == {time}


# -- calendar arithmetic (Python side, for parameters) -----------------------------------------


def period_start(day: dt.date, grain: m.Grain) -> dt.date:
    if grain == "day":
        return day
    if grain == "week":
        return day - dt.timedelta(days=day.weekday())
    months = GRAIN_MONTHS[grain]
    month = (day.month - 1) // months * months + 1
    return dt.date(day.year, month, 1)


def period_end(day: dt.date, grain: m.Grain) -> dt.date:
    if grain == "day":
        return day
    if grain == "week":
        return period_start(day, grain) + dt.timedelta(days=6)
    first = period_start(day, grain)
    return add_months(first, GRAIN_MONTHS[grain]) - dt.timedelta(days=1)


def periods(start: dt.date, end: dt.date, grain: m.Grain) -> list[dt.date]:
    """The first days of the periods of ``grain`` that the days ``start`` to ``end`` touch."""
    out = []
    first = period_start(start, grain)
    while first <= end:
        out.append(first)
        first = period_end(first, grain) + dt.timedelta(days=1)
    return out


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` moved by whole months, kept in the month (Jan 31 + 1 month = Feb 28)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(day.day, last))


def shift(day: dt.date, offset: m.Span, grain: m.Grain, sign: int) -> dt.date:
    """``day`` moved by ``offset`` (``sign`` -1 back, +1 forward) at ``grain``."""
    days, months = _offset_parts(offset, grain)
    return add_months(day, sign * months) + dt.timedelta(days=sign * days)


def _offset_parts(offset: m.Span, grain: m.Grain) -> tuple[int, int]:
    """An offset as (days, months): weeks have no months, so a year at week grain is 52
    weeks, which keeps a Monday a Monday."""
    n = offset.count
    if offset.unit == "periods":
        if grain == "day":
            return n, 0
        if grain == "week":
            return 7 * n, 0
        return 0, n * GRAIN_MONTHS[grain]
    if offset.unit == "years":
        return (364 * n, 0) if grain == "week" else (0, 12 * n)
    if offset.unit == "months":
        return 0, n
    if offset.unit == "weeks":
        return 7 * n, 0
    return n, 0


_MASK_BITS = 62
"""Months a bit mask of a BIGINT holds, with room for the mask of all of them (2^62 - 1)."""


def _month_index(day: dt.date) -> int:
    return day.year * 12 + day.month


def _interval(days: int, months: int) -> exp.Expr:
    text = f"{months} MONTH" if months else f"{days} DAY"
    return exp.Interval(this=exp.Literal.string(text.split()[0]), unit=exp.var(text.split()[1]))


# -- building ------------------------------------------------------------------------------------


def _join(
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


def _ident(name: str) -> exp.Identifier:
    return exp.Identifier(this=name, quoted=True)


def _col(name: str, table: str | None = None) -> exp.Column:
    return exp.Column(this=_ident(name), table=_ident(table) if table else None)


def _table(name: str, alias: str, schema: str = CORE_SCHEMA) -> exp.Table:
    return exp.Table(this=_ident(name), db=_ident(schema), alias=exp.TableAlias(this=_ident(alias)))


def _cast(expr: exp.Expr, type_name: str) -> exp.Expr:
    """``CAST(expr AS type_name)``, ``expr`` not copied (every caller passes a tree of its own);
    an expression already cast to that type is returned as it is."""
    if isinstance(expr, exp.Cast) and expr.to.this == exp.DataType.Type[type_name]:
        return expr
    return exp.Cast(this=expr, to=exp.DataType(this=exp.DataType.Type[type_name]))


def _as_date(expr: exp.Expr) -> exp.Expr:
    return _cast(expr, "DATE")


def _trunc(grain: str, day: exp.Expr) -> exp.Expr:
    """The first day of ``day``'s period of ``grain``, a ``DATE``."""
    return _as_date(exp.func("date_trunc", exp.Literal.string(grain), day))


def _period_of(day: exp.Expr, grain: m.Grain) -> exp.Expr:
    """The first day of ``day``'s period (``day`` itself at day grain)."""
    return day if grain == "day" else _trunc(grain, day)


def _positions(count: int) -> list[exp.Expr]:
    """``1, 2, …, count``: the first ``count`` selected columns, for a ``GROUP BY``."""
    return [exp.Literal.number(i + 1) for i in range(count)]


def _rows_passing(fact: str, filters: Sequence[exp.Expr]) -> m.Measure:
    """The count of ``fact``'s rows that pass ``filters``: where a KPI has rows."""
    return m.Measure(fact, "count", None, tuple(filters))


def _next_bucket(by: Sequence[str]) -> exp.Window:
    """Each slice's value's next bucket (``day``), by time: ``NULL`` for its last."""
    return exp.Window(
        this=exp.func("lead", _col("day")),
        partition_by=[*(_col(d) for d in by), _col("v")],
        order=exp.Order(expressions=[exp.Ordered(this=_col("day"))]),
    )


def _earliest(days: Sequence[dt.date | None]) -> dt.date | None:
    """The earliest of ``days``; ``None`` (from the first row) when any is."""
    return None if None in days else min(d for d in days if d is not None)


def _double(expr: exp.Expr) -> exp.Expr:
    return _cast(expr, "DOUBLE")


def _nullif_zero(expr: exp.Expr) -> exp.Expr:
    return exp.Nullif(this=expr, expression=exp.Literal.number(0))


class _Builder:
    """Builds the tree for one request; collects the parameters its parts bind."""

    def __init__(
        self,
        kpis: Mapping[str, m.Kpi],
        query: Query,
        rollups: Sequence[Rollup] = (),
        *,
        record: bool = False,
        shared_zones: bool = False,
        workspace: Workspace | None = None,
    ) -> None:
        self.kpis = kpis
        self.rollups = rollups
        self.record = record
        # with shared zones, ZONE_DAYS is a table made once for all of an evaluation's
        # statements (:func:`plan`), in its workspace, not defined in front of each
        self.shared_zones = shared_zones
        self.zones = workspace if shared_zones else None  # where the parts read local days
        self.reads_zones = False
        self.reads: list[_Read] = []  # what the parts read of the facts, when recording
        self.params: dict[str, object] = {}
        self.names = 0
        # the days the query reads fact rows on: the zone table covers them (None: no bound)
        self.first_read: dt.date | None = query.start
        self.last_read = query.end

    def name(self, stem: str) -> str:
        """A name for a part of the query, unique within it."""
        self.names += 1
        return f"{stem}_{self.names}"

    def with_zone_days(self, select: exp.Select) -> exp.Select:
        """``select`` with :data:`ZONE_DAYS` defined in front, when a part of it reads the table:
        one line per branch and UTC date the query reads rows on, a day more each side."""
        if not any(t.name == ZONE_DAYS for t in select.find_all(exp.Table)):
            return select
        self.reads_zones = True
        if self.shared_zones:
            return select
        return select.with_(_ident(ZONE_DAYS), as_=self.zone_days(), materialized=True, copy=False)

    def zone_days(self) -> exp.Select:
        """The :data:`ZONE_DAYS` table: one line per branch and UTC date the query reads rows
        on, a day more each side."""
        day = _col("calendar_date", "d")
        zone = exp.Coalesce(this=_col("timezone", "b"), expressions=[exp.Literal.string("UTC")])
        dated = exp.select(
            exp.alias_(_col("branch_id", "b"), _ident("branch_id"), copy=False),
            exp.alias_(day, _ident("utc_date"), copy=False),
            exp.alias_(zone, _ident("zone"), copy=False),
            exp.alias_(
                _to_local_day(_cast(day.copy(), "TIMESTAMP"), zone.copy()), "day_0", copy=False
            ),
        ).from_(_table("dim_branch", "b"), copy=False)
        dated = _join(dated, _table("dim_date", "d"), side="CROSS")
        low = None
        if self.first_read is not None:
            low = self.param("zone_from", self.first_read - dt.timedelta(days=1))
        high = self.param("zone_to", self.last_read + dt.timedelta(days=2))
        dated = dated.where(
            exp.Between(this=day.copy(), low=low, high=high)
            if low is not None
            else exp.LTE(this=day.copy(), expression=high),
            copy=False,
        )
        outputs: list[exp.Expr] = [_col("branch_id"), _col("utc_date"), _col("day_0")]
        for n in (1, 2):
            later = exp.Add(this=_col("day_0"), expression=exp.Literal.number(n))
            outputs.append(exp.alias_(later, _ident(f"day_{n}"), copy=False))
            # the instant, in UTC, where that local day starts
            midnight = exp.AtTimeZone(this=_cast(later.copy(), "TIMESTAMP"), zone=_col("zone"))
            utc = exp.AtTimeZone(this=midnight, zone=exp.Literal.string("UTC"))
            outputs.append(exp.alias_(_cast(utc, "TIMESTAMP"), _ident(f"cut_{n}"), copy=False))
        return exp.select(*outputs).from_(dated.subquery(_ident("zd"), copy=False), copy=False)

    def param(self, stem: str, value: object) -> exp.Placeholder:
        for name, existing in self.params.items():
            if name.startswith(stem) and existing == value and type(existing) is type(value):
                return exp.Placeholder(this=name)
        name = f"{stem}_{len(self.params)}"
        self.params[name] = value
        return exp.Placeholder(this=name)

    def rollup_for(self, read: _Read, query: Query) -> Rollup | None:
        """The rollup that answers ``read``, if one does; the read is noted when recording."""
        if self.record:
            self.reads.append(read)
        return next((r for r in self.rollups if r.serves(read, query)), None)

    # -- dispatch ---------------------------------------------------------------------------

    def kpi(self, kpi: m.Kpi, query: Query, extra: tuple[exp.Expr, ...] = ()) -> exp.Select:
        if isinstance(kpi, m.Simple):
            if extra:
                kpi = with_filters(kpi, extra)
            return self.measures(
                kpi.measure.fact, kpi.measure.time, [("value", kpi.measure)], query
            )
        if isinstance(kpi, m.Ratio):
            return self.ratio(kpi, query)
        if isinstance(kpi, m.Derived):
            return self.derived(kpi, query)
        if isinstance(kpi, m.Cumulative):
            return self.cumulative(kpi, query)
        if isinstance(kpi, m.Conversion):
            return self.conversion(kpi, query)
        if isinstance(kpi, m.PeriodOverPeriod):
            return self.period_over_period(kpi, query)
        raise TypeError(f"no compiler for {type(kpi).__name__}")

    # -- the rows of a fact -----------------------------------------------------------------

    def rows(
        self,
        fact_name: str,
        time: str | None,
        query: Query,
        *,
        bounded: bool = True,
        lower: dt.date | None = None,
    ) -> tuple[exp.Select, _Columns]:
        """``SELECT … FROM`` the fact with the joins its expressions need, the range, the scope
        and the request's filters applied; the caller adds what it selects and groups."""
        cols = _Columns(FACTS[fact_name], time or FACTS[fact_name].time, zones=self.zones)
        conditions = self.conditions(cols, query, bounded=bounded, lower=lower)
        select = exp.select().from_(cols.from_table(), copy=False)
        # the joins are only known once every expression is rewritten: added in finish()
        return select.where(*conditions, copy=False) if conditions else select, cols

    def conditions(
        self, cols: _Columns, query: Query, *, bounded: bool = True, lower: dt.date | None = None
    ) -> list[exp.Expr]:
        """The conditions a row of ``cols``' fact meets to be read: in the range (from
        ``lower`` when given; none when not ``bounded``), in the scope, through the filters."""
        conditions: list[exp.Expr] = []
        first = lower if lower is not None else query.start
        if not bounded:
            self.first_read = None
        elif self.first_read is not None:
            self.first_read = min(self.first_read, first)
        self.last_read = max(self.last_read, query.end)
        if bounded:
            conditions += cols.range(self.param("start", first), self.param("end", query.end))
        for dimension, members in sorted(query.scope.items()):
            if not members:
                conditions.append(exp.false())
                continue
            placeholders = [self.param("scope", str(v)) for v in members]
            conditions.append(exp.In(this=cols.dimension(dimension), expressions=placeholders))
        for condition in query.filters:
            conditions.append(cols.rewrite(condition))
        return conditions

    def measures(
        self,
        fact_name: str,
        time: str | None,
        measures: Sequence[tuple[str, m.Measure]],
        query: Query,
        *,
        bounded: bool = True,
        exact: bool = False,
        counted: exp.Expr | None = None,
    ) -> exp.Select:
        """One scan of a fact computing several measures, each with its own filters, by period
        and slice. A filter every measure has goes into ``WHERE`` (the rows it leaves out are
        never read further); the others are ``FILTER`` clauses of their aggregates. Sums,
        counts, minima and maxima come from a rollup where one holds them. Values are
        ``DOUBLE``; ``exact`` keeps the aggregates' own types (a sum of decimals stays one,
        so that summing it again does not depend on the order). ``counted`` is one more key,
        column ``counted`` (a rollup's)."""
        time = time or FACTS[fact_name].time
        written = [{_key(f): f for f in measure.filters} for _, measure in measures]
        common = [text for text in written[0] if all(text in w for w in written[1:])]
        shared = [written[0][text] for text in common]
        read = self._read(fact_name, time, measures, shared, query)
        if read is not None:
            rollup = self.rollup_for(read, query)
            if rollup is not None:
                rows = _measure_key(_rows_passing(fact_name, shared))
                return self._from_rollup(rollup, measures, rows, query)
        select, cols = self.rows(fact_name, time, query, bounded=bounded)
        if shared:
            select = select.where(*map(cols.rewrite, shared), copy=False)
        keys = [exp.alias_(cols.period(query.grain), _ident("period"), copy=False)]
        keys += [exp.alias_(cols.dimension(d), _ident(d), copy=False) for d in query.by]
        if counted is not None:
            keys.append(exp.alias_(cols.rewrite(counted), _ident("counted"), copy=False))
        own_filters: list[exp.Expr | None] = []
        for own in written:
            rest = [cols.rewrite(f) for text, f in own.items() if text not in common]
            own_filters.append(exp.and_(*rest, copy=False) if rest else None)
        distinct = {_key(m_.expr) for _, m_ in measures if m_.agg == "count_distinct" and m_.expr}
        if len(distinct) == 1 and all(m_.agg in _TWO_STEP for _, m_ in measures):
            return self._two_step(select, cols, keys, measures, own_filters)
        outputs = []
        for (alias, measure), only in zip(measures, own_filters, strict=True):
            agg = cols.aggregate(measure)
            if only is not None:
                agg = exp.Filter(this=agg, expression=exp.Where(this=only))
            outputs.append(exp.alias_(agg if exact else _double(agg), _ident(alias), copy=False))
        select = select.select(*keys, *outputs, copy=False)
        select = select.group_by(*_positions(len(keys)), copy=False)
        return cols.finish(select)

    def _read(
        self,
        fact: str,
        time: str,
        measures: Sequence[tuple[str, m.Measure]],
        shared: Sequence[exp.Expr],
        query: Query,
    ) -> _Read | None:
        """What :meth:`measures` needs of a rollup, if one can answer it: sums, counts, minima
        and maxima (with the count of the rows passing the common filters: a period and slice
        has a row where one does), and distinct counts of one value of the row's time (as the
        count of the rows passing each one's filters: whether a day's value counts)."""
        if any(m_.agg not in _ROLLED and m_.agg != "count_distinct" for _, m_ in measures):
            return None
        counted: dict[str, exp.Expr] = {}
        for _, measure in measures:
            if measure.agg == "count_distinct":
                if measure.expr is None or not _of_time(measure.expr, time):
                    return None
                counted[_key(measure.expr)] = measure.expr
        if len(counted) > 1:
            return None
        wanted: dict[MeasureKey, m.Measure] = {}
        for _, measure in measures:
            if measure.agg == "count_distinct":
                measure = _rows_passing(fact, measure.filters)
            wanted[_measure_key(measure)] = measure
        rows = _rows_passing(fact, shared)
        wanted[_measure_key(rows)] = rows
        value = next(iter(counted.values()), None)
        return _Read(fact, time, wanted, query.start, query.end, value)

    def _from_rollup(
        self,
        rollup: Rollup,
        measures: Sequence[tuple[str, m.Measure]],
        rows: MeasureKey,
        query: Query,
    ) -> exp.Select:
        """:meth:`measures` from ``rollup``: its days in the range combined per period and
        slice, where the fact has rows (``rows``: the count of them)."""
        period = _period_of(_col("day"), query.grain)
        keys = [exp.alias_(period, _ident("period"), copy=False), *(_col(d) for d in query.by)]
        outputs = []
        for alias, measure in measures:
            if measure.agg == "count_distinct":  # the values of the days some row passed
                met = _rows_passing(measure.fact, measure.filters)
                passed = exp.GT(
                    this=_col(rollup.columns[_measure_key(met)]), expression=exp.Literal.number(0)
                )
                combined: exp.Expr = exp.Filter(
                    this=_aggregate("count_distinct", _col("counted")),
                    expression=exp.Where(this=passed),
                )
            else:
                column = _col(rollup.columns[_measure_key(measure)])
                combined = _aggregate(_ROLLED[measure.agg], column)
            outputs.append(exp.alias_(_double(combined), _ident(alias), copy=False))
        within = exp.Between(
            this=_col("day"),
            low=self.param("start", query.start),
            high=self.param("end", query.end),
        )
        present = exp.GT(
            this=exp.Sum(this=_col(rollup.columns[rows])), expression=exp.Literal.number(0)
        )
        return (
            exp.select(*keys, *outputs)
            .from_(rollup.source(), copy=False)
            .where(within, copy=False)
            .group_by(*_positions(len(keys)), copy=False)
            .having(present, copy=False)
        )

    def _two_step(
        self,
        select: exp.Select,
        cols: _Columns,
        keys: Sequence[exp.Expr],
        measures: Sequence[tuple[str, m.Measure]],
        own_filters: Sequence[exp.Expr | None],
    ) -> exp.Select:
        """:meth:`measures` for a distinct count among additive measures: grouped first by
        period, slice and the counted value (each measure summed, counted or its extreme taken
        within such a group; the distinct count's filter as whether a row of the group met it),
        then by period and slice, where the distinct count is a plain count of the groups. One
        hash table of groups instead of one set of values per period and slice, which DuckDB
        builds slowly."""
        inner: list[exp.Expr] = []
        outer: list[exp.Expr] = []
        for i, ((alias, measure), only) in enumerate(zip(measures, own_filters, strict=True)):
            part = f"part_{i}"
            if measure.agg == "count_distinct":
                met = exp.true() if only is None else only
                inner.append(exp.alias_(exp.func("bool_or", met), _ident(part), copy=False))
                final: exp.Expr = exp.Filter(
                    this=exp.Count(this=_col("counted")),
                    expression=exp.Where(this=_col(part)),
                )
            else:
                agg = cols.aggregate(measure)
                if only is not None:
                    agg = exp.Filter(this=agg, expression=exp.Where(this=only))
                inner.append(exp.alias_(agg, _ident(part), copy=False))
                final = _aggregate(_ROLLED[measure.agg], _col(part))
            outer.append(exp.alias_(_double(final), _ident(alias), copy=False))
        counted = next(m_.expr for _, m_ in measures if m_.agg == "count_distinct")
        assert counted is not None
        value = exp.alias_(cols.rewrite(counted), _ident("counted"), copy=False)
        grouped = select.select(*keys, value, *inner, copy=False).group_by(
            *_positions(len(keys) + 1), copy=False
        )
        names = [_col(k.alias) for k in keys]
        return (
            exp.select(*names, *outer)
            .from_(cols.finish(grouped).subquery(_ident("g"), copy=False), copy=False)
            .group_by(*(n.copy() for n in names), copy=False)
        )

    # -- the types --------------------------------------------------------------------------

    def ratio(self, kpi: m.Ratio, query: Query) -> exp.Select:
        if scan_of(kpi, self.kpis) is not None:
            return self.one_scan([kpi], query)
        inputs = [
            m.Input(kpi.numerator.kpi, "n", kpi.numerator.filters),
            m.Input(kpi.denominator.kpi, "d", kpi.denominator.filters),
        ]
        value = exp.Div(this=exp.column("n"), expression=exp.column("d"))
        return self.combine(inputs, value, query)

    def one_scan(self, kpis: Sequence[m.Kpi], query: Query) -> exp.Select:
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
                measured.append(self.kpis[pop.kpi])
        column = {k.id: j for j, k in enumerate(measured)}
        wide = query
        for pop in pops:
            earlier = query.moved(_pop_offset(pop), whole_periods=True)
            wide = replace(wide, start=min(wide.start, earlier.start))
        grouped = self._grouped(measured, wide)
        if not pops:
            if len(kpis) == 1:  # as one KPI: the frame every type returns
                return (
                    exp.select(
                        *(_col(k, "s") for k in ["period", *query.by]),
                        exp.alias_(_col("value_0", "s"), _ident("value"), copy=False),
                    )
                    .from_(grouped.subquery(_ident("s"), copy=False), copy=False)
                    .where(_col("present_0", "s"), copy=False)
                )
            return grouped
        name = self.name("scan")
        select = exp.select(*(_col(k, "g") for k in ["period", *query.by])).from_(
            exp.table_(_ident(name), alias=_ident("g")), copy=False
        )
        joined: dict[tuple[int, int], str] = {}
        for i, kpi in enumerate(kpis):
            if not isinstance(kpi, m.PeriodOverPeriod):
                j = column[kpi.id]
                value: exp.Expr = _col(f"value_{j}", "g")
                present: exp.Expr = _col(f"present_{j}", "g")
            else:
                j = column[kpi.kpi]
                interval = _offset_parts(_pop_offset(kpi), query.grain)
                if interval not in joined:
                    joined[interval] = alias = f"p{len(joined)}"
                    on = _meets("g", alias, query.by, _interval(*interval))
                    past = exp.table_(_ident(name), alias=_ident(alias))
                    select = _join(select, past, on=on, side="LEFT")
                source = self.kpis[kpi.kpi]
                value = _pop_value(
                    kpi, _col(f"value_{j}", "g"), _col(f"value_{j}", joined[interval]), source
                )
                present = _col(f"present_{j}", "g")
            select = select.select(
                exp.alias_(value, _ident(f"value_{i}"), copy=False),
                exp.alias_(present, _ident(f"present_{i}"), copy=False),
                copy=False,
            )
        select = select.where(
            exp.GTE(this=_col("period", "g"), expression=self.param("start", query.start)),
            copy=False,
        )
        return select.with_(_ident(name), as_=grouped, materialized=True, copy=False)

    def _grouped(self, kpis: Sequence[m.Kpi], query: Query) -> exp.Select:
        """Simple and ratio KPIs of one fact by period and slice, in one pass: ``period``, the
        ``by`` columns, then ``value_<j>`` and ``present_<j>`` per KPI."""
        measures: list[tuple[str, m.Measure]] = []
        outputs: list[exp.Expr] = []
        for i, kpi in enumerate(kpis):
            if isinstance(kpi, m.Simple):
                rows = _rows_passing(kpi.measure.fact, kpi.measure.filters)
                measures += [(f"v{i}", kpi.measure), (f"c{i}", rows)]
                value: exp.Expr = _col(f"v{i}")
                present: exp.Expr = exp.GT(this=_col(f"c{i}"), expression=exp.Literal.number(0))
            else:
                assert isinstance(kpi, m.Ratio)
                num, den = self.kpis[kpi.numerator.kpi], self.kpis[kpi.denominator.kpi]
                assert isinstance(num, m.Simple) and isinstance(den, m.Simple)
                a = with_filters(num, kpi.numerator.filters).measure
                b = with_filters(den, kpi.denominator.filters).measure
                measures += [
                    (f"n{i}", a),
                    (f"d{i}", b),
                    (f"cn{i}", _rows_passing(a.fact, a.filters)),
                    (f"cd{i}", _rows_passing(b.fact, b.filters)),
                ]
                top: exp.Expr = _col(f"n{i}")
                if num.additive:
                    top = exp.Coalesce(this=top, expressions=[exp.Literal.number(0)])
                value = exp.Div(this=top, expression=_nullif_zero(_col(f"d{i}")))
                present = exp.or_(
                    exp.GT(this=_col(f"cn{i}"), expression=exp.Literal.number(0)),
                    exp.GT(this=_col(f"cd{i}"), expression=exp.Literal.number(0)),
                    copy=False,
                )
            outputs += [
                exp.alias_(value, _ident(f"value_{i}"), copy=False),
                exp.alias_(present, _ident(f"present_{i}"), copy=False),
            ]
        fact, time = cast(tuple[str, str], scan_of(kpis[0], self.kpis))
        inner = self.measures(fact, time, measures, query)
        keys = [_col(k) for k in ["period", *query.by]]
        return exp.select(*keys, *outputs).from_(
            inner.subquery(_ident("r"), copy=False), copy=False
        )

    def derived(self, kpi: m.Derived, query: Query) -> exp.Select:
        return self.combine(list(kpi.named), kpi.expr, query)

    def combine(self, inputs: Sequence[m.Input], expr: exp.Expr, query: Query) -> exp.Select:
        """Inputs grouped on their own, joined on period and slice, ``expr`` over their
        aliases."""
        keys = ["period", *query.by]
        # per input: its alias, its rows, whether missing means 0, and the interval its periods
        # lie behind the ones asked for (a shifted input keeps its own periods: moving them
        # forward would map Feb 28 and Feb 29 onto one day a year later and count it twice)
        parts: list[tuple[str, exp.Select, bool, exp.Expr | None]] = []
        for one in inputs:
            source = self.kpis[one.kpi]
            if one.offset is None:
                parts.append(
                    (one.alias, self.kpi(source, query, one.filters), source.additive, None)
                )
                continue
            earlier = query.moved(one.offset, whole_periods=True)
            days, months = _offset_parts(one.offset, query.grain)
            rows = self.kpi(source, earlier, one.filters)
            parts.append((one.alias, rows, source.additive, _interval(days, months)))
        # each input once, as a named result both the list of rows and its join read
        names_of = [self.name("input") for _ in parts]
        keyed = []
        for i, (_, _, _, behind) in enumerate(parts):
            period: exp.Expr = _col("period")
            if behind is not None:
                period = _as_date(exp.Add(this=period, expression=behind.copy()))
            one_side = exp.select(
                exp.alias_(period, _ident("period"), copy=False), *(_col(k) for k in query.by)
            ).from_(exp.table_(_ident(names_of[i])), copy=False)
            if behind is not None:  # a shifted period may fall outside the range asked for
                first = self.param("start", period_start(query.start, query.grain))
                last = self.param("end", query.end)
                one_side = one_side.where(
                    exp.Between(this=period.copy(), low=first, high=last), copy=False
                )
            keyed.append(one_side)
        spine = exp.union(*keyed, distinct=True) if len(keyed) > 1 else keyed[0]
        select = exp.select(*(_col(k, "spine") for k in keys)).from_(
            spine.subquery(_ident("spine"), copy=False), copy=False
        )
        names: dict[str, exp.Expr] = {}
        for i, (alias, _, additive, behind) in enumerate(parts):
            table = f"i{i}"
            on = _meets("spine", table, query.by, behind)
            named = exp.table_(_ident(names_of[i]), alias=_ident(table))
            select = _join(select, named, on=on, side="LEFT")
            value: exp.Expr = _col("value", table)
            if additive:
                value = exp.Coalesce(this=value, expressions=[exp.Literal.number(0)])
            names[alias] = value
        computed = _substitute(expr, names)
        select = select.select(
            exp.alias_(_double(computed), _ident("value"), copy=False), copy=False
        )
        for name, (_, rows, _, _) in zip(names_of, parts, strict=True):
            select = select.with_(_ident(name), as_=rows, materialized=True, copy=False)
        return select

    def cumulative(self, kpi: m.Cumulative, query: Query) -> exp.Select:
        source = self.kpis[kpi.kpi]
        assert isinstance(source, m.Simple)
        measure = source.measure
        spine, first_day = self.calendar(query, to_date=kpi.to_date, window=kpi.window)
        # rows go into buckets of a day, or of a month where every window starts on a month's
        # first day and every period ends on a month's last: then far fewer rows meet the
        # windows, with the same result (a distinct count too, as a bucket holds distinct values)
        monthly = (
            query.grain in ("month", "quarter", "year")
            and query.end == period_end(query.end, "month")
            and (kpi.window is None or kpi.window.unit == "months")
            and measure.agg in ("sum", "count", "count_distinct", "min", "max")
        )
        if (
            measure.agg == "count_distinct"
            and monthly
            and first_day is not None
            and _month_index(query.end) - _month_index(first_day) < _MASK_BITS  # a bit a month
        ):
            return self.month_masks(measure, query, spine, first_day)
        daily = self.buckets(measure, query, first_day, monthly)
        if measure.agg in m.ADDITIVE:
            agg: exp.Expr = exp.Sum(this=_col("v", "r"))
        else:
            agg = _aggregate(measure.agg, _col("v", "r"))
        join = exp.and_(
            exp.LTE(this=_col("day", "r"), expression=_col("period_end", "c")),
            exp.GTE(this=_col("day", "r"), expression=_col("window_start", "c"))
            if first_day is not None
            else exp.true(),
            copy=False,
        )
        exact_stops = kpi.window is None or kpi.window.unit in ("days", "weeks") or monthly
        if measure.agg == "count_distinct" and exact_stops:
            return self.distinct_spans(kpi, query, spine, daily)
        if measure.agg == "count_distinct":
            # a value counts in a period when its last bucket up to the period's end lies in the
            # window: each slice and value meets a period once, so a plain count is the distinct
            # count, without a distinct over every (period, value) the windows repeat
            daily = exp.select(
                *(_col(k) for k in ["day", *query.by, "v"]),
                exp.alias_(_next_bucket(query.by), _ident("next_day"), copy=False),
            ).from_(daily.subquery(_ident("u"), copy=False), copy=False)
            latest = exp.or_(
                exp.Is(this=_col("next_day", "r"), expression=exp.null()),
                exp.GT(this=_col("next_day", "r"), expression=_col("period_end", "c")),
                copy=False,
            )
            join = exp.and_(join, exp.paren(latest, copy=False))
            agg = exp.Count(this=_col("v", "r"))
        select = (
            exp.select(
                _col("period", "c"),
                *(_col(d, "r") for d in query.by),
                exp.alias_(_double(agg), _ident("value"), copy=False),
            )
            .from_(spine.subquery(_ident("c"), copy=False), copy=False)
            .join(daily.subquery(_ident("r"), copy=False), on=join, copy=False)
            .group_by(*_positions(1 + len(query.by)), copy=False)
        )
        return select

    def distinct_spans(
        self, kpi: m.Cumulative, query: Query, spine: exp.Select, buckets: exp.Select
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
        following = _next_bucket(query.by)
        day = _col("day")
        reach: exp.Expr | None
        if kpi.to_date is not None:
            trunc = exp.func("date_trunc", exp.Literal.string(kpi.to_date), day)
            # to-date grains are month, quarter and year (the loader allows no other)
            length = _interval(0, GRAIN_MONTHS[kpi.to_date])
            reach = _as_date(exp.Add(this=trunc, expression=length))
        elif kpi.window is not None:
            days, months = _offset_parts(kpi.window, "day")
            reach = _as_date(exp.Add(this=day.copy(), expression=_interval(days, months)))
        else:
            reach = None
        stop: exp.Expr = following
        if reach is not None:  # LEAST skips a NULL, in DuckDB and PostgreSQL alike
            stop = exp.Least(this=following, expressions=[reach], ignore_nulls=True)
        values = self.name("values")
        spans = exp.select(
            *(_col(k) for k in ["day", *query.by, "v"]),
            exp.alias_(stop, _ident("stop"), copy=False),
        ).from_(buckets.subquery(_ident("u"), copy=False), copy=False)
        slices = [_col(d) for d in query.by]

        def changes(at: str, sign: int) -> exp.Select:
            counted: exp.Expr = exp.Count(this=_col("v"))
            rows: exp.Expr = exp.Count(this=exp.Star())
            if sign < 0:
                counted, rows = exp.Neg(this=counted), exp.Neg(this=rows)
            select = exp.select(
                exp.alias_(_col(at), _ident("t"), copy=False),
                *(s.copy() for s in slices),
                exp.alias_(counted, _ident("counted"), copy=False),
                exp.alias_(rows, _ident("rows"), copy=False),
            ).from_(exp.table_(_ident(values)), copy=False)
            if sign < 0:
                select = select.where(
                    exp.not_(exp.Is(this=_col("stop"), expression=exp.null()), copy=False),
                    copy=False,
                )
            return select.group_by(*_positions(1 + len(slices)), copy=False)

        deltas = exp.union(changes("day", 1), changes("stop", -1), distinct=False)
        in_force = exp.LTE(this=_col("t", "r"), expression=_col("period_end", "c"))
        select = (
            exp.select(
                _col("period", "c"),
                *(_col(d, "r") for d in query.by),
                exp.alias_(
                    _double(exp.Sum(this=_col("counted", "r"))), _ident("value"), copy=False
                ),
            )
            .from_(spine.subquery(_ident("c"), copy=False), copy=False)
            .join(deltas.subquery(_ident("r"), copy=False), on=in_force, copy=False)
            .group_by(*_positions(1 + len(query.by)), copy=False)
            .having(exp.GT(this=exp.Sum(this=_col("rows", "r")), expression=exp.Literal.number(0)))
        )
        return select.with_(_ident(values), as_=spans, materialized=True, copy=False)

    def month_masks(
        self, measure: m.Measure, query: Query, spine: exp.Select, first: dt.date
    ) -> exp.Select:
        """A cumulative distinct count in month buckets over at most :data:`_MASK_BITS`
        months: each slice and value gets one number whose bit k says it occurs in the k-th
        month from ``first``'s; a period counts the values with a bit set among its window's
        months. One grouping of the rows by slice and value, no sort and no span."""
        base = self.param("base", _month_index(first))

        def bit(day: exp.Expr) -> exp.Expr:
            index = exp.Add(
                this=exp.Mul(
                    this=exp.Extract(this=exp.var("YEAR"), expression=day),
                    expression=exp.Literal.number(12),
                ),
                expression=exp.Extract(this=exp.var("MONTH"), expression=day.copy()),
            )
            return _cast(exp.Sub(this=index, expression=base.copy()), "INT")

        def two_to(power: exp.Expr) -> exp.Expr:
            one = _cast(exp.Literal.number(1), "BIGINT")
            return exp.paren(exp.BitwiseLeftShift(this=one, expression=exp.paren(power)))

        def ones(count: exp.Expr) -> exp.Expr:  # 2^count - 1: the lowest ``count`` bits
            return exp.paren(exp.Sub(this=two_to(count), expression=exp.Literal.number(1)))

        rows = self.buckets(measure, query, first, monthly=True, distinct=False)
        slices = [_col(d) for d in query.by]
        masks = (
            exp.select(
                *slices,
                _col("v"),
                exp.alias_(
                    exp.BitwiseOrAgg(this=two_to(bit(_col("day")))), _ident("months"), copy=False
                ),
            )
            .from_(rows.subquery(_ident("u"), copy=False), copy=False)
            .group_by(*_positions(len(slices) + 1), copy=False)
        )
        start, end = bit(_col("window_start")), bit(_col("period_end"))
        width = exp.Add(this=exp.Sub(this=end, expression=start), expression=exp.Literal.number(1))
        window = exp.BitwiseLeftShift(this=ones(width), expression=start.copy())
        periods = exp.select(
            _col("period"), exp.alias_(window, _ident("window"), copy=False)
        ).from_(spine.subquery(_ident("s"), copy=False), copy=False)
        met = exp.NEQ(
            this=exp.paren(
                exp.BitwiseAnd(this=_col("months", "r"), expression=_col("window", "c"))
            ),
            expression=exp.Literal.number(0),
        )
        return (
            exp.select(
                _col("period", "c"),
                *(_col(d, "r") for d in query.by),
                exp.alias_(_double(exp.Count(this=_col("v", "r"))), _ident("value"), copy=False),
            )
            .from_(periods.subquery(_ident("c"), copy=False), copy=False)
            .join(masks.subquery(_ident("r"), copy=False), on=met, copy=False)
            .group_by(*_positions(1 + len(query.by)), copy=False)
        )

    def buckets(
        self,
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
        if measure.agg in _ROLLED:
            rows = _rows_passing(measure.fact, measure.filters)
            wanted = {_measure_key(measure): measure, _measure_key(rows): rows}
            rollup = self.rollup_for(_Read(fact, time, wanted, first, query.end), query)
            if rollup is not None:
                return self._buckets_from_rollup(rollup, measure, rows, query, first, monthly)
        select, cols = self.rows(fact, time, query, bounded=first is not None, lower=first)
        if measure.filters:
            select = select.where(*map(cols.rewrite, measure.filters), copy=False)
        bucket = cols.period("month") if monthly else cols.local_day()
        keys = [exp.alias_(bucket, _ident("day"), copy=False)]
        keys += [exp.alias_(cols.dimension(d), _ident(d), copy=False) for d in query.by]
        if measure.agg in m.ADDITIVE:
            v = exp.alias_(cols.aggregate(measure), _ident("v"), copy=False)
            select = select.select(*keys, v, copy=False).group_by(
                *_positions(len(keys)), copy=False
            )
        else:
            value = (
                cols.rewrite(measure.expr) if measure.expr is not None else exp.Literal.number(1)
            )
            v = exp.alias_(value, _ident("v"), copy=False)
            select = select.select(*keys, v, copy=False)
            if distinct and measure.agg in ("count_distinct", "min", "max"):
                # one row per bucket and value is all these need
                select = select.distinct(copy=False)
        return cols.finish(select)

    def _buckets_from_rollup(
        self,
        rollup: Rollup,
        measure: m.Measure,
        rows: m.Measure,
        query: Query,
        first: dt.date | None,
        monthly: bool,
    ) -> exp.Select:
        """:meth:`buckets` from ``rollup``: its days where the fact has rows (``rows``: the
        count of them), combined per month when ``monthly``."""
        day: exp.Expr = _col("day")
        value: exp.Expr = _col(rollup.columns[_measure_key(measure)])
        last = self.param("end", query.end)
        within = (
            exp.Between(this=day.copy(), low=self.param("start", first), high=last)
            if first is not None
            else exp.LTE(this=day.copy(), expression=last)
        )
        present = exp.GT(
            this=_col(rollup.columns[_measure_key(rows)]), expression=exp.Literal.number(0)
        )
        if monthly:
            day = _trunc("month", day)
            value = _aggregate(_ROLLED[measure.agg], value)
        select = (
            exp.select(
                exp.alias_(day, _ident("day"), copy=False),
                *(_col(d) for d in query.by),
                exp.alias_(value, _ident("v"), copy=False),
            )
            .from_(rollup.source(), copy=False)
            .where(within, present, copy=False)
        )
        if monthly:
            select = select.group_by(*_positions(1 + len(query.by)), copy=False)
        return select

    def calendar(
        self, query: Query, *, to_date: m.Grain | None, window: m.Span | None
    ) -> tuple[exp.Select, dt.date | None]:
        """The periods of the range from ``core.dim_date``, each with its last day (clipped to
        the range) and the first day of its window; and the earliest such day (``None`` for a
        running total, which has no first day)."""
        day = _col("calendar_date", "d")
        period = _period_of(day, query.grain)
        end = exp.Max(this=day.copy())
        if to_date is not None:
            start: exp.Expr = _trunc(to_date, end.copy())
            first: dt.date | None = period_start(query.start, to_date)
        elif window is not None:
            # the window ends on the period's last day: (last day + 1) - N units is its first
            days, months = _offset_parts(window, "day")
            after = exp.Add(this=end.copy(), expression=_interval(1, 0))
            start = _as_date(exp.Sub(this=after, expression=_interval(days, months)))
            first = shift(query.start + dt.timedelta(days=1), window, "day", -1)
        else:
            start = exp.null()
            first = None
        spine = (
            exp.select(
                exp.alias_(period, _ident("period"), copy=False),
                exp.alias_(end, _ident("period_end"), copy=False),
                exp.alias_(start, _ident("window_start"), copy=False),
            )
            .from_(_table("dim_date", "d"), copy=False)
            .where(
                exp.Between(
                    this=day.copy(),
                    low=self.param("start", query.start),
                    high=self.param("end", query.end),
                ),
                copy=False,
            )
            .group_by(exp.Literal.number(1), copy=False)
        )
        return spine, first

    def conversion(self, kpi: m.Conversion, query: Query) -> exp.Select:
        if _same_events(kpi):
            return self.repeats(kpi, query)
        base, cols = self.rows(kpi.base.fact, kpi.base.time, query)
        if kpi.base.filters:
            base = base.where(*map(cols.rewrite, kpi.base.filters), copy=False)
        later = FACTS[kpi.conversion.fact]
        conv_cols = _Columns(later, kpi.conversion.time or later.time, "c", self.zones)
        base_time = _cast(cols.time_column(), "TIMESTAMP")
        conv_time = _cast(conv_cols.time_column(), "TIMESTAMP")
        days, months = _offset_parts(kpi.window, "day")
        matched = [
            exp.EQ(this=conv_cols.reference(kpi.entity), expression=cols.reference(kpi.entity)),
            exp.GTE(this=conv_time, expression=base_time),
            exp.LTE(
                this=conv_time,
                expression=exp.Add(this=base_time, expression=_interval(days, months)),
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
        found = conv_cols.finish(found)
        converted = exp.Exists(this=found)
        keys = [exp.alias_(cols.period(query.grain), _ident("period"), copy=False)]
        keys += [exp.alias_(cols.dimension(d), _ident(d), copy=False) for d in query.by]
        share = _share_of(converted)
        select = base.select(*keys, exp.alias_(share, _ident("value"), copy=False), copy=False)
        select = select.group_by(*_positions(len(keys)), copy=False)
        return cols.finish(select)

    def repeats(self, kpi: m.Conversion, query: Query) -> exp.Select:
        """A conversion whose base and conversion events are the same rows (the same fact, time
        and filters: an invoice followed by another of the client's): each row looks at the
        entity's next and previous rows by time, in one ordered pass instead of a lookup per
        row. The rows are those of the events, unscoped, from the range's start to its end plus
        the window; the base rows are those in the range, scope and filters, flagged:
        conversion events are never scoped (as in :meth:`conversion`)."""
        fact = FACTS[kpi.base.fact]
        cols = _Columns(fact, kpi.base.time or fact.time, zones=self.zones)
        is_base = exp.and_(*self.conditions(cols, query), copy=False)
        days, months = _offset_parts(kpi.window, "day")
        last = shift(query.end, kpi.window, "day", 1)
        self.last_read = max(self.last_read, last)
        moment = cols.time_column()
        read = [
            *map(cols.rewrite, kpi.base.filters),
            *cols.near(self.param("start", query.start), self.param("after", last)),
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
                expression=exp.Add(this=moment.copy(), expression=_interval(days, months)),
            ),
            exp.EQ(this=neighbour("lag"), expression=moment.copy()),
            copy=False,
        )
        converted = exp.and_(
            exp.not_(exp.Is(this=cols.reference(kpi.entity), expression=exp.null()), copy=False),
            exp.Coalesce(this=exp.paren(within, copy=False), expressions=[exp.false()]),
            copy=False,
        )
        keys = [exp.alias_(cols.period(query.grain), _ident("period"), copy=False)]
        keys += [exp.alias_(cols.dimension(d), _ident(d), copy=False) for d in query.by]
        events = exp.select(
            *keys,
            exp.alias_(is_base, _ident("is_base"), copy=False),
            exp.alias_(converted, _ident("converted"), copy=False),
        ).from_(cols.from_table(), copy=False)
        events = cols.finish(events.where(*read, copy=False))
        names = [_col(k) for k in ["period", *query.by]]
        return (
            exp.select(
                *names, exp.alias_(_share_of(_col("converted")), _ident("value"), copy=False)
            )
            .from_(events.subquery(_ident("e"), copy=False), copy=False)
            .where(_col("is_base"), copy=False)
            .group_by(*(n.copy() for n in names), copy=False)
        )

    def period_over_period(self, kpi: m.PeriodOverPeriod, query: Query) -> exp.Select:
        offset = _pop_offset(kpi)
        source = self.kpis[kpi.kpi]
        earlier = query.moved(offset, whole_periods=not kpi.like_for_like)
        days, months = _offset_parts(offset, query.grain)
        single = not kpi.like_for_like and query.start == period_start(query.start, query.grain)
        if single:
            # whole periods from a period's first day: the earlier periods and the current ones
            # are all whole (the last current one up to the range's end) in one range, computed
            # once and read twice
            both = self.name("periods")
            rows = self.kpi(source, replace(query, start=earlier.start))
            now: exp.Select = (
                exp.select("*")
                .from_(exp.table_(_ident(both)), copy=False)
                .where(
                    exp.GTE(this=_col("period"), expression=self.param("start", query.start)),
                    copy=False,
                )
            )
            then = exp.select("*").from_(exp.table_(_ident(both)), copy=False)
        else:
            now = self.kpi(source, query)
            then = self.kpi(source, earlier)
        keys = ["period", *query.by]
        on = _meets("n", "p", query.by, _interval(days, months))
        value = _pop_value(kpi, _col("value", "n"), _col("value", "p"), source)
        select = exp.select(
            *(_col(k, "n") for k in keys), exp.alias_(value, _ident("value"), copy=False)
        ).from_(now.subquery(_ident("n"), copy=False), copy=False)
        select = _join(select, then.subquery(_ident("p"), copy=False), on=on, side="LEFT")
        if single:
            select = select.with_(_ident(both), as_=rows, materialized=True, copy=False)
        return select


def _meets(now: str, then: str, by: Sequence[str], behind: exp.Expr | None) -> exp.Expr:
    """The join of a period and slice of ``now`` to the one of ``then`` ``behind`` it (the
    same one when ``None``). The current period is moved back, never the earlier one forward:
    moved forward a year, Feb 28 and Feb 29 of a leap year would land on one day."""
    wanted: exp.Expr = _col("period", now)
    if behind is not None:
        wanted = _as_date(exp.Sub(this=wanted, expression=behind.copy()))
    return exp.and_(
        exp.NullSafeEQ(this=wanted, expression=_col("period", then)),
        *(exp.NullSafeEQ(this=_col(k, now), expression=_col(k, then)) for k in by),
        copy=False,
    )


def _share_of(condition: exp.Expr) -> exp.Expr:
    """The share of the grouped rows that meet ``condition`` (none for no rows)."""
    met = exp.Filter(this=exp.Count(this=exp.Star()), expression=exp.Where(this=condition))
    return exp.Div(this=_double(met), expression=_nullif_zero(_double(exp.Count(this=exp.Star()))))


def _same_events(kpi: m.Conversion) -> bool:
    """Whether a conversion's base and conversion events are the same rows."""
    base, later = kpi.base, kpi.conversion
    if base.fact != later.fact:
        return False
    time = FACTS[base.fact].time
    filters = {_key(f) for f in base.filters}
    return (base.time or time) == (later.time or time) and filters == {
        _key(f) for f in later.filters
    }


def _pop_offset(kpi: m.PeriodOverPeriod) -> m.Span:
    return m.Span(1, "periods") if kpi.compare == "previous_period" else m.Span(1, "years")


def _pop_value(kpi: m.PeriodOverPeriod, cur: exp.Expr, prev: exp.Expr, source: m.Kpi) -> exp.Expr:
    """A period-over-period KPI's value from its KPI's value now and in the earlier period (an
    additive KPI with no earlier row had 0 then)."""
    if source.additive:
        prev = exp.Coalesce(this=prev, expressions=[exp.Literal.number(0)])
    if kpi.output == "change_pct":
        change = exp.paren(exp.Sub(this=cur, expression=prev), copy=False)
        return _double(exp.Div(this=change, expression=_nullif_zero(prev.copy())))
    if kpi.output == "change":
        return _double(exp.Sub(this=cur, expression=prev))
    return _double(prev)


def _moved(day: exp.Expr, days: int) -> exp.Expr:
    """Midnight UTC starting ``day``, moved by ``days``."""
    moment = _cast(day.copy(), "TIMESTAMP")
    if days < 0:
        return exp.Sub(this=moment, expression=_interval(-days, 0))
    if days > 0:
        return exp.Add(this=moment, expression=_interval(days, 0))
    return moment


def _to_local_day(moment: exp.Expr, zone: exp.Expr) -> exp.Expr:
    """A UTC timestamp's day in ``zone``, converted."""
    utc = exp.AtTimeZone(this=moment, zone=exp.Literal.string("UTC"))
    return _as_date(exp.AtTimeZone(this=utc, zone=zone))


_TWO_STEP = frozenset({*_ROLLED, "count_distinct"})
"""Aggregations :meth:`_Builder._two_step` can compute in two steps."""


def _aggregate(agg: str, value: exp.Expr) -> exp.Expr:
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


def _substitute(expr: exp.Expr, names: Mapping[str, exp.Expr]) -> exp.Expr:
    """``expr`` with each column named in ``names`` replaced, and every division guarded."""

    def swap(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Column) and not node.table and node.name in names:
            return exp.paren(names[node.name].copy(), copy=False)
        return node

    def guard(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Div):
            return exp.Div(
                this=_double(node.this.copy()), expression=_nullif_zero(node.expression.copy())
            )
        return node

    # transform does not descend into what it replaced: columns first, then divisions
    return expr.copy().transform(swap).transform(guard)


class _Columns:
    """Names in a fact's expressions → qualified columns, and the joins that brings in.

    Aliases: ``f`` the fact, ``p`` its parent, ``b`` the branch (its time zone), and one per
    dimension table reached (``d_client``). With ``prefix`` every alias starts with it, so that
    a fact can be read twice in one query (a conversion's base and later events). The table of
    local days is read from ``zones`` (``None``: the temporary table, or the query's own).
    """

    def __init__(
        self, fact: Fact, time: str, prefix: str = "", zones: Workspace | None = None
    ) -> None:
        self.fact = fact
        self.time = time
        self.prefix = prefix
        self.zones = zones
        self.joins: dict[str, exp.Expr] = {}
        self.columns = fact.columns()
        self.mastered = {
            column: entity
            for entity, column in fact.reaches().items()
            if ENTITIES[entity].master is not None
        }

    def alias(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def from_table(self) -> exp.Table:
        return _table(self.fact.table, self.alias("f"))

    def column(self, name: str) -> exp.Column:
        where = self.fact.column_table(name)
        if where == "p":
            self.need_parent()
        return _col(name, self.alias(where))

    def need_parent(self) -> None:
        parent = self.fact.parent
        assert parent is not None
        alias = self.alias("p")
        if alias not in self.joins:
            self.joins[alias] = exp.EQ(
                this=_col(parent.key, alias), expression=_col(parent.key, self.alias("f"))
            )

    def need(self, entity: str) -> str:
        """Join the entity's table; its alias."""
        alias = self.alias("b" if entity == "branch" else f"d_{entity}")
        if alias not in self.joins:
            target = ENTITIES[entity]
            self.joins[alias] = exp.EQ(
                this=_col(target.key, alias), expression=self.own_reference(entity)
            )
        return alias

    def own_reference(self, entity: str) -> exp.Column:
        """The entity's key exactly as the fact row holds it."""
        return self.column(self.fact.reaches()[entity])

    def reference(self, entity: str) -> exp.Expr:
        """The entity a row refers to: its own key, or for an entity with a ``master`` column
        (a client) the master's key when the referenced row is a duplicate."""
        own = self.own_reference(entity)
        master = ENTITIES[entity].master
        if master is None:
            return own
        return exp.Coalesce(this=_col(master, self.need(entity)), expressions=[own])

    def key(self) -> exp.Column:
        return _col(self.fact.key, self.alias("f"))

    def dimension(self, name: str) -> exp.Expr:
        d = DIMENSIONS[name]
        if d.own is not None and d.own in self.columns:
            return self.column(d.own)
        if d.column == ENTITIES[d.entity].key:
            return self.reference(d.entity)
        return _col(d.column, self.need(d.entity))

    def rewrite(self, tree: exp.Expr) -> exp.Expr:
        """An analyst's expression with each name qualified: a fact column, else a dimension.
        A reference to a client is to its master when the client is a duplicate."""

        def qualify(node: exp.Expr) -> exp.Expr:
            if isinstance(node, exp.Column) and not node.table:
                if node.name in self.mastered:
                    return self.reference(self.mastered[node.name])
                if node.name in self.columns:
                    return self.column(node.name)
                if node.name in DIMENSIONS:
                    return self.dimension(node.name)
            return node

        return tree.copy().transform(qualify)

    def time_column(self) -> exp.Column:
        return self.column(self.time)

    def local_day(self) -> exp.Expr:
        """The row's day in its branch's time zone (a DATE column is already a day).

        Converting each row with ``AT TIME ZONE`` is the dearest part of many a KPI, so the
        day is looked up: :data:`ZONE_DAYS` holds, per branch and UTC date, the local day at
        that date's midnight and the two instants after it where a new local day starts (two:
        a short local day can lie wholly inside a UTC one); a row's day is the last one whose
        start it has passed. A row the table has no line for (its branch unknown, its date
        outside the table) is converted; a branch without a time zone counts in UTC rather
        than not at all.
        """
        column = self.time_column()
        if self.columns[self.time] == "DATE":
            return column
        z = self.need_zone_days()
        looked_up = exp.Case(
            ifs=[
                exp.If(
                    this=exp.GTE(this=column.copy(), expression=_col(f"cut_{n}", z)),
                    true=_col(f"day_{n}", z),
                )
                for n in (2, 1)
            ],
            default=_col("day_0", z),
        )
        zone = exp.Coalesce(
            this=_col("timezone", self.need("branch")), expressions=[exp.Literal.string("UTC")]
        )
        return exp.Coalesce(this=looked_up, expressions=[_to_local_day(column.copy(), zone)])

    def need_zone_days(self) -> str:
        """Join :data:`ZONE_DAYS` on the row's branch and UTC date; its alias."""
        alias = self.alias("z")
        if alias not in self.joins:
            self.joins[alias] = exp.and_(
                exp.EQ(this=_col("branch_id", alias), expression=self.reference("branch")),
                exp.EQ(this=_col("utc_date", alias), expression=_as_date(self.time_column())),
                copy=False,
            )
        return alias

    def period(self, grain: m.Grain) -> exp.Expr:
        return _period_of(self.local_day(), grain)

    def range(self, start: exp.Expr, end: exp.Expr) -> list[exp.Expr]:
        """Rows whose local day is in [start, end].

        For a timestamp, the local day is only computed where it can matter: a row stored (in
        UTC) more than a day inside the range is in it in any time zone (offsets stay within
        ±14 hours), one more than a day outside is not (:meth:`near`); only the rows near either
        end are placed on their local day.
        """
        if self.columns[self.time] == "DATE":
            return [exp.Between(this=self.local_day(), low=start, high=end)]
        inside = exp.and_(
            exp.GTE(this=self.time_column(), expression=_moved(start, 1)),
            exp.LT(this=self.time_column(), expression=_moved(end, 0)),
            copy=False,
        )
        near_an_end = exp.Between(this=self.local_day(), low=start, high=end)
        return [
            *self.near(start, end),
            exp.paren(exp.or_(exp.paren(inside, copy=False), near_an_end, copy=False), copy=False),
        ]

    def near(self, start: exp.Expr, end: exp.Expr) -> list[exp.Expr]:
        """Rows stored (in UTC) from a day before ``start`` to two days after ``end`` begins:
        every row whose local day is in [start, end] in any time zone (offsets stay within ±14
        hours), in plain bounds the engine can skip whole blocks of rows by. A DATE column is
        the day itself: those days exactly."""
        if self.columns[self.time] == "DATE":
            return [exp.Between(this=self.time_column(), low=start, high=end)]
        return [
            exp.GTE(this=self.time_column(), expression=_moved(start, -1)),
            exp.LT(this=self.time_column(), expression=_moved(end, 2)),
        ]

    def aggregate(self, measure: m.Measure) -> exp.Expr:
        if measure.expr is None:
            return exp.Count(this=exp.Star())
        return _aggregate(measure.agg, self.rewrite(measure.expr))

    def finish(self, select: exp.Select) -> exp.Select:
        """``select`` with the joins its expressions needed, in the order they were needed."""
        for alias, on in self.joins.items():
            name = alias.removeprefix(self.prefix)
            if name == "p":
                assert self.fact.parent is not None
                table = self.fact.parent.table
            elif name == "z":
                zone_days = _work_table(ZONE_DAYS, self.zones, alias)
                select = _join(select, zone_days, on=on, side="LEFT")
                continue
            elif name == "b":
                table = "dim_branch"
            else:
                table = ENTITIES[name.removeprefix("d_")].table
            select = _join(select, _table(table, alias), on=on, side="LEFT")
        return select
