"""KPI designer: the analyst's bench — the KPIs with their status, a KPI edited in a form and
in its YAML side by side, checked as it is typed, previewed on real data, saved to the file the
command line reads; and the plan files edited as a grid.

The form and the YAML view say the same: a form change is written into the YAML (only what
changed: comments, other keys and the layout of the rest stay, :func:`form_to_yaml`), and the
YAML, once it parses, fills the form. The form edits simple and ratio KPIs; the other types
are edited in the YAML view. The YAML is checked 0.5 s after typing stops, with the project's
other files, exactly as ``kpiboard kpi check`` checks (:func:`validate_draft`); Save is
enabled only without problems, and refuses a file changed since it was opened. A new KPI is a
file of its own, ``kpis/<id>.yaml``; an existing KPI is saved into its own file, replacing just
its block (:mod:`kpi_designer.drafts`).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from pathlib import Path
from typing import Any

import dash
import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import (
    Input,
    Output,
    Patch,
    State,
    callback,
    clientside_callback,
    ctx,
    dcc,
    html,
    no_update,
)

from dashboards.access import page_is_for, viewer
from dashboards.app import audit, data, filters_of
from dashboards.components.grid import THEME
from dashboards.components.states import attrs, empty, failed, problem
from dashboards.data import RECHECK_SECONDS
from dashboards.figures.designer import preview
from kpi_designer import drafts
from kpi_designer import model as m
from kpi_designer.semantic import FACTS
from kpiboard.audit import diff as audit_diff
from kpiboard.errors import Problem

log = logging.getLogger("kpiboard.dashboards")

FIELDS = (
    "id",
    "label",
    "description",
    "type",
    "unit",
    "direction",
    "owner",
    "fact",
    "agg",
    "expr",
    "filter",
    "numerator",
    "numerator_filter",
    "denominator",
    "denominator_filter",
    "green",
    "amber",
)
"""The form's fields: each an input ``designer-f-<name>``."""
TYPES = ("simple", "ratio", "derived", "cumulative", "conversion", "period_over_period")
TYPES_ALL = tuple(m.KPI_TYPES)
MONTHS = 12


def _field(name: str, label: str, control: Any, help_text: str | None = None) -> html.Div:
    parts = [dbc.Label(label, html_for=f"designer-f-{name}", className="designer-label"), control]
    if help_text:
        parts.append(dbc.FormText(help_text))
    return html.Div(parts, className="designer-field")


def _input(name: str, placeholder: str = "", **kw: Any) -> dbc.Input:
    return dbc.Input(
        id=f"designer-f-{name}", placeholder=placeholder, debounce=500, size="sm", **kw
    )


def _select(name: str, options: list[str]) -> dbc.Select:
    return dbc.Select(
        id=f"designer-f-{name}", options=[{"label": o, "value": o} for o in options], size="sm"
    )


def _text(name: str, rows: int, placeholder: str = "") -> dbc.Textarea:
    return dbc.Textarea(
        id=f"designer-f-{name}", rows=rows, placeholder=placeholder, debounce=True, size="sm"
    )


