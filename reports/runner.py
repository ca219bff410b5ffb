"""The report runner: one report, its parameters and a scope → a :class:`~reports.result.Result`.

Every report runs the same way, whoever asks (the command line, the dashboard, a mail-out)::

    runner = Runner.from_settings(load_settings(project))
    result = runner.run("receivables_aging", {"as_of": "2026-03-31"}, scope={"branch": ["denver"]})

1. The parameters are validated and resolved (:mod:`reports.params`) — ids looked up under the
   same scope, periods against the data's last day — before anything of the report runs.
2. A report reading company-wide tables (``scope: company``) is refused under a scope.
3. SQL reports: the scope is applied by rewriting every ``core`` table the SQL reads
   (:mod:`reports.scope`), and the statement runs in the sandbox of ``kpiboard sql``
   (read-only, one ``SELECT``, no files), its values bound, never formatted in.
   KPI and scorecard reports are evaluated by :mod:`kpi_designer.engine`, which applies the
   scope inside its own SQL.
4. The rows are sorted as the definition says; the renderers do the rest.

The runner keeps one sandboxed connection per published snapshot and is safe to share between
threads (each run takes its own cursor).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from kpiboard.kpi_output import period_label
from reports import model as m
from reports import params as p
from reports import scope as scopes
from reports.errors import ParameterError, QueryFailed, ScopeError
from reports.loader import SCORECARD_COLUMNS, Catalog, load_catalog
from reports.result import Result

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

    from kpi_designer.engine import Engine
    from kpiboard.config import Settings
    from kpiboard.warehouse import Warehouse

Scope = Mapping[str, Sequence[str]]


class Runner:
    """Runs reports of ``catalog`` on ``warehouse``'s published snapshot; KPI and scorecard
    reports through ``engine``."""

    def __init__(
        self,
        catalog: Catalog,
        warehouse: Warehouse,
        engine: Engine | None = None,
        *,
        company: str = "",
        currency: str = "USD",
    ) -> None:
        self.catalog = catalog
        self.warehouse = warehouse
        self._engine = engine
        self.company = company
        self.currency = currency
        self._lock = threading.Lock()
        self._open: tuple[Path, duckdb.DuckDBPyConnection] | None = None
        self._settings: Settings | None = None
        self._last_days: dict[Path, dt.date | None] = {}

    @classmethod
    def from_settings(cls, settings: Settings, catalog: Catalog | None = None) -> Runner:
        """The runner of a project: the built-in catalog and the project's ``reports/``, its
        published warehouse, its company's name and currency. The KPI engine is made the
        first time a KPI or scorecard report runs."""
        runner = cls(
            catalog if catalog is not None else load_catalog(settings.project_dir),
            settings.open_warehouse(),
            company=settings.company.name or settings.project.name,
            currency=settings.company.currency,
        )
        runner._settings = settings
        return runner

    @classmethod
    def on_demand(cls, settings: Settings) -> Runner:
        """The runner of a project whose catalog reads each report's own file the first time
        it is asked for (:func:`reports.loader.load_report`): what a schedule needs, which names
        a few reports, where reading the whole catalog takes seconds."""
        from reports.loader import load_report

        class OnDemand(Catalog):
            def get(self, report_id: str) -> m.Report:
                if report_id not in self.reports:
                    self.reports[report_id] = load_report(report_id, settings.project_dir)
                return self.reports[report_id]

        return cls.from_settings(settings, catalog=OnDemand({}))

    @property
    def engine(self) -> Engine:
        with self._lock:
            if self._engine is None:
                from kpi_designer.engine import Engine

                if self._settings is None:
                    raise RuntimeError("a runner without settings needs an engine given")
                self._engine = Engine.from_settings(self._settings)
            return self._engine

    # -- running -------------------------------------------------------------------------------

    def run(
        self,
        report: str | m.Report,
        given: Mapping[str, object] | None = None,
        *,
        scope: Scope | None = None,
        as_of: dt.date | None = None,
    ) -> Result:
        """Run ``report`` (an id or a definition) with the reader's ``given`` parameter values
        (text as typed, or typed values) under ``scope`` (``None``: everything). ``as_of``
        resolves relative periods against that day rather than the data's end (a mail-out
        pins the day its slot opened, so a retry hours later sends the same period)."""
        definition, scope = self._definition(report, scope)
        snapshot = self._published()
        with self._cursor(snapshot) as con:
            data_end, bound = self._bind(con, snapshot, definition, given, scope, as_of)
            started = time.perf_counter()
            if definition.sql is not None:
                frame = self._sql(con, definition, bound, scope)
            elif definition.kpis is not None:
                frame = self._kpis(definition, definition.kpis, bound, scope)
            else:
                assert definition.scorecard is not None
                bound = self._own_role(definition, definition.scorecard, bound)
                frame = self._scorecard(definition, definition.scorecard, bound, scope)
            seconds = time.perf_counter() - started
        shown = list(bound.shown)
        if scope:
            shown.append(("Scope", scopes.describe(scope)))
        return Result(
            report=definition,
            parameters=tuple(shown),
            frame=sort(frame, definition.sort),
            columns=labelled(definition.columns, definition, bound),
            currency=self.currency,
            snapshot_at=snapshot_time(snapshot),
            data_end=data_end,
            company=self.company,
            query_seconds=seconds,
        )

    def bind(
        self,
        report: str | m.Report,
        given: Mapping[str, object] | None = None,
        *,
        scope: Scope | None = None,
    ) -> p.Bound:
        """The parameters checked and resolved as :meth:`run` would, without running the
        report: what a schedule checks before it is saved."""
        definition, scope = self._definition(report, scope)
        snapshot = self._published()
        with self._cursor(snapshot) as con:
            return self._bind(con, snapshot, definition, given, scope)[1]

    def _definition(
        self, report: str | m.Report, scope: Scope | None
    ) -> tuple[m.Report, dict[str, tuple[str, ...]]]:
        definition = self.catalog.get(report) if isinstance(report, str) else report
        checked = {k: tuple(str(v) for v in vs) for k, vs in (scope or {}).items()}
        unknown = [k for k in checked if k not in scopes.SCOPES]
        if unknown:
            raise ScopeError(f"unknown scope {unknown[0]!r} (scopes: {', '.join(scopes.SCOPES)})")
        if checked and definition.scope == "company":
            raise ScopeError(
                f"report {definition.id!r} shows company-wide data "
                f"({m.CATEGORY_TITLES.get(definition.category, definition.category)}); "
                "it does not run under a branch or employee scope"
            )
        return definition, checked

    def _bind(
        self,
        con: duckdb.DuckDBPyConnection,
        snapshot: Path,
        definition: m.Report,
        given: Mapping[str, object] | None,
        scope: Scope,
        as_of: dt.date | None = None,
    ) -> tuple[dt.date | None, p.Bound]:
        self._check_scope(con, scope)
        data_end = as_of or self._last_day(con, snapshot)
        bound = p.resolve(
            definition,
            given or {},
            data_end=data_end,
            lookup=lambda *args: self._lookup(con, scope, *args),
        )
        return data_end, bound

    def data_end(self) -> dt.date | None:
        """The last day with data in the published snapshot: what relative periods are
        resolved against."""
        snapshot = self._published()
        with self._cursor(snapshot) as con:
            return self._last_day(con, snapshot)

    def members(self, kind: str, scope: Scope | None = None) -> list[tuple[str, str]]:
        """Every ``(id, name)`` of an entity kind (``branch``, ``employee``, ``client`` …; see
        :data:`reports.params.ENTITY_LOOKUPS`) under ``scope``, by id: what a dashboard's
        filter offers, read as a report's parameter is checked. ``category`` and ``role``
        (:data:`reports.params.LISTED`) give each distinct value as ``(value, value)``."""
        kinds = (*p.ENTITY_LOOKUPS, *p.LISTED)
        if kind not in kinds:
            raise ValueError(f"unknown kind {kind!r} (kinds: {', '.join(kinds)})")
        scope = {k: tuple(str(v) for v in vs) for k, vs in (scope or {}).items()}
        if kind in p.LISTED:
            table, key = p.LISTED[kind]
            names: tuple[str, ...] = ()
        else:
            table, key, names = p.ENTITY_LOOKUPS[kind]
        with self._cursor(self._published()) as con:
            self._check_scope(con, scope)
            return self._lookup(con, scope, table, key, names, "")

    def sql(self, report: m.Report, scope: Scope | None = None) -> str:
        """The SQL ``report`` runs under ``scope`` (what ``kpiboard report show --sql`` prints)."""
        assert report.sql is not None
        return scopes.apply(report.sql, scope or {})[0]

    def _sql(
        self, con: duckdb.DuckDBPyConnection, report: m.Report, bound: p.Bound, scope: Scope
    ) -> pd.DataFrame:
        from kpiboard import sandbox

        assert report.sql is not None
        sql, scoped = scopes.apply(report.sql, scope)
        values = {k: v for k, v in bound.values.items() if f"${k}" in sql} | scoped
        try:
            cursor = sandbox.run(con, sql, who=f"report {report.id!r}", parameters=values)
            return cursor.df()
        except sandbox.QueryRefused as exc:
            raise QueryFailed(f"{report.path}: {exc}") from None

    def _kpis(
        self, report: m.Report, query: m.KpiQuery, bound: p.Bound, scope: Scope
    ) -> pd.DataFrame:
        import pandas as pd

        start, end = bound.period(query.period)
        grain = query.grain
        if report.parameter(grain) is not None:
            grain = str(bound.by_name[grain])
        # a branch or an employee narrows the scope itself: the same rows, and only the plans
        # of what is in it (a filter would let the other branches' plans through)
        narrowed = _narrowed(report, bound, scope, skip={query.period, query.grain})
        filters = _entity_filters(
            report, bound, skip={query.period, query.grain, *_scoped_parameters(report)}
        )
        frame = self.engine.evaluate(
            list(query.ids),
            start=start,
            end=end,
            grain=grain,
            by=list(query.by),
            filters=filters,
            scope=narrowed or None,
        )
        kpis = self.engine.kpis
        frame["kpi_label"] = [kpis[k].label for k in frame["kpi"]]
        frame["unit"] = [kpis[k].unit for k in frame["kpi"]]
        frame["currency"] = self.currency
        for dimension in query.by:
            if dimension in p.ENTITY_LOOKUPS:
                names = self._names(dimension, [str(v) for v in frame[dimension].dropna().unique()])
                frame[f"{dimension}_name"] = [names.get(str(v), v) for v in frame[dimension]]
        order = {k: i for i, k in enumerate(query.ids)}
        frame["_order"] = [order[k] for k in frame["kpi"]]
        frame = frame.sort_values(["period", *query.by, "_order"], kind="stable")
        frame["period"] = [period_label(day, grain, end) for day in frame["period"]]
        return pd.DataFrame(frame.drop(columns="_order").reset_index(drop=True))

    def _scorecard(
        self, report: m.Report, query: m.ScorecardQuery, bound: p.Bound, scope: Scope
    ) -> pd.DataFrame:
        start, end = bound.period(query.period)
        role = str(bound.by_name[query.role] or "") if report.parameter(query.role) else query.role
        if not role:
            raise ParameterError(f"report {report.id!r}: give a role (--param {query.role}=…)")
        narrowed = _narrowed(report, bound, scope, skip={query.period})
        scored = self.engine.scorecard(role, start=start, end=end, scope=narrowed or None)
        parts = scored.parts.merge(
            scored.summary[["employee", "period", "score", "bonus"]],
            on=["employee", "period"],
            how="left",
        )
        parts = parts[parts["weight"].notna()].copy()
        kpis = self.engine.kpis
        parts["kpi_label"] = [kpis[k].label for k in parts["kpi"]]
        parts["unit"] = [kpis[k].unit for k in parts["kpi"]]
        parts = parts.rename(columns={"value": "fact"})
        names = self._names("employee", [str(e) for e in parts["employee"].unique()])
        parts["employee_name"] = [names.get(e, e) for e in parts["employee"]]
        parts["currency"] = self.currency
        parts["period"] = [period_label(day, "month") for day in parts["period"]]
        return parts[list(SCORECARD_COLUMNS)].reset_index(drop=True)

    def _own_role(self, report: m.Report, query: m.ScorecardQuery, bound: p.Bound) -> p.Bound:
        """``bound`` with the role parameter, when left out, set to the employee's own role:
        an employee's statement is of the role they hold."""
        parameter = report.parameter(query.role)
        employee = bound.by_name.get(query.employee) if query.employee else None
        if parameter is None or bound.by_name.get(parameter.name) or employee is None:
            return bound
        role = self._role(str(employee))
        shown = tuple(
            (label, role.replace("_", " ") if label == parameter.label else text)
            for label, text in bound.shown
        )
        return replace(bound, by_name={**bound.by_name, parameter.name: role}, shown=shown)

    def _role(self, employee: str) -> str:
        with self._cursor(self._published()) as con:
            row = con.execute(
                "SELECT role FROM core.dim_employee WHERE employee_id = ?", [employee]
            ).fetchone()
        return str(row[0]) if row and row[0] else ""

    def _names(self, entity: str, ids: list[str]) -> dict[str, str]:
        """The names of rows of an entity (``employee`` → ``dim_employee.full_name``)."""
        if not ids:
            return {}
        table, key, names = p.ENTITY_LOOKUPS[entity]
        snapshot = self._published()
        with self._cursor(snapshot) as con:
            rows = con.execute(
                f"SELECT CAST({key} AS VARCHAR), CAST({names[0]} AS VARCHAR) FROM core.{table}"
                f" WHERE CAST({key} AS VARCHAR) IN ({', '.join('?' for _ in ids)})",
                ids,
            ).fetchall()
        return {str(k): str(v) for k, v in rows if v is not None}

    # -- the warehouse -------------------------------------------------------------------------

    def _published(self) -> Path:
        from kpiboard.errors import UserError

        path = self.warehouse.published()
        if path is None:
            raise UserError(
                f"{self.warehouse.folder}: nothing published yet; run `kpiboard etl run` first"
            )
        return path

    @contextlib.contextmanager
    def _cursor(self, snapshot: Path) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor of the runner's connection to ``snapshot``, opened once per snapshot."""
        with self._lock:
            if self._open is None or self._open[0] != snapshot:
                from kpiboard import sandbox

                self._open = (snapshot, sandbox.open_snapshot(snapshot))
            cursor = self._open[1].cursor()
        try:
            yield cursor
        finally:
            cursor.close()

    def _check_scope(self, con: duckdb.DuckDBPyConnection, scope: Scope) -> None:
        """Every member a scope names exists: a mistyped branch is an error, not an empty
        report that reads like "nothing happened"."""
        from kpiboard.yamlnodes import did_you_mean

        for name, members in scope.items():
            table, key, _ = p.ENTITY_LOOKUPS[name]
            known = [str(r[0]) for r in con.execute(f"SELECT {key} FROM core.{table}").fetchall()]
            for member in members:
                if member not in known:
                    shown = member if len(member) <= 40 else member[:40] + "…"
                    raise ScopeError(f"scope: no {name} {shown!r}{did_you_mean(member, known)}")

    def _last_day(self, con: duckdb.DuckDBPyConnection, snapshot: Path) -> dt.date | None:
        """The data's last day (:func:`kpi_designer.engine.latest_event_day`), once per
        snapshot."""
        from kpi_designer.engine import latest_event_day

        with self._lock:
            if snapshot in self._last_days:
                return self._last_days[snapshot]
        last = latest_event_day(con)
        with self._lock:
            self._last_days = {snapshot: last}
        return last

    def _lookup(
        self,
        con: duckdb.DuckDBPyConnection,
        scope: Scope,
        table: str,
        key: str,
        names: tuple[str, ...],
        value: str,
    ) -> list[tuple[str, str]]:
        """Rows of ``core.<table>`` whose ``key`` or one of ``names`` is ``value``, under the
        run's scope (a branch head cannot learn another branch's ids by trying them)."""
        label = names[0] if names else key
        if value:
            matches = " OR ".join(
                f"lower(CAST({c} AS VARCHAR)) = lower($value)" for c in (key, *names)
            )
            sql = (
                f"SELECT DISTINCT CAST({key} AS VARCHAR), CAST({label} AS VARCHAR) "
                f"FROM core.{table} WHERE {matches} ORDER BY 1 LIMIT 20"
            )
            values: dict[str, object] = {"value": value}
        else:
            sql = (
                f"SELECT DISTINCT CAST({key} AS VARCHAR), CAST({label} AS VARCHAR) "
                f"FROM core.{table} WHERE {key} IS NOT NULL ORDER BY 1 LIMIT 10000"
            )
            values = {}
        sql, scoped = scopes.apply(sql, scope)
        rows = con.execute(sql, values | scoped).fetchall()
        return [(str(k), str(v) if v is not None else "") for k, v in rows]


