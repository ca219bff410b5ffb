"""The demo's users: one per role, so that each way of seeing the company can be tried.

==============  ===========  ==================================================================
admin           admin        everything; manages users, reads the audit log
executive       executive    all data, read only
analyst         analyst      all data; edits KPIs, plans, reports and schedules
denver-head     branch_head  the Denver branch (linked to its head in ``core.dim_branch``)
denver-sales    employee     one Denver sales manager: the first active one by employee id
==============  ===========  ==================================================================

Their passwords are made at random and kept in ``<project>/demo-logins.txt`` (readable by its
owner only). A demo built again over the same folder keeps its users and their passwords: a
user already there is left as it is (its grants put back if they were changed), a user missing
from the app database is added again with the password the file holds for it, and a user
whose password the file does not hold (the file was deleted) keeps the password it has — the
file then says to set one with ``kpiboard user passwd``.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from kpiboard import access, appdb, audit
from kpiboard.config import Settings
from kpiboard.errors import UserError

LOGINS_FILE = "demo-logins.txt"
BRANCH = "denver"
MAIL_DOMAIN = "demo.kpiboard.example"
"""The demo users' addresses: ``<name>@demo.kpiboard.example`` (a reserved name: no mail leaves)."""
"""The demo's branch whose head and sales manager get a user (else the first branch by id)."""


@dataclass(frozen=True)
class DemoUser:
    """A demo user as it should be: name, role, employee row and branches."""

    name: str
    role: str
    employee: str | None = None
    branches: tuple[str, ...] = ()
    about: str = ""


@dataclass(frozen=True)
class DemoLogin:
    """A demo user after :func:`create_demo_users`: ``password`` is ``None`` when it is not known
    (the user was there and the logins file does not hold its password)."""

    user: DemoUser
    password: str | None
    added: bool
    regranted: bool = False


def plan_demo_users(settings: Settings) -> list[DemoUser]:
    """The demo's users, their employee rows and branch read from the published warehouse."""
    warehouse = settings.open_warehouse()
    con = warehouse.connect()
    try:
        branches = con.execute(
            "SELECT branch_id, name, head_id FROM core.dim_branch ORDER BY branch_id"
        ).fetchall()
        if not branches:
            raise UserError(f"{settings.warehouse_path}: core.dim_branch is empty: no demo users")
        branch, label, head = next((b for b in branches if b[0] == BRANCH), branches[0])
        seller = con.execute(
            "SELECT employee_id, full_name FROM core.dim_employee "
            "WHERE branch_id = ? AND role = 'sales_manager' AND is_active AND left_on IS NULL "
            "ORDER BY employee_id LIMIT 1",
            [branch],
        ).fetchone()
    finally:
        con.close()
    if seller is None:
        raise UserError(f"{settings.warehouse_path}: branch {branch!r} has no active sales manager")
    slug = access.check_name(branch.lower().replace("_", "-")[:50])
    return [
        DemoUser("admin", "admin", about="manages users; all data"),
        DemoUser("executive", "executive", about="all data, read only"),
        DemoUser("analyst", "analyst", about="all data; edits KPIs, plans and reports"),
        DemoUser(
            f"{slug}-head",
            "branch_head",
            employee=head,
            branches=(branch,),
            about=f"{label} only",
        ),
        DemoUser(
            f"{slug}-sales",
            "employee",
            employee=seller[0],
            about=f"own rows only: {seller[1]}, sales manager in {label}",
        ),
    ]


def read_logins(path: Path) -> dict[str, str]:
    """The passwords ``path`` holds: ``name password`` lines (``#`` starts a comment)."""
    if not path.exists():
        return {}
    found = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) == 2 and not line.lstrip().startswith("#"):
            found[parts[0]] = parts[1]
    return found


def write_logins(path: Path, logins: list[DemoLogin], login_url: str) -> None:
    """Write the demo's passwords to ``path``, readable and writable by its owner only (the
    file is created so, never readable by others for a moment, and replaced atomically)."""
    lines = [
        "# The demo's users and their passwords: user name, password (one a line).",
        f"# Log in at {login_url}. Keep this file private.",
    ]
    for login in logins:
        if login.password is None:
            lines.append(
                f"# {login.user.name}: password unknown; kpiboard user passwd {login.user.name}"
            )
        else:
            lines.append(f"{login.user.name} {login.password}")
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.unlink(missing_ok=True)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    os.chmod(temporary, 0o600)  # whatever the umask
    os.replace(temporary, path)


