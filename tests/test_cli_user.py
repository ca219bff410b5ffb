"""``kpiboard user …`` and ``kpiboard audit`` as a user runs them, on a copy of the small demo
(its published warehouse checks employee ids and branches), and the demo's own users."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from kpiboard import access, appdb, audit
from kpiboard.cli import app
from kpiboard.cli.user import compact, parse_since
from kpiboard.config import Settings, load_settings
from kpiboard.demo.users import LOGINS_FILE, create_demo_users, read_logins
from kpiboard.errors import UserError
from kpiboard.project import init_project
from tests.test_cli import _environment, _one_error_line

PASSWORD = "a long enough password"


def run(
    project: Path, *args: str, stdin: str | None = None, width: int = 200
) -> subprocess.CompletedProcess[str]:
    """``kpiboard ARGS… -p PROJECT`` in a separate process, ``stdin`` as its input."""
    return subprocess.run(
        [sys.executable, "-m", "kpiboard", *args, "-p", str(project)],
        env={**_environment(), "COLUMNS": str(width)},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def add(project: Path, name: str, *options: str) -> subprocess.CompletedProcess[str]:
    return run(project, "user", "add", name, *options, "--password-stdin", stdin=PASSWORD + "\n")


@pytest.fixture
def project(small_demo: Path, tmp_path: Path) -> Path:
    """The small demo's definitions and warehouse with an app database of its own (no users)."""
    copy = tmp_path / "demo"
    shutil.copytree(
        small_demo,
        copy,
        ignore=shutil.ignore_patterns("sources", "data_docs", "app.sqlite", LOGINS_FILE),
    )
    return copy


def _one(project: Path, sql: str, *params: object) -> tuple[object, ...]:
    con = load_settings(project).open_warehouse().connect()
    try:
        row = con.execute(sql, list(params)).fetchone()
    finally:
        con.close()
    assert row is not None, sql
    return tuple(row)


def _settings(project: Path) -> Settings:
    return load_settings(project)


def _audit_rows(project: Path) -> list[dict[str, object]]:
    with appdb.shared_engine(_settings(project)).connect() as db:
        query = sa.select(appdb.audit_log).order_by(appdb.audit_log.c.audit_id)
        return [dict(r._mapping) for r in db.execute(query)]


# -- user add and user list -----------------------------------------------------------------


