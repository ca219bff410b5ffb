"""The KPI engine's case table, in the style of MetricFlow's integration tests.

Each :class:`Case` names a KPI of the fixture set (``conftest.py``), a query (range, grain,
slices, request filters, row-level scope) and a check query written by hand against the
``core`` tables, never through the compiler. The engine's rows must equal the check query's
rows, on DuckDB (through ``Engine.evaluate``) and on PostgreSQL (the engine's compiled SQL in
the ``postgres`` dialect), each engine running the check query itself.

The check queries share a few hand-written row sources: :func:`local` places a fact's rows on
the branch's local day, and periods come from ``core.dim_date`` (``week_start``,
``month_start`` …, computed by ``conftest.py`` in Python), not from ``date_trunc``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import psycopg
import pytest

from kpi_designer import model as m
from kpi_designer.engine import Engine
from kpi_designer.errors import EvaluationError
from kpiboard import sandbox

D = dt.date.fromisoformat
# members of the fixture company (conftest.py) the queries name
DENVER, AUSTIN = "denver", "austin"
DANA, ELI, FINN = "crm_denver:1", "crm_denver:2", "crm_denver:3"
GUS, IVY = "crm_austin:1", "crm_austin:3"
ENGINES = ("duckdb", "postgres")


@dataclass(frozen=True)
class Case:
    """One KPI evaluated one way, and the hand-written query its rows must equal."""

    id: str
    kpi: str
    start: dt.date
    end: dt.date
    grain: str
    check: str | Mapping[str, str]
    """Rows of (period, the ``by`` values…, value); one query for both engines, or one each."""
    by: tuple[str, ...] = ()
    filters: tuple[str, ...] = ()
    scope: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    bugs: Mapping[str, str] = field(default_factory=dict)
    """Engine → why the engine is wrong there (a strict xfail)."""

    def check_sql(self, engine: str) -> str:
        return self.check if isinstance(self.check, str) else self.check[engine]


def local(table: str, time: str) -> str:
    """A fact's rows with ``day``: the local day of ``time`` in its branch's time zone."""
    return (
        f"(SELECT t.*, CAST(timezone(b.timezone, t.{time} AT TIME ZONE 'UTC') AS DATE) AS day"
        f" FROM core.{table} AS t JOIN core.dim_branch AS b ON b.branch_id = t.branch_id)"
    )


ACTIVITY = local("fct_activity", "occurred_at")
LEAD = local("fct_lead", "created_at")
DEAL = local("fct_deal", "opened_at")
DEAL_CLOSED = local("fct_deal", "closed_at")
SERVICE = local("fct_service_request", "received_at")
REVENUE = "(SELECT * FROM core.fct_invoice WHERE status <> 'cancelled')"
"""Invoices and credit notes that count as revenue."""
LINES = (
    "(SELECT l.*, i.issued_on, i.owner_id, i.client_id FROM core.fct_invoice_line AS l"
    " JOIN core.fct_invoice AS i ON i.invoice_id = l.invoice_id WHERE i.status <> 'cancelled')"
)
"""Lines of invoices that count, with the invoice's date, sales manager and client."""
REVENUE_CLIENTS = (
    "(SELECT i.*, COALESCE(k.master_client_id, i.client_id) AS one_client"
    " FROM core.fct_invoice AS i JOIN core.dim_client AS k ON k.client_id = i.client_id"
    " WHERE i.status <> 'cancelled')"
)
"""Invoices that count as revenue with ``one_client``: the client, or the record it is a
duplicate of (``dim_client.master_client_id``), which is how KPIs count clients."""


# -- simple KPIs: every grain ----------------------------------------------------------------------

SIMPLE_GRAINS = [
    Case(
        "revenue_by_month",
        "revenue",
        D("2024-01-01"),
        D("2025-06-30"),
        "month",
        """
        SELECT d.month_start, SUM(i.net_amount)
        FROM core.fct_invoice AS i JOIN core.dim_date AS d ON d.calendar_date = i.issued_on
        WHERE i.status <> 'cancelled' AND i.issued_on BETWEEN '2024-01-01' AND '2025-06-30'
        GROUP BY d.month_start
        """,
    ),
    Case(
        "revenue_by_day_and_branch",
        "revenue",
        D("2025-01-01"),
        D("2025-02-28"),
        "day",
        f"""
        SELECT i.issued_on, i.branch_id, SUM(i.net_amount) FROM {REVENUE} AS i
        WHERE i.issued_on BETWEEN '2025-01-01' AND '2025-02-28'
        GROUP BY i.issued_on, i.branch_id
        """,
        by=("branch",),
    ),
    # 2024-12-30 is the Monday of ISO week 2025-W01: austin's invoice of that day shares a week
    # with January 2025; the range starts on a Monday and ends on a Sunday
    Case(
        "revenue_by_week_across_new_year",
        "revenue",
        D("2024-12-23"),
        D("2025-01-19"),
        "week",
        f"""
        SELECT d.week_start, i.branch_id, SUM(i.net_amount)
        FROM {REVENUE} AS i JOIN core.dim_date AS d ON d.calendar_date = i.issued_on
        WHERE i.issued_on BETWEEN '2024-12-23' AND '2025-01-19'
        GROUP BY d.week_start, i.branch_id
        """,
        by=("branch",),
    ),
    Case(
        "revenue_by_quarter_and_branch",
        "revenue",
        D("2024-01-01"),
        D("2025-06-30"),
        "quarter",
        f"""
        SELECT d.quarter_start, i.branch_id, SUM(i.net_amount)
        FROM {REVENUE} AS i JOIN core.dim_date AS d ON d.calendar_date = i.issued_on
        WHERE i.issued_on BETWEEN '2024-01-01' AND '2025-06-30'
        GROUP BY d.quarter_start, i.branch_id
        """,
        by=("branch",),
    ),
    Case(
        "revenue_by_year",
        "revenue",
        D("2024-01-01"),
        D("2025-12-31"),
        "year",
        f"""
        SELECT d.year_start, SUM(i.net_amount)
        FROM {REVENUE} AS i JOIN core.dim_date AS d ON d.calendar_date = i.issued_on
        GROUP BY d.year_start
        """,
    ),
]

# -- simple KPIs: each aggregation -----------------------------------------------------------------

SIMPLE_AGGREGATIONS = [
    Case(
        "invoice_count_two_filters",
        "invoice_count",
        D("2025-01-01"),
        D("2025-06-30"),
        "month",
        """
        SELECT d.month_start, i.branch_id, COUNT(*)
        FROM core.fct_invoice AS i JOIN core.dim_date AS d ON d.calendar_date = i.issued_on
        WHERE i.status <> 'cancelled' AND i.kind = 'invoice'
          AND i.issued_on BETWEEN '2025-01-01' AND '2025-06-30'
        GROUP BY d.month_start, i.branch_id
        """,
        by=("branch",),
    ),
    Case(
        "invoiced_clients_count_distinct",
        "invoiced_clients",
        D("2024-01-01"),
        D("2025-06-30"),
        "quarter",
        f"""
        SELECT d.quarter_start, i.branch_id, COUNT(DISTINCT i.one_client)
        FROM {REVENUE_CLIENTS} AS i JOIN core.dim_date AS d ON d.calendar_date = i.issued_on
        WHERE i.issued_on BETWEEN '2024-01-01' AND '2025-06-30'
        GROUP BY d.quarter_start, i.branch_id
        """,
        by=("branch",),
    ),
    # a client typed in twice (ACME_AGAIN, a duplicate of ACME) is one client: May 2025 has
    # invoices of both records and Denver counts it once
    Case(
        "invoiced_clients_count_a_duplicate_once",
        "invoiced_clients",
        D("2025-04-01"),
        D("2025-06-30"),
        "month",
        """
        SELECT d.month_start, i.branch_id, COUNT(DISTINCT COALESCE(k.master_client_id, i.client_id))
        FROM core.fct_invoice AS i JOIN core.dim_date AS d ON d.calendar_date = i.issued_on
        JOIN core.dim_client AS k ON k.client_id = i.client_id
        WHERE i.status <> 'cancelled' AND i.issued_on BETWEEN '2025-04-01' AND '2025-06-30'
        GROUP BY d.month_start, i.branch_id
        """,
        by=("branch",),
    ),
    # revenue by client: the duplicate's invoice is under its master, as one row
    Case(
        "revenue_by_client_puts_a_duplicate_under_its_master",
        "revenue",
        D("2025-04-01"),
        D("2025-06-30"),
        "quarter",
        """
        SELECT d.quarter_start, COALESCE(k.master_client_id, i.client_id), SUM(i.net_amount)
        FROM core.fct_invoice AS i JOIN core.dim_date AS d ON d.calendar_date = i.issued_on
        JOIN core.dim_client AS k ON k.client_id = i.client_id
        WHERE i.status <> 'cancelled' AND i.issued_on BETWEEN '2025-04-01' AND '2025-06-30'
        GROUP BY 1, 2
        """,
        by=("client",),
    ),
    # two distinct counts of one column with their own filters, in one scan
    Case(
        "credited_client_share_two_distinct_counts",
        "credited_client_share",
        D("2025-01-01"),
        D("2025-06-30"),
        "quarter",
        f"""
        SELECT d.quarter_start, i.branch_id,
            COUNT(DISTINCT i.one_client) FILTER (WHERE i.kind = 'credit_note')
                * 1.0 / COUNT(DISTINCT i.one_client)
        FROM {REVENUE_CLIENTS} AS i JOIN core.dim_date AS d ON d.calendar_date = i.issued_on
        WHERE i.issued_on BETWEEN '2025-01-01' AND '2025-06-30'
        GROUP BY d.quarter_start, i.branch_id
        """,
        by=("branch",),
    ),
    # days are UTC dates, counted per local month: May 7 (UTC) is on May 6 and 7 in Denver
    Case(
        "calls_per_active_day_utc_dates_in_local_months",
        "calls_per_active_day",
        D("2025-01-01"),
        D("2025-06-30"),
        "month",
        f"""
        SELECT d.month_start, a.employee_id,
            COUNT(*) FILTER (WHERE a.kind = 'call') * 1.0
                / COUNT(DISTINCT CAST(a.occurred_at AS DATE))
        FROM {ACTIVITY} AS a JOIN core.dim_date AS d ON d.calendar_date = a.day
        WHERE a.day BETWEEN '2025-01-01' AND '2025-06-30'
        GROUP BY d.month_start, a.employee_id
        """,
        by=("employee",),
    ),
    Case(
        "avg_invoice",
        "avg_invoice",
        D("2024-01-01"),
        D("2025-06-30"),
        "quarter",
        """
        SELECT d.quarter_start, i.branch_id, AVG(i.net_amount)
        FROM core.fct_invoice AS i JOIN core.dim_date AS d ON d.calendar_date = i.issued_on
        WHERE i.status <> 'cancelled' AND i.kind = 'invoice'
          AND i.issued_on BETWEEN '2024-01-01' AND '2025-06-30'
        GROUP BY d.quarter_start, i.branch_id
        """,
        by=("branch",),
    ),
    Case(
        "smallest_invoice_is_a_credit_note",
        "smallest_invoice",
        D("2025-01-01"),
        D("2025-03-31"),
        "month",
        f"""
        SELECT d.month_start, i.branch_id, MIN(i.net_amount)
        FROM {REVENUE} AS i JOIN core.dim_date AS d ON d.calendar_date = i.issued_on
        WHERE i.issued_on BETWEEN '2025-01-01' AND '2025-03-31'
        GROUP BY d.month_start, i.branch_id
        """,
        by=("branch",),
    ),
    # the cancelled 5000 would be the largest of denver's 2025
    Case(
        "largest_invoice_ignores_cancelled",
        "largest_invoice",
        D("2024-01-01"),
        D("2025-12-31"),
        "year",
        f"""
        SELECT d.year_start, i.branch_id, MAX(i.net_amount)
        FROM {REVENUE} AS i JOIN core.dim_date AS d ON d.calendar_date = i.issued_on
        GROUP BY d.year_start, i.branch_id
        """,
        by=("branch",),
    ),
    # even counts interpolate (austin 2024: four; denver 2025: ten), odd ones do not (denver
    # 2024: seven; austin 2025: seven)
    Case(
        "median_invoice",
        "median_invoice",
        D("2024-01-01"),
        D("2025-12-31"),
        "year",
        f"""
        SELECT d.year_start, i.branch_id,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY i.net_amount)
        FROM {REVENUE} AS i JOIN core.dim_date AS d ON d.calendar_date = i.issued_on
        GROUP BY d.year_start, i.branch_id
        """,
        by=("branch",),
    ),
    Case(
        "median_call_hours_local_quarters",
        "median_call_hours",
        D("2024-10-01"),
        D("2025-06-30"),
        "quarter",
        f"""
        SELECT d.quarter_start, a.branch_id,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY a.duration_seconds / 3600.0)
        FROM {ACTIVITY} AS a JOIN core.dim_date AS d ON d.calendar_date = a.day
        WHERE a.kind = 'call' AND a.day BETWEEN '2024-10-01' AND '2025-06-30'
        GROUP BY d.quarter_start, a.branch_id
        """,
        by=("branch",),
    ),
    Case(
        "service_requests_by_engineer",
        "service_requests",
        D("2025-01-01"),
        D("2025-03-31"),
        "month",
        f"""
        SELECT d.month_start, s.engineer_id, COUNT(*)
        FROM {SERVICE} AS s JOIN core.dim_date AS d ON d.calendar_date = s.day
        WHERE s.day BETWEEN '2025-01-01' AND '2025-03-31'
        GROUP BY d.month_start, s.engineer_id
        """,
        by=("employee",),
    ),
    # counted by closed_at, not the default opened_at; open deals have none
    Case(
        "won_deals_by_closing_time",
        "won_deals",
        D("2024-01-01"),
        D("2025-06-30"),
        "month",
        f"""
        SELECT d.month_start, x.owner_id, COUNT(*)
        FROM {DEAL_CLOSED} AS x JOIN core.dim_date AS d ON d.calendar_date = x.day
        WHERE x.status = 'won' AND x.day BETWEEN '2024-01-01' AND '2025-06-30'
        GROUP BY d.month_start, x.owner_id
        """,
        by=("employee",),
    ),
]

# -- slices and filters ----------------------------------------------------------------------------

SLICES = [
    Case(
        "revenue_by_employee",
        "revenue",
        D("2025-01-01"),
        D("2025-03-31"),
        "month",
        f"""
        SELECT d.month_start, i.owner_id, SUM(i.net_amount)
        FROM {REVENUE} AS i JOIN core.dim_date AS d ON d.calendar_date = i.issued_on
        WHERE i.issued_on BETWEEN '2025-01-01' AND '2025-03-31'
        GROUP BY d.month_start, i.owner_id
        """,
        by=("employee",),
    ),
    Case(
        "revenue_by_client_segment",
        "revenue",
        D("2025-01-01"),
        D("2025-06-30"),
        "quarter",
        f"""
        SELECT d.quarter_start, c.segment, SUM(i.net_amount)
        FROM {REVENUE} AS i JOIN core.dim_date AS d ON d.calendar_date = i.issued_on
        JOIN core.dim_client AS c ON c.client_id = i.client_id
        WHERE i.issued_on BETWEEN '2025-01-01' AND '2025-06-30'
        GROUP BY d.quarter_start, c.segment
        """,
        by=("client_segment",),
    ),
    # an invoice has no channel of its own: the client's acquisition channel
    Case(
        "revenue_by_client_channel",
        "revenue",
        D("2024-01-01"),
        D("2025-12-31"),
        "year",
        f"""
        SELECT d.year_start, c.acquisition_channel, SUM(i.net_amount)
        FROM {REVENUE} AS i JOIN core.dim_date AS d ON d.calendar_date = i.issued_on
        JOIN core.dim_client AS c ON c.client_id = i.client_id
        GROUP BY d.year_start, c.acquisition_channel
        """,
        by=("channel",),
    ),
    # a lead's own channel: l2 came by email from a client acquired by referral
    Case(
        "leads_by_their_own_channel",
        "lead_count",
        D("2024-01-01"),
        D("2025-06-30"),
        "quarter",
        f"""
        SELECT d.quarter_start, x.channel, COUNT(*)
        FROM {LEAD} AS x JOIN core.dim_date AS d ON d.calendar_date = x.day
        WHERE x.day BETWEEN '2024-01-01' AND '2025-06-30'
        GROUP BY d.quarter_start, x.channel
        """,
        by=("channel",),
    ),
    Case(
        "deals_by_client_channel",
        "deal_count",
        D("2025-01-01"),
        D("2025-03-31"),
        "month",
        f"""
        SELECT d.month_start, c.acquisition_channel, COUNT(*)
        FROM {DEAL} AS x JOIN core.dim_date AS d ON d.calendar_date = x.day
        JOIN core.dim_client AS c ON c.client_id = x.client_id
        WHERE x.day BETWEEN '2025-01-01' AND '2025-03-31'
        GROUP BY d.month_start, c.acquisition_channel
        """,
        by=("channel",),
    ),
    Case(
        "activities_by_role",
        "activity_count",
        D("2024-10-01"),
        D("2025-06-30"),
        "quarter",
        f"""
        SELECT d.quarter_start, e.role, COUNT(*)
        FROM {ACTIVITY} AS a JOIN core.dim_date AS d ON d.calendar_date = a.day
        JOIN core.dim_employee AS e ON e.employee_id = a.employee_id
        WHERE a.day BETWEEN '2024-10-01' AND '2025-06-30'
        GROUP BY d.quarter_start, e.role
        """,
        by=("role",),
    ),
    # the free-text line has no product: its own (empty) category; the cancelled invoice's
    # lines do not count
    Case(
        "line_revenue_by_product_category",
        "line_revenue",
        D("2024-01-01"),
        D("2025-06-30"),
        "quarter",
        f"""
        SELECT d.quarter_start, p.category, SUM(l.line_amount)
        FROM {LINES} AS l JOIN core.dim_date AS d ON d.calendar_date = l.issued_on
        LEFT JOIN core.dim_product AS p ON p.product_id = l.product_id
        WHERE l.issued_on BETWEEN '2024-01-01' AND '2025-06-30'
        GROUP BY d.quarter_start, p.category
        """,
        by=("product_category",),
    ),
    Case(
        "line_revenue_by_invoice_owner",
        "line_revenue",
        D("2025-01-01"),
        D("2025-03-31"),
        "month",
        f"""
        SELECT d.month_start, l.owner_id, SUM(l.line_amount)
        FROM {LINES} AS l JOIN core.dim_date AS d ON d.calendar_date = l.issued_on
        WHERE l.issued_on BETWEEN '2025-01-01' AND '2025-03-31'
        GROUP BY d.month_start, l.owner_id
        """,
        by=("employee",),
    ),
    Case(
        "kpi_filter_on_client_segment",
        "key_account_revenue",
        D("2024-01-01"),
        D("2025-06-30"),
        "month",
        f"""
        SELECT d.month_start, i.branch_id, SUM(i.net_amount)
        FROM {REVENUE} AS i JOIN core.dim_date AS d ON d.calendar_date = i.issued_on
        JOIN core.dim_client AS c ON c.client_id = i.client_id
        WHERE c.segment = 'key' AND i.issued_on BETWEEN '2024-01-01' AND '2025-06-30'
        GROUP BY d.month_start, i.branch_id
        """,
        by=("branch",),
    ),
    # the same rows as the KPI filter above, asked for by the request
    Case(
        "request_filter_on_client_segment",
        "revenue",
        D("2024-01-01"),
        D("2025-06-30"),
        "month",
        f"""
        SELECT d.month_start, i.branch_id, SUM(i.net_amount)
        FROM {REVENUE} AS i JOIN core.dim_date AS d ON d.calendar_date = i.issued_on
        JOIN core.dim_client AS c ON c.client_id = i.client_id
        WHERE c.segment = 'key' AND i.issued_on BETWEEN '2024-01-01' AND '2025-06-30'
        GROUP BY d.month_start, i.branch_id
        """,
        by=("branch",),
        filters=("client_segment = 'key'",),
    ),
    Case(
        "request_filters_on_branch_and_role",
        "activity_count",
        D("2025-01-01"),
        D("2025-06-30"),
        "month",
        f"""
        SELECT d.month_start, a.employee_id, COUNT(*)
        FROM {ACTIVITY} AS a JOIN core.dim_date AS d ON d.calendar_date = a.day
        JOIN core.dim_employee AS e ON e.employee_id = a.employee_id
        WHERE a.branch_id = 'denver' AND e.role = 'sales_manager'
          AND a.day BETWEEN '2025-01-01' AND '2025-06-30'
        GROUP BY d.month_start, a.employee_id
        """,
        by=("employee",),
        filters=("branch = 'denver'", "role = 'sales_manager'"),
    ),
]

