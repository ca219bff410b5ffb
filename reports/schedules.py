"""Schedules of report mail-outs: what is sent, to whom, when — kept in the app database.

A schedule names one or more reports with their parameters as typed (``period=last_week``: a
relative period, resolved against the data's end when the mail goes out), its recipients, a
cron expression in an IANA time zone, and the format::

    schedules.add(settings, Schedule(
        name="monday-sales",
        items=(Item("sales_by_branch", {"period": "last_week"}),),
        recipients=(Recipient.parse("denver-head"), Recipient.parse("cfo@acme.com:all")),
        cron="0 8 * * MON", timezone="America/Denver",
    ), by="cli:ops")

Recipients are kpiboard users (their address and their scope come from the users table) or
plain addresses with a named scope (``ops@acme.com:branch=denver``, ``cfo@acme.com:all``).
By default (``own_scope``) each recipient gets the data of their own scope, so two branch heads
on one schedule get two different PDFs; a schedule may instead give everyone its own scope.

Every problem of a schedule is found by :func:`check` before it is saved, one line each: an
unknown report or parameter, a user without an address, an address without a scope, a
company-wide report for a recipient who sees one branch, a cron expression or zone that is
wrong. Sending is :mod:`reports.delivery`'s; the process that sends on time is
:mod:`reports.scheduler`'s.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from kpiboard import appdb, audit
from kpiboard.errors import UserError
from kpiboard.yamlnodes import did_you_mean

if TYPE_CHECKING:
    from kpiboard.access import User
    from kpiboard.config import Settings
    from reports.runner import Runner

FORMATS = ("pdf", "xlsx", "html")
"""``pdf`` and ``xlsx`` attach each report; ``html`` puts the headline numbers in the body only."""
SCOPE_KINDS = ("branch", "employee")
NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
PAGE_PREFIX = "page:"
"""An item ``page:/sales`` is a dashboard page printed to PDF rather than a report."""
PAGES = ("/", "/sales", "/clients", "/service", "/stock", "/employees")
"""The dashboard pages a schedule may print: the ones that show data under a scope."""

Scope = Mapping[str, tuple[str, ...]]


class ScheduleError(UserError):
    """A schedule that cannot be saved or found: one line, or one per problem."""


@dataclass(frozen=True)
class Item:
    """One report of a schedule and its parameters as typed (``{"period": "last_week"}``)."""

    report: str
    params: Mapping[str, str] = field(default_factory=dict)

    @property
    def page(self) -> str | None:
        """The dashboard page's path when the item prints a page (``page:/sales``)."""
        return self.report[len(PAGE_PREFIX) :] if self.report.startswith(PAGE_PREFIX) else None

    def text(self) -> str:
        given = " ".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.report} {given}".strip()


@dataclass(frozen=True)
class Recipient:
    """A kpiboard user, or a plain address with the scope it may see.

    ``scope`` of an address: ``None`` when none was named (it then gets the schedule's scope,
    and a schedule giving each recipient their own refuses it), ``{}`` for every row
    (``:all``), else the branches or employees named.
    """

    user: str | None = None
    address: str | None = None
    scope: Scope | None = None

    @property
    def key(self) -> str:
        return f"user:{self.user}" if self.user else f"address:{self.address}"

    @classmethod
    def parse(cls, text: str) -> Recipient:
        """``alice`` (a user), ``cfo@acme.com:all`` or ``ops@acme.com:branch=denver,austin``
        (an address and its scope), ``ops@acme.com`` (an address; the schedule's scope)."""
        from kpiboard.access import AccessError, check_email, check_name

        value = text.strip()
        if "@" not in value:
            try:
                return cls(user=check_name(value))
            except AccessError as exc:
                raise ScheduleError(f"recipient {_shown(value)}: {exc}") from None
        at = value.index("@")
        colon = value.find(":", at)
        address, scope_text = (value, None) if colon < 0 else (value[:colon], value[colon + 1 :])
        try:
            address = check_email(address)
        except AccessError as exc:
            raise ScheduleError(f"recipient {_shown(value)}: {exc}") from None
        if scope_text is None:
            return cls(address=address)
        return cls(address=address, scope=parse_scope(scope_text, f"recipient {_shown(value)}"))

    def text(self) -> str:
        """The inverse of :meth:`parse`."""
        if self.user:
            return self.user
        if self.scope is None:
            return str(self.address)
        return f"{self.address}:{scope_text(self.scope)}"


