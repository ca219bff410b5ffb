"""Time helpers for the demo generator: the 24 months, working hours, censoring at the end.

All times are whole seconds since the Unix epoch in ``int64`` arrays while generating, and become
``datetime64[s]`` (UTC, naive) only when a table's frame is built.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kpiboard.demo.arrays import BoolArray, IntArray
from kpiboard.demo.company import MONTHS, REFERENCE_DATE

DAY = 86_400
HOUR = 3_600
NAT = np.iinfo(np.int64).min
"""Marks a missing time in an ``int64`` array (becomes NULL)."""

END = int(dt.datetime(2026, 11, 1, tzinfo=dt.UTC).timestamp())
"""The first second after the data: everything that happens at or after it is censored."""
assert dt.datetime.fromtimestamp(END, dt.UTC).date() == REFERENCE_DATE + dt.timedelta(days=1)


def epoch(day: dt.date) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp())


@dataclass(frozen=True)
class Month:
    index: int  # 0 for the first month of the data
    start: int  # epoch seconds
    end: int  # epoch seconds, exclusive
    calendar_month: int  # 1..12
    workdays: IntArray  # epoch seconds of each Monday-to-Friday day in the month

    @property
    def label(self) -> str:
        return dt.datetime.fromtimestamp(self.start, dt.UTC).strftime("%Y-%m")

    def random_times(
        self, rng: np.random.Generator, n: int, workday_share: float = 0.96
    ) -> IntArray:
        """Times of ``n`` business events: mostly workdays 08:00-18:00, a few at weekends."""
        days_in_month = (self.end - self.start) // DAY
        on_workday = rng.random(n) < workday_share
        day = np.where(
            on_workday,
            rng.choice(self.workdays, size=n),
            self.start + rng.integers(0, days_in_month, size=n) * DAY,
        )
        seconds = rng.normal(13 * HOUR, 2.6 * HOUR, size=n).clip(8 * HOUR, 18 * HOUR - 1)
        return np.sort(day + seconds.astype(np.int64))


def months() -> list[Month]:
    """The demo's months, oldest first, ending with the month of :data:`REFERENCE_DATE`."""
    out: list[Month] = []
    year, month = REFERENCE_DATE.year, REFERENCE_DATE.month
    for _ in range(MONTHS):
        out.append(_month(year, month))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    out.reverse()
    return [Month(i, m.start, m.end, m.calendar_month, m.workdays) for i, m in enumerate(out)]


def _month(year: int, month: int) -> Month:
    first = dt.date(year, month, 1)
    nxt = dt.date(year + (month == 12), month % 12 + 1, 1)
    days = [first + dt.timedelta(days=i) for i in range((nxt - first).days)]
    workdays = np.array([epoch(d) for d in days if d.weekday() < 5], dtype=np.int64)
    return Month(0, epoch(first), epoch(nxt), month, workdays)


def censor(times: IntArray) -> IntArray:
    """Times at or after the end of the data have not happened yet: they become missing."""
    return np.where(times < END, times, NAT)


def happened(times: IntArray) -> BoolArray:
    return (times != NAT) & (times < END)


def latest(*columns: IntArray) -> IntArray:
    """Row-wise latest of several time columns, ignoring missing ones (for ``updated_at``)."""
    stacked = np.vstack(columns)
    return stacked.max(axis=0)


def to_datetime(times: IntArray) -> npt.NDArray[np.datetime64]:
    out = times.astype("datetime64[s]")
    out[times == NAT] = np.datetime64("NaT")
    return out


def to_date(times: IntArray) -> npt.NDArray[np.datetime64]:
    out = (times // DAY).astype("datetime64[D]")
    out[times == NAT] = np.datetime64("NaT")
    return out


OPENS = 8 * HOUR
CLOSES = 18 * HOUR
"""The office's working hours, Monday to Friday, as :meth:`Month.random_times` draws them."""


def working_time_after(times: IntArray, seconds: IntArray) -> IntArray:
    """The moment ``seconds`` of working time after each time.

    The clock runs only Monday to Friday between :data:`OPENS` and :data:`CLOSES`: a time outside
    those hours starts at the next opening (Friday evening waits for Monday morning), and what
    does not fit into a day goes on the next working day.
    """
    day = times // DAY
    as_days = day.astype("datetime64[D]")
    open_later_today = np.is_busday(as_days) & (times - day * DAY < CLOSES)
    next_day = np.busday_offset(as_days, 1, roll="backward").astype(np.int64)
    start = np.where(open_later_today, np.maximum(times, day * DAY + OPENS), next_day * DAY + OPENS)
    start_day = start // DAY
    left_today = start_day * DAY + CLOSES - start
    rest = seconds - left_today
    workday = CLOSES - OPENS
    end_day = np.busday_offset(
        start_day.astype("datetime64[D]"), 1 + np.maximum(rest, 0) // workday
    ).astype(np.int64)
    return np.where(
        rest < 0, start + seconds, end_day * DAY + OPENS + np.maximum(rest, 0) % workday
    )


def workday_after(times: IntArray, days: IntArray) -> IntArray:
    """The day ``days`` working days after each time, at the same time of day."""
    as_days = (times // DAY).astype("datetime64[D]")
    moved = np.busday_offset(as_days, days, roll="forward")
    return moved.astype(np.int64) * DAY + times % DAY
