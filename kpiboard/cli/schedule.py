"""``kpiboard schedule``: mail-outs of reports — added, listed, shown, edited, paused, resumed,
removed, sent now, their delivery log read and a failed delivery sent again — and ``kpiboard
scheduler``, the long-lived process that sends them on time.

Everything a schedule is checked by :func:`reports.schedules.check` before it is saved, and every
problem it finds is one ``error:`` line: nothing is saved while one is left. Sending is
:mod:`reports.delivery`'s and the process :mod:`reports.scheduler`'s; this module only turns
options into their calls and their results into lines a person reads.

A schedule of several reports takes ``--report`` more than once, and each ``--param`` belongs to
the ``--report`` given just before it::

    kpiboard schedule add --name monday-pack --report sales_by_period --param period=last_week \\
        --report receivables_aging --param as_of=data_end --to dana --cron "0 8 * * MON"

so the order of the options on the command line matters (:class:`_InOrder` keeps it). A
parameter may also name its report, ``--param sales_by_period.period=last_week``, anywhere.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
import time
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperCommand

from kpiboard.cli.app import (
    FormatOption,
    ProjectOption,
    _group,
    app,
    load_settings,
    out,
)
from kpiboard.errors import UserError
from kpiboard.output import NUMBER, PERIOD, Format, emit, print_fitted

if TYPE_CHECKING:
    from kpiboard.config import Settings
    from reports.delivery import Deliverer, SlotOutcome
    from reports.runner import Runner
    from reports.schedules import Item, Recipient, Schedule

schedule_app = _group(
    "schedule",
    "Mail-outs: reports mailed on a cron schedule in a time zone, each recipient getting the "
    "data of their own scope. `kpiboard scheduler` sends them.",
    "kpiboard schedule add --name monday-sales --report sales_by_period --param "
    'period=last_week --to dana --cron "0 8 * * MON" -p demo',
    no_args_is_help=True,
)

log = logging.getLogger("kpiboard.scheduler")

NEXT_SHOWN = 5
"""How many of a schedule's next slots ``schedule show`` lists."""
BAD_STATUSES = ("failed", "unknown")
"""Delivery statuses that make ``scheduler --once`` and ``schedule run-now`` exit with 4."""


class MailFormat(StrEnum):
    pdf = "pdf"
    xlsx = "xlsx"
    html = "html"


# -- options in the order they were given ----------------------------------------------------


ORDER = "kpiboard.option_order"
"""Where :class:`_InOrder` leaves the names of the options as given, one per occurrence."""


class _InOrder(TyperCommand):
    """A command that remembers the order its options were given in: with ``--report a
    --param period=last_week --report b --param as_of=data_end`` each ``--param`` belongs to
    the ``--report`` before it, which the values of two repeated options alone cannot tell."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        # parsed twice: once here for the order alone (nothing is run: callbacks and values
        # come in the second), then as any command is; a mistake fails the first the same way
        _, _, order = self.make_parser(ctx).parse_args(args=list(args))
        ctx.meta[ORDER] = [param.name for param in order]
        return list(super().parse_args(ctx, args))


def items_given(reports: Sequence[str], params: Sequence[str], order: Sequence[str]) -> list[Item]:
    """The reports of ``--report`` with the ``--param`` pairs given after each (``order``: the
    option names as :class:`_InOrder` saw them). ``REPORT.name=value`` names its report
    anywhere; a plain pair before the first ``--report`` belongs to it when it is the only
    one."""
    from reports.schedules import Item, ScheduleError

    pairs: list[dict[str, str]] = [{} for _ in reports]
    current, taken = -1, 0
    for option in order:
        if option == "reports":
            current += 1
            continue
        if option != "params":
            continue
        pair = params[taken]
        taken += 1
        key, value, named = _split_pair(pair, reports)
        index = reports.index(named) if named is not None else current
        if index < 0:
            if len(reports) != 1:
                raise ScheduleError(
                    f"--param {_short(pair)} comes before any --report: give it after the report "
                    "it is for (--report a --param period=last_week --report b --param …)"
                )
            index = 0
        if key in pairs[index]:
            raise ScheduleError(f"--param {key!r} is given twice for report {reports[index]!r}")
        pairs[index][key] = value
    return [Item(report, pairs[i]) for i, report in enumerate(reports)]


def _split_pair(pair: str, reports: Sequence[str]) -> tuple[str, str, str | None]:
    """``name=value`` → (name, value, None); ``REPORT.name=value`` → (name, value, REPORT)
    when REPORT is one of ``reports``."""
    from reports.schedules import ScheduleError, parse_params

    ((key, value),) = parse_params([pair]).items()
    named, dot, rest = key.rpartition(".")
    if dot and named:
        if named not in reports:
            raise ScheduleError(
                f"--param {_short(pair)}: no --report {named!r} here "
                f"(reports: {', '.join(reports) or 'none'})"
            )
        return rest.strip(), value, named
    return key, value, None


def runner(settings: Settings) -> Runner:
    """A report runner that reads each report's own file the first time it is asked for it."""
    from reports.runner import Runner

    return Runner.on_demand(settings)


