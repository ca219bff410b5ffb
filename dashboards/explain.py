"""Every number explains itself: what a value is made of, in words and in rows.

A "Why?" on a tile, a click on a chart's point or on a table's cell sends an explanation
request — the KPI, and where it differs from the page's filters, the period and the slice
(``{"branch": "denver"}``). :func:`explain` answers it from the engine alone: the KPI's
definition in words, the period, the filters and scope applied, value, plan, achievement and
status, and the fact rows the engine counted (:meth:`Engine.rows`, which add up to the value),
the first :data:`ROWS_SHOWN` of them in a grid and all of them as a CSV download.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from dashboards.filters import Filters

if TYPE_CHECKING:
    import pandas as pd

    from dashboards.data import Data

ROWS_SHOWN = 500
ROWS_EXPORTED = 200_000
SLICE_DIMENSIONS = ("branch", "employee", "client", "product", "warehouse", "channel", "role")


class ExplainError(ValueError):
    """A request that names an unknown KPI, a bad period or slice."""


@dataclass(frozen=True)
class Request:
    kpi: str
    start: dt.date
    end: dt.date
    slice: Mapping[str, str] = field(default_factory=dict)


def parse_request(raw: str | Mapping[str, Any], filters: Filters) -> Request:
    """A request from a control's id or a page's store, checked: the period defaults to the
    filters', and a slice names only dimensions with short plain members."""
    try:
        values = json.loads(raw) if isinstance(raw, str) else dict(raw)
    except (TypeError, ValueError) as exc:
        raise ExplainError("the explanation request is not readable") from exc
    if not isinstance(values, dict) or not isinstance(values.get("kpi"), str):
        raise ExplainError("the explanation request names no KPI")
    try:
        start = dt.date.fromisoformat(values["start"]) if values.get("start") else filters.start
        end = dt.date.fromisoformat(values["end"]) if values.get("end") else filters.end
    except (TypeError, ValueError) as exc:
        raise ExplainError("the explanation request's period is not a pair of days") from exc
    if end < start:
        raise ExplainError("the explanation request's period ends before it starts")
    raw_slice = values.get("slice") or {}
    if not isinstance(raw_slice, dict):
        raise ExplainError("the explanation request's slice is not a mapping")
    members: dict[str, str] = {}
    for name, member in raw_slice.items():
        if name not in SLICE_DIMENSIONS or not isinstance(member, str) or len(member) > 200:
            raise ExplainError(f"the explanation request cannot slice by {str(name)[:40]!r}")
        members[name] = member
    return Request(values["kpi"][:200], start, end, members)


@dataclass(frozen=True)
class Explanation:
    kpi: str
    label: str
    description: str
    how: str
    unit: str
    direction: str
    start: dt.date
    end: dt.date
    applied: tuple[tuple[str, str], ...]
    """(what, how it reads): the filters, the slice and the scope the number is under."""
    value: float | None
    plan: float | None
    achievement: float | None
    status: str | None
    rows: pd.DataFrame
    total_rows: int
    export_href: str


def narrowed(request: Request, filters: Filters) -> tuple[dict[str, list[str]], dict[str, str]]:
    """The scope a request's number is under, and the rest of its slice. A branch or an
    employee slice narrows the filters' scope (so the plan is that branch's), and only within
    it: a slice never widens what the viewer may see."""
    scope = filters.scope()
    rest = dict(request.slice)
    for dim in ("branch", "employee"):
        member = rest.pop(dim, None)
        if member is None:
            continue
        if dim in scope and member not in scope[dim]:
            raise ExplainError(f"no {dim} {member!r} in this view")
        scope[dim] = [member]
    return scope, rest


def explain(data: Data, request: Request, filters: Filters) -> Explanation:
    from dashboards.format import number_or_none
    from kpi_designer.engine import describe_kpi
    from kpi_designer.errors import EvaluationError

    engine = data.engine()
    kpi = engine.kpis.get(request.kpi)
    if kpi is None:
        raise ExplainError(f"no KPI {request.kpi!r} in this project")
    scope, rest = narrowed(request, filters)
    slice_filters = [f"{d} = '{_quote(m)}'" for d, m in sorted(rest.items())]
    try:
        frame = engine.evaluate(
            [kpi.id],
            start=request.start,
            end=request.end,
            grain="range",
            filters=slice_filters,
            scope=scope,
        )
        rows = engine.rows(
            kpi.id,
            period=(request.start, request.end),
            grain="range",
            slice=rest,
            scope=scope,
            limit=ROWS_SHOWN,
        )
    except EvaluationError as exc:
        raise ExplainError(str(exc)) from exc
    record = frame.iloc[0].to_dict() if len(frame) else {}
    names = dict(data.branches())
    applied: list[tuple[str, str]] = [("Period", f"{request.start} – {request.end}")]
    applied.append(
        ("Branch", names.get(filters.branch, filters.branch) if filters.branch else "All branches")
    )
    if filters.employee:
        applied.append(("Employee", dict(data.employees()).get(filters.employee, filters.employee)))
    for dim, member in sorted(request.slice.items()):
        shown = names.get(member, member) if dim == "branch" else member
        applied.append((f"Only {dim}", shown))
    query = {"kpi": kpi.id, "start": request.start.isoformat(), "end": request.end.isoformat()}
    query.update({f"slice.{d}": m for d, m in request.slice.items()})
    search = filters.search().lstrip("?")
    export = "/export/rows.csv?" + urlencode(query) + (f"&{search}" if search else "")
    return Explanation(
        kpi=kpi.id,
        label=kpi.label,
        description=kpi.description,
        how=describe_kpi(kpi),
        unit=kpi.unit,
        direction=kpi.direction,
        start=request.start,
        end=request.end,
        applied=tuple(applied),
        value=number_or_none(record.get("value")),
        plan=number_or_none(record.get("plan")),
        achievement=number_or_none(record.get("achievement")),
        status=record.get("status") or None,
        rows=rows,
        total_rows=int(rows.attrs.get("total", len(rows))),
        export_href=export,
    )


def _quote(text: str) -> str:
    return text.replace("'", "''")
