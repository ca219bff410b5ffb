"""Golden values of the activity and employees reports of the built-in catalog, computed by hand
on a small fixture of two branches.

Denver is UTC-7 until 2025-03-09 and UTC-6 from then on (daylight saving); Austin is UTC-6 in
March 2025. The built-in calendar makes Monday to Friday workdays: March 2025 starts on a
Saturday and has 21 workdays (3-7, 10-14, 17-21, 24-28, 31).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import pytest

from kpiboard.config import load_settings
from reports.runner import Runner
from tests.reports.conftest import BRANCHES, make_project

MARCH = {"period": "2025-03-01..2025-03-31"}

EMPLOYEES = [
    {
        "employee_id": "d1",
        "branch_id": "denver",
        "full_name": "Dana Diaz",
        "role": "sales_manager",
        "job_title": "Sales manager",
        "hired_on": "2020-01-01",
        "manager_id": "x1",
    },
    {
        "employee_id": "d2",
        "branch_id": "denver",
        "full_name": "Drew Dale",
        "role": "sales_manager",
        "job_title": "Sales manager",
        "hired_on": "2025-03-17",
        "left_on": "2025-03-31",
        "manager_id": "x1",
    },
    {
        "employee_id": "e1",
        "branch_id": "denver",
        "full_name": "Eli Eng",
        "role": "service_engineer",
        "job_title": "Service engineer",
        "hired_on": "2015-03-20",
        "manager_id": "x1",
    },
    {
        "employee_id": "x1",
        "branch_id": "denver",
        "full_name": "Xena Exec",
        "role": "executive",
        "job_title": "Branch head",
        "hired_on": "2024-04-01",
    },
    {
        "employee_id": "a1",
        "branch_id": "austin",
        "full_name": "Alex Ames",
        "role": "sales_manager",
        "job_title": "Sales manager",
        "hired_on": "2023-06-30",
    },
]
CLIENTS = [
    {"client_id": "c1", "branch_id": "denver", "name": "Acme", "owner_id": "d1"},
    {"client_id": "c2", "branch_id": "austin", "name": "Bolt", "owner_id": "a1"},
]


def task(
    task_id: str,
    who: str,
    created: str,
    due: str | None,
    status: str,
    done: str | None = None,
    branch: str = "denver",
) -> dict[str, Any]:
    return {
        "task_id": task_id,
        "branch_id": branch,
        "assignee_id": who,
        "author_id": "x1",
        "title": f"Task {task_id}",
        "kind": "follow_up",
        "client_id": "c1",
        "created_at": created,
        "due_at": due,
        "status": status,
        "done_at": done,
    }


TASKS = [
    # due 18:00 UTC is noon in Denver: the local due day is the UTC day
    task("t1", "d1", "2025-03-01 15:00", "2025-03-10 18:00", "open"),
    task("t2", "d1", "2025-03-05 15:00", "2025-03-18 18:00", "done", "2025-03-25 16:00"),
    task("t3", "d1", "2025-03-02 15:00", "2025-04-30 18:00", "open"),
    task("t4", "d1", "2025-03-02 15:00", "2025-03-12 18:00", "cancelled"),
    task("t5", "d1", "2025-03-02 15:00", "2025-03-12 18:00", "done", "2025-03-15 15:00"),
    task("t6", "d2", "2025-03-21 15:00", "2025-03-22 18:00", "open"),
    # 03:00 UTC on 20 March is 21:00 on 19 March in Denver: due on the 19th
    task("t7", "d2", "2025-03-10 15:00", "2025-03-20 03:00", "open"),
    # done 02:00 UTC on 21 March = 20:00 on 20 March in Denver: done by the end of the 20th
    task("t8", "d2", "2025-03-01 15:00", "2025-03-05 18:00", "done", "2025-03-21 02:00"),
    task("t9", "a1", "2025-03-01 15:00", "2025-03-01 18:00", "open", branch="austin"),
    task("t10", "d1", "2025-03-01 15:00", None, "open"),
    task("t11", "d1", "2025-03-01 15:00", "2025-03-14 18:00", "done", "2025-03-14 17:00"),
]


def activity(
    activity_id: str,
    who: str,
    at: str,
    kind: str,
    outcome: str | None,
    seconds: int | None = 60,
    branch: str = "denver",
) -> dict[str, Any]:
    return {
        "activity_id": activity_id,
        "branch_id": branch,
        "employee_id": who,
        "occurred_at": at,
        "kind": kind,
        "outcome": outcome,
        "duration_seconds": seconds,
        "client_id": "c1" if branch == "denver" else "c2",
    }


ACTIVITIES = [
    activity("a1", "d1", "2025-03-03 16:00", "call_out", "completed"),
    activity("a2", "d1", "2025-03-04 16:00", "call_out", "completed"),
    activity("a3", "d1", "2025-03-05 16:00", "call_out", "no_answer", 0),
    activity("a4", "d1", "2025-03-06 16:00", "call_in", "completed"),
    activity("a5", "d1", "2025-03-06 17:00", "call_in", "missed", 0),
    activity("a6", "d1", "2025-03-07 16:00", "meeting", "completed", 3600),
    activity("a7", "d1", "2025-03-10 16:00", "visit", "completed", 5400),
    activity("a8", "d1", "2025-03-11 16:00", "email", None, None),
    # 03:00 UTC on 1 April is 21:00 on 31 March in Denver: a March call
    activity("a9", "d1", "2025-04-01 03:00", "call_out", "completed"),
    # 05:00 UTC on 1 March is 22:00 on 28 February in Denver: not March
    activity("a10", "d1", "2025-03-01 05:00", "call_out", "completed"),
    activity("a11", "a1", "2025-03-12 16:00", "call_out", "completed", branch="austin"),
    activity("a12", "e1", "2025-03-12 16:00", "email", None, None),
]


def lead(
    lead_id: str,
    who: str,
    created: str,
    answered: str | None,
    channel: str = "website_form",
    status: str = "in_progress",
    reject: str | None = None,
    branch: str = "denver",
) -> dict[str, Any]:
    return {
        "lead_id": lead_id,
        "branch_id": branch,
        "owner_id": who,
        "created_at": created,
        "first_response_at": answered,
        "channel": channel,
        "status": status,
        "reject_reason": reject,
        "contact_name": f"Contact {lead_id}",
    }


LEADS = [
    lead("l1", "d1", "2025-03-03 16:00", "2025-03-03 16:10"),  # 600 s
    lead("l2", "d1", "2025-03-04 16:00", "2025-03-04 16:50"),  # 3,000 s
    lead("l3", "d1", "2025-03-05 16:00", "2025-03-06 18:00"),  # 26 h = 93,600 s
    lead("l4", "d1", "2025-03-06 16:00", None, status="new"),  # not answered
    lead("l5", "d1", "2025-03-07 16:00", None, status="rejected", reject="spam"),  # left out
    lead("l6", "d1", "2025-03-07 16:00", "2025-03-07 16:01", channel="email"),  # 60 s
    lead("l7", "d1", "2025-03-01 05:00", "2025-03-01 05:01"),  # 28 February locally
    lead("l8", "a1", "2025-03-03 15:00", "2025-03-03 15:05", branch="austin"),  # 300 s
]

INVOICES = [
    {
        "invoice_id": "i1",
        "branch_id": "denver",
        "owner_id": "d1",
        "client_id": "c1",
        "issued_on": "2025-03-03",
        "kind": "invoice",
        "status": "paid",
        "net_amount": "1000.00",
        "total_amount": "1000.00",
    },
    {
        "invoice_id": "i2",
        "branch_id": "denver",
        "owner_id": "d1",
        "client_id": "c1",
        "issued_on": "2025-03-20",
        "kind": "invoice",
        "status": "issued",
        "net_amount": "500.00",
        "total_amount": "500.00",
    },
    {
        "invoice_id": "i3",
        "branch_id": "denver",
        "owner_id": "d1",
        "client_id": "c1",
        "issued_on": "2025-03-21",
        "kind": "invoice",
        "status": "cancelled",
        "net_amount": "9999.00",
        "total_amount": "9999.00",
    },
    {
        "invoice_id": "i4",
        "branch_id": "austin",
        "owner_id": "a1",
        "client_id": "c2",
        "issued_on": "2025-03-12",
        "kind": "invoice",
        "status": "paid",
        "net_amount": "700.00",
        "total_amount": "700.00",
    },
]

KPIS = """\
kpis:
  - id: revenue
    label: Revenue
    description: Net invoiced amount on the invoice date, draft and cancelled left out.
    unit: money
    direction: higher
    owner: sales
    type: simple
    fact: invoice
    agg: sum
    expr: net_amount
    filter: "status NOT IN ('draft', 'cancelled')"
  - id: calls_made
    label: Outgoing calls
    description: Outgoing calls on the local day they were made.
    unit: count
    direction: higher
    owner: sales
    type: simple
    fact: activity
    agg: count
    filter: "kind = 'call_out'"
