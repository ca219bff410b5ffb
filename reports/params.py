"""Typed report parameters: a reader's text → validated values, bound as SQL parameters.

Every value is checked before anything runs — its type, its range, its allowed values, that
the id it names exists — and a refused one gets one line that says which parameter, what was
given and what would do (:class:`~reports.errors.ParameterError`). Values are only ever bound
(DuckDB's ``$name``), never written into SQL.

Periods are resolved against the **data end**, the last day with data in the published
snapshot, as if the report ran the morning after: ``last_month`` with data up to 31 October
is October, with data up to 15 October it is September. So a scheduled report means the same
thing every time it runs, whenever the pipeline last published. ``month_to_date`` (and the
quarter's and year's) run from the start of the data end's month to the data end.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from kpiboard.yamlnodes import did_you_mean
from reports import model as m
from reports.errors import ParameterError

PRESETS = (
    "yesterday",
    "last_7_days",
    "last_30_days",
    "last_week",
    "month_to_date",
    "last_month",
    "quarter_to_date",
    "last_quarter",
    "year_to_date",
    "last_year",
    "last_12_months",
)
"""The period presets, each resolved against the data end (:func:`resolve_period`)."""

DATA_END = "data_end"
"""A date parameter's default meaning the data end."""

MAX_LENGTH = 200
"""The longest value a parameter takes: ids and names are short, and a 10 kB value is an
attack or an accident, refused before it is looked at."""

TRUE = ("true", "yes", "1", "on")
FALSE = ("false", "no", "0", "off")

ENTITY_LOOKUPS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "branch": ("dim_branch", "branch_id", ("name", "city")),
    "employee": ("dim_employee", "employee_id", ("full_name", "email")),
    "client": ("dim_client", "client_id", ("name",)),
    "product": ("dim_product", "product_id", ("sku", "name")),
    "warehouse": ("dim_warehouse", "warehouse_id", ("name",)),
    "supplier": ("dim_supplier", "supplier_id", ("name",)),
}
"""Where an entity parameter's value must exist: table, key, and the columns a reader may name
it by instead (case-insensitive)."""

LISTED = {
    "category": ("dim_product", "category"),
    "role": ("dim_employee", "role"),
}
"""Parameters whose value must be one of a column's distinct values."""

_PERIOD_RANGE = re.compile(r"^(\d{4}-\d{2}-\d{2})\s*\.\.\s*(\d{4}-\d{2}-\d{2})$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-?[Qq]([1-4])$")
_YEAR = re.compile(r"^(\d{4})$")
_INTEGER = re.compile(r"^[+-]?\d{1,18}$")


Lookup = Callable[[str, str, tuple[str, ...], str], list[tuple[str, str]]]
"""``lookup(table, key, names, value)`` → the ``(key, label)`` rows whose key or one of
``names`` equals ``value`` (case-insensitive), read under the run's scope; with ``value`` empty,
every key (for a did-you-mean)."""


@dataclass(frozen=True)
class Bound:
    """A report's parameters, resolved: what the query binds (placeholder → value), what the
    header shows (label, text), and each parameter's value by name (a period as two dates)."""

    values: dict[str, object]
    shown: tuple[tuple[str, str], ...]
    by_name: dict[str, object]

    def period(self, name: str) -> tuple[dt.date, dt.date]:
        value = self.by_name[name]
        assert isinstance(value, tuple)
        return value


# -- periods ---------------------------------------------------------------------------------------


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def quarter_start(day: dt.date) -> dt.date:
    return dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def resolve_period(text: str, data_end: dt.date) -> tuple[dt.date, dt.date]:
    """A preset, a range ``2026-01-01..2026-03-31``, a month ``2026-03``, a quarter ``2026-Q1``
    or a year ``2026``, as its first and last day. Raises ``ValueError`` with what is wrong."""
    value = text.strip()
    today = data_end + dt.timedelta(days=1)  # as if run the morning after the data end
    one = dt.timedelta(days=1)
    if value == "yesterday":
        return data_end, data_end
    if value == "last_7_days":
        return data_end - dt.timedelta(days=6), data_end
    if value == "last_30_days":
        return data_end - dt.timedelta(days=29), data_end
    if value == "last_week":
        monday = today - dt.timedelta(days=today.weekday() + 7)
        return monday, monday + dt.timedelta(days=6)
    if value == "month_to_date":
        return month_start(data_end), data_end
    if value == "last_month":
        first = _add_months(month_start(today), -1)
        return first, month_start(today) - one
    if value == "quarter_to_date":
        return quarter_start(data_end), data_end
    if value == "last_quarter":
        first = _add_months(quarter_start(today), -3)
        return first, quarter_start(today) - one
    if value == "year_to_date":
        return dt.date(data_end.year, 1, 1), data_end
    if value == "last_year":
        return dt.date(today.year - 1, 1, 1), dt.date(today.year - 1, 12, 31)
    if value == "last_12_months":
        return _add_months(month_start(today), -12), month_start(today) - one
    return parse_period(value)


