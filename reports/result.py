"""What the runner hands the renderers, and the one table layout they all print.

:class:`Result` is a report's answer: the definition, the parameters as shown, the query's
frame (shown and hidden columns) and when the data is from. :func:`layout` turns it into a
:class:`Table` — the header and the rows in order, with a subtotal row after each group and the
grand total row, every cell typed (its value) and read (its text, by :mod:`reports.formats`).
HTML, PDF and XLSX print this same table, so all three show the same rows and the same totals.

Ordering: the report's ``sort`` keys are applied one after another, stably, with missing values
last whichever the direction; a ``group`` then orders the groups by their value (missing last)
keeping that order inside each group. Without ``sort`` the query's order stands.

Totals: ``sum``, ``avg``, ``min``, ``max`` of a column's values, ``count`` of its non-missing
values, or ``{ratio: [a, b]}`` = sum(a) / sum(b) over the rows (a rate's total is never the sum
or the mean of the rates); ``a`` and ``b`` may be hidden columns. Missing values are left out of
every total. A money total over rows in more than one currency is missing (it would mean
nothing).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from reports import formats
from reports.model import Column, Report, SortKey, Total

if TYPE_CHECKING:
    import pandas as pd

Kind = Literal["row", "subtotal", "total"]
Align = Literal["left", "right"]

CURRENCY_COLUMN = "currency"
"""The hidden column a report returns with each row's currency code (where money is shown)."""
TOTAL_LABEL = "Total"


@dataclass(frozen=True)
class Result:
    """A report run: everything a renderer needs, and nothing it has to query."""

    report: Report
    parameters: tuple[tuple[str, str], ...]
    """(label, value as shown) in declared order, the scope last."""
    frame: pd.DataFrame
    """Every column the query returned, shown and hidden."""
    columns: tuple[Column, ...]
    """The columns shown, in order."""
    currency: str
    """The company's currency code: money in a row without a ``currency`` column reads in it."""
    snapshot_at: dt.datetime
    """When the published snapshot was built (UTC)."""
    data_end: dt.date | None
    company: str
    query_seconds: float


@dataclass(frozen=True)
class Cell:
    """One cell: ``value`` is typed (a number, a date, text, ``None`` when missing) for XLSX and
    CSV; ``text`` is how it reads. ``label`` marks a subtotal or total row's caption."""

    value: Any
    text: str
    align: Align
    format: str
    currency: str | None = None
    label: bool = False

    @property
    def missing(self) -> bool:
        return self.value is None and not self.label and self.text == formats.EM_DASH


@dataclass(frozen=True)
class Heading:
    name: str
    label: str
    format: str
    align: Align


@dataclass(frozen=True)
class Row:
    kind: Kind
    cells: tuple[Cell, ...]
    group: str | None = None
    """A subtotal row's group, as it reads."""


@dataclass(frozen=True)
class Table:
    header: tuple[Heading, ...]
    rows: tuple[Row, ...]

    @property
    def data_rows(self) -> tuple[Row, ...]:
        return tuple(row for row in self.rows if row.kind == "row")

    @property
    def total(self) -> Row | None:
        return next((row for row in self.rows if row.kind == "total"), None)

    @property
    def empty(self) -> bool:
        return not self.data_rows


def align_of(fmt: str) -> Align:
    """Numbers right, text and dates left."""
    return "left" if fmt in ("text", "date", "month", "datetime", "status") else "right"


def plain(value: Any, fmt: str = "text") -> Any:
    """A frame's cell as a plain Python value: numpy scalars unwrapped, missing as ``None``,
    timestamps as ``datetime`` (and as ``date`` in a ``date`` column)."""
    if formats.is_missing(value):
        return None
    if hasattr(value, "to_pydatetime"):  # pandas Timestamp
        value = value.to_pydatetime()
    elif hasattr(value, "item") and not isinstance(value, str | bytes | Decimal):  # numpy scalar
        value = value.item()
        if isinstance(value, int) and fmt in ("date", "month", "datetime"):
            return value  # a datetime64 in nanoseconds would need a unit: keep it as is
    if isinstance(value, dt.timedelta) and fmt in ("duration", "number", "count", "days"):
        value = value.total_seconds() if fmt == "duration" else value / dt.timedelta(days=1)
    if fmt in ("date", "month") and isinstance(value, dt.datetime):
        return value.date()
    return value


