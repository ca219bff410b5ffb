"""KPI definitions → SQL, built as sqlglot trees and rendered for DuckDB or PostgreSQL.

:func:`compile_kpi` turns one KPI and a :class:`Query` (period range, grain, slices, filters,
row-level scope) into a ``SELECT`` returning one row per period and slice: ``period`` (the first
day of the period, a ``DATE``), one column per dimension of ``by``, and ``value`` (``DOUBLE``).
Nothing is concatenated into SQL text: names are quoted identifiers, the range and the scope's
members are bound parameters (``$start`` in DuckDB, ``%(start)s`` in PostgreSQL), and the
expressions analysts wrote are sqlglot trees whose column names are rewritten to the tables
they live in.

How each type is computed:

- **simple**: the fact's rows in the range, placed on the branch's local day, filtered and
  scoped, grouped by period and slice. Simple KPIs of one fact and time column are computed in
  one scan when asked for together (:func:`compile_scan`), each aggregate with its own
  ``FILTER``.
- **ratio**: numerator and denominator over the same period and slice; when both are simple KPIs
  of one fact and time column, one scan, else two grouped queries joined. Always a ratio of the
  sums; a row where the numerator or the denominator has one.
- **derived**: each input grouped on its own, once (a materialized ``WITH``), joined on period
  and slice, the expression applied (a missing additive input is 0; division by 0 gives no
  value). An input with an offset is computed on the earlier range and met by the current
  period moved back.
- **cumulative**: a calendar of the range's periods (``core.dim_date``), each with the first day
  of its window, joined to the input's rows (additive ones first summed per day): exact for any
  aggregation. A distinct count instead counts a bit mask of months per value
  (:func:`types.cumulative.month_masks`) or adds and takes back each value's span
  (:func:`types.cumulative.distinct_spans`).
- **conversion**: each base event in the range, and whether the same entity has a conversion
  event within the window after it (times compared in UTC); within one fact's same rows, from
  each entity's next and previous row (:func:`types.conversion.repeats`).
- **entities**: the rows of the events facts up to the range's end, unscoped, each with its
  entity, local day, slice and whether it passes the request's filters and scope; an entity's
  first row (new), its first day (returning) or its days with events and the one before each
  (reactivated) decide which of the counted rows in the range count; each entity once per
  period and slice (:mod:`.types.entities`).
- **period over period**: the KPI now and the KPI over the range moved back by the comparison
  offset. Like-for-like keeps that moved range as is (the running period against as many days of
  the other, whole periods where the range ends on a period's last day); otherwise it is widened
  to whole periods, and a range starting on a period's first day is computed in one scan.

Where each part lives: :mod:`.query` (what is asked, what is answered), :mod:`.builder` (one
statement: parameters, and the reading of a fact every type starts from), :mod:`.columns`
(names in expressions → qualified columns and joins), :mod:`.zones` (local days), :mod:`.types`
(one module per KPI type), :mod:`.one_scan` (KPIs of one fact in one pass), :mod:`.rollups` and
:mod:`.planner` (KPIs evaluated together), :mod:`.dates` and :mod:`.trees` (small helpers).

At ``range`` grain the whole range is one period, whose ``period`` is the range's first day
(bound, like the range): a cumulative KPI counts up to the range's last day, a period-over-period
KPI compares with as many days just before the range, or with the range a year earlier.

KPIs evaluated together are planned together (:func:`plan`): a fact and time column that several
of their statements read is rolled up per local day once, into a table those statements read
instead (:class:`Rollup`), and the table of local days is made once for all. The tables are
temporary, or, in a :class:`Workspace`, visible to every connection of the database, so that the
statements reading them can run at once.
"""

from __future__ import annotations

from kpi_designer.compiler.dates import (
    GRAIN_MONTHS,
    add_months,
    one_period,
    period_end,
    period_start,
    periods,
    shift,
)
from kpi_designer.compiler.one_scan import scan_of
from kpi_designer.compiler.planner import Plan, compile_kpi, compile_scan, plan
from kpi_designer.compiler.query import (
    Compiled,
    Query,
    check_query,
    parse_filter,
    sql_literal,
)
from kpi_designer.compiler.rollups import Rollup, Workspace
from kpi_designer.compiler.zones import ZONE_DAYS
from kpi_designer.dialects import DIALECTS

__all__ = [
    "DIALECTS",
    "GRAIN_MONTHS",
    "ZONE_DAYS",
    "Compiled",
    "Plan",
    "Query",
    "Rollup",
    "Workspace",
    "add_months",
    "check_query",
    "compile_kpi",
    "compile_scan",
    "one_period",
    "parse_filter",
    "period_end",
    "period_start",
    "periods",
    "plan",
    "scan_of",
    "shift",
    "sql_literal",
]
