"""Clients: are we winning clients, do they keep buying, and whom should we call.

The headline client KPIs as tiles (new, active, returning and reactivated clients, revenue per
active client, repeat purchases). Below them what explains them: the channels new clients came
through month by month (the engine's ``new_clients`` by ``channel``; a bar explains itself),
the clients' recency-frequency-spend segments (``client_rfm_segments``), whether new clients
come back (``client_cohort_retention`` as a heatmap), and the two lists a sales head acts on:
the biggest clients of the period (``top_clients``) and those gone quiet (``lapsed_clients``).

Every number comes from the engine or a catalog report with the filters' period and scope, so
the branch and employee filters narrow the whole page and the PDF of each report agrees.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, callback, dcc, html, no_update

from dashboards.app import data, filters_of, remembered
from dashboards.components.grid import report_table
from dashboards.components.states import attrs, empty, failed, notices, skeleton
from dashboards.components.tiles import tile
from dashboards.data import Data
from dashboards.figures import clients as figures_clients
from dashboards.filters import Filters
from dashboards.kpis import add_months, headlines, month_start, trend_range

log = logging.getLogger("kpiboard.dashboards")

KPIS = (
    "new_clients",
    "active_clients",
    "returning_clients",
    "reactivated_clients",
    "revenue_per_active_client",
    "repeat_purchase_rate_90d",
)
"""The tiles, in order (a KPI the project does not define shows why on its tile)."""
ACQUISITION_KPI = "new_clients"
LIST_SIZE = 25
"""Clients shown in the top and lapsed lists (the reports' own pages list more)."""
LAPSED_MONTHS = 6
COHORT_MONTHS = 18
"""First-purchase months in the retention heatmap at least: the oldest six show a year on."""
GRAPH_CONFIG: Any = {"displaylogo": False, "modeBarButtonsToRemove": ["select2d", "lasso2d"]}


def layout(**_query: Any) -> html.Div:
    return html.Div(
        [
            html.H1("Clients", className="kb-page-title"),
            html.Div(id="clients-notices"),
            html.Div([skeleton(170) for _ in KPIS], id="clients-tiles", className="kb-tiles"),
            html.H2("Where new clients come from", className="kb-section-title"),
            dbc.Card(
                [
                    html.Div(skeleton(40), id="clients-acquisition-head"),
                    html.Div(
                        dcc.Graph(
                            id="clients-acquisition-chart",
                            config=GRAPH_CONFIG,
                            className="clients-graph",
                            style={"height": f"{figures_clients.CHART_HEIGHT}px"},
                        ),
                        id="clients-acquisition-box",
                        role="figure",
                        **attrs(aria_label="New clients per month by acquisition channel"),
                    ),
                    html.Div(skeleton(240), id="clients-acquisition-table"),
                ],
                body=True,
                className="kb-card",
            ),
            html.H2("Who buys: recency, frequency and spend", className="kb-section-title"),
            html.Div(skeleton(360), id="clients-segments"),
            html.H2("Do new clients come back?", className="kb-section-title"),
            html.Div(skeleton(440), id="clients-retention"),
            html.Div(
                [
                    html.Div(
                        [
                            html.H2("Biggest clients", className="kb-section-title"),
                            html.Div(skeleton(320), id="clients-top"),
                        ]
                    ),
                    html.Div(
                        [
                            html.H2("Clients gone quiet", className="kb-section-title"),
                            html.Div(skeleton(320), id="clients-lapsed"),
                        ]
                    ),
                ],
                className="clients-lists",
            ),
        ],
        className="clients-page",
    )


dash.register_page(
    __name__, path="/clients", name="Clients", title="Clients", order=2, layout=layout
)


# -- what each part shows (called by the callbacks, and by tests in a request context) ---------


def whose(d: Data, f: Filters) -> str:
    """`` for Denver`` / `` for Denver, <employee>`` / ``""``: the scope in words."""
    parts = []
    if f.branch:
        parts.append(dict(d.branches()).get(f.branch, f.branch))
    if f.employee:
        parts.append(dict(d.employees(f.branch)).get(f.employee, f.employee))
    return " for " + ", ".join(parts) if parts else ""


def period_range(f: Filters) -> str:
    """The filters' period as a report's ``period`` parameter."""
    return f"{f.start.isoformat()}..{f.end.isoformat()}"


def months_shown(f: Filters) -> tuple[dt.date, dt.date]:
    """The whole months the trend charts cover: the period's, and at least the last twelve."""
    first, last = trend_range(f.end)
    return min(first, month_start(f.start)), last


def tiles_part(d: Data, f: Filters) -> list[Any]:
    search = "/clients" + f.search()
    return [tile(h, href=search, currency=d.currency) for h in headlines(d, KPIS, f)]


def _subtitle(text: str) -> html.P:
    return html.P(text, className="kb-muted kb-small clients-subtitle")


def _head(figure: Any, subtitle: str) -> tuple[html.Div, Any]:
    """The chart's message (its figure's title) and its subtitle as text on the page, where a
    screen reader reads them and they wrap on a narrow screen; the figure without its title."""
    message = figure.layout.title.text or ""
    margin = figure.layout.margin.t
    figure.update_layout(title={"text": None}, margin={"t": max(30, (margin or 90) - 60)})
    head = html.Div(
        [html.P(message, className="clients-message"), _subtitle(subtitle)],
        className="clients-head",
    )
    return head, figure


def _graph(id: str, figure: Any, subtitle: str) -> html.Div:
    """A chart under its message and subtitle, named for screen readers by its message (its
    data is the table beside it)."""
    head, figure = _head(figure, subtitle)
    message = head.children[0].children
    graph = dcc.Graph(id=id, figure=figure, config=GRAPH_CONFIG, className="clients-graph")
    return html.Div([head, html.Div(graph, role="figure", **attrs(aria_label=message))])


def acquisition_frame(d: Data, f: Filters) -> Any:
    """The engine's new clients per month and acquisition channel over :func:`months_shown`."""
    first, last = months_shown(f)
    return d.engine().evaluate(
        ACQUISITION_KPI, start=first, end=last, grain="month", by=["channel"], scope=f.scope()
    )


def acquisition_part(d: Data, f: Filters) -> tuple[Any, Any, Any]:
    """The acquisition section: (the line above the chart or why there is none, the chart's
    figure or ``None``, the period's channels as the report's table)."""
    engine = d.engine()
    channels = d.report("client_acquisition_by_channel", {"period": period_range(f)}, f.scope())
    if channels.frame.empty:
        table: Any = empty(
            f"No enquiries or first purchases in {f.period_text()}{whose(d, f)} — widen the period."
        )
    else:
        table = html.Div(
            [
                html.H3(
                    f"Channels in {f.period_text()}: enquiries, conversion, first purchases",
                    className="clients-subhead",
                ),
                report_table("clients-channel-grid", channels),
            ]
        )
    if ACQUISITION_KPI not in engine.kpis:
        why = f"The KPI {ACQUISITION_KPI} is not defined in this project's KPI files."
        return empty(why), None, table
    if "channel" not in engine.dimensions(ACQUISITION_KPI):
        return empty(f"{ACQUISITION_KPI} cannot be split by acquisition channel."), None, table
    first, last = months_shown(f)
    frame = acquisition_frame(d, f)
    label = engine.kpis[ACQUISITION_KPI].label
    months = f"{first:%B %Y} – {last:%B %Y}"
    if frame.empty or float(frame["value"].fillna(0).sum()) == 0:
        why = (
            f"No client bought for the first time in {months}{whose(d, f)} — "
            "widen the period or choose another branch."
        )
        return empty(why), None, table
    figure = figures_clients.acquisition(frame, kpi=ACQUISITION_KPI, label=label)
    head, figure = _head(
        figure,
        f"{label} per month by acquisition channel, {months}{whose(d, f)}. "
        "Click a bar for the clients behind it.",
    )
    return head, figure, table


def segments_result(d: Data, f: Filters) -> Any:
    return d.report("client_rfm_segments", {"as_of": f.end.isoformat()}, f.scope())


def segments_part(d: Data, f: Filters) -> Any:
    result = segments_result(d, f)
    if result.frame.empty:
        return empty(
            f"No client bought in the 12 months to {f.end.isoformat()}{whose(d, f)}, "
            "so there is nobody to segment — choose a later period or another branch."
        )
    currency = str(result.currency or d.currency)
    return dbc.Card(
        [
            _graph(
                "clients-segments-chart",
                figures_clients.rfm(result.frame, currency=currency),
                f"Clients who bought in the 12 months to {f.end.isoformat()}{whose(d, f)}, "
                "scored by how recently, how often and how much they bought; "
                "share of all in brackets.",
            ),
            report_table("clients-segments-grid", result),
        ],
        body=True,
        className="kb-card",
    )


def cohorts_shown(f: Filters) -> tuple[dt.date, dt.date]:
    """The first-purchase months of the retention heatmap: the period's, and at least the last
    :data:`COHORT_MONTHS` (so a year's retention is seen for the oldest)."""
    first, last = trend_range(f.end, COHORT_MONTHS)
    return min(first, month_start(f.start)), last


def retention_result(d: Data, f: Filters) -> Any:
    first, _ = cohorts_shown(f)
    return d.report(
        "client_cohort_retention",
        {"cohorts": f"{first.isoformat()}..{f.end.isoformat()}"},
        f.scope(),
    )


def retention_part(d: Data, f: Filters) -> Any:
    result = retention_result(d, f)
    first, _ = cohorts_shown(f)
    months = f"{first:%B %Y} – {f.end:%B %Y}"
    if result.frame.empty:
        return empty(
            f"No client bought for the first time in {months}{whose(d, f)} — "
            "widen the period or choose another branch."
        )
    return dbc.Card(
        [
            _graph(
                "clients-retention-chart",
                figures_clients.retention(result.frame),
                f"Share of the clients who first bought in each month ({months}{whose(d, f)}) "
                "who bought again 1, 2, 3, 6, 9 and 12 months later; blank where that month "
                "is not over yet. Darker is more.",
            ),
            html.Details(
                [
                    html.Summary("The same as a table", className="clients-summary"),
                    report_table("clients-retention-grid", result),
                ]
            ),
        ],
        body=True,
        className="kb-card",
    )


def top_part(d: Data, f: Filters) -> Any:
    result = d.report("top_clients", {"period": period_range(f), "top": LIST_SIZE}, f.scope())
    if result.frame.empty:
        return empty(f"No client bought in {f.period_text()}{whose(d, f)} — widen the period.")
    return dbc.Card(
        [
            _subtitle(
                f"The {LIST_SIZE} clients with the most revenue in {f.period_text()}"
                f"{whose(d, f)}, against the same days a year earlier."
            ),
            report_table("clients-top-grid", result),
        ],
        body=True,
        className="kb-card",
    )


def lapsed_part(d: Data, f: Filters) -> Any:
    given = {"as_of": f.end.isoformat(), "months": LAPSED_MONTHS, "top": LIST_SIZE}
    result = d.report("lapsed_clients", given, f.scope())
    since = add_months(month_start(f.end), -LAPSED_MONTHS)
    if result.frame.empty:
        return empty(
            f"No client who bought in the year before has gone {LAPSED_MONTHS} months without "
            f"a purchase by {f.end.isoformat()}{whose(d, f)} — nobody to win back."
        )
    return dbc.Card(
        [
            _subtitle(
                f"Clients who bought in the year before but not in the {LAPSED_MONTHS} months "
                f"to {f.end.isoformat()} (last purchase before about {since:%B %Y})"
                f"{whose(d, f)}, the {LIST_SIZE} who spent most first."
            ),
            report_table("clients-lapsed-grid", result),
        ],
        body=True,
        className="kb-card",
    )


# -- the callbacks ------------------------------------------------------------------------------


def _guarded(name: str, part: Callable[[Data, Filters], Any], search: str | None) -> Any:
    """A part of the page, or a message when it fails (the details go to the log)."""
    try:
        return part(data(), filters_of(search))
    except Exception:  # a failing part shows a message, never a stack trace
        return failed(name, page="clients")


@callback(
    Output("clients-tiles", "children"),
    Output("clients-notices", "children"),
    Input("url", "search"),
)
@remembered
def fill_tiles(search: str | None) -> tuple[Any, Any]:
    f = filters_of(search)
    found = _guarded("headline KPIs", tiles_part, search)
    return (found if isinstance(found, list) else [found]), notices(f.ignored)


@callback(
    Output("clients-acquisition-head", "children"),
    Output("clients-acquisition-chart", "figure"),
    Output("clients-acquisition-box", "hidden"),
    Output("clients-acquisition-table", "children"),
    Input("url", "search"),
)
@remembered
def fill_acquisition(search: str | None) -> tuple[Any, Any, bool, Any]:
    """The chart stays in the layout (its clicks are an input); it hides when there is none."""
    found = _guarded("acquisition by channel", acquisition_part, search)
    if not isinstance(found, tuple):
        return found, no_update, True, None
    head, figure, table = found
    return head, figure if figure is not None else no_update, figure is None, table


@callback(Output("clients-segments", "children"), Input("url", "search"))
@remembered
def fill_segments(search: str | None) -> Any:
    return _guarded("client segments", segments_part, search)


@callback(Output("clients-retention", "children"), Input("url", "search"))
@remembered
def fill_retention(search: str | None) -> Any:
    return _guarded("retention by cohort", retention_part, search)


@callback(
    Output("clients-top", "children"),
    Output("clients-lapsed", "children"),
    Input("url", "search"),
)
@remembered
def fill_lists(search: str | None) -> tuple[Any, Any]:
    return _guarded("top clients", top_part, search), _guarded(
        "lapsed clients", lapsed_part, search
    )


def explain_request(click: dict[str, Any] | None) -> dict[str, Any] | None:
    """The explanation a click on an acquisition bar asks for: the KPI over that month, sliced
    by the bar's channel (``None`` for a click on nothing)."""
    points = (click or {}).get("points") or []
    if not points or not isinstance(points[0].get("customdata"), list | tuple):
        return None
    kpi, channel, start, end = points[0]["customdata"][:4]
    return {"kpi": kpi, "start": start, "end": end, "slice": {"channel": channel}}


@callback(
    Output("kb-explain-request", "data", allow_duplicate=True),
    Input("clients-acquisition-chart", "clickData"),
    prevent_initial_call=True,
)
def explain_acquisition(click: dict[str, Any] | None) -> Any:
    request = explain_request(click)
    return no_update if request is None else request
