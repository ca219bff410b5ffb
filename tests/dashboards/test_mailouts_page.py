"""The Mail-outs page: its grids hold what the schedule store and the delivery log hold, its
form saves a valid schedule and refuses a wrong one with every problem (saving nothing), its
actions change the store — and nobody but an analyst or an administrator gets anything from
any of its callbacks, or a link to it.

Callbacks are called as functions inside a request of the app with a viewer set; the refusals
are also asked over HTTP as Dash's renderer asks. The test project's app database is shared by
the session: every schedule made here has a name of its own.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa
from dash import no_update

from kpiboard import access, appdb, audit
from reports import schedules as s

if TYPE_CHECKING:
    import dash
    from playwright.sync_api import Page

    from kpiboard.config import Settings
    from tests.dashboards.conftest import ClientAs

As = Callable[..., AbstractContextManager[None]]
REPORT = "sales_breakdown"
"""A catalog report every row's viewer may run, with a period and a choice parameter."""


@pytest.fixture
def as_viewer(dash_app: dash.Dash) -> As:
    """``with as_viewer(name, role):`` — a request of the app made by that viewer."""
    from dashboards.access import Viewer, set_viewer

    @contextmanager
    def request(name: str = "analyst1", role: str = "analyst") -> Iterator[None]:
        with dash_app.server.test_request_context(
            "/mailouts", environ_base={"REMOTE_ADDR": "10.1.2.3"}
        ):
            set_viewer(Viewer(name, role, None))
            yield

    return request


@pytest.fixture
def settings(dash_app: dash.Dash) -> Settings:
    from dashboards.app import EXTENSION

    found: Settings = dash_app.server.extensions[EXTENSION].settings
    return found


@pytest.fixture(autouse=True)
def no_scheduler(settings: Settings) -> Iterator[None]:
    """No scheduler heartbeat unless a test writes one (and it is gone after)."""
    with appdb.shared_engine(settings).begin() as db:
        db.execute(appdb.schedulers.delete())
    yield
    with appdb.shared_engine(settings).begin() as db:
        db.execute(appdb.schedulers.delete())


def unique(prefix: str = "m") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def text_of(component: Any) -> str:
    """Every text a component tree holds, joined."""
    if component is None:
        return ""
    if isinstance(component, str | int | float):
        return str(component)
    if isinstance(component, list | tuple):
        return " ".join(text_of(c) for c in component)
    return text_of(getattr(component, "children", None))


def make(settings: Settings, name: str, **given: Any) -> s.Schedule:
    fields: dict[str, Any] = dict(
        name=name,
        items=(s.Item(REPORT, {"period": "last_week", "group_by": "branch"}),),
        recipients=(s.Recipient.parse("cfo@acme.com:all"), s.Recipient.parse("ops@acme.com:all")),
        cron="0 8 * * MON",
        timezone="America/Denver",
    )
    fields.update(given)
    return s.add(settings, s.Schedule(**fields), by="test-setup")


def record_slot(
    settings: Settings,
    schedule: s.Schedule,
    at: dt.datetime,
    status: str,
    deliveries: list[tuple[str, str, str | None]],
) -> None:
    """A slot as a scheduler leaves it: its status and one row per (recipient, status, error)."""
    from reports.delivery import delivery_key

    with appdb.shared_engine(settings).begin() as db:
        db.execute(
            appdb.schedule_slots.insert().values(
                schedule_id=schedule.schedule_id,
                slot_at=at,
                status=status,
                manual=False,
                late=False,
                opened_at=at,
                opened_by="test",
                finished_at=at + dt.timedelta(minutes=1),
            )
        )
        for recipient, state, error in deliveries:
            key = delivery_key(schedule.schedule_id or 0, at, recipient)
            db.execute(
                appdb.deliveries.insert().values(
                    delivery_key=key,
                    schedule_id=schedule.schedule_id,
                    slot_at=at,
                    recipient=recipient,
                    address=recipient.split(":", 1)[1],
                    status=state,
                    attempts=1 if state == "sent" else 3,
                    message_id=f"<{key}@acme.com>",
                    sent_at=at + dt.timedelta(seconds=30) if state == "sent" else None,
                    updated_at=at,
                    error=error,
                )
            )