def form() -> html.Fieldset:
    simple = html.Div(
        [
            html.Div(
                [
                    _field("fact", "Fact (rows counted)", _select("fact", sorted(FACTS))),
                    _field("agg", "Aggregation", _select("agg", list(m.AGGREGATIONS))),
                ],
                className="designer-pair",
            ),
            _field(
                "expr",
                "Expression",
                _input("expr", "net_amount", className="designer-mono"),
                "SQL over the fact's columns; leave empty to count rows.",
            ),
            _field(
                "filter",
                "Filter",
                _text("filter", 2, "status <> 'cancelled'"),
                "One condition per line; all must hold.",
            ),
        ],
        id="designer-simple",
    )
    ratio = html.Div(
        [
            html.Div(
                [
                    _field("numerator", "Numerator (KPI id)", _input("numerator", "revenue")),
                    _field(
                        "numerator_filter",
                        "Numerator filter",
                        _input("numerator_filter", "optional", className="designer-mono"),
                    ),
                ],
                className="designer-pair",
            ),
            html.Div(
                [
                    _field(
                        "denominator",
                        "Denominator (KPI id)",
                        _input("denominator", "invoice_count"),
                    ),
                    _field(
                        "denominator_filter",
                        "Denominator filter",
                        _input("denominator_filter", "optional", className="designer-mono"),
                    ),
                ],
                className="designer-pair",
            ),
        ],
        id="designer-ratio",
        hidden=True,
    )
    return html.Fieldset(
        [
            html.Legend("Form", className="designer-legend"),
            html.Div(id="designer-form-note", className="designer-note"),
            html.Div(
                [
                    _field("id", "Id", _input("id", "lower_snake_case", className="designer-mono")),
                    _field("type", "Type", _select("type", list(TYPES_ALL))),
                ],
                className="designer-pair",
            ),
            _field("label", "Label", _input("label", "What managers call it")),
            _field("description", "Description", _text("description", 2, "What counts, what not")),
            html.Div(
                [
                    _field("unit", "Unit", _select("unit", list(m.UNITS))),
                    _field("direction", "Better when", _select("direction", ["higher", "lower"])),
                ],
                className="designer-pair",
            ),
            simple,
            ratio,
            html.Div(
                [
                    _field("owner", "Owner", _input("owner", "sales")),
                    _field("green", "Green from", _input("green", "1.0", type="number", step=0.01)),
                    _field("amber", "Amber from", _input("amber", "0.9", type="number", step=0.01)),
                ],
                className="designer-triple",
            ),
        ],
        id="designer-form",
        className="designer-form",
    )


def kpis_tab() -> html.Div:
    listing = dbc.Card(
        [
            html.Div(
                [
                    dbc.Label(
                        "Search KPIs", html_for="designer-search", className="visually-hidden"
                    ),
                    dbc.Input(
                        id="designer-search",
                        placeholder="Search KPIs…",
                        type="search",
                        size="sm",
                    ),
                    dbc.Button("New KPI", id="designer-new", color="primary", size="sm"),
                ],
                className="designer-list-tools",
            ),
            dag.AgGrid(
                id="designer-list",
                rowData=[],
                columnDefs=[
                    {
                        "field": "id",
                        "headerName": "Id",
                        "cellClass": "designer-mono",
                        "pinned": "left",
                        "width": 170,
                    },
                    {"field": "label", "headerName": "Label", "width": 170},
                    {
                        "field": "status",
                        "headerName": "Status",
                        "width": 110,
                        "tooltipField": "status",
                        "cellClassRules": {"designer-bad": "params.value !== 'OK'"},
                    },
                    {"field": "type", "headerName": "Type", "width": 90},
                    {"field": "unit", "headerName": "Unit", "width": 85},
                    {"field": "where", "headerName": "File:line", "width": 150},
                ],
                defaultColDef={"sortable": True, "resizable": True, "filter": True},
                dashGridOptions={
                    "theme": THEME,
                    "rowSelection": {
                        "mode": "singleRow",
                        "enableClickSelection": True,
                        "checkboxes": False,
                    },
                    "animateRows": False,
                    "tooltipShowDelay": 300,
                },
                getRowId="params.data.id",
                className="kb-grid designer-list",
                style={"height": "720px"},
            ),
        ],
        body=True,
        className="designer-list-card",
    )
    editor = dbc.Card(
        [
            html.Div(
                [
                    html.H2("New KPI", id="designer-editing", className="kb-section-title"),
                    html.Div(
                        [
                            dbc.Button("Save", id="designer-save", color="primary", disabled=True),
                        ],
                        className="designer-actions",
                    ),
                ],
                className="designer-editor-head",
            ),
            html.Div(id="designer-save-result", role="status", **attrs(aria_live="polite")),
            html.Div(
                [
                    form(),
                    html.Div(
                        [
                            dbc.Label(
                                "YAML", html_for="designer-yaml-text", className="designer-legend"
                            ),
                            dcc.Textarea(
                                id="designer-yaml-text",
                                value="",
                                spellCheck=False,
                                className="designer-yaml",
                            ),
                            html.Div(
                                id="designer-problems",
                                className="designer-problems",
                                role="status",
                                **attrs(aria_live="polite"),
                            ),
                        ],
                        className="designer-yaml-box",
                    ),
                ],
                className="designer-editor",
            ),
            html.H3("Preview: the last 12 months", className="designer-subtitle"),
            html.Div(id="designer-preview"),
        ],
        body=True,
    )
    return html.Div([listing, editor], className="designer-layout")


