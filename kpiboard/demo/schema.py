"""The demo company's operational schemas: one CRM database per branch, one stock database.

These are the systems under analysis, not our warehouse. They are shaped the way a small
business's CRM and stock software keep their data — normalized tables with surrogate integer keys,
``created_at``/``updated_at`` on every mutable row, soft-delete flags, statuses as short codes and
free text — and deliberately *not* like the canonical ``core`` model, so the transform step has
real work to do. Like much small-business software, they declare no foreign-key constraints;
that is how the orphan references listed in the dirt manifest got in.

The same :class:`sqlalchemy.MetaData` creates the tables on SQLite, PostgreSQL and MariaDB.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Table,
    Text,
)

MONEY = Numeric(12, 2)
QTY = Numeric(12, 3)
PCT = Numeric(5, 2)


def _audit() -> list[Column[object]]:
    return [
        Column("created_at", DateTime, nullable=False),
        Column("updated_at", DateTime, nullable=False),
    ]


def _pk() -> Column[int]:
    return Column("id", Integer, primary_key=True, autoincrement=False)


crm_metadata = MetaData()
"""Tables of one branch's CRM database (``crm_<branch>``)."""

Table(
    "users",
    crm_metadata,
    _pk(),
    Column("login", String(40), nullable=False),
    Column("full_name", String(120), nullable=False),
    Column("email", String(120)),
    Column("phone", String(40)),
    # SM sales manager, SE service engineer, DR driver, WK warehouse keeper,
    # HD branch head, EX executive, AN analyst
    Column("role_code", String(2), nullable=False),
    Column("manager_id", Integer),
    Column("hired_on", Date, nullable=False),
    Column("fired_on", Date),
    Column("is_active", Boolean, nullable=False),
    *_audit(),
)

Table(
    "clients",
    crm_metadata,
    _pk(),
    Column("client_type", String(1), nullable=False),  # C company, P private person
    Column("name", String(200), nullable=False),
    Column("tax_id", String(20)),
    Column("industry", String(60)),
    Column("segment_code", String(3)),  # KEY, SMB, MIC, PRV
    Column("city", String(60)),
    Column("address", String(200)),
    Column("phone", String(40)),
    Column("email", String(120)),
    Column("source_code", String(10)),  # how the client came to us; lead_channels.code
    Column("lead_id", Integer),
    Column("responsible_user_id", Integer),
    Column("notes", Text),
    Column("is_deleted", Boolean, nullable=False),
    *_audit(),
)

Table(
    "contacts",
    crm_metadata,
    _pk(),
    Column("client_id", Integer, nullable=False),
    Column("first_name", String(60), nullable=False),
    Column("last_name", String(60), nullable=False),
    Column("position", String(80)),
    Column("phone", String(40)),
    Column("email", String(120)),
    Column("is_primary", Boolean, nullable=False),
    Column("is_deleted", Boolean, nullable=False),
    *_audit(),
)

Table(
    "lead_channels",
    crm_metadata,
    Column("code", String(10), primary_key=True),
    Column("name", String(60), nullable=False),
    Column("is_paid", Boolean, nullable=False),
)

Table(
    "leads",
    crm_metadata,
    _pk(),
    Column("channel_code", String(10), nullable=False),
    Column("contact_name", String(120)),
    Column("company_name", String(200)),
    Column("phone", String(40)),
    Column("email", String(120)),
    # the website questionnaire's answers as submitted (JSON), NULL for other channels
    Column("form_payload", Text),
    Column("status_code", String(3), nullable=False),  # NEW, WRK, CNV (converted), JNK (junk)
    Column("assigned_user_id", Integer),
    Column("converted_client_id", Integer),
    Column("converted_at", DateTime),
    Column("is_deleted", Boolean, nullable=False),
    *_audit(),
)

Table(
    "pipeline_stages",
    crm_metadata,
    _pk(),
    Column("code", String(12), nullable=False),
    Column("name", String(60), nullable=False),
    Column("sort_order", SmallInteger, nullable=False),
    Column("probability_pct", SmallInteger, nullable=False),
    Column("is_final", Boolean, nullable=False),
)

