"""Words pages put into their titles and empty states: whose numbers these are.

"No deliveries in this period for Austin — widen the period" names the view the reader chose,
so an empty chart says why it is empty rather than looking broken (``DESIGN.md``, "States").
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dashboards.data import Data
    from dashboards.filters import Filters


def month_text(day: dt.date) -> str:
    """``Oct 2026``: a month as titles and axes name it."""
    return day.strftime("%b %Y")


def whose(branch: str | None, employee: str | None) -> str:
    """`` for Austin``, `` for Wei Nguyen (Austin)``, or nothing for everyone."""
    if employee and branch:
        return f" for {employee} ({branch})"
    if employee or branch:
        return f" for {employee or branch}"
    return ""


def scope_words(data: Data, filters: Filters) -> str:
    """:func:`whose` for the filters' branch and employee, by their names."""
    branch = (
        dict(data.branches()).get(filters.branch or "", filters.branch) if filters.branch else None
    )
    employee = None
    if filters.employee:
        employee = dict(data.employees(filters.branch)).get(filters.employee, filters.employee)
    return whose(branch, employee)
