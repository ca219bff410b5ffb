"""Draft models for ``kpiboard init --from-url``: a source table whose name says what it is
(``customers``, ``orders``) gets a first ``SELECT`` into the core table it suggests.

A draft follows docs/connecting-a-source.md: keys are ``_source || ':' || <the source's key>``,
references are built the same way from foreign keys, ``branch_id`` is ``_branch``, ``_source`` and
``_loaded_at`` come along. It lists every column of the core table (read from
:mod:`kpiboard.core_model`, so a column added there shows up here): mapped when a source column
matches it by name or a known synonym, else ``NULL`` with a ``TODO``; required columns are marked.

Drafts go to ``drafts/core/<table>.sql``, outside the models folder: the pipeline never runs them,
so an unfinished one cannot break a run. The user finishes one and moves it into ``models/core/``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from kpiboard.core_model import CORE_TABLES, FILLED_BY_KPIBOARD, Table
from kpiboard.inspect_source import (
    DATE,
    IDENTIFIER,
    TIMESTAMP,
    ColumnInfo,
    DatabaseInfo,
    ForeignKey,
    TableInfo,
    snake,
)

DRAFTS_FOLDER = "drafts/core"

CORE_FOR_TABLE: tuple[tuple[str, tuple[str, ...]], ...] = (
    # the more specific names first: order_items is a line, not an order
    (
        "fct_invoice_line",
        (
            "order_details",
            "order_detail",
            "order_lines",
            "order_line",
            "order_items",
            "order_item",
            "invoice_lines",
            "invoice_line",
            "invoice_items",
            "invoice_item",
            "sales_lines",
            "sale_items",
            "line_items",
        ),
    ),
    ("fct_purchase_order", ("purchase_orders", "purchase_order")),
    ("fct_stock_move", ("stock_moves", "stock_movements", "inventory_transactions")),
    ("fct_service_request", ("service_requests", "tickets", "repairs", "work_orders")),
    ("fct_deal_stage", ("deal_stage_history", "deal_stages_history", "opportunity_history")),
    ("dim_client", ("customers", "customer", "clients", "client", "accounts", "account")),
    (
        "dim_employee",
        ("employees", "employee", "users", "user", "staff", "salespeople", "agents"),
    ),
    ("dim_product", ("products", "product", "items", "item", "articles", "goods")),
    ("dim_supplier", ("suppliers", "supplier", "vendors", "vendor")),
    ("dim_warehouse", ("warehouses", "warehouse")),
    ("dim_branch", ("branches", "branch", "offices", "office")),
    ("fct_invoice", ("orders", "order", "invoices", "invoice", "sales", "sale", "sales_orders")),
    ("fct_payment", ("payments", "payment")),
    ("fct_deal", ("deals", "deal", "opportunities", "opportunity")),
    ("fct_lead", ("leads", "lead")),
    ("fct_task", ("tasks", "task", "todos")),
    ("fct_delivery", ("shipments", "shipment", "deliveries", "delivery")),
    ("fct_activity", ("activities", "activity", "calls", "meetings")),
)
"""Source table names (in snake case) that suggest a core table."""

SYNONYMS: Mapping[str, tuple[str, ...]] = {
    "name": (
        "name",
        "company_name",
        "customer_name",
        "client_name",
        "product_name",
        "item_name",
        "supplier_name",
        "warehouse_name",
        "display_name",
        "title",
    ),
    "full_name": ("full_name", "name", "display_name", "employee_name", "user_name"),
    "email": ("email", "email_address", "e_mail", "mail"),
    "phone": ("phone", "phone_number", "telephone", "tel", "mobile"),
    "city": ("city", "town"),
    "country": ("country", "country_code"),
    "address": ("address", "street", "address_line1", "address1"),
    "created_at": ("created_at", "created", "created_on", "creation_date", "date_created"),
    "tax_id": ("tax_id", "vat", "vat_number", "vat_id", "ein", "tax_number"),
    "sku": ("sku", "product_code", "item_code", "code", "article"),
    "category": ("category", "category_name"),
    "list_price": ("list_price", "price", "unit_price", "sale_price", "retail_price"),
    "purchase_price": ("purchase_price", "cost", "cost_price", "unit_cost", "standard_cost"),
    "unit": ("unit", "uom", "unit_of_measure"),
    "hired_on": ("hired_on", "hire_date", "hired_at", "start_date", "employed_on"),
    "left_on": ("left_on", "termination_date", "end_date", "left_at"),
    "job_title": ("job_title", "title", "position"),
    "department": ("department", "dept"),
    "is_active": ("is_active", "active", "enabled"),
    "is_deleted": ("is_deleted", "deleted"),
    "issued_on": ("issued_on", "invoice_date", "order_date", "issued_at", "ordered_at", "date"),
    "invoice_number": ("invoice_number", "invoice_no", "order_number", "order_no", "number"),
    "due_on": ("due_on", "due_date"),
    "net_amount": ("net_amount", "subtotal", "amount_net", "net_total"),
    "tax_amount": ("tax_amount", "tax", "vat_amount", "tax_total"),
    "total_amount": ("total_amount", "total", "grand_total", "amount"),
    "qty": ("qty", "quantity"),
    "unit_price": ("unit_price", "price"),
    "discount_amount": ("discount_amount", "discount_total"),
    "line_amount": ("line_amount", "line_total", "amount", "total"),
    "line_no": ("line_no", "line_number", "position"),
    "paid_on": ("paid_on", "payment_date", "paid_at", "date"),
    "amount": ("amount", "value", "total"),
    "method": ("method", "payment_method"),
    "opened_at": ("opened_at", "created_at", "created"),
    "closed_at": ("closed_at", "close_date"),
    "title": ("title", "name", "subject"),
    "due_at": ("due_at", "due_date", "due_on", "deadline"),
    "done_at": ("done_at", "completed_at", "finished_at"),
    "status": ("status", "state", "status_code"),
    "kind": ("kind", "type", "type_code", "kind_code"),
    "planned_start_at": ("planned_start_at", "scheduled_at", "planned_at", "ship_date"),
    "delivered_at": ("delivered_at", "delivery_date", "delivered_on"),
    "departed_at": ("departed_at", "shipped_at"),
    "moved_at": ("moved_at", "created_at", "date"),
    "ordered_on": ("ordered_on", "order_date", "ordered_at"),
    "required_on": ("required_on", "required_date", "requested_date", "need_by_date", "due_date"),
    "promised_on": ("promised_on", "promised_date", "promise_date", "confirmed_date"),
    "shipped_on": ("shipped_on", "shipped_date", "ship_date", "shipped_at", "dispatched_on"),
    "expected_on": ("expected_on", "expected_date"),
    "received_on": ("received_on", "received_date"),
    "received_at": ("received_at", "created_at", "opened_at"),
    "occurred_at": ("occurred_at", "started_at", "created_at", "date"),
    "duration_seconds": ("duration_seconds", "duration"),
    "segment": ("segment", "segment_code"),
    "industry": ("industry",),
    "channel": ("channel", "source"),
    "order_number": ("order_number", "order_no", "number"),
    # references: the source's own name for them
    "client_id": ("client_id", "customer_id", "account_id"),
    "owner_id": ("owner_id", "sales_rep_id", "salesperson_id", "employee_id", "user_id"),
    "manager_id": ("manager_id", "reports_to", "supervisor_id", "boss_id"),
    "employee_id": ("employee_id", "user_id", "owner_id"),
    "assignee_id": ("assignee_id", "assigned_to", "user_id", "employee_id"),
    "author_id": ("author_id", "created_by"),
    "driver_id": ("driver_id", "courier_id", "employee_id"),
    "engineer_id": ("engineer_id", "technician_id", "employee_id"),
    "keeper_id": ("keeper_id", "manager_id"),
    "buyer_id": ("buyer_id", "employee_id"),
    "product_id": ("product_id", "item_id", "article_id"),
    "supplier_id": ("supplier_id", "vendor_id"),
    "warehouse_id": ("warehouse_id", "store_id", "location_id"),
    "invoice_id": ("invoice_id", "order_id", "sales_order_id"),
    "deal_id": ("deal_id", "opportunity_id"),
    "lead_id": ("lead_id",),
    "purchase_order_id": ("purchase_order_id", "po_id"),
    "service_request_id": ("service_request_id", "ticket_id"),
}
"""Source column names (snake case) each core column is taken from, best first."""

REFERS_TO: Mapping[str, str] = {
    "client_id": "dim_client",
    "owner_id": "dim_employee",
    "manager_id": "dim_employee",
    "employee_id": "dim_employee",
    "assignee_id": "dim_employee",
    "author_id": "dim_employee",
    "driver_id": "dim_employee",
    "engineer_id": "dim_employee",
    "keeper_id": "dim_employee",
    "buyer_id": "dim_employee",
    "changed_by_id": "dim_employee",
    "head_id": "dim_employee",
    "product_id": "dim_product",
    "supplier_id": "dim_supplier",
    "warehouse_id": "dim_warehouse",
    "counterpart_warehouse_id": "dim_warehouse",
    "invoice_id": "fct_invoice",
    "deal_id": "fct_deal",
    "lead_id": "fct_lead",
    "purchase_order_id": "fct_purchase_order",
    "service_request_id": "fct_service_request",
}
"""The core table each reference column names (by its key)."""

CODES = frozenset({"kind", "status", "role", "segment", "method", "channel", "pipeline", "stage"})
"""Columns that hold one of a list of values (docs/model.md): a source's codes need a CASE."""