"""
SCORECARD = """\
role: sales_manager
label: Sales manager
base_amount: 1000
kpis:
  - {kpi: revenue, weight: 0.6}
  - {kpi: calls_made, weight: 0.4}
floor: 0.0
cap: 1.5
gates:
  - {kpi: revenue, min_achievement: 0.72}
bonus: base_amount * score
"""
PLANS = """\
kpi,period,employee,branch,plan
revenue,2025-03,d1,,2000
calls_made,2025-03,d1,,5
revenue,2025-03,a1,,1000
calls_made,2025-03,a1,,2
"""


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Runner:
    project = make_project(
        tmp_path_factory.mktemp("people"),
        {
            "dim_branch": BRANCHES,
            "dim_employee": EMPLOYEES,
            "dim_client": CLIENTS,
            "fct_task": TASKS,
            "fct_activity": ACTIVITIES,
            "fct_lead": LEADS,
            "fct_invoice": INVOICES,
        },
        files={
            "kpis/sales.yaml": KPIS,
            "scorecards/sales_manager.yaml": SCORECARD,
            "plans/people.csv": PLANS,
        },
    )
    return Runner.from_settings(load_settings(project))


def records(frame: pd.DataFrame, columns: list[str]) -> list[dict[str, Any]]:
    """The rows' ``columns``, missing values as None and numbers rounded to 6 places."""
    out = []
    for row in frame[columns].to_dict("records"):
        clean = {}
        for key, value in row.items():
            if value is None or (not isinstance(value, str) and pd.isna(value)):
                clean[key] = None
            elif isinstance(value, float):
                clean[key] = round(value, 6)
            elif isinstance(value, pd.Timestamp):
                clean[key] = value.date()
            else:
                clean[key] = value
        out.append(clean)
    return out


