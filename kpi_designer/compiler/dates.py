"""Calendar arithmetic on the Python side: the first and last days of periods, months added
and offsets applied, for the values a statement binds as parameters.

At ``range`` grain the one period is the range asked for itself, which the grain alone does
not say: the functions that need it take the range as ``within`` (first and last day)."""

from __future__ import annotations

import calendar
import datetime as dt

from kpi_designer import model as m

GRAIN_MONTHS = {"month": 1, "quarter": 3, "year": 12}

Days = tuple[dt.date, dt.date]
"""A range of days, first and last."""


def period_start(day: dt.date, grain: m.Grain, within: Days | None = None) -> dt.date:
    """The first day of ``day``'s period; at ``range`` grain the range's first day."""
    if grain == "range":
        return _the_range(within)[0]
    if grain == "day":
        return day
    if grain == "week":
        return day - dt.timedelta(days=day.weekday())
    months = GRAIN_MONTHS[grain]
    month = (day.month - 1) // months * months + 1
    return dt.date(day.year, month, 1)


def period_end(day: dt.date, grain: m.Grain, within: Days | None = None) -> dt.date:
    """The last day of ``day``'s period; at ``range`` grain the range's last day."""
    if grain == "range":
        return _the_range(within)[1]
    if grain == "day":
        return day
    if grain == "week":
        return period_start(day, grain) + dt.timedelta(days=6)
    first = period_start(day, grain)
    return add_months(first, GRAIN_MONTHS[grain]) - dt.timedelta(days=1)


def periods(start: dt.date, end: dt.date, grain: m.Grain) -> list[dt.date]:
    """The first days of the periods of ``grain`` that the days ``start`` to ``end`` touch; at
    ``range`` grain the one period, the range itself."""
    if grain == "range":
        return [start]
    out = []
    first = period_start(start, grain)
    while first <= end:
        out.append(first)
        first = period_end(first, grain) + dt.timedelta(days=1)
    return out


def one_period(start: dt.date, end: dt.date) -> m.PeriodGrain | None:
    """The grain of which the days ``start`` to ``end`` are exactly one period, if any (a
    range of January 1 to March 31 is a quarter)."""
    for grain in m.PERIOD_GRAINS:
        if period_start(start, grain) == start and period_end(start, grain) == end:
            return grain
    return None


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` moved by whole months, kept in the month (Jan 31 + 1 month = Feb 28)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(day.day, last))


def shift(
    day: dt.date, offset: m.Span, grain: m.Grain, sign: int, within: Days | None = None
) -> dt.date:
    """``day`` moved by ``offset`` (``sign`` -1 back, +1 forward) at ``grain``."""
    days, months = offset_parts(offset, grain, within)
    return add_months(day, sign * months) + dt.timedelta(days=sign * days)


def offset_parts(offset: m.Span, grain: m.Grain, within: Days | None = None) -> tuple[int, int]:
    """An offset as (days, months): weeks have no months, so a year at week grain is 52
    weeks, which keeps a Monday a Monday. At ``range`` grain a period is as many days as the
    range ``within`` has: the previous period is the same number of days just before it."""
    n = offset.count
    if offset.unit == "periods":
        if grain == "range":
            first, last = _the_range(within)
            return n * ((last - first).days + 1), 0
        if grain == "day":
            return n, 0
        if grain == "week":
            return 7 * n, 0
        return 0, n * GRAIN_MONTHS[grain]
    if offset.unit == "years":
        return (364 * n, 0) if grain == "week" else (0, 12 * n)
    if offset.unit == "months":
        return 0, n
    if offset.unit == "weeks":
        return 7 * n, 0
    return n, 0


def month_index(day: dt.date) -> int:
    return day.year * 12 + day.month


def _the_range(within: Days | None) -> Days:
    if within is None:
        raise ValueError("at range grain the period is the range: pass it as within")
    return within
