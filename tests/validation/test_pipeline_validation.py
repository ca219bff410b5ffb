"""Validation inside the pipeline: the dirt manifest exam, quarantine left out of core,
reconciliation, and what ``error`` and ``warn`` failures do to publishing."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from etl import pipeline
from kpiboard.config import load_settings
from kpiboard.demo import build_sources, demo_sources, install_demo_models, install_demo_suites
from kpiboard.demo.dirt import read_manifest
from kpiboard.demo.duplicates_exam import duplicates_exam
from kpiboard.project import init_project
from tests.consistency import core_problems
from validation.run import ValidationFailed


def _demo(folder: Path, seed: int, scale: float = 0.05) -> Path:
    build_sources(f"sqlite:///{folder}/sources/{{db}}.sqlite", seed=seed, scale=scale)
    init_project(folder, name="demo", sources=demo_sources())
    install_demo_models(folder / "models")
    install_demo_suites(folder / "suites")
    return folder


def _query(project: Path, sql: str) -> list[tuple[object, ...]]:
    con = load_settings(project).open_warehouse().connect()
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _quarantined(project: Path) -> dict[tuple[str, str, int], set[tuple[str, str, str | None]]]:
    """Every quarantined row, ``(database, table, id)``, with its ``(expectation, hold,
    offending)`` entries."""
    tables = _query(
        project,
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'quarantine'",
    )
    found: dict[tuple[str, str, int], set[tuple[str, str, str | None]]] = {}
    for (table,) in tables:
        rows = _query(
            project,
            "SELECT DISTINCT source, row_key, expectation, hold, offending "
            f'FROM quarantine."{table}"',
        )
        for source, key, expectation, hold, offending in rows:
            entry = (str(expectation), str(hold), None if offending is None else str(offending))
            found.setdefault((str(source), str(table), int(str(key))), set()).add(entry)
    return found


def _manifest(project: Path) -> dict[tuple[str, str, int], str]:
    with (project / "sources" / "dirt_manifest.csv").open() as fh:
        return {
            (r["database"], r["table"], int(r["primary_key"])): r["kind"]
            for r in csv.DictReader(fh)
            if r["kind"] != "duplicate_client"  # linked to their original, not held
        }


# the defects whose rows go on into core with the offending value withheld (hold: value)
VALUE_HELD = {"malformed_phone", "malformed_email", "malformed_tax_id"}
# …and an activity whose deal is unknown: the call happened, the deal is withheld
VALUE_HELD_IN = {("orphan_reference", "activities")}
# the documents of the demo's suites (part_of): part table → (document table, column naming it)
DOCUMENTS = {
    "invoice_items": ("invoices", "invoice_id"),
    "payments": ("invoices", "invoice_id"),
    "deal_stage_history": ("deals", "deal_id"),
    "purchase_order_lines": ("purchase_orders", "purchase_order_id"),
}


@pytest.fixture(scope="module", params=[3, 11])
def published(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo (scale 0.05) run through the pipeline once and published, per seed."""
    project = _demo(tmp_path_factory.mktemp(f"seed{request.param}") / "demo", request.param)
    result = pipeline.run(load_settings(project))
    assert result.status == pipeline.SUCCESS, result.errors
    return project


def test_the_dirt_manifest_exam(published: Path) -> None:
    """Every injected defect is quarantined (recall 100%), held by value where it is an
    attribute of an entity, by row otherwise; every other quarantined row is held with its
    document, and that document has an injected defect (precision 100%)."""
    manifest = _manifest(published)
    quarantined = _quarantined(published)
    assert manifest, "the demo injected no dirt"
    assert sorted(set(manifest) - set(quarantined)) == []  # recall
    for row, kind in manifest.items():
        holds = {
            hold
            for expectation, hold, _ in quarantined[row]
            if not expectation.endswith(":held_with_document")
        }
        value = kind in VALUE_HELD or (kind, row[1]) in VALUE_HELD_IN
        assert holds == {"value" if value else "row"}, (row, kind, quarantined[row])
    # the documents with a defect of their own or of one of their parts
    dirty = {
        (db, table, key)
        for db, table, key in manifest
        if table in {d for d, _ in DOCUMENTS.values()}
    }
    for db, table, key in manifest:
        if table in DOCUMENTS:
            document, column = DOCUMENTS[table]
            (named,) = _query(published, f"SELECT {column} FROM raw_{db}.{table} WHERE id = {key}")[
                0
            ]
            dirty.add((db, document, int(named)))
    with_document = 0
    for row in sorted(set(quarantined) - set(manifest)):
        entries = quarantined[row]
        assert all(e.endswith(":held_with_document") for e, _, _ in entries), (row, entries)
        for _, hold, offending in entries:
            assert hold == "row" and offending is not None
            document = json.loads(offending)["document"]
            db, key = document.split(":")
            table = row[1] if row[1] not in DOCUMENTS else DOCUMENTS[row[1]][0]
            assert (db, table, int(key)) in dirty, (row, offending)
            with_document += 1
    assert with_document > 0
    con = load_settings(published).open_warehouse().connect()
    try:
        exam = duplicates_exam(con, read_manifest(published / "sources" / "dirt_manifest.csv"))
        problems = core_problems(con)
    finally:
        con.close()
    assert exam.expected, "the demo injected no duplicate clients"
    assert (exam.missed, exam.wrong) == ([], [])  # every duplicate linked, no clean client
    assert problems == []