# -- local days ------------------------------------------------------------------------------------

LOCAL_DAYS = [
    # a3 (Jan 31 in Denver, Feb 1 UTC), a6 (Feb 28 / Mar 1), a7 (Mar 10 local after the DST
    # switch), a4 of austin (Mar 11 local, Mar 12 UTC)
    Case(
        "calls_on_local_days",
        "call_count",
        D("2025-01-01"),
        D("2025-04-30"),
        "day",
        f"""
        SELECT a.day, a.branch_id, COUNT(*) FROM {ACTIVITY} AS a
        WHERE a.kind = 'call' AND a.day BETWEEN '2025-01-01' AND '2025-04-30'
        GROUP BY a.day, a.branch_id
        """,
        by=("branch",),
    ),
    Case(
        "calls_in_local_months",
        "call_count",
        D("2024-12-01"),
        D("2025-04-30"),
        "month",
        f"""
        SELECT d.month_start, a.branch_id, COUNT(*)
        FROM {ACTIVITY} AS a JOIN core.dim_date AS d ON d.calendar_date = a.day
        WHERE a.kind = 'call' AND a.day BETWEEN '2024-12-01' AND '2025-04-30'
        GROUP BY d.month_start, a.branch_id
        """,
        by=("branch",),
    ),
    # austin's a1 is 2025 in UTC and 2024 in Austin
    Case(
        "activities_in_local_years",
        "activity_count",
        D("2024-01-01"),
        D("2025-12-31"),
        "year",
        f"""
        SELECT d.year_start, a.branch_id, COUNT(*)
        FROM {ACTIVITY} AS a JOIN core.dim_date AS d ON d.calendar_date = a.day
        GROUP BY d.year_start, a.branch_id
        """,
        by=("branch",),
    ),
    # a range ending on 2025-03-31 takes the lead of 02:00 UTC on April 1 (Mar 31 in Denver)
    Case(
        "leads_in_local_weeks",
        "lead_count",
        D("2025-03-03"),
        D("2025-03-31"),
        "week",
        f"""
        SELECT d.week_start, x.branch_id, COUNT(*)
        FROM {LEAD} AS x JOIN core.dim_date AS d ON d.calendar_date = x.day
        WHERE x.day BETWEEN '2025-03-03' AND '2025-03-31'
        GROUP BY d.week_start, x.branch_id
        """,
        by=("branch",),
    ),
]

# -- ratios ----------------------------------------------------------------------------------------

RATIOS = [
    # one fact: revenue over invoices (credit notes add to revenue, not to the count)
    Case(
        "avg_check_one_fact",
        "avg_check",
        D("2025-01-01"),
        D("2025-06-30"),
        "month",
        """
        SELECT d.month_start, i.branch_id,
               COALESCE(SUM(CASE WHEN i.status <> 'cancelled' THEN i.net_amount END), 0)
               / NULLIF(SUM(CASE WHEN i.status <> 'cancelled' AND i.kind = 'invoice'
                                 THEN 1 ELSE 0 END), 0)
        FROM core.fct_invoice AS i JOIN core.dim_date AS d ON d.calendar_date = i.issued_on
        WHERE i.issued_on BETWEEN '2025-01-01' AND '2025-06-30'
        GROUP BY d.month_start, i.branch_id
        """,
        by=("branch",),
    ),
    # one fact, the numerator's filter through the client's segment
    Case(
        "key_revenue_share_one_fact",
        "key_revenue_share",
        D("2024-01-01"),
        D("2025-06-30"),
        "quarter",
        f"""
        SELECT d.quarter_start, i.branch_id,
               COALESCE(SUM(CASE WHEN c.segment = 'key' THEN i.net_amount END), 0)
               / NULLIF(SUM(i.net_amount), 0)
        FROM {REVENUE} AS i JOIN core.dim_date AS d ON d.calendar_date = i.issued_on
        JOIN core.dim_client AS c ON c.client_id = i.client_id
        WHERE i.issued_on BETWEEN '2024-01-01' AND '2025-06-30'
        GROUP BY d.quarter_start, i.branch_id
        """,
        by=("branch",),
    ),
    # a ratio has a row where its numerator or its denominator has one: austin's February 2025
    # has a deal, but none closed, so no row (as a ratio across two facts would not)
    Case(
        "win_rate_zero_denominator",
        "win_rate",
        D("2024-12-01"),
        D("2025-03-31"),
        "month",
        f"""
        SELECT d.month_start, x.branch_id,
               1.0 * SUM(CASE WHEN x.status = 'won' THEN 1 ELSE 0 END)
               / NULLIF(SUM(CASE WHEN x.status IN ('won', 'lost') THEN 1 ELSE 0 END), 0)
        FROM {DEAL} AS x JOIN core.dim_date AS d ON d.calendar_date = x.day
        WHERE x.day BETWEEN '2024-12-01' AND '2025-03-31'
        GROUP BY d.month_start, x.branch_id
        HAVING SUM(CASE WHEN x.status IN ('won', 'lost') THEN 1 ELSE 0 END) > 0
        """,
        by=("branch",),
    ),
    # two facts, each with its own filter; denver's April has revenue and no call (no value),
    # austin's December 2024 a call on New Year's Eve (local)
    Case(
        "revenue_per_call_two_facts",
        "revenue_per_call",
        D("2024-12-01"),
        D("2025-04-30"),
        "month",
        f"""
        WITH n AS (
            SELECT d.month_start AS period, i.branch_id AS branch, SUM(i.net_amount) AS v
            FROM {REVENUE} AS i JOIN core.dim_date AS d ON d.calendar_date = i.issued_on
            WHERE i.kind = 'invoice' AND i.issued_on BETWEEN '2024-12-01' AND '2025-04-30'
            GROUP BY 1, 2
        ), c AS (
            SELECT d.month_start AS period, a.branch_id AS branch, COUNT(*) AS v
            FROM {ACTIVITY} AS a JOIN core.dim_date AS d ON d.calendar_date = a.day
            WHERE a.kind = 'call' AND a.day BETWEEN '2024-12-01' AND '2025-04-30'
            GROUP BY 1, 2
        ), k AS (SELECT period, branch FROM n UNION SELECT period, branch FROM c)
        SELECT k.period, k.branch, COALESCE(n.v, 0) / NULLIF(COALESCE(c.v, 0), 0)
        FROM k LEFT JOIN n ON n.period = k.period AND n.branch = k.branch
        LEFT JOIN c ON c.period = k.period AND c.branch = k.branch
        """,
        by=("branch",),
    ),
]

# -- derived ---------------------------------------------------------------------------------------

DERIVED = [
    # the repair line without a cost counts as no cost
    Case(
        "gross_margin_by_category",
        "gross_margin",
        D("2024-01-01"),
        D("2025-06-30"),
        "quarter",
        f"""
        SELECT d.quarter_start, p.category,
               SUM(l.line_amount) - COALESCE(SUM(l.cost_amount), 0)
        FROM {LINES} AS l JOIN core.dim_date AS d ON d.calendar_date = l.issued_on
        LEFT JOIN core.dim_product AS p ON p.product_id = l.product_id
        WHERE l.issued_on BETWEEN '2024-01-01' AND '2025-06-30'
        GROUP BY d.quarter_start, p.category
        """,
        by=("product_category",),
    ),
    Case(
        "margin_share_by_branch",
        "margin_share",
        D("2025-01-01"),
        D("2025-03-31"),
        "month",
        f"""
        SELECT d.month_start, l.branch_id,
               (SUM(l.line_amount) - COALESCE(SUM(l.cost_amount), 0))
               / NULLIF(SUM(l.line_amount), 0)
        FROM {LINES} AS l JOIN core.dim_date AS d ON d.calendar_date = l.issued_on
        WHERE l.issued_on BETWEEN '2025-01-01' AND '2025-03-31'
        GROUP BY d.month_start, l.branch_id
        """,
        by=("branch",),
    ),
    # offset 1 year: austin's February 2025 (nothing) against 2024 (800) is -100%; denver's
    # April and May 2025 against nothing have no value (division by zero)
    Case(
        "revenue_growth_yoy_by_month",
        "revenue_growth_yoy",
        D("2025-01-01"),
        D("2025-06-30"),
        "month",
        f"""
        WITH r AS (
            SELECT d.month_start AS period, i.branch_id AS branch, SUM(i.net_amount) AS v
            FROM {REVENUE} AS i JOIN core.dim_date AS d ON d.calendar_date = i.issued_on
            WHERE i.issued_on BETWEEN '2024-01-01' AND '2025-06-30'
            GROUP BY 1, 2
        ), now AS (SELECT * FROM r WHERE period >= '2025-01-01'),
        ly AS (
            SELECT CAST(period + INTERVAL '1 year' AS DATE) AS period, branch, v
            FROM r WHERE period < '2024-07-01'
        ), k AS (SELECT period, branch FROM now UNION SELECT period, branch FROM ly)
        SELECT k.period, k.branch,
               (COALESCE(now.v, 0) - COALESCE(ly.v, 0)) / NULLIF(COALESCE(ly.v, 0), 0)
        FROM k LEFT JOIN now ON now.period = k.period AND now.branch = k.branch
        LEFT JOIN ly ON ly.period = k.period AND ly.branch = k.branch
        """,
        by=("branch",),
    ),
    Case(
        "revenue_growth_yoy_by_quarter",
        "revenue_growth_yoy",
        D("2025-01-01"),
        D("2025-06-30"),
        "quarter",
        f"""
        WITH r AS (
            SELECT d.quarter_start AS period, SUM(i.net_amount) AS v
            FROM {REVENUE} AS i JOIN core.dim_date AS d ON d.calendar_date = i.issued_on
            WHERE i.issued_on BETWEEN '2024-01-01' AND '2025-06-30'
            GROUP BY 1
        )
        SELECT now.period, (now.v - COALESCE(ly.v, 0)) / NULLIF(COALESCE(ly.v, 0), 0)
        FROM r AS now
        LEFT JOIN r AS ly ON CAST(ly.period + INTERVAL '1 year' AS DATE) = now.period
        WHERE now.period >= '2025-01-01'
        """,
    ),
    # offset 1 year by day: each day against the same date a year earlier
    Case(
        "revenue_growth_yoy_by_day_after_feb_29",
        "revenue_growth_yoy",
        D("2025-02-25"),
        D("2025-03-03"),
        "day",
        f"""
        WITH r AS (
            SELECT i.issued_on AS period, SUM(i.net_amount) AS v
            FROM {REVENUE} AS i WHERE i.issued_on BETWEEN '2024-02-25' AND '2025-03-03'
            GROUP BY 1
        )
        SELECT c.calendar_date, (COALESCE(n.v, 0) - COALESCE(p.v, 0)) / NULLIF(COALESCE(p.v, 0), 0)
        FROM core.dim_date AS c
        LEFT JOIN r AS n ON n.period = c.calendar_date
        LEFT JOIN r AS p ON p.period = CAST(c.calendar_date - INTERVAL '1 year' AS DATE)
        WHERE c.calendar_date BETWEEN '2025-02-25' AND '2025-03-03'
          AND (n.v IS NOT NULL OR p.v IS NOT NULL)
        """,
    ),
    # offset 1 period: austin's February is 0 - January
    Case(
        "revenue_change_on_previous_month",
        "revenue_change_pop",
        D("2025-01-01"),
        D("2025-06-30"),
        "month",
        f"""
        WITH r AS (
            SELECT d.month_start AS period, i.branch_id AS branch, SUM(i.net_amount) AS v
            FROM {REVENUE} AS i JOIN core.dim_date AS d ON d.calendar_date = i.issued_on
            WHERE i.issued_on BETWEEN '2024-12-01' AND '2025-06-30'
            GROUP BY 1, 2
        ), now AS (SELECT * FROM r WHERE period >= '2025-01-01'),
        before AS (
            SELECT CAST(period + INTERVAL '1 month' AS DATE) AS period, branch, v
            FROM r WHERE period < '2025-06-01'
        ), k AS (SELECT period, branch FROM now UNION SELECT period, branch FROM before)
        SELECT k.period, k.branch, COALESCE(now.v, 0) - COALESCE(before.v, 0)
        FROM k LEFT JOIN now ON now.period = k.period AND now.branch = k.branch
        LEFT JOIN before ON before.period = k.period AND before.branch = k.branch
        """,
        by=("branch",),
    ),
    Case(
        "revenue_change_on_previous_week",
        "revenue_change_pop",
        D("2024-12-23"),
        D("2025-01-19"),
        "week",
        f"""
        WITH r AS (
            SELECT d.week_start AS period, SUM(i.net_amount) AS v
            FROM {REVENUE} AS i JOIN core.dim_date AS d ON d.calendar_date = i.issued_on
            WHERE i.issued_on BETWEEN '2024-12-16' AND '2025-01-19'
            GROUP BY 1
        ), now AS (SELECT * FROM r WHERE period >= '2024-12-23'),
        before AS (SELECT period + 7 AS period, v FROM r WHERE period < '2025-01-13'),
        k AS (SELECT period FROM now UNION SELECT period FROM before)
        SELECT k.period, COALESCE(now.v, 0) - COALESCE(before.v, 0)
        FROM k LEFT JOIN now ON now.period = k.period
        LEFT JOIN before ON before.period = k.period
        """,
    ),
]

# -- cumulative ------------------------------------------------------------------------------------
# Each period's window ends on its last day in the range; a period without rows in its window
# has no row. ``c`` is that last day, a row of core.dim_date.

