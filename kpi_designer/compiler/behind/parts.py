"""The rows of a fact one value counts, with columns a person recognises, and the statement
that lists the rows of several parts (a ratio's two sides, a derived KPI's inputs) as one.

A :class:`Part` is one reading of a fact: the rows a simple KPI aggregates for a query, read
through :meth:`~kpi_designer.compiler.builder.Builder.rows`, so that the range, the local day,
the scope and the request's filters are exactly those of the value. Its columns are the fact's
key, the row's local ``date``, the names of its branch, employee, client and product, and
what the row contributes (:func:`contribution`); a KPI type may add its own (``converted``)
and tag its parts (``side``, ``input``). :func:`listing` puts parts together: one ``UNION
ALL``, every part with every column (typed ``NULL`` where a part has none), in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from sqlglot import exp

from kpi_designer import model as m
from kpi_designer.compiler.builder import Builder
from kpi_designer.compiler.columns import Columns
from kpi_designer.compiler.query import Query
from kpi_designer.compiler.trees import cast_to, col, core_table, ident

TAGS = ("input", "side")
"""Columns naming where a row comes from within the KPI: a derived KPI's or period over
period's input (``current``, ``previous``, or the input's alias), a ratio's side."""
BEFORE_KEYS = TAGS
AFTER_KEYS = (
    "date",
    "branch",
    "employee",
    "client",
    "product",
    "warehouse",
    "entity",
    "first_day",
    "previous_day",
    "gap_days",
    "balance",
    "counted",
    "value",
    "since",
    "until",
    "converted",
)
TYPES = {
    "date": "DATE",
    "first_day": "DATE",
    "previous_day": "DATE",
    "gap_days": "INT",
    "balance": "DOUBLE",
    "value": "DOUBLE",
    "since": "DATE",
    "until": "DATE",
    "converted": "BOOLEAN",
}
"""The type of each column that is not text (keys, names, tags and counted values are)."""
TOTAL = "rows_total"
"""With a limit, the column holding how many rows there are in all."""


@dataclass(frozen=True)
class Part:
    """Rows of one fact: ``select`` (its ``FROM`` and ``WHERE``; the joins are added by
    ``cols`` once every column is known), the output ``columns`` and the ``tags`` naming
    where the rows come from. Rows that are not the fact's own (a per-entity balance's
    combinations) are not ``keyed`` by the fact's key, may have columns of their own, of the
    ``types`` given (text by default), and are ordered by the columns ``order`` names."""

    select: exp.Select
    cols: Columns
    columns: dict[str, exp.Expr]
    tags: dict[str, str] = field(default_factory=dict)
    keyed: bool = True
    types: dict[str, str] = field(default_factory=dict)
    order: tuple[str, ...] = ()

    def tagged(self, name: str, value: str) -> Part:
        """The part tagged ``name = value``; a tag it has already (an input of an input)
        goes after it: ``revenue_last_year.revenue``."""
        inner = self.tags.get(name)
        return replace(self, tags={**self.tags, name: f"{value}.{inner}" if inner else value})


def tagged(parts: Sequence[Part], name: str, value: str) -> list[Part]:
    return [p.tagged(name, value) for p in parts]


def fact_rows(
    builder: Builder, measure: m.Measure, query: Query, *, from_the_start: bool = False
) -> Part:
    """The rows ``measure`` aggregates for ``query``: the range (or, ``from_the_start``,
    every row up to the range's end), the scope and the request's filters, as the value
    reads them (:meth:`Builder.rows`), then the measure's own filters."""
    select, cols = builder.rows(measure.fact, measure.time, query, bounded=not from_the_start)
    conditions = [cols.rewrite(f) for f in measure.filters]
    if from_the_start:
        last = builder.param("end", query.end)
        conditions.append(exp.LTE(this=cols.local_day(), expression=last))
    if conditions:
        select = select.where(*conditions, copy=False)
    return Part(select, cols, {**recognised(cols), **contribution(cols, measure)})