def test_added_users_are_listed_in_every_format(project: Path) -> None:
    (seller, seller_name) = _one(
        project,
        "SELECT employee_id, full_name FROM core.dim_employee "
        "WHERE role = 'sales_manager' AND branch_id = 'austin' ORDER BY 1 LIMIT 1",
    )
    assert add(project, "ann", "--role", "admin").stdout == "Added ann: admin\n"
    added = add(
        project,
        "dana",
        "--role",
        "branch_head",
        "-b",
        "denver",
        "-b",
        "austin",
        "--email",
        " dana@acme.example ",
    )
    assert added.returncode == 0, added.stderr
    assert added.stdout == "Added dana: branch_head of austin, denver\n"
    added = add(project, "sam", "--role", "employee", "--employee", str(seller))
    assert added.stdout == f"Added sam: employee (employee {seller})\n"
    assert added.stderr == ""

    listed = run(project, "user", "list", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    for row in rows:
        for key in ("created_at", "password_changed_at"):
            assert abs(dt.datetime.fromisoformat(row.pop(key)) - now) < dt.timedelta(minutes=2)
    blank = {"employee_id": None, "employee_name": None, "disabled": False}
    none = {"live_sessions": 0, "last_login": None}
    assert rows == [
        {"name": "ann", "role": "admin", "email": None, "branches": [], **blank, **none},
        {
            "name": "dana",
            "role": "branch_head",
            "email": "dana@acme.example",
            "branches": ["austin", "denver"],
            **blank,
            **none,
        },
        {
            "name": "sam",
            "role": "employee",
            "email": None,
            "branches": [],
            "employee_id": seller,
            "employee_name": seller_name,
            "disabled": False,
            **none,
        },
    ]

    table = run(project, "user", "list")
    lines = table.stdout.splitlines()
    assert lines[0] == "3 users"
    assert [c.strip() for c in lines[2].strip("┃").split("┃")] == [
        "name",
        "role",
        "email",
        "branches",
        "employee",
        "disabled",
        "created",
        "password changed",
        "sessions",
        "last login",
    ]
    sam = next(line for line in lines if line.startswith("│ sam "))
    assert f"{seller} ({seller_name})" in sam
    assert "│ austin, denver │" in next(line for line in lines if line.startswith("│ dana "))

    listed = run(project, "user", "list", "--format", "csv")
    rows_csv = list(csv.DictReader(io.StringIO(listed.stdout)))
    assert [(r["name"], r["branches"], r["employee_name"]) for r in rows_csv] == [
        ("ann", "", ""),
        ("dana", "austin denver", ""),
        ("sam", "", seller_name),
    ]


def test_list_counts_live_sessions_and_the_last_login(project: Path) -> None:
    add(project, "ann", "--role", "analyst")
    settings = _settings(project)
    user = access.log_in(settings, "ann", PASSWORD, "10.0.0.1")
    access.open_session(settings, user, "10.0.0.1")
    access.open_session(settings, user, "10.0.0.2")
    audit.record(settings, "login", user="ann", address="10.0.0.2")

    [row] = json.loads(run(project, "user", "list", "-f", "json").stdout)
    assert row["live_sessions"] == 2
    last = dt.datetime.fromisoformat(row["last_login"])
    assert abs(last - dt.datetime.now(dt.UTC).replace(tzinfo=None)) < dt.timedelta(minutes=2)


def test_no_users_yet(project: Path) -> None:
    listed = run(project, "user", "list")
    assert listed.stdout.startswith("No users yet: kpiboard user add NAME --role admin")
    assert json.loads(run(project, "user", "list", "-f", "json").stdout) == []


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (
            ("sam", "--role", "boss"),
            "no role 'boss'; roles: admin, executive, analyst, branch_head, employee",
        ),
        (("sam", "--role", "branch_head"), "a branch head needs at least one branch (--branch)"),
        (("sam", "--role", "employee"), "an employee needs their employee id (--employee)"),
        (
            ("sam", "--role", "analyst", "--branch", "denver"),
            "only a branch head is granted branches, not a analyst",
        ),
        (
            ("sam", "--role", "employee", "--employee", "nobody"),
            "no employee 'nobody' in the warehouse (kpiboard sql "
            '"select employee_id, full_name from core.dim_employee" lists them)',
        ),
        (
            ("sam", "--role", "branch_head", "--branch", "denver", "--branch", "denvr"),
            "no branch 'denvr' in the warehouse — did you mean 'denver'? "
            "(branches: austin, denver, portland)",
        ),
        (
            ("\u0430dmin", "--role", "admin"),
            "user name '\u0430dmin': use 2-64 lower-case letters, digits, '.', '_', '@' or '-', "
            "starting with a letter or digit",
        ),
        (
            ("x'; drop table users;--", "--role", "admin"),
            "user name \"x'; drop table users;--\": use 2-64 lower-case letters, digits, '.', "
            "'_', '@' or '-', starting with a letter or digit",
        ),
    ],
)
def test_add_refuses_what_does_not_fit(project: Path, args: tuple[str, ...], error: str) -> None:
    result = add(project, *args)

    assert result.returncode == 2
    assert _one_error_line(result) == f"error: {error}"
    assert json.loads(run(project, "user", "list", "-f", "json").stdout) == []
    assert _audit_rows(project) == []


def test_add_refuses_a_user_twice_and_a_short_password(project: Path) -> None:
    add(project, "ann", "--role", "admin")
    again = add(project, "ann", "--role", "analyst")
    assert _one_error_line(again) == (
        "error: user 'ann' exists already (kpiboard user grant changes a user)"
    )
    short = run(project, "user", "add", "bob", "-r", "admin", "--password-stdin", stdin="short\n")
    assert _one_error_line(short) == "error: the password is too short: at least 10 characters"
    empty = run(project, "user", "add", "bob", "-r", "admin", "--password-stdin", stdin="")
    assert _one_error_line(empty) == (
        "error: --password-stdin: standard input has no password (one line)"
    )