def plans_tab() -> html.Div:
    return html.Div(
        [
            html.Div(
                [
                    html.Div(
                        [
                            dbc.Label("Plan file", html_for="designer-plan-file"),
                            dcc.Dropdown(id="designer-plan-file", clearable=False),
                        ],
                        className="designer-plan-pick",
                    ),
                    dbc.Button(
                        "Add row",
                        id="designer-plan-add",
                        color="secondary",
                        outline=True,
                        size="sm",
                    ),
                    dbc.Button("Save plan", id="designer-plan-save", color="primary", size="sm"),
                ],
                className="designer-plan-tools",
            ),
            html.P(
                "Edit a cell by double-clicking it. Empty a row's cells to remove it. Periods: "
                "2026-03 (month), 2026-Q1, 2026-W11, 2026-03-15 or 2026; an empty dimension "
                "means every member.",
                className="kb-muted kb-small",
            ),
            html.Div(id="designer-plan-result", role="status", **attrs(aria_live="polite")),
            dag.AgGrid(
                id="designer-plan-grid",
                rowData=[],
                columnDefs=[],
                defaultColDef={
                    "editable": True,
                    "sortable": True,
                    "filter": True,
                    "resizable": True,
                },
                dashGridOptions={
                    "theme": THEME,
                    "pagination": True,
                    "paginationPageSize": 25,
                    "stopEditingWhenCellsLoseFocus": True,
                },
                columnSize="responsiveSizeToFit",
                className="kb-grid",
                style={"height": "720px"},
            ),
        ],
        className="designer-plans",
    )


def layout(**_query: Any) -> html.Div:
    return html.Div(
        [
            html.H1("KPI designer", className="kb-page-title"),
            dcc.Store(id="designer-session", data=None),
            dcc.Store(id="designer-yaml"),
            dcc.Store(id="designer-timer"),
            dcc.Store(id="designer-checked"),
            dcc.Store(id="designer-saved", data=0),
            dcc.Store(id="designer-plan-session"),
            dbc.Tabs(
                [
                    dbc.Tab(kpis_tab(), label="KPIs", tab_id="designer-tab-kpis"),
                    dbc.Tab(plans_tab(), label="Plans", tab_id="designer-tab-plans"),
                ],
                id="designer-tabs",
                active_tab="designer-tab-kpis",
            ),
        ],
        className="designer-page",
    )


dash.register_page(
    __name__, path="/designer", name="KPI designer", title="KPI designer", order=6, layout=layout
)


# -- folders --------------------------------------------------------------------------------


def _folders() -> tuple[Path, Path, Path]:
    s = data().settings
    return (
        s.resolve(s.kpi.definitions),
        s.resolve(s.kpi.plans),
        s.resolve(s.kpi.scorecards),
    )


def _existing() -> set[str]:
    """The project's problems before any draft: not the draft's doing."""
    return {str(p) for p in data().definitions().problems}


# -- who may save, and the audit log -----------------------------------------------------------

KPI_SUFFIXES = (".yaml", ".yml")


def may_edit(what: str) -> bool:
    """Whether the viewer's role edits definitions (the page is closed to the others already;
    this holds also for a request that reached a save some other way). A refusal is logged."""
    if viewer().rights.edits:
        return True
    audit("access_refused", target=f"designer {what} save")
    return False


def refused_note() -> dbc.Alert:
    return dbc.Alert(page_is_for("designer").replace("This page is", "Saving is"), color="danger")


def _text_of(folder: Path, name: str, suffixes: tuple[str, ...]) -> str | None:
    """A definition file's text before a save (``None``: a new file, or a name the save
    refuses)."""
    try:
        path = folder / drafts.checked_name(name, suffixes)
        return path.read_text(encoding="utf-8") if path.is_file() else None
    except (drafts.DraftError, OSError, UnicodeDecodeError):
        return None