OVERDUE_COLUMNS = [
    "assignee",
    "open_tasks",
    "overdue",
    "overdue_share",
    "overdue_1_7",
    "overdue_8_30",
    "overdue_31_90",
    "overdue_90_plus",
    "oldest_days",
]


def test_overdue_tasks_by_assignee_on_a_past_date(runner: Runner) -> None:
    result = runner.run("overdue_tasks_by_assignee", {"as_of": "2025-03-20"})
    assert records(result.frame, OVERDUE_COLUMNS) == [
        # Dana: open on the 20th t1, t2 (done only on the 25th), t3 (due in April), t10 (no
        # deadline); t4 cancelled, t5 and t11 done before. Overdue t1 (20 - 10 = 10 days) and
        # t2 (20 - 18 = 2 days): 2 of 4.
        {
            "assignee": "Dana Diaz",
            "open_tasks": 4,
            "overdue": 2,
            "overdue_share": 0.5,
            "overdue_1_7": 1,
            "overdue_8_30": 1,
            "overdue_31_90": 0,
            "overdue_90_plus": 0,
            "oldest_days": 10,
        },
        # Alex: t9 due on 1 March (noon in Austin): 19 days
        {
            "assignee": "Alex Ames",
            "open_tasks": 1,
            "overdue": 1,
            "overdue_share": 1.0,
            "overdue_1_7": 0,
            "overdue_8_30": 1,
            "overdue_31_90": 0,
            "overdue_90_plus": 0,
            "oldest_days": 19,
        },
        # Drew: t7 due on the 19th in Denver (the 20th in UTC): 1 day; t8 was done on the
        # evening of the 20th in Denver; t6 was set on the 21st
        {
            "assignee": "Drew Dale",
            "open_tasks": 1,
            "overdue": 1,
            "overdue_share": 1.0,
            "overdue_1_7": 1,
            "overdue_8_30": 0,
            "overdue_31_90": 0,
            "overdue_90_plus": 0,
            "oldest_days": 1,
        },
    ]
    assert result.frame["left_on"].dropna().tolist() == [pd.Timestamp("2025-03-31")]