REFUSAL = "the mail server refused ops@acme.com: 550 no such user"


@pytest.fixture
def two(settings: Settings) -> tuple[s.Schedule, s.Schedule]:
    """Two schedules: one whose last slot went partly wrong (a refused address), one paused."""
    first = make(settings, unique("weekly"))
    second = make(
        settings,
        unique("monthly"),
        cron="0 8 1 * *",
        timezone="Europe/Madrid",
        format="xlsx",
        recipients=(s.Recipient.parse("board@acme.com:all"),),
    )
    second = s.set_paused(settings, second.name, True, by="test-setup")
    record_slot(
        settings,
        first,
        dt.datetime(2025, 11, 24, 15, 0),
        "done",
        [("address:cfo@acme.com", "sent", None), ("address:ops@acme.com", "sent", None)],
    )
    record_slot(
        settings,
        first,
        dt.datetime(2025, 12, 1, 15, 0),
        "partial",
        [("address:cfo@acme.com", "sent", None), ("address:ops@acme.com", "failed", REFUSAL)],
    )
    return first, second


# -- the grids ------------------------------------------------------------------------------------


def test_the_schedules_grid_holds_what_the_store_holds(
    as_viewer: As, settings: Settings, two: tuple[s.Schedule, s.Schedule]
) -> None:
    from dashboards.pages.mailouts import fill_schedules
    from reports.cron import Cron

    first, second = two
    with as_viewer():
        grid, options, note = fill_schedules(0)
    assert [r["name"] for r in grid] == [x.name for x in s.list_schedules(settings)]
    assert {"label": first.name, "value": first.name} in options and note is None
    row = {r["name"]: r for r in grid}
    weekly, monthly = row[first.name], row[second.name]
    next_at = s.next_slot(first)
    assert next_at is not None
    assert weekly == {
        **weekly,
        "reports": REPORT,
        "recipients": "cfo@acme.com:all, ops@acme.com:all",
        "when": Cron.parse("0 8 * * MON", "America/Denver").describe(),
        "next": s.local_text(next_at.replace(tzinfo=None), "America/Denver"),
        "format": "PDF",
        "status": "● active",
        "last_slot": "2025-12-01 08:00 MST",
        "last_status": "⚠ partial: 1 of 2 not delivered",
    }
    assert weekly["last_status__text"] == "⚠ partial: 1 of 2 not delivered"
    assert (monthly["status"], monthly["format"], monthly["next"]) == ("○ paused", "XLSX", None)
    assert (monthly["last_slot"], monthly["last_status__text"]) == (None, "—")
    assert monthly["when"] == Cron.parse("0 8 1 * *", "Europe/Madrid").describe()


def test_a_chosen_schedule_shows_its_slots_and_every_delivery_with_the_errors(
    as_viewer: As, settings: Settings, two: tuple[s.Schedule, s.Schedule]
) -> None:
    from dashboards.pages.mailouts import show_schedule

    first, second = two
    with as_viewer():
        out = show_schedule(first.name, 0)
        paused = show_schedule(second.name, 0)
    facts, slots, deliveries, note, *buttons, confirm, no_slots, no_deliveries = out
    assert (no_slots, no_deliveries) == (False, False)
    shown = text_of(facts)
    assert first.items[0].text() in shown and "group_by=branch" in shown
    assert "cfo@acme.com:all" in shown and "cron 0 8 * * MON" in shown
    assert [(r["slot"], r["status"]) for r in slots] == [
        ("2025-12-01 08:00 MST", "⚠ partial: 1 of 2 not delivered"),
        ("2025-11-24 08:00 MST", "✓ done"),
    ]
    assert slots[0]["deliveries"] == "1 failed, 1 sent"
    history = s.history(settings, first.name)
    assert [(d["recipient"], d["status"].split()[-1]) for d in deliveries] == [
        (h["recipient"], h["status"]) for h in history
    ]
    failed = next(d for d in deliveries if d["status"] == "✗ failed")
    assert (failed["address"], failed["error"], failed["attempts"]) == (
        "ops@acme.com",
        REFUSAL,
        3,
    )
    assert "✗ Not delivered: 1 failed" in text_of(note)
    # pause, resume, send, resend, edit, remove: resume and nothing else greyed
    assert buttons == [False, True, False, False, False, False]
    assert first.name in confirm
    assert paused[4:10] == (True, False, False, True, False, False)
    assert "Nothing sent yet" in text_of(paused[3])
    assert paused[11:] == (True, True)  # no empty grids: the sentence says why