def _short(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:60] + "…")


# -- options ---------------------------------------------------------------------------------


NameArgument = Annotated[str, typer.Argument(help="The schedule's name.", show_default=False)]
ReportOption = Annotated[
    list[str] | None,
    typer.Option(
        "--report",
        "-r",
        help="A report id of the catalog (`kpiboard report list`), or page:/sales for a "
        "dashboard page as PDF. Repeat it for several reports in one mail.",
        show_default=False,
    ),
]
ParamOption = Annotated[
    list[str] | None,
    typer.Option(
        "--param",
        help="A parameter name=value of the --report given just before it (period=last_week, "
        "as_of=data_end), or REPORT.name=value anywhere. Repeatable.",
        show_default=False,
    ),
]
ToOption = Annotated[
    list[str] | None,
    typer.Option(
        "--to",
        help="A recipient: a user name (their address and scope), or an address with the data "
        "it may see: cfo@acme.com:all, ops@acme.com:branch=denver. Repeatable.",
        show_default=False,
    ),
]
CronOption = Annotated[
    str | None,
    typer.Option(
        "--cron",
        help='When: a 5-field cron expression in --tz ("0 8 * * MON": Mondays at 08:00), or '
        "@daily, @weekly, @monthly, @hourly.",
        show_default=False,
    ),
]
TzOption = Annotated[
    str | None,
    typer.Option(
        "--tz",
        help="The IANA time zone the cron's times are in (America/Denver); default: [project] "
        "timezone.",
        show_default=False,
    ),
]
ScheduleScopeOption = Annotated[
    str | None,
    typer.Option(
        "--schedule-scope",
        help="Send everyone the same data: all, or branch=denver[,austin]. Default: each "
        "recipient gets the data of their own scope (own).",
        show_default=False,
    ),
]
OwnerOption = Annotated[
    str | None,
    typer.Option(
        "--owner",
        help="A user name or an address told when the schedule fails.",
        show_default=False,
    ),
]
LimitOption = Annotated[int, typer.Option("--limit", "-n", help="At most N rows.", min=1)]


# -- add -------------------------------------------------------------------------------------


@schedule_app.command("add", cls=_InOrder)
def schedule_add(
    ctx: typer.Context,
    name: Annotated[
        str | None,
        typer.Option(
            "--name",
            help="The schedule's name: lowercase letters, digits, - and _.",
            show_default=False,
        ),
    ] = None,
    reports: ReportOption = None,
    params: ParamOption = None,
    to: ToOption = None,
    cron: CronOption = None,
    timezone: TzOption = None,
    mail_format: Annotated[
        MailFormat,
        typer.Option(
            "--format",
            help="pdf or xlsx attach each report; html puts the headline numbers in the mail only.",
        ),
    ] = MailFormat.pdf,
    schedule_scope: ScheduleScopeOption = None,
    owner: OwnerOption = None,
    paused: Annotated[
        bool, typer.Option("--paused", help="Save it paused: nothing is sent until resumed.")
    ] = False,
    project: ProjectOption = Path("."),
) -> None:
    """Add a mail-out. Every problem is named before anything is saved: an unknown report or
    parameter, a user without an email address, an address without a scope, a company-wide
    report for a branch head, a wrong cron or zone.

    Each --param belongs to the --report given just before it (or names it: --param
    sales_by_period.period=last_week). Its first mail is its first slot after now.

    Example: `kpiboard schedule add --name monday-sales --report sales_by_period --param
    period=last_week --to dana --to cfo@acme.com:all --cron "0 8 * * MON" --tz America/Denver
    -p demo`

    Example: `kpiboard schedule add --name pack --report sales_breakdown --param
    period=last_month --report receivables_aging --param as_of=data_end --to ann --cron
    @monthly --format xlsx -p demo`
    """
    from kpiboard.audit import cli_user
    from reports import schedules
    from reports.schedules import Schedule

    if not name:
        raise UserError("give the schedule a name (--name monday-sales)")
    if not cron:
        raise UserError('give when it is sent: --cron "0 8 * * MON" (Mondays at 08:00)')
    items = items_given(reports or [], params or [], ctx.meta.get(ORDER, []))
    recipients = tuple(_recipient(text) for text in to or [])
    own_scope, scope = _schedule_scope(schedule_scope)
    settings = load_settings(project)
    schedule = Schedule(
        name=name,
        items=tuple(items),
        recipients=recipients,
        cron=cron,
        timezone=timezone or settings.project.timezone,
        format=mail_format.value,
        own_scope=own_scope,
        scope=scope,
        owner=owner or "",
        paused=paused,
    )
    saved = schedules.add(settings, schedule, by=cli_user(), runner=runner(settings))
    out.print(f"Added {saved.name}: {_summary(saved)}", markup=False)