def test_overdue_tasks_by_assignee_later_differs_and_the_branch_equals_the_scope(
    runner: Runner,
) -> None:
    later = runner.run("overdue_tasks_by_assignee", {"as_of": "2025-06-30"})
    assert records(later.frame, OVERDUE_COLUMNS) == [
        # Dana: t1 due 10 March: 21 + 30 + 31 + 30 = 112 days; t3 due 30 April: 31 + 30 = 61;
        # t10 open without a deadline; t2 done on 25 March
        {
            "assignee": "Dana Diaz",
            "open_tasks": 3,
            "overdue": 2,
            "overdue_share": round(2 / 3, 6),
            "overdue_1_7": 0,
            "overdue_8_30": 0,
            "overdue_31_90": 1,
            "overdue_90_plus": 1,
            "oldest_days": 112,
        },
        # Drew: t7 due 19 March: 12 + 30 + 31 + 30 = 103 days; t6 due 22 March: 9 + 91 = 100
        {
            "assignee": "Drew Dale",
            "open_tasks": 2,
            "overdue": 2,
            "overdue_share": 1.0,
            "overdue_1_7": 0,
            "overdue_8_30": 0,
            "overdue_31_90": 0,
            "overdue_90_plus": 2,
            "oldest_days": 103,
        },
        # Alex: t9 due 1 March: 30 + 30 + 31 + 30 = 121 days
        {
            "assignee": "Alex Ames",
            "open_tasks": 1,
            "overdue": 1,
            "overdue_share": 1.0,
            "overdue_1_7": 0,
            "overdue_8_30": 0,
            "overdue_31_90": 0,
            "overdue_90_plus": 1,
            "oldest_days": 121,
        },
    ]
    given = {"as_of": "2025-03-20", "branch": "denver"}
    by_parameter = runner.run("overdue_tasks_by_assignee", given).frame
    by_scope = runner.run(
        "overdue_tasks_by_assignee", {"as_of": "2025-03-20"}, scope={"branch": ["denver"]}
    ).frame
    assert records(by_parameter, OVERDUE_COLUMNS) == records(by_scope, OVERDUE_COLUMNS)
    assert by_parameter["assignee"].tolist() == ["Dana Diaz", "Drew Dale"]


def test_overdue_task_list_on_a_past_date(runner: Runner) -> None:
    columns = ["assignee", "task", "due_on", "days_overdue", "done_on"]
    result = runner.run("overdue_task_list", {"as_of": "2025-03-20"})
    # sorted by assignee, then the most overdue first
    assert records(result.frame, columns) == [
        {
            "assignee": "Alex Ames",
            "task": "Task t9",
            "due_on": dt.date(2025, 3, 1),
            "days_overdue": 19,
            "done_on": None,
        },
        {
            "assignee": "Dana Diaz",
            "task": "Task t1",
            "due_on": dt.date(2025, 3, 10),
            "days_overdue": 10,
            "done_on": None,
        },
        # done on 25 March at 10:00 in Denver
        {
            "assignee": "Dana Diaz",
            "task": "Task t2",
            "due_on": dt.date(2025, 3, 18),
            "days_overdue": 2,
            "done_on": dt.date(2025, 3, 25),
        },
        {
            "assignee": "Drew Dale",
            "task": "Task t7",
            "due_on": dt.date(2025, 3, 19),
            "days_overdue": 1,
            "done_on": None,
        },
    ]
    recent = runner.run(
        "overdue_task_list", {"as_of": "2025-03-20", "max_days_overdue": "5", "assignee": "d2"}
    )
    assert records(recent.frame, ["task", "days_overdue"]) == [
        {"task": "Task t7", "days_overdue": 1}
    ]


