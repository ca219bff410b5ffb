"""Golden values of sales and finance reports on a fixture small enough to add up by hand.

Two branches, four clients (Acme's second record points to Acme as its master), a toner and a
repair service, and these documents (tax is zero, so every total equals its net):

    doc  branch  client      issued      due         total  status          lines
    i6   denver  Bolt        2024-03-15  2024-03-29   400   paid            toner 8 x 50, cost 240
    i7   austin  Cove        2025-01-10  2025-02-09   150   paid            repair 1 x 150
    i1   denver  Acme        2025-02-10  2025-02-24   200   paid            toner 4 x 50, cost 120
    i2   denver  Bolt        2025-03-05  2025-03-19   300   partially_paid  toner 5 x 50 - 25,
                                                                            cost 150;
                                                                            repair 1 x 80 - 5
    i3   austin  Cove        2025-03-12  2025-04-11   500   paid            toner 10 x 50, cost 300
    i4   denver  Acme (dup)  2025-03-20  2025-04-03   100   issued          repair 1 x 100
    i5   denver  Acme        2025-03-25  2025-04-08   999   cancelled       toner 20 x 50 - 1
    cn1  denver  Acme        2025-03-28  (none)       -50   issued          toner -1 x 50, cost -30

    (lines: qty x unit price - discount; i5 cost 600; cn1 is a credit note)
    payments: i6 400 on 2024-03-30; i7 150 on 2025-02-19 (10 days late); i1 200 on 2025-02-20;
              i2 100 on 2025-03-25 and 50 on 2025-04-15; i3 500 on 2025-04-05.

Every expected value below is worked out from this table in the comments next to it.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from kpiboard.config import load_settings
from reports.runner import Runner
from tests.reports.conftest import BRANCHES, make_project

EMPLOYEES = [
    {"employee_id": "d1", "branch_id": "denver", "full_name": "Dana", "role": "sales_manager"},
    {"employee_id": "a1", "branch_id": "austin", "full_name": "Alex", "role": "sales_manager"},
]
CLIENTS = [
    {"client_id": "c1", "branch_id": "denver", "name": "Acme", "segment": "key", "owner_id": "d1"},
    {"client_id": "c2", "branch_id": "denver", "name": "Bolt", "segment": "smb", "owner_id": "d1"},
    {"client_id": "c3", "branch_id": "austin", "name": "Cove", "segment": "smb", "owner_id": "a1"},
    {
        "client_id": "c4",
        "branch_id": "denver",
        "name": "ACME Inc",
        "segment": "key",
        "owner_id": "d1",
        "master_client_id": "c1",
    },
]
PRODUCTS = [
    {
        "product_id": "toner",
        "branch_id": "denver",
        "name": "Toner",
        "category": "Toner cartridges",
        "parent_category": "Consumables",
        "kind": "good",
        "list_price": "50.00",
    },
    {
        "product_id": "repair",
        "branch_id": "denver",
        "name": "Repair",
        "category": "Repair labour",
        "parent_category": "Services",
        "kind": "service",
        "list_price": "80.00",
    },
]
INVOICES = [
    # id, branch, owner, client, kind, status, issued, due, total
    ("i6", "denver", "d1", "c2", "invoice", "paid", "2024-03-15", "2024-03-29", "400.00"),
    ("i7", "austin", "a1", "c3", "invoice", "paid", "2025-01-10", "2025-02-09", "150.00"),
    ("i1", "denver", "d1", "c1", "invoice", "paid", "2025-02-10", "2025-02-24", "200.00"),
    ("i2", "denver", "d1", "c2", "invoice", "partially_paid", "2025-03-05", "2025-03-19", "300.00"),
    ("i3", "austin", "a1", "c3", "invoice", "paid", "2025-03-12", "2025-04-11", "500.00"),
    ("i4", "denver", "d1", "c4", "invoice", "issued", "2025-03-20", "2025-04-03", "100.00"),
    ("i5", "denver", "d1", "c1", "invoice", "cancelled", "2025-03-25", "2025-04-08", "999.00"),
    ("cn1", "denver", "d1", "c1", "credit_note", "issued", "2025-03-28", None, "-50.00"),
]
LINES = [
    # invoice, line, product, qty, unit price, discount, line amount, cost
    ("i6", 1, "toner", "8", "50", "0", "400", "240"),
    ("i7", 1, "repair", "1", "150", "0", "150", None),
    ("i1", 1, "toner", "4", "50", "0", "200", "120"),
    ("i2", 1, "toner", "5", "50", "25", "225", "150"),
    ("i2", 2, "repair", "1", "80", "5", "75", None),
    ("i3", 1, "toner", "10", "50", "0", "500", "300"),
    ("i4", 1, "repair", "1", "100", "0", "100", None),
    ("i5", 1, "toner", "20", "50", "1", "999", "600"),
    ("cn1", 1, "toner", "-1", "50", "0", "-50", "-30"),
]
PAYMENTS = [
    # id, invoice, paid on, amount, method
    ("pay5", "i6", "2024-03-30", "400.00", "cash"),
    ("pay6", "i7", "2025-02-19", "150.00", "bank_transfer"),
    ("pay1", "i1", "2025-02-20", "200.00", "bank_transfer"),
    ("pay2", "i2", "2025-03-25", "100.00", "card"),
    ("pay3", "i2", "2025-04-15", "50.00", "card"),
    ("pay4", "i3", "2025-04-05", "500.00", "bank_transfer"),
]


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Runner:
    invoices = {row[0]: row for row in INVOICES}
    project = make_project(
        tmp_path_factory.mktemp("golden_sales"),
        {
            "dim_branch": BRANCHES,
            "dim_employee": EMPLOYEES,
            "dim_client": CLIENTS,
            "dim_product": PRODUCTS,
            "fct_invoice": [
                {
                    "invoice_id": i,
                    "branch_id": branch,
                    "owner_id": owner,
                    "client_id": client,
                    "kind": kind,
                    "status": status,
                    "issued_on": issued,
                    "due_on": due,
                    "invoice_number": i.upper(),
                    "net_amount": total,
                    "tax_amount": "0.00",
                    "total_amount": total,
                }
                for i, branch, owner, client, kind, status, issued, due, total in INVOICES
            ],
            "fct_invoice_line": [
                {
                    "invoice_line_id": f"{inv}:{no}",
                    "branch_id": invoices[inv][1],
                    "invoice_id": inv,
                    "line_no": no,
                    "product_id": product,
                    "qty": qty,
                    "unit_price": price,
                    "discount_amount": discount,
                    "line_amount": amount,
                    "cost_amount": cost,
                }
                for inv, no, product, qty, price, discount, amount, cost in LINES
            ],
            "fct_payment": [
                {
                    "payment_id": pid,
                    "branch_id": invoices[inv][1],
                    "invoice_id": inv,
                    "client_id": invoices[inv][3],
                    "paid_on": day,
                    "amount": amount,
                    "method": method,
                }
                for pid, inv, day, amount, method in PAYMENTS
            ],
        },
    )
    return Runner.from_settings(load_settings(project))


def rows(
    runner: Runner,
    report: str,
    params: dict[str, Any],
    columns: list[str],
    scope: dict[str, list[str]] | None = None,
) -> list[dict[str, Any]]:
    """The report's rows, as sorted by the runner, reduced to ``columns``; numbers as floats
    rounded to 6 places and a missing value as None, so hand-written values compare exactly."""
    frame = runner.run(report, params, scope=scope).frame
    out = []
    for record in frame[columns].to_dict("records"):
        row = {}
        for key, value in record.items():
            if value is None or (isinstance(value, float) and math.isnan(value)):
                row[key] = None
            elif not isinstance(value, bool) and hasattr(value, "as_integer_ratio"):
                row[key] = round(float(value), 6)  # int, float or Decimal
            else:
                row[key] = value
        out.append(row)
    return out


AGING = ["name", "invoices", "not_due", "days_1_30", "days_31_60", "days_61_90",
         "days_over_90", "outstanding", "overdue_share"]  # fmt: skip


def test_receivables_aging_on_a_past_date(runner: Runner) -> None:
    # On 2025-03-31: i1 and i6 are paid in full; i5 is cancelled.
    #   i2 Bolt: 300 - 100 paid on 03-25 = 200, due 03-19 -> 12 days overdue -> 1-30
    #   i3 Cove: 500, nothing paid yet (its 500 arrives 04-05), due 04-11 -> not yet due
    #   i4 ACME Inc -> its master Acme: 100, due 04-03 -> not yet due
    #   cn1 Acme: -50, no due day -> not yet due
    # Sorted by overdue (Bolt 200), then by total owed (Cove 500 before Acme 50).
    assert rows(runner, "receivables_aging", {"as_of": "2025-03-31"}, AGING) == [
        {"name": "Bolt", "invoices": 1, "not_due": 0.0, "days_1_30": 200.0, "days_31_60": 0.0,
         "days_61_90": 0.0, "days_over_90": 0.0, "outstanding": 200.0, "overdue_share": 1.0},
        {"name": "Cove", "invoices": 1, "not_due": 500.0, "days_1_30": 0.0, "days_31_60": 0.0,
         "days_61_90": 0.0, "days_over_90": 0.0, "outstanding": 500.0, "overdue_share": 0.0},
        {"name": "Acme", "invoices": 2, "not_due": 50.0, "days_1_30": 0.0, "days_31_60": 0.0,
         "days_61_90": 0.0, "days_over_90": 0.0, "outstanding": 50.0, "overdue_share": 0.0},
    ]  # fmt: skip


def test_receivables_aging_later_date_differs(runner: Runner) -> None:
    # On 2025-05-20 (today's statuses are the same, the balances are not):
    #   i2 Bolt: 300 - 100 - 50 (04-15) = 150, due 03-19 -> 62 days -> 61-90
    #   i3 Cove: paid 04-05 -> gone
    #   i4 Acme: 100, due 04-03 -> 47 days -> 31-60; cn1 Acme -50 not due
    # Acme owes 50 in all, 100 of it overdue: overdue share 100 / 50 = 2.
    assert rows(runner, "receivables_aging", {"as_of": "2025-05-20"}, AGING) == [
        {"name": "Bolt", "invoices": 1, "not_due": 0.0, "days_1_30": 0.0, "days_31_60": 0.0,
         "days_61_90": 150.0, "days_over_90": 0.0, "outstanding": 150.0, "overdue_share": 1.0},
        {"name": "Acme", "invoices": 2, "not_due": -50.0, "days_1_30": 0.0, "days_31_60": 100.0,
         "days_61_90": 0.0, "days_over_90": 0.0, "outstanding": 50.0, "overdue_share": 2.0},
    ]  # fmt: skip


def test_receivables_aging_by_branch_under_scope(runner: Runner) -> None:
    # Denver on 2025-03-31: Bolt 200 + Acme 50 = 250, of which 200 overdue (i2).
    params = {"as_of": "2025-03-31", "group_by": "branch"}
    expected = [
        {"name": "Denver", "invoices": 3, "not_due": 50.0, "days_1_30": 200.0, "days_31_60": 0.0,
         "days_61_90": 0.0, "days_over_90": 0.0, "outstanding": 250.0, "overdue_share": 0.8},
    ]  # fmt: skip
    scoped = rows(runner, "receivables_aging", params, AGING, scope={"branch": ["denver"]})
    assert scoped == expected
    assert rows(runner, "receivables_aging", {**params, "branch": "denver"}, AGING) == expected


MOVEMENT = ["name", "opening", "invoiced", "collected", "closing", "change"]


def test_receivables_movement_balances_roll_forward(runner: Runner) -> None:
    # March 2025, Denver: opening = i6 400 + i1 200 - 400 - 200 = 0; invoiced i2 300 + i4 100
    # + cn1 -50 = 350 (i5 cancelled); collected 100 (03-25); closing 0 + 350 - 100 = 250.
    # Austin: i7 150 - 150 paid in February = 0 opening; invoiced i3 500; collected 0 in March.
    march = {"period": "2025-03-01..2025-03-31"}
    assert rows(runner, "receivables_movement", march, MOVEMENT) == [
        {"name": "Austin", "opening": 0.0, "invoiced": 500.0, "collected": 0.0, "closing": 500.0,
         "change": 500.0},
        {"name": "Denver", "opening": 0.0, "invoiced": 350.0, "collected": 100.0,
         "closing": 250.0, "change": 250.0},
    ]  # fmt: skip
    # April opens where March closed: Denver 250 - 50 (04-15) = 200; Austin 500 - 500 = 0.
    april = {"period": "2025-04-01..2025-04-30"}
    assert rows(runner, "receivables_movement", april, MOVEMENT) == [
        {"name": "Denver", "opening": 250.0, "invoiced": 0.0, "collected": 50.0,
         "closing": 200.0, "change": -50.0},
        {"name": "Austin", "opening": 500.0, "invoiced": 0.0, "collected": 500.0, "closing": 0.0,
         "change": -500.0},
    ]  # fmt: skip


def test_receivables_by_month_end(runner: Runner) -> None:
    # All branches. Feb end: owed 0 (i7 and i1 paid in February), nothing past due unpaid.
    # Mar end: Denver 250 + Austin 500 = 750; past due on 03-31: i2's 200 (cn1 has no due day).
    # Apr end: 200 (Denver); past due on 04-30: i2 150 + i4 100 = 250 > 200 because cn1's -50
    # credit is not due: overdue share 250 / 200 = 1.25.
    columns = ["month", "invoiced_in_month", "collected_in_month", "receivables", "overdue",
               "overdue_share"]  # fmt: skip
    params = {"period": "2025-02-01..2025-04-30"}
    assert rows(runner, "receivables_by_month_end", params, columns) == [
        # February: invoiced i1 200; collected i7 150 + i1 200 = 350.
        {"month": "2025-02", "invoiced_in_month": 200.0, "collected_in_month": 350.0,
         "receivables": 0.0, "overdue": 0.0, "overdue_share": None},
        # March: invoiced 300 + 500 + 100 - 50 = 850; collected 100.
        {"month": "2025-03", "invoiced_in_month": 850.0, "collected_in_month": 100.0,
         "receivables": 750.0, "overdue": 200.0, "overdue_share": 0.266667},
        {"month": "2025-04", "invoiced_in_month": 0.0, "collected_in_month": 550.0,
         "receivables": 200.0, "overdue": 250.0, "overdue_share": 1.25},
    ]  # fmt: skip


def test_sales_by_period_by_month(runner: Runner) -> None:
    columns = ["period", "invoices", "clients", "revenue", "avg_check", "list_value", "discount",
               "discount_rate", "costed_revenue", "gross_margin", "margin_pct"]  # fmt: skip
    assert rows(runner, "sales_by_period", {"period": "2025-02-01..2025-03-31"}, columns) == [
        # February: i1 alone: 4 x 50 = 200 at list, no discount, cost 120 -> margin 80 (40%).
        {"period": "2025-02", "invoices": 1, "clients": 1, "revenue": 200.0, "avg_check": 200.0,
         "list_value": 200.0, "discount": 0.0, "discount_rate": 0.0, "costed_revenue": 200.0,
         "gross_margin": 80.0, "margin_pct": 0.4},
        # March: i2 300 + i3 500 + i4 100 + cn1 -50 = 850 over 3 invoices (the credit note is
        # not an invoice) = 283.33; clients Bolt, Cove and Acme (i4's duplicate and cn1) = 3.
        # At list: 250 + 80 + 500 + 100 - 50 = 880; discounts 25 + 5 = 30 -> 3.41%.
        # Costed: 225 + 500 - 50 = 675; margin 75 + 200 - 20 = 255 -> 37.78%.
        {"period": "2025-03", "invoices": 3, "clients": 3, "revenue": 850.0,
         "avg_check": 283.333333, "list_value": 880.0, "discount": 30.0,
         "discount_rate": 0.034091, "costed_revenue": 675.0, "gross_margin": 255.0,
         "margin_pct": 0.377778},
    ]  # fmt: skip


def test_gross_margin_by_category(runner: Runner) -> None:
    # March 2025, lines of i2, i3, i4 and cn1 (i5 cancelled):
    #   toner: 225 + 500 - 50 = 675, cost 150 + 300 - 30 = 420, margin 255 (37.78%)
    #   repair: 75 + 100 = 175 with no cost: no margin, all of it revenue without cost
    columns = ["name", "revenue", "costed_revenue", "cost", "gross_margin", "margin_pct",
               "margin_share", "uncosted_revenue"]  # fmt: skip
    params = {"period": "2025-03-01..2025-03-31", "group_by": "category"}
    assert rows(runner, "gross_margin_breakdown", params, columns) == [
        {"name": "Toner cartridges", "revenue": 675.0, "costed_revenue": 675.0, "cost": 420.0,
         "gross_margin": 255.0, "margin_pct": 0.377778, "margin_share": 1.0,
         "uncosted_revenue": 0.0},
        {"name": "Repair labour", "revenue": 175.0, "costed_revenue": 0.0, "cost": 0.0,
         "gross_margin": 0.0, "margin_pct": None, "margin_share": 0.0,
         "uncosted_revenue": 175.0},
    ]  # fmt: skip


def test_payment_discipline(runner: Runner) -> None:
    # Invoices due 2025-02-01..2025-04-30, judged on 04-30:
    #   i7 Cove due 02-09, settled 02-19: 10 days late     i1 Acme due 02-24, settled 02-20: on time
    #   i2 Bolt due 03-19, 150 of 300 paid: not settled    i4 Acme due 04-03, nothing paid
    #   i3 Cove due 04-11, settled 04-05: on time
    # Worst on-time share first; Acme and Cove tie at 50%, Acme has more left unpaid.
    columns = ["client", "invoices_due", "amount_due", "on_time_share", "paid_late",
               "avg_days_late", "worst_days_late", "unpaid", "unpaid_amount"]  # fmt: skip
    params = {"period": "2025-02-01..2025-04-30", "min_invoices": 1}
    assert rows(runner, "payment_discipline", params, columns) == [
        {"client": "Bolt", "invoices_due": 1, "amount_due": 300.0, "on_time_share": 0.0,
         "paid_late": 0, "avg_days_late": None, "worst_days_late": None, "unpaid": 1,
         "unpaid_amount": 300.0},
        {"client": "Acme", "invoices_due": 2, "amount_due": 300.0, "on_time_share": 0.5,
         "paid_late": 0, "avg_days_late": None, "worst_days_late": None, "unpaid": 1,
         "unpaid_amount": 100.0},
        {"client": "Cove", "invoices_due": 2, "amount_due": 650.0, "on_time_share": 0.5,
         "paid_late": 1, "avg_days_late": 10.0, "worst_days_late": 10, "unpaid": 0,
         "unpaid_amount": 0.0},
    ]  # fmt: skip


def test_days_sales_outstanding(runner: Runner) -> None:
    # On 2025-03-31, billing of the 90 days 2025-01-01..03-31:
    #   Austin: owed 500 (i3); billed i7 150 + i3 500 = 650 -> 500 / (650 / 90) = 69.23 days
    #   Denver: owed 250, 200 of it past due (i2); billed 200 + 300 + 100 - 50 = 550 (i6 is
    #   2024, i5 cancelled) -> 250 / (550 / 90) = 40.91 days
    columns = ["name", "receivables", "overdue", "overdue_share", "invoiced_90d", "dso"]
    assert rows(runner, "days_sales_outstanding", {"as_of": "2025-03-31"}, columns) == [
        {"name": "Austin", "receivables": 500.0, "overdue": 0.0, "overdue_share": 0.0,
         "invoiced_90d": 650.0, "dso": 69.230769},
        {"name": "Denver", "receivables": 250.0, "overdue": 200.0, "overdue_share": 0.8,
         "invoiced_90d": 550.0, "dso": 40.909091},
    ]  # fmt: skip


def test_credit_notes_by_manager(runner: Runner) -> None:
    # March 2025: Dana invoiced i2 300 + i4 100 = 400 and credited cn1 50 (12.5%), net 350;
    # Alex invoiced i3 500 and credited nothing. The cancelled i5 counts nowhere.
    columns = ["name", "invoiced", "credit_notes", "credited", "credited_share", "net_revenue"]
    params = {"period": "2025-03-01..2025-03-31"}
    assert rows(runner, "credit_notes", params, columns) == [
        {"name": "Dana", "invoiced": 400.0, "credit_notes": 1, "credited": 50.0,
         "credited_share": 0.125, "net_revenue": 350.0},
        {"name": "Alex", "invoiced": 500.0, "credit_notes": 0, "credited": 0.0,
         "credited_share": 0.0, "net_revenue": 500.0},
    ]  # fmt: skip


def test_sales_year_over_year(runner: Runner) -> None:
    # March 2025 against March 2024 (i6 400): by month 850 vs 400, +450 (+112.5%); by
    # category from the lines: toner 675 vs 400 (+68.75%), repair 175 vs nothing.
    columns = ["name", "revenue", "revenue_last_year", "change", "change_pct"]
    march = {"period": "2025-03-01..2025-03-31"}
    assert rows(runner, "sales_year_over_year", march, columns) == [
        {
            "name": "2025-03",
            "revenue": 850.0,
            "revenue_last_year": 400.0,
            "change": 450.0,
            "change_pct": 1.125,
        },
    ]
    assert rows(runner, "sales_year_over_year", {**march, "group_by": "category"}, columns) == [
        {"name": "Toner cartridges", "revenue": 675.0, "revenue_last_year": 400.0,
         "change": 275.0, "change_pct": 0.6875},
        {"name": "Repair labour", "revenue": 175.0, "revenue_last_year": 0.0, "change": 175.0,
         "change_pct": None},
    ]  # fmt: skip