CUMULATIVE = [
    Case(
        "revenue_month_to_date_by_day",
        "revenue_mtd",
        D("2025-01-25"),
        D("2025-02-05"),
        "day",
        f"""
        SELECT c.calendar_date, i.branch_id, SUM(i.net_amount)
        FROM core.dim_date AS c
        JOIN {REVENUE} AS i ON i.issued_on BETWEEN c.month_start AND c.calendar_date
        WHERE c.calendar_date BETWEEN '2025-01-25' AND '2025-02-05'
        GROUP BY c.calendar_date, i.branch_id
        """,
        by=("branch",),
    ),
    Case(
        "revenue_quarter_to_date_by_month",
        "revenue_qtd",
        D("2025-01-01"),
        D("2025-06-30"),
        "month",
        f"""
        SELECT c.month_start, i.branch_id, SUM(i.net_amount)
        FROM core.dim_date AS c
        JOIN {REVENUE} AS i ON i.issued_on BETWEEN c.quarter_start AND c.calendar_date
        WHERE c.calendar_date = c.month_end
          AND c.calendar_date BETWEEN '2025-01-01' AND '2025-06-30'
        GROUP BY c.month_start, i.branch_id
        """,
        by=("branch",),
    ),
    # the range starts in April (the year's first months still count) and ends mid-March
    # (March ends on the 15th)
    Case(
        "revenue_year_to_date_by_month",
        "revenue_ytd",
        D("2024-04-01"),
        D("2025-03-15"),
        "month",
        f"""
        SELECT c.month_start, i.branch_id, SUM(i.net_amount)
        FROM core.dim_date AS c
        JOIN {REVENUE} AS i ON i.issued_on BETWEEN c.year_start AND c.calendar_date
        WHERE c.calendar_date = LEAST(c.month_end, DATE '2025-03-15')
          AND c.calendar_date BETWEEN '2024-04-01' AND '2025-03-15'
        GROUP BY c.month_start, i.branch_id
        """,
        by=("branch",),
    ),
    Case(
        "revenue_year_to_date_by_quarter",
        "revenue_ytd",
        D("2024-01-01"),
        D("2025-06-30"),
        "quarter",
        f"""
        SELECT c.quarter_start, SUM(i.net_amount)
        FROM core.dim_date AS c
        JOIN {REVENUE} AS i ON i.issued_on BETWEEN c.year_start AND c.calendar_date
        WHERE c.calendar_date = c.month_end AND c.month IN (3, 6, 9, 12)
          AND c.calendar_date BETWEEN '2024-01-01' AND '2025-06-30'
        GROUP BY c.quarter_start
        """,
    ),
    # 30 days ending on each Sunday
    Case(
        "revenue_rolling_30_days_by_week",
        "revenue_rolling_30d",
        D("2025-01-06"),
        D("2025-03-30"),
        "week",
        f"""
        SELECT c.week_start, i.branch_id, SUM(i.net_amount)
        FROM core.dim_date AS c
        JOIN {REVENUE} AS i ON i.issued_on BETWEEN c.calendar_date - 29 AND c.calendar_date
        WHERE c.day_of_week = 7 AND c.calendar_date BETWEEN '2025-01-06' AND '2025-03-30'
        GROUP BY c.week_start, i.branch_id
        """,
        by=("branch",),
    ),
    # the month and the two before it
    Case(
        "revenue_rolling_3_months_by_month",
        "revenue_rolling_3m",
        D("2025-01-01"),
        D("2025-06-30"),
        "month",
        f"""
        SELECT c.month_start, i.branch_id, SUM(i.net_amount)
        FROM core.dim_date AS c
        JOIN {REVENUE} AS i
          ON i.issued_on BETWEEN CAST(c.month_start - INTERVAL '2 months' AS DATE)
                             AND c.calendar_date
        WHERE c.calendar_date = c.month_end
          AND c.calendar_date BETWEEN '2025-01-01' AND '2025-06-30'
        GROUP BY c.month_start, i.branch_id
        """,
        by=("branch",),
    ),
    Case(
        "revenue_running_total",
        "revenue_running",
        D("2025-01-01"),
        D("2025-06-30"),
        "month",
        f"""
        SELECT c.month_start, SUM(i.net_amount)
        FROM core.dim_date AS c JOIN {REVENUE} AS i ON i.issued_on <= c.calendar_date
        WHERE c.calendar_date = c.month_end
          AND c.calendar_date BETWEEN '2025-01-01' AND '2025-06-30'
        GROUP BY c.month_start
        """,
    ),
    # distinct clients of the year so far: not a sum of the months' counts
    Case(
        "clients_year_to_date_count_distinct",
        "clients_ytd",
        D("2025-01-01"),
        D("2025-06-30"),
        "month",
        f"""
        SELECT c.month_start, i.branch_id, COUNT(DISTINCT i.one_client)
        FROM core.dim_date AS c
        JOIN {REVENUE_CLIENTS} AS i ON i.issued_on BETWEEN c.year_start AND c.calendar_date
        WHERE c.calendar_date = c.month_end
          AND c.calendar_date BETWEEN '2025-01-01' AND '2025-06-30'
        GROUP BY c.month_start, i.branch_id
        """,
        by=("branch",),
    ),
    # distinct clients of the 30 days ending on each Sunday: a client invoiced twice in the
    # window counts once, one invoiced just before it not at all
    Case(
        "clients_rolling_30_days_count_distinct_by_week",
        "clients_rolling_30d",
        D("2025-01-06"),
        D("2025-03-30"),
        "week",
        f"""
        SELECT c.week_start, i.branch_id, COUNT(DISTINCT i.one_client)
        FROM core.dim_date AS c
        JOIN {REVENUE_CLIENTS} AS i ON i.issued_on BETWEEN c.calendar_date - 29 AND c.calendar_date
        WHERE c.day_of_week = 7 AND c.calendar_date BETWEEN '2025-01-06' AND '2025-03-30'
        GROUP BY c.week_start, i.branch_id
        """,
        by=("branch",),
    ),
    # distinct clients from the first invoice on, per sales manager
    Case(
        "clients_running_count_distinct_by_employee",
        "clients_ever",
        D("2025-01-01"),
        D("2025-06-30"),
        "month",
        f"""
        SELECT c.month_start, i.owner_id, COUNT(DISTINCT i.one_client)
        FROM core.dim_date AS c
        JOIN {REVENUE_CLIENTS} AS i ON i.issued_on <= c.calendar_date
        WHERE c.calendar_date = c.month_end
          AND c.calendar_date BETWEEN '2025-01-01' AND '2025-06-30'
        GROUP BY c.month_start, i.owner_id
        """,
        by=("employee",),
    ),
    # weeks whose Sunday is in February count from February 1 only
    Case(
        "revenue_month_to_date_by_week",
        "revenue_mtd",
        D("2025-01-20"),
        D("2025-03-16"),
        "week",
        f"""
        SELECT c.week_start, SUM(i.net_amount)
        FROM core.dim_date AS c
        JOIN {REVENUE} AS i ON i.issued_on BETWEEN c.month_start AND c.calendar_date
        WHERE c.day_of_week = 7 AND c.calendar_date BETWEEN '2025-01-20' AND '2025-03-16'
        GROUP BY c.week_start
        """,
    ),
    # a child fact (dated by its invoice) sliced through a product
    Case(
        "line_revenue_quarter_to_date_by_category",
        "line_revenue_qtd",
        D("2025-01-01"),
        D("2025-06-30"),
        "month",
        f"""
        SELECT c.month_start, p.category, SUM(l.line_amount)
        FROM core.dim_date AS c
        JOIN {LINES} AS l ON l.issued_on BETWEEN c.quarter_start AND c.calendar_date
        LEFT JOIN core.dim_product AS p ON p.product_id = l.product_id
        WHERE c.calendar_date = c.month_end
          AND c.calendar_date BETWEEN '2025-01-01' AND '2025-06-30'
        GROUP BY c.month_start, p.category
        """,
        by=("product_category",),
    ),
    # a request filter through a dimension, applied to the rows the window adds up
    Case(
        "revenue_year_to_date_filtered_by_segment",
        "revenue_ytd",
        D("2025-01-01"),
        D("2025-06-30"),
        "quarter",
        f"""
        SELECT c.quarter_start, SUM(i.net_amount)
        FROM core.dim_date AS c
        JOIN {REVENUE} AS i ON i.issued_on BETWEEN c.year_start AND c.calendar_date
        JOIN core.dim_client AS k ON k.client_id = i.client_id
        WHERE k.segment IN ('key', 'regular')
          AND c.calendar_date = c.month_end AND c.month IN (3, 6, 9, 12)
          AND c.calendar_date BETWEEN '2025-01-01' AND '2025-06-30'
        GROUP BY c.quarter_start
        """,
        filters=("client_segment IN ('key', 'regular')",),
    ),
    # local days of a timestamp fact in a rolling window
    Case(
        "calls_rolling_7_local_days",
        "calls_rolling_7d",
        D("2025-01-28"),
        D("2025-03-12"),
        "day",
        f"""
        SELECT c.calendar_date, a.branch_id, COUNT(*)
        FROM core.dim_date AS c
        JOIN {ACTIVITY} AS a ON a.day BETWEEN c.calendar_date - 6 AND c.calendar_date
        WHERE a.kind = 'call' AND c.calendar_date BETWEEN '2025-01-28' AND '2025-03-12'
        GROUP BY c.calendar_date, a.branch_id
        """,
        by=("branch",),
    ),
]

# -- conversion ------------------------------------------------------------------------------------

LEAD_WON = f"""
    SELECT x.*, CASE WHEN EXISTS (
        SELECT 1 FROM core.fct_deal AS w
        WHERE w.client_id = x.client_id AND w.status = 'won'
          AND w.closed_at >= x.created_at AND w.closed_at <= x.created_at + INTERVAL '30 days'
    ) THEN 1 ELSE 0 END AS converted
    FROM {LEAD} AS x
"""
"""Each lead, converted when its client wins a deal in the 30 days from it (UTC times)."""
REPEATED = f"""
    SELECT s.*, CASE WHEN EXISTS (
        SELECT 1 FROM core.fct_service_request AS r
        WHERE r.client_id = s.client_id AND r.service_request_id <> s.service_request_id
          AND r.received_at >= s.received_at
          AND r.received_at <= s.received_at + INTERVAL '14 days'
    ) THEN 1 ELSE 0 END AS converted
    FROM {SERVICE} AS s
"""
"""Each service request, converted when another of its client follows within 14 days."""

CONVERSIONS = [
    # denver: l1 won after 15 days, l2 after 50 (no), l3 lost, l4 without a client (March,
    # local); austin: l2 won exactly 30 days later (yes; the deal won before it does not count)
    Case(
        "lead_to_win_30_days",
        "lead_to_win_30d",
        D("2024-01-01"),
        D("2025-06-30"),
        "month",
        f"""
        SELECT d.month_start, x.branch_id, 1.0 * SUM(x.converted) / COUNT(*)
        FROM ({LEAD_WON}) AS x JOIN core.dim_date AS d ON d.calendar_date = x.day
        WHERE x.day BETWEEN '2024-01-01' AND '2025-06-30'
        GROUP BY d.month_start, x.branch_id
        """,
        by=("branch",),
    ),
    Case(
        "lead_to_win_30_days_by_channel",
        "lead_to_win_30d",
        D("2025-01-01"),
        D("2025-06-30"),
        "quarter",
        f"""
        SELECT d.quarter_start, x.channel, 1.0 * SUM(x.converted) / COUNT(*)
        FROM ({LEAD_WON}) AS x JOIN core.dim_date AS d ON d.calendar_date = x.day
        WHERE x.day BETWEEN '2025-01-01' AND '2025-06-30'
        GROUP BY d.quarter_start, x.channel
        """,
        by=("channel",),
    ),
    # a filter on a dimension on each side (the base's client segment, the deal's), sliced by
    # the base's segment: Bo's lead (small) counts in the base but can never convert
    Case(
        "lead_to_win_with_dimension_filters",
        "key_lead_to_win_30d",
        D("2024-01-01"),
        D("2025-06-30"),
        "quarter",
        f"""
        SELECT d.quarter_start, c.segment, 1.0 * SUM(
            CASE WHEN EXISTS (
                SELECT 1 FROM core.fct_deal AS w JOIN core.dim_client AS wc
                  ON wc.client_id = w.client_id
                WHERE w.client_id = x.client_id AND w.status = 'won' AND wc.segment = 'key'
                  AND w.closed_at >= x.created_at
                  AND w.closed_at <= x.created_at + INTERVAL '30 days'
            ) THEN 1 ELSE 0 END) / COUNT(*)
        FROM {LEAD} AS x JOIN core.dim_date AS d ON d.calendar_date = x.day
        JOIN core.dim_client AS c ON c.client_id = x.client_id
        WHERE c.segment IN ('key', 'small') AND x.day BETWEEN '2024-01-01' AND '2025-06-30'
        GROUP BY d.quarter_start, c.segment
        """,
        by=("client_segment",),
    ),
    # a request never repeats itself; s2 of austin follows s1 by exactly 14 days; s4 and s5 of
    # austin arrive at the same instant and repeat each other
    Case(
        "repeat_service_14_days",
        "repeat_service_14d",
        D("2025-01-01"),
        D("2025-03-31"),
        "month",
        f"""
        SELECT d.month_start, s.branch_id, 1.0 * SUM(s.converted) / COUNT(*)
        FROM ({REPEATED}) AS s JOIN core.dim_date AS d ON d.calendar_date = s.day
        WHERE s.day BETWEEN '2025-01-01' AND '2025-03-31'
        GROUP BY d.month_start, s.branch_id
        """,
        by=("branch",),
    ),
    Case(
        "repeat_service_14_days_by_engineer",
        "repeat_service_14d",
        D("2025-01-01"),
        D("2025-06-30"),
        "quarter",
        f"""
        SELECT d.quarter_start, s.engineer_id, 1.0 * SUM(s.converted) / COUNT(*)
        FROM ({REPEATED}) AS s JOIN core.dim_date AS d ON d.calendar_date = s.day
        WHERE s.day BETWEEN '2025-01-01' AND '2025-06-30'
        GROUP BY d.quarter_start, s.engineer_id
        """,
        by=("employee",),
    ),
]

# -- period over period ----------------------------------------------------------------------------


def monthly_revenue(first: str, last: str) -> str:
    """Revenue by month and branch over whole months ``first``…``last`` (hand-written)."""
    return f"""
        SELECT d.month_start AS period, i.branch_id AS branch, SUM(i.net_amount) AS v
        FROM {REVENUE} AS i JOIN core.dim_date AS d ON d.calendar_date = i.issued_on
        WHERE i.issued_on BETWEEN '{first}' AND '{last}'
        GROUP BY 1, 2
    """


PERIOD_OVER_PERIOD = [
    # a period is listed when it has a value now; no earlier value counts as 0 (an additive KPI)
    Case(
        "revenue_against_previous_month",
        "revenue_vs_prev",
        D("2025-01-01"),
        D("2025-06-30"),
        "month",
        f"""
        WITH r AS ({monthly_revenue("2024-12-01", "2025-06-30")})
        SELECT n.period, n.branch, (n.v - COALESCE(p.v, 0)) / NULLIF(COALESCE(p.v, 0), 0)
        FROM r AS n LEFT JOIN r AS p
          ON p.branch = n.branch AND CAST(p.period + INTERVAL '1 month' AS DATE) = n.period
        WHERE n.period >= '2025-01-01'
        """,
        by=("branch",),
    ),
    Case(
        "revenue_against_last_year",
        "revenue_vs_ly",
        D("2025-01-01"),
        D("2025-06-30"),
        "month",
        f"""
        WITH r AS ({monthly_revenue("2024-01-01", "2025-06-30")})
        SELECT n.period, n.branch, (n.v - COALESCE(p.v, 0)) / NULLIF(COALESCE(p.v, 0), 0)
        FROM r AS n LEFT JOIN r AS p
          ON p.branch = n.branch AND CAST(p.period + INTERVAL '1 year' AS DATE) = n.period
        WHERE n.period >= '2025-01-01'
        """,
        by=("branch",),
    ),
    Case(
        "revenue_change_against_last_year_by_quarter",
        "revenue_change_ly",
        D("2025-01-01"),
        D("2025-06-30"),
        "quarter",
        f"""
        WITH r AS (
            SELECT d.quarter_start AS period, i.branch_id AS branch, SUM(i.net_amount) AS v
            FROM {REVENUE} AS i JOIN core.dim_date AS d ON d.calendar_date = i.issued_on
            WHERE i.issued_on BETWEEN '2024-01-01' AND '2025-06-30'
            GROUP BY 1, 2
        )
        SELECT n.period, n.branch, n.v - COALESCE(p.v, 0)
        FROM r AS n LEFT JOIN r AS p
          ON p.branch = n.branch AND CAST(p.period + INTERVAL '1 year' AS DATE) = n.period
        WHERE n.period >= '2025-01-01'
        """,
        by=("branch",),
    ),
    Case(
        "revenue_last_year_as_output",
        "revenue_last_year",
        D("2025-01-01"),
        D("2025-06-30"),
        "month",
        f"""
        WITH r AS (
            SELECT d.month_start AS period, SUM(i.net_amount) AS v
            FROM {REVENUE} AS i JOIN core.dim_date AS d ON d.calendar_date = i.issued_on
            WHERE i.issued_on BETWEEN '2024-01-01' AND '2025-06-30'
            GROUP BY 1
        )
        SELECT n.period, COALESCE(p.v, 0)
        FROM r AS n LEFT JOIN r AS p ON CAST(p.period + INTERVAL '1 year' AS DATE) = n.period
        WHERE n.period >= '2025-01-01'
        """,
    ),
    # the range ends on March 12: March 1–12 against February 1–12 (denver: 1500 against the
    # credit note of -200), February against all of January
    Case(
        "revenue_against_previous_month_like_for_like",
        "revenue_vs_prev_lfl",
        D("2025-01-01"),
        D("2025-03-12"),
        "month",
        f"""
        WITH n AS ({monthly_revenue("2025-01-01", "2025-03-12")}),
        p AS ({monthly_revenue("2024-12-01", "2025-02-12")})
        SELECT n.period, n.branch, (n.v - COALESCE(p.v, 0)) / NULLIF(COALESCE(p.v, 0), 0)
        FROM n LEFT JOIN p
          ON p.branch = n.branch AND CAST(p.period + INTERVAL '1 month' AS DATE) = n.period
        """,
        by=("branch",),
    ),
    # a range ending on a month's last day compares whole months, like for like too: all of
    # February against all of January, austin's invoice of January 31 included (not January
    # 1–28, which moving February 28 back a month would give)
    Case(
        "revenue_against_previous_month_like_for_like_whole_months",
        "revenue_vs_prev_lfl",
        D("2025-02-01"),
        D("2025-02-28"),
        "month",
        f"""
        WITH n AS (
            SELECT SUM(i.net_amount) AS v FROM {REVENUE} AS i
            WHERE i.issued_on BETWEEN '2025-02-01' AND '2025-02-28'
        ),
        p AS (
            SELECT SUM(i.net_amount) AS v FROM {REVENUE} AS i
            WHERE i.issued_on BETWEEN '2025-01-01' AND '2025-01-31'
        )
        SELECT CAST('2025-02-01' AS DATE), (n.v - p.v) / p.v FROM n, p
        """,
    ),
    # the same range without like for like: March 1–12 against all of February
    Case(
        "revenue_against_previous_month_running_period",
        "revenue_vs_prev",
        D("2025-01-01"),
        D("2025-03-12"),
        "month",
        f"""
        WITH n AS ({monthly_revenue("2025-01-01", "2025-03-12")}),
        p AS ({monthly_revenue("2024-12-01", "2025-02-28")})
        SELECT n.period, n.branch, (n.v - COALESCE(p.v, 0)) / NULLIF(COALESCE(p.v, 0), 0)
        FROM n LEFT JOIN p
          ON p.branch = n.branch AND CAST(p.period + INTERVAL '1 month' AS DATE) = n.period
        """,
        by=("branch",),
    ),
    # March 1–10 against March 1–10, 2024: denver's invoice of 2024-03-20 is left out
    Case(
        "revenue_against_last_year_like_for_like",
        "revenue_vs_ly_lfl",
        D("2025-01-01"),
        D("2025-03-10"),
        "month",
        f"""
        WITH n AS ({monthly_revenue("2025-01-01", "2025-03-10")}),
        p AS ({monthly_revenue("2024-01-01", "2024-03-10")})
        SELECT n.period, n.branch, (n.v - COALESCE(p.v, 0)) / NULLIF(COALESCE(p.v, 0), 0)
        FROM n LEFT JOIN p
          ON p.branch = n.branch AND CAST(p.period + INTERVAL '1 year' AS DATE) = n.period
        """,
        by=("branch",),
    ),
    Case(
        "revenue_against_previous_week",
        "revenue_vs_prev",
        D("2025-01-06"),
        D("2025-02-16"),
        "week",
        f"""
        WITH r AS (
            SELECT d.week_start AS period, i.branch_id AS branch, SUM(i.net_amount) AS v
            FROM {REVENUE} AS i JOIN core.dim_date AS d ON d.calendar_date = i.issued_on
            WHERE i.issued_on BETWEEN '2024-12-30' AND '2025-02-16'
            GROUP BY 1, 2
        )
        SELECT n.period, n.branch, (n.v - COALESCE(p.v, 0)) / NULLIF(COALESCE(p.v, 0), 0)
        FROM r AS n LEFT JOIN r AS p ON p.branch = n.branch AND p.period + 7 = n.period
        WHERE n.period >= '2025-01-06'
        """,
        by=("branch",),
    ),
    # a year at week grain is 52 weeks (364 days): a Monday stays a Monday
    Case(
        "revenue_against_last_year_by_week",
        "revenue_change_ly",
        D("2025-01-06"),
        D("2025-03-30"),
        "week",
        f"""
        WITH r AS (
            SELECT d.week_start AS period, SUM(i.net_amount) AS v
            FROM {REVENUE} AS i JOIN core.dim_date AS d ON d.calendar_date = i.issued_on
            WHERE i.issued_on BETWEEN '2024-01-08' AND '2025-03-30'
            GROUP BY 1
        )
        SELECT n.period, n.v - COALESCE(p.v, 0)
        FROM r AS n LEFT JOIN r AS p ON p.period + 364 = n.period
        WHERE n.period >= '2025-01-06'
        """,
    ),
    Case(
        "revenue_against_same_day_last_year",
        "revenue_vs_ly",
        D("2025-01-01"),
        D("2025-01-31"),
        "day",
        f"""
        WITH r AS (
            SELECT i.issued_on AS period, i.branch_id AS branch, SUM(i.net_amount) AS v
            FROM {REVENUE} AS i WHERE i.issued_on BETWEEN '2024-01-01' AND '2025-01-31'
            GROUP BY 1, 2
        )
        SELECT n.period, n.branch, (n.v - COALESCE(p.v, 0)) / NULLIF(COALESCE(p.v, 0), 0)
        FROM r AS n LEFT JOIN r AS p
          ON p.branch = n.branch AND p.period = CAST(n.period - INTERVAL '1 year' AS DATE)
        WHERE n.period >= '2025-01-01'
        """,
        by=("branch",),
    ),
    # 2025-02-28 a year earlier is 2024-02-28; 2024-02-29 has no day in 2025
    Case(
        "revenue_against_same_day_last_year_after_feb_29",
        "revenue_vs_ly",
        D("2025-02-25"),
        D("2025-03-03"),
        "day",
        f"""
        WITH r AS (
            SELECT i.issued_on AS period, SUM(i.net_amount) AS v
            FROM {REVENUE} AS i WHERE i.issued_on BETWEEN '2024-02-25' AND '2025-03-03'
            GROUP BY 1
        )
        SELECT n.period, (n.v - COALESCE(p.v, 0)) / NULLIF(COALESCE(p.v, 0), 0)
        FROM r AS n LEFT JOIN r AS p ON p.period = CAST(n.period - INTERVAL '1 year' AS DATE)
        WHERE n.period >= '2025-02-25'
        """,
    ),
    # a cumulative KPI compared: year to date against last year's year to date
    Case(
        "revenue_year_to_date_against_last_year",
        "revenue_ytd_vs_ly",
        D("2025-01-01"),
        D("2025-06-30"),
        "month",
        f"""
        WITH ytd AS (
            SELECT c.month_start AS period, i.branch_id AS branch, SUM(i.net_amount) AS v
            FROM core.dim_date AS c
            JOIN {REVENUE} AS i ON i.issued_on BETWEEN c.year_start AND c.calendar_date
            WHERE c.calendar_date = c.month_end
              AND c.calendar_date BETWEEN '2024-01-01' AND '2025-06-30'
            GROUP BY 1, 2
        )
        SELECT n.period, n.branch, (n.v - p.v) / NULLIF(p.v, 0)
        FROM ytd AS n LEFT JOIN ytd AS p
          ON p.branch = n.branch AND CAST(p.period + INTERVAL '1 year' AS DATE) = n.period
        WHERE n.period >= '2025-01-01'
        """,
        by=("branch",),
    ),
    # a non-additive KPI: a missing earlier value stays missing
    Case(
        "avg_invoice_against_last_year",
        "avg_invoice_vs_ly",
        D("2025-01-01"),
        D("2025-06-30"),
        "quarter",
        """
        WITH r AS (
            SELECT d.quarter_start AS period, i.branch_id AS branch, AVG(i.net_amount) AS v
            FROM core.fct_invoice AS i JOIN core.dim_date AS d ON d.calendar_date = i.issued_on
            WHERE i.status <> 'cancelled' AND i.kind = 'invoice'
              AND i.issued_on BETWEEN '2024-01-01' AND '2025-06-30'
            GROUP BY 1, 2
        )
        SELECT n.period, n.branch, (n.v - p.v) / NULLIF(p.v, 0)
        FROM r AS n LEFT JOIN r AS p
          ON p.branch = n.branch AND CAST(p.period + INTERVAL '1 year' AS DATE) = n.period
        WHERE n.period >= '2025-01-01'
        """,
        by=("branch",),
    ),
]

