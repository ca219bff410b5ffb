"""A small fixture company in the ``core`` schema of a DuckDB file and a PostgreSQL database,
and the KPIs, plans and scorecard the case table evaluates against it.

Two branches in different time zones (``denver`` on America/Denver, ``austin`` on
America/Chicago), six employees of three roles (one leaves on 2025-02-14, one is hired on
2025-03-01), six clients of three segments and four acquisition channels (one of them typed in
twice: the duplicate record points to it by ``master_client_id`` and has an invoice of its own),
three products of three categories. The facts are a few dozen rows, each placed for an edge case:

- invoices in 2024 and 2025 (year over year), a cancelled invoice, two credit notes (negative),
  no austin invoice in February 2025 (a month with no rows for one slice), invoices on
  2024-02-28 and 2024-02-29 (a leap day) and on 2024-12-30 (the Monday that starts ISO week
  2025-W01), a free-text invoice line without a product;
- activities and leads whose UTC time is on the next day (and month, and year) of the branch's
  local day, one just after the 2025-03-09 switch to daylight saving time;
- leads converting to won deals within 30 days (one exactly at 30 days, one through another
  sales manager's deal), after 30 days, to a lost deal, and a won deal before the lead;
- service requests repeated within 14 days (one exactly at 14 days, two at the same instant),
  and beyond;
- months with deals but none closed (a zero denominator), revenue without calls;
- payments settling invoices in part or in full (on a period's last and first day, after the
  due date, after the data's end, an advance without an invoice, an invoice paid in two parts),
  stock moves in two stores (an opening balance, a transfer between them, moves late on a
  month's last local day), tasks open from creation until done, service requests open until
  the equipment went back, and activities answering leads: the states balances are computed
  from, at the edges of periods.

``core.dim_date`` covers 2023–2025, generated here in Python (the engine's calendar for
cumulative KPIs, and the check queries' periods: ``week_start``, ``month_start`` …).
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import cast

import duckdb
import pandas as pd
import psycopg
import pytest

from kpi_designer.engine import CACHE_ROWS, WORKERS, Definitions, Engine
from kpi_designer.loader import load_kpis
from kpi_designer.plans import load_plans
from kpi_designer.scorecards import load_scorecards
from kpiboard import sandbox, urls
from kpiboard.core_model import CORE_TABLES, create_core_schema, ddl
from tests.cells import typed as cell_type

SERVER = "postgresql://postgres@127.0.0.1:5432/{db}"
LOADED_AT = dt.datetime(2025, 7, 1, 3, 0)

# -- who -------------------------------------------------------------------------------------------

DENVER, AUSTIN = "denver", "austin"
DANA, ELI, FINN = "crm_denver:1", "crm_denver:2", "crm_denver:3"
GUS, HANA, IVY = "crm_austin:1", "crm_austin:2", "crm_austin:3"
ACME, BO, CLINIC = "crm_denver:101", "crm_denver:102", "crm_denver:103"
ACME_AGAIN = "crm_denver:104"  # Acme School typed in a second time: a duplicate of ACME
COLLEGE, DENTAL, EVE = "crm_austin:201", "crm_austin:202", "crm_austin:203"
TONER, PRINTER, REPAIR = "stock:1", "stock:2", "stock:3"
WH_DENVER, WH_AUSTIN = "stock:w1", "stock:w2"

Row = tuple[object, ...]

BRANCHES = (
    "branch_id name city region country timezone currency head_id opened_on is_active",
    [
        (DENVER, "Denver", "Denver", "west", "US", "America/Denver", "USD", DANA, "2020-01-06", 1),
        (AUSTIN, "Austin", "Austin", "south", "US", "America/Chicago", "USD", GUS, "2021-01-04", 1),
    ],
)
EMPLOYEES = (
    "employee_id branch_id full_name role hired_on left_on is_active",
    [
        (DANA, DENVER, "Dana Ortiz", "sales_manager", "2022-03-01", None, 1),
        (ELI, DENVER, "Eli Park", "sales_manager", "2024-05-01", "2025-02-14", 0),
        (FINN, DENVER, "Finn Lee", "service_engineer", "2023-01-02", None, 1),
        (GUS, AUSTIN, "Gus Hale", "sales_manager", "2021-01-04", None, 1),
        (HANA, AUSTIN, "Hana Cruz", "service_engineer", "2022-01-03", None, 1),
        (IVY, AUSTIN, "Ivy Moss", "sales_manager", "2025-03-01", None, 1),
    ],
)
CLIENTS = (
    "client_id branch_id name kind segment acquisition_channel owner_id master_client_id",
    [
        (ACME, DENVER, "Acme School", "company", "key", "referral", DANA, None),
        (BO, DENVER, "Bo Smith", "person", "small", "website_form", DANA, None),
        (CLINIC, DENVER, "Clear Clinic", "company", "regular", "call_in", ELI, None),
        (ACME_AGAIN, DENVER, "ACME  School", "company", "key", "referral", DANA, ACME),
        (COLLEGE, AUSTIN, "Austin College", "company", "key", "referral", GUS, None),
        (DENTAL, AUSTIN, "Dental Group", "company", "regular", "website_form", GUS, None),
        (EVE, AUSTIN, "Eve Ray", "person", "small", "walk_in", IVY, None),
    ],
)
PRODUCTS = (
    "product_id branch_id sku name category parent_category kind unit min_stock_qty",
    [
        (TONER, DENVER, "T-26A", "Toner 26A", "Toner cartridges", "Consumables", "good", "pcs", 30),
        (PRINTER, DENVER, "P-M404", "LaserJet M404", "Printers", None, "good", "pcs", 2),
        (REPAIR, DENVER, "S-REP", "Repair hour", "Repairs", "Services", "service", "hour", None),
    ],
)

# -- what happened ---------------------------------------------------------------------------------

INVOICES = (
    "invoice_id branch_id issued_on kind status client_id owner_id net_amount due_on total_amount",
    [
        (
            "crm_denver:2401",
            DENVER,
            "2024-01-15",
            "invoice",
            "paid",
            ACME,
            DANA,
            "1000",
            "2024-02-14",
            "1000",
        ),
        (
            "crm_denver:2402",
            DENVER,
            "2024-02-10",
            "invoice",
            "paid",
            BO,
            DANA,
            "400",
            "2024-03-11",
            "400",
        ),
        (
            "crm_denver:2403",
            DENVER,
            "2024-03-05",
            "invoice",
            "paid",
            CLINIC,
            DANA,
            "600",
            "2024-04-04",
            "600",
        ),
        (
            "crm_denver:2404",
            DENVER,
            "2024-06-20",
            "invoice",
            "paid",
            ACME,
            ELI,
            "900",
            "2024-07-20",
            "900",
        ),
        # the last two days of February 2024 (a leap year), and February 28 of 2025
        (
            "crm_denver:2405",
            DENVER,
            "2024-02-28",
            "invoice",
            "paid",
            BO,
            DANA,
            "150",
            "2024-03-29",
            "150",
        ),
        (
            "crm_denver:2406",
            DENVER,
            "2024-02-29",
            "invoice",
            "paid",
            CLINIC,
            DANA,
            "250",
            "2024-03-30",
            "250",
        ),
        # after March 10: March 1–10, 2025 like for like against 2024 leaves it out
        (
            "crm_denver:2407",
            DENVER,
            "2024-03-20",
            "invoice",
            "paid",
            ACME,
            DANA,
            "300",
            "2024-04-19",
            "300",
        ),
        (
            "crm_denver:2501",
            DENVER,
            "2025-01-08",
            "invoice",
            "paid",
            ACME,
            DANA,
            "1200",
            "2025-02-07",
            "1200",
        ),
        (
            "crm_denver:2502",
            DENVER,
            "2025-01-20",
            "invoice",
            "issued",
            BO,
            ELI,
            "300",
            "2025-02-19",
            "300",
        ),
        (
            "crm_denver:2503",
            DENVER,
            "2025-01-25",
            "invoice",
            "cancelled",
            CLINIC,
            DANA,
            "5000",
            "2025-02-24",
            "5000",
        ),
        (
            "crm_denver:2504",
            DENVER,
            "2025-02-03",
            "credit_note",
            "issued",
            ACME,
            DANA,
            "-200",
            "2025-03-05",
            "-200",
        ),
        (
            "crm_denver:2505",
            DENVER,
            "2025-02-13",
            "invoice",
            "paid",
            CLINIC,
            ELI,
            "700",
            "2025-03-15",
            "700",
        ),
        (
            "crm_denver:2511",
            DENVER,
            "2025-02-28",
            "invoice",
            "issued",
            BO,
            DANA,
            "100",
            "2025-03-30",
            "100",
        ),
        (
            "crm_denver:2506",
            DENVER,
            "2025-03-10",
            "invoice",
            "paid",
            ACME,
            DANA,
            "1500",
            "2025-04-09",
            "1500",
        ),
        (
            "crm_denver:2507",
            DENVER,
            "2025-03-28",
            "invoice",
            "issued",
            BO,
            DANA,
            "300",
            "2025-04-27",
            "300",
        ),
        (
            "crm_denver:2508",
            DENVER,
            "2025-04-15",
            "invoice",
            "issued",
            CLINIC,
            DANA,
            "800",
            "2025-05-15",
            "800",
        ),
        (
            "crm_denver:2509",
            DENVER,
            "2025-05-02",
            "invoice",
            "issued",
            ACME,
            DANA,
            "1100",
            "2025-06-01",
            "1100",
        ),
        # Acme School's duplicate record: counts for Acme School
        (
            "crm_denver:2512",
            DENVER,
            "2025-05-20",
            "invoice",
            "issued",
            ACME_AGAIN,
            DANA,
            "250",
            "2025-06-19",
            "250",
        ),
        (
            "crm_denver:2510",
            DENVER,
            "2025-06-30",
            "invoice",
            "issued",
            BO,
            DANA,
            "450",
            "2025-07-30",
            "450",
        ),
        (
            "crm_austin:2401",
            AUSTIN,
            "2024-01-20",
            "invoice",
            "paid",
            COLLEGE,
            GUS,
            "2000",
            "2024-02-19",
            "2000",
        ),
        (
            "crm_austin:2402",
            AUSTIN,
            "2024-02-14",
            "invoice",
            "paid",
            DENTAL,
            GUS,
            "800",
            "2024-03-15",
            "800",
        ),
        (
            "crm_austin:2403",
            AUSTIN,
            "2024-03-03",
            "invoice",
            "paid",
            EVE,
            GUS,
            "150",
            "2024-04-02",
            "150",
        ),
        (
            "crm_austin:2404",
            AUSTIN,
            "2024-12-30",
            "invoice",
            "paid",
            COLLEGE,
            GUS,
            "500",
            "2025-01-29",
            "500",
        ),
        (
            "crm_austin:2501",
            AUSTIN,
            "2025-01-06",
            "invoice",
            "paid",
            COLLEGE,
            GUS,
            "2400",
            "2025-02-05",
            "2400",
        ),
        (
            "crm_austin:2502",
            AUSTIN,
            "2025-01-31",
            "invoice",
            "paid",
            DENTAL,
            GUS,
            "600",
            "2025-03-02",
            "600",
        ),
        (
            "crm_austin:2503",
            AUSTIN,
            "2025-03-03",
            "invoice",
            "issued",
            EVE,
            IVY,
            "350",
            "2025-04-02",
            "350",
        ),
        (
            "crm_austin:2504",
            AUSTIN,
            "2025-03-20",
            "credit_note",
            "issued",
            DENTAL,
            GUS,
            "-100",
            "2025-04-19",
            "-100",
        ),
        (
            "crm_austin:2505",
            AUSTIN,
            "2025-04-07",
            "invoice",
            "issued",
            COLLEGE,
            GUS,
            "1800",
            "2025-05-07",
            "1800",
        ),
        (
            "crm_austin:2506",
            AUSTIN,
            "2025-05-19",
            "invoice",
            "issued",
            DENTAL,
            IVY,
            "900",
            "2025-06-18",
            "900",
        ),
        (
            "crm_austin:2507",
            AUSTIN,
            "2025-06-02",
            "invoice",
            "issued",
            COLLEGE,
            GUS,
            "1000",
            "2025-07-02",
            "1000",
        ),
    ],
)
INVOICE_LINES = (
    "invoice_line_id branch_id invoice_id line_no product_id qty unit_price discount_amount "
    "line_amount cost_amount",
    [
        ("crm_denver:2401:1", DENVER, "crm_denver:2401", 1, PRINTER, 1, 1000, 0, 1000, 700),
        ("crm_denver:2501:1", DENVER, "crm_denver:2501", 1, PRINTER, 1, 1000, 0, 1000, 700),
        ("crm_denver:2501:2", DENVER, "crm_denver:2501", 2, TONER, 2, 100, 0, 200, 120),
        ("crm_denver:2502:1", DENVER, "crm_denver:2502", 1, REPAIR, 2, 150, 0, 300, 100),
        ("crm_denver:2503:1", DENVER, "crm_denver:2503", 1, PRINTER, 5, 1000, 0, 5000, 3500),
        ("crm_denver:2504:1", DENVER, "crm_denver:2504", 1, TONER, -2, 100, 0, -200, -120),
        ("crm_denver:2505:1", DENVER, "crm_denver:2505", 1, TONER, 5, 100, 50, 450, 300),
        ("crm_denver:2505:2", DENVER, "crm_denver:2505", 2, REPAIR, 1, 250, 0, 250, None),
        ("crm_denver:2506:1", DENVER, "crm_denver:2506", 1, PRINTER, 1, 1500, 0, 1500, 1000),
        ("crm_denver:2507:1", DENVER, "crm_denver:2507", 1, None, 1, 300, 0, 300, 50),
        ("crm_austin:2401:1", AUSTIN, "crm_austin:2401", 1, TONER, 20, 100, 0, 2000, 1200),
        ("crm_austin:2501:1", AUSTIN, "crm_austin:2501", 1, PRINTER, 2, 1000, 0, 2000, 1400),
        ("crm_austin:2501:2", AUSTIN, "crm_austin:2501", 2, TONER, 4, 100, 0, 400, 240),
        ("crm_austin:2502:1", AUSTIN, "crm_austin:2502", 1, REPAIR, 4, 150, 0, 600, 200),
        ("crm_austin:2503:1", AUSTIN, "crm_austin:2503", 1, TONER, 3, 100, 0, 300, 180),
        ("crm_austin:2503:2", AUSTIN, "crm_austin:2503", 2, REPAIR, 1, 50, 0, 50, 20),
        ("crm_austin:2504:1", AUSTIN, "crm_austin:2504", 1, REPAIR, -1, 100, 0, -100, 0),
    ],
)
# Denver is UTC-7 until 2025-03-09 02:00 local, then UTC-6; Austin (Chicago) UTC-6, then UTC-5.
ACTIVITIES = (
    "activity_id branch_id occurred_at kind duration_seconds employee_id client_id lead_id",
    [
        ("crm_denver:a1", DENVER, "2024-01-10 17:00", "call", 200, DANA, ACME, None),
        ("crm_denver:a2", DENVER, "2025-01-06 16:00", "call", 300, DANA, ACME, None),
        # 22:30 on Friday 2025-01-31 in Denver: January, though February in UTC
        ("crm_denver:a3", DENVER, "2025-02-01 05:30", "call", 600, DANA, BO, "crm_denver:l1"),
        ("crm_denver:a4", DENVER, "2025-02-05 16:00", "call", 100, FINN, ACME, None),
        (
            "crm_denver:a5",
            DENVER,
            "2025-02-10 18:00",
            "meeting",
            3600,
            ELI,
            CLINIC,
            "crm_denver:l3",
        ),
        # 20:00 on 2025-02-28 in Denver: February, though March in UTC
        ("crm_denver:a6", DENVER, "2025-03-01 03:00", "call", 240, ELI, ACME, None),
        # 00:30 on 2025-03-10 in Denver (daylight saving time since the 9th): 23:30 on the 9th
        # were the offset still -7
        ("crm_denver:a7", DENVER, "2025-03-10 06:30", "call", 120, DANA, ACME, None),
        # 23:59 on 2025-03-31 in Denver: March, though April in UTC
        ("crm_denver:a8", DENVER, "2025-04-01 05:59", "email", None, DANA, CLINIC, None),
        # 23:00 on May 6 and 10:00 on May 7 in Denver: one UTC date on two local days
        ("crm_denver:a9", DENVER, "2025-05-07 05:00", "email", None, DANA, ACME, None),
        ("crm_denver:a10", DENVER, "2025-05-07 16:00", "email", None, DANA, ACME, None),
        # 22:00 on 2024-12-31 in Austin: 2024, though 2025 in UTC
        ("crm_austin:a1", AUSTIN, "2025-01-01 04:00", "call", 900, GUS, COLLEGE, None),
        ("crm_austin:a2", AUSTIN, "2025-01-15 15:00", "call", 300, GUS, DENTAL, None),
        ("crm_austin:a3", AUSTIN, "2025-01-15 20:00", "call", 500, GUS, COLLEGE, None),
        # 23:30 on 2025-03-11 in Austin (UTC-5 since the 9th)
        ("crm_austin:a4", AUSTIN, "2025-03-12 04:30", "meeting", 1800, IVY, EVE, "crm_austin:l4"),
        ("crm_austin:a5", AUSTIN, "2025-03-20 14:00", "call", 60, IVY, EVE, "crm_austin:l4"),
        ("crm_austin:a6", AUSTIN, "2025-04-02 13:00", "call", 200, HANA, DENTAL, None),
    ],
)
LEADS = (
    "lead_id branch_id created_at channel status owner_id client_id",
    [
        ("crm_denver:l1", DENVER, "2025-01-05 17:00", "website_form", "converted", DANA, BO),
        # the lead's own channel (email) differs from its client's acquisition channel (referral)
        ("crm_denver:l2", DENVER, "2025-01-10 15:00", "email", "converted", DANA, ACME),
        ("crm_denver:l3", DENVER, "2025-02-03 16:00", "call_in", "converted", ELI, CLINIC),
        # 20:00 on 2025-03-31 in Denver: March, though April in UTC; never became a client
        ("crm_denver:l4", DENVER, "2025-04-01 02:00", "chat", "rejected", DANA, None),
        ("crm_austin:l1", AUSTIN, "2024-02-10 17:00", "website_form", "converted", GUS, DENTAL),
        ("crm_austin:l2", AUSTIN, "2025-01-15 16:00", "referral", "converted", GUS, COLLEGE),
        ("crm_austin:l3", AUSTIN, "2025-02-20 18:00", "website_form", "in_progress", GUS, DENTAL),
        ("crm_austin:l4", AUSTIN, "2025-03-05 17:00", "walk_in", "converted", IVY, EVE),
    ],
)
DEALS = (
    "deal_id branch_id opened_at client_id owner_id status amount closed_at",
    [
        # won 15 days after lead l1 of the same client
        ("crm_denver:d1", DENVER, "2025-01-06 18:00", BO, DANA, "won", 900, "2025-01-20 16:00"),
        # won 50 days after lead l2: outside the 30-day window
        ("crm_denver:d2", DENVER, "2025-01-12 18:00", ACME, DANA, "won", 1500, "2025-03-01 17:00"),
        ("crm_denver:d3", DENVER, "2025-02-04 17:00", CLINIC, ELI, "lost", 700, "2025-02-25 17:00"),
        ("crm_denver:d4", DENVER, "2025-02-20 18:00", ACME, DANA, "open", 1100, None),
        ("crm_denver:d5", DENVER, "2025-01-21 17:00", BO, ELI, "won", 300, "2025-02-10 17:00"),
        # won by Dana for the client of Eli's lead l3, 17 days after it: l3 converts, also for
        # a user who sees only Eli's rows
        ("crm_denver:d6", DENVER, "2025-01-28 17:00", CLINIC, DANA, "won", 400, "2025-02-20 17:00"),
        ("crm_austin:d1", AUSTIN, "2024-02-11 16:00", DENTAL, GUS, "won", 800, "2024-02-25 16:00"),
        # won before lead l2 of the same client arrived: not a conversion of it
        ("crm_austin:d2", AUSTIN, "2024-12-15 16:00", COLLEGE, GUS, "won", 500, "2025-01-10 16:00"),
        # won exactly 30 days after lead l2: inside the window (it is inclusive)
        (
            "crm_austin:d3",
            AUSTIN,
            "2025-01-16 15:00",
            COLLEGE,
            GUS,
            "won",
            2400,
            "2025-02-14 16:00",
        ),
        # opened in February, still open: austin's February has deals but none closed
        ("crm_austin:d4", AUSTIN, "2025-02-21 16:00", DENTAL, GUS, "open", 600, None),
        ("crm_austin:d5", AUSTIN, "2025-03-06 16:00", EVE, IVY, "won", 350, "2025-03-07 16:00"),
    ],
)
SERVICE_REQUESTS = (
    "service_request_id branch_id received_at kind client_id product_id engineer_id returned_at",
    [
        (
            "crm_denver:s1",
            DENVER,
            "2025-01-03 16:00",
            "repair",
            ACME,
            PRINTER,
            FINN,
            "2025-01-08 18:00",
        ),
        (
            "crm_denver:s2",
            DENVER,
            "2025-01-10 16:00",
            "repair",
            ACME,
            PRINTER,
            FINN,
            "2025-02-01 05:00",
        ),
        (
            "crm_denver:s3",
            DENVER,
            "2025-02-20 16:00",
            "refill",
            ACME,
            TONER,
            FINN,
            "2025-02-21 17:00",
        ),
        # 19:00 on 2025-02-28 in Denver
        ("crm_denver:s4", DENVER, "2025-03-01 02:00", "repair", BO, PRINTER, FINN, None),
        (
            "crm_denver:s5",
            DENVER,
            "2025-03-14 01:00",
            "repair",
            BO,
            PRINTER,
            FINN,
            "2025-03-20 16:00",
        ),
        (
            "crm_austin:s1",
            AUSTIN,
            "2025-01-20 15:00",
            "repair",
            COLLEGE,
            PRINTER,
            HANA,
            "2025-01-25 16:00",
        ),
        # exactly 14 days after s1
        (
            "crm_austin:s2",
            AUSTIN,
            "2025-02-03 15:00",
            "repair",
            COLLEGE,
            PRINTER,
            HANA,
            "2025-03-01 04:00",
        ),
        (
            "crm_austin:s3",
            AUSTIN,
            "2025-03-05 15:00",
            "refill",
            DENTAL,
            TONER,
            HANA,
            "2025-03-06 15:00",
        ),
        # two at the same instant: each is the other's repeat
        (
            "crm_austin:s4",
            AUSTIN,
            "2025-03-10 15:00",
            "refill",
            EVE,
            TONER,
            HANA,
            "2025-03-12 15:00",
        ),
        ("crm_austin:s5", AUSTIN, "2025-03-10 15:00", "repair", EVE, PRINTER, HANA, None),
    ],
)

# Receivables: each invoice is due 30 days after issue; payments settle them, in part or in
# full, some on a period's last or first day, one after every range the cases ask for (July
# 2025), one an advance without an invoice.
PAYMENTS = (
    "payment_id branch_id paid_on invoice_id client_id amount method",
    [
        ("crm_denver:p1", DENVER, "2024-02-10", "crm_denver:2401", ACME, "1000", "transfer"),
        # on the leap day, the last day of February 2024
        ("crm_denver:p2", DENVER, "2024-02-29", "crm_denver:2402", BO, "400", "card"),
        # on the first day of March: February's balance still owes it
        ("crm_denver:p3", DENVER, "2024-03-01", "crm_denver:2405", BO, "150", "card"),
        ("crm_denver:p4", DENVER, "2024-03-31", "crm_denver:2406", CLINIC, "250", "transfer"),
        ("crm_denver:p5", DENVER, "2024-04-04", "crm_denver:2403", CLINIC, "600", "transfer"),
        ("crm_denver:p6", DENVER, "2024-04-25", "crm_denver:2407", ACME, "300", "transfer"),
        ("crm_denver:p7", DENVER, "2024-07-20", "crm_denver:2404", ACME, "900", "transfer"),
        ("crm_denver:p8", DENVER, "2025-02-07", "crm_denver:2501", ACME, "1200", "transfer"),
        # a part of 2502 on the last day of January; the rest is never paid (overdue from
        # February 20)
        ("crm_denver:p9", DENVER, "2025-01-31", "crm_denver:2502", BO, "100", "cash"),
        ("crm_denver:p10", DENVER, "2025-03-13", "crm_denver:2505", CLINIC, "700", "transfer"),
        # 2506 was due on April 9 and paid on April 30: overdue in between
        ("crm_denver:p11", DENVER, "2025-04-30", "crm_denver:2506", ACME, "1500", "transfer"),
        # an advance, allocated to no invoice
        ("crm_denver:p12", DENVER, "2025-03-05", None, BO, "50", "cash"),
        # after the data's end: no range the cases ask for may count it
        ("crm_denver:p13", DENVER, "2025-07-05", "crm_denver:2508", CLINIC, "800", "transfer"),
        ("crm_austin:p1", AUSTIN, "2024-02-05", "crm_austin:2401", COLLEGE, "2000", "transfer"),
        ("crm_austin:p2", AUSTIN, "2024-03-14", "crm_austin:2402", DENTAL, "800", "transfer"),
        ("crm_austin:p3", AUSTIN, "2024-03-31", "crm_austin:2403", EVE, "150", "card"),
        # paid on its due date: never overdue
        ("crm_austin:p4", AUSTIN, "2025-01-29", "crm_austin:2404", COLLEGE, "500", "transfer"),
        ("crm_austin:p5", AUSTIN, "2025-02-05", "crm_austin:2501", COLLEGE, "2400", "transfer"),
        ("crm_austin:p6", AUSTIN, "2025-02-28", "crm_austin:2502", DENTAL, "600", "transfer"),
        # a part of 2505 on the last day of June
        ("crm_austin:p7", AUSTIN, "2025-06-30", "crm_austin:2505", COLLEGE, "1000", "transfer"),
        # the rest of 2505 after every range: its last payment, which a range never hides
        ("crm_austin:p8", AUSTIN, "2025-07-10", "crm_austin:2505", COLLEGE, "800", "transfer"),
    ],
)
WAREHOUSES = (
    "warehouse_id branch_id name kind city is_active",
    [
        (WH_DENVER, DENVER, "Denver store", "store", "Denver", 1),
        (WH_AUSTIN, AUSTIN, "Austin store", "store", "Austin", 1),
    ],
)
# Stock: an opening balance long before any range, receipts, shipments, a transfer between the
# branches' stores (one row each side), moves posted late on a month's last local day (the
# next month in UTC), and a receipt after every range the cases ask for.
STOCK_MOVES = (
    "stock_move_id branch_id moved_at kind product_id warehouse_id qty unit_cost "
    "counterpart_warehouse_id invoice_id reason keeper_id",
    [
        (
            "stock:m1",
            DENVER,
            "2023-06-01 15:00",
            "adjustment",
            TONER,
            WH_DENVER,
            20,
            "55",
            None,
            None,
            "Opening balance",
            FINN,
        ),
        (
            "stock:m2",
            DENVER,
            "2024-12-15 16:00",
            "receipt",
            TONER,
            WH_DENVER,
            50,
            "60",
            None,
            None,
            None,
            FINN,
        ),
        (
            "stock:m3",
            DENVER,
            "2025-01-05 16:00",
            "receipt",
            PRINTER,
            WH_DENVER,
            3,
            "700",
            None,
            None,
            None,
            FINN,
        ),
        (
            "stock:m4",
            DENVER,
            "2025-01-08 17:00",
            "shipment",
            TONER,
            WH_DENVER,
            -2,
            "60",
            None,
            "crm_denver:2501",
            None,
            FINN,
        ),
        # 22:30 on 2025-01-31 in Denver: January, though February in UTC
        (
            "stock:m5",
            DENVER,
            "2025-02-01 05:30",
            "shipment",
            TONER,
            WH_DENVER,
            -5,
            "60",
            None,
            None,
            None,
            FINN,
        ),
        (
            "stock:m6",
            DENVER,
            "2025-02-10 17:00",
            "transfer",
            TONER,
            WH_DENVER,
            -10,
            "60",
            WH_AUSTIN,
            None,
            None,
            FINN,
        ),
        (
            "stock:m7",
            AUSTIN,
            "2025-02-10 17:00",
            "transfer",
            TONER,
            WH_AUSTIN,
            10,
            "60",
            WH_DENVER,
            None,
            None,
            HANA,
        ),
        (
            "stock:m8",
            DENVER,
            "2025-03-10 17:00",
            "shipment",
            PRINTER,
            WH_DENVER,
            -1,
            "700",
            None,
            "crm_denver:2506",
            None,
            FINN,
        ),
        (
            "stock:m9",
            AUSTIN,
            "2025-01-02 16:00",
            "receipt",
            PRINTER,
            WH_AUSTIN,
            4,
            "700",
            None,
            None,
            None,
            HANA,
        ),
        (
            "stock:m10",
            AUSTIN,
            "2025-01-06 16:00",
            "shipment",
            PRINTER,
            WH_AUSTIN,
            -2,
            "700",
            None,
            "crm_austin:2501",
            None,
            HANA,
        ),
        # 23:00 on 2025-03-31 in Austin: March, though April in UTC
        (
            "stock:m11",
            AUSTIN,
            "2025-04-01 04:00",
            "write_off",
            TONER,
            WH_AUSTIN,
            -1,
            "60",
            None,
            None,
            "Damaged",
            HANA,
        ),
        (
            "stock:m12",
            DENVER,
            "2025-07-03 16:00",
            "receipt",
            TONER,
            WH_DENVER,
            100,
            "62",
            None,
            None,
            None,
            FINN,
        ),
    ],
)
# Tasks, each open from its creation until done: one done before it was due, one done late,
# one never done (overdue from its due time on), one done late in the evening of a month's
# last local day (the next month in UTC), one without a due time, one created after the data.
TASKS = (
    "task_id branch_id created_at title kind assignee_id client_id due_at done_at status",
    [
        (
            "crm_denver:t1",
            DENVER,
            "2025-01-05 16:00",
            "Call back",
            "call",
            DANA,
            ACME,
            "2025-01-10 17:00",
            "2025-01-09 16:00",
            "done",
        ),
        (
            "crm_denver:t2",
            DENVER,
            "2025-01-20 16:00",
            "Send offer",
            "email",
            DANA,
            BO,
            "2025-01-27 17:00",
            "2025-02-03 16:00",
            "done",
        ),
        (
            "crm_denver:t3",
            DENVER,
            "2025-02-01 16:00",
            "Visit",
            "meeting",
            ELI,
            CLINIC,
            "2025-02-14 17:00",
            None,
            "open",
        ),
        # 23:30 on 2025-03-31 in Austin: done in March, though April in UTC
        (
            "crm_austin:t1",
            AUSTIN,
            "2025-01-10 16:00",
            "Quote",
            "email",
            GUS,
            COLLEGE,
            "2025-03-01 17:00",
            "2025-04-01 04:30",
            "done",
        ),
        (
            "crm_austin:t2",
            AUSTIN,
            "2025-03-03 16:00",
            "Check in",
            "call",
            IVY,
            EVE,
            None,
            None,
            "open",
        ),
        (
            "crm_austin:t3",
            AUSTIN,
            "2025-07-02 16:00",
            "Renewal",
            "call",
            GUS,
            DENTAL,
            "2025-07-15 17:00",
            None,
            "open",
        ),
    ],
)

HOLIDAYS = {
    dt.date(2024, 1, 1): "New Year's Day",
    dt.date(2024, 12, 25): "Christmas Day",
    dt.date(2025, 1, 1): "New Year's Day",
    dt.date(2025, 12, 25): "Christmas Day",
}
CALENDAR = (dt.date(2023, 1, 1), dt.date(2025, 12, 31))


def dim_date(first: dt.date, last: dt.date) -> tuple[str, list[Row]]:
    """``core.dim_date`` rows from ``first`` to ``last``, computed with :mod:`datetime`."""
    columns = (
        "calendar_date year quarter month month_name day_of_month day_of_year iso_year iso_week "
        "day_of_week day_name is_weekend is_holiday holiday_name is_workday workday_of_month "
        "workdays_in_month week_start month_start month_end quarter_start year_start"
    )
    days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]

    def workday(day: dt.date) -> bool:
        return day.isoweekday() < 6 and day not in HOLIDAYS

    rows: list[Row] = []
    for day in days:
        month_start = day.replace(day=1)
        next_month = (month_start + dt.timedelta(days=32)).replace(day=1)
        in_month = [
            month_start + dt.timedelta(days=i) for i in range((next_month - month_start).days)
        ]
        iso = day.isocalendar()
        rows.append(
            (
                day,
                day.year,
                (day.month - 1) // 3 + 1,
                day.month,
                day.strftime("%B"),
                day.day,
                day.timetuple().tm_yday,
                iso.year,
                iso.week,
                iso.weekday,
                day.strftime("%A"),
                iso.weekday >= 6,
                day in HOLIDAYS,
                HOLIDAYS.get(day),
                workday(day),
                sum(workday(d) for d in in_month if d <= day) if workday(day) else None,
                sum(workday(d) for d in in_month),
                day - dt.timedelta(days=iso.weekday - 1),
                month_start,
                next_month - dt.timedelta(days=1),
                dt.date(day.year, (day.month - 1) // 3 * 3 + 1, 1),
                dt.date(day.year, 1, 1),
            )
        )
    return columns, rows


TABLES: dict[str, tuple[str, Sequence[Row]]] = {
    "dim_branch": BRANCHES,
    "dim_employee": EMPLOYEES,
    "dim_client": CLIENTS,
    "dim_product": PRODUCTS,
    "dim_date": dim_date(*CALENDAR),
    "fct_invoice": INVOICES,
    "fct_invoice_line": INVOICE_LINES,
    "fct_activity": ACTIVITIES,
    "fct_lead": LEADS,
    "fct_deal": DEALS,
    "fct_service_request": SERVICE_REQUESTS,
    "fct_payment": PAYMENTS,
    "dim_warehouse": WAREHOUSES,
    "fct_stock_move": STOCK_MOVES,
    "fct_task": TASKS,
}


def _source(table: str, key: str) -> str:
    """The source entry a row would come from: the key's prefix (``crm_denver:7``)."""
    if table == "dim_date":
        return "calendar"
    return "crm_" + key if table == "dim_branch" else key.split(":")[0]


