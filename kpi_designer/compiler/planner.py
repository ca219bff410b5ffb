"""Planning and compiling: the statements computing KPIs for one query.

:func:`compile_kpi` compiles one KPI alone; :func:`compile_scan` several KPIs of one fact in one
pass. :func:`plan` compiles KPIs evaluated together: a fact and time column that several of their
statements read is rolled up per local day once, into a table those statements read instead
(:class:`~kpi_designer.compiler.rollups.Rollup`), and the table of local days is made once for
all. The tables are temporary, or, in a :class:`~kpi_designer.compiler.rollups.Workspace`,
visible to every connection of the database, so that the statements reading them can run at
once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from sqlglot import exp

from kpi_designer import model as m
from kpi_designer.compiler.builder import Builder
from kpi_designer.compiler.one_scan import one_scan, scan_of
from kpi_designer.compiler.query import Compiled, Query, check_query
from kpi_designer.compiler.rollups import (
    MeasureKey,
    Read,
    Rollup,
    Workspace,
    create_table,
    grouping_of,
)
from kpi_designer.compiler.trees import col, earliest, expr_key, ident
from kpi_designer.compiler.zones import ZONE_DAYS


def compile_kpi(
    kpi_id: str, query: Query, kpis: Mapping[str, m.Kpi], rollups: Sequence[Rollup] = ()
) -> Compiled:
    """The SQL computing ``kpi_id`` for ``query``; raises :class:`EvaluationError` for a KPI,
    grain or dimension the definitions cannot answer. It reads ``rollups`` (tables made for
    this query, see :func:`plan`) instead of a fact where they hold what it needs."""
    check_query(kpi_id, query, kpis)
    return _compile_kpi(Builder(kpis, query, rollups), kpi_id, query)


def _compile_kpi(builder: Builder, kpi_id: str, query: Query) -> Compiled:
    inner = builder.kpi(builder.kpis[kpi_id], query)
    keys = ["period", *query.by]
    select = exp.select(*(col(k) for k in keys), col("value")).from_(
        inner.subquery(ident("kpi"), copy=False), copy=False
    )
    select = builder.with_zone_days(select.order_by(*(col(k) for k in keys), copy=False))
    return Compiled(select, builder.params)


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
    return _compile_scan(Builder(kpis, query, rollups), kpi_ids, query)


def _compile_scan(builder: Builder, kpi_ids: Sequence[str], query: Query) -> Compiled:
    scan = one_scan(builder, [builder.kpis[k] for k in kpi_ids], query)
    select = exp.select("*").from_(scan.subquery(ident("scan"), copy=False), copy=False)
    return Compiled(builder.with_zone_days(select), builder.params)


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
    reads: list[list[Read]] = []
    statements: list[Compiled] = []
    builders: list[Builder] = []
    for unit in units:  # compiled once as they are, noting what each reads
        builder = Builder(
            kpis, query, record=share_reads, shared_zones=share_reads, workspace=workspace
        )
        statements.append(_compile_any(builder, unit, query))
        reads.append(builder.reads)
        builders.append(builder)
    by_source: dict[tuple[str, str], list[Read]] = {}
    for read in (r for unit_reads in reads for r in unit_reads):
        by_source.setdefault((read.fact, read.time), []).append(read)
    rollups = []
    for (fact, time), read_list in by_source.items():
        # one counted value per rollup: the one most reads count; the others read the fact
        counts = Counter(expr_key(r.counted) for r in read_list if r.counted is not None)
        counted = counts.most_common(1)[0][0] if counts else None
        served = [r for r in read_list if r.counted is None or expr_key(r.counted) == counted]
        if len(served) > 1:
            rollup, builder = build_rollup(f"rollup_{fact}_{time}", served, query, kpis, workspace)
            rollups.append(rollup)
            builders.append(builder)
    rolled = {(r.fact, r.time) for r in rollups}
    after_rollups = set()
    for i, unit in enumerate(units):  # again, reading the rollups, where one serves them
        if any((r.fact, r.time) in rolled for r in reads[i]):
            builders[i] = Builder(kpis, query, rollups, shared_zones=True, workspace=workspace)
            statements[i] = _compile_any(builders[i], unit, query)
            after_rollups.add(i)
    zones = None
    zoned = [b for b in builders if b.reads_zones and b.shared_zones]
    if zoned:  # one table of local days for every statement and rollup, made first
        builder = Builder(kpis, query)
        builder.first_read = earliest([b.first_read for b in zoned])
        builder.last_read = max(b.last_read for b in zoned)
        days = Compiled(builder.zone_days(), builder.params)
        zones = create_table(ZONE_DAYS, days, workspace)
    return Plan(units, rollups, statements, zones, frozenset(after_rollups))


def _compile_any(builder: Builder, unit: Sequence[str], query: Query) -> Compiled:
    if len(unit) == 1:
        return _compile_kpi(builder, unit[0], query)
    return _compile_scan(builder, unit, query)


def build_rollup(
    table: str,
    reads: Sequence[Read],
    query: Query,
    kpis: Mapping[str, m.Kpi],
    workspace: Workspace | None,
) -> tuple[Rollup, Builder]:
    """The rollup answering every one of ``reads``: their measures, over all their days; and
    the builder that made it (the days it reads local days on)."""
    measures: dict[MeasureKey, m.Measure] = {}
    for read in reads:
        measures.update(read.measures)
    first = earliest([read.first for read in reads])
    last = max(read.last for read in reads)
    columns = {key: f"m_{i}" for i, key in enumerate(measures)}
    builder = Builder(kpis, query, shared_zones=True, workspace=workspace)
    fact, time = reads[0].fact, reads[0].time
    days = replace(query, start=first or last, end=last, grain="day")
    named = [(columns[key], measure) for key, measure in measures.items()]
    counted = next((r.counted for r in reads if r.counted is not None), None)
    inner = builder.measures(
        fact, time, named, days, bounded=first is not None, exact=True, counted=counted
    )
    select = exp.select(
        exp.alias_(col("period"), ident("day"), copy=False),
        *(col(d) for d in query.by),
        *([col("counted")] if counted is not None else []),
        *(col(c) for c in columns.values()),
    ).from_(inner.subquery(ident("r"), copy=False), copy=False)
    if first is None:  # read from the first row; the last day still bounds it
        select = select.where(
            exp.LTE(this=col("period"), expression=builder.param("end", last)), copy=False
        )
    compiled = Compiled(builder.with_zone_days(select), builder.params)
    grouping = grouping_of(query)
    rollup = Rollup(table, fact, time, grouping, columns, first, last, compiled, counted, workspace)
    return rollup, builder