def test_add_warns_of_an_employee_who_has_left(project: Path) -> None:
    (gone,) = _one(project, "SELECT employee_id FROM core.dim_employee WHERE NOT is_active LIMIT 1")
    result = add(project, "old", "--role", "employee", "--employee", str(gone))
    assert result.returncode == 0
    assert result.stderr.startswith(f"warning: employee '{gone}' (")
    assert " has left on " in result.stderr


def test_before_anything_is_published_the_check_is_skipped(tmp_path: Path) -> None:
    init_project(tmp_path / "empty", name="empty")

    result = add(tmp_path / "empty", "sam", "--role", "employee", "--employee", "crm_x:1")
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("warning: ")
    assert "nothing published yet, so the employee id and branches were not checked" in (
        " ".join(result.stderr.split())
    )
    assert access.get_user(load_settings(tmp_path / "empty"), "sam").employee_id == "crm_x:1"


def test_the_password_is_asked_for_twice(project: Path) -> None:
    runner = CliRunner()
    asked = runner.invoke(
        app,
        ["user", "add", "ann", "--role", "executive", "-p", str(project)],
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert asked.exit_code == 0, asked.output
    assert "Password for ann" in asked.output and "The same password again" in asked.output
    assert PASSWORD not in asked.output
    assert access.log_in(_settings(project), "ann", PASSWORD, "10.0.0.1").role == "executive"

    differ = runner.invoke(
        app,
        ["user", "passwd", "ann", "-p", str(project)],
        input="another long password\nanother long passw0rd\n",
    )
    assert isinstance(differ.exception, UserError)
    assert str(differ.exception) == "the two passwords differ: nothing changed"
    assert access.log_in(_settings(project), "ann", PASSWORD, "10.0.0.1").name == "ann"


# -- passwd, disable, enable, grant ---------------------------------------------------------


def test_passwd_ends_the_sessions(project: Path) -> None:
    add(project, "ann", "--role", "analyst")
    settings = _settings(project)
    token = access.open_session(settings, access.get_user(settings, "ann"), "10.0.0.1")

    changed = run(project, "user", "passwd", "ann", "--password-stdin", stdin="new password 2\n")
    assert changed.stdout == "Password of ann changed; 1 session ended\n"
    assert access.session_user(settings, token) is None
    assert access.log_in(settings, "ann", "new password 2", "10.0.0.1").name == "ann"
    with pytest.raises(access.LoginRefused):
        access.log_in(settings, "ann", PASSWORD, "10.0.0.1")
    missing = run(project, "user", "passwd", "nobody", "--password-stdin", stdin="x" * 12)
    assert _one_error_line(missing) == "error: no user 'nobody' (kpiboard user list shows them)"


def test_disable_and_enable(project: Path) -> None:
    add(project, "ann", "--role", "analyst")
    settings = _settings(project)
    token = access.open_session(settings, access.get_user(settings, "ann"), "10.0.0.1")

    assert run(project, "user", "disable", "ann").stdout == "ann disabled; 1 session ended\n"
    assert access.session_user(settings, token) is None
    assert run(project, "user", "disable", "ann").stdout == "ann is disabled already\n"
    [row] = json.loads(run(project, "user", "list", "-f", "json").stdout)
    assert (row["disabled"], row["live_sessions"]) == (True, 0)
    with pytest.raises(access.LoginRefused):
        access.log_in(settings, "ann", PASSWORD, "10.0.0.1")

    assert run(project, "user", "enable", "ann").stdout == "ann enabled\n"
    assert access.log_in(settings, "ann", PASSWORD, "10.0.0.1").disabled is False
    assert [r["action"] for r in _audit_rows(project)] == [
        "user_added",
        "user_disabled",
        "user_enabled",
    ]


def test_grant_changes_role_employee_and_branches(project: Path) -> None:
    (denver_seller,) = _one(
        project, "SELECT employee_id FROM core.dim_employee WHERE branch_id = 'denver' LIMIT 1"
    )
    add(project, "dana", "--role", "analyst")

    granted = run(project, "user", "grant", "dana", "--role", "branch_head", "-b", "denver")
    assert granted.stdout == "dana: analyst → branch_head of denver\n"
    granted = run(project, "user", "grant", "dana", "-b", "portland", "-b", "austin")
    assert granted.stdout == "dana: branch_head of denver → branch_head of austin, portland\n"
    granted = run(project, "user", "grant", "dana", "--role", "employee", "--employee", "nobody")
    assert _one_error_line(granted).startswith("error: no employee 'nobody' in the warehouse")
    granted = run(
        project, "user", "grant", "dana", "--role", "employee", "--employee", str(denver_seller)
    )
    assert granted.stdout == (
        f"dana: branch_head of austin, portland → employee (employee {denver_seller})\n"
    )
    user = access.get_user(_settings(project), "dana")
    assert access.scope_of(user) == {"employee": [denver_seller]}

    granted = run(project, "user", "grant", "dana", "--role", "analyst", "--no-employee")
    assert granted.stdout == f"dana: employee (employee {denver_seller}) → analyst\n"
    unchanged = run(project, "user", "grant", "dana", "--role", "analyst")
    assert unchanged.stdout == "dana: nothing changed (analyst)\n"

    details = [r["detail"] for r in _audit_rows(project) if r["action"] == "user_granted"]
    assert [json.loads(str(d)) for d in details] == [
        {
            "role": {"from": "analyst", "to": "branch_head"},
            "branches": {"from": [], "to": ["denver"]},
        },
        {"branches": {"from": ["denver"], "to": ["austin", "portland"]}},
        {
            "role": {"from": "branch_head", "to": "employee"},
            "employee": {"from": None, "to": denver_seller},
            "branches": {"from": ["austin", "portland"], "to": []},
        },
        {
            "role": {"from": "employee", "to": "analyst"},
            "employee": {"from": denver_seller, "to": None},
        },
    ]


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (
            (),
            "give what to grant: --role, --employee, --no-employee or --branch "
            "(kpiboard user grant dana --role analyst)",
        ),
        (("--role", "branch_head"), "a branch head needs at least one branch (--branch)"),
        (("--role", "employee"), "an employee needs their employee id (--employee)"),
        (
            ("--employee", "x", "--no-employee"),
            "--employee and --no-employee contradict each other: give one",
        ),
        (("--branch", "denver"), "only a branch head is granted branches, not a analyst"),
    ],
)
def test_grant_refuses_what_does_not_fit(project: Path, args: tuple[str, ...], error: str) -> None:
    add(project, "dana", "--role", "analyst")
    result = run(project, "user", "grant", "dana", *args)
    assert result.returncode == 2
    assert _one_error_line(result) == f"error: {error}"
    assert access.get_user(_settings(project), "dana").role == "analyst"


