"""The audit log: who did what, from where, when — in the app database.

Recorded: logins, failed logins and lockouts, logouts, exports and downloads, report runs
from the dashboard, changes to KPIs and plans (with a unified diff of the file), and changes to
users. Admins read it on the dashboard's Access page and with ``kpiboard audit``.

A change made on the command line is recorded as ``cli:<the operating system's user>``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import difflib
import getpass
import json
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from kpiboard import appdb
from kpiboard.config import Settings

ACTIONS = (
    "login",
    "login_failed",
    "logout",
    "download",
    "export",
    "report_run",
    "kpi_saved",
    "plan_saved",
    "user_added",
    "user_password",
    "user_disabled",
    "user_enabled",
    "user_granted",
    "access_refused",
    "alert_added",
    "alert_removed",
)
"""Every action the log records (the schedules of mail-outs add theirs)."""
TARGET_MAX = 400
DETAIL_MAX = 200_000


def record(
    settings: Settings,
    action: str,
    *,
    user: str | None,
    address: str | None = None,
    target: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Add one entry. ``detail`` is kept as JSON (cut at :data:`DETAIL_MAX` characters)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    text = json.dumps(detail, default=str, ensure_ascii=False) if detail else None
    if text is not None and len(text) > DETAIL_MAX:
        text = text[:DETAIL_MAX] + "…"
    with appdb.shared_engine(settings).begin() as db:
        db.execute(
            appdb.audit_log.insert().values(
                at=dt.datetime.now(dt.UTC).replace(tzinfo=None),
                user_name=(user or None) and user[:64],
                address=(address or None) and address[:64],
                action=action,
                target=(target or None) and target[:TARGET_MAX],
                detail=text,
            )
        )


def cli_user() -> str:
    """How a change made on the command line names who made it."""
    try:
        return f"cli:{getpass.getuser()}"[:64]
    except Exception:  # no login name (a container without a passwd entry)
        return "cli"


def entries(
    settings: Settings,
    *,
    since: dt.datetime | None = None,
    user: str | None = None,
    action: str | None = None,
    limit: int = 1000,
) -> list[dict[str, Any]]:
    """The newest ``limit`` entries (since ``since``, of ``user``, of ``action``), newest first;
    ``detail`` decoded."""
    t = appdb.audit_log
    query = sa.select(t).order_by(t.c.at.desc(), t.c.audit_id.desc()).limit(limit)
    if since is not None:
        query = query.where(t.c.at >= since)
    if user:
        query = query.where(t.c.user_name == user)
    if action:
        query = query.where(t.c.action == action)
    with appdb.shared_engine(settings).connect() as db:
        rows = [dict(r._mapping) for r in db.execute(query)]
    return [_decoded(row) for row in rows]


def entry(settings: Settings, audit_id: int) -> dict[str, Any] | None:
    """The entry ``audit_id``, ``detail`` decoded (a listing shows a summary, this the whole)."""
    t = appdb.audit_log
    with appdb.shared_engine(settings).connect() as db:
        row = db.execute(sa.select(t).where(t.c.audit_id == audit_id)).first()
    return None if row is None else _decoded(dict(row._mapping))


def _decoded(row: dict[str, Any]) -> dict[str, Any]:
    with contextlib.suppress(ValueError):  # cut at DETAIL_MAX: kept as text
        row["detail"] = json.loads(row["detail"]) if row["detail"] else None
    return row


def diff(before: str | None, after: str | None, name: str) -> str:
    """A unified diff of a definition file's text before and after a change."""
    lines = difflib.unified_diff(
        (before or "").splitlines(keepends=True),
        (after or "").splitlines(keepends=True),
        fromfile=f"a/{name}" if before is not None else "/dev/null",
        tofile=f"b/{name}",
    )
    return "".join(lines)


def latest(settings: Settings, action: str | None = None) -> dict[str, dt.datetime]:
    """The time of each user's newest entry (of ``action``): a user's last login, or everyone
    the log names (an entry without a user is left out)."""
    t = appdb.audit_log
    query = (
        sa.select(t.c.user_name, sa.func.max(t.c.at))
        .where(t.c.user_name.is_not(None))
        .group_by(t.c.user_name)
    )
    if action:
        query = query.where(t.c.action == action)
    with appdb.shared_engine(settings).connect() as db:
        return {str(name): at for name, at in db.execute(query)}
