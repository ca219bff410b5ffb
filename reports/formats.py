"""How a value reads: the one place that turns a report's numbers, dates and durations into text.

Every renderer that prints text (HTML, PDF, the chart's hover labels) goes through
:func:`format_value`, so a number reads the same everywhere (``docs/DESIGN.md``, "Numbers"):

- thousands separators, never abbreviated (``1,234,567``);
- money with the currency's symbol and cents (``$1,234.50``; an unknown code is written before
  the amount: ``CHF 1,234.50``);
- percent from a fraction with one decimal (``0.125`` → ``12.5%``), percentage points for a
  difference of fractions with its sign (``0.021`` → ``+2.1 pp``);
- durations in seconds shown in the largest sensible unit and the next (``3 d 4 h``,
  ``2 h 5 min``, ``5 min 30 s``, ``45 s``); days with one decimal (``4.5 d``);
- dates ISO (``2026-03-31``), date-times to the minute (``2026-03-31 14:05``);
- negatives with the minus sign U+2212 (``−$12.00``), everywhere;
- a missing value (``None``, ``NaN``, ``NaT``) is an em dash, never ``nan`` or 0.

Only the standard library here: the command line imports this module.
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from typing import Any

MINUS = "\u2212"
"""The minus sign every negative number is printed with."""
EM_DASH = "\u2014"
"""What a missing value reads as."""
MISSING_WHY = "no value"
"""The tooltip a missing value carries in HTML."""

CURRENCY_SYMBOLS = {
    "USD": "$",
    "EUR": "€",
    "GBP": "£",
    "JPY": "¥",
    "CNY": "¥",
    "INR": "₹",
    "RUB": "₽",
    "UAH": "₴",
    "KRW": "₩",
    "ILS": "₪",
    "TRY": "₺",
    "PLN": "zł",
    "BRL": "R$",
    "CAD": "CA$",
    "AUD": "A$",
    "NZD": "NZ$",
    "MXN": "MX$",
    "HKD": "HK$",
    "SGD": "S$",
}
"""Symbols of common ISO 4217 codes; any other code is printed as the code itself."""

PREFIX_SYMBOLS = frozenset(CURRENCY_SYMBOLS.values()) - {"zł"}
"""Symbols written before the amount (``$12``); the others after it (``12 zł``)."""


def is_missing(value: Any) -> bool:
    """True for the values a frame uses for "nothing": ``None``, ``NaN``, ``NaT``, ``pd.NA``."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, Decimal):
        return value.is_nan()
    if type(value).__name__ in ("NAType", "NaTType"):
        return True
    try:
        # numpy's NaN and NaT are not equal to themselves
        return bool(value != value)
    except (TypeError, ValueError):
        return False


def currency_symbol(code: str | None) -> str:
    """``USD`` → ``$``; an unknown code stays the code; none at all is no symbol."""
    if not code:
        return ""
    code = str(code).strip().upper()
    return CURRENCY_SYMBOLS.get(code, code)


def _signed(body: str, negative: bool) -> str:
    return f"{MINUS}{body}" if negative else body


def _fixed(value: float | Decimal, decimals: int) -> tuple[str, bool]:
    """``value`` with thousands separators and ``decimals`` places, and whether it reads as
    negative (a value that rounds to zero is not: no ``−0.00``)."""
    text = f"{abs(value):,.{decimals}f}"
    negative = value < 0 and any(ch not in "0.," for ch in text)
    return text, negative


def money(value: float | Decimal, currency: str | None, *, cents: bool = True) -> str:
    """``$1,234.50``, ``−$12.00``, ``CHF 1,234.50``, ``12.00 zł``. Cents in tables; a tile passes
    ``cents=False``."""
    text, negative = _fixed(value, 2 if cents else 0)
    symbol = currency_symbol(currency)
    if not symbol:
        body = text
    elif symbol in PREFIX_SYMBOLS:
        body = f"{symbol}{text}"
    elif symbol == "zł":
        body = f"{text} {symbol}"
    else:
        body = f"{symbol} {text}"
    return _signed(body, negative)


def percent(fraction: float | Decimal) -> str:
    """A fraction as a percentage with one decimal: ``0.125`` → ``12.5%``."""
    text, negative = _fixed(float(fraction) * 100, 1)
    return _signed(f"{text}%", negative)


