"""Access: who may log in, with which role and which data, and what they did — for admins.

The users (:mod:`kpiboard.access`) with their role, branches, employee, state, live sessions and
last login; forms to add a user, change a user's role, branches or employee, reset a password,
disable and enable; and the audit log (:mod:`kpiboard.audit`) filtered by time, user and
action, one entry's whole detail (a KPI file's diff) on a click.

The page gate lets only an administrator open the page; every callback here asks again
(``viewer().rights.manages_users``) before it reads or changes anything, and the layout
renders one sentence for anyone else. Each change is written to the audit log — who, from
where, on whom, what changed, never a password — and the password fields are emptied after
every submit. Nothing is cached: each answer is read from the app database when asked; only
the branch and employee names come from the warehouse (:class:`dashboards.data.Data`).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import dash
import dash_ag_grid as dag
import dash_bootstrap_components as dbc
import flask
from dash import Input, Output, State, callback, dcc, html, no_update

from dashboards.access import Refused, Viewer, viewer
from dashboards.app import data
from dashboards.components.grid import Col, column_defs, record_grid, rows
from dashboards.components.states import attrs, empty
from kpiboard import access, audit
from kpiboard.access import ROLES, AccessError, User

log = logging.getLogger("kpiboard.dashboards")

REFUSED = "This page is for administrators: only they manage users and read the audit log."
SINCE: dict[str, tuple[str, dt.timedelta | None]] = {
    "24h": ("Last 24 hours", dt.timedelta(hours=24)),
    "7d": ("Last 7 days", dt.timedelta(days=7)),
    "30d": ("Last 30 days", dt.timedelta(days=30)),
    "all": ("All time", None),
}
AUDIT_SHOWN = 1000
"""Audit entries listed at most (the newest); ``kpiboard audit`` lists any number."""
SUMMARY_MAX = 160
TEXT_MAX = 200
"""Longest text a form field may hold (a user name is at most 64; a longer one is named cut)."""

USER_COLUMNS = [
    Col("name", "User"),
    Col("role_label", "Role"),
    Col("branch_names", "Branches"),
    Col("employee_name", "Employee"),
    Col("status", "Status"),
    Col("sessions", "Live sessions", "count"),
    Col("last_login", "Last login (UTC)", "datetime"),
    Col("password_changed_at", "Password changed (UTC)", "datetime"),
    Col("created_at", "Created (UTC)", "datetime"),
]
AUDIT_COLUMNS = [
    Col("at", "When (UTC)", "datetime"),
    Col("user_name", "User"),
    Col("action", "Action"),
    Col("target", "On"),
    Col("address", "From"),
    Col("summary", "Detail"),
]


# -- who may --------------------------------------------------------------------------------------


def admin() -> Viewer | None:
    """The viewer when they manage users; ``None`` for anyone else and for nobody."""
    try:
        found = viewer()
    except Refused:
        return None
    return found if found.rights.manages_users else None


def refused(what: str) -> html.Div:
    """A change asked for by someone who may not: one sentence, and an audit entry."""
    try:
        who: str | None = viewer().name
    except Refused:
        who = None
    audit.record(
        data().settings,
        "access_refused",
        user=who,
        address=_address(),
        detail={"page": "access", "asked": what},
    )
    return result(REFUSED, ok=False)


def _address() -> str | None:
    return flask.request.remote_addr if flask.has_request_context() else None


# -- the layout -----------------------------------------------------------------------------------


def _label(text: str, for_: str, id: str | None = None) -> dbc.Label:
    props: Any = {"id": id} if id else {}
    return dbc.Label(text, html_for=for_, className="access-label", **props)


def _roles() -> list[dict[str, str]]:
    return [{"label": r.label, "value": r.name} for r in ROLES.values()]


def _password(id: str, label: str) -> html.Div:
    return html.Div(
        [
            _label(label, id),
            dbc.Input(
                id=id,
                type="password",
                autocomplete="new-password",
                size="sm",
                value="",
                maxLength=access.PASSWORD_MAX,
            ),
        ],
        className="access-field",
    )


def _grants(prefix: str) -> list[Any]:
    """Role, branches (a branch head's) and employee: the add and the change form's fields."""
    return [
        html.Div(
            [
                _label("Role", f"{prefix}-role"),
                dbc.Select(id=f"{prefix}-role", options=_roles(), value="analyst", size="sm"),
            ],
            className="access-field",
        ),
        html.Div(
            [
                _label("Branches", f"{prefix}-branches"),
                dcc.Dropdown(
                    id=f"{prefix}-branches", multi=True, placeholder="Choose their branches"
                ),
            ],
            className="access-field",
            id=f"{prefix}-branches-box",
            hidden=True,
        ),
        html.Div(
            [
                _label("Employee (optional)", f"{prefix}-employee", id=f"{prefix}-employee-label"),
                dcc.Dropdown(
                    id=f"{prefix}-employee", placeholder="Not an employee", clearable=True
                ),
            ],
            className="access-field",
        ),
    ]


def add_card() -> dbc.Card:
    return dbc.Card(
        [
            html.H2("Add a user", className="access-card-title"),
            html.Div(
                [
                    _label("User name", "access-add-name"),
                    dbc.Input(
                        id="access-add-name",
                        placeholder="e.g. j.smith",
                        autocomplete="off",
                        size="sm",
                        maxLength=TEXT_MAX,
                    ),
                    dbc.FormText("Lower-case letters, digits, '.', '_', '@' or '-'."),
                ],
                className="access-field",
            ),
            *_grants("access-add"),
            html.Div(
                [
                    _password("access-add-password", "Password"),
                    _password("access-add-repeat", "Repeat the password"),
                ],
                className="access-pair",
            ),
            dbc.Button("Add user", id="access-add-submit", color="primary", size="sm"),
            html.Div(id="access-add-result", className="access-result"),
        ],
        body=True,
        className="access-card",
    )


def _group(legend: str, parts: list[Any]) -> html.Fieldset:
    return html.Fieldset(
        [html.Legend(legend, className="access-legend"), *parts], className="access-group"
    )


def change_card() -> dbc.Card:
    """The chosen user's role and data, password, and whether they may log in: three groups
    side by side, all disabled until a user is chosen."""
    return dbc.Card(
        [
            html.H2("Change a user", className="access-card-title"),
            html.Div(
                [
                    _label("User", "access-target"),
                    dcc.Dropdown(id="access-target", placeholder="Choose, or click a row above"),
                    html.Div(id="access-target-state", className="kb-muted kb-small"),
                ],
                className="access-field access-target",
            ),
            html.Fieldset(
                [
                    _group(
                        "Role and data",
                        [
                            *_grants("access-grant"),
                            dbc.Button(
                                "Save role and data",
                                id="access-grant-submit",
                                color="primary",
                                size="sm",
                            ),
                        ],
                    ),
                    _group(
                        "Password",
                        [
                            _password("access-password", "New password"),
                            _password("access-password-repeat", "Repeat it"),
                            dbc.Button(
                                "Reset password",
                                id="access-password-submit",
                                color="primary",
                                outline=True,
                                size="sm",
                            ),
                            dbc.FormText(
                                "Their sessions end; they log in with the new password.",
                                className="d-block",
                            ),
                        ],
                    ),
                    _group(
                        "Log in",
                        [
                            html.Div(
                                [
                                    dbc.Button(
                                        "Disable",
                                        id="access-disable",
                                        color="danger",
                                        outline=True,
                                        size="sm",
                                    ),
                                    dbc.Button(
                                        "Enable",
                                        id="access-enable",
                                        color="success",
                                        outline=True,
                                        size="sm",
                                    ),
                                ],
                                className="access-buttons",
                            ),
                            dbc.FormText(
                                "Disabling ends their sessions at once; enabling lets them log "
                                "in again.",
                                className="d-block",
                            ),
                        ],
                    ),
                ],
                id="access-change-form",
                className="access-change-form",
                disabled=True,
            ),
            html.Div(id="access-change-result", className="access-result"),
        ],
        body=True,
        className="access-card",
    )


def _grid(id: str, columns: Sequence[Col], row_id: str) -> dag.AgGrid:
    defs = column_defs(columns)
    for spec in defs:
        if spec["field"] == "status":
            spec["cellClassRules"] = {"access-disabled": "params.value === 'disabled'"}
        if spec["field"] == "summary":
            spec["cellClass"] = "access-mono"
            spec["minWidth"] = 380
    return record_grid(
        id,
        defs,
        columns,
        row_id,
        page_size=25,
        class_name="access-grid",
        file_name=id.removeprefix("access-"),
    )


def audit_controls() -> html.Div:
    return html.Div(
        [
            html.Div(
                [
                    _label("Since", "access-audit-since"),
                    dcc.Dropdown(
                        id="access-audit-since",
                        options=[{"label": v[0], "value": k} for k, v in SINCE.items()],
                        value="7d",
                        clearable=False,
                        searchable=False,
                    ),
                ],
                className="access-filter",
            ),
            html.Div(
                [
                    _label("User", "access-audit-user"),
                    dcc.Dropdown(id="access-audit-user", placeholder="Everyone"),
                ],
                className="access-filter",
            ),
            html.Div(
                [
                    _label("Action", "access-audit-action"),
                    dcc.Dropdown(
                        id="access-audit-action",
                        options=[{"label": a.replace("_", " "), "value": a} for a in audit.ACTIONS],
                        placeholder="Every action",
                    ),
                ],
                className="access-filter",
            ),
            dbc.Button(
                "Export CSV", id="access-audit-export", color="secondary", outline=True, size="sm"
            ),
        ],
        className="access-filters",
    )


def page() -> html.Div:
    """The whole page, its grids empty: the callbacks fill them."""
    return html.Div(
        [
            html.H1("Access", className="kb-page-title"),
            html.P(
                "Who may log in, with which role and which data — and what they did.",
                className="kb-muted access-lead",
            ),
            dcc.Store(id="access-changed", data=0),
            html.Section(
                [
                    html.H2("Users", className="kb-section-title"),
                    html.Div(id="access-users-note"),
                    dbc.Card(
                        [
                            _grid("access-users", USER_COLUMNS, "name"),
                            html.P(
                                "Click a user to change them below.",
                                className="kb-muted kb-small access-hint",
                            ),
                        ],
                        body=True,
                    ),
                ],
                **attrs(aria_label="Users"),
            ),
            html.Div([change_card(), add_card()], className="access-actions"),
            html.H2("Audit log", className="kb-section-title"),
            dbc.Card(
                [
                    audit_controls(),
                    html.Div(id="access-audit-note"),
                    _grid("access-audit", AUDIT_COLUMNS, "audit_id"),
                    html.Div(
                        empty("Click an entry to read its whole detail."),
                        id="access-audit-detail",
                        className="access-detail",
                        role="region",
                        **attrs(aria_label="The chosen entry", aria_live="polite"),
                    ),
                ],
                body=True,
            ),
        ],
        className="access-page",
    )


def layout(**_query: Any) -> html.Div:
    """The page for an administrator, one sentence for any other viewer. Without a viewer —
    Dash makes every page's layout to check the callbacks against, at start and in the first
    request before anyone is known — the whole page with nothing in it: only the callbacks
    fill it, and only for an administrator."""
    try:
        who = viewer()
    except Refused:
        return page()
    if not who.rights.manages_users:
        return html.Div(
            [html.H1("Access", className="kb-page-title"), html.P(REFUSED, className="kb-muted")],
            className="access-page",
        )
    return page()


dash.register_page(__name__, path="/access", name="Access", title="Access", order=10, layout=layout)


# -- the users ------------------------------------------------------------------------------------


def _names() -> tuple[dict[str, str], dict[str, str]]:
    """Branch and employee names by id (ids alone when the warehouse cannot be read)."""
    d = data()
    try:
        return dict(d.branches()), dict(d.employees())
    except Exception:
        log.exception("access page: the branch and employee names could not be read")
        return {}, {}


def user_records(
    users: Sequence[User],
    sessions: Mapping[str, int],
    last_login: Mapping[str, dt.datetime],
    branches: Mapping[str, str],
    employees: Mapping[str, str],
) -> list[dict[str, Any]]:
    """One row per user, as the grid shows them: names in place of ids."""
    return [
        {
            "name": u.name,
            "role": u.role,
            "role_label": u.rights.label,
            "branch_names": ", ".join(branches.get(b, b) for b in u.branches) or None,
            "employee_name": employees.get(u.employee_id, u.employee_id) if u.employee_id else None,
            "status": "disabled" if u.disabled else "active",
            "created_at": u.created_at,
            "password_changed_at": u.password_changed_at,
            "sessions": sessions.get(u.name, 0),
            "last_login": last_login.get(u.name),
        }
        for u in users
    ]


def _options(pairs: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"label": name, "value": key} for key, name in pairs.items()]


@callback(
    Output("access-users", "rowData"),
    Output("access-target", "options"),
    Output("access-audit-user", "options"),
    Output("access-add-branches", "options"),
    Output("access-add-employee", "options"),
    Output("access-grant-branches", "options"),
    Output("access-grant-employee", "options"),
    Output("access-users-note", "children"),
    Input("access-changed", "data"),
)
def fill_users(_changed: int | None) -> tuple[Any, ...]:
    """The users as the app database has them now, and the forms' choices."""
    if admin() is None:
        return [], [], [], [], [], [], [], result(REFUSED, ok=False)
    settings = data().settings
    users = access.list_users(settings)
    sessions = {u.name: access.live_sessions(settings, u.name) for u in users}
    last = audit.latest(settings, "login")
    branches, employees = _names()
    records = user_records(users, sessions, last, branches, employees)
    names = [u.name for u in users]
    in_log = sorted(set(audit.latest(settings)) - set(names))
    who = [{"label": n, "value": n} for n in [*names, *in_log]]
    note = None if users else empty("No users yet: add the first one with the form beside.")
    return (
        rows(records, USER_COLUMNS, None),
        [{"label": n, "value": n} for n in names],
        who,
        _options(branches),
        _options(employees),
        _options(branches),
        _options(employees),
        note,
    )


def _role_fields(role: str | None) -> tuple[bool, str]:
    """Whether the branches are hidden, and the employee field's label, for ``role``."""
    label = "Employee (required)" if role == "employee" else "Employee (optional)"
    return role != "branch_head", label


@callback(
    Output("access-add-branches-box", "hidden"),
    Output("access-add-employee-label", "children"),
    Input("access-add-role", "value"),
)
def add_role_fields(role: str | None) -> tuple[Any, ...]:
    if admin() is None:
        return True, no_update
    return _role_fields(role)


@callback(
    Output("access-grant-branches-box", "hidden"),
    Output("access-grant-employee-label", "children"),
    Input("access-grant-role", "value"),
)
def grant_role_fields(role: str | None) -> tuple[Any, ...]:
    if admin() is None:
        return True, no_update
    return _role_fields(role)


@callback(
    Output("access-target", "value"),
    Input("access-users", "selectedRows"),
    prevent_initial_call=True,
)
def pick(selected: list[dict[str, Any]] | None) -> Any:
    """A row clicked in the grid is the user the change form works on."""
    if admin() is None or not selected or not isinstance(selected[0], dict):
        return no_update
    return selected[0].get("name")


@callback(
    Output("access-grant-role", "value"),
    Output("access-grant-branches", "value"),
    Output("access-grant-employee", "value"),
    Output("access-target-state", "children"),
    Output("access-change-form", "disabled"),
    Output("access-disable", "disabled"),
    Output("access-enable", "disabled"),
    Input("access-target", "value"),
    Input("access-changed", "data"),
)
def show_target(name: Any, _changed: int | None) -> tuple[Any, ...]:
    """The chosen user's role, branches and employee in the change form, as stored now."""
    nothing: tuple[Any, ...] = (no_update, [], None, None, True, True, True)
    if admin() is None:
        return (*nothing[:3], REFUSED, True, True, True)
    if not name or not isinstance(name, str):
        return nothing
    try:
        user = access.get_user(data().settings, name)
    except AccessError as exc:
        return (*nothing[:3], str(exc), True, True, True)
    sessions = access.live_sessions(data().settings, user.name)
    state = (
        f"{user.rights.label} · {'disabled' if user.disabled else 'active'} · "
        f"{sessions:,} live session{'' if sessions == 1 else 's'}"
    )
    return (
        user.role,
        list(user.branches),
        user.employee_id,
        state,
        False,
        user.disabled,
        not user.disabled,
    )


# -- the changes ----------------------------------------------------------------------------------


def result(message: str, *, ok: bool) -> html.Div:
    """What a change did, or why it was not done: one line."""
    return html.Div(
        dbc.Alert(message, color="success" if ok else "danger", className="access-alert"),
        role="status" if ok else "alert",
    )


def _text(value: Any, what: str) -> str:
    """A form field's text (``""`` when empty); anything but text is refused."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise AccessError(f"{what}: expected text, not {type(value).__name__}")
    return value


def _chosen(value: Any, what: str) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise AccessError(f"{what}: expected a list of ids")
    return list(dict.fromkeys(value))


def check_grants(role: Any, branches: Any, employee: Any) -> tuple[str, list[str], str | None]:
    """The role, branches and employee a form sends, checked against the roles and the
    warehouse's branches and employees; :class:`AccessError` in the page's words otherwise."""
    role = _text(role, "role")
    if role not in ROLES:
        raise AccessError(f"Role: no role {role[:40]!r}; choose one of the list.")
    chosen = _chosen(branches, "branches")
    who = _text(employee, "employee") or None
    known_branches, known_employees = _names()
    if role == "branch_head":
        if not chosen:
            raise AccessError("A branch head needs at least one branch: choose it under Branches.")
        unknown = [b for b in chosen if b not in known_branches]
        if unknown:
            raise AccessError(f"Branches: no branch {unknown[0][:40]!r} in the warehouse.")
    else:
        chosen = []
    if role == "employee" and not who:
        raise AccessError("An employee's user needs their employee: choose them under Employee.")
    if who is not None and who not in known_employees:
        raise AccessError(f"Employee: no employee {who[:40]!r} in the warehouse.")
    return role, chosen, who


def check_passwords(name: str, password: Any, repeat: Any) -> str:
    password = _text(password, "password")
    if not password:
        raise AccessError("Type the password, twice.")
    if password != _text(repeat, "repeated password"):
        raise AccessError("The two passwords differ: type the same password twice.")
    return access.check_password(data().settings, name, password)


def _user_name(value: Any) -> str:
    name = _text(value, "user name").strip()
    if not name:
        raise AccessError("Type the user's name.")
    return access.check_name(name[:TEXT_MAX])


def _sentence(exc: AccessError) -> str:
    text = str(exc)
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def _recorded(action: str, who: Viewer, target: str, detail: Mapping[str, Any] | None) -> None:
    audit.record(
        data().settings,
        action,
        user=who.name,
        address=_address(),
        target=target,
        detail=detail,
    )


def add(name: Any, role: Any, branches: Any, employee: Any, password: Any, repeat: Any) -> str:
    """Add the user the form describes; the message saying so, or :class:`AccessError`."""
    who = admin()
    assert who is not None
    user_name = _user_name(name)
    role_, chosen, employee_ = check_grants(role, branches, employee)
    secret = check_passwords(user_name, password, repeat)
    user = access.add_user(
        data().settings, user_name, role_, secret, employee=employee_, branches=chosen
    )
    detail: dict[str, Any] = {"role": user.role}
    if user.branches:
        detail["branches"] = list(user.branches)
    if user.employee_id:
        detail["employee"] = user.employee_id
    _recorded("user_added", who, user.name, detail)
    return f"Added {user.name} ({user.rights.label}). They can log in now."


@callback(
    Output("access-add-result", "children"),
    Output("access-changed", "data"),
    Output("access-add-name", "value"),
    Output("access-add-password", "value"),
    Output("access-add-repeat", "value"),
    Input("access-add-submit", "n_clicks"),
    State("access-add-name", "value"),
    State("access-add-role", "value"),
    State("access-add-branches", "value"),
    State("access-add-employee", "value"),
    State("access-add-password", "value"),
    State("access-add-repeat", "value"),
    State("access-changed", "data"),
    prevent_initial_call=True,
)
def add_user(
    _clicks: int | None,
    name: Any,
    role: Any,
    branches: Any,
    employee: Any,
    password: Any,
    repeat: Any,
    changed: Any,
) -> tuple[Any, ...]:
    """Add a user; the password fields are emptied whatever happened."""
    if admin() is None:
        return refused("add user"), no_update, no_update, "", ""
    try:
        said = add(name, role, branches, employee, password, repeat)
    except AccessError as exc:
        return result(_sentence(exc), ok=False), no_update, no_update, "", ""
    return result(said, ok=True), _next(changed), "", "", ""


def _next(changed: Any) -> int:
    return (changed if isinstance(changed, int) else 0) + 1


def _target(value: Any) -> User:
    name = _text(value, "user")
    if not name:
        raise AccessError("Choose a user first: in the list, or under User.")
    return access.get_user(data().settings, name[:TEXT_MAX])


def _as_change(user: User, role: str, branches: list[str], employee: str | None) -> dict[str, Any]:
    """What a grant changes: ``{field: {"before": …, "after": …}}`` for each that differs."""
    before = {"role": user.role, "branches": list(user.branches), "employee": user.employee_id}
    after = {"role": role, "branches": sorted(branches), "employee": employee}
    return {k: {"before": before[k], "after": after[k]} for k in before if before[k] != after[k]}


def regrant(target: Any, role: Any, branches: Any, employee: Any) -> str:
    who = admin()
    assert who is not None
    user = _target(target)
    role_, chosen, employee_ = check_grants(role, branches, employee)
    if user.name == who.name and role_ != "admin":
        raise AccessError(
            "You cannot take away your own administrator role: another administrator must."
        )
    change = _as_change(user, role_, chosen, employee_)
    if not change:
        return f"Nothing to change: {user.name} has this role and data already."
    access.grant(data().settings, user.name, role=role_, employee=employee_ or "", branches=chosen)
    _recorded("user_granted", who, user.name, change)
    return f"Saved: {user.name} — {', '.join(change)} changed. Their next request sees it."


@callback(
    Output("access-change-result", "children"),
    Output("access-changed", "data", allow_duplicate=True),
    Input("access-grant-submit", "n_clicks"),
    State("access-target", "value"),
    State("access-grant-role", "value"),
    State("access-grant-branches", "value"),
    State("access-grant-employee", "value"),
    State("access-changed", "data"),
    prevent_initial_call=True,
)
def grant_user(
    _clicks: int | None, target: Any, role: Any, branches: Any, employee: Any, changed: Any
) -> tuple[Any, ...]:
    """Change the chosen user's role, branches or employee."""
    if admin() is None:
        return refused("change role"), no_update
    return _done(lambda: regrant(target, role, branches, employee), changed)


def _done(change: Callable[[], str], changed: Any) -> tuple[Any, Any]:
    try:
        said = change()
    except AccessError as exc:
        return result(_sentence(exc), ok=False), no_update
    return result(said, ok=True), _next(changed)


def reset(target: Any, password: Any, repeat: Any) -> str:
    who = admin()
    assert who is not None
    user = _target(target)
    secret = check_passwords(user.name, password, repeat)
    sessions = access.live_sessions(data().settings, user.name)
    access.set_password(data().settings, user.name, secret)
    _recorded("user_password", who, user.name, {"sessions_ended": sessions})
    yours = " Yours too: log in again with it." if user.name == who.name else ""
    return f"New password set for {user.name}; {sessions:,} session(s) ended.{yours}"


@callback(
    Output("access-change-result", "children", allow_duplicate=True),
    Output("access-changed", "data", allow_duplicate=True),
    Output("access-password", "value"),
    Output("access-password-repeat", "value"),
    Input("access-password-submit", "n_clicks"),
    State("access-target", "value"),
    State("access-password", "value"),
    State("access-password-repeat", "value"),
    State("access-changed", "data"),
    prevent_initial_call=True,
)
def reset_password(
    _clicks: int | None, target: Any, password: Any, repeat: Any, changed: Any
) -> tuple[Any, ...]:
    """A new password for the chosen user (their sessions end); the fields are emptied."""
    if admin() is None:
        return refused("reset password"), no_update, "", ""
    return (*_done(lambda: reset(target, password, repeat), changed), "", "")


def switch(target: Any, disabled: bool) -> str:
    who = admin()
    assert who is not None
    user = _target(target)
    if disabled and user.name == who.name:
        raise AccessError("You cannot disable yourself: another administrator must.")
    if user.disabled == disabled:
        return f"{user.name} is {'disabled' if disabled else 'enabled'} already."
    sessions = access.live_sessions(data().settings, user.name)
    access.set_disabled(data().settings, user.name, disabled)
    if disabled:
        _recorded("user_disabled", who, user.name, {"sessions_ended": sessions})
        return f"Disabled {user.name}; {sessions:,} session(s) ended. They cannot log in."
    _recorded("user_enabled", who, user.name, None)
    return f"Enabled {user.name}: they can log in again."


@callback(
    Output("access-change-result", "children", allow_duplicate=True),
    Output("access-changed", "data", allow_duplicate=True),
    Input("access-disable", "n_clicks"),
    State("access-target", "value"),
    State("access-changed", "data"),
    prevent_initial_call=True,
)
def disable_user(_clicks: int | None, target: Any, changed: Any) -> tuple[Any, ...]:
    """Disable the chosen user: their sessions end, their logins are refused."""
    if admin() is None:
        return refused("disable user"), no_update
    return _done(lambda: switch(target, True), changed)


@callback(
    Output("access-change-result", "children", allow_duplicate=True),
    Output("access-changed", "data", allow_duplicate=True),
    Input("access-enable", "n_clicks"),
    State("access-target", "value"),
    State("access-changed", "data"),
    prevent_initial_call=True,
)
def enable_user(_clicks: int | None, target: Any, changed: Any) -> tuple[Any, ...]:
    if admin() is None:
        return refused("enable user"), no_update
    return _done(lambda: switch(target, False), changed)


# -- the audit log --------------------------------------------------------------------------------


def _short(value: Any) -> str:
    if isinstance(value, Mapping) and set(value) == {"before", "after"}:
        return f"{_short(value['before'])} → {_short(value['after'])}"
    if value is None or value == []:
        return "—"
    if isinstance(value, str):
        if "\n" in value:
            changed = sum(
                1
                for line in value.splitlines()
                if line[:1] in "+-" and not line.startswith(("+++", "---"))
            )
            lines = changed or len(value.splitlines())
            return f"({lines:,} lines{' changed' if changed else ''})"
        return value
    if isinstance(value, list):
        return ", ".join(_short(v) for v in value)
    return json.dumps(value, default=str, ensure_ascii=False)


def summary(detail: Any) -> str | None:
    """An entry's detail on one line: ``role: analyst → branch_head; branches: — → den``; a
    diff as the number of lines it changes (a click shows it whole)."""
    if detail is None:
        return None
    if not isinstance(detail, Mapping):
        text = str(detail)
    else:
        text = "; ".join(f"{k}: {_short(v)}" for k, v in detail.items())
    return text if len(text) <= SUMMARY_MAX else text[: SUMMARY_MAX - 1] + "…"


def audit_records(found: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "audit_id": e["audit_id"],
            "at": e["at"],
            "user_name": e["user_name"],
            "action": e["action"],
            "target": e["target"],
            "address": e["address"],
            "summary": summary(e["detail"]),
        }
        for e in found
    ]


