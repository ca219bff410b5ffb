"""A report's rows as CSV: UTF-8 (optionally with a byte-order mark, which Excel needs to read
UTF-8), the shown columns' labels as the header, raw values.

Raw means what a program reads back: no thousands separators, no currency symbols, a percent as
its fraction (``0.125``), a duration in seconds, dates and times ISO 8601, a missing value empty,
booleans ``true``/``false``. Only the data rows, in the table's order: **no subtotal or total
rows** (a total inside the data would be summed again by whoever reads the file).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from typing import Any

from reports.result import Result, layout

BOM = "\ufeff"


def raw(value: Any) -> str:
    """A cell as CSV text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e16 else repr(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def render_csv(result: Result, *, bom: bool = False) -> bytes:
    """The report's data rows as UTF-8 CSV bytes (``\\r\\n`` line ends, as RFC 4180 says)."""
    table = layout(result)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([heading.label for heading in table.header])
    for row in table.data_rows:
        writer.writerow([raw(cell.value) for cell in row.cells])
    text = out.getvalue()
    return ((BOM if bom else "") + text).encode("utf-8")