def records(result: Result) -> list[dict[str, Any]]:
    """The frame's rows as dicts of plain values (every column, hidden ones too), query order."""
    frame = result.frame
    fmt = {c.name: c.format for c in result.columns}
    names = [str(name) for name in frame.columns]
    out: list[dict[str, Any]] = []
    for values in frame.itertuples(index=False, name=None):
        out.append(
            {
                name: plain(value, fmt.get(name, "text"))
                for name, value in zip(names, values, strict=True)
            }
        )
    return out


def _compare_key(value: Any) -> Any:
    # numbers of different kinds compare; anything else that cannot compare falls back to text
    if isinstance(value, bool):
        return (0, int(value))
    if isinstance(value, int | float | Decimal):
        return (0, value)
    if isinstance(value, dt.datetime):
        return (1, value.replace(tzinfo=None) if value.tzinfo else value)
    if isinstance(value, dt.date):
        return (1, dt.datetime(value.year, value.month, value.day))
    return (2, str(value))


def stable_sort(
    rows: Sequence[dict[str, Any]], column: str, *, descending: bool = False
) -> list[dict[str, Any]]:
    """``rows`` ordered by ``column``, equal values keeping their order, missing values last."""
    present = [row for row in rows if row.get(column) is not None]
    missing = [row for row in rows if row.get(column) is None]
    present.sort(key=lambda row: _compare_key(row[column]), reverse=descending)
    return present + missing


def apply_sort(rows: Sequence[dict[str, Any]], keys: Iterable[SortKey]) -> list[dict[str, Any]]:
    """Rows in the order of ``keys`` (the first key decides first); stable, missing last."""
    ordered = list(rows)
    for key in reversed(tuple(keys)):
        ordered = stable_sort(ordered, key.column, descending=key.descending)
    return ordered


def ordered_records(result: Result) -> list[dict[str, Any]]:
    """The rows in the report's sort order (no grouping): what a chart's ``limit`` cuts."""
    return apply_sort(records(result), result.report.sort)


def _numbers(rows: Sequence[dict[str, Any]], column: str) -> list[Any]:
    values = [row.get(column) for row in rows]
    return [v for v in values if v is not None]


def _sum(values: Sequence[Any]) -> Any:
    if not values:
        return None
    if any(isinstance(v, float) for v in values) and any(isinstance(v, Decimal) for v in values):
        return sum(float(v) for v in values)
    return sum(values)


def _divide(a: Any, b: Any) -> Any:
    if a is None or b is None or b == 0:
        return None
    if isinstance(a, Decimal) != isinstance(b, Decimal):
        return float(a) / float(b)  # Decimal and float do not divide
    return a / b


def total_value(rows: Sequence[dict[str, Any]], total: Total) -> Any:
    """One total over ``rows`` (see the module's docstring)."""
    if total.ratio is not None:
        numerator, denominator = total.ratio
        return _divide(_sum(_numbers(rows, numerator)), _sum(_numbers(rows, denominator)))
    values = _numbers(rows, total.column)
    if total.how == "count":
        return len(values)
    if not values:
        return None
    if total.how == "sum":
        return _sum(values)
    if total.how == "avg":
        return _divide(_sum(values), len(values))
    if total.how == "min":
        return min(values, key=_compare_key)
    if total.how == "max":
        return max(values, key=_compare_key)
    raise ValueError(f"unknown total {total.how!r} for column {total.column!r}")


def total_format(column: Column, total: Total) -> str:
    """A count total reads as a count whatever its column; a mean of counts has decimals."""
    if total.how == "count":
        return "count"
    if total.how == "avg" and column.format == "count":
        return "number"
    return column.format


def value_cell(value: Any, fmt: str, currency: str | None) -> Cell:
    """A cell of a value in format ``fmt`` (``currency``: the money's, when it is money)."""
    return Cell(
        value=value,
        text=formats.format_value(value, fmt, currency),
        align=align_of(fmt),
        format=fmt,
        currency=currency if fmt == "money" else None,
    )


