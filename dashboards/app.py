"""The Dash app: the shell every page shares, and the pages.

:func:`create_app` builds the shell only — the top bar with the global filters (kept in the
URL), the data's "as of" time and the data-quality badge, the navigation, the explanation
drawer — and imports the pages (``dashboards/pages/<name>.py``, each registering itself with
its own callbacks). Pages read data only through :class:`dashboards.data.Data`.

Dash keeps callbacks in one registry per process, so there is one app per process:
``kpiboard serve`` makes it once per worker.
"""

from __future__ import annotations

import functools
import importlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import dash
import dash_ag_grid  # noqa: F401 (component libraries load with the app, never inside a callback)
import dash_bootstrap_components as dbc
import flask
from dash import ALL, Input, Output, State, ctx, dcc, html, no_update

from dashboards import access, auth
from dashboards.access import Refused, Seen, viewer, viewing
from dashboards.components.explain import explanation_body
from dashboards.components.shell import freshness
from dashboards.components.states import forbidden, problem
from dashboards.components.user_menu import user_menu
from dashboards.data import Data
from dashboards.explain import ExplainError, explain, parse_request
from dashboards.filters import (
    COMPARISONS,
    PRESET_LABELS,
    Filters,
    page_values,
    parse,
    query_values,
    to_search,
)
from kpiboard import audit as audit_log
from kpiboard.config import Settings

log = logging.getLogger("kpiboard.dashboards")

PAGES = (
    "overview",
    "sales",
    "clients",
    "service",
    "stock",
    "employees",
    "designer",
    "quality",
    "reports",
    "mailouts",
    "access",
)
"""The page modules, in the navigation's order."""
EXTENSION = "kpiboard"
CUSTOM = "custom"

_made: list[str] = []


def data() -> Data:
    """The project's data of the app serving this request, as its viewer sees it
    (:class:`dashboards.access.Seen`: the branches and employees it lists are theirs)."""
    found: Data = flask.current_app.extensions[EXTENSION]
    return found


def audit(action: str, *, target: str | None = None, detail: dict[str, Any] | None = None) -> None:
    """One entry of the audit log (:mod:`kpiboard.audit`) by the viewer of this request, from
    their address."""
    audit_log.record(
        data().settings,
        action,
        user=viewer().name,
        address=flask.request.remote_addr,
        target=target,
        detail=detail,
    )


F = TypeVar("F", bound=Callable[..., Any])


def remembered(callback: F) -> F:
    """A page's callback whose answer depends only on its inputs, the data and the viewer's
    scope: its answer is kept per published snapshot and definitions (:meth:`Data.keep`), so
    a view asked again — the same filters, by anyone with the same scope — is served without
    building its figures again. An answer in which a part failed
    (:func:`dashboards.components.states.failed`) is not kept."""
    from dashboards.components.states import FAILED

    @functools.wraps(callback)
    def answer(*args: Any) -> Any:
        d = data()
        key = (
            "callback",
            callback.__module__,
            callback.__qualname__,
            viewer().key,
            _hashable(args),
        )
        found, value = d.recall(key)
        if found:
            return value
        token = FAILED.set(False)
        try:
            value = callback(*args)
            if not FAILED.get():
                d.keep(key, value)
        finally:
            FAILED.reset(token)
        return value

    return answer  # type: ignore[return-value]


