"""Mail-outs: the report schedules, whether mail goes out, and what each mail-out came to.

Analysts and administrators see every schedule (:mod:`reports.schedules`) in a grid — its
reports, recipients, when it sends in its own time zone, and how its last slot went, with a
failure named in words and a sign, not in colour alone — and above it whether a scheduler
(:mod:`reports.scheduler`) is running at all: without one nothing is sent, and the page says
so first. One schedule chosen shows its definition, its slots and every recipient's delivery
with the errors of those that failed or whose fate is unknown; it can be paused and resumed,
sent now (a manual slot the scheduler sends within its tick: the page never sends mail
itself, so a slow mail server never holds a request), its failed and unknown deliveries sent
again, edited, or removed. The form adds or changes a schedule; whatever
:func:`reports.schedules.check` finds is listed, one line each, and nothing is saved.

The page gate opens it only to the roles of ``PAGE_ROLES["mailouts"]``; every callback here
asks again before it reads or changes anything. Each change goes through
:mod:`reports.schedules`, which writes the audit log with the viewer's name. Nothing is
cached: each answer is read from the app database when asked.
"""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import dash
import dash_ag_grid as dag
import dash_bootstrap_components as dbc
import flask
from dash import Input, Output, State, callback, dcc, html, no_update

from dashboards.access import Refused, Viewer, page_is_for, viewer
from dashboards.app import data
from dashboards.components.grid import Col, column_defs, record_grid, rows
from dashboards.components.states import attrs, empty
from kpiboard import access, audit
from kpiboard.errors import UserError
from reports import schedules as s

log = logging.getLogger("kpiboard.dashboards")

PAGE = "mailouts"
REFUSED = page_is_for(PAGE)
TEXT_MAX = 4000
"""Longest text a form field may hold (a longer one is refused, not cut)."""
CUSTOM = "custom"
CRON_PRESETS = {
    "0 8 * * MON": "Mondays at 08:00",
    "0 7 * * *": "Every day at 07:00",
    "0 8 1 * *": "The first of the month at 08:00",
}
FORMAT_LABELS = {"pdf": "PDF attached", "xlsx": "XLSX attached", "html": "Numbers in the mail"}
OWN, SHARED = "own", "shared"

SLOT_SIGNS = {
    "done": "✓ done",
    "partial": "⚠ partial",
    "failed": "✗ failed",
    "missed": "⊘ missed",
    "open": "… sending",
}
DELIVERY_SIGNS = {
    "sent": "✓ sent",
    "pending": "… pending",
    "claimed": "… sending",
    "sending": "… sending",
    "retry": "↻ retry",
    "failed": "✗ failed",
    "unknown": "? unknown",
}
BAD = ("partial", "failed", "missed", "unknown")
BAD_SIGNS = ("⚠", "✗", "⊘", "?")

SCHEDULE_COLUMNS = [
    Col("name", "Schedule"),
    Col("reports", "Reports"),
    Col("recipients", "Recipients"),
    Col("when", "When"),
    Col("next", "Next slot (its zone)"),
    Col("format", "Format"),
    Col("status", "Status"),
    Col("last_slot", "Last slot (its zone)"),
    Col("last_status", "Last slot went"),
]
SLOT_COLUMNS = [
    Col("slot", "Slot (its zone)"),
    Col("status", "Status"),
    Col("kind", "Kind"),
    Col("deliveries", "Deliveries"),
    Col("error", "Error"),
]
DELIVERY_COLUMNS = [
    Col("slot", "Slot (its zone)"),
    Col("recipient", "Recipient"),
    Col("address", "Address"),
    Col("status", "Status"),
    Col("attempts", "Attempts", "count"),
    Col("sent_at", "Sent (UTC)", "datetime"),
    Col("error", "Error"),
]
ALERT_COLUMNS = [
    Col("name", "Alert"),
    Col("kpi", "KPI"),
    Col("rule", "Rule"),
    Col("scope", "Data"),
    Col("owners", "Mailed to"),
    Col("state", "State"),
]
EVENT_COLUMNS = [
    Col("at", "When (UTC)", "datetime"),
    Col("alert", "Alert"),
    Col("kind", "Event"),
    Col("period", "Period"),
    Col("message", "What happened"),
    Col("mailed", "Mailed"),
]
EVENT_SIGNS = {"start": "⚠ started", "end": "✓ ended", "error": "✗ error"}
EVENTS_SHOWN = 50


# -- who may --------------------------------------------------------------------------------------


def allowed() -> Viewer | None:
    """The viewer when their role may open this page; ``None`` for anyone else and nobody."""
    try:
        found = viewer()
    except Refused:
        return None
    return found if found.may_open(PAGE) else None


def refused(what: str) -> html.Div:
    """A change asked for by someone who may not: one sentence, and an audit entry."""
    try:
        who: str | None = viewer().name
    except Refused:
        who = None
    address = flask.request.remote_addr if flask.has_request_context() else None
    audit.record(
        data().settings,
        "access_refused",
        user=who,
        address=address,
        detail={"page": PAGE, "asked": what},
    )
    return result(REFUSED, ok=False)


def result(message: Any, *, ok: bool, warn: bool = False) -> html.Div:
    """What a change did, or why it was not done."""
    color = "warning" if warn else ("success" if ok else "danger")
    return html.Div(
        dbc.Alert(message, color=color, className="mailouts-alert"),
        role="status" if ok and not warn else "alert",
    )


def problems_list(problems: Sequence[str]) -> html.Div:
    """Every problem of a schedule, one line each: nothing was saved."""
    return result(
        [
            html.Strong(
                "Not saved: "
                + ("one problem" if len(problems) == 1 else f"{len(problems)} problems")
                + " to fix."
            ),
            html.Ul([html.Li(p) for p in problems], className="mailouts-problems"),
        ],
        ok=False,
    )


# -- the layout -----------------------------------------------------------------------------------


def _label(text: str, for_: str) -> dbc.Label:
    return dbc.Label(text, html_for=for_, className="mailouts-label")


def _field(label: str, id: str, control: Any, hint: str | None = None) -> html.Div:
    parts = [_label(label, id), control]
    if hint:
        parts.append(dbc.FormText(hint, className="d-block"))
    return html.Div(parts, className="mailouts-field")


