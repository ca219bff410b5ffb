"""Reports: the whole report catalog, browsed by category and searched as you type; one report
chosen (also by address, ``/reports?report=<id>``) shows the question it answers and its
parameters as a form, runs as a preview (its table and its chart) and downloads as PDF, XLSX,
CSV or HTML — the same files ``kpiboard report run`` writes.

The global filters give the defaults: their period is a period parameter's, their branch and
employee the scope the report runs under, always within the viewer's (a company-wide report
runs without one, and is listed and run only for a viewer of every row). ``report`` is this
page's own key of the address, kept apart from the filters' keys. A preview run is written to
the audit log.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs, urlencode

import dash
import dash_bootstrap_components as dbc
from dash import ALL, MATCH, Input, Output, State, callback, dcc, html, no_update

from dashboards.access import may_run
from dashboards.app import audit, data, filters_of, remembered
from dashboards.components.grid import report_table
from dashboards.components.states import empty, failed, notices, problem
from dashboards.data import Data
from dashboards.filters import PRESET_LABELS, Filters
from dashboards.routes import COMPANY_WIDE
from reports import model as m
from reports.params import DATA_END, PRESETS

log = logging.getLogger("kpiboard.dashboards")

QUERY_KEY = "report"
"""The page's own key of the address: the chosen report."""
CUSTOM = "custom"
FORMATS = (("pdf", "PDF"), ("xlsx", "XLSX"), ("csv", "CSV"), ("html", "HTML"))
ALL_CATEGORIES = "all"
PARAM = "reports-param"
"""Controls whose ``value`` is a parameter's: dropdowns, number inputs, checkboxes."""
PERIOD = "reports-period"
RANGE = "reports-range"
RANGE_BOX = "reports-range-box"
DATE = "reports-date"
DROPDOWN_TYPES = ("branch", "employee", "client", "product", "warehouse", "supplier")
LISTED_TYPES = ("category", "role")


def layout(**query: Any) -> html.Div:
    chosen = query.get(QUERY_KEY)
    return html.Div(
        [
            html.H1("Reports", className="kb-page-title"),
            html.Div(
                [
                    html.Aside(
                        [
                            dbc.Label("Search", html_for="reports-search", className="kb-muted"),
                            dbc.Input(
                                id="reports-search",
                                type="search",
                                placeholder="Title, question or id…",
                                debounce=False,
                                autoComplete="off",
                            ),
                            dbc.RadioItems(
                                id="reports-category",
                                options=category_options(),
                                value=ALL_CATEGORIES,
                                className="reports-categories",
                                inputClassName="btn-check",
                                labelClassName="btn btn-outline-secondary btn-sm",
                                labelCheckedClassName="active",
                            ),
                            html.Div(id="reports-count", className="kb-muted kb-small"),
                            html.Nav(id="reports-list", className="reports-list"),
                        ],
                        className="reports-browser",
                    ),
                    html.Section(
                        [
                            html.Div(id="reports-head"),
                            html.Div(id="reports-form", className="reports-form"),
                            html.Div(
                                [
                                    dbc.Button(
                                        "Run preview",
                                        id="reports-run",
                                        color="primary",
                                        n_clicks=0,
                                        disabled=not chosen,
                                    ),
                                    html.Div(id="reports-downloads", className="reports-downloads"),
                                ],
                                className="reports-actions",
                                hidden=not chosen,
                                id="reports-actions",
                            ),
                            html.Div(id="reports-error"),
                            dcc.Loading(
                                html.Div(id="reports-result"),
                                type="dot",
                                delay_show=300,
                            ),
                        ],
                        className="reports-detail",
                    ),
                ],
                className="reports-layout",
            ),
        ]
    )


dash.register_page(
    __name__, path="/reports", name="Reports", title="Reports", order=8, layout=layout
)


# -- the catalog -------------------------------------------------------------------------------


def category_options() -> list[dict[str, str]]:
    options = [{"label": "All", "value": ALL_CATEGORIES}]
    options += [{"label": m.CATEGORY_TITLES[c], "value": c} for c in m.CATEGORIES]
    return options


