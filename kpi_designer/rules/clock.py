"""A KPI that reads the clock: ``current_date``, ``now()`` … in an expression or a filter.

Its values change with the day they are computed, within one snapshot of the data, so the
engine's cache (kept per snapshot) serves yesterday's answer; and for a past period it judges
rows by today, not by the period's end ("overdue" then means overdue today). A KPI should place
such rows on a date column instead (an invoice on its ``due_on``); see docs/kpis.md.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlglot import exp

from kpi_designer import model as m

CLOCK_NODES = (exp.CurrentDate, exp.CurrentTime, exp.CurrentTimestamp, exp.Localtimestamp)
CLOCK_FUNCTIONS = frozenset(
    {"now", "get_current_timestamp", "transaction_timestamp", "current_localtime"}
)
"""DuckDB's clock functions that sqlglot keeps as plain (anonymous) function calls."""


def reads_the_clock(kpi: m.Kpi) -> Iterator[str]:
    """A message for each expression of the KPI's own that reads the clock."""
    for what, tree in _expressions(kpi):
        for node in tree.walk():
            if isinstance(node, CLOCK_NODES) or (
                isinstance(node, exp.Anonymous) and str(node.name).lower() in CLOCK_FUNCTIONS
            ):
                yield (
                    f"{what} reads the clock ({node.sql('duckdb')}): its values change with "
                    "the day they are computed, and a past period is judged by today; place "
                    "the rows on a date column instead (docs/kpis.md)"
                )
                break


def _expressions(kpi: m.Kpi) -> Iterator[tuple[str, exp.Expr]]:
    """The KPI's own expressions, each with the key it is written under."""
    if isinstance(kpi, m.Simple | m.Balance):
        if kpi.measure.expr is not None:
            yield "expr", kpi.measure.expr
        for tree in kpi.measure.filters:
            yield "filter", tree
        for tree in kpi.when if isinstance(kpi, m.Balance) else ():
            yield "when", tree
    elif isinstance(kpi, m.Ratio):
        for side, one in (("numerator", kpi.numerator), ("denominator", kpi.denominator)):
            for tree in one.filters:
                yield f"{side} filter", tree
    elif isinstance(kpi, m.Derived):
        yield "expr", kpi.expr
        for one in kpi.named:
            for tree in one.filters:
                yield f"filter on {one.kpi!r}", tree
    elif isinstance(kpi, m.Conversion):
        for side, events in (("base", kpi.base), ("conversion", kpi.conversion)):
            for tree in events.filters:
                yield f"{side} filter", tree
    elif isinstance(kpi, m.Entities):
        for number, events in enumerate(kpi.events, start=1):
            for tree in events.filters:
                yield "events filter" if len(kpi.events) == 1 else f"events {number} filter", tree
