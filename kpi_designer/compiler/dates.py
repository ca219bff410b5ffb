"""Calendar arithmetic on the Python side: the first and last days of periods, months added
and offsets applied, for the values a statement binds as parameters."""

from __future__ import annotations

import calendar
import datetime as dt

from kpi_designer import model as m

GRAIN_MONTHS = {"month": 1, "quarter": 3, "year": 12}


def period_start(day: dt.date, grain: m.Grain) -> dt.date:
    if grain == "day":
        return day
    if grain == "week":
        return day - dt.timedelta(days=day.weekday())
    months = GRAIN_MONTHS[grain]
    month = (day.month - 1) // months * months + 1
    return dt.date(day.year, month, 1)


def period_end(day: dt.date, grain: m.Grain) -> dt.date:
    if grain == "day":
        return day
    if grain == "week":
        return period_start(day, grain) + dt.timedelta(days=6)
    first = period_start(day, grain)
    return add_months(first, GRAIN_MONTHS[grain]) - dt.timedelta(days=1)


def periods(start: dt.date, end: dt.date, grain: m.Grain) -> list[dt.date]:
    """The first days of the periods of ``grain`` that the days ``start`` to ``end`` touch."""
    out = []
    first = period_start(start, grain)
    while first <= end:
        out.append(first)
        first = period_end(first, grain) + dt.timedelta(days=1)
    return out


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` moved by whole months, kept in the month (Jan 31 + 1 month = Feb 28)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(day.day, last))


def shift(day: dt.date, offset: m.Span, grain: m.Grain, sign: int) -> dt.date:
    """``day`` moved by ``offset`` (``sign`` -1 back, +1 forward) at ``grain``."""
    days, months = offset_parts(offset, grain)
    return add_months(day, sign * months) + dt.timedelta(days=sign * days)


def offset_parts(offset: m.Span, grain: m.Grain) -> tuple[int, int]:
    """An offset as (days, months): weeks have no months, so a year at week grain is 52
    weeks, which keeps a Monday a Monday."""
    n = offset.count
    if offset.unit == "periods":
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