def matching(reports: Sequence[m.Report], text: str | None, category: str | None) -> list[m.Report]:
    """The reports of ``category`` (all for ``all``/None) whose title, question or id holds
    every word of ``text`` (case-insensitive)."""
    words = (text or "").lower().split()
    out = []
    for report in reports:
        if category not in (None, "", ALL_CATEGORIES) and report.category != category:
            continue
        haystack = f"{report.title} {report.question} {report.id}".lower()
        if all(w in haystack for w in words):
            out.append(report)
    return out


def chosen_id(search: str | None) -> str | None:
    """The report the address names (``?report=<id>``)."""
    values = parse_qs((search or "").lstrip("?"), max_num_fields=50).get(QUERY_KEY)
    return values[0] if values else None


def report_href(f: Filters, report_id: str) -> str:
    """The address of a report on this page, with the filters."""
    filters = f.search().lstrip("?")
    own = urlencode({QUERY_KEY: report_id})
    return "/reports?" + (f"{filters}&{own}" if filters else own)


def report_link(report: m.Report, f: Filters, active: bool) -> dcc.Link:
    return dcc.Link(
        [
            html.Span(report.title, className="reports-item-title"),
            html.Span(report.question, className="reports-item-question"),
        ],
        href=report_href(f, report.id),
        className="reports-item" + (" active" if active else ""),
        id={"type": "reports-item", "index": report.id},
        title=report.id,
    )


@callback(
    Output("reports-list", "children"),
    Output("reports-count", "children"),
    Input("reports-search", "value"),
    Input("reports-category", "value"),
    Input("url", "search"),
)
def browse(text: str | None, category: str | None, search: str | None) -> tuple[Any, Any]:
    """The catalog's reports that match the search, in the chosen category."""
    d = data()
    f = filters_of(search)
    try:
        reports = runnable(d)
    except Exception:
        return failed("catalog", page="reports"), None
    found = matching(reports, text, category)
    chosen = chosen_id(search)
    if not found:
        return empty("No report matches: try another word or All categories."), None
    items: list[Any] = []
    current = None
    for report in found:
        if category in (None, "", ALL_CATEGORIES) and report.category != current:
            current = report.category
            items.append(
                html.Div(m.CATEGORY_TITLES.get(current, current), className="reports-group")
            )
        items.append(report_link(report, f, report.id == chosen))
    total = len(reports)
    count = f"{len(found):,} of {total:,} reports" if len(found) != total else f"{total:,} reports"
    return items, count


def runnable(d: Data) -> list[m.Report]:
    """The catalog's reports the viewer may run (:func:`dashboards.access.may_run`)."""
    return [r for r in d.runner().catalog.reports.values() if may_run(r)]


def chosen_report(d: Data, report_id: str) -> m.Report:
    """The report ``report_id`` names, if the viewer may run it (else a :class:`UserError`
    that reads like an unknown one's: one line)."""
    from kpiboard.errors import UserError

    report = d.runner().catalog.get(report_id)
    if not may_run(report):
        raise UserError(COMPANY_WIDE.format(report_id=report_id))
    return report


# -- the parameter form ------------------------------------------------------------------------


def _scope(report: m.Report, f: Filters) -> dict[str, list[str]] | None:
    """The scope a report runs under (:meth:`Filters.report_scope`)."""
    return f.report_scope(report)


def members(d: Data, kind: str, scope: dict[str, list[str]] | None) -> list[tuple[str, str]]:
    """``(id, name)`` of an entity (or the values of a category or role) under ``scope``."""
    key = tuple(sorted((k, tuple(v)) for k, v in (scope or {}).items()))
    return d.cached(("report-members", kind, key), lambda: d.runner().members(kind, scope))