def _recipient(text: str) -> Recipient:
    from reports.schedules import Recipient

    return Recipient.parse(text)


def _schedule_scope(text: str | None) -> tuple[bool, dict[str, tuple[str, ...]] | None]:
    """``--schedule-scope``: (own_scope, scope). ``own`` or absent: each recipient's own."""
    from reports.schedules import parse_scope

    if text is None or text.strip() == "own":
        return True, None
    return False, parse_scope(text, "--schedule-scope")


def _summary(schedule: Schedule) -> str:
    """``Mondays at 08:00 (America/Denver), 2 recipients; next 2026-12-07 08:00 MST``."""
    when, next_text = _when(schedule)
    count = len(schedule.recipients)
    head = f"{when}, {count} recipient{'' if count == 1 else 's'}"
    return f"{head}; paused" if schedule.paused else f"{head}; next {next_text}"


def _when(schedule: Schedule) -> tuple[str, str | None]:
    """The schedule's cron read as English, and its next slot in its zone (``None`` paused)."""
    from reports.cron import Cron, CronError
    from reports.schedules import local_text, next_slot

    try:
        when = Cron.parse(schedule.cron, schedule.timezone).describe()
        at = next_slot(schedule)
    except CronError as exc:
        return f"{schedule.cron} ({exc})", None
    return when, None if at is None else local_text(at, schedule.timezone)


# -- list and show ---------------------------------------------------------------------------


@schedule_app.command("list")
def schedule_list(project: ProjectOption = Path("."), fmt: FormatOption = Format.table) -> None:
    """List the mail-outs: their reports, how many recipients, when (in English and the next
    slot in the schedule's zone), the format, whether paused, and how the last slot went.

    Example: `kpiboard schedule list -p demo --format json`
    """
    from reports.schedules import list_schedules, slot_log

    settings = load_settings(project)
    rows: list[dict[str, Any]] = []
    for schedule in list_schedules(settings):
        when, next_text = _when(schedule)
        last = slot_log(settings, schedule.name, limit=1)
        rows.append(
            {
                "name": schedule.name,
                "reports": [item.text() for item in schedule.items],
                "recipients": len(schedule.recipients),
                "when": when,
                "cron": schedule.cron,
                "timezone": schedule.timezone,
                "next": next_text,
                "format": schedule.format,
                "paused": schedule.paused,
                "last_slot": last[0]["slot"] if last else None,
                "last_status": last[0]["status"] if last else None,
            }
        )
    if fmt is Format.json:
        emit(rows, fmt)
        return
    if fmt is Format.csv:
        emit([{**r, "reports": "; ".join(r["reports"])} for r in rows], fmt)
        return
    if not rows:
        out.print("No schedules yet: kpiboard schedule add --help shows how.", markup=False)
        return
    cells = [
        {
            "name": r["name"],
            "reports": ", ".join(r["reports"]),
            "to": str(r["recipients"]),
            "when": r["when"],
            "next": "paused" if r["paused"] else r["next"] or "",
            "format": r["format"],
            "last": f"{r['last_status']} {r['last_slot']}" if r["last_slot"] else "",
        }
        for r in rows
    ]
    print_fitted(
        cells,
        list(cells[0]),
        {"to": NUMBER, "next": PERIOD, "format": PERIOD},
        title=f"{len(rows)} schedule{'' if len(rows) == 1 else 's'}",
    )