def _hashable(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    return value


def filters_of(search: str | None) -> Filters:
    """The filters a page's address asks for, within the viewer's scope: the branches they may
    choose and the employees of those (an employee viewer: only themselves); what cannot be
    used is named in ``ignored``, and :meth:`Filters.scope` is never wider than the viewer's."""
    d = data()
    who = viewer()
    branches = branch_choices(d)
    values = query_values(search)
    asked = values.get("branch")
    employees = [e for e, _ in d.employees(asked if asked in branches else None)]
    return parse(
        search,
        data_end=d.last_day(),
        branches=branches,
        employees=employees,
        within=who.scope,
    )


def branch_choices(d: Data) -> list[str]:
    """The branches the viewer may choose in the filters: every one for a viewer of every
    row, a branch head's own, none for an employee (their rows are theirs wherever they are)."""
    who = viewer()
    if who.own is not None:
        return []
    return [b for b, _ in d.branches()]


def choices(d: Data, f: Filters) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """The filter bar's branch and employee options: the viewer's alone."""
    allowed = branch_choices(d)
    branches = [{"label": n, "value": k} for k, n in d.branches() if k in allowed]
    employees = [{"label": n, "value": k} for k, n in d.employees(f.branch)]
    return branches, employees


def create_app(settings: Settings, *, data_: Seen | None = None) -> dash.Dash:
    """The dashboard of the project ``settings`` describe."""
    if _made:
        raise RuntimeError("one dashboard app per process (Dash keeps one callback registry)")
    _made.append(str(settings.project_dir))
    app = dash.Dash(
        __name__,
        use_pages=True,
        pages_folder="",
        assets_folder=str(Path(__file__).parent / "assets"),
        title=settings.company.name or settings.project.name,
        update_title="",
        suppress_callback_exceptions=False,
        serve_locally=True,
        compress=False,
        on_error=callback_failed,
    )
    app.server.extensions[EXTENSION] = data_ or Seen(settings)
    auth.install(app.server, settings)
    for name in PAGES:
        importlib.import_module(f"dashboards.pages.{name}")
    gate_layouts()
    company = settings.company.name or settings.project.name
    # the shell is made per page load, its filters set from the address (a control without its
    # options would drop the value the address gave it); Dash checks callbacks against a
    # shell made without a request
    app.layout = lambda: shell(company, _request_search())
    # the browser checks every callback against this layout; Dash makes it at the first request
    # too, but marks that done before it has, so a page served meanwhile (a server just started)
    # got the shell alone and reported each page's callbacks as "ID not found in layout"
    pages = [p["layout"]() if callable(p["layout"]) else p["layout"] for p in _pages()]
    app.validation_layout = html.Div([*pages, shell(company)])  # type: ignore[assignment]
    from dashboards import routes

    routes.register(app.server)
    gate_callbacks(app)
    return app


def app_of(settings: Settings) -> dash.Dash:
    """The dashboard app of this process for ``settings``' project: made by the first call (or
    taken from an earlier :func:`create_app`), so that the server, the mail-outs' page printer
    and tests can share the one app Dash allows per process."""
    if not _made:
        return create_app(settings)
    if _made[0] != str(settings.project_dir):
        raise RuntimeError(
            f"this process's dashboard is of {_made[0]}, not of {settings.project_dir}"
        )
    found: dash.Dash = dash.get_app()
    return found


# -- what a role may open ----------------------------------------------------------------------


def gate_layouts() -> None:
    """Every registered page's layout renders, for a viewer who may not open it, one sentence
    saying whom it is for and none of its components — also through Dash's router, which
    renders a page's layout from the address whatever the navigation offered."""
    for page in dash.page_registry.values():
        name = access.page_of(page["module"])
        if name is not None:
            page["layout"] = _gated_layout(name, page["name"], page["layout"])


def _gated_layout(name: str, title: str, layout: Any) -> Callable[..., Any]:
    def gated(**query: Any) -> Any:
        who = viewing()
        if who is not None and not who.may_open(name):
            return forbidden(access.page_is_for(name), title)
        # a viewer who may, or Dash's own check of the callbacks against the layout
        return layout(**query) if callable(layout) else layout

    gated.__name__ = f"{name}_layout"
    return gated


CALLBACK_ENDPOINT = "_dash-update-component"


def gate_callbacks(app: dash.Dash) -> None:
    """Refuse a callback of a page the viewer may not open before it runs (``403``, one plain
    line, an ``access_refused`` entry in the audit log), and any callback with nobody logged
    in (``401``). The gate wraps Dash's view of ``/_dash-update-component`` rather than
    running as a ``before_request``, so it runs after whatever sets the viewer, in any order."""
    endpoint = app.config.routes_pathname_prefix + CALLBACK_ENDPOINT
    view = app.server.view_functions[endpoint]

    @functools.wraps(view)
    def gated(*args: Any, **kwargs: Any) -> Any:
        refused = callback_refusal(app)
        return refused if refused is not None else view(*args, **kwargs)

    app.server.view_functions[endpoint] = gated


def callback_refusal(app: dash.Dash) -> flask.Response | None:
    """Why the callback this request asks for may not run (a response), or ``None``."""
    from dashboards.routes import refuse

    try:
        who = viewer()
    except Refused as exc:
        return refuse(str(exc), 401)
    body = flask.request.get_json(silent=True)
    output = body.get("output") if isinstance(body, dict) else None
    entry = app.callback_map.get(output) if isinstance(output, str) else None
    if entry is None:  # a hand-made request: Dash would fail on it with a traceback
        return refuse("no such callback; reload the page", 400)
    page = access.page_of(getattr(entry.get("callback"), "__module__", "") or "")
    if page is None or who.may_open(page):
        return None
    audit("access_refused", target=f"callback {page}", detail={"output": str(output)[:200]})
    return refuse(access.page_is_for(page), 403)


ERROR_MESSAGE = (
    "This part of the page could not be updated. Try again, or change the filters; "
    "the server's log has the details."
)


def callback_failed(error: Exception) -> None:
    """Every callback's last resort: the error goes to the server's log with its traceback,
    the reader gets a short message in the corner (never a stack trace), and the outputs keep
    what they showed."""
    log.error("callback %s failed", ctx.triggered_id, exc_info=error)
    dash.set_props("kb-error", {"is_open": True, "children": ERROR_MESSAGE})


def _pages() -> list[dict[str, Any]]:
    return list(dash.page_registry.values())


def nav() -> dbc.Nav:
    """A link to each page the viewer may open (each page, for Dash's check of the callbacks
    against the layout)."""
    who = viewing()
    links = []
    for page in dash.page_registry.values():
        name = access.page_of(page["module"])
        if who is not None and (name is None or not who.may_open(name)):
            continue
        links.append(
            dbc.NavItem(
                dbc.NavLink(
                    page["name"],
                    href=page["relative_path"],
                    active="exact",
                    id={"type": "kb-nav", "index": page["module"]},
                )
            )
        )
    return dbc.Nav(links, pills=True, className="kb-nav", navbar=True)


def _request_search() -> str | None:
    """The query string of the page load being served; ``None`` outside a request or with
    nobody viewing (Dash's own check of the callbacks, made at the first request: a shell
    without any branch's or employee's name)."""
    if viewing() is None:
        return None
    return "?" + flask.request.query_string.decode("utf-8", "replace")


def all_branches_label(branches: list[dict[str, str]]) -> str:
    """What "no branch chosen" reads as: all branches for a viewer of every row, the one
    branch a branch head has, "All your branches", or an employee's "Your own rows"."""
    who = viewer()
    if who.branches is None:
        return "All branches"
    if who.own is not None:
        return "Your own rows"
    if len(branches) == 1:
        return branches[0]["label"]
    return "All your branches"


def filter_bar(search: str | None = None) -> html.Div:
    """The global filters, set to what ``search`` asks for (none: empty, for Dash's check)."""
    start = end = branch = employee = None
    period, compare = None, None
    branches: list[dict[str, str]] = []
    employees: list[dict[str, str]] = []
    own = False
    every_branch = "All branches"
    if search is not None:
        f = filters_of(search)
        period = f.period if f.period in PRESET_LABELS else CUSTOM
        start, end = f.start.isoformat(), f.end.isoformat()
        branch, employee, compare = f.branch, f.employee, f.compare
        branches, employees = choices(data(), f)
        own = viewer().own is not None
        every_branch = all_branches_label(branches)
    periods = [{"label": label, "value": key} for key, label in PRESET_LABELS.items()]
    periods.append({"label": "Custom range…", "value": CUSTOM})
    return html.Div(
        [
            html.Div(
                [
                    dbc.Label("Period", html_for="kb-period", className="kb-filter-label"),
                    dcc.Dropdown(
                        id="kb-period", options=periods, clearable=False, searchable=False
                    ),
                ],
                className="kb-filter kb-filter-period",
            ),
            html.Div(
                [
                    dbc.Label("From – to", html_for="kb-range", className="kb-filter-label"),
                    dcc.DatePickerRange(
                        id="kb-range",
                        display_format="YYYY-MM-DD",
                        minimum_nights=0,
                        start_date=start,
                        end_date=end,
                    ),
                ],
                className="kb-filter kb-filter-range",
                id="kb-range-box",
                hidden=period != CUSTOM,
            ),
            html.Div(
                [
                    dbc.Label("Branch", html_for="kb-branch", className="kb-filter-label"),
                    dcc.Dropdown(
                        id="kb-branch",
                        options=branches,
                        value=branch,
                        placeholder=every_branch,
                        clearable=True,
                        disabled=own,  # an employee's rows are theirs in any branch
                    ),
                ],
                className="kb-filter",
            ),
            html.Div(
                [
                    dbc.Label("Employee", html_for="kb-employee", className="kb-filter-label"),
                    dcc.Dropdown(
                        id="kb-employee",
                        options=employees,
                        value=employee,
                        placeholder="Everyone",
                        clearable=not own,
                    ),
                ],
                className="kb-filter",
            ),
            html.Div(
                [
                    dbc.Label("Compare with", html_for="kb-compare", className="kb-filter-label"),
                    dcc.Dropdown(
                        id="kb-compare",
                        options=[{"label": v, "value": k} for k, v in COMPARISONS.items()],
                        value=compare,
                        clearable=False,
                        searchable=False,
                    ),
                ],
                className="kb-filter",
            ),
        ],
        className="kb-filters",
        role="search",
    )


def shell(company: str, search: str | None = None) -> html.Div:
    return html.Div(
        [
            dcc.Location(id="url", refresh="callback-nav"),
            dcc.Store(id="kb-explain-request"),
            html.Header(
                [
                    html.Div(
                        [
                            html.A("kpiboard", href="/", className="kb-brand"),
                            html.Span(company, className="kb-company"),
                            html.Div(id="kb-freshness", className="kb-freshness"),
                            user_menu(),
                        ],
                        className="kb-topline",
                    ),
                    nav(),
                    filter_bar(search),
                ],
                className="kb-header",
            ),
            html.Main(dash.page_container, className="kb-main", id="kb-main"),
            dbc.Toast(
                id="kb-error",
                header="Something went wrong",
                is_open=False,
                dismissable=True,
                duration=15000,
                icon="danger",
                className="kb-error-toast",
            ),
            dbc.Offcanvas(
                html.Div(id="kb-explain-body"),
                id="kb-explain",
                title="What this number is made of",
                placement="end",
                is_open=False,
                scrollable=True,
                className="kb-explain",
                style={"width": "min(780px, 96vw)"},
            ),
        ],
        className="kb-app",
    )


# -- the shell's callbacks -------------------------------------------------------------------------


@dash.callback(
    Output("url", "search"),
    Output("kb-period", "value"),
    Output("kb-range", "start_date"),
    Output("kb-range", "end_date"),
    Output("kb-branch", "value"),
    Output("kb-employee", "value"),
    Output("kb-compare", "value"),
    Input("url", "search"),
    Input("kb-period", "value"),
    Input("kb-range", "start_date"),
    Input("kb-range", "end_date"),
    Input("kb-branch", "value"),
    Input("kb-employee", "value"),
    Input("kb-compare", "value"),
)
def sync_filters(
    search: str | None,
    period: str | None,
    start: str | None,
    end: str | None,
    branch: str | None,
    employee: str | None,
    compare: str | None,
) -> tuple[Any, ...]:
    """The filter controls and the address say the same: a control changed writes the address
    (a new history entry, so Back undoes it); an address changed (Back, a bookmark, a drill
    link) sets the controls."""
    if ctx.triggered_id in (None, "url"):
        f = filters_of(search)
        custom = f.period not in PRESET_LABELS
        return (
            no_update,
            CUSTOM if custom else f.period,
            f.start.isoformat(),
            f.end.isoformat(),
            f.branch,
            f.employee,
            f.compare,
        )
    if ctx.triggered_id == "kb-period" and period == CUSTOM:
        return (no_update,) * 7  # the range picker decides
    if ctx.triggered_id == "kb-range" or period == CUSTOM:
        if not start or not end:
            return (no_update,) * 7
        chosen = f"{start[:10]}..{end[:10]}"
    else:
        chosen = period or ""
    if ctx.triggered_id == "kb-branch":
        employee = None  # another branch's employee is not in this one
    values = {"period": chosen, "branch": branch, "employee": employee, "compare": compare}
    new = to_search(values, keep=page_values(search))  # a page's own keys (role=) stay
    if new == to_search(filters_of(search), keep=page_values(search)):  # said already
        return (no_update,) * 7
    f = filters_of(new)
    return new, no_update, f.start.isoformat(), f.end.isoformat(), no_update, employee, no_update


@dash.callback(
    Output("kb-branch", "options"),
    Output("kb-employee", "options"),
    Output("kb-range-box", "hidden"),
    Output("kb-freshness", "children"),
    Output({"type": "kb-nav", "index": ALL}, "href"),
    Input("url", "search"),
    State({"type": "kb-nav", "index": ALL}, "id"),
)
def shell_state(search: str | None, nav_ids: list[dict[str, str]]) -> tuple[Any, ...]:
    """The branch and employee choices, the custom range's visibility, the freshness badge,
    and navigation links that keep the filters."""
    d = data()
    f = filters_of(search)
    branches, employees = choices(d, f)
    keep = to_search(f)
    hrefs = [dash.page_registry[i["index"]]["relative_path"] + keep for i in nav_ids]
    quality = viewer().may_open("quality")
    return branches, employees, f.period in PRESET_LABELS, freshness(d, quality=quality), hrefs


# choosing "Custom range…" shows the date picker at once (the address changes only when both
# days are set, so the address-driven state above cannot show it)
dash.clientside_callback(
    "function (period) { return period !== 'custom'; }",
    Output("kb-range-box", "hidden", allow_duplicate=True),
    Input("kb-period", "value"),
    prevent_initial_call=True,
)


@dash.callback(
    Output("kb-explain", "is_open"),
    Output("kb-explain-body", "children"),
    Input({"type": "kb-explain", "index": ALL}, "n_clicks"),
    Input("kb-explain-request", "data"),
    State("url", "search"),
    prevent_initial_call=True,
)
def open_explanation(
    _clicks: list[int | None], stored: dict[str, Any] | None, search: str | None
) -> tuple[Any, Any]:
    """Open the drawer with what the clicked number is made of."""
    trigger = ctx.triggered_id
    if trigger == "kb-explain-request":
        if not stored:
            return no_update, no_update
        raw: Any = stored
    elif isinstance(trigger, dict) and any(
        ctx.triggered[i]["value"] for i in range(len(ctx.triggered))
    ):
        raw = trigger["index"]
    else:
        return no_update, no_update
    f = filters_of(search)
    try:
        answer = explain(data(), parse_request(raw, f), f)
    except ExplainError as exc:
        return True, problem(str(exc), advice="Close this panel and choose another number.")
    return True, explanation_body(answer, data().currency)
