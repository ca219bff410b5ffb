"""The canonical CRM + warehouse model: the DuckDB ``core`` schema, declared in code.

Every KPI, report and dashboard is written against this model, never against a source's own
tables. Each operational system (one CRM database per branch, the company's stock database, ...)
is copied into ``raw_<source>`` and mapped into ``core`` by its transform models, so the same KPI
definition works whatever system a company runs.

The model is a star: ``dim_*`` tables describe who and what (branches, employees, clients,
products, suppliers, warehouses, the calendar), ``fct_*`` tables record what happened (leads,
deals and their stage history, activities, tasks, invoices and their lines, payments, stock moves,
purchase orders, service requests, deliveries). Its conventions:

- keys are ``VARCHAR`` named ``<entity>_id`` and qualified by source (``'crm_denver:17'``), so the
  id 7 of two branches' databases never collide; references named by role (``owner_id``,
  ``manager_id``, ``engineer_id`` ...) point to ``dim_employee``;
- every table has ``branch_id`` except ``dim_date``, the calendar shared by all branches;
- money is ``DECIMAL(18,2)`` in the branch currency, except line money (a line's price,
  discount, amount, tax and cost, a stock move's unit cost), ``DECIMAL(18,6)``: a line keeps the
  source's precision, so that a month's sum of lines is the source's exact sum, rounded once;
  document totals (an invoice's net, tax and total, a payment) are the cents the document shows;
- quantities are ``DECIMAL(18,3)``, timestamps are UTC ``TIMESTAMP``, business dates ``DATE``,
  flags ``BOOLEAN``; local times are converted with the time-zone macros (:data:`MACROS`:
  ``utc_from_local``, ``local_timestamp``, ``local_date``), never ``CAST(date AS TIMESTAMP)``;
- every table ends with the load metadata ``_source`` and ``_loaded_at``;
- a few columns are filled by kpiboard, not by models (:data:`FILLED_BY_KPIBOARD`: a client's
  invoice number and the days since its previous invoice, known once duplicate clients are
  linked);
- primary keys are enforced; foreign keys are not (DuckDB foreign keys hamper bulk reloads), the
  references are documented and checked by the core validation suites instead.

``docs/model.md`` documents the model column by column; ``tests/test_core_model.py`` fails when
that document and this DDL disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb

VARCHAR = "VARCHAR"
MONEY = "DECIMAL(18,2)"
LINE_MONEY = "DECIMAL(18,6)"
"""Money of one line or one unit: the source's precision kept (six decimals), rounded only once
a total is taken."""
QUANTITY = "DECIMAL(18,3)"
PERCENT = "DECIMAL(5,2)"
INTEGER = "INTEGER"
TIMESTAMP = "TIMESTAMP"
DATE = "DATE"
BOOLEAN = "BOOLEAN"


@dataclass(frozen=True)
class Column:
    """One column of a core table; ``type`` is spelled exactly as DuckDB reports it."""

    name: str
    type: str
    nullable: bool = True

    def sql(self) -> str:
        """The column definition as it appears inside ``CREATE TABLE``."""
        not_null = "" if self.nullable else " NOT NULL"
        return f"{_quote(self.name)} {self.type}{not_null}"


@dataclass(frozen=True)
class Table:
    """One core table: its columns in order and its primary key."""

    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]

    def __post_init__(self) -> None:
        names = [column.name for column in self.columns]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"table {self.name!r}: duplicate columns {duplicates}")
        if not self.primary_key:
            raise ValueError(f"table {self.name!r}: no primary key")
        by_name = {column.name: column for column in self.columns}
        for key in self.primary_key:
            if key not in by_name:
                raise ValueError(f"table {self.name!r}: primary key column {key!r} is not a column")
            if by_name[key].nullable:
                raise ValueError(f"table {self.name!r}: primary key column {key!r} is nullable")

    def create_sql(self, schema: str = "core") -> str:
        """The ``CREATE TABLE IF NOT EXISTS`` statement of this table in ``schema``."""
        lines = [column.sql() for column in self.columns]
        lines.append(f"PRIMARY KEY ({', '.join(_quote(key) for key in self.primary_key)})")
        body = ",\n    ".join(lines)
        return f"CREATE TABLE IF NOT EXISTS {_quote(schema)}.{_quote(self.name)} (\n    {body}\n)"


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _required(name: str, type_: str) -> Column:
    return Column(name, type_, nullable=False)


BRANCH_ID = _required("branch_id", VARCHAR)
LOAD_METADATA = (_required("_source", VARCHAR), _required("_loaded_at", TIMESTAMP))


def _table(name: str, key: Column, *columns: Column, with_branch: bool = True) -> Table:
    """A table laid out by the conventions: key, ``branch_id``, own columns, load metadata."""
    head = (key, BRANCH_ID) if with_branch and key.name != BRANCH_ID.name else (key,)
    return Table(name, (*head, *columns, *LOAD_METADATA), (key.name,))


def _key(name: str) -> Column:
    return _required(name, VARCHAR)


DIM_BRANCH = _table(
    "dim_branch",
    _key("branch_id"),
    _required("name", VARCHAR),
    Column("city", VARCHAR),
    Column("region", VARCHAR),
    Column("country", VARCHAR),
    Column("timezone", VARCHAR),
    _required("currency", VARCHAR),
    Column("head_id", VARCHAR),
    Column("opened_on", DATE),
    Column("closed_on", DATE),
    Column("is_active", BOOLEAN),
)

DIM_EMPLOYEE = _table(
    "dim_employee",
    _key("employee_id"),
    Column("full_name", VARCHAR),
    Column("role", VARCHAR),
    Column("job_title", VARCHAR),
    Column("department", VARCHAR),
    Column("manager_id", VARCHAR),
    Column("email", VARCHAR),
    Column("phone", VARCHAR),
    Column("hired_on", DATE),
    Column("left_on", DATE),
    Column("is_active", BOOLEAN),
)

DIM_CLIENT = _table(
    "dim_client",
    _key("client_id"),
    Column("name", VARCHAR),
    Column("kind", VARCHAR),
    Column("segment", VARCHAR),
    Column("industry", VARCHAR),
    Column("city", VARCHAR),
    Column("address", VARCHAR),
    Column("acquisition_channel", VARCHAR),
    Column("owner_id", VARCHAR),
    Column("tax_id", VARCHAR),
    Column("email", VARCHAR),
    Column("phone", VARCHAR),
    Column("master_client_id", VARCHAR),
    Column("created_at", TIMESTAMP),
    Column("is_deleted", BOOLEAN),
)

DIM_PRODUCT = _table(
    "dim_product",
    _key("product_id"),
    Column("sku", VARCHAR),
    Column("name", VARCHAR),
    Column("category", VARCHAR),
    Column("parent_category", VARCHAR),
    Column("kind", VARCHAR),
    Column("unit", VARCHAR),
    Column("purchase_price", MONEY),
    Column("list_price", MONEY),
    Column("supplier_id", VARCHAR),
    Column("min_stock_qty", QUANTITY),
    Column("is_active", BOOLEAN),
)

DIM_SUPPLIER = _table(
    "dim_supplier",
    _key("supplier_id"),
    Column("name", VARCHAR),
    Column("tax_id", VARCHAR),
    Column("city", VARCHAR),
    Column("country", VARCHAR),
    Column("email", VARCHAR),
    Column("phone", VARCHAR),
    Column("payment_terms_days", INTEGER),
    Column("lead_time_days", INTEGER),
    Column("is_active", BOOLEAN),
)

DIM_WAREHOUSE = _table(
    "dim_warehouse",
    _key("warehouse_id"),
    Column("name", VARCHAR),
    Column("kind", VARCHAR),
    Column("city", VARCHAR),
    Column("address", VARCHAR),
    Column("keeper_id", VARCHAR),
    Column("is_active", BOOLEAN),
)

DIM_DATE = _table(
    "dim_date",
    _required("calendar_date", DATE),
    _required("year", INTEGER),
    _required("quarter", INTEGER),
    _required("month", INTEGER),
    _required("month_name", VARCHAR),
    _required("day_of_month", INTEGER),
    _required("day_of_year", INTEGER),
    _required("iso_year", INTEGER),
    _required("iso_week", INTEGER),
    _required("day_of_week", INTEGER),
    _required("day_name", VARCHAR),
    _required("is_weekend", BOOLEAN),
    _required("is_holiday", BOOLEAN),
    Column("holiday_name", VARCHAR),
    _required("is_workday", BOOLEAN),
    Column("workday_of_month", INTEGER),
    _required("workdays_in_month", INTEGER),
    _required("week_start", DATE),
    _required("month_start", DATE),
    _required("month_end", DATE),
    _required("quarter_start", DATE),
    _required("year_start", DATE),
    with_branch=False,
)

FCT_LEAD = _table(
    "fct_lead",
    _key("lead_id"),
    _required("created_at", TIMESTAMP),
    Column("channel", VARCHAR),
    Column("campaign", VARCHAR),
    Column("contact_name", VARCHAR),
    Column("company_name", VARCHAR),
    Column("email", VARCHAR),
    Column("phone", VARCHAR),
    Column("city", VARCHAR),
    Column("status", VARCHAR),
    Column("reject_reason", VARCHAR),
    Column("owner_id", VARCHAR),
    Column("first_response_at", TIMESTAMP),
    Column("converted_at", TIMESTAMP),
    Column("client_id", VARCHAR),
    Column("deal_id", VARCHAR),
)

FCT_DEAL = _table(
    "fct_deal",
    _key("deal_id"),
    _required("opened_at", TIMESTAMP),
    Column("title", VARCHAR),
    Column("client_id", VARCHAR),
    Column("lead_id", VARCHAR),
    Column("owner_id", VARCHAR),
    Column("pipeline", VARCHAR),
    Column("stage", VARCHAR),
    Column("stage_order", INTEGER),
    Column("status", VARCHAR),
    Column("lost_reason", VARCHAR),
    Column("amount", MONEY),
    Column("probability_pct", PERCENT),
    Column("expected_close_on", DATE),
    Column("closed_at", TIMESTAMP),
)

FCT_DEAL_STAGE = _table(
    "fct_deal_stage",
    _key("deal_stage_id"),
    _required("deal_id", VARCHAR),
    Column("from_stage", VARCHAR),
    Column("to_stage", VARCHAR),
    Column("to_stage_order", INTEGER),
    _required("entered_at", TIMESTAMP),
    Column("left_at", TIMESTAMP),
    Column("changed_by_id", VARCHAR),
)

FCT_ACTIVITY = _table(
    "fct_activity",
    _key("activity_id"),
    _required("occurred_at", TIMESTAMP),
    Column("kind", VARCHAR),
    Column("duration_seconds", INTEGER),
    Column("outcome", VARCHAR),
    Column("subject", VARCHAR),
    Column("employee_id", VARCHAR),
    Column("client_id", VARCHAR),
    Column("deal_id", VARCHAR),
    Column("lead_id", VARCHAR),
)

FCT_TASK = _table(
    "fct_task",
    _key("task_id"),
    _required("created_at", TIMESTAMP),
    Column("title", VARCHAR),
    Column("kind", VARCHAR),
    Column("assignee_id", VARCHAR),
    Column("author_id", VARCHAR),
    Column("client_id", VARCHAR),
    Column("deal_id", VARCHAR),
    Column("due_at", TIMESTAMP),
    Column("done_at", TIMESTAMP),
    Column("status", VARCHAR),
)

FCT_INVOICE = _table(
    "fct_invoice",
    _key("invoice_id"),
    _required("issued_on", DATE),
    Column("invoice_number", VARCHAR),
    Column("kind", VARCHAR),
    Column("status", VARCHAR),
    Column("client_id", VARCHAR),
    Column("deal_id", VARCHAR),
    Column("owner_id", VARCHAR),
    Column("due_on", DATE),
    Column("net_amount", MONEY),
    Column("tax_amount", MONEY),
    Column("total_amount", MONEY),
    Column("ordered_on", DATE),
    Column("required_on", DATE),
    Column("promised_on", DATE),
    Column("shipped_on", DATE),
    Column("client_invoice_no", INTEGER),
    Column("days_since_client_previous_invoice", INTEGER),
)

FCT_INVOICE_LINE = _table(
    "fct_invoice_line",
    _key("invoice_line_id"),
    _required("invoice_id", VARCHAR),
    Column("line_no", INTEGER),
    Column("product_id", VARCHAR),
    Column("description", VARCHAR),
    Column("qty", QUANTITY),
    Column("unit_price", LINE_MONEY),
    Column("discount_amount", LINE_MONEY),
    Column("line_amount", LINE_MONEY),
    Column("tax_amount", LINE_MONEY),
    Column("cost_amount", LINE_MONEY),
)

FCT_PAYMENT = _table(
    "fct_payment",
    _key("payment_id"),
    _required("paid_on", DATE),
    Column("invoice_id", VARCHAR),
    Column("client_id", VARCHAR),
    Column("amount", MONEY),
    Column("method", VARCHAR),
)

FCT_STOCK_MOVE = _table(
    "fct_stock_move",
    _key("stock_move_id"),
    _required("moved_at", TIMESTAMP),
    Column("kind", VARCHAR),
    Column("product_id", VARCHAR),
    Column("warehouse_id", VARCHAR),
    Column("qty", QUANTITY),
    Column("unit_cost", LINE_MONEY),
    Column("counterpart_warehouse_id", VARCHAR),
    Column("purchase_order_id", VARCHAR),
    Column("invoice_id", VARCHAR),
    Column("reason", VARCHAR),
    Column("keeper_id", VARCHAR),
)

FCT_PURCHASE_ORDER = _table(
    "fct_purchase_order",
    _key("purchase_order_id"),
    _required("ordered_on", DATE),
    Column("order_number", VARCHAR),
    Column("supplier_id", VARCHAR),
    Column("warehouse_id", VARCHAR),
    Column("buyer_id", VARCHAR),
    Column("status", VARCHAR),
    Column("expected_on", DATE),
    Column("received_on", DATE),
    Column("total_amount", MONEY),
)

FCT_SERVICE_REQUEST = _table(
    "fct_service_request",
    _key("service_request_id"),
    _required("received_at", TIMESTAMP),
    Column("request_number", VARCHAR),
    Column("kind", VARCHAR),
    Column("status", VARCHAR),
    Column("client_id", VARCHAR),
    Column("product_id", VARCHAR),
    Column("equipment", VARCHAR),
    Column("serial_number", VARCHAR),
    Column("problem", VARCHAR),
    Column("diagnosis", VARCHAR),
    Column("is_warranty", BOOLEAN),
    Column("sla_hours", INTEGER),
    Column("engineer_id", VARCHAR),
    Column("diagnosed_at", TIMESTAMP),
    Column("repaired_at", TIMESTAMP),
    Column("returned_at", TIMESTAMP),
    Column("parts_cost", MONEY),
    Column("invoice_id", VARCHAR),
)

FCT_DELIVERY = _table(
    "fct_delivery",
    _key("delivery_id"),
    _required("planned_start_at", TIMESTAMP),
    Column("planned_end_at", TIMESTAMP),
    Column("status", VARCHAR),
    Column("failure_reason", VARCHAR),
    Column("driver_id", VARCHAR),
    Column("route", VARCHAR),
    Column("warehouse_id", VARCHAR),
    Column("client_id", VARCHAR),
    Column("invoice_id", VARCHAR),
    Column("service_request_id", VARCHAR),
    Column("city", VARCHAR),
    Column("address", VARCHAR),
    Column("distance_km", QUANTITY),
    Column("departed_at", TIMESTAMP),
    Column("delivered_at", TIMESTAMP),
)

CORE_TABLES: tuple[Table, ...] = (
    DIM_BRANCH,
    DIM_EMPLOYEE,
    DIM_CLIENT,
    DIM_PRODUCT,
    DIM_SUPPLIER,
    DIM_WAREHOUSE,
    DIM_DATE,
    FCT_LEAD,
    FCT_DEAL,
    FCT_DEAL_STAGE,
    FCT_ACTIVITY,
    FCT_TASK,
    FCT_INVOICE,
    FCT_INVOICE_LINE,
    FCT_PAYMENT,
    FCT_STOCK_MOVE,
    FCT_PURCHASE_ORDER,
    FCT_SERVICE_REQUEST,
    FCT_DELIVERY,
)
"""Every table of the canonical model, dimensions first."""

BRANCH_INDEPENDENT_TABLES: frozenset[str] = frozenset(
    table.name
    for table in CORE_TABLES
    if BRANCH_ID.name not in {column.name for column in table.columns}
)
"""Tables without ``branch_id``: the calendar is one for the whole company."""

FILLED_BY_KPIBOARD: dict[str, frozenset[str]] = {
    "fct_invoice": frozenset({"client_invoice_no", "days_since_client_previous_invoice"}),
}
"""Columns kpiboard computes after the models have run (``etl.firsts``); a model leaves them out."""

MACROS: tuple[str, ...] = (
    # a local date or date-time (naive) of ``zone`` → the UTC instant; a DATE is its local
    # midnight. A local time in a spring-forward gap is read with the offset in force before the
    # change (02:30 that does not exist → 03:30 of the new offset); a time of the repeated autumn
    # hour is read as its second occurrence (standard time), as PostgreSQL does.
    "CREATE OR REPLACE MACRO utc_from_local(local_time, zone) AS "
    "timezone('UTC', timezone(zone, CAST(local_time AS TIMESTAMP)))",
    # a UTC TIMESTAMP → the wall-clock time of ``zone`` (naive TIMESTAMP)
    "CREATE OR REPLACE MACRO local_timestamp(utc_time, zone) AS "
    "timezone(zone, timezone('UTC', CAST(utc_time AS TIMESTAMP)))",
    # a UTC TIMESTAMP → the calendar date in ``zone``
    "CREATE OR REPLACE MACRO local_date(utc_time, zone) AS "
    "CAST(timezone(zone, timezone('UTC', CAST(utc_time AS TIMESTAMP))) AS DATE)",
)
"""The time-zone macros every snapshot has (``main`` schema), for models, ``kpiboard sql`` and
KPI SQL alike. Each returns null when a value or the zone is null."""


def ddl(schema: str = "core") -> list[str]:
    """The statements that create the canonical model in ``schema``, in order (plain SQL, so a
    PostgreSQL warehouse takes them too; the DuckDB macros are :func:`create_core_schema`'s).

    Every statement is ``IF NOT EXISTS``, so running them on a schema that already holds the model
    (and its data) changes nothing. ``schema`` is a parameter so the pipeline can build the next
    snapshot beside the published one.
    """
    return [
        f"CREATE SCHEMA IF NOT EXISTS {_quote(schema)}",
        *(table.create_sql(schema) for table in CORE_TABLES),
    ]


def create_core_schema(con: duckdb.DuckDBPyConnection, schema: str = "core") -> None:
    """Create the canonical model in ``schema`` of ``con`` and the time-zone macros; idempotent,
    keeps existing rows."""
    for statement in (*ddl(schema), *MACROS):
        con.execute(statement)
