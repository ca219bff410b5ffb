"""Mail-outs end to end: schedules fire, the scheduler delivers through a real SMTP server on
loopback (aiosmtpd), and the delivery log keeps every mail exactly once.

The scheduler runs in this process with a clock the tests move (``Scheduler(clock=…)``), except
where a test kills it: there it is the real ``kpiboard scheduler`` process, killed with SIGKILL.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from kpiboard import access, appdb
from kpiboard.config import Settings, load_settings
from reports import formats
from reports import schedules as s
from reports.delivery import Deliverer, delivery_key, resend
from reports.params import resolve_period
from reports.scheduler import Scheduler

UTC = dt.UTC
PASSWORD = "a long enough password 1"


class Clock:
    """A clock the test moves: naive UTC, as the app database keeps time."""

    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def __call__(self) -> dt.datetime:
        return self.at

    def move(self, **delta: float) -> None:
        self.at += dt.timedelta(**delta)


def _env(tmp_path: Path, server: Any, **extra: str) -> dict[str, str]:
    return {
        "KPIBOARD_APP_DATABASE_URL": f"sqlite:///{tmp_path / 'app.sqlite'}",
        "KPIBOARD_SMTP_HOST": server.host,
        "KPIBOARD_SMTP_PORT": str(server.port),
        "KPIBOARD_SMTP_FROM_ADDRESS": "Reports <reports@acme.example>",
        "KPIBOARD_SCHEDULER_RETRY_SECONDS": "60",
        "KPIBOARD_SCHEDULER_TICK_SECONDS": "0.2",
        **extra,
    }


@pytest.fixture
def settings(small_demo: Path, tmp_path: Path, smtp_server: Any) -> Settings:
    """The small demo with an app database of this test's own and the loopback SMTP server;
    a Denver and an Austin branch head, and an executive, each with an address."""
    project = load_settings(small_demo, env=_env(tmp_path, smtp_server))
    access.add_user(
        project,
        "denver-head",
        "branch_head",
        PASSWORD,
        branches=["denver"],
        email="denver-head@acme.example",
    )
    access.add_user(
        project,
        "austin-head",
        "branch_head",
        PASSWORD,
        branches=["austin"],
        email="austin-head@acme.example",
    )
    access.add_user(project, "ceo", "executive", PASSWORD, email="ceo@acme.example")
    access.add_user(project, "owner", "analyst", PASSWORD, email="owner@acme.example")
    return project


def _schedule(name: str = "monday-sales", **changes: Any) -> s.Schedule:
    values: dict[str, Any] = {
        "name": name,
        "items": (s.Item("sales_plan_vs_fact", {"period": "last_month"}),),
        "recipients": (s.Recipient(user="denver-head"),),
        "cron": "0 8 * * MON",
        "timezone": "America/Denver",
        "format": "pdf",
        "owner": "owner",
    }
    return s.Schedule(**(values | changes))


def _add(settings: Settings, schedule: s.Schedule, active_from: dt.datetime) -> s.Schedule:
    """Save ``schedule`` as if created at ``active_from`` (its slots start after it)."""
    s.add(settings, schedule, by="test")
    table = appdb.schedules
    with appdb.shared_engine(settings).begin() as db:
        db.execute(
            table.update().where(table.c.name == schedule.name).values(active_from=active_from)
        )
    return s.get(settings, schedule.name)


def _mails(server: Any) -> list[Any]:
    """The messages the loopback server accepted, parsed."""
    return [received.message for received in server.messages]


def _rows(settings: Settings, name: str) -> list[dict[str, Any]]:
    return s.history(settings, name, limit=10_000)


def _pdf_text(content: bytes) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def _attachments(message: Any) -> list[tuple[str, bytes]]:
    return [
        (part.get_filename(), part.get_payload(decode=True))
        for part in message.walk()
        if part.get_filename()
    ]


def _revenue(settings: Settings, branch: str) -> tuple[float, float]:
    """The engine's revenue and plan for last month in ``branch``: what the PDF must say."""
    from kpi_designer.engine import Engine

    engine = Engine.from_settings(settings)
    start, end = resolve_period("last_month", engine.last_day())
    frame = engine.evaluate(
        ["revenue"], start=start, end=end, grain="month", scope={"branch": [branch]}
    )
    return float(frame["value"].sum()), float(frame["plan"].sum())


# Monday 2026-11-30 08:00 in Denver (MST, UTC-7) is 15:00 UTC
MONDAY_8AM = dt.datetime(2026, 11, 30, 15, 0)