def table_rows() -> Iterator[tuple[str, list[str], list[Row]]]:
    """Each table's columns and rows, typed, with the load metadata added."""
    types = {t.name: {c.name: c.type for c in t.columns} for t in CORE_TABLES}
    for table, (header, rows) in TABLES.items():
        given = header.split()
        columns = [*given, "_source", "_loaded_at"]
        out = []
        for row in rows:
            assert len(row) == len(given), f"{table}: {row!r} does not fit {given}"
            typed = [cell_type(v, types[table][c]) for v, c in zip(row, given, strict=True)]
            out.append((*typed, _source(table, str(row[0])), LOADED_AT))
        yield table, columns, out


# -- definitions -----------------------------------------------------------------------------------

KPI_FILES = {
    "sales.yaml": """\
kpis:
  - id: revenue
    label: Revenue
    description: Net invoiced amount; credit notes subtract, cancelled invoices do not count.
    unit: money
    type: simple
    fact: invoice
    agg: sum
    expr: net_amount
    filter: status <> 'cancelled'
  - id: invoice_count
    label: Invoices
    description: Invoices issued, not credit notes, not cancelled.
    unit: count
    type: simple
    fact: invoice
    agg: count
    filter: [status <> 'cancelled', kind = 'invoice']
  - id: invoiced_clients
    label: Invoiced clients
    description: Distinct clients invoiced.
    unit: count
    type: simple
    fact: invoice
    agg: count_distinct
    expr: client_id
    filter: status <> 'cancelled'
  - id: credited_clients
    label: Credited clients
    description: Distinct clients given a credit note.
    unit: count
    type: simple
    fact: invoice
    agg: count_distinct
    expr: client_id
    filter: [status <> 'cancelled', kind = 'credit_note']
  - id: credited_client_share
    label: Share of clients credited
    description: Clients given a credit note among the clients invoiced.
    unit: percent
    type: ratio
    numerator: credited_clients
    denominator: invoiced_clients
  - id: avg_invoice
    label: Average invoice
    description: Average net amount of an invoice (credit notes left out).
    unit: money
    type: simple
    fact: invoice
    agg: avg
    expr: net_amount
    filter: [status <> 'cancelled', kind = 'invoice']
  - id: smallest_invoice
    label: Smallest invoice or credit note
    description: The lowest net amount.
    unit: money
    type: simple
    fact: invoice
    agg: min
    expr: net_amount
    filter: status <> 'cancelled'
  - id: largest_invoice
    label: Largest invoice
    description: The highest net amount.
    unit: money
    type: simple
    fact: invoice
    agg: max
    expr: net_amount
    filter: status <> 'cancelled'
  - id: median_invoice
    label: Median invoice
    description: The median net amount, credit notes included.
    unit: money
    type: simple
    fact: invoice
    agg: median
    expr: net_amount
    filter: status <> 'cancelled'
  - id: key_account_revenue
    label: Key account revenue
    description: Revenue from clients of the key segment (a filter on a dimension).
    unit: money
    type: simple
    fact: invoice
    agg: sum
    expr: net_amount
    filter: [status <> 'cancelled', client_segment = 'key']
  - id: credit_notes
    label: Credit notes
    description: Money given back by credit notes, as a positive amount; lower is better.
    unit: money
    direction: lower
    type: simple
    fact: invoice
    agg: sum
    expr: -net_amount
    filter: [status <> 'cancelled', kind = 'credit_note']
  - id: line_revenue
    label: Line revenue
    description: Net amount of invoice lines of invoices that are not cancelled.
    unit: money
    type: simple
    fact: invoice_line
    agg: sum
    expr: line_amount
    filter: status <> 'cancelled'
  - id: line_cost
    label: Cost of sales
    description: Cost of invoice lines of invoices that are not cancelled.
    unit: money
    type: simple
    fact: invoice_line
    agg: sum
    expr: cost_amount
    filter: status <> 'cancelled'
  - id: gross_margin
    label: Gross margin
    description: Line revenue minus cost of sales.
    unit: money
    type: derived
    expr: line_revenue - line_cost
  - id: margin_share
    label: Gross margin share
    description: Gross margin over line revenue.
    unit: percent
    type: derived
    expr: (line_revenue - line_cost) / line_revenue
  - id: avg_check
    label: Average check
    description: Revenue per invoice (a ratio of one fact, one scan).
    unit: money
    type: ratio
    numerator: revenue
    denominator: invoice_count
  - id: key_revenue_share
    label: Key account share
    description: Share of revenue from key clients (one fact, a filter through a dimension).
    unit: percent
    type: ratio
    numerator: {kpi: revenue, filter: "client_segment = 'key'"}
    denominator: revenue
  - id: revenue_per_call
    label: Invoiced per call
    description: Invoices' revenue (credit notes left out) per call (a ratio of two facts).
    unit: money
    type: ratio
    numerator: {kpi: revenue, filter: "kind = 'invoice'"}
    denominator: {kpi: activity_count, filter: "kind = 'call'"}
  - id: revenue_growth_yoy
    label: Revenue growth
    description: Revenue against the same period a year earlier.
    unit: percent
    type: derived
    expr: (revenue - revenue_last_year) / revenue_last_year
    inputs:
      - {kpi: revenue, as: revenue_last_year, offset: 1 year}
  - id: revenue_change_pop
    label: Revenue change
    description: Revenue minus the previous period's.
    unit: money
    type: derived
    expr: revenue - revenue_before
    inputs:
      - {kpi: revenue, as: revenue_before, offset: 1 period}
  - id: revenue_mtd
    label: Revenue month to date
    description: Revenue from the start of the month.
    unit: money
    type: cumulative
    kpi: revenue
    to_date: month
  - id: revenue_qtd
    label: Revenue quarter to date
    description: Revenue from the start of the quarter.
    unit: money
    type: cumulative
    kpi: revenue
    to_date: quarter
  - id: revenue_ytd
    label: Revenue year to date
    description: Revenue from the start of the year.
    unit: money
    type: cumulative
    kpi: revenue
    to_date: year
  - id: revenue_rolling_30d
    label: Revenue, last 30 days
    description: Revenue of the 30 days ending on the period's last day.
    unit: money
    type: cumulative
    kpi: revenue
    window: 30 days
  - id: revenue_rolling_3m
    label: Revenue, last 3 months
    description: Revenue of the 3 months ending on the period's last day.
    unit: money
    type: cumulative
    kpi: revenue
    window: 3 months
  - id: revenue_running
    label: Revenue since the start
    description: A running total from the first invoice.
    unit: money
    type: cumulative
    kpi: revenue
  - id: clients_ytd
    label: Clients invoiced this year
    description: Distinct clients invoiced from the start of the year.
    unit: count
    type: cumulative
    kpi: invoiced_clients
    to_date: year
  - id: clients_rolling_30d
    label: Clients invoiced in the last 30 days
    description: Distinct clients invoiced in the 30 days ending on the period's last day.
    unit: count
    type: cumulative
    kpi: invoiced_clients
    window: 30 days
  - id: clients_ever
    label: Clients invoiced since the start
    description: Distinct clients invoiced up to the period's last day.
    unit: count
    type: cumulative
    kpi: invoiced_clients
  - id: revenue_vs_prev
    label: Revenue against the previous period
    description: Change against the previous period, in percent.
    unit: percent
    type: period_over_period
    kpi: revenue
    compare: previous_period
  - id: revenue_vs_ly
    label: Revenue against last year
    description: Change against the same period last year, in percent.
    unit: percent
    type: period_over_period
    kpi: revenue
    compare: same_period_last_year
  - id: revenue_change_ly
    label: Revenue change against last year
    description: Change against the same period last year, in money.
    unit: money
    type: period_over_period
    kpi: revenue
    compare: same_period_last_year
    output: change
  - id: revenue_last_year
    label: Revenue last year
    description: The same period's revenue a year earlier.
    unit: money
    type: period_over_period
    kpi: revenue
    compare: same_period_last_year
    output: previous
  - id: revenue_vs_prev_lfl
    label: Revenue against the previous period, like for like
    description: A running period against as many days of the previous one.
    unit: percent
    type: period_over_period
    kpi: revenue
    compare: previous_period
    like_for_like: true
  - id: revenue_vs_ly_lfl
    label: Revenue against last year, like for like
    description: A running period against as many days of the same period last year.
    unit: percent
    type: period_over_period
    kpi: revenue
    compare: same_period_last_year
    like_for_like: true
  - id: revenue_ytd_vs_ly
    label: Revenue year to date against last year
    description: A cumulative KPI against the same period last year.
    unit: percent
    type: period_over_period
    kpi: revenue_ytd
    compare: same_period_last_year
  - id: line_revenue_qtd
    label: Line revenue quarter to date
    description: Line revenue from the start of the quarter.
    unit: money
    type: cumulative
    kpi: line_revenue
    to_date: quarter
  - id: avg_invoice_vs_ly
    label: Average invoice against last year
    description: Change of a non-additive KPI against the same period last year.
    unit: percent
    type: period_over_period
    kpi: avg_invoice
    compare: same_period_last_year
""",
    "crm.yaml": """\
kpis:
  - id: lead_count
    label: Leads
    description: Leads received.
    unit: count
    type: simple
    fact: lead
    agg: count
  - id: activity_count
    label: Activities
    description: Calls, meetings and e-mails.
    unit: count
    type: simple
    fact: activity
    agg: count
  - id: call_count
    label: Calls
    description: Calls made or taken.
    unit: count
    type: simple
    fact: activity
    agg: count
    filter: kind = 'call'
  - id: active_days
    label: Days with activity
    description: Days (UTC dates) with any activity.
    unit: count
    type: simple
    fact: activity
    agg: count_distinct
    expr: CAST(occurred_at AS DATE)
  - id: call_days
    label: Days with a call
    description: Days (UTC dates) with a call.
    unit: count
    type: simple
    fact: activity
    agg: count_distinct
    expr: CAST(occurred_at AS DATE)
    filter: kind = 'call'
  - id: calls_per_active_day
    label: Calls per active day
    description: Calls over the days with any activity.
    unit: count
    type: ratio
    numerator: call_count
    denominator: active_days
  - id: median_call_hours
    label: Median call length
    description: The median length of a call, in hours.
    unit: hours
    type: simple
    fact: activity
    agg: median
    expr: duration_seconds / 3600.0
    filter: kind = 'call'
  - id: calls_rolling_7d
    label: Calls, last 7 days
    description: Calls of the 7 local days ending on the period's last day.
    unit: count
    type: cumulative
    kpi: call_count
    window: 7 days
  - id: deal_count
    label: Deals opened
    description: Deals opened.
    unit: count
    type: simple
    fact: deal
    agg: count
  - id: won_deals
    label: Deals won
    description: Deals won, counted when closed.
    unit: count
    type: simple
    fact: deal
    agg: count
    filter: status = 'won'
    time: closed_at
  - id: win_rate
    label: Win rate
    description: Won deals over closed deals, by the month they were opened.
    unit: percent
    missing_plan: carry_forward
    type: ratio
    numerator: {kpi: deal_count, filter: "status = 'won'"}
    denominator: {kpi: deal_count, filter: "status IN ('won', 'lost')"}
  - id: lead_to_win_30d
    label: Leads won within 30 days
    description: Share of leads whose client wins a deal within 30 days.
    unit: percent
    type: conversion
    base: {fact: lead}
    conversion: {fact: deal, filter: "status = 'won'", time: closed_at}
    entity: client
    window: 30 days
  - id: key_lead_to_win_30d
    label: Leads won by key clients within 30 days
    description: Leads of key and small clients whose client, if key, wins a deal within 30 days.
    unit: percent
    type: conversion
    base: {fact: lead, filter: "client_segment IN ('key', 'small')"}
    conversion: {fact: deal, filter: ["status = 'won'", "client_segment = 'key'"], time: closed_at}
    entity: client
    window: 30 days
  - id: service_requests
    label: Service requests
    description: Equipment taken in for service.
    unit: count
    type: simple
    fact: service_request
    agg: count
  - id: repeat_service_14d
    label: Repeat service within 14 days
    description: Share of service requests followed by another of the same client within 14 days.
    unit: percent
    direction: lower
    type: conversion
    base: {fact: service_request}
    conversion: {fact: service_request}
    entity: client
    window: 14 days
""",
    "references.yaml": """\
kpis:
  - id: payment_days_late
    label: Days late per payment
    description: Days from the invoice's due date to the payment (negative when early).
    unit: days
    direction: lower
    type: simple
    fact: payment
    agg: avg
    expr: paid_on - invoice.due_on
  - id: median_payment_days_late
    label: Median days late
    description: The median of the days from the invoice's due date to the payment.
    unit: days
    direction: lower
    type: simple
    fact: payment
    agg: median
    expr: paid_on - invoice.due_on
  - id: late_paid_amount
    label: Paid late
    description: Money paid after the invoice's due date.
    unit: money
    direction: lower
    type: simple
    fact: payment
    agg: sum
    expr: amount
    filter: paid_on > invoice.due_on
  - id: key_client_payments
    label: Payments of key clients
    description: Money paid by clients of the key segment, named through the client's table.
    unit: money
    type: simple
    fact: payment
    agg: sum
    expr: amount
    filter: client.segment = 'key'
  - id: lead_response_hours
    label: Lead response time
    description: Hours from a lead to its first activity; leads never answered are left out.
    unit: hours
    direction: lower
    type: simple
    fact: lead
    agg: avg
    expr: date_diff('minute', created_at, first_activity.occurred_at) / 60.0
  - id: invoice_settle_days
    label: Days to the last payment
    description: Days from an invoice to its last payment, whenever that is.
    unit: days
    direction: lower
    type: simple
    fact: invoice
    agg: avg
    expr: last_payment.paid_on - issued_on
    filter: kind = 'invoice'
  - id: paid_invoice_revenue
    label: Revenue of invoices with a payment
    description: Net amount of the invoices some payment refers to, each counted once.
    unit: money
    type: simple
    fact: invoice
    agg: sum
    expr: net_amount
    filter: [status <> 'cancelled', first_payment.paid_on IS NOT NULL]
  - id: web_lead_touch_30d
    label: Leads followed by a website lead's activity
    description: Share of leads whose client has an activity about a website lead within 30 days.
    unit: percent
    type: conversion
    base: {fact: lead}
    conversion: {fact: activity, filter: "lead.channel = 'website_form'"}
    entity: client
    window: 30 days
""",
    "balances.yaml": """\
kpis:
  - id: stock_on_hand
    label: Stock on hand
    description: Units in store at the period's end, every move summed since the first.
    unit: count
    type: balance
    fact: stock_move
    agg: sum
    expr: qty
  - id: stock_value
    label: Stock value
    description: Stock at cost at the period's end.
    unit: money
    type: balance
    fact: stock_move
    agg: sum
    expr: qty * unit_cost
  - id: stock_value_vs_ly
    label: Stock value against last year
    description: Stock value at the period's end minus a year earlier.
    unit: money
    type: period_over_period
    kpi: stock_value
    compare: same_period_last_year
    output: change
  - id: stock_change
    label: Stock change
    description: Stock on hand minus the previous period's (a shifted balance).
    unit: count
    type: derived
    expr: stock_on_hand - stock_before
    inputs:
      - {kpi: stock_on_hand, as: stock_before, offset: 1 period}
  - id: open_pipeline_value
    label: Open pipeline
    description: Amount of the deals open at the period's end.
    unit: money
    type: balance
    fact: deal
    agg: sum
    expr: amount
    from: opened_at
    until: closed_at
  - id: largest_open_deal
    label: Largest open deal
    description: The largest amount of a deal open at the period's end.
    unit: money
    type: balance
    fact: deal
    agg: max
    expr: amount
    until: closed_at
  - id: avg_open_deal
    label: Average open deal
    description: The average amount of the deals open at the period's end.
    unit: money
    type: balance
    fact: deal
    agg: avg
    expr: amount
    until: closed_at
  - id: clients_with_open_deals
    label: Clients with open deals
    description: Distinct clients with a deal open at the period's end.
    unit: count
    type: balance
    fact: deal
    agg: count_distinct
    expr: client_id
    until: closed_at
  - id: service_backlog
    label: Service backlog
    description: Equipment taken in and not yet given back at the period's end.
    unit: count
    type: balance
    fact: service_request
    agg: count
    until: returned_at
  - id: open_overdue_tasks
    label: Open overdue tasks
    description: Tasks not done at the period's end whose due day had passed.
    unit: count
    direction: lower
    type: balance
    fact: task
    agg: count
    until: done_at
    when: CAST(due_at AS DATE) < as_of
  - id: invoiced_balance
    label: Invoiced to date
    description: Invoices and credit notes issued up to the period's end, cancelled ones left out.
    unit: money
    type: balance
    fact: invoice
    agg: sum
    expr: total_amount
    filter: status <> 'cancelled'
  - id: paid_balance
    label: Paid to date
    description: Payments received up to the period's end, advances included.
    unit: money
    type: balance
    fact: payment
    agg: sum
    expr: amount
  - id: receivables
    label: Receivables outstanding
    description: Invoiced minus paid, at the period's end.
    unit: money
    direction: lower
    type: derived
    expr: invoiced_balance - paid_balance
  - id: invoiced_overdue
    label: Invoiced and overdue
    description: Invoices past their due day at the period's end.
    unit: money
    type: balance
    fact: invoice
    agg: sum
    expr: total_amount
    filter: status <> 'cancelled'
    when: due_on < as_of
  - id: paid_on_overdue
    label: Paid on overdue invoices
    description: Payments up to the period's end of invoices past their due day then.
    unit: money
    type: balance
    fact: payment
    agg: sum
    expr: amount
    when: [due_on < as_of, status <> 'cancelled']
  - id: receivables_overdue
    label: Receivables overdue
    description: What invoices past their due day still owe at the period's end.
    unit: money
    direction: lower
    type: derived
    expr: invoiced_overdue - paid_on_overdue
""",
    "entities.yaml": """\
kpis:
  - id: new_clients
    label: New clients
    description: Clients whose first invoice falls in the period.
    unit: count
    type: entities
    count: new
    entity: client
    events:
      fact: invoice
      filter: "kind = 'invoice' AND status NOT IN ('draft', 'cancelled')"
  - id: new_clients_any
    label: New clients, by invoice or deal
    description: Clients whose first invoice or first deal, whichever first, falls in the period.
    unit: count
    type: entities
    count: new
    entity: client
    events:
      - {fact: invoice, filter: "kind = 'invoice' AND status <> 'cancelled'"}
      - {fact: deal}
  - id: first_category_buyers
    label: First-time buyers of a category
    description: Clients buying from a product category for the first time, once per category.
    unit: count
    type: entities
    count: new
    entity: [client, product_category]
    events: {fact: invoice_line, filter: "status <> 'cancelled'"}
  - id: new_line_clients
    label: New clients, by invoice line
    description: Clients whose first invoice line falls in the period (several lines on that day).
    unit: count
    type: entities
    count: new
    entity: client
    events: {fact: invoice_line, filter: "status <> 'cancelled'"}
  - id: returning_clients
    label: Returning clients
    description: Clients invoiced in the period who had been invoiced before it.
    unit: count
    type: entities
    count: returning
    entity: client
    events: {fact: invoice, filter: "kind = 'invoice' AND status <> 'cancelled'"}
  - id: reactivated_clients
    label: Reactivated clients
    description: Clients invoiced again after 91 days or more without an invoice.
    unit: count
    type: entities
    count: reactivated
    entity: client
    events: {fact: invoice, filter: "kind = 'invoice' AND status <> 'cancelled'"}
    gap: 91 days
  - id: reactivated_clients_3m
    label: Reactivated clients, 3 months
    description: Clients invoiced again after 3 months or more without an invoice.
    unit: count
    type: entities
    count: reactivated
    entity: client
    events: {fact: invoice, filter: "kind = 'invoice' AND status <> 'cancelled'"}
    gap: 3 months
  - id: reactivated_contacts
    label: Clients back in touch
    description: Clients with a call or a deal two months or more after their previous one.
    unit: count
    type: entities
    count: reactivated
    entity: client
    events:
      - {fact: activity, filter: "kind = 'call'"}
      - {fact: deal}
    gap: 2 months
  - id: active_clients
    label: Active clients
    description: Clients invoiced in the period.
    unit: count
    type: entities
    count: active
    entity: client
    events: {fact: invoice, filter: "kind = 'invoice' AND status <> 'cancelled'"}
  - id: active_contacts
    label: Clients in touch
    description: Clients with a call or a deal opened in the period.
    unit: count
    type: entities
    count: active
    entity: client
    events:
      - {fact: activity, filter: "kind = 'call'"}
      - {fact: deal}
""",
    "per_entity.yaml": """\
kpis:
  - id: stock_below_minimum
    label: Stock below minimum
    description: Products in a store whose stock at the period's end is below their minimum.
    unit: count
    direction: lower
    type: balance
    fact: stock_move
    agg: sum
    expr: qty
    per: [product, warehouse]
    having: value < product.min_stock_qty
  - id: stock_at_minimum_or_below
    label: Stock at its minimum or below
    description: Products in a store whose stock at the period's end is at most their minimum.
    unit: count
    direction: lower
    type: balance
    fact: stock_move
    agg: sum
    expr: qty
    per: [product, warehouse]
    having: value <= product.min_stock_qty
  - id: toner_below_minimum
    label: Toner below minimum
    description: Toner cartridges in a store below their minimum, named by category in having.
    unit: count
    direction: lower
    type: balance
    fact: stock_move
    agg: sum
    expr: qty
    per: [warehouse, product]
    having: value < product.min_stock_qty AND product_category = 'Toner cartridges'
  - id: stocked_items
    label: Items stocked
    description: Products and stores with a stock move up to the period's end.
    unit: count
    type: balance
    fact: stock_move
    agg: sum
    expr: qty
    per: [product, warehouse]
  - id: invoices_part_paid
    label: Invoices paid in part
    description: Invoices with payments up to the period's end that fall short of their total.
    unit: count
    type: balance
    fact: payment
    agg: sum
    expr: amount
    per: invoice
    having: value < invoice.total_amount
  - id: overdue_invoices_part_paid
    label: Overdue invoices paid in part
    description: Invoices past their due day with payments short of their total.
    unit: count
    type: balance
    fact: payment
    agg: sum
    expr: amount
    when: due_on < as_of
    per: invoice
    having: value < invoice.total_amount
  - id: clients_owing_more_than_one_invoice
    label: Clients with several unpaid invoices
    description: Clients with more than one invoice open at the period's end.
    unit: count
    type: balance
    fact: invoice
    agg: count
    filter: [kind = 'invoice', status <> 'cancelled']
    when: status <> 'paid' OR last_payment.paid_on > as_of
    per: client
    having: value > 1
  - id: invoices_overdue_count
    label: Invoices overdue
    description: Invoices past their due day and not settled at the period's end.
    unit: count
    direction: lower
    type: balance
    fact: invoice
    agg: count
    filter: [kind = 'invoice', status <> 'cancelled']
    when: [due_on < as_of, status <> 'paid' OR last_payment.paid_on > as_of]
""",
}

