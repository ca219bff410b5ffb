"""What KPIs can count and slice by: the facts and dimensions of the canonical ``core`` model.

A KPI aggregates rows of one :class:`Fact`. A fact is a ``core.fct_*`` table, sometimes joined
to its parent for the columns that place its rows (an invoice line takes its date and its sales
manager from its invoice). A :class:`Dimension` is a column a fact reaches through one of its
references (``client_segment`` is ``dim_client.segment`` through ``client_id``) or a column of
its own (a lead's ``channel``). The tables and columns come from :mod:`kpiboard.core_model`, so
this file only says how they connect; ``docs/kpis.md`` shows the same in two tables.

An expression on a fact may also name a column of a related table, ``<table>.<column>``
(:func:`relations`): an entity the fact reaches (``invoice.due_on`` on a payment), or the first
or last row of a fact whose rows refer to this one (``first_activity.occurred_at`` on a lead).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, cast

from kpiboard.core_model import CORE_TABLES

CORE_SCHEMA = "core"
COLUMNS: dict[str, dict[str, str]] = {
    t.name: {c.name: c.type for c in t.columns} for t in CORE_TABLES
}
"""Every core table's columns and their DuckDB types."""


@dataclass(frozen=True)
class Entity:
    """What a reference column points to: ``client`` is a row of ``dim_client`` by
    ``client_id``.

    ``master`` names a column of the table that, when set, holds the key of the row this one is a
    duplicate of (``dim_client.master_client_id``): a fact's reference then counts, slices and
    matches as ``coalesce(master, key)``, so that a client typed in twice is one client.
    """

    name: str
    table: str
    key: str
    master: str | None = None


ENTITIES: dict[str, Entity] = {
    e.name: e
    for e in (
        Entity("branch", "dim_branch", "branch_id"),
        Entity("employee", "dim_employee", "employee_id"),
        Entity("client", "dim_client", "client_id", master="master_client_id"),
        Entity("product", "dim_product", "product_id"),
        Entity("warehouse", "dim_warehouse", "warehouse_id"),
        Entity("supplier", "dim_supplier", "supplier_id"),
        Entity("deal", "fct_deal", "deal_id"),
        Entity("invoice", "fct_invoice", "invoice_id"),
        Entity("lead", "fct_lead", "lead_id"),
    )
}


@dataclass(frozen=True)
class Dimension:
    """A named slice: ``column`` of the ``entity``'s table, or of the fact itself when the fact
    has a column by the name in ``own`` (``channel`` on leads)."""

    name: str
    entity: str
    column: str
    own: str | None = None


DIMENSIONS: dict[str, Dimension] = {
    d.name: d
    for d in (
        Dimension("branch", "branch", "branch_id"),
        Dimension("region", "branch", "region"),
        Dimension("employee", "employee", "employee_id"),
        Dimension("role", "employee", "role"),
        Dimension("client", "client", "client_id"),
        Dimension("client_segment", "client", "segment"),
        Dimension("client_kind", "client", "kind"),
        Dimension("industry", "client", "industry"),
        Dimension("client_city", "client", "city"),
        Dimension("channel", "client", "acquisition_channel", own="channel"),
        Dimension("product", "product", "product_id"),
        Dimension("product_category", "product", "category"),
        Dimension("product_kind", "product", "kind"),
        Dimension("warehouse", "warehouse", "warehouse_id"),
        Dimension("supplier", "supplier", "supplier_id"),
    )
}


@dataclass(frozen=True)
class Parent:
    """The table a fact row belongs to, joined for columns the fact lacks."""

    table: str
    key: str
    """The column both tables share (``invoice_id``)."""


@dataclass(frozen=True)
class Fact:
    """A table KPIs aggregate.

    ``time`` and ``employee`` name columns of the fact or, when it has a ``parent``, of the
    parent. ``references`` maps an entity to the column holding its key; ``branch`` and
    ``employee`` are always there.
    """

    name: str
    table: str
    key: str
    time: str
    employee: str
    references: Mapping[str, str] = field(default_factory=dict)
    parent: Parent | None = None

    def columns(self) -> dict[str, str]:
        """The columns an expression on this fact may name, with their types: the fact's own,
        then its parent's that the fact does not have."""
        own = {c: t for c, t in COLUMNS[self.table].items() if not c.startswith("_")}
        if self.parent is None:
            return own
        inherited = COLUMNS[self.parent.table]
        return own | {c: t for c, t in inherited.items() if c not in own and not c.startswith("_")}

    def column_table(self, column: str) -> str:
        """``"f"`` when the fact has ``column``, ``"p"`` (its parent) otherwise."""
        return "f" if column in COLUMNS[self.table] or self.parent is None else "p"

    def reaches(self) -> dict[str, str]:
        """Entity → the column holding its key, ``branch`` and ``employee`` included."""
        return {"branch": "branch_id", "employee": self.employee, **self.references}

    def dimensions(self) -> dict[str, Dimension]:
        """The dimensions this fact can be sliced and filtered by."""
        reached = self.reaches()
        columns = self.columns()
        return {
            name: d
            for name, d in DIMENSIONS.items()
            if d.entity in reached or (d.own is not None and d.own in columns)
        }