def labelled(columns: Sequence[m.Column], report: m.Report, bound: p.Bound) -> tuple[m.Column, ...]:
    """The columns with ``{parameter}`` in a label replaced by that parameter's value as the
    header shows it (``{group_by}`` → ``Manager``): a column whose rows a choice decides."""
    shown = {q.name: text for q, (_, text) in zip(report.parameters, bound.shown, strict=False)}
    out = []
    for column in columns:
        label = column.label
        for name, text in shown.items():
            label = label.replace("{" + name + "}", text[:1].upper() + text[1:])
        out.append(replace(column, label=label) if label != column.label else column)
    return tuple(out)


_SCOPES_BY_TYPE = {"branch": "branch", "employee": "employee"}
"""Entity parameters that narrow a KPI or scorecard report's scope rather than filter it."""


def _scoped_parameters(report: m.Report) -> set[str]:
    return {p.name for p in report.parameters if p.type in _SCOPES_BY_TYPE}


def _narrowed(
    report: m.Report, bound: p.Bound, scope: Scope, skip: set[str]
) -> dict[str, tuple[str, ...]]:
    """``scope`` narrowed by the report's branch and employee parameters that have a value."""
    narrowed: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in scope.items()}
    for parameter in report.parameters:
        value = bound.by_name.get(parameter.name)
        if parameter.name in skip or value is None or parameter.type not in _SCOPES_BY_TYPE:
            continue
        name = _SCOPES_BY_TYPE[parameter.type]
        narrowed[name] = _within(narrowed.get(name), str(value))
    return narrowed


