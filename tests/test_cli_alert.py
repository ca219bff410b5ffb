"""``kpiboard alert …`` as a user runs it, in a separate process, on the small project of the
alerts' tests: add, list, check (which prints what it would mail), history, remove — and
hostile names and thresholds refused in one line, adding nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kpiboard.config import Settings
from reports import alerts
from tests.reports.conftest import republish
from tests.reports.test_alerts import OWNER, RUNS, invoices, new_project
from tests.test_cli import _environment, _one_error_line


def run(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``kpiboard ARGS… -p PROJECT`` in a separate process."""
    return subprocess.run(
        [sys.executable, "-m", "kpiboard", *args, "-p", str(project)],
        env={**_environment(), "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return new_project(tmp_path_factory.mktemp("cli") / "office")


RED = ("--name", "denver-red", "--kpi", "revenue", "--rule", "below_red", "--branch", "denver")


def test_add_check_history_and_remove(tmp_path: Path) -> None:
    settings = new_project(tmp_path / "office")
    project = settings.project_dir
    added = run(project, "alert", "add", *RED, "--owner", OWNER)
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == (
        f"Added alert denver-red: revenue (branch denver) red against plan (month) → {OWNER}"
    )
    swing = ("--name", "swing", "--kpi", "revenue", "--rule", "change", "-t", "20%", "-b", "denver")
    assert run(project, "alert", "add", *swing, "-o", OWNER, "-o", OWNER).returncode == 0
    assert alerts.get(settings, "swing").owners == (OWNER,)  # the same owner once

    listed = json.loads(run(project, "alert", "list", "--format", "json").stdout)
    assert [(a["name"], a["rule"], a["threshold"], a["branches"], a["state"]) for a in listed] == [
        ("denver-red", "below_red", None, ["denver"], "not checked yet"),
        ("swing", "change", 20.0, ["denver"], "not checked yet"),
    ]

    first = run(project, "alert", "check")
    assert (first.returncode, first.stdout) == (0, "No alert started or ended\n")
    republish(project, {"fct_invoice": invoices(*RUNS[1])})
    second = run(project, "alert", "check")
    assert second.returncode == 0, second.stderr
    assert second.stdout.splitlines() == [
        "denver-red: start: Revenue (Denver) is red: $500.00 against a plan of $1,000.00 for "
        f"June 2025 (to {OWNER})",
        "swing: start: Revenue (Denver) fell 50.0% in June 2025: $500.00 against $1,000.00 in "
        f"May 2025 (to {OWNER})",
    ]
    assert run(project, "alert", "check").stdout == "No alert started or ended\n"

    history = json.loads(run(project, "alert", "history", "denver-red", "-f", "json").stdout)
    assert [(h["alert"], h["kind"], h["mailed_at"]) for h in history] == [
        ("denver-red", "start", None)
    ]
    assert history[0]["mail_error"].startswith("not mailed: kpiboard alert check prints")
    table = run(project, "alert", "history")
    assert "2 events, newest first" in table.stdout and "Revenue (Denver) is red" in table.stdout
    states = json.loads(run(project, "alert", "list", "-f", "json").stdout)
    assert [s["state"] for s in states] == ["breached", "breached"]

    removed = run(project, "alert", "remove", "denver-red")
    assert (removed.returncode, removed.stdout) == (0, "Removed alert denver-red\n")
    assert [a.name for a in alerts.list_alerts(settings)] == ["swing"]
    assert len(alerts.history(settings)) == 1


HOSTILE = [
    (
        ("--name", "a\nb", "--kpi", "revenue", "--rule", "below_red"),
        "error: alert name 'a\\nb': letters, digits, '-' and '_', up to 64 characters",
    ),
    (
        ("--name", "$(rm -rf ~)", "--kpi", "revenue", "--rule", "below_red"),
        "error: alert name '$(rm -rf ~)': letters, digits",
    ),
    (
        ("--name", "[bold]x[/]", "--kpi", "revenue", "--rule", "below_red"),
        "error: alert name '[bold]x[/]': letters, digits",
    ),
    (
        ("--name", "é" * 500, "--kpi", "revenue", "--rule", "below_red"),
        "error: alert name 'éééé",
    ),
    (
        ("--name", "ok", "--kpi", "revenue", "--rule", "change", "--threshold", "1e400"),
        "error: alert 'ok': threshold inf percent: give more than 0 and at most 100,000",
    ),
    (
        ("--name", "ok", "--kpi", "revenue", "--rule", "change", "--threshold", "twenty"),
        "error: --threshold 'twenty': give a number (percent for --rule change, days for no_data)",
    ),
    (
        ("--name", "ok", "--kpi", "revenue", "--rule", "change", "--threshold", "nan"),
        "error: alert 'ok': threshold nan percent: give more than 0",
    ),
    (
        ("--name", "ok", "--kpi", "revenue", "--rule", "no_data", "--threshold", "0"),
        "error: alert 'ok': threshold 0 days: give whole days from 1 to 3660",
    ),
    (
        ("--name", "ok", "--kpi", "revenue'; drop table alerts; --", "--rule", "below_red"),
        "error: alert 'ok': no KPI \"revenue'; drop table alerts; --\"",
    ),
    (
        ("--name", "ok", "--kpi", "revenue", "--rule", "change", "-t", "5", "--grain", "hour"),
        "error: alert 'ok': grain 'hour' is not one of day, week, month, quarter",
    ),
    (
        ("--name", "ok", "--kpi", "revenue", "--rule", "change", "-t", "5", "-b", "x" * 300),
        "error: alert 'ok': branch: give members of up to 200 characters",
    ),
]


@pytest.mark.parametrize(
    ("args", "line"), HOSTILE, ids=[f"{i}-{line[7:40]}" for i, (_, line) in enumerate(HOSTILE)]
)
def test_hostile_input_is_one_line_and_adds_nothing(
    settings: Settings, args: tuple[str, ...], line: str
) -> None:
    result = run(settings.project_dir, "alert", "add", *args, "--owner", OWNER)
    assert result.returncode == 2
    assert _one_error_line(result).startswith(line)
    assert len(_one_error_line(result)) < 300
    assert alerts.list_alerts(settings) == []


@pytest.mark.parametrize(
    ("owner", "line"),
    [
        ("dana", "error: alert 'ok': no user 'dana' (an owner is a user name or an address)"),
        ("x@y", "error: alert 'ok': owner 'x@y': not an email address"),
        ("a@b.com\r\nBcc: all@corp.com", "error: alert 'ok': owner 'a@b.com\\r\\nBcc:"),
    ],
)
def test_hostile_owners_are_refused(settings: Settings, owner: str, line: str) -> None:
    result = run(settings.project_dir, "alert", "add", *RED[2:], "--name", "ok", "--owner", owner)
    assert result.returncode == 2
    assert _one_error_line(result).startswith(line)
    assert alerts.list_alerts(settings) == []


def test_unknown_alerts_and_empty_lists(settings: Settings) -> None:
    project = settings.project_dir
    assert _one_error_line(run(project, "alert", "remove", "nope")) == "error: no alert 'nope'"
    assert _one_error_line(run(project, "alert", "history", "nope")) == "error: no alert 'nope'"
    assert run(project, "alert", "list").stdout.startswith("No alerts yet")
    assert run(project, "alert", "history").stdout == "No alert events\n"
    assert json.loads(run(project, "alert", "list", "-f", "json").stdout) == []
    checked = run(project, "alert", "check", "--snapshot", "../../etc/passwd")
    assert checked.returncode == 0  # no alert: nothing to check, whatever the snapshot