def test_a_schedule_fires_and_its_pdf_holds_the_reports_title_period_and_totals(
    settings: Settings, smtp_server: Any
) -> None:
    _add(settings, _schedule(), active_from=MONDAY_8AM - dt.timedelta(days=1))
    clock = Clock(MONDAY_8AM + dt.timedelta(seconds=5))

    with Deliverer(settings, clock=clock) as deliverer:
        report = Scheduler(settings, deliverer=deliverer, clock=clock).tick()

    assert report.opened == [("monday-sales", MONDAY_8AM, False)]
    assert [m["To"] for m in _mails(smtp_server)] == ["denver-head@acme.example"]
    message = _mails(smtp_server)[0]
    assert message["Subject"].startswith("Revenue against plan by branch — last month")
    assert message["Message-ID"] == _rows(settings, "monday-sales")[0]["message_id"]
    [(filename, content)] = _attachments(message)
    assert filename.startswith("Revenue against plan by branch - last month")
    assert filename.endswith(".pdf")
    text = _pdf_text(content)
    revenue, plan = _revenue(settings, "denver")
    assert "Revenue against plan by branch" in text
    assert "last month (" in text
    assert formats.money(revenue, "USD") in text
    assert formats.money(plan, "USD") in text
    assert formats.money(revenue, "USD") in message.get_body(("html",)).get_content()
    [row] = _rows(settings, "monday-sales")
    assert (row["status"], row["attempts"], row["late"]) == ("sent", 1, False)


def test_two_branch_heads_on_one_schedule_each_get_their_own_branch(
    settings: Settings, smtp_server: Any
) -> None:
    recipients = (s.Recipient(user="denver-head"), s.Recipient(user="austin-head"))
    _add(settings, _schedule(recipients=recipients), MONDAY_8AM - dt.timedelta(days=1))
    clock = Clock(MONDAY_8AM + dt.timedelta(seconds=5))

    with Deliverer(settings, clock=clock) as deliverer:
        Scheduler(settings, deliverer=deliverer, clock=clock).tick()

    by_address = {m["To"]: _pdf_text(_attachments(m)[0][1]) for m in _mails(smtp_server)}
    assert sorted(by_address) == ["austin-head@acme.example", "denver-head@acme.example"]
    denver, austin = _revenue(settings, "denver")[0], _revenue(settings, "austin")[0]
    assert denver != austin
    assert formats.money(denver, "USD") in by_address["denver-head@acme.example"]
    assert formats.money(austin, "USD") not in by_address["denver-head@acme.example"]
    assert formats.money(austin, "USD") in by_address["austin-head@acme.example"]
    assert formats.money(denver, "USD") not in by_address["austin-head@acme.example"]
    assert "austin" not in by_address["denver-head@acme.example"].lower()


def test_smtp_down_then_up_is_retried_and_delivered_once(
    settings: Settings, smtp_server: Any
) -> None:
    _add(settings, _schedule(format="html"), MONDAY_8AM - dt.timedelta(days=1))
    clock = Clock(MONDAY_8AM + dt.timedelta(seconds=5))
    smtp_server.stop()

    with Deliverer(settings, clock=clock) as deliverer:
        scheduler = Scheduler(settings, deliverer=deliverer, clock=clock)
        scheduler.tick()
        [row] = _rows(settings, "monday-sales")
        assert (row["status"], row["attempts"]) == ("retry", 1)
        assert row["next_attempt_at"] == clock.at + dt.timedelta(seconds=60)
        clock.move(seconds=30)  # not due yet
        scheduler.tick()
        assert _rows(settings, "monday-sales")[0]["attempts"] == 1
        smtp_server.start()
        clock.move(seconds=31)
        scheduler.tick()
        clock.move(seconds=600)
        scheduler.tick()

    assert [m["To"] for m in _mails(smtp_server)] == ["denver-head@acme.example"]
    [row] = _rows(settings, "monday-sales")
    assert (row["status"], row["attempts"]) == ("sent", 2)