def test_activity_by_employee(runner: Runner) -> None:
    columns = [
        "employee",
        "calls_out",
        "calls_connected",
        "connect_rate",
        "calls_in",
        "calls_missed",
        "missed_share",
        "meetings",
        "visits",
        "emails",
        "workdays",
        "calls_per_workday",
    ]
    result = runner.run("activity_by_employee", {**MARCH, "role": "sales_manager"})
    assert records(result.frame, columns) == [
        # Dana: calls out a1, a2, a3 (no answer) and a9 (31 March locally), not a10
        # (28 February locally): 4, 3 connected; 21 workdays: 4 / 21 a workday
        {
            "employee": "Dana Diaz",
            "calls_out": 4,
            "calls_connected": 3,
            "connect_rate": 0.75,
            "calls_in": 2,
            "calls_missed": 1,
            "missed_share": 0.5,
            "meetings": 1,
            "visits": 1,
            "emails": 1,
            "workdays": 21,
            "calls_per_workday": round(4 / 21, 6),
        },
        {
            "employee": "Alex Ames",
            "calls_out": 1,
            "calls_connected": 1,
            "connect_rate": 1.0,
            "calls_in": 0,
            "calls_missed": 0,
            "missed_share": None,
            "meetings": 0,
            "visits": 0,
            "emails": 0,
            "workdays": 21,
            "calls_per_workday": round(1 / 21, 6),
        },
        # Drew, on staff 17-31 March (11 workdays), logged nothing but is of the role
        {
            "employee": "Drew Dale",
            "calls_out": 0,
            "calls_connected": 0,
            "connect_rate": None,
            "calls_in": 0,
            "calls_missed": 0,
            "missed_share": None,
            "meetings": 0,
            "visits": 0,
            "emails": 0,
            "workdays": 11,
            "calls_per_workday": 0.0,
        },
        # the engineer logged an e-mail, so shows though not of the role
        {
            "employee": "Eli Eng",
            "calls_out": 0,
            "calls_connected": 0,
            "connect_rate": None,
            "calls_in": 0,
            "calls_missed": 0,
            "missed_share": None,
            "meetings": 0,
            "visits": 0,
            "emails": 1,
            "workdays": 21,
            "calls_per_workday": 0.0,
        },
    ]
    everyone = runner.run("activity_by_employee", MARCH).frame
    assert sorted(everyone["employee"]) == ["Alex Ames", "Dana Diaz", "Eli Eng"]


def test_lead_first_response(runner: Runner) -> None:
    columns = [
        "owner",
        "leads",
        "answered",
        "within_15_min_share",
        "within_1_hour_share",
        "within_1_day_share",
        "median_seconds",
        "avg_seconds",
        "unanswered",
    ]
    result = runner.run("lead_first_response", MARCH)
    assert records(result.frame, columns) == [
        # Dana's website leads l1-l4 (l5 spam, l6 e-mail, l7 in February locally): answered
        # in 600, 3,000 and 93,600 s; median 3,000; average 97,200 / 3 = 32,400
        {
            "owner": "Dana Diaz",
            "leads": 4,
            "answered": 3,
            "within_15_min_share": 0.25,
            "within_1_hour_share": 0.5,
            "within_1_day_share": 0.5,
            "median_seconds": 3000.0,
            "avg_seconds": 32400.0,
            "unanswered": 1,
        },
        {
            "owner": "Alex Ames",
            "leads": 1,
            "answered": 1,
            "within_15_min_share": 1.0,
            "within_1_hour_share": 1.0,
            "within_1_day_share": 1.0,
            "median_seconds": 300.0,
            "avg_seconds": 300.0,
            "unanswered": 0,
        },
    ]
    every_channel = runner.run("lead_first_response", {**MARCH, "channel": "all"}).frame
    dana = every_channel[every_channel["owner"] == "Dana Diaz"].iloc[0]
    # l6 by e-mail joins: 60 s; the median of 60, 600, 3,000, 93,600 is (600 + 3,000) / 2
    assert (dana["leads"], dana["answered"], dana["median_seconds"]) == (5, 4, 1800.0)


def test_task_discipline_by_assignee(runner: Runner) -> None:
    columns = [
        "assignee",
        "tasks_due",
        "done_on_time",
        "done_late",
        "not_done",
        "on_time_rate",
        "median_late_seconds",
    ]
    result = runner.run("task_discipline_by_assignee", MARCH)
    assert records(result.frame, columns) == [
        {
            "assignee": "Alex Ames",
            "tasks_due": 1,
            "done_on_time": 0,
            "done_late": 0,
            "not_done": 1,
            "on_time_rate": 0.0,
            "median_late_seconds": None,
        },
        # Drew: t8 done 15 days 8 h late (1,324,800 s); t6 and t7 open
        {
            "assignee": "Drew Dale",
            "tasks_due": 3,
            "done_on_time": 0,
            "done_late": 1,
            "not_done": 2,
            "on_time_rate": 0.0,
            "median_late_seconds": 1324800.0,
        },
        # Dana: t11 on time; t2 late by 6 d 22 h (597,600 s), t5 by 2 d 21 h (248,400 s);
        # t1 open; t3 is due in April, t4 cancelled, t10 has no deadline
        {
            "assignee": "Dana Diaz",
            "tasks_due": 4,
            "done_on_time": 1,
            "done_late": 2,
            "not_done": 1,
            "on_time_rate": 0.25,
            "median_late_seconds": 423000.0,
        },
    ]


