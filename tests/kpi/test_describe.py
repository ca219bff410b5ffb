"""``describe_kpi``: how a KPI is computed in one line, as ``kpiboard kpi show`` prints it."""

from __future__ import annotations

import pytest

from kpi_designer.engine import describe_kpi
from kpi_designer.loader import load_kpis
from kpiboard.demo import DEMO_KPIS


@pytest.mark.parametrize(
    ("kpi_id", "line"),
    [
        (
            "open_pipeline_value",
            "sum(amount) of deal, rows in force at the period's end (from opened_at until "
            "closed_at)",
        ),
        (
            "open_overdue_tasks",
            "count(*) of task where status <> 'cancelled', rows in force at the period's end "
            "(from created_at until done_at) when CAST(due_at AS DATE) < as_of",
        ),
        (
            "stock_value",
            "sum(qty * unit_cost) of stock_move, rows in force at the period's end (from moved_at "
            "on)",
        ),
        (
            "reactivated_clients",
            "distinct client that are reactivated, by events: invoice where kind = 'invoice' AND "
            "NOT status IN ('draft', 'cancelled') after 180 days without one",
        ),
    ],
)
def test_balances_and_entities_say_how_they_are_computed(kpi_id: str, line: str) -> None:
    assert describe_kpi(load_kpis(DEMO_KPIS)[kpi_id]) == line
