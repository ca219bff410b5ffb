"""``ratio``: numerator and denominator over the same period and slice; when both are simple
KPIs of one fact and time column, one scan (:mod:`kpi_designer.compiler.one_scan`), else two
grouped queries joined (:func:`kpi_designer.compiler.types.derived.combine`). Always a ratio of
the sums; a row where the numerator or the denominator has one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlglot import exp

from kpi_designer import model as m
from kpi_designer.compiler.one_scan import one_scan, scan_of
from kpi_designer.compiler.query import Query
from kpi_designer.compiler.types.derived import combine

if TYPE_CHECKING:
    from kpi_designer.compiler.builder import Builder


def ratio(builder: Builder, kpi: m.Ratio, query: Query) -> exp.Select:
    if scan_of(kpi, builder.kpis) is not None:
        return one_scan(builder, [kpi], query)
    inputs = [
        m.Input(kpi.numerator.kpi, "n", kpi.numerator.filters),
        m.Input(kpi.denominator.kpi, "d", kpi.denominator.filters),
    ]
    value = exp.Div(this=exp.column("n"), expression=exp.column("d"))
    return combine(builder, inputs, value, query)
