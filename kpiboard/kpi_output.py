"""How ``kpiboard kpi eval`` prints KPI values: periods labelled as plan files write them,
values in their KPI's unit, long (a row per KPI) or wide (a column per KPI).

Tables are for people: a period is ``2026-03``, ``2026-Q1`` or, at ``range`` grain, the range
``2026-01-01…2026-03-31``; money ``1,130,578`` or ``843.50``, a percent ``46.0%``, an
achievement ``109%``, hours ``3.5 h``; the table fits the terminal without splitting a number
(:func:`kpiboard.output.print_fitted`). CSV and JSON are for
programs: the same columns, with the period's label and its first day (``period_start``), and
numbers unformatted.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from kpiboard.output import NUMBER, PERIOD, TEXT, Format, emit, print_fitted

if TYPE_CHECKING:
    import pandas as pd

    from kpi_designer.model import Kpi

MONEY_WHOLE = 10_000
"""Money at or above this (either sign) is shown in whole units, below it with cents."""
PLAN_COLUMNS = ("plan", "achievement", "status")
WIDE_SUFFIXES = ("plan", "achievement", "status")
"""Wide output's columns of a KPI with plans: ``<kpi>_plan``, ``<kpi>_achievement`` …"""
UNIT_SUFFIX = {"hours": " h", "days": " d"}


def period_label(start: dt.date, grain: str, end: dt.date | None = None) -> str:
    """A period as plan files write it (:func:`kpi_designer.plans.parse_period` reads it back):
    day ``2026-03-15``, week ``2026-W11`` (ISO year and week), month ``2026-03``, quarter
    ``2026-Q1``, year ``2026``; at ``range`` grain its first and last day (``end``, the
    range's), ``2026-01-01…2026-03-31``, which no plan file takes."""
    if grain == "range":
        if end is None:
            raise ValueError("a range's label needs its last day")
        return f"{start.isoformat()}…{end.isoformat()}"
    if grain == "day":
        return start.isoformat()
    if grain == "week":
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    if grain == "month":
        return f"{start.year}-{start.month:02d}"
    if grain == "quarter":
        return f"{start.year}-Q{(start.month - 1) // 3 + 1}"
    if grain == "year":
        return str(start.year)
    raise ValueError(f"unknown grain {grain!r}")


def format_value(value: object, unit: str) -> str:
    """A KPI's value (or plan) for a person, by the KPI's unit: money ``1,130,578`` (whole
    units from :data:`MONEY_WHOLE` up) or ``843.50``; percent (a fraction) ``46.0%``; count
    ``1,204`` (``12.5`` when not whole, an average or a plan's share); hours ``3.5 h``, days
    ``12.0 d``. Empty for no value."""
    number = _number(value)
    if number is None:
        return ""
    if unit == "money":
        return _fixed(number, 0 if abs(number) >= MONEY_WHOLE else 2)
    if unit == "percent":
        return _fixed(number * 100, 1) + "%"
    if unit == "count":
        whole = abs(number - round(number)) < 1e-6
        return _fixed(number, 0 if whole else 1)
    if unit in UNIT_SUFFIX:
        return _fixed(number, 1) + UNIT_SUFFIX[unit]
    return _fixed(number, 2)


def format_achievement(value: object) -> str:
    """An achievement (value against plan, 1.09) as a whole percent: ``109%``."""
    number = _number(value)
    return "" if number is None else _fixed(number * 100, 0) + "%"


def _number(value: object) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _fixed(number: float, decimals: int) -> str:
    text = f"{number:,.{decimals}f}"
    return text[1:] if text.startswith("-") and not text.strip("-0.,") else text  # no "-0"


# -- rows -----------------------------------------------------------------------------------


def long_rows(
    frame: pd.DataFrame, grain: str, by: Sequence[str], end: dt.date | None = None
) -> list[dict[str, Any]]:
    """The engine's frame as rows for CSV and JSON: ``kpi``, ``period`` (its label;
    ``end``: the range's last day, for the label at ``range`` grain), ``period_start`` (ISO
    date), the ``by`` columns, ``value``, ``plan``, ``achievement``, ``status``; floats keep 4
    decimals, a missing value is ``None``."""
    rows = []
    for record in frame.to_dict("records"):
        start = _date(record["period"])
        row: dict[str, Any] = {
            "kpi": record["kpi"],
            "period": period_label(start, grain, end),
            "period_start": start.isoformat(),
        }
        for name in (*by, "value", *PLAN_COLUMNS):
            row[name] = _raw(record.get(name))
        rows.append(row)
    return rows


