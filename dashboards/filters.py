"""The global filters every page reads, kept in the URL's query string.

``?period=last_month&branch=denver&employee=E017&compare=last_year`` — a view is bookmarked and
shared by its address, and the browser's back button undoes a filter change (the shell pushes
each change as a new history entry). A value that is not allowed (an unknown preset, a branch
that does not exist, a date that is not one) is not guessed at: :func:`parse` keeps the default
and says what it ignored, and the page shows that message above its numbers.

The period is what :func:`reports.params.resolve_period` reads: a preset resolved against the
data's last day (``last_month``), or a range ``2026-01-01..2026-03-31``, a month ``2026-03``, a
quarter ``2026-Q1`` or a year ``2026``. The comparison is the plan, the period just before (as
long), or the same days a year earlier.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlencode

from reports.params import MAX_LENGTH, PRESETS, resolve_period

if TYPE_CHECKING:
    from reports.model import Report

DEFAULT_PERIOD = "month_to_date"
COMPARISONS = {"plan": "Plan", "previous": "Previous period", "last_year": "Last year"}
DEFAULT_COMPARISON = "plan"
PRESET_LABELS = {
    "yesterday": "Yesterday",
    "last_7_days": "Last 7 days",
    "last_30_days": "Last 30 days",
    "last_week": "Last week",
    "month_to_date": "Month to date",
    "last_month": "Last month",
    "quarter_to_date": "Quarter to date",
    "last_quarter": "Last quarter",
    "year_to_date": "Year to date",
    "last_year": "Last year",
    "last_12_months": "Last 12 months",
}
assert set(PRESET_LABELS) == set(PRESETS)
KEYS = ("period", "branch", "employee", "compare")


@dataclass(frozen=True)
class Filters:
    """The filters of one view, resolved: the period's days, and what each filter names."""

    period: str
    start: dt.date
    end: dt.date
    branch: str | None = None
    employee: str | None = None
    compare: str = DEFAULT_COMPARISON
    ignored: tuple[str, ...] = field(default=(), compare=False)
    """What the address asked for that could not be used, each in one sentence."""
    branches: tuple[str, ...] = field(default=(), compare=False)
    """Every branch the viewer may choose: "all branches" is all of these."""
    within: tuple[tuple[str, tuple[str, ...]], ...] | None = field(default=None, compare=False)
    """The viewer's own scope (``None``: every row), which :meth:`scope` never widens."""

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def scope(self) -> dict[str, list[str]]:
        """The filters as the row-level scope the engine and the runner apply inside their SQL,
        so plans follow: one branch's view shows that branch's plan, and "all branches" (every
        branch the viewer may see) the sum of their plans when each has one — the company's
        plan is its branches' plans. Every row of the model has a branch, so the numbers are
        the same as with no scope at all.

        The scope is never wider than the viewer's (``within``): an employee viewer's is
        always their own rows, also with the employee filter taken away (a page's peers), and
        a branch head's with no branch chosen is their branches."""
        mine = dict(self.within) if self.within is not None else None
        if mine is not None and "employee" in mine:
            return {"employee": list(mine["employee"])}
        if self.employee:  # an employee is in one branch: their rows and their own plans
            return {"employee": [self.employee]}
        if mine is not None and not (self.branch and self.branch in mine.get("branch", ())):
            return {k: list(v) for k, v in mine.items()}
        scope: dict[str, list[str]] = {}
        if self.branch:
            scope["branch"] = [self.branch]
        elif self.branches:
            scope["branch"] = list(self.branches)
        return scope

    def everything(self) -> bool:
        """Whether the view is every row: a viewer who sees every row, and no branch or
        employee chosen."""
        return self.within is None and not self.branch and not self.employee

    def report_scope(self, report: Report) -> dict[str, list[str]] | None:
        """The scope a catalog report runs under. None for a company-wide report (which only
        a viewer of every row may run: :func:`dashboards.access.may_run`), and none for an
        SQL report when the view is every row, so its header names no scope rather than
        every branch; otherwise :meth:`scope` — a KPI or scorecard report's plans for "all
        branches" are its branches' plans, as on the pages (the company has no plan of its
        own)."""
        if report.scope == "company":
            return None
        if report.sql is not None and self.everything():
            return None
        return self.scope() or None

    def previous(self) -> tuple[dt.date, dt.date]:
        """The period just before: whole months the same number of months earlier (October
        against September), any other range the same number of days."""
        months = _whole_months(self.start, self.end)
        if months:
            first = _add_months(self.start, -months)
            return first, self.start - dt.timedelta(days=1)
        return self.start - dt.timedelta(days=self.days), self.start - dt.timedelta(days=1)

    def last_year(self) -> tuple[dt.date, dt.date]:
        """The same days a year earlier (29 February becomes the 28th)."""
        return _year_before(self.start), _year_before(self.end)

    def compared(self) -> tuple[dt.date, dt.date] | None:
        """The comparison's period; ``None`` when comparing with the plan."""
        if self.compare == "previous":
            return self.previous()
        if self.compare == "last_year":
            return self.last_year()
        return None

    def period_text(self) -> str:
        """How the period reads in a title: ``Month to date (2026-10-01 – 2026-10-31)``."""
        days = f"{self.start.isoformat()} – {self.end.isoformat()}"
        label = PRESET_LABELS.get(self.period)
        return f"{label} ({days})" if label else days

    def search(self, **changes: str | None) -> str:
        """The query string of these filters (with ``changes``), defaults left out."""
        return to_search(self, keep=None, **changes)


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def _whole_months(start: dt.date, end: dt.date) -> int:
    """How many calendar months ``start`` to ``end`` spans exactly; 0 when it is not whole."""
    after = end + dt.timedelta(days=1)
    if start.day != 1 or after.day != 1:
        return 0
    return (after.year - start.year) * 12 + after.month - start.month