def period_default(parameter: m.Parameter, f: Filters) -> tuple[str, str | None, str | None]:
    """A period parameter's preset (or ``custom``) and range, from the global filters'
    period: the page's period is the report's unless the reader changes it."""
    if f.period in PRESETS:
        return f.period, f.start.isoformat(), f.end.isoformat()
    return CUSTOM, f.start.isoformat(), f.end.isoformat()


def control(parameter: m.Parameter, d: Data, f: Filters, report: m.Report) -> Any:
    """The form control of one parameter, by its type, its default filled in."""
    name = parameter.name
    kind = parameter.type
    if kind == "period":
        preset, start, end = period_default(parameter, f)
        options = [{"label": PRESET_LABELS.get(p, p), "value": p} for p in PRESETS]
        options.append({"label": "Custom range…", "value": CUSTOM})
        return html.Div(
            [
                dcc.Dropdown(
                    id={"type": PERIOD, "name": name},
                    options=options,
                    value=preset,
                    clearable=False,
                    searchable=False,
                ),
                html.Div(
                    dcc.DatePickerRange(
                        id={"type": RANGE, "name": name},
                        start_date=start,
                        end_date=end,
                        display_format="YYYY-MM-DD",
                        minimum_nights=0,
                    ),
                    id={"type": RANGE_BOX, "name": name},
                    hidden=preset != CUSTOM,
                    className="reports-range",
                ),
            ]
        )
    if kind == "date":
        default = parameter.default
        last = d.last_day()
        day = last if default == DATA_END else (str(default) if default else None)
        return dcc.DatePickerSingle(
            id={"type": DATE, "name": name},
            date=day.isoformat() if isinstance(day, dt.date) else day,
            display_format="YYYY-MM-DD",
            clearable=not parameter.required,
        )
    if kind in DROPDOWN_TYPES or kind in LISTED_TYPES:
        options = [
            {"label": f"{label} ({key})" if label and label != key else key, "value": key}
            for key, label in members(d, kind, _scope(report, f))
        ]
        return dcc.Dropdown(
            id={"type": PARAM, "name": name},
            options=options,
            value=str(parameter.default) if parameter.default is not None else None,
            placeholder="All" if not parameter.required else f"Choose a {kind}",
            clearable=not parameter.required,
        )
    if kind == "choice":
        return dcc.Dropdown(
            id={"type": PARAM, "name": name},
            options=[{"label": v.replace("_", " "), "value": v} for v in parameter.values],
            value=str(parameter.default) if parameter.default is not None else None,
            placeholder="All" if not parameter.required else "Choose one",
            clearable=parameter.default is None and not parameter.required,
            searchable=False,
        )
    if kind == "integer":
        return dbc.Input(
            id={"type": PARAM, "name": name},
            type="number",
            min=parameter.minimum,
            max=parameter.maximum,
            step=1,
            value=parameter.default,
            inputMode="numeric",
        )
    if kind == "boolean":
        return dbc.Checkbox(
            id={"type": PARAM, "name": name},
            value=bool(parameter.default),
            label=parameter.label,
        )
    raise AssertionError(f"no control for parameter type {kind}")


def parameter_form(report: m.Report, d: Data, f: Filters) -> list[Any]:
    """Every parameter of ``report`` as a labelled control, defaults filled in."""
    fields = []
    for parameter in report.parameters:
        widget = control(parameter, d, f, report)
        label = (
            None
            if parameter.type == "boolean"
            else html.Div(
                parameter.label + (" *" if parameter.required else ""),
                className="kb-filter-label",
            )
        )
        fields.append(
            html.Div(
                [label, widget],
                className=f"reports-field reports-field-{parameter.type}",
                title=f"{parameter.name} ({parameter.type})",
            )
        )
    if not fields:
        return [html.P("This report has no parameters.", className="kb-muted")]
    return fields