# -- the audit log --------------------------------------------------------------------------


def test_every_change_is_audited_and_no_password_is(project: Path) -> None:
    add(project, "ann", "--role", "analyst")
    run(project, "user", "passwd", "ann", "--password-stdin", stdin="second password\n")
    run(project, "user", "grant", "ann", "--role", "branch_head", "-b", "denver")
    run(project, "user", "disable", "ann")
    run(project, "user", "enable", "ann")

    rows = _audit_rows(project)
    assert [(r["action"], r["target"]) for r in rows] == [
        ("user_added", "ann"),
        ("user_password", "ann"),
        ("user_granted", "ann"),
        ("user_disabled", "ann"),
        ("user_enabled", "ann"),
    ]
    assert {str(r["user_name"]) for r in rows} == {audit.cli_user()}
    assert str(rows[0]["user_name"]).startswith("cli")
    assert json.loads(str(rows[0]["detail"])) == {
        "role": "analyst",
        "employee": None,
        "branches": [],
        "email": None,
    }
    assert json.loads(str(rows[1]["detail"])) == {"sessions_ended": 0}
    dumped = json.dumps(rows, default=str)
    for secret in (PASSWORD, "second password", "$argon2"):
        assert secret not in dumped


def test_audit_filters_by_time_user_and_action(project: Path) -> None:
    settings = _settings(project)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with appdb.shared_engine(settings).begin() as db:
        for days, user, action in ((3, "alice", "login"), (0.5, "bob", "login")):
            db.execute(
                appdb.audit_log.insert().values(
                    at=now - dt.timedelta(days=days), user_name=user, action=action
                )
            )
    audit.record(settings, "download", user="alice", address="10.0.0.9", detail={"format": "pdf"})
    audit.record(settings, "login", user="alice", address="10.0.0.9")

    def actions(*args: str) -> list[tuple[str, str]]:
        result = run(project, "audit", *args, "--format", "json")
        assert result.returncode == 0, result.stderr
        return [(e["user"], e["action"]) for e in json.loads(result.stdout)]

    assert actions("--since", "1d", "--user", "alice") == [
        ("alice", "login"),
        ("alice", "download"),
    ]
    assert actions("--since", "1d") == [("alice", "login"), ("alice", "download"), ("bob", "login")]
    assert actions("--user", "alice", "--action", "login") == [("alice", "login")] * 2
    assert actions("--since", (now - dt.timedelta(days=4)).date().isoformat(), "-n", "10") == [
        ("alice", "login"),
        ("alice", "download"),
        ("bob", "login"),
        ("alice", "login"),
    ]
    assert actions("--since", "2h", "--limit", "1") == [("alice", "login")]

    [download] = json.loads(run(project, "audit", "--action", "download", "-f", "json").stdout)
    assert (download["address"], download["detail"]) == ("10.0.0.9", {"format": "pdf"})
    table = run(project, "audit", "--action", "download").stdout.splitlines()
    assert table[0] == "1 entry, newest first"
    assert "│ alice │ 10.0.0.9 │ download │        │ format=pdf │" in table[4]
    csv_rows = list(csv.DictReader(io.StringIO(run(project, "audit", "-f", "csv").stdout)))
    assert csv_rows[1]["detail"] == '{"format":"pdf"}'


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (
            ("--since", "yesterday"),
            "--since 'yesterday': give a date or time in UTC (2026-12-01, 2026-12-01T09:30) or "
            "an age (7d, 24h, 30m)",
        ),
        (
            ("--since", "7w"),
            "--since '7w': give a date or time in UTC (2026-12-01, 2026-12-01T09:30) or an age "
            "(7d, 24h, 30m)",
        ),
        (("--action", "logn"), "--action 'logn': no such action — did you mean 'login'?"),
    ],
)
def test_audit_refuses_a_bad_filter(project: Path, args: tuple[str, ...], error: str) -> None:
    result = run(project, "audit", *args)
    assert result.returncode == 2
    assert _one_error_line(result).startswith(f"error: {error}")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7d", dt.datetime(2026, 11, 24, 12, 0)),
        ("24h", dt.datetime(2026, 11, 30, 12, 0)),
        ("30m", dt.datetime(2026, 12, 1, 11, 30)),
        ("2026-11-15", dt.datetime(2026, 11, 15)),
        ("2026-11-15T08:30", dt.datetime(2026, 11, 15, 8, 30)),
        ("2026-11-15 08:30:00+02:00", dt.datetime(2026, 11, 15, 6, 30)),
    ],
)
def test_since_reads_a_time_or_an_age(text: str, expected: dt.datetime) -> None:
    assert parse_since(text, dt.datetime(2026, 12, 1, 12, 0)) == expected


