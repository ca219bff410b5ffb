"""A report as an Excel workbook (openpyxl): the table with typed cells, and its parameters.

The first sheet is :func:`reports.result.layout`'s table: numbers are numbers and dates are
dates, each with the number format of its column (money with the row's currency symbol, percent
``0.0%``, counts with thousands separators …; negatives with the minus sign U+2212 as on every
page), a bold header row that stays in view (frozen panes) with an autofilter over the header and
the rows (the grand total row is left out of it, so sorting never moves it), column widths from
the longest text, subtotal and total rows bold. The second sheet, "Parameters", says what the
table is: the report's title and question, each parameter and its value, when the data is from.

Two formats are stored in Excel's own units so that they sum and sort: a duration is a time
(days, shown ``[h]:mm:ss``) and a ``pp`` difference is stored in percentage points (×100).
"""

from __future__ import annotations

import datetime as dt
import io
import re
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from reports import formats
from reports.render.html import snapshot_text
from reports.result import Cell, Result, Table, layout

if TYPE_CHECKING:
    from openpyxl.worksheet.worksheet import Worksheet

M = formats.MINUS
NUMBER_FORMATS = {
    "count": f'#,##0;"{M}"#,##0',
    "number": f'#,##0.00;"{M}"#,##0.00',
    "percent": f'0.0%;"{M}"0.0%',
    "pp": f'+0.0" pp";"{M}"0.0" pp";0.0" pp"',
    "days": f'#,##0.0" d";"{M}"#,##0.0" d"',
    "duration": "[h]:mm:ss",
    "date": "yyyy-mm-dd",
    "month": "yyyy-mm",
    "datetime": "yyyy-mm-dd hh:mm",
    "text": "General",
}
"""Excel number format per column format (money depends on the currency: :func:`money_format`)."""
MIN_WIDTH, MAX_WIDTH = 6, 60
PARAMETERS_SHEET = "Parameters"


def money_format(currency: str | None) -> str:
    """``"$"#,##0.00;"−$"#,##0.00`` for USD; ``"CHF "#,##0.00 …`` for a code without a symbol."""
    symbol = formats.currency_symbol(currency)
    if not symbol:
        return NUMBER_FORMATS["number"]
    if symbol in formats.PREFIX_SYMBOLS:
        return f'"{symbol}"#,##0.00;"{M}{symbol}"#,##0.00'
    if symbol == "zł":
        return f'#,##0.00" {symbol}";"{M}"#,##0.00" {symbol}"'
    return f'"{symbol} "#,##0.00;"{M}{symbol} "#,##0.00'


def number_format(cell: Cell) -> str:
    if cell.format == "money":
        return money_format(cell.currency)
    return NUMBER_FORMATS.get(cell.format, "General")


def excel_value(cell: Cell) -> Any:
    """The value Excel stores for ``cell``: numbers as numbers, dates as dates, nothing as empty."""
    value = cell.value
    if value is None:
        return None
    if cell.label:
        return value
    if isinstance(value, bool):
        return value
    if cell.format == "status":
        return cell.text  # the words, as the page prints them
    if cell.format == "duration" and isinstance(value, int | float | Decimal):
        return float(value) / 86400
    if cell.format == "pp" and isinstance(value, int | float | Decimal):
        return float(value) * 100
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)  # Excel has no time zones
    if isinstance(value, dt.time) and value.tzinfo is not None:
        return value.replace(tzinfo=None)
    if isinstance(value, int | float | dt.date | dt.time | dt.timedelta | str):
        return value
    return str(value)


def sheet_title(title: str) -> str:
    """A worksheet name from the report's title: at most 31 characters, none of ``[]:*?/\\``."""
    name = re.sub(r"[\[\]:*?/\\]", " ", title).strip().strip("'") or "Report"
    name = name[:31].strip()
    return "Report" if name == PARAMETERS_SHEET else name


def _write_table(sheet: Worksheet, table: Table) -> None:
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter

    bold = Font(bold=True)
    rule = Side(style="thin", color="1F2933")
    widths = [len(h.label) for h in table.header]
    for col, heading in enumerate(table.header, start=1):
        cell = sheet.cell(row=1, column=col, value=heading.label)
        cell.font = bold
        cell.border = Border(bottom=rule)
        cell.alignment = Alignment(horizontal=heading.align, vertical="bottom", wrap_text=True)
    subtotal_fill = PatternFill("solid", fgColor="F0F2F5")
    last_filtered = 1
    for r, row in enumerate(table.rows, start=2):
        if row.kind != "total":
            last_filtered = r
        for col, source in enumerate(row.cells, start=1):
            cell = sheet.cell(row=r, column=col, value=excel_value(source))
            if not source.label and source.value is not None:
                cell.number_format = number_format(source)
            if source.format in ("date", "month", "datetime") and not source.label:
                cell.alignment = Alignment(horizontal="left")
            if row.kind != "row":
                cell.font = bold
                if row.kind == "subtotal":
                    cell.fill = subtotal_fill
                else:
                    cell.border = Border(top=rule)
            widths[col - 1] = max(widths[col - 1], len(source.text))
    for col, width in enumerate(widths, start=1):
        letter = get_column_letter(col)
        sheet.column_dimensions[letter].width = max(MIN_WIDTH, min(MAX_WIDTH, width + 2))
    sheet.freeze_panes = "A2"
    if table.header:
        last = get_column_letter(len(table.header))
        sheet.auto_filter.ref = f"A1:{last}{max(last_filtered, 1)}"


def _write_parameters(sheet: Worksheet, result: Result) -> None:
    from openpyxl.styles import Alignment, Font

    report = result.report
    rows: list[tuple[str, Any]] = [
        ("Report", report.title),
        ("Question", report.question),
        ("Report id", report.id),
    ]
    rows += [(label, value) for label, value in result.parameters]
    rows += [("Data as of", snapshot_text(result.snapshot_at))]
    if result.data_end is not None:
        rows.append(("Data to", result.data_end))
    rows.append(("Company", result.company))
    for r, (label, value) in enumerate(rows, start=1):
        sheet.cell(row=r, column=1, value=label).font = Font(bold=True)
        cell = sheet.cell(row=r, column=2, value=value)
        cell.alignment = Alignment(horizontal="left", wrap_text=True, vertical="top")
        if isinstance(value, dt.date):
            cell.number_format = NUMBER_FORMATS["date"]
    sheet.column_dimensions["A"].width = max(12, *(len(label) + 2 for label, _ in rows))
    sheet.column_dimensions["B"].width = 80


def render_xlsx(result: Result) -> bytes:
    """The workbook's bytes: the report's table, then its "Parameters" sheet."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = sheet_title(result.report.title)
    _write_table(sheet, layout(result))
    _write_parameters(book.create_sheet(PARAMETERS_SHEET), result)
    book.properties.title = result.report.title
    book.properties.creator = result.company or "kpiboard"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