def _fact(
    name: str,
    time: str,
    employee: str,
    *refs: str,
    parent: Parent | None = None,
) -> Fact:
    return Fact(
        name=name,
        table=f"fct_{name}",
        key=f"{name}_id",
        time=time,
        employee=employee,
        references={ref: ENTITIES[ref].key for ref in refs},
        parent=parent,
    )


_INVOICE = Parent("fct_invoice", "invoice_id")

FACTS: dict[str, Fact] = {
    f.name: f
    for f in (
        _fact("lead", "created_at", "owner_id", "client", "deal"),
        _fact("deal", "opened_at", "owner_id", "client", "lead"),
        _fact("deal_stage", "entered_at", "changed_by_id", "deal"),
        _fact("activity", "occurred_at", "employee_id", "client", "deal", "lead"),
        _fact("task", "created_at", "assignee_id", "client", "deal"),
        _fact("invoice", "issued_on", "owner_id", "client", "deal"),
        _fact(
            "invoice_line", "issued_on", "owner_id", "client", "product", "invoice", parent=_INVOICE
        ),
        _fact("payment", "paid_on", "owner_id", "client", "invoice", parent=_INVOICE),
        _fact("stock_move", "moved_at", "keeper_id", "product", "warehouse", "invoice"),
        _fact("purchase_order", "ordered_on", "buyer_id", "warehouse", "supplier"),
        _fact("service_request", "received_at", "engineer_id", "client", "product", "invoice"),
        _fact("delivery", "planned_start_at", "driver_id", "client", "warehouse", "invoice"),
    )
}


# -- related tables --------------------------------------------------------------------------------

Order = Literal["first", "last"]
ORDERED = re.compile(r"(first|last)_([a-z][a-z0-9_]*)")
"""``first_<fact>`` / ``last_<fact>``: the earliest or latest row of a fact referring to a row."""


@dataclass(frozen=True)
class Relation:
    """A table whose columns an expression on a fact may name as ``<name>.<column>``.

    Either an ``entity`` the fact reaches (one row, by the fact's own reference: ``invoice`` on
    a payment), or of the ``fact`` whose rows refer to the fact's row, the one that comes
    ``order`` (first or last) by that fact's default time, ties by its key (``first_payment``
    on an invoice). A row with no such related row sees NULL in each of its columns.
    """

    name: str
    table: str
    entity: str | None = None
    fact: str | None = None
    order: Order | None = None

    def columns(self) -> dict[str, str]:
        """The columns of the related table, with their types (a fact's include its
        parent's, as :meth:`Fact.columns`)."""
        if self.fact is not None:
            return FACTS[self.fact].columns()
        return {c: t for c, t in COLUMNS[self.table].items() if not c.startswith("_")}


def entity_of(fact: Fact) -> str | None:
    """The entity whose rows are the fact's rows (``invoice`` for ``fct_invoice``), if any."""
    return next((e.name for e in ENTITIES.values() if e.table == fact.table), None)


def referring(fact: Fact) -> list[str]:
    """The facts whose rows refer to a row of ``fact`` (payments to an invoice)."""
    entity = entity_of(fact)
    if entity is None:
        return []
    return [g.name for g in FACTS.values() if entity in g.references]


def relations(fact: Fact) -> dict[str, Relation]:
    """Every table an expression on ``fact`` may name a column of, by the name it is written
    with: the entities the fact reaches, then ``first_<g>`` and ``last_<g>`` for each fact
    ``g`` referring to it."""
    out = {
        entity: Relation(entity, ENTITIES[entity].table, entity=entity) for entity in fact.reaches()
    }
    for g in referring(fact):
        for order in ("first", "last"):
            name = f"{order}_{g}"
            out[name] = Relation(name, FACTS[g].table, fact=g, order=cast(Order, order))
    return out