def parse_period(value: str) -> tuple[dt.date, dt.date]:
    """A period written out (not a preset): range, month, quarter or year."""
    found = _PERIOD_RANGE.match(value)
    if found:
        start, end = dt.date.fromisoformat(found[1]), dt.date.fromisoformat(found[2])
        if end < start:
            raise ValueError(f"the period {value!r} ends before it starts")
        return start, end
    if found := _MONTH.match(value):
        first = dt.date(int(found[1]), int(found[2]), 1)
        return first, _add_months(first, 1) - dt.timedelta(days=1)
    if found := _QUARTER.match(value):
        first = dt.date(int(found[1]), 3 * (int(found[2]) - 1) + 1, 1)
        return first, _add_months(first, 3) - dt.timedelta(days=1)
    if found := _YEAR.match(value):
        return dt.date(int(found[1]), 1, 1), dt.date(int(found[1]), 12, 31)
    raise ValueError(
        f"{value!r} is not a period: give a preset ({', '.join(PRESETS)}), a range "
        "2026-01-01..2026-03-31, a month 2026-03, a quarter 2026-Q1 or a year 2026"
        + did_you_mean(value, PRESETS)
    )


# -- one value -------------------------------------------------------------------------------------


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"{value!r} is not a date: write it as 2026-03-31") from None


def _integer(parameter: m.Parameter, value: str) -> int:
    if not _INTEGER.match(value.strip()):
        raise ValueError(f"{value!r} is not a whole number")
    number = int(value.strip())
    if parameter.minimum is not None and number < parameter.minimum:
        raise ValueError(f"{number} is below the minimum, {parameter.minimum}")
    if parameter.maximum is not None and number > parameter.maximum:
        raise ValueError(f"{number} is above the maximum, {parameter.maximum}")
    return number


def _boolean(value: str) -> bool:
    text = value.strip().lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise ValueError(f"{value!r} is not true or false")


def default_problem(parameter: m.Parameter) -> str | None:
    """What is wrong with a parameter's default as written, if anything (checked when the
    definition loads; an id's existence is checked when it runs)."""
    default = parameter.default
    if default is None:
        return None
    try:
        if parameter.type == "date":
            if default != DATA_END:
                _date(str(default))
        elif parameter.type == "period":
            if str(default) not in PRESETS:
                parse_period(str(default))
        elif parameter.type == "integer":
            if isinstance(default, bool) or not isinstance(default, int):
                return f"{default!r} is not a whole number"
            _integer(parameter, str(default))
        elif parameter.type == "boolean":
            if not isinstance(default, bool):
                return f"{default!r} is not true or false"
        elif parameter.type == "choice" and str(default) not in parameter.values:
            return f"{default!r} is not one of {', '.join(parameter.values)}" + did_you_mean(
                str(default), parameter.values
            )
    except ValueError as exc:
        return str(exc)
    return None