def test_a_refused_address_fails_for_that_recipient_alone(
    settings: Settings, smtp_server: Any
) -> None:
    recipients = (s.Recipient(user="denver-head"), s.Recipient(user="ceo"))
    _add(settings, _schedule(format="html", recipients=recipients), MONDAY_8AM - dt.timedelta(1))
    clock = Clock(MONDAY_8AM + dt.timedelta(seconds=5))
    smtp_server.fail_rcpt(550, 1)  # the first recipient in order: ceo

    with Deliverer(settings, clock=clock) as deliverer:
        Scheduler(settings, deliverer=deliverer, clock=clock).tick()

    rows = {r["recipient"]: r for r in _rows(settings, "monday-sales")}
    assert rows["ceo"]["status"] == "failed"
    assert "550" in rows["ceo"]["error"]
    assert rows["denver-head"]["status"] == "sent"
    assert [m["To"] for m in _mails(smtp_server) if m["To"] != "owner@acme.example"] == [
        "denver-head@acme.example"
    ]
    [slot] = s.slot_log(settings, "monday-sales")
    assert slot["status"] == "partial"


def test_a_failing_schedule_tells_its_owner_once_and_others_still_go_out(
    settings: Settings, smtp_server: Any
) -> None:
    good = _add(settings, _schedule("good", format="html"), MONDAY_8AM - dt.timedelta(days=1))
    bad = _add(settings, _schedule("bad", format="html"), MONDAY_8AM - dt.timedelta(days=1))
    # a parameter the report no longer takes, as after a rename: saved behind check()'s back
    broken = s._definition(replace(bad, items=(s.Item("sales_plan_vs_fact", {"perod": "x"}),)))
    with appdb.shared_engine(settings).begin() as db:
        db.execute(
            appdb.schedules.update()
            .where(appdb.schedules.c.name == "bad")
            .values(definition=broken)
        )
    clock = Clock(MONDAY_8AM + dt.timedelta(seconds=5))

    with Deliverer(settings, clock=clock) as deliverer:
        scheduler = Scheduler(settings, deliverer=deliverer, clock=clock)
        scheduler.tick()
        clock.move(days=7)
        scheduler.tick()

    to = Counter(m["To"] for m in _mails(smtp_server))
    assert to == {"denver-head@acme.example": 2, "owner@acme.example": 1}
    notice = next(m for m in _mails(smtp_server) if m["To"] == "owner@acme.example")
    assert "bad" in notice["Subject"]
    assert "perod" in notice.get_body(("plain",)).get_content()
    assert [r["status"] for r in s.slot_log(settings, "bad")] == ["failed", "failed"]
    assert [r["status"] for r in s.slot_log(settings, "good")] == ["done", "done"]
    assert good.schedule_id != bad.schedule_id


def test_missed_slots_are_caught_up_once_within_the_grace_and_reported_beyond_it(
    settings: Settings, smtp_server: Any
) -> None:
    # daily 08:00 Denver; the scheduler was down from Thursday and starts Monday 10:00
    _add(settings, _schedule(cron="0 8 * * *", format="html"), dt.datetime(2026, 11, 26, 16))
    clock = Clock(MONDAY_8AM + dt.timedelta(hours=2))

    with Deliverer(settings, clock=clock) as deliverer:
        scheduler = Scheduler(settings, deliverer=deliverer, clock=clock)
        report = scheduler.tick()
        again = scheduler.tick()

    assert report.missed == {"monday-sales": 3}  # Fri, Sat, Sun: older than 6 hours
    assert report.opened == [("monday-sales", MONDAY_8AM, True)]
    assert again.opened == [] and again.missed == {}
    assert len(_mails(smtp_server)) == 1
    assert (
        "Sent late: the scheduler was down at 08:00"
        in _mails(smtp_server)[0].get_body(("plain",)).get_content()
    )
    slots = s.slot_log(settings, "monday-sales")
    assert [(r["status"], r["late"]) for r in slots] == [
        ("done", True),
        ("missed", False),
        ("missed", False),
        ("missed", False),
    ]