def since_of(preset: Any, now: dt.datetime) -> dt.datetime | None:
    if preset not in SINCE:
        raise AccessError(f"Since: no choice {str(preset)[:20]!r}; choose one of the list.")
    delta = SINCE[preset][1]
    return None if delta is None else now - delta


@callback(
    Output("access-audit", "rowData"),
    Output("access-audit-note", "children"),
    Input("access-audit-since", "value"),
    Input("access-audit-user", "value"),
    Input("access-audit-action", "value"),
    Input("access-changed", "data"),
)
def fill_audit(since: Any, user: Any, action: Any, _changed: Any) -> tuple[Any, Any]:
    """The newest entries since, of the user, of the action chosen."""
    if admin() is None:
        return [], result(REFUSED, ok=False)
    try:
        start = since_of(since, access.now())
        who = _text(user, "user")[:64] or None
        what = _text(action, "action") or None
        if what is not None and what not in audit.ACTIONS:
            raise AccessError(f"Action: no action {what[:40]!r}; choose one of the list.")
    except AccessError as exc:
        return [], result(_sentence(exc), ok=False)
    found = audit.entries(data().settings, since=start, user=who, action=what, limit=AUDIT_SHOWN)
    records = audit_records(found)
    if not records:
        return [], empty("No entry matches: widen the time, or choose everyone and every action.")
    note = None
    if len(records) == AUDIT_SHOWN:
        note = html.P(
            f"The newest {AUDIT_SHOWN:,} entries; narrow the time, user or action for older "
            "ones, or use `kpiboard audit`.",
            className="kb-muted kb-small",
        )
    shown = rows(records, AUDIT_COLUMNS, None)
    return [{**row, "audit_id": r["audit_id"]} for row, r in zip(shown, records, strict=True)], note


