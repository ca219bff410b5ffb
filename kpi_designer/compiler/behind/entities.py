"""``entities``: the events that make each counted entity count, each with its ``entity``
(``counted``: the value counted once; their distinct number is the value).

- ``new``: each new entity's first event, the row that made it new;
- ``returning``: the entity's events in the period, with ``first_day``, the day of its first
  event ever (before the period);
- ``reactivated``: the entity's events in the period that came after the gap, with
  ``previous_day``, the day of its previous event, and ``gap_days`` between the two;
- ``active``: the entity's events in the period.

The rows are those the value counts (:func:`~kpi_designer.compiler.types.entities.counting`,
where :func:`~kpi_designer.compiler.types.entities.counts` holds), found again in each events
fact by their key for the columns a person recognises.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlglot import exp

from kpi_designer import model as m
from kpi_designer.compiler.behind.parts import Part, recognised
from kpi_designer.compiler.columns import Columns
from kpi_designer.compiler.query import Query
from kpi_designer.compiler.trees import add_join, cast_to, col, ident
from kpi_designer.compiler.types.entities import counting, counts, entity_names
from kpi_designer.semantic import FACTS

if TYPE_CHECKING:
    from kpi_designer.compiler.behind.registry import Behind

SEPARATOR = " | "
"""Between the values of an entity of several dimensions (a client and a product category)."""


def entities(behind: Behind, kpi: m.Entities, query: Query) -> list[Part]:
    builder = behind.builder
    names = entity_names(kpi)
    parts = []
    for position, events in enumerate(kpi.events):
        # each fact's part reads the rows that count afresh: a union's parts share no table
        met = counting(builder, kpi, query, keyed=True)
        rows = met.defined(
            exp.select("*")
            .from_(met.rows.subquery(ident("c"), copy=False), copy=False)
            .where(*counts(builder, query, counted=met.counted), copy=False)
        )
        fact = FACTS[events.fact]
        cols = Columns(fact, events.time or fact.time, zones=builder.zones)
        same_row = exp.and_(
            exp.EQ(this=col("row_key", "counting"), expression=cols.key()),
            exp.EQ(this=col("source", "counting"), expression=exp.Literal.number(position)),
            copy=False,
        )
        select = exp.select().from_(cols.from_table(), copy=False)
        select = add_join(select, rows.subquery(ident("counting"), copy=False), on=same_row)
        entity = readable([col(n, "counting") for n in names])
        columns = {**recognised(cols), "entity": entity, "counted": entity.copy()}
        columns.update(why(kpi))
        parts.append(Part(select, cols, columns))
    return parts


def readable(values: list[exp.Expr]) -> exp.Expr:
    """An entity as text: its one value, or its values one after the other (:data:`SEPARATOR`)."""
    texts = [cast_to(v, "VARCHAR") for v in values]
    combined = texts[0]
    for text in texts[1:]:
        combined = exp.DPipe(
            this=exp.DPipe(this=combined, expression=exp.Literal.string(SEPARATOR)),
            expression=text,
        )
    return combined


def why(kpi: m.Entities) -> dict[str, exp.Expr]:
    """What makes the entity of a row count, besides the row: a returning entity's first day,
    a reactivated one's previous day and the days since."""
    if kpi.count == "returning":
        return {"first_day": col("first_day", "counting")}
    if kpi.count == "reactivated":
        previous = col("previous_day", "counting")
        days = exp.Sub(this=col("day", "counting"), expression=previous.copy())
        return {"previous_day": previous, "gap_days": days}
    return {}