PLAN_FILES = {
    # a plan per sales manager and month; Gus has no revenue plan for March, Eli none for
    # won deals in January (no plan: the achievement counts as the scorecard's floor)
    "employees.csv": """\
kpi,period,employee,plan
revenue,2025-01,crm_denver:1,1000
revenue,2025-02,crm_denver:1,1000
revenue,2025-03,crm_denver:1,2000
revenue,2025-01,crm_denver:2,500
revenue,2025-02,crm_denver:2,500
revenue,2025-01,crm_austin:1,2500
revenue,2025-02,crm_austin:1,2500
revenue,2025-03,crm_austin:3,350
won_deals,2025-01,crm_denver:1,1
won_deals,2025-02,crm_denver:1,1
won_deals,2025-03,crm_denver:1,1
won_deals,2025-02,crm_denver:2,1
won_deals,2025-01,crm_austin:1,2
won_deals,2025-02,crm_austin:1,1
won_deals,2025-03,crm_austin:3,0.5
credit_notes,2025-01,crm_denver:1,100
credit_notes,2025-02,crm_denver:1,100
credit_notes,2025-03,crm_denver:1,100
credit_notes,2025-03,crm_austin:1,100
""",
    # denver: months of Q1; austin: one plan for Q2; win rate: December 2024 and February 2025
    "branches.csv": """\
kpi,period,branch,plan
revenue,2025-01,denver,1000
revenue,2025-02,denver,1000
revenue,2025-03,denver,1500
revenue,2025-Q2,austin,9100
win_rate,2024-12,denver,0.5
win_rate,2025-02,denver,0.8
""",
    "entities.csv": """\
kpi,period,branch,plan
first_category_buyers,2025-01,denver,2
first_category_buyers,2025-02,denver,2
first_category_buyers,2025-03,denver,2
active_clients,2025-Q1,denver,3
""",
}