def _grid(id: str, columns: Sequence[Col], row_id: str, *, select: bool = False) -> dag.AgGrid:
    defs = column_defs(columns)
    for spec in defs:
        if spec["field"] in ("status", "last_status", "state", "kind", "mailed"):
            spec["cellClassRules"] = {
                "mailouts-bad": "params.value && "
                + " || ".join(f"String(params.value).includes({sign!r})" for sign in BAD_SIGNS),
                "mailouts-paused": "params.value === '○ paused'",
            }
        if spec["field"] in ("error", "message", "when", "recipients"):
            spec["minWidth"] = 200
        if spec["field"] in ("name", "slot", "alert", "rule"):
            spec["minWidth"] = 150
        if spec["field"] == "reports":
            spec["minWidth"] = 190
    return record_grid(
        id,
        defs,
        columns,
        row_id,
        page_size=10,
        select=select,
        wrap=True,
        class_name="mailouts-grid" + (" mailouts-pick" if select else ""),
    )


def _button(text: str, id: str, color: str, **props: Any) -> dbc.Button:
    return dbc.Button(text, id=id, color=color, outline=True, size="sm", disabled=True, **props)


def detail_card() -> dbc.Card:
    """The chosen schedule: its definition, its actions, its slots and deliveries."""
    return dbc.Card(
        [
            html.Div(
                [
                    _field(
                        "Schedule",
                        "mailouts-target",
                        dcc.Dropdown(id="mailouts-target", placeholder="Choose, or click a row"),
                    ),
                    html.Div(
                        [
                            _button("Pause", "mailouts-pause", "secondary"),
                            _button("Resume", "mailouts-resume", "success"),
                            _button("Send now", "mailouts-send", "primary"),
                            _button("Resend failed and unknown", "mailouts-resend", "primary"),
                            _button("Edit", "mailouts-edit", "secondary"),
                            dcc.ConfirmDialogProvider(
                                _button("Remove…", "mailouts-remove", "danger"),
                                id="mailouts-remove-confirm",
                                message="Remove this schedule?",
                            ),
                        ],
                        className="mailouts-buttons",
                    ),
                ],
                className="mailouts-detail-head",
            ),
            html.Div(id="mailouts-action-result", className="mailouts-result"),
            html.Div(
                empty("Choose a schedule to see its definition, slots and deliveries."),
                id="mailouts-definition",
                role="region",
                **attrs(aria_label="The chosen schedule", aria_live="polite"),
            ),
            html.Div(
                [
                    html.H3("Slots", className="mailouts-subtitle"),
                    _grid("mailouts-slots", SLOT_COLUMNS, "slot_at"),
                ],
                id="mailouts-slots-box",
                hidden=True,
            ),
            html.H3("Deliveries", className="mailouts-subtitle"),
            html.Div(id="mailouts-deliveries-note"),
            html.Div(
                _grid("mailouts-deliveries", DELIVERY_COLUMNS, "key"),
                id="mailouts-deliveries-box",
                hidden=True,
            ),
        ],
        body=True,
        className="mailouts-card",
    )


def _timezones() -> list[str]:
    return sorted(zoneinfo.available_timezones())


def form_card(timezone: str) -> dbc.Card:
    """Add a schedule, or change the one chosen with Edit."""
    presets = [{"label": label, "value": cron} for cron, label in CRON_PRESETS.items()]
    presets.append({"label": "Custom…", "value": CUSTOM})
    return dbc.Card(
        [
            html.Div(
                [
                    html.H2("Add a schedule", id="mailouts-form-title", className="mailouts-title"),
                    dbc.Button(
                        "New schedule",
                        id="mailouts-new",
                        color="secondary",
                        size="sm",
                        outline=True,
                    ),
                ],
                className="mailouts-form-head",
            ),
            dcc.Store(id="mailouts-editing", data=None),
            html.Div(
                [
                    html.Div(
                        [
                            _field(
                                "Name",
                                "mailouts-name",
                                dbc.Input(
                                    id="mailouts-name",
                                    placeholder="e.g. monday-sales",
                                    autocomplete="off",
                                    size="sm",
                                    maxLength=TEXT_MAX,
                                ),
                                "Lower-case letters, digits, - and _.",
                            ),
                            _field(
                                "Add a report from the catalog",
                                "mailouts-report-pick",
                                dcc.Dropdown(
                                    id="mailouts-report-pick",
                                    placeholder="Search the catalog…",
                                    optionHeight=44,
                                ),
                            ),
                            _field(
                                "Reports and their parameters",
                                "mailouts-reports",
                                dbc.Textarea(
                                    id="mailouts-reports",
                                    rows=3,
                                    placeholder="sales_breakdown period=last_week group_by=branch",
                                    className="mailouts-mono",
                                    maxLength=TEXT_MAX,
                                ),
                                "One report a line: its id, then name=value for each parameter "
                                "(a period as last_week, last_month…; resolved when it sends).",
                            ),
                            html.Div(id="mailouts-params-help", className="mailouts-help"),
                        ],
                        className="mailouts-column",
                    ),
                    html.Div(
                        [
                            _field(
                                "Users",
                                "mailouts-users",
                                dcc.Dropdown(
                                    id="mailouts-users",
                                    multi=True,
                                    placeholder="Users with an email address",
                                ),
                                "Each gets the data of their own scope.",
                            ),
                            _field(
                                "Other addresses",
                                "mailouts-addresses",
                                dbc.Textarea(
                                    id="mailouts-addresses",
                                    rows=3,
                                    placeholder="cfo@acme.com:all\nops@acme.com:branch=denver",
                                    className="mailouts-mono",
                                    maxLength=TEXT_MAX,
                                ),
                                "One a line, with the data it may see: address:all or "
                                "address:branch=ID[,ID…].",
                            ),
                            _field(
                                "Failures are mailed to (optional)",
                                "mailouts-owner",
                                dbc.Input(
                                    id="mailouts-owner",
                                    placeholder="A user or an address",
                                    autocomplete="off",
                                    size="sm",
                                    maxLength=TEXT_MAX,
                                ),
                            ),
                        ],
                        className="mailouts-column",
                    ),
                    html.Div(
                        [
                            _field(
                                "When",
                                "mailouts-preset",
                                dcc.Dropdown(
                                    id="mailouts-preset",
                                    options=presets,
                                    value="0 8 * * MON",
                                    clearable=False,
                                    searchable=False,
                                ),
                            ),
                            html.Div(
                                [
                                    _field(
                                        "Cron",
                                        "mailouts-cron",
                                        dbc.Input(
                                            id="mailouts-cron",
                                            value="0 8 * * MON",
                                            size="sm",
                                            className="mailouts-mono",
                                            maxLength=200,
                                        ),
                                    ),
                                    _field(
                                        "Time zone",
                                        "mailouts-timezone",
                                        dcc.Dropdown(
                                            id="mailouts-timezone",
                                            options=_timezones(),
                                            value=timezone,
                                            clearable=False,
                                        ),
                                    ),
                                ],
                                className="mailouts-pair",
                            ),
                            html.Div(id="mailouts-cron-reads", className="mailouts-help"),
                            _field(
                                "Format",
                                "mailouts-format",
                                dbc.RadioItems(
                                    id="mailouts-format",
                                    options=[
                                        {"label": label, "value": key}
                                        for key, label in FORMAT_LABELS.items()
                                    ],
                                    value="pdf",
                                    inline=True,
                                ),
                            ),
                            _field(
                                "Data sent",
                                "mailouts-scope-mode",
                                dbc.RadioItems(
                                    id="mailouts-scope-mode",
                                    options=[
                                        {"label": "Each recipient's own", "value": OWN},
                                        {"label": "The same for everyone", "value": SHARED},
                                    ],
                                    value=OWN,
                                    inline=True,
                                ),
                            ),
                            html.Div(
                                _field(
                                    "Everyone's data",
                                    "mailouts-scope",
                                    dbc.Input(
                                        id="mailouts-scope",
                                        value="all",
                                        size="sm",
                                        className="mailouts-mono",
                                        maxLength=TEXT_MAX,
                                    ),
                                    "all, or branch=ID[,ID…]",
                                ),
                                id="mailouts-scope-box",
                                hidden=True,
                            ),
                        ],
                        className="mailouts-column",
                    ),
                ],
                className="mailouts-form",
            ),
            html.Div(
                [dbc.Button("Save schedule", id="mailouts-save", color="primary", size="sm")],
                className="mailouts-buttons",
            ),
            html.Div(id="mailouts-save-result", className="mailouts-result"),
        ],
        body=True,
        className="mailouts-card",
    )


