"""Who may see what: users, their roles and scopes, passwords, login sessions and lockout.

Everything lives in the app database (:mod:`kpiboard.appdb`). A user has one role:

============  ==========================================================================
admin         all data; edits definitions; manages users; reads the audit log
executive     all data, read only
analyst       all data; edits KPIs, plans, reports and schedules
branch_head   the branches granted to them
employee      their own rows, KPIs, scorecard and bonus (the ``core.dim_employee`` row
              they are linked to)
============  ==========================================================================

:func:`scope_of` turns a user into the row-level scope the KPI engine and the report runner
apply inside their SQL (``None``: everything). The dashboard, its downloads and the mail-outs
take the scope from here, never from a value a browser sends.

Passwords are hashed with argon2id (argon2-cffi). A login (:func:`log_in`) checks the lockout
first: after ``[security] lockout_after`` failures in a row for a user name (four times as many
from one address, :data:`ADDRESS_FACTOR`), each further attempt must wait ``lockout_seconds``,
doubling per failure, at most an hour. A success clears the name's count, not the address's. A
session (:func:`open_session`) is a random token whose SHA-256 is kept here; it ends on logout,
after ``session_idle_minutes`` without a request, after ``session_max_hours`` in any case, and
when its user's password changes or the user is disabled.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from kpiboard import appdb
from kpiboard.config import Settings
from kpiboard.errors import UserError


@dataclass(frozen=True)
class Role:
    name: str
    label: str
    all_data: bool
    """Sees every branch's rows (no scope)."""
    edits: bool = False
    """Edits KPIs, plans, reports and schedules (the KPI designer)."""
    manages_users: bool = False
    """Adds, changes and disables users; reads the audit log."""


ROLES: dict[str, Role] = {
    r.name: r
    for r in (
        Role("admin", "Administrator", all_data=True, edits=True, manages_users=True),
        Role("executive", "Executive", all_data=True),
        Role("analyst", "Analyst", all_data=True, edits=True),
        Role("branch_head", "Branch head", all_data=False),
        Role("employee", "Employee", all_data=False),
    )
}

NAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{1,63}$")
"""A user name: 2-64 of lower-case letters, digits, ``.``, ``_``, ``@`` and ``-``."""
PASSWORD_MAX = 1024
"""Longer passwords are refused before hashing: hashing megabytes is a way to stall a server."""
LOCKOUT_MAX = dt.timedelta(hours=1)
FAILURES_FORGOTTEN = {"user": dt.timedelta(hours=24), "address": dt.timedelta(hours=1)}
"""A name's failures count until a day passes without one, an address's until an hour does."""
ADDRESS_FACTOR = 4
"""An address is locked out after this many times ``lockout_after`` failures: a whole office
may log in from one address, and its typos must not lock everyone out; a script trying many
names from one address is stopped all the same."""
TOUCH_EVERY = dt.timedelta(seconds=30)
"""A session's last request is written at most this often (a page makes many requests)."""

_hasher = PasswordHasher()
_DUMMY = _hasher.hash("not a password of anyone")


class AccessError(UserError):
    """A user command or a login that cannot be done; the message says why."""