@schedule_app.command("show")
def schedule_show(
    name: NameArgument, project: ProjectOption = Path("."), fmt: FormatOption = Format.table
) -> None:
    """Show everything of one mail-out: its reports with their parameters, each recipient with
    the address and the data they get, when it is sent and its next slots in its zone, and how
    its last slot went.

    Example: `kpiboard schedule show monday-sales -p demo`
    """
    from reports import schedules

    settings = load_settings(project)
    schedule = schedules.get(settings, name)
    when, _ = _when(schedule)
    last = schedules.slot_log(settings, name, limit=1)
    shown: dict[str, Any] = {
        **schedules.describe(schedule),
        "reports": [{"report": i.report, "params": dict(i.params)} for i in schedule.items],
        "when": when,
        "recipients": _recipient_rows(settings, schedule),
        "next_slots": _next_slots(schedule, NEXT_SHOWN),
        "last_slot": last[0]["slot"] if last else None,
        "last_status": last[0]["status"] if last else None,
        "created_at": schedule.created_at,
        "created_by": schedule.created_by,
        "updated_at": schedule.updated_at,
    }
    del shown["to"]
    if fmt is Format.json:
        emit([shown], fmt)
        return
    pairs = _show_pairs(shown)
    if fmt is Format.csv:
        fields = [k for k, _ in pairs]
        for i in range(1, len(fields)):
            fields[i] = fields[i] or fields[i - 1]  # a list's lines each name their field
        emit([{"field": f, "value": v} for f, (_, v) in zip(fields, pairs, strict=True)], fmt)
        return
    width = max(len(k) for k, _ in pairs) + 2
    for key, value in pairs:
        label = f"{key}:" if key else ""
        out.print(f"{label:<{width}}{value}", markup=False, highlight=False)


def _show_pairs(shown: dict[str, Any]) -> list[tuple[str, str]]:
    """``schedule show`` as (field, text) lines: lists joined, recipients one per line."""
    reports = [
        f"{r['report']} {' '.join(f'{k}={v}' for k, v in r['params'].items())}".strip()
        for r in shown["reports"]
    ]
    recipients = [
        (
            f"{r['recipient']} <{r['address'] or 'no address'}>"
            if r["kind"] == "user"
            else r["address"]
        )
        + f" gets {r['scope']}"
        + (f" ({r['problem']})" if r["problem"] else "")
        for r in shown["recipients"]
    ]
    last = f"{shown['last_status']} {shown['last_slot']}" if shown["last_slot"] else "none yet"
    lines = [
        ("name", shown["name"]),
        ("when", f"{shown['when']}  [{shown['cron']}]"),
        ("paused", "yes" if shown["paused"] else "no"),
        ("format", shown["format"]),
        ("scope", shown["scope"]),
        ("owner", shown["owner"] or "none ([scheduler] notify is told of failures)"),
        *(("report" if i == 0 else "", text) for i, text in enumerate(reports)),
        *(("to" if i == 0 else "", text) for i, text in enumerate(recipients)),
        *(("next" if i == 0 else "", text) for i, text in enumerate(shown["next_slots"])),
        ("last slot", last),
        ("created", f"{_minute(shown['created_at'])} UTC by {shown['created_by']}"),
        ("changed", f"{_minute(shown['updated_at'])} UTC"),
    ]
    if not shown["next_slots"]:
        lines.insert(lines.index(("last slot", last)), ("next", "none while paused"))
    return lines


def _minute(at: dt.datetime | None) -> str:
    return "" if at is None else at.strftime("%Y-%m-%d %H:%M")


def _recipient_rows(settings: Settings, schedule: Schedule) -> list[dict[str, Any]]:
    """Each recipient as the schedule will send to them: address, the data they get, and
    what stops a mail to them now (a disabled user, one without an address)."""
    from kpiboard.access import AccessError, get_user
    from reports.schedules import scope_text, user_scope

    rows = []
    for recipient in schedule.recipients:
        address, problem, scope = recipient.address, "", recipient.scope
        if recipient.user:
            try:
                user = get_user(settings, recipient.user)
            except AccessError:
                user, problem = None, "no such user"
            if user is not None:
                address, scope = user.email, user_scope(user)
                problem = "disabled" if user.disabled else "" if address else "no email address"
        if not schedule.own_scope:
            scope = schedule.scope
        rows.append(
            {
                "recipient": recipient.text(),
                "kind": "user" if recipient.user else "address",
                "address": address,
                "scope": scope_text(scope) if (scope is not None or recipient.user) else "none",
                "problem": problem or None,
            }
        )
    return rows


def _next_slots(schedule: Schedule, count: int) -> list[str]:
    """The schedule's next ``count`` slots in its zone's wall time (none while paused)."""
    from reports.cron import Cron, CronError
    from reports.schedules import local_text, now

    if schedule.paused:
        return []
    try:
        cron = Cron.parse(schedule.cron, schedule.timezone)
    except CronError:
        return []
    at = now().replace(tzinfo=dt.UTC)
    found = []
    for _ in range(count):
        at = cron.next(at)
        found.append(local_text(at, schedule.timezone))
    return found


# -- edit ------------------------------------------------------------------------------------


