"""Empty, error and notice states: a sentence that says why and what to change, never a blank
chart and never a stack trace (``DESIGN.md``, "States")."""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Sequence
from typing import Any

import dash_bootstrap_components as dbc
from dash import html


def attrs(**values: str) -> Any:
    """HTML attributes Dash takes but does not name (``aria-label``, ``data-value``): write
    them with underscores, ``attrs(aria_label="…")``."""
    return {name.replace("_", "-"): value for name, value in values.items()}


ERROR_ADVICE = "Try again; if it keeps failing, the server's log has the details."


def empty(message: str, *, id: str | None = None) -> html.Div:
    """In place of a chart or table that has nothing to show: why, and what to change."""
    props: Any = {"id": id} if id else {}
    return html.Div(
        [html.Span("∅", className="kb-empty-icon", **attrs(aria_hidden="true")), html.P(message)],
        className="kb-empty",
        role="status",
        **props,
    )


def problem(message: str, *, advice: str = ERROR_ADVICE) -> html.Div:
    """A failure in words: what went wrong and what to do."""
    return html.Div(
        dbc.Alert(
            [html.Strong("Something went wrong. "), message, html.Br(), html.Small(advice)],
            color="danger",
            className="kb-problem",
        ),
        role="alert",
    )


def forbidden(sentence: str, title: str | None = None) -> html.Div:
    """What a page shows a viewer whose role may not open it: its title and one sentence, and
    none of the page's components."""
    return html.Div(
        [
            *([html.H1(title, className="kb-page-title")] if title else []),
            dbc.Alert(sentence, color="secondary", className="kb-forbidden", id="kb-forbidden"),
        ],
        role="status",
    )


FAILED: contextvars.ContextVar[bool] = contextvars.ContextVar("kpiboard_part_failed", default=False)
"""Set when a part of a page failed while a callback ran: its answer is not kept for later."""


def failed(what: str, *, page: str) -> html.Div:
    """Inside an ``except``: the error goes to the server's log with its traceback, and the page
    shows one sentence naming the part that could not be shown (never the error itself, which
    may name files or SQL). The other parts of the page are unaffected."""
    logging.getLogger("kpiboard.dashboards").exception("%s page: %s failed", page, what)
    FAILED.set(True)
    return problem(f"The {what} could not be shown.")


def notices(messages: Sequence[str]) -> html.Div | None:
    """What the address asked for that was not used (an unknown branch …), one line each."""
    if not messages:
        return None
    return html.Div(
        dbc.Alert([html.Div(m) for m in messages], color="warning", className="kb-notice"),
        role="status",
    )


def skeleton(height: int = 280) -> html.Div:
    """A grey block the size of what is loading (the layout, not a spinner over nothing)."""
    return html.Div(className="kb-skeleton", style={"height": f"{height}px"})
