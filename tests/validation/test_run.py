"""The validation stage's plan and check steps on a small real DuckDB file."""

from __future__ import annotations

from pathlib import Path

import duckdb

from validation.run import check, plan
from validation.suite import parse_suite

SUITE = """\
table: core.fct_task
key: [task_id]
expectations:
  - unique: branch_id
    where: {status: done}
    name: one_done_task_per_branch
  - rows_match_source: crm.tasks
"""


def test_where_narrows_every_kind_and_an_unmappable_check_is_reported_not_raised(
    tmp_path: Path,
) -> None:
    database = tmp_path / "w.duckdb"
    con = duckdb.connect(str(database))
    con.execute("CREATE SCHEMA core")
    con.execute("CREATE TABLE core.fct_task (task_id VARCHAR, branch_id VARCHAR, status VARCHAR)")
    con.execute(
        "INSERT INTO core.fct_task VALUES ('1', 'a', 'done'), ('2', 'a', 'open'), "
        "('3', 'b', 'done'), ('4', 'b', 'done'), ('5', 'c', 'open')"
    )
    suite, problems = parse_suite(SUITE, "suites/core/fct_task.yaml")
    assert problems == [] and suite is not None
    planned = plan(con, [suite], layer="core", keys={})
    con.close()

    unique, reconciles = check(database, planned)
    assert unique.result.error is None
    assert (unique.result.checked, unique.result.unexpected) == (3, 2)  # only 'done' rows count
    assert reconciles.result.error is not None and "rows_match_source" in reconciles.result.error
    assert not reconciles.result.success
