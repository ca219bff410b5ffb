"""The demo company's models (``etl/models/brightline``) on a real generated demo.

Once per session the demo is generated at scale 0.05 into SQLite files, each table is copied into
``raw_<db>.<table>`` by a small test-only loader that follows the raw contract (types mapped from
the demo's schema, plus ``_source``, ``_loaded_at`` and ``_deleted_at``), a few rows are marked as
deleted at the source, and the staging views and the models are run. Every check compares ``core``
with the raw tables through SQL of its own, never through the models or the staging views.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import pandas as pd
import pytest

import etl
from etl.sources import duckdb_type
from etl.transform import ModelRun, StagingSource, create_staging_views, load_models, run_models
from kpiboard.core_model import BRANCH_INDEPENDENT_TABLES, CORE_TABLES, create_core_schema
from kpiboard.demo import build_sources, company, metadata_for
from kpiboard.demo.dirt import Defect, read_manifest

MODELS = Path(etl.__file__).parent / "models" / "brightline"
CRMS = [b.database for b in company.BRANCHES]
STOCK = company.STOCK_DATABASE
SOURCES = [*CRMS, STOCK]
BRANCHES = {b.database: b.code for b in company.BRANCHES}
# each source is loaded at its own time, so _loaded_at shows which raw row a core row came from
LOADED_AT = {
    name: dt.datetime(2026, 11, 1, 6, 0) + dt.timedelta(minutes=i) for i, name in enumerate(SOURCES)
}
DELETED_AT = dt.datetime(2026, 11, 1, 5, 0)
# rows deleted at the source, each with the core table it would otherwise be in
DELETED = [
    ("crm_denver", "invoices", 7, "fct_invoice"),
    ("crm_denver", "payments", 3, "fct_payment"),
    ("crm_austin", "clients", 5, "dim_client"),
    ("crm_austin", "activities", 11, "fct_activity"),
    ("crm_portland", "deals", 4, "fct_deal"),
    (STOCK, "products", 3, "dim_product"),
    (STOCK, "suppliers", 2, "dim_supplier"),
]
# an invoice the CRM's users deleted (the CRM's own soft-delete flag): not a fact any more
SOFT_DELETED_INVOICE = ("crm_austin", 9)


@dataclass(frozen=True)
class Demo:
    con: duckdb.DuckDBPyConnection
    runs: list[ModelRun]
    defects: list[Defect]
    deleted_transfer: int  # the id of a transfer deleted at the source


def _load_raw(con: duckdb.DuckDBPyConnection, folder: Path, database: str) -> tuple[str, ...]:
    """Copy one SQLite database into ``raw_<database>`` the way extraction does."""
    con.execute(f'CREATE SCHEMA "raw_{database}"')
    tables = metadata_for(database).tables.values()
    with closing(sqlite3.connect(folder / f"{database}.sqlite")) as lite:
        for table in tables:
            frame = pd.read_sql_query(
                f'SELECT * FROM "{table.name}"', lite, dtype_backend="pyarrow"
            )
            columns = [(c.name, duckdb_type(c.type)) for c in table.columns]  # as extraction does
            ddl = ", ".join(f'"{name}" {kind}' for name, kind in columns)
            con.execute(
                f'CREATE TABLE "raw_{database}"."{table.name}" ({ddl}, '
                "_source VARCHAR, _loaded_at TIMESTAMP, _deleted_at TIMESTAMP)"
            )
            values = ", ".join(f'CAST("{name}" AS {kind})' for name, kind in columns)
            con.register("frame", frame)
            con.execute(
                f'INSERT INTO "raw_{database}"."{table.name}" '
                f"SELECT {values}, ?, ?, NULL FROM frame",
                [database, LOADED_AT[database]],
            )
            con.unregister("frame")
    return tuple(table.name for table in tables)


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    folder = tmp_path_factory.mktemp("demo")
    build_sources(f"sqlite:///{folder}/{{db}}.sqlite", seed=3, scale=0.05)
    con = duckdb.connect()
    staging = []
    for database in SOURCES:
        tables = _load_raw(con, folder, database)
        branch = BRANCHES.get(database)
        staging.append(StagingSource(database, "crm" if branch else None, branch, tables))
    for database, table, key, _ in DELETED:
        con.execute(
            f"UPDATE raw_{database}.{table} SET _deleted_at = ? WHERE id = ?", [DELETED_AT, key]
        )
    con.execute(
        f"UPDATE raw_{SOFT_DELETED_INVOICE[0]}.invoices SET is_deleted = TRUE WHERE id = ?",
        [SOFT_DELETED_INVOICE[1]],
    )
    row = con.execute(
        "UPDATE raw_stock.stock_moves SET _deleted_at = ? WHERE id = "
        "(SELECT min(id) FROM raw_stock.stock_moves WHERE move_type = 'TRNS') RETURNING id",
        [DELETED_AT],
    ).fetchone()
    assert row is not None
    create_core_schema(con)
    create_staging_views(con, staging)
    runs = run_models(con, load_models(MODELS))
    yield Demo(con, runs, read_manifest(folder / "dirt_manifest.csv"), int(row[0]))
    con.close()


def scalar(demo: Demo, sql: str) -> Any:
    row = demo.con.execute(sql).fetchone()
    assert row is not None
    return row[0]


def rows(demo: Demo, sql: str) -> set[tuple[Any, ...]]:
    return set(demo.con.execute(sql).fetchall())


def assert_no_rows(demo: Demo, sql: str) -> None:
    """``sql`` finds nothing; when it does, the first rows found are in the failure."""
    found = demo.con.execute(f"SELECT * FROM ({sql}) LIMIT 5").fetchall()
    assert found == [], sql


def raw(table: str, sources: list[str] = CRMS) -> str:
    """The live rows of ``table`` of every source, with their source as column ``db``."""
    return (
        "("
        + " UNION ALL ".join(
            f"SELECT *, '{s}' AS db FROM raw_{s}.{table} WHERE _deleted_at IS NULL" for s in sources
        )
        + ")"
    )


def every(table: str, sources: list[str] = CRMS) -> str:
    """Every loaded row of ``table``, those deleted at the source too, with its source as
    ``db``: what the dimensions keep (flagged or inactive) so that the facts naming them
    resolve."""
    return (
        "("
        + " UNION ALL ".join(f"SELECT *, '{s}' AS db FROM raw_{s}.{table}" for s in sources)
        + ")"
    )


def kept_payments() -> str:
    """The live payments but those of invoices deleted in the CRM, which leave with them."""
    return (
        f"(SELECT c.* FROM {raw('payments')} AS c WHERE NOT EXISTS "
        f"(SELECT 1 FROM {raw('invoices')} AS i "
        "WHERE i.db = c.db AND i.id = c.invoice_id AND i.is_deleted))"
    )


def kept_items() -> str:
    """The live invoice items but those of invoices deleted in the CRM, which core leaves out."""
    return (
        f"(SELECT c.* FROM {raw('invoice_items')} AS c WHERE NOT EXISTS "
        f"(SELECT 1 FROM {raw('invoices')} AS i "
        "WHERE i.db = c.db AND i.id = c.invoice_id AND i.is_deleted))"
    )


# --- the run ------------------------------------------------------------------------------------


def test_one_model_per_core_table_and_each_ran(demo: Demo) -> None:
    assert sorted(r.name for r in demo.runs) == sorted(f"core.{t.name}" for t in CORE_TABLES)
    assert {p.stem for p in (MODELS / "core").glob("*.sql")} == {t.name for t in CORE_TABLES}
    for run in demo.runs:
        assert run.rows == scalar(demo, f"SELECT count(*) FROM {run.name}"), run.name


def test_models_run_after_the_models_they_read(demo: Demo) -> None:
    order = [r.name for r in demo.runs]
    for reader, read in [
        ("core.fct_invoice_line", "core.fct_stock_move"),
        ("core.fct_stock_move", "core.fct_invoice"),
        ("core.fct_stock_move", "core.dim_warehouse"),
        ("core.fct_payment", "core.dim_branch"),
    ]:
        assert order.index(read) < order.index(reader)


@pytest.mark.parametrize("table", [t.name for t in CORE_TABLES])
def test_every_core_table_has_rows(demo: Demo, table: str) -> None:
    assert scalar(demo, f"SELECT count(*) FROM core.{table}") > 0


def test_every_model_says_what_one_row_is(demo: Demo) -> None:
    for path in sorted((MODELS / "core").glob("*.sql")):
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith("-- One row per"), path.name


# --- row counts ---------------------------------------------------------------------------------

LIVE = "NOT is_deleted"
LIVE_AT_SOURCE = "_deleted_at IS NULL AND NOT is_deleted"
ROW_COUNTS = {
    "dim_branch": f"SELECT count(DISTINCT db) FROM {raw('users')}",
    # dimensions keep their rows deleted at the source (inactive) and clients deleted in the CRM
    # (flagged), so the facts naming them resolve
    "dim_employee": f"SELECT count(*) FROM {every('users')}",
    "dim_client": f"SELECT count(*) FROM {every('clients')}",
    "dim_product": f"SELECT count(*) FROM {every('products', [STOCK])}",
    "dim_supplier": f"SELECT count(*) FROM {every('suppliers', [STOCK])}",
    "dim_warehouse": f"SELECT count(*) FROM {every('warehouses', [STOCK])}",
    "dim_date": "SELECT DATE '2030-12-31' - DATE '2016-01-01' + 1",
    "fct_lead": f"SELECT count(*) FROM {raw('leads')} WHERE {LIVE}",
    "fct_deal": f"SELECT count(*) FROM {raw('deals')} WHERE {LIVE}",
    "fct_deal_stage": f"""
        SELECT count(*) FROM {raw("deal_stage_history")} AS h
        WHERE NOT EXISTS (
            SELECT 1 FROM {raw("deals")} AS d
            WHERE d.db = h.db AND d.id = h.deal_id AND d.is_deleted
        )""",
    "fct_activity": f"SELECT count(*) FROM {raw('activities')}",
    "fct_task": f"SELECT count(*) FROM {raw('tasks')} WHERE {LIVE}",
    "fct_invoice": f"SELECT count(*) FROM {raw('invoices')} WHERE {LIVE}",
    "fct_invoice_line": f"SELECT count(*) FROM {kept_items()}",
    "fct_payment": f"SELECT count(*) FROM {kept_payments()}",
    # a transfer is two rows: out of one warehouse, into the other
    "fct_stock_move": f"""
        SELECT count(*) + count(*) FILTER (WHERE move_type = 'TRNS')
        FROM {raw("stock_moves", [STOCK])}""",
    "fct_purchase_order": f"SELECT count(*) FROM {raw('purchase_orders', [STOCK])}",
    "fct_service_request": f"SELECT count(*) FROM {raw('service_requests')} WHERE {LIVE}",
    "fct_delivery": f"SELECT count(*) FROM {raw('deliveries')}",
}


def test_row_counts_cover_every_table() -> None:
    assert set(ROW_COUNTS) == {t.name for t in CORE_TABLES}


@pytest.mark.parametrize("table", sorted(ROW_COUNTS))
def test_row_count_equals_the_live_raw_rows(demo: Demo, table: str) -> None:
    assert scalar(demo, f"SELECT count(*) FROM core.{table}") == scalar(demo, ROW_COUNTS[table])


def test_fct_invoice_is_the_three_crms_invoices(demo: Demo) -> None:
    by_source = rows(demo, "SELECT _source, count(*) FROM core.fct_invoice GROUP BY 1")
    expected = {
        (s, scalar(demo, f"SELECT count(*) FROM raw_{s}.invoices WHERE {LIVE_AT_SOURCE}"))
        for s in CRMS
    }
    assert by_source == expected
    assert len(expected) == 3


# --- money reconciles ---------------------------------------------------------------------------

MONEY = [
    (
        "fct_invoice",
        "total_amount",
        f"SELECT db, sum(total_amount) FROM {raw('invoices')} WHERE {LIVE} GROUP BY db",
    ),
    (
        "fct_invoice",
        "net_amount",
        f"SELECT db, sum(total_amount) FROM {raw('invoices')} WHERE {LIVE} GROUP BY db",
    ),
    ("fct_payment", "amount", f"SELECT db, sum(amount) FROM {kept_payments()} GROUP BY db"),
    (
        "fct_invoice_line",
        "line_amount",
        f"SELECT db, sum(line_total) FROM {kept_items()} GROUP BY db",
    ),
    ("fct_deal", "amount", f"SELECT db, sum(amount) FROM {raw('deals')} WHERE {LIVE} GROUP BY db"),
    (
        "fct_purchase_order",
        "total_amount",
        f"SELECT db, sum(total_cost) FROM {raw('purchase_orders', [STOCK])} GROUP BY db",
    ),
    (
        "fct_service_request",
        "parts_cost",
        f"SELECT db, sum(parts_cost) FROM {raw('service_requests')} WHERE {LIVE} GROUP BY db",
    ),
]


@pytest.mark.parametrize(("table", "column", "sql"), MONEY, ids=[f"{t}.{c}" for t, c, _ in MONEY])
def test_money_reconciles_with_raw_per_source(
    demo: Demo, table: str, column: str, sql: str
) -> None:
    core = rows(demo, f"SELECT _source, sum({column}) FROM core.{table} GROUP BY 1")
    assert core == rows(demo, sql)
    # line money keeps the source's precision; document totals are cents (docs/model.md)
    money = "DECIMAL(18,6)" if table == "fct_invoice_line" else "DECIMAL(18,2)"
    assert scalar(demo, f"SELECT typeof({column}) FROM core.{table} LIMIT 1") == money


def test_invoice_lines_add_up_to_their_invoice(demo: Demo) -> None:
    assert_no_rows(
        demo,
        """
        SELECT *
        FROM core.fct_invoice AS i
        JOIN (SELECT invoice_id, sum(line_amount) AS lines FROM core.fct_invoice_line GROUP BY 1)
            AS l USING (invoice_id)
        WHERE i.net_amount <> round(l.lines, 2) OR i.total_amount <> i.net_amount + i.tax_amount
        """,
    )
    # the CRM rounds each line to the cent on its own (fractional hours of labour), so the
    # identity holds to a cent
    assert_no_rows(
        demo,
        "SELECT * FROM core.fct_invoice_line "
        "WHERE abs(line_amount - (qty * unit_price - discount_amount)) > 0.01",
    )


def test_discounts_are_money_not_percent(demo: Demo) -> None:
    found = demo.con.execute(
        "SELECT CAST(r.qty * r.unit_price * r.discount_pct / 100 AS DECIMAL(18, 4)), "
        "c.discount_amount "
        f"FROM core.fct_invoice_line AS c "
        f"JOIN {raw('invoice_items')} AS r ON c.invoice_line_id = r.db || ':' || r.id"
    ).fetchall()
    assert found
    for expected, discount in found:
        assert abs(expected - discount) <= Decimal("0.005"), (expected, discount)
    assert sum(1 for expected, _ in found if expected > 0) > 100
    assert all(discount == 0 for expected, discount in found if expected == 0)


def test_stock_on_hand_reconciles_with_raw_movements(demo: Demo) -> None:
    core = rows(
        demo,
        "SELECT product_id, warehouse_id, sum(qty) FROM core.fct_stock_move "
        "GROUP BY ALL HAVING sum(qty) <> 0",
    )
    moves = raw("stock_moves", [STOCK])
    independent = rows(
        demo,
        f"""
        WITH signed AS (
            SELECT product_id, warehouse_id,
                CASE WHEN move_type IN ('SHIP', 'WOFF', 'TRNS') THEN -qty ELSE qty END AS qty
            FROM {moves}
            UNION ALL
            SELECT product_id, to_warehouse_id, qty FROM {moves} WHERE move_type = 'TRNS'
        )
        SELECT 'stock:' || product_id, 'stock:' || warehouse_id, sum(qty)
        FROM signed GROUP BY ALL HAVING sum(qty) <> 0
        """,
    )
    assert core == independent
    assert len(core) > 100


def test_a_transfer_is_two_rows_naming_each_other(demo: Demo) -> None:
    pairs = demo.con.execute(
        """
        SELECT o.qty, i.qty, o.warehouse_id, i.counterpart_warehouse_id,
               i.warehouse_id, o.counterpart_warehouse_id
        FROM core.fct_stock_move AS o
        JOIN core.fct_stock_move AS i ON i.stock_move_id = o.stock_move_id || ':in'
        WHERE o.kind = 'transfer'
        """
    ).fetchall()
    assert len(pairs) == scalar(
        demo,
        "SELECT count(*) FROM raw_stock.stock_moves WHERE move_type = 'TRNS' "
        "AND _deleted_at IS NULL",
    )
    for out_qty, in_qty, out_wh, in_counterpart, in_wh, out_counterpart in pairs:
        assert out_qty == -in_qty
        assert (out_wh, in_wh) == (in_counterpart, out_counterpart)


# --- keys and references ------------------------------------------------------------------------

QUALIFIED = [t for t in CORE_TABLES if t.name not in ("dim_branch", "dim_date")]


@pytest.mark.parametrize("table", QUALIFIED, ids=[t.name for t in QUALIFIED])
def test_keys_are_unique_and_qualified_by_source(demo: Demo, table: Any) -> None:
    key = table.primary_key[0]
    total, distinct, unqualified = demo.con.execute(
        f"SELECT count(*), count(DISTINCT {key}), "
        f"count(*) FILTER (WHERE NOT regexp_full_match({key}, _source || ':[0-9]+(:in)?')) "
        f"FROM core.{table.name}"
    ).fetchone() or (0, 0, 0)
    assert total == distinct
    assert unqualified == 0
    assert rows(demo, f"SELECT DISTINCT _source FROM core.{table.name}") <= {(s,) for s in SOURCES}


def test_branch_keys_are_branch_codes(demo: Demo) -> None:
    assert rows(demo, "SELECT branch_id, timezone, currency FROM core.dim_branch") == {
        ("denver", "America/Denver", "USD"),
        ("austin", "America/Chicago", "USD"),
        ("portland", "America/Los_Angeles", "USD"),
    }
    heads = rows(
        demo,
        "SELECT b.branch_id, e.job_title, e.branch_id FROM core.dim_branch AS b "
        "JOIN core.dim_employee AS e ON e.employee_id = b.head_id",
    )
    assert heads == {(code, "Branch head", code) for code in BRANCHES.values()}


WITH_BRANCH = [t.name for t in CORE_TABLES if t.name not in BRANCH_INDEPENDENT_TABLES]


@pytest.mark.parametrize("table", WITH_BRANCH)
def test_branch_id_resolves(demo: Demo, table: str) -> None:
    assert_no_rows(
        demo,
        f"SELECT * FROM core.{table} WHERE branch_id NOT IN "
        "(SELECT branch_id FROM core.dim_branch)",
    )


def test_crm_rows_carry_their_sources_branch(demo: Demo) -> None:
    for table in ("dim_employee", "dim_client", "fct_invoice", "fct_activity", "fct_delivery"):
        assert rows(demo, f"SELECT DISTINCT _source, branch_id FROM core.{table}") == set(
            BRANCHES.items()
        ), table


def test_company_wide_rows_belong_to_the_head_office_and_stock_to_its_warehouse(
    demo: Demo,
) -> None:
    assert rows(demo, "SELECT DISTINCT branch_id FROM core.dim_product") == {("denver",)}
    assert rows(demo, "SELECT DISTINCT branch_id FROM core.dim_supplier") == {("denver",)}
    assert rows(demo, "SELECT name, kind, branch_id FROM core.dim_warehouse") == {
        ("Central warehouse", "main", "denver"),
        ("Denver branch stock", "store", "denver"),
        ("Austin branch stock", "store", "austin"),
        ("Portland branch stock", "store", "portland"),
    }
    assert_no_rows(
        demo,
        "SELECT * FROM core.fct_stock_move AS m "
        "JOIN core.dim_warehouse AS w USING (warehouse_id) WHERE m.branch_id <> w.branch_id",
    )


def _dangling_raw(
    child: str,
    fk: str,
    parent: str,
    parent_filter: str = "TRUE",
    *,
    child_filter: str = "TRUE",
    sources: list[str] = CRMS,
    parent_sources: list[str] | None = None,
) -> str:
    """Keys of raw ``child`` rows whose ``fk`` names no live ``parent`` row (NULL fk excluded)."""
    same_source = "AND p.db = c.db" if parent_sources is None else ""
    return f"""
        SELECT c.db || ':' || c.id
        FROM {raw(child, sources)} AS c
        WHERE {child_filter} AND c.{fk} IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM {raw(parent, parent_sources or sources)} AS p
            WHERE p.id = c.{fk} {same_source} AND {parent_filter}
        )"""


# (core table, key, reference, core table referred to, its key, raw rows expected to dangle)
REFERENCES = [
    (
        "fct_invoice",
        "invoice_id",
        "client_id",
        "dim_client",
        "client_id",
        _dangling_raw("invoices", "client_id", "clients", child_filter="NOT c.is_deleted").replace(
            raw("clients"), every("clients")
        ),
    ),
    # an activity's deal that is not in core (an orphan, a deal deleted) is null: nothing dangles
    ("fct_activity", "activity_id", "deal_id", "fct_deal", "deal_id", "SELECT 1 WHERE FALSE"),
    # so is its lead (junk the CRM's users deleted)
    ("fct_activity", "activity_id", "lead_id", "fct_lead", "lead_id", "SELECT 1 WHERE FALSE"),
    (
        "fct_payment",
        "payment_id",
        "invoice_id",
        "fct_invoice",
        "invoice_id",
        _dangling_raw("payments", "invoice_id", "invoices", "NOT p.is_deleted").replace(
            raw("payments"), kept_payments()
        ),
    ),
    (
        "fct_invoice_line",
        "invoice_line_id",
        "invoice_id",
        "fct_invoice",
        "invoice_id",
        _dangling_raw("invoice_items", "invoice_id", "invoices", "NOT p.is_deleted").replace(
            raw("invoice_items"), kept_items()
        ),
    ),
    (
        "fct_deal",
        "deal_id",
        "owner_id",
        "dim_employee",
        "employee_id",
        _dangling_raw("deals", "owner_user_id", "users", child_filter="NOT c.is_deleted").replace(
            raw("users"), every("users")
        ),
    ),
    (
        "dim_client",
        "client_id",
        "owner_id",
        "dim_employee",
        "employee_id",
        _dangling_raw("clients", "responsible_user_id", "users").replace(
            raw("users"), every("users")
        ),
    ),
    (
        "dim_employee",
        "employee_id",
        "manager_id",
        "dim_employee",
        "employee_id",
        _dangling_raw("users", "manager_id", "users").replace(raw("users"), every("users")),
    ),
    (
        "fct_service_request",
        "service_request_id",
        "engineer_id",
        "dim_employee",
        "employee_id",
        _dangling_raw(
            "service_requests", "engineer_id", "users", child_filter="NOT c.is_deleted"
        ).replace(raw("users"), every("users")),
    ),
    (
        "fct_delivery",
        "delivery_id",
        "driver_id",
        "dim_employee",
        "employee_id",
        _dangling_raw("deliveries", "driver_id", "users").replace(raw("users"), every("users")),
    ),
    (
        "fct_lead",
        "lead_id",
        "client_id",
        "dim_client",
        "client_id",
        _dangling_raw(
            "leads", "converted_client_id", "clients", child_filter="NOT c.is_deleted"
        ).replace(raw("clients"), every("clients")),
    ),
    (
        "dim_product",
        "product_id",
        "supplier_id",
        "dim_supplier",
        "supplier_id",
        _dangling_raw("products", "supplier_id", "suppliers", sources=[STOCK]).replace(
            raw("suppliers", [STOCK]), every("suppliers", [STOCK])
        ),
    ),
    (
        "fct_purchase_order",
        "purchase_order_id",
        "supplier_id",
        "dim_supplier",
        "supplier_id",
        _dangling_raw("purchase_orders", "supplier_id", "suppliers", sources=[STOCK]).replace(
            raw("suppliers", [STOCK]), every("suppliers", [STOCK])
        ),
    ),
    (
        "fct_stock_move",
        "stock_move_id",
        "product_id",
        "dim_product",
        "product_id",
        (
            _dangling_raw("stock_moves", "product_id", "products", sources=[STOCK])
            + " UNION ALL "
            + _dangling_raw(
                "stock_moves",
                "product_id",
                "products",
                child_filter="c.move_type = 'TRNS'",
                sources=[STOCK],
            ).replace("c.db || ':' || c.id", "c.db || ':' || c.id || ':in'")
        ).replace(raw("products", [STOCK]), every("products", [STOCK])),
    ),
    (
        "fct_stock_move",
        "stock_move_id",
        "warehouse_id",
        "dim_warehouse",
        "warehouse_id",
        _dangling_raw("stock_moves", "warehouse_id", "warehouses", sources=[STOCK]).replace(
            raw("warehouses", [STOCK]), every("warehouses", [STOCK])
        ),
    ),
    (
        "fct_deal_stage",
        "deal_stage_id",
        "deal_id",
        "fct_deal",
        "deal_id",
        _dangling_raw("deal_stage_history", "deal_id", "deals"),
    ),
]


@pytest.mark.parametrize(
    ("table", "key", "ref", "parent", "parent_key", "dangling"),
    REFERENCES,
    ids=[f"{r[0]}.{r[2]}" for r in REFERENCES],
)
def test_references_of_clean_rows_resolve_and_dirty_ones_pass_through(
    demo: Demo, table: str, key: str, ref: str, parent: str, parent_key: str, dangling: str
) -> None:
    unresolved = rows(
        demo,
        f"SELECT c.{key} FROM core.{table} AS c WHERE c.{ref} IS NOT NULL AND NOT EXISTS "
        f"(SELECT 1 FROM core.{parent} AS p WHERE p.{parent_key} = c.{ref})",
    )
    assert unresolved == rows(demo, dangling)
    resolved = scalar(
        demo,
        f"SELECT count(*) FROM core.{table} AS c "
        f"JOIN core.{parent} AS p ON p.{parent_key} = c.{ref}",
    )
    assert resolved > 0


def test_every_listed_orphan_is_in_core_with_its_reference_unresolved(demo: Demo) -> None:
    """Without validation, an orphan invoice or stock move reaches core as typed; an activity's
    deal that is not in core is null (an optional reference, unknown: see fct_activity.sql)."""
    targets = {
        "deal_id": ("fct_activity", "activity_id", "fct_deal"),
        "client_id": ("fct_invoice", "invoice_id", "dim_client"),
        "product_id": ("fct_stock_move", "stock_move_id", "dim_product"),
    }
    orphans = [d for d in demo.defects if d.kind == "orphan_reference"]
    assert orphans
    for defect in orphans:
        table, key, parent = targets[defect.column]
        found = demo.con.execute(
            f"SELECT c.{defect.column}, p.{defect.column} FROM core.{table} AS c "
            f"LEFT JOIN core.{parent} AS p USING ({defect.column}) WHERE c.{key} = ?",
            [f"{defect.database}:{defect.primary_key}"],
        ).fetchall()
        assert len(found) == 1, defect
        reference, resolved = found[0]
        assert resolved is None, defect
        if defect.column == "deal_id":
            assert reference is None, defect
        else:
            assert reference is not None, defect


def test_invoice_lines_find_their_product_by_sku(demo: Demo) -> None:
    lines = kept_items()
    products = raw("products", [STOCK])
    expected = rows(
        demo,
        f"SELECT li.db || ':' || li.id, 'stock:' || p.id FROM {lines} AS li "
        f"LEFT JOIN {products} AS p ON p.sku = li.sku",
    )
    assert rows(demo, "SELECT invoice_line_id, product_id FROM core.fct_invoice_line") == expected
    # the product deleted at the source: its lines keep no product, the others all have one
    unknown = rows(
        demo, "SELECT invoice_line_id FROM core.fct_invoice_line WHERE product_id IS NULL"
    )
    assert unknown == {(k,) for k, p in expected if p is None}
    assert_no_rows(
        demo,
        "SELECT * FROM core.fct_invoice_line WHERE product_id NOT IN "
        "(SELECT product_id FROM core.dim_product)",
    )


def test_line_costs_come_from_shipments_of_goods(demo: Demo) -> None:
    kinds = rows(
        demo,
        "SELECT DISTINCT p.kind FROM core.fct_invoice_line AS l "
        "JOIN core.dim_product AS p USING (product_id) WHERE l.cost_amount IS NOT NULL",
    )
    assert kinds == {("good",)}
    assert_no_rows(
        demo,
        """
        SELECT * FROM core.fct_invoice_line AS l
        WHERE l.cost_amount IS NULL AND EXISTS (
            SELECT 1 FROM core.fct_stock_move AS m
            WHERE m.kind = 'shipment' AND m.invoice_id = l.invoice_id
              AND m.product_id = l.product_id AND m.unit_cost IS NOT NULL)
        """,
    )


def test_shipments_and_receipts_find_their_documents(demo: Demo) -> None:
    moves = raw("stock_moves", [STOCK])
    # a shipment's doc_ref is '<branch>/<invoice number>'; the invoice of one was deleted
    expected = rows(
        demo,
        f"""
        SELECT 'stock:' || m.id, i.db || ':' || i.id
        FROM {moves} AS m
        LEFT JOIN {raw("invoices")} AS i
            ON i.db = 'crm_' || split_part(m.doc_ref, '/', 1)
            AND i.number = split_part(m.doc_ref, '/', 2) AND NOT i.is_deleted
        WHERE m.move_type = 'SHIP'
        """,
    )
    assert (
        rows(
            demo,
            "SELECT stock_move_id, invoice_id FROM core.fct_stock_move WHERE kind = 'shipment'",
        )
        == expected
    )
    assert 0 < sum(1 for _, invoice in expected if invoice is None) < len(expected) / 100
    receipts = rows(
        demo,
        f"SELECT 'stock:' || m.id, 'stock:' || o.id FROM {moves} AS m "
        f"JOIN {raw('purchase_orders', [STOCK])} AS o ON o.number = m.doc_ref "
        "WHERE m.move_type = 'RCPT'",
    )
    assert (
        rows(
            demo,
            "SELECT stock_move_id, purchase_order_id FROM core.fct_stock_move "
            "WHERE kind = 'receipt'",
        )
        == receipts
    )
    assert receipts


# --- coded values -------------------------------------------------------------------------------

# (core table, key, core column, raw table, raw code column, expected mapping)
MAPPINGS = [
    (
        "dim_employee",
        "employee_id",
        "role",
        "users",
        "role_code",
        {
            "SM": "sales_manager",
            "SE": "service_engineer",
            "DR": "driver",
            "WK": "warehouse_keeper",
            "HD": "executive",
            "EX": "executive",
            "AN": "analyst",
        },
    ),
    ("dim_client", "client_id", "kind", "clients", "client_type", {"C": "company", "P": "person"}),
    (
        "fct_deal",
        "deal_id",
        "status",
        "deals",
        "status_code",
        {"O": "open", "W": "won", "L": "lost"},
    ),
    (
        "fct_activity",
        "activity_id",
        "kind",
        "activities",
        "type_code",
        {"CIN": "call_in", "COUT": "call_out", "MEET": "meeting", "MAIL": "email", "VIS": "visit"},
    ),
    (
        "fct_lead",
        "lead_id",
        "status",
        "leads",
        "status_code",
        {
            "NEW": "new",
            "WRK": "in_progress",
            "CNV": "converted",
            "REJ": "rejected",
            "JNK": "rejected",
        },
    ),
    (
        "fct_lead",
        "lead_id",
        "channel",
        "leads",
        "channel_code",
        {
            "WEB": "website_form",
            "CALL": "call_in",
            "REF": "referral",
            "MAIL": "email",
            "EXPO": "exhibition",
            "MKTP": "marketplace",
            "ADS": "other",
        },
    ),
    (
        "fct_task",
        "task_id",
        "status",
        "tasks",
        "status_code",
        {"OPEN": "open", "DONE": "done", "CANC": "cancelled"},
    ),
    (
        "fct_invoice",
        "invoice_id",
        "status",
        "invoices",
        "status_code",
        {"ISS": "issued", "PART": "partially_paid", "PAID": "paid", "CANC": "cancelled"},
    ),
    (
        "fct_payment",
        "payment_id",
        "method",
        "payments",
        "method_code",
        {"BANK": "bank_transfer", "CARD": "card", "CASH": "cash"},
    ),
    (
        "fct_service_request",
        "service_request_id",
        "status",
        "service_requests",
        "status_code",
        {
            "NEW": "received",
            "DIAG": "diagnosing",
            "WAIT": "waiting_parts",
            "REP": "repairing",
            "DONE": "ready",
            "RET": "returned",
            "CANC": "cancelled",
        },
    ),
    (
        "fct_delivery",
        "delivery_id",
        "status",
        "deliveries",
        "status_code",
        {"PLAN": "planned", "DONE": "delivered", "FAIL": "failed", "CANC": "cancelled"},
    ),
    (
        "fct_stock_move",
        "stock_move_id",
        "kind",
        "stock_moves",
        "move_type",
        {
            "RCPT": "receipt",
            "SHIP": "shipment",
            "WOFF": "write_off",
            "TRNS": "transfer",
            "ADJ": "adjustment",
        },
    ),
    (
        "fct_purchase_order",
        "purchase_order_id",
        "status",
        "purchase_orders",
        "status_code",
        {"SENT": "ordered", "RCVD": "received", "DRFT": "draft", "CANC": "cancelled"},
    ),
    ("dim_product", "product_id", "kind", "products", "kind", {"G": "good", "S": "service"}),
]


@pytest.mark.parametrize(
    ("table", "key", "column", "raw_table", "code", "mapping"),
    MAPPINGS,
    ids=[f"{m[0]}.{m[2]}" for m in MAPPINGS],
)
def test_source_codes_map_to_the_canonical_values(
    demo: Demo,
    table: str,
    key: str,
    column: str,
    raw_table: str,
    code: str,
    mapping: dict[str, str],
) -> None:
    sources = [STOCK] if raw_table in ("stock_moves", "purchase_orders", "products") else CRMS
    pairs = rows(
        demo,
        f"SELECT DISTINCT r.{code}, c.{column} FROM core.{table} AS c "
        f"JOIN {raw(raw_table, sources)} AS r ON c.{key} = r.db || ':' || r.id",
    )
    assert pairs <= set(mapping.items())
    # every code the demo uses is mapped (a mapping that fell back to `other` would show)
    used = rows(demo, f"SELECT DISTINCT {code} FROM {raw(raw_table, sources)}")
    assert {c for c, _ in pairs} == {c for (c,) in used}


# the canonical acquisition channels, shared by clients and leads (docs/model.md)
CHANNELS = {
    "website_form",
    "call_in",
    "email",
    "chat",
    "referral",
    "social",
    "marketplace",
    "exhibition",
    "walk_in",
    "other",
}

VOCABULARY = {
    ("dim_employee", "role"): {
        "sales_manager",
        "service_engineer",
        "driver",
        "warehouse_keeper",
        "executive",
        "analyst",
    },
    ("dim_client", "kind"): {"company", "person"},
    ("dim_client", "acquisition_channel"): CHANNELS,
    ("dim_product", "kind"): {"good", "service"},
    ("dim_warehouse", "kind"): {"main", "store", "service", "van"},
    ("fct_lead", "channel"): CHANNELS,
    ("fct_lead", "status"): {"new", "in_progress", "converted", "rejected"},
    ("fct_lead", "reject_reason"): {"spam", "duplicate", "no_budget", "unreachable", "other"},
    ("fct_deal", "status"): {"open", "won", "lost"},
    ("fct_activity", "kind"): {"call_in", "call_out", "meeting", "email", "visit"},
    ("fct_activity", "outcome"): {
        "completed",
        "no_answer",
        "busy",
        "missed",
        "rescheduled",
        "cancelled",
        "other",
    },
    ("fct_task", "kind"): {"call", "meeting", "email", "follow_up", "document", "other"},
    ("fct_task", "status"): {"open", "done", "cancelled"},
    ("fct_invoice", "kind"): {"invoice", "credit_note"},
    ("fct_invoice", "status"): {"draft", "issued", "partially_paid", "paid", "cancelled"},
    ("fct_payment", "method"): {"cash", "card", "bank_transfer", "online", "other"},
    ("fct_stock_move", "kind"): {"receipt", "shipment", "write_off", "transfer", "adjustment"},
    ("fct_purchase_order", "status"): {
        "draft",
        "ordered",
        "partially_received",
        "received",
        "cancelled",
    },
    ("fct_service_request", "kind"): {
        "repair",
        "refill",
        "maintenance",
        "installation",
        "diagnosis_only",
    },
    ("fct_service_request", "status"): {
        "received",
        "diagnosing",
        "waiting_parts",
        "repairing",
        "ready",
        "returned",
        "cancelled",
    },
    ("fct_delivery", "status"): {"planned", "in_transit", "delivered", "failed", "cancelled"},
}


@pytest.mark.parametrize(
    "column", sorted(VOCABULARY), ids=[f"{t}.{c}" for t, c in sorted(VOCABULARY)]
)
def test_coded_columns_hold_only_canonical_values(demo: Demo, column: tuple[str, str]) -> None:
    table, name = column
    values = {v for (v,) in rows(demo, f"SELECT DISTINCT {name} FROM core.{table}")}
    assert values - {None} <= VOCABULARY[column]
    assert values - {None}, "no values at all"


def test_incoming_calls_nobody_took_are_missed(demo: Demo) -> None:
    outcomes = rows(
        demo,
        f"SELECT DISTINCT r.type_code, r.outcome_code, c.outcome FROM core.fct_activity AS c "
        f"JOIN {raw('activities')} AS r ON c.activity_id = r.db || ':' || r.id "
        "WHERE r.outcome_code = 'NOAN'",
    )
    assert outcomes == {("CIN", "NOAN", "missed"), ("COUT", "NOAN", "no_answer")}


def test_phones_and_emails_are_normalised_without_hiding_dirt(demo: Demo) -> None:
    found = demo.con.execute(
        f"SELECT r.db, r.id, r.phone, c.phone, r.email, c.email FROM core.dim_client AS c "
        f"JOIN {raw('clients')} AS r ON c.client_id = r.db || ':' || r.id"
    ).fetchall()
    dirty = {
        (d.database, d.primary_key, d.kind)
        for d in demo.defects
        if d.table == "clients" and d.kind in ("malformed_phone", "malformed_email")
    }
    assert {kind for _, _, kind in dirty} == {"malformed_phone", "malformed_email"}
    for db, key, raw_phone, phone, raw_email, email in found:
        if (db, key, "malformed_phone") in dirty:
            assert phone == raw_phone  # passed as typed, for validation to report
        elif raw_phone is not None:
            digits = "".join(ch for ch in raw_phone if ch.isdigit())
            assert phone == "+1" + digits[-10:], raw_phone
        if (db, key, "malformed_email") in dirty:
            assert email is None, raw_email
        elif raw_email is not None:
            assert email == raw_email.lower()


# --- deletes, load metadata, dates --------------------------------------------------------------


@pytest.mark.parametrize(
    ("database", "table", "key", "core_table"), DELETED, ids=[f"{d}.{t}" for d, t, _, _ in DELETED]
)
def test_a_row_deleted_at_the_source_leaves_a_fact_and_stays_in_a_dimension(
    demo: Demo, database: str, table: str, key: int, core_table: str
) -> None:
    pk = next(t for t in CORE_TABLES if t.name == core_table).primary_key[0]
    in_core = f"SELECT count(*) FROM core.{core_table} WHERE {pk} = ?"
    assert scalar(demo, f"SELECT count(*) FROM raw_{database}.{table} WHERE id = {key}") == 1
    if core_table.startswith("dim_"):  # kept, flagged or inactive, for the facts naming it
        flag = "is_deleted" if core_table == "dim_client" else "NOT is_active"
        kept = f"SELECT count(*) FROM core.{core_table} WHERE {pk} = ? AND {flag}"
        assert demo.con.execute(kept, [f"{database}:{key}"]).fetchone() == (1,)
    else:
        assert demo.con.execute(in_core, [f"{database}:{key}"]).fetchone() == (0,)
    # while the row after it, still live, is there
    after = scalar(
        demo, f"SELECT min(id) FROM raw_{database}.{table} WHERE id > {key} AND _deleted_at IS NULL"
    )
    assert demo.con.execute(in_core, [f"{database}:{after}"]).fetchone() == (1,)


def test_a_transfer_deleted_at_the_source_leaves_neither_row(demo: Demo) -> None:
    key = f"stock:{demo.deleted_transfer}"
    assert_no_rows(
        demo,
        f"SELECT * FROM core.fct_stock_move WHERE stock_move_id IN ('{key}', '{key}:in')",
    )


def test_an_invoice_deleted_in_the_crm_leaves_core_with_its_lines(demo: Demo) -> None:
    database, key = SOFT_DELETED_INVOICE
    invoice = f"{database}:{key}"
    assert (
        scalar(demo, f"SELECT count(*) FROM raw_{database}.invoice_items WHERE invoice_id = {key}")
        > 0
    )
    assert_no_rows(demo, f"SELECT * FROM core.fct_invoice WHERE invoice_id = '{invoice}'")
    assert_no_rows(demo, f"SELECT * FROM core.fct_invoice_line WHERE invoice_id = '{invoice}'")


def test_soft_deleted_clients_stay_flagged(demo: Demo) -> None:
    flagged = rows(demo, "SELECT client_id FROM core.dim_client WHERE is_deleted")
    expected = rows(
        demo,
        f"SELECT db || ':' || id FROM {every('clients')} "
        "WHERE is_deleted OR _deleted_at IS NOT NULL",
    )
    assert flagged == expected
    assert flagged


@pytest.mark.parametrize("table", [t.name for t in CORE_TABLES if t.name != "dim_date"])
def test_load_metadata_is_the_raw_rows(demo: Demo, table: str) -> None:
    found = rows(demo, f"SELECT DISTINCT _source, _loaded_at FROM core.{table}")
    assert found
    assert found <= set(LOADED_AT.items())


def test_the_calendar_covers_its_range_with_us_holidays(demo: Demo) -> None:
    first, last, days, distinct = demo.con.execute(
        "SELECT min(calendar_date), max(calendar_date), count(*), count(DISTINCT calendar_date) "
        "FROM core.dim_date"
    ).fetchone() or (None, None, 0, 0)
    assert (first, last) == (dt.date(2016, 1, 1), dt.date(2030, 12, 31))
    assert days == distinct == (last - first).days + 1
    # every date the demo's facts happen on (typos into the far future aside) is in it
    assert_no_rows(
        demo,
        "SELECT * FROM core.fct_invoice WHERE issued_on NOT IN "
        "(SELECT calendar_date FROM core.dim_date)",
    )
    for year in (2024, 2025, 2026):
        expected = _us_holidays(year)
        found = {
            d
            for (d,) in rows(
                demo,
                f"SELECT calendar_date FROM core.dim_date "
                f"WHERE is_holiday AND year(calendar_date) = {year}",
            )
        }
        # an observed New Year's Day can fall on 31 December of the year before
        assert found == {d for d in expected | _us_holidays(year + 1) if d.year == year}
        for month in range(1, 13):
            start = dt.date(year, month, 1)
            days_in = [
                start + dt.timedelta(n)
                for n in range(31)
                if (start + dt.timedelta(n)).month == month
            ]
            workdays = [d for d in days_in if d.isoweekday() < 6 and d not in found]
            assert scalar(
                demo,
                f"SELECT max(workdays_in_month) FROM core.dim_date "
                f"WHERE month_start = DATE '{start}'",
            ) == len(workdays)
            assert scalar(
                demo,
                f"SELECT workday_of_month FROM core.dim_date "
                f"WHERE calendar_date = DATE '{workdays[-1]}'",
            ) == len(workdays)


def _us_holidays(year: int) -> set[dt.date]:
    """The company calendar's holidays of ``year``, computed in Python to check the SQL."""

    def observed(day: dt.date) -> dt.date:
        return day + dt.timedelta({6: -1, 7: 1}.get(day.isoweekday(), 0))

    def nth(month: int, weekday: int, n: int) -> dt.date:
        first = dt.date(year, month, 1)
        return first + dt.timedelta((weekday - first.isoweekday()) % 7 + 7 * (n - 1))

    may_31 = dt.date(year, 5, 31)
    return {
        observed(dt.date(year, 1, 1)),
        may_31 - dt.timedelta(may_31.isoweekday() - 1),
        observed(dt.date(year, 7, 4)),
        nth(9, 1, 1),
        nth(11, 4, 4),
        observed(dt.date(year, 12, 25)),
    }


