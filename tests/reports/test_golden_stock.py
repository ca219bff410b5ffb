"""Golden values of stock, purchasing and data-quality reports, computed by hand on a few rows.

Two branches: Denver (the central warehouse w1, UTC-6/-7) and Austin (a store w2). Two goods:
p1 (toner) bought at 10.00 and later at 12.00, p2 (paper) at 5.00. The moves (UTC):

    m1 2025-01-10 18:00  w1 p1 receipt    +100 @ 10   (po1)
    m8 2025-01-10 18:00  w1 p2 receipt     +40 @  5   (po1)
    m2 2025-02-05 18:00  w1 p1 transfer    -30 @ 10   (to w2)
    m3 2025-02-05 18:00  w2 p1 transfer    +30 @ 10   (from w1)
    m4 2025-02-20 18:00  w2 p1 shipment    -12 @ 10
    m5 2025-03-15 18:00  w1 p1 receipt     +50 @ 12   (po2)
    m7 2025-03-20 18:00  w2 p1 write_off    -2 @ 10
    m6 2025-04-01 03:00  w1 p1 shipment    -20 @ 12   = 2025-03-31 21:00 in Denver
    m9 2025-05-10 18:00  w1 p2 shipment    -10 @  5   (the data's last day)

Stock is valued at the last unit cost of the product in the warehouse up to the day.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from kpiboard.config import load_settings
from reports.runner import Runner
from tests.reports.conftest import BRANCHES, make_project
from validation.quarantine import refresh_all_rows

WAREHOUSES = [
    {"warehouse_id": "w1", "branch_id": "denver", "name": "Central", "kind": "main"},
    {"warehouse_id": "w2", "branch_id": "austin", "name": "Austin store", "kind": "store"},
]
SUPPLIERS = [
    {"supplier_id": "s1", "branch_id": "denver", "name": "Toner Co", "lead_time_days": 10},
    {"supplier_id": "s2", "branch_id": "denver", "name": "Paper Co", "lead_time_days": 10},
]
PRODUCTS = [
    {
        "product_id": "p1",
        "branch_id": "denver",
        "sku": "T-1",
        "name": "Toner",
        "kind": "good",
        "category": "Toner",
        "parent_category": "Consumables",
        "unit": "pcs",
        "purchase_price": "12.00",
        "supplier_id": "s1",
        "min_stock_qty": "5",
        "is_active": True,
    },
    {
        "product_id": "p2",
        "branch_id": "denver",
        "sku": "P-1",
        "name": "Paper",
        "kind": "good",
        "category": "Paper",
        "parent_category": "Consumables",
        "unit": "ream",
        "purchase_price": "5.00",
        "supplier_id": "s2",
        "min_stock_qty": "0",
        "is_active": True,
    },
]
MOVES = [
    # id, branch, warehouse, product, kind, moved_at (UTC), qty, unit_cost, counterpart, order
    ("m1", "denver", "w1", "p1", "receipt", "2025-01-10 18:00", "100", "10", None, "po1"),
    ("m8", "denver", "w1", "p2", "receipt", "2025-01-10 18:00", "40", "5", None, "po1"),
    ("m2", "denver", "w1", "p1", "transfer", "2025-02-05 18:00", "-30", "10", "w2", None),
    ("m3", "austin", "w2", "p1", "transfer", "2025-02-05 18:00", "30", "10", "w1", None),
    ("m4", "austin", "w2", "p1", "shipment", "2025-02-20 18:00", "-12", "10", None, None),
    ("m5", "denver", "w1", "p1", "receipt", "2025-03-15 18:00", "50", "12", None, "po2"),
    ("m7", "austin", "w2", "p1", "write_off", "2025-03-20 18:00", "-2", "10", None, None),
    ("m6", "denver", "w1", "p1", "shipment", "2025-04-01 03:00", "-20", "12", None, None),
    ("m9", "denver", "w1", "p2", "shipment", "2025-05-10 18:00", "-10", "5", None, None),
]
ORDERS = [
    # id, number, supplier, ordered, expected, received, total
    ("po1", "PO-1", "s1", "2025-01-01", "2025-01-09", "2025-01-10", "1200.00"),
    ("po2", "PO-2", "s1", "2025-03-01", "2025-03-20", "2025-03-15", "600.00"),
    ("po3", "PO-3", "s2", "2025-03-05", None, "2025-03-20", "300.00"),
]
MOVE_COLUMNS = (
    "stock_move_id",
    "branch_id",
    "warehouse_id",
    "product_id",
    "kind",
    "moved_at",
    "qty",
    "unit_cost",
    "counterpart_warehouse_id",
    "purchase_order_id",
)

QUARANTINE_TABLES = [
    "activities",
    "categories",
    "clients",
    "contacts",
    "contracts",
    "deal_stage_history",
    "deals",
    "deliveries",
    "invoice_items",
    "invoices",
    "lead_channels",
    "leads",
    "payments",
    "pipeline_stages",
    "products",
    "purchase_order_lines",
    "purchase_orders",
    "service_requests",
    "stock_moves",
    "suppliers",
    "tasks",
    "users",
    "warehouses",
]
"""The demo's raw tables, each with its quarantine table."""

