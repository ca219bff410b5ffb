"""A core table whose model file is removed is emptied on the next run, and the run says so
once: a table without a model stays empty (docs/connecting-a-source.md, step 4)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import sqlalchemy as sa

from etl import pipeline
from kpiboard.config import load_settings

MODELS = {
    "dim_branch": "SELECT 'la' AS branch_id, 'LA' AS name, 'USD' AS currency, "
    "'config' AS _source, TIMESTAMP '2024-01-01' AS _loaded_at",
    "dim_client": "SELECT _source || ':' || id AS client_id, _branch AS branch_id, name, "
    "_source, _loaded_at FROM stg_crm.clients",
}


def _project(folder: Path) -> Path:
    source = folder / "crm.sqlite"
    engine = sa.create_engine(f"sqlite:///{source}")
    with engine.begin() as db:
        db.execute(sa.text("CREATE TABLE clients (id INTEGER PRIMARY KEY, name TEXT)"))
        db.execute(sa.text("INSERT INTO clients VALUES (1, 'Acme'), (2, 'Globex')"))
    engine.dispose()
    (folder / "kpiboard.toml").write_text(
        textwrap.dedent(
            f"""
            [[sources]]
            name = "crm"
            url = "sqlite:///{source}"
            branch = "la"
            """
        ),
        encoding="utf-8",
    )
    core = folder / "models" / "core"
    core.mkdir(parents=True)
    for name, sql in MODELS.items():
        (core / f"{name}.sql").write_text(sql + "\n", encoding="utf-8")
    return folder


def _count(project: Path, table: str) -> int:
    con = load_settings(project).open_warehouse().connect()
    try:
        row = con.execute(f"SELECT count(*) FROM core.{table}").fetchone()
    finally:
        con.close()
    assert row is not None
    return int(row[0])


def test_a_removed_models_table_is_emptied_and_the_run_says_so_once(tmp_path: Path) -> None:
    project = _project(tmp_path)
    settings = load_settings(project)
    first = pipeline.run(settings)
    assert first.status == pipeline.SUCCESS and first.warnings == []
    assert _count(project, "dim_client") == 2

    (project / "models" / "core" / "dim_client.sql").unlink()
    second = pipeline.run(settings)
    assert second.status == pipeline.SUCCESS
    assert second.warnings == ["core.dim_client has no model: emptied"]
    assert _count(project, "dim_client") == 0
    assert _count(project, "dim_branch") == 1  # a table with a model keeps its rows

    third = pipeline.run(settings)
    assert third.warnings == []
    assert _count(project, "dim_client") == 0