SCORECARD = """\
role: sales_manager
label: Sales manager
base_amount: 1000
kpis:
  - {kpi: revenue, weight: 3}
  - {kpi: won_deals, weight: 2}
  - {kpi: credit_notes, weight: 1}
floor: 0.5
cap: 1.5
gates:
  - {kpi: revenue, min_achievement: 0.8}
bonus: base_amount * score
"""


# -- fixtures --------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project folder with ``kpis/``, ``plans/`` and ``scorecards/`` as an analyst writes them."""
    root = tmp_path_factory.mktemp("project")
    for folder, files in (
        ("kpis", KPI_FILES),
        ("plans", PLAN_FILES),
        ("scorecards", {"sales_manager.yaml": SCORECARD}),
    ):
        (root / folder).mkdir()
        for name, text in files.items():
            (root / folder / name).write_text(text, encoding="utf-8")
    return root


@pytest.fixture(scope="session")
def definitions(project: Path) -> Definitions:
    kpis = load_kpis(project / "kpis")
    return Definitions(
        kpis, load_plans(project / "plans", kpis), load_scorecards(project / "scorecards", kpis)
    )


@pytest.fixture(scope="session")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A closed DuckDB file holding the fixture company in ``core``."""
    path = tmp_path_factory.mktemp("warehouse") / "warehouse.duckdb"
    con = duckdb.connect(str(path))
    try:
        create_core_schema(con)
        for table, columns, rows in table_rows():
            # from a frame: executemany takes seconds for the calendar's thousand rows
            con.register("incoming", pd.DataFrame(rows, columns=columns))
            names = ", ".join(columns)
            con.execute(f"INSERT INTO core.{table} ({names}) SELECT {names} FROM incoming")
            con.unregister("incoming")
    finally:
        con.close()
    return path


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """The conninfo of a fresh PostgreSQL database holding the fixture company in ``core``;
    dropped after the session."""
    url = urls.parse_url(SERVER.format(db=f"kpi_cases_{uuid.uuid4().hex[:10]}"))
    try:
        urls.ensure_database(url)
    except Exception as exc:
        pytest.fail(f"{urls.show(url)} is not reachable ({exc}); .ci/run starts it")
    conninfo = SERVER.format(db=url.database)
    try:
        with psycopg.connect(conninfo) as con:
            for statement in ddl():
                con.execute(statement)
            with con.cursor() as cur:
                for table, columns, rows in table_rows():
                    with cur.copy(f"COPY core.{table} ({', '.join(columns)}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(row)
        yield conninfo
    finally:
        urls.drop_database(url)


class Counted:
    """A connection that notes each cursor taken from it in ``taken``, as the thread taking
    it: each time the engine reads the warehouse (it takes a cursor of its connection for
    each piece of work)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, taken: list[int]) -> None:
        self.con = con
        self.taken = taken

    def cursor(self) -> duckdb.DuckDBPyConnection:
        self.taken.append(threading.get_ident())
        return self.con.cursor()

    def __getattr__(self, name: str) -> object:
        return getattr(self.con, name)


