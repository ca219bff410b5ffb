"""What KPIs can count and slice by: the facts and dimensions of the canonical ``core`` model.

A KPI aggregates rows of one :class:`Fact`. A fact is a ``core.fct_*`` table, sometimes joined
to its parent for the columns that place its rows (an invoice line takes its date and its sales
manager from its invoice). A :class:`Dimension` is a column a fact reaches through one of its
references (``client_segment`` is ``dim_client.segment`` through ``client_id``) or a column of
its own (a lead's ``channel``). The tables and columns come from :mod:`kpiboard.core_model`, so
this file only says how they connect; ``docs/kpis.md`` shows the same in two tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

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
        _fact("deal", "opened_at", "owner_id", "client"),
        _fact("deal_stage", "entered_at", "changed_by_id", "deal"),
        _fact("activity", "occurred_at", "employee_id", "client", "deal"),
        _fact("task", "created_at", "assignee_id", "client", "deal"),
        _fact("invoice", "issued_on", "owner_id", "client", "deal"),
        _fact("invoice_line", "issued_on", "owner_id", "client", "product", parent=_INVOICE),
        _fact("payment", "paid_on", "owner_id", "client", "invoice", parent=_INVOICE),
        _fact("stock_move", "moved_at", "keeper_id", "product", "warehouse", "invoice"),
        _fact("purchase_order", "ordered_on", "buyer_id", "warehouse", "supplier"),
        _fact("service_request", "received_at", "engineer_id", "client", "product", "invoice"),
        _fact("delivery", "planned_start_at", "driver_id", "client", "warehouse", "invoice"),
    )
}
