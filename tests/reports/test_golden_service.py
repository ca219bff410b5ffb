"""Golden values of service and delivery reports on small hand-written warehouses.

Every expectation below is worked out by hand from the rows in the fixtures, with the arithmetic
in a comment. Branch times are UTC in the rows and read in the branch's zone: Denver is UTC-7
(MST) and Austin UTC-6 (CST) in January, so 2025-01-06 16:00 UTC is 09:00 on the 6th in Denver
and 2025-01-08 06:00 UTC is still the evening of the 7th there.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from kpiboard.config import load_settings
from reports.runner import Runner
from tests.reports.conftest import BRANCHES, make_project

H = 3600  # seconds in an hour

EMPLOYEES = [
    {
        "employee_id": "e1",
        "branch_id": "denver",
        "full_name": "Ann Field",
        "role": "service_engineer",
    },
    {
        "employee_id": "e2",
        "branch_id": "denver",
        "full_name": "Bob Stone",
        "role": "service_engineer",
    },
    {
        "employee_id": "e3",
        "branch_id": "austin",
        "full_name": "Cat Reyes",
        "role": "service_engineer",
    },
    {"employee_id": "d1", "branch_id": "denver", "full_name": "Dan Wheeler", "role": "driver"},
    {"employee_id": "d2", "branch_id": "denver", "full_name": "Eve Lane", "role": "driver"},
]


def request(sid: str, **values: Any) -> dict[str, Any]:
    """A service request of Denver unless ``branch_id`` says otherwise."""
    row: dict[str, Any] = {
        "service_request_id": sid,
        "branch_id": "denver",
        "request_number": f"SR-{sid}",
        "kind": "repair",
        "is_warranty": False,
        "client_id": "c1",
        "equipment": "Laser printer",
    }
    row.update(values)
    return row


# Turnarounds (repaired_at - received_at) and promises:
#   s1  20 h of 24 h  within        Ann    SN1  (comes back as s6, 13 days after its repair)
#   s2  96 h of 48 h  late by 48 h  Ann    SN2
#   s3  84 h of 72 h  late by 12 h  Bob    SN3
#   s4  received 9 Jan, never diagnosed: still open
#   s5  received 9 Jan, diagnosed 10 Jan (local), then cancelled
#   s6  24 h of 24 h  within (exactly on the promise)  Bob  SN1 again
#   s7  Austin, 24 h of 48 h, ready since 7 Jan and never collected
SERVICE_REQUESTS = [
    request(
        "s1",
        serial_number="SN1",
        engineer_id="e1",
        sla_hours=24,
        status="returned",
        received_at="2025-01-06 16:00",
        diagnosed_at="2025-01-06 20:00",
        repaired_at="2025-01-07 12:00",
        returned_at="2025-01-08 17:00",
        diagnosis="Worn roller",
        parts_cost="10.00",
    ),
    request(
        "s2",
        serial_number="SN2",
        engineer_id="e1",
        sla_hours=48,
        status="returned",
        is_warranty=True,
        received_at="2025-01-06 17:00",
        diagnosed_at="2025-01-07 17:00",
        repaired_at="2025-01-10 17:00",
        returned_at="2025-01-11 17:00",
        parts_cost="40.00",
    ),
    request(
        "s3",
        serial_number="SN3",
        engineer_id="e2",
        sla_hours=72,
        status="returned",
        received_at="2025-01-08 16:00",
        diagnosed_at="2025-01-09 16:00",
        repaired_at="2025-01-12 04:00",
        returned_at="2025-01-13 17:00",
    ),
    request(
        "s4",
        serial_number="SN4",
        engineer_id="e2",
        sla_hours=48,
        status="received",
        received_at="2025-01-09 16:00",
    ),
    request(
        "s5",
        serial_number="SN5",
        engineer_id="e1",
        sla_hours=24,
        status="cancelled",
        received_at="2025-01-09 18:00",
        diagnosed_at="2025-01-10 18:00",
    ),
    request(
        "s6",
        serial_number="SN1",
        engineer_id="e2",
        sla_hours=24,
        status="returned",
        received_at="2025-01-20 16:00",
        diagnosed_at="2025-01-20 20:00",
        repaired_at="2025-01-21 16:00",
        returned_at="2025-01-22 17:00",
        problem="Paper jams again",
    ),
    request(
        "s7",
        branch_id="austin",
        serial_number="SN7",
        engineer_id="e3",
        sla_hours=48,
        status="ready",
        received_at="2025-01-06 15:00",
        diagnosed_at="2025-01-06 18:00",
        repaired_at="2025-01-07 15:00",
    ),
]


@pytest.fixture(scope="module")
def service_runner(tmp_path_factory: pytest.TempPathFactory) -> Runner:
    project = make_project(
        tmp_path_factory.mktemp("service"),
        {
            "dim_branch": BRANCHES,
            "dim_employee": EMPLOYEES,
            "dim_client": [{"client_id": "c1", "branch_id": "denver", "name": "Acme Dental"}],
            "fct_service_request": SERVICE_REQUESTS,
        },
    )
    return Runner.from_settings(load_settings(project))


def records(runner: Runner, report: str, given: dict[str, Any], **kw: Any) -> list[dict[str, Any]]:
    """The report's rows, NaN and NaT turned into None so that they compare."""
    frame = runner.run(report, given, **kw).frame
    rows = frame.to_dict("records")
    return [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
        for row in rows
    ]


