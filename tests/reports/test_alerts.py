"""Alerts over a run of published snapshots: a breach starts and ends exactly once, an unchanged
state mails nothing, two checks of one snapshot make one event, a KPI that disappears is one
error event, and the store refuses what it cannot check.

The project: Denver and Austin, revenue (with a plan of $1,000 for Denver in June 2025) and
a count of invoices. Each run publishes a new snapshot in which June's Denver invoice has
another amount and Austin's last invoice another date; May's Denver invoice stays $1,000.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from kpiboard import appdb, audit, urls
from kpiboard.config import Settings, load_settings
from kpiboard.errors import UserError
from reports import alerts
from reports.alerts import Alert, AlertEvent
from tests.reports.conftest import BRANCHES, make_project, republish

KPIS = """\
kpis:
  - id: revenue
    label: Revenue
    description: Net invoiced amount on the invoice date, draft and cancelled left out.
    unit: money
    direction: higher
    owner: sales
    type: simple
    fact: invoice
    agg: sum
    expr: net_amount
    filter: "status NOT IN ('draft', 'cancelled')"
  - id: {count_id}
    label: Invoices
    description: Invoices issued.
    unit: count
    direction: higher
    owner: sales
    type: simple
    fact: invoice
    agg: count
"""
PLANS = """\
kpi,period,employee,branch,plan
revenue,2025-06,,denver,1000
"""
OWNER = "ops@example.com"

# run: (Denver's June revenue, the day of Austin's last invoice)
RUNS = [
    (1200, "2025-06-28"),  # green; +20% on May (not more than 20); Austin has rows
    (500, "2025-06-29"),  # red; fell 50%                        → start, start
    (600, "2025-06-20"),  # still red; fell 40%; Austin silent 10 days → no_data start
    (1100, "2025-06-20"),  # green; +10%                          → end, end
    (1100, "2025-06-28"),  # unchanged; Austin back                → no_data end
]
DATA_END = "2025-06-30"  # a Denver invoice on the last day of June in every run


def invoices(june: float, austin_last: str) -> list[dict[str, Any]]:
    rows = [
        {"invoice_id": "d-may", "branch_id": "denver", "issued_on": "2025-05-10", "status": "paid"},
        {"invoice_id": "d-jun", "branch_id": "denver", "issued_on": "2025-06-12", "status": "paid"},
        {"invoice_id": "d-end", "branch_id": "denver", "issued_on": DATA_END, "status": "draft"},
        {"invoice_id": "a-old", "branch_id": "austin", "issued_on": "2025-06-01", "status": "paid"},
        {"invoice_id": "a-last", "branch_id": "austin", "issued_on": austin_last, "status": "paid"},
    ]
    amounts = {"d-may": 1000, "d-jun": june, "d-end": 0, "a-old": 50, "a-last": 70}
    for row in rows:
        row["net_amount"] = row["total_amount"] = f"{amounts[row['invoice_id']]:.2f}"
        row["kind"] = "invoice"
    return rows


def new_project(root: Path) -> Settings:
    project = make_project(
        root,
        {"dim_branch": BRANCHES, "fct_invoice": invoices(*RUNS[0])},
        files={"kpis/sales.yaml": KPIS.format(count_id="invoice_count"), "plans/sales.csv": PLANS},
    )
    return load_settings(project)


def watch(settings: Settings) -> dict[str, Alert]:
    """The alerts of the tests, added as a person would (validated, audited)."""
    wanted = [
        Alert("denver-red", "revenue", "below_red", scope={"branch": ("denver",)}),
        Alert("denver-swing", "revenue", "change", 20, scope={"branch": ("denver",)}),
        Alert("austin-silent", "revenue", "no_data", 3, scope={"branch": ("austin",)}),
        Alert("invoices-swing", "invoice_count", "change", 1000),
    ]
    return {
        a.name: alerts.add(settings, replace(a, owners=(OWNER,)), by="cli:test") for a in wanted
    }


class Outbox:
    """A ``send`` that keeps what it was given, and can be told to fail."""

    def __init__(self, fail: bool = False) -> None:
        self.sent: list[AlertEvent] = []
        self.fail = fail
        self._lock = threading.Lock()

    def __call__(self, event: AlertEvent) -> None:
        with self._lock:
            self.sent.append(event)
        if self.fail:
            raise ConnectionRefusedError("the mail server at 127.0.0.1:1 refused the connection")


def kinds(events: Sequence[AlertEvent]) -> list[tuple[str, str]]:
    return [(e.alert.name, e.kind) for e in events]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return new_project(tmp_path / "office")


def test_five_snapshots_make_one_start_and_one_end(settings: Settings) -> None:
    watch(settings)
    outbox = Outbox()
    per_run = []
    for n, (june, austin_last) in enumerate(RUNS, start=1):
        if n > 1:
            republish(settings.project_dir, {"fct_invoice": invoices(june, austin_last)})
        if n == 3:  # the count KPI is renamed: its alert cannot be checked from now on
            kpis = settings.project_dir / "kpis" / "sales.yaml"
            kpis.write_text(KPIS.format(count_id="invoices_issued"), encoding="utf-8")
        per_run.append(kinds(alerts.check(settings, send=outbox)))

    assert per_run == [
        [],
        [("denver-red", "start"), ("denver-swing", "start")],
        [("austin-silent", "start"), ("invoices-swing", "error")],
        [("denver-red", "end"), ("denver-swing", "end")],
        [("austin-silent", "end")],
    ]
    assert kinds(outbox.sent) == [k for run in per_run for k in run]

    red_start, swing_start = outbox.sent[0], outbox.sent[1]
    assert red_start.message == (
        "Revenue (Denver) is red: $500.00 against a plan of $1,000.00 for June 2025"
    )
    assert (red_start.value, red_start.plan, red_start.period) == (500.0, 1000.0, "June 2025")
    assert swing_start.message == (
        "Revenue (Denver) fell 50.0% in June 2025: $500.00 against $1,000.00 in May 2025"
    )
    assert (swing_start.value, swing_start.previous) == (500.0, 1000.0)
    silent, broken = outbox.sent[2], outbox.sent[3]
    assert silent.message == "Revenue (Austin) has no rows in the 3 days to 30 Jun 2025"
    assert broken.message.startswith(
        "alert 'invoices-swing' could not be checked: kpi 'invoice_count': not defined"
    )
    assert "did you mean 'invoices_issued'?" in broken.message
    red_end, swing_end, back = outbox.sent[4:]
    assert red_end.message == (
        "Revenue (Denver) is green: $1,100.00 against a plan of $1,000.00 for June 2025"
    )
    assert swing_end.message == (
        "Revenue (Denver) rose 10.0% in June 2025: $1,100.00 against $1,000.00 in May 2025 "
        "(within 20%)"
    )
    assert back.message == "Revenue (Austin) has rows again in the 3 days to 30 Jun 2025"

    history = alerts.history(settings)
    assert len(history) == 7
    assert all(h["mailed_at"] is not None and h["mail_error"] is None for h in history)
    assert [h["kind"] for h in alerts.history(settings, "denver-red")] == ["end", "start"]
    state = alerts.state(settings, "invoices-swing")
    assert state is not None and state["error"].startswith("kpi 'invoice_count'")
    assert alerts.state(settings, "denver-red")["breached"] is False  # type: ignore[index]
    assert alerts.state(settings, "denver-red")["since"] is None  # type: ignore[index]


def test_checking_a_snapshot_again_changes_nothing(settings: Settings) -> None:
    watch(settings)
    republish(settings.project_dir, {"fct_invoice": invoices(*RUNS[1])})
    first = alerts.check(settings, send=Outbox())
    again = Outbox()
    assert kinds(first) == [("denver-red", "start"), ("denver-swing", "start")]
    state = alerts.state(settings, "denver-red")
    assert state is not None and state["breached"] and state["since"] == first[0].at
    assert alerts.check(settings, send=again) == [] and again.sent == []


@pytest.fixture
def on_postgres(settings: Settings) -> Iterator[Settings]:
    """The project with its app database on PostgreSQL, dropped after the test."""
    from tests.conftest import POSTGRES, _require

    _require(POSTGRES)
    url = POSTGRES.format(db=f"t{uuid.uuid4().hex[:10]}_alerts")
    config = settings.project_dir / "kpiboard.toml"
    text = config.read_text(encoding="utf-8").replace("sqlite:///app.sqlite", url)
    assert url in text
    config.write_text(text, encoding="utf-8")
    try:
        yield load_settings(settings.project_dir)
    finally:
        appdb.shared_engine(load_settings(settings.project_dir)).dispose()
        urls.drop_database(urls.parse_url(url))


@pytest.mark.parametrize(("database", "threads"), [("sqlite", 2), ("sqlite", 4), ("postgres", 4)])
def test_concurrent_checks_of_one_snapshot_make_one_event(
    request: pytest.FixtureRequest, database: str, threads: int
) -> None:
    settings = request.getfixturevalue("on_postgres" if database == "postgres" else "settings")
    watch(settings)
    alerts.check(settings, send=Outbox())  # the first run: every alert ok
    republish(settings.project_dir, {"fct_invoice": invoices(*RUNS[1])})
    outbox = Outbox()
    barrier = threading.Barrier(threads)
    results: list[list[AlertEvent]] = []
    failures: list[BaseException] = []

    def one() -> None:
        barrier.wait()
        try:
            results.append(alerts.check(settings, send=outbox))
        except BaseException as exc:  # surfaced below
            failures.append(exc)

    workers = [threading.Thread(target=one) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert failures == []
    assert sorted(kinds(outbox.sent)) == [("denver-red", "start"), ("denver-swing", "start")]
    assert sorted(k for run in results for k in kinds(run)) == sorted(kinds(outbox.sent))
    assert len(alerts.history(settings)) == 2


def test_a_failed_send_is_recorded_and_not_sent_again(settings: Settings) -> None:
    watch(settings)
    republish(settings.project_dir, {"fct_invoice": invoices(*RUNS[1])})
    failing = Outbox(fail=True)
    events = alerts.check(settings, send=failing)
    assert len(events) == len(failing.sent) == 2  # the second was tried after the first failed
    rows = alerts.history(settings)
    assert {r["mail_error"] for r in rows} == {
        "the mail server at 127.0.0.1:1 refused the connection"
    }
    assert all(r["mailed_at"] is None for r in rows)


def test_paused_alerts_are_not_checked(settings: Settings) -> None:
    alerts.add(
        settings,
        Alert(
            "quiet",
            "revenue",
            "below_red",
            scope={"branch": ("denver",)},
            owners=(OWNER,),
            paused=True,
        ),
        by="cli:test",
    )
    republish(settings.project_dir, {"fct_invoice": invoices(*RUNS[1])})
    assert alerts.check(settings, send=Outbox()) == []
    assert alerts.state(settings, "quiet") is None


def test_an_unknown_snapshot_is_refused(settings: Settings) -> None:
    watch(settings)
    with pytest.raises(UserError, match=r"^snapshot '\.\./x\.duckdb' is not in "):
        alerts.check(settings, send=Outbox(), snapshot="../x.duckdb")


def test_the_store_round_trips_and_audits(settings: Settings) -> None:
    added = watch(settings)
    assert [a.name for a in alerts.list_alerts(settings)] == sorted(added)
    got = alerts.get(settings, "austin-silent")
    assert (got.kpi, got.rule, got.threshold, got.grain) == ("revenue", "no_data", 3.0, "month")
    assert got.scope == {"branch": ("austin",)} and got.owners == (OWNER,)
    assert got.created_by == "cli:test" and isinstance(got.created_at, dt.datetime)
    alerts.remove(settings, "austin-silent", by="cli:test")
    with pytest.raises(UserError, match=r"^no alert 'austin-silent'$"):
        alerts.get(settings, "austin-silent")
    with pytest.raises(UserError, match=r"^no alert 'denver-rde' — did you mean 'denver-red'\?$"):
        alerts.get(settings, "denver-rde")
    actions = [(e["action"], e["target"]) for e in audit.entries(settings)]
    assert actions[0] == ("alert_removed", "austin-silent")
    assert ("alert_added", "denver-red") in actions


BROKEN = [
    (Alert("a b", "revenue", "change", 5), "alert name 'a b': letters, digits, '-' and '_'"),
    (Alert("-x", "revenue", "change", 5), "alert name '-x': letters, digits"),
    (Alert("x" * 65, "revenue", "change", 5), "alert name 'xxxx"),
    (Alert("r", "revenu", "change", 5), "alert 'r': no KPI 'revenu' — did you mean 'revenue'?"),
    (Alert("r", "revenue", "below_blue"), "alert 'r': rule 'below_blue' is not one of"),
    (Alert("r", "revenue", "change"), "alert 'r': rule change needs a threshold in percent"),
    (Alert("r", "revenue", "change", -5), "alert 'r': threshold -5 percent: give more than 0"),
    (Alert("r", "revenue", "change", float("nan")), "alert 'r': threshold nan percent"),
    (Alert("r", "revenue", "no_data", 2.5), "alert 'r': threshold 2.5 days: give whole days"),
    (Alert("r", "revenue", "below_red", 5), "alert 'r': rule below_red takes no threshold"),
    (Alert("r", "invoice_count", "below_red"), "alert 'r': kpi 'invoice_count' has no plan"),
    (Alert("r", "revenue", "change", 5, "hour"), "alert 'r': grain 'hour' is not one of"),
    (
        Alert("r", "revenue", "change", 5, scope={"brnch": ("denver",)}),
        "alert 'r': the KPI cannot be sliced by 'brnch' — did you mean 'branch'?",
    ),
    (Alert("r", "revenue", "change", 5, owners=()), "alert 'r': give at least one owner"),
    (
        Alert("r", "revenue", "change", 5, owners=("dana",)),
        "alert 'r': no user 'dana' (an owner is a user name or an address)",
    ),
    (
        Alert("r", "revenue", "change", 5, owners=("a@b\nBcc: x@y.com",)),
        "alert 'r': owner 'a@b\\nBcc: x@y.com' is neither a user name nor an address",
    ),
]


@pytest.mark.parametrize(("alert", "message"), BROKEN, ids=[m[:40] for _, m in BROKEN])
def test_broken_alerts_are_refused_in_one_line(
    settings: Settings, alert: Alert, message: str
) -> None:
    if not alert.owners and "owner" not in message:
        alert = replace(alert, owners=(OWNER,))
    with pytest.raises(UserError) as raised:
        alerts.add(settings, alert, by="cli:test")
    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)
    assert alerts.list_alerts(settings) == []


def test_a_name_is_taken_once(settings: Settings) -> None:
    watch(settings)
    with pytest.raises(UserError, match=r"^alert 'denver-red' exists already"):
        alerts.add(
            settings, Alert("denver-red", "revenue", "change", 5, owners=(OWNER,)), by="cli:test"
        )


def test_the_mail_of_an_event(settings: Settings) -> None:
    watch(settings)
    republish(settings.project_dir, {"fct_invoice": invoices(*RUNS[1])})
    event = alerts.check(settings, send=Outbox())[0]
    mail = alerts.alert_mail(
        event, OWNER, company="Fixture <Office>", link="https://kpi.example.com/?a=1&b=2"
    )
    assert mail.to == OWNER
    assert mail.subject == "Alert: denver-red started — Fixture <Office>"
    assert mail.text.startswith(event.message + "\n\nRule: revenue red against plan (month).")
    assert "https://kpi.example.com/?a=1&b=2" in mail.text
    assert "Fixture &lt;Office&gt;" in mail.html and "Fixture <Office>" not in mail.html
    assert 'href="https://kpi.example.com/?a=1&amp;b=2"' in mail.html
    again = alerts.alert_mail(event, OWNER, company="Fixture <Office>", link="x")
    other = alerts.alert_mail(event, "cfo@example.com", company="Fixture <Office>", link="x")
    assert again.message_id == mail.message_id != other.message_id
    assert mail.message_id.startswith("<alert-") and mail.message_id.endswith("@localhost>")


def test_the_scheduler_mails_one_start_and_one_end_over_five_pipeline_runs(
    tmp_path: Path, smtp_server: Any
) -> None:
    from kpiboard import access
    from reports.scheduler import Scheduler

    folder = new_project(tmp_path / "office").project_dir
    env = {"KPIBOARD_SMTP_HOST": smtp_server.host, "KPIBOARD_SMTP_PORT": str(smtp_server.port)}
    settings = load_settings(folder, env=env)
    access.add_user(
        settings, "ops", "analyst", "a long enough password 1", email="ops-user@example.com"
    )
    alerts.add(
        settings,
        Alert("denver-red", "revenue", "below_red", scope={"branch": ("denver",)}, owners=("ops",)),
        by="cli:test",
    )
    scheduler = Scheduler(settings)
    subjects: list[list[str]] = []
    seen = 0
    try:
        for n, (june, austin_last) in enumerate(RUNS, start=1):
            if n > 1:
                republish(settings.project_dir, {"fct_invoice": invoices(june, austin_last)})
            scheduler.tick()
            scheduler.tick()  # a second tick on the same snapshot mails nothing
            subjects.append([m.message["Subject"] for m in smtp_server.messages[seen:]])
            seen = len(smtp_server.messages)
    finally:
        scheduler.deliverer.close()

    assert subjects == [
        [],
        ["Alert: denver-red started — Fixture Office Supply"],
        [],
        ["Alert: denver-red ended — Fixture Office Supply"],
        [],
    ]
    assert {m.message["To"] for m in smtp_server.messages} == {"ops-user@example.com"}
    started = smtp_server.messages[0].message.get_body(("plain",)).get_content()
    assert "Revenue (Denver) is red: $500.00 against a plan of $1,000.00 for June 2025" in started
    assert [h["mailed_at"] is not None for h in alerts.history(settings)] == [True, True]
