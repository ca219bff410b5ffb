"""First events: each purchase's place in its client's history, filled by kpiboard once duplicate
clients are linked (``etl.firsts``), and kept out of the models' hands."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from etl import transform
from etl.firsts import fill_client_firsts
from kpiboard.core_model import create_core_schema
from kpiboard.warehouse import start_session


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = start_session(duckdb.connect(":memory:"))
    create_core_schema(connection)
    yield connection
    connection.close()


CLIENTS = [
    # client_id, master_client_id: c2 is c1 typed in twice
    ("c1", None),
    ("c2", "c1"),
    ("c3", None),
]

INVOICES = [
    # invoice_id, issued_on, client, kind, status, expected client_invoice_no, expected gap
    ("i01", "2024-01-10", "c1", "invoice", "paid", 1, None),
    ("i02", "2024-01-10", "c2", "invoice", "issued", 2, 0),  # the duplicate: same client, same day
    ("i03", "2024-02-01", "c1", "credit_note", "issued", None, None),  # no purchase
    ("i04", "2024-02-05", "c1", "invoice", "draft", None, None),
    ("i05", "2024-02-06", "c2", "invoice", "cancelled", None, None),
    ("i06", "2024-09-01", "c2", "invoice", "partially_paid", 3, 235),  # back after 235 days
    ("i07", "2024-03-03", "c3", "invoice", "paid", 1, None),
    ("i08", "2024-03-03", None, "invoice", "paid", None, None),  # no client, no history
    ("i09", "2024-03-04", "c9", "invoice", "paid", 1, None),  # a client core does not have
    ("i10", "2024-03-03", "c3", "invoice", "paid", 2, 0),  # a tie is ordered by invoice_id
]


def _fill(con: duckdb.DuckDBPyConnection) -> None:
    for client, master in CLIENTS:
        con.execute(
            "INSERT INTO core.dim_client (client_id, branch_id, master_client_id, _source, "
            "_loaded_at) VALUES (?, 'b', ?, 't', now())",
            [client, master],
        )
    for invoice, issued, client, kind, status, *_ in INVOICES:
        con.execute(
            "INSERT INTO core.fct_invoice (invoice_id, branch_id, issued_on, client_id, kind, "
            "status, _source, _loaded_at) VALUES (?, 'b', ?, ?, ?, ?, 't', now())",
            [invoice, issued, client, kind, status],
        )


def test_each_purchase_is_numbered_in_its_clients_history(con: duckdb.DuckDBPyConnection) -> None:
    _fill(con)
    assert fill_client_firsts(con) == 6
    found = con.execute(
        "SELECT invoice_id, client_invoice_no, days_since_client_previous_invoice "
        "FROM core.fct_invoice ORDER BY invoice_id"
    ).fetchall()
    assert found == [(i, n, gap) for i, *_, n, gap in INVOICES]


def test_filling_again_after_a_change_renumbers(con: duckdb.DuckDBPyConnection) -> None:
    """An invoice released from quarantine, or a link undone, renumbers on the next fill; a row
    that stops being a purchase loses its number."""
    _fill(con)
    fill_client_firsts(con)
    con.execute("UPDATE core.dim_client SET master_client_id = NULL WHERE client_id = 'c2'")
    con.execute("UPDATE core.fct_invoice SET status = 'cancelled' WHERE invoice_id = 'i07'")
    fill_client_firsts(con)
    found = dict(
        (r[0], (r[1], r[2]))
        for r in con.execute(
            "SELECT invoice_id, client_invoice_no, days_since_client_previous_invoice "
            "FROM core.fct_invoice"
        ).fetchall()
    )
    assert found["i02"] == (1, None)  # c2 on its own now
    assert found["i06"] == (2, dt.date(2024, 9, 1).toordinal() - dt.date(2024, 1, 10).toordinal())
    assert found["i07"] == (None, None)
    assert found["i10"] == (1, None)


def test_a_model_may_not_fill_the_columns_kpiboard_fills(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    core = tmp_path / "models" / "core"
    core.mkdir(parents=True)
    (core / "fct_invoice.sql").write_text(
        "SELECT 'x' AS invoice_id, 'b' AS branch_id, DATE '2024-01-01' AS issued_on,\n"
        "    1 AS client_invoice_no,\n"
        "    't' AS _source, now() AS _loaded_at\n",
        encoding="utf-8",
    )
    models = transform.load_models(tmp_path / "models")
    [problem] = transform.check_models(con, models)
    assert str(problem) == (
        "models/core/fct_invoice.sql:2: column 'client_invoice_no' of core.fct_invoice is "
        "filled by kpiboard after the models run (docs/model.md); leave it out of the SELECT"
    )