def test_calendar_columns_agree_with_python(demo: Demo) -> None:
    sample = demo.con.execute(
        "SELECT calendar_date, iso_year, iso_week, day_of_week, day_name, month_name, "
        "week_start, month_end, quarter_start, is_weekend FROM core.dim_date "
        "WHERE day_of_month IN (1, 29, 31)"
    ).fetchall()
    assert len(sample) > 400
    for (
        day,
        iso_year,
        iso_week,
        dow,
        day_name,
        month_name,
        week_start,
        month_end,
        q,
        weekend,
    ) in sample:
        assert (iso_year, iso_week, dow) == tuple(day.isocalendar())
        assert day_name == day.strftime("%A") and month_name == day.strftime("%B")
        assert week_start == day - dt.timedelta(day.isoweekday() - 1)
        assert (month_end + dt.timedelta(1)).day == 1 and month_end.month == day.month
        assert q == dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
        assert weekend == (day.isoweekday() >= 6)


def test_paid_on_is_the_branch_local_date(demo: Demo) -> None:
    found = demo.con.execute(
        f"SELECT c.paid_on, r.paid_at, r.db FROM core.fct_payment AS c "
        f"JOIN {raw('payments')} AS r ON c.payment_id = r.db || ':' || r.id"
    ).fetchall()
    zones = {
        "crm_denver": "America/Denver",
        "crm_austin": "America/Chicago",
        "crm_portland": "America/Los_Angeles",
    }
    shifted = 0
    for paid_on, paid_at, db in found:
        local = paid_at.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(zones[db])).date()
        assert paid_on == local
        shifted += local != paid_at.date()
    assert shifted > 0  # some payments arrived in the evening, local time