def test_the_status_line_says_whether_a_scheduler_is_running(
    as_viewer: As, settings: Settings
) -> None:
    from dashboards.pages.mailouts import show_status

    with as_viewer():
        nobody = text_of(show_status(0, 0))
    assert nobody.startswith("⚠ No scheduler is running: mail-outs are not being sent.")
    assert "kpiboard scheduler" in nobody
    beat = s.now() - dt.timedelta(seconds=12)
    with appdb.shared_engine(settings).begin() as db:
        db.execute(
            appdb.schedulers.insert().values(worker="h:1:t", started_at=beat, last_tick_at=beat)
        )
    with as_viewer():
        running = text_of(show_status(0, 0))
    assert running in (
        "● Scheduler running, last tick 12 s ago.",
        "● Scheduler running, last tick 13 s ago.",
    )


# -- the form -------------------------------------------------------------------------------------


def form(**given: Any) -> dict[str, Any]:
    values: dict[str, Any] = dict(
        name=unique("new"),
        reports=f"{REPORT} period=last_month group_by=branch",
        users=[],
        addresses="cfo@acme.com:all\nops@acme.com:branch=denver",
        owner="",
        cron="0 7 * * *",
        timezone="America/Denver",
        format="pdf",
        scope_mode="own",
        scope="all",
    )
    values.update(given)
    return values


def submit(values: dict[str, Any], editing: str | None = None, changed: int = 0) -> tuple[Any, ...]:
    from dashboards.pages.mailouts import FORM_FIELDS, save_schedule

    return save_schedule(1, editing, *(values[k] for k in FORM_FIELDS), changed)


def test_the_form_saves_a_valid_schedule_as_the_viewer(
    as_viewer: As, settings: Settings, dash_users: dict[str, Any]
) -> None:
    access.set_email(settings, "test-branch-head", "denver.head@acme.com")
    values = form(users=["test-branch-head"], owner="ops@acme.com")
    with as_viewer("ana", "analyst"):
        said, changed, editing, target = submit(values, changed=3)
    assert "Added " + values["name"] in text_of(said)
    assert (changed, editing, target) == (4, values["name"], values["name"])
    saved = s.get(settings, values["name"])
    assert saved.items == (s.Item(REPORT, {"period": "last_month", "group_by": "branch"}),)
    assert [r.text() for r in saved.recipients] == [
        "test-branch-head",
        "cfo@acme.com:all",
        "ops@acme.com:branch=denver",
    ]
    assert (saved.cron, saved.timezone, saved.format, saved.own_scope, saved.owner) == (
        "0 7 * * *",
        "America/Denver",
        "pdf",
        True,
        "ops@acme.com",
    )
    entry = audit.entries(settings, action="schedule_added", user="ana", limit=5)[0]
    assert entry["target"] == values["name"]

    page = form(reports=f"page:/sales\n{REPORT}", users=["test-branch-head"], addresses="")
    with as_viewer("ana", "analyst"):
        said, *_ = submit(page)
    assert "Added " + page["name"] in text_of(said)
    assert s.get(settings, page["name"]).items == (s.Item("page:/sales", {}), s.Item(REPORT, {}))


