"""The midnight-UTC check: a core time that is a local date cast to a timestamp.

``CAST(order_date AS TIMESTAMP)`` is midnight UTC, which a branch west of Greenwich sees as the
evening before: every order of the 1st moves to the previous month, and nothing fails. Its
signature is plain to see once the models ran: for one branch whose time zone is not UTC, every
value of a ``TIMESTAMP`` column is at exactly 00:00:00. Real event times never are, so with
enough of them (:data:`MIN_ROWS`) that is a date read as UTC, and the run says so.
"""

from __future__ import annotations

import duckdb

from etl.transform import quote, string_literal
from kpiboard.core_model import CORE_TABLES, TIMESTAMP

MIN_ROWS = 20
"""Values a branch needs in a column before "all at midnight" means something."""

# a zone whose offset is not 0 in January or in July (not UTC, GMT or an alias of them); a name
# DuckDB does not know is left to the dim_branch suite
_ZONES = """
    SELECT branch_id, timezone
    FROM core.dim_branch
    WHERE timezone IN (SELECT name FROM pg_timezone_names())
      AND (utc_from_local(TIMESTAMP '2001-01-15 12:00:00', timezone)
               <> TIMESTAMP '2001-01-15 12:00:00'
           OR utc_from_local(TIMESTAMP '2001-07-15 12:00:00', timezone)
               <> TIMESTAMP '2001-07-15 12:00:00')
"""


def midnight_warnings(con: duckdb.DuckDBPyConnection, *, min_rows: int = MIN_ROWS) -> list[str]:
    """One warning per core ``TIMESTAMP`` column and branch (time zone not UTC) whose values,
    at least ``min_rows`` of them, are all at 00:00:00; in table, column, branch order."""
    zones = dict(con.execute(_ZONES).fetchall())
    if not zones:
        return []
    warnings: list[str] = []
    for table in CORE_TABLES:
        names = {c.name for c in table.columns}
        columns = [
            c.name for c in table.columns if c.type == TIMESTAMP and not c.name.startswith("_")
        ]
        if "branch_id" not in names or not columns:
            continue
        quoted = [quote(c) for c in columns]
        measures = ", ".join(
            f"count({c}), count({c}) FILTER (WHERE {c} <> date_trunc('day', {c}))" for c in quoted
        )
        branches = ", ".join(string_literal(b) for b in zones)
        rows = con.execute(
            f"SELECT branch_id, {measures} FROM core.{quote(table.name)} "
            f"WHERE branch_id IN ({branches}) GROUP BY branch_id ORDER BY branch_id"
        ).fetchall()
        found: list[tuple[str, str, int]] = []
        for branch, *counts in rows:
            for i, column in enumerate(columns):
                values, timed = counts[2 * i], counts[2 * i + 1]
                if values >= min_rows and timed == 0:
                    found.append((column, branch, values))
        for column, branch, values in sorted(found):
            zone = zones[branch]
            warnings.append(
                f"core.{table.name}.{column}: all {values:,} values of branch {branch!r} "
                f"({zone}) are at 00:00:00 UTC, the mark of a local date cast to a timestamp, "
                f"which {zone} sees on another day or hour; in the model write "
                f"utc_from_local(<the date>, '{zone}') (or the branch's "
                "core.dim_branch.timezone), or keep the date in a DATE column "
                '(docs/connecting-a-source.md, "Dates and time zones")'
            )
    return warnings