def pick(rows: list[dict[str, Any]], *names: str) -> list[tuple[Any, ...]]:
    return [tuple(row[n] for n in names) for row in rows]


BACKLOG = (
    "row_label",
    "awaiting_diagnosis",
    "in_repair",
    "open_requests",
    "past_sla",
    "past_sla_share",
    "oldest_days",
    "average_age_days",
    "ready_for_collection",
)


def test_backlog_on_a_past_date_is_rebuilt_from_history(service_runner: Runner) -> None:
    # End of 9 Jan in Denver = 2025-01-10 07:00 UTC.
    #   s1 repaired 7 Jan and returned 8 Jan: gone.
    #   s2 diagnosed 7 Jan, repaired only 10 Jan: in repair; due 6 Jan 17:00 + 48 h = 8 Jan
    #      17:00 UTC, before the day's end: past SLA; age 9 - 6 = 3 days.
    #   s3 diagnosed 9 Jan 09:00 local: in repair; due 11 Jan: not past; age 1.
    #   s4 received 9 Jan, not diagnosed: awaiting; due 11 Jan; age 0.
    #   s5 diagnosed (and cancelled) only on 10 Jan local: still awaiting diagnosis on the 9th;
    #      due 10 Jan 18:00 UTC, after the day's end; age 0.
    # Denver: awaiting 2, in repair 2, open 4, past SLA 1 (1/4 = 25%), oldest 3,
    #         average age (3 + 1 + 0 + 0) / 4 = 1.0, nothing ready.
    # Austin: s7 repaired 7 Jan (09:00 CST), never returned: 1 ready, nothing open.
    rows = records(service_runner, "service_backlog", {"as_of": "2025-01-09"})
    assert pick(rows, *BACKLOG) == [
        ("Denver", 2, 2, 4, 1, 0.25, 3, 1.0, 0),
        ("Austin", 0, 0, 0, 0, None, None, None, 1),
    ]


def test_backlog_today_differs_from_the_past_date(service_runner: Runner) -> None:
    # On 31 Jan only s4 is still open (s5 was cancelled at its diagnosis on 10 Jan): awaiting 1,
    # due 11 Jan so past SLA, age 31 - 9 = 22 days. Austin's s7 is still ready for collection.
    rows = records(service_runner, "service_backlog", {"as_of": "2025-01-31"})
    assert pick(rows, *BACKLOG) == [
        ("Denver", 1, 0, 1, 1, 1.0, 22, 22.0, 0),
        ("Austin", 0, 0, 0, 0, None, None, None, 1),
    ]


def test_backlog_by_engineer_and_under_a_branch_scope(service_runner: Runner) -> None:
    # 9 Jan by engineer: Ann holds s2 (in repair, past SLA, age 3) and s5 (awaiting, age 0);
    # Bob holds s3 (in repair, age 1) and s4 (awaiting, age 0); Cat only s7, ready.
    # Sorted by open repairs, then name: Ann 2, Bob 2, Cat 0.
    rows = records(
        service_runner, "service_backlog", {"as_of": "2025-01-09", "group_by": "engineer"}
    )
    assert pick(rows, *BACKLOG) == [
        ("Ann Field", 1, 1, 2, 1, 0.5, 3, 1.5, 0),
        ("Bob Stone", 1, 1, 2, 0, 0.0, 1, 0.5, 0),
        ("Cat Reyes", 0, 0, 0, 0, None, None, None, 1),
    ]
    # Denver's scope gives exactly Denver's row, as the branch parameter does.
    scoped = records(
        service_runner, "service_backlog", {"as_of": "2025-01-09"}, scope={"branch": ["denver"]}
    )
    by_parameter = records(
        service_runner, "service_backlog", {"as_of": "2025-01-09", "branch": "denver"}
    )
    assert (
        pick(scoped, *BACKLOG)
        == pick(by_parameter, *BACKLOG)
        == [("Denver", 2, 2, 4, 1, 0.25, 3, 1.0, 0)]
    )


