"""Golden values of client and pipeline reports, computed by hand on a small fixture.

Two branches: Denver (UTC-7 in winter, UTC-6 from 9 March 2025) and Austin. The clients' fixture
holds a client typed in twice (``c3`` is a duplicate of ``c1``): every client report must count
it as its master. The pipeline's fixture holds deals with their stage history, one of them
closed at 03:00 UTC on 1 April, which is still 31 March in Denver.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import pandas as pd
import pytest

from kpiboard.config import load_settings
from reports.runner import Runner
from tests.reports.conftest import BRANCHES, make_project

EMPLOYEES = [
    {"employee_id": "d1", "branch_id": "denver", "full_name": "Dana", "role": "sales_manager"},
    {"employee_id": "d2", "branch_id": "denver", "full_name": "Drew", "role": "sales_manager"},
    {"employee_id": "a1", "branch_id": "austin", "full_name": "Alex", "role": "sales_manager"},
]


def _rows(result: Any, columns: Sequence[str]) -> list[dict[str, Any]]:
    """The result's rows, the given columns only, as plain values (floats rounded to 6
    places, missing values None, dates as dates)."""

    def plain(value: Any) -> Any:
        if value is None or value is pd.NaT or value is pd.NA:
            return None
        if isinstance(value, float) and math.isnan(value):
            return None
        if isinstance(value, Decimal | float):
            return round(float(value), 6)
        if isinstance(value, pd.Timestamp):
            return value.date()
        if hasattr(value, "item"):  # numpy scalars
            return plain(value.item())
        return value

    frame = result.frame
    return [{c: plain(row[c]) for c in columns} for _, row in frame.iterrows()]


# -- clients ---------------------------------------------------------------------------------------

CLIENTS = [
    {
        "client_id": "c1",
        "branch_id": "denver",
        "name": "Acme",
        "owner_id": "d1",
        "segment": "key",
        "created_at": "2024-01-01 10:00",
    },
    {
        "client_id": "c2",
        "branch_id": "denver",
        "name": "Bolt",
        "owner_id": "d2",
        "segment": "regular",
        "created_at": "2024-02-01 10:00",
    },
    # Acme typed in again: a duplicate whose facts belong to c1
    {
        "client_id": "c3",
        "branch_id": "denver",
        "name": "ACME Inc",
        "owner_id": "d1",
        "segment": "key",
        "master_client_id": "c1",
        "created_at": "2024-12-01 10:00",
    },
    {
        "client_id": "c4",
        "branch_id": "austin",
        "name": "Cove",
        "owner_id": "a1",
        "segment": "regular",
        "created_at": "2024-03-01 10:00",
    },
    {
        "client_id": "c5",
        "branch_id": "denver",
        "name": "Dune",
        "owner_id": "d1",
        "segment": "small",
        "created_at": "2024-04-01 10:00",
    },
    {
        "client_id": "c6",
        "branch_id": "austin",
        "name": "Echo",
        "owner_id": "a1",
        "segment": "key",
        "created_at": "2025-03-01 10:00",
    },
    {
        "client_id": "c7",
        "branch_id": "denver",
        "name": "Fig",
        "owner_id": "d2",
        "created_at": "2025-03-01 10:00",
    },
]
# invoice, branch, client, issued, net, status, client_invoice_no, days since previous purchase
# (the last two as kpiboard fills them: per master client, c3's purchases are c1's)
INVOICES = [
    ("i1", "denver", "c1", "2024-06-10", "100.00", "paid", 1, None),
    ("i2", "denver", "c3", "2025-01-15", "200.00", "paid", 2, 219),  # 2024-06-10 → 2025-01-15
    ("i3", "denver", "c2", "2025-01-20", "300.00", "paid", 1, None),
    ("i4", "denver", "c1", "2025-02-05", "150.00", "paid", 3, 21),
    ("i5", "denver", "c2", "2025-02-10", "50.00", "paid", 2, 21),
    ("i6", "austin", "c4", "2025-02-12", "400.00", "paid", 1, None),
    ("i7", "denver", "c2", "2025-02-25", "70.00", "paid", 3, 15),
    ("i8", "denver", "c1", "2025-03-03", "999.00", "cancelled", None, None),
    ("i9", "austin", "c4", "2025-03-15", "80.00", "paid", 2, 31),
    ("i10", "denver", "c3", "2025-02-20", "30.00", "paid", 4, 15),
    ("i11", "austin", "c6", "2025-03-20", "3000.00", "paid", 1, None),
    ("i12", "denver", "c7", "2025-03-05", "20.00", "paid", 1, None),
]
ACTIVITIES = [
    # activity, branch, client, occurred (UTC), kind, outcome
    ("a1", "denver", "c3", "2025-03-20 18:00", "call_out", "completed"),  # Acme, via duplicate
    ("a2", "denver", "c2", "2025-02-01 18:00", "meeting", "completed"),
    ("a3", "denver", "c2", "2025-03-25 18:00", "call_out", "no_answer"),  # no contact made
    ("a4", "austin", "c4", "2025-03-30 18:00", "email", None),
    ("a5", "austin", "c6", "2025-03-28 18:00", "visit", "completed"),
]


@pytest.fixture(scope="module")
def clients(tmp_path_factory: pytest.TempPathFactory) -> Runner:
    project = make_project(
        tmp_path_factory.mktemp("golden_clients"),
        {
            "dim_branch": BRANCHES,
            "dim_employee": EMPLOYEES,
            "dim_client": CLIENTS,
            "fct_invoice": [
                {
                    "invoice_id": i,
                    "branch_id": b,
                    "client_id": c,
                    "issued_on": on,
                    "net_amount": net,
                    "total_amount": net,
                    "status": status,
                    "kind": "invoice",
                    "client_invoice_no": no,
                    "days_since_client_previous_invoice": gap,
                    "owner_id": "a1" if b == "austin" else "d1",
                }
                for i, b, c, on, net, status, no, gap in INVOICES
            ],
            "fct_activity": [
                {
                    "activity_id": a,
                    "branch_id": b,
                    "client_id": c,
                    "occurred_at": at,
                    "kind": kind,
                    "outcome": outcome,
                    "employee_id": "a1" if b == "austin" else "d1",
                }
                for a, b, c, at, kind, outcome in ACTIVITIES
            ],
        },
    )
    return Runner.from_settings(load_settings(project))


NEW_VS_RETURNING = [
    "month",
    "active_clients",
    "new_clients",
    "reactivated_clients",
    "returning_clients",
    "new_share",
    "new_sales",
    "reactivated_sales",
    "returning_sales",
]


def test_new_and_returning_clients_count_a_duplicate_as_its_master(clients: Runner) -> None:
    result = clients.run(
        "new_vs_returning_clients", {"period": "2025-01-01..2025-03-31", "gap_days": "180"}
    )
    assert _rows(result, NEW_VS_RETURNING) == [
        # January: Acme comes back through its duplicate c3 after 219 days (>= 180): 200;
        # Bolt buys for the first time: 300
        {
            "month": "2025-01",
            "active_clients": 2,
            "new_clients": 1,
            "reactivated_clients": 1,
            "returning_clients": 0,
            "new_share": 0.5,
            "new_sales": 300.0,
            "reactivated_sales": 200.0,
            "returning_sales": 0.0,
        },
        # February: Acme (c1 150 + its duplicate c3 30 = one client, 180), Bolt (50 + 70 = 120)
        # keep buying; Cove is new (400). 3 clients, not 4: c3 is Acme.
        {
            "month": "2025-02",
            "active_clients": 3,
            "new_clients": 1,
            "reactivated_clients": 0,
            "returning_clients": 2,
            "new_share": round(1 / 3, 6),
            "new_sales": 400.0,
            "reactivated_sales": 0.0,
            "returning_sales": 300.0,
        },
        # March: Acme's 999 is cancelled; Cove keeps buying (80); Echo (3000) and Fig (20) are new
        {
            "month": "2025-03",
            "active_clients": 3,
            "new_clients": 2,
            "reactivated_clients": 0,
            "returning_clients": 1,
            "new_share": round(2 / 3, 6),
            "new_sales": 3020.0,
            "reactivated_sales": 0.0,
            "returning_sales": 80.0,
        },
    ]
    # Denver alone, by scope: Cove and Echo are Austin's
    denver = clients.run(
        "new_vs_returning_clients",
        {"period": "2025-01-01..2025-03-31", "gap_days": "180"},
        scope={"branch": ["denver"]},
    )
    assert _rows(denver, ["month", "active_clients", "new_clients", "returning_sales"]) == [
        {"month": "2025-01", "active_clients": 2, "new_clients": 1, "returning_sales": 0.0},
        {"month": "2025-02", "active_clients": 2, "new_clients": 0, "returning_sales": 300.0},
        {"month": "2025-03", "active_clients": 1, "new_clients": 1, "returning_sales": 0.0},
    ]
    # a longer pause makes January's Acme a regular buyer instead of a comeback
    longer = clients.run(
        "new_vs_returning_clients", {"period": "2025-01-01..2025-01-31", "gap_days": "365"}
    )
    assert _rows(longer, ["reactivated_clients", "returning_clients", "returning_sales"]) == [
        {"reactivated_clients": 0, "returning_clients": 1, "returning_sales": 200.0}
    ]


def test_abc_summary_splits_revenue_at_80_and_95_percent(clients: Runner) -> None:
    result = clients.run("client_abc_summary", {"period": "2025-01-01..2025-03-31"})
    # revenue per client (cancelled i8 left out, c3 counted as c1):
    #   Echo 3000, Cove 400 + 80 = 480, Bolt 300 + 50 + 70 = 420, Acme 200 + 150 + 30 = 380,
    #   Fig 20; total 4300, so A up to 3440 (80%) and B up to 4085 (95%).
    # A client is in a class by the revenue before it: Echo (0) A, Cove (3000) A,
    # Bolt (3480 >= 3440) B, Acme (3900 < 4085) B, Fig (4280 >= 4085) C.
    assert _rows(
        result,
        [
            "class",
            "clients",
            "client_share",
            "revenue",
            "revenue_share",
            "revenue_per_client",
            "smallest",
        ],
    ) == [
        {
            "class": "A",
            "clients": 2,
            "client_share": 0.4,
            "revenue": 3480.0,
            "revenue_share": round(3480 / 4300, 6),
            "revenue_per_client": 1740.0,
            "smallest": 480.0,
        },
        {
            "class": "B",
            "clients": 2,
            "client_share": 0.4,
            "revenue": 800.0,
            "revenue_share": round(800 / 4300, 6),
            "revenue_per_client": 400.0,
            "smallest": 380.0,
        },
        {
            "class": "C",
            "clients": 1,
            "client_share": 0.2,
            "revenue": 20.0,
            "revenue_share": round(20 / 4300, 6),
            "revenue_per_client": 20.0,
            "smallest": 20.0,
        },
    ]


def test_clients_without_contact_see_a_call_on_the_duplicate(clients: Runner) -> None:
    given = {"as_of": "2025-03-31", "days": "30"}
    result = clients.run("clients_without_contact", given)
    # Acme was called on 20 March through its duplicate c3: contacted. Bolt's last contact is
    # the meeting of 1 February (the unanswered call of 25 March is no contact): 58 days.
    # Fig bought on 5 March and nobody ever contacted it. Cove was e-mailed, Echo visited.
    # Dune bought nothing in the last 12 months, so it is not listed by default.
    assert _rows(
        result,
        [
            "client",
            "branch",
            "owner",
            "last_contact_on",
            "last_contact_kind",
            "days_silent",
            "last_purchase_on",
            "sales_12m",
        ],
    ) == [
        {
            "client": "Bolt",
            "branch": "Denver",
            "owner": "Drew",
            "last_contact_on": dt.date(2025, 2, 1),
            "last_contact_kind": "Meeting",
            "days_silent": 58,
            "last_purchase_on": dt.date(2025, 2, 25),
            "sales_12m": 420.0,
        },
        {
            "client": "Fig",
            "branch": "Denver",
            "owner": "Drew",
            "last_contact_on": None,
            "last_contact_kind": None,
            "days_silent": None,
            "last_purchase_on": dt.date(2025, 3, 5),
            "sales_12m": 20.0,
        },
    ]
    everyone = clients.run("clients_without_contact", {**given, "buyers": "all_clients"})
    assert list(everyone.frame["client"]) == ["Bolt", "Fig", "Dune"]
    # sixty days: Bolt's 58 days are not enough any more
    assert list(
        clients.run("clients_without_contact", {**given, "days": "60"}).frame["client"]
    ) == ["Fig"]
    # one sales manager's clients
    assert clients.run("clients_without_contact", {**given, "owner": "d1"}).frame.empty


# -- pipeline --------------------------------------------------------------------------------------

STAGES = {"New": 1, "Qualified": 2, "Proposal sent": 3, "Negotiation": 4, "Won": 5, "Lost": 6}
DEALS = [
    # deal, branch, owner, opened (UTC), status, stage, amount, probability, expected close,
    # closed (UTC), lost reason
    (
        "D1",
        "denver",
        "d1",
        "2025-03-01 12:00",
        "won",
        "Won",
        "1000.00",
        "100",
        "2025-03-25",
        "2025-04-10 12:00",
        None,
    ),
    # closed at 03:00 UTC on 1 April: 21:00 on 31 March in Denver
    (
        "D2",
        "denver",
        "d2",
        "2025-03-05 12:00",
        "lost",
        "Lost",
        "500.00",
        "0",
        "2025-04-15",
        "2025-04-01 03:00",
        "Price too high",
    ),
    (
        "D3",
        "denver",
        "d1",
        "2025-03-20 12:00",
        "open",
        "Proposal sent",
        "2000.00",
        "50",
        "2025-05-15",
        None,
        None,
    ),
    (
        "D4",
        "denver",
        "d2",
        "2025-04-02 12:00",
        "open",
        "New",
        "700.00",
        "10",
        "2025-04-20",
        None,
        None,
    ),
    (
        "A1",
        "austin",
        "a1",
        "2025-02-15 12:00",
        "lost",
        "Lost",
        "300.00",
        "0",
        "2025-03-01",
        "2025-03-10 12:00",
        "No budget this quarter",
    ),
    (
        "A2",
        "austin",
        "a1",
        "2025-03-28 12:00",
        "open",
        "Negotiation",
        "800.00",
        "75",
        "2025-04-20",
        None,
        None,
    ),
]
HISTORY = {
    "D1": [
        ("New", "2025-03-01 12:00"),
        ("Qualified", "2025-03-10 12:00"),
        ("Proposal sent", "2025-03-20 12:00"),
        ("Negotiation", "2025-04-01 12:00"),
        ("Won", "2025-04-10 12:00"),
    ],
    "D2": [
        ("New", "2025-03-05 12:00"),
        ("Qualified", "2025-03-15 12:00"),
        ("Lost", "2025-04-01 03:00"),
    ],
    "D3": [
        ("New", "2025-03-20 12:00"),
        ("Qualified", "2025-03-25 12:00"),
        ("Proposal sent", "2025-04-05 12:00"),
    ],
    "D4": [("New", "2025-04-02 12:00")],
    "A1": [("New", "2025-02-15 12:00"), ("Lost", "2025-03-10 12:00")],
    "A2": [
        ("New", "2025-03-28 12:00"),
        ("Qualified", "2025-03-29 12:00"),
        ("Proposal sent", "2025-03-30 12:00"),
        ("Negotiation", "2025-04-03 12:00"),
    ],
}


def _history() -> list[dict[str, Any]]:
    branch = {d[0]: d[1] for d in DEALS}
    rows = []
    for deal, steps in HISTORY.items():
        for n, (stage, entered) in enumerate(steps):
            rows.append(
                {
                    "deal_stage_id": f"{deal}-{n}",
                    "branch_id": branch[deal],
                    "deal_id": deal,
                    "from_stage": steps[n - 1][0] if n else None,
                    "to_stage": stage,
                    "to_stage_order": STAGES[stage],
                    "entered_at": entered,
                    "left_at": steps[n + 1][1] if n + 1 < len(steps) else None,
                }
            )
    return rows


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Runner:
    keys = (
        "deal_id",
        "branch_id",
        "owner_id",
        "opened_at",
        "status",
        "stage",
        "amount",
        "probability_pct",
        "expected_close_on",
        "closed_at",
        "lost_reason",
    )
    project = make_project(
        tmp_path_factory.mktemp("golden_pipeline"),
        {
            "dim_branch": BRANCHES,
            "dim_employee": EMPLOYEES,
            "fct_deal": [
                {
                    **dict(zip(keys, d, strict=True)),
                    "pipeline": "sales",
                    "stage_order": STAGES[d[5]],
                    "title": f"Deal {d[0]}",
                }
                for d in DEALS
            ],
            "fct_deal_stage": _history(),
        },
    )
    return Runner.from_settings(load_settings(project))


OPEN = [
    "pipeline_group",
    "deals",
    "amount",
    "avg_amount",
    "avg_age_days",
    "oldest_days",
    "past_expected_close",
]


def test_open_pipeline_on_a_past_date_is_rebuilt_from_history(pipeline: Runner) -> None:
    result = pipeline.run("open_pipeline_as_of", {"as_of": "2025-03-31"})
    # On 31 March: D1 open (won only on 10 April) in 'Proposal sent' since 20 March; D2 was
    # lost at 21:00 local on 31 March, so it is closed; D3 open in 'Qualified' (proposal only
    # on 5 April); D4 not opened yet; A1 lost on 10 March; A2 in 'Proposal sent' since 30 March.
    assert _rows(result, OPEN) == [
        # D3: 2000, opened 20 March: 11 days
        {
            "pipeline_group": "Qualified",
            "deals": 1,
            "amount": 2000.0,
            "avg_amount": 2000.0,
            "avg_age_days": 11.0,
            "oldest_days": 11,
            "past_expected_close": 0,
        },
        # D1 1000 (30 days, expected 25 March: past) and A2 800 (3 days): 1800, 900 each,
        # (30 + 3) / 2 = 16.5 days
        {
            "pipeline_group": "Proposal sent",
            "deals": 2,
            "amount": 1800.0,
            "avg_amount": 900.0,
            "avg_age_days": 16.5,
            "oldest_days": 30,
            "past_expected_close": 1,
        },
    ]
    # A month later the same deals tell another story: D1 won, D4 new, A2 in negotiation
    later = pipeline.run("open_pipeline_as_of", {"as_of": "2025-04-30"})
    assert _rows(later, OPEN) == [
        # D4 700, opened 2 April: 28 days, expected 20 April: past
        {
            "pipeline_group": "New",
            "deals": 1,
            "amount": 700.0,
            "avg_amount": 700.0,
            "avg_age_days": 28.0,
            "oldest_days": 28,
            "past_expected_close": 1,
        },
        # D3 2000, 41 days, expected 15 May
        {
            "pipeline_group": "Proposal sent",
            "deals": 1,
            "amount": 2000.0,
            "avg_amount": 2000.0,
            "avg_age_days": 41.0,
            "oldest_days": 41,
            "past_expected_close": 0,
        },
        # A2 800, 33 days, expected 20 April: past
        {
            "pipeline_group": "Negotiation",
            "deals": 1,
            "amount": 800.0,
            "avg_amount": 800.0,
            "avg_age_days": 33.0,
            "oldest_days": 33,
            "past_expected_close": 1,
        },
    ]
    by_owner = pipeline.run("open_pipeline_as_of", {"as_of": "2025-03-31", "group_by": "owner"})
    assert _rows(by_owner, ["pipeline_group", "deals", "amount"]) == [
        {"pipeline_group": "Dana", "deals": 2, "amount": 3000.0},  # D3 2000 + D1 1000
        {"pipeline_group": "Alex", "deals": 1, "amount": 800.0},
    ]
    denver = pipeline.run(
        "open_pipeline_as_of", {"as_of": "2025-03-31"}, scope={"branch": ["denver"]}
    )
    assert _rows(denver, ["pipeline_group", "deals", "amount", "avg_age_days"]) == [
        {"pipeline_group": "Qualified", "deals": 1, "amount": 2000.0, "avg_age_days": 11.0},
        {"pipeline_group": "Proposal sent", "deals": 1, "amount": 1000.0, "avg_age_days": 30.0},
    ]


def test_funnel_counts_the_stages_the_periods_deals_reached(pipeline: Runner) -> None:
    result = pipeline.run("pipeline_funnel", {"period": "2025-03-01..2025-03-31"})
    # opened in March: D1 1000, D2 500, D3 2000, A2 800 (A1 opened in February, D4 in April)
    # New and Qualified: all four (4300); Proposal sent: D1, D3, A2 (3800); Negotiation: D1, A2
    # (1800); Won: D1 (1000). 'Lost' is where lost deals end, not a step. D2 was lost from
    # Qualified; D3 is still open in 'Proposal sent', A2 in 'Negotiation'.
    assert _rows(
        result, ["stage", "deals", "from_previous", "from_first", "amount", "lost", "open_now"]
    ) == [
        {
            "stage": "New",
            "deals": 4,
            "from_previous": None,
            "from_first": 1.0,
            "amount": 4300.0,
            "lost": 0,
            "open_now": 0,
        },
        {
            "stage": "Qualified",
            "deals": 4,
            "from_previous": 1.0,
            "from_first": 1.0,
            "amount": 4300.0,
            "lost": 1,
            "open_now": 0,
        },
        {
            "stage": "Proposal sent",
            "deals": 3,
            "from_previous": 0.75,
            "from_first": 0.75,
            "amount": 3800.0,
            "lost": 0,
            "open_now": 1,
        },
        {
            "stage": "Negotiation",
            "deals": 2,
            "from_previous": round(2 / 3, 6),
            "from_first": 0.5,
            "amount": 1800.0,
            "lost": 0,
            "open_now": 1,
        },
        {
            "stage": "Won",
            "deals": 1,
            "from_previous": 0.5,
            "from_first": 0.25,
            "amount": 1000.0,
            "lost": 0,
            "open_now": 0,
        },
    ]


def test_lost_reasons_place_a_loss_on_the_local_day(pipeline: Runner) -> None:
    result = pipeline.run("lost_reasons", {"period": "2025-03-01..2025-03-31"})
    # lost in March, local days: A1 on 10 March (open 15 Feb 12:00 → 10 Mar 12:00 = 23 days)
    # and D2 at 21:00 on 31 March in Denver (5 Mar 12:00 → 1 Apr 03:00 UTC = 26 d 15 h)
    columns = ["lost_group", "deals", "share", "amount", "avg_amount", "avg_days_open"]
    assert _rows(result, columns) == [
        {
            "lost_group": "No budget this quarter",
            "deals": 1,
            "share": 0.5,
            "amount": 300.0,
            "avg_amount": 300.0,
            "avg_days_open": 23.0,
        },
        {
            "lost_group": "Price too high",
            "deals": 1,
            "share": 0.5,
            "amount": 500.0,
            "avg_amount": 500.0,
            "avg_days_open": 26.625,
        },
    ]
    by_stage = pipeline.run(
        "lost_reasons", {"period": "2025-03-01..2025-03-31", "group_by": "stage"}
    )
    # A1 was lost from New, D2 from Qualified: ordered by the stage's place
    assert _rows(by_stage, ["lost_group", "deals", "amount"]) == [
        {"lost_group": "New", "deals": 1, "amount": 300.0},
        {"lost_group": "Qualified", "deals": 1, "amount": 500.0},
    ]
    # April holds no loss: D2 is March's in Denver's time
    assert pipeline.run("lost_reasons", {"period": "2025-04-01..2025-04-30"}).frame.empty


def test_pipeline_movement_adds_up_from_start_to_end(pipeline: Runner) -> None:
    result = pipeline.run("pipeline_movement", {"period": "2025-04-01..2025-04-30"})
    columns = [
        "pipeline_group",
        "start_deals",
        "start_amount",
        "added_amount",
        "won_amount",
        "lost_amount",
        "end_amount",
        "end_deals",
        "change",
    ]
    # Denver on 31 March: D1 1000 and D3 2000 open (D2 closed on 31 March local) = 3000;
    # April adds D4 700, wins D1 1000; at the end D3 + D4 = 2700: 3000 + 700 - 1000 = 2700.
    # Austin: A2 800 open at start and at end.
    assert _rows(result, columns) == [
        {
            "pipeline_group": "Denver",
            "start_deals": 2,
            "start_amount": 3000.0,
            "added_amount": 700.0,
            "won_amount": -1000.0,
            "lost_amount": 0.0,
            "end_amount": 2700.0,
            "end_deals": 2,
            "change": -300.0,
        },
        {
            "pipeline_group": "Austin",
            "start_deals": 1,
            "start_amount": 800.0,
            "added_amount": 0.0,
            "won_amount": 0.0,
            "lost_amount": 0.0,
            "end_amount": 800.0,
            "end_deals": 1,
            "change": 0.0,
        },
    ]


def test_weighted_forecast_weighs_a_past_date_by_the_stage_then(pipeline: Runner) -> None:
    result = pipeline.run("weighted_forecast", {"as_of": "2025-03-31"})
    # Open on 31 March, each weighted by the stage it was in then. A stage's probability is
    # what the open deals in it carry today: 'New' 10% (D4), 'Proposal sent' 50% (D3),
    # 'Negotiation' 75% (A2); no open deal sits in 'Qualified' today.
    # - D1, 'Proposal sent' then (won now): 50% of 1000 = 500, expected 25 March;
    # - A2, 'Proposal sent' then (in negotiation now): 50% of 800 = 400, expected 20 April;
    # - D3, 'Qualified' then: no probability known, so its 2000 weighs nothing, expected May.
    assert _rows(result, ["close_month", "deals", "amount", "weighted"]) == [
        {"close_month": "2025-03", "deals": 1, "amount": 1000.0, "weighted": 500.0},
        {"close_month": "2025-04", "deals": 1, "amount": 800.0, "weighted": 400.0},
        {"close_month": "2025-05", "deals": 1, "amount": 2000.0, "weighted": None},
    ]
    # On 15 May, every open deal is in the stage it is in today and weighs its own
    # probability: D4 10% of 700 = 70 and A2 75% of 800 = 600 (both expected 20 April, so
    # slipping), D3 50% of 2000 = 1000 in May.
    later = pipeline.run("weighted_forecast", {"as_of": "2025-05-15"})
    columns = ["close_month", "deals", "amount", "weighted", "avg_probability"]
    assert _rows(later, columns) == [
        {
            "close_month": "Earlier (slipping)",
            "deals": 2,
            "amount": 1500.0,
            "weighted": 670.0,
            "avg_probability": round(670 / 1500, 6),
        },
        {
            "close_month": "2025-05",
            "deals": 1,
            "amount": 2000.0,
            "weighted": 1000.0,
            "avg_probability": 0.5,
        },
    ]