def parse_scope(text: str, where: str) -> dict[str, tuple[str, ...]]:
    """``all`` → ``{}`` (every row); ``branch=denver,austin`` → ``{"branch": ("denver",
    "austin")}``; ``employee=crm_denver:7``."""
    value = text.strip()
    if value == "all":
        return {}
    kind, sep, members = value.partition("=")
    kind = kind.strip()
    names = tuple(dict.fromkeys(m.strip() for m in members.split(",") if m.strip()))
    if not sep or kind not in SCOPE_KINDS or not names:
        raise ScheduleError(
            f"{where}: scope {_shown(value)} is not one of: all, branch=ID[,ID…], employee=ID[,ID…]"
        )
    return {kind: names}


def scope_text(scope: Scope | None) -> str:
    """``all`` or ``branch=denver,austin``: how a scope is written on the command line."""
    if not scope:
        return "all"
    return ";".join(f"{kind}={','.join(members)}" for kind, members in scope.items())


@dataclass(frozen=True)
class Schedule:
    """A mail-out: reports, recipients, when, and in what format."""

    name: str
    items: tuple[Item, ...]
    recipients: tuple[Recipient, ...]
    cron: str
    timezone: str
    format: str = "pdf"
    own_scope: bool = True
    """Each recipient gets the data of their own scope (else everyone gets :attr:`scope`)."""
    scope: Scope | None = None
    """The schedule's scope when not :attr:`own_scope`: ``None`` or ``{}`` for every row."""
    owner: str = ""
    """A user name or an address: where the schedule's failures are mailed."""
    paused: bool = False
    schedule_id: int | None = None
    created_at: dt.datetime | None = None
    created_by: str = ""
    updated_at: dt.datetime | None = None
    active_from: dt.datetime | None = None

    @property
    def title(self) -> str:
        return self.name


# -- the app database ------------------------------------------------------------------------


def _definition(schedule: Schedule) -> str:
    return json.dumps(
        {
            "items": [{"report": i.report, "params": dict(i.params)} for i in schedule.items],
            "recipients": [
                {"user": r.user}
                if r.user
                else {
                    "address": r.address,
                    "scope": None if r.scope is None else {k: list(v) for k, v in r.scope.items()},
                }
                for r in schedule.recipients
            ],
            "format": schedule.format,
            "own_scope": schedule.own_scope,
            "scope": None
            if schedule.scope is None
            else {k: list(v) for k, v in schedule.scope.items()},
        },
        ensure_ascii=False,
    )


def _scope_of(value: Any) -> Scope | None:
    if value is None:
        return None
    return {str(k): tuple(str(m) for m in v) for k, v in value.items()}


def _from_row(row: Any) -> Schedule:
    data = json.loads(row.definition)
    return Schedule(
        name=row.name,
        items=tuple(Item(i["report"], dict(i.get("params") or {})) for i in data["items"]),
        recipients=tuple(
            Recipient(user=r["user"])
            if r.get("user")
            else Recipient(address=r["address"], scope=_scope_of(r.get("scope")))
            for r in data["recipients"]
        ),
        cron=row.cron,
        timezone=row.timezone,
        format=data.get("format", "pdf"),
        own_scope=bool(data.get("own_scope", True)),
        scope=_scope_of(data.get("scope")),
        owner=row.owner,
        paused=bool(row.paused),
        schedule_id=row.schedule_id,
        created_at=row.created_at,
        created_by=row.created_by,
        updated_at=row.updated_at,
        active_from=row.active_from,
    )


