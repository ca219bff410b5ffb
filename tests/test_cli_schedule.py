"""``kpiboard schedule …``, ``kpiboard scheduler`` and ``kpiboard user email`` as a person runs
them: separate processes on the small demo (read only: its published warehouse checks reports
and parameters), each test with an app database of its own, and a real SMTP server on loopback
(aiosmtpd) where mail is sent."""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kpiboard import access, appdb, audit
from kpiboard.config import Settings, load_settings
from reports import schedules
from tests.test_cli import _environment, _one_error_line

PASSWORD = "a long enough password"
EMAIL_OF = {"dana": "dana@acme.example", "ann": "ann@acme.example"}


class Cli:
    """``kpiboard ARGS… -p DEMO`` with this test's environment: its app database, its SMTP
    server (when there is one), a wide terminal."""

    def __init__(self, project: Path, env: dict[str, str]) -> None:
        self.project = project
        self.env = env
        self.settings: Settings = load_settings(project, env=env)

    def __call__(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "kpiboard", *args, "-p", str(self.project)],
            env={**_environment(), "COLUMNS": "200", **self.env},
            input=stdin,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )

    def json(self, *args: str) -> Any:
        done = self(*args, "--format", "json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def saved(self) -> list[str]:
        return [s.name for s in schedules.list_schedules(self.settings)]


def _users(settings: Settings) -> None:
    """A Denver branch head and an admin with addresses, and an analyst without one."""
    access.add_user(
        settings, "dana", "branch_head", PASSWORD, branches=["denver"], email=EMAIL_OF["dana"]
    )
    access.add_user(settings, "ann", "admin", PASSWORD, email=EMAIL_OF["ann"])
    access.add_user(settings, "nomail", "analyst", PASSWORD)


@pytest.fixture
def cli(small_demo: Path, tmp_path: Path) -> Cli:
    """The small demo with an app database of this test's own, and three users."""
    env = {"KPIBOARD_APP_DATABASE_URL": f"sqlite:///{tmp_path / 'app.sqlite'}"}
    made = Cli(small_demo, env)
    _users(made.settings)
    return made


@pytest.fixture
def mailing(small_demo: Path, tmp_path: Path, smtp_server: Any) -> tuple[Cli, Any]:
    """:func:`cli` sending through the loopback SMTP server, with a day's grace for slots."""
    env = {
        "KPIBOARD_APP_DATABASE_URL": f"sqlite:///{tmp_path / 'app.sqlite'}",
        "KPIBOARD_SMTP_HOST": smtp_server.host,
        "KPIBOARD_SMTP_PORT": str(smtp_server.port),
        "KPIBOARD_SMTP_FROM_ADDRESS": "Reports <reports@acme.example>",
        "KPIBOARD_SCHEDULER_GRACE_MINUTES": "2000",
        "KPIBOARD_SCHEDULER_MAX_ATTEMPTS": "1",
    }
    made = Cli(small_demo, env)
    _users(made.settings)
    return made, smtp_server


def _add(cli: Cli, name: str, *options: str) -> subprocess.CompletedProcess[str]:
    done = cli("schedule", "add", "--name", name, *options)
    assert done.returncode == 0, done.stderr
    return done


# -- add, list, show, edit, pause, resume, remove --------------------------------------------


def test_a_schedule_goes_round_trip(cli: Cli) -> None:
    added = _add(
        cli,
        "monday-pack",
        "--report",
        "sales_by_period",
        "--param",
        "period=last_week",
        "--param",
        "grain=week",
        "--report",
        "sales_breakdown",
        "--param",
        "period=last_month",
        "--to",
        "dana",
        "--to",
        "cfo@acme.example:all",
        "--cron",
        "0 8 * * MON",
        "--tz",
        "America/Denver",
        "--format",
        "xlsx",
        "--owner",
        "ann",
    )
    assert re.fullmatch(
        r"Added monday-pack: Mondays at 08:00 \(America/Denver\), 2 recipients; "
        r"next \d{4}-\d\d-\d\d 08:00 M[SD]T\n",
        added.stdout,
    ), added.stdout

    [listed] = cli.json("schedule", "list")
    assert listed == {
        "name": "monday-pack",
        "reports": [
            "sales_by_period period=last_week grain=week",
            "sales_breakdown period=last_month",
        ],
        "recipients": 2,
        "when": "Mondays at 08:00 (America/Denver)",
        "cron": "0 8 * * MON",
        "timezone": "America/Denver",
        "next": listed["next"],
        "format": "xlsx",
        "paused": False,
        "last_slot": None,
        "last_status": None,
    }
    next_local = dt.datetime.strptime(listed["next"][:16], "%Y-%m-%d %H:%M")
    assert next_local.weekday() == 0 and next_local.hour == 8

    [shown] = cli.json("schedule", "show", "monday-pack")
    assert shown["reports"] == [
        {"report": "sales_by_period", "params": {"period": "last_week", "grain": "week"}},
        {"report": "sales_breakdown", "params": {"period": "last_month"}},
    ]
    assert shown["recipients"] == [
        {
            "recipient": "dana",
            "kind": "user",
            "address": "dana@acme.example",
            "scope": "branch=denver",
            "problem": None,
        },
        {
            "recipient": "cfo@acme.example:all",
            "kind": "address",
            "address": "cfo@acme.example",
            "scope": "all",
            "problem": None,
        },
    ]
    assert (shown["owner"], shown["scope"], shown["paused"]) == (
        "ann",
        "each recipient's own",
        False,
    )
    assert shown["next_slots"][0] == listed["next"]
    slots = [dt.datetime.strptime(t[:16], "%Y-%m-%d %H:%M") for t in shown["next_slots"]]
    assert [b - a for a, b in itertools.pairwise(slots)] == [dt.timedelta(days=7)] * 4
    assert shown["created_by"] == audit.cli_user()

    edited = cli(
        "schedule",
        "edit",
        "monday-pack",
        "--cron",
        "30 7 * * TUE",
        "--remove-to",
        "cfo@acme.example",
        "--add-to",
        "ops@acme.example:branch=denver",
        "--param",
        "sales_breakdown.group_by=manager",
        "--param",
        "sales_by_period.grain=",
    )
    assert edited.returncode == 0, edited.stderr
    assert edited.stdout.startswith("Changed monday-pack (reports, to, cron): Tuesdays at 07:30")
    [shown] = cli.json("schedule", "show", "monday-pack")
    assert shown["reports"] == [
        {"report": "sales_by_period", "params": {"period": "last_week"}},
        {"report": "sales_breakdown", "params": {"period": "last_month", "group_by": "manager"}},
    ]
    assert [r["recipient"] for r in shown["recipients"]] == [
        "dana",
        "ops@acme.example:branch=denver",
    ]
    assert shown["cron"] == "30 7 * * TUE"

    renamed = cli(
        "schedule", "edit", "monday-pack", "--name", "tuesday-pack", "--schedule-scope", "all"
    )
    assert renamed.returncode == 0, renamed.stderr
    [shown] = cli.json("schedule", "show", "tuesday-pack")
    assert shown["scope"] == "all"
    assert {r["scope"] for r in shown["recipients"]} == {"all"}

    assert cli("schedule", "pause", "tuesday-pack").stdout == "tuesday-pack paused\n"
    [listed] = cli.json("schedule", "list")
    assert (listed["paused"], listed["next"]) == (True, None)
    [shown] = cli.json("schedule", "show", "tuesday-pack")
    assert shown["next_slots"] == []
    assert cli("schedule", "pause", "tuesday-pack").stdout == "tuesday-pack is paused already\n"
    assert cli("schedule", "resume", "tuesday-pack").stdout.startswith("tuesday-pack resumed: ")
    assert cli.json("schedule", "list")[0]["paused"] is False

    declined = cli("schedule", "remove", "tuesday-pack", stdin="n\n")
    assert (declined.returncode, cli.saved()) == (1, ["tuesday-pack"])
    removed = cli("schedule", "remove", "tuesday-pack", "--yes")
    assert (removed.stdout, cli.saved()) == ("Removed tuesday-pack\n", [])
    assert cli("schedule", "list").stdout.startswith("No schedules yet")

    actions = [
        (e["action"], e["target"], e["user_name"])
        for e in reversed(audit.entries(cli.settings))
        if e["action"].startswith("schedule_")
    ]
    by = audit.cli_user()
    assert actions == [
        ("schedule_added", "monday-pack", by),
        ("schedule_changed", "monday-pack", by),
        ("schedule_changed", "tuesday-pack", by),
        ("schedule_paused", "tuesday-pack", by),
        ("schedule_resumed", "tuesday-pack", by),
        ("schedule_removed", "tuesday-pack", by),
    ]


def test_params_belong_to_the_report_before_them_or_the_one_they_name(cli: Cli) -> None:
    _add(
        cli,
        "named",
        "--param",
        "sales_breakdown.group_by=segment",
        "--report",
        "sales_by_period",
        "--param",
        "grain=quarter",
        "--report",
        "sales_breakdown",
        "--param",
        "period=last_quarter",
        "--to",
        "ann",
        "--cron",
        "@daily",
    )
    [shown] = cli.json("schedule", "show", "named")
    assert shown["reports"] == [
        {"report": "sales_by_period", "params": {"grain": "quarter"}},
        {"report": "sales_breakdown", "params": {"group_by": "segment", "period": "last_quarter"}},
    ]
    assert shown["timezone"] == cli.settings.project.timezone  # --tz defaults to the project's
    assert shown["format"] == "pdf"


# -- mistakes: one line each, nothing saved ----------------------------------------------------


GOOD = {
    "--name": "ok-name",
    "--report": "sales_by_period",
    "--to": "dana",
    "--cron": "0 8 * * MON",
    "--tz": "America/Denver",
}


def _options(**changed: str) -> list[str]:
    given = {**GOOD, **{f"--{k.replace('_', '-')}": v for k, v in changed.items()}}
    return [part for key, value in given.items() for part in (key, value)]


BAD = [
    pytest.param(
        _options(report="sales_by_perod"),
        "error: no report 'sales_by_perod' — did you mean 'sales_by_period'? "
        "(`kpiboard report list` lists them)",
        id="unknown-report",
    ),
    pytest.param(
        [*_options(), "--param", "perio=last_week"],
        "has no parameter 'perio' — did you mean 'period'?",
        id="unknown-param",
    ),
    pytest.param(
        [*_options(), "--param", "period=next_century"],
        "parameter 'period': 'next_century' is not a period",
        id="bad-param-value",
    ),
    pytest.param(
        [*_options(), "--param", "period"],
        "error: parameter 'period': write it as name=value",
        id="param-without-value",
    ),
    pytest.param(
        _options(cron="0 8 * * MOM"),
        "error: cron '0 8 * * MOM': day of week: unknown name 'MOM' (mon, tue, … sun)",
        id="bad-cron",
    ),
    pytest.param(
        _options(cron="61 8 * * *"),
        "error: cron '61 8 * * *': minute",
        id="minute-out-of-range",
    ),
    pytest.param(
        _options(tz="America/Denvr"),
        "error: time zone 'America/Denvr' is not an IANA zone — did you mean 'America/Denver'?",
        id="bad-zone",
    ),
    pytest.param(
        _options(to="nomail"),
        "error: recipient 'nomail' has no email address (`kpiboard user email nomail ADDRESS` "
        "sets one)",
        id="user-without-email",
    ),
    pytest.param(
        _options(to="bob"),
        "error: recipient 'bob': no user 'bob'",
        id="unknown-user",
    ),
    pytest.param(
        _options(to="cfo@acme.example"),
        "error: recipient cfo@acme.example: name the data an address may see "
        "(cfo@acme.example:all, cfo@acme.example:branch=ID)",
        id="address-without-scope",
    ),
    pytest.param(
        _options(to="cfo@acme:all"),
        "error: recipient 'cfo@acme:all': 'cfo@acme' is not an email address",
        id="bad-address",
    ),
    pytest.param(
        _options(to="ops@acme.example:region=west"),
        "scope 'region=west' is not one of: all, branch=ID[,ID…], employee=ID[,ID…]",
        id="bad-address-scope",
    ),
    pytest.param(
        _options(report="freshness_by_source"),
        "error: report 'freshness_by_source' shows company-wide data; a recipient who sees "
        "branch=denver cannot receive it",
        id="company-report-to-a-branch-head",
    ),
    pytest.param(
        [
            "--name",
            "two",
            "--param",
            "period=last_week",
            "--report",
            "sales_by_period",
            "--report",
            "sales_breakdown",
            "--to",
            "ann",
            "--cron",
            "@daily",
        ],
        "error: --param 'period=last_week' comes before any --report",
        id="param-before-two-reports",
    ),
    pytest.param(
        [*_options(), "--param", "sales_breakdown.period=last_week"],
        "error: --param 'sales_breakdown.period=last_week': no --report 'sales_breakdown' here",
        id="param-naming-a-report-not-given",
    ),
    pytest.param(
        [*_options(), "--schedule-scope", "region=west"],
        "error: --schedule-scope: scope 'region=west' is not one of",
        id="bad-schedule-scope",
    ),
    pytest.param(
        [*_options(), "--owner", "nobody-here"],
        "error: owner: no user 'nobody-here'",
        id="unknown-owner",
    ),
    pytest.param(
        [*_options(), "--to", "dana"],
        "error: a recipient is named twice",
        id="recipient-twice",
    ),
    pytest.param(
        [*_options(), "--report", "page:/nowhere"],
        "error: no dashboard page 'page:/nowhere' to print",
        id="unknown-page",
    ),
    pytest.param(
        [o for o in _options() if o not in ("--cron", "0 8 * * MON")],
        'error: give when it is sent: --cron "0 8 * * MON" (Mondays at 08:00)',
        id="no-cron",
    ),
    *(
        pytest.param(
            _options(name=hostile),
            f"error: name {hostile if len(hostile) <= 60 else hostile[:60] + '…'!r}:",
            id=f"hostile-name-{i}",
        )
        for i, hostile in enumerate(
            ["../etc/passwd", "Monday", "a b", "x" * 200, "evil\nerror: forged", "\x1b[31mred", "-"]
        )
    ),
]


@pytest.mark.parametrize(("options", "message"), BAD)
def test_a_mistake_is_one_line_and_nothing_is_saved(
    cli: Cli, options: list[str], message: str
) -> None:
    done = cli("schedule", "add", *options)
    line = _one_error_line(done)
    assert message in line, line
    assert done.returncode == 2
    assert done.stdout == ""
    assert cli.saved() == []
    assert not [e for e in audit.entries(cli.settings) if e["action"] == "schedule_added"]


def test_a_name_is_taken_once_and_an_edit_is_checked_as_a_whole(cli: Cli) -> None:
    _add(cli, "daily", *_options()[2:])
    again = cli("schedule", "add", *_options(name="daily"))
    assert _one_error_line(again) == "error: schedule 'daily' exists already"
    _add(cli, "other", *_options()[2:])
    before = cli.json("schedule", "show", "daily")

    for options, message in (
        (["--name", "other"], "error: schedule 'other' exists already"),
        (["--tz", "Mars/Olympus"], "error: time zone 'Mars/Olympus' is not an IANA zone"),
        (["--add-to", "nomail"], "error: recipient 'nomail' has no email address"),
        (["--add-to", "dana"], "error: --add-to 'dana': a recipient already"),
        (["--remove-to", "ann"], "error: --remove-to 'ann': not a recipient (they are: dana)"),
        (["--report", "freshness_by_source"], "shows company-wide data"),
        ([], "error: give what to change: --report"),
    ):
        done = cli("schedule", "edit", "daily", *options)
        assert message in _one_error_line(done), (options, done.stderr)
    assert cli.json("schedule", "show", "daily") == before

    missing = cli("schedule", "show", "daly")
    assert _one_error_line(missing) == (
        "error: no schedule 'daly' — did you mean 'daily'? (`kpiboard schedule list` lists them)"
    )


# -- user email ------------------------------------------------------------------------------


def test_user_email_sets_and_clears_an_address_and_is_audited(cli: Cli) -> None:
    set_ = cli("user", "email", "nomail", " Nora@Acme.example ")
    assert set_.stdout == "nomail: no email address → Nora@Acme.example\n"
    assert access.get_user(cli.settings, "nomail").email == "Nora@Acme.example"
    assert cli("user", "email", "nomail", "Nora@Acme.example").stdout == (
        "nomail: nothing changed (Nora@Acme.example)\n"
    )
    cleared = cli("user", "email", "nomail", "--clear")
    assert cleared.stdout == "nomail: Nora@Acme.example → no email address\n"
    assert access.get_user(cli.settings, "nomail").email is None

    for args, message in (
        (["nomail", "not-an-address"], "error: 'not-an-address' is not an email address"),
        (["nomail", "a@b.example\nBcc: x@y.example"], "is not an email address"),
        (["nomail"], "error: give the address (kpiboard user email nomail dana@acme.com)"),
        (["nomail", "a@b.example", "--clear"], "error: give an address or --clear, not both"),
        (["nobody", "a@b.example"], "error: no user 'nobody'"),
    ):
        assert message in _one_error_line(cli("user", "email", *args)), args
    assert access.get_user(cli.settings, "nomail").email is None

    details = [
        e["detail"]
        for e in reversed(audit.entries(cli.settings))
        if e["action"] == "user_granted" and e["target"] == "nomail"
    ]
    assert details == [
        {"email": {"from": None, "to": "Nora@Acme.example"}},
        {"email": {"from": "Nora@Acme.example", "to": None}},
    ]

    added = cli(
        "user",
        "add",
        "eve",
        "--role",
        "analyst",
        "--email",
        "eve@acme.example",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert added.returncode == 0, added.stderr
    listed = {u["name"]: u["email"] for u in cli.json("user", "list")}
    assert listed == {
        "ann": "ann@acme.example",
        "dana": "dana@acme.example",
        "eve": "eve@acme.example",
        "nomail": None,
    }
    refused = cli(
        "user",
        "add",
        "fay",
        "--role",
        "analyst",
        "--email",
        "fay at acme",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert "'fay at acme' is not an email address" in _one_error_line(refused)
    assert "fay" not in {u.name for u in access.list_users(cli.settings)}


# -- sending: run-now, history, scheduler, resend ----------------------------------------------


def _recipients_of(server: Any) -> list[str]:
    return sorted(rcpt for message in server.messages for rcpt in message.rcpt_tos)


def test_run_now_sends_and_history_reads_in_three_formats(mailing: tuple[Cli, Any]) -> None:
    cli, server = mailing
    _add(
        cli,
        "now",
        *_options()[2:],
        "--param",
        "period=last_month",
        "--to",
        "ops@acme.example:all",
        "--format",
        "html",
    )
    sent = cli("schedule", "run-now", "now")
    assert sent.returncode == 0, sent.stderr
    lines = sent.stdout.splitlines()
    assert lines[:2] == ["ops@acme.example: sent", "dana <dana@acme.example>: sent"]
    assert re.fullmatch(r"now \d{4}-\d\d-\d\d \d\d:\d\d UTC: done \(2 sent\)", lines[2])
    assert _recipients_of(server) == ["dana@acme.example", "ops@acme.example"]

    rows = cli.json("schedule", "history", "now")
    assert [(r["recipient"], r["address"], r["status"], r["attempts"]) for r in rows] == [
        ("ops@acme.example", "ops@acme.example", "sent", 1),
        ("dana", "dana@acme.example", "sent", 1),
    ]
    slot_at = dt.datetime.fromisoformat(rows[0]["slot_at"])
    assert abs(slot_at - schedules.now()) < dt.timedelta(minutes=3)
    assert rows[0]["slot"] == schedules.local_text(slot_at, "America/Denver")
    assert all(r["manual"] and not r["late"] and r["error"] is None for r in rows)
    assert {r["message_id"] for r in rows} == {m.message["Message-ID"] for m in server.messages}

    table = cli("schedule", "history")
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[0] == "2 deliveries, newest first"
    dana = next(line for line in table.stdout.splitlines() if "│ dana " in line)
    assert "│ sent " in dana and "(run now)" in dana and "dana@acme.example" in dana

    listed = list(csv.DictReader(io.StringIO(cli("schedule", "history", "-f", "csv").stdout)))
    assert [(r["recipient"], r["status"], r["late"]) for r in listed] == [
        ("ops@acme.example", "sent", "False"),
        ("dana", "sent", "False"),
    ]
    assert listed[0]["slot"] == rows[0]["slot"]
    [last] = cli.json("schedule", "list")
    assert (last["last_slot"], last["last_status"]) == (rows[0]["slot"], "done")
    assert cli("schedule", "history", "-n", "1", "-f", "json").stdout.count('"recipient"') == 1


def _due_daily(cli: Cli, name: str) -> dt.datetime:
    """Make the daily 03:00 UTC schedule ``name`` due: its active_from a minute before its
    latest slot (what a scheduler down since then finds). Returns that slot."""
    now = schedules.now()
    slot = now.replace(hour=3, minute=0, second=0)
    if slot > now:
        slot -= dt.timedelta(days=1)
    table = appdb.schedules
    with appdb.shared_engine(cli.settings).begin() as db:
        db.execute(
            table.update()
            .where(table.c.name == name)
            .values(active_from=slot - dt.timedelta(minutes=1))
        )
    return slot


LOG_LINE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ (INFO|WARNING|ERROR) .+")


def test_scheduler_once_sends_a_due_slot_exactly_once(mailing: tuple[Cli, Any]) -> None:
    cli, server = mailing
    _add(
        cli,
        "daily",
        "--report",
        "sales_by_period",
        "--to",
        "dana",
        "--to",
        "ann",
        "--cron",
        "0 3 * * *",
        "--tz",
        "UTC",
        "--format",
        "xlsx",
    )
    slot = _due_daily(cli, "daily")

    once = cli("scheduler", "--once")
    assert once.returncode == 0, once.stderr
    lines = [line for line in once.stderr.splitlines() if LOG_LINE.fullmatch(line)]
    messages = [line.split(" ", 2)[2] for line in lines]
    assert messages[0] == (
        f"scheduler: SMTP {server.host}:{server.port}, from Reports <reports@acme.example>; "
        "1 schedule (0 paused); a tick every 20s"
    )
    late = " (late)" if schedules.now() - slot > dt.timedelta(minutes=5) else ""
    assert f"daily: slot {slot:%Y-%m-%d %H:%M} UTC opened{late}" in messages
    assert "daily: ann <ann@acme.example>: sent" in messages
    assert "daily: dana <dana@acme.example>: sent" in messages
    assert f"daily {slot:%Y-%m-%d %H:%M} UTC: done (2 sent)" in messages
    assert messages[-1] == "scheduler: one tick: 1 slot opened, 1 delivered"
    assert _recipients_of(server) == ["ann@acme.example", "dana@acme.example"]
    attachments = [
        part.get_filename() for m in server.messages for part in m.message.iter_attachments()
    ]
    assert len(attachments) == 2 and all(name.endswith(".xlsx") for name in attachments)

    again = cli("scheduler", "--once")
    assert again.returncode == 0, again.stderr
    assert "scheduler: one tick: 0 slots opened, 0 delivered" in again.stderr
    assert len(server.messages) == 2
    rows = schedules.history(cli.settings, "daily")
    assert [(r["slot_at"], r["status"]) for r in rows] == [(slot, "sent")] * 2


def test_scheduler_once_exits_4_on_a_failure_and_resend_sends_it(
    mailing: tuple[Cli, Any],
) -> None:
    cli, server = mailing
    _add(
        cli,
        "daily",
        "--report",
        "sales_by_period",
        "--to",
        "dana",
        "--cron",
        "0 3 * * *",
        "--tz",
        "UTC",
        "--format",
        "html",
    )
    slot = _due_daily(cli, "daily")
    server.fail_rcpt(550, times=10)

    once = cli("scheduler", "--once")
    assert once.returncode == 4, once.stderr
    failed = [
        line
        for line in once.stderr.splitlines()
        if "daily: dana <dana@acme.example>: failed" in line
    ]
    assert len(failed) == 1 and " WARNING " in failed[0] and "550" in failed[0]
    assert "1 failed or unknown" in once.stderr.splitlines()[-1]
    assert server.messages == []

    server.fail_rcpt(550, times=0)
    nothing = cli("schedule", "resend", "daily", "--to", "ann")
    assert nothing.stdout == "Nothing to resend: no failed or unknown delivery of daily to ann\n"
    wrong = cli("schedule", "resend", "daily", "--slot", "yesterday")
    assert "write it as YYYY-MM-DD HH:MM in the schedule's zone (UTC)" in _one_error_line(wrong)

    resent = cli("schedule", "resend", "daily", "--to", "dana", "--slot", f"{slot:%Y-%m-%d %H:%M}")
    assert resent.returncode == 0, resent.stderr
    assert resent.stdout == f"{slot:%Y-%m-%d %H:%M} UTC: dana <dana@acme.example>: sent\n"
    assert _recipients_of(server) == ["dana@acme.example"]
    [row] = schedules.history(cli.settings, "daily")
    assert (row["status"], row["error"]) == ("sent", None)


def test_run_now_exits_4_when_a_recipient_is_refused(mailing: tuple[Cli, Any]) -> None:
    cli, server = mailing
    _add(cli, "refused", *_options()[2:], "--format", "html")
    server.fail_rcpt(550, times=5)
    done = cli("schedule", "run-now", "refused")
    assert done.returncode == 4, done.stderr
    first = done.stdout.splitlines()[0]
    assert first.startswith("dana <dana@acme.example>: failed: ") and "550" in first
    assert done.stdout.splitlines()[1].endswith(": failed (1 failed): " + first.split(": ", 2)[2])
    assert not [m for m in server.messages if "dana@acme.example" in m.rcpt_tos]


def test_unknown_schedules_are_one_line_everywhere(cli: Cli) -> None:
    for args in (
        ("schedule", "show", "ghost"),
        ("schedule", "edit", "ghost", "--cron", "@daily"),
        ("schedule", "pause", "ghost"),
        ("schedule", "resume", "ghost"),
        ("schedule", "remove", "ghost", "--yes"),
        ("schedule", "run-now", "ghost"),
        ("schedule", "history", "ghost"),
        ("schedule", "resend", "ghost"),
    ):
        done = cli(*args)
        assert _one_error_line(done).startswith("error: no schedule 'ghost'"), args
        assert done.returncode == 2


def test_scheduler_says_when_the_settings_are_wrong(small_demo: Path, tmp_path: Path) -> None:
    env = {
        "KPIBOARD_APP_DATABASE_URL": f"sqlite:///{tmp_path / 'app.sqlite'}",
        "KPIBOARD_SMTP_PORT": "seventy",
    }
    done = Cli.__new__(Cli)
    done.project, done.env = small_demo, env
    result = done("scheduler", "--once")
    assert result.returncode == 2
    assert "[smtp] port" in _one_error_line(result)