QUARANTINE_COLUMNS = (
    "run_id VARCHAR, source VARCHAR, row_key VARCHAR, expectation VARCHAR, severity VARCHAR, "
    "offending VARCHAR, quarantined_at TIMESTAMP, hold VARCHAR, withheld VARCHAR[]"
)
DATA_QUALITY_SQL = [
    "CREATE SCHEMA IF NOT EXISTS quarantine",
    "CREATE SCHEMA IF NOT EXISTS validation",
    *(f"CREATE TABLE quarantine.{t} ({QUARANTINE_COLUMNS})" for t in QUARANTINE_TABLES),
    # a raw table of a project's own, which the demo does not have
    f"CREATE TABLE quarantine.widgets ({QUARANTINE_COLUMNS})",
    """INSERT INTO quarantine.invoices VALUES
       ('r2', 'crm_denver', '17', 'crm.invoices:exists_in_client_id', 'warn',
        '{"client_id": 9}', '2025-07-01 03:00', 'row', []),
       ('r2', 'crm_denver', '18', 'crm.invoices:exists_in_client_id', 'warn',
        '{"client_id": 9}', '2025-07-01 03:00', 'row', []),
       ('r2', 'crm_austin', '5', 'crm.invoices:held_with_document', 'warn',
        '{"document": "crm_austin:5", "because": "crm.invoice_items:between_qty"}',
        '2025-07-01 03:00', 'row', [])""",
    """INSERT INTO quarantine.clients VALUES
       ('r2', 'crm_denver', '3', 'crm.clients:regex_phone', 'warn', '{"phone": "12"}',
        '2025-07-01 03:00', 'value', ['phone'])""",
    """INSERT INTO quarantine.widgets VALUES
       ('r2', 'erp', '1', 'erp.widgets:not_null_name', 'warn', NULL, '2025-07-01 03:00',
        'row', []),
       ('r2', 'erp', '2', 'erp.widgets:not_null_name', 'warn', NULL, '2025-07-01 03:00',
        'row', [])""",
    """CREATE TABLE validation.reconciliation (run_id VARCHAR, source VARCHAR, "table" VARCHAR,
       source_rows BIGINT, loaded BIGINT, passed BIGINT, quarantined BIGINT, balanced BOOLEAN,
       checked_at TIMESTAMP)""",
    """INSERT INTO validation.reconciliation VALUES
       ('r1', 'crm_denver', 'invoices', 90, 90, 90, 0, true, '2025-06-30 03:00'),
       ('r2', 'crm_denver', 'invoices', 100, 100, 98, 2, true, '2025-07-01 03:00'),
       ('r2', 'crm_denver', 'clients', 50, 50, 50, 0, true, '2025-07-01 03:00'),
       ('r2', 'crm_austin', 'invoices', 40, 38, 37, 1, false, '2025-07-01 03:00')""",
]


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Runner:
    project = make_project(
        tmp_path_factory.mktemp("golden_stock"),
        {
            "dim_branch": BRANCHES,
            "dim_warehouse": WAREHOUSES,
            "dim_supplier": SUPPLIERS,
            "dim_product": PRODUCTS,
            "fct_stock_move": [dict(zip(MOVE_COLUMNS, row, strict=True)) for row in MOVES],
            "fct_purchase_order": [
                {
                    "purchase_order_id": o[0],
                    "order_number": o[1],
                    "supplier_id": o[2],
                    "ordered_on": o[3],
                    "expected_on": o[4],
                    "received_on": o[5],
                    "total_amount": o[6],
                    "branch_id": "denver",
                    "warehouse_id": "w1",
                    "status": "received",
                }
                for o in ORDERS
            ],
        },
        extra_sql=DATA_QUALITY_SQL,
        prepare=refresh_all_rows,
    )
    return Runner.from_settings(load_settings(project))