def test_edit_fills_the_form_and_saving_changes_the_schedule(
    as_viewer: As, settings: Settings
) -> None:
    from dashboards.pages import mailouts

    schedule = make(settings, unique("edit"))
    with as_viewer("ana", "analyst"):
        filled = mailouts.form_for(True, schedule.name)
        emptied = mailouts.form_for(False, schedule.name)
    values = dict(zip(mailouts.FORM_FIELDS, filled[:10], strict=True))
    assert filled[10:] == (schedule.name, f"Change {schedule.name}", None)
    assert emptied[0] == "" and emptied[10:] == (None, "Add a schedule", None)
    assert values["reports"] == f"{REPORT} period=last_week group_by=branch"
    assert values["addresses"] == "cfo@acme.com:all\nops@acme.com:all"
    assert (values["cron"], values["timezone"]) == ("0 8 * * MON", "America/Denver")
    values.update(cron="30 6 * * MON-FRI", scope_mode="shared", scope="branch=denver")
    with as_viewer("ana", "analyst"):
        said, *_ = submit(values, editing=schedule.name)
    assert text_of(said) == f"Saved the changes to {schedule.name}."
    after = s.get(settings, schedule.name)
    assert (after.cron, after.own_scope, after.scope) == (
        "30 6 * * MON-FRI",
        False,
        {"branch": ("denver",)},
    )
    entry = audit.entries(settings, action="schedule_changed", user="ana", limit=1)[0]
    assert entry["detail"]["cron"] == {"before": "0 8 * * MON", "after": "30 6 * * MON-FRI"}


BAD_FORMS = [
    (
        "a page to an address",
        dict(reports="page:/sales"),
        ["a dashboard page is printed as a user sees it"],
    ),
    ("no name", dict(name=""), ["name: type one"]),
    ("bad name", dict(name="Monday Sales!"), ["name 'Monday Sales!': use lowercase"]),
    (
        "unknown report",
        dict(reports="sales_breakdwn period=last_week"),
        ["no report 'sales_breakdwn'"],
    ),
    (
        "parameter without =",
        dict(reports=f"{REPORT} last_week"),
        ["reports, line 1: parameter 'last_week'"],
    ),
    ("bad choice", dict(reports=f"{REPORT} group_by=planet"), [f"report '{REPORT}'"]),
    ("no report", dict(reports=""), ["no report: give at least one"]),
    (
        "address without scope",
        dict(addresses="cfo@acme.com"),
        ["recipient cfo@acme.com: name the data"],
    ),
    ("not an address", dict(addresses="cfo at acme"), ["'cfo at acme' is not an email address"]),
    ("no recipient", dict(addresses=""), ["no recipient: give at least one"]),
    (
        "user without email",
        dict(users=["test-executive"], addresses=""),
        ["recipient 'test-executive' has no email address"],
    ),
    ("unknown user", dict(users=["nobody-here"], addresses=""), ["recipient 'nobody-here'"]),
    ("bad cron", dict(cron="0 25 * * *"), ["0 25 * * *"]),
    ("bad zone", dict(timezone="America/Denvr"), ["America/Denvr"]),
    ("bad format", dict(format="docx"), ["format 'docx': not one of pdf, xlsx, html"]),
    (
        "bad shared scope",
        dict(scope_mode="shared", scope="planet=mars"),
        ["everyone's data: scope 'planet=mars'"],
    ),
    ("a list as the name", dict(name=["x"]), ["name: expected text, not list"]),
    (
        "several at once",
        dict(cron="nope", addresses="cfo@acme.com", reports="nothing_like_it"),
        ["no report 'nothing_like_it'", "recipient cfo@acme.com: name the data", "nope"],
    ),
]


@pytest.mark.parametrize(("case", "given", "messages"), BAD_FORMS, ids=[b[0] for b in BAD_FORMS])
def test_a_wrong_schedule_is_refused_with_every_problem_and_nothing_is_saved(
    as_viewer: As,
    settings: Settings,
    dash_users: dict[str, Any],
    case: str,
    given: dict[str, Any],
    messages: list[str],
) -> None:
    access.set_email(settings, "test-executive", None)
    values = form(**given)
    before = [x.name for x in s.list_schedules(settings)]
    logged = len(audit.entries(settings, action="schedule_added", limit=100_000))
    with as_viewer():
        said, changed, editing, target = submit(values)
    shown = text_of(said)
    assert shown.startswith("Not saved: "), shown
    for message in messages:
        assert message in shown, (message, shown)
    assert said.role == "alert"
    assert (changed, editing, target) == (no_update, no_update, no_update)
    assert [x.name for x in s.list_schedules(settings)] == before
    assert len(audit.entries(settings, action="schedule_added", limit=100_000)) == logged