SHARED: frozenset[str] = frozenset({"ordered_on"})
"""Core columns that may take a source column another core column took too: an order system's
``order_date`` is both the invoice's ``issued_on`` and its ``ordered_on``."""

RATES = ("discount", "discount_rate", "discount_pct", "discount_percent")
"""Source columns that usually hold a discount as a share of the line (0.05), not money."""

AUTOMATIC: Mapping[str, str] = {
    "master_client_id": "set by kpiboard's duplicate linking after the models run",
}


@dataclass(frozen=True)
class Draft:
    core_table: str
    source_table: str
    path: str  # relative to the project folder
    text: str
    mapped: int  # core columns taken from a source column
    todo: int  # core columns left NULL


def suggested_core_tables(info: DatabaseInfo) -> dict[str, list[str]]:
    """Core table → the source tables whose names suggest it, best first."""
    out: dict[str, list[str]] = {}
    for core, names in CORE_FOR_TABLE:
        for table in info.tables:
            plain = snake(table.name).removeprefix("tbl_")
            if plain in names and not any(table.name in found for found in out.values()):
                out.setdefault(core, []).append(table.name)
        if core in out:
            out[core].sort(key=lambda t: names.index(snake(t).removeprefix("tbl_")))
    return out


def draft_models(info: DatabaseInfo, source: str, header: str) -> list[Draft]:
    """One draft per core table a source table's name suggests (the first such table; the
    others are named in the draft's comment)."""
    suggested = suggested_core_tables(info)
    mapped_to = {tables[0]: core for core, tables in suggested.items()}
    by_name = {t.name: t for t in CORE_TABLES}
    drafts = []
    for core, tables in sorted(suggested.items()):
        table = info.table(tables[0])
        assert table is not None
        drafts.append(_draft(by_name[core], table, tables[1:], source, header, mapped_to))
    return drafts


