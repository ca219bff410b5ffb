"""Validation inside the pipeline: the dirt manifest exam, quarantine left out of core,
reconciliation, and what ``error`` and ``warn`` failures do to publishing."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from etl import pipeline
from kpiboard.config import load_settings
from kpiboard.demo import build_sources, demo_sources, install_demo_models, install_demo_suites
from kpiboard.demo.dirt import read_manifest
from kpiboard.demo.duplicates_exam import duplicates_exam
from kpiboard.project import init_project
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


def _quarantined(project: Path) -> set[tuple[str, str, int]]:
    tables = _query(
        project,
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'quarantine'",
    )
    found = set()
    for (table,) in tables:
        rows = _query(project, f'SELECT DISTINCT source, row_key FROM quarantine."{table}"')
        found |= {(str(source), str(table), int(str(key))) for source, key in rows}
    return found


@pytest.mark.parametrize("seed", [3, 11])
def test_the_dirt_manifest_exam(tmp_path: Path, seed: int) -> None:
    """Every injected defect is quarantined (recall 100%), no clean row is (precision 100%);
    duplicate clients are not held but linked to their original, and nothing else is linked."""
    project = _demo(tmp_path / "demo", seed)
    result = pipeline.run(load_settings(project))
    assert result.status == pipeline.SUCCESS, result.errors
    with (project / "sources" / "dirt_manifest.csv").open() as fh:
        manifest = {
            (r["database"], r["table"], int(r["primary_key"]))
            for r in csv.DictReader(fh)
            if r["kind"] != "duplicate_client"
        }
    quarantined = _quarantined(project)
    assert manifest, "the demo injected no dirt"
    assert sorted(manifest - quarantined) == []  # recall
    assert sorted(quarantined - manifest) == []  # precision
    con = load_settings(project).open_warehouse().connect()
    try:
        exam = duplicates_exam(con, read_manifest(project / "sources" / "dirt_manifest.csv"))
    finally:
        con.close()
    assert exam.expected, "the demo injected no duplicate clients"
    assert (exam.missed, exam.wrong) == ([], [])


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
    finally:
        con.close()
    assert len(exam.expected) >= 50
    assert (exam.missed, exam.wrong) == ([], [])
    assert dangling == (0,)  # a master exists and is no one's duplicate itself


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
        held = (
            _query(
                project,
                "SELECT count(DISTINCT row_key) FROM quarantine."
                f"\"{table}\" WHERE source = '{source}'",
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