def now() -> dt.datetime:
    """The time, UTC, naive as the app database keeps it (tests move it)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def list_schedules(settings: Settings) -> list[Schedule]:
    """Every schedule, by name."""
    table = appdb.schedules
    with appdb.shared_engine(settings).connect() as db:
        rows = db.execute(sa.select(table).order_by(table.c.name)).all()
    return [_from_row(r) for r in rows]


def get(settings: Settings, name: str) -> Schedule:
    """The schedule ``name``, or :class:`ScheduleError` with the nearest names."""
    table = appdb.schedules
    with appdb.shared_engine(settings).connect() as db:
        row = db.execute(sa.select(table).where(table.c.name == name)).first()
        if row is None:
            names = [r[0] for r in db.execute(sa.select(table.c.name))]
    if row is None:
        hint = did_you_mean(name, names)
        raise ScheduleError(
            f"no schedule {_shown(name)}{hint} (`kpiboard schedule list` lists them)"
        )
    return _from_row(row)


def by_id(settings: Settings, schedule_id: int) -> Schedule | None:
    table = appdb.schedules
    with appdb.shared_engine(settings).connect() as db:
        row = db.execute(sa.select(table).where(table.c.schedule_id == schedule_id)).first()
    return None if row is None else _from_row(row)


def add(
    settings: Settings, schedule: Schedule, *, by: str, runner: Runner | None = None
) -> Schedule:
    """Save a new schedule after :func:`check` found nothing wrong with it. Its first slot is
    the first one after now: a new schedule does not send what it would have sent before."""
    problems = check(settings, schedule, runner=runner)
    if problems:
        raise ScheduleError("\n".join(problems))
    at = now()
    table = appdb.schedules
    with appdb.shared_engine(settings).begin() as db:
        if db.execute(sa.select(table.c.name).where(table.c.name == schedule.name)).first():
            raise ScheduleError(f"schedule {schedule.name!r} exists already")
        db.execute(
            table.insert().values(
                name=schedule.name,
                definition=_definition(schedule),
                cron=schedule.cron,
                timezone=schedule.timezone,
                owner=schedule.owner,
                paused=schedule.paused,
                created_at=at,
                created_by=by,
                updated_at=at,
                active_from=at,
            )
        )
    saved = get(settings, schedule.name)
    audit.record(settings, "schedule_added", user=by, target=schedule.name, detail=describe(saved))
    return saved


EDITABLE = (
    "items",
    "recipients",
    "cron",
    "timezone",
    "format",
    "own_scope",
    "scope",
    "owner",
    "name",
)


def update(
    settings: Settings,
    name: str,
    changes: Mapping[str, Any],
    *,
    by: str,
    runner: Runner | None = None,
) -> Schedule:
    """Change fields of a schedule (:data:`EDITABLE`); the whole result is checked again."""
    unknown = [k for k in changes if k not in EDITABLE]
    if unknown:
        raise ScheduleError(f"cannot change {unknown[0]!r} of a schedule")
    before = get(settings, name)
    after = replace(before, **dict(changes))
    problems = check(settings, after, runner=runner)
    if problems:
        raise ScheduleError("\n".join(problems))
    table = appdb.schedules
    with appdb.shared_engine(settings).begin() as db:
        if (
            after.name != before.name
            and db.execute(sa.select(table.c.name).where(table.c.name == after.name)).first()
        ):
            raise ScheduleError(f"schedule {after.name!r} exists already")
        db.execute(
            table.update()
            .where(table.c.schedule_id == before.schedule_id)
            .values(
                name=after.name,
                definition=_definition(after),
                cron=after.cron,
                timezone=after.timezone,
                owner=after.owner,
                updated_at=now(),
            )
        )
    saved = get(settings, after.name)
    old, new = describe(before), describe(saved)
    changed = {k: {"before": old[k], "after": new[k]} for k in new if old.get(k) != new[k]}
    audit.record(settings, "schedule_changed", user=by, target=saved.name, detail=changed)
    return saved


def set_paused(settings: Settings, name: str, paused: bool, *, by: str) -> Schedule:
    """Pause a schedule (no slot opens while paused) or resume it. A resumed schedule starts
    from now: the slots it passed while paused are not caught up."""
    before = get(settings, name)
    values: dict[str, Any] = {"paused": paused, "updated_at": now()}
    if before.paused and not paused:
        values["active_from"] = now()
    table = appdb.schedules
    with appdb.shared_engine(settings).begin() as db:
        db.execute(table.update().where(table.c.schedule_id == before.schedule_id).values(values))
    action = "schedule_paused" if paused else "schedule_resumed"
    audit.record(settings, action, user=by, target=name)
    return get(settings, name)


def remove(settings: Settings, name: str, *, by: str) -> None:
    """Remove a schedule; its delivery history stays (it names the schedule by id)."""
    schedule = get(settings, name)
    table = appdb.schedules
    with appdb.shared_engine(settings).begin() as db:
        db.execute(table.delete().where(table.c.schedule_id == schedule.schedule_id))
    audit.record(settings, "schedule_removed", user=by, target=name, detail=describe(schedule))


def describe(schedule: Schedule) -> dict[str, Any]:
    """A schedule as plain values: what ``schedule show`` prints and the audit log records."""
    return {
        "name": schedule.name,
        "reports": [i.text() for i in schedule.items],
        "to": [r.text() for r in schedule.recipients],
        "cron": schedule.cron,
        "timezone": schedule.timezone,
        "format": schedule.format,
        "scope": "each recipient's own" if schedule.own_scope else scope_text(schedule.scope),
        "owner": schedule.owner,
        "paused": schedule.paused,
    }


# -- checking --------------------------------------------------------------------------------


def check(settings: Settings, schedule: Schedule, *, runner: Runner | None = None) -> list[str]:
    """Every problem of ``schedule``, one line each (empty: it can be saved). Reports and
    their parameters are checked against the published warehouse under each recipient's
    scope, as they will run."""
    from reports.cron import Cron, CronError

    problems: list[str] = []
    if not NAME.fullmatch(schedule.name):
        problems.append(
            f"name {_shown(schedule.name)}: use lowercase letters, digits, - and _ "
            "(up to 63, starting with a letter or digit)"
        )
    if schedule.format not in FORMATS:
        problems.append(
            f"format {_shown(schedule.format)}: not one of {', '.join(FORMATS)}"
            + did_you_mean(schedule.format, FORMATS)
        )
    try:
        Cron.parse(schedule.cron, schedule.timezone)
    except CronError as exc:
        problems.append(str(exc))
    if not schedule.items:
        problems.append("no report: give at least one (--report ID)")
    if not schedule.recipients:
        problems.append("no recipient: give at least one (--to USER_OR_ADDRESS)")
    if len({r.key for r in schedule.recipients}) < len(schedule.recipients):
        problems.append("a recipient is named twice")
    if schedule.scope is not None and not schedule.own_scope:
        problems += _scope_problems(schedule.scope, "the schedule's scope")
    users, user_problems = _users_of(settings, schedule)
    problems += user_problems
    if schedule.owner:
        problems += _owner_problems(settings, schedule.owner)
    scopes = _recipient_scopes(schedule, users, problems)
    problems += _item_problems(settings, schedule, scopes, runner)
    return problems


def _users_of(settings: Settings, schedule: Schedule) -> tuple[dict[str, User], list[str]]:
    from kpiboard.access import AccessError, get_user

    users: dict[str, User] = {}
    problems: list[str] = []
    for recipient in schedule.recipients:
        if not recipient.user:
            continue
        try:
            user = get_user(settings, recipient.user)
        except AccessError as exc:
            problems.append(f"recipient {recipient.user!r}: {exc}")
            continue
        if user.disabled:
            problems.append(f"recipient {user.name!r}: the user is disabled")
        elif not user.email:
            problems.append(
                f"recipient {user.name!r} has no email address "
                f"(`kpiboard user email {user.name} ADDRESS` sets one)"
            )
        users[user.name] = user
    return users, problems


def _owner_problems(settings: Settings, owner: str) -> list[str]:
    from kpiboard.access import AccessError, check_email, get_user

    try:
        if "@" in owner:
            check_email(owner)
        else:
            user = get_user(settings, owner)
            if not user.email:
                return [f"owner {owner!r} has no email address to be told of failures"]
    except AccessError as exc:
        return [f"owner: {exc}"]
    return []


def _scope_problems(scope: Scope, where: str) -> list[str]:
    return [
        f"{where}: unknown scope {kind!r} (branch or employee)"
        for kind in scope
        if kind not in SCOPE_KINDS
    ]


def _recipient_scopes(
    schedule: Schedule, users: Mapping[str, User], problems: list[str]
) -> dict[str, Scope | None]:
    """Each recipient's scope as the schedule will send to them (recipients in error left out)."""
    scopes: dict[str, Scope | None] = {}
    for recipient in schedule.recipients:
        if not schedule.own_scope:
            scopes[recipient.key] = schedule.scope or None
        elif recipient.user:
            if recipient.user in users:
                scopes[recipient.key] = user_scope(users[recipient.user])
        elif recipient.scope is None:
            problems.append(
                f"recipient {recipient.address}: name the data an address may see "
                f"({recipient.address}:all, {recipient.address}:branch=ID)"
            )
        else:
            problems += _scope_problems(recipient.scope, f"recipient {recipient.address}")
            scopes[recipient.key] = recipient.scope or None
    return scopes


