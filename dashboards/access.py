"""Who is looking: the viewer of the request being served, and what their role may open.

Every page, callback and route asks :func:`viewer` — set by :mod:`dashboards.auth` from the
login session before the request is served, never from a value the browser sends — and reads
data only under ``viewer().scope``. A request with no viewer is refused (:class:`Refused`),
never served with everything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import flask

from dashboards.data import Data
from kpiboard.access import ROLES, Role, User, scope_of

if TYPE_CHECKING:
    from reports.model import Report

G_KEY = "kb_viewer"

PAGE_ROLES: dict[str, frozenset[str]] = {
    "overview": frozenset(ROLES),
    "sales": frozenset(ROLES),
    "clients": frozenset(ROLES),
    "service": frozenset(ROLES),
    # stock is kept by warehouse, not by a salesperson: nothing of it is an employee's own
    "stock": frozenset({"admin", "executive", "analyst", "branch_head"}),
    "employees": frozenset(ROLES),
    "designer": frozenset({"admin", "analyst"}),
    # the quarantine and the Data Docs hold every branch's raw rows
    "quality": frozenset({"admin", "executive", "analyst"}),
    "reports": frozenset(ROLES),
    "access": frozenset({"admin"}),
    # schedules mail any branch's numbers to anyone: those who see every row and manage reports
    "mailouts": frozenset({"admin", "analyst"}),
}
"""The roles that may open each page (the page modules' names in :data:`dashboards.app.PAGES`)."""


class Refused(Exception):
    """A request its viewer may not make (or one with no viewer)."""


@dataclass(frozen=True)
class Viewer:
    """The logged-in user of a request, and what they may see."""

    name: str
    role: str
    scope: dict[str, list[str]] | None
    """The row-level scope of everything they read (``None``: every row)."""
    employee: str | None = None
    """The ``core.dim_employee`` row they are (an employee sees only theirs)."""
    session: str | None = None
    """The login session's token (what ends it on logout)."""

    @classmethod
    def of(cls, user: User, session: str | None = None) -> Viewer:
        return cls(user.name, user.role, scope_of(user), user.employee_id, session)

    @property
    def rights(self) -> Role:
        return ROLES[self.role]

    @property
    def branches(self) -> tuple[str, ...] | None:
        """The branches they may choose (``None``: all; an employee: none to choose)."""
        if self.scope is None:
            return None
        return tuple(self.scope.get("branch", ()))

    @property
    def own(self) -> str | None:
        """The employee whose rows alone they see (an employee's own id), else ``None``."""
        if self.scope is not None and "employee" in self.scope:
            return self.scope["employee"][0]
        return None

    def may_open(self, page: str) -> bool:
        return self.role in PAGE_ROLES.get(page, frozenset())

    @property
    def key(self) -> tuple[Any, ...]:
        """What a cached answer depends on besides its inputs: the scope (two viewers with the
        same scope see the same numbers)."""
        if self.scope is None:
            return ("all",)
        return tuple(sorted((k, tuple(v)) for k, v in self.scope.items()))


def viewer() -> Viewer:
    """The viewer of the request being served; :class:`Refused` when nobody is logged in."""
    found = flask.g.get(G_KEY) if flask.has_request_context() else None
    if not isinstance(found, Viewer):
        raise Refused("nobody is logged in")
    return found


def set_viewer(found: Viewer | None) -> None:
    """Make ``found`` the viewer of the request being served (:mod:`dashboards.auth`)."""
    if found is None:
        flask.g.pop(G_KEY, None)
    else:
        setattr(flask.g, G_KEY, found)


def viewing() -> Viewer | None:
    """The viewer of the request being served, or ``None`` when there is none: outside a
    request, or at Dash's own check of the callbacks against the layout, which it makes at the
    first request before anyone is looked up (a layout made then reads no data)."""
    found = flask.g.get(G_KEY) if flask.has_request_context() else None
    return found if isinstance(found, Viewer) else None


def page_of(module: str) -> str | None:
    """The page a module belongs to (``dashboards.pages.designer`` → ``designer``); ``None``
    for the shell and Dash's own, which serve every page."""
    prefix = "dashboards.pages."
    if not module.startswith(prefix):
        return None
    return module[len(prefix) :].split(".")[0]


_PLURALS = {
    "executive": "executives",
    "analyst": "analysts",
    "branch_head": "branch heads",
    "employee": "employees",
    "admin": "administrators",
}


def page_is_for(page: str) -> str:
    """The sentence a page says to a viewer who may not open it: "This page is for analysts
    and administrators." """
    names = [_PLURALS[r] for r in _PLURALS if r in PAGE_ROLES.get(page, frozenset())]
    if not names:
        return "This page is not open to anyone."
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return f"This page is for {listed}."


def may_run(report: Report) -> bool:
    """Whether the viewer may run a catalog report: a company-wide one (``scope: company``)
    reads every branch's rows, so only viewers who see every row may."""
    return report.scope != "company" or viewer().scope is None


class Seen(Data):
    """The project's data as the viewer of the request sees it: the branches and employees
    it lists are only theirs, so every filter, list and name a page offers is within the
    viewer's scope without each page saying so. Everything else is :class:`Data`'s (the
    lists themselves are cached once for all viewers and narrowed per request). Asked with
    nobody viewing, the lists are refused (:class:`Refused`), never everything."""

    def branches(self) -> list[tuple[str, str]]:
        """The branches the viewer sees rows of: all, a branch head's, an employee's own."""
        every = super().branches()
        who = viewer()
        if who.own is not None:
            home = self._home(who.own)
            return [(b, n) for b, n in every if b == home]
        if who.branches is None:
            return every
        return [(b, n) for b, n in every if b in who.branches]

    def employees(self, branch: str | None = None) -> list[tuple[str, str]]:
        """The employees the viewer sees (of ``branch``, when given): all, those of a branch
        head's branches, an employee alone."""
        who = viewer()
        if who.own is not None:
            if branch is not None and branch != self._home(who.own):
                return []
            return [(e, n) for e, n in super().employees() if e == who.own]
        if who.branches is None:
            return super().employees(branch)
        if branch is not None:
            return super().employees(branch) if branch in who.branches else []
        mine: set[tuple[str, str]] = set()
        for each in who.branches:
            mine.update(super().employees(each))
        return sorted(mine)

    def _home(self, employee: str) -> str | None:
        """The branch an employee is listed in."""
        for branch, _ in super().branches():
            if any(e == employee for e, _ in super().employees(branch)):
                return branch
        return None