def rows(
    runner: Runner, report: str, params: dict[str, Any], columns: list[str], **kw: Any
) -> list[dict[str, Any]]:
    """The report's rows, only ``columns``, numbers rounded to 6 places (float sums), a
    missing value (NULL, NaN, NaT) as ``None``."""
    import pandas as pd

    frame = runner.run(report, params, **kw).frame[columns]
    out = []
    for record in frame.to_dict("records"):
        out.append(
            {
                k: None if pd.isna(v) else round(v, 6) if isinstance(v, float) else v
                for k, v in record.items()
            }
        )
    return out


ON_HAND = ["grp", "products", "qty", "value", "value_share"]


def test_stock_on_hand_on_a_past_date_counts_the_moves_up_to_its_local_end(runner: Runner) -> None:
    # 2025-03-31 in Denver ends at 2025-04-01 06:00 UTC, so m6 (03:00 UTC) is in.
    # Central: p1 100 + (-30) + 50 + (-20) = 100 at its last cost 12 = 1200;
    #          p2 40 at 5 = 200 (m9 comes later)  -> 2 products, 140 units, 1400.
    # Austin store: p1 30 - 12 - 2 = 16 at 10 = 160.  Total 1560.
    assert rows(runner, "stock_on_hand", {"as_of": "2025-03-31"}, ON_HAND) == [
        {
            "grp": "Central",
            "products": 2,
            "qty": 140.0,
            "value": 1400.0,
            "value_share": round(1400 / 1560, 6),
        },
        {
            "grp": "Austin store",
            "products": 1,
            "qty": 16.0,
            "value": 160.0,
            "value_share": round(160 / 1560, 6),
        },
    ]
    # The day before, m6 has not happened: p1 120 at 12 = 1440, + 200 = 1640.
    before = rows(runner, "stock_on_hand", {"as_of": "2025-03-30"}, ON_HAND)
    assert before[0] == {
        "grp": "Central",
        "products": 2,
        "qty": 160.0,
        "value": 1640.0,
        "value_share": round(1640 / 1800, 6),
    }


def test_stock_on_hand_today_differs_from_the_past_date(runner: Runner) -> None:
    # Defaults to the data's last day (2025-05-10): m9 took 10 reams, p2 30 at 5 = 150.
    assert rows(runner, "stock_on_hand", {}, ON_HAND)[0] == {
        "grp": "Central",
        "products": 2,
        "qty": 130.0,
        "value": 1350.0,
        "value_share": round(1350 / 1510, 6),
    }


def test_stock_on_hand_by_category_and_under_a_branch_scope(runner: Runner) -> None:
    # Toner: 1200 + 160 = 1360 (116 units); Paper 200 (40 units).
    assert rows(
        runner,
        "stock_on_hand",
        {"as_of": "2025-03-31", "group_by": "category"},
        ["grp", "qty", "value"],
    ) == [
        {"grp": "Toner", "qty": 116.0, "value": 1360.0},
        {"grp": "Paper", "qty": 40.0, "value": 200.0},
    ]
    # Austin only, by parameter and by scope alike: its store's 16 units.
    expected = [{"grp": "Austin store", "qty": 16.0, "value": 160.0}]
    columns = ["grp", "qty", "value"]
    by_param = {"as_of": "2025-03-31", "branch": "austin"}
    assert rows(runner, "stock_on_hand", by_param, columns) == expected
    scoped = rows(
        runner, "stock_on_hand", {"as_of": "2025-03-31"}, columns, scope={"branch": ["austin"]}
    )
    assert scoped == expected