@pytest.mark.parametrize(
    ("zone", "cron", "start", "expected"),
    [
        # Denver springs forward on 8 March 02:00 → 03:00: 02:30 that day is at 03:00 MDT
        (
            "America/Denver",
            "30 2 * * *",
            dt.datetime(2026, 3, 6, 12),
            ["02:30 MST", "03:00 MDT", "02:30 MDT", "02:30 MDT"],
        ),
        # Denver falls back on 1 November 02:00 → 01:00: 01:30 happens twice, sent once
        (
            "America/Denver",
            "30 1 * * *",
            dt.datetime(2026, 10, 30, 12),
            ["01:30 MDT", "01:30 MDT", "01:30 MST", "01:30 MST"],
        ),
        # Madrid springs forward on 29 March 02:00 → 03:00
        (
            "Europe/Madrid",
            "30 2 * * *",
            dt.datetime(2026, 3, 27, 12),
            ["02:30 CET", "03:00 CEST", "02:30 CEST", "02:30 CEST"],
        ),
        # Madrid falls back on 25 October 03:00 → 02:00: 02:30 happens twice
        (
            "Europe/Madrid",
            "30 2 * * *",
            dt.datetime(2026, 10, 23, 12),
            ["02:30 CEST", "02:30 CEST", "02:30 CET", "02:30 CET"],
        ),
    ],
)
def test_daylight_saving_changes_neither_skip_nor_double_a_slot(
    settings: Settings,
    smtp_server: Any,
    zone: str,
    cron: str,
    start: dt.datetime,
    expected: list[str],
) -> None:
    days = len(expected)
    # a tick every hour of the test's clock: a slot opened within 70 minutes is on time
    on_time = settings.scheduler.model_copy(update={"late_after_minutes": 70})
    settings = settings.model_copy(update={"scheduler": on_time})
    _add(settings, _schedule(cron=cron, timezone=zone, format="html"), start)
    clock = Clock(start)

    with Deliverer(settings, clock=clock) as deliverer:
        scheduler = Scheduler(settings, deliverer=deliverer, clock=clock)
        for _ in range(days * 24):  # a tick every hour for `days` days
            clock.move(hours=1)
            scheduler.tick()

    slots = sorted(r["slot"] for r in s.slot_log(settings, "monday-sales"))
    assert [slot[11:] for slot in slots] == expected
    assert len(_mails(smtp_server)) == days
    assert all(not r["late"] for r in s.slot_log(settings, "monday-sales"))


# -- crashes and a second scheduler --------------------------------------------------------


def _batch(settings: Settings, size: int = 30) -> s.Schedule:
    """A schedule due now, to ``size`` addresses that see every row."""
    recipients = tuple(s.Recipient(address=f"r{i:02d}@acme.example", scope={}) for i in range(size))
    now = s.now()
    return _add(
        settings,
        _schedule("batch", recipients=recipients, cron="* * * * *", format="html"),
        active_from=now - dt.timedelta(minutes=1, seconds=now.second + 1),
    )


def _scheduler(
    settings: Settings, tmp_path: Path, server: Any, **env: str
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "kpiboard", "scheduler", "--project", str(settings.project_dir)],
        env={**os.environ, **_env(tmp_path, server), **env},
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "scheduler.log", "ab"),
    )


def _wait_until(done: Callable[[], bool], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.1)


def _one_slot_final(settings: Settings, size: int) -> Callable[[], bool]:
    def done() -> bool:
        rows = s.history(settings, "batch", limit=10_000)
        first = min((r["slot_at"] for r in rows), default=None)
        mine = [r for r in rows if r["slot_at"] == first]
        return len(mine) == size and all(r["status"] in ("sent", "failed", "unknown") for r in mine)

    return done


def _sent(settings: Settings) -> int:
    return sum(r["status"] == "sent" for r in s.history(settings, "batch", limit=10_000))


def _first_slot_mails(settings: Settings, server: Any) -> Counter[str]:
    rows = s.history(settings, "batch", limit=10_000)
    first = min(r["slot_at"] for r in rows)
    ids = {r["message_id"]: r["address"] for r in rows if r["slot_at"] == first}
    return Counter(ids[m["Message-ID"]] for m in _mails(server) if m["Message-ID"] in ids)


def test_a_scheduler_killed_ten_times_mid_batch_sends_every_mail_exactly_once(
    settings: Settings, smtp_server: Any, tmp_path: Path
) -> None:
    size = 30
    _batch(settings, size)
    smtp_server.delay_rcpt(0.05)  # each mail takes a moment, so a kill lands mid-mail
    chance = random.Random(18)
    # ten kills at random points of the batch: after a random number of mails went out, and
    # at a random moment of the next one (rendering, claiming, connecting, sending)
    thresholds = sorted(chance.sample(range(1, size), 10))
    sent_at_kill, in_window = [], 0
    for threshold in thresholds:
        process = _scheduler(settings, tmp_path, smtp_server)
        _wait_until(lambda n=threshold: _sent(settings) >= n)
        time.sleep(chance.uniform(0, 0.08))
        process.send_signal(signal.SIGKILL)
        process.wait()
        statuses = Counter(r["status"] for r in s.history(settings, "batch", limit=10_000))
        sent_at_kill.append(statuses["sent"])
        in_window += statuses["sending"]  # the next scheduler marks these unknown
    process = _scheduler(settings, tmp_path, smtp_server)
    try:
        _wait_until(_one_slot_final(settings, size))
        # an unknown row is reported, not resent; a person checks whether it arrived and resends
        arrived = _first_slot_mails(settings, smtp_server)
        for row in s.history(settings, "batch", limit=10_000):
            if row["status"] == "unknown" and not arrived[row["address"]]:
                resend(settings, "batch", recipient=row["address"])
        _wait_until(_one_slot_final(settings, size))
        time.sleep(1)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)

    mails = _first_slot_mails(settings, smtp_server)
    assert sorted(mails) == [f"r{i:02d}@acme.example" for i in range(size)]
    assert set(mails.values()) == {1}, mails
    # the kills did land in the middle of the batch
    assert all(0 < n < size for n in sent_at_kill), sent_at_kill
    print(f"sent when each kill landed: {sent_at_kill}; killed while sending: {in_window}")