def alerts_section() -> html.Section:
    """The KPI alerts (``kpiboard alert add`` makes them) and their latest events."""
    return html.Section(
        [
            html.H2("Alerts", className="kb-section-title"),
            dbc.Card(
                [
                    html.P(
                        [
                            "Checked after each pipeline run; the owners are mailed when a "
                            "breach starts and when it ends. ",
                            html.Code("kpiboard alert add"),
                            " adds one.",
                        ],
                        className="kb-muted kb-small mailouts-hint mailouts-lead-in",
                    ),
                    html.Div(id="mailouts-alerts-note"),
                    html.Div(
                        [
                            _grid("mailouts-alerts", ALERT_COLUMNS, "name"),
                            html.H3("Latest events", className="mailouts-subtitle"),
                            html.Div(id="mailouts-events-note"),
                            _grid("mailouts-events", EVENT_COLUMNS, "key"),
                        ],
                        id="mailouts-alerts-box",
                        hidden=True,
                    ),
                ],
                body=True,
                className="mailouts-card",
            ),
        ],
        **attrs(aria_label="Alerts"),
    )


def default_timezone() -> str:
    """The project's zone: the company's when it names one, else the project's."""
    settings = data().settings
    return settings.company.timezone or settings.project.timezone


def page(timezone: str = "UTC") -> html.Div:
    """The whole page, its grids empty: the callbacks fill them."""
    return html.Div(
        [
            html.H1("Mail-outs", className="kb-page-title"),
            html.P(
                "Reports mailed on a schedule: what goes to whom and when, and how each went.",
                className="kb-muted mailouts-lead",
            ),
            dcc.Store(id="mailouts-changed", data=0),
            dcc.Interval(id="mailouts-clock", interval=15_000),
            html.Div(id="mailouts-status", className="mailouts-status"),
            html.Section(
                [
                    html.H2("Schedules", className="kb-section-title"),
                    html.Div(id="mailouts-schedules-note"),
                    dbc.Card(
                        [
                            _grid("mailouts-schedules", SCHEDULE_COLUMNS, "name", select=True),
                            html.P(
                                "Click a schedule to see its slots and deliveries below.",
                                className="kb-muted kb-small mailouts-hint",
                            ),
                        ],
                        body=True,
                    ),
                ],
                **attrs(aria_label="Schedules"),
            ),
            html.H2("The chosen schedule", className="kb-section-title"),
            detail_card(),
            html.H2("Add or change a schedule", className="kb-section-title"),
            form_card(timezone),
            alerts_section(),
        ],
        className="mailouts-page",
    )


def layout(**_query: Any) -> html.Div:
    """The page for a viewer who may open it, one sentence for anyone else; without a viewer
    (Dash's check of the callbacks against the layout) the page with nothing in it."""
    try:
        who = viewer()
    except Refused:
        return page()
    if not who.may_open(PAGE):
        return html.Div(
            [html.H1("Mail-outs", className="kb-page-title"), html.P(REFUSED, className="kb-muted")]
        )
    return page(default_timezone())


dash.register_page(
    __name__, path="/mailouts", name="Mail-outs", title="Mail-outs", order=9, layout=layout
)


# -- whether mail goes out ------------------------------------------------------------------------


def ago(seconds: float) -> str:
    """``12 s``, ``4 min``, ``3 h 10 min``, ``2 d 5 h``: how long ago, in its largest units."""
    whole = max(0, int(seconds))
    if whole < 60:
        return f"{whole} s"
    minutes = whole // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def status_line(
    running: Sequence[Mapping[str, Any]], last: dt.datetime | None, now: dt.datetime
) -> html.Div:
    """Whether a scheduler is running — the first thing to know: without one no mail goes out."""
    if running:
        tick = running[0]["last_tick_at"]
        more = f" ({len(running)} schedulers)" if len(running) > 1 else ""
        return html.Div(
            [
                html.Span("●", className="mailouts-dot", **attrs(aria_hidden="true")),
                f"Scheduler running{more}, last tick {ago((now - tick).total_seconds())} ago.",
            ],
            className="mailouts-running",
            role="status",
        )
    since = f" The last tick was {ago((now - last).total_seconds())} ago." if last else ""
    return html.Div(
        dbc.Alert(
            [
                html.Strong("⚠ No scheduler is running: mail-outs are not being sent. "),
                "Start ",
                html.Code("kpiboard scheduler"),
                "." + since,
            ],
            color="warning",
            className="mailouts-alert",
        ),
        role="alert",
    )