def saved_as(
    path: Path, action: str, shown: str, before: str | None, fields: dict[str, Any] | None = None
) -> None:
    """The audit log's entry of a saved file: what changed, as a diff of the file."""
    after = path.read_text(encoding="utf-8")
    detail: dict[str, Any] = {"file": shown, "diff": audit_diff(before, after, shown)}
    if fields and fields.get("id"):
        detail["kpi"] = fields["id"]
    audit(action, target=shown, detail=detail)


# -- the list -------------------------------------------------------------------------------


def list_rows(definitions: Any) -> list[dict[str, Any]]:
    """One row per KPI: the good ones with OK, those left out with their problem."""
    rows = []
    for kpi in definitions.kpis.values():
        rows.append(
            {
                "id": kpi.id,
                "label": kpi.label,
                "type": kpi.TYPE,
                "unit": kpi.unit,
                "where": str(kpi.location),
                "status": "OK",
            }
        )
    for kpi_id, why in definitions.left_out.items():
        rows.append(
            {
                "id": kpi_id,
                "label": "—",
                "type": "—",
                "unit": "—",
                "where": f"{why.path}:{why.line}" if why.line else str(why.path),
                "status": why.message,
            }
        )
    return sorted(rows, key=lambda r: (r["status"] == "OK", r["where"], r["id"]))


@callback(
    Output("designer-list", "rowData"),
    Input("url", "pathname"),
    Input("designer-saved", "data"),
)
def fill_list(_path: str | None, _saved: int) -> list[dict[str, Any]]:
    """The KPIs as the files are now: after a save, once the data has looked at the files'
    times again (it does at most once per :data:`~dashboards.data.RECHECK_SECONDS`)."""
    if ctx.triggered_id == "designer-saved":
        time.sleep(RECHECK_SECONDS)
    try:
        return list_rows(data().definitions())
    except Exception:
        log.exception("designer: the KPI list failed")
        return []


@callback(Output("designer-list", "dashGridOptions"), Input("designer-search", "value"))
def search(text: str | None) -> Patch:
    patch = Patch()
    patch["quickFilterText"] = text or ""
    return patch


# -- opening --------------------------------------------------------------------------------


@callback(
    Output("designer-session", "data"),
    Output("designer-yaml-text", "value"),
    Output("designer-editing", "children"),
    Output("designer-save-result", "children"),
    Input("designer-list", "selectedRows"),
    Input("designer-new", "n_clicks"),
    Input("url", "pathname"),
)
def open_draft(
    selected: list[dict[str, Any]] | None, _new: int | None, _path: str | None
) -> tuple[Any, ...]:
    """A KPI clicked in the list opens in the editor; New KPI (and the page's first load)
    opens the draft of a new one."""
    folder = _folders()[0]
    if ctx.triggered_id == "designer-list" and selected:
        kpi_id = str(selected[0]["id"])
        opened = drafts.open_kpi(folder, kpi_id)
        if opened is None:
            return (
                no_update,
                no_update,
                no_update,
                problem(
                    f"No file under {folder.name}/ defines {kpi_id!r} any more.",
                    advice="It may have been renamed or deleted: the list is refreshed on reload.",
                ),
            )
        session = {
            "file": opened.file_name,
            "replacing": opened.replacing,
            "fingerprint": opened.fingerprint,
            "new": False,
        }
        where = f"{folder.name}/{opened.file_name}"
        title = f"Editing {kpi_id} in {where}" if opened.replacing else f"Editing {where}"
        return session, opened.text, title, None
    if ctx.triggered_id == "designer-list":
        return (no_update,) * 4
    session = {"file": None, "replacing": None, "fingerprint": None, "new": True}
    return session, drafts.new_kpi_text(_free_id()), "New KPI", None


def _free_id() -> str:
    known = set(data().definitions().kpis) | set(data().definitions().left_out)
    folder = _folders()[0]
    number = 1
    while True:
        name = "new_kpi" if number == 1 else f"new_kpi_{number}"
        if name not in known and not (folder / f"{name}.yaml").exists():
            return name
        number += 1


def target_file(session: dict[str, Any] | None, text: str) -> str:
    """The file a draft is saved to: its own file when opened, ``<id>.yaml`` for a new KPI."""
    if session and session.get("file"):
        return str(session["file"])
    fields = drafts.yaml_to_form(text)
    kpi_id = (fields or {}).get("id") or "new_kpi"
    return f"{kpi_id}.yaml"