@schedule_app.command("edit", cls=_InOrder)
def schedule_edit(
    ctx: typer.Context,
    name: NameArgument,
    new_name: Annotated[
        str | None, typer.Option("--name", help="A new name for it.", show_default=False)
    ] = None,
    reports: ReportOption = None,
    params: ParamOption = None,
    to: ToOption = None,
    add_to: Annotated[
        list[str] | None,
        typer.Option("--add-to", help="Add a recipient (repeatable).", show_default=False),
    ] = None,
    remove_to: Annotated[
        list[str] | None,
        typer.Option("--remove-to", help="Remove a recipient (repeatable).", show_default=False),
    ] = None,
    cron: CronOption = None,
    timezone: TzOption = None,
    mail_format: Annotated[
        MailFormat | None, typer.Option("--format", help="pdf, xlsx or html.", show_default=False)
    ] = None,
    schedule_scope: ScheduleScopeOption = None,
    owner: OwnerOption = None,
    project: ProjectOption = Path("."),
) -> None:
    """Change a mail-out: only what is given changes, and the whole is checked again before
    it is saved. --report replaces the reports (with the --param given after each); --param
    alone changes a parameter of the reports kept (REPORT.name=value when there are several;
    name= with no value drops it). --to replaces the recipients; --add-to and --remove-to
    change them one by one. --schedule-scope own gives each recipient their own data again.

    Example: `kpiboard schedule edit monday-sales --cron "30 7 * * MON" --add-to
    ops@acme.com:branch=denver -p demo`

    Example: `kpiboard schedule edit pack --param sales_breakdown.group_by=manager -p demo`
    """
    from kpiboard.audit import cli_user
    from reports import schedules

    settings = load_settings(project)
    before = schedules.get(settings, name)
    changes: dict[str, Any] = {}
    if reports:
        changes["items"] = tuple(items_given(reports, params or [], ctx.meta.get(ORDER, [])))
    elif params:
        changes["items"] = _items_changed(before.items, params)
    recipients = _recipients_changed(before.recipients, to, add_to, remove_to)
    if recipients is not None:
        changes["recipients"] = recipients
    for field, value in (
        ("name", new_name),
        ("cron", cron),
        ("timezone", timezone),
        ("format", mail_format.value if mail_format else None),
        ("owner", owner),
    ):
        if value is not None:
            changes[field] = value
    if schedule_scope is not None:
        changes["own_scope"], changes["scope"] = _schedule_scope(schedule_scope)
    if not changes:
        raise UserError(
            "give what to change: --report, --param, --to, --add-to, --remove-to, --cron, --tz, "
            f"--format, --schedule-scope, --owner or --name (kpiboard schedule edit {name} "
            '--cron "0 7 * * MON")'
        )
    after = schedules.update(settings, name, changes, by=cli_user(), runner=runner(settings))
    old, new = schedules.describe(before), schedules.describe(after)
    changed = [key for key in new if old[key] != new[key]]
    if not changed:
        out.print(f"{after.name}: nothing changed", markup=False)
        return
    out.print(f"Changed {after.name} ({', '.join(changed)}): {_summary(after)}", markup=False)


def _items_changed(items: Sequence[Item], params: Sequence[str]) -> tuple[Item, ...]:
    """The schedule's reports with ``--param`` pairs applied: set, or dropped when empty."""
    from reports.schedules import Item, ScheduleError

    reports = [item.report for item in items]
    changed = [dict(item.params) for item in items]
    for pair in params:
        key, value, named = _split_pair(pair, reports)
        if named is None and len(items) != 1:
            raise ScheduleError(
                f"--param {_short(pair)}: the schedule has {len(items)} reports; name the one "
                f"it is for: --param {reports[0]}.{key}={value}"
            )
        index = reports.index(named) if named is not None else 0
        if value:
            changed[index][key] = value
        else:
            changed[index].pop(key, None)
    return tuple(Item(item.report, p) for item, p in zip(items, changed, strict=True))


def _recipients_changed(
    before: Sequence[Recipient],
    to: Sequence[str] | None,
    add_to: Sequence[str] | None,
    remove_to: Sequence[str] | None,
) -> tuple[Recipient, ...] | None:
    """The recipients after ``--to`` (replaces), ``--remove-to`` and ``--add-to``; ``None``
    when none of them was given."""
    from reports.schedules import ScheduleError

    if to is None and add_to is None and remove_to is None:
        return None
    recipients = [_recipient(t) for t in to] if to else list(before)
    for text in remove_to or []:
        gone = _recipient(text).key
        if not any(r.key == gone for r in recipients):
            listed = ", ".join(r.text() for r in recipients) or "none"
            raise ScheduleError(f"--remove-to {_short(text)}: not a recipient (they are: {listed})")
        recipients = [r for r in recipients if r.key != gone]
    for text in add_to or []:
        added = _recipient(text)
        if any(r.key == added.key for r in recipients):
            raise ScheduleError(f"--add-to {_short(text)}: a recipient already")
        recipients.append(added)
    return tuple(recipients)