def test_headcount_and_tenure_on_a_date(runner: Runner) -> None:
    columns = [
        "branch",
        "role",
        "headcount",
        "under_1_year",
        "years_1_3",
        "years_3_5",
        "years_5_plus",
        "avg_tenure_years",
    ]
    result = runner.run("headcount_and_tenure", {"as_of": "2025-03-20"})
    assert records(result.frame, columns) == [
        # Alex: 2023-06-30 to 2025-03-20 is 629 days
        {
            "branch": "Austin",
            "role": "Sales manager",
            "headcount": 1,
            "under_1_year": 0,
            "years_1_3": 1,
            "years_3_5": 0,
            "years_5_plus": 0,
            "avg_tenure_years": round(629 / 365.25, 6),
        },
        # Dana 1,905 days (5.2 years), Drew 3 days
        {
            "branch": "Denver",
            "role": "Sales manager",
            "headcount": 2,
            "under_1_year": 1,
            "years_1_3": 0,
            "years_3_5": 0,
            "years_5_plus": 1,
            "avg_tenure_years": round((1905 + 3) / 2 / 365.25, 6),
        },
        # Xena: 2024-04-01 to 2025-03-20 is 353 days
        {
            "branch": "Denver",
            "role": "Executive",
            "headcount": 1,
            "under_1_year": 1,
            "years_1_3": 0,
            "years_3_5": 0,
            "years_5_plus": 0,
            "avg_tenure_years": round(353 / 365.25, 6),
        },
        # Eli: ten years to the day, 3,653 days
        {
            "branch": "Denver",
            "role": "Service engineer",
            "headcount": 1,
            "under_1_year": 0,
            "years_1_3": 0,
            "years_3_5": 0,
            "years_5_plus": 1,
            "avg_tenure_years": round(3653 / 365.25, 6),
        },
    ]
    later = runner.run("headcount_and_tenure", {"as_of": "2025-06-30"}).frame
    denver_sales = later[(later["branch"] == "Denver") & (later["role"] == "Sales manager")]
    assert denver_sales["headcount"].tolist() == [1]  # Drew left on 31 March


def test_staff_turnover(runner: Runner) -> None:
    result = runner.run("staff_turnover", {"period": "2025-01-01..2025-06-30"})
    columns = ["segment", "headcount_start", "hires", "leavers", "headcount_end", "turnover"]
    assert records(result.frame, columns) == [
        # Denver: Dana, Eli, Xena at the start; Drew joined and left; 3 at the end:
        # 1 / ((3 + 3) / 2)
        {
            "segment": "Denver",
            "headcount_start": 3,
            "hires": 1,
            "leavers": 1,
            "headcount_end": 3,
            "turnover": round(1 / 3, 6),
        },
        {
            "segment": "Austin",
            "headcount_start": 1,
            "hires": 0,
            "leavers": 0,
            "headcount_end": 1,
            "turnover": 0.0,
        },
    ]


def test_bonus_statement(runner: Runner) -> None:
    columns = ["kpi", "weight", "plan", "fact", "achievement", "contribution", "score", "bonus"]
    dana = runner.run("bonus_statement", {"employee": "Dana Diaz", **MARCH})
    assert records(dana.frame, columns) == [
        # revenue 1,000 + 500 (the cancelled 9,999 left out) against 2,000: 0.75, x 0.6
        {
            "kpi": "revenue",
            "weight": 0.6,
            "plan": 2000.0,
            "fact": 1500.0,
            "achievement": 0.75,
            "contribution": 0.45,
            "score": 0.77,
            "bonus": 770.0,
        },
        # 4 calls (a9 is a March call locally, a10 a February one) against 5: 0.8, x 0.4;
        # score 0.45 + 0.32 = 0.77, bonus 1,000 x 0.77
        {
            "kpi": "calls_made",
            "weight": 0.4,
            "plan": 5.0,
            "fact": 4.0,
            "achievement": 0.8,
            "contribution": 0.32,
            "score": 0.77,
            "bonus": 770.0,
        },
    ]
    alex = runner.run("bonus_statement", {"employee": "a1", **MARCH})
    # revenue 700 of 1,000 is below the gate of 72%: score 0.7 x 0.6 + 0.5 x 0.4 = 0.62,
    # and no bonus
    assert records(alex.frame, ["kpi", "contribution", "score", "bonus"]) == [
        {"kpi": "revenue", "contribution": 0.42, "score": 0.62, "bonus": 0.0},
        {"kpi": "calls_made", "contribution": 0.2, "score": 0.62, "bonus": 0.0},
    ]