def test_a_leads_first_response_is_its_earliest_activity(demo: Demo) -> None:
    expected = rows(
        demo,
        f"""SELECT l.db || ':' || l.id, min(a.started_at)
            FROM {raw("leads")} AS l
            LEFT JOIN {raw("activities")} AS a ON a.db = l.db AND a.lead_id = l.id
            WHERE NOT l.is_deleted
            GROUP BY 1""",
    )
    found = rows(demo, "SELECT lead_id, first_response_at FROM core.fct_lead")
    assert found == expected
    answered = [t for _, t in found if t is not None]
    assert 0.5 * len(found) < len(answered) < len(found)  # most leads, not all
    # the activities name their lead; a lead the CRM's users deleted is not in core
    linked = rows(
        demo,
        f"""SELECT a.db || ':' || a.id, CASE WHEN NOT l.is_deleted THEN l.db || ':' || l.id END
            FROM {raw("activities")} AS a
            LEFT JOIN {raw("leads")} AS l ON l.db = a.db AND l.id = a.lead_id
            WHERE a.lead_id IS NOT NULL""",
    )
    assert linked == rows(
        demo,
        f"""SELECT c.activity_id, c.lead_id FROM core.fct_activity AS c
            JOIN {raw("activities")} AS a ON c.activity_id = a.db || ':' || a.id
            WHERE a.lead_id IS NOT NULL""",
    )
    assert any(lead is None for _, lead in linked)  # answered junk, deleted since


def test_deliveries_keep_their_distance_and_departure(demo: Demo) -> None:
    expected = rows(
        demo,
        f"""SELECT db || ':' || id, CAST(distance_km AS DECIMAL(18, 3)), departed_at
            FROM {raw("deliveries")}""",
    )
    assert rows(demo, "SELECT delivery_id, distance_km, departed_at FROM core.fct_delivery") == (
        expected
    )
    known = [km for _, km, _ in expected if km is not None]
    assert 0 < len(expected) - len(known) < 0.1 * len(expected)  # a few left empty
    assert min(known) >= 1 and max(known) <= 80
