"""The builder of one statement: the parameters it binds, the names of its parts, and the
reading of a fact that every KPI type starts from (:meth:`Builder.rows`, :meth:`Builder.measures`).

Each KPI type's compilation lives in a module of :mod:`kpi_designer.compiler.types`;
:meth:`Builder.kpi` hands a KPI to its type's compiler, which calls back into the builder for
the rows of a fact, for another KPI's rows, and for parameters.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from sqlglot import exp

from kpi_designer import model as m
from kpi_designer.compiler import zones
from kpi_designer.compiler.columns import Columns
from kpi_designer.compiler.query import Query
from kpi_designer.compiler.rollups import (
    ROLLED,
    MeasureKey,
    Read,
    Rollup,
    Workspace,
    measure_key,
    of_time,
    rows_passing,
)
from kpi_designer.compiler.trees import (
    aggregate,
    col,
    double,
    expr_key,
    ident,
    period_of,
    positions,
)
from kpi_designer.compiler.types.registry import compiler_for
from kpi_designer.loader import narrowed
from kpi_designer.semantic import FACTS


class Builder:
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
        self.reads: list[Read] = []  # what the parts read of the facts, when recording
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
        """``select`` with :data:`zones.ZONE_DAYS` defined in front, when a part of it reads the
        table: one line per branch and UTC date the query reads rows on, a day more each side."""
        if not zones.reads_zone_days(select):
            return select
        self.reads_zones = True
        if self.shared_zones:
            return select
        return select.with_(
            ident(zones.ZONE_DAYS), as_=self.zone_days(), materialized=True, copy=False
        )

    def zone_days(self) -> exp.Select:
        """The table of local days for the days this query reads rows on."""
        return zones.zone_days(self.param, self.first_read, self.last_read)

    def param(self, stem: str, value: object) -> exp.Placeholder:
        for name, existing in self.params.items():
            if name.startswith(stem) and existing == value and type(existing) is type(value):
                return exp.Placeholder(this=name)
        name = f"{stem}_{len(self.params)}"
        self.params[name] = value
        return exp.Placeholder(this=name)

    def first_day(self, query: Query) -> exp.Expr | None:
        """At ``range`` grain, the range's first day, bound: every row's period
        (:func:`~kpi_designer.compiler.trees.period_of`); ``None`` at the other grains, whose
        periods come from the rows' days."""
        return self.param("start", query.start) if query.grain == "range" else None

    def rollup_for(self, read: Read, query: Query) -> Rollup | None:
        """The rollup that answers ``read``, if one does; the read is noted when recording."""
        if self.record:
            self.reads.append(read)
        return next((r for r in self.rollups if r.serves(read, query)), None)

    # -- dispatch ---------------------------------------------------------------------------

    def kpi(self, kpi: m.Kpi, query: Query, extra: tuple[exp.Expr, ...] = ()) -> exp.Select:
        """``kpi``'s rows for ``query``: ``period``, the ``by`` columns and ``value``, built by
        its type's compiler (:data:`kpi_designer.compiler.types.COMPILERS`). ``extra`` filters
        a simple KPI or a balance further (a ratio's or derived KPI's filtered input)."""
        kpi = narrowed(kpi, extra)
        return compiler_for(kpi)(self, kpi, query)

    # -- the rows of a fact -----------------------------------------------------------------

    def rows(
        self,
        fact_name: str,
        time: str | None,
        query: Query,
        *,
        bounded: bool = True,
        lower: dt.date | None = None,
    ) -> tuple[exp.Select, Columns]:
        """``SELECT … FROM`` the fact with the joins its expressions need, the range, the scope
        and the request's filters applied; the caller adds what it selects and groups."""
        cols = Columns(FACTS[fact_name], time or FACTS[fact_name].time, zones=self.zones)
        conditions = self.conditions(cols, query, bounded=bounded, lower=lower)
        select = exp.select().from_(cols.from_table(), copy=False)
        # the joins are only known once every expression is rewritten: added in finish()
        return select.where(*conditions, copy=False) if conditions else select, cols

    def conditions(
        self, cols: Columns, query: Query, *, bounded: bool = True, lower: dt.date | None = None
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
        written = [{expr_key(f): f for f in measure.filters} for _, measure in measures]
        common = [text for text in written[0] if all(text in w for w in written[1:])]
        shared = [written[0][text] for text in common]
        read = self._read(fact_name, time, measures, shared, query)
        if read is not None:
            rollup = self.rollup_for(read, query)
            if rollup is not None:
                rows = measure_key(rows_passing(fact_name, shared))
                return self._from_rollup(rollup, measures, rows, query)
        select, cols = self.rows(fact_name, time, query, bounded=bounded)
        if shared:
            select = select.where(*map(cols.rewrite, shared), copy=False)
        keys = [
            exp.alias_(cols.period(query.grain, self.first_day(query)), ident("period"), copy=False)
        ]
        keys += [exp.alias_(cols.dimension(d), ident(d), copy=False) for d in query.by]
        if counted is not None:
            keys.append(exp.alias_(cols.rewrite(counted), ident("counted"), copy=False))
        own_filters: list[exp.Expr | None] = []
        for own in written:
            rest = [cols.rewrite(f) for text, f in own.items() if text not in common]
            own_filters.append(exp.and_(*rest, copy=False) if rest else None)
        distinct = {
            expr_key(m_.expr) for _, m_ in measures if m_.agg == "count_distinct" and m_.expr
        }
        if len(distinct) == 1 and all(m_.agg in TWO_STEP for _, m_ in measures):
            return self._two_step(select, cols, keys, measures, own_filters)
        outputs = []
        for (alias, measure), only in zip(measures, own_filters, strict=True):
            agg = cols.aggregate(measure)
            if only is not None:
                agg = exp.Filter(this=agg, expression=exp.Where(this=only))
            outputs.append(exp.alias_(agg if exact else double(agg), ident(alias), copy=False))
        select = select.select(*keys, *outputs, copy=False)
        select = select.group_by(*positions(len(keys)), copy=False)
        return cols.finish(select)

    def _read(
        self,
        fact: str,
        time: str,
        measures: Sequence[tuple[str, m.Measure]],
        shared: Sequence[exp.Expr],
        query: Query,
    ) -> Read | None:
        """What :meth:`measures` needs of a rollup, if one can answer it: sums, counts, minima
        and maxima (with the count of the rows passing the common filters: a period and slice
        has a row where one does), and distinct counts of one value of the row's time (as the
        count of the rows passing each one's filters: whether a day's value counts)."""
        if any(m_.agg not in ROLLED and m_.agg != "count_distinct" for _, m_ in measures):
            return None
        counted: dict[str, exp.Expr] = {}
        for _, measure in measures:
            if measure.agg == "count_distinct":
                if measure.expr is None or not of_time(measure.expr, time):
                    return None
                counted[expr_key(measure.expr)] = measure.expr
        if len(counted) > 1:
            return None
        wanted: dict[MeasureKey, m.Measure] = {}
        for _, measure in measures:
            if measure.agg == "count_distinct":
                measure = rows_passing(fact, measure.filters)
            wanted[measure_key(measure)] = measure
        rows = rows_passing(fact, shared)
        wanted[measure_key(rows)] = rows
        value = next(iter(counted.values()), None)
        return Read(fact, time, wanted, query.start, query.end, value)

    def _from_rollup(
        self,
        rollup: Rollup,
        measures: Sequence[tuple[str, m.Measure]],
        rows: MeasureKey,
        query: Query,
    ) -> exp.Select:
        """:meth:`measures` from ``rollup``: its days in the range combined per period and
        slice, where the fact has rows (``rows``: the count of them)."""
        period = period_of(col("day"), query.grain, self.first_day(query))
        keys = [exp.alias_(period, ident("period"), copy=False), *(col(d) for d in query.by)]
        outputs = []
        for alias, measure in measures:
            if measure.agg == "count_distinct":  # the values of the days some row passed
                met = rows_passing(measure.fact, measure.filters)
                passed = exp.GT(
                    this=col(rollup.columns[measure_key(met)]), expression=exp.Literal.number(0)
                )
                combined: exp.Expr = exp.Filter(
                    this=aggregate("count_distinct", col("counted")),
                    expression=exp.Where(this=passed),
                )
            else:
                column = col(rollup.columns[measure_key(measure)])
                combined = aggregate(ROLLED[measure.agg], column)
            outputs.append(exp.alias_(double(combined), ident(alias), copy=False))
        within = exp.Between(
            this=col("day"),
            low=self.param("start", query.start),
            high=self.param("end", query.end),
        )
        present = exp.GT(
            this=exp.Sum(this=col(rollup.columns[rows])), expression=exp.Literal.number(0)
        )
        return (
            exp.select(*keys, *outputs)
            .from_(rollup.source(), copy=False)
            .where(within, copy=False)
            .group_by(*positions(len(keys)), copy=False)
            .having(present, copy=False)
        )

    def _two_step(
        self,
        select: exp.Select,
        cols: Columns,
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
                inner.append(exp.alias_(exp.func("bool_or", met), ident(part), copy=False))
                final: exp.Expr = exp.Filter(
                    this=exp.Count(this=col("counted")),
                    expression=exp.Where(this=col(part)),
                )
            else:
                agg = cols.aggregate(measure)
                if only is not None:
                    agg = exp.Filter(this=agg, expression=exp.Where(this=only))
                inner.append(exp.alias_(agg, ident(part), copy=False))
                final = aggregate(ROLLED[measure.agg], col(part))
            outer.append(exp.alias_(double(final), ident(alias), copy=False))
        counted = next(m_.expr for _, m_ in measures if m_.agg == "count_distinct")
        assert counted is not None
        value = exp.alias_(cols.rewrite(counted), ident("counted"), copy=False)
        grouped = select.select(*keys, value, *inner, copy=False).group_by(
            *positions(len(keys) + 1), copy=False
        )
        names = [col(k.alias) for k in keys]
        return (
            exp.select(*names, *outer)
            .from_(cols.finish(grouped).subquery(ident("g"), copy=False), copy=False)
            .group_by(*(n.copy() for n in names), copy=False)
        )

    # -- the types --------------------------------------------------------------------------


TWO_STEP = frozenset({*ROLLED, "count_distinct"})
"""Aggregations :meth:`Builder._two_step` can compute in two steps."""
