"""What a consistent ``core`` satisfies, written as independent SQL (not the core suites).

The pipeline's own core suites enforce these with ``error`` expectations; the tests check the
published data again with these queries, so a suite that stopped checking would be caught.

    problems = core_problems(con)   # [] when the core is consistent

References are found by the model's naming convention (``kpiboard/core_model.py``): a column
``<entity>_id`` points to the table whose key it is, and columns named by role (``owner_id``,
``driver_id`` …) point to ``dim_employee``.
"""

from __future__ import annotations

import duckdb

ROLE_COLUMNS = {
    "owner_id": "dim_employee",
    "employee_id": "dim_employee",
    "assignee_id": "dim_employee",
    "author_id": "dim_employee",
    "engineer_id": "dim_employee",
    "driver_id": "dim_employee",
    "manager_id": "dim_employee",
    "head_id": "dim_employee",
    "buyer_id": "dim_employee",
    "changed_by_id": "dim_employee",
    "keeper_id": "dim_employee",
    "master_client_id": "dim_client",
    "counterpart_warehouse_id": "dim_warehouse",
}
NOT_REFERENCES = {"tax_id"}


def references(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str, str]]:
    """Every reference column of ``core``: (table, column, referenced table, its key)."""
    columns: dict[str, list[str]] = {}
    for table, column in con.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = 'core' ORDER BY table_name, ordinal_position"
    ).fetchall():
        columns.setdefault(table, []).append(column)
    owner_of_key = {names[0]: table for table, names in columns.items() if table != "dim_date"}
    found = []
    for table, names in columns.items():
        for column in names[1:]:
            if not column.endswith("_id") or column in NOT_REFERENCES:
                continue
            target = ROLE_COLUMNS.get(column) or owner_of_key.get(column)
            if target is None:
                raise AssertionError(f"core.{table}.{column}: no rule says what it references")
            found.append((table, column, target, columns[target][0]))
    return found


def core_problems(con: duckdb.DuckDBPyConnection) -> list[str]:
    """One line per broken invariant of ``core``, with its count; empty when consistent."""
    problems = []

    def count(sql: str) -> int:
        row = con.execute(sql).fetchone()
        return int(row[0]) if row else 0

    for table, column, target, key in references(con):
        dangling = count(
            f'SELECT count(*) FROM core."{table}" x WHERE x."{column}" IS NOT NULL '
            f'AND NOT EXISTS (SELECT 1 FROM core."{target}" y WHERE y."{key}" = x."{column}")'
        )
        if dangling:
            problems.append(f"core.{table}.{column}: {dangling} rows not in core.{target}")
    mismatched = count(
        """SELECT count(*) FROM core.fct_invoice i
           LEFT JOIN (SELECT invoice_id, sum(line_amount) AS lines
                      FROM core.fct_invoice_line GROUP BY 1) l USING (invoice_id)
           WHERE i.net_amount IS DISTINCT FROM round(coalesce(l.lines, 0), 2)"""
    )
    if mismatched:
        problems.append(
            f"core.fct_invoice: {mismatched} invoices whose net_amount is not their lines"
        )
    by_invoice = con.execute("SELECT sum(net_amount) FROM core.fct_invoice").fetchone()
    by_line = con.execute("SELECT round(sum(line_amount), 2) FROM core.fct_invoice_line").fetchone()
    if by_invoice != by_line:
        problems.append(f"revenue from invoices {by_invoice} != revenue from lines {by_line}")
    return problems