def test_a_report_picked_from_the_catalog_is_added_with_its_defaults(as_viewer: As) -> None:
    from dashboards.pages.mailouts import add_report, report_options

    with as_viewer():
        options = report_options()
        text, cleared = add_report(REPORT, "page:/sales")
    assert any(o["value"] == REPORT for o in options)
    assert {"label": "Dashboard page /sales as PDF", "value": "page:/sales"} in options
    assert text == f"page:/sales\n{REPORT} period=last_month group_by=branch"
    assert cleared is None


def test_a_preset_writes_its_cron_and_the_cron_reads_in_words(as_viewer: As) -> None:
    from dashboards.pages import mailouts
    from reports.cron import Cron

    with as_viewer():
        cron, preset, reads = mailouts.when_of(
            "mailouts-preset", "0 8 1 * *", "0 8 * * MON", "America/Denver"
        )
        typed = mailouts.when_of("mailouts-cron", "0 8 1 * *", "*/15 * * * *", "UTC")
        wrong = mailouts.when_of("mailouts-cron", "custom", "0 25 * * *", "UTC")
    assert (cron, preset) == ("0 8 1 * *", "0 8 1 * *")
    assert str(reads).startswith(Cron.parse("0 8 1 * *", "America/Denver").describe() + "; next ")
    assert typed[1] == "custom"
    assert text_of(wrong[2]).startswith("✗ ")


# -- the actions ----------------------------------------------------------------------------------


def test_pause_resume_send_now_resend_and_remove_change_the_store(
    as_viewer: As, settings: Settings, two: tuple[s.Schedule, s.Schedule]
) -> None:
    from dashboards.pages import mailouts

    first, _ = two
    with as_viewer("ana", "analyst"):
        said, changed = mailouts.pause_schedule(1, first.name, 5)
    assert s.get(settings, first.name).paused and changed == 6
    assert text_of(said).startswith(f"Paused {first.name}")
    with as_viewer("ana", "analyst"):
        said, changed = mailouts.resume_schedule(1, first.name, 6)
    assert not s.get(settings, first.name).paused and changed == 7
    assert [e["action"] for e in audit.entries(settings, user="ana", limit=2)] == [
        "schedule_resumed",
        "schedule_paused",
    ]

    with as_viewer("ana", "analyst"):
        said, changed = mailouts.send_schedule(1, first.name, 7)
    queued = s.slot_log(settings, first.name, limit=1)[0]
    assert (queued["status"], queued["manual"]) == ("open", True)
    assert queued["slot_at"] >= s.now() - dt.timedelta(seconds=5)
    assert "no scheduler is running" in text_of(said) and changed == 8
    assert said.role == "alert"
    beat = s.now()
    with appdb.shared_engine(settings).begin() as db:
        db.execute(
            appdb.schedulers.insert().values(worker="h:2:t", started_at=beat, last_tick_at=beat)
        )
    with appdb.shared_engine(settings).begin() as db:  # a second later: another manual slot
        db.execute(
            appdb.schedule_slots.update()
            .where(appdb.schedule_slots.c.slot_at == queued["slot_at"])
            .values(slot_at=queued["slot_at"] - dt.timedelta(seconds=2))
        )
    with as_viewer("ana", "analyst"):
        said, _ = mailouts.send_schedule(1, first.name, 8)
    assert "the scheduler sends it within its tick" in text_of(said)
    assert [x["manual"] for x in s.slot_log(settings, first.name)[:2]] == [True, True]
    assert audit.entries(settings, action="schedule_run", user="ana", limit=1)[0]["target"] == (
        first.name
    )

    with as_viewer("ana", "analyst"):
        said, _ = mailouts.resend_schedule(1, first.name, 9)
        again, unchanged = mailouts.resend_schedule(1, first.name, 10)
    assert "1 delivery of" in text_of(said)
    row = next(h for h in s.history(settings, first.name) if h["recipient"] == "ops@acme.com")
    assert (row["status"], row["error"]) == ("pending", None)
    assert "Nothing to resend" in text_of(again)

    with as_viewer("ana", "analyst"):
        said, changed, target = mailouts.remove_schedule(1, first.name, 11)
    assert text_of(said).startswith(f"Removed {first.name}")
    assert (changed, target) == (12, None)
    assert first.name not in [x.name for x in s.list_schedules(settings)]
    with as_viewer("ana", "analyst"):
        gone, unchanged = mailouts.pause_schedule(1, first.name, 12)
    assert f"no schedule '{first.name}'" in text_of(gone) and unchanged is no_update


