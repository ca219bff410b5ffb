"""Rows and requests the fixture company cannot show: a branch without a time zone (it counts in
UTC, rows are never lost) and KPIs the warehouse cannot compute (one clear error)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from kpi_designer.engine import Definitions, Engine
from kpi_designer.errors import EvaluationError
from kpi_designer.loader import load_kpis
from kpiboard.core_model import create_core_schema

CALLS = """\
kpis:
  - id: calls
    label: Calls
    description: Activities of any kind.
    unit: count
    type: simple
    fact: activity
    agg: count
"""


def test_a_branch_without_a_time_zone_counts_in_utc(tmp_path: Path) -> None:
    database = tmp_path / "w.duckdb"
    with duckdb.connect(database) as con:
        create_core_schema(con)
        con.execute(
            "INSERT INTO core.dim_branch (branch_id, name, timezone, currency, _source, _loaded_at)"
            " VALUES ('denver', 'Denver', 'America/Denver', 'USD', 's', now()),"
            " ('remote', 'Remote', NULL, 'USD', 's', now())"
        )
        # 03:00 UTC on March 1: February 28 in Denver, March 1 in UTC; 'nowhere' has no branch row
        for activity, branch in (("a1", "denver"), ("a2", "remote"), ("a3", "nowhere")):
            con.execute(
                "INSERT INTO core.fct_activity (activity_id, branch_id, occurred_at, _source,"
                " _loaded_at) VALUES (?, ?, TIMESTAMP '2025-03-01 03:00:00', 's', now())",
                [activity, branch],
            )
    (tmp_path / "kpis").mkdir()
    (tmp_path / "kpis" / "k.yaml").write_text(CALLS)
    engine = Engine(
        Definitions(load_kpis(tmp_path / "kpis")),
        lambda: duckdb.connect(database, read_only=True),
        lambda: "w",
    )
    frame = engine.evaluate(
        "calls", start=dt.date(2025, 2, 1), end=dt.date(2025, 3, 31), grain="day", by=["branch"]
    )
    got = {(r.period, r.branch): r.value for r in frame.itertuples()}
    assert got == {
        (dt.date(2025, 2, 28), "denver"): 1.0,
        (dt.date(2025, 3, 1), "remote"): 1.0,
        (dt.date(2025, 3, 1), "nowhere"): 1.0,
    }


def test_a_kpi_the_warehouse_cannot_compute_is_one_clear_error(tmp_path: Path) -> None:
    """A function DuckDB does not have, a core table the models never built: the KPI is named,
    with the warehouse's reason, instead of a traceback."""
    database = tmp_path / "w.duckdb"
    with duckdb.connect(database) as con:
        create_core_schema(con)
        con.execute("DROP TABLE core.fct_delivery")
    (tmp_path / "kpis").mkdir()
    (tmp_path / "kpis" / "k.yaml").write_text(
        CALLS + "  - id: odd_calls\n    label: Odd\n    description: d.\n    unit: count\n"
        "    type: simple\n    fact: activity\n    agg: sum\n    expr: no_such_function(1)\n"
        "  - id: deliveries\n    label: Deliveries\n    description: d.\n    unit: count\n"
        "    type: simple\n    fact: delivery\n    agg: count\n"
    )
    engine = Engine(
        Definitions(load_kpis(tmp_path / "kpis")),
        lambda: duckdb.connect(database, read_only=True),
        lambda: "w",
    )
    span = {"start": dt.date(2025, 1, 1), "end": dt.date(2025, 1, 31)}
    with pytest.raises(EvaluationError) as odd:
        engine.evaluate(["calls", "odd_calls"], **span)
    assert str(odd.value).startswith(
        "kpi 'odd_calls': the warehouse cannot compute it: Catalog Error: Scalar "
        "Function with name no_such_function does not exist!"
    )
    with pytest.raises(EvaluationError) as missing:
        engine.evaluate("deliveries", **span)
    assert str(missing.value).startswith(
        "kpi 'deliveries': the warehouse cannot compute it: Catalog Error: Table with name "
        "fct_delivery does not exist!"
    )