def make_engine(
    definitions: Definitions,
    warehouse: Path,
    opened: list[int] | None = None,
    *,
    share_reads: bool = True,
    workers: int = WORKERS,
    cache_rows: int = CACHE_ROWS,
) -> Engine:
    """An engine reading the fixture file read-only; ``opened`` counts its reads of it;
    without ``share_reads``, each statement reads its facts itself; ``workers`` statements
    run at once; its cache holds ``cache_rows`` rows."""

    def connect() -> duckdb.DuckDBPyConnection:
        con = sandbox.open_snapshot(warehouse)
        return con if opened is None else cast(duckdb.DuckDBPyConnection, Counted(con, opened))

    return Engine(
        definitions,
        connect,
        lambda: "fixture",
        share_reads=share_reads,
        workers=workers,
        cache_rows=cache_rows,
    )


@pytest.fixture(scope="session")
def case_engine(definitions: Definitions, warehouse: Path) -> Engine:
    """The KPIs without plans or scorecards: evaluate then returns exactly the compiled
    query's rows (plans add rows for planned slices without values)."""
    return make_engine(Definitions(definitions.kpis), warehouse)


@pytest.fixture
def plan_engine(definitions: Definitions, warehouse: Path) -> Engine:
    """The KPIs with their plans and scorecard, with an empty cache."""
    return make_engine(definitions, warehouse)


@pytest.fixture
def fresh_engine(definitions: Definitions, warehouse: Path) -> Callable[[], Engine]:
    """New engines without plans, each with an empty cache."""
    return lambda: make_engine(Definitions(definitions.kpis), warehouse)


EngineFactory = Callable[[list[int]], Engine]


@pytest.fixture
def counted_engine(definitions: Definitions, warehouse: Path) -> EngineFactory:
    """A fresh engine that appends to the given list each time it opens a connection."""
    return lambda opened: make_engine(definitions, warehouse, opened)
