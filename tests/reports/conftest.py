"""Small projects for report tests: a published warehouse holding exactly the rows a test gives.

A golden test writes the few rows its reports read, computes the expected values by hand, and
builds a project with :func:`make_project`::

    project = make_project(tmp_path, {
        "dim_branch": [{"branch_id": "denver", "name": "Denver", "currency": "USD",
                        "timezone": "America/Denver"}],
        "fct_invoice": [{"invoice_id": "i1", "branch_id": "denver", "issued_on": "2025-03-02",
                         "total_amount": "100.00", ...}],
    })

Columns a row leaves out are NULL; ``_source`` and ``_loaded_at`` are filled in. Values are
typed from the column's declared type (``"2025-03-02"`` for a DATE, ``"100.00"`` for a DECIMAL).
``core.dim_date`` is the built-in calendar of 2023–2026 unless the rows give one.
``extra_sql`` runs after the rows are in (the ``quarantine`` or ``validation`` schemas of a
data-quality report), then ``prepare`` with the connection (what the pipeline would build from
them, such as the quarantine's view), and ``files`` writes project files (``kpis/sales.yaml``).
:func:`republish` then publishes a new snapshot with some tables' rows replaced, as the next
pipeline run would (alerts are checked on each).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from etl.calendar import calendar_sql
from kpiboard.core_model import CORE_TABLES
from kpiboard.warehouse import Warehouse, new_run_id
from tests.cells import typed

LOADED_AT = dt.datetime(2025, 7, 1, 3, 0)
CALENDAR = (dt.date(2023, 1, 1), dt.date(2026, 12, 31))
TYPES = {t.name: {c.name: c.type for c in t.columns} for t in CORE_TABLES}

BRANCHES = [
    {"branch_id": "denver", "name": "Denver", "currency": "USD", "timezone": "America/Denver"},
    {"branch_id": "austin", "name": "Austin", "currency": "USD", "timezone": "America/Chicago"},
]
"""The two branches most fixtures have: Denver and Austin, each in its own time zone."""

CONFIG = """\
[project]
name = "Fixture Office Supply"
timezone = "UTC"

[warehouse]
path = "warehouse"

[app]
database_url = "sqlite:///app.sqlite"
"""


def make_project(
    root: Path,
    tables: Mapping[str, Sequence[Mapping[str, Any]]],
    *,
    extra_sql: Sequence[str] = (),
    files: Mapping[str, str] | None = None,
    prepare: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
) -> Path:
    """A project folder under ``root`` whose published snapshot holds ``tables`` in ``core``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "kpiboard.toml").write_text(CONFIG, encoding="utf-8")
    for name, text in (files or {}).items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    warehouse = Warehouse(root / "warehouse")
    building = warehouse.start(new_run_id())
    con = duckdb.connect(str(building))
    try:
        _fill(con, tables)
        if "dim_date" not in tables:  # the built-in calendar, as the pipeline makes it
            con.execute(f"INSERT INTO core.dim_date BY NAME {calendar_sql(*CALENDAR)}")
        for statement in extra_sql:
            con.execute(statement)
        if prepare is not None:
            prepare(con)
    finally:
        con.close()
    warehouse.publish(building)
    return root


def republish(root: Path, tables: Mapping[str, Sequence[Mapping[str, Any]]]) -> Path:
    """Publish a new snapshot of ``root``'s warehouse in which ``tables`` hold exactly the rows
    given (the other tables as the published snapshot had them), as a pipeline run that
    changed those tables would; the new snapshot's file."""
    warehouse = Warehouse(root / "warehouse")
    building = warehouse.start(new_run_id())
    con = duckdb.connect(str(building))
    try:
        for table in tables:
            if table not in TYPES:
                raise KeyError(f"no core table {table!r}")
            con.execute(f"DELETE FROM core.{table}")
        _fill(con, tables)
    finally:
        con.close()
    return warehouse.publish(building)


def _fill(
    con: duckdb.DuckDBPyConnection, tables: Mapping[str, Sequence[Mapping[str, Any]]]
) -> None:
    """Insert ``tables``' rows into ``core``, typed by the columns' declared types."""
    for table, rows in tables.items():
        if table not in TYPES:
            raise KeyError(f"no core table {table!r}")
        if not rows:
            continue
        columns = sorted({c for row in rows for c in row})
        unknown = [c for c in columns if c not in TYPES[table]]
        if unknown:
            raise KeyError(f"core.{table} has no column {unknown}")
        frame = pd.DataFrame(
            [[typed(row.get(c), TYPES[table][c]) for c in columns] for row in rows],
            columns=columns,
            dtype=object,
        )
        frame["_source"] = "fixture"
        frame["_loaded_at"] = LOADED_AT
        names = ", ".join(frame.columns)
        con.register("incoming", frame)
        casts = ", ".join(f"CAST({c} AS {TYPES[table][c]})" for c in frame.columns)
        con.execute(f"INSERT INTO core.{table} ({names}) SELECT {casts} FROM incoming")
        con.unregister("incoming")
