"""The rows behind a value: the fact rows one KPI value counts, for one period and slice.

:func:`compile_rows` turns a KPI and a :class:`~kpi_designer.compiler.query.Query` of one
period (its first to its last day, the slice as filters, the scope) into a ``SELECT`` listing
the rows that value aggregates, with columns a person recognises (:mod:`.parts`): the fact's
key, the row's local ``date``, its ``branch``, ``employee``, ``client``, ``product`` and
``warehouse`` by name where the fact reaches them, and ``value``, what the row contributes
(``counted`` for a distinct count). Rows are read as the value reads them
(:meth:`Builder.rows`): the same range on the branch's local day, the same scope and filters.
Aggregating them as the KPI does gives the value.

Each KPI type lists its rows in a module of its own here, registered in
:data:`registry.ROWS`: a ratio both sides' rows (``side``), a derived KPI or a period over
period each input's (``input``), a cumulative KPI the rows of the window ending on the
period's last day, a conversion its base events with ``converted``, an entities KPI the
events that make each entity count (``entity``), a balance the rows in force at the period's
last day (or, per entity, its combinations). A new type is a module here and a line in the
registry.
"""

from __future__ import annotations

from collections.abc import Mapping

from kpi_designer import model as m
from kpi_designer.compiler.behind.parts import TOTAL, Part, listing
from kpi_designer.compiler.behind.registry import ROWS, Behind
from kpi_designer.compiler.builder import Builder
from kpi_designer.compiler.query import Compiled, Query, check_query

__all__ = ["ROWS", "TOTAL", "Behind", "Part", "compile_rows"]


def compile_rows(
    kpi_id: str, query: Query, kpis: Mapping[str, m.Kpi], *, limit: int | None = None
) -> Compiled:
    """The statement listing the rows behind ``kpi_id``'s value for ``query``, a query of one
    whole period without ``by``: ordered by local day and key, at most ``limit`` of them (and
    then a column :data:`TOTAL`, how many there are in all)."""
    check_query(kpi_id, query, kpis)
    if query.by:
        raise ValueError("the rows behind a value are of one slice: give it as filters")
    builder = Builder(kpis, query)
    parts = Behind(builder).kpi(kpis[kpi_id], query)
    select = builder.with_zone_days(listing(parts, limit))
    return Compiled(select, dict(builder.params))