def test_sla_compliance_by_branch(service_runner: Runner) -> None:
    # Repaired in January: Denver s1 20 h (within), s2 96 h (late by 48 h), s3 84 h (late by
    # 12 h), s6 24 h (within: exactly on the promise); Austin s7 24 h of 48 h (within).
    # Denver: 4 repairs, 2 within, 2 late, 50%; average (20 + 96 + 84 + 24) / 4 = 56 h;
    #         median (24 + 84) / 2 = 54 h; late by (48 + 12) / 2 = 30 h on average.
    rows = records(service_runner, "service_sla_compliance", {"period": "2025-01-01..2025-01-31"})
    assert pick(
        rows,
        "row_label",
        "repaired",
        "within_sla",
        "late",
        "sla_rate",
        "average_turnaround",
        "median_turnaround",
        "average_overrun",
    ) == [
        ("Austin", 1, 1, 0, 1.0, 24 * H, 24 * H, None),
        ("Denver", 4, 2, 2, 0.5, 56 * H, 54 * H, 30 * H),
    ]
    # The period is the local day of the repair: s3 was repaired 12 Jan 04:00 UTC, which is
    # 11 Jan in Denver, so 1-11 January still holds it (and not s6, repaired 21 Jan).
    rows = records(
        service_runner,
        "service_sla_compliance",
        {"period": "2025-01-01..2025-01-11", "branch": "denver"},
    )
    assert pick(rows, "row_label", "repaired", "within_sla") == [("Denver", 3, 1)]


def test_first_time_fix_counts_units_that_came_back(service_runner: Runner) -> None:
    # SN1 was repaired by Ann on 7 Jan 12:00 UTC and received again (s6) on 20 Jan 16:00,
    # 13 days later: within 30 days, so Ann's s1 came back. Ann: 2 repairs, 1 came back, 50%.
    # Bob: s3 and s6, neither came back: 100%. Cat: s7: 100%.
    # Sorted by rate, then most repairs: Ann, Bob, Cat.
    names = ("row_label", "repaired", "came_back", "fixed_first_time", "first_time_fix_rate")
    rows = records(service_runner, "service_first_time_fix", {"period": "2025-01-01..2025-01-31"})
    assert pick(rows, *names) == [
        ("Ann Field", 2, 1, 1, 0.5),
        ("Bob Stone", 2, 0, 2, 1.0),
        ("Cat Reyes", 1, 0, 1, 1.0),
    ]
    # Within 10 days the return after 13 days no longer counts.
    rows = records(
        service_runner,
        "service_first_time_fix",
        {"period": "2025-01-01..2025-01-31", "within_days": 10},
    )
    assert pick(rows, *names)[0] == ("Ann Field", 2, 0, 2, 1.0)


def test_repeat_repairs_pair_the_unit_with_its_earlier_repair(service_runner: Runner) -> None:
    # s6 (SN1, received 20 Jan, 09:00 in Denver) follows s1 repaired on 7 Jan (05:00 in
    # Denver): 20 - 7 = 13 days later; s1 was Ann's, its diagnosis "Worn roller".
    rows = records(service_runner, "service_repeat_repairs", {"period": "2025-01-01..2025-01-31"})
    assert pick(
        rows,
        "serial_number",
        "client",
        "first_request",
        "first_repaired_on",
        "first_engineer",
        "first_diagnosis",
        "new_request",
        "came_back_on",
        "days_later",
        "new_problem",
        "warranty",
    ) == [
        (
            "SN1",
            "Acme Dental",
            "SR-s1",
            pd.Timestamp("2025-01-07"),
            "Ann Field",
            "Worn roller",
            "SR-s6",
            pd.Timestamp("2025-01-20"),
            13,
            "Paper jams again",
            "no",
        ),
    ]
    assert (
        records(
            service_runner,
            "service_repeat_repairs",
            {"period": "2025-01-01..2025-01-31", "within_days": 12},
        )
        == []
    )