def test_stock_movement_summary_adds_up_from_opening_to_closing(runner: Runner) -> None:
    # February and March 2025, by warehouse.
    # Central, p1: opening 100 at 10 = 1000; received m5 50*12 = 600; sent m2 -30*10 = -300;
    #   shipped m6 -20*12 = -240; closing 100 at 12 = 1200; cost change
    #   1200 - 1000 - 600 + 300 + 240 = 140.  p2: opening and closing 40 at 5 = 200.
    # Austin store, p1: in m3 +300, shipped m4 -120, written off m7 -20, closing 16*10 = 160.
    columns = [
        "grp",
        "opening",
        "receipts",
        "transfers",
        "shipments",
        "write_offs",
        "adjustments",
        "revaluation",
        "closing",
    ]
    assert rows(
        runner, "stock_movement_summary", {"period": "2025-02-01..2025-03-31"}, columns
    ) == [
        {
            "grp": "Central",
            "opening": 1200.0,
            "receipts": 600.0,
            "transfers": -300.0,
            "shipments": -240.0,
            "write_offs": 0.0,
            "adjustments": 0.0,
            "revaluation": 140.0,
            "closing": 1400.0,
        },
        {
            "grp": "Austin store",
            "opening": 0.0,
            "receipts": 0.0,
            "transfers": 300.0,
            "shipments": -120.0,
            "write_offs": -20.0,
            "adjustments": 0.0,
            "revaluation": 0.0,
            "closing": 160.0,
        },
    ]


def test_dead_stock_lists_what_has_not_gone_out_for_the_idle_days(runner: Runner) -> None:
    # On 2025-05-10: Central p1 last went out 2025-03-31 (40 days), p2 on 2025-05-10 (0 days);
    # the Austin store's p1 last went out on 2025-02-20 (a write-off is no outflow): 79 days,
    # 16 units at 10 = 160.
    columns = ["warehouse", "product", "qty", "value", "last_out_on", "idle_days"]
    assert rows(runner, "dead_stock", {"idle_days": "60"}, columns) == [
        {
            "warehouse": "Austin store",
            "product": "Toner",
            "qty": 16.0,
            "value": 160.0,
            "last_out_on": dt.datetime(2025, 2, 20),
            "idle_days": 79,
        },
    ]
    assert len(rows(runner, "dead_stock", {"idle_days": "40"}, columns)) == 2


def test_supplier_lead_time_and_on_time_rate(runner: Runner) -> None:
    # Toner Co: po1 9 days, promised 01-09, received 01-10 (1 day late); po2 14 days,
    #   received 03-15 before 03-20 (on time): average 11.5, on time 1 of 2, delay 1.
    # Paper Co: po3 15 days, no expected date: promised 03-05 + 10 = 03-15, received 03-20,
    #   5 days late.
    columns = [
        "supplier",
        "orders",
        "promised_lead_time",
        "avg_lead_time",
        "max_lead_time",
        "on_time_rate",
        "late",
        "avg_days_late",
    ]
    result = runner.run("supplier_lead_time", {"period": "2025-01-01..2025-03-31"})
    assert rows(runner, "supplier_lead_time", {"period": "2025-01-01..2025-03-31"}, columns) == [
        {
            "supplier": "Paper Co",
            "orders": 1,
            "promised_lead_time": 10,
            "avg_lead_time": 15.0,
            "max_lead_time": 15,
            "on_time_rate": 0.0,
            "late": 1,
            "avg_days_late": 5.0,
        },
        {
            "supplier": "Toner Co",
            "orders": 2,
            "promised_lead_time": 10,
            "avg_lead_time": 11.5,
            "max_lead_time": 14,
            "on_time_rate": 0.5,
            "late": 1,
            "avg_days_late": 1.0,
        },
    ]
    # Totals: (9 + 14 + 15) / 3 orders; 1 on time of 3; (1 + 5) / 2 late orders.
    frame = result.frame
    assert frame["lead_days_total"].sum() / frame["orders"].sum() == pytest.approx(38 / 3)
    assert frame["on_time"].sum() / frame["orders"].sum() == pytest.approx(1 / 3)


