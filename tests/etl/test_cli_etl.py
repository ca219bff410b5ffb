"""The pipeline's commands: exit codes, summaries, run history, read-only SQL; and retries."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from etl import sources
from etl.errors import SourceError

CliRunner = Callable[..., subprocess.CompletedProcess[str]]  # the `kpiboard` fixture


@pytest.fixture
def project(tmp_path: Path) -> Path:
    source = tmp_path / "shop.sqlite"
    engine = sa.create_engine(f"sqlite:///{source}")
    with engine.begin() as con:
        con.execute(sa.text("CREATE TABLE items (id INTEGER PRIMARY KEY, qty NUMERIC(10,3))"))
        con.execute(sa.text("INSERT INTO items VALUES (1, 2.5), (2, NULL), (3, 7)"))
    engine.dispose()
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "kpiboard.toml").write_text(
        f'[[sources]]\nname = "shop"\nurl = "sqlite:///{source}"\n'
    )
    return folder


def test_run_status_and_sql(kpiboard: CliRunner, project: Path) -> None:
    run = kpiboard(project, "etl", "run")
    assert run.returncode == 0, run.stderr
    assert "Pipeline run" in run.stdout and ": success" in run.stdout
    assert "│ shop   │      1 │           0 │         3 │" in run.stdout

    status = kpiboard(project, "etl", "status", "--format", "json")
    runs = json.loads(status.stdout)
    assert [(r["status"], r["tables"], r["rows_read"]) for r in runs] == [("success", 1, 3)]

    query = kpiboard(project, "sql", "SELECT id, qty FROM raw_shop.items ORDER BY id", "-f", "csv")
    assert query.returncode == 0, query.stderr
    assert list(csv.reader(io.StringIO(query.stdout))) == [
        ["id", "qty"],
        ["1", "2.500"],
        ["2", ""],
        ["3", "7.000"],
    ]


def test_sql_cannot_write_and_reports_errors_in_one_line(
    kpiboard: CliRunner, project: Path
) -> None:
    assert kpiboard(project, "etl", "run").returncode == 0
    write = kpiboard(project, "sql", "DELETE FROM raw_shop.items")
    assert write.returncode == 2
    assert write.stderr == "error: kpiboard sql: DELETE is not allowed: queries are read-only\n"
    typo = kpiboard(project, "sql", "SELECT * FROM raw_shop.itemz")
    assert typo.returncode == 2
    assert typo.stderr == (
        "error: kpiboard sql: no table raw_shop.itemz — did you mean raw_shop.items?\n"
    )


def test_sql_before_any_run_says_what_to_do(kpiboard: CliRunner, project: Path) -> None:
    result = kpiboard(project, "sql", "SELECT 1")
    assert result.returncode == 2
    assert "nothing published yet; run `kpiboard etl run` first" in result.stderr


def test_partial_run_exits_4_and_names_the_failed_source(
    kpiboard: CliRunner, project: Path
) -> None:
    with (project / "kpiboard.toml").open("a") as fh:
        fh.write('\n[[sources]]\nname = "down"\nurl = "postgresql://postgres@127.0.0.1:1/x"\n')
    result = kpiboard(project, "etl", "run")
    assert result.returncode == 4
    assert ": partial" in result.stdout
    assert "error: source down: " in result.stderr


def test_unknown_source_or_table_is_bad_input(kpiboard: CliRunner, project: Path) -> None:
    result = kpiboard(project, "etl", "run", "--source", "shpo")
    assert result.returncode == 2
    assert result.stderr == "error: unknown source 'shpo' (sources: shop)\n"
    result = kpiboard(project, "etl", "run", "--table", "itemz")
    assert result.returncode == 2
    assert result.stderr == "error: no source has a table 'itemz' — did you mean 'items'?\n"
    assert not (project / "warehouse" / "CURRENT").exists()  # nothing was published


def test_transient_errors_are_retried_with_backoff_and_terminal_ones_are_not(
    kpiboard: CliRunner,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    waits: list[float] = []
    monkeypatch.setattr(sources.time, "sleep", waits.append)

    def refused() -> None:
        raise SourceError("s", "connection refused", transient=True)

    with pytest.raises(SourceError):
        sources.with_retries("s", refused)
    assert waits == [0.5, 1.0, 2.0]

    waits.clear()
    calls = []

    def denied() -> None:
        calls.append(1)
        raise sources.classify("s", RuntimeError("password authentication failed for user x"))

    with pytest.raises(SourceError, match="password authentication failed"):
        sources.with_retries("s", denied)
    assert waits == [] and calls == [1]

    attempts = iter([RuntimeError("server closed the connection unexpectedly"), None])

    def flaky() -> str:
        error = next(attempts)
        if error:
            raise error
        return "ok"

    assert sources.with_retries("s", flaky) == "ok"
    assert waits == [0.5]