def pp(fraction: float | Decimal) -> str:
    """A difference of two fractions in percentage points, always signed: ``+2.1 pp``."""
    text, negative = _fixed(float(fraction) * 100, 1)
    if negative:
        return f"{MINUS}{text} pp"
    return "0.0 pp" if text == "0.0" else f"+{text} pp"


def count(value: float | Decimal) -> str:
    """A whole number with separators: ``12,345``."""
    text, negative = _fixed(value, 0)
    return _signed(text, negative)


def number(value: float | Decimal, decimals: int = 2) -> str:
    """A number with separators and two decimals: ``1,234.57``."""
    text, negative = _fixed(value, decimals)
    return _signed(text, negative)


def days(value: float | Decimal) -> str:
    """A number of days with one decimal: ``4.5 d``."""
    text, negative = _fixed(value, 1)
    return _signed(f"{text} d", negative)


def duration(seconds: float | Decimal | dt.timedelta) -> str:
    """Seconds in the largest sensible unit and the next one, rounded to the smaller:
    ``3 d 4 h``, ``3 d``, ``2 h 5 min``, ``5 min 30 s``, ``45 s``."""
    if isinstance(seconds, dt.timedelta):
        seconds = seconds.total_seconds()
    total = float(seconds)
    negative = total < 0
    total = abs(total)
    units = ((86400, "d", 3600, "h"), (3600, "h", 60, "min"), (60, "min", 1, "s"))
    for big, big_name, small, small_name in units:
        if round(total) >= big:
            smalls = round(total / small)
            per = big // small
            whole, rest = divmod(smalls, per)
            body = f"{whole:,} {big_name}" + (f" {rest} {small_name}" if rest else "")
            return _signed(body, negative)
    whole_seconds = round(total)
    return _signed(f"{whole_seconds} s", negative and whole_seconds > 0)


def date(value: dt.date | str) -> str:
    """ISO: ``2026-03-31`` (a date-time keeps only its day)."""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def month(value: dt.date | str) -> str:
    """A date's month as plan files write it: ``2026-03``."""
    if isinstance(value, dt.date):
        return value.strftime("%Y-%m")
    return str(value)


UNIT_FORMATS = {"money": "money", "count": "count", "percent": "percent", "days": "days"}
"""A KPI's unit → the format its values read in (hours read as a number)."""


def unit_format(unit: Any) -> str:
    """The format a value of a KPI of ``unit`` reads in (column format ``unit``)."""
    return UNIT_FORMATS.get(str(unit), "number")


STATUSES = {"green": "✓ on plan", "amber": "! close to plan", "red": "✗ behind plan"}
"""A KPI's status as it reads: a sign and words, so that it reads without its colour."""


def status(value: Any) -> str:
    return STATUSES.get(str(value), str(value))


def datetime(value: dt.datetime | dt.date | str) -> str:
    """To the minute: ``2026-03-31 14:05``; an aware value is shown in UTC with ``UTC``."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC)
            return value.strftime("%Y-%m-%d %H:%M UTC")
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def text(value: Any) -> str:
    """Anything else as a person reads it: booleans as yes/no."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _as_number(value: Any) -> float | Decimal:
    if isinstance(value, Decimal | float):
        return value
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    return float(value)


def format_value(value: Any, fmt: str = "text", currency: str | None = None) -> str:
    """``value`` as it reads in a column of format ``fmt`` (one of ``reports.model.FORMATS``).

    ``currency`` is the row's currency code for ``money``. A value of the wrong kind (text in a
    number column) is printed as text rather than refused: a report never fails on how it reads.
    """
    if is_missing(value):
        return EM_DASH
    try:
        if fmt == "money":
            return money(_as_number(value), currency)
        if fmt == "percent":
            return percent(_as_number(value))
        if fmt == "pp":
            return pp(_as_number(value))
        if fmt == "count":
            return count(_as_number(value))
        if fmt == "number":
            return number(_as_number(value))
        if fmt == "days":
            return days(_as_number(value))
        if fmt == "duration":
            if isinstance(value, dt.timedelta):
                return duration(value)
            return duration(_as_number(value))
        if fmt == "date":
            return date(value)
        if fmt == "status":
            return status(value)
        if fmt == "month":
            return month(value)
        if fmt == "datetime":
            return datetime(value)
    except (TypeError, ValueError, ArithmeticError):
        return text(value)
    return text(value)