def report_head(report: m.Report, f: Filters) -> list[Any]:
    facts = [m.CATEGORY_TITLES.get(report.category, report.category), report.id]
    if report.scope == "company":
        facts.append("company-wide")
    head: list[Any] = [
        html.H2(report.title, className="reports-title", id="reports-title"),
        html.P(report.question, className="reports-question"),
        html.P(" · ".join(facts), className="kb-muted kb-small"),
    ]
    if report.scope == "company" and (f.branch or f.employee):
        head.append(
            notices(["This report is company-wide: the branch and employee filters do not apply."])
        )
    return head


@callback(
    Output("reports-head", "children"),
    Output("reports-form", "children"),
    Output("reports-actions", "hidden"),
    Output("reports-run", "disabled"),
    Output("reports-result", "children"),
    Output("reports-error", "children"),
    Input("url", "search"),
)
@remembered
def choose(search: str | None) -> tuple[Any, ...]:
    """The chosen report's description and parameter form (none chosen: how to choose)."""
    d = data()
    f = filters_of(search)
    report_id = chosen_id(search)
    if not report_id:
        return (
            empty("Choose a report on the left: search by a word, or browse a category."),
            None,
            True,
            True,
            None,
            notices(f.ignored),
        )
    try:
        report = chosen_report(d, report_id)
        form = parameter_form(report, d, f)
    except Exception as exc:  # an unknown id, a warehouse not there: one line
        log.info("reports: %s: %s", report_id, exc)
        line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return problem(line, advice="Choose a report from the list."), None, True, True, None, None
    hint = html.P(
        "Run the preview to see the rows and the chart here, or download the report as it prints.",
        className="kb-muted",
    )
    return report_head(report, f), form, False, False, hint, notices(f.ignored)


@callback(
    Output({"type": RANGE_BOX, "name": MATCH}, "hidden"),
    Input({"type": PERIOD, "name": MATCH}, "value"),
)
def show_range(preset: str | None) -> bool:
    return preset != CUSTOM


# -- values, downloads, the preview ------------------------------------------------------------


def _id_name(component_id: Any) -> str:
    return str(component_id["name"]) if isinstance(component_id, dict) else str(component_id)


def given_values(
    values: Sequence[tuple[Any, Any]],
    periods: Sequence[tuple[Any, Any]],
    ranges: Sequence[tuple[Any, Any, Any]],
    dates: Sequence[tuple[Any, Any]],
) -> dict[str, str]:
    """The form's values as the runner takes them (text by parameter name); an empty control
    is left out (the parameter's default applies, "all" for an optional one)."""
    given: dict[str, str] = {}
    for cid, value in values:
        if value is None or value == "":
            continue
        if isinstance(value, bool):
            given[_id_name(cid)] = "true" if value else "false"
        elif isinstance(value, float) and value.is_integer():
            given[_id_name(cid)] = str(int(value))
        else:
            given[_id_name(cid)] = str(value)
    spans = {_id_name(cid): (start, end) for cid, start, end in ranges}
    for cid, preset in periods:
        name = _id_name(cid)
        if preset == CUSTOM:
            start, end = spans.get(name, (None, None))
            if start and end:
                given[name] = f"{str(start)[:10]}..{str(end)[:10]}"
        elif preset:
            given[name] = str(preset)
    for cid, day in dates:
        if day:
            given[_id_name(cid)] = str(day)[:10]
    return given


def download_href(report_id: str, fmt: str, given: dict[str, str], f: Filters) -> str:
    """``/download/report/<id>.<fmt>?…``: the parameters, and the filters' branch and employee
    (the scope; a parameter of the same name means the same and wins)."""
    query: dict[str, str] = {}
    if f.branch:
        query["branch"] = f.branch
    if f.employee:
        query["employee"] = f.employee
    query.update(given)
    tail = "?" + urlencode(query) if query else ""
    return f"/download/report/{report_id}.{fmt}{tail}"


def _given(
    values: list[Any],
    value_ids: list[Any],
    periods: list[Any],
    period_ids: list[Any],
    starts: list[Any],
    ends: list[Any],
    range_ids: list[Any],
    dates: list[Any],
    date_ids: list[Any],
) -> dict[str, str]:
    return given_values(
        list(zip(value_ids, values, strict=False)),
        list(zip(period_ids, periods, strict=False)),
        list(zip(range_ids, starts, ends, strict=False)),
        list(zip(date_ids, dates, strict=False)),
    )