# -- row-level scope -------------------------------------------------------------------------------
# The check queries keep only the rows in scope before aggregating: a row outside it never counts.

SCOPES = [
    Case(
        "scope_branch_revenue_by_employee",
        "revenue",
        D("2025-01-01"),
        D("2025-06-30"),
        "month",
        f"""
        SELECT d.month_start, i.owner_id, SUM(i.net_amount)
        FROM {REVENUE} AS i JOIN core.dim_date AS d ON d.calendar_date = i.issued_on
        WHERE i.branch_id = 'denver' AND i.issued_on BETWEEN '2025-01-01' AND '2025-06-30'
        GROUP BY d.month_start, i.owner_id
        """,
        by=("employee",),
        scope={"branch": (DENVER,)},
    ),
    Case(
        "scope_employees_revenue_by_branch",
        "revenue",
        D("2025-01-01"),
        D("2025-06-30"),
        "month",
        f"""
        SELECT d.month_start, i.branch_id, SUM(i.net_amount)
        FROM {REVENUE} AS i JOIN core.dim_date AS d ON d.calendar_date = i.issued_on
        WHERE i.owner_id IN ('{ELI}', '{IVY}')
          AND i.issued_on BETWEEN '2025-01-01' AND '2025-06-30'
        GROUP BY d.month_start, i.branch_id
        """,
        by=("branch",),
        scope={"employee": (ELI, IVY)},
    ),
    Case(
        "scope_nobody_sees_nothing",
        "revenue",
        D("2025-01-01"),
        D("2025-06-30"),
        "month",
        "SELECT CAST(NULL AS DATE), CAST(NULL AS DOUBLE PRECISION) WHERE 1 = 0",
        scope={"branch": ()},
    ),
    Case(
        "scope_employee_year_to_date",
        "revenue_ytd",
        D("2025-01-01"),
        D("2025-06-30"),
        "month",
        f"""
        SELECT c.month_start, SUM(i.net_amount)
        FROM core.dim_date AS c
        JOIN {REVENUE} AS i ON i.issued_on BETWEEN c.year_start AND c.calendar_date
        WHERE i.owner_id = '{DANA}'
          AND c.calendar_date = c.month_end
          AND c.calendar_date BETWEEN '2025-01-01' AND '2025-06-30'
        GROUP BY c.month_start
        """,
        scope={"employee": (DANA,)},
    ),
    Case(
        "scope_branch_growth_yoy",
        "revenue_growth_yoy",
        D("2025-01-01"),
        D("2025-06-30"),
        "quarter",
        f"""
        WITH r AS (
            SELECT d.quarter_start AS period, SUM(i.net_amount) AS v
            FROM {REVENUE} AS i JOIN core.dim_date AS d ON d.calendar_date = i.issued_on
            WHERE i.branch_id = 'austin' AND i.issued_on BETWEEN '2024-01-01' AND '2025-06-30'
            GROUP BY 1
        )
        SELECT now.period, (now.v - COALESCE(ly.v, 0)) / NULLIF(COALESCE(ly.v, 0), 0)
        FROM r AS now
        LEFT JOIN r AS ly ON CAST(ly.period + INTERVAL '1 year' AS DATE) = now.period
        WHERE now.period >= '2025-01-01'
        """,
        scope={"branch": (AUSTIN,)},
    ),
    # calls are credited to activity.employee_id, revenue to invoice.owner_id: Finn's call
    # is out of scope, Dana's and Gus's count
    Case(
        "scope_employees_revenue_per_call",
        "revenue_per_call",
        D("2025-01-01"),
        D("2025-04-30"),
        "month",
        f"""
        WITH n AS (
            SELECT d.month_start AS period, SUM(i.net_amount) AS v
            FROM {REVENUE} AS i JOIN core.dim_date AS d ON d.calendar_date = i.issued_on
            WHERE i.kind = 'invoice' AND i.owner_id IN ('{DANA}', '{GUS}')
              AND i.issued_on BETWEEN '2025-01-01' AND '2025-04-30'
            GROUP BY 1
        ), c AS (
            SELECT d.month_start AS period, COUNT(*) AS v
            FROM {ACTIVITY} AS a JOIN core.dim_date AS d ON d.calendar_date = a.day
            WHERE a.kind = 'call' AND a.employee_id IN ('{DANA}', '{GUS}')
              AND a.day BETWEEN '2025-01-01' AND '2025-04-30'
            GROUP BY 1
        ), k AS (SELECT period FROM n UNION SELECT period FROM c)
        SELECT k.period, COALESCE(n.v, 0) / NULLIF(COALESCE(c.v, 0), 0)
        FROM k LEFT JOIN n ON n.period = k.period LEFT JOIN c ON c.period = k.period
        """,
        scope={"employee": (DANA, GUS)},
    ),
    Case(
        "scope_branch_revenue_against_last_year",
        "revenue_vs_ly",
        D("2025-01-01"),
        D("2025-06-30"),
        "month",
        f"""
        WITH r AS ({monthly_revenue("2024-01-01", "2025-06-30")})
        SELECT n.period, (n.v - COALESCE(p.v, 0)) / NULLIF(COALESCE(p.v, 0), 0)
        FROM r AS n LEFT JOIN r AS p
          ON p.branch = n.branch AND CAST(p.period + INTERVAL '1 year' AS DATE) = n.period
        WHERE n.period >= '2025-01-01' AND n.branch = 'denver'
        """,
        scope={"branch": (DENVER,)},
    ),
    Case(
        "scope_employee_lines_by_category",
        "line_revenue",
        D("2025-01-01"),
        D("2025-03-31"),
        "quarter",
        f"""
        SELECT d.quarter_start, p.category, SUM(l.line_amount)
        FROM {LINES} AS l JOIN core.dim_date AS d ON d.calendar_date = l.issued_on
        LEFT JOIN core.dim_product AS p ON p.product_id = l.product_id
        WHERE l.owner_id = '{DANA}' AND l.issued_on BETWEEN '2025-01-01' AND '2025-03-31'
        GROUP BY d.quarter_start, p.category
        """,
        by=("product_category",),
        scope={"employee": (DANA,)},
    ),
    # the base leads are those in scope; whose deal converts them is not a matter of scope
    Case(
        "scope_employee_lead_to_win",
        "lead_to_win_30d",
        D("2025-01-01"),
        D("2025-06-30"),
        "month",
        f"""
        SELECT d.month_start, 1.0 * SUM(x.converted) / COUNT(*)
        FROM ({LEAD_WON}) AS x JOIN core.dim_date AS d ON d.calendar_date = x.day
        WHERE x.owner_id = '{DANA}' AND x.day BETWEEN '2025-01-01' AND '2025-06-30'
        GROUP BY d.month_start
        """,
        scope={"employee": (DANA,)},
    ),
    # Eli's lead l3 converts through Dana's deal d6: the deal is outside the scope, yet it
    # converts the lead (the scope limits the rows counted, here leads, not those looked up)
    Case(
        "scope_employee_conversion_through_a_deal_outside_it",
        "lead_to_win_30d",
        D("2025-01-01"),
        D("2025-03-31"),
        "month",
        f"""
        SELECT d.month_start, 1.0 * SUM(x.converted) / COUNT(*)
        FROM ({LEAD_WON}) AS x JOIN core.dim_date AS d ON d.calendar_date = x.day
        WHERE x.owner_id = '{ELI}' AND x.day BETWEEN '2025-01-01' AND '2025-03-31'
        GROUP BY d.month_start
        """,
        scope={"employee": (ELI,)},
    ),
    # two scoped dimensions intersect (Gus is not in denver; Eli is not in the list), and a
    # request filter applies within them
    Case(
        "scope_branch_and_employees_with_request_filter",
        "activity_count",
        D("2025-01-01"),
        D("2025-06-30"),
        "quarter",
        f"""
        SELECT d.quarter_start, e.role, COUNT(*)
        FROM {ACTIVITY} AS a JOIN core.dim_date AS d ON d.calendar_date = a.day
        JOIN core.dim_employee AS e ON e.employee_id = a.employee_id
        WHERE a.branch_id = 'denver' AND a.employee_id IN ('{DANA}', '{FINN}', '{GUS}')
          AND e.role IN ('sales_manager', 'service_engineer')
          AND a.day BETWEEN '2025-01-01' AND '2025-06-30'
        GROUP BY d.quarter_start, e.role
        """,
        by=("role",),
        filters=("role IN ('sales_manager', 'service_engineer')",),
        scope={"branch": (DENVER,), "employee": (DANA, FINN, GUS)},
    ),
]

# -- columns of related tables --------------------------------------------------------------------

PAYMENT_DUE = (
    "(SELECT p.*, i.due_on, i.owner_id FROM core.fct_payment AS p"
    " LEFT JOIN core.fct_invoice AS i ON i.invoice_id = p.invoice_id)"
)
"""Payments with their invoice's due date and sales manager (an advance has neither)."""
LEAD_ANSWERED = f"""
    (SELECT x.*, w.answered_at FROM {LEAD} AS x LEFT JOIN (
        SELECT lead_id, MIN(occurred_at) AS answered_at FROM core.fct_activity
        WHERE lead_id IS NOT NULL GROUP BY lead_id
    ) AS w ON w.lead_id = x.lead_id)
"""
"""Leads with the time of their first activity (none for a lead never answered)."""
LAST_PAID = """
    (SELECT invoice_id, MAX(paid_on) AS last_paid FROM core.fct_payment
     WHERE invoice_id IS NOT NULL GROUP BY invoice_id)
"""
"""Each invoice's last payment day."""