def user_scope(user: User) -> Scope | None:
    """A user's row-level scope (:func:`kpiboard.access.scope_of`) as a schedule keeps it."""
    from kpiboard.access import scope_of

    scope = scope_of(user)
    return None if scope is None else {k: tuple(v) for k, v in scope.items()}


def _item_problems(
    settings: Settings,
    schedule: Schedule,
    scopes: Mapping[str, Scope | None],
    runner: Runner | None,
) -> list[str]:
    from reports.errors import ReportError

    problems: list[str] = []
    pages = [i for i in schedule.items if i.page is not None]
    if pages and schedule.format != "pdf":
        problems.append("a dashboard page is sent as PDF only (--format pdf)")
    if pages and any(r.address for r in schedule.recipients):
        problems.append(
            "a dashboard page is printed as a user sees it: send it to users, not addresses"
        )
    reports = [i for i in schedule.items if i.page is None]
    if not reports:
        return problems + [_page_problem(i) for i in pages if _page_problem(i)]
    if runner is None:
        from reports.runner import Runner

        try:
            runner = Runner.on_demand(settings)
        except (ReportError, UserError) as exc:
            return [*problems, f"reports: {exc}"]
    distinct: dict[str, Scope | None] = {}
    for scope in scopes.values():
        distinct.setdefault(scope_text(scope) if scope else "all", scope)
    if not distinct:  # no recipient could be read: the parameters are still checked
        distinct["all"] = None
    for item in reports:
        try:
            report = runner.catalog.get(item.report)
        except ReportError as exc:
            problems.append(str(exc))
            continue
        for text, scope in distinct.items():
            if scope and report.scope == "company":
                problems.append(
                    f"report {report.id!r} shows company-wide data; a recipient who sees "
                    f"{text} cannot receive it"
                )
                break
            try:
                runner.bind(report, dict(item.params), scope=scope)
            except (ReportError, UserError) as exc:
                message, prefix = str(exc), f"report {report.id!r}"
                rest = message[len(prefix) :] if message.startswith(prefix) else f": {message}"
                where = f" (for {text})" if scope else ""
                problems.append(f"{prefix}{where}{rest}")
                break
    return problems + [p for i in pages if (p := _page_problem(i))]