Table(
    "deals",
    crm_metadata,
    _pk(),
    Column("client_id", Integer, nullable=False),
    Column("title", String(200), nullable=False),
    Column("stage_id", Integer, nullable=False),
    Column("status_code", String(1), nullable=False),  # O open, W won, L lost
    Column("lost_reason", String(200)),
    Column("amount", MONEY, nullable=False),
    Column("owner_user_id", Integer, nullable=False),
    Column("lead_id", Integer),
    Column("opened_at", DateTime, nullable=False),
    Column("expected_close_on", Date),
    Column("closed_at", DateTime),
    Column("is_deleted", Boolean, nullable=False),
    *_audit(),
)

Table(
    "deal_stage_history",
    crm_metadata,
    _pk(),
    Column("deal_id", Integer, nullable=False),
    Column("from_stage_id", Integer),
    Column("to_stage_id", Integer, nullable=False),
    Column("changed_at", DateTime, nullable=False),
    Column("changed_by", Integer),
)

Table(
    "activities",
    crm_metadata,
    _pk(),
    Column("type_code", String(4), nullable=False),  # CIN, COUT, MEET, MAIL, VIS
    Column("user_id", Integer, nullable=False),
    Column("client_id", Integer),
    Column("deal_id", Integer),
    Column("lead_id", Integer),  # the lead the activity answers or follows up
    Column("started_at", DateTime, nullable=False),
    Column("duration_sec", Integer),
    Column("outcome_code", String(4)),  # OK, NOAN (no answer), CB (call back), REF (refused)
    Column("subject", String(200)),
    *_audit(),
)

Table(
    "tasks",
    crm_metadata,
    _pk(),
    Column("title", String(200), nullable=False),
    Column("assignee_id", Integer, nullable=False),
    Column("author_id", Integer),
    Column("client_id", Integer),
    Column("deal_id", Integer),
    Column("priority", SmallInteger, nullable=False),  # 1 high .. 3 low
    Column("status_code", String(4), nullable=False),  # OPEN, DONE, CANC
    Column("due_at", DateTime, nullable=False),
    Column("done_at", DateTime),
    Column("is_deleted", Boolean, nullable=False),
    *_audit(),
)

Table(
    "contracts",
    crm_metadata,
    _pk(),
    Column("number", String(30), nullable=False),
    Column("client_id", Integer, nullable=False),
    Column("kind_code", String(4), nullable=False),  # SUP supply, MNT maintenance, SRV service
    Column("signed_on", Date, nullable=False),
    Column("valid_until", Date),
    Column("amount", MONEY),
    Column("payment_terms_days", SmallInteger, nullable=False),
    Column("is_deleted", Boolean, nullable=False),
    *_audit(),
)

Table(
    "invoices",
    crm_metadata,
    _pk(),
    Column("number", String(30), nullable=False),
    Column("client_id", Integer, nullable=False),
    Column("deal_id", Integer),
    Column("contract_id", Integer),
    Column("issued_on", Date, nullable=False),
    Column("due_on", Date, nullable=False),
    Column("status_code", String(4), nullable=False),  # ISS issued, PART, PAID, CANC
    Column("total_amount", MONEY, nullable=False),
    Column("comment", Text),
    Column("created_by", Integer),
    Column("is_deleted", Boolean, nullable=False),
    *_audit(),
)

Table(
    "invoice_items",
    crm_metadata,
    _pk(),
    Column("invoice_id", Integer, nullable=False),
    Column("line_no", SmallInteger, nullable=False),
    Column("sku", String(30), nullable=False),  # the stock database's products.sku
    Column("description", String(200)),
    Column("qty", QTY, nullable=False),
    Column("unit_price", MONEY, nullable=False),
    Column("discount_pct", PCT, nullable=False),
    Column("line_total", MONEY, nullable=False),
    *_audit(),
)

Table(
    "payments",
    crm_metadata,
    _pk(),
    Column("invoice_id", Integer, nullable=False),
    Column("paid_at", DateTime, nullable=False),
    Column("amount", MONEY, nullable=False),
    Column("method_code", String(4), nullable=False),  # BANK, CARD, CASH
    Column("reference", String(60)),
    *_audit(),
)

Table(
    "service_requests",
    crm_metadata,
    _pk(),
    Column("number", String(30), nullable=False),
    Column("client_id", Integer, nullable=False),
    Column("equipment_model", String(120), nullable=False),
    Column("serial_no", String(40)),
    Column("problem", Text),
    Column("diagnosis", Text),
    Column("engineer_id", Integer),
    # NEW, DIAG, REP (in repair), WAIT (waiting for parts), DONE (repaired), RET (returned), CANC
    Column("status_code", String(4), nullable=False),
    Column("is_warranty", Boolean, nullable=False),
    Column("sla_hours", SmallInteger, nullable=False),
    Column("received_at", DateTime, nullable=False),
    Column("diagnosed_at", DateTime),
    Column("repaired_at", DateTime),
    Column("returned_at", DateTime),
    Column("labour_hours", Numeric(6, 2)),
    Column("parts_cost", MONEY),
    Column("invoice_id", Integer),
    Column("is_deleted", Boolean, nullable=False),
    *_audit(),
)