REFERENCES = [
    # the advance (no invoice) has no due date and is left out of the average
    Case(
        "payment_days_late_by_month",
        "payment_days_late",
        D("2024-01-01"),
        D("2025-06-30"),
        "month",
        f"""
        SELECT d.month_start, p.branch_id, AVG(p.paid_on - p.due_on)
        FROM {PAYMENT_DUE} AS p JOIN core.dim_date AS d ON d.calendar_date = p.paid_on
        WHERE p.paid_on BETWEEN '2024-01-01' AND '2025-06-30'
        GROUP BY d.month_start, p.branch_id
        """,
        by=("branch",),
    ),
    # a payment's employee is its invoice's sales manager: the scope reads the invoice too
    Case(
        "payment_days_late_by_week_scoped",
        "payment_days_late",
        D("2024-01-01"),
        D("2025-03-31"),
        "week",
        f"""
        SELECT d.week_start, c.segment, AVG(p.paid_on - p.due_on)
        FROM {PAYMENT_DUE} AS p JOIN core.dim_date AS d ON d.calendar_date = p.paid_on
        JOIN core.dim_client AS c ON c.client_id = p.client_id
        WHERE p.owner_id = '{DANA}' AND p.paid_on BETWEEN '2024-01-01' AND '2025-03-31'
        GROUP BY d.week_start, c.segment
        """,
        by=("client_segment",),
        scope={"employee": (DANA,)},
    ),
    Case(
        "median_payment_days_late_by_quarter",
        "median_payment_days_late",
        D("2024-01-01"),
        D("2025-06-30"),
        "quarter",
        f"""
        SELECT d.quarter_start, p.branch_id,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY p.paid_on - p.due_on)
        FROM {PAYMENT_DUE} AS p JOIN core.dim_date AS d ON d.calendar_date = p.paid_on
        WHERE p.paid_on BETWEEN '2024-01-01' AND '2025-06-30'
        GROUP BY d.quarter_start, p.branch_id
        """,
        by=("branch",),
    ),
    Case(
        "late_paid_amount_by_employee",
        "late_paid_amount",
        D("2024-01-01"),
        D("2025-06-30"),
        "quarter",
        f"""
        SELECT d.quarter_start, p.owner_id, SUM(p.amount)
        FROM {PAYMENT_DUE} AS p JOIN core.dim_date AS d ON d.calendar_date = p.paid_on
        WHERE p.paid_on > p.due_on AND p.paid_on BETWEEN '2024-01-01' AND '2025-06-30'
        GROUP BY d.quarter_start, p.owner_id
        """,
        by=("employee",),
    ),
    # client.segment is the segment of the client record the payment names, as client_segment
    Case(
        "key_client_payments_by_year_filtered",
        "key_client_payments",
        D("2024-01-01"),
        D("2025-12-31"),
        "year",
        """
        SELECT d.year_start, p.branch_id, SUM(p.amount)
        FROM core.fct_payment AS p JOIN core.dim_date AS d ON d.calendar_date = p.paid_on
        JOIN core.dim_client AS c ON c.client_id = p.client_id
        WHERE c.segment = 'key' AND p.branch_id = 'austin'
          AND p.paid_on BETWEEN '2024-01-01' AND '2025-12-31'
        GROUP BY d.year_start, p.branch_id
        """,
        by=("branch",),
        filters=("branch = 'austin'",),
    ),
    Case(
        "key_client_payments_by_day",
        "key_client_payments",
        D("2025-01-01"),
        D("2025-03-31"),
        "day",
        """
        SELECT p.paid_on, SUM(p.amount)
        FROM core.fct_payment AS p JOIN core.dim_client AS c ON c.client_id = p.client_id
        WHERE c.segment = 'key' AND p.paid_on BETWEEN '2025-01-01' AND '2025-03-31'
        GROUP BY p.paid_on
        """,
    ),
    # a lead's first activity, whenever it came (a month later for denver's l1); leads never
    # answered are left out of the average, and a month with none answered has no value
    Case(
        "lead_response_hours_by_month",
        "lead_response_hours",
        D("2024-01-01"),
        D("2025-06-30"),
        "month",
        f"""
        SELECT d.month_start, x.branch_id,
               AVG(EXTRACT(EPOCH FROM (x.answered_at - x.created_at)) / 3600.0)
        FROM {LEAD_ANSWERED} AS x JOIN core.dim_date AS d ON d.calendar_date = x.day
        WHERE x.day BETWEEN '2024-01-01' AND '2025-06-30'
        GROUP BY d.month_start, x.branch_id
        """,
        by=("branch",),
    ),
    # the first activity is the lead's, whoever it is credited to: the scope narrows the leads,
    # never their activities
    Case(
        "lead_response_hours_by_week_scoped",
        "lead_response_hours",
        D("2025-01-01"),
        D("2025-04-30"),
        "week",
        f"""
        SELECT d.week_start, x.owner_id,
               AVG(EXTRACT(EPOCH FROM (x.answered_at - x.created_at)) / 3600.0)
        FROM {LEAD_ANSWERED} AS x JOIN core.dim_date AS d ON d.calendar_date = x.day
        WHERE x.owner_id IN ('{DANA}', '{ELI}', '{IVY}')
          AND x.day BETWEEN '2025-01-01' AND '2025-04-30'
        GROUP BY d.week_start, x.owner_id
        """,
        by=("employee",),
        scope={"employee": (DANA, ELI, IVY)},
    ),
    # austin's 2505 is paid in two parts, the last after the range: the last one counts
    Case(
        "invoice_settle_days_by_month",
        "invoice_settle_days",
        D("2024-01-01"),
        D("2025-06-30"),
        "month",
        f"""
        SELECT d.month_start, i.branch_id, AVG(l.last_paid - i.issued_on)
        FROM core.fct_invoice AS i JOIN core.dim_date AS d ON d.calendar_date = i.issued_on
        LEFT JOIN {LAST_PAID} AS l ON l.invoice_id = i.invoice_id
        WHERE i.kind = 'invoice' AND i.issued_on BETWEEN '2024-01-01' AND '2025-06-30'
        GROUP BY d.month_start, i.branch_id
        """,
        by=("branch",),
    ),
    # each invoice once, though 2505 has two payments
    Case(
        "paid_invoice_revenue_by_quarter",
        "paid_invoice_revenue",
        D("2024-01-01"),
        D("2025-06-30"),
        "quarter",
        f"""
        SELECT d.quarter_start, i.branch_id, SUM(i.net_amount)
        FROM {REVENUE} AS i JOIN core.dim_date AS d ON d.calendar_date = i.issued_on
        WHERE EXISTS (SELECT 1 FROM core.fct_payment AS p WHERE p.invoice_id = i.invoice_id)
          AND i.issued_on BETWEEN '2024-01-01' AND '2025-06-30'
        GROUP BY d.quarter_start, i.branch_id
        """,
        by=("branch",),
    ),
    Case(
        "paid_invoice_revenue_by_week_scoped",
        "paid_invoice_revenue",
        D("2025-03-03"),
        D("2025-04-27"),
        "week",
        f"""
        SELECT d.week_start, SUM(i.net_amount)
        FROM {REVENUE} AS i JOIN core.dim_date AS d ON d.calendar_date = i.issued_on
        WHERE EXISTS (SELECT 1 FROM core.fct_payment AS p WHERE p.invoice_id = i.invoice_id)
          AND i.branch_id = 'austin' AND i.issued_on BETWEEN '2025-03-03' AND '2025-04-27'
        GROUP BY d.week_start
        """,
        scope={"branch": (AUSTIN,)},
    ),
    # the conversion filter names the activity's lead's channel: only denver's l1 (Bo's
    # website lead, answered after 26 days) converts
    Case(
        "web_lead_touch_by_month",
        "web_lead_touch_30d",
        D("2025-01-01"),
        D("2025-06-30"),
        "month",
        f"""
        SELECT d.month_start, x.branch_id, 1.0 * SUM(CASE WHEN EXISTS (
            SELECT 1 FROM core.fct_activity AS a JOIN core.fct_lead AS al ON al.lead_id = a.lead_id
            WHERE a.client_id = x.client_id AND al.channel = 'website_form'
              AND a.occurred_at >= x.created_at
              AND a.occurred_at <= x.created_at + INTERVAL '30 days'
        ) THEN 1 ELSE 0 END) / COUNT(*)
        FROM {LEAD} AS x JOIN core.dim_date AS d ON d.calendar_date = x.day
        WHERE x.day BETWEEN '2025-01-01' AND '2025-06-30'
        GROUP BY d.month_start, x.branch_id
        """,
        by=("branch",),
    ),
]

# -- range grain: the whole range one period ------------------------------------------------------
# A range not aligned to months: January 10 to March 20, 2025 (70 days), whose one period is
# its first day. The previous period is the 70 days before it (2024-11-01 to 2025-01-09), the
# same period last year 2024-01-10 to 2024-03-20; to-date and rolling windows end on March 20.

AT = "CAST('2025-01-10' AS DATE)"
"""The range's one period, as the check queries write it."""
IN_RANGE = "BETWEEN '2025-01-10' AND '2025-03-20'"


def revenue_by_branch(days: str, rows: str = REVENUE, where: str = "TRUE") -> str:
    """Revenue per branch over ``days`` (a ``BETWEEN`` on the invoice date), hand-written."""
    return f"""
        SELECT i.branch_id AS branch, SUM(i.net_amount) AS v FROM {rows} AS i
        WHERE i.issued_on {days} AND {where} GROUP BY 1
    """


def against(now: str, then: str, value: str) -> str:
    """Each branch with a value ``now``, and ``value`` over ``n.v`` and ``p.v`` (the earlier
    one, none where ``then`` has no row): a period-over-period KPI by branch."""
    return f"""
        WITH n AS ({now}), p AS ({then})
        SELECT {AT}, n.branch, {value} FROM n LEFT JOIN p ON p.branch = n.branch
    """


RANGE = [
    Case(
        "range_revenue_by_branch",
        "revenue",
        D("2025-01-10"),
        D("2025-03-20"),
        "range",
        f"SELECT {AT}, r.branch, r.v FROM ({revenue_by_branch(IN_RANGE)}) AS r",
        by=("branch",),
    ),
    Case(
        "range_revenue_scope_branch_by_employee",
        "revenue",
        D("2025-01-10"),
        D("2025-03-20"),
        "range",
        f"""
        SELECT {AT}, i.owner_id, SUM(i.net_amount) FROM {REVENUE} AS i
        WHERE i.branch_id = 'denver' AND i.issued_on {IN_RANGE} GROUP BY i.owner_id
        """,
        by=("employee",),
        scope={"branch": (DENVER,)},
    ),
    Case(
        "range_median_invoice_scope_employees",
        "median_invoice",
        D("2025-01-10"),
        D("2025-03-20"),
        "range",
        f"""
        SELECT {AT}, i.branch_id, percentile_cont(0.5) WITHIN GROUP (ORDER BY i.net_amount)
        FROM {REVENUE} AS i
        WHERE i.owner_id IN ('{DANA}', '{GUS}') AND i.issued_on {IN_RANGE}
        GROUP BY i.branch_id
        """,
        by=("branch",),
        scope={"employee": (DANA, GUS)},
    ),
    Case(
        "range_invoiced_clients_by_branch",
        "invoiced_clients",
        D("2025-01-10"),
        D("2025-03-20"),
        "range",
        f"""
        SELECT {AT}, i.branch_id, COUNT(DISTINCT i.one_client) FROM {REVENUE_CLIENTS} AS i
        WHERE i.issued_on {IN_RANGE} GROUP BY i.branch_id
        """,
        by=("branch",),
    ),
    # local days of a timestamp fact, filtered through a dimension
    Case(
        "range_calls_local_days_filtered_by_employee",
        "call_count",
        D("2025-01-10"),
        D("2025-03-20"),
        "range",
        f"""
        SELECT {AT}, a.employee_id, COUNT(*) FROM {ACTIVITY} AS a
        WHERE a.kind = 'call' AND a.branch_id = 'denver' AND a.day {IN_RANGE}
        GROUP BY a.employee_id
        """,
        by=("employee",),
        filters=("branch = 'denver'",),
    ),
    Case(
        "range_calls_per_active_day_by_branch",
        "calls_per_active_day",
        D("2025-01-10"),
        D("2025-03-20"),
        "range",
        f"""
        SELECT {AT}, a.branch_id,
            COUNT(*) FILTER (WHERE a.kind = 'call') * 1.0
                / COUNT(DISTINCT CAST(a.occurred_at AS DATE))
        FROM {ACTIVITY} AS a WHERE a.day {IN_RANGE} GROUP BY a.branch_id
        """,
        by=("branch",),
    ),
    Case(
        "range_avg_check_scope_branch_by_employee",
        "avg_check",
        D("2025-01-10"),
        D("2025-03-20"),
        "range",
        f"""
        SELECT {AT}, i.owner_id,
               COALESCE(SUM(CASE WHEN i.status <> 'cancelled' THEN i.net_amount END), 0)
               / NULLIF(SUM(CASE WHEN i.status <> 'cancelled' AND i.kind = 'invoice'
                                 THEN 1 ELSE 0 END), 0)
        FROM core.fct_invoice AS i
        WHERE i.branch_id = 'denver' AND i.issued_on {IN_RANGE}
        GROUP BY i.owner_id
        """,
        by=("employee",),
        scope={"branch": (DENVER,)},
    ),
    Case(
        "range_revenue_per_call_two_facts_by_branch",
        "revenue_per_call",
        D("2025-01-10"),
        D("2025-03-20"),
        "range",
        f"""
        WITH n AS ({revenue_by_branch(IN_RANGE, where="i.kind = 'invoice'")}),
        c AS (
            SELECT a.branch_id AS branch, COUNT(*) AS v FROM {ACTIVITY} AS a
            WHERE a.kind = 'call' AND a.day {IN_RANGE} GROUP BY 1
        ), k AS (SELECT branch FROM n UNION SELECT branch FROM c)
        SELECT {AT}, k.branch, COALESCE(n.v, 0) / NULLIF(COALESCE(c.v, 0), 0)
        FROM k LEFT JOIN n ON n.branch = k.branch LEFT JOIN c ON c.branch = k.branch
        """,
        by=("branch",),
    ),
    Case(
        "range_win_rate_by_branch",
        "win_rate",
        D("2025-01-10"),
        D("2025-03-20"),
        "range",
        f"""
        SELECT {AT}, x.branch_id,
               1.0 * SUM(CASE WHEN x.status = 'won' THEN 1 ELSE 0 END)
               / NULLIF(SUM(CASE WHEN x.status IN ('won', 'lost') THEN 1 ELSE 0 END), 0)
        FROM {DEAL} AS x WHERE x.day {IN_RANGE} GROUP BY x.branch_id
        HAVING SUM(CASE WHEN x.status IN ('won', 'lost') THEN 1 ELSE 0 END) > 0
        """,
        by=("branch",),
    ),
    Case(
        "range_gross_margin_by_branch",
        "gross_margin",
        D("2025-01-10"),
        D("2025-03-20"),
        "range",
        f"""
        SELECT {AT}, l.branch_id, SUM(l.line_amount) - COALESCE(SUM(l.cost_amount), 0)
        FROM {LINES} AS l WHERE l.issued_on {IN_RANGE} GROUP BY l.branch_id
        """,
        by=("branch",),
    ),
    # offset 1 year: the range a year earlier; scoped to one sales manager
    Case(
        "range_revenue_growth_yoy_scope_employee",
        "revenue_growth_yoy",
        D("2025-01-10"),
        D("2025-03-20"),
        "range",
        f"""
        WITH n AS (
            SELECT SUM(i.net_amount) AS v FROM {REVENUE} AS i
            WHERE i.owner_id = '{DANA}' AND i.issued_on {IN_RANGE}
        ), p AS (
            SELECT SUM(i.net_amount) AS v FROM {REVENUE} AS i
            WHERE i.owner_id = '{DANA}' AND i.issued_on BETWEEN '2024-01-10' AND '2024-03-20'
        )
        SELECT {AT}, (COALESCE(n.v, 0) - COALESCE(p.v, 0)) / NULLIF(COALESCE(p.v, 0), 0)
        FROM n, p WHERE n.v IS NOT NULL OR p.v IS NOT NULL
        """,
        scope={"employee": (DANA,)},
    ),
    # offset 1 period: the 70 days before the range
    Case(
        "range_revenue_change_previous_period_by_branch",
        "revenue_change_pop",
        D("2025-01-10"),
        D("2025-03-20"),
        "range",
        f"""
        WITH n AS ({revenue_by_branch(IN_RANGE)}),
        p AS ({revenue_by_branch("BETWEEN '2024-11-01' AND '2025-01-09'")}),
        k AS (SELECT branch FROM n UNION SELECT branch FROM p)
        SELECT {AT}, k.branch, COALESCE(n.v, 0) - COALESCE(p.v, 0)
        FROM k LEFT JOIN n ON n.branch = k.branch LEFT JOIN p ON p.branch = k.branch
        """,
        by=("branch",),
    ),
    # cumulative: windows ending on the range's last day
    Case(
        "range_revenue_year_to_date_by_branch",
        "revenue_ytd",
        D("2025-01-10"),
        D("2025-03-20"),
        "range",
        f"""SELECT {AT}, r.branch, r.v
        FROM ({revenue_by_branch("BETWEEN '2025-01-01' AND '2025-03-20'")}) AS r""",
        by=("branch",),
    ),
    Case(
        "range_revenue_month_to_date_by_branch",
        "revenue_mtd",
        D("2025-01-10"),
        D("2025-03-20"),
        "range",
        f"""SELECT {AT}, r.branch, r.v
        FROM ({revenue_by_branch("BETWEEN '2025-03-01' AND '2025-03-20'")}) AS r""",
        by=("branch",),
    ),
    Case(
        "range_revenue_quarter_to_date_scope_employees",
        "revenue_qtd",
        D("2025-01-10"),
        D("2025-03-20"),
        "range",
        f"""SELECT {AT}, r.branch, r.v FROM ({
            revenue_by_branch(
                "BETWEEN '2025-01-01' AND '2025-03-20'", where=f"i.owner_id IN ('{ELI}', '{IVY}')"
            )
        }) AS r""",
        by=("branch",),
        scope={"employee": (ELI, IVY)},
    ),
    Case(
        "range_revenue_rolling_30_days_by_branch",
        "revenue_rolling_30d",
        D("2025-01-10"),
        D("2025-03-20"),
        "range",
        f"""SELECT {AT}, r.branch, r.v
        FROM ({revenue_by_branch("BETWEEN '2025-02-19' AND '2025-03-20'")}) AS r""",
        by=("branch",),
    ),
    # 3 months ending on March 20: from December 21
    Case(
        "range_revenue_rolling_3_months_by_branch",
        "revenue_rolling_3m",
        D("2025-01-10"),
        D("2025-03-20"),
        "range",
        f"""SELECT {AT}, r.branch, r.v
        FROM ({revenue_by_branch("BETWEEN '2024-12-21' AND '2025-03-20'")}) AS r""",
        by=("branch",),
    ),
    # a range ending on a month's last day: the window of months in month buckets
    Case(
        "range_revenue_rolling_3_months_to_a_month_end",
        "revenue_rolling_3m",
        D("2025-01-10"),
        D("2025-03-31"),
        "range",
        f"""SELECT {AT}, r.branch, r.v
        FROM ({revenue_by_branch("BETWEEN '2025-01-01' AND '2025-03-31'")}) AS r""",
        by=("branch",),
    ),
    Case(
        "range_revenue_running_total_by_branch",
        "revenue_running",
        D("2025-01-10"),
        D("2025-03-20"),
        "range",
        f"""SELECT {AT}, r.branch, r.v
        FROM ({revenue_by_branch("<= '2025-03-20'")}) AS r""",
        by=("branch",),
    ),
    Case(
        "range_clients_year_to_date_by_branch",
        "clients_ytd",
        D("2025-01-10"),
        D("2025-03-20"),
        "range",
        f"""
        SELECT {AT}, i.branch_id, COUNT(DISTINCT i.one_client) FROM {REVENUE_CLIENTS} AS i
        WHERE i.issued_on BETWEEN '2025-01-01' AND '2025-03-20' GROUP BY i.branch_id
        """,
        by=("branch",),
    ),
    # ending on a month's last day: a bit mask of months per client
    Case(
        "range_clients_year_to_date_to_a_month_end",
        "clients_ytd",
        D("2025-01-10"),
        D("2025-03-31"),
        "range",
        f"""
        SELECT {AT}, i.branch_id, COUNT(DISTINCT i.one_client) FROM {REVENUE_CLIENTS} AS i
        WHERE i.issued_on BETWEEN '2025-01-01' AND '2025-03-31' GROUP BY i.branch_id
        """,
        by=("branch",),
    ),
    Case(
        "range_clients_rolling_30_days_by_branch",
        "clients_rolling_30d",
        D("2025-01-10"),
        D("2025-03-20"),
        "range",
        f"""
        SELECT {AT}, i.branch_id, COUNT(DISTINCT i.one_client) FROM {REVENUE_CLIENTS} AS i
        WHERE i.issued_on BETWEEN '2025-02-19' AND '2025-03-20' GROUP BY i.branch_id
        """,
        by=("branch",),
    ),
    Case(
        "range_clients_ever_by_employee",
        "clients_ever",
        D("2025-01-10"),
        D("2025-03-20"),
        "range",
        f"""
        SELECT {AT}, i.owner_id, COUNT(DISTINCT i.one_client) FROM {REVENUE_CLIENTS} AS i
        WHERE i.issued_on <= '2025-03-20' GROUP BY i.owner_id
        """,
        by=("employee",),
    ),
    Case(
        "range_calls_rolling_7_local_days_by_branch",
        "calls_rolling_7d",
        D("2025-01-10"),
        D("2025-03-20"),
        "range",
        f"""
        SELECT {AT}, a.branch_id, COUNT(*) FROM {ACTIVITY} AS a
        WHERE a.kind = 'call' AND a.day BETWEEN '2025-03-14' AND '2025-03-20'
        GROUP BY a.branch_id
        """,
        by=("branch",),
    ),
    Case(
        "range_line_revenue_quarter_to_date_by_category",
        "line_revenue_qtd",
        D("2025-01-10"),
        D("2025-03-20"),
        "range",
        f"""
        SELECT {AT}, p.category, SUM(l.line_amount) FROM {LINES} AS l
        LEFT JOIN core.dim_product AS p ON p.product_id = l.product_id
        WHERE l.issued_on BETWEEN '2025-01-01' AND '2025-03-20' GROUP BY p.category
        """,
        by=("product_category",),
    ),
    # conversion: base events in the range, their conversions wherever they fall
    Case(
        "range_lead_to_win_30_days_by_branch",
        "lead_to_win_30d",
        D("2025-01-10"),
        D("2025-03-20"),
        "range",
        f"""
        SELECT {AT}, x.branch_id, 1.0 * SUM(x.converted) / COUNT(*) FROM ({LEAD_WON}) AS x
        WHERE x.day {IN_RANGE} GROUP BY x.branch_id
        """,
        by=("branch",),
    ),
    Case(
        "range_repeat_service_scope_branch_by_engineer",
        "repeat_service_14d",
        D("2025-01-10"),
        D("2025-03-20"),
        "range",
        f"""
        SELECT {AT}, s.engineer_id, 1.0 * SUM(s.converted) / COUNT(*) FROM ({REPEATED}) AS s
        WHERE s.branch_id = 'austin' AND s.day {IN_RANGE} GROUP BY s.engineer_id
        """,
        by=("employee",),
        scope={"branch": (AUSTIN,)},
    ),
    # period over period: as many days just before the range, or the range a year earlier,
    # like for like or not
    Case(
        "range_revenue_against_previous_period_by_branch",
        "revenue_vs_prev",
        D("2025-01-10"),
        D("2025-03-20"),
        "range",
        against(
            revenue_by_branch(IN_RANGE),
            revenue_by_branch("BETWEEN '2024-11-01' AND '2025-01-09'"),
            "(n.v - COALESCE(p.v, 0)) / NULLIF(COALESCE(p.v, 0), 0)",
        ),
        by=("branch",),
    ),
    Case(
        "range_revenue_against_previous_period_like_for_like",
        "revenue_vs_prev_lfl",
        D("2025-01-10"),
        D("2025-03-20"),
        "range",
        against(
            revenue_by_branch(IN_RANGE),
            revenue_by_branch("BETWEEN '2024-11-01' AND '2025-01-09'"),
            "(n.v - COALESCE(p.v, 0)) / NULLIF(COALESCE(p.v, 0), 0)",
        ),
        by=("branch",),
    ),
    Case(
        "range_revenue_against_last_year_by_branch",
        "revenue_vs_ly",
        D("2025-01-10"),
        D("2025-03-20"),
        "range",
        against(
            revenue_by_branch(IN_RANGE),
            revenue_by_branch("BETWEEN '2024-01-10' AND '2024-03-20'"),
            "(n.v - COALESCE(p.v, 0)) / NULLIF(COALESCE(p.v, 0), 0)",
        ),
        by=("branch",),
    ),
    Case(
        "range_revenue_against_last_year_like_for_like",
        "revenue_vs_ly_lfl",
        D("2025-01-10"),
        D("2025-03-20"),
        "range",
        against(
            revenue_by_branch(IN_RANGE),
            revenue_by_branch("BETWEEN '2024-01-10' AND '2024-03-20'"),
            "(n.v - COALESCE(p.v, 0)) / NULLIF(COALESCE(p.v, 0), 0)",
        ),
        by=("branch",),
    ),
    # February 10–28, 2025 a year earlier is February 10–28, 2024: denver's invoice of
    # February 29, 2024 is left out
    Case(
        "range_revenue_change_against_last_year_before_feb_29_scoped",
        "revenue_change_ly",
        D("2025-02-10"),
        D("2025-02-28"),
        "range",
        f"""
        WITH n AS ({
            revenue_by_branch(
                "BETWEEN '2025-02-10' AND '2025-02-28'", where="i.branch_id = 'denver'"
            )
        }), p AS ({
            revenue_by_branch(
                "BETWEEN '2024-02-10' AND '2024-02-28'", where="i.branch_id = 'denver'"
            )
        })
        SELECT CAST('2025-02-10' AS DATE), n.branch, n.v - COALESCE(p.v, 0)
        FROM n LEFT JOIN p ON p.branch = n.branch
        """,
        by=("branch",),
        scope={"branch": (DENVER,)},
    ),
    Case(
        "range_revenue_last_year_as_output_scope_employee",
        "revenue_last_year",
        D("2025-01-10"),
        D("2025-03-20"),
        "range",
        f"""
        WITH n AS (
            SELECT SUM(i.net_amount) AS v FROM {REVENUE} AS i
            WHERE i.owner_id = '{GUS}' AND i.issued_on {IN_RANGE}
        ), p AS (
            SELECT SUM(i.net_amount) AS v FROM {REVENUE} AS i
            WHERE i.owner_id = '{GUS}' AND i.issued_on BETWEEN '2024-01-10' AND '2024-03-20'
        )
        SELECT {AT}, COALESCE(p.v, 0) FROM n, p WHERE n.v IS NOT NULL
        """,
        scope={"employee": (GUS,)},
    ),
    # a cumulative KPI compared: year to date up to March 20 against up to March 20, 2024
    Case(
        "range_revenue_year_to_date_against_last_year",
        "revenue_ytd_vs_ly",
        D("2025-01-10"),
        D("2025-03-20"),
        "range",
        against(
            revenue_by_branch("BETWEEN '2025-01-01' AND '2025-03-20'"),
            revenue_by_branch("BETWEEN '2024-01-01' AND '2024-03-20'"),
            "(n.v - p.v) / NULLIF(p.v, 0)",
        ),
        by=("branch",),
    ),
    Case(
        "range_avg_invoice_against_last_year",
        "avg_invoice_vs_ly",
        D("2025-01-10"),
        D("2025-03-20"),
        "range",
        f"""
        WITH r AS (
            SELECT i.branch_id AS branch, i.issued_on >= '2025-01-10' AS now,
                   AVG(i.net_amount) AS v
            FROM core.fct_invoice AS i
            WHERE i.status <> 'cancelled' AND i.kind = 'invoice'
              AND (i.issued_on {IN_RANGE} OR i.issued_on BETWEEN '2024-01-10' AND '2024-03-20')
            GROUP BY 1, 2
        )
        SELECT {AT}, n.branch, (n.v - p.v) / NULLIF(p.v, 0)
        FROM r AS n LEFT JOIN r AS p ON p.branch = n.branch AND NOT p.now
        WHERE n.now
        """,
        by=("branch",),
    ),
]