def _page_problem(item: Item) -> str:
    if item.page not in PAGES:
        known = ", ".join(f"page:{p}" for p in PAGES)
        return f"no dashboard page {_shown(item.report)} to print (pages: {known})"
    return ""


# -- reading the log ----------------------------------------------------------------------------


def next_slot(schedule: Schedule, after: dt.datetime | None = None) -> dt.datetime | None:
    """The schedule's next slot after ``after`` (default now), UTC; ``None`` when paused."""
    from reports.cron import Cron

    if schedule.paused:
        return None
    start = (after or now()).replace(tzinfo=dt.UTC)
    return Cron.parse(schedule.cron, schedule.timezone).next(start)


def local_text(at: dt.datetime, timezone: str) -> str:
    """A UTC instant as its zone's wall time: ``2026-12-07 08:00 MST``."""
    from zoneinfo import ZoneInfo

    local = at.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(timezone))
    return local.strftime("%Y-%m-%d %H:%M %Z")


def history(
    settings: Settings, name: str | None = None, *, limit: int = 200
) -> list[dict[str, Any]]:
    """The delivery log, newest slot first: one row per (schedule, slot, recipient)."""
    d, s = appdb.deliveries, appdb.schedules
    query = (
        sa.select(
            s.c.name.label("schedule"),
            s.c.timezone,
            d.c.slot_at,
            d.c.recipient,
            d.c.address,
            d.c.status,
            d.c.attempts,
            d.c.sent_at,
            d.c.next_attempt_at,
            d.c.error,
            d.c.message_id,
            appdb.schedule_slots.c.late,
            appdb.schedule_slots.c.manual,
        )
        .select_from(
            d.join(s, s.c.schedule_id == d.c.schedule_id).join(
                appdb.schedule_slots,
                sa.and_(
                    appdb.schedule_slots.c.schedule_id == d.c.schedule_id,
                    appdb.schedule_slots.c.slot_at == d.c.slot_at,
                ),
            )
        )
        .order_by(d.c.slot_at.desc(), d.c.recipient)
        .limit(limit)
    )
    if name is not None:
        query = query.where(s.c.schedule_id == get(settings, name).schedule_id)
    with appdb.shared_engine(settings).connect() as db:
        rows = [dict(r._mapping) for r in db.execute(query)]
    for row in rows:
        row["slot"] = local_text(row["slot_at"], row.pop("timezone"))
        row["recipient"] = row["recipient"].split(":", 1)[1]
        row["late"] = bool(row["late"])
        row["manual"] = bool(row["manual"])
    return rows


