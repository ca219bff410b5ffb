"""``kpiboard alert``: rules on KPIs that tell their owners when a breach starts and ends —
added, listed, removed, their history of events, and a check of the published snapshot now.

The scheduler checks the alerts after each publish and mails the owners; ``alert check`` does
the same at once, and prints what it would mail (it mails nothing itself).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kpiboard.cli.app import FormatOption, ProjectOption, _group, load_settings, out
from kpiboard.errors import UserError
from kpiboard.output import Format, emit

if TYPE_CHECKING:
    from reports.alerts import Alert, AlertEvent

alert_app = _group(
    "alert",
    "Alerts on KPIs: their owners hear when a KPI turns red against plan, changes by more than "
    "a threshold, or stops getting rows — and when that ends. Checked after every publish.",
    "kpiboard alert add --name denver-red --kpi revenue --rule below_red --branch denver "
    "--owner dana -p demo",
    no_args_is_help=True,
)

NOT_MAILED = "not mailed: kpiboard alert check prints what it would mail"


def _threshold(text: str | None) -> float | None:
    """``--threshold`` as a number, or one line saying what it must be."""
    if text is None:
        return None
    try:
        return float(text.strip().removesuffix("%"))
    except ValueError:
        shown = repr(text[:40])
        raise UserError(
            f"--threshold {shown}: give a number (percent for --rule change, days for no_data)"
        ) from None


@alert_app.command("add")
def alert_add(
    name: Annotated[
        str,
        typer.Option(
            "--name", "-n", help="The alert's name: letters, digits, - and _.", show_default=False
        ),
    ],
    kpi: Annotated[
        str,
        typer.Option("--kpi", "-k", help="The KPI's id (kpiboard kpi list).", show_default=False),
    ],
    rule: Annotated[
        str,
        typer.Option(
            "--rule",
            "-r",
            help="below_red (red against plan), change (by more than --threshold percent against "
            "the previous period) or no_data (no rows for --threshold days).",
            show_default=False,
        ),
    ],
    owners: Annotated[
        list[str],
        typer.Option(
            "--owner",
            "-o",
            help="Who is told: a user name or an address (repeatable).",
            show_default=False,
        ),
    ],
    threshold: Annotated[
        str | None,
        typer.Option(
            "--threshold",
            "-t",
            help="change: percent (percentage points for a KPI in percent); no_data: days.",
            show_default=False,
        ),
    ] = None,
    grain: Annotated[
        str, typer.Option("--grain", "-g", help="The period: day, week, month or quarter.")
    ] = "month",
    branches: Annotated[
        list[str] | None,
        typer.Option(
            "--branch",
            "-b",
            help="The KPI for these branches only (repeatable); all rows without.",
            show_default=False,
        ),
    ] = None,
    paused: Annotated[bool, typer.Option("--paused", help="Add it paused.")] = False,
    project: ProjectOption = Path("."),
) -> None:
    """Add an alert on a KPI. It is checked on every new snapshot; its owners hear when the
    rule starts to hold and when it stops, once each.

    Example: `kpiboard alert add --name denver-red --kpi revenue --rule below_red --branch denver --owner dana -p demo`

    Example: `kpiboard alert add --name swing --kpi revenue --rule change --threshold 20 --owner cfo@acme.com -p demo`
    """  # noqa: E501
    from kpiboard import audit
    from reports import alerts

    settings = load_settings(project)
    scope = {"branch": tuple(branches)} if branches else None
    alert = alerts.Alert(
        name=name,
        kpi=kpi,
        rule=rule,
        threshold=_threshold(threshold),
        grain=grain,
        scope=scope,
        owners=tuple(owners),
        paused=paused,
    )
    added = alerts.add(settings, alert, by=audit.cli_user())
    out.print(f"Added alert {added.name}: {_what(added)}", markup=False)


def _what(alert: Alert) -> str:
    """``revenue (branch denver) red against plan (month) → dana, cfo@acme.com``."""
    scope = ""
    if alert.scope:
        scope = " (" + "; ".join(f"{k} {', '.join(v)}" for k, v in alert.scope.items()) + ")"
    paused = " [paused]" if alert.paused else ""
    return f"{alert.kpi}{scope} {alert.describe()} → {', '.join(alert.owners)}{paused}"


@alert_app.command("list")
def alert_list(project: ProjectOption = Path("."), fmt: FormatOption = Format.table) -> None:
    """List the alerts: KPI, rule, threshold, period, branches, owners, whether paused, and
    their state after the last check (breached since when, ok, or why it could not be checked).

    Example: `kpiboard alert list -p demo --format json`
    """
    from reports import alerts

    settings = load_settings(project)
    found = alerts.list_alerts(settings)
    if not found and fmt is Format.table:
        out.print("No alerts yet: kpiboard alert add --help says how to add one.", markup=False)
        return
    rows = [_list_row(a, alerts.state(settings, a.name)) for a in found]
    if fmt is Format.table:
        cells = [
            {
                **{k: "" if v is None else v for k, v in r.items()},
                "branches": ", ".join(r["branches"]),
                "owners": ", ".join(r["owners"]),
                "paused": "paused" if r["paused"] else "",
                "since": _minute(r["since"]),
            }
            for r in rows
        ]
        emit(cells, fmt, title=f"{len(rows)} alert{'' if len(rows) == 1 else 's'}")
    elif fmt is Format.csv:
        emit(
            [
                {**r, "branches": " ".join(r["branches"]), "owners": " ".join(r["owners"])}
                for r in rows
            ],
            fmt,
        )
    else:
        emit(rows, fmt)


def _list_row(alert: Alert, state: dict[str, Any] | None) -> dict[str, Any]:
    if state is None:
        status, since = "not checked yet", None
    elif state["error"]:
        status, since = f"error: {state['error']}", None
    elif state["breached"]:
        status, since = "breached", state["since"]
    else:
        status, since = "ok", None
    return {
        "name": alert.name,
        "kpi": alert.kpi,
        "rule": alert.rule,
        "threshold": alert.threshold,
        "grain": alert.grain,
        "branches": list((alert.scope or {}).get("branch", ())),
        "owners": list(alert.owners),
        "paused": alert.paused,
        "state": status,
        "since": since,
    }


def _minute(at: dt.datetime | None) -> str:
    return "" if at is None else at.strftime("%Y-%m-%d %H:%M")


@alert_app.command("remove")
def alert_remove(
    name: Annotated[str, typer.Argument(help="The alert's name.", show_default=False)],
    project: ProjectOption = Path("."),
) -> None:
    """Remove an alert, with its state and history of events.

    Example: `kpiboard alert remove denver-red -p demo`
    """
    from kpiboard import audit
    from reports import alerts

    alerts.remove(load_settings(project), name, by=audit.cli_user())
    out.print(f"Removed alert {name}", markup=False)


@alert_app.command("history")
def alert_history(
    name: Annotated[
        str | None, typer.Argument(help="Only this alert's events.", show_default=False)
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="At most N events.", min=1)] = 100,
    project: ProjectOption = Path("."),
    fmt: FormatOption = Format.table,
) -> None:
    """The alerts' events, newest first: a breach started or ended, or an alert could not be
    checked — when, on which snapshot, the sentence its owners were sent, and whether the mail
    went out.

    Example: `kpiboard alert history denver-red -p demo --limit 20`
    """
    from reports import alerts

    settings = load_settings(project)
    rows = alerts.history(settings, name, limit=limit)
    if fmt is not Format.table:
        emit(rows, fmt)
        return
    if not rows:
        out.print("No alert events" + (f" of {name}" if name else ""), markup=False)
        return
    cells = [
        {
            "at": _minute(r["at"]),
            "alert": r["alert"],
            "event": r["kind"],
            "message": r["message"],
            "mailed": _minute(r["mailed_at"]) or (r["mail_error"] or ""),
        }
        for r in rows
    ]
    more = f" (the newest {limit}: --limit)" if len(rows) == limit else ""
    emit(cells, fmt, title=f"{len(rows)} event{'' if len(rows) == 1 else 's'}, newest first{more}")


@alert_app.command("check")
def alert_check(
    snapshot: Annotated[
        str | None,
        typer.Option(
            "--snapshot", help="The snapshot's file name (default: the one published now)."
        ),
    ] = None,
    mail: Annotated[
        bool, typer.Option("--mail", help="Mail the owners through [smtp], as the scheduler does.")
    ] = False,
    project: ProjectOption = Path("."),
) -> None:
    """Check every active alert on the published snapshot now, as the scheduler does after a
    publish: record the breaches that started or ended, and print what would be mailed to
    their owners (with --mail, mail them as the scheduler does).

    Example: `kpiboard alert check -p demo`
    """
    from reports import alerts

    settings = load_settings(project)

    from reports.mail import Mailer

    mailer = Mailer(settings.smtp)

    def show(event: AlertEvent) -> str | None:
        out.print(alerts.printed(event), markup=False, highlight=False)
        return alerts.send(settings, event, mailer=mailer) if mail else NOT_MAILED

    try:
        events = alerts.check(settings, send=show, snapshot=snapshot)
    finally:
        mailer.close()
    if not events:
        out.print("No alert started or ended", markup=False)
