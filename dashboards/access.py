"""Who is looking: the viewer of the request being served, and what their role may open.

Every page, callback and route asks :func:`viewer` — set by :mod:`dashboards.auth` from the
login session before the request is served, never from a value the browser sends — and reads
data only under ``viewer().scope``. A request with no viewer is refused (:class:`Refused`),
never served with everything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import flask

from kpiboard.access import ROLES, Role, User, scope_of

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
