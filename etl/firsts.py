"""First events: the columns of ``core.fct_invoice`` that place an invoice in its client's history.

A "new client" KPI needs each client's first purchase, a "reactivated client" KPI the gap since
the client's previous one. Both depend on who the client is once duplicates are linked (a client
typed in twice is one client: ``coalesce(dim_client.master_client_id, client_id)``), which is
known only after the models ran and :mod:`validation.duplicates` linked them. So kpiboard fills
them itself, after that link and before the core suites, on every run:

- ``client_invoice_no``: 1 for the client's first counted invoice, 2 for the second …, ordered by
  ``issued_on`` then ``invoice_id``;
- ``days_since_client_previous_invoice``: days from the client's previous counted invoice's
  ``issued_on`` (0 for two the same day); null on the first.

Counted invoices are the purchases: ``kind`` is not ``credit_note`` and ``status`` is neither
``draft`` nor ``cancelled`` (the rows revenue counts). Other invoices, and invoices without a
client, get null in both. The history is the invoices in ``core``: one held in quarantine counts
once it is released, which may renumber the client's later invoices.
"""

from __future__ import annotations

import duckdb

COUNTED = (
    "coalesce(i.kind, 'invoice') <> 'credit_note' "
    "AND coalesce(i.status, '') NOT IN ('draft', 'cancelled') "
    "AND i.client_id IS NOT NULL"
)
"""The invoices that are purchases (alias ``i`` for ``core.fct_invoice``)."""


def fill_client_firsts(con: duckdb.DuckDBPyConnection) -> int:
    """Fill ``client_invoice_no`` and ``days_since_client_previous_invoice`` of every row of
    ``core.fct_invoice`` (see the module docstring); return how many invoices are numbered."""
    con.execute(
        "UPDATE core.fct_invoice SET client_invoice_no = NULL, "
        "days_since_client_previous_invoice = NULL "
        "WHERE client_invoice_no IS NOT NULL OR days_since_client_previous_invoice IS NOT NULL"
    )
    row = con.execute(
        f"""
        UPDATE core.fct_invoice AS t
        SET client_invoice_no = f.n, days_since_client_previous_invoice = f.gap
        FROM (
            SELECT
                invoice_id,
                CAST(row_number() OVER w AS INTEGER) AS n,
                CAST(issued_on - lag(issued_on) OVER w AS INTEGER) AS gap
            FROM (
                SELECT i.invoice_id, i.issued_on,
                       coalesce(c.master_client_id, i.client_id) AS client
                FROM core.fct_invoice AS i
                LEFT JOIN core.dim_client AS c ON c.client_id = i.client_id
                WHERE {COUNTED}
            )
            WINDOW w AS (PARTITION BY client ORDER BY issued_on, invoice_id)
        ) AS f
        WHERE t.invoice_id = f.invoice_id
        """
    ).fetchone()
    return int(row[0]) if row else 0
