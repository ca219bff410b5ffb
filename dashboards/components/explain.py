"""The explanation drawer's content: a number's definition, what it is under, and its rows."""

from __future__ import annotations

from typing import Any

from dash import html

from dashboards.components.grid import Col, grid
from dashboards.components.states import empty
from dashboards.components.tiles import status_badge
from dashboards.explain import ROWS_SHOWN, Explanation
from dashboards.format import achievement, kpi_value
from reports import formats

ROW_FORMATS = {
    "date": "date",
    "value": "number",
    "counted": "text",
    "balance": "number",
    "since": "datetime",
    "until": "datetime",
    "gap_days": "count",
}


def _row_columns(e: Explanation) -> list[Col]:
    columns = []
    for name in e.rows.columns:
        fmt = ROW_FORMATS.get(str(name), "text")
        if name == "value":
            fmt = {"money": "money", "count": "number"}.get(e.unit, "number")
        columns.append(Col(str(name), str(name).replace("_", " ").capitalize(), fmt))
    return columns


def explanation_body(e: Explanation, currency: str) -> list[Any]:
    better = "higher is better" if e.direction == "higher" else "lower is better"
    facts = [
        ("Value", kpi_value(e.value, e.unit, currency)),
        ("Plan", kpi_value(e.plan, e.unit, currency) if e.plan is not None else "no plan"),
        ("Achievement", achievement(e.achievement)),
    ]
    shown = len(e.rows)
    if e.total_rows == 0:
        rows: Any = empty("No rows count towards this number in this period and view.")
    else:
        rows = grid(
            "kb-explain-rows",
            e.rows.to_dict("records"),
            _row_columns(e),
            currency=currency,
            file_name=f"{e.kpi}_{e.start}_{e.end}.csv",
        )
    count = (
        f"All {e.total_rows:,} rows."
        if e.total_rows <= shown
        else f"The first {shown:,} of {e.total_rows:,} rows (ordered by date); download all."
    )
    return [
        html.H3(e.label, className="kb-explain-title", id="kb-explain-title"),
        html.P(e.description, className="kb-explain-description") if e.description else None,
        html.Dl(
            [
                html.Dt("How it is computed"),
                html.Dd(html.Code(e.how)),
                html.Dt("Unit"),
                html.Dd(f"{e.unit}, {better}"),
                *[item for what, how in e.applied for item in (html.Dt(what), html.Dd(how))],
            ],
            className="kb-explain-facts",
        ),
        html.Div(
            [
                *[
                    html.Div(
                        [html.Div(k, className="kb-muted"), html.Strong(v)], className="kb-fact"
                    )
                    for k, v in facts
                ],
                html.Div(status_badge(e.status), className="kb-fact"),
            ],
            className="kb-explain-numbers",
        ),
        html.H4("The rows behind it", className="kb-explain-rows-title"),
        html.P(
            [count, " ", html.A("Download CSV", href=e.export_href, className="kb-download")],
            className="kb-muted",
        ),
        rows,
        html.P(
            f"Rows shown up to {ROWS_SHOWN:,}; their values add up to the number above "
            f"(a ratio's rows are its numerator's and denominator's). {formats.EM_DASH} marks "
            "a missing value.",
            className="kb-muted kb-small",
        ),
    ]