# -- typing: the YAML settles, the form follows ------------------------------------------------

# The YAML is "settled" 0.5 s after the last keystroke: checking and the form follow then, not
# on every key. ``designer-yaml`` is set with set_props, outside the declared graph, because
# the form writes the YAML too (a declared YAML → settled → form → YAML loop Dash refuses).


clientside_callback(
    """
    function (value) {
        const w = window;
        if (w._designerTimer) { clearTimeout(w._designerTimer); }
        w._designerTimer = setTimeout(function () {
            dash_clientside.set_props("designer-yaml", {data: value});
        }, 500);
        return dash_clientside.no_update;
    }
    """,
    Output("designer-timer", "data"),
    Input("designer-yaml-text", "value"),
)


@callback(
    *[Output(f"designer-f-{name}", "value") for name in FIELDS],
    Output("designer-yaml-text", "value", allow_duplicate=True),
    Output("designer-form-note", "children"),
    Output("designer-form", "disabled"),
    Output("designer-simple", "hidden"),
    Output("designer-ratio", "hidden"),
    *[Input(f"designer-f-{name}", "value") for name in FIELDS],
    Input("designer-yaml", "data"),
    State("designer-yaml-text", "value"),
    prevent_initial_call=True,
)
def sync(*args: Any) -> tuple[Any, ...]:
    """Form and YAML say the same: a form change is written into the YAML, a YAML that parses
    fills the form (only the fields that differ, so a field being typed in is not reset)."""
    values = dict(zip(FIELDS, args[: len(FIELDS)], strict=True))
    settled, text = args[len(FIELDS)], args[len(FIELDS) + 1]
    keep = (no_update,) * len(FIELDS)
    if ctx.triggered_id == "designer-yaml":
        fields = drafts.yaml_to_form(settled or "")
        if fields is None:
            waiting = "The YAML does not hold one KPI yet: the form follows once it does."
            return (*keep, no_update, waiting, True, no_update, no_update)
        out = tuple(
            no_update if _same_value(values[name], fields.get(name)) else fields.get(name)
            for name in FIELDS
        )
        kind = fields["type"]
        note: str | None = (
            None
            if fields["editable"]
            else f"A {kind or 'KPI without a'} type KPI is edited in the YAML view; the form "
            "edits simple and ratio KPIs."
        )
        return (*out, no_update, note, not fields["editable"], kind != "simple", kind != "ratio")
    if not text or drafts.yaml_to_form(text) is None:  # nothing the form could write into
        return (*keep, no_update, no_update, no_update, no_update, no_update)
    new = drafts.form_to_yaml(values, text)
    kind = values.get("type")
    return (
        *keep,
        new if new != text else no_update,
        no_update,
        no_update,
        kind != "simple",
        kind != "ratio",
    )


def _same_value(a: object, b: object) -> bool:
    if a in (None, "") and b in (None, ""):
        return True
    if isinstance(a, int | float) or isinstance(b, int | float):
        try:
            return float(a) == float(b)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return False
    return str(a) == str(b)


# -- checking, preview, saving ----------------------------------------------------------------


def problems_panel(found: list[Problem], spliced: drafts.Spliced | None) -> Any:
    """The problems, one ``file:line: message`` each (with the YAML view's line when the
    draft is a block of a larger file)."""
    if not found:
        return html.Div("✓ No problems: ready to save.", className="designer-ok")
    items = []
    for p in found:
        view = spliced.view_line(p.line) if spliced is not None else None
        where = f" (YAML view line {view})" if view is not None else ""
        items.append(html.Li([html.Code(str(p)), where]))
    return html.Div(
        [
            html.Strong(f"✗ {len(found)} problem{'s' if len(found) != 1 else ''}: not saved"),
            html.Ul(items, className="designer-problem-list"),
        ],
        className="designer-bad-box",
    )


