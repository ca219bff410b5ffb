"""Small real DuckDB files the validation stage's tests share."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from validation.suite import Suite, parse_suite

FCT_TASK_SUITE = """\
table: core.fct_task
key: [task_id]
expectations:
  - unique: branch_id
    where: {status: done}
    name: one_done_task_per_branch
  - rows_match_source: crm.tasks
"""


@pytest.fixture(scope="module")
def fct_task(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A closed DuckDB file holding ``core.fct_task``: five tasks, of which branch ``b`` has two
    done (so ``one_done_task_per_branch`` fails on 2 of the 3 done rows)."""
    database = tmp_path_factory.mktemp("fct_task") / "w.duckdb"
    con = duckdb.connect(str(database))
    con.execute("CREATE SCHEMA core")
    con.execute("CREATE TABLE core.fct_task (task_id VARCHAR, branch_id VARCHAR, status VARCHAR)")
    con.execute(
        "INSERT INTO core.fct_task VALUES ('1', 'a', 'done'), ('2', 'a', 'open'), "
        "('3', 'b', 'done'), ('4', 'b', 'done'), ('5', 'c', 'open')"
    )
    con.close()
    return database


@pytest.fixture(scope="module")
def fct_task_suite() -> Suite:
    """The suite of ``core.fct_task``: a ``unique`` narrowed by ``where`` and a
    ``rows_match_source``."""
    suite, problems = parse_suite(FCT_TASK_SUITE, "suites/core/fct_task.yaml")
    assert problems == [] and suite is not None
    return suite