def test_a_negative_line_holds_its_invoice_with_every_line_and_payment(published: Path) -> None:
    """One line typed with a minus sign (crm_denver's invoice 30433 in the full demo) holds its
    invoice and every other line and payment of it, each saying which document and why; none of
    them reaches core."""
    manifest = _manifest(published)
    db, _, line = min(
        k for k, kind in manifest.items() if kind == "negative_quantity" and k[1] == "invoice_items"
    )
    (invoice,) = _query(
        published, f"SELECT invoice_id FROM raw_{db}.invoice_items WHERE id = {line}"
    )[0]
    lines = _query(published, f"SELECT id FROM raw_{db}.invoice_items WHERE invoice_id = {invoice}")
    payments = _query(published, f"SELECT id FROM raw_{db}.payments WHERE invoice_id = {invoice}")
    because = {"document": f"{db}:{invoice}", "because": "crm.invoice_items:between_qty"}
    members = [
        ("invoices", invoice),
        *(("invoice_items", i) for (i,) in lines),
        *(("payments", i) for (i,) in payments),
    ]
    assert len(members) > 2
    for table, key in members:
        held = _query(
            published,
            f"SELECT expectation, hold, offending FROM quarantine.{table} "
            f"WHERE source = '{db}' AND row_key = '{key}'",
        )
        if (table, key) == ("invoice_items", line):
            assert [(e, h, json.loads(o)["qty"] < 0) for e, h, o in held] == [
                ("crm.invoice_items:between_qty", "row", True)
            ]
        else:
            assert [(e, h, json.loads(o)) for e, h, o in held] == [
                (f"crm.{table}:held_with_document", "row", because)
            ]
    for table, column in [
        ("fct_invoice", "invoice_id"),
        ("fct_invoice_line", "invoice_id"),
        ("fct_payment", "invoice_id"),
    ]:
        assert _query(
            published, f"SELECT count(*) FROM core.{table} WHERE {column} = '{db}:{invoice}'"
        ) == [(0,)]


def test_core_is_consistent(published: Path) -> None:
    """After quarantine, core adds up: every invoice is the sum of its lines, every reference
    resolves, and value-held rows are in core with the offending value withheld."""
    mismatched = _query(
        published,
        """SELECT count(*) FROM core.fct_invoice AS i
        LEFT JOIN (SELECT invoice_id, sum(line_amount) AS s FROM core.fct_invoice_line GROUP BY 1)
            AS l USING (invoice_id)
        WHERE i.net_amount IS DISTINCT FROM round(coalesce(l.s, 0), 2)""",
    )
    assert mismatched == [(0,)]
    invoices, lines = _query(
        published,
        "SELECT (SELECT sum(net_amount) FROM core.fct_invoice), "
        "(SELECT round(sum(line_amount), 2) FROM core.fct_invoice_line)",
    )[0]
    assert invoices == lines
    for table, column, parent, key in REFERENCES:
        dangling = _query(
            published,
            f"SELECT count(*) FROM core.{table} AS c WHERE c.{column} IS NOT NULL AND NOT EXISTS "
            f"(SELECT 1 FROM core.{parent} AS p WHERE p.{key} = c.{column})",
        )
        assert dangling == [(0,)], f"{table}.{column} → {parent}"
    assert _query(published, "SELECT count(*) FROM core.fct_invoice WHERE client_id IS NULL") == [
        (0,)
    ]
    # a client with a malformed phone is in core, its phone withheld, its invoices with it
    held = _query(
        published,
        "SELECT d.client_id, d.phone, (SELECT count(*) FROM core.fct_invoice i "
        "WHERE i.client_id = d.client_id) FROM quarantine.clients q "
        "JOIN core.dim_client d ON d.client_id = q.source || ':' || q.row_key "
        "WHERE q.expectation = 'crm.clients:regex_phone'",
    )
    manifest = _manifest(published)
    phones = [k for k, kind in manifest.items() if kind == "malformed_phone" and k[1] == "clients"]
    assert len(held) == len(phones) > 0
    assert all(phone is None for _, phone, _ in held)
    assert sum(count for _, _, count in held) > 0