@callback(
    Output("mailouts-status", "children"),
    Input("mailouts-clock", "n_intervals"),
    Input("mailouts-changed", "data"),
)
def show_status(_ticks: Any, _changed: Any) -> Any:
    """The scheduler's state, read again every 15 s."""
    if allowed() is None:
        return result(REFUSED, ok=False)
    from reports import scheduler

    settings = data().settings
    return status_line(scheduler.running(settings), scheduler.last_tick(settings), s.now())


# -- the schedules --------------------------------------------------------------------------------


def when_text(schedule: s.Schedule) -> str:
    """How the schedule's cron reads (``Mondays at 08:00 (America/Denver)``)."""
    from reports.cron import Cron, CronError

    try:
        return Cron.parse(schedule.cron, schedule.timezone).describe()
    except CronError as exc:
        return f"✗ {exc}"


def next_text(schedule: s.Schedule, now: dt.datetime) -> str | None:
    from reports.cron import CronError

    try:
        at = s.next_slot(schedule, now)
    except CronError:
        return None
    return None if at is None else s.local_text(at, schedule.timezone)


def slot_sign(slot: Mapping[str, Any]) -> str:
    """A slot's status with its sign, and how many deliveries failed when some did."""
    text = SLOT_SIGNS.get(slot["status"], slot["status"])
    counts: Mapping[str, int] = slot.get("deliveries") or {}
    bad = counts.get("failed", 0) + counts.get("unknown", 0)
    if bad and slot["status"] != "failed":
        text += f": {bad} of {sum(counts.values())} not delivered"
    if slot.get("late"):
        text += " (late)"
    return text


def schedule_records(
    schedules: Sequence[s.Schedule],
    last_slots: Mapping[str, Mapping[str, Any] | None],
    now: dt.datetime,
) -> list[dict[str, Any]]:
    """One row per schedule, as the grid shows it."""
    out = []
    for schedule in schedules:
        last = last_slots.get(schedule.name)
        out.append(
            {
                "name": schedule.name,
                "reports": ", ".join(i.report for i in schedule.items),
                "recipients": ", ".join(r.text() for r in schedule.recipients),
                "when": when_text(schedule),
                "next": next_text(schedule, now),
                "format": schedule.format.upper(),
                "status": "○ paused" if schedule.paused else "● active",
                "last_slot": last["slot"] if last else None,
                "last_status": slot_sign(last) if last else None,
            }
        )
    return out


@callback(
    Output("mailouts-schedules", "rowData"),
    Output("mailouts-target", "options"),
    Output("mailouts-schedules-note", "children"),
    Input("mailouts-changed", "data"),
)
def fill_schedules(_changed: Any) -> tuple[Any, ...]:
    """The schedules as the app database has them now, each with its last slot."""
    if allowed() is None:
        return [], [], result(REFUSED, ok=False)
    settings = data().settings
    schedules = s.list_schedules(settings)
    last = {}
    for schedule in schedules:
        found = s.slot_log(settings, schedule.name, limit=1)
        last[schedule.name] = found[0] if found else None
    records = schedule_records(schedules, last, s.now())
    note = None
    if not schedules:
        note = empty("No schedule yet: add the first one with the form below.")
    names = [{"label": x.name, "value": x.name} for x in schedules]
    return rows(records, SCHEDULE_COLUMNS, None), names, note


@callback(
    Output("mailouts-target", "value"),
    Input("mailouts-schedules", "selectedRows"),
    prevent_initial_call=True,
)
def pick(selected: list[dict[str, Any]] | None) -> Any:
    """A row clicked in the grid is the schedule the actions work on."""
    if allowed() is None or not selected or not isinstance(selected[0], dict):
        return no_update
    return selected[0].get("name")


# -- one schedule ---------------------------------------------------------------------------------


def definition(schedule: s.Schedule) -> html.Dl:
    """The schedule's definition as facts a person reads."""
    shown = s.describe(schedule)
    facts = [
        ("Reports", html.Ul([html.Li(html.Code(r)) for r in shown["reports"]])),
        ("To", html.Ul([html.Li(t) for t in shown["to"]])),
        ("When", f"{when_text(schedule)} — cron {schedule.cron}"),
        ("Format", FORMAT_LABELS.get(schedule.format, schedule.format)),
        ("Data", shown["scope"]),
        ("Failures to", schedule.owner or "—"),
        ("Status", "○ paused" if schedule.paused else "● active"),
        (
            "Created",
            f"{schedule.created_at:%Y-%m-%d %H:%M} UTC by {schedule.created_by or '—'}"
            if schedule.created_at
            else "—",
        ),
    ]
    return html.Dl(
        [x for k, v in facts for x in (html.Dt(k), html.Dd(v))], className="mailouts-facts"
    )


def slot_records(slots: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for slot in slots:
        counts: Mapping[str, int] = slot.get("deliveries") or {}
        kinds = ["sent by hand" if slot.get("manual") else "on schedule"]
        if slot.get("late"):
            kinds.append("late")
        out.append(
            {
                "slot_at": slot["slot_at"].isoformat(),
                "slot": slot["slot"],
                "status": slot_sign(slot),
                "kind": ", ".join(kinds),
                "deliveries": ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
                or None,
                "error": slot.get("error"),
            }
        )
    return out


def delivery_records(found: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "key": f"{d['slot_at'].isoformat()}|{d['recipient']}",
            "slot": d["slot"],
            "recipient": d["recipient"],
            "address": d.get("address"),
            "status": DELIVERY_SIGNS.get(d["status"], d["status"]),
            "attempts": d.get("attempts"),
            "sent_at": d.get("sent_at"),
            "error": d.get("error"),
        }
        for d in found
    ]


