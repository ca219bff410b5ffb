"""How a KPI's number reads on a page: :mod:`reports.formats` everywhere, shortened on tiles.

Tables and hover labels read exactly like reports (thousands separators, cents, ``12.5%``,
``+2.1 pp``, the minus sign, an em dash for a missing value). A tile may shorten a large number
(``$1.2 M``, ``12.3 k``); a table never does (``DESIGN.md``, "Numbers").
"""

from __future__ import annotations

import math
from typing import Any

from reports import formats

UNIT_SUFFIX = {"hours": " h", "days": " d"}
ABBREVIATIONS = ((1e9, "B"), (1e6, "M"), (1e3, "k"))


def number_or_none(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) or math.isinf(number) else number


def kpi_value(value: Any, unit: str, currency: str | None, *, short: bool = False) -> str:
    """A KPI's value by its unit: money with the currency (no cents on a tile), percent from a
    fraction, a count whole (or with one decimal), hours and days with theirs. ``short``
    abbreviates thousands and millions (tiles only)."""
    number = number_or_none(value)
    if number is None:
        return formats.EM_DASH
    if unit == "percent":
        return formats.percent(number)
    if short and abs(number) >= 10_000:
        for size, letter in ABBREVIATIONS:
            if abs(number) >= size:
                scaled = number / size
                text = formats.number(scaled, 1 if abs(scaled) < 100 else 0)
                if unit == "money":
                    symbol = formats.currency_symbol(currency)
                    sign = formats.MINUS if text.startswith(formats.MINUS) else ""
                    return f"{sign}{symbol}{text.lstrip(formats.MINUS)} {letter}"
                return f"{text} {letter}" + UNIT_SUFFIX.get(unit, "")
    if unit == "money":
        return formats.money(number, currency, cents=not short and abs(number) < 1000)
    if unit == "count":
        whole = abs(number - round(number)) < 1e-6
        return formats.count(number) if whole else formats.number(number, 1)
    if unit in UNIT_SUFFIX:
        return formats.number(number, 1) + UNIT_SUFFIX[unit]
    return formats.number(number, 2)


def change(current: Any, before: Any, unit: str, currency: str | None) -> str:
    """The change from ``before`` to ``current``: percentage points between two percentages,
    otherwise a signed relative change (``+12.5%``); an em dash when either is missing or
    ``before`` is zero."""
    now, then = number_or_none(current), number_or_none(before)
    if now is None or then is None:
        return formats.EM_DASH
    if unit == "percent":
        return formats.pp(now - then)
    if then == 0:
        return formats.EM_DASH
    relative = (now - then) / abs(then)
    text = formats.percent(relative)
    return text if text.startswith(formats.MINUS) or text == "0.0%" else "+" + text


def achievement(value: Any) -> str:
    """``94% of plan``; an em dash without a plan."""
    number = number_or_none(value)
    if number is None:
        return formats.EM_DASH
    return f"{number * 100:,.0f}% of plan"


def is_good(current: Any, before: Any, direction: str) -> bool | None:
    """Whether the move from ``before`` to ``current`` is good for a KPI of ``direction``
    (a fall in overdue receivables is good); ``None`` when there is no move to judge."""
    now, then = number_or_none(current), number_or_none(before)
    if now is None or then is None or now == then:
        return None
    return (now > then) == (direction == "higher")
