"""``simple``: the fact's rows the aggregation reads, each with what it contributes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kpi_designer import model as m
from kpi_designer.compiler.behind.parts import Part, fact_rows
from kpi_designer.compiler.query import Query

if TYPE_CHECKING:
    from kpi_designer.compiler.behind.registry import Behind


def simple(behind: Behind, kpi: m.Simple, query: Query) -> list[Part]:
    return [fact_rows(behind.builder, kpi.measure, query)]
