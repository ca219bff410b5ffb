"""Printing rows the way every kpiboard command does: ``--format table|csv|json``."""

from __future__ import annotations

import csv
import datetime as dt
import json
import sys
from collections.abc import Sequence
from decimal import Decimal
from enum import StrEnum
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value


def emit(
    rows: Sequence[dict[str, Any]],
    fmt: Format,
    *,
    columns: Sequence[str] | None = None,
    title: str | None = None,
    out: TextIO | None = None,
) -> None:
    """Print ``rows`` (dicts with the same keys) as a table, CSV or a JSON array."""
    stream = out or sys.stdout
    names = list(columns or (rows[0].keys() if rows else []))
    if fmt is Format.json:
        json.dump([{k: _plain(r.get(k)) for k in names} for r in rows], stream, indent=2)
        stream.write("\n")
    elif fmt is Format.csv:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(names)
        writer.writerows([_plain(r.get(k)) for k in names] for r in rows)
    else:
        table = Table(title=title, title_justify="left")
        for name in names:
            numeric = bool(rows) and all(
                isinstance(r.get(name), int | float | Decimal) for r in rows
            )
            table.add_column(name, justify="right" if numeric else "left", overflow="fold")
        for r in rows:
            table.add_row(*(_cell(r.get(k)) for k in names))
        Console(file=stream, soft_wrap=True).print(table)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(_plain(value))