Table(
    "deliveries",
    crm_metadata,
    _pk(),
    Column("invoice_id", Integer, nullable=False),
    Column("driver_id", Integer),
    Column("route_code", String(10), nullable=False),
    Column("address", String(200)),
    Column("planned_at", DateTime, nullable=False),
    Column("distance_km", Numeric(6, 1)),  # from the branch's stock room; typed in, sometimes not
    Column("departed_at", DateTime),  # when the van left the branch with the goods
    Column("delivered_at", DateTime),
    Column("status_code", String(4), nullable=False),  # PLAN, DONE, FAIL, CANC
    Column("failure_reason", String(120)),
    *_audit(),
)

stock_metadata = MetaData()
"""Tables of the company's one stock (warehouse) database (``stock``)."""

Table(
    "categories",
    stock_metadata,
    _pk(),
    Column("parent_id", Integer),
    Column("name", String(80), nullable=False),
)

Table(
    "suppliers",
    stock_metadata,
    _pk(),
    Column("name", String(200), nullable=False),
    Column("tax_id", String(20)),
    Column("city", String(60)),
    Column("phone", String(40)),
    Column("email", String(120)),
    Column("lead_time_days", SmallInteger, nullable=False),
    Column("is_active", Boolean, nullable=False),
    *_audit(),
)

Table(
    "products",
    stock_metadata,
    _pk(),
    Column("sku", String(30), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("category_id", Integer, nullable=False),
    Column("kind", String(1), nullable=False),  # G good, S service
    Column("unit", String(10), nullable=False),
    Column("purchase_price", MONEY),
    Column("list_price", MONEY, nullable=False),
    Column("supplier_id", Integer),
    Column("min_stock", Integer),
    Column("is_archived", Boolean, nullable=False),
    *_audit(),
)

Table(
    "warehouses",
    stock_metadata,
    _pk(),
    Column("code", String(10), nullable=False),
    Column("name", String(80), nullable=False),
    Column("branch_code", String(20)),  # the branch it serves; NULL for the central warehouse
    Column("city", String(60), nullable=False),
    Column("is_active", Boolean, nullable=False),
)

Table(
    "purchase_orders",
    stock_metadata,
    _pk(),
    Column("number", String(30), nullable=False),
    Column("supplier_id", Integer, nullable=False),
    Column("warehouse_id", Integer, nullable=False),
    Column("status_code", String(4), nullable=False),  # DRFT, SENT, RCVD, CANC
    Column("ordered_at", DateTime, nullable=False),
    Column("expected_on", Date),
    Column("received_at", DateTime),
    Column("total_cost", MONEY, nullable=False),
    *_audit(),
)

Table(
    "purchase_order_lines",
    stock_metadata,
    _pk(),
    Column("purchase_order_id", Integer, nullable=False),
    Column("product_id", Integer, nullable=False),
    Column("qty", QTY, nullable=False),
    Column("unit_cost", MONEY, nullable=False),
)

Table(
    "stock_moves",
    stock_metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    # RCPT receipt, SHIP shipment, WOFF write-off, TRNS transfer, ADJ inventory adjustment
    Column("move_type", String(4), nullable=False),
    Column("product_id", Integer, nullable=False),
    Column("warehouse_id", Integer, nullable=False),
    Column("to_warehouse_id", Integer),  # transfers only
    # always positive for RCPT/SHIP/WOFF/TRNS (the type gives the direction); signed for ADJ
    Column("qty", QTY, nullable=False),
    Column("unit_cost", MONEY),
    Column("moved_at", DateTime, nullable=False),
    Column("doc_ref", String(40)),  # "PO-…" or "<branch>/INV-…" or free text
    Column("user_login", String(40)),
    Column("note", String(200)),
    *_audit(),
)

# Incremental extraction reads "updated_at > watermark": index it like a real system would.
for _table in [*crm_metadata.tables.values(), *stock_metadata.tables.values()]:
    if "updated_at" in _table.c:
        Index(f"ix_{_table.name}_updated_at", _table.c.updated_at)
