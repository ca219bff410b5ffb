"""The validation stage's plan and check steps on a small real DuckDB file."""

from __future__ import annotations

from pathlib import Path

import duckdb

from validation.run import check, plan
from validation.suite import Suite


def test_where_narrows_every_kind_and_an_unmappable_check_is_reported_not_raised(
    fct_task: Path, fct_task_suite: Suite
) -> None:
    con = duckdb.connect(str(fct_task))
    planned = plan(con, [fct_task_suite], layer="core", keys={})
    con.close()

    unique, reconciles = check(fct_task, planned)
    assert unique.result.error is None
    assert (unique.result.checked, unique.result.unexpected) == (3, 2)  # only 'done' rows count
    assert reconciles.result.error is not None
    assert "no row count of crm.tasks" in reconciles.result.error
    assert not reconciles.result.success
