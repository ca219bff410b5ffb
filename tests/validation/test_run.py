"""The validation stage's plan and check steps on a small real DuckDB file."""

from __future__ import annotations

from pathlib import Path

import duckdb

from kpiboard.core_model import create_core_schema
from kpiboard.demo import DEMO_SUITES
from validation.run import check, plan
from validation.suite import Suite, load_suites


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


def test_the_demo_refuses_a_branch_in_a_time_zone_the_warehouse_does_not_know(
    tmp_path: Path,
) -> None:
    """The KPI engine places rows on their branch's local day with the warehouse's zones: the
    demo's branch suite stops a zone it does not know (and only that one) before publishing."""
    database = tmp_path / "w.duckdb"
    con = duckdb.connect(str(database))
    create_core_schema(con)
    con.execute(
        "INSERT INTO core.dim_branch (branch_id, name, timezone, currency, _source, _loaded_at)"
        " VALUES ('denver', 'Denver', 'America/Denver', 'USD', 's', now()),"
        " ('remote', 'Remote', NULL, 'USD', 's', now()),"
        " ('moon', 'Moon', 'Moon/Base', 'USD', 's', now())"
    )
    suites = [s for s in load_suites(DEMO_SUITES) if s.table == "core.dim_branch"]
    planned = plan(con, suites, layer="core", keys={})
    con.close()

    outcomes = {o.planned.expectation.name: o for o in check(database, planned)}
    zone = outcomes["unknown_time_zone"]
    assert zone.result.error is None
    assert (zone.result.success, zone.result.unexpected) == (False, 1)
    assert [row["branch_id"] for row in zone.result.sample] == ["moon"]  # type: ignore[index]
    assert zone.planned.expectation.severity == "error"