def _with_keys(records: list[dict[str, Any]], columns: Sequence[Col], key: str) -> list[Any]:
    shown = rows(records, columns, None)
    return [{**row, key: r[key]} for row, r in zip(shown, records, strict=True)]


NOTHING_CHOSEN: tuple[Any, ...] = (
    empty("Choose a schedule to see its definition, slots and deliveries."),
    [],
    [],
    None,
    True,
    True,
    True,
    True,
    True,
    True,
    "Remove this schedule?",
    True,
    True,
)


@callback(
    Output("mailouts-definition", "children"),
    Output("mailouts-slots", "rowData"),
    Output("mailouts-deliveries", "rowData"),
    Output("mailouts-deliveries-note", "children"),
    Output("mailouts-pause", "disabled"),
    Output("mailouts-resume", "disabled"),
    Output("mailouts-send", "disabled"),
    Output("mailouts-resend", "disabled"),
    Output("mailouts-edit", "disabled"),
    Output("mailouts-remove", "disabled"),
    Output("mailouts-remove-confirm", "message"),
    Output("mailouts-slots-box", "hidden"),
    Output("mailouts-deliveries-box", "hidden"),
    Input("mailouts-target", "value"),
    Input("mailouts-changed", "data"),
)
def show_schedule(name: Any, _changed: Any) -> tuple[Any, ...]:
    """The chosen schedule's definition, slots and every recipient's delivery, newest first."""
    if allowed() is None:
        return (result(REFUSED, ok=False), *NOTHING_CHOSEN[1:])
    if not name or not isinstance(name, str):
        return NOTHING_CHOSEN
    settings = data().settings
    try:
        schedule = s.get(settings, name[:200])
    except s.ScheduleError as exc:
        return (empty(str(exc)), *NOTHING_CHOSEN[1:])
    slots = s.slot_log(settings, schedule.name)
    found = s.history(settings, schedule.name)
    troubled = [d for d in found if d["status"] in ("failed", "unknown")]
    note = None
    if troubled:
        unknown = sum(1 for d in troubled if d["status"] == "unknown")
        failed = len(troubled) - unknown
        parts = []
        if failed:
            parts.append(f"{failed} failed")
        if unknown:
            parts.append(
                f"{unknown} unknown (the scheduler stopped while the mail server was taking "
                "it: check with the recipient before sending again)"
            )
        note = result(
            "✗ Not delivered: " + "; ".join(parts) + ". Their errors are in the table.",
            ok=False,
            warn=True,
        )
    elif not found:
        note = empty("Nothing sent yet: the first slot is " + (next_text(schedule, s.now()) or "—"))
    return (
        definition(schedule),
        _with_keys(slot_records(slots), SLOT_COLUMNS, "slot_at"),
        _with_keys(delivery_records(found), DELIVERY_COLUMNS, "key"),
        note,
        schedule.paused,
        not schedule.paused,
        False,
        not troubled,
        False,
        False,
        f"Remove the schedule {schedule.name}? No more mail goes out for it; its delivery "
        "history stays.",
        not slots,
        not found,
    )


# -- actions --------------------------------------------------------------------------------------


def _next(changed: Any) -> int:
    return (changed if isinstance(changed, int) else 0) + 1


def _chosen(name: Any) -> s.Schedule:
    if not name or not isinstance(name, str):
        raise s.ScheduleError("Choose a schedule first: in the list, or under Schedule.")
    return s.get(data().settings, name[:200])


def _act(what: str, change: Callable[[Viewer], Any], changed: Any) -> tuple[Any, Any]:
    """Run a change as the viewer; its message, or the error's one line."""
    who = allowed()
    if who is None:
        return refused(what), no_update
    try:
        said = change(who)
    except UserError as exc:
        return result(str(exc), ok=False), no_update
    return said, _next(changed)


def pause(name: Any, paused: bool, who: Viewer) -> html.Div:
    schedule = _chosen(name)
    if schedule.paused == paused:
        return result(f"{schedule.name} is {'paused' if paused else 'active'} already.", ok=True)
    s.set_paused(data().settings, schedule.name, paused, by=who.name)
    if paused:
        return result(f"Paused {schedule.name}: no slot opens until it is resumed.", ok=True)
    return result(
        f"Resumed {schedule.name}: it sends from its next slot; the slots it passed while "
        "paused are not sent.",
        ok=True,
    )


@callback(
    Output("mailouts-action-result", "children"),
    Output("mailouts-changed", "data"),
    Input("mailouts-pause", "n_clicks"),
    State("mailouts-target", "value"),
    State("mailouts-changed", "data"),
    prevent_initial_call=True,
)
def pause_schedule(_clicks: Any, name: Any, changed: Any) -> tuple[Any, Any]:
    """Pause the chosen schedule."""
    return _act("pause schedule", lambda who: pause(name, True, who), changed)


@callback(
    Output("mailouts-action-result", "children", allow_duplicate=True),
    Output("mailouts-changed", "data", allow_duplicate=True),
    Input("mailouts-resume", "n_clicks"),
    State("mailouts-target", "value"),
    State("mailouts-changed", "data"),
    prevent_initial_call=True,
)
def resume_schedule(_clicks: Any, name: Any, changed: Any) -> tuple[Any, Any]:
    """Resume the chosen schedule from now on."""
    return _act("resume schedule", lambda who: pause(name, False, who), changed)


def send_now(name: Any, who: Viewer) -> html.Div:
    """Queue a manual slot at this second; the scheduler sends it in its next tick."""
    from reports import scheduler
    from reports.delivery import Deliverer

    settings = data().settings
    schedule = _chosen(name)
    at = s.now()
    with Deliverer(settings) as deliverer:
        queued = deliverer.open_slot(schedule, at, manual=True)
    if not queued:
        return result(f"{schedule.name} was queued to send this very second already.", ok=True)
    audit.record(
        settings,
        "schedule_run",
        user=who.name,
        address=flask.request.remote_addr if flask.has_request_context() else None,
        target=schedule.name,
        detail={"slot": f"{at:%Y-%m-%d %H:%M:%S} UTC", "queued": True},
    )
    if scheduler.running(settings):
        tick = settings.scheduler.tick_seconds
        return result(
            f"Queued {schedule.name} to send now: the scheduler sends it within its tick "
            f"({tick} s). Its deliveries appear below.",
            ok=True,
        )
    return result(
        [
            html.Strong(f"Queued {schedule.name}, but no scheduler is running: "),
            "nothing is sent until ",
            html.Code("kpiboard scheduler"),
            " starts.",
        ],
        ok=True,
        warn=True,
    )