def _year_before(day: dt.date) -> dt.date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:
        return day.replace(year=day.year - 1, day=28)


def query_values(search: str | None) -> dict[str, str]:
    """The first value of each known key of a query string (``?a=1&b=2`` or ``a=1``)."""
    text = (search or "").lstrip("?")
    parsed = parse_qs(text, keep_blank_values=False, max_num_fields=50)
    return {k: v[0] for k, v in parsed.items() if k in KEYS and v}


def parse(
    search: str | None,
    *,
    data_end: dt.date | None,
    branches: Sequence[str] = (),
    employees: Sequence[str] = (),
    within: Mapping[str, Sequence[str]] | None = None,
) -> Filters:
    """The filters a query string asks for. ``branches`` and ``employees`` are the ids the
    viewer may choose (all that exist for a viewer of every row); anything else is ignored
    with a message rather than run. ``within`` is the viewer's own scope (``None``: every
    row): a value outside it is named as not theirs (never as not existing), and an employee
    viewer's employee is themselves. ``data_end`` is the data's last day (``None``: no data
    yet, and the period is the current month)."""
    values = query_values(search)
    ignored: list[str] = []
    end_of_data = data_end or dt.date.today()
    own = next(iter(within.get("employee", ()))) if within and within.get("employee") else None

    period = values.get("period", DEFAULT_PERIOD).strip()
    try:
        if len(period) > MAX_LENGTH:
            raise ValueError("the period is too long")
        start, end = resolve_period(period, end_of_data)
    except ValueError as exc:
        ignored.append(f"period: {_short(str(exc))}; showing {PRESET_LABELS[DEFAULT_PERIOD]}")
        period = DEFAULT_PERIOD
        start, end = resolve_period(period, end_of_data)

    branch = values.get("branch") or None
    if branch is not None and branch not in branches:
        if within is None:
            ignored.append(f"branch: no branch {_short(branch)!r}; showing all branches")
        else:
            yours = "your own numbers" if own else ", ".join(branches) or "nothing"
            ignored.append(
                f"branch: {_short(branch)!r} is not among your branches; showing {yours}"
            )
        branch = None
    employee = values.get("employee") or None
    if employee is not None and employee not in employees:
        if within is None:
            ignored.append(f"employee: no employee {_short(employee)!r} here; showing everyone")
        else:
            yours = "your own numbers" if own else "everyone you may see"
            ignored.append(
                f"employee: {_short(employee)!r} is not among the employees you may see; "
                f"showing {yours}"
            )
        employee = None
    if own is not None:
        employee = own

    compare = values.get("compare", DEFAULT_COMPARISON)
    if compare not in COMPARISONS:
        ignored.append(f"compare: {_short(compare)!r} is not one of {', '.join(COMPARISONS)}")
        compare = DEFAULT_COMPARISON
    kept = None if within is None else tuple(sorted((k, tuple(v)) for k, v in within.items()))
    return Filters(
        period, start, end, branch, employee, compare, tuple(ignored), tuple(branches), kept
    )


def page_values(search: str | None) -> dict[str, str]:
    """The keys of a query string that are not global filters: a page's own (``role=``,
    ``report=``), kept when a filter changes."""
    parsed = parse_qs((search or "").lstrip("?"), keep_blank_values=False, max_num_fields=50)
    return {k: v[0] for k, v in parsed.items() if k not in KEYS and v}


def to_search(
    filters: Filters | Mapping[str, str | None],
    *,
    keep: Mapping[str, str] | None = None,
    **changes: str | None,
) -> str:
    """``?period=…&branch=…``: the filters that differ from their defaults (``""`` when none),
    then the page's own keys ``keep``."""
    if isinstance(filters, Filters):
        values: dict[str, str | None] = {
            "period": filters.period,
            "branch": filters.branch,
            "employee": filters.employee,
            "compare": filters.compare,
        }
    else:
        values = dict(filters)
    values.update(changes)
    defaults = {"period": DEFAULT_PERIOD, "compare": DEFAULT_COMPARISON}
    kept = {k: v for k in KEYS if (v := values.get(k)) and v != defaults.get(k)}
    kept.update(keep or {})
    return "?" + urlencode(kept) if kept else ""


def with_changes(filters: Filters, **changes: str | None) -> Filters:
    return replace(filters, **changes)  # type: ignore[arg-type]


def _short(text: str) -> str:
    return text if len(text) <= 60 else text[:60] + "…"