def wide_rows(
    frame: pd.DataFrame,
    grain: str,
    by: Sequence[str],
    kpi_ids: Sequence[str],
    end: dt.date | None = None,
) -> tuple[list[dict[str, Any]], list[str]]:
    """One row per period and slice, one column per KPI (its value), and for each KPI with a
    plan anywhere in the frame ``<kpi>_plan``, ``<kpi>_achievement`` and ``<kpi>_status``;
    with the column names, in order. Periods come in order, slices by their members."""
    planned = {k for k in kpi_ids if frame.loc[frame["kpi"] == k, "plan"].notna().any()}
    names = ["period", "period_start", *by]
    for kpi_id in kpi_ids:
        names.append(kpi_id)
        if kpi_id in planned:
            names += [f"{kpi_id}_{suffix}" for suffix in WIDE_SUFFIXES]
    grouped: dict[tuple[Any, ...], dict[str, Any]] = {}
    for record in frame.to_dict("records"):
        start = _date(record["period"])
        key = (start, *(_raw(record.get(d)) for d in by))
        row = grouped.get(key)
        if row is None:
            row = {name: None for name in names}
            row.update(period=period_label(start, grain, end), period_start=start.isoformat())
            row.update({d: _raw(record.get(d)) for d in by})
            grouped[key] = row
        kpi_id = record["kpi"]
        row[kpi_id] = _raw(record.get("value"))
        if kpi_id in planned:
            for suffix in WIDE_SUFFIXES:
                row[f"{kpi_id}_{suffix}"] = _raw(record.get(suffix))
    ordered = sorted(grouped, key=lambda k: tuple("" if v is None else str(v) for v in k))
    return [grouped[k] for k in ordered], names


def _date(value: object) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if hasattr(value, "date"):  # a pandas Timestamp
        return value.date()
    return dt.date.fromisoformat(str(value)[:10])


def _raw(value: object) -> Any:
    """A cell for CSV and JSON: NaN is ``None``, floats keep 4 decimals."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, float):
        return round(value, 4)
    if hasattr(value, "item"):  # a numpy scalar
        return _raw(value.item())
    return value


# -- printing -------------------------------------------------------------------------------


def print_evaluation(
    frame: pd.DataFrame,
    kpis: Mapping[str, Kpi],
    kpi_ids: Sequence[str],
    *,
    grain: str,
    by: Sequence[str],
    fmt: Format,
    wide: bool = False,
    title: str | None = None,
    out: TextIO | None = None,
    width: int | None = None,
    end: dt.date | None = None,
) -> None:
    """Print an evaluation (the engine's frame of ``kpi_ids``) long or ``wide``, as a table
    for people or CSV/JSON for programs (see the module's docstring); ``end`` is the range's
    last day, which labels its one period at ``range`` grain."""
    if wide:
        rows, names = wide_rows(frame, grain, by, kpi_ids, end)
    else:
        rows, names = long_rows(frame, grain, by, end), ["kpi", "period", "period_start", *by]
        names += ["value", *PLAN_COLUMNS]
    if fmt is not Format.table:
        emit(rows, fmt, columns=names, out=out)
        return
    shown = [n for n in names if n != "period_start"]
    if not wide and not any(r["plan"] is not None for r in rows):
        shown = [n for n in shown if n not in PLAN_COLUMNS]  # no plans: nothing to show there
    cells = [_cells(row, kpis, wide=wide) for row in rows]
    kinds = {name: _kind(name, kpis, wide=wide) for name in shown}
    headers = {}
    if wide:  # a KPI's plan, achievement and status under its id: "revenue" over "plan"
        for name in shown:
            kpi_id, _, suffix = name.rpartition("_")
            if name not in kpis and kpi_id in kpis and suffix in WIDE_SUFFIXES:
                headers[name] = f"{kpi_id}\n{suffix}"
    print_fitted(cells, shown, kinds, title=title, headers=headers, out=out, width=width)


def _cells(row: Mapping[str, Any], kpis: Mapping[str, Kpi], *, wide: bool) -> dict[str, str]:
    """A row's cells as text: values and plans in their KPI's unit, achievements in percent."""
    cells: dict[str, str] = {}
    for name, value in row.items():
        kpi_id, _, suffix = name.rpartition("_")
        if not wide and name in ("value", "plan"):
            cells[name] = format_value(value, kpis[row["kpi"]].unit)
        elif not wide and name == "achievement":
            cells[name] = format_achievement(value)
        elif wide and name in kpis:
            cells[name] = format_value(value, kpis[name].unit)
        elif wide and kpi_id in kpis and suffix == "plan":
            cells[name] = format_value(value, kpis[kpi_id].unit)
        elif wide and kpi_id in kpis and suffix == "achievement":
            cells[name] = format_achievement(value)
        else:
            cells[name] = "" if value is None else str(value)
    return cells


def _kind(name: str, kpis: Mapping[str, Kpi], *, wide: bool) -> str:
    if name == "period":
        return PERIOD
    if not wide:
        return NUMBER if name in ("value", "plan", "achievement") else TEXT
    kpi_id, _, suffix = name.rpartition("_")
    if name in kpis or (kpi_id in kpis and suffix in ("plan", "achievement")):
        return NUMBER
    return TEXT
