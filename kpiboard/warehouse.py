"""The DuckDB warehouse file: opening it and laying out its schemas.

DuckDB allows one writer per file; readers open read-only. The pipeline (``etl``) builds each new
snapshot and publishes it; this module only knows how to open a warehouse and create the canonical
``core`` schema in it.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from kpiboard.core_model import CORE_TABLES, create_core_schema
from kpiboard.errors import UserError


def connect(path: Path, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the warehouse at ``path``; a missing file is created unless ``read_only``."""
    if read_only and not path.exists():
        raise UserError(f"{path}: no warehouse here yet; run the pipeline first")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        raise UserError(f"{path}: cannot open the warehouse: {exc}") from None


def init_warehouse(path: Path) -> list[str]:
    """Create the warehouse file (if needed) with the ``core`` schema; return its table names."""
    con = connect(path)
    try:
        create_core_schema(con)
    finally:
        con.close()
    return [table.name for table in CORE_TABLES]