# -- alerts ---------------------------------------------------------------------------------------


def test_the_alerts_and_their_events_are_listed_with_their_state(
    as_viewer: As, settings: Settings
) -> None:
    from dashboards.app import data
    from dashboards.pages.mailouts import fill_alerts
    from reports import alerts

    with as_viewer():
        engine = data().engine()
    fell = alerts.add(
        settings,
        alerts.Alert(unique("fell"), "revenue", "change", 20.0, owners=("ops@acme.com",)),
        by="test-setup",
        engine=engine,
    )
    quiet = alerts.add(
        settings,
        alerts.Alert(unique("quiet"), "revenue", "no_data", 3.0, owners=("ops@acme.com",)),
        by="test-setup",
        engine=engine,
    )
    at = dt.datetime(2025, 12, 1, 6, 0)
    with appdb.shared_engine(settings).begin() as db:
        db.execute(
            appdb.alert_states.insert().values(
                alert_id=fell.alert_id, breached=True, since=at, last_snapshot="s1"
            )
        )
        db.execute(
            appdb.alert_events.insert(),
            [
                dict(
                    alert_id=fell.alert_id,
                    snapshot="s1",
                    kind="start",
                    at=at,
                    period="November 2025",
                    message="Revenue fell 23% against October",
                    mailed_at=at,
                    mail_error=None,
                ),
                dict(
                    alert_id=fell.alert_id,
                    snapshot="s0",
                    kind="error",
                    at=at - dt.timedelta(days=1),
                    period=None,
                    message="the KPI could not be evaluated",
                    mailed_at=None,
                    mail_error="the mail server refused ops@acme.com: 550",
                ),
            ],
        )
    with as_viewer():
        listed, events, note, no_events, hidden = fill_alerts(0)
    assert no_events is None and hidden is False
    by_name = {r["name"]: r for r in listed}
    assert [r["name"] for r in listed] == [a.name for a in alerts.list_alerts(settings)]
    assert (by_name[fell.name]["rule"], by_name[fell.name]["state"]) == (
        "changes more than 20% (month)",
        "⚠ breached since 2025-12-01",
    )
    assert (by_name[quiet.name]["rule"], by_name[quiet.name]["state"]) == (
        "no data for 3 days",
        "… not checked yet",
    )
    assert by_name[fell.name]["owners"] == "ops@acme.com" and note is None
    mine = [e for e in events if e["alert"] == fell.name]
    assert [(e["kind"], e["message"], e["mailed"]) for e in mine] == [
        ("⚠ started", "Revenue fell 23% against October", "✓ 2025-12-01 06:00"),
        (
            "✗ error",
            "the KPI could not be evaluated",
            "✗ the mail server refused ops@acme.com: 550",
        ),
    ]


# -- who may --------------------------------------------------------------------------------------

REFUSED_CALLS: list[tuple[str, tuple[Any, ...]]] = [
    ("show_status", (0, 0)),
    ("fill_schedules", (0,)),
    ("pick", ([{"name": "{victim}"}],)),
    ("show_schedule", ("{victim}", 0)),
    ("pause_schedule", (1, "{victim}", 0)),
    ("resume_schedule", (1, "{victim}", 0)),
    ("send_schedule", (1, "{victim}", 0)),
    ("resend_schedule", (1, "{victim}", 0)),
    ("remove_schedule", (1, "{victim}", 0)),
    ("fill_choices", (0,)),
    ("add_report", (REPORT, "")),
    ("show_parameters", (REPORT,)),
    ("when_fields", ("0 8 * * MON", "0 8 * * MON", "UTC")),
    ("scope_box", ("shared",)),
    (
        "save_schedule",
        (
            1,
            None,
            "{new}",
            REPORT,
            [],
            "x@acme.com:all",
            "",
            "0 8 * * *",
            "UTC",
            "pdf",
            "own",
            "all",
            0,
        ),
    ),
    ("load_form", (1, None, "{victim}")),
    ("fill_alerts", (0,)),
]