# -- pause, resume, remove -------------------------------------------------------------------


@schedule_app.command("pause")
def schedule_pause(name: NameArgument, project: ProjectOption = Path(".")) -> None:
    """Pause a mail-out: no slot opens until it is resumed (nothing is deleted).

    Example: `kpiboard schedule pause monday-sales -p demo`
    """
    _set_paused(load_settings(project), name, paused=True)


@schedule_app.command("resume")
def schedule_resume(name: NameArgument, project: ProjectOption = Path(".")) -> None:
    """Resume a paused mail-out from now: the slots it passed while paused are not sent.

    Example: `kpiboard schedule resume monday-sales -p demo`
    """
    _set_paused(load_settings(project), name, paused=False)


def _set_paused(settings: Settings, name: str, *, paused: bool) -> None:
    from kpiboard.audit import cli_user
    from reports import schedules

    state = "paused" if paused else "active"
    if schedules.get(settings, name).paused == paused:
        out.print(f"{name} is {state} already", markup=False)
        return
    after = schedules.set_paused(settings, name, paused, by=cli_user())
    done = "paused" if paused else f"resumed: {_summary(after)}"
    out.print(f"{name} {done}", markup=False)


@schedule_app.command("remove")
def schedule_remove(
    name: NameArgument,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask first.")] = False,
    project: ProjectOption = Path("."),
) -> None:
    """Remove a mail-out (asked first, unless --yes). Its delivery log stays.

    Example: `kpiboard schedule remove monday-sales --yes -p demo`
    """
    from kpiboard.audit import cli_user
    from reports import schedules

    settings = load_settings(project)
    schedule = schedules.get(settings, name)
    if not yes and not typer.confirm(f"Remove the mail-out {name} ({_summary(schedule)})?"):
        out.print("Nothing removed", markup=False)
        raise typer.Exit(1)
    schedules.remove(settings, name, by=cli_user())
    out.print(f"Removed {name}", markup=False)


# -- sending ---------------------------------------------------------------------------------


@schedule_app.command("run-now")
def schedule_run_now(name: NameArgument, project: ProjectOption = Path(".")) -> None:
    """Send a mail-out now, whatever its cron says, through [smtp]: one line per recipient,
    then the slot's outcome. Exits with 4 when a mail failed (a passing failure is retried by
    `kpiboard scheduler`).

    Example: `kpiboard schedule run-now monday-sales -p demo`
    """
    from kpiboard.audit import cli_user
    from reports.delivery import Deliverer, run_now

    settings = load_settings(project)
    with Deliverer(settings, runner=runner(settings)) as deliverer:
        outcome = run_now(settings, name, by=cli_user(), deliverer=deliverer)
    _print_outcome(settings, name, outcome)


def _print_outcome(settings: Settings, name: str, outcome: SlotOutcome) -> None:
    """Each recipient's line of the slot, the slot's line; exit 4 when one failed."""
    from reports.schedules import history

    rows = [r for r in history(settings, name, limit=10_000) if r["slot_at"] == outcome.slot_at]
    for row in rows:
        out.print(_delivery_line(row), markup=False, highlight=False)
    out.print(outcome.line(), markup=False, highlight=False)
    if any(row["status"] in BAD_STATUSES for row in rows) or outcome.status == "failed":
        raise typer.Exit(4)


def _delivery_line(row: dict[str, Any]) -> str:
    """``dana <dana@acme.com>: sent`` / ``cfo@acme.com: retry (attempt 1): …``."""
    who = row["recipient"]
    if row["address"] and row["address"] != who:
        who += f" <{row['address']}>"
    status = row["status"]
    if status == "retry":
        status += f" (attempt {row['attempts']}"
        if row.get("next_attempt_at"):
            status += f", next at {_minute(row['next_attempt_at'])} UTC"
        status += ")"
    return f"{who}: {status}" + (f": {row['error']}" if row["error"] else "")