def create_demo_users(settings: Settings, login_url: str) -> list[DemoLogin]:
    """Make sure each of the demo's users exists with its grants, and write the logins file;
    the users, with their passwords where known. Every change is recorded in the audit log."""
    path = settings.project_dir / LOGINS_FILE
    known = read_logins(path)
    present = {u.name: u for u in access.list_users(settings)}
    logins = []
    for wanted in plan_demo_users(settings):
        user = present.get(wanted.name)
        if user is None:
            password = known.get(wanted.name)
            if password is None or not _fits(settings, wanted.name, password):
                password = secrets.token_urlsafe(12)
            access.add_user(
                settings,
                wanted.name,
                wanted.role,
                password,
                employee=wanted.employee,
                branches=wanted.branches,
                email=f"{wanted.name}@{MAIL_DOMAIN}",
            )
            _record(settings, "user_added", wanted.name, _grants_of(wanted))
            logins.append(DemoLogin(wanted, password, added=True))
            continue
        password = known.get(wanted.name)
        if password is not None and not _matches(settings, wanted.name, password):
            password = None  # changed since the demo set it
        regranted = _regrant(settings, user, wanted)
        if not user.email:
            access.set_email(settings, user.name, f"{wanted.name}@{MAIL_DOMAIN}")
        logins.append(DemoLogin(wanted, password, added=False, regranted=regranted))
    write_logins(path, logins, login_url)
    return logins


DEMO_SCHEDULE = "monday-sales"


def create_demo_schedule(settings: Settings, logins: list[DemoLogin]) -> str | None:
    """The demo's mail-out: last month's revenue against plan, every Monday at 08:00, to the
    executive and the branch head (each their own data). It is made paused — the demo has no
    mail server — and left as it is when it exists. Its name, or ``None`` when it could not
    be made."""
    from reports import schedules

    if any(s.name == DEMO_SCHEDULE for s in schedules.list_schedules(settings)):
        return DEMO_SCHEDULE
    heads = [login.user.name for login in logins if login.user.role == "branch_head"]
    schedule = schedules.Schedule(
        name=DEMO_SCHEDULE,
        items=(schedules.Item("sales_plan_vs_fact", {"period": "last_month"}),),
        recipients=tuple(schedules.Recipient(user=n) for n in ["executive", *heads[:1]]),
        cron="0 8 * * MON",
        timezone=settings.project.timezone,
        owner="analyst",
        paused=True,
    )
    try:
        schedules.add(settings, schedule, by=audit.cli_user())
    except UserError:
        return None
    return DEMO_SCHEDULE


def _grants_of(wanted: DemoUser) -> dict[str, object]:
    return {
        "role": wanted.role,
        "employee": wanted.employee,
        "branches": list(wanted.branches),
        "by": "kpiboard demo",
    }


def _record(settings: Settings, action: str, name: str, detail: Mapping[str, object]) -> None:
    audit.record(settings, action, user=audit.cli_user(), target=name, detail=detail)


def _regrant(settings: Settings, user: access.User, wanted: DemoUser) -> bool:
    """Put back a demo user's role, employee row and branches if they differ (the demo was built
    again with another seed, or the user was changed); whether they did."""
    before = {"role": user.role, "employee": user.employee_id, "branches": list(user.branches)}
    after = {
        "role": wanted.role,
        "employee": wanted.employee,
        "branches": sorted(wanted.branches),
    }
    changed = {k: {"from": before[k], "to": after[k]} for k in before if before[k] != after[k]}
    if not changed:
        return False
    access.grant(
        settings,
        user.name,
        role=wanted.role,
        employee=wanted.employee or "",
        branches=list(wanted.branches),
    )
    _record(settings, "user_granted", user.name, changed)
    return True


def _fits(settings: Settings, name: str, password: str) -> bool:
    try:
        access.check_password(settings, name, password)
    except access.AccessError:
        return False
    return True


_hasher = PasswordHasher()


def _matches(settings: Settings, name: str, password: str) -> bool:
    """Whether ``password`` is ``name``'s — checked without a login (no lockout counted, no
    audit entry): the demo only asks whether the password it wrote down still holds."""
    with appdb.shared_engine(settings).connect() as db:
        stored = db.execute(
            sa.select(appdb.users.c.password_hash).where(appdb.users.c.name == name)
        ).scalar_one()
    try:
        return bool(_hasher.verify(stored, password))
    except (VerificationError, InvalidHashError):
        return False