@callback(
    Output("mailouts-action-result", "children", allow_duplicate=True),
    Output("mailouts-changed", "data", allow_duplicate=True),
    Input("mailouts-send", "n_clicks"),
    State("mailouts-target", "value"),
    State("mailouts-changed", "data"),
    prevent_initial_call=True,
)
def send_schedule(_clicks: Any, name: Any, changed: Any) -> tuple[Any, Any]:
    """Send the chosen schedule now, whatever its cron says."""
    return _act("send schedule", lambda who: send_now(name, who), changed)


def resend(name: Any, who: Viewer) -> html.Div:
    from reports import delivery

    schedule = _chosen(name)
    moved = delivery.resend(data().settings, schedule.name)
    if not moved:
        return result(
            f"Nothing to resend: {schedule.name} has no failed or unknown delivery.", ok=True
        )
    audit.record(
        data().settings,
        "schedule_run",
        user=who.name,
        target=schedule.name,
        detail={"resent": moved},
    )
    return result(
        f"{moved:,} deliver{'y' if moved == 1 else 'ies'} of {schedule.name} put back to be "
        "sent at the scheduler's next tick.",
        ok=True,
    )


@callback(
    Output("mailouts-action-result", "children", allow_duplicate=True),
    Output("mailouts-changed", "data", allow_duplicate=True),
    Input("mailouts-resend", "n_clicks"),
    State("mailouts-target", "value"),
    State("mailouts-changed", "data"),
    prevent_initial_call=True,
)
def resend_schedule(_clicks: Any, name: Any, changed: Any) -> tuple[Any, Any]:
    """Send the chosen schedule's failed and unknown deliveries again."""
    return _act("resend schedule", lambda who: resend(name, who), changed)


def remove(name: Any, who: Viewer) -> html.Div:
    schedule = _chosen(name)
    s.remove(data().settings, schedule.name, by=who.name)
    return result(f"Removed {schedule.name}; its delivery history stays in the log.", ok=True)


@callback(
    Output("mailouts-action-result", "children", allow_duplicate=True),
    Output("mailouts-changed", "data", allow_duplicate=True),
    Output("mailouts-target", "value", allow_duplicate=True),
    Input("mailouts-remove-confirm", "submit_n_clicks"),
    State("mailouts-target", "value"),
    State("mailouts-changed", "data"),
    prevent_initial_call=True,
)
def remove_schedule(_clicks: Any, name: Any, changed: Any) -> tuple[Any, Any, Any]:
    """Remove the chosen schedule, once the reader confirmed it."""
    said, after = _act("remove schedule", lambda who: remove(name, who), changed)
    return said, after, None if after is not no_update else no_update


# -- the form -------------------------------------------------------------------------------------


def report_options() -> list[dict[str, str]]:
    """The catalog's reports (title and id) and the dashboard pages a schedule may print."""
    catalog = data().runner().catalog.reports.values()
    options = [{"label": f"{r.title} ({r.id})", "value": r.id} for r in catalog]
    options += [
        {"label": f"Dashboard page {p} as PDF", "value": f"{s.PAGE_PREFIX}{p}"} for p in s.PAGES
    ]
    return options


def user_options() -> list[dict[str, str]]:
    """Users who can receive mail: enabled, with an address."""
    users = access.list_users(data().settings)
    return [
        {"label": f"{u.name} ({u.email})", "value": u.name}
        for u in users
        if u.email and not u.disabled
    ]


@callback(
    Output("mailouts-report-pick", "options"),
    Output("mailouts-users", "options"),
    Input("mailouts-changed", "data"),
)
def fill_choices(_changed: Any) -> tuple[Any, Any]:
    """The form's choices: the catalog, and the users with an address."""
    if allowed() is None:
        return [], []
    return report_options(), user_options()


def item_line(report_id: str) -> str:
    """A report's line for the form: its id and the defaults of its parameters."""
    if report_id.startswith(s.PAGE_PREFIX):
        return report_id
    report = data().runner().catalog.get(report_id)
    given = [
        f"{p.name}={p.default}"
        for p in report.parameters
        if p.default is not None and p.type not in ("branch", "employee")
    ]
    return " ".join([report.id, *given])


@callback(
    Output("mailouts-reports", "value"),
    Output("mailouts-report-pick", "value"),
    Input("mailouts-report-pick", "value"),
    State("mailouts-reports", "value"),
    prevent_initial_call=True,
)
def add_report(report_id: Any, text: Any) -> tuple[Any, Any]:
    """A report picked from the catalog is added as a line with its parameters' defaults."""
    if allowed() is None or not isinstance(report_id, str) or not report_id:
        return no_update, None
    try:
        line = item_line(report_id[:200])
    except UserError:
        return no_update, None
    before = text.rstrip() if isinstance(text, str) else ""
    return (f"{before}\n{line}" if before else line), None


def parameters_help(text: Any) -> list[Any]:
    """What each report listed takes: its parameters, their kind and allowed values."""
    if not isinstance(text, str):
        return []
    catalog = data().runner().catalog
    out: list[Any] = []
    for line in text.splitlines()[:20]:
        report_id = line.split(maxsplit=1)[0] if line.strip() else ""
        if not report_id or report_id.startswith(s.PAGE_PREFIX):
            continue
        report = catalog.reports.get(report_id)
        if report is None:
            continue
        taken = []
        for p in report.parameters:
            kind = "|".join(p.values) if p.values else p.type
            taken.append(f"{p.name} ({kind})")
        out.append(
            html.Div(
                [html.Strong(report.id), ": ", ", ".join(taken) or "no parameters"],
                className="kb-small",
            )
        )
    return out


@callback(
    Output("mailouts-params-help", "children"),
    Input("mailouts-reports", "value"),
)
def show_parameters(text: Any) -> Any:
    if allowed() is None:
        return []
    return parameters_help(text)


