"""Cells of hand-written fixture rows, typed as their core column holds them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any


def typed(value: Any, column_type: str) -> Any:
    """A cell written compactly (``"2025-01-06 16:00"``, ``"1200.50"``, ``1``) as the value its
    column of ``column_type`` holds; other values (``None``, a date) as they are."""
    if value is None or not isinstance(value, str | int | float):
        return value
    if column_type == "DATE":
        return dt.date.fromisoformat(str(value))
    if column_type == "TIMESTAMP":
        return dt.datetime.fromisoformat(str(value))
    if column_type.startswith("DECIMAL"):
        return Decimal(str(value))
    if column_type == "BOOLEAN":
        return bool(value)
    return value