def test_two_schedulers_at_once_send_each_mail_once(
    settings: Settings, smtp_server: Any, tmp_path: Path
) -> None:
    size = 30
    _batch(settings, size)
    smtp_server.delay_rcpt(0.01)
    processes = [_scheduler(settings, tmp_path, smtp_server) for _ in range(2)]
    try:
        _wait_until(_one_slot_final(settings, size))
        time.sleep(1)
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=30)

    mails = _first_slot_mails(settings, smtp_server)
    assert sorted(mails) == [f"r{i:02d}@acme.example" for i in range(size)]
    assert set(mails.values()) == {1}
    workers = {r[0] for r in _claimers(settings)}
    assert len(workers) == 2  # both took part


def _claimers(settings: Settings) -> list[tuple[str]]:
    with appdb.shared_engine(settings).connect() as db:
        return [tuple(r) for r in db.execute(sa.select(appdb.schedulers.c.worker))]


@pytest.mark.parametrize(
    ("point", "status_after_crash", "arrived"),
    [
        ("delivery-rendered", "pending", 0),  # nothing sent: taken back and sent
        ("delivery-sending", "unknown", 0),  # about to send: unknown, reported
        ("delivery-accepted", "unknown", 1),  # the server has it, the log does not say so
    ],
)
def test_a_crash_at_each_point_of_a_delivery_is_taken_back_or_reported(
    settings: Settings,
    smtp_server: Any,
    tmp_path: Path,
    point: str,
    status_after_crash: str,
    arrived: int,
) -> None:
    _batch(settings, 1)
    crashed = subprocess.run(
        [
            sys.executable,
            "-m",
            "kpiboard",
            "scheduler",
            "--once",
            "--project",
            str(settings.project_dir),
        ],
        env={**os.environ, **_env(tmp_path, smtp_server), "KPIBOARD_CRASH_AT": point},
        capture_output=True,
        timeout=120,
    )
    assert crashed.returncode == -signal.SIGKILL
    assert len(_mails(smtp_server)) == arrived

    again = subprocess.run(
        [
            sys.executable,
            "-m",
            "kpiboard",
            "scheduler",
            "--once",
            "--project",
            str(settings.project_dir),
        ],
        env={**os.environ, **_env(tmp_path, smtp_server)},
        capture_output=True,
        text=True,
        timeout=120,
    )

    rows = s.history(settings, "batch")  # a later minute's slot may have come due meanwhile
    [row] = [r for r in rows if r["slot_at"] == min(r["slot_at"] for r in rows)]
    expected = "sent" if status_after_crash == "pending" else "unknown"
    assert row["status"] == expected
    assert sum(_first_slot_mails(settings, smtp_server).values()) == max(
        arrived, 1 if expected == "sent" else 0
    )
    if expected == "unknown":
        assert "may have arrived" in row["error"]
        assert "unknown" in again.stderr


def test_the_idempotency_key_and_message_id_are_deterministic(settings: Settings) -> None:
    at = dt.datetime(2026, 11, 30, 15)

    key = delivery_key(7, at, "user:ceo")

    assert key == delivery_key(7, at, "user:ceo")
    assert key != delivery_key(7, at, "user:cfo")
    assert key != delivery_key(7, at + dt.timedelta(minutes=1), "user:ceo")
    assert len(key) == 64