def recognised(cols: Columns) -> dict[str, exp.Expr]:
    """The columns that tell a person which row it is: the fact's key, the local day, and the
    names of the row's branch, employee (the fact's own: an invoice's sales manager), client
    and product where the fact reaches them. A row of a duplicate client shows the client it
    counts as (its master), as slices and filters take it."""
    fact = cols.fact
    reached = fact.reaches()
    columns: dict[str, exp.Expr] = {
        fact.key: cols.key(),
        "date": cols.local_day(),
        "branch": col("name", cols.need("branch")),
        "employee": col("full_name", cols.need("employee")),
    }
    if "client" in reached:
        named = cols.alias("named_client")
        columns["client"] = exp.Subquery(
            this=exp.select(col("name", named))
            .from_(core_table("dim_client", named), copy=False)
            .where(exp.EQ(this=col("client_id", named), expression=cols.reference("client")))
        )
    if "product" in reached:
        columns["product"] = col("name", cols.need("product"))
    if "warehouse" in reached:
        columns["warehouse"] = col("name", cols.need("warehouse"))
    return columns


def contribution(cols: Columns, measure: m.Measure) -> dict[str, exp.Expr]:
    """What a row contributes to the measure's aggregate: ``value``, the expression's value
    (1 for a count of rows; 1 or 0 for a count of an expression, by whether it has one), or
    for a distinct count ``counted``, the value counted."""
    if measure.expr is None:
        return {"value": exp.Literal.number(1)}
    value = cols.rewrite(measure.expr)
    if measure.agg == "count_distinct":
        return {"counted": value}
    if measure.agg == "count":
        present = exp.not_(exp.Is(this=value, expression=exp.null()), copy=False)
        one = exp.If(this=present, true=exp.Literal.number(1))
        return {"value": exp.Case(ifs=[one], default=exp.Literal.number(0))}
    return {"value": value}


def listing(parts: Sequence[Part], limit: int | None = None) -> exp.Select:
    """The rows of every part as one statement, ordered by local day, then key (then where
    they come from), at most ``limit`` of them; with a limit, :data:`TOTAL` says how many
    there are in all. Every part has every column: ``NULL`` of the column's type where it
    has none (an invoice's rows have no ``activity_id``)."""
    keys = list(dict.fromkeys(p.cols.fact.key for p in parts if p.keyed))
    present = {name for p in parts for name in (*p.columns, *p.tags)}
    # the columns rows that are not the fact's own are ordered by (a per-entity balance's per
    # names) after the keys; columns of a part's own (those its having names) after a balance
    leading = list(dict.fromkeys(n for p in parts for n in p.order))
    known = {*BEFORE_KEYS, *keys, *leading, *AFTER_KEYS}
    own = list(dict.fromkeys(n for p in parts for n in p.columns if n not in known))
    at = AFTER_KEYS.index("balance") + 1
    after = (*AFTER_KEYS[:at], *own, *AFTER_KEYS[at:])
    placed = dict.fromkeys((*BEFORE_KEYS, *keys, *leading, *after))
    names = [n for n in placed if n in present or n in keys]
    types = {**{n: t for p in parts for n, t in p.types.items()}, **TYPES}
    selects = []
    for part in parts:
        outputs = []
        for name in names:
            value: exp.Expr
            if name in part.tags:
                value = exp.Literal.string(part.tags[name])
            elif name in part.columns:
                value = part.columns[name]
            else:
                value = exp.null()
            outputs.append(exp.alias_(cast_to(value, types.get(name, "VARCHAR")), ident(name)))
        selects.append(part.cols.finish(part.select.select(*outputs, copy=False)))
    union: exp.Query = selects[0]
    for select in selects[1:]:
        union = exp.union(union, select, distinct=False)
    columns: list[exp.Expr] = [exp.Star()]
    if limit is not None:
        total = exp.Window(this=exp.Count(this=exp.Star()))
        columns.append(exp.alias_(total, ident(TOTAL), copy=False))
    ordered = ("date", *keys, *leading, *BEFORE_KEYS)
    order = [n for n in dict.fromkeys(ordered) if n in names]
    listed = (
        exp.select(*columns)
        .from_(union.subquery(ident("r"), copy=False), copy=False)
        .order_by(*(exp.Ordered(this=col(n), nulls_first=False) for n in order), copy=False)
    )
    if limit is not None:
        listed = listed.limit(exp.Literal.number(limit), copy=False)
    return listed