@schedule_app.command("resend")
def schedule_resend(
    name: NameArgument,
    to: Annotated[
        str | None,
        typer.Option(
            "--to", help="Only this recipient (a user name or an address).", show_default=False
        ),
    ] = None,
    slot: Annotated[
        str | None,
        typer.Option(
            "--slot",
            help='Only this slot: "YYYY-MM-DD HH:MM" in the schedule\'s zone, as history shows it.',
            show_default=False,
        ),
    ] = None,
    project: ProjectOption = Path("."),
) -> None:
    """Send again the deliveries of a mail-out that failed, or whose fate is unknown (the
    scheduler stopped while the mail server was receiving them: check with the recipient
    first that it did not arrive). Sent now, through [smtp].

    Example: `kpiboard schedule resend monday-sales --to dana --slot "2026-12-07 08:00" -p demo`
    """
    from reports import schedules
    from reports.delivery import Deliverer, resend

    settings = load_settings(project)
    schedule = schedules.get(settings, name)
    slot_utc = _slot_utc(slot, schedule.timezone) if slot else None
    waiting = [
        row
        for row in schedules.history(settings, name, limit=100_000)
        if row["status"] in ("failed", "unknown")
        and (to is None or row["recipient"] == to)
        and (slot_utc is None or row["slot_at"].strftime("%Y-%m-%d %H:%M") == slot_utc)
    ]
    if resend(settings, name, recipient=to, slot=slot_utc) == 0:
        narrowed = (f" to {to}" if to else "") + (f" of the slot {slot}" if slot else "")
        out.print(f"Nothing to resend: no failed or unknown delivery of {name}{narrowed}")
        return
    with Deliverer(settings, runner=runner(settings)) as deliverer:
        for slot_at in sorted({row["slot_at"] for row in waiting}):
            assert schedule.schedule_id is not None
            outcome = deliverer.deliver(schedule.schedule_id, slot_at)
            keys = {row["recipient"] for row in waiting if row["slot_at"] == slot_at}
            rows = [
                r
                for r in schedules.history(settings, name, limit=100_000)
                if r["slot_at"] == slot_at and r["recipient"] in keys
            ]
            for row in rows:
                out.print(f"{row['slot']}: {_delivery_line(row)}", markup=False, highlight=False)
            if any(row["status"] in BAD_STATUSES for row in rows) or outcome.status == "failed":
                raise typer.Exit(4)


def _slot_utc(text: str, timezone: str) -> str:
    """``--slot`` (the schedule's wall time) as the UTC minute the delivery log keys on."""
    from zoneinfo import ZoneInfo

    from reports.schedules import ScheduleError

    try:
        wall = dt.datetime.strptime(text.strip(), "%Y-%m-%d %H:%M")
    except ValueError:
        raise ScheduleError(
            f"--slot {_short(text)}: write it as YYYY-MM-DD HH:MM in the schedule's zone "
            f"({timezone}), as `kpiboard schedule history` shows it"
        ) from None
    at = wall.replace(tzinfo=ZoneInfo(timezone)).astimezone(dt.UTC)
    return at.strftime("%Y-%m-%d %H:%M")


@schedule_app.command("history")
def schedule_history(
    name: Annotated[
        str | None, typer.Argument(help="Only this schedule.", show_default=False)
    ] = None,
    limit: LimitOption = 50,
    project: ProjectOption = Path("."),
    fmt: FormatOption = Format.table,
) -> None:
    """The delivery log, newest slot first: one row per recipient of each slot — when (the
    schedule's zone), to whom, the status (sent, retry, failed, unknown …), attempts, whether
    late, when sent, and the error.

    Example: `kpiboard schedule history monday-sales -p demo --limit 20`
    """
    from reports.schedules import history

    settings = load_settings(project)
    found = history(settings, name, limit=limit)
    columns = [
        "schedule",
        "slot",
        "recipient",
        "address",
        "status",
        "attempts",
        "late",
        "sent_at",
        "error",
    ]
    if fmt is not Format.table:
        emit(found, fmt, columns=[*columns, "manual", "slot_at", "message_id"])
        return
    if not found:
        out.print("No deliveries yet" + (f" of {name}" if name else ""), markup=False)
        return
    cells = [
        {
            **{k: "" if row[k] is None else str(row[k]) for k in columns},
            "late": "late" if row["late"] else "",
            "sent_at": _minute(row["sent_at"]),
            "slot": row["slot"] + (" (run now)" if row["manual"] else ""),
        }
        for row in found
    ]
    more = f" (the newest {limit}: --limit)" if len(found) == limit else ""
    print_fitted(
        cells,
        columns,
        {"slot": PERIOD, "attempts": NUMBER, "sent_at": PERIOD, "status": PERIOD},
        title=f"{len(found)} deliver{'y' if len(found) == 1 else 'ies'}, newest first{more}",
    )


# -- the scheduler ---------------------------------------------------------------------------