FORM_STATE = (
    ({"type": PARAM, "name": ALL}, "value"),
    ({"type": PARAM, "name": ALL}, "id"),
    ({"type": PERIOD, "name": ALL}, "value"),
    ({"type": PERIOD, "name": ALL}, "id"),
    ({"type": RANGE, "name": ALL}, "start_date"),
    ({"type": RANGE, "name": ALL}, "end_date"),
    ({"type": RANGE, "name": ALL}, "id"),
    ({"type": DATE, "name": ALL}, "date"),
    ({"type": DATE, "name": ALL}, "id"),
)


@callback(
    Output("reports-downloads", "children"),
    Input("url", "search"),
    *[Input(i, p) if p != "id" else State(i, p) for i, p in FORM_STATE],
)
def downloads(search: str | None, *form: list[Any]) -> Any:
    """Download links that carry the form's values as they are now."""
    report_id = chosen_id(search)
    if not report_id:
        return None
    try:
        chosen_report(data(), report_id)
    except Exception:  # the form says what is wrong
        return None
    f = filters_of(search)
    given = _given(*form)
    return [
        html.Span("Download", className="kb-muted"),
        *[
            html.A(
                label,
                href=download_href(report_id, fmt, given, f),
                className="btn btn-outline-secondary btn-sm",
                id=f"reports-download-{fmt}",
                download="",
            )
            for fmt, label in FORMATS
        ],
    ]


@callback(
    Output("reports-result", "children", allow_duplicate=True),
    Output("reports-error", "children", allow_duplicate=True),
    Input("reports-run", "n_clicks"),
    State("url", "search"),
    *[State(i, p) for i, p in FORM_STATE],
    prevent_initial_call=True,
)
def run(clicks: int | None, search: str | None, *form: list[Any]) -> tuple[Any, Any]:
    """The report run with the form's values under the filters' scope: its chart and table,
    or what was refused in one line."""
    if not clicks:
        return no_update, no_update
    report_id = chosen_id(search)
    if not report_id:
        return no_update, no_update
    d = data()
    f = filters_of(search)
    given = _given(*form)
    shown = preview(d, report_id, given, f)
    try:
        scope = _scope(chosen_report(d, report_id), f)
    except Exception:  # refused: the preview says why, the log that it was asked
        scope = None
    detail = {"report": report_id, "parameters": given, "scope": scope}
    audit("report_run", target=report_id, detail=detail)
    return shown


def preview(d: Data, report_id: str, given: dict[str, str], f: Filters) -> tuple[Any, Any]:
    """``(result, error)``: the report's chart and table, or one line saying what is wrong."""
    from kpiboard.errors import UserError
    from reports.render.charts import figure

    try:
        report = chosen_report(d, report_id)
        values: dict[str, object] = dict(given)
        result = d.report(report_id, values, scope=_scope(report, f))
    except UserError as exc:  # a parameter refused, a scope, nothing published
        line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return None, dbc.Alert(line, color="warning", className="reports-refused")
    except Exception:
        return None, failed(f"report {report_id!r}", page="reports")
    parts: list[Any] = [
        html.P(
            " · ".join(f"{label}: {value}" for label, value in result.parameters)
            + f" · {len(result.frame):,} rows",
            className="kb-muted kb-small reports-shown",
            id="reports-shown",
        )
    ]
    if result.frame.empty:
        parts.append(empty("The report has no rows for these parameters: widen the period."))
        return parts, None
    chart = figure(result)
    if chart is not None:
        parts.append(
            dbc.Card(
                dcc.Graph(
                    id="reports-chart",
                    figure=chart,
                    config={"displaylogo": False, "responsive": True},
                ),
                body=True,
                className="mb-3",
            )
        )
    parts.append(dbc.Card(report_table("reports-table", result), body=True))
    return parts, None
