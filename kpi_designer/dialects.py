"""The SQL dialects a KPI compiles to: DuckDB (the warehouse) and PostgreSQL (a server warehouse).

Its own module so the command line can name them in its options without importing sqlglot.
"""

from __future__ import annotations

DIALECTS = ("duckdb", "postgres")