class _Layout:
    def __init__(self, result: Result) -> None:
        self.result = result
        self.columns = result.columns
        self.totals = {t.column: t for t in result.report.totals}
        self.label_at = next(
            (i for i, c in enumerate(self.columns) if c.name not in self.totals), None
        )

    def currency(self, row: dict[str, Any]) -> str:
        code = row.get(CURRENCY_COLUMN)
        return str(code) if code else self.result.currency

    def data_row(self, row: dict[str, Any]) -> Row:
        currency = self.currency(row)
        cells = []
        for column in self.columns:
            value = row.get(column.name)
            # a KPI's value reads by its own unit, in a column of several KPIs
            fmt = formats.unit_format(row.get("unit")) if column.format == "unit" else column.format
            cells.append(value_cell(value, fmt, currency))
        return Row("row", tuple(cells))

    def total_row(
        self, rows: Sequence[dict[str, Any]], kind: Kind, label: str, group: str | None = None
    ) -> Row:
        currencies = {self.currency(row) for row in rows}
        currency = currencies.pop() if len(currencies) == 1 else None
        cells = []
        for i, column in enumerate(self.columns):
            total = self.totals.get(column.name)
            if total is None:
                is_label = i == self.label_at
                cells.append(
                    Cell(
                        value=label if is_label else None,
                        text=label if is_label else "",
                        align="left" if is_label else align_of(column.format),
                        format="text" if is_label else column.format,
                        label=is_label,
                    )
                )
                continue
            fmt = total_format(column, total)
            if total.per_group and kind == "total" and self.result.report.group:
                value = _sum_of_groups(rows, total, self.result.report.group)
            else:
                value = total_value(rows, total)
            if fmt == "money" and currency is None:
                value = None  # money in several currencies does not add up
            cells.append(value_cell(value, fmt, currency))
        return Row(kind, tuple(cells), group)

    def group_text(self, value: Any) -> str:
        group = self.result.report.group
        column = next((c for c in self.columns if c.name == group), None)
        fmt = column.format if column else "text"
        return formats.format_value(value, fmt, self.result.currency)


def layout(result: Result) -> Table:
    """The table every renderer prints: header, then the rows in order with a subtotal row after
    each group (when the report groups and has totals) and the grand total row last (when it has
    totals and any row). See the module's docstring for the order and the totals."""
    report = result.report
    build = _Layout(result)
    header = tuple(Heading(c.name, c.label, c.format, align_of(c.format)) for c in result.columns)
    rows = apply_sort(records(result), report.sort)
    out: list[Row] = []
    if report.group:
        group = report.group
        rows = stable_sort(rows, group)
        start = 0
        while start < len(rows):
            value = rows[start].get(group)
            end = start
            while end < len(rows) and _same(rows[end].get(group), value):
                end += 1
            members = rows[start:end]
            out.extend(build.data_row(row) for row in members)
            if report.totals:
                text = build.group_text(value)
                out.append(build.total_row(members, "subtotal", f"{TOTAL_LABEL} {text}", text))
            start = end
    else:
        out.extend(build.data_row(row) for row in rows)
    if report.totals and rows:
        out.append(build.total_row(rows, "total", TOTAL_LABEL))
    return Table(header, tuple(out))


def _sum_of_groups(rows: Sequence[dict[str, Any]], total: Total, group: str) -> Any:
    """The sum of each group's total: what a grand total of ``{each_group: …}`` is."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(repr(row.get(group)), []).append(row)
    values = [total_value(members, total) for members in groups.values()]
    present = [v for v in values if v is not None]
    return _sum(present) if present else None


def _same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return bool(_compare_key(a) == _compare_key(b))


def column_values(table: Table, index: int, kinds: Iterable[Kind] = ("row",)) -> list[Any]:
    """The values of the ``index``-th column over rows of ``kinds`` (a helper for checks)."""
    wanted = set(kinds)
    return [row.cells[index].value for row in table.rows if row.kind in wanted]