# -- balances: the state at each period's end ------------------------------------------------------


def ends(start: str, end: str, grain: str) -> str:
    """Each period of the range with its last day in it (``last_day``): the day a balance is
    taken on."""
    first = {"day": "calendar_date"}.get(grain, f"{grain}_start")
    return (
        f"(SELECT d.{first} AS period, MAX(d.calendar_date) AS last_day FROM core.dim_date AS d"
        f" WHERE d.calendar_date BETWEEN '{start}' AND '{end}' GROUP BY d.{first})"
    )


def local_span(table: str, start: str, stop: str) -> str:
    """A fact's rows with ``day`` and ``stop_day``: the local days of ``start`` and ``stop``."""
    return (
        f"(SELECT t.*,"
        f" CAST(timezone(b.timezone, t.{start} AT TIME ZONE 'UTC') AS DATE) AS day,"
        f" CAST(timezone(b.timezone, t.{stop} AT TIME ZONE 'UTC') AS DATE) AS stop_day"
        f" FROM core.{table} AS t JOIN core.dim_branch AS b ON b.branch_id = t.branch_id)"
    )


STOCK = local("fct_stock_move", "moved_at")
OPEN_DEALS = local_span("fct_deal", "opened_at", "closed_at")
BACKLOG = local_span("fct_service_request", "received_at", "returned_at")
TASKS = local_span("fct_task", "created_at", "done_at")
HELD = "s.day <= e.last_day AND (s.stop_day IS NULL OR s.stop_day > e.last_day)"
"""A row of a span in force at the end of the period ``e``."""
LEDGER = (
    "(SELECT i.issued_on AS day, i.branch_id, i.owner_id, i.total_amount AS amount, i.due_on"
    " FROM core.fct_invoice AS i WHERE i.status <> 'cancelled'"
    " UNION ALL SELECT p.paid_on, p.branch_id, i.owner_id, -p.amount, i.due_on"
    " FROM core.fct_payment AS p LEFT JOIN core.fct_invoice AS i ON i.invoice_id = p.invoice_id)"
)
"""What clients owe, as moves: each invoice (not cancelled) adds its total on its day, each
payment takes its amount off on its day, both with the invoice's sales manager and due day."""


def stock_by_month(start: str, end: str, by: str = "") -> str:
    """Stock on hand at each month's end, by ``by`` (a column of the stock moves)."""
    keys = f", s.{by}" if by else ""
    return (
        f"SELECT e.period{keys}, SUM(s.qty) AS value FROM {ends(start, end, 'month')} AS e"
        f" JOIN {STOCK} AS s ON s.day <= e.last_day GROUP BY e.period{keys}"
    )


BALANCES = [
    # 2025-02-01 05:30 UTC is January 31 in Denver: January's end counts it, and the moves of
    # 2025-07-03 (after the range) do not count anywhere
    Case(
        "stock_on_hand_by_day_and_branch",
        "stock_on_hand",
        D("2025-01-28"),
        D("2025-02-12"),
        "day",
        f"""
        SELECT e.period, s.branch_id, SUM(s.qty) FROM {ends("2025-01-28", "2025-02-12", "day")} AS e
        JOIN {STOCK} AS s ON s.day <= e.last_day GROUP BY e.period, s.branch_id
        """,
        by=("branch",),
    ),
    # a range starting on a Wednesday and ending on a Sunday mid-month: the first week's
    # balance is taken on its Sunday, the last one's on the range's last day
    Case(
        "service_backlog_by_week_and_engineer",
        "service_backlog",
        D("2025-01-01"),
        D("2025-03-16"),
        "week",
        f"""
        SELECT e.period, s.engineer_id, COUNT(*)
        FROM {ends("2025-01-01", "2025-03-16", "week")} AS e
        JOIN {BACKLOG} AS s ON {HELD} GROUP BY e.period, s.engineer_id
        """,
        by=("employee",),
    ),
    Case(
        "stock_on_hand_by_month_and_warehouse",
        "stock_on_hand",
        D("2024-11-01"),
        D("2025-06-30"),
        "month",
        stock_by_month("2024-11-01", "2025-06-30", "warehouse_id"),
        by=("warehouse",),
    ),
    # March ends on 2025-03-20: its value is the state on the range's last day
    Case(
        "stock_value_by_quarter_and_branch_range_ending_mid_month",
        "stock_value",
        D("2024-07-01"),
        D("2025-03-20"),
        "quarter",
        f"""
        SELECT e.period, s.branch_id, SUM(s.qty * s.unit_cost)
        FROM {ends("2024-07-01", "2025-03-20", "quarter")} AS e
        JOIN {STOCK} AS s ON s.day <= e.last_day GROUP BY e.period, s.branch_id
        """,
        by=("branch",),
    ),
    # 2025's balance is taken on June 30: the receipt of July 3 is after the range
    Case(
        "stock_on_hand_by_year",
        "stock_on_hand",
        D("2023-01-01"),
        D("2025-06-30"),
        "year",
        f"""
        SELECT e.period, SUM(s.qty) FROM {ends("2023-01-01", "2025-06-30", "year")} AS e
        JOIN {STOCK} AS s ON s.day <= e.last_day GROUP BY e.period
        """,
    ),
    Case(
        "stock_on_hand_filtered_by_product_category",
        "stock_on_hand",
        D("2025-01-01"),
        D("2025-04-30"),
        "month",
        f"""
        SELECT e.period, s.warehouse_id, SUM(s.qty)
        FROM {ends("2025-01-01", "2025-04-30", "month")} AS e
        JOIN {STOCK} AS s ON s.day <= e.last_day
        JOIN core.dim_product AS p ON p.product_id = s.product_id
        WHERE p.category = 'Toner cartridges'
        GROUP BY e.period, s.warehouse_id
        """,
        by=("warehouse",),
        filters=("product_category = 'Toner cartridges'",),
    ),
    Case(
        "stock_on_hand_scoped_to_a_branch",
        "stock_on_hand",
        D("2025-01-01"),
        D("2025-06-30"),
        "month",
        f"""
        SELECT e.period, s.product_id, SUM(s.qty)
        FROM {ends("2025-01-01", "2025-06-30", "month")} AS e
        JOIN {STOCK} AS s ON s.day <= e.last_day WHERE s.branch_id = 'austin'
        GROUP BY e.period, s.product_id
        """,
        by=("product",),
        scope={"branch": (AUSTIN,)},
    ),
    # d2 closed on March 1: open at February's end
    Case(
        "open_pipeline_by_month_and_employee",
        "open_pipeline_value",
        D("2024-12-01"),
        D("2025-04-30"),
        "month",
        f"""
        SELECT e.period, s.owner_id, SUM(s.amount)
        FROM {ends("2024-12-01", "2025-04-30", "month")} AS e
        JOIN {OPEN_DEALS} AS s ON {HELD} GROUP BY e.period, s.owner_id
        """,
        by=("employee",),
    ),
    Case(
        "open_pipeline_by_day_scoped_to_an_employee",
        "open_pipeline_value",
        D("2025-02-15"),
        D("2025-03-05"),
        "day",
        f"""
        SELECT e.period, SUM(s.amount) FROM {ends("2025-02-15", "2025-03-05", "day")} AS e
        JOIN {OPEN_DEALS} AS s ON {HELD} WHERE s.owner_id = '{DANA}' GROUP BY e.period
        """,
        scope={"employee": (DANA,)},
    ),
    Case(
        "largest_open_deal_by_month_and_branch",
        "largest_open_deal",
        D("2025-01-01"),
        D("2025-04-30"),
        "month",
        f"""
        SELECT e.period, s.branch_id, MAX(s.amount)
        FROM {ends("2025-01-01", "2025-04-30", "month")} AS e
        JOIN {OPEN_DEALS} AS s ON {HELD} GROUP BY e.period, s.branch_id
        """,
        by=("branch",),
    ),
    # d6 closed on February 20, d3 on the 25th, d2 on March 1 (local days): each is open at
    # the end of the day before and not at the end of its own
    Case(
        "largest_open_deal_by_day",
        "largest_open_deal",
        D("2025-02-18"),
        D("2025-03-02"),
        "day",
        f"""
        SELECT e.period, MAX(s.amount) FROM {ends("2025-02-18", "2025-03-02", "day")} AS e
        JOIN {OPEN_DEALS} AS s ON {HELD} GROUP BY e.period
        """,
    ),
    Case(
        "avg_open_deal_by_week",
        "avg_open_deal",
        D("2025-01-06"),
        D("2025-03-09"),
        "week",
        f"""
        SELECT e.period, AVG(s.amount) FROM {ends("2025-01-06", "2025-03-09", "week")} AS e
        JOIN {OPEN_DEALS} AS s ON {HELD} GROUP BY e.period
        """,
    ),
    # d3 (Clear Clinic, lost on Feb 25) and d6 (Clear Clinic, won on Feb 20) overlap: one client
    Case(
        "clients_with_open_deals_by_month_and_branch",
        "clients_with_open_deals",
        D("2025-01-01"),
        D("2025-03-31"),
        "month",
        f"""
        SELECT e.period, s.branch_id, COUNT(DISTINCT COALESCE(k.master_client_id, s.client_id))
        FROM {ends("2025-01-01", "2025-03-31", "month")} AS e
        JOIN {OPEN_DEALS} AS s ON {HELD} JOIN core.dim_client AS k ON k.client_id = s.client_id
        GROUP BY e.period, s.branch_id
        """,
        by=("branch",),
    ),
    # crm_austin:t1, due March 1, done late on March 31 local (April 1 in UTC): overdue on
    # each of March's days but its last
    Case(
        "open_overdue_tasks_by_day_and_branch",
        "open_overdue_tasks",
        D("2025-02-12"),
        D("2025-04-02"),
        "day",
        f"""
        SELECT e.period, s.branch_id, COUNT(*) FROM {ends("2025-02-12", "2025-04-02", "day")} AS e
        JOIN {TASKS} AS s ON {HELD} AND CAST(s.due_at AS DATE) < e.last_day
        GROUP BY e.period, s.branch_id
        """,
        by=("branch",),
    ),
    Case(
        "open_overdue_tasks_by_month_and_employee",
        "open_overdue_tasks",
        D("2025-01-01"),
        D("2025-06-30"),
        "month",
        f"""
        SELECT e.period, s.assignee_id, COUNT(*)
        FROM {ends("2025-01-01", "2025-06-30", "month")} AS e
        JOIN {TASKS} AS s ON {HELD} AND CAST(s.due_at AS DATE) < e.last_day
        GROUP BY e.period, s.assignee_id
        """,
        by=("employee",),
    ),
    # paid on February 29 and March 1 of 2024: February's end owes the second
    Case(
        "receivables_by_month_and_branch",
        "receivables",
        D("2024-01-01"),
        D("2025-06-30"),
        "month",
        f"""
        SELECT e.period, s.branch_id, SUM(s.amount)
        FROM {ends("2024-01-01", "2025-06-30", "month")} AS e
        JOIN {LEDGER} AS s ON s.day <= e.last_day GROUP BY e.period, s.branch_id
        """,
        by=("branch",),
    ),
    # Eli's invoice of June 2024 is owed before any payment of his: invoiced minus nothing
    Case(
        "receivables_by_quarter_and_employee",
        "receivables",
        D("2024-01-01"),
        D("2025-06-30"),
        "quarter",
        f"""
        SELECT e.period, s.owner_id, SUM(s.amount)
        FROM {ends("2024-01-01", "2025-06-30", "quarter")} AS e
        JOIN {LEDGER} AS s ON s.day <= e.last_day GROUP BY e.period, s.owner_id
        """,
        by=("employee",),
    ),
    Case(
        "receivables_by_year_scoped_to_an_employee",
        "receivables",
        D("2024-01-01"),
        D("2025-06-30"),
        "year",
        f"""
        SELECT e.period, SUM(s.amount) FROM {ends("2024-01-01", "2025-06-30", "year")} AS e
        JOIN {LEDGER} AS s ON s.day <= e.last_day WHERE s.owner_id = '{DANA}' GROUP BY e.period
        """,
        scope={"employee": (DANA,)},
    ),
    # 2502 is overdue from February 20 (partly paid on January 31); 2506 from April 10 until
    # its payment on April 30
    Case(
        "receivables_overdue_by_month_and_branch",
        "receivables_overdue",
        D("2024-01-01"),
        D("2025-06-30"),
        "month",
        f"""
        SELECT e.period, s.branch_id, SUM(s.amount)
        FROM {ends("2024-01-01", "2025-06-30", "month")} AS e
        JOIN {LEDGER} AS s ON s.day <= e.last_day AND s.due_on < e.last_day
        GROUP BY e.period, s.branch_id
        """,
        by=("branch",),
    ),
    Case(
        "receivables_overdue_by_day_filtered",
        "receivables_overdue",
        D("2025-04-05"),
        D("2025-05-02"),
        "day",
        f"""
        SELECT e.period, SUM(s.amount) FROM {ends("2025-04-05", "2025-05-02", "day")} AS e
        JOIN {LEDGER} AS s ON s.day <= e.last_day AND s.due_on < e.last_day
        WHERE s.branch_id = 'denver' GROUP BY e.period
        """,
        filters=("branch = 'denver'",),
    ),
    Case(
        "stock_value_against_last_year_by_month",
        "stock_value_vs_ly",
        D("2025-01-01"),
        D("2025-06-30"),
        "month",
        f"""
        WITH v AS (
            SELECT e.period, SUM(s.qty * s.unit_cost) AS value
            FROM {ends("2024-01-01", "2025-06-30", "month")} AS e
            JOIN {STOCK} AS s ON s.day <= e.last_day GROUP BY e.period
        )
        SELECT n.period, n.value - COALESCE(p.value, 0) FROM v AS n
        LEFT JOIN v AS p ON p.period = CAST(n.period - INTERVAL '1 year' AS DATE)
        WHERE n.period >= '2025-01-01'
        """,
    ),
    # austin's store has no stock before January 2025: its December counts as 0
    Case(
        "stock_change_against_the_previous_month_by_branch",
        "stock_change",
        D("2025-01-01"),
        D("2025-06-30"),
        "month",
        f"""
        WITH v AS ({stock_by_month("2024-12-01", "2025-06-30", "branch_id")}),
        keys AS (
            SELECT period, branch_id FROM v WHERE period >= '2025-01-01'
            UNION
            SELECT CAST(period + INTERVAL '1 month' AS DATE), branch_id FROM v
            WHERE period + INTERVAL '1 month' <= DATE '2025-06-30'
        )
        SELECT k.period, k.branch_id, COALESCE(n.value, 0) - COALESCE(p.value, 0) FROM keys AS k
        LEFT JOIN v AS n ON n.period = k.period AND n.branch_id = k.branch_id
        LEFT JOIN v AS p
          ON p.period = CAST(k.period - INTERVAL '1 month' AS DATE) AND p.branch_id = k.branch_id
        """,
        by=("branch",),
    ),
]

