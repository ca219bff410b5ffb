"""The Access page: the users as the app database has them, each change done through
:mod:`kpiboard.access` and written to the audit log without a password, bad input refused with
its message and nothing changed, the audit log filtered — and nobody but an administrator gets
anything from any of its callbacks.

Callbacks are called as functions inside a request of the app with a viewer set. The test
project's app database is shared by the session: every user made here has a name of its own.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any

import pytest
from dash import no_update

from kpiboard import access, audit

if TYPE_CHECKING:
    import dash

    from kpiboard.config import Settings

PASSWORD = "correct horse battery"

As = Callable[..., AbstractContextManager[None]]


@pytest.fixture
def as_viewer(dash_app: dash.Dash) -> As:
    """``with as_viewer(name, role):`` — a request of the app made by that viewer."""
    from dashboards.access import Viewer, set_viewer

    @contextmanager
    def request(name: str = "admin1", role: str = "admin") -> Iterator[None]:
        with dash_app.server.test_request_context(
            "/access", environ_base={"REMOTE_ADDR": "10.1.2.3"}
        ):
            set_viewer(Viewer(name, role, None))
            yield

    return request


@pytest.fixture
def settings(dash_app: dash.Dash) -> Settings:
    from dashboards.app import EXTENSION

    found: Settings = dash_app.server.extensions[EXTENSION].settings
    return found


@pytest.fixture
def names(as_viewer: As) -> tuple[list[str], list[str]]:
    """The warehouse's branch ids and employee ids (all of them: an admin's)."""
    from dashboards.app import data

    with as_viewer():
        d = data()
        return [b for b, _ in d.branches()], [e for e, _ in d.employees()]


def unique(prefix: str = "u") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def text_of(component: Any) -> str:
    """Every text a component tree holds, joined."""
    if component is None:
        return ""
    if isinstance(component, str | int | float):
        return str(component)
    if isinstance(component, list | tuple):
        return " ".join(text_of(c) for c in component)
    return text_of(getattr(component, "children", None))


def exists(settings: Settings, name: str) -> bool:
    try:
        access.get_user(settings, name)
    except access.AccessError:
        return False
    return True


def user_row(out: tuple[Any, ...], name: str) -> dict[str, Any]:
    return next(r for r in out[0] if r["name"] == name)


# -- the users -----------------------------------------------------------------------------------


def test_the_grid_holds_every_user_with_role_branches_employee_and_last_login(
    as_viewer: As, settings: Settings, names: tuple[list[str], list[str]]
) -> None:
    from dashboards.pages.access import fill_users

    branches, employees = names
    head, worker = unique("head"), unique("emp")
    access.add_user(settings, head, "branch_head", PASSWORD, branches=[branches[0]])
    access.add_user(settings, worker, "employee", PASSWORD, employee=employees[0])
    access.open_session(settings, access.get_user(settings, worker), "10.0.0.9")
    audit.record(settings, "login", user=worker, address="10.0.0.9")
    with as_viewer():
        from dashboards.app import data

        branch_name = dict(data().branches())[branches[0]]
        employee_name = dict(data().employees())[employees[0]]
        out = fill_users(0)
    listed = {r["name"] for r in out[0]}
    assert {u.name for u in access.list_users(settings)} == listed
    h = user_row(out, head)
    assert (h["role_label"], h["branch_names"], h["status"]) == (
        "Branch head",
        branch_name,
        "active",
    )
    assert h["sessions"] == 0 and h["last_login"] is None and h["last_login__text"] == "—"
    w = user_row(out, worker)
    assert (w["role_label"], w["employee_name"], w["sessions"]) == ("Employee", employee_name, 1)
    assert w["last_login"][:10] == access.now().date().isoformat()
    assert {"label": head, "value": head} in out[1]  # the change form's choices
    assert {"label": branch_name, "value": branches[0]} in out[3]
    assert out[7] is None


def test_adding_a_user_creates_them_and_records_it_without_the_password(
    as_viewer: As, settings: Settings, names: tuple[list[str], list[str]]
) -> None:
    from dashboards.pages.access import add_user

    name = unique("new")
    branch = names[0][1]
    with as_viewer():
        said, changed, kept_name, pw, repeat = add_user(
            1, name, "branch_head", [branch], None, PASSWORD, PASSWORD, 4
        )
    assert f"Added {name} (Branch head)" in text_of(said)
    assert (changed, kept_name, pw, repeat) == (5, "", "", "")
    user = access.get_user(settings, name)
    assert (user.role, user.branches, user.disabled) == ("branch_head", (branch,), False)
    assert access.log_in(settings, name, PASSWORD, "10.9.9.9").name == name
    found = audit.entries(settings, action="user_added", user="admin1", limit=1000)
    entry = next(e for e in found if e["target"] == name)
    assert (entry["target"], entry["address"]) == (name, "10.1.2.3")
    assert entry["detail"] == {"role": "branch_head", "branches": [branch]}
    assert PASSWORD not in json.dumps(entry, default=str)


LONG = "a" * 10_000
BAD_ADDS = [
    (
        "short password",
        dict(password="short", repeat="short"),
        "The password is too short: at least 10 characters.",
    ),
    (
        "repeat differs",
        dict(repeat=PASSWORD + "!"),
        "The two passwords differ: type the same password twice.",
    ),
    ("no password", dict(password="", repeat=""), "Type the password, twice."),
    (
        "branch head without branch",
        dict(role="branch_head", branches=[]),
        "A branch head needs at least one branch: choose it under Branches.",
    ),
    (
        "employee without employee",
        dict(role="employee"),
        "An employee's user needs their employee: choose them under Employee.",
    ),
    ("unknown branch", dict(role="branch_head", branches=["../../etc"]), "no branch '../../etc'"),
    ("unknown employee", dict(employee="e' OR 1=1 --"), 'no employee "e\' OR 1=1 --"'),
    ("unknown role", dict(role="root"), "Role: no role 'root'"),
    ("sql in the name", dict(name="'; drop table users; --"), "User name \"'; drop table users"),
    ("10 kB name", dict(name=LONG), "User name 'aaaaaaaa"),
    ("cyrillic lookalike", dict(name="аdmin2"), "User name 'аdmin2': use 2-64 lower-case"),
    ("name as a list", dict(name=["x"]), "User name: expected text, not list"),
    ("password as a number", dict(password=1234567890123), "Password: expected text, not int"),
    (
        "the name as password",
        dict(name="longername1", password="LongerName1 ", repeat="LongerName1 "),
        "may not be the user name",
    ),
]


@pytest.mark.parametrize(("case", "given", "message"), BAD_ADDS, ids=[b[0] for b in BAD_ADDS])
def test_wrong_input_is_refused_with_its_message_and_nothing_is_made(
    as_viewer: As, settings: Settings, case: str, given: dict[str, Any], message: str
) -> None:
    from dashboards.pages.access import add_user

    form: dict[str, Any] = dict(
        name=unique("bad"),
        role="analyst",
        branches=None,
        employee=None,
        password=PASSWORD,
        repeat=PASSWORD,
    )
    form.update(given)
    before = len(access.list_users(settings))
    logged = len(audit.entries(settings, action="user_added", limit=100_000))
    with as_viewer():
        said, changed, kept, pw, repeat = add_user(
            1,
            form["name"],
            form["role"],
            form["branches"],
            form["employee"],
            form["password"],
            form["repeat"],
            0,
        )
    shown = text_of(said)
    assert message in shown, shown
    assert len(shown) < 300  # one line, a hostile value cut
    assert said.role == "alert"
    assert (pw, repeat) == ("", "")  # never echoed back
    assert changed is kept  # nothing refreshed, the name left to correct
    assert len(access.list_users(settings)) == before
    assert len(audit.entries(settings, action="user_added", limit=100_000)) == logged
    if isinstance(form["name"], str):
        assert not exists(settings, form["name"].strip()[:64])


def test_the_users_table_survives_a_hostile_name(as_viewer: As, settings: Settings) -> None:
    from dashboards.pages.access import add_user

    with as_viewer():
        add_user(1, "x'); DROP TABLE users; --", "analyst", None, None, PASSWORD, PASSWORD, 0)
    assert len(access.list_users(settings)) > 0


# -- changes ---------------------------------------------------------------------------------------


def test_disable_ends_sessions_and_enable_lets_them_back_in(
    as_viewer: As, settings: Settings
) -> None:
    from dashboards.pages.access import disable_user, enable_user, show_target

    name = unique("dis")
    user = access.add_user(settings, name, "executive", PASSWORD)
    for _ in range(2):
        access.open_session(settings, user, "10.0.0.1")
    assert access.live_sessions(settings, name) == 2
    with as_viewer():
        said, changed = disable_user(1, name, 7)
        state = show_target(name, changed)
    assert text_of(said) == f"Disabled {name}; 2 session(s) ended. They cannot log in."
    assert changed == 8
    assert access.get_user(settings, name).disabled
    assert access.live_sessions(settings, name) == 0
    assert state[3] == "Executive · disabled · 0 live sessions"
    assert state[5:] == (True, False)  # Disable greyed, Enable offered
    entry = audit.entries(settings, user="admin1", action="user_disabled", limit=1)[0]
    assert (entry["target"], entry["detail"]) == (name, {"sessions_ended": 2})
    with pytest.raises(access.LoginRefused):
        access.log_in(settings, name, PASSWORD, "10.0.0.1")

    with as_viewer():
        said, _ = enable_user(1, name, 8)
    assert text_of(said) == f"Enabled {name}: they can log in again."
    assert not access.get_user(settings, name).disabled
    assert audit.entries(settings, action="user_enabled", limit=1)[0]["target"] == name
    assert access.log_in(settings, name, PASSWORD, "10.0.0.1").name == name


def test_a_reset_password_ends_sessions_and_is_not_echoed(
    as_viewer: As, settings: Settings
) -> None:
    from dashboards.pages.access import reset_password

    name = unique("pw")
    user = access.add_user(settings, name, "analyst", PASSWORD)
    token = access.open_session(settings, user, "10.0.0.1")
    new = "another long secret"
    with as_viewer():
        said, changed, pw, repeat = reset_password(1, name, new, new, 0)
    assert text_of(said) == f"New password set for {name}; 1 session(s) ended."
    assert (changed, pw, repeat) == (1, "", "")
    assert access.session_user(settings, token) is None
    assert access.log_in(settings, name, new, "10.0.0.2").name == name
    entry = audit.entries(settings, action="user_password", limit=1)[0]
    assert (entry["target"], entry["detail"]) == (name, {"sessions_ended": 1})
    assert new not in json.dumps(entry, default=str)

    with as_viewer():
        said, changed, pw, repeat = reset_password(1, name, "tiny", "tiny", 1)
    assert "too short" in text_of(said)
    assert (changed, pw, repeat) == (no_update, "", "")
    assert access.log_in(settings, name, new, "10.0.0.2").name == name


def test_a_grant_changes_role_and_branches_and_records_the_difference(
    as_viewer: As, settings: Settings, names: tuple[list[str], list[str]]
) -> None:
    from dashboards.pages.access import grant_user

    name = unique("gr")
    access.add_user(settings, name, "analyst", PASSWORD)
    branch = names[0][0]
    with as_viewer():
        said, changed = grant_user(1, name, "branch_head", [branch], None, 2)
        again, unchanged = grant_user(1, name, "branch_head", [branch], None, 3)
    assert text_of(said) == (f"Saved: {name} — role, branches changed. Their next request sees it.")
    assert changed == 3
    user = access.get_user(settings, name)
    assert (user.role, user.branches) == ("branch_head", (branch,))
    entry = audit.entries(settings, action="user_granted", limit=1)[0]
    assert entry["target"] == name
    assert entry["detail"] == {
        "role": {"before": "analyst", "after": "branch_head"},
        "branches": {"before": [], "after": [branch]},
    }
    assert "Nothing to change" in text_of(again)
    assert unchanged == 4


def test_an_admin_may_not_disable_themselves_or_drop_their_own_admin_role(
    as_viewer: As, settings: Settings
) -> None:
    from dashboards.pages.access import disable_user, grant_user

    me = unique("adm")
    access.add_user(settings, me, "admin", PASSWORD)
    with as_viewer(me, "admin"):
        said, _ = disable_user(1, me, 0)
        demoted, _ = grant_user(1, me, "analyst", None, None, 0)
    assert text_of(said) == "You cannot disable yourself: another administrator must."
    assert text_of(demoted) == (
        "You cannot take away your own administrator role: another administrator must."
    )
    user = access.get_user(settings, me)
    assert (user.disabled, user.role) == (False, "admin")
    assert audit.entries(settings, user=me, limit=5) == []


REFUSED_CALLS: list[tuple[str, tuple[Any, ...]]] = [
    ("fill_users", (0,)),
    ("add_role_fields", ("branch_head",)),
    ("grant_role_fields", ("branch_head",)),
    ("pick", ([{"name": "x"}],)),
    ("show_target", ("{victim}", 0)),
    ("add_user", (1, "{new}", "admin", None, None, PASSWORD, PASSWORD, 0)),
    ("grant_user", (1, "{victim}", "admin", None, None, 0)),
    ("reset_password", (1, "{victim}", "hijacked password", "hijacked password", 0)),
    ("disable_user", (1, "{victim}", 0)),
    ("enable_user", (1, "{victim}", 0)),
    ("fill_audit", ("all", None, None, 0)),
    ("export_audit", (1,)),
    ("show_entry", ([{"audit_id": 1}],)),
]


@pytest.mark.parametrize("role", ["analyst", "executive", "branch_head", "employee", None])
def test_nobody_but_an_admin_gets_anything_from_any_callback(
    dash_app: dash.Dash, as_viewer: As, settings: Settings, role: str | None
) -> None:
    from dashboards.access import set_viewer
    from dashboards.pages import access as page

    victim, new = unique("vic"), unique("new")
    access.add_user(settings, victim, "executive", PASSWORD)
    token = access.open_session(settings, access.get_user(settings, victim), None)
    dash_app.server.test_client().get("/_dash-dependencies")  # Dash gathers its callbacks
    registered = {
        c["callback"].__name__
        for c in dash_app.callback_map.values()
        if "callback" in c and c["callback"].__module__ == page.__name__
    }
    assert registered == {name for name, _ in REFUSED_CALLS}  # a new callback is listed here
    secrets = {"victim", victim, "hijacked"}
    for name, args in REFUSED_CALLS:
        given = tuple(a.format(victim=victim, new=new) if isinstance(a, str) else a for a in args)
        with as_viewer("someone", role or "analyst"):
            if role is None:
                set_viewer(None)
            out = getattr(page, name)(*given)
        said = text_of(out)
        assert not any(s in json.dumps(out, default=str) for s in secrets - {"victim"}), name
        if name in {"fill_users", "fill_audit"}:
            assert out[0] == [] and page.REFUSED in said, name
        elif name in {"add_user", "grant_user", "reset_password", "disable_user", "enable_user"}:
            assert page.REFUSED in said, name
        elif name == "export_audit":
            assert out is False
        elif name == "show_entry":
            assert page.REFUSED in said
    user = access.get_user(settings, victim)
    assert (user.role, user.disabled) == ("executive", False)
    assert access.session_user(settings, token) is not None  # no password reset
    assert not exists(settings, new)
    refusals = audit.entries(settings, action="access_refused", limit=5)
    assert refusals[0]["detail"] == {"page": "access", "asked": "enable user"}
    assert refusals[0]["user_name"] == (None if role is None else "someone")


def test_the_layout_is_one_sentence_for_anyone_else_and_the_page_for_an_admin(
    as_viewer: As,
) -> None:
    from dashboards.access import set_viewer
    from dashboards.pages.access import REFUSED, layout

    with as_viewer("someone", "analyst"):
        assert text_of(layout()) == f"Access {REFUSED}"
    with as_viewer():
        whole = layout()
    assert "Add a user" in text_of(whole) and "Audit log" in text_of(whole)
    assert "Add a user" in text_of(layout())  # Dash's check, outside a request
    with as_viewer():
        set_viewer(None)  # Dash's check in the first request, before anyone is known
        empty_page = layout()
    assert "Add a user" in text_of(empty_page)


# -- the audit log ---------------------------------------------------------------------------------


def test_the_audit_grid_filters_by_user_action_and_time(as_viewer: As, settings: Settings) -> None:
    from dashboards.pages.access import fill_audit, show_entry
    from kpiboard import appdb

    who = unique("aud")
    diff = audit.diff("a: 1\n", "a: 2\n", "kpis/x.yaml")
    audit.record(settings, "login", user=who, address="10.5.5.5")
    audit.record(settings, "kpi_saved", user=who, target="kpis/x.yaml", detail={"diff": diff})
    audit.record(settings, "logout", user=who)
    old = access.now() - dt.timedelta(days=3)
    with appdb.shared_engine(settings).begin() as db:  # the login was three days ago
        db.execute(
            appdb.audit_log.update()
            .where(appdb.audit_log.c.user_name == who, appdb.audit_log.c.action == "login")
            .values(at=old)
        )
    with as_viewer():
        week, _ = fill_audit("7d", who, None, 0)
        day, _ = fill_audit("24h", who, None, 0)
        saved, _ = fill_audit("all", who, "kpi_saved", 0)
        nobody, note = fill_audit("24h", who, "login", 0)
        hostile, said = fill_audit("all", who, "drop table", 0)
        alien, told = fill_audit("forever", who, None, 0)
        detail = show_entry([{"audit_id": saved[0]["audit_id"]}])
    assert [r["action"] for r in week] == ["logout", "kpi_saved", "login"]  # newest first
    assert [r["action"] for r in day] == ["logout", "kpi_saved"]
    assert [(r["action"], r["target"], r["summary"]) for r in saved] == [
        ("kpi_saved", "kpis/x.yaml", "diff: (2 lines changed)")
    ]
    assert week[2]["address"] == "10.5.5.5"
    assert week[2]["at__text"] == old.strftime("%Y-%m-%d %H:%M")
    assert nobody == [] and "No entry matches" in text_of(note)
    assert hostile == [] and "Action: no action 'drop table'" in text_of(said)
    assert alien == [] and "Since: no choice 'forever'" in text_of(told)
    shown = text_of(detail)
    assert "-a: 1" in shown and "+a: 2" in shown and "kpis/x.yaml" in shown


def test_a_grant_reads_compactly_in_the_audit_grid() -> None:
    from dashboards.pages.access import summary

    assert (
        summary(
            {
                "role": {"before": "analyst", "after": "branch_head"},
                "branches": {"before": [], "after": ["den", "aus"]},
            }
        )
        == "role: analyst → branch_head; branches: — → den, aus"
    )
    assert summary(None) is None
    long = summary({"params": "x" * 500})
    assert long is not None and len(long) == 160 and long.endswith("…")
