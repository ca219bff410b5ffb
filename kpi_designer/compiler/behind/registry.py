"""Which function lists each KPI type's rows behind a value (see :mod:`.behind`), and
:class:`Behind`, through which a type's function lists the rows of the KPIs it is computed
from."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlglot import exp

from kpi_designer import model as m
from kpi_designer.compiler.behind.balance import balance
from kpi_designer.compiler.behind.conversion import conversion
from kpi_designer.compiler.behind.cumulative import cumulative
from kpi_designer.compiler.behind.derived import derived
from kpi_designer.compiler.behind.entities import entities
from kpi_designer.compiler.behind.parts import Part
from kpi_designer.compiler.behind.period_over_period import period_over_period
from kpi_designer.compiler.behind.ratio import ratio
from kpi_designer.compiler.behind.simple import simple
from kpi_designer.compiler.builder import Builder
from kpi_designer.compiler.query import Query
from kpi_designer.loader import narrowed

TypeRows = Callable[["Behind", Any, Query], list[Part]]
"""Lists a KPI's rows for a query of one period (the KPI is of the type it is registered
for)."""

ROWS: dict[type[m.Kpi], TypeRows] = {
    m.Simple: simple,
    m.Ratio: ratio,
    m.Derived: derived,
    m.Cumulative: cumulative,
    m.Conversion: conversion,
    m.PeriodOverPeriod: period_over_period,
    m.Entities: entities,
    m.Balance: balance,
}


class Behind:
    """Lists the rows behind one value: the builder of the statement (its parameters, its
    local days) and the KPIs by id."""

    def __init__(self, builder: Builder) -> None:
        self.builder = builder

    @property
    def kpis(self) -> Mapping[str, m.Kpi]:
        return self.builder.kpis

    def kpi(self, kpi: m.Kpi, query: Query, extra: Sequence[exp.Expr] = ()) -> list[Part]:
        """The rows behind ``kpi``'s value for ``query`` (one period), by its type's function;
        ``extra`` filters a simple KPI or a balance further (a ratio's or derived KPI's filtered
        input), as :meth:`Builder.kpi` does."""
        kpi = narrowed(kpi, extra)
        try:
            rows = ROWS[type(kpi)]
        except KeyError:
            raise TypeError(f"no rows behind a {kpi.TYPE} KPI's value yet") from None
        return rows(self, kpi, query)