def test_compact_detail() -> None:
    assert compact(None) == ""
    assert compact({"report": "aging", "params": {"as_of": "2026-03-31"}}) == (
        'report=aging, params={"as_of":"2026-03-31"}'
    )
    assert compact({"diff": "--- a\n+++ b\n-x\n+y"}) == "diff=(4 lines)"
    assert compact({"role": {"from": None, "to": "analyst"}}) == "role=—→analyst"
    assert compact({"text": "x" * 500}).endswith("x…")
    assert len(compact({"text": "x" * 500})) == 160


# -- the demo's users -----------------------------------------------------------------------


def test_the_demo_made_a_user_per_role(small_demo: Path, tmp_path: Path) -> None:
    copy = tmp_path / "demo"
    shutil.copytree(small_demo, copy, ignore=shutil.ignore_patterns("sources", "data_docs"))
    _check_demo_users(copy)


def test_demo_users_made_kept_and_made_again(project: Path) -> None:
    settings = _settings(project)
    url = "http://127.0.0.1:8050/login"

    first = create_demo_users(settings, url)
    assert [(d.user.name, d.added) for d in first] == [
        ("admin", True),
        ("executive", True),
        ("analyst", True),
        ("denver-head", True),
        ("denver-sales", True),
    ]
    passwords = _check_demo_users(project)
    assert {d.user.name: d.password for d in first} == passwords
    assert len(set(passwords.values())) == 5

    again = create_demo_users(settings, url)  # the demo built again over the same folder
    assert [d.added for d in again] == [False] * 5
    assert {d.user.name: d.password for d in again} == passwords
    assert [r["action"] for r in _audit_rows(project)] == ["user_added"] * 5

    (project / "app.sqlite").unlink()  # the app database lost: the users come back as they were
    appdb._shared.clear()
    create_demo_users(settings, url)
    assert _check_demo_users(project) == passwords

    access.set_password(settings, "admin", "changed by someone")
    (project / LOGINS_FILE).unlink()
    kept = {d.user.name: d.password for d in create_demo_users(settings, url)}
    assert kept == dict.fromkeys(passwords)  # the users keep the passwords they have
    assert access.log_in(settings, "admin", "changed by someone", "10.0.0.1").name == "admin"
    text = (project / LOGINS_FILE).read_text(encoding="utf-8")
    assert "# admin: password unknown; kpiboard user passwd admin" in text


