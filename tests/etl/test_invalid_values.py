"""The demo company with values SQLite accepts in typed columns but that are not of the type (an
invoice's ``issued_on = 'n/a'``, a payment's ``amount = '1,200.00'``): each such row is loaded,
its value NULL and the reason in ``_invalid``; the run publishes and every other table loads."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess

import sqlalchemy as sa

from etl import pipeline
from kpiboard.config import load_settings
from kpiboard.demo import (
    build_sources,
    company,
    demo_sources,
    install_demo_models,
    install_demo_suites,
)
from kpiboard.project import init_project

SEED, SCALE = 8, 0.02
BRANCH = company.BRANCHES[0].database
LATER = "2026-11-20 12:00:00"

CliRunner = Callable[..., CompletedProcess[str]]  # the `kpiboard` fixture

# Validation quarantines every row whose ``_invalid`` is set (``crm.invoices:type_conversion``;
# tests/validation/test_publish.py); these suites also hold the NULLs, which the core model does
# not allow, as they would any other.
NOT_NULL = {"invoices": "issued_on", "payments": "amount"}


def _demo_project(folder: Path, template: str) -> Path:
    init_project(folder, name="demo", sources=demo_sources(template))
    install_demo_models(folder / "models")
    install_demo_suites(folder / "suites")
    for table, column in NOT_NULL.items():
        with (folder / "suites" / "raw" / "crm" / f"{table}.yaml").open("a") as fh:
            fh.write(f"  - not_null: {column}\n")
    return folder


def _published(project: Path, sql: str) -> list[tuple[object, ...]]:
    con = load_settings(project).open_warehouse().connect()
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _source(tmp_path: Path, database: str) -> Path:
    return tmp_path / "sources" / f"{database}.sqlite"


def _source_counts(tmp_path: Path) -> dict[tuple[str, str], int]:
    counts = {}
    for database in company.database_names():
        con = sqlite3.connect(_source(tmp_path, database))
        names = [
            r[0]
            for r in con.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        for name in names:
            counts[(database, name)] = con.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
        con.close()
    return counts


def _spoil(tmp_path: Path, statement: str) -> int:
    """Run ``statement`` (an UPDATE … WHERE id = ?) on the branch's CRM for its lowest id of the
    table; return that id."""
    con = sqlite3.connect(_source(tmp_path, BRANCH))
    table = statement.split()[1]
    (row_id,) = con.execute(f"SELECT min(id) FROM {table}").fetchone()
    con.execute(statement, [row_id])
    con.commit()
    con.close()
    return int(row_id)


def test_a_bad_value_quarantines_its_row_not_the_run(tmp_path: Path, kpiboard: CliRunner) -> None:
    template = f"sqlite:///{tmp_path}/sources/{{db}}.sqlite"
    build_sources(template, seed=SEED, scale=SCALE, manifest=tmp_path / "m.csv")
    invoice = _spoil(tmp_path, "UPDATE invoices SET issued_on = 'n/a' WHERE id = ?")
    project = _demo_project(tmp_path / "p", template)

    first = pipeline.run(load_settings(project))  # a full load
    assert first.status == pipeline.SUCCESS, first.errors
    assert first.snapshot == load_settings(project).open_warehouse().published()
    assert _published(
        project,
        f"SELECT issued_on, _invalid FROM raw_{BRANCH}.invoices WHERE _invalid IS NOT NULL",
    ) == [(None, "issued_on: 'n/a' is not a date")]
    assert _published(project, f"SELECT id FROM raw_{BRANCH}.invoices WHERE issued_on IS NULL") == [
        (invoice,)
    ]
    invalid = {(t.source, t.table): t.rows_invalid for t in first.tables if t.rows_invalid}
    assert invalid == {(BRANCH, "invoices"): 1}
    loaded = {(t.source, t.table): t.rows_loaded for t in first.tables}
    assert loaded == _source_counts(tmp_path)  # every row of every table, the spoiled one too
    assert all(t.error is None for t in first.tables)
    assert _published(
        project, f"SELECT count(*) FROM core.fct_invoice WHERE invoice_id = '{BRANCH}:{invoice}'"
    ) == [(0,)]  # quarantined, out of core

    payment = _spoil(
        tmp_path, f"UPDATE payments SET amount = '1,200.00', updated_at = '{LATER}' WHERE id = ?"
    )
    second = kpiboard(tmp_path, "etl", "run", "-p", str(project), "--per-table")  # incremental
    assert second.returncode == 0, second.stderr
    assert f"not converted: {BRANCH}.payments: 1 row with a value" in second.stderr
    assert _published(
        project,
        f"SELECT id, amount, _invalid FROM raw_{BRANCH}.payments WHERE _invalid IS NOT NULL",
    ) == [(payment, None, "amount: '1,200.00' is not a number")]
    assert _published(
        project, f"SELECT count(*) FROM raw_{BRANCH}.invoices WHERE _invalid IS NOT NULL"
    ) == [(1,)]
    raw_counts = {
        key: _published(project, f'SELECT count(*) FROM raw_{key[0]}."{key[1]}"')[0][0]
        for key in _source_counts(tmp_path)
    }
    assert raw_counts == _source_counts(tmp_path)

    status = kpiboard(tmp_path, "etl", "status", "-p", str(project), "--format", "json")
    assert status.returncode == 0, status.stderr
    engine = sa.create_engine(f"sqlite:///{project}/app.sqlite")
    with engine.connect() as con:
        runs = con.execute(
            sa.text(
                "SELECT r.status, sum(t.rows_invalid) FROM etl_runs r "
                "JOIN etl_table_runs t USING (run_id) GROUP BY r.run_id ORDER BY r.started_at"
            )
        ).fetchall()
    engine.dispose()
    assert runs == [("success", 1), ("success", 1)]
    assert '"rows_invalid": 1' in status.stdout
    with_column = _published(
        project,
        "SELECT count(*) FROM information_schema.columns "
        "WHERE column_name = '_invalid' AND table_schema LIKE 'raw_%'",
    )
    assert with_column == [(len(raw_counts),)]