@functools.cache
def _keywords() -> frozenset[str]:
    """DuckDB's keywords that cannot stand as a bare column or table name (``order``, ``at``)."""
    import duckdb

    con = duckdb.connect()
    try:
        rows = con.execute(
            "SELECT keyword_name FROM duckdb_keywords() WHERE keyword_category <> 'unreserved'"
        ).fetchall()
    finally:
        con.close()
    return frozenset(str(r[0]) for r in rows)


def _quote(name: str) -> str:
    """``name`` as DuckDB reads it: bare when it is a plain lower-case name, else quoted."""
    if IDENTIFIER.match(name) and name == name.lower() and name not in _keywords():
        return name
    return '"' + name.replace('"', '""') + '"'


def _draft(
    core: Table,
    table: TableInfo,
    others: Sequence[str],
    source: str,
    header: str,
    mapped_to: Mapping[str, str],
) -> Draft:
    alias = "t"
    columns = {snake(c.name): c for c in table.columns}
    references = {  # core table → the foreign-key columns naming it
        mapped_to[fk.table]: fk for fk in table.foreign_keys if fk.table in mapped_to
    }
    key_column = core.primary_key[0]
    used: set[str] = set()
    rows: list[tuple[str, str, str]] = []  # expression, core column, comment
    filled = FILLED_BY_KPIBOARD.get(core.name, frozenset())
    for column in core.columns:
        name = column.name
        if name in filled:  # kpiboard computes them after the models; a model may not
            continue
        required = "" if column.nullable else "REQUIRED"
        expression, note = _mapping(
            name, column.type, core, key_column, table, columns, references, used, alias
        )
        todo = expression == "NULL"
        comment = "; ".join(x for x in (required, ("TODO: " + note) if todo else note) if x)
        rows.append((expression, name, comment))
    listed = []
    for i, (expression, name, comment) in enumerate(rows):
        comma = "," if i < len(rows) - 1 else ""
        text = f"    {expression} AS {name}{comma}"
        listed.append(f"{text:<60}  -- {comment}" if comment else text)
    unused = [c.name for c in table.columns if c.name not in used]
    lines = [
        f"-- {header}",
        f"-- Draft of core.{core.name} from {source}.{table.name}: one row per row of "
        f"{table.name}.",
        "-- Resolve every TODO (REQUIRED columns must not be null), map codes onto the values",
        "-- docs/model.md lists (CASE … ELSE 'other'), then move this file into models/core/.",
    ]
    if others:
        lines.append(f"-- Other tables whose names suggest core.{core.name}: {', '.join(others)}.")
    if unused:
        lines.append(f"-- Columns of {table.name} not used: {', '.join(unused)}.")
    if core.name != "dim_branch":
        lines.append("-- branch_id: the source's branch, or [company] branch in kpiboard.toml.")
    lines += ["SELECT", *listed, f"FROM stg_{source}.{_quote(table.name)} AS {alias}"]
    mapped = sum(1 for e, _, _ in rows if e != "NULL")
    return Draft(
        core.name,
        table.name,
        f"{DRAFTS_FOLDER}/{core.name}.sql",
        "\n".join(lines) + "\n",
        mapped,
        len(rows) - mapped,
    )


