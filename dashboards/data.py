"""What every page reads: the KPI engine and the report runner on the published snapshot.

One :class:`Data` per served project (per worker process). Pages never write SQL of their own
(``ARCHITECTURE.md``): numbers come from :class:`~kpi_designer.engine.Engine` (KPIs, plans,
scorecards, the rows behind a value) and :class:`~reports.runner.Runner` (the catalog's
reports). Both cache per published snapshot, so a snapshot published by ``kpiboard etl run``
is read by the next request without a restart, and the answers of the old one are let go.

Definitions are files an analyst edits (by hand or in the designer): they are read again when
any KPI, plan or scorecard file changed (checked at most once per :data:`RECHECK_SECONDS`), so
a KPI saved in the designer is on every page at the next request.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from kpiboard.config import Settings

if TYPE_CHECKING:
    from kpi_designer.engine import Definitions, Engine
    from reports.result import Result
    from reports.runner import Runner

T = TypeVar("T")

RECHECK_SECONDS = 1.0
"""How often the definition files' times are looked at (a stat of a few dozen files)."""
CACHE_ENTRIES = 512
"""Page-level answers kept (per snapshot): a report's result, the branch list …"""


@dataclass(frozen=True)
class Quality:
    """The data-quality badge: how many rows the published snapshot holds back, and when it
    was last validated and with what outcome."""

    quarantined: int
    failing: int
    """Expectations that failed in the last validation run (any severity)."""
    validated_at: dt.datetime | None

    @property
    def clean(self) -> bool:
        return self.quarantined == 0 and self.failing == 0


class Data:
    """The engine, the runner and small per-snapshot lookups of one project."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.warehouse = settings.open_warehouse()
        self._lock = threading.RLock()
        self._engine: Engine | None = None
        self._runner: Runner | None = None
        self._signature: tuple[Any, ...] | None = None
        self._checked_at = 0.0
        self._cache: OrderedDict[Hashable, Any] = OrderedDict()

    # -- the snapshot --------------------------------------------------------------------------

    def snapshot(self) -> Path | None:
        """The published snapshot's file; ``None`` before the first pipeline run."""
        return self.warehouse.published()

    def as_of(self) -> dt.datetime | None:
        """When the published snapshot was built (UTC)."""
        from reports.runner import snapshot_time

        path = self.snapshot()
        return snapshot_time(path) if path is not None else None

    # -- definitions, the engine and the runner -----------------------------------------------

    def definition_files(self) -> list[Path]:
        """Every KPI, plan and scorecard file of the project."""
        settings = self.settings
        files: list[Path] = []
        for folder, patterns in (
            (settings.resolve(settings.kpi.definitions), ("*.yaml", "*.yml")),
            (settings.resolve(settings.kpi.plans), ("*.csv",)),
            (settings.resolve(settings.kpi.scorecards), ("*.yaml", "*.yml")),
        ):
            if folder.is_dir():
                for pattern in patterns:
                    files += folder.rglob(pattern)
        return sorted(files)

    def _files_signature(self) -> tuple[Any, ...]:
        signature = []
        for path in self.definition_files():
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            signature.append((str(path), stat.st_mtime_ns, stat.st_size))
        return tuple(signature)

    def _fresh(self) -> None:
        """Drop the engine and runner when a definition file changed since they were made."""
        now = time.monotonic()
        if self._engine is not None and now - self._checked_at < RECHECK_SECONDS:
            return
        self._checked_at = now
        signature = self._files_signature()
        if signature != self._signature:
            self._signature = signature
            self._engine = None
            self._runner = None
            self._cache.clear()

    def definitions(self) -> Definitions:
        return self.engine().definitions

    def engine(self) -> Engine:
        """The KPI engine on the published snapshot, with the definitions as the files are now.

        Definitions are read leniently (:func:`~kpi_designer.engine.read_definitions`): a KPI
        with a problem is left out and named, the rest work, so one analyst's typo does not
        take the dashboard down. A problem in a plan file still raises (a plan left out would
        change an achievement without a word)."""
        from kpi_designer.engine import Engine, read_definitions

        with self._lock:
            self._fresh()
            if self._engine is None:
                self._engine = Engine.from_settings(self.settings, read_definitions(self.settings))
            return self._engine

    def runner(self) -> Runner:
        """The report runner (built-in catalog and the project's ``reports/``), its KPI
        reports through :meth:`engine`."""
        from reports.loader import load_catalog
        from reports.runner import Runner

        engine = self.engine()
        with self._lock:
            if self._runner is None:
                self._runner = Runner(
                    load_catalog(self.settings.project_dir),
                    self.warehouse,
                    engine,
                    company=self.company,
                    currency=self.settings.company.currency,
                )
            return self._runner

    @property
    def company(self) -> str:
        return self.settings.company.name or self.settings.project.name

    @property
    def currency(self) -> str:
        return self.settings.company.currency

    # -- per-snapshot answers ------------------------------------------------------------------

    def cached(self, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()``, kept for the published snapshot and the definitions as they are:
        the same question asked again is answered from memory until either changes."""
        found, value = self.recall(key)
        if found:
            return value
        value = compute()
        self.keep(key, value)
        return value

    def recall(self, key: Hashable) -> tuple[bool, Any]:
        """Whether ``key`` is kept for the published snapshot and definitions, and its value."""
        with self._lock:
            self._fresh()
            full = (self.snapshot(), self._signature, key)
            if full in self._cache:
                self._cache.move_to_end(full)
                return True, self._cache[full]
        return False, None

    def keep(self, key: Hashable, value: Any) -> None:
        """Keep ``value`` under ``key`` for the published snapshot and definitions."""
        with self._lock:
            self._fresh()
            self._cache[(self.snapshot(), self._signature, key)] = value
            while len(self._cache) > CACHE_ENTRIES:
                self._cache.popitem(last=False)

    def report(
        self, report_id: str, given: dict[str, object] | None = None, scope: Any = None
    ) -> Result:
        """A catalog report's result, cached per snapshot, parameters and scope."""
        given = dict(given or {})
        values = tuple(sorted((k, str(v)) for k, v in given.items()))
        key = ("report", report_id, values, _scope_key(scope))
        return self.cached(key, lambda: self.runner().run(report_id, given, scope=scope))

    def last_day(self) -> dt.date | None:
        """The data's last day (:meth:`Engine.last_day`): presets resolve against it."""
        return self.engine().last_day()

    def branches(self) -> list[tuple[str, str]]:
        """``(branch_id, name)`` of every branch."""
        return self.cached("branches", lambda: self.runner().members("branch"))

    def employees(self, branch: str | None = None) -> list[tuple[str, str]]:
        """``(employee_id, full name)`` of every employee, or of one branch's."""
        scope = {"branch": [branch]} if branch else None
        return self.cached(("employees", branch), lambda: self.runner().members("employee", scope))

    def quality(self) -> Quality:
        """The badge's numbers, from the data-quality reports."""
        return self.cached("quality", self._quality)

    def _quality(self) -> Quality:
        held = self.report("quarantine_by_table").frame
        runs = self.report("validation_runs").frame
        quarantined = int(held["held_rows"].sum()) if len(held) else 0
        failing = 0
        validated_at = None
        if len(runs):
            last = runs.sort_values("validated_at").iloc[-1]
            validated_at = last["validated_at"]
            failing = int(last["failed_checks"] or 0)
        return Quality(quarantined, failing, validated_at)


def _scope_key(scope: Any) -> tuple[Any, ...]:
    if not scope:
        return ()
    return tuple(sorted((k, tuple(v)) for k, v in scope.items()))
