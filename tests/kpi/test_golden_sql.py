"""The SQL a few demo KPIs compile to, per dialect, against files checked in under golden/.

A change to the compiler that changes any of these shows up as a diff to review. After a change
made on purpose, rewrite the files with ``KPIBOARD_UPDATE_GOLDEN=1 pytest tests/kpi`` and read
the diff before committing it.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from kpi_designer.compiler import DIALECTS, Query, compile_kpi
from kpi_designer.loader import load_kpis
from kpiboard.demo import DEMO_KPIS

GOLDEN = Path(__file__).parent / "golden"
CASES = {
    "revenue": ("month", ("branch",)),
    "avg_check": ("month", ("employee",)),
    "gross_margin_pct": ("quarter", ()),
    "revenue_ytd": ("month", ()),
    "lead_conversion_rate": ("month", ("channel",)),
    "lead_to_won_deal_90d": ("month", ("employee",)),
    "repeat_service_14d": ("week", ()),
    "revenue_vs_last_year": ("month", ("region",)),
    "revenue_growth_yoy": ("month", ()),
    "won_deals_vs_last_year": ("quarter", ("employee",)),
    "stock_value": ("month", ("warehouse",)),
    "open_overdue_tasks": ("week", ("employee",)),
    "new_clients": ("month", ("branch",)),
    "reactivated_clients": ("quarter", ()),
    "lead_response_hours": ("month", ("branch",)),
}


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("kpi_id", sorted(CASES))
def test_compiled_sql_matches_its_golden_file(kpi_id: str, dialect: str) -> None:
    kpis = load_kpis(DEMO_KPIS)
    grain, by = CASES[kpi_id]
    query = Query(
        dt.date(2026, 1, 1),
        dt.date(2026, 6, 30),
        grain,  # type: ignore[arg-type]
        by,
        scope={"branch": ("denver", "austin")},
    )
    compiled = compile_kpi(kpi_id, query, kpis)
    params = "".join(f"-- {k} = {v!r}\n" for k, v in compiled.params.items())
    text = params + compiled.sql(dialect, pretty=True) + ";\n"
    path = GOLDEN / f"{kpi_id}.{dialect}.sql"
    if os.environ.get("KPIBOARD_UPDATE_GOLDEN"):
        path.write_text(text)
    assert path.exists(), f"no golden file {path.name}; write it with KPIBOARD_UPDATE_GOLDEN=1"
    assert text == path.read_text()