@callback(
    Output("access-audit", "exportDataAsCsv"),
    Input("access-audit-export", "n_clicks"),
    prevent_initial_call=True,
)
def export_audit(_clicks: int | None) -> bool:
    """The listed entries as CSV, as the grid holds them (the browser writes the file)."""
    return admin() is not None


def _diff_lines(text: str) -> html.Pre:
    def kind(line: str) -> str:
        if line.startswith(("+++", "---")):
            return "access-diff-file"
        if line.startswith("@@"):
            return "access-diff-hunk"
        return {"+": "access-diff-add", "-": "access-diff-del"}.get(line[:1], "")

    return html.Pre(
        [html.Span(line, className=kind(line)) for line in text.splitlines()],
        className="access-diff",
    )


def entry_detail(entry: Mapping[str, Any]) -> html.Div:
    """One entry whole: who, when, from where, on what, and its detail — a diff with its added
    and removed lines marked, anything else as indented JSON."""
    detail = entry.get("detail")
    facts = [
        ("When (UTC)", entry["at"].strftime("%Y-%m-%d %H:%M:%S")),
        ("User", entry.get("user_name") or "—"),
        ("Action", entry["action"]),
        ("On", entry.get("target") or "—"),
        ("From", entry.get("address") or "—"),
    ]
    parts: list[Any] = [
        html.H3(f"Entry {entry['audit_id']:,}", className="access-detail-title"),
        html.Dl([x for k, v in facts for x in (html.Dt(k), html.Dd(v))], className="access-facts"),
    ]
    if detail is None:
        parts.append(html.P("No further detail.", className="kb-muted"))
    elif isinstance(detail, Mapping):
        rest = {k: v for k, v in detail.items() if not (isinstance(v, str) and "\n" in v)}
        if rest:
            parts.append(
                html.Pre(
                    json.dumps(rest, indent=2, ensure_ascii=False, default=str),
                    className="access-json",
                )
            )
        for key, value in detail.items():
            if isinstance(value, str) and "\n" in value:
                parts += [html.H4(key, className="access-detail-key"), _diff_lines(value)]
    else:
        parts.append(html.Pre(str(detail), className="access-json"))
    return html.Div(parts)


@callback(
    Output("access-audit-detail", "children"),
    Input("access-audit", "selectedRows"),
    prevent_initial_call=True,
)
def show_entry(selected: list[dict[str, Any]] | None) -> Any:
    """The clicked entry, read again from the log (a listing holds only its summary)."""
    if admin() is None:
        return result(REFUSED, ok=False)
    if not selected or not isinstance(selected[0], dict):
        return empty("Click an entry to read its whole detail.")
    audit_id = selected[0].get("audit_id")
    if not isinstance(audit_id, int | float):
        return empty("Click an entry to read its whole detail.")
    found = audit.entry(data().settings, int(audit_id))
    if found is None:
        return empty("This entry is no longer in the log.")
    return entry_detail(found)