def slot_log(
    settings: Settings, name: str | None = None, *, limit: int = 100
) -> list[dict[str, Any]]:
    """The slots, newest first: each with its status, late or not, its error, and how many of
    its deliveries are in each status."""
    t, s, d = appdb.schedule_slots, appdb.schedules, appdb.deliveries
    query = (
        sa.select(
            s.c.name.label("schedule"),
            s.c.timezone,
            t.c.schedule_id,
            t.c.slot_at,
            t.c.status,
            t.c.late,
            t.c.manual,
            t.c.error,
            t.c.finished_at,
        )
        .select_from(t.join(s, s.c.schedule_id == t.c.schedule_id))
        .order_by(t.c.slot_at.desc())
        .limit(limit)
    )
    if name is not None:
        query = query.where(s.c.schedule_id == get(settings, name).schedule_id)
    with appdb.shared_engine(settings).connect() as db:
        rows = [dict(r._mapping) for r in db.execute(query)]
        counts: dict[tuple[int, dt.datetime], dict[str, int]] = {}
        if rows:
            found = db.execute(
                sa.select(d.c.schedule_id, d.c.slot_at, d.c.status, sa.func.count())
                .where(d.c.schedule_id.in_({r["schedule_id"] for r in rows}))
                .group_by(d.c.schedule_id, d.c.slot_at, d.c.status)
            )
            for schedule_id, slot_at, status, n in found:
                counts.setdefault((schedule_id, slot_at), {})[status] = n
    for row in rows:
        row["slot"] = local_text(row["slot_at"], row.pop("timezone"))
        row["deliveries"] = counts.get((row.pop("schedule_id"), row["slot_at"]), {})
        row["late"] = bool(row["late"])
        row["manual"] = bool(row["manual"])
    return rows


def _shown(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:60] + "…")


def parse_params(pairs: Sequence[str]) -> dict[str, str]:
    """``["period=last_week", "branch=denver"]`` → a dict; a pair without ``=`` is an error."""
    params: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ScheduleError(f"parameter {_shown(pair)}: write it as name=value")
        params[key.strip()] = value.strip()
    return params