def test_purchase_order_register_shows_the_status_at_the_period_end(runner: Runner) -> None:
    # Period 2025-03-01..2025-03-16: po2 received 03-15 before its promised 03-20;
    # po3 is received only on 03-20, so on 03-16 it is open and overdue (promised 03-15):
    # open 16 - 5 = 11 days, 1 day late, no received date yet.
    columns = ["order_number", "status_at_end", "received_on", "days_open", "days_late"]
    got = rows(runner, "purchase_order_register", {"period": "2025-03-01..2025-03-16"}, columns)
    assert got[0] == {
        "order_number": "PO-2",
        "status_at_end": "Received on time",
        "received_on": dt.datetime(2025, 3, 15),
        "days_open": 14,
        "days_late": 0,
    }
    assert got[1]["order_number"] == "PO-3"
    assert got[1]["status_at_end"] == "Open, overdue"
    assert got[1]["received_on"] is None
    assert (got[1]["days_open"], got[1]["days_late"]) == (11, 1)
    # A period ending after 03-20 sees it received, 5 days late.
    later = rows(runner, "purchase_order_register", {"period": "2025-03-01..2025-03-31"}, columns)
    assert later[1]["status_at_end"] == "Received late"
    assert (later[1]["days_open"], later[1]["days_late"]) == (15, 5)


def test_quarantine_by_table_counts_rows_of_every_table(
    runner: Runner,
) -> None:
    # invoices: 2 rows of crm_denver for an unknown client, 1 of crm_austin held with its
    # document; clients: 1 phone withheld; widgets, a table of the project's own (not of the
    # demo), holds 2 rows without a name: the report reads every quarantine table there is.
    columns = ["table_name", "source", "defect", "hold", "held_rows"]
    assert rows(runner, "quarantine_by_table", {}, columns) == [
        {
            "table_name": "clients",
            "source": "crm_denver",
            "defect": "regex_phone",
            "hold": "Value withheld",
            "held_rows": 1,
        },
        {
            "table_name": "invoices",
            "source": "crm_denver",
            "defect": "exists_in_client_id",
            "hold": "Row kept out",
            "held_rows": 2,
        },
        {
            "table_name": "invoices",
            "source": "crm_austin",
            "defect": "held_with_document",
            "hold": "Row kept out",
            "held_rows": 1,
        },
        {
            "table_name": "widgets",
            "source": "erp",
            "defect": "not_null_name",
            "hold": "Row kept out",
            "held_rows": 2,
        },
    ]
    held_by_value = rows(runner, "quarantine_by_table", {"hold": "value"}, columns)
    assert [r["table_name"] for r in held_by_value] == ["clients"]
    with pytest.raises(Exception, match="company-wide"):
        runner.run("quarantine_by_table", {}, scope={"branch": ["denver"]})


def test_reconciliation_reads_the_newest_run_only(runner: Runner) -> None:
    # Run r1 (older) is ignored. crm_austin invoices: 40 at the source, 38 loaded (2 missing),
    # 1 held of 38 loaded, not balanced.
    columns = [
        "source",
        "table_name",
        "source_rows",
        "not_loaded",
        "quarantined",
        "held_share",
        "balanced",
    ]
    assert rows(runner, "reconciliation_by_source", {}, columns) == [
        {
            "source": "crm_austin",
            "table_name": "invoices",
            "source_rows": 40,
            "not_loaded": 2,
            "quarantined": 1,
            "held_share": round(1 / 38, 6),
            "balanced": "No",
        },
        {
            "source": "crm_denver",
            "table_name": "clients",
            "source_rows": 50,
            "not_loaded": 0,
            "quarantined": 0,
            "held_share": 0.0,
            "balanced": "Yes",
        },
        {
            "source": "crm_denver",
            "table_name": "invoices",
            "source_rows": 100,
            "not_loaded": 0,
            "quarantined": 2,
            "held_share": 0.02,
            "balanced": "Yes",
        },
    ]
    problems = rows(runner, "reconciliation_by_source", {"problems_only": "yes"}, ["table_name"])
    assert len(problems) == 2
