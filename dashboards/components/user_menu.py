"""The top bar's user menu: who is logged in, their role, and the way out."""

from __future__ import annotations

import flask
from dash import dcc, html

from dashboards.access import Refused, viewer


def user_menu() -> html.Div | None:
    """The logged-in user's name and role and a "Log out" button — a plain form POST to
    ``/logout`` carrying the CSRF token; nothing outside a request (Dash's validation layout)
    or without a viewer."""
    if not flask.has_request_context():
        return None
    try:
        who = viewer()
    except Refused:
        return None
    from flask_wtf.csrf import generate_csrf

    return html.Div(
        [
            html.Span(who.name, className="kb-user-name", id="kb-user-name"),
            html.Span(who.rights.label, className="kb-user-role"),
            html.Form(
                [
                    dcc.Input(type="hidden", name="csrf_token", value=generate_csrf()),
                    html.Button(
                        "Log out", type="submit", className="btn btn-outline-secondary btn-sm"
                    ),
                ],
                method="POST",
                action=flask.request.script_root + "/logout",
                className="kb-logout",
                id="kb-logout",
            ),
        ],
        className="kb-user",
        id="kb-user",
    )
