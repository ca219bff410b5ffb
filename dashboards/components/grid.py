"""Tables as AG Grid: sorting, filtering and CSV export, numbers that read like reports.

Every cell is sent twice: its typed value (what the grid sorts and filters on, and what the
CSV export writes) and its text as :mod:`reports.formats` writes it (what the reader sees). So a
number reads exactly as it does in the PDF of the same report — thousands separators, cents,
``12.5%``, the minus sign, an em dash for a missing value — and still sorts as a number.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import dash_ag_grid as dag
from dash import html

from reports import formats
from reports.result import Result, layout

TEXT_SUFFIX = "__text"
THEME = {
    "function": (
        "themeQuartz.withParams({accentColor: '#0b5cad', fontFamily: 'inherit', "
        "headerFontWeight: 600, spacing: 6, wrapperBorderRadius: 6})"
    )
}
PAGE_SIZE = 25
NUMERIC = frozenset({"money", "percent", "pp", "count", "number", "days", "duration", "unit"})


@dataclass(frozen=True)
class Col:
    """A column of a grid: the frame's ``name``, its heading, its format (a report format)."""

    name: str
    label: str
    format: str = "text"


def _plain(value: Any) -> Any:
    """A value the browser can hold: numbers as floats, dates as ISO text, gaps as None."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return _plain(value.item())
    try:
        if value != value:  # NaT, NA
            return None
    except (TypeError, ValueError):
        return None
    return value


def column_defs(columns: Sequence[Col]) -> list[dict[str, Any]]:
    defs = []
    for col in columns:
        numeric = col.format in NUMERIC
        spec: dict[str, Any] = {
            "field": col.name,
            "headerName": col.label,
            "valueFormatter": {
                "function": f"params.data ? params.data[{col.name + TEXT_SUFFIX!r}] : ''"
            },
            "filter": "agNumberColumnFilter" if numeric else "agTextColumnFilter",
        }
        if numeric:
            spec["type"] = "rightAligned"
            spec["cellClass"] = "kb-num"
        defs.append(spec)
    return defs


def rows(
    records: Sequence[Mapping[str, Any]],
    columns: Sequence[Col],
    currency: str | None,
    *,
    currency_of: str | None = None,
) -> list[dict[str, Any]]:
    """Grid rows from ``records``: each column's plain value and its text. ``currency_of``
    names a column holding each row's currency code (money in several currencies)."""
    out = []
    for record in records:
        row: dict[str, Any] = {}
        code = str(record.get(currency_of) or currency) if currency_of else currency
        for col in columns:
            value = record.get(col.name)
            fmt = col.format
            if fmt == "unit":
                fmt = formats.unit_format(record.get("unit"))
            row[col.name] = _plain(value)
            row[col.name + TEXT_SUFFIX] = formats.format_value(value, fmt, code)
        out.append(row)
    return out


def grid(
    id: str | dict[str, Any],
    records: Sequence[Mapping[str, Any]],
    columns: Sequence[Col],
    *,
    currency: str | None = None,
    file_name: str = "kpiboard.csv",
    height: int | None = None,
    page_size: int = PAGE_SIZE,
    row_id: str | None = None,
) -> dag.AgGrid:
    """A grid of ``records``, paged when there are more than ``page_size``."""
    data = rows(records, columns, currency)
    options: dict[str, Any] = {
        "theme": THEME,
        "animateRows": False,
        "enableCellTextSelection": True,
        "ensureDomOrder": True,
        "suppressMenuHide": False,
    }
    if len(data) > page_size:
        options.update(
            pagination=True, paginationPageSize=page_size, paginationPageSizeSelector=False
        )
    else:
        options["domLayout"] = "autoHeight"
    style = (
        {"height": f"{height}px"}
        if height
        else {"height": "auto" if len(data) <= page_size else "640px"}
    )
    props: dict[str, Any] = {}
    if row_id:
        props["getRowId"] = f"params.data[{row_id!r}]"
    return dag.AgGrid(
        id=id,
        rowData=data,
        columnDefs=column_defs(columns),
        defaultColDef={"sortable": True, "resizable": True, "filter": True, "minWidth": 90},
        columnSize="responsiveSizeToFit",
        dashGridOptions=options,
        csvExportParams={
            "fileName": file_name,
            "columnKeys": [c.name for c in columns],
            "processCellCallback": None,
        },
        className="kb-grid",
        style=style,
        **props,
    )


