"""Time zones: fact rows stored in UTC, counted on their branch's local day.

A KPI's periods are the branch's local days (an invoice dated 22:30 on January 31 in Denver is
January's, though February in UTC). Converting every row with ``AT TIME ZONE`` is the dearest
part of many a KPI, so a query looks days up instead, in :data:`ZONE_DAYS`: one line per branch
and UTC date, with the local day at that date's midnight and the two instants after it where a
new local day starts. :class:`~kpi_designer.compiler.columns.Columns` joins it per row; the
table is defined in front of a statement, or made once for all the statements of an evaluation
(:func:`kpi_designer.compiler.planner.plan`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlglot import exp

from kpi_designer.compiler.trees import (
    add_join,
    as_date,
    cast_to,
    col,
    core_table,
    ident,
    sql_interval,
)

ZONE_DAYS = "zone_days"
"""The query's table of local days per branch and UTC date (see :func:`local_day`)."""


def zone_days(
    param: Callable[[str, object], exp.Placeholder], first: dt.date | None, last: dt.date
) -> exp.Select:
    """The :data:`ZONE_DAYS` table: one line per branch and UTC date from ``first`` (``None``:
    from the calendar's first day) to ``last``, a day more each side; ``param`` binds values."""
    day = col("calendar_date", "d")
    zone = exp.Coalesce(this=col("timezone", "b"), expressions=[exp.Literal.string("UTC")])
    dated = exp.select(
        exp.alias_(col("branch_id", "b"), ident("branch_id"), copy=False),
        exp.alias_(day, ident("utc_date"), copy=False),
        exp.alias_(zone, ident("zone"), copy=False),
        exp.alias_(
            to_local_day(cast_to(day.copy(), "TIMESTAMP"), zone.copy()), "day_0", copy=False
        ),
    ).from_(core_table("dim_branch", "b"), copy=False)
    dated = add_join(dated, core_table("dim_date", "d"), side="CROSS")
    low = None
    if first is not None:
        low = param("zone_from", first - dt.timedelta(days=1))
    high = param("zone_to", last + dt.timedelta(days=2))
    dated = dated.where(
        exp.Between(this=day.copy(), low=low, high=high)
        if low is not None
        else exp.LTE(this=day.copy(), expression=high),
        copy=False,
    )
    outputs: list[exp.Expr] = [col("branch_id"), col("utc_date"), col("day_0")]
    for n in (1, 2):
        later = exp.Add(this=col("day_0"), expression=exp.Literal.number(n))
        outputs.append(exp.alias_(later, ident(f"day_{n}"), copy=False))
        # the instant, in UTC, where that local day starts
        midnight = exp.AtTimeZone(this=cast_to(later.copy(), "TIMESTAMP"), zone=col("zone"))
        utc = exp.AtTimeZone(this=midnight, zone=exp.Literal.string("UTC"))
        outputs.append(exp.alias_(cast_to(utc, "TIMESTAMP"), ident(f"cut_{n}"), copy=False))
    return exp.select(*outputs).from_(dated.subquery(ident("zd"), copy=False), copy=False)


def reads_zone_days(select: exp.Select) -> bool:
    """Whether a part of ``select`` reads :data:`ZONE_DAYS`."""
    return any(t.name == ZONE_DAYS for t in select.find_all(exp.Table))


def local_day(moment: exp.Column, zone_days: str, branch_zone: exp.Expr) -> exp.Expr:
    """The local day of ``moment`` (a UTC timestamp column), looked up in the line of
    :data:`ZONE_DAYS` joined as ``zone_days`` for its branch and UTC date: the last of the
    line's days whose start it has passed (two starts: a short local day can lie wholly inside
    a UTC one). A row the table has no line for (its branch unknown, its date outside the
    table) is converted in ``branch_zone``."""
    looked_up = exp.Case(
        ifs=[
            exp.If(
                this=exp.GTE(this=moment.copy(), expression=col(f"cut_{n}", zone_days)),
                true=col(f"day_{n}", zone_days),
            )
            for n in (2, 1)
        ],
        default=col("day_0", zone_days),
    )
    return exp.Coalesce(this=looked_up, expressions=[to_local_day(moment.copy(), branch_zone)])


def in_days(moment: exp.Column, day: exp.Expr, start: exp.Expr, end: exp.Expr) -> list[exp.Expr]:
    """Conditions for a row stored at ``moment`` (UTC) whose local ``day`` is in [start, end].

    The local day is only computed where it can matter: a row stored more than a day inside
    the range is in it in any time zone (offsets stay within ±14 hours), one more than a day
    outside is not (:func:`near`); only the rows near either end are placed on their local day.
    """
    inside = exp.and_(
        exp.GTE(this=moment.copy(), expression=moved_day(start, 1)),
        exp.LT(this=moment.copy(), expression=moved_day(end, 0)),
        copy=False,
    )
    near_an_end = exp.Between(this=day, low=start, high=end)
    return [
        *near(moment, start, end),
        exp.paren(exp.or_(exp.paren(inside, copy=False), near_an_end, copy=False), copy=False),
    ]


def near(moment: exp.Column, start: exp.Expr, end: exp.Expr) -> list[exp.Expr]:
    """Rows stored (in UTC) from a day before ``start`` to two days after ``end`` begins:
    every row whose local day is in [start, end] in any time zone (offsets stay within ±14
    hours), in plain bounds the engine can skip whole blocks of rows by."""
    return [
        exp.GTE(this=moment.copy(), expression=moved_day(start, -1)),
        exp.LT(this=moment.copy(), expression=moved_day(end, 2)),
    ]


def moved_day(day: exp.Expr, days: int) -> exp.Expr:
    """Midnight UTC starting ``day``, moved by ``days``."""
    moment = cast_to(day.copy(), "TIMESTAMP")
    if days < 0:
        return exp.Sub(this=moment, expression=sql_interval(-days, 0))
    if days > 0:
        return exp.Add(this=moment, expression=sql_interval(days, 0))
    return moment


def to_local_day(moment: exp.Expr, zone: exp.Expr) -> exp.Expr:
    """A UTC timestamp's day in ``zone``, converted."""
    utc = exp.AtTimeZone(this=moment, zone=exp.Literal.string("UTC"))
    return as_date(exp.AtTimeZone(this=utc, zone=zone))