@callback(
    Output("designer-problems", "children"),
    Output("designer-save", "disabled"),
    Output("designer-checked", "data"),
    Input("designer-yaml", "data"),
    State("designer-session", "data"),
)
def check(text: str | None, session: dict[str, Any] | None) -> tuple[Any, bool, Any]:
    """The draft's located problems as it is typed; Save only without any."""
    if not text or session is None:
        return None, True, None
    kpis, plans, cards = _folders()
    name = target_file(session, text)
    replacing = session.get("replacing")
    try:
        found = drafts.validate_draft(
            text,
            name,
            kpis,
            replacing=replacing,
            plans_folder=plans,
            scorecards_folder=cards,
            existing=_existing(),
        )
        _, spliced = drafts.draft_file_text(text, name, kpis, replacing)
    except Exception:
        return failed("check of the draft", page="designer"), True, None
    return problems_panel(found, spliced), bool(found), {"ok": not found, "text": text}


@callback(
    Output("designer-preview", "children"),
    Input("designer-checked", "data"),
    State("designer-session", "data"),
    State("url", "search"),
)
def show_preview(checked: dict[str, Any] | None, session: Any, search: str | None) -> Any:
    """The draft evaluated by month over the data's last twelve months, on the published
    snapshot, in the filters' scope."""
    if not checked:
        return empty("The preview shows once the YAML holds a KPI.")
    if not checked.get("ok"):
        return empty("Fix the problems above to see the draft's numbers.")
    text = checked["text"]
    try:
        figure = _preview_figure(text, session, search)
    except Exception:
        return failed("preview", page="designer")
    return figure


