"""The warehouse: a folder of DuckDB snapshots, one of them published.

DuckDB allows one writer per file, and readers (dashboards, reports, ``kpiboard sql``) must never
see a half-built state. So the pipeline never writes to what readers read. It copies the published
snapshot to a new file, loads and transforms there, and publishes by replacing one small pointer
file atomically (``os.replace``). Readers open the snapshot the pointer names, read-only.

    warehouse/
      CURRENT                      name of the published snapshot
      snapshots/<run id>.duckdb    published snapshots, the newest few kept
      snapshots/<run id>.building  a snapshot being built (deleted if a run died)
      .lock                        held by the one pipeline run allowed at a time

A crash or ``kill -9`` at any moment leaves ``CURRENT`` naming a complete snapshot: before the
``os.replace`` the old one, after it the new one. A dead run's ``.building`` file is removed by
the next run, which starts again from the published snapshot. So is a ``.duckdb`` that a run
renamed into place but died before pointing ``CURRENT`` at: it was never published, and only
published snapshots count toward the ones kept.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kpiboard.core_model import create_core_schema
from kpiboard.errors import UserError
from kpiboard.faults import crash_point

if TYPE_CHECKING:  # imported where used: `kpiboard --help` and `kpi list` open no database
    import duckdb

POINTER = "CURRENT"
SNAPSHOTS = "snapshots"
BUILDING = ".building"
PUBLISHED = ".duckdb"


def start_session(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """``con`` set up as every DuckDB connection kpiboard opens is: times in UTC, and no
    progress bar (DuckDB prints one for a query running over two seconds to standard output,
    terminal or not: into logs, and into the CSV a command prints)."""
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    return con


class WarehouseBusy(UserError):
    """Another pipeline run holds the warehouse."""


def new_run_id() -> str:
    """Sortable, unique: ``20261127T130501Z-3f9a``."""
    now = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{now}-{secrets.token_hex(2)}"


@dataclass(frozen=True)
class Warehouse:
    """The warehouse folder; ``keep`` is how many published snapshots to keep."""

    folder: Path
    keep: int = 3

    @property
    def snapshots(self) -> Path:
        return self.folder / SNAPSHOTS

    def published(self) -> Path | None:
        """The published snapshot's file, or ``None`` before the first run."""
        pointer = self.folder / POINTER
        try:
            name = pointer.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        path = self.snapshots / name
        return path if path.exists() else None

    def connect(self) -> duckdb.DuckDBPyConnection:
        """A read-only connection to the published snapshot, sandboxed
        (:func:`kpiboard.sandbox.open_snapshot`: outside world shut, configuration locked, UTC).
        DuckDB refuses two configurations for one file in one process, so every reader of a
        snapshot opens it here, whatever SQL it runs.

        Between reading the pointer and opening the file, a run may publish and prune the
        snapshot the pointer named: then the pointer names a newer one, so read it again.
        """
        import duckdb

        from kpiboard import sandbox

        for _ in range(5):
            path = self.published()
            if path is None:
                raise UserError(
                    f"{self.folder}: nothing published yet; run `kpiboard etl run` first"
                )
            try:
                return sandbox.open_snapshot(path)
            except duckdb.IOException:
                if path.exists():
                    raise
                continue  # pruned under us: a newer snapshot is published
        raise UserError(f"{self.folder}: snapshots are replaced faster than they can be opened")

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the warehouse for one run; the OS releases it if the process dies."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with (self.folder / ".lock").open("a") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise WarehouseBusy(
                    f"{self.folder}: another pipeline run is working on this warehouse"
                ) from None
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def start(self, run_id: str) -> Path:
        """A new snapshot to build, copied from the published one (or empty with the core schema).

        Call under :meth:`lock`. Leftovers of runs that died are removed first: snapshots being
        built, and snapshots never published (:meth:`prune`).
        """
        self.snapshots.mkdir(parents=True, exist_ok=True)
        for stale in self.snapshots.glob(f"*{BUILDING}*"):
            stale.unlink()
        self.prune()
        target = self.snapshots / f"{run_id}{BUILDING}"
        current = self.published()
        if current is not None:
            shutil.copyfile(current, target)
        import duckdb

        con = duckdb.connect(str(target))
        try:
            create_core_schema(con)
        finally:
            con.close()
        return target

    def publish(self, building: Path) -> Path:
        """Make ``building`` (closed by the caller) the published snapshot, atomically."""
        final = building.with_name(building.name.removesuffix(BUILDING) + PUBLISHED)
        _fsync(building)
        os.replace(building, final)
        crash_point("renamed")
        pointer = self.folder / POINTER
        temporary = self.folder / f"{POINTER}.tmp"
        temporary.write_text(final.name + "\n", encoding="utf-8")
        _fsync(temporary)
        os.replace(temporary, pointer)
        _fsync_dir(self.folder)
        self.prune()
        return final

    def never_published(self) -> list[Path]:
        """Snapshots renamed into place by a run that died before pointing ``CURRENT`` at them.

        Each run copies the published snapshot and writes its own copy, so a snapshot that was
        published has not been written since the current one was: one modified later than the
        current one never was published. Before the first publish, none was. Call under
        :meth:`lock` (a live run's snapshot is such a file between its rename and its publish).
        """
        snapshots = list(self.snapshots.glob(f"*{PUBLISHED}"))
        if not (self.folder / POINTER).exists():
            return snapshots
        current = self.published()
        if current is None:  # the pointer names a missing file: nothing to compare with
            return []
        newest = current.stat().st_mtime_ns
        return [p for p in snapshots if p != current and p.stat().st_mtime_ns > newest]

    def prune(self) -> list[Path]:
        """Delete the snapshots never published, and published ones beyond the newest ``keep``
        (never the current one). Call under :meth:`lock`."""
        current = self.published()
        strays = self.never_published()
        published = sorted(
            (p for p in self.snapshots.glob(f"*{PUBLISHED}") if p not in strays), reverse=True
        )
        removed = strays + [p for p in published[self.keep :] if p != current]
        for path in removed:
            path.unlink(missing_ok=True)
            Path(f"{path}.wal").unlink(missing_ok=True)
        return removed


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