def test_check_finds_every_problem_of_a_schedule(settings: Settings) -> None:
    access.add_user(settings, "mailless", "executive", PASSWORD)
    schedule = _schedule(
        name="Bad Name!",
        items=(
            s.Item("sales_plan_vs_fakt", {}),
            s.Item("sales_plan_vs_fact", {"perod": "last_month"}),
        ),
        recipients=(
            s.Recipient(user="mailless"),
            s.Recipient(user="nobody"),
            s.Recipient(address="ops@acme.example"),
        ),
        cron="0 8 * * MOM",
        timezone="America/Denvr",
        format="docx",
    )

    problems = s.check(settings, schedule)

    text = "\n".join(problems)
    assert "name 'Bad Name!'" in text
    assert "format 'docx'" in text
    assert "MOM" in text or "America/Denvr" in text
    assert "did you mean 'sales_plan_vs_fact'" in text
    assert "perod" in text
    assert "'mailless' has no email address" in text
    assert "no user 'nobody'" in text
    assert "ops@acme.example: name the data an address may see" in text
    with pytest.raises(s.ScheduleError):
        s.add(settings, schedule, by="test")
    assert s.list_schedules(settings) == []


def test_a_company_wide_report_is_refused_for_a_branch_head(settings: Settings) -> None:
    from reports.loader import load_catalog

    company = next(
        r for r in load_catalog(settings.project_dir).reports.values() if r.scope == "company"
    )
    schedule = _schedule(items=(s.Item(company.id, {}),))

    problems = s.check(settings, schedule)

    assert problems == [
        f"report {company.id!r} shows company-wide data; a recipient who sees branch=denver "
        "cannot receive it"
    ]


def test_recipients_parse_and_read_back(settings: Settings) -> None:
    cases = {
        "ceo": s.Recipient(user="ceo"),
        "cfo@acme.example:all": s.Recipient(address="cfo@acme.example", scope={}),
        "ops@acme.example:branch=denver,austin": s.Recipient(
            address="ops@acme.example", scope={"branch": ("denver", "austin")}
        ),
        "me@acme.example:employee=crm_denver:7": s.Recipient(
            address="me@acme.example", scope={"employee": ("crm_denver:7",)}
        ),
    }
    for text, recipient in cases.items():
        assert s.Recipient.parse(text) == recipient
        assert recipient.text() == text
    for hostile in ("a@b.example\nBcc: x@y.example", "x@y.example:region=west", "'; DROP--"):
        with pytest.raises(s.ScheduleError):
            s.Recipient.parse(hostile)


def test_a_slots_periods_are_pinned_to_the_data_end_it_was_first_delivered_on(
    settings: Settings, smtp_server: Any
) -> None:
    schedule = _add(settings, _schedule(format="html"), MONDAY_8AM - dt.timedelta(days=1))
    clock = Clock(MONDAY_8AM + dt.timedelta(seconds=5))
    with Deliverer(settings, clock=clock) as deliverer:
        deliverer.open_slot(schedule, MONDAY_8AM)
        # as if the slot had first been delivered when the data ended on 15 August
        t = appdb.schedule_slots
        with appdb.shared_engine(settings).begin() as db:
            db.execute(t.update().values(data_end=dt.date(2026, 8, 15)))
        deliverer.deliver(schedule.schedule_id or 0, MONDAY_8AM)

    [mail] = _mails(smtp_server)
    assert mail["Subject"] == (
        "Revenue against plan by branch — last month (2026-07-01 – 2026-07-31)"
    )


def test_a_new_schedule_never_inherits_a_removed_ones_history(
    settings: Settings, smtp_server: Any
) -> None:
    old = _add(settings, _schedule("old", format="html"), MONDAY_8AM - dt.timedelta(days=1))
    clock = Clock(MONDAY_8AM + dt.timedelta(seconds=5))
    with Deliverer(settings, clock=clock) as deliverer:
        Scheduler(settings, deliverer=deliverer, clock=clock).tick()
    s.remove(settings, "old", by="test")

    new = _add(settings, _schedule("new", format="html"), MONDAY_8AM)

    assert new.schedule_id != old.schedule_id
    assert s.history(settings, "new") == []
    assert s.slot_log(settings, "new") == []


def test_sigterm_stops_after_the_mail_in_hand_and_leaves_the_rest_pending(
    settings: Settings, smtp_server: Any, tmp_path: Path
) -> None:
    size = 30
    _batch(settings, size)
    smtp_server.delay_rcpt(0.05)
    process = _scheduler(settings, tmp_path, smtp_server)
    _wait_until(lambda: _sent(settings) >= 5)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0

    statuses = Counter(r["status"] for r in s.history(settings, "batch", limit=10_000))
    assert set(statuses) <= {"sent", "pending"}  # nothing left claimed or in the window
    assert 5 <= statuses["sent"] < size
    assert sum(_first_slot_mails(settings, smtp_server).values()) == statuses["sent"]