# Deliveries of Denver in January (UTC-7). Promised times are points (no window) except f3.
#   f1  Dan  N  planned 6 Jan 17:00, handed over 16:50: on time; 10 km; ordered 3 Jan
#   f2  Dan  N  planned 6 Jan 18:00, handed over 18:20: 20 min late; 20 km; ordered 6 Jan
#   f3  Eve  S  window 7 Jan 17:00-19:00, handed over 18:30: on time; 5 km; ordered 2 Jan
#   f4  Eve  S  7 Jan 18:00 failed, client absent; 15 km
#   f5  Dan  N  planned 8 Jan 18:00, handed over 19:00: 60 min late; no distance; ordered 7 Jan
#   f6  Eve  S  planned 1 Feb 05:00 UTC = 31 Jan 22:00 local, handed over 05:10: 10 min late;
#               8 km; no invoice
#   f7  Dan  N  cancelled
def delivery(did: str, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"delivery_id": did, "branch_id": "denver", "client_id": "c1"}
    row.update(values)
    return row


DELIVERIES = [
    delivery(
        "f1",
        driver_id="d1",
        route="N",
        status="delivered",
        invoice_id="i1",
        planned_start_at="2025-01-06 17:00",
        departed_at="2025-01-06 16:00",
        delivered_at="2025-01-06 16:50",
        distance_km="10",
    ),
    delivery(
        "f2",
        driver_id="d1",
        route="N",
        status="delivered",
        invoice_id="i2",
        planned_start_at="2025-01-06 18:00",
        departed_at="2025-01-06 17:00",
        delivered_at="2025-01-06 18:20",
        distance_km="20",
    ),
    delivery(
        "f3",
        driver_id="d2",
        route="S",
        status="delivered",
        invoice_id="i3",
        planned_start_at="2025-01-07 17:00",
        planned_end_at="2025-01-07 19:00",
        departed_at="2025-01-07 16:00",
        delivered_at="2025-01-07 18:30",
        distance_km="5",
    ),
    delivery(
        "f4",
        driver_id="d2",
        route="S",
        status="failed",
        failure_reason="Client absent",
        planned_start_at="2025-01-07 18:00",
        departed_at="2025-01-07 17:00",
        distance_km="15",
    ),
    delivery(
        "f5",
        driver_id="d1",
        route="N",
        status="delivered",
        invoice_id="i4",
        planned_start_at="2025-01-08 18:00",
        departed_at="2025-01-08 17:00",
        delivered_at="2025-01-08 19:00",
    ),
    delivery(
        "f6",
        driver_id="d2",
        route="S",
        status="delivered",
        planned_start_at="2025-02-01 05:00",
        departed_at="2025-02-01 04:00",
        delivered_at="2025-02-01 05:10",
        distance_km="8",
    ),
    delivery(
        "f7",
        driver_id="d1",
        route="N",
        status="cancelled",
        planned_start_at="2025-01-10 17:00",
        distance_km="99",
    ),
]
INVOICES = [
    {
        "invoice_id": "i1",
        "branch_id": "denver",
        "issued_on": "2025-01-03",
        "ordered_on": "2025-01-03",
        "promised_on": "2025-01-06",
        "status": "issued",
    },
    {
        "invoice_id": "i2",
        "branch_id": "denver",
        "issued_on": "2025-01-06",
        "ordered_on": "2025-01-06",
        "promised_on": "2025-01-06",
        "status": "issued",
    },
    {
        "invoice_id": "i3",
        "branch_id": "denver",
        "issued_on": "2025-01-02",
        "ordered_on": "2025-01-02",
        "promised_on": "2025-01-06",
        "status": "issued",
    },
    {
        "invoice_id": "i4",
        "branch_id": "denver",
        "issued_on": "2025-01-07",
        "ordered_on": "2025-01-07",
        "status": "issued",
    },
]
JANUARY = {"period": "2025-01-01..2025-01-31"}


@pytest.fixture(scope="module")
def delivery_runner(tmp_path_factory: pytest.TempPathFactory) -> Runner:
    project: Path = make_project(
        tmp_path_factory.mktemp("delivery"),
        {
            "dim_branch": BRANCHES,
            "dim_employee": EMPLOYEES,
            "dim_client": [{"client_id": "c1", "branch_id": "denver", "name": "Acme Dental"}],
            "fct_invoice": INVOICES,
            "fct_delivery": DELIVERIES,
        },
    )
    return Runner.from_settings(load_settings(project))