@pytest.mark.parametrize("role", ["executive", "branch_head", "employee", None])
def test_nobody_else_gets_anything_from_any_callback(
    dash_app: dash.Dash, as_viewer: As, settings: Settings, role: str | None
) -> None:
    from dashboards.access import set_viewer
    from dashboards.pages import mailouts as page

    victim = make(settings, unique("victim"))
    record_slot(
        settings,
        victim,
        dt.datetime(2025, 12, 1, 15, 0),
        "failed",
        [("address:cfo@acme.com", "failed", "secret-error")],
    )
    new = unique("new")
    dash_app.server.test_client().get("/_dash-dependencies")  # Dash gathers its callbacks
    registered = {
        c["callback"].__name__
        for c in dash_app.callback_map.values()
        if "callback" in c and c["callback"].__module__ == page.__name__
    }
    assert registered == {name for name, _ in REFUSED_CALLS}  # a new callback is listed here
    for name, args in REFUSED_CALLS:
        given = tuple(
            a.format(victim=victim.name, new=new) if isinstance(a, str) else a for a in args
        )
        with as_viewer("someone", role or "analyst"):
            if role is None:
                set_viewer(None)
            out = getattr(page, name)(*given)
        dumped = json.dumps(out, default=str)
        assert victim.name not in dumped and "secret-error" not in dumped, name
        assert "cfo@acme.com" not in dumped and REPORT + " " not in dumped, name
    after = s.get(settings, victim.name)
    assert not after.paused
    assert new not in [x.name for x in s.list_schedules(settings)]
    assert [x["manual"] for x in s.slot_log(settings, victim.name)] == [False]
    assert s.history(settings, victim.name)[0]["status"] == "failed"
    refusals = audit.entries(settings, action="access_refused", limit=1)
    assert refusals[0]["detail"]["page"] == "mailouts"