def test_a_demo_user_changed_is_put_back(project: Path) -> None:
    settings = _settings(project)
    create_demo_users(settings, "http://x/login")
    access.grant(settings, "denver-head", branches=["austin"])

    [head] = [d for d in create_demo_users(settings, "http://x/login") if d.regranted]
    assert head.user.name == "denver-head"
    assert access.get_user(settings, "denver-head").branches == ("denver",)
    assert json.loads(str(_audit_rows(project)[-1]["detail"])) == {
        "branches": {"from": ["austin"], "to": ["denver"]}
    }


def _check_demo_users(project: Path) -> dict[str, str]:
    """The demo's users are there with their grants, their logins file is private and its
    passwords log in; the passwords."""
    settings = _settings(project)
    users = {u.name: u for u in access.list_users(settings)}
    assert {n: u.role for n, u in users.items()} == {
        "admin": "admin",
        "analyst": "analyst",
        "denver-head": "branch_head",
        "denver-sales": "employee",
        "executive": "executive",
    }
    assert access.scope_of(users["denver-head"]) == {"branch": ["denver"]}
    seller = users["denver-sales"].employee_id
    assert seller is not None
    assert _one(
        project,
        "SELECT branch_id, role, is_active FROM core.dim_employee WHERE employee_id = ?",
        seller,
    ) == ("denver", "sales_manager", True)
    (first_seller,) = _one(
        project,
        "SELECT min(employee_id) FROM core.dim_employee WHERE branch_id = 'denver' "
        "AND role = 'sales_manager' AND is_active AND left_on IS NULL",
    )
    assert seller == first_seller
    (head,) = _one(project, "SELECT head_id FROM core.dim_branch WHERE branch_id = 'denver'")
    assert users["denver-head"].employee_id == head

    logins = project / LOGINS_FILE
    assert stat.S_IMODE(logins.stat().st_mode) == 0o600
    passwords = read_logins(logins)
    assert set(passwords) == set(users)
    for name, password in passwords.items():
        assert access.log_in(settings, name, password, "10.0.0.1").name == name
    return passwords