def _within(current: tuple[str, ...] | None, value: str) -> tuple[str, ...]:
    """A scope narrowed to ``value``: nothing when the scope does not hold it."""
    if current is None:
        return (value,)
    return (value,) if value in current else ()


_DIMENSION_OF = {"category": "product_category"}


def _entity_filters(report: m.Report, bound: p.Bound, skip: set[str]) -> list[str]:
    """A KPI report's entity parameters as the engine's filters (``branch = 'denver'``). The
    values were looked up in the warehouse (they are ids that exist), and quotes are doubled."""
    filters = []
    for parameter in report.parameters:
        if parameter.name in skip:
            continue
        value = bound.by_name.get(parameter.name)
        if value is None or not (parameter.type in m.ENTITY_TYPES or parameter.type == "category"):
            continue
        dimension = _DIMENSION_OF.get(parameter.type, parameter.type)
        text = str(value).replace("'", "''")
        filters.append(f"{dimension} = '{text}'")
    return filters


def sort(frame: pd.DataFrame, keys: Sequence[m.SortKey]) -> pd.DataFrame:
    """``frame`` sorted by ``keys`` (stable; missing values last), or as the query ordered it."""
    present = [k for k in keys if k.column in frame.columns]
    if not present or frame.empty:
        return frame.reset_index(drop=True)
    return frame.sort_values(
        [k.column for k in present],
        ascending=[not k.descending for k in present],
        kind="stable",
        na_position="last",
    ).reset_index(drop=True)


def snapshot_time(path: Path) -> dt.datetime:
    """When a snapshot was built: its run id (``20261127T130501Z-3f9a``), else its file's time."""
    try:
        return dt.datetime.strptime(path.stem.split("-")[0], "%Y%m%dT%H%M%SZ").replace(
            tzinfo=dt.UTC
        )
    except ValueError:
        return dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)