class LoginRefused(AccessError):
    """A login refused: the same message for an unknown user and a wrong password."""

    def __init__(self, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class User:
    user_id: int
    name: str
    role: str
    employee_id: str | None
    branches: tuple[str, ...]
    disabled: bool
    created_at: dt.datetime
    password_changed_at: dt.datetime
    email: str | None = None
    """Where their mail-outs and alerts go (none: they receive no mail)."""

    @property
    def rights(self) -> Role:
        return ROLES[self.role]


def scope_of(user: User) -> dict[str, list[str]] | None:
    """The row-level scope of everything ``user`` reads: ``None`` for every row (admin,
    executive, analyst), their branches for a branch head, their own rows for an employee.
    A branch head with no branch and an employee with no employee row see nothing: the scope
    names a member no row has."""
    if user.rights.all_data:
        return None
    if user.role == "branch_head":
        return {"branch": list(user.branches) or [NOBODY]}
    return {"employee": [user.employee_id or NOBODY]}


NOBODY = "\x00nobody"
"""A scope member no row has: what an unlinked branch head or employee sees."""


def now() -> dt.datetime:
    """The current time in UTC, naive (as the app database stores it)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


# -- users -----------------------------------------------------------------------------------


def check_name(name: str) -> str:
    """``name``, or :class:`AccessError` when it is not a user name (:data:`NAME`: the whole of
    it, so that a trailing newline does not pass as the end of the line)."""
    if not NAME.fullmatch(name):
        raise AccessError(
            f"user name {name[:70]!r}: use 2-64 lower-case letters, digits, '.', '_', '@' or '-',"
            " starting with a letter or digit"
        )
    return name


def check_password(settings: Settings, name: str, password: str) -> str:
    """``password``, or :class:`AccessError` saying what it lacks."""
    least = settings.security.password_min_length
    if len(password) < least:
        raise AccessError(f"the password is too short: at least {least} characters")
    if len(password) > PASSWORD_MAX:
        raise AccessError(f"the password is too long: at most {PASSWORD_MAX} characters")
    if password.strip().lower() == name.lower():
        raise AccessError("the password may not be the user name")
    return password


def check_grants(role: str, employee: str | None, branches: Sequence[str]) -> None:
    """:class:`AccessError` unless ``role`` is a role and what it is granted fits it: a branch
    head has branches, an employee their employee id, and only a branch head has branches."""
    if role not in ROLES:
        raise AccessError(f"no role {role[:40]!r}; roles: {', '.join(ROLES)}")
    if role == "branch_head" and not branches:
        raise AccessError("a branch head needs at least one branch (--branch)")
    if role == "employee" and not employee:
        raise AccessError("an employee needs their employee id (--employee)")
    if role != "branch_head" and branches:
        raise AccessError(f"only a branch head is granted branches, not a {role}")


def add_user(
    settings: Settings,
    name: str,
    role: str,
    password: str,
    *,
    employee: str | None = None,
    branches: Sequence[str] = (),
    email: str | None = None,
) -> User:
    check_name(name)
    check_grants(role, employee, branches)
    check_password(settings, name, password)
    email = check_email(email) if email else None
    eng = appdb.shared_engine(settings)
    at = now()
    with eng.begin() as db:
        taken = db.execute(sa.select(appdb.users.c.user_id).where(appdb.users.c.name == name))
        if taken.first() is not None:
            raise AccessError(f"user {name!r} exists already")
        inserted = db.execute(
            appdb.users.insert().values(
                name=name,
                role=role,
                employee_id=employee,
                email=email,
                password_hash=_hasher.hash(password),
                disabled=False,
                created_at=at,
                password_changed_at=at,
            )
        ).inserted_primary_key
        assert inserted is not None
        _set_branches(db, inserted[0], branches)
    return get_user(settings, name)


def _set_branches(db: sa.Connection, user_id: int, branches: Sequence[str]) -> None:
    db.execute(appdb.user_branches.delete().where(appdb.user_branches.c.user_id == user_id))
    for branch in dict.fromkeys(branches):
        db.execute(appdb.user_branches.insert().values(user_id=user_id, branch_id=branch))


def _users(db: sa.Connection, where: sa.ColumnElement[bool] | None = None) -> list[User]:
    query = sa.select(appdb.users).order_by(appdb.users.c.name)
    if where is not None:
        query = query.where(where)
    rows = db.execute(query).all()
    grants: dict[int, list[str]] = {}
    ids = [r.user_id for r in rows]
    if ids:
        found = db.execute(
            sa.select(appdb.user_branches).where(appdb.user_branches.c.user_id.in_(ids))
        )
        for g in found:
            grants.setdefault(g.user_id, []).append(g.branch_id)
    return [
        User(
            r.user_id,
            r.name,
            r.role,
            r.employee_id,
            tuple(sorted(grants.get(r.user_id, []))),
            bool(r.disabled),
            r.created_at,
            r.password_changed_at,
            r.email,
        )
        for r in rows
    ]


def get_user(settings: Settings, name: str) -> User:
    with appdb.shared_engine(settings).connect() as db:
        found = _users(db, appdb.users.c.name == name)
    if not found:
        raise AccessError(f"no user {name[:70]!r} (kpiboard user list shows them)")
    return found[0]


def list_users(settings: Settings) -> list[User]:
    with appdb.shared_engine(settings).connect() as db:
        return _users(db)


def set_password(settings: Settings, name: str, password: str) -> User:
    """A new password for ``name``; every session of theirs ends."""
    user = get_user(settings, name)
    check_password(settings, name, password)
    with appdb.shared_engine(settings).begin() as db:
        db.execute(
            appdb.users.update()
            .where(appdb.users.c.user_id == user.user_id)
            .values(password_hash=_hasher.hash(password), password_changed_at=now())
        )
        _end_sessions(db, user.user_id, "password")
        _forget_failures(db, "user", name)
    return get_user(settings, name)


def set_email(settings: Settings, name: str, email: str | None) -> User:
    """Where ``name``'s mail-outs and alerts go; ``None`` or empty: they receive none."""
    user = get_user(settings, name)
    address = check_email(email) if email else None
    with appdb.shared_engine(settings).begin() as db:
        db.execute(
            appdb.users.update().where(appdb.users.c.user_id == user.user_id).values(email=address)
        )
    return get_user(settings, name)


_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?"
_EMAIL = re.compile(r"[^@\s<>(),;:\\\"\[\]]{1,64}@" + _LABEL + r"(?:\." + _LABEL + r")+")


def check_email(text: str) -> str:
    """``text`` as an email address (trimmed), or :class:`AccessError` saying it is not one.
    Plain addresses only (``cfo@acme.com``): no display names, no lists, no line breaks."""
    address = text.strip()
    if len(address) > 254 or not _EMAIL.fullmatch(address):
        shown = address if len(address) <= 60 else address[:60] + "…"
        raise AccessError(f"{shown!r} is not an email address (like cfo@acme.com)")
    return address


def set_disabled(settings: Settings, name: str, disabled: bool = True) -> User:
    """Disable ``name`` (their sessions end, their logins are refused) or enable them again."""
    user = get_user(settings, name)
    with appdb.shared_engine(settings).begin() as db:
        db.execute(
            appdb.users.update()
            .where(appdb.users.c.user_id == user.user_id)
            .values(disabled=disabled)
        )
        if disabled:
            _end_sessions(db, user.user_id, "disabled")
    return get_user(settings, name)


def grant(
    settings: Settings,
    name: str,
    *,
    role: str | None = None,
    employee: str | None = None,
    branches: Sequence[str] | None = None,
) -> User:
    """Change ``name``'s role, employee row or branches (what is not given stays). A role
    that takes no branches drops the ones granted before. The next request of each of their
    sessions reads the new scope."""
    user = get_user(settings, name)
    new_role = role or user.role
    new_employee = employee if employee is not None else user.employee_id
    if branches is not None:
        new_branches: Sequence[str] = branches
    elif new_role == "branch_head":
        new_branches = user.branches
    else:
        new_branches = ()
    check_grants(new_role, new_employee or None, new_branches)
    with appdb.shared_engine(settings).begin() as db:
        db.execute(
            appdb.users.update()
            .where(appdb.users.c.user_id == user.user_id)
            .values(role=new_role, employee_id=new_employee or None)
        )
        _set_branches(db, user.user_id, new_branches)
    return get_user(settings, name)


def set_up_user(
    settings: Settings,
    name: str,
    role: str,
    password: str,
    *,
    employee: str | None = None,
    branches: Sequence[str] = (),
    email: str | None = None,
) -> User:
    """``name`` with this role, scope and password, enabled — added, or changed to be so (what
    a script or a test that logs in as a user of its own needs, whatever ran before it)."""
    try:
        get_user(settings, name)
    except AccessError:
        return add_user(
            settings, name, role, password, employee=employee, branches=branches, email=email
        )
    grant(settings, name, role=role, employee=employee or "", branches=branches)
    set_password(settings, name, password)
    if email is not None:
        set_email(settings, name, email)
    return set_disabled(settings, name, False)


# -- logins ------------------------------------------------------------------------------------


def log_in(settings: Settings, name: str, password: str, address: str | None) -> User:
    """The user ``name`` if ``password`` is theirs and neither the name nor the address is
    locked out; :class:`LoginRefused` otherwise, with the same words whether the user exists
    or not. Every failure counts towards both lockouts; a success clears the name's."""
    name = (name or "").strip().lower()[:200]
    address = (address or "unknown")[:64]
    eng = appdb.shared_engine(settings)
    at = now()
    with eng.connect() as db:
        waits = [_locked(db, "user", name, at), _locked(db, "address", address, at)]
    wait = max((w for w in waits if w is not None), default=None)
    if wait is not None:
        raise LoginRefused(
            f"Too many failed logins. Try again in {_duration(wait)}.", retry_after=wait
        )
    user = None
    if NAME.match(name) and len(password) <= PASSWORD_MAX:
        with eng.connect() as db:
            row = db.execute(
                sa.select(appdb.users.c.password_hash).where(appdb.users.c.name == name)
            ).first()
        stored = row.password_hash if row is not None else _DUMMY
        try:
            _hasher.verify(stored, password)
            if row is not None:
                user = get_user(settings, name)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            pass
    else:
        _hasher.verify(_DUMMY, "not a password of anyone")  # the same time as a real check
    if user is None or user.disabled:
        with eng.begin() as db:
            _fail(db, settings, "user", name, at)
            _fail(db, settings, "address", address, at)
        raise LoginRefused("The user name or the password is wrong, or the user is disabled.")
    with eng.begin() as db:
        _forget_failures(db, "user", name)
    return user


def _duration(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} seconds"
    return f"{round(seconds / 60)} minutes"


def _locked(db: sa.Connection, kind: str, key: str, at: dt.datetime) -> int | None:
    """Seconds until ``key`` may try again; ``None`` when it may now."""
    t = appdb.login_throttle
    row = db.execute(sa.select(t).where(t.c.kind == kind, t.c.key == key)).first()
    if row is None or row.locked_until is None or row.locked_until <= at:
        return None
    return max(1, int((row.locked_until - at).total_seconds() + 0.999))


def _fail(db: sa.Connection, settings: Settings, kind: str, key: str, at: dt.datetime) -> None:
    t = appdb.login_throttle
    row = db.execute(sa.select(t).where(t.c.kind == kind, t.c.key == key)).first()
    failures = 1
    if row is not None and at - row.last_failure_at < FAILURES_FORGOTTEN[kind]:
        failures = row.failures + 1
    locked_until = None
    allowed = settings.security.lockout_after * (ADDRESS_FACTOR if kind == "address" else 1)
    over = failures - allowed
    if over >= 0:
        delay = dt.timedelta(seconds=settings.security.lockout_seconds * 2 ** min(over, 20))
        locked_until = at + min(delay, LOCKOUT_MAX)
    values = {"failures": failures, "last_failure_at": at, "locked_until": locked_until}
    if row is None:
        db.execute(t.insert().values(kind=kind, key=key, **values))
    else:
        db.execute(t.update().where(t.c.kind == kind, t.c.key == key).values(**values))


def _forget_failures(db: sa.Connection, kind: str, key: str) -> None:
    t = appdb.login_throttle
    db.execute(t.delete().where(t.c.kind == kind, t.c.key == key))


def failures(settings: Settings, kind: str, key: str) -> int:
    """How many failed logins in a row ``key`` (a user name or an address) has."""
    t = appdb.login_throttle
    with appdb.shared_engine(settings).connect() as db:
        row = db.execute(sa.select(t.c.failures).where(t.c.kind == kind, t.c.key == key)).first()
    return 0 if row is None else int(row.failures)


# -- sessions ----------------------------------------------------------------------------------


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def open_session(settings: Settings, user: User, address: str | None) -> str:
    """A new session of ``user``: the token the browser keeps (only its hash is stored)."""
    token = secrets.token_urlsafe(32)
    at = now()
    with appdb.shared_engine(settings).begin() as db:
        db.execute(
            appdb.sessions.insert().values(
                token_hash=_digest(token),
                user_id=user.user_id,
                created_at=at,
                last_seen_at=at,
                address=(address or "")[:64] or None,
            )
        )
    return token


def session_user(settings: Settings, token: str) -> User | None:
    """The user of the live session ``token``, its last request now; ``None`` when there is no
    such session or it has ended (logout, idle, too old, password changed, user disabled) —
    an idle or too old session is ended here."""
    if not token or len(token) > 100:
        return None
    s = appdb.sessions
    at = now()
    eng = appdb.shared_engine(settings)
    with eng.connect() as db:
        row = db.execute(sa.select(s).where(s.c.token_hash == _digest(token))).first()
    if row is None or row.ended_at is not None:
        return None
    idle = dt.timedelta(minutes=settings.security.session_idle_minutes)
    oldest = dt.timedelta(hours=settings.security.session_max_hours)
    reason = "idle" if at - row.last_seen_at > idle else None
    reason = "expired" if at - row.created_at > oldest else reason
    if reason is not None:
        with eng.begin() as db:
            db.execute(
                s.update()
                .where(s.c.token_hash == row.token_hash, s.c.ended_at.is_(None))
                .values(ended_at=at, end_reason=reason)
            )
        return None
    with eng.connect() as db:
        found = _users(db, appdb.users.c.user_id == row.user_id)
    if not found or found[0].disabled:
        return None
    if at - row.last_seen_at > TOUCH_EVERY:
        with eng.begin() as db:
            db.execute(s.update().where(s.c.token_hash == row.token_hash).values(last_seen_at=at))
    return found[0]


def end_session(settings: Settings, token: str, reason: str = "logout") -> None:
    s = appdb.sessions
    with appdb.shared_engine(settings).begin() as db:
        db.execute(
            s.update()
            .where(s.c.token_hash == _digest(token), s.c.ended_at.is_(None))
            .values(ended_at=now(), end_reason=reason)
        )


def _end_sessions(db: sa.Connection, user_id: int, reason: str) -> None:
    s = appdb.sessions
    db.execute(
        s.update()
        .where(s.c.user_id == user_id, s.c.ended_at.is_(None))
        .values(ended_at=now(), end_reason=reason)
    )


def live_sessions(settings: Settings, name: str) -> int:
    """How many sessions of ``name`` have not ended (idle ones are ended when next used)."""
    user = get_user(settings, name)
    s = appdb.sessions
    with appdb.shared_engine(settings).connect() as db:
        query = sa.select(sa.func.count()).where(
            s.c.user_id == user.user_id, s.c.ended_at.is_(None)
        )
        return int(db.execute(query).scalar_one())


def secret_key(settings: Settings) -> str:
    """The key that signs session cookies: ``[security] secret_key`` when set, else one made
    at random on first use and kept in the app database (every worker and restart shares it)."""
    if settings.security.secret_key is not None:
        return settings.security.secret_key.get_secret_value()
    t = appdb.secrets
    eng = appdb.shared_engine(settings)
    with eng.connect() as db:
        row = db.execute(sa.select(t.c.value).where(t.c.name == "session")).first()
    if row is not None:
        return str(row.value)
    try:
        with eng.begin() as db:
            db.execute(t.insert().values(name="session", value=secrets.token_urlsafe(48)))
    except sa.exc.IntegrityError:
        pass  # another worker made it first: use theirs
    with eng.connect() as db:
        return str(db.execute(sa.select(t.c.value).where(t.c.name == "session")).scalar_one())
