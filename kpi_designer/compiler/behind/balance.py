"""``balance``: the fact's rows in force at the end of the period's last day, the day its value
is the state on (:mod:`kpi_designer.compiler.types.balance`).

The rows are read as the value reads them (:func:`~kpi_designer.compiler.types.balance.read`):
the same scope, filters and ``when`` (``as_of`` the period's last day), from the beginning of
time; a row dated after the period never counts. Each has the columns a person recognises, its
``date`` (the local day of ``from``, when it started to count), ``value`` (1 for a count,
``counted`` for a distinct count), and why it is in force: ``since`` (the local day of
``from``) and ``until`` (of ``until``: empty while it is still in force, or for a balance
without ``until``).

A balance ``per`` entity lists its combinations instead: each ``per`` member in force (as
``--where`` names it), its ``balance``, the columns ``having`` names (``product.min_stock_qty``)
and ``value``, 1 where the combination meets ``having`` and 0 where not: their sum is the value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlglot import exp

from kpi_designer import model as m
from kpi_designer.compiler.behind.parts import Part, contribution, recognised
from kpi_designer.compiler.columns import Columns
from kpi_designer.compiler.query import Query
from kpi_designer.compiler.trees import col, double, ident, positions
from kpi_designer.compiler.types.balance import (
    in_force_at,
    judged,
    per_columns,
    per_keys,
    read,
)
from kpi_designer.semantic import COLUMNS, ENTITIES

if TYPE_CHECKING:
    from kpi_designer.compiler.behind.registry import Behind


def balance(behind: Behind, kpi: m.Balance, query: Query) -> list[Part]:
    builder = behind.builder
    select, cols, started, stopped = read(builder, kpi, query)
    day = builder.param("end", query.end)
    when = [cols.rewrite(condition) for condition in kpi.when]
    select = select.where(*in_force_at(day, started, stopped, when), copy=False)
    if kpi.per:
        return [combinations(kpi, select, cols)]
    columns = {**recognised(cols), **contribution(cols, kpi.measure)}
    columns["since"] = cols.local_day()
    columns["until"] = cols.local_day(kpi.until) if kpi.until is not None else exp.null()
    return [Part(select, cols, columns)]


def combinations(kpi: m.Balance, select: exp.Select, cols: Columns) -> Part:
    """The ``per`` combinations of the rows ``select`` reads (those in force), each with its
    balance, the columns ``having`` names and whether it meets it (``value`` 1 or 0)."""
    keys = per_keys(cols, kpi)
    outputs = [exp.alias_(key, ident(name), copy=False) for name, key in keys.items()]
    outputs.append(exp.alias_(double(cols.aggregate(kpi.measure)), ident("value"), copy=False))
    grouped = select.select(*outputs, copy=False).group_by(*positions(len(keys)), copy=False)
    listed, having, shown = judged(kpi, cols.finish(grouped))
    columns: dict[str, exp.Expr] = {
        name: col(column, "g") for name, column in zip(kpi.per, per_columns(kpi), strict=True)
    }
    columns["balance"] = col("value", "g")
    columns |= shown
    meets = exp.If(this=having if having is not None else exp.true(), true=exp.Literal.number(1))
    columns["value"] = exp.Case(ifs=[meets], default=exp.Literal.number(0))
    types = {name: shown_type(name) for name in shown}
    fresh = Columns(cols.fact, cols.time)  # the joins are in the rows of each combination
    return Part(listed, fresh, columns, keyed=False, types=types, order=kpi.per)


def shown_type(name: str) -> str:
    """The type a column ``having`` names is listed as: of ``<entity>.<column>``, its own (a
    number as ``DOUBLE``); a dimension's is text."""
    entity, _, column = name.rpartition(".")
    if not entity:
        return "VARCHAR"
    written = COLUMNS[ENTITIES[entity].table][column]
    if written.startswith(("DECIMAL", "INTEGER", "BIGINT", "SMALLINT", "DOUBLE", "FLOAT")):
        return "DOUBLE"
    if written in ("DATE", "TIMESTAMP", "BOOLEAN"):
        return written
    return "VARCHAR"