@app.command("scheduler")
def scheduler(
    once: Annotated[
        bool,
        typer.Option(
            "--once",
            help="Run one tick and exit: 0, or 4 when a delivery failed or became unknown.",
        ),
    ] = False,
    project: ProjectOption = Path("."),
) -> None:
    """Send the mail-outs on time: every [scheduler] tick_seconds open the slots that came due,
    send them, retry passing failures, and check the KPI alerts on a new snapshot. Logs one
    line per event to standard error. Stops cleanly on SIGTERM or Ctrl-C; another scheduler
    on the same app database never sends a mail twice.

    Example: `kpiboard scheduler -p demo`

    Example: `kpiboard scheduler --once -p demo` (from cron, or to try a schedule)
    """
    from reports.scheduler import Scheduler
    from reports.schedules import list_schedules

    settings = load_settings(project)
    _log_to_stderr()
    found = list_schedules(settings)
    paused = sum(1 for s in found if s.paused)
    smtp = settings.smtp
    security = " (STARTTLS)" if smtp.starttls else " (SSL)" if smtp.ssl else ""
    login = f" as {smtp.username}" if smtp.username else ""
    log.info(
        "scheduler: SMTP %s:%d%s%s, from %s; %d schedule%s (%d paused); a tick every %gs",
        smtp.host,
        smtp.port,
        security,
        login,
        smtp.from_address,
        len(found),
        "" if len(found) == 1 else "s",
        paused,
        settings.scheduler.tick_seconds,
    )
    deliverer = _logging_deliverer(settings)
    runner = Scheduler(settings, deliverer=deliverer)
    if not once:
        runner.run_forever()
        return
    try:
        report = runner.tick()
    finally:
        deliverer.close()
    for key in report.unknown:
        log.warning("delivery %s: unknown (a scheduler stopped while sending it)", key[:16])
    for error in report.errors:
        log.error("%s", error)
    bad = getattr(deliverer, "bad", 0) + len(report.unknown) + len(report.errors)
    log.info(
        "scheduler: one tick: %d slot%s opened, %d delivered%s",
        len(report.opened),
        "" if len(report.opened) == 1 else "s",
        len(report.outcomes),
        f", {bad} failed or unknown" if bad else "",
    )
    if bad:
        raise typer.Exit(4)


def _log_to_stderr() -> None:
    """kpiboard's log lines to standard error, each with its UTC time; APScheduler's only
    when they warn."""
    handler = logging.StreamHandler(sys.stderr)
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%SZ")
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    for name, level in (("kpiboard", logging.INFO), ("apscheduler", logging.WARNING)):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = False


def _logging_deliverer(settings: Settings) -> Deliverer:
    """A :class:`~reports.delivery.Deliverer` that logs each slot it opens and each recipient
    whose delivery it moved, and counts the deliveries that failed or became unknown
    (``.bad``)."""
    from reports.delivery import Deliverer
    from reports.schedules import local_text

    class LoggingDeliverer(Deliverer):
        bad = 0

        def open_slot(self, schedule: Schedule, slot_at: dt.datetime, **kind: Any) -> bool:
            opened = super().open_slot(schedule, slot_at, **kind)
            if opened and kind.get("status", "open") == "open":
                late = " (late)" if kind.get("late") else ""
                when = local_text(_naive(slot_at), schedule.timezone)
                log.info("%s: slot %s opened%s", schedule.name, when, late)
            return opened

        def deliver(self, schedule_id: int, slot_at: dt.datetime) -> SlotOutcome:
            before = _delivery_states(self, schedule_id, slot_at)
            outcome = super().deliver(schedule_id, slot_at)
            for key, row in _delivery_states(self, schedule_id, slot_at).items():
                if before.get(key) == row:
                    continue
                line = f"{outcome.schedule}: {_delivery_line(row)}"
                if row["status"] in BAD_STATUSES:
                    self.bad += 1
                    log.warning("%s", line)
                else:
                    log.info("%s", line)
            return outcome

    return LoggingDeliverer(settings, runner=runner(settings))


def _delivery_states(
    deliverer: Deliverer, schedule_id: int, slot_at: dt.datetime
) -> dict[str, dict[str, Any]]:
    """The delivery rows of one slot by key: recipient, address, status, attempts, error."""
    import sqlalchemy as sa

    from kpiboard import appdb

    d = appdb.deliveries
    query = sa.select(
        d.c.delivery_key,
        d.c.recipient,
        d.c.address,
        d.c.status,
        d.c.attempts,
        d.c.error,
        d.c.next_attempt_at,
    ).where(d.c.schedule_id == schedule_id, d.c.slot_at == _naive(slot_at))
    with deliverer.db.connect() as db:
        rows = [dict(r._mapping) for r in db.execute(query)]
    return {
        row.pop("delivery_key"): {**row, "recipient": row["recipient"].split(":", 1)[1]}
        for row in rows
    }


def _naive(at: dt.datetime) -> dt.datetime:
    return at.astimezone(dt.UTC).replace(tzinfo=None) if at.tzinfo else at
