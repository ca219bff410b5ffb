"""Rows deleted at the source, through the whole pipeline with the demo's suites: a deleted
client stays in core (flagged) with its invoices and last year's revenue; a deleted invoice
leaves core with its lines and payments, which are held in quarantine with it."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import duckdb

from etl import pipeline
from kpiboard.config import load_settings
from kpiboard.demo import build_sources, demo_sources, install_demo_models, install_demo_suites
from kpiboard.project import init_project

SEED, SCALE = 6, 0.02


def _rows(project: Path, sql: str) -> list[tuple[object, ...]]:
    path = load_settings(project).open_warehouse().published()
    assert path is not None
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _revenue_2025(project: Path) -> object:
    return _rows(
        project, "SELECT sum(net_amount) FROM core.fct_invoice WHERE year(issued_on) = 2025"
    )[0][0]


def test_a_deleted_client_stays_with_its_invoices_and_a_deleted_invoice_leaves_whole(
    tmp_path: Path,
) -> None:
    project = tmp_path / "demo"
    build_sources(f"sqlite:///{project}/sources/{{db}}.sqlite", seed=SEED, scale=SCALE)
    init_project(project, name="demo", sources=demo_sources())
    install_demo_models(project / "models")
    install_demo_suites(project / "suites")
    assert pipeline.run(load_settings(project)).status == pipeline.SUCCESS

    # the Denver client with the most invoices last year, and a 2026 invoice of another client
    # with several lines and a payment
    client, invoices = _rows(
        project,
        "SELECT client_id, count(*) FROM core.fct_invoice WHERE _source = 'crm_denver' "
        "AND year(issued_on) = 2025 GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1",
    )[0]
    all_invoices = _rows(
        project, f"SELECT count(*) FROM core.fct_invoice WHERE client_id = '{client}'"
    )[0][0]
    (invoice,) = _rows(
        project,
        "SELECT i.invoice_id FROM core.fct_invoice i "
        "JOIN core.fct_invoice_line l USING (invoice_id) "
        "JOIN core.fct_payment p USING (invoice_id) "
        "WHERE i._source = 'crm_denver' AND year(i.issued_on) = 2026 "
        f"AND i.client_id <> '{client}' "
        "GROUP BY 1 HAVING count(DISTINCT l.invoice_line_id) > 1 ORDER BY 1 LIMIT 1",
    )[0]
    lines = _rows(
        project, f"SELECT count(*) FROM core.fct_invoice_line WHERE invoice_id = '{invoice}'"
    )[0][0]
    revenue = _revenue_2025(project)
    assert invoices > 0 and lines > 1

    with closing(sqlite3.connect(project / "sources" / "crm_denver.sqlite")) as lite:
        lite.execute("DELETE FROM clients WHERE id = ?", [int(str(client).split(":")[1])])
        # the invoice alone: its lines and payments stay at the source, orphaned
        lite.execute("DELETE FROM invoices WHERE id = ?", [int(str(invoice).split(":")[1])])
        lite.commit()
    result = pipeline.run(load_settings(project), check_deletes=True)
    assert result.status == pipeline.SUCCESS, result.errors
    deleted = {(t.source, t.table): t.rows_deleted for t in result.tables if t.rows_deleted}
    assert deleted == {("crm_denver", "clients"): 1, ("crm_denver", "invoices"): 1}

    assert _rows(
        project, f"SELECT is_deleted FROM core.dim_client WHERE client_id = '{client}'"
    ) == [(True,)]
    assert _rows(
        project, f"SELECT count(*) FROM core.fct_invoice WHERE client_id = '{client}'"
    ) == [(all_invoices,)]
    assert _revenue_2025(project) == revenue
    assert _rows(
        project,
        "SELECT count(*) FROM quarantine.invoices WHERE source = 'crm_denver' AND row_key IN "
        "(SELECT id::VARCHAR FROM raw_crm_denver.invoices "
        f"WHERE client_id = {str(client).split(':')[1]})",
    ) == [(0,)]

    for table in ("fct_invoice", "fct_invoice_line", "fct_payment"):
        assert _rows(
            project, f"SELECT count(*) FROM core.{table} WHERE invoice_id = '{invoice}'"
        ) == [(0,)], table
    held = _rows(
        project,
        "SELECT expectation, hold, offending FROM quarantine.invoice_items "
        "WHERE source = 'crm_denver' AND row_key IN (SELECT id::VARCHAR FROM "
        f"raw_crm_denver.invoice_items WHERE invoice_id = {str(invoice).split(':')[1]})",
    )
    assert len(held) == lines
    assert {(e, h, json.dumps(json.loads(str(o)), sort_keys=True)) for e, h, o in held} == {
        (
            "crm.invoice_items:held_with_document",
            "row",
            json.dumps({"because": "deleted at the source", "document": invoice}, sort_keys=True),
        )
    }
    assert _rows(
        project,
        "SELECT count(*) FROM core.fct_invoice AS i LEFT JOIN (SELECT invoice_id, "
        "sum(line_amount) AS s FROM core.fct_invoice_line GROUP BY 1) AS l USING (invoice_id) "
        "WHERE i.net_amount IS DISTINCT FROM round(coalesce(l.s, 0), 2)",
    ) == [(0,)]