# balances at range grain: their row sources are defined with the balances above
RANGE += [
    # a balance at range grain is the state on the range's last day (March 20, 2025): the
    # Austin write-off late on March 31 and the July receipt are after it
    Case(
        "range_stock_on_hand_by_warehouse",
        "stock_on_hand",
        D("2025-01-10"),
        D("2025-03-20"),
        "range",
        f"""
        SELECT {AT}, s.warehouse_id, SUM(s.qty) FROM {STOCK} AS s
        WHERE s.day <= DATE '2025-03-20' GROUP BY s.warehouse_id
        """,
        by=("warehouse",),
    ),
    # the tasks open on March 20 whose due day had passed, of one branch
    Case(
        "range_open_overdue_tasks_scoped",
        "open_overdue_tasks",
        D("2025-01-10"),
        D("2025-03-20"),
        "range",
        f"""
        SELECT {AT}, COUNT(*) FROM {TASKS} AS s
        WHERE s.day <= DATE '2025-03-20'
          AND (s.stop_day IS NULL OR s.stop_day > DATE '2025-03-20')
          AND CAST(s.due_at AS DATE) < DATE '2025-03-20' AND s.branch_id = 'austin'
        HAVING COUNT(*) > 0
        """,
        scope={"branch": (AUSTIN,)},
    ),
]

# -- entities --------------------------------------------------------------------------------------

PERIOD_OF = {
    "day": "calendar_date",
    "week": "week_start",
    "month": "month_start",
    "quarter": "quarter_start",
    "year": "year_start",
}
"""Each grain's period in ``core.dim_date``."""
ENTITY_SLICES = {"branch": "branch_id", "employee": "employee", "client_segment": "segment"}
"""The column of the event lists below that holds each dimension."""


def client_events(rows: str, time: str, where: str, employee: str = "owner_id") -> str:
    """Rows with a ``day`` (``local`` ones, or a fact's whose time is a date) as events of a
    client: the client as ``entity`` (a duplicate as the record it duplicates), ``day``,
    ``moment``, branch, ``employee`` and the named client's ``segment``."""
    return (
        f"(SELECT COALESCE(k.master_client_id, t.client_id) AS entity, t.day,"
        f" CAST(t.{time} AS TIMESTAMP) AS moment, t.branch_id, t.{employee} AS employee,"
        f" k.segment FROM {rows} AS t"
        f" JOIN core.dim_client AS k ON k.client_id = t.client_id WHERE {where})"
    )


INVOICED = client_events(
    "(SELECT *, issued_on AS day FROM core.fct_invoice)",
    "issued_on",
    "t.kind = 'invoice' AND t.status <> 'cancelled'",
)
"""Clients' invoices (credit notes and cancelled invoices left out)."""
DEALT = client_events(DEAL, "opened_at", "TRUE")
CALLED = client_events(ACTIVITY, "occurred_at", "t.kind = 'call'", "employee_id")
INVOICED_OR_DEAL = f"(SELECT * FROM {INVOICED} AS i UNION ALL SELECT * FROM {DEALT} AS o)"
CALLED_OR_DEAL = f"(SELECT * FROM {CALLED} AS c UNION ALL SELECT * FROM {DEALT} AS o)"
CATEGORY_BOUGHT = (
    "(SELECT COALESCE(k.master_client_id, i.client_id) || '|' || p.category AS entity,"
    " i.issued_on AS day, CAST(i.issued_on AS TIMESTAMP) AS moment, l.branch_id,"
    " i.owner_id AS employee, k.segment"
    " FROM core.fct_invoice_line AS l JOIN core.fct_invoice AS i ON i.invoice_id = l.invoice_id"
    " JOIN core.dim_product AS p ON p.product_id = l.product_id"
    " JOIN core.dim_client AS k ON k.client_id = i.client_id WHERE i.status <> 'cancelled')"
)
"""A client and a product category bought (a line without a product buys none)."""


def entities_check(
    kind: str,
    events: str,
    grain: str,
    start: str,
    end: str,
    by: Sequence[str] = (),
    where: str = "TRUE",
    gap: str | None = None,
) -> str:
    """The distinct entities of ``events`` with an event in the range (passing ``where``: the
    request's filters and scope) that is: their first (new), after one before its period
    (returning), after ``gap`` or more without one (reactivated: ``p.day`` + the gap is after
    ``e.day`` for an earlier event that is too recent), or any (active); earlier events are
    never narrowed by ``where``."""
    # at range grain the one period is the range, dated by its first day
    period = f"CAST('{start}' AS DATE)" if grain == "range" else f"d.{PERIOD_OF[grain]}"
    keys = ", ".join([period, *(f"e.{ENTITY_SLICES[b]}" for b in by)])
    earlier = f"SELECT 1 FROM {events} AS p WHERE p.entity = e.entity"
    condition = {
        "new": f"NOT EXISTS ({earlier}"
        " AND (p.day < e.day OR p.day = e.day AND p.moment < e.moment))",
        "returning": f"EXISTS ({earlier} AND p.day < {period})",
        "reactivated": f"EXISTS ({earlier} AND p.day < e.day)"
        f" AND NOT EXISTS ({earlier} AND p.day < e.day AND {gap} > e.day)",
        "active": "TRUE",
    }[kind]
    return f"""
        SELECT {keys}, COUNT(DISTINCT e.entity)
        FROM {events} AS e JOIN core.dim_date AS d ON d.calendar_date = e.day
        WHERE e.day BETWEEN '{start}' AND '{end}' AND ({where}) AND {condition}
        GROUP BY {keys}
    """


DAYS_91 = "p.day + 91"
MONTHS_2 = "CAST(p.day + INTERVAL '2 months' AS DATE)"
MONTHS_3 = "CAST(p.day + INTERVAL '3 months' AS DATE)"


def entities_case(
    case_id: str,
    kpi: str,
    kind: str,
    events: str,
    grain: str,
    start: str,
    end: str,
    by: tuple[str, ...] = (),
    *,
    where: str = "TRUE",
    gap: str | None = None,
    filters: tuple[str, ...] = (),
    scope: Mapping[str, tuple[str, ...]] | None = None,
) -> Case:
    check = entities_check(kind, events, grain, start, end, by, where, gap)
    return Case(
        case_id, kpi, D(start), D(end), grain, check, by, filters=filters, scope=scope or {}
    )


ENTITIES = [
    # new: each client once, in the period and slice of its first invoice; Acme School's
    # duplicate record (first invoiced in May 2025) is Acme School, long known: never new
    entities_case(
        "new_clients_by_day",
        "new_clients",
        "new",
        INVOICED,
        "day",
        "2024-01-01",
        "2024-03-31",
        ("branch",),
    ),
    entities_case(
        "new_clients_by_month_duplicate_not_new",
        "new_clients",
        "new",
        INVOICED,
        "month",
        "2024-01-01",
        "2025-06-30",
        ("branch",),
    ),
    # Dental Group's first event is a deal (Feb 11, Sunday's week) three days before its first
    # invoice (the next week); its deal was Gus's, as was the invoice
    entities_case(
        "new_clients_by_invoice_or_deal_by_week",
        "new_clients_any",
        "new",
        INVOICED_OR_DEAL,
        "week",
        "2024-01-01",
        "2024-03-31",
        ("employee",),
    ),
    # first-time buyers of a category: lines of 2025 whose client bought the category before
    # (Acme's printers in 2024) are not new; the free-text line buys no category
    entities_case(
        "first_category_buyers_by_quarter",
        "first_category_buyers",
        "new",
        CATEGORY_BOUGHT,
        "quarter",
        "2024-01-01",
        "2025-06-30",
        ("client_segment",),
    ),
    entities_case(
        "first_category_buyers_by_year_filtered",
        "first_category_buyers",
        "new",
        CATEGORY_BOUGHT,
        "year",
        "2024-01-01",
        "2025-12-31",
        ("employee",),
        where="e.branch_id = 'denver'",
        filters=("branch = 'denver'",),
    ),
    # a first event outside the scope counts nowhere: Acme's first toner (Dana's) is not Eli's
    entities_case(
        "first_category_buyers_scoped_to_an_employee",
        "first_category_buyers",
        "new",
        CATEGORY_BOUGHT,
        "month",
        "2025-01-01",
        "2025-06-30",
        ("branch",),
        where=f"e.employee = '{ELI}'",
        scope={"employee": (ELI,)},
    ),
    entities_case(
        "new_clients_by_invoice_or_deal_filtered_by_segment",
        "new_clients_any",
        "new",
        INVOICED_OR_DEAL,
        "month",
        "2024-01-01",
        "2025-06-30",
        ("branch",),
        where="e.segment = 'regular'",
        filters=("client_segment = 'regular'",),
    ),
    # returning: invoiced in the period and before it (the period's first day, also where the
    # range starts in the middle of it: Bo's second invoice of February 2024 is not a return;
    # a first invoice's day is not a return)
    entities_case(
        "returning_clients_by_day",
        "returning_clients",
        "returning",
        INVOICED,
        "day",
        "2024-01-01",
        "2025-03-31",
        ("branch",),
    ),
    entities_case(
        "returning_clients_by_week",
        "returning_clients",
        "returning",
        INVOICED,
        "week",
        "2024-12-23",
        "2025-02-23",
        ("employee",),
    ),
    entities_case(
        "returning_clients_by_month_from_mid_month",
        "returning_clients",
        "returning",
        INVOICED,
        "month",
        "2024-02-15",
        "2025-06-30",
        ("branch",),
    ),
    # scoped: the earlier invoice may be outside the scope (another branch's does not exist
    # here, another employee's does: Eli's invoices of clients first invoiced by Dana)
    entities_case(
        "returning_clients_by_quarter_scoped",
        "returning_clients",
        "returning",
        INVOICED,
        "quarter",
        "2024-01-01",
        "2025-06-30",
        ("client_segment",),
        where=f"e.employee = '{ELI}'",
        scope={"employee": (ELI,)},
    ),
    entities_case(
        "returning_clients_by_year_filtered",
        "returning_clients",
        "returning",
        INVOICED,
        "year",
        "2024-01-01",
        "2025-12-31",
        ("branch",),
        where=f"e.employee = '{DANA}'",
        filters=(f"employee = '{DANA}'",),
    ),
    # reactivated: invoiced again 91 days or more after the previous invoice (College exactly
    # 91 days after January 6, 2025, and 56 days later not; Acme 92 days after March 20, 2024)
    entities_case(
        "reactivated_clients_by_day",
        "reactivated_clients",
        "reactivated",
        INVOICED,
        "day",
        "2024-01-01",
        "2025-06-30",
        ("branch",),
        gap=DAYS_91,
    ),
    # calls (on their local day) or deals, two months apart: Acme's call of January 6, 2025
    # after January 10, 2024; Dental's deal of February 21 is not (a call a month earlier)
    entities_case(
        "reactivated_contacts_by_week",
        "reactivated_contacts",
        "reactivated",
        CALLED_OR_DEAL,
        "week",
        "2024-12-02",
        "2025-06-29",
        ("employee",),
        gap=MONTHS_2,
    ),
    # 3 months: Acme's invoice of June 20, 2024 exactly 3 months after March 20
    entities_case(
        "reactivated_clients_3_months_by_month_scoped",
        "reactivated_clients_3m",
        "reactivated",
        INVOICED,
        "month",
        "2024-01-01",
        "2025-06-30",
        ("employee",),
        gap=MONTHS_3,
        where="e.branch_id = 'austin'",
        scope={"branch": (AUSTIN,)},
    ),
    entities_case(
        "reactivated_contacts_by_quarter",
        "reactivated_contacts",
        "reactivated",
        CALLED_OR_DEAL,
        "quarter",
        "2024-01-01",
        "2025-06-30",
        ("branch",),
        gap=MONTHS_2,
    ),
    entities_case(
        "reactivated_clients_3_months_by_year_filtered",
        "reactivated_clients_3m",
        "reactivated",
        INVOICED,
        "year",
        "2024-01-01",
        "2025-12-31",
        ("client_segment",),
        gap=MONTHS_3,
        where="e.branch_id = 'denver'",
        filters=("branch = 'denver'",),
    ),
    # active: clients with a call (its local day: Bo's call at 22:30 on January 31 in Denver)
    # or a deal in the period
    entities_case(
        "active_contacts_by_day",
        "active_contacts",
        "active",
        CALLED_OR_DEAL,
        "day",
        "2025-01-01",
        "2025-03-31",
        ("branch",),
    ),
    entities_case(
        "active_clients_by_week",
        "active_clients",
        "active",
        INVOICED,
        "week",
        "2024-12-23",
        "2025-03-02",
        ("branch",),
    ),
    # Dana invoices Acme School's two records in May 2025: one client
    entities_case(
        "active_clients_by_month_duplicate_once",
        "active_clients",
        "active",
        INVOICED,
        "month",
        "2025-01-01",
        "2025-06-30",
        ("employee",),
    ),
    entities_case(
        "active_contacts_by_quarter_scoped",
        "active_contacts",
        "active",
        CALLED_OR_DEAL,
        "quarter",
        "2024-01-01",
        "2025-06-30",
        ("client_segment",),
        where=f"e.employee IN ('{DANA}', '{GUS}')",
        scope={"employee": (DANA, GUS)},
    ),
    entities_case(
        "active_clients_by_year_filtered",
        "active_clients",
        "active",
        INVOICED,
        "year",
        "2024-01-01",
        "2025-12-31",
        ("branch",),
        where="e.segment IN ('key', 'small')",
        filters=("client_segment IN ('key', 'small')",),
    ),
]

# entities at range grain: new in the range, returning from before it, under a scope
RANGE += [
    entities_case(
        "range_new_clients_by_branch",
        "new_clients",
        "new",
        INVOICED,
        "range",
        "2025-01-10",
        "2025-03-20",
        ("branch",),
    ),
    entities_case(
        "range_returning_clients_scoped",
        "returning_clients",
        "returning",
        INVOICED,
        "range",
        "2025-01-10",
        "2025-03-20",
        where="e.branch_id = 'denver'",
        scope={"branch": (DENVER,)},
    ),
]

# -- balances per entity: how many combinations' balances meet a condition -------------------------


def stock_combinations(start: str, end: str, grain: str, by: str = "", where: str = "TRUE") -> str:
    """Each store's stock of each product at each period's end, of the pairs with a move up to
    it, with the product's minimum and category, by ``by`` (another column of the stock moves
    than the pair's)."""
    keys = f", s.{by}" if by and by not in ("product_id", "warehouse_id") else ""
    return (
        f"(SELECT e.period{keys}, s.product_id, s.warehouse_id, SUM(s.qty) AS stock,"
        f" MAX(p.min_stock_qty) AS minimum, MAX(p.category) AS category"
        f" FROM {ends(start, end, grain)} AS e JOIN {STOCK} AS s ON s.day <= e.last_day"
        f" JOIN core.dim_product AS p ON p.product_id = s.product_id WHERE {where}"
        f" GROUP BY e.period{keys}, s.product_id, s.warehouse_id)"
    )


def paid_by_invoice(start: str, end: str, grain: str, when: str = "TRUE") -> str:
    """What each invoice was paid up to each period's end, of the invoices some payment up to
    it refers to (an advance is the pair of no invoice), by the payment's branch, with the
    invoice's total."""
    return (
        f"(SELECT e.period, p.branch_id, p.invoice_id, SUM(p.amount) AS paid,"
        f" MAX(i.total_amount) AS total FROM {ends(start, end, grain)} AS e"
        f" JOIN core.fct_payment AS p ON p.paid_on <= e.last_day"
        f" LEFT JOIN core.fct_invoice AS i ON i.invoice_id = p.invoice_id WHERE {when}"
        f" GROUP BY e.period, p.branch_id, p.invoice_id)"
    )