def nav_paths(client: Any) -> list[str]:
    """The paths the navigation of the client's shell links to."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "NavLink":
                found.append(node["props"]["href"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(client.get("/_dash-layout").get_json())
    return found


def _key_of(dash_app: dash.Dash, name: str) -> str:
    from dashboards.pages import mailouts

    return next(
        key
        for key, entry in dash_app.callback_map.items()
        if "callback" in entry
        and entry["callback"].__module__ == mailouts.__name__
        and entry["callback"].__name__ == name
    )


@pytest.mark.parametrize("role", ["executive", "branch_head", "employee"])
def test_every_callback_is_403_over_http_and_there_is_no_link(
    dash_app: dash.Dash, client_as: ClientAs, settings: Settings, role: str
) -> None:
    from dashboards.pages import mailouts

    victim = make(settings, unique("victim"))
    client = client_as(role)
    for name, _ in REFUSED_CALLS:
        key = _key_of(dash_app, name)
        answer = client.post(
            "/_dash-update-component",
            json={"output": key, "inputs": [], "state": [], "changedPropIds": []},
        )
        assert answer.status_code == 403, name
        assert answer.get_data(as_text=True) == "This page is for analysts and administrators.\n"
    assert not s.get(settings, victim.name).paused
    assert "/mailouts" not in nav_paths(client) and "/reports" in nav_paths(client)
    page = client.post(
        "/_dash-update-component",
        json={
            "output": _key_of(dash_app, "fill_schedules"),
            "outputs": {"id": "mailouts-schedules", "property": "rowData"},
            "inputs": [{"id": "mailouts-changed", "property": "data", "value": 0}],
            "changedPropIds": [],
        },
    )
    assert page.status_code == 403
    assert mailouts.REFUSED == "This page is for analysts and administrators."


@pytest.mark.parametrize("role", ["analyst", "admin"])
def test_analysts_and_admins_get_the_link_and_the_grid(
    dash_app: dash.Dash, client_as: ClientAs, settings: Settings, role: str
) -> None:
    mine = make(settings, unique("mine"))
    client = client_as(role)
    assert "/mailouts" in nav_paths(client)
    key = _key_of(dash_app, "fill_schedules")
    outputs = [
        {"id": "mailouts-schedules", "property": "rowData"},
        {"id": "mailouts-target", "property": "options"},
        {"id": "mailouts-schedules-note", "property": "children"},
    ]
    answer = client.post(
        "/_dash-update-component",
        json={
            "output": key,
            "outputs": outputs,
            "inputs": [{"id": "mailouts-changed", "property": "data", "value": 0}],
            "changedPropIds": ["mailouts-changed.data"],
        },
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)
    rows = answer.get_json()["response"]["mailouts-schedules"]["rowData"]
    assert mine.name in [r["name"] for r in rows]


# -- the browser ----------------------------------------------------------------------------------


def test_the_page_shows_two_schedules_and_a_failed_delivery_without_a_console_error(
    served: str, page: Page, dash_project: Path
) -> None:
    from kpiboard.config import load_settings
    from tests.dashboards.conftest import errors_of, settle

    project = load_settings(dash_project)  # the served app's database, read apart from it
    from kpiboard.demo.users import DEMO_SCHEDULE

    second = s.get(project, DEMO_SCHEDULE)  # the demo's own: paused, to users
    others = [x for x in s.list_schedules(project) if x.name != DEMO_SCHEDULE]
    first = make(
        project,
        "month-end-board",
        cron="0 8 1 * *",
        timezone="Europe/Madrid",
        format="xlsx",
    )
    for other in others:  # the other tests' schedules (made before, so no id is reused)
        s.remove(project, other.name, by="test-setup")
    record_slot(
        project,
        first,
        dt.datetime(2025, 12, 1, 7, 0),  # 08:00 in Madrid
        "partial",
        [("address:cfo@acme.com", "sent", None), ("address:ops@acme.com", "failed", REFUSAL)],
    )
    from reports import alerts

    for old in alerts.list_alerts(project):
        alerts.remove(project, old.name, by="test-setup")
    alert = alerts.add(
        project,
        alerts.Alert("revenue-drop", "revenue", "change", 20.0, owners=("ops@acme.com",)),
        by="test-setup",
    )
    with appdb.shared_engine(project).begin() as db:
        db.execute(
            appdb.alert_events.insert().values(
                alert_id=alert.alert_id,
                snapshot="s1",
                kind="start",
                at=dt.datetime(2025, 12, 1, 6, 0),
                period="November 2025",
                message="Revenue fell 23% against October",
                mailed_at=dt.datetime(2025, 12, 1, 6, 0),
            )
        )
    page.goto(served + "mailouts")
    page.wait_for_selector(f".ag-row[row-id='{first.name}']")
    page.wait_for_selector(f".ag-row[row-id='{second.name}']")
    settle(page)
    assert "No scheduler is running" in page.locator("#mailouts-status").inner_text()
    row = page.locator(f".ag-row[row-id='{first.name}']")
    assert "⚠ partial: 1 of 2 not delivered" in row.inner_text()
    row.locator("[col-id='name']").click()
    page.wait_for_selector("#mailouts-deliveries .ag-row")
    settle(page)
    assert REFUSAL in page.locator("#mailouts-deliveries").inner_text()
    assert "✗ Not delivered: 1 failed" in page.locator("#mailouts-deliveries-note").inner_text()
    assert "Revenue fell 23% against October" in page.locator("#mailouts-events").inner_text()
    assert errors_of(page) == []
    shots = os.environ.get("KPIBOARD_SCREENSHOTS")
    if shots:  # docs/screenshots/mailouts.png: the whole page, its grids drawn in full
        height = int(page.evaluate("document.documentElement.scrollHeight"))
        page.set_viewport_size({"width": 1440, "height": max(1000, height)})
        page.wait_for_timeout(1500)
        page.screenshot(path=str(Path(shots) / "mailouts.png"), full_page=True)
    with project_db(project) as db:  # the failed row is still failed: the page sent nothing
        status = db.execute(
            sa.select(appdb.deliveries.c.status).where(
                appdb.deliveries.c.schedule_id == first.schedule_id,
                appdb.deliveries.c.recipient == "address:ops@acme.com",
            )
        ).scalar()
    assert status == "failed"


@contextmanager
def project_db(settings: Settings) -> Iterator[sa.Connection]:
    with appdb.shared_engine(settings).connect() as db:
        yield db
