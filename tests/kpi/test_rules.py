"""Rules that warn about KPIs which load and compile but may not mean what their author wants."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from kpi_designer.loader import load_kpis
from kpi_designer.rules import warnings
from kpiboard.demo import DEMO_KPIS

BASE = """\
kpis:
  - id: revenue
    label: Revenue
    description: d.
    unit: money
    type: simple
    fact: invoice
    agg: sum
    expr: net_amount
  - id: tasks
    label: Tasks
    description: d.
    unit: count
    type: simple
    fact: task
    agg: count
"""

CLOCK = "its values change with the day they are computed, and a past period is judged by today; place the rows on a date column instead (docs/kpis.md)"  # noqa: E501


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            """
            - id: overdue
              label: Overdue
              description: d.
              unit: money
              type: simple
              fact: invoice
              agg: sum
              expr: total_amount
              filter: [ "status = 'issued'", due_on < current_date ]
              time: due_on
            """,
            f"kpis/k.yaml:17: kpi 'overdue': filter reads the clock (CURRENT_DATE): {CLOCK}",
        ),
        (
            """
            - id: age
              label: Age
              description: d.
              unit: days
              type: simple
              fact: task
              agg: avg
              expr: date_diff('day', created_at, now())
            """,
            f"kpis/k.yaml:17: kpi 'age': expr reads the clock (NOW()): {CLOCK}",
        ),
        (
            """
            - id: late_share
              label: Late share
              description: d.
              unit: percent
              type: ratio
              numerator: {kpi: tasks, filter: "due_at < current_timestamp"}
              denominator: tasks
            """,
            f"kpis/k.yaml:17: kpi 'late_share': numerator filter reads the clock"
            f" (CURRENT_TIMESTAMP): {CLOCK}",
        ),
        (
            """
            - id: recent_revenue
              label: Recent revenue
              description: d.
              unit: money
              type: derived
              expr: r
              inputs:
                - {kpi: revenue, as: r, filter: "issued_on > today() - 30"}
            """,
            f"kpis/k.yaml:17: kpi 'recent_revenue': filter on 'revenue' reads the clock"
            f" (CURRENT_DATE): {CLOCK}",
        ),
        (
            """
            - id: recently_active_clients
              label: Recently active clients
              description: d.
              unit: count
              type: entities
              count: active
              entity: client
              events:
                - {fact: invoice}
                - {fact: task, filter: "created_at > now() - INTERVAL 30 DAY"}
            """,
            f"kpis/k.yaml:17: kpi 'recently_active_clients': events 2 filter reads the clock"
            f" (NOW()): {CLOCK}",
        ),
        (  # placed on a date column: what docs/kpis.md advises, no warning
            """
            - id: overdue
              label: Overdue
              description: d.
              unit: money
              type: simple
              fact: invoice
              agg: sum
              expr: total_amount
              filter: "status = 'issued'"
              time: due_on
            """,
            None,
        ),
        (
            """
            - id: overdue_now
              label: Overdue
              description: d.
              unit: money
              type: balance
              fact: invoice
              agg: sum
              expr: total_amount
              when: due_on < current_date
            """,
            f"kpis/k.yaml:17: kpi 'overdue_now': when reads the clock (CURRENT_DATE): {CLOCK}",
        ),
        (  # the period's last day: what a balance's when compares with, no warning
            """
            - id: overdue_then
              label: Overdue
              description: d.
              unit: money
              type: balance
              fact: invoice
              agg: sum
              expr: total_amount
              when: due_on < as_of
            """,
            None,
        ),
    ],
    ids=[
        "filter",
        "expr",
        "ratio_input_filter",
        "derived_input_filter",
        "entities_events_filter",
        "date_column",
        "balance_when",
        "balance_as_of",
    ],
)
def test_a_kpi_that_reads_the_clock_gets_a_located_warning(
    tmp_path: Path, body: str, expected: str | None
) -> None:
    folder = tmp_path / "kpis"
    folder.mkdir()
    text = BASE + textwrap.indent(textwrap.dedent(body).strip() + "\n", "  ")
    (folder / "k.yaml").write_text(text)
    got = [str(w) for w in warnings(load_kpis(folder))]
    assert got == ([expected] if expected else [])


def test_the_demo_kpis_do_not_read_the_clock() -> None:
    assert [str(w) for w in warnings(load_kpis(DEMO_KPIS))] == []