def unsettled_invoices(start: str, end: str, grain: str) -> str:
    """Each invoice (not a credit note, not cancelled) issued and past its due day at each
    period's end, with what had been paid of it by then."""
    return (
        f"(SELECT e.period, i.branch_id, i.invoice_id, i.total_amount,"
        f" (SELECT COALESCE(SUM(p.amount), 0) FROM core.fct_payment AS p"
        f"  WHERE p.invoice_id = i.invoice_id AND p.paid_on <= e.last_day) AS paid"
        f" FROM {ends(start, end, grain)} AS e JOIN core.fct_invoice AS i"
        f" ON i.issued_on <= e.last_day AND i.due_on < e.last_day"
        f" WHERE i.kind = 'invoice' AND i.status <> 'cancelled')"
    )


IN_AUSTIN, PRINTERS = "s.branch_id = 'austin'", "p.category = 'Printers'"
PER_ENTITY = [
    # Austin's toner: 10 from the transfer of February 10, 9 after the write-off at 23:00 on
    # March 31 (April in UTC); its minimum is 30. Denver's toner never falls below 53.
    Case(
        "stock_below_minimum_by_month_and_warehouse",
        "stock_below_minimum",
        D("2024-12-01"),
        D("2025-06-30"),
        "month",
        f"""
        SELECT q.period, q.warehouse_id, COUNT(*) FILTER (WHERE q.stock < q.minimum)
        FROM {stock_combinations("2024-12-01", "2025-06-30", "month", "warehouse_id")} AS q
        GROUP BY q.period, q.warehouse_id
        """,
        by=("warehouse",),
    ),
    # day by day: Austin's printers fall from 4 to their minimum, 2, on January 6; days with
    # stock but none at its minimum are 0
    Case(
        "stock_at_minimum_or_below_by_day_and_branch",
        "stock_at_minimum_or_below",
        D("2024-12-30"),
        D("2025-01-12"),
        "day",
        f"""
        SELECT q.period, q.branch_id, COUNT(*) FILTER (WHERE q.stock <= q.minimum)
        FROM {stock_combinations("2024-12-30", "2025-01-12", "day", "branch_id")} AS q
        GROUP BY q.period, q.branch_id
        """,
        by=("branch",),
    ),
    # March 31 in Austin: the late write-off keeps the toner below its minimum; Denver's
    # printers reach theirs with the shipment of March 10
    Case(
        "stock_at_minimum_or_below_by_day_at_a_months_end",
        "stock_at_minimum_or_below",
        D("2025-03-08"),
        D("2025-04-01"),
        "day",
        f"""
        SELECT q.period, COUNT(*) FILTER (WHERE q.stock <= q.minimum)
        FROM {stock_combinations("2025-03-08", "2025-04-01", "day")} AS q GROUP BY q.period
        """,
    ),
    Case(
        "stock_at_minimum_or_below_scoped_to_a_branch",
        "stock_at_minimum_or_below",
        D("2025-01-01"),
        D("2025-06-30"),
        "month",
        f"""
        SELECT q.period, COUNT(*) FILTER (WHERE q.stock <= q.minimum)
        FROM {stock_combinations("2025-01-01", "2025-06-30", "month", where=IN_AUSTIN)} AS q
        GROUP BY q.period
        """,
        scope={"branch": (AUSTIN,)},
    ),
    Case(
        "stock_at_minimum_or_below_filtered_by_product_category",
        "stock_at_minimum_or_below",
        D("2025-01-01"),
        D("2025-06-30"),
        "quarter",
        f"""
        SELECT q.period, q.branch_id, COUNT(*) FILTER (WHERE q.stock <= q.minimum)
        FROM {stock_combinations("2025-01-01", "2025-06-30", "quarter", "branch_id", PRINTERS)}
        AS q GROUP BY q.period, q.branch_id
        """,
        by=("branch",),
        filters=("product_category = 'Printers'",),
    ),
    # having names a dimension of the product: only toner counts
    Case(
        "toner_below_minimum_by_quarter",
        "toner_below_minimum",
        D("2024-01-01"),
        D("2025-06-30"),
        "quarter",
        f"""
        SELECT q.period, COUNT(*) FILTER (
            WHERE q.stock < q.minimum AND q.category = 'Toner cartridges')
        FROM {stock_combinations("2024-01-01", "2025-06-30", "quarter")} AS q GROUP BY q.period
        """,
    ),
    # without having: the pairs with a move up to the period's end
    Case(
        "stocked_items_by_week_and_branch",
        "stocked_items",
        D("2024-12-30"),
        D("2025-02-16"),
        "week",
        f"""
        SELECT q.period, q.branch_id, COUNT(*)
        FROM {stock_combinations("2024-12-30", "2025-02-16", "week", "branch_id")} AS q
        GROUP BY q.period, q.branch_id
        """,
        by=("branch",),
    ),
    Case(
        "stocked_items_by_year",
        "stocked_items",
        D("2023-01-01"),
        D("2025-06-30"),
        "year",
        f"""
        SELECT q.period, COUNT(*)
        FROM {stock_combinations("2023-01-01", "2025-06-30", "year")} AS q GROUP BY q.period
        """,
    ),
    # per an entity the payments refer to: 2502 paid 100 of 300 on January 31, Austin's 2505
    # 1000 of 1800 on June 30; the advance refers to no invoice, whose total is unknown
    Case(
        "invoices_part_paid_by_month_and_branch",
        "invoices_part_paid",
        D("2024-12-01"),
        D("2025-06-30"),
        "month",
        f"""
        SELECT q.period, q.branch_id, COUNT(*) FILTER (WHERE q.paid < q.total)
        FROM {paid_by_invoice("2024-12-01", "2025-06-30", "month")} AS q
        GROUP BY q.period, q.branch_id
        """,
        by=("branch",),
    ),
    # with when (the form that joins the periods to the rows): 2502 is due on February 19
    Case(
        "overdue_invoices_part_paid_by_day",
        "overdue_invoices_part_paid",
        D("2025-02-15"),
        D("2025-02-24"),
        "day",
        f"""
        SELECT q.period, COUNT(*) FILTER (WHERE q.paid < q.total)
        FROM {paid_by_invoice("2025-02-15", "2025-02-24", "day", "i.due_on < e.last_day")}
        AS q GROUP BY q.period
        """,
    ),
    # per client: a duplicate client's invoice is its master's
    Case(
        "clients_owing_more_than_one_invoice_by_month_and_branch",
        "clients_owing_more_than_one_invoice",
        D("2025-01-01"),
        D("2025-06-30"),
        "month",
        f"""
        SELECT q.period, q.branch_id, COUNT(*) FILTER (WHERE q.n > 1) FROM (
            SELECT e.period, i.branch_id, COALESCE(c.master_client_id, i.client_id), COUNT(*) AS n
            FROM {ends("2025-01-01", "2025-06-30", "month")} AS e
            JOIN core.fct_invoice AS i ON i.issued_on <= e.last_day
            JOIN core.dim_client AS c ON c.client_id = i.client_id
            LEFT JOIN (SELECT invoice_id, MAX(paid_on) AS last_paid FROM core.fct_payment
                       GROUP BY invoice_id) AS l ON l.invoice_id = i.invoice_id
            WHERE i.kind = 'invoice' AND i.status <> 'cancelled'
              AND (i.status <> 'paid' OR l.last_paid > e.last_day)
            GROUP BY 1, 2, 3
        ) AS q GROUP BY q.period, q.branch_id
        """,
        by=("branch",),
    ),
    # the count of invoices overdue, written as a balance of invoices whose last payment came
    # after the day (or that are not paid yet), equals what their payments leave unpaid
    Case(
        "invoices_overdue_count_by_month_and_branch",
        "invoices_overdue_count",
        D("2024-01-01"),
        D("2025-06-30"),
        "month",
        f"""
        SELECT q.period, q.branch_id, COUNT(*)
        FROM {unsettled_invoices("2024-01-01", "2025-06-30", "month")} AS q
        WHERE q.paid < q.total_amount GROUP BY q.period, q.branch_id
        """,
        by=("branch",),
    ),
    # 2506 is due on April 9 and paid on April 30: overdue from April 10 to April 29
    Case(
        "invoices_overdue_count_by_day_scoped",
        "invoices_overdue_count",
        D("2025-04-07"),
        D("2025-05-02"),
        "day",
        f"""
        SELECT q.period, COUNT(*)
        FROM {unsettled_invoices("2025-04-07", "2025-05-02", "day")} AS q
        WHERE q.paid < q.total_amount AND q.branch_id = 'denver' GROUP BY q.period
        """,
        scope={"branch": (DENVER,)},
    ),
]

CASES: list[Case] = [
    *SIMPLE_GRAINS,
    *SIMPLE_AGGREGATIONS,
    *SLICES,
    *LOCAL_DAYS,
    *RATIOS,
    *DERIVED,
    *CUMULATIVE,
    *CONVERSIONS,
    *PERIOD_OVER_PERIOD,
    *SCOPES,
    *REFERENCES,
    *RANGE,
    *BALANCES,
    *ENTITIES,
    *PER_ENTITY,
]


# -- running them ----------------------------------------------------------------------------------

Rows = list[tuple[object, ...]]


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def normalized(rows: Sequence[Sequence[object]]) -> Rows:
    """Rows with dates as ``date``, values as ``float``, ``None`` for no value or no member
    (pandas shows both as NaN), sorted."""
    out = []
    for *keys, value in rows:
        keys = [
            None if _missing(k) else k.date() if isinstance(k, dt.datetime) else k for k in keys
        ]
        out.append((*keys, None if _missing(value) else float(value)))  # type: ignore[arg-type]
    return sorted(out, key=lambda row: [(k is None, str(k)) for k in row[:-1]])


def assert_same_rows(got: Rows, expected: Rows) -> None:
    shown = f"\n engine: {got}\n  check: {expected}"
    assert [r[:-1] for r in got] == [r[:-1] for r in expected], "periods or slices differ" + shown
    for row, want in zip(got, expected, strict=True):
        value, wanted = row[-1], want[-1]
        if value is None or wanted is None:
            assert value is wanted, f"{row[:-1]}: {value} != {wanted}" + shown
        else:
            assert isinstance(value, float) and isinstance(wanted, float)
            assert math.isclose(value, wanted, rel_tol=1e-9, abs_tol=1e-9), (
                f"{row[:-1]}: {value} != {wanted}" + shown
            )


def params() -> list[Any]:
    """Each case on each engine: PostgreSQL ones marked, known engine bugs strict xfails."""
    out = []
    for case in CASES:
        for engine in ENGINES:
            marks: list[pytest.MarkDecorator] = []
            if engine == "postgres":
                marks.append(pytest.mark.postgres)
            if engine in case.bugs:
                marks.append(pytest.mark.xfail(strict=True, reason=case.bugs[engine]))
            out.append(pytest.param(case, engine, id=f"{case.id}-{engine}", marks=marks))
    return out


@pytest.fixture(scope="session")
def duckdb_con(warehouse: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    con = sandbox.open_snapshot(warehouse)  # the engines' configuration: one file, one database
    yield con
    con.close()


@pytest.fixture(scope="session")
def postgres_con(postgres: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    with psycopg.connect(postgres, autocommit=True) as con:
        yield con


def evaluated(case: Case, engine: Engine) -> Rows:
    """The case through ``Engine.evaluate`` on DuckDB."""
    frame = engine.evaluate(
        case.kpi,
        start=case.start,
        end=case.end,
        grain=case.grain,
        by=case.by,
        filters=case.filters,
        scope=case.scope,
    )
    return normalized(list(frame[["period", *case.by, "value"]].itertuples(index=False)))


def compiled_on_postgres(
    case: Case, engine: Engine, con: psycopg.Connection[tuple[object, ...]]
) -> Rows:
    """The case compiled by the engine for PostgreSQL and run there."""
    query = engine.query(
        start=case.start,
        end=case.end,
        grain=case.grain,
        by=case.by,
        filters=case.filters,
        scope=case.scope,
    )
    compiled = engine.compile(case.kpi, query)
    return normalized(con.execute(compiled.sql("postgres"), compiled.params).fetchall())


@pytest.mark.parametrize(("case", "engine"), params())
def test_case(case: Case, engine: str, case_engine: Engine, request: pytest.FixtureRequest) -> None:
    if engine == "duckdb":
        con: duckdb.DuckDBPyConnection = request.getfixturevalue("duckdb_con")
        got = evaluated(case, case_engine)
        expected = normalized(con.execute(case.check_sql(engine)).fetchall())
    else:
        pg: psycopg.Connection[tuple[object, ...]] = request.getfixturevalue("postgres_con")
        got = compiled_on_postgres(case, case_engine, pg)
        expected = normalized(pg.execute(case.check_sql(engine)).fetchall())
    assert_same_rows(got, expected)


def test_case_ids_are_unique_and_cover_every_kpi_type(case_engine: Engine) -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))
    kpis = [case_engine.kpis[c.kpi] for c in CASES]
    assert {k.TYPE for k in kpis} == set(m.KPI_TYPES)
    assert {k.measure.agg for k in kpis if isinstance(k, m.Simple)} == set(m.AGGREGATIONS)
    assert {c.grain for c in CASES} == set(m.GRAINS)


# -- scope against filter --------------------------------------------------------------------------

SCOPED_KPIS = {
    kpi: DANA
    for kpi in (
        "revenue",
        "median_invoice",
        "avg_check",
        "win_rate",
        "revenue_per_call",
        "revenue_growth_yoy",
        "revenue_change_pop",
        "revenue_ytd",
        "revenue_running",
        "clients_ytd",
        "line_revenue_qtd",
        "lead_to_win_30d",
        "revenue_vs_ly",
        "revenue_vs_prev_lfl",
        "first_category_buyers",
        "returning_clients",
        "reactivated_clients",
        "active_clients",
        "active_contacts",
    )
} | {"repeat_service_14d": FINN}
"""Each KPI, and the employee whose rows it has (service requests are the engineers')."""


@pytest.mark.parametrize("dimension", ["branch", "employee"])
@pytest.mark.parametrize("kpi", list(SCOPED_KPIS))
def test_scope_equals_the_same_filter(kpi: str, dimension: str, case_engine: Engine) -> None:
    """A row-level scope gives what the same filter gives, for every kind of KPI; and it
    changes the result, so the rows outside it would have counted."""
    member = DENVER if dimension == "branch" else SCOPED_KPIS[kpi]

    def run(**narrowed: Any) -> pd.DataFrame:
        return case_engine.evaluate(
            kpi, start=D("2025-01-01"), end=D("2025-06-30"), by=["branch", "employee"], **narrowed
        )

    scoped = run(scope={dimension: [member]})
    filtered = run(filters=[f"{dimension} = '{member}'"])
    everyone = run()
    assert not scoped.empty and set(scoped[dimension]) == {member}
    pd.testing.assert_frame_equal(scoped, filtered)
    assert len(everyone) > len(scoped)


@pytest.mark.parametrize(
    ("kpis", "by", "scope"),
    [
        pytest.param(
            [
                "revenue",
                "invoice_count",
                "invoiced_clients",
                "median_invoice",
                "key_account_revenue",
                "avg_check",
                "key_revenue_share",
            ],
            ["branch"],
            {"employee": [DANA, GUS]},
            id="invoice",
        ),
        pytest.param(["deal_count", "win_rate", "won_deals"], ["employee"], None, id="deal"),
        pytest.param(
            ["call_count", "revenue", "revenue_per_call", "revenue_ytd", "revenue_vs_ly"],
            ["client_segment"],
            None,
            id="mixed",
        ),
        pytest.param(
            [
                "new_clients",
                "first_category_buyers",
                "returning_clients",
                "reactivated_clients",
                "active_clients",
                "active_contacts",
                "revenue",
                "clients_ytd",
            ],
            ["branch"],
            {"employee": [DANA, GUS]},
            id="entities",
        ),
    ],
)
def test_kpis_evaluated_together_equal_each_alone(
    kpis: list[str],
    by: list[str],
    scope: Mapping[str, list[str]] | None,
    fresh_engine: Callable[[], Engine],
) -> None:
    """KPIs of one fact share a scan when asked together: the frame is the one each gives
    alone (each from an engine of its own, so no cache answers for another)."""

    def ask(ids: list[str]) -> pd.DataFrame:
        return fresh_engine().evaluate(
            ids, start=D("2024-12-01"), end=D("2025-04-20"), by=by, scope=scope
        )

    keys = ["kpi", "period", *by]
    together = ask(kpis).sort_values(keys, ignore_index=True)
    alone = pd.concat([ask([k]) for k in kpis]).sort_values(keys, ignore_index=True)
    pd.testing.assert_frame_equal(together, alone)


def test_local_days_by_hand(case_engine: Engine) -> None:
    """Calls land on the branch's local day, spelled out: Denver is UTC-7 until March 9,
    then UTC-6; Austin UTC-6, then UTC-5."""
    frame = case_engine.evaluate(
        "call_count", start=D("2024-12-31"), end=D("2025-03-11"), grain="day", by=["branch"]
    )
    got = {(p, b): v for p, b, v in frame[["period", "branch", "value"]].itertuples(index=False)}
    assert got == {
        (D("2024-12-31"), AUSTIN): 1.0,  # 2025-01-01 04:00 UTC is 22:00 on New Year's Eve
        (D("2025-01-06"), DENVER): 1.0,
        (D("2025-01-15"), AUSTIN): 2.0,
        (D("2025-01-31"), DENVER): 1.0,  # 2025-02-01 05:30 UTC is 22:30 on January 31
        (D("2025-02-05"), DENVER): 1.0,
        (D("2025-02-28"), DENVER): 1.0,  # 2025-03-01 03:00 UTC is 20:00 on February 28
        (D("2025-03-10"), DENVER): 1.0,  # 06:30 UTC is 00:30 MDT (23:30 on the 9th in MST)
    }


def test_a_request_filter_names_dimensions_not_related_tables(case_engine: Engine) -> None:
    """`client.segment` is for definitions; a request (`--where`, a dashboard) filters by the
    dimension that means it."""
    with pytest.raises(EvaluationError) as caught:
        case_engine.evaluate(
            "payment_days_late", start=D("2025-01-01"), end=D("2025-06-30"),
            filters=["client.segment = 'key'"],
        )  # fmt: skip
    assert str(caught.value) == (
        "filter \"client.segment = 'key'\": 'client.segment' is not a dimension"
        " — did you mean 'client_segment'? (dimensions: branch, region, employee, role, client,"
        " client_segment, client_kind, industry, client_city, channel, product, product_category,"
        " product_kind, warehouse, supplier)"
    )
