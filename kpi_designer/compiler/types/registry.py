"""Which compiler builds each KPI type's rows (see :mod:`kpi_designer.compiler.types`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from kpi_designer import model as m
from kpi_designer.compiler.query import Query
from kpi_designer.compiler.types.balance import balance
from kpi_designer.compiler.types.conversion import conversion
from kpi_designer.compiler.types.cumulative import cumulative
from kpi_designer.compiler.types.derived import derived
from kpi_designer.compiler.types.entities import entities
from kpi_designer.compiler.types.period_over_period import period_over_period
from kpi_designer.compiler.types.ratio import ratio
from kpi_designer.compiler.types.simple import simple

if TYPE_CHECKING:
    from kpi_designer.compiler.builder import Builder

TypeCompiler = Callable[["Builder", Any, Query], exp.Select]
"""Builds a KPI's rows for a query (the KPI is of the type it is registered for)."""

COMPILERS: dict[type[m.Kpi], TypeCompiler] = {
    m.Simple: simple,
    m.Ratio: ratio,
    m.Derived: derived,
    m.Cumulative: cumulative,
    m.Conversion: conversion,
    m.PeriodOverPeriod: period_over_period,
    m.Balance: balance,
    m.Entities: entities,
}


def compiler_for(kpi: m.Kpi) -> TypeCompiler:
    """The compiler of ``kpi``'s type."""
    try:
        return COMPILERS[type(kpi)]
    except KeyError:
        raise TypeError(f"no compiler for {type(kpi).__name__}") from None