def _mapping(
    name: str,
    kind: str,
    core: Table,
    key_column: str,
    table: TableInfo,
    columns: Mapping[str, ColumnInfo],
    references: Mapping[str, ForeignKey],
    used: set[str],
    alias: str,
) -> tuple[str, str]:
    """The expression for core column ``name`` and a comment (the TODO when it is NULL)."""

    def col(source_name: str) -> str:
        return f"{alias}.{_quote(source_name)}"

    def keyed(parts: Sequence[str]) -> str:
        return f"{alias}._source || ':' || " + " || ':' || ".join(col(p) for p in parts)

    if name == key_column:
        if not table.key:
            return "NULL", f"{table.name} has no key: build one that names each row"
        used.update(table.key)
        return keyed(table.key), "the source's key, qualified by the source"
    if name == "branch_id":
        return f"{alias}._branch", ""
    if name in ("_source", "_loaded_at"):
        return f"{alias}.{name}", ""
    if name in AUTOMATIC:
        return "NULL", AUTOMATIC[name]
    target = REFERS_TO.get(name)
    if target is not None:
        for candidate in SYNONYMS.get(name, (name,)):
            # a column of a composite key is often a reference too (order_details' order_id)
            found = _find(candidate, columns, used - set(table.key))
            if found is not None:
                used.add(found)
                fk = next((f for f in table.foreign_keys if f.columns == (found,)), None)
                note = f"foreign key to {fk.table}" if fk else "a column named like it"
                return keyed([found]), note
        fk = references.get(target)
        if fk is not None and not set(fk.columns) & used:
            used.update(fk.columns)
            return keyed(fk.columns), f"foreign key to {fk.table}: check it is this role"
        return "NULL", f"a reference to core.{target}: _source || ':' || <its id>"
    if name == "full_name":
        first = _find("first_name", columns, used)
        last = _find("last_name", columns, used)
        if first and last:
            used.update((first, last))
            return f"concat_ws(' ', {col(first)}, {col(last)})", ""
    if name in ("discount_amount", "line_amount"):
        rate = next((c for c in RATES if c in columns), None)
        if rate is not None and _find("discount_amount", columns, used) is None:
            return "NULL", _discount_hint(name, columns[rate].name, columns)
    for candidate in SYNONYMS.get(name, (name,)):
        found = _find(candidate, columns, set() if name in SHARED else used)
        if found is None:
            continue
        used.add(found)
        source_column = table.column(found)
        source_kind = source_column.type if source_column is not None else ""
        expression = col(found)
        note = "" if snake(found) == name else f"from {found}"
        if name in CODES:
            note = _join(note, "map the source's codes onto docs/model.md's values with CASE")
        if kind == DATE and source_kind == TIMESTAMP:
            expression = f"CAST({expression} AS DATE)"
            note = _join(
                note,
                "TODO: the UTC date; the branch's local one is local_date(<it>, b.timezone)",
            )
        elif kind == TIMESTAMP and source_kind == DATE:
            note = _join(
                note,
                "TODO: a local date, not a UTC time: convert local dates with utc_from_local(...)",
            )
        return expression, note
    return "NULL", _todo_hint(name)


def _find(candidate: str, columns: Mapping[str, ColumnInfo], used: set[str]) -> str | None:
    found = columns.get(candidate)
    return found.name if found is not None and found.name not in used else None


def _join(a: str, b: str) -> str:
    return f"{a}; {b}" if a else b


def _discount_hint(name: str, rate: str, columns: Mapping[str, ColumnInfo]) -> str:
    """What to write for a line's discount or net amount when the source has a discount rate."""
    qty = _find("quantity", columns, set()) or _find("qty", columns, set()) or "<qty>"
    price = _find("unit_price", columns, set()) or _find("price", columns, set()) or "<price>"
    share = f"CAST({rate} AS DECIMAL(9,6))"  # a float rate: the decimal the user typed
    if name == "discount_amount":
        return f"if {rate} is a share of the line (0.05): {price} * {qty} * {share}"
    return f"if {rate} is a share of the line (0.05): {price} * {qty} * (1 - {share})"


def _todo_hint(name: str) -> str:
    if name in CODES:
        return "no column matched; one of docs/model.md's values"
    return "no column matched"
