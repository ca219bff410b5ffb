"""``kpiboard user``: the users who may log in to the dashboard — added, listed, given a new
password, disabled and enabled, granted a role, an employee row or branches — and ``kpiboard
audit``, the log of who did what.

Every change is recorded in the audit log as made by ``cli:<the operating system's user>``,
with what changed (never a password). An employee id and branches are checked against the
published warehouse (``core.dim_employee``, ``core.dim_branch``); before anything is published
the check is skipped, with a warning.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from kpiboard.cli.app import (
    FormatOption,
    ProjectOption,
    _group,
    app,
    console,
    load_settings,
    out,
)
from kpiboard.errors import UserError
from kpiboard.output import PERIOD, Format, emit, print_fitted

if TYPE_CHECKING:
    import duckdb

    from kpiboard.access import User
    from kpiboard.config import Settings

user_app = _group(
    "user",
    "Users of the dashboard: add them, list them, set passwords, grant roles and branches, "
    "disable them. Roles: admin, executive, analyst, branch_head, employee.",
    "kpiboard user add dana --role branch_head --branch denver -p demo",
    no_args_is_help=True,
)


# -- options -------------------------------------------------------------------------------


NameArgument = Annotated[str, typer.Argument(help="The user name.", show_default=False)]

EmployeeOption = Annotated[
    str | None,
    typer.Option(
        "--employee",
        help="The core.dim_employee row this user is (required for the employee role).",
        show_default=False,
    ),
]

BranchOption = Annotated[
    list[str] | None,
    typer.Option(
        "--branch",
        "-b",
        help="A branch a branch head sees (repeatable).",
        show_default=False,
    ),
]

PasswordStdinOption = Annotated[
    bool,
    typer.Option(
        "--password-stdin",
        help="Read the password as one line from standard input (for scripts) instead of "
        "asking for it twice.",
    ),
]


# -- the warehouse's employees and branches ---------------------------------------------------


@contextmanager
def _published(settings: Settings) -> Iterator[duckdb.DuckDBPyConnection | None]:
    """A read-only connection to the published snapshot, or ``None`` before the first run."""
    warehouse = settings.open_warehouse()
    if warehouse.published() is None:
        yield None
        return
    con = warehouse.connect()
    try:
        yield con
    finally:
        con.close()


def _check_in_warehouse(settings: Settings, employee: str | None, branches: Sequence[str]) -> None:
    """Refuse an employee id or a branch the published warehouse does not have; warn of an
    employee who has left; say so when there is no warehouse to check against."""
    if not employee and not branches:
        return
    from kpiboard.yamlnodes import did_you_mean

    with _published(settings) as con:
        if con is None:
            _warn(
                f"{settings.warehouse_path}: nothing published yet, so the employee id and "
                "branches were not checked (`kpiboard etl run` publishes)"
            )
            return
        if employee:
            found = con.execute(
                "SELECT full_name, is_active, left_on FROM core.dim_employee WHERE employee_id = ?",
                [employee],
            ).fetchone()
            if found is None:
                ids = [
                    r[0]
                    for r in con.execute("SELECT employee_id FROM core.dim_employee").fetchall()
                ]
                raise UserError(
                    f"no employee {employee[:70]!r} in the warehouse{did_you_mean(employee, ids)} "
                    '(kpiboard sql "select employee_id, full_name from core.dim_employee" '
                    "lists them)"
                )
            name, active, left = found
            if active is False or left is not None:
                _warn(f"employee {employee!r} ({name}) has left{f' on {left}' if left else ''}")
        known = [
            r[0] for r in con.execute("SELECT branch_id FROM core.dim_branch ORDER BY 1").fetchall()
        ]
        for branch in branches:
            if branch not in known:
                raise UserError(
                    f"no branch {branch[:70]!r} in the warehouse{did_you_mean(branch, known)} "
                    f"(branches: {', '.join(known)})"
                )


def _employee_names(settings: Settings, ids: Sequence[str]) -> dict[str, str]:
    """The full names of the employees ``ids`` that the published warehouse has."""
    if not ids:
        return {}
    with _published(settings) as con:
        if con is None:
            return {}
        found = con.execute(
            "SELECT employee_id, full_name FROM core.dim_employee "
            "WHERE employee_id IN (SELECT unnest(?))",
            [list(ids)],
        ).fetchall()
    return {str(i): str(n) for i, n in found if n is not None}


def _warn(message: str) -> None:
    console.print(f"[bold yellow]warning:[/] {escape(message)}", highlight=False)


# -- passwords -------------------------------------------------------------------------------


def _password(settings: Settings, name: str, from_stdin: bool) -> str:
    """The new password of ``name``: one line of standard input, or asked for twice (hidden);
    checked (:func:`kpiboard.access.check_password`) before it is asked again."""
    from kpiboard import access

    if from_stdin:
        line = sys.stdin.readline()
        password = line[:-1] if line.endswith("\n") else line
        password = password.removesuffix("\r")
        if not password:
            raise UserError("--password-stdin: standard input has no password (one line)")
        return access.check_password(settings, name, password)
    first = typer.prompt(f"Password for {name}", hide_input=True)
    access.check_password(settings, name, first)
    again = typer.prompt("The same password again", hide_input=True)
    if again != first:
        raise UserError("the two passwords differ: nothing changed")
    return str(first)


# -- commands --------------------------------------------------------------------------------


def _record(settings: Settings, action: str, name: str, detail: dict[str, Any]) -> None:
    from kpiboard import audit

    audit.record(settings, action, user=audit.cli_user(), target=name, detail=detail)


def _grants(user: User) -> str:
    """``analyst``, ``branch_head of austin, denver``, ``employee (employee crm_denver:1)``."""
    parts = [user.role]
    if user.branches:
        parts.append(f"of {', '.join(user.branches)}")
    if user.employee_id:
        parts.append(f"(employee {user.employee_id})")
    return " ".join(parts)


@user_app.command("add")
def user_add(
    name: NameArgument,
    role: Annotated[
        str,
        typer.Option(
            "--role",
            "-r",
            help="admin, executive, analyst, branch_head or employee.",
            show_default=False,
        ),
    ],
    employee: EmployeeOption = None,
    branches: BranchOption = None,
    email: Annotated[
        str | None,
        typer.Option("--email", help="Where their mail-outs and alerts go.", show_default=False),
    ] = None,
    password_stdin: PasswordStdinOption = False,
    project: ProjectOption = Path("."),
) -> None:
    """Add a user who may log in to the dashboard. A branch head needs at least one --branch,
    an employee their --employee id; both are checked against the published warehouse. The
    password is asked for twice (hidden), or read from standard input with --password-stdin.

    Example: `kpiboard user add dana --role branch_head --branch denver --email dana@acme.com
    -p demo`

    Example: `echo "$PASSWORD" | kpiboard user add ci-reader --role executive --password-stdin`
    """
    from kpiboard import access

    settings = load_settings(project)
    access.check_name(name)
    access.check_grants(role, employee, branches or [])
    if email is not None:
        email = access.check_email(email)
    if any(u.name == name for u in access.list_users(settings)):
        raise UserError(f"user {name!r} exists already (kpiboard user grant changes a user)")
    _check_in_warehouse(settings, employee, branches or [])
    password = _password(settings, name, password_stdin)
    user = access.add_user(
        settings, name, role, password, employee=employee, branches=branches or [], email=email
    )
    _record(
        settings,
        "user_added",
        name,
        {
            "role": user.role,
            "employee": user.employee_id,
            "branches": list(user.branches),
            "email": user.email,
        },
    )
    out.print(f"Added {name}: {_grants(user)}", markup=False)


@user_app.command("list")
def user_list(project: ProjectOption = Path("."), fmt: FormatOption = Format.table) -> None:
    """List the users: role, email address, branches, employee (with their name from the
    warehouse), whether disabled, when created and when their password last changed, their
    live sessions and last login.

    Example: `kpiboard user list -p demo --format json`
    """
    from kpiboard import access, audit

    settings = load_settings(project)
    users = access.list_users(settings)
    if not users and fmt is Format.table:
        out.print("No users yet: kpiboard user add NAME --role admin adds the first.", markup=False)
        return
    names = _employee_names(settings, sorted({u.employee_id for u in users if u.employee_id}))
    logins = audit.latest(settings, "login")
    rows = [
        {
            "name": u.name,
            "role": u.role,
            "email": u.email,
            "branches": list(u.branches),
            "employee_id": u.employee_id,
            "employee_name": names.get(u.employee_id or ""),
            "disabled": u.disabled,
            "created_at": u.created_at.replace(microsecond=0),
            "password_changed_at": u.password_changed_at.replace(microsecond=0),
            "live_sessions": access.live_sessions(settings, u.name),
            "last_login": logins[u.name].replace(microsecond=0) if u.name in logins else None,
        }
        for u in users
    ]
    if fmt is Format.json:
        emit(rows, fmt)
    elif fmt is Format.csv:
        emit(
            [{**r, "branches": " ".join(u.branches)} for r, u in zip(rows, users, strict=True)], fmt
        )
    else:
        emit(
            [_list_cells(r) for r in rows],
            fmt,
            title=f"{len(rows)} user{'' if len(rows) == 1 else 's'}",
        )


def _list_cells(row: dict[str, Any]) -> dict[str, Any]:
    """A row of ``user list`` as its table shows it: the employee's id and name in one cell,
    times to the minute."""
    employee = row["employee_id"] or ""
    if row["employee_name"]:
        employee += f" ({row['employee_name']})"
    return {
        "name": row["name"],
        "role": row["role"],
        "email": row["email"] or "",
        "branches": ", ".join(row["branches"]),
        "employee": employee,
        "disabled": "disabled" if row["disabled"] else "",
        "created": _minute(row["created_at"]),
        "password changed": _minute(row["password_changed_at"]),
        "sessions": row["live_sessions"],
        "last login": _minute(row["last_login"]),
    }


def _minute(at: dt.datetime | None) -> str:
    return "" if at is None else at.strftime("%Y-%m-%d %H:%M")


@user_app.command("passwd")
def user_passwd(
    name: NameArgument,
    password_stdin: PasswordStdinOption = False,
    project: ProjectOption = Path("."),
) -> None:
    """Set a user's password (asked for twice, or read from standard input); every session of
    theirs ends, and a lockout of their name is lifted.

    Example: `kpiboard user passwd dana -p demo`
    """
    from kpiboard import access

    settings = load_settings(project)
    access.get_user(settings, name)
    password = _password(settings, name, password_stdin)
    ended = access.live_sessions(settings, name)
    access.set_password(settings, name, password)
    _record(settings, "user_password", name, {"sessions_ended": ended})
    out.print(f"Password of {name} changed; {_sessions(ended)} ended", markup=False)


def _sessions(n: int) -> str:
    return f"{n} session{'' if n == 1 else 's'}"


@user_app.command("disable")
def user_disable(name: NameArgument, project: ProjectOption = Path(".")) -> None:
    """Disable a user: their sessions end and they can no longer log in (`user enable` undoes
    it; nothing of theirs is deleted).

    Example: `kpiboard user disable dana -p demo`
    """
    _set_disabled(load_settings(project), name, disabled=True)


@user_app.command("enable")
def user_enable(name: NameArgument, project: ProjectOption = Path(".")) -> None:
    """Enable a disabled user again, with the password they had.

    Example: `kpiboard user enable dana -p demo`
    """
    _set_disabled(load_settings(project), name, disabled=False)


def _set_disabled(settings: Settings, name: str, *, disabled: bool) -> None:
    from kpiboard import access

    user = access.get_user(settings, name)
    state = "disabled" if disabled else "enabled"
    if user.disabled == disabled:
        out.print(f"{name} is {state} already", markup=False)
        return
    ended = access.live_sessions(settings, name) if disabled else 0
    access.set_disabled(settings, name, disabled)
    detail = {"sessions_ended": ended} if disabled else {}
    _record(settings, f"user_{state}", name, detail)
    out.print(f"{name} {state}" + (f"; {_sessions(ended)} ended" if disabled else ""), markup=False)


@user_app.command("email")
def user_email(
    name: NameArgument,
    address: Annotated[
        str | None,
        typer.Argument(help="Their email address (cfo@acme.com).", show_default=False),
    ] = None,
    clear: Annotated[
        bool, typer.Option("--clear", help="Remove their address: they receive no mail.")
    ] = False,
    project: ProjectOption = Path("."),
) -> None:
    """Set where a user's mail-outs and alerts go, or --clear it (they then receive none, and
    a schedule naming them cannot be saved).

    Example: `kpiboard user email dana dana@acme.com -p demo`

    Example: `kpiboard user email dana --clear -p demo`
    """
    from kpiboard import access

    if (address is None) != clear:
        raise UserError(
            f"give an address or --clear, not both (kpiboard user email {name} dana@acme.com)"
            if clear
            else f"give the address (kpiboard user email {name} dana@acme.com) or --clear"
        )
    if address is not None:
        address = access.check_email(address)
    settings = load_settings(project)
    before = access.get_user(settings, name)
    if before.email == address:
        out.print(f"{name}: nothing changed ({_email(before.email)})", markup=False)
        return
    after = access.set_email(settings, name, address)
    _record(settings, "user_granted", name, {"email": {"from": before.email, "to": after.email}})
    out.print(f"{name}: {_email(before.email)} → {_email(after.email)}", markup=False)


def _email(address: str | None) -> str:
    return address or "no email address"


@user_app.command("grant")
def user_grant(
    name: NameArgument,
    role: Annotated[
        str | None,
        typer.Option(
            "--role",
            "-r",
            help="The new role: admin, executive, analyst, branch_head or employee.",
            show_default=False,
        ),
    ] = None,
    employee: EmployeeOption = None,
    no_employee: Annotated[
        bool,
        typer.Option("--no-employee", help="Unlink the user from their employee row."),
    ] = False,
    branches: Annotated[
        list[str] | None,
        typer.Option(
            "--branch",
            "-b",
            help="The branches a branch head sees (repeatable): they replace the ones granted.",
            show_default=False,
        ),
    ] = None,
    project: ProjectOption = Path("."),
) -> None:
    """Change a user's role, employee row or branches; what is not given stays. A role other
    than branch_head drops the branches. Their sessions see the new scope at their next
    request.

    Example: `kpiboard user grant dana --role branch_head --branch denver --branch austin -p demo`

    Example: `kpiboard user grant sam --role analyst --no-employee -p demo`
    """
    from kpiboard import access

    if role is None and employee is None and not no_employee and not branches:
        raise UserError(
            "give what to grant: --role, --employee, --no-employee or --branch "
            f"(kpiboard user grant {name} --role analyst)"
        )
    if employee is not None and no_employee:
        raise UserError("--employee and --no-employee contradict each other: give one")
    settings = load_settings(project)
    before = access.get_user(settings, name)
    _check_in_warehouse(settings, employee, branches or [])
    after = access.grant(
        settings,
        name,
        role=role,
        employee="" if no_employee else employee,
        branches=branches or None,
    )
    changed = {
        field: {"from": old, "to": new}
        for field, old, new in (
            ("role", before.role, after.role),
            ("employee", before.employee_id, after.employee_id),
            ("branches", list(before.branches), list(after.branches)),
        )
        if old != new
    }
    if not changed:
        out.print(f"{name}: nothing changed ({_grants(after)})", markup=False)
        return
    _record(settings, "user_granted", name, changed)
    out.print(f"{name}: {_grants(before)} → {_grants(after)}", markup=False)


# -- audit -----------------------------------------------------------------------------------


AGE = re.compile(r"^(\d{1,6})([dhm])$")
UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def parse_since(text: str, now: dt.datetime) -> dt.datetime:
    """``--since`` as a naive UTC time: an ISO date or time (UTC unless it names an offset) or
    an age before ``now`` (``7d``, ``24h``, ``30m``)."""
    age = AGE.match(text.strip())
    if age is not None:
        return now - dt.timedelta(**{UNITS[age.group(2)]: int(age.group(1))})
    try:
        at = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise UserError(
            f"--since {text[:40]!r}: give a date or time in UTC (2026-12-01, "
            "2026-12-01T09:30) or an age (7d, 24h, 30m)"
        ) from None
    if at.tzinfo is not None:
        at = at.astimezone(dt.UTC).replace(tzinfo=None)
    return at


@app.command("audit")
def audit_log(
    since: Annotated[
        str | None,
        typer.Option(
            help="Entries since a date or time in UTC (2026-12-01, 2026-12-01T09:30) or an "
            "age (7d, 24h, 30m).",
            show_default=False,
        ),
    ] = None,
    user: Annotated[
        str | None,
        typer.Option(
            help="Entries of this user (a dashboard user, or cli:<login> for the command line).",
            show_default=False,
        ),
    ] = None,
    action: Annotated[
        str | None,
        typer.Option(
            help="Entries of this action: login, download, user_added …", show_default=False
        ),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="At most N entries.", min=1)] = 100,
    project: ProjectOption = Path("."),
    fmt: FormatOption = Format.table,
) -> None:
    """The audit log, newest first: logins and failed logins, logouts, downloads and exports,
    report runs, KPI and plan changes, user changes — who, from which address, what, when (UTC).

    Example: `kpiboard audit -p demo --since 7d --action login_failed`

    Example: `kpiboard audit -p demo --user dana --format json`
    """
    from kpiboard import audit
    from kpiboard.access import now
    from kpiboard.yamlnodes import did_you_mean

    if action is not None and action not in audit.ACTIONS:
        raise UserError(
            f"--action {action[:40]!r}: no such action{did_you_mean(action, audit.ACTIONS)} "
            f"(actions: {', '.join(audit.ACTIONS)})"
        )
    start = parse_since(since, now()) if since is not None else None
    settings = load_settings(project)
    found = audit.entries(settings, since=start, user=user, action=action, limit=limit)
    columns = ["at", "user", "address", "action", "target", "detail"]
    rows = [
        {
            "at": e["at"],
            "user": e["user_name"],
            "address": e["address"],
            "action": e["action"],
            "target": e["target"],
            "detail": e["detail"],
        }
        for e in found
    ]
    if fmt is Format.json:
        emit(rows, fmt, columns=columns)
        return
    if fmt is Format.csv:
        emit([{**r, "detail": _json(r["detail"])} for r in rows], fmt, columns=columns)
        return
    if not rows:
        out.print("No audit entries" + (" match" if since or user or action else ""), markup=False)
        return
    cells = [
        {
            **{k: "" if v is None else str(v) for k, v in r.items()},
            "at": r["at"].strftime("%Y-%m-%d %H:%M:%S"),
            "detail": compact(r["detail"]),
        }
        for r in rows
    ]
    if not any(r["address"] for r in rows):
        columns.remove("address")
    more = f" (the newest {limit}: --limit)" if len(rows) == limit else ""
    print_fitted(
        cells,
        columns,
        {"at": PERIOD, "action": PERIOD},
        title=f"{len(rows)} {'entry' if len(rows) == 1 else 'entries'}, newest first{more}",
    )


def _json(detail: Any) -> str | None:
    if detail is None:
        return None
    return json.dumps(detail, ensure_ascii=False, default=str, separators=(",", ":"))


DETAIL_SHOWN = 160
"""The most of an entry's detail the table shows (``--format json`` has all of it)."""


def compact(detail: Any) -> str:
    """An entry's detail in one short line: ``key=value`` pairs, a text of several lines (a
    diff) as how many lines it has, the whole cut at :data:`DETAIL_SHOWN` characters."""
    if detail is None:
        return ""
    if not isinstance(detail, dict):
        text = str(detail)
    else:
        text = ", ".join(f"{k}={_value(v)}" for k, v in detail.items())
    return text if len(text) <= DETAIL_SHOWN else text[: DETAIL_SHOWN - 1] + "…"


def _value(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return f"({value.count(chr(10)) + 1} lines)" if "\n" in value else value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ",".join(value) or "[]"
    if isinstance(value, dict) and set(value) == {"from", "to"}:
        return f"{_value(value['from'])}→{_value(value['to'])}"
    return json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))