def _preview_figure(text: str, session: Any, search: str | None) -> Any:
    from kpi_designer.engine import Definitions, Engine

    d = data()
    folder = _folders()[0]
    name = target_file(session, text)
    files = drafts.draft_kpis(text, name, folder, session.get("replacing"))
    fields = drafts.yaml_to_form(text)
    shown = f"{folder.name}/{name}"
    kpi_id = (fields or {}).get("id") or next(
        (k.id for k in files.kpis.values() if k.location.path == shown), None
    )
    if kpi_id not in files.kpis:
        return empty("The draft defines no KPI to preview.")
    last = d.last_day()
    if last is None:
        return empty("No data published yet: run `kpiboard etl run` to preview on real data.")
    end = last
    month = last.month - (MONTHS - 1)
    start = dt.date(last.year + (month - 1) // 12, (month - 1) % 12 + 1, 1)
    f = filters_of(search)
    existing = d.definitions()
    engine = Engine.from_settings(
        d.settings, Definitions(files.kpis, existing.plans, left_out=files.left_out)
    )
    frame = engine.evaluate(kpi_id, start=start, end=end, grain="month", scope=f.scope())
    kpi = files.kpis[kpi_id]
    if frame.empty:
        return empty(f"{kpi.label} has no value from {start} to {end}: check its filter.")
    figure = preview(frame, label=kpi.label, unit=kpi.unit, currency=d.currency)
    return dcc.Graph(
        id="designer-preview-graph",
        figure=figure,
        config={"displaylogo": False},
        style={"height": "300px"},
    )


@callback(
    Output("designer-save-result", "children", allow_duplicate=True),
    Output("designer-session", "data", allow_duplicate=True),
    Output("designer-saved", "data"),
    Output("designer-editing", "children", allow_duplicate=True),
    Input("designer-save", "n_clicks"),
    State("designer-yaml-text", "value"),
    State("designer-session", "data"),
    State("designer-saved", "data"),
    prevent_initial_call=True,
)
def save(_clicks: int | None, text: str, session: Any, saved: int) -> tuple[Any, ...]:
    """Write the draft to its file (atomically, refusing a file changed since it was opened)."""
    if not session or not text:
        return no_update, no_update, no_update, no_update
    if not may_edit("kpi"):
        return refused_note(), no_update, no_update, no_update
    kpis, plans, cards = _folders()
    name = target_file(session, text)
    before = _text_of(kpis, name, KPI_SUFFIXES)
    try:
        path = drafts.save_kpi(
            kpis,
            name,
            text,
            session.get("fingerprint"),
            replacing=session.get("replacing"),
            plans_folder=plans,
            scorecards_folder=cards,
            existing=_existing(),
        )
    except drafts.DraftError as exc:
        details = [html.Li(html.Code(str(p))) for p in exc.problems]
        return (
            dbc.Alert([str(exc), html.Ul(details) if details else None], color="danger"),
            no_update,
            no_update,
            no_update,
        )
    except Exception:
        return failed("save", page="designer"), no_update, no_update, no_update
    shown = f"{kpis.name}/{path.name}"
    saved_as(path, "kpi_saved", shown, before, fields=drafts.yaml_to_form(text) or {})
    new_session = {
        **session,
        "file": path.name,
        "fingerprint": drafts.file_fingerprint(path),
        "new": False,
    }
    fields = drafts.yaml_to_form(text) or {}
    title = (
        f"Editing {fields.get('id')} in {shown}" if session.get("replacing") else f"Editing {shown}"
    )
    return (
        dbc.Alert(f"Saved to {shown}", color="success", id="designer-saved-note"),
        new_session,
        (saved or 0) + 1,
        title,
    )


# -- plans ----------------------------------------------------------------------------------


@callback(
    Output("designer-plan-file", "options"),
    Output("designer-plan-file", "value"),
    Input("url", "pathname"),
)
def plan_files(_path: str | None) -> tuple[list[str], str | None]:
    folder = _folders()[1]
    names = sorted(p.name for p in folder.glob("*.csv")) if folder.is_dir() else []
    return names, (names[0] if names else None)


@callback(
    Output("designer-plan-grid", "rowData"),
    Output("designer-plan-grid", "columnDefs"),
    Output("designer-plan-session", "data"),
    Output("designer-plan-result", "children"),
    Input("designer-plan-file", "value"),
    Input("designer-plan-add", "n_clicks"),
    State("designer-plan-grid", "rowData"),
    State("designer-plan-session", "data"),
    prevent_initial_call=True,
)
def open_plan(
    name: str | None, _add: int | None, rows: list[dict[str, Any]] | None, session: Any
) -> tuple[Any, ...]:
    """A plan file as an editable grid (one column per CSV column); Add row appends one."""
    if ctx.triggered_id == "designer-plan-add":
        if not session:
            return (no_update,) * 4
        return [*(rows or []), {c: "" for c in session["header"]}], no_update, no_update, None
    if not name:
        return [], [], None, empty("No plan files in the plans folder.")
    try:
        table, print_ = drafts.read_plan(_folders()[1], name)
    except (OSError, UnicodeDecodeError, drafts.DraftError) as exc:
        return [], [], None, problem(str(exc))
    header = table[0] if table else ["kpi", "period", "plan"]
    records = [
        dict(zip(header, r + [""] * (len(header) - len(r)), strict=False)) for r in table[1:]
    ]
    columns = [
        {"field": h, "headerName": h, **({"type": "rightAligned"} if h == "plan" else {})}
        for h in header
    ]
    return records, columns, {"file": name, "fingerprint": print_, "header": header}, None


@callback(
    Output("designer-plan-result", "children", allow_duplicate=True),
    Output("designer-plan-session", "data", allow_duplicate=True),
    Input("designer-plan-save", "n_clicks"),
    State("designer-plan-grid", "rowData"),
    State("designer-plan-session", "data"),
    prevent_initial_call=True,
)
def save_plan(_clicks: int | None, rows: list[dict[str, Any]] | None, session: Any) -> Any:
    """The grid back to its CSV file, after the plan checks; nothing written on a problem."""
    if not session:
        return no_update, no_update
    if not may_edit("plan"):
        return refused_note(), no_update
    header = list(session["header"])
    table = [header, *[[r.get(h, "") for h in header] for r in rows or []]]
    definitions = data().definitions()
    folder = _folders()[1]
    before = _text_of(folder, str(session["file"]), (".csv",))
    try:
        path = drafts.save_plan(
            folder,
            session["file"],
            table,
            session["fingerprint"],
            definitions.kpis,
            definitions.left_out,
        )
    except drafts.DraftError as exc:
        details = [html.Li(html.Code(str(p))) for p in exc.problems[:20]]
        more = len(exc.problems) - 20
        if more > 0:
            details.append(html.Li(f"… and {more} more"))
        return dbc.Alert([str(exc), html.Ul(details) if details else None], color="danger"), (
            no_update
        )
    saved_as(path, "plan_saved", f"{folder.name}/{path.name}", before)
    return (
        dbc.Alert(f"Saved to {folder.name}/{path.name}", color="success"),
        {**session, "fingerprint": drafts.file_fingerprint(path)},
    )