def record_grid(
    id: str,
    defs: list[dict[str, Any]],
    columns: Sequence[Col],
    row_id: str,
    *,
    page_size: int,
    select: bool = True,
    wrap: bool = False,
    class_name: str = "",
    file_name: str | None = None,
) -> dag.AgGrid:
    """A grid of records an admin or analyst works through (users, the audit log, schedules,
    deliveries): sortable and filterable, as tall as its rows, one row picked by a click when
    ``select``; ``wrap`` lets long text wrap inside its cell. Rows come from a callback."""
    options: dict[str, Any] = {
        "theme": THEME,
        "animateRows": False,
        "enableCellTextSelection": True,
        "ensureDomOrder": True,
        "pagination": True,
        "paginationPageSize": page_size,
        "paginationPageSizeSelector": False,
        "domLayout": "autoHeight",
    }
    if select:
        options["rowSelection"] = {
            "mode": "singleRow",
            "enableClickSelection": True,
            "checkboxes": False,
        }
    cells: dict[str, Any] = {
        "sortable": True,
        "resizable": True,
        "filter": True,
        "minWidth": 90,
        "wrapHeaderText": True,
        "autoHeaderHeight": True,
    }
    if wrap:
        cells |= {"wrapText": True, "autoHeight": True}
    return dag.AgGrid(
        id=id,
        rowData=[],
        columnDefs=defs,
        defaultColDef=cells,
        columnSize="responsiveSizeToFit",
        dashGridOptions=options,
        getRowId=f"params.data[{row_id!r}]",
        csvExportParams={
            "fileName": f"{file_name or id}.csv",
            "columnKeys": [c.name for c in columns],
        },
        className=f"kb-grid {class_name}".strip(),
    )


def report_columns(result: Result) -> list[Col]:
    return [Col(c.name, c.label, c.format) for c in result.columns]


def report_table(
    id: str | dict[str, Any], result: Result, *, height: int | None = None
) -> html.Div:
    """A catalog report's rows as a grid, read exactly as the report prints them (its formats,
    the currency of each row), with its total row beneath when the report has one."""
    table = layout(result)
    columns = report_columns(result)
    data = []
    for row in table.data_rows:
        entry: dict[str, Any] = {}
        for col, cell in zip(columns, row.cells, strict=True):
            entry[col.name] = _plain(cell.value)
            entry[col.name + TEXT_SUFFIX] = cell.text
        data.append(entry)
    options: dict[str, Any] = {"theme": THEME, "enableCellTextSelection": True}
    if len(data) > PAGE_SIZE:
        options.update(
            pagination=True, paginationPageSize=PAGE_SIZE, paginationPageSizeSelector=False
        )
    else:
        options["domLayout"] = "autoHeight"
    total = table.total
    if total is not None:
        pinned = {}
        for col, cell in zip(columns, total.cells, strict=True):
            pinned[col.name] = _plain(cell.value) if not cell.label else cell.text
            pinned[col.name + TEXT_SUFFIX] = cell.text
        options["pinnedBottomRowData"] = [pinned]
    style = (
        {"height": f"{height}px"}
        if height
        else ({"height": "640px"} if len(data) > PAGE_SIZE else {})
    )
    return html.Div(
        dag.AgGrid(
            id=id,
            rowData=data,
            columnDefs=column_defs(columns),
            defaultColDef={"sortable": True, "resizable": True, "filter": True, "minWidth": 90},
            columnSize="responsiveSizeToFit",
            dashGridOptions=options,
            csvExportParams={"fileName": f"{result.report.id}.csv"},
            className="kb-grid",
            style=style,
        )
    )