def cron_reads(expression: Any, timezone: Any) -> Any:
    """How the cron reads and when it sends next, or what is wrong with it."""
    from reports.cron import Cron, CronError

    if not isinstance(expression, str) or not isinstance(timezone, str) or not expression:
        return None
    try:
        cron = Cron.parse(expression.strip(), timezone)
        at = cron.next(s.now().replace(tzinfo=dt.UTC))
    except CronError as exc:
        return html.Span(f"✗ {exc}", className="mailouts-bad")
    return f"{cron.describe()}; next {s.local_text(at.replace(tzinfo=None), timezone)}."


@callback(
    Output("mailouts-cron", "value"),
    Output("mailouts-preset", "value"),
    Output("mailouts-cron-reads", "children"),
    Input("mailouts-preset", "value"),
    Input("mailouts-cron", "value"),
    Input("mailouts-timezone", "value"),
)
def when_fields(preset: Any, expression: Any, timezone: Any) -> tuple[Any, Any, Any]:
    """A preset chosen writes its cron expression; an expression typed picks its preset (or
    Custom); either way the page says how it reads and when it sends next."""
    if allowed() is None:
        return no_update, no_update, None
    return when_of(dash.ctx.triggered_id, preset, expression, timezone)


def when_of(trigger: Any, preset: Any, expression: Any, timezone: Any) -> tuple[Any, Any, Any]:
    """The cron, the preset and how the cron reads, after ``trigger`` changed."""
    if trigger == "mailouts-preset" and preset in CRON_PRESETS:
        expression = preset
    typed = expression.strip() if isinstance(expression, str) else ""
    return expression, typed if typed in CRON_PRESETS else CUSTOM, cron_reads(expression, timezone)


@callback(
    Output("mailouts-scope-box", "hidden"),
    Input("mailouts-scope-mode", "value"),
)
def scope_box(mode: Any) -> bool:
    return allowed() is None or mode != SHARED


def _text(value: Any, what: str, problems: list[str]) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        problems.append(f"{what}: expected text, not {type(value).__name__}")
        return ""
    if len(value) > TEXT_MAX:
        problems.append(f"{what}: longer than {TEXT_MAX:,} characters")
        return ""
    return value.strip()


def parse_items(text: str, problems: list[str]) -> tuple[s.Item, ...]:
    items = []
    for number, line in enumerate(text.splitlines(), 1):
        words = line.split()
        if not words:
            continue
        try:
            items.append(s.Item(words[0], s.parse_params(words[1:])))
        except s.ScheduleError as exc:
            problems.append(f"reports, line {number}: {exc}")
    return tuple(items)


def parse_recipients(users: Any, addresses: str, problems: list[str]) -> tuple[s.Recipient, ...]:
    found: list[s.Recipient] = []
    chosen = users if isinstance(users, list) else ([users] if users else [])
    for name in chosen:
        if not isinstance(name, str):
            problems.append("users: expected a list of user names")
            continue
        found.append(s.Recipient(user=name))
    for line in addresses.splitlines():
        if not line.strip():
            continue
        if "@" not in line:
            problems.append(
                f"other addresses: {line.strip()[:60]!r} is not an email address "
                "(choose users under Users)"
            )
            continue
        try:
            found.append(s.Recipient.parse(line))
        except s.ScheduleError as exc:
            problems.append(str(exc))
    return tuple(found)


def schedule_of(form: Mapping[str, Any]) -> tuple[s.Schedule | None, list[str]]:
    """The schedule the form describes, and every problem found reading it."""
    problems: list[str] = []
    name = _text(form.get("name"), "name", problems)
    items = parse_items(_text(form.get("reports"), "reports", problems), problems)
    recipients = parse_recipients(
        form.get("users"), _text(form.get("addresses"), "other addresses", problems), problems
    )
    cron = _text(form.get("cron"), "cron", problems)
    timezone = _text(form.get("timezone"), "time zone", problems)
    fmt = _text(form.get("format"), "format", problems) or "pdf"
    own = form.get("scope_mode") != SHARED
    scope: s.Scope | None = None
    if not own:
        try:
            scope = s.parse_scope(
                _text(form.get("scope"), "everyone's data", problems) or "all", "everyone's data"
            )
        except s.ScheduleError as exc:
            problems.append(str(exc))
    owner = _text(form.get("owner"), "failures are mailed to", problems)
    if not name:
        problems.append("name: type one (e.g. monday-sales)")
    schedule = s.Schedule(
        name=name,
        items=items,
        recipients=recipients,
        cron=cron,
        timezone=timezone,
        format=fmt,
        own_scope=own,
        scope=scope,
        owner=owner,
    )
    return schedule, problems


def save(form: Mapping[str, Any], editing: str | None, who: Viewer) -> tuple[Any, bool]:
    """Add the schedule the form describes, or change the one being edited: its message and
    whether it was saved. Nothing is saved while any problem is found."""
    settings = data().settings
    schedule, problems = schedule_of(form)
    assert schedule is not None
    runner = data().runner()
    problems += [p for p in s.check(settings, schedule, runner=runner) if p not in problems]
    if problems:
        return problems_list(problems), False
    try:
        if editing:
            changes = {k: getattr(schedule, k) for k in s.EDITABLE}
            saved = s.update(settings, editing, changes, by=who.name, runner=runner)
            return result(f"Saved the changes to {saved.name}.", ok=True), True
        saved = s.add(settings, schedule, by=who.name, runner=runner)
    except s.ScheduleError as exc:
        return problems_list(str(exc).splitlines()), False
    first = next_text(saved, s.now())
    return result(f"Added {saved.name}; its first slot is {first or '—'}.", ok=True), True


FORM_FIELDS = (
    "name",
    "reports",
    "users",
    "addresses",
    "owner",
    "cron",
    "timezone",
    "format",
    "scope_mode",
    "scope",
)