def _clean(name: str, value: str) -> str:
    """``value`` if it is short, printable text; otherwise a refusal."""
    if len(value) > MAX_LENGTH:
        raise ParameterError(
            f"parameter {name!r}: the value is {len(value):,} characters long; "
            f"at most {MAX_LENGTH} are accepted"
        )
    bad = next((c for c in value if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co")), None)
    if bad is not None:
        raise ParameterError(
            f"parameter {name!r}: the value holds the control or invisible character "
            f"U+{ord(bad):04X}; give plain text"
        )
    return value


# -- all of a report's parameters --------------------------------------------------------------


def resolve(
    report: m.Report,
    given: Mapping[str, object],
    *,
    data_end: dt.date | None,
    lookup: Lookup,
) -> Bound:
    """Validate ``given`` (name → text, or an already typed value) against ``report``'s
    parameters, fill in the defaults, and return what the query binds. The first value refused
    raises :class:`ParameterError`, before anything runs."""
    declared = {p.name: p for p in report.parameters}
    for name in given:
        if name not in declared:
            names = list(declared)
            known = f" (its parameters: {', '.join(names)})" if names else " (it has none)"
            raise ParameterError(
                f"report {report.id!r} has no parameter {_shown(str(name))}"
                f"{did_you_mean(str(name), names)}{known}"
            )
    values: dict[str, object] = {}
    by_name: dict[str, object] = {}
    shown: list[tuple[str, str]] = []
    for parameter in report.parameters:
        raw = given.get(parameter.name, parameter.default)
        if raw is None or (isinstance(raw, str) and raw.strip() == ""):
            raw = parameter.default
        if raw is None:
            if parameter.required:
                raise ParameterError(
                    f"report {report.id!r} needs parameter {parameter.name!r} "
                    f"({parameter.label}, {_kind(parameter)}): --param {parameter.name}=…"
                )
            for placeholder in parameter.placeholders():
                values[placeholder] = None
            by_name[parameter.name] = None
            shown.append((parameter.label, "all" if parameter.type in _ALL_TYPES else "—"))
            continue
        text = raw if isinstance(raw, str) else _text(raw)
        text = _clean(parameter.name, text)
        try:
            value, display = _one(parameter, text, data_end=data_end, lookup=lookup)
        except ValueError as exc:
            raise ParameterError(f"parameter {parameter.name!r}: {exc}") from None
        by_name[parameter.name] = value
        if isinstance(value, tuple):
            values[f"{parameter.name}_start"], values[f"{parameter.name}_end"] = value
        else:
            values[parameter.name] = value
        shown.append((parameter.label, display))
    return Bound(values, tuple(shown), by_name)


_ALL_TYPES = (*m.ENTITY_TYPES, "category", "role", "choice")


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _shown(value: str) -> str:
    """A value as a message quotes it: at most 40 characters."""
    return repr(value if len(value) <= 40 else value[:40] + "…")


def _kind(parameter: m.Parameter) -> str:
    if parameter.type == "choice":
        return "one of " + ", ".join(parameter.values)
    return {"period": "a period", "date": "a date", "integer": "a whole number"}.get(
        parameter.type, f"a {parameter.type}"
    )


def _one(
    parameter: m.Parameter, text: str, *, data_end: dt.date | None, lookup: Lookup
) -> tuple[object, str]:
    """One parameter's value and how the header shows it; ``ValueError`` when refused."""
    kind = parameter.type
    if kind in ("date", "period") and data_end is None and text in (DATA_END, *PRESETS):
        raise ValueError(f"{text!r} needs published data to resolve against; run the pipeline")
    if kind == "date":
        day = data_end if text == DATA_END else _date(text)
        assert day is not None
        return day, day.isoformat()
    if kind == "period":
        assert data_end is not None or text not in PRESETS
        start, end = resolve_period(text, data_end or dt.date.today())
        shown = f"{start.isoformat()} – {end.isoformat()}"
        return (start, end), (f"{text.replace('_', ' ')} ({shown})" if text in PRESETS else shown)
    if kind == "integer":
        number = _integer(parameter, text)
        return number, f"{number:,}"
    if kind == "boolean":
        flag = _boolean(text)
        return flag, "yes" if flag else "no"
    if kind == "choice":
        if text not in parameter.values:
            raise ValueError(
                f"{_shown(text)} is not one of {', '.join(parameter.values)}"
                + did_you_mean(text, parameter.values)
            )
        return text, text.replace("_", " ")
    if kind in ENTITY_LOOKUPS:
        table, key, names = ENTITY_LOOKUPS[kind]
        rows = lookup(table, key, names, text.strip())
        if len(rows) == 1:
            return rows[0][0], rows[0][1] or rows[0][0]
        if len(rows) > 1:
            keys = ", ".join(r[0] for r in rows[:5])
            raise ValueError(f"{_shown(text)} names {len(rows)} {kind}s ({keys}); give the id")
        rows = lookup(table, key, names, "")
        known = [r[0] for r in rows] + [r[1] for r in rows if r[1]]
        raise ValueError(f"no {kind} {_shown(text)}{did_you_mean(text, known)}")
    if kind in LISTED:
        table, column = LISTED[kind]
        known = [r[0] for r in lookup(table, column, (), "")]
        match = next((k for k in known if k.lower() == text.strip().lower()), None)
        if match is None:
            raise ValueError(f"no {kind} {_shown(text)}{did_you_mean(text, known)}")
        return match, match.replace("_", " ")
    raise AssertionError(f"unhandled parameter type {kind}")