def test_on_time_rate_by_driver_with_and_without_grace(delivery_runner: Runner) -> None:
    # Without grace: Dan f1 on time, f2 late 1 200 s, f5 late 3 600 s: 1 of 3, late by
    # (1 200 + 3 600) / 2 = 2 400 s. Eve f3 on time (inside its window), f6 late 600 s
    # (planned 31 Jan local, so in January): 1 of 2. f4 failed and f7 cancelled: not counted.
    names = ("row_label", "delivered", "on_time", "late", "on_time_rate", "average_lateness")
    rows = records(delivery_runner, "delivery_on_time", {**JANUARY, "group_by": "driver"})
    assert pick(rows, *names) == [
        ("Dan Wheeler", 3, 1, 2, pytest.approx(1 / 3), 2400.0),
        ("Eve Lane", 2, 1, 1, 0.5, 600.0),
    ]
    # With 30 minutes of grace f2 (20 min) and f6 (10 min) count as on time; f5 (60 min) not.
    rows = records(
        delivery_runner, "delivery_on_time", {**JANUARY, "group_by": "driver", "grace_minutes": 30}
    )
    assert pick(rows, *names) == [
        ("Dan Wheeler", 3, 2, 1, pytest.approx(2 / 3), 3600.0),
        ("Eve Lane", 2, 2, 0, 1.0, None),
    ]


def test_km_per_delivery_charges_failed_trips_to_the_successful_ones(
    delivery_runner: Runner,
) -> None:
    # Dan: stops f1, f2, f5 (f7 cancelled); 30 km over the 2 stops with a distance: 15 per stop
    #      and per delivery; f5 has no distance.
    # Eve: f3 5 + f4 15 (failed) + f6 8 = 28 km over 3 stops (9.33), over 2 deliveries (14);
    #      15 of 28 km on the failed trip.
    rows = records(delivery_runner, "delivery_km", {**JANUARY, "group_by": "driver"})
    assert pick(
        rows,
        "row_label",
        "stops",
        "delivered",
        "km",
        "km_per_stop",
        "km_per_delivery",
        "failed_km",
        "failed_km_share",
        "stops_without_km",
    ) == [
        ("Dan Wheeler", 3, 3, 30.0, 15.0, 15.0, 0.0, 0.0, 1),
        ("Eve Lane", 3, 2, 28.0, pytest.approx(28 / 3), 14.0, 15.0, pytest.approx(15 / 28), 0),
    ]


def test_failure_reasons_by_driver(delivery_runner: Runner) -> None:
    # Eve: 3 attempts (f3, f4, f6), f4 failed for client absent, 15 km for nothing.
    # Dan: 3 attempts, none failed. Sorted by failures.
    rows = records(delivery_runner, "delivery_failure_reasons", {**JANUARY, "group_by": "driver"})
    assert pick(
        rows,
        "row_label",
        "attempts",
        "failed",
        "failure_rate",
        "client_absent",
        "office_closed",
        "other_reason",
        "wasted_km",
    ) == [
        ("Eve Lane", 3, 1, pytest.approx(1 / 3), 1, 0, 0, 15.0),
        ("Dan Wheeler", 3, 0, 0.0, 0, 0, 0, 0.0),
    ]


def test_lead_time_from_order_to_delivery(delivery_runner: Runner) -> None:
    # Delivered stops with an invoice, by local handover day:
    #   f1 6 Jan - ordered 3 Jan = 3 days, promised 6 Jan: kept
    #   f2 6 Jan - 6 Jan = same day, promised 6 Jan: kept
    #   f3 7 Jan - 2 Jan = 5 days, promised 6 Jan: not kept
    #   f5 8 Jan - 7 Jan = next day, no promise
    # Each band 1 of 4 = 25%; promise kept 2 of the 3 with a promise.
    result = delivery_runner.run("delivery_lead_time", JANUARY)
    rows = records(delivery_runner, "delivery_lead_time", JANUARY)
    assert pick(
        rows,
        "band",
        "deliveries",
        "share",
        "cumulative_share",
        "with_promise",
        "promise_kept",
        "promise_kept_rate",
    ) == [
        ("Same day", 1, 0.25, 0.25, 1, 1, 1.0),
        ("Next day", 1, 0.25, 0.5, 0, 0, None),
        ("2 days", 0, 0.0, 0.5, 0, 0, None),
        ("3 days", 1, 0.25, 0.75, 1, 1, 1.0),
        ("4 to 5 days", 1, 0.25, 1.0, 1, 0, 0.0),
        ("6 to 10 days", 0, 0.0, 1.0, 0, 0, None),
        ("Over 10 days", 0, 0.0, 1.0, 0, 0, None),
    ]
    assert result.frame["promise_kept"].sum() / result.frame["with_promise"].sum() == 2 / 3
