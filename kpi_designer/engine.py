"""The façade dashboards, reports and alerts use to get KPI values: ``Engine``.

    engine = Engine.from_settings(load_settings(project))
    frame = engine.evaluate(["revenue", "win_rate"], start=…, end=…, grain="month",
                            by=["branch"], filters=["region = 'west'"],
                            scope={"branch": ["denver"]})
    card = engine.scorecard("sales_manager", start=…, end=…)

Definitions (``kpis/``, ``plans/``, ``scorecards/``) are read when the engine is made; the
values come from the published warehouse snapshot, read-only. Results are cached per snapshot:
asking again before the next publish returns the same frame without touching the warehouse,
and a publish makes every cached value stale at once (the snapshot's name is in the key). The
cache holds :data:`CACHE_ROWS` rows at most, the least recently asked dropped first.

KPIs asked for together are planned together (:func:`kpi_designer.compiler.plan`): first the
tables they share (local days, rollups), then one statement per KPI or group of KPIs. Statements
that do not depend on each other run at once, each on its own cursor, a few at a time
(``workers``): DuckDB runs each statement on every core, but not every step of a statement
keeps them all busy (planning it, its last single-threaded steps, building its result), and
two statements at once fill those gaps. The shared tables are made in a schema of their own
per evaluation, in a database attached in memory (:data:`WORK_CATALOG`), which every cursor of
the snapshot's connection sees (and every other connection of the process to that file);
the schema is dropped when the evaluation ends. An evaluation keeps the connection it started
on to its end, even when a newer snapshot is published meanwhile.

KPI expressions, filters and scopes are SQL that people write, compiled into the engine's
statements: the engine reads the snapshot only through a sandboxed connection
(:func:`kpiboard.sandbox.connect`: no files, no extensions, configuration locked, UTC), and
refuses any other. Its database of shared tables is attached in memory, which the sandbox
still allows; its cursors get the database's UTC and no progress bar from the sandbox.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TYPE_CHECKING, TypeVar, cast

from sqlglot import exp

from kpi_designer import model as m
from kpi_designer.compiler import (
    DIALECTS,
    Compiled,
    Plan,
    Query,
    Workspace,
    check_query,
    compile_kpi,
    parse_filter,
    period_end,
    period_start,
    periods,
    plan,
)
from kpi_designer.compiler.behind import TOTAL, compile_rows
from kpi_designer.errors import DefinitionError, EvaluationError
from kpi_designer.loader import load_kpis, reachable, read_kpis
from kpi_designer.plans import attach, load_plans, parse_period
from kpi_designer.scorecards import Scored, load_scorecards, score
from kpi_designer.semantic import COLUMNS, CORE_SCHEMA, ENTITIES, FACTS
from kpiboard.config import Settings
from kpiboard.errors import Problem
from kpiboard.yamlnodes import did_you_mean

if TYPE_CHECKING:  # imported where KPIs are evaluated: loading definitions needs neither
    import duckdb
    import pandas as pd

PLANNED_AHEAD = frozenset({"delivery"})
"""Facts whose time may lie in the future (a delivery's planned start)."""
CACHE_ROWS = 2_000_000
"""Rows of results the engine keeps cached, each KPI's values and whole answers together. All
120 demo KPIs by employee over 24 months are 137,170 rows, 26 MB in memory (both ways: 52 MB),
so the cache holds some 400 MB at most; the least recently asked go first."""
COMPILES_KEPT = 20_000
"""(KPI, question) pairs remembered as compiling, so that :meth:`Engine.evaluate_apart` asked
again (a dashboard's tiles, every few seconds) does not compile each KPI again to find out."""
WORK_CATALOG = "kpiboard_work"
"""The database, attached in memory to the snapshot's connection, where evaluations make the
tables their statements share (the snapshot itself is read-only)."""
WORKERS = min(4, os.cpu_count() or 1)
"""Statements of one evaluation run at once, by default."""

T = TypeVar("T")
_EVALUATIONS = itertools.count(1)
"""Names each evaluation's workspace: engines of one process may share a database (DuckDB
opens one instance per file and process), so the count is the process's."""

Scope = Mapping[str, Sequence[str]]
"""Dimension → the members a user may see, e.g. ``{"branch": ["denver"]}``."""
Slice = Mapping[str, str | None]
"""Dimension → the member of one slice, e.g. ``{"branch": "denver"}``; ``None`` for the
slice of rows without a member (an invoice line without a product)."""


@dataclass(frozen=True)
class _Opened:
    """The engine's connection to one snapshot (sandboxed); each table's rows (as DuckDB
    estimates them), by schema and name, to know which statements read the most."""

    snapshot: object
    connection: duckdb.DuckDBPyConnection
    rows: Mapping[tuple[str, str], int]


@dataclass(frozen=True)
class Definitions:
    """Everything an analyst wrote: KPIs by id, plan values, scorecards by role.

    Read by :func:`read_definitions`, ``left_out`` are the KPIs defined with a problem (or
    using one that has), each with the problem that explains it, and ``problems`` every
    problem of the KPI and scorecard files; :func:`load_definitions` leaves both empty."""

    kpis: Mapping[str, m.Kpi]
    plans: Sequence[m.Plan] = ()
    scorecards: Mapping[str, m.Scorecard] = field(default_factory=dict)
    left_out: Mapping[str, Problem] = field(default_factory=dict)
    problems: Sequence[Problem] = ()


@dataclass(frozen=True)
class Evaluated:
    """What :meth:`Engine.evaluate_apart` answers: the rows of the KPIs that could be
    evaluated, as :meth:`Engine.evaluate` gives them, and each KPI that could not, with its
    located problem, in the order asked."""

    frame: pd.DataFrame
    failed: Mapping[str, Problem]


def load_definitions(settings: Settings) -> Definitions:
    """The project's KPIs, plans and scorecards; one :class:`DefinitionError` lists every
    problem of every file (plans and scorecards are checked once the KPIs load)."""
    kpis = load_kpis(settings.resolve(settings.kpi.definitions))
    problems: list[Problem] = []
    plans: list[m.Plan] = []
    cards: dict[str, m.Scorecard] = {}
    try:
        plans = load_plans(settings.resolve(settings.kpi.plans), kpis)
    except DefinitionError as exc:
        problems += exc.problems
    try:
        cards = load_scorecards(settings.resolve(settings.kpi.scorecards), kpis)
    except DefinitionError as exc:
        problems += exc.problems
    if problems:
        raise DefinitionError(problems)
    return Definitions(kpis, plans, cards)


def read_definitions(settings: Settings) -> Definitions:
    """The project's definitions that can be used, the others noted rather than raised: a KPI
    with a problem is left out (:attr:`Definitions.left_out`) and the rest load, and so do
    their plans; scorecards load only when their files have no problem. A problem in a plan
    file is still raised (:class:`DefinitionError`): a plan row left out would change an
    achievement without a word."""
    files = read_kpis(settings.resolve(settings.kpi.definitions))
    plans = load_plans(settings.resolve(settings.kpi.plans), files.kpis, files.left_out)
    problems = list(files.problems)
    cards: dict[str, m.Scorecard] = {}
    try:
        cards = load_scorecards(settings.resolve(settings.kpi.scorecards), files.kpis)
    except DefinitionError as exc:
        problems += exc.problems
    return Definitions(files.kpis, plans, cards, files.left_out, problems)


def compile_all(kpis: Mapping[str, m.Kpi], only: Collection[str] | None = None) -> None:
    """Compile every KPI for every dialect (a year by month, sliced by branch where it can be):
    a definition the compiler cannot turn into SQL is reported like a file problem. ``only``
    compiles just those of ``kpis`` (the designer's draft), the others still known as inputs."""
    query = Query(dt.date(2025, 1, 1), dt.date(2025, 12, 31), "month")
    problems = []
    for kpi in kpis.values():
        if only is not None and kpi.id not in only:
            continue
        sliced = Query(query.start, query.end, "month", ("branch",))
        try:
            compiled = compile_kpi(
                kpi.id, sliced if "branch" in reachable(kpi, kpis) else query, kpis
            )
            for dialect in DIALECTS:
                compiled.sql(dialect)
        except Exception as exc:  # any failure here is a definition the engine cannot run
            problems.append(
                Problem(
                    kpi.location.path, kpi.location.line, f"kpi {kpi.id!r}: does not compile: {exc}"
                )
            )
    if problems:
        raise DefinitionError(problems)


def _located(kpi: m.Kpi, message: str) -> Problem:
    """A problem of ``kpi`` at its definition, named ``kpi 'x': …`` unless ``message`` (an
    :class:`EvaluationError`'s) already names it."""
    named = f"kpi {kpi.id!r}"
    text = message if message.startswith(named) else f"{named}: {message}"
    return Problem(kpi.location.path, kpi.location.line, text)


def describe_kpi(kpi: m.Kpi) -> str:
    """How a KPI is computed, in one line: ``sum(net_amount) of invoice where …``."""
    if isinstance(kpi, m.Simple):
        return _measure_text(kpi.measure)
    if isinstance(kpi, m.Ratio):
        return f"{_input_text(kpi.numerator)} / {_input_text(kpi.denominator)} (ratio of sums)"
    if isinstance(kpi, m.Derived):
        listed = [_input_text(i) for i in kpi.named if i.alias != i.kpi or i.offset or i.filters]
        return kpi.expr.sql("duckdb") + (f" where {'; '.join(listed)}" if listed else "")
    if isinstance(kpi, m.Cumulative):
        window = (
            f"{kpi.to_date}-to-date"
            if kpi.to_date
            else f"over the last {kpi.window}"
            if kpi.window
            else "running total"
        )
        return f"{kpi.kpi}, {window}"
    if isinstance(kpi, m.Conversion):
        return (
            f"share of {_events_text(kpi.base)} followed by {_events_text(kpi.conversion)} "
            f"for the same {kpi.entity} within {kpi.window}"
        )
    if isinstance(kpi, m.PeriodOverPeriod):
        lfl = ", like for like" if kpi.like_for_like else ""
        return f"{kpi.kpi}: {kpi.output} against the {kpi.compare.replace('_', ' ')}{lfl}"
    if isinstance(kpi, m.Balance):
        measure = replace(kpi.measure, time=None)
        span = f"from {kpi.measure.time or FACTS[kpi.measure.fact].time}"
        span += f" until {kpi.until}" if kpi.until else " on"
        text = f"{_measure_text(measure)}, rows in force at the period's end ({span})"
        if kpi.when:
            text += " when " + " AND ".join(w.sql("duckdb") for w in kpi.when)
        return text
    if isinstance(kpi, m.Entities):
        entity = " and ".join(kpi.entity)
        events = " or ".join(_events_text(e) for e in kpi.events)
        gap = f" after {kpi.gap} without one" if kpi.gap else ""
        return f"distinct {entity} that are {kpi.count}, by events: {events}{gap}"
    return kpi.TYPE


def _measure_text(measure: m.Measure) -> str:
    what = measure.expr.sql("duckdb") if measure.expr is not None else "*"
    agg = "count(DISTINCT " if measure.agg == "count_distinct" else f"{measure.agg}("
    text = f"{agg}{what}) of {measure.fact}"
    if measure.time:
        text += f" by {measure.time}"
    if measure.filters:
        text += " where " + " AND ".join(f.sql("duckdb") for f in measure.filters)
    return text


def _input_text(one: m.Input) -> str:
    text = one.kpi if one.alias == one.kpi else f"{one.alias} = {one.kpi}"
    if one.filters:
        text += " where " + " AND ".join(f.sql("duckdb") for f in one.filters)
    if one.offset:
        text += f" {one.offset} earlier"
    return text


def _events_text(events: m.Events) -> str:
    text = events.fact + (f" ({events.time})" if events.time else "")
    if events.filters:
        text += " where " + " AND ".join(f.sql("duckdb") for f in events.filters)
    return text


class Engine:
    """Evaluates KPIs and scorecards against the published snapshot, with a per-snapshot cache.

    ``snapshot`` names the data currently published (``None`` before the first run) and
    ``connect`` opens it read-only and sandboxed (:mod:`kpiboard.sandbox`; a connection that
    is not is refused with ``RuntimeError``); both come from the warehouse in
    :meth:`from_settings`, and tests pass their own. With ``share_reads`` off, every statement
    reads its facts itself (no rollups): the same values, for comparing. ``workers`` statements
    of an evaluation run at once (1: one after the other). The cache holds ``cache_rows`` rows
    of results.
    """

    def __init__(
        self,
        definitions: Definitions,
        connect: Callable[[], duckdb.DuckDBPyConnection],
        snapshot: Callable[[], object],
        *,
        cache_rows: int = CACHE_ROWS,
        share_reads: bool = True,
        workers: int = WORKERS,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        self.definitions = definitions
        self._share_reads = share_reads
        self._workers = workers
        self._connect = connect
        self._snapshot = snapshot
        # each KPI's rows (keyed by its id) and whole answers (by the tuple of ids), one budget
        self._cache = _Lru(cache_rows)
        self._lock = threading.Lock()
        self._data_end: dict[object, dt.date | None] = {}
        self._calendar: dict[object, tuple[dt.date | None, dt.date | None]] = {}
        self._open: _Opened | None = None  # the connection to the snapshot read last
        # (KPI, question) pairs that compiled: the definitions are fixed, so they still do
        self._compiles: set[tuple[str, tuple[object, ...]]] = set()

    @classmethod
    def from_settings(cls, settings: Settings, definitions: Definitions | None = None) -> Engine:
        """The engine on the project's published warehouse, with ``definitions`` (default:
        :func:`load_definitions`, which raises for any problem)."""
        from kpiboard import sandbox

        warehouse = settings.open_warehouse()
        return cls(
            definitions if definitions is not None else load_definitions(settings),
            partial(sandbox.connect, warehouse),
            warehouse.published,
        )

    @property
    def kpis(self) -> Mapping[str, m.Kpi]:
        return self.definitions.kpis

    # -- KPIs -------------------------------------------------------------------------------

    def query(
        self,
        *,
        start: dt.date,
        end: dt.date,
        grain: str = "month",
        by: Iterable[str] = (),
        filters: Iterable[str] = (),
        scope: Scope | None = None,
    ) -> Query:
        """A :class:`Query` from plain arguments (filters as SQL text over dimensions)."""
        if grain not in m.GRAINS:
            raise EvaluationError(f"unknown grain {grain!r} (grains: {', '.join(m.GRAINS)})")
        return Query(
            start=start,
            end=end,
            grain=grain,
            by=tuple(by),
            filters=tuple(parse_filter(f) for f in filters),
            scope={k: tuple(str(v) for v in vs) for k, vs in (scope or {}).items()},
        )

    def compile(self, kpi_id: str, query: Query) -> Compiled:
        return compile_kpi(kpi_id, query, self.kpis)

    def evaluate(
        self,
        kpi_ids: str | Sequence[str],
        *,
        start: dt.date,
        end: dt.date,
        grain: str = "month",
        by: Iterable[str] = (),
        filters: Iterable[str] = (),
        scope: Scope | None = None,
    ) -> pd.DataFrame:
        """One row per KPI, period and slice: ``kpi``, ``period``, the ``by`` columns,
        ``value``, ``plan``, ``achievement``, ``status``."""
        import pandas as pd

        ids = [kpi_ids] if isinstance(kpi_ids, str) else list(kpi_ids)
        query = self.query(start=start, end=end, grain=grain, by=by, filters=filters, scope=scope)
        # the whole answer is cached too: a dashboard asks the same question again and again
        snapshot = self._snapshot()  # read once: the answer and its parts name the same data
        key = (snapshot, tuple(ids), _query_key(query))
        with self._lock:
            answer = self._cache.get(key)
        if answer is not None:
            return answer.copy()
        frames = self._values(ids, query, snapshot)
        columns = ["kpi", "period", *query.by, "value", "plan", "achievement", "status"]
        if frames:
            answer = pd.concat(frames, ignore_index=True)[columns]
        else:
            answer = pd.DataFrame(columns=columns)
        with self._lock:
            self._cache.put(key, answer)
        return answer.copy()

    def evaluate_apart(
        self,
        kpi_ids: Sequence[str],
        *,
        start: dt.date,
        end: dt.date,
        grain: str = "month",
        by: Iterable[str] = (),
        filters: Iterable[str] = (),
        scope: Scope | None = None,
    ) -> Evaluated:
        """:meth:`evaluate`, where a KPI whose definition is broken fails alone: the others'
        rows, and each broken one's problem, located at its definition. Broken is a KPI the
        definitions left out (:attr:`Definitions.left_out`), one that does not compile, and
        one the warehouse cannot compute (its statement fails). A request the definitions
        cannot answer (an unknown KPI, a dimension a KPI does not reach, a bad filter) still
        raises :class:`EvaluationError` before any work."""
        import pandas as pd

        ids = list(dict.fromkeys(kpi_ids))
        filters = list(filters)  # read twice
        left_out = self.definitions.left_out
        known = [*self.kpis, *left_out]
        for kpi_id in ids:
            if kpi_id not in self.kpis and kpi_id not in left_out:
                raise EvaluationError(f"unknown KPI {kpi_id!r}{did_you_mean(kpi_id, known)}")
        query = self.query(start=start, end=end, grain=grain, by=by, filters=filters, scope=scope)
        failed = {k: left_out[k] for k in ids if k in left_out}
        good = [k for k in ids if k not in failed]
        for kpi_id in good:
            check_query(kpi_id, query, self.kpis)
        for kpi_id in good:
            key = (kpi_id, _query_key(query))
            if key in self._compiles:  # compiled for this question before: it still does
                continue
            try:
                compile_kpi(kpi_id, query, self.kpis).sql("duckdb", copy=False)
            except EvaluationError:
                raise
            except Exception as exc:  # the definition, not the request: check_query passed
                failed[kpi_id] = _located(self.kpis[kpi_id], f"does not compile: {exc}")
            else:
                with self._lock:
                    if len(self._compiles) >= COMPILES_KEPT:
                        self._compiles.clear()
                    self._compiles.add(key)
        good = [k for k in good if k not in failed]
        run = partial(self.evaluate, start=start, end=end, grain=grain, by=query.by, scope=scope)
        frames: dict[str, pd.DataFrame] = {}
        try:
            whole = run(good, filters=filters) if good else None
        except EvaluationError:
            whole = None
            for kpi_id in good:  # alone, each says whether it is the one that fails
                try:
                    frames[kpi_id] = run(kpi_id, filters=filters)
                except EvaluationError as exc:
                    failed[kpi_id] = _located(self.kpis[kpi_id], str(exc))
        if whole is not None:
            frames = {k: whole[whole["kpi"] == k] for k in good}
        columns = ["kpi", "period", *query.by, "value", "plan", "achievement", "status"]
        parts = [frames[k] for k in ids if k in frames]
        frame = (
            pd.concat(parts, ignore_index=True)[columns] if parts else pd.DataFrame(columns=columns)
        )
        return Evaluated(frame, {k: failed[k] for k in ids if k in failed})

    def _values(self, ids: Sequence[str], query: Query, snapshot: object) -> list[pd.DataFrame]:
        for kpi_id in ids:  # a request the definitions cannot answer fails before any work
            check_query(kpi_id, query, self.kpis)
        keys = {kpi_id: (snapshot, kpi_id, _query_key(query)) for kpi_id in ids}
        with self._lock:
            found = {k: self._cache.get(key) for k, key in keys.items()}
        cached = {k: frame for k, frame in found.items() if frame is not None}
        missing = [k for k in ids if k not in cached]
        if missing:
            cached.update(self._compute(snapshot, missing, query))
            with self._lock:
                for kpi_id in missing:
                    self._cache.put(keys[kpi_id], cached[kpi_id])
        return [cached[k] for k in ids]  # the caller makes its answer of them, a new frame

    def _compute(
        self, snapshot: object, ids: Sequence[str], query: Query
    ) -> dict[str, pd.DataFrame]:
        """Each KPI's rows, as :meth:`evaluate` answers them (:meth:`_rows`). KPIs that
        aggregate the same fact's rows share one scan; a fact read by several statements is
        first rolled up per day, once (:func:`plan`).

        The table of local days comes first; then the rollups and the statements that read no
        rollup, at once; then the statements reading rollups. Of the statements that may run
        at once, those reading the most rows start first (:func:`_cost`), so that the last to
        finish is a short one."""
        workspace = Workspace(WORK_CATALOG, f"evaluation_{next(_EVALUATIONS)}")
        share = self._share_reads
        with ThreadPoolExecutor(1) as opener:  # the first time, the file opens while compiling
            opening = opener.submit(self._opened, snapshot)
            planned = plan(ids, query, self.kpis, share_reads=share, workspace=workspace)
            # all of the evaluation's work is on this connection, where its tables are, even
            # if a newer snapshot is published meanwhile
            opened = opening.result()
        self._check_calendar(snapshot, planned, query)
        rows = opened.rows
        makes_tables = planned.zones is not None or bool(planned.rollups)
        with self._holding(opened, workspace, makes_tables):
            units = range(len(planned.units))
            first = [i for i in units if i not in planned.after_rollups]
            try:
                if planned.zones is not None:
                    self._run_setup(opened, planned.zones, ids)
                creates = planned.creates
                jobs: list[Callable[[], object]] = [
                    *(partial(self._run_setup, opened, c, ids) for c in creates),
                    *(partial(self._run_unit, opened, planned, i, query) for i in first),
                ]
                done = self._settle(
                    jobs,
                    [_cost(c, rows) for c in [*creates, *(planned.statements[i] for i in first)]],
                )
                _raise_first(done[: len(creates)])
                outcomes: dict[int, object] = dict(zip(first, done[len(creates) :], strict=True))
            except EvaluationError:
                # each statement reads its facts itself: one that cannot says which KPI it is for
                planned = plan(ids, query, self.kpis, share_reads=False)
                units = range(len(planned.units))
                outcomes = {}
            rest = [i for i in units if i not in outcomes]
            later = self._settle(
                [partial(self._run_unit, opened, planned, i, query) for i in rest],
                [_cost(planned.statements[i], rows) for i in rest],
            )
            outcomes.update(zip(rest, later, strict=True))
        ordered = [outcomes[i] for i in units]
        _raise_first(ordered)
        out: dict[str, pd.DataFrame] = {}
        for values in cast("list[dict[str, pd.DataFrame]]", ordered):
            out.update(values)
        return out

    @contextlib.contextmanager
    def _holding(self, opened: _Opened, workspace: Workspace, needed: bool) -> Iterator[None]:
        """The schema of one evaluation's shared tables, while it runs, when it has any; dropped
        at its end (also on failure: the evaluation's statements have all finished by then)."""
        if not needed:
            yield
            return
        name = f"{_quoted(workspace.catalog)}.{_quoted(workspace.schema)}"
        with self._cursor(opened) as con:
            con.execute(f"CREATE SCHEMA {name}")
        try:
            yield
        finally:
            with self._cursor(opened) as con:
                con.execute(f"DROP SCHEMA {name} CASCADE")

    def _run_setup(self, opened: _Opened, create: Compiled, ids: Sequence[str]) -> None:
        with self._cursor(opened) as con:
            _execute(con, create, ids)

    def _run_unit(
        self, opened: _Opened, planned: Plan, i: int, query: Query
    ) -> dict[str, pd.DataFrame]:
        """The rows of the plan's ``i``-th unit, by KPI (made here, on the worker's thread,
        while other statements run)."""
        values = self._unit_values(opened, planned, i, query)
        allowed = self._allowed(opened, query)
        return {
            kpi_id: self._rows(kpi_id, frame, query, allowed) for kpi_id, frame in values.items()
        }

    def _unit_values(
        self, opened: _Opened, planned: Plan, i: int, query: Query
    ) -> dict[str, pd.DataFrame]:
        """The values of the plan's ``i``-th unit, by KPI: ``period``, the ``by`` columns and
        ``value``."""
        import pandas as pd

        unit, compiled = planned.units[i], planned.statements[i]
        keys = ["period", *query.by]
        with self._cursor(opened) as con:
            if len(unit) == 1:
                return {unit[0]: self._run(con, compiled, query, unit[0])}
            try:
                cursor = _execute(con, compiled, unit)
            except EvaluationError:
                out = {}
                for kpi_id in unit:  # one of them cannot be computed: alone, the error says which
                    alone = compile_kpi(kpi_id, query, self.kpis, planned.rollups)
                    out[kpi_id] = self._run(con, alone, query, kpi_id)
                return out
            names = [d[0] for d in cursor.description or ()]
            frame = pd.DataFrame(cursor.fetchall(), columns=names)
        out = {}
        for j, kpi_id in enumerate(unit):
            rows = frame[frame[f"present_{j}"].astype(bool)]
            one = rows[keys].copy()
            one["value"] = rows[f"value_{j}"].astype("float64")
            out[kpi_id] = one.sort_values(keys, ignore_index=True)
        return out

    def _rows(
        self,
        kpi_id: str,
        values: pd.DataFrame,
        query: Query,
        allowed: Mapping[str, set[str]] | None = None,
    ) -> pd.DataFrame:
        """A KPI's rows as :meth:`evaluate` answers them: its values with their plan,
        achievement and status, and the KPI's id first. Under a scope, only the plans of what
        it lets through (``allowed``: :meth:`_allowed`)."""
        frame = attach(
            values,
            self.kpis[kpi_id],
            self.definitions.plans,
            grain=query.grain,
            by=query.by,
            start=query.start,
            end=query.end,
            scope=query.scope,
            allowed=allowed,
        )
        frame.insert(0, "kpi", kpi_id)
        return frame

    def _allowed(self, opened: _Opened, query: Query) -> dict[str, set[str]]:
        """The members of each ``by`` dimension that a branch scope lets through without
        naming that dimension (the employees or clients of its branches), so that no plan of
        another branch's member is shown. Empty without a scope."""
        out: dict[str, set[str]] = {}
        branches = query.scope.get("branch")
        if branches is None:
            return out
        for dimension in query.by:
            entity = ENTITIES.get(dimension)
            if dimension in query.scope or entity is None:
                continue
            if "branch_id" not in COLUMNS[entity.table]:
                continue
            if not branches:
                out[dimension] = set()
                continue
            marks = ", ".join("?" for _ in branches)
            with self._cursor(opened) as con:
                rows = con.execute(
                    f'SELECT CAST("{entity.key}" AS VARCHAR) FROM "{CORE_SCHEMA}"."{entity.table}"'
                    f" WHERE branch_id IN ({marks})",
                    list(branches),
                ).fetchall()
            out[dimension] = {str(r[0]) for r in rows}
        return out

    def _settle(self, jobs: Sequence[Callable[[], T]], costs: Sequence[int]) -> list[T | Exception]:
        """Each job's result or the exception it raised, in order; up to ``workers`` jobs run
        at once, the costliest first. All have finished on return: none is left running on
        tables the caller is about to drop."""
        workers = min(self._workers, len(jobs))
        if workers < 2:
            return [_outcome(job) for job in jobs]
        order = sorted(range(len(jobs)), key=lambda i: -costs[i])
        # threads of this evaluation's own: one evaluation's many statements do not queue
        # another's (a dashboard asks for several at once); starting one takes 0.1 ms
        with ThreadPoolExecutor(workers, thread_name_prefix="kpiboard-kpi") as pool:
            done = dict(zip(order, pool.map(_outcome, [jobs[i] for i in order]), strict=True))
        return [done[i] for i in range(len(jobs))]

    @staticmethod
    def _run(
        con: duckdb.DuckDBPyConnection, compiled: Compiled, query: Query, kpi_id: str
    ) -> pd.DataFrame:
        import pandas as pd

        rows = _execute(con, compiled, [kpi_id]).fetchall()
        frame = pd.DataFrame(rows, columns=["period", *query.by, "value"])
        frame["value"] = frame["value"].astype("float64")
        return frame

    # -- the rows behind a value ---------------------------------------------------------------

    def rows_query(
        self,
        *,
        period: dt.date | str | tuple[dt.date, dt.date],
        grain: str = "month",
        slice: Slice | None = None,
        filters: Iterable[str] = (),
        scope: Scope | None = None,
    ) -> Query:
        """The :class:`Query` of one value: its period (:func:`one_period`), its slice as
        filters (``branch = 'denver'``, as ``--filter`` and a slice match members), the
        request's filters and the scope."""
        start, end = one_period(period, grain)
        query = self.query(start=start, end=end, grain=grain, filters=filters, scope=scope)
        members = tuple(_member(d, v) for d, v in sorted((slice or {}).items()))
        return Query(start, end, query.grain, (), (*members, *query.filters), query.scope)

    def compile_rows(self, kpi_id: str, query: Query, *, limit: int | None = None) -> Compiled:
        """The statement listing the rows behind ``kpi_id``'s value for ``query`` (see
        :mod:`kpi_designer.compiler.behind`)."""
        if limit is not None and limit < 1:
            raise EvaluationError(f"a limit of rows is 1 or more, not {limit}")
        return compile_rows(kpi_id, query, self.kpis, limit=limit)

    def rows(
        self,
        kpi_id: str,
        *,
        period: dt.date | str | tuple[dt.date, dt.date],
        grain: str = "month",
        slice: Slice | None = None,
        filters: Iterable[str] = (),
        scope: Scope | None = None,
        limit: int | None = None,
    ) -> pd.DataFrame:
        """The fact rows one value counts: ``kpi_id``'s value in one ``period`` (a day inside
        it, or its label: ``2026-03``, ``2026-W10``, ``2026-Q1``, ``2026``) at ``grain``, of
        one ``slice`` ({dimension: member}), filtered and scoped as :meth:`evaluate` is.

        Columns: the fact's key (``invoice_id``), ``date`` (the row's local day), ``branch``,
        ``employee``, ``client``, ``product`` and ``warehouse`` by name where the fact reaches
        them, and ``value``, what the row contributes (1 for a count; a distinct count's value
        counted is ``counted`` instead); a ratio's rows have ``side`` (numerator,
        denominator), a derived KPI's and a period over period's ``input`` (the input's name;
        ``current``, ``previous``), a conversion's base events ``converted``; an entities
        KPI's rows are the events that make each entity count, with ``entity`` and ``counted``
        (the entity) and ``first_day`` (returning) or ``previous_day`` and ``gap_days``
        (reactivated): the value is the number of distinct ``counted``; a balance's rows
        (those in force at the period's last day) have ``since`` and ``until``, a balance per
        entity's are its combinations with their ``balance`` and ``value`` 1 where one meets
        ``having``. Aggregating them as the KPI does gives the value. Ordered by date, then key
        (a balance per entity's combinations by its ``per`` members); ``limit`` keeps the
        first rows.
        ``frame.attrs`` holds ``start`` and ``end`` (the period's days) and ``total``, the
        number of rows without the limit."""
        import pandas as pd

        query = self.rows_query(
            period=period, grain=grain, slice=slice, filters=filters, scope=scope
        )
        compiled = self.compile_rows(kpi_id, query, limit=limit)
        with self._reading(self._snapshot()) as con:
            cursor = _execute(con, compiled, [kpi_id])
            names = [d[0] for d in cursor.description or ()]
            frame = pd.DataFrame(cursor.fetchall(), columns=names)
        total = len(frame)
        if TOTAL in frame.columns:
            total = int(frame[TOTAL].iloc[0]) if total else 0
            frame = frame.drop(columns=TOTAL)
        if "value" in frame.columns:
            frame["value"] = frame["value"].astype("float64")
        frame.attrs.update(start=query.start, end=query.end, total=total)
        return frame

    # -- scorecards -------------------------------------------------------------------------

    def scorecard(
        self, role: str, *, start: dt.date, end: dt.date, scope: Scope | None = None
    ) -> Scored:
        """Each employee of ``role`` per month in the range: score, bonus, and each KPI's
        value, plan, achievement and contribution. Only months the employee was employed
        count; a row-level ``scope`` limits the employees as it limits rows."""
        import pandas as pd

        card = self.definitions.scorecards.get(role)
        if card is None:
            known = ", ".join(sorted(self.definitions.scorecards)) or "none"
            raise EvaluationError(f"no scorecard for role {role!r} (scorecards: {known})")
        kpi_ids = list(dict.fromkeys([*(w.kpi for w in card.kpis), *(g.kpi for g in card.gates)]))
        frame = self.evaluate(
            kpi_ids,
            start=start,
            end=end,
            grain="month",
            by=["employee"],
            filters=[f"role = '{card.role}'"],  # one of the loader's known roles
            scope=scope,
        )
        # every month each employee held the role, with or without rows and plans
        employed = self._employed(role, start, end, scope)
        grid = employed.merge(pd.DataFrame({"kpi": kpi_ids}), how="cross")
        parts = grid.merge(frame, on=["kpi", "employee", "period"], how="left")
        # a list of bools, not Series.map: mapping an empty string column keeps its string
        # dtype, and `&` with it fails (an employee without a month in the range)
        zero = pd.Series(
            [self.kpis[k].zero_when_missing for k in parts["kpi"]], index=parts.index, dtype=bool
        )
        parts.loc[zero & parts["value"].isna(), "value"] = 0.0
        return score(card, parts)

    def _employed(
        self, role: str, start: dt.date, end: dt.date, scope: Scope | None
    ) -> pd.DataFrame:
        """(employee, period) for each month in the range the employee held ``role``."""
        import pandas as pd

        conditions = ["role = $role"]
        params: dict[str, object] = {"role": role}
        for name, column in (("branch", "branch_id"), ("employee", "employee_id")):
            if scope and name in scope:
                members = list(scope[name])
                params[name] = members
                conditions.append(f"list_contains(${name}, {column})")
        with self._reading(self._snapshot()) as con:
            rows = con.execute(
                "SELECT employee_id, hired_on, left_on FROM core.dim_employee WHERE "
                + " AND ".join(conditions),
                params,
            ).fetchall()
        out = []
        for first in periods(start, end, "month"):
            last = period_end(first, "month")
            for employee, hired, left in rows:
                if (hired is None or hired <= last) and (left is None or left >= first):
                    out.append((employee, first))
        return pd.DataFrame(out, columns=["employee", "period"])

    def employee(self, employee_id: str) -> tuple[str, dt.date | None, dt.date | None] | None:
        """The employee's role, ``hired_on`` and ``left_on``; ``None`` for an unknown id. For
        messages that say why an employee has no scorecard in a range."""
        with self._reading(self._snapshot()) as con:
            row = con.execute(
                "SELECT role, hired_on, left_on FROM core.dim_employee WHERE employee_id = $id",
                {"id": employee_id},
            ).fetchone()
        return (str(row[0]), row[1], row[2]) if row else None

    def _check_calendar(self, snapshot: object, planned: Plan, query: Query) -> None:
        """Refuse a query whose statements take their periods from the calendar
        (``core.dim_date``: a cumulative KPI's) where it has no days: they would silently
        answer nothing. (The table of local days reads it too, but a row it has no day for is
        converted on its own.)"""
        needs = any(
            table.name == "dim_date"
            for statement in (*planned.creates, *planned.statements)
            for table in statement.tree.find_all(exp.Table)
        )
        if not needs:
            return
        with self._lock:
            known = self._calendar.get(snapshot)
        if known is None:
            with self._reading(snapshot) as con:
                row = con.execute(
                    "SELECT min(calendar_date), max(calendar_date) FROM core.dim_date"
                ).fetchone()
            known = (row[0], row[1]) if row else (None, None)
            with self._lock:
                self._calendar = {snapshot: known}
        first, last = known
        if first is None or last is None:
            raise EvaluationError(
                "core.dim_date, the calendar, is empty: its model (models/core/dim_date.sql) "
                "made no rows, so running totals (cumulative KPIs) have no periods to count in"
            )
        if query.start < first or query.end > last:
            raise EvaluationError(
                f"core.dim_date, the calendar, covers {first} to {last}, not all of "
                f"{query.start} to {query.end}: extend its range in models/core/dim_date.sql"
            )

    def data_end(self) -> dt.date | None:
        """The last day of the month of :meth:`last_day`: the range KPIs are evaluated over by
        default ends there. ``None`` before there is any data."""
        last = self.last_day()
        return period_end(last, "month") if last is not None else None

    def last_day(self) -> dt.date | None:
        """The latest local day of a recorded event in the published data; ``None`` before
        there is any. Reports resolve their periods against it (``last_month``).

        An event is a row of a fact that records what happened (leads, deals, activities,
        invoices, payments, stock moves, service requests …), placed by its time column on
        its branch's local day as KPIs place it, so an evening in Denver that is already the
        next day in UTC stays in its month. Deliveries are left out: they are planned ahead.
        So is any row dated after it was loaded (``_loaded_at``): nothing is recorded before
        it happens, so such a date is a plan or a typo, and would end the range in an empty
        month."""
        snapshot = self._snapshot()
        with self._lock:
            if snapshot in self._data_end:
                return self._data_end[snapshot]
        with self._reading(snapshot) as con:
            last = latest_event_day(con)
        with self._lock:
            self._data_end = {snapshot: last}
        return last

    def _reading(
        self, snapshot: object
    ) -> contextlib.AbstractContextManager[duckdb.DuckDBPyConnection]:
        """A connection for one piece of work on ``snapshot``: a cursor of the engine's
        connection to it (:meth:`_cursor`), opened once per snapshot (opening the file takes
        some 20 ms, a cursor a tenth of a millisecond)."""
        return self._cursor(self._opened(snapshot))

    @contextlib.contextmanager
    def _cursor(self, opened: _Opened) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor of ``opened``'s connection. A connection opened for an older snapshot is
        let go, not closed: work still running on it keeps taking cursors of it. A cursor
        starts from the database's global settings, which the sandbox set (UTC) and locked."""
        with self._lock:
            cursor = opened.connection.cursor()
        try:
            yield cursor
        finally:
            cursor.close()

    def _opened(self, snapshot: object) -> _Opened:
        """The engine's connection to ``snapshot``, opened the first time it is asked for."""
        with self._lock:
            if self._open is None or self._open.snapshot != snapshot:
                from kpiboard import sandbox

                parent = self._connect()
                sandbox.require_sandboxed(parent)
                work = _quoted(WORK_CATALOG)
                parent.execute(f"ATTACH IF NOT EXISTS ':memory:' AS {work} (READ_WRITE)")
                sizes = parent.execute(
                    "SELECT schema_name, table_name, estimated_size FROM duckdb_tables()"
                    " WHERE database_name = current_database()"
                ).fetchall()
                self._open = _Opened(
                    snapshot,
                    parent,
                    {(schema, table): int(n or 0) for schema, table, n in sizes},
                )
            return self._open

    def dimensions(self, kpi_id: str) -> list[str]:
        """The dimensions ``kpi_id`` can be sliced and filtered by."""
        if kpi_id not in self.kpis:
            raise EvaluationError(f"unknown KPI {kpi_id!r}")
        return sorted(reachable(self.kpis[kpi_id], self.kpis))


def _execute(
    con: duckdb.DuckDBPyConnection, compiled: Compiled, kpi_ids: Sequence[str]
) -> duckdb.DuckDBPyConnection:
    """Run a KPI's SQL; a warehouse that cannot answer it (a core table the project's models
    do not build, a function a definition misspelled) is the definitions' problem, said in one
    line naming the KPIs."""
    import duckdb

    try:
        return con.execute(compiled.sql("duckdb", copy=False), compiled.params)
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0]
        raise EvaluationError(
            f"kpi {', '.join(map(repr, kpi_ids))}: the warehouse cannot compute it: {first}"
        ) from exc


class _Lru:
    """Frames by key, the least recently used dropped first once together they hold more than
    ``rows`` rows (an empty frame counts as one, so that empty answers are bounded too). The
    newest is kept, whatever its size: it is about to be asked for again."""

    def __init__(self, rows: int) -> None:
        self.limit = rows
        self.rows = 0
        self._frames: OrderedDict[object, pd.DataFrame] = OrderedDict()

    def __len__(self) -> int:
        return len(self._frames)

    def get(self, key: object) -> pd.DataFrame | None:
        frame = self._frames.get(key)
        if frame is not None:
            self._frames.move_to_end(key)
        return frame

    def put(self, key: object, frame: pd.DataFrame) -> None:
        old = self._frames.pop(key, None)
        self.rows += _weight(frame) - (_weight(old) if old is not None else 0)
        self._frames[key] = frame
        while self.rows > self.limit and len(self._frames) > 1:
            _, dropped = self._frames.popitem(last=False)
            self.rows -= _weight(dropped)


def _weight(frame: pd.DataFrame) -> int:
    return max(1, len(frame))


def _cost(statement: Compiled, rows: Mapping[tuple[str, str], int]) -> int:
    """What a statement costs, roughly: the rows of the warehouse's tables it reads (a fact
    read twice, twice; the evaluation's own tables, nothing)."""
    return sum(rows.get((t.db, t.name), 0) for t in statement.tree.find_all(exp.Table))


def latest_event_day(con: duckdb.DuckDBPyConnection) -> dt.date | None:
    """The latest local day of a recorded event in ``con``'s ``core`` (see
    :meth:`Engine.last_day`), or ``None`` when there is none."""
    parts = [
        _latest_local_day(f.table, f.time)
        for f in FACTS.values()
        if f.parent is None and f.name not in PLANNED_AHEAD
    ]
    row = con.execute(f"SELECT max(d) FROM ({' UNION ALL '.join(parts)})").fetchone()
    return row[0] if row and row[0] is not None else None


def _latest_local_day(table: str, column: str) -> str:
    """SQL for the latest local day (``d``) of a fact's ``column``, over rows dated no later
    than they were loaded. A timestamp's maximum is taken per branch and only then converted
    to the branch's local day (the conversion keeps the order), so the fact is read once and
    not converted row by row; a date column is already a local day, and may be a day ahead
    of the UTC date of its load."""
    fact = f'"{CORE_SCHEMA}"."{table}"'
    if COLUMNS[table][column] == "DATE":
        return (
            f'SELECT max("{column}") AS d FROM {fact} '
            f'WHERE "{column}" <= CAST("_loaded_at" AS DATE) + 1'
        )
    return (
        "SELECT max(CAST(timezone(coalesce(b.timezone, 'UTC'), f.t AT TIME ZONE 'UTC') AS DATE))"
        f' AS d FROM (SELECT branch_id, max("{column}") AS t FROM {fact}'
        f' WHERE "{column}" <= "_loaded_at" GROUP BY branch_id) AS f'
        f' LEFT JOIN "{CORE_SCHEMA}".dim_branch AS b ON b.branch_id = f.branch_id'
    )


def _outcome(job: Callable[[], T]) -> T | Exception:
    try:
        return job()
    except Exception as exc:  # handed to the caller, which raises it (_raise_first)
        return exc


def _raise_first(outcomes: Iterable[object]) -> None:
    """Raise the first exception among ``outcomes``, if any."""
    for outcome in outcomes:
        if isinstance(outcome, Exception):
            raise outcome


def _quoted(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql("duckdb")


def _query_key(query: Query) -> tuple[object, ...]:
    return (
        query.start,
        query.end,
        query.grain,
        query.by,
        tuple(f.sql("duckdb") for f in query.filters),
        tuple(sorted((k, tuple(v)) for k, v in query.scope.items())),
    )


def one_period(
    period: dt.date | str | tuple[dt.date, dt.date], grain: str
) -> tuple[dt.date, dt.date]:
    """The first and last day of the period of ``grain`` that ``period`` names: a day inside
    it (a date, or ``2026-03-15``), or its label as plan files and ``kpi eval`` write it
    (:func:`kpi_designer.plans.parse_period`) — a label of another grain is refused. At grain
    ``range`` the period is the range itself: its first and last day, as a pair or as its label
    (``2026-01-01…2026-03-31``, or with ``..``)."""
    if grain not in m.GRAINS:
        raise EvaluationError(f"unknown grain {grain!r} (grains: {', '.join(m.GRAINS)})")
    if grain == "range":
        return _range_period(period)
    if isinstance(period, tuple):
        raise EvaluationError(f"a period of grain {grain} is one day or label, not a range")
    if isinstance(period, dt.datetime):
        day = period.date()
    elif isinstance(period, dt.date):
        day = period
    else:
        parsed = parse_period(period)
        if parsed is None:
            raise EvaluationError(
                f"period {period!r} is not a day or a period "
                "(2026-03-15, 2026-W11, 2026-03, 2026-Q1, 2026)"
            )
        named, day = parsed
        if named not in ("day", grain):
            raise EvaluationError(
                f"period {period!r} is a {named}, not a {grain}: ask at grain {named}, "
                f"or name a day of the {grain}"
            )
    first = period_start(day, cast(m.Grain, grain))
    return first, period_end(first, cast(m.Grain, grain))


def _range_period(period: dt.date | str | tuple[dt.date, dt.date]) -> tuple[dt.date, dt.date]:
    """The first and last day a ``range`` period names: a pair, or ``first…last``."""
    if isinstance(period, tuple):
        first, last = period
    else:
        text = str(period)
        parts = text.replace("…", "..").split("..")
        try:
            first, last = (dt.date.fromisoformat(p.strip()) for p in parts)
        except ValueError:
            raise EvaluationError(
                f"period {text!r} at grain range is its first and last day: "
                "2026-01-01…2026-03-31 (or 2026-01-01..2026-03-31)"
            ) from None
    if first > last:
        raise EvaluationError(f"the range starts ({first}) after it ends ({last})")
    return first, last


def _member(dimension: str, member: str | None) -> exp.Expr:
    """A slice's condition: the dimension equals the member, or has none."""
    column = exp.column(dimension)
    if member is None:
        return exp.Is(this=column, expression=exp.null())
    return exp.EQ(this=column, expression=exp.Literal.string(str(member)))
