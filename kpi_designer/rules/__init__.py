"""Advice on KPI definitions that load and compile but may not mean what their author wants.

The loader refuses what cannot be used (:mod:`kpi_designer.loader`); a rule here only warns:
``kpiboard kpi check`` prints its findings as located warnings and still exits 0. Each rule is a
module with one function, KPI → messages, listed in :data:`DEFAULT_RULES`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from kpi_designer import model as m
from kpi_designer.rules.clock import reads_the_clock
from kpiboard.errors import Problem

Rule = Callable[[m.Kpi], Iterable[str]]
"""A check of one KPI: what is worth a warning, each a message without its location."""

DEFAULT_RULES: tuple[Rule, ...] = (reads_the_clock,)


def warnings(kpis: Mapping[str, m.Kpi], rules: Sequence[Rule] = DEFAULT_RULES) -> list[Problem]:
    """Every rule's findings on every KPI, each located at the KPI
    (``kpis/receivables.yaml:130: kpi 'x': filter reads the clock …``), in file order."""
    out = [
        Problem(kpi.location.path, kpi.location.line, f"kpi {kpi.id!r}: {message}")
        for kpi in kpis.values()
        for rule in rules
        for message in rule(kpi)
    ]
    return sorted(out, key=lambda p: (p.path or "", p.line or 0))