@callback(
    Output("mailouts-save-result", "children"),
    Output("mailouts-changed", "data", allow_duplicate=True),
    Output("mailouts-editing", "data"),
    Output("mailouts-target", "value", allow_duplicate=True),
    Input("mailouts-save", "n_clicks"),
    State("mailouts-editing", "data"),
    State("mailouts-name", "value"),
    State("mailouts-reports", "value"),
    State("mailouts-users", "value"),
    State("mailouts-addresses", "value"),
    State("mailouts-owner", "value"),
    State("mailouts-cron", "value"),
    State("mailouts-timezone", "value"),
    State("mailouts-format", "value"),
    State("mailouts-scope-mode", "value"),
    State("mailouts-scope", "value"),
    State("mailouts-changed", "data"),
    prevent_initial_call=True,
)
def save_schedule(_clicks: Any, editing: Any, *values: Any) -> tuple[Any, ...]:
    """Save the form: a new schedule, or the changes to the one being edited."""
    *fields, changed = values
    who = allowed()
    if who is None:
        return refused("save schedule"), no_update, no_update, no_update
    form = dict(zip(FORM_FIELDS, fields, strict=True))
    said, saved = save(form, editing if isinstance(editing, str) else None, who)
    if not saved:
        return said, no_update, no_update, no_update
    return said, _next(changed), form["name"].strip(), form["name"].strip()


def form_values(schedule: s.Schedule | None, timezone: str) -> tuple[Any, ...]:
    """The form's fields for ``schedule`` (``None``: an empty form)."""
    if schedule is None:
        return ("", "", [], "", "", "0 8 * * MON", timezone, "pdf", OWN, "all")
    users = [r.user for r in schedule.recipients if r.user]
    addresses = "\n".join(r.text() for r in schedule.recipients if not r.user)
    return (
        schedule.name,
        "\n".join(i.text() for i in schedule.items),
        users,
        addresses,
        schedule.owner,
        schedule.cron,
        schedule.timezone,
        schedule.format,
        OWN if schedule.own_scope else SHARED,
        s.scope_text(schedule.scope),
    )


@callback(
    Output("mailouts-name", "value"),
    Output("mailouts-reports", "value", allow_duplicate=True),
    Output("mailouts-users", "value"),
    Output("mailouts-addresses", "value"),
    Output("mailouts-owner", "value"),
    Output("mailouts-cron", "value", allow_duplicate=True),
    Output("mailouts-timezone", "value"),
    Output("mailouts-format", "value"),
    Output("mailouts-scope-mode", "value"),
    Output("mailouts-scope", "value"),
    Output("mailouts-editing", "data", allow_duplicate=True),
    Output("mailouts-form-title", "children"),
    Output("mailouts-save-result", "children", allow_duplicate=True),
    Input("mailouts-edit", "n_clicks"),
    Input("mailouts-new", "n_clicks"),
    State("mailouts-target", "value"),
    prevent_initial_call=True,
)
def load_form(_edit: Any, _new: Any, name: Any) -> tuple[Any, ...]:
    """Edit fills the form with the chosen schedule; New schedule empties it."""
    if allowed() is None:
        return (*([no_update] * 12), refused("edit schedule"))
    return form_for(dash.ctx.triggered_id == "mailouts-edit", name)


def form_for(edit: bool, name: Any) -> tuple[Any, ...]:
    """The form's fields, the name being edited, the form's title and its message: the chosen
    schedule's when ``edit``, else an empty form's."""
    if not edit:
        return (*form_values(None, default_timezone()), None, "Add a schedule", None)
    try:
        schedule = _chosen(name)
    except UserError as exc:
        return (*([no_update] * 12), result(str(exc), ok=False))
    title = f"Change {schedule.name}"
    return (*form_values(schedule, schedule.timezone), schedule.name, title, None)


# -- alerts ---------------------------------------------------------------------------------------


def rule_text(rule: str, threshold: float | None, grain: str) -> str:
    """``red against plan (month)``, ``changes more than 20% (week)``, ``no data for 3 days``."""
    number = "—" if threshold is None else f"{threshold:g}"
    if rule == "below_red":
        return f"red against plan ({grain})"
    if rule == "change":
        return f"changes more than {number}% ({grain})"
    if rule == "no_data":
        return f"no data for {number} days"
    return rule


def state_text(paused: bool, state: Mapping[str, Any] | None) -> str:
    """An alert's state after its last check, with a sign."""
    if paused:
        return "○ paused"
    if state is None:
        return "… not checked yet"
    if state.get("error"):
        return f"✗ error: {state['error']}"
    if state.get("breached"):
        since = state.get("since")
        return "⚠ breached" + (f" since {since:%Y-%m-%d}" if since else "")
    return "✓ ok"


def alert_records(alerts: Sequence[Any], states: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "name": a.name,
            "kpi": a.kpi,
            "rule": rule_text(a.rule, a.threshold, a.grain),
            "scope": s.scope_text(a.scope),
            "owners": ", ".join(a.owners),
            "state": state_text(a.paused, states.get(a.name)),
        }
        for a in alerts
    ]


def event_records(events: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for number, e in enumerate(events):
        if e.get("mail_error"):
            mailed = f"✗ {e['mail_error']}"
        elif e.get("mailed_at"):
            mailed = f"✓ {e['mailed_at']:%Y-%m-%d %H:%M}"
        else:
            mailed = None
        out.append(
            {
                "key": f"{e['alert']}|{e['at'].isoformat()}|{number}",
                "at": e["at"],
                "alert": e["alert"],
                "kind": EVENT_SIGNS.get(e["kind"], e["kind"]),
                "period": e.get("period"),
                "message": e.get("message"),
                "mailed": mailed,
            }
        )
    return out


@callback(
    Output("mailouts-alerts", "rowData"),
    Output("mailouts-events", "rowData"),
    Output("mailouts-alerts-note", "children"),
    Output("mailouts-events-note", "children"),
    Output("mailouts-alerts-box", "hidden"),
    Input("mailouts-changed", "data"),
)
def fill_alerts(_changed: Any) -> tuple[Any, ...]:
    """The alerts with their state, and their latest events (start, end, error)."""
    if allowed() is None:
        return [], [], result(REFUSED, ok=False), None, True
    from reports import alerts

    settings = data().settings
    found = alerts.list_alerts(settings)
    states = {a.name: alerts.state(settings, a.name) for a in found}
    events = alerts.history(settings, limit=EVENTS_SHOWN)
    note = None
    if not found:
        note = empty("No alert yet: kpiboard alert add --name … --kpi … --rule … adds one.")
    quiet = None if events else empty("No alert has started, ended or failed yet.")
    return (
        rows(alert_records(found, states), ALERT_COLUMNS, None),
        _with_keys(event_records(events), EVENT_COLUMNS, "key"),
        note,
        quiet,
        not found,
    )