E = "dim_employee", "employee_id"
REFERENCES = [
    ("dim_branch", "head_id", *E),
    ("dim_client", "owner_id", *E),
    ("dim_employee", "manager_id", *E),
    ("dim_product", "supplier_id", "dim_supplier", "supplier_id"),
    ("dim_warehouse", "keeper_id", *E),
    ("fct_lead", "client_id", "dim_client", "client_id"),
    ("fct_lead", "deal_id", "fct_deal", "deal_id"),
    ("fct_deal", "client_id", "dim_client", "client_id"),
    ("fct_deal", "lead_id", "fct_lead", "lead_id"),
    ("fct_deal_stage", "deal_id", "fct_deal", "deal_id"),
    ("fct_activity", "client_id", "dim_client", "client_id"),
    ("fct_activity", "deal_id", "fct_deal", "deal_id"),
    ("fct_task", "client_id", "dim_client", "client_id"),
    ("fct_task", "deal_id", "fct_deal", "deal_id"),
    ("fct_invoice", "client_id", "dim_client", "client_id"),
    ("fct_invoice", "deal_id", "fct_deal", "deal_id"),
    ("fct_invoice", "owner_id", *E),
    ("fct_invoice_line", "invoice_id", "fct_invoice", "invoice_id"),
    ("fct_invoice_line", "product_id", "dim_product", "product_id"),
    ("fct_payment", "invoice_id", "fct_invoice", "invoice_id"),
    ("fct_payment", "client_id", "dim_client", "client_id"),
    ("fct_stock_move", "product_id", "dim_product", "product_id"),
    ("fct_stock_move", "warehouse_id", "dim_warehouse", "warehouse_id"),
    ("fct_stock_move", "invoice_id", "fct_invoice", "invoice_id"),
    ("fct_stock_move", "purchase_order_id", "fct_purchase_order", "purchase_order_id"),
    ("fct_purchase_order", "supplier_id", "dim_supplier", "supplier_id"),
    ("fct_service_request", "client_id", "dim_client", "client_id"),
    ("fct_service_request", "invoice_id", "fct_invoice", "invoice_id"),
    ("fct_delivery", "client_id", "dim_client", "client_id"),
    ("fct_delivery", "invoice_id", "fct_invoice", "invoice_id"),
    ("fct_delivery", "service_request_id", "fct_service_request", "service_request_id"),
]


def test_duplicates_of_the_default_demo_are_linked_to_their_original(
    tmp_path: Path,
) -> None:
    """The demo as ``kpiboard demo`` builds it (seed 42, scale 1): every duplicate client
    points to its original, no clean client is linked, and the duplicates' invoices count."""
    project = _demo(tmp_path / "demo", 42, scale=1)
    assert pipeline.run(load_settings(project)).status == pipeline.SUCCESS
    con = load_settings(project).open_warehouse().connect()
    try:
        exam = duplicates_exam(con, read_manifest(project / "sources" / "dirt_manifest.csv"))
        dangling = con.execute(
            "SELECT count(*) FROM core.dim_client AS d LEFT JOIN core.dim_client AS m "
            "ON m.client_id = d.master_client_id "
            "WHERE d.master_client_id NOTNULL AND (m.client_id IS NULL OR m.master_client_id "
            "NOTNULL)"
        ).fetchone()
        problems = core_problems(con)
    finally:
        con.close()
    assert len(exam.expected) >= 50
    assert (exam.missed, exam.wrong) == ([], [])
    assert dangling == (0,)  # a master exists and is no one's duplicate itself
    assert problems == []  # the demo as users see it adds up


def test_quarantined_rows_stay_in_raw_and_out_of_core_and_everything_reconciles(
    tmp_path: Path,
) -> None:
    project = _demo(tmp_path / "demo", 5)
    result = pipeline.run(load_settings(project))
    assert result.status == pipeline.SUCCESS, result.errors
    loaded = {(t.source, t.table): t.rows_loaded for t in result.tables}
    holding = _quarantine_tables(project)
    for (source, table), rows in loaded.items():
        raw = _query(project, f'SELECT count(*) FROM "raw_{source}"."{table}"')[0][0]
        staged = _query(project, f'SELECT count(*) FROM "stg_{source}"."{table}"')[0][0]
        held = (  # held out of core: a row whose value is withheld goes on
            _query(
                project,
                "SELECT count(DISTINCT row_key) FROM quarantine."
                f"\"{table}\" WHERE source = '{source}' AND hold = 'row'",
            )[0][0]
            if (source, table) in holding
            else 0
        )
        assert rows == raw == staged + held, (source, table)  # source = loaded = passed + held
    balances = {(r.source, r.table): r for r in result.reconciliation}
    assert set(balances) == set(loaded)
    assert all(r.balanced for r in balances.values()), [r.describe() for r in balances.values()]
    held = sum(r.quarantined for r in balances.values())
    assert held > 0
    recorded = _query(
        project,
        "SELECT count(*), sum(quarantined) FROM validation.reconciliation "
        f"WHERE run_id = '{result.run_id}' AND balanced",
    )
    assert recorded == [(len(loaded), held)]
    orphan_keys = _query(
        project,
        "SELECT count(*) FROM core.fct_invoice i WHERE i.invoice_id IN "
        "(SELECT 'crm_denver:' || row_key FROM quarantine.invoices WHERE source = 'crm_denver')",
    )
    assert orphan_keys == [(0,)]  # a quarantined invoice never reaches core


