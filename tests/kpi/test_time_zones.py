"""A row is never lost for want of a time zone: a branch without one counts in UTC."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb

from kpi_designer.engine import Definitions, Engine
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