def _quarantine_tables(project: Path) -> set[tuple[str, str]]:
    tables = _query(
        project,
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'quarantine'",
    )
    out = set()
    for (table,) in tables:
        for (source,) in _query(project, f'SELECT DISTINCT source FROM quarantine."{table}"'):
            out.add((str(source), str(table)))
    return out


def test_an_error_expectation_that_fails_publishes_nothing(tmp_path: Path) -> None:
    project = _demo(tmp_path / "demo", 4, scale=0.02)
    first = pipeline.run(load_settings(project))
    assert first.status == pipeline.SUCCESS
    suite = project / "suites" / "raw" / "crm" / "clients.yaml"
    suite.write_text(
        suite.read_text()
        + "  - between: id\n    max: 10\n    severity: error\n    name: tiny_ids\n"
    )
    with pytest.raises(ValidationFailed) as failure:
        pipeline.run(load_settings(project))
    message = str(failure.value)
    assert "nothing published" in message
    assert "crm.clients:tiny_ids" in message and "clients.yaml:" in message
    assert load_settings(project).open_warehouse().published() == first.snapshot


def test_warn_failures_publish_and_are_recorded(tmp_path: Path) -> None:
    project = _demo(tmp_path / "demo", 4, scale=0.02)
    result = pipeline.run(load_settings(project))
    assert result.status == pipeline.SUCCESS
    assert result.raw_validation is not None and result.raw_validation.failures == []
    recorded = _query(
        project,
        "SELECT count(*), sum(quarantined) FROM validation.results "
        f"WHERE run_id = '{result.run_id}' AND layer = 'raw' AND NOT success",
    )
    assert recorded[0][0] > 0 and recorded[0][1] > 0


def test_rows_match_source_compares_with_the_source_and_with_what_passed(tmp_path: Path) -> None:
    """Raw ``crm.clients`` against the CRMs' own count, ``core.dim_client`` against the clients
    that passed quarantine; a model that loses a row stops the run, in a validate-only run too."""
    project = _demo(tmp_path / "demo", 4, scale=0.02)
    first = pipeline.run(load_settings(project))
    assert first.status == pipeline.SUCCESS
    at_source = sum(t.source_rows or 0 for t in first.tables if t.table == "clients")
    held = sum(r.quarantined for r in first.reconciliation if r.table == "clients")
    rows = _query(
        project,
        "SELECT layer, success, sample FROM validation.results WHERE "
        f"run_id = '{first.run_id}' AND kind = 'rows_match_source' ORDER BY layer",
    )
    assert rows == [("core", True, "[]"), ("raw", True, "[]")]
    assert _query(project, "SELECT count(*) FROM core.dim_client") == [(at_source - held,)]

    model = project / "models" / "core" / "dim_client.sql"
    model.write_text(model.read_text().rstrip().rstrip(";") + "\nLIMIT 5\n")
    with pytest.raises(ValidationFailed) as failure:
        pipeline.run(load_settings(project), extract=False)
    message = str(failure.value)
    assert "core.dim_client:rows_match_source: observed 5" in message
    assert "dim_client.yaml:" in message
    assert load_settings(project).open_warehouse().published() == first.snapshot


def test_every_run_builds_data_docs_and_a_docs_failure_only_warns(tmp_path: Path) -> None:
    project = _demo(tmp_path / "demo", 4, scale=0.02)
    first = pipeline.run(load_settings(project))
    assert first.status == pipeline.SUCCESS and first.warnings == []
    assert first.data_docs == project / "data_docs" / "index.html"
    index = first.data_docs.read_text()
    assert "crm.clients" in index and "core.dim_client" in index
    assert first.run_id in index

    # a file where the docs folder should be: the run still publishes, and says why no docs
    (project / "elsewhere").write_text("not a folder")
    config = project / "kpiboard.toml"
    config.write_text(config.read_text() + '\n[validation]\ndata_docs = "elsewhere"\n')
    second = pipeline.run(load_settings(project), extract=False)
    assert second.status == pipeline.SUCCESS and second.data_docs is None
    assert load_settings(project).open_warehouse().published() == second.snapshot
    assert len(second.warnings) == 1 and "data docs of run" in second.warnings[0]
